//! The blob itself: header, memory reservation block and structure block
//! checked against the Devicetree Specification (v0.4, chapter 5) before
//! the `fdt` crate reads a byte of it.
//!
//! The `fdt` crate (0.1.5) trusts its input: a property length past the
//! structure block, a name offset past the strings block, a node name
//! without its NUL or not UTF-8, an `#address-cells` of fewer than 4 bytes,
//! a property after a child node, a missing `FDT_END_NODE` or more than 63
//! levels of nodes each make it panic (slice index, `unwrap`, `assert`), and
//! it recurses once per level. [`check`] walks the whole structure block
//! once and refuses all of these, so that a blob it accepts is one the
//! crate can read without panicking; `tests/proptest_dtb.rs` and the fuzz
//! target check exactly that, by running every query the kernel makes on
//! every blob `check` accepts.
//!
//! [`check`] is also stricter than the crate needs in two places that keep
//! the reading simple: the header must be version 17 (`size_dt_struct`
//! exists; every loader since 2007 writes 17), and `FDT_NOP` tokens must be
//! gone ([`compact_nops`] removes them in place: the crate trips over a NOP
//! between a node's properties and its children).

use core::fmt;

use fdt::Fdt;

/// `magic` of a flattened device tree (big-endian 0xd00dfeed).
pub const MAGIC: u32 = 0xD00D_FEED;
/// Bytes of a version 17 header (ten big-endian u32 fields).
pub const HEADER_LEN: usize = 40;
/// Largest `totalsize` accepted: 64 MiB. Real blobs are a few KiB to a few
/// MiB (QEMU pads a `-dtb` file past 2 MiB), and a bound lets a reader know
/// what it must map before it looks: the aarch64 entry maps the GiB that
/// holds the blob's first byte and the one that holds its last, so a blob
/// below 1 GiB is mapped whole.
pub const MAX_TOTAL_SIZE: u32 = 64 << 20;
/// Deepest node level [`check`] accepts, the root being level 1. Real trees
/// are a handful of levels deep (QEMU `virt`: 4; Linux's unflattening
/// stops at 64); the `fdt` crate keeps at most 63 parents and recurses once
/// per level, on the early boot stack.
pub const MAX_DEPTH: usize = 32;

/// Structure block tokens (Devicetree Specification 5.4.1).
const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;

/// A block of the blob, for [`BlobError::Block`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Block {
    /// The structure block (`off_dt_struct`, `size_dt_struct`).
    Structure,
    /// The strings block (`off_dt_strings`, `size_dt_strings`).
    Strings,
    /// The memory reservation block (`off_mem_rsvmap`, up to its
    /// terminating entry).
    MemoryReservations,
}

/// Why a blob was refused. Offsets are in bytes from the blob's start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobError {
    /// Fewer bytes than the header, or than the header's `totalsize`.
    Short {
        /// Bytes there are.
        len: usize,
        /// Bytes needed.
        need: usize,
    },
    /// `magic` is not [`MAGIC`].
    BadMagic {
        /// The magic found.
        magic: u32,
    },
    /// Not a version 17 blob (`version` below 17 or `last_comp_version`
    /// above it).
    Version {
        /// `version`.
        version: u32,
        /// `last_comp_version`.
        last_compatible: u32,
    },
    /// `totalsize` smaller than the header or above [`MAX_TOTAL_SIZE`].
    TotalSize {
        /// `totalsize`.
        total: u32,
    },
    /// A block that does not lie inside `totalsize` (or, for the memory
    /// reservations, has no terminating entry inside it).
    Block {
        /// Which block.
        block: Block,
        /// Its offset.
        offset: u32,
    },
    /// A token the structure block may not hold there: unknown, `FDT_NOP`
    /// (see [`compact_nops`]), `FDT_END_NODE` with no node open,
    /// `FDT_END` inside a node, anything but `FDT_END` after the root, or
    /// a property outside a node.
    Token {
        /// Offset of the token.
        offset: usize,
        /// The token.
        token: u32,
    },
    /// A token, name or property value that runs past the structure block.
    Truncated {
        /// Offset of the token it belongs to.
        offset: usize,
    },
    /// A node name without its NUL inside the block, or not UTF-8, or a
    /// root node with a name (the root's name is empty).
    NodeName {
        /// Offset of the node's `FDT_BEGIN_NODE`.
        offset: usize,
    },
    /// A property name offset outside the strings block, or a name there
    /// without its NUL inside the block, or not UTF-8.
    PropertyName {
        /// Offset of the property's `FDT_PROP`.
        offset: usize,
    },
    /// `#address-cells` or `#size-cells` that is not one 4-byte cell.
    CellCount {
        /// Offset of the property's `FDT_PROP`.
        offset: usize,
    },
    /// A property after a child node (properties come first, 5.4.2).
    PropertyAfterNode {
        /// Offset of the property's `FDT_PROP`.
        offset: usize,
    },
    /// Nodes nested deeper than [`MAX_DEPTH`].
    TooDeep {
        /// Offset of the node's `FDT_BEGIN_NODE`.
        offset: usize,
    },
    /// No root node, or the block ends before `FDT_END`.
    Unterminated,
}

impl fmt::Display for BlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DTB blob: ")?;
        match *self {
            Self::Short { len, need } => write!(f, "{len} bytes, header needs {need}"),
            Self::BadMagic { magic } => write!(f, "bad magic {magic:#010x}"),
            Self::Version { version, last_compatible } => write!(
                f,
                "version {version} (last compatible {last_compatible}); only version 17 is read"
            ),
            Self::TotalSize { total } => {
                write!(f, "totalsize {total} is below {HEADER_LEN} or above {MAX_TOTAL_SIZE}")
            }
            Self::Block { block, offset } => {
                write!(f, "{block:?} block at {offset:#x} is not inside totalsize")
            }
            Self::Token { offset, token } => write!(f, "token {token} not allowed at {offset:#x}"),
            Self::Truncated { offset } => {
                write!(f, "token at {offset:#x} runs past the structure block")
            }
            Self::NodeName { offset } => write!(f, "node at {offset:#x} has a bad name"),
            Self::PropertyName { offset } => write!(f, "property at {offset:#x} has a bad name"),
            Self::CellCount { offset } => {
                write!(f, "#address-cells or #size-cells at {offset:#x} is not one cell")
            }
            Self::PropertyAfterNode { offset } => {
                write!(f, "property at {offset:#x} comes after a child node")
            }
            Self::TooDeep { offset } => {
                write!(f, "node at {offset:#x} is nested deeper than {MAX_DEPTH} levels")
            }
            Self::Unterminated => write!(f, "structure block has no root node or no FDT_END"),
        }
    }
}

/// The header fields the checks use (all of a version 17 header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// `totalsize`: bytes of the whole blob.
    pub total_size: u32,
    /// `off_dt_struct`.
    pub struct_offset: u32,
    /// `size_dt_struct`.
    pub struct_size: u32,
    /// `off_dt_strings`.
    pub strings_offset: u32,
    /// `size_dt_strings`.
    pub strings_size: u32,
    /// `off_mem_rsvmap`.
    pub reservations_offset: u32,
}

/// Big-endian u32 at `at`, if all four bytes are in `b`.
fn be32(b: &[u8], at: usize) -> Option<u32> {
    let w = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
}

impl Header {
    /// Parses and checks the header, the first [`HEADER_LEN`] bytes of
    /// `bytes`; the rest of the blob is not needed (the boot code reads the
    /// header first to learn how many bytes the blob has).
    ///
    /// # Errors
    /// Fewer than 40 bytes, a bad magic, a version other than 17, a
    /// `totalsize` below the header or above [`MAX_TOTAL_SIZE`], or a block
    /// outside `totalsize`.
    pub fn parse(bytes: &[u8]) -> Result<Header, BlobError> {
        let Some(h) = bytes.first_chunk::<HEADER_LEN>() else {
            return Err(BlobError::Short { len: bytes.len(), need: HEADER_LEN });
        };
        let field = |i: usize| be32(h, 4 * i).unwrap_or(0);
        let magic = field(0);
        if magic != MAGIC {
            return Err(BlobError::BadMagic { magic });
        }
        let (version, last_compatible) = (field(5), field(6));
        if version < 17 || last_compatible > 17 {
            return Err(BlobError::Version { version, last_compatible });
        }
        let header = Header {
            total_size: field(1),
            struct_offset: field(2),
            struct_size: field(9),
            strings_offset: field(3),
            strings_size: field(8),
            reservations_offset: field(4),
        };
        let total = u64::from(header.total_size);
        if total < HEADER_LEN as u64 || header.total_size > MAX_TOTAL_SIZE {
            return Err(BlobError::TotalSize { total: header.total_size });
        }
        let inside = |offset: u32, size: u32| {
            u64::from(offset) >= HEADER_LEN as u64 && u64::from(offset) + u64::from(size) <= total
        };
        for (block, offset, size) in [
            (Block::Structure, header.struct_offset, header.struct_size),
            (Block::Strings, header.strings_offset, header.strings_size),
            (Block::MemoryReservations, header.reservations_offset, 16),
        ] {
            if !inside(offset, size) {
                return Err(BlobError::Block { block, offset });
            }
        }
        Ok(header)
    }

    /// The structure block's byte range.
    fn struct_range(&self) -> core::ops::Range<usize> {
        let start = self.struct_offset as usize;
        start..start + self.struct_size as usize
    }

    /// The strings block's byte range.
    fn strings_range(&self) -> core::ops::Range<usize> {
        let start = self.strings_offset as usize;
        start..start + self.strings_size as usize
    }
}

/// The header of `blob`, checked, with `blob` long enough for `totalsize`.
fn header_of(blob: &[u8]) -> Result<Header, BlobError> {
    let header = Header::parse(blob)?;
    let need = header.total_size as usize;
    if blob.len() < need {
        return Err(BlobError::Short { len: blob.len(), need });
    }
    Ok(header)
}

/// Bytes a structure-block token at `at` takes with its payload (name or
/// value, padded to 4), read from `block` (the structure block; `at` is
/// relative to it, `base` is the block's offset in the blob for errors).
fn token_len(block: &[u8], at: usize, token: u32, base: usize) -> Result<usize, BlobError> {
    let truncated = BlobError::Truncated { offset: base + at };
    let len = match token {
        FDT_BEGIN_NODE => {
            let name = block.get(at + 4..).ok_or(truncated)?;
            let nul = name.iter().position(|&c| c == 0).ok_or(truncated)?;
            4 + (nul + 1).next_multiple_of(4)
        }
        FDT_PROP => {
            let value_len = be32(block, at + 4).ok_or(truncated)? as usize;
            12 + value_len.next_multiple_of(4)
        }
        FDT_END_NODE | FDT_NOP | FDT_END => 4,
        _ => return Err(BlobError::Token { offset: base + at, token }),
    };
    if at.checked_add(len).is_none_or(|end| end > block.len()) {
        return Err(truncated);
    }
    Ok(len)
}

/// Removes every `FDT_NOP` token from the structure block of `blob` (in
/// place) and shrinks `size_dt_struct` to match; returns how many were
/// removed. Firmware and boot loaders edit blobs with libfdt, which leaves
/// NOPs where it deleted nodes or properties (QEMU does so to the `/memory`
/// nodes of a `-dtb` file).
///
/// The tokens are walked twice: once to check that every one up to
/// `FDT_END` is known and inside the block, then, only if that holds and
/// there is a NOP, to move them. So a blob is either compacted whole or not
/// written at all: a blob without NOP tokens may lie in memory that must
/// not be written (flash), and a compaction stopped half-way would leave
/// stale copies of tokens behind the moved ones, which can read as a
/// well-formed tree that the blob never held.
///
/// # Errors
/// A header that does not parse ([`Header::parse`]), a `blob` shorter than
/// `totalsize`, an unknown token or one that runs past the structure block.
/// The blob is then untouched, and [`check`] refuses it too.
pub fn compact_nops(blob: &mut [u8]) -> Result<usize, BlobError> {
    let header = header_of(blob)?;
    let range = header.struct_range();
    let base = range.start;
    let block = &mut blob[range];
    // Pass 1: read only.
    let (mut r, mut nops) = (0, 0);
    while r < block.len() {
        let token = be32(block, r).ok_or(BlobError::Truncated { offset: base + r })?;
        r += token_len(block, r, token, base)?;
        match token {
            FDT_NOP => nops += 1,
            FDT_END => break,
            _ => {}
        }
    }
    if nops == 0 {
        return Ok(0);
    }
    // Pass 2: every token up to FDT_END was read above, so neither read
    // below fails (were one to, the loop would stop short, never panic).
    let (mut r, mut w) = (0, 0);
    while let Some(token) = be32(block, r) {
        let Ok(len) = token_len(block, r, token, base) else { break };
        if token != FDT_NOP {
            block.copy_within(r..r + len, w);
            w += len;
        }
        r += len;
        if token == FDT_END {
            break;
        }
    }
    // `w` is at most the old size, which fit in a u32.
    blob[36..40].copy_from_slice(&(w as u32).to_be_bytes());
    Ok(nops)
}

/// Checks the whole blob (the first `totalsize` bytes of `blob`): header,
/// memory reservation block and structure block, as the module doc says.
///
/// # Errors
/// The first problem found, with its offset.
pub fn check(blob: &[u8]) -> Result<Header, BlobError> {
    let header = header_of(blob)?;
    let blob = &blob[..header.total_size as usize];

    // Memory reservations: 16-byte (address, size) entries up to an
    // all-zero one, all inside the blob.
    let mut at = header.reservations_offset as usize;
    loop {
        let entry = blob.get(at..at + 16).ok_or(BlobError::Block {
            block: Block::MemoryReservations,
            offset: header.reservations_offset,
        })?;
        if entry.iter().all(|&b| b == 0) {
            break;
        }
        at += 16;
    }

    let strings = &blob[header.strings_range()];
    let base = header.struct_offset as usize;
    let block = &blob[header.struct_range()];
    // Per open node: has it had a child yet (then no more properties)?
    let mut had_child = [false; MAX_DEPTH];
    let mut depth = 0;
    let mut seen_root = false;
    let mut at = 0;
    while at < block.len() {
        let offset = base + at;
        let token = be32(block, at).ok_or(BlobError::Truncated { offset })?;
        let len = token_len(block, at, token, base)?;
        let bad_token = BlobError::Token { offset, token };
        match token {
            FDT_BEGIN_NODE => {
                if depth == 0 && seen_root {
                    return Err(bad_token);
                }
                if depth == MAX_DEPTH {
                    return Err(BlobError::TooDeep { offset });
                }
                let name = &block[at + 4..];
                let nul = name.iter().position(|&c| c == 0).unwrap_or(0);
                let name = core::str::from_utf8(&name[..nul])
                    .map_err(|_| BlobError::NodeName { offset })?;
                if depth == 0 && !name.is_empty() {
                    return Err(BlobError::NodeName { offset });
                }
                if depth > 0 {
                    had_child[depth - 1] = true;
                }
                had_child[depth] = false;
                depth += 1;
                seen_root = true;
            }
            FDT_END_NODE => {
                if depth == 0 {
                    return Err(bad_token);
                }
                depth -= 1;
            }
            FDT_PROP => {
                if depth == 0 {
                    return Err(bad_token);
                }
                if had_child[depth - 1] {
                    return Err(BlobError::PropertyAfterNode { offset });
                }
                let value_len = be32(block, at + 4).unwrap_or(0);
                let name_offset = be32(block, at + 8).unwrap_or(0) as usize;
                let name = strings
                    .get(name_offset..)
                    .and_then(|s| s.iter().position(|&c| c == 0).map(|nul| &s[..nul]))
                    .and_then(|s| core::str::from_utf8(s).ok())
                    .ok_or(BlobError::PropertyName { offset })?;
                if matches!(name, "#address-cells" | "#size-cells") && value_len != 4 {
                    return Err(BlobError::CellCount { offset });
                }
            }
            FDT_END => {
                if depth != 0 || !seen_root {
                    return Err(bad_token);
                }
                return Ok(header);
            }
            _ => return Err(bad_token),
        }
        at += len;
    }
    Err(BlobError::Unterminated)
}

/// Checks `blob` ([`check`]) and hands its first `totalsize` bytes to the
/// `fdt` crate: the only way the kernel gets an [`Fdt`].
///
/// # Errors
/// As [`check`].
pub fn parse(blob: &[u8]) -> Result<Fdt<'_>, BlobError> {
    let header = check(blob)?;
    let need = header.total_size as usize;
    // `check` verified the magic and the length, the only two things
    // `Fdt::new` looks at; an error here would be a bug in `check`.
    Fdt::new(&blob[..need]).map_err(|_| BlobError::Short { len: blob.len(), need })
}

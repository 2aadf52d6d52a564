//! What a well-formed blob must also describe before the kernel can boot
//! on it: RAM, the console `/chosen/stdout-path` names (when it names one),
//! an interrupt controller and the CPUs. [`usable`] says what is missing,
//! so the boot can print it and stop instead of running on guesses.

use core::fmt;

use fdt::Fdt;
use fdt::node::FdtNode;

use super::facts::{enabled, is_memory_node};
use super::path::{find, find_path_or_alias};

/// Why a blob that [`super::parse`] accepted cannot be booted on. Names are
/// node names as the blob spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unusable<'a> {
    /// No enabled `/memory` node (`device_type = "memory"`, or named
    /// `memory` / `memory@...`) under the root.
    NoMemory,
    /// A memory node without `reg`, or whose `reg` length is not a
    /// non-zero multiple of the root's `#address-cells` + `#size-cells`
    /// cells (or those add up to 0 size cells).
    MemoryReg {
        /// The node's name.
        node: &'a str,
        /// `reg` length in bytes (0: no `reg`).
        len: usize,
        /// The root's `#address-cells`.
        address_cells: usize,
        /// The root's `#size-cells`.
        size_cells: usize,
    },
    /// A memory `reg` entry of size 0.
    MemorySizeZero {
        /// The node's name.
        node: &'a str,
        /// The entry's start address.
        start: u64,
    },
    /// `/chosen/stdout-path` names neither a node nor an alias of one.
    StdoutPath {
        /// The path (before any `:options`).
        path: &'a str,
    },
    /// No enabled node with an `interrupt-controller` property.
    NoInterruptController,
    /// No `/cpus` node.
    NoCpus,
    /// A `/cpus` node without an enabled `cpu` child.
    NoCpuNode,
}

impl fmt::Display for Unusable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::NoMemory => write!(f, "no memory node (device_type = \"memory\"): no RAM"),
            Self::MemoryReg { node, len: 0, .. } => write!(f, "memory node {node} has no reg"),
            Self::MemoryReg { node, len, address_cells, size_cells } => write!(
                f,
                "memory node {node}: reg is {len} bytes, not a multiple of \
                 (#address-cells {address_cells} + #size-cells {size_cells}) * 4"
            ),
            Self::MemorySizeZero { node, start } => {
                write!(f, "memory node {node}: reg entry at {start:#x} has size 0")
            }
            Self::StdoutPath { path } => {
                write!(f, "/chosen/stdout-path \"{path}\" names no node (nor an alias of one)")
            }
            Self::NoInterruptController => {
                write!(f, "no interrupt controller (no node with interrupt-controller)")
            }
            Self::NoCpus => write!(f, "no /cpus node"),
            Self::NoCpuNode => write!(f, "/cpus has no enabled cpu node"),
        }
    }
}

/// The value of a one-cell property of `node`, else `default`.
fn cells(node: FdtNode<'_, '_>, name: &str, default: usize) -> usize {
    node.property(name).and_then(|p| p.as_usize()).unwrap_or(default)
}

/// Checks that `fdt` describes what the boot needs; the first thing
/// missing, in the order of [`Unusable`]'s variants.
///
/// # Errors
/// See [`Unusable`].
pub fn usable<'a>(fdt: &Fdt<'a>) -> Result<(), Unusable<'a>> {
    let Some(root) = find(fdt, "/") else {
        return Err(Unusable::NoMemory);
    };
    // Devicetree Specification 2.3.5: 2 address cells and 1 size cell
    // when the properties are absent.
    let address_cells = cells(root, "#address-cells", 2);
    let size_cells = cells(root, "#size-cells", 1);
    let mut memory = false;
    for node in root.children().filter(|&n| is_memory_node(n) && enabled(n)) {
        memory = true;
        let bad_len = |len| Unusable::MemoryReg { node: node.name, len, address_cells, size_cells };
        let Some(reg) = node.property("reg") else {
            return Err(bad_len(0));
        };
        // Bytes per entry; `None` (no size cells, or absurd cell counts)
        // describes no memory.
        let entry = address_cells.checked_add(size_cells).and_then(|n| n.checked_mul(4));
        let entry = match entry {
            Some(entry) if size_cells > 0 && !reg.value.is_empty() => entry,
            _ => return Err(bad_len(reg.value.len())),
        };
        if !reg.value.len().is_multiple_of(entry) {
            return Err(bad_len(reg.value.len()));
        }
        // Cells are big-endian u32s; sizes and addresses of up to 2 cells
        // (more would not fit a u64: taken as the low 64 bits).
        let read = |cells: &[u8]| {
            cells
                .as_chunks::<4>()
                .0
                .iter()
                .fold(0u64, |acc, &c| (acc << 32) | u64::from(u32::from_be_bytes(c)))
        };
        for e in reg.value.chunks_exact(entry) {
            let (start, size) = e.split_at(address_cells * 4);
            if size.iter().all(|&b| b == 0) {
                return Err(Unusable::MemorySizeZero { node: node.name, start: read(start) });
            }
        }
    }
    if !memory {
        return Err(Unusable::NoMemory);
    }
    let stdout = find(fdt, "/chosen")
        .and_then(|c| c.property("stdout-path").or_else(|| c.property("linux,stdout-path")))
        .and_then(|p| p.as_str());
    if let Some(path) = stdout {
        let path = path.split(':').next().unwrap_or(path);
        if find_path_or_alias(fdt, path).is_none() {
            return Err(Unusable::StdoutPath { path });
        }
    }
    if !fdt.all_nodes().any(|n| enabled(n) && n.property("interrupt-controller").is_some()) {
        return Err(Unusable::NoInterruptController);
    }
    let Some(cpus) = find(fdt, "/cpus") else {
        return Err(Unusable::NoCpus);
    };
    if !cpus.children().any(|c| c.name.split('@').next() == Some("cpu") && enabled(c)) {
        return Err(Unusable::NoCpuNode);
    }
    Ok(())
}

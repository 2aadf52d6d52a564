//! The sparse memmap: descriptors only where there is RAM.
//!
//! Physical memory is cut into sections of 2^15 pages (128 MiB), and each
//! section into 64 subsections of 2^9 pages (2 MiB; Linux's
//! `SUBSECTION_SHIFT`, `mm/sparse.c` "sub-section hotplug"). Descriptors are
//! paid for per subsection, not per section: a section holds one contiguous
//! descriptor array, its *window*, running from its first to its last
//! subsection that contains usable RAM, so a machine with 48 MiB of RAM pays
//! for 48 MiB of descriptors (0.39%), not for a whole 128 MiB section.
//!
//! Per section the table keeps (Linux's `mem_section[]` with its
//! `subsection_map`):
//! * a 64-bit mask of the subsections that have RAM;
//! * the *encoded map*: the address the descriptor of the section's first pfn
//!   would have if the window started there (the window's first descriptor
//!   minus its first index; Linux's `section_mem_map` is encoded the same
//!   way), so `pfn_to_page` is one mask-bit test and `map + index`, and
//!   `page_to_pfn` one subtraction. These two words share a 16-byte slot,
//!   so a lookup touches one cache line; a buddy merge or split does a few
//!   lookups per order.
//!
//! Subsections inside the window that have no RAM (interior holes of a
//! section) still get initialised descriptors, since the window is contiguous,
//! but are absent for [`MemMap::pfn_to_page`]. A memmap therefore never costs
//! more than one descriptor per page of the sections' windows; leading and
//! trailing holes of a section cost nothing.
//!
//! # Sections and slots
//!
//! The memmap reaches 48-bit physical addresses ([`MAX_PHYSMEM_BITS`], 2^21
//! sections), and RAM may sit anywhere in that space (servers place banks
//! terabytes apart), but the table costs in proportion to the RAM present:
//! * **pfn -> section**: a two-level table as Linux's `SPARSEMEM_EXTREME`:
//!   2048 root pointers in the `MemMap` (16 KiB), each root 1024 sections
//!   (16 KiB, 128 GiB of physical space) taken from the caller's storage
//!   when a section in it gets RAM. `pfn_to_page` is two dependent loads:
//!   the root pointer and the section's mask + map.
//! * **descriptor -> pfn**: a descriptor's flags have 15 bits for where it
//!   lives (Linux's `SECTION_IN_PAGE_FLAGS` needs 21 for 48 bits and has
//!   64-bit flags; ours share 32 bits with the state, order and zone). They
//!   hold a *slot*: sections get slots in the order they are added, and
//!   slot `i` records the section number with the same mask and map, in
//!   chunks of 256 slots taken from the storage. `page_to_pfn` is again two
//!   loads. 32768 slots ([`MAX_PRESENT_SECTIONS`]) are 4 TiB of RAM; a
//!   memmap refuses more and the kernel clamps to it
//!   ([`usable_end_pfn`]).
//!
//! # Deferred initialisation
//!
//! Writing the descriptors is the one boot step whose cost grows with RAM
//! (a 1 TiB machine has 2^28 of them). [`MemMap::populate_deferred`] claims
//! the sections and carves their windows without writing any descriptor;
//! [`MemMap::init_deferred`] then writes one subsection and makes it
//! present, from any CPU, each subsection by exactly one caller (a
//! `fetch_or` claim). Lookups see a subsection only once its mask bit is
//! published (Release after the writes), so a half-initialised memmap is
//! simply a smaller one. Linux does the same with `deferred_init_memmap`
//! threads, one per node.
//!
//! `MemMap::new()` is `const`, so the kernel can keep a `static MEMMAP:
//! MemMap`, and sections can be added later (hotplug, whole sections only).
//!
//! Storage is the caller's: the kernel sizes it with [`MemMap::bytes_needed`],
//! carves it out of usable RAM through its own physical-memory mapping and
//! hands it over as `&'static mut` uninitialised memory. Every descriptor is
//! then written explicitly (FROZEN, `PG_reserved`, section slot): nothing
//! relies on zero-filled memory, because a zeroed refcount would read as "owned
//! by nobody but revivable" (refcount.md). Pages become allocatable only when a
//! [`Zone`](crate::Zone) is handed their range.
//!
//! The section table uses `core` atomics even under loom: it must be `const`
//! constructible, and it is not part of the refcount protocol the loom models
//! check.

use crate::page::{Page, PageFlags};
use crate::refcount::{DefaultScheme, RefcountScheme};
use core::fmt;
use core::marker::PhantomData;
use core::mem::{MaybeUninit, align_of, size_of};
use core::ops::Range;
use core::ptr;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};

/// log2 of pages per section: 15 (128 MiB sections).
///
/// Under Miri sections shrink to 2^11 pages (8 MiB, still twice a max-order
/// block): every descriptor of a section is initialised eagerly, and
/// interpreting 32768 initialisations per test memmap would take minutes. The
/// code is otherwise identical.
///
/// Loom uses the Miri sizes too (and small subsections, below).
pub const PFN_SECTION_SHIFT: usize = if cfg!(any(miri, loom)) { 11 } else { 15 };
/// Pages per section: 2^15 = 128 MiB of RAM (2^11 under Miri).
pub const PAGES_PER_SECTION: usize = 1 << PFN_SECTION_SHIFT;
/// log2 of pages per subsection: 9 (2 MiB, Linux's `SUBSECTION_SHIFT` 21
/// minus `PAGE_SHIFT` 12). The unit in which descriptors are paid for.
///
/// Under `--cfg loom` it is 5 (32 pages): every descriptor is four loom
/// atomics, each a tracked object, and every initialising store a loom
/// operation, so the loom models of `tests/loom.rs` build a real `Zone` on a
/// 32-page memmap. The code is otherwise identical.
pub const PFN_SUBSECTION_SHIFT: usize = if cfg!(loom) { 5 } else { 9 };
/// Pages per subsection: 512 (2 MiB of RAM).
pub const PAGES_PER_SUBSECTION: usize = 1 << PFN_SUBSECTION_SHIFT;
/// Subsections per section: 64 (4 under Miri); one bit each in a `u64` mask.
pub const SUBSECTIONS_PER_SECTION: usize = PAGES_PER_SECTION / PAGES_PER_SUBSECTION;
/// Physical address bits the memmap describes: 48, the reach of 4-level
/// paging with 4 KiB pages on aarch64 (48-bit output addresses) and more
/// than x86_64's 4-level limit (46 bits, 64 TiB). Linux's
/// `MAX_PHYSMEM_BITS`.
pub const MAX_PHYSMEM_BITS: usize = 48;
/// Section numbers: every 128 MiB section of the 48-bit space (2^21). Under
/// Miri and loom only 32 (a retag of the memmap visits every root pointer),
/// twice the slots, as on the host there are more sections than slots.
pub const MAX_SECTIONS: usize =
    if cfg!(any(miri, loom)) { 32 } else { 1 << (MAX_PHYSMEM_BITS - 12 - PFN_SECTION_SHIFT) };
/// Sections per root of the section table (Linux's `SECTIONS_PER_ROOT` under
/// `SPARSEMEM_EXTREME`): 1024, so a root covers 128 GiB of physical space
/// and costs 16 KiB, taken from the caller's storage only once a section in
/// it has RAM.
pub const SECTIONS_PER_ROOT: usize = if cfg!(any(miri, loom)) { 4 } else { 1 << 10 };
/// Roots of the section table: 2048 pointers (16 KiB) in the `MemMap`.
pub const NR_SECTION_ROOTS: usize = MAX_SECTIONS / SECTIONS_PER_ROOT;
/// Bits of the section slot kept in `Page` flags (see the module docs,
/// "Sections and slots").
pub const SECTION_SLOT_BITS: u32 = 15;
/// How many sections may have RAM at once: 32768 slots, 4 TiB of RAM in
/// 128 MiB sections, anywhere in the 48-bit space. A memmap refuses more
/// ([`MemMapError::TooManySections`]); the kernel clamps RAM to fit
/// ([`usable_end_pfn`]). 16 under Miri and loom.
pub const MAX_PRESENT_SECTIONS: usize =
    if cfg!(any(miri, loom)) { 16 } else { 1 << SECTION_SLOT_BITS };
/// Slots per chunk of the slot table: 256 (12 KiB per chunk, from the
/// caller's storage, one chunk per 32 GiB of RAM).
const SLOTS_PER_CHUNK: usize = if cfg!(any(miri, loom)) { 4 } else { 256 };
/// Chunk pointers of the slot table: 128 (1 KiB in the `MemMap`).
const NR_SLOT_CHUNKS: usize = MAX_PRESENT_SECTIONS / SLOTS_PER_CHUNK;
/// First pfn beyond what the memmap can describe (2^36: 256 TiB).
pub const MAX_PFN: usize = MAX_SECTIONS * PAGES_PER_SECTION;
/// Bytes of descriptors of a whole section (512 KiB).
pub const SECTION_BYTES: usize = PAGES_PER_SECTION * size_of::<Page>();
/// Bytes of descriptors of one subsection (8 KiB): the memmap's granularity.
pub const SUBSECTION_BYTES: usize = PAGES_PER_SUBSECTION * size_of::<Page>();

// A max-order block never straddles two sections (tails find their head
// within the same section, merges never cross a section boundary). It may
// span subsections: the allocator only ever holds blocks whose every page has
// a descriptor, and a buddy without one is simply not merged with.
const _: () = assert!(crate::MAX_ORDER < PFN_SECTION_SHIFT);
// One mask bit per subsection.
const _: () = assert!(SUBSECTIONS_PER_SECTION >= 1 && SUBSECTIONS_PER_SECTION <= 64);
const _: () = assert!(PAGES_PER_SECTION.is_multiple_of(PAGES_PER_SUBSECTION));
const _: () = assert!(MAX_SECTIONS.is_multiple_of(SECTIONS_PER_ROOT));
const _: () = assert!(MAX_PRESENT_SECTIONS.is_multiple_of(SLOTS_PER_CHUNK));
const _: () = assert!(MAX_PRESENT_SECTIONS <= 1 << SECTION_SLOT_BITS);

/// Why building the memmap failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemMapError {
    /// A pfn at or beyond [`MAX_PFN`].
    PfnOutOfRange(usize),
    /// The section already has descriptors.
    AlreadyPresent(usize),
    /// `populate` was given fewer bytes than [`MemMap::bytes_needed`].
    StorageTooSmall {
        /// What the ranges need.
        needed_bytes: usize,
    },
    /// The ranges would make more than [`MAX_PRESENT_SECTIONS`] sections
    /// present: more than 4 TiB of RAM (see [`usable_end_pfn`]).
    TooManySections {
        /// Sections present already plus those the ranges add.
        wanted: usize,
    },
}

impl fmt::Display for MemMapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemMapError::PfnOutOfRange(pfn) => write!(f, "pfn {pfn:#x} beyond the memmap's reach"),
            MemMapError::AlreadyPresent(s) => write!(f, "section {s} already present"),
            MemMapError::StorageTooSmall { needed_bytes } => {
                write!(f, "memmap storage too small: {needed_bytes} bytes needed")
            }
            MemMapError::TooManySections { wanted } => {
                write!(f, "{wanted} sections with RAM, the memmap holds {MAX_PRESENT_SECTIONS}")
            }
        }
    }
}

/// What every pfn lookup of a section reads, in one 16-byte slot of its
/// root (see the module docs): the present-subsection mask and the encoded
/// map.
#[repr(C, align(16))]
struct MemSection {
    /// Present subsections (bit i = pfns `i * PAGES_PER_SUBSECTION..` of the
    /// section). Zero = absent. Bits are only ever added, each with Release
    /// after its descriptors are written; readers load it with Acquire
    /// before touching them.
    present: AtomicU64,
    /// `window base - first index` (wrapping; the same provenance as the
    /// window), so the descriptor of section index `idx` is
    /// `map.wrapping_add(idx)` for every `idx` of a present subsection.
    /// Non-null once the section is claimed (that is how a claim is told);
    /// stored before any `present` bit is published.
    map: AtomicPtr<Page>,
}

/// One root of the section table: [`SECTIONS_PER_ROOT`] sections.
type SectionRoot = [MemSection; SECTIONS_PER_ROOT];

/// What `page_to_pfn` reads for a present section, by slot: the same mask
/// and map as its [`MemSection`] (kept equal: both are written by the same
/// code, the mask bits in the same order) and the section number; plus the
/// cold fields of the window and of deferred initialisation.
#[repr(C, align(16))]
struct SlotRec {
    /// As [`MemSection::present`].
    present: AtomicU64,
    /// As [`MemSection::map`].
    map: AtomicPtr<Page>,
    /// The section number (written before the slot is counted in
    /// `nr_slots`, never changed).
    nr: AtomicUsize,
    /// The window's first descriptor.
    window: AtomicPtr<Page>,
    /// The subsections that have RAM: what `present` becomes once every
    /// one of them is initialised.
    want: AtomicU64,
    /// Window subsections whose descriptors have been (or are being)
    /// written: a bit is claimed by one `fetch_or`, whose winner writes
    /// them.
    inited: AtomicU64,
}

/// One chunk of the slot table: [`SLOTS_PER_CHUNK`] slots.
type SlotChunk = [SlotRec; SLOTS_PER_CHUNK];

const ROOT_BYTES: usize = size_of::<SectionRoot>();
const CHUNK_BYTES: usize = size_of::<SlotChunk>();
// Room for a table block at any alignment within the storage.
const ROOT_COST: usize = ROOT_BYTES + align_of::<SectionRoot>() - 1;
const CHUNK_COST: usize = CHUNK_BYTES + align_of::<SlotChunk>() - 1;

/// The table of memmap sections. See the module docs.
///
/// `S` is the refcount scheme the descriptors are counted with: it decides
/// the FROZEN value every descriptor starts with (a reserved page must read as
/// "owned by nobody" in that scheme), and a [`Zone`](crate::Zone) only works
/// on a memmap of its own scheme.
pub struct MemMap<S: RefcountScheme = DefaultScheme> {
    /// Null, or the root of sections `i * SECTIONS_PER_ROOT..`: stored once
    /// with Release after its sections are zeroed; loaded with Acquire.
    roots: [AtomicPtr<MemSection>; NR_SECTION_ROOTS],
    /// Null, or the chunk of slots `i * SLOTS_PER_CHUNK..`: stored once with
    /// Release after its slots are zeroed; loaded with Acquire.
    slot_chunks: [AtomicPtr<SlotRec>; NR_SLOT_CHUNKS],
    /// Held while sections are added: slots are handed out in order, and
    /// roots and chunks are created, by one adder at a time (boot and
    /// hotplug only).
    adding: AtomicBool,
    /// Slots in use (= present or claimed sections); slot `i < nr_slots`
    /// is fully described. Stored with Release by the adder after the
    /// slot's record; loaded with Acquire by deferred initialisation.
    nr_slots: AtomicUsize,
    nr_subsections: AtomicUsize,
    overhead: AtomicUsize,
    table: AtomicUsize,
    /// Ids of the live zones on this memmap: bit `id` set while a zone holds
    /// `id` (`1..=PageFlags::ZONE_ID_MAX`; bit 0 is never used). Handed out
    /// by [`claim_zone_id`](Self::claim_zone_id), given back when the zone
    /// is dropped.
    zone_ids: AtomicU64,
    _scheme: PhantomData<fn() -> S>,
}

impl<S: RefcountScheme> Default for MemMap<S> {
    fn default() -> Self {
        Self::new()
    }
}

/// Mask of the subsections of section `s` that `ranges` (pfn ranges) touch.
/// Ranges may be unsorted, overlapping or empty.
pub fn subsection_mask(ranges: &[Range<usize>], s: usize) -> u64 {
    let (lo, hi) = (s * PAGES_PER_SECTION, (s + 1) * PAGES_PER_SECTION);
    let mut mask = 0u64;
    for r in ranges.iter().filter(|r| r.start < r.end && r.start < hi && r.end > lo) {
        let first = (r.start.max(lo) - lo) >> PFN_SUBSECTION_SHIFT;
        let last = (r.end.min(hi) - 1 - lo) >> PFN_SUBSECTION_SHIFT;
        // Bits first..=last; last < 64 by the const asserts.
        let upto = if last == 63 { u64::MAX } else { (1u64 << (last + 1)) - 1 };
        mask |= upto & !((1u64 << first) - 1);
    }
    mask
}

/// Pages of a section's window for `mask`: from the lowest to the highest
/// set bit, in whole subsections. 0 for an empty mask.
pub const fn window_pages(mask: u64) -> usize {
    window_mask(mask).count_ones() as usize * PAGES_PER_SUBSECTION
}

/// Mask of the subsections of a window for `mask` (lowest to highest bit).
const fn window_mask(mask: u64) -> u64 {
    if mask == 0 {
        return 0;
    }
    let first = mask.trailing_zeros();
    let last = 63 - mask.leading_zeros();
    (u64::MAX >> (63 - last)) & !((1u64 << first) - 1)
}

/// The section numbers below [`MAX_SECTIONS`] that intersect `ranges` (pfn
/// ranges), ascending, each once. Ranges may be unsorted or overlap; pfns
/// beyond [`MAX_PFN`] are ignored here (and rejected by
/// [`MemMap::populate`]). The cost grows with sections times ranges, not
/// with the distance between ranges (RAM may sit terabytes apart).
pub fn sections_for(ranges: &[Range<usize>]) -> impl Iterator<Item = usize> + '_ {
    let mut next = 0usize;
    core::iter::from_fn(move || {
        // The lowest section >= next that some range touches.
        let s = ranges
            .iter()
            .filter(|r| r.start < r.end && (r.end - 1) >> PFN_SECTION_SHIFT >= next)
            .map(|r| (r.start >> PFN_SECTION_SHIFT).max(next))
            .min()?;
        if s >= MAX_SECTIONS {
            return None;
        }
        next = s + 1;
        Some(s)
    })
}

/// How many sections `ranges` touch.
pub fn sections_needed(ranges: &[Range<usize>]) -> usize {
    sections_for(ranges).count()
}

/// Descriptors [`MemMap::populate`] needs for `ranges`: the sum of the
/// sections' windows (see the module docs), in pages.
pub fn pages_needed(ranges: &[Range<usize>]) -> usize {
    sections_for(ranges).map(|s| window_pages(subsection_mask(ranges, s))).sum()
}

/// Bytes of section table a fresh memmap takes from the storage for
/// `ranges`: a root per 128 GiB of physical space with RAM, a slot chunk
/// per 256 sections (plus alignment slack; at least one chunk more than a
/// fresh memmap needs, for a memmap whose last chunk is partly used).
pub fn table_bytes_needed(ranges: &[Range<usize>]) -> usize {
    let sections = sections_needed(ranges);
    if sections == 0 {
        return 0;
    }
    roots_for(ranges).count() * ROOT_COST + (sections.div_ceil(SLOTS_PER_CHUNK) + 1) * CHUNK_COST
}

/// The roots of the section table that [`sections_for`]`(ranges)` falls in,
/// ascending, each once.
fn roots_for(ranges: &[Range<usize>]) -> impl Iterator<Item = usize> + '_ {
    let mut last = None;
    sections_for(ranges).map(|s| s / SECTIONS_PER_ROOT).filter(move |&r| last.replace(r) != Some(r))
}

/// Bytes of storage [`MemMap::populate`] needs for `ranges` on a fresh
/// memmap: [`SUBSECTION_BYTES`] per subsection of each section's window,
/// plus [`table_bytes_needed`], rounded up to whole descriptors.
pub fn bytes_needed(ranges: &[Range<usize>]) -> usize {
    let table = table_bytes_needed(ranges).next_multiple_of(size_of::<Page>());
    pages_needed(ranges) * size_of::<Page>() + table
}

/// Why part of the RAM cannot be described (see [`usable_end_pfn`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClampReason {
    /// RAM at or beyond [`MAX_PFN`] (2^48 bytes).
    BeyondMaxPfn,
    /// More than [`MAX_PRESENT_SECTIONS`] sections would have RAM.
    TooManySections,
    /// The one zone over all RAM would span `max_zone_pages` pages or more
    /// (its free-list links are 32-bit offsets).
    ZoneSpan,
}

impl fmt::Display for ClampReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClampReason::BeyondMaxPfn => "beyond the memmap's 48-bit physical reach",
            ClampReason::TooManySections => "more than 32768 sections (4 TiB) of RAM",
            ClampReason::ZoneSpan => "a zone spans at most 2^32 - 1 pages (16 TiB)",
        })
    }
}

/// The first pfn from which RAM in `ranges` must be left out so that the
/// rest fits one memmap and one zone of at most `max_zone_pages` pages:
/// `None` if everything fits, else the limit and the first reason it is
/// hit at. RAM below the limit keeps its descriptors; the caller drops
/// (and says so) whatever lies at or above it.
pub fn usable_end_pfn(
    ranges: &[Range<usize>],
    max_zone_pages: usize,
) -> Option<(usize, ClampReason)> {
    let first = ranges.iter().filter(|r| r.start < r.end).map(|r| r.start).min()?;
    let last = ranges.iter().filter(|r| r.start < r.end).map(|r| r.end).max()?;
    let mut limit: Option<(usize, ClampReason)> = None;
    let mut lower = |pfn: usize, why: ClampReason| {
        if pfn < last && limit.is_none_or(|(l, _)| pfn < l) {
            limit = Some((pfn, why));
        }
    };
    if let Some(s) = sections_for(ranges).nth(MAX_PRESENT_SECTIONS) {
        lower(s * PAGES_PER_SECTION, ClampReason::TooManySections);
    }
    lower(first.saturating_add(max_zone_pages), ClampReason::ZoneSpan);
    lower(MAX_PFN, ClampReason::BeyondMaxPfn);
    limit
}

impl MemMap {
    /// [`sections_for`], here for discoverability.
    pub fn sections_for(ranges: &[Range<usize>]) -> impl Iterator<Item = usize> + '_ {
        sections_for(ranges)
    }

    /// [`sections_needed`].
    pub fn sections_needed(ranges: &[Range<usize>]) -> usize {
        sections_needed(ranges)
    }

    /// [`bytes_needed`]: size the storage to carve before `populate`.
    pub fn bytes_needed(ranges: &[Range<usize>]) -> usize {
        bytes_needed(ranges)
    }
}

/// The add lock's guard (see `MemMap::adding`).
struct Adding<'a>(&'a AtomicBool);

impl Drop for Adding<'_> {
    fn drop(&mut self) {
        // Release: pairs with the next adder's Acquire, which then sees the
        // slots, roots and chunks this one created.
        self.0.store(false, Ordering::Release);
    }
}

/// Storage being handed out: descriptor windows from the front part,
/// section-table blocks from the back part (split once, so no reference to
/// the back part outlives the raw pointer the blocks are carved through).
struct Carve {
    front: &'static mut [MaybeUninit<Page>],
    /// Start of the back part.
    back: *mut u8,
    /// Bytes of the back part not yet taken (blocks go from its end down).
    back_len: usize,
}

impl Carve {
    fn new(storage: &'static mut [MaybeUninit<Page>], window_pages: usize) -> Self {
        let (front, back) = storage.split_at_mut(window_pages);
        let back_len = back.len() * size_of::<Page>();
        Carve { front, back: back.as_mut_ptr().cast::<u8>(), back_len }
    }

    fn window(&mut self, pages: usize) -> &'static mut [MaybeUninit<Page>] {
        let rest = core::mem::take(&mut self.front);
        let (chunk, tail) = rest.split_at_mut(pages);
        self.front = tail;
        chunk
    }

    /// A zeroed block the size of `T` from the back part, aligned for `T`.
    /// The caller checked that the back part holds every block it takes
    /// (each costs at most its size plus alignment - 1).
    fn zeroed<T>(&mut self) -> *mut T {
        let end = self.back.addr() + self.back_len;
        let start = (end - size_of::<T>()) & !(align_of::<T>() - 1);
        assert!(start >= self.back.addr(), "memmap table storage miscounted");
        self.back_len = start - self.back.addr();
        let p = self.back.wrapping_add(self.back_len);
        // SAFETY: `p..p + size_of::<T>()` lies in the back part (checked
        // above), which is ours for 'static, reached only through `back`, and
        // from which each block is taken once (`back_len` shrinks past it).
        unsafe { ptr::write_bytes(p, 0, size_of::<T>()) };
        p.cast::<T>()
    }
}

impl<S: RefcountScheme> MemMap<S> {
    /// An empty memmap (no section present). `const`, for a `static`.
    pub const fn new() -> Self {
        MemMap {
            roots: [const { AtomicPtr::new(ptr::null_mut()) }; NR_SECTION_ROOTS],
            slot_chunks: [const { AtomicPtr::new(ptr::null_mut()) }; NR_SLOT_CHUNKS],
            adding: AtomicBool::new(false),
            nr_slots: AtomicUsize::new(0),
            nr_subsections: AtomicUsize::new(0),
            overhead: AtomicUsize::new(0),
            table: AtomicUsize::new(0),
            zone_ids: AtomicU64::new(0),
            _scheme: PhantomData,
        }
    }

    /// Make every subsection that `ranges` touch present, taking the storage
    /// for each section's window, in ascending section order, from the front
    /// of `storage` and the section table's blocks from its back (at least
    /// [`bytes_needed`](Self::bytes_needed) bytes for a fresh memmap; any
    /// rest is unused). Every descriptor of a window is initialised FROZEN +
    /// `PG_reserved`. Returns the number of sections added.
    ///
    /// # Errors
    /// [`MemMapError::PfnOutOfRange`] for a pfn at or beyond [`MAX_PFN`],
    /// [`MemMapError::TooManySections`] past [`MAX_PRESENT_SECTIONS`],
    /// [`MemMapError::StorageTooSmall`], [`MemMapError::AlreadyPresent`] if a
    /// touched section already has descriptors. Nothing is added on error.
    pub fn populate(
        &self,
        ranges: &[Range<usize>],
        storage: &'static mut [MaybeUninit<Page>],
    ) -> Result<usize, MemMapError> {
        self.add_ranges(ranges, storage, true)
    }

    /// [`populate`](Self::populate) without writing any descriptor: the
    /// sections are claimed (slots, table, windows carved), and none of
    /// their subsections is present until
    /// [`init_deferred`](Self::init_deferred) has initialised it. Linux's
    /// deferred struct page init: the writes, the one boot step whose cost
    /// grows with RAM, can then be spread over every CPU.
    ///
    /// # Errors
    /// As [`populate`](Self::populate).
    pub fn populate_deferred(
        &self,
        ranges: &[Range<usize>],
        storage: &'static mut [MaybeUninit<Page>],
    ) -> Result<usize, MemMapError> {
        self.add_ranges(ranges, storage, false)
    }

    /// Make section `nr` present with `storage`, all of its subsections,
    /// initialising every descriptor (`S::FROZEN` refcount, `PG_reserved`,
    /// section slot). `storage` holds the descriptors and, at its back, any
    /// section-table block the section needs: [`SECTION_BYTES`] plus up to
    /// two blocks (see [`hotplug_pages`](Self::hotplug_pages)).
    ///
    /// # Errors
    /// As [`add_subsections`](Self::add_subsections).
    pub fn add_section(
        &self,
        nr: usize,
        storage: &'static mut [MaybeUninit<Page>],
    ) -> Result<&'static [Page], MemMapError> {
        let full = if SUBSECTIONS_PER_SECTION == 64 {
            u64::MAX
        } else {
            (1u64 << SUBSECTIONS_PER_SECTION) - 1
        };
        self.add_subsections(nr, full, storage)
    }

    /// Storage, in descriptors, that [`add_section`](Self::add_section)
    /// takes at most: a whole section plus a root and a slot chunk.
    pub const fn hotplug_pages() -> usize {
        PAGES_PER_SECTION + (ROOT_COST + CHUNK_COST).div_ceil(size_of::<Page>())
    }

    /// Make the subsections `mask` of section `nr` present (Linux's
    /// `section_activate` for a subsection map). `storage` must hold
    /// [`window_pages`]`(mask)` descriptors (all of them are initialised)
    /// and, after them, any section-table block the section needs. Returns
    /// the window.
    ///
    /// # Errors
    /// [`MemMapError::PfnOutOfRange`] for `nr >= MAX_SECTIONS`,
    /// [`MemMapError::AlreadyPresent`] if the section already has descriptors,
    /// [`MemMapError::TooManySections`] if every slot is taken,
    /// [`MemMapError::StorageTooSmall`] for a short `storage`. An empty mask
    /// adds nothing and returns an empty window.
    pub fn add_subsections(
        &self,
        nr: usize,
        mask: u64,
        storage: &'static mut [MaybeUninit<Page>],
    ) -> Result<&'static [Page], MemMapError> {
        if nr >= MAX_SECTIONS {
            return Err(MemMapError::PfnOutOfRange(nr * PAGES_PER_SECTION));
        }
        let mask = if SUBSECTIONS_PER_SECTION == 64 {
            mask
        } else {
            mask & ((1u64 << SUBSECTIONS_PER_SECTION) - 1)
        };
        if mask == 0 {
            return Ok(&[]);
        }
        let lo = nr * PAGES_PER_SECTION;
        let first = mask.trailing_zeros() as usize;
        let last = 63 - mask.leading_zeros() as usize;
        // The window's two ends, with the interior as the mask says: one
        // range per subsection of the mask.
        let sub = |i: usize| lo + i * PAGES_PER_SUBSECTION..lo + (i + 1) * PAGES_PER_SUBSECTION;
        let mut ranges = [const { 0..0 }; 64];
        for (i, r) in ranges.iter_mut().enumerate().take(last + 1).skip(first) {
            if mask & (1 << i) != 0 {
                *r = sub(i);
            }
        }
        self.add_ranges(&ranges[first..=last], storage, true)?;
        let (_, window) = self.section_window(nr).expect("just added");
        Ok(window)
    }

    fn lock_adding(&self) -> Adding<'_> {
        // Acquire: pairs with the Release of the previous adder's unlock.
        while self
            .adding
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        Adding(&self.adding)
    }

    fn add_ranges(
        &self,
        ranges: &[Range<usize>],
        storage: &'static mut [MaybeUninit<Page>],
        init: bool,
    ) -> Result<usize, MemMapError> {
        if let Some(r) = ranges.iter().find(|r| r.start < r.end && r.end > MAX_PFN) {
            return Err(MemMapError::PfnOutOfRange(r.end - 1));
        }
        let _adding = self.lock_adding();
        if let Some(s) = sections_for(ranges).find(|&s| self.is_claimed(s)) {
            return Err(MemMapError::AlreadyPresent(s));
        }
        let first_slot = self.nr_slots.load(Ordering::Relaxed);
        let new = sections_needed(ranges);
        if first_slot + new > MAX_PRESENT_SECTIONS {
            return Err(MemMapError::TooManySections { wanted: first_slot + new });
        }
        // What this add takes: the windows, the roots not there yet, and
        // the chunks its slots fall in that are not there yet.
        let missing_roots =
            roots_for(ranges).filter(|&r| self.roots[r].load(Ordering::Relaxed).is_null());
        let mut table = missing_roots.count() * ROOT_COST;
        if new > 0 {
            let chunks = first_slot / SLOTS_PER_CHUNK..=(first_slot + new - 1) / SLOTS_PER_CHUNK;
            for c in chunks {
                if self.slot_chunks[c].load(Ordering::Relaxed).is_null() {
                    table += CHUNK_COST;
                }
            }
        }
        let windows = pages_needed(ranges);
        let needed = windows * size_of::<Page>() + table;
        if storage.len() * size_of::<Page>() < needed {
            return Err(MemMapError::StorageTooSmall {
                needed_bytes: needed.next_multiple_of(size_of::<Page>()),
            });
        }
        let mut carve = Carve::new(storage, windows);
        for (slot, s) in (first_slot..).zip(sections_for(ranges)) {
            let mask = subsection_mask(ranges, s);
            let window = carve.window(window_pages(mask));
            self.claim(s, slot, mask, window, &mut carve, init);
        }
        Ok(new)
    }

    /// Whether section `nr` has been claimed by an add (present or
    /// deferred).
    fn is_claimed(&self, nr: usize) -> bool {
        self.section(nr).is_some_and(|sec| !sec.map.load(Ordering::Relaxed).is_null())
    }

    /// Claim section `nr` as `slot` with its window storage, creating its
    /// root and slot chunk if needed; with `init`, write and publish every
    /// descriptor. The caller holds the add lock and checked everything.
    fn claim(
        &self,
        nr: usize,
        slot: usize,
        mask: u64,
        window: &'static mut [MaybeUninit<Page>],
        carve: &mut Carve,
        init: bool,
    ) {
        let root = &self.roots[nr / SECTIONS_PER_ROOT];
        if root.load(Ordering::Relaxed).is_null() {
            let block = carve.zeroed::<SectionRoot>();
            // Release: a lookup that loads the root with Acquire sees its
            // zeroed sections.
            root.store(block.cast::<MemSection>(), Ordering::Release);
            self.table.fetch_add(ROOT_BYTES, Ordering::Relaxed);
        }
        let chunk = &self.slot_chunks[slot / SLOTS_PER_CHUNK];
        if chunk.load(Ordering::Relaxed).is_null() {
            let block = carve.zeroed::<SlotChunk>();
            // Release: as for the roots.
            chunk.store(block.cast::<SlotRec>(), Ordering::Release);
            self.table.fetch_add(CHUNK_BYTES, Ordering::Relaxed);
        }
        let sec = self.section(nr).expect("root just made");
        let rec = self.slot_rec(slot).expect("chunk just made");
        let base = window.as_mut_ptr().cast::<Page>();
        // The encoded map: index 0 of the section, as if the window started
        // there. Wrapping: it may point before the window (out of bounds);
        // every lookup adds back an index of a present subsection, which
        // lands inside the window.
        let first = mask.trailing_zeros() as usize * PAGES_PER_SUBSECTION;
        let map = base.wrapping_sub(first);
        // Relaxed: nobody reads these before a `present` bit is published
        // (Release) or the slot is counted in `nr_slots` (Release, below).
        rec.nr.store(nr, Ordering::Relaxed);
        rec.window.store(base, Ordering::Relaxed);
        rec.want.store(mask, Ordering::Relaxed);
        rec.map.store(map, Ordering::Relaxed);
        sec.map.store(map, Ordering::Relaxed);
        self.overhead.fetch_add(window.len() * size_of::<Page>(), Ordering::Relaxed);
        // Release: pairs with the Acquire of `init_deferred`, which then
        // sees the record and the window.
        self.nr_slots.store(slot + 1, Ordering::Release);
        if init {
            let mut subs = window_mask(mask);
            while subs != 0 {
                let i = subs.trailing_zeros() as usize;
                subs &= subs - 1;
                self.init_subsection(slot, i);
            }
        }
    }

    /// Initialise the descriptors of subsection `i` of `slot`'s window
    /// unless someone has already, and publish it if it has RAM. Returns
    /// the pfns published.
    fn init_subsection(&self, slot: usize, i: usize) -> Option<Range<usize>> {
        let rec = self.slot_rec(slot)?;
        let want = rec.want.load(Ordering::Relaxed);
        let bit = 1u64 << i;
        if window_mask(want) & bit == 0 {
            return None;
        }
        // The claim: exactly one caller writes these descriptors. Relaxed:
        // the descriptors are published by the `present` Release below, and
        // no one reads them before.
        if rec.inited.fetch_or(bit, Ordering::Relaxed) & bit != 0 {
            return None;
        }
        let nr = rec.nr.load(Ordering::Relaxed);
        let first = want.trailing_zeros() as usize;
        let window = rec.window.load(Ordering::Relaxed);
        let flags = PageFlags::new_reserved(slot);
        for k in 0..PAGES_PER_SUBSECTION {
            // SAFETY: subsection i lies in the window (checked against the
            // window mask), which holds `window_pages(want)` descriptors from
            // `window`, carved for this section alone; the claim above makes
            // this call its only writer, and nothing reads it before the
            // publication below.
            let page = unsafe {
                let slot = window.add((i - first) * PAGES_PER_SUBSECTION + k);
                slot.write(Page::new(S::FROZEN));
                &*slot
            };
            page.set_flags(flags);
        }
        if want & bit == 0 {
            return None; // an interior hole: initialised, never present
        }
        let sec = self.section(nr).expect("claimed section has a root");
        // Release: a reader that loads the mask (Acquire) sees the
        // initialised descriptors and the map stored before.
        rec.present.fetch_or(bit, Ordering::Release);
        sec.present.fetch_or(bit, Ordering::Release);
        self.nr_subsections.fetch_add(1, Ordering::Relaxed);
        let lo = nr * PAGES_PER_SECTION + i * PAGES_PER_SUBSECTION;
        Some(lo..lo + PAGES_PER_SUBSECTION)
    }

    /// Units of deferred initialisation: `nr_slots() * SUBSECTIONS_PER_SECTION`
    /// (one per subsection of every claimed section; most are cheap no-ops).
    pub fn deferred_units(&self) -> usize {
        self.nr_slots.load(Ordering::Acquire) * SUBSECTIONS_PER_SECTION
    }

    /// Deferred initialisation of unit `unit` (`0..deferred_units()`):
    /// write the descriptors of one subsection claimed by
    /// [`populate_deferred`](Self::populate_deferred) and make it present.
    /// Any CPU may call it, for any unit, concurrently; each subsection is
    /// written by exactly one caller. Returns the pfns that became present
    /// (a whole subsection, 2 MiB: hand the RAM among them to a zone), or
    /// `None` (a subsection without RAM, already done, or out of range).
    pub fn init_deferred(&self, unit: usize) -> Option<Range<usize>> {
        let slot = unit / SUBSECTIONS_PER_SECTION;
        // Acquire: pairs with the adder's Release of `nr_slots`, so the slot
        // record and window are seen as claimed.
        if slot >= self.nr_slots.load(Ordering::Acquire) {
            return None;
        }
        self.init_subsection(slot, unit % SUBSECTIONS_PER_SECTION)
    }

    /// Whether every claimed descriptor has been initialised (no deferred
    /// work left).
    pub fn fully_initialised(&self) -> bool {
        (0..self.nr_slots.load(Ordering::Acquire)).all(|slot| {
            self.slot_rec(slot).is_some_and(|rec| {
                let want = window_mask(rec.want.load(Ordering::Relaxed));
                rec.inited.load(Ordering::Relaxed) & want == want
            })
        })
    }

    /// The section record of `nr`, if its root exists.
    #[inline]
    fn section(&self, nr: usize) -> Option<&MemSection> {
        if nr >= MAX_SECTIONS {
            return None;
        }
        // Acquire: pairs with the Release that published the root after
        // zeroing it. (Array indexing, not `.get()`: no reference to the
        // whole table is created, which Miri would retag on every lookup.)
        let root = self.roots[nr / SECTIONS_PER_ROOT].load(Ordering::Acquire);
        if root.is_null() {
            return None;
        }
        // SAFETY: a non-null root points to SECTIONS_PER_ROOT initialised
        // `MemSection`s that live for 'static (carved from the caller's
        // 'static storage), and `nr % SECTIONS_PER_ROOT` is in bounds.
        Some(unsafe { &*root.add(nr % SECTIONS_PER_ROOT) })
    }

    /// The slot record of `slot`, if its chunk exists.
    #[inline]
    fn slot_rec(&self, slot: usize) -> Option<&SlotRec> {
        if slot >= MAX_PRESENT_SECTIONS {
            return None;
        }
        // Acquire: as in `section`.
        let chunk = self.slot_chunks[slot / SLOTS_PER_CHUNK].load(Ordering::Acquire);
        if chunk.is_null() {
            return None;
        }
        // SAFETY: as in `section`, for a chunk of SLOTS_PER_CHUNK records.
        Some(unsafe { &*chunk.add(slot % SLOTS_PER_CHUNK) })
    }

    /// Present-subsection mask of section `nr` (0 if absent or out of range).
    #[inline]
    fn mask(&self, nr: usize) -> u64 {
        self.section(nr).map_or(0, |sec| sec.present.load(Ordering::Acquire))
    }

    /// The present subsections of section `nr` (bit i = pfns from
    /// `nr * PAGES_PER_SECTION + i * PAGES_PER_SUBSECTION`, 2 MiB each);
    /// 0 if the section is absent or `nr >= MAX_SECTIONS`.
    pub fn subsections(&self, nr: usize) -> u64 {
        self.mask(nr)
    }

    /// The window of section `nr`: the pfn of its first descriptor and the
    /// descriptors (including those of interior subsections without RAM,
    /// which [`pfn_to_page`](Self::pfn_to_page) does not hand out), once
    /// every one of them is initialised.
    pub fn section_window(&self, nr: usize) -> Option<(usize, &'static [Page])> {
        let mask = self.mask(nr);
        if mask == 0 {
            return None;
        }
        // A present subsection's descriptor names the section's slot.
        let some = self.pfn_to_page(
            (nr << PFN_SECTION_SHIFT) | (mask.trailing_zeros() as usize) << PFN_SUBSECTION_SHIFT,
        )?;
        let rec = self.slot_rec(some.flags().section_slot())?;
        let want = rec.want.load(Ordering::Relaxed);
        if rec.present.load(Ordering::Acquire) != want {
            return None; // deferred initialisation still under way
        }
        let base = rec.window.load(Ordering::Relaxed);
        let first = want.trailing_zeros() as usize * PAGES_PER_SUBSECTION;
        // SAFETY: every RAM subsection was published (Release, paired with
        // the Acquire above) after its descriptors were written, and each
        // interior hole by the same initialisation before the bits above
        // it were published; `base` is the first of `window_pages(want)`
        // descriptors that live for 'static.
        let pages = unsafe { core::slice::from_raw_parts(base.cast_const(), window_pages(want)) };
        Some((nr * PAGES_PER_SECTION + first, pages))
    }

    /// Calls `f(first pfn, descriptors)` for every run of present pages of
    /// `span`, one per present subsection (clipped to `span`), in ascending
    /// order. Cost: one lookup per section of the span with a root, one
    /// per root without.
    pub fn for_each_present(&self, span: Range<usize>, mut f: impl FnMut(usize, &'static [Page])) {
        let (start, end) = (span.start, span.end.min(MAX_PFN));
        if start >= end {
            return;
        }
        let mut nr = start >> PFN_SECTION_SHIFT;
        while nr <= (end - 1) >> PFN_SECTION_SHIFT {
            let Some(sec) = self.section(nr) else {
                nr = (nr / SECTIONS_PER_ROOT + 1) * SECTIONS_PER_ROOT;
                continue;
            };
            let mut mask = sec.present.load(Ordering::Acquire);
            // Relaxed: ordered by the mask's Acquire (see `MemSection`).
            let map = sec.map.load(Ordering::Relaxed);
            while mask != 0 {
                let i = mask.trailing_zeros() as usize;
                mask &= mask - 1;
                // Both ends are below MAX_PFN: no overflow.
                let base = nr * PAGES_PER_SECTION;
                let lo = (base + i * PAGES_PER_SUBSECTION).max(start);
                let hi = (base + (i + 1) * PAGES_PER_SUBSECTION).min(end);
                if lo < hi {
                    // SAFETY: `lo..hi` lies in present subsection i, whose
                    // descriptors are initialised and 'static (published
                    // with Release, seen through the mask's Acquire); as in
                    // `pfn_to_block`, `map + index` lands in the window.
                    let pages = unsafe {
                        core::slice::from_raw_parts(
                            map.wrapping_add(lo - base).cast_const(),
                            hi - lo,
                        )
                    };
                    f(lo, pages);
                }
            }
            nr += 1;
        }
    }

    /// Pages of `span` (pfns) that have descriptors now: the present
    /// subsections' pages inside it. Pfns at or beyond [`MAX_PFN`] count as
    /// absent. Sections added later (hotplug) count from then on.
    pub fn present_pages(&self, span: Range<usize>) -> usize {
        let mut present = 0;
        self.for_each_present(span, |_, pages| present += pages.len());
        present
    }

    /// Claim the lowest zone id no live zone on this memmap holds
    /// (`1..=PageFlags::ZONE_ID_MAX`), or `None` if all are taken. The
    /// zone gives it back with [`release_zone_id`](Self::release_zone_id).
    pub(crate) fn claim_zone_id(&self) -> Option<u32> {
        let ids = PageFlags::ZONE_ID_MAX;
        // Bits 1..=ZONE_ID_MAX.
        let all = (u64::MAX >> (63 - ids)) & !1;
        let mut cur = self.zone_ids.load(Ordering::Relaxed);
        loop {
            let free = all & !cur;
            if free == 0 {
                return None;
            }
            let id = free.trailing_zeros();
            // Acquire on success pairs with the Release of `release_zone_id`
            // by the zone that last held the id: the stores its drop made
            // to the pages it managed (back to PG_reserved, id 0) happen
            // before this zone stamps the same id anywhere, so no page still
            // carries the id for the new zone to mistake for its own.
            match self.zone_ids.compare_exchange_weak(
                cur,
                cur | 1 << id,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(id),
                Err(now) => cur = now,
            }
        }
    }

    /// Give back a zone id from [`claim_zone_id`](Self::claim_zone_id) (the
    /// zone is being dropped and no page carries the id any more).
    pub(crate) fn release_zone_id(&self, id: u32) {
        // Release: pairs with the Acquire of the `claim_zone_id` that hands
        // the id out next (see there).
        let old = self.zone_ids.fetch_and(!(1 << id), Ordering::Release);
        debug_assert!(old & 1 << id != 0, "zone id {id} released twice");
    }

    /// Number of present sections (claimed ones included, under deferred
    /// initialisation).
    pub fn nr_present_sections(&self) -> usize {
        self.nr_slots.load(Ordering::Relaxed)
    }

    /// Number of present subsections (2 MiB each).
    pub fn nr_present_subsections(&self) -> usize {
        self.nr_subsections.load(Ordering::Relaxed)
    }

    /// Bytes of descriptors in use: the sum of the sections' windows.
    pub fn overhead_bytes(&self) -> usize {
        self.overhead.load(Ordering::Relaxed)
    }

    /// Bytes of section table taken from the storage (roots and slot
    /// chunks; the fixed part inside the `MemMap` not counted).
    pub fn table_bytes(&self) -> usize {
        self.table.load(Ordering::Relaxed)
    }

    /// The descriptor of `pfn`, or `None` if its subsection is absent.
    #[inline]
    pub fn pfn_to_page(&self, pfn: usize) -> Option<&'static Page> {
        // An order-0 block: with the constant order the block checks fold to
        // the one subsection bit (one lookup, one unsafe block for both).
        self.pfn_to_block(pfn, 0).map(|block| &block[0])
    }

    /// The descriptors of the naturally aligned block of 2^`order` pages
    /// starting at `pfn` (a buddy block or compound page: Linux's
    /// `struct page`s of a folio are contiguous too), or `None` if `order >
    /// MAX_ORDER`, the block crosses a section, or a subsection of it is
    /// absent. One lookup for the whole block instead of one per page, which
    /// is what the allocator's per-page checks walk.
    #[inline]
    pub fn pfn_to_block(&self, pfn: usize, order: usize) -> Option<&'static [Page]> {
        let nr = pfn >> PFN_SECTION_SHIFT;
        let idx = pfn & (PAGES_PER_SECTION - 1);
        if order > crate::MAX_ORDER || idx + (1 << order) > PAGES_PER_SECTION {
            return None;
        }
        let n = 1 << order;
        // Subsections lo..=hi hold the block; every one must be present.
        let (lo, hi) = (idx >> PFN_SUBSECTION_SHIFT, (idx + n - 1) >> PFN_SUBSECTION_SHIFT);
        let want = (u64::MAX >> (63 - (hi - lo))) << lo;
        let sec = self.section(nr)?;
        if sec.present.load(Ordering::Acquire) & want != want {
            return None;
        }
        // Relaxed: ordered by the mask's Acquire (see `MemSection`).
        let map = sec.map.load(Ordering::Relaxed);
        // SAFETY: the mask bits were published (Release, paired with the
        // Acquire above) after `map` was stored and the subsections'
        // descriptors written. Every subsection of the block is in the mask,
        // so with `first` the window's first index, first <= idx and
        // idx + n <= first + window_pages(mask): `map + idx` is
        // `window base + (idx - first)`, inside the window. (`wrapping_add`,
        // not `add`: `map` itself may lie before the window, out of bounds;
        // wrapping arithmetic keeps the window's provenance and lands back
        // inside it.) The n descriptors from there are initialised and
        // 'static. The slice spans only the block, not the window: Miri
        // retags n descriptors per lookup.
        Some(unsafe { core::slice::from_raw_parts(map.wrapping_add(idx).cast_const(), n) })
    }

    /// The pfn of `page`, or `None` if it is not a descriptor of this memmap
    /// handed out by [`pfn_to_page`](Self::pfn_to_page).
    #[inline]
    pub fn try_page_to_pfn(&self, page: &Page) -> Option<usize> {
        let rec = self.slot_rec(page.flags().section_slot())?;
        let mask = rec.present.load(Ordering::Acquire);
        if mask == 0 {
            return None;
        }
        // Relaxed: ordered by the mask's Acquire (see `SlotRec`).
        let map = rec.map.load(Ordering::Relaxed);
        let offset = (page as *const Page).addr().wrapping_sub(map.addr());
        let idx = offset / size_of::<Page>();
        // The exact address must match: a standalone `Page` or one of another
        // memmap must not be mistaken for ours. (An address below `map`
        // wraps to a huge index; one between `map` and the window falls in
        // a subsection below the mask's lowest bit, which the mask refuses.)
        if offset.is_multiple_of(size_of::<Page>())
            && idx < PAGES_PER_SECTION
            && mask & (1 << (idx >> PFN_SUBSECTION_SHIFT)) != 0
        {
            Some((rec.nr.load(Ordering::Relaxed) << PFN_SECTION_SHIFT) | idx)
        } else {
            None
        }
    }

    /// The pfn of `page`. Panics if `page` is not a descriptor of this memmap
    /// (a caller bug: descriptors only come from `pfn_to_page` and the zone).
    #[inline]
    pub fn page_to_pfn(&self, page: &Page) -> usize {
        self.try_page_to_pfn(page).expect("page_to_pfn: page not in this memmap")
    }

    /// Linux `compound_head`: the head of the allocated compound block a tail
    /// page belongs to; any other page is its own head. Without the zone lock
    /// the answer is a hint that can be stale by the time it is used: callers
    /// that race with frees revalidate (see `Zone::get_page_unless_frozen`).
    #[inline]
    pub fn compound_head<'a>(&self, page: &'a Page) -> &'a Page {
        if page.flags().is_tail()
            && let Some(pfn) = self.try_page_to_pfn(page)
            && let Some(head) = pfn.checked_sub(page.tail_offset() as usize)
            && let Some(head) = self.pfn_to_page(head)
        {
            return head;
        }
        page
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::testing;
    use std::vec;

    const SEC: usize = PAGES_PER_SECTION;
    const SUB: usize = PAGES_PER_SUBSECTION;

    /// A window that starts at a later subsection: the encoded map points
    /// before the window, and every lookup lands back inside it, both ways.
    #[test]
    fn encoded_map_with_leading_hole() {
        let mm = testing::memmap::<DefaultScheme>(&[SEC + 2 * SUB..SEC + 3 * SUB]);
        let (first, window) = mm.section_window(1).unwrap();
        assert_eq!((first, window.len()), (SEC + 2 * SUB, SUB));
        assert!(mm.pfn_to_page(SEC + 2 * SUB - 1).is_none(), "leading hole");
        assert!(mm.pfn_to_page(SEC).is_none(), "leading hole");
        for pfn in [SEC + 2 * SUB, SEC + 2 * SUB + 1, SEC + 3 * SUB - 1] {
            let p = mm.pfn_to_page(pfn).unwrap();
            assert!(ptr::eq(p, &window[pfn - first]));
            assert_eq!(mm.try_page_to_pfn(p), Some(pfn));
        }
        // A descriptor outside the window that claims section 1 is not ours.
        let stray = Page::new(DefaultScheme::FROZEN);
        stray.set_flags(PageFlags::new_reserved(1));
        assert_eq!(mm.try_page_to_pfn(&stray), None);
    }

    /// A descriptor lying just below a window whose first subsection is not
    /// the section's first, claiming that section, is not ours: its offset
    /// from the encoded map is small (no wrap), and the mask refuses it.
    #[test]
    fn descriptor_just_below_the_window_is_not_ours() {
        let mm = MemMap::<DefaultScheme>::new();
        let storage = testing::storage(1 + MemMap::<DefaultScheme>::hotplug_pages());
        let (below, window) = storage.split_at_mut(1);
        let stray = below[0].write(Page::new(DefaultScheme::FROZEN));
        // Slot 0: the one the section gets.
        stray.set_flags(PageFlags::new_reserved(0));
        mm.add_subsections(1, 0b10, window).unwrap();
        assert_eq!(mm.try_page_to_pfn(stray), None);
        let first = mm.pfn_to_page(SEC + SUB).unwrap();
        assert_eq!(mm.try_page_to_pfn(first), Some(SEC + SUB));
    }

    /// A block's descriptors come in one slice only if every subsection it
    /// covers is present, it stays inside its section, and the order is
    /// valid; the slice is the same descriptors `pfn_to_page` hands out.
    #[test]
    fn pfn_to_block_needs_every_subsection() {
        // Section 1: subsections 0 and 2 present, 1 a hole between them.
        let mm = testing::memmap::<DefaultScheme>(&[SEC..SEC + SUB, SEC + 2 * SUB..SEC + 3 * SUB]);
        let b = mm.pfn_to_block(SEC, 9).unwrap();
        assert_eq!(b.len(), 1 << 9);
        assert!(ptr::eq(&b[5], mm.pfn_to_page(SEC + 5).unwrap()));
        let b = mm.pfn_to_block(SEC + 2 * SUB + 8, 3).unwrap();
        assert!(ptr::eq(&b[7], mm.pfn_to_page(SEC + 2 * SUB + 15).unwrap()));
        assert!(mm.pfn_to_block(SEC, 10).is_none(), "covers the hole");
        assert!(mm.pfn_to_block(SEC + SUB, 0).is_none(), "in the hole");
        assert!(mm.pfn_to_block(SEC, crate::MAX_ORDER + 1).is_none());
        assert!(mm.pfn_to_block(SEC + 3 * SUB - 1, 1).is_none(), "runs into an absent subsection");
        assert!(mm.pfn_to_block(2 * SEC - 1, 1).is_none(), "crosses the section end");
        assert!(mm.pfn_to_block(0, 0).is_none(), "absent section");
    }

    #[test]
    fn sections_for_dedups_and_sorts() {
        let r = [
            5 * SEC + 10..5 * SEC + 20,
            SEC..SEC + 1,
            5 * SEC..6 * SEC,
            2 * SEC - 1..2 * SEC + 1,
            9..9,
        ];
        let v: vec::Vec<usize> = MemMap::sections_for(&r).collect();
        assert_eq!(v, [1, 2, 5]);
        // Section 1: its first and last subsections, so its whole window;
        // section 2: one subsection; section 5: all of it.
        assert_eq!(pages_needed(&r) * size_of::<Page>(), 2 * SECTION_BYTES + SUBSECTION_BYTES);
        assert_eq!(MemMap::sections_needed(&[]), 0);
        #[cfg(not(miri))]
        assert_eq!(SECTION_BYTES, 512 * 1024);
    }

    #[test]
    fn populate_initialises_every_descriptor() {
        let mm = testing::memmap::<DefaultScheme>(&[SEC + 100..SEC + 200, 2 * SEC - 1..2 * SEC]);
        assert_eq!(mm.nr_present_sections(), 1);
        assert_eq!(mm.nr_present_subsections(), 2);
        assert!(mm.pfn_to_page(0).is_none());
        assert!(mm.pfn_to_page(2 * SEC).is_none());
        for pfn in [SEC, SEC + 150, SEC + SUB - 1, 2 * SEC - SUB, 2 * SEC - 1] {
            let p = mm.pfn_to_page(pfn).unwrap();
            assert_eq!(
                p.refcount().load(core::sync::atomic::Ordering::Relaxed),
                DefaultScheme::FROZEN
            );
            assert!(p.flags().is_reserved());
            assert_eq!(p.flags().section_slot(), 0, "the first section added");
            assert_eq!(mm.page_to_pfn(p), pfn);
        }
    }

    #[test]
    fn foreign_pages_have_no_pfn() {
        let mm = testing::memmap::<DefaultScheme>(&[0..10]);
        let other = testing::memmap::<DefaultScheme>(&[0..10]);
        assert!(mm.try_page_to_pfn(other.pfn_to_page(3).unwrap()).is_none());
        assert!(mm.try_page_to_pfn(&Page::new(DefaultScheme::FROZEN)).is_none());
        assert_eq!(mm.try_page_to_pfn(mm.pfn_to_page(3).unwrap()), Some(3));
    }

    #[test]
    fn errors() {
        let mm = testing::memmap::<DefaultScheme>(&[0..1]);
        assert_eq!(
            mm.add_section(0, testing::section_storage()).unwrap_err(),
            MemMapError::AlreadyPresent(0)
        );
        assert_eq!(
            mm.add_section(MAX_SECTIONS, testing::section_storage()).unwrap_err(),
            MemMapError::PfnOutOfRange(MAX_PFN)
        );
        let empty: &'static mut [MaybeUninit<Page>] = &mut [];
        assert_eq!(
            MemMap::<DefaultScheme>::new().populate(&[0..1], empty).unwrap_err(),
            MemMapError::StorageTooSmall {
                needed_bytes: (SUBSECTION_BYTES + ROOT_COST + CHUNK_COST)
                    .next_multiple_of(size_of::<Page>())
            }
        );
        let empty: &'static mut [MaybeUninit<Page>] = &mut [];
        assert_eq!(
            MemMap::<DefaultScheme>::new().populate(&[0..MAX_PFN + 1], empty).unwrap_err(),
            MemMapError::PfnOutOfRange(MAX_PFN)
        );
    }

    #[test]
    fn subsection_masks_and_windows() {
        assert_eq!(subsection_mask(&[], 0), 0);
        assert_eq!(subsection_mask(&[0..1], 0), 1);
        assert_eq!(subsection_mask(&[0..SUB], 0), 1);
        assert_eq!(subsection_mask(&[0..SUB + 1], 0), 0b11);
        assert_eq!(subsection_mask(&[SUB - 1..SUB + 1], 0), 0b11);
        assert_eq!(subsection_mask(&[3 * SUB..3 * SUB], 0), 0, "empty range");
        // Two banks with a hole of whole subsections between them.
        let banks = [SUB / 2..SUB, 3 * SUB + 7..4 * SUB];
        assert_eq!(subsection_mask(&banks, 0), 0b1001);
        assert_eq!(window_pages(0b1001), 4 * SUB);
        assert_eq!(window_pages(0), 0);
        assert_eq!(window_pages(0b100), SUB);
        // A range spanning sections sets the tail of one and the head of the next.
        let across = [SEC - 1..SEC + 1];
        assert_eq!(subsection_mask(&across, 0), 1 << (SUBSECTIONS_PER_SECTION - 1));
        assert_eq!(subsection_mask(&across, 1), 1);
        assert_eq!(pages_needed(&across) * size_of::<Page>(), 2 * SUBSECTION_BYTES);
        let whole = [0..SEC];
        assert_eq!(subsection_mask(&whole, 0).count_ones() as usize, SUBSECTIONS_PER_SECTION);
        assert_eq!(pages_needed(&whole) * size_of::<Page>(), SECTION_BYTES);
        #[cfg(not(miri))]
        assert_eq!(SUBSECTION_BYTES, 8 * 1024);
    }

    /// A small bank pays for its subsections, not for a whole section: the
    /// `-m 64M` case (RAM 1 MiB..48 MiB here) costs 48 MiB of descriptors.
    #[test]
    #[cfg(not(miri))]
    fn small_bank_pays_per_subsection() {
        let mib = |m: usize| m * (1 << 20) / 4096;
        let ranges = [mib(1)..mib(48)];
        assert_eq!(pages_needed(&ranges) * size_of::<Page>(), 48 * 4096);
        // Plus one root (16 KiB) and one or two slot chunks (12 KiB each).
        let table = table_bytes_needed(&ranges);
        assert!(table < 48 * 1024, "{table} bytes of table for one section");
        assert!(MemMap::bytes_needed(&ranges) < SECTION_BYTES / 2);
    }

    #[test]
    fn holes_inside_the_window_are_absent() {
        let banks = [SUB / 2..SUB, 3 * SUB + 7..4 * SUB];
        let mm = testing::memmap::<DefaultScheme>(&banks);
        assert_eq!(mm.subsections(0), 0b1001);
        assert_eq!(mm.overhead_bytes(), 4 * SUBSECTION_BYTES);
        let (first, window) = mm.section_window(0).unwrap();
        assert_eq!((first, window.len()), (0, 4 * SUB));
        for pfn in [0, SUB / 2, SUB - 1, 3 * SUB, 4 * SUB - 1] {
            let p = mm.pfn_to_page(pfn).unwrap();
            assert_eq!(mm.page_to_pfn(p), pfn);
        }
        for pfn in [SUB, 2 * SUB + 5, 3 * SUB - 1] {
            assert!(mm.pfn_to_page(pfn).is_none(), "pfn {pfn} has no RAM in its subsection");
        }
        // Beyond the window (under Miri the section ends at 4 * SUB).
        if SUBSECTIONS_PER_SECTION > 4 {
            for pfn in [4 * SUB, SEC - 1] {
                assert!(mm.pfn_to_page(pfn).is_none(), "pfn {pfn} is past the window");
            }
        }
        // A descriptor of an interior hole exists in storage but has no pfn.
        assert!(mm.try_page_to_pfn(&window[SUB]).is_none());
        assert!(mm.try_page_to_pfn(&window[3 * SUB]).is_some());
    }

    /// The window starts at the first present subsection, not at the section
    /// start: pfn arithmetic must add it back.
    #[test]
    fn window_offset_round_trips() {
        let mm = testing::memmap::<DefaultScheme>(&[SEC + 2 * SUB + 3..SEC + 3 * SUB]);
        assert_eq!(mm.overhead_bytes(), SUBSECTION_BYTES);
        assert_eq!(mm.section_window(1).map(|(f, w)| (f, w.len())), Some((SEC + 2 * SUB, SUB)));
        assert!(mm.pfn_to_page(SEC + 2 * SUB - 1).is_none());
        assert!(mm.pfn_to_page(SEC + 3 * SUB).is_none());
        for pfn in SEC + 2 * SUB..SEC + 3 * SUB {
            let p = mm.pfn_to_page(pfn).unwrap();
            assert_eq!(p.flags().section_slot(), 0, "the first section added");
            assert_eq!(mm.page_to_pfn(p), pfn);
        }
    }

    /// `bytes_needed` is enough; the error of a short storage names the
    /// exact need of this memmap (windows + a root + a chunk here), and that
    /// much is enough.
    #[test]
    fn populate_needs_what_it_says() {
        let banks = [0..SUB + 1, SEC + SUB..SEC + 2 * SUB, 3 * SEC - 1..3 * SEC];
        assert_eq!(pages_needed(&banks), 2 * SUB + SUB + SUB);
        let bound = MemMap::bytes_needed(&banks) / size_of::<Page>();
        let windows = pages_needed(&banks) * size_of::<Page>();
        let exact = (windows + ROOT_COST + CHUNK_COST).next_multiple_of(size_of::<Page>());
        assert!(bound * size_of::<Page>() >= exact);
        let mm: &'static MemMap = std::boxed::Box::leak(std::boxed::Box::new(MemMap::new()));
        testing::keep(mm);
        let pages = exact / size_of::<Page>();
        assert_eq!(
            mm.populate(&banks, testing::storage(pages - 1)).unwrap_err(),
            MemMapError::StorageTooSmall { needed_bytes: exact }
        );
        assert_eq!(mm.nr_present_sections(), 0, "a refused populate adds nothing");
        assert_eq!(mm.populate(&banks, testing::storage(pages)), Ok(3));
        assert_eq!(mm.nr_present_subsections(), 4);
        assert_eq!(mm.overhead_bytes(), windows);
        assert_eq!(mm.table_bytes(), ROOT_BYTES + CHUNK_BYTES);
        for r in &banks {
            for pfn in [r.start, r.end - 1] {
                assert_eq!(mm.page_to_pfn(mm.pfn_to_page(pfn).unwrap()), pfn);
            }
        }
    }

    /// RAM anywhere below 2^48, banks far apart: each bank costs its
    /// descriptors and a root of table, nothing for the distance between
    /// them; lookups both ways work at the top of the range. (The old table
    /// stopped at 512 GiB and refused the whole map.)
    #[test]
    fn ram_far_above_the_first_bank() {
        let far = [
            0..SUB,
            (MAX_PFN / 2)..(MAX_PFN / 2 + SUB),
            (MAX_PFN - SEC + 3 * SUB)..(MAX_PFN - SEC + 4 * SUB),
        ];
        assert_eq!(sections_needed(&far), 3);
        let mm = testing::memmap::<DefaultScheme>(&far);
        assert_eq!(mm.nr_present_sections(), 3);
        assert_eq!(mm.overhead_bytes(), 3 * SUBSECTION_BYTES);
        assert_eq!(mm.table_bytes(), 3 * ROOT_BYTES + CHUNK_BYTES, "one root per bank");
        for r in &far {
            for pfn in [r.start, r.start + 1, r.end - 1] {
                let p = mm.pfn_to_page(pfn).unwrap();
                assert_eq!(mm.page_to_pfn(p), pfn);
            }
            assert!(mm.pfn_to_page(r.end).is_none());
        }
        assert_eq!(mm.present_pages(0..MAX_PFN), 3 * SUB);
        assert!(mm.pfn_to_page(MAX_PFN).is_none());
        assert!(mm.pfn_to_page(usize::MAX).is_none());
        #[cfg(not(miri))]
        assert_eq!(MAX_PFN, 1 << 36, "48-bit physical addresses");
    }

    /// Sections get slots in the order they are added; more than
    /// `MAX_PRESENT_SECTIONS` are refused, whole, with nothing added.
    #[test]
    #[cfg(miri)]
    fn slots_run_out() {
        let all: vec::Vec<_> = (0..MAX_PRESENT_SECTIONS).map(|s| s * SEC..s * SEC + 1).collect();
        let mm = testing::memmap::<DefaultScheme>(&all);
        assert_eq!(mm.nr_present_sections(), MAX_PRESENT_SECTIONS);
        let more = [MAX_PRESENT_SECTIONS * SEC..MAX_PRESENT_SECTIONS * SEC + 1];
        assert_eq!(
            mm.populate(&more, testing::storage(MemMap::<DefaultScheme>::hotplug_pages())),
            Err(MemMapError::TooManySections { wanted: MAX_PRESENT_SECTIONS + 1 })
        );
    }

    /// The same on the host's sizes: only the slot count is checked before
    /// any storage is touched, so a claim of 32769 sections is refused with
    /// no storage at all.
    #[test]
    fn too_many_sections_refused_before_storage() {
        let mm = MemMap::<DefaultScheme>::new();
        let huge = [0..(MAX_PRESENT_SECTIONS + 1) * SEC];
        assert_eq!(
            mm.populate(&huge, testing::storage(0)),
            Err(MemMapError::TooManySections { wanted: MAX_PRESENT_SECTIONS + 1 })
        );
    }

    /// Where RAM must be cut so that one memmap and one zone hold it, and why.
    #[test]
    fn usable_end_pfn_clamps_at_the_first_limit() {
        let max_zone = crate::MAX_ZONE_PAGES;
        assert_eq!(usable_end_pfn(&[0..SEC], max_zone), None);
        assert_eq!(usable_end_pfn(&[], max_zone), None);
        // RAM beyond 2^48.
        assert_eq!(
            usable_end_pfn(&[0..SEC, MAX_PFN - SUB..MAX_PFN + SUB], usize::MAX),
            Some((MAX_PFN, ClampReason::BeyondMaxPfn))
        );
        // 16 TiB from the first pfn, in one zone (not under Miri: its
        // memmap ends far below).
        if max_zone < MAX_PFN {
            assert_eq!(
                usable_end_pfn(&[0..SEC, max_zone..max_zone + SEC], max_zone),
                Some((max_zone, ClampReason::ZoneSpan))
            );
        }
        // A zone of at most 8 pages from the first pfn.
        assert_eq!(usable_end_pfn(&[100..200], 8), Some((108, ClampReason::ZoneSpan)));
        // One section more than there are slots: cut at the start of the
        // first section that finds none.
        let sections = [0..(MAX_PRESENT_SECTIONS + 1) * SEC];
        assert_eq!(
            usable_end_pfn(&sections, usize::MAX),
            Some((MAX_PRESENT_SECTIONS * SEC, ClampReason::TooManySections))
        );
        // Exactly as many as there are: fits.
        assert_eq!(usable_end_pfn(&[0..MAX_PRESENT_SECTIONS * SEC], usize::MAX), None);
    }

    /// Deferred initialisation: nothing is present until its unit is done;
    /// every unit runs once; holes are initialised but never present; the
    /// result is the memmap `populate` would have built.
    #[test]
    fn deferred_init_publishes_each_subsection_once() {
        let banks = [SUB / 2..SUB, 3 * SUB + 7..4 * SUB, SEC..SEC + SUB];
        let mm: &'static MemMap = std::boxed::Box::leak(std::boxed::Box::new(MemMap::new()));
        testing::keep(mm);
        let storage = testing::storage(bytes_needed(&banks) / size_of::<Page>());
        assert_eq!(mm.populate_deferred(&banks, storage), Ok(2));
        assert_eq!(mm.nr_present_subsections(), 0);
        assert!(mm.pfn_to_page(SUB / 2).is_none(), "nothing present before init");
        assert!(!mm.fully_initialised());
        assert_eq!(mm.deferred_units(), 2 * SUBSECTIONS_PER_SECTION);
        let mut published = vec::Vec::new();
        for unit in (0..mm.deferred_units() + 3).rev() {
            if let Some(r) = mm.init_deferred(unit) {
                published.push(r);
            }
        }
        published.sort_by_key(|r| r.start);
        assert_eq!(published, [0..SUB, 3 * SUB..4 * SUB, SEC..SEC + SUB]);
        assert!(mm.fully_initialised());
        for unit in 0..mm.deferred_units() {
            assert_eq!(mm.init_deferred(unit), None, "unit {unit} ran twice");
        }
        assert_eq!(mm.subsections(0), 0b1001);
        for pfn in [0, SUB - 1, 3 * SUB, SEC, SEC + SUB - 1] {
            let p = mm.pfn_to_page(pfn).unwrap();
            assert!(p.flags().is_reserved());
            assert_eq!(mm.page_to_pfn(p), pfn);
        }
        let (_, window) = mm.section_window(0).unwrap();
        assert!(window[SUB].flags().is_reserved(), "an interior hole is initialised");
        assert!(mm.try_page_to_pfn(&window[SUB]).is_none(), "and absent");
    }

    /// Deferred initialisation from several threads at once: each
    /// subsection is written once (its descriptors are found exactly once
    /// among the published ranges) and every one is present at the end.
    #[test]
    #[cfg(not(miri))]
    fn deferred_init_from_many_threads() {
        let banks = [0..3 * SEC + 5 * SUB, 7 * SEC..8 * SEC];
        let mm: &'static MemMap = std::boxed::Box::leak(std::boxed::Box::new(MemMap::new()));
        testing::keep(mm);
        let storage = testing::storage(bytes_needed(&banks) / size_of::<Page>());
        mm.populate_deferred(&banks, storage).unwrap();
        let next = AtomicUsize::new(0);
        let mut all: vec::Vec<Range<usize>> = std::thread::scope(|s| {
            let workers: vec::Vec<_> = (0..4)
                .map(|_| {
                    s.spawn(|| {
                        let mut mine = vec::Vec::new();
                        loop {
                            let unit = next.fetch_add(1, Ordering::Relaxed);
                            if unit >= mm.deferred_units() {
                                return mine;
                            }
                            mine.extend(mm.init_deferred(unit));
                        }
                    })
                })
                .collect();
            workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
        });
        all.sort_by_key(|r| r.start);
        let pages: usize = all.iter().map(|r| r.len()).sum();
        assert_eq!(pages, 3 * SEC + 5 * SUB + SEC);
        assert!(all.windows(2).all(|w| w[0].end <= w[1].start), "a subsection published twice");
        assert!(mm.fully_initialised());
        assert_eq!(mm.present_pages(0..8 * SEC), pages);
    }
}

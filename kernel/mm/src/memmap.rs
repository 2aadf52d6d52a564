//! The sparse memmap: descriptors only where there is RAM.
//!
//! Physical memory is cut into sections of 2^15 pages (128 MiB), and each
//! section into 64 subsections of 2^9 pages (2 MiB; Linux's
//! `SUBSECTION_SHIFT`, `mm/sparse.c` "sub-section hotplug"). Descriptors are
//! paid for per subsection, not per section: a section holds one contiguous
//! descriptor array, its *window*, running from its first to its last
//! subsection that contains usable RAM, so a machine with 48 MiB of RAM pays
//! for 48 MiB of descriptors (0.39%), not for a whole 128 MiB section. A
//! section without RAM costs 24 bytes of table (two null pointers and a zero
//! mask).
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
//! * (cold) the window's first descriptor itself, which claims the section
//!   and gives [`MemMap::section_window`].
//!
//! Subsections inside the window that have no RAM (interior holes of a
//! section) still get initialised descriptors, since the window is contiguous,
//! but are absent for [`MemMap::pfn_to_page`]. A memmap therefore never costs
//! more than one descriptor per page of the sections' windows; leading and
//! trailing holes of a section cost nothing.
//!
//! `MemMap::new()` is `const`, so the kernel can keep a `static MEMMAP:
//! MemMap`, and sections can be added later (hotplug, whole sections only).
//! A descriptor records its section number in its flags
//! (`PageFlags::section`), so `page_to_pfn` is a table lookup plus pointer
//! subtraction, no search.
//!
//! Storage is the caller's: the kernel sizes it with [`MemMap::bytes_needed`],
//! carves it out of usable RAM through its own physical-memory mapping and
//! hands it over as `&'static mut` uninitialised memory. Every descriptor is
//! then written explicitly (FROZEN, `PG_reserved`, section number): nothing
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
use core::mem::{MaybeUninit, size_of};
use core::ops::Range;
use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};

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
/// Bits of the section number kept in `Page` flags. 12 bits = 4096 sections =
/// 512 GiB of physical address space. Raising it costs flag bits (and 24 bytes
/// of table per section); see `page.rs` for the layout.
pub const SECTION_BITS: u32 = 12;
/// Number of section slots: all that `SECTION_BITS` can name.
///
/// Under Miri the table has only 8 slots (64 MiB with Miri's small sections):
/// Miri retags the whole `MemMap` on every `&self` call, once per atomic
/// slot, which with 4096 slots made each `pfn_to_page` take milliseconds.
pub const MAX_SECTIONS: usize = if cfg!(any(miri, loom)) { 8 } else { 1 << SECTION_BITS };
/// First pfn beyond what the memmap can describe.
pub const MAX_PFN: usize = MAX_SECTIONS * PAGES_PER_SECTION;
/// Bytes of descriptors of a whole section (512 KiB).
pub const SECTION_BYTES: usize = PAGES_PER_SECTION * size_of::<Page>();
/// Bytes of descriptors of one subsection (8 KiB): the memmap's granularity.
pub const SUBSECTION_BYTES: usize = PAGES_PER_SUBSECTION * size_of::<Page>();

// Free-list links are u32 pfns with u32::MAX as "none".
const _: () = assert!(MAX_PFN < u32::MAX as usize);
// A max-order block never straddles two sections (tails find their head
// within the same section, merges never cross a section boundary). It may
// span subsections: the allocator only ever holds blocks whose every page has
// a descriptor, and a buddy without one is simply not merged with.
const _: () = assert!(crate::MAX_ORDER < PFN_SECTION_SHIFT);
// One mask bit per subsection.
const _: () = assert!(SUBSECTIONS_PER_SECTION >= 1 && SUBSECTIONS_PER_SECTION <= 64);
const _: () = assert!(PAGES_PER_SECTION.is_multiple_of(PAGES_PER_SUBSECTION));

/// The uninitialised storage for one whole section's descriptors.
pub type SectionStorage = [MaybeUninit<Page>; PAGES_PER_SECTION];

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
}

impl fmt::Display for MemMapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemMapError::PfnOutOfRange(pfn) => write!(f, "pfn {pfn:#x} beyond the memmap's reach"),
            MemMapError::AlreadyPresent(s) => write!(f, "section {s} already present"),
            MemMapError::StorageTooSmall { needed_bytes } => {
                write!(f, "memmap storage too small: {needed_bytes} bytes needed")
            }
        }
    }
}

/// What every lookup of a section reads, in one 16-byte slot (see the module
/// docs): the present-subsection mask and the encoded map.
#[repr(C, align(16))]
struct MemSection {
    /// Present subsections (bit i = pfns `i * PAGES_PER_SUBSECTION..` of the
    /// section). Zero = absent. Stored once with Release after the
    /// descriptors, `map` and the window pointer are written; readers load it
    /// with Acquire before touching any of them.
    present: AtomicU64,
    /// `window base - first index` (wrapping; the same provenance as the
    /// window), so the descriptor of section index `idx` is
    /// `map.wrapping_add(idx)` for every `idx` of a present subsection. Only
    /// meaningful once `present` is non-zero.
    map: AtomicPtr<Page>,
}

/// The table of memmap sections. See the module docs.
///
/// `S` is the refcount scheme the descriptors are counted with: it decides
/// the FROZEN value every descriptor starts with (a reserved page must read as
/// "owned by nobody" in that scheme), and a [`Zone`](crate::Zone) only works
/// on a memmap of its own scheme.
pub struct MemMap<S: RefcountScheme = DefaultScheme> {
    /// Null, or the first descriptor of the section's window (the descriptor
    /// of the first pfn of its lowest present subsection). Claimed once by a
    /// CAS from null; never changed afterwards.
    window_base: [AtomicPtr<Page>; MAX_SECTIONS],
    /// The lookup words of each section (mask and encoded map).
    mem_section: [MemSection; MAX_SECTIONS],
    nr_present: AtomicUsize,
    nr_subsections: AtomicUsize,
    overhead: AtomicUsize,
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
    if mask == 0 {
        return 0;
    }
    let first = mask.trailing_zeros() as usize;
    let last = 63 - mask.leading_zeros() as usize;
    (last - first + 1) * PAGES_PER_SUBSECTION
}

/// The section numbers that intersect `ranges` (pfn ranges), ascending, each
/// once. Ranges may be unsorted or overlap; pfns beyond [`MAX_PFN`] are
/// ignored here (and rejected by [`MemMap::populate`]).
pub fn sections_for(ranges: &[Range<usize>]) -> impl Iterator<Item = usize> + '_ {
    let covered = move |s: usize| {
        let (lo, hi) = (s * PAGES_PER_SECTION, (s + 1) * PAGES_PER_SECTION);
        ranges.iter().any(|r| r.start < r.end && r.start < hi && r.end > lo)
    };
    let nonempty = || ranges.iter().filter(|r| r.start < r.end);
    let first = nonempty().map(|r| r.start >> PFN_SECTION_SHIFT).min().unwrap_or(0);
    let last = nonempty().map(|r| (r.end - 1) >> PFN_SECTION_SHIFT).max().map_or(0, |s| s + 1);
    (first..last.min(MAX_SECTIONS)).filter(move |&s| covered(s))
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

/// Bytes of descriptor storage [`MemMap::populate`] needs for `ranges`:
/// [`SUBSECTION_BYTES`] per subsection of each section's window.
pub fn bytes_needed(ranges: &[Range<usize>]) -> usize {
    pages_needed(ranges) * size_of::<Page>()
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

impl<S: RefcountScheme> MemMap<S> {
    /// An empty memmap (no section present). `const`, for a `static`.
    pub const fn new() -> Self {
        MemMap {
            window_base: [const { AtomicPtr::new(ptr::null_mut()) }; MAX_SECTIONS],
            mem_section: [const {
                MemSection { present: AtomicU64::new(0), map: AtomicPtr::new(ptr::null_mut()) }
            }; MAX_SECTIONS],
            nr_present: AtomicUsize::new(0),
            nr_subsections: AtomicUsize::new(0),
            overhead: AtomicUsize::new(0),
            zone_ids: AtomicU64::new(0),
            _scheme: PhantomData,
        }
    }

    /// Make every subsection that `ranges` touch present, taking the storage
    /// for each section's window, in ascending section order, from `storage`
    /// (at least [`bytes_needed`](Self::bytes_needed) bytes; any rest is
    /// unused). Every descriptor of a window is initialised FROZEN +
    /// `PG_reserved`. Returns the number of sections added.
    ///
    /// # Errors
    /// [`MemMapError::PfnOutOfRange`] for a pfn at or beyond [`MAX_PFN`],
    /// [`MemMapError::StorageTooSmall`], [`MemMapError::AlreadyPresent`] if a
    /// touched section already has descriptors. Nothing is added on error.
    pub fn populate(
        &self,
        ranges: &[Range<usize>],
        storage: &'static mut [MaybeUninit<Page>],
    ) -> Result<usize, MemMapError> {
        if let Some(r) = ranges.iter().find(|r| r.start < r.end && r.end > MAX_PFN) {
            return Err(MemMapError::PfnOutOfRange(r.end - 1));
        }
        let needed = pages_needed(ranges);
        if storage.len() < needed {
            return Err(MemMapError::StorageTooSmall { needed_bytes: needed * size_of::<Page>() });
        }
        if let Some(s) = sections_for(ranges).find(|&s| self.mask(s) != 0) {
            return Err(MemMapError::AlreadyPresent(s));
        }
        let mut rest = storage;
        let mut added = 0;
        for s in sections_for(ranges) {
            let mask = subsection_mask(ranges, s);
            let (chunk, tail) = rest.split_at_mut(window_pages(mask));
            rest = tail;
            self.add_subsections(s, mask, chunk)?;
            added += 1;
        }
        Ok(added)
    }

    /// Make section `nr` present with `storage`, all of its subsections,
    /// initialising every descriptor (`S::FROZEN` refcount, `PG_reserved`,
    /// section number).
    ///
    /// # Errors
    /// [`MemMapError::PfnOutOfRange`] for `nr >= MAX_SECTIONS`,
    /// [`MemMapError::AlreadyPresent`] if the section has descriptors.
    pub fn add_section(
        &self,
        nr: usize,
        storage: &'static mut SectionStorage,
    ) -> Result<&'static [Page], MemMapError> {
        let full = if SUBSECTIONS_PER_SECTION == 64 {
            u64::MAX
        } else {
            (1u64 << SUBSECTIONS_PER_SECTION) - 1
        };
        self.add_subsections(nr, full, storage)
    }

    /// Make the subsections `mask` of section `nr` present (Linux's
    /// `section_activate` for a subsection map). `storage` must hold at least
    /// [`window_pages`]`(mask)` descriptors: the window from the lowest to the
    /// highest bit of `mask`; all of them are initialised. Returns the window.
    ///
    /// # Errors
    /// [`MemMapError::PfnOutOfRange`] for `nr >= MAX_SECTIONS`,
    /// [`MemMapError::AlreadyPresent`] if the section already has descriptors,
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
        if self.mask(nr) != 0 {
            return Err(MemMapError::AlreadyPresent(nr));
        }
        let len = window_pages(mask);
        if storage.len() < len {
            return Err(MemMapError::StorageTooSmall { needed_bytes: len * size_of::<Page>() });
        }
        let storage = &mut storage[..len];
        let flags = PageFlags::new_reserved(nr);
        for slot in storage.iter_mut() {
            let page = slot.write(Page::new(S::FROZEN));
            page.set_flags(flags);
        }
        let base = storage.as_mut_ptr().cast::<Page>();
        // SAFETY: `base` points to `len` contiguous descriptors, all written
        // by the loop above; `storage` was borrowed mutably for 'static and is
        // not used again, so sharing it immutably for 'static is sound.
        let pages: &'static [Page] = unsafe { core::slice::from_raw_parts(base, len) };
        // The CAS claims the section: a racing add of the same section fails
        // instead of replacing live descriptors. Relaxed is enough because
        // nobody reads the pointer before the mask below is published.
        self.window_base[nr]
            .compare_exchange(
                ptr::null_mut(),
                pages.as_ptr().cast_mut(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            )
            .map_err(|_| MemMapError::AlreadyPresent(nr))?;
        // The encoded map: index 0 of the section, as if the window started
        // there. Wrapping: it may point before the window (out of bounds);
        // every lookup adds back an index of a present subsection, which
        // lands inside the window.
        let first = mask.trailing_zeros() as usize * PAGES_PER_SUBSECTION;
        let entry = &self.mem_section[nr];
        entry.map.store(pages.as_ptr().cast_mut().wrapping_sub(first), Ordering::Relaxed);
        // Release: a reader that loads the mask (Acquire) sees both pointers
        // and the initialised descriptors.
        entry.present.store(mask, Ordering::Release);
        self.nr_present.fetch_add(1, Ordering::Relaxed);
        self.nr_subsections.fetch_add(mask.count_ones() as usize, Ordering::Relaxed);
        self.overhead.fetch_add(len * size_of::<Page>(), Ordering::Relaxed);
        Ok(pages)
    }

    /// Present-subsection mask of section `nr` (0 if absent or out of range).
    #[inline]
    fn mask(&self, nr: usize) -> u64 {
        if nr >= MAX_SECTIONS {
            return 0;
        }
        // Array indexing, not `.get()`: no reference to the whole table is
        // created (which Miri would retag on every lookup).
        self.mem_section[nr].present.load(Ordering::Acquire)
    }

    /// The present subsections of section `nr` (bit i = pfns from
    /// `nr * PAGES_PER_SECTION + i * PAGES_PER_SUBSECTION`, 2 MiB each);
    /// 0 if the section is absent or `nr >= MAX_SECTIONS`.
    pub fn subsections(&self, nr: usize) -> u64 {
        self.mask(nr)
    }

    /// The window of section `nr`: the pfn of its first descriptor and the
    /// descriptors (including those of interior subsections without RAM,
    /// which [`pfn_to_page`](Self::pfn_to_page) does not hand out), if present.
    pub fn section_window(&self, nr: usize) -> Option<(usize, &'static [Page])> {
        let mask = self.mask(nr);
        if mask == 0 {
            return None;
        }
        let base = self.window_base[nr].load(Ordering::Relaxed);
        let first = mask.trailing_zeros() as usize * PAGES_PER_SUBSECTION;
        // SAFETY: a non-zero mask was published (Release, paired with our
        // Acquire in `mask`) after `add_subsections` stored `base`, the first
        // of `window_pages(mask)` initialised descriptors that live for
        // 'static.
        let pages = unsafe { core::slice::from_raw_parts(base.cast_const(), window_pages(mask)) };
        Some((nr * PAGES_PER_SECTION + first, pages))
    }

    /// Pages of `span` (pfns) that have descriptors now: the present
    /// subsections' pages inside it, counted from the sections' masks (one
    /// load per section of the span). Pfns at or beyond [`MAX_PFN`] count as
    /// absent. Sections added later (hotplug) count from then on.
    pub fn present_pages(&self, span: Range<usize>) -> usize {
        let (start, end) = (span.start, span.end.min(MAX_PFN));
        if start >= end {
            return 0;
        }
        let mut present = 0;
        for nr in start >> PFN_SECTION_SHIFT..=(end - 1) >> PFN_SECTION_SHIFT {
            let mut mask = self.mask(nr);
            while mask != 0 {
                let i = mask.trailing_zeros() as usize;
                mask &= mask - 1;
                // Both ends are below MAX_PFN: no overflow.
                let lo = nr * PAGES_PER_SECTION + i * PAGES_PER_SUBSECTION;
                let hi = lo + PAGES_PER_SUBSECTION;
                present += hi.min(end).saturating_sub(lo.max(start));
            }
        }
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

    /// Number of present sections.
    pub fn nr_present_sections(&self) -> usize {
        self.nr_present.load(Ordering::Relaxed)
    }

    /// Number of present subsections (2 MiB each).
    pub fn nr_present_subsections(&self) -> usize {
        self.nr_subsections.load(Ordering::Relaxed)
    }

    /// Bytes of descriptors in use: the sum of the sections' windows.
    pub fn overhead_bytes(&self) -> usize {
        self.overhead.load(Ordering::Relaxed)
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
        if self.mask(nr) & want != want {
            return None;
        }
        // Relaxed: ordered by the mask's Acquire (see `MemSection`).
        let map = self.mem_section[nr].map.load(Ordering::Relaxed);
        // SAFETY: the mask was published (Release, paired with the Acquire in
        // `mask`) after `map` was stored. Every subsection of the block is in
        // the mask, so with `first` the window's first index, first <= idx
        // and idx + n <= first + window_pages(mask): `map + idx` is
        // `window base + (idx - first)`, inside the window. (`wrapping_add`,
        // not `add`: `map` itself may lie before the window, out of bounds;
        // wrapping arithmetic keeps the window's provenance and lands back
        // inside it.)
        // and the n descriptors from there are initialised and 'static. The
        // slice spans only the block, not the window: Miri retags n
        // descriptors per lookup.
        Some(unsafe { core::slice::from_raw_parts(map.wrapping_add(idx).cast_const(), n) })
    }

    /// The pfn of `page`, or `None` if it is not a descriptor of this memmap
    /// handed out by [`pfn_to_page`](Self::pfn_to_page).
    #[inline]
    pub fn try_page_to_pfn(&self, page: &Page) -> Option<usize> {
        let nr = page.flags().section();
        let mask = self.mask(nr);
        if mask == 0 {
            return None;
        }
        // Relaxed: ordered by the mask's Acquire (see `MemSection`).
        let map = self.mem_section[nr].map.load(Ordering::Relaxed);
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
            Some((nr << PFN_SECTION_SHIFT) | idx)
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
            && let Some(head) = self.pfn_to_page(page.tail_head_pfn() as usize)
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
        let storage: &'static mut [MaybeUninit<Page>] =
            vec::Vec::from_iter((0..SUB + 1).map(|_| MaybeUninit::uninit())).leak();
        let (below, window) = storage.split_at_mut(1);
        let stray = below[0].write(Page::new(DefaultScheme::FROZEN));
        stray.set_flags(PageFlags::new_reserved(1));
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
        assert_eq!(MemMap::bytes_needed(&r), 2 * SECTION_BYTES + SUBSECTION_BYTES);
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
            assert_eq!(p.flags().section(), 1);
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
            MemMapError::StorageTooSmall { needed_bytes: SUBSECTION_BYTES }
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
        assert_eq!(MemMap::bytes_needed(&across), 2 * SUBSECTION_BYTES);
        let whole = [0..SEC];
        assert_eq!(subsection_mask(&whole, 0).count_ones() as usize, SUBSECTIONS_PER_SECTION);
        assert_eq!(MemMap::bytes_needed(&whole), SECTION_BYTES);
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
        assert_eq!(MemMap::bytes_needed(&ranges), 48 * 4096);
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
            assert_eq!(p.flags().section(), 1);
            assert_eq!(mm.page_to_pfn(p), pfn);
        }
    }

    #[test]
    fn populate_uses_exactly_bytes_needed() {
        let banks = [0..SUB + 1, SEC + SUB..SEC + 2 * SUB, 3 * SEC - 1..3 * SEC];
        let pages = MemMap::bytes_needed(&banks) / size_of::<Page>();
        assert_eq!(pages, 2 * SUB + SUB + SUB);
        let mm: &'static MemMap = std::boxed::Box::leak(std::boxed::Box::new(MemMap::new()));
        testing::keep(mm);
        let short: &'static mut [MaybeUninit<Page>] =
            std::boxed::Box::leak(std::boxed::Box::new_uninit_slice(pages - 1));
        testing::keep(short as *const [MaybeUninit<Page>]);
        assert_eq!(
            mm.populate(&banks, short).unwrap_err(),
            MemMapError::StorageTooSmall { needed_bytes: pages * size_of::<Page>() }
        );
        let exact: &'static mut [MaybeUninit<Page>] =
            std::boxed::Box::leak(std::boxed::Box::new_uninit_slice(pages));
        testing::keep(exact as *const [MaybeUninit<Page>]);
        assert_eq!(mm.populate(&banks, exact), Ok(3));
        assert_eq!(mm.nr_present_subsections(), 4);
        assert_eq!(mm.overhead_bytes(), pages * size_of::<Page>());
        for r in &banks {
            for pfn in [r.start, r.end - 1] {
                assert_eq!(mm.page_to_pfn(mm.pfn_to_page(pfn).unwrap()), pfn);
            }
        }
    }
}

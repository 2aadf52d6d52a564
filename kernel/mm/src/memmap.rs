//! The sparse memmap: descriptors only where there is RAM.
//!
//! Physical memory is cut into sections of 2^15 pages (128 MiB). A section
//! that contains any usable RAM gets a descriptor array (512 KiB, 0.39% of the
//! section); a section without RAM costs one null pointer. So a machine with
//! RAM at 0-3 GiB and 4-5 GiB pays for 4 GiB of descriptors, not for one array
//! up to the highest address.
//!
//! The table of sections is a fixed array of atomic pointers (Linux's
//! `mem_section[]`): `MemMap::new()` is `const`, so the kernel can keep a
//! `static MEMMAP: MemMap`, and sections can be added later (hotplug). A
//! descriptor records its section number in its flags
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
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

/// log2 of pages per section: 15 (128 MiB sections).
///
/// Under Miri sections shrink to 2^11 pages (8 MiB, still twice a max-order
/// block): every descriptor of a section is initialised eagerly, and
/// interpreting 32768 initialisations per test memmap would take minutes. The
/// code is otherwise identical.
pub const PFN_SECTION_SHIFT: usize = if cfg!(miri) { 11 } else { 15 };
/// Pages per section: 2^15 = 128 MiB of RAM (2^11 under Miri).
pub const PAGES_PER_SECTION: usize = 1 << PFN_SECTION_SHIFT;
/// Bits of the section number kept in `Page` flags. 12 bits = 4096 sections =
/// 512 GiB of physical address space. Raising it costs flag bits (and 8 bytes
/// of table per section); see `page.rs` for the layout.
pub const SECTION_BITS: u32 = 12;
/// Number of section slots: all that `SECTION_BITS` can name.
///
/// Under Miri the table has only 8 slots (64 MiB with Miri's small sections):
/// Miri retags the whole `MemMap` on every `&self` call, once per atomic
/// slot, which with 4096 slots made each `pfn_to_page` take milliseconds.
pub const MAX_SECTIONS: usize = if cfg!(miri) { 8 } else { 1 << SECTION_BITS };
/// First pfn beyond what the memmap can describe.
pub const MAX_PFN: usize = MAX_SECTIONS * PAGES_PER_SECTION;
/// Bytes of descriptors per present section (512 KiB).
pub const SECTION_BYTES: usize = PAGES_PER_SECTION * size_of::<Page>();

// Free-list links are u32 pfns with u32::MAX as "none".
const _: () = assert!(MAX_PFN < u32::MAX as usize);
// A max-order block never straddles two sections (tails find their head
// within the same section, merges never cross a section boundary).
const _: () = assert!(crate::MAX_ORDER < PFN_SECTION_SHIFT);

/// The uninitialised storage for one section's descriptors.
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

/// The table of memmap sections. See the module docs.
///
/// `S` is the refcount scheme the descriptors are counted with: it decides
/// the FROZEN value every descriptor starts with (a reserved page must read as
/// "owned by nobody" in that scheme), and a [`Zone`](crate::Zone) only works
/// on a memmap of its own scheme.
pub struct MemMap<S: RefcountScheme = DefaultScheme> {
    /// Null, or the first of `PAGES_PER_SECTION` initialised descriptors that
    /// live for `'static`. Published once with Release.
    sections: [AtomicPtr<Page>; MAX_SECTIONS],
    nr_present: AtomicUsize,
    _scheme: PhantomData<fn() -> S>,
}

impl<S: RefcountScheme> Default for MemMap<S> {
    fn default() -> Self {
        Self::new()
    }
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

/// Bytes of descriptor storage [`MemMap::populate`] needs for `ranges`: one
/// [`SECTION_BYTES`] chunk per section touched.
pub fn bytes_needed(ranges: &[Range<usize>]) -> usize {
    sections_needed(ranges) * SECTION_BYTES
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
            sections: [const { AtomicPtr::new(ptr::null_mut()) }; MAX_SECTIONS],
            nr_present: AtomicUsize::new(0),
            _scheme: PhantomData,
        }
    }

    /// Make every section that `ranges` touch present, taking the storage for
    /// them, in ascending section order, from `storage` (at least
    /// [`bytes_needed`](Self::bytes_needed) bytes; any rest is unused). Every
    /// descriptor is initialised FROZEN + `PG_reserved`. Returns the number of
    /// sections added.
    pub fn populate(
        &self,
        ranges: &[Range<usize>],
        storage: &'static mut [MaybeUninit<Page>],
    ) -> Result<usize, MemMapError> {
        if let Some(r) = ranges.iter().find(|r| r.start < r.end && r.end > MAX_PFN) {
            return Err(MemMapError::PfnOutOfRange(r.end - 1));
        }
        let needed = sections_needed(ranges);
        if storage.len() < needed * PAGES_PER_SECTION {
            return Err(MemMapError::StorageTooSmall { needed_bytes: needed * SECTION_BYTES });
        }
        if let Some(s) = sections_for(ranges).find(|&s| self.section_base(s).is_some()) {
            return Err(MemMapError::AlreadyPresent(s));
        }
        let mut rest = storage;
        for s in sections_for(ranges) {
            let (chunk, tail) = rest.split_at_mut(PAGES_PER_SECTION);
            rest = tail;
            let chunk: &'static mut SectionStorage =
                chunk.try_into().expect("split_at_mut gave PAGES_PER_SECTION");
            self.add_section(s, chunk)?;
        }
        Ok(needed)
    }

    /// Make section `nr` present with `storage`, initialising every descriptor
    /// (`S::FROZEN` refcount, `PG_reserved`, section number).
    pub fn add_section(
        &self,
        nr: usize,
        storage: &'static mut SectionStorage,
    ) -> Result<&'static [Page], MemMapError> {
        if nr >= MAX_SECTIONS {
            return Err(MemMapError::PfnOutOfRange(nr * PAGES_PER_SECTION));
        }
        if self.section_base(nr).is_some() {
            return Err(MemMapError::AlreadyPresent(nr));
        }
        let flags = PageFlags::new_reserved(nr);
        for slot in storage.iter_mut() {
            let page = slot.write(Page::new(S::FROZEN));
            page.set_flags(flags);
        }
        let len = storage.len();
        let base = storage.as_mut_ptr().cast::<Page>();
        // SAFETY: `base` points to `len` contiguous descriptors, all written
        // by the loop above; `storage` was borrowed mutably for 'static and is
        // not used again, so sharing it immutably for 'static is sound.
        let pages: &'static [Page] = unsafe { core::slice::from_raw_parts(base, len) };
        // Release: a reader that loads this pointer (Acquire) sees the
        // initialised descriptors. The CAS makes a racing add of the same
        // section fail instead of replacing live descriptors.
        self.sections[nr]
            .compare_exchange(
                ptr::null_mut(),
                pages.as_ptr().cast_mut(),
                Ordering::Release,
                Ordering::Relaxed,
            )
            .map_err(|_| MemMapError::AlreadyPresent(nr))?;
        self.nr_present.fetch_add(1, Ordering::Relaxed);
        Ok(pages)
    }

    /// The descriptors of section `nr`, if present.
    pub fn section(&self, nr: usize) -> Option<&'static [Page]> {
        let base = self.section_base(nr)?;
        // SAFETY: see `section_base`: `base` starts PAGES_PER_SECTION
        // initialised descriptors that live for 'static.
        Some(unsafe { core::slice::from_raw_parts(base, PAGES_PER_SECTION) })
    }

    /// The first descriptor of section `nr`, or `None` if absent. A non-null
    /// slot was published by `add_section` from a `&'static [Page]` of exactly
    /// PAGES_PER_SECTION initialised descriptors (our Acquire pairs with its
    /// Release) and is never unpublished.
    #[inline]
    fn section_base(&self, nr: usize) -> Option<*const Page> {
        if nr >= MAX_SECTIONS {
            return None;
        }
        // Array indexing, not `.get()`: no reference to the whole table is
        // created (which Miri would retag on every lookup).
        let base = self.sections[nr].load(Ordering::Acquire);
        (!base.is_null()).then_some(base.cast_const())
    }
    /// Number of present sections.
    pub fn nr_present_sections(&self) -> usize {
        self.nr_present.load(Ordering::Relaxed)
    }

    /// Bytes of descriptors in use (`nr_present_sections * SECTION_BYTES`).
    pub fn overhead_bytes(&self) -> usize {
        self.nr_present_sections() * SECTION_BYTES
    }

    /// The descriptor of `pfn`, or `None` if its section is absent.
    #[inline]
    pub fn pfn_to_page(&self, pfn: usize) -> Option<&'static Page> {
        let base = self.section_base(pfn >> PFN_SECTION_SHIFT)?;
        let idx = pfn & (PAGES_PER_SECTION - 1);
        // SAFETY: `base` starts PAGES_PER_SECTION initialised 'static
        // descriptors (see `section_base`) and idx < PAGES_PER_SECTION. (A
        // pointer, not a slice index: borrowing the whole section for every
        // lookup makes Miri retag 512 KiB each time.)
        Some(unsafe { &*base.add(idx) })
    }

    /// The pfn of `page`, or `None` if it is not a descriptor of this memmap.
    #[inline]
    pub fn try_page_to_pfn(&self, page: &Page) -> Option<usize> {
        let nr = page.flags().section();
        let base = self.section_base(nr)?;
        let offset = (page as *const Page).addr().wrapping_sub(base.addr());
        let idx = offset / size_of::<Page>();
        // The exact address must match: a standalone `Page` or one of another
        // memmap must not be mistaken for ours.
        if idx < PAGES_PER_SECTION && offset % size_of::<Page>() == 0 {
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
        assert_eq!(MemMap::bytes_needed(&r), 3 * SECTION_BYTES);
        assert_eq!(MemMap::sections_needed(&[]), 0);
        #[cfg(not(miri))]
        assert_eq!(SECTION_BYTES, 512 * 1024);
    }

    #[test]
    fn populate_initialises_every_descriptor() {
        let mm = testing::memmap::<DefaultScheme>(&[SEC + 100..SEC + 200]);
        assert_eq!(mm.nr_present_sections(), 1);
        assert!(mm.pfn_to_page(0).is_none());
        assert!(mm.pfn_to_page(2 * SEC).is_none());
        for pfn in [SEC, SEC + 150, 2 * SEC - 1] {
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
            MemMapError::StorageTooSmall { needed_bytes: SECTION_BYTES }
        );
        let empty: &'static mut [MaybeUninit<Page>] = &mut [];
        assert_eq!(
            MemMap::<DefaultScheme>::new().populate(&[0..MAX_PFN + 1], empty).unwrap_err(),
            MemMapError::PfnOutOfRange(MAX_PFN)
        );
    }
}

//! The buddy allocator: one [`Zone`] per physical range.
//!
//! `free_area[order]` (order `0..=MAX_ORDER`) holds doubly linked lists of
//! free blocks of 2^order pages, naturally aligned. Allocation takes the
//! smallest free block that fits and splits it, giving the upper halves back
//! (`take_block` in `free_area.rs`); freeing merges a block with its buddy (`pfn ^ (1 << order)`)
//! as long as the buddy is a free block of the same order inside the zone
//! span. Free blocks are marked `PG_buddy` + order on their head page; list
//! links are pfns stored in the descriptors.
//!
//! Blocks of order > 0 are handed out compound: the head carries `PG_head`,
//! the order and the refcount; tails carry `PG_tail` and the head's pfn, and
//! refcount operations through the zone resolve them to the head.
//!
//! Every page in the allocator (free, or allocated frozen) has a FROZEN
//! refcount; the allocator never clears the frozen bit (a 0 could be revived
//! by a stale speculative get). Only `alloc_pages`/`init_page_count` turns a
//! block into a counted one, and the last `put_page` freezes it again before
//! `free_frozen_pages` takes it back.
//!
//! All free-list state is protected by the zone lock. It is a plain
//! test-and-set spinlock, not a fair ticket lock: with more vCPUs than host
//! cores, a preempted next-in-line waiter of a ticket lock stalls every CPU
//! behind it for a host time slice (docs/decisions/zone-lock-test-and-set.md).
//! The per-CPU lists (`pcp.rs`) keep most traffic off this lock anyway.
//!
//! Per-CPU page lists (Linux's pcp, `pcp.rs`) sit in front of the zone lock
//! for orders up to [`PCP_MAX_ORDER`]: `*_pcp` allocation pops from the
//! caller's CPU list (refilled in batches under one zone-lock acquisition),
//! `*_pcp` frees push onto it after the same checks the zone path runs.
//!
//! Page states (see `page.rs`) are changed by compare-exchange wherever two
//! paths could race (zone free vs per-CPU free vs quarantine), so a free
//! proves the block is allocated before linking it anywhere, whatever lock the
//! path holds.
//!
//! Zones may have overlapping spans (Linux's ZONE_MOVABLE): every page the
//! zone manages carries the zone's id in its flags, and the zone merges with,
//! frees and quarantines only pages with its own id. Ids are unique among
//! the live zones of a memmap (at most 63 at a time, [`ZoneError::NoZoneId`]
//! beyond): the memmap hands out the lowest free one, and a dropped zone
//! gives it back after returning its pages to `PG_reserved`.
//!
//! When the zone has no block to give, an allocation drains every per-CPU
//! list back into it and tries once more before failing (Linux drains on its
//! slow path), for every order.
//!
//! Misuse is detected in every build: see [`BadPage`].

mod alloc;
mod bad_page;
mod buddyinfo;
mod free;
mod free_area;
mod pcp;

pub use bad_page::{BadPage, BadPageReason};
pub use buddyinfo::{BuddyInfo, ZoneStats};
pub use pcp::{NR_CPUS, PCP_BATCH, PCP_HIGH, PCP_MAX_ORDER};

use crate::memmap::{MAX_PFN, MemMap, PAGES_PER_SECTION};
use crate::page::{NONE, Page, PageFlags};
use crate::refcount::{DefaultScheme, RefcountScheme};
use crate::sync::SpinLock;
use crate::{MAX_ORDER, NR_ORDERS};
use core::fmt;
use core::marker::PhantomData;
use core::ops::Range;
use free_area::ZoneInner;

/// A buddy-allocator zone over a pfn span of a [`MemMap`].
///
/// `S` is the refcount scheme (default: the build's). `Zone` is `Sync`: keep
/// it in a `static` through e.g. `spin::Once<Zone<'static>>`.
pub struct Zone<'m, S: RefcountScheme = DefaultScheme> {
    name: &'static str,
    /// The id stamped into the flags of every page the zone manages
    /// (`1..=PageFlags::ZONE_ID_MAX`), unique among the live zones of the
    /// memmap (`MemMap::claim_zone_id`), given back on drop.
    id: u32,
    memmap: &'m MemMap<S>,
    start_pfn: usize,
    end_pfn: usize,
    /// CPU indexes whose per-CPU lists are in use (`0..=NR_CPUS`, default
    /// `NR_CPUS`; [`set_nr_cpus`](Self::set_nr_cpus)): higher indexes go to
    /// the zone directly, and drains and sums visit only these lists, so a
    /// 4-CPU machine does not pay for 512 slots on the slow path. A plain
    /// core atomic, not `crate::sync`'s: it only picks between two correct
    /// paths and is not part of the page-state protocol loom models.
    nr_cpus: core::sync::atomic::AtomicUsize,
    inner: SpinLock<ZoneInner>,
    /// Per-CPU page lists, indexed by the caller's CPU index; only the first
    /// `nr_cpus` are ever used.
    pcp: [pcp::PcpLock; pcp::NR_CPUS],
    _scheme: PhantomData<fn() -> S>,
}

/// Why `free_memory_range` refused a range (nothing was handed over).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemRangeError {
    /// The pfn is outside the zone span (or the range is reversed).
    OutsideZone(usize),
    /// The pfn has no memmap descriptor (its section is absent).
    NoMemmap(usize),
    /// The page is not `PG_reserved`: already managed by a zone, or its
    /// descriptor was never initialised (zero-filled memory).
    NotReserved(usize),
}

impl fmt::Display for MemRangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemRangeError::OutsideZone(p) => write!(f, "pfn {p:#x} outside the zone"),
            MemRangeError::NoMemmap(p) => write!(f, "pfn {p:#x} has no memmap section"),
            MemRangeError::NotReserved(p) => write!(f, "pfn {p:#x} is not reserved"),
        }
    }
}

/// Why [`Zone::try_new`] refused to create a zone (nothing was created).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZoneError {
    /// The span's end (a pfn) is below its start.
    ReversedSpan {
        /// First pfn of the span asked for.
        start: usize,
        /// End (exclusive) of the span asked for.
        end: usize,
    },
    /// The span ends beyond [`MAX_PFN`], the first pfn the memmap cannot
    /// describe.
    SpanBeyondMemMap {
        /// End (exclusive pfn) of the span asked for.
        end: usize,
    },
    /// The span has more than [`MAX_ZONE_PAGES`] pages: free-list links are
    /// 32-bit offsets into the span.
    SpanTooLarge {
        /// Pages of the span asked for.
        pages: usize,
    },
    /// Every zone id (`1..=63`) is held by a live zone on this memmap: a
    /// memmap carries at most 63 zones at a time (ids come back when zones
    /// are dropped).
    NoZoneId,
}

impl fmt::Display for ZoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ZoneError::ReversedSpan { start, end } => {
                write!(f, "reversed zone span {start:#x}..{end:#x}")
            }
            ZoneError::SpanBeyondMemMap { end } => {
                write!(
                    f,
                    "zone span ends at pfn {end:#x}, beyond the memmap's reach ({MAX_PFN:#x})"
                )
            }
            ZoneError::SpanTooLarge { pages } => {
                write!(f, "zone span of {pages:#x} pages, more than a zone's {MAX_ZONE_PAGES:#x}")
            }
            ZoneError::NoZoneId => write!(
                f,
                "all {} zone ids of the memmap are held by live zones",
                PageFlags::ZONE_ID_MAX
            ),
        }
    }
}

impl<'m, S: RefcountScheme> Zone<'m, S> {
    /// A zone over `span` (pfns) of `memmap` with no free memory yet: hand
    /// memory over with [`free_memory_range`](Self::free_memory_range).
    /// All [`NR_CPUS`] per-CPU lists are in use until
    /// [`set_nr_cpus`](Self::set_nr_cpus) says how many CPUs there are.
    /// Spans of zones on one memmap may overlap; each page belongs to the zone
    /// it was handed to. The zone takes the lowest id no live zone on
    /// `memmap` holds (see [`id`](Self::id)) and gives it back when dropped.
    ///
    /// # Errors
    /// [`ZoneError::ReversedSpan`] if `span.end < span.start`,
    /// [`ZoneError::SpanBeyondMemMap`] if `span.end > MAX_PFN`,
    /// [`ZoneError::SpanTooLarge`] for more than [`MAX_ZONE_PAGES`] pages,
    /// [`ZoneError::NoZoneId`] if 63 zones on `memmap` are alive.
    pub fn try_new(
        name: &'static str,
        memmap: &'m MemMap<S>,
        span: Range<usize>,
    ) -> Result<Self, ZoneError> {
        if span.end < span.start {
            return Err(ZoneError::ReversedSpan { start: span.start, end: span.end });
        }
        if span.end > MAX_PFN {
            return Err(ZoneError::SpanBeyondMemMap { end: span.end });
        }
        if span.len() > MAX_ZONE_PAGES {
            return Err(ZoneError::SpanTooLarge { pages: span.len() });
        }
        let id = memmap.claim_zone_id().ok_or(ZoneError::NoZoneId)?;
        Ok(Zone {
            name,
            id,
            memmap,
            start_pfn: span.start,
            end_pfn: span.end,
            nr_cpus: core::sync::atomic::AtomicUsize::new(pcp::NR_CPUS),
            inner: SpinLock::new(ZoneInner::new()),
            #[cfg(not(loom))]
            pcp: [const { pcp::PcpLock::new(pcp::PerCpuPages::new()) }; pcp::NR_CPUS],
            #[cfg(loom)]
            pcp: core::array::from_fn(|_| pcp::PcpLock::new(pcp::PerCpuPages::new())),
            _scheme: PhantomData,
        })
    }

    /// [`try_new`](Self::try_new) for spans and memmaps known to be good
    /// (boot: one zone over the RAM the memmap was built for).
    ///
    /// # Panics
    /// Where `try_new` returns an error, with that error's message.
    pub fn new(name: &'static str, memmap: &'m MemMap<S>, span: Range<usize>) -> Self {
        match Self::try_new(name, memmap, span) {
            Ok(zone) => zone,
            Err(e) => panic!("{e}"),
        }
    }

    /// The zone's name (`"Normal"`, ...).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The pfn span.
    pub fn span(&self) -> Range<usize> {
        self.start_pfn..self.end_pfn
    }

    /// The memmap the zone's descriptors live in.
    pub fn memmap(&self) -> &'m MemMap<S> {
        self.memmap
    }

    /// `memmap().pfn_to_page(pfn)`.
    pub fn pfn_to_page(&self, pfn: usize) -> Option<&'m Page> {
        self.memmap.pfn_to_page(pfn)
    }

    /// `memmap().page_to_pfn(page)`.
    pub fn page_to_pfn(&self, page: &Page) -> usize {
        self.memmap.page_to_pfn(page)
    }

    /// Hand the pages `start..end` to the allocator (Linux
    /// `__free_pages_core` / memblock release): each page must be present and
    /// still `PG_reserved` as the memmap initialised it. They are cut into the
    /// largest naturally aligned blocks, refcounts reset to exactly FROZEN,
    /// and freed (merging with neighbours already free). Returns the
    /// number of pages added. Boot/hotplug time; not to be called concurrently
    /// for overlapping ranges.
    pub fn free_memory_range(&self, start: usize, end: usize) -> Result<usize, MemRangeError> {
        if start > end || start < self.start_pfn {
            return Err(MemRangeError::OutsideZone(start));
        }
        if end > self.end_pfn {
            return Err(MemRangeError::OutsideZone(self.end_pfn));
        }
        // Check everything first so a refused range changes nothing.
        for pfn in start..end {
            let page = self.memmap.pfn_to_page(pfn).ok_or(MemRangeError::NoMemmap(pfn))?;
            if !page.flags().is_reserved() {
                return Err(MemRangeError::NotReserved(pfn));
            }
        }
        let mut pfn = start;
        while pfn < end {
            let mut order = (pfn.trailing_zeros() as usize).min(MAX_ORDER);
            while pfn + (1 << order) > end {
                order -= 1;
            }
            // Reserved -> inside a (soon) free block of this zone. The
            // block is this call's alone until `free_one` links it (no list
            // holds it; a merge takes only a PG_buddy head of this zone, a
            // stray free of one of its pages is reported as a double free),
            // so its descriptors are written before the lock is taken, and
            // CPUs handing over RAM at once (the deferred memmap set-up) do
            // not queue on the lock for them; the lock's release publishes
            // them with the block.
            let block = self.block(pfn, order);
            for page in block {
                page.set_flags(page.flags().with_zone(self.id));
                page.set_next(NONE);
                page.set_prev(NONE);
                S::set_frozen(page.refcount());
            }
            let mut z = self.inner.lock();
            z.managed += 1 << order;
            self.free_one(&mut z, pfn, &block[0], order);
            drop(z);
            pfn += 1 << order;
        }
        Ok(end - start)
    }

    /// Pages on the free lists.
    pub fn nr_free_pages(&self) -> usize {
        self.inner.lock().free
    }

    /// Free blocks of `order`.
    pub fn nr_free(&self, order: usize) -> usize {
        self.inner.lock().free_area[order].nr_free
    }

    /// Pages handed to the allocator.
    pub fn managed_pages(&self) -> usize {
        self.inner.lock().managed
    }

    /// Number of bad-page reports so far.
    pub fn bad_page_count(&self) -> usize {
        self.inner.lock().bad_pages
    }

    /// Managed pages leaked on purpose after bad-page reports.
    pub fn quarantined_pages(&self) -> usize {
        self.inner.lock().quarantined
    }

    /// The most recent bad-page report.
    pub fn last_bad_page(&self) -> Option<BadPage> {
        self.inner.lock().last_bad
    }

    /// All counters in one snapshot, in pages. `present` is counted from
    /// the memmap now (sections added after `new`, by hotplug, count).
    pub fn stats(&self) -> ZoneStats {
        let z = self.inner.lock();
        // Counted under the zone lock: every managed page was checked
        // present (`free_memory_range`) before it was counted under this
        // lock, and sections are never removed, so present >= managed.
        let present = self.memmap.present_pages(self.span());
        ZoneStats {
            spanned: self.end_pfn - self.start_pfn,
            present,
            managed: z.managed,
            free: z.free,
            reserved: present - z.managed,
            quarantined: z.quarantined,
            bad_pages: z.bad_pages,
            nr_free: core::array::from_fn(|o| z.free_area[o].nr_free),
        }
    }

    /// A `/proc/buddyinfo` line for this zone (format it with `{}`).
    pub fn buddyinfo(&self) -> BuddyInfo {
        let z = self.inner.lock();
        BuddyInfo {
            node: 0,
            name: self.name,
            nr_free: core::array::from_fn(|o| z.free_area[o].nr_free),
        }
    }

    /// Whether `pfn` is currently inside a free block, in the buddy or on a
    /// per-CPU list (takes the zone lock; O(MAX_ORDER); per-CPU lists change
    /// under their own locks, so for them it is a snapshot).
    pub fn is_page_free(&self, pfn: usize) -> bool {
        let _z = self.inner.lock();
        self.is_free_locked(pfn)
    }

    /// The id this zone stamps into the pages it manages (see
    /// [`PageFlags::zone`]); `1..=63`, the lowest that no other live zone
    /// on the memmap held when this one was created.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The descriptor of a pfn the zone manages (checked by the caller).
    #[inline]
    fn page(&self, pfn: usize) -> &'m Page {
        self.memmap.pfn_to_page(pfn).expect("zone pfn without memmap descriptor")
    }

    /// The free-list link of `pfn` (a pfn of the span): its offset in the
    /// span. Never `NONE`: a span has at most `MAX_ZONE_PAGES` pages.
    #[inline]
    fn link(&self, pfn: usize) -> u32 {
        debug_assert!(self.block_in_span(pfn, 0));
        (pfn - self.start_pfn) as u32
    }

    /// The pfn a free-list link (not `NONE`) stands for.
    #[inline]
    fn link_pfn(&self, link: u32) -> usize {
        self.start_pfn + link as usize
    }

    /// The descriptor a free-list link (not `NONE`) stands for.
    #[inline]
    fn link_page(&self, link: u32) -> &'m Page {
        self.page(self.link_pfn(link))
    }

    /// The descriptors of the block `[pfn, pfn + 2^order)`, which the zone
    /// manages (checked by the caller): one memmap lookup for the block.
    #[inline]
    fn block(&self, pfn: usize, order: usize) -> &'m [Page] {
        self.memmap.pfn_to_block(pfn, order).expect("zone block without memmap descriptors")
    }

    /// Whether the block `[pfn, pfn + 2^order)` lies inside the span.
    #[inline]
    fn block_in_span(&self, pfn: usize, order: usize) -> bool {
        pfn >= self.start_pfn && pfn + (1 << order) <= self.end_pfn
    }
}

/// Most pages a zone may span: its free-list links are 32-bit offsets into
/// the span, `u32::MAX` meaning none (2^32 - 1 pages, 16 TiB).
pub const MAX_ZONE_PAGES: usize = NONE as usize;

// A block never crosses a section: descriptors of one block are contiguous.
const _: () = assert!((1 << MAX_ORDER) <= PAGES_PER_SECTION);
const _: () = assert!(NR_ORDERS == MAX_ORDER + 1);

/// Dropping a zone gives its id back to the memmap for the next zone. First
/// every page of the span still stamped with the id (free, cached, allocated
/// or quarantined) goes back to `PG_reserved` with no zone, as the memmap
/// initialised it: a later zone that gets the same id must not take them for
/// its own, and may be handed them again with `free_memory_range`.
impl<S: RefcountScheme> Drop for Zone<'_, S> {
    fn drop(&mut self) {
        self.memmap.for_each_present(self.start_pfn..self.end_pfn, |_, pages| {
            for page in pages {
                let f = page.flags();
                if f.zone() == self.id {
                    page.set_flags(PageFlags::new_reserved(f.section_slot()));
                    page.set_next(NONE);
                    page.set_prev(NONE);
                }
            }
        });
        self.memmap.release_zone_id(self.id);
    }
}

impl<S: RefcountScheme> fmt::Debug for Zone<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Zone")
            .field("name", &self.name)
            .field("span", &(self.start_pfn..self.end_pfn))
            .field("scheme", &S::NAME)
            .field("stats", &self.stats())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests;

/// Test-only instrumentation for the loom models (`--cfg loom`): proves that
/// a model explored a given interleaving of the real code.
#[cfg(loom)]
pub mod loom_probe {
    /// Times a zone free found an allocated head with cleared tails and,
    /// rereading the head, found that a racing free had won it (the
    /// `FreeCheck::Retry` of `free.rs`).
    pub static FREE_RETRIED: core::sync::atomic::AtomicUsize =
        core::sync::atomic::AtomicUsize::new(0);
}

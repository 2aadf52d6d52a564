//! Allocation: `alloc_frozen_pages` / `alloc_pages`, and the checks every
//! allocation path (zone and per-CPU) runs on the block it hands out.

use super::Zone;
use super::bad_page::{BadPage, BadPageReason, PendingReports};
use super::free_area::ZoneInner;
use crate::MAX_ORDER;
use crate::page::{NONE, Page, PageFlags};
use crate::refcount::RefcountScheme;

impl<'m, S: RefcountScheme> Zone<'m, S> {
    /// Allocate 2^order contiguous, naturally aligned pages. The head's
    /// refcount is FROZEN: the caller owns the block exclusively without any
    /// count, and gives it back with
    /// [`free_frozen_pages`](Self::free_frozen_pages). For order > 0 the block
    /// is compound (`PG_head` + order on the head, `PG_tail` + head pfn on the
    /// tails). If the zone has no block that fits, every per-CPU list is
    /// drained into the zone and the zone tried once more (Linux's slow path
    /// drains too), for every order. `None` if still nothing fits (or
    /// `order > MAX_ORDER`).
    pub fn alloc_frozen_pages(&self, order: usize) -> Option<&'m Page> {
        if order > MAX_ORDER {
            return None;
        }
        if let Some(page) = self.alloc_from_zone(order) {
            return Some(page);
        }
        self.drain_all_pages();
        self.alloc_from_zone(order)
    }

    /// One attempt on the zone's free lists (no draining).
    fn alloc_from_zone(&self, order: usize) -> Option<&'m Page> {
        let mut bad = PendingReports::new();
        let mut z = self.inner.lock();
        let page = loop {
            // claim_block runs check_new_block itself.
            let Some((pfn, block)) = self.take_block(&mut z, order) else { break None };
            let free = block[0].flags().cleared();
            match self.claim_block(pfn, block, free) {
                Ok(()) => break Some(&block[0]),
                Err(b) => bad.push(self.quarantine_block_locked(&mut z, pfn, order, b)),
            }
        };
        drop(z);
        // Logged outside the zone lock: the logger may allocate, and the heap
        // grows from this allocator.
        bad.log();
        page
    }

    /// Take a free block of `order` whose descriptors pass
    /// `check_new_block`. A block that fails is leaked instead of handed
    /// out (somebody may still be using it): every page is marked
    /// quarantined, so a stray free of any of them is swallowed too; the
    /// report is recorded and added to `bad` for the caller to log once the
    /// zone lock is dropped. Then the next block is tried.
    pub(super) fn take_checked_block(
        &self,
        z: &mut ZoneInner,
        order: usize,
        bad: &mut PendingReports,
    ) -> Option<(usize, &'m [Page])> {
        loop {
            let (pfn, block) = self.take_block(z, order)?;
            match self.check_new_block(pfn, block, block[0].flags().cleared()) {
                Ok(()) => return Some((pfn, block)),
                Err(b) => bad.push(self.quarantine_block_locked(z, pfn, order, b)),
            }
        }
    }

    /// Leak a block taken off a free list (zone or per-CPU) that failed its
    /// checks: every page `PG_quarantined`, counted, the report recorded.
    /// The caller owns the block's state (it unlinked it) and holds the zone
    /// lock (`z`). Returns the report for the caller to log after the lock.
    pub(super) fn quarantine_block_locked(
        &self,
        z: &mut ZoneInner,
        pfn: usize,
        order: usize,
        b: BadPage,
    ) -> BadPage {
        for page in self.block(pfn, order) {
            page.set_flags(page.flags().cleared().with(PageFlags::QUARANTINED).with_order(order));
        }
        z.quarantined += 1 << order;
        let b = BadPage { quarantined: true, ..b };
        self.record_bad(z, b);
        b
    }

    /// [`quarantine_block_locked`](Self::quarantine_block_locked), taking the
    /// zone lock (per-CPU paths; the per-CPU lock may be held: it comes first
    /// in the lock order).
    pub(super) fn quarantine_taken_block(&self, pfn: usize, order: usize, b: BadPage) -> BadPage {
        let mut z = self.inner.lock();
        self.quarantine_block_locked(&mut z, pfn, order, b)
    }

    /// A block on a per-CPU list whose head is not the `PG_pcp` head the list
    /// says (found while draining, zone lock held): quarantined and reported.
    pub(super) fn corrupt_cached_block(
        &self,
        z: &mut ZoneInner,
        pfn: usize,
        order: usize,
    ) -> BadPage {
        let page = self.page(pfn);
        let b = BadPage {
            pfn: Some(pfn),
            count: S::raw(page.refcount()),
            flags: page.flags(),
            order,
            reason: BadPageReason::FreeListCorrupt,
            quarantined: false,
        };
        self.quarantine_block_locked(z, pfn, order, b)
    }

    /// `alloc_frozen_pages` + `init_page_count`: the block's head starts with
    /// one reference, dropped with [`put_page`](Self::put_page).
    pub fn alloc_pages(&self, order: usize) -> Option<&'m Page> {
        let page = self.alloc_frozen_pages(order)?;
        S::init_count(page.refcount());
        Some(page)
    }

    /// Every page of a block taken from a free list (zone or per-CPU) must be
    /// frozen, belong to this zone, and carry no flags except the head's
    /// expected free state `head` (nothing inside the buddy; `PG_pcp` + order
    /// on a per-CPU list): anything else means somebody wrote to a free
    /// page's descriptor (a use after free, a stray `init_page_count`).
    /// Checked in every build, on every allocation path. `block` is the
    /// 2^order descriptors from `pfn`.
    #[inline]
    pub(super) fn check_new_block(
        &self,
        pfn: usize,
        block: &[Page],
        head: PageFlags,
    ) -> Result<(), BadPage> {
        for (p, page) in (pfn..).zip(block) {
            let (raw, flags) = (S::raw(page.refcount()), page.flags());
            let want = if p == pfn { head } else { flags.cleared() };
            if !S::is_frozen(raw) || flags != want || flags.zone() != self.id {
                return Err(BadPage {
                    pfn: Some(p),
                    count: raw,
                    flags,
                    order: block.len().trailing_zeros() as usize,
                    reason: BadPageReason::FreeListCorrupt,
                    quarantined: false,
                });
            }
        }
        Ok(())
    }

    /// Check a block just unlinked from a free list (`check_new_block` with
    /// the head's free state `from`; `block` is its 2^order descriptors) and
    /// make it allocated: tails get `PG_tail` + the head pfn, the head's
    /// counter is set to exactly FROZEN (erasing leftovers of failed gets),
    /// and last the head goes `from -> ALLOCATED + order (+ HEAD)`. The
    /// caller holds the lock that owns `from` (the zone lock for BUDDY, the
    /// list's lock for PCP): no other path writes a head in a free state
    /// (frees and quarantines exchange from ALLOCATED and fail here), so the
    /// check and the store are one transition (see `page.rs`). On `Err`
    /// nothing was changed; the caller quarantines the block.
    #[inline]
    pub(super) fn claim_block(
        &self,
        pfn: usize,
        block: &[Page],
        from: PageFlags,
    ) -> Result<(), BadPage> {
        debug_assert!(block.len().is_power_of_two());
        self.check_new_block(pfn, block, from)?;
        let (head, tails) = block.split_first().expect("a block has a head");
        for (i, tail) in tails.iter().enumerate() {
            tail.set_flags(tail.flags().cleared().with(PageFlags::TAIL));
            // Its distance from the head (< 2^MAX_ORDER).
            tail.set_next(i as u32 + 1);
            tail.set_prev(NONE);
        }
        S::set_frozen(head.refcount());
        head.set_flags_release(from.allocated_head(block.len().trailing_zeros() as usize));
        Ok(())
    }
}

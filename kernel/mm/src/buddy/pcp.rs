//! Per-CPU page lists (Linux's `per_cpu_pages`): a small cache of free blocks
//! of order 0..=[`PCP_MAX_ORDER`] per CPU in front of the zone lock.
//!
//! Allocation pops from the CPU's list and refills it with `batch` pages'
//! worth of blocks under one zone-lock acquisition when it is empty; freeing
//! pushes onto the list and drains `batch` pages back to the zone (merging
//! there) when the list holds more than `high` pages. So the zone lock is
//! taken once per batch instead of once per page, which is what keeps order-0
//! traffic from serialising all CPUs on it.
//!
//! The crate knows nothing about CPUs: callers pass their CPU index
//! (`0..NR_CPUS`). Each list has its own lock, uncontended in the common case
//! (only its CPU uses it; `drain_pages` from elsewhere is the exception).
//! Lock order: a per-CPU lock, then the zone lock.
//!
//! A block on a per-CPU list is free: its head carries `PG_pcp` + order (tails
//! are clean), the refcount stays FROZEN. Page states are unambiguous (see
//! `page.rs`): a free proves the block is allocated by a compare-exchange of
//! the head from exactly "allocated head of this order" to `PG_pcp`, so a
//! double free (of a cached block, of a page inside any free block, or two
//! concurrent frees of one block) fails that exchange without the zone lock.
//! Every free into a list is validated like a zone free (the same checks run
//! on the block's own descriptors, and any doubt sends the block down the
//! zone path, which reports and quarantines). Every allocation from a list
//! checks the block like the zone path does (`check_new_block`): a cached
//! block whose descriptors were written while it was free is reported and
//! quarantined, never handed out.

use super::Zone;
use crate::page::{NONE, Page, PageFlags};
use crate::refcount::RefcountScheme;
use crate::sync::SpinLock;

/// Largest order cached per CPU (8 pages = 32 KiB).
pub const PCP_MAX_ORDER: usize = 3;
/// CPU indexes the per-CPU lists accept.
pub const NR_CPUS: usize = 64;
/// Pages moved between a list and the zone at once.
pub const PCP_BATCH: usize = 32;
/// A list holding more pages than this drains a batch.
pub const PCP_HIGH: usize = 4 * PCP_BATCH;

/// One CPU's lists: singly linked through the heads' `next` pfn, LIFO
/// (cache-warm blocks first).
pub(super) struct PerCpuPages {
    head: [u32; PCP_MAX_ORDER + 1],
    /// Pages (not blocks) cached, all orders together.
    count: usize,
}

impl PerCpuPages {
    pub(super) const fn new() -> Self {
        Self { head: [NONE; PCP_MAX_ORDER + 1], count: 0 }
    }

    /// First block of the `order` list (NONE if empty); for checkers.
    #[cfg(any(test, feature = "std"))]
    pub(super) fn first(&self, order: usize) -> u32 {
        self.head[order]
    }

    /// Pages cached, all orders; for checkers.
    #[cfg(any(test, feature = "std"))]
    pub(super) fn count(&self) -> usize {
        self.count
    }
}

pub(super) type PcpLock = SpinLock<PerCpuPages>;

impl<'m, S: RefcountScheme> Zone<'m, S> {
    /// [`alloc_frozen_pages`](Self::alloc_frozen_pages) through CPU `cpu`'s
    /// list (orders above [`PCP_MAX_ORDER`] go straight to the zone). The
    /// block popped from the list is checked like a zone allocation's
    /// (`check_new_block`); one that fails is reported and quarantined and
    /// the next is tried. With the list and the zone empty, every CPU's list
    /// is drained and the zone tried once more (`alloc_frozen_pages`).
    pub fn alloc_frozen_pages_pcp(&self, cpu: usize, order: usize) -> Option<&'m Page> {
        if order > PCP_MAX_ORDER || cpu >= NR_CPUS {
            return self.alloc_frozen_pages(order);
        }
        let mut bad = None;
        let mut pcp = self.pcp[cpu].lock();
        let got = loop {
            if pcp.head[order] == NONE {
                self.refill(&mut pcp, order);
            }
            let pfn = pcp.head[order];
            if pfn == NONE {
                break None;
            }
            let (pfn, page) = (pfn as usize, self.page(pfn as usize));
            pcp.head[order] = page.next();
            pcp.count -= 1 << order;
            page.set_next(NONE);
            let cached = page.flags().cleared().with(PageFlags::PCP).with_order(order);
            match self.claim_block(pfn, order, cached) {
                Ok(()) => break Some(page),
                Err(b) => bad = Some(self.quarantine_taken_block(pfn, order, b)),
            }
        };
        drop(pcp);
        if let Some(bad) = bad {
            log::error!("{bad}");
        }
        match got {
            Some(page) => Some(page),
            // The zone is empty too; the zone path drains every CPU's list
            // (ours included: its lock is dropped) and retries.
            None => self.alloc_frozen_pages(order),
        }
    }

    /// [`alloc_pages`](Self::alloc_pages) through CPU `cpu`'s list.
    pub fn alloc_pages_pcp(&self, cpu: usize, order: usize) -> Option<&'m Page> {
        let page = self.alloc_frozen_pages_pcp(cpu, order)?;
        S::init_count(page.refcount());
        Some(page)
    }

    /// [`free_frozen_pages`](Self::free_frozen_pages) through CPU `cpu`'s
    /// list. The block must be the frozen head of an allocated block of
    /// exactly `order` of this zone with consistent tails; the head's state is
    /// then changed from "allocated" to `PG_pcp` by compare-exchange under the
    /// list's lock, so of two racing frees of one block only one links it.
    /// Anything else goes down the zone path, which reports the misuse
    /// (`Err`) and quarantines where appropriate.
    pub fn free_frozen_pages_pcp(
        &self,
        cpu: usize,
        page: &Page,
        order: usize,
    ) -> Result<(), super::BadPage> {
        if order > PCP_MAX_ORDER || cpu >= NR_CPUS {
            return self.free_frozen_pages(page, order);
        }
        let Some((pfn, allocated)) = self.pcp_free_ok(page, order) else {
            // The zone path validates under its lock, reports, quarantines.
            return self.free_frozen_pages(page, order);
        };
        let mut pcp = self.pcp[cpu].lock();
        let cached = allocated.cleared().with(PageFlags::PCP).with_order(order);
        if page.transition(allocated, cached).is_err() {
            // Another free or a quarantine changed the state since we looked:
            // the zone path finds out which and reports it.
            drop(pcp);
            return self.free_frozen_pages(page, order);
        }
        // We own the block now: clean the tails (still FROZEN).
        for p in pfn + 1..pfn + (1 << order) {
            let tail = self.page(p);
            tail.set_flags(tail.flags().cleared());
            tail.set_next(NONE);
        }
        page.set_next(pcp.head[order]);
        pcp.head[order] = pfn as u32;
        pcp.count += 1 << order;
        if pcp.count > PCP_HIGH {
            self.drain_some(&mut pcp, PCP_BATCH);
        }
        Ok(())
    }

    /// `put_page` whose final free goes through CPU `cpu`'s list. The order
    /// comes from the head found in the page once the put has won (see the
    /// ABA notes in `free.rs`). A refcount misuse is reported once (the put is
    /// not retried: a second decrement could drop a new owner's reference).
    pub fn put_page_pcp(&self, cpu: usize, page: &Page) -> Result<bool, super::BadPage> {
        let head = self.memmap.compound_head(page);
        match S::sub_and_test(head.refcount(), 1) {
            Ok(false) => Ok(false),
            Ok(true) => self.free_frozen_pages_pcp(cpu, head, head.flags().order()).map(|()| true),
            Err(bug) => Err(self.refcount_bug(head, bug)),
        }
    }

    /// Whether `page` is the frozen head of an allocated block of exactly
    /// `order` of this zone, with consistent tails: then its pfn and the
    /// head's flags (the expected value of the free's transition). Anything
    /// else returns None (the zone path then reports it). Lock-free: the
    /// transition re-checks the head atomically.
    fn pcp_free_ok(&self, page: &Page, order: usize) -> Option<(usize, PageFlags)> {
        let pfn = self.memmap.try_page_to_pfn(page)?;
        let f = page.flags();
        if f != f.allocated_head(order)
            || f.zone() != self.id
            || !S::is_frozen(S::raw(page.refcount()))
            || !self.block_in_span(pfn, order)
            || pfn & ((1 << order) - 1) != 0
        {
            return None;
        }
        let tails_ok = (pfn + 1..pfn + (1 << order)).all(|p| {
            let t = self.page(p);
            t.flags().is_tail() && t.tail_head_pfn() as usize == pfn
        });
        tails_ok.then_some((pfn, f))
    }

    /// Moves up to `PCP_BATCH` pages' worth of `order` blocks from the zone
    /// onto the list, under one zone-lock acquisition.
    fn refill(&self, pcp: &mut PerCpuPages, order: usize) {
        let blocks = (PCP_BATCH >> order).max(1);
        let mut bad = None;
        let mut z = self.inner.lock();
        for _ in 0..blocks {
            let Some(pfn) = self.take_checked_block(&mut z, order, &mut bad) else { break };
            // Inside a free block (zone lock) -> PG_pcp (this list's lock,
            // held): both owners are ours here, a store suffices.
            let head = self.page(pfn);
            head.set_flags(head.flags().cleared().with(PageFlags::PCP).with_order(order));
            head.set_next(pcp.head[order]);
            pcp.head[order] = pfn as u32;
            pcp.count += 1 << order;
        }
        drop(z);
        if let Some(bad) = bad {
            log::error!("{bad}");
        }
    }

    /// Gives at least `pages` pages (or everything) back to the zone.
    fn drain_some(&self, pcp: &mut PerCpuPages, pages: usize) {
        let mut bad = None;
        let mut z = self.inner.lock();
        let mut moved = 0;
        for order in 0..=PCP_MAX_ORDER {
            while moved < pages && pcp.head[order] != NONE {
                let pfn = pcp.head[order] as usize;
                let head = self.page(pfn);
                pcp.head[order] = head.next();
                head.set_next(NONE);
                pcp.count -= 1 << order;
                moved += 1 << order;
                // PG_pcp -> inside a free block. Both owners are held (list
                // and zone lock); the exchange still proves the head was what
                // the list says: anything else is left out and reported.
                let f = head.flags();
                let cached = f.cleared().with(PageFlags::PCP).with_order(order);
                if f.zone() != self.id || head.transition(cached, f.cleared()).is_err() {
                    let b = self.corrupt_cached_block(&mut z, pfn, order);
                    bad = Some(b);
                    continue;
                }
                self.free_one(&mut z, pfn, order);
            }
        }
        drop(z);
        if let Some(bad) = bad {
            log::error!("{bad}");
        }
    }

    /// Returns every page on CPU `cpu`'s lists to the zone.
    pub fn drain_pages(&self, cpu: usize) {
        if cpu < NR_CPUS {
            let mut pcp = self.pcp[cpu].lock();
            self.drain_some(&mut pcp, usize::MAX);
        }
    }

    /// Returns every per-CPU page to the zone (before checking that all
    /// memory merged back, or when memory runs short).
    pub fn drain_all_pages(&self) {
        for cpu in 0..NR_CPUS {
            self.drain_pages(cpu);
        }
    }

    /// Pages cached on CPU `cpu`'s lists.
    pub fn nr_pcp_pages(&self, cpu: usize) -> usize {
        if cpu < NR_CPUS { self.pcp[cpu].lock().count } else { 0 }
    }
}

//! Allocation: `alloc_frozen_pages` / `alloc_pages`.

use super::Zone;
use super::bad_page::{BadPage, BadPageReason};
use crate::MAX_ORDER;
use crate::page::{NONE, Page, PageFlags};
use crate::refcount::RefcountScheme;

impl<'m, S: RefcountScheme> Zone<'m, S> {
    /// Allocate 2^order contiguous, naturally aligned pages. The head's
    /// refcount is FROZEN: the caller owns the block exclusively without any
    /// count, and gives it back with
    /// [`free_frozen_pages`](Self::free_frozen_pages). For order > 0 the block
    /// is compound (`PG_head` + order on the head, `PG_tail` + head pfn on the
    /// tails). `None` if no block is free (or `order > MAX_ORDER`).
    pub fn alloc_frozen_pages(&self, order: usize) -> Option<&'m Page> {
        if order > MAX_ORDER {
            return None;
        }
        let mut bad = None;
        let mut z = self.inner.lock();
        let pfn = self.take_checked_block(&mut z, order, &mut bad);
        if let Some(pfn) = pfn {
            self.prep_new_block(pfn, order);
        }
        drop(z);
        // Logged outside the zone lock: the logger may allocate, and the heap
        // grows from this allocator.
        if let Some(bad) = bad {
            log::error!("{bad}");
        }
        pfn.map(|pfn| self.page(pfn))
    }

    /// Take a free block of `order` whose descriptors pass
    /// `check_new_block`. A block that fails is leaked instead of handed
    /// out (somebody may still be using it): every page is marked
    /// quarantined, so a stray free of any of them is swallowed too; the
    /// report is recorded and left in `bad` for the caller to log once the
    /// zone lock is dropped. Then the next block is tried.
    pub(super) fn take_checked_block(
        &self,
        z: &mut super::free_area::ZoneInner,
        order: usize,
        bad: &mut Option<BadPage>,
    ) -> Option<usize> {
        loop {
            let pfn = self.take_block(z, order)?;
            match self.check_new_block(pfn, order) {
                Ok(()) => return Some(pfn),
                Err(b) => {
                    for p in pfn..pfn + (1 << order) {
                        let page = self.page(p);
                        page.set_flags(
                            page.flags().cleared().with(PageFlags::QUARANTINED).with_order(order),
                        );
                    }
                    z.quarantined += 1 << order;
                    let b = BadPage { quarantined: true, ..b };
                    self.record_bad(z, b);
                    *bad = Some(b);
                }
            }
        }
    }

    /// `alloc_frozen_pages` + `init_page_count`: the block's head starts with
    /// one reference, dropped with [`put_page`](Self::put_page).
    pub fn alloc_pages(&self, order: usize) -> Option<&'m Page> {
        let page = self.alloc_frozen_pages(order)?;
        S::init_count(page.refcount());
        Some(page)
    }

    /// Every page of a block taken from a free list must be frozen and carry
    /// no flags: anything else means somebody wrote to a free page's
    /// descriptor (a use after free). Checked in every build.
    fn check_new_block(&self, pfn: usize, order: usize) -> Result<(), BadPage> {
        for p in pfn..pfn + (1 << order) {
            let page = self.page(p);
            let (raw, flags) = (S::raw(page.refcount()), page.flags());
            if !S::is_frozen(raw) || flags != flags.cleared() {
                return Err(BadPage {
                    pfn: Some(p),
                    count: raw,
                    flags,
                    order,
                    reason: BadPageReason::FreeListCorrupt,
                    quarantined: false,
                });
            }
        }
        Ok(())
    }

    /// Mark a block allocated: order on the head (also for order 0, so
    /// `put_page` can find it), compound flags for order > 0. The head's
    /// counter is set to exactly FROZEN, erasing leftovers of failed gets.
    pub(super) fn prep_new_block(&self, pfn: usize, order: usize) {
        let head = self.page(pfn);
        let mut f = head.flags().cleared().with_order(order);
        if order > 0 {
            f = f.with(PageFlags::HEAD);
        }
        head.set_flags(f);
        S::set_frozen(head.refcount());
        for p in pfn + 1..pfn + (1 << order) {
            let tail = self.page(p);
            tail.set_flags(tail.flags().cleared().with(PageFlags::TAIL));
            tail.set_next(pfn as u32);
            tail.set_prev(NONE);
        }
    }
}

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
        // (Per-CPU page lists, a later issue, will be tried here first.)
        loop {
            let mut z = self.inner.lock();
            let pfn = self.take_block(&mut z, order)?;
            match self.check_new_block(pfn, order) {
                Ok(()) => {
                    self.prep_new_block(pfn, order);
                    return Some(self.page(pfn));
                }
                Err(bad) => {
                    // Leak the block instead of handing out memory somebody
                    // may still be using; try the next one.
                    // Every page is marked, so a stray free of any of them
                    // is swallowed too.
                    for p in pfn..pfn + (1 << order) {
                        let page = self.page(p);
                        page.set_flags(
                            page.flags().cleared().with(PageFlags::QUARANTINED).with_order(order),
                        );
                    }
                    z.quarantined += 1 << order;
                    let bad = BadPage { quarantined: true, ..bad };
                    self.record_bad(&mut z, bad);
                    drop(z);
                    log::error!("{bad}");
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
    fn prep_new_block(&self, pfn: usize, order: usize) {
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

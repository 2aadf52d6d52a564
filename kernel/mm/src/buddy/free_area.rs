//! Free lists and the merge/split primitives. Everything here runs with the
//! zone lock held (the `&mut ZoneInner` is the proof).

use super::Zone;
use super::bad_page::BadPage;
use crate::page::{NONE, Page, PageFlags};
use crate::refcount::RefcountScheme;
use crate::{MAX_ORDER, NR_ORDERS};
use core::ptr;

/// One `free_area[order]`: a doubly linked list of free block heads.
#[derive(Clone, Copy)]
pub(super) struct FreeArea {
    /// First block's link (`Zone::link`), or NONE.
    pub head: u32,
    pub nr_free: usize,
}

/// What the zone lock protects.
pub(super) struct ZoneInner {
    pub free_area: [FreeArea; NR_ORDERS],
    pub managed: usize,
    pub free: usize,
    pub quarantined: usize,
    pub bad_pages: usize,
    pub last_bad: Option<BadPage>,
}

impl ZoneInner {
    pub const fn new() -> Self {
        ZoneInner {
            free_area: [FreeArea { head: NONE, nr_free: 0 }; NR_ORDERS],
            managed: 0,
            free: 0,
            quarantined: 0,
            bad_pages: 0,
            last_bad: None,
        }
    }
}

impl<'m, S: RefcountScheme> Zone<'m, S> {
    /// Push the block at `pfn` (head descriptor `page`) onto
    /// `free_area[order]` and mark its head `PG_buddy` + order. LIFO: the most
    /// recently freed block is reused first (cache-warm). (Callers pass the
    /// block's descriptor they already hold, saving a lookup per order of a
    /// merge or split; the list neighbour is still looked up. `pfn` and
    /// `page` must agree: checked in debug builds only.)
    #[inline]
    pub(super) fn list_add(&self, z: &mut ZoneInner, pfn: usize, page: &Page, order: usize) {
        debug_assert!(ptr::eq(page, self.page(pfn)));
        page.set_flags(page.flags().cleared().with(PageFlags::BUDDY).with_order(order));
        let area = &mut z.free_area[order];
        let link = self.link(pfn);
        page.set_prev(NONE);
        page.set_next(area.head);
        if area.head != NONE {
            self.link_page(area.head).set_prev(link);
        }
        area.head = link;
        area.nr_free += 1;
        z.free += 1 << order;
    }

    /// Unlink the free block at `pfn` (head descriptor `page`, a `PG_buddy`
    /// head of `order`) and clear its head's flags.
    #[inline]
    pub(super) fn list_del(&self, z: &mut ZoneInner, pfn: usize, page: &Page, order: usize) {
        debug_assert!(ptr::eq(page, self.page(pfn)));
        debug_assert!(page.flags().is_buddy() && page.flags().order() == order);
        let (prev, next) = (page.prev(), page.next());
        let area = &mut z.free_area[order];
        if prev == NONE {
            debug_assert_eq!(area.head, self.link(pfn));
            area.head = next;
        } else {
            self.link_page(prev).set_next(next);
        }
        if next != NONE {
            self.link_page(next).set_prev(prev);
        }
        page.set_next(NONE);
        page.set_prev(NONE);
        page.set_flags(page.flags().cleared());
        area.nr_free -= 1;
        z.free -= 1 << order;
    }

    /// Free the block at `pfn` (head descriptor `page`) whose pages are
    /// already clean (no flags, FROZEN), merging with free buddies of the
    /// same order inside the span.
    pub(super) fn free_one(
        &self,
        z: &mut ZoneInner,
        mut pfn: usize,
        page: &Page,
        mut order: usize,
    ) {
        let mut head = page;
        while order < MAX_ORDER {
            let buddy = pfn ^ (1 << order);
            if !self.block_in_span(buddy, order) {
                break;
            }
            let Some(bp) = self.memmap.pfn_to_page(buddy) else {
                break;
            };
            let f = bp.flags();
            // Only a free block of this zone: with overlapping spans the
            // buddy may be another zone's (Linux's page_zone_id check).
            if !(f.is_buddy() && f.order() == order && f.zone() == self.id) {
                break;
            }
            self.list_del(z, buddy, bp, order);
            if buddy < pfn {
                (pfn, head) = (buddy, bp);
            }
            order += 1;
        }
        self.list_add(z, pfn, head, order);
    }

    /// Take a free block of exactly `order`, splitting a larger one if needed
    /// (the upper halves go back to the lists): its pfn and descriptors.
    /// `None` if nothing fits.
    pub(super) fn take_block(
        &self,
        z: &mut ZoneInner,
        order: usize,
    ) -> Option<(usize, &'m [Page])> {
        let found = (order..=MAX_ORDER).find(|&o| z.free_area[o].head != NONE)?;
        let pfn = self.link_pfn(z.free_area[found].head);
        // One lookup for the block; the split halves are inside it.
        let block = self.block(pfn, found);
        self.list_del(z, pfn, &block[0], found);
        let mut o = found;
        while o > order {
            o -= 1;
            self.list_add(z, pfn + (1 << o), &block[1 << o], o);
        }
        Some((pfn, &block[..1 << order]))
    }

    /// Whether `pfn` lies in a free block: for each order `o`, the block of
    /// order `o` that would contain it starts at `pfn & !(2^o - 1)`; if that
    /// page is a `PG_buddy` head of order >= `o`, it covers `pfn`.
    /// O(MAX_ORDER); zone lock held.
    pub(super) fn is_free_locked(&self, pfn: usize) -> bool {
        for o in 0..=MAX_ORDER {
            let head = pfn & !((1 << o) - 1);
            if head < self.start_pfn {
                break;
            }
            if let Some(p) = self.memmap.pfn_to_page(head) {
                let f = p.flags();
                // Blocks cached on per-CPU lists are free too.
                if (f.is_buddy() || f.is_pcp()) && f.order() >= o && f.zone() == self.id {
                    return true;
                }
            }
        }
        false
    }
}

#[cfg(any(test, feature = "std"))]
impl<S: RefcountScheme> Zone<'_, S> {
    /// Test helper: walk every free list *and every per-CPU list* and check
    /// the invariants the allocator relies on (links both ways on the free
    /// lists, `PG_buddy` / `PG_pcp` + order + this zone's id on heads, natural
    /// alignment, inside the span, non-head pages of free blocks clean and
    /// frozen, no two free blocks overlapping, counters matching). Takes every
    /// per-CPU lock, then the zone lock (the allocator's lock order).
    pub fn verify_free_lists(&self) -> Result<(), std::string::String> {
        use std::format;
        let pcps: std::vec::Vec<_> = self.pcp.iter().map(|l| l.lock()).collect();
        let z = self.inner.lock();
        let mut seen = std::collections::BTreeMap::<usize, usize>::new();
        // Checks shared by buddy and per-CPU blocks: alignment, span, frozen
        // head, clean inner pages, no overlap; records the block.
        let mut block = |p: usize, order: usize| -> Result<(), std::string::String> {
            let page = self.page(p);
            if p & ((1 << order) - 1) != 0 || !self.block_in_span(p, order) {
                return Err(format!("block {p:#x}/{order} misaligned or outside the span"));
            }
            if !S::is_frozen(S::raw(page.refcount())) {
                return Err(format!("free head {p:#x} not frozen: {page:?}"));
            }
            // Under Miri every lookup is expensive: sample the inner pages.
            let step = if cfg!(miri) { (1 << order) / 4 } else { 1 }.max(1);
            for q in (p + 1..p + (1 << order)).step_by(step) {
                let t = self.page(q);
                if t.flags() != t.flags().cleared()
                    || t.flags().zone() != self.id
                    || !S::is_frozen(S::raw(t.refcount()))
                {
                    return Err(format!("page {q:#x} inside free block {p:#x} is {t:?}"));
                }
            }
            if let Some((&s, &o)) = seen.range(..p).next_back()
                && s + (1 << o) > p
            {
                return Err(format!("free blocks {s:#x}/{o} and {p:#x}/{order} overlap"));
            }
            if let Some((&s, _)) = seen.range(p..).next()
                && s < p + (1 << order)
            {
                return Err(format!("free blocks {p:#x}/{order} and {s:#x} overlap"));
            }
            seen.insert(p, order);
            Ok(())
        };
        let mut total = 0;
        for (order, area) in z.free_area.iter().enumerate() {
            let mut n = 0;
            let mut prev = NONE;
            let mut link = area.head;
            while link != NONE {
                let p = self.link_pfn(link);
                let page = self.page(p);
                let f = page.flags();
                if f != f.cleared().with(PageFlags::BUDDY).with_order(order) || f.zone() != self.id
                {
                    return Err(format!("pfn {p:#x} on list {order} has flags {f}"));
                }
                if page.prev() != prev {
                    return Err(format!("pfn {p:#x}: prev link {:#x} != {prev:#x}", page.prev()));
                }
                block(p, order)?;
                n += 1;
                total += 1 << order;
                prev = link;
                link = page.next();
            }
            if n != area.nr_free {
                return Err(format!("order {order}: {n} blocks listed, nr_free {}", area.nr_free));
            }
        }
        if total != z.free {
            return Err(format!("{total} free pages listed, counter {}", z.free));
        }
        for (cpu, pcp) in pcps.iter().enumerate() {
            let mut pages = 0;
            for order in 0..=super::PCP_MAX_ORDER {
                let mut link = pcp.first(order);
                while link != NONE {
                    let p = self.link_pfn(link);
                    let page = self.page(p);
                    let f = page.flags();
                    if f != f.cleared().with(PageFlags::PCP).with_order(order)
                        || f.zone() != self.id
                    {
                        return Err(format!("pfn {p:#x} on cpu {cpu}'s list {order}: {f}"));
                    }
                    // Also catches a cycle: the block would overlap itself.
                    block(p, order)?;
                    pages += 1 << order;
                    link = page.next();
                }
            }
            if pages != pcp.count() {
                return Err(format!("cpu {cpu}: {pages} pages listed, count {}", pcp.count()));
            }
        }
        if z.free + z.quarantined + pcps.iter().map(|p| p.count()).sum::<usize>() > z.managed {
            return Err(format!(
                "free {} + quarantined {} + per-CPU pages exceed managed {}",
                z.free, z.quarantined, z.managed
            ));
        }
        Ok(())
    }
}

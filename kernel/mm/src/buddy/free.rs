//! Freeing and the zone-level refcount operations (tail resolution, misuse
//! reports, quarantine).
//!
//! # Why the last put is safe against ABA (refcount.md case 6)
//!
//! A putter can stall between its decrement to 0 and its `0 -> FROZEN` CAS
//! while the page is revived, put, freed, reallocated and put again by others;
//! its CAS can then succeed on somebody else's transient 0 and make it the
//! freer of an allocation it never knew. That is still exactly one free of
//! that allocation (the real last putter's CAS fails), *provided the freer
//! acts on the state found in the page, not on its own assumptions*. Here:
//!
//! * `put_page` keeps nothing about the page but the descriptor address: after
//!   winning the CAS it calls [`Zone::free_block_found`], which reads the
//!   order from the head's flags and frees only if the head still holds
//!   exactly those flags when it takes it out of the allocated state (one
//!   compare-exchange on the whole word, order included);
//! * the CAS's Acquire pairs with the Release decrement of the allocation's
//!   real last putter, so the freer sees that allocation's flags;
//! * the free path validates (not a tail, allocated, not reserved, this
//!   zone's, frozen, tails consistent) and then takes the head out of the
//!   allocated state by compare-exchange before touching any list, and
//!   quarantines instead of freeing if anything is off;
//! * a descriptor that became a tail of a larger block in between has a FROZEN
//!   counter (tails are never counted), so a stale CAS on it fails.

use super::Zone;
use super::bad_page::{BadPage, BadPageReason};
use super::free_area::ZoneInner;
use crate::MAX_ORDER;
use crate::page::{NONE, Page, PageFlags};
use crate::refcount::{RefcountBug, RefcountScheme};
use crate::sync::{
    Ordering::{Acquire, Release},
    fence,
};
use core::ptr;

impl<'m, S: RefcountScheme> Zone<'m, S> {
    /// Give back a frozen block of 2^order pages from `alloc_frozen_pages`
    /// (or one whose last reference was dropped). The block stays FROZEN all
    /// the way into the free list. Misuse (double free, not frozen, tail page,
    /// wrong order, reserved, outside the zone) is reported and the block is
    /// not freed; a quarantined block is silently kept out.
    pub fn free_frozen_pages(&self, page: &Page, order: usize) -> Result<(), BadPage> {
        self.free_block(page, Some(order))
    }

    /// The free of the last `put_page`: the order is the one recorded in the
    /// head, and the head's transition checks it (see the module docs on
    /// ABA).
    fn free_block_found(&self, head: &Page) -> Result<(), BadPage> {
        self.free_block(head, None)
    }

    /// Free `page`'s block: `order` from the caller, or (`None`) the one in
    /// the head's flags.
    ///
    /// Fast path for an order-0 page, no lock: [`free_ok`](Self::free_ok)
    /// finds the frozen, allocated order-0 head of this zone, and the
    /// compare-exchange `ALLOCATED -> free` proves it still is and makes it
    /// ours before any list sees it; only the merge then takes the zone
    /// lock. So the free's one locked instruction is not paid inside the
    /// zone lock's critical section, which other CPUs wait on. Larger blocks
    /// done this way were slower, so they, and anything the fast path
    /// refuses (misuse, a quarantined block, a lost race), take the path
    /// that checks under the zone lock, reports and quarantines
    /// (docs/decisions/order0-zone-free-outside-lock.md).
    fn free_block(&self, page: &Page, order: Option<usize>) -> Result<(), BadPage> {
        if order.unwrap_or_else(|| page.flags().order()) == 0
            && let Some((pfn, allocated)) = self.free_ok(page, 0)
            && page.transition(allocated, allocated.cleared()).is_ok()
        {
            // Ours now: no flags and on no list, so no other path touches it
            // until free_one links it (order 0: no tails to clear).
            let mut z = self.inner.lock();
            self.free_one(&mut z, pfn, page, 0);
            return Ok(());
        }
        let mut z = self.inner.lock();
        loop {
            match self.check_free(&mut z, page, order) {
                Ok(FreeCheck::Free { pfn, order, allocated }) => {
                    // Prove the block is allocated and make it ours in one
                    // step: ALLOCATED -> free. Per-CPU frees and the order-0
                    // fast path exchange without the zone lock; if one of
                    // them changed the head since we looked, look again (and
                    // report what it did).
                    if page.transition(allocated, allocated.cleared()).is_err() {
                        continue;
                    }
                    self.clear_tails(pfn, order);
                    self.free_one(&mut z, pfn, page, order);
                    return Ok(());
                }
                Ok(FreeCheck::Swallow) => return Ok(()),
                Ok(FreeCheck::Retry) => continue,
                Err(bad) => {
                    self.record_bad(&mut z, bad);
                    drop(z);
                    log::error!("{bad}");
                    return Err(bad);
                }
            }
        }
    }

    /// Whether `page` is the frozen head of an allocated block of exactly
    /// `order` (0..=MAX_ORDER) of this zone, aligned and inside the span,
    /// with consistent tails: then its pfn and the head's flags (the
    /// expected value of the free's transition). Anything else returns
    /// `None`, and the caller takes the zone path, which reports it. Used by
    /// both frees' fast paths without a lock: what it reads is only a
    /// prediction, which the head's compare-exchange then proves (while the
    /// head is allocated, its tails are written only by the winner of the
    /// head's transition out of that state).
    pub(super) fn free_ok(&self, page: &Page, order: usize) -> Option<(usize, PageFlags)> {
        let pfn = self.memmap.try_page_to_pfn(page)?;
        let f = page.flags();
        if order > MAX_ORDER
            || f != f.allocated_head(order)
            || f.zone() != self.id
            || !S::is_frozen(S::raw(page.refcount()))
            || !self.block_in_span(pfn, order)
            || pfn & ((1 << order) - 1) != 0
        {
            return None;
        }
        // (Order 0, the common case, has no tails: skip the loop's setup.)
        let tails_ok = order == 0 || tails_point_to(self.block(pfn, order));
        tails_ok.then_some((pfn, f))
    }

    /// Validate a free, zone lock held. See [`FreeCheck`]; `Err`: misuse
    /// (already quarantined where appropriate).
    fn check_free(
        &self,
        z: &mut ZoneInner,
        page: &Page,
        order: Option<usize>,
    ) -> Result<FreeCheck, BadPage> {
        let raw = S::raw(page.refcount());
        // Acquire: an allocated head's tails (and, after a free and a
        // reallocation, the new ones) were written before its state was
        // stored with Release (`claim_block`); the tail checks below must
        // not see older ones.
        let flags = page.flags_acquire();
        let shown_order = order.unwrap_or(flags.order());
        let bad = |pfn, reason| BadPage {
            pfn,
            count: raw,
            flags,
            order: shown_order,
            reason,
            quarantined: false,
        };
        let Some(pfn) = self.memmap.try_page_to_pfn(page) else {
            return Err(bad(None, BadPageReason::NotInMemmap));
        };
        if shown_order > MAX_ORDER {
            return Err(bad(Some(pfn), BadPageReason::OrderTooLarge));
        }
        if !self.block_in_span(pfn, 0) {
            return Err(bad(Some(pfn), BadPageReason::OutsideZone));
        }
        if flags.is_reserved() {
            return Err(bad(Some(pfn), BadPageReason::Reserved));
        }
        if flags.zone() != self.id {
            // Managed by another zone whose span overlaps ours.
            return Err(bad(Some(pfn), BadPageReason::OutsideZone));
        }
        if flags.is_quarantined() {
            return Ok(FreeCheck::Swallow);
        }
        if flags.is_tail() {
            // A corrupt offset gives a pfn outside the zone (or none), which
            // `quarantine` refuses.
            let head = pfn.wrapping_sub(page.tail_offset() as usize);
            let quarantined = self.quarantine(z, head);
            return Err(BadPage { quarantined, ..bad(Some(pfn), BadPageReason::TailPage) });
        }
        if !flags.is_allocated() {
            // A free block's head (buddy or per-CPU) or a page inside a free
            // block: the page state says so without searching.
            return Err(bad(Some(pfn), BadPageReason::DoubleFree));
        }
        // From here on the page is the head of an allocated block.
        let allocated = flags.order();
        if !S::is_frozen(raw) {
            let quarantined = self.quarantine(z, pfn);
            return Err(BadPage { quarantined, ..bad(Some(pfn), BadPageReason::NotFrozen) });
        }
        if shown_order != allocated || flags != flags.allocated_head(allocated) {
            let quarantined = self.quarantine(z, pfn);
            let reason = BadPageReason::WrongOrder { allocated };
            return Err(BadPage { quarantined, ..bad(Some(pfn), reason) });
        }
        if !self.block_in_span(pfn, allocated) || pfn & ((1 << allocated) - 1) != 0 {
            return Err(bad(Some(pfn), BadPageReason::OutsideZone));
        }
        let tails_ok = self.memmap.pfn_to_block(pfn, allocated).is_some_and(tails_point_to);
        if !tails_ok {
            // A racing per-CPU free that won the head clears the tails after
            // its exchange: if the head changed since we read it, those are
            // the tails we saw, and this is a double free. Acquire: with
            // clear_tails' Release fence, reading a cleared tail makes its
            // exchange visible to the reload.
            fence(Acquire);
            if page.flags() != flags {
                #[cfg(loom)]
                super::loom_probe::FREE_RETRIED.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
                return Ok(FreeCheck::Retry);
            }
            let quarantined = self.quarantine(z, pfn);
            return Err(BadPage { quarantined, ..bad(Some(pfn), BadPageReason::CorruptCompound) });
        }
        Ok(FreeCheck::Free { pfn, order: allocated, allocated: flags })
    }

    /// Strip the compound flags of a block whose head we just took out of
    /// the allocated state (zone and per-CPU frees). Tails stay FROZEN (they
    /// always are). Order 0 has none: no lookup.
    #[inline]
    pub(super) fn clear_tails(&self, pfn: usize, order: usize) {
        if order == 0 {
            return;
        }
        // Release: a free that read the head as allocated and then finds a
        // tail cleared here (`check_free`, Acquire fence) must see the head's
        // exchange that came before, and report a double free, not a
        // corrupt block. (x86: no instruction.)
        fence(Release);
        for tail in &self.block(pfn, order)[1..] {
            tail.set_flags(tail.flags().cleared());
            tail.set_next(NONE);
        }
    }

    /// Mark the allocated block headed by `head_pfn` `PG_quarantined` so it
    /// never reaches a free list: its eventual free is swallowed. Refused
    /// (false) unless the pfn is an allocated head of this zone (a free block,
    /// buddy or per-CPU, stays exactly as it is). The mark is a
    /// compare-exchange from the allocated state: a concurrent free through a
    /// per-CPU list either wins first (then we refuse) or fails on our mark.
    /// Zone lock held (`z`, for the counter).
    pub(super) fn quarantine(&self, z: &mut ZoneInner, head_pfn: usize) -> bool {
        if !self.block_in_span(head_pfn, 0) {
            return false;
        }
        let Some(head) = self.memmap.pfn_to_page(head_pfn) else {
            return false;
        };
        loop {
            let f = head.flags();
            if f.zone() != self.id {
                return false;
            }
            if f.is_quarantined() {
                return true;
            }
            if !f.is_allocated() {
                return false;
            }
            if head.transition(f, f.with(PageFlags::QUARANTINED)).is_ok() {
                z.quarantined += 1 << f.order();
                return true;
            }
        }
    }

    pub(super) fn record_bad(&self, z: &mut ZoneInner, bad: BadPage) {
        z.bad_pages += 1;
        z.last_bad = Some(bad);
    }

    /// Report a misuse on `page` that leaves it as it is (no quarantine): the
    /// page's own state is what made the operation wrong.
    #[cold]
    pub(super) fn report_bad(&self, page: &Page, reason: BadPageReason) -> BadPage {
        let mut z = self.inner.lock();
        let flags = page.flags();
        let bad = BadPage {
            pfn: self.memmap.try_page_to_pfn(page),
            count: S::raw(page.refcount()),
            flags,
            order: flags.order(),
            reason,
            quarantined: false,
        };
        self.record_bad(&mut z, bad);
        drop(z);
        log::error!("{bad}");
        bad
    }

    /// Report a refcount misuse on `head` and quarantine its block unless it
    /// is free.
    #[cold]
    pub(super) fn refcount_bug(&self, head: &Page, bug: RefcountBug) -> BadPage {
        let mut z = self.inner.lock();
        let pfn = self.memmap.try_page_to_pfn(head);
        let quarantined = pfn.is_some_and(|pfn| self.quarantine(&mut z, pfn));
        let flags = head.flags();
        let bad = BadPage {
            pfn,
            count: bug.raw,
            flags,
            order: flags.order(),
            reason: bug.into(),
            quarantined,
        };
        self.record_bad(&mut z, bad);
        drop(z);
        log::error!("{bad}");
        bad
    }

    /// Drop one reference on `page`'s block (tails resolve to the head). If
    /// it was the last, the block is freed and `Ok(true)` returned. A put on a
    /// frozen page or an underflow is reported (`Err`) and nothing is freed.
    pub fn put_page(&self, page: &Page) -> Result<bool, BadPage> {
        self.put_head(self.memmap.compound_head(page), 1)
    }

    /// Drop `nr` references at once (Linux `folio_put_refs`); see
    /// [`put_page`](Self::put_page). Dropping more than the page has is a
    /// reported underflow.
    pub fn put_page_refs(&self, page: &Page, nr: u32) -> Result<bool, BadPage> {
        self.put_head(self.memmap.compound_head(page), nr)
    }

    /// `put_page_refs` on exactly this descriptor (already a head).
    pub(crate) fn put_head(&self, head: &Page, nr: u32) -> Result<bool, BadPage> {
        match S::sub_and_test(head.refcount(), nr) {
            Ok(false) => Ok(false),
            Ok(true) => self.free_block_found(head).map(|()| true),
            Err(bug) => Err(self.refcount_bug(head, bug)),
        }
    }

    /// Take another reference on a block the caller already holds one on
    /// (tails resolve to the head). Misuse is reported and the block
    /// quarantined; the counter is never left revivable.
    pub fn get_page(&self, page: &Page) -> Result<(), BadPage> {
        let head = self.memmap.compound_head(page);
        S::get(head.refcount()).map_err(|bug| self.refcount_bug(head, bug))
    }

    /// `page_ref_unfreeze` that knows the allocator: publish a block the
    /// caller froze (`page_ref_freeze`, or allocated with
    /// `alloc_frozen_pages`) with `count` (`1..=MAX_COUNT`) references.
    ///
    /// The raw [`page_ref_unfreeze`](crate::page_ref_unfreeze) trusts its
    /// caller: a free page is frozen too, and its exchange cannot tell the
    /// two apart, so an unfreeze of a free page would make it owned and let
    /// speculative gets succeed on it. This one first checks that `page` is
    /// the head of an allocated block of this zone, and refuses anything
    /// else without touching the counter.
    ///
    /// # Errors
    ///
    /// A [`BadPage`] report (also logged and counted): the page is not an
    /// allocated head of this zone (`UnfreezeNotAllocated`; a free block is
    /// left exactly as it is), or the scheme refused (`UnfreezeNotFrozen`,
    /// `InvalidArgument`; the block is then quarantined). What stays open:
    /// an owner that frees the block between the check and the exchange
    /// while another party unfreezes it, two misuses at once.
    pub fn page_ref_unfreeze(&self, page: &Page, count: u32) -> Result<(), BadPage> {
        // Acquire: pairs with the Release that stored the allocated state
        // (`claim_block`), so an allocated head's flags are the current ones.
        let flags = page.flags_acquire();
        let pfn = self.memmap.try_page_to_pfn(page);
        let ours = pfn.is_some_and(|p| self.block_in_span(p, 0)) && flags.zone() == self.id;
        if !ours || !flags.is_allocated() || flags.is_tail() {
            return Err(self.report_bad(page, BadPageReason::UnfreezeNotAllocated));
        }
        S::try_unfreeze(page.refcount(), count).map_err(|bug| self.refcount_bug(page, bug))
    }

    /// Speculative get through a possibly stale pointer (tails resolve to the
    /// head). On success the caller holds a reference on the block `page`
    /// belongs to *now*, and must still revalidate how it found `page`.
    pub fn get_page_unless_frozen(&self, page: &Page) -> bool {
        self.try_get_head(page).is_some()
    }

    /// The speculative get, returning the head it took the reference on.
    /// Linux `folio_try_get` + recheck: after the get, `page` must still
    /// belong to the same head, else the block was freed and reorganised in
    /// between and we drop the reference we took and retry.
    pub(crate) fn try_get_head<'p>(&self, page: &'p Page) -> Option<&'p Page> {
        loop {
            let head = self.memmap.compound_head(page);
            if !S::add_unless_frozen(head.refcount(), 1) {
                return None;
            }
            // While we hold a reference the block cannot be freed, so if this
            // still agrees the answer is stable.
            if ptr::eq(self.memmap.compound_head(page), head) {
                return Some(head);
            }
            let _ = self.put_head(head, 1);
        }
    }

    /// References on `page`'s block (0 if frozen).
    pub fn page_count(&self, page: &Page) -> u32 {
        S::count(self.memmap.compound_head(page).refcount())
    }
}

/// Whether every page after the head of `block` is a tail that names its
/// distance from that head: the compound state an allocated block must have
/// when it is freed.
fn tails_point_to(block: &[Page]) -> bool {
    block
        .iter()
        .enumerate()
        .skip(1)
        .all(|(i, t)| t.flags().is_tail() && t.tail_offset() as usize == i)
}

/// What `check_free` found, besides misuse (its `Err`).
enum FreeCheck {
    /// An allocated head of `order` with flags `allocated` (the expected
    /// value of the free's exchange): free it.
    Free { pfn: usize, order: usize, allocated: PageFlags },
    /// A quarantined block: keep it out, silently.
    Swallow,
    /// The head changed while we looked (a racing free won it): look again.
    Retry,
}

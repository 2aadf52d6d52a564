//! The safe layer: owning handles so ordinary kernel code cannot forget a
//! free or a put.
//!
//! * [`FrozenPages`] owns a frozen block exclusively (from
//!   `alloc_frozen_pages`); dropping it frees the block.
//! * [`PageRef`] is one counted reference on a block: `Clone` = `get_page`,
//!   `Drop` = `put_page`, which frees the block on the last reference.
//!
//! Both expose the block's pfn and order; the kernel maps the pfn to a virtual
//! address itself. The raw API on [`Zone`] stays public for speculative paths
//! (page-cache style lookups) and for code that manages references by hand
//! (`into_raw` / `from_raw`).

use crate::buddy::Zone;
use crate::page::Page;
use crate::refcount::{DefaultScheme, RefcountScheme};
use core::fmt;
use core::mem::ManuallyDrop;

/// Exclusive ownership of a frozen block of 2^order pages.
pub struct FrozenPages<'z, S: RefcountScheme = DefaultScheme> {
    zone: &'z Zone<'z, S>,
    head: &'z Page,
    pfn: usize,
    order: usize,
}

impl<'z, S: RefcountScheme> FrozenPages<'z, S> {
    /// Adopt a block obtained from [`Zone::alloc_frozen_pages`] (or frozen by
    /// `page_ref_freeze`). Misuse (not a frozen head of that order) is
    /// detected when the handle frees it.
    pub fn from_raw(zone: &'z Zone<'z, S>, head: &'z Page, order: usize) -> Self {
        let pfn = zone.page_to_pfn(head);
        FrozenPages { zone, head, pfn, order }
    }

    /// Give up the handle without freeing; the caller must eventually pass
    /// `(page, order)` to [`Zone::free_frozen_pages`].
    pub fn into_raw(self) -> (&'z Page, usize) {
        let this = ManuallyDrop::new(self);
        (this.head, this.order)
    }

    /// The head pfn.
    pub fn pfn(&self) -> usize {
        self.pfn
    }

    /// The block's order.
    pub fn order(&self) -> usize {
        self.order
    }

    /// Number of pages (`1 << order`).
    pub fn nr_pages(&self) -> usize {
        1 << self.order
    }

    /// The head descriptor.
    pub fn page(&self) -> &'z Page {
        self.head
    }

    /// The zone it came from.
    pub fn zone(&self) -> &'z Zone<'z, S> {
        self.zone
    }

    /// Publish the block with one reference (`init_page_count`). From now on
    /// speculative gets on it can succeed.
    pub fn into_counted(self) -> PageRef<'z, S> {
        let this = ManuallyDrop::new(self);
        S::init_count(this.head.refcount());
        PageRef { zone: this.zone, head: this.head, pfn: this.pfn }
    }
}

impl<S: RefcountScheme> Drop for FrozenPages<'_, S> {
    fn drop(&mut self) {
        // A failure was reported and counted by the zone; nothing else to do.
        let _ = self.zone.free_frozen_pages(self.head, self.order);
    }
}

impl<S: RefcountScheme> fmt::Debug for FrozenPages<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FrozenPages {{ pfn: {:#x}, order: {} }}", self.pfn, self.order)
    }
}

/// One counted reference on a block (its head page).
pub struct PageRef<'z, S: RefcountScheme = DefaultScheme> {
    zone: &'z Zone<'z, S>,
    head: &'z Page,
    pfn: usize,
}

impl<'z, S: RefcountScheme> PageRef<'z, S> {
    /// Speculative get (`get_page_unless_frozen`, following tails to their
    /// head): `Some` if the block was owned. The caller must still revalidate
    /// how it found `page` and drop the reference if it is not the one it
    /// wanted.
    pub fn try_get(zone: &'z Zone<'z, S>, page: &'z Page) -> Option<Self> {
        let head = zone.try_get_head(page)?;
        Some(PageRef { zone, head, pfn: zone.page_to_pfn(head) })
    }

    /// Adopt a reference the caller holds on `page`'s block (e.g. from
    /// [`Zone::alloc_pages`] or an earlier [`into_raw`](Self::into_raw)).
    pub fn from_raw(zone: &'z Zone<'z, S>, page: &'z Page) -> Self {
        let head = zone.memmap().compound_head(page);
        PageRef { zone, head, pfn: zone.page_to_pfn(head) }
    }

    /// Give up the handle without dropping the reference.
    pub fn into_raw(self) -> &'z Page {
        ManuallyDrop::new(self).head
    }

    /// The head pfn.
    pub fn pfn(&self) -> usize {
        self.pfn
    }

    /// The block's order, as recorded in its head.
    pub fn order(&self) -> usize {
        self.head.flags().order()
    }

    /// The head descriptor.
    pub fn page(&self) -> &'z Page {
        self.head
    }

    /// The zone it came from.
    pub fn zone(&self) -> &'z Zone<'z, S> {
        self.zone
    }

    /// Current number of references (a snapshot).
    pub fn count(&self) -> u32 {
        S::count(self.head.refcount())
    }

    /// `page_ref_freeze(page, 1)`: if this is the only reference, turn it into
    /// exclusive frozen ownership (speculative gets fail from now on);
    /// otherwise give the reference back.
    pub fn try_freeze(self) -> Result<FrozenPages<'z, S>, Self> {
        if S::freeze(self.head.refcount(), 1) {
            let this = ManuallyDrop::new(self);
            let order = this.head.flags().order();
            Ok(FrozenPages { zone: this.zone, head: this.head, pfn: this.pfn, order })
        } else {
            Err(self)
        }
    }
}

impl<S: RefcountScheme> Clone for PageRef<'_, S> {
    /// `get_page`.
    fn clone(&self) -> Self {
        let _ = self.zone.get_page(self.head);
        PageRef { zone: self.zone, head: self.head, pfn: self.pfn }
    }
}

impl<S: RefcountScheme> Drop for PageRef<'_, S> {
    /// `put_page`: frees the block if this was the last reference.
    fn drop(&mut self) {
        let _ = self.zone.put_head(self.head, 1);
    }
}

impl<S: RefcountScheme> fmt::Debug for PageRef<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PageRef {{ pfn: {:#x}, count: {} }}", self.pfn, self.count())
    }
}

impl<'m, S: RefcountScheme> Zone<'m, S> {
    /// [`alloc_frozen_pages`](Self::alloc_frozen_pages) as an owning handle.
    pub fn alloc_frozen(&self, order: usize) -> Option<FrozenPages<'_, S>> {
        let head = self.alloc_frozen_pages(order)?;
        Some(FrozenPages { zone: self, head, pfn: self.page_to_pfn(head), order })
    }

    /// [`alloc_pages`](Self::alloc_pages) as a counted reference.
    pub fn alloc(&self, order: usize) -> Option<PageRef<'_, S>> {
        Some(self.alloc_frozen(order)?.into_counted())
    }
}

//! Bad-page reports: what misuse was detected, on which page.
//!
//! Detection runs in every build (not only debug), because a missed double
//! free corrupts the free lists silently and much later. A report is logged
//! through `log` as
//! `BUG: Bad page state: pfn=0x... count=0x... flags=... order=N <reason>`,
//! counted in the zone, kept as [`Zone::last_bad_page`](super::Zone::last_bad_page)
//! (every report of one locked batch is logged once the locks are dropped,
//! see `PendingReports`),
//! and the block involved is quarantined (`PG_quarantined`: it never reaches a
//! free list again) unless it is already free, in which case the free lists are
//! left exactly as they were.

use crate::page::PageFlags;
use crate::refcount::{RefcountBug, RefcountBugKind};
use core::fmt;

/// One detected misuse. See the module docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadPage {
    /// The page the operation was applied to; `None` if it is not a
    /// descriptor of the zone's memmap at all.
    pub pfn: Option<usize>,
    /// Its raw refcount word when the misuse was found.
    pub count: u32,
    /// Its flags at that moment.
    pub flags: PageFlags,
    /// The order the caller passed (frees) or the page's recorded order.
    pub order: usize,
    /// What was attempted and why it is wrong.
    pub reason: BadPageReason,
    /// Whether a block was quarantined because of it.
    pub quarantined: bool,
}

/// What was attempted. Free paths first, then refcount misuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadPageReason {
    /// `free_frozen_pages` of a page that is already free (including one
    /// inside a larger free block after merging).
    DoubleFree,
    /// `free_frozen_pages` of a page whose refcount is not frozen.
    NotFrozen,
    /// `free_frozen_pages` of a tail page of a compound block.
    TailPage,
    /// `free_frozen_pages` with an order different from the allocation's.
    WrongOrder {
        /// The order recorded in the block's head.
        allocated: usize,
    },
    /// `free_frozen_pages` with `order > MAX_ORDER`.
    OrderTooLarge,
    /// `free_frozen_pages` of a page the allocator never managed.
    Reserved,
    /// `free_frozen_pages` of a block outside the zone's span.
    OutsideZone,
    /// `free_frozen_pages` of something that is not a descriptor of the memmap.
    NotInMemmap,
    /// A tail page of the block being freed is not a tail of it.
    CorruptCompound,
    /// The allocator found a non-frozen or flagged page in a free block.
    FreeListCorrupt,
    /// `Zone::page_ref_unfreeze` of a page that is not the head of an
    /// allocated block of the zone (a free page, a tail, a reserved page or
    /// another zone's): refused before the counter is touched, because the
    /// exchange alone cannot tell "frozen by its owner" from "free".
    UnfreezeNotAllocated,
    /// A refcount operation found the counter in a state its contract
    /// excludes (`get_page` without a reference, `put_page` on a frozen page,
    /// underflow, overflow, an argument out of range, an unfreeze of a page
    /// that is not frozen): the scheme's own report.
    Refcount(RefcountBugKind),
}

impl From<RefcountBugKind> for BadPageReason {
    fn from(k: RefcountBugKind) -> Self {
        BadPageReason::Refcount(k)
    }
}

impl From<RefcountBug> for BadPageReason {
    fn from(b: RefcountBug) -> Self {
        b.kind.into()
    }
}

impl fmt::Display for BadPageReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadPageReason::DoubleFree => f.write_str("double free"),
            BadPageReason::NotFrozen => f.write_str("freeing a page that is not frozen"),
            BadPageReason::TailPage => f.write_str("freeing a tail page"),
            BadPageReason::WrongOrder { allocated } => {
                write!(f, "freeing with the wrong order (allocated with order {allocated})")
            }
            BadPageReason::OrderTooLarge => f.write_str("freeing with order > MAX_ORDER"),
            BadPageReason::Reserved => f.write_str("freeing a reserved page"),
            BadPageReason::OutsideZone => f.write_str("freeing a block outside the zone"),
            BadPageReason::NotInMemmap => f.write_str("freeing a page that is not in the memmap"),
            BadPageReason::CorruptCompound => f.write_str("corrupted compound tail"),
            BadPageReason::FreeListCorrupt => {
                f.write_str("non-frozen or flagged page in a free block")
            }
            BadPageReason::UnfreezeNotAllocated => {
                f.write_str("page_ref_unfreeze on a page that is not an allocated head")
            }
            BadPageReason::Refcount(kind) => fmt::Display::fmt(kind, f),
        }
    }
}

/// `BUG: Bad page state: pfn=0x1234 count=0x80000000 flags=0x...(...) order=0 double free`
impl fmt::Display for BadPage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BUG: Bad page state: pfn=")?;
        match self.pfn {
            Some(pfn) => write!(f, "{pfn:#x}")?,
            None => f.write_str("none")?,
        }
        write!(
            f,
            " count={:#010x} flags={} order={} {}",
            self.count, self.flags, self.order, self.reason
        )?;
        if self.quarantined {
            f.write_str(" (block quarantined)")?;
        }
        Ok(())
    }
}

/// Reports found under a lock, kept until the locks are dropped and then
/// logged, every one of them: a batch (a per-CPU refill, a drain, a zone
/// allocation) can find several bad blocks, and logging must wait because
/// the logger may allocate (the heap grows from this allocator). Holds up to
/// [`PENDING_REPORTS`] reports; any beyond are counted and logged as one
/// summary line (each was still counted in the zone when found).
pub(super) struct PendingReports {
    reports: [Option<BadPage>; PENDING_REPORTS],
    /// Reports kept (the first `len` slots).
    len: usize,
    /// Reports that did not fit.
    dropped: usize,
}

/// Reports one batch keeps for logging (see [`PendingReports`]).
pub(super) const PENDING_REPORTS: usize = 4;

impl PendingReports {
    /// No report yet.
    #[inline]
    pub(super) const fn new() -> Self {
        PendingReports { reports: [None; PENDING_REPORTS], len: 0, dropped: 0 }
    }

    /// Keep `bad` for [`log`](Self::log).
    pub(super) fn push(&mut self, bad: BadPage) {
        if self.len < PENDING_REPORTS {
            self.reports[self.len] = Some(bad);
            self.len += 1;
        } else {
            self.dropped += 1;
        }
    }

    /// Log every kept report, in the order found, then one line for those
    /// that did not fit. Call with no allocator lock held.
    #[inline]
    pub(super) fn log(self) {
        if self.len == 0 {
            return;
        }
        self.log_all();
    }

    #[cold]
    fn log_all(self) {
        for bad in self.reports.iter().flatten() {
            log::error!("{bad}");
        }
        if self.dropped > 0 {
            log::error!(
                "BUG: Bad page state: {} more bad blocks in the same batch (counted, not shown)",
                self.dropped
            );
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::string::ToString;

    /// The reports' words, which logs and the kernel's tests are read by:
    /// a refcount misuse reads as the scheme's own report.
    #[test]
    fn reason_texts() {
        use RefcountBugKind::*;
        let cases = [
            (BadPageReason::DoubleFree, "double free"),
            (
                BadPageReason::WrongOrder { allocated: 2 },
                "freeing with the wrong order (allocated with order 2)",
            ),
            (
                BadPageReason::UnfreezeNotAllocated,
                "page_ref_unfreeze on a page that is not an allocated head",
            ),
            (BadPageReason::Refcount(GetWithoutRef), "get_page on a page without references"),
            (BadPageReason::Refcount(PutOnFrozen), "put_page on a frozen page"),
            (BadPageReason::Refcount(Underflow), "refcount underflow"),
            (BadPageReason::Refcount(Overflow), "refcount overflow"),
            (BadPageReason::Refcount(InvalidArgument), "refcount argument out of range"),
            (
                BadPageReason::Refcount(UnfreezeNotFrozen),
                "page_ref_unfreeze on a page that is not frozen",
            ),
        ];
        for (reason, text) in cases {
            assert_eq!(reason.to_string(), text);
        }
        let bug = RefcountBug { raw: 0x8000_0000, kind: PutOnFrozen };
        assert_eq!(BadPageReason::from(bug), BadPageReason::Refcount(PutOnFrozen));
    }
}

//! Internal tests: free-list mechanics, and the checks themselves: each kind
//! of corrupted descriptor or counter that `verify_free_lists`, the free
//! path and the allocation path must catch is made here by hand (from inside
//! the crate) and must be caught. A checker that never fails proves nothing;
//! these tests are what kills the cargo-mutants mutants of those checks
//! (docs/testing.md).

use crate::page::{Page, PageFlags};
use crate::refcount::RefcountScheme;
use crate::testing;
use crate::{BadPageReason, MAX_ORDER, Zone};
use std::string::String;

fn zone<S: RefcountScheme>() -> Zone<'static, S> {
    // Two max-order blocks.
    testing::zone::<S>(&[0..2 << MAX_ORDER])
}

fn split_and_merge<S: RefcountScheme>() {
    let z = zone::<S>();
    assert_eq!(z.stats().nr_free[MAX_ORDER], 2);
    let p = z.alloc_frozen_pages(0).unwrap();
    let base = z.page_to_pfn(p);
    assert_eq!(base % (1 << MAX_ORDER), 0);
    // One block of each order 0..MAX_ORDER split off, plus the untouched one.
    let nr = z.stats().nr_free;
    assert_eq!(&nr[..MAX_ORDER], &[1; MAX_ORDER]);
    assert_eq!(nr[MAX_ORDER], 1);
    z.verify_free_lists().unwrap();
    for o in 0..MAX_ORDER {
        assert!(z.is_page_free(base + (1 << o)));
    }
    assert!(!z.is_page_free(base));
    z.free_frozen_pages(p, 0).unwrap();
    assert_eq!(z.stats().nr_free[MAX_ORDER], 2);
    assert!(z.is_page_free(0) && z.is_page_free(1023) && z.is_page_free(2047));
    z.verify_free_lists().unwrap();
}

fn list_del_from_middle<S: RefcountScheme>() {
    let z = zone::<S>();
    // Allocate all order-0 pages of the first 8, free 0, 2, 4 (three order-0
    // blocks on one list), then 5: merging 4+5 unlinks 4 from the middle.
    let pages: std::vec::Vec<_> = (0..8).map(|_| z.alloc_frozen_pages(0).unwrap()).collect();
    for i in [0, 2, 4] {
        z.free_frozen_pages(pages[i], 0).unwrap();
    }
    z.verify_free_lists().unwrap();
    z.free_frozen_pages(pages[5], 0).unwrap();
    z.verify_free_lists().unwrap();
    for i in [1, 3, 6, 7] {
        z.free_frozen_pages(pages[i], 0).unwrap();
        z.verify_free_lists().unwrap();
    }
    assert_eq!(z.stats().nr_free[MAX_ORDER], 2);
}

/// A zone (two max-order blocks) after one order-0 allocation: the split left
/// one free buddy block of each order 0..MAX_ORDER at `base + 2^o`. Returns
/// the zone and `base` (the allocated page's pfn).
fn split_zone<S: RefcountScheme>() -> (Zone<'static, S>, usize) {
    let z = zone::<S>();
    let p = z.alloc_frozen_pages(0).unwrap();
    let base = z.page_to_pfn(p);
    z.verify_free_lists().unwrap();
    (z, base)
}

/// `verify_free_lists` on `z` must fail, naming `want`.
pub(super) fn assert_caught<S: RefcountScheme>(z: &Zone<'_, S>, want: &str) {
    let err: String = z.verify_free_lists().expect_err("corruption not caught");
    assert!(err.contains(want), "caught, but as {err:?} (want {want:?})");
}

fn desc<S: RefcountScheme>(z: &Zone<'_, S>, pfn: usize) -> &'static Page {
    z.memmap.pfn_to_page(pfn).unwrap()
}

/// Each kind of corruption of the buddy free lists and the zone's counters
/// is caught by `verify_free_lists`.
fn verify_catches_buddy_corruption<S: RefcountScheme>() {
    // A free head that is not frozen (order-0 block at base + 1).
    let (z, b) = split_zone::<S>();
    desc(&z, b + 1).refcount().store(S::raw_of_count(1), core::sync::atomic::Ordering::Relaxed);
    assert_caught(&z, "not frozen");
    // A free head stamped with another zone's id (state and order intact;
    // `with_zone` keeps only the slot bits).
    let (z, b) = split_zone::<S>();
    let head = desc(&z, b + 1);
    head.set_flags(head.flags().with_zone(z.id % 63 + 1).with(PageFlags::BUDDY).with_order(0));
    assert_caught(&z, "has flags");
    // A page inside a free block (order 1 at base + 2) with a flag set ...
    let (z, b) = split_zone::<S>();
    let inner = desc(&z, b + 3);
    inner.set_flags(inner.flags().with(PageFlags::TAIL));
    assert_caught(&z, "inside free block");
    // ... or not frozen ...
    let (z, b) = split_zone::<S>();
    desc(&z, b + 3).refcount().store(S::raw_of_count(1), core::sync::atomic::Ordering::Relaxed);
    assert_caught(&z, "inside free block");
    // ... or of another zone.
    let (z, b) = split_zone::<S>();
    let inner = desc(&z, b + 3);
    inner.set_flags(inner.flags().with_zone(z.id % 63 + 1));
    assert_caught(&z, "inside free block");
    // A broken back link (order-2 block at base + 4, alone on its list).
    let (z, b) = split_zone::<S>();
    desc(&z, b + 4).set_prev(z.link(b + 8));
    assert_caught(&z, "prev");
    // A list's block counter off by one.
    let (z, _) = split_zone::<S>();
    z.inner.lock().free_area[3].nr_free += 1;
    assert_caught(&z, "blocks listed");
    // The zone's free-page counter off by one.
    let (z, _) = split_zone::<S>();
    z.inner.lock().free += 1;
    assert_caught(&z, "free pages listed");
    // More pages free, cached and quarantined than managed: one page on a
    // per-CPU list, none allocated, one counted as quarantined.
    let (z, b) = split_zone::<S>();
    z.free_frozen_pages_pcp(0, desc(&z, b), 0).unwrap();
    z.verify_free_lists().unwrap();
    z.inner.lock().quarantined += 1;
    assert_caught(&z, "exceed managed");
}

/// Frees (zone path, and the per-CPU path, which hands doubtful blocks to
/// the zone path) check every tail of a compound block: a tail without
/// `PG_tail`, or pointing at another head, is reported and the block
/// quarantined.
fn free_checks_every_tail<S: RefcountScheme>() {
    type Corrupt = fn(&Page, usize);
    let corruptions: [Corrupt; 2] = [
        |tail, _| tail.set_flags(tail.flags().cleared()),
        // The last tail (3 from its head) names the page after the head.
        |tail, _| tail.set_next(1),
    ];
    for (i, corrupt) in corruptions.into_iter().enumerate() {
        for pcp in [false, true] {
            let z = zone::<S>();
            let p = z.alloc_frozen_pages(2).unwrap();
            let pfn = z.page_to_pfn(p);
            // The last tail: a check that stops early misses it.
            corrupt(desc(&z, pfn + 3), pfn);
            let bad =
                if pcp { z.free_frozen_pages_pcp(0, p, 2) } else { z.free_frozen_pages(p, 2) }
                    .expect_err("corrupt compound block freed");
            assert_eq!(bad.reason, BadPageReason::CorruptCompound, "case {i}, pcp {pcp}");
            assert!(bad.quarantined, "case {i}, pcp {pcp}: {bad}");
            assert_eq!(z.quarantined_pages(), 4);
            z.verify_free_lists().unwrap();
        }
    }
}

/// A head whose descriptors claim a block that is not naturally aligned
/// (a corrupted order-1 "block" at an odd pfn, with a consistent tail) is
/// refused by both free paths instead of being linked.
fn free_refuses_misaligned_block<S: RefcountScheme>() {
    for pcp in [false, true] {
        let z = zone::<S>();
        let p = z.alloc_frozen_pages(2).unwrap();
        let pfn = z.page_to_pfn(p);
        let (h, t) = (desc(&z, pfn + 1), desc(&z, pfn + 2));
        h.set_flags(h.flags().cleared().allocated_head(1));
        t.set_next(1); // one past the fake head at pfn + 1
        let bad = if pcp { z.free_frozen_pages_pcp(0, h, 1) } else { z.free_frozen_pages(h, 1) }
            .expect_err("misaligned block freed");
        assert_eq!(bad.reason, BadPageReason::OutsideZone, "pcp {pcp}: {bad}");
        z.verify_free_lists().unwrap();
        assert_eq!(z.nr_pcp_pages(0), 0);
    }
}

/// A head whose (corrupted) order makes its block reach past the end of the
/// span is refused as outside the zone by both free paths, before any tail
/// beyond the span is looked at. (Span 0..998: the last order-1 block is at
/// 996; made to claim order 2, it would cover 996..1000.)
fn free_refuses_block_past_span_end<S: RefcountScheme>() {
    for pcp in [false, true] {
        let z = testing::zone::<S>(&[0..998]);
        let p = core::iter::from_fn(|| z.alloc_frozen_pages(1))
            .find(|p| z.page_to_pfn(p) == 996)
            .expect("the order-1 block at 996");
        p.set_flags(p.flags().cleared().allocated_head(2));
        let bad = if pcp { z.free_frozen_pages_pcp(0, p, 2) } else { z.free_frozen_pages(p, 2) }
            .expect_err("block past the span freed");
        assert_eq!(bad.reason, BadPageReason::OutsideZone, "pcp {pcp}: {bad}");
        z.verify_free_lists().unwrap();
    }
}

/// A free block with an inner page of another zone is never handed out: the
/// allocation's check reports it and quarantines the block.
fn alloc_checks_inner_zone_id<S: RefcountScheme>() {
    let z = zone::<S>();
    for block in 0..2 {
        let inner = desc(&z, (block << MAX_ORDER) + 5);
        inner.set_flags(inner.flags().with_zone(z.id % 63 + 1));
    }
    assert!(z.alloc_frozen_pages(MAX_ORDER).is_none(), "corrupt block handed out");
    assert_eq!(z.bad_page_count(), 2);
    assert_eq!(z.last_bad_page().unwrap().reason, BadPageReason::FreeListCorrupt);
    assert_eq!(z.quarantined_pages(), 2 << MAX_ORDER);
}

// The corruption tests check the checkers' logic, with no unsafe code of
// their own (`pfn_to_block` is Miri-tested in memmap.rs), and each builds
// several 2048-page zones, too slow for make test's Miri step
// (docs/decisions/miri-quick-set.md), so Miri skips them.
crate::for_each_scheme!(
    split_and_merge,
    list_del_from_middle,
    #[cfg_attr(miri, ignore)]
    verify_catches_buddy_corruption,
    #[cfg_attr(miri, ignore)]
    free_checks_every_tail,
    #[cfg_attr(miri, ignore)]
    free_refuses_misaligned_block,
    #[cfg_attr(miri, ignore)]
    free_refuses_block_past_span_end,
    #[cfg_attr(miri, ignore)]
    alloc_checks_inner_zone_id,
);

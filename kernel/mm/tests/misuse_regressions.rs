//! Misuse the allocator once let through, one test each, every scheme:
//! double frees through a per-CPU list racing zone traffic, `get_page`
//! misuse racing per-CPU traffic, a stray counter write on a cached page, a
//! double report from `put_page_pcp`, unfreeze and speculative-get inputs
//! that could revive or wrap a counter, an allocation that must drain the
//! per-CPU lists, and overlapping zones. Each must be refused (or survived)
//! in debug and release builds; docs/testing.md lists what each one guards.

mod common;
use common::*;
use mm::{BadPageReason, PCP_HIGH, RefcountBugKind};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use std::vec::Vec;

mm::for_each_scheme!(
    pcp_double_free_inside_free_block_races_zone,
    get_page_misuse_races_pcp_traffic,
    pcp_alloc_checks_cached_block,
    put_page_pcp_reports_once,
    unfreeze_to_zero_refused,
    unfreeze_live_page_refused,
    get_nr_out_of_range_refused,
    empty_zone_drains_pcp_every_order,
    overlapping_zones_never_merge_across,
);

/// Runs (races) per test: enough to hit a race window of one check-then-act
/// free about half the time per run (the first test), small under Miri.
const RUNS: usize = if cfg!(miri) { 1 } else { 20 };
const ITERS: usize = if cfg!(miri) { 30 } else { 2000 };

/// A free through a per-CPU list of pfn 1, which lies
/// inside a free order-10 block, racing with another thread's zone traffic
/// on that block. It must never be accepted, and after draining no page is
/// handed out twice.
fn pcp_double_free_inside_free_block_races_zone<S: RefcountScheme>() {
    for _ in 0..RUNS {
        let z = Arc::new(zone::<S>(1));
        let stop = Arc::new(AtomicBool::new(false));
        let b = {
            let (z, stop) = (z.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Relaxed) {
                    let p = z.alloc_frozen_pages(0).unwrap();
                    z.free_frozen_pages(p, 0).unwrap();
                }
            })
        };
        let victim = z.pfn_to_page(1).unwrap();
        let mut accepted = 0;
        for _ in 0..ITERS {
            if z.free_frozen_pages_pcp(0, victim, 0).is_ok() {
                accepted += 1;
                break;
            }
        }
        stop.store(true, Relaxed);
        b.join().unwrap();
        assert_eq!(accepted, 0, "double free of pfn 1 (inside a free block) accepted");
        z.verify_free_lists().unwrap();
        z.drain_all_pages();
        z.verify_free_lists().unwrap();
        let mut seen = BTreeSet::new();
        while let Some(p) = z.alloc_frozen_pages(0) {
            assert!(seen.insert(z.page_to_pfn(p)), "pfn {} handed out twice", z.page_to_pfn(p));
        }
    }
}

/// One thread allocates and frees order-0 pages
/// through CPU 0's list and publishes each pfn; another calls the misuse
/// `Zone::get_page` on the published page (which quarantines it). No
/// quarantine or per-CPU mark may be lost: quarantined + free + cached pages
/// never exceed the managed pages, and the lists stay consistent.
fn get_page_misuse_races_pcp_traffic<S: RefcountScheme>() {
    for _ in 0..RUNS.div_ceil(4) {
        let z = Arc::new(zone::<S>(1));
        let published = Arc::new(AtomicUsize::new(usize::MAX));
        let stop = Arc::new(AtomicBool::new(false));
        let misuser = {
            let (z, published, stop) = (z.clone(), published.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Relaxed) {
                    let pfn = published.load(Acquire);
                    if pfn != usize::MAX {
                        let _ = z.get_page(z.pfn_to_page(pfn).unwrap());
                    }
                    std::thread::yield_now();
                }
            })
        };
        for _ in 0..ITERS {
            let Some(p) = z.alloc_frozen_pages_pcp(0, 0) else { break };
            published.store(z.page_to_pfn(p), Release);
            std::thread::yield_now();
            // The misuse may have quarantined it: then the free is swallowed.
            let _ = z.free_frozen_pages_pcp(0, p, 0);
        }
        stop.store(true, Relaxed);
        misuser.join().unwrap();
        let s = z.stats();
        assert!(
            s.quarantined + s.free + z.nr_pcp_pages(0) <= s.managed,
            "quarantined {} + free {} + cached {} > managed {}",
            s.quarantined,
            s.free,
            z.nr_pcp_pages(0),
            s.managed
        );
        z.verify_free_lists().unwrap();
        z.drain_all_pages();
        let s = z.stats();
        assert_eq!(s.quarantined + s.free, s.managed, "pages lost or counted twice");
        z.verify_free_lists().unwrap();
    }
}

/// A cached page whose counter a stray `init_page_count` set to 1 is
/// reported and quarantined by the per-CPU allocation, never handed out.
fn pcp_alloc_checks_cached_block<S: RefcountScheme>() {
    let z = zone::<S>(1);
    let p = z.alloc_frozen_pages_pcp(0, 0).unwrap();
    let pfn = z.page_to_pfn(p);
    z.free_frozen_pages_pcp(0, p, 0).unwrap();
    S::init_count(p.refcount()); // the stray write to a free page
    let q = z.alloc_frozen_pages_pcp(0, 0).unwrap();
    assert_ne!(z.page_to_pfn(q), pfn, "a corrupted cached page was handed out");
    assert_eq!(z.bad_page_count(), 1);
    let bad = z.last_bad_page().unwrap();
    assert_eq!(
        (bad.pfn, bad.reason, bad.quarantined),
        (Some(pfn), BadPageReason::FreeListCorrupt, true)
    );
    assert_eq!(z.quarantined_pages(), 1);
    z.free_frozen_pages_pcp(0, q, 0).unwrap();
    z.drain_all_pages();
    z.verify_free_lists().unwrap();
    assert_eq!(z.nr_free_pages() + 1, z.managed_pages());
}

/// `put_page_pcp` on a page whose counter holds a lasting 0 reports
/// once and does not put a second time.
fn put_page_pcp_reports_once<S: RefcountScheme>() {
    let z = zone::<S>(1);
    let p = z.alloc_pages_pcp(0, 0).unwrap();
    p.refcount().store(S::raw_of_count(0), SeqCst); // lasting count 0
    let first = z.put_page_pcp(0, p).unwrap_err();
    // The report is the first put's: the frozen scheme finds 0 < 1
    // (underflow), the legacy one a dead page. A second put would report
    // PutOnFrozen in the frozen scheme instead, and hide the first.
    let want = if S::TRANSIENT_ZERO {
        BadPageReason::Refcount(RefcountBugKind::Underflow)
    } else {
        BadPageReason::Refcount(RefcountBugKind::PutOnFrozen)
    };
    assert_eq!(first.reason, want);
    assert_eq!(z.bad_page_count(), 1, "put_page_pcp reported (and put) twice");
    // The counter was not decremented twice: it is frozen, never revivable.
    assert!(S::is_frozen(S::raw(p.refcount())));
    assert!(!S::add_unless_frozen(p.refcount(), 1));
}

/// `page_ref_unfreeze(page, 0)` on a frozen page must not leave a
/// revivable 0 behind.
fn unfreeze_to_zero_refused<S: RefcountScheme>() {
    let page = Page::new(S::FROZEN);
    let _ = S::unfreeze(page.refcount(), 0);
    assert!(S::is_frozen(S::raw(page.refcount())), "{:#x}", S::raw(page.refcount()));
    assert!(!S::add_unless_frozen(page.refcount(), 1), "a speculative get revived the page");
}

/// Unfreeze of a page that is not frozen is refused in every build;
/// the live count survives.
fn unfreeze_live_page_refused<S: RefcountScheme>() {
    let page = Page::new(S::FROZEN);
    let _ = S::unfreeze(page.refcount(), 3);
    let _ = S::unfreeze(page.refcount(), 1); // misuse: not frozen
    assert_eq!(S::count(page.refcount()), 3, "the live count was overwritten");
}

/// A speculative get with an `nr` large enough to carry a frozen value
/// with leftovers (or an owned count) around into the owned range fails.
fn get_nr_out_of_range_refused<S: RefcountScheme>() {
    let page = Page::new(S::FROZEN);
    let c = page.refcount();
    if S::TRANSIENT_ZERO {
        // Frozen with the leftovers of 5 failed gets (whatever the layout's
        // step).
        let leftovers = S::raw_of_count(5).wrapping_sub(S::raw_of_count(0));
        c.store(S::FROZEN.wrapping_add(leftovers), SeqCst);
        assert!(!S::add_unless_frozen(c, 0x8000_0000 - 5), "frozen page revived");
        assert!(S::is_frozen(S::raw(c)));
    }
    let _ = S::unfreeze(page.refcount(), 5);
    assert!(!S::add_unless_frozen(c, u32::MAX - 4), "owned count wrapped");
    assert_eq!(S::count(c), 5);
}

/// With every page cached on per-CPU lists and the zone itself empty,
/// an allocation of any order drains the lists and succeeds.
fn empty_zone_drains_pcp_every_order<S: RefcountScheme>() {
    // Under Miri (slow): the smallest and the largest order only.
    let orders: Vec<usize> =
        if cfg!(miri) { vec![0, MAX_ORDER] } else { (0..=MAX_ORDER).collect() };
    for order in orders {
        let z = zone::<S>(1);
        let pages: Vec<_> = (0..1 << MAX_ORDER).map(|_| z.alloc_frozen_pages(0).unwrap()).collect();
        // Spread over CPUs, each below its high watermark: nothing drains.
        let per_cpu = PCP_HIGH / 2;
        for (i, p) in pages.into_iter().enumerate() {
            z.free_frozen_pages_pcp(i / per_cpu, p, 0).unwrap();
        }
        assert_eq!(z.nr_free_pages(), 0);
        let p = z.alloc_frozen_pages(order);
        assert!(p.is_some(), "order-{order} allocation failed with all memory cached");
        z.free_frozen_pages(p.unwrap(), order).unwrap();
        z.drain_all_pages();
        assert_fully_merged(&z, 1);
    }
}

/// Two zones with overlapping spans over one memmap; each manages
/// half. Freeing in one must never merge with (or hand out) the other's pages.
fn overlapping_zones_never_merge_across<S: RefcountScheme>() {
    let mm = testing::memmap::<S>(&[0..1 << MAX_ORDER]);
    let half = 1 << (MAX_ORDER - 1);
    let a = Zone::new("DMA", mm, 0..1 << MAX_ORDER);
    let b = Zone::new("Movable", mm, 0..1 << MAX_ORDER);
    a.free_memory_range(0, half).unwrap();
    b.free_memory_range(half, 1 << MAX_ORDER).unwrap();
    assert_eq!((a.nr_free_pages(), b.nr_free_pages()), (half, half));
    a.verify_free_lists().unwrap();
    b.verify_free_lists().unwrap();
    // Churn both, then take everything from each: only its own pages.
    for z in [&a, &b] {
        let p = z.alloc_frozen_pages_pcp(0, 0).unwrap();
        z.free_frozen_pages(p, 0).unwrap();
        z.drain_all_pages();
    }
    let own = |z: &Zone<'_, S>, range: std::ops::Range<usize>| {
        let mut n = 0;
        while let Some(p) = z.alloc_frozen_pages(0) {
            assert!(
                range.contains(&z.page_to_pfn(p)),
                "{} handed out pfn {}",
                z.name(),
                z.page_to_pfn(p)
            );
            n += 1;
        }
        n
    };
    assert_eq!(own(&a, 0..half), half);
    assert_eq!(own(&b, half..1 << MAX_ORDER), half);
    // A page of one zone freed into the other is refused.
    let foreign = mm.pfn_to_page(half).unwrap();
    assert_eq!(a.free_frozen_pages(foreign, 0).unwrap_err().reason, BadPageReason::OutsideZone);
}

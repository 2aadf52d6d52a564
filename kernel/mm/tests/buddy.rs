//! Buddy allocator behaviour through the public API, for every scheme.

mod common;
use common::*;
use mm::memmap::{PAGES_PER_SECTION, PAGES_PER_SUBSECTION};
use mm::{FrozenPages, MemMap, MemRangeError, PageRef};
use std::vec::Vec;

mm::for_each_scheme!(
    every_order_is_aligned_and_compound,
    exhaust_and_refill,
    alloc_pages_and_put,
    compound_refcount_through_tails,
    speculative_get,
    unaligned_ranges_are_cut_into_aligned_blocks,
    no_merge_across_zone_span,
    adjacent_zones_do_not_merge,
    free_memory_range_errors,
    frozen_handle,
    counted_handle,
    try_freeze,
    raw_round_trips,
    zone_accessors,
);

fn every_order_is_aligned_and_compound<S: RefcountScheme>() {
    let z = zone::<S>(2);
    // Every order natively; a sample under Miri, where each lookup is slow.
    let orders: &[usize] =
        if cfg!(miri) { &[0, 1, 4, MAX_ORDER] } else { &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10] };
    for &order in orders {
        let head = z.alloc_frozen_pages(order).unwrap();
        let pfn = z.page_to_pfn(head);
        assert_eq!(pfn % (1 << order), 0, "order {order} aligned");
        assert!(S::is_frozen(S::raw(head.refcount())), "alloc_frozen_pages gives a frozen head");
        assert_eq!(z.page_count(head), 0);
        let f = head.flags();
        assert_eq!(f.order(), order);
        assert_eq!(f.is_head(), order > 0);
        assert!(!f.is_buddy() && !f.is_tail() && !f.is_reserved());
        let step = if cfg!(miri) { 97 } else { 1 };
        for t in (pfn + 1..pfn + (1 << order)).step_by(step) {
            let tail = z.pfn_to_page(t).unwrap();
            assert!(tail.flags().is_tail());
            assert!(std::ptr::eq(z.memmap().compound_head(tail), head));
            assert!(!z.is_page_free(t));
        }
        assert!(z.alloc_frozen_pages(MAX_ORDER + 1).is_none());
        z.free_frozen_pages(head, order).unwrap();
        assert_fully_merged(&z, 2);
    }
    assert_eq!(z.bad_page_count(), 0);
}

fn exhaust_and_refill<S: RefcountScheme>() {
    let z = zone::<S>(1);
    let total = 1 << MAX_ORDER;
    let mut pages = Vec::new();
    // Mixed orders, then order 0 until empty.
    for order in [3, 0, 5, 1] {
        pages.push((z.alloc_frozen_pages(order).unwrap(), order));
    }
    // (Order 2 under Miri: a quarter of the allocations.)
    let fill = if cfg!(miri) { 2 } else { 0 };
    while let Some(p) = z.alloc_frozen_pages(fill) {
        pages.push((p, fill));
    }
    while let Some(p) = z.alloc_frozen_pages(0) {
        pages.push((p, 0));
    }
    assert_eq!(z.nr_free_pages(), 0);
    assert_eq!(pages.iter().map(|&(_, o)| 1 << o).sum::<usize>(), total);
    assert!(z.alloc_frozen_pages(0).is_none());
    // Free in an interleaved order so merges happen in every pattern.
    let (even, odd): (Vec<_>, Vec<_>) = pages.iter().enumerate().partition(|(i, _)| i % 2 == 0);
    for (_, &(p, o)) in odd.into_iter().chain(even) {
        z.free_frozen_pages(p, o).unwrap();
    }
    assert_fully_merged(&z, 1);
    let s = z.stats();
    assert_eq!((s.managed, s.free, s.bad_pages, s.quarantined), (total, total, 0, 0));
}

fn alloc_pages_and_put<S: RefcountScheme>() {
    let z = zone::<S>(1);
    let p = z.alloc_pages(2).unwrap();
    assert_eq!(z.page_count(p), 1);
    assert_eq!(S::raw(p.refcount()), S::raw_of_count(1));
    z.get_page(p).unwrap();
    assert_eq!(z.put_page(p), Ok(false));
    assert_eq!(z.nr_free_pages(), (1 << MAX_ORDER) - 4);
    assert_eq!(z.put_page(p), Ok(true), "last put frees");
    assert_eq!(S::raw(p.refcount()), S::FROZEN, "freed page is FROZEN");
    assert_fully_merged(&z, 1);
}

fn compound_refcount_through_tails<S: RefcountScheme>() {
    let z = zone::<S>(1);
    let head = z.alloc_pages(3).unwrap();
    let pfn = z.page_to_pfn(head);
    let tail = z.pfn_to_page(pfn + 5).unwrap();
    z.get_page(tail).unwrap();
    assert_eq!(z.page_count(tail), 2);
    assert_eq!(z.page_count(head), 2);
    assert!(S::is_frozen(S::raw(tail.refcount())), "tails are never counted");
    assert!(z.get_page_unless_frozen(tail));
    assert_eq!(z.page_count(head), 3);
    assert_eq!(z.put_page(tail), Ok(false));
    assert_eq!(z.put_page(tail), Ok(false));
    assert_eq!(z.put_page(tail), Ok(true), "last put through a tail frees the whole block");
    assert_fully_merged(&z, 1);
    // The zone-less page_ref functions act on the page itself: a speculative
    // get on a tail fails harmlessly.
    let head = z.alloc_pages(1).unwrap();
    let tail = z.pfn_to_page(z.page_to_pfn(head) + 1).unwrap();
    assert!(!S::add_unless_frozen(tail.refcount(), 1));
    assert_eq!(z.put_page(head), Ok(true));
    assert_eq!(z.bad_page_count(), 0);
}

fn speculative_get<S: RefcountScheme>() {
    let z = zone::<S>(1);
    let p = z.alloc_pages(0).unwrap();
    assert!(z.get_page_unless_frozen(p));
    assert_eq!(z.put_page(p), Ok(false));
    assert_eq!(z.put_page(p), Ok(true));
    // Stale get on the freed page fails and leaves only hidden leftovers...
    assert!(!z.get_page_unless_frozen(p));
    assert!(!z.get_page_unless_frozen(p));
    assert_eq!(z.page_count(p), 0);
    z.verify_free_lists().unwrap();
    // ...which the next allocation erases.
    let q = z.alloc_pages(0).unwrap();
    assert!(std::ptr::eq(p, q), "LIFO reuse");
    assert_eq!(S::raw(q.refcount()), S::raw_of_count(1));
    // A stale get on a reallocated page succeeds: it is owned again.
    assert!(z.get_page_unless_frozen(p));
    assert_eq!(z.page_count(q), 2);
    assert_eq!(z.put_page(p), Ok(false));
    assert_eq!(z.put_page(q), Ok(true));
    // Frozen-allocated pages refuse speculative gets.
    let f = z.alloc_frozen_pages(0).unwrap();
    assert!(!z.get_page_unless_frozen(f));
    z.free_frozen_pages(f, 0).unwrap();
    assert_fully_merged(&z, 1);
}

fn unaligned_ranges_are_cut_into_aligned_blocks<S: RefcountScheme>() {
    let mm = testing::memmap(&[0..3000]);
    let z = Zone::<S>::new("Normal", mm, 0..3000);
    assert_eq!(z.free_memory_range(3, 1029), Ok(1026));
    // 3 (o0), 4-7 (o2), 8-15 (o3), ..., 512-1023 (o9), 1024-1027 (o2), 1028 (o0).
    let s = z.stats();
    assert_eq!(s.managed, 1026);
    assert_eq!(s.nr_free, [2, 0, 2, 1, 1, 1, 1, 1, 1, 1, 0]);
    // The missing pieces merge everything into whole blocks.
    z.free_memory_range(0, 3).unwrap();
    z.free_memory_range(1029, 2048).unwrap();
    assert_fully_merged(&z, 2);
    assert_eq!(z.stats().reserved, 3000 - 2048);
    // Pages never handed over stay reserved.
    assert!(z.pfn_to_page(2500).unwrap().flags().is_reserved());
}

fn no_merge_across_zone_span<S: RefcountScheme>() {
    let mm = testing::memmap(&[0..2048]);
    let z = Zone::<S>::new("Normal", mm, 0..1536);
    z.free_memory_range(0, 1536).unwrap();
    let s = z.stats();
    assert_eq!((s.nr_free[MAX_ORDER], s.nr_free[MAX_ORDER - 1]), (1, 1));
    let p = z.alloc_frozen_pages(MAX_ORDER - 1).unwrap();
    z.free_frozen_pages(p, MAX_ORDER - 1).unwrap();
    let s = z.stats();
    assert_eq!((s.nr_free[MAX_ORDER], s.nr_free[MAX_ORDER - 1]), (1, 1));
    z.verify_free_lists().unwrap();
    // A page of the memmap beyond the span, which no zone manages, is
    // refused as outside the zone (not merely as reserved).
    let bad = z.free_frozen_pages(mm.pfn_to_page(1600).unwrap(), 0).unwrap_err();
    assert_eq!(bad.reason, mm::BadPageReason::OutsideZone);
}

/// The zone's small accessors: ids (distinct, `1..=63`, stamped into the
/// pages each zone manages), `stats` (reserved = present - managed),
/// `nr_free` per order, and the `Debug` form.
fn zone_accessors<S: RefcountScheme>() {
    let mm = testing::memmap(&[0..2048]);
    let a = Zone::<S>::new("DMA", mm, 0..1024);
    let b = Zone::<S>::new("Normal", mm, 1024..2048);
    a.free_memory_range(0, 512).unwrap();
    b.free_memory_range(1024, 2048).unwrap();
    assert!((1..=63).contains(&a.id()) && (1..=63).contains(&b.id()));
    assert_ne!(a.id(), b.id());
    assert_eq!(mm.pfn_to_page(5).unwrap().flags().zone(), a.id());
    assert_eq!(mm.pfn_to_page(1500).unwrap().flags().zone(), b.id());
    let s = a.stats();
    assert_eq!((s.present, s.managed, s.reserved, s.free), (1024, 512, 512, 512));
    assert_eq!((s.spanned, b.stats().spanned), (1024, 1024));
    let p = b.alloc_frozen_pages(0).unwrap();
    let want: Vec<usize> = (0..=MAX_ORDER).map(|o| usize::from(o < MAX_ORDER)).collect();
    let got: Vec<usize> = (0..=MAX_ORDER).map(|o| b.nr_free(o)).collect();
    assert_eq!(got, want);
    assert_eq!(&got[..], &b.stats().nr_free[..]);
    b.free_frozen_pages(p, 0).unwrap();
    assert_eq!((b.nr_free(0), b.nr_free(MAX_ORDER)), (0, 1));
    let d = std::format!("{a:?}");
    assert!(d.contains("Zone") && d.contains("DMA") && d.contains(S::NAME), "{d}");
}

fn adjacent_zones_do_not_merge<S: RefcountScheme>() {
    let mm = testing::memmap(&[0..1024]);
    let a = Zone::<S>::new("DMA", mm, 0..512);
    let b = Zone::<S>::new("Normal", mm, 512..1024);
    a.free_memory_range(0, 512).unwrap();
    b.free_memory_range(512, 1024).unwrap();
    let pa = a.alloc_frozen_pages(0).unwrap();
    let pb = b.alloc_frozen_pages(0).unwrap();
    a.free_frozen_pages(pa, 0).unwrap();
    b.free_frozen_pages(pb, 0).unwrap();
    assert_eq!(a.stats().nr_free[9], 1);
    assert_eq!(b.stats().nr_free[9], 1);
    assert_eq!(a.stats().nr_free[10], 0);
    // A page of the other zone is refused.
    let bad = a.free_frozen_pages(mm.pfn_to_page(600).unwrap(), 0).unwrap_err();
    assert_eq!(bad.reason, mm::BadPageReason::OutsideZone);
    a.verify_free_lists().unwrap();
    b.verify_free_lists().unwrap();
}

fn free_memory_range_errors<S: RefcountScheme>() {
    let mm = testing::memmap(&[0..16]);
    let z = Zone::<S>::new("Normal", mm, 0..2 * PAGES_PER_SECTION);
    // Descriptors exist for the one 2 MiB subsection that has RAM.
    assert_eq!(z.stats().present, PAGES_PER_SUBSECTION);
    assert_eq!(
        z.free_memory_range(0, 2 * PAGES_PER_SECTION + 1),
        Err(MemRangeError::OutsideZone(2 * PAGES_PER_SECTION))
    );
    assert_eq!(
        z.free_memory_range(PAGES_PER_SUBSECTION - 1, PAGES_PER_SUBSECTION + 1),
        Err(MemRangeError::NoMemmap(PAGES_PER_SUBSECTION))
    );
    assert_eq!(z.managed_pages(), 0, "a refused range changes nothing");
    z.free_memory_range(0, 8).unwrap();
    assert_eq!(z.free_memory_range(4, 12), Err(MemRangeError::NotReserved(4)));
    assert_eq!(z.managed_pages(), 8);
    assert_eq!(z.free_memory_range(5, 5), Ok(0));
    // A reversed range inside the span is refused too.
    assert_eq!(z.free_memory_range(12, 10), Err(MemRangeError::OutsideZone(12)));
    // The zone's name, and the error text.
    assert_eq!(z.name(), "Normal");
    assert_eq!(std::format!("{}", MemRangeError::NotReserved(4)), "pfn 0x4 is not reserved");
}

fn frozen_handle<S: RefcountScheme>() {
    let z = zone::<S>(1);
    {
        let f: FrozenPages<'_, S> = z.alloc_frozen(4).unwrap();
        assert_eq!(f.order(), 4);
        assert_eq!(f.nr_pages(), 16);
        assert_eq!(f.pfn() % 16, 0);
        assert_eq!(z.page_to_pfn(f.page()), f.pfn());
        assert!(!z.get_page_unless_frozen(f.page()));
        assert_eq!(z.nr_free_pages(), 1024 - 16);
    }
    assert_fully_merged(&z, 1);
}

fn counted_handle<S: RefcountScheme>() {
    let z = zone::<S>(1);
    let r: PageRef<'_, S> = z.alloc(2).unwrap();
    assert_eq!((r.count(), r.order()), (1, 2));
    let r2 = r.clone();
    assert_eq!(r.count(), 2);
    let pfn = r.pfn();
    let tail = z.pfn_to_page(pfn + 3).unwrap();
    let r3 = PageRef::try_get(&z, tail).expect("owned block");
    assert_eq!((r3.pfn(), r.count()), (pfn, 3));
    drop(r);
    drop(r3);
    assert!(!z.is_page_free(pfn));
    drop(r2);
    assert!(z.is_page_free(pfn), "last drop frees");
    assert!(PageRef::try_get(&z, tail).is_none());
    assert_fully_merged(&z, 1);
    assert_eq!(z.bad_page_count(), 0);
}

fn try_freeze<S: RefcountScheme>() {
    let z = zone::<S>(1);
    let r = z.alloc(1).unwrap();
    let r2 = r.clone();
    let r = r.try_freeze().expect_err("two references");
    drop(r2);
    let f = r.try_freeze().expect("only reference");
    assert_eq!(f.order(), 1);
    assert!(!z.get_page_unless_frozen(f.page()));
    let r = f.into_counted();
    assert_eq!(r.count(), 1);
    drop(r);
    assert_fully_merged(&z, 1);
}

fn raw_round_trips<S: RefcountScheme>() {
    let z = zone::<S>(1);
    let (page, order) = z.alloc_frozen(3).unwrap().into_raw();
    assert_eq!(order, 3);
    let f = FrozenPages::from_raw(&z, page, order);
    let page = f.into_counted().into_raw();
    assert_eq!(z.page_count(page), 1);
    drop(PageRef::from_raw(&z, page));
    assert_fully_merged(&z, 1);
}

#[test]
fn buddyinfo_format() {
    let z = zone::<Frozen>(2);
    let p = z.alloc_frozen_pages(0).unwrap();
    assert_eq!(
        z.buddyinfo().to_string(),
        "Node 0, zone   Normal      1      1      1      1      1      1      1      1      1      1      1 "
    );
    z.free_frozen_pages(p, 0).unwrap();
    assert_eq!(
        z.buddyinfo().to_string(),
        "Node 0, zone   Normal      0      0      0      0      0      0      0      0      0      0      2 "
    );
}

/// The kernel keeps a `static MemMap` and a zone in a lazily initialised
/// static: both must work, and `Zone` must be `Sync`.
#[test]
fn statics() {
    static MEMMAP: MemMap = MemMap::new();
    static ZONE: std::sync::OnceLock<Zone<'static>> = std::sync::OnceLock::new();
    fn assert_sync<T: Sync + Send>() {}
    assert_sync::<Zone<'static, Frozen>>();
    assert_sync::<Zone<'static, Legacy>>();
    let ranges = [0..1024, 3 * PAGES_PER_SECTION..3 * PAGES_PER_SECTION + 1024];
    let bytes = MemMap::bytes_needed(&ranges);
    let descriptors = 4 * mm::memmap::SUBSECTION_BYTES;
    assert_eq!(bytes, descriptors + mm::memmap::table_bytes_needed(&ranges).next_multiple_of(16));
    let storage = Box::leak(Box::<[Page]>::new_uninit_slice(bytes / size_of::<Page>()));
    assert_eq!(MEMMAP.populate(&ranges, storage), Ok(2));
    assert_eq!(MEMMAP.overhead_bytes(), descriptors);
    let zone = ZONE.get_or_init(|| {
        let z = Zone::new("Normal", &MEMMAP, 0..3 * PAGES_PER_SECTION + 1024);
        for r in &ranges {
            z.free_memory_range(r.start, r.end).unwrap();
        }
        z
    });
    assert_eq!(zone.stats().nr_free[MAX_ORDER], 2);
    let p = zone.alloc(0).unwrap();
    std::thread::scope(|s| {
        s.spawn(|| drop(p.clone()));
    });
    drop(p);
    assert_eq!(zone.stats().nr_free[MAX_ORDER], 2);
}

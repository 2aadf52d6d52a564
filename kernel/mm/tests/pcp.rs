//! Per-CPU page lists: caching, batching, draining, misuse through the lists,
//! and several threads (standing in for CPUs) at once. Both schemes.

mod common;
use common::*;
use mm::{BadPageReason, PCP_BATCH, PCP_HIGH, PCP_MAX_ORDER, RefcountBugKind};
use proptest::prelude::*;
use std::sync::Arc;
use std::vec::Vec;

mm::for_each_scheme!(
    alloc_refills_a_batch,
    free_caches_then_drains_above_high,
    drain_all_merges_everything,
    double_free_through_pcp_is_reported,
    cached_page_counts_as_free_for_zone_free,
    tail_and_wrong_order_through_pcp,
    put_page_pcp_frees_on_last_ref,
    empty_zone_drains_other_cpus,
    threads_as_cpus,
    zone_for_4_cpus_uses_4_lists,
    lowering_the_cpu_count_drains_the_lists_left_out,
);

fn alloc_refills_a_batch<S: RefcountScheme>() {
    let z = zone::<S>(4);
    let free = z.nr_free_pages();
    let p = z.alloc_frozen_pages_pcp(0, 0).unwrap();
    // One page handed out, the rest of the batch cached on CPU 0.
    assert_eq!(z.nr_pcp_pages(0), PCP_BATCH - 1);
    assert_eq!(z.nr_free_pages(), free - PCP_BATCH);
    assert_eq!(z.nr_pcp_pages(1), 0);
    z.free_frozen_pages_pcp(0, p, 0).unwrap();
    assert_eq!(z.nr_pcp_pages(0), PCP_BATCH);
    z.drain_all_pages();
    assert_fully_merged(&z, 4);
}

fn free_caches_then_drains_above_high<S: RefcountScheme>() {
    let z = zone::<S>(4);
    let pages: Vec<&Page> =
        (0..PCP_HIGH + PCP_BATCH).map(|_| z.alloc_frozen_pages(0).unwrap()).collect();
    for p in pages {
        z.free_frozen_pages_pcp(2, p, 0).unwrap();
        assert!(z.nr_pcp_pages(2) <= PCP_HIGH, "list grew past high");
    }
    assert!(z.nr_pcp_pages(2) > 0);
    z.drain_pages(2);
    assert_eq!(z.nr_pcp_pages(2), 0);
    assert_fully_merged(&z, 4);
}

fn drain_all_merges_everything<S: RefcountScheme>() {
    let z = zone::<S>(8);
    let mut held = Vec::new();
    for cpu in 0..4 {
        for order in 0..=PCP_MAX_ORDER + 1 {
            held.push((cpu, z.alloc_frozen_pages_pcp(cpu, order).unwrap(), order));
        }
    }
    for (cpu, p, order) in held.into_iter().rev() {
        z.free_frozen_pages_pcp((cpu + 1) % 4, p, order).unwrap();
    }
    z.drain_all_pages();
    assert_fully_merged(&z, 8);
}

fn double_free_through_pcp_is_reported<S: RefcountScheme>() {
    let z = zone::<S>(2);
    let p = z.alloc_frozen_pages_pcp(0, 1).unwrap();
    z.free_frozen_pages_pcp(0, p, 1).unwrap();
    let cached = z.nr_pcp_pages(0);
    // Again through the same list, another CPU's list, and the zone path.
    for bad in [
        z.free_frozen_pages_pcp(0, p, 1),
        z.free_frozen_pages_pcp(1, p, 1),
        z.free_frozen_pages(p, 1),
    ] {
        assert_eq!(bad.unwrap_err().reason, BadPageReason::DoubleFree);
    }
    assert_eq!(z.nr_pcp_pages(0), cached, "a double free reached the list");
    z.drain_all_pages();
    assert_fully_merged(&z, 2);
}

/// A page inside a cached block is free: freeing it (order 0) is a double free.
fn cached_page_counts_as_free_for_zone_free<S: RefcountScheme>() {
    let z = zone::<S>(2);
    let p = z.alloc_frozen_pages_pcp(3, 2).unwrap();
    let pfn = z.page_to_pfn(p);
    z.free_frozen_pages_pcp(3, p, 2).unwrap();
    let inner = z.pfn_to_page(pfn + 3).unwrap();
    assert_eq!(z.free_frozen_pages(inner, 0).unwrap_err().reason, BadPageReason::DoubleFree);
    z.drain_all_pages();
    assert_fully_merged(&z, 2);
}

fn tail_and_wrong_order_through_pcp<S: RefcountScheme>() {
    let z = zone::<S>(2);
    let p = z.alloc_frozen_pages_pcp(0, 2).unwrap();
    let pfn = z.page_to_pfn(p);
    let tail = z.pfn_to_page(pfn + 1).unwrap();
    assert_eq!(z.free_frozen_pages_pcp(0, tail, 0).unwrap_err().reason, BadPageReason::TailPage);
    let q = z.alloc_frozen_pages_pcp(0, 1).unwrap();
    let err = z.free_frozen_pages_pcp(0, q, 0).unwrap_err();
    assert_eq!(err.reason, BadPageReason::WrongOrder { allocated: 1 });
    assert_eq!(z.bad_page_count(), 2);
    z.drain_all_pages();
    z.verify_free_lists().unwrap();
}

fn put_page_pcp_frees_on_last_ref<S: RefcountScheme>() {
    let z = zone::<S>(2);
    let p = z.alloc_pages_pcp(1, 0).unwrap();
    z.get_page(p).unwrap();
    assert!(!z.put_page_pcp(1, p).unwrap());
    let cached = z.nr_pcp_pages(1);
    assert!(z.put_page_pcp(1, p).unwrap());
    assert_eq!(z.nr_pcp_pages(1), cached + 1);
    assert_eq!(
        z.put_page_pcp(1, p).unwrap_err().reason,
        BadPageReason::Refcount(RefcountBugKind::PutOnFrozen)
    );
    z.drain_all_pages();
    assert_fully_merged(&z, 2);
}

/// When the zone runs dry, pages cached on other CPUs are drained and used.
fn empty_zone_drains_other_cpus<S: RefcountScheme>() {
    let z = zone::<S>(1);
    let first = z.alloc_frozen_pages_pcp(0, 0).unwrap();
    let mut held = vec![first];
    // Empty the zone itself (an allocation that finds it empty would drain).
    while z.nr_free_pages() > 0 {
        held.push(z.alloc_frozen_pages(0).unwrap());
    }
    assert_eq!(z.nr_pcp_pages(0), PCP_BATCH - 1);
    // CPU 1 finds the zone empty but gets one of CPU 0's cached pages.
    held.push(z.alloc_frozen_pages_pcp(1, 0).expect("drain on empty zone"));
    // CPU 0's cache went back to the zone; nothing is lost.
    assert_eq!(z.nr_pcp_pages(0), 0);
    assert_eq!(held.len() + z.nr_free_pages() + z.nr_pcp_pages(1), 1 << MAX_ORDER);
    for p in held {
        z.free_frozen_pages(p, 0).unwrap();
    }
    z.drain_all_pages();
    assert_fully_merged(&z, 1);
}

/// Threads as CPUs: each allocates through its own list and frees half of
/// its blocks through another thread's list (cross-CPU frees).
fn threads_as_cpus<S: RefcountScheme>() {
    let rounds = if cfg!(miri) { 8 } else { 3000 };
    let z = Arc::new(zone::<S>(8));
    let handles: Vec<_> = (0..4)
        .map(|cpu| {
            let z = Arc::clone(&z);
            std::thread::spawn(move || {
                let mut held: Vec<(usize, usize)> = Vec::new();
                for i in 0..rounds {
                    let order = (i * 7 + cpu) % (PCP_MAX_ORDER + 2);
                    if let Some(p) = z.alloc_frozen_pages_pcp(cpu, order) {
                        held.push((z.page_to_pfn(p), order));
                    }
                    if held.len() > 16 {
                        let (pfn, o) = held.swap_remove(i % held.len());
                        let target = if i % 2 == 0 { cpu } else { (cpu + 1) % 4 };
                        z.free_frozen_pages_pcp(target, z.pfn_to_page(pfn).unwrap(), o).unwrap();
                    }
                }
                for (pfn, o) in held {
                    z.free_frozen_pages_pcp(cpu, z.pfn_to_page(pfn).unwrap(), o).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(z.bad_page_count(), 0);
    z.drain_all_pages();
    assert_fully_merged(&z, 8);
}

/// A zone told it serves 4 CPUs caches for indexes 0..4 only: index 4 (and
/// anything above) allocates and frees through the zone, caching nothing,
/// and the sums count the 4 lists.
fn zone_for_4_cpus_uses_4_lists<S: RefcountScheme>() {
    let z = zone::<S>(4);
    assert_eq!(z.nr_cpus(), mm::NR_CPUS);
    z.set_nr_cpus(4);
    assert_eq!(z.nr_cpus(), 4);
    let free = z.nr_free_pages();
    let cached = z.alloc_frozen_pages_pcp(3, 0).unwrap();
    assert_eq!(z.nr_pcp_pages(3), PCP_BATCH - 1, "index 3 is in use");
    let direct = z.alloc_frozen_pages_pcp(4, 0).unwrap();
    assert_eq!(z.nr_pcp_pages(4), 0, "index 4 cached pages on a 4-CPU zone");
    assert_eq!(z.nr_free_pages(), free - PCP_BATCH - 1);
    z.free_frozen_pages_pcp(4, direct, 0).unwrap();
    assert_eq!((z.nr_pcp_pages(4), z.nr_free_pages()), (0, free - PCP_BATCH));
    z.free_frozen_pages_pcp(3, cached, 0).unwrap();
    assert_eq!(z.nr_pcp_pages_all(), PCP_BATCH);
    z.drain_pages(4);
    assert_eq!(z.nr_pcp_pages_all(), PCP_BATCH, "draining index 4 touched a list in use");
    z.drain_all_pages();
    assert_fully_merged(&z, 4);
}

/// Lowering the CPU count gives the pages of the lists it leaves out back
/// to the zone (they would otherwise never be drained again).
fn lowering_the_cpu_count_drains_the_lists_left_out<S: RefcountScheme>() {
    let z = zone::<S>(4);
    for cpu in [1, 7, 300] {
        let p = z.alloc_frozen_pages_pcp(cpu, 1).unwrap();
        z.free_frozen_pages_pcp(cpu, p, 1).unwrap();
    }
    assert_eq!(z.nr_pcp_pages_all(), 3 * PCP_BATCH);
    z.set_nr_cpus(2);
    assert_eq!(z.nr_pcp_pages_all(), PCP_BATCH, "only CPU 1's list is left");
    z.set_nr_cpus(0);
    assert_eq!(z.nr_pcp_pages_all(), 0);
    // With no list in use, every call is a zone call.
    let p = z.alloc_frozen_pages_pcp(0, 0).unwrap();
    assert_eq!(z.nr_pcp_pages(0), 0);
    z.free_frozen_pages_pcp(0, p, 0).unwrap();
    assert_fully_merged(&z, 4);
}

/// More CPU indexes than the zone has lists is a caller bug.
#[test]
#[should_panic(expected = "per-CPU lists have")]
fn more_cpus_than_lists_panics() {
    zone::<mm::DefaultScheme>(1).set_nr_cpus(mm::NR_CPUS + 1);
}

proptest! {
    // No failure-persistence files: Miri's isolation forbids file access.
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 1 } else { 64 },
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Random alloc/free through random CPUs' lists, checked against a model
    /// (no overlap between live blocks); after freeing everything and a drain,
    /// the zone is whole again.
    #[test]
    fn random_pcp_traffic(ops in prop::collection::vec((0usize..4, 0usize..=4, any::<bool>(), 0usize..64), 1..if cfg!(miri) { 40 } else { 200 })) {
        let z = zone::<Frozen>(4);
        let mut live: Vec<(usize, usize)> = Vec::new();
        for (cpu, order, alloc, pick) in ops {
            if alloc || live.is_empty() {
                if let Some(p) = z.alloc_frozen_pages_pcp(cpu, order) {
                    let pfn = z.page_to_pfn(p);
                    for &(q, o) in &live {
                        prop_assert!(pfn + (1 << order) <= q || q + (1 << o) <= pfn, "overlap");
                    }
                    live.push((pfn, order));
                }
            } else {
                let (pfn, o) = live.swap_remove(pick % live.len());
                prop_assert!(z.free_frozen_pages_pcp(cpu, z.pfn_to_page(pfn).unwrap(), o).is_ok());
            }
        }
        for (pfn, o) in live {
            prop_assert!(z.free_frozen_pages(z.pfn_to_page(pfn).unwrap(), o).is_ok());
        }
        z.drain_all_pages();
        assert_fully_merged(&z, 4);
    }
}

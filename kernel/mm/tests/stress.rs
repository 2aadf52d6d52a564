//! Multi-threaded stress with std threads: the page-cache pattern.
//!
//! Writers allocate counted pages, install them in a slot table, and later
//! remove them and drop their reference (sometimes by freezing the page first,
//! like reclaim). Readers look pages up speculatively: load slot -> try get ->
//! reload slot -> compare -> use or put. A churn thread allocates and frees
//! frozen blocks of random orders so freed pages get reused as heads, tails and
//! free-list members while stale readers still poke at them.
//!
//! Checked: every allocation is freed exactly once (frees counted from
//! `put_page`'s return value and the freezer path equal the number of
//! allocations), a successful revalidated get always sees the allocation it
//! looked up (generation check) on a page that is not free, no bad-page report
//! is ever produced, and at the end the zone is fully merged again.

mod common;
use common::*;
use mm::rand::Rng;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::*};
use std::thread;

const SLOTS: usize = 16;
const WRITER_OPS: usize = if cfg!(miri) { 40 } else { 20_000 };
const CHURN_OPS: usize = if cfg!(miri) { 20 } else { 10_000 };
const BLOCKS: usize = if cfg!(miri) { 1 } else { 2 };

/// Slot value: generation << 32 | pfn, 0 = empty. Generations start at 1.
fn pack(gen_: u64, pfn: usize) -> u64 {
    gen_ << 32 | pfn as u64
}

fn page_cache<S: RefcountScheme>() {
    let z = zone::<S>(BLOCKS);
    let total = BLOCKS << MAX_ORDER;
    let slots: Vec<AtomicU64> = (0..SLOTS).map(|_| AtomicU64::new(0)).collect();
    // Generation of the allocation currently owning each pfn (as a head).
    let owner: Vec<AtomicU64> = (0..total).map(|_| AtomicU64::new(0)).collect();
    let next_gen = AtomicU64::new(1);
    let allocs = AtomicUsize::new(0);
    let frees = AtomicUsize::new(0);
    let hits = AtomicUsize::new(0);
    let stale = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    let writers_done = AtomicBool::new(false);

    let put = |page: &Page| {
        if z.put_page(page).expect("no misuse") {
            frees.fetch_add(1, Relaxed);
        }
    };

    thread::scope(|s| {
        // Two writers, each owning half of the slots.
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let (z, slots, owner, next_gen, allocs, frees, put) =
                    (&z, &slots, &owner, &next_gen, &allocs, &frees, &put);
                s.spawn(move || {
                    let mut rng = Rng::stream(0x9E37_79B9, w);
                    for _ in 0..WRITER_OPS {
                        let slot = &slots[w * SLOTS / 2 + rng.below(SLOTS / 2)];
                        let v = slot.swap(0, AcqRel);
                        if v != 0 {
                            // Remove, then drop the slot's reference.
                            let page = z.pfn_to_page((v & 0xffff_ffff) as usize).unwrap();
                            if rng.one_in(4) && S::freeze(page.refcount(), 1) {
                                // Reclaim style: frozen while ours alone; a
                                // reader's get now fails until we free it.
                                z.free_frozen_pages(page, page.flags().order()).unwrap();
                                frees.fetch_add(1, Relaxed);
                            } else {
                                put(page);
                            }
                        } else if let Some(page) = z.alloc_pages(rng.below(3)) {
                            allocs.fetch_add(1, Relaxed);
                            let pfn = z.page_to_pfn(page);
                            let g = next_gen.fetch_add(1, Relaxed);
                            owner[pfn].store(g, Relaxed);
                            // Release: a reader that loads the slot sees owner[].
                            slot.store(pack(g, pfn), Release);
                        }
                    }
                })
            })
            .collect();

        for r in 0..2 {
            let (z, slots, owner, hits, writers_done, put) =
                (&z, &slots, &owner, &hits, &writers_done, &put);
            let (stale, failed) = (&stale, &failed);
            s.spawn(move || {
                let mut rng = Rng::stream(0xDEAD_BEEF, r as usize);
                while !writers_done.load(Acquire) {
                    let slot = &slots[rng.below(SLOTS)];
                    let v = slot.load(Acquire);
                    if v == 0 {
                        continue;
                    }
                    let (g, pfn) = (v >> 32, (v & 0xffff_ffff) as usize);
                    // Sometimes look the page up through one of its tails.
                    let page = z.pfn_to_page(pfn + rng.below(2)).unwrap();
                    if !z.get_page_unless_frozen(page) {
                        failed.fetch_add(1, Relaxed);
                        continue;
                    }
                    // Our reference pins the block `page` belongs to; for an
                    // order-0 allocation `pfn + 1` is a neighbour, not a tail,
                    // and pins nothing of `pfn`: then only count the lookup.
                    let pinned =
                        std::ptr::eq(z.memmap().compound_head(page), z.pfn_to_page(pfn).unwrap());
                    if slot.load(Acquire) == v && pinned {
                        // Revalidated: it must be the allocation we looked up,
                        // alive, and referenced.
                        assert_eq!(
                            owner[pfn].load(Relaxed),
                            g,
                            "pfn {pfn:#x} changed owner under a reference"
                        );
                        assert!(z.page_count(page) >= 1);
                        if rng.one_in(16) {
                            assert!(!z.is_page_free(pfn), "successful get on a free page");
                        }
                        hits.fetch_add(1, Relaxed);
                    } else {
                        stale.fetch_add(1, Relaxed);
                    }
                    put(page);
                }
            });
        }

        // Churn: frozen blocks of random orders come and go.
        let churn = {
            let z = &z;
            s.spawn(move || {
                let mut rng = Rng::new(0x1234_5678);
                let mut held = Vec::new();
                for _ in 0..CHURN_OPS {
                    if held.len() < 4 && rng.one_in(2) {
                        let order = rng.below(4);
                        if let Some(p) = z.alloc_frozen_pages(order) {
                            held.push((p, order));
                        }
                    } else if let Some((p, o)) = held.pop() {
                        z.free_frozen_pages(p, o).unwrap();
                    }
                }
                for (p, o) in held {
                    z.free_frozen_pages(p, o).unwrap();
                }
            })
        };

        for w in writers {
            w.join().unwrap();
        }
        churn.join().unwrap();
        writers_done.store(true, Release);
    });

    for slot in &slots {
        let v = slot.swap(0, Relaxed);
        if v != 0 {
            put(z.pfn_to_page((v & 0xffff_ffff) as usize).unwrap());
        }
    }
    std::eprintln!(
        "{}: {} allocations, {} revalidated gets, {} stale gets put back, {} failed gets",
        S::NAME,
        allocs.load(Relaxed),
        hits.load(Relaxed),
        stale.load(Relaxed),
        failed.load(Relaxed)
    );
    assert_eq!(z.bad_page_count(), 0, "{:?}", z.last_bad_page());
    assert_eq!(frees.load(Relaxed), allocs.load(Relaxed), "every allocation freed exactly once");
    assert!(allocs.load(Relaxed) > 0);
    assert_fully_merged(&z, BLOCKS);
    if !cfg!(miri) {
        assert!(hits.load(Relaxed) > 0, "readers never hit");
    }
}

/// Many threads hammering speculative gets and puts on one hot page while it
/// is owned: the counter ends exactly where it started.
fn hot_page<S: RefcountScheme>() {
    let z = zone::<S>(1);
    let p = z.alloc_pages(0).unwrap();
    let n = if cfg!(miri) { 10 } else { 50_000 };
    thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                for _ in 0..n {
                    assert!(z.get_page_unless_frozen(p));
                    assert_eq!(z.put_page(p), Ok(false));
                }
            });
        }
    });
    assert_eq!(z.page_count(p), 1);
    assert_eq!(z.put_page(p), Ok(true));
    assert_fully_merged(&z, 1);
}

mm::for_each_scheme!(page_cache, hot_page);

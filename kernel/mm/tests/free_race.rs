//! Two frees of one allocated block racing, released at the same instant,
//! through every pair of the two free calls (`free_frozen_pages`,
//! `free_frozen_pages_pcp`): zone + zone, zone + per-CPU list, two per-CPU
//! lists; orders 0-3. Every free proves "allocated" with one compare-exchange
//! of the head (the two frees may hold different locks, so the head's word
//! is the only place both can meet; the per-CPU free and the order-0 zone
//! free exchange after a lock-free check, larger zone frees under the zone
//! lock): of two racing frees exactly one may win, the other must be
//! reported as a double free, and the block must reach a free list once. A
//! free that stored its new state instead of exchanging it would let both
//! win now and then; this test then fails (`verify_free_lists` finds the
//! block twice, or the winner count is 2). Both schemes. (`put_page`'s final
//! free ends in the same paths; loom models 7 and 8 race it. With one core
//! the two frees rarely overlap, and the test then passes without exercising
//! the race.)

mod common;
use common::*;
use mm::BadPageReason;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::*};
use std::sync::{Arc, Mutex};

mm::for_each_scheme!(racing_frees_of_one_block);

/// Rounds per test: each pair of paths gets a quarter of them, orders 0-3.
const ROUNDS: usize = if cfg!(miri) { 8 } else { 8000 };

/// A free through `path`: 0 is the zone path, `k > 0` CPU `k`'s list.
fn free<S: RefcountScheme>(z: &Zone<'_, S>, path: usize, page: &Page, order: usize) -> bool {
    let r = if path == 0 {
        z.free_frozen_pages(page, order)
    } else {
        z.free_frozen_pages_pcp(path, page, order)
    };
    match r {
        Ok(()) => true,
        Err(bad) => {
            assert_eq!(bad.reason, BadPageReason::DoubleFree, "{bad}");
            assert!(!bad.quarantined, "{bad}");
            false
        }
    }
}

/// The pair of paths the two freeing threads take in round `r`.
fn paths(r: usize) -> [usize; 2] {
    [[0, 0], [0, 1], [2, 0], [1, 2]][r % 4]
}

/// Wait until `cond` holds: spin briefly (both threads should arrive
/// together), then yield (more threads than cores). Panics if the other
/// thread panicked (`failed`), instead of waiting for it forever.
fn wait(failed: &AtomicBool, cond: impl Fn() -> bool) {
    let mut spins = 0u32;
    while !cond() {
        assert!(!failed.load(Relaxed), "the other thread failed");
        spins += 1;
        if spins < 1000 {
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

/// Sets `failed` if its thread unwinds from a panic.
struct Bail(Arc<AtomicBool>);

impl Drop for Bail {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Relaxed);
        }
    }
}

/// The two schemes' tests take turns: each needs its two threads running at
/// the same instant, which more threads than cores would spoil.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn racing_frees_of_one_block<S: RefcountScheme>() {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let z: &'static Zone<'static, S> = Box::leak(Box::new(zone::<S>(1)));
    testing::keep(z);
    // Round r's block (its pfn; the order follows from r), published by
    // thread 0; `ready` is the
    // two threads' barrier before they free, `done` the one after; `wins`
    // counts the frees that won.
    let block = Arc::new(AtomicUsize::new(0));
    let [round, ready, done, wins] = [0; 4].map(|_| Arc::new(AtomicUsize::new(0)));
    let failed = Arc::new(AtomicBool::new(false));
    let thread = |me: usize| {
        let (block, round, ready, done, wins) =
            (block.clone(), round.clone(), ready.clone(), done.clone(), wins.clone());
        let failed = failed.clone();
        move || {
            let _bail = Bail(failed.clone());
            for r in 1..=ROUNDS {
                let order = (r / 4) % 4;
                if me == 0 {
                    let page = z.alloc_frozen_pages(order).expect("the zone has room");
                    block.store(z.page_to_pfn(page), Relaxed);
                    round.store(r, Release);
                } else {
                    wait(&failed, || round.load(Acquire) >= r);
                }
                ready.fetch_add(1, AcqRel);
                wait(&failed, || ready.load(Acquire) >= 2 * r);
                let page = z.pfn_to_page(block.load(Relaxed)).unwrap();
                if free(z, paths(r)[me], page, order) {
                    wins.fetch_add(1, Relaxed);
                }
                done.fetch_add(1, AcqRel);
                wait(&failed, || done.load(Acquire) >= 2 * r);
                if me == 0 {
                    let w = wins.swap(0, Relaxed);
                    assert_eq!(w, 1, "round {r}: paths {:?}, order {order}", paths(r));
                }
            }
        }
    };
    let other = std::thread::spawn(thread(1));
    thread(0)();
    other.join().unwrap();
    z.verify_free_lists().unwrap();
    z.drain_all_pages();
    z.verify_free_lists().unwrap();
    let s = z.stats();
    assert_eq!(s.bad_pages, ROUNDS, "one double free reported per round");
    assert_eq!(s.quarantined, 0);
    assert_eq!(s.free, s.managed, "pages lost or freed twice");
}

//! Several threads standing in for CPUs on the per-CPU path at once:
//! counted blocks published in shared slots, speculative gets through the
//! slots (page-cache pattern: get, reload the slot, put on mismatch) with the
//! put going through the getter's own list, frees of blocks other CPUs
//! allocated (the slot's reference dropped on whichever CPU removes it), and
//! misuse on each thread's own blocks (tail free, wrong order, get and put on
//! a frozen block) mixed in. Afterwards: every report accounted for, lists
//! consistent, free + quarantined = managed. Both schemes.

mod common;
use common::*;
use mm::{BadPageReason, PCP_MAX_ORDER, RefcountBugKind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::*};

mm::for_each_scheme!(pcp_threads_with_speculative_gets_and_misuse);

const SLOTS: usize = 16;
const ITERS: usize = if cfg!(miri) { 40 } else { 20_000 };

fn pcp_threads_with_speculative_gets_and_misuse<S: RefcountScheme>() {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(2, 4);
    let z: &'static Zone<'static, S> = Box::leak(Box::new(zone::<S>(4)));
    testing::keep(z);
    // A slot holds pfn + 1 of a counted block (0: empty) and owns one reference.
    let slots: Arc<Vec<AtomicU64>> = Arc::new((0..SLOTS).map(|_| AtomicU64::new(0)).collect());
    let misuse = Arc::new(AtomicUsize::new(0));
    let quarantined = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..threads)
        .map(|cpu| {
            let (slots, misuse, quarantined) = (slots.clone(), misuse.clone(), quarantined.clone());
            std::thread::spawn(move || {
                let mut x = (cpu as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let mut rnd = move || {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as usize
                };
                for i in 0..ITERS {
                    let slot = &slots[rnd() % SLOTS];
                    match rnd() % 8 {
                        // Publish a new counted block (allocated on this CPU).
                        0 | 1 => {
                            let order = rnd() % (PCP_MAX_ORDER + 1);
                            let Some(p) = z.alloc_pages_pcp(cpu, order) else { continue };
                            let new = z.page_to_pfn(p) as u64 + 1;
                            let old = slot.swap(new, AcqRel);
                            if old != 0 {
                                // Replaced: drop that block's slot reference
                                // here, whichever CPU allocated it.
                                let page = z.pfn_to_page(old as usize - 1).unwrap();
                                z.put_page_pcp(cpu, page).unwrap();
                            }
                        }
                        // Remove: the slot's reference dropped on this CPU.
                        2 => {
                            let old = slot.swap(0, AcqRel);
                            if old != 0 {
                                let page = z.pfn_to_page(old as usize - 1).unwrap();
                                z.put_page_pcp(cpu, page).unwrap();
                            }
                        }
                        // Speculative lookup: get, revalidate, use, put here.
                        3..=5 => {
                            let v = slot.load(Acquire);
                            if v == 0 {
                                continue;
                            }
                            // Any page of the block: a tail resolves to its head.
                            let page = z.pfn_to_page(v as usize - 1).unwrap();
                            if !z.get_page_unless_frozen(page) {
                                continue;
                            }
                            if slot.load(Acquire) == v {
                                assert!(z.page_count(page) >= 1);
                            }
                            z.put_page_pcp(cpu, page).unwrap();
                        }
                        // Misuse on a block only this thread knows.
                        _ => {
                            let order = 1 + rnd() % PCP_MAX_ORDER;
                            let Some(p) = z.alloc_frozen_pages_pcp(cpu, order) else { continue };
                            let pfn = z.page_to_pfn(p);
                            let reason = match i % 4 {
                                0 => {
                                    let tail = z.pfn_to_page(pfn + 1).unwrap();
                                    z.free_frozen_pages_pcp(cpu, tail, 0)
                                }
                                1 => z.free_frozen_pages_pcp(cpu, p, order - 1),
                                2 => z.get_page(p),
                                _ => z.put_page_pcp(cpu, p).map(|_| ()),
                            };
                            let bad = reason.unwrap_err();
                            assert!(
                                matches!(
                                    bad.reason,
                                    BadPageReason::TailPage
                                        | BadPageReason::WrongOrder { .. }
                                        | BadPageReason::Refcount(RefcountBugKind::GetWithoutRef)
                                        | BadPageReason::Refcount(RefcountBugKind::PutOnFrozen)
                                ),
                                "{bad}"
                            );
                            assert!(bad.quarantined, "{bad}");
                            misuse.fetch_add(1, Relaxed);
                            quarantined.fetch_add(1 << order, Relaxed);
                            // The owner's free is swallowed: the block stays out.
                            z.free_frozen_pages_pcp(cpu, p, order).unwrap();
                        }
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    for (i, slot) in slots.iter().enumerate() {
        let v = slot.swap(0, AcqRel);
        if v != 0 {
            z.put_page_pcp(i % threads, z.pfn_to_page(v as usize - 1).unwrap()).unwrap();
        }
    }
    z.verify_free_lists().unwrap();
    z.drain_all_pages();
    z.verify_free_lists().unwrap();
    let s = z.stats();
    assert_eq!(s.bad_pages, misuse.load(Relaxed), "every misuse reported exactly once");
    assert_eq!(s.quarantined, quarantined.load(Relaxed));
    assert_eq!(s.free + s.quarantined, s.managed, "pages lost");
}

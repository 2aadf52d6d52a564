//! `stress_scrub`: stale speculative gets on a frozen page until the overflow
//! scrub triggers (refcount.md cases 2 and 4).
//!
//! In the frozen-bit layouts every failed get leaves one step (1, or 2 with
//! the flag in bit 0) on the frozen counter. Where the flag is bit 31, once
//! the counter reaches the scheme's `SCRUBS_AT` (0xE000_0000 for the
//! default) it is CASed back to FROZEN. Reaching the limit honestly takes
//! 2^29 gets, far too slow under TCG, so each round first sets the raw
//! counter a little below the limit (a test-only shortcut: real code never
//! writes the counter directly), then every CPU hammers
//! `get_page_unless_frozen` while one of them samples the raw value: it must
//! never look owned, every get must fail, and the round must end back near
//! FROZEN (the scrub happened). Where the flag is bit 0 nothing is scrubbed:
//! the round must end exactly `total` steps above its start, still frozen.
//! Afterwards the count set by allocation is exact (1) despite the leftovers.
//!
//! In the legacy schemes a failed get writes nothing: the same hammering must
//! leave the counter exactly FROZEN (0) throughout.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

use mm::{DefaultScheme, RefcountScheme};

use super::common::{Rng, Snapshot, Tally, scale, seed};
use super::pages::{NO_FAULTS, Pages};
use crate::ktest::{Failure, Suite, TestResult};
use crate::mm::zone;
use crate::smp::{self, Barrier};
use crate::{kassert, kassert_eq};

pub static SUITE: Suite =
    Suite { name: "stress_scrub", cases: crate::cases![stale_gets_until_scrub] };

const ROUNDS: usize = 8;
/// Gets per CPU per round.
const GETS: usize = 30_000;
const FROZEN: u32 = DefaultScheme::FROZEN;
/// What one failed get adds to a frozen counter: a step of the layout, or
/// nothing where zero is dead.
fn step() -> u32 {
    if DefaultScheme::TRANSIENT_ZERO {
        DefaultScheme::raw_of_count(1).wrapping_sub(DefaultScheme::raw_of_count(0))
    } else {
        0
    }
}

fn stale_gets_until_scrub() -> TestResult {
    let (seed, rounds) = (seed(), ROUNDS * scale());
    let scrub = DefaultScheme::SCRUBS_AT;
    let step = step();
    let n = smp::nr_online();
    let total = (n * GETS) as u32;
    let (succeeded, looked_owned, samples) =
        (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let starts: Vec<AtomicU32> = (0..rounds).map(|_| AtomicU32::new(0)).collect();
    let ends: Vec<AtomicU32> = (0..rounds).map(|_| AtomicU32::new(0)).collect();
    let tally = Tally::new(["gets", "refops"]);
    let barrier = Barrier::new(n);
    let sampler = smp::this_cpu().index;
    let pages = Pages::new(&NO_FAULTS);
    let before = Snapshot::take();
    let page =
        pages.alloc_frozen(0, &mut Rng::stream(seed, 0)).ok_or(Failure::Skip("no memory"))?;
    let raw = page.refcount();
    smp::on_each_cpu(&|cpu| {
        let mut rng = Rng::stream(seed, cpu);
        for round in 0..rounds {
            if cpu == sampler {
                // The scrub triggers between a quarter and half-way through.
                let below = total / 4 + rng.below(total as usize / 4) as u32;
                let start = match scrub {
                    Some(limit) => limit - below * step,
                    None => FROZEN,
                };
                // Test-only shortcut (see the module docs): the page is
                // frozen and ours, nobody else writes its counter.
                raw.store(start, Relaxed);
                starts[round].store(start, Relaxed);
            }
            // The barrier orders the store before everybody's gets.
            barrier.wait();
            let mut ok = 0;
            for _ in 0..GETS {
                ok += u64::from(mm::get_page_unless_frozen(page));
                if cpu == sampler {
                    let v = mm::page_ref_count_raw(page);
                    let owned = !DefaultScheme::is_frozen(v);
                    looked_owned.fetch_add(u64::from(owned), Relaxed);
                }
            }
            succeeded.fetch_add(ok, Relaxed);
            barrier.wait();
            if cpu == sampler {
                ends[round].store(mm::page_ref_count_raw(page), Relaxed);
                samples.fetch_add(GETS as u64, Relaxed);
            }
        }
        tally.add(cpu, [(rounds * GETS) as u64, (rounds * GETS) as u64]);
    });
    for round in 0..rounds {
        let (start, end) = (starts[round].load(Relaxed), ends[round].load(Relaxed));
        let what =
            alloc::format!("round {round}: start {start:#010x}, {total} gets, end {end:#010x}");
        if round < 2 {
            diag!("{what}");
        }
        if scrub.is_some() {
            // Without a scrub the counter would be start + total steps, above
            // the limit; with it, FROZEN plus the gets that came after it.
            kassert!(end.wrapping_sub(FROZEN) < total * step, "not scrubbed: {what}");
        } else {
            // Parity-kept leftovers (or none, where zero is dead): exact.
            kassert!(end == start.wrapping_add(total.wrapping_mul(step)), "{what}");
        }
    }
    if scrub.is_some() {
        diag!("{rounds} rounds, every one scrubbed back near FROZEN");
    } else {
        diag!("{rounds} rounds, the counter kept every leftover and stayed frozen");
    }
    tally.report();
    diag!("{} raw samples taken", samples.load(Relaxed));
    kassert_eq!(succeeded.load(Relaxed), 0);
    kassert_eq!(looked_owned.load(Relaxed), 0);
    // What allocation does: the count is exactly 1, leftovers gone.
    mm::init_page_count(page);
    kassert_eq!(mm::page_ref_count_raw(page), DefaultScheme::raw_of_count(1));
    kassert_eq!(mm::page_count(page), 1);
    kassert!(pages.put(page, 0), "last put did not free");
    leftovers_on_free_page(&pages, seed)?;
    pages.check()?;
    before.check()
}

/// Case 2 through the real allocator: stale gets on a page sitting in the
/// free lists leave leftovers; when the page is allocated again its count
/// must still be exactly 1.
fn leftovers_on_free_page(pages: &Pages<'_>, seed: u64) -> TestResult {
    let mut rng = Rng::stream(seed, 1);
    let page = pages.alloc_frozen(0, &mut rng).ok_or(Failure::Skip("no memory"))?;
    let pfn = zone().page_to_pfn(page);
    pages.free_poisoned(page, 0);
    let succeeded = AtomicU64::new(0);
    smp::on_each_cpu(&|_| {
        for _ in 0..1000 {
            if mm::get_page_unless_frozen(page) {
                succeeded.fetch_add(1, Relaxed);
            }
        }
    });
    kassert_eq!(succeeded.load(Relaxed), 0);
    let left = mm::page_ref_count_raw(page).wrapping_sub(FROZEN);
    diag!("free page {pfn:#x} carries {left} leftovers");
    // Take pages until this one comes back (LIFO free lists: at once).
    let mut taken = Vec::with_capacity(64);
    let mut found = false;
    while taken.len() < 64 {
        let Some(p) = pages.alloc(0, &mut rng) else { break };
        taken.push(p);
        if zone().page_to_pfn(p) == pfn {
            found = true;
            break;
        }
    }
    let exact = mm::page_ref_count_raw(page) == DefaultScheme::raw_of_count(1);
    let taken_len = taken.len();
    for p in taken {
        pages.put(p, 0);
    }
    if !found {
        diag!("page {pfn:#x} not handed out again within 64 allocations; not checked");
        return Ok(());
    }
    kassert!(exact, "reallocated page's count is not exactly 1");
    diag!("allocated again after {} allocations: count exactly 1", taken_len);
    Ok(())
}

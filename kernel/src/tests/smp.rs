//! SMP bring-up and the cross-CPU primitives.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::ktest::{Suite, TestResult};
use crate::smp::{self, Barrier};
use crate::{kassert, kassert_eq, kdiag, kskip};

pub static SUITE: Suite = Suite {
    name: "smp",
    cases: crate::cases![
        all_described_cpus_online,
        every_cpu_runs_a_call,
        barrier_rounds,
        per_cpu_index_matches,
        call_on_chosen_cpus,
        alloc_free_across_cpus
    ],
};

fn all_described_cpus_online() -> TestResult {
    let (online, possible) = (smp::nr_online(), smp::nr_possible());
    kdiag!("{online} of {possible} CPUs online");
    kassert_eq!(online, possible);
    kassert!(smp::CPUS[0].online.load(Ordering::Acquire), "boot CPU not marked online");
    Ok(())
}

/// Each online CPU runs the closure exactly once and reports its own index.
fn every_cpu_runs_a_call() -> TestResult {
    let n = smp::nr_online();
    let ran: Vec<AtomicUsize> = (0..smp::nr_possible()).map(|_| AtomicUsize::new(0)).collect();
    let wrong = AtomicUsize::new(0);
    smp::on_each_cpu(&|cpu| {
        ran[cpu].fetch_add(1, Ordering::Relaxed);
        if smp::this_cpu().index != cpu {
            wrong.fetch_add(1, Ordering::Relaxed);
        }
    });
    let total: usize = ran.iter().map(|r| r.load(Ordering::Relaxed)).sum();
    kassert_eq!(total, n);
    for c in smp::online_cpus() {
        kassert_eq!(ran[c.index].load(Ordering::Relaxed), 1);
    }
    kassert_eq!(wrong.load(Ordering::Relaxed), 0);
    Ok(())
}

/// Rounds of [`barrier_rounds`] on `cpus` CPUs: 200 up to 8 CPUs, then
/// 1600 / cpus (at least 4). A round makes every CPU wait for every other,
/// so its cost grows with the CPU count, and with more vCPUs than host
/// cores each round waits for every vCPU thread to be scheduled; the
/// arrivals checked (cpus x rounds) stay at 1600 or more.
fn barrier_rounds_for(cpus: usize) -> usize {
    (1600 / cpus.max(1)).clamp(4, 200)
}

/// All CPUs go through a barrier many times; between rounds every CPU must
/// see every other CPU's increment of the round counter.
fn barrier_rounds() -> TestResult {
    let n = smp::nr_online();
    let rounds = barrier_rounds_for(n);
    kdiag!("{rounds} rounds on {n} CPUs");
    let barrier = Barrier::new(n);
    let counter = AtomicUsize::new(0);
    let errors = AtomicUsize::new(0);
    smp::on_each_cpu(&|_| {
        for round in 0..rounds {
            counter.fetch_add(1, Ordering::Relaxed);
            barrier.wait();
            if counter.load(Ordering::Relaxed) != (round + 1) * n {
                errors.fetch_add(1, Ordering::Relaxed);
            }
            barrier.wait();
        }
    });
    kassert_eq!(errors.load(Ordering::Relaxed), 0);
    kassert_eq!(counter.load(Ordering::Relaxed), rounds * n);
    Ok(())
}

/// The per-CPU register of every CPU points at its own slot with its
/// own hardware id.
fn per_cpu_index_matches() -> TestResult {
    let mismatches = AtomicUsize::new(0);
    smp::on_each_cpu(&|cpu| {
        let me = smp::this_cpu();
        if me.index != cpu || me.hw_id.load(Ordering::Relaxed) != crate::arch::cpu_id() {
            mismatches.fetch_add(1, Ordering::Relaxed);
        }
    });
    kassert_eq!(mismatches.load(Ordering::Relaxed), 0);
    Ok(())
}

/// `on_cpus` runs on exactly the listed CPUs (here: every other one).
fn call_on_chosen_cpus() -> TestResult {
    if smp::nr_online() < 2 {
        kskip!("needs at least 2 CPUs");
    }
    let chosen: Vec<usize> = smp::online_cpus().map(|c| c.index).step_by(2).collect();
    let ran: Vec<AtomicUsize> = (0..smp::nr_possible()).map(|_| AtomicUsize::new(0)).collect();
    smp::on_cpus(&mut chosen.iter().copied(), &|cpu| {
        ran[cpu].fetch_add(1, Ordering::Relaxed);
    });
    for c in smp::online_cpus() {
        let expected = usize::from(chosen.contains(&c.index));
        kassert_eq!(ran[c.index].load(Ordering::Relaxed), expected);
    }
    Ok(())
}

/// Rounds per CPU of [`alloc_free_across_cpus`] for `free_pages` free pages
/// and `cpus` CPUs: at most 2000, and no more than half of free memory held
/// at once. Each CPU holds half of its blocks until the handoff, orders 0..=3
/// (3.75 pages on average, 4 counted) plus what its per-CPU list caches
/// (`mm::PCP_HIGH`), so a round costs 2 pages of the CPU's share.
fn across_cpus_rounds(free_pages: usize, cpus: usize) -> usize {
    let share = (free_pages / 2 / cpus.max(1)).saturating_sub(mm::PCP_HIGH);
    (share / 2).min(2000)
}

/// Fewest rounds that still mix every order on every CPU with handoffs.
const ACROSS_CPUS_MIN_ROUNDS: usize = 64;

/// Every CPU allocates through its per-CPU list and frees half of its blocks
/// itself and half on the next CPU (cross-CPU frees). Afterwards, once the
/// per-CPU lists are drained, every page is back and fully merged. The
/// number of rounds is scaled to free memory and the CPU count
/// ([`across_cpus_rounds`]); every allocation must succeed.
fn alloc_free_across_cpus() -> TestResult {
    use crate::mm as kmm;
    let n = smp::nr_online();
    let zone = kmm::zone();
    kmm::drain_all_pages();
    let rounds = across_cpus_rounds(zone.nr_free_pages(), n);
    kdiag!("{rounds} rounds per CPU on {n} CPUs, {} pages free", zone.nr_free_pages());
    if rounds < ACROSS_CPUS_MIN_ROUNDS {
        kskip!("too little free memory for 64 rounds per CPU");
    }
    // Blocks handed from CPU i to CPU i+1, as (pfn, order), one list per
    // possible CPU index; capacity reserved up front, and the snapshot taken
    // after it, so heap growth (from the zone) is not counted as a leak.
    let handoff: Vec<spin::Mutex<Vec<(usize, usize)>>> =
        (0..smp::nr_possible()).map(|_| spin::Mutex::new(Vec::with_capacity(rounds))).collect();
    let before = zone.buddyinfo();
    let failures = AtomicUsize::new(0);
    let barrier = Barrier::new(n);
    smp::on_each_cpu(&|cpu| {
        let rank = smp::online_cpus().position(|c| c.index == cpu).unwrap_or(0);
        let next = smp::online_cpus().nth((rank + 1) % n).map_or(cpu, |c| c.index);
        for i in 0..rounds {
            let order = (i + cpu) % 4;
            let Some(page) = kmm::alloc_frozen_pages(order) else {
                failures.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let pfn = zone.page_to_pfn(page);
            if i % 2 == 0 {
                if kmm::free_frozen_pages(page, order).is_err() {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
            } else {
                handoff[next].lock().push((pfn, order));
            }
        }
        barrier.wait();
        let mine = core::mem::take(&mut *handoff[cpu].lock());
        for (pfn, order) in mine {
            let page = kmm::MEMMAP.pfn_to_page(pfn).expect("pfn from the zone");
            if kmm::free_frozen_pages(page, order).is_err() {
                failures.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    kassert_eq!(failures.load(Ordering::Relaxed), 0);
    kdiag!("{} pages cached on per-CPU lists before the drain", kmm::nr_pcp_pages());
    kmm::drain_all_pages();
    kassert_eq!(kmm::nr_pcp_pages(), 0);
    kassert_eq!(zone.buddyinfo(), before);
    Ok(())
}

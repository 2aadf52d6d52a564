//! Timing on several CPUs at once.
//!
//! [`measure`] runs one variant of a workload (the `workloads` crate, which
//! `bench-host` drives too) on the first `n` online CPUs: all start together
//! behind a barrier, each times its own loop with the cycle counter, and the
//! result is the mean cost per operation across CPUs. Only
//! ratios between runs of the same boot mean anything (under TCG absolute
//! times are the emulator's, not the hardware's).

use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch;
use crate::smp::{self, Barrier};
use workloads::Workload;

/// One measurement: `n` CPUs, each doing (on average) `ops_per_cpu` operations.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub cpus: usize,
    pub ops_per_cpu: u64,
    /// Mean over CPUs of (cycles spent / ops).
    pub cycles_per_op: f64,
}

impl Sample {
    pub fn ns_per_op(&self) -> f64 {
        self.cycles_per_op * 1000.0 / arch::cycles_per_us() as f64
    }
}

/// CPU counts to measure at: 1, 2, 4, ... up to all online CPUs (always included).
pub fn cpu_steps() -> Vec<usize> {
    let max = smp::nr_online();
    let mut steps = Vec::new();
    let mut n = 1;
    while n < max {
        steps.push(n);
        n *= 2;
    }
    steps.push(max);
    steps
}

/// Time budget per CPU per measurement. Under an oversubscribed emulator a
/// lock-heavy workload can be orders of magnitude slower than usual (a
/// preempted lock holder or next-in-line waiter stalls everyone); the budget
/// keeps `make bench` bounded and the per-op figure is still exact for the
/// ops that ran.
const BUDGET_US: u64 = 3_000_000;

/// Runs `variant` of `w` on the first `n` online CPUs (rank 0..n) after a
/// common start barrier, each until it did [`Meta::kernel_ops`] ops or spent
/// its time budget; returns the mean cycles per op.
///
/// # Errors
///
/// The workload's own check after the run (`Workload::check`), in words.
///
/// [`Meta::kernel_ops`]: workloads::Meta::kernel_ops
pub fn measure(n: usize, w: &dyn Workload, variant: usize) -> Result<Sample, String> {
    let ops = w.meta().kernel_ops;
    let cpus: Vec<usize> = smp::online_cpus().map(|c| c.index).take(n).collect();
    let barrier = Barrier::new(cpus.len());
    let cycles: Vec<AtomicU64> = (0..smp::nr_possible()).map(|_| AtomicU64::new(0)).collect();
    let done: Vec<AtomicU64> = (0..smp::nr_possible()).map(|_| AtomicU64::new(0)).collect();
    let budget = BUDGET_US * arch::cycles_per_us();
    smp::on_cpus(&mut cpus.iter().copied(), &|cpu| {
        let rank = cpus.iter().position(|&c| c == cpu).unwrap_or(0);
        barrier.wait();
        let start = arch::read_cycles();
        let ops_done = w.run(variant, rank, cpus.len(), &|so_far| {
            so_far < ops && arch::read_cycles() - start < budget
        });
        let spent = arch::read_cycles() - start;
        // Relaxed: read after on_cpus returns, which synchronises with us.
        cycles[cpu].store(spent, Ordering::Relaxed);
        done[cpu].store(ops_done, Ordering::Relaxed);
    });
    w.check(variant, cpus.len())?;
    let per_cpu: f64 = cpus
        .iter()
        .map(|&c| {
            cycles[c].load(Ordering::Relaxed) as f64 / done[c].load(Ordering::Relaxed).max(1) as f64
        })
        .sum();
    let total_ops: u64 = cpus.iter().map(|&c| done[c].load(Ordering::Relaxed)).sum();
    Ok(Sample {
        cpus: cpus.len(),
        ops_per_cpu: total_ops / cpus.len() as u64,
        cycles_per_op: per_cpu / cpus.len() as f64,
    })
}

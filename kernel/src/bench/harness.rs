//! Timing on several CPUs at once.
//!
//! [`measure`] runs a workload on the first `n` online CPUs: all start
//! together behind a barrier, each times its own loop with the cycle
//! counter, and the result is the mean cost per operation across CPUs. Only
//! ratios between runs of the same boot mean anything (under TCG absolute
//! times are the emulator's, not the hardware's).

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch;
use crate::smp::{self, Barrier};

/// One measurement: `n` CPUs, each doing `ops` operations.
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

/// Runs `work(cpu_rank, ops)` on the first `n` online CPUs (`cpu_rank` is
/// 0..n) after a common start barrier; returns the mean cycles per op.
pub fn measure(n: usize, ops: u64, work: &(dyn Fn(usize, u64) + Sync)) -> Sample {
    let cpus: Vec<usize> = smp::online_cpus().map(|c| c.index).take(n).collect();
    let barrier = Barrier::new(cpus.len());
    let cycles: Vec<AtomicU64> = (0..smp::MAX_CPUS).map(|_| AtomicU64::new(0)).collect();
    smp::on_cpus(&mut cpus.iter().copied(), &|cpu| {
        let rank = cpus.iter().position(|&c| c == cpu).unwrap_or(0);
        barrier.wait();
        let start = arch::read_cycles();
        work(rank, ops);
        let spent = arch::read_cycles() - start;
        // Relaxed: read after on_cpus returns, which synchronises with us.
        cycles[cpu].store(spent, Ordering::Relaxed);
    });
    let total: u64 = cpus.iter().map(|&c| cycles[c].load(Ordering::Relaxed)).sum();
    Sample {
        cpus: cpus.len(),
        ops_per_cpu: ops,
        cycles_per_op: total as f64 / cpus.len() as f64 / ops as f64,
    }
}

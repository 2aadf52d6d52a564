//! The measuring method: alternating short trials, medians, per-trial ratios.
//!
//! For every trial, every thread count and every variant of a workload run
//! once, back to back (the variant order rotates from trial to trial, so no
//! variant always runs first or last). One run = `n` std threads released
//! together by a barrier, each looping on the workload until the main thread
//! raises the stop flag after the trial length; each thread times its own
//! loop. A run's figure is the mean over threads of (thread time / thread
//! ops): ns per op per thread.
//!
//! Because the compared variants run within a fraction of a second of each
//! other in every trial, a burst of other load on a shared machine hits all of
//! them alike. Each ratio is therefore computed per trial and reported as the
//! median of the per-trial ratios with its interquartile range; absolute
//! figures are medians over trials.

use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use workloads::{Padded, Workload};

/// CPU time this thread has used (CLOCK_THREAD_CPUTIME_ID); zero where the
/// clock is unavailable.
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call;
    // clock_gettime writes only into it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// What one run measured.
#[derive(Clone, Copy, Debug)]
pub struct RunResult {
    /// ns per op per thread (wall clock, mean over threads).
    pub ns: f64,
    /// Ops of all threads together.
    pub ops: u64,
    /// Mean over threads of (thread CPU time / thread wall time): 1.0 when
    /// every thread had a CPU to itself for the whole trial; lower when the
    /// machine's other load (or oversubscription) took CPUs away.
    pub on_cpu: f64,
    /// ns of thread CPU time per op (mean over threads): the cost with the
    /// time other load took away removed. Understates contention when a
    /// thread ran alone while another was descheduled.
    pub cpu_ns: f64,
}

/// One run of `variant` on `n` threads for `length`.
pub fn run_once(w: &dyn Workload, variant: usize, n: usize, length: Duration) -> RunResult {
    let stop = Padded(AtomicBool::new(false));
    let barrier = Barrier::new(n + 1);
    let per_thread: Vec<(Duration, u64, Duration)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|rank| {
                let (stop, barrier) = (&stop, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    let (t0, c0) = (Instant::now(), thread_cpu_time());
                    // Relaxed: the flag only ends the loop; the join publishes
                    // everything the run wrote.
                    let ops = w.run(variant, rank, n, &|_| !stop.load(Ordering::Relaxed));
                    (t0.elapsed(), ops, thread_cpu_time().saturating_sub(c0))
                })
            })
            .collect();
        barrier.wait();
        std::thread::sleep(length);
        stop.store(true, Ordering::Relaxed);
        handles.into_iter().map(|h| h.join().expect("benchmark thread panicked")).collect()
    });
    if let Err(e) = w.check(variant, n) {
        panic!("{} / {}: invariant broken after {n} threads: {e}", w.name(), w.variants()[variant]);
    }
    let ns = per_thread
        .iter()
        .map(|(t, ops, _)| t.as_nanos() as f64 / (*ops).max(1) as f64)
        .sum::<f64>()
        / n as f64;
    let on_cpu = per_thread
        .iter()
        .map(|(t, _, cpu)| cpu.as_secs_f64() / t.as_secs_f64().max(1e-9))
        .sum::<f64>()
        / n as f64;
    let cpu_ns = per_thread
        .iter()
        .map(|(_, ops, c)| c.as_nanos() as f64 / (*ops).max(1) as f64)
        .sum::<f64>()
        / n as f64;
    RunResult { ns, ops: per_thread.iter().map(|(_, ops, _)| ops).sum(), on_cpu, cpu_ns }
}

/// Every sample of one workload: `ns[variant][thread_idx][trial]`, and the
/// same shape for `on_cpu` (see [`RunResult`]).
pub struct Samples {
    /// Thread counts, in run order.
    pub threads: Vec<usize>,
    /// ns per op per thread, `[variant][thread count][trial]`.
    pub ns: Vec<Vec<Vec<f64>>>,
    /// Share of each run the threads held a CPU (0 to 1), same shape.
    pub on_cpu: Vec<Vec<Vec<f64>>>,
    /// ns of thread CPU time per op, same shape.
    pub cpu_ns: Vec<Vec<Vec<f64>>>,
    /// Ops of all threads and trials, `[variant][thread count]`.
    pub ops: Vec<Vec<u64>>,
}

/// Runs `trials` alternating trials of every variant at every thread count.
pub fn measure(w: &dyn Workload, threads: &[usize], trials: usize, length: Duration) -> Samples {
    let nv = w.variants().len();
    let mut ns = vec![vec![Vec::with_capacity(trials); threads.len()]; nv];
    let mut on_cpu = ns.clone();
    let mut cpu_ns = ns.clone();
    let mut ops = vec![vec![0u64; threads.len()]; nv];
    for t in 0..trials {
        for (ti, &n) in threads.iter().enumerate() {
            for k in 0..nv {
                let v = (k + t) % nv;
                let r = run_once(w, v, n, length);
                ns[v][ti].push(r.ns);
                on_cpu[v][ti].push(r.on_cpu);
                cpu_ns[v][ti].push(r.cpu_ns);
                ops[v][ti] += r.ops;
            }
        }
    }
    Samples { threads: threads.to_vec(), ns, on_cpu, cpu_ns, ops }
}

/// Median and quartiles (linear interpolation between order statistics).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Summary {
    /// The median.
    pub median: f64,
    /// The first quartile.
    pub q1: f64,
    /// The third quartile.
    pub q3: f64,
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Median and interquartile range of `xs` (NaN for an empty slice).
pub fn summarize(xs: &[f64]) -> Summary {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    Summary { median: quantile(&v, 0.5), q1: quantile(&v, 0.25), q3: quantile(&v, 0.75) }
}

/// `a[i] / b[i]` for each trial, summarised.
pub fn ratio(a: &[f64], b: &[f64]) -> Summary {
    let r: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
    summarize(&r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_quartiles() {
        let s = summarize(&[5.0, 1.0, 3.0, 2.0, 4.0]);
        assert_eq!(s, Summary { median: 3.0, q1: 2.0, q3: 4.0 });
        let s = summarize(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(s.median, 2.5);
        assert_eq!(s.q1, 1.75);
        assert!(summarize(&[]).median.is_nan());
    }

    #[test]
    fn ratio_is_the_median_of_per_trial_ratios() {
        // Per-trial ratios 2, 2, 10: median 2, while the ratio of medians is 1.5.
        let r = ratio(&[2.0, 4.0, 30.0], &[1.0, 2.0, 3.0]);
        assert_eq!(r.median, 2.0);
    }
}

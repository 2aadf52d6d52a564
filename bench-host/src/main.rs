//! `make bench-host`: the `mm` crate timed on the host's real cores.
//!
//! ```text
//! bench-host [--threads 1,2,4] [--trials 15] [--trial-ms 300] [--only NAME[,NAME]] [--out DIR]
//! ```
//!
//! Threads default to 1, 2, 4, ... up to the CPUs this process may use (the
//! maximum always included), capped at `mm::NR_CPUS` (per-CPU list indexes).
//! See `harness.rs` for the method and docs/benchmarks.md for the results.
//! Writes `results.json`, `results.csv`, `ratios.csv`, `summary.md` and
//! `bench.svg` into the output directory (default `target/bench/host`).

use bench_host::{harness, machine, report};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use workloads::{Env, Workload};

/// Command-line settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// Thread counts to measure, ascending, each 1 to `mm::NR_CPUS`.
    pub threads: Vec<usize>,
    /// Alternating trials per figure (>= 1).
    pub trials: usize,
    /// Length of one run.
    pub trial: Duration,
    /// Workload names to run (empty: all).
    pub only: Vec<String>,
    /// Where the result files go.
    pub out: PathBuf,
}

fn usage() -> ! {
    eprintln!(
        "usage: bench-host [--threads 1,2,4] [--trials N] [--trial-ms MS] [--only NAME,...] [--out DIR]"
    );
    std::process::exit(2)
}

/// 1, 2, 4, ... below `max`, then `max`.
fn default_threads(max: usize) -> Vec<usize> {
    let mut v: Vec<usize> =
        std::iter::successors(Some(1), |n| Some(n * 2)).take_while(|&n| n < max).collect();
    v.push(max);
    v
}

fn parse_args() -> Config {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()).min(mm::NR_CPUS);
    let mut cfg = Config {
        threads: default_threads(cpus),
        trials: 15,
        trial: Duration::from_millis(300),
        only: Vec::new(),
        out: PathBuf::from("target/bench/host"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--threads" => {
                let v = val();
                if !v.trim().is_empty() {
                    cfg.threads = v
                        .split(',')
                        .map(|t| {
                            t.trim()
                                .parse()
                                .ok()
                                .filter(|&n: &usize| (1..=mm::NR_CPUS).contains(&n))
                        })
                        .collect::<Option<Vec<_>>>()
                        .unwrap_or_else(|| usage());
                }
            }
            "--trials" => {
                cfg.trials = val().parse().ok().filter(|&n| n > 0).unwrap_or_else(|| usage())
            }
            "--trial-ms" => {
                cfg.trial = Duration::from_millis(
                    val().parse().ok().filter(|&n| n > 0).unwrap_or_else(|| usage()),
                )
            }
            "--only" => {
                cfg.only = val().split(',').map(str::to_string).filter(|s| !s.is_empty()).collect()
            }
            "--out" => cfg.out = PathBuf::from(val()),
            _ => usage(),
        }
    }
    cfg.threads.sort_unstable();
    cfg.threads.dedup();
    cfg
}

fn main() {
    let cfg = parse_args();
    let machine = machine::Machine::describe();
    let max_threads = *cfg.threads.last().unwrap_or(&1);
    if max_threads > machine.logical_cpus {
        eprintln!(
            "warning: {max_threads} threads on {} CPUs: oversubscribed, figures will show time slicing",
            machine.logical_cpus
        );
    }
    let env = Env::new(std::thread::yield_now);
    let all = workloads::all(&env, max_threads);
    let chosen: Vec<&dyn Workload> = all
        .iter()
        .map(|w| w.as_ref())
        .filter(|w| cfg.only.is_empty() || cfg.only.iter().any(|o| o == w.name()))
        .collect();
    if chosen.is_empty() {
        eprintln!("--only matched no workload");
        usage();
    }
    let runs: usize =
        chosen.iter().map(|w| w.variants().len()).sum::<usize>() * cfg.threads.len() * cfg.trials;
    eprintln!(
        "bench-host: {} on {} CPUs; threads {:?}, {} trials x {} ms: about {:.0} s",
        machine.cpu_model,
        machine.logical_cpus,
        cfg.threads,
        cfg.trials,
        cfg.trial.as_millis(),
        (runs as f64 * cfg.trial.as_secs_f64()).ceil()
    );
    let start = machine::LoadSnapshot::now();
    let t0 = Instant::now();
    let mut results = Vec::new();
    for w in chosen {
        let before = machine::LoadSnapshot::now();
        let samples = harness::measure(w, &cfg.threads, cfg.trials, cfg.trial);
        let load =
            machine::Load::between(&before, &machine::LoadSnapshot::now(), machine.logical_cpus);
        let r = report::WorkloadResult::new(w.meta(), &samples, Some(load));
        eprint!("{}", report::markdown_table(&r));
        results.push(r);
    }
    let load = machine::Load::between(&start, &machine::LoadSnapshot::now(), machine.logical_cpus);
    let run = report::Run {
        machine,
        load,
        threads: cfg.threads.clone(),
        trials: cfg.trials,
        trial_ms: cfg.trial.as_millis() as u64,
        wall_s: t0.elapsed().as_secs_f64(),
        goals: report::goals(&results),
        workloads: results,
    };
    if let Err(e) = report::write_all(&run, &cfg.out) {
        eprintln!("bench-host: writing {}: {e}", cfg.out.display());
        std::process::exit(1);
    }
    print!("{}", report::markdown(&run));
    eprintln!("bench-host: results in {}", cfg.out.display());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every workload runs at 1 and 3 threads (3: an odd ring for the
    /// cross-CPU free) and passes its own invariant checks (a broken one
    /// panics in `run_once`), with plausible figures.
    #[test]
    fn every_workload_runs_and_keeps_its_invariants() {
        let env = Env::new(std::thread::yield_now);
        for w in workloads::all(&env, 3) {
            let s = harness::measure(w.as_ref(), &[1, 3], 2, Duration::from_millis(5));
            for (v, name) in w.variants().iter().enumerate() {
                for ns in s.ns[v].iter().flatten() {
                    assert!(ns.is_finite() && *ns > 0.0, "{} {name}: {ns}", w.name());
                }
                assert!(s.ops[v].iter().all(|&o| o > 0), "{} {name}: no ops", w.name());
            }
        }
    }

    #[test]
    fn default_thread_counts() {
        assert_eq!(default_threads(1), [1]);
        assert_eq!(default_threads(2), [1, 2]);
        assert_eq!(default_threads(6), [1, 2, 4, 6]);
        assert_eq!(default_threads(16), [1, 2, 4, 8, 16]);
    }
}

//! SMP stress suites: every online CPU at once, a fixed seeded amount of work,
//! invariants counted during the run and asserted afterwards.
//!
//! Each suite is a KTAP suite `stress_<name>` (registered in
//! [`crate::tests`]) printing its seed (`stress.seed=N` replays the per-CPU
//! random streams), per-CPU operation counts and the refcount operations
//! done. They target the races of the frozen-bit refcount (refcount.md) and
//! the allocator under contention, and pass under every refcount scheme:
//!
//! * [`pagecache`]: speculative lookup vs free (cases 2, 3, 6);
//! * [`revive`]: last put racing speculative gets on a few pages (case 1);
//! * [`freeze`]: freeze / migrate vs get (case 5);
//! * [`scrub`]: stale gets on a frozen page until the overflow scrub (case 4);
//! * [`storm`]: allocation storm with cross-CPU frees, full merge afterwards;
//! * [`faults`]: the workloads above with allocation failures injected.
//!
//! Shared pieces: [`common`] (seed, PRNG, counters, slots, memory snapshot)
//! and [`pages`] (fault knob, poisoning, stamps). The shell's `stress
//! [seconds]` runs the suites in a loop via [`run_for`].

/// `kdiag!` unless the shell's `stress` loop asked for quiet suites.
macro_rules! diag {
    ($($arg:tt)*) => {
        if !$crate::tests::stress::common::quiet() {
            $crate::kdiag!($($arg)*);
        }
    };
}

mod common;
mod faults;
mod freeze;
mod pagecache;
mod pages;
mod revive;
mod scrub;
mod storm;

use crate::arch;
use crate::ktest::{Failure, Suite};

/// The stress suites, in run order (cheapest first).
pub static SUITES: [&Suite; 6] = [
    &scrub::SUITE,
    &revive::SUITE,
    &pagecache::SUITE,
    &freeze::SUITE,
    &storm::SUITE,
    &faults::SUITE,
];

/// Default duration of the shell's `stress` command.
const DEFAULT_SECONDS: u64 = 60;

/// Shell `stress [seconds]`: runs the suites round after round until the time
/// is up (a suite that started is finished), one progress line per suite
/// instead of the suites' diagnostics. Stops at the first failure, naming
/// the seed to replay it with (`stress.seed=N` on the boot command line).
/// Returns true when every suite run passed (false on bad arguments too).
pub fn run_for(args: &str) -> bool {
    let seconds = match args.parse::<u64>() {
        Ok(n) if n > 0 => n,
        _ if args.is_empty() => DEFAULT_SECONDS,
        _ => {
            println!("usage: stress [seconds]   (default {DEFAULT_SECONDS})");
            return false;
        }
    };
    let ms_since = |t: u64| (arch::read_cycles() - t) / arch::cycles_per_us() / 1000;
    let start = arch::read_cycles();
    let (mut round, mut runs, mut failed) = (0, 0, false);
    common::set_quiet(true);
    'rounds: loop {
        round += 1;
        for suite in SUITES {
            if ms_since(start) >= seconds * 1000 {
                break 'rounds;
            }
            let (t0, ops0) = (arch::read_cycles(), common::refops_total());
            failed = run_quietly(suite);
            runs += 1;
            println!(
                "stress: [{:>4} s] round {round:>3} {:<16} {:<4} {:>6} ms {:>9} refcount ops, seed {}",
                ms_since(start) / 1000,
                suite.name,
                if failed { "FAIL" } else { "ok" },
                ms_since(t0),
                common::refops_total() - ops0,
                common::last_seed()
            );
            if failed {
                break 'rounds;
            }
        }
    }
    common::set_quiet(false);
    println!(
        "stress: {} after {runs} suite runs in {round} rounds, {} s, {} refcount ops this boot",
        if failed { "FAIL" } else { "PASS" },
        ms_since(start) / 1000,
        common::refops_total()
    );
    !failed
}

/// Runs every case of `suite`, printing only failures; true if one failed.
fn run_quietly(suite: &Suite) -> bool {
    let mut failed = false;
    for case in suite.cases {
        match (case.run)() {
            Ok(()) => {}
            Err(Failure::Skip(why)) => {
                println!("stress: {}.{} skipped: {why}", suite.name, case.name)
            }
            Err(Failure::Fail(why)) => {
                println!("stress: {}.{} FAILED: {why}", suite.name, case.name);
                failed = true;
            }
        }
    }
    failed
}

//! Deliberate failures for testing the test harness itself
//! (`ktest.inject=fail|panic|fault|hang|overflow`). The host runner's own tests boot
//! with each and check that the failure is reported, so a harness that
//! swallowed failures would be caught.
//!
//! The kinds and the marker are `protocol::inject`'s (the host tests use
//! them too). Just before it acts, each injection prints the diagnostic
//! `inject: about to <kind>` (`MARKER`): the runner's tests require it, so
//! a test cannot pass on some other failure (or a timeout) that happened
//! before the injection was reached. Boot with `ktest.filter=none` to run
//! the injection first and alone.

use protocol::cmdline::key;
use protocol::inject::{Injection, MARKER};
use spin::Once;

use crate::arch;
use crate::ktest::{Failure, Suite, TestResult};

static INJECTION: Once<Injection> = Once::new();

/// Arms the injection named on the command line (unknown names panic, so a
/// typo in a harness test cannot silently pass).
pub fn configure(kind: Option<&str>) {
    let Some(kind) = kind else { return };
    let injection = Injection::parse(kind).unwrap_or_else(|e| panic!("{e}"));
    INJECTION.call_once(|| injection);
}

static SUITE: Suite = Suite { name: "inject", cases: crate::cases![injected_failure] };

/// The injection suite, present only when armed.
pub fn suite() -> Option<&'static Suite> {
    INJECTION.get().map(|_| &SUITE)
}

fn injected_failure() -> TestResult {
    let kind = INJECTION.get().copied().unwrap_or(Injection::Fail);
    crate::kdiag!("{MARKER}{kind}");
    let inject = key::KTEST_INJECT;
    match INJECTION.get() {
        Some(Injection::Fail) | None => {
            Err(Failure::Fail(alloc::format!("injected failure ({inject}={kind})")))
        }
        Some(Injection::Panic) => panic!("injected panic ({inject}={kind})"),
        Some(Injection::Fault) => arch::trigger_fault(),
        Some(Injection::Hang) => arch::hang(),
        Some(Injection::Overflow) => {
            let last = crate::smp::online_cpus().last().map_or(0, |c| c.index);
            crate::smp::on_cpus(&mut core::iter::once(last), &|_| {
                recurse(0);
            });
            Err(Failure::Fail("stack overflow was not caught".into()))
        }
    }
}

/// Recursion the optimiser cannot turn into a loop (the array and the
/// black_box keep every frame alive).
#[allow(unconditional_recursion)] // the overflow is the point
fn recurse(depth: u64) -> u64 {
    let frame = core::hint::black_box([depth; 64]);
    recurse(depth + 1) + frame[7]
}

//! Deliberate failures for testing the test harness itself
//! (`ktest.inject=fail|panic|fault|hang`). The host runner's own tests boot
//! with each and check that the failure is reported, so a harness that
//! swallowed failures would be caught.

use spin::Once;

use crate::arch;
use crate::ktest::{Case, Failure, Suite, TestResult};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Injection {
    Fail,
    Panic,
    Fault,
    Hang,
}

static INJECTION: Once<Injection> = Once::new();

/// Arms the injection named on the command line (unknown names panic, so a
/// typo in a harness test cannot silently pass).
pub fn configure(kind: Option<&str>) {
    let Some(kind) = kind else { return };
    let injection = match kind {
        "fail" => Injection::Fail,
        "panic" => Injection::Panic,
        "fault" => Injection::Fault,
        "hang" => Injection::Hang,
        other => panic!("unknown ktest.inject={other}"),
    };
    INJECTION.call_once(|| injection);
}

static SUITE: Suite = Suite {
    name: "inject",
    cases: &[Case { name: "injected_failure", run: injected_failure }],
};

/// The injection suite, present only when armed.
pub fn suite() -> Option<&'static Suite> {
    INJECTION.get().map(|_| &SUITE)
}

fn injected_failure() -> TestResult {
    match INJECTION.get() {
        Some(Injection::Fail) | None => {
            Err(Failure::Fail("injected failure (ktest.inject=fail)".into()))
        }
        Some(Injection::Panic) => panic!("injected panic (ktest.inject=panic)"),
        Some(Injection::Fault) => arch::trigger_fault(),
        Some(Injection::Hang) => arch::hang(),
    }
}

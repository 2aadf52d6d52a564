//! `stress_faults`: the storm, page-cache and migration workloads with
//! allocation failures injected through [`FaultKnob`]: every Nth allocation
//! fails, and each one also fails with a seeded probability. Callers must
//! cope (skip the install, abort the migration by unfreezing, try again
//! later) without leaking: each workload's own end checks (every allocation
//! freed exactly once, free count and buddyinfo back to the start, no bad
//! pages) must hold, and failures must actually have been injected.

use super::common::scale;
use super::pages::{FaultKnob, Pages};
use super::{freeze, pagecache, storm};
use crate::kassert;
use crate::ktest::{Suite, TestResult};

pub static SUITE: Suite = Suite {
    name: "stress_faults",
    cases: crate::cases![storm_with_failures, pagecache_with_failures, freeze_with_failures],
};

/// Every 7th allocation fails, and 5% of the others.
fn knob() -> FaultKnob {
    FaultKnob::new(7, 50_000)
}

fn check_injected(knob: &FaultKnob) -> TestResult {
    diag!("{} allocation failures injected", knob.injected());
    kassert!(knob.injected() > 0, "no failure was injected");
    Ok(())
}

fn storm_with_failures() -> TestResult {
    let knob = knob();
    storm::run(Pages::new(&knob), storm::OPS / 2 * scale())?;
    check_injected(&knob)
}

fn pagecache_with_failures() -> TestResult {
    let knob = knob();
    pagecache::run(&knob, pagecache::OPS / 2 * scale())?;
    check_injected(&knob)
}

fn freeze_with_failures() -> TestResult {
    let knob = knob();
    freeze::run(&knob, freeze::OPS / 2 * scale())?;
    check_injected(&knob)
}

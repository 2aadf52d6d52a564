//! In-kernel test framework with KTAP version 1 output.
//!
//! Tests are plain functions grouped into [`Suite`]s listed in
//! [`crate::tests::SUITES`] (a static registry: adding a suite is one line
//! there). The runner prints the Linux KUnit flavour of KTAP:
//!
//! ```text
//! KTAP version 1
//! 1..2
//!     KTAP version 1
//!     # Subtest: heap
//!     1..2
//!     ok 1 box_alloc
//!     not ok 2 vec_grow # assertion failed: ... at kernel/src/tests/heap.rs:20
//! not ok 1 heap
//! ```
//!
//! A failing case returns `Err`; a panic or CPU exception ends the whole run
//! (the host runner sees the report and the failure exit status).

mod macros;

use alloc::string::String;

use crate::cmdline::CmdLine;

/// Why a case did not pass.
#[derive(Debug)]
pub enum Failure {
    /// The case failed; the message says what and where.
    Fail(String),
    /// The case does not apply here (reported as `ok ... # SKIP reason`).
    Skip(&'static str),
}

pub type TestResult = Result<(), Failure>;

/// One test case.
pub struct Case {
    pub name: &'static str,
    pub run: fn() -> TestResult,
}

/// A named group of cases: one KTAP subtest.
pub struct Suite {
    pub name: &'static str,
    pub cases: &'static [Case],
}

/// Totals of one run.
#[derive(Default, Debug, Clone, Copy)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

/// Prints a KTAP diagnostic line inside the running case's subtest.
#[macro_export]
macro_rules! kdiag {
    ($($arg:tt)*) => ($crate::println!("    # {}", format_args!($($arg)*)));
}

/// Runs the suites the command line selects (`ktest.filter=a,b`, default all,
/// plus the injected suite of `ktest.inject=...`) and prints KTAP.
/// Returns true when nothing failed.
pub fn run(cmdline: &CmdLine<'_>) -> bool {
    crate::tests::inject::configure(cmdline.get("ktest.inject"));
    let filter = cmdline.get("ktest.filter");
    // The injected-failure suite runs whatever the filter says.
    let selected = || {
        crate::tests::all_suites().filter(move |s| {
            s.name == "inject" || filter.is_none_or(|f| f.split(',').any(|name| name == s.name))
        })
    };
    // A filter that selects nothing is a typo, not a pass. (An armed
    // injection alone is a valid selection: `ktest.filter=none` runs just it.)
    if let Some(f) = filter
        && selected().next().is_none()
    {
        println!("ktest: no suite matches `{f}`; suites are:");
        for s in crate::tests::all_suites() {
            println!("  {}", s.name);
        }
        return false;
    }
    let summary = run_suites(selected);
    println!(
        "# ktest: {} passed, {} failed, {} skipped",
        summary.passed, summary.failed, summary.skipped
    );
    summary.failed == 0
}

/// Runs `suites` (called twice: once to count for the plan, once to run).
pub fn run_suites<'a, I>(suites: impl Fn() -> I) -> Summary
where
    I: Iterator<Item = &'a Suite>,
{
    let mut total = Summary::default();
    println!("KTAP version 1");
    println!("1..{}", suites().count());
    for (i, suite) in suites().enumerate() {
        let start = crate::arch::read_cycles();
        let s = run_suite(suite);
        let us = (crate::arch::read_cycles() - start) / crate::arch::cycles_per_us();
        println!("    # {}: {} ms", suite.name, us / 1000);
        let verdict = if s.failed == 0 { "ok" } else { "not ok" };
        println!("{verdict} {} {}", i + 1, suite.name);
        total.passed += s.passed;
        total.failed += s.failed;
        total.skipped += s.skipped;
    }
    total
}

fn run_suite(suite: &Suite) -> Summary {
    let mut s = Summary::default();
    println!("    KTAP version 1");
    println!("    # Subtest: {}", suite.name);
    println!("    1..{}", suite.cases.len());
    for (i, case) in suite.cases.iter().enumerate() {
        let n = i + 1;
        match (case.run)() {
            Ok(()) => {
                s.passed += 1;
                println!("    ok {n} {}", case.name);
            }
            Err(Failure::Skip(why)) => {
                s.skipped += 1;
                println!("    ok {n} {} # SKIP {why}", case.name);
            }
            Err(Failure::Fail(why)) => {
                s.failed += 1;
                // A reason must stay on the result line: fold newlines.
                let why = why.replace('\n', "; ");
                println!("    not ok {n} {} # {why}", case.name);
            }
        }
    }
    s
}

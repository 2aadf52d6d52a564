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
//!
//! The KTAP lines go out through [`crate::console::ktap_line`]; everything
//! else printed while the suites run (diagnostics, `log` records, SMP and
//! bad-page reports, a panic report) is turned into `#` diagnostics at the
//! current nesting by the console (see its "KTAP mode"), so the serial log is
//! strict KTAP v1 that the host runner and Linux's `kunit.py parse` accept.

mod macros;

use alloc::string::String;

use protocol::cmdline::key;
use protocol::ktap::{INDENT, NOT_OK, OK, PLAN_PREFIX, SKIP, SUBTEST_PREFIX, VERSION_LINE};

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

/// Prints a KTAP diagnostic line (`# ...`) inside the running case's
/// subtest. During a ktest run the console adds the `#` and the indentation;
/// outside one (the shell's `stress` loop) it is printed as `    # ...`.
#[macro_export]
macro_rules! kdiag {
    ($($arg:tt)*) => {
        if $crate::console::in_ktap() {
            $crate::println!("{}", format_args!($($arg)*))
        } else {
            $crate::println!("    # {}", format_args!($($arg)*))
        }
    };
}

/// Prints one KTAP line as is (never turned into a diagnostic).
macro_rules! ktap {
    ($($arg:tt)*) => ($crate::console::ktap_line(format_args!($($arg)*)));
}

/// Runs the suites the command line selects (`ktest.filter=a,b`, default all,
/// plus the injected suite of `ktest.inject=...`) and prints KTAP.
/// Returns true when nothing failed.
pub fn run(cmdline: &CmdLine<'_>) -> bool {
    crate::tests::inject::configure(cmdline.get(key::KTEST_INJECT));
    let filter = cmdline.get(key::KTEST_FILTER);
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
    ktap!(
        "# ktest: {} passed, {} failed, {} skipped",
        summary.passed,
        summary.failed,
        summary.skipped
    );
    summary.failed == 0
}

/// Runs `suites` (called twice: once to count for the plan, once to run)
/// and prints them as one KTAP document; other output meanwhile becomes
/// diagnostics (console KTAP mode, left when this returns).
pub fn run_suites<'a, I>(suites: impl Fn() -> I) -> Summary
where
    I: Iterator<Item = &'a Suite>,
{
    let mut total = Summary::default();
    ktap!("{VERSION_LINE}");
    ktap!("{PLAN_PREFIX}{}", suites().count());
    crate::console::set_ktap_depth(1);
    for (i, suite) in suites().enumerate() {
        let start = crate::arch::read_cycles();
        crate::console::set_ktap_depth(2);
        let s = run_suite(suite);
        let us = (crate::arch::read_cycles() - start) / crate::arch::cycles_per_us();
        println!("{}: {} ms", suite.name, us / 1000);
        crate::console::set_ktap_depth(1);
        let verdict = if s.failed == 0 { OK } else { NOT_OK };
        ktap!("{verdict} {} {}", i + 1, suite.name);
        total.passed += s.passed;
        total.failed += s.failed;
        total.skipped += s.skipped;
    }
    crate::console::set_ktap_depth(0);
    total
}

fn run_suite(suite: &Suite) -> Summary {
    let mut s = Summary::default();
    ktap!("{INDENT}{VERSION_LINE}");
    ktap!("{INDENT}{SUBTEST_PREFIX} {}", suite.name);
    ktap!("{INDENT}{PLAN_PREFIX}{}", suite.cases.len());
    for (i, case) in suite.cases.iter().enumerate() {
        let n = i + 1;
        match (case.run)() {
            Ok(()) => {
                s.passed += 1;
                ktap!("{INDENT}{OK} {n} {}", case.name);
            }
            Err(Failure::Skip(why)) => {
                s.skipped += 1;
                ktap!("{INDENT}{OK} {n} {} # {SKIP} {why}", case.name);
            }
            Err(Failure::Fail(why)) => {
                s.failed += 1;
                // A reason must stay on the result line: fold newlines.
                let why = why.replace('\n', "; ");
                ktap!("{INDENT}{NOT_OK} {n} {} # {why}", case.name);
            }
        }
    }
    s
}

//! Host side of the kernel test harness: boot an image in QEMU, read KTAP
//! from the serial port, and judge the run (the rules are docs/testing.md's
//! "The QEMU boots" and "Strict KTAP").
//!
//! - [`qemu`]: launcher, the one place the QEMU command line is built (test
//!   boots, interactive sessions, `make run`), with live serial capture,
//!   timeout and log file;
//! - [`ktap`]: KTAP version 1 parser and fatal-report scanner;
//! - [`verdict`]: pass/fail judgement and the printed report;
//! - [`report`]: per-boot results for CI: a JSON result tree and JUnit XML
//!   next to the serial log;
//! - [`interactive`]: sessions with the shell (serial input, keyboard via
//!   QMP, screendumps) for the shell and screen tests.
//!
//! The `qemu-runner` binary and the `tests/boot.rs` integration tests are
//! thin wrappers around [`boot`].

pub mod interactive;
pub mod ktap;
pub mod qemu;
pub mod report;
pub mod verdict;

pub use qemu::{A64Machine, Arch, Boot, Config, Ending, PiUart, Run, Serial};
pub use verdict::{Verdict, judge};

/// Boots once and judges the run; with a `log_dir`, also writes the results
/// (`<name>.json`, `<name>.xml`) next to the log. `Err` only when QEMU could
/// not be started (or a log or result file not written); everything that
/// happens inside the guest is in the [`Verdict`].
pub fn boot(cfg: &Config) -> std::io::Result<(Run, Verdict)> {
    let run = qemu::run(cfg)?;
    let verdict = judge(&run);
    report::write(cfg, &run, &verdict)?;
    Ok((run, verdict))
}

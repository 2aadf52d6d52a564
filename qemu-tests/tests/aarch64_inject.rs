//! The harness catching a deliberate stack overflow on aarch64
//! (`ktest.inject=overflow`): the injection's marker, then a `CPU EXCEPTION`
//! report after it, and a failed verdict. The x86_64 injections are in
//! tests/boot.rs.
//!
//! Image: `$AARCH64_IMAGE` (default `target/image/aarch64/Image`, `make image
//! ARCH=aarch64`); a missing image fails the test. Log:
//! `target/qemu-logs/aarch64-overflow.log`.

use std::path::PathBuf;
use std::time::Duration;

use protocol::cmdline::{Mode, Parts, key};
use protocol::fatal::{self, CPU_EXCEPTION};
use protocol::inject::{Injection, MARKER};
use qemu_tests::{Arch, Config};

mod common;
use common::{log_dir, workspace};

/// Lines after the marker within which the exception report must start.
const REPORT_WITHIN: usize = 20;

#[test]
fn aarch64_stack_overflow_is_reported() {
    let image = std::env::var_os("AARCH64_IMAGE")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/image/aarch64/Image"));
    assert!(image.is_file(), "{} not found: run `make image ARCH=aarch64`", image.display());
    let kind = Injection::Overflow;
    let options = [(key::KTEST_INJECT, kind.name()), (key::KTEST_FILTER, "none")];
    let mut cfg = Config::new(image);
    cfg.arch = Arch::Aarch64;
    cfg.cmdline = Parts { mode: Mode::Ktest, options: &options, words: &[] }.to_string();
    cfg.name = "aarch64-overflow".into();
    cfg.log_dir = Some(log_dir());
    cfg.timeout = Duration::from_secs(300);
    cfg.expect_fail = true;
    let (run, v) = qemu_tests::boot(&cfg).expect("cannot run QEMU");
    println!("{}{} after {:.1?}", v.render(), run.ending, run.elapsed);
    assert!(!v.is_pass(), "the overflow was not reported as a failure:\n{}", v.render());
    let marker = format!("{MARKER}{kind}");
    let at = run.lines.iter().position(|l| l.contains(&marker));
    let at = at.unwrap_or_else(|| panic!("no `{marker}` line: the injection was never reached"));
    let report = run.lines[at + 1..]
        .iter()
        .take(REPORT_WITHIN)
        .any(|l| fatal::marker_in(l) == Some(CPU_EXCEPTION));
    assert!(report, "no `{CPU_EXCEPTION}` report within {REPORT_WITHIN} lines of `{marker}`");
}

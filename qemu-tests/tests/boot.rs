//! Boots the images built by `make image` and checks the runner's verdicts,
//! including the injected failures (test the tester).
//!
//! Images come from `$IMAGE_DIR` (default `<workspace>/target/image/x86_64`);
//! missing images fail the tests rather than skipping them. Serial logs go to
//! `<workspace>/target/qemu-logs/<test>.log`; `VERBOSE=1` echoes them live.

use std::path::PathBuf;
use std::time::Duration;

use protocol::cmdline::{Mode, Parts, key};
use protocol::exit::ExitStatus;
use protocol::fatal::{CPU_EXCEPTION, KERNEL_PANIC};
// What the kernel prints (a KTAP diagnostic of the `inject` suite) just
// before an injection acts, followed by the kind's name.
use protocol::inject::{Injection, MARKER as INJECT_MARKER};
use qemu_tests::{Boot, Config, Ending, Run, Verdict};

mod common;
use common::{Slot, workspace};

/// Which kernel build: the default frozen-bit refcount (FROZEN mid-range) or the legacy CAS loop.
#[derive(Clone, Copy)]
enum Scheme {
    Frozen,
    Legacy,
}

fn image(boot: Boot, scheme: Scheme) -> PathBuf {
    let default_dir = match scheme {
        Scheme::Frozen => "target/image/x86_64",
        Scheme::Legacy => "target/image/x86_64-legacy",
    };
    let var = match scheme {
        Scheme::Frozen => "IMAGE_DIR",
        Scheme::Legacy => "LEGACY_IMAGE_DIR",
    };
    let dir =
        std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| workspace().join(default_dir));
    let file = match boot {
        Boot::Bios => "bios.img",
        Boot::Uefi => "uefi.img",
    };
    let path = dir.join(file);
    assert!(
        path.is_file(),
        "{} not found: run `make image` (and `make image SCHEME=legacy`) first (or set {var})",
        path.display()
    );
    path
}

/// Boots `boot` with `cmdline` and prints the report (shown on failure or with --nocapture).
fn boot(name: &str, boot: Boot, cmdline: &str, timeout_secs: u64) -> Verdict {
    boot_with(name, boot, Scheme::Frozen, 4, cmdline, timeout_secs).1
}

/// Like [`boot`], with the kernel build and CPU count chosen; also returns
/// the serial lines.
fn boot_with(
    name: &str,
    boot: Boot,
    scheme: Scheme,
    smp: u32,
    cmdline: &str,
    timeout_secs: u64,
) -> (Vec<String>, Verdict) {
    let (run, verdict) = boot_run(name, boot, scheme, smp, cmdline, timeout_secs, false);
    (run.lines, verdict)
}

/// Boots and returns the whole run; `expect_fail` marks the boot's results
/// (JSON/JUnit) as meant to fail.
fn boot_run(
    name: &str,
    boot: Boot,
    scheme: Scheme,
    smp: u32,
    cmdline: &str,
    timeout_secs: u64,
    expect_fail: bool,
) -> (Run, Verdict) {
    let mut cfg = Config::new(image(boot, scheme));
    cfg.boot = boot;
    cfg.smp = smp;
    cfg.cmdline = cmdline.into();
    cfg.timeout = Duration::from_secs(timeout_secs);
    cfg.name = name.into();
    cfg.log_dir = Some(workspace().join("target/qemu-logs"));
    cfg.expect_fail = expect_fail;
    let _slot = Slot::take();
    let (run, verdict) = qemu_tests::boot(&cfg).expect("cannot run QEMU");
    println!("{}{} after {:.1?}", verdict.render(), run.ending, run.elapsed);
    (run, verdict)
}

fn has_line(lines: &[String], needle: &str) -> bool {
    lines.iter().any(|l| l.contains(needle))
}

fn assert_passes(v: &Verdict) {
    assert!(v.is_pass(), "boot failed:\n{}", v.render());
    assert!(v.cases.len() >= 8, "only {} KTAP cases (want >= 8)", v.cases.len());
}

#[test]
fn bios_ktest_passes() {
    let (lines, v) = boot_with("bios-ktest", Boot::Bios, Scheme::Frozen, 4, "ktest", 180);
    assert_passes(&v);
    assert!(has_line(&lines, "refcount: frozen-bit-mid"), "image is not the frozen-bit-mid build");
    assert!(has_line(&lines, "smp: 4 of 4 CPUs online"), "not all 4 vCPUs online");
}

#[test]
fn uefi_ktest_passes() {
    assert_passes(&boot("uefi-ktest", Boot::Uefi, "ktest", 180));
}

/// The hang test's timeout. It must exceed the time a BIOS boot needs to
/// reach the injection (`ktest.filter=none` runs it first) on a loaded host,
/// with a margin (docs/decisions/hang-test-timeout.md). No boot without the hang
/// can reach it: the kernel exits QEMU within seconds of the marker, and the
/// test requires the marker, then `TimedOut`, with the marker as the last line.
const HANG_TIMEOUT_SECS: u64 = 90;

/// Boots with `ktest.inject=KIND ktest.filter=none` (the injection runs at
/// once, alone) and checks the marker: present, a KTAP diagnostic, and the
/// last KTAP line before the failure. Returns the run and its verdict.
fn inject(kind: Injection, timeout_secs: u64) -> (Run, Verdict) {
    let options = [(key::KTEST_INJECT, kind.name()), (key::KTEST_FILTER, "none")];
    let cmdline = Parts { mode: Mode::Ktest, options: &options, words: &[] }.to_string();
    let (run, v) = boot_run(
        &format!("inject-{kind}"),
        Boot::Bios,
        Scheme::Frozen,
        4,
        &cmdline,
        timeout_secs,
        true,
    );
    let marker = format!("# {INJECT_MARKER}{kind}");
    let at = run.lines.iter().position(|l| l.trim_end_matches('\r').trim_start() == marker);
    let Some(at) = at else {
        panic!("no `{marker}` line: the injection was never reached\n{}", v.render());
    };
    // The injected case never passes after its marker.
    let passed =
        run.lines[at + 1..].iter().any(|l| l.trim_start().starts_with("ok 1 injected_failure"));
    assert!(!passed, "the injected case passed after its marker:\n{}", v.render());
    (run, v)
}

fn assert_fails_with(v: &Verdict, needle: &str) {
    assert!(!v.is_pass(), "injected failure not detected:\n{}", v.render());
    assert!(v.reason().contains(needle), "reason lacks `{needle}`:\n{}", v.reason());
}

/// The fatal report comes after the marker (so it is the injection's).
fn assert_report_after_marker(run: &Run, kind: Injection, report: &str) {
    let marker = format!("{INJECT_MARKER}{kind}");
    let m = run.lines.iter().position(|l| l.contains(&marker)).expect("marker checked");
    let r = run.lines.iter().position(|l| l.contains(report));
    assert!(r.is_some_and(|r| r > m), "no `{report}` after the `{marker}` line");
}

#[test]
fn inject_fail_is_reported() {
    let (run, v) = inject(Injection::Fail, 120);
    assert_fails_with(&v, "inject.injected_failure: injected failure (ktest.inject=fail)");
    let failed = ExitStatus::Failure.x86_64_status();
    assert_eq!(run.ending, Ending::Exited(Some(failed)), "ending: {}", run.ending);
}

#[test]
fn inject_panic_is_reported() {
    let (run, v) = inject(Injection::Panic, 120);
    assert_fails_with(&v, KERNEL_PANIC);
    assert_fails_with(&v, "injected panic (ktest.inject=panic)");
    assert_report_after_marker(&run, Injection::Panic, KERNEL_PANIC);
}

#[test]
fn inject_fault_is_reported() {
    let (run, v) = inject(Injection::Fault, 120);
    assert_fails_with(&v, CPU_EXCEPTION);
    assert_report_after_marker(&run, Injection::Fault, CPU_EXCEPTION);
}

/// The hang must end in the timeout, after the marker: a boot that exits
/// (the injection did nothing) or never reaches the marker fails this test.
#[test]
fn inject_hang_is_reported() {
    let (run, v) = inject(Injection::Hang, HANG_TIMEOUT_SECS);
    assert_eq!(run.ending, Ending::TimedOut, "the hang injection did not hang");
    assert_fails_with(&v, &format!("timeout after {HANG_TIMEOUT_SECS} s"));
    let last = run.lines.iter().rev().find(|l| !l.trim().is_empty()).expect("marker seen");
    assert!(
        last.contains(&format!("{INJECT_MARKER}{}", Injection::Hang)),
        "output went on after the hang: {last}"
    );
}

#[test]
fn inject_stack_overflow_is_reported() {
    // Recursion on the last CPU hits its stack guard page; the double fault
    // runs on its IST stack and names that CPU.
    let (run, v) = inject(Injection::Overflow, 120);
    assert_fails_with(&v, "double fault");
    assert_fails_with(&v, "on CPU 3");
    assert_report_after_marker(&run, Injection::Overflow, CPU_EXCEPTION);
}

/// Boots with `n` vCPUs and checks that all of them came online.
fn smp_count(n: u32) {
    let (lines, v) =
        boot_with(&format!("smp{n}"), Boot::Bios, Scheme::Frozen, n, "ktest ktest.filter=smp", 120);
    assert!(v.is_pass(), "smp suite failed with -smp {n}:\n{}", v.render());
    let want = format!("smp: {n} of {n} CPUs online");
    assert!(has_line(&lines, &want), "no `{want}` line in the boot log");
}

#[test]
fn smp_1_cpu() {
    smp_count(1);
}

#[test]
fn smp_2_cpus() {
    smp_count(2);
}

#[test]
fn legacy_scheme_bios_ktest_passes() {
    let (lines, v) = boot_with("legacy-bios-ktest", Boot::Bios, Scheme::Legacy, 4, "ktest", 180);
    assert_passes(&v);
    assert!(
        has_line(&lines, "refcount: legacy"),
        "the legacy image does not say it uses the legacy scheme"
    );
}

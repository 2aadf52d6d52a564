//! Boots the images built by `make image` and checks the runner's verdicts,
//! including the injected failures (test the tester).
//!
//! Images come from `$IMAGE_DIR` (default `<workspace>/target/image/x86_64`);
//! missing images fail the tests rather than skipping them. Serial logs go to
//! `<workspace>/target/qemu-logs/<test>.log`; `VERBOSE=1` echoes them live.

use std::path::PathBuf;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use qemu_tests::{Boot, Config, Verdict};

/// The host has 2 cores: at most this many QEMUs at once (all tests of this
/// file share one process, so a static semaphore is enough).
const MAX_BOOTS: usize = 2;
static RUNNING: Mutex<usize> = Mutex::new(0);
static FREED: Condvar = Condvar::new();

/// Holds one of the [`MAX_BOOTS`] slots until dropped.
struct Slot;

impl Slot {
    fn take() -> Self {
        let mut n = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        while *n >= MAX_BOOTS {
            n = FREED.wait(n).unwrap_or_else(|e| e.into_inner());
        }
        *n += 1;
        Slot
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        *RUNNING.lock().unwrap_or_else(|e| e.into_inner()) -= 1;
        FREED.notify_one();
    }
}

fn workspace() -> PathBuf {
    let crate_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    crate_dir.parent().expect("qemu-tests sits in the workspace").to_path_buf()
}

/// Which kernel build: the default frozen-bit refcount or the legacy CAS loop.
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
    let mut cfg = Config::new(image(boot, scheme));
    cfg.boot = boot;
    cfg.smp = smp;
    cfg.cmdline = cmdline.into();
    cfg.timeout = Duration::from_secs(timeout_secs);
    cfg.name = name.into();
    cfg.log_dir = Some(workspace().join("target/qemu-logs"));
    let _slot = Slot::take();
    let (run, verdict) = qemu_tests::boot(&cfg).expect("cannot run QEMU");
    println!("{}{} after {:.1?}", verdict.render(), run.ending, run.elapsed);
    (run.lines, verdict)
}

fn has_line(lines: &[String], needle: &str) -> bool {
    lines.iter().any(|l| l.contains(needle))
}

fn assert_passes(v: &Verdict) {
    assert!(v.is_pass(), "boot failed:\n{}", v.render());
    assert!(v.cases.len() >= 8, "only {} KTAP cases (want >= 8)", v.cases.len());
}

fn assert_fails_with(v: &Verdict, needle: &str) {
    assert!(!v.is_pass(), "injected failure not detected:\n{}", v.render());
    assert!(v.reason().contains(needle), "reason lacks `{needle}`:\n{}", v.reason());
}

#[test]
fn bios_ktest_passes() {
    let (lines, v) = boot_with("bios-ktest", Boot::Bios, Scheme::Frozen, 4, "ktest", 180);
    assert_passes(&v);
    assert!(has_line(&lines, "refcount: frozen-bit"), "image is not the frozen-bit build");
    assert!(has_line(&lines, "smp: 4 of 4 CPUs online"), "not all 4 vCPUs online");
}

#[test]
fn uefi_ktest_passes() {
    assert_passes(&boot("uefi-ktest", Boot::Uefi, "ktest", 180));
}

#[test]
fn inject_fail_is_reported() {
    let v = boot("inject-fail", Boot::Bios, "ktest ktest.inject=fail", 120);
    assert_fails_with(&v, "inject.injected_failure");
}

#[test]
fn inject_panic_is_reported() {
    let v = boot("inject-panic", Boot::Bios, "ktest ktest.inject=panic", 120);
    assert_fails_with(&v, "KERNEL PANIC");
}

#[test]
fn inject_fault_is_reported() {
    let v = boot("inject-fault", Boot::Bios, "ktest ktest.inject=fault", 120);
    assert_fails_with(&v, "CPU EXCEPTION");
}

#[test]
fn inject_hang_is_reported() {
    let v = boot("inject-hang", Boot::Bios, "ktest ktest.inject=hang", 20);
    assert_fails_with(&v, "timeout after 20 s");
}

#[test]
fn inject_stack_overflow_is_reported() {
    // Recursion on the last CPU hits its stack guard page; the double fault
    // runs on its IST stack and names that CPU.
    let v =
        boot("inject-overflow", Boot::Bios, "ktest ktest.inject=overflow ktest.filter=none", 120);
    assert_fails_with(&v, "double fault");
    assert_fails_with(&v, "on CPU 3");
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

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
    crate_dir
        .parent()
        .expect("qemu-tests sits in the workspace")
        .to_path_buf()
}

fn image(boot: Boot) -> PathBuf {
    let dir = std::env::var_os("IMAGE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/image/x86_64"));
    let file = match boot {
        Boot::Bios => "bios.img",
        Boot::Uefi => "uefi.img",
    };
    let path = dir.join(file);
    assert!(
        path.is_file(),
        "{} not found: run `make image` first (or set IMAGE_DIR)",
        path.display()
    );
    path
}

/// Boots `boot` with `cmdline` and prints the report (shown on failure or with --nocapture).
fn boot(name: &str, boot: Boot, cmdline: &str, timeout_secs: u64) -> Verdict {
    let mut cfg = Config::new(image(boot));
    cfg.boot = boot;
    cfg.cmdline = cmdline.into();
    cfg.timeout = Duration::from_secs(timeout_secs);
    cfg.name = name.into();
    cfg.log_dir = Some(workspace().join("target/qemu-logs"));
    let _slot = Slot::take();
    let (run, verdict) = qemu_tests::boot(&cfg).expect("cannot run QEMU");
    println!(
        "{}{} after {:.1?}",
        verdict.render(),
        run.ending,
        run.elapsed
    );
    verdict
}

fn assert_passes(v: &Verdict) {
    assert!(v.is_pass(), "boot failed:\n{}", v.render());
    assert!(
        v.cases.len() >= 8,
        "only {} KTAP cases (want >= 8)",
        v.cases.len()
    );
}

fn assert_fails_with(v: &Verdict, needle: &str) {
    assert!(
        !v.is_pass(),
        "injected failure not detected:\n{}",
        v.render()
    );
    assert!(
        v.reason().contains(needle),
        "reason lacks `{needle}`:\n{}",
        v.reason()
    );
}

#[test]
fn bios_ktest_passes() {
    assert_passes(&boot("bios-ktest", Boot::Bios, "ktest", 120));
}

#[test]
fn uefi_ktest_passes() {
    assert_passes(&boot("uefi-ktest", Boot::Uefi, "ktest", 120));
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

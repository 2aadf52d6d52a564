//! x86 platform features, each booted for real:
//!
//! - a command line baked into the image (`make image CMDLINE=...`) boots
//!   into ktest with no fw_cfg at all, and fw_cfg still wins over it;
//! - the unattended mode: ktest, stress, progress lines, the PASS banner on
//!   serial and as a big green box on the screen (screendump); a failure
//!   gives the FAIL banner and status;
//! - x2APIC: left on by the firmware (OVMF, with a CPU whose APIC id is 256)
//!   and switched on by the kernel (`apic=x2apic`), CPUs started with
//!   INIT-SIPI-SIPI over the x2APIC ICR, the smp suite's IPIs working.
//!
//! Baked images are built here with the `boot` tool from the kernel ELF
//! that `make image` built (`target/release/boot`,
//! `target/x86_64-unknown-none/release/kernel`), into
//! `target/image/platform-test/<name>/`. Serial logs go to
//! `<workspace>/target/qemu-logs/platform-*.log`; `VERBOSE=1` echoes them.
//! At most two QEMUs run at once (the host has 2 cores).

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use qemu_tests::interactive::Session;
use qemu_tests::{Boot, Config, Ending, Run, Verdict};

mod common;
use common::{Slot, assert_pass_screen, log_dir, workspace};

/// Builds bios.img and uefi.img with `cmdline` baked in (no cmdline: plain)
/// under target/image/platform-test/`name`; returns that directory.
fn baked_images(name: &str, cmdline: Option<&str>) -> PathBuf {
    let ws = workspace();
    let tool = ws.join("target/release/boot");
    // The ELF `make image` puts into the images (debug info stripped).
    let kernel = ws.join("target/x86_64-unknown-none/release/kernel.stripped");
    for f in [&tool, &kernel] {
        assert!(f.is_file(), "{} not found: run `make image` first", f.display());
    }
    let dir = ws.join("target/image/platform-test").join(name);
    let mut cmd = Command::new(&tool);
    if let Some(c) = cmdline {
        cmd.args(["--cmdline", c]);
    }
    let out = cmd.arg(&kernel).arg(&dir).output().expect("cannot run the boot tool");
    assert!(
        out.status.success(),
        "boot tool failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

fn config(name: &str, image: PathBuf, boot: Boot, smp: u32, timeout_secs: u64) -> Config {
    let mut cfg = Config::new(image);
    cfg.boot = boot;
    cfg.smp = smp;
    cfg.timeout = Duration::from_secs(timeout_secs);
    cfg.name = format!("platform-{name}");
    cfg.log_dir = Some(log_dir());
    cfg
}

fn boot(cfg: &Config) -> (Run, Verdict) {
    let _slot = Slot::take();
    let (run, verdict) = qemu_tests::boot(cfg).expect("cannot run QEMU");
    println!("{}{} after {:.1?}", verdict.render(), run.ending, run.elapsed);
    (run, verdict)
}

fn has_line(lines: &[String], needle: &str) -> bool {
    lines.iter().any(|l| l.contains(needle))
}

fn assert_line(run: &Run, needle: &str) {
    assert!(
        has_line(&run.lines, needle),
        "no `{needle}` line in the boot log {}",
        run.log_path.as_ref().map_or(String::new(), |p| p.display().to_string())
    );
}

#[test]
fn baked_cmdline_boots_ktest_without_fw_cfg() {
    let dir = baked_images("baked-ktest", Some("ktest ktest.filter=heap"));
    // No cmdline in the config: the runner passes no -fw_cfg at all.
    let cfg = config("baked-ktest", dir.join("bios.img"), Boot::Bios, 2, 90);
    assert!(!cfg.args().unwrap().iter().any(|a| a.contains("fw_cfg")), "fw_cfg passed");
    let (run, v) = boot(&cfg);
    assert!(v.is_pass(), "baked `ktest` image did not pass:\n{}", v.render());
    assert_line(&run, "cmdline: ktest ktest.filter=heap (from image)");
    assert!(v.cases.iter().any(|c| c.name.starts_with("heap.")), "no heap cases:\n{}", v.render());
    // The bootloader's INFO lines are gone (its log level is WARN).
    assert!(!has_line(&run.lines, "INFO"), "bootloader INFO lines on serial");

    // fw_cfg wins over the baked line.
    let mut cfg = config("baked-fwcfg-wins", dir.join("uefi.img"), Boot::Uefi, 2, 120);
    cfg.cmdline = "ktest ktest.filter=bootinfo".into();
    let (run, v) = boot(&cfg);
    assert!(v.is_pass(), "fw_cfg over a baked image did not pass:\n{}", v.render());
    assert_line(&run, "cmdline: ktest ktest.filter=bootinfo (from fw_cfg)");
    assert!(
        !v.cases.iter().any(|c| c.name.starts_with("heap.")),
        "the baked filter ran although fw_cfg gave one:\n{}",
        v.render()
    );
}

#[test]
fn unattended_mode_shows_pass() {
    let name = "unattended";
    let dir = baked_images(name, Some("unattended ktest.filter=heap,apic_mmio stress.secs=2"));
    let cfg = config(name, dir.join("uefi.img"), Boot::Uefi, 2, 150);
    let _slot = Slot::take();
    let mut s = Session::start(&cfg, true).unwrap_or_else(|e| panic!("{e}"));
    let wait = Duration::from_secs(150);
    let out = s.expect("unattended: done; halted", wait).unwrap_or_else(|e| panic!("{e}"));
    println!("verdict after {:.1?}", s.elapsed());
    for needle in [
        "(from image)",
        "unattended: phase 1 of 2: ktest suites",
        "ok 2 apic_mmio",
        "unattended: phase 2 of 2: stress on 2 CPUs for 2 s",
        "stress: [",
        "stress: PASS",
        "unattended: PASS: ktest passed, stress passed, 2 CPUs",
    ] {
        let seen = s.transcript().contains(needle);
        let why = || format!("no `{needle}` on serial:\n{out}");
        assert!(s.check(&format!("serial shows `{needle}`"), seen, why), "{}", why());
    }
    // The block-letter banner: 5 lines of `#` after the stress summary.
    let after = s.transcript().rsplit("stress: PASS").next().unwrap_or_default().to_string();
    let art = after.lines().filter(|l| l.trim_start().starts_with('#')).count();
    let why = || format!("no block-letter PASS banner on serial:\n{after}");
    assert!(s.check("PASS banner on serial", art >= 4, why), "{}", why());

    assert_pass_screen(&mut s, &format!("platform-{name}"));
    // Halted, not exited: the verdict stays on screen.
    let halted = s.wait_exit(Duration::from_secs(2)).is_err();
    let why = || "QEMU ended after the halt".to_string();
    assert!(s.check("halted, QEMU still running", halted, why), "{}", why());
}

#[test]
fn unattended_mode_reports_fail() {
    let dir = baked_images(
        "unattended-fail",
        Some("unattended ktest.inject=fail ktest.filter=none exit"),
    );
    let mut cfg = config("unattended-fail", dir.join("bios.img"), Boot::Bios, 2, 120);
    cfg.expect_fail = true;
    let (run, v) = boot(&cfg);
    assert!(!v.is_pass(), "an injected failure passed:\n{}", v.render());
    assert_eq!(run.ending, Ending::Exited(Some(35)), "exit status of a FAIL verdict");
    assert_line(&run, "unattended: phase 2 of 2: stress skipped after the ktest failure");
    assert_line(&run, "unattended: FAIL: ktest FAILED, stress not run");
}

/// The unattended mode is arch-neutral: on aarch64 (QEMU `virt`, the
/// command line from the DTB's `/chosen/bootargs`) it runs ktest, then
/// stress on both CPUs, prints the PASS verdict and exits.
#[test]
fn unattended_mode_passes_on_aarch64() {
    let image = workspace().join("target/image/aarch64/Image");
    assert!(image.is_file(), "{} not found: run `make image ARCH=aarch64`", image.display());
    let mut cfg = Config::new(image);
    cfg.arch = qemu_tests::Arch::Aarch64;
    cfg.smp = 2;
    cfg.memory = "256M".into();
    cfg.cmdline = "unattended ktest.filter=heap stress.secs=2 exit".into();
    cfg.timeout = Duration::from_secs(120);
    cfg.name = "platform-unattended-aarch64".into();
    cfg.log_dir = Some(log_dir());
    let (run, v) = boot(&cfg);
    assert!(v.is_pass(), "unattended mode on aarch64 did not pass:\n{}", v.render());
    assert_eq!(run.ending, Ending::Exited(Some(0)), "exit status of a PASS verdict");
    assert_line(&run, "unattended: phase 2 of 2: stress on 2 CPUs for 2 s");
    assert_line(&run, "stress: PASS after");
    assert_line(&run, "unattended: PASS: ktest passed, stress passed, 2 CPUs");
}

/// The QEMU arguments of a machine with 3 CPUs whose APIC ids are 0, 1 and
/// 256: firmware (OVMF, SeaBIOS) must hand over in x2APIC mode.
fn apic_id_256_machine() -> Vec<String> {
    [
        "-machine",
        "q35",
        "-cpu",
        "qemu64,+x2apic",
        "-smp",
        "2,maxcpus=384,sockets=3,cores=128,threads=1",
        "-device",
        "qemu64-x86_64-cpu,socket-id=2,core-id=0,thread-id=0",
    ]
    .map(String::from)
    .to_vec()
}

fn plain_image(boot: Boot) -> PathBuf {
    let dir = std::env::var_os("IMAGE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/image/x86_64"));
    let path = dir.join(format!("{boot}.img"));
    assert!(path.is_file(), "{} not found: run `make image` first", path.display());
    path
}

#[test]
fn x2apic_left_on_by_firmware() {
    // The later -smp overrides the config's.
    let mut cfg = config("x2apic-firmware", plain_image(Boot::Uefi), Boot::Uefi, 2, 180);
    cfg.cmdline = "ktest ktest.filter=smp,apic_mmio".into();
    cfg.extra_args = apic_id_256_machine();
    let (run, v) = boot(&cfg);
    assert!(v.is_pass(), "x2APIC boot failed:\n{}", v.render());
    assert_line(&run, "apic: x2APIC (MSRs), left on by the firmware");
    assert_line(&run, "smp: 3 of 3 CPUs online");
    assert_line(&run, "online CPUs' APIC ids: [0, 1, 256]");
}

#[test]
fn x2apic_switched_on_by_cmdline() {
    let mut cfg = config("x2apic-cmdline", plain_image(Boot::Bios), Boot::Bios, 2, 180);
    cfg.cmdline = "ktest ktest.filter=smp,apic_mmio apic=x2apic".into();
    cfg.extra_args = ["-cpu", "qemu64,+x2apic"].map(String::from).to_vec();
    let (run, v) = boot(&cfg);
    assert!(v.is_pass(), "apic=x2apic boot failed:\n{}", v.render());
    assert_line(&run, "apic: x2APIC (MSRs), switched on for apic=x2apic");
    assert_line(&run, "smp: 2 of 2 CPUs online");
}

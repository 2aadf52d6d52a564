//! Machine shapes a user tries: the smallest RAM the README
//! promises, on both architectures with several CPUs, an x86 CPU without
//! the CPUID hypervisor bit, and x86 machines with hundreds of CPUs (APIC
//! ids above 255, and more CPUs than the kernel supports). Each boot runs only the suites the shape is
//! about (`ktest.filter`), so it stays short; the full suite list at these
//! sizes was checked by hand (README, docs/hardware.md).
//!
//! Images: `$IMAGE_DIR` (default `target/image/x86_64`) and
//! `$AARCH64_IMAGE` (default `target/image/aarch64/Image`); missing images
//! fail the tests. Logs: `target/qemu-logs/shape-*.log`.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use qemu_tests::{Arch, Boot, Config, Verdict};

mod common;
use common::workspace;

/// The documented minimum RAM (README "Minimum RAM"): BIOS image and
/// aarch64. (UEFI needs 64 MiB: OVMF and the UEFI loader need the rest.)
const MIN_RAM: &str = "32M";
/// Suites whose thresholds and workloads depend on RAM and CPU count.
const MEMORY_SUITES: &str = "ktest ktest.filter=bootinfo,mm,smp,heap";

/// One QEMU at a time from this file: the host has 2 cores and the boots
/// run 4 vCPUs each (cargo runs this file's tests in parallel threads).
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn image(var: &str, default: &str) -> PathBuf {
    let path =
        std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| workspace().join(default));
    assert!(path.is_file(), "{} not found: run `make image` first (or set {var})", path.display());
    path
}

/// The BIOS image: `$IMAGE_DIR/bios.img`, as in tests/boot.rs.
fn x86_image() -> PathBuf {
    let dir = std::env::var_os("IMAGE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/image/x86_64"));
    let path = dir.join("bios.img");
    assert!(path.is_file(), "{} not found: run `make image` first", path.display());
    path
}

/// Boots `cfg` (name, log dir filled in) and returns the serial lines and
/// the verdict, printing the report.
fn boot(mut cfg: Config, name: &str) -> (Vec<String>, Verdict) {
    cfg.name = name.into();
    cfg.log_dir = Some(workspace().join("target/qemu-logs"));
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let (run, verdict) = qemu_tests::boot(&cfg).expect("cannot run QEMU");
    println!("{}{} after {:.1?}", verdict.render(), run.ending, run.elapsed);
    (run.lines, verdict)
}

fn has_line(lines: &[String], needle: &str) -> bool {
    lines.iter().any(|l| l.contains(needle))
}

/// Every case passed and none was skipped: at the documented minimum the
/// memory suites must really run, not excuse themselves.
fn assert_all_pass(v: &Verdict, lines: &[String]) {
    assert!(v.is_pass(), "boot failed:\n{}", v.render());
    assert!(v.cases.len() >= 20, "only {} KTAP cases (want >= 20)", v.cases.len());
    assert_eq!(v.skipped(), 0, "cases skipped at the documented minimum:\n{}", v.render());
    assert!(has_line(lines, "smp: 4 of 4 CPUs online"), "not all 4 vCPUs online");
}

/// x86 BIOS image at the documented minimum with 4 CPUs: the memmap at 2 MiB
/// granularity, thresholds derived from the map, workloads scaled to free
/// memory (each of these failed at 64 MiB and below before).
#[test]
fn x86_min_ram_4_cpus() {
    let mut cfg = Config::new(x86_image());
    cfg.boot = Boot::Bios;
    cfg.smp = 4;
    cfg.memory = MIN_RAM.into();
    cfg.cmdline = MEMORY_SUITES.into();
    cfg.timeout = Duration::from_secs(150);
    let (lines, v) = boot(cfg, "shape-x86-min-ram");
    assert_all_pass(&v, &lines);
}

/// aarch64 `virt` at the documented minimum with 4 CPUs.
#[test]
fn aarch64_min_ram_4_cpus() {
    let mut cfg = Config::new(image("AARCH64_IMAGE", "target/image/aarch64/Image"));
    cfg.arch = Arch::Aarch64;
    cfg.smp = 4;
    cfg.memory = MIN_RAM.into();
    cfg.cmdline = MEMORY_SUITES.into();
    cfg.timeout = Duration::from_secs(200);
    let (lines, v) = boot(cfg, "shape-aarch64-min-ram");
    assert_all_pass(&v, &lines);
}

/// A CPU without the CPUID hypervisor bit (`hypervisor=off`, as some
/// hypervisors present themselves): the kernel must still find fw_cfg and
/// its command line, or it starts the shell and this boot times out.
#[test]
fn x86_no_hypervisor_bit() {
    let mut cfg = Config::new(x86_image());
    cfg.boot = Boot::Bios;
    cfg.smp = 2;
    cfg.memory = "128M".into();
    cfg.cmdline = "ktest ktest.filter=bootinfo".into();
    cfg.extra_args = vec!["-cpu".into(), "qemu64,hypervisor=off".into()];
    cfg.timeout = Duration::from_secs(90);
    let (lines, v) = boot(cfg, "shape-no-hypervisor-bit");
    assert!(v.is_pass(), "boot failed:\n{}", v.render());
    assert!(has_line(&lines, "cmdline: ktest"), "kernel did not read the fw_cfg command line");
    assert!(v.cases.iter().any(|c| c.name == "bootinfo.protocol_and_cmdline"));
}

/// A q35 machine with `cpus` CPUs booted to the short `bootinfo` suite (the
/// marker: a KTAP verdict after the CPUs came up; the smp suite's barriers
/// with hundreds of vCPUs on 2 host cores take many minutes under TCG).
/// More than 254 CPUs need APIC ids above 254, so x2APIC: SeaBIOS hands
/// over in x2APIC mode, and QEMU's TCG local APIC emulates it (no
/// interrupt-remapping IOMMU needed: the kernel sends only IPIs).
fn many_cpus(cpus: u32, name: &str, timeout_secs: u64) -> (Vec<String>, Verdict) {
    let mut cfg = Config::new(x86_image());
    cfg.boot = Boot::Bios;
    cfg.smp = cpus;
    cfg.memory = "1G".into();
    cfg.cpu = Some("qemu64,+x2apic".into());
    cfg.cmdline = "ktest ktest.filter=bootinfo".into();
    cfg.extra_args = ["-M", "q35"].map(String::from).to_vec();
    cfg.timeout = Duration::from_secs(timeout_secs);
    let (lines, v) = boot(cfg, name);
    assert!(v.is_pass(), "boot with {cpus} CPUs failed:\n{}", v.render());
    (lines, v)
}

/// 300 CPUs (more than the old limit of 64, APIC ids up to 299): every one
/// started over the x2APIC ICR and online. 15-27 s on 2 host cores.
#[test]
fn x86_300_cpus() {
    let (lines, _) = many_cpus(300, "shape-x86-300-cpus", 120);
    assert!(has_line(&lines, "apic: x2APIC (MSRs), left on by the firmware"));
    assert!(has_line(&lines, "smp: 300 of 300 CPUs online"), "not all 300 vCPUs online");
    assert!(!has_line(&lines, "left offline"), "CPUs left offline below the limit");
}

/// 520 CPUs, 8 more than the kernel supports: it runs the first 512, says so
/// at boot, and its verdict is still PASS. 45-86 s on 2 host cores
/// (SeaBIOS and QEMU take most of it).
#[test]
fn x86_more_cpus_than_supported() {
    let (lines, _) = many_cpus(520, "shape-x86-520-cpus", 240);
    assert!(has_line(&lines, "smp: 520 CPUs can be started, only 512 supported: starting 512"));
    assert!(has_line(&lines, "smp: 512 of 512 CPUs online"), "not all 512 supported CPUs online");
    assert!(has_line(
        &lines,
        "smp: the firmware describes 520 CPUs, this kernel runs at most 512 here: 8 left offline"
    ));
}

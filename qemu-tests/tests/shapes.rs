//! Machine shapes a user tries: the smallest RAM the README
//! promises, on both architectures with several CPUs, an x86 CPU without
//! the CPUID hypervisor bit, x86 machines with hundreds of CPUs (APIC
//! ids above 255, and more CPUs than the kernel supports), both
//! architectures with more than 64 CPUs through the SMP and mm suites, and
//! big-memory guests (x86 1 TiB, aarch64 64 GiB) whose RAM QEMU does not
//! reserve on the host. Each boot runs only the suites the shape is
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

/// Both architectures past the old 64-CPU limit through the SMP and mm
/// suites (barriers, calls and cross-CPU frees on every CPU; the zone over
/// all of them), every CPU online and every case passing. aarch64 needs a
/// GICv3 for more than 8 CPUs, and its wake-up SGIs to idle them in `wfi`:
/// with `wfe` spinning, 72 vCPUs on 2 host cores took six minutes and one
/// CPU missed its start-up deadline.
fn more_than_64_cpus(arch: Arch, cpus: u32, name: &str) {
    let mut cfg = match arch {
        Arch::X86_64 => {
            let mut cfg = Config::new(x86_image());
            cfg.boot = Boot::Bios;
            cfg.cpu = Some("qemu64,+x2apic".into());
            cfg.extra_args = ["-M", "q35"].map(String::from).to_vec();
            cfg
        }
        Arch::Aarch64 => {
            let mut cfg = Config::new(image("AARCH64_IMAGE", "target/image/aarch64/Image"));
            cfg.arch = Arch::Aarch64;
            cfg.extra_args = ["-M", "virt,gic-version=3"].map(String::from).to_vec();
            cfg
        }
    };
    cfg.smp = cpus;
    cfg.memory = "1G".into();
    cfg.cmdline = "ktest ktest.filter=smp,mm".into();
    cfg.timeout = Duration::from_secs(300);
    let (lines, v) = boot(cfg, name);
    assert!(v.is_pass(), "boot with {cpus} CPUs failed:\n{}", v.render());
    assert!(has_line(&lines, &format!("smp: {cpus} of {cpus} CPUs online")), "CPUs missing");
    assert!(has_line(&lines, &format!("on {cpus} CPUs in")), "memmap set-up not on every CPU");
    for case in ["smp.all_described_cpus_online", "smp.barrier_rounds", "mm.every_order"] {
        assert!(v.cases.iter().any(|c| c.name == case), "{case} did not run");
    }
}

/// x86 q35 with 80 CPUs: 25-40 s on 2 host cores.
#[test]
fn x86_80_cpus_smp_and_mm() {
    more_than_64_cpus(Arch::X86_64, 80, "shape-x86-80-cpus");
}

/// aarch64 virt (GICv3) with 72 CPUs: 35-45 s on 2 host cores.
#[test]
fn aarch64_72_cpus_smp_and_mm() {
    more_than_64_cpus(Arch::Aarch64, 72, "shape-aarch64-72-cpus");
}

/// A guest with `size` of RAM that the host does not reserve
/// (`memory-backend-ram,reserve=off`): only the memmap is ever touched.
/// Boots to the `bootinfo` suite and returns the log and the MiB of RAM the
/// memmap describes.
fn big_memory(mut cfg: Config, size: &str, name: &str) -> (Vec<String>, u64) {
    cfg.smp = 2;
    cfg.memory = size.into();
    cfg.cmdline = "ktest ktest.filter=bootinfo".into();
    cfg.extra_args.extend(
        ["-object", &format!("memory-backend-ram,id=r0,size={size},reserve=off")].map(String::from),
    );
    cfg.extra_args.extend(["-machine", "memory-backend=r0"].map(String::from));
    cfg.timeout = Duration::from_secs(300);
    let (lines, v) = boot(cfg, name);
    assert!(v.is_pass(), "{size} boot failed:\n{}", v.render());
    assert!(
        v.cases.iter().any(|c| c.name == "bootinfo.memmap_set_up_on_every_cpu"),
        "the memmap set-up case did not run"
    );
    assert!(!has_line(&lines, "of RAM at and above"), "RAM left out of a {size} guest");
    // mm: memmap of N MiB RAM: ...
    let mib = lines
        .iter()
        .find_map(|l| l.strip_prefix("mm: memmap of ")?.split(' ').next()?.parse().ok())
        .expect("no `mm: memmap of` line in the boot log");
    assert!(has_line(&lines, "on 2 CPUs in"), "memmap set-up not on both CPUs");
    (lines, mib)
}

/// x86 with 1 TiB (RAM up to 1 TiB + 2 GiB: 46-bit physical addresses, past
/// the old 512 GiB memmap limit, which panicked at boot): 20-40 s, 4 GiB of
/// memmap touched on the host.
#[test]
fn x86_1_tib() {
    let mut cfg = Config::new(x86_image());
    cfg.boot = Boot::Bios;
    cfg.cpu = Some("max,phys-bits=46".into());
    let (_, mib) = big_memory(cfg, "1T", "shape-x86-1tib");
    assert!(mib > 1_040_000, "memmap covers only {mib} MiB of 1 TiB");
}

/// aarch64 virt with 64 GiB: a few seconds, 256 MiB of memmap.
#[test]
fn aarch64_64_gib() {
    let mut cfg = Config::new(image("AARCH64_IMAGE", "target/image/aarch64/Image"));
    cfg.arch = Arch::Aarch64;
    let (_, mib) = big_memory(cfg, "64G", "shape-aarch64-64gib");
    assert!(mib > 65_000, "memmap covers only {mib} MiB of 64 GiB");
}

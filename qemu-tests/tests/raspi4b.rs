//! The aarch64 kernel on QEMU `-M raspi4b` (a Raspberry Pi 4 Model B: 4
//! Cortex-A72, 2 GiB, GIC-400, spin-table CPUs, VideoCore mailbox
//! framebuffer, PL011 and mini UART, PM watchdog), booted with the board's
//! own device tree (`make rpi4-dtb`, boards/rpi4/):
//!
//! - `ktest` with every suite, stress included, on all 4 CPUs (released
//!   from their spin tables), the console on the mini UART that the DTB's
//!   `stdout-path` names, the framebuffer console up;
//! - the unattended mode's PASS screen, checked on a screendump of the
//!   mailbox framebuffer;
//! - a DTB whose `stdout-path` names the PL011 instead: the shell on the
//!   PL011, `reboot` through the PM watchdog restarting the machine (QEMU
//!   told to reset on a guest reset, not to exit), and `poweroff` through
//!   the watchdog's "halt" partition ending QEMU;
//! - `unusable_dtb_*`: the board DTB edited (`dtc`, `fdtput`) into blobs
//!   QEMU boots but the kernel cannot use: a `stdout-path` to nowhere (the
//!   reason must appear on the mini UART through the fallback console list,
//!   which recognises the Pi 4 without the DTB), no interrupt controller,
//!   no `/cpus`, an extra memory node with a `reg` of size 0 or of the wrong
//!   length (reason on the DTB's own console, the mini UART). Each must
//!   print `FATAL:` with the reason and end QEMU by itself (semihosting,
//!   status 1) in well under a second. QEMU `raspi4b` replaces the blob's
//!   `memory` nodes with its own (and NOPs the PCIe, RNG, thermal and
//!   GENET nodes), so a DTB without memory, or an edited `memory@0`,
//!   cannot be booted here: the memory cases use a node named `bank@`.
//!
//! Images: `$RPI4_IMAGE` (default `target/image/aarch64/Image`, `make
//! image-aarch64`: its outline atomics run on the ARMv8.0 Cortex-A72) and `$RPI4_DTB`
//! (default `target/boards/rpi4/bcm2711-rpi-4-b.dtb`); `make test-rpi4`
//! builds both and runs this. One QEMU at a time (4 vCPUs each). Logs:
//! `target/qemu-logs/raspi4b-*.log`, the screendump beside them.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use qemu_tests::interactive::Session;
use qemu_tests::{Config, PiUart};

mod common;
use common::{assert_pass_screen, log_dir, one_qemu, workspace};

fn image() -> PathBuf {
    let image = std::env::var_os("RPI4_IMAGE")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/image/aarch64/Image"));
    assert!(image.is_file(), "{} not found: run `make image-aarch64`", image.display());
    image
}

fn dtb() -> PathBuf {
    let dtb = std::env::var_os("RPI4_DTB")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/boards/rpi4/bcm2711-rpi-4-b.dtb"));
    assert!(dtb.is_file(), "{} not found: run `make rpi4-dtb`", dtb.display());
    dtb
}

fn config(name: &str, dtb: PathBuf, console: PiUart, cmdline: &str, secs: u64) -> Config {
    let mut cfg = Config::raspi4b(image(), dtb, console);
    cfg.cmdline = cmdline.into();
    cfg.name = format!("raspi4b-{name}");
    cfg.log_dir = Some(log_dir());
    cfg.timeout = Duration::from_secs(secs);
    cfg
}

#[test]
fn ktest_on_four_cpus() {
    let cfg = config("ktest", dtb(), PiUart::Mini, "ktest", 300);
    let _one = one_qemu();
    let (run, v) = qemu_tests::boot(&cfg).expect("cannot run QEMU");
    println!("{}{} after {:.1?}", v.render(), run.ending, run.elapsed);
    assert!(v.is_pass(), "ktest on raspi4b failed:\n{}", v.render());
    let has = |needle: &str| run.lines.iter().any(|l| l.contains(needle));
    for needle in [
        "smp: releasing 3 secondary CPUs from their spin tables",
        "smp: 4 of 4 CPUs online",
        // The GIC-400 at its CPU address (bus 0x4004_1000 through /soc's ranges).
        "gic: GICv2 distributor at 0xff841000, CPU interface at 0xff842000",
        "# Subtest: stress_storm",
        "screen: ",
        "dtb: no /psci; CPUs start from spin tables, reset and power-off use the PM watchdog",
    ] {
        assert!(has(needle), "no `{needle}` line in {}", run.log_path.as_ref().unwrap().display());
    }
    let errors: Vec<&String> = run.lines.iter().filter(|l| l.contains("DTB error")).collect();
    assert!(errors.is_empty(), "DTB errors: {errors:?}");
}

#[test]
fn unattended_pass_screen() {
    let cmdline = "unattended ktest.filter=bootinfo,smp stress.secs=2";
    let cfg = config("unattended", dtb(), PiUart::Mini, cmdline, 150);
    let _one = one_qemu();
    let mut s = Session::start(&cfg, true).unwrap_or_else(|e| panic!("{e}"));
    let out = s
        .expect("unattended: done; halted", Duration::from_secs(150))
        .unwrap_or_else(|e| panic!("{e}"));
    for needle in
        ["stress on 4 CPUs for 2 s", "unattended: PASS: ktest passed, stress passed, 4 CPUs"]
    {
        let seen = s.transcript().contains(needle);
        let why = || format!("no `{needle}` on serial:\n{out}");
        assert!(s.check(&format!("serial shows `{needle}`"), seen, why), "{}", why());
    }
    assert_pass_screen(&mut s, "raspi4b-unattended");
}

/// The board DTB as DTS text (`dtc`).
fn board_dts() -> String {
    let dts = Command::new("dtc").args(["-q", "-I", "dtb", "-O", "dts"]).arg(dtb()).output();
    String::from_utf8(dts.expect("dtc runs").stdout).expect("dts is text")
}

/// Compiles `dts` into `raspi4b-<name>.dtb` next to the logs.
fn compile(name: &str, dts: &str) -> PathBuf {
    let dir = log_dir();
    std::fs::create_dir_all(&dir).expect("log dir");
    let (src, out) =
        (dir.join(format!("raspi4b-{name}.dts")), dir.join(format!("raspi4b-{name}.dtb")));
    std::fs::write(&src, dts).expect("write dts");
    let status = Command::new("dtc")
        .args(["-q", "-I", "dts", "-O", "dtb", "-o"])
        .arg(&out)
        .arg(&src)
        .status();
    assert!(status.expect("dtc runs").success(), "dtc failed on {}", src.display());
    out
}

/// The board DTB with every `from` replaced by `to` (edited as text with
/// `dtc`), as `raspi4b-<name>.dtb`.
fn edited_dtb(name: &str, from: &str, to: &str) -> PathBuf {
    let dts = board_dts();
    assert!(dts.contains(from), "the board DTB has no `{from}`");
    compile(name, &dts.replace(from, to))
}

/// The board DTB with `stdout-path` on the PL011 (`serial0`).
fn pl011_dtb() -> PathBuf {
    edited_dtb(
        "pl011",
        "stdout-path = \"serial1:115200n8\";",
        "stdout-path = \"serial0:115200n8\";",
    )
}

/// Boots with `dtb`, which the kernel must refuse: `FATAL: ...` with
/// `reason` on the mini UART, saying it used `console`, and QEMU must end
/// by itself (semihosting exit, status 1) within seconds, not time out.
fn refused(name: &str, dtb: PathBuf, reason: &str, console: &str) {
    let mut cfg = config(name, dtb, PiUart::Mini, "ktest ktest.filter=bootinfo", 30);
    cfg.expect_fail = true;
    let _one = one_qemu();
    let (run, _) = qemu_tests::boot(&cfg).expect("cannot run QEMU");
    println!("{} after {:.1?}", run.ending, run.elapsed);
    let log = run.lines.join("\n");
    let has = |needle: &str| run.lines.iter().any(|l| l.contains(needle));
    assert!(
        matches!(run.ending, qemu_tests::Ending::Exited(Some(1))),
        "QEMU did not exit with status 1 ({}); mini UART:\n{log}",
        run.ending
    );
    let fatal = format!("cannot be booted on: {reason}");
    assert!(has("FATAL: the DTB at ") && has(&fatal), "no `FATAL: {fatal}`; mini UART:\n{log}");
    let console = format!("(early console: {console})");
    assert!(has(&console), "no `{console}`; mini UART:\n{log}");
    assert!(!has("KTAP version"), "ktest ran on an unusable DTB:\n{log}");
}

#[test]
fn unusable_dtb_stdout_path_names_nothing_uses_the_fallback_mini_uart() {
    // The DTB no longer names the console: the reason goes to the fallback
    // list's Raspberry Pi 4 mini UART (recognised from MIDR_EL1 and the load
    // address), and to the DTB's first PL011 (not captured here).
    let dtb = edited_dtb(
        "stdout-path",
        "stdout-path = \"serial1:115200n8\";",
        "stdout-path = \"/nothing@0\";",
    );
    let why = "/chosen/stdout-path \"/nothing@0\" names no node";
    refused("stdout-path", dtb, why, "Raspberry Pi 4, mini UART at 0xfe215040");
}

#[test]
fn unusable_dtb_no_interrupt_controller() {
    // The GIC-400, the legacy controller and the GPIO block all lose their
    // `interrupt-controller` property; the DTB's own console (its
    // `stdout-path`, the mini UART) says why.
    let dtb = edited_dtb("no-intc", "interrupt-controller;", "");
    let console = "the mini UART the DTB names, mini UART at 0xfe215040";
    refused("no-intc", dtb, "no interrupt controller", console);
}

#[test]
fn unusable_dtb_no_cpus() {
    let dts = board_dts();
    let start = dts.find("\n\tcpus {").expect("the board DTB has /cpus");
    let end = start + dts[start..].find("\n\t};").expect("/cpus ends") + "\n\t};".len();
    let dtb = compile("no-cpus", &format!("{}{}", &dts[..start], &dts[end..]));
    let console = "the mini UART the DTB names, mini UART at 0xfe215040";
    refused("no-cpus", dtb, "no /cpus node", console);
}

/// The board DTB with a `bank@80000000` node of `device_type = "memory"`
/// and `reg` cells `reg` (hex), added with `fdtput`: QEMU replaces every
/// node named `memory` (`memory@0` here) with its own, but keeps this one.
fn extra_memory_dtb(name: &str, reg: &[&str]) -> PathBuf {
    let dir = log_dir();
    std::fs::create_dir_all(&dir).expect("log dir");
    let out = dir.join(format!("raspi4b-{name}.dtb"));
    std::fs::copy(dtb(), &out).expect("copy dtb");
    let node = "/bank@80000000";
    let edits: [&[&str]; 3] = [
        &["-c", node],
        &["-t", "s", node, "device_type", "memory"],
        &[&["-t", "x", node, "reg"], reg].concat(),
    ];
    for edit in edits {
        let (opts, rest) = edit.split_at(if edit[0] == "-c" { 1 } else { 2 });
        let status = Command::new("fdtput").args(opts).arg(&out).args(rest).status();
        assert!(status.expect("fdtput runs (make setup)").success(), "fdtput {edit:?} failed");
    }
    out
}

#[test]
fn unusable_dtb_memory_size_zero() {
    let dtb = extra_memory_dtb("memory-size-0", &["0", "80000000", "0"]);
    let why = "memory node bank@80000000: reg entry at 0x80000000 has size 0";
    refused("memory-size-0", dtb, why, "the mini UART the DTB names, mini UART at 0xfe215040");
}

#[test]
fn unusable_dtb_memory_reg_length() {
    // Two cells where the root's #address-cells 2 + #size-cells 1 say three.
    let dtb = extra_memory_dtb("memory-reg-length", &["0", "80000000"]);
    let why = "memory node bank@80000000: reg is 8 bytes, \
               not a multiple of (#address-cells 2 + #size-cells 1) * 4";
    refused("memory-reg-length", dtb, why, "the mini UART the DTB names, mini UART at 0xfe215040");
}

#[test]
fn pl011_console_and_watchdog_reboot_poweroff() {
    let mut cfg = config("pl011-reboot-poweroff", pl011_dtb(), PiUart::Pl011, "", 120);
    // A guest reset resets the machine (after -no-reboot, which would make
    // QEMU exit on it, and so look like a power-off).
    cfg.extra_args = vec!["-action".into(), "reboot=reset".into()];
    let _one = one_qemu();
    let mut s = Session::start(&cfg, false).unwrap_or_else(|e| panic!("{e}"));
    let wait = Duration::from_secs(60);
    s.wait_prompt(wait).unwrap_or_else(|e| panic!("{e}"));
    s.send_line("reboot").unwrap_or_else(|e| panic!("{e}"));
    // The banner again: the machine was reset and booted once more.
    let again = s.expect("frozen-kernel ", wait).map(|_| ());
    let why = || format!("no second boot after `reboot`: {again:?}");
    assert!(s.check("watchdog reset reboots", again.is_ok(), why), "{}", why());
    s.wait_prompt(wait).unwrap_or_else(|e| panic!("{e}"));
    s.send_line("poweroff").unwrap_or_else(|e| panic!("{e}"));
    let status = s.wait_exit(Duration::from_secs(4));
    let text = s.transcript().to_string();
    let failed = text.contains("power-off failed");
    let why = || format!("QEMU did not power off through the watchdog: {status:?}\n{text}");
    let ok = matches!(status, Ok(Some(0))) && !failed;
    assert!(s.check("watchdog power-off ends QEMU", ok, why), "{}", why());
}

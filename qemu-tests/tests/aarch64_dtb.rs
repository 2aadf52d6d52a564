//! aarch64 device-tree shapes: the arm64 Image boots on
//! QEMU `virt` machines whose DTB differs from the default one, and every
//! suite that matters passes. Each DTB is derived from QEMU's own
//! (`-M virt,dumpdtb=FILE`), edited as text with `dtc` (Debian's
//! device-tree-compiler, installed by `make setup`), then given back with
//! `-dtb`; or QEMU itself generates the shape (`secure=on`, NUMA nodes).
//!
//! - `secure_world_uart_is_skipped`: `-M virt,secure=on`; the first
//!   `arm,pl011` node is the secure world's (`status = "disabled"`).
//! - `many_memory_nodes_33` / `many_memory_nodes_40`: one `/memory` node per
//!   NUMA node (QEMU writes one per node; a `-dtb` file's `memory@` nodes
//!   would be replaced by QEMU's single node, so NUMA is how QEMU boots a
//!   kernel with many).
//!   Checks that no RAM was dropped.
//! - `too_many_memory_nodes_fail_clearly`: 130 extra memory nodes (named
//!   `bank@`, which QEMU keeps) exceed the kernel's list: boot must stop at
//!   once with a message naming the limit, not lose memory.
//! - `firmware_dtb_is_used_whole`: QEMU's dumped DTB passed back with
//!   `-dtb`; QEMU edits it with libfdt (FDT_NOP tokens, 2 MiB of padding).
//!   All CPUs, the command line and PSCI must be found.
//! - `nomap_unaligned_is_not_mapped`: `/reserved-memory` `no-map` ranges
//!   that start and end inside pages; the kernel checks with the MMU that
//!   none of those pages is mapped and says so.
//! - `unusable_dtb_*`, `malformed_dtb_uses_the_fallback_console`: QEMU's
//!   DTB edited with `fdtput` (same package as `dtc`) into blobs QEMU boots
//!   but the kernel cannot use (no interrupt controller, no `/cpus`, a
//!   `stdout-path` to nowhere, a memory `reg` of size 0 or of the wrong
//!   length, an 8-byte `#address-cells`, no UART at all): the kernel must
//!   print `FATAL:` with the specific reason on the earliest console (the
//!   UART the DTB's `stdout-path` names; else the fallback list's and the
//!   DTB's first enabled PL011, once where they are the same) and QEMU must
//!   exit with status 1 by itself.
//!
//! The image comes from `$A64_IMAGE` (default
//! `<workspace>/target/image/aarch64/Image`, `make image ARCH=aarch64`); a
//! missing image, `dtc` or `fdtput` fails the tests. Logs and DTBs go to
//! `target/qemu-logs/` and `target/aarch64-dtb/`.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use qemu_tests::{Arch, Config, Verdict};

mod common;
use common::{Slot, workspace};

/// Small machines keep the boots short: 2 vCPUs, 256 MiB unless a test needs more.
const SMP: u32 = 2;
const MEM: &str = "256M";

fn image() -> PathBuf {
    let path = std::env::var_os("A64_IMAGE")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/image/aarch64/Image"));
    assert!(
        path.is_file(),
        "{} not found: run `make image ARCH=aarch64` first (or set A64_IMAGE)",
        path.display()
    );
    path
}

fn scratch(name: &str) -> PathBuf {
    let dir = workspace().join("target/aarch64-dtb");
    std::fs::create_dir_all(&dir).expect("create target/aarch64-dtb");
    dir.join(name)
}

fn run_tool(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (run `make setup`)"));
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// QEMU's own DTB for `virt` (plus `machine_opts`) with SMP vCPUs and `mem`, as DTS text.
fn qemu_dts(name: &str, machine_opts: &str, mem: &str) -> String {
    let dtb = scratch(&format!("{name}-qemu.dtb"));
    run_tool(Command::new("qemu-system-aarch64").args([
        "-M",
        &format!("virt{machine_opts},dumpdtb={}", dtb.display()),
        "-cpu",
        "max",
        "-smp",
        &SMP.to_string(),
        "-m",
        mem,
        "-display",
        "none",
    ]));
    let dts = scratch(&format!("{name}-qemu.dts"));
    run_tool(Command::new("dtc").args(["-q", "-I", "dtb", "-O", "dts", "-o"]).arg(&dts).arg(&dtb));
    std::fs::read_to_string(&dts).expect("read dts")
}

/// Compiles `dts` into `target/aarch64-dtb/<name>.dtb`.
fn compile(name: &str, dts: &str) -> PathBuf {
    let src = scratch(&format!("{name}.dts"));
    std::fs::write(&src, dts).expect("write dts");
    let dtb = scratch(&format!("{name}.dtb"));
    run_tool(Command::new("dtc").args(["-q", "-I", "dts", "-O", "dtb", "-o"]).arg(&dtb).arg(&src));
    dtb
}

/// Adds `nodes` (DTS text) at the end of the root node.
fn add_to_root(dts: &str, nodes: &str) -> String {
    let end = dts.rfind("};").expect("DTS has a root node");
    format!("{}{nodes}\n{}", &dts[..end], &dts[end..])
}

/// Boots the Image with `cmdline`, `mem` and extra QEMU arguments.
fn boot(name: &str, cmdline: &str, mem: &str, extra: &[String]) -> (Vec<String>, Verdict) {
    boot_expecting(name, cmdline, mem, extra, false)
}

/// [`boot`], marking the boot's results as an intended failure when
/// `expect_fail` (so `make test`'s summary lists it apart).
fn boot_expecting(
    name: &str,
    cmdline: &str,
    mem: &str,
    extra: &[String],
    expect_fail: bool,
) -> (Vec<String>, Verdict) {
    let mut cfg = Config::new(image());
    cfg.expect_fail = expect_fail;
    cfg.arch = Arch::Aarch64;
    cfg.smp = SMP;
    cfg.memory = mem.into();
    cfg.cmdline = cmdline.into();
    cfg.extra_args = extra.to_vec();
    cfg.timeout = Duration::from_secs(120);
    cfg.name = format!("aarch64-dtb-{name}");
    cfg.log_dir = Some(workspace().join("target/qemu-logs"));
    let _slot = Slot::take();
    let (run, verdict) = qemu_tests::boot(&cfg).expect("cannot run QEMU");
    println!("{}{} after {:.1?}", verdict.render(), run.ending, run.elapsed);
    (run.lines, verdict)
}

fn has_line(lines: &[String], needle: &str) -> bool {
    lines.iter().any(|l| l.contains(needle))
}

/// Passed, ran at least `min_cases` KTAP cases, and reported no DTB error.
fn assert_passes(lines: &[String], v: &Verdict, min_cases: usize) {
    assert!(v.is_pass(), "boot failed:\n{}", v.render());
    assert!(v.cases.len() >= min_cases, "only {} KTAP cases (want >= {min_cases})", v.cases.len());
    let errors: Vec<&String> = lines.iter().filter(|l| l.contains("DTB error")).collect();
    assert!(errors.is_empty(), "the kernel reported DTB errors: {errors:?}");
}

/// `# usable RAM: N MiB` from the bootinfo suite.
fn usable_mib(lines: &[String]) -> u64 {
    lines
        .iter()
        .find_map(|l| l.split("# usable RAM: ").nth(1)?.split(' ').next()?.parse().ok())
        .expect("no `# usable RAM:` line (bootinfo suite)")
}

#[test]
fn secure_world_uart_is_skipped() {
    let extra = ["-M".to_string(), "secure=on".to_string()];
    let (lines, v) = boot("secure", "ktest ktest.filter=bootinfo,smp", MEM, &extra);
    assert_passes(&lines, &v, 10);
}

/// `n` NUMA nodes of 8 MiB each, every one a separate `/memory` node.
fn many_memory_nodes(n: usize) {
    let mut extra = Vec::new();
    for i in 0..n {
        extra.push("-object".to_string());
        extra.push(format!("memory-backend-ram,id=m{i},size=8M"));
        extra.push("-numa".to_string());
        let cpus = if i == 0 { format!(",cpus=0-{}", SMP - 1) } else { String::new() };
        extra.push(format!("node,nodeid={i},memdev=m{i}{cpus}"));
    }
    let total = 8 * n as u64;
    let (lines, v) = boot(
        &format!("memory-nodes-{n}"),
        "ktest ktest.filter=bootinfo,mm",
        &format!("{total}M"),
        &extra,
    );
    assert_passes(&lines, &v, 12);
    // Kernel image, DTB and boot tables take a few MiB; a dropped bank 8.
    let usable = usable_mib(&lines);
    assert!(usable + 8 > total, "{usable} MiB usable of {total} MiB: a memory node was dropped");
}

#[test]
fn many_memory_nodes_33() {
    many_memory_nodes(33);
}

#[test]
fn many_memory_nodes_40() {
    many_memory_nodes(40);
}

#[test]
fn too_many_memory_nodes_fail_clearly() {
    let mut banks = String::new();
    for i in 0..130u64 {
        let base = 0x4000_0000 + i * 0x10_0000;
        banks += &format!(
            "\n\tbank@{base:x} {{\n\t\tdevice_type = \"memory\";\n\t\treg = <0x00 {base:#x} 0x00 0x100000>;\n\t}};\n"
        );
    }
    let dtb = compile("too-many-banks", &add_to_root(&qemu_dts("too-many-banks", "", MEM), &banks));
    let extra = ["-dtb".to_string(), dtb.display().to_string()];
    let (lines, v) =
        boot_expecting("too-many-banks", "ktest ktest.filter=bootinfo", MEM, &extra, true);
    assert!(!v.is_pass(), "booted with more memory nodes than the kernel keeps:\n{}", v.render());
    assert!(
        has_line(&lines, "FATAL: the DTB has 131 RAM banks") && has_line(&lines, "MAX_DTB_RANGES"),
        "no message naming the limit; got:\n{}",
        lines.join("\n")
    );
}

#[test]
fn firmware_dtb_is_used_whole() {
    // The unchanged dump: QEMU re-edits it on load (NOPs out /memory, adds
    // /chosen/bootargs, pads it past 2 MiB), as firmware does with libfdt.
    let dts = qemu_dts("firmware", "", MEM);
    let dtb = scratch("firmware-qemu.dtb");
    assert!(dts.contains("psci"), "QEMU's DTB has no /psci");
    let extra = ["-dtb".to_string(), dtb.display().to_string()];
    let (lines, v) = boot("firmware", "ktest ktest.filter=bootinfo,smp", MEM, &extra);
    assert_passes(&lines, &v, 10);
    let online = format!("smp: {SMP} of {SMP} CPUs online");
    assert!(has_line(&lines, &online), "want `{online}`: CPUs or PSCI not found in the DTB");
}

#[test]
fn nomap_unaligned_is_not_mapped() {
    // RAM is 0x4000_0000..0x5000_0000 (256 MiB); QEMU puts the Image at
    // +2 MiB and its DTB at +128 MiB. Both ranges start and end mid-page.
    let rsv = "\n\treserved-memory {\n\t\t#address-cells = <0x02>;\n\t\t#size-cells = <0x02>;\n\t\tranges;\n\
        \t\tsecmon@4c000100 {\n\t\t\treg = <0x00 0x4c000100 0x00 0x2000>;\n\t\t\tno-map;\n\t\t};\n\
        \t\ttee@4d800800 {\n\t\t\treg = <0x00 0x4d800800 0x00 0x100>;\n\t\t\tno-map;\n\t\t};\n\t};\n";
    let dtb = compile("nomap", &add_to_root(&qemu_dts("nomap", "", MEM), rsv));
    let extra = ["-dtb".to_string(), dtb.display().to_string()];
    let (lines, v) = boot("nomap", "ktest ktest.filter=bootinfo,mm", MEM, &extra);
    assert_passes(&lines, &v, 12);
    assert!(
        has_line(&lines, "dtb: 2 no-map reserved ranges kept out of the window"),
        "the kernel did not confirm that the no-map ranges are unmapped"
    );
}

/// QEMU's own DTB (binary) for `virt` with SMP vCPUs and [`MEM`], edited by
/// `fdtput` runs (each its option, then its arguments after the file name).
fn qemu_dtb_edited(name: &str, edits: &[&[&str]]) -> PathBuf {
    let _ = qemu_dts(name, "", MEM); // dumps target/aarch64-dtb/<name>-qemu.dtb
    let dtb = scratch(&format!("{name}.dtb"));
    std::fs::copy(scratch(&format!("{name}-qemu.dtb")), &dtb).expect("copy dtb");
    for edit in edits {
        // fdtput's options (`-t s`, `-r`, ...) come before the file name.
        let (opt, rest) = edit.split_first().expect("an fdtput edit");
        run_tool(Command::new("fdtput").args(opt.split(' ')).arg(&dtb).args(rest));
    }
    dtb
}

/// Boots with `-dtb <dtb>`, which the kernel must refuse: it must print
/// `FATAL: ...` with `reason` (and name the console it used, `console`)
/// and QEMU must end by itself with a failure status, not time out.
fn refused(name: &str, dtb: &std::path::Path, reason: &str, console: &str) {
    let mut cfg = Config::new(image());
    cfg.expect_fail = true;
    cfg.arch = Arch::Aarch64;
    cfg.smp = SMP;
    cfg.memory = MEM.into();
    cfg.cmdline = "ktest ktest.filter=bootinfo".into();
    cfg.extra_args = vec!["-dtb".to_string(), dtb.display().to_string()];
    cfg.timeout = Duration::from_secs(60);
    cfg.name = format!("aarch64-dtb-{name}");
    cfg.log_dir = Some(workspace().join("target/qemu-logs"));
    let _slot = Slot::take();
    let (run, _) = qemu_tests::boot(&cfg).expect("cannot run QEMU");
    let log = run.lines.join("\n");
    assert!(
        matches!(run.ending, qemu_tests::Ending::Exited(Some(1))),
        "QEMU did not exit with status 1 ({}); serial:\n{log}",
        run.ending
    );
    let fatal = format!("FATAL: {reason}");
    assert!(has_line(&run.lines, &fatal), "no `{fatal}` line; serial:\n{log}");
    assert!(has_line(&run.lines, &format!("(early console: {console}")), "console; serial:\n{log}");
    assert!(!has_line(&run.lines, "KTAP version"), "ktest ran on an unusable DTB:\n{log}");
}

const AT: &str = "the DTB at 0x48000000";

#[test]
fn unusable_dtb_no_interrupt_controller() {
    let dtb = qemu_dtb_edited("no-intc", &[&["-r", "/intc@8000000"]]);
    let why = format!("{AT} cannot be booted on: no interrupt controller");
    refused("no-intc", &dtb, &why, "the PL011 the DTB names");
}

#[test]
fn unusable_dtb_no_cpus() {
    let dtb = qemu_dtb_edited("no-cpus", &[&["-r", "/cpus"]]);
    refused("no-cpus", &dtb, &format!("{AT} cannot be booted on: no /cpus node"), "the PL011");
}

#[test]
fn unusable_dtb_stdout_path_names_nothing() {
    let dtb = qemu_dtb_edited("stdout-path", &[&["-t s", "/chosen", "stdout-path", "/pl011@1234"]]);
    let why =
        format!("{AT} cannot be booted on: /chosen/stdout-path \"/pl011@1234\" names no node");
    refused("stdout-path", &dtb, &why, "the DTB's first enabled PL011");
}

#[test]
fn unusable_dtb_memory_size_zero() {
    let dtb = qemu_dtb_edited(
        "memory-size-0",
        &[
            &["-c", "/bank@50000000"],
            &["-t s", "/bank@50000000", "device_type", "memory"],
            &["-t x", "/bank@50000000", "reg", "0", "50000000", "0", "0"],
        ],
    );
    let why = format!(
        "{AT} cannot be booted on: memory node bank@50000000: reg entry at 0x50000000 has size 0"
    );
    refused("memory-size-0", &dtb, &why, "the PL011 the DTB names");
}

#[test]
fn unusable_dtb_memory_reg_length() {
    // Three cells where the root's #address-cells + #size-cells say four.
    let dtb = qemu_dtb_edited(
        "memory-reg-length",
        &[
            &["-c", "/bank@50000000"],
            &["-t s", "/bank@50000000", "device_type", "memory"],
            &["-t x", "/bank@50000000", "reg", "0", "50000000", "0"],
        ],
    );
    let why = format!(
        "{AT} cannot be booted on: memory node bank@50000000: reg is 12 bytes, \
         not a multiple of (#address-cells 2 + #size-cells 2) * 4"
    );
    refused("memory-reg-length", &dtb, &why, "the PL011 the DTB names");
}

#[test]
fn malformed_dtb_uses_the_fallback_console() {
    // An 8-byte #address-cells in /cpus: QEMU reads only the root's, so it
    // boots the blob; the kernel's structure check refuses it, and with no
    // usable blob the console comes from the fallback list.
    let dtb = qemu_dtb_edited("cells", &[&["-t x", "/cpus", "#address-cells", "1", "0"]]);
    let why = format!("{AT} is malformed: DTB blob: #address-cells or #size-cells at 0x");
    refused("cells", &dtb, &why, "QEMU virt, PL011 at 0x9000000");
}

#[test]
fn unusable_dtb_without_uart_uses_the_fallback_console() {
    // No PL011 node and no interrupt controller: the reason goes to the
    // fallback list's QEMU virt PL011.
    let dtb = qemu_dtb_edited(
        "no-uart-no-intc",
        &[&["-d", "/chosen", "stdout-path"], &["-r", "/pl011@9000000"], &["-r", "/intc@8000000"]],
    );
    let why = format!("{AT} cannot be booted on: no interrupt controller");
    refused("no-uart-no-intc", &dtb, &why, "QEMU virt, PL011 at 0x9000000");
}

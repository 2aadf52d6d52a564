//! `qemu-runner`: boots one image, judges it, prints the report, and writes
//! the serial log with its JSON and JUnit results under `--log-dir`.
//! Exit status 0 if the boot passed (with `--expect-fail`: if it failed),
//! 1 if not, 2 on a usage error or when QEMU cannot be started.
//!
//! `--interactive` is `make run` / `make debug`: instead of judging, it
//! replaces itself with QEMU (the command line of `qemu_tests::Config`, the
//! console on this terminal with `-serial mon:stdio`, stdin and stdout
//! inherited), so the exit status is QEMU's. `--print-cmdline` prints the
//! QEMU command line and boots nothing.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Duration;

use clap::{Parser, ValueEnum};
use qemu_tests::{A64Machine, Arch, Boot, Config, PiUart, Serial};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ArchArg {
    #[value(name = "x86_64")]
    X86_64,
    Aarch64,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum MachineArg {
    Virt,
    Raspi4b,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum PiUartArg {
    Mini,
    Pl011,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum BootArg {
    Bios,
    Uefi,
}

/// Boots a kernel image in QEMU, reads KTAP from the serial port and judges
/// the run; or, with --interactive, boots it with the console on this
/// terminal. Environment: KVM=1 is --kvm, VERBOSE=1 is --verbose.
#[derive(Parser, Debug)]
#[command(name = "qemu-runner")]
struct Cli {
    /// Disk image (x86_64) or kernel Image (aarch64).
    #[arg(long)]
    image: PathBuf,
    /// Firmware.
    #[arg(long, value_enum, default_value = "bios")]
    boot: BootArg,
    #[arg(long, value_enum, default_value = "x86_64")]
    arch: ArchArg,
    /// Kernel command line, e.g. 'ktest' (default: none, the shell starts).
    #[arg(long, default_value = "")]
    cmdline: String,
    /// The aarch64 machine: QEMU `virt`, or `raspi4b` (a Raspberry Pi 4,
    /// booted with --dtb; needs --smp 4 --mem 2G).
    #[arg(long, value_enum, default_value = "virt")]
    machine: MachineArg,
    /// The device tree for `--machine raspi4b` (`make rpi4-dtb`).
    #[arg(long, required_if_eq("machine", "raspi4b"))]
    dtb: Option<PathBuf>,
    /// Which Pi UART the DTB's stdout-path names (`mini`: the Pi 4's own
    /// DTB; QEMU's second serial port).
    #[arg(long, value_enum, default_value = "mini")]
    pi_console: PiUartArg,
    /// vCPUs.
    #[arg(long, default_value_t = 4)]
    smp: u32,
    /// Memory, as QEMU's -m takes it.
    #[arg(long, default_value = "1G")]
    mem: String,
    /// QEMU's -cpu model (default: QEMU's own on x86_64, `host` under KVM,
    /// `max` on aarch64).
    #[arg(long)]
    cpu: Option<String>,
    /// -accel kvm instead of TCG (also KVM=1); only for a guest of the
    /// host's own architecture, any other runs under TCG.
    #[arg(long)]
    kvm: bool,
    /// Start halted with a gdb stub on TCP port 1234 (QEMU -s -S).
    #[arg(long)]
    gdb: bool,
    /// Boot with the console on this terminal (-serial mon:stdio; quit with
    /// Ctrl-A X) instead of judging the run: QEMU replaces this program, so
    /// the exit status is QEMU's. --timeout, --name, --log-dir and --verbose
    /// do not apply.
    #[arg(long, conflicts_with = "expect_fail")]
    interactive: bool,
    /// Print the QEMU command line (shell-quoted) and exit without booting.
    #[arg(long)]
    print_cmdline: bool,
    /// Kill QEMU after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// Name of the log and result files (default: the image's file stem).
    #[arg(long)]
    name: Option<String>,
    /// Where NAME.log, NAME.json and NAME.xml go.
    #[arg(long, default_value = "target/qemu-logs")]
    log_dir: PathBuf,
    /// Echo serial output to stderr (also VERBOSE=1).
    #[arg(short, long)]
    verbose: bool,
    /// Succeed only if the boot is judged failed (injected failures).
    #[arg(long)]
    expect_fail: bool,
    /// Extra QEMU arguments, after `--`.
    #[arg(last = true, allow_hyphen_values = true)]
    extra: Vec<String>,
}

/// What `qemu-runner` does with the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    /// Boot, judge, report (the default).
    Judge,
    /// Exec QEMU with the console on the terminal (`--interactive`).
    Interactive,
    /// Print the QEMU command line (`--print-cmdline`).
    Print,
}

struct Args {
    cfg: Config,
    expect_fail: bool,
    action: Action,
}

fn parse_args(it: impl IntoIterator<Item = String>) -> Result<Args, clap::Error> {
    let cli = Cli::try_parse_from(std::iter::once("qemu-runner".to_string()).chain(it))?;
    let mut cfg = Config::new(&cli.image);
    cfg.arch = match cli.arch {
        ArchArg::X86_64 => Arch::X86_64,
        ArchArg::Aarch64 => Arch::Aarch64,
    };
    cfg.boot = match cli.boot {
        BootArg::Bios => Boot::Bios,
        BootArg::Uefi => Boot::Uefi,
    };
    if let (MachineArg::Raspi4b, Some(dtb)) = (cli.machine, cli.dtb) {
        let console = match cli.pi_console {
            PiUartArg::Mini => PiUart::Mini,
            PiUartArg::Pl011 => PiUart::Pl011,
        };
        cfg.a64_machine = A64Machine::Raspi4b { dtb, console };
    }
    cfg.cmdline = cli.cmdline;
    cfg.smp = cli.smp;
    cfg.memory = cli.mem;
    cfg.cpu = cli.cpu;
    cfg.kvm |= cli.kvm;
    cfg.gdb = cli.gdb;
    if cli.interactive {
        cfg.serial = Serial::Terminal;
    }
    cfg.timeout = Duration::from_secs(cli.timeout);
    if let Some(name) = cli.name {
        cfg.name = name;
    }
    cfg.log_dir = Some(cli.log_dir);
    cfg.verbose |= cli.verbose;
    cfg.expect_fail = cli.expect_fail;
    cfg.extra_args = cli.extra;
    let action = match (cli.print_cmdline, cli.interactive) {
        (true, _) => Action::Print,
        (false, true) => Action::Interactive,
        (false, false) => Action::Judge,
    };
    Ok(Args { cfg, expect_fail: cli.expect_fail, action })
}

/// `--interactive`: replaces this process with QEMU; returns only when QEMU
/// cannot be started.
fn interactive(cfg: &Config) -> ExitCode {
    let args = match cfg.args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("qemu-runner: {e}");
            return ExitCode::from(2);
        }
    };
    if !cfg.image.is_file() {
        eprintln!("qemu-runner: image {} not found (run `make image`)", cfg.image.display());
        return ExitCode::from(2);
    }
    let firmware = match cfg.arch {
        Arch::X86_64 => cfg.boot.to_string(),
        Arch::Aarch64 => match cfg.a64_machine {
            A64Machine::Virt => "virt".to_string(),
            A64Machine::Raspi4b { .. } => "raspi4b".to_string(),
        },
    };
    eprintln!(
        "qemu-runner: {} {firmware} boot of {}, {} CPUs, {}; quit with Ctrl-A X",
        cfg.arch,
        cfg.image.display(),
        cfg.smp,
        cfg.memory
    );
    if let Ok(line) = cfg.command_line() {
        eprintln!("qemu-runner: {line}");
    }
    let err = Command::new(cfg.arch.qemu()).args(&args).exec();
    eprintln!("qemu-runner: cannot start {}: {err}", cfg.arch.qemu());
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    let cfg = &args.cfg;
    match args.action {
        Action::Judge => {}
        Action::Interactive => return interactive(cfg),
        Action::Print => {
            return match cfg.command_line() {
                Ok(line) => {
                    println!("{line}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("qemu-runner: {e}");
                    ExitCode::from(2)
                }
            };
        }
    }
    let what = if cfg.cmdline.is_empty() {
        "no cmdline".into()
    } else {
        format!("cmdline `{}`", cfg.cmdline)
    };
    eprintln!("qemu-runner: booting {} ({}, {}, {what})", cfg.image.display(), cfg.arch, cfg.boot);
    let (run, verdict) = match qemu_tests::boot(cfg) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("qemu-runner: {e}");
            return ExitCode::from(2);
        }
    };
    print!("{}", verdict.render());
    eprintln!("qemu-runner: {} after {:.1} s", run.ending, run.elapsed.as_secs_f64());
    match (args.expect_fail, verdict.is_pass()) {
        (false, true) => ExitCode::SUCCESS,
        (false, false) => ExitCode::FAILURE,
        (true, false) => {
            println!("expected failure observed: {}", verdict.reason().replace('\n', "\n    "));
            ExitCode::SUCCESS
        }
        (true, true) => {
            println!("expected the boot to fail, but it passed");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn options_and_extra_args() {
        let a = parse(&[
            "--image",
            "t/uefi.img",
            "--boot",
            "uefi",
            "--cmdline",
            "ktest x=1",
            "--smp",
            "2",
            "--timeout",
            "5",
            "--expect-fail",
            "--",
            "-s",
            "-S",
        ])
        .unwrap();
        assert!(a.expect_fail && a.cfg.expect_fail);
        assert_eq!((a.cfg.boot, a.cfg.smp, a.cfg.name.as_str()), (Boot::Uefi, 2, "uefi"));
        assert_eq!(a.cfg.cmdline, "ktest x=1");
        assert_eq!(a.cfg.timeout, Duration::from_secs(5));
        assert_eq!(a.cfg.extra_args, ["-s", "-S"]);
        assert_eq!(a.cfg.log_path().unwrap(), PathBuf::from("target/qemu-logs/uefi.log"));
        assert_eq!(a.cfg.result_path("json").unwrap(), PathBuf::from("target/qemu-logs/uefi.json"));
        let a =
            parse(&["--arch", "aarch64", "--image", "Image", "--name", "x", "--", "-cpu", "a72"])
                .unwrap();
        assert_eq!((a.cfg.arch, a.cfg.name.as_str()), (Arch::Aarch64, "x"));
        assert_eq!(a.cfg.extra_args, ["-cpu", "a72"]);
    }

    /// The arguments the Makefile's `run`, `debug` and `run-aarch64` pass.
    #[test]
    fn interactive_and_print() {
        let a = parse(&[
            "--interactive",
            "--image",
            "target/image/x86_64/uefi.img",
            "--boot",
            "uefi",
            "--smp",
            "2",
            "--mem",
            "512M",
            "--cmdline",
            "ktest x=1",
            "--kvm",
            "--gdb",
        ])
        .unwrap();
        assert_eq!(a.action, Action::Interactive);
        assert_eq!(a.cfg.serial, Serial::Terminal);
        assert!(a.cfg.kvm && a.cfg.gdb && !a.expect_fail);
        assert_eq!((a.cfg.boot, a.cfg.smp, a.cfg.memory.as_str()), (Boot::Uefi, 2, "512M"));
        let a = parse(&[
            "--interactive",
            "--print-cmdline",
            "--arch",
            "aarch64",
            "--image",
            "Image",
            "--cpu",
            "cortex-a72",
        ])
        .unwrap();
        assert_eq!(a.action, Action::Print);
        assert_eq!(a.cfg.cpu.as_deref(), Some("cortex-a72"));
        let line = a.cfg.command_line().unwrap();
        assert!(
            line.contains(" -cpu cortex-a72 ") && line.contains(" -serial mon:stdio "),
            "{line}"
        );
        let a = parse(&["--image", "x.img"]).unwrap();
        assert_eq!((a.action, a.cfg.serial, a.cfg.gdb), (Action::Judge, Serial::Captured, false));
        assert!(parse(&["--image", "x", "--interactive", "--expect-fail"]).is_err());
    }

    #[test]
    fn usage_errors() {
        let e = parse(&[]).err().unwrap().to_string();
        assert!(e.contains("--image"), "{e}");
        assert!(parse(&["--image", "x", "--boot", "pxe"]).is_err());
        let e = parse(&["--image"]).err().unwrap().to_string();
        assert!(e.contains("a value is required"), "{e}");
        assert!(parse(&["--image", "x", "--smp", "four"]).is_err());
    }
}

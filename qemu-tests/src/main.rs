//! `qemu-runner`: boots one image, judges it, prints the report, and writes
//! the serial log with its JSON and JUnit results under `--log-dir`.
//! Exit status 0 if the boot passed (with `--expect-fail`: if it failed),
//! 1 if not, 2 on a usage error or when QEMU cannot be started.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use qemu_tests::{Arch, Boot, Config};

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ArchArg {
    #[value(name = "x86_64")]
    X86_64,
    Aarch64,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum BootArg {
    Bios,
    Uefi,
}

/// Boots a kernel image in QEMU, reads KTAP from the serial port and judges
/// the run. Environment: KVM=1 uses -accel kvm instead of TCG, VERBOSE=1
/// echoes the serial output.
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
    /// vCPUs.
    #[arg(long, default_value_t = 4)]
    smp: u32,
    /// Memory, as QEMU's -m takes it.
    #[arg(long, default_value = "1G")]
    mem: String,
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

struct Args {
    cfg: Config,
    expect_fail: bool,
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
    cfg.cmdline = cli.cmdline;
    cfg.smp = cli.smp;
    cfg.memory = cli.mem;
    cfg.timeout = Duration::from_secs(cli.timeout);
    if let Some(name) = cli.name {
        cfg.name = name;
    }
    cfg.log_dir = Some(cli.log_dir);
    cfg.verbose |= cli.verbose;
    cfg.expect_fail = cli.expect_fail;
    cfg.extra_args = cli.extra;
    Ok(Args { cfg, expect_fail: cli.expect_fail })
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

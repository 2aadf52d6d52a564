//! `qemu-runner`: boots one image, judges it, prints the report.
//! Exit status 0 if the boot passed (with `--expect-fail`: if it failed),
//! 1 if not, 2 on a usage error or when QEMU cannot be started.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use qemu_tests::{Arch, Boot, Config};

const USAGE: &str = "\
usage: qemu-runner --image PATH [options] [-- EXTRA_QEMU_ARGS...]
  --image PATH        disk image (x86_64) or kernel (aarch64)
  --boot bios|uefi    firmware (default bios)
  --arch x86_64|aarch64  (default x86_64)
  --cmdline STR       kernel command line, e.g. 'ktest' (default: none)
  --smp N             vCPUs (default 4)
  --mem SIZE          memory (default 1G)
  --timeout SECS      kill QEMU after this long (default 120)
  --name NAME         log name (default: image file stem)
  --log-dir DIR       where NAME.log goes (default target/qemu-logs)
  -v, --verbose       echo serial output to stderr (also VERBOSE=1)
  --expect-fail       succeed only if the boot is judged failed
environment: KVM=1 uses -accel kvm instead of TCG";

struct Args {
    cfg: Config,
    expect_fail: bool,
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut cfg = Config::new("");
    let mut image = None;
    let mut name = None;
    let mut log_dir = PathBuf::from("target/qemu-logs");
    let mut expect_fail = false;
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--image" => image = Some(PathBuf::from(value()?)),
            "--boot" => cfg.boot = Boot::parse(&value()?).ok_or("--boot is bios or uefi")?,
            "--arch" => cfg.arch = Arch::parse(&value()?).ok_or("--arch is x86_64 or aarch64")?,
            "--cmdline" => cfg.cmdline = value()?,
            "--smp" => cfg.smp = value()?.parse().map_err(|_| "--smp needs a number")?,
            "--mem" => cfg.memory = value()?,
            "--timeout" => {
                let secs = value()?.parse().map_err(|_| "--timeout needs seconds")?;
                cfg.timeout = Duration::from_secs(secs);
            }
            "--name" => name = Some(value()?),
            "--log-dir" => log_dir = PathBuf::from(value()?),
            "-v" | "--verbose" => cfg.verbose = true,
            "--expect-fail" => expect_fail = true,
            "-h" | "--help" => return Err(String::new()),
            "--" => cfg.extra_args.extend(it.by_ref()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let image = image.ok_or("--image is required")?;
    let default_name = Config::new(&image).name;
    cfg.image = image;
    cfg.name = name.unwrap_or(default_name);
    cfg.log_dir = Some(log_dir);
    Ok(Args { cfg, expect_fail })
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("qemu-runner: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
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

    fn parse(args: &[&str]) -> Result<Args, String> {
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
        assert!(a.expect_fail);
        assert_eq!((a.cfg.boot, a.cfg.smp, a.cfg.name.as_str()), (Boot::Uefi, 2, "uefi"));
        assert_eq!(a.cfg.cmdline, "ktest x=1");
        assert_eq!(a.cfg.timeout, Duration::from_secs(5));
        assert_eq!(a.cfg.extra_args, ["-s", "-S"]);
        assert_eq!(a.cfg.log_path().unwrap(), PathBuf::from("target/qemu-logs/uefi.log"));
    }

    #[test]
    fn usage_errors() {
        assert_eq!(parse(&[]).err().unwrap(), "--image is required");
        assert!(parse(&["--image", "x", "--boot", "pxe"]).is_err());
        assert!(parse(&["--image"]).err().unwrap().contains("needs a value"));
    }
}

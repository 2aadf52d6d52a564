//! `boot`: turns the kernel ELF into bootable disk images.
//!
//! Usage: `boot [--cmdline "<kernel command line>"] <kernel-elf> <out-dir>`;
//! writes `<out-dir>/bios.img` and `<out-dir>/uefi.img`. Both images carry the
//! same kernel, so the image `make test` proves is the one `make run` and
//! `make usb` ship.
//!
//! `--cmdline` bakes a kernel command line into both images: the bootloader
//! loads it as its "ramdisk" file (`BiosBoot/UefiBoot::set_ramdisk`), the
//! kernel finds it through `BootInfo::ramdisk_addr` and uses it when the
//! firmware gives none (QEMU's fw_cfg on x86 wins; see docs/hardware.md). The
//! file's layout (`protocol::cmdline::baked`: a magic line, then the command
//! line and a newline) is shared with the kernel that reads it; the file is
//! also kept as `<out-dir>/cmdline.txt` so a person can see what an image
//! carries. Without `--cmdline` a stale `cmdline.txt` is removed.
//!
//! Both images also carry a bootloader config that limits the bootloader's own
//! log to warnings and errors: its ~25 INFO lines per boot would otherwise
//! bury the kernel's banner on screen and serial.
//!
//! `boot rpi4 [--cmdline "<line>"] <Image> <dtb> <firmware-dir> <out-dir>`
//! writes the Raspberry Pi 4 SD card / USB stick image instead (`rpi4.rs`);
//! the command line is checked the same way and goes into its cmdline.txt.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bootloader::BootConfig;
use bootloader_boot_config::LevelFilter;
use protocol::cmdline::{self, CheckError, baked};

mod rpi4;

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "rpi4") {
        return rpi4_main(args.split_off(1));
    }
    let Ok(cmdline) = take_cmdline(&mut args) else {
        return usage();
    };
    let [kernel, out_dir] = args.as_slice() else {
        return usage();
    };
    let built = build_images(Path::new(kernel), Path::new(out_dir), cmdline.as_deref()).map(
        |(bios, uefi)| {
            vec![
                format!("BIOS image: {}", bios.display()),
                format!("UEFI image: {}", uefi.display()),
            ]
        },
    );
    let baked = cmdline.map(|c| format!("baked kernel command line: \"{c}\" (fw_cfg still wins)"));
    finish("boot", built, baked)
}

/// Takes a leading `--cmdline <line>` off `args`: `Ok(None)` without one,
/// `Err` when the line itself is missing.
fn take_cmdline(args: &mut Vec<String>) -> Result<Option<String>, ()> {
    if args.first().is_none_or(|a| a != "--cmdline") {
        return Ok(None);
    }
    if args.len() < 2 {
        return Err(());
    }
    let line = args.remove(1);
    args.remove(0);
    Ok(Some(line))
}

/// Reports a build: what was written (one line each) and the baked command
/// line (or that there is none), or the error under `tool`'s name.
fn finish(tool: &str, built: Result<Vec<String>, String>, baked: Option<String>) -> ExitCode {
    match built {
        Ok(lines) => {
            for line in lines {
                println!("{line}");
            }
            match baked {
                Some(line) => println!("{line}"),
                None => println!("no baked command line (the kernel starts its shell)"),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{tool}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn usage() -> ExitCode {
    eprintln!("usage: boot [--cmdline \"<kernel command line>\"] <kernel-elf> <out-dir>");
    eprintln!(
        "       boot rpi4 [--cmdline \"<kernel command line>\"] <Image> <dtb> <firmware-dir> <out-dir>"
    );
    ExitCode::from(2)
}

/// `boot rpi4 ...`: the Raspberry Pi 4 image (`rpi4.rs`).
fn rpi4_main(mut args: Vec<String>) -> ExitCode {
    let Ok(cmdline) = take_cmdline(&mut args) else {
        return usage();
    };
    let [kernel, dtb, firmware, out_dir] = args.as_slice() else {
        return usage();
    };
    let built = cmdline.as_deref().map_or(Ok(()), check_cmdline).and_then(|()| {
        rpi4::build_image(
            Path::new(kernel),
            Path::new(dtb),
            Path::new(firmware),
            Path::new(out_dir),
            cmdline.as_deref(),
        )
    });
    let built = built.map(|image| {
        vec![format!(
            "Raspberry Pi 4 image: {} (write it with make usb ARCH=aarch64 BOARD=rpi4 DEV=...)",
            image.display()
        )]
    });
    let baked = cmdline.map(|c| format!("baked kernel command line (cmdline.txt): \"{c}\""));
    finish("boot rpi4", built, baked)
}

/// Checks a command line to bake (`protocol::cmdline::check`: printable
/// ASCII, at most `protocol::cmdline::MAX_LEN` bytes, not empty).
fn check_cmdline(c: &str) -> Result<(), String> {
    cmdline::check(c).map_err(|e| match e {
        CheckError::Empty => format!("--cmdline {e} (leave it out for an image without one)"),
        e => format!("--cmdline {e}"),
    })
}

/// The bootloader's own log: warnings and errors only, on screen and serial.
fn boot_config() -> BootConfig {
    let mut config = BootConfig::default();
    config.log_level = LevelFilter::Warn;
    config
}

fn build_images(
    kernel: &Path,
    out_dir: &Path,
    cmdline: Option<&str>,
) -> Result<(PathBuf, PathBuf), String> {
    if !kernel.is_file() {
        return Err(format!("kernel ELF {} not found", kernel.display()));
    }
    std::fs::create_dir_all(out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let bios = out_dir.join("bios.img");
    let uefi = out_dir.join("uefi.img");
    let baked_file = out_dir.join(baked::FILE_NAME);
    let config = boot_config();
    let mut bios_boot = bootloader::BiosBoot::new(kernel);
    let mut uefi_boot = bootloader::UefiBoot::new(kernel);
    bios_boot.set_boot_config(&config);
    uefi_boot.set_boot_config(&config);
    match cmdline {
        Some(c) => {
            check_cmdline(c)?;
            std::fs::write(&baked_file, baked::File(c).to_string())
                .map_err(|e| format!("{}: {e}", baked_file.display()))?;
            bios_boot.set_ramdisk(&baked_file);
            uefi_boot.set_ramdisk(&baked_file);
        }
        None => match std::fs::remove_file(&baked_file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("{}: {e}", baked_file.display())),
        },
    }
    bios_boot.create_disk_image(&bios).map_err(|e| format!("BIOS image: {e:#}"))?;
    uefi_boot.create_disk_image(&uefi).map_err(|e| format!("UEFI image: {e:#}"))?;
    Ok((bios, uefi))
}

#[cfg(test)]
mod tests {
    use super::check_cmdline;

    #[test]
    fn cmdline_checks() {
        assert!(check_cmdline("ktest ktest.filter=heap").is_ok());
        assert!(check_cmdline("  ").is_err());
        assert!(check_cmdline("ktest\nx").is_err());
        assert!(check_cmdline(&"x".repeat(513)).is_err());
    }
}

//! `boot`: turns the kernel ELF into bootable disk images.
//!
//! Usage: `boot <kernel-elf> <out-dir>`; writes `<out-dir>/bios.img` and
//! `<out-dir>/uefi.img`. Both images carry the same kernel, so the image
//! `make test` proves is the one `make run` and `make usb` ship.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, kernel, out_dir] = args.as_slice() else {
        eprintln!("usage: boot <kernel-elf> <out-dir>");
        return ExitCode::from(2);
    };
    match build_images(Path::new(kernel), Path::new(out_dir)) {
        Ok((bios, uefi)) => {
            println!("BIOS image: {}", bios.display());
            println!("UEFI image: {}", uefi.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("boot: {e}");
            ExitCode::FAILURE
        }
    }
}

fn build_images(kernel: &Path, out_dir: &Path) -> Result<(PathBuf, PathBuf), String> {
    if !kernel.is_file() {
        return Err(format!("kernel ELF {} not found", kernel.display()));
    }
    std::fs::create_dir_all(out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let bios = out_dir.join("bios.img");
    let uefi = out_dir.join("uefi.img");
    bootloader::BiosBoot::new(kernel)
        .create_disk_image(&bios)
        .map_err(|e| format!("BIOS image: {e:#}"))?;
    bootloader::UefiBoot::new(kernel)
        .create_disk_image(&uefi)
        .map_err(|e| format!("UEFI image: {e:#}"))?;
    Ok((bios, uefi))
}

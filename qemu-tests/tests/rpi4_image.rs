//! The Raspberry Pi 4 card image (`make image ARCH=aarch64 BOARD=rpi4`,
//! boot/src/rpi4.rs): what the Pi 4's EEPROM bootloader and GPU firmware need
//! to find on it, read back with code of its own (the MBR by hand, the FAT
//! with the `fatfs` crate), and the kernel on it booted on the Pi 4's CPU
//! model.
//!
//! Images: `target/image/rpi4/rpi4.img` (plain) and
//! `target/image/rpi4-cmdline/rpi4.img` (built with [`BAKED`]), both made by
//! scripts/test.sh before this runs (`RPI4_IMAGE_DIR` overrides the first
//! directory); a missing image fails its test. The kernel on the card must be
//! the default Image of `target/image/aarch64/Image` (outline atomics: LL/SC
//! chosen at boot on the Pi 4's ARMv8.0 Cortex-A72), which is also what
//! [`card_kernel_runs_ktest_on_cortex_a72`] boots (from the card's bytes);
//! [`card_boots_on_qemu_raspi4b`] boots the card's kernel with the card's
//! DTB on QEMU's model of the Pi 4 itself (ktest on 4 CPUs, its report read
//! on the mini UART).

use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use protocol::cmdline::{Mode, Parts, key};
use qemu_tests::{Arch, Config, PiUart};

mod common;
use common::{Slot, log_dir, workspace};

/// The command line scripts/test.sh bakes into the second image.
const BAKED: &str = "unattended stress.secs=600";
/// What the firmware reads from the card, besides the kernel that config.txt
/// names.
const NEEDED: [&str; 5] =
    ["start4.elf", "fixup4.dat", "config.txt", "cmdline.txt", "bcm2711-rpi-4-b.dtb"];
/// MBR partition types the Pi's bootloader takes as FAT32: with CHS or LBA
/// addressing.
const FAT32_TYPES: [u8; 2] = [0x0b, 0x0c];

fn image_path(dir: &str) -> PathBuf {
    let dir = match (dir, std::env::var_os("RPI4_IMAGE_DIR")) {
        ("rpi4", Some(d)) => PathBuf::from(d),
        _ => workspace().join("target/image").join(dir),
    };
    dir.join("rpi4.img")
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (make image ARCH=aarch64 BOARD=rpi4 [CMDLINE=...] makes it)",
            path.display()
        )
    })
}

/// One MBR partition entry.
#[derive(Debug)]
struct Partition {
    kind: u8,
    start_lba: u64,
    sectors: u64,
}

/// The non-empty partition entries of an MBR, after checking its signature.
fn partitions(disk: &[u8]) -> Vec<Partition> {
    assert!(disk.len() >= 512, "image shorter than one sector");
    assert_eq!(&disk[510..512], &[0x55, 0xaa], "no MBR signature 0x55AA");
    (0..4)
        .map(|i| &disk[446 + 16 * i..462 + 16 * i])
        .filter(|e| e.iter().any(|&b| b != 0))
        .map(|e| Partition {
            kind: e[4],
            start_lba: u64::from(u32::from_le_bytes(e[8..12].try_into().unwrap())),
            sectors: u64::from(u32::from_le_bytes(e[12..16].try_into().unwrap())),
        })
        .collect()
}

/// The card's files, by name, from its one FAT partition; checks the MBR on
/// the way.
fn card_files(image: &Path) -> (fatfs::FatType, Vec<(String, Vec<u8>)>) {
    let disk = read(image);
    let parts = partitions(&disk);
    assert_eq!(parts.len(), 1, "want exactly one partition, got {parts:?}");
    let p = &parts[0];
    assert!(
        FAT32_TYPES.contains(&p.kind),
        "partition type {:#04x}: the Pi's bootloader wants FAT32 (0x0b or 0x0c)",
        p.kind
    );
    let (start, end) = (p.start_lba * 512, (p.start_lba + p.sectors) * 512);
    assert!(p.start_lba > 0 && end <= disk.len() as u64, "partition {p:?} is not inside the image");
    let part = disk[start as usize..end as usize].to_vec();
    let fs = fatfs::FileSystem::new(Cursor::new(part), fatfs::FsOptions::new())
        .expect("the partition does not hold a FAT file system");
    let mut files = Vec::new();
    for entry in fs.root_dir().iter() {
        let entry = entry.expect("FAT root directory");
        if entry.is_file() {
            let mut data = Vec::new();
            entry.to_file().read_to_end(&mut data).expect("FAT file");
            files.push((entry.file_name(), data));
        }
    }
    (fs.fat_type(), files)
}

fn file<'a>(files: &'a [(String, Vec<u8>)], name: &str) -> &'a [u8] {
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    files
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, d)| d.as_slice())
        .unwrap_or_else(|| panic!("{name} is not on the card (it holds {names:?})"))
}

/// config.txt's `key=value` settings (comments, `[section]` filters and
/// blank lines left out).
fn settings(config: &str) -> Vec<(&str, &str)> {
    config
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect()
}

/// The kernel file config.txt names (the firmware's default for a 64-bit
/// kernel when it names none).
fn kernel_name(config: &str) -> &str {
    let s = settings(config);
    s.iter().rev().find(|(k, _)| *k == "kernel").map_or("kernel8.img", |(_, v)| v)
}

#[test]
fn card_has_the_files_the_firmware_reads() {
    let (fat_type, files) = card_files(&image_path("rpi4"));
    assert_eq!(fat_type, fatfs::FatType::Fat32, "the card's file system");
    for name in NEEDED {
        assert!(!file(&files, name).is_empty() || name == "cmdline.txt", "{name} is empty");
    }
    let config = std::str::from_utf8(file(&files, "config.txt")).expect("config.txt is text");
    let s = settings(config);
    assert!(s.contains(&("arm_64bit", "1")), "config.txt lacks arm_64bit=1:\n{config}");
    assert!(s.contains(&("enable_uart", "1")), "config.txt lacks enable_uart=1:\n{config}");
    // Where the Image is loaded: its entry code needs 2 MiB alignment.
    if let Some((_, a)) = s.iter().find(|(k, _)| *k == "kernel_address") {
        let a = u64::from_str_radix(a.trim_start_matches("0x"), 16).expect("kernel_address");
        assert_eq!(a % (2 << 20), 0, "kernel_address {a:#x} is not 2 MiB-aligned");
    }
    let kernel = file(&files, kernel_name(config));
    assert_eq!(&kernel[0x38..0x3c], b"ARM\x64", "the kernel file is not an arm64 Image");
    if let Some((_, dtb)) = s.iter().find(|(k, _)| *k == "device_tree") {
        assert_eq!(*dtb, "bcm2711-rpi-4-b.dtb", "config.txt names another device tree");
    }
    // The firmware and the DTB are the ones the build took.
    let ws = workspace();
    for name in ["start4.elf", "fixup4.dat"] {
        let fetched = read(&ws.join("target/boards/rpi4/firmware").join(name));
        assert!(file(&files, name) == fetched, "{name} on the card differs from the fetched one");
    }
    assert!(file(&files, "LICENCE.broadcom").windows(14).any(|w| w == b"Redistribution"));
    let dtb = file(&files, "bcm2711-rpi-4-b.dtb");
    assert_eq!(&dtb[..4], &[0xd0, 0x0d, 0xfe, 0xed], "the DTB has no FDT magic");
    assert!(dtb == read(&ws.join("target/boards/rpi4/bcm2711-rpi-4-b.dtb")), "another DTB");
    assert!(dtb.windows(21).any(|w| w == b"raspberrypi,4-model-b"), "not the Pi 4 Model B's DTB");
    // Nothing baked into the plain image: the shell.
    assert_eq!(file(&files, "cmdline.txt"), b"", "the plain image has a command line");
}

#[test]
fn baked_cmdline_is_cmdline_txt() {
    let (_, files) = card_files(&image_path("rpi4-cmdline"));
    let line = String::from_utf8_lossy(file(&files, "cmdline.txt")).into_owned();
    assert_eq!(line, format!("{BAKED}\n"), "cmdline.txt of the CMDLINE=\"{BAKED}\" image");
}

/// The kernel on the card is the default Image, the one every aarch64 boot
/// of `make test` runs, byte for byte.
#[test]
fn card_kernel_is_the_default_image() {
    let (_, files) = card_files(&image_path("rpi4"));
    let config = String::from_utf8_lossy(file(&files, "config.txt")).into_owned();
    let kernel = file(&files, kernel_name(&config));
    let built = workspace().join("target/image/aarch64/Image");
    assert!(
        kernel == read(&built),
        "{} on the card differs from {}",
        kernel_name(&config),
        built.display()
    );
}

/// The card's kernel bytes, booted on QEMU virt with the Pi 4's CPU model
/// (cortex-a72: ARMv8.0, no LSE, so every atomic takes the LL/SC path) and 4
/// CPUs as on the board, pass the boot checks, the mm suite and two of the
/// refcount races under stress (about 12 s of suites; the whole ktest took
/// 28 s here, `smp` alone 11 s).
#[test]
fn card_kernel_runs_ktest_on_cortex_a72() {
    let (_, files) = card_files(&image_path("rpi4"));
    let config = String::from_utf8_lossy(file(&files, "config.txt")).into_owned();
    let kernel = log_dir().join("rpi4-kernel8.img");
    std::fs::create_dir_all(log_dir()).expect("log dir");
    std::fs::write(&kernel, file(&files, kernel_name(&config))).expect("write the card's kernel");
    let options = [(
        key::KTEST_FILTER,
        "bootinfo,exceptions,heap,mmu_attributes,mm,stress_revive,stress_freeze",
    )];
    let mut cfg = Config::new(kernel);
    cfg.arch = Arch::Aarch64;
    cfg.cpu = Some("cortex-a72".into());
    cfg.cmdline = Parts { mode: Mode::Ktest, options: &options, words: &[] }.to_string();
    cfg.smp = 4;
    cfg.memory = "1G".into();
    cfg.name = "rpi4-kernel-cortex-a72".into();
    cfg.log_dir = Some(log_dir());
    cfg.timeout = Duration::from_secs(300);
    let (run, v) = qemu_tests::boot(&cfg).expect("cannot run QEMU");
    println!("{}{} after {:.1?}", v.render(), run.ending, run.elapsed);
    assert!(v.is_pass(), "the card's kernel failed on cortex-a72:\n{}", v.render());
}

/// Boots the card's kernel with the card's DTB on QEMU's `raspi4b` (a BCM2711
/// with 2 GiB at physical 0, GIC-400, 4 Cortex-A72s on spin tables) with
/// `ktest` in `/chosen/bootargs`, as the firmware would put `cmdline.txt`
/// there. QEMU does not run the GPU firmware: it loads the Image itself, at
/// 2 MiB (where config.txt's `kernel_address` puts it on the board) and
/// enters it at EL2 with x0 = the DTB, which covers the load address, the
/// entry code at low physical addresses and the Pi's real device tree
/// (memory, `/memreserve/`, reserved memory, the BCM2711's nodes). Judged by
/// the KTAP report on the mini UART the DTB's `stdout-path` names, like
/// every other boot: the verdict passes, each suite ran, and all 4 CPUs came
/// online from their spin tables (the smp suite's cases need them). The
/// whole ktest on this board is `make test-rpi4`'s (qemu-tests/tests/raspi4b.rs).
#[test]
fn card_boots_on_qemu_raspi4b() {
    let (_, files) = card_files(&image_path("rpi4"));
    let config = String::from_utf8_lossy(file(&files, "config.txt")).into_owned();
    std::fs::create_dir_all(log_dir()).expect("log dir");
    let kernel = log_dir().join("rpi4-raspi4b-kernel8.img");
    let dtb = log_dir().join("rpi4-raspi4b.dtb");
    std::fs::write(&kernel, file(&files, kernel_name(&config))).expect("write the card's kernel");
    std::fs::write(&dtb, file(&files, "bcm2711-rpi-4-b.dtb")).expect("write the card's DTB");
    const SUITES: [&str; 4] = ["bootinfo", "heap", "mm", "smp"];
    let filter = SUITES.join(",");
    let options = [(key::KTEST_FILTER, filter.as_str())];
    let mut cfg = Config::raspi4b(kernel, dtb, PiUart::Mini);
    cfg.cmdline = Parts { mode: Mode::Ktest, options: &options, words: &[] }.to_string();
    cfg.name = "rpi4-raspi4b".into();
    cfg.log_dir = Some(log_dir());
    cfg.timeout = Duration::from_secs(180);
    let _slot = Slot::take();
    let (run, v) = qemu_tests::boot(&cfg).expect("cannot run QEMU");
    println!("{}{} after {:.1?}", v.render(), run.ending, run.elapsed);
    assert!(v.is_pass(), "the card on raspi4b failed:\n{}", v.render());
    for suite in SUITES {
        let prefix = format!("{suite}.");
        let ran = v.cases.iter().any(|c| c.name.starts_with(&prefix));
        assert!(ran, "no {suite} cases on raspi4b:\n{}", v.render());
    }
    let log = run.log_path.as_ref().map_or_else(String::new, |p| p.display().to_string());
    let has = |needle: &str| run.lines.iter().any(|l| l.contains(needle));
    // The default Image on the Pi 4's ARMv8.0 cores: LL/SC, chosen at boot.
    for needle in ["smp: 4 of 4 CPUs online", "atomics in use: LL/SC", "screen: "] {
        assert!(has(needle), "no `{needle}` line on the raspi4b console ({log})");
    }
    let errors: Vec<&String> = run.lines.iter().filter(|l| l.contains("DTB error")).collect();
    assert!(errors.is_empty(), "DTB errors on raspi4b: {errors:?}");
}

//! `boot rpi4`: the Raspberry Pi 4 SD card / USB stick image.
//!
//! Usage: `boot rpi4 [--cmdline "<line>"] <Image> <dtb> <firmware-dir> <out-dir>`
//! (what `make image ARCH=aarch64 BOARD=rpi4` runs, mk/rpi4.mk); writes
//! `<out-dir>/rpi4.img`.
//!
//! The Pi 4's EEPROM bootloader reads the first FAT partition of an MBR disk
//! (SD card or USB mass storage, in the order of its `BOOT_ORDER` setting),
//! loads the GPU firmware `start4.elf` with `fixup4.dat` from it, and the
//! firmware reads `config.txt`, loads the device tree and the kernel, copies
//! `cmdline.txt` into the tree's `/chosen/bootargs` and starts the kernel in
//! AArch64 state with x0 = the tree (docs/hardware.md, "Raspberry Pi 4"). So
//! the image is:
//!
//! - an MBR with one partition, from 1 MiB (sector 2048), 64 MiB long, of
//!   type 0x0C (FAT32, LBA), disk identifier [`DISK_ID`];
//! - in it a FAT32 file system with one sector per cluster (what Raspberry
//!   Pi OS images use; the bootloader reads FAT16 and FAT32) holding
//!   `start4.elf`, `fixup4.dat` and their `LICENCE.broadcom` (from
//!   `<firmware-dir>`), `config.txt` ([`config_txt`]), `cmdline.txt` (the
//!   baked command line, or empty: the shell), the kernel Image as
//!   `kernel8.img` and the DTB as `bcm2711-rpi-4-b.dtb`.
//!
//! Everything is written from memory into the file: no root, no loop
//! device, no mtools. The FAT code is the `fatfs` crate the bootloader's
//! image builder uses too (same pinned release); the MBR is 512 bytes
//! written here. The image is the same bytes for the same inputs (fixed
//! volume id, disk id and 1980 time stamps), so two builds can be compared.

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

/// The image's file name in `<out-dir>`.
pub const IMAGE_NAME: &str = "rpi4.img";
/// The kernel's name on the card (`kernel=` in config.txt; also the
/// firmware's own default name for a 64-bit kernel).
pub const KERNEL_NAME: &str = "kernel8.img";
/// The device tree's name on the card: the name the Pi 4 Model B's firmware
/// looks for, also named by `device_tree=` in config.txt.
pub const DTB_NAME: &str = "bcm2711-rpi-4-b.dtb";
/// What is copied from `<firmware-dir>` (`scripts/setup.sh rpi4` puts them
/// there): the Pi 4's GPU firmware, its memory-split fixup table, and their
/// licence, which asks that redistributions carry it.
pub const FIRMWARE_FILES: [&str; 3] = ["start4.elf", "fixup4.dat", "LICENCE.broadcom"];
/// The kernel's load address: the firmware's default for 64-bit kernels,
/// and 2 MiB-aligned as the entry code requires (docs/aarch64.md).
pub const KERNEL_ADDRESS: u64 = 0x20_0000;

const SECTOR: usize = 512;
/// The partition starts at 1 MiB, as partitioning tools align it.
const PART_START_LBA: u32 = 2048;
/// 64 MiB: with 512-byte clusters that is ~130 000 clusters, well inside
/// FAT32's range (at least 65 525), and room to spare for the ~4 MiB of files
/// (the bootloader has failed on completely full file systems).
const PART_SECTORS: u32 = 64 * 1024 * 1024 / SECTOR as u32;
/// MBR partition type: FAT32 with LBA addressing.
pub const PART_TYPE_FAT32_LBA: u8 = 0x0c;
/// The MBR's disk identifier (Linux shows it as PARTUUID 4652_4b4e-01);
/// fixed so that builds are reproducible.
pub const DISK_ID: u32 = 0x4652_4b4e;
/// The FAT volume label (11 bytes) and volume id.
const VOLUME_LABEL: [u8; 11] = *b"FROZEN-RPI4";
const VOLUME_ID: u32 = 0x4652_4b4e;

/// config.txt: what the firmware needs to start this kernel. Every line is
/// explained in it, for whoever opens the card.
///
/// Left out on purpose: `disable_commandline_tags` (it only stops the ATAG
/// list at 0x100, which this kernel never reads and which lies in the first
/// page, kept out of use by the DTB's `/memreserve/`); `armstub` (the
/// firmware's built-in arm64 stub parks the secondary CPUs on spin tables
/// and enters the kernel at EL2, which entry.s handles); `dtoverlay=` lines
/// (the card carries no overlays: Debian's package has none).
pub fn config_txt() -> String {
    format!(
        "\
# frozen-kernel on a Raspberry Pi 4 (written by `make image ARCH=aarch64 BOARD=rpi4`;
# docs/hardware.md in the repository, \"Raspberry Pi 4\").
[all]
# Start the CPUs in AArch64 state and load a 64-bit kernel: an arm64 Linux Image.
arm_64bit=1
kernel={KERNEL_NAME}
# Where the Image goes: 2 MiB-aligned, as its entry code requires (the firmware's
# default for 64-bit kernels; written down so that no other default applies).
kernel_address={KERNEL_ADDRESS:#x}
# The device tree is upstream Linux's for the Pi 4 Model B (also used on a Pi 400
# or CM4): the kernel takes memory, CPUs, UARTs, GIC, mailbox and watchdog from it.
device_tree={DTB_NAME}
upstream_kernel=1
# The UART on GPIO 14/15 (header pins 8 and 10), with a fixed core clock.
enable_uart=1
"
    )
}

/// cmdline.txt: the baked command line and a newline, or nothing (the
/// firmware then passes only what it adds itself; the kernel ignores
/// `key=value` words it does not know and starts its shell).
pub fn cmdline_txt(cmdline: Option<&str>) -> String {
    cmdline.map(|c| format!("{c}\n")).unwrap_or_default()
}

/// Checks that `image` is an arm64 Linux Image the firmware can start at
/// [`KERNEL_ADDRESS`]: the `ARM\x64` magic at 0x38 and `text_offset` 0 (the
/// header of kernel/src/arch/aarch64/entry.s).
pub fn check_kernel(image: &[u8]) -> Result<(), String> {
    if image.len() < 64 || &image[0x38..0x3c] != b"ARM\x64" {
        return Err("not an arm64 Image (no ARM\\x64 magic at 0x38)".into());
    }
    let text_offset = u64::from_le_bytes(image[8..16].try_into().expect("8 bytes"));
    if text_offset != 0 {
        return Err(format!(
            "text_offset {text_offset:#x}, want 0 (loaded at {KERNEL_ADDRESS:#x})"
        ));
    }
    Ok(())
}

/// CHS address of `lba` in the usual 255-head, 63-sector geometry, as the
/// three bytes of a partition entry (1023/254/63 when it does not fit).
fn chs(lba: u32) -> [u8; 3] {
    let (heads, sectors) = (255, 63);
    let cylinder = lba / (heads * sectors);
    if cylinder > 1023 {
        return [0xfe, 0xff, 0xff];
    }
    let head = (lba / sectors) % heads;
    let sector = lba % sectors + 1;
    [head as u8, (sector as u8) | ((cylinder >> 2) as u8 & 0xc0), cylinder as u8]
}

/// The MBR: no boot code (the Pi does not run it), the disk identifier, one
/// partition entry, the 0x55AA signature.
pub fn mbr() -> [u8; SECTOR] {
    let mut m = [0u8; SECTOR];
    m[440..444].copy_from_slice(&DISK_ID.to_le_bytes());
    let e = &mut m[446..462];
    e[0] = 0x00; // not "active": the Pi does not look, and no PC should try it
    e[1..4].copy_from_slice(&chs(PART_START_LBA));
    e[4] = PART_TYPE_FAT32_LBA;
    e[5..8].copy_from_slice(&chs(PART_START_LBA + PART_SECTORS - 1));
    e[8..12].copy_from_slice(&PART_START_LBA.to_le_bytes());
    e[12..16].copy_from_slice(&PART_SECTORS.to_le_bytes());
    m[510] = 0x55;
    m[511] = 0xaa;
    m
}

/// Every file's time stamp: 1980-01-01 00:00, the first date FAT can hold
/// (fatfs without its clock writes month 0 and day 0, which is not a date).
#[derive(Debug)]
struct FixedTime;

static FIXED_TIME: FixedTime = FixedTime;

impl fatfs::TimeProvider for FixedTime {
    fn get_current_date(&self) -> fatfs::Date {
        fatfs::Date { year: 1980, month: 1, day: 1 }
    }
    fn get_current_date_time(&self) -> fatfs::DateTime {
        let time = fatfs::Time { hour: 0, min: 0, sec: 0, millis: 0 };
        fatfs::DateTime { date: self.get_current_date(), time }
    }
}

/// The FAT32 partition holding `files` (name, contents), as bytes.
fn fat_partition(files: &[(&str, Vec<u8>)]) -> Result<Vec<u8>, String> {
    let mut part = Cursor::new(vec![0u8; PART_SECTORS as usize * SECTOR]);
    let options = fatfs::FormatVolumeOptions::new()
        .fat_type(fatfs::FatType::Fat32)
        .bytes_per_sector(SECTOR as u16)
        .bytes_per_cluster(SECTOR as u32)
        .volume_label(VOLUME_LABEL)
        .volume_id(VOLUME_ID);
    fatfs::format_volume(&mut part, options).map_err(|e| format!("FAT32 format: {e}"))?;
    part.set_position(0);
    {
        let options = fatfs::FsOptions::new().time_provider(&FIXED_TIME);
        let fs =
            fatfs::FileSystem::new(&mut part, options).map_err(|e| format!("FAT32 open: {e}"))?;
        for (name, data) in files {
            let mut f =
                fs.root_dir().create_file(name).map_err(|e| format!("FAT32 {name}: {e}"))?;
            f.write_all(data).map_err(|e| format!("FAT32 {name}: {e}"))?;
            f.flush().map_err(|e| format!("FAT32 {name}: {e}"))?;
        }
        fs.unmount().map_err(|e| format!("FAT32 unmount: {e}"))?;
    }
    let mut part = part.into_inner();
    // The BPB's "hidden sectors" (offset 0x1C): the sectors before the
    // partition, as mkfs.fat writes it for a partition; in the boot sector
    // and its FAT32 backup (sector 6, named at offset 0x32).
    let backup = usize::from(u16::from_le_bytes([part[0x32], part[0x33]]));
    for sector in [0, backup] {
        let at = sector * SECTOR + 0x1c;
        part[at..at + 4].copy_from_slice(&PART_START_LBA.to_le_bytes());
    }
    Ok(part)
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Builds `<out_dir>/rpi4.img`; returns its path.
pub fn build_image(
    kernel: &Path,
    dtb: &Path,
    firmware_dir: &Path,
    out_dir: &Path,
    cmdline: Option<&str>,
) -> Result<PathBuf, String> {
    let image = read(kernel)?;
    check_kernel(&image).map_err(|e| format!("{}: {e}", kernel.display()))?;
    let dtb_bytes = read(dtb)?;
    if dtb_bytes.get(..4) != Some(&[0xd0, 0x0d, 0xfe, 0xed][..]) {
        return Err(format!("{}: not a DTB (no 0xd00dfeed magic)", dtb.display()));
    }
    let mut files = Vec::new();
    for name in FIRMWARE_FILES {
        let data = read(&firmware_dir.join(name))
            .map_err(|e| format!("{e} (scripts/setup.sh rpi4 fetches the firmware)"))?;
        if data.is_empty() {
            return Err(format!("{}: empty", firmware_dir.join(name).display()));
        }
        files.push((name, data));
    }
    files.push(("config.txt", config_txt().into_bytes()));
    files.push(("cmdline.txt", cmdline_txt(cmdline).into_bytes()));
    files.push((KERNEL_NAME, image));
    files.push((DTB_NAME, dtb_bytes));
    let total: usize = files.iter().map(|(_, d)| d.len()).sum();
    // Leave at least half the partition free (see PART_SECTORS).
    if total > PART_SECTORS as usize * SECTOR / 2 {
        return Err(format!(
            "{total} bytes of files do not fit the 64 MiB partition with room to spare"
        ));
    }
    let part = fat_partition(&files)?;
    std::fs::create_dir_all(out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let out = out_dir.join(IMAGE_NAME);
    let mut disk = vec![0u8; PART_START_LBA as usize * SECTOR];
    disk[..SECTOR].copy_from_slice(&mbr());
    disk.extend_from_slice(&part);
    std::fs::write(&out, &disk).map_err(|e| format!("{}: {e}", out.display()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_names_the_kernel_and_dtb() {
        let c = config_txt();
        for line in
            ["arm_64bit=1", "kernel=kernel8.img", "kernel_address=0x200000", "enable_uart=1"]
        {
            assert!(c.lines().any(|l| l == line), "{line} missing:\n{c}");
        }
        assert!(c.lines().any(|l| l == format!("device_tree={DTB_NAME}")));
    }

    #[test]
    fn mbr_has_one_fat32_partition() {
        let m = mbr();
        assert_eq!(&m[510..], &[0x55, 0xaa]);
        assert_eq!(m[446 + 4], 0x0c);
        assert_eq!(u32::from_le_bytes(m[454..458].try_into().unwrap()), 2048);
        assert!(m[462..510].iter().all(|&b| b == 0));
        // LBA 2048 = cylinder 0, head 32, sector 33.
        assert_eq!(chs(2048), [32, 33, 0]);
    }

    #[test]
    fn kernel_header_is_checked() {
        let mut img = vec![0u8; 64];
        assert!(check_kernel(&img).is_err());
        img[0x38..0x3c].copy_from_slice(b"ARM\x64");
        assert!(check_kernel(&img).is_ok());
        img[8] = 0x80;
        assert!(check_kernel(&img).is_err());
    }
}

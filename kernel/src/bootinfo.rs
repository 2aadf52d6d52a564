//! What the kernel knows about the machine, independent of the boot protocol.
//!
//! Each architecture's entry code translates its protocol (bootloader_api on
//! x86_64, the device tree on aarch64) into this one structure, so the memory
//! manager and the shell never see a protocol-specific type.

use core::fmt;

/// Upper bound on memory map entries we keep (firmware maps rarely exceed 100).
pub const MAX_REGIONS: usize = 256;

/// What a physical memory range is used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegionKind {
    /// Free RAM the kernel may manage.
    Usable,
    /// RAM in use by the kernel image, boot stack, page tables or boot info.
    Bootloader,
    /// Anything else the firmware reported (ACPI tables, MMIO holes, ...),
    /// with the firmware's own type code.
    Firmware(u32),
}

/// A half-open physical range `[start, end)`.
#[derive(Clone, Copy, Debug)]
pub struct MemRegion {
    pub start: u64,
    pub end: u64,
    pub kind: RegionKind,
}

impl MemRegion {
    pub const EMPTY: Self = Self { start: 0, end: 0, kind: RegionKind::Usable };

    pub fn len(&self) -> u64 {
        self.end - self.start
    }
}

/// Pixel layout of a linear framebuffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PixelFormat {
    Rgb,
    Bgr,
    /// One grey byte per pixel.
    Gray,
}

/// A linear framebuffer the firmware set up (UEFI GOP or VESA via the bootloader).
#[derive(Clone, Copy, Debug)]
pub struct Framebuffer {
    /// Kernel virtual address of the first pixel.
    pub base: usize,
    pub byte_len: usize,
    pub width: usize,
    pub height: usize,
    /// Pixels per scan line (>= width), as the bootloader reported it
    /// (rounded down where lines are not whole pixels long).
    pub stride: usize,
    /// Bytes from one scan line to the next (>= width * bytes_per_pixel,
    /// not necessarily a multiple of bytes_per_pixel): what drawing uses.
    pub bytes_per_line: usize,
    pub bytes_per_pixel: usize,
    pub format: PixelFormat,
    /// How the kernel's mapping caches the video memory, for the boot log
    /// (`write-combining (PAT 4)`); empty where the arch says nothing.
    pub caching: &'static str,
}

/// Boot-time facts handed from the arch entry to [`crate::kernel_main`].
pub struct BootInfo {
    /// "BIOS", "UEFI", "DTB", ...
    pub protocol: &'static str,
    /// Virtual address at which all physical memory is mapped.
    pub phys_offset: u64,
    /// Kernel command line (empty when the firmware gave none).
    pub cmdline: &'static str,
    /// Where `cmdline` came from ("fw_cfg", "DTB", "image" for a line baked
    /// into the boot image; "" when unknown or empty).
    pub cmdline_source: &'static str,
    /// Physical address of the ACPI RSDP, if the firmware has one.
    pub rsdp: Option<u64>,
    /// The screen, if there is one.
    pub framebuffer: Option<Framebuffer>,
    regions: [MemRegion; MAX_REGIONS],
    nr_regions: usize,
}

impl BootInfo {
    pub const fn new(protocol: &'static str, phys_offset: u64, cmdline: &'static str) -> Self {
        Self {
            protocol,
            phys_offset,
            cmdline,
            cmdline_source: "",
            rsdp: None,
            framebuffer: None,
            regions: [MemRegion::EMPTY; MAX_REGIONS],
            nr_regions: 0,
        }
    }

    /// Appends a region, merging it with the previous one when they touch and
    /// have the same kind (firmware maps are often finely split).
    /// Regions beyond [`MAX_REGIONS`] are dropped and reported.
    pub fn push_region(&mut self, region: MemRegion) {
        if region.start >= region.end {
            return;
        }
        if let Some(last) = self.regions[..self.nr_regions].last_mut()
            && last.end == region.start
            && last.kind == region.kind
        {
            last.end = region.end;
            return;
        }
        if self.nr_regions == MAX_REGIONS {
            log::warn!("memory map: dropping region {region:x?}: table full");
            return;
        }
        self.regions[self.nr_regions] = region;
        self.nr_regions += 1;
    }

    pub fn regions(&self) -> &[MemRegion] {
        &self.regions[..self.nr_regions]
    }

    pub fn usable(&self) -> impl Iterator<Item = &MemRegion> {
        self.regions().iter().filter(|r| r.kind == RegionKind::Usable)
    }

    pub fn usable_bytes(&self) -> u64 {
        self.usable().map(MemRegion::len).sum()
    }

    /// Converts a physical address into the kernel's virtual address for it.
    pub fn phys_to_virt(&self, phys: u64) -> *mut u8 {
        (self.phys_offset + phys) as *mut u8
    }
}

impl fmt::Display for RegionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegionKind::Usable => f.write_str("usable"),
            RegionKind::Bootloader => f.write_str("kernel/boot"),
            RegionKind::Firmware(code) => write!(f, "firmware({code:#x})"),
        }
    }
}

static BOOT_INFO: spin::Once<BootInfo> = spin::Once::new();

/// Publishes the boot info; called once by the arch entry.
pub fn set(info: BootInfo) -> &'static BootInfo {
    BOOT_INFO.call_once(|| info)
}

/// The boot info; panics if the arch entry has not published it yet.
pub fn get() -> &'static BootInfo {
    BOOT_INFO.get().expect("boot info not initialised")
}

/// Prints the memory map summary (`mem` in the shell).
pub fn print_memory_map(info: &BootInfo) {
    println!("{:>18} {:>18} {:>10}  kind", "start", "end", "KiB");
    for r in info.regions() {
        println!("{:#18x} {:#18x} {:>10}  {}", r.start, r.end, r.len() >> 10, r.kind);
    }
    println!("{} regions, {} MiB usable", info.regions().len(), info.usable_bytes() >> 20);
}

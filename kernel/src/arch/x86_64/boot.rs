//! Entry from the bootloader: CPU setup, then the arch-neutral boot info.

use bootloader_api::config::{BootloaderConfig, Mapping};
use bootloader_api::info::MemoryRegionKind;

use super::{apic, fw_cfg, gdt, interrupts, keyboard, paging, pat, percpu, serial, tsc};
use crate::bootinfo::{self, BootInfo, Framebuffer, MemRegion, PixelFormat, RegionKind};

/// Asks the bootloader to map all physical memory (the memory manager reaches
/// every `struct page` and frame through it) and for a roomy boot stack.
pub static BOOTLOADER_CONFIG: BootloaderConfig = {
    let mut config = BootloaderConfig::new_default();
    config.mappings.physical_memory = Some(Mapping::Dynamic);
    config.kernel_stack_size = 512 * 1024;
    config
};

bootloader_api::entry_point!(kernel_entry, config = &BOOTLOADER_CONFIG);

fn kernel_entry(boot_info: &'static mut bootloader_api::BootInfo) -> ! {
    // First: GS must point at CPU 0's slot before anything asks for the CPU index.
    percpu::init(0);
    serial::init();
    gdt::init_bsp();
    interrupts::init();

    let phys_offset = boot_info
        .physical_memory_offset
        .into_option()
        .expect("bootloader did not map physical memory");
    // bootloader_api does not say which firmware booted us, but each firmware
    // leaves its own marks in the memory map.
    let uefi =
        boot_info.memory_regions.iter().any(|r| matches!(r.kind, MemoryRegionKind::UnknownUefi(_)));
    let (cmdline, source) = cmdline(boot_info);
    let mut info = BootInfo::new(if uefi { "UEFI" } else { "BIOS" }, phys_offset, cmdline);
    info.cmdline_source = source;
    info.rsdp = boot_info.rsdp_addr.into_option();
    info.framebuffer = boot_info.framebuffer.as_mut().and_then(framebuffer);

    boot_info.memory_regions.sort_unstable_by_key(|r| r.start);
    for r in boot_info.memory_regions.iter() {
        let kind = match r.kind {
            MemoryRegionKind::Usable => RegionKind::Usable,
            MemoryRegionKind::Bootloader => RegionKind::Bootloader,
            MemoryRegionKind::UnknownUefi(t) | MemoryRegionKind::UnknownBios(t) => {
                RegionKind::Firmware(t)
            }
            _ => RegionKind::Firmware(u32::MAX),
        };
        info.push_region(MemRegion { start: r.start, end: r.end, kind });
    }
    let info = bootinfo::set(info);
    // The screen first: on most PCs it is the only output, so anything that
    // fails from here on (calibration, the APIC, the heap) is shown on it.
    // Before the framebuffer's pages switch to the WC entry.
    pat::init_bsp();
    if let Some(fb) = info.framebuffer {
        crate::fbcon::init(write_combining(fb));
    }
    tsc::calibrate();
    if let Err(e) = keyboard::init() {
        println!("keyboard: {e}; PS/2 input may not work");
    }
    apic::init();
    crate::kernel_main(info)
}

/// Longest baked command line kept (bytes); the `boot` tool refuses longer.
const MAX_BAKED: usize = protocol::cmdline::MAX_LEN;
static BAKED: spin::Once<([u8; MAX_BAKED], usize)> = spin::Once::new();

/// The kernel command line and where it came from: QEMU's fw_cfg wins, then
/// a line baked into the image (the bootloader's ramdisk, see
/// protocol::cmdline::baked), else none ("").
fn cmdline(boot_info: &bootloader_api::BootInfo) -> (&'static str, &'static str) {
    let fw = fw_cfg::cmdline();
    if !fw.is_empty() {
        return (fw, "fw_cfg");
    }
    let Some(addr) = boot_info.ramdisk_addr.into_option() else {
        return ("", "");
    };
    let len = boot_info.ramdisk_len as usize;
    // SAFETY: the bootloader mapped the ramdisk file at `addr` (virtual,
    // `ramdisk_len` bytes, config.mappings.ramdisk_memory) and keeps its
    // frames out of the usable memory map; nothing writes it.
    let file = unsafe { core::slice::from_raw_parts(addr as *const u8, len) };
    let (buf, n) = BAKED.call_once(|| {
        let mut buf = [0u8; MAX_BAKED];
        match protocol::cmdline::baked::parse(file) {
            Ok(line) => {
                let n = line.len().min(MAX_BAKED);
                buf[..n].copy_from_slice(&line.as_bytes()[..n]);
                (buf, n)
            }
            Err(e) => {
                println!("boot: ignoring the image's ramdisk ({len} bytes): {e}");
                (buf, 0)
            }
        }
    });
    // Checked printable ASCII by baked::parse.
    let line = core::str::from_utf8(&buf[..*n]).unwrap_or("");
    (line, if line.is_empty() { "" } else { "image" })
}

/// The bootloader's framebuffer in the kernel's terms (None for formats we
/// cannot draw).
fn framebuffer(fb: &mut bootloader_api::info::FrameBuffer) -> Option<Framebuffer> {
    use bootloader_api::info::PixelFormat as Bl;
    let i = fb.info();
    let format = match i.pixel_format {
        Bl::Rgb => PixelFormat::Rgb,
        Bl::Bgr => PixelFormat::Bgr,
        Bl::U8 => PixelFormat::Gray,
        _ => return None,
    };
    Some(Framebuffer {
        base: fb.buffer_mut().as_mut_ptr() as usize,
        byte_len: i.byte_len,
        width: i.width,
        height: i.height,
        stride: i.stride,
        // The stride in pixels loses the padding of a 24-bit VESA mode
        // whose lines are not whole pixels; the length keeps it.
        bytes_per_line: hwparse::fb::bytes_per_line(
            i.height,
            i.stride,
            i.bytes_per_pixel,
            i.byte_len,
        ),
        bytes_per_pixel: i.bytes_per_pixel,
        format,
        caching: "",
    })
}

/// Maps the framebuffer write-combining when the PAT was programmed (see
/// `super::pat` for why and how): its 4 KiB pages switch to PAT entry
/// [`pat::WC_INDEX`]. Runs on the boot CPU before the APs start, so only
/// this CPU's TLB holds the old entries. Otherwise the bootloader's
/// mapping stays (write-back in the page tables; the MTRRs usually make
/// video memory uncached).
fn write_combining(mut fb: Framebuffer) -> Framebuffer {
    fb.caching = if !pat::programmed() {
        "as the bootloader mapped it (no PAT)"
    } else {
        match paging::set_pat_index(fb.base as u64, fb.byte_len, pat::WC_INDEX) {
            Ok(_) => {
                const _: () = assert!(pat::WC_INDEX == 4, "the line below names the entry");
                "write-combining (PAT 4)"
            }
            Err(paging::PatError::NotMapped(_)) => {
                "as the bootloader mapped it (a page is not mapped)"
            }
            Err(paging::PatError::LargePage(_)) => "as the bootloader mapped it (in large pages)",
        }
    };
    fb
}

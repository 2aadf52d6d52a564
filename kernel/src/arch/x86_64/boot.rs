//! Entry from the bootloader: CPU setup, then the arch-neutral boot info.

use bootloader_api::config::{BootloaderConfig, Mapping};
use bootloader_api::info::MemoryRegionKind;

use super::{apic, fw_cfg, gdt, interrupts, percpu, serial, tsc};
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
    let mut info =
        BootInfo::new(if uefi { "UEFI" } else { "BIOS" }, phys_offset, fw_cfg::cmdline());
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
    tsc::calibrate();
    apic::init();
    crate::kernel_main(info)
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
        bytes_per_pixel: i.bytes_per_pixel,
        format,
    })
}

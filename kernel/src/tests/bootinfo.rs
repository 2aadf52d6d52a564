//! Sanity of what the boot path told the kernel.

use crate::bootinfo::{self, RegionKind};
use crate::ktest::{Suite, TestResult};
use crate::{kassert, kassert_eq};

pub static SUITE: Suite = Suite {
    name: "bootinfo",
    cases: crate::cases![
        usable_memory_present,
        regions_sorted_disjoint,
        protocol_and_cmdline,
        phys_map_reads_memory,
        memmap_set_up_on_every_cpu
    ],
};

/// The least usable RAM the kernel runs its suites in, bytes: the memmap,
/// per-CPU lists and the suites' working sets fit in 8 MiB (the BIOS image at
/// its 32 MiB minimum has about 15 MiB usable).
const MIN_USABLE: u64 = 8 << 20;

fn usable_memory_present() -> TestResult {
    let info = bootinfo::get();
    let usable = info.usable_bytes();
    // RAM the kernel can see: usable plus what the loader holds for the
    // kernel (image, page tables, boot info). Firmware regions do not count:
    // they include reserved ranges far above RAM (seen near 1 TiB).
    let ram: u64 = info
        .regions()
        .iter()
        .filter(|r| !matches!(r.kind, RegionKind::Firmware(_)))
        .map(|r| r.len())
        .sum();
    crate::kdiag!(
        "usable RAM: {} MiB of {} MiB usable + kernel/boot ({} KiB)",
        usable >> 20,
        ram >> 20,
        usable >> 10
    );
    // Derived from the machine, not from a fixed size. What the loader keeps
    // is a fixed cost, not a share: the BIOS loader alone holds 0..~27 MiB
    // (it reads the kernel file to 16 MiB), half of a 32 MiB machine (the
    // documented minimum, README). So: at least a quarter of the RAM the
    // kernel sees must be usable, and never less than the kernel's own floor
    // (MIN_USABLE). A map that lost a bank, or a boot path that mislabels
    // RAM, fails here.
    kassert!(
        usable >= (ram / 4).max(MIN_USABLE),
        "only {} KiB of {} KiB RAM usable (floor {} KiB)",
        usable >> 10,
        ram >> 10,
        MIN_USABLE >> 10
    );
    // Firmware maps need not be page-aligned (E820 often ends low RAM at
    // 0x9fc00); whole pages inside the usable ranges must still be nearly all of it.
    let whole_pages: u64 =
        info.usable().map(|r| (r.end & !0xfff).saturating_sub((r.start + 0xfff) & !0xfff)).sum();
    kassert!(
        info.usable_bytes() - whole_pages < 64 << 10,
        "{} bytes lost to alignment",
        info.usable_bytes() - whole_pages
    );
    Ok(())
}

fn regions_sorted_disjoint() -> TestResult {
    let info = bootinfo::get();
    for pair in info.regions().windows(2) {
        kassert!(pair[0].end <= pair[1].start, "overlap or disorder: {:x?}", pair);
    }
    kassert!(info.regions().iter().any(|r| r.kind == RegionKind::Bootloader));
    Ok(())
}

fn protocol_and_cmdline() -> TestResult {
    let info = bootinfo::get();
    kassert!(["BIOS", "UEFI", "DTB"].contains(&info.protocol), "protocol {}", info.protocol);
    // The suites run in the modes that start ktest (`ktest`, `unattended`) and
    // from the shell's `test` command, which a boot with no command line (or
    // an unknown mode) reaches; never in `bench` mode. Any other mode here
    // means the kernel chose its mode from a different line than it reports.
    let mode = crate::cmdline::CmdLine::parse(info.cmdline).mode;
    kassert!(
        !matches!(mode, crate::cmdline::Mode::Bench),
        "cmdline {:?} names bench mode, which never runs the suites",
        info.cmdline
    );
    Ok(())
}

/// The physical-memory window maps RAM: the kernel's own code, read through
/// it, matches the bytes of this very function.
fn phys_map_reads_memory() -> TestResult {
    let info = bootinfo::get();
    let f = phys_map_reads_memory as *const u8;
    let Some(phys) = crate::arch::virt_to_phys(f as u64) else {
        return Err(crate::ktest::Failure::Fail("kernel code not mapped?".into()));
    };
    let via_window = info.phys_to_virt(phys);
    // SAFETY: both pointers address the same 16 mapped bytes of kernel text.
    let (a, b) = unsafe {
        (
            core::ptr::read_volatile(f.cast::<[u8; 16]>()),
            core::ptr::read_volatile(via_window.cast::<[u8; 16]>()),
        )
    };
    kassert_eq!(a, b);
    Ok(())
}

/// The memmap set-up finished (`crate::mm::init_deferred`): every claimed
/// descriptor is written, every online CPU took part, the early and deferred
/// parts add up to the RAM the memmap describes, and the deferred part did
/// the bulk of a machine larger than the early part. Its figures go to the
/// log for docs/mm.md's scaling table.
fn memmap_set_up_on_every_cpu() -> TestResult {
    use crate::mm::{EARLY_BYTES, MEMMAP, memmap_init};
    let m = memmap_init();
    let present =
        MEMMAP.nr_present_subsections() * mm::memmap::PAGES_PER_SUBSECTION * mm::PAGE_SIZE;
    crate::kdiag!(
        "memmap set-up: {} MiB early ({} ms, boot CPU), {} MiB deferred on {} CPUs ({} ms); \
         table {} KiB, descriptors {} MiB, left out {} MiB",
        m.early_bytes >> 20,
        m.early_us / 1000,
        m.deferred_bytes >> 20,
        m.cpus,
        m.deferred_us / 1000,
        MEMMAP.table_bytes() >> 10,
        MEMMAP.overhead_bytes() >> 20,
        m.clamped_bytes >> 20
    );
    kassert!(MEMMAP.fully_initialised(), "descriptors left uninitialised");
    kassert_eq!(m.cpus, crate::smp::nr_online());
    kassert_eq!(m.early_bytes + m.deferred_bytes, present);
    if present > EARLY_BYTES + (2 << 20) {
        kassert!(m.deferred_bytes > 0, "nothing deferred with {} MiB of RAM", present >> 20);
    }
    Ok(())
}

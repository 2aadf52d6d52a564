//! x86 platform: uncacheable MMIO mappings (`map_mmio`, Linux `ioremap`) and
//! the local APIC in xAPIC or x2APIC mode.

use x86_64::structures::paging::PageTableFlags as F;

use crate::arch::x86_64::apic::{
    id as apic_id, mmio_base as apic_mmio_base, x2apic as apic_x2apic,
};
use crate::arch::x86_64::paging::{leaf_flags as page_flags, map_mmio, nx_flag, virt_to_phys};
use crate::ktest::{Failure, Suite, TestResult};
use crate::{kassert, kassert_eq};

pub static SUITE: Suite = Suite {
    name: "apic_mmio",
    cases: crate::cases![map_mmio_uncached, apic_registers_uncached, apic_id_matches_cpuid],
};

/// What every MMIO page must have: uncached (PCD|PWT = PAT entry 3,
/// UC), writable, not executable; and be a 4 KiB page.
fn check_uncached(virt: u64, what: &str) -> TestResult {
    let flags = page_flags(virt);
    kassert!(flags.is_some(), "{} at {:#x} is not mapped", what, virt);
    let flags = flags.unwrap_or(F::empty());
    let want = F::PRESENT | F::WRITABLE | F::NO_CACHE | F::WRITE_THROUGH | nx_flag();
    kassert!(flags.contains(want), "{} at {:#x}: flags {:?} lack {:?}", what, virt, flags, want);
    kassert!(!flags.contains(F::HUGE_PAGE), "{} at {:#x} is in a huge page", what, virt);
    Ok(())
}

fn map_mmio_uncached() -> TestResult {
    // The standard I/O APIC page: mapped here, never accessed.
    const PHYS: u64 = 0xFEC0_0000;
    let a = map_mmio(PHYS + 0x10, 0x20) as u64;
    kassert_eq!(a & 0xfff, 0x10);
    kassert_eq!(virt_to_phys(a), Some(PHYS + 0x10));
    check_uncached(a, "I/O APIC page")?;
    // Idempotent: the whole page, and a part of it, map to the same place.
    kassert_eq!(map_mmio(PHYS, 4096) as u64, a - 0x10);
    kassert_eq!(map_mmio(PHYS + 0x40, 8) as u64, a + 0x30);
    // A range across a page boundary maps both pages, contiguously.
    let b = map_mmio(PHYS + 0x1ff8, 16) as u64;
    kassert_eq!(virt_to_phys(b), Some(PHYS + 0x1ff8));
    kassert_eq!(virt_to_phys(b + 8), Some(PHYS + 0x2000));
    check_uncached(b, "first page of a 2-page range")?;
    check_uncached(b + 8, "second page of a 2-page range")?;
    crate::kdiag!("I/O APIC page at {a:#x}, 2-page range at {b:#x}");
    Ok(())
}

fn apic_registers_uncached() -> TestResult {
    if apic_x2apic() {
        kassert!(apic_mmio_base() == 0, "x2APIC mode must not use the MMIO page");
        return Err(Failure::Skip("x2APIC mode: registers are MSRs"));
    }
    let base = apic_mmio_base();
    // SAFETY: IA32_APIC_BASE exists on every x86_64 CPU; reading it has
    // no side effects.
    let msr = unsafe { x86_64::registers::model_specific::Msr::new(0x1B).read() };
    kassert_eq!(virt_to_phys(base), Some(msr & 0x000F_FFFF_FFFF_F000));
    check_uncached(base, "local APIC page")
}

fn apic_id_matches_cpuid() -> TestResult {
    use core::arch::x86_64::__cpuid;
    // CPUID leaf 0xB EDX: the full x2APIC id; leaf 1 EBX[31:24]: its low 8 bits.
    let initial = __cpuid(1).ebx >> 24;
    let leaf_b = (__cpuid(0).eax >= 0xB).then(|| core::arch::x86_64::__cpuid_count(0xB, 0));
    let full = leaf_b.filter(|r| r.ebx != 0).map(|r| r.edx);
    let id = apic_id();
    crate::kdiag!(
        "CPU {}: APIC id {id} ({} mode), CPUID initial id {initial}, x2APIC id {full:?}",
        crate::arch::cpu_index(),
        if apic_x2apic() { "x2APIC" } else { "xAPIC" }
    );
    let ids: alloc::vec::Vec<u32> = crate::smp::CPUS
        .iter()
        .filter(|c| c.online.load(core::sync::atomic::Ordering::Acquire))
        .map(|c| c.hw_id.load(core::sync::atomic::Ordering::Relaxed))
        .collect();
    crate::kdiag!("online CPUs' APIC ids: {ids:?}");
    // Leaf 0xB is the reliable one: QEMU overflows leaf 1's logical CPU
    // count (EBX[23:16]) into the id byte when a package has more than
    // 255 possible CPUs (`-smp 4,maxcpus=288`).
    match full {
        Some(full) if apic_x2apic() => kassert_eq!(id, full),
        Some(full) => kassert_eq!(id, full & 0xff),
        None => kassert_eq!(id, initial),
    }
    Ok(())
}

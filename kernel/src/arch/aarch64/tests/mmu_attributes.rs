//! aarch64's page tables (`mmu.rs`) as the MMU itself reports them (`AT
//! S1E1R` / `AT S1E1W`, then PAR_EL1): the UART and GIC pages are
//! Device-nGnRE, RAM and the image Normal write-back; the image's text and
//! rodata are read-only; the boot identity map no longer translates. The
//! aarch64 side of what `apic_mmio` checks on x86_64.

use alloc::boxed::Box;
use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{PAR_EL1, Readable};

use crate::arch::aarch64::{gic, mmu, pl011};
use crate::ktest::{Failure, Suite, TestResult};
use crate::{kassert, kassert_eq};

pub static SUITE: Suite = Suite {
    name: "mmu_attributes",
    cases: crate::cases![
        devices_are_device_ngnre,
        ram_is_normal_write_back,
        image_text_rodata_read_only,
        identity_map_is_gone,
    ],
};

/// MAIR_EL1 attribute bytes as PAR_EL1.ATTR reports them (entry.s
/// `MAIR_VALUE`): index 1, Device-nGnRE; index 2, Normal write-back.
const DEVICE_NGNRE: u8 = 0x04;
const NORMAL_WB: u8 = 0xFF;

/// What the MMU does with a kernel read (or write) of `va`: the memory
/// attribute byte of the mapping, or `None` when the access would fault.
fn translate(va: u64, write: bool) -> Option<u8> {
    // asm!: aarch64-cpu has no address-translation (AT) instructions.
    // SAFETY: AT only writes PAR_EL1, which nothing else keeps live
    // (interrupts are masked, so no handler runs between the AT and the read
    // below).
    unsafe {
        if write {
            asm!("at s1e1w, {va}", va = in(reg) va, options(nostack, preserves_flags));
        } else {
            asm!("at s1e1r, {va}", va = in(reg) va, options(nostack, preserves_flags));
        }
    }
    barrier::isb(barrier::SY);
    let par = PAR_EL1.get();
    // PAR_EL1.F (bit 0): the walk faulted; else ATTR is in bits 63:56.
    (par & 1 == 0).then_some((par >> 56) as u8)
}

fn check_device(va: u64, what: &str) -> TestResult {
    crate::kdiag!("{what} registers at {va:#x}");
    kassert_eq!(translate(va, false), Some(DEVICE_NGNRE));
    kassert_eq!(translate(va, true), Some(DEVICE_NGNRE));
    Ok(())
}

fn devices_are_device_ngnre() -> TestResult {
    let Some(uart) = pl011::base() else {
        return Err(Failure::Skip("no PL011 in the device tree"));
    };
    check_device(uart, "PL011")?;
    match gic::bases() {
        Some((gicd, gicc)) => {
            check_device(gicd, "GICv2 distributor")?;
            check_device(gicc, "GICv2 CPU interface")
        }
        None => {
            crate::kdiag!("no GICv2: only the UART checked");
            Ok(())
        }
    }
}

fn ram_is_normal_write_back() -> TestResult {
    static DATA: AtomicU64 = AtomicU64::new(0);
    DATA.fetch_add(1, Ordering::Relaxed);
    let data = &raw const DATA as u64;
    let heap = Box::new(0u64);
    let heap_va = &raw const *heap as u64;
    for va in [data, heap_va] {
        kassert_eq!(translate(va, false), Some(NORMAL_WB));
        kassert_eq!(translate(va, true), Some(NORMAL_WB));
    }
    Ok(())
}

fn image_text_rodata_read_only() -> TestResult {
    static RODATA: [u8; 8] = *b"rodata!!";
    let text = image_text_rodata_read_only as *const () as u64;
    let rodata = RODATA.as_ptr() as u64;
    let (start, end) = mmu::kernel_range();
    for va in [text, rodata] {
        kassert!((start..end).contains(&va), "{va:#x} is outside the image");
        kassert_eq!(translate(va, false), Some(NORMAL_WB));
        kassert_eq!(translate(va, true), None);
    }
    Ok(())
}

fn identity_map_is_gone() -> TestResult {
    // The image's physical address was its boot identity-mapped address
    // (TTBR0); every CPU turned TTBR0 walks off once it ran from TTBR1.
    let phys = mmu::kernel_phys();
    kassert_eq!(translate(phys, false), None);
    kassert_eq!(translate(0, false), None);
    Ok(())
}

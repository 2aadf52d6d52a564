//! Just enough of a GICv3 (QEMU `virt,gic-version=3`, servers; DTB
//! compatible `arm,gic-v3`) to wake a CPU sleeping in `wfi`: one
//! software-generated interrupt (SGI) per wake-up, as `gic.rs` does for a
//! GICv2. A GICv2 addresses 8 CPUs; a GICv3 names a CPU by its affinity,
//! so every CPU the kernel runs (512) can sleep instead of spinning in
//! `wfe` (which under QEMU TCG burns a host core per idle vCPU and starves
//! the busy ones).
//!
//! Interrupts stay masked in PSTATE, as with the GICv2: a pending SGI ends
//! `wfi`, and the sleeper acknowledges it through `ICC_IAR1_EL1`. The CPU
//! interface is the system-register one (`ICC_*_EL1`; entry.s enables it
//! for EL1 when the kernel starts at EL2); the distributor and each CPU's
//! redistributor (found by its affinity in `GICR_TYPER`) are memory-mapped.
//! Arm IHI 0069 (GICv3 architecture specification) for every register.

use core::arch::asm;
use core::sync::atomic::{AtomicU64, Ordering};

use super::mmio::{read32, read64, write32};
use crate::smp::MAX_CPUS;

const GICD_CTLR: u64 = 0x0000;
/// GICD_CTLR.RWP: a register write is still taking effect.
const GICD_CTLR_RWP: u32 = 1 << 31;
/// ARE_NS | EnableGrp1A | EnableGrp1 (Linux's `gic_dist_init` sets the same).
const GICD_CTLR_ENABLE: u32 = (1 << 4) | (1 << 1) | 1;
const GICR_TYPER: u64 = 0x0008;
const GICR_WAKER: u64 = 0x0014;
const GICR_WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
const GICR_WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
/// The SGI/PPI frame follows the RD frame.
const SGI_FRAME: u64 = 0x1_0000;
const GICR_IGROUPR0: u64 = SGI_FRAME + 0x080;
const GICR_ISENABLER0: u64 = SGI_FRAME + 0x100;
const GICR_IPRIORITYR: u64 = SGI_FRAME + 0x400;
/// GICR_TYPER.Last: the last redistributor of its region.
const TYPER_LAST: u64 = 1 << 4;
/// GICR_TYPER.VLPIS: two more 64 KiB frames per redistributor.
const TYPER_VLPIS: u64 = 1 << 1;

/// The SGI used for wake-ups.
const WAKE_SGI: u64 = 1;
/// Interrupt IDs from 1020 up mean "nothing pending" (1023: spurious).
const SPURIOUS_FROM: u64 = 1020;
/// Redistributor regions the kernel looks at (QEMU `virt` has two past 123
/// CPUs: a low one and `highmem-redists`).
pub const MAX_REDIST_REGIONS: usize = 2;

/// Virtual address of the distributor; 0 = no GICv3. Written by the boot
/// CPU before the others start.
static GICD: AtomicU64 = AtomicU64::new(0);
/// Redistributor regions (virtual start, end); end 0 = none.
static REDIST: [(AtomicU64, AtomicU64); MAX_REDIST_REGIONS] =
    [const { (AtomicU64::new(0), AtomicU64::new(0)) }; MAX_REDIST_REGIONS];
/// Each CPU's `ICC_SGI1R_EL1` target (affinity, range selector, target-list
/// bit) without the interrupt id; 0 until the CPU set up its interface.
static TARGET: [AtomicU64; MAX_CPUS] = [const { AtomicU64::new(0) }; MAX_CPUS];

/// Whether this CPU has the GICv3 system-register interface
/// (`ID_AA64PFR0_EL1.GIC`).
fn has_sysregs() -> bool {
    let pfr0: u64;
    // SAFETY: reading an ID register has no side effects.
    unsafe { asm!("mrs {}, id_aa64pfr0_el1", out(reg) pfr0, options(nomem, nostack)) };
    (pfr0 >> 24) & 0xf != 0
}

/// Boot CPU, once: enables the distributor at `gicd` and records the
/// redistributor regions (all virtual addresses).
pub fn init(gicd: u64, redist: &[(u64, u64)]) {
    if !has_sysregs() {
        return;
    }
    write32(gicd + GICD_CTLR, read32(gicd + GICD_CTLR) | GICD_CTLR_ENABLE);
    while read32(gicd + GICD_CTLR) & GICD_CTLR_RWP != 0 {
        core::hint::spin_loop();
    }
    for (slot, &(s, e)) in REDIST.iter().zip(redist) {
        slot.0.store(s, Ordering::Relaxed);
        slot.1.store(e, Ordering::Relaxed);
    }
    GICD.store(gicd, Ordering::Relaxed);
}

/// Whether the kernel drives a GICv3 (so every CPU can be woken).
pub fn present() -> bool {
    GICD.load(Ordering::Relaxed) != 0
}

/// This CPU's affinity as `GICR_TYPER` bits 63:32 hold it
/// (aff3:aff2:aff1:aff0, which is `cpu_id`'s layout).
fn my_affinity() -> u64 {
    u64::from(super::cpu::cpu_id())
}

/// The RD frame of this CPU's redistributor: the one whose `GICR_TYPER`
/// names this CPU's affinity.
fn my_redistributor() -> Option<u64> {
    let aff = my_affinity();
    for (s, e) in REDIST.iter().map(|(s, e)| (s.load(Ordering::Relaxed), e.load(Ordering::Relaxed)))
    {
        let mut rd = s;
        while rd < e {
            let typer = read64(rd + GICR_TYPER);
            if typer >> 32 == aff {
                return Some(rd);
            }
            if typer & TYPER_LAST != 0 {
                break;
            }
            rd += if typer & TYPER_VLPIS != 0 { 0x4_0000 } else { 0x2_0000 };
        }
    }
    None
}

/// Every CPU, before it goes online: wakes its redistributor, enables the
/// wake SGI there and the system-register CPU interface. A CPU whose
/// redistributor is not found, or whose interface stays off, is left
/// without SGIs and idles in `wfe` (smp.rs).
pub fn init_cpu(index: usize) {
    if !present() {
        return;
    }
    let Some(rd) = my_redistributor() else { return };
    write32(rd + GICR_WAKER, read32(rd + GICR_WAKER) & !GICR_WAKER_PROCESSOR_SLEEP);
    while read32(rd + GICR_WAKER) & GICR_WAKER_CHILDREN_ASLEEP != 0 {
        core::hint::spin_loop();
    }
    let bit = 1u32 << WAKE_SGI;
    write32(rd + GICR_IGROUPR0, read32(rd + GICR_IGROUPR0) | bit); // Group 1 (non-secure)
    let prio = rd + GICR_IPRIORITYR + (WAKE_SGI & !3);
    let shift = (WAKE_SGI % 4) * 8;
    write32(prio, (read32(prio) & !(0xff << shift)) | (0x80 << shift));
    write32(rd + GICR_ISENABLER0, bit);
    let sre: u64;
    // SAFETY: ICC_SRE_EL1 (S3_0_C12_C12_5) exists (ID_AA64PFR0_EL1.GIC,
    // checked in `init`) and EL1 may access it (entry.s, from EL2); setting
    // SRE | DFB | DIB selects the system-register interface. ICC_PMR_EL1
    // (S3_0_C4_C6_0) lets priority 0x80 through; ICC_IGRPEN1_EL1
    // (S3_0_C12_C12_7) enables Group 1. No memory is touched.
    unsafe {
        asm!(
            "mrs {t}, S3_0_C12_C12_5",
            "orr {t}, {t}, #7",
            "msr S3_0_C12_C12_5, {t}",
            "isb",
            "mrs {t}, S3_0_C12_C12_5",
            t = out(reg) sre,
            options(nomem, nostack),
        );
    }
    if sre & 1 == 0 {
        return; // the interface stayed memory-mapped: no SGIs for this CPU
    }
    // SAFETY: as above.
    unsafe {
        asm!(
            "msr S3_0_C4_C6_0, {pmr}",
            "msr S3_0_C12_C12_7, {one}",
            "isb",
            pmr = in(reg) 0xf0u64,
            one = in(reg) 1u64,
            options(nomem, nostack),
        );
    }
    // ICC_SGI1R_EL1: Aff3 at 55:48, RS (Aff0 / 16) at 47:44, Aff2 at
    // 39:32, Aff1 at 23:16, the target-list bit Aff0 % 16 in 15:0.
    let aff = my_affinity();
    let aff0 = aff & 0xff;
    let target = ((aff >> 24) << 48)
        | ((aff0 >> 4) << 44)
        | (((aff >> 16) & 0xff) << 32)
        | (((aff >> 8) & 0xff) << 16)
        | (1 << (aff0 & 0xf));
    TARGET[index].store(target, Ordering::Relaxed);
}

/// Whether `index` sleeps in `wfi` (and so needs an SGI to wake).
pub fn can_wake(index: usize) -> bool {
    TARGET[index].load(Ordering::Relaxed) != 0
}

/// Sends the wake SGI to CPU `index` (which must have run `init_cpu`).
pub fn send_wake(index: usize) {
    let v = TARGET[index].load(Ordering::Relaxed) | (WAKE_SGI << 24);
    // SAFETY: ICC_SGI1R_EL1 (S3_0_C12_C11_5) is enabled on this CPU (every
    // CPU that sends ran `init_cpu` before going online); the write only
    // raises an SGI. The caller's `dsb` orders its stores before it.
    unsafe { asm!("msr S3_0_C12_C11_5, {}", "isb", in(reg) v, options(nomem, nostack)) };
}

/// Acknowledges every pending interrupt on this CPU (only wake SGIs are
/// enabled), so the next `wfi` sleeps until the next wake-up.
pub fn ack_all() {
    for _ in 0..64 {
        let iar: u64;
        // SAFETY: ICC_IAR1_EL1 (S3_0_C12_C12_0) and ICC_EOIR1_EL1
        // (S3_0_C12_C12_1) are enabled on a CPU that can be woken; reading
        // IAR acknowledges, writing EOIR completes; no memory is touched.
        unsafe { asm!("mrs {}, S3_0_C12_C12_0", out(reg) iar, options(nomem, nostack)) };
        if iar & 0xff_ffff >= SPURIOUS_FROM {
            break;
        }
        // SAFETY: as above.
        unsafe { asm!("msr S3_0_C12_C12_1, {}", in(reg) iar, options(nomem, nostack)) };
    }
}

//! Just enough of a GICv2 (QEMU `virt`'s default interrupt controller, DTB
//! compatible `arm,cortex-a15-gic` / `arm,gic-400`) to wake a CPU sleeping
//! in `wfi`: one software-generated interrupt (SGI) per wake-up.
//!
//! Interrupts stay masked in PSTATE (DAIF.I) for good, so the SGI is never
//! taken as an exception: a pending interrupt ends `wfi` regardless of
//! PSTATE masks, and the sleeper then acknowledges it by reading GICC_IAR.
//! Without a GICv2 (GICv3 machines, boards without a GIC in the DTB) the
//! kernel falls back to `sev`/`wfe`, which is just as correct but, under QEMU
//! TCG, spins (`wfe` is only a yield there).

use core::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use super::mmio::{read32, write32};
use crate::smp::MAX_CPUS;

const GICD_CTLR: u64 = 0x000;
const GICD_ISENABLER0: u64 = 0x100;
const GICD_IPRIORITYR: u64 = 0x400;
const GICD_ITARGETSR0: u64 = 0x800;
const GICD_SGIR: u64 = 0xF00;
const GICC_CTLR: u64 = 0x00;
const GICC_PMR: u64 = 0x04;
const GICC_IAR: u64 = 0x0C;
const GICC_EOIR: u64 = 0x10;

/// CPU interfaces a GICv2 distributor can target (one `GICD_ITARGETSR` bit
/// each): with a GICv2 the kernel runs at most this many CPUs.
pub const MAX_CPUS_GICV2: usize = 8;

/// The SGI used for wake-ups.
const WAKE_SGI: u32 = 1;
/// Interrupt IDs from 1020 up mean "nothing pending" (1023: spurious).
const SPURIOUS_FROM: u32 = 1020;

/// Virtual addresses of the distributor and CPU interface; 0 = no GICv2.
/// Written by the boot CPU before the others start.
static GICD: AtomicU64 = AtomicU64::new(0);
static GICC: AtomicU64 = AtomicU64::new(0);
/// Each CPU's GIC CPU-interface bit (GICD_ITARGETSR), 0 until it set up its interface.
static TARGET: [AtomicU8; MAX_CPUS] = [const { AtomicU8::new(0) }; MAX_CPUS];

/// Boot CPU, once: enables the distributor at `gicd`/`gicc` (virtual).
pub fn init(gicd: u64, gicc: u64) {
    write32(gicd + GICD_CTLR, read32(gicd + GICD_CTLR) | 1);
    GICD.store(gicd, Ordering::Relaxed);
    GICC.store(gicc, Ordering::Relaxed);
}

/// The distributor's and the CPU interface's virtual addresses, if there is a GICv2.
pub fn bases() -> Option<(u64, u64)> {
    let (gicd, gicc) = (GICD.load(Ordering::Relaxed), GICC.load(Ordering::Relaxed));
    (gicd != 0).then_some((gicd, gicc))
}

/// Every CPU, before it goes online: enables the wake SGI on its interface.
pub fn init_cpu(index: usize) {
    let (gicd, gicc) = (GICD.load(Ordering::Relaxed), GICC.load(Ordering::Relaxed));
    if gicd == 0 {
        return;
    }
    // SGI enables and priorities are banked per CPU.
    write32(gicd + GICD_ISENABLER0, 1 << WAKE_SGI);
    let prio = gicd + GICD_IPRIORITYR + u64::from(WAKE_SGI & !3);
    let shift = (WAKE_SGI % 4) * 8;
    write32(prio, (read32(prio) & !(0xFF << shift)) | (0x80 << shift));
    write32(gicc + GICC_PMR, 0xF0);
    write32(gicc + GICC_CTLR, 1);
    // Byte 0 of ITARGETSR0 reads as the calling CPU's own interface bit.
    TARGET[index].store(read32(gicd + GICD_ITARGETSR0) as u8, Ordering::Relaxed);
}

/// Whether `index` sleeps in `wfi` (and so needs an SGI to wake).
pub fn can_wake(index: usize) -> bool {
    TARGET[index].load(Ordering::Relaxed) != 0
}

/// Sends the wake SGI to CPU `index` (which must have run `init_cpu`).
pub fn send_wake(index: usize) {
    let target = u32::from(TARGET[index].load(Ordering::Relaxed));
    write32(GICD.load(Ordering::Relaxed) + GICD_SGIR, (target << 16) | WAKE_SGI);
}

/// Acknowledges every pending interrupt on this CPU's interface (only wake
/// SGIs are enabled), so the next `wfi` sleeps until the next wake-up.
pub fn ack_all() {
    let gicc = GICC.load(Ordering::Relaxed);
    for _ in 0..64 {
        let iar = read32(gicc + GICC_IAR);
        if iar & 0x3FF >= SPURIOUS_FROM {
            break;
        }
        write32(gicc + GICC_EOIR, iar);
    }
}

//! Local APIC, in xAPIC (MMIO) or x2APIC (MSR) mode (Intel SDM vol. 3,
//! chapter 11 "Advanced Programmable Interrupt Controller"; Linux
//! arch/x86/kernel/apic/{apic.c,x2apic_phys.c}).
//!
//! The mode is chosen once, on the boot CPU, in [`init`]:
//! - x2APIC when the firmware left it on (IA32_APIC_BASE bit 10, EXTD): UEFI
//!   firmware does so on machines with APIC ids above 254, and the xAPIC
//!   MMIO page does not answer then;
//! - x2APIC when the command line says `apic=x2apic` and CPUID.1:ECX[21]
//!   reports x2APIC (the kernel switches it on itself; a test path, and a
//!   way to try x2APIC on a PC whose firmware leaves it off);
//! - xAPIC otherwise (every x86_64 CPU has it).
//!
//! Every secondary CPU follows the boot CPU's mode in its own [`init`].
//!
//! xAPIC registers are reached through an uncacheable mapping of the APIC
//! page ([`super::paging::map_mmio`]), x2APIC registers through MSRs
//! `0x800 + offset / 16`. Differences the code handles: x2APIC ids are 32
//! bits (xAPIC: 8, in ID[31:24]); the x2APIC ICR is one 64-bit MSR with the
//! destination in bits 63:32 and no delivery-status bit to poll; and a write
//! to an x2APIC MSR is not serialising, so IPIs are preceded by a fence
//! (Linux `weak_wrmsr_fence`).

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use protocol::cmdline::{key, value};
use x86_64::registers::model_specific::Msr;

use super::{paging, tsc};
use crate::bootinfo;

const IA32_APIC_BASE: u32 = 0x1B;
/// IA32_APIC_BASE bit 11: APIC globally enabled.
const APIC_BASE_ENABLE: u64 = 1 << 11;
/// IA32_APIC_BASE bit 10: x2APIC mode (needs bit 11 too).
const APIC_BASE_EXTD: u64 = 1 << 10;
/// First x2APIC MSR; register at xAPIC offset `o` is MSR `X2APIC_MSR_BASE + o / 16`.
const X2APIC_MSR_BASE: u32 = 0x800;

const REG_ID: usize = 0x20;
const REG_EOI: usize = 0xB0;
const REG_SVR: usize = 0xF0;
const REG_ICR_LOW: usize = 0x300;
const REG_ICR_HIGH: usize = 0x310;
const ICR_DELIVERY_PENDING: u32 = 1 << 12;

/// Vector of the wake-up IPI that kicks an idle CPU out of `hlt`.
pub const WAKE_VECTOR: u8 = 0xF0;
/// Spurious-interrupt vector (low 4 bits must be ones on old CPUs).
pub const SPURIOUS_VECTOR: u8 = 0xFF;

/// Virtual address of the xAPIC registers (same physical page on every CPU);
/// 0 in x2APIC mode.
static BASE: AtomicU64 = AtomicU64::new(0);
/// The mode every CPU uses, decided by the boot CPU's `init`. Written before
/// any secondary CPU starts (their start orders it: the BSP's writes happen
/// before the IPIs that start them), so Relaxed loads suffice.
static X2APIC: AtomicBool = AtomicBool::new(false);
/// Why the mode is what it is, for [`describe`].
static REASON: spin::Once<&'static str> = spin::Once::new();

/// True when the local APICs are driven through the x2APIC MSRs.
pub fn x2apic() -> bool {
    X2APIC.load(Ordering::Relaxed)
}

/// One line about the mode, e.g. `x2APIC (left on by the firmware)`.
pub fn describe() -> impl core::fmt::Display {
    struct Mode;
    impl core::fmt::Display for Mode {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            let mode = if x2apic() { "x2APIC (MSRs)" } else { "xAPIC (MMIO, uncached)" };
            write!(f, "{mode}, {}", REASON.get().copied().unwrap_or("?"))
        }
    }
    Mode
}

/// Kernel virtual address of the xAPIC register page (0 in x2APIC mode).
pub fn mmio_base() -> u64 {
    BASE.load(Ordering::Relaxed)
}

fn cpu_has_x2apic() -> bool {
    core::arch::x86_64::__cpuid(1).ecx & (1 << 21) != 0
}

fn msr_read(msr: u32) -> u64 {
    // SAFETY: only called with x2APIC register MSRs while in x2APIC mode,
    // where they exist.
    unsafe { Msr::new(msr).read() }
}

fn msr_write(msr: u32, value: u64) {
    // SAFETY: as in `msr_read`; the caller picks a writable register.
    unsafe { Msr::new(msr).write(value) }
}

fn reg(offset: usize) -> *mut u32 {
    (BASE.load(Ordering::Relaxed) as usize + offset) as *mut u32
}

fn read(offset: usize) -> u32 {
    if x2apic() {
        return msr_read(X2APIC_MSR_BASE + (offset as u32 >> 4)) as u32;
    }
    // SAFETY: `BASE` maps the APIC page uncached (set by `init`); APIC
    // registers are 32-bit at 16-byte-aligned offsets.
    unsafe { reg(offset).read_volatile() }
}

fn write(offset: usize, value: u32) {
    if x2apic() {
        return msr_write(X2APIC_MSR_BASE + (offset as u32 >> 4), u64::from(value));
    }
    // SAFETY: as in `read`.
    unsafe { reg(offset).write_volatile(value) }
}

/// Enables this CPU's local APIC in the mode the boot CPU chose (the boot
/// CPU chooses it here, see the module doc): global enable (and EXTD for
/// x2APIC) in IA32_APIC_BASE, software enable in the SVR.
pub fn init() {
    let mut msr = Msr::new(IA32_APIC_BASE);
    // SAFETY: IA32_APIC_BASE exists on every x86_64 CPU.
    let v = unsafe { msr.read() };
    let bsp = REASON.get().is_none();
    if bsp {
        let cmdline = crate::cmdline::CmdLine::parse(bootinfo::get().cmdline);
        let asked = cmdline.get(key::APIC) == Some(value::APIC_X2APIC);
        let (on, why) = if v & APIC_BASE_EXTD != 0 {
            (true, "left on by the firmware")
        } else if asked && cpu_has_x2apic() {
            (true, "switched on for apic=x2apic")
        } else if asked {
            (false, "apic=x2apic ignored: the CPU has no x2APIC")
        } else {
            (false, "as the firmware left it")
        };
        X2APIC.store(on, Ordering::Relaxed);
        REASON.call_once(|| why);
    }
    let want = if x2apic() {
        v | APIC_BASE_ENABLE | APIC_BASE_EXTD
    } else if v & APIC_BASE_EXTD != 0 {
        // This CPU is in x2APIC mode but the boot CPU is not: the only way
        // back to xAPIC is through disabled (SDM 11.12.5).
        // SAFETY: clearing both bits disables this CPU's APIC, which has no
        // interrupts configured yet.
        unsafe { msr.write(v & !(APIC_BASE_ENABLE | APIC_BASE_EXTD)) };
        (v & !APIC_BASE_EXTD) | APIC_BASE_ENABLE
    } else {
        v | APIC_BASE_ENABLE
    };
    if want != v {
        // SAFETY: enabling the APIC (and EXTD only where CPUID has x2APIC or
        // the firmware had it on) keeps the base address; xAPIC -> x2APIC
        // directly is a legal transition (SDM 11.12.5).
        unsafe { msr.write(want) };
    }
    if !x2apic() {
        let phys = v & 0x000F_FFFF_FFFF_F000;
        // Idempotent: every CPU maps the same page and gets the same address.
        BASE.store(paging::map_mmio(phys, 4096) as u64, Ordering::Relaxed);
    }
    write(REG_SVR, 0x100 | u32::from(SPURIOUS_VECTOR));
}

/// This CPU's local APIC id (32 bits in x2APIC mode, 8 in xAPIC mode).
pub fn id() -> u32 {
    if x2apic() { read(REG_ID) } else { read(REG_ID) >> 24 }
}

/// Signals end of interrupt for the interrupt being handled.
pub fn eoi() {
    write(REG_EOI, 0);
}

/// Sends the IPI `command` (ICR low word: vector, delivery mode, level) to
/// the CPU with APIC id `apic_id`.
fn send_ipi(apic_id: u32, command: u32) {
    if x2apic() {
        // WRMSR to x2APIC registers is not serialising: without the fence
        // the IPI could overtake earlier stores the target is meant to see
        // (Linux weak_wrmsr_fence()).
        // SAFETY: fences only order memory accesses.
        unsafe { core::arch::asm!("mfence", "lfence", options(nostack, preserves_flags)) };
        let icr = X2APIC_MSR_BASE + (REG_ICR_LOW as u32 >> 4);
        msr_write(icr, (u64::from(apic_id) << 32) | u64::from(command));
        return;
    }
    write(REG_ICR_HIGH, apic_id << 24);
    write(REG_ICR_LOW, command);
    let mut spins = 0;
    while read(REG_ICR_LOW) & ICR_DELIVERY_PENDING != 0 && spins < 1_000_000 {
        core::hint::spin_loop();
        spins += 1;
    }
}

/// A fixed-delivery IPI with `vector` to `apic_id`.
pub fn send_fixed(apic_id: u32, vector: u8) {
    send_ipi(apic_id, 0x4000 | u32::from(vector));
}

/// INIT, then two STARTUP IPIs pointing at the real-mode page `page`
/// (physical address = page * 4096), with the delays of the MP spec.
pub fn send_init_sipi_sipi(apic_id: u32, page: u8) {
    send_ipi(apic_id, 0x4500); // INIT, level assert
    tsc::delay_us(10_000);
    for _ in 0..2 {
        send_ipi(apic_id, 0x4600 | u32::from(page)); // STARTUP
        tsc::delay_us(200);
    }
}

/// INIT to `apic_id`: parks a CPU in wait-for-SIPI (used on one that failed to start).
pub fn send_init(apic_id: u32) {
    send_ipi(apic_id, 0x4500);
}

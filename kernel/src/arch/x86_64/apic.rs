//! Local APIC in xAPIC (MMIO) mode. QEMU 7.2's TCG has no x2APIC, and every
//! x86_64 CPU supports xAPIC, so this is the one mode we drive.
//!
//! Registers are reached through the physical-memory window. (On real
//! hardware the APIC page should be mapped uncacheable; the xAPIC intercepts
//! accesses to its page regardless of the memory type on the CPUs we target,
//! see docs/smp.md.)

use core::sync::atomic::{AtomicU64, Ordering};

use x86_64::registers::model_specific::Msr;

use super::tsc;
use crate::bootinfo;

const IA32_APIC_BASE: u32 = 0x1B;
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

/// Virtual address of the APIC registers (same physical page on every CPU).
static BASE: AtomicU64 = AtomicU64::new(0);

fn reg(offset: usize) -> *mut u32 {
    (BASE.load(Ordering::Relaxed) as usize + offset) as *mut u32
}

fn read(offset: usize) -> u32 {
    // SAFETY: `BASE` maps this CPU's APIC page (set by `init`); APIC registers
    // are 32-bit at 16-byte-aligned offsets.
    unsafe { reg(offset).read_volatile() }
}

fn write(offset: usize, value: u32) {
    // SAFETY: as in `read`.
    unsafe { reg(offset).write_volatile(value) }
}

/// Enables this CPU's APIC (global enable in the MSR, software enable in SVR).
pub fn init() {
    let mut msr = Msr::new(IA32_APIC_BASE);
    // SAFETY: IA32_APIC_BASE exists on every x86_64 CPU; setting bit 11
    // (global enable) keeps the base address unchanged.
    let base_phys = unsafe {
        let v = msr.read();
        msr.write(v | (1 << 11));
        v & 0x000F_FFFF_FFFF_F000
    };
    BASE.store(bootinfo::get().phys_offset + base_phys, Ordering::Relaxed);
    write(REG_SVR, 0x100 | u32::from(SPURIOUS_VECTOR));
}

pub fn id() -> u32 {
    read(REG_ID) >> 24
}

pub fn eoi() {
    write(REG_EOI, 0);
}

fn send_ipi(apic_id: u32, command: u32) {
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

//! x86_64: booted by `bootloader` (BIOS or UEFI) through `bootloader_api`.
//!
//! This file provides the contract's items (see `arch/mod.rs`); [`platform`]
//! holds what x86-only drivers use beyond them, and `tests/` the ktest suites
//! for the x86 pieces.

mod acpi;
mod apic;
mod boot;
mod cpu;
mod fw_cfg;
mod gdt;
mod interrupts;
mod keyboard;
mod paging;
mod pat;
pub mod pci;
mod percpu;
mod power;
mod serial;
mod smp;
mod tests;
mod tsc;

pub use cpu::{cpu_id, cpu_model};
pub use interrupts::{breakpoint, breakpoint_count, exception_tables, trigger_fault};
pub use paging::virt_to_phys;
pub use percpu::cpu_index;
pub use power::{exit, hang, poweroff, reboot};
pub use serial::{console_write, serial_loopback, serial_loopback_unsupported};
pub use smp::{idle_until, start_aps as start_secondary_cpus, wake_cpu};
pub use tests::TEST_SUITES;
pub use tsc::{rdtsc as read_cycles, ticks_per_us as cycles_per_us};

/// What x86-only drivers use beyond the contract, as
/// `crate::arch::x86_64_platform` (the xHCI driver: PCI, `map_mmio`).
pub mod platform {
    pub use super::paging::map_mmio;
    pub use super::pci;
}

pub const NAME: &str = "x86_64";
/// How atomic read-modify-writes compile here (for benchmark reports).
pub fn atomics() -> &'static str {
    "lock xadd / lock cmpxchg"
}

/// One input byte from the serial port, else from the PS/2 keyboard, else
/// from a USB keyboard.
pub fn console_read() -> Option<u8> {
    serial::console_read().or_else(keyboard::read).or_else(crate::drivers::read_input)
}

//! aarch64: booted as an arm64 Linux Image (QEMU `virt -kernel`, or any
//! firmware that boots Linux Images, e.g. U-Boot `booti`), machine described
//! by the device tree. See docs/aarch64.md.
//!
//! - `entry.s`: Image header, EL2 -> EL1, FP/SIMD, boot page tables, MMU on;
//! - `boot.rs`: first Rust code: final page tables, console, boot info;
//! - `mmu.rs`: the kernel page tables and the physical-memory window;
//! - `dtb.rs`: what we read from the device tree;
//! - `fallback_console.rs`: UARTs known without a DTB, to say why a boot
//!   with an unusable DTB stops;
//! - `vectors.s` + `exceptions.rs`: exception vectors and reports;
//! - `psci.rs`, `smp.rs`: power and secondary CPUs (PSCI CPU_ON);
//! - `spin_table.rs`: secondary CPUs parked by firmware without PSCI;
//! - `mailbox.rs`, `pm_wdt.rs`, `mini_uart.rs`: the Raspberry Pi's
//!   framebuffer (VideoCore mailbox), reset and power-off (PM watchdog),
//!   and mini UART console;
//! - `gic.rs`: GICv2 wake-up SGIs for idle CPUs;
//! - `gicv3.rs`: the same on a GICv3 (every CPU, not just 8);
//! - `atomics.rs`: LSE or LL/SC atomics, chosen at boot;
//! - `mmio.rs`: the volatile register access every driver here uses;
//! - `pl011.rs`: the UART; `cpu.rs`: ids, model, per-CPU register, timer;
//! - `power.rs`: semihosting exit, poweroff, reboot;
//! - `tests/`: the ktest suites for these pieces.
//!
//! This file provides the contract's items (see `arch/mod.rs`).

mod atomics;
mod boot;
mod cpu;
mod dtb;
mod exceptions;
mod fallback_console;
mod gic;
mod gicv3;
mod mailbox;
mod mini_uart;
mod mmio;
mod mmu;
mod pl011;
mod pm_wdt;
mod power;
mod psci;
mod smp;
mod spin_table;
mod tests;

core::arch::global_asm!(include_str!("entry.s"));
core::arch::global_asm!(include_str!("vectors.s"));

pub use cpu::{cpu_id, cpu_index, cpu_model, cycles_per_us, read_cycles};
pub use exceptions::{breakpoint, breakpoint_count, exception_tables, trigger_fault};
pub use mmu::virt_to_phys;
pub use pl011::serial_loopback_unsupported;
pub use pl011::{console_read, console_write, serial_loopback};
pub use power::{exit, hang, poweroff, reboot};
pub use smp::{idle_until, start_secondary_cpus, wake_cpu};
pub use tests::TEST_SUITES;

pub const NAME: &str = "aarch64";
/// How atomic read-modify-writes run here (for benchmark reports): LSE or
/// LL/SC, chosen at boot in the default image (atomics.rs, docs/aarch64.md).
pub fn atomics() -> &'static str {
    atomics::in_use().describe()
}

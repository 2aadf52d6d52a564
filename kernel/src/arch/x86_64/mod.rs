//! x86_64: booted by `bootloader` (BIOS or UEFI) through `bootloader_api`.

mod acpi;
mod boot;
mod cpu;
mod fw_cfg;
mod gdt;
mod interrupts;
mod paging;
mod power;
mod serial;

pub use cpu::{cpu_id, cpu_model};
pub use interrupts::{breakpoint, breakpoint_count, exception_tables, trigger_fault};
pub use paging::virt_to_phys;
pub use power::{exit, hang, poweroff, reboot};
pub use serial::{console_read, console_write, serial_loopback};

pub const NAME: &str = "x86_64";

//! Architecture support behind one narrow interface.
//!
//! Everything outside `arch/` calls only the items re-exported here; each
//! architecture module provides the same set:
//!
//! - `NAME`; console: `console_write`, `console_read`, `serial_loopback`;
//! - exit and power: `ExitStatus`, `exit`, `hang`, `reboot`, `poweroff`;
//! - CPU: `cpu_id`, `cpu_model`;
//! - exceptions: `breakpoint`, `breakpoint_count`, `exception_tables`, `trigger_fault`;
//! - memory: `virt_to_phys`.

#[cfg(target_arch = "x86_64")]
mod x86_64;
#[cfg(target_arch = "x86_64")]
pub use self::x86_64::*;
#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "aarch64")]
pub use self::aarch64::*;

/// x86_64-only platform pieces (PCI configuration ports, `map_mmio`): for
/// drivers of PC hardware (xHCI). Not part of the contract.
#[cfg(target_arch = "x86_64")]
pub use self::x86_64::platform as x86_64_platform;

/// How a test or benchmark run ends (only meaningful in a VM with an exit device).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    Success,
    Failure,
}

/// What the exception tests check about the CPU's exception setup.
pub struct ExceptionTables {
    /// The CPU's vector table is the kernel's own.
    pub vectors_ours: bool,
    /// A known-good stack is configured for faults that cannot trust the current one.
    pub fault_stack_ok: bool,
}

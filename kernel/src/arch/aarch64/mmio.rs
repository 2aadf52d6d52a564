//! Device registers through the physical window: the one volatile access
//! every driver here uses (GICv2 and GICv3, PL011, mini UART, mailbox, PM
//! watchdog, and the fallback console's identification reads).
//!
//! Safe functions over raw addresses, visible only inside `arch::aarch64`.
//! The contract every caller keeps: the address lies in a register block
//! that boot.rs (or `mmu::map_late`) mapped as Device memory, found in the
//! DTB's `reg` (or the fallback list) and kept in the driver's own state,
//! and the access is one its device defines for that register.

/// Reads the 32-bit device register at `addr` (virtual).
pub(super) fn read32(addr: u64) -> u32 {
    // SAFETY: `addr` is a mapped device register (the module's contract);
    // a volatile read is the access the device defines.
    unsafe { core::ptr::read_volatile(addr as *const u32) }
}

/// Writes the 32-bit device register at `addr` (virtual).
pub(super) fn write32(addr: u64, v: u32) {
    // SAFETY: as in `read32`.
    unsafe { core::ptr::write_volatile(addr as *mut u32, v) }
}

/// Reads the 64-bit device register at `addr` (virtual).
pub(super) fn read64(addr: u64) -> u64 {
    // SAFETY: as in `read32`, for a 64-bit register.
    unsafe { core::ptr::read_volatile(addr as *const u64) }
}

//! Starting secondary CPUs by spin table (`enable-method = "spin-table"`,
//! Linux `Documentation/arch/arm64/booting.rst`): boards whose firmware has
//! no PSCI, like the Raspberry Pi without TF-A. The firmware parks each
//! such CPU in a loop: `wfe`, then read the 64-bit `cpu-release-addr`
//! given in its DTB node; once that is non-zero, jump there with the MMU
//! off and x0-x3 = 0 (QEMU raspi4b: stub at 0x300, release addresses
//! 0xd8/0xe0/0xe8/0xf0, CPUs entered at EL2).
//!
//! A spin-table CPU gets no argument, but `aarch64_secondary_entry`
//! (entry.s) wants its `ApBoot` record's physical address in x0. So CPUs
//! are released to `aarch64_spin_table_entry` below, which looks up its own
//! MPIDR in [`SLOTS`] (written and cleaned to memory by the boot CPU before
//! the release) and goes on to `aarch64_secondary_entry` with that record.
//! A CPU that finds no slot for itself parks in `wfe`.

use core::sync::atomic::{AtomicU64, Ordering};

use super::mmu;
use crate::smp::MAX_CPUS;

/// MPIDR affinity bits (Aff3, Aff2, Aff1, Aff0): what the stub compares.
const MPIDR_AFFINITY: u64 = 0xff_00ff_ffff;

/// `[mpidr affinity, ApBoot physical address]` per CPU started this way;
/// a record address of 0 marks an unused slot. Read by the stub with the
/// MMU and caches off, so every write is cleaned to memory at once.
#[unsafe(no_mangle)]
static SPIN_TABLE_SLOTS: [[AtomicU64; 2]; MAX_CPUS] =
    [const { [AtomicU64::new(0), AtomicU64::new(0)] }; MAX_CPUS];

core::arch::global_asm!(
    ".section .text, \"ax\"",
    ".global aarch64_spin_table_entry",
    // MMU off, any EL the firmware chose (entry.s's el1_setup deals with
    // EL2), running at a physical address: PC-relative addressing only.
    "aarch64_spin_table_entry:",
    "    msr     daifset, #0xf",
    "    mrs     x1, mpidr_el1",
    "    ldr     x2, ={affinity}",
    "    and     x1, x1, x2",
    "    adrp    x2, SPIN_TABLE_SLOTS",
    "    add     x2, x2, :lo12:SPIN_TABLE_SLOTS",
    "    ldr     x3, ={slots}",
    "1:  ldp     x4, x5, [x2], #16",
    "    cbz     x5, 2f",
    "    cmp     x4, x1",
    "    b.ne    2f",
    "    mov     x0, x5",
    "    b       aarch64_secondary_entry",
    "2:  subs    x3, x3, #1",
    "    b.ne    1b",
    "3:  wfe",
    "    b       3b",
    ".ltorg",
    affinity = const MPIDR_AFFINITY,
    slots = const MAX_CPUS,
);

unsafe extern "C" {
    fn aarch64_spin_table_entry();
}

/// Releases the CPU `mpidr` parked at `release_addr` (physical) into
/// `aarch64_secondary_entry` with `record` (its `ApBoot`, physical) in x0.
/// `slot` is the CPU's index (one slot each). Boot CPU only.
///
/// # Errors
/// The release address is not in the kernel's physical window (not RAM
/// the DTB describes) or not 8-byte aligned.
pub fn release(
    slot: usize,
    mpidr: u64,
    release_addr: u64,
    record: u64,
) -> Result<(), &'static str> {
    if !release_addr.is_multiple_of(8) {
        return Err("has a cpu-release-addr that is not 8-byte aligned");
    }
    let va = mmu::PHYS_OFFSET + release_addr;
    if mmu::virt_to_phys(va).is_none() {
        return Err("has a cpu-release-addr outside the RAM the kernel maps");
    }
    let entry = &SPIN_TABLE_SLOTS[slot];
    // Relaxed: the slot reaches the parked CPU through the cache clean
    // below (it reads with its caches off), not through atomics.
    entry[0].store(mpidr & MPIDR_AFFINITY, Ordering::Relaxed);
    entry[1].store(record, Ordering::Relaxed);
    mmu::clean_dcache_range(entry.as_ptr() as u64, 16);
    let target = mmu::image_virt_to_phys(aarch64_spin_table_entry as *const () as u64);
    // SAFETY: `va` is the release address in the window (checked mapped
    // above), 8-byte aligned; the firmware reserved it for exactly this write
    // (the Pi's /memreserve/ page).
    unsafe { core::ptr::write_volatile(va as *mut u64, target) };
    // The parked CPU reads memory with its caches off: write the line out,
    // (the clean's own `dsb sy` orders it before the `sev`) then wake it.
    mmu::clean_dcache_range(va, 8);
    aarch64_cpu::asm::sev();
    Ok(())
}

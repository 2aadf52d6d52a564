//! The flattened device tree (DTB) the loader passed in x0: where it lies
//! and how the kernel reaches it.
//!
//! Everything the kernel reads from the blob, and the checks that make
//! reading it safe, are the host-tested, fuzzed `hwparse::dtb`
//! (`kernel/hwparse/src/dtb/mod.rs`: the rules, what is checked and why),
//! re-exported here. This module only turns an address into a slice: it
//! reads the header first (the first 2 MiB of the blob are always mapped,
//! entry.s), and only a header that parses, with a `totalsize` of at most
//! `hwparse::dtb::MAX_TOTAL_SIZE`, makes a slice of `totalsize` bytes, all
//! of which entry.s mapped. Every [`Fdt`] comes from `hwparse::dtb::parse`,
//! so none is built over a blob that was not checked.

use core::sync::atomic::{AtomicU64, Ordering};

use hwparse::dtb::{self as hw, BlobError, Fdt, HEADER_LEN, Header};
pub use hwparse::dtb::{
    EarlyFacts, MAX_DTB_RANGES, PsciMethod, Ranges, UartKind, board_devices, bootargs, cpus,
    early_facts, is_qemu_virt, psci, usable,
};

/// Physical address of the DTB (set once by the boot CPU).
static DTB_PHYS: AtomicU64 = AtomicU64::new(0);

pub fn set_phys(phys: u64) {
    DTB_PHYS.store(phys, Ordering::Relaxed);
}

pub fn phys() -> u64 {
    DTB_PHYS.load(Ordering::Relaxed)
}

/// The blob's length from the header at `va` ([`Header::parse`]).
///
/// # Safety
/// `va` must be mapped and readable for [`HEADER_LEN`] bytes.
unsafe fn blob_len(va: u64) -> Result<usize, BlobError> {
    // SAFETY: the caller's contract.
    let header = unsafe { core::slice::from_raw_parts(va as *const u8, HEADER_LEN) };
    Ok(Header::parse(header)?.total_size as usize)
}

/// Removes the `FDT_NOP` tokens of the DTB at `va` in place
/// ([`hwparse::dtb::compact_nops`]); returns how many there were.
///
/// # Errors
/// A header or structure block that does not parse.
///
/// # Safety
/// `va` must map a DTB: its first 2 MiB and, when its header parses, all
/// `totalsize` bytes, writable, accessed by nothing else meanwhile.
pub unsafe fn compact_nops(va: u64) -> Result<usize, BlobError> {
    // SAFETY: the first 2 MiB are mapped (this function's contract).
    let len = unsafe { blob_len(va) }?;
    // SAFETY: a header that parses: all `totalsize` bytes are mapped,
    // writable and ours (this function's contract).
    let blob = unsafe { core::slice::from_raw_parts_mut(va as *mut u8, len) };
    hw::compact_nops(blob)
}

/// The checked DTB at `va` ([`hwparse::dtb::parse`]).
///
/// # Errors
/// A blob that the checks refuse.
///
/// # Safety
/// As [`compact_nops`] (read-only suffices), and the blob must stay intact
/// for the kernel's life.
pub unsafe fn parse_at(va: u64) -> Result<Fdt<'static>, BlobError> {
    // SAFETY: as in compact_nops.
    let len = unsafe { blob_len(va) }?;
    // SAFETY: as in compact_nops; never written again.
    let blob = unsafe { core::slice::from_raw_parts(va as *const u8, len) };
    hw::parse(blob)
}

/// The DTB through the physical-memory window (valid once the final page
/// tables are live; the DTB's pages are never handed to the allocator).
///
/// # Panics
/// If the blob no longer parses (it did at boot, and nothing writes it
/// afterwards), naming the physical address.
pub fn get() -> Fdt<'static> {
    let va = super::mmu::PHYS_OFFSET + phys();
    // SAFETY: the DTB lies in RAM mapped by the window and stays intact for
    // the kernel's life (its range is reported as a boot region).
    match unsafe { parse_at(va) } {
        Ok(fdt) => fdt,
        Err(e) => panic!("DTB at {:#x} no longer parses ({e})", phys()),
    }
}

//! The Page Attribute Table (IA32_PAT): one entry made write-combining, for
//! the framebuffer.
//!
//! Why: the framebuffer console writes every pixel of every scrolled row.
//! Video memory is uncached on real PCs (the MTRRs, or the firmware's
//! mapping), so each pixel write is a separate bus transaction; write-
//! combining lets the CPU merge them into whole-line bursts, which is many
//! times faster. The console never reads video memory (see `crate::fbcon`),
//! so WC's weak ordering and uncached reads cost nothing.
//!
//! The layout: entries 0-3 keep their power-on types (WB, WT, UC-, UC), so
//! every mapping made without the PAT bit (all of the bootloader's, and
//! [`super::paging::map_mmio`]'s PCD|PWT = entry 3, UC) means what it meant
//! before; entry [`WC_INDEX`] = 4 (PAT bit set, PCD and PWT clear) becomes
//! WC; 5-7 keep WT, UC-, UC. (Linux puts WC in entry 1, which changes what
//! PWT alone selects; here no mapping made before changes type.) Entry 4 is reached with the PAT bit of a 4 KiB PTE (bit 7) or of
//! a 2 MiB / 1 GiB leaf (bit 12). Nothing maps with the PAT bit set before
//! this is programmed (the bootloader never sets it), so no cached data or
//! TLB entry carries entry 4's old type (WB).
//!
//! Every CPU gets the same value (the SDM requires one PAT on all of them):
//! the boot CPU in the arch entry, before the framebuffer's pages are
//! switched to entry 4 (`super::paging::set_pat_index`); each AP as its
//! first step in `super::smp::ap_entry`, before it prints (and so before it
//! can write the framebuffer). A CPU never sees the WC mapping with an
//! unprogrammed PAT except through speculation, and the write itself
//! follows the SDM's procedure for changing the PAT (vol. 3A 11.12.4, which
//! refers to the MTRR procedure of 11.11.8): caches in no-fill mode,
//! WBINVD and a full TLB flush before and after the write, so nothing
//! cached or translated under the old type survives. No rendezvous of all
//! CPUs is needed because no CPU changes its PAT while another uses the new
//! entry: the APs program theirs before they touch it. Without PAT (CPUID
//! 1 EDX bit 16 clear: every x86_64 CPU has it, but a hypervisor may hide
//! it) nothing is written and the framebuffer stays as the bootloader
//! mapped it.
//!
//! The bootloader's physical-memory window may map the same video memory
//! write-back. The kernel never uses that alias, and the MTRRs give video
//! memory UC or WC, which PAT WB does not override (SDM table "Effective
//! Page-Level Memory Types"), so the alias cannot cache or prefetch it.

use core::arch::x86_64::__cpuid;
use core::sync::atomic::{AtomicBool, Ordering};

use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
use x86_64::registers::model_specific::Msr;

/// IA32_PAT's MSR number.
const IA32_PAT: u32 = 0x277;
/// IA32_PAT at power-on and after reset: WB, WT, UC-, UC in entries 0-3 and
/// again in 4-7 (one byte per entry, entry 0 lowest).
pub const POWER_ON: u64 = 0x0007_0406_0007_0406;
/// Memory type encoding of write-combining in a PAT entry.
pub const WC: u8 = 0x01;
/// The PAT entry the kernel makes write-combining.
pub const WC_INDEX: usize = 4;
/// What every CPU's IA32_PAT holds once programmed: the power-on table with
/// entry [`WC_INDEX`] WC.
pub const VALUE: u64 = (POWER_ON & !(0xff << (8 * WC_INDEX))) | ((WC as u64) << (8 * WC_INDEX));

/// The boot CPU programmed the PAT; the APs then do too.
static PROGRAMMED: AtomicBool = AtomicBool::new(false);

/// Whether this CPU has the PAT (CPUID 1 EDX bit 16).
pub fn supported() -> bool {
    __cpuid(1).edx & (1 << 16) != 0
}

/// Whether the boot CPU programmed [`VALUE`] (and so every AP does).
pub fn programmed() -> bool {
    // Acquire pairs with init_bsp's Release: whoever sees true also sees
    // the boot CPU's page-table edits made after it.
    PROGRAMMED.load(Ordering::Acquire)
}

/// This CPU's IA32_PAT, or `None` without PAT.
pub fn read() -> Option<u64> {
    // SAFETY: reading IA32_PAT has no side effect; CPUID says it exists.
    supported().then(|| unsafe { Msr::new(IA32_PAT).read() })
}

/// Programs the boot CPU's PAT; returns whether it did (false without PAT).
/// Called once, in the arch entry, before any mapping uses [`WC_INDEX`].
pub fn init_bsp() -> bool {
    if !supported() {
        return false;
    }
    program();
    // Release: see programmed().
    PROGRAMMED.store(true, Ordering::Release);
    true
}

/// Programs an AP's PAT like the boot CPU's: its first step, before it can
/// touch a mapping that uses [`WC_INDEX`].
pub fn init_ap() {
    if programmed() {
        program();
    }
}

/// Writes [`VALUE`] to this CPU's IA32_PAT by the SDM's procedure (see the
/// module doc), with interrupts off so nothing runs in no-fill mode.
fn program() {
    x86_64::instructions::interrupts::without_interrupts(|| {
        let cr0 = Cr0::read();
        let cr4 = Cr4::read();
        // SAFETY: caching off (CD=1, NW=0: no-fill mode) only slows this
        // CPU until it is restored below; no memory is lost, WBINVD writes
        // back everything cached first.
        unsafe {
            Cr0::write((cr0 | Cr0Flags::CACHE_DISABLE) - Cr0Flags::NOT_WRITE_THROUGH);
            wbinvd();
        }
        flush_tlb(cr4);
        // SAFETY: IA32_PAT exists (checked by the callers) and VALUE holds
        // valid types only (WB, WT, UC-, UC, WC); entries 0-3, which every
        // existing mapping uses, keep their meaning.
        unsafe {
            Msr::new(IA32_PAT).write(VALUE);
            wbinvd();
        }
        flush_tlb(cr4);
        // SAFETY: restores the CR0 this CPU ran with (caches on).
        unsafe { Cr0::write(cr0) };
    });
}

/// Flushes this CPU's whole TLB, global entries included: clearing CR4.PGE
/// does that where global pages are on, else reloading CR3 does.
fn flush_tlb(cr4: Cr4Flags) {
    if cr4.contains(Cr4Flags::PAGE_GLOBAL) {
        // SAFETY: toggling PGE only drops TLB entries; the page tables stay.
        unsafe {
            Cr4::write(cr4 - Cr4Flags::PAGE_GLOBAL);
            Cr4::write(cr4);
        }
    } else {
        x86_64::instructions::tlb::flush_all();
    }
}

/// WBINVD: writes back and invalidates every cache of this CPU. The
/// `x86_64` crate (0.15) has no wrapper for it.
///
/// # Safety
/// Ring 0 only (the kernel always is); slow, so not for hot paths.
unsafe fn wbinvd() {
    // SAFETY: a privileged instruction with no operands; it changes no
    // register or memory contents, only moves data out of the caches.
    unsafe { core::arch::asm!("wbinvd", options(nostack, preserves_flags)) };
}

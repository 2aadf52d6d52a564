//! The atomics chosen at boot (`atomics.rs`): they match the CPU's
//! ID_AA64ISAR0_EL1, and the outline helpers give the right results on
//! each path this CPU can run (LL/SC always, LSE when the CPU has it).

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch::aarch64::atomics::{self, Atomics};
use crate::arch::aarch64::cpu;
use crate::ktest::{Suite, TestResult};
use crate::{kassert, kassert_eq, kdiag, kskip};

pub static SUITE: Suite = Suite {
    name: "atomics",
    cases: crate::cases![selection_matches_the_cpu, helpers_llsc_path, helpers_lse_path],
};

// compiler-rt's outline helpers (lse.S): `cas` returns the old value and
// stores `desired` if it equalled `expected`; `swp` stores and returns the
// old value; `ldadd` adds and returns the old value.
unsafe extern "C" {
    fn __aarch64_cas4_acq_rel(expected: u32, desired: u32, ptr: *mut u32) -> u32;
    fn __aarch64_cas8_acq_rel(expected: u64, desired: u64, ptr: *mut u64) -> u64;
    fn __aarch64_swp4_acq_rel(val: u32, ptr: *mut u32) -> u32;
    fn __aarch64_swp8_acq_rel(val: u64, ptr: *mut u64) -> u64;
    fn __aarch64_ldadd4_acq_rel(val: u32, ptr: *mut u32) -> u32;
    fn __aarch64_ldadd8_acq_rel(val: u64, ptr: *mut u64) -> u64;
    fn __aarch64_ldadd1_relax(val: u8, ptr: *mut u8) -> u8;
}

fn selection_matches_the_cpu() -> TestResult {
    let lse = cpu::has_lse();
    let chosen = atomics::in_use();
    kdiag!("ID_AA64ISAR0_EL1.Atomic says LSE: {lse}; in use: {}", chosen.describe());
    match chosen {
        Atomics::OutlineLse | Atomics::OutlineLlsc => {
            kassert_eq!(chosen.uses_lse(), lse);
            kassert_eq!(atomics::helpers_use_lse(), lse);
        }
        // Booting at all proves the CPU has LSE; say it anyway.
        Atomics::InlineLse => {
            kassert!(lse);
        }
        // The LL/SC comparison build never uses LSE, by design.
        Atomics::InlineLlsc => {
            kassert!(!chosen.uses_lse());
        }
    }
    Ok(())
}

/// Puts the helpers' flag back to the boot's choice, also when a check
/// returns early.
struct Restore(bool);

impl Drop for Restore {
    fn drop(&mut self) {
        // SAFETY: the value `select` chose at boot.
        unsafe { atomics::set_helpers_lse(self.0) };
    }
}

/// Runs every helper on words of this stack frame with the helpers pointed
/// at LSE (`lse`) or LL/SC, then restores the boot's choice. Other CPUs
/// may call helpers meanwhile: they only take the other (equally atomic)
/// path.
fn helpers_on(lse: bool) -> TestResult {
    let _restore = Restore(atomics::helpers_use_lse());
    // SAFETY: `lse` is true only when this CPU has LSE (callers), and the
    // boot refuses secondaries unlike the boot CPU when LSE was chosen.
    unsafe { atomics::set_helpers_lse(lse) };
    kassert_eq!(atomics::helpers_use_lse(), lse);

    let w = UnsafeCell::new(0xFFFF_FFFFu64);
    let h = UnsafeCell::new(0x8000_0000u32);
    let b = UnsafeCell::new(0xFFu8);
    // SAFETY: the cells live until the end of this function and only the
    // helpers (atomic accesses) touch them.
    unsafe {
        // ldadd: old value back, carry across the 32-bit boundary kept.
        kassert_eq!(__aarch64_ldadd8_acq_rel(1, w.get()), 0xFFFF_FFFF);
        kassert_eq!(*w.get(), 0x1_0000_0000);
        kassert_eq!(__aarch64_ldadd4_acq_rel(0x8000_0001, h.get()), 0x8000_0000);
        kassert_eq!(*h.get(), 1); // wraps in 32 bits, not 64
        kassert_eq!(__aarch64_ldadd1_relax(2, b.get()), 0xFF);
        kassert_eq!(*b.get(), 1);
        // cas: success stores, failure leaves the word and returns it.
        kassert_eq!(__aarch64_cas8_acq_rel(0x1_0000_0000, 42, w.get()), 0x1_0000_0000);
        kassert_eq!(*w.get(), 42);
        kassert_eq!(__aarch64_cas8_acq_rel(41, 7, w.get()), 42);
        kassert_eq!(*w.get(), 42);
        kassert_eq!(__aarch64_cas4_acq_rel(1, 0xDEAD_BEEF, h.get()), 1);
        kassert_eq!(*h.get(), 0xDEAD_BEEF);
        kassert_eq!(__aarch64_cas4_acq_rel(1, 2, h.get()), 0xDEAD_BEEF);
        kassert_eq!(*h.get(), 0xDEAD_BEEF);
        // swp: old value back, new one stored.
        kassert_eq!(__aarch64_swp8_acq_rel(u64::MAX, w.get()), 42);
        kassert_eq!(*w.get(), u64::MAX);
        kassert_eq!(__aarch64_swp4_acq_rel(3, h.get()), 0xDEAD_BEEF);
        kassert_eq!(*h.get(), 3);
    }
    // And through `core` (what the kernel's code compiles to).
    // Orderings: a local word, no partner; any would do.
    let a = AtomicU64::new(10);
    kassert_eq!(a.fetch_add(5, Ordering::AcqRel), 10);
    kassert_eq!(a.swap(1, Ordering::AcqRel), 15);
    kassert_eq!(a.compare_exchange(1, 2, Ordering::AcqRel, Ordering::Acquire), Ok(1));
    kassert_eq!(a.compare_exchange(1, 3, Ordering::AcqRel, Ordering::Acquire), Err(2));
    kassert_eq!(a.load(Ordering::Relaxed), 2);
    Ok(())
}

fn helpers_llsc_path() -> TestResult {
    helpers_on(false)
}

fn helpers_lse_path() -> TestResult {
    if !cpu::has_lse() {
        kskip!("this CPU has no LSE (ID_AA64ISAR0_EL1.Atomic < 2)");
    }
    helpers_on(true)
}

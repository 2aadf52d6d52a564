//! Per-CPU register: GS base points at the CPU's `smp::Cpu` slot, whose first
//! field is the CPU index, so `cpu_index()` is a single `mov rax, gs:[0]`.

use x86_64::VirtAddr;
use x86_64::registers::model_specific::GsBase;

use crate::smp::{CPUS, Cpu};

/// Points GS at `CPUS[index]`. Called first thing on every CPU.
pub fn init(index: usize) {
    GsBase::write(VirtAddr::from_ptr(&CPUS[index] as *const Cpu));
}

/// This CPU's dense index.
#[inline]
pub fn cpu_index() -> usize {
    let index: usize;
    // SAFETY: GS base points at this CPU's `Cpu`, whose first field (offset 0,
    // `#[repr(C)]`) is `index: usize`, written before the CPU started.
    unsafe {
        core::arch::asm!("mov {}, gs:[0]", out(reg) index, options(nostack, readonly, preserves_flags));
    }
    index
}

//! Per-CPU state and cross-CPU primitives, architecture-neutral.
//!
//! Each CPU has a [`Cpu`] slot in the static [`CPUS`] table; the architecture
//! points its per-CPU register (GS base on x86_64, TPIDR_EL1 on aarch64) at
//! the slot, so [`this_cpu`] is one load. CPU indexes are dense (0 = boot CPU)
//! and are what the rest of the kernel (and the mm per-CPU page lists) use;
//! the hardware id (APIC id, MPIDR) is only for talking to the interrupt
//! controller.

mod barrier;
mod call;

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};

pub use barrier::Barrier;
pub use call::{on_cpus, on_each_cpu, secondary_idle_loop};

/// Upper bound on CPUs; more are reported and left offline.
pub const MAX_CPUS: usize = 64;

/// Counters shown by the `cpus` shell command.
#[derive(Default)]
pub struct CpuStats {
    pub pages_allocated: AtomicU64,
    pub pages_freed: AtomicU64,
    pub calls_run: AtomicU64,
}

/// One CPU's slot. `#[repr(C)]` with `index` first: the arch reads it
/// through the per-CPU register at offset 0.
#[repr(C)]
pub struct Cpu {
    /// Dense CPU index (0 = boot CPU). Written once before the CPU starts.
    pub index: usize,
    /// Hardware id (APIC id on x86_64, MPIDR affinity on aarch64).
    pub hw_id: AtomicU32,
    /// Set by the CPU itself once it runs kernel code with its own state.
    pub online: AtomicBool,
    pub stats: CpuStats,
    /// Work posted by [`on_cpus`]; see `call.rs`.
    call: call::CallSlot,
}

impl Cpu {
    const fn new(index: usize) -> Self {
        Self {
            index,
            hw_id: AtomicU32::new(u32::MAX),
            online: AtomicBool::new(false),
            stats: CpuStats {
                pages_allocated: AtomicU64::new(0),
                pages_freed: AtomicU64::new(0),
                calls_run: AtomicU64::new(0),
            },
            call: call::CallSlot::new(),
        }
    }
}

/// Every CPU's slot, indexed by CPU index.
pub static CPUS: [Cpu; MAX_CPUS] = {
    let mut cpus = [const { Cpu::new(0) }; MAX_CPUS];
    let mut i = 0;
    while i < MAX_CPUS {
        cpus[i] = Cpu::new(i);
        i += 1;
    }
    cpus
};

/// CPUs the firmware describes (MADT / DTB), set by the arch at boot.
static NR_POSSIBLE: AtomicUsize = AtomicUsize::new(1);

/// The current CPU's slot.
pub fn this_cpu() -> &'static Cpu {
    &CPUS[crate::arch::cpu_index()]
}

/// Marks `cpu` online. Release: the CPU's per-CPU setup (tables, stacks) is
/// complete before anyone who sees `online` sends it work.
pub fn set_online(cpu: usize) {
    CPUS[cpu].online.store(true, Ordering::Release);
}

pub fn set_possible(n: usize) {
    NR_POSSIBLE.store(n.min(MAX_CPUS), Ordering::Relaxed);
}

/// CPUs the firmware described.
pub fn nr_possible() -> usize {
    NR_POSSIBLE.load(Ordering::Relaxed)
}

/// The online CPUs' slots, boot CPU first.
pub fn online_cpus() -> impl Iterator<Item = &'static Cpu> {
    CPUS.iter().filter(|c| c.online.load(Ordering::Acquire))
}

pub fn nr_online() -> usize {
    online_cpus().count()
}

/// Prints the `cpus` table.
pub fn print_cpus() {
    println!(
        "{:>4} {:>6} {:>7} {:>14} {:>14} {:>8}",
        "cpu", "hw id", "online", "pages alloc", "pages freed", "calls"
    );
    for (i, c) in CPUS.iter().enumerate().take(nr_possible()) {
        let hw = c.hw_id.load(Ordering::Relaxed);
        println!(
            "{:>4} {:>6} {:>7} {:>14} {:>14} {:>8}",
            i,
            hw,
            if c.online.load(Ordering::Acquire) { "yes" } else { "NO" },
            c.stats.pages_allocated.load(Ordering::Relaxed),
            c.stats.pages_freed.load(Ordering::Relaxed),
            c.stats.calls_run.load(Ordering::Relaxed),
        );
    }
    println!("{} of {} CPUs online", nr_online(), nr_possible());
    println!("cycle counter: {} MHz", crate::arch::cycles_per_us());
}

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

/// Upper bound on CPUs; more are reported and left offline (the boot
/// message and the `cpus` command say how many). The mm crate's per-CPU page
/// lists cover the same indexes (`mm::NR_CPUS`, asserted below); the zone
/// uses only the possible CPUs' lists (`set_possible`).
pub const MAX_CPUS: usize = 512;

const _: () = assert!(MAX_CPUS <= mm::NR_CPUS, "a CPU index without a per-CPU page list");

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

/// CPUs the kernel tries to run (at most [`MAX_CPUS`]), set by the arch at boot.
static NR_POSSIBLE: AtomicUsize = AtomicUsize::new(1);
/// CPUs the firmware describes that the kernel could start if it had room
/// for them (more than [`MAX_CPUS`]), set by the arch at boot.
static NR_DESCRIBED: AtomicUsize = AtomicUsize::new(1);
/// How many CPUs this kernel can run on this platform (`1..=MAX_CPUS`).
static NR_LIMIT: AtomicUsize = AtomicUsize::new(MAX_CPUS);

/// The current CPU's slot.
pub fn this_cpu() -> &'static Cpu {
    &CPUS[crate::arch::cpu_index()]
}

/// Marks `cpu` online. Release: the CPU's per-CPU setup (tables, stacks) is
/// complete before anyone who sees `online` sends it work.
pub fn set_online(cpu: usize) {
    CPUS[cpu].online.store(true, Ordering::Release);
}

/// Records that the firmware describes `n` CPUs the kernel could start (the
/// boot CPU included) and that the platform can run at most `limit` of them
/// (the arch's own bound, e.g. a GICv2's 8 CPU interfaces; [`MAX_CPUS`] where
/// there is none). The kernel runs `min(n, limit, MAX_CPUS)` (at least 1),
/// and the page allocator's per-CPU lists are limited to those indexes. Boot
/// CPU only, after `mm::init` and before any other CPU starts (the zone's
/// `set_nr_cpus` contract).
pub fn set_possible(n: usize, limit: usize) {
    let limit = limit.clamp(1, MAX_CPUS);
    let possible = n.clamp(1, limit);
    // Relaxed: read by the boot CPU itself and, later, by CPUs it starts
    // after this (starting them orders it).
    NR_DESCRIBED.store(n.max(1), Ordering::Relaxed);
    NR_LIMIT.store(limit, Ordering::Relaxed);
    NR_POSSIBLE.store(possible, Ordering::Relaxed);
    crate::mm::zone().set_nr_cpus(possible);
}

/// CPUs the kernel tries to run: the boot CPU and the ones it starts
/// (`1..=MAX_CPUS`).
pub fn nr_possible() -> usize {
    NR_POSSIBLE.load(Ordering::Relaxed)
}

/// CPUs the firmware describes that could be started, including any beyond
/// the limit (so `>= nr_possible()`).
pub fn nr_described() -> usize {
    NR_DESCRIBED.load(Ordering::Relaxed)
}

/// The line saying that CPUs beyond the limit are left offline, if any are.
pub fn beyond_limit_note() -> Option<alloc::string::String> {
    let (described, possible) = (nr_described(), nr_possible());
    let limit = NR_LIMIT.load(Ordering::Relaxed);
    (described > possible).then(|| {
        alloc::format!(
            "smp: the firmware describes {described} CPUs, this kernel runs at most {limit} \
             here: {} left offline",
            described - possible
        )
    })
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
    if let Some(note) = beyond_limit_note() {
        println!("{note}");
    }
    println!("cycle counter: {} MHz", crate::arch::cycles_per_us());
}

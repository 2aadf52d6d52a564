//! Secondary CPUs: found in the DTB's `/cpus` (`reg` = MPIDR affinity),
//! started one at a time with PSCI `CPU_ON`, or released from the
//! firmware's spin table (`enable-method = "spin-table"`, spin_table.rs).
//!
//! For each CPU the boot CPU maps a kernel stack and an exception stack
//! (with guard pages, mmu.rs), fills the CPU's [`ApBoot`] record, cleans it
//! to memory (the new CPU reads it with its caches off) and calls CPU_ON
//! with `aarch64_secondary_entry` (entry.s) and the record's physical
//! address. The CPU turns its MMU on with the boot identity map and the
//! final kernel tables, and arrives in [`aarch64_secondary_main`]. A CPU
//! that does not check in within [`CPU_TIMEOUT_US`] is reported and
//! abandoned: if it shows up later it sees that and switches itself off
//! (PSCI CPU_OFF), so a late CPU never runs with a reused record.
//!
//! Idle CPUs sleep in `wfi` and are woken by a GICv2 SGI (gic.rs) or a
//! GICv3 SGI (gicv3.rs), or, with neither, in `wfe` woken by `sev`.

use core::alloc::Layout;

use aarch64_cpu::asm::barrier;
use core::sync::atomic::{AtomicU64, Ordering};

use super::{cpu, dtb, gic, gicv3, mmu, power, psci, spin_table};
use crate::smp::{self, CPUS, Cpu, MAX_CPUS};

const CPU_TIMEOUT_US: u64 = 1_000_000;

const STARTING: u64 = 1;
const ONLINE: u64 = 2;
const ABANDONED: u64 = 3;

/// What a starting CPU needs before it can run Rust. Read by entry.s (first
/// four fields, offsets checked below) with the MMU off.
#[repr(C)]
pub struct ApBoot {
    ttbr1: AtomicU64,
    stack_top: AtomicU64,
    exc_stack_top: AtomicU64,
    index: AtomicU64,
    /// STARTING -> ONLINE (by the CPU) or -> ABANDONED (by the boot CPU).
    state: AtomicU64,
}

const _: () = {
    assert!(core::mem::offset_of!(ApBoot, ttbr1) == 0);
    assert!(core::mem::offset_of!(ApBoot, stack_top) == 8);
    assert!(core::mem::offset_of!(ApBoot, exc_stack_top) == 16);
    assert!(core::mem::offset_of!(ApBoot, index) == 24);
};

static AP_BOOT: [ApBoot; MAX_CPUS] = [const {
    ApBoot {
        ttbr1: AtomicU64::new(0),
        stack_top: AtomicU64::new(0),
        exc_stack_top: AtomicU64::new(0),
        index: AtomicU64::new(0),
        state: AtomicU64::new(0),
    }
}; MAX_CPUS];

unsafe extern "C" {
    fn aarch64_secondary_entry();
}

/// Starts every CPU the DTB describes. Returns the number online.
pub fn start_secondary_cpus() -> usize {
    let me = cpu::cpu_id();
    CPUS[0].hw_id.store(me, Ordering::Relaxed);
    let fdt = dtb::get();
    let (nodes, total) = match dtb::cpus::<MAX_CPUS>(&fdt) {
        Ok(found) => found,
        Err(e) => {
            println!("{e}; running on the boot CPU only");
            ([None; MAX_CPUS], 0)
        }
    };
    // A GICv2 addresses 8 CPU interfaces (GICD_ITARGETSR has one bit per
    // CPU): a 9th CPU would have no interface to wake it, so with a GICv2 the
    // kernel runs 8 at most. (QEMU's `virt` refuses more than 8 CPUs with a
    // GICv2 anyway.) A GICv3 names CPUs by affinity: all of them (gicv3.rs).
    let limit = if gic::bases().is_some() { gic::MAX_CPUS_GICV2 } else { MAX_CPUS };
    smp::set_possible(total.max(1), limit);
    if total > limit {
        let why = if limit < MAX_CPUS { "a GICv2 addresses" } else { "this kernel supports" };
        println!("smp: {total} CPUs described, {why} {limit}: starting {limit}");
    }
    let spin_tables = nodes
        .iter()
        .flatten()
        .filter(|n| n.release_addr.is_some() && cpu::mpidr_to_id(n.mpidr) != me)
        .count();
    if total > 1 && !psci::available() && spin_tables == 0 {
        println!("smp: no PSCI in the DTB; running on the boot CPU only");
    } else if total > 1 {
        if let Some((major, minor)) = psci::version() {
            println!(
                "smp: PSCI {major}.{minor}, starting {} secondary CPUs",
                smp::nr_possible() - 1
            );
        }
        if spin_tables > 0 {
            println!("smp: releasing {spin_tables} secondary CPUs from their spin tables");
        }
        let entry = mmu::image_virt_to_phys(aarch64_secondary_entry as *const () as u64);
        let mut index = 1;
        for node in nodes.iter().flatten() {
            let id = cpu::mpidr_to_id(node.mpidr);
            if id == me {
                continue;
            }
            if index >= smp::nr_possible() {
                break;
            }
            CPUS[index].hw_id.store(id, Ordering::Relaxed);
            let how = match node.release_addr {
                Some(addr) => Some(How::SpinTable(addr)),
                None if node.psci && psci::available() => Some(How::Psci(entry)),
                None => None,
            };
            let Some(how) = how else {
                println!(
                    "smp: CPU {index} (MPIDR {:#x}) has neither PSCI nor a spin table; left offline",
                    node.mpidr
                );
                index += 1;
                continue;
            };
            if let Err(why) = start_one(index, node.mpidr, how) {
                println!("smp: CPU {index} (MPIDR {:#x}) {why}; continuing without it", node.mpidr);
            }
            index += 1;
        }
    }
    // Nothing needs the boot identity map on this CPU any more.
    mmu::disable_identity_map();
    smp::nr_online()
}

/// How a secondary CPU is started.
#[derive(Clone, Copy)]
enum How {
    /// PSCI CPU_ON at this physical entry point.
    Psci(u64),
    /// Released from the firmware's spin table at this physical address.
    SpinTable(u64),
}

fn start_one(index: usize, mpidr: u64, how: How) -> Result<(), &'static str> {
    let size = (mmu::STACK_SIZE + mmu::EXC_STACK_SIZE) as usize;
    let layout =
        Layout::from_size_align(size, mmu::PAGE_SIZE as usize).map_err(|_| "bad stack layout")?;
    // SAFETY: non-zero size; the block is never freed (the CPU's stacks).
    let backing = unsafe { alloc::alloc::alloc(layout) };
    if backing.is_null() {
        return Err("got no memory for its stacks");
    }
    // SAFETY: we are the boot CPU (the only caller of start_secondary_cpus),
    // and `backing` is ours forever.
    let (stack_top, exc_top) = unsafe { mmu::map_stack(index, backing) };
    let rec = &AP_BOOT[index];
    // Relaxed: the record reaches the new CPU through the cache clean below
    // and the CPU_ON call, not through atomics (it reads it with the MMU off).
    rec.ttbr1.store(mmu::root(), Ordering::Relaxed);
    rec.stack_top.store(stack_top, Ordering::Relaxed);
    rec.exc_stack_top.store(exc_top, Ordering::Relaxed);
    rec.index.store(index as u64, Ordering::Relaxed);
    rec.state.store(STARTING, Ordering::Relaxed);
    let rec_va = rec as *const ApBoot as u64;
    mmu::clean_dcache_range(rec_va, core::mem::size_of::<ApBoot>() as u64);
    let rec_pa = mmu::image_virt_to_phys(rec_va);
    match how {
        How::Psci(entry) => {
            if let Err(e) = psci::cpu_on(mpidr, entry, rec_pa) {
                println!("smp: CPU_ON failed: {e}");
                return Err("could not be started");
            }
        }
        How::SpinTable(release_addr) => spin_table::release(index, mpidr, release_addr, rec_pa)?,
    }
    let deadline = cpu::read_cycles() + CPU_TIMEOUT_US * cpu::cycles_per_us();
    while cpu::read_cycles() < deadline {
        // Acquire: pairs with the CPU's AcqRel exchange to ONLINE.
        if rec.state.load(Ordering::Acquire) == ONLINE {
            break;
        }
        core::hint::spin_loop();
    }
    // AcqRel: either we abandon it (and it will see that), or it got there
    // first and we see everything it did before.
    match rec.state.compare_exchange(STARTING, ABANDONED, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => Err("did not come up within 1 s"),
        Err(_) => {
            // It is ONLINE and marks itself online in the next instructions.
            while !CPUS[index].online.load(Ordering::Acquire) {
                core::hint::spin_loop();
            }
            Ok(())
        }
    }
}

/// First Rust code on a secondary CPU (entry.s, on its own stacks, MMU on).
#[unsafe(no_mangle)]
extern "C" fn aarch64_secondary_main(index: usize) -> ! {
    cpu::set_cpu_index(index);
    mmu::disable_identity_map();
    CPUS[index].hw_id.store(cpu::cpu_id(), Ordering::Relaxed);
    if super::atomics::in_use().uses_lse() && !cpu::has_lse() {
        // The boot CPU chose LSE (atomics.rs) and this CPU has none: its
        // first read-modify-write would be UNDEFINED. Leave without one
        // (the boot CPU reports the CPU as not come up within 1 s).
        let _ = psci::cpu_off();
        power::halt_forever();
    }
    // AcqRel: publishes our setup to the boot CPU, or sees its ABANDONED.
    if AP_BOOT[index]
        .state
        .compare_exchange(STARTING, ONLINE, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        // Too late: the boot CPU gave up on us and may reuse nothing of ours,
        // but must not find an extra CPU running either. (Without PSCI, a
        // spin-table CPU, this fails at once and the CPU parks below.)
        let _ = psci::cpu_off();
        power::halt_forever();
    }
    gic::init_cpu(index);
    gicv3::init_cpu(index);
    smp::set_online(index);
    smp::secondary_idle_loop(&CPUS[index])
}

/// Wakes `cpu` from [`idle_until`]. With a GICv2 or GICv3: a wake-up SGI
/// to that CPU; without: `sev` (an event to every CPU). Either way the `dsb`
/// first makes the caller's stores (the posted job) visible before the
/// wake-up.
pub fn wake_cpu(cpu: &Cpu) {
    barrier::dsb(barrier::ISH);
    if gic::can_wake(cpu.index) {
        gic::send_wake(cpu.index);
    } else if gicv3::can_wake(cpu.index) {
        gicv3::send_wake(cpu.index);
    } else {
        aarch64_cpu::asm::sev();
    }
}

/// Sleeps unless `ready()` is already true, and never misses a wake-up:
/// with a GICv2, `wfi` (a real sleep, also in QEMU) ends when the wake SGI
/// is pending, including one sent between the check and the `wfi`, and the
/// SGI is then acknowledged (IRQs stay masked: it is never taken). Without,
/// `wfe`: a `sev` after the check leaves the event register set, so the
/// `wfe` returns at once. Spurious returns just go round the caller's loop.
pub fn idle_until(ready: &dyn Fn() -> bool) {
    let me = super::cpu::cpu_index();
    if gic::can_wake(me) {
        if !ready() {
            aarch64_cpu::asm::wfi();
        }
        gic::ack_all();
    } else if gicv3::can_wake(me) {
        if !ready() {
            aarch64_cpu::asm::wfi();
        }
        gicv3::ack_all();
    } else if !ready() {
        aarch64_cpu::asm::wfe();
    }
}

//! The architecture contract: the only way from the rest of the kernel to
//! the CPU and the machine.
//!
//! Each `arch/<arch>/mod.rs` provides every item re-exported below, with the
//! same name and signature, and the kernel outside `arch/` uses nothing else
//! of it. The re-exports name each item (no glob), so:
//!
//! - an architecture that lacks an item does not compile for its target
//!   (`unresolved import self::imp::...`), which `make lint` catches: it runs
//!   clippy for both kernel targets;
//! - an item whose signature differs fails the checks at the end of this
//!   file, with the contract's type next to the architecture's;
//! - an item an architecture re-exports that the contract does not name is
//!   an unused import: a warning, an error under `make lint`.
//!
//! Each item's meaning is documented here, once; the architecture's own doc
//! comment says how it does it. Two types belong to the contract itself:
//! [`ExceptionTables`], defined here, and [`ExitStatus`], the `protocol`
//! crate's (the host runner reads it back from QEMU's exit status).
//!
//! Platform pieces that only one architecture has (x86_64: PCI configuration
//! ports, `map_mmio`) are not part of the contract: they are in that
//! architecture's `platform` module, re-exported only when building for it
//! (`arch::x86_64_platform`), so a driver for that platform names it and generic
//! code cannot pick it up by accident. Each architecture also carries the
//! ktest suites for its own pieces in `arch/<arch>/tests/` ([`TEST_SUITES`]).
//!
//! The other direction: each architecture's entry (`arch/<arch>/boot.rs`)
//! points the per-CPU register at `smp::CPUS[0]` first, sets up the console
//! and the exception vectors (aarch64: and its page tables), fills a
//! [`crate::bootinfo::BootInfo`] and calls `crate::kernel_main`; each
//! secondary CPU started by [`start_secondary_cpus`] does the same for its own
//! slot, marks itself online (`smp::set_online`) and ends in
//! `smp::secondary_idle_loop`. See docs/architecture.md, "The arch contract".

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "x86_64")]
mod x86_64;

#[cfg(target_arch = "aarch64")]
use self::aarch64 as imp;
#[cfg(target_arch = "x86_64")]
use self::x86_64 as imp;

// Identity.

/// The architecture's name as `target_arch` spells it (`"x86_64"`,
/// `"aarch64"`): boot banner, benchmark reports.
pub use self::imp::NAME;

/// How atomic read-modify-writes run in this boot, in words (benchmark
/// reports): fixed by the build on x86_64, chosen at boot on aarch64.
pub use self::imp::atomics;

// Console.

/// Writes `bytes` to the console UART as they are (no newline translation),
/// waiting while its transmitter is full. Takes no lock: whole lines are the
/// console's job (`crate::console`). Without a UART the bytes are dropped.
pub use self::imp::console_write;

/// One input byte if one is waiting, else `None`; never waits. Every input
/// the architecture has counts (x86_64: COM1, then the PS/2 keyboard, then a
/// USB keyboard).
pub use self::imp::console_read;

/// Sends `byte` through the UART's internal loopback and returns what the
/// receiver got (`None`: nothing within the wait). Console output is held
/// meanwhile; for the console test.
pub use self::imp::serial_loopback;

/// Why a failed [`serial_loopback`] says nothing about the UART on this
/// machine (an emulator that does not model loopback), else `None`. The
/// console test skips with this reason instead of failing.
pub use self::imp::serial_loopback_unsupported;

// Ending a run, power.

/// Ends a test or benchmark run with `status`: under QEMU the process exits
/// (x86_64 isa-debug-exit: 33 / 35; aarch64 semihosting: 0 / 1); without the
/// exit device it says so and halts. Never returns.
pub use self::imp::exit;

/// Stops this CPU for good without a report (`ktest.inject=hang`: the host
/// runner's timeout must catch it).
pub use self::imp::hang;

/// Powers the machine off (x86_64: ACPI S5; aarch64: PSCI SYSTEM_OFF); when
/// that fails, says so and ends with [`exit`]`(ExitStatus::Success)`.
pub use self::imp::poweroff;

/// Resets the machine (x86_64: ACPI reset register, 8042, triple fault;
/// aarch64: PSCI SYSTEM_RESET); when all fail, says so and halts.
pub use self::imp::reboot;

// CPUs.

/// This CPU's hardware id (x86_64: its APIC id; aarch64: MPIDR_EL1 Aff3..0
/// packed into 32 bits), the id the interrupt controller knows it by. Needs
/// no per-CPU setup, so the panic path may call it.
pub use self::imp::cpu_id;

/// This CPU's dense index into `smp::CPUS` (0 = the boot CPU): one load
/// through the per-CPU register (x86_64: GS base; aarch64: TPIDR_EL1), which
/// the architecture sets first thing on every CPU.
pub use self::imp::cpu_index;

/// Vendor and model of this CPU, `impl Display` (boot banner, benchmark
/// reports).
pub use self::imp::cpu_model;

/// Finds the machine's other CPUs (x86_64: ACPI MADT; aarch64: device tree),
/// records how many are possible (`smp::set_possible`), starts each and
/// waits for it to come online. Returns the number online, the boot CPU
/// included (at least 1); a CPU that does not come up is reported and left
/// out. Called once, by the boot CPU, after the memory manager is up.
pub use self::imp::start_secondary_cpus;

/// Wakes `cpu` from [`idle_until`] (x86_64: a wake-up IPI; aarch64: an SGI,
/// or `sev` without a GICv2). Waking a CPU that is not asleep is harmless.
pub use self::imp::wake_cpu;

/// Sleeps this CPU unless `ready()` is already true, and never misses a
/// [`wake_cpu`] sent after the check. May return without a wake-up: callers
/// loop.
pub use self::imp::idle_until;

// Time.

/// A free-running counter (x86_64: the TSC; aarch64: CNTVCT_EL0), in ticks
/// of [`cycles_per_us`] per microsecond; for timeouts and benchmarks.
pub use self::imp::read_cycles;

/// [`read_cycles`] ticks per microsecond, at least 1 (x86_64: calibrated
/// against the PIT at boot; aarch64: CNTFRQ_EL0 / 10^6).
pub use self::imp::cycles_per_us;

// Exceptions.

/// Executes the breakpoint instruction (x86_64 `int3`, aarch64 `brk #0`);
/// the handler counts it and execution goes on after it.
pub use self::imp::breakpoint;

/// Breakpoints handled so far, all CPUs together.
pub use self::imp::breakpoint_count;

/// What the exception tests check about this CPU's exception setup.
pub use self::imp::exception_tables;

/// Touches an address that no page table can map, so the fault handler
/// reports it and ends the run (`ktest.inject=fault`). Never returns.
pub use self::imp::trigger_fault;

// Memory.

/// Translates a kernel virtual address with the active page tables (any
/// page size), or `None` if it is not mapped.
pub use self::imp::virt_to_phys;

// Tests.

/// The architecture's own ktest suites, for its own pieces (x86_64:
/// `apic_mmio`; aarch64: `mmu_attributes`); run after the generic suites,
/// which use only this contract. May be empty.
pub use self::imp::TEST_SUITES;

/// x86_64-only platform pieces (PCI configuration ports, `map_mmio`): for
/// drivers of PC hardware (xHCI). Not part of the contract.
#[cfg(target_arch = "x86_64")]
pub use self::x86_64::platform as x86_64_platform;

/// How a test or benchmark run ends (only meaningful in a VM with an exit
/// device). The host runner reads it back from QEMU's exit status, so it is
/// the `protocol` crate's, with the values each arch hands to QEMU.
pub use protocol::exit::ExitStatus;

/// What the exception tests check about the CPU's exception setup.
pub struct ExceptionTables {
    /// The CPU's vector table is the kernel's own.
    pub vectors_ours: bool,
    /// A known-good stack is configured for faults that cannot trust the current one.
    pub fault_stack_ok: bool,
}

/// The contract's signatures, checked at compile time against the current
/// architecture (nothing here exists at run time).
const _: () = {
    const fn displays<T: core::fmt::Display>(_: fn() -> T) {}

    let _: &str = NAME;
    let _: fn() -> &'static str = atomics;
    let _: fn(&[u8]) = console_write;
    let _: fn() -> Option<u8> = console_read;
    let _: fn(u8) -> Option<u8> = serial_loopback;
    let _: fn() -> Option<&'static str> = serial_loopback_unsupported;
    let _: fn(ExitStatus) -> ! = exit;
    let _: fn() -> ! = hang;
    let _: fn() -> ! = poweroff;
    let _: fn() -> ! = reboot;
    let _: fn() -> u32 = cpu_id;
    let _: fn() -> usize = cpu_index;
    displays(cpu_model);
    let _: fn() -> usize = start_secondary_cpus;
    let _: fn(&crate::smp::Cpu) = wake_cpu;
    let _: fn(&dyn Fn() -> bool) = idle_until;
    let _: fn() -> u64 = read_cycles;
    let _: fn() -> u64 = cycles_per_us;
    let _: fn() = breakpoint;
    let _: fn() -> u64 = breakpoint_count;
    let _: fn() -> ExceptionTables = exception_tables;
    let _: fn() -> ! = trigger_fault;
    let _: fn(u64) -> Option<u64> = virt_to_phys;
    let _: &[&crate::ktest::Suite] = TEST_SUITES;
};

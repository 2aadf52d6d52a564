//! Exception handling: `brk` (counted and skipped, for the tests) and fatal
//! reports for everything else.
//!
//! The vector table is in vectors.s. The kernel runs on SP_EL0; every
//! exception switches to SP_EL1, a separate per-CPU exception stack (16 KiB,
//! see mmu.rs), so a kernel stack overflow, which faults on the unmapped
//! guard page below the stack, is still reported: the handler never touches
//! the overflowed stack.
//!
//! A fatal report's first line starts with `CPU EXCEPTION` (`protocol::fatal`; the test runner
//! scans for it) and names the exception class, ESR, ELR, FAR and the CPU;
//! then the machine exits with a failure status.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use aarch64_cpu::registers::{Readable, SPSel, VBAR_EL1};
use protocol::fatal::CPU_EXCEPTION;

use super::{cpu, mmu, power};
use crate::arch::{ExceptionTables, ExitStatus};
use crate::smp::MAX_CPUS;

/// Saved state, laid out as vectors.s stores it.
#[repr(C)]
pub struct Frame {
    pub x: [u64; 31],
    /// The interrupted stack pointer.
    pub sp: u64,
    pub elr: u64,
    pub spsr: u64,
    pub esr: u64,
    pub far: u64,
}

const _: () = assert!(core::mem::size_of::<Frame>() == 288, "vectors.s FRAME_SIZE");

unsafe extern "C" {
    static exception_vectors: u8;
}

/// ESR_EL1 exception classes we name or act on.
const EC_UNKNOWN: u64 = 0x00;
const EC_BRK: u64 = 0x3C;

static BREAKPOINTS: AtomicU64 = AtomicU64::new(0);
/// Per CPU: a fatal report is in progress (a fault inside it must not recurse).
static IN_REPORT: [AtomicBool; MAX_CPUS] = [const { AtomicBool::new(false) }; MAX_CPUS];

/// Called by vectors.s with the saved frame; returns only for breakpoints.
#[unsafe(no_mangle)]
extern "C" fn aarch64_exception(frame: &mut Frame, kind: u64) {
    let ec = frame.esr >> 26;
    let synchronous = synchronous_kind(kind);
    if synchronous && ec == EC_BRK && kind < 8 {
        // Relaxed: the count is read back by the same CPU after `brk` returns.
        BREAKPOINTS.fetch_add(1, Ordering::Relaxed);
        // BRK's preferred return address is the `brk` itself: step over it.
        frame.elr += 4;
        return;
    }
    let semihosting_hlt = &raw const power::aarch64_semihosting_hlt as u64;
    if synchronous && ec == EC_UNKNOWN && frame.elr == semihosting_hlt {
        power::semihosting_missing();
    }
    report(frame, kind)
}

fn report(frame: &Frame, kind: u64) -> ! {
    let w = crate::console::emergency_write;
    let index = cpu::cpu_index();
    // Relaxed: only this CPU reads and writes its own flag.
    if IN_REPORT[index % MAX_CPUS].swap(true, Ordering::Relaxed) {
        w(format_args!(
            "\n{CPU_EXCEPTION} while reporting one on CPU {index}: ESR {:#x} ELR {:#x}\n",
            frame.esr, frame.elr
        ));
        super::exit(ExitStatus::Failure);
    }
    let ec = frame.esr >> 26;
    let origin = match kind / 4 {
        0 => "EL1, SP_EL0",
        1 => "EL1, SP_EL1 (in a handler or early boot)",
        2 => "EL0 AArch64",
        _ => "EL0 AArch32",
    };
    let what = match kind % 4 {
        0 => class_name(ec),
        1 => "unexpected IRQ",
        2 => "unexpected FIQ",
        _ => "SError (asynchronous abort)",
    };
    w(format_args!(
        "\n{CPU_EXCEPTION}: {what} (EC {ec:#04x}) on CPU {index} (MPIDR aff {:#x}) from {origin}\n",
        cpu::cpu_id()
    ));
    w(format_args!(
        "  ESR: {:#010x}  ELR: {:#018x}  FAR: {:#018x}\n  SPSR: {:#010x}  SP: {:#018x}\n",
        frame.esr, frame.elr, frame.far, frame.spsr, frame.sp
    ));
    if matches!(ec, 0x20 | 0x21 | 0x24 | 0x25) && synchronous_kind(kind) {
        let iss = frame.esr & 0x1FF_FFFF;
        let status = iss & 0x3F;
        let access =
            if ec >= 0x24 { if iss & (1 << 6) != 0 { "write" } else { "read" } } else { "fetch" };
        w(format_args!("  {access} at FAR: {}\n", fault_status(status)));
        if let Some(owner) = mmu::stack_guard_owner(frame.far) {
            w(format_args!(
                "  the address is the guard page below CPU {owner}'s kernel stack: STACK OVERFLOW\n"
            ));
        }
    }
    for (i, pair) in frame.x.chunks(2).enumerate() {
        match pair {
            [a, b] => w(format_args!("  x{:<2} {a:#018x}  x{:<2} {b:#018x}\n", 2 * i, 2 * i + 1)),
            [a] => w(format_args!("  x{:<2} {a:#018x}\n", 2 * i)),
            _ => {}
        }
    }
    super::exit(ExitStatus::Failure)
}

fn synchronous_kind(kind: u64) -> bool {
    kind.is_multiple_of(4)
}

fn class_name(ec: u64) -> &'static str {
    match ec {
        0x00 => "unknown reason (undefined instruction)",
        0x01 => "trapped WFI/WFE",
        0x07 => "SIMD/FP access trap",
        0x0E => "illegal execution state",
        0x15 => "SVC from AArch64",
        0x16 => "HVC from AArch64",
        0x17 => "SMC from AArch64",
        0x18 => "trapped MSR/MRS/system instruction",
        0x19 => "SVE access trap",
        0x20 => "instruction abort from a lower EL",
        0x21 => "instruction abort",
        0x22 => "PC alignment fault",
        0x24 => "data abort from a lower EL",
        0x25 => "data abort",
        0x26 => "SP alignment fault",
        0x2C => "floating-point exception",
        0x2F => "SError",
        0x30 | 0x31 => "hardware breakpoint",
        0x32 | 0x33 => "software step",
        0x34 | 0x35 => "watchpoint",
        0x3C => "BRK instruction",
        _ => "unrecognised exception class",
    }
}

fn fault_status(status: u64) -> &'static str {
    match status {
        0x00..=0x03 => "address size fault",
        0x04..=0x07 => "translation fault (not mapped)",
        0x08..=0x0B => "access flag fault",
        0x0C..=0x0F => "permission fault",
        0x10 => "synchronous external abort",
        0x21 => "alignment fault",
        0x30 => "TLB conflict abort",
        _ => "other fault",
    }
}

/// Executes `brk #0`; the handler counts it and returns past it.
pub fn breakpoint() {
    // asm!: aarch64-cpu has no `brk` helper.
    // SAFETY: the handler skips the instruction and restores every register.
    unsafe { core::arch::asm!("brk #0", options(nomem, nostack)) };
}

pub fn breakpoint_count() -> u64 {
    BREAKPOINTS.load(Ordering::Relaxed)
}

/// VBAR_EL1 is our table; this CPU runs on SP_EL0 and its SP_EL1 lies in
/// its own exception stack.
pub fn exception_tables() -> ExceptionTables {
    let vbar = VBAR_EL1.get();
    let on_sp_el0 = SPSel.get() == 0;
    let mut sp_el1 = 0u64;
    if on_sp_el0 {
        // asm!: SP_EL1 cannot be read with `mrs` at EL1 (the crate's SP_EL1
        // is for EL2 and up); select it with SPSel and copy `sp` instead,
        // in one asm block so no compiled code runs on the other stack.
        // SAFETY: interrupts are masked, so nothing runs on SP_EL1 while we
        // briefly select it to read it; no memory is touched meanwhile, and
        // we return to SP_EL0, where we were.
        unsafe {
            core::arch::asm!(
                "msr spsel, #1",
                "mov {}, sp",
                "msr spsel, #0",
                out(reg) sp_el1,
                options(nomem, nostack, preserves_flags)
            )
        };
    }
    let (bottom, top) = mmu::exc_stack_range(cpu::cpu_index());
    ExceptionTables {
        vectors_ours: vbar == &raw const exception_vectors as u64,
        fault_stack_ok: on_sp_el0 && (bottom..=top).contains(&sp_el1),
    }
}

/// Reads an address no page table can map (outside both 48-bit halves), for
/// `ktest.inject=fault`.
pub fn trigger_fault() -> ! {
    let bad = 0x8000_0000_0000_0000_u64 as *const u64;
    // SAFETY: deliberately invalid; the resulting data abort is the point.
    // read_volatile keeps the compiler from reasoning about or removing it.
    let v = unsafe { core::ptr::read_volatile(bad) };
    panic!("read from an unmappable address returned {v:#x}");
}

//! IDT and exception handlers.
//!
//! Every CPU exception (vectors 0-31) gets a handler. The breakpoint returns
//! (tests use it); all others are fatal: they print a report that starts with
//! `CPU EXCEPTION` (`protocol::fatal`; the test runner scans for it) with vector, error code,
//! RIP, CR2 for page faults and the CPU, then end the machine with a failure
//! status. The double fault runs on its own IST stack.

use core::sync::atomic::{AtomicU64, Ordering};

use protocol::fatal::CPU_EXCEPTION;
use spin::Lazy;
use x86_64::instructions::interrupts;
use x86_64::registers::control::Cr2;
use x86_64::set_general_handler;
use x86_64::structures::idt::{InterruptDescriptorTable, InterruptStackFrame};

use super::{apic, cpu, gdt};
use crate::arch::{ExceptionTables, ExitStatus};

static BREAKPOINTS: AtomicU64 = AtomicU64::new(0);

static IDT: Lazy<InterruptDescriptorTable> = Lazy::new(|| {
    let mut idt = InterruptDescriptorTable::new();
    set_general_handler!(&mut idt, fatal_exception, 0..32);
    idt.breakpoint.set_handler_fn(breakpoint_handler);
    // SAFETY: the IST index names the stack gdt::init() installed in the TSS,
    // used by nothing but this handler.
    unsafe {
        idt.double_fault
            .set_handler_fn(double_fault_handler)
            .set_stack_index(gdt::DOUBLE_FAULT_IST);
    }
    idt[apic::WAKE_VECTOR].set_handler_fn(wake_handler);
    idt[apic::SPURIOUS_VECTOR].set_handler_fn(spurious_handler);
    idt
});

/// Loads the IDT on the boot CPU and masks the legacy PIC.
pub fn init() {
    IDT.load();
    mask_legacy_pic();
}

/// Loads the (shared) IDT on a secondary CPU.
pub fn init_ap() {
    IDT.load();
}

/// The wake-up IPI only has to end a `hlt`; acknowledging it is all.
extern "x86-interrupt" fn wake_handler(_frame: InterruptStackFrame) {
    apic::eoi();
}

/// Spurious APIC interrupts must not be acknowledged (Intel SDM 10.9).
extern "x86-interrupt" fn spurious_handler(_frame: InterruptStackFrame) {}

/// Masks both 8259 PICs: the kernel polls its devices, and a stray legacy IRQ
/// would arrive on an exception vector (the PIC's power-on mapping is 8-15).
fn mask_legacy_pic() {
    use x86_64::instructions::port::Port;
    // SAFETY: 0x21/0xA1 are the PIC data ports; writing 0xFF masks every line.
    unsafe {
        Port::<u8>::new(0x21).write(0xFF);
        Port::<u8>::new(0xA1).write(0xFF);
    }
}

extern "x86-interrupt" fn breakpoint_handler(_frame: InterruptStackFrame) {
    // Relaxed: the count is read back by the same CPU after the int3 returns.
    BREAKPOINTS.fetch_add(1, Ordering::Relaxed);
}

extern "x86-interrupt" fn double_fault_handler(frame: InterruptStackFrame, code: u64) -> ! {
    report(&frame, 8, Some(code));
}

fn fatal_exception(frame: InterruptStackFrame, vector: u8, code: Option<u64>) {
    report(&frame, vector, code)
}

fn report(frame: &InterruptStackFrame, vector: u8, code: Option<u64>) -> ! {
    interrupts::disable();
    let w = crate::console::emergency_write;
    let (mnemonic, name) = describe(vector);
    w(format_args!(
        "\n{CPU_EXCEPTION}: {name} (#{mnemonic}, vector {vector}) on CPU {} (APIC id {})\n",
        super::cpu_index(),
        cpu::cpu_id()
    ));
    if let Some(code) = code {
        w(format_args!("  error code: {code:#x}\n"));
    }
    w(format_args!(
        "  RIP: {:#018x}  CS: {:#x}  RFLAGS: {:#x}\n  RSP: {:#018x}  SS: {:#x}\n",
        frame.instruction_pointer.as_u64(),
        frame.code_segment.0,
        frame.cpu_flags.bits(),
        frame.stack_pointer.as_u64(),
        frame.stack_segment.0
    ));
    if vector == 14 {
        let cr2 = Cr2::read_raw();
        w(format_args!("  CR2 (faulting address): {cr2:#018x}\n"));
    }
    super::exit(ExitStatus::Failure)
}

fn describe(vector: u8) -> (&'static str, &'static str) {
    match vector {
        0 => ("DE", "divide error"),
        1 => ("DB", "debug"),
        2 => ("NMI", "non-maskable interrupt"),
        3 => ("BP", "breakpoint"),
        4 => ("OF", "overflow"),
        5 => ("BR", "bound range exceeded"),
        6 => ("UD", "invalid opcode"),
        7 => ("NM", "device not available"),
        8 => ("DF", "double fault"),
        10 => ("TS", "invalid TSS"),
        11 => ("NP", "segment not present"),
        12 => ("SS", "stack-segment fault"),
        13 => ("GP", "general protection fault"),
        14 => ("PF", "page fault"),
        16 => ("MF", "x87 floating-point error"),
        17 => ("AC", "alignment check"),
        18 => ("MC", "machine check"),
        19 => ("XM", "SIMD floating-point error"),
        20 => ("VE", "virtualization exception"),
        21 => ("CP", "control protection"),
        28 => ("HV", "hypervisor injection"),
        29 => ("VC", "VMM communication"),
        30 => ("SX", "security exception"),
        _ => ("??", "reserved exception"),
    }
}

/// Executes `int3`; the handler counts it and returns.
pub fn breakpoint() {
    interrupts::int3();
}

pub fn breakpoint_count() -> u64 {
    BREAKPOINTS.load(Ordering::Relaxed)
}

pub fn exception_tables() -> ExceptionTables {
    let idtr = x86_64::instructions::tables::sidt();
    ExceptionTables {
        vectors_ours: core::ptr::eq(idtr.base.as_ptr::<InterruptDescriptorTable>(), &*IDT),
        fault_stack_ok: gdt::fault_stack_ok(),
    }
}

/// Touches an address that is never mapped (non-canonical: no page table can
/// map it), for `ktest.inject=fault`.
pub fn trigger_fault() -> ! {
    let bad = 0x8000_0000_0000_u64 as *const u64;
    // SAFETY: deliberately invalid; the resulting #GP is the point. read_volatile
    // keeps the compiler from reasoning about or removing the access.
    let v = unsafe { core::ptr::read_volatile(bad) };
    panic!("read from a non-canonical address returned {v:#x}");
}

//! Ending the machine: QEMU's debug-exit device for test runs, ACPI for
//! poweroff and reset on PCs, with fallbacks that always end in a halt.

use protocol::exit::isa_debug_exit;
use x86_64::instructions::{hlt, interrupts, port::Port};

use super::acpi;
use crate::arch::ExitStatus;

/// Ends a test or benchmark run through QEMU's isa-debug-exit device (the
/// value, the port and the resulting QEMU status are in `protocol::exit`).
/// Under QEMU the process exits with the status; on real hardware the port
/// is unused, so we say so and halt.
pub fn exit(status: ExitStatus) -> ! {
    // SAFETY: port 0xf4 is unassigned on PCs; on QEMU it is the exit device.
    unsafe { Port::<u32>::new(isa_debug_exit::PORT).write(status.isa_debug_exit_value()) };
    crate::console::emergency_write(format_args!(
        "[kernel stopped: {status:?}; no QEMU exit device, halting]\n"
    ));
    halt_forever()
}

/// Stops this CPU for good (interrupts off, `hlt` in a loop).
pub fn halt_forever() -> ! {
    interrupts::disable();
    loop {
        hlt();
    }
}

/// Spins forever without reporting: `ktest.inject=hang`.
pub fn hang() -> ! {
    halt_forever()
}

pub fn poweroff() -> ! {
    if let Err(e) = acpi::enter_s5() {
        println!("ACPI poweroff failed: {e}");
    }
    // QEMU-specific fallbacks (PIIX4 and ICH9 PM ports), then the exit device.
    // SAFETY: writes to power-management ports; at worst ignored on PCs.
    unsafe {
        Port::<u16>::new(0x604).write(0x2000);
        Port::<u16>::new(0xB004).write(0x2000);
    }
    exit(ExitStatus::Success)
}

pub fn reboot() -> ! {
    if let Err(e) = acpi::reset() {
        println!("ACPI reset failed: {e}; trying the keyboard controller");
    }
    // SAFETY: 0xFE to the 8042 command port pulses the CPU reset line.
    unsafe { Port::<u8>::new(0x64).write(0xFE) };
    // Last resort: a triple fault (empty IDT, then an exception).
    let empty =
        x86_64::structures::DescriptorTablePointer { limit: 0, base: x86_64::VirtAddr::zero() };
    // SAFETY: loading an empty IDT is the intent; the following int3 then
    // triple-faults, which resets the machine.
    unsafe { x86_64::instructions::tables::lidt(&empty) };
    interrupts::int3();
    halt_forever()
}

//! Ending the machine: semihosting `SYS_EXIT` for test runs under QEMU
//! (`-semihosting`), PSCI for poweroff and reset (or, on a Raspberry Pi
//! without PSCI, its power-management watchdog: pm_wdt.rs), and a halt as
//! the fallback.

use protocol::exit::semihosting::{ADP_STOPPED_APPLICATION_EXIT, SYS_EXIT};

use super::{pm_wdt, psci};
use crate::arch::ExitStatus;

unsafe extern "C" {
    /// `hlt #0xf000; ret` (vectors.s): x0 = operation, x1 = parameter block.
    fn aarch64_semihosting_call(op: u64, param: u64) -> u64;
    /// The `hlt` itself, so the exception handler can recognise the trap
    /// taken when no semihosting host is listening.
    pub(super) static aarch64_semihosting_hlt: u8;
}

/// Ends a test or benchmark run: semihosting `SYS_EXIT` with
/// ADP_Stopped_ApplicationExit, so QEMU exits with status 0 (success) or 1
/// (failure) (the values are in `protocol::exit`). Without a semihosting
/// host the `hlt` traps instead; the exception handler then says so and
/// halts (see exceptions.rs).
pub fn exit(status: ExitStatus) -> ! {
    let block = [ADP_STOPPED_APPLICATION_EXIT, status.semihosting_code()];
    // SAFETY: SYS_EXIT reads the two-word block and ends the program; the
    // block outlives the call.
    unsafe { aarch64_semihosting_call(SYS_EXIT, block.as_ptr() as u64) };
    crate::console::emergency_write(format_args!(
        "[kernel stopped: {status:?}; semihosting SYS_EXIT returned, halting]\n"
    ));
    halt_forever()
}

/// Called by the exception handler when the semihosting `hlt` trapped.
pub fn semihosting_missing() -> ! {
    crate::console::emergency_write(format_args!(
        "[kernel stopped; no semihosting host to exit to, halting]\n"
    ));
    halt_forever()
}

/// Stops this CPU for good (interrupts masked, `wfe` in a loop).
pub fn halt_forever() -> ! {
    use aarch64_cpu::registers::{DAIF, Writeable};
    DAIF.write(DAIF::D::Masked + DAIF::A::Masked + DAIF::I::Masked + DAIF::F::Masked);
    loop {
        aarch64_cpu::asm::wfe();
    }
}

/// Spins forever without reporting: `ktest.inject=hang`.
pub fn hang() -> ! {
    halt_forever()
}

/// How long [`poweroff`] waits for the power to go after a SYSTEM_OFF call
/// that returned, in microseconds (see `psci::system_off`): a failure is
/// reported only when the machine is still running after it.
const POWEROFF_WAIT_US: u64 = 5_000_000;

/// Waits `us` microseconds with interrupts masked: the time a power-off or
/// reset request gets before it is called a failure.
fn wait_for_the_end(us: u64) {
    // SAFETY: masking interrupts has no other effect.
    unsafe { core::arch::asm!("msr daifset, #0xf", options(nomem, nostack)) };
    let start = super::cpu::read_cycles();
    let wait = us.saturating_mul(super::cpu::cycles_per_us());
    while super::cpu::read_cycles().wrapping_sub(start) < wait {
        core::hint::spin_loop();
    }
}

pub fn poweroff() -> ! {
    if !psci::available() && pm_wdt::available() {
        pm_wdt::reset(true);
        wait_for_the_end(POWEROFF_WAIT_US);
        println!(
            "watchdog power-off failed: machine still running 5 s after it; trying semihosting exit"
        );
        exit(ExitStatus::Success)
    }
    match psci::system_off() {
        Ok(()) => {
            // Interrupts masked: nothing of ours runs while the power goes.
            // SAFETY: masking interrupts has no other effect.
            unsafe { core::arch::asm!("msr daifset, #0xf", options(nomem, nostack)) };
            let start = super::cpu::read_cycles();
            let wait = POWEROFF_WAIT_US.saturating_mul(super::cpu::cycles_per_us());
            while super::cpu::read_cycles().wrapping_sub(start) < wait {
                core::hint::spin_loop();
            }
            println!(
                "PSCI SYSTEM_OFF failed: machine still running 5 s after the request; trying semihosting exit"
            );
        }
        Err(e) => println!("PSCI SYSTEM_OFF failed: {e}; trying semihosting exit"),
    }
    exit(ExitStatus::Success)
}

pub fn reboot() -> ! {
    if !psci::available() && pm_wdt::available() {
        pm_wdt::reset(false);
        wait_for_the_end(POWEROFF_WAIT_US);
        println!("watchdog reset failed: machine still running 5 s after it; halting");
        halt_forever()
    }
    let e = psci::system_reset();
    println!("PSCI SYSTEM_RESET failed: {e}; halting");
    halt_forever()
}

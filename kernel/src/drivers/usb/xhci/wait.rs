//! Busy waiting with a deadline, on the TSC.
//!
//! The driver runs once at boot and then only from the console's polling
//! path, with no interrupts and no scheduler to sleep on, so every wait for
//! the controller is a spin with a deadline: a controller or device that
//! never answers costs at most that long and then fails its step, instead
//! of hanging the boot. The deadlines are the specification's (or Linux's)
//! where one exists, and one second otherwise.

/// Milliseconds of busy waiting on the TSC.
pub(super) fn delay_ms(ms: u64) {
    let end = crate::arch::read_cycles() + ms * 1000 * crate::arch::cycles_per_us();
    while crate::arch::read_cycles() < end {
        core::hint::spin_loop();
    }
}

/// Polls `done` until it is true or `ms` milliseconds passed.
pub(super) fn wait_until(ms: u64, mut done: impl FnMut() -> bool) -> bool {
    let end = crate::arch::read_cycles() + ms * 1000 * crate::arch::cycles_per_us();
    loop {
        if done() {
            return true;
        }
        if crate::arch::read_cycles() >= end {
            return done();
        }
        core::hint::spin_loop();
    }
}

//! Panic handler: print a report and end the machine with a failure status.
//!
//! Never hang: the test runner treats a missing exit as a timeout, which
//! is slower and says less than a report. The report's first line starts with
//! `KERNEL PANIC` (`protocol::fatal`), which the runner scans for.

use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

use protocol::fatal::KERNEL_PANIC;

use crate::arch;

/// Set by the first panicking CPU; a panic inside the panic path must not recurse.
static PANICKING: AtomicBool = AtomicBool::new(false);

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    // Relaxed is enough: only the flag's own value matters, no data is published through it.
    if PANICKING.swap(true, Ordering::Relaxed) {
        arch::exit(arch::ExitStatus::Failure);
    }
    crate::console::emergency_write(format_args!(
        "\n{KERNEL_PANIC} on CPU {}: {}\n",
        arch::cpu_id(),
        info.message()
    ));
    if let Some(loc) = info.location() {
        crate::console::emergency_write(format_args!(
            "  at {}:{}:{}\n",
            loc.file(),
            loc.line(),
            loc.column()
        ));
    }
    arch::exit(arch::ExitStatus::Failure)
}

//! The kernel console: `print!`/`println!` over every output there is: the
//! architecture's serial port and, when the firmware set one up, the screen
//! (`fbcon`). Input comes from the serial port or the keyboard.
//!
//! One lock serialises whole `print!` calls so lines from different CPUs do
//! not interleave mid-line. The panic and exception paths bypass the lock with
//! [`emergency_write`], because the CPU that failed may be the one holding it.

use core::fmt::{self, Write};

use spin::Mutex;

struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        crate::arch::console_write(s.as_bytes());
        crate::fbcon::write_str(s);
        Ok(())
    }
}

static CONSOLE: Mutex<Console> = Mutex::new(Console);

#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    // A write to the console cannot fail; the error type is only fmt's.
    let _ = CONSOLE.lock().write_fmt(args);
}

/// Writes without taking the console lock: for panic and exception reports
/// only, where the lock may be held by the code that failed.
pub fn emergency_write(args: fmt::Arguments<'_>) {
    let _ = Console.write_fmt(args);
}

/// Reads one input byte if one is waiting (serial port or keyboard).
pub fn try_read_byte() -> Option<u8> {
    crate::arch::console_read()
}

#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => ($crate::console::_print(format_args!($($arg)*)));
}

#[macro_export]
macro_rules! println {
    () => ($crate::print!("\n"));
    ($($arg:tt)*) => ($crate::console::_print(format_args!("{}\n", format_args!($($arg)*))));
}

/// Runs `f` with the console lock held, so nothing prints meanwhile (for
/// tests that put the console hardware in a special mode).
pub fn with_console_locked<R>(f: impl FnOnce() -> R) -> R {
    let _guard = CONSOLE.lock();
    f()
}

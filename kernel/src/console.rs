//! The kernel console: `print!`/`println!` over every output there is: the
//! architecture's serial port and, when the firmware set one up, the screen
//! (`fbcon`). Input comes from the serial port or the keyboard.
//!
//! One lock serialises whole `print!` calls so lines from different CPUs do
//! not interleave mid-line. The panic and exception paths bypass the lock with
//! [`emergency_write`], because the CPU that failed may be the one holding it.
//!
//! # KTAP mode
//!
//! While `ktest` runs, the serial port carries a KTAP v1 document (Linux
//! `Documentation/dev-tools/ktap.rst`) that the host runner parses strictly:
//! every line between the header and the last top-level result must be a KTAP
//! line or a `#` diagnostic. So during a run ([`set_ktap_depth`] > 0) every
//! line that does not come from the KTAP printer ([`ktap_line`]) — `log`
//! records, bad-page reports, SMP messages, panic and exception reports — is
//! turned into a diagnostic at the current nesting: four spaces per level,
//! then `# `. Control characters other than the newline are written as
//! `\xNN` so they cannot corrupt the stream. The screen gets the text
//! unchanged.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use spin::Mutex;

/// KTAP nesting level of the running ktest plus one (1 = top level, 2 =
/// inside a suite); 0 when no ktest runs (diagnostics are not prefixed).
static KTAP_DEPTH: AtomicUsize = AtomicUsize::new(0);
/// The serial port's last byte was a newline (or nothing was written yet).
static AT_LINE_START: AtomicBool = AtomicBool::new(true);

/// The ordinary console: in KTAP mode each serial line becomes a diagnostic.
struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        console_serial(s);
        crate::fbcon::write_str(s);
        Ok(())
    }
}

/// The serial side of [`Console`]: in KTAP mode each line a diagnostic.
fn console_serial(s: &str) {
    // Relaxed: the depth is set by the ktest runner on the CPU that prints
    // its lines; other CPUs only need an eventually seen value (their lines
    // are diagnostics at level 1 or 2 either way).
    match KTAP_DEPTH.load(Ordering::Relaxed) {
        0 => raw_serial(s.as_bytes()),
        depth => diag_serial(s, depth),
    }
}

/// KTAP lines from the ktest printer: written as they are.
struct KtapConsole;

impl Write for KtapConsole {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        raw_serial(s.as_bytes());
        crate::fbcon::write_str(s);
        Ok(())
    }
}

fn raw_serial(bytes: &[u8]) {
    if let Some(&last) = bytes.last() {
        crate::arch::console_write(bytes);
        // Relaxed: line-start tracking is best effort across CPUs; lines of
        // one print call are serialised by the console lock.
        AT_LINE_START.store(last == b'\n', Ordering::Relaxed);
    }
}

/// Writes `s` with every line prefixed as a KTAP diagnostic at `depth - 1`.
fn diag_serial(s: &str, depth: usize) {
    for line in s.split_inclusive('\n') {
        if AT_LINE_START.load(Ordering::Relaxed) {
            for _ in 1..depth {
                crate::arch::console_write(protocol::ktap::INDENT.as_bytes());
            }
            crate::arch::console_write(protocol::ktap::DIAGNOSTIC.as_bytes());
        }
        let bytes = line.as_bytes();
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            if b.is_ascii_control() && b != b'\n' {
                crate::arch::console_write(&bytes[start..i]);
                let hex = b"0123456789abcdef";
                crate::arch::console_write(&[
                    b'\\',
                    b'x',
                    hex[usize::from(b >> 4)],
                    hex[usize::from(b & 0xf)],
                ]);
                start = i + 1;
            }
        }
        crate::arch::console_write(&bytes[start..]);
        AT_LINE_START.store(line.ends_with('\n'), Ordering::Relaxed);
    }
}

static CONSOLE: Mutex<Console> = Mutex::new(Console);

#[doc(hidden)]
pub fn _print(args: fmt::Arguments<'_>) {
    // A write to the console cannot fail; the error type is only fmt's.
    let _ = CONSOLE.lock().write_fmt(args);
}

/// Prints one KTAP line (header, plan, result, `# Subtest:`) exactly as
/// given, starting a new line first if the serial port is mid-line. Used by
/// the ktest printer only; `args` must not end with a newline (one is added).
pub fn ktap_line(args: fmt::Arguments<'_>) {
    let _guard = CONSOLE.lock();
    if !AT_LINE_START.load(Ordering::Relaxed) {
        raw_serial(b"\n");
    }
    let _ = KtapConsole.write_fmt(format_args!("{args}\n"));
}

/// Enters (`depth` = KTAP nesting level + 1, so 1 is the top level) or
/// leaves (`0`) KTAP mode: see the module documentation.
pub fn set_ktap_depth(depth: usize) {
    let _guard = CONSOLE.lock();
    KTAP_DEPTH.store(depth, Ordering::Relaxed);
}

/// Whether a ktest run is printing KTAP right now.
pub fn in_ktap() -> bool {
    KTAP_DEPTH.load(Ordering::Relaxed) != 0
}

/// Writes without taking the console lock: for panic and exception reports
/// only, where the lock may be held by the code that failed. In KTAP mode the
/// report becomes diagnostics like any other line.
pub fn emergency_write(args: fmt::Arguments<'_>) {
    let _ = EmergencyConsole.write_fmt(args);
}

/// [`Console`] with the screen reached through its lock-breaking path.
struct EmergencyConsole;

impl Write for EmergencyConsole {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        console_serial(s);
        crate::fbcon::emergency_write_str(s);
        Ok(())
    }
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

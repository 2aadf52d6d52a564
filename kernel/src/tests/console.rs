//! Console and command line.

use alloc::format;
use alloc::string::String;
use core::fmt::Write;

use crate::cmdline::{CmdLine, Mode};
use crate::ktest::{Case, Suite, TestResult};
use crate::{kassert, kassert_eq};

pub static SUITE: Suite = Suite {
    name: "console",
    cases: &[
        Case { name: "serial_loopback", run: serial_loopback },
        Case { name: "print_long_line", run: print_long_line },
        Case { name: "format_integers", run: format_integers },
        Case { name: "cmdline_parse", run: cmdline_parse },
    ],
};

/// The UART echoes bytes back in loopback mode: proves the console hardware
/// (or its emulation) is really there and answering.
///
/// A UART without working loopback (QEMU's PL011 before 9.x) transmits the
/// byte instead, and a stray byte on the wire would corrupt the KTAP stream
/// (a `0x00` before a result line made Linux's `kunit.py` misread it). So a
/// printable byte is tried first, at the end of a diagnostic line where it is
/// harmless if it leaks; the full pattern (NUL and 0xFF included) is sent
/// only once that probe came back.
fn serial_loopback() -> TestResult {
    crate::print!("serial loopback probe (a `k` here leaked onto the wire):");
    let probe = crate::arch::serial_loopback(b'k');
    crate::println!(" {}", if probe == Some(b'k') { "looped back" } else { "no answer" });
    if probe.is_none()
        && let Some(why) = crate::arch::serial_loopback_unsupported()
    {
        return Err(crate::ktest::Failure::Skip(why));
    }
    kassert_eq!(probe, Some(b'k'));
    for byte in [0x00, 0x55, 0xAA, 0xFF, b'k'] {
        kassert_eq!(crate::arch::serial_loopback(byte), Some(byte));
    }
    Ok(())
}

/// A line far longer than any buffer goes out whole (no truncation, no hang).
fn print_long_line() -> TestResult {
    let mut line = String::new();
    for i in 0..200 {
        write!(line, "{i:04} ").unwrap();
    }
    kassert_eq!(line.len(), 1000);
    crate::kdiag!("{}", line);
    Ok(())
}

fn format_integers() -> TestResult {
    kassert_eq!(format!("{:#x}", 0xdead_beef_u32), "0xdeadbeef");
    kassert_eq!(format!("{:>6}", 42), "    42");
    kassert_eq!(format!("{}", i64::MIN), "-9223372036854775808");
    Ok(())
}

fn cmdline_parse() -> TestResult {
    let c = CmdLine::parse("ktest ktest.inject=fail ktest.filter=heap,mm");
    kassert_eq!(c.mode, Mode::Ktest);
    kassert_eq!(c.get("ktest.inject"), Some("fail"));
    kassert_eq!(c.get("ktest.filter"), Some("heap,mm"));
    kassert_eq!(c.get("missing"), None);
    kassert_eq!(CmdLine::parse("").mode, Mode::Shell);
    kassert_eq!(CmdLine::parse("  ").mode, Mode::Shell);
    kassert!(matches!(CmdLine::parse("x=1 bogus").mode, Mode::Unknown("bogus")));
    Ok(())
}

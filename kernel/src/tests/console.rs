//! Console and command line.

use alloc::format;
use alloc::string::String;
use core::fmt::Write;

use crate::cmdline::{CmdLine, Mode};
use crate::ktest::{Suite, TestResult};
use crate::{kassert, kassert_eq};

pub static SUITE: Suite = Suite {
    name: "console",
    cases: crate::cases![serial_loopback, print_long_line, format_integers, cmdline_parse],
};

/// Bytes sent in loopback mode: printable ASCII only, alternating bit
/// patterns in the low seven bits (`U` = 0x55, `*` = 0x2A), all ones but the
/// ends (`~` = 0x7E), sparse bits (`!` = 0x21).
const LOOPBACK_BYTES: &[u8] = b"U*~!k";

/// The UART echoes bytes back in loopback mode: proves the console hardware
/// (or its emulation) is really there and answering.
///
/// Some UART models transmit a looped-back byte as well: QEMU's PL011
/// before 9.x only transmits it, QEMU 10's transmits it and loops it back
/// (seen here: the bytes reach the serial log). A stray byte on the wire
/// would corrupt the KTAP stream (a `0x00` before a result line made Linux's
/// `kunit.py` misread it), so only printable bytes are sent, all of them at
/// the end of one diagnostic line, where they are harmless if they leak.
fn serial_loopback() -> TestResult {
    crate::print!("serial loopback: sending `U*~!k` (shown here if the UART also transmits): ");
    let mut got = [0u8; LOOPBACK_BYTES.len()];
    let mut answered = 0;
    for (slot, &byte) in got.iter_mut().zip(LOOPBACK_BYTES) {
        if let Some(b) = crate::arch::serial_loopback(byte) {
            *slot = b;
            answered += 1;
        }
    }
    crate::println!(" -> {answered} of {} answered", LOOPBACK_BYTES.len());
    if answered == 0
        && let Some(why) = crate::arch::serial_loopback_unsupported()
    {
        return Err(crate::ktest::Failure::Skip(why));
    }
    kassert_eq!(&got[..], LOOPBACK_BYTES);
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

//! USB keyboard input decoding (drivers/hid.rs): boot-protocol reports to
//! ASCII with key-down edges, modifiers, Caps Lock and roll-over. Pure logic,
//! so it runs on every architecture and needs no USB hardware; the hardware
//! path is tested by qemu-tests/tests/usb.rs.

use alloc::vec::Vec;

use crate::drivers::hid::{BootKeyboard, usage_to_ascii};
use crate::ktest::{Suite, TestResult};
use crate::{kassert, kassert_eq};

pub static SUITE: Suite = Suite {
    name: "hid",
    cases: crate::cases![
        key_down_edges,
        modifiers_and_caps_lock,
        us_keymap,
        roll_over_and_short_reports
    ],
};

const SHIFT: u8 = 0x02;
const RIGHT_SHIFT: u8 = 0x20;
const CTRL: u8 = 0x01;

/// A boot report with modifiers `m` and up to six usages.
fn report(m: u8, keys: &[u8]) -> [u8; 8] {
    let mut r = [0u8; 8];
    r[0] = m;
    r[2..2 + keys.len()].copy_from_slice(keys);
    r
}

/// Feeds `reports` to a fresh keyboard and returns what it typed.
fn typed(reports: &[[u8; 8]]) -> Vec<u8> {
    let mut kbd = BootKeyboard::new();
    let mut out = Vec::new();
    for r in reports {
        kbd.report(r, |b| out.push(b));
    }
    out
}

/// A held key types once; release and press again types again; a second
/// key pressed while the first is held types only the new one, and keys
/// pressed in the same report come out in report order.
fn key_down_edges() -> TestResult {
    let a = 0x04;
    let b = 0x05;
    kassert_eq!(typed(&[report(0, &[a]), report(0, &[a]), report(0, &[a])]), b"a".to_vec());
    kassert_eq!(typed(&[report(0, &[a]), report(0, &[]), report(0, &[a])]), b"aa".to_vec());
    kassert_eq!(typed(&[report(0, &[a]), report(0, &[a, b])]), b"ab".to_vec());
    // The held key moves to another slot: still no repeat.
    kassert_eq!(typed(&[report(0, &[a, b]), report(0, &[b, a])]), b"ab".to_vec());
    kassert_eq!(typed(&[report(0, &[b, a])]), b"ba".to_vec());
    Ok(())
}

/// Shift (left or right) gives capitals and shifted symbols, Caps Lock
/// toggles letters only (and Shift undoes it), Ctrl+letter gives the
/// control code.
fn modifiers_and_caps_lock() -> TestResult {
    let (h, one, caps, c) = (0x0B, 0x1E, 0x39, 0x06);
    kassert_eq!(typed(&[report(SHIFT, &[h])]), b"H".to_vec());
    kassert_eq!(typed(&[report(RIGHT_SHIFT, &[one])]), b"!".to_vec());
    kassert_eq!(typed(&[report(CTRL, &[c])]), [0x03].to_vec());
    let with_caps = typed(&[
        report(0, &[caps]),
        report(0, &[]),
        report(0, &[h]),
        report(0, &[]),
        report(SHIFT, &[h]),
        report(0, &[]),
        report(0, &[one]),
        report(0, &[]),
        report(0, &[caps]),
        report(0, &[]),
        report(0, &[h]),
    ]);
    kassert_eq!(with_caps, b"Hh1h".to_vec());
    Ok(())
}

/// Every printable key of the US layout, plain and shifted, plus the
/// control keys the shell uses.
fn us_keymap() -> TestResult {
    let plain = b"abcdefghijklmnopqrstuvwxyz1234567890";
    let shifted = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ!@#$%^&*()";
    for (i, (&p, &s)) in plain.iter().zip(shifted).enumerate() {
        let usage = 0x04 + i as u8;
        kassert_eq!(usage_to_ascii(usage, 0, false), Some(p));
        kassert_eq!(usage_to_ascii(usage, SHIFT, false), Some(s));
    }
    let punct = [
        (0x2D, b'-', b'_'),
        (0x2E, b'=', b'+'),
        (0x2F, b'[', b'{'),
        (0x30, b']', b'}'),
        (0x31, b'\\', b'|'),
        (0x33, b';', b':'),
        (0x34, b'\'', b'"'),
        (0x35, b'`', b'~'),
        (0x36, b',', b'<'),
        (0x37, b'.', b'>'),
        (0x38, b'/', b'?'),
    ];
    for (usage, p, s) in punct {
        kassert_eq!(usage_to_ascii(usage, 0, false), Some(p));
        kassert_eq!(usage_to_ascii(usage, SHIFT, false), Some(s));
    }
    kassert_eq!(usage_to_ascii(0x28, 0, false), Some(b'\r')); // Enter
    kassert_eq!(usage_to_ascii(0x2A, 0, false), Some(0x08)); // Backspace
    kassert_eq!(usage_to_ascii(0x2C, SHIFT, false), Some(b' ')); // Space
    kassert_eq!(usage_to_ascii(0x58, 0, false), Some(b'\r')); // keypad Enter
    kassert_eq!(usage_to_ascii(0x62, 0, false), Some(b'0')); // keypad 0
    kassert_eq!(usage_to_ascii(0x3A, 0, false), None); // F1
    kassert_eq!(usage_to_ascii(0x52, 0, false), None); // Up arrow
    Ok(())
}

/// ErrorRollOver (usage 1 in every slot: too many keys) keeps the previous
/// state, so keys held through it do not type again; short reports are
/// ignored.
fn roll_over_and_short_reports() -> TestResult {
    let a = 0x04;
    let out = typed(&[report(0, &[a]), report(0, &[1, 1, 1, 1, 1, 1]), report(0, &[a])]);
    kassert_eq!(out, b"a".to_vec());
    let mut kbd = BootKeyboard::new();
    let mut n = 0;
    kbd.report(&[0, 0, a], |_| n += 1);
    kassert!(n == 0, "a 3-byte report typed {n} keys");
    Ok(())
}

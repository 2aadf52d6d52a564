//! HID boot-protocol keyboard reports to ASCII (US layout).
//!
//! A boot-protocol keyboard sends 8-byte input reports: byte 0 is the
//! modifier bitmap (bit 0 left Ctrl, 1 left Shift, 2 left Alt, 3 left GUI,
//! 4..7 the right-hand ones), byte 1 is reserved, bytes 2..8 hold up to six
//! usage codes of the keys held down now (HID 1.11 appendix B.1; usage codes
//! from the HID Usage Tables, page 0x07 "Keyboard/Keypad"). A report is a
//! state, not an event: a key press is a usage present now and absent from
//! the previous report (Linux: `hid_kbd_event`/`usb_kbd_irq` in
//! drivers/hid/usbhid/usbkbd.c does the same comparison).

use core::fmt;

/// Length of a boot-protocol keyboard input report, in bytes.
pub const REPORT_LEN: usize = 8;

const MOD_CTRL: u8 = 0x01 | 0x10;
const MOD_SHIFT: u8 = 0x02 | 0x20;

/// Usage "ErrorRollOver": too many keys down; the report carries no keys.
const ERROR_ROLL_OVER: u8 = 0x01;
const CAPS_LOCK: u8 = 0x39;

/// Why a report carries no key state. Either way a [`BootKeyboard`] keeps
/// the state of the last good report, so keys held through it do not type
/// again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportError {
    /// Fewer than [`REPORT_LEN`] bytes (a short transfer).
    Short {
        /// Bytes received.
        len: usize,
    },
    /// Usage ErrorRollOver in a key slot: more keys are down than the
    /// report can hold, so it says nothing about which (HID 1.11 B.1).
    RollOver,
}

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportError::Short { len } => {
                write!(f, "boot keyboard report of {len} bytes (needs {REPORT_LEN})")
            }
            ReportError::RollOver => write!(f, "boot keyboard report: too many keys down"),
        }
    }
}

/// One boot-protocol keyboard report: what is held down now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootReport {
    /// Byte 0: modifier bitmap (Ctrl, Shift, Alt, GUI; left in bits 0-3,
    /// right in bits 4-7).
    pub modifiers: u8,
    /// Bytes 2..8: usage codes of the keys down, 0 for an empty slot.
    pub keys: [u8; 6],
}

impl BootReport {
    /// Parses the first [`REPORT_LEN`] bytes of `bytes` (a longer report
    /// carries vendor data after them, which is ignored).
    ///
    /// # Errors
    /// [`ReportError::Short`] for fewer than [`REPORT_LEN`] bytes,
    /// [`ReportError::RollOver`] for a roll-over report.
    pub fn parse(bytes: &[u8]) -> Result<BootReport, ReportError> {
        let Some(&[modifiers, _, k0, k1, k2, k3, k4, k5]) = bytes.first_chunk::<REPORT_LEN>()
        else {
            return Err(ReportError::Short { len: bytes.len() });
        };
        let keys = [k0, k1, k2, k3, k4, k5];
        if keys.contains(&ERROR_ROLL_OVER) {
            return Err(ReportError::RollOver);
        }
        Ok(BootReport { modifiers, keys })
    }
}

/// Turns successive reports into key presses.
#[derive(Debug, Default)]
pub struct BootKeyboard {
    previous: [u8; 6],
    caps_lock: bool,
}

impl BootKeyboard {
    /// A keyboard with no key down and Caps Lock off.
    pub const fn new() -> Self {
        Self { previous: [0; 6], caps_lock: false }
    }

    /// Feeds one report and calls `out` with the ASCII byte of every key
    /// pressed since the previous report (keys with no ASCII meaning, like
    /// arrows or F-keys, produce nothing). A report that does not parse
    /// ([`BootReport::parse`]: shorter than [`REPORT_LEN`], or roll-over)
    /// types nothing and keeps the old state.
    pub fn report(&mut self, report: &[u8], out: impl FnMut(u8)) {
        if let Ok(report) = BootReport::parse(report) {
            self.feed(&report, out);
        }
    }

    /// Feeds one parsed report: as [`BootKeyboard::report`].
    pub fn feed(&mut self, report: &BootReport, mut out: impl FnMut(u8)) {
        let keys = report.keys;
        for &usage in keys.iter().filter(|&&u| u > ERROR_ROLL_OVER) {
            if self.previous.contains(&usage) {
                continue;
            }
            if usage == CAPS_LOCK {
                self.caps_lock = !self.caps_lock;
                continue;
            }
            if let Some(byte) = usage_to_ascii(usage, report.modifiers, self.caps_lock) {
                out(byte);
            }
        }
        self.previous = keys;
    }
}

/// US-layout ASCII for usage `usage` (page 0x07) under `modifiers` (report
/// byte 0) and Caps Lock. Ctrl+letter gives the control code (Ctrl+C = 0x03).
/// Enter gives `\r`, Backspace 0x08, Tab `\t`, Escape 0x1B; the keypad gives
/// its digits and operators whatever Num Lock says. `None`: no ASCII.
pub fn usage_to_ascii(usage: u8, modifiers: u8, caps_lock: bool) -> Option<u8> {
    let shift = modifiers & MOD_SHIFT != 0;
    let ctrl = modifiers & MOD_CTRL != 0;
    let byte = match usage {
        0x04..=0x1D => {
            let lower = b'a' + (usage - 0x04);
            if ctrl {
                return Some(lower & 0x1F);
            }
            if shift != caps_lock { lower.to_ascii_uppercase() } else { lower }
        }
        0x1E..=0x27 => {
            const PLAIN: &[u8; 10] = b"1234567890";
            const SHIFTED: &[u8; 10] = b"!@#$%^&*()";
            let i = usize::from(usage - 0x1E);
            if shift { SHIFTED[i] } else { PLAIN[i] }
        }
        0x28 | 0x58 => b'\r',
        0x29 => 0x1B,
        0x2A => 0x08,
        0x2B => b'\t',
        0x2C => b' ',
        0x2D..=0x38 => {
            // - = [ ] \ (non-US #, treated as \) ; ' ` , . /
            const PLAIN: &[u8; 12] = b"-=[]\\\\;'`,./";
            const SHIFTED: &[u8; 12] = b"_+{}||:\"~<>?";
            let i = usize::from(usage - 0x2D);
            if shift { SHIFTED[i] } else { PLAIN[i] }
        }
        0x4C => 0x7F,
        0x54 => b'/',
        0x55 => b'*',
        0x56 => b'-',
        0x57 => b'+',
        0x59..=0x61 => b'1' + (usage - 0x59),
        0x62 => b'0',
        0x63 => b'.',
        _ => return None,
    };
    Some(byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIFT: u8 = 0x02;
    const A: u8 = 0x04;
    const B: u8 = 0x05;

    fn report(m: u8, keys: &[u8]) -> [u8; 8] {
        let mut r = [0u8; 8];
        r[0] = m;
        r[2..2 + keys.len()].copy_from_slice(keys);
        r
    }

    fn typed(reports: &[&[u8]]) -> Vec<u8> {
        let mut kbd = BootKeyboard::new();
        let mut out = Vec::new();
        for r in reports {
            kbd.report(r, |b| out.push(b));
        }
        out
    }

    #[test]
    fn parses_a_report() {
        let r = BootReport::parse(&report(SHIFT, &[A, B])).unwrap();
        assert_eq!(r, BootReport { modifiers: SHIFT, keys: [A, B, 0, 0, 0, 0] });
        // Vendor bytes after the eighth are ignored.
        let mut long = report(0, &[A]).to_vec();
        long.extend_from_slice(&[0xFF; 8]);
        assert_eq!(BootReport::parse(&long).unwrap().keys, [A, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn malformed_reports() {
        for len in 0..REPORT_LEN {
            assert_eq!(BootReport::parse(&[A; 8][..len]), Err(ReportError::Short { len }));
        }
        assert_eq!(BootReport::parse(&report(0, &[1, 1, 1, 1, 1, 1])), Err(ReportError::RollOver));
        // One roll-over slot is enough (some keyboards fill only one).
        assert_eq!(BootReport::parse(&report(0, &[A, 1])), Err(ReportError::RollOver));
        assert_eq!(
            ReportError::Short { len: 3 }.to_string(),
            "boot keyboard report of 3 bytes (needs 8)"
        );
    }

    #[test]
    fn bad_reports_keep_the_state() {
        // A held key typed once, through a short report and a roll-over.
        let out = typed(&[&report(0, &[A]), &[0, 0, B], &report(0, &[1; 6]), &report(0, &[A])]);
        assert_eq!(out, b"a");
    }

    #[test]
    fn edges_modifiers_and_caps_lock() {
        assert_eq!(typed(&[&report(0, &[A]), &report(0, &[A, B])]), b"ab");
        assert_eq!(typed(&[&report(0, &[A]), &report(0, &[]), &report(0, &[A])]), b"aa");
        assert_eq!(typed(&[&report(SHIFT, &[A])]), b"A");
        assert_eq!(typed(&[&report(0x01, &[0x06])]), [0x03]); // Ctrl+C
        let caps = 0x39;
        assert_eq!(typed(&[&report(0, &[caps]), &report(0, &[A]), &report(SHIFT, &[B])]), b"Ab");
    }
}

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

/// Length of a boot-protocol keyboard input report, in bytes.
pub const REPORT_LEN: usize = 8;

const MOD_CTRL: u8 = 0x01 | 0x10;
const MOD_SHIFT: u8 = 0x02 | 0x20;

/// Usage "ErrorRollOver": too many keys down; the report carries no keys.
const ERROR_ROLL_OVER: u8 = 0x01;
const CAPS_LOCK: u8 = 0x39;

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
    /// arrows or F-keys, produce nothing). Reports shorter than
    /// [`REPORT_LEN`] are ignored; a roll-over report keeps the old state.
    pub fn report(&mut self, report: &[u8], mut out: impl FnMut(u8)) {
        if report.len() < REPORT_LEN {
            return;
        }
        let keys: [u8; 6] = report[2..8].try_into().unwrap();
        if keys.contains(&ERROR_ROLL_OVER) {
            return;
        }
        let modifiers = report[0];
        for &usage in keys.iter().filter(|&&u| u > ERROR_ROLL_OVER) {
            if self.previous.contains(&usage) {
                continue;
            }
            if usage == CAPS_LOCK {
                self.caps_lock = !self.caps_lock;
                continue;
            }
            if let Some(byte) = usage_to_ascii(usage, modifiers, self.caps_lock) {
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

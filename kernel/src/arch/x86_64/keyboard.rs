//! PS/2 keyboard, polled: feeds the same shell as the serial port. On PCs
//! with only USB keyboards this relies on the firmware's legacy (PS/2)
//! emulation; see docs/hardware.md.

use pc_keyboard::{DecodedKey, HandleControl, Keyboard, ScancodeSet1, layouts::Us104Key};
use spin::Mutex;
use x86_64::instructions::port::Port;

const DATA: u16 = 0x60;
const STATUS: u16 = 0x64;
const OUTPUT_FULL: u8 = 1 << 0;
const FROM_MOUSE: u8 = 1 << 5;

/// The controller translates to scancode set 1 by default.
static KEYBOARD: Mutex<Keyboard<Us104Key, ScancodeSet1>> =
    Mutex::new(Keyboard::new(ScancodeSet1::new(), Us104Key, HandleControl::Ignore));

/// One ASCII byte from the keyboard, if a key press produced one.
pub fn read() -> Option<u8> {
    // SAFETY: the 8042 status and data ports; reading data pops one byte.
    let status = unsafe { Port::<u8>::new(STATUS).read() };
    // No controller reads as 0xFF: treat it as "nothing there".
    if status == 0xFF || status & OUTPUT_FULL == 0 {
        return None;
    }
    // SAFETY: as above.
    let byte = unsafe { Port::<u8>::new(DATA).read() };
    if status & FROM_MOUSE != 0 {
        return None;
    }
    let mut kb = KEYBOARD.lock();
    let event = kb.add_byte(byte).ok()??;
    match kb.process_keyevent(event)? {
        DecodedKey::Unicode(c) if c.is_ascii() => Some(c as u8),
        _ => None,
    }
}

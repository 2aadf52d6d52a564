//! PS/2 keyboard, polled: feeds the same shell as the serial port. On PCs
//! with only USB keyboards this relies on the firmware's legacy (PS/2)
//! emulation; see docs/hardware.md.
//!
//! The 8042 controller is set up at boot ([`init`]) rather than used as the
//! firmware left it: some firmware leaves the keyboard's clock disabled,
//! translation off (scancode set 2, which the set-1 decoder misreads) or
//! the keyboard not scanning. Every wait on the controller is bounded, and a
//! controller that reads 0xFF (none there) is left alone.

use pc_keyboard::{DecodedKey, HandleControl, Keyboard, ScancodeSet1, layouts::Us104Key};
use spin::Mutex;
use x86_64::instructions::port::Port;

const DATA: u16 = 0x60;
const STATUS: u16 = 0x64;
const OUTPUT_FULL: u8 = 1 << 0;
const INPUT_FULL: u8 = 1 << 1;
const FROM_MOUSE: u8 = 1 << 5;
/// Controller commands (port 0x64).
const READ_CONFIG: u8 = 0x20;
const WRITE_CONFIG: u8 = 0x60;
const DISABLE_PORT2: u8 = 0xA7;
const DISABLE_PORT1: u8 = 0xAD;
const ENABLE_PORT1: u8 = 0xAE;
/// Configuration byte: port 1 and 2 interrupts (the kernel polls), port 1
/// clock disabled, translation to scancode set 1.
const CONFIG_IRQS: u8 = 0b11;
const CONFIG_PORT1_CLOCK_OFF: u8 = 1 << 4;
const CONFIG_TRANSLATE: u8 = 1 << 6;
/// Keyboard command: enable scanning; answered with ACK (0xFA).
const ENABLE_SCANNING: u8 = 0xF4;
/// Status polls before a controller counts as not answering: a byte takes
/// about a millisecond on the PS/2 wire, a port read 0.5-1 us.
const POLLS: u32 = 100_000;

fn status() -> u8 {
    // SAFETY: the 8042 status port; reading it has no side effects.
    unsafe { Port::<u8>::new(STATUS).read() }
}

/// Writes `byte` to `port` once the controller's input buffer is empty.
fn send(port: u16, byte: u8) -> Option<()> {
    (0..POLLS).find(|_| status() & INPUT_FULL == 0)?;
    // SAFETY: the 8042's command or data port; the caller sends a command
    // the controller or keyboard defines.
    unsafe { Port::<u8>::new(port).write(byte) };
    Some(())
}

/// The next byte from the controller, if one arrives in time.
fn receive() -> Option<u8> {
    (0..POLLS).find(|_| status() & OUTPUT_FULL != 0)?;
    // SAFETY: the 8042 data port; reading pops the byte the status announced.
    Some(unsafe { Port::<u8>::new(DATA).read() })
}

/// Sets up the 8042 for a polled keyboard (see the module doc). Returns
/// what went wrong, for the boot log; `Ok` also when there is no controller.
pub fn init() -> Result<(), &'static str> {
    if status() == 0xFF {
        return Ok(());
    }
    send(STATUS, DISABLE_PORT1).ok_or("8042 does not take commands")?;
    send(STATUS, DISABLE_PORT2).ok_or("8042 does not take commands")?;
    // Drop what the firmware left in the output buffer.
    for _ in 0..16 {
        if status() & OUTPUT_FULL == 0 {
            break;
        }
        // SAFETY: as in `receive`.
        let _ = unsafe { Port::<u8>::new(DATA).read() };
    }
    send(STATUS, READ_CONFIG).ok_or("8042 does not take commands")?;
    let config = receive().ok_or("8042 gave no configuration byte")?;
    let config = (config & !(CONFIG_IRQS | CONFIG_PORT1_CLOCK_OFF)) | CONFIG_TRANSLATE;
    send(STATUS, WRITE_CONFIG).ok_or("8042 does not take commands")?;
    send(DATA, config).ok_or("8042 does not take commands")?;
    send(STATUS, ENABLE_PORT1).ok_or("8042 does not take commands")?;
    send(DATA, ENABLE_SCANNING).ok_or("keyboard does not take commands")?;
    // No keyboard plugged in: no ACK, and the shell still polls the port.
    match receive() {
        Some(0xFA) | None => Ok(()),
        Some(_) => Err("keyboard did not acknowledge 'enable scanning'"),
    }
}

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

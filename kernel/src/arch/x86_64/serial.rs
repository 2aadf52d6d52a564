//! COM1 (16550 UART at I/O port 0x3F8): the console on QEMU and on PCs with a
//! serial header. Most laptops and many desktops have none, and there every
//! read of the port returns 0xFF: the line status then claims "byte waiting"
//! and "transmitter empty" for ever, so a driver that trusts it reads 0xFF
//! bytes without end. [`init`] therefore proves the UART is there before it
//! is used, and every function here does nothing when it is not.
//!
//! The port object is just the base address, so every writer makes its own;
//! serialising whole lines is the console's job.

use core::sync::atomic::{AtomicBool, Ordering};

use uart_16550::SerialPort;
use x86_64::instructions::port::Port;

const COM1: u16 = 0x3F8;
/// Modem control register; bit 4 = loopback.
const MCR: u16 = COM1 + 4;
/// Line status register; bit 0 = data ready. 0xFF when nothing decodes the port.
const LSR: u16 = COM1 + 5;
/// Scratch register: plain storage on every 16450/16550, so it reads back
/// what was written only where a UART exists.
const SCR: u16 = COM1 + 7;
/// MCR values: loopback with OUT1/OUT2/RTS set, and normal operation (what
/// `uart_16550`'s init sets).
const MCR_LOOPBACK: u8 = 0x1E;
const MCR_NORMAL: u8 = 0x0B;
/// Polls of the line status before a loopback byte counts as lost. A byte
/// takes ~87 us at 115200 baud, and in loopback the chip echoes it at once;
/// a port read is ~0.5-1 us on PCs, so this is well over a millisecond there
/// and bounds the wait when the chip never answers.
const LOOPBACK_POLLS: u32 = 100_000;

/// Whether [`init`] found a working UART. Written once by the boot CPU before
/// any other CPU starts (their start-up orders it); Relaxed everywhere.
static PRESENT: AtomicBool = AtomicBool::new(false);

fn port() -> SerialPort {
    // SAFETY: 0x3F8 is COM1 on every PC and in QEMU; the port only does I/O to
    // the UART's eight registers, which decode to nothing on a PC without one.
    unsafe { SerialPort::new(COM1) }
}

fn read(reg: u16) -> u8 {
    // SAFETY: `reg` is one of COM1's registers; reading them has no effect
    // beyond the UART (or none at all when there is no UART).
    unsafe { Port::<u8>::new(reg).read() }
}

fn write(reg: u16, value: u8) {
    // SAFETY: as `read`; callers write only the scratch and modem control
    // registers, which change nothing outside the UART.
    unsafe { Port::<u8>::new(reg).write(value) }
}

/// Probes for the UART (scratch register, line status, a loopback byte) and
/// sets it up when it is there. Without one, the console is the screen only.
pub fn init() {
    let scratch_ok = [0x5A, 0xA5].iter().all(|&v| {
        write(SCR, v);
        read(SCR) == v
    });
    if !scratch_ok || read(LSR) == 0xFF {
        return;
    }
    port().init();
    let echoed = loopback(0xAE) == Some(0xAE);
    PRESENT.store(echoed, Ordering::Relaxed);
}

/// Whether COM1 answered at boot.
pub fn present() -> bool {
    PRESENT.load(Ordering::Relaxed)
}

pub fn console_write(bytes: &[u8]) {
    if !present() {
        return;
    }
    let mut p = port();
    for &b in bytes {
        p.send(b);
    }
}

pub fn console_read() -> Option<u8> {
    if !present() {
        return None;
    }
    port().try_receive().ok()
}

/// One byte through the chip in loopback mode, every wait bounded.
fn loopback(byte: u8) -> Option<u8> {
    let mut p = port();
    // Drain what is pending so we read our own byte back; a chip that keeps
    // reporting data (a stuck or absent UART) is not drained for ever.
    for _ in 0..64 {
        if read(LSR) & 1 == 0 {
            break;
        }
        let _ = p.try_receive();
    }
    write(MCR, MCR_LOOPBACK);
    let sent = (0..LOOPBACK_POLLS).any(|_| p.try_send_raw(byte).is_ok());
    let got = if sent { (0..LOOPBACK_POLLS).find_map(|_| p.try_receive().ok()) } else { None };
    write(MCR, MCR_NORMAL);
    got
}

/// Sends `byte` with the UART in loopback mode and returns what it received.
/// Used by the console test to prove the UART answers; the caller's output is
/// paused meanwhile (bytes sent in loopback never leave the chip).
pub fn serial_loopback(byte: u8) -> Option<u8> {
    if !present() {
        return None;
    }
    crate::console::with_console_locked(|| loopback(byte))
}

/// The 16550's loopback (MCR bit 4) works on PCs and in QEMU; a PC without a
/// UART at 0x3F8 is the one reason to skip.
pub fn serial_loopback_unsupported() -> Option<&'static str> {
    if present() { None } else { Some("no UART at 0x3F8 (this PC has no serial port)") }
}

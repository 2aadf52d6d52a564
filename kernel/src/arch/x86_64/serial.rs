//! COM1 (16550 UART at I/O port 0x3F8): the console on QEMU and on PCs with a
//! serial header. The port object is just the base address, so every writer
//! makes its own; serialising whole lines is the console's job.

use uart_16550::SerialPort;
use x86_64::instructions::port::Port;

const COM1: u16 = 0x3F8;
/// Modem control register; bit 4 = loopback.
const MCR: u16 = COM1 + 4;

fn port() -> SerialPort {
    // SAFETY: 0x3F8 is COM1 on every PC and in QEMU; the port only does I/O to
    // the UART's eight registers.
    unsafe { SerialPort::new(COM1) }
}

pub fn init() {
    port().init();
}

pub fn console_write(bytes: &[u8]) {
    let mut p = port();
    for &b in bytes {
        p.send(b);
    }
}

pub fn console_read() -> Option<u8> {
    port().try_receive().ok()
}

/// Sends `byte` with the UART in loopback mode and returns what it received.
/// Used by the console test to prove the UART answers; the caller's output is
/// paused meanwhile (bytes sent in loopback never leave the chip).
pub fn serial_loopback(byte: u8) -> Option<u8> {
    crate::console::with_console_locked(|| {
        let mut mcr: Port<u8> = Port::new(MCR);
        let mut p = port();
        // Drain anything pending so we read our own byte back.
        while p.try_receive().is_ok() {}
        // SAFETY: MCR is the UART's modem control register; 0x1E = loopback
        // with OUT1/OUT2/RTS set, 0x0B = normal operation (what init() sets).
        unsafe { mcr.write(0x1E) };
        p.send_raw(byte);
        let mut got = None;
        for _ in 0..100_000 {
            if let Ok(b) = p.try_receive() {
                got = Some(b);
                break;
            }
        }
        // SAFETY: as above, back to normal operation.
        unsafe { mcr.write(0x0B) };
        got
    })
}

/// The 16550's loopback (MCR bit 4) works on PCs and in QEMU: never a reason to skip.
pub fn serial_loopback_unsupported() -> Option<&'static str> {
    None
}

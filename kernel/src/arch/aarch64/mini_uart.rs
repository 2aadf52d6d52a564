//! The Raspberry Pi's mini UART (`brcm,bcm2835-aux-uart`), the console on
//! GPIO 14/15 that the Pi 4's own device tree names in `stdout-path`.
//!
//! Its registers are a 16550's, one per 32-bit word (Linux drives it with
//! the 8250 driver, `reg-shift = 2`): the node's `reg` starts at AUX_MU_IO.
//! The firmware (`enable_uart=1`) has already enabled it and set its baud
//! rate, which follows the VPU clock; the kernel keeps both and only polls
//! the line status register. No interrupts, no loopback (the mini UART has
//! no loopback mode that QEMU models).

use super::mmio::{read32, write32};

/// Transmit / receive data (AUX_MU_IO_REG).
const IO: u64 = 0x00;
/// Line status (AUX_MU_LSR_REG).
const LSR: u64 = 0x14;
/// LSR: a received byte waits in IO.
const LSR_DATA_READY: u32 = 1 << 0;
/// LSR: the transmitter can take a byte.
const LSR_TX_EMPTY: u32 = 1 << 5;

/// Sends one byte, waiting until the transmitter has room.
pub fn put(base: u64, byte: u8) {
    while read32(base + LSR) & LSR_TX_EMPTY == 0 {
        core::hint::spin_loop();
    }
    write32(base + IO, u32::from(byte));
}

/// Sends one byte, polling the transmitter at most `polls` times; false
/// (nothing written) when it never had room.
pub fn try_put(base: u64, byte: u8, polls: u32) -> bool {
    for _ in 0..polls {
        if read32(base + LSR) & LSR_TX_EMPTY != 0 {
            write32(base + IO, u32::from(byte));
            return true;
        }
        core::hint::spin_loop();
    }
    false
}

/// A received byte, if one is waiting.
pub fn get(base: u64) -> Option<u8> {
    (read32(base + LSR) & LSR_DATA_READY != 0).then(|| read32(base + IO) as u8)
}

//! The console: an Arm PL011 UART, found by its DTB compatible string
//! (`arm,pl011`) and reached through the physical-memory window; or, when
//! the DTB's `stdout-path` names it, the Raspberry Pi's mini UART, whose
//! register accesses are in `mini_uart.rs` (this module keeps the one
//! console state and dispatches).
//!
//! Polled, no interrupts. If the firmware already enabled the UART (U-Boot
//! does), its line settings are kept; otherwise 8N1 with FIFOs is set (the
//! baud rate is whatever the divisors hold: QEMU ignores it).

use super::mmio::{read32, write32};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

const DR: u64 = 0x00;
const FR: u64 = 0x18;
const LCR_H: u64 = 0x2C;
const CR: u64 = 0x30;
const IMSC: u64 = 0x38;
const ICR: u64 = 0x44;

const FR_BUSY: u32 = 1 << 3;
const FR_RXFE: u32 = 1 << 4;
const FR_TXFF: u32 = 1 << 5;
const LCR_FEN: u32 = 1 << 4;
const LCR_WLEN8: u32 = 0b11 << 5;
const CR_UARTEN: u32 = 1 << 0;
const CR_LBE: u32 = 1 << 7;
const CR_TXE: u32 = 1 << 8;
const CR_RXE: u32 = 1 << 9;

/// Virtual address of the registers; 0 until `init` (writes are dropped).
/// Set once by the boot CPU before any other CPU runs.
static BASE: AtomicU64 = AtomicU64::new(0);
/// The DTB says this is QEMU's `virt` machine, whose PL011 model (QEMU 7.2
/// here) ignores UARTCR.LBE: a looped-back byte goes out on the line instead.
static QEMU_VIRT: AtomicBool = AtomicBool::new(false);
/// The console is the mini UART (`init_mini`), not a PL011. Set once by the
/// boot CPU with [`BASE`], before any other CPU runs.
static MINI: AtomicBool = AtomicBool::new(false);

/// Notes the machine's DTB root `compatible` strings (`linux,dummy-virt` = QEMU virt).
pub fn set_machine(qemu_virt: bool) {
    QEMU_VIRT.store(qemu_virt, Ordering::Relaxed);
}

/// Why a failed [`serial_loopback`] says nothing about the UART here, if
/// that is so: QEMU's `virt` PL011 does not emulate loopback (checked on
/// QEMU 7.2: the byte is transmitted, nothing is received; later QEMU
/// releases added it, so the loopback is still tried first).
pub fn serial_loopback_unsupported() -> Option<&'static str> {
    if MINI.load(Ordering::Relaxed) {
        return Some(
            "the console is the Raspberry Pi's mini UART, which has no loopback mode here",
        );
    }
    QEMU_VIRT
        .load(Ordering::Relaxed)
        .then_some("QEMU virt's PL011 model does not emulate UARTCR.LBE loopback (QEMU 7.2)")
}

/// The registers' virtual address, once `init` ran.
pub fn base() -> Option<u64> {
    match BASE.load(Ordering::Relaxed) {
        0 => None,
        b => Some(b),
    }
}

/// Starts using the PL011 whose registers are mapped at `va`.
pub fn init(va: u64) {
    let cr = read32(va + CR);
    write32(va + IMSC, 0);
    write32(va + ICR, 0x7FF);
    if cr & CR_UARTEN == 0 {
        write32(va + LCR_H, LCR_WLEN8 | LCR_FEN);
    }
    write32(va + CR, (cr & !CR_LBE) | CR_UARTEN | CR_TXE | CR_RXE);
    MINI.store(false, Ordering::Relaxed);
    BASE.store(va, Ordering::Relaxed);
}

/// Starts using the mini UART whose registers (from AUX_MU_IO) are mapped
/// at `va` as the console, as the firmware set it up (`mini_uart.rs`).
pub fn init_mini(va: u64) {
    MINI.store(true, Ordering::Relaxed);
    BASE.store(va, Ordering::Relaxed);
}

fn put(base: u64, byte: u8) {
    while read32(base + FR) & FR_TXFF != 0 {
        core::hint::spin_loop();
    }
    write32(base + DR, u32::from(byte));
}

/// Sends one byte to the PL011 at `va` (after [`init`]), polling the
/// transmit FIFO at most `polls` times; false (nothing written) when it
/// never had room. No console state is used.
pub fn try_put(va: u64, byte: u8, polls: u32) -> bool {
    for _ in 0..polls {
        if read32(va + FR) & FR_TXFF == 0 {
            write32(va + DR, u32::from(byte));
            return true;
        }
        core::hint::spin_loop();
    }
    false
}

pub fn console_write(bytes: &[u8]) {
    let Some(base) = base() else { return };
    let mini = MINI.load(Ordering::Relaxed);
    for &b in bytes {
        if mini {
            super::mini_uart::put(base, b);
        } else {
            put(base, b);
        }
    }
}

pub fn console_read() -> Option<u8> {
    let base = base()?;
    if MINI.load(Ordering::Relaxed) {
        return super::mini_uart::get(base);
    }
    if read32(base + FR) & FR_RXFE != 0 {
        return None;
    }
    Some(read32(base + DR) as u8)
}

/// Sends `byte` with the UART in loopback mode (UARTCR.LBE: the transmitter
/// feeds the receiver inside the chip) and returns what came back. The
/// console is locked meanwhile, so no other output is swallowed.
pub fn serial_loopback(byte: u8) -> Option<u8> {
    let base = base()?;
    if MINI.load(Ordering::Relaxed) {
        return None;
    }
    crate::console::with_console_locked(|| {
        // Let pending output leave before the transmitter is looped back.
        while read32(base + FR) & FR_BUSY != 0 {
            core::hint::spin_loop();
        }
        while console_read().is_some() {}
        let cr = read32(base + CR);
        write32(base + CR, cr | CR_LBE);
        put(base, byte);
        let mut got = None;
        let deadline = super::cpu::read_cycles() + 100_000 * super::cpu::cycles_per_us();
        while super::cpu::read_cycles() < deadline {
            if let Some(b) = console_read() {
                got = Some(b);
                break;
            }
        }
        while read32(base + FR) & FR_BUSY != 0 {
            core::hint::spin_loop();
        }
        write32(base + CR, cr);
        // QEMU 10's PL011 loops the byte back *and* sends it out on the line
        // (real PL011s hold TXD idle under LBE). The console test therefore
        // sends printable bytes only, at the end of one KTAP diagnostic line
        // it prints itself (kernel/src/tests/console.rs), so a leaked byte
        // stays inside that line; nothing is added here.
        got
    })
}

/// Writes a message with no lock and no atomics (for the check that runs
/// before the CPU is known to have the atomics this image uses).
pub fn early_write(s: &str) {
    console_write(s.as_bytes());
}

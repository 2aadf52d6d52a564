//! The UARTs the kernel knows without a device tree, for one purpose: to
//! say why the boot stops when the DTB cannot name the console (a blob
//! that does not parse, one without a usable UART, or one whose
//! `stdout-path` is broken, so the DTB's UART is only a guess). Never used
//! while the DTB's `stdout-path` names a usable console.
//!
//! Each entry says which board it belongs to, where its UART lies, what
//! kind it is and how the boot recognises the board without the DTB. Every
//! entry of the recognised board whose check passes gets the message (a
//! board may have its console on either of two UARTs). Before a byte is
//! written the UART must identify itself, so a wrong guess reads a few
//! device registers and writes nothing:
//!
//! - a PL011: its PrimeCell identification registers must read as a PL011
//!   (`UARTPeriphID0..1`, `UARTPCellID0..3`);
//! - the Raspberry Pi's mini UART (`mini_uart.rs`): the AUX block's
//!   `AUX_ENABLES` must have the mini UART's enable bit (bit 0) set and its
//!   reserved bits (31:3) clear, and `AUX_MU_IIR` its two FIFO-enable bits
//!   (7:6, which always read as 1: BCM2835 ARM Peripherals, 2.2.2).
//!
//! Writes poll the transmitter a bounded number of times, so a UART that
//! never drains cannot keep the boot from ending.
//!
//! - **QEMU `virt`**: PL011 at 0x0900_0000; recognised by where the loader
//!   put the image: `virt`'s RAM starts at 1 GiB and `-kernel` loads the
//!   Image 2 MiB above that, so an image in [1 GiB, 4 GiB) is taken as
//!   `virt` (then the ID check decides).
//! - **Raspberry Pi 4** (BCM2711, low peripheral mode): the mini UART at
//!   0xFE21_5040 (the board's default console on GPIO 14/15) and the PL011
//!   (UART0) at 0xFE20_1000. Recognised by the CPU and the load address:
//!   `MIDR_EL1` says Arm Cortex-A72 (implementer 0x41, part 0xD08) and the
//!   image lies below 1 GiB (the Pi's RAM starts at 0; its firmware and
//!   QEMU `raspi4b` load the image at 0x8_0000 or 0x20_0000). Other
//!   Cortex-A72 boards with RAM at 0 match too (e.g. Marvell Armada 8K, a
//!   RK3399 booted on its A72 cluster); there the ID and enable checks
//!   decide: a read of an address with no device behind it may abort, on a
//!   boot that was stopping anyway, and nothing is written unless a check
//!   passed. A Pi 4 in high peripheral mode (`arm_peri_high=1`) has RAM at
//!   those addresses; the checks then almost surely fail, and a write that
//!   slips through lands in RAM the stopping kernel does not use.

use super::mmio::read32;

/// The register interface of a [`KnownUart`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An Arm PL011 (`pl011.rs`); the address is its 4 KiB register page.
    Pl011,
    /// The Raspberry Pi's mini UART (`mini_uart.rs`); the address is its
    /// AUX_MU_IO register, 0x40 into the AUX block.
    MiniUart,
}

impl Kind {
    /// For the message.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Pl011 => "PL011",
            Kind::MiniUart => "mini UART",
        }
    }
}

/// A UART known without the DTB.
pub struct KnownUart {
    /// The board, for the message.
    pub board: &'static str,
    /// What kind of UART it is.
    pub kind: Kind,
    /// Physical address of its registers (see [`Kind`]).
    pub base: u64,
    /// Whether this boot looks like that board, from the image's physical
    /// load address and the CPU's ID registers (no DTB, no MMIO access).
    pub applies: fn(kernel_phys: u64) -> bool,
}

/// Tried in order; every entry that applies and whose UART identifies
/// itself ([`identifies`]) gets the message.
pub static KNOWN_UARTS: &[KnownUart] = &[
    KnownUart { board: "QEMU virt", kind: Kind::Pl011, base: 0x0900_0000, applies: qemu_virt },
    KnownUart {
        board: "Raspberry Pi 4",
        kind: Kind::MiniUart,
        base: 0xFE21_5040,
        applies: raspberry_pi_4,
    },
    KnownUart {
        board: "Raspberry Pi 4",
        kind: Kind::Pl011,
        base: 0xFE20_1000,
        applies: raspberry_pi_4,
    },
];

fn qemu_virt(kernel_phys: u64) -> bool {
    (0x4000_0000..0x1_0000_0000).contains(&kernel_phys)
}

/// A Raspberry Pi 4 (BCM2711): a Cortex-A72 with the image below 1 GiB.
fn raspberry_pi_4(kernel_phys: u64) -> bool {
    use aarch64_cpu::registers::{MIDR_EL1, Readable};
    let midr = MIDR_EL1.get();
    let implementer = (midr >> 24) & 0xFF;
    let part = (midr >> 4) & 0xFFF;
    implementer == 0x41 && part == 0xD08 && kernel_phys < 0x4000_0000
}

/// The candidates for this boot: those whose `applies` holds.
pub fn candidates(kernel_phys: u64) -> impl Iterator<Item = &'static KnownUart> {
    KNOWN_UARTS.iter().filter(move |u| (u.applies)(kernel_phys))
}

/// The 4 KiB page (start, end) holding the UART registers at physical `base`.
pub fn page(base: u64) -> (u64, u64) {
    let start = base & !0xFFF;
    (start, start + 0x1000)
}

/// True when the UART of `kind` whose registers are mapped at `va` (the
/// virtual address of `base`) identifies itself as one.
pub fn identifies(kind: Kind, va: u64) -> bool {
    match kind {
        Kind::Pl011 => is_pl011(va),
        Kind::MiniUart => is_mini_uart(va),
    }
}

/// True when the PL011 registers mapped at `va` identify as a PL011:
/// UARTPeriphID0/1 (0xFE0, 0xFE4) = 0x11, 0x10 (part 0x011, designer Arm)
/// and UARTPCellID0-3 (0xFF0-0xFFC) = 0x0D, 0xF0, 0x05, 0xB1 (PL011 TRM,
/// 3.3.11-3.3.14).
pub fn is_pl011(va: u64) -> bool {
    [(0xFE0, 0x11), (0xFE4, 0x10), (0xFF0, 0x0D), (0xFF4, 0xF0), (0xFF8, 0x05), (0xFFC, 0xB1)]
        .iter()
        .all(|&(off, want)| read32(va + off) & 0xFF == want)
}

/// True when the mini UART whose AUX_MU_IO register is mapped at `va`
/// looks enabled: AUX_ENABLES (AUX base + 4, i.e. `va - 0x3C`) has bit 0
/// set and bits 31:3 clear, and AUX_MU_IIR (`va + 8`) reads bits 7:6 as 1.
pub fn is_mini_uart(va: u64) -> bool {
    let enables = read32(va - 0x40 + 0x04);
    let iir = read32(va + 0x08);
    enables & 1 == 1 && enables & !0x7 == 0 && iir & 0xC0 == 0xC0
}

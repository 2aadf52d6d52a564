//! The UARTs the kernel knows without a device tree, for one purpose: to
//! say why the boot stops when the DTB cannot name the console (a blob
//! that does not parse, or one without a usable PL011). Never used while
//! the DTB names a console.
//!
//! Each entry says which board it belongs to, where its PL011 lies and how
//! the boot recognises the board without the DTB. Before a byte is written
//! the PL011's PrimeCell identification registers must read as a PL011
//! (`UARTPeriphID0..1`, `UARTPCellID0..3`), so a wrong guess reads four
//! device registers and writes nothing.
//!
//! - **QEMU `virt`**: PL011 at 0x0900_0000; recognised by where the loader
//!   put the image: `virt`'s RAM starts at 1 GiB and `-kernel` loads the
//!   Image 2 MiB above that, so an image in [1 GiB, 4 GiB) is taken as
//!   `virt` (then the ID check decides).
//! - **Raspberry Pi 4**: PL011 (UART0) at 0xFE20_1000 (BCM2711 low
//!   peripheral mode). Not recognised yet: [`raspberry_pi_4`] is the hook
//!   for the board support to fill in (e.g. RAM at 0 and MIDR Cortex-A72).

use core::ptr::read_volatile;

/// A UART known without the DTB.
pub struct KnownUart {
    /// The board, for the message.
    pub board: &'static str,
    /// Physical address of its PL011's registers (4 KiB).
    pub pl011: u64,
    /// Whether this boot looks like that board, from the image's physical
    /// load address (no DTB, no MMIO access).
    pub applies: fn(kernel_phys: u64) -> bool,
}

/// Tried in order; the first that applies and whose ID registers read as a
/// PL011 is used.
pub static KNOWN_UARTS: &[KnownUart] = &[
    KnownUart { board: "QEMU virt", pl011: 0x0900_0000, applies: qemu_virt },
    KnownUart { board: "Raspberry Pi 4", pl011: 0xFE20_1000, applies: raspberry_pi_4 },
];

fn qemu_virt(kernel_phys: u64) -> bool {
    (0x4000_0000..0x1_0000_0000).contains(&kernel_phys)
}

/// Hook for Raspberry Pi 4 board support: true when this boot is on one.
fn raspberry_pi_4(_kernel_phys: u64) -> bool {
    false
}

/// The candidates for this boot: those whose `applies` holds.
pub fn candidates(kernel_phys: u64) -> impl Iterator<Item = &'static KnownUart> {
    KNOWN_UARTS.iter().filter(move |u| (u.applies)(kernel_phys))
}

/// True when the PL011 registers mapped at `va` identify as a PL011:
/// UARTPeriphID0/1 (0xFE0, 0xFE4) = 0x11, 0x10 (part 0x011, designer Arm)
/// and UARTPCellID0-3 (0xFF0-0xFFC) = 0x0D, 0xF0, 0x05, 0xB1 (PL011 TRM,
/// 3.3.11-3.3.14).
pub fn is_pl011(va: u64) -> bool {
    let reg = |off: u64| {
        // SAFETY: the caller mapped the UART's 4 KiB page as a device at
        // `va`; these are read-only ID registers without side effects.
        unsafe { read_volatile((va + off) as *const u32) & 0xFF }
    };
    [(0xFE0, 0x11), (0xFE4, 0x10), (0xFF0, 0x0D), (0xFF4, 0xF0), (0xFF8, 0x05), (0xFFC, 0xB1)]
        .iter()
        .all(|&(off, want)| reg(off) == want)
}

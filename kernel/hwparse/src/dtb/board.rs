//! The Raspberry Pi's own devices the kernel drives, found by their
//! `compatible` strings and translated to CPU addresses (module `bus`):
//! the VideoCore mailbox (framebuffer) and the power-management watchdog
//! (reset and power-off). Both are absent on QEMU `virt`.

use fdt::Fdt;
use fdt::node::FdtNode;

use super::bus;
use super::facts::enabled;

/// The first enabled node with compatible string `compat`.
fn first_compatible<'b, 'a>(fdt: &'b Fdt<'a>, compat: &[&str]) -> Option<FdtNode<'b, 'a>> {
    fdt.all_nodes().find(|&n| {
        enabled(n) && n.compatible().is_some_and(|c| c.all().any(|s| compat.contains(&s)))
    })
}

/// Board devices, as CPU physical `(start, end)` ranges of their registers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BoardDevices {
    /// The VideoCore mailbox (`brcm,bcm2835-mbox`): the firmware's property
    /// channel, through which the framebuffer is allocated.
    pub mailbox: Option<(u64, u64)>,
    /// How the mailbox's bus sees CPU memory ([`bus::dma_window`]):
    /// `(cpu_start, cpu_end, bus_start)`; a message's address is passed as
    /// the VideoCore sees it.
    pub mailbox_dma: Option<(u64, u64, u64)>,
    /// The power-management block with the watchdog (`brcm,bcm2835-pm-wdt`
    /// or `brcm,bcm2711-pm`, first `reg`: PM_RSTC at 0x1c, PM_RSTS at 0x20,
    /// PM_WDOG at 0x24).
    pub pm: Option<(u64, u64)>,
}

/// Finds the board devices (each `None` when absent, disabled, or its `reg`
/// cannot be translated to a CPU address).
pub fn board_devices(fdt: &Fdt<'_>) -> BoardDevices {
    let regs = |compat: &[&str]| {
        first_compatible(fdt, compat).and_then(|n| bus::reg_cpu(fdt, n, 0, 0x1000))
    };
    let mbox = first_compatible(fdt, &["brcm,bcm2835-mbox"]);
    BoardDevices {
        mailbox: regs(&["brcm,bcm2835-mbox"]),
        mailbox_dma: mbox.and_then(|n| bus::dma_window(fdt, n)),
        pm: regs(&["brcm,bcm2835-pm-wdt", "brcm,bcm2711-pm", "brcm,bcm2835-pm"]),
    }
}

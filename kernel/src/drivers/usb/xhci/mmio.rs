//! The controller's registers: BAR 0, mapped once, reached through the
//! `xhci` crate's typed accessors.
//!
//! The `xhci` crate wants an `accessor::Mapper` that "maps" each register
//! block it touches. Mapping per access would cost a page-table update per
//! register read, so [`Mmio`] maps the whole BAR once (uncacheable, through
//! the platform's [`map_mmio`]) and its `map` is an offset into that
//! mapping, with a bounds check: a register outside the BAR is a driver bug
//! and panics rather than touching whatever lies beyond.
//!
//! PORTSC gets its own helpers because its write-1-to-clear bits make a
//! naive read-modify-write disable the port or drop change bits
//! ([`Controller::update_portsc`]).

use core::num::NonZeroUsize;

use xhci::accessor::{Mapper, single};
use xhci::registers::operational::PortStatusAndControlRegister;

use super::controller::Controller;
use crate::arch::x86_64_platform;

/// Maps `len` bytes of device registers at physical address `phys` and
/// returns their virtual address: the USB driver's only way to its BARs,
/// called once per controller for the whole BAR 0. It is the platform's
/// uncacheable MMIO mapping ([`x86_64_platform::map_mmio`]: 4 KiB pages,
/// PCD|PWT, no-execute), so BARs that firmware placed above the bootloader's
/// physical-memory window (OVMF puts them at e.g. 0xE0_0000_0000) are
/// reachable too.
///
/// # Panics
/// As [`x86_64_platform::map_mmio`]: an empty or wrapping range, or no room
/// left for another MMIO range.
pub fn map_mmio(phys: u64, len: usize) -> *mut u8 {
    x86_64_platform::map_mmio(phys, len)
}

/// One controller's BAR 0 as [`map_mmio`] mapped it; the `accessor::Mapper`
/// that the `xhci` crate's register accessors use (they "map" each register
/// block: here an offset into the BAR, so no mapping is made per access).
#[derive(Clone, Copy, Debug)]
pub(super) struct Mmio {
    /// Physical address of BAR 0.
    pub(super) phys: u64,
    /// Its virtual address, from `map_mmio`.
    pub(super) virt: usize,
    /// Its size in bytes.
    pub(super) len: u64,
}

impl Mmio {
    /// Virtual address of register byte `phys` (inside BAR 0, else a panic:
    /// a register outside the BAR is a driver bug).
    pub(super) fn virt(&self, phys: u64, bytes: usize) -> usize {
        let offset = phys.wrapping_sub(self.phys);
        assert!(
            phys >= self.phys && offset + bytes as u64 <= self.len,
            "xHCI register {phys:#x}+{bytes} outside BAR0 {:#x}+{:#x}",
            self.phys,
            self.len
        );
        self.virt + offset as usize
    }
}

impl Mapper for Mmio {
    unsafe fn map(&mut self, phys_start: usize, bytes: usize) -> NonZeroUsize {
        NonZeroUsize::new(self.virt(phys_start as u64, bytes)).expect("BAR0 mapped at 0")
    }

    fn unmap(&mut self, _virt_start: usize, _bytes: usize) {}
}

impl Controller {
    /// PORTSC of root port `port` (1-based), as a 32-bit register (ports
    /// accept only dword accesses).
    pub(super) fn portsc(&self, port: u8) -> single::ReadWrite<PortStatusAndControlRegister, Mmio> {
        let caplength = u64::from(self.regs.capability.caplength.read_volatile().get());
        let addr = self.mmio.phys + caplength + 0x400 + 0x10 * u64::from(port - 1);
        // SAFETY: PORTSC of an existing port of this controller (xHCI 5.4.8).
        unsafe { single::ReadWrite::new(addr as usize, self.mmio) }
    }

    /// Writes PORTSC with `f` applied, never clearing PED or a change bit by
    /// accident (they are write-1-to-clear).
    pub(super) fn update_portsc(
        &self,
        port: u8,
        f: impl FnOnce(&mut PortStatusAndControlRegister),
    ) {
        let mut reg = self.portsc(port);
        reg.update_volatile(|p| {
            p.set_0_port_enabled_disabled();
            p.set_0_connect_status_change();
            p.set_0_port_enabled_disabled_change();
            p.set_0_warm_port_reset_change();
            p.set_0_over_current_change();
            p.set_0_port_reset_change();
            p.set_0_port_link_state_change();
            p.set_0_port_config_error_change();
            f(p);
        });
    }
}

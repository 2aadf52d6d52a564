//! One addressed device, on a root port or behind hubs: where it is, its
//! slot, its endpoint 0 ring and the pages its commands and control
//! transfers use.
//!
//! Every device keeps three pages of its own (EP0 transfer ring, input
//! context, descriptor buffer) plus the output context the controller owns,
//! even when it is not a keyboard: the controller keeps the slot enabled, so
//! the memory it may still write stays allocated. The input context is
//! rebuilt from zero before each command that reads it, so no field of an
//! earlier command leaks into the next.

use core::fmt;

use xhci::context::{Input32Byte, Input64Byte, InputHandler, SlotHandler};

use super::PAGE;
use super::dma::Dma;
use super::keyboard::KeyboardEndpoint;
use super::ring::Ring;

/// Hubs allowed between the root port and a device (USB 2.0 4.1.1: five
/// non-root tiers; xHCI's Route String holds five 4-bit port numbers).
pub(super) const MAX_HUB_TIERS: usize = 5;

/// Where a device is: its root hub port and the hub ports on the way to
/// it, plus the transaction translator a low/full-speed device behind a
/// high-speed hub is reached through (xHCI 4.3.3, 6.2.2).
#[derive(Clone, Copy, Debug)]
pub(super) struct Location {
    pub(super) root_port: u8,
    /// Hub port numbers, tier by tier; `depth` of them count.
    ports: [u8; MAX_HUB_TIERS],
    depth: usize,
    /// TT Hub Slot ID and TT Port Number, when there is a TT.
    pub(super) tt: Option<(u8, u8)>,
}

impl Location {
    /// A device on root hub port `port`.
    pub(super) fn root(port: u8) -> Self {
        Location { root_port: port, ports: [0; MAX_HUB_TIERS], depth: 0, tt: None }
    }

    /// Hubs between the root port and this device.
    pub(super) fn depth(&self) -> usize {
        self.depth
    }

    /// A device on port `port` of the hub here, reached through `tt`;
    /// `None` past [`MAX_HUB_TIERS`].
    pub(super) fn child(&self, port: u8, tt: Option<(u8, u8)>) -> Option<Self> {
        let mut child = *self;
        *child.ports.get_mut(self.depth)? = port;
        child.depth += 1;
        child.tt = tt;
        Some(child)
    }

    /// The Route String (xHCI 8.9): the hub port of tier n in bits 4n to
    /// 4n+3, a port above 15 as 15.
    pub(super) fn route(&self) -> u32 {
        self.ports[..self.depth]
            .iter()
            .enumerate()
            .fold(0, |route, (tier, &port)| route | u32::from(port.min(15)) << (4 * tier))
    }

    /// Fills the addressing fields of a slot context for a device here at
    /// xHCI speed id `speed`, with `entries` context entries.
    pub(super) fn fill_slot(&self, slot: &mut dyn SlotHandler, speed: u8, entries: u8) {
        slot.set_root_hub_port_number(self.root_port);
        slot.set_route_string(self.route());
        slot.set_speed(speed);
        slot.set_context_entries(entries);
        if let Some((hub_slot, hub_port)) = self.tt {
            slot.set_parent_hub_slot_id(hub_slot);
            slot.set_parent_port_number(hub_port);
        }
    }
}

/// The port path as Linux writes it: root port, then each hub port
/// (`3.1.4`).
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.root_port)?;
        for port in &self.ports[..self.depth] {
            write!(f, ".{port}")?;
        }
        Ok(())
    }
}

/// One addressed device.
pub(super) struct Device {
    pub(super) slot: u8,
    pub(super) loc: Location,
    /// xHCI speed id (PORTSC's, or the hub port's translated).
    pub(super) speed: u8,
    pub(super) ep0: Ring,
    pub(super) input: Dma,
    /// Descriptor buffer.
    pub(super) buffer: Dma,
    pub(super) keyboard: Option<KeyboardEndpoint>,
}

impl Device {
    /// The input context, zeroed, in the controller's context size (`csz`:
    /// 64-byte contexts).
    pub(super) fn input_context(&mut self, csz: bool) -> &mut dyn InputHandler {
        // SAFETY: the input page belongs to this device, is page aligned and
        // larger than either context layout (33 x 64 bytes at most); the
        // controller reads it only during the command that follows, which
        // the caller issues after this borrow ends.
        unsafe {
            core::ptr::write_bytes(self.input.virt, 0, PAGE);
            if csz {
                &mut *self.input.virt.cast::<Input64Byte>()
            } else {
                &mut *self.input.virt.cast::<Input32Byte>()
            }
        }
    }
}

//! One addressed device on a root port: its slot, its endpoint 0 ring and
//! the pages its commands and control transfers use.
//!
//! Every device keeps three pages of its own (EP0 transfer ring, input
//! context, descriptor buffer) plus the output context the controller owns,
//! even when it is not a keyboard: the controller keeps the slot enabled, so
//! the memory it may still write stays allocated. The input context is
//! rebuilt from zero before each command that reads it, so no field of an
//! earlier command leaks into the next.

use xhci::context::{Input32Byte, Input64Byte, InputHandler};

use super::PAGE;
use super::dma::Dma;
use super::keyboard::KeyboardEndpoint;
use super::ring::Ring;

/// One addressed device on a root port.
pub(super) struct Device {
    pub(super) slot: u8,
    pub(super) port: u8,
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

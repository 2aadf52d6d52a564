//! A device's descriptors: fetched over endpoint 0 with GET_DESCRIPTOR and
//! judged before anything acts on them (USB 2.0 9.6).
//!
//! Descriptors are the first bytes a device chooses freely, so they are
//! untrusted input: every length comes from the device and is checked
//! against what was asked for and what the buffer holds.

use super::control::GET_DESCRIPTOR;
use super::controller::Controller;
use super::device::Device;
use super::dma::Dma;
use super::{Error, PAGE};

/// Descriptor types (USB 2.0 table 9-5), the high byte of GET_DESCRIPTOR's value.
const DESC_DEVICE: u16 = 1;
const DESC_CONFIGURATION: u16 = 2;

/// What a configuration descriptor says about a boot keyboard interface.
pub(super) struct KeyboardInterface {
    pub(super) configuration: u8,
    pub(super) interface: u8,
    pub(super) endpoint: u8,
    pub(super) max_packet: u16,
    pub(super) interval: u8,
}

impl Controller {
    /// EP0's real max packet size, from the first 8 bytes of the device
    /// descriptor (bMaxPacketSize0; an exponent at SuperSpeed, `speed` 4+).
    pub(super) fn read_ep0_max_packet(
        &mut self,
        dev: &mut Device,
        speed: u8,
    ) -> Result<u16, Error> {
        self.control(dev, 0x80, GET_DESCRIPTOR, DESC_DEVICE << 8, 0, 8)?;
        Ok(match dev.buffer.read_u8(7) {
            m if speed >= 4 => 1u16 << m.min(9),
            m => u16::from(m),
        })
    }

    /// The whole device descriptor; returns (idVendor, idProduct).
    pub(super) fn read_device_ids(&mut self, dev: &mut Device) -> Result<(u16, u16), Error> {
        self.control(dev, 0x80, GET_DESCRIPTOR, DESC_DEVICE << 8, 0, 18)?;
        let b = dev.buffer;
        let vendor = u16::from_le_bytes([b.read_u8(8), b.read_u8(9)]);
        let product = u16::from_le_bytes([b.read_u8(10), b.read_u8(11)]);
        Ok((vendor, product))
    }

    /// The first configuration descriptor with all its interface and
    /// endpoint descriptors (wTotalLength, at most a page), into the
    /// device's buffer; returns the boot keyboard interface it describes,
    /// if any.
    pub(super) fn read_configuration(
        &mut self,
        dev: &mut Device,
    ) -> Result<Option<KeyboardInterface>, Error> {
        self.control(dev, 0x80, GET_DESCRIPTOR, DESC_CONFIGURATION << 8, 0, 9)?;
        let b = dev.buffer;
        let total = u16::from_le_bytes([b.read_u8(2), b.read_u8(3)]).min(PAGE as u16);
        if total < 9 {
            return Err("short configuration descriptor");
        }
        self.control(dev, 0x80, GET_DESCRIPTOR, DESC_CONFIGURATION << 8, 0, total)?;
        Ok(find_boot_keyboard(&dev.buffer, usize::from(total)))
    }
}

/// Parses a configuration descriptor (`len` bytes in `buf`) for an
/// interface of class HID (3), subclass boot (1), protocol keyboard (1) and
/// its interrupt IN endpoint (USB 2.0 9.6.3-9.6.6, HID 1.11 4.2-4.3).
fn find_boot_keyboard(buf: &Dma, len: usize) -> Option<KeyboardInterface> {
    let configuration = buf.read_u8(5);
    let mut offset = 0;
    let mut in_keyboard: Option<u8> = None;
    while offset + 2 <= len {
        let dlen = usize::from(buf.read_u8(offset));
        let dtype = buf.read_u8(offset + 1);
        if dlen < 2 || offset + dlen > len {
            break;
        }
        match dtype {
            4 if dlen >= 9 => {
                let (number, alt) = (buf.read_u8(offset + 2), buf.read_u8(offset + 3));
                let class =
                    (buf.read_u8(offset + 5), buf.read_u8(offset + 6), buf.read_u8(offset + 7));
                in_keyboard = (class == (3, 1, 1) && alt == 0).then_some(number);
            }
            5 if dlen >= 7 => {
                let address = buf.read_u8(offset + 2);
                let attributes = buf.read_u8(offset + 3);
                if let Some(interface) = in_keyboard
                    && address & 0x80 != 0
                    && attributes & 3 == 3
                {
                    return Some(KeyboardInterface {
                        configuration,
                        interface,
                        endpoint: address,
                        max_packet: u16::from_le_bytes([
                            buf.read_u8(offset + 4),
                            buf.read_u8(offset + 5),
                        ]),
                        interval: buf.read_u8(offset + 6),
                    });
                }
            }
            _ => {}
        }
        offset += dlen;
    }
    None
}

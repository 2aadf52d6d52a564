//! A device's descriptors: fetched over endpoint 0 with GET_DESCRIPTOR and
//! judged by `hwparse::usb` before anything acts on them (USB 2.0 9.6).
//!
//! Descriptors are the first bytes a device chooses freely, so they are
//! untrusted input, and the parsing lives in the host-tested, fuzzed
//! `hwparse` crate; this module only moves bytes. Each read copies what the
//! transfer asked for out of the device's DMA buffer, so the parser works
//! on a slice that cannot change under it. A descriptor that does not
//! parse becomes this driver's [`Error`], which ends the device's
//! enumeration: it is reported and left alone (enumerate.rs).

use hwparse::usb::{self, BootKeyboardInterface, ConfigurationHeader, DeviceDescriptor, Speed};

use super::control::GET_DESCRIPTOR;
use super::controller::Controller;
use super::device::Device;
use super::{Error, PAGE};

/// Descriptor types (USB 2.0 table 9-5) in GET_DESCRIPTOR's value (high byte).
const DESC_DEVICE: u16 = (usb::descriptor_type::DEVICE as u16) << 8;
const DESC_CONFIGURATION: u16 = (usb::descriptor_type::CONFIGURATION as u16) << 8;

impl Controller {
    /// EP0's real max packet size, from the first 8 bytes of the device
    /// descriptor.
    pub(super) fn read_ep0_max_packet(
        &mut self,
        dev: &mut Device,
        speed: Speed,
    ) -> Result<u16, Error> {
        let len = usb::DEVICE_DESCRIPTOR_PREFIX_LEN;
        self.control(dev, 0x80, GET_DESCRIPTOR, DESC_DEVICE, 0, len as u16)?;
        Ok(usb::ep0_max_packet_size(&dev.buffer.read(len), speed)?)
    }

    /// The whole device descriptor.
    pub(super) fn read_device_descriptor(
        &mut self,
        dev: &mut Device,
    ) -> Result<DeviceDescriptor, Error> {
        let len = usb::DEVICE_DESCRIPTOR_LEN;
        self.control(dev, 0x80, GET_DESCRIPTOR, DESC_DEVICE, 0, len as u16)?;
        Ok(DeviceDescriptor::parse(&dev.buffer.read(len))?)
    }

    /// The first configuration descriptor with all its interface and
    /// endpoint descriptors (wTotalLength, at most a page); returns the boot
    /// keyboard interface it describes, if any.
    pub(super) fn read_configuration(
        &mut self,
        dev: &mut Device,
    ) -> Result<Option<BootKeyboardInterface>, Error> {
        let len = usb::CONFIGURATION_HEADER_LEN;
        self.control(dev, 0x80, GET_DESCRIPTOR, DESC_CONFIGURATION, 0, len as u16)?;
        let header = ConfigurationHeader::parse(&dev.buffer.read(len))?;
        let total = header.total_length.min(PAGE as u16);
        self.control(dev, 0x80, GET_DESCRIPTOR, DESC_CONFIGURATION, 0, total)?;
        Ok(usb::find_boot_keyboard(&dev.buffer.read(usize::from(total)))?)
    }
}

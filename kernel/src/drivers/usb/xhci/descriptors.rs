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

use hwparse::usb::{
    self, BootKeyboardInterface, ConfigurationHeader, DeviceDescriptor, HubDescriptor, Speed,
};

use super::control::GET_DESCRIPTOR;
use super::controller::Controller;
use super::device::Device;
use super::{Error, PAGE};

/// Descriptor types (USB 2.0 table 9-5) in GET_DESCRIPTOR's value (high byte).
const DESC_DEVICE: u16 = (usb::descriptor_type::DEVICE as u16) << 8;
const DESC_CONFIGURATION: u16 = (usb::descriptor_type::CONFIGURATION as u16) << 8;
const DESC_HUB: u16 = (usb::descriptor_type::HUB as u16) << 8;
/// The longest hub descriptor: 7 fixed bytes and two 32-byte port bitmaps.
const HUB_DESCRIPTOR_MAX_LEN: usize = usb::HUB_DESCRIPTOR_FIXED_LEN + 2 * 32;

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

    /// The first configuration's header: its `bConfigurationValue` is what
    /// SET_CONFIGURATION wants (a hub's interfaces are not needed here).
    pub(super) fn read_configuration_header(
        &mut self,
        dev: &mut Device,
    ) -> Result<ConfigurationHeader, Error> {
        let len = usb::CONFIGURATION_HEADER_LEN;
        self.control(dev, 0x80, GET_DESCRIPTOR, DESC_CONFIGURATION, 0, len as u16)?;
        Ok(ConfigurationHeader::parse(&dev.buffer.read(len))?)
    }

    /// A hub's hub descriptor: class GET_DESCRIPTOR to the device (USB 2.0
    /// 11.24.2.5), as long as any can be; its `bDescLength` says how much
    /// counts. The buffer is cleared first so that a short answer reads as
    /// zeros, not as an earlier transfer's bytes.
    pub(super) fn read_hub_descriptor(&mut self, dev: &mut Device) -> Result<HubDescriptor, Error> {
        let len = HUB_DESCRIPTOR_MAX_LEN;
        dev.buffer.clear(len);
        self.control(dev, 0xA0, GET_DESCRIPTOR, DESC_HUB, 0, len as u16)?;
        Ok(HubDescriptor::parse(&dev.buffer.read(len))?)
    }
}

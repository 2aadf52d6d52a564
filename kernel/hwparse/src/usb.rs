//! USB standard descriptors (USB 2.0 chapter 9.6, USB 3.2 chapter 9.6):
//! what a device says about itself, judged before a driver acts on it.
//!
//! The kernel reads three things from a device while enumerating it: the
//! first 8 bytes of its device descriptor (for endpoint 0's packet size),
//! the whole device descriptor (vendor and product ids), and its first
//! configuration with every interface and endpoint descriptor in it (to
//! find a HID boot keyboard). Each is a parser here with its own error
//! type; a driver that gets an error leaves the device alone.
//!
//! What is refused and what is tolerated follows Linux
//! (drivers/usb/core/hub.c `hub_port_init`, drivers/usb/core/config.c
//! `usb_parse_configuration`, `usb_parse_interface`, `usb_parse_endpoint`):
//!
//! - refused (the device is not used): a descriptor of the wrong type or
//!   shorter than its fixed part, an endpoint 0 packet size the speed does
//!   not allow, a descriptor in a configuration whose `bLength` is below 2
//!   or runs past the configuration's end (Linux skips the rest of the
//!   configuration; here a keyboard found before that point is still used);
//! - tolerated and skipped: an interface descriptor shorter than 9 bytes or
//!   an endpoint descriptor shorter than 7 (Linux skips them too), an
//!   endpoint with number 0 or above 15, or with a maximum packet size of 0
//!   (Linux: "invalid endpoint", "invalid wMaxPacketSize 0"), and every
//!   descriptor type the kernel does not know (HID, class-specific,
//!   SuperSpeed companion, ...).

use core::fmt;

/// `bDescriptorType` values (USB 2.0 table 9-5).
pub mod descriptor_type {
    /// Device descriptor.
    pub const DEVICE: u8 = 1;
    /// Configuration descriptor.
    pub const CONFIGURATION: u8 = 2;
    /// Interface descriptor.
    pub const INTERFACE: u8 = 4;
    /// Endpoint descriptor.
    pub const ENDPOINT: u8 = 5;
    /// Hub descriptor (USB 2.0 table 11-13), a class descriptor read with
    /// a class GET_DESCRIPTOR.
    pub const HUB: u8 = 0x29;
}

/// `bDeviceClass` of a hub (USB 2.0 11.23.1).
pub const HUB_CLASS: u8 = 9;

/// Bytes of a device descriptor (USB 2.0 table 9-8).
pub const DEVICE_DESCRIPTOR_LEN: usize = 18;
/// Bytes of the device descriptor prefix that holds `bMaxPacketSize0`,
/// which is all a device must send before its EP0 packet size is known.
pub const DEVICE_DESCRIPTOR_PREFIX_LEN: usize = 8;
/// Bytes of a configuration descriptor's fixed part (USB 2.0 table 9-10).
pub const CONFIGURATION_HEADER_LEN: usize = 9;
/// Bytes of an interface descriptor (USB 2.0 table 9-12).
pub const INTERFACE_DESCRIPTOR_LEN: usize = 9;
/// Bytes of an endpoint descriptor (USB 2.0 table 9-13).
pub const ENDPOINT_DESCRIPTOR_LEN: usize = 7;

/// The bus speed of a device, which decides what `bMaxPacketSize0` may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Speed {
    /// USB 1.x low speed, 1.5 Mb/s.
    Low,
    /// USB 1.x full speed, 12 Mb/s.
    Full,
    /// USB 2.0 high speed, 480 Mb/s.
    High,
    /// USB 3.x SuperSpeed and faster.
    Super,
}

/// Why a device descriptor (or its 8-byte prefix) was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceDescriptorError {
    /// Fewer bytes than the part that was asked for.
    Short {
        /// Bytes received.
        len: usize,
        /// Bytes needed.
        need: usize,
    },
    /// `bDescriptorType` is not [`descriptor_type::DEVICE`].
    WrongType {
        /// The type the device sent.
        found: u8,
    },
    /// `bLength` is below the device descriptor's 18 bytes.
    BadLength {
        /// The `bLength` the device sent.
        length: u8,
    },
    /// `bMaxPacketSize0` is not one the device's speed allows (8 at low
    /// speed; 8, 16, 32 or 64 at full and high speed; 9, meaning 512, at
    /// SuperSpeed). Linux: "Invalid ep0 maxpacket".
    BadMaxPacketSize0 {
        /// The `bMaxPacketSize0` the device sent.
        value: u8,
        /// The speed it was judged for.
        speed: Speed,
    },
}

impl fmt::Display for DeviceDescriptorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "device descriptor: ")?;
        match *self {
            Self::Short { len, need } => write!(f, "{len} bytes (needs {need})"),
            Self::WrongType { found } => write!(f, "descriptor type {found} (not 1)"),
            Self::BadLength { length } => write!(f, "bLength {length} (below 18)"),
            Self::BadMaxPacketSize0 { value, speed } => {
                write!(f, "bMaxPacketSize0 {value} is not valid at {speed:?} speed")
            }
        }
    }
}

/// The fields of a device descriptor the kernel uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceDescriptor {
    /// `bMaxPacketSize0` as sent (an exponent at SuperSpeed).
    pub max_packet_size0: u8,
    /// `idVendor`.
    pub vendor: u16,
    /// `idProduct`.
    pub product: u16,
    /// `bDeviceClass` ([`HUB_CLASS`] for a hub).
    pub class: u8,
    /// `bDeviceProtocol` (for a high-speed hub: 1 one transaction
    /// translator, 2 one per port).
    pub protocol: u8,
}

/// Checks the fixed part shared by the prefix and the whole descriptor.
fn check_device(bytes: &[u8], need: usize) -> Result<(), DeviceDescriptorError> {
    if bytes.len() < need {
        return Err(DeviceDescriptorError::Short { len: bytes.len(), need });
    }
    if bytes[1] != descriptor_type::DEVICE {
        return Err(DeviceDescriptorError::WrongType { found: bytes[1] });
    }
    if usize::from(bytes[0]) < DEVICE_DESCRIPTOR_LEN {
        return Err(DeviceDescriptorError::BadLength { length: bytes[0] });
    }
    Ok(())
}

/// Endpoint 0's maximum packet size in bytes, from the first
/// [`DEVICE_DESCRIPTOR_PREFIX_LEN`] bytes of the device descriptor of a
/// device at `speed` (Linux: `get_bMaxPacketSize0` and `hub_port_init`).
///
/// # Errors
/// A short prefix, a wrong type or `bLength`, or a `bMaxPacketSize0` the
/// speed does not allow.
pub fn ep0_max_packet_size(prefix: &[u8], speed: Speed) -> Result<u16, DeviceDescriptorError> {
    check_device(prefix, DEVICE_DESCRIPTOR_PREFIX_LEN)?;
    let value = prefix[7];
    match (speed, value) {
        (Speed::Low, 8) | (Speed::Full | Speed::High, 8 | 16 | 32 | 64) => Ok(u16::from(value)),
        (Speed::Super, 9) => Ok(512),
        _ => Err(DeviceDescriptorError::BadMaxPacketSize0 { value, speed }),
    }
}

impl DeviceDescriptor {
    /// Parses a whole device descriptor (the first
    /// [`DEVICE_DESCRIPTOR_LEN`] bytes of `bytes`).
    ///
    /// # Errors
    /// Fewer than 18 bytes, a wrong `bDescriptorType` or a `bLength`
    /// below 18.
    pub fn parse(bytes: &[u8]) -> Result<DeviceDescriptor, DeviceDescriptorError> {
        check_device(bytes, DEVICE_DESCRIPTOR_LEN)?;
        Ok(DeviceDescriptor {
            max_packet_size0: bytes[7],
            vendor: u16::from_le_bytes([bytes[8], bytes[9]]),
            product: u16::from_le_bytes([bytes[10], bytes[11]]),
            class: bytes[4],
            protocol: bytes[6],
        })
    }
}

/// Why a configuration descriptor (or the descriptors in it) was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigurationError {
    /// Fewer than [`CONFIGURATION_HEADER_LEN`] bytes.
    Short {
        /// Bytes received.
        len: usize,
    },
    /// `bDescriptorType` is not [`descriptor_type::CONFIGURATION`].
    WrongType {
        /// The type the device sent.
        found: u8,
    },
    /// `bLength` of the configuration descriptor is below 9.
    BadLength {
        /// The `bLength` the device sent.
        length: u8,
    },
    /// `wTotalLength` is shorter than the configuration descriptor itself.
    BadTotalLength {
        /// The `wTotalLength` the device sent.
        total: u16,
    },
    /// A descriptor inside the configuration has a `bLength` below 2 (it
    /// would not advance the walk) or one that runs past the end.
    /// Linux: "invalid descriptor of length ..., skipping remainder".
    BadDescriptor {
        /// Byte offset of the descriptor in the configuration.
        offset: usize,
        /// Its `bLength`.
        length: u8,
    },
}

impl fmt::Display for ConfigurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "configuration descriptor: ")?;
        match *self {
            Self::Short { len } => write!(f, "{len} bytes (needs 9)"),
            Self::WrongType { found } => write!(f, "descriptor type {found} (not 2)"),
            Self::BadLength { length } => write!(f, "bLength {length} (below 9)"),
            Self::BadTotalLength { total } => write!(f, "wTotalLength {total} (below bLength)"),
            Self::BadDescriptor { offset, length } => {
                write!(
                    f,
                    "descriptor at byte {offset} has bLength {length}, past the end or below 2"
                )
            }
        }
    }
}

/// The fixed part of a configuration descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConfigurationHeader {
    /// `wTotalLength`: bytes of this configuration with all its interface,
    /// endpoint and class descriptors.
    pub total_length: u16,
    /// `bNumInterfaces`.
    pub interfaces: u8,
    /// `bConfigurationValue`: the argument of SET_CONFIGURATION.
    pub value: u8,
}

impl ConfigurationHeader {
    /// Parses the first [`CONFIGURATION_HEADER_LEN`] bytes of `bytes`.
    ///
    /// # Errors
    /// Fewer than 9 bytes, a wrong `bDescriptorType`, a `bLength` below 9
    /// or a `wTotalLength` below `bLength`.
    pub fn parse(bytes: &[u8]) -> Result<ConfigurationHeader, ConfigurationError> {
        let Some(h) = bytes.first_chunk::<CONFIGURATION_HEADER_LEN>() else {
            return Err(ConfigurationError::Short { len: bytes.len() });
        };
        if h[1] != descriptor_type::CONFIGURATION {
            return Err(ConfigurationError::WrongType { found: h[1] });
        }
        if usize::from(h[0]) < CONFIGURATION_HEADER_LEN {
            return Err(ConfigurationError::BadLength { length: h[0] });
        }
        let total_length = u16::from_le_bytes([h[2], h[3]]);
        if total_length < u16::from(h[0]) {
            return Err(ConfigurationError::BadTotalLength { total: total_length });
        }
        Ok(ConfigurationHeader { total_length, interfaces: h[4], value: h[5] })
    }
}

/// One descriptor of a configuration: its offset, type and bytes (the
/// whole descriptor, `bLength` bytes, at least 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Descriptor<'a> {
    /// Byte offset in the configuration.
    pub offset: usize,
    /// `bDescriptorType`.
    pub descriptor_type: u8,
    /// The descriptor, `bLength` bytes.
    pub bytes: &'a [u8],
}

/// The descriptors of a configuration in order, the configuration
/// descriptor itself first. Yields an error (and then nothing) at a
/// descriptor whose `bLength` is below 2 or runs past the end.
#[derive(Clone, Debug)]
pub struct Descriptors<'a> {
    rest: &'a [u8],
    offset: usize,
}

impl<'a> Descriptors<'a> {
    /// Walks `config`: the bytes of one configuration, at most
    /// `wTotalLength` of them (the caller cuts it to what it read).
    pub fn new(config: &'a [u8]) -> Self {
        Descriptors { rest: config, offset: 0 }
    }
}

impl<'a> Iterator for Descriptors<'a> {
    type Item = Result<Descriptor<'a>, ConfigurationError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (&length, _) = self.rest.split_first()?;
        let offset = self.offset;
        let len = usize::from(length);
        let bytes = match self.rest.get(..len) {
            Some(bytes) if len >= 2 => bytes,
            _ => {
                self.rest = &[];
                return Some(Err(ConfigurationError::BadDescriptor { offset, length }));
            }
        };
        self.rest = &self.rest[len..];
        self.offset += len;
        Some(Ok(Descriptor { offset, descriptor_type: bytes[1], bytes }))
    }
}

/// What a configuration says about a HID boot keyboard: the interface and
/// its interrupt IN endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootKeyboardInterface {
    /// `bConfigurationValue` of the configuration.
    pub configuration: u8,
    /// `bInterfaceNumber`.
    pub interface: u8,
    /// `bEndpointAddress`: IN (bit 7 set), endpoint number 1 to 15.
    pub endpoint: u8,
    /// `wMaxPacketSize` as sent: packet size in bits 0-10 (never 0),
    /// additional transactions per microframe in bits 11-12.
    pub max_packet: u16,
    /// `bInterval` as sent (its unit depends on the speed).
    pub interval: u8,
}

impl BootKeyboardInterface {
    /// The endpoint number, 1 to 15.
    pub fn endpoint_number(&self) -> u8 {
        self.endpoint & 0x0F
    }
}

/// HID interface class, boot subclass, keyboard protocol (HID 1.11 4.2-4.3).
const HID_BOOT_KEYBOARD: (u8, u8, u8) = (3, 1, 1);
/// `bmAttributes` transfer type of an interrupt endpoint.
const INTERRUPT: u8 = 3;

/// Finds the first interface of class HID, subclass boot, protocol
/// keyboard (alternate setting 0) with a valid interrupt IN endpoint, in
/// the configuration `config` (its bytes as read: at most `wTotalLength`).
/// `Ok(None)`: a well-formed configuration without a boot keyboard.
///
/// # Errors
/// A configuration descriptor that does not parse
/// ([`ConfigurationHeader::parse`]), or a descriptor before the keyboard's
/// endpoint whose `bLength` is below 2 or runs past `config`'s end
/// ([`ConfigurationError::BadDescriptor`]).
pub fn find_boot_keyboard(
    config: &[u8],
) -> Result<Option<BootKeyboardInterface>, ConfigurationError> {
    let header = ConfigurationHeader::parse(config)?;
    let config = config.get(..usize::from(header.total_length)).unwrap_or(config);
    let mut keyboard: Option<u8> = None;
    for descriptor in Descriptors::new(config).skip(1) {
        let d = descriptor?;
        match d.descriptor_type {
            descriptor_type::INTERFACE => {
                // A short interface descriptor ends the interface before
                // it: what follows belongs to no interface we know.
                keyboard = match d.bytes.first_chunk::<INTERFACE_DESCRIPTOR_LEN>() {
                    Some(&[_, _, number, alternate, _, class, subclass, protocol, _]) => {
                        ((class, subclass, protocol) == HID_BOOT_KEYBOARD && alternate == 0)
                            .then_some(number)
                    }
                    None => None,
                };
            }
            descriptor_type::ENDPOINT => {
                let Some(interface) = keyboard else { continue };
                let Some(&[_, _, endpoint, attributes, mp0, mp1, interval]) =
                    d.bytes.first_chunk::<ENDPOINT_DESCRIPTOR_LEN>()
                else {
                    continue;
                };
                let max_packet = u16::from_le_bytes([mp0, mp1]);
                let number = endpoint & 0x7F;
                let valid = (1..=15).contains(&number) && max_packet & 0x7FF != 0;
                if valid && endpoint & 0x80 != 0 && attributes & 3 == INTERRUPT {
                    return Ok(Some(BootKeyboardInterface {
                        configuration: header.value,
                        interface,
                        endpoint,
                        max_packet,
                        interval,
                    }));
                }
            }
            _ => {}
        }
    }
    Ok(None)
}

/// Bytes of a hub descriptor's fixed part, before `DeviceRemovable`
/// (USB 2.0 table 11-13; Linux `USB_DT_HUB_NONVAR_SIZE`).
pub const HUB_DESCRIPTOR_FIXED_LEN: usize = 7;
/// The most downstream ports a hub may have here (Linux `USB_MAXCHILDREN`:
/// "hub has too many ports!").
pub const HUB_MAX_PORTS: u8 = 31;

/// Why a hub descriptor was refused (Linux `get_hub_descriptor` and
/// `hub_configure`); the hub is not used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HubDescriptorError {
    /// Fewer bytes than the fixed part plus the `DeviceRemovable` bitmap
    /// for the ports it names (or than `bDescLength` says).
    Short {
        /// Bytes received (or `bDescLength`, whichever is shorter).
        len: usize,
        /// Bytes needed.
        need: usize,
    },
    /// `bDescriptorType` is not [`descriptor_type::HUB`].
    WrongType {
        /// The type the hub sent.
        found: u8,
    },
    /// `bNbrPorts` is 0 (Linux: "hub doesn't have any ports!") or above
    /// [`HUB_MAX_PORTS`].
    BadPortCount {
        /// The `bNbrPorts` the hub sent.
        ports: u8,
    },
}

impl fmt::Display for HubDescriptorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "hub descriptor: ")?;
        match *self {
            Self::Short { len, need } => write!(f, "{len} bytes (needs {need})"),
            Self::WrongType { found } => write!(f, "descriptor type {found:#x} (not 0x29)"),
            Self::BadPortCount { ports } => {
                write!(f, "{ports} ports (needs 1 to {HUB_MAX_PORTS})")
            }
        }
    }
}

/// The fields of a (USB 2.0) hub descriptor the kernel uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HubDescriptor {
    /// `bNbrPorts`: downstream ports, numbered 1 to `ports`.
    pub ports: u8,
    /// `wHubCharacteristics`.
    pub characteristics: u16,
    /// `bPwrOn2PwrGood`: time from powering a port until its power is good,
    /// in units of 2 ms.
    pub power_on_to_good: u8,
}

impl HubDescriptor {
    /// Parses a hub descriptor: `bytes` as read (the first `bDescLength`
    /// of them count).
    ///
    /// # Errors
    /// Fewer bytes than the fixed part and the `DeviceRemovable` bitmap of
    /// `bNbrPorts + 1` bits, a wrong `bDescriptorType`, or no ports or more
    /// than [`HUB_MAX_PORTS`].
    pub fn parse(bytes: &[u8]) -> Result<HubDescriptor, HubDescriptorError> {
        let Some(h) = bytes.first_chunk::<HUB_DESCRIPTOR_FIXED_LEN>() else {
            let need = HUB_DESCRIPTOR_FIXED_LEN + 1;
            return Err(HubDescriptorError::Short { len: bytes.len(), need });
        };
        if h[1] != descriptor_type::HUB {
            return Err(HubDescriptorError::WrongType { found: h[1] });
        }
        let ports = h[2];
        if ports == 0 || ports > HUB_MAX_PORTS {
            return Err(HubDescriptorError::BadPortCount { ports });
        }
        // DeviceRemovable: one bit per port and bit 0 reserved.
        let need = HUB_DESCRIPTOR_FIXED_LEN + usize::from(ports) / 8 + 1;
        let len = bytes.len().min(usize::from(h[0]));
        if len < need {
            return Err(HubDescriptorError::Short { len, need });
        }
        Ok(HubDescriptor {
            ports,
            characteristics: u16::from_le_bytes([h[3], h[4]]),
            power_on_to_good: h[5],
        })
    }

    /// Milliseconds to wait after powering the ports (`bPwrOn2PwrGood` x 2).
    pub fn power_on_to_good_ms(&self) -> u32 {
        u32::from(self.power_on_to_good) * 2
    }

    /// TT Think Time of a high-speed hub (`wHubCharacteristics` bits 5-6:
    /// 8, 16, 24 or 32 full-speed bit times), as the 0 to 3 the xHCI slot
    /// context wants.
    pub fn tt_think_time(&self) -> u8 {
        ((self.characteristics >> 5) & 3) as u8
    }
}

/// Bytes a hub's GET_STATUS(port) answers: `wPortStatus`, `wPortChange`
/// (USB 2.0 11.24.2.7).
pub const PORT_STATUS_LEN: usize = 4;

/// A (USB 2.0) hub port's status and change bits (USB 2.0 tables 11-21
/// and 11-22). Every bit pattern is a status, so this cannot fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortStatus {
    /// `wPortStatus`.
    pub status: u16,
    /// `wPortChange`.
    pub change: u16,
}

impl PortStatus {
    /// The four bytes of a GET_STATUS(port) answer.
    pub fn from_bytes(bytes: [u8; PORT_STATUS_LEN]) -> Self {
        PortStatus {
            status: u16::from_le_bytes([bytes[0], bytes[1]]),
            change: u16::from_le_bytes([bytes[2], bytes[3]]),
        }
    }

    /// PORT_CONNECTION: a device is present.
    pub fn connected(&self) -> bool {
        self.status & 1 != 0
    }

    /// PORT_ENABLE: the port is enabled (after a reset).
    pub fn enabled(&self) -> bool {
        self.status & 1 << 1 != 0
    }

    /// PORT_OVER_CURRENT.
    pub fn over_current(&self) -> bool {
        self.status & 1 << 3 != 0
    }

    /// PORT_RESET: a reset is in progress.
    pub fn resetting(&self) -> bool {
        self.status & 1 << 4 != 0
    }

    /// PORT_POWER.
    pub fn powered(&self) -> bool {
        self.status & 1 << 8 != 0
    }

    /// C_PORT_RESET: a reset has completed.
    pub fn reset_changed(&self) -> bool {
        self.change & 1 << 4 != 0
    }

    /// The attached device's speed: PORT_LOW_SPEED (bit 9), else
    /// PORT_HIGH_SPEED (bit 10), else full speed.
    pub fn speed(&self) -> Speed {
        if self.status & 1 << 9 != 0 {
            Speed::Low
        } else if self.status & 1 << 10 != 0 {
            Speed::High
        } else {
            Speed::Full
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// QEMU's `usb-kbd` (hw/usb/dev-hid.c): full speed, EP0 of 8 bytes.
    const KBD_DEVICE: [u8; 18] =
        [18, 1, 0x00, 0x02, 0, 0, 0, 8, 0x27, 0x06, 0x01, 0x00, 0, 0, 1, 4, 11, 1];
    /// Its configuration: configuration, interface (HID boot keyboard), HID
    /// class descriptor, interrupt IN endpoint 1.
    const KBD_CONFIG: [u8; 34] = [
        9, 2, 34, 0, 1, 1, 6, 0xA0, 50, // configuration 1, 34 bytes
        9, 4, 0, 0, 1, 3, 1, 1, 7, // interface 0, HID boot keyboard
        9, 0x21, 0x11, 0x01, 0, 1, 0x22, 0x3F, 0, // HID descriptor
        7, 5, 0x81, 3, 8, 0, 10, // endpoint 0x81, interrupt, 8 bytes, 10 ms
    ];
    /// A mass storage device: one interface with two bulk endpoints.
    const STICK_CONFIG: [u8; 32] = [
        9, 2, 32, 0, 1, 1, 0, 0x80, 50, //
        9, 4, 0, 0, 2, 8, 6, 0x50, 0, // mass storage, SCSI, bulk-only
        7, 5, 0x81, 2, 0, 2, 0, // bulk IN
        7, 5, 0x02, 2, 0, 2, 0, // bulk OUT
    ];

    fn keyboard() -> BootKeyboardInterface {
        BootKeyboardInterface {
            configuration: 1,
            interface: 0,
            endpoint: 0x81,
            max_packet: 8,
            interval: 10,
        }
    }

    #[test]
    fn device_descriptor_parses() {
        let d = DeviceDescriptor::parse(&KBD_DEVICE).unwrap();
        assert_eq!(
            d,
            DeviceDescriptor {
                max_packet_size0: 8,
                vendor: 0x0627,
                product: 0x0001,
                class: 0,
                protocol: 0
            }
        );
        // Longer buffers are fine: only the first 18 bytes count.
        let mut long = KBD_DEVICE.to_vec();
        long.extend_from_slice(&[0xFF; 10]);
        assert_eq!(DeviceDescriptor::parse(&long), Ok(d));
    }

    #[test]
    fn device_descriptor_malformed() {
        use DeviceDescriptorError::*;
        assert_eq!(DeviceDescriptor::parse(&KBD_DEVICE[..17]), Err(Short { len: 17, need: 18 }));
        assert_eq!(DeviceDescriptor::parse(&[]), Err(Short { len: 0, need: 18 }));
        let mut d = KBD_DEVICE;
        d[1] = 2;
        assert_eq!(DeviceDescriptor::parse(&d), Err(WrongType { found: 2 }));
        let mut d = KBD_DEVICE;
        d[0] = 17;
        assert_eq!(DeviceDescriptor::parse(&d), Err(BadLength { length: 17 }));
        d[0] = 0;
        assert_eq!(DeviceDescriptor::parse(&d), Err(BadLength { length: 0 }));
    }

    #[test]
    fn ep0_packet_size_by_speed() {
        let prefix = |m: u8| {
            let mut p = KBD_DEVICE;
            p[7] = m;
            p
        };
        for m in [8, 16, 32, 64] {
            assert_eq!(ep0_max_packet_size(&prefix(m)[..8], Speed::Full), Ok(u16::from(m)));
            assert_eq!(ep0_max_packet_size(&prefix(m)[..8], Speed::High), Ok(u16::from(m)));
        }
        assert_eq!(ep0_max_packet_size(&prefix(8)[..8], Speed::Low), Ok(8));
        assert_eq!(ep0_max_packet_size(&prefix(9)[..8], Speed::Super), Ok(512));
        for (m, speed) in [
            (0, Speed::Full),
            (7, Speed::Full),
            (9, Speed::High),
            (128, Speed::High),
            (255, Speed::Full),
            (16, Speed::Low),
            (64, Speed::Super),
            (10, Speed::Super),
        ] {
            assert_eq!(
                ep0_max_packet_size(&prefix(m), speed),
                Err(DeviceDescriptorError::BadMaxPacketSize0 { value: m, speed }),
                "{m} at {speed:?}"
            );
        }
        assert_eq!(
            ep0_max_packet_size(&KBD_DEVICE[..7], Speed::Full),
            Err(DeviceDescriptorError::Short { len: 7, need: 8 })
        );
        let mut wrong = KBD_DEVICE;
        wrong[1] = 4;
        assert_eq!(
            ep0_max_packet_size(&wrong, Speed::Full),
            Err(DeviceDescriptorError::WrongType { found: 4 })
        );
    }

    #[test]
    fn configuration_header() {
        let h = ConfigurationHeader::parse(&KBD_CONFIG).unwrap();
        assert_eq!(h, ConfigurationHeader { total_length: 34, interfaces: 1, value: 1 });
        use ConfigurationError::*;
        assert_eq!(ConfigurationHeader::parse(&KBD_CONFIG[..8]), Err(Short { len: 8 }));
        let mut c = KBD_CONFIG;
        c[1] = 1;
        assert_eq!(ConfigurationHeader::parse(&c), Err(WrongType { found: 1 }));
        let mut c = KBD_CONFIG;
        c[0] = 8;
        assert_eq!(ConfigurationHeader::parse(&c), Err(BadLength { length: 8 }));
        let mut c = KBD_CONFIG;
        c[2] = 8;
        assert_eq!(ConfigurationHeader::parse(&c), Err(BadTotalLength { total: 8 }));
    }

    #[test]
    fn finds_the_boot_keyboard() {
        assert_eq!(find_boot_keyboard(&KBD_CONFIG), Ok(Some(keyboard())));
        assert_eq!(find_boot_keyboard(&STICK_CONFIG), Ok(None));
        // Bytes past wTotalLength are not part of the configuration.
        let mut long = KBD_CONFIG.to_vec();
        long.extend_from_slice(&[0, 0, 0]);
        assert_eq!(find_boot_keyboard(&long), Ok(Some(keyboard())));
        // A keyboard in a second interface, after the stick's.
        let mut two = STICK_CONFIG.to_vec();
        two.extend_from_slice(&KBD_CONFIG[9..]);
        two[2] = two.len() as u8;
        let found = find_boot_keyboard(&two).unwrap().unwrap();
        assert_eq!(found, keyboard());
    }

    #[test]
    fn keyboards_that_do_not_qualify() {
        // Not alternate setting 0, not the keyboard protocol (a mouse),
        // an OUT endpoint, a bulk endpoint.
        for (at, value) in [(12, 1), (16, 2), (29, 0x01), (30, 2)] {
            let mut c = KBD_CONFIG;
            c[at] = value;
            assert_eq!(find_boot_keyboard(&c), Ok(None), "byte {at} = {value}");
        }
    }

    #[test]
    fn invalid_endpoints_are_skipped() {
        // Endpoint number 0, number above 15, max packet 0, and a 6-byte
        // endpoint descriptor: each skipped (Linux too); a valid endpoint
        // after it is taken.
        let bad: [&[u8]; 4] = [
            &[7, 5, 0x80, 3, 8, 0, 10],
            &[7, 5, 0x90, 3, 8, 0, 10],
            &[7, 5, 0x81, 3, 0, 0x18, 10],
            &[6, 5, 0x81, 3, 8, 0],
        ];
        for b in bad {
            let mut c = KBD_CONFIG[..27].to_vec();
            c.extend_from_slice(b);
            c[2] = c.len() as u8;
            assert_eq!(find_boot_keyboard(&c), Ok(None), "{b:?}");
            c.extend_from_slice(&[7, 5, 0x82, 3, 8, 0, 10]);
            c[2] = c.len() as u8;
            let k = find_boot_keyboard(&c).unwrap().unwrap();
            assert_eq!((k.endpoint, k.endpoint_number()), (0x82, 2), "{b:?}");
        }
    }

    #[test]
    fn short_interface_ends_the_keyboard_interface() {
        let mut c = KBD_CONFIG[..18].to_vec();
        c.extend_from_slice(&[8, 4, 1, 0, 1, 3, 1, 1]); // 8-byte interface
        c.extend_from_slice(&KBD_CONFIG[27..]);
        c[2] = c.len() as u8;
        assert_eq!(find_boot_keyboard(&c), Ok(None));
    }

    #[test]
    fn malformed_configurations() {
        use ConfigurationError::*;
        // bLength 0 and 1 would never advance; past the end.
        for (length, offset) in [(0, 9), (1, 9), (26, 9), (200, 9)] {
            let mut c = KBD_CONFIG;
            c[9] = length;
            assert_eq!(find_boot_keyboard(&c), Err(BadDescriptor { offset, length }));
        }
        // wTotalLength larger than what was read: the endpoint is cut.
        let mut c = KBD_CONFIG[..30].to_vec();
        c[2] = 34;
        assert_eq!(find_boot_keyboard(&c), Err(BadDescriptor { offset: 27, length: 7 }));
        // One stray byte after the last descriptor.
        let mut c = STICK_CONFIG.to_vec();
        c.push(7);
        c[2] = c.len() as u8;
        assert_eq!(find_boot_keyboard(&c), Err(BadDescriptor { offset: 32, length: 7 }));
        // A keyboard before the bad part is still found (Linux keeps what
        // it parsed before an invalid descriptor, too).
        let mut c = KBD_CONFIG.to_vec();
        c.extend_from_slice(&[0, 0]);
        c[2] = c.len() as u8;
        assert_eq!(find_boot_keyboard(&c), Ok(Some(keyboard())));
        assert_eq!(find_boot_keyboard(&[]), Err(Short { len: 0 }));
    }

    #[test]
    fn descriptor_walk() {
        let walked: Vec<_> = Descriptors::new(&KBD_CONFIG)
            .map(|d| d.map(|d| (d.offset, d.descriptor_type)))
            .collect();
        assert_eq!(walked, [Ok((0, 2)), Ok((9, 4)), Ok((18, 0x21)), Ok((27, 5))]);
        let mut bad = Descriptors::new(&[2, 0, 0]);
        assert_eq!(bad.next().map(|d| d.map(|d| d.offset)), Some(Ok(0)));
        assert_eq!(
            bad.next(),
            Some(Err(ConfigurationError::BadDescriptor { offset: 2, length: 0 }))
        );
        assert_eq!(bad.next(), None);
    }

    /// QEMU's `usb-hub` (hw/usb/dev-hub.c) with its 8 ports: 7 fixed
    /// bytes, then DeviceRemovable and PortPwrCtrlMask of 2 bytes each.
    const QEMU_HUB: [u8; 11] = [11, 0x29, 8, 0x0A, 0, 1, 0, 0, 0, 0xFF, 0xFF];

    #[test]
    fn hub_descriptor_parses() {
        let h = HubDescriptor::parse(&QEMU_HUB).unwrap();
        assert_eq!(h, HubDescriptor { ports: 8, characteristics: 0x0A, power_on_to_good: 1 });
        assert_eq!(h.power_on_to_good_ms(), 2);
        assert_eq!(h.tt_think_time(), 0);
        // Only bDescLength bytes count; more is fine.
        let mut long = QEMU_HUB.to_vec();
        long.extend_from_slice(&[0xEE; 20]);
        assert_eq!(HubDescriptor::parse(&long), Ok(h));
        // A 4-port high-speed hub with TT think time 3 (32 bit times) and
        // the shortest descriptor Linux accepts (no PortPwrCtrlMask).
        let h = HubDescriptor::parse(&[8, 0x29, 4, 0x69, 0, 50, 100, 0]).unwrap();
        assert_eq!((h.ports, h.tt_think_time(), h.power_on_to_good_ms()), (4, 3, 100));
        // bDeviceClass 9 in the device descriptor marks a hub.
        let mut d = KBD_DEVICE;
        (d[4], d[6]) = (HUB_CLASS, 2);
        let d = DeviceDescriptor::parse(&d).unwrap();
        assert_eq!((d.class, d.protocol), (9, 2));
    }

    #[test]
    fn hub_descriptor_malformed() {
        use HubDescriptorError::*;
        assert_eq!(HubDescriptor::parse(&[]), Err(Short { len: 0, need: 8 }));
        assert_eq!(HubDescriptor::parse(&QEMU_HUB[..6]), Err(Short { len: 6, need: 8 }));
        // 8 ports need two DeviceRemovable bytes: 9 in all.
        assert_eq!(HubDescriptor::parse(&QEMU_HUB[..8]), Err(Short { len: 8, need: 9 }));
        let mut h = QEMU_HUB;
        h[0] = 8;
        assert_eq!(HubDescriptor::parse(&h), Err(Short { len: 8, need: 9 }));
        let mut h = QEMU_HUB;
        h[1] = 0x2A;
        assert_eq!(HubDescriptor::parse(&h), Err(WrongType { found: 0x2A }));
        for ports in [0, 32, 255] {
            let mut h = QEMU_HUB.to_vec();
            h.resize(50, 0);
            (h[0], h[2]) = (50, ports);
            assert_eq!(HubDescriptor::parse(&h), Err(BadPortCount { ports }));
        }
        assert_eq!(
            BadPortCount { ports: 0 }.to_string(),
            "hub descriptor: 0 ports (needs 1 to 31)"
        );
    }

    #[test]
    fn port_status_bits() {
        // Powered, connected, enabled, full speed, reset just completed.
        let s = PortStatus::from_bytes([0x03, 0x01, 0x10, 0x00]);
        assert!(s.connected() && s.enabled() && s.powered() && s.reset_changed());
        assert!(!s.resetting() && !s.over_current());
        assert_eq!(s.speed(), Speed::Full);
        assert_eq!(PortStatus::from_bytes([0x11, 0x03, 0, 0]).speed(), Speed::Low);
        assert_eq!(PortStatus::from_bytes([0x01, 0x05, 0, 0]).speed(), Speed::High);
        let s = PortStatus::from_bytes([0x18, 0x01, 0x01, 0]);
        assert!(s.resetting() && s.over_current() && !s.connected() && !s.reset_changed());
    }

    #[test]
    fn errors_display_what_and_where() {
        let e = ConfigurationError::BadDescriptor { offset: 27, length: 0 };
        assert_eq!(
            e.to_string(),
            "configuration descriptor: descriptor at byte 27 has bLength 0, past the end or below 2"
        );
        let e = DeviceDescriptorError::BadMaxPacketSize0 { value: 7, speed: Speed::Full };
        assert_eq!(
            e.to_string(),
            "device descriptor: bMaxPacketSize0 7 is not valid at Full speed"
        );
    }
}

//! xHCI host controller, polled, just enough for boot-protocol keyboards.
//!
//! Follows the initialisation of the xHCI specification 1.2, section 4.2
//! (Linux: `xhci_init`/`xhci_run` in drivers/usb/host/xhci.c) and device
//! enumeration of section 4.3 (Linux: `hub_port_init` in
//! drivers/usb/core/hub.c): take the controller from the firmware (USB legacy
//! support capability, 7.1), halt and reset it, give it a device context
//! array, a command ring and one event ring, run it, reset every connected
//! root port, and for each device: Enable Slot, Address Device, read the
//! device and configuration descriptors. Hubs (USB 2.0 chapter 11) get their
//! ports powered and reset, and the devices behind them are enumerated the
//! same way, through up to five hubs in a row. Devices that are neither hubs
//! nor HID boot-protocol keyboards are left addressed and untouched (a USB
//! stick the machine booted from, for example); keyboards get SET_CONFIGURATION,
//! SET_PROTOCOL(boot), Configure Endpoint for their interrupt IN endpoint, and
//! one 8-byte Normal TRB that is re-queued whenever it completes.
//!
//! Register layouts, contexts and TRBs come from the `xhci` crate. Nothing
//! uses interrupts: [`Controller::poll`] drains the event ring and is called
//! from the console's input path. Ports (the root hub's and hubs') are looked
//! at once, at boot: a device plugged in later is not seen.
//!
//! One concept per module, in the order a controller meets them:
//!
//! | module | what |
//! |---|---|
//! | `mmio` | the controller's register BAR: mapping it, the `xhci` crate's accessors over it, PORTSC |
//! | `dma` | whole pages the controller reads and writes |
//! | `ring` | producer rings (command, transfer) and the event ring |
//! | `controller` | the controller's life: take-over from the firmware, reset, start, commands, halt |
//! | `device` | one addressed device: where it is (root port, route string, TT), its slot, EP0 ring, contexts and buffer |
//! | `enumerate` | a port's device, step by step, from port reset to a configured keyboard |
//! | `hub` | a hub: its descriptor, the controller's Hub bit, its ports powered and reset, the devices behind it |
//! | `control` | control transfers on a device's endpoint 0 |
//! | `descriptors` | fetching a device's descriptors; `hwparse::usb` judges them |
//! | `keyboard` | a keyboard's interrupt endpoint: queueing reports, decoding completions |
//! | `wait` | busy waiting on the TSC with a deadline |
//!
//! Every error stops one thing, never the boot: a controller error skips
//! that controller, a device error (including a descriptor that does not
//! parse) leaves that device alone, and each is printed as one line.

mod control;
mod controller;
mod descriptors;
mod device;
mod dma;
mod enumerate;
mod hub;
mod keyboard;
mod mmio;
mod ring;
mod wait;

pub use controller::Controller;

/// An error that stops a controller or a device; printed as one line.
#[derive(Clone, Copy, Debug)]
pub enum Error {
    /// The controller, one of its commands or a transfer failed: what
    /// happened.
    Failed(&'static str),
    /// A device's device descriptor was refused: the device is left alone.
    DeviceDescriptor(hwparse::usb::DeviceDescriptorError),
    /// A device's configuration was refused: the device is left alone.
    Configuration(hwparse::usb::ConfigurationError),
    /// A hub's hub descriptor was refused: the hub is left alone.
    HubDescriptor(hwparse::usb::HubDescriptorError),
}

impl From<&'static str> for Error {
    fn from(what: &'static str) -> Self {
        Error::Failed(what)
    }
}

impl From<hwparse::usb::DeviceDescriptorError> for Error {
    fn from(e: hwparse::usb::DeviceDescriptorError) -> Self {
        Error::DeviceDescriptor(e)
    }
}

impl From<hwparse::usb::ConfigurationError> for Error {
    fn from(e: hwparse::usb::ConfigurationError) -> Self {
        Error::Configuration(e)
    }
}

impl From<hwparse::usb::HubDescriptorError> for Error {
    fn from(e: hwparse::usb::HubDescriptorError) -> Self {
        Error::HubDescriptor(e)
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Failed(what) => f.write_str(what),
            Error::DeviceDescriptor(e) => write!(f, "{e}"),
            Error::Configuration(e) => write!(f, "{e}"),
            Error::HubDescriptor(e) => write!(f, "{e}"),
        }
    }
}

/// The page size the driver gives the controller (PAGESIZE bit 0: 4 KiB),
/// and the size of every DMA buffer.
const PAGE: usize = 4096;

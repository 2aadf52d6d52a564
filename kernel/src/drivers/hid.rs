//! HID boot-protocol keyboard reports to ASCII (US layout).
//!
//! The reports come from a USB device, so their parsing and decoding live
//! in the host-tested, fuzzed `hwparse` crate (`kernel/hwparse/src/hid.rs`,
//! where the report format is described); the kernel uses them from here,
//! and the `hid` ktest suite checks them on every architecture as built for
//! the kernel.

pub use hwparse::hid::{BootKeyboard, usage_to_ascii};

//! Device drivers found by bus enumeration (today: USB keyboards behind xHCI
//! on x86_64 PCs). Arch-specific bus access (PCI configuration ports) lives
//! under `arch/`; the drivers here use it through `crate::arch::x86_64_platform`.

/// HID boot keyboard reports to ASCII: arch-neutral logic, tested by the
/// `hid` ktest suite on every architecture.
pub mod hid;
#[cfg(target_arch = "x86_64")]
pub mod usb;

/// Finds and starts the drivers' devices; prints one line per device or
/// failure. Called once by the boot CPU after the memory manager is up.
pub fn init() {
    #[cfg(target_arch = "x86_64")]
    usb::init();
}

/// One input byte from a driver's keyboard, if one was typed (polled by the
/// architecture's console input path).
#[cfg(target_arch = "x86_64")]
pub fn read_input() -> Option<u8> {
    usb::read()
}

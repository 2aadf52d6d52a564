//! PCI configuration space through the legacy I/O ports 0xCF8 (address) and
//! 0xCFC (data): "configuration mechanism #1" of the PCI Local Bus
//! Specification 3.0, section 3.2.2.3.2 (Linux: `pci_conf1_read` in
//! arch/x86/pci/direct.c). It reaches the first 256 bytes of every function
//! on segment 0, which is all the USB driver needs; the types for what is
//! read there (headers, BARs, command register) come from `pci_types`.

use pci_types::{ConfigRegionAccess, PciAddress, PciHeader};
use spin::Mutex;
use x86_64::instructions::port::Port;

const CONFIG_ADDRESS: u16 = 0xCF8;
const CONFIG_DATA: u16 = 0xCFC;

/// Serialises the two-step (address, then data) port sequence between CPUs.
static PORTS: Mutex<()> = Mutex::new(());

/// Configuration-space access through ports 0xCF8/0xCFC (segment 0 only,
/// offsets 0..=0xFC, dword aligned).
#[derive(Clone, Copy, Debug)]
pub struct PortConfigAccess;

fn address_word(address: PciAddress, offset: u16) -> u32 {
    (1 << 31)
        | (u32::from(address.bus()) << 16)
        | (u32::from(address.device()) << 11)
        | (u32::from(address.function()) << 8)
        | u32::from(offset & 0xFC)
}

impl ConfigRegionAccess for PortConfigAccess {
    /// Reads the dword at `offset` (bytes, dword aligned, below 0x100).
    /// A function that does not exist reads as all ones.
    unsafe fn read(&self, address: PciAddress, offset: u16) -> u32 {
        debug_assert!(address.segment() == 0 && offset < 0x100);
        let _guard = PORTS.lock();
        // SAFETY: 0xCF8/0xCFC are the PC's PCI configuration ports; writing an
        // address with the enable bit and reading the data has no other effect.
        unsafe {
            Port::<u32>::new(CONFIG_ADDRESS).write(address_word(address, offset));
            Port::<u32>::new(CONFIG_DATA).read()
        }
    }

    /// Writes the dword at `offset` (bytes, dword aligned, below 0x100).
    unsafe fn write(&self, address: PciAddress, offset: u16, value: u32) {
        debug_assert!(address.segment() == 0 && offset < 0x100);
        let _guard = PORTS.lock();
        // SAFETY: as in `read`; what the write does to the device is the
        // caller's responsibility (this function is `unsafe`).
        unsafe {
            Port::<u32>::new(CONFIG_ADDRESS).write(address_word(address, offset));
            Port::<u32>::new(CONFIG_DATA).write(value);
        }
    }
}

/// Calls `f` with every PCI function present on segment 0 (brute force over
/// 256 buses x 32 devices, functions 1..=7 only on multi-function devices).
/// Takes a few milliseconds; no bridge needs configuring because firmware
/// has numbered the buses already.
pub fn for_each_function(mut f: impl FnMut(PciHeader)) {
    for bus in 0..=255u8 {
        for device in 0..32u8 {
            let header = PciHeader::new(PciAddress::new(0, bus, device, 0));
            if header.id(PortConfigAccess).0 == 0xFFFF {
                continue;
            }
            let functions = if header.has_multiple_functions(PortConfigAccess) { 8 } else { 1 };
            for function in 0..functions {
                let header = PciHeader::new(PciAddress::new(0, bus, device, function));
                if header.id(PortConfigAccess).0 != 0xFFFF {
                    f(header);
                }
            }
        }
    }
}

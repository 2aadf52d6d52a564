//! ACPI through the `acpi` crate: FADT for poweroff (S5) and reset.
//!
//! Entering S5 needs the `\_S5` sleep type values from the DSDT's AML. Rather
//! than run an AML interpreter for two bytes, we scan the DSDT for the
//! `_S5_` package, which firmware encodes in one of a few fixed shapes.

use core::ptr::NonNull;

use ::acpi::address::AddressSpace;
use ::acpi::sdt::fadt::Fadt;
use ::acpi::{AcpiTables, Handler, PciAddress, PhysicalMapping};
use x86_64::instructions::port::Port;

use crate::bootinfo;

/// Maps physical memory through the bootloader's physical-memory window; the
/// remaining `Handler` methods are only for the AML interpreter, unused here.
#[derive(Clone, Copy)]
struct PhysWindow;

fn phys_ptr<T>(phys: usize) -> *mut T {
    bootinfo::get().phys_to_virt(phys as u64).cast()
}

impl Handler for PhysWindow {
    unsafe fn map_physical_region<T>(&self, phys: usize, size: usize) -> PhysicalMapping<Self, T> {
        PhysicalMapping {
            physical_start: phys,
            // The window maps all RAM and firmware tables; the address is
            // never null because the window does not start at 0.
            virtual_start: NonNull::new(phys_ptr(phys)).expect("null ACPI mapping"),
            region_length: size,
            mapped_length: size,
            handler: *self,
        }
    }

    fn unmap_physical_region<T>(_region: &PhysicalMapping<Self, T>) {}

    fn read_u8(&self, a: usize) -> u8 {
        // SAFETY: the AML interpreter (unused) would pass firmware-described addresses.
        unsafe { phys_ptr::<u8>(a).read_volatile() }
    }
    fn read_u16(&self, a: usize) -> u16 {
        // SAFETY: as read_u8.
        unsafe { phys_ptr::<u16>(a).read_volatile() }
    }
    fn read_u32(&self, a: usize) -> u32 {
        // SAFETY: as read_u8.
        unsafe { phys_ptr::<u32>(a).read_volatile() }
    }
    fn read_u64(&self, a: usize) -> u64 {
        // SAFETY: as read_u8.
        unsafe { phys_ptr::<u64>(a).read_volatile() }
    }
    fn write_u8(&self, a: usize, v: u8) {
        // SAFETY: as read_u8.
        unsafe { phys_ptr::<u8>(a).write_volatile(v) }
    }
    fn write_u16(&self, a: usize, v: u16) {
        // SAFETY: as read_u8.
        unsafe { phys_ptr::<u16>(a).write_volatile(v) }
    }
    fn write_u32(&self, a: usize, v: u32) {
        // SAFETY: as read_u8.
        unsafe { phys_ptr::<u32>(a).write_volatile(v) }
    }
    fn write_u64(&self, a: usize, v: u64) {
        // SAFETY: as read_u8.
        unsafe { phys_ptr::<u64>(a).write_volatile(v) }
    }
    fn read_io_u8(&self, port: u16) -> u8 {
        // SAFETY: firmware-described I/O port.
        unsafe { Port::new(port).read() }
    }
    fn read_io_u16(&self, port: u16) -> u16 {
        // SAFETY: firmware-described I/O port.
        unsafe { Port::new(port).read() }
    }
    fn read_io_u32(&self, port: u16) -> u32 {
        // SAFETY: firmware-described I/O port.
        unsafe { Port::new(port).read() }
    }
    fn write_io_u8(&self, port: u16, v: u8) {
        // SAFETY: firmware-described I/O port.
        unsafe { Port::new(port).write(v) }
    }
    fn write_io_u16(&self, port: u16, v: u16) {
        // SAFETY: firmware-described I/O port.
        unsafe { Port::new(port).write(v) }
    }
    fn write_io_u32(&self, port: u16, v: u32) {
        // SAFETY: firmware-described I/O port.
        unsafe { Port::new(port).write(v) }
    }
    fn read_pci_u8(&self, a: PciAddress, off: u16) -> u8 {
        (pci_read(a, off) >> ((off & 3) * 8)) as u8
    }
    fn read_pci_u16(&self, a: PciAddress, off: u16) -> u16 {
        (pci_read(a, off) >> ((off & 2) * 8)) as u16
    }
    fn read_pci_u32(&self, a: PciAddress, off: u16) -> u32 {
        pci_read(a, off)
    }
    fn write_pci_u8(&self, _: PciAddress, _: u16, _: u8) {}
    fn write_pci_u16(&self, _: PciAddress, _: u16, _: u16) {}
    fn write_pci_u32(&self, _: PciAddress, _: u16, _: u32) {}
    fn nanos_since_boot(&self) -> u64 {
        0
    }
    fn stall(&self, _us: u64) {}
    fn sleep(&self, _ms: u64) {}
}

/// PCI configuration read through the legacy 0xCF8/0xCFC mechanism.
fn pci_read(a: PciAddress, off: u16) -> u32 {
    let addr = 0x8000_0000
        | (u32::from(a.bus()) << 16)
        | (u32::from(a.device()) << 11)
        | (u32::from(a.function()) << 8)
        | u32::from(off & 0xfc);
    // SAFETY: CONFIG_ADDRESS/CONFIG_DATA are the PCI configuration ports.
    unsafe {
        Port::<u32>::new(0xCF8).write(addr);
        Port::<u32>::new(0xCFC).read()
    }
}

fn tables() -> Result<AcpiTables<PhysWindow>, &'static str> {
    let rsdp = bootinfo::get().rsdp.ok_or("no RSDP from the firmware")?;
    // SAFETY: the bootloader found this RSDP address in the firmware tables.
    unsafe { AcpiTables::from_rsdp(PhysWindow, rsdp as usize) }.map_err(|_| "bad ACPI tables")
}

fn write_gas_u16(space: AddressSpace, address: u64, value: u16) -> Result<(), &'static str> {
    match space {
        // SAFETY: the FADT names this port as a PM control register.
        AddressSpace::SystemIo => unsafe { Port::<u16>::new(address as u16).write(value) },
        AddressSpace::SystemMemory => PhysWindow.write_u16(address as usize, value),
        _ => return Err("unsupported register address space"),
    }
    Ok(())
}

/// Sleep type values `(SLP_TYPa, SLP_TYPb)` of the `\_S5` package.
fn s5_sleep_types(tables: &AcpiTables<PhysWindow>) -> Result<(u8, u8), &'static str> {
    let dsdt = tables.dsdt().map_err(|_| "no DSDT")?;
    let aml = phys_ptr::<u8>(dsdt.phys_address);
    // SAFETY: the DSDT is `length` bytes of firmware memory in the window.
    let bytes = unsafe { core::slice::from_raw_parts(aml, dsdt.length as usize) };
    parse_s5(bytes).ok_or("no \\_S5 package in the DSDT")
}

/// Finds `_S5_` followed by PackageOp (0x12), PkgLength, NumElements and two
/// integers (BytePrefix 0x0A n, Zero 0x00, One 0x01).
fn parse_s5(aml: &[u8]) -> Option<(u8, u8)> {
    let at = aml.windows(4).position(|w| w == b"_S5_")?;
    let mut p = at + 4;
    if *aml.get(p)? != 0x12 {
        return None;
    }
    p += 1;
    p += 1 + usize::from(aml.get(p)? >> 6); // PkgLength: lead byte + extra bytes
    p += 1; // NumElements
    let mut next = || -> Option<u8> {
        let op = *aml.get(p)?;
        if op == 0x0A {
            p += 2;
            aml.get(p - 1).copied()
        } else {
            p += 1;
            Some(if op == 0x01 { 1 } else { 0 })
        }
    };
    Some((next()?, next()?))
}

/// How long [`enter_s5`] waits for the power to go after the S5 write, in
/// microseconds. Power-off is not synchronous: on QEMU the write only queues
/// a shutdown request that the main loop acts on later (seen: well after the
/// write when the host is busy), and ACPI gives real chipsets no deadline
/// either. Linux's `acpi_enter_sleep_state` does not wait at all but never
/// reports a failure; here a report must mean the machine really stayed on.
pub const S5_WAIT_US: u64 = 5_000_000;

/// Puts the machine into S5 (soft off) through the FADT's PM1 control blocks
/// (ACPI 6.5 section 16.1.6 / 4.8.3.2: SLP_TYPx | SLP_EN to PM1x_CNT), then
/// waits up to [`S5_WAIT_US`] for it to take effect.
///
/// # Errors
/// A missing table or register, or the machine still running after the wait.
pub fn enter_s5() -> Result<(), &'static str> {
    let tables = tables()?;
    let fadt = tables.find_table::<Fadt>().ok_or("no FADT")?;
    let (typ_a, typ_b) = s5_sleep_types(&tables)?;
    let a = fadt.pm1a_control_block().map_err(|_| "no PM1a control block")?;
    let b = fadt.pm1b_control_block().ok().flatten();
    // A BIOS boot may leave the chipset in legacy mode (SCI_EN clear), where
    // the PM1 control writes go to SMM firmware instead of taking effect.
    if read_gas_u16(a.address_space, a.address)? & SCI_EN == 0 {
        let (port, value) = (fadt.smi_cmd_port, fadt.acpi_enable);
        if port != 0 && value != 0 && port <= 0xFFFF {
            // SAFETY: the FADT names this port as the SMI command port and
            // `acpi_enable` as the value that hands the ACPI registers to
            // the OS (ACPI 6.5 section 4.8.2.1).
            unsafe { Port::<u8>::new(port as u16).write(value) };
            // Linux's acpi_enable waits up to 3 s for SCI_EN.
            for _ in 0..3000 {
                if read_gas_u16(a.address_space, a.address)? & SCI_EN != 0 {
                    break;
                }
                super::tsc::delay_us(1000);
            }
        }
    }
    // Read-modify-write, SLP_TYP first and SLP_EN in a second write, as
    // Linux's acpi_hw_legacy_sleep does: the other bits of PM1 control
    // (SCI_EN among them) keep their values.
    for (block, typ) in [(Some(a), typ_a), (b, typ_b)] {
        let Some(block) = block else { continue };
        let current = read_gas_u16(block.address_space, block.address)?;
        let [with_typ, with_en] = hwparse::x86::s5_writes(current, typ);
        write_gas_u16(block.address_space, block.address, with_typ)?;
        write_gas_u16(block.address_space, block.address, with_en)?;
    }
    // Interrupts off: nothing of ours runs while the power goes.
    x86_64::instructions::interrupts::disable();
    super::tsc::delay_us(S5_WAIT_US);
    Err("machine still running 5 s after the S5 request")
}

/// PM1 control's SCI_EN (bit 0, ACPI 6.5 table 4.13): set once the OS owns
/// the ACPI registers.
const SCI_EN: u16 = 1 << 0;

fn read_gas_u16(space: AddressSpace, address: u64) -> Result<u16, &'static str> {
    match space {
        // SAFETY: the FADT names this port as a PM control register; reading
        // it has no side effects.
        AddressSpace::SystemIo => Ok(unsafe { Port::<u16>::new(address as u16).read() }),
        AddressSpace::SystemMemory => Ok(PhysWindow.read_u16(address as usize)),
        _ => Err("unsupported register address space"),
    }
}

/// Resets the machine through the FADT's reset register.
pub fn reset() -> Result<(), &'static str> {
    let tables = tables()?;
    let fadt = tables.find_table::<Fadt>().ok_or("no FADT")?;
    let flags = fadt.flags;
    if !flags.supports_system_reset_via_fadt() {
        return Err("FADT has no reset register");
    }
    let reg = fadt.reset_register().map_err(|_| "bad reset register")?;
    let value = fadt.reset_value;
    match reg.address_space {
        // SAFETY: the FADT names this port as the reset register.
        AddressSpace::SystemIo => unsafe { Port::<u8>::new(reg.address as u16).write(value) },
        AddressSpace::SystemMemory => PhysWindow.write_u8(reg.address as usize, value),
        _ => return Err("reset register in an unsupported address space"),
    }
    Err("machine still running after reset")
}

/// The ACPI PM timer's I/O port and width in bits (24 or 32), from the FADT.
///
/// # Errors
/// No ACPI tables, no FADT, or a timer that is absent or not in I/O space.
pub fn pm_timer() -> Result<(u16, u32), &'static str> {
    let tables = tables()?;
    let fadt = tables.find_table::<Fadt>().ok_or("no FADT")?;
    let block = fadt.pm_timer_block().map_err(|_| "bad PM timer block")?.ok_or("no PM timer")?;
    if block.address_space != AddressSpace::SystemIo || block.address == 0 || block.address > 0xFFFF
    {
        return Err("PM timer not in I/O space");
    }
    Ok((block.address as u16, if { fadt.flags }.pm_timer_is_32_bit() { 32 } else { 24 }))
}

/// The processors a MADT describes, by APIC id, each listed once, in MADT
/// order (the boot CPU is usually first); see [`hwparse::x86::classify_cpus`].
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MadtCpus {
    /// Flagged Enabled: present and usable now; these are started.
    pub enabled: alloc::vec::Vec<u32>,
    /// Flagged Online Capable but not Enabled: hot-pluggable, not started.
    pub online_capable: alloc::vec::Vec<u32>,
}

/// The processors of the MADT.
///
/// # Errors
/// No ACPI tables or no MADT.
pub fn madt_cpus() -> Result<MadtCpus, &'static str> {
    use ::acpi::sdt::madt::{Madt, MadtEntry};
    let tables = tables()?;
    let madt = tables.find_table::<Madt>().ok_or("no MADT")?;
    let entries = madt.get().entries().filter_map(|entry| match entry {
        MadtEntry::LocalApic(e) => Some((u32::from(e.apic_id), e.flags)),
        MadtEntry::LocalX2Apic(e) => Some((e.x2apic_id, e.flags)),
        _ => None,
    });
    let mut cpus = MadtCpus::default();
    hwparse::x86::classify_cpus(entries, &mut cpus.enabled, &mut cpus.online_capable);
    Ok(cpus)
}

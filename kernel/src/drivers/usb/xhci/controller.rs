//! One xHCI controller's life: taken from the firmware, reset, started,
//! driven by commands, and halted when nobody needs it.
//!
//! The order is the specification's (xHCI 1.2, 4.2; Linux `xhci_init` and
//! `xhci_run`), and each step is its own function so that a failure names
//! the step: the firmware hand-off first (a BIOS that still owns the
//! controller would fight over it through SMIs), then Intel's port switch
//! (until it runs, the ports of 7- to 9-series chipsets belong to EHCI),
//! then halt and reset, then the data structures, then Run. A controller
//! that fails any step is left halted or as it was, and the caller skips it.
//!
//! Commands (Enable Slot, Address Device, ...) are synchronous: one at a
//! time, each waited for (one second) on the event ring. Boot enumerates a
//! handful of devices once, so the simplicity is worth more than overlap.

use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{Ordering, fence};

use pci_types::{Bar, CommandRegister, EndpointHeader, PciHeader};
use xhci::ring::trb::event;

use super::device::Device;
use super::dma::Dma;
use super::mmio::{Mmio, map_mmio};
use super::ring::{EventRing, RING_TRBS, Ring};
use super::wait::{delay_ms, wait_until};
use super::{Error, PAGE};
use crate::arch::x86_64_platform::pci::PortConfigAccess;

/// A running xHCI controller and the devices on its root ports.
pub struct Controller {
    pub(super) name: String,
    pub(super) regs: xhci::Registers<Mmio>,
    pub(super) mmio: Mmio,
    /// 64-bit addressing (HCCPARAMS1.AC64): DMA pages may lie above 4 GiB.
    pub(super) ac64: bool,
    /// 64-byte contexts (HCCPARAMS1.CSZ).
    pub(super) csz: bool,
    pub(super) dcbaa: Dma,
    pub(super) commands: Ring,
    pub(super) events: EventRing,
    pub(super) devices: Vec<Device>,
}

// SAFETY: the controller's pointers are to its own DMA pages and MMIO; it is
// only used under the USB driver's lock.
unsafe impl Send for Controller {}

impl Controller {
    /// Takes over the xHCI controller at PCI function `header` and
    /// enumerates the devices on its root ports. `Err` leaves the controller
    /// halted or as it was; the caller reports it and goes on.
    pub fn init(header: PciHeader) -> Result<Controller, Error> {
        let name = alloc::format!("{}", header.address());
        let header_address = header.address();
        let (vendor, device) = header.id(PortConfigAccess);
        let mut endpoint =
            EndpointHeader::from_header(header, PortConfigAccess).ok_or("not a type 0 header")?;
        // Size the BAR with memory decoding off (sizing writes all ones).
        let command = endpoint.command(PortConfigAccess);
        endpoint.update_command(PortConfigAccess, |c| c - CommandRegister::MEMORY_ENABLE);
        let bar = endpoint.bar(0, PortConfigAccess);
        endpoint.update_command(PortConfigAccess, |_| {
            command | CommandRegister::MEMORY_ENABLE | CommandRegister::BUS_MASTER_ENABLE
        });
        let (base, size) = match bar {
            Some(Bar::Memory64 { address, size, .. }) => (address, size),
            Some(Bar::Memory32 { address, size, .. }) => (u64::from(address), u64::from(size)),
            _ => return Err("BAR0 is not a memory BAR".into()),
        };
        if base == 0 || size < 0x1000 {
            return Err("BAR0 not assigned by the firmware".into());
        }
        let virt = map_mmio(base, size as usize) as u64;
        let last = size - 1;
        if crate::arch::virt_to_phys(virt) != Some(base)
            || crate::arch::virt_to_phys(virt + last) != Some(base + last)
        {
            println!("usb: xhci {name}: registers at {base:#x} ({size:#x} bytes) are not mapped");
            return Err("BAR0 outside the mapped physical window".into());
        }
        let mmio = Mmio { phys: base, virt: virt as usize, len: size };
        // SAFETY: `base` is this controller's register BAR, mapped by
        // map_mmio; only this `Controller` accesses it.
        let regs = unsafe { xhci::Registers::new(base as usize, mmio) };
        let hcc = regs.capability.hccparams1.read_volatile();
        let ac64 = hcc.addressing_capability();
        let csz = hcc.context_size();
        let xecp = u64::from(hcc.xhci_extended_capabilities_pointer()) * 4;
        let mut c = Controller {
            name,
            regs,
            mmio,
            ac64,
            csz,
            dcbaa: Dma::page(ac64)?,
            commands: Ring::new(ac64)?,
            events: EventRing::new(ac64)?,
            devices: Vec::new(),
        };
        if xecp != 0 {
            c.take_from_firmware(xecp);
        }
        route_intel_ports(header_address, vendor, device);
        c.reset()?;
        c.start()?;
        c.enumerate_ports();
        Ok(c)
    }

    /// Short name (PCI address) for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Number of boot keyboards in use.
    pub fn keyboards(&self) -> usize {
        self.devices.iter().filter(|d| d.keyboard.is_some()).count()
    }

    /// Number of devices found on root ports.
    pub fn devices(&self) -> usize {
        self.devices.len()
    }

    /// USB Legacy Support capability (xHCI 7.1.1): ask the BIOS to hand the
    /// controller over, and switch off its SMIs. Firmware that does not let
    /// go within a second is overruled, as Linux does.
    fn take_from_firmware(&mut self, mut offset: u64) {
        for _ in 0..256 {
            if offset + 8 > self.mmio.len {
                return; // a broken capability list: leave it
            }
            let cap = self.mmio.virt(self.mmio.phys + offset, 8) as *mut u32;
            // SAFETY: `offset` walks the extended capability list inside BAR0
            // (each entry's next pointer, in dwords, from the controller).
            let dword = unsafe { cap.read_volatile() };
            if dword & 0xFF == 1 {
                const BIOS_OWNED: u32 = 1 << 16;
                const OS_OWNED: u32 = 1 << 24;
                // SAFETY: USBLEGSUP and USBLEGCTLSTS of this controller.
                unsafe {
                    cap.write_volatile(dword | OS_OWNED);
                    let released = wait_until(1000, || cap.read_volatile() & BIOS_OWNED == 0);
                    if !released {
                        cap.write_volatile((cap.read_volatile() & !BIOS_OWNED) | OS_OWNED);
                    }
                    // Disable every SMI source; write 1 to clear the RW1C ones.
                    let ctl = cap.add(1);
                    ctl.write_volatile((ctl.read_volatile() & !0x0001_E011) | 0xE000_0000);
                }
                return;
            }
            let next = u64::from((dword >> 8) & 0xFF);
            if next == 0 {
                return;
            }
            offset += next * 4;
        }
    }

    /// Stops the controller (Run/Stop = 0) and waits up to 100 ms for it
    /// to halt; devices stay addressed, nothing is reset.
    pub fn halt(mut self) {
        let op = &mut self.regs.operational;
        op.usbcmd.update_volatile(|c| {
            c.clear_run_stop();
        });
        let _ = wait_until(100, || op.usbsts.read_volatile().hc_halted());
    }

    /// Halts (if running) and resets the controller (xHCI 4.2).
    fn reset(&mut self) -> Result<(), Error> {
        let op = &mut self.regs.operational;
        op.usbcmd.update_volatile(|c| {
            c.clear_run_stop();
            c.clear_interrupter_enable();
        });
        if !wait_until(100, || op.usbsts.read_volatile().hc_halted()) {
            return Err("controller does not halt".into());
        }
        op.usbcmd.update_volatile(|c| {
            c.set_host_controller_reset();
        });
        // Some controllers must not be touched for 1 ms after HCRST (Linux: xhci_reset).
        delay_ms(1);
        let ready = wait_until(1000, || {
            !op.usbcmd.read_volatile().host_controller_reset()
                && !op.usbsts.read_volatile().controller_not_ready()
        });
        if !ready { Err("controller reset timed out".into()) } else { Ok(()) }
    }

    /// Hands the controller its device context array, scratchpad, command
    /// ring and event ring (all allocated by `init`), then runs it.
    fn start(&mut self) -> Result<(), Error> {
        let ac64 = self.ac64;
        let slots = self.regs.capability.hcsparams1.read_volatile().number_of_device_slots();
        if self.regs.operational.pagesize.read_volatile().get() & 1 == 0 {
            return Err("controller does not support 4 KiB pages".into());
        }
        self.regs.operational.config.update_volatile(|c| {
            c.set_max_device_slots_enabled(slots);
        });

        let scratchpads = self.regs.capability.hcsparams2.read_volatile().max_scratchpad_buffers();
        if scratchpads > 0 {
            if scratchpads as usize > PAGE / 8 {
                return Err("too many scratchpad buffers".into());
            }
            let array = Dma::page(ac64)?;
            for i in 0..scratchpads as usize {
                array.write_u64(i, Dma::page(ac64)?.phys);
            }
            self.dcbaa.write_u64(0, array.phys);
        }
        let dcbaa = self.dcbaa.phys;
        self.regs.operational.dcbaap.update_volatile(|d| d.set(dcbaa));

        let crp = self.commands.dma.phys;
        self.regs.operational.crcr.update_volatile(|c| {
            c.set_command_ring_pointer(crp);
            c.set_ring_cycle_state();
        });

        // One event ring segment, described by a one-entry segment table
        // (base address, size in TRBs).
        let segment = self.events.segment;
        let erst = Dma::page(ac64)?;
        erst.write_u64(0, segment.phys);
        erst.write_u64(1, RING_TRBS as u64);
        let mut int0 = self.regs.interrupter_register_set.interrupter_mut(0);
        int0.erstsz.update_volatile(|s| s.set(1));
        int0.erdp.update_volatile(|d| d.set_event_ring_dequeue_pointer(segment.phys));
        int0.erstba.update_volatile(|b| b.set(erst.phys));
        int0.iman.update_volatile(|i| {
            i.clear_interrupt_enable();
        });

        self.regs.operational.usbcmd.update_volatile(|c| {
            c.set_run_stop();
        });
        let op = &self.regs.operational;
        if !wait_until(100, || !op.usbsts.read_volatile().hc_halted()) {
            return Err("controller does not start".into());
        }
        Ok(())
    }

    /// Rings doorbell `slot` (0: the command ring) for endpoint `target`,
    /// after a fence that orders every TRB written before it.
    pub(super) fn ring_doorbell(&mut self, slot: u8, target: u8) {
        fence(Ordering::SeqCst);
        self.regs.doorbell.update_volatile_at(usize::from(slot), |d| {
            d.set_doorbell_target(target);
            d.set_doorbell_stream_id(0);
        });
    }

    /// Runs one command and waits (1 s) for its completion event.
    pub(super) fn command(&mut self, trb: [u32; 4]) -> Result<event::CommandCompletion, Error> {
        let phys = self.commands.push(trb);
        self.ring_doorbell(0, 0);
        let mut found = None;
        let ok = wait_until(1000, || {
            while let Some(raw) = self.events.pop() {
                if let Ok(event::Allowed::CommandCompletion(c)) = event::Allowed::try_from(raw)
                    && c.command_trb_pointer() == phys
                {
                    found = Some(c);
                }
            }
            found.is_some()
        });
        self.update_erdp();
        let c = match (ok, found) {
            (true, Some(c)) => c,
            _ => return Err("command timed out".into()),
        };
        match c.completion_code() {
            Ok(event::CompletionCode::Success) => Ok(c),
            _ => Err("command failed".into()),
        }
    }

    /// Tells the controller how far the event ring has been read (ERDP) and
    /// clears Event Handler Busy.
    pub(super) fn update_erdp(&mut self) {
        let p = self.events.dequeue_phys();
        self.regs.interrupter_register_set.interrupter_mut(0).erdp.update_volatile(|d| {
            d.set_event_ring_dequeue_pointer(p);
            d.clear_event_handler_busy();
        });
    }
}

/// Intel 7- to 9-series chipsets (Panther Point, Lynx Point, Wildcat Point)
/// route their USB ports to the EHCI controllers until the OS switches them
/// to xHCI through PCI config registers XUSB2PR (0xD0, mask in 0xD4) and
/// USB3_PSSEN (0xD8, mask in 0xDC). Linux: `usb_enable_intel_xhci_ports`
/// in drivers/usb/host/pci-quirks.c.
fn route_intel_ports(address: pci_types::PciAddress, vendor: u16, device: u16) {
    const SWITCHABLE: [u16; 5] = [0x1E31, 0x8C31, 0x9C31, 0x8CB1, 0x9CB1];
    if vendor != 0x8086 || !SWITCHABLE.contains(&device) {
        return;
    }
    use pci_types::ConfigRegionAccess;
    // SAFETY: documented Intel xHCI config registers; writing the masks the
    // chipset reports only moves ports from EHCI to this controller.
    unsafe {
        let usb3 = PortConfigAccess.read(address, 0xDC);
        PortConfigAccess.write(address, 0xD8, usb3);
        let usb2 = PortConfigAccess.read(address, 0xD4);
        PortConfigAccess.write(address, 0xD0, usb2);
    }
}

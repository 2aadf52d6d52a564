//! xHCI host controller, polled, just enough for boot-protocol keyboards.
//!
//! Follows the initialisation of the xHCI specification 1.2, section 4.2
//! (Linux: `xhci_init`/`xhci_run` in drivers/usb/host/xhci.c) and device
//! enumeration of section 4.3 (Linux: `hub_port_init` in
//! drivers/usb/core/hub.c): take the controller from the firmware (USB legacy
//! support capability, 7.1), halt and reset it, give it a device context
//! array, a command ring and one event ring, run it, reset every connected
//! root port, and for each device: Enable Slot, Address Device, read the
//! device and configuration descriptors. Devices that are not HID
//! boot-protocol keyboards are left addressed and untouched (a USB stick the
//! machine booted from, for example); keyboards get SET_CONFIGURATION,
//! SET_PROTOCOL(boot), Configure Endpoint for their interrupt IN endpoint, and
//! one 8-byte Normal TRB that is re-queued whenever it completes.
//!
//! Register layouts, contexts and TRBs come from the `xhci` crate. Nothing
//! uses interrupts: [`Controller::poll`] drains the event ring and is called
//! from the console's input path. Hubs are not supported (root ports only).
//!
//! DMA memory (rings, contexts, buffers) is whole pages from the kernel's
//! page allocator, kept for good, reached through the physical-memory window;
//! x86 DMA is cache coherent, so a fence before each doorbell write is all
//! the ordering the controller needs.

use alloc::vec::Vec;
use core::num::NonZeroUsize;
use core::sync::atomic::{Ordering, fence};

use pci_types::{Bar, CommandRegister, EndpointHeader, PciHeader};
use xhci::accessor::Mapper;
use xhci::accessor::single;
use xhci::context::{EndpointType, Input32Byte, Input64Byte, InputHandler};
use xhci::registers::operational::PortStatusAndControlRegister;
use xhci::ring::trb::{Link, command, event, transfer};

use crate::arch::x86_64_platform::{self, pci::PortConfigAccess};
use crate::drivers::hid::{BootKeyboard, REPORT_LEN};

/// Maps `len` bytes of device registers at physical address `phys` and
/// returns their virtual address: the USB driver's only way to its BARs,
/// called once per controller for the whole BAR 0. It is the platform's
/// uncacheable MMIO mapping ([`x86_64_platform::map_mmio`]: 4 KiB pages,
/// PCD|PWT, no-execute), so BARs that firmware placed above the bootloader's
/// physical-memory window (OVMF puts them at e.g. 0xE0_0000_0000) are
/// reachable too.
///
/// # Panics
/// As [`x86_64_platform::map_mmio`]: an empty or wrapping range, or no room
/// left for another MMIO range.
pub fn map_mmio(phys: u64, len: usize) -> *mut u8 {
    x86_64_platform::map_mmio(phys, len)
}

/// One controller's BAR 0 as [`map_mmio`] mapped it; the `accessor::Mapper`
/// that the `xhci` crate's register accessors use (they "map" each register
/// block: here an offset into the BAR, so no mapping is made per access).
#[derive(Clone, Copy, Debug)]
struct Mmio {
    /// Physical address of BAR 0.
    phys: u64,
    /// Its virtual address, from `map_mmio`.
    virt: usize,
    /// Its size in bytes.
    len: u64,
}

impl Mmio {
    /// Virtual address of register byte `phys` (inside BAR 0, else a panic:
    /// a register outside the BAR is a driver bug).
    fn virt(&self, phys: u64, bytes: usize) -> usize {
        let offset = phys.wrapping_sub(self.phys);
        assert!(
            phys >= self.phys && offset + bytes as u64 <= self.len,
            "xHCI register {phys:#x}+{bytes} outside BAR0 {:#x}+{:#x}",
            self.phys,
            self.len
        );
        self.virt + offset as usize
    }
}

impl Mapper for Mmio {
    unsafe fn map(&mut self, phys_start: usize, bytes: usize) -> NonZeroUsize {
        NonZeroUsize::new(self.virt(phys_start as u64, bytes)).expect("BAR0 mapped at 0")
    }

    fn unmap(&mut self, _virt_start: usize, _bytes: usize) {}
}

/// An error that stops a controller or a device; printed as one line.
pub type Error = &'static str;

const PAGE: usize = 4096;
/// TRBs per ring page (16 bytes each); the last one is the Link TRB.
const RING_TRBS: usize = PAGE / 16;

/// Milliseconds of busy waiting on the TSC.
fn delay_ms(ms: u64) {
    let end = crate::arch::read_cycles() + ms * 1000 * crate::arch::cycles_per_us();
    while crate::arch::read_cycles() < end {
        core::hint::spin_loop();
    }
}

/// Polls `done` until it is true or `ms` milliseconds passed.
fn wait_until(ms: u64, mut done: impl FnMut() -> bool) -> bool {
    let end = crate::arch::read_cycles() + ms * 1000 * crate::arch::cycles_per_us();
    loop {
        if done() {
            return true;
        }
        if crate::arch::read_cycles() >= end {
            return done();
        }
        core::hint::spin_loop();
    }
}

/// One zeroed page of DMA memory: physical address for the controller,
/// virtual address for the kernel.
#[derive(Clone, Copy)]
struct Dma {
    phys: u64,
    virt: *mut u8,
}

impl Dma {
    /// Allocates a zeroed page; below 4 GiB when the controller lacks
    /// 64-bit addressing (`ac64` false).
    fn page(ac64: bool) -> Result<Dma, Error> {
        let page = crate::mm::alloc_frozen_pages(0).ok_or("out of memory for DMA")?;
        let pfn = crate::mm::zone().page_to_pfn(page);
        let phys = (pfn * mm::PAGE_SIZE) as u64;
        if !ac64 && phys + PAGE as u64 > 1 << 32 {
            // The page is ours and unused; a failed free only leaks it.
            let _ = crate::mm::free_frozen_pages(page, 0);
            return Err("no DMA memory below 4 GiB for a 32-bit controller");
        }
        let virt = crate::mm::pfn_to_virt(pfn);
        // SAFETY: a fresh page owned by us, mapped by the physical window.
        unsafe { core::ptr::write_bytes(virt, 0, PAGE) };
        Ok(Dma { phys, virt })
    }

    fn write_u64(&self, index: usize, value: u64) {
        assert!(index < PAGE / 8);
        // SAFETY: inside our page; volatile because the controller reads it.
        unsafe { self.virt.cast::<u64>().add(index).write_volatile(value) };
    }

    fn read_u8(&self, offset: usize) -> u8 {
        assert!(offset < PAGE);
        // SAFETY: inside our page; volatile because the controller writes it.
        unsafe { self.virt.add(offset).read_volatile() }
    }
}

/// A producer ring (command or transfer ring): one page, Link TRB at the end
/// pointing back to the start with Toggle Cycle (xHCI 4.9.2).
struct Ring {
    dma: Dma,
    enqueue: usize,
    cycle: bool,
}

impl Ring {
    fn new(ac64: bool) -> Result<Ring, Error> {
        Ok(Ring { dma: Dma::page(ac64)?, enqueue: 0, cycle: true })
    }

    fn write_trb(&mut self, index: usize, mut trb: [u32; 4]) {
        trb[3] = (trb[3] & !1) | u32::from(self.cycle);
        let p = self.dma.virt.cast::<u32>();
        // SAFETY: `index < RING_TRBS`, so all four dwords are in our page.
        // The dword holding the cycle bit is written last, after a fence, so
        // the controller never sees a TRB it owns with stale contents.
        unsafe {
            for (i, &dw) in trb.iter().enumerate().take(3) {
                p.add(index * 4 + i).write_volatile(dw);
            }
            fence(Ordering::Release);
            p.add(index * 4 + 3).write_volatile(trb[3]);
        }
    }

    /// Queues one TRB; returns its physical address (events name TRBs by it).
    fn push(&mut self, trb: [u32; 4]) -> u64 {
        let index = self.enqueue;
        self.write_trb(index, trb);
        let phys = self.dma.phys + (index * 16) as u64;
        self.enqueue += 1;
        if self.enqueue == RING_TRBS - 1 {
            let mut link = Link::new();
            link.set_ring_segment_pointer(self.dma.phys).set_toggle_cycle();
            self.write_trb(RING_TRBS - 1, link.into_raw());
            self.enqueue = 0;
            self.cycle = !self.cycle;
        }
        phys
    }
}

/// The single-segment event ring of interrupter 0 (xHCI 4.9.4).
struct EventRing {
    segment: Dma,
    dequeue: usize,
    cycle: bool,
}

impl EventRing {
    /// The next event, if the controller has written one.
    fn pop(&mut self) -> Option<[u32; 4]> {
        let p = self.segment.virt.cast::<u32>();
        // SAFETY: `dequeue < RING_TRBS`, so the TRB is inside the segment page.
        let dw3 = unsafe { p.add(self.dequeue * 4 + 3).read_volatile() };
        if (dw3 & 1 != 0) != self.cycle {
            return None;
        }
        // The cycle bit is read first; the rest of the TRB only after it.
        fence(Ordering::Acquire);
        let mut trb = [0u32; 4];
        for (i, dw) in trb.iter_mut().enumerate() {
            // SAFETY: as above.
            *dw = unsafe { p.add(self.dequeue * 4 + i).read_volatile() };
        }
        self.dequeue += 1;
        if self.dequeue == RING_TRBS {
            self.dequeue = 0;
            self.cycle = !self.cycle;
        }
        Some(trb)
    }

    fn dequeue_phys(&self) -> u64 {
        self.segment.phys + (self.dequeue * 16) as u64
    }
}

/// A keyboard's interrupt IN endpoint with its one pending transfer.
struct KeyboardEndpoint {
    /// Device Context Index of the endpoint (2 x number + 1 for IN).
    dci: u8,
    ring: Ring,
    /// Report buffer (first [`REPORT_LEN`] bytes of the page).
    report: Dma,
    decoder: BootKeyboard,
    /// False once the endpoint failed (stall, babble): no more transfers.
    alive: bool,
}

/// One addressed device on a root port.
struct Device {
    slot: u8,
    port: u8,
    ep0: Ring,
    input: Dma,
    /// Descriptor buffer.
    buffer: Dma,
    keyboard: Option<KeyboardEndpoint>,
}

impl Device {
    /// The input context, zeroed, in the controller's context size (`csz`:
    /// 64-byte contexts).
    fn input_context(&mut self, csz: bool) -> &mut dyn InputHandler {
        // SAFETY: the input page belongs to this device, is page aligned and
        // larger than either context layout (33 x 64 bytes at most); the
        // controller reads it only during the command that follows, which
        // the caller issues after this borrow ends.
        unsafe {
            core::ptr::write_bytes(self.input.virt, 0, PAGE);
            if csz {
                &mut *self.input.virt.cast::<Input64Byte>()
            } else {
                &mut *self.input.virt.cast::<Input32Byte>()
            }
        }
    }
}

/// What a configuration descriptor says about a boot keyboard interface.
struct KeyboardInterface {
    configuration: u8,
    interface: u8,
    endpoint: u8,
    max_packet: u16,
    interval: u8,
}

/// A running xHCI controller and the devices on its root ports.
pub struct Controller {
    name: alloc::string::String,
    regs: xhci::Registers<Mmio>,
    mmio: Mmio,
    ac64: bool,
    csz: bool,
    dcbaa: Dma,
    commands: Ring,
    events: EventRing,
    devices: Vec<Device>,
}

// SAFETY: the controller's pointers are to its own DMA pages and MMIO; it is
// only used under the USB driver's lock.
unsafe impl Send for Controller {}

/// USB standard requests (USB 2.0 section 9.4) and HID class requests (HID 1.11 section 7.2).
const GET_DESCRIPTOR: u8 = 6;
const SET_CONFIGURATION: u8 = 9;
const HID_SET_IDLE: u8 = 0x0A;
const HID_SET_PROTOCOL: u8 = 0x0B;
const DESC_DEVICE: u16 = 1;
const DESC_CONFIGURATION: u16 = 2;

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
            _ => return Err("BAR0 is not a memory BAR"),
        };
        if base == 0 || size < 0x1000 {
            return Err("BAR0 not assigned by the firmware");
        }
        let virt = map_mmio(base, size as usize) as u64;
        let last = size - 1;
        if crate::arch::virt_to_phys(virt) != Some(base)
            || crate::arch::virt_to_phys(virt + last) != Some(base + last)
        {
            println!("usb: xhci {name}: registers at {base:#x} ({size:#x} bytes) are not mapped");
            return Err("BAR0 outside the mapped physical window");
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
            events: EventRing { segment: Dma::page(ac64)?, dequeue: 0, cycle: true },
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
            return Err("controller does not halt");
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
        if !ready { Err("controller reset timed out") } else { Ok(()) }
    }

    /// Hands the controller its device context array, scratchpad, command
    /// ring and event ring (all allocated by `init`), then runs it.
    fn start(&mut self) -> Result<(), Error> {
        let ac64 = self.ac64;
        let slots = self.regs.capability.hcsparams1.read_volatile().number_of_device_slots();
        if self.regs.operational.pagesize.read_volatile().get() & 1 == 0 {
            return Err("controller does not support 4 KiB pages");
        }
        self.regs.operational.config.update_volatile(|c| {
            c.set_max_device_slots_enabled(slots);
        });

        let scratchpads = self.regs.capability.hcsparams2.read_volatile().max_scratchpad_buffers();
        if scratchpads > 0 {
            if scratchpads as usize > PAGE / 8 {
                return Err("too many scratchpad buffers");
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
            return Err("controller does not start");
        }
        Ok(())
    }

    /// PORTSC of root port `port` (1-based), as a 32-bit register (ports
    /// accept only dword accesses).
    fn portsc(&self, port: u8) -> single::ReadWrite<PortStatusAndControlRegister, Mmio> {
        let caplength = u64::from(self.regs.capability.caplength.read_volatile().get());
        let addr = self.mmio.phys + caplength + 0x400 + 0x10 * u64::from(port - 1);
        // SAFETY: PORTSC of an existing port of this controller (xHCI 5.4.8).
        unsafe { single::ReadWrite::new(addr as usize, self.mmio) }
    }

    /// Writes PORTSC with `f` applied, never clearing PED or a change bit by
    /// accident (they are write-1-to-clear).
    fn update_portsc(&self, port: u8, f: impl FnOnce(&mut PortStatusAndControlRegister)) {
        let mut reg = self.portsc(port);
        reg.update_volatile(|p| {
            p.set_0_port_enabled_disabled();
            p.set_0_connect_status_change();
            p.set_0_port_enabled_disabled_change();
            p.set_0_warm_port_reset_change();
            p.set_0_over_current_change();
            p.set_0_port_reset_change();
            p.set_0_port_link_state_change();
            p.set_0_port_config_error_change();
            f(p);
        });
    }

    /// Powers and resets every connected root port and enumerates what is
    /// there; a device that fails is reported and skipped.
    fn enumerate_ports(&mut self) {
        let ports = self.regs.capability.hcsparams1.read_volatile().number_of_ports();
        let mut powered = false;
        for port in 1..=ports {
            if !self.portsc(port).read_volatile().port_power() {
                self.update_portsc(port, |p| {
                    p.set_port_power();
                });
                powered = true;
            }
        }
        // Connection debounce (USB 2.0 7.1.7.3: 100 ms), and power-on time.
        delay_ms(if powered { 120 } else { 100 });
        for port in 1..=ports {
            let sc = self.portsc(port).read_volatile();
            if !sc.current_connect_status() {
                continue;
            }
            if let Err(e) = self.enumerate_port(port) {
                println!("usb: xhci {} port {port}: {e}; device ignored", self.name);
            }
        }
        // Now that no command is outstanding, start the keyboards' transfers.
        for i in 0..self.devices.len() {
            self.queue_report(i);
        }
    }

    fn enumerate_port(&mut self, port: u8) -> Result<(), Error> {
        // USB3 ports enable themselves after link training; USB2 ports need a
        // reset (xHCI 4.3.1).
        if !self.portsc(port).read_volatile().port_enabled_disabled() {
            self.update_portsc(port, |p| {
                p.set_port_reset();
            });
            let reg = self.portsc(port);
            if !wait_until(500, || reg.read_volatile().port_reset_change()) {
                return Err("port reset timed out");
            }
            self.update_portsc(port, |p| {
                p.clear_port_reset_change();
            });
            delay_ms(10); // reset recovery (USB 2.0 7.1.7.5)
        }
        let sc = self.portsc(port).read_volatile();
        if !sc.port_enabled_disabled() {
            return Err("port not enabled after reset");
        }
        let speed = sc.port_speed();

        let completion = self.command(command::EnableSlot::new().into_raw())?;
        let slot = completion.slot_id();
        if slot == 0 {
            return Err("no slot id");
        }
        let ac64 = self.ac64;
        let output = Dma::page(ac64)?;
        self.dcbaa.write_u64(usize::from(slot), output.phys);
        let mut dev = Device {
            slot,
            port,

            ep0: Ring::new(ac64)?,
            input: Dma::page(ac64)?,
            buffer: Dma::page(ac64)?,
            keyboard: None,
        };

        // Address Device with a slot context and EP0 (xHCI 4.3.3).
        // Default max packet: 8 for low/full speed, 64 high, 512 super speed.
        let mps0: u16 = match speed {
            3 => 64,
            4.. => 512,
            _ => 8,
        };
        let ep0_ring = dev.ep0.dma.phys;
        {
            let input = dev.input_context(self.csz);
            input.control_mut().set_add_context_flag(0);
            input.control_mut().set_add_context_flag(1);
            let slot_cx = input.device_mut().slot_mut();
            slot_cx.set_root_hub_port_number(port);
            slot_cx.set_route_string(0);
            slot_cx.set_speed(speed);
            slot_cx.set_context_entries(1);
            let ep0 = input.device_mut().endpoint_mut(1);
            ep0.set_endpoint_type(EndpointType::Control);
            ep0.set_max_packet_size(mps0);
            ep0.set_error_count(3);
            ep0.set_tr_dequeue_pointer(ep0_ring);
            ep0.set_dequeue_cycle_state();
            ep0.set_average_trb_length(8);
        }
        let mut address = command::AddressDevice::new();
        address.set_input_context_pointer(dev.input.phys).set_slot_id(slot);
        self.command(address.into_raw())?;

        // First 8 bytes of the device descriptor: the real EP0 packet size.
        self.control(&mut dev, 0x80, GET_DESCRIPTOR, DESC_DEVICE << 8, 0, 8)?;
        let real_mps0 = match dev.buffer.read_u8(7) {
            m if speed >= 4 => 1u16 << m.min(9),
            m => u16::from(m),
        };
        if real_mps0 != mps0 && real_mps0 >= 8 {
            {
                let input = dev.input_context(self.csz);
                input.control_mut().set_add_context_flag(1);
                input.device_mut().endpoint_mut(1).set_max_packet_size(real_mps0);
            }
            let mut evaluate = command::EvaluateContext::new();
            evaluate.set_input_context_pointer(dev.input.phys).set_slot_id(slot);
            self.command(evaluate.into_raw())?;
        }
        self.control(&mut dev, 0x80, GET_DESCRIPTOR, DESC_DEVICE << 8, 0, 18)?;
        let b = dev.buffer;
        let vendor = u16::from_le_bytes([b.read_u8(8), b.read_u8(9)]);
        let product = u16::from_le_bytes([b.read_u8(10), b.read_u8(11)]);

        self.control(&mut dev, 0x80, GET_DESCRIPTOR, DESC_CONFIGURATION << 8, 0, 9)?;
        let total = u16::from_le_bytes([b.read_u8(2), b.read_u8(3)]).min(PAGE as u16);
        if total < 9 {
            return Err("short configuration descriptor");
        }
        self.control(&mut dev, 0x80, GET_DESCRIPTOR, DESC_CONFIGURATION << 8, 0, total)?;
        let Some(kbd) = find_boot_keyboard(&dev.buffer, usize::from(total)) else {
            println!(
                "usb: xhci {} port {port}: device {vendor:04x}:{product:04x} (not a keyboard, left alone)",
                self.name
            );
            self.devices.push(dev);
            return Ok(());
        };

        self.control_out(&mut dev, 0x00, SET_CONFIGURATION, kbd.configuration.into(), 0)?;
        self.control_out(&mut dev, 0x21, HID_SET_PROTOCOL, 0, kbd.interface.into())?;
        // Reports only on change; some keyboards stall this request: not fatal.
        let _ = self.control_out(&mut dev, 0x21, HID_SET_IDLE, 0, kbd.interface.into());

        // Configure Endpoint for the interrupt IN endpoint (xHCI 4.3.5, 6.2.3).
        let dci = (kbd.endpoint & 0x0F) * 2 + 1;
        let ring = Ring::new(ac64)?;
        let report = Dma::page(ac64)?;
        let interval = match speed {
            // bInterval in frames of 1 ms; xHCI wants 2^n x 125 us.
            1 | 2 => (u32::from(kbd.interval.max(1)) * 8).ilog2().clamp(3, 10) as u8,
            _ => kbd.interval.clamp(1, 16) - 1,
        };
        let mps = kbd.max_packet & 0x7FF;
        let burst = ((kbd.max_packet >> 11) & 3) as u8;
        {
            let input = dev.input_context(self.csz);
            input.control_mut().set_add_context_flag(0);
            input.control_mut().set_add_context_flag(usize::from(dci));
            input.control_mut().set_configuration_value(kbd.configuration);
            let slot_cx = input.device_mut().slot_mut();
            slot_cx.set_root_hub_port_number(port);
            slot_cx.set_route_string(0);
            slot_cx.set_speed(speed);
            slot_cx.set_context_entries(dci);
            let ep = input.device_mut().endpoint_mut(usize::from(dci));
            ep.set_endpoint_type(EndpointType::InterruptIn);
            ep.set_max_packet_size(mps);
            ep.set_max_burst_size(burst);
            ep.set_interval(interval);
            ep.set_error_count(3);
            ep.set_tr_dequeue_pointer(ring.dma.phys);
            ep.set_dequeue_cycle_state();
            ep.set_average_trb_length(REPORT_LEN as u16);
            ep.set_max_endpoint_service_time_interval_payload_low(mps * (u16::from(burst) + 1));
        }
        let mut configure = command::ConfigureEndpoint::new();
        configure.set_input_context_pointer(dev.input.phys).set_slot_id(slot);
        self.command(configure.into_raw())?;

        dev.keyboard =
            Some(KeyboardEndpoint { dci, ring, report, decoder: BootKeyboard::new(), alive: true });
        println!(
            "usb: xhci {} port {port}: keyboard {vendor:04x}:{product:04x} (HID boot protocol, slot {slot})",
            self.name
        );
        self.devices.push(dev);
        Ok(())
    }

    fn ring_doorbell(&mut self, slot: u8, target: u8) {
        fence(Ordering::SeqCst);
        self.regs.doorbell.update_volatile_at(usize::from(slot), |d| {
            d.set_doorbell_target(target);
            d.set_doorbell_stream_id(0);
        });
    }

    /// Runs one command and waits (1 s) for its completion event.
    fn command(&mut self, trb: [u32; 4]) -> Result<event::CommandCompletion, Error> {
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
            _ => return Err("command timed out"),
        };
        match c.completion_code() {
            Ok(event::CompletionCode::Success) => Ok(c),
            _ => Err("command failed"),
        }
    }

    fn update_erdp(&mut self) {
        let p = self.events.dequeue_phys();
        self.regs.interrupter_register_set.interrupter_mut(0).erdp.update_volatile(|d| {
            d.set_event_ring_dequeue_pointer(p);
            d.clear_event_handler_busy();
        });
    }

    /// A control transfer on EP0 (xHCI 4.11.2.2); `len` bytes land in the
    /// device's buffer page when `request_type` has the IN bit.
    fn control(
        &mut self,
        dev: &mut Device,
        request_type: u8,
        request: u8,
        value: u16,
        index: u16,
        len: u16,
    ) -> Result<(), Error> {
        let dir_in = request_type & 0x80 != 0;
        let mut setup = transfer::SetupStage::new();
        setup
            .set_request_type(request_type)
            .set_request(request)
            .set_value(value)
            .set_index(index)
            .set_length(len)
            .set_transfer_type(match (len, dir_in) {
                (0, _) => transfer::TransferType::No,
                (_, true) => transfer::TransferType::In,
                (_, false) => transfer::TransferType::Out,
            });
        dev.ep0.push(setup.into_raw());
        if len > 0 {
            let mut data = transfer::DataStage::new();
            data.set_data_buffer_pointer(dev.buffer.phys)
                .set_trb_transfer_length(u32::from(len))
                .set_direction(if dir_in {
                    transfer::Direction::In
                } else {
                    transfer::Direction::Out
                });
            dev.ep0.push(data.into_raw());
        }
        let mut status = transfer::StatusStage::new();
        // The status stage goes the other way from the data stage (IN if none).
        if len == 0 || !dir_in {
            status.set_direction();
        }
        status.set_interrupt_on_completion();
        let phys = dev.ep0.push(status.into_raw());
        self.ring_doorbell(dev.slot, 1);

        let mut result = None;
        let ok = wait_until(1000, || {
            while let Some(raw) = self.events.pop() {
                if let Ok(event::Allowed::TransferEvent(t)) = event::Allowed::try_from(raw)
                    && t.slot_id() == dev.slot
                    && t.endpoint_id() == 1
                {
                    // An error ends the transfer early, on any of its TRBs.
                    let code = t.completion_code();
                    if t.trb_pointer() == phys || code != Ok(event::CompletionCode::Success) {
                        result = Some(code);
                    }
                }
            }
            result.is_some()
        });
        self.update_erdp();
        match (ok, result) {
            (
                true,
                Some(Ok(event::CompletionCode::Success | event::CompletionCode::ShortPacket)),
            ) => Ok(()),
            (true, Some(Ok(event::CompletionCode::StallError))) => Err("request stalled"),
            (true, Some(_)) => Err("control transfer failed"),
            _ => Err("control transfer timed out"),
        }
    }

    /// A control transfer with no data stage (SET_* requests).
    fn control_out(
        &mut self,
        dev: &mut Device,
        request_type: u8,
        request: u8,
        value: u16,
        index: u16,
    ) -> Result<(), Error> {
        self.control(dev, request_type, request, value, index, 0)
    }

    /// Queues one 8-byte report transfer on device `i`'s keyboard endpoint.
    fn queue_report(&mut self, i: usize) {
        let dev = &mut self.devices[i];
        let slot = dev.slot;
        let Some(kbd) = dev.keyboard.as_mut().filter(|k| k.alive) else {
            return;
        };
        let mut normal = transfer::Normal::new();
        normal
            .set_data_buffer_pointer(kbd.report.phys)
            .set_trb_transfer_length(REPORT_LEN as u32)
            .set_interrupt_on_short_packet()
            .set_interrupt_on_completion();
        kbd.ring.push(normal.into_raw());
        let dci = kbd.dci;
        self.ring_doorbell(slot, dci);
    }

    /// Drains the event ring: decodes completed keyboard reports and calls
    /// `out` with each ASCII byte typed, then re-queues the transfers.
    pub fn poll(&mut self, out: &mut impl FnMut(u8)) {
        let mut any = false;
        while let Some(raw) = self.events.pop() {
            any = true;
            let Ok(event::Allowed::TransferEvent(t)) = event::Allowed::try_from(raw) else {
                continue;
            };
            let Some(i) = self.devices.iter().position(|d| {
                d.slot == t.slot_id()
                    && d.keyboard.as_ref().is_some_and(|k| k.dci == t.endpoint_id())
            }) else {
                continue;
            };
            let dev = &mut self.devices[i];
            let kbd = dev.keyboard.as_mut().unwrap();
            match t.completion_code() {
                Ok(event::CompletionCode::Success | event::CompletionCode::ShortPacket) => {
                    let mut report = [0u8; REPORT_LEN];
                    for (j, b) in report.iter_mut().enumerate() {
                        *b = kbd.report.read_u8(j);
                    }
                    kbd.decoder.report(&report, &mut *out);
                }
                _ => {
                    kbd.alive = false;
                    println!(
                        "usb: xhci {} port {}: keyboard transfer failed; keyboard stopped",
                        self.name, dev.port
                    );
                }
            }
            self.queue_report(i);
        }
        if any {
            self.update_erdp();
        }
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

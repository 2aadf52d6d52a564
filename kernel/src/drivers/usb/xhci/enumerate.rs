//! From a connected port to a configured keyboard, one named step at a
//! time (xHCI 1.2, 4.3; Linux `hub_port_init` and `usb_new_device`).
//!
//! [`Controller::enumerate_ports`] resets each connected root port and
//! [`Controller::enumerate_device`] reads as the sequence the specification
//! prescribes: Enable Slot, Address Device, fix EP0's packet size, read the
//! descriptors, and for a keyboard set it up; a hub (device class 9) is set
//! up in hub.rs, which resets its ports and comes back here for each device
//! behind it. Each step is a function whose error says what failed; the
//! first error ends that device's enumeration, which is printed as one line
//! before the next port is tried. A device that is neither a boot keyboard
//! nor a hub is left addressed and untouched (the USB stick the machine
//! booted from, for one).

use hwparse::hid::{BootKeyboard, REPORT_LEN};
use hwparse::usb::{self, BootKeyboardInterface, Speed};
use xhci::context::EndpointType;
use xhci::ring::trb::command;

use super::Error;
use super::control::{HID_SET_IDLE, HID_SET_PROTOCOL, SET_CONFIGURATION};
use super::controller::Controller;
use super::device::{Device, Location};
use super::dma::Dma;
use super::keyboard::KeyboardEndpoint;
use super::ring::Ring;
use super::wait::{delay_ms, wait_until};

impl Controller {
    /// Powers and resets every connected root port and enumerates what is
    /// there; a device that fails is reported and skipped.
    pub(super) fn enumerate_ports(&mut self) {
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
            match self.reset_port(port) {
                Ok(speed) => self.enumerate_device(Location::root(port), speed),
                Err(e) => println!("usb: xhci {} port {port}: {e}; device ignored", self.name),
            }
        }
        // Now that no command is outstanding, start the keyboards' transfers.
        for i in 0..self.devices.len() {
            self.queue_report(i);
        }
    }

    /// Enumerates the device at `loc` (its port already reset, `speed` an
    /// xHCI speed id): a hub gets its own ports enumerated in turn
    /// (hub.rs). A failure is printed as one line and leaves that device
    /// alone.
    pub(super) fn enumerate_device(&mut self, loc: Location, speed: u8) {
        if let Err(e) = self.enumerate_port(loc, speed) {
            println!("usb: xhci {} port {loc}: {e}; device ignored", self.name);
        }
    }

    /// The steps of [`Self::enumerate_device`]; on success the device is in
    /// `self.devices`, set up if it is a keyboard or a hub.
    fn enumerate_port(&mut self, loc: Location, speed: u8) -> Result<(), Error> {
        let slot = self.enable_slot()?;
        let mut dev = self.new_device(slot, loc, speed)?;
        let mps0 = self.address_device(&mut dev)?;
        self.fix_ep0_max_packet(&mut dev, mps0)?;
        let ids = self.read_device_descriptor(&mut dev)?;
        let (vendor, product) = (ids.vendor, ids.product);
        if ids.class == usb::HUB_CLASS {
            return self.set_up_hub(dev, &ids);
        }
        let Some(kbd) = self.read_configuration(&mut dev)? else {
            println!(
                "usb: xhci {} port {loc}: device {vendor:04x}:{product:04x} (not a keyboard, left alone)",
                self.name
            );
            self.devices.push(dev);
            return Ok(());
        };
        self.configure_keyboard(&mut dev, &kbd)?;
        println!(
            "usb: xhci {} port {loc}: keyboard {vendor:04x}:{product:04x} (HID boot protocol, slot {slot})",
            self.name
        );
        self.devices.push(dev);
        Ok(())
    }

    /// Resets the port if it is not enabled yet and returns its speed (the
    /// PORTSC speed id). USB3 ports enable themselves after link training;
    /// USB2 ports need a reset (xHCI 4.3.1).
    fn reset_port(&mut self, port: u8) -> Result<u8, Error> {
        if !self.portsc(port).read_volatile().port_enabled_disabled() {
            self.update_portsc(port, |p| {
                p.set_port_reset();
            });
            let reg = self.portsc(port);
            if !wait_until(500, || reg.read_volatile().port_reset_change()) {
                return Err("port reset timed out".into());
            }
            self.update_portsc(port, |p| {
                p.clear_port_reset_change();
            });
            delay_ms(10); // reset recovery (USB 2.0 7.1.7.5)
        }
        let sc = self.portsc(port).read_volatile();
        if !sc.port_enabled_disabled() {
            return Err("port not enabled after reset".into());
        }
        Ok(sc.port_speed())
    }

    /// Enable Slot (xHCI 4.3.2): the device slot the controller assigns.
    fn enable_slot(&mut self) -> Result<u8, Error> {
        let completion = self.command(command::EnableSlot::new().into_raw())?;
        let slot = completion.slot_id();
        if slot == 0 {
            return Err("no slot id".into());
        }
        Ok(slot)
    }

    /// The device's memory: an output context for the controller (entered
    /// in the device context array), an EP0 ring, an input context and a
    /// descriptor buffer.
    fn new_device(&mut self, slot: u8, loc: Location, speed: u8) -> Result<Device, Error> {
        let ac64 = self.ac64;
        let output = Dma::page(ac64)?;
        self.dcbaa.write_u64(usize::from(slot), output.phys);
        Ok(Device {
            slot,
            loc,
            speed,
            ep0: Ring::new(ac64)?,
            input: Dma::page(ac64)?,
            buffer: Dma::page(ac64)?,
            keyboard: None,
        })
    }

    /// Address Device with a slot context and EP0 (xHCI 4.3.3), EP0 at the
    /// default max packet size for the device's speed, which it returns: 8
    /// for low and full speed, 64 high, 512 SuperSpeed. Behind hubs the
    /// slot context carries the route string and the TT (device.rs).
    fn address_device(&mut self, dev: &mut Device) -> Result<u16, Error> {
        let speed = dev.speed;
        let mps0: u16 = match speed {
            3 => 64,
            4.. => 512,
            _ => 8,
        };
        let (loc, slot, ep0_ring) = (dev.loc, dev.slot, dev.ep0.dma.phys);
        {
            let input = dev.input_context(self.csz);
            input.control_mut().set_add_context_flag(0);
            input.control_mut().set_add_context_flag(1);
            loc.fill_slot(input.device_mut().slot_mut(), speed, 1);
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
        Ok(mps0)
    }

    /// Reads EP0's real max packet size from the device descriptor (a value
    /// the speed does not allow refuses the device) and, if it differs from
    /// the default `mps0`, tells the controller with Evaluate Context
    /// (xHCI 4.6.7; full-speed devices may use 8 to 64).
    fn fix_ep0_max_packet(&mut self, dev: &mut Device, mps0: u16) -> Result<(), Error> {
        let real_mps0 = self.read_ep0_max_packet(dev, usb_speed(dev.speed))?;
        if real_mps0 != mps0 {
            {
                let input = dev.input_context(self.csz);
                input.control_mut().set_add_context_flag(1);
                input.device_mut().endpoint_mut(1).set_max_packet_size(real_mps0);
            }
            let mut evaluate = command::EvaluateContext::new();
            evaluate.set_input_context_pointer(dev.input.phys).set_slot_id(dev.slot);
            self.command(evaluate.into_raw())?;
        }
        Ok(())
    }

    /// Sets a boot keyboard up: SET_CONFIGURATION, SET_PROTOCOL(boot),
    /// SET_IDLE, then Configure Endpoint for its interrupt IN endpoint
    /// (xHCI 4.3.5, 6.2.3) with a ring and a report buffer of its own.
    fn configure_keyboard(
        &mut self,
        dev: &mut Device,
        kbd: &BootKeyboardInterface,
    ) -> Result<(), Error> {
        let speed = dev.speed;
        self.control_out(dev, 0x00, SET_CONFIGURATION, kbd.configuration.into(), 0)?;
        self.control_out(dev, 0x21, HID_SET_PROTOCOL, 0, kbd.interface.into())?;
        // Reports only on change; some keyboards stall this request: not fatal.
        let _ = self.control_out(dev, 0x21, HID_SET_IDLE, 0, kbd.interface.into());

        let ac64 = self.ac64;
        // The parser guarantees an endpoint number of 1 to 15: DCI 3 to 31.
        let dci = kbd.endpoint_number() * 2 + 1;
        let ring = Ring::new(ac64)?;
        let report = Dma::page(ac64)?;
        let interval = match speed {
            // bInterval in frames of 1 ms; xHCI wants 2^n x 125 us.
            1 | 2 => (u32::from(kbd.interval.max(1)) * 8).ilog2().clamp(3, 10) as u8,
            _ => kbd.interval.clamp(1, 16) - 1,
        };
        let mps = kbd.max_packet & 0x7FF;
        let burst = ((kbd.max_packet >> 11) & 3) as u8;
        let loc = dev.loc;
        {
            let input = dev.input_context(self.csz);
            input.control_mut().set_add_context_flag(0);
            input.control_mut().set_add_context_flag(usize::from(dci));
            input.control_mut().set_configuration_value(kbd.configuration);
            loc.fill_slot(input.device_mut().slot_mut(), speed, dci);
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
        configure.set_input_context_pointer(dev.input.phys).set_slot_id(dev.slot);
        self.command(configure.into_raw())?;

        dev.keyboard =
            Some(KeyboardEndpoint { dci, ring, report, decoder: BootKeyboard::new(), alive: true });
        Ok(())
    }
}

/// The USB speed of xHCI port speed id `speed` (the default Protocol Speed
/// IDs, xHCI 7.2.2.1.1): 1 full, 2 low, 3 high, 4 and up SuperSpeed; an
/// undefined 0 is taken as full speed, like the default EP0 packet size.
pub(super) fn usb_speed(speed: u8) -> Speed {
    match speed {
        2 => Speed::Low,
        3 => Speed::High,
        4.. => Speed::Super,
        _ => Speed::Full,
    }
}

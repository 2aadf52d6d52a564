//! USB 2.0 hubs (USB 2.0 chapter 11; Linux drivers/usb/core/hub.c:
//! hub_configure, hub_power_on, hub_port_reset, `hub_port_init`): the
//! devices behind them, keyboards included.
//!
//! A device of class 9 found by enumeration (enumerate.rs) gets
//! SET_CONFIGURATION and its hub descriptor read (judged by
//! `hwparse::usb::HubDescriptor`); the controller is told it is a hub (the
//! slot context's Hub bit, Number of Ports and, for a high-speed hub, TT
//! Think Time: Configure Endpoint, xHCI 4.3.3 and 6.2.2.1, as Linux's
//! xhci_update_hub_device does). Then every port is powered, and after
//! `bPwrOn2PwrGood` and the connection debounce each connected port is
//! reset; the device behind it is enumerated like one on a root port, with
//! the Route String, root port and TT of its `Location` in its slot
//! context. A hub behind a hub goes through the same steps, up to the five
//! hub tiers USB allows.
//!
//! Ports are looked at once, at boot: the hub's status change endpoint is
//! not used, so a device plugged into a hub later is not seen. SuperSpeed
//! hubs (the USB 3 half of a USB 3 hub, with a different descriptor and
//! port status) are left alone; keyboards are on the USB 2 half, which is a
//! hub of its own. Every wait is bounded, and a hub port whose device fails
//! is one printed line: the hub's other ports go on.

use hwparse::usb::{DeviceDescriptor, HubDescriptor, PORT_STATUS_LEN, PortStatus, Speed};
use xhci::ring::trb::command;

use super::Error;
use super::control::SET_CONFIGURATION;
use super::controller::Controller;
use super::device::{Device, MAX_HUB_TIERS};
use super::wait::delay_ms;

/// Hub class requests (USB 2.0 table 11-16) and port features (table 11-17).
const GET_STATUS: u8 = 0;
const CLEAR_FEATURE: u8 = 1;
const SET_FEATURE: u8 = 3;
/// bmRequestType: class, to the hub's "other" recipient (a port), out / in.
const TO_PORT: u8 = 0x23;
const FROM_PORT: u8 = 0xA3;
const PORT_RESET: u16 = 4;
const PORT_POWER: u16 = 8;
const C_PORT_CONNECTION: u16 = 16;
const C_PORT_RESET: u16 = 20;

/// How long a port reset may take before the port is given up: Linux's
/// `hub_port_wait_reset` allows 800 ms; polled every 10 ms.
const RESET_TIMEOUT_MS: u64 = 800;

impl Controller {
    /// Sets up the hub `hub` and enumerates what is on its ports; on
    /// success the hub is in `self.devices`.
    pub(super) fn set_up_hub(
        &mut self,
        mut hub: Device,
        ids: &DeviceDescriptor,
    ) -> Result<(), Error> {
        if hub.speed >= 4 {
            return Err("SuperSpeed hub: not supported (its USB 2 half is used)".into());
        }
        if hub.loc.depth() >= MAX_HUB_TIERS {
            return Err("hub: more than five hubs in a row, which USB does not allow".into());
        }
        let config = self.read_configuration_header(&mut hub)?;
        self.control_out(&mut hub, 0x00, SET_CONFIGURATION, config.value.into(), 0)?;
        let desc = self.read_hub_descriptor(&mut hub)?;
        self.tell_controller_hub(&mut hub, &desc)?;
        println!(
            "usb: xhci {} port {}: hub {:04x}:{:04x} ({} ports, slot {})",
            self.name, hub.loc, ids.vendor, ids.product, desc.ports, hub.slot
        );
        self.power_hub_ports(&mut hub, &desc)?;
        for port in 1..=desc.ports {
            // The depth was checked above: every port has a location.
            let Some(mut child) = hub.loc.child(port, None) else { break };
            match self.reset_hub_port(&mut hub, port) {
                Ok(None) => {}
                Ok(Some(speed)) => {
                    child.tt = tt_for(&hub, port, speed);
                    self.enumerate_device(child, speed);
                }
                Err(e) => println!("usb: xhci {} port {child}: {e}; device ignored", self.name),
            }
        }
        self.devices.push(hub);
        Ok(())
    }

    /// Configure Endpoint with only the slot context (Linux
    /// xhci_update_hub_device): Hub, Number of Ports and, for a
    /// high-speed hub, TT Think Time and Multi-TT (left off: the hub's
    /// single-TT default is what it runs in without SET_INTERFACE).
    fn tell_controller_hub(&mut self, hub: &mut Device, desc: &HubDescriptor) -> Result<(), Error> {
        let (loc, speed) = (hub.loc, hub.speed);
        {
            let input = hub.input_context(self.csz);
            input.control_mut().set_add_context_flag(0);
            let slot_cx = input.device_mut().slot_mut();
            loc.fill_slot(slot_cx, speed, 1);
            slot_cx.set_hub();
            slot_cx.set_number_of_ports(desc.ports);
            if speed == 3 {
                slot_cx.set_tt_think_time(desc.tt_think_time());
            }
        }
        let mut configure = command::ConfigureEndpoint::new();
        configure.set_input_context_pointer(hub.input.phys).set_slot_id(hub.slot);
        self.command(configure.into_raw())?;
        Ok(())
    }

    /// SET_FEATURE(PORT_POWER) on every port, then `bPwrOn2PwrGood` x 2 ms
    /// and the 100 ms connection debounce (USB 2.0 11.11, 7.1.7.3).
    fn power_hub_ports(&mut self, hub: &mut Device, desc: &HubDescriptor) -> Result<(), Error> {
        for port in 1..=desc.ports {
            self.control_out(hub, TO_PORT, SET_FEATURE, PORT_POWER, port.into())?;
        }
        delay_ms(u64::from(desc.power_on_to_good_ms()) + 100);
        Ok(())
    }

    /// GET_STATUS of hub port `port` (USB 2.0 11.24.2.7).
    fn hub_port_status(&mut self, hub: &mut Device, port: u8) -> Result<PortStatus, Error> {
        hub.buffer.clear(PORT_STATUS_LEN);
        self.control(hub, FROM_PORT, GET_STATUS, 0, port.into(), PORT_STATUS_LEN as u16)?;
        let mut bytes = [0; PORT_STATUS_LEN];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = hub.buffer.read_u8(i);
        }
        Ok(PortStatus::from_bytes(bytes))
    }

    /// If a device is connected to hub port `port`, resets the port (USB
    /// 2.0 11.24.2.13: SET_FEATURE(PORT_RESET), wait for C_PORT_RESET,
    /// clear it, 10 ms reset recovery) and returns the device's speed as an
    /// xHCI speed id; `None`: nothing connected.
    fn reset_hub_port(&mut self, hub: &mut Device, port: u8) -> Result<Option<u8>, Error> {
        let status = self.hub_port_status(hub, port)?;
        if !status.connected() {
            return Ok(None);
        }
        let index = u16::from(port);
        self.control_out(hub, TO_PORT, CLEAR_FEATURE, C_PORT_CONNECTION, index)?;
        self.control_out(hub, TO_PORT, SET_FEATURE, PORT_RESET, index)?;
        let mut done = false;
        for _ in 0..RESET_TIMEOUT_MS / 10 {
            delay_ms(10);
            if self.hub_port_status(hub, port)?.reset_changed() {
                done = true;
                break;
            }
        }
        if !done {
            return Err("hub port reset timed out".into());
        }
        self.control_out(hub, TO_PORT, CLEAR_FEATURE, C_PORT_RESET, index)?;
        delay_ms(10);
        let status = self.hub_port_status(hub, port)?;
        if !status.connected() || !status.enabled() {
            return Err("hub port not enabled after reset".into());
        }
        Ok(Some(match status.speed() {
            Speed::Low => 2,
            Speed::High => 3,
            _ => 1,
        }))
    }
}

/// The TT a device of xHCI speed id `speed` on `port` of `hub` goes through
/// (xHCI 4.3.3, 6.2.2: TT Hub Slot ID, TT Port Number): none for a
/// high-speed device; for a low- or full-speed one, this hub's port if the
/// hub is high speed, else the TT the hub itself is behind (none for a
/// full-speed hub on a root port, whose devices need no translation).
fn tt_for(hub: &Device, port: u8, speed: u8) -> Option<(u8, u8)> {
    match (speed, hub.speed) {
        (3.., _) => None,
        (_, 3) => Some((hub.slot, port)),
        _ => hub.loc.tt,
    }
}

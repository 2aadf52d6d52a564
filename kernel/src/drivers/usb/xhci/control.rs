//! Control transfers on a device's endpoint 0 (xHCI 4.11.2.2, USB 2.0 8.5.3).
//!
//! A control transfer is a Setup TRB, an optional Data TRB and a Status TRB
//! on the device's EP0 ring; only the Status TRB asks for a completion
//! event, so one event ends a good transfer, and an error event on any TRB
//! ends a bad one early. Data always goes through the device's one buffer
//! page, which is why a transfer is at most a page and why callers copy out
//! what they need before the next transfer. Like commands, transfers are
//! synchronous with a one-second deadline: enumeration is a short sequence
//! run once at boot.

use xhci::ring::trb::{event, transfer};

use super::Error;
use super::controller::Controller;
use super::device::Device;
use super::wait::wait_until;

/// USB standard requests (USB 2.0 section 9.4) and HID class requests (HID 1.11 section 7.2).
pub(super) const GET_DESCRIPTOR: u8 = 6;
pub(super) const SET_CONFIGURATION: u8 = 9;
pub(super) const HID_SET_IDLE: u8 = 0x0A;
pub(super) const HID_SET_PROTOCOL: u8 = 0x0B;

impl Controller {
    /// A control transfer on EP0 (xHCI 4.11.2.2); `len` bytes land in the
    /// device's buffer page when `request_type` has the IN bit.
    pub(super) fn control(
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
            (true, Some(Ok(event::CompletionCode::StallError))) => Err("request stalled".into()),
            (true, Some(_)) => Err("control transfer failed".into()),
            _ => Err("control transfer timed out".into()),
        }
    }

    /// A control transfer with no data stage (SET_* requests).
    pub(super) fn control_out(
        &mut self,
        dev: &mut Device,
        request_type: u8,
        request: u8,
        value: u16,
        index: u16,
    ) -> Result<(), Error> {
        self.control(dev, request_type, request, value, index, 0)
    }
}

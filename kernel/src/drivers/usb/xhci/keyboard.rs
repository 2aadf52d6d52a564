//! A boot keyboard's interrupt IN endpoint: one report transfer always
//! queued, decoded when it completes, then queued again.
//!
//! One outstanding 8-byte Normal TRB per keyboard is enough: the keyboard
//! answers at most once per interval and the console polls far more often
//! than anyone types, so nothing queues up. A transfer that fails (stall,
//! babble) stops that keyboard for good instead of retrying in a loop that
//! would flood the console; the other keyboards go on.

use hwparse::hid::{BootKeyboard, REPORT_LEN};
use xhci::ring::trb::{event, transfer};

use super::controller::Controller;
use super::dma::Dma;
use super::ring::Ring;

/// A keyboard's interrupt IN endpoint with its one pending transfer.
pub(super) struct KeyboardEndpoint {
    /// Device Context Index of the endpoint (2 x number + 1 for IN).
    pub(super) dci: u8,
    pub(super) ring: Ring,
    /// Report buffer (first [`REPORT_LEN`] bytes of the page).
    pub(super) report: Dma,
    pub(super) decoder: BootKeyboard,
    /// False once the endpoint failed (stall, babble): no more transfers.
    pub(super) alive: bool,
}

impl Controller {
    /// Queues one 8-byte report transfer on device `i`'s keyboard endpoint.
    pub(super) fn queue_report(&mut self, i: usize) {
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
                    // The event's length is the residue, the bytes that did
                    // not arrive (xHCI 6.4.2.1): the decoder ignores a short
                    // report instead of reading stale bytes of the last one.
                    let residue = t.trb_transfer_length() as usize;
                    let len = REPORT_LEN.saturating_sub(residue);
                    let mut report = [0u8; REPORT_LEN];
                    for (j, b) in report.iter_mut().enumerate().take(len) {
                        *b = kbd.report.read_u8(j);
                    }
                    kbd.decoder.report(&report[..len], &mut *out);
                }
                _ => {
                    kbd.alive = false;
                    println!(
                        "usb: xhci {} port {}: keyboard transfer failed; keyboard stopped",
                        self.name, dev.loc
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

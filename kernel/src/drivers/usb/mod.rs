//! USB keyboards: every xHCI controller on PCI (class 0x0C, subclass 0x03,
//! programming interface 0x30) is taken over at boot, HID boot-protocol
//! keyboards on its root ports are set up, and their keys are polled from
//! the console's input path into the same shell as the serial port and the
//! PS/2 keyboard. See docs/hardware.md for what was tested how.
//!
//! Every USB controller found gets one line: an xHCI one says what it found
//! or why it was skipped; an older one (UHCI, OHCI, EHCI: not driven) says
//! what to do instead, so a dead keyboard always has a reason on the screen.
//! A controller or a device that fails is left alone, and boot goes on.

mod xhci;

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use spin::Mutex;

use crate::arch::x86_64_platform::pci;

/// PCI class code of a USB host controller; the programming interface
/// names its register interface (PCI Code and ID Assignment, class 0x0C03).
const CLASS_SERIAL_BUS: u8 = 0x0C;
const SUBCLASS_USB: u8 = 0x03;
const PROG_IF_XHCI: u8 = 0x30;

/// The register interface of a USB host controller that is not xHCI, by
/// its programming interface.
fn older_interface(prog_if: u8) -> &'static str {
    match prog_if {
        0x00 => "UHCI (USB 1.1)",
        0x10 => "OHCI (USB 1.1)",
        0x20 => "EHCI (USB 2.0)",
        0xFE => "a USB device controller",
        _ => "an unknown USB interface",
    }
}

struct State {
    controllers: Vec<xhci::Controller>,
    /// Bytes decoded but not read yet (one report can carry several keys).
    pending: VecDeque<u8>,
}

static STATE: Mutex<State> =
    Mutex::new(State { controllers: Vec::new(), pending: VecDeque::new() });
/// Set once a controller with a keyboard runs: [`read`] is free otherwise.
static KEYBOARDS: AtomicBool = AtomicBool::new(false);

/// Takes over every xHCI controller and sets up its keyboards; one line
/// per controller (devices found, or why it was skipped), none without xHCI.
/// `usb=off` on the kernel command line leaves every controller untouched
/// (an escape hatch for a PC where the driver misbehaves).
pub fn init() {
    let cmdline = crate::cmdline::CmdLine::parse(crate::bootinfo::get().cmdline);
    if cmdline.get("usb") == Some("off") {
        println!("usb: off (usb=off on the command line)");
        return;
    }
    pci::for_each_function(|header| {
        let (_, class, subclass, prog_if) = header.revision_and_class(pci::PortConfigAccess);
        if (class, subclass) != (CLASS_SERIAL_BUS, SUBCLASS_USB) {
            return;
        }
        let address = header.address();
        if prog_if != PROG_IF_XHCI {
            println!(
                "usb: {address}: {} controller, not driven: keyboards on it do not work here; \
                 use a PS/2 keyboard, a port of an xHCI (USB 3) controller, or the serial console",
                older_interface(prog_if)
            );
            return;
        }
        match xhci::Controller::init(header) {
            Ok(c) => {
                println!(
                    "usb: xhci {}: {} device(s), {} keyboard(s)",
                    c.name(),
                    c.devices(),
                    c.keyboards()
                );
                if c.keyboards() > 0 {
                    STATE.lock().controllers.push(c);
                    // Release: the controller is in the list before readers look.
                    KEYBOARDS.store(true, Ordering::Release);
                } else {
                    // Nothing to poll: stop the controller, so it writes no
                    // more events into memory nobody reads.
                    c.halt();
                }
            }
            Err(e) => println!("usb: xhci {address}: {e}; controller skipped"),
        }
    });
}

/// One typed byte from a USB keyboard, if any. Polls the controllers'
/// event rings; never blocks (another CPU polling means "nothing now").
pub fn read() -> Option<u8> {
    if !KEYBOARDS.load(Ordering::Acquire) {
        return None;
    }
    let mut state = STATE.try_lock()?;
    if let Some(b) = state.pending.pop_front() {
        return Some(b);
    }
    let State { controllers, pending } = &mut *state;
    for c in controllers.iter_mut() {
        c.poll(&mut |b| pending.push_back(b));
    }
    pending.pop_front()
}

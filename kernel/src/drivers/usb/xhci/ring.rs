//! TRB rings: the producer rings the driver fills (the command ring and
//! each endpoint's transfer ring) and the event ring the controller fills.
//!
//! Each ring is one page (xHCI 4.9), which is plenty for a driver that has
//! at most one command, one control transfer or one report outstanding per
//! ring. A producer ring ends in a Link TRB back to its start with Toggle
//! Cycle (4.9.2); the event ring is a single segment described by a
//! one-entry segment table (4.9.4). Ownership of a TRB is its cycle bit, so
//! the order of memory accesses is the whole protocol: a producer writes the
//! cycle-bit dword last, after a Release fence; the event consumer reads it
//! first and the rest only after an Acquire fence.

use core::sync::atomic::{Ordering, fence};

use xhci::ring::trb::Link;

use super::dma::Dma;
use super::{Error, PAGE};

/// TRBs per ring page (16 bytes each); the last one is the Link TRB.
pub(super) const RING_TRBS: usize = PAGE / 16;

/// A producer ring (command or transfer ring): one page, Link TRB at the end
/// pointing back to the start with Toggle Cycle (xHCI 4.9.2).
pub(super) struct Ring {
    pub(super) dma: Dma,
    enqueue: usize,
    cycle: bool,
}

impl Ring {
    pub(super) fn new(ac64: bool) -> Result<Ring, Error> {
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
    pub(super) fn push(&mut self, trb: [u32; 4]) -> u64 {
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
pub(super) struct EventRing {
    pub(super) segment: Dma,
    dequeue: usize,
    cycle: bool,
}

impl EventRing {
    pub(super) fn new(ac64: bool) -> Result<EventRing, Error> {
        Ok(EventRing { segment: Dma::page(ac64)?, dequeue: 0, cycle: true })
    }

    /// The next event, if the controller has written one.
    pub(super) fn pop(&mut self) -> Option<[u32; 4]> {
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

    /// Physical address of the next TRB to read: what ERDP is set to.
    pub(super) fn dequeue_phys(&self) -> u64 {
        self.segment.phys + (self.dequeue * 16) as u64
    }
}

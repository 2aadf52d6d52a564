//! `stress_storm`: allocation storm on every CPU.
//!
//! Each CPU allocates blocks of random orders (mostly 0..=3, now and then up
//! to MAX_ORDER), some counted (`alloc_pages`, freed by the last put) and
//! some frozen (`alloc_frozen_pages` / `free_frozen_pages`), fills each whole
//! block with a pattern derived from a token unique to the allocation, and
//! later checks the pattern and frees the block itself or hands it to another
//! CPU's mailbox to be checked and freed there (so per-CPU lists receive
//! other CPUs' pages). A block handed out twice would carry the other
//! owner's pattern. Afterwards, once the per-CPU lists are drained, all
//! memory must be back and merged exactly as before (free count and
//! buddyinfo). A second, short case bypasses the per-CPU lists and sends
//! every CPU straight into the zone lock.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use mm::{MAX_ORDER, Page};
use spin::Mutex;

use super::common::{Rng, Snapshot, Tally, mix, scale, seed};
use super::pages::{NO_FAULTS, Pages, words};
use crate::kassert_eq;
use crate::ktest::{Suite, TestResult};
use crate::mm::zone;
use crate::smp::{self, Barrier};

pub static SUITE: Suite =
    Suite { name: "stress_storm", cases: crate::cases![alloc_storm, alloc_storm_zone_lock] };

/// Operations per CPU.
pub const OPS: usize = 15_000;
/// Operations per CPU straight into the zone lock: few, since under vCPU
/// oversubscription a contended zone lock whose holder's vCPU is descheduled
/// keeps every waiter for a host time slice, milliseconds (see `pages`).
const OPS_ZONE: usize = 200;
/// Blocks a CPU holds at most.
const HOLD: usize = 48;
/// Capacity of each mailbox, reserved up front (no heap growth mid-run).
const MAILBOX: usize = 64;
/// One allocation in this many is of order 4..=MAX_ORDER.
const BIG_ONE_IN: usize = 200;

#[derive(Clone, Copy)]
struct Block {
    page: &'static Page,
    order: usize,
    token: u64,
    /// Allocated with a count (freed by the last put) or frozen.
    counted: bool,
}

#[derive(Default)]
struct Local {
    allocs: u64,
    sent: u64,
    received: u64,
    refops: u64,
    pages: u64,
    token: u64,
}

struct Run<'a> {
    pages: Pages<'a>,
    mailboxes: Vec<Mutex<Vec<Block>>>,
    cpus: Vec<usize>,
    /// A block's pattern was damaged while its owner held it.
    corrupt: AtomicU64,
}

fn alloc_storm() -> TestResult {
    run(Pages::new(&NO_FAULTS), OPS * scale())
}

/// The same with every CPU straight into the zone lock (see `pages`).
fn alloc_storm_zone_lock() -> TestResult {
    run(Pages::zone_direct(&NO_FAULTS), OPS_ZONE * scale())
}

/// The workload, also used by `stress_faults` with failures injected.
pub fn run(pages: Pages<'_>, ops: usize) -> TestResult {
    let seed = seed();
    diag!("allocator: {}", pages.path());
    let cpus: Vec<usize> = smp::online_cpus().map(|c| c.index).collect();
    let slots = cpus.iter().max().map_or(1, |m| m + 1);
    let r = Run {
        pages,
        mailboxes: (0..slots).map(|_| Mutex::new(Vec::with_capacity(MAILBOX))).collect(),
        cpus,
        corrupt: AtomicU64::new(0),
    };
    let held: Vec<Mutex<Vec<Block>>> =
        (0..slots).map(|_| Mutex::new(Vec::with_capacity(HOLD))).collect();
    let tally = Tally::new(["ops", "allocs", "pages", "sent", "received", "refops"]);
    let barrier = Barrier::new(r.cpus.len());
    let before = Snapshot::take();
    smp::on_each_cpu(&|cpu| {
        let mut rng = Rng::stream(seed, cpu);
        let mut l = Local { token: (cpu as u64 + 1) << 40, ..Local::default() };
        // Uncontended: each CPU only ever locks its own list.
        let mut held = held[cpu].lock();
        let mut done = 0;
        for _ in 0..ops {
            if r.pages.stopped() {
                break;
            }
            done += 1;
            r.receive(cpu, &mut l);
            if held.len() < HOLD && (held.is_empty() || rng.one_in(2)) {
                if let Some(b) = r.alloc(&mut rng, &mut l) {
                    held.push(b);
                }
            } else {
                let k = rng.below(held.len());
                let b = held.swap_remove(k);
                r.check(&b);
                r.send_or_free(b, cpu, &mut rng, &mut l);
            }
        }
        for b in held.drain(..) {
            r.check(&b);
            r.free(b, &mut l);
        }
        // Nobody sends after this barrier: empty our mailbox for good.
        barrier.wait();
        r.receive(cpu, &mut l);
        tally.add(cpu, [done, l.allocs, l.pages, l.sent, l.received, l.refops]);
    });
    tally.report();
    diag!("orders: mostly 0..=3, one in {BIG_ONE_IN} up to {MAX_ORDER}");
    kassert_eq!(r.corrupt.load(Relaxed), 0);
    r.pages.check()?;
    before.check()
}

impl Run<'_> {
    fn alloc(&self, rng: &mut Rng, l: &mut Local) -> Option<Block> {
        let order =
            if rng.one_in(BIG_ONE_IN) { 4 + rng.below(MAX_ORDER - 3) } else { rng.below(4) };
        let counted = rng.one_in(2);
        let page = if counted {
            self.pages.alloc(order, rng)?
        } else {
            self.pages.alloc_frozen(order, rng)?
        };
        l.refops += u64::from(counted);
        l.token += 1;
        l.allocs += 1;
        l.pages += 1 << order;
        let b = Block { page, order, token: l.token, counted };
        for (k, w) in self.words(&b).iter().enumerate() {
            w.store(pattern(b.token, k), Relaxed);
        }
        Some(b)
    }

    fn words(&self, b: &Block) -> &'static [AtomicU64] {
        // SAFETY: the block came from `self.pages`, and its memory is only
        // accessed through these atomics while the suite holds it.
        unsafe { words(zone().page_to_pfn(b.page), b.order) }
    }

    fn check(&self, b: &Block) {
        let w = self.words(b);
        if w.iter().enumerate().any(|(k, w)| w.load(Relaxed) != pattern(b.token, k)) {
            self.pages.error(&self.corrupt);
        }
    }

    /// One block in three goes to another CPU (if its mailbox has room).
    fn send_or_free(&self, b: Block, me: usize, rng: &mut Rng, l: &mut Local) {
        if self.cpus.len() > 1 && rng.one_in(3) {
            let to = self.cpus[rng.below(self.cpus.len())];
            if to != me {
                let mut mb = self.mailboxes[to].lock();
                if mb.len() < MAILBOX {
                    mb.push(b);
                    l.sent += 1;
                    return;
                }
            }
        }
        self.free(b, l);
    }

    /// Checks and frees what other CPUs sent us.
    fn receive(&self, me: usize, l: &mut Local) {
        // The guard is dropped before the block is checked and freed.
        let pop = || self.mailboxes[me].lock().pop();
        while let Some(b) = pop() {
            l.received += 1;
            self.check(&b);
            self.free(b, l);
        }
    }

    fn free(&self, b: Block, l: &mut Local) {
        if b.counted {
            l.refops += 1;
            self.pages.put(b.page, b.order);
        } else {
            self.pages.free_poisoned(b.page, b.order);
        }
    }
}

/// Word `k` of the block with `token`: never equal to the poison pattern in
/// practice, different for every allocation.
fn pattern(token: u64, k: usize) -> u64 {
    mix(token) ^ k as u64
}

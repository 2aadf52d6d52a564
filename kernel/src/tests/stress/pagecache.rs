//! `stress_pagecache`: speculative lookup vs free, the page-cache pattern
//! (refcount.md cases 2, 3 and 6).
//!
//! A table of slots holds pages, each with one reference owned by the slot.
//! Writers install freshly allocated, stamped pages and later remove or
//! replace them, dropping the slot's reference; the last put poisons the page
//! and frees it. Readers look up without any lock: load the slot, take a
//! speculative reference, reload the slot (the page may have been freed and
//! reused in between; then put and retry), and only then read the stamp.
//! A reader holding a validated reference must always find its slot's stamp:
//! poison means it used a freed page, another stamp means it used a page that
//! had been reused.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::common::{Rng, Slots, Snapshot, Tally, jitter, page_of, scale, seed};
use super::pages::{FaultKnob, NO_FAULTS, Pages, Seen, check_stamp, stamp};
use crate::ktest::{Suite, TestResult};
use crate::mm::zone;
use crate::{kassert_eq, smp};

pub static SUITE: Suite = Suite { name: "stress_pagecache", cases: crate::cases![lookup_vs_free] };

/// Slots in the table: few enough that readers and writers collide often.
const SLOTS: usize = 32;
/// Operations per CPU.
pub const OPS: usize = 300_000;
/// Lookup attempts before a reader declares the slot stuck.
const MAX_TRIES: usize = 100_000;
/// One operation in this many is a write (install, remove or replace).
const WRITE_ONE_IN: usize = 8;

fn lookup_vs_free() -> TestResult {
    run(&NO_FAULTS, OPS * scale())
}

#[derive(Default)]
struct Errors {
    /// A validated reader found poison: it used a freed page.
    poison: AtomicU64,
    /// A validated reader found another slot's or a torn stamp.
    bad_stamp: AtomicU64,
    /// A reader's lookup kept failing: the slot holds a frozen (freed) page.
    stuck: AtomicU64,
}

#[derive(Default)]
struct Local {
    refops: u64,
    hits: u64,
    retries: u64,
    writes: u64,
    generation: u64,
}

struct Run<'a> {
    slots: Slots,
    pages: Pages<'a>,
    errors: Errors,
}

/// The workload, also used by `stress_faults` with failures injected.
pub fn run(knob: &FaultKnob, ops: usize) -> TestResult {
    let seed = seed();
    let r = Run { slots: Slots::new(SLOTS), pages: Pages::new(knob), errors: Errors::default() };
    let tally = Tally::new(["ops", "lookups", "retries", "writes", "refops"]);
    let before = Snapshot::take();
    smp::on_each_cpu(&|cpu| {
        let mut rng = Rng::stream(seed, cpu);
        let mut l = Local { generation: (cpu as u64 + 1) << 40, ..Local::default() };
        let mut done = 0;
        for _ in 0..ops {
            if r.pages.stopped() {
                break;
            }
            done += 1;
            let i = rng.below(SLOTS);
            if rng.one_in(WRITE_ONE_IN) {
                r.write(i, &mut rng, &mut l);
            } else {
                r.read(i, &mut rng, &mut l);
            }
        }
        tally.add(cpu, [done, l.hits, l.retries, l.writes, l.refops]);
    });
    tally.report();
    kassert_eq!(r.errors.poison.load(Relaxed), 0);
    kassert_eq!(r.errors.bad_stamp.load(Relaxed), 0);
    kassert_eq!(r.errors.stuck.load(Relaxed), 0);
    // Teardown: the slots' references are the only ones left.
    for i in 0..r.slots.len() {
        if let Some(pfn) = r.slots.take(i) {
            kassert_eq!(mm::page_count(page_of(pfn)), 1);
            kassert_eq!(r.pages.put(page_of(pfn), 0), true);
        }
    }
    r.pages.check()?;
    before.check()
}

impl Run<'_> {
    /// The lockless lookup: load, get, reload and compare, then use.
    fn read(&self, i: usize, rng: &mut Rng, l: &mut Local) {
        for _ in 0..MAX_TRIES {
            let Some(pfn) = self.slots.get(i) else { return };
            let page = page_of(pfn);
            jitter(rng);
            l.refops += 1;
            if !mm::get_page_unless_frozen(page) {
                // Freed under us (or being frozen): the slot must have
                // changed; look again.
                l.retries += 1;
                continue;
            }
            // The reference pins the page, but maybe not the page we looked
            // up: it may have been freed and reallocated since the load.
            jitter(rng);
            if self.slots.get(i) != Some(pfn) {
                l.retries += 1;
                l.refops += 1;
                self.pages.put(page, 0);
                continue;
            }
            jitter(rng);
            // SAFETY: we hold a validated reference to this page of ours.
            match unsafe { check_stamp(pfn, i) } {
                Seen::Good => l.hits += 1,
                Seen::Poison => self.pages.error(&self.errors.poison),
                Seen::Bad => self.pages.error(&self.errors.bad_stamp),
            }
            l.refops += 1;
            self.pages.put(page, 0);
            return;
        }
        // A published page always has the slot's reference, so gets on it
        // cannot keep failing: the slot holds a freed page.
        self.pages.error(&self.errors.stuck);
    }

    /// Install into an empty slot, or remove / replace the page it holds.
    fn write(&self, i: usize, rng: &mut Rng, l: &mut Local) {
        l.writes += 1;
        let old = self.slots.get(i);
        let new = if old.is_none() || rng.one_in(2) {
            // A failed allocation (injected or real) just skips the install.
            let Some(page) = self.pages.alloc(0, rng) else { return };
            l.refops += 1;
            let pfn = zone().page_to_pfn(page);
            l.generation += 1;
            // SAFETY: just allocated, not yet published: ours alone.
            unsafe { stamp(pfn, l.generation, i) };
            Some(pfn)
        } else {
            None
        };
        if self.slots.replace(i, old, new) {
            // The slot's reference on the old page is ours to drop; readers
            // may still hold theirs, the last one frees.
            if let Some(old) = old {
                l.refops += 1;
                self.pages.put(page_of(old), 0);
            }
        } else if let Some(new) = new {
            // Another writer changed the slot first: our page was never
            // published, drop it (the last put frees).
            l.refops += 1;
            self.pages.put(page_of(new), 0);
        }
    }
}

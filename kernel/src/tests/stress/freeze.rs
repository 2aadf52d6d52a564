//! `stress_freeze`: freeze vs get, the migration pattern (refcount.md case 5).
//!
//! Slots always hold a page (one reference owned by the slot) whose contents
//! derive from a per-slot data seed. A migrator takes its own reference
//! through the slot and freezes the page with the count it expects (2: the
//! slot's and its own). If that succeeds nobody else holds or can take a
//! reference: it marks the old page MIGRATING, copies it into a new page,
//! installs the copy and frees the old page with poisoning (or, now and then
//! and when the allocation fails, unfreezes it instead, like an aborted
//! migration). If it fails it drops its reference. Readers race it with the
//! page-cache lookup. A validated reader must never see MIGRATING or poison
//! (it would be using a page after a successful freeze); at the end every
//! slot's page has exactly the slot's reference, the original contents, and
//! every page allocated was freed exactly once.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use mm::Page;

use super::common::{Rng, Slots, Snapshot, Tally, jitter, mix, page_of, scale, seed};
use super::pages::{FaultKnob, NO_FAULTS, POISON, Pages, WORDS, page_words};
use crate::ktest::{Failure, Suite, TestResult};
use crate::mm::zone;
use crate::{kassert, kassert_eq, smp};

pub static SUITE: Suite = Suite { name: "stress_freeze", cases: crate::cases![freeze_vs_get] };

const SLOTS: usize = 16;
/// Operations per CPU.
pub const OPS: usize = 200_000;
/// One operation in this many is a migration attempt.
const MIGRATE_ONE_IN: usize = 4;
/// One successful freeze in this many is undone instead of migrated.
const ABORT_ONE_IN: usize = 8;

/// Header words: magic, data seed, slot, number of moves; then the body.
const MAGIC: u64 = 0x4D49_4752_4154_4521;
/// Written over the old page's magic right after a successful freeze.
const MIGRATING: u64 = 0x4D49_4752_4154_494E;
const BODY: usize = 4;

fn freeze_vs_get() -> TestResult {
    run(&NO_FAULTS, OPS * scale())
}

#[derive(Default)]
struct Errors {
    /// A validated reader saw MIGRATING: it holds a reference on a page
    /// that was frozen under it.
    after_freeze: AtomicU64,
    /// A validated reader saw poison: the page was freed under it.
    poison: AtomicU64,
    /// Any other content mismatch.
    bad_content: AtomicU64,
    /// The slot changed while its page was frozen by us.
    slot_changed: AtomicU64,
}

struct Run<'a> {
    slots: Slots,
    pages: Pages<'a>,
    errors: Errors,
}

#[derive(Default)]
struct Local {
    reads: u64,
    moves: u64,
    aborts: u64,
    freeze_failed: u64,
    refops: u64,
}

/// The workload, also used by `stress_faults` with failures injected.
pub fn run(knob: &FaultKnob, ops: usize) -> TestResult {
    let seed = seed();
    let mut setup_rng = Rng::stream(seed, usize::MAX);
    let r = Run { slots: Slots::new(SLOTS), pages: Pages::new(knob), errors: Errors::default() };
    let data: Vec<u64> = (0..SLOTS).map(|_| setup_rng.next_u64()).collect();
    let tally = Tally::new(["ops", "reads", "moves", "aborts", "freeze_failed", "refops"]);
    let before = Snapshot::take();
    // Fill every slot, retrying injected failures.
    for (i, &d) in data.iter().enumerate() {
        let page = (0..64)
            .find_map(|_| r.pages.alloc_frozen(0, &mut setup_rng))
            .ok_or(Failure::Skip("out of memory"))?;
        let pfn = zone().page_to_pfn(page);
        fill(page, d, i);
        mm::init_page_count(page);
        r.slots.replace(i, None, Some(pfn));
    }
    smp::on_each_cpu(&|cpu| {
        let mut rng = Rng::stream(seed, cpu);
        let mut l = Local::default();
        let mut done = 0;
        for _ in 0..ops {
            if r.pages.stopped() {
                break;
            }
            done += 1;
            let i = rng.below(SLOTS);
            if rng.one_in(MIGRATE_ONE_IN) {
                r.migrate(i, &mut rng, &mut l);
            } else {
                r.read(i, &mut rng, &mut l);
            }
        }
        tally.add(cpu, [done, l.reads, l.moves, l.aborts, l.freeze_failed, l.refops]);
    });
    tally.report();
    kassert_eq!(r.errors.after_freeze.load(Relaxed), 0);
    kassert_eq!(r.errors.poison.load(Relaxed), 0);
    kassert_eq!(r.errors.bad_content.load(Relaxed), 0);
    kassert_eq!(r.errors.slot_changed.load(Relaxed), 0);
    // Teardown: exactly the slot's reference left, contents intact.
    let mut moves = 0;
    for (i, &d) in data.iter().enumerate() {
        let pfn = r.slots.take(i).ok_or(Failure::Fail(alloc::format!("slot {i} empty")))?;
        // SAFETY: the slot's page, and the slot's reference is ours now.
        let w = unsafe { page_words(pfn) };
        kassert_eq!(mm::page_count(page_of(pfn)), 1);
        kassert_eq!((w[0].load(Relaxed), w[1].load(Relaxed)), (MAGIC, d));
        // SAFETY: as above.
        let intact = (BODY..WORDS).all(|k| unsafe { r.check(pfn, i, k) }.is_some());
        kassert!(intact, "slot {i} corrupt");
        moves += w[3].load(Relaxed);
        kassert_eq!(r.pages.put(page_of(pfn), 0), true);
    }
    // Every completed migration left one more move in some slot's page.
    kassert_eq!(moves, tally.total("moves"));
    r.pages.check()?;
    before.check()
}

/// Writes slot `slot`'s contents derived from `data` into a new page.
fn fill(page: &Page, data: u64, slot: usize) {
    // SAFETY: `page` was just allocated (frozen) and is ours alone.
    let w = unsafe { page_words(zone().page_to_pfn(page)) };
    for (k, word) in w.iter().enumerate().skip(BODY) {
        word.store(mix(data ^ k as u64), Relaxed);
    }
    w[1].store(data, Relaxed);
    w[2].store(slot as u64, Relaxed);
    w[3].store(0, Relaxed);
    w[0].store(MAGIC, Relaxed);
}

impl Run<'_> {
    /// Slot `i`'s page with a reference of ours, validated (load, get,
    /// reload). None if the page is frozen (being migrated).
    fn lookup(&self, i: usize, rng: &mut Rng, l: &mut Local) -> Option<usize> {
        let pfn = self.slots.get(i)?;
        jitter(rng);
        l.refops += 1;
        if !mm::get_page_unless_frozen(page_of(pfn)) {
            return None;
        }
        if self.slots.get(i) != Some(pfn) {
            l.refops += 1;
            self.pages.put(page_of(pfn), 0);
            return None;
        }
        Some(pfn)
    }

    /// Checks the header and body word `k` of slot `i`'s page; counts and
    /// returns None on a mismatch.
    ///
    /// # Safety
    /// As for `page_words`: the caller holds a reference to `pfn`.
    unsafe fn check(&self, pfn: usize, i: usize, k: usize) -> Option<()> {
        // SAFETY: forwarded to the caller.
        let w = unsafe { page_words(pfn) };
        let (magic, data, slot) = (w[0].load(Relaxed), w[1].load(Relaxed), w[2].load(Relaxed));
        let counter = match magic {
            MAGIC if slot == i as u64 && w[k].load(Relaxed) == mix(data ^ k as u64) => {
                return Some(());
            }
            MIGRATING => &self.errors.after_freeze,
            POISON => &self.errors.poison,
            _ => &self.errors.bad_content,
        };
        self.pages.error(counter);
        None
    }

    fn read(&self, i: usize, rng: &mut Rng, l: &mut Local) {
        let Some(pfn) = self.lookup(i, rng, l) else { return };
        l.reads += 1;
        jitter(rng);
        // SAFETY: `lookup` gave us a validated reference.
        let _ = unsafe { self.check(pfn, i, BODY + rng.below(WORDS - BODY)) };
        l.refops += 1;
        self.pages.put(page_of(pfn), 0);
    }

    fn migrate(&self, i: usize, rng: &mut Rng, l: &mut Local) {
        let Some(pfn) = self.lookup(i, rng, l) else { return };
        let page = page_of(pfn);
        l.refops += 1;
        // Expected count 2: the slot's reference and ours. Any reader
        // holding one makes it fail; once it succeeds every get fails.
        if !mm::page_ref_freeze(page, 2) {
            l.freeze_failed += 1;
            l.refops += 1;
            self.pages.put(page, 0);
            return;
        }
        // SAFETY: frozen by us: nobody else holds or can take a reference.
        let old = unsafe { page_words(pfn) };
        let magic = old[0].swap(MIGRATING, Relaxed);
        let new = if rng.one_in(ABORT_ONE_IN) { None } else { self.pages.alloc_frozen(0, rng) };
        let Some(new) = new else {
            // Aborted (or no memory): restore and unfreeze with the same
            // count. Unfreeze is a Release store: the restored magic is
            // visible to whoever gets a reference next.
            old[0].store(magic, Relaxed);
            mm::page_ref_unfreeze(page, 2);
            l.aborts += 1;
            l.refops += 2;
            self.pages.put(page, 0);
            return;
        };
        let new_pfn = zone().page_to_pfn(new);
        // SAFETY: just allocated (frozen), ours alone until published.
        let w = unsafe { page_words(new_pfn) };
        for (to, from) in w.iter().zip(old).skip(1) {
            to.store(from.load(Relaxed), Relaxed);
        }
        w[3].store(old[3].load(Relaxed) + 1, Relaxed);
        w[0].store(magic, Relaxed);
        // The slot's reference; published (Release) by the slot CAS.
        mm::init_page_count(new);
        l.refops += 1;
        if !self.slots.replace(i, Some(pfn), Some(new_pfn)) {
            self.pages.error(&self.errors.slot_changed);
        }
        // Both references (the slot's and ours) went with the freeze.
        self.pages.free_poisoned(page, 0);
        l.moves += 1;
    }
}

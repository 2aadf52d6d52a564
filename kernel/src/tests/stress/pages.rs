//! Page memory helpers of the stress suites: allocation through a
//! fault-injection knob, poisoning on free (checked on allocation), stamps
//! that readers validate, and the hand-made put path.
//!
//! Allocations go through the kernel's allocation path: this CPU's per-CPU
//! list in front of the zone (`crate::mm::alloc_frozen_pages` /
//! `free_frozen_pages`), so the lists' refill, drain and cross-CPU frees are
//! stressed too; [`Pages::zone_direct`] calls the zone itself instead.
//!
//! `stress.gate=1` on the command line sends every allocator call through a
//! gate (a test-and-set spinlock) that lets one CPU at a time in. The zone
//! lock is a test-and-set spinlock too, so a waiter whose vCPU thread is
//! descheduled does not stall the others (a fair ticket lock did:
//! docs/decisions/zone-lock-test-and-set.md); but when vCPUs outnumber host
//! cores (4 vCPUs of TCG on 2 cores, or two test boots at once) a
//! descheduled lock *holder* still makes every waiter wait a host time
//! slice. The gate, under which the zone lock never has waiters, rules that
//! out when a stress boot is slow. It changes nothing the suites check (the
//! zone lock serialises the allocator anyway, the refcount races happen
//! outside it) but hides per-CPU list concurrency.
//!
//! Page memory is accessed through `AtomicU64` words (Relaxed): in a correct
//! kernel no two parties touch a page at once, but the suites exist to catch
//! the case where they do, and a racy plain access would be undefined
//! behaviour rather than a reported failure.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

use protocol::cmdline::{key, value};
use spin::Mutex;

use mm::{DefaultScheme, PAGE_SIZE, Page, RefcountScheme};

use super::common::{Rng, option};
use crate::kassert_eq;
use crate::ktest::TestResult;
use crate::mm::{pfn_to_virt, zone};

/// One CPU at a time in the allocator with `stress.gate=1` (module docs).
static GATE: Mutex<()> = Mutex::new(());

/// Words in one page.
pub const WORDS: usize = PAGE_SIZE / 8;
/// Every word of a freed page holds this until it is allocated again.
pub const POISON: u64 = 0xDEAD_F4EE_DEAD_F4EE;
/// First word of a page stamped by [`stamp`].
pub const STAMP: u64 = 0x5354_414D_5045_4421;

/// The words of the block `pfn .. pfn + 2^order`.
///
/// # Safety
/// The block must be RAM managed by the zone (so the physical window maps it
/// for the kernel's lifetime) and must be accessed only through atomics while
/// the returned slice is used: true for blocks the stress suites allocated,
/// since neither the allocator nor anything else running during a suite
/// touches page memory.
pub unsafe fn words(pfn: usize, order: usize) -> &'static [AtomicU64] {
    // SAFETY: per the contract the block is mapped, page-aligned (so aligned
    // for u64) and only accessed atomically; AtomicU64 has u64's layout.
    unsafe { core::slice::from_raw_parts(pfn_to_virt(pfn).cast::<AtomicU64>(), WORDS << order) }
}

/// The words of page `pfn`.
///
/// # Safety
/// As for [`words`]: in the suites, `pfn` is a page allocated through
/// [`Pages`] that the caller owns (frozen), holds a reference to, or (in
/// buggy code only) did so a moment ago; such pages are never handed to
/// anything that accesses them non-atomically while a suite runs.
pub unsafe fn page_words(pfn: usize) -> &'static [AtomicU64] {
    // SAFETY: forwarded to the caller.
    unsafe { words(pfn, 0) }
}

/// An allocation-failure knob: every `every`-th call fails, and each call
/// also fails with probability `per_million` / 10^6 (seeded per CPU).
/// [`NO_FAULTS`] never fails and costs nothing.
pub struct FaultKnob {
    every: u64,
    per_million: usize,
    calls: AtomicU64,
    injected: AtomicU64,
}

impl FaultKnob {
    pub const fn new(every: u64, per_million: usize) -> Self {
        Self { every, per_million, calls: AtomicU64::new(0), injected: AtomicU64::new(0) }
    }

    fn should_fail(&self, rng: &mut Rng) -> bool {
        if self.every == 0 && self.per_million == 0 {
            return false;
        }
        // Relaxed: a shared call counter and a statistic, nothing to order.
        let n = self.calls.fetch_add(1, Relaxed) + 1;
        let fail = (self.every != 0 && n.is_multiple_of(self.every))
            || (self.per_million != 0 && rng.below(1_000_000) < self.per_million);
        if fail {
            self.injected.fetch_add(1, Relaxed);
        }
        fail
    }

    /// Failures injected so far.
    pub fn injected(&self) -> u64 {
        self.injected.load(Relaxed)
    }
}

/// The knob of the suites that inject nothing.
pub static NO_FAULTS: FaultKnob = FaultKnob::new(0, 0);

/// Allocation and freeing for one suite run: through the knob, with poison
/// checks, counting everything so the suite can prove nothing leaked.
pub struct Pages<'k> {
    knob: &'k FaultKnob,
    /// Through this CPU's per-CPU list (false: the zone directly).
    per_cpu: bool,
    gated: bool,
    allocs: AtomicU64,
    frees: AtomicU64,
    failed: AtomicU64,
    /// A freed (poisoned) page changed before it was allocated again.
    written_after_free: AtomicU64,
    /// `free_frozen_pages` refused a free (a bad-page report).
    bad_frees: AtomicU64,
    /// A put found the page frozen or without references.
    refcount_bugs: AtomicU64,
    /// Set by the first error of the run: the workers stop early, so a
    /// broken protocol fails fast instead of flooding the console with
    /// bad-page reports.
    stop: AtomicBool,
}

impl<'k> Pages<'k> {
    /// The kernel's allocation path (per-CPU lists), gated with
    /// `stress.gate=1`.
    pub fn new(knob: &'k FaultKnob) -> Self {
        Self::with(knob, true, option(key::STRESS_GATE) == Some(value::STRESS_GATE_ON))
    }

    /// The zone itself, every CPU straight into the zone lock.
    pub fn zone_direct(knob: &'k FaultKnob) -> Self {
        Self::with(knob, false, false)
    }

    fn with(knob: &'k FaultKnob, per_cpu: bool, gated: bool) -> Self {
        Self {
            knob,
            per_cpu,
            gated,
            allocs: AtomicU64::new(0),
            frees: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            written_after_free: AtomicU64::new(0),
            bad_frees: AtomicU64::new(0),
            refcount_bugs: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        }
    }

    /// `alloc_frozen_pages_faulty`: a frozen block (no count), or None when
    /// the knob or the allocator says no.
    pub fn alloc_frozen(&self, order: usize, rng: &mut Rng) -> Option<&'static Page> {
        if self.knob.should_fail(rng) {
            self.failed.fetch_add(1, Relaxed);
            return None;
        }
        let Some(page) = self.zone_call(|| {
            if self.per_cpu {
                crate::mm::alloc_frozen_pages(order)
            } else {
                zone().alloc_frozen_pages(order)
            }
        }) else {
            self.failed.fetch_add(1, Relaxed);
            return None;
        };
        self.allocs.fetch_add(1, Relaxed);
        self.check_poison(zone().page_to_pfn(page), order);
        Some(page)
    }

    /// `alloc_pages_faulty`: like `alloc_pages`, the block starts with one
    /// reference (`init_page_count`).
    pub fn alloc(&self, order: usize, rng: &mut Rng) -> Option<&'static Page> {
        let page = self.alloc_frozen(order, rng)?;
        mm::init_page_count(page);
        Some(page)
    }

    /// Counts an invariant violation and stops the run's workers.
    /// Relaxed: the flag is only a hint to stop early; the counters are read
    /// after `on_each_cpu` returns, which orders them.
    pub fn error(&self, counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
        self.stop.store(true, Relaxed);
    }

    /// Whether an error was seen: workers check it before every operation.
    pub fn stopped(&self) -> bool {
        self.stop.load(Relaxed)
    }

    fn zone_call<T>(&self, f: impl FnOnce() -> T) -> T {
        let _gate = self.gated.then(|| GATE.lock());
        f()
    }

    /// How allocator calls are made, for the suites' diagnostics.
    pub fn path(&self) -> &'static str {
        match (self.per_cpu, self.gated) {
            (true, false) => "per-CPU lists, all CPUs at once",
            (true, true) => "per-CPU lists, one CPU at a time (stress.gate=1)",
            (false, false) => "zone directly, all CPUs at once",
            (false, true) => "zone directly, one CPU at a time",
        }
    }

    /// A page whose first word is POISON must be poison throughout: anything
    /// else was written after it was freed.
    fn check_poison(&self, pfn: usize, order: usize) {
        for p in pfn..pfn + (1 << order) {
            // SAFETY: the block was just allocated to us.
            let w = unsafe { page_words(p) };
            if w[0].load(Relaxed) == POISON && w.iter().any(|x| x.load(Relaxed) != POISON) {
                self.error(&self.written_after_free);
            }
        }
    }

    /// Poisons a frozen block we own and gives it back.
    pub fn free_poisoned(&self, page: &Page, order: usize) {
        // SAFETY: the block is ours (frozen, allocated through `self`).
        for w in unsafe { words(zone().page_to_pfn(page), order) } {
            w.store(POISON, Relaxed);
        }
        self.free_frozen(page, order);
    }

    /// Gives back a frozen block without poisoning it.
    pub fn free_frozen(&self, page: &Page, order: usize) {
        self.frees.fetch_add(1, Relaxed);
        let freed = self.zone_call(|| {
            if self.per_cpu {
                crate::mm::free_frozen_pages(page, order)
            } else {
                zone().free_frozen_pages(page, order)
            }
        });
        if freed.is_err() {
            self.error(&self.bad_frees);
        }
    }

    /// `put_page` by hand: drop one reference; if it was the last, poison the
    /// block and free it. Returns whether it freed. (The refcount's Acquire
    /// on the last put orders the poisoning after every holder's reads.)
    pub fn put(&self, page: &Page, order: usize) -> bool {
        let last = self.sub_and_test(page);
        if last {
            self.free_poisoned(page, order);
        }
        last
    }

    /// `mm::page_ref_sub_and_test(page, 1)` with its misuse report visible:
    /// the same scheme function, but a put on a frozen page or an underflow
    /// is counted (the zone-less wrapper only logs it).
    pub fn sub_and_test(&self, page: &Page) -> bool {
        DefaultScheme::sub_and_test(page.refcount(), 1).unwrap_or_else(|bug| {
            // Only the first one is logged: a broken protocol makes many.
            if self.refcount_bugs.load(Relaxed) == 0 {
                log::error!("stress: put on {page:?}: {} (raw {:#x})", bug.kind, bug.raw);
            }
            self.error(&self.refcount_bugs);
            false
        })
    }

    /// Blocks allocated so far.
    pub fn allocs(&self) -> u64 {
        self.allocs.load(Relaxed)
    }

    /// Blocks freed so far.
    pub fn frees(&self) -> u64 {
        self.frees.load(Relaxed)
    }

    /// After a run: every allocation freed exactly once, no poison damage,
    /// no refused frees.
    pub fn check(&self) -> TestResult {
        let failed = self.failed.load(Relaxed);
        diag!(
            "pages: {} allocated, {} freed, {} allocations failed ({} injected)",
            self.allocs(),
            self.frees(),
            failed,
            self.knob.injected()
        );
        kassert_eq!(self.written_after_free.load(Relaxed), 0);
        kassert_eq!(self.bad_frees.load(Relaxed), 0);
        kassert_eq!(self.refcount_bugs.load(Relaxed), 0);
        kassert_eq!(self.frees(), self.allocs());
        Ok(())
    }
}

/// Stamps an order-0 page for `slot`: magic, generation, slot, and a trailer
/// binding them, so a reader can tell a page of its slot from a torn, stale
/// or poisoned one.
///
/// # Safety
/// As for [`page_words`].
pub unsafe fn stamp(pfn: usize, generation: u64, slot: usize) {
    // SAFETY: forwarded to the caller.
    let w = unsafe { page_words(pfn) };
    w[1].store(generation, Relaxed);
    w[2].store(slot as u64, Relaxed);
    w[WORDS - 1].store(trailer(generation, slot), Relaxed);
    w[0].store(STAMP, Relaxed);
}

fn trailer(generation: u64, slot: usize) -> u64 {
    super::common::mix(generation ^ STAMP) ^ slot as u64
}

/// What a reader found in a page it holds a validated reference to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Seen {
    /// The stamp of the expected slot, consistent.
    Good,
    /// The page was freed (poison).
    Poison,
    /// Anything else: another slot's page, half-written, garbage.
    Bad,
}

/// Checks a page stamped by [`stamp`] for `slot`.
///
/// # Safety
/// As for [`page_words`].
pub unsafe fn check_stamp(pfn: usize, slot: usize) -> Seen {
    // SAFETY: forwarded to the caller.
    let w = unsafe { page_words(pfn) };
    let (magic, generation, s) = (w[0].load(Relaxed), w[1].load(Relaxed), w[2].load(Relaxed));
    if magic == POISON || generation == POISON {
        return Seen::Poison;
    }
    if magic != STAMP || s != slot as u64 || w[WORDS - 1].load(Relaxed) != trailer(generation, slot)
    {
        return Seen::Bad;
    }
    Seen::Good
}

//! `stress_revive`: the last put (1 -> 0) racing speculative gets (0 -> 1) on
//! the same few pages (refcount.md case 1, and case 6's ABA).
//!
//! Four slots, every CPU doing three things at random on them: remove a page
//! from its slot and drop the slot's reference (usually the last put),
//! install a fresh page, and take + drop a speculative reference either
//! through the slot or through a stale pfn remembered from earlier (no
//! revalidation: a revived or reused page is a legitimate target, the
//! reference is just dropped again). In the frozen scheme a getter can land
//! between a putter's decrement to 0 and its `0 -> FROZEN` CAS; it then owns
//! the page and its put must be the one that frees.
//!
//! Every allocation writes a unique token into the page's first word; the
//! freer replaces it by FREED with a CAS, so a second free of the same
//! allocation is seen, and the global counts must balance: allocations =
//! frees + pages still in slots.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::common::{Rng, Slots, Snapshot, Tally, jitter, page_of, scale, seed};
use super::pages::{NO_FAULTS, Pages, page_words};
use crate::ktest::{Case, Suite, TestResult};
use crate::mm::zone;
use crate::{kassert_eq, smp};

pub static SUITE: Suite = Suite {
    name: "stress_revive",
    cases: &[Case { name: "last_put_vs_get", run: last_put_vs_get }],
};

/// "The same few pages".
const SLOTS: usize = 2;
/// Operations per CPU.
const OPS: usize = 200_000;
/// The token of a freed allocation.
const FREED: u64 = 0xF4EE_D0F4_EED0_F4EE;

#[derive(Default)]
struct Errors {
    /// The freer found FREED (or lost the token CAS): a second free.
    double_free: AtomicU64,
    /// A getter holding a reference found FREED: a reference on a freed page.
    ref_on_freed: AtomicU64,
}

struct Run<'a> {
    slots: Slots,
    pages: Pages<'a>,
    errors: Errors,
}

#[derive(Default)]
struct Local {
    gets: u64,
    got: u64,
    /// Gets that succeeded after seeing a raw 0: most likely revives.
    revives: u64,
    removes: u64,
    refops: u64,
    token: u64,
    stale: Option<usize>,
}

fn last_put_vs_get() -> TestResult {
    let (seed, ops) = (seed(), OPS * scale());
    let r =
        Run { slots: Slots::new(SLOTS), pages: Pages::new(&NO_FAULTS), errors: Errors::default() };
    let tally = Tally::new(["ops", "gets", "got", "revived", "last_puts", "refops"]);
    let before = Snapshot::take();
    smp::on_each_cpu(&|cpu| {
        let mut rng = Rng::new(seed, cpu);
        let mut l = Local { token: (cpu as u64 + 1) << 40, ..Local::default() };
        for _ in 0..ops {
            let i = rng.below(SLOTS);
            match rng.below(8) {
                0 => r.remove(i, &mut l),
                1 => r.install(i, &mut rng, &mut l),
                2..=4 => r.get_put(r.slots.get(i), &mut rng, &mut l),
                _ => r.get_put(l.stale, &mut rng, &mut l),
            }
        }
        tally.add(cpu, [ops as u64, l.gets, l.got, l.revives, l.removes, l.refops]);
    });
    let live = (0..SLOTS).filter(|&i| r.slots.get(i).is_some()).count() as u64;
    diag!("{} allocations, {} freed, {live} still in slots", r.pages.allocs(), r.pages.frees());
    kassert_eq!(r.pages.allocs(), r.pages.frees() + live);
    // Teardown: the slots hold the only references left.
    for i in 0..SLOTS {
        if let Some(pfn) = r.slots.take(i) {
            kassert_eq!(mm::page_count(page_of(pfn)), 1);
            kassert_eq!(r.put(pfn), true);
        }
    }
    tally.add(smp::this_cpu().index, [0, 0, 0, 0, 0, live]);
    tally.report();
    kassert_eq!(r.errors.double_free.load(Relaxed), 0);
    kassert_eq!(r.errors.ref_on_freed.load(Relaxed), 0);
    r.pages.check()?;
    before.check()
}

impl Run<'_> {
    fn install(&self, i: usize, rng: &mut Rng, l: &mut Local) {
        if self.slots.get(i).is_some() {
            return;
        }
        // Token first, then the count: `init_page_count` is a Release store,
        // so a getter whose get succeeds on it also sees the token.
        let Some(page) = self.pages.alloc_frozen(0, rng) else { return };
        let pfn = zone().page_to_pfn(page);
        l.token += 1;
        // SAFETY: just allocated, frozen: ours alone.
        let token = &unsafe { page_words(pfn) }[0];
        token.store(l.token, Relaxed);
        mm::init_page_count(page);
        l.refops += 1;
        if !self.slots.replace(i, None, Some(pfn)) {
            l.refops += 1;
            self.put(pfn);
        }
    }

    /// Takes the page out of slot `i` and drops the slot's reference.
    fn remove(&self, i: usize, l: &mut Local) {
        let Some(pfn) = self.slots.get(i) else { return };
        if self.slots.replace(i, Some(pfn), None) {
            l.refops += 1;
            if self.put(pfn) {
                l.removes += 1;
            }
            l.stale = Some(pfn);
        }
    }

    /// A speculative reference on `pfn`'s page, checked and dropped.
    fn get_put(&self, pfn: Option<usize>, rng: &mut Rng, l: &mut Local) {
        let Some(pfn) = pfn else { return };
        let page = page_of(pfn);
        l.stale = Some(pfn);
        let raw = mm::page_ref_count_raw(page);
        l.gets += 1;
        l.refops += 1;
        if !mm::get_page_unless_frozen(page) {
            return;
        }
        l.got += 1;
        // Only meaningful in the frozen scheme: a 0 is the transient state
        // inside a last put (in the legacy scheme 0 is dead and the get fails).
        l.revives += u64::from(raw == 0);
        // SAFETY: a page this suite allocated, and we hold a reference.
        if unsafe { page_words(pfn) }[0].load(Relaxed) == FREED {
            self.errors.ref_on_freed.fetch_add(1, Relaxed);
        }
        jitter(rng);
        l.refops += 1;
        self.put(pfn);
    }

    /// Drops one reference; the last one retires the token and frees.
    fn put(&self, pfn: usize) -> bool {
        let page = page_of(pfn);
        if !self.pages.sub_and_test(page) {
            return false;
        }
        // Relaxed: the refcount's Acquire on the winning `0 -> FROZEN` CAS
        // (or the legacy last decrement) already orders us after every other
        // holder; the CAS is only there to catch a second freer.
        // SAFETY: we won the last put: the page is frozen and ours.
        let token = &unsafe { page_words(pfn) }[0];
        let seen = token.load(Relaxed);
        if seen == FREED || token.compare_exchange(seen, FREED, Relaxed, Relaxed).is_err() {
            self.errors.double_free.fetch_add(1, Relaxed);
            return true;
        }
        self.pages.free_frozen(page, 0);
        true
    }
}

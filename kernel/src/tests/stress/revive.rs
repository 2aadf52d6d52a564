//! `stress_revive`: the last put (1 -> 0) racing speculative gets (0 -> 1) on
//! the same page (refcount.md case 1, and case 6's ABA).
//!
//! A "hot" pointer to a page that owns no reference: whoever allocates a
//! page publishes it there and keeps its own reference for a while, and
//! every CPU hammers speculative get + put on the published page. Once the
//! owner drops its reference, the page lives only as long as the getters'
//! references overlap: every time the count falls to 0 the putter races the
//! other CPUs' gets. In the frozen scheme a get landing between a putter's
//! decrement to 0 and its `0 -> FROZEN` CAS revives the page; the reviver
//! then owns it and exactly one later put frees it. Freed pages are reused at
//! once (LIFO) and republished under the same pfn, and some gets go through
//! a stale pfn remembered from earlier: the ABA cases, where a reference on
//! a reused page is legitimate and is simply dropped again.
//!
//! Every allocation writes a unique token into the page's first word before
//! its count is set; a getter holding a reference must find a token, and the
//! freer replaces it by FREED with a CAS, so a second free of the same
//! allocation is seen. At the end every allocation has been freed exactly
//! once (allocations = frees, free memory back to the start).

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::common::{Rng, Slots, Snapshot, Tally, jitter, page_of, scale, seed};
use super::pages::{NO_FAULTS, Pages, page_words};
use crate::ktest::{Suite, TestResult};
use crate::mm::zone;
use crate::{kassert_eq, smp};

pub static SUITE: Suite = Suite { name: "stress_revive", cases: crate::cases![last_put_vs_get] };

/// Published pages: one, so that every CPU hammers the same page (with two,
/// real revives per run dropped from thousands to sometimes none).
const HOT: usize = 1;
/// Operations per CPU.
const OPS: usize = 1_000_000;
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
    /// The hot pointers; unlike the other suites' slots they own no
    /// reference (see the module docs).
    hot: Slots,
    pages: Pages<'a>,
    errors: Errors,
}

#[derive(Default)]
struct Local {
    gets: u64,
    got: u64,
    /// Gets that succeeded right after a load saw the transient 0: revives
    /// caught in the act. Only a lower bound: the get's own old value is not
    /// visible through the API; counting it with an instrumented copy of the
    /// get showed 1300-2800 revives per run on 4 vCPUs of TCG.
    revives: u64,
    frees: u64,
    refops: u64,
    token: u64,
    /// The page this CPU allocated and still holds its reference to.
    owned: Option<usize>,
    stale: Option<usize>,
}

fn last_put_vs_get() -> TestResult {
    let (seed, ops) = (seed(), OPS * scale());
    let r = Run { hot: Slots::new(HOT), pages: Pages::new(&NO_FAULTS), errors: Errors::default() };
    let tally = Tally::new(["ops", "gets", "got", "revives_seen", "frees", "refops"]);
    let before = Snapshot::take();
    smp::on_each_cpu(&|cpu| {
        let mut rng = Rng::stream(seed, cpu);
        let mut l = Local { token: (cpu as u64 + 1) << 40, ..Local::default() };
        let mut done = 0;
        for _ in 0..ops {
            if r.pages.stopped() {
                break;
            }
            done += 1;
            let i = rng.below(HOT);
            match rng.below(16) {
                0 => r.drop_owned(&mut l),
                1 => r.install(i, &mut rng, &mut l),
                2 => r.get_put(None, l.stale, &mut rng, &mut l),
                _ => r.get_put(Some(i), r.hot.get(i), &mut rng, &mut l),
            }
        }
        r.drop_owned(&mut l);
        tally.add(cpu, [done, l.gets, l.got, l.revives, l.frees, l.refops]);
    });
    tally.report();
    // Nobody holds a reference any more: everything must have been freed.
    kassert_eq!(r.errors.double_free.load(Relaxed), 0);
    kassert_eq!(r.errors.ref_on_freed.load(Relaxed), 0);
    kassert_eq!(tally.total("frees"), r.pages.allocs());
    r.pages.check()?;
    before.check()
}

impl Run<'_> {
    /// Allocates a page, publishes it in hot pointer `i` if that is empty,
    /// and keeps this CPU's reference to it for a while.
    fn install(&self, i: usize, rng: &mut Rng, l: &mut Local) {
        if l.owned.is_some() || self.hot.get(i).is_some() {
            return;
        }
        let Some(page) = self.pages.alloc_frozen(0, rng) else { return };
        let pfn = zone().page_to_pfn(page);
        l.token += 1;
        // Token first, then the count: `init_page_count` is a Release store,
        // so a getter whose get succeeds on it also sees the token.
        // SAFETY: just allocated, frozen: ours alone.
        let token = &unsafe { page_words(pfn) }[0];
        token.store(l.token, Relaxed);
        mm::init_page_count(page);
        l.refops += 1;
        // Published or not, the reference is ours until `drop_owned`.
        self.hot.replace(i, None, Some(pfn));
        l.owned = Some(pfn);
    }

    /// Drops the allocating CPU's reference: from here on the page lives
    /// only while getters' references overlap.
    fn drop_owned(&self, l: &mut Local) {
        if let Some(pfn) = l.owned.take() {
            l.refops += 1;
            l.frees += u64::from(self.put(pfn));
        }
    }

    /// A speculative reference on `pfn`'s page, checked and dropped. `hot`
    /// names the hot pointer it came from, unpublished once the page is
    /// found dead (it may be republished later, the ABA case).
    fn get_put(&self, hot: Option<usize>, pfn: Option<usize>, rng: &mut Rng, l: &mut Local) {
        let Some(pfn) = pfn else { return };
        let page = page_of(pfn);
        l.stale = Some(pfn);
        let raw = mm::page_ref_count_raw(page);
        l.gets += 1;
        l.refops += 1;
        if !mm::get_page_unless_frozen(page) {
            if let Some(i) = hot {
                self.hot.replace(i, Some(pfn), None);
            }
            return;
        }
        l.got += 1;
        // Only possible in the frozen scheme: a 0 is the transient state
        // inside a last put (in the legacy scheme 0 is dead, the get fails).
        l.revives += u64::from(raw == <mm::DefaultScheme as mm::RefcountScheme>::raw_of_count(0));
        // SAFETY: a page this suite allocated, and we hold a reference.
        if unsafe { page_words(pfn) }[0].load(Relaxed) == FREED {
            self.pages.error(&self.errors.ref_on_freed);
        }
        jitter(rng);
        l.refops += 1;
        if self.put(pfn) {
            l.frees += 1;
            if let Some(i) = hot {
                self.hot.replace(i, Some(pfn), None);
            }
        }
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
            self.pages.error(&self.errors.double_free);
            return true;
        }
        self.pages.free_frozen(page, 0);
        true
    }
}

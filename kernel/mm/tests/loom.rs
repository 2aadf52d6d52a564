//! Loom models of the six races of refcount.md, on the real refcount code
//! (under `--cfg loom` the crate's atomics are loom's) and a real `Page`.
//!
//! The allocator is modelled by a loom `Mutex<State>` (no spin zone lock:
//! spinning is hostile to loom): `free()` asserts the current allocation is
//! not already free, records its free and *writes the page contents*
//! (poisons them, as a reuse would), `alloc()` asserts the page is free,
//! starts a new allocation, writes the contents (the new owner's id) and does
//! `init_page_count`. Every model checks exactly-once free per allocation and
//! that no successful get sees a free page.
//!
//! The page contents live in a `loom::cell::UnsafeCell`, and reference holders
//! read them *without* taking the model's mutex: loom then reports any read
//! that is not ordered (happens-before) against the freer's or the next
//! owner's write. That is what makes each atomic ordering of the refcount
//! protocol necessary in some model: weaken one (scripts/mutants-orderings.sh
//! does, one at a time) and a model fails. docs/refcount.md lists which.
//!
//! The `zone_*` models (7, 8) instead run the real `Zone`: put through a tail
//! page, `compound_head`, the free onto a per-CPU list or into the buddy
//! lists, on a 4-page zone (under loom subsections are 32 pages and the zone
//! and per-CPU locks are loom mutexes, see `src/sync.rs`).
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p mm --release --test loom`
//! (exhaustive; `LOOM_MAX_PREEMPTIONS=N` bounds it if a model grows).
#![cfg(loom)]

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicUsize, Ordering::*};
use loom::sync::{Arc, Mutex};
use loom::thread;
use mm::{Frozen, Page, RefcountScheme, Zone};
use std::sync::atomic::AtomicUsize as Seen;

#[path = "common/robustness.rs"]
mod robustness;
use robustness::{Row, closes};

/// Counts, across all explored executions, how often an interesting
/// interleaving happened, so a model that never reaches its race fails.
fn seen(c: &'static Seen) {
    c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}
fn assert_seen(c: &'static Seen, what: &str) {
    assert!(c.load(std::sync::atomic::Ordering::Relaxed) > 0, "never explored: {what}");
}

struct State {
    /// Current allocation id (1, 2, ...).
    id: usize,
    free: bool,
    /// frees[id]: how often allocation `id` was freed.
    frees: [u8; 4],
}

struct Model<S: RefcountScheme> {
    page: Page,
    /// The page's contents: the id of the allocation that owns it, 0 while
    /// free. Written by the allocator (alloc, free) and by an owner that froze
    /// the page; read by every reference holder.
    data: UnsafeCell<usize>,
    st: Mutex<State>,
    _s: core::marker::PhantomData<S>,
}

impl<S: RefcountScheme> Model<S> {
    /// A page owned by allocation 1 with one reference.
    fn owned() -> Arc<Self> {
        let m = Self::free_page();
        m.alloc();
        m
    }

    /// A free page (FROZEN).
    fn free_page() -> Arc<Self> {
        Arc::new(Model {
            page: Page::new(S::FROZEN),
            data: UnsafeCell::new(0),
            st: Mutex::new(State { id: 0, free: true, frees: [0; 4] }),
            _s: core::marker::PhantomData,
        })
    }

    fn c(&self) -> &mm::sync::AtomicU32 {
        self.page.refcount()
    }

    /// The allocator's free: acts on whatever allocation the page holds now
    /// (the state found in the page, not the caller's idea of it).
    fn free(&self) {
        let mut st = self.st.lock().unwrap();
        assert!(!st.free, "double free of allocation {}", st.id);
        assert!(S::is_frozen(S::raw(self.c())), "freeing a page that is not frozen");
        st.free = true;
        let id = st.id;
        st.frees[id] += 1;
        assert_eq!(st.frees[id], 1, "allocation {id} freed twice");
        // Poison: must happen after every holder's last read (their put's
        // Release, our put's Acquire).
        // SAFETY: `d` is the model's cell, alive as long as `self`. The page
        // is frozen and nobody holds a reference: every holder's accesses are
        // ordered before this write by the put protocol above, which is what
        // the model checks (loom's cell fails it if they are not).
        self.data.with_mut(|d| unsafe { *d = 0 });
    }

    fn alloc(&self) -> usize {
        let mut st = self.st.lock().unwrap();
        assert!(st.free, "allocating a page that is in use");
        st.free = false;
        st.id += 1;
        let id = st.id;
        // The new owner's contents, published by init_page_count's Release to
        // a speculative getter that succeeds on the new count.
        // SAFETY: `d` is the model's cell, alive as long as `self`. The page
        // was free (checked above): no reference exists, and a getter can
        // read only after init_page_count below publishes this write (loom's
        // cell fails the model otherwise).
        self.data.with_mut(|d| unsafe { *d = id });
        S::init_count(self.c());
        id
    }

    /// After a successful get (a reference held): read the contents, without
    /// the model's mutex. Returns the allocation id found; a 0 means the get
    /// succeeded on a free page. Loom reports the read if it is not ordered
    /// against the allocator's or a freezing owner's writes.
    fn read(&self) -> usize {
        // SAFETY: `d` is the model's cell, alive as long as `self`. Called
        // only under a reference, which orders this read after the owner's
        // write (init_page_count's Release) and before the freer's poison
        // (the put's Release); that ordering is what loom's cell checks.
        self.data.with(|d| unsafe { *d })
    }

    /// After a successful get: the page must be owned.
    fn assert_live(&self) {
        assert_ne!(self.read(), 0, "successful get on a free page");
    }

    /// The owner, holding the page frozen (exclusively), rewrites its
    /// contents: a getter that succeeds while frozen, or whose earlier read
    /// is not ordered before the freeze, races with this write.
    fn write_frozen(&self) {
        // SAFETY: `d` is the model's cell, alive as long as `self`. The page
        // is frozen by the caller, so no getter holds a reference; a getter
        // that does is the race the model exists to find.
        self.data.with_mut(|d| unsafe { *d += 0 });
    }

    /// put_page: free if this was the last reference.
    fn put(&self) {
        if S::sub_and_test(self.c(), 1).expect("refcount misuse") {
            self.free();
        }
    }

    /// A speculative get followed by use and put.
    fn try_get_use_put(&self) -> bool {
        if S::add_unless_frozen(self.c(), 1) {
            self.assert_live();
            self.put();
            true
        } else {
            false
        }
    }

    fn final_check(&self, allocations: usize) {
        let st = self.st.lock().unwrap();
        assert!(st.free, "page leaked");
        assert_eq!(st.id, allocations);
        for (id, &n) in st.frees.iter().enumerate().skip(1).take(allocations) {
            assert_eq!(n, 1, "allocation {id} freed {n} times");
        }
        assert!(S::is_frozen(S::raw(self.c())));
    }
}

/// Exhaustive unless `LOOM_MAX_PREEMPTIONS` bounds it: the models are small
/// enough (the whole file explores every interleaving in well under a second
/// in release mode).
fn model(f: impl Fn() + Sync + Send + 'static) {
    loom::model::Builder::new().check(f);
}

/// 1. Revive race: T1's last put (1 -> 0, then CAS) against T2's speculative
///    get; whoever ends up with the last reference frees, exactly once.
fn revive_race<S: RefcountScheme>() {
    static REVIVED: Seen = Seen::new(0);
    let revives_before =
        mm::refcount::frozen_loom_probe::REVIVED_IN_PUT.load(std::sync::atomic::Ordering::Relaxed);
    model(|| {
        let m = Model::<S>::owned();
        let m2 = m.clone();
        let t = thread::spawn(move || {
            m2.try_get_use_put();
        });
        let freed_by_us = S::sub_and_test(m.c(), 1).unwrap();
        if freed_by_us {
            m.free();
        }
        t.join().unwrap();
        m.final_check(1);
        if !freed_by_us && S::TRANSIENT_ZERO {
            // T2 held the last reference: either it got in before our put, or
            // it revived our transient 0 (frozen scheme only).
            seen(&REVIVED);
        }
    });
    assert_seen(&REVIVED, "the getter ending up with the last reference");
    // A direct put of the only reference leaves no transient 0, and with one
    // getter nothing else can reach 0 here.
    if S::TRANSIENT_ZERO && !S::DIRECT_SINGLE_PUT {
        // The 0 -> 1 revive itself: a last put's 0 -> FROZEN CAS failed
        // because the getter revived the transient 0 (counted inside
        // Frozen::sub_and_test, not a guess from the outcome).
        let revives = mm::refcount::frozen_loom_probe::REVIVED_IN_PUT
            .load(std::sync::atomic::Ordering::Relaxed);
        assert!(revives > revives_before, "never explored: the 0 -> 1 revive in the last put");
    }
    // Two speculative getters against the last put.
    model(|| {
        let m = Model::<S>::owned();
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let m = m.clone();
                thread::spawn(move || {
                    m.try_get_use_put();
                })
            })
            .collect();
        m.put();
        for t in ts {
            t.join().unwrap();
        }
        m.final_check(1);
    });
}

/// 2. Stale get on a freed page: a getter holding a stale pointer races with
///    the page being freed (frozen) and reallocated; a failed get leaves only
///    leftovers, which the next allocation's init_page_count erases.
fn stale_get_on_freed_page<S: RefcountScheme>() {
    static LEFTOVERS: Seen = Seen::new(0);
    model(|| {
        let m = Model::<S>::owned();
        let m2 = m.clone();
        let t = thread::spawn(move || {
            m2.try_get_use_put();
            m2.try_get_use_put();
        });
        m.put();
        t.join().unwrap();
        // Leftovers of failed gets are hidden and erased by the next owner.
        assert_eq!(S::count(m.c()), 0);
        if S::raw(m.c()) != S::FROZEN {
            seen(&LEFTOVERS);
        }
        m.alloc();
        assert_eq!(S::raw(m.c()), S::raw_of_count(1));
        m.put();
        m.final_check(2);
    });
    if S::TRANSIENT_ZERO {
        assert_seen(&LEFTOVERS, "failed gets leaving leftovers on the freed page");
    }
}

/// 3. Stale get on a page freed and reallocated to someone else: the get may
///    succeed; the reader revalidates its slot and puts the page if it is not
///    the one it looked up. That put must never free the new owner's page.
fn stale_get_on_reallocated_page<S: RefcountScheme>() {
    static REALLOCATED: Seen = Seen::new(0);
    model(|| {
        let m = Model::<S>::owned();
        // The slot holds allocation 1 (and the slot owns its reference).
        let slot = Arc::new(AtomicUsize::new(1));
        let (m2, slot2) = (m.clone(), slot.clone());
        let reader = thread::spawn(move || {
            let want = slot2.load(Acquire);
            if want == 0 || !S::add_unless_frozen(m2.c(), 1) {
                return;
            }
            // The contents, read under our reference only.
            let found = m2.read();
            assert_ne!(found, 0, "successful get on a free page");
            if slot2.load(Acquire) == want {
                // Revalidated: it is the allocation we looked up.
                assert_eq!(found, want, "revalidated get on the wrong allocation");
            } else if found == 2 {
                // The get succeeded on the reallocated page: put it back.
                seen(&REALLOCATED);
            }
            m2.put();
        });
        // Writer: remove from the slot, drop the slot's reference (frees
        // allocation 1 unless the reader holds it), reallocate when free and
        // install allocation 2.
        slot.store(0, Release);
        m.put();
        let freed = m.st.lock().unwrap().free;
        if freed {
            let id = m.alloc();
            slot.store(id, Release);
        }
        reader.join().unwrap();
        if !freed {
            // The reader's put freed allocation 1; reallocate now.
            let id = m.alloc();
            slot.store(id, Release);
        }
        // Remove allocation 2 and drop its last reference.
        slot.store(0, Release);
        m.put();
        m.final_check(2);
    });
    assert_seen(&REALLOCATED, "a stale get succeeding on the reallocated page");
}

/// 4. Overflow scrub: failed gets near 0xC000_0000 never wrap the counter
///    into "owned" and are scrubbed back; a concurrent unfreeze by the owner
///    is never overwritten by a scrub. (Frozen scheme only.)
#[test]
fn overflow_scrub() {
    // Gets alone: always fail, and the counter ends frozen below the limit.
    model(|| {
        let m = Model::<Frozen>::free_page();
        m.c().store(Frozen::SCRUB_LIMIT - 2, Relaxed);
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let m = m.clone();
                thread::spawn(move || assert!(!m.try_get_use_put()))
            })
            .collect();
        assert!(!m.try_get_use_put());
        for t in ts {
            t.join().unwrap();
        }
        let v = Frozen::raw(m.c());
        assert!(Frozen::is_frozen(v) && v < Frozen::SCRUB_LIMIT, "{v:#x}");
    });
    // With the owner unfreezing concurrently (allocated frozen, then published).
    model(|| {
        let m = Model::<Frozen>::free_page();
        m.c().store(Frozen::SCRUB_LIMIT - 1, Relaxed);
        {
            let mut st = m.st.lock().unwrap();
            st.free = false;
            st.id = 1;
        }
        m.write_frozen();
        // SAFETY: the cell lives in `m`, and no other thread exists yet.
        m.data.with_mut(|d| unsafe { *d = 1 });
        let ts: Vec<_> = (0..2)
            .map(|_| {
                let m = m.clone();
                thread::spawn(move || {
                    m.try_get_use_put();
                })
            })
            .collect();
        assert!(Frozen::unfreeze(m.c(), 1));
        for t in ts {
            t.join().unwrap();
        }
        // Our reference survived every scrub: the last put frees.
        assert!(Frozen::count(m.c()) >= 1);
        m.put();
        m.final_check(1);
    });
}

/// 5. Freeze vs get: a successful freeze makes every speculative get fail
///    until unfreeze; a get that lands first makes the freeze fail.
fn freeze_vs_get<S: RefcountScheme>() {
    static FROZE: Seen = Seen::new(0);
    static GOT_FIRST: Seen = Seen::new(0);
    model(|| {
        let m = Model::<S>::owned();
        let m2 = m.clone();
        let t = thread::spawn(move || {
            m2.try_get_use_put();
        });
        let froze = S::freeze(m.c(), 1);
        seen(if froze { &FROZE } else { &GOT_FIRST });
        if froze {
            // Exclusive: nobody can have gained a reference, and the getter's
            // earlier read is ordered before our write (its put's Release,
            // the freeze's Acquire); a get after the unfreeze reads our write
            // (the unfreeze's Release).
            assert_eq!(S::count(m.c()), 0);
            m.write_frozen();
            assert!(S::unfreeze(m.c(), 1));
        }
        t.join().unwrap();
        m.put();
        m.final_check(1);
    });
    assert_seen(&FROZE, "the freeze winning");
    assert_seen(&GOT_FIRST, "the get winning");
}

/// 6. Last-put ABA: T1's decrement to 0 stalls before its CAS; T2 revives the
///    page, puts it (freeing allocation 1), reallocates it (allocation 2) and
///    puts again. T1's late CAS may then claim allocation 2's free; exactly
///    one party frees each allocation, and the freer frees what the page holds
///    now.
fn last_put_aba<S: RefcountScheme>() {
    static ABA: Seen = Seen::new(0);
    model(|| {
        let m = Model::<S>::owned();
        let m2 = m.clone();
        let t = thread::spawn(move || {
            if !S::add_unless_frozen(m2.c(), 1) {
                return 1;
            }
            m2.assert_live();
            m2.put();
            if m2.st.lock().unwrap().free {
                m2.alloc();
                m2.put();
                return 2;
            }
            1
        });
        if S::sub_and_test(m.c(), 1).unwrap() {
            // The freer frees whatever allocation the page holds now.
            let id = m.st.lock().unwrap().id;
            m.free();
            if id == 2 {
                // Our stalled CAS claimed the free of allocation 2.
                seen(&ABA);
            }
        }
        let allocations = t.join().unwrap();
        m.final_check(allocations);
    });
    if S::TRANSIENT_ZERO {
        assert_seen(&ABA, "a stalled last put freeing the next allocation");
    }
}

/// Runs a model of a misuse window: where the robustness matrix says the
/// scheme closes it, the model must pass; where it says open, the model must
/// find the failing interleaving (so the matrix's "OPEN" is proven, not
/// assumed, and a scheme that silently closes or opens a window fails here).
fn expect_window(closed: bool, what: &str, run: impl FnOnce() + std::panic::UnwindSafe) {
    match std::panic::catch_unwind(run) {
        Ok(()) if !closed => {
            panic!("the matrix calls this window open, the model found none: {what}")
        }
        Err(e) if closed => std::panic::resume_unwind(e),
        _ => {}
    }
}

/// A stale misuse on a free page (`misuse` on its counter) against one
/// speculative get: the get must fail, and the page must end frozen.
fn misuse_vs_get<S: RefcountScheme>(misuse: fn(&mm::sync::AtomicU32)) {
    model(move || {
        let page = Arc::new(Page::new(S::FROZEN));
        let p2 = page.clone();
        let t = thread::spawn(move || misuse(p2.refcount()));
        let got = S::add_unless_frozen(page.refcount(), 1);
        t.join().unwrap();
        assert!(!got, "a speculative get succeeded on a free page");
        assert!(S::is_frozen(S::raw(page.refcount())), "the free page is left owned");
    });
}

/// 9. Over-put on a free page (a stale put of 2) against a speculative get:
///    open in the series' layout (the subtraction passes through an owned
///    count), closed with FROZEN mid-range and in legacy.
fn over_put_vs_get<S: RefcountScheme>() {
    expect_window(closes(S::NAME, Row::OverPut2), "put of 2 on a free page", || {
        misuse_vs_get::<S>(|c| {
            let _ = S::sub_and_test(c, 2);
        })
    });
}

/// 10. `get_page` without a reference on a free page against a speculative
///     get: open in legacy (its add revives 0 -> 1 before the undo).
fn get_misuse_vs_get<S: RefcountScheme>() {
    expect_window(closes(S::NAME, Row::GetPageMisuse), "get_page on a free page", || {
        misuse_vs_get::<S>(|c| {
            let _ = S::get(c);
        })
    });
}

mm::for_each_scheme!(
    over_put_vs_get,
    get_misuse_vs_get,
    revive_race,
    stale_get_on_freed_page,
    stale_get_on_reallocated_page,
    freeze_vs_get,
    last_put_aba,
    zone_double_free_race_order0,
    zone_double_free_race_order1,
    zone_pcp_put_tail,
    zone_revive_race,
);

/// The zone models' setup: a real `Zone` over pfns 0..4 of a 32-page memmap
/// (loom's subsection size, `memmap.rs`), everything free (one order-2
/// block), then an order-1 block allocated with one reference. Returns the
/// zone and the block's head pfn.
fn zone_with_order1_block<S: RefcountScheme>() -> (std::sync::Arc<Zone<'static, S>>, usize) {
    let zone = mm::testing::zone::<S>(&[0..4]);
    let head = zone.alloc_pages(1).expect("order-1 block");
    let pfn = zone.page_to_pfn(head);
    (std::sync::Arc::new(zone), pfn)
}

/// After the race: the block was freed once, all 4 pages are back in the
/// zone (after draining the per-CPU lists) and every list is consistent.
fn zone_final_check<S: RefcountScheme>(zone: &Zone<'static, S>) {
    zone.verify_free_lists().unwrap();
    zone.drain_all_pages();
    zone.verify_free_lists().unwrap();
    assert_eq!(zone.nr_free_pages(), 4, "block leaked or freed twice");
    assert_eq!(zone.nr_free(2), 1, "the freed order-1 block did not merge back");
}

/// 7. The zone's put-and-free on the per-CPU path, on the real `Zone`: two
///    holders of an order-1 block each `put_page_pcp` through the *tail* page
///    (`compound_head`), on different CPU indexes. Exactly one frees (the
///    order read from the head after the winning put), the block ends on the
///    freer's per-CPU list, and the freer, which rewrites the block's
///    contents, is ordered after the other holder's writes (its put's
///    Release, the freer's 0 -> FROZEN Acquire): loom reports the contents
///    race if either is weakened. A holder whose put did not free then tries
///    a stale speculative get through the tail, racing the other's free.
fn zone_pcp_put_tail<S: RefcountScheme>() {
    static EACH_FREED: [Seen; 2] = [Seen::new(0), Seen::new(0)];
    static REGOT: Seen = Seen::new(0);
    model(|| {
        let (zone, pfn) = zone_with_order1_block::<S>();
        let tail = zone.pfn_to_page(pfn + 1).unwrap();
        zone.get_page(tail).unwrap();
        assert_eq!(zone.page_count(tail), 2);
        // Each holder's part of the page contents.
        let data = Arc::new([UnsafeCell::new(0usize), UnsafeCell::new(0usize)]);
        let holder = move |me: usize, zone: &Zone<'static, S>, data: &[UnsafeCell<usize>; 2]| {
            // SAFETY: the cells live in the `Arc` the caller holds. Slot `me`
            // is this holder's until its put; the freer reads it only after
            // winning the last put, ordered after this holder's put (Release).
            data[me].with_mut(|d| unsafe { *d = me + 1 });
            let tail = zone.pfn_to_page(pfn + 1).unwrap();
            let put = || {
                let freed = zone.put_page_pcp(me, tail).expect("put_page_pcp");
                if freed {
                    // The freer sees the other holder's writes, then reuses
                    // (poisons) the whole block.
                    let other = 1 - me;
                    // SAFETY: our put was the last: the other holder's put
                    // (Release) is ordered before our 0 -> FROZEN (Acquire),
                    // and with it that holder's write; loom's cell checks it.
                    assert_eq!(data[other].with(|d| unsafe { *d }), other + 1);
                    for d in data.iter() {
                        // SAFETY: as above, both holders have put their
                        // references; the block is ours alone.
                        d.with_mut(|d| unsafe { *d = 0 });
                    }
                    seen(&EACH_FREED[me]);
                }
                freed
            };
            if put() {
                return true;
            }
            // A stale speculative get through the tail, racing the other
            // holder's put and free onto its list (compound_head on a block
            // being freed): it fails once the block is frozen, else we hold
            // a reference again and our put may now be the last.
            if zone.get_page_unless_frozen(tail) {
                seen(&REGOT);
                return put();
            }
            false
        };
        let (zone2, data2) = (zone.clone(), data.clone());
        let t = thread::spawn(move || holder(1, &zone2, &data2));
        let freed0 = holder(0, &zone, &data);
        let freed1 = t.join().unwrap();
        assert!(freed0 ^ freed1, "freed {} times", freed0 as u8 + freed1 as u8);
        // On the freer's list, as one order-1 block, nothing on the other's.
        let cpu = if freed0 { 0 } else { 1 };
        assert_eq!(zone.nr_pcp_pages(cpu), 2);
        assert_eq!(zone.nr_pcp_pages(1 - cpu), 0);
        assert!(zone.pfn_to_page(pfn).unwrap().flags().is_pcp());
        zone_final_check(&zone);
    });
    assert_seen(&EACH_FREED[0], "holder 0 freeing");
    assert_seen(&EACH_FREED[1], "holder 1 freeing");
    assert_seen(&REGOT, "a holder's stale get succeeding before the other's put");
}

/// 8. Revive race on the zone path, on the real `Zone`: the owner's last
///    `put_page` (through the tail) against a speculative
///    `get_page_unless_frozen` (through the tail: `compound_head`, get,
///    recheck), which reads the contents under its reference and puts. Exactly
///    one free, into the zone (the block merges back to order 2); the freer's
///    poisoning of the contents is ordered after the getter's read.
fn zone_revive_race<S: RefcountScheme>() {
    static GETTER_FREED: Seen = Seen::new(0);
    static GET_FAILED: Seen = Seen::new(0);
    let revives_before =
        mm::refcount::frozen_loom_probe::REVIVED_IN_PUT.load(std::sync::atomic::Ordering::Relaxed);
    model(|| {
        let (zone, pfn) = zone_with_order1_block::<S>();
        // Written by the allocation's owner before anyone else could look.
        let data = Arc::new(UnsafeCell::new(1usize));
        let (zone2, data2) = (zone.clone(), data.clone());
        let t = thread::spawn(move || {
            let tail = zone2.pfn_to_page(pfn + 1).unwrap();
            if !zone2.get_page_unless_frozen(tail) {
                seen(&GET_FAILED);
                return false;
            }
            // SAFETY: the cell lives in `data2`. The successful get holds a
            // reference, so the block is not freed (and poisoned) before our
            // put, and the owner wrote the cell before spawning us.
            assert_eq!(data2.with(|d| unsafe { *d }), 1, "successful get on a freed block");
            let freed = zone2.put_page(tail).expect("put_page");
            if freed {
                // SAFETY: our put was the last: the owner's put (Release) is
                // ordered before our 0 -> FROZEN (Acquire); the block is ours.
                data2.with_mut(|d| unsafe { *d = 0 });
                seen(&GETTER_FREED);
            }
            freed
        });
        let tail = zone.pfn_to_page(pfn + 1).unwrap();
        let freed_by_owner = zone.put_page(tail).expect("put_page");
        if freed_by_owner {
            // SAFETY: our put was the last: the getter's read, if its get
            // succeeded, came before its put (Release), which is ordered
            // before our 0 -> FROZEN (Acquire); the block is ours.
            data.with_mut(|d| unsafe { *d = 0 });
        }
        let freed_by_getter = t.join().unwrap();
        assert!(freed_by_owner ^ freed_by_getter, "block freed 0 or 2 times");
        assert!(!zone.pfn_to_page(pfn).unwrap().flags().is_allocated());
        zone_final_check(&zone);
    });
    assert_seen(&GETTER_FREED, "the getter ending up with the last reference");
    assert_seen(&GET_FAILED, "the get failing on the freed block");
    // As in `revive_race`: no transient 0 in a direct single put.
    if S::TRANSIENT_ZERO && !S::DIRECT_SINGLE_PUT {
        let revives = mm::refcount::frozen_loom_probe::REVIVED_IN_PUT
            .load(std::sync::atomic::Ordering::Relaxed);
        assert!(revives > revives_before, "never explored: the 0 -> 1 revive in the last put");
    }
}

/// 9. Two frees of one frozen block racing on the real `Zone`: the zone path
///    (`free_frozen_pages`) against a per-CPU free on CPU 1. Order 0: the zone free's lock-free fast path (check, then the
///    head's exchange, then the zone lock) against the per-CPU free. Order 1:
///    the zone free checks under the zone lock while the per-CPU free may win
///    the head and clear the tails in between; the zone free must then
///    reread the head and report a double free, not a corrupt block
///    (`FREE_RETRIED` proves that interleaving ran). Exactly one free wins,
///    the other reports `DoubleFree`, the block is free once.
fn zone_double_free_race<S: RefcountScheme>(order: usize) {
    static WINNER: [Seen; 2] = [Seen::new(0), Seen::new(0)];
    let retried_before =
        mm::buddy::loom_probe::FREE_RETRIED.load(std::sync::atomic::Ordering::Relaxed);
    model(move || {
        let zone = std::sync::Arc::new(mm::testing::zone::<S>(&[0..4]));
        let head = zone.alloc_frozen_pages(order).expect("block");
        let pfn = zone.page_to_pfn(head);
        let zone2 = zone.clone();
        let t =
            thread::spawn(move || zone2.free_frozen_pages(zone2.pfn_to_page(pfn).unwrap(), order));
        let by_pcp = zone.free_frozen_pages_pcp(1, zone.pfn_to_page(pfn).unwrap(), order);
        let by_zone = t.join().unwrap();
        assert!(by_zone.is_ok() ^ by_pcp.is_ok(), "{by_zone:?} {by_pcp:?}");
        seen(&WINNER[by_pcp.is_ok() as usize]);
        let loser = by_zone.err().or(by_pcp.err()).unwrap();
        assert_eq!(loser.reason, mm::BadPageReason::DoubleFree, "{loser}");
        assert!(!loser.quarantined, "{loser}");
        zone_final_check(&zone);
    });
    assert_seen(&WINNER[0], "the zone free winning");
    assert_seen(&WINNER[1], "the per-CPU free winning");
    if order > 0 {
        let retried =
            mm::buddy::loom_probe::FREE_RETRIED.load(std::sync::atomic::Ordering::Relaxed);
        assert!(retried > retried_before, "never explored: tails cleared under the zone free");
    }
}

/// `zone_double_free_race` for each order it is run with, as model names.
fn zone_double_free_race_order0<S: RefcountScheme>() {
    zone_double_free_race::<S>(0)
}
fn zone_double_free_race_order1<S: RefcountScheme>() {
    zone_double_free_race::<S>(1)
}

//! State-transition tests, instantiated for every scheme.

use super::*;

crate::for_each_scheme!(
    fresh_frozen_page,
    init_and_count,
    speculative_get_on_owned,
    speculative_get_on_frozen_fails,
    put_not_last,
    put_last_freezes,
    put_on_frozen_is_bug_and_repaired,
    put_underflow_is_bug_and_repaired,
    get_on_owned,
    get_on_frozen_is_bug,
    freeze_exact_count,
    freeze_wrong_count_fails,
    freeze_then_get_fails_until_unfreeze,
    unfreeze_overwrites_leftovers,
    add_nr_and_sub_nr,
);

fn new<S: RefcountScheme>() -> AtomicU32 {
    AtomicU32::new(S::FROZEN)
}

fn fresh_frozen_page<S: RefcountScheme>() {
    let c = new::<S>();
    assert!(S::is_frozen(S::raw(&c)));
    assert_eq!(S::count(&c), 0);
}

fn init_and_count<S: RefcountScheme>() {
    let c = new::<S>();
    S::init_count(&c);
    assert_eq!(S::raw(&c), S::raw_of_count(1));
    assert_eq!(S::count(&c), 1);
    assert!(!S::is_frozen(S::raw_of_count(1)));
    S::set_frozen(&c);
    assert_eq!(S::raw(&c), S::FROZEN);
}

fn speculative_get_on_owned<S: RefcountScheme>() {
    let c = new::<S>();
    S::init_count(&c);
    assert!(S::add_unless_frozen(&c, 1));
    assert!(S::add_unless_frozen(&c, 3));
    assert_eq!(S::count(&c), 5);
}

fn speculative_get_on_frozen_fails<S: RefcountScheme>() {
    let c = new::<S>();
    for _ in 0..10 {
        assert!(!S::add_unless_frozen(&c, 1));
    }
    assert_eq!(S::count(&c), 0, "leftovers are hidden");
    assert!(S::is_frozen(S::raw(&c)));
    // The next allocation erases the leftovers.
    S::init_count(&c);
    assert_eq!(S::raw(&c), S::raw_of_count(1));
}

fn put_not_last<S: RefcountScheme>() {
    let c = new::<S>();
    S::init_count(&c);
    S::get(&c).unwrap();
    assert_eq!(S::sub_and_test(&c, 1), Ok(false));
    assert_eq!(S::count(&c), 1);
}

fn put_last_freezes<S: RefcountScheme>() {
    let c = new::<S>();
    S::init_count(&c);
    assert_eq!(S::sub_and_test(&c, 1), Ok(true));
    assert_eq!(S::raw(&c), S::FROZEN, "freed page is left exactly FROZEN");
    assert!(!S::add_unless_frozen(&c, 1));
}

fn put_on_frozen_is_bug_and_repaired<S: RefcountScheme>() {
    let c = new::<S>();
    let e = S::sub_and_test(&c, 1).unwrap_err();
    assert_eq!(e.raw, S::FROZEN);
    assert_eq!(e.kind, RefcountBugKind::PutOnFrozen);
    assert!(S::is_frozen(S::raw(&c)), "still frozen after the bad put");
    assert!(!S::add_unless_frozen(&c, 1), "not revivable");
}

fn put_underflow_is_bug_and_repaired<S: RefcountScheme>() {
    let c = new::<S>();
    S::init_count(&c);
    let e = S::sub_and_test(&c, 2).unwrap_err();
    assert_eq!(e, RefcountBug { raw: S::raw_of_count(1), kind: RefcountBugKind::Underflow });
    assert_eq!(S::count(&c), 1, "count restored");
    assert_eq!(S::sub_and_test(&c, 1), Ok(true));
}

fn get_on_owned<S: RefcountScheme>() {
    let c = new::<S>();
    S::init_count(&c);
    S::get(&c).unwrap();
    assert_eq!(S::count(&c), 2);
}

fn get_on_frozen_is_bug<S: RefcountScheme>() {
    let c = new::<S>();
    let e = S::get(&c).unwrap_err();
    assert_eq!(e.kind, RefcountBugKind::GetWithoutRef);
    assert!(S::is_frozen(S::raw(&c)), "a bad get never revives a frozen page");
    assert!(!S::add_unless_frozen(&c, 1));
}

fn freeze_exact_count<S: RefcountScheme>() {
    let c = new::<S>();
    S::init_count(&c);
    S::get(&c).unwrap();
    assert!(S::freeze(&c, 2));
    assert_eq!(S::raw(&c), S::FROZEN);
    assert_eq!(S::count(&c), 0);
}

fn freeze_wrong_count_fails<S: RefcountScheme>() {
    let c = new::<S>();
    S::init_count(&c);
    assert!(!S::freeze(&c, 2));
    assert_eq!(S::count(&c), 1);
}

fn freeze_then_get_fails_until_unfreeze<S: RefcountScheme>() {
    let c = new::<S>();
    S::init_count(&c);
    assert!(S::freeze(&c, 1));
    assert!(!S::add_unless_frozen(&c, 1));
    S::unfreeze(&c, 1);
    assert!(S::add_unless_frozen(&c, 1));
    assert_eq!(S::count(&c), 2);
}

fn unfreeze_overwrites_leftovers<S: RefcountScheme>() {
    let c = new::<S>();
    let _ = S::add_unless_frozen(&c, 1);
    let _ = S::add_unless_frozen(&c, 1);
    S::unfreeze(&c, 3);
    assert_eq!(S::raw(&c), S::raw_of_count(3));
}

fn add_nr_and_sub_nr<S: RefcountScheme>() {
    let c = new::<S>();
    S::init_count(&c);
    assert!(S::add_unless_frozen(&c, 7));
    assert_eq!(S::sub_and_test(&c, 7), Ok(false));
    assert_eq!(S::sub_and_test(&c, 1), Ok(true));
}

// ---- Frozen-only states -------------------------------------------------

#[test]
fn frozen_revive_of_transient_zero() {
    // Sequential replay of race 1: the put's decrement, then a get, then the
    // put's CAS.
    let c = AtomicU32::new(0); // as if a putter just did 1 -> 0
    assert!(Frozen::add_unless_frozen(&c, 1), "0 is revivable");
    assert!(
        c.compare_exchange(0, Frozen::FROZEN, Relaxed, Relaxed).is_err(),
        "the stalled putter's CAS fails"
    );
    assert_eq!(Frozen::sub_and_test(&c, 1), Ok(true), "the reviver frees");
}

#[test]
fn frozen_scrub_at_limit() {
    let c = AtomicU32::new(Frozen::SCRUB_LIMIT - 2);
    assert!(!Frozen::add_unless_frozen(&c, 1));
    assert_eq!(c.load(Relaxed), Frozen::SCRUB_LIMIT - 1, "below the limit: kept");
    assert!(!Frozen::add_unless_frozen(&c, 1));
    assert_eq!(c.load(Relaxed), Frozen::FROZEN, "at the limit: scrubbed");
}

#[test]
fn frozen_scrub_keeps_huge_nr_failures_frozen() {
    let c = AtomicU32::new(Frozen::FROZEN);
    assert!(!Frozen::add_unless_frozen(&c, 0x3FFF_FFFF));
    assert!(!Frozen::add_unless_frozen(&c, 0x3FFF_FFFF));
    assert!(Frozen::is_frozen(c.load(Relaxed)));
    assert!(c.load(Relaxed) < Frozen::SCRUB_LIMIT);
}

/// A failed put on a page with leftovers at the limit scrubs them on repair
/// (kills cargo-mutants' `>=` -> `<` in `Frozen::repair_put`).
#[test]
fn frozen_failed_put_on_leftovers_scrubs() {
    let c = AtomicU32::new(Frozen::SCRUB_LIMIT + 5);
    assert_eq!(Frozen::sub_and_test(&c, 1).unwrap_err().kind, RefcountBugKind::PutOnFrozen);
    assert_eq!(c.load(Relaxed), Frozen::FROZEN);
    let c = AtomicU32::new(Frozen::FROZEN + 5);
    assert!(Frozen::sub_and_test(&c, 1).is_err());
    assert_eq!(c.load(Relaxed), Frozen::FROZEN + 5, "below the limit: kept");
}

/// Arguments outside the protocol's range are refused without touching the
/// counter, in every build: a debug-only check would leave release kernels
/// able to revive a frozen page or wrap an owned count.
fn argument_ranges<S: RefcountScheme>() {
    let c = new::<S>();
    S::init_count(&c);
    for nr in [0, MAX_REF_NR + 1, u32::MAX] {
        assert_eq!(S::sub_and_test(&c, nr).unwrap_err().kind, RefcountBugKind::InvalidArgument);
        assert!(!S::add_unless_frozen(&c, nr));
        assert_eq!(S::raw(&c), S::raw_of_count(1), "nr {nr:#x} changed the counter");
    }
    assert!(S::add_unless_frozen(&c, MAX_REF_NR));
    assert_eq!(S::sub_and_test(&c, MAX_REF_NR), Ok(false));
    assert!(!S::freeze(&c, 0));
    assert!(!S::freeze(&c, MAX_COUNT + 1));
    assert_eq!(S::raw(&c), S::raw_of_count(1));
    // Unfreeze of a live page: refused exactly, count kept.
    assert_eq!(S::try_unfreeze(&c, 2).unwrap_err().kind, RefcountBugKind::UnfreezeNotFrozen);
    assert_eq!(S::count(&c), 1);
    assert!(S::freeze(&c, 1));
    for bad in [0, MAX_COUNT + 1, u32::MAX] {
        assert_eq!(S::try_unfreeze(&c, bad).unwrap_err().kind, RefcountBugKind::InvalidArgument);
        assert!(S::is_frozen(S::raw(&c)));
    }
    assert!(S::unfreeze(&c, MAX_COUNT));
    assert_eq!(S::count(&c), MAX_COUNT);
}

/// `freeze` refuses `expected` outside `1..=MAX_COUNT` even when the counter
/// holds exactly that value (a transient 0, or FROZEN itself).
#[test]
fn frozen_freeze_argument_range() {
    let c = AtomicU32::new(0);
    assert!(!Frozen::freeze(&c, 0), "froze a transient 0");
    assert_eq!(c.load(Relaxed), 0);
    let c = AtomicU32::new(Frozen::FROZEN);
    assert!(!Frozen::freeze(&c, MAX_COUNT + 1));
    let c = AtomicU32::new(u32::MAX);
    assert!(!Frozen::freeze(&c, u32::MAX));
    assert_eq!(c.load(Relaxed), u32::MAX);
    let c = AtomicU32::new(MAX_COUNT);
    assert!(Frozen::freeze(&c, MAX_COUNT));
    assert_eq!(c.load(Relaxed), Frozen::FROZEN);
}

/// The legacy scheme's bounds at their edges (get overflow, freeze range).
#[test]
fn legacy_argument_edges() {
    let c = AtomicU32::new(MAX_COUNT - 1);
    assert!(Legacy::add_unless_frozen(&c, 1));
    assert_eq!(c.load(Relaxed), MAX_COUNT);
    assert!(!Legacy::add_unless_frozen(&c, 1), "count pushed over MAX_COUNT");
    assert_eq!(c.load(Relaxed), MAX_COUNT);
    let c = AtomicU32::new(0);
    assert!(!Legacy::freeze(&c, 0), "froze a dead page");
    let c = AtomicU32::new(u32::MAX);
    assert!(!Legacy::freeze(&c, u32::MAX));
    assert_eq!(c.load(Relaxed), u32::MAX);
    let c = AtomicU32::new(MAX_COUNT);
    assert!(Legacy::freeze(&c, MAX_COUNT));
    assert_eq!(c.load(Relaxed), 0);
}

#[test]
fn bug_kinds_display() {
    use std::format;
    assert_eq!(format!("{}", RefcountBugKind::Underflow), "refcount underflow");
    assert_eq!(format!("{}", RefcountBugKind::InvalidArgument), "refcount argument out of range");
    assert_eq!(
        format!("{}", RefcountBugKind::UnfreezeNotFrozen),
        "page_ref_unfreeze on a page that is not frozen"
    );
}

#[test]
fn argument_ranges_frozen() {
    argument_ranges::<Frozen>();
}
#[test]
fn argument_ranges_legacy() {
    argument_ranges::<Legacy>();
}

#[test]
fn page_ref_unfreeze_reports_misuse() {
    let p = Page::new(DefaultScheme::FROZEN);
    assert!(!page_ref_unfreeze(&p, 0));
    assert!(page_ref_unfreeze(&p, 3));
    assert!(!page_ref_unfreeze(&p, 1), "unfreeze of a live page accepted");
    assert_eq!(page_count(&p), 3);
}

#[test]
fn frozen_page_count_hides_leftovers() {
    for raw in [Frozen::FROZEN, Frozen::FROZEN + 1, 0xBFFF_FFFF, 0xFFFF_FFFF] {
        assert_eq!(Frozen::count(&AtomicU32::new(raw)), 0);
    }
}

#[test]
fn frozen_owned_overflow_fails_get() {
    let c = AtomicU32::new(0x7FFF_FFFF);
    assert!(!Frozen::add_unless_frozen(&c, 1), "wrapping into FROZEN is a failed get");
    // ... and undone: the owners' count survives (not a frozen leftover).
    assert_eq!(c.load(Relaxed), 0x7FFF_FFFF);
    let c = AtomicU32::new(0x7FFF_FFF0);
    assert!(!Frozen::add_unless_frozen(&c, MAX_REF_NR));
    assert_eq!(c.load(Relaxed), 0x7FFF_FFF0);
    let c = AtomicU32::new(0x7FFF_FFFF);
    let e = Frozen::get(&c).unwrap_err();
    assert_eq!(e.kind, RefcountBugKind::Overflow);
    assert_eq!(c.load(Relaxed), 0x7FFF_FFFF, "undone");
}

#[test]
fn frozen_get_on_lasting_zero_leaves_page_frozen() {
    // A zero-filled descriptor: get_page must not leave it revivable.
    let c = AtomicU32::new(0);
    let e = Frozen::get(&c).unwrap_err();
    assert_eq!(e, RefcountBug { raw: 0, kind: RefcountBugKind::GetWithoutRef });
    assert_eq!(c.load(Relaxed), Frozen::FROZEN);
}

#[test]
fn frozen_put_on_lasting_zero_leaves_page_frozen() {
    let c = AtomicU32::new(0);
    let e = Frozen::sub_and_test(&c, 1).unwrap_err();
    assert_eq!(e.kind, RefcountBugKind::Underflow);
    assert_eq!(c.load(Relaxed), Frozen::FROZEN);
}

#[test]
fn frozen_get_on_frozen_scrubs() {
    let c = AtomicU32::new(Frozen::SCRUB_LIMIT - 1);
    assert!(Frozen::get(&c).is_err());
    assert_eq!(c.load(Relaxed), Frozen::FROZEN);
}

#[test]
fn legacy_get_on_dead_page_stays_dead() {
    let c = AtomicU32::new(0);
    assert!(Legacy::get(&c).is_err());
    assert_eq!(c.load(Relaxed), 0);
    let c = AtomicU32::new(u32::MAX);
    assert_eq!(Legacy::get(&c).unwrap_err().kind, RefcountBugKind::Overflow);
    assert_eq!(c.load(Relaxed), u32::MAX);
}

// ---- The Linux-named page functions (default scheme) --------------------

#[test]
fn page_functions_default_scheme() {
    let p = Page::new(DefaultScheme::FROZEN);
    assert_eq!(page_count(&p), 0);
    assert!(!get_page_unless_frozen(&p));
    set_page_count_frozen(&p);
    assert_eq!(page_ref_count_raw(&p), DefaultScheme::FROZEN);
    init_page_count(&p);
    assert_eq!(page_count(&p), 1);
    assert!(get_page_unless_frozen(&p));
    assert!(!page_ref_sub_and_test(&p, 1));
    get_page(&p);
    assert!(page_ref_add_unless_frozen(&p, 2));
    assert_eq!(page_count(&p), 4);
    assert!(!page_ref_sub_and_test(&p, 3));
    assert!(!page_ref_freeze(&p, 2));
    assert!(page_ref_freeze(&p, 1));
    assert!(!get_page_unless_frozen(&p));
    page_ref_unfreeze(&p, 1);
    assert!(page_ref_sub_and_test(&p, 1));
    assert_eq!(page_ref_count_raw(&p), DefaultScheme::FROZEN);
    // Misuse through the zone-less functions is logged, never frees.
    assert!(!page_ref_sub_and_test(&p, 1));
    get_page(&p);
    assert_eq!(page_count(&p), 0);
}

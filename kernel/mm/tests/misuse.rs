//! Misuse detection (every build): each case is reported with the right
//! reason, counted, the block quarantined where appropriate, and the free
//! lists stay intact so the rest of the zone still merges fully.

mod common;
use common::*;
use mm::{BadPage, BadPageReason, RefcountBugKind};
use std::sync::Mutex;
use std::sync::atomic::Ordering::Relaxed;

mm::for_each_scheme!(
    double_free_same_block,
    double_free_inside_merged_block,
    free_not_frozen,
    free_tail_page,
    free_wrong_order,
    free_order_too_large,
    free_reserved_page,
    free_foreign_page,
    put_on_frozen_allocated,
    put_on_free_page,
    double_put,
    get_on_frozen,
    refcount_underflow,
    lasting_zero_descriptor,
    use_after_free_on_free_list,
);

/// Check one report, then that the zone is still sound: lists valid, counts
/// conserved, and everything not quarantined merges back.
fn check<S: RefcountScheme>(
    z: &Zone<'_, S>,
    bad: BadPage,
    reason: BadPageReason,
    pfn: usize,
    bad_before: usize,
) {
    assert_eq!(bad.reason, reason, "{bad}");
    assert_eq!(bad.pfn, Some(pfn), "{bad}");
    assert_eq!(z.last_bad_page(), Some(bad));
    assert_eq!(z.bad_page_count(), bad_before + 1);
    z.verify_free_lists().unwrap();
    let line = bad.to_string();
    assert!(line.starts_with(&format!("BUG: Bad page state: pfn={pfn:#x} count=0x")), "{line}");
    assert!(line.contains(" flags=0x") && line.contains(" order="), "{line}");
}

fn double_free_same_block<S: RefcountScheme>() {
    let z = zone::<S>(1);
    let p = z.alloc_frozen_pages(2).unwrap();
    let pfn = z.page_to_pfn(p);
    z.free_frozen_pages(p, 2).unwrap();
    let free = z.nr_free_pages();
    let bad = z.free_frozen_pages(p, 2).unwrap_err();
    check(&z, bad, BadPageReason::DoubleFree, pfn, 0);
    assert!(!bad.quarantined);
    assert_eq!(z.nr_free_pages(), free, "free count unchanged");
    assert_fully_merged(&z, 1);
}

fn double_free_inside_merged_block<S: RefcountScheme>() {
    let z = zone::<S>(1);
    let a = z.alloc_frozen_pages(0).unwrap();
    let b = z.alloc_frozen_pages(0).unwrap();
    let (pa, pb) = (z.page_to_pfn(a), z.page_to_pfn(b));
    assert_eq!(pa ^ 1, pb, "buddies");
    z.free_frozen_pages(a, 0).unwrap();
    z.free_frozen_pages(b, 0).unwrap();
    // Both merged up to a max-order block: neither is PG_buddy any more.
    assert!(!b.flags().is_buddy() || pb % 1024 == 0);
    let bad = z.free_frozen_pages(b, 0).unwrap_err();
    check(&z, bad, BadPageReason::DoubleFree, pb, 0);
    // Also a page in the middle of a free block that was never allocated.
    let mid = z.pfn_to_page(517).unwrap();
    let bad = z.free_frozen_pages(mid, 0).unwrap_err();
    check(&z, bad, BadPageReason::DoubleFree, 517, 1);
    assert_fully_merged(&z, 1);
}

fn free_not_frozen<S: RefcountScheme>() {
    let z = zone::<S>(1);
    let p = z.alloc_pages(1).unwrap();
    let pfn = z.page_to_pfn(p);
    let bad = z.free_frozen_pages(p, 1).unwrap_err();
    check(&z, bad, BadPageReason::NotFrozen, pfn, 0);
    assert_eq!(bad.count, S::raw_of_count(1));
    assert!(bad.quarantined && p.flags().is_quarantined());
    assert_eq!(z.quarantined_pages(), 2);
    // The holder's last put is swallowed: the block never reaches a list.
    assert_eq!(z.put_page(p), Ok(true));
    assert!(!z.is_page_free(pfn));
    assert_eq!(z.nr_free_pages(), 1022);
    assert_eq!(z.bad_page_count(), 1, "no second report");
    z.verify_free_lists().unwrap();
}

fn free_tail_page<S: RefcountScheme>() {
    let z = zone::<S>(1);
    let head = z.alloc_frozen_pages(3).unwrap();
    let pfn = z.page_to_pfn(head);
    let tail = z.pfn_to_page(pfn + 1).unwrap();
    let bad = z.free_frozen_pages(tail, 0).unwrap_err();
    check(&z, bad, BadPageReason::TailPage, pfn + 1, 0);
    assert!(bad.quarantined && head.flags().is_quarantined());
    assert_eq!(z.quarantined_pages(), 8);
    // The owner's legitimate free is swallowed.
    assert_eq!(z.free_frozen_pages(head, 3), Ok(()));
    assert_eq!(z.nr_free_pages(), 1024 - 8);
    z.verify_free_lists().unwrap();
}

fn free_wrong_order<S: RefcountScheme>() {
    let z = zone::<S>(1);
    let p = z.alloc_frozen_pages(2).unwrap();
    let pfn = z.page_to_pfn(p);
    let bad = z.free_frozen_pages(p, 1).unwrap_err();
    check(&z, bad, BadPageReason::WrongOrder { allocated: 2 }, pfn, 0);
    assert_eq!(bad.order, 1);
    assert!(bad.quarantined);
    assert!(bad.to_string().contains("allocated with order 2"));
    // Too large an order as well (on another block).
    let q = z.alloc_frozen_pages(0).unwrap();
    let bad = z.free_frozen_pages(q, 3).unwrap_err();
    check(&z, bad, BadPageReason::WrongOrder { allocated: 0 }, z.page_to_pfn(q), 1);
    assert_eq!(z.nr_free_pages(), 1024 - 5);
    assert_eq!(z.quarantined_pages(), 5);
}

fn free_order_too_large<S: RefcountScheme>() {
    let z = zone::<S>(1);
    let p = z.alloc_frozen_pages(0).unwrap();
    let bad = z.free_frozen_pages(p, MAX_ORDER + 1).unwrap_err();
    check(&z, bad, BadPageReason::OrderTooLarge, z.page_to_pfn(p), 0);
    // Nothing was quarantined: the owner can still free it correctly.
    z.free_frozen_pages(p, 0).unwrap();
    assert_fully_merged(&z, 1);
}

fn free_reserved_page<S: RefcountScheme>() {
    let mm = testing::memmap(&[0..2048]);
    let z = Zone::<S>::new("Normal", mm, 0..2048);
    z.free_memory_range(0, 1024).unwrap();
    let r = z.pfn_to_page(1500).unwrap();
    let bad = z.free_frozen_pages(r, 0).unwrap_err();
    check(&z, bad, BadPageReason::Reserved, 1500, 0);
    assert!(!bad.quarantined && r.flags().is_reserved());
    assert_fully_merged(&z, 1);
}

fn free_foreign_page<S: RefcountScheme>() {
    let z = zone::<S>(1);
    let stranger = Page::new(S::FROZEN);
    let bad = z.free_frozen_pages(&stranger, 0).unwrap_err();
    assert_eq!((bad.reason, bad.pfn), (BadPageReason::NotInMemmap, None));
    assert!(bad.to_string().starts_with("BUG: Bad page state: pfn=none "));
    assert_fully_merged(&z, 1);
}

fn put_on_frozen_allocated<S: RefcountScheme>() {
    let z = zone::<S>(1);
    let p = z.alloc_frozen_pages(1).unwrap();
    let pfn = z.page_to_pfn(p);
    let bad = z.put_page(p).unwrap_err();
    check(&z, bad, BadPageReason::Refcount(RefcountBugKind::PutOnFrozen), pfn, 0);
    assert!(S::is_frozen(S::raw(p.refcount())), "counter restored to frozen");
    assert!(bad.quarantined);
    assert_eq!(z.free_frozen_pages(p, 1), Ok(()), "swallowed");
    assert_eq!(z.nr_free_pages(), 1022);
    z.verify_free_lists().unwrap();
}

fn put_on_free_page<S: RefcountScheme>() {
    let z = zone::<S>(1);
    let p = z.pfn_to_page(700).unwrap();
    let bad = z.put_page(p).unwrap_err();
    check(&z, bad, BadPageReason::Refcount(RefcountBugKind::PutOnFrozen), 700, 0);
    assert!(!bad.quarantined, "free blocks are left alone");
    assert!(S::is_frozen(S::raw(p.refcount())));
    assert_fully_merged(&z, 1);
    // And it is still allocatable normally.
    let q = z.alloc_pages(MAX_ORDER).unwrap();
    assert_eq!(z.put_page(q), Ok(true));
    assert_fully_merged(&z, 1);
}

fn double_put<S: RefcountScheme>() {
    let z = zone::<S>(1);
    let p = z.alloc_pages(0).unwrap();
    let pfn = z.page_to_pfn(p);
    assert_eq!(z.put_page(p), Ok(true));
    let bad = z.put_page(p).unwrap_err();
    check(&z, bad, BadPageReason::Refcount(RefcountBugKind::PutOnFrozen), pfn, 0);
    assert_fully_merged(&z, 1);
}

fn get_on_frozen<S: RefcountScheme>() {
    let z = zone::<S>(1);
    let p = z.alloc_frozen_pages(0).unwrap();
    let pfn = z.page_to_pfn(p);
    let bad = z.get_page(p).unwrap_err();
    check(&z, bad, BadPageReason::Refcount(RefcountBugKind::GetWithoutRef), pfn, 0);
    assert!(S::is_frozen(S::raw(p.refcount())), "never revived");
    assert!(bad.quarantined);
    // get_page on a free page: reported, lists untouched.
    let bad = z.get_page(z.pfn_to_page(900).unwrap()).unwrap_err();
    check(&z, bad, BadPageReason::Refcount(RefcountBugKind::GetWithoutRef), 900, 1);
    assert!(!bad.quarantined);
    assert_eq!(z.nr_free_pages(), 1023);
}

fn refcount_underflow<S: RefcountScheme>() {
    let z = zone::<S>(1);
    let p = z.alloc_pages(0).unwrap();
    let pfn = z.page_to_pfn(p);
    let bad = z.put_page_refs(p, 2).unwrap_err();
    check(&z, bad, BadPageReason::Refcount(RefcountBugKind::Underflow), pfn, 0);
    assert_eq!(z.page_count(p), 1, "count restored");
    assert!(bad.quarantined);
    assert_eq!(z.put_page(p), Ok(true), "last put, swallowed");
    assert_eq!(z.nr_free_pages(), 1023);
}

/// A descriptor whose counter reads 0 without a put in progress (zero-filled
/// memory): neither get nor put may leave it revivable.
fn lasting_zero_descriptor<S: RefcountScheme>() {
    let z = zone::<S>(1);
    let p = z.alloc_frozen_pages(0).unwrap();
    let pfn = z.page_to_pfn(p);
    // A lasting count 0 (raw 0 in the plain layouts: zero-filled memory).
    p.refcount().store(S::raw_of_count(0), Relaxed);
    let bad = z.put_page(p).unwrap_err();
    let reason = if S::TRANSIENT_ZERO {
        BadPageReason::Refcount(RefcountBugKind::Underflow)
    } else {
        BadPageReason::Refcount(RefcountBugKind::PutOnFrozen)
    };
    check(&z, bad, reason, pfn, 0);
    assert!(S::is_frozen(S::raw(p.refcount())), "left frozen: {:#x}", S::raw(p.refcount()));
    assert!(!z.get_page_unless_frozen(p));
    p.refcount().store(0, Relaxed);
    let bad = z.get_page(p).unwrap_err();
    check(&z, bad, BadPageReason::Refcount(RefcountBugKind::GetWithoutRef), pfn, 1);
    assert!(S::is_frozen(S::raw(p.refcount())));
}

fn use_after_free_on_free_list<S: RefcountScheme>() {
    let z = zone::<S>(2);
    // Someone takes a reference on a page of a free block.
    let victim = z.pfn_to_page(1029).unwrap();
    victim.refcount().store(S::raw_of_count(1), Relaxed);
    let mut got = Vec::new();
    while let Some(p) = z.alloc_frozen_pages(MAX_ORDER) {
        got.push(p);
    }
    assert_eq!(got.len(), 1, "the corrupted block was quarantined, not handed out");
    let bad = z.last_bad_page().unwrap();
    assert_eq!(
        (bad.reason, bad.pfn, bad.count),
        (BadPageReason::FreeListCorrupt, Some(1029), S::raw_of_count(1))
    );
    assert!(bad.quarantined);
    assert_eq!(z.quarantined_pages(), 1024);
    // A stray free of any page of the quarantined block is swallowed.
    assert_eq!(z.free_frozen_pages(z.pfn_to_page(1030).unwrap(), 0), Ok(()));
    z.free_frozen_pages(got[0], MAX_ORDER).unwrap();
    assert_fully_merged(&z, 1);
}

// ---- the log line -------------------------------------------------------

struct Capture(Mutex<Vec<String>>);
impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, r: &log::Record<'_>) {
        self.0.lock().unwrap().push(format!("{}", r.args()));
    }
    fn flush(&self) {}
}
static LOGGER: Capture = Capture(Mutex::new(Vec::new()));

#[test]
fn reports_go_through_log() {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Trace);
    // A pfn no other test of this binary double-frees.
    let mm = testing::memmap(&[0..4096]);
    let z = Zone::<Frozen>::new("Normal", mm, 0..4096);
    z.free_memory_range(0, 4096).unwrap();
    let p = z.alloc_frozen_pages(0).unwrap();
    let pfn = z.page_to_pfn(p);
    z.free_frozen_pages(p, 0).unwrap();
    let _ = z.free_frozen_pages(p, 0);
    let want = format!("BUG: Bad page state: pfn={pfn:#x} count=0x80000000 flags=");
    let logs = LOGGER.0.lock().unwrap();
    let line = logs.iter().find(|l| l.starts_with(&want)).expect("logged");
    assert!(line.ends_with(" order=0 double free"), "{line}");
}

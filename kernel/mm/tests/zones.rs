//! Zones as objects: their ids on a memmap, their counters after hotplug,
//! the reports of one locked batch, and spans the memmap cannot describe.

mod common;
use common::*;
use mm::memmap::{MAX_PFN, PAGES_PER_SECTION};
use mm::{BadPageReason, PCP_BATCH};
use mm::{MAX_ZONE_PAGES, ZoneError};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::string::String;
use std::sync::atomic::Ordering::Relaxed;
use std::vec::Vec;

mm::for_each_scheme!(
    live_zones_never_share_an_id,
    sixty_fourth_live_zone_refused,
    overlapping_zones_after_many_zones,
    stats_after_hotplug,
    every_bad_block_of_a_refill_is_logged,
    bad_blocks_past_the_pending_reports_are_summed_up,
    dropped_zone_gives_its_pages_back,
    // A thread and a timeout, to fail rather than hang on a regression.
    #[cfg_attr(miri, ignore)]
    span_beyond_memmap_refused,
    zone_far_above_the_old_limit,
);

/// Zones created one after another: more than there are ids, fewer under
/// Miri (each zone walks its pages when dropped).
const MANY_ZONES: usize = if cfg!(miri) { 70 } else { 300 };

/// Zones are created and dropped on one memmap, many more than there are
/// ids; the live ones never share one, and every id is in `1..=63`.
fn live_zones_never_share_an_id<S: RefcountScheme>() {
    let mm = testing::memmap::<S>(&[0..1 << MAX_ORDER]);
    let mut live: Vec<Zone<'_, S>> = Vec::new();
    for round in 0..MANY_ZONES {
        // Keep between 1 and 20 alive, dropping from the middle too.
        if live.len() == 20 || (round % 3 == 2 && !live.is_empty()) {
            live.remove(round % live.len());
        }
        live.push(Zone::new("Normal", mm, 0..1 << MAX_ORDER));
        let ids: BTreeSet<u32> = live.iter().map(|z| z.id()).collect();
        assert_eq!(ids.len(), live.len(), "round {round}: live zones share an id: {ids:?}");
        assert!(ids.iter().all(|id| (1..=63).contains(id)), "{ids:?}");
    }
}

/// 63 live zones on one memmap take every id: a 64th is refused, with an
/// error from `try_new` and a panic from `new`; dropping one frees its id.
fn sixty_fourth_live_zone_refused<S: RefcountScheme>() {
    let mm = testing::memmap::<S>(&[0..1 << MAX_ORDER]);
    let mut live: Vec<Zone<'_, S>> =
        (0..63).map(|_| Zone::new("Normal", mm, 0..1 << MAX_ORDER)).collect();
    let ids: BTreeSet<u32> = live.iter().map(|z| z.id()).collect();
    assert_eq!(ids, (1..=63).collect());
    let r = catch_unwind(AssertUnwindSafe(|| Zone::new("Normal", mm, 0..1 << MAX_ORDER)));
    let msg = r.expect_err("a 64th live zone on one memmap was created");
    let msg = msg.downcast_ref::<String>().map(String::as_str).unwrap_or("");
    assert!(msg.contains("zone ids"), "{msg}");
    let err = Zone::try_new("Normal", mm, 0..1 << MAX_ORDER).unwrap_err();
    assert_eq!(err, mm::ZoneError::NoZoneId);
    assert_eq!(err.to_string(), msg);
    // Another memmap has its own ids.
    let other = testing::memmap::<S>(&[0..1 << MAX_ORDER]);
    assert_eq!(Zone::new("Normal", other, 0..1 << MAX_ORDER).id(), 1);
    let freed = live.remove(17).id();
    assert_eq!(Zone::new("Normal", mm, 0..1 << MAX_ORDER).id(), freed);
}

/// Two zones over the same span, each managing half, created with many
/// zones created and dropped in between (the ids once wrapped after 63
/// creations and gave the second zone the first one's id, and their free
/// blocks merged into each other's lists). Each must keep to its own pages.
fn overlapping_zones_after_many_zones<S: RefcountScheme>() {
    let mm = testing::memmap::<S>(&[0..1 << MAX_ORDER]);
    let half = 1 << (MAX_ORDER - 1);
    let a = Zone::new("DMA", mm, 0..1 << MAX_ORDER);
    a.free_memory_range(0, half).unwrap();
    // Create zones until one gets a's id (or give up and take a fresh one).
    let mut b = None;
    for _ in 0..MANY_ZONES {
        let t = Zone::new("Movable", mm, 0..1 << MAX_ORDER);
        if t.id() == a.id() {
            b = Some(t);
            break;
        }
    }
    let b = b.unwrap_or_else(|| Zone::new("Movable", mm, 0..1 << MAX_ORDER));
    b.free_memory_range(half, 1 << MAX_ORDER).unwrap();
    a.verify_free_lists().unwrap();
    b.verify_free_lists().unwrap();
    assert_eq!((a.nr_free_pages(), b.nr_free_pages()), (half, half));
    let own = |z: &Zone<'_, S>, range: std::ops::Range<usize>| {
        let mut n = 0;
        while let Some(p) = z.alloc_frozen_pages(0) {
            let pfn = z.page_to_pfn(p);
            assert!(range.contains(&pfn), "{} handed out pfn {pfn}", z.name());
            n += 1;
        }
        n
    };
    assert_eq!(own(&a, 0..half), half);
    assert_eq!(own(&b, half..1 << MAX_ORDER), half);
    assert_ne!(a.id(), b.id());
}

/// A zone spanning two sections, only the first present at creation; the
/// second is added later (hotplug) and handed to the zone. `present` counts
/// it, and `reserved = present - managed` stays true.
fn stats_after_hotplug<S: RefcountScheme>() {
    let mm = testing::memmap::<S>(&[0..PAGES_PER_SECTION]);
    let z = Zone::new("Normal", mm, 0..2 * PAGES_PER_SECTION);
    z.free_memory_range(16, PAGES_PER_SECTION).unwrap();
    let s = z.stats();
    assert_eq!(
        (s.spanned, s.present, s.managed, s.reserved),
        (2 * PAGES_PER_SECTION, PAGES_PER_SECTION, PAGES_PER_SECTION - 16, 16)
    );
    mm.add_section(1, testing::section_storage()).unwrap();
    z.free_memory_range(PAGES_PER_SECTION, 2 * PAGES_PER_SECTION - 8).unwrap();
    let s = z.stats();
    assert_eq!(s.present, 2 * PAGES_PER_SECTION, "{s:?}");
    assert_eq!(s.managed, 2 * PAGES_PER_SECTION - 24, "{s:?}");
    assert_eq!(s.reserved, 24, "{s:?}");
}

// ---- the log lines, per thread (each test runs on its own thread) --------

struct Capture;
std::thread_local!(static LINES: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) });
impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, r: &log::Record<'_>) {
        LINES.with(|l| l.borrow_mut().push(format!("{}", r.args())));
    }
    fn flush(&self) {}
}
static LOGGER: Capture = Capture;

/// Two free pages written while free (a stray reference on each), both
/// among the blocks one per-CPU refill takes: both are quarantined, counted
/// and logged, each with its own line.
fn every_bad_block_of_a_refill_is_logged<S: RefcountScheme>() {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Trace);
    LINES.with(|l| l.borrow_mut().clear());
    let z = zone::<S>(1);
    // The first refill takes the first PCP_BATCH pages of the block.
    let victims = [5, 9];
    assert!(victims.iter().all(|&v| v < PCP_BATCH));
    for v in victims {
        z.pfn_to_page(v).unwrap().refcount().store(S::raw_of_count(1), Relaxed);
    }
    let p = z.alloc_frozen_pages_pcp(0, 0).unwrap();
    assert_eq!((z.bad_page_count(), z.quarantined_pages()), (2, 2));
    let lines = LINES.with(|l| l.borrow().clone());
    for v in victims {
        let want = format!("BUG: Bad page state: pfn={v:#x} ");
        let n = lines.iter().filter(|l| l.starts_with(&want)).count();
        assert_eq!(n, 1, "pfn {v:#x} reported {n} times: {lines:#?}");
    }
    assert_eq!(lines.len(), 2, "{lines:#?}");
    assert_eq!(z.last_bad_page().unwrap().reason, BadPageReason::FreeListCorrupt);
    z.free_frozen_pages_pcp(0, p, 0).unwrap();
    z.drain_all_pages();
    z.verify_free_lists().unwrap();
}

/// More bad blocks in one refill than a batch keeps reports for: the first
/// ones are logged each, the rest in one line with their number; all are
/// counted and quarantined.
fn bad_blocks_past_the_pending_reports_are_summed_up<S: RefcountScheme>() {
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Trace);
    LINES.with(|l| l.borrow_mut().clear());
    let z = zone::<S>(1);
    let victims = [1, 3, 5, 7, 9, 11, 13];
    for v in victims {
        z.pfn_to_page(v).unwrap().refcount().store(S::raw_of_count(1), Relaxed);
    }
    let p = z.alloc_frozen_pages_pcp(0, 0).unwrap();
    assert_eq!(z.bad_page_count(), victims.len());
    assert_eq!(z.quarantined_pages(), victims.len());
    let lines = LINES.with(|l| l.borrow().clone());
    assert_eq!(lines.len(), 5, "{lines:#?}");
    assert!(lines[..4].iter().all(|l| l.starts_with("BUG: Bad page state: pfn=")), "{lines:#?}");
    assert!(lines[4].contains(" 3 more bad blocks in the same batch"), "{lines:#?}");
    z.free_frozen_pages_pcp(0, p, 0).unwrap();
    z.drain_all_pages();
    z.verify_free_lists().unwrap();
}

/// A dropped zone's pages (free, cached, allocated) go back to
/// `PG_reserved` with no zone id: the next zone on the memmap, which gets
/// the same id, does not take them for its own, and can be handed them.
fn dropped_zone_gives_its_pages_back<S: RefcountScheme>() {
    let mm = testing::memmap::<S>(&[0..2 << MAX_ORDER]);
    let a = Zone::new("Normal", mm, 0..2 << MAX_ORDER);
    a.free_memory_range(0, 2 << MAX_ORDER).unwrap();
    let id = a.id();
    let held = a.alloc_frozen_pages(3).unwrap();
    let cached = a.alloc_frozen_pages_pcp(0, 0).unwrap();
    a.free_frozen_pages_pcp(0, cached, 0).unwrap();
    drop(a);
    for pfn in 0..2 << MAX_ORDER {
        let f = mm.pfn_to_page(pfn).unwrap().flags();
        assert!(f.is_reserved() && f.zone() == 0, "pfn {pfn}: {f}");
    }
    let b = Zone::new("Normal", mm, 0..2 << MAX_ORDER);
    assert_eq!(b.id(), id);
    assert_eq!(b.nr_free_pages(), 0);
    b.verify_free_lists().unwrap();
    // The block the old zone handed out is reserved now: refused.
    assert_eq!(b.free_frozen_pages(held, 3).unwrap_err().reason, BadPageReason::Reserved);
    b.free_memory_range(0, 2 << MAX_ORDER).unwrap();
    assert_fully_merged(&b, 2);
}

/// A span ending near `usize::MAX` (or anywhere past what the memmap can
/// describe) is refused at once; it used to hang (the walk over the span's
/// subsections wrapped to 0).
fn span_beyond_memmap_refused<S: RefcountScheme>() {
    let mm = testing::memmap::<S>(&[0..1 << MAX_ORDER]);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = catch_unwind(AssertUnwindSafe(|| {
            Zone::new("Normal", mm, usize::MAX - 5..usize::MAX).id()
        }));
        let _ = tx.send(r.is_err());
    });
    let refused = rx.recv_timeout(std::time::Duration::from_secs(10)).expect("Zone::new hung");
    assert!(refused, "a span beyond MAX_PFN was accepted");
    for span in [usize::MAX - 5..usize::MAX, 0..usize::MAX, MAX_PFN..MAX_PFN + 1, 0..MAX_PFN + 1] {
        let err = Zone::try_new("Normal", mm, span.clone()).unwrap_err();
        assert_eq!(err, mm::ZoneError::SpanBeyondMemMap { end: span.end }, "{span:?}");
    }
    // The biggest span a zone takes, wherever it lies; one page more is
    // refused (links are 32-bit offsets into the span).
    let biggest = MAX_ZONE_PAGES.min(MAX_PFN);
    assert!(Zone::try_new("Normal", mm, 0..biggest).is_ok());
    assert!(Zone::try_new("Normal", mm, MAX_PFN - biggest..MAX_PFN).is_ok());
    if MAX_ZONE_PAGES < MAX_PFN {
        assert_eq!(
            Zone::try_new("Normal", mm, 1..MAX_ZONE_PAGES + 2).unwrap_err(),
            ZoneError::SpanTooLarge { pages: MAX_ZONE_PAGES + 1 }
        );
    }
    let reversed = Zone::try_new("Normal", mm, std::ops::Range { start: 5, end: 4 }).unwrap_err();
    assert_eq!(reversed, mm::ZoneError::ReversedSpan { start: 5, end: 4 });
}

/// A zone whose RAM lies far above the old 512 GiB limit and above 2^32
/// pfns (16 TiB), with a second bank 2 TiB higher: the free lists link
/// pfns that do not fit 32 bits, blocks split and merge, compound tails
/// find their heads, and everything comes back.
fn zone_far_above_the_old_limit<S: RefcountScheme>() {
    // On the host: 48 TiB and 50 TiB. Under Miri (tiny memmap): the top
    // two sections.
    let (lo, hi) = if cfg!(miri) {
        (MAX_PFN - 2 * PAGES_PER_SECTION, MAX_PFN - PAGES_PER_SECTION)
    } else {
        (12 << 30, (12 << 30) + (1 << 29))
    };
    let block = 2 << MAX_ORDER;
    let banks = [lo..lo + block, hi..hi + block];
    let z = testing::zone::<S>(&banks);
    assert_eq!(z.managed_pages(), 2 * block);
    assert_eq!(z.nr_free(MAX_ORDER), 4);
    let big = z.alloc_frozen_pages(3).unwrap();
    let pfn = z.page_to_pfn(big);
    assert!(banks.iter().any(|b| b.contains(&pfn)));
    assert!(std::ptr::eq(z.memmap().compound_head(z.pfn_to_page(pfn + 7).unwrap()), big));
    let mut held = Vec::new();
    while let Some(p) = z.alloc_frozen_pages_pcp(0, 0) {
        held.push(p);
    }
    assert_eq!(held.len(), 2 * block - 8);
    z.verify_free_lists().unwrap();
    for p in held {
        z.free_frozen_pages_pcp(0, p, 0).unwrap();
    }
    z.free_frozen_pages(big, 3).unwrap();
    z.drain_all_pages();
    z.verify_free_lists().unwrap();
    assert_eq!(z.nr_free(MAX_ORDER), 4, "every block merged back");
}

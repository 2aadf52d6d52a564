//! Zones as objects: their ids on a memmap, their counters after hotplug,
//! the reports of one locked batch, and spans the memmap cannot describe.

mod common;
use common::*;
use mm::{BadPageReason, PCP_BATCH};
use std::cell::RefCell;
use std::string::String;
use std::sync::atomic::Ordering::Relaxed;
use std::vec::Vec;

mm::for_each_scheme!(
    every_bad_block_of_a_refill_is_logged,
    bad_blocks_past_the_pending_reports_are_summed_up,
);

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
        z.pfn_to_page(v).unwrap().refcount().store(1, Relaxed);
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
        z.pfn_to_page(v).unwrap().refcount().store(1, Relaxed);
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

//! Page-cache read analog of the patch authors' benchmark (threads doing
//! small reads of one file): each CPU loops over a speculative lookup of one
//! hot page (load slot, get unless frozen, reload slot and compare), a
//! 64-byte copy out of the page, and a put. Both schemes, same boot.

use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use mm::{Frozen, Legacy, RefcountScheme};
use protocol::bench::variant::{FROZEN, LEGACY};

use super::harness;
use super::report::{Table, record};
use crate::ktest::{Failure, TestResult};

#[repr(C, align(4096))]
struct HotPage([u8; 4096]);

static DATA: HotPage = HotPage([0x5a; 4096]);
/// The "page cache slot": which page (here always 1 = DATA) holds the offset.
static SLOT: AtomicUsize = AtomicUsize::new(1);
static COUNTERS: [AtomicU32; 2] = [AtomicU32::new(0), AtomicU32::new(0)];

const OPS: u64 = 100_000;

/// One read: returns the checksum of the 64 bytes copied, or None on a miss.
#[inline(always)]
fn read_once<S: RefcountScheme>(c: &AtomicU32, offset: usize) -> Option<u32> {
    // Acquire: pairs with whoever installed the page in the slot.
    let page = SLOT.load(Ordering::Acquire);
    if !S::add_unless_frozen(c, 1) {
        return None;
    }
    if SLOT.load(Ordering::Acquire) != page {
        let _ = S::sub_and_test(c, 1);
        return None;
    }
    let mut buf = [0u8; 64];
    // SAFETY: offset + 64 <= 4096; DATA is a static that is only read.
    unsafe {
        core::ptr::copy_nonoverlapping(DATA.0.as_ptr().add(offset), buf.as_mut_ptr(), 64);
    }
    let sum = core::hint::black_box(buf).iter().map(|&b| u32::from(b)).sum();
    let _ = S::sub_and_test(c, 1);
    Some(sum)
}

fn run_scheme<S: RefcountScheme>(n: usize, c: &AtomicU32) -> Result<harness::Sample, Failure> {
    // The static starts at 0, which the frozen-bit scheme does not count as
    // frozen (unfreeze refuses it): freeze, then unfreeze to the base
    // reference, as an allocation does.
    S::set_frozen(c);
    if !S::unfreeze(c, 1) {
        return Err(Failure::Fail(alloc::format!("{}: unfreeze refused", S::NAME)));
    }
    let bad = AtomicU32::new(0);
    let sample = harness::measure(n, OPS, &|rank, ops| {
        let mut errors = 0;
        for i in 0..ops {
            let offset = ((i as usize * 64) + rank * 512) % (4096 - 64);
            if read_once::<S>(c, offset) != Some(64 * 0x5a) {
                errors += 1;
            }
        }
        bad.fetch_add(errors, Ordering::Relaxed);
    });
    let ok = S::count(c) == 1 && bad.into_inner() == 0;
    S::set_frozen(c);
    if !ok {
        return Err(Failure::Fail(alloc::format!(
            "{}: page-cache read returned wrong data or leaked a reference",
            S::NAME
        )));
    }
    Ok(sample)
}

pub fn read() -> TestResult {
    let mut table = Table::new(
        "Page-cache read analog: lookup + 64-byte copy + put on one hot page (ns per read)",
        "ns",
        &["frozen-bit", "legacy CAS loop"],
        (FROZEN, LEGACY),
    );
    for n in harness::cpu_steps() {
        let f = run_scheme::<Frozen>(n, &COUNTERS[0])?;
        let l = run_scheme::<Legacy>(n, &COUNTERS[1])?;
        record("pagecache_read", FROZEN, &f);
        record("pagecache_read", LEGACY, &l);
        table.row(n, &[f.ns_per_op(), l.ns_per_op()], (0, 1));
    }
    table.print();
    Ok(())
}

//! Refcount microbenchmarks: frozen-bit vs legacy CAS loop in the same boot.
//!
//! Both schemes run on raw counters (the `RefcountScheme` trait), so one image
//! measures both whatever scheme its allocator was built with. Each op is a
//! speculative get (`add_unless_frozen`) plus a put (`sub_and_test`) on a
//! counter that also holds a base reference, so it never reaches zero.

use core::sync::atomic::AtomicU32;

use mm::{Frozen, Legacy, RefcountScheme};
use protocol::bench::variant::{FROZEN, LEGACY};

use super::harness::{self, Sample};
use super::report::{Table, record};
use crate::ktest::{Failure, TestResult};
use crate::smp::MAX_CPUS;

/// A counter on its own cache line (no false sharing between per-CPU ones).
#[repr(align(64))]
struct Line(AtomicU32);

static SHARED: [Line; 2] = [Line(AtomicU32::new(0)), Line(AtomicU32::new(0))];
static PER_CPU: [Line; MAX_CPUS] = [const { Line(AtomicU32::new(0)) }; MAX_CPUS];

const OPS: u64 = 200_000;

/// `ops` get/put pairs on `c`; returns false if any get failed (the counter
/// holds a base reference, so none may).
fn get_put<S: RefcountScheme>(c: &AtomicU32, ops: u64) -> bool {
    let mut ok = true;
    for _ in 0..ops {
        ok &= S::add_unless_frozen(c, 1);
        ok &= matches!(S::sub_and_test(c, 1), Ok(false));
    }
    ok
}

fn run_scheme<S: RefcountScheme>(n: usize, shared: bool, slot: usize) -> Result<Sample, Failure> {
    let failures = AtomicU32::new(0);
    let counter = |rank: usize| if shared { &SHARED[slot].0 } else { &PER_CPU[rank].0 };
    // The shared case uses one counter for every rank: set it up (and check
    // it) once.
    let counters = if shared { 1 } else { n };
    for rank in 0..counters {
        // The statics start at 0, which the frozen-bit scheme does not count
        // as frozen (unfreeze refuses it): freeze, then unfreeze to the base
        // reference, as an allocation does.
        S::set_frozen(counter(rank));
        if !S::unfreeze(counter(rank), 1) {
            return Err(Failure::Fail(alloc::format!("{}: unfreeze refused", S::NAME)));
        }
    }
    let sample = harness::measure(n, OPS, &|rank, ops| {
        if !get_put::<S>(counter(rank), ops) {
            failures.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
        }
    });
    for rank in 0..counters {
        if S::count(counter(rank)) != 1 {
            return Err(Failure::Fail(alloc::format!("{} counter not back to 1", S::NAME)));
        }
        S::set_frozen(counter(rank));
    }
    if failures.into_inner() != 0 {
        return Err(Failure::Fail(alloc::format!("{}: a get failed on an owned page", S::NAME)));
    }
    Ok(sample)
}

fn bench(shared: bool) -> TestResult {
    let (name, title) = if shared {
        (
            "refcount_shared",
            "Refcount: get+put pairs on ONE shared page (ns per pair, mean over CPUs)",
        )
    } else {
        ("refcount_percpu", "Refcount: get+put pairs, each CPU on its own page (ns per pair)")
    };
    let mut table = Table::new(title, "ns", &["frozen-bit", "legacy CAS loop"], (FROZEN, LEGACY));
    for n in harness::cpu_steps() {
        let f = run_scheme::<Frozen>(n, shared, 0)?;
        let l = run_scheme::<Legacy>(n, shared, 1)?;
        record(name, FROZEN, &f);
        record(name, LEGACY, &l);
        table.row(n, &[f.ns_per_op(), l.ns_per_op()], (0, 1));
    }
    table.print();
    Ok(())
}

pub fn shared() -> TestResult {
    bench(true)
}

pub fn per_cpu() -> TestResult {
    bench(false)
}

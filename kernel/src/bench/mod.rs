//! In-kernel benchmarks (`bench` boot mode, `make bench`, shell `bench`).
//!
//! Every claim is a ratio measured in this boot: frozen-bit vs legacy
//! refcount, this allocator vs a peer, N CPUs vs 1. Output: a markdown table
//! per benchmark plus `BENCH {json}` lines that the host turns into JSON, CSV
//! and SVG plots. Each benchmark also checks its invariants and is reported as
//! a KTAP case, so a benchmark that breaks something fails like a test.

mod alloc;
mod frag;
mod harness;
mod pagecache;
mod refcount;
mod report;

use protocol::bench::{META, Record, Value, field};

use crate::ktest::Suite;
use crate::{arch, smp};

static SUITE: Suite = Suite {
    name: "bench",
    cases: crate::cases![
        refcount_shared => refcount::shared,
        refcount_percpu => refcount::per_cpu,
        pagecache_read => pagecache::read,
        alloc_order0 => alloc::order0,
        alloc_mixed => alloc::mixed,
        fragmentation => frag::churn,
    ],
};

/// Runs every benchmark; true if all invariants held.
pub fn run() -> bool {
    println!(
        "# bench: {} CPUs online, arch {}, cpu: {}",
        smp::nr_online(),
        arch::NAME,
        arch::cpu_model()
    );
    println!(
        "# bench: cycle counter at {} MHz; allocator built with the {} refcount",
        arch::cycles_per_us(),
        crate::REFCOUNT_SCHEME
    );
    println!(
        "{}",
        Record(&[
            (field::BENCH, Value::Text(META)),
            (field::ARCH, Value::Text(arch::NAME)),
            (field::CPUS, Value::Int(smp::nr_online() as u64)),
            (field::CYCLES_PER_US, Value::Int(arch::cycles_per_us())),
            (field::ATOMICS, Value::Text(arch::ATOMICS)),
            (field::SCHEME, Value::Text(crate::REFCOUNT_SCHEME)),
        ])
    );
    let summary = crate::ktest::run_suites(|| core::iter::once(&SUITE));
    summary.failed == 0
}

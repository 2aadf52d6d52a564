//! In-kernel benchmarks (`bench` boot mode, `make bench`, shell `bench`).
//!
//! Every claim is a ratio measured in this boot: frozen-bit vs legacy
//! refcount, this allocator vs a peer, N CPUs vs 1. Output: a markdown table
//! per benchmark plus `BENCH {json}` lines that the host turns into JSON, CSV
//! and SVG plots. Each benchmark also checks its invariants and is reported as
//! a KTAP case, so a benchmark that breaks something fails like a test.

mod frag;
mod harness;
mod report;

use alloc::format;
use protocol::bench::{META, Record, Value, field};
use workloads::Env;

use self::report::{Table, record};
use crate::ktest::{Failure, Suite, TestResult};
use crate::{arch, smp};

/// One case per workload of the `workloads` crate (checked by
/// `every_workload_has_a_case`), then the kernel-only fragmentation run.
static SUITE: Suite = Suite {
    name: "bench",
    cases: crate::cases![
        refcount_shared => refcount_shared,
        pagecache_read => pagecache_read,
        refcount_own => refcount_own,
        final_put => final_put,
        alloc_put => alloc_put,
        alloc_order0 => alloc_order0,
        alloc_mixed => alloc_mixed,
        cross_free => cross_free,
        every_workload_has_a_case => every_workload_has_a_case,
        fragmentation => frag::churn,
    ],
};

/// The workloads' zones and peer, built on first use (2 MiB of descriptors
/// on the heap) and kept for the boot: the shell's `bench` may run again.
fn env() -> &'static Env {
    static ENV: spin::Once<Env> = spin::Once::new();
    ENV.call_once(|| Env::new(core::hint::spin_loop))
}

/// Runs the workload called `name` at every CPU count and prints its table
/// and records.
fn drive(name: &str) -> TestResult {
    let all = workloads::all(env(), smp::nr_online());
    let Some(w) = all.iter().find(|w| w.name() == name) else {
        return Err(Failure::Fail(format!("no workload named {name}")));
    };
    let meta = w.meta();
    let ratio = meta.ratios[0];
    let mut table = Table::new(
        meta.title,
        "ns",
        meta.variants,
        (meta.variants[ratio.0], meta.variants[ratio.1]),
    );
    for n in harness::cpu_steps() {
        let mut ns = alloc::vec::Vec::with_capacity(meta.variants.len());
        for (v, variant) in meta.variants.iter().enumerate() {
            let sample = harness::measure(n, w.as_ref(), v)
                .map_err(|e| Failure::Fail(format!("{variant} at {n} CPUs: {e}")))?;
            record(meta.name, variant, &sample);
            ns.push(sample.ns_per_op());
        }
        table.row(n, &ns, ratio);
    }
    table.print();
    Ok(())
}

macro_rules! workload_cases {
    ($($name:ident),* $(,)?) => {
        $(fn $name() -> TestResult {
            drive(stringify!($name))
        })*
    };
}

workload_cases!(
    refcount_shared,
    pagecache_read,
    refcount_own,
    final_put,
    alloc_put,
    alloc_order0,
    alloc_mixed,
    cross_free,
);

/// The suite above lists every workload the `workloads` crate defines, so a
/// new workload cannot be left out of `make bench`.
fn every_workload_has_a_case() -> TestResult {
    for meta in workloads::METAS {
        if !SUITE.cases.iter().any(|c| c.name == meta.name) {
            return Err(Failure::Fail(format!("workload {} has no bench case", meta.name)));
        }
    }
    Ok(())
}

/// Runs every benchmark, or those `bench.filter=a,b` names; true if all
/// invariants held (and the filter named at least one).
pub fn run(cmdline: &crate::cmdline::CmdLine<'_>) -> bool {
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
            (field::CPU_MODEL, Value::Text(&alloc::format!("{}", arch::cpu_model()))),
            (field::CYCLES_PER_US, Value::Int(arch::cycles_per_us())),
            (field::ATOMICS, Value::Text(arch::atomics())),
            (field::SCHEME, Value::Text(crate::REFCOUNT_SCHEME)),
        ])
    );
    let Some(filter) = cmdline.get(protocol::cmdline::key::BENCH_FILTER) else {
        let summary = crate::ktest::run_suites(|| core::iter::once(&SUITE));
        return summary.failed == 0;
    };
    let cases: alloc::vec::Vec<_> = SUITE
        .cases
        .iter()
        .filter(|c| filter.split(',').any(|name| name == c.name))
        .map(|c| crate::ktest::Case { name: c.name, run: c.run })
        .collect();
    if cases.is_empty() {
        println!("bench: bench.filter={filter} names no benchmark");
        return false;
    }
    // The suite must be 'static for the runner; a bench boot runs it once.
    let suite: &'static Suite = alloc::boxed::Box::leak(alloc::boxed::Box::new(Suite {
        name: SUITE.name,
        cases: alloc::boxed::Box::leak(cases.into_boxed_slice()),
    }));
    let summary = crate::ktest::run_suites(|| core::iter::once(suite));
    summary.failed == 0
}

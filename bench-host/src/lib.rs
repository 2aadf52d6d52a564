//! Timing the `workloads` crate's benchmarks and reporting them.
//!
//! Two binaries share this library:
//!
//! * `bench-host` (`make bench-host`) runs the workloads on the host's real
//!   cores with std threads ([`harness`], [`machine`]);
//! * `bench-report` (`make bench`, `make test`'s bench smoke) reads the
//!   `BENCH {json}` records of a kernel bench boot ([`kernel_log`]).
//!
//! Both turn their figures into the same [`report::WorkloadResult`]s and
//! write them with the same code: one markdown table per workload (the
//! workload's own ratios and each variant's scaling), `results.json`,
//! `results.csv`, `ratios.csv`, `summary.md` and `bench.svg`.

#![warn(missing_docs)]

pub mod asm;
pub mod harness;
pub mod kernel_log;
pub mod machine;
pub mod report;

//! Benchmark output: markdown tables for people and one `BENCH {json}` line
//! per figure for the host's `bench-report` (JSON, CSV, SVG plots).

use alloc::string::String;
use core::fmt::Write;

use protocol::bench::{Record, Value, field};

use super::harness::Sample;

/// Prints a machine-readable record of one sample (`protocol::bench`).
pub fn record(bench: &str, variant: &str, s: &Sample) {
    println!(
        "{}",
        Record(&[
            (field::BENCH, Value::Text(bench)),
            (field::VARIANT, Value::Text(variant)),
            (field::CPUS, Value::Int(s.cpus as u64)),
            (field::OPS_PER_CPU, Value::Int(s.ops_per_cpu)),
            (field::CYCLES_PER_OP, Value::Fixed2(s.cycles_per_op)),
            (field::NS_PER_OP, Value::Fixed2(s.ns_per_op())),
        ])
    );
}

/// A table comparing variants (columns) per CPU count (rows), with the ratio
/// `a / b` of the two named variants.
pub struct Table {
    out: String,
}

impl Table {
    pub fn new(title: &str, unit: &str, variants: &[&str], ratio: (&str, &str)) -> Self {
        let mut out = String::new();
        let _ = writeln!(out, "\n### {title}\n");
        let _ = write!(out, "| CPUs |");
        for v in variants {
            let _ = write!(out, " {v} ({unit}) |");
        }
        let _ = writeln!(out, " {} / {} |", ratio.0, ratio.1);
        let _ = write!(out, "|---:|");
        for _ in variants {
            let _ = write!(out, "---:|");
        }
        let _ = writeln!(out, "---:|");
        Self { out }
    }

    /// One row: the samples of each variant at the same CPU count; the ratio
    /// is `values[ratio_a] / values[ratio_b]`.
    pub fn row(&mut self, cpus: usize, values: &[f64], ratio: (usize, usize)) {
        let _ = write!(self.out, "| {cpus} |");
        for v in values {
            let _ = write!(self.out, " {v:.1} |");
        }
        let _ = writeln!(self.out, " {:.2} |", values[ratio.0] / values[ratio.1]);
    }

    pub fn print(self) {
        crate::print!("{}", self.out);
    }
}

//! `bench-report LOG OUT_DIR [--accel NAME]`: turns the `BENCH {json}` lines
//! of a bench-mode boot log into `results.json`, `results.csv`, `summary.md`
//! and `bench.svg` (one panel per benchmark: ns per op against CPU count, one
//! line per variant) under OUT_DIR, and prints the summary.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use qemu_tests::bench::{Record, parse_log, render_svg, summary_markdown};
use serde_json::{Value, json};

/// Turns a bench boot's `BENCH {json}` lines into JSON, CSV, markdown and SVG.
#[derive(Parser, Debug)]
#[command(name = "bench-report")]
struct Cli {
    /// Serial log of a bench-mode boot.
    log: PathBuf,
    /// Where results.json, results.csv, summary.md and bench.svg go.
    out_dir: PathBuf,
    /// Accelerator the boot ran under (recorded in the environment).
    #[arg(long, default_value = "tcg")]
    accel: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let log = match std::fs::read_to_string(&cli.log) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bench-report: {}: {e}", cli.log.display());
            return ExitCode::FAILURE;
        }
    };
    let (meta, records) = parse_log(&log);
    if records.is_empty() {
        eprintln!("bench-report: no BENCH lines in {}", cli.log.display());
        return ExitCode::FAILURE;
    }
    let host_cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let vcpus: usize =
        meta.get(protocol::bench::field::CPUS).and_then(|v| v.parse().ok()).unwrap_or(1);
    let mut env = meta.clone();
    env.insert("accel".into(), cli.accel);
    env.insert("host_cores".into(), host_cores.to_string());
    env.insert("oversubscribed".into(), (vcpus > host_cores).to_string());

    if let Err(e) = write_all(&cli.out_dir, &env, &records) {
        eprintln!("bench-report: {e}");
        return ExitCode::FAILURE;
    }
    print!("{}", summary_markdown(&env, &records));
    println!("\nwrote {}/{{results.json,results.csv,summary.md,bench.svg}}", cli.out_dir.display());
    ExitCode::SUCCESS
}

fn write_all(
    out: &Path,
    env: &BTreeMap<String, String>,
    records: &[Record],
) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    let environment: serde_json::Map<String, Value> =
        env.iter().map(|(k, v)| (k.clone(), json_value(v))).collect();
    // Each record as the kernel printed it (numbers keep their digits).
    let results: Vec<Value> =
        records.iter().map(|r| serde_json::from_str(&r.raw).unwrap_or(Value::Null)).collect();
    let doc = json!({ "environment": environment, "results": results });
    std::fs::write(out.join("results.json"), format!("{}\n", serde_json::to_string_pretty(&doc)?))?;

    let mut csv = String::from("bench,variant,cpus,ns_per_op,cycles_per_op\n");
    for r in records {
        let _ = writeln!(
            csv,
            "{},{},{},{},{}",
            r.bench, r.variant, r.cpus, r.ns_per_op, r.cycles_per_op
        );
    }
    std::fs::write(out.join("results.csv"), csv)?;
    std::fs::write(out.join("summary.md"), summary_markdown(env, records))?;
    std::fs::write(out.join("bench.svg"), render_svg(env, records))
}

/// Numbers and booleans stay bare; everything else becomes a JSON string.
fn json_value(v: &str) -> Value {
    match serde_json::from_str::<Value>(v) {
        Ok(n @ (Value::Number(_) | Value::Bool(_))) => n,
        _ => Value::String(v.to_string()),
    }
}

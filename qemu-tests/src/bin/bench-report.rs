//! `bench-report LOG OUT_DIR [--accel NAME]`: turns the `BENCH {json}` lines
//! of a bench-mode boot log into `results.json`, `results.csv`, `summary.md`
//! and `bench.svg` (one panel per benchmark: ns per op against CPU count, one
//! line per variant) under OUT_DIR, and prints the summary.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::ExitCode;

use qemu_tests::bench::{Record, parse_log, render_svg, summary_markdown};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: bench-report LOG OUT_DIR [--accel NAME]");
        return ExitCode::from(2);
    }
    let accel = args
        .iter()
        .position(|a| a == "--accel")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| "tcg".into());
    let log = match std::fs::read_to_string(&args[1]) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bench-report: {}: {e}", args[1]);
            return ExitCode::FAILURE;
        }
    };
    let (meta, records) = parse_log(&log);
    if records.is_empty() {
        eprintln!("bench-report: no BENCH lines in {}", args[1]);
        return ExitCode::FAILURE;
    }
    let host_cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let vcpus: usize = meta.get("cpus").and_then(|v| v.parse().ok()).unwrap_or(1);
    let mut env = meta.clone();
    env.insert("accel".into(), accel);
    env.insert("host_cores".into(), host_cores.to_string());
    env.insert("oversubscribed".into(), (vcpus > host_cores).to_string());

    let out = std::path::Path::new(&args[2]);
    if let Err(e) = write_all(out, &env, &records) {
        eprintln!("bench-report: {e}");
        return ExitCode::FAILURE;
    }
    print!("{}", summary_markdown(&env, &records));
    println!("\nwrote {}/{{results.json,results.csv,summary.md,bench.svg}}", out.display());
    ExitCode::SUCCESS
}

fn write_all(
    out: &std::path::Path,
    env: &BTreeMap<String, String>,
    records: &[Record],
) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    let mut json = String::from("{\n  \"environment\": {");
    let fields: Vec<String> =
        env.iter().map(|(k, v)| format!("\"{k}\": {}", json_value(v))).collect();
    json.push_str(&fields.join(", "));
    json.push_str("},\n  \"results\": [\n");
    let rows: Vec<String> = records.iter().map(|r| format!("    {}", r.raw)).collect();
    json.push_str(&rows.join(",\n"));
    json.push_str("\n  ]\n}\n");
    std::fs::write(out.join("results.json"), json)?;

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
fn json_value(v: &str) -> String {
    if v.parse::<f64>().is_ok() || v == "true" || v == "false" {
        v.to_string()
    } else {
        format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

//! `bench-report LOG OUT_DIR [--accel NAME]`: turns the `BENCH {json}` records
//! of a kernel bench boot's log into the same files `bench-host` writes
//! (`results.json`, `results.csv`, `ratios.csv`, `summary.md`, `bench.svg`)
//! under OUT_DIR, and prints the summary.

use std::path::PathBuf;
use std::process::ExitCode;

use bench_host::kernel_log::parse_log;
use bench_host::report::KernelRun;
use clap::Parser;
use serde_json::Value;

/// Turns a bench boot's `BENCH {json}` lines into JSON, CSV, markdown and SVG.
#[derive(Parser, Debug)]
#[command(name = "bench-report")]
struct Cli {
    /// Serial log of a bench-mode boot.
    log: PathBuf,
    /// Where the result files go (created if needed).
    out_dir: PathBuf,
    /// Accelerator the boot ran under (recorded in the environment).
    #[arg(long, default_value = "tcg")]
    accel: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let text = match std::fs::read_to_string(&cli.log) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("bench-report: {}: {e}", cli.log.display());
            return ExitCode::FAILURE;
        }
    };
    let log = parse_log(&text);
    if log.records.is_empty() {
        eprintln!("bench-report: no BENCH lines in {}", cli.log.display());
        return ExitCode::FAILURE;
    }
    let host_cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let vcpus = log.meta.get(protocol::bench::field::CPUS).and_then(Value::as_u64).unwrap_or(1);
    let run = KernelRun {
        environment: log.environment(&[
            ("accel", Value::from(cli.accel)),
            ("host_cores", Value::from(host_cores)),
            ("oversubscribed", Value::from(vcpus > host_cores as u64)),
        ]),
        workloads: log.workloads(),
        fragmentation: log.fragmentation(),
    };
    if let Err(e) = run.write_all(&cli.out_dir) {
        eprintln!("bench-report: {}: {e}", cli.out_dir.display());
        return ExitCode::FAILURE;
    }
    print!("{}", run.markdown());
    println!(
        "\nwrote {}/{{results.json,results.csv,ratios.csv,summary.md,bench.svg}}",
        cli.out_dir.display()
    );
    ExitCode::SUCCESS
}

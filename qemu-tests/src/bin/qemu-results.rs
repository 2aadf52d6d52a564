//! `qemu-results [DIR]`: reads the per-boot JSON results (default
//! `target/qemu-logs`) and names every failed case with its boot: what
//! `make test` prints in its summary. Boots that were meant to fail
//! (injections, `expected_failure`) are listed apart. Exit status 1 if a
//! boot failed unexpectedly (or a result file is unreadable), else 0.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use qemu_tests::report::summarize;

/// Names every failed case of the QEMU boots, with its boot.
#[derive(Parser, Debug)]
#[command(name = "qemu-results")]
struct Cli {
    /// Directory with the boots' NAME.json results.
    #[arg(default_value = "target/qemu-logs")]
    dir: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let boots = match summarize(&cli.dir) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("qemu-results: {}: {e}", cli.dir.display());
            return ExitCode::FAILURE;
        }
    };
    let (expected, failed): (Vec<_>, Vec<_>) = boots.into_iter().partition(|b| b.expected);
    if failed.is_empty() {
        println!("QEMU boots: no failed case ({})", cli.dir.display());
    } else {
        println!("QEMU boots: failed cases, by boot ({}/BOOT.log):", cli.dir.display());
        for b in &failed {
            println!("  {}:", b.boot);
            for f in &b.failures {
                println!("    {f}");
            }
        }
    }
    if !expected.is_empty() {
        let names: Vec<&str> = expected.iter().map(|b| b.boot.as_str()).collect();
        println!("  failed as intended (injections): {}", names.join(", "));
    }
    if failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

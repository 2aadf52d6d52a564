//! `asm-report ARCH=FILE.s ...`: the instructions and atomic
//! read-modify-writes of every `asm-probe` symbol in each file, as one
//! markdown table (`make asm` writes it to `target/asm/summary.md`).

use std::process::ExitCode;

use bench_host::asm::{probes, table};

fn main() -> ExitCode {
    let mut archs = Vec::new();
    for arg in std::env::args().skip(1) {
        let Some((arch, file)) = arg.split_once('=') else {
            eprintln!("usage: asm-report ARCH=FILE.s ...");
            return ExitCode::from(2);
        };
        match std::fs::read_to_string(file) {
            Ok(text) => archs.push((arch.to_string(), probes(&text))),
            Err(e) => {
                eprintln!("asm-report: {file}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if archs.is_empty() || archs.iter().any(|(_, p)| p.is_empty()) {
        eprintln!("asm-report: no refcount_* symbols (usage: asm-report ARCH=FILE.s ...)");
        return ExitCode::FAILURE;
    }
    print!("{}", table(&archs));
    ExitCode::SUCCESS
}

//! Unattended mode, after memtest86+: boot from a stick, test, show the
//! verdict, never wait for a key.
//!
//! Chosen by the command line `unattended [stress.secs=N] [poweroff|exit]`,
//! usually baked into the image (`make usb CMDLINE="unattended
//! stress.secs=600"`, docs/hardware.md). Phases:
//!
//! 1. the ktest suites (KTAP on serial and screen, `ktest.filter=` honoured);
//! 2. the SMP stress suites on every online CPU for `stress.secs` seconds
//!    (default [`DEFAULT_STRESS_SECS`]; a suite that started is finished), one
//!    progress line per suite run;
//! 3. the verdict: `unattended: PASS` or `unattended: FAIL` with a summary,
//!    a large banner on the framebuffer (crate::fbcon::banner) and block
//!    letters on the serial port;
//! 4. the end: halt, with the verdict left on the screen (default); ACPI/PSCI
//!    power-off with the word `poweroff`; or with the word `exit`, the test
//!    exit (under QEMU the isa-debug-exit device ends QEMU with status 33 for
//!    PASS, 35 for FAIL; elsewhere it halts like the default).

use protocol::cmdline::{key, word};

use crate::arch;
use crate::cmdline::CmdLine;

/// Stress time without `stress.secs=` (seconds).
pub const DEFAULT_STRESS_SECS: u64 = 600;

/// Runs the unattended mode; never returns (see the module doc).
pub fn run(cmdline: &CmdLine<'_>) -> ! {
    let secs = match cmdline.number(key::STRESS_SECS) {
        Ok(n) => n.unwrap_or(DEFAULT_STRESS_SECS),
        Err(e) => {
            println!("unattended: {e}; using {DEFAULT_STRESS_SECS} s");
            DEFAULT_STRESS_SECS
        }
    };
    let poweroff = cmdline.has_word(word::POWEROFF);
    let exit = cmdline.has_word(word::EXIT);
    let cpus = crate::smp::nr_online();
    println!(
        "unattended: ktest, then stress on {cpus} CPUs for {secs} s, then {}; no input needed",
        if poweroff {
            "power off"
        } else if exit {
            "exit"
        } else {
            "halt"
        }
    );
    let start = arch::read_cycles();
    println!("unattended: phase 1 of 2: ktest suites");
    let ktest_ok = crate::ktest::run(cmdline);
    println!("unattended: phase 1 of 2: ktest {}", if ktest_ok { "passed" } else { "FAILED" });
    // A failed ktest is already the verdict; stressing a broken kernel
    // would only bury the first failure.
    let stress_ok = if !ktest_ok {
        println!("unattended: phase 2 of 2: stress skipped after the ktest failure");
        false
    } else if secs == 0 {
        println!("unattended: phase 2 of 2: stress skipped (stress.secs=0)");
        true
    } else {
        println!("unattended: phase 2 of 2: stress on {cpus} CPUs for {secs} s");
        crate::tests::stress::run_for(&alloc::format!("{secs}"))
    };
    let pass = ktest_ok && stress_ok;
    let elapsed = (arch::read_cycles() - start) / arch::cycles_per_us() / 1_000_000;
    let word = if pass { "PASS" } else { "FAIL" };
    serial_banner(word);
    crate::fbcon::banner(word, pass);
    println!("{word}");
    println!(
        "unattended: {word}: ktest {}, stress {}, {cpus} CPUs, {elapsed} s",
        if ktest_ok { "passed" } else { "FAILED" },
        match (ktest_ok, stress_ok) {
            (false, _) => "not run",
            (true, true) => "passed",
            (true, false) => "FAILED",
        },
    );
    if poweroff {
        println!("unattended: powering off");
        arch::poweroff();
    }
    if exit {
        arch::exit(arch::ExitStatus::from_passed(pass))
    }
    println!("unattended: done; halted (switch the machine off or reset it)");
    arch::hang()
}

/// `word` in block letters (`#`), from the console font, on the serial port
/// only (the screen gets the pixel banner instead).
fn serial_banner(word: &str) {
    use noto_sans_mono_bitmap::{FontWeight, RasterHeight, get_raster};
    let rasters: alloc::vec::Vec<_> = word
        .chars()
        .filter_map(|c| get_raster(c, FontWeight::Regular, RasterHeight::Size16))
        .collect();
    let Some(first) = rasters.first() else { return };
    let mut out = alloc::string::String::from("\n");
    // Two raster rows per text line and two characters per pixel: glyphs
    // look about as wide as tall in a terminal's tall character cells. The
    // anti-aliased strokes of a 16-pixel font are thin, so a pixel is ink
    // when either row has a quarter of its intensity.
    for row in (0..first.height()).step_by(2) {
        let mut line = alloc::string::String::from("    ");
        for r in &rasters {
            let rows = r.raster();
            for x in 0..r.width() {
                let v = rows[row][x].max(rows.get(row + 1).map_or(0, |next| next[x]));
                line.push_str(if v >= 64 { "##" } else { "  " });
            }
            line.push_str("  ");
        }
        let line = line.trim_end();
        if !line.is_empty() {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push('\n');
    arch::console_write(out.as_bytes());
}

//! The shell, driven like a person would: commands typed on the serial
//! console (output parsed), and `test` typed on the PS/2 keyboard with the
//! result checked on the screen (QEMU screendump of the framebuffer console).
//!
//! Images come from `$IMAGE_DIR` (default `<workspace>/target/image/x86_64`);
//! missing images fail the tests. Serial logs go to
//! `<workspace>/target/qemu-logs/<test>.log`, the screendump next to them as
//! `.ppm` and `.png`; `VERBOSE=1` echoes the serial console live.
//!
//! Only one QEMU runs at a time from this file (static lock), whatever
//! `--test-threads` says.

use std::time::Duration;

use qemu_tests::interactive::{Image, Session};
use qemu_tests::{Boot, Config};

mod common;
use common::{log_dir, one_qemu, x86_image};

/// Kernel console geometry (kernel/src/fbcon.rs): text starts 8 pixels in,
/// rows are 16 pixels tall.
const MARGIN: usize = 8;
const LINE_HEIGHT: usize = 16;

const BOOT_TIMEOUT: Duration = Duration::from_secs(90);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

const COMMANDS: [&str; 12] = [
    "help",
    "mem",
    "heap",
    "meminfo",
    "buddyinfo",
    "cpus",
    "test",
    "bench",
    "stress",
    "delay",
    "reboot",
    "poweroff",
];

fn config(name: &str, boot: Boot, smp: u32) -> Config {
    let mut cfg = Config::new(x86_image(boot));
    cfg.boot = boot;
    cfg.smp = smp;
    cfg.name = name.into();
    cfg.log_dir = Some(log_dir());
    cfg
}

/// Unwraps a session step; the error already carries the context.
fn ok<T>(r: qemu_tests::interactive::Result<T>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// The boot banner's framebuffer line where the CPU has PAT (QEMU's CPUs
/// do, TCG included): the console's video memory is write-combining
/// through PAT entry 4 (kernel/src/arch/x86_64/pat.rs).
const FBCON_WC: &str = "fbcon: framebuffer write-combining (PAT 4)";

/// Checks the banner `boot` names the framebuffer write-combining.
fn check_fbcon_wc(s: &mut Session, boot: &str) {
    let has = boot.lines().any(|l| l.trim_end() == FBCON_WC);
    let why = || format!("boot banner lacks `{FBCON_WC}`:\n{boot}");
    assert!(s.check("banner: framebuffer write-combining", has, why), "{}", why());
}

fn line_starting<'a>(out: &'a str, prefix: &str) -> Option<&'a str> {
    out.lines().find(|l| l.starts_with(prefix))
}

/// The `Managed:` percentage of `meminfo`: `Managed: N kB  (99.12% of usable RAM, ...)`.
fn managed_percent(meminfo: &str) -> Option<f64> {
    let line = line_starting(meminfo, "Managed:")?;
    let (_, after) = line.split_once('(')?;
    after.split_once('%')?.0.trim().parse().ok()
}

#[test]
fn managed_percent_parses() {
    let out = "UsableRAM: 1 kB\nManaged:     1030000 kB  (99.12% of usable RAM, in the buddy allocator)\n";
    assert_eq!(managed_percent(out), Some(99.12));
    assert_eq!(managed_percent("Managed: 5 kB\n"), None);
}

#[test]
fn shell_over_serial() {
    let _one = one_qemu();
    let mut s = ok(Session::start(&config("shell-serial", Boot::Bios, 2), false));
    let boot = ok(s.wait_prompt(BOOT_TIMEOUT));
    let ok_cpus = boot.contains("smp: 2 of 2 CPUs online");
    let why = || format!("boot banner lacks the CPU count:\n{boot}");
    assert!(s.check("banner: 2 of 2 CPUs", ok_cpus, why), "{}", why());
    check_fbcon_wc(&mut s, &boot);
    println!("prompt after {:.1?}", s.elapsed());

    let help = ok(s.command("help", COMMAND_TIMEOUT));
    for name in COMMANDS {
        let listed = help.lines().any(|l| l.split_whitespace().next() == Some(name));
        let why = || format!("`help` does not list `{name}`:\n{help}");
        assert!(s.check(&format!("help lists `{name}`"), listed, why), "{}", why());
    }

    let meminfo = ok(s.command("meminfo", COMMAND_TIMEOUT));
    for key in ["UsableRAM:", "Free:", "Memmap:"] {
        let has = line_starting(&meminfo, key).is_some();
        let why = || format!("meminfo lacks `{key}`:\n{meminfo}");
        assert!(s.check(&format!("meminfo has `{key}`"), has, why), "{}", why());
    }
    let managed = managed_percent(&meminfo).unwrap_or(-1.0);
    let why =
        || format!("only {managed}% of usable RAM managed (-1: no `Managed:` line):\n{meminfo}");
    assert!(s.check("meminfo: >= 98% managed", managed >= 98.0, why), "{}", why());

    let buddyinfo = ok(s.command("buddyinfo", COMMAND_TIMEOUT));
    let prefix = "Node 0, zone   Normal";
    let line = line_starting(&buddyinfo, prefix)
        .unwrap_or_else(|| panic!("no `{prefix}` line:\n{buddyinfo}"));
    let counts: Vec<u64> = line[prefix.len()..]
        .split_whitespace()
        .map(|n| n.parse().unwrap_or_else(|_| panic!("`{n}` is not a count in `{line}`")))
        .collect();
    let good = counts.len() == 11 && counts.iter().any(|&n| n > 0);
    let why = || format!("want 11 orders (0..=10), some free, in `{line}`");
    assert!(s.check("buddyinfo: 11 orders, free blocks", good, why), "{}", why());

    let cpus = ok(s.command("cpus", COMMAND_TIMEOUT));
    let want = "2 of 2 CPUs online";
    let says = cpus.lines().any(|l| l.trim() == want);
    let why = || format!("`cpus` does not say `{want}`:\n{cpus}");
    assert!(s.check("cpus: 2 of 2 online", says, why), "{}", why());

    let mem = ok(s.command("mem", COMMAND_TIMEOUT));
    let good = mem.lines().any(|l| l.ends_with("MiB usable")) && mem.lines().count() >= 3;
    let why = || format!("mem has no summary line or no regions:\n{mem}");
    assert!(s.check("mem: regions and summary", good, why), "{}", why());

    let unknown = ok(s.command("frobnicate now", COMMAND_TIMEOUT));
    let want = "error: unknown command `frobnicate`; type `help` for the list";
    let why = || format!("unknown command: got {unknown:?}, want {want:?}");
    assert!(s.check("unknown command refused", unknown.trim_end() == want, why), "{}", why());

    let long = "x".repeat(300);
    let answer = ok(s.command(&long, COMMAND_TIMEOUT));
    let want = "error: line longer than 256 characters ignored";
    let why = || format!("over-long line: got {answer:?}, want {want:?}");
    assert!(s.check("over-long line refused", answer.trim_end() == want, why), "{}", why());
    let again = ok(s.command("help", COMMAND_TIMEOUT));
    let why = || format!("`help` after the over-long line:\n{again}");
    assert!(s.check("help after the over-long line", again == help, why), "{}", why());

    // DEL (what terminals send for Backspace) removes the `x`.
    let edited = ok(s.command("helpx\x7f", COMMAND_TIMEOUT));
    let why = || format!("`helpx` + backspace should run `help`:\n{edited}");
    assert!(s.check("backspace edits the line", edited == help, why), "{}", why());

    // ACPI S5: QEMU ends with status 0. The isa-debug-exit fallback would give
    // 33, and a failed ACPI poweroff says so on the console.
    ok(s.send_line("poweroff"));
    ok(s.expect("powering off...", COMMAND_TIMEOUT));
    let status = s.wait_exit(Duration::from_secs(30)).map_err(|e| e.to_string());
    let after = s.transcript().rsplit("powering off...").next().unwrap_or_default().to_string();
    let good = status == Ok(Some(0)) && !after.contains("ACPI poweroff failed");
    let why =
        || format!("ACPI poweroff: QEMU ended {status:?}, want Ok(Some(0)); after it:\n{after}");
    assert!(s.check("ACPI poweroff, exit status 0", good, why), "{}", why());
    println!("shell test done after {:.1?}", s.elapsed());
}

/// What the screen check found.
#[derive(Debug)]
struct ScreenReport {
    /// Text rows with something drawn, down to the prompt.
    text_rows: usize,
    /// Text rows with bright green pixels (`ok` lines and `PASS`).
    green_rows: usize,
    /// Share of lit pixels in the text area.
    lit_share: f64,
}

impl std::fmt::Display for ScreenReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} text rows, {} of them green, text area {:.1}% lit",
            self.text_rows,
            self.green_rows,
            self.lit_share * 100.0
        )
    }
}

/// Checks a screendump of the console after `test` printed `PASS` and the
/// shell printed its prompt: text is there, the last line is the (white)
/// prompt, the line above it is the green `PASS`, and nothing is red.
fn check_pass_screen(img: &Image) -> Result<ScreenReport, String> {
    let rows = img.text_rows(MARGIN, LINE_HEIGHT);
    let red: usize = rows.iter().map(|r| r.red).sum();
    if red > 0 {
        let at: Vec<usize> = (0..rows.len()).filter(|&i| rows[i].red > 0).collect();
        return Err(format!("{red} red pixels (text rows {at:?}): a failure is on screen"));
    }
    let Some(prompt) = rows.iter().rposition(|r| r.lit > 0) else {
        return Err("the screen is blank".into());
    };
    let text_rows = rows[..=prompt].iter().filter(|r| r.lit > 0).count();
    if text_rows < 8 {
        return Err(format!("only {text_rows} text rows on screen"));
    }
    // Share of lit pixels in the text area (rows up to the prompt, columns up
    // to the longest line): text covers 10-20 %, noise or a blank screen ~0.
    let right = rows[..=prompt].iter().map(|r| r.right).max().unwrap_or(0);
    let lit: usize = rows[..=prompt].iter().map(|r| r.lit).sum();
    let lit_share = lit as f64 / ((prompt + 1) * LINE_HEIGHT * right) as f64;
    if lit_share < 0.03 {
        return Err(format!("text area only {:.1}% lit", lit_share * 100.0));
    }
    let p = rows[prompt];
    if p.white < 20 || p.green > 0 {
        return Err(format!("last text row {prompt} is not the white prompt: {p:?}"));
    }
    let pass = rows.get(prompt.wrapping_sub(1)).copied().unwrap_or_default();
    if pass.green < 30 || pass.white > 0 {
        return Err(format!(
            "row {} above the prompt is not a green PASS line: {pass:?}",
            prompt - 1
        ));
    }
    let green_rows = rows.iter().filter(|r| r.green > 0).count();
    Ok(ScreenReport { text_rows, green_rows, lit_share })
}

/// Draws a dotted bar of `colour` in text row `row` (a stand-in for a line
/// of text); black clears the whole row.
fn draw_row(img: &mut Image, row: usize, width: usize, colour: (u8, u8, u8)) {
    let y0 = MARGIN + row * LINE_HEIGHT;
    let (ys, step) =
        if colour == (0, 0, 0) { (y0..y0 + LINE_HEIGHT, 1) } else { (y0 + 3..y0 + 12, 2) };
    for y in ys {
        for x in (MARGIN..MARGIN + width).step_by(step) {
            img.set_pixel(x, y, colour);
        }
    }
}

/// A synthetic "good" screen: 10 white lines, a green one, the white prompt.
fn synthetic_screen() -> Image {
    let mut img = Image::blank(640, 400);
    for row in 0..10 {
        draw_row(&mut img, row, 300, (0xdd, 0xdd, 0xdd));
    }
    draw_row(&mut img, 10, 40, (0x40, 0xe0, 0x40));
    draw_row(&mut img, 11, 60, (0xdd, 0xdd, 0xdd));
    img
}

#[test]
fn screen_check_accepts_a_pass_screen() {
    check_pass_screen(&synthetic_screen()).expect("synthetic pass screen");
}

#[test]
fn screen_check_rejects_bad_screens() {
    let blank = Image::blank(640, 400);
    assert_eq!(check_pass_screen(&blank).unwrap_err(), "the screen is blank");

    let mut red = synthetic_screen();
    draw_row(&mut red, 4, 50, (0xff, 0x50, 0x50));
    assert!(check_pass_screen(&red).unwrap_err().contains("red pixels"));

    // The line above the prompt is white, not the green PASS.
    let mut no_pass = synthetic_screen();
    draw_row(&mut no_pass, 12, 60, (0xdd, 0xdd, 0xdd));
    assert!(check_pass_screen(&no_pass).unwrap_err().contains("not a green PASS"));

    let mut few = Image::blank(640, 400);
    draw_row(&mut few, 0, 40, (0x40, 0xe0, 0x40));
    draw_row(&mut few, 1, 60, (0xdd, 0xdd, 0xdd));
    assert!(check_pass_screen(&few).unwrap_err().contains("only 2 text rows"));
}

#[test]
fn screen_after_keyboard_test_command() {
    let _one = one_qemu();
    let name = "shell-screen";
    let mut s = ok(Session::start(&config(name, Boot::Uefi, 2), true));
    let boot = ok(s.wait_prompt(BOOT_TIMEOUT));
    check_fbcon_wc(&mut s, &boot);
    // `screen: 1280x800 framebuffer, 158x49 text console`
    let geometry = boot
        .lines()
        .find_map(|l| l.strip_prefix("screen: ")?.split_once(' ')?.0.split_once('x'))
        .map(|(w, h)| (w.parse::<usize>().unwrap_or(0), h.parse::<usize>().unwrap_or(0)))
        .unwrap_or_else(|| panic!("no `screen: WxH framebuffer` line in the banner:\n{boot}"));
    println!("prompt after {:.1?}, framebuffer {}x{}", s.elapsed(), geometry.0, geometry.1);

    // Typed on the PS/2 keyboard; each key waits for its echo on serial.
    ok(s.type_keys("test smp\n", Duration::from_secs(10)));
    let (which, out) = ok(s.expect_any(&["\nPASS\n", "\nFAIL\n"], Duration::from_secs(180)));
    let oks = out.lines().filter(|l| l.trim_start().starts_with("ok ")).count();
    let why = || format!("`test smp` typed on the keyboard: want PASS and `ok` lines:\n{out}");
    assert!(s.check("`test smp` passed", which == 0 && oks >= 2, why), "{}", why());
    ok(s.wait_prompt(COMMAND_TIMEOUT));
    // Serial gets each string before the screen: give the console a moment.
    std::thread::sleep(Duration::from_secs(1));

    let ppm = log_dir().join(format!("{name}.ppm"));
    let img = ok(s.screendump(&ppm));
    std::fs::write(log_dir().join(format!("{name}.png")), img.to_png()).expect("write PNG");
    println!("screendump: {} ({}x{}, also .png)", ppm.display(), img.width, img.height);
    let size = (img.width, img.height);
    let why = || format!("screendump size {size:?} vs the kernel's framebuffer {geometry:?}");
    assert!(s.check("screen size = framebuffer", size == geometry, why), "{}", why());
    let checked = check_pass_screen(&img);
    let why = || format!("screen check failed: {checked:?}\nscreendump: {}", ppm.display());
    assert!(s.check("screen shows PASS", checked.is_ok(), why), "{}", why());
    let report = checked.unwrap();
    println!("screen: {report}");
    // Everything since boot fits on the screen (nothing scrolled off), so
    // each `ok` line and `PASS` is one green row.
    let rows = report.green_rows == oks + 1;
    let why = || format!("green rows vs {oks} `ok` lines + PASS: {report}");
    assert!(s.check("one green row per `ok` line", rows, why), "{}", why());

    // The check must reject this very screen with the PASS line erased, or
    // with a red line drawn in.
    let pass_row = img.text_rows(MARGIN, LINE_HEIGHT).iter().rposition(|r| r.green > 0).unwrap();
    let mut erased = img.clone();
    draw_row(&mut erased, pass_row, img.width - 2 * MARGIN, (0, 0, 0));
    let err = check_pass_screen(&erased).expect_err("screen without its PASS line accepted");
    assert!(err.contains("not a green PASS"), "{err}");
    let mut red = img.clone();
    draw_row(&mut red, 2, 80, (0xff, 0x50, 0x50));
    let err = check_pass_screen(&red).expect_err("screen with a red line accepted");
    assert!(err.contains("red pixels"), "{err}");

    ok(s.send_line("poweroff"));
    let status = s.wait_exit(Duration::from_secs(30)).map_err(|e| e.to_string());
    let why = || format!("poweroff under UEFI: QEMU ended {status:?}, want Ok(Some(0))");
    assert!(s.check("poweroff, exit status 0", status == Ok(Some(0)), why), "{}", why());
    println!("screen test done after {:.1?}", s.elapsed());
}

//! USB in QEMU, standing in for a PC booted from a stick with a USB keyboard:
//!
//! - `uefi_boot_from_usb_stick`: the UEFI image attached ONLY as USB mass
//!   storage on an xHCI controller (no IDE or virtio disk) boots through
//!   OVMF into a short ktest run that passes; the kernel's xHCI driver sees
//!   the stick's controller and must leave it alone (no hang, no fault).
//! - `shell_through_usb_keyboard`: no PS/2 controller (`q35,i8042=off`), an
//!   xHCI controller with a `usb-kbd` (plus a `usb-storage` the driver must
//!   skip); the shell is driven with QEMU `sendkey` only, checked on the
//!   serial console and on a screendump of the framebuffer console.
//! - `keyboard_behind_one_hub`, `keyboard_behind_two_hubs`,
//!   `keyboard_behind_five_hubs`: the same without the stick and the screen
//!   check, the `usb-kbd` behind QEMU's `usb-hub` (a full-speed hub with 8
//!   ports) on QEMU port 1: on its port 1; behind a second hub on that
//!   port; behind five hubs in a row, the most USB allows (a route string
//!   of five tiers).
//!
//! Images come from `$IMAGE_DIR` (default `<workspace>/target/image/x86_64`);
//! serial logs land in `<workspace>/target/qemu-logs/usb-*.log`, the
//! screendump beside them. One QEMU at a time from this file.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use qemu_tests::interactive::{Image, Session};
use qemu_tests::{Boot, Config};

mod common;
use common::{log_dir, one_qemu, x86_image};

/// Kernel console geometry (kernel/src/fbcon.rs): text starts 8 pixels in,
/// rows are 16 pixels tall.
const MARGIN: usize = 8;
const LINE_HEIGHT: usize = 16;

fn image(boot: Boot) -> PathBuf {
    x86_image(boot)
}

fn config(name: &str, boot: Boot, smp: u32) -> Config {
    let mut cfg = Config::new(image(boot));
    cfg.boot = boot;
    cfg.smp = smp;
    cfg.memory = "512M".into();
    cfg.name = name.into();
    cfg.log_dir = Some(log_dir());
    cfg
}

fn ok<T>(r: qemu_tests::interactive::Result<T>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// With `usb_disk` the image is on a USB stick and nowhere else: no plain
/// `-drive` (IDE) and no virtio disk on the command line.
#[test]
fn usb_disk_command_line_has_no_other_disk() {
    let mut cfg = Config::new("/img/uefi.img");
    cfg.boot = Boot::Uefi;
    cfg.usb_disk = true;
    let args = cfg.args().unwrap();
    let drives: Vec<&String> = args
        .iter()
        .zip(args.iter().skip(1))
        .filter(|(a, _)| *a == "-drive")
        .map(|(_, v)| v)
        .collect();
    let with_image: Vec<&&String> = drives.iter().filter(|d| d.contains("/img/uefi.img")).collect();
    assert_eq!(with_image.len(), 1, "image attached once: {drives:?}");
    assert!(with_image[0].starts_with("if=none,"), "image drive is not if=none: {drives:?}");
    assert!(args.iter().any(|a| a.starts_with("usb-storage,")), "no usb-storage: {args:?}");
    assert!(args.iter().any(|a| a.starts_with("qemu-xhci")), "no xHCI controller: {args:?}");
    assert!(!args.iter().any(|a| a.contains("virtio")), "virtio device present: {args:?}");
    assert!(
        drives.iter().all(|d| d.starts_with("if=none,") || d.starts_with("if=pflash,")),
        "a drive other than the stick and the firmware: {drives:?}"
    );
}

#[test]
fn uefi_boot_from_usb_stick() {
    let _one = one_qemu();
    let mut cfg = config("usb-stick-uefi", Boot::Uefi, 2);
    cfg.usb_disk = true;
    cfg.cmdline = "ktest ktest.filter=console,heap".into();
    cfg.timeout = Duration::from_secs(180);
    let (run, verdict) = qemu_tests::boot(&cfg).expect("cannot run QEMU");
    println!("{}{} after {:.1?}", verdict.render(), run.ending, run.elapsed);
    assert!(verdict.is_pass(), "boot from the USB stick failed:\n{}", verdict.render());
    assert!(verdict.cases.len() >= 2, "only {} KTAP cases", verdict.cases.len());
    // OVMF names the boot device it started: the USB disk.
    let started = run.lines.iter().find(|l| l.contains("BdsDxe: starting"));
    assert!(
        started.is_some_and(|l| l.contains("USB")),
        "firmware did not start a USB boot device: {started:?}"
    );
    // The kernel's driver reached the stick's controller (its BAR lies above
    // the bootloader's window under OVMF, so only the uncacheable MMIO
    // mapping reaches it), enumerated the stick and left it alone, without
    // disturbing the run.
    let usb: Vec<&String> = run.lines.iter().filter(|l| l.starts_with("usb: xhci")).collect();
    assert!(!usb.is_empty(), "the kernel did not report the xHCI controller");
    assert!(
        usb.iter().any(|l| l.contains("not a keyboard, left alone")),
        "the kernel did not enumerate the stick and leave it alone: {usb:?}"
    );
    println!("kernel: {usb:?}");
}

/// Text rows of the screen: the last lit row must be the white prompt and
/// the one above it the green `PASS` of the `test` command, with no red.
fn check_pass_screen(img: &Image) -> Result<(), String> {
    let rows = img.text_rows(MARGIN, LINE_HEIGHT);
    if rows.iter().any(|r| r.red > 0) {
        return Err("red pixels: a failure is on screen".into());
    }
    let prompt = rows.iter().rposition(|r| r.lit > 0).ok_or("the screen is blank")?;
    let p = rows[prompt];
    if p.white < 20 || p.green > 0 {
        return Err(format!("last text row {prompt} is not the white prompt: {p:?}"));
    }
    let pass = rows.get(prompt.wrapping_sub(1)).copied().unwrap_or_default();
    if pass.green < 30 || pass.white > 0 {
        return Err(format!("row above the prompt is not a green PASS line: {pass:?}"));
    }
    Ok(())
}

#[test]
fn shell_through_usb_keyboard() {
    let _one = one_qemu();
    let name = "usb-keyboard";
    let mut cfg = config(name, Boot::Bios, 1);
    let stick = image(Boot::Bios).display().to_string().replace(',', ",,");
    for a in [
        "-machine",
        "q35,i8042=off",
        "-device",
        "qemu-xhci,id=kbdxhci",
        "-device",
        "usb-kbd,bus=kbdxhci.0",
        // A device the driver must enumerate and leave alone.
        "-drive",
        &format!("if=none,id=other,format=raw,file={stick},snapshot=on"),
        "-device",
        "usb-storage,bus=kbdxhci.0,drive=other",
    ] {
        cfg.extra_args.push(a.to_string());
    }
    let mut s = ok(Session::start(&cfg, true));
    let boot = ok(s.wait_prompt(Duration::from_secs(90)));
    println!("prompt after {:.1?}", s.elapsed());
    let usb: Vec<&str> = boot.lines().filter(|l| l.starts_with("usb: ")).collect();
    println!("kernel: {usb:#?}");
    let found = usb.iter().any(|l| l.contains(": keyboard ") && l.contains("HID boot protocol"));
    let why = || format!("no USB keyboard found at boot:\n{boot}");
    assert!(s.check("USB keyboard found", found, why), "{}", why());
    let skipped = usb.iter().any(|l| l.contains("not a keyboard, left alone"));
    let why = || format!("the USB storage device was not enumerated and skipped:\n{boot}");
    assert!(s.check("USB storage left alone", skipped, why), "{}", why());

    // Every key goes through the USB keyboard only (no PS/2, nothing on the
    // serial input); each waits for its echo on serial. Shift, then a typo
    // erased with Backspace.
    let start = Instant::now();
    ok(s.type_keys("Helpx\x08\n", Duration::from_secs(10)));
    ok(s.expect("error: unknown command `Help`", Duration::from_secs(10)));
    ok(s.wait_prompt(Duration::from_secs(10)));
    type_test_console(&mut s);
    println!("typed and ran in {:.1?}", start.elapsed());
    // Serial gets each string before the screen: give the console a moment.
    std::thread::sleep(Duration::from_secs(1));

    let ppm = log_dir().join(format!("{name}.ppm"));
    let img = ok(s.screendump(&ppm));
    std::fs::write(log_dir().join(format!("{name}.png")), img.to_png()).expect("write PNG");
    println!("screendump: {} ({}x{})", ppm.display(), img.width, img.height);
    let checked = check_pass_screen(&img);
    let why = || format!("screen check failed: {checked:?}\nscreendump: {}", ppm.display());
    assert!(s.check("screen shows PASS", checked.is_ok(), why), "{}", why());

    type_poweroff(&mut s);
    println!("USB keyboard test done after {:.1?}", s.elapsed());
}

/// Types `test console` on the USB keyboard (a typo erased with Backspace)
/// and requires PASS with the suite's `ok` line, then the prompt.
fn type_test_console(s: &mut Session) {
    ok(s.type_keys("test consolx\x08e\n", Duration::from_secs(10)));
    let (which, out) = ok(s.expect_any(&["\nPASS\n", "\nFAIL\n"], Duration::from_secs(120)));
    let passed = which == 0 && out.contains("ok 1 console");
    let why =
        || format!("`test console` typed on the USB keyboard: want PASS, `ok 1 console`:\n{out}");
    assert!(s.check("`test console` passed", passed, why), "{}", why());
    ok(s.wait_prompt(Duration::from_secs(10)));
}

/// Types `poweroff` on the USB keyboard and requires QEMU to end with 0.
fn type_poweroff(s: &mut Session) {
    ok(s.type_keys("poweroff\n", Duration::from_secs(10)));
    let status = s.wait_exit(Duration::from_secs(30)).map_err(|e| e.to_string());
    let why = || format!("poweroff typed on USB: QEMU ended {status:?}, want Ok(Some(0))");
    assert!(s.check("poweroff, exit status 0", status == Ok(Some(0)), why), "{}", why());
}

/// Boots with `devices` (after the xHCI controller `xhci`), checks the boot
/// lines report `hubs` hubs and a keyboard, types `test console` on the
/// USB keyboard and powers off with it.
fn type_behind_hubs(name: &str, devices: &[&str], hubs: usize) {
    let _one = one_qemu();
    let mut cfg = config(name, Boot::Bios, 1);
    for a in ["-machine", "q35,i8042=off", "-device", "qemu-xhci,id=xhci"] {
        cfg.extra_args.push(a.to_string());
    }
    for d in devices {
        cfg.extra_args.push("-device".into());
        cfg.extra_args.push((*d).into());
    }
    let mut s = ok(Session::start(&cfg, true));
    let boot = ok(s.wait_prompt(Duration::from_secs(90)));
    println!("prompt after {:.1?}", s.elapsed());
    let usb: Vec<&str> = boot.lines().filter(|l| l.starts_with("usb: ")).collect();
    println!("kernel: {usb:#?}");
    let found_hubs = usb.iter().filter(|l| l.contains(": hub ")).count();
    let why = || format!("want {hubs} hub line(s), got {found_hubs}:\n{boot}");
    assert!(s.check("hubs found", found_hubs == hubs, why), "{}", why());
    let found = usb.iter().any(|l| l.contains(": keyboard ") && l.contains("HID boot protocol"));
    let why = || format!("no USB keyboard found behind the hub(s) at boot:\n{boot}");
    assert!(s.check("USB keyboard found", found, why), "{}", why());

    // Every key goes through the USB keyboard behind the hub(s) only; a typo
    // erased with Backspace.
    type_test_console(&mut s);

    type_poweroff(&mut s);
    println!("{name} done after {:.1?}", s.elapsed());
}

#[test]
fn keyboard_behind_one_hub() {
    type_behind_hubs(
        "usb-hub1",
        &["usb-hub,bus=xhci.0,port=1,id=hub1", "usb-kbd,bus=xhci.0,port=1.1"],
        1,
    );
}

#[test]
fn keyboard_behind_two_hubs() {
    type_behind_hubs(
        "usb-hub2",
        &[
            "usb-hub,bus=xhci.0,port=1,id=hub1",
            "usb-hub,bus=xhci.0,port=1.1,id=hub2",
            "usb-kbd,bus=xhci.0,port=1.1.1",
        ],
        2,
    );
}

#[test]
fn keyboard_behind_five_hubs() {
    type_behind_hubs(
        "usb-hub5",
        &[
            "usb-hub,bus=xhci.0,port=1",
            "usb-hub,bus=xhci.0,port=1.2",
            "usb-hub,bus=xhci.0,port=1.2.1",
            "usb-hub,bus=xhci.0,port=1.2.1.8",
            "usb-hub,bus=xhci.0,port=1.2.1.8.1",
            "usb-kbd,bus=xhci.0,port=1.2.1.8.1.3",
        ],
        5,
    );
}

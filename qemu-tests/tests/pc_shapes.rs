//! PC shapes QEMU's default machine hides: real PCs often have no serial
//! port and no 8254 PIT. Each boot here reproduces one such machine and ends
//! as a user expects (docs/hardware.md, "Machine shapes"):
//!
//! - `-serial none`: nothing at I/O port 0x3F8 (most laptops). `ktest` must
//!   finish (judged by QEMU's exit status: there is no serial output), the
//!   unattended verdict must be on the screen (screendump), and the shell
//!   must answer the PS/2 keyboard and a USB keyboard (typing `poweroff`
//!   must power the machine off).
//! - `pit=off`: no 8254. The TSC must still be calibrated right: the shell's
//!   `delay 1000` must last about a second of host time between its two
//!   lines.
//! - firmware shapes the bootloader itself failed on before the kernel ran
//!   (the fixes are patches of the vendored bootloader, vendor/README.md):
//!   a CPU without NX ("Execute Disable" off: `-cpu qemu64,-nx`) on BIOS and
//!   UEFI must pass `ktest`; a UEFI GOP with no linear framebuffer
//!   (virtio-gpu) must reach the shell on serial; a BIOS VGA with 2 MiB of
//!   video memory must reach the shell with a framebuffer console; a BIOS
//!   PC with no graphics adapter at all must reach the shell on serial.
//!
//! Images: `$IMAGE_DIR` (default `target/image/x86_64`), built by `make
//! image`. Logs and screendumps: `target/qemu-logs/pc-*`.

use std::time::{Duration, Instant};

use qemu_tests::interactive::{Session, key_name};
use qemu_tests::{Arch, Boot, Config, Serial};

mod common;
use common::{log_dir, one_qemu, x86_image};

fn config(name: &str, boot: Boot, cmdline: &str, machine: &str) -> Config {
    let mut cfg = Config::new(x86_image(boot));
    cfg.boot = boot;
    cfg.smp = 2;
    cfg.name = format!("pc-{name}");
    cfg.log_dir = Some(log_dir());
    cfg.cmdline = cmdline.into();
    cfg.extra_args = vec!["-M".into(), machine.into()];
    cfg
}

fn ok<T>(r: qemu_tests::interactive::Result<T>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

/// `ktest` on a q35 PC without a serial port: before the UART was probed,
/// the console test's drain loop read 0xFF bytes for ever (it hung here).
fn ktest_without_serial(boot: Boot) {
    let _one = one_qemu();
    let mut cfg = config(&format!("no-serial-ktest-{boot}"), boot, "ktest", "q35");
    cfg.serial = Serial::None;
    let mut s = ok(Session::start(&cfg, false));
    let status = s.wait_exit(Duration::from_secs(300)).map_err(|e| e.to_string());
    let want = Arch::X86_64.success_status();
    let why = || format!("ktest with -serial none: QEMU ended {status:?}, want Ok(Some({want}))");
    assert!(s.check("ktest passes, exit status", status == Ok(Some(want)), why), "{}", why());
}

#[test]
fn no_serial_ktest_bios() {
    ktest_without_serial(Boot::Bios);
}

#[test]
fn no_serial_ktest_uefi() {
    ktest_without_serial(Boot::Uefi);
}

/// Types `text` key by key on the emulated keyboard (no serial echo to wait
/// for: a short pause per key instead).
fn type_blind(s: &mut Session, text: &str) {
    for c in text.chars() {
        let key = key_name(c).unwrap_or_else(|| panic!("no key for {c:?}"));
        ok(s.sendkey(&key));
        std::thread::sleep(Duration::from_millis(60));
    }
}

/// The shell with no serial port reads the keyboard: `poweroff` typed on it
/// ends QEMU with status 0. Typed again every 15 s until then, with Enter
/// first, since keys pressed before the shell polls are lost.
fn shell_answers_keyboard(name: &str, boot: Boot, machine: &str, devices: &[&str]) {
    let _one = one_qemu();
    let mut cfg = config(name, boot, "", machine);
    cfg.serial = Serial::None;
    cfg.extra_args.extend(devices.iter().map(|d| d.to_string()));
    let mut s = ok(Session::start(&cfg, true));
    let start = Instant::now();
    let mut status = Err(String::new());
    for _ in 0..8 {
        std::thread::sleep(Duration::from_secs(15));
        type_blind(&mut s, "\npoweroff\n");
        status = s.wait_exit(Duration::from_secs(8)).map_err(|e| e.to_string());
        if status.is_ok() {
            break;
        }
    }
    println!("{name}: QEMU ended {status:?} after {:.1?}", start.elapsed());
    let why =
        || format!("`poweroff` typed with no serial port: QEMU ended {status:?}, want Ok(Some(0))");
    assert!(s.check("poweroff typed on the keyboard", status == Ok(Some(0)), why), "{}", why());
}

#[test]
fn no_serial_shell_answers_ps2_keyboard() {
    shell_answers_keyboard("no-serial-ps2", Boot::Bios, "q35", &[]);
}

#[test]
fn no_serial_shell_answers_usb_keyboard() {
    // No PS/2 controller: the only keyboard is on xHCI.
    let usb = ["-device", "qemu-xhci,id=xhci", "-device", "usb-kbd,bus=xhci.0"];
    shell_answers_keyboard("no-serial-usb", Boot::Uefi, "q35,i8042=off", &usb);
}

/// Share of the screen in the unattended verdict's green (kernel/src/fbcon.rs).
fn green_share(img: &qemu_tests::interactive::Image) -> f64 {
    img.count_colour((0x40, 0xe0, 0x40)) as f64 / (img.width * img.height) as f64
}

/// The unattended mode on a PC without a serial port: the verdict is on
/// the screen (its only output).
#[test]
fn no_serial_unattended_shows_pass() {
    let _one = one_qemu();
    let mut cfg = config(
        "no-serial-unattended",
        Boot::Uefi,
        "unattended ktest.filter=heap stress.secs=2",
        "q35",
    );
    cfg.serial = Serial::None;
    let mut s = ok(Session::start(&cfg, true));
    let ppm = log_dir().join("pc-no-serial-unattended.ppm");
    let start = Instant::now();
    let mut share = 0.0;
    while start.elapsed() < Duration::from_secs(150) {
        std::thread::sleep(Duration::from_secs(5));
        share = green_share(&ok(s.screendump(&ppm)));
        if share > 0.05 {
            break;
        }
    }
    println!(
        "screendump {}: {:.1}% green after {:.1?}",
        ppm.display(),
        share * 100.0,
        start.elapsed()
    );
    let why = || format!("no green PASS box on screen ({:.2}%): {}", share * 100.0, ppm.display());
    assert!(s.check("PASS box on the screen", share > 0.05, why), "{}", why());
}

/// No 8254: the TSC is calibrated from the ACPI PM timer, and a 1 s delay
/// in the kernel lasts 0.7-1.5 s of host time. (Before, the calibration saw
/// the PIT's output bit "set" at once, stored 1 tick per microsecond and
/// every delay was thousands of times too short.)
#[test]
fn no_pit_delays_are_right() {
    let _one = one_qemu();
    let cfg = config("no-pit", Boot::Bios, "", "q35,pit=off");
    let mut s = ok(Session::start(&cfg, false));
    let boot = ok(s.wait_prompt(Duration::from_secs(90)));
    let source = boot.lines().find(|l| l.starts_with("tsc: ")).unwrap_or("").to_string();
    println!("{source}");
    let why = || format!("no `tsc: ... from the ACPI PM timer` line:\n{boot}");
    assert!(
        s.check("calibrated by the PM timer", source.contains("ACPI PM timer"), why),
        "{}",
        why()
    );
    ok(s.send_line("delay 1000"));
    ok(s.expect("delay: start", Duration::from_secs(10)));
    let t0 = Instant::now();
    ok(s.expect("delay: done", Duration::from_secs(60)));
    let took = t0.elapsed();
    println!("delay 1000 took {took:.3?} of host time");
    let fits = (0.7..=1.5).contains(&took.as_secs_f64());
    let why = || format!("`delay 1000` took {took:.3?} of host time, want 0.7-1.5 s");
    assert!(s.check("1 s delay lasts 0.7-1.5 s", fits, why), "{}", why());
}

/// A PC whose only USB controller is EHCI (not driven): the keyboard on it
/// cannot work, and the boot says so and what to do, instead of nothing.
#[test]
fn ehci_only_controller_is_named() {
    let _one = one_qemu();
    let mut cfg = config("ehci-only", Boot::Bios, "", "q35");
    cfg.extra_args
        .extend(["-device", "usb-ehci,id=ehci", "-device", "usb-kbd,bus=ehci.0"].map(String::from));
    let mut s = ok(Session::start(&cfg, false));
    let boot = ok(s.wait_prompt(Duration::from_secs(90)));
    let line =
        boot.lines().find(|l| l.contains("EHCI (USB 2.0) controller, not driven")).unwrap_or("");
    println!("{line}");
    let why = || format!("no line naming the EHCI controller and what to do:\n{boot}");
    assert!(s.check("EHCI controller named", line.contains("PS/2 keyboard"), why), "{}", why());
}

/// "Execute Disable" off in the firmware: CPUID has no NX bit, so EFER.NXE
/// cannot be set and a page-table entry with bit 63 set is a reserved-bit
/// fault. bootloader 0.11.17 set both anyway: QEMU ended with status 0 (the
/// triple fault's reset under `-no-reboot`) and not a byte on serial, on
/// BIOS and UEFI alike. The full `ktest` also checks the kernel's own page
/// tables (it sets NX only when EFER.NXE is on).
fn ktest_without_nx(boot: Boot) {
    let _one = one_qemu();
    let mut cfg = config(&format!("no-nx-ktest-{boot}"), boot, "ktest", "q35");
    cfg.cpu = Some("qemu64,-nx".into());
    let mut s = ok(Session::start(&cfg, false));
    let status = s.wait_exit(Duration::from_secs(300)).map_err(|e| e.to_string());
    let want = Arch::X86_64.success_status();
    let why = || format!("ktest on a CPU without NX: QEMU ended {status:?}, want Ok(Some({want}))");
    assert!(s.check("ktest passes, exit status", status == Ok(Some(want)), why), "{}", why());
}

#[test]
fn no_nx_ktest_bios() {
    ktest_without_nx(Boot::Bios);
}

#[test]
fn no_nx_ktest_uefi() {
    ktest_without_nx(Boot::Uefi);
}

/// Boots to the shell prompt over serial and returns the `screen:` line of
/// the banner, if any.
fn boot_screen_line(name: &str, boot: Boot, devices: &[&str]) -> Option<String> {
    let _one = one_qemu();
    let mut cfg = config(name, boot, "", "q35");
    cfg.extra_args.extend(devices.iter().map(|d| d.to_string()));
    let mut s = ok(Session::start(&cfg, false));
    let text = ok(s.wait_prompt(Duration::from_secs(120)));
    let line = text.lines().find(|l| l.starts_with("screen: ")).map(str::to_string);
    println!("{name}: {line:?}");
    line
}

/// A UEFI GOP that only offers Blt, no linear framebuffer (OVMF's virtio-gpu
/// driver). bootloader 0.11.17 panicked "Cannot access the framebuffer in a
/// Blt-only mode" (in the uefi crate's `GraphicsOutput::frame_buffer`) and
/// the boot stopped there; now the kernel gets no framebuffer and runs on
/// the serial console alone.
#[test]
fn uefi_blt_only_gop_boots_on_serial() {
    let devices = ["-vga", "none", "-device", "virtio-gpu-pci"];
    let line = boot_screen_line("blt-only-gop", Boot::Uefi, &devices);
    assert_eq!(line, None, "a framebuffer console on a Blt-only GOP");
}

/// A VGA with 2 MiB of video memory: the largest VESA modes that fit are
/// 8-bit palette ones. bootloader 0.11.17 picked one, passed its pixel
/// format on as `Unknown { 0, 0, 0 }`, and its stage 3 panicked "not
/// supported in logger" (on the screen only; the machine hung). Now only
/// modes it can describe are chosen, and the kernel's console is on one.
#[test]
fn bios_2mib_vga_boots_with_screen() {
    let devices = ["-vga", "none", "-device", "VGA,vgamem_mb=2"];
    let line = boot_screen_line("vga-2mib", Boot::Bios, &devices);
    assert!(line.is_some(), "no `screen:` line: no framebuffer console on a 2 MiB VGA");
}

/// A BIOS PC with no graphics adapter (`-vga none`: a headless server).
/// bootloader 0.11.17's stage 2 unwrapped the failed VESA query (or, with
/// VESA, panicked when no mode suited it) before anything reached serial:
/// the boot timed out with no output. Now it stays in text mode and the
/// kernel gets no framebuffer and runs on serial.
#[test]
fn bios_without_vga_boots_on_serial() {
    let line = boot_screen_line("bios-no-vga", Boot::Bios, &["-vga", "none"]);
    assert_eq!(line, None, "a framebuffer console without a graphics adapter");
}

//! Command-line construction tests (no QEMU needed).

use super::*;

fn cfg(cmdline: &str, boot: Boot) -> Config {
    let mut c = Config::new("/img/bios.img");
    c.kvm = false;
    c.cmdline = cmdline.into();
    c.boot = boot;
    c
}

#[test]
fn x86_64_bios_command() {
    let c = cfg("ktest", Boot::Bios);
    assert_eq!(c.name, "bios");
    assert_eq!(
        c.command_line().unwrap(),
        "qemu-system-x86_64 -accel tcg,thread=multi -drive format=raw,file=/img/bios.img,snapshot=on \
         -serial stdio -display none -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
         -smp 4 -m 1G -monitor none -fw_cfg name=opt/cmdline,string=ktest"
    );
}

#[test]
fn uefi_kvm_commas_and_empty_cmdline() {
    let mut c = cfg("a=1,2", Boot::Uefi);
    c.kvm = true;
    let args = c.args().unwrap();
    if Arch::X86_64.is_host() {
        assert_eq!(args[..4], ["-accel", "kvm", "-cpu", "host"]);
    } else {
        assert_eq!(args[..2], ["-accel", "tcg,thread=multi"]);
    }
    assert!(args.contains(&"name=opt/cmdline,string=a=1,,2".to_string()));
    assert!(args.contains(&format!("if=pflash,format=raw,snapshot=on,file={OVMF_VARS}")));
    let c = cfg("", Boot::Bios);
    assert!(!c.args().unwrap().contains(&"-fw_cfg".to_string()));
    let mut c = cfg("ktest it's", Boot::Bios);
    c.image = "/a b/x.img".into();
    let line = c.command_line().unwrap();
    assert!(line.contains(" 'format=raw,file=/a b/x.img,snapshot=on' "), "{line}");
    assert!(line.ends_with(r"'name=opt/cmdline,string=ktest it'\''s'"), "{line}");
}

#[test]
fn aarch64_stub_command() {
    let mut c = cfg("ktest", Boot::Bios);
    c.arch = Arch::Aarch64;
    let line = c.command_line().unwrap();
    assert!(line.starts_with("qemu-system-aarch64 -accel tcg,thread=multi -M virt -cpu max -kernel /img/bios.img -semihosting"));
    assert!(line.ends_with("-append ktest"));
    c.boot = Boot::Uefi;
    assert!(c.args().is_err());
}

#[test]
fn raspi4b_command() {
    let mut c = Config::raspi4b("/img/Image", "/d/pi4.dtb", PiUart::Mini);
    c.kvm = false;
    c.cmdline = "ktest".into();
    assert_eq!(
        c.command_line().unwrap(),
        "qemu-system-aarch64 -accel tcg,thread=multi -M raspi4b -kernel /img/Image -dtb /d/pi4.dtb \
         -semihosting -serial null -serial stdio -display none -no-reboot -smp 4 -m 2G -monitor none \
         -append ktest"
    );
    // The PL011 console is the first port; an explicit CPU model is passed on.
    c.a64_machine = A64Machine::Raspi4b { dtb: "/d/pi4.dtb".into(), console: PiUart::Pl011 };
    c.cpu = Some("cortex-a72".into());
    let line = c.command_line().unwrap();
    assert!(line.contains("-M raspi4b -cpu cortex-a72 -kernel"), "{line}");
    assert!(line.contains("-semihosting -serial stdio -display"), "{line}");
}

/// `make run` / `make debug` (`qemu-runner --interactive`): the knobs of the
/// Makefile as the launcher turns them into QEMU's command line.
fn make_run(image: &str, boot: Boot, cmdline: &str) -> Config {
    let mut c = Config::new(image);
    c.kvm = false;
    c.boot = boot;
    c.cmdline = cmdline.into();
    c.serial = Serial::Terminal;
    c
}

fn count(args: &[String], word: &str) -> usize {
    args.iter().filter(|a| *a == word).count()
}

#[test]
fn make_run_bios() {
    let c = make_run("target/image/x86_64/bios.img", Boot::Bios, "");
    let args = c.args().unwrap();
    assert_eq!(count(&args, "-drive"), 1, "{args:?}");
    assert_eq!(
        c.command_line().unwrap(),
        "qemu-system-x86_64 -accel tcg,thread=multi \
         -drive format=raw,file=target/image/x86_64/bios.img,snapshot=on \
         -serial mon:stdio -display none -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
         -smp 4 -m 1G"
    );
}

#[test]
fn make_run_uefi_with_cmdline() {
    let mut c = make_run("target/image/x86_64/uefi.img", Boot::Uefi, "ktest x=1");
    c.smp = 2;
    c.memory = "512M".into();
    let args = c.args().unwrap();
    assert_eq!(count(&args, "-drive"), 3, "{args:?}");
    assert!(args.contains(&"format=raw,file=target/image/x86_64/uefi.img,snapshot=on".into()));
    assert!(args.contains(&format!("if=pflash,format=raw,readonly=on,file={OVMF_CODE}")));
    assert!(args.contains(&format!("if=pflash,format=raw,snapshot=on,file={OVMF_VARS}")));
    assert!(!args.contains(&"-monitor".into()), "the monitor is on the terminal: {args:?}");
    let line = c.command_line().unwrap();
    assert!(line.contains(" -serial mon:stdio "), "{line}");
    assert!(line.contains(" -smp 2 -m 512M "), "{line}");
    assert!(line.contains(" -fw_cfg 'name=opt/cmdline,string=ktest x=1' "), "{line}");
}

#[test]
fn make_debug_halts_with_gdb_stub() {
    let mut c = make_run("target/image/x86_64/bios.img", Boot::Bios, "");
    c.gdb = true;
    c.extra_args = vec!["-d".into(), "int".into()];
    let line = c.command_line().unwrap();
    assert!(line.ends_with(" -m 1G -s -S -d int"), "{line}");
}

#[test]
fn make_run_aarch64() {
    let mut c = make_run("target/image/aarch64/Image", Boot::Bios, "ktest ktest.filter=heap");
    c.arch = Arch::Aarch64;
    assert_eq!(
        c.command_line().unwrap(),
        "qemu-system-aarch64 -accel tcg,thread=multi -M virt -cpu max \
         -kernel target/image/aarch64/Image -semihosting \
         -serial mon:stdio -display none -no-reboot -smp 4 -m 1G \
         -append 'ktest ktest.filter=heap'"
    );
    c.cpu = Some("cortex-a72".into());
    assert!(c.command_line().unwrap().contains(" -M virt -cpu cortex-a72 -kernel "));
}

#[test]
fn kvm_only_for_the_host_arch() {
    let mut c = cfg("", Boot::Bios);
    c.kvm = true;
    c.arch = Arch::Aarch64;
    let args = c.args().unwrap();
    if Arch::Aarch64.is_host() {
        assert_eq!(args[..2], ["-accel", "kvm"]);
        assert!(c.command_line().unwrap().contains(" -cpu host "));
    } else {
        assert_eq!(args[..2], ["-accel", "tcg,thread=multi"]);
        assert!(c.command_line().unwrap().contains(" -cpu max "));
    }
    // An explicit model wins over `host`.
    c.arch = Arch::X86_64;
    c.cpu = Some("qemu64,hypervisor=off".into());
    let args = c.args().unwrap();
    assert_eq!(count(&args, "-cpu"), 1);
    assert!(args.contains(&"qemu64,hypervisor=off".into()));
}

#[test]
fn command_line_checked() {
    let c = cfg(&"x".repeat(protocol::cmdline::MAX_LEN + 1), Boot::Bios);
    let e = c.args().unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("the kernel keeps 512"), "{e}");
    let c = cfg("ktest\tx", Boot::Bios);
    assert!(c.args().unwrap_err().to_string().contains("only printable ASCII"));
}

#[test]
fn exit_statuses_are_the_protocols() {
    assert_eq!(Arch::X86_64.success_status(), 33);
    assert_eq!(Arch::Aarch64.success_status(), 0);
    assert_eq!(Arch::X86_64.exit_status(35), Some(protocol::exit::ExitStatus::Failure));
    assert_eq!(Arch::Aarch64.exit_status(35), None);
}

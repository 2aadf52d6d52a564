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
    assert_eq!(args[..2], ["-accel", "kvm"]);
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

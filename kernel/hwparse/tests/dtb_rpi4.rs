//! The Raspberry Pi 4's device tree as QEMU `-M raspi4b` hands it to the
//! kernel: bus addresses translated through `ranges`, the mini UART that
//! `stdout-path` names, the GIC-400, the spin-table CPUs, the mailbox and
//! the watchdog; and translation rules on built trees.

mod common;

use common::{Node, build_dtb, read_dtb_like_the_kernel};
use hwparse::dtb::{self, UartKind};

/// `qemu-system-aarch64 -M raspi4b,dumpdtb=... -dtb bcm2711-rpi-4-b.dtb
/// -append ktest` (QEMU 10.0) with the blob `make rpi4-dtb` builds from
/// `boards/rpi4/bcm2711-rpi-4-b.dts`, repacked by `dtc -I dtb -O dtb`
/// (QEMU's dump is padded, its NOPs removed).
const QEMU_RASPI4B: &[u8] = include_bytes!("data/qemu-raspi4b.dtb");

#[test]
fn qemu_raspi4b_early_facts() {
    let facts = read_dtb_like_the_kernel(QEMU_RASPI4B).expect("the blob parses");
    // QEMU fills in the low bank only (below its VideoCore memory).
    assert_eq!(facts.ram.as_slice(), &[(0, 0x3c00_0000)]);
    // The spin tables' page.
    assert_eq!(facts.memreserve.as_slice(), &[(0, 0x1000)]);
    // stdout-path = "serial1:115200n8": the mini UART at bus 0x7e215040.
    assert_eq!(facts.uart, Some((0xfe21_5040, 0xfe21_5080)));
    assert_eq!(facts.uart_kind, UartKind::BcmAux);
    assert!(facts.stdout_path_problem.is_none());
    // GIC-400 at bus 0x40041000 / 0x40042000 through /soc's third range.
    assert_eq!(facts.gicv2, Some([(0xff84_1000, 0xff84_2000), (0xff84_2000, 0xff84_4000)]));
    assert_eq!(facts.errors().count(), 0);
}

#[test]
fn qemu_raspi4b_cpus_and_board_devices() {
    let mut blob = QEMU_RASPI4B.to_vec();
    dtb::compact_nops(&mut blob).unwrap();
    let fdt = dtb::parse(&blob).unwrap();
    let (cpus, total) = dtb::cpus::<8>(&fdt).unwrap();
    assert_eq!(total, 4);
    for (i, cpu) in cpus.iter().take(4).enumerate() {
        let cpu = cpu.unwrap();
        assert_eq!(cpu.mpidr, i as u64);
        assert!(!cpu.psci);
        assert_eq!(cpu.release_addr, Some(0xd8 + 8 * i as u64));
    }
    assert!(dtb::psci(&fdt).is_err(), "no /psci on a Pi without TF-A");
    let dev = dtb::board_devices(&fdt);
    assert_eq!(dev.mailbox, Some((0xfe00_b880, 0xfe00_b8c0)));
    assert_eq!(dev.pm, Some((0xfe10_0000, 0xfe10_0114)));
    // /soc's dma-ranges: CPU 0..1 GiB is VideoCore bus 0xc000_0000.
    assert_eq!(dev.mailbox_dma, Some((0, 0x4000_0000, 0xc000_0000)));
    // /emmc2bus has ranges of its own (2 address cells).
    let emmc = dtb::find(&fdt, "/emmc2bus/mmc@7e340000").unwrap();
    assert_eq!(dtb::reg_cpu(&fdt, emmc, 0, 0), Some((0xfe34_0000, 0xfe34_0100)));
    assert!(!dtb::is_qemu_virt(&fdt));
}

/// A root with a bus under it and a device under that.
fn bus_tree(ranges: Option<&[u32]>) -> Node {
    let mut bus = Node::new("soc").cells("#address-cells", &[1]).cells("#size-cells", &[1]);
    if let Some(r) = ranges {
        bus = bus.cells("ranges", r);
    }
    let bus = bus.child(
        Node::new("serial@7e201000")
            .str("compatible", "arm,pl011")
            .cells("reg", &[0x7e20_1000, 0x200]),
    );
    Node::new("")
        .cells("#address-cells", &[2])
        .cells("#size-cells", &[1])
        .child(Node::new("chosen").str("stdout-path", "/soc/serial@7e201000"))
        .child(bus)
}

fn console(root: &Node) -> Option<(u64, u64)> {
    read_dtb_like_the_kernel(&build_dtb(root)).unwrap().uart
}

#[test]
fn translation_rules() {
    // One range (child 1 cell, parent 2 cells, size 1 cell).
    let one = [0x7e00_0000, 0, 0xfe00_0000, 0x0180_0000];
    assert_eq!(console(&bus_tree(Some(&one))), Some((0xfe20_1000, 0xfe20_1200)));
    // A parent address above 4 GiB.
    let high = [0x7e00_0000, 0x6, 0x0, 0x0180_0000];
    assert_eq!(console(&bus_tree(Some(&high))), Some((0x6_0020_1000, 0x6_0020_1200)));
    // Empty ranges: 1:1.
    assert_eq!(console(&bus_tree(Some(&[]))), Some((0x7e20_1000, 0x7e20_1200)));
    // No ranges: not memory-mapped, so no console (rather than a wrong address).
    assert_eq!(console(&bus_tree(None)), None);
    // A range that does not cover the device.
    let other = [0x4000_0000, 0, 0xff80_0000, 0x0080_0000];
    assert_eq!(console(&bus_tree(Some(&other))), None);
    // The second of two entries.
    let two = [0x4000_0000, 0, 0xff80_0000, 0x0080_0000, 0x7e00_0000, 0, 0xfe00_0000, 0x0180_0000];
    assert_eq!(console(&bus_tree(Some(&two))), Some((0xfe20_1000, 0xfe20_1200)));
}

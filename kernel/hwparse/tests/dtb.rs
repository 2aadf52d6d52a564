//! The device-tree parser: QEMU's own blob, every check of `dtb::check`
//! with a blob that fails it, what the `fdt` crate does without the check,
//! and the queries on edge-case trees (aliases that loop, ranges that wrap).

mod common;

use common::{DtbBuilder, Node, build_dtb, read_dtb_like_the_kernel};
use hwparse::dtb::{self, BlobError, Block, PsciMethod};

/// `qemu-system-aarch64 -M virt,dumpdtb=... -cpu max -smp 2 -m 256M`,
/// repacked by `dtc -I dtb -O dtb` (QEMU's dump is padded to 1 MiB).
const QEMU_VIRT: &[u8] = include_bytes!("data/qemu-virt.dtb");

/// A small machine: RAM, a console, PSCI, two CPUs, bootargs.
fn machine() -> Node {
    Node::new("")
        .cells("#address-cells", &[2])
        .cells("#size-cells", &[2])
        .str("compatible", "linux,dummy-virt")
        .child(Node::new("chosen").str("bootargs", "ktest").str("stdout-path", "serial0:115200"))
        .child(Node::new("aliases").str("serial0", "/pl011@9000000"))
        .child(
            Node::new("memory@40000000")
                .str("device_type", "memory")
                .cells("reg", &[0, 0x4000_0000, 0, 0x1000_0000]),
        )
        .child(
            Node::new("pl011@9000000")
                .str("compatible", "arm,pl011")
                .cells("reg", &[0, 0x0900_0000, 0, 0x1000]),
        )
        .child(Node::new("psci").str("compatible", "arm,psci-0.2").str("method", "smc"))
        .child(
            Node::new("cpus")
                .cells("#address-cells", &[1])
                .cells("#size-cells", &[0])
                .child(Node::new("cpu@0").cells("reg", &[0]))
                .child(Node::new("cpu@1").cells("reg", &[1]).str("enable-method", "spin-table")),
        )
}

fn set_be32(blob: &mut [u8], at: usize, value: u32) {
    blob[at..at + 4].copy_from_slice(&value.to_be_bytes());
}

fn be32(blob: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(blob[at..at + 4].try_into().unwrap())
}

/// Offset of the first occurrence of `needle` in `blob`.
fn find_bytes(blob: &[u8], needle: &[u8]) -> usize {
    blob.windows(needle.len()).position(|w| w == needle).expect("needle in blob")
}

#[test]
fn qemu_virt_blob() {
    let mut blob = QEMU_VIRT.to_vec();
    assert_eq!(dtb::compact_nops(&mut blob), Ok(0));
    assert_eq!(blob, QEMU_VIRT, "a blob without NOPs is not written");
    let fdt = dtb::parse(&blob).unwrap();
    let facts = dtb::early_facts(&fdt);
    assert_eq!(facts.ram.as_slice(), [(0x4000_0000, 0x5000_0000)]);
    assert_eq!(facts.uart, Some((0x0900_0000, 0x0900_1000)));
    assert!(facts.gicv2.is_some());
    assert_eq!(facts.errors().count(), 0);
    assert_eq!(facts.stdout_path_problem, None);
    assert!(dtb::is_qemu_virt(&fdt));
    assert_eq!(dtb::psci(&fdt).unwrap(), (PsciMethod::Hvc, None));
    let (cpus, total) = dtb::cpus::<4>(&fdt).unwrap();
    assert_eq!(total, 2);
    assert_eq!(cpus[1].unwrap().mpidr, 1);
    assert_eq!(dtb::bootargs(&fdt).unwrap(), "");
}

/// QEMU `virt,gic-version=3` with 128 CPUs (`-machine dumpdtb`): a GICv3
/// with two redistributor regions (the low one holds 123 CPUs, QEMU adds a
/// high one above), no GICv2, and all 128 CPUs, MPIDR affinity 1 above 15.
#[test]
fn qemu_virt_gicv3_128_cpus() {
    const BLOB: &[u8] = include_bytes!("data/qemu-virt-gicv3-128cpus.dtb");
    let fdt = dtb::parse(BLOB).unwrap();
    let facts = dtb::early_facts(&fdt);
    assert_eq!(facts.gicv2, None);
    assert_eq!(
        facts.gicv3,
        Some(dtb::GicV3Regs {
            dist: (0x0800_0000, 0x0801_0000),
            redist: [Some((0x080a_0000, 0x0900_0000)), Some((0x40_0000_0000, 0x40_0400_0000))],
        })
    );
    assert_eq!(facts.errors().count(), 0);
    let (cpus, total) = dtb::cpus::<128>(&fdt).unwrap();
    assert_eq!(total, 128);
    assert_eq!(cpus[127].unwrap().mpidr, 0x70f, "Aff1 7, Aff0 15: 16 CPUs per cluster");
}

#[test]
fn built_machine_reads_back() {
    let blob = build_dtb(&machine());
    let fdt = dtb::parse(&blob).unwrap();
    let facts = dtb::early_facts(&fdt);
    assert_eq!(facts.ram.as_slice(), [(0x4000_0000, 0x5000_0000)]);
    // stdout-path through the alias, ":115200" cut off.
    assert_eq!(facts.uart, Some((0x0900_0000, 0x0900_1000)));
    assert_eq!(facts.stdout_path_problem, None);
    assert_eq!(dtb::bootargs(&fdt).unwrap(), "ktest");
    assert_eq!(dtb::psci(&fdt).unwrap(), (PsciMethod::Smc, None));
    let (cpus, total) = dtb::cpus::<4>(&fdt).unwrap();
    assert_eq!(total, 2);
    assert!(cpus[0].unwrap().psci && !cpus[1].unwrap().psci);
    assert!(dtb::is_qemu_virt(&fdt));
    assert!(read_dtb_like_the_kernel(&blob).is_some());
}

#[test]
fn nops_are_refused_until_compacted() {
    let clean = build_dtb(&machine());
    let (mut blob, written) = DtbBuilder::new(&[true, false, true]).build(&machine(), &[], 64);
    assert!(written > 10);
    let nop = dtb::parse(&blob).err().unwrap();
    assert!(matches!(nop, BlobError::Token { token: 4, .. }), "{nop:?}");
    assert_eq!(dtb::compact_nops(&mut blob), Ok(written));
    // The structure block is now exactly the NOP-free one.
    let (off, size) = (be32(&blob, 8) as usize, be32(&blob, 36) as usize);
    let (clean_off, clean_size) = (be32(&clean, 8) as usize, be32(&clean, 36) as usize);
    assert_eq!(blob[off..off + size], clean[clean_off..clean_off + clean_size]);
    assert_eq!(dtb::compact_nops(&mut blob), Ok(0));
    let fdt = dtb::parse(&blob).unwrap();
    assert_eq!(dtb::early_facts(&fdt).uart, Some((0x0900_0000, 0x0900_1000)));
}

/// A change to a good blob that breaks it.
type Edit = Box<dyn Fn(&mut Vec<u8>)>;

#[test]
fn malformed_headers() {
    let good = build_dtb(&machine());
    let total = good.len() as u32;
    let cases: Vec<(&str, Edit, BlobError)> = vec![
        ("empty", Box::new(|b| b.clear()), BlobError::Short { len: 0, need: 40 }),
        ("39 bytes", Box::new(|b| b.truncate(39)), BlobError::Short { len: 39, need: 40 }),
        (
            "bad magic",
            Box::new(|b| set_be32(b, 0, 0xFEED_D00D)),
            BlobError::BadMagic { magic: 0xFEED_D00D },
        ),
        (
            "version 16",
            Box::new(|b| set_be32(b, 20, 16)),
            BlobError::Version { version: 16, last_compatible: 16 },
        ),
        (
            "last compatible 18",
            Box::new(|b| set_be32(b, 24, 18)),
            BlobError::Version { version: 17, last_compatible: 18 },
        ),
        ("totalsize 39", Box::new(|b| set_be32(b, 4, 39)), BlobError::TotalSize { total: 39 }),
        (
            "totalsize above the maximum",
            Box::new(|b| set_be32(b, 4, dtb::MAX_TOTAL_SIZE + 1)),
            BlobError::TotalSize { total: dtb::MAX_TOTAL_SIZE + 1 },
        ),
        (
            "blob shorter than totalsize",
            Box::new(|b| {
                b.pop();
            }),
            BlobError::Short { len: total as usize - 1, need: total as usize },
        ),
        (
            "structure block past totalsize",
            Box::new(move |b| set_be32(b, 36, total)),
            BlobError::Block { block: Block::Structure, offset: be32(&good, 8) },
        ),
        (
            "structure block inside the header",
            Box::new(|b| set_be32(b, 8, 36)),
            BlobError::Block { block: Block::Structure, offset: 36 },
        ),
        (
            "strings block past totalsize",
            Box::new(move |b| set_be32(b, 12, total)),
            BlobError::Block { block: Block::Strings, offset: total },
        ),
        (
            "reservations past totalsize",
            Box::new(move |b| set_be32(b, 16, total - 8)),
            BlobError::Block { block: Block::MemoryReservations, offset: total - 8 },
        ),
        (
            "reservations without their terminator",
            // Point the block at the strings: never 16 zero bytes there.
            Box::new(move |b| {
                let strings = be32(b, 12);
                set_be32(b, 16, strings);
            }),
            BlobError::Block { block: Block::MemoryReservations, offset: be32(&good, 12) },
        ),
    ];
    for (what, edit, error) in cases {
        let mut blob = good.clone();
        edit(&mut blob);
        assert_eq!(dtb::check(&blob).err(), Some(error), "{what}");
        assert!(read_dtb_like_the_kernel(&blob).is_none(), "{what}");
    }
}

/// Builds `root`, lets `edit` break the blob, and expects `check` to
/// refuse it with an error `expect` accepts.
fn refused(root: &Node, edit: impl Fn(&mut Vec<u8>), expect: impl Fn(BlobError) -> bool) {
    let mut blob = build_dtb(root);
    edit(&mut blob);
    let e = dtb::check(&blob).expect_err("check accepted a malformed blob");
    assert!(expect(e), "unexpected {e:?}");
    assert!(!e.to_string().is_empty());
    assert!(read_dtb_like_the_kernel(&blob).is_none());
}

#[test]
fn malformed_structures() {
    let m = machine();
    // Writes `value` at byte `at` of the structure block.
    let set_struct = |b: &mut Vec<u8>, at: usize, value: u32| {
        let off = be32(b, 8) as usize;
        set_be32(b, off + at, value);
    };
    // The first token is the root's FDT_BEGIN_NODE.
    refused(&m, |b| set_struct(b, 0, 7), |e| matches!(e, BlobError::Token { token: 7, .. }));
    refused(&m, |b| set_struct(b, 0, 2), |e| matches!(e, BlobError::Token { token: 2, .. }));
    refused(&m, |b| set_struct(b, 0, 3), |e| matches!(e, BlobError::Token { token: 3, .. }));
    // FDT_END inside a node: the root's first property becomes FDT_END.
    refused(&m, |b| set_struct(b, 8, 9), |e| matches!(e, BlobError::Token { token: 9, .. }));
    // A node name that is not UTF-8.
    refused(
        &m,
        |b| {
            let at = find_bytes(b, b"psci\0");
            b[at] = 0xFF;
        },
        |e| matches!(e, BlobError::NodeName { .. }),
    );
    // A property name offset past the strings block.
    refused(&m, |b| set_struct(b, 16, 0xFFFF), |e| matches!(e, BlobError::PropertyName { .. }));
    // A property name that is not UTF-8.
    refused(
        &m,
        |b| {
            let at = find_bytes(b, b"bootargs\0");
            b[at] = 0xC3;
            b[at + 1] = 0x28;
        },
        |e| matches!(e, BlobError::PropertyName { .. }),
    );
    // A property value that runs past the structure block.
    refused(&m, |b| set_struct(b, 12, 0x10_0000), |e| matches!(e, BlobError::Truncated { .. }));
    // The structure block cut short: no FDT_END.
    refused(
        &m,
        |b| {
            let size = be32(b, 36);
            set_be32(b, 36, size - 4);
        },
        |e| e == BlobError::Unterminated,
    );
    // Cut inside a token.
    refused(
        &m,
        |b| {
            let size = be32(b, 36);
            set_be32(b, 36, size - 6);
        },
        |e| matches!(e, BlobError::Truncated { .. }),
    );
}

#[test]
fn malformed_trees() {
    let check = |root: &Node| dtb::check(&build_dtb(root));
    assert!(matches!(check(&Node::new("root")), Err(BlobError::NodeName { .. })));
    let short_cells = Node::new("").child(Node::new("soc").prop("#address-cells", &[0, 1]));
    assert!(matches!(check(&short_cells), Err(BlobError::CellCount { .. })));
    let long_cells = Node::new("").prop("#size-cells", &[0, 0, 0, 1, 0]);
    assert!(matches!(check(&long_cells), Err(BlobError::CellCount { .. })));
    // A property after a child: serialise the child first by hand.
    let mut blob = build_dtb(&Node::new("").child(Node::new("a")).str("late", "x"));
    // The builder writes properties first (root: BEGIN and empty name, 8
    // bytes; the property, 16; the child, 12): swap the last two.
    let off = be32(&blob, 8) as usize;
    let prop: Vec<u8> = blob[off + 8..off + 24].to_vec();
    let child: Vec<u8> = blob[off + 24..off + 36].to_vec();
    blob[off + 8..off + 20].copy_from_slice(&child);
    blob[off + 20..off + 36].copy_from_slice(&prop);
    assert!(matches!(dtb::check(&blob), Err(BlobError::PropertyAfterNode { .. })), "{blob:?}");
    // Depth: 32 levels pass, 33 do not.
    let deep = |levels: usize| {
        let mut node = Node::new("leaf");
        for _ in 1..levels - 1 {
            node = Node::new("n").child(node);
        }
        Node::new("").child(node)
    };
    assert!(check(&deep(dtb::MAX_DEPTH)).is_ok());
    assert!(matches!(check(&deep(dtb::MAX_DEPTH + 1)), Err(BlobError::TooDeep { .. })));
    // Two roots.
    let mut two = build_dtb(&Node::new(""));
    let off = be32(&two, 8) as usize;
    two.splice(off + 12..off + 12, [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2]);
    let size = be32(&two, 36) + 12;
    set_be32(&mut two, 36, size);
    for at in [4, 12] {
        let v = be32(&two, at) + 12;
        set_be32(&mut two, at, v);
    }
    assert!(matches!(dtb::check(&two), Err(BlobError::Token { token: 1, .. })), "{two:?}");
}

/// Without `check`, the `fdt` crate panics on what `check` refuses: the
/// reason the check exists. (Each runs the crate directly.)
#[test]
fn the_fdt_crate_panics_without_the_check() {
    let crate_reads = |blob: Vec<u8>| {
        std::panic::catch_unwind(move || {
            let fdt = dtb::Fdt::new(&blob).unwrap();
            for n in fdt.all_nodes() {
                let _ = n.children().count();
                let _ = n.reg().map(Iterator::count);
            }
        })
    };
    let short_cells = Node::new("").child(
        Node::new("soc").prop("#address-cells", &[1]).child(Node::new("dev").cells("reg", &[1])),
    );
    assert!(crate_reads(build_dtb(&short_cells)).is_err());
    let mut deep = Node::new("leaf");
    for _ in 0..70 {
        deep = Node::new("n").child(deep);
    }
    assert!(crate_reads(build_dtb(&Node::new("").child(deep))).is_err());
    let mut past = build_dtb(&machine());
    let off = be32(&past, 8) as usize;
    set_be32(&mut past, off + 12, 0x10_0000);
    assert!(crate_reads(past).is_err());
}

#[test]
fn aliases_are_resolved_once() {
    // serial0 names itself and serial1 names serial0: `Fdt::find_node`
    // recurses on these until the stack overflows.
    let root = Node::new("")
        .child(Node::new("aliases").str("serial0", "serial0").str("serial1", "serial0"))
        .child(Node::new("chosen").str("stdout-path", "serial1"))
        .child(
            Node::new("uart@1000").str("compatible", "arm,pl011").cells("reg", &[0, 0x1000, 0x100]),
        );
    let blob = build_dtb(&root);
    let fdt = dtb::parse(&blob).unwrap();
    assert!(dtb::find_path_or_alias(&fdt, "serial0").is_none());
    assert!(dtb::find_path_or_alias(&fdt, "serial1").is_none());
    let facts = dtb::early_facts(&fdt);
    assert_eq!(facts.uart, Some((0x1000, 0x1100)), "the first enabled pl011");
    assert!(facts.stdout_path_problem.is_some());
    // An alias named like a path does not stand in for a missing node.
    let root = Node::new("").child(Node::new("aliases").str("/chosen", "/chosen"));
    let blob = build_dtb(&root);
    let fdt = dtb::parse(&blob).unwrap();
    assert!(dtb::find(&fdt, "/chosen").is_none());
    assert_eq!(dtb::bootargs(&fdt).unwrap(), "");
    assert!(read_dtb_like_the_kernel(&blob).is_some());
}

#[test]
fn paths() {
    let blob = build_dtb(&machine());
    let fdt = dtb::parse(&blob).unwrap();
    assert_eq!(dtb::find(&fdt, "/").unwrap().name, "");
    assert_eq!(dtb::find(&fdt, "/cpus/cpu@1").unwrap().name, "cpu@1");
    assert_eq!(dtb::find(&fdt, "/cpus/cpu").unwrap().name, "cpu@0");
    assert_eq!(dtb::find(&fdt, "//cpus//").unwrap().name, "cpus");
    assert!(dtb::find(&fdt, "/cpus/cpu@2").is_none());
    assert!(dtb::find(&fdt, "cpus").is_none());
    assert_eq!(dtb::find_path_or_alias(&fdt, "serial0").unwrap().name, "pl011@9000000");
}

#[test]
fn wrapping_ranges_are_left_out_and_reported() {
    let top = 0xFFFF_FFFF_FFFF_F000u64;
    let cells = |a: u64, s: u64| [(a >> 32) as u32, a as u32, (s >> 32) as u32, s as u32];
    let root = Node::new("")
        .cells("#address-cells", &[2])
        .cells("#size-cells", &[2])
        .child(
            Node::new("memory@0")
                .str("device_type", "memory")
                .cells("reg", &[cells(0x4000_0000, 0x1000), cells(top, 0x2000)].concat()),
        )
        .child(
            Node::new("reserved-memory")
                .cells("#address-cells", &[2])
                .cells("#size-cells", &[2])
                .child(Node::new("a").prop("no-map", &[]).cells("reg", &cells(top, 0x10_0000))),
        );
    let (blob, _) = DtbBuilder::new(&[]).build(&root, &[(top, 0x2000), (0x1000, 0x1000)], 0);
    let fdt = dtb::parse(&blob).unwrap();
    let facts = dtb::early_facts(&fdt);
    assert_eq!(facts.ram.as_slice(), [(0x4000_0000, 0x4000_1000)]);
    assert!(facts.nomap.as_slice().is_empty());
    assert_eq!(facts.memreserve.as_slice(), [(0x1000, 0x2000)]);
    let nodes: Vec<_> = facts.errors().map(|e| e.node).collect();
    assert_eq!(nodes, ["/memory", "/reserved-memory", "/memreserve/"]);
}

/// Found by proptest (`random_blocks_never_panic`, 100,000 cases): NOPs,
/// a root node, then an unknown token. A compaction that stopped at the
/// unknown token had already moved the root up and left stale copies of
/// its tokens behind it, which read as a well-formed tree (`check`
/// accepted it). Now a compaction that fails writes nothing.
#[test]
fn failed_compaction_leaves_the_blob_alone() {
    let tokens: [u32; 6] = [4, 4, 1, 9, 2, 5];
    let structure: Vec<u8> = tokens.iter().flat_map(|t| t.to_be_bytes()).collect();
    let total = 56 + structure.len();
    let header = [dtb::MAGIC, total as u32, 56, total as u32, 40, 17, 16, 0, 0, 24];
    let mut blob: Vec<u8> = header.iter().flat_map(|w| w.to_be_bytes()).collect();
    blob.extend_from_slice(&[0; 16]);
    blob.extend_from_slice(&structure);
    let before = blob.clone();
    assert!(matches!(dtb::compact_nops(&mut blob), Err(BlobError::Token { token: 5, .. })));
    assert_eq!(blob, before);
    assert!(dtb::check(&blob).is_err());
    assert!(read_dtb_like_the_kernel(&blob).is_none());
}

/// [`machine`] with an interrupt controller: everything [`dtb::usable`] asks for.
fn bootable() -> Node {
    machine().child(
        Node::new("intc@8000000")
            .str("compatible", "arm,cortex-a15-gic")
            .prop("interrupt-controller", &[])
            .cells("reg", &[0, 0x0800_0000, 0, 0x1_0000, 0, 0x0801_0000, 0, 0x1_0000]),
    )
}

/// `root` with the child called `name` taken out or replaced by `with`.
fn edit(mut root: Node, name: &str, with: Option<Node>) -> Node {
    let i = root.children.iter().position(|c| c.name == name).expect("child to edit");
    match with {
        Some(n) => root.children[i] = n,
        None => {
            root.children.remove(i);
        }
    }
    root
}

/// What [`dtb::usable`] says about the blob built from `root`.
fn usable_says(root: &Node) -> Result<(), String> {
    let blob = build_dtb(root);
    let fdt = dtb::parse(&blob).expect("a well-formed blob");
    dtb::usable(&fdt).map_err(|e| e.to_string())
}

#[test]
fn usable_machines() {
    let fdt = dtb::parse(QEMU_VIRT).unwrap();
    assert_eq!(dtb::usable(&fdt), Ok(()));
    assert_eq!(usable_says(&bootable()), Ok(()));
    // The default cell counts (2 + 1) when the root has none.
    let mut root = bootable();
    root.props.retain(|(n, _)| !n.starts_with('#'));
    let root = edit(
        root,
        "memory@40000000",
        Some(
            Node::new("memory@40000000")
                .str("device_type", "memory")
                .cells("reg", &[0, 0x4000_0000, 0x1000_0000]),
        ),
    );
    assert_eq!(usable_says(&root), Ok(()));
}

#[test]
fn unusable_machines_say_why() {
    let mem = |reg: &[u32]| {
        Some(Node::new("memory@40000000").str("device_type", "memory").cells("reg", reg))
    };
    let cases: Vec<(Node, &str)> = vec![
        (
            edit(bootable(), "memory@40000000", None),
            "no memory node (device_type = \"memory\"): no RAM",
        ),
        (
            edit(
                bootable(),
                "memory@40000000",
                Some(
                    Node::new("memory@40000000")
                        .str("device_type", "memory")
                        .str("status", "disabled"),
                ),
            ),
            "no memory node (device_type = \"memory\"): no RAM",
        ),
        (
            edit(
                bootable(),
                "memory@40000000",
                Some(Node::new("memory@40000000").str("device_type", "memory")),
            ),
            "memory node memory@40000000 has no reg",
        ),
        (
            edit(bootable(), "memory@40000000", mem(&[0, 0x4000_0000, 0])),
            "memory node memory@40000000: reg is 12 bytes, not a multiple of (#address-cells 2 + #size-cells 2) * 4",
        ),
        (
            edit(
                bootable(),
                "memory@40000000",
                mem(&[0, 0x4000_0000, 0, 0x1000, 0, 0x8000_0000, 0, 0]),
            ),
            "memory node memory@40000000: reg entry at 0x80000000 has size 0",
        ),
        (
            edit(
                bootable(),
                "chosen",
                Some(Node::new("chosen").str("stdout-path", "/pl011@9999:115200")),
            ),
            "/chosen/stdout-path \"/pl011@9999\" names no node (nor an alias of one)",
        ),
        (
            edit(bootable(), "chosen", Some(Node::new("chosen").str("stdout-path", "serial7"))),
            "/chosen/stdout-path \"serial7\" names no node (nor an alias of one)",
        ),
        (
            edit(bootable(), "intc@8000000", None),
            "no interrupt controller (no node with interrupt-controller)",
        ),
        (edit(bootable(), "cpus", None), "no /cpus node"),
        (
            edit(
                bootable(),
                "cpus",
                Some(Node::new("cpus").cells("#address-cells", &[1]).cells("#size-cells", &[0])),
            ),
            "/cpus has no enabled cpu node",
        ),
    ];
    for (root, why) in cases {
        assert_eq!(usable_says(&root), Err(why.to_string()));
    }
    // A root with #size-cells = <0> describes no memory size at all.
    let mut root = bootable();
    for (n, v) in &mut root.props {
        if n == "#size-cells" {
            *v = 0u32.to_be_bytes().to_vec();
        }
    }
    let root = edit(root, "memory@40000000", mem(&[0, 0x4000_0000]));
    assert!(usable_says(&root).unwrap_err().contains("#size-cells 0"));
}

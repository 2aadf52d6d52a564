//! The device-tree parser on arbitrary bytes, on blobs whose header is
//! right and whose blocks are random, on random trees built by the test
//! (with NOPs and padding: they compact, check and read back as built),
//! and on those trees with random bytes changed. Whatever `dtb::check`
//! accepts, every query the kernel makes must run without a panic
//! (`common::read_dtb_like_the_kernel`). `PROPTEST_CASES=N` runs more.

mod common;

use std::collections::BTreeSet;

use common::{DtbBuilder, Node, read_dtb_like_the_kernel};
use hwparse::dtb;
use proptest::collection::vec;
use proptest::prelude::*;

/// Property names the kernel looks at, and others.
fn prop_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("reg".to_string()),
        Just("compatible".to_string()),
        Just("status".to_string()),
        Just("device_type".to_string()),
        Just("no-map".to_string()),
        Just("method".to_string()),
        Just("cpu_on".to_string()),
        Just("bootargs".to_string()),
        Just("stdout-path".to_string()),
        Just("enable-method".to_string()),
        Just("serial0".to_string()),
        "[a-z,#-]{1,8}",
    ]
}

/// Values: strings the kernel matches on, cells, and random bytes.
fn prop_value() -> impl Strategy<Value = Vec<u8>> {
    let word = |s: &str| {
        let mut v = s.as_bytes().to_vec();
        v.push(0);
        v
    };
    prop_oneof![
        Just(word("okay")),
        Just(word("disabled")),
        Just(word("memory")),
        Just(word("arm,pl011")),
        Just(word("arm,cortex-a15-gic")),
        Just(word("arm,psci-0.2\0arm,psci")),
        Just(word("hvc")),
        Just(word("psci")),
        Just(word("serial0:115200")),
        Just(word("/pl011@9000000")),
        Just(word("/chosen")),
        vec(any::<u32>(), 0..6).prop_map(|c| c.iter().flat_map(|c| c.to_be_bytes()).collect()),
        vec(any::<u8>(), 0..16),
    ]
}

/// A node and its subtree, `depth` levels at most below it. Sibling names
/// are unique by their part before `@`, so every node has one path.
fn node(depth: u32) -> BoxedStrategy<Node> {
    let name = prop_oneof![
        Just("memory@40000000".to_string()),
        Just("chosen".to_string()),
        Just("aliases".to_string()),
        Just("cpus".to_string()),
        Just("cpu@0".to_string()),
        Just("psci".to_string()),
        Just("pl011@9000000".to_string()),
        Just("reserved-memory".to_string()),
        "[a-z]{1,5}(@[0-9a-f]{1,4})?",
    ];
    let cells = prop_oneof![Just(None), (1u32..=2, 0u32..=2).prop_map(Some)];
    let props = vec((prop_name(), prop_value()), 0..5);
    let children =
        if depth == 0 { Just(Vec::new()).boxed() } else { vec(node(depth - 1), 0..4).boxed() };
    (name, cells, props, children)
        .prop_map(|(name, cells, props, children)| {
            let mut n = Node::new(&name);
            if let Some((a, s)) = cells {
                n = n.cells("#address-cells", &[a]).cells("#size-cells", &[s]);
            }
            // Cell counts that are not one cell are refused by `check`;
            // those are tested in tests/dtb.rs.
            for (k, v) in props.into_iter().filter(|(k, _)| !k.starts_with("#")) {
                n = n.prop(&k, &v);
            }
            let mut seen = BTreeSet::new();
            for c in children {
                if seen.insert(c.name.split('@').next().unwrap().to_string()) {
                    n = n.child(c);
                }
            }
            n
        })
        .boxed()
}

fn tree() -> impl Strategy<Value = Node> {
    node(3).prop_map(|mut root| {
        root.name.clear();
        root
    })
}

/// Every node of the built tree is found at its path with its properties.
fn check_paths(fdt: &dtb::Fdt<'_>, node: &Node, path: &str) -> Result<(), TestCaseError> {
    let found = dtb::find(fdt, if path.is_empty() { "/" } else { path });
    let found = found.ok_or_else(|| TestCaseError::fail(format!("{path} not found")))?;
    let props: Vec<(String, Vec<u8>)> =
        found.properties().map(|p| (p.name.to_string(), p.value.to_vec())).collect();
    prop_assert_eq!(&props, &node.props, "{}", path);
    prop_assert_eq!(found.children().count(), node.children.len(), "{}", path);
    for c in &node.children {
        check_paths(fdt, c, &format!("{path}/{}", c.name))?;
    }
    Ok(())
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..512)) {
        read_dtb_like_the_kernel(&bytes);
    }

    /// A right header (magic, version 17, blocks inside the blob) over
    /// random blocks, so the structure walk sees random tokens.
    #[test]
    fn random_blocks_never_panic(
        body in vec(any::<u8>(), 0..512),
        split in any::<prop::sample::Index>(),
        tokens in vec(prop_oneof![Just(1u32), Just(2), Just(3), Just(4), Just(9), any::<u32>()], 0..64),
    ) {
        // Structure block: plausible tokens, then random bytes; strings after.
        let mut structure: Vec<u8> = tokens.iter().flat_map(|t| t.to_be_bytes()).collect();
        let cut = split.index(body.len() + 1);
        structure.extend_from_slice(&body[..cut]);
        let strings = &body[cut..];
        let rsv = 40;
        let st = rsv + 16;
        let sg = st + structure.len();
        let total = sg + strings.len();
        let header = [dtb::MAGIC, total as u32, st as u32, sg as u32, rsv as u32, 17, 16, 0, strings.len() as u32, structure.len() as u32];
        let mut blob: Vec<u8> = header.iter().flat_map(|w| w.to_be_bytes()).collect();
        blob.extend_from_slice(&[0; 16]);
        blob.extend_from_slice(&structure);
        blob.extend_from_slice(strings);
        read_dtb_like_the_kernel(&blob);
    }

    #[test]
    fn built_tree_reads_back(
        root in tree(),
        nops in vec(any::<bool>(), 0..8),
        rsv in vec((any::<u32>(), any::<u32>()), 0..4),
        padding in 0..64usize,
    ) {
        let rsv: Vec<(u64, u64)> = rsv.iter().map(|&(a, s)| (u64::from(a) + 1, u64::from(s))).collect();
        let (mut blob, written) = DtbBuilder::new(&nops).build(&root, &rsv, padding);
        prop_assert_eq!(dtb::compact_nops(&mut blob), Ok(written));
        let fdt = dtb::parse(&blob).unwrap();
        prop_assert_eq!(fdt.all_nodes().count(), root.count());
        check_paths(&fdt, &root, "")?;
        let got: Vec<(u64, u64)> = fdt.memory_reservations().map(|r| (r.address() as u64, r.size() as u64)).collect();
        prop_assert_eq!(got, rsv);
        prop_assert!(read_dtb_like_the_kernel(&blob).is_some());
    }

    /// Built trees with bytes changed, words overwritten with token values
    /// and lengths, or `totalsize` / `size_dt_struct` cut: refused or read,
    /// never a panic.
    #[test]
    fn mutated_tree_never_panics(
        root in tree(),
        nops in vec(any::<bool>(), 0..4),
        bytes in vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        words in vec((any::<prop::sample::Index>(), prop_oneof![0u32..=10, Just(0xFFFF_FFFF), Just(0x8000_0000), any::<u32>()]), 0..4),
        cut in prop::option::of(any::<prop::sample::Index>()),
    ) {
        let (mut blob, _) = DtbBuilder::new(&nops).build(&root, &[], 0);
        for (at, b) in bytes {
            let at = at.index(blob.len());
            blob[at] = b;
        }
        for (at, w) in words {
            let at = at.index(blob.len() / 4) * 4;
            blob[at..at + 4].copy_from_slice(&w.to_be_bytes());
        }
        if let Some(cut) = cut {
            let len = cut.index(blob.len() + 1);
            blob.truncate(len);
        }
        read_dtb_like_the_kernel(&blob);
    }

    /// RAM is the union of the memory nodes' ranges, sorted and merged.
    #[test]
    fn memory_banks_read_back(banks in vec((0u64..1 << 40, 1u64..1 << 32), 0..40)) {
        let mut root = Node::new("").cells("#address-cells", &[2]).cells("#size-cells", &[2]);
        for (i, &(a, s)) in banks.iter().enumerate() {
            let cells = [(a >> 32) as u32, a as u32, (s >> 32) as u32, s as u32];
            root = root.child(Node::new(&format!("memory@{i:x}")).str("device_type", "memory").cells("reg", &cells));
        }
        let blob = DtbBuilder::new(&[]).build(&root, &[], 0).0;
        let fdt = dtb::parse(&blob).unwrap();
        let facts = dtb::early_facts(&fdt);
        // The model: sort, then merge what overlaps or touches.
        let mut model: Vec<(u64, u64)> = banks.iter().map(|&(a, s)| (a, a + s)).collect();
        model.sort();
        let mut merged: Vec<(u64, u64)> = Vec::new();
        for (s, e) in model {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        prop_assert_eq!(facts.ram.as_slice(), &merged[..]);
        prop_assert!(facts.overflow().is_none());
    }

    /// `usable` on a machine that has everything but whose memory node's
    /// `reg` is random cells, under random root cell counts: refused
    /// exactly when the model says (length not a non-zero multiple of the
    /// entry, no size cells, an entry of size 0), and the message names
    /// the node.
    #[test]
    fn memory_reg_shapes(
        address_cells in 1u32..4,
        size_cells in 0u32..3,
        reg in vec(prop_oneof![Just(0u32), any::<u32>()], 0..14),
    ) {
        let root = Node::new("")
            .cells("#address-cells", &[address_cells])
            .cells("#size-cells", &[size_cells])
            .child(Node::new("memory@0").str("device_type", "memory").cells("reg", &reg))
            .child(Node::new("intc").prop("interrupt-controller", &[]))
            .child(Node::new("cpus").child(Node::new("cpu@0").cells("reg", &[0])));
        let blob = DtbBuilder::new(&[]).build(&root, &[], 0).0;
        let fdt = dtb::parse(&blob).unwrap();
        let entry = (address_cells + size_cells) as usize;
        let model_ok = size_cells > 0
            && !reg.is_empty()
            && reg.len() % entry == 0
            && reg.chunks(entry).all(|e| e[address_cells as usize..].iter().any(|&c| c != 0));
        match dtb::usable(&fdt) {
            Ok(()) => prop_assert!(model_ok, "accepted {reg:?}"),
            Err(e) => {
                prop_assert!(!model_ok, "refused {reg:?}: {e}");
                prop_assert!(e.to_string().contains("memory@0"), "{e}");
            }
        }
    }
}

//! Shared by the integration tests and the fuzz targets (`fuzz/`, which
//! include this file by path): builders of well-formed inputs (a device
//! tree, a USB configuration) and the "use it the way the kernel does"
//! drivers that the never-panics properties run on any bytes.

// Each test binary uses only part of this module.
#![allow(dead_code)]

use hwparse::dtb;
use hwparse::hid::{BootKeyboard, BootReport};
use hwparse::usb::{self, ConfigurationHeader, Descriptors, DeviceDescriptor, Speed};

/// A device-tree node for [`build_dtb`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub name: String,
    pub props: Vec<(String, Vec<u8>)>,
    pub children: Vec<Node>,
}

impl Node {
    pub fn new(name: &str) -> Self {
        Node { name: name.into(), props: Vec::new(), children: Vec::new() }
    }

    pub fn prop(mut self, name: &str, value: &[u8]) -> Self {
        self.props.push((name.into(), value.to_vec()));
        self
    }

    /// A string property (NUL-terminated, as dtc writes them).
    pub fn str(self, name: &str, value: &str) -> Self {
        let mut v = value.as_bytes().to_vec();
        v.push(0);
        self.prop(name, &v)
    }

    /// A property of big-endian u32 cells.
    pub fn cells(self, name: &str, cells: &[u32]) -> Self {
        let v: Vec<u8> = cells.iter().flat_map(|c| c.to_be_bytes()).collect();
        self.prop(name, &v)
    }

    pub fn child(mut self, child: Node) -> Self {
        self.children.push(child);
        self
    }

    /// Nodes in the tree, this one included.
    pub fn count(&self) -> usize {
        1 + self.children.iter().map(Node::count).sum::<usize>()
    }
}

const BEGIN_NODE: u32 = 1;
const END_NODE: u32 = 2;
const PROP: u32 = 3;
const NOP: u32 = 4;
const END: u32 = 9;

/// Serialises trees into version 17 blobs, optionally with `FDT_NOP`
/// tokens before tokens (`nops[i % len]` says whether the i-th gets one).
pub struct DtbBuilder<'a> {
    structure: Vec<u8>,
    strings: Vec<u8>,
    nops: &'a [bool],
    token: usize,
    /// NOP tokens written.
    pub nops_written: usize,
}

impl<'a> DtbBuilder<'a> {
    pub fn new(nops: &'a [bool]) -> Self {
        DtbBuilder { structure: Vec::new(), strings: Vec::new(), nops, token: 0, nops_written: 0 }
    }

    fn word(&mut self, w: u32) {
        self.structure.extend_from_slice(&w.to_be_bytes());
    }

    fn pad(&mut self) {
        while !self.structure.len().is_multiple_of(4) {
            self.structure.push(0);
        }
    }

    fn maybe_nop(&mut self) {
        if !self.nops.is_empty() && self.nops[self.token % self.nops.len()] {
            self.word(NOP);
            self.nops_written += 1;
        }
        self.token += 1;
    }

    fn string(&mut self, name: &str) -> u32 {
        let mut key = name.as_bytes().to_vec();
        key.push(0);
        let mut at = 0;
        while at < self.strings.len() {
            let end = at + self.strings[at..].iter().position(|&c| c == 0).unwrap() + 1;
            if self.strings[at..end] == key[..] {
                return at as u32;
            }
            at = end;
        }
        self.strings.extend_from_slice(&key);
        at as u32
    }

    fn node(&mut self, node: &Node) {
        self.maybe_nop();
        self.word(BEGIN_NODE);
        self.structure.extend_from_slice(node.name.as_bytes());
        self.structure.push(0);
        self.pad();
        for (name, value) in &node.props {
            self.maybe_nop();
            let offset = self.string(name);
            self.word(PROP);
            self.word(value.len() as u32);
            self.word(offset);
            self.structure.extend_from_slice(value);
            self.pad();
        }
        for child in &node.children {
            self.node(child);
        }
        self.maybe_nop();
        self.word(END_NODE);
    }

    /// The blob of `root` with memory reservations `rsv`, followed by
    /// `padding` free bytes inside `totalsize` (as QEMU pads a `-dtb`).
    pub fn build(mut self, root: &Node, rsv: &[(u64, u64)], padding: usize) -> (Vec<u8>, usize) {
        self.node(root);
        self.maybe_nop();
        self.word(END);
        let rsv_off = 40;
        let struct_off = rsv_off + 16 * (rsv.len() + 1);
        let strings_off = struct_off + self.structure.len();
        let total = strings_off + self.strings.len() + padding;
        let header = [
            dtb::MAGIC,
            total as u32,
            struct_off as u32,
            strings_off as u32,
            rsv_off as u32,
            17,
            16,
            0,
            self.strings.len() as u32,
            self.structure.len() as u32,
        ];
        let mut blob: Vec<u8> = header.iter().flat_map(|w| w.to_be_bytes()).collect();
        for &(a, s) in rsv.iter().chain([&(0, 0)]) {
            blob.extend_from_slice(&a.to_be_bytes());
            blob.extend_from_slice(&s.to_be_bytes());
        }
        blob.extend_from_slice(&self.structure);
        blob.extend_from_slice(&self.strings);
        blob.resize(total, 0);
        (blob, self.nops_written)
    }
}

/// The blob of `root`, no reservations, no NOPs, no padding.
pub fn build_dtb(root: &Node) -> Vec<u8> {
    DtbBuilder::new(&[]).build(root, &[], 0).0
}

/// What the kernel's boot reads from a blob, in the kernel's order:
/// compact the NOPs out, parse (check, then the `fdt` crate), then every
/// query the kernel makes and every `fdt` crate call those queries make,
/// on every node. `None` when the blob is refused (the kernel would stop).
/// Whatever the bytes, this must not panic.
pub fn read_dtb_like_the_kernel(bytes: &[u8]) -> Option<dtb::EarlyFacts> {
    let mut blob = bytes.to_vec();
    let compacted = dtb::compact_nops(&mut blob);
    let fdt = dtb::parse(&blob).ok()?;
    // A blob that parses compacted cleanly: compaction checks a subset.
    assert!(compacted.is_ok(), "parse accepted a blob compact_nops refused: {compacted:?}");
    let facts = dtb::early_facts(&fdt);
    if let Err(e) = dtb::usable(&fdt) {
        let _ = e.to_string();
    }
    for e in facts.errors() {
        let _ = e.to_string();
    }
    let _ = facts.overflow();
    let _ = dtb::is_qemu_virt(&fdt);
    let _ = dtb::bootargs(&fdt);
    let _ = dtb::psci(&fdt);
    let _ = dtb::cpus::<4>(&fdt);
    let _ = dtb::board_devices(&fdt);
    for path in ["/", "/chosen", "/aliases", "/cpus/cpu@0", "/memory", "serial0", "x"] {
        let _ = dtb::find_path_or_alias(&fdt, path);
    }
    for node in fdt.all_nodes() {
        let _ = dtb::enabled(node);
        let _ = dtb::reg_cpu(&fdt, node, 0, 0x1000);
        let _ = dtb::find_path_or_alias(&fdt, node.name);
        for p in node.properties() {
            let _ = (p.as_str(), p.as_usize());
            if let Some(s) = p.as_str() {
                let _ = dtb::find_path_or_alias(&fdt, s);
            }
        }
        let _ = node.children().count();
        let _ = node.reg().map(Iterator::count);
        let _ = node.compatible().map(|c| c.all().count());
        let _ = node.cell_sizes();
    }
    let _ = fdt.memory_reservations().count();
    Some(facts)
}

/// Every USB parser on `bytes`, as the kernel's enumeration calls them,
/// plus the invariants their results promise. Must not panic.
pub fn read_usb_like_the_kernel(bytes: &[u8]) {
    for speed in [Speed::Low, Speed::Full, Speed::High, Speed::Super] {
        if let Ok(m) = usb::ep0_max_packet_size(bytes, speed) {
            assert!(matches!(m, 8 | 16 | 32 | 64 | 512), "{m}");
        }
    }
    if let Err(e) = DeviceDescriptor::parse(bytes) {
        let _ = e.to_string();
    }
    if let Err(e) = ConfigurationHeader::parse(bytes) {
        let _ = e.to_string();
    }
    let mut next = 0;
    for d in Descriptors::new(bytes) {
        match d {
            Ok(d) => {
                assert_eq!(d.offset, next);
                assert!(d.bytes.len() >= 2 && d.offset + d.bytes.len() <= bytes.len());
                next = d.offset + d.bytes.len();
            }
            Err(e) => {
                let _ = e.to_string();
            }
        }
    }
    match usb::HubDescriptor::parse(bytes) {
        Ok(h) => {
            assert!((1..=usb::HUB_MAX_PORTS).contains(&h.ports), "{h:?}");
            let need = usb::HUB_DESCRIPTOR_FIXED_LEN + usize::from(h.ports) / 8 + 1;
            assert!(bytes.len() >= need && usize::from(bytes[0]) >= need, "{h:?}");
            assert!(h.tt_think_time() <= 3 && h.power_on_to_good_ms() <= 510, "{h:?}");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
    if let Some(&b) = bytes.first_chunk::<{ usb::PORT_STATUS_LEN }>() {
        let s = usb::PortStatus::from_bytes(b);
        let _ = (s.connected(), s.enabled(), s.reset_changed(), s.speed());
    }
    match usb::find_boot_keyboard(bytes) {
        Ok(Some(k)) => {
            assert!(k.endpoint & 0x80 != 0, "{k:?}");
            assert!((1..=15).contains(&k.endpoint_number()) && k.endpoint & 0x70 == 0, "{k:?}");
            assert!(k.max_packet & 0x7FF != 0, "{k:?}");
        }
        Ok(None) => {}
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// Feeds `bytes` as a stream of reports of the lengths in `lens` (cycled)
/// to one keyboard; returns what it typed. Must not panic, and types only
/// ASCII.
pub fn type_reports_like_the_kernel(bytes: &[u8], lens: &[usize]) -> Vec<u8> {
    let mut kbd = BootKeyboard::new();
    let mut out = Vec::new();
    let mut rest = bytes;
    let mut i = 0;
    while !rest.is_empty() {
        let len = lens.get(i % lens.len().max(1)).copied().unwrap_or(8).min(rest.len()).max(1);
        let (report, tail) = rest.split_at(len);
        if let Err(e) = BootReport::parse(report) {
            let _ = e.to_string();
        }
        kbd.report(report, |b| out.push(b));
        rest = tail;
        i += 1;
    }
    assert!(out.iter().all(u8::is_ascii), "{out:?}");
    out
}

/// A USB configuration descriptor's parts for [`build_config`].
#[derive(Clone, Debug)]
pub struct Interface {
    pub number: u8,
    pub alternate: u8,
    pub class: (u8, u8, u8),
    /// Class descriptors (e.g. HID's) between the interface and its
    /// endpoints: (type, payload).
    pub extra: Vec<(u8, Vec<u8>)>,
    /// (bEndpointAddress, bmAttributes, wMaxPacketSize, bInterval).
    pub endpoints: Vec<(u8, u8, u16, u8)>,
}

/// The bytes of configuration `value` holding `interfaces`, wTotalLength
/// and every bLength right.
pub fn build_config(value: u8, interfaces: &[Interface]) -> Vec<u8> {
    let mut c = vec![9, 2, 0, 0, interfaces.len() as u8, value, 0, 0x80, 50];
    for i in interfaces {
        let (class, subclass, protocol) = i.class;
        let n = i.endpoints.len() as u8;
        c.extend_from_slice(&[9, 4, i.number, i.alternate, n, class, subclass, protocol, 0]);
        for (t, payload) in &i.extra {
            c.push(payload.len() as u8 + 2);
            c.push(*t);
            c.extend_from_slice(payload);
        }
        for &(address, attributes, mps, interval) in &i.endpoints {
            let [lo, hi] = mps.to_le_bytes();
            c.extend_from_slice(&[7, 5, address, attributes, lo, hi, interval]);
        }
    }
    let total = (c.len() as u16).to_le_bytes();
    c[2..4].copy_from_slice(&total);
    c
}

/// What [`usb::find_boot_keyboard`] must answer for `interfaces`, written
/// from the rules in the usb module doc, independently of the parser.
pub fn expected_keyboard(
    value: u8,
    interfaces: &[Interface],
) -> Option<usb::BootKeyboardInterface> {
    for i in interfaces {
        if i.class != (3, 1, 1) || i.alternate != 0 {
            continue;
        }
        for &(endpoint, attributes, max_packet, interval) in &i.endpoints {
            let number = endpoint & 0x7F;
            if endpoint & 0x80 != 0
                && (1..=15).contains(&number)
                && attributes & 3 == 3
                && max_packet & 0x7FF != 0
            {
                return Some(usb::BootKeyboardInterface {
                    configuration: value,
                    interface: i.number,
                    endpoint,
                    max_packet,
                    interval,
                });
            }
        }
    }
    None
}

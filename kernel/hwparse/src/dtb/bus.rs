//! Bus addresses to CPU physical addresses, through the `ranges` of every
//! bus between a node and the root (Devicetree Specification v0.4, 2.3.8;
//! Linux `of_translate_address`).
//!
//! A node's `reg` is an address on its parent's bus. On QEMU `virt` every
//! device sits right under the root, so `reg` is already a CPU address. On
//! a Raspberry Pi 4 the peripherals sit under `/soc`, whose `reg`s are
//! VideoCore bus addresses (`0x7e20_1000` for the PL011) that `/soc`'s
//! `ranges` maps to `0xfe20_1000`; the GIC-400 (`0x4004_1000`) goes through
//! a third entry of the same `ranges` to `0xff84_1000`, and `/emmc2bus` has
//! ranges of its own. Reading such a `reg` as a CPU address reaches nothing.
//!
//! Rules, as Linux's: a bus with an empty `ranges` maps its addresses 1:1; a
//! bus with no `ranges` at all is not memory-mapped (its children's `reg`s
//! cannot be translated: `None`); an address no entry covers cannot be
//! translated either. Cell counts come from the bus (child address and
//! size) and from its parent (parent address); more than two cells keep the
//! low 64 bits (PCI's first cell holds flags).

use fdt::Fdt;
use fdt::node::FdtNode;

use super::path::find;

/// One bus between a node and the root: its `ranges` translate its
/// children's addresses into its parent's address space.
struct Level<'c, 'b, 'a> {
    bus: FdtNode<'b, 'a>,
    /// `#address-cells` of the bus's parent (the width of `ranges`' parent
    /// addresses).
    parent_address_cells: usize,
    up: Option<&'c Level<'c, 'b, 'a>>,
}

/// `n` big-endian cells from `bytes` at cell `*at` (advanced), as the low 64
/// bits; `None` past the end.
fn cells(bytes: &[u8], at: &mut usize, n: usize) -> Option<u64> {
    let mut v = 0u64;
    for _ in 0..n {
        let b = bytes.get(*at * 4..*at * 4 + 4)?;
        v = (v << 32) | u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        *at += 1;
    }
    Some(v)
}

/// `addr` on `bus`'s child side, on its parent's side; `None` when the bus
/// is not memory-mapped or no `ranges` entry covers the address.
fn through(level: &Level<'_, '_, '_>, addr: u64) -> Option<u64> {
    let ranges = level.bus.property("ranges")?;
    if ranges.value.is_empty() {
        return Some(addr);
    }
    let own = level.bus.cell_sizes();
    let (c, p, s) = (own.address_cells, level.parent_address_cells, own.size_cells);
    if c == 0 || c > 3 || p == 0 || p > 3 || s > 2 {
        return None;
    }
    let mut at = 0;
    let entries = ranges.value.len() / (4 * (c + p + s));
    for _ in 0..entries {
        let child = cells(ranges.value, &mut at, c)?;
        let parent = cells(ranges.value, &mut at, p)?;
        let size = cells(ranges.value, &mut at, s)?;
        if addr >= child && addr - child < size {
            return parent.checked_add(addr - child);
        }
    }
    None
}

/// `addr` from `chain`'s innermost bus up to the root.
fn translate(chain: Option<&Level<'_, '_, '_>>, mut addr: u64) -> Option<u64> {
    let mut level = chain;
    while let Some(l) = level {
        addr = through(l, addr)?;
        level = l.up;
    }
    Some(addr)
}

/// Looks for `target` below `node`; `chain` translates addresses on
/// `node`'s own bus (its children's `reg`s). Returns what `f` made of the
/// target and its chain. The blob's depth is bounded by the check
/// (`MAX_DEPTH`), so is this recursion.
fn search<'b, 'a, R>(
    node: FdtNode<'b, 'a>,
    chain: Option<&Level<'_, 'b, 'a>>,
    target: *const u8,
    f: &mut dyn FnMut(Option<&Level<'_, 'b, 'a>>) -> R,
) -> Option<R> {
    let address_cells = node.cell_sizes().address_cells;
    for child in node.children() {
        if child.name.as_ptr() == target {
            return Some(f(chain));
        }
        let below = Level { bus: child, parent_address_cells: address_cells, up: chain };
        if let Some(r) = search(child, Some(&below), target, f) {
            return Some(r);
        }
    }
    None
}

/// The CPU physical address of `addr`, an address on the bus of `node`'s
/// parent (a value of `node`'s `reg`). `None` when the address cannot be
/// translated (see the module doc) or `node` is not in `fdt`.
pub fn to_cpu(fdt: &Fdt<'_>, node: FdtNode<'_, '_>, addr: u64) -> Option<u64> {
    let root = find(fdt, "/")?;
    if node.name.as_ptr() == root.name.as_ptr() {
        return Some(addr);
    }
    search(root, None, node.name.as_ptr(), &mut |chain| translate(chain, addr))?
}

/// `node`'s `reg` entry `index` as a CPU physical range `(start, end)`:
/// translated with [`to_cpu`], `default_size` when the entry has no size.
/// `None` if there is no such entry, it cannot be translated, or its end
/// would pass 2^64.
pub fn reg_cpu(
    fdt: &Fdt<'_>,
    node: FdtNode<'_, '_>,
    index: usize,
    default_size: u64,
) -> Option<(u64, u64)> {
    let r = node.reg()?.nth(index)?;
    let size = r.size.map_or(default_size, |s| s as u64);
    let start = to_cpu(fdt, node, r.starting_address as u64)?;
    Some((start, start.checked_add(size)?))
}

/// How devices on `node`'s bus see CPU memory: the first entry of the
/// parent bus's `dma-ranges` as `(cpu_start, cpu_end, bus_start)`, so a
/// CPU address `a` in `[cpu_start, cpu_end)` is `bus_start + (a -
/// cpu_start)` for the device (the Pi 4's `/soc`: CPU `0..1 GiB` is bus
/// `0xc000_0000..`, what the VideoCore reads a mailbox message from). An
/// empty `dma-ranges` is 1:1 over everything; `None` when the parent has
/// none (or `node` sits right under the root, or the entry does not parse).
pub fn dma_window(fdt: &Fdt<'_>, node: FdtNode<'_, '_>) -> Option<(u64, u64, u64)> {
    let root = find(fdt, "/")?;
    let parent = |chain: Option<&Level<'_, '_, '_>>| {
        let l = chain?;
        let prop = l.bus.property("dma-ranges")?;
        if prop.value.is_empty() {
            return Some((0, u64::MAX, 0));
        }
        let own = l.bus.cell_sizes();
        let (c, p, s) = (own.address_cells, l.parent_address_cells, own.size_cells);
        if c == 0 || c > 3 || p == 0 || p > 3 || s == 0 || s > 2 {
            return None;
        }
        let mut at = 0;
        let bus_start = cells(prop.value, &mut at, c)?;
        let cpu_start = cells(prop.value, &mut at, p)?;
        let size = cells(prop.value, &mut at, s)?;
        Some((cpu_start, cpu_start.checked_add(size)?, bus_start))
    };
    search(root, None, node.name.as_ptr(), &mut |chain| parent(chain))?
}

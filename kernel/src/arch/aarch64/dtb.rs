//! What the kernel reads from the flattened device tree (DTB) the loader
//! passed in x0: RAM, reserved memory, the console UART, the GIC, CPUs, the
//! PSCI conduit and `/chosen/bootargs` (Devicetree Specification v0.4,
//! chapters 3 and 5; Linux `drivers/of/fdt.c`).
//!
//! Rules, so that no machine shape is misread silently:
//!
//! - **No silent drops.** Early boot has no heap, so ranges are copied into
//!   fixed-capacity lists ([`MAX_DTB_RANGES`] entries each), but a list that
//!   overflows counts what it could not keep and boot stops with a message
//!   naming the list and the limit ([`EarlyFacts::overflow`]).
//! - **`status`** is honoured on every node read (`"okay"`/`"ok"` or absent
//!   means enabled; Linux `of_fdt_device_is_available`): memory, reserved
//!   memory, the UART, the GIC, CPUs. QEMU `virt,secure=on` describes the
//!   secure world's PL011 first, with `status = "disabled"`.
//! - **The console** is `/chosen/stdout-path` (a path or an alias, with an
//!   optional `:options` suffix), else the first enabled `arm,pl011`.
//! - **Edited DTBs.** Firmware and boot loaders edit DTBs in place with
//!   libfdt, which leaves `FDT_NOP` tokens where it deleted nodes or
//!   properties (QEMU does this to `/memory` nodes of a `-dtb` file). The
//!   `fdt` crate (0.1.5) stops looking at a node's children at the first
//!   NOP between them, so everything after such a hole was invisible
//!   (`/cpus`, `/chosen`). [`compact_nops`] removes NOP tokens from the
//!   structure block before anything parses it.
//! - **Queries after the early parse** return a [`DtbError`] that names the
//!   node, never a default.

use core::fmt;
use core::sync::atomic::{AtomicU64, Ordering};

use fdt::Fdt;
use fdt::node::FdtNode;

/// Physical address of the DTB (set once by the boot CPU).
static DTB_PHYS: AtomicU64 = AtomicU64::new(0);

pub fn set_phys(phys: u64) {
    DTB_PHYS.store(phys, Ordering::Relaxed);
}

pub fn phys() -> u64 {
    DTB_PHYS.load(Ordering::Relaxed)
}

/// The DTB through the physical-memory window (valid once the final page
/// tables are live; the DTB's pages are never handed to the allocator).
///
/// # Panics
/// If the blob no longer parses (it did at boot, and nothing writes it
/// afterwards), naming the physical address.
pub fn get() -> Fdt<'static> {
    let va = super::mmu::PHYS_OFFSET + phys();
    // SAFETY: the DTB lies in RAM mapped by the window and stays intact for
    // the kernel's life (its range is reported as a boot region).
    match unsafe { Fdt::from_ptr(va as *const u8) } {
        Ok(fdt) => fdt,
        Err(e) => panic!("DTB at {:#x} no longer parses ({e:?})", phys()),
    }
}

/// A DTB query that failed after the early parse succeeded: which node (a
/// path) and what was wrong with it.
#[derive(Clone, Copy, Debug)]
pub struct DtbError {
    /// Path or name of the node, e.g. `/psci` or `cpu@1`.
    pub node: &'static str,
    pub what: &'static str,
}

impl fmt::Display for DtbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DTB error: {}: {}", self.node, self.what)
    }
}

fn err<T>(node: &'static str, what: &'static str) -> Result<T, DtbError> {
    Err(DtbError { node, what })
}

/// FDT structure-block tokens (Devicetree Specification 5.4.1).
const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;
const FDT_MAGIC: u32 = 0xD00D_FEED;

/// Removes every `FDT_NOP` token from the structure block of the DTB at
/// `dtb` (in place) and shrinks `size_dt_struct` to match. Returns how many
/// NOP tokens were removed.
///
/// # Errors
/// A bad magic number, a structure block outside `totalsize`, or a token
/// that runs past the block: the blob is left as far as it was compacted,
/// which is still a valid DTB up to the bad token.
///
/// # Safety
/// `dtb` must point to a DTB of `totalsize` bytes (header field) that
/// nothing else accesses meanwhile, writable if it holds NOP tokens.
pub unsafe fn compact_nops(dtb: *mut u8) -> Result<usize, &'static str> {
    let be32 = |off: usize| -> u32 {
        // SAFETY: callers keep `off + 4` within the blob (checked below);
        // unaligned reads are fine with the MMU on (Normal memory).
        u32::from_be_bytes(unsafe { core::ptr::read_unaligned(dtb.add(off) as *const [u8; 4]) })
    };
    if be32(0) != FDT_MAGIC {
        return Err("bad DTB magic");
    }
    let total = be32(4) as usize;
    let off = be32(8) as usize;
    let version = be32(20);
    // Version 17 headers carry size_dt_struct (offset 36); older ones end
    // the block at FDT_END only.
    let end = if version >= 17 { off.saturating_add(be32(36) as usize) } else { total };
    if total < 40 || off < 40 || end > total || off > end {
        return Err("DTB structure block outside totalsize");
    }
    // SAFETY: [0, total) is the blob (this function's contract).
    let blob = unsafe { core::slice::from_raw_parts_mut(dtb, total) };
    let word = |b: &[u8], at: usize| -> Option<u32> {
        b.get(at..at + 4).map(|w| u32::from_be_bytes([w[0], w[1], w[2], w[3]]))
    };
    let (mut r, mut w, mut removed) = (off, off, 0);
    while r < end {
        let token = word(blob, r).ok_or("DTB token past the structure block")?;
        let len = match token {
            FDT_NOP => {
                r += 4;
                removed += 1;
                continue;
            }
            FDT_BEGIN_NODE => {
                let name = blob.get(r + 4..end).ok_or("DTB node name past the block")?;
                let nul = name.iter().position(|&c| c == 0).ok_or("DTB node name unterminated")?;
                4 + (nul + 1).next_multiple_of(4)
            }
            FDT_PROP => {
                let plen = word(blob, r + 4).ok_or("DTB property past the block")? as usize;
                12 + plen.next_multiple_of(4)
            }
            FDT_END_NODE | FDT_END => 4,
            _ => return Err("unknown DTB token"),
        };
        if r + len > end {
            return Err("DTB token past the structure block");
        }
        if w != r {
            // Only once a NOP was seen: a blob without NOPs is never written
            // (it may sit in memory that must not be, e.g. flash).
            blob.copy_within(r..r + len, w);
        }
        w += len;
        r += len;
        if token == FDT_END {
            break;
        }
    }
    if version >= 17 && removed > 0 {
        blob[36..40].copy_from_slice(&((w - off) as u32).to_be_bytes());
    }
    Ok(removed)
}

/// Capacity of each early range list (RAM banks, reserved ranges, no-map
/// ranges, memreserve entries). Firmware DTBs have dozens of `/memory`
/// nodes; more than this stops the boot with a message naming this limit.
pub const MAX_DTB_RANGES: usize = 128;

/// A fixed-capacity list of physical ranges `(start, end)`, in bytes, end
/// exclusive. A full list keeps counting what it drops ([`Ranges::dropped`]),
/// so the caller can refuse to boot instead of losing memory silently.
pub struct Ranges<const N: usize> {
    items: [(u64, u64); N],
    len: usize,
    dropped: usize,
    /// Non-empty ranges ever pushed (kept or dropped, before any merging).
    pushed: usize,
}

impl<const N: usize> Ranges<N> {
    pub const fn new() -> Self {
        Self { items: [(0, 0); N], len: 0, dropped: 0, pushed: 0 }
    }

    /// Adds a range (empty ones are ignored); a full list counts it in
    /// [`Ranges::dropped`] instead.
    pub fn push(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        self.pushed += 1;
        if self.len == N {
            self.dropped += 1;
            return;
        }
        self.items[self.len] = (start, end);
        self.len += 1;
    }

    pub fn as_slice(&self) -> &[(u64, u64)] {
        &self.items[..self.len]
    }

    /// Ranges that did not fit (0 unless more than `N` were pushed).
    pub fn dropped(&self) -> usize {
        self.dropped
    }

    /// Non-empty ranges pushed so far, kept or dropped, before merging.
    pub fn pushed(&self) -> usize {
        self.pushed
    }

    /// Sorts by start (insertion sort: no allocation, short lists).
    pub fn sort(&mut self) {
        let v = &mut self.items[..self.len];
        for i in 1..v.len() {
            let mut j = i;
            while j > 0 && v[j - 1].0 > v[j].0 {
                v.swap(j - 1, j);
                j -= 1;
            }
        }
    }

    /// Sorts and merges overlapping or touching ranges (contiguous banks,
    /// e.g. one `/memory` node per NUMA node, become one range).
    pub fn normalize(&mut self) {
        self.sort();
        let mut out = 0;
        for i in 0..self.len {
            let (s, e) = self.items[i];
            if out > 0 && s <= self.items[out - 1].1 {
                self.items[out - 1].1 = self.items[out - 1].1.max(e);
            } else {
                self.items[out] = (s, e);
                out += 1;
            }
        }
        self.len = out;
    }
}

/// Facts needed before the final page tables exist.
pub struct EarlyFacts {
    /// RAM from every enabled `device_type = "memory"` node, sorted, merged.
    pub ram: Ranges<MAX_DTB_RANGES>,
    /// Enabled `/reserved-memory` children the kernel may map (but not allocate).
    pub reserved: Ranges<MAX_DTB_RANGES>,
    /// Enabled `/reserved-memory` children with `no-map`: never mapped (secure
    /// firmware memory, where a speculative access could raise an SError).
    pub nomap: Ranges<MAX_DTB_RANGES>,
    /// The memory reservation block (`/memreserve/`).
    pub memreserve: Ranges<MAX_DTB_RANGES>,
    /// Console PL011 registers (physical `(start, end)`), if there is one.
    pub uart: Option<(u64, u64)>,
    /// Why `/chosen/stdout-path` was not used, if it exists and was not.
    pub stdout_path_problem: Option<&'static str>,
    /// Nodes the early parse had to skip, as `(node, what)` (first few):
    /// printed as DTB errors once the console is up.
    pub skipped: [Option<(&'static str, &'static str)>; 4],
    /// GICv2 distributor and CPU interface registers, if the DTB has one.
    pub gicv2: Option<[(u64, u64); 2]>,
    /// Size of the DTB blob (`totalsize`, bytes).
    pub dtb_size: u64,
}

impl EarlyFacts {
    /// Notes a node the early parse skipped (the first four are kept).
    fn skip(&mut self, node: &'static str, what: &'static str) {
        if let Some(slot) = self.skipped.iter_mut().find(|s| s.is_none()) {
            *slot = Some((node, what));
        }
    }

    /// The nodes the early parse skipped, as errors to print.
    pub fn errors(&self) -> impl Iterator<Item = DtbError> + '_ {
        self.skipped.iter().flatten().map(|&(node, what)| DtbError { node, what })
    }

    /// The first list that overflowed: (what it holds, how many ranges the
    /// DTB had for it). Boot must stop then (memory would be lost).
    pub fn overflow(&self) -> Option<(&'static str, usize)> {
        [
            ("RAM banks (/memory nodes)", &self.ram),
            ("/reserved-memory ranges", &self.reserved),
            ("/reserved-memory no-map ranges", &self.nomap),
            ("/memreserve/ entries", &self.memreserve),
        ]
        .into_iter()
        .find(|(_, r)| r.dropped() > 0)
        .map(|(what, r)| (what, r.pushed()))
    }
}

/// `status` absent, `"okay"` or `"ok"` (Linux `of_fdt_device_is_available`).
pub fn enabled(node: FdtNode<'_, '_>) -> bool {
    node.property("status").and_then(|p| p.as_str()).is_none_or(|s| s == "okay" || s == "ok")
}

fn reg_ranges<const N: usize>(node: FdtNode<'_, '_>, out: &mut Ranges<N>) {
    if let Some(regs) = node.reg() {
        for r in regs {
            let start = r.starting_address as u64;
            out.push(start, start + r.size.unwrap_or(0) as u64);
        }
    }
}

fn first_reg(node: FdtNode<'_, '_>) -> Option<(u64, u64)> {
    let r = node.reg()?.next()?;
    let start = r.starting_address as u64;
    Some((start, start + r.size.unwrap_or(0x1000) as u64))
}

fn is_pl011(node: FdtNode<'_, '_>) -> bool {
    node.compatible().is_some_and(|c| c.all().any(|s| s == "arm,pl011"))
}

/// The console UART: `/chosen/stdout-path` when it names an enabled PL011,
/// else the first enabled `arm,pl011`. Also says why stdout-path was not used.
fn console_uart(fdt: &Fdt<'_>) -> (Option<(u64, u64)>, Option<&'static str>) {
    let chosen = fdt.find_node("/chosen");
    let path = chosen
        .and_then(|c| c.property("stdout-path").or_else(|| c.property("linux,stdout-path")))
        .and_then(|p| p.as_str());
    let mut problem = None;
    if let Some(path) = path {
        // "serial0:115200n8" or "/pl011@9000000": the part before ':'.
        let path = path.split(':').next().unwrap_or(path);
        match fdt.find_node(path) {
            None => problem = Some("/chosen/stdout-path names no node"),
            Some(n) if !is_pl011(n) => problem = Some("/chosen/stdout-path is not an arm,pl011"),
            Some(n) if !enabled(n) => problem = Some("/chosen/stdout-path node is disabled"),
            Some(n) => match first_reg(n) {
                Some(r) => return (Some(r), None),
                None => problem = Some("/chosen/stdout-path node has no reg"),
            },
        }
    }
    let uart = fdt.all_nodes().filter(|&n| is_pl011(n) && enabled(n)).find_map(first_reg);
    (uart, problem)
}

/// Reads the early facts (no allocation, no atomics: runs before the LSE check).
pub fn early_facts(fdt: &Fdt<'_>) -> EarlyFacts {
    let mut facts = EarlyFacts {
        ram: Ranges::new(),
        reserved: Ranges::new(),
        nomap: Ranges::new(),
        memreserve: Ranges::new(),
        uart: None,
        stdout_path_problem: None,
        skipped: [None; 4],
        gicv2: None,
        dtb_size: fdt.total_size() as u64,
    };
    for node in fdt.find_node("/").into_iter().flat_map(|root| root.children()) {
        let is_memory = node.property("device_type").and_then(|p| p.as_str()) == Some("memory")
            || node.name == "memory"
            || node.name.starts_with("memory@");
        if is_memory && enabled(node) {
            let full = node.reg().is_some_and(|mut r| r.all(|r| r.size.is_some()));
            if !full {
                facts.skip("/memory", "a memory node without reg (address and size): ignored");
            }
            reg_ranges(node, &mut facts.ram);
        }
    }
    facts.ram.normalize();
    if let Some(rsv) = fdt.find_node("/reserved-memory") {
        for child in rsv.children().filter(|&c| enabled(c)) {
            if child.property("no-map").is_some() {
                reg_ranges(child, &mut facts.nomap);
            } else {
                reg_ranges(child, &mut facts.reserved);
            }
        }
    }
    for r in fdt.memory_reservations() {
        let start = r.address() as u64;
        facts.memreserve.push(start, start + r.size() as u64);
    }
    (facts.uart, facts.stdout_path_problem) = console_uart(fdt);
    let gic_compat = ["arm,cortex-a15-gic", "arm,gic-400", "arm,cortex-a9-gic"];
    if let Some(gic) = fdt.all_nodes().find(|&n| {
        enabled(n) && n.compatible().is_some_and(|c| c.all().any(|s| gic_compat.contains(&s)))
    }) {
        let mut regs = gic.reg().into_iter().flatten();
        if let (Some(d), Some(c)) = (regs.next(), regs.next()) {
            let range = |r: fdt::standard_nodes::MemoryRegion| {
                let start = r.starting_address as u64;
                (start, start + r.size.unwrap_or(0x1000) as u64)
            };
            facts.gicv2 = Some([range(d), range(c)]);
        } else {
            facts.skip("interrupt-controller (GICv2)", "fewer than 2 reg entries: no wfi wake-ups");
        }
    }
    facts
}

/// The root node is compatible with `linux,dummy-virt`: QEMU's `virt` machine.
pub fn is_qemu_virt(fdt: &Fdt<'_>) -> bool {
    fdt.find_node("/")
        .and_then(|root| root.compatible())
        .is_some_and(|c| c.all().any(|s| s == "linux,dummy-virt"))
}

/// `/chosen/bootargs`: `Ok("")` when there is no `/chosen` or no `bootargs`
/// (no command line is a valid choice: the shell).
///
/// # Errors
/// `bootargs` that is not a UTF-8 string.
pub fn bootargs(fdt: &Fdt<'static>) -> Result<&'static str, DtbError> {
    let Some(prop) = fdt.find_node("/chosen").and_then(|c| c.property("bootargs")) else {
        return Ok("");
    };
    match prop.as_str() {
        Some(s) => Ok(s.trim_end_matches('\0').trim()),
        None => err("/chosen", "bootargs is not a UTF-8 string"),
    }
}

/// How the firmware wants PSCI called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciMethod {
    Hvc,
    Smc,
}

/// The `/psci` node: conduit and the CPU_ON function id (PSCI 0.1 names it
/// in a property; 0.2 and later use the standard SMC64 id). Arm DEN0022
/// and Linux `Documentation/devicetree/bindings/arm/psci.yaml`.
///
/// # Errors
/// No `/psci` node, a missing or unknown `method`, or a PSCI 0.1 node
/// without `cpu_on`.
pub fn psci(fdt: &Fdt<'_>) -> Result<(PsciMethod, Option<u32>), DtbError> {
    let Some(node) = fdt.find_node("/psci") else {
        return err("/psci", "no such node (no PSCI: no SMP, no poweroff)");
    };
    let method = match node.property("method").and_then(|p| p.as_str()) {
        Some("hvc") => PsciMethod::Hvc,
        Some("smc") => PsciMethod::Smc,
        Some(_) => return err("/psci", "method is neither \"hvc\" nor \"smc\""),
        None => return err("/psci", "no method property"),
    };
    let v0_2 = node
        .compatible()
        .is_some_and(|c| c.all().any(|s| s != "arm,psci" && s.starts_with("arm,psci")));
    let cpu_on = if v0_2 {
        None
    } else {
        match node.property("cpu_on").and_then(|p| p.as_usize()) {
            Some(v) => Some(v as u32),
            None => return err("/psci", "PSCI 0.1 node without a cpu_on function id"),
        }
    };
    Ok((method, cpu_on))
}

/// One `/cpus/cpu@N` node.
#[derive(Clone, Copy, Debug)]
pub struct CpuNode {
    /// MPIDR affinity value from `reg` (MPIDR layout).
    pub mpidr: u64,
    /// `enable-method` is "psci" (or absent, which we treat as psci).
    pub psci: bool,
}

/// The enabled CPUs described by `/cpus`, up to `N` (the total is returned
/// too, so a caller can say how many it left out).
///
/// # Errors
/// No `/cpus` node, no enabled `cpu` node in it, or a `cpu` node without `reg`.
pub fn cpus<const N: usize>(fdt: &Fdt<'_>) -> Result<([Option<CpuNode>; N], usize), DtbError> {
    let mut out = [None; N];
    let mut total = 0;
    let Some(cpus) = fdt.find_node("/cpus") else {
        return err("/cpus", "no such node");
    };
    for cpu in cpus.children() {
        if cpu.name.split('@').next() != Some("cpu") || !enabled(cpu) {
            continue;
        }
        let Some(reg) = cpu.reg().and_then(|mut r| r.next()) else {
            return err("/cpus/cpu@*", "a cpu node has no reg (MPIDR)");
        };
        let method = cpu.property("enable-method").and_then(|p| p.as_str());
        if total < N {
            out[total] = Some(CpuNode {
                mpidr: reg.starting_address as u64,
                psci: method.is_none_or(|m| m == "psci"),
            });
        }
        total += 1;
    }
    if total == 0 {
        return err("/cpus", "no enabled cpu node");
    }
    Ok((out, total))
}

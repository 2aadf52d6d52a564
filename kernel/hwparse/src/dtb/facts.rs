use core::fmt;

use fdt::Fdt;
use fdt::node::FdtNode;
use fdt::standard_nodes::MemoryRegion;

use super::bus;
use super::path::{find, find_path_or_alias};

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

/// What the early parse notes for a `reg` entry whose end passes 2^64.
const WRAPS: &str = "a reg range wraps past 2^64: ignored";

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

impl<const N: usize> Default for Ranges<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Ranges<N> {
    /// An empty list.
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
    /// Console UART registers (CPU physical `(start, end)`, translated
    /// through the buses' `ranges`), if there is one.
    pub uart: Option<(u64, u64)>,
    /// Which UART [`EarlyFacts::uart`] is.
    pub uart_kind: UartKind,
    /// Why `/chosen/stdout-path` was not used, if it exists and was not.
    pub stdout_path_problem: Option<&'static str>,
    /// Nodes the early parse had to skip, as `(node, what)` (first few):
    /// printed as DTB errors once the console is up.
    pub skipped: [Option<(&'static str, &'static str)>; 4],
    /// GICv2 distributor and CPU interface registers, if the DTB has one.
    pub gicv2: Option<[(u64, u64); 2]>,
    /// GICv3 distributor and up to two redistributor regions (`arm,gic-v3`
    /// `reg`: GICD, then `#redistributor-regions` GICR ranges), if the DTB
    /// has one.
    pub gicv3: Option<GicV3Regs>,
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

/// A RAM node (a child of the root): `device_type = "memory"`, or named
/// `memory` or `memory@...`.
pub fn is_memory_node(node: FdtNode<'_, '_>) -> bool {
    node.property("device_type").and_then(|p| p.as_str()) == Some("memory")
        || node.name == "memory"
        || node.name.starts_with("memory@")
}

/// The kinds of console UART the kernel drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UartKind {
    /// Arm PL011 (`arm,pl011`): QEMU `virt`, the Pi's UART0.
    Pl011,
    /// The Raspberry Pi's mini UART (`brcm,bcm2835-aux-uart`): a 16550-like
    /// register set, one register per 32-bit word (the Pi 4's GPIO 14/15
    /// console in its own device tree's `stdout-path`).
    BcmAux,
}

/// `status` absent, `"okay"` or `"ok"` (Linux `of_fdt_device_is_available`).
pub fn enabled(node: FdtNode<'_, '_>) -> bool {
    node.property("status").and_then(|p| p.as_str()).is_none_or(|s| s == "okay" || s == "ok")
}

/// A `reg` entry as `(start, end)`, `default_size` when it has no size
/// (`#size-cells = <0>`); `None` when the end would pass 2^64 (a range that
/// wraps describes nothing).
fn reg_range(r: MemoryRegion, default_size: u64) -> Option<(u64, u64)> {
    let start = r.starting_address as u64;
    let size = r.size.map_or(default_size, |s| s as u64);
    Some((start, start.checked_add(size)?))
}

/// Pushes every `reg` range of `node` onto `out`; returns how many wrapped
/// past 2^64 and were left out.
fn reg_ranges<const N: usize>(node: FdtNode<'_, '_>, out: &mut Ranges<N>) -> usize {
    let mut wrapped = 0;
    for r in node.reg().into_iter().flatten() {
        match reg_range(r, 0) {
            Some((start, end)) => out.push(start, end),
            None => wrapped += 1,
        }
    }
    wrapped
}

/// The first `reg` range of `node` as CPU physical addresses (a device's
/// registers: one page when the entry has no size), translated through the
/// `ranges` of the buses above it (module `bus`).
fn first_reg(fdt: &Fdt<'_>, node: FdtNode<'_, '_>) -> Option<(u64, u64)> {
    bus::reg_cpu(fdt, node, 0, 0x1000)
}

fn is_pl011(node: FdtNode<'_, '_>) -> bool {
    node.compatible().is_some_and(|c| c.all().any(|s| s == "arm,pl011"))
}

fn uart_kind(node: FdtNode<'_, '_>) -> Option<UartKind> {
    if is_pl011(node) {
        Some(UartKind::Pl011)
    } else if node.compatible().is_some_and(|c| c.all().any(|s| s == "brcm,bcm2835-aux-uart")) {
        Some(UartKind::BcmAux)
    } else {
        None
    }
}

/// A console UART: its registers and kind.
type Console = Option<((u64, u64), UartKind)>;

/// The console UART: `/chosen/stdout-path` when it names an enabled PL011
/// or mini UART, else the first enabled `arm,pl011`. Also says why
/// stdout-path was not used.
fn console_uart(fdt: &Fdt<'_>) -> (Console, Option<&'static str>) {
    let chosen = find(fdt, "/chosen");
    let path = chosen
        .and_then(|c| c.property("stdout-path").or_else(|| c.property("linux,stdout-path")))
        .and_then(|p| p.as_str());
    let mut problem = None;
    if let Some(path) = path {
        // "serial0:115200n8" or "/pl011@9000000": the part before ':'.
        let path = path.split(':').next().unwrap_or(path);
        match find_path_or_alias(fdt, path) {
            None => problem = Some("/chosen/stdout-path names no node (nor an alias of one)"),
            Some(n) if uart_kind(n).is_none() => {
                problem =
                    Some("/chosen/stdout-path is neither an arm,pl011 nor a brcm,bcm2835-aux-uart")
            }
            Some(n) if !enabled(n) => problem = Some("/chosen/stdout-path node is disabled"),
            Some(n) => match (first_reg(fdt, n), uart_kind(n)) {
                (Some(r), Some(kind)) => return (Some((r, kind)), None),
                _ => problem = Some("/chosen/stdout-path node has no reg a CPU can reach"),
            },
        }
    }
    let uart = fdt
        .all_nodes()
        .filter(|&n| is_pl011(n) && enabled(n))
        .find_map(|n| first_reg(fdt, n))
        .map(|r| (r, UartKind::Pl011));
    (uart, problem)
}

/// Reads the early facts (no allocation, no atomics: the boot runs it before
/// it reports an inline-LSE image on a CPU without LSE).
pub fn early_facts(fdt: &Fdt<'_>) -> EarlyFacts {
    let mut facts = EarlyFacts {
        ram: Ranges::new(),
        reserved: Ranges::new(),
        nomap: Ranges::new(),
        memreserve: Ranges::new(),
        uart: None,
        uart_kind: UartKind::Pl011,
        stdout_path_problem: None,
        skipped: [None; 4],
        gicv2: None,
        gicv3: None,
        dtb_size: fdt.total_size() as u64,
    };
    for node in find(fdt, "/").into_iter().flat_map(|root| root.children()) {
        if is_memory_node(node) && enabled(node) {
            let full = node.reg().is_some_and(|mut r| r.all(|r| r.size.is_some()));
            if !full {
                facts.skip("/memory", "a memory node without reg (address and size): ignored");
            }
            if reg_ranges(node, &mut facts.ram) > 0 {
                facts.skip("/memory", WRAPS);
            }
        }
    }
    facts.ram.normalize();
    if let Some(rsv) = find(fdt, "/reserved-memory") {
        for child in rsv.children().filter(|&c| enabled(c)) {
            let list = if child.property("no-map").is_some() {
                &mut facts.nomap
            } else {
                &mut facts.reserved
            };
            if reg_ranges(child, list) > 0 {
                facts.skip("/reserved-memory", WRAPS);
            }
        }
    }
    for r in fdt.memory_reservations() {
        let start = r.address() as u64;
        match start.checked_add(r.size() as u64) {
            Some(end) => facts.memreserve.push(start, end),
            None => facts.skip("/memreserve/", WRAPS),
        }
    }
    let (console, problem) = console_uart(fdt);
    facts.stdout_path_problem = problem;
    if let Some((regs, kind)) = console {
        facts.uart = Some(regs);
        facts.uart_kind = kind;
    }
    let gic_compat = ["arm,cortex-a15-gic", "arm,gic-400", "arm,cortex-a9-gic"];
    if let Some(gic) = fdt.all_nodes().find(|&n| {
        enabled(n) && n.compatible().is_some_and(|c| c.all().any(|s| gic_compat.contains(&s)))
    }) {
        let mut regs = gic.reg().into_iter().flatten();
        let (d, c) = (regs.next(), regs.next());
        // Translated through the buses' ranges (the Pi 4's GIC-400 sits
        // under /soc at bus address 0x4004_1000, CPU address 0xff84_1000).
        if let (Some(d), Some(c)) =
            (bus::reg_cpu(fdt, gic, 0, 0x1000), bus::reg_cpu(fdt, gic, 1, 0x1000))
        {
            facts.gicv2 = Some([d, c]);
        } else if d.is_some() && c.is_some() {
            facts.skip(
                "interrupt-controller (GICv2)",
                "a reg range wraps past 2^64 or is not reachable through the buses' ranges: no wfi wake-ups",
            );
        } else {
            facts.skip("interrupt-controller (GICv2)", "fewer than 2 reg entries: no wfi wake-ups");
        }
    }
    if let Some(gic) = fdt
        .all_nodes()
        .find(|&n| enabled(n) && n.compatible().is_some_and(|c| c.all().any(|s| s == "arm,gic-v3")))
    {
        let regions = gic
            .property("#redistributor-regions")
            .and_then(|p| p.as_usize())
            .unwrap_or(1)
            .clamp(1, GIC_V3_REDIST_REGIONS);
        // Translated through the buses' ranges, as the GICv2's.
        let dist = bus::reg_cpu(fdt, gic, 0, 0x1_0000);
        let mut redist = [None; GIC_V3_REDIST_REGIONS];
        for (i, slot) in redist.iter_mut().enumerate().take(regions) {
            *slot = bus::reg_cpu(fdt, gic, 1 + i, 0x2_0000);
        }
        match (dist, redist[0]) {
            (Some(dist), Some(_)) => facts.gicv3 = Some(GicV3Regs { dist, redist }),
            _ => facts.skip(
                "interrupt-controller (GICv3)",
                "no usable distributor or redistributor reg: no wfi wake-ups",
            ),
        }
    }
    facts
}

/// Redistributor regions [`EarlyFacts::gicv3`] keeps.
pub const GIC_V3_REDIST_REGIONS: usize = 2;

/// A GICv3's register ranges (physical `(start, end)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GicV3Regs {
    /// The distributor (GICD).
    pub dist: (u64, u64),
    /// The redistributor regions (GICR), in `reg` order.
    pub redist: [Option<(u64, u64)>; GIC_V3_REDIST_REGIONS],
}

/// The root node is compatible with `linux,dummy-virt`: QEMU's `virt` machine.
pub fn is_qemu_virt(fdt: &Fdt<'_>) -> bool {
    find(fdt, "/")
        .and_then(|root| root.compatible())
        .is_some_and(|c| c.all().any(|s| s == "linux,dummy-virt"))
}

/// `/chosen/bootargs`: `Ok("")` when there is no `/chosen` or no `bootargs`
/// (no command line is a valid choice: the shell).
///
/// # Errors
/// `bootargs` that is not a UTF-8 string.
pub fn bootargs<'a>(fdt: &Fdt<'a>) -> Result<&'a str, DtbError> {
    let Some(prop) = find(fdt, "/chosen").and_then(|c| c.property("bootargs")) else {
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
    let Some(node) = find(fdt, "/psci") else {
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
    /// `enable-method = "spin-table"`: its `cpu-release-addr` (a physical
    /// address the parked CPU polls), `None` for other methods or when the
    /// property is missing or not 4 or 8 bytes.
    pub release_addr: Option<u64>,
}

/// The enabled CPUs described by `/cpus`, up to `N` (the total is returned
/// too, so a caller can say how many it left out).
///
/// # Errors
/// No `/cpus` node, no enabled `cpu` node in it, or a `cpu` node without `reg`.
pub fn cpus<const N: usize>(fdt: &Fdt<'_>) -> Result<([Option<CpuNode>; N], usize), DtbError> {
    let mut out = [None; N];
    let mut total = 0;
    let Some(cpus) = find(fdt, "/cpus") else {
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
            let release_addr = (method == Some("spin-table"))
                .then(|| cpu.property("cpu-release-addr"))
                .flatten()
                .and_then(|p| match *p.value {
                    [a, b, c, d] => Some(u64::from(u32::from_be_bytes([a, b, c, d]))),
                    [a, b, c, d, e, f, g, h] => Some(u64::from_be_bytes([a, b, c, d, e, f, g, h])),
                    _ => None,
                });
            out[total] = Some(CpuNode {
                mpidr: reg.starting_address as u64,
                psci: method.is_none_or(|m| m == "psci"),
                release_addr,
            });
        }
        total += 1;
    }
    if total == 0 {
        return err("/cpus", "no enabled cpu node");
    }
    Ok((out, total))
}

//! What the kernel reads from the flattened device tree (DTB) the loader
//! passed in x0: RAM, reserved memory, the UART, CPUs, the PSCI conduit and
//! `/chosen/bootargs`. Everything found here is copied into fixed-size
//! arrays, so early boot needs no heap.

use core::sync::atomic::{AtomicU64, Ordering};

use fdt::Fdt;

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
pub fn get() -> Fdt<'static> {
    let va = super::mmu::PHYS_OFFSET + phys();
    // SAFETY: the DTB lies in RAM mapped by the window and stays intact for
    // the kernel's life (its range is reported as a boot region).
    unsafe { Fdt::from_ptr(va as *const u8) }.expect("DTB no longer valid")
}

/// A fixed-capacity list of physical ranges `(start, end)`.
pub struct Ranges<const N: usize> {
    items: [(u64, u64); N],
    len: usize,
}

impl<const N: usize> Ranges<N> {
    pub const fn new() -> Self {
        Self { items: [(0, 0); N], len: 0 }
    }

    /// Adds a range; returns false (and drops it) when full.
    pub fn push(&mut self, start: u64, end: u64) -> bool {
        if start >= end {
            return true;
        }
        if self.len == N {
            return false;
        }
        self.items[self.len] = (start, end);
        self.len += 1;
        true
    }

    pub fn as_slice(&self) -> &[(u64, u64)] {
        &self.items[..self.len]
    }

    /// Sorts by start (insertion sort: no allocation, tiny lists).
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
}

/// Up to this many RAM banks / reserved ranges are kept.
pub const MAX_RANGES: usize = 32;

/// Facts needed before the final page tables exist.
pub struct EarlyFacts {
    /// RAM from every `/memory` node (`device_type = "memory"`), sorted.
    pub ram: Ranges<MAX_RANGES>,
    /// `/reserved-memory` children the kernel may map (but not allocate).
    pub reserved: Ranges<MAX_RANGES>,
    /// `/reserved-memory` children with `no-map`: not even mapped (secure
    /// firmware memory, where a speculative access could fault).
    pub nomap: Ranges<MAX_RANGES>,
    /// The memory reservation block (`/memreserve/`).
    pub memreserve: Ranges<MAX_RANGES>,
    /// PL011 registers (physical `(start, end)`), if the DTB has one.
    pub uart: Option<(u64, u64)>,
    /// GICv2 distributor and CPU interface registers, if the DTB has one.
    pub gicv2: Option<[(u64, u64); 2]>,
    /// Size of the DTB blob.
    pub dtb_size: u64,
}

fn reg_ranges<const N: usize>(node: fdt::node::FdtNode<'_, '_>, out: &mut Ranges<N>) {
    if let Some(regs) = node.reg() {
        for r in regs {
            let start = r.starting_address as u64;
            let _ = out.push(start, start + r.size.unwrap_or(0) as u64);
        }
    }
}

/// Reads the early facts (no allocation, no atomics: runs before the LSE check).
pub fn early_facts(fdt: &Fdt<'_>) -> EarlyFacts {
    let mut facts = EarlyFacts {
        ram: Ranges::new(),
        reserved: Ranges::new(),
        nomap: Ranges::new(),
        memreserve: Ranges::new(),
        uart: None,
        gicv2: None,
        dtb_size: fdt.total_size() as u64,
    };
    for node in fdt.find_node("/").into_iter().flat_map(|root| root.children()) {
        let is_memory = node.property("device_type").and_then(|p| p.as_str()) == Some("memory")
            || node.name == "memory"
            || node.name.starts_with("memory@");
        let disabled = node.property("status").and_then(|p| p.as_str()) == Some("disabled");
        if is_memory && !disabled {
            reg_ranges(node, &mut facts.ram);
        }
    }
    facts.ram.sort();
    if let Some(rsv) = fdt.find_node("/reserved-memory") {
        for child in rsv.children() {
            if child.property("no-map").is_some() {
                reg_ranges(child, &mut facts.nomap);
            } else {
                reg_ranges(child, &mut facts.reserved);
            }
        }
    }
    for r in fdt.memory_reservations() {
        let start = r.address() as u64;
        let _ = facts.memreserve.push(start, start + r.size() as u64);
    }
    if let Some(uart) = fdt.find_compatible(&["arm,pl011"])
        && let Some(mut regs) = uart.reg()
        && let Some(r) = regs.next()
    {
        let start = r.starting_address as u64;
        facts.uart = Some((start, start + r.size.unwrap_or(0x1000) as u64));
    }
    if let Some(gic) =
        fdt.find_compatible(&["arm,cortex-a15-gic", "arm,gic-400", "arm,cortex-a9-gic"])
        && let Some(mut regs) = gic.reg()
        && let (Some(d), Some(c)) = (regs.next(), regs.next())
    {
        let range = |r: fdt::standard_nodes::MemoryRegion| {
            let start = r.starting_address as u64;
            (start, start + r.size.unwrap_or(0x1000) as u64)
        };
        facts.gicv2 = Some([range(d), range(c)]);
    }
    facts
}

/// The root node is compatible with `linux,dummy-virt`: QEMU's `virt` machine.
pub fn is_qemu_virt(fdt: &Fdt<'_>) -> bool {
    fdt.find_node("/")
        .and_then(|root| root.compatible())
        .is_some_and(|c| c.all().any(|s| s == "linux,dummy-virt"))
}

/// `/chosen/bootargs`, or "" when absent.
pub fn bootargs(fdt: &Fdt<'static>) -> &'static str {
    fdt.find_node("/chosen")
        .and_then(|c| c.property("bootargs"))
        .and_then(|p| p.as_str())
        .map(|s| s.trim_end_matches('\0').trim())
        .unwrap_or("")
}

/// How the firmware wants PSCI called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciMethod {
    Hvc,
    Smc,
}

/// The `/psci` node: conduit and the CPU_ON function id (PSCI 0.1 names it
/// in a property; 0.2 and later use the standard SMC64 id).
pub fn psci(fdt: &Fdt<'_>) -> Option<(PsciMethod, Option<u32>)> {
    let node = fdt.find_node("/psci")?;
    let method = match node.property("method")?.as_str()? {
        "hvc" => PsciMethod::Hvc,
        "smc" => PsciMethod::Smc,
        _ => return None,
    };
    let v0_2 = node
        .compatible()
        .is_some_and(|c| c.all().any(|s| s != "arm,psci" && s.starts_with("arm,psci")));
    let cpu_on = if v0_2 {
        None
    } else {
        node.property("cpu_on").and_then(|p| p.as_usize()).map(|v| v as u32)
    };
    Some((method, cpu_on))
}

/// One `/cpus/cpu@N` node.
#[derive(Clone, Copy, Debug)]
pub struct CpuNode {
    /// MPIDR affinity value from `reg` (MPIDR layout).
    pub mpidr: u64,
    /// `enable-method` is "psci" (or absent, which we treat as psci).
    pub psci: bool,
}

/// The CPUs described by `/cpus` (status not "disabled"), up to `N`.
pub fn cpus<const N: usize>(fdt: &Fdt<'_>) -> ([Option<CpuNode>; N], usize) {
    let mut out = [None; N];
    let mut total = 0;
    let Some(cpus) = fdt.find_node("/cpus") else {
        return (out, 0);
    };
    for cpu in cpus.children() {
        if cpu.name.split('@').next() != Some("cpu") {
            continue;
        }
        if cpu.property("status").and_then(|p| p.as_str()).is_some_and(|s| s != "okay" && s != "ok")
        {
            continue;
        }
        let Some(mut regs) = cpu.reg() else { continue };
        let Some(reg) = regs.next() else { continue };
        let method = cpu.property("enable-method").and_then(|p| p.as_str());
        if total < N {
            out[total] = Some(CpuNode {
                mpidr: reg.starting_address as u64,
                psci: method.is_none_or(|m| m == "psci"),
            });
        }
        total += 1;
    }
    (out, total)
}

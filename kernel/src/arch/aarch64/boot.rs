//! First Rust code on the boot CPU (called by entry.s with the MMU on, the
//! image at its link address, TTBR0 identity-mapping the image and the DTB).
//!
//! Order matters: the atomics are chosen first (`atomics::select`, before
//! any other CPU runs); in an inline-LSE build (`LSE=1`) on a CPU without
//! LSE nothing may use an atomic read-modify-write until the console has
//! said why the boot stops, so no locks, no `Once`, no panics if it can be
//! helped before that.

use super::dtb::{self, MAX_DTB_RANGES, Ranges};
use super::{
    atomics, cpu, fallback_console, gic, gicv3, mailbox, mini_uart, mmu, pl011, pm_wdt, power, psci,
};
use crate::arch::ExitStatus;
use crate::bootinfo::{self, BootInfo, MemRegion, RegionKind};
use crate::smp::CPUS;

/// `RegionKind::Firmware` codes for the DTB's reservations.
pub const FW_RESERVED_MEMORY: u32 = 1;
pub const FW_MEMRESERVE: u32 = 2;

#[unsafe(no_mangle)]
extern "C" fn aarch64_primary_main(dtb_phys: u64, kernel_phys: u64) -> ! {
    cpu::set_cpu_index(0);
    // LSE or LL/SC for every atomic read-modify-write from here on (the
    // outline helpers took the LL/SC path until now, fine on any CPU).
    let atomics = atomics::select();
    // Firmware-edited DTBs hold FDT_NOP tokens that the fdt crate trips
    // over (hwparse::dtb): squeeze them out first, then check the whole
    // blob before anything reads it.
    // SAFETY: x0 at entry is the DTB's physical address (booting.rst);
    // entry.s identity-mapped its first 2 MiB and, with a valid header, all
    // `totalsize` bytes, read-write; no other CPU runs; nothing writes the
    // blob afterwards.
    let checked = unsafe { dtb::compact_nops(dtb_phys) }
        .and_then(|nops| Ok((nops, unsafe { dtb::parse_at(dtb_phys) }?)));
    let (nops, early_fdt) = match checked {
        Ok(parsed) => parsed,
        // The blob is malformed; nothing may read it, so it names no console.
        Err(e) => stop_early(
            kernel_phys,
            None,
            format_args!("the DTB at {dtb_phys:#x} is malformed: {e}"),
        ),
    };
    let facts = dtb::early_facts(&early_fdt);
    if let Err(e) = dtb::usable(&early_fdt) {
        let named = facts.stdout_path_problem.is_none();
        stop_early(
            kernel_phys,
            facts.uart.map(|r| (r, facts.uart_kind, named)),
            format_args!("the DTB at {dtb_phys:#x} cannot be booted on: {e}"),
        );
    }
    let dtb_end = dtb_phys + facts.dtb_size;

    // The physical window: RAM (whole pages inside it) minus `no-map`
    // reservations widened outward to whole pages, so no page holding a
    // no-map byte is ever mapped; plus the DTB where it lies outside RAM,
    // and the UART and GIC as devices.
    let mut ram_pages = Ranges::<MAX_DTB_RANGES>::new();
    for &(s, e) in facts.ram.as_slice() {
        ram_pages.push(s.next_multiple_of(PAGE), e & !(PAGE - 1));
    }
    let mut holes = Ranges::<MAX_DTB_RANGES>::new();
    for &(s, e) in facts.nomap.as_slice() {
        holes.push(s & !(PAGE - 1), e.next_multiple_of(PAGE));
    }
    let mut window = subtract(ram_pages.as_slice(), holes.as_slice());
    let dtb_pages = [(dtb_phys & !(PAGE - 1), dtb_end.next_multiple_of(PAGE))];
    for &(s, e) in subtract(&dtb_pages, window.as_slice()).as_slice() {
        window.push(s, e);
    }
    window.sort();
    // The Raspberry Pi's mailbox (framebuffer) and watchdog (reset, power-off).
    let board = dtb::board_devices(&early_fdt);
    let mut devices = Ranges::<8>::new();
    if let Some((s, e)) = facts.uart {
        devices.push(s, e);
    }
    for (s, e) in facts.gicv2.into_iter().flatten() {
        devices.push(s, e);
    }
    if let Some(v3) = facts.gicv3 {
        devices.push(v3.dist.0, v3.dist.1);
        for (s, e) in v3.redist.into_iter().flatten() {
            devices.push(s, e);
        }
    }
    for (s, e) in [board.mailbox, board.pm].into_iter().flatten() {
        devices.push(s, e);
    }
    // SAFETY: boot CPU, no other CPU running yet.
    let root = unsafe { mmu::build(kernel_phys, window.as_slice(), devices.as_slice()) };
    // SAFETY: the new tables map the image exactly like the boot tables;
    // TTBR0 still holds the identity map the switch runs from.
    unsafe { mmu::switch(root) };

    dtb::set_phys(dtb_phys);
    match (facts.uart, facts.uart_kind) {
        (Some((uart, _)), dtb::UartKind::Pl011) => pl011::init(mmu::PHYS_OFFSET + uart),
        (Some((uart, _)), dtb::UartKind::BcmAux) => pl011::init_mini(mmu::PHYS_OFFSET + uart),
        (None, _) => {}
    }
    if let Err(why) = atomics {
        pl011::early_write("\nFATAL: ");
        pl011::early_write(why);
        pl011::early_write("\n");
        power::exit(ExitStatus::Failure);
    }
    // From here on atomics, locks and panics are fine.
    if let Some((what, n)) = facts.overflow() {
        fatal(format_args!(
            "the DTB has {n} {what}; this kernel keeps at most {MAX_DTB_RANGES} \
             (MAX_DTB_RANGES in kernel/hwparse/src/dtb/facts.rs) and will not drop memory silently"
        ));
    }
    if window.dropped() > 0 {
        fatal(format_args!(
            "the physical window needs more than {} ranges (2 * MAX_DTB_RANGES, boot.rs)",
            2 * MAX_DTB_RANGES
        ));
    }
    if nops > 0 {
        println!("dtb: removed {nops} FDT_NOP tokens (a firmware-edited DTB)");
    }
    // No page holding a no-map byte may be mapped: ask the MMU itself (an
    // independent check of the window arithmetic above and of mmu::build).
    for &(s, e) in holes.as_slice() {
        for page in [s, e - PAGE] {
            if let Some(pa) = mmu::virt_to_phys(mmu::PHYS_OFFSET + page) {
                fatal(format_args!(
                    "no-map reserved memory {s:#x}..{e:#x} is mapped (page {pa:#x}) in the window"
                ));
            }
        }
    }
    if !holes.as_slice().is_empty() {
        println!(
            "dtb: {} no-map reserved ranges kept out of the window (whole pages, checked)",
            holes.as_slice().len()
        );
    }
    for e in facts.errors() {
        println!("{e}");
    }
    if let Some(why) = facts.stdout_path_problem {
        println!("DTB error: /chosen: {why}; console on the first enabled arm,pl011");
    }
    if let Some((pm, _)) = board.pm {
        pm_wdt::init(mmu::PHYS_OFFSET + pm);
    }
    if let Some([(gicd, _), (gicc, _)]) = facts.gicv2 {
        gic::init(mmu::PHYS_OFFSET + gicd, mmu::PHYS_OFFSET + gicc);
        gic::init_cpu(0);
        println!(
            "gic: GICv2 distributor at {gicd:#x}, CPU interface at {gicc:#x}: idle CPUs sleep in wfi"
        );
    } else if let Some(v3) = facts.gicv3 {
        let mut redist = [(0, 0); hwparse::dtb::GIC_V3_REDIST_REGIONS];
        for (slot, (s, e)) in redist.iter_mut().zip(v3.redist.into_iter().flatten()) {
            *slot = (mmu::PHYS_OFFSET + s, mmu::PHYS_OFFSET + e);
        }
        gicv3::init(mmu::PHYS_OFFSET + v3.dist.0, &redist);
        gicv3::init_cpu(0);
        if gicv3::can_wake(0) {
            println!(
                "gic: GICv3 distributor at {:#x}, redistributors from {:#x}: idle CPUs sleep in wfi",
                v3.dist.0,
                v3.redist[0].map_or(0, |r| r.0)
            );
        } else {
            println!("gic: GICv3 found but its CPU interface is unusable; idle CPUs spin in wfe");
        }
    }

    let fdt = dtb::get();
    pl011::set_machine(dtb::is_qemu_virt(&fdt));
    match dtb::psci(&fdt) {
        Ok((method, cpu_on)) => psci::init(method, cpu_on),
        // A Raspberry Pi without TF-A: no PSCI, by design.
        Err(_) if board.pm.is_some() => println!(
            "dtb: no /psci; CPUs start from spin tables, reset and power-off use the PM watchdog"
        ),
        Err(e) => println!("{e}"),
    }
    CPUS[0].hw_id.store(cpu::cpu_id(), core::sync::atomic::Ordering::Relaxed);
    if facts.uart.is_none() {
        // Nobody will see this unless a console appears later; say it anyway.
        log::warn!("DTB has no enabled arm,pl011 UART: no console");
    }
    let framebuffer = match (board.mailbox, board.mailbox_dma) {
        (Some((mbox, _)), Some(dma)) => match mailbox::framebuffer(mmu::PHYS_OFFSET + mbox, dma) {
            Ok(fb) => Some(fb),
            Err(why) => {
                println!("mailbox: no framebuffer: {why}");
                None
            }
        },
        (Some(_), None) => {
            println!("DTB error: mailbox: its bus has no dma-ranges; no framebuffer");
            None
        }
        (None, _) => None,
    };

    let cmdline = dtb::bootargs(&fdt).unwrap_or_else(|e| {
        println!("{e}; no command line");
        ""
    });
    let mut info = BootInfo::new("DTB", mmu::PHYS_OFFSET, cmdline);
    info.framebuffer = framebuffer;
    let (kstart, kend) = mmu::kernel_range();
    push_regions(
        &mut info,
        &facts,
        (kernel_phys, kernel_phys + (kend - kstart)),
        (dtb_phys, dtb_end),
    );
    let info = bootinfo::set(info);
    crate::kernel_main(info)
}

const PAGE: u64 = mmu::PAGE_SIZE;

/// The DTB's console for [`stop_early`]: its registers, its kind, and
/// whether the DTB's `stdout-path` named it (false: it is the first
/// enabled PL011, taken because `stdout-path` is broken).
type DtbConsole = Option<((u64, u64), dtb::UartKind, bool)>;

/// Stops a boot whose DTB is malformed or lacks what the kernel needs,
/// after saying why on the earliest consoles there are: the UART the DTB's
/// `stdout-path` names; else every UART of `fallback_console::KNOWN_UARTS`
/// that applies and identifies itself, plus the DTB's first enabled PL011
/// if it has one (a board may have its console on either). With none, the
/// run just ends. Touches no atomics (an inline-LSE image on a CPU without
/// LSE gets here before its own check) and nothing but the image and the
/// UARTs; every write polls a bounded number of times, so a UART that never
/// drains cannot keep the run from ending.
fn stop_early(kernel_phys: u64, dtb_uart: DtbConsole, why: core::fmt::Arguments<'_>) -> ! {
    use fallback_console::Kind;
    // (kind, physical base, whose) for every console to try.
    let mut consoles: [Option<(Kind, u64, &str)>; 4] = [None; 4];
    let mut n = 0;
    if let Some(((base, _), kind, named)) = dtb_uart {
        let (kind, whose) = match (kind, named) {
            (dtb::UartKind::Pl011, true) => (Kind::Pl011, "the PL011 the DTB names"),
            (dtb::UartKind::Pl011, false) => (Kind::Pl011, "the DTB's first enabled PL011"),
            (dtb::UartKind::BcmAux, _) => (Kind::MiniUart, "the mini UART the DTB names"),
        };
        consoles[n] = Some((kind, base, whose));
        n += 1;
    }
    if !matches!(dtb_uart, Some((_, _, true))) {
        for u in fallback_console::candidates(kernel_phys) {
            if n < consoles.len() && !consoles[..n].iter().flatten().any(|c| c.1 == u.base) {
                consoles[n] = Some((u.kind, u.base, u.board));
                n += 1;
            }
        }
    }
    // Each page once (a page mapped twice is a bug `mmu::build` refuses).
    let mut devices = Ranges::<4>::new();
    let mut pages = [(0, 0); 4];
    for (i, &(_, base, _)) in consoles.iter().flatten().enumerate() {
        pages[i] = fallback_console::page(base);
        if !pages[..i].contains(&pages[i]) {
            devices.push(pages[i].0, pages[i].1);
        }
    }
    // SAFETY: boot CPU, no other CPU running, `build` not called before
    // (this path never returns to the normal one).
    let root = unsafe { mmu::build(kernel_phys, &[], devices.as_slice()) };
    // SAFETY: as for the normal switch in `aarch64_primary_main`.
    unsafe { mmu::switch(root) };
    for (i, &(kind, base, whose)) in consoles.iter().flatten().enumerate() {
        let va = mmu::PHYS_OFFSET + base;
        // The DTB's own console is trusted; a guessed one must identify itself.
        if (i > 0 || dtb_uart.is_none()) && !fallback_console::identifies(kind, va) {
            continue;
        }
        if kind == Kind::Pl011 {
            pl011::init(va);
        }
        let mut out = EarlyConsole { kind, va, dead: false };
        let _ = core::fmt::Write::write_fmt(
            &mut out,
            format_args!(
                "\nFATAL: {why}\n(early console: {whose}, {} at {base:#x})\n",
                kind.name()
            ),
        );
    }
    power::exit(ExitStatus::Failure)
}

/// One UART without locks, atomics or console state, giving up on it when
/// its transmitter stays full.
struct EarlyConsole {
    kind: fallback_console::Kind,
    va: u64,
    dead: bool,
}

impl core::fmt::Write for EarlyConsole {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        // About 0.1-1 s of register reads: a byte at 115200 baud takes 87 us.
        const POLLS: u32 = 1 << 20;
        for b in s.bytes() {
            if self.dead {
                break;
            }
            let put = match self.kind {
                fallback_console::Kind::Pl011 => pl011::try_put(self.va, b, POLLS),
                fallback_console::Kind::MiniUart => mini_uart::try_put(self.va, b, POLLS),
            };
            self.dead = !put;
        }
        Ok(())
    }
}

/// Says why the machine cannot be booted and ends the run (failure).
fn fatal(args: core::fmt::Arguments<'_>) -> ! {
    crate::console::emergency_write(format_args!("\nFATAL: {args}\n"));
    power::exit(ExitStatus::Failure)
}

/// Every range of `ranges` minus all `holes` (neither needs to be sorted;
/// the result is in the order of `ranges`). Overflow is counted in the
/// result's `dropped`.
fn subtract(ranges: &[(u64, u64)], holes: &[(u64, u64)]) -> Ranges<{ 2 * MAX_DTB_RANGES }> {
    let mut out = Ranges::new();
    for &(s, e) in ranges {
        // Cut [s, e) by every hole, left to right.
        let mut cur = s;
        let mut sorted = Ranges::<{ 2 * MAX_DTB_RANGES }>::new();
        for &(hs, he) in holes {
            sorted.push(hs.max(s), he.min(e));
        }
        sorted.sort();
        for &(hs, he) in sorted.as_slice() {
            if hs > cur {
                out.push(cur, hs);
            }
            cur = cur.max(he);
        }
        if cur < e {
            out.push(cur, e);
        }
    }
    out
}

/// Fills the memory map: RAM is usable except the kernel image (with its
/// boot page tables and stacks, all in .bss) and the DTB (`Bootloader`) and
/// the DTB's reservations (`Firmware`). Holes are widened to whole pages.
/// Pushed sorted and disjoint, by cutting at every boundary. RAM at or above
/// `mmu::PHYS_WINDOW_SIZE` is left out, with one line saying how much: the
/// window cannot reach it.
fn push_regions(info: &mut BootInfo, facts: &dtb::EarlyFacts, kernel: (u64, u64), dtb: (u64, u64)) {
    const MAX_HOLES: usize = 2 + 3 * MAX_DTB_RANGES;
    let page_out = |(s, e): (u64, u64)| (s & !0xFFF, e.next_multiple_of(0x1000));
    let mut holes: [((u64, u64), RegionKind); MAX_HOLES] =
        [((0, 0), RegionKind::Usable); MAX_HOLES];
    let mut n = 0;
    let mut add = |r: (u64, u64), kind| {
        if n < MAX_HOLES && r.0 < r.1 {
            holes[n] = (page_out(r), kind);
            n += 1;
        }
    };
    add(kernel, RegionKind::Bootloader);
    add(dtb, RegionKind::Bootloader);
    for &r in facts.reserved.as_slice().iter().chain(facts.nomap.as_slice()) {
        add(r, RegionKind::Firmware(FW_RESERVED_MEMORY));
    }
    for &r in facts.memreserve.as_slice() {
        add(r, RegionKind::Firmware(FW_MEMRESERVE));
    }
    let holes = &holes[..n];

    let mut points = [0u64; 2 * (MAX_DTB_RANGES + MAX_HOLES)];
    let mut np = 0;
    for &(s, e) in facts.ram.as_slice() {
        points[np] = s;
        points[np + 1] = e;
        np += 2;
    }
    for &((s, e), _) in holes {
        points[np] = s;
        points[np + 1] = e;
        np += 2;
    }
    let points = &mut points[..np];
    points.sort_unstable();
    let mut beyond_window = 0u64;
    for w in points.windows(2) {
        let (a, b) = (w[0], w[1]);
        if a == b || !facts.ram.as_slice().iter().any(|&(s, e)| s <= a && b <= e) {
            continue;
        }
        let (a, b) = (a, b.min(mmu::PHYS_WINDOW_SIZE.max(a)));
        beyond_window += w[1] - b;
        if a == b {
            continue;
        }
        let covering = |want: fn(RegionKind) -> bool| {
            holes.iter().find(|&&((s, e), k)| want(k) && s <= a && b <= e).map(|&(_, k)| k)
        };
        let kind = covering(|k| k == RegionKind::Bootloader)
            .or_else(|| covering(|k| matches!(k, RegionKind::Firmware(_))))
            .unwrap_or(RegionKind::Usable);
        // push_region merges a touching region of the same kind; anything
        // else needs a slot, and a full table would drop memory.
        let merges = info.regions().last().is_some_and(|l| l.end == a && l.kind == kind);
        if !merges && info.regions().len() == bootinfo::MAX_REGIONS {
            fatal(format_args!(
                "the memory map needs more than {} regions (bootinfo::MAX_REGIONS)",
                bootinfo::MAX_REGIONS
            ));
        }
        info.push_region(MemRegion { start: a, end: b, kind });
    }
    if beyond_window > 0 {
        println!(
            "mm: {} MiB of RAM at and above {:#x} left out: beyond the kernel's physical window",
            beyond_window >> 20,
            mmu::PHYS_WINDOW_SIZE
        );
    }
}

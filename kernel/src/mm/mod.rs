//! The kernel side of memory management: builds the memmap and the buddy
//! zone (crate `mm`) from the boot memory map, feeds the heap from it, and
//! offers page allocation to the rest of the kernel.
//!
//! Boot sequence ([`init`], then [`init_deferred`] once every CPU is up):
//! 1. usable RAM from the firmware map, rounded inward to whole pages; RAM
//!    that one memmap and one zone cannot hold (above 2^48, beyond 4 TiB of
//!    sections, a zone span over 16 TiB: `mm::memmap::usable_end_pfn`) is
//!    left out with one console line;
//! 2. storage for every 2 MiB subsection that has RAM (each 128 MiB
//!    section's window of subsections, see `mm::memmap`) and the section
//!    table, carved from the end of the largest usable range (so it never
//!    sits below 1 MiB);
//! 3. the sections claimed without writing a descriptor
//!    (`MemMap::populate_deferred`); the boot CPU writes the first
//!    [`EARLY_BYTES`] of RAM's descriptors, and one zone spanning all RAM
//!    gets those pages except memory below 1 MiB (the AP trampoline's, and
//!    firmware's habits) and the memmap itself: enough to start the other
//!    CPUs;
//! 4. [`init_deferred`]: every online CPU takes 16 MiB at a time of the
//!    rest, writes its descriptors and hands its pages to the zone (Linux's
//!    deferred struct page init, `deferred_init_memmap`); the time it took
//!    is logged and kept for `meminfo` (docs/mm.md, "Memmap set-up");
//! 5. the heap may grow by whole 4 MiB blocks from the zone.

mod heap_grow;
mod meminfo;

use alloc::vec::Vec;
use core::mem::MaybeUninit;
use core::ops::Range;
use core::sync::atomic::{AtomicUsize, Ordering};

use mm::{MemMap, PAGE_SIZE, Page, Zone};
use spin::Once;

use crate::arch;

pub use meminfo::{meminfo, print_meminfo};

use crate::bootinfo::BootInfo;

/// Memory below this stays out of the page allocator (real-mode trampoline,
/// BIOS data; a few hundred KiB at most).
pub const LOW_MEMORY_END: u64 = 1 << 20;

/// The memmap: `struct page` descriptors of every present section.
pub static MEMMAP: MemMap = MemMap::new();
static ZONE: Once<Zone<'static>> = Once::new();
/// Physical range holding the memmap's descriptors.
static MEMMAP_STORAGE: Once<Range<u64>> = Once::new();
/// Pages handed to the zone at boot.
static BOOT_MANAGED: AtomicUsize = AtomicUsize::new(0);
/// Usable RAM (clamped), for the deferred hand-over.
static USABLE: Once<Vec<Range<usize>>> = Once::new();
/// Bytes of RAM whose descriptors the boot CPU writes before the other
/// CPUs start: what booting them takes (stacks, page tables, the heap)
/// with room to spare; the rest waits for [`init_deferred`].
pub const EARLY_BYTES: usize = 256 << 20;
/// Deferred units (2 MiB subsections) a CPU takes at a time: 16 MiB.
const DEFERRED_BATCH: usize = 8;

/// How the memmap was set up: what `meminfo` and the boot log report.
#[derive(Clone, Copy, Debug)]
pub struct MemmapInit {
    /// Bytes of RAM whose descriptors the boot CPU wrote early.
    pub early_bytes: usize,
    /// Bytes of RAM whose descriptors [`init_deferred`] wrote.
    pub deferred_bytes: usize,
    /// CPUs that ran [`init_deferred`].
    pub cpus: usize,
    /// Time of the early part, µs (boot CPU alone).
    pub early_us: u64,
    /// Wall time of [`init_deferred`], µs.
    pub deferred_us: u64,
    /// The smallest and largest share of the deferred part one CPU did,
    /// bytes (how evenly the work spread).
    pub share_bytes: (usize, usize),
    /// RAM left out at boot (see [`init`]), bytes.
    pub clamped_bytes: u64,
}

impl MemmapInit {
    /// Nothing set up yet (what `Default` gives, usable in a `static`).
    const NONE: MemmapInit = MemmapInit {
        early_bytes: 0,
        deferred_bytes: 0,
        cpus: 0,
        early_us: 0,
        deferred_us: 0,
        share_bytes: (0, 0),
        clamped_bytes: 0,
    };
}

static MEMMAP_INIT: spin::Mutex<MemmapInit> = spin::Mutex::new(MemmapInit::NONE);

/// How the memmap was set up (zeros before [`init`]).
pub fn memmap_init() -> MemmapInit {
    *MEMMAP_INIT.lock()
}

/// The (only) zone.
pub fn zone() -> &'static Zone<'static> {
    ZONE.get().expect("mm not initialised")
}

/// Kernel virtual address of page frame `pfn` (through the physical window).
pub fn pfn_to_virt(pfn: usize) -> *mut u8 {
    crate::bootinfo::get().phys_to_virt((pfn * PAGE_SIZE) as u64)
}

/// Usable RAM as page-frame ranges, rounded inward to whole pages.
fn usable_pfn_ranges(info: &BootInfo) -> Vec<Range<usize>> {
    let page = PAGE_SIZE as u64;
    info.usable()
        .map(|r| (r.start.div_ceil(page) as usize)..((r.end / page) as usize))
        .filter(|r| r.start < r.end)
        .collect()
}

/// `range` minus `hole`, as up to two ranges.
fn subtract(range: Range<usize>, hole: &Range<usize>) -> [Range<usize>; 2] {
    let before = range.start..range.end.min(hole.start);
    let after = range.start.max(hole.end)..range.end;
    [before, after]
}

/// Microseconds since `start` (a cycle counter reading).
fn us_since(start: u64) -> u64 {
    (arch::read_cycles() - start) / arch::cycles_per_us().max(1)
}

/// Drop RAM the memmap and a zone cannot hold (see the module docs), with
/// one line saying how much and why. Returns the bytes left out.
fn clamp_usable(ranges: &mut Vec<Range<usize>>) -> u64 {
    let Some((limit, why)) = mm::memmap::usable_end_pfn(ranges, mm::MAX_ZONE_PAGES) else {
        return 0;
    };
    let before: usize = ranges.iter().map(|r| r.len()).sum();
    for r in ranges.iter_mut() {
        r.end = r.end.min(limit);
        r.start = r.start.min(r.end);
    }
    ranges.retain(|r| r.start < r.end);
    let after: usize = ranges.iter().map(|r| r.len()).sum();
    let left_out = ((before - after) * PAGE_SIZE) as u64;
    println!(
        "mm: {} MiB of RAM at and above {:#x} left out: {why}",
        left_out >> 20,
        (limit * PAGE_SIZE) as u64
    );
    left_out
}

/// Hand `pfns` (a subsection the memmap just made present) to the zone,
/// minus what never goes there (below 1 MiB, the memmap's storage, holes
/// between usable ranges). Returns the pages handed over.
fn hand_over(zone: &Zone<'static>, pfns: Range<usize>) -> usize {
    let storage = MEMMAP_STORAGE.get().cloned().unwrap_or(0..0);
    let storage = (storage.start as usize / PAGE_SIZE)..(storage.end as usize / PAGE_SIZE);
    let low = 0..(LOW_MEMORY_END as usize / PAGE_SIZE);
    let mut managed = 0;
    for r in USABLE.get().expect("usable RAM recorded") {
        let r = r.start.max(pfns.start)..r.end.min(pfns.end);
        if r.start >= r.end {
            continue;
        }
        for a in subtract(r, &low) {
            for b in subtract(a, &storage) {
                if b.start < b.end {
                    managed +=
                        zone.free_memory_range(b.start, b.end).expect("hand RAM to the zone");
                }
            }
        }
    }
    managed
}

/// One unit of the memmap set-up (`MemMap::init_deferred`): its
/// descriptors written and its pages handed to the zone. Returns the bytes
/// of RAM that became present and the pages handed over (zeros for a unit
/// without RAM or done already).
fn init_unit(zone: &Zone<'static>, unit: usize) -> (usize, usize) {
    match MEMMAP.init_deferred(unit) {
        Some(pfns) => (pfns.len() * PAGE_SIZE, hand_over(zone, pfns)),
        None => (0, 0),
    }
}

/// The boot CPU's part of the memory set-up (steps 1-5 of the module docs):
/// the memmap claimed for all usable RAM (clamped to what it holds), the
/// first [`EARLY_BYTES`] initialised and handed to the one zone, the heap's
/// grow hook installed. The rest waits for [`init_deferred`].
///
/// # Panics
/// If the firmware map has no usable RAM, or its largest range cannot hold
/// the memmap's storage (a map the kernel cannot run on at all).
pub fn init(info: &BootInfo) {
    let start = arch::read_cycles();
    let mut ranges = usable_pfn_ranges(info);
    let clamped_bytes = clamp_usable(&mut ranges);
    let bytes = MemMap::bytes_needed(&ranges);
    let pages = bytes.div_ceil(PAGE_SIZE);

    // The memmap's own storage: the top of the largest usable range.
    let largest = ranges.iter().max_by_key(|r| r.len()).expect("no usable RAM").clone();
    assert!(largest.len() > pages, "largest RAM range too small for the memmap");
    let storage_pfns = (largest.end - pages)..largest.end;
    let storage_phys = (storage_pfns.start * PAGE_SIZE) as u64;
    MEMMAP_STORAGE.call_once(|| storage_phys..storage_phys + (pages * PAGE_SIZE) as u64);
    // SAFETY: `storage_pfns` is usable RAM that nothing else uses: the
    // allocator does not exist yet, and these pages are withheld from it
    // (`hand_over`). The window maps it writable; `Page` needs 4-byte
    // alignment (asserted in mm's page.rs) and the storage is page-aligned.
    let storage: &'static mut [MaybeUninit<Page>] = unsafe {
        core::slice::from_raw_parts_mut(
            info.phys_to_virt(storage_phys).cast::<MaybeUninit<Page>>(),
            bytes / size_of::<Page>(),
        )
    };
    MEMMAP.populate_deferred(&ranges, storage).expect("memmap");

    let span =
        ranges.iter().map(|r| r.start).min().unwrap()..ranges.iter().map(|r| r.end).max().unwrap();
    let zone = ZONE.call_once(|| Zone::new("Normal", &MEMMAP, span));
    USABLE.call_once(|| ranges);
    // The early part: units in ascending pfn order until EARLY_BYTES of RAM
    // have descriptors.
    let (mut managed, mut early) = (0, 0);
    let mut unit = 0;
    while early < EARLY_BYTES && unit < MEMMAP.deferred_units() {
        let (bytes, pages) = init_unit(zone, unit);
        early += bytes;
        managed += pages;
        unit += 1;
    }
    BOOT_MANAGED.store(managed, Ordering::Relaxed);
    *MEMMAP_INIT.lock() = MemmapInit {
        early_bytes: early,
        early_us: us_since(start),
        clamped_bytes,
        ..MemmapInit::NONE
    };
    heap_grow::enable();
}

/// The deferred part of the memmap set-up (see the module docs): every
/// online CPU writes the descriptors of 16 MiB at a time and hands the
/// pages to the zone, until none are left. Called once by the boot CPU
/// after the other CPUs are up; logs the time it took.
pub fn init_deferred() {
    let start = arch::read_cycles();
    let next = AtomicUsize::new(0);
    let done_bytes = AtomicUsize::new(0);
    let done_pages = AtomicUsize::new(0);
    let min_share = AtomicUsize::new(usize::MAX);
    let max_share = AtomicUsize::new(0);
    let cpus = AtomicUsize::new(0);
    let units = MEMMAP.deferred_units();
    crate::smp::on_each_cpu(&|_| {
        cpus.fetch_add(1, Ordering::Relaxed);
        let (mut bytes, mut pages) = (0, 0);
        loop {
            // Relaxed: the counter only splits the work; the memmap's own
            // claim makes each unit run once whatever the order.
            let first = next.fetch_add(DEFERRED_BATCH, Ordering::Relaxed);
            if first >= units {
                break;
            }
            for unit in first..(first + DEFERRED_BATCH).min(units) {
                let (b, p) = init_unit(zone(), unit);
                bytes += b;
                pages += p;
            }
        }
        done_bytes.fetch_add(bytes, Ordering::Relaxed);
        done_pages.fetch_add(pages, Ordering::Relaxed);
        min_share.fetch_min(bytes, Ordering::Relaxed);
        max_share.fetch_max(bytes, Ordering::Relaxed);
    });
    // `on_each_cpu` returned: every CPU's share is done (its Acquire pairs
    // with their completion), so the memmap is complete.
    debug_assert!(MEMMAP.fully_initialised());
    BOOT_MANAGED.fetch_add(done_pages.load(Ordering::Relaxed), Ordering::Relaxed);
    let mut m = MEMMAP_INIT.lock();
    m.deferred_bytes = done_bytes.load(Ordering::Relaxed);
    m.cpus = cpus.load(Ordering::Relaxed);
    m.deferred_us = us_since(start);
    m.share_bytes = (min_share.load(Ordering::Relaxed), max_share.load(Ordering::Relaxed));
    let total = m.early_bytes + m.deferred_bytes;
    let gib = total as f64 / (1u64 << 30) as f64;
    println!(
        "mm: memmap of {} MiB RAM: {} MiB early in {} ms, {} MiB on {} CPUs in {} ms ({:.1} ms/GiB; {}..{} MiB per CPU)",
        total >> 20,
        m.early_bytes >> 20,
        m.early_us / 1000,
        m.deferred_bytes >> 20,
        m.cpus,
        m.deferred_us / 1000,
        (m.early_us + m.deferred_us) as f64 / 1000.0 / gib.max(1.0 / 1024.0),
        m.share_bytes.0 >> 20,
        m.share_bytes.1 >> 20,
    );
}

/// Allocates 2^order frozen pages through this CPU's per-CPU list (orders
/// above `mm::PCP_MAX_ORDER` go to the zone) and counts them for `cpus`.
pub fn alloc_frozen_pages(order: usize) -> Option<&'static Page> {
    let cpu = crate::smp::this_cpu();
    let page = zone().alloc_frozen_pages_pcp(cpu.index, order)?;
    cpu.stats.pages_allocated.fetch_add(1 << order, Ordering::Relaxed);
    Some(page)
}

/// Frees a frozen block through this CPU's per-CPU list.
pub fn free_frozen_pages(page: &Page, order: usize) -> Result<(), mm::BadPage> {
    let cpu = crate::smp::this_cpu();
    zone().free_frozen_pages_pcp(cpu.index, page, order)?;
    cpu.stats.pages_freed.fetch_add(1 << order, Ordering::Relaxed);
    Ok(())
}

/// Returns every page cached on per-CPU lists to the zone.
pub fn drain_all_pages() {
    zone().drain_all_pages();
}

/// Pages cached on the per-CPU lists in use (the possible CPUs').
pub fn nr_pcp_pages() -> usize {
    zone().nr_pcp_pages_all()
}

/// Pages handed to the zone at boot.
pub fn boot_managed_pages() -> usize {
    BOOT_MANAGED.load(Ordering::Relaxed)
}

/// Physical range of the memmap's own storage.
pub fn memmap_storage() -> Range<u64> {
    MEMMAP_STORAGE.get().cloned().unwrap_or(0..0)
}

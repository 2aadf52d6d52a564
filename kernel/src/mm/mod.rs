//! The kernel side of memory management: builds the memmap and the buddy
//! zone (crate `mm`) from the boot memory map, feeds the heap from it, and
//! offers page allocation to the rest of the kernel.
//!
//! Boot sequence ([`init`]):
//! 1. usable RAM from the firmware map, rounded inward to whole pages;
//! 2. descriptor storage for every 2 MiB subsection that has RAM (each 128 MiB
//!    section's window of subsections, see `mm::memmap`), carved from the end
//!    of the largest usable range (so it never sits below 1 MiB);
//! 3. every descriptor written FROZEN + reserved by `MemMap::populate`;
//! 4. one zone spanning all RAM gets every usable page except memory below
//!    1 MiB (the AP trampoline's, and firmware's habits) and the memmap itself;
//! 5. the heap may grow by whole 4 MiB blocks from the zone.

mod heap_grow;
mod meminfo;

use alloc::vec::Vec;
use core::mem::MaybeUninit;
use core::ops::Range;
use core::sync::atomic::{AtomicUsize, Ordering};

use mm::{MemMap, PAGE_SIZE, Page, Zone};
use spin::Once;

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

pub fn init(info: &BootInfo) {
    let ranges = usable_pfn_ranges(info);
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
    // below. The window maps it writable; `Page` needs 4-byte alignment
    // (asserted in mm's page.rs) and the storage is page-aligned.
    let storage: &'static mut [MaybeUninit<Page>] = unsafe {
        core::slice::from_raw_parts_mut(
            info.phys_to_virt(storage_phys).cast::<MaybeUninit<Page>>(),
            bytes / size_of::<Page>(),
        )
    };
    MEMMAP.populate(&ranges, storage).expect("memmap");

    let span =
        ranges.iter().map(|r| r.start).min().unwrap()..ranges.iter().map(|r| r.end).max().unwrap();
    let zone = ZONE.call_once(|| Zone::new("Normal", &MEMMAP, span));
    let low = 0..(LOW_MEMORY_END as usize / PAGE_SIZE);
    let mut managed = 0;
    for r in &ranges {
        for a in subtract(r.clone(), &low) {
            for b in subtract(a, &storage_pfns) {
                if b.start < b.end {
                    managed +=
                        zone.free_memory_range(b.start, b.end).expect("hand RAM to the zone");
                }
            }
        }
    }
    BOOT_MANAGED.store(managed, Ordering::Relaxed);
    heap_grow::enable();
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

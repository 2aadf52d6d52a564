//! `meminfo`: where the RAM went, in the spirit of /proc/meminfo.

use mm::PAGE_SIZE;

use crate::bootinfo;

/// Memory accounting in pages (bytes for the memmap).
#[derive(Clone, Copy, Debug)]
pub struct MemInfo {
    /// Usable RAM the firmware reported.
    pub usable_bytes: u64,
    /// Pages the zone manages (handed over at boot).
    pub managed_pages: usize,
    /// Pages free in the zone now.
    pub free_pages: usize,
    /// Pages of the heap's arenas taken from the zone.
    pub heap_pages: usize,
    /// Descriptor storage.
    pub memmap_bytes: usize,
    /// Sections (128 MiB) with descriptors.
    pub memmap_sections: usize,
    /// Subsections (2 MiB) with descriptors: the memmap's granularity.
    pub memmap_subsections: usize,
    /// Bad-page reports so far.
    pub bad_pages: usize,
}

impl MemInfo {
    /// Usable RAM not handed to the zone (below 1 MiB, memmap, partial pages).
    pub fn reserved_bytes(&self) -> u64 {
        self.usable_bytes - (self.managed_pages * PAGE_SIZE) as u64
    }

    /// Share of usable RAM the allocator manages, in percent.
    pub fn managed_percent(&self) -> f64 {
        (self.managed_pages * PAGE_SIZE) as f64 * 100.0 / self.usable_bytes as f64
    }

    /// Memmap size as a share of usable RAM, in percent.
    pub fn memmap_percent(&self) -> f64 {
        self.memmap_bytes as f64 * 100.0 / self.usable_bytes as f64
    }
}

pub fn meminfo() -> MemInfo {
    let zone = super::zone();
    MemInfo {
        usable_bytes: bootinfo::get().usable_bytes(),
        managed_pages: zone.managed_pages(),
        free_pages: zone.nr_free_pages(),
        heap_pages: super::heap_grow::heap_pages(),
        memmap_bytes: super::MEMMAP.overhead_bytes(),
        memmap_sections: super::MEMMAP.nr_present_sections(),
        memmap_subsections: super::MEMMAP.nr_present_subsections(),
        bad_pages: zone.bad_page_count(),
    }
}

pub fn print_meminfo() {
    let m = meminfo();
    let kib = |pages: usize| (pages * PAGE_SIZE) >> 10;
    println!("UsableRAM:   {:>10} kB  (firmware memory map)", m.usable_bytes >> 10);
    println!(
        "Managed:     {:>10} kB  ({:.2}% of usable RAM, in the buddy allocator)",
        kib(m.managed_pages),
        m.managed_percent()
    );
    println!("Free:        {:>10} kB  (zone free lists)", kib(m.free_pages));
    println!("PerCpuLists: {:>10} kB  (free, cached on per-CPU lists)", kib(super::nr_pcp_pages()));
    println!(
        "Reserved:    {:>10} kB  (below 1 MiB, memmap, partial pages)",
        m.reserved_bytes() >> 10
    );
    println!(
        "Memmap:      {:>10} kB  ({:.3}% of usable RAM; {} subsections of 2 MiB in {} sections, {} bytes per page)",
        m.memmap_bytes >> 10,
        m.memmap_percent(),
        m.memmap_subsections,
        m.memmap_sections,
        size_of::<mm::Page>()
    );
    println!(
        "MemmapTable: {:>10} kB  (section table roots and slot chunks)",
        super::MEMMAP.table_bytes() >> 10
    );
    let at = super::memmap_storage();
    println!("MemmapAt:    {:#x}..{:#x} (physical)", at.start, at.end);
    let init = super::memmap_init();
    println!(
        "MemmapInit:  {} MiB early in {} ms, {} MiB deferred on {} CPUs in {} ms",
        init.early_bytes >> 20,
        init.early_us / 1000,
        init.deferred_bytes >> 20,
        init.cpus,
        init.deferred_us / 1000
    );
    if init.clamped_bytes > 0 {
        println!("LeftOut:     {:>10} kB  (RAM the memmap cannot hold)", init.clamped_bytes >> 10);
    }
    println!("HeapPages:   {:>10} kB  (grown from the buddy allocator)", kib(m.heap_pages));
    println!("BadPages:    {:>10}", m.bad_pages);
}

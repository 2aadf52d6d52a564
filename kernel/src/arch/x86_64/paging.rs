//! Read-only page-table walks through the physical-memory window.

use x86_64::registers::control::Cr3;
use x86_64::structures::paging::{PageTable, PageTableFlags};

/// Translates a virtual address with the active page tables (4-level, with
/// 1 GiB and 2 MiB pages), or `None` if it is not mapped.
pub fn virt_to_phys(virt: u64) -> Option<u64> {
    let offset = crate::bootinfo::get().phys_offset;
    let mut table_phys = Cr3::read().0.start_address().as_u64();
    for level in (0..4).rev() {
        let index = ((virt >> (12 + 9 * level)) & 0x1ff) as usize;
        // SAFETY: page tables live in RAM, which the bootloader maps entirely
        // at `offset`; we only read, and tables are not changed concurrently
        // (the kernel never edits the bootloader's mappings).
        let table = unsafe { &*((offset + table_phys) as *const PageTable) };
        let entry = &table[index];
        if !entry.flags().contains(PageTableFlags::PRESENT) {
            return None;
        }
        let page_size = 1u64 << (12 + 9 * level);
        if level == 0 || entry.flags().contains(PageTableFlags::HUGE_PAGE) {
            return Some(entry.addr().as_u64() + (virt & (page_size - 1)));
        }
        table_phys = entry.addr().as_u64();
    }
    None
}

/// Kernel stacks live in their own PML4 slot, each with an unmapped guard
/// page below it, so an overflow faults (and the double-fault handler, on its
/// IST stack, reports it) instead of silently overwriting the neighbour.
mod stacks {
    use core::sync::atomic::{AtomicU64, Ordering};

    use spin::Mutex;
    use x86_64::VirtAddr;
    use x86_64::registers::control::Cr3;
    use x86_64::structures::paging::{
        FrameAllocator, Mapper, OffsetPageTable, Page, PageTable, PageTableFlags, PhysFrame,
        Size4KiB,
    };

    /// Next free virtual address in the stack slot (0 = slot not chosen yet).
    static NEXT: Mutex<u64> = Mutex::new(0);
    /// Frames handed to page tables and stacks, for `meminfo`-style accounting.
    pub static PAGES_USED: AtomicU64 = AtomicU64::new(0);

    /// Frames for stacks and page tables, straight from the buddy allocator
    /// (frozen, owned by the mapping for good).
    struct ZoneFrames;

    // SAFETY: every frame returned is a fresh, exclusively owned page from the zone.
    unsafe impl FrameAllocator<Size4KiB> for ZoneFrames {
        fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
            let zone = crate::mm::zone();
            let page = zone.alloc_frozen_pages(0)?;
            let phys = (zone.page_to_pfn(page) * mm::PAGE_SIZE) as u64;
            // Page tables must start zeroed; stacks do not care.
            // SAFETY: the frame is ours and mapped by the physical window.
            unsafe {
                core::ptr::write_bytes(crate::bootinfo::get().phys_to_virt(phys), 0, mm::PAGE_SIZE)
            };
            PAGES_USED.fetch_add(1, Ordering::Relaxed);
            Some(PhysFrame::containing_address(x86_64::PhysAddr::new(phys)))
        }
    }

    /// An unused upper-half PML4 slot for stacks.
    fn pick_slot(pml4: &PageTable) -> u64 {
        let index =
            (256..512).rev().find(|&i| pml4[i].is_unused()).expect("no free PML4 slot for stacks");
        // Sign-extended canonical address of the slot.
        0xFFFF_0000_0000_0000 | ((index as u64) << 39)
    }

    /// Maps a stack of `pages` pages below a guard page; returns its top.
    pub fn map_kernel_stack(pages: u64) -> Option<u64> {
        let info = crate::bootinfo::get();
        let mut next = NEXT.lock();
        let pml4_phys = Cr3::read().0.start_address().as_u64();
        // SAFETY: the active PML4, reached through the physical window. The
        // NEXT lock serialises all kernel edits of the page tables (this is
        // the only place that edits them), and we only add entries in a slot
        // nobody else uses.
        let pml4 = unsafe { &mut *info.phys_to_virt(pml4_phys).cast::<PageTable>() };
        if *next == 0 {
            *next = pick_slot(pml4);
        }
        let guard = *next;
        let bottom = guard + 4096;
        let top = bottom + pages * 4096;
        // SAFETY: as above; the window maps all physical memory at the offset.
        let mut mapper = unsafe { OffsetPageTable::new(pml4, VirtAddr::new(info.phys_offset)) };
        let flags = PageTableFlags::PRESENT | PageTableFlags::WRITABLE | PageTableFlags::NO_EXECUTE;
        for addr in (bottom..top).step_by(4096) {
            let frame = ZoneFrames.allocate_frame()?;
            let page = Page::<Size4KiB>::containing_address(VirtAddr::new(addr));
            // SAFETY: `page` is in our private slot and not mapped yet; the
            // frame is fresh and exclusively ours.
            unsafe { mapper.map_to(page, frame, flags, &mut ZoneFrames).ok()?.flush() };
        }
        *next = top;
        Some(top)
    }
}

pub use stacks::map_kernel_stack;

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

//! The kernel's own page-table edits on top of the bootloader's tables:
//! read-only walks ([`virt_to_phys`]), guarded kernel stacks
//! ([`map_kernel_stack`]), uncacheable MMIO mappings ([`map_mmio`]), and
//! one edit of the bootloader's own mappings: the memory type (PAT entry)
//! of the framebuffer's pages ([`set_pat_index`], see `super::pat`).
//!
//! Each kind gets its own unused upper-half PML4 slot (512 GiB of virtual
//! space), chosen on first use from the top down. One lock serialises every
//! edit, so two first uses never pick the same slot.

use x86_64::registers::control::Cr3;
use x86_64::registers::model_specific::{Efer, EferFlags};
use x86_64::structures::paging::{PageTable, PageTableFlags};

/// The no-execute bit for the kernel's own mappings, when this CPU has it
/// enabled (EFER.NXE); else no bit. With "Execute Disable" off in a PC's
/// firmware setup, or on a CPU without NX (CPUID 0x8000_0001 EDX bit 20),
/// bit 63 of a page-table entry is reserved and setting it faults.
pub fn nx_flag() -> PageTableFlags {
    if Efer::read().contains(EferFlags::NO_EXECUTE_ENABLE) {
        PageTableFlags::NO_EXECUTE
    } else {
        PageTableFlags::empty()
    }
}

/// The EFER bits an application processor sets on its way to long mode:
/// long mode, and no-execute exactly when the boot CPU runs with it (the
/// page tables the AP shares use bit 63 only then).
pub fn ap_efer_bits() -> u64 {
    let nxe = Efer::read() & EferFlags::NO_EXECUTE_ENABLE;
    (EferFlags::LONG_MODE_ENABLE | nxe).bits()
}

/// Translates a virtual address with the active page tables (4-level, with
/// 1 GiB and 2 MiB pages), or `None` if it is not mapped.
pub fn virt_to_phys(virt: u64) -> Option<u64> {
    let offset = crate::bootinfo::get().phys_offset;
    let mut table_phys = Cr3::read().0.start_address().as_u64();
    for level in (0..4).rev() {
        let index = ((virt >> (12 + 9 * level)) & 0x1ff) as usize;
        // SAFETY: page tables live in RAM, which the bootloader maps entirely
        // at `offset`; we only read, and no entry on the way changes under
        // us (the kernel's only edit of the bootloader's mappings,
        // `set_pat_index`, changes memory-type bits of leaves, not addresses).
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
///
/// MMIO lives in another slot, mapped 4 KiB at a time with caching disabled.
mod kmap {
    use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    use spin::Mutex;
    use x86_64::VirtAddr;
    use x86_64::registers::control::Cr3;
    use x86_64::structures::paging::{
        FrameAllocator, Mapper, OffsetPageTable, Page, PageTable, PageTableFlags, PhysFrame,
        Size4KiB,
    };

    /// Most distinct MMIO ranges [`map_mmio`] keeps (APIC, I/O APIC, a few
    /// device BARs); more is a kernel bug and panics.
    const MAX_MMIO_RANGES: usize = 32;

    /// One mapped MMIO range: page-aligned physical start, length in bytes
    /// (whole pages), kernel virtual start.
    #[derive(Clone, Copy)]
    struct MmioRange {
        phys: u64,
        len: u64,
        virt: u64,
    }

    /// Everything the lock protects: the next free address in each slot
    /// (0 = slot not chosen yet) and the MMIO ranges mapped so far.
    struct State {
        stack_next: u64,
        mmio_next: u64,
        mmio: [MmioRange; MAX_MMIO_RANGES],
        nr_mmio: usize,
    }

    static STATE: Mutex<State> = Mutex::new(State {
        stack_next: 0,
        mmio_next: 0,
        mmio: [MmioRange { phys: 0, len: 0, virt: 0 }; MAX_MMIO_RANGES],
        nr_mmio: 0,
    });
    /// Frames handed to page tables and stacks, for `meminfo`-style accounting.
    pub static PAGES_USED: AtomicU64 = AtomicU64::new(0);

    /// Page tables for the first MMIO mappings, which come before the memory
    /// manager exists (the local APIC is mapped in the arch entry): a PDPT,
    /// a PD and a page table cover the first 2 MiB of the MMIO slot.
    const BOOT_TABLES: usize = 3;
    #[repr(C, align(4096))]
    struct BootTables([[u64; 512]; BOOT_TABLES]);
    static mut BOOT_TABLE_POOL: BootTables = BootTables([[0; 512]; BOOT_TABLES]);
    /// Boot tables handed out so far (only under the STATE lock).
    static BOOT_TABLES_USED: AtomicUsize = AtomicUsize::new(0);

    /// Frames for stacks and page tables: the boot pool first, then straight
    /// from the buddy allocator (frozen, owned by the mapping for good).
    struct ZoneFrames;

    // SAFETY: every frame returned is a fresh, exclusively owned, zeroed page.
    unsafe impl FrameAllocator<Size4KiB> for ZoneFrames {
        fn allocate_frame(&mut self) -> Option<PhysFrame<Size4KiB>> {
            // Relaxed: callers hold the STATE lock, which orders these.
            let used = BOOT_TABLES_USED.load(Ordering::Relaxed);
            let phys = if used < BOOT_TABLES {
                BOOT_TABLES_USED.store(used + 1, Ordering::Relaxed);
                // SAFETY: pool entry `used` is handed out once, here, under
                // the STATE lock; it is zero (static, never written before).
                let table = unsafe { (&raw mut BOOT_TABLE_POOL.0[used]) as u64 };
                super::virt_to_phys(table)?
            } else {
                let zone = crate::mm::zone();
                let page = zone.alloc_frozen_pages(0)?;
                let phys = (zone.page_to_pfn(page) * mm::PAGE_SIZE) as u64;
                // Page tables must start zeroed; stacks do not care.
                // SAFETY: the frame is ours and mapped by the physical window.
                unsafe {
                    core::ptr::write_bytes(
                        crate::bootinfo::get().phys_to_virt(phys),
                        0,
                        mm::PAGE_SIZE,
                    )
                };
                phys
            };
            PAGES_USED.fetch_add(1, Ordering::Relaxed);
            Some(PhysFrame::containing_address(x86_64::PhysAddr::new(phys)))
        }
    }

    /// An unused upper-half PML4 slot.
    fn pick_slot(pml4: &PageTable) -> u64 {
        let index =
            (256..512).rev().find(|&i| pml4[i].is_unused()).expect("no free PML4 slot left");
        // Sign-extended canonical address of the slot.
        0xFFFF_0000_0000_0000 | ((index as u64) << 39)
    }

    /// The active PML4 and a mapper for it; call with the STATE lock held.
    fn active_tables() -> (&'static mut PageTable, u64) {
        let info = crate::bootinfo::get();
        let pml4_phys = Cr3::read().0.start_address().as_u64();
        // SAFETY: the active PML4, reached through the physical window. The
        // STATE lock serialises all kernel edits of the page tables (this
        // module is the only place that edits them), and we only add entries
        // in slots nobody else uses.
        (unsafe { &mut *info.phys_to_virt(pml4_phys).cast::<PageTable>() }, info.phys_offset)
    }

    /// Maps a stack of `pages` pages below a guard page; returns its top.
    pub fn map_kernel_stack(pages: u64) -> Option<u64> {
        let mut state = STATE.lock();
        let (pml4, offset) = active_tables();
        if state.stack_next == 0 {
            state.stack_next = pick_slot(pml4);
        }
        let guard = state.stack_next;
        let bottom = guard + 4096;
        let top = bottom + pages * 4096;
        // SAFETY: as in active_tables; the window maps all RAM at the offset.
        let mut mapper = unsafe { OffsetPageTable::new(pml4, VirtAddr::new(offset)) };
        let flags = PageTableFlags::PRESENT | PageTableFlags::WRITABLE | super::nx_flag();
        for addr in (bottom..top).step_by(4096) {
            let frame = ZoneFrames.allocate_frame()?;
            let page = Page::<Size4KiB>::containing_address(VirtAddr::new(addr));
            // SAFETY: `page` is in our private slot and not mapped yet; the
            // frame is fresh and exclusively ours.
            unsafe { mapper.map_to(page, frame, flags, &mut ZoneFrames).ok()?.flush() };
        }
        state.stack_next = top;
        Some(top)
    }

    /// Maps `len` bytes of device memory at physical `phys` uncacheable and
    /// returns the kernel virtual address of `phys` (byte offset kept).
    ///
    /// Memory type: PCD|PWT with the PAT bit clear selects PAT entry 3,
    /// which is UC (strong uncacheable) in the power-on PAT that the kernel
    /// never reprograms (Intel SDM vol. 3, 11.12.3); the pages are writable
    /// and no-execute. Idempotent: a range inside one mapped before returns
    /// the same addresses (every CPU's local APIC is at the same physical
    /// page). Linux: `ioremap()` / `ioremap_uc()`.
    ///
    /// The bootloader's write-back physical window may still cover the same
    /// range; the kernel never touches MMIO through it (on PCs the MTRRs
    /// make those ranges UC whatever the page tables say).
    ///
    /// # Panics
    /// When `len` is 0, the range wraps, [`MAX_MMIO_RANGES`] ranges are
    /// mapped already, or there is no memory for page tables: all are
    /// driver or boot bugs, and a device reached through a bad mapping
    /// would be worse.
    pub fn map_mmio(phys: u64, len: usize) -> *mut u8 {
        assert!(len > 0, "map_mmio({phys:#x}, 0): empty range");
        let end = phys.checked_add(len as u64).expect("map_mmio: range wraps");
        let mut state = STATE.lock();
        if let Some(r) =
            state.mmio[..state.nr_mmio].iter().find(|r| r.phys <= phys && end <= r.phys + r.len)
        {
            return (r.virt + (phys - r.phys)) as *mut u8;
        }
        assert!(state.nr_mmio < MAX_MMIO_RANGES, "map_mmio: more than {MAX_MMIO_RANGES} ranges");
        let first = phys & !0xfff;
        let pages_len = (end - first).div_ceil(4096) * 4096;
        let (pml4, offset) = active_tables();
        if state.mmio_next == 0 {
            state.mmio_next = pick_slot(pml4);
        }
        let virt = state.mmio_next;
        // SAFETY: as in active_tables.
        let mut mapper = unsafe { OffsetPageTable::new(pml4, VirtAddr::new(offset)) };
        let flags = PageTableFlags::PRESENT
            | PageTableFlags::WRITABLE
            | PageTableFlags::NO_CACHE
            | PageTableFlags::WRITE_THROUGH
            | super::nx_flag();
        for at in (0..pages_len).step_by(4096) {
            let page = Page::<Size4KiB>::containing_address(VirtAddr::new(virt + at));
            let frame = PhysFrame::containing_address(x86_64::PhysAddr::new(first + at));
            // SAFETY: `page` is fresh in our private MMIO slot; `frame` is
            // device memory, which no Rust object aliases.
            unsafe {
                mapper
                    .map_to(page, frame, flags, &mut ZoneFrames)
                    .expect("map_mmio: no memory for page tables")
                    .flush()
            };
        }
        // A guard page between ranges: an overrun faults instead of
        // reaching the next device.
        state.mmio_next = virt + pages_len + 4096;
        let n = state.nr_mmio;
        state.mmio[n] = MmioRange { phys: first, len: pages_len, virt };
        state.nr_mmio += 1;
        (virt + (phys - first)) as *mut u8
    }

    /// The PAT bit of a 4 KiB PTE (bit 7, where larger pages have PS).
    const PAT_4K: u64 = 1 << 7;
    /// The PAT bit of a 2 MiB or 1 GiB leaf (bit 12, the lowest address bit
    /// those never use).
    const PAT_LARGE: u64 = 1 << 12;
    const PWT: u64 = 1 << 3;
    const PCD: u64 = 1 << 4;

    /// The leaf entry that maps `virt`, and whether it is a 4 KiB PTE (its
    /// PAT bit is bit 7) or a larger page (bit 12). Call with the lock held.
    fn leaf_entry(pml4: &mut PageTable, offset: u64, virt: u64) -> Option<(&mut u64, bool)> {
        let mut table: *mut PageTable = pml4;
        for level in (0..4).rev() {
            let index = ((virt >> (12 + 9 * level)) & 0x1ff) as usize;
            // SAFETY: `table` is the active PML4 or a table an entry of the
            // tables above points to, reached through the physical window;
            // the STATE lock (held by the caller) serialises edits, and a
            // `u64` is a page-table entry's layout.
            let entry = unsafe { &mut *table.cast::<u64>().add(index) };
            let flags = PageTableFlags::from_bits_truncate(*entry);
            if !flags.contains(PageTableFlags::PRESENT) {
                return None;
            }
            if level == 0 {
                return Some((entry, true));
            }
            if flags.contains(PageTableFlags::HUGE_PAGE) {
                return Some((entry, false));
            }
            let next = *entry & 0x000f_ffff_ffff_f000;
            table = (offset + next) as *mut PageTable;
        }
        None
    }

    /// Why [`set_pat_index`] left a range alone.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum PatError {
        /// A page of the range is not mapped.
        NotMapped(u64),
        /// A page of the range is part of a 2 MiB or 1 GiB page, whose type
        /// would change memory outside the range too.
        LargePage(u64),
    }

    /// Makes the 4 KiB pages covering `len` bytes at `virt` use PAT entry
    /// `index` (0-7: PAT bit, PCD, PWT), editing the existing leaf entries in
    /// place (the bootloader maps the framebuffer with 4 KiB pages) and
    /// flushing them from this CPU's TLB. Checks every page first and
    /// changes nothing if one is unmapped or inside a larger page.
    ///
    /// Only this CPU's TLB is flushed: call before the other CPUs start
    /// (the boot CPU does, for the framebuffer), or they may keep the old
    /// type cached. The PAT must already hold the wanted type in `index`
    /// on every CPU that will use the range (see `super::pat`).
    pub fn set_pat_index(virt: u64, len: usize, index: usize) -> Result<usize, PatError> {
        assert!(index < 8, "set_pat_index: PAT index {index}");
        let first = virt & !0xfff;
        let end = virt.saturating_add(len as u64);
        let _state = STATE.lock();
        let (pml4, offset) = active_tables();
        for page in (first..end).step_by(4096) {
            match leaf_entry(pml4, offset, page) {
                None => return Err(PatError::NotMapped(page)),
                Some((_, false)) => return Err(PatError::LargePage(page)),
                Some(_) => {}
            }
        }
        let bits = (if index & 4 != 0 { PAT_4K } else { 0 })
            | (if index & 2 != 0 { PCD } else { 0 })
            | (if index & 1 != 0 { PWT } else { 0 });
        let mut pages = 0;
        for page in (first..end).step_by(4096) {
            if let Some((entry, true)) = leaf_entry(pml4, offset, page) {
                *entry = (*entry & !(PAT_4K | PCD | PWT)) | bits;
                x86_64::instructions::tlb::flush(VirtAddr::new(page));
                pages += 1;
            }
        }
        Ok(pages)
    }

    /// The PAT entry (0-7) the page mapping `virt` uses, if mapped.
    pub fn pat_index(virt: u64) -> Option<usize> {
        let _state = STATE.lock();
        let (pml4, offset) = active_tables();
        let (entry, small) = leaf_entry(pml4, offset, virt)?;
        let pat = if small { PAT_4K } else { PAT_LARGE };
        Some(
            usize::from(*entry & pat != 0) * 4
                + usize::from(*entry & PCD != 0) * 2
                + usize::from(*entry & PWT != 0),
        )
    }

    /// Page-table flags of the page that maps `virt` (any size), if mapped.
    /// The `x86_64` crate reads bit 7 of a 4 KiB PTE as "huge page", so a
    /// page with the PAT bit set ([`set_pat_index`]) reads as not mapped
    /// here: ask [`pat_index`] about those.
    pub fn leaf_flags(virt: u64) -> Option<PageTableFlags> {
        use x86_64::structures::paging::mapper::{Translate, TranslateResult};
        let _state = STATE.lock();
        let (pml4, offset) = active_tables();
        // SAFETY: as in active_tables; read only.
        let mapper = unsafe { OffsetPageTable::new(pml4, VirtAddr::new(offset)) };
        match mapper.translate(VirtAddr::new(virt)) {
            TranslateResult::Mapped { flags, .. } => Some(flags),
            _ => None,
        }
    }
}

pub use kmap::{PatError, leaf_flags, map_kernel_stack, map_mmio, pat_index, set_pat_index};

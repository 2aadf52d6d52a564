//! Memory the controller reads and writes: whole pages, kept for good.
//!
//! Rings, contexts and buffers are each one zeroed page from the kernel's
//! page allocator (a page is the controller's alignment and boundary rule
//! for all of them, xHCI 6.1, so no finer allocator is needed), reached
//! through the physical-memory window. A controller without 64-bit
//! addressing gets pages below 4 GiB or an error. Pages are never freed:
//! the driver lives as long as the kernel, and a page the controller might
//! still write must not go back to the allocator.
//!
//! x86 DMA is cache coherent, so accesses are volatile (the controller
//! changes the memory behind the compiler's back) and a fence before each
//! doorbell write is all the ordering the controller needs.

use alloc::vec::Vec;

use super::{Error, PAGE};

/// One zeroed page of DMA memory: physical address for the controller,
/// virtual address for the kernel.
#[derive(Clone, Copy)]
pub(super) struct Dma {
    pub(super) phys: u64,
    pub(super) virt: *mut u8,
}

impl Dma {
    /// Allocates a zeroed page; below 4 GiB when the controller lacks
    /// 64-bit addressing (`ac64` false).
    pub(super) fn page(ac64: bool) -> Result<Dma, Error> {
        let page = crate::mm::alloc_frozen_pages(0).ok_or("out of memory for DMA")?;
        let pfn = crate::mm::zone().page_to_pfn(page);
        let phys = (pfn * mm::PAGE_SIZE) as u64;
        if !ac64 && phys + PAGE as u64 > 1 << 32 {
            // The page is ours and unused; a failed free only leaks it.
            let _ = crate::mm::free_frozen_pages(page, 0);
            return Err("no DMA memory below 4 GiB for a 32-bit controller".into());
        }
        let virt = crate::mm::pfn_to_virt(pfn);
        // SAFETY: a fresh page owned by us, mapped by the physical window.
        unsafe { core::ptr::write_bytes(virt, 0, PAGE) };
        Ok(Dma { phys, virt })
    }

    pub(super) fn write_u64(&self, index: usize, value: u64) {
        assert!(index < PAGE / 8);
        // SAFETY: inside our page; volatile because the controller reads it.
        unsafe { self.virt.cast::<u64>().add(index).write_volatile(value) };
    }

    /// Zeroes the first `len` bytes (at most a page).
    pub(super) fn clear(&self, len: usize) {
        // SAFETY: inside our page; the controller does not write it while
        // no transfer into it is queued.
        unsafe { core::ptr::write_bytes(self.virt, 0, len.min(PAGE)) };
    }

    pub(super) fn read_u8(&self, offset: usize) -> u8 {
        assert!(offset < PAGE);
        // SAFETY: inside our page; volatile because the controller writes it.
        unsafe { self.virt.add(offset).read_volatile() }
    }

    /// A copy of the first `len` bytes (at most a page), for parsers that
    /// take a slice: the copy cannot change under them.
    pub(super) fn read(&self, len: usize) -> Vec<u8> {
        (0..len.min(PAGE)).map(|i| self.read_u8(i)).collect()
    }
}

//! Heap growth from the buddy allocator: when every heap arena is full the
//! heap asks for one more max-order block (4 MiB). Those blocks stay with the
//! heap for good (frozen, owned by it), like Linux's slab pages would if they
//! were never shrunk.

use core::sync::atomic::{AtomicUsize, Ordering};

use mm::{MAX_ORDER, PAGE_SIZE};

/// Pages given to the heap so far.
static HEAP_PAGES: AtomicUsize = AtomicUsize::new(0);

const GROW_ORDER: usize = MAX_ORDER;

pub fn enable() {
    // SAFETY: `grow` returns blocks fresh from the zone, frozen (owned
    // exclusively by the caller) and never freed, so the heap owns them for
    // the rest of the kernel's life.
    unsafe { crate::heap::set_grow_hook(grow) };
}

/// Runs under the heap lock: must not allocate from the heap (the zone and
/// its bad-page log path do not).
fn grow(min_bytes: usize) -> Option<(*mut u8, usize)> {
    let bytes = PAGE_SIZE << GROW_ORDER;
    if min_bytes > bytes {
        return None;
    }
    let zone = super::zone();
    let page = zone.alloc_frozen_pages(GROW_ORDER)?;
    let pfn = zone.page_to_pfn(page);
    HEAP_PAGES.fetch_add(1 << GROW_ORDER, Ordering::Relaxed);
    Some((super::pfn_to_virt(pfn), bytes))
}

pub fn heap_pages() -> usize {
    HEAP_PAGES.load(Ordering::Relaxed)
}

//! Architecture-free physical memory manager.
//!
//! This crate knows nothing about CPUs, page tables or boot protocols: it
//! manages *page frame numbers* (pfns) and their descriptors. The kernel maps a
//! pfn to a virtual address itself.
//!
//! * [`Page`] — the per-frame descriptor (Linux's `struct page`, 16 bytes).
//! * [`refcount`] — the frozen-bit page refcount (`Frozen`) and the classic
//!   "zero is dead" scheme (`Legacy`), both always compiled so they can be
//!   measured side by side; [`DefaultScheme`] is what the kernel uses.
//! * [`MemMap`] — the sparse memmap: 128 MiB sections of descriptors paid for
//!   per 2 MiB subsection, storage supplied by the caller.
//! * [`Zone`] — the buddy allocator (`free_area[0..=MAX_ORDER]`) with
//!   `alloc_frozen_pages`, `alloc_pages`, `free_frozen_pages`, `put_page`,
//!   misuse detection ([`BadPage`]) and `/proc/buddyinfo` output.
//! * [`FrozenPages`] / [`PageRef`] — the safe owning handles.
//!
//! Kernel bring-up, in order:
//! 1. compute usable RAM as pfn ranges;
//! 2. [`MemMap::bytes_needed`]`(&ranges)` tells how much descriptor storage the
//!    present sections need; carve it from usable RAM (through the kernel's
//!    own physical-memory mapping) as a `&'static mut [MaybeUninit<Page>]`;
//! 3. `MEMMAP.populate(&ranges, storage)` on a `static MEMMAP: MemMap =
//!    MemMap::new();` initialises every descriptor to FROZEN + reserved;
//! 4. `Zone::new("Normal", &MEMMAP, span)` (kept in e.g. a
//!    `spin::Once<Zone<'static>>`), then `zone.free_memory_range(start, end)`
//!    for every usable range minus what the kernel keeps (kernel image, the
//!    memmap storage, page tables, low memory...): pages not handed over
//!    simply stay reserved;
//! 5. allocate with `alloc_pages` / `alloc_frozen_pages` (or the handles
//!    `Zone::alloc` / `Zone::alloc_frozen`), map `pfn << PAGE_SHIFT` yourself.
//!
//! See `README.md` next to `Cargo.toml` for the design notes (the refcount
//! states, the six races and why the put path is safe against ABA).
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

#[cfg(any(test, feature = "std"))]
extern crate std;

/// Unit tests: instantiate each generic test `fn name<S: RefcountScheme>()`
/// of the invoking module once per scheme, as `frozen::name` and
/// `legacy::name` (the integration tests have the same macro in
/// `tests/common`); attributes written before a name (e.g.
/// `#[cfg_attr(miri, ignore)]`) go on both. Defined before the modules so
/// that all of them see it. (Not under loom: no unit test module is.)
#[cfg(all(test, not(loom)))]
macro_rules! both_schemes {
    ($($(#[$attr:meta])* $name:ident),* $(,)?) => {
        mod frozen {
            $( $(#[$attr])* #[test] fn $name() { super::$name::<$crate::refcount::Frozen>() } )*
        }
        mod legacy {
            $( $(#[$attr])* #[test] fn $name() { super::$name::<$crate::refcount::Legacy>() } )*
        }
    };
}

pub mod buddy;
pub mod handle;
pub mod memmap;
pub mod page;
pub mod refcount;
pub mod sync;
#[cfg(any(test, feature = "std"))]
pub mod testing;

pub use buddy::{
    BadPage, BadPageReason, BuddyInfo, MemRangeError, NR_CPUS, PCP_BATCH, PCP_HIGH, PCP_MAX_ORDER,
    Zone, ZoneStats,
};
pub use handle::{FrozenPages, PageRef};
pub use memmap::{MemMap, MemMapError, SectionStorage};
pub use page::{Page, PageFlags};
pub use refcount::{
    DefaultScheme, Frozen, Legacy, MAX_COUNT, MAX_REF_NR, RefcountBug, RefcountBugKind,
    RefcountScheme, get_page, get_page_unless_frozen, init_page_count, page_count,
    page_ref_add_unless_frozen, page_ref_count_raw, page_ref_freeze, page_ref_sub_and_test,
    page_ref_unfreeze, set_page_count_frozen,
};

/// log2 of the page size.
pub const PAGE_SHIFT: usize = 12;
/// Size of a page frame in bytes (4 KiB).
pub const PAGE_SIZE: usize = 1 << PAGE_SHIFT;
/// Largest buddy order: `free_area[0..=MAX_ORDER]`, blocks of up to
/// 2^10 pages = 4 MiB (Linux's `MAX_PAGE_ORDER`).
pub const MAX_ORDER: usize = 10;
/// Number of free lists (orders `0..=MAX_ORDER`).
pub const NR_ORDERS: usize = MAX_ORDER + 1;

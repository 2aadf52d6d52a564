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
//! Test support, hidden from the docs: `for_each_scheme!` (a test per
//! scheme) and `rand` (the one PRNG of the tests and benchmarks).
//!
//! Kernel bring-up, in order:
//! 1. compute usable RAM as pfn ranges, cut where
//!    [`memmap::usable_end_pfn`] says one memmap and one zone stop;
//! 2. [`MemMap::bytes_needed`]`(&ranges)` tells how much storage the present
//!    sections need (descriptors and section table); carve it from usable
//!    RAM (through the kernel's own physical-memory mapping) as a
//!    `&'static mut [MaybeUninit<Page>]`;
//! 3. `MEMMAP.populate(&ranges, storage)` on a `static MEMMAP: MemMap =
//!    MemMap::new();` initialises every descriptor to FROZEN + reserved (or
//!    `populate_deferred`, then `init_deferred(unit)` from every CPU, each
//!    unit's pages handed to the zone as it becomes present);
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

/// Instantiate tests once per refcount scheme: the one list of schemes the
/// unit tests, the integration tests and the loom models all go through, so a
/// new scheme is one line here (in `__for_each_scheme_list!`).
///
/// Two forms:
///
/// * `for_each_scheme!(name_a, #[cfg_attr(miri, ignore)] name_b)`: each
///   generic `fn name<S: RefcountScheme>()` of the invoking module becomes a
///   `#[test]` per scheme, `frozen::name_a`, `legacy::name_a`, ...; attributes
///   written before a name go on every instance.
/// * `for_each_scheme! { |S| items }`: the items (tests, `proptest!` blocks,
///   tests that pass arguments) are written out once per scheme, in a module
///   named after it that sees the invoking module (`use super::*`) and where
///   `S` names the scheme's type.
///
/// Test support, not API: hidden from the docs and compiled only for the
/// crate's own tests and with the `std` feature (which the integration tests
/// enable).
#[cfg(any(test, feature = "std"))]
#[doc(hidden)]
#[macro_export]
macro_rules! for_each_scheme {
    (|$S:ident| $($items:tt)*) => {
        $crate::__for_each_scheme_list!(|$S| $($items)*);
    };
    ($($(#[$attr:meta])* $name:ident),* $(,)?) => {
        $crate::for_each_scheme! { |S|
            $( $(#[$attr])* #[test] fn $name() { super::$name::<S>() } )*
        }
    };
}

/// The schemes [`for_each_scheme!`] goes through: module name and type.
#[cfg(any(test, feature = "std"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __for_each_scheme_list {
    (|$S:ident| $($items:tt)*) => {
        // The default scheme and legacy, always; the other layouts unless
        // built with `--cfg mm_two_schemes` (make test's quick Miri run,
        // scripts/test.sh; `make miri` runs them all).
        $crate::__scheme_module!(frozen_mid, $crate::refcount::FrozenMid, |$S| $($items)*);
        $crate::__scheme_module!(legacy, $crate::refcount::Legacy, |$S| $($items)*);
        #[cfg(not(mm_two_schemes))]
        $crate::__scheme_module!(frozen, $crate::refcount::Frozen, |$S| $($items)*);
        #[cfg(not(mm_two_schemes))]
        $crate::__scheme_module!(frozen_mid_direct, $crate::refcount::FrozenMidDirect, |$S| $($items)*);
        #[cfg(not(mm_two_schemes))]
        $crate::__scheme_module!(frozen_low, $crate::refcount::FrozenLow, |$S| $($items)*);
        #[cfg(not(mm_two_schemes))]
        $crate::__scheme_module!(live_high, $crate::refcount::LiveHigh, |$S| $($items)*);
        #[cfg(not(mm_two_schemes))]
        $crate::__scheme_module!(live_low, $crate::refcount::LiveLow, |$S| $($items)*);
        #[cfg(not(mm_two_schemes))]
        $crate::__scheme_module!(legacy_optimistic, $crate::refcount::LegacyOptimistic, |$S| $($items)*);
        #[cfg(not(mm_two_schemes))]
        $crate::__scheme_module!(frozen_direct, $crate::refcount::FrozenDirect, |$S| $($items)*);
        #[cfg(not(mm_two_schemes))]
        $crate::__scheme_module!(frozen_low_direct, $crate::refcount::FrozenLowDirect, |$S| $($items)*);
        #[cfg(not(mm_two_schemes))]
        $crate::__scheme_module!(live_high_direct, $crate::refcount::LiveHighDirect, |$S| $($items)*);
        #[cfg(not(mm_two_schemes))]
        $crate::__scheme_module!(live_low_direct, $crate::refcount::LiveLowDirect, |$S| $($items)*);
    };
}

/// One scheme's module of [`for_each_scheme!`].
#[cfg(any(test, feature = "std"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __scheme_module {
    ($module:ident, $scheme:ty, |$S:ident| $($items:tt)*) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            type $S = $scheme;
            $($items)*
        }
    };
}

pub mod buddy;
pub mod handle;
pub mod memmap;
pub mod page;
#[doc(hidden)]
pub mod rand;
pub mod refcount;
pub mod sync;
#[cfg(any(test, feature = "std"))]
pub mod testing;

pub use buddy::{
    BadPage, BadPageReason, BuddyInfo, MAX_ZONE_PAGES, MemRangeError, NR_CPUS, PCP_BATCH, PCP_HIGH,
    PCP_MAX_ORDER, Zone, ZoneError, ZoneStats,
};
pub use handle::{FrozenPages, PageRef};
pub use memmap::{MemMap, MemMapError};
pub use page::{Page, PageFlags};
pub use refcount::{
    DefaultScheme, Frozen, FrozenBit, FrozenDirect, FrozenLow, FrozenLowDirect, FrozenMid,
    FrozenMidDirect, Legacy, LegacyOptimistic, LiveHigh, LiveHighDirect, LiveLow, LiveLowDirect,
    MAX_COUNT, MAX_REF_NR, RefcountBug, RefcountBugKind, RefcountScheme, ZeroDead, get_page,
    get_page_unless_frozen, init_page_count, page_count, page_ref_add_unless_frozen,
    page_ref_count_raw, page_ref_freeze, page_ref_sub_and_test, page_ref_unfreeze,
    set_page_count_frozen,
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

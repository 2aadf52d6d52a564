//! Host-only helpers: memmaps and zones on leaked heap storage.
//!
//! Compiled for the crate's own unit tests and with the `std` feature (which
//! the integration tests enable); never part of the kernel build. Storage is
//! leaked on purpose: descriptors must be `'static`, exactly as in the kernel.
//! Every leaked allocation is also recorded in a static ([`keep`]): Miri's leak
//! checker ignores memory reachable from statics, so `cargo miri test` needs
//! no `-Zmiri-ignore-leaks`.

use crate::buddy::Zone;
use crate::memmap::MemMap;
use crate::page::Page;
use crate::refcount::RefcountScheme;
use core::mem::MaybeUninit;
use core::ops::Range;
use core::sync::atomic::AtomicPtr;
use std::boxed::Box;
use std::sync::Mutex;
use std::vec::Vec;

static LEAKED: Mutex<Vec<AtomicPtr<u8>>> = Mutex::new(Vec::new());

/// Record a deliberately leaked allocation so it stays reachable from a
/// static (see the module docs).
pub fn keep<T: ?Sized>(p: *const T) {
    LEAKED.lock().unwrap().push(AtomicPtr::new(p.cast::<u8>().cast_mut()));
}

/// Fresh uninitialised storage for one hotplugged section
/// ([`MemMap::hotplug_pages`]), leaked.
pub fn section_storage() -> &'static mut [MaybeUninit<Page>] {
    storage(MemMap::<crate::DefaultScheme>::hotplug_pages())
}

/// Fresh uninitialised storage of `pages` descriptors, leaked.
pub fn storage(pages: usize) -> &'static mut [MaybeUninit<Page>] {
    let storage: &'static mut [MaybeUninit<Page>] = Box::leak(Box::new_uninit_slice(pages));
    keep(storage as *const [MaybeUninit<Page>]);
    storage
}

/// A leaked memmap whose present sections cover `ranges` (pfn ranges).
pub fn memmap<S: RefcountScheme>(ranges: &[Range<usize>]) -> &'static MemMap<S> {
    let mm: &'static MemMap<S> = Box::leak(Box::new(MemMap::new()));
    keep(mm);
    let n = crate::memmap::bytes_needed(ranges) / core::mem::size_of::<Page>();
    mm.populate(ranges, storage(n)).expect("populate");
    mm
}

/// A zone named "Normal" over a fresh memmap, spanning from the lowest to the
/// highest pfn of `ranges`, with every range handed to the buddy allocator.
pub fn zone<S: RefcountScheme>(ranges: &[Range<usize>]) -> Zone<'static, S> {
    let mm = memmap::<S>(ranges);
    let start = ranges.iter().map(|r| r.start).min().unwrap_or(0);
    let end = ranges.iter().map(|r| r.end).max().unwrap_or(0);
    let zone = Zone::new("Normal", mm, start..end);
    for r in ranges {
        zone.free_memory_range(r.start, r.end).expect("free_memory_range");
    }
    zone
}

//! The kernel heap behind `alloc` (Box, Vec, String, ...).
//!
//! It starts on a static arena in .bss so `alloc` works before the page
//! allocator exists; when every arena is full, it asks the memory manager
//! for a block from the buddy allocator through the hook installed with
//! [`set_grow_hook`] and adds it as a new arena (see `mm::heap_grow`).
//! `linked_list_allocator::Heap` manages one contiguous range, so each arena is
//! its own `Heap` and a pointer is freed into the arena that contains it.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::ptr::{self, NonNull};

use linked_list_allocator::Heap;
use spin::Mutex;

/// Size of the static boot arena.
pub const BOOT_ARENA_SIZE: usize = 4 << 20;
/// Arena slots: the boot arena plus grown ones.
const MAX_ARENAS: usize = 64;

#[repr(C, align(4096))]
struct BootArena(UnsafeCell<[u8; BOOT_ARENA_SIZE]>);

// SAFETY: the arena's bytes are only ever reached through the heap, which is
// behind a mutex; nothing else takes a reference to them.
unsafe impl Sync for BootArena {}

static BOOT_ARENA: BootArena = BootArena(UnsafeCell::new([0; BOOT_ARENA_SIZE]));

struct Arena {
    heap: Heap,
    start: usize,
    end: usize,
}

/// Asked for more memory when every arena is full: returns a fresh `(ptr, len)`.
type GrowFn = fn(min_bytes: usize) -> Option<(*mut u8, usize)>;

struct Arenas {
    arenas: [Option<Arena>; MAX_ARENAS],
    grow: Option<GrowFn>,
}

// SAFETY: the raw pointers inside `Heap` refer to memory owned by the heap
// alone; all access is serialised by the mutex around `Arenas`.
unsafe impl Send for Arenas {}

pub struct KernelHeap(Mutex<Arenas>);

#[global_allocator]
static HEAP: KernelHeap =
    KernelHeap(Mutex::new(Arenas { arenas: [const { None }; MAX_ARENAS], grow: None }));

/// Statistics for `meminfo` and the heap tests.
#[derive(Clone, Copy, Debug, Default)]
pub struct HeapStats {
    pub arenas: usize,
    pub size: usize,
    pub used: usize,
}

impl Arenas {
    /// # Safety
    /// `[start, start + len)` must be valid, writable memory owned by nobody else
    /// for the rest of the kernel's life.
    unsafe fn add(&mut self, start: *mut u8, len: usize) -> bool {
        let Some(slot) = self.arenas.iter_mut().find(|a| a.is_none()) else {
            return false;
        };
        // SAFETY: forwarded from this function's contract.
        let heap = unsafe { Heap::new(start, len) };
        *slot = Some(Arena { heap, start: start as usize, end: start as usize + len });
        true
    }

    fn alloc(&mut self, layout: Layout) -> *mut u8 {
        for arena in self.arenas.iter_mut().flatten() {
            if let Ok(p) = arena.heap.allocate_first_fit(layout) {
                return p.as_ptr();
            }
        }
        ptr::null_mut()
    }
}

// SAFETY: `alloc` returns null or a block from one arena's
// `allocate_first_fit`, which fits `layout` (size and alignment) and overlaps
// no other live block of that arena; arenas are disjoint (each is memory
// handed over once, `add`'s contract) and never removed, so the block stays
// valid until `dealloc` gives it back to the arena that contains it. Every
// arena is reached only under the mutex, so concurrent calls cannot hand out
// one block twice. Neither method unwinds: the kernel's targets abort on
// panic.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut arenas = self.0.lock();
        let p = arenas.alloc(layout);
        if !p.is_null() {
            return p;
        }
        // Every arena is full: ask the page allocator for more, with room for
        // the allocation's alignment and the allocator's own bookkeeping.
        let want = layout.size() + layout.align() + 64;
        if let Some(grow) = arenas.grow
            && let Some((start, len)) = grow(want)
        {
            // SAFETY: `grow` hands over a fresh block that nothing else uses
            // (the contract of `set_grow_hook`).
            if unsafe { arenas.add(start, len) } {
                return arenas.alloc(layout);
            }
        }
        ptr::null_mut()
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let mut arenas = self.0.lock();
        let addr = ptr as usize;
        let arena = arenas
            .arenas
            .iter_mut()
            .flatten()
            .find(|a| (a.start..a.end).contains(&addr))
            .expect("heap: dealloc of a pointer outside every arena");
        // SAFETY: `ptr` lies in this arena and was returned by its
        // `allocate_first_fit` with the same layout (GlobalAlloc's contract).
        unsafe { arena.heap.deallocate(NonNull::new_unchecked(ptr), layout) };
    }
}

/// Hands the static boot arena to the heap. Called once, first thing.
pub fn init() {
    let mut arenas = HEAP.0.lock();
    if arenas.arenas.iter().any(Option::is_some) {
        return;
    }
    // SAFETY: BOOT_ARENA is used by nothing but the heap, and `init` adds it once.
    let ok = unsafe { arenas.add(BOOT_ARENA.0.get().cast(), BOOT_ARENA_SIZE) };
    assert!(ok);
}

/// Lets the heap grow by asking `grow` for memory when it is full.
///
/// # Safety
/// Every region `grow` returns must be valid, writable, unused memory that
/// belongs to the heap for the rest of the kernel's life.
pub unsafe fn set_grow_hook(grow: GrowFn) {
    HEAP.0.lock().grow = Some(grow);
}

pub fn stats() -> HeapStats {
    let arenas = HEAP.0.lock();
    let mut s = HeapStats::default();
    for a in arenas.arenas.iter().flatten() {
        s.arenas += 1;
        s.size += a.heap.size();
        s.used += a.heap.used();
    }
    s
}

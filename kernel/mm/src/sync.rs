//! The one place the crate takes its atomics from.
//!
//! Under `--cfg loom` the page descriptor's atomics are loom's, so the loom
//! models in `tests/loom.rs` run the *real* refcount code and loom explores
//! its interleavings and memory orderings. Everything that is part of the
//! refcount / page-state protocol must use these types, never
//! `core::sync::atomic` directly.
//!
//! (The memmap's section table is the exception: it must live in a `static`,
//! which loom atomics cannot, and it is not part of the protocol being
//! modelled. See `memmap.rs`.)

#[cfg(loom)]
pub use loom::sync::atomic::{AtomicU32, AtomicUsize, Ordering, fence};

#[cfg(not(loom))]
pub use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering, fence};

/// A plain atomic store of a refcount that concurrent speculative gets may
/// `fetch_add` to (unfreeze, init_page_count, set_page_count_frozen).
///
/// Under loom it is a `swap`: loom 0.7 lets a plain store land between the
/// read and the write of another thread's read-modify-write
/// (tokio-rs/loom#254, fix pending), reporting histories the memory model
/// forbids, e.g. a failed get's `fetch_add` that reads FROZEN and writes
/// FROZEN+1 *after* the owner's `unfreeze(1)`, erasing it. A swap is itself an
/// RMW, which loom orders correctly; value and ordering are unchanged, and the
/// real build keeps the cheaper store.
#[inline(always)]
pub(crate) fn store_refcount(c: &AtomicU32, v: u32, order: Ordering) {
    #[cfg(loom)]
    c.swap(v, order);
    #[cfg(not(loom))]
    c.store(v, order);
}

/// How a waiter of a lock passes time. In the kernel the holder runs with
/// interrupts off, so spinning (`spin_loop` hint) is right. Host tests run
/// more threads than cores; a descheduled holder would then make every waiter
/// burn its whole time slice, so with `std` the waiter yields instead (a
/// spin-then-yield mix was slower: docs/decisions/host-lock-waiters-yield.md).
/// Lock semantics are identical.
#[cfg(not(loom))]
pub(crate) struct LockRelax;

#[cfg(not(loom))]
impl spin::relax::RelaxStrategy for LockRelax {
    #[inline]
    fn relax() {
        #[cfg(any(test, feature = "std"))]
        std::thread::yield_now();
        #[cfg(not(any(test, feature = "std")))]
        core::hint::spin_loop();
    }
}

/// The zone lock and the per-CPU page lists' locks: a plain test-and-set
/// spinlock (why not a ticket lock: docs/decisions/zone-lock-test-and-set.md).
#[cfg(not(loom))]
pub(crate) type SpinLock<T> = spin::mutex::SpinMutex<T, LockRelax>;

/// Under loom the zone and per-CPU locks are loom's mutex: a spin on a
/// non-loom atomic would never yield to loom's scheduler, and loom must see
/// the lock's acquire/release to order the data it protects. Same `lock()`
/// shape as the spinlock (the guard, no poisoning).
#[cfg(loom)]
pub(crate) struct SpinLock<T>(loom::sync::Mutex<T>);

#[cfg(loom)]
impl<T> SpinLock<T> {
    pub(crate) fn new(v: T) -> Self {
        Self(loom::sync::Mutex::new(v))
    }

    pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
        self.0.lock().unwrap()
    }
}

//! A reusable spinning barrier (sense-reversing), for tests and benchmarks
//! that must start or check something on all CPUs at the same moment.

use core::sync::atomic::{AtomicUsize, Ordering};

pub struct Barrier {
    parties: usize,
    waiting: AtomicUsize,
    generation: AtomicUsize,
}

impl Barrier {
    pub const fn new(parties: usize) -> Self {
        Self { parties, waiting: AtomicUsize::new(0), generation: AtomicUsize::new(0) }
    }

    /// Blocks until `parties` callers have arrived; returns true for exactly
    /// one of them (the last to arrive), like std's `is_leader`.
    pub fn wait(&self) -> bool {
        // Acquire: read the generation before arriving so we wait for the
        // right one even if the barrier is reused at once.
        let gen_before = self.generation.load(Ordering::Acquire);
        // AcqRel: our writes before the barrier are published to, and the
        // others' writes are visible to, whoever passes the barrier.
        if self.waiting.fetch_add(1, Ordering::AcqRel) + 1 == self.parties {
            self.waiting.store(0, Ordering::Relaxed);
            // Release: publishes the reset and every arrival's writes.
            self.generation.fetch_add(1, Ordering::Release);
            return true;
        }
        while self.generation.load(Ordering::Acquire) == gen_before {
            core::hint::spin_loop();
        }
        false
    }
}

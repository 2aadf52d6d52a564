//! The benchmark workloads, each defined once and driven by two harnesses.
//!
//! A [`Workload`] is a few variants of one operation that are compared: the
//! frozen-bit refcount against the legacy CAS loop, per-CPU lists against the
//! zone lock against a peer allocator. It says what an op is ([`Meta`]),
//! runs ops on one thread or CPU until its driver says stop
//! ([`Workload::run`]), and checks afterwards that nothing was lost
//! ([`Workload::check`]).
//!
//! Two drivers time them:
//!
//! * `bench-host` (std threads on the host's real cores, alternating trials,
//!   medians and per-trial ratios), which stops a run after a fixed time;
//! * the kernel's `bench` boot mode (`kernel/src/bench`, the first `n` online
//!   CPUs, the cycle counter), which stops a run after [`Meta::kernel_ops`]
//!   ops or its time budget.
//!
//! Both run the same code on the same kind of state ([`Env`]): zones of
//! [`ZONE_PAGES`] pages (one per refcount scheme, and one more of the
//! default scheme for the allocator workloads) over descriptors on the heap
//! (the frames are never touched), and the peer over the same number of
//! abstract frames. A thread of rank `r` uses per-CPU list index `r`: the
//! lists are the zones' own, not the running kernel's, so a driver may run a
//! rank on any CPU. The workloads are `no_std` + `alloc`; where a thread must
//! wait for another it calls the driver's [`Env::relax`].

#![no_std]
#![warn(missing_docs)]

extern crate alloc;

mod alloc_bench;
mod refcount;

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use buddy_system_allocator::FrameAllocator;
use mm::memmap::{MemMap, PAGES_PER_SECTION};
use mm::{FrozenMid, Page, RefcountScheme, Zone};

pub use alloc_bench::{AllocPut, CrossFree, HANDOFF, Mixed, Order0, WINDOW};
pub use refcount::{FinalPut, OwnPage, PageCacheRead, SharedPage};

/// Ops a run does between two questions to its driver whether to go on:
/// keeps the question (an indirect call, a flag load or a clock read) off
/// the profile.
pub const CHUNK: u64 = 64;

/// Pages per zone: two memmap sections (256 MiB of abstract frames; only the
/// 1 MiB of descriptors is touched). Holds every workload's peak at
/// [`NR_CPUS`](mm::NR_CPUS) threads.
pub const ZONE_PAGES: usize = 2 * PAGES_PER_SECTION;

/// A value on its own 128-byte slot (two 64-byte lines: the adjacent-line
/// prefetcher pulls pairs in), so per-thread state never shares a line
/// (docs/decisions/per-cpu-slots-128-bytes.md).
#[repr(align(128))]
#[derive(Default)]
pub struct Padded<T>(pub T);

impl<T> core::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// A [`Workload`]'s constant description.
pub struct Meta {
    /// Short name (KTAP case, file names, JSON keys).
    pub name: &'static str,
    /// What one op is, for the tables.
    pub title: &'static str,
    /// Variant names, in table order.
    pub variants: &'static [&'static str],
    /// Ratios to report: `(numerator, denominator)` variant indexes, each a
    /// cost ratio (`> 1`: the denominator is faster). The first is the one
    /// the in-kernel table shows.
    pub ratios: &'static [(usize, usize)],
    /// Ops per CPU of one in-kernel measurement (the host runs for a fixed
    /// time instead). Sized so that a TCG run of every CPU count stays
    /// within minutes.
    pub kernel_ops: u64,
}

/// One benchmark: a few variants of the same operation that are compared.
pub trait Workload: Sync {
    /// What the workload is called and reports.
    fn meta(&self) -> &'static Meta;
    /// Short name (file names, JSON keys).
    fn name(&self) -> &'static str {
        self.meta().name
    }
    /// Variant names, in table order.
    fn variants(&self) -> &'static [&'static str] {
        self.meta().variants
    }
    /// The loop of thread `rank` (`0..n`) for `variant`: runs ops in chunks
    /// of [`CHUNK`] while `go(ops done so far)` says so, and returns how many
    /// ran. Use [`run_until`] for the loop.
    fn run(&self, variant: usize, rank: usize, n: usize, go: &dyn Fn(u64) -> bool) -> u64;
    /// Called after a run's threads are done: the invariants (references
    /// back where they were, no page lost, no op failed).
    ///
    /// # Errors
    ///
    /// What is broken, in words; the driver aborts the benchmark.
    fn check(&self, variant: usize, n: usize) -> Result<(), String>;
}

/// Runs `op` in chunks of [`CHUNK`] while `go(ops so far)`; returns the ops.
#[inline(always)]
pub fn run_until(go: &dyn Fn(u64) -> bool, mut op: impl FnMut()) -> u64 {
    let mut ops = 0;
    while go(ops) {
        for _ in 0..CHUNK {
            op();
        }
        ops += CHUNK;
    }
    ops
}

/// The peer allocator as both drivers share it.
pub type Peer = spin::Mutex<FrameAllocator<32>>;

/// Shared state: the two zones, the peer, a failure counter.
pub struct Env {
    /// One zone per refcount scheme, in the variant order of the refcount
    /// workloads (`alloc_put`).
    pub zones: [&'static dyn SchemeZone; refcount::SCHEMES.len()],
    /// The zone of the kernel's default scheme, FROZEN mid-range: the
    /// allocator workloads.
    pub zm: &'static Zone<'static, FrozenMid>,
    /// The peer, over [`ZONE_PAGES`] abstract frames.
    pub peer: Padded<Peer>,
    /// What a thread calls while it waits for another (std: yield the
    /// thread; kernel: a spin-loop hint).
    pub relax: fn(),
    failures: Padded<AtomicU64>,
}

/// A zone named "Bench" of [`ZONE_PAGES`] pages over its own memmap, whose
/// descriptors live on the heap, leaked: zones are `'static` as in the
/// kernel, and a driver builds one [`Env`] per process or boot.
fn leaked_zone<S: RefcountScheme>() -> &'static Zone<'static, S> {
    let ranges = [0..ZONE_PAGES];
    let map: &'static MemMap<S> = Box::leak(Box::new(MemMap::new()));
    // Descriptors and section table, in descriptor-sized units.
    let units = mm::memmap::bytes_needed(&ranges).div_ceil(core::mem::size_of::<Page>());
    let storage: &'static mut [MaybeUninit<Page>] = Box::leak(Box::new_uninit_slice(units));
    map.populate(&ranges, storage).expect("a fresh memmap takes one span");
    let zone = Box::leak(Box::new(Zone::new("Bench", map, 0..ZONE_PAGES)));
    zone.free_memory_range(0, ZONE_PAGES).expect("a fresh zone takes its own span");
    zone
}

impl Env {
    /// Builds the zones (13 MiB of descriptors on the heap, leaked) and the
    /// peer. `relax` is what a waiting thread calls.
    ///
    /// # Panics
    ///
    /// If the heap cannot hold the descriptors.
    pub fn new(relax: fn()) -> Self {
        let mut peer = FrameAllocator::<32>::new();
        peer.add_frame(0, ZONE_PAGES);
        Env {
            zones: refcount::per_scheme!(|S| leaked_zone::<S>() as &'static dyn SchemeZone),
            zm: leaked_zone(),
            peer: Padded(spin::Mutex::new(peer)),
            relax,
            failures: Padded(AtomicU64::new(0)),
        }
    }

    /// Records `n` failed operations (once per thread per run: no
    /// contention).
    fn fail(&self, n: u64) {
        if n != 0 {
            // Relaxed: a count read after the run's threads are joined.
            self.failures.fetch_add(n, Relaxed);
        }
    }

    fn take_failures(&self) -> Result<(), String> {
        match self.failures.swap(0, Relaxed) {
            0 => Ok(()),
            n => Err(format!("{n} operations failed")),
        }
    }

    /// Every page of `z` is free or cached on a per-CPU list.
    fn all_pages_back<S: RefcountScheme>(z: &Zone<'_, S>) -> Result<(), String> {
        let cached = z.nr_pcp_pages_all();
        let free = z.nr_free_pages() + cached;
        if free == ZONE_PAGES { Ok(()) } else { Err(format!("{free} of {ZONE_PAGES} pages back")) }
    }
}

/// What a workload that compares schemes needs of a zone, whatever its
/// scheme: the zones of [`Env::zones`] differ in type.
pub trait SchemeZone: Sync {
    /// `alloc_pages_pcp(cpu, 0)` + the final `put_page_pcp` that frees, in
    /// chunks while `go` says so; returns (ops, failed ops).
    fn alloc_put(&self, cpu: usize, go: &dyn Fn(u64) -> bool) -> (u64, u64);
    /// Every page is free or cached on a per-CPU list.
    ///
    /// # Errors
    ///
    /// How many pages are back, when not all are.
    fn all_pages_back(&self) -> Result<(), String>;
}

impl<S: RefcountScheme> SchemeZone for Zone<'static, S> {
    fn alloc_put(&self, cpu: usize, go: &dyn Fn(u64) -> bool) -> (u64, u64) {
        let mut bad = 0;
        let ops = run_until(go, || match self.alloc_pages_pcp(cpu, 0) {
            Some(p) => bad += u64::from(self.put_page_pcp(cpu, p) != Ok(true)),
            None => bad += 1,
        });
        (ops, bad)
    }
    fn all_pages_back(&self) -> Result<(), String> {
        Env::all_pages_back(self)
    }
}

/// Every workload's [`Meta`], in report order (the same as [`all`]'s): what a
/// report needs to read results without building the workloads.
pub const METAS: &[&Meta] = &[
    &SharedPage::META,
    &PageCacheRead::META,
    &OwnPage::META,
    &FinalPut::META,
    &AllocPut::META,
    &Order0::META,
    &Mixed::META,
    &CrossFree::META,
];

/// Every workload, in report order; `max_threads` sizes the per-thread state
/// (at most [`NR_CPUS`](mm::NR_CPUS)).
pub fn all(env: &Env, max_threads: usize) -> Vec<Box<dyn Workload + '_>> {
    alloc::vec![
        Box::new(SharedPage::new(env)),
        Box::new(PageCacheRead::new(env)),
        Box::new(OwnPage::new(env, max_threads)),
        Box::new(FinalPut::new(env, max_threads)),
        Box::new(AllocPut::new(env)),
        Box::new(Order0::new(env)),
        Box::new(Mixed::new(env)),
        Box::new(CrossFree::new(env, max_threads)),
    ]
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn metas_list_every_workload_in_order() {
        let env = Env::new(std::thread::yield_now);
        let names: Vec<&str> = all(&env, 1).iter().map(|w| w.name()).collect();
        let metas: Vec<&str> = METAS.iter().map(|m| m.name).collect();
        assert_eq!(names, metas);
    }

    /// The variant names, the dispatch and the per-scheme state agree: each
    /// index names the scheme it runs.
    #[test]
    fn schemes_line_up() {
        let names = refcount::per_scheme!(|S| S::NAME);
        assert_eq!(
            names,
            [
                "frozen-bit",
                "legacy",
                "frozen-bit-mid",
                "frozen-bit-low",
                "live-bit",
                "live-bit-low",
                "legacy-optimistic",
                "frozen-bit-mid-direct",
                "frozen-bit-direct",
                "frozen-bit-low-direct",
                "live-bit-direct",
                "live-bit-low-direct"
            ]
        );
        let variants: Vec<&str> = refcount::SCHEMES.to_vec();
        assert_eq!(
            variants,
            [
                "frozen",
                "legacy",
                "frozen-mid",
                "frozen-low",
                "live",
                "live-low",
                "legacy-optimistic",
                "frozen-mid-direct",
                "frozen-direct",
                "frozen-low-direct",
                "live-direct",
                "live-low-direct"
            ]
        );
    }

    #[test]
    fn padded_values_sit_on_their_own_slots() {
        let v: Vec<Padded<u8>> = (0..4).map(|_| Padded(0)).collect();
        assert_eq!(core::mem::size_of::<Padded<u8>>(), 128);
        assert_eq!(&v[1] as *const _ as usize % 128, 0);
    }

    /// Every workload, every variant, at 1 and 3 threads (3: an odd ring for
    /// the cross-CPU free) on std threads: ops run and the invariants hold.
    #[test]
    fn every_workload_keeps_its_invariants() {
        let env = Env::new(std::thread::yield_now);
        for w in all(&env, 3) {
            for v in 0..w.variants().len() {
                for n in [1, 3] {
                    let ops: u64 = std::thread::scope(|s| {
                        let w = &w;
                        let hs: Vec<_> = (0..n)
                            .map(|r| s.spawn(move || w.run(v, r, n, &|ops| ops < 4 * CHUNK)))
                            .collect();
                        hs.into_iter().map(|h| h.join().unwrap()).sum()
                    });
                    assert!(ops >= n as u64 * 4 * CHUNK, "{} {v}: {ops} ops", w.name());
                    if let Err(e) = w.check(v, n) {
                        panic!("{} / {}: {e}", w.name(), w.variants()[v]);
                    }
                }
            }
        }
    }
}

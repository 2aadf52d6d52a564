//! The workloads, each with the variants it compares.
//!
//! Refcount workloads run both schemes side by side ([`Frozen`] and
//! [`Legacy`], always compiled in the `mm` crate) on standalone descriptors,
//! each on its own 128-byte slot; allocator workloads run on two zones (one per
//! scheme) of [`ZONE_PAGES`] pages built by `mm::testing`, and the peer is
//! `buddy_system_allocator`'s frame allocator behind a `spin` mutex, as in the
//! in-kernel benchmark. Thread `rank` uses per-CPU list index `rank`.

use crate::harness::{Meta, Padded, Workload, run_until};
use buddy_system_allocator::FrameAllocator;
use mm::{Frozen, Legacy, NR_CPUS, Page, RefcountScheme, Zone};
use protocol::bench::variant;
use std::hint::black_box;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};

/// Pages per zone: two memmap sections (256 MiB of frames; only the 1 MiB of
/// descriptors is touched). Holds every workload's peak at [`NR_CPUS`] threads.
pub const ZONE_PAGES: usize = 2 * mm::memmap::PAGES_PER_SECTION;

/// The peer allocator as the in-kernel benchmark shares it.
pub type Peer = spin::Mutex<FrameAllocator<32>>;

/// Shared state: the two zones, the peer, a failure counter.
pub struct Env {
    pub zf: &'static Zone<'static, Frozen>,
    pub zl: &'static Zone<'static, Legacy>,
    pub peer: Padded<Peer>,
    failures: Padded<AtomicU64>,
}

impl Env {
    pub fn new() -> Self {
        let zf: &'static Zone<'static, Frozen> =
            Box::leak(Box::new(mm::testing::zone::<Frozen>(&[0..ZONE_PAGES])));
        let zl: &'static Zone<'static, Legacy> =
            Box::leak(Box::new(mm::testing::zone::<Legacy>(&[0..ZONE_PAGES])));
        let mut peer = FrameAllocator::<32>::new();
        peer.add_frame(0, ZONE_PAGES);
        Env { zf, zl, peer: Padded(spin::Mutex::new(peer)), failures: Padded(AtomicU64::new(0)) }
    }

    /// Record `n` failed operations (once per thread per run: no contention).
    fn fail(&self, n: u64) {
        if n != 0 {
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
        let cached: usize = (0..NR_CPUS).map(|c| z.nr_pcp_pages(c)).sum();
        let free = z.nr_free_pages() + cached;
        if free == ZONE_PAGES { Ok(()) } else { Err(format!("{free} of {ZONE_PAGES} pages back")) }
    }
}

/// A standalone descriptor (no memmap) holding `count` references.
fn owned_page<S: RefcountScheme>(count: u32) -> Padded<Page> {
    let p = Page::new(S::FROZEN);
    S::unfreeze(p.refcount(), count);
    Padded(p)
}

/// Dispatch on a refcount variant: 0 = frozen-bit, 1 = legacy.
macro_rules! by_scheme {
    ($v:expr, $s:ident => $body:expr) => {
        if $v == 0 {
            type $s = Frozen;
            $body
        } else {
            type $s = Legacy;
            $body
        }
    };
}

/// The refcount variants, named as the in-kernel benchmarks name them
/// (`protocol::bench::variant`), so both suites' results line up.
const SCHEMES: &[&str] = &[variant::FROZEN, variant::LEGACY];
/// legacy / frozen: above 1 means the frozen bit is cheaper.
const LEGACY_OVER_FROZEN: &[(usize, usize)] = &[(1, 0)];

/// Speculative get + put on `c`, which holds a base reference.
#[inline(always)]
fn get_put<S: RefcountScheme>(c: &std::sync::atomic::AtomicU32, bad: &mut u64) {
    let got = S::add_unless_frozen(c, 1);
    let last = S::sub_and_test(c, 1);
    *bad += u64::from(!got || last != Ok(false));
}

// ---------------------------------------------------------------- refcount

/// One page held by a page-cache-like owner (count >= 1), every thread doing
/// speculative get + put on it.
pub struct SharedPage<'e> {
    env: &'e Env,
    pages: [Padded<Page>; 2],
}

impl<'e> SharedPage<'e> {
    pub fn new(env: &'e Env) -> Self {
        Self { env, pages: [owned_page::<Frozen>(1), owned_page::<Legacy>(1)] }
    }
}

impl Workload for SharedPage<'_> {
    fn meta(&self) -> &'static Meta {
        &Meta {
            name: "refcount_shared",
            title: "one shared page (owner holds 1): speculative get + put, ns per pair per thread",
            variants: SCHEMES,
            ratios: LEGACY_OVER_FROZEN,
        }
    }
    fn run(&self, v: usize, _rank: usize, _n: usize, stop: &AtomicBool) -> u64 {
        let c = self.pages[v].refcount();
        let mut bad = 0;
        let ops = by_scheme!(v, S => run_until(stop, || get_put::<S>(c, &mut bad)));
        self.env.fail(bad);
        ops
    }
    fn check(&self, v: usize, _n: usize) -> Result<(), String> {
        let c = self.pages[v].refcount();
        let count = by_scheme!(v, S => S::count(c));
        if count != 1 {
            return Err(format!("count {count}, expected the owner's 1"));
        }
        self.env.take_failures()
    }
}

/// A 4 KiB "file page" for the page-cache analog.
#[repr(C, align(4096))]
struct HotPage([u8; 4096]);

/// The 64-byte copy out of the page and a sum over it: the read's payload.
///
/// Not inlined, so that both schemes run the same machine code for it. Inlined
/// into `read`, LLVM compiled it per scheme: vectorized (SSE) for legacy, but
/// for frozen (whose put has a second branch, the 0 -> FROZEN CAS) sunk past
/// the put and scalarized into 64 byte loads, spills and adds, which made the
/// frozen read slower for reasons that have nothing to do with the refcount
/// scheme (docs/decisions/pagecache-copy-out-of-line.md).
#[inline(never)]
fn copy_sum(src: &[u8]) -> u32 {
    let mut buf = [0u8; 64];
    buf.copy_from_slice(src);
    black_box(buf).iter().map(|&b| u32::from(b)).sum()
}

/// The page-cache read analog: slot load, `get_page_unless_frozen`, slot
/// recheck, 64-byte copy out of the page, put; one hot page for all threads.
pub struct PageCacheRead<'e> {
    env: &'e Env,
    pages: [Padded<Page>; 2],
    /// The "xarray slot": which page holds the offset (always 1 here).
    slot: Padded<AtomicUsize>,
    data: Box<HotPage>,
}

impl<'e> PageCacheRead<'e> {
    pub fn new(env: &'e Env) -> Self {
        Self {
            env,
            pages: [owned_page::<Frozen>(1), owned_page::<Legacy>(1)],
            slot: Padded(AtomicUsize::new(1)),
            data: Box::new(HotPage([0x5a; 4096])),
        }
    }

    #[inline(always)]
    fn read<S: RefcountScheme>(&self, c: &std::sync::atomic::AtomicU32, offset: usize) -> u32 {
        // Acquire: pairs with whoever installed the page in the slot.
        let page = self.slot.load(std::sync::atomic::Ordering::Acquire);
        if !S::add_unless_frozen(c, 1) {
            return 0;
        }
        if self.slot.load(std::sync::atomic::Ordering::Acquire) != page {
            let _ = S::sub_and_test(c, 1);
            return 0;
        }
        let sum = copy_sum(&self.data.0[offset..offset + 64]);
        if S::sub_and_test(c, 1) != Ok(false) {
            return 0;
        }
        sum
    }
}

impl Workload for PageCacheRead<'_> {
    fn meta(&self) -> &'static Meta {
        &Meta {
            name: "pagecache_read",
            title: "page-cache read analog (lookup, get, recheck, 64-byte copy, put) on one hot page, ns per read per thread",
            variants: SCHEMES,
            ratios: LEGACY_OVER_FROZEN,
        }
    }
    fn run(&self, v: usize, rank: usize, _n: usize, stop: &AtomicBool) -> u64 {
        let c = self.pages[v].refcount();
        let mut bad = 0;
        let mut i = rank * 8;
        let ops = by_scheme!(v, S => run_until(stop, || {
            let offset = (i % 63) * 64;
            i += 1;
            bad += u64::from(self.read::<S>(c, offset) != 64 * 0x5a);
        }));
        self.env.fail(bad);
        ops
    }
    fn check(&self, v: usize, _n: usize) -> Result<(), String> {
        let c = self.pages[v].refcount();
        let count = by_scheme!(v, S => S::count(c));
        if count != 1 {
            return Err(format!("count {count}, expected the owner's 1"));
        }
        self.env.take_failures()
    }
}

/// Each thread speculative get + put on its own page (no sharing: both schemes
/// should cost the same).
pub struct OwnPage<'e> {
    env: &'e Env,
    pages: [Vec<Padded<Page>>; 2],
}

impl<'e> OwnPage<'e> {
    pub fn new(env: &'e Env, max_threads: usize) -> Self {
        Self {
            env,
            pages: [
                (0..max_threads).map(|_| owned_page::<Frozen>(1)).collect(),
                (0..max_threads).map(|_| owned_page::<Legacy>(1)).collect(),
            ],
        }
    }
}

impl Workload for OwnPage<'_> {
    fn meta(&self) -> &'static Meta {
        &Meta {
            name: "refcount_own",
            title: "each thread its own page: speculative get + put, ns per pair per thread",
            variants: SCHEMES,
            ratios: LEGACY_OVER_FROZEN,
        }
    }
    fn run(&self, v: usize, rank: usize, _n: usize, stop: &AtomicBool) -> u64 {
        let c = self.pages[v][rank].refcount();
        let mut bad = 0;
        let ops = by_scheme!(v, S => run_until(stop, || get_put::<S>(c, &mut bad)));
        self.env.fail(bad);
        ops
    }
    fn check(&self, v: usize, n: usize) -> Result<(), String> {
        for p in &self.pages[v][..n] {
            let count = by_scheme!(v, S => S::count(p.refcount()));
            if count != 1 {
                return Err(format!("count {count}, expected 1"));
            }
        }
        self.env.take_failures()
    }
}

/// The refcount part of freeing alone: `init_page_count` + the final put
/// (frozen: `fetch_sub` + the 0 -> FROZEN CAS; legacy: `fetch_sub`), each
/// thread on its own page.
pub struct FinalPut<'e> {
    env: &'e Env,
    pages: [Vec<Padded<Page>>; 2],
}

impl<'e> FinalPut<'e> {
    pub fn new(env: &'e Env, max_threads: usize) -> Self {
        let page = |f| Padded(Page::new(f));
        Self {
            env,
            pages: [
                (0..max_threads).map(|_| page(Frozen::FROZEN)).collect(),
                (0..max_threads).map(|_| page(Legacy::FROZEN)).collect(),
            ],
        }
    }
}

impl Workload for FinalPut<'_> {
    fn meta(&self) -> &'static Meta {
        &Meta {
            name: "final_put",
            title: "init_page_count + the final put_page (refcount only, own page), ns per pair per thread",
            variants: SCHEMES,
            ratios: &[(0, 1)],
        }
    }
    fn run(&self, v: usize, rank: usize, _n: usize, stop: &AtomicBool) -> u64 {
        let c = self.pages[v][rank].refcount();
        let mut bad = 0;
        let ops = by_scheme!(v, S => run_until(stop, || {
            S::init_count(c);
            bad += u64::from(S::sub_and_test(c, 1) != Ok(true));
        }));
        self.env.fail(bad);
        ops
    }
    fn check(&self, v: usize, n: usize) -> Result<(), String> {
        for p in &self.pages[v][..n] {
            let frozen = by_scheme!(v, S => S::is_frozen(S::raw(p.refcount())));
            if !frozen {
                return Err("page not frozen after its final put".into());
            }
        }
        self.env.take_failures()
    }
}

// ---------------------------------------------------------------- allocator

/// `alloc_pages` + the final `put_page` that frees, through per-CPU lists:
/// the price of the frozen put with the allocator around it.
pub struct AllocPut<'e> {
    env: &'e Env,
}

impl<'e> AllocPut<'e> {
    pub fn new(env: &'e Env) -> Self {
        Self { env }
    }
}

fn alloc_put<S: RefcountScheme>(z: &Zone<'_, S>, cpu: usize, stop: &AtomicBool) -> (u64, u64) {
    let mut bad = 0;
    let ops = run_until(stop, || match z.alloc_pages_pcp(cpu, 0) {
        Some(p) => bad += u64::from(z.put_page_pcp(cpu, p) != Ok(true)),
        None => bad += 1,
    });
    (ops, bad)
}

impl Workload for AllocPut<'_> {
    fn meta(&self) -> &'static Meta {
        &Meta {
            name: "alloc_put",
            title: "alloc_pages(0) + the final put_page that frees, per-CPU lists, ns per pair per thread",
            variants: SCHEMES,
            ratios: &[(0, 1)],
        }
    }
    fn run(&self, v: usize, rank: usize, _n: usize, stop: &AtomicBool) -> u64 {
        let (ops, bad) = if v == 0 {
            alloc_put(self.env.zf, rank, stop)
        } else {
            alloc_put(self.env.zl, rank, stop)
        };
        self.env.fail(bad);
        ops
    }
    fn check(&self, v: usize, _n: usize) -> Result<(), String> {
        if v == 0 { Env::all_pages_back(self.env.zf) } else { Env::all_pages_back(self.env.zl) }?;
        self.env.take_failures()
    }
}

const ALLOCATORS: &[&str] = &["pcp", "zone", variant::PEER];
/// zone / pcp and peer / pcp: above 1 means the per-CPU lists are cheaper.
const OVER_PCP: &[(usize, usize)] = &[(1, 0), (2, 0)];

/// Order-0 alloc + free of the same page: per-CPU lists vs the zone lock on
/// every call vs the peer behind its lock.
pub struct Order0<'e> {
    env: &'e Env,
}

impl<'e> Order0<'e> {
    pub fn new(env: &'e Env) -> Self {
        Self { env }
    }
}

impl Workload for Order0<'_> {
    fn meta(&self) -> &'static Meta {
        &Meta {
            name: "alloc_order0",
            title: "order-0 alloc + free (frozen pages), ns per pair per thread",
            variants: ALLOCATORS,
            ratios: OVER_PCP,
        }
    }
    fn run(&self, v: usize, rank: usize, _n: usize, stop: &AtomicBool) -> u64 {
        let z = self.env.zf;
        let mut bad = 0u64;
        let ops = match v {
            0 => run_until(stop, || match z.alloc_frozen_pages_pcp(rank, 0) {
                Some(p) => bad += u64::from(z.free_frozen_pages_pcp(rank, p, 0).is_err()),
                None => bad += 1,
            }),
            1 => run_until(stop, || match z.alloc_frozen_pages(0) {
                Some(p) => bad += u64::from(z.free_frozen_pages(p, 0).is_err()),
                None => bad += 1,
            }),
            _ => run_until(stop, || {
                let f = self.env.peer.lock().alloc(1);
                match f {
                    Some(f) => self.env.peer.lock().dealloc(black_box(f), 1),
                    None => bad += 1,
                }
            }),
        };
        self.env.fail(bad);
        ops
    }
    fn check(&self, _v: usize, _n: usize) -> Result<(), String> {
        Env::all_pages_back(self.env.zf)?;
        self.env.take_failures()
    }
}

/// Blocks each thread holds in the mixed workload.
pub const WINDOW: usize = 16;

/// Mixed orders 0-3 with a window: each op frees a random one of the
/// [`WINDOW`] blocks the thread holds and allocates a block of random order.
pub struct Mixed<'e> {
    env: &'e Env,
}

impl<'e> Mixed<'e> {
    pub fn new(env: &'e Env) -> Self {
        Self { env }
    }
}

impl Workload for Mixed<'_> {
    fn meta(&self) -> &'static Meta {
        &Meta {
            name: "alloc_mixed",
            title: "mixed orders 0-3, window of 16 held blocks per thread: ns per free + alloc per thread",
            variants: ALLOCATORS,
            ratios: &[(2, 0), (2, 1)],
        }
    }
    fn run(&self, v: usize, rank: usize, _n: usize, stop: &AtomicBool) -> u64 {
        let z = self.env.zf;
        let peer = &self.env.peer;
        let mut rng = mm::rand::Rng::stream(0x9e37_79b9_7f4a_7c15, rank);
        let mut bad = 0u64;
        // (pfn or frame, order)
        let mut pool: Vec<(usize, usize)> = Vec::with_capacity(WINDOW);
        let alloc = |order: usize| -> Option<usize> {
            match v {
                0 => z.alloc_frozen_pages_pcp(rank, order).map(|p| z.page_to_pfn(p)),
                1 => z.alloc_frozen_pages(order).map(|p| z.page_to_pfn(p)),
                _ => peer.lock().alloc(1 << order),
            }
        };
        let free = |f: usize, order: usize| -> bool {
            match v {
                0 => z.free_frozen_pages_pcp(rank, z.pfn_to_page(f).unwrap(), order).is_ok(),
                1 => z.free_frozen_pages(z.pfn_to_page(f).unwrap(), order).is_ok(),
                _ => {
                    peer.lock().dealloc(f, 1 << order);
                    true
                }
            }
        };
        let ops = run_until(stop, || {
            if pool.len() == WINDOW {
                let (f, o) = pool.swap_remove(rng.below(WINDOW));
                bad += u64::from(!free(f, o));
            }
            let order = rng.below(4);
            match alloc(order) {
                Some(f) => pool.push((f, order)),
                None => bad += 1,
            }
        });
        for (f, o) in pool {
            bad += u64::from(!free(f, o));
        }
        self.env.fail(bad);
        ops
    }
    fn check(&self, _v: usize, _n: usize) -> Result<(), String> {
        Env::all_pages_back(self.env.zf)?;
        self.env.take_failures()
    }
}

/// Pages a thread allocates before handing them on in the cross-CPU workload.
pub const HANDOFF: usize = 32;
/// A mailbox holding this many pages makes its sender wait (and free its own).
const MAILBOX_CAP: usize = 4 * HANDOFF;

/// Cross-CPU free: thread `r` allocates batches of [`HANDOFF`] order-0 pages
/// on its own CPU index and hands them to thread `r + 1` (mod n), which frees
/// them on *its* index. With one thread, pages are allocated on index 0 and
/// freed on index 1 from the same thread (the list imbalance without the
/// cache-line transfers).
pub struct CrossFree<'e> {
    env: &'e Env,
    mailboxes: Vec<Padded<Mutex<Vec<usize>>>>,
}

impl<'e> CrossFree<'e> {
    pub fn new(env: &'e Env, max_threads: usize) -> Self {
        let mailboxes = (0..max_threads.max(2))
            .map(|_| Padded(Mutex::new(Vec::with_capacity(MAILBOX_CAP + HANDOFF))))
            .collect();
        Self { env, mailboxes }
    }

    fn alloc(&self, v: usize, cpu: usize) -> Option<usize> {
        let z = self.env.zf;
        match v {
            0 => z.alloc_frozen_pages_pcp(cpu, 0).map(|p| z.page_to_pfn(p)),
            1 => z.alloc_frozen_pages(0).map(|p| z.page_to_pfn(p)),
            _ => self.env.peer.lock().alloc(1),
        }
    }

    fn free(&self, v: usize, cpu: usize, f: usize) -> bool {
        let z = self.env.zf;
        match v {
            0 => z.free_frozen_pages_pcp(cpu, z.pfn_to_page(f).unwrap(), 0).is_ok(),
            1 => z.free_frozen_pages(z.pfn_to_page(f).unwrap(), 0).is_ok(),
            _ => {
                self.env.peer.lock().dealloc(f, 1);
                true
            }
        }
    }

    /// Free everything in mailbox `m` on CPU index `cpu`; false on an error.
    fn empty_mailbox(&self, v: usize, m: usize, cpu: usize, scratch: &mut Vec<usize>) -> bool {
        std::mem::swap(&mut *self.mailboxes[m].lock().unwrap(), scratch);
        let mut ok = true;
        for f in scratch.drain(..) {
            ok &= self.free(v, cpu, f);
        }
        ok
    }
}

impl Workload for CrossFree<'_> {
    fn meta(&self) -> &'static Meta {
        &Meta {
            name: "cross_free",
            title: "cross-CPU free: order-0 pages allocated on one thread, freed on the next, ns per page per thread",
            variants: ALLOCATORS,
            ratios: OVER_PCP,
        }
    }
    fn run(&self, v: usize, rank: usize, n: usize, stop: &AtomicBool) -> u64 {
        let target = (rank + 1) % n;
        let free_cpu = if n == 1 { 1 } else { rank };
        let mut batch = Vec::with_capacity(HANDOFF);
        let mut scratch = Vec::with_capacity(MAILBOX_CAP + HANDOFF);
        let mut bad = 0u64;
        let mut ops = 0;
        while !stop.load(Relaxed) {
            for _ in 0..HANDOFF {
                match self.alloc(v, rank) {
                    Some(f) => batch.push(f),
                    None => bad += 1,
                }
            }
            ops += HANDOFF as u64;
            loop {
                {
                    let mut m = self.mailboxes[target].lock().unwrap();
                    if m.len() < MAILBOX_CAP {
                        m.append(&mut batch);
                        break;
                    }
                }
                // The receiver is behind: do our own receiving meanwhile.
                bad += u64::from(!self.empty_mailbox(v, rank, free_cpu, &mut scratch));
                if stop.load(Relaxed) {
                    break;
                }
                std::thread::yield_now();
            }
            bad += u64::from(!self.empty_mailbox(v, rank, free_cpu, &mut scratch));
        }
        for f in batch {
            bad += u64::from(!self.free(v, rank, f));
        }
        self.env.fail(bad);
        ops
    }
    fn check(&self, v: usize, _n: usize) -> Result<(), String> {
        let mut scratch = Vec::new();
        for m in 0..self.mailboxes.len() {
            if !self.empty_mailbox(v, m, 0, &mut scratch) {
                self.env.fail(1);
            }
        }
        Env::all_pages_back(self.env.zf)?;
        self.env.take_failures()
    }
}

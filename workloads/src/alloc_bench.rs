//! Allocator workloads: per-CPU lists, the zone lock on every call and the
//! peer allocator, on the [`Env`]'s zones; and `alloc_put`, the frozen put
//! with the allocator around it, on every scheme's zone.

use alloc::string::String;
use alloc::vec::Vec;
use core::hint::black_box;
use core::sync::atomic::{AtomicBool, Ordering::Relaxed};

use protocol::bench::variant;

use crate::refcount::{FROZEN_OVER_LEGACY, SCHEMES};
use crate::{Env, Meta, Padded, Workload, run_until};

/// `alloc_pages` + the final `put_page` that frees, through per-CPU lists:
/// the price of the frozen put with the allocator around it.
pub struct AllocPut<'e> {
    env: &'e Env,
}

impl<'e> AllocPut<'e> {
    /// What the workload is called and reports.
    pub const META: Meta = Meta {
        name: "alloc_put",
        title: "alloc_pages(0) + the final put_page that frees, per-CPU lists, ns per pair per thread",
        variants: SCHEMES,
        ratios: FROZEN_OVER_LEGACY,
        kernel_ops: 50_000,
    };

    /// The workload on `env`'s zones, peer and failure counter.
    pub fn new(env: &'e Env) -> Self {
        Self { env }
    }
}

impl Workload for AllocPut<'_> {
    fn meta(&self) -> &'static Meta {
        &Self::META
    }
    fn run(&self, v: usize, rank: usize, _n: usize, go: &dyn Fn(u64) -> bool) -> u64 {
        let (ops, bad) = self.env.zones[v].alloc_put(rank, go);
        self.env.fail(bad);
        ops
    }
    fn check(&self, v: usize, _n: usize) -> Result<(), String> {
        self.env.zones[v].all_pages_back()?;
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
    /// What the workload is called and reports.
    pub const META: Meta = Meta {
        name: "alloc_order0",
        title: "order-0 alloc + free (frozen pages), ns per pair per thread",
        variants: ALLOCATORS,
        ratios: OVER_PCP,
        kernel_ops: 50_000,
    };

    /// The workload on `env`'s zones, peer and failure counter.
    pub fn new(env: &'e Env) -> Self {
        Self { env }
    }
}

impl Workload for Order0<'_> {
    fn meta(&self) -> &'static Meta {
        &Self::META
    }
    fn run(&self, v: usize, rank: usize, _n: usize, go: &dyn Fn(u64) -> bool) -> u64 {
        let z = self.env.zm;
        let mut bad = 0u64;
        let ops = match v {
            0 => run_until(go, || match z.alloc_frozen_pages_pcp(rank, 0) {
                Some(p) => bad += u64::from(z.free_frozen_pages_pcp(rank, p, 0).is_err()),
                None => bad += 1,
            }),
            1 => run_until(go, || match z.alloc_frozen_pages(0) {
                Some(p) => bad += u64::from(z.free_frozen_pages(p, 0).is_err()),
                None => bad += 1,
            }),
            _ => run_until(go, || {
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
        Env::all_pages_back(self.env.zm)?;
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
    /// What the workload is called and reports.
    pub const META: Meta = Meta {
        name: "alloc_mixed",
        title: "mixed orders 0-3, window of 16 held blocks per thread: ns per free + alloc per thread",
        variants: ALLOCATORS,
        ratios: &[(2, 0), (2, 1)],
        kernel_ops: 50_000,
    };

    /// The workload on `env`'s zones, peer and failure counter.
    pub fn new(env: &'e Env) -> Self {
        Self { env }
    }
}

impl Workload for Mixed<'_> {
    fn meta(&self) -> &'static Meta {
        &Self::META
    }
    fn run(&self, v: usize, rank: usize, _n: usize, go: &dyn Fn(u64) -> bool) -> u64 {
        let z = self.env.zm;
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
        let ops = run_until(go, || {
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
        Env::all_pages_back(self.env.zm)?;
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
    mailboxes: Vec<Padded<spin::Mutex<Vec<usize>>>>,
    /// Thread `r` has left its loop in this run. The kernel's driver stops
    /// each CPU after its own op count, so a sender can wait on a receiver
    /// that has stopped; it then frees its batch itself.
    finished: Vec<Padded<AtomicBool>>,
}

impl<'e> CrossFree<'e> {
    /// What the workload is called and reports.
    pub const META: Meta = Meta {
        name: "cross_free",
        title: "cross-CPU free: order-0 pages allocated on one thread, freed on the next, ns per page per thread",
        variants: ALLOCATORS,
        ratios: OVER_PCP,
        kernel_ops: 50_000,
    };

    /// The workload on `env`, with per-thread state for up to
    /// `max_threads` threads.
    pub fn new(env: &'e Env, max_threads: usize) -> Self {
        let mailboxes = (0..max_threads.max(2))
            .map(|_| Padded(spin::Mutex::new(Vec::with_capacity(MAILBOX_CAP + HANDOFF))))
            .collect();
        let finished = (0..max_threads.max(2)).map(|_| Padded(AtomicBool::new(false))).collect();
        Self { env, mailboxes, finished }
    }

    fn alloc(&self, v: usize, cpu: usize) -> Option<usize> {
        let z = self.env.zm;
        match v {
            0 => z.alloc_frozen_pages_pcp(cpu, 0).map(|p| z.page_to_pfn(p)),
            1 => z.alloc_frozen_pages(0).map(|p| z.page_to_pfn(p)),
            _ => self.env.peer.lock().alloc(1),
        }
    }

    fn free(&self, v: usize, cpu: usize, f: usize) -> bool {
        let z = self.env.zm;
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
        core::mem::swap(&mut *self.mailboxes[m].lock(), scratch);
        let mut ok = true;
        for f in scratch.drain(..) {
            ok &= self.free(v, cpu, f);
        }
        ok
    }
}

impl Workload for CrossFree<'_> {
    fn meta(&self) -> &'static Meta {
        &Self::META
    }
    fn run(&self, v: usize, rank: usize, n: usize, go: &dyn Fn(u64) -> bool) -> u64 {
        let target = (rank + 1) % n;
        let free_cpu = if n == 1 { 1 } else { rank };
        let mut batch = Vec::with_capacity(HANDOFF);
        let mut scratch = Vec::with_capacity(MAILBOX_CAP + HANDOFF);
        let mut bad = 0u64;
        let mut ops = 0;
        while go(ops) {
            for _ in 0..HANDOFF {
                match self.alloc(v, rank) {
                    Some(f) => batch.push(f),
                    None => bad += 1,
                }
            }
            ops += HANDOFF as u64;
            loop {
                {
                    let mut m = self.mailboxes[target].lock();
                    if m.len() < MAILBOX_CAP {
                        m.append(&mut batch);
                        break;
                    }
                }
                // The receiver is behind: do our own receiving meanwhile.
                bad += u64::from(!self.empty_mailbox(v, rank, free_cpu, &mut scratch));
                // Relaxed: the flag only ends the wait; the pages travel
                // under the mailbox lock.
                if !go(ops) || self.finished[target].load(Relaxed) {
                    for f in batch.drain(..) {
                        bad += u64::from(!self.free(v, free_cpu, f));
                    }
                    break;
                }
                (self.env.relax)();
            }
            bad += u64::from(!self.empty_mailbox(v, rank, free_cpu, &mut scratch));
        }
        // Relaxed: see the wait above; what senders still put in this
        // thread's mailbox is freed by `check`.
        self.finished[rank].store(true, Relaxed);
        self.env.fail(bad);
        ops
    }
    fn check(&self, v: usize, _n: usize) -> Result<(), String> {
        let mut scratch = Vec::new();
        for f in &self.finished {
            f.store(false, Relaxed);
        }
        for m in 0..self.mailboxes.len() {
            if !self.empty_mailbox(v, m, 0, &mut scratch) {
                self.env.fail(1);
            }
        }
        Env::all_pages_back(self.env.zm)?;
        self.env.take_failures()
    }
}

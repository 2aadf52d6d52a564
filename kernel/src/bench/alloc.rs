//! Allocator benchmarks: order-0 alloc+free pairs per CPU, this buddy
//! allocator vs the `buddy_system_allocator` crate's frame allocator (behind
//! a spin lock, the way a kernel would share it), plus a mixed-order workload.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use buddy_system_allocator::FrameAllocator;
use protocol::bench::variant;
use spin::Mutex;

use super::harness;
use super::report::{Table, record};
use crate::ktest::{Failure, TestResult};
use crate::mm::zone;

const OPS: u64 = 50_000;

/// The peer: manages abstract frame numbers (it never touches the memory),
/// as many as our zone has free.
static PEER: Mutex<FrameAllocator<32>> = Mutex::new(FrameAllocator::new());

fn ensure_peer() {
    static INIT: spin::Once = spin::Once::new();
    INIT.call_once(|| PEER.lock().add_frame(0, zone().nr_free_pages()));
}

/// `ops` order-0 alloc+free pairs through `alloc`/`free`; returns failures.
fn order0_pairs(
    ops: u64,
    alloc: impl Fn() -> Option<&'static mm::Page>,
    free: impl Fn(&mm::Page) -> Result<(), mm::BadPage>,
) -> usize {
    let mut failures = 0;
    for _ in 0..ops {
        match alloc() {
            Some(p) => failures += usize::from(free(p).is_err()),
            None => failures += 1,
        }
    }
    failures
}

/// Straight to the zone (its lock on every call).
fn ours_order0(ops: u64) -> usize {
    let z = zone();
    order0_pairs(ops, || z.alloc_frozen_pages(0), |p| z.free_frozen_pages(p, 0))
}

/// Through this CPU's per-CPU list.
fn pcp_order0(ops: u64) -> usize {
    order0_pairs(ops, || crate::mm::alloc_frozen_pages(0), |p| crate::mm::free_frozen_pages(p, 0))
}

fn peer_order0(ops: u64) -> usize {
    let mut failures = 0;
    for _ in 0..ops {
        let frame = PEER.lock().alloc(1);
        match frame {
            Some(f) => PEER.lock().dealloc(f, 1),
            None => failures += 1,
        }
    }
    failures
}

pub fn order0() -> TestResult {
    ensure_peer();
    crate::mm::drain_all_pages();
    let free_before = zone().nr_free_pages();
    let failures = AtomicUsize::new(0);
    let mut table = Table::new(
        "Allocator: order-0 alloc+free pairs per CPU (ns per pair)",
        "ns",
        &[
            "this buddy + per-CPU lists",
            "this buddy, zone lock only",
            "buddy_system_allocator + lock",
        ],
        ("this+pcp", variant::PEER),
    );
    for n in harness::cpu_steps() {
        let pcp = harness::measure(n, OPS, &|_, ops| {
            failures.fetch_add(pcp_order0(ops), Ordering::Relaxed);
        });
        let ours = harness::measure(n, OPS, &|_, ops| {
            failures.fetch_add(ours_order0(ops), Ordering::Relaxed);
        });
        let peer = harness::measure(n, OPS, &|_, ops| {
            failures.fetch_add(peer_order0(ops), Ordering::Relaxed);
        });
        record("alloc_order0", "buddy+pcp", &pcp);
        record("alloc_order0", "buddy", &ours);
        record("alloc_order0", variant::PEER, &peer);
        table.row(n, &[pcp.ns_per_op(), ours.ns_per_op(), peer.ns_per_op()], (0, 2));
    }
    table.print();
    crate::mm::drain_all_pages();
    if failures.into_inner() != 0 || zone().nr_free_pages() != free_before {
        return Err(Failure::Fail("order-0 benchmark lost pages or failed allocations".into()));
    }
    Ok(())
}

/// Per CPU: a pool of up to 16 blocks of random order 0..=3; each op frees a
/// random pool entry (if full) and allocates a new one.
fn mixed_ours(rank: usize, ops: u64) -> bool {
    let z = zone();
    let mut rng = mm::rand::Rng::new(0x9e37_79b9 ^ rank as u64);
    let mut pool: Vec<(&mm::Page, usize)> = Vec::with_capacity(16);
    let mut ok = true;
    for _ in 0..ops {
        if pool.len() == 16 {
            let (p, o) = pool.swap_remove(rng.below(16));
            ok &= z.free_frozen_pages(p, o).is_ok();
        }
        let order = rng.below(4);
        match z.alloc_frozen_pages(order) {
            Some(p) => pool.push((p, order)),
            None => ok = false,
        }
    }
    for (p, o) in pool {
        ok &= z.free_frozen_pages(p, o).is_ok();
    }
    ok
}

fn mixed_peer(rank: usize, ops: u64) -> bool {
    let mut rng = mm::rand::Rng::new(0x9e37_79b9 ^ rank as u64);
    let mut pool: Vec<(usize, usize)> = Vec::with_capacity(16);
    let mut ok = true;
    for _ in 0..ops {
        if pool.len() == 16 {
            let (f, n) = pool.swap_remove(rng.below(16));
            PEER.lock().dealloc(f, n);
        }
        let count = 1 << rng.below(4);
        let frame = PEER.lock().alloc(count);
        match frame {
            Some(f) => pool.push((f, count)),
            None => ok = false,
        }
    }
    for (f, n) in pool {
        PEER.lock().dealloc(f, n);
    }
    ok
}

pub fn mixed() -> TestResult {
    ensure_peer();
    let free_before = zone().nr_free_pages();
    let bad = AtomicUsize::new(0);
    let mut table = Table::new(
        "Allocator: mixed orders 0-3, pool of 16 blocks per CPU (ns per free+alloc)",
        "ns",
        &["this buddy", "buddy_system_allocator + lock"],
        ("this", variant::PEER),
    );
    for n in harness::cpu_steps() {
        let ours = harness::measure(n, OPS, &|rank, ops| {
            if !mixed_ours(rank, ops) {
                bad.fetch_add(1, Ordering::Relaxed);
            }
        });
        let peer = harness::measure(n, OPS, &|rank, ops| {
            if !mixed_peer(rank, ops) {
                bad.fetch_add(1, Ordering::Relaxed);
            }
        });
        record("alloc_mixed", "buddy", &ours);
        record("alloc_mixed", variant::PEER, &peer);
        table.row(n, &[ours.ns_per_op(), peer.ns_per_op()], (0, 1));
    }
    table.print();
    if bad.into_inner() != 0 || zone().nr_free_pages() != free_before {
        return Err(Failure::Fail("mixed-order benchmark lost pages or failed".into()));
    }
    Ok(())
}

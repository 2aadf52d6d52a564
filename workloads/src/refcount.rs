//! Refcount workloads: every scheme side by side on standalone descriptors
//! (no memmap), each on its own 128-byte slot. An op is a speculative get and
//! a put on a page that holds a base reference (so the count never reaches
//! zero), or the final put that frees.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::hint::black_box;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering::Acquire};

use mm::{Page, RefcountScheme};
use protocol::bench::variant;

use crate::{Env, Meta, Padded, Workload, run_until};

/// A standalone descriptor (no memmap) holding `count` references.
fn owned_page<S: RefcountScheme>(count: u32) -> Padded<Page> {
    let p = Page::new(S::FROZEN);
    S::unfreeze(p.refcount(), count);
    Padded(p)
}

/// Dispatch on a refcount variant (an index into [`SCHEMES`]): `$body` with
/// `$s` naming the variant's scheme.
macro_rules! by_scheme {
    ($v:expr, $s:ident => $body:expr) => {
        match $v {
            0 => {
                type $s = mm::Frozen;
                $body
            }
            1 => {
                type $s = mm::Legacy;
                $body
            }
            2 => {
                type $s = mm::FrozenMid;
                $body
            }
            3 => {
                type $s = mm::FrozenLow;
                $body
            }
            4 => {
                type $s = mm::LiveHigh;
                $body
            }
            5 => {
                type $s = mm::LiveLow;
                $body
            }
            6 => {
                type $s = mm::LegacyOptimistic;
                $body
            }
            7 => {
                type $s = mm::FrozenMidDirect;
                $body
            }
            8 => {
                type $s = mm::FrozenDirect;
                $body
            }
            9 => {
                type $s = mm::FrozenLowDirect;
                $body
            }
            10 => {
                type $s = mm::LiveHighDirect;
                $body
            }
            _ => {
                type $s = mm::LiveLowDirect;
                $body
            }
        }
    };
}
pub(crate) use by_scheme;

/// One value per scheme, in [`SCHEMES`] order.
macro_rules! per_scheme {
    (|$s:ident| $e:expr) => {
        core::array::from_fn::<_, { $crate::refcount::SCHEMES.len() }, _>(|v| {
            $crate::refcount::by_scheme!(v, $s => $e)
        })
    };
}
pub(crate) use per_scheme;

/// The refcount variants (`protocol::bench::variant`), in the order
/// [`by_scheme!`] dispatches them: the series' layout, the CAS loop, the
/// kernel's default (FROZEN mid-range), the flag in bit 0, the two inverted
/// (live-bit) layouts, the CAS loop with the optimistic first guess, and the
/// frozen-bit layouts with the direct single put (the default's first).
pub(crate) const SCHEMES: &[&str] = &[
    variant::FROZEN,
    variant::LEGACY,
    variant::FROZEN_MID,
    variant::FROZEN_LOW,
    variant::LIVE,
    variant::LIVE_LOW,
    variant::LEGACY_OPTIMISTIC,
    variant::FROZEN_MID_DIRECT,
    variant::FROZEN_DIRECT,
    variant::FROZEN_LOW_DIRECT,
    variant::LIVE_DIRECT,
    variant::LIVE_LOW_DIRECT,
];
/// legacy / each other scheme (above 1: the other is cheaper), and each
/// other scheme / frozen (the series' layout, "today's": above 1, the other
/// costs more).
const LEGACY_OVER_FROZEN: &[(usize, usize)] = &[
    (1, 0),
    (1, 2),
    (1, 3),
    (1, 4),
    (1, 5),
    (1, 6),
    (1, 7),
    (1, 8),
    (1, 9),
    (1, 10),
    (1, 11),
    (2, 0),
    (3, 0),
    (4, 0),
    (5, 0),
    (6, 0),
    (7, 0),
    (8, 0),
    (9, 0),
    (10, 0),
    (11, 0),
];
/// Each scheme / legacy: the price of its last put.
pub(crate) const FROZEN_OVER_LEGACY: &[(usize, usize)] =
    &[(0, 1), (2, 1), (3, 1), (4, 1), (5, 1), (6, 1), (7, 1), (8, 1), (9, 1), (10, 1), (11, 1)];

/// Every page in `pages` is back at its owner's one reference and no op
/// failed.
fn check_owned(env: &Env, v: usize, pages: &[Padded<Page>]) -> Result<(), String> {
    for p in pages {
        let count = by_scheme!(v, S => S::count(p.refcount()));
        if count != 1 {
            return Err(format!("count {count}, expected the owner's 1"));
        }
    }
    env.take_failures()
}

/// Speculative get + put on `c`, which holds a base reference.
#[inline(always)]
fn get_put<S: RefcountScheme>(c: &AtomicU32, bad: &mut u64) {
    let got = S::add_unless_frozen(c, 1);
    let last = S::sub_and_test(c, 1);
    *bad += u64::from(!got || last != Ok(false));
}

/// One page held by a page-cache-like owner (count >= 1), every thread doing
/// speculative get + put on it.
pub struct SharedPage<'e> {
    env: &'e Env,
    pages: [Padded<Page>; SCHEMES.len()],
}

impl<'e> SharedPage<'e> {
    /// What the workload is called and reports.
    pub const META: Meta = Meta {
        name: "refcount_shared",
        title: "one shared page (owner holds 1): speculative get + put, ns per pair per thread",
        variants: SCHEMES,
        ratios: LEGACY_OVER_FROZEN,
        kernel_ops: 200_000,
    };

    /// The workload on `env`'s zones, peer and failure counter.
    pub fn new(env: &'e Env) -> Self {
        Self { env, pages: per_scheme!(|S| owned_page::<S>(1)) }
    }
}

impl Workload for SharedPage<'_> {
    fn meta(&self) -> &'static Meta {
        &Self::META
    }
    fn run(&self, v: usize, _rank: usize, _n: usize, go: &dyn Fn(u64) -> bool) -> u64 {
        let c = self.pages[v].refcount();
        let mut bad = 0;
        let ops = by_scheme!(v, S => run_until(go, || get_put::<S>(c, &mut bad)));
        self.env.fail(bad);
        ops
    }
    fn check(&self, v: usize, _n: usize) -> Result<(), String> {
        check_owned(self.env, v, core::slice::from_ref(&self.pages[v]))
    }
}

/// A 4 KiB "file page" for the page-cache analog.
#[repr(C, align(4096))]
struct HotPage([u8; 4096]);

/// The 64-byte copy out of the page and a sum over it: the read's payload.
///
/// Not inlined, so that every scheme runs the same machine code for it. Inlined
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
    pages: [Padded<Page>; SCHEMES.len()],
    /// The "xarray slot": which page holds the offset (always 1 here).
    slot: Padded<AtomicUsize>,
    data: Box<HotPage>,
}

impl<'e> PageCacheRead<'e> {
    /// What the workload is called and reports.
    pub const META: Meta = Meta {
        name: "pagecache_read",
        title: "page-cache read analog (lookup, get, recheck, 64-byte copy, put) on one hot page, ns per read per thread",
        variants: SCHEMES,
        ratios: LEGACY_OVER_FROZEN,
        kernel_ops: 100_000,
    };

    /// The workload on `env`'s zones, peer and failure counter.
    pub fn new(env: &'e Env) -> Self {
        Self {
            env,
            pages: per_scheme!(|S| owned_page::<S>(1)),
            slot: Padded(AtomicUsize::new(1)),
            data: Box::new(HotPage([0x5a; 4096])),
        }
    }

    #[inline(always)]
    fn read<S: RefcountScheme>(&self, c: &AtomicU32, offset: usize) -> u32 {
        // Acquire: pairs with whoever installed the page in the slot.
        let page = self.slot.load(Acquire);
        if !S::add_unless_frozen(c, 1) {
            return 0;
        }
        if self.slot.load(Acquire) != page {
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
        &Self::META
    }
    fn run(&self, v: usize, rank: usize, _n: usize, go: &dyn Fn(u64) -> bool) -> u64 {
        let c = self.pages[v].refcount();
        let mut bad = 0;
        let mut i = rank * 8;
        let ops = by_scheme!(v, S => run_until(go, || {
            let offset = (i % 63) * 64;
            i += 1;
            bad += u64::from(self.read::<S>(c, offset) != 64 * 0x5a);
        }));
        self.env.fail(bad);
        ops
    }
    fn check(&self, v: usize, _n: usize) -> Result<(), String> {
        check_owned(self.env, v, core::slice::from_ref(&self.pages[v]))
    }
}

/// Each thread speculative get + put on its own page (no sharing: the
/// schemes differ only in their own instructions).
pub struct OwnPage<'e> {
    env: &'e Env,
    pages: [Vec<Padded<Page>>; SCHEMES.len()],
}

impl<'e> OwnPage<'e> {
    /// What the workload is called and reports.
    pub const META: Meta = Meta {
        name: "refcount_own",
        title: "each thread its own page: speculative get + put, ns per pair per thread",
        variants: SCHEMES,
        ratios: LEGACY_OVER_FROZEN,
        kernel_ops: 200_000,
    };

    /// The workload on `env`, with per-thread state for up to
    /// `max_threads` threads.
    pub fn new(env: &'e Env, max_threads: usize) -> Self {
        Self { env, pages: per_scheme!(|S| (0..max_threads).map(|_| owned_page::<S>(1)).collect()) }
    }
}

impl Workload for OwnPage<'_> {
    fn meta(&self) -> &'static Meta {
        &Self::META
    }
    fn run(&self, v: usize, rank: usize, _n: usize, go: &dyn Fn(u64) -> bool) -> u64 {
        let c = self.pages[v][rank].refcount();
        let mut bad = 0;
        let ops = by_scheme!(v, S => run_until(go, || get_put::<S>(c, &mut bad)));
        self.env.fail(bad);
        ops
    }
    fn check(&self, v: usize, n: usize) -> Result<(), String> {
        check_owned(self.env, v, &self.pages[v][..n])
    }
}

/// The refcount part of freeing alone: `init_page_count` + the final put
/// (frozen: `fetch_sub` + the 0 -> FROZEN CAS; legacy: `fetch_sub`), each
/// thread on its own page.
pub struct FinalPut<'e> {
    env: &'e Env,
    pages: [Vec<Padded<Page>>; SCHEMES.len()],
}

impl<'e> FinalPut<'e> {
    /// What the workload is called and reports.
    pub const META: Meta = Meta {
        name: "final_put",
        title: "init_page_count + the final put_page (refcount only, own page), ns per pair per thread",
        variants: SCHEMES,
        ratios: FROZEN_OVER_LEGACY,
        kernel_ops: 200_000,
    };

    /// The workload on `env`, with per-thread state for up to
    /// `max_threads` threads.
    pub fn new(env: &'e Env, max_threads: usize) -> Self {
        let page = |f| Padded(Page::new(f));
        Self { env, pages: per_scheme!(|S| (0..max_threads).map(|_| page(S::FROZEN)).collect()) }
    }
}

impl Workload for FinalPut<'_> {
    fn meta(&self) -> &'static Meta {
        &Self::META
    }
    fn run(&self, v: usize, rank: usize, _n: usize, go: &dyn Fn(u64) -> bool) -> u64 {
        let c = self.pages[v][rank].refcount();
        let mut bad = 0;
        let ops = by_scheme!(v, S => run_until(go, || {
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

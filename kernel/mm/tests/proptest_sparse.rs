//! Random sequences over a *sparse* memmap (several 128 MiB sections with
//! absent ones between, RAM ranges crossing section boundaries), mixing the
//! zone and per-CPU paths, puts, speculative gets on any pfn (holes
//! included), drains, and misuse (double frees, frees of tails and of pages
//! nobody owns, `get_page` on a frozen block). Checked against a model after
//! every step: no page handed out twice, pages conserved
//! (free + cached + live + quarantined = managed), misuse always reported
//! and never reaching a list; `verify_free_lists` (buddy and per-CPU lists)
//! at the end and every few steps. Both schemes.

mod common;
use common::*;
use mm::memmap::PAGES_PER_SECTION;
use mm::{BadPageReason, RefcountBugKind};
use proptest::prelude::*;
use proptest::test_runner::Config;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

const SEC: usize = PAGES_PER_SECTION;
/// Sections the ranges may use: 0..NR_SECTIONS (some left absent).
const NR_SECTIONS: usize = if cfg!(miri) { 2 } else { 6 };
const CPUS: usize = 4;

#[derive(Clone, Debug)]
enum Op {
    /// Allocate (frozen or counted) of `order`, through CPU `cpu` or the zone.
    Alloc { order: usize, counted: bool, cpu: Option<usize> },
    /// Free / put live block `i % len` completely, through `cpu` or the zone.
    Free { i: usize, cpu: Option<usize> },
    /// Speculative get on pfn `p` of the whole space (holes included).
    Speculative(usize),
    /// Drain CPU `cpu`'s list.
    Drain(usize),
    /// Misuse: free pfn `p` (order 0), which nobody owns, through `cpu`.
    FreeUnowned { p: usize, cpu: Option<usize> },
    /// Misuse: free a tail page of live block `i % len`.
    FreeTail { i: usize, cpu: Option<usize> },
    /// Misuse: `get_page` on live block `i % len` if it is frozen.
    GetFrozen(usize),
}

fn cpu() -> impl Strategy<Value = Option<usize>> {
    prop_oneof![1 => Just(None), 2 => (0..CPUS).prop_map(Some)]
}

fn op() -> impl Strategy<Value = Op> {
    let space = NR_SECTIONS * SEC;
    let order = prop_oneof![4 => 0..4usize, 1 => 0..=MAX_ORDER];
    prop_oneof![
        6 => (order, any::<bool>(), cpu()).prop_map(|(order, counted, cpu)| Op::Alloc { order, counted, cpu }),
        5 => (any::<usize>(), cpu()).prop_map(|(i, cpu)| Op::Free { i, cpu }),
        2 => (0..space).prop_map(Op::Speculative),
        1 => (0..CPUS).prop_map(Op::Drain),
        1 => (0..space, cpu()).prop_map(|(p, cpu)| Op::FreeUnowned { p, cpu }),
        1 => (any::<usize>(), cpu()).prop_map(|(i, cpu)| Op::FreeTail { i, cpu }),
        1 => any::<usize>().prop_map(Op::GetFrozen),
    ]
}

/// Present sections (at least two, not all: holes between), and in each a
/// RAM range, some running across into the next present section.
fn ranges() -> impl Strategy<Value = Vec<Range<usize>>> {
    (prop::collection::btree_set(0..NR_SECTIONS, 2..=NR_SECTIONS.max(3) - 1), any::<u64>())
        .prop_map(|(secs, seed)| {
            let mut out: Vec<Range<usize>> = Vec::new();
            let mut x = seed | 1;
            let mut rnd = |n: usize| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % n as u64) as usize
            };
            for &s in &secs {
                let start = s * SEC + rnd(SEC / 2);
                // Across the boundary when the next section is present too.
                let end = if secs.contains(&(s + 1)) && rnd(2) == 0 {
                    (s + 1) * SEC + rnd(SEC / 4) + 1
                } else {
                    (s * SEC + SEC / 2 + rnd(SEC / 2)).max(start + 1)
                };
                if out.last().is_none_or(|l| l.end <= start) {
                    out.push(start..end);
                }
            }
            out
        })
}

fn config() -> Config {
    Config {
        cases: if cfg!(miri) { 1 } else { 48 },
        failure_persistence: None,
        ..Config::default()
    }
}

struct Live {
    pfn: usize,
    order: usize,
    /// None: frozen; Some(n): n references.
    refs: Option<u32>,
}

fn run<S: RefcountScheme>(ranges: Vec<Range<usize>>, ops: Vec<Op>) {
    let z = testing::zone::<S>(&ranges);
    let managed: usize = ranges.iter().map(|r| r.len()).sum();
    assert_eq!(z.managed_pages(), managed);
    let is_managed = |p: usize| ranges.iter().any(|r| r.contains(&p));
    // pfn -> order of live blocks, and the blocks themselves.
    let mut owned = BTreeMap::<usize, usize>::new();
    let mut live: Vec<Live> = Vec::new();
    let mut quarantined = BTreeSet::<usize>::new();
    let mut quarantined_pages = 0;
    let mut reports = 0;
    let owner_of = |owned: &BTreeMap<usize, usize>, p: usize| {
        owned.range(..=p).next_back().filter(|&(&s, &o)| p < s + (1 << o)).map(|(&s, _)| s)
    };
    let cached = |z: &Zone<'_, S>| (0..CPUS).map(|c| z.nr_pcp_pages(c)).sum::<usize>();

    for (step, op) in ops.into_iter().enumerate() {
        match op {
            Op::Alloc { order, counted, cpu } => {
                let got = match (cpu, counted) {
                    (Some(c), false) => z.alloc_frozen_pages_pcp(c, order),
                    (Some(c), true) => z.alloc_pages_pcp(c, order),
                    (None, false) => z.alloc_frozen_pages(order),
                    (None, true) => z.alloc_pages(order),
                };
                if let Some(p) = got {
                    let pfn = z.page_to_pfn(p);
                    assert_eq!(pfn % (1 << order), 0);
                    for q in [pfn, pfn + (1 << order) - 1] {
                        assert!(is_managed(q), "pfn {q:#x} not managed");
                        assert!(owner_of(&owned, q).is_none(), "pfn {q:#x} handed out twice");
                    }
                    if let Some((&s, _)) = owned.range(pfn..).next() {
                        assert!(s >= pfn + (1 << order), "block {pfn:#x}/{order} overlaps {s:#x}");
                    }
                    owned.insert(pfn, order);
                    live.push(Live { pfn, order, refs: counted.then_some(1) });
                } else {
                    // Only when no free page could form such a block: at the
                    // very least, fewer free pages than the block needs, or
                    // order > 0 (fragmentation).
                    assert!(
                        order > 0 || z.nr_free_pages() + cached(&z) == 0,
                        "order-0 alloc failed"
                    );
                }
            }
            Op::Free { i, cpu } if !live.is_empty() => {
                let l = live.swap_remove(i % live.len());
                let page = z.pfn_to_page(l.pfn).unwrap();
                match (l.refs, cpu) {
                    (None, Some(c)) => z.free_frozen_pages_pcp(c, page, l.order).unwrap(),
                    (None, None) => z.free_frozen_pages(page, l.order).unwrap(),
                    (Some(n), cpu) => {
                        for k in (0..n).rev() {
                            let r = match cpu {
                                Some(c) => z.put_page_pcp(c, page),
                                None => z.put_page(page),
                            };
                            assert_eq!(r, Ok(k == 0));
                        }
                    }
                }
                owned.remove(&l.pfn);
            }
            Op::Speculative(p) => {
                let Some(page) = z.pfn_to_page(p) else { continue };
                // A quarantined block keeps whatever count it had: a get on
                // it may succeed or fail, both correct.
                if quarantined.contains(&p) {
                    continue;
                }
                let counted = owner_of(&owned, p)
                    .is_some_and(|s| live.iter().any(|l| l.pfn == s && l.refs.is_some()));
                let got = z.get_page_unless_frozen(page);
                assert_eq!(got, counted, "speculative get on pfn {p:#x}");
                if got {
                    assert_eq!(z.put_page(page), Ok(false));
                }
            }
            Op::Drain(c) => z.drain_pages(c),
            Op::FreeUnowned { p, cpu } => {
                let Some(page) = z.pfn_to_page(p) else { continue };
                if owner_of(&owned, p).is_some() || quarantined.contains(&p) {
                    continue;
                }
                let r = match cpu {
                    Some(c) => z.free_frozen_pages_pcp(c, page, 0),
                    None => z.free_frozen_pages(page, 0),
                };
                let want = if is_managed(p) {
                    BadPageReason::DoubleFree
                } else if z.span().contains(&p) {
                    BadPageReason::Reserved
                } else {
                    BadPageReason::OutsideZone
                };
                assert_eq!(r.unwrap_err().reason, want, "free of unowned pfn {p:#x}");
                reports += 1;
            }
            Op::FreeTail { i, cpu } if !live.is_empty() => {
                let idx = i % live.len();
                if live[idx].order == 0 {
                    continue;
                }
                let l = live.swap_remove(idx);
                let tail = z.pfn_to_page(l.pfn + 1).unwrap();
                let r = match cpu {
                    Some(c) => z.free_frozen_pages_pcp(c, tail, 0),
                    None => z.free_frozen_pages(tail, 0),
                };
                let bad = r.unwrap_err();
                assert_eq!((bad.reason, bad.quarantined), (BadPageReason::TailPage, true));
                reports += 1;
                // The block is quarantined: gone for good.
                owned.remove(&l.pfn);
                quarantined.extend(l.pfn..l.pfn + (1 << l.order));
                quarantined_pages += 1 << l.order;
            }
            Op::GetFrozen(i) if !live.is_empty() => {
                let idx = i % live.len();
                if live[idx].refs.is_some() {
                    continue;
                }
                let l = live.swap_remove(idx);
                let page = z.pfn_to_page(l.pfn).unwrap();
                let bad = z.get_page(page).unwrap_err();
                assert_eq!(
                    (bad.reason, bad.quarantined),
                    (BadPageReason::Refcount(RefcountBugKind::GetWithoutRef), true)
                );
                reports += 1;
                // Its owner's free is swallowed; the block stays out.
                z.free_frozen_pages_pcp(0, page, l.order).unwrap();
                owned.remove(&l.pfn);
                quarantined.extend(l.pfn..l.pfn + (1 << l.order));
                quarantined_pages += 1 << l.order;
            }
            _ => {}
        }
        let live_pages: usize = live.iter().map(|l| 1 << l.order).sum();
        let s = z.stats();
        assert_eq!(s.free + cached(&z) + live_pages + s.quarantined, managed, "pages conserved");
        assert_eq!(s.quarantined, quarantined_pages);
        assert_eq!(s.bad_pages, reports);
        if step % 16 == 15 {
            z.verify_free_lists().unwrap();
        }
    }
    z.verify_free_lists().unwrap();
    for l in live.drain(..) {
        let page = z.pfn_to_page(l.pfn).unwrap();
        match l.refs {
            None => z.free_frozen_pages(page, l.order).unwrap(),
            Some(n) => assert_eq!(z.put_page_refs(page, n), Ok(true)),
        }
    }
    z.drain_all_pages();
    z.verify_free_lists().unwrap();
    assert_eq!(z.nr_free_pages(), managed - quarantined_pages);
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(), 0..if cfg!(miri) { 10 } else { 120 })
}

mm::for_each_scheme! { |S|
    proptest! {
        #![proptest_config(config())]

        #[test]
        fn sparse(ranges in ranges(), ops in ops()) {
            run::<S>(ranges, ops);
        }
    }
}

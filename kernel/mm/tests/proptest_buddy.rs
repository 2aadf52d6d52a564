//! Random alloc/get/put/free sequences against a simple model, for both
//! schemes: live blocks never overlap, an allocation fails exactly when no
//! aligned fully free region of that order exists, free counts are conserved,
//! and after freeing everything the free lists are back to their initial
//! (fully merged) state.

mod common;
use common::*;
use proptest::prelude::*;
use proptest::test_runner::Config;
use std::ops::Range;

/// Pfn space the random ranges live in.
const SPACE: usize = if cfg!(miri) { 2048 } else { 6 << MAX_ORDER };

#[derive(Clone, Debug)]
enum Op {
    AllocFrozen(usize),
    Alloc(usize),
    /// Free live block `i % len` completely (free_frozen_pages or puts).
    Free(usize),
    /// get_page on live counted block `i % len`, through one of its pages.
    Get(usize, usize),
    /// put_page on live counted block `i % len`.
    Put(usize),
    /// Speculative get on an arbitrary pfn.
    Speculative(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let order = prop_oneof![4 => 0..3usize, 1 => 0..=MAX_ORDER];
    prop_oneof![
        3 => order.clone().prop_map(Op::AllocFrozen),
        3 => order.prop_map(Op::Alloc),
        3 => any::<usize>().prop_map(Op::Free),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(i, j)| Op::Get(i, j)),
        1 => any::<usize>().prop_map(Op::Put),
        1 => (0..SPACE).prop_map(Op::Speculative),
    ]
}

/// One to three disjoint ranges of RAM, some unaligned.
fn ranges() -> impl Strategy<Value = Vec<Range<usize>>> {
    prop::collection::vec((0..SPACE, 1..SPACE / 2), 1..=3).prop_map(|v| {
        let mut out: Vec<Range<usize>> = Vec::new();
        for (start, len) in v {
            let r = start..(start + len).min(SPACE);
            if out.iter().all(|o| r.end <= o.start || r.start >= o.end) {
                out.push(r);
            }
        }
        out
    })
}

struct Live {
    pfn: usize,
    order: usize,
    /// None: frozen; Some(n): n references.
    refs: Option<u32>,
}

fn config() -> Config {
    Config {
        cases: if cfg!(miri) { 2 } else { 128 },
        failure_persistence: None,
        ..Config::default()
    }
}

fn run<S: RefcountScheme>(ranges: Vec<Range<usize>>, ops: Vec<Op>) {
    let z = testing::zone::<S>(&ranges);
    let initial = z.stats();
    let managed = ranges.iter().map(|r| r.len()).sum::<usize>();
    assert_eq!(initial.managed, managed);
    // Model: which pfns are managed / currently owned.
    let mut managed_map = vec![false; SPACE];
    for r in &ranges {
        managed_map[r.clone()].iter_mut().for_each(|m| *m = true);
    }
    let mut owned = vec![false; SPACE];
    let mut live: Vec<Live> = Vec::new();

    let fits = |owned: &[bool], order: usize| {
        (0..SPACE >> order).any(|b| {
            let r = b << order..(b + 1) << order;
            r.clone().all(|p| managed_map[p] && !owned[p])
        })
    };

    for op in ops {
        match op {
            Op::AllocFrozen(order) | Op::Alloc(order) => {
                let counted = matches!(op, Op::Alloc(_));
                let could = fits(&owned, order);
                let got = if counted { z.alloc_pages(order) } else { z.alloc_frozen_pages(order) };
                assert_eq!(got.is_some(), could, "alloc order {order}: {}", z.buddyinfo());
                if let Some(p) = got {
                    let pfn = z.page_to_pfn(p);
                    assert_eq!(pfn % (1 << order), 0);
                    for q in pfn..pfn + (1 << order) {
                        assert!(managed_map[q], "pfn {q:#x} not managed");
                        assert!(!owned[q], "pfn {q:#x} handed out twice");
                        owned[q] = true;
                    }
                    assert_eq!(z.page_count(p), counted as u32);
                    live.push(Live { pfn, order, refs: counted.then_some(1) });
                }
            }
            Op::Free(i) if !live.is_empty() => {
                let l = live.swap_remove(i % live.len());
                let page = z.pfn_to_page(l.pfn).unwrap();
                match l.refs {
                    None => z.free_frozen_pages(page, l.order).unwrap(),
                    Some(n) => {
                        for k in (0..n).rev() {
                            assert_eq!(z.put_page(page), Ok(k == 0));
                        }
                    }
                }
                owned[l.pfn..l.pfn + (1 << l.order)].iter_mut().for_each(|o| *o = false);
            }
            Op::Get(i, j) if !live.is_empty() => {
                let n = live.len();
                let l = &mut live[i % n];
                if let Some(refs) = &mut l.refs {
                    let page = z.pfn_to_page(l.pfn + j % (1 << l.order)).unwrap();
                    z.get_page(page).unwrap();
                    *refs += 1;
                }
            }
            Op::Put(i) if !live.is_empty() => {
                let n = live.len();
                let idx = i % n;
                if let Some(refs) = live[idx].refs {
                    let page = z.pfn_to_page(live[idx].pfn).unwrap();
                    assert_eq!(z.put_page(page), Ok(refs == 1));
                    if refs == 1 {
                        let l = live.swap_remove(idx);
                        owned[l.pfn..l.pfn + (1 << l.order)].iter_mut().for_each(|o| *o = false);
                    } else {
                        live[idx].refs = Some(refs - 1);
                    }
                }
            }
            Op::Speculative(pfn) => {
                let Some(page) = z.pfn_to_page(pfn) else { continue };
                let counted = live
                    .iter()
                    .any(|l| l.refs.is_some() && (l.pfn..l.pfn + (1 << l.order)).contains(&pfn));
                let got = z.get_page_unless_frozen(page);
                assert_eq!(got, counted, "speculative get on pfn {pfn:#x}");
                if got {
                    assert_eq!(z.put_page(page), Ok(false));
                }
            }
            _ => {}
        }
        let live_pages: usize = live.iter().map(|l| 1 << l.order).sum();
        assert_eq!(z.nr_free_pages() + live_pages, managed, "pages conserved");
    }
    z.verify_free_lists().unwrap();
    for l in live.drain(..) {
        let page = z.pfn_to_page(l.pfn).unwrap();
        match l.refs {
            None => z.free_frozen_pages(page, l.order).unwrap(),
            Some(n) => assert_eq!(z.put_page_refs(page, n), Ok(true)),
        }
    }
    z.verify_free_lists().unwrap();
    let end = z.stats();
    assert_eq!(end.nr_free, initial.nr_free, "back to the initial free lists");
    if let [r] = &ranges[..]
        && r.start.is_multiple_of(1 << MAX_ORDER)
        && r.len().is_multiple_of(1 << MAX_ORDER)
    {
        assert_fully_merged(&z, r.len() >> MAX_ORDER);
    }
    assert_eq!(end.free, managed);
    assert_eq!(end.bad_pages, 0);
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(), 0..if cfg!(miri) { 12 } else { 160 })
}

mm::for_each_scheme! { |S|
    proptest! {
        #![proptest_config(config())]

        #[test]
        fn model(ranges in ranges(), ops in ops()) {
            run::<S>(ranges, ops);
        }

        /// The aligned case: four whole max-order blocks come back as four
        /// max-order blocks (nothing may stay split after the ops are undone).
        #[test]
        fn aligned_blocks_merge_whole(ops in ops()) {
            let blocks = if cfg!(miri) { 1 } else { 4 };
            run::<S>(vec![0..blocks << MAX_ORDER], ops);
        }
    }
}

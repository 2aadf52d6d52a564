//! Internal tests: free-list mechanics and the double-free walk.

use crate::refcount::{Frozen, Legacy, RefcountScheme};
use crate::testing;
use crate::{MAX_ORDER, Zone};

fn zone<S: RefcountScheme>() -> Zone<'static, S> {
    // Two max-order blocks.
    testing::zone::<S>(&[0..2 << MAX_ORDER])
}

fn split_and_merge<S: RefcountScheme>() {
    let z = zone::<S>();
    assert_eq!(z.stats().nr_free[MAX_ORDER], 2);
    let p = z.alloc_frozen_pages(0).unwrap();
    let base = z.page_to_pfn(p);
    assert_eq!(base % (1 << MAX_ORDER), 0);
    // One block of each order 0..MAX_ORDER split off, plus the untouched one.
    let nr = z.stats().nr_free;
    assert_eq!(&nr[..MAX_ORDER], &[1; MAX_ORDER]);
    assert_eq!(nr[MAX_ORDER], 1);
    z.verify_free_lists().unwrap();
    for o in 0..MAX_ORDER {
        assert!(z.is_page_free(base + (1 << o)));
    }
    assert!(!z.is_page_free(base));
    z.free_frozen_pages(p, 0).unwrap();
    assert_eq!(z.stats().nr_free[MAX_ORDER], 2);
    assert!(z.is_page_free(0) && z.is_page_free(1023) && z.is_page_free(2047));
    z.verify_free_lists().unwrap();
}

fn list_del_from_middle<S: RefcountScheme>() {
    let z = zone::<S>();
    // Allocate all order-0 pages of the first 8, free 0, 2, 4 (three order-0
    // blocks on one list), then 5: merging 4+5 unlinks 4 from the middle.
    let pages: std::vec::Vec<_> = (0..8).map(|_| z.alloc_frozen_pages(0).unwrap()).collect();
    for i in [0, 2, 4] {
        z.free_frozen_pages(pages[i], 0).unwrap();
    }
    z.verify_free_lists().unwrap();
    z.free_frozen_pages(pages[5], 0).unwrap();
    z.verify_free_lists().unwrap();
    for i in [1, 3, 6, 7] {
        z.free_frozen_pages(pages[i], 0).unwrap();
        z.verify_free_lists().unwrap();
    }
    assert_eq!(z.stats().nr_free[MAX_ORDER], 2);
}

#[test]
fn split_and_merge_frozen() {
    split_and_merge::<Frozen>();
}
#[test]
fn split_and_merge_legacy() {
    split_and_merge::<Legacy>();
}
#[test]
fn list_del_from_middle_frozen() {
    list_del_from_middle::<Frozen>();
}
#[test]
fn list_del_from_middle_legacy() {
    list_del_from_middle::<Legacy>();
}

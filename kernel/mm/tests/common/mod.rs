//! Shared helpers for the integration tests.
#![allow(dead_code, unused_macros, unused_imports)]

pub use mm::testing;
pub use mm::{Frozen, Legacy, MAX_ORDER, Page, RefcountScheme, Zone};

/// A zone of `blocks` max-order blocks starting at pfn 0.
pub fn zone<S: RefcountScheme>(blocks: usize) -> Zone<'static, S> {
    testing::zone::<S>(&[0..blocks << MAX_ORDER])
}

/// Free lists fully merged: only max-order blocks, `blocks` of them.
pub fn assert_fully_merged<S: RefcountScheme>(z: &Zone<'_, S>, blocks: usize) {
    z.verify_free_lists().unwrap();
    let mut want = [0; MAX_ORDER + 1];
    want[MAX_ORDER] = blocks;
    assert_eq!(z.stats().nr_free, want, "buddyinfo: {}", z.buddyinfo());
}

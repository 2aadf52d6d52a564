//! The in-kernel test suites. Register a new suite by adding it to [`SUITES`].
//!
//! These suites are generic: they use only the arch contract (`crate::arch`).
//! A suite for one architecture's own pieces lives in that architecture's
//! `arch/<arch>/tests/` and runs through `arch::TEST_SUITES`.

use crate::ktest::Suite;

mod bootinfo;
mod console;
mod exceptions;
mod heap;
mod hid;
pub mod inject;
mod mm;
mod smp;
pub mod stress;

/// Every suite, in run order.
static SUITES: &[&Suite] = &[
    &console::SUITE,
    &exceptions::SUITE,
    &heap::SUITE,
    &hid::SUITE,
    &bootinfo::SUITE,
    &smp::SUITE,
    &mm::SUITE,
];

/// The registered suites, then the architecture's own, the stress suites,
/// and the injected-failure suite when one is configured.
pub fn all_suites() -> impl Iterator<Item = &'static Suite> {
    SUITES
        .iter()
        .copied()
        .chain(crate::arch::TEST_SUITES.iter().copied())
        .chain(stress::SUITES)
        .chain(inject::suite())
}

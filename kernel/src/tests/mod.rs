//! The in-kernel test suites. Register a new suite by adding it to [`SUITES`].

use crate::ktest::Suite;

mod apic_mmio;
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
    &apic_mmio::SUITE,
];

/// The registered suites plus the injected-failure suite when one is configured.
pub fn all_suites() -> impl Iterator<Item = &'static Suite> {
    SUITES.iter().copied().chain(stress::SUITES).chain(inject::suite())
}

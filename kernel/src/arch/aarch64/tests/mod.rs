//! The ktest suites for aarch64's own pieces (page-table attributes, the
//! atomics chosen at boot), which
//! the generic suites in `crate::tests` cannot name. They run after those.

use crate::ktest::Suite;

mod atomics;
mod mmu_attributes;

/// Every aarch64 suite, in run order (the contract's `arch::TEST_SUITES`).
pub static TEST_SUITES: &[&Suite] = &[&mmu_attributes::SUITE, &atomics::SUITE];

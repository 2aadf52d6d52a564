//! The ktest suites for aarch64's own pieces, which the generic suites in
//! `crate::tests` cannot name. They run after those.

use crate::ktest::Suite;

/// Every aarch64 suite, in run order (the contract's `arch::TEST_SUITES`).
pub static TEST_SUITES: &[&Suite] = &[];

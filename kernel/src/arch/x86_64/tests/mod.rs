//! The ktest suites for x86_64's own pieces (APIC, `map_mmio`, the PAT), which the
//! generic suites in `crate::tests` cannot name. They run after those.

use crate::ktest::Suite;

mod apic_mmio;
mod pat;

/// Every x86_64 suite, in run order (the contract's `arch::TEST_SUITES`).
pub static TEST_SUITES: &[&Suite] = &[&apic_mmio::SUITE, &pat::SUITE];

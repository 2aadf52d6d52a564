//! CPU exceptions that the kernel handles and returns from.
//! (Fatal ones end the run: the harness tests cover them via ktest.inject.)

use crate::arch;
use crate::ktest::{Suite, TestResult};
use crate::{kassert, kassert_eq};

pub static SUITE: Suite = Suite {
    name: "exceptions",
    cases: crate::cases![breakpoint_resumes, breakpoint_repeated, tables_loaded],
};

fn breakpoint_resumes() -> TestResult {
    let before = arch::breakpoint_count();
    arch::breakpoint();
    kassert_eq!(arch::breakpoint_count(), before + 1);
    Ok(())
}

fn breakpoint_repeated() -> TestResult {
    let before = arch::breakpoint_count();
    let mut sum = 0u64;
    for i in 0..100 {
        arch::breakpoint();
        sum += i;
    }
    kassert_eq!(sum, 4950);
    kassert_eq!(arch::breakpoint_count(), before + 100);
    Ok(())
}

/// The exception tables the CPU uses are ours (not the bootloader's), and a
/// separate stack is set up for faults that cannot use the current one.
fn tables_loaded() -> TestResult {
    let t = arch::exception_tables();
    kassert!(t.vectors_ours, "the CPU's exception vector table is not the kernel's");
    kassert!(t.fault_stack_ok, "no separate stack for double faults / SErrors");
    Ok(())
}

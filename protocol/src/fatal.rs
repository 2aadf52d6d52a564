//! The first words of a fatal report.
//!
//! The kernel's panic handler and its exception handlers (both arches) start
//! their report with one of these markers, then exit QEMU with a failure
//! status. The runner fails a boot whose serial output contains one (inside
//! the KTAP block the report comes as a diagnostic, `    # KERNEL PANIC
//! ...`, so it looks anywhere in a line) and gives QEMU a short grace period
//! to exit after it. The screen console paints such lines red.

/// Starts the panic handler's report: `KERNEL PANIC on CPU <id>: <message>`.
pub const KERNEL_PANIC: &str = "KERNEL PANIC";

/// Starts an exception handler's report: `CPU EXCEPTION: <name> ... on CPU
/// <index> ...` (also `CPU EXCEPTION while reporting one ...`).
pub const CPU_EXCEPTION: &str = "CPU EXCEPTION";

/// Every marker, in the order the runner checks them.
pub const MARKERS: [&str; 2] = [KERNEL_PANIC, CPU_EXCEPTION];

/// The first marker that occurs anywhere in `line`, if any: the runner's
/// test for a fatal report.
pub fn marker_in(line: &str) -> Option<&'static str> {
    MARKERS.into_iter().find(|m| line.contains(m))
}

/// Whether `line`, without its leading white space, starts with a marker
/// (the first line of a report as the kernel prints it).
pub fn starts_report(line: &str) -> bool {
    let line = line.trim_start();
    MARKERS.iter().any(|m| line.starts_with(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers() {
        assert_eq!(marker_in("    # KERNEL PANIC on CPU 0: boom"), Some(KERNEL_PANIC));
        assert_eq!(marker_in("noise CPU EXCEPTION #PF"), Some(CPU_EXCEPTION));
        assert_eq!(marker_in("kernel panic"), None);
        assert!(starts_report("\n  CPU EXCEPTION: page fault"));
        assert!(!starts_report("# KERNEL PANIC"));
    }
}

//! Verdict logic with fake QEMU endings.

use std::time::Duration;

use super::*;

const GOOD: &str = "KTAP version 1\n1..1\n    KTAP version 1\n    # Subtest: heap\n    1..2\n    ok 1 a\n    ok 2 b # SKIP later\nok 1 heap\n";

fn run(text: &str, ending: Ending) -> Run {
    Run {
        arch: Arch::X86_64,
        lines: text.lines().map(String::from).collect(),
        ending,
        stderr: String::new(),
        timeout: Duration::from_secs(20),
        elapsed: Duration::ZERO,
        log_path: Some("target/qemu-logs/t.log".into()),
    }
}

#[test]
fn success_status_and_clean_ktap_passes() {
    let v = judge(&run(GOOD, Ending::Exited(Some(33))));
    assert!(v.is_pass(), "{}", v.render());
    assert_eq!(v.render(), "ok    heap.a\nskip  heap.b\n1 passed, 0 failed, 1 skipped\n");
}

#[test]
fn status_zero_is_a_triple_fault() {
    let v = judge(&run(GOOD, Ending::Exited(Some(0))));
    assert_eq!(
        v.failures,
        ["QEMU exited with status 0 without the kernel reporting (triple fault or reset?)"]
    );
    assert!(
        v.render().ends_with("serial log: target/qemu-logs/t.log\n1 passed, 1 failed, 1 skipped\n")
    );
}

#[test]
fn failure_status_without_failing_case() {
    let v = judge(&run(GOOD, Ending::Exited(Some(35))));
    assert_eq!(v.failed(), 1);
    assert!(v.failures[0].contains("kernel reported failure"));
}

#[test]
fn failure_status_explained_by_failed_case_is_not_repeated() {
    let text = "KTAP version 1\n1..1\nnot ok 1 injected_failure # on purpose\n";
    let v = judge(&run(text, Ending::Exited(Some(35))));
    assert!(v.failures.is_empty());
    assert_eq!(v.reason(), "injected_failure: on purpose");
    assert_eq!(v.summary(), "0 passed, 1 failed");
}

#[test]
fn success_status_does_not_hide_failures() {
    let v = judge(&run("KTAP version 1\n1..2\nok 1 a\n", Ending::Exited(Some(33))));
    assert_eq!(v.failures, ["short plan: planned 2, got 1"]);
    assert!(!v.is_pass());
}

#[test]
fn other_statuses() {
    let v = judge(&run(GOOD, Ending::Exited(Some(7))));
    assert!(v.failures[0].contains("wrote 0x3 to isa-debug-exit"), "{:?}", v.failures);
    let mut r = run("", Ending::Exited(Some(1)));
    r.stderr = "qemu-system-x86_64: -drive x: Could not open 'x'\n".into();
    let v = judge(&r);
    assert!(
        v.failures.contains(
            &"QEMU exited with status 1 (QEMU: qemu-system-x86_64: -drive x: Could not open 'x')"
                .to_string()
        ),
        "{:?}",
        v.failures
    );
    assert!(v.failures.iter().any(|f| f.contains("no `KTAP version 1` header")));
    let v = judge(&run(GOOD, Ending::Exited(None)));
    assert_eq!(v.failures, ["QEMU was killed by a signal"]);
}

#[test]
fn timeout_quotes_last_lines() {
    let text = "KTAP version 1\n1..1\n    KTAP version 1\n    # Subtest: inject\n    1..1\n\r\n    # about to hang\r\n";
    let v = judge(&run(text, Ending::TimedOut));
    assert_eq!(
        v.failures[0],
        "timeout after 20 s; last lines:\n    1..1\n        KTAP version 1\n        # Subtest: inject\n        1..1\n        # about to hang"
    );
    // The unfinished suite counts as the top level's one result: no second short-plan message.
    assert!(!v.failures.iter().any(|f| f.starts_with("short plan")));
    assert!(v.reason().contains("inject: output ended inside the suite: planned 1, got 0"));
}

#[test]
fn panic_report_and_no_exit() {
    let text = "KTAP version 1\n1..1\n# KERNEL PANIC on CPU 2: oops\n#   at kernel/src/a.rs:3:4\n";
    let v = judge(&run(text, Ending::NoExitAfterFatal));
    assert!(v.failures[0].starts_with("KERNEL PANIC on CPU 2: oops\n      at kernel/src/a.rs:3:4"));
    assert!(v.failures[1].contains("still running"));
    assert!(v.failures.contains(&"short plan: planned 1, got 0".to_string()));
    assert_eq!(v.summary(), "0 passed, 3 failed");
}

/// aarch64 exits through semihosting: 0 = success, 1 = failure, unshifted.
#[test]
fn aarch64_semihosting_statuses() {
    let a64 =
        |text: &str, status| Run { arch: Arch::Aarch64, ..run(text, Ending::Exited(Some(status))) };
    assert!(judge(&a64(GOOD, 0)).is_pass());
    let v = judge(&a64(GOOD, 1));
    assert_eq!(v.failed(), 1);
    assert!(v.failures[0].contains("semihosting exit status 1"), "{:?}", v.failures);
    let failed_case = "KTAP version 1\n1..1\nnot ok 1 injected_failure # on purpose\n";
    let v = judge(&a64(failed_case, 1));
    assert!(v.failures.is_empty(), "{:?}", v.failures);
    assert_eq!(v.summary(), "0 passed, 1 failed");
    let v = judge(&a64(GOOD, 33));
    assert_eq!(v.failures, ["QEMU exited with status 33"]);
}

/// A boot that printed nothing says so and what it usually means.
#[test]
fn no_serial_output_is_explained() {
    let v = judge(&run("", Ending::TimedOut));
    assert!(
        v.failures[0].starts_with("timeout after 20 s with no output at all on the serial port"),
        "{:?}",
        v.failures
    );
    assert!(v.failures[0].contains("bootloader failing"), "{:?}", v.failures);
    let v = judge(&run("\n\n", Ending::Exited(Some(1))));
    assert!(v.failures.iter().any(|f| f.contains("no output at all")), "{:?}", v.failures);
    // Some output, then silence: the ordinary timeout message.
    let v = judge(&run("BdsDxe: loading\n", Ending::TimedOut));
    assert!(!v.failures[0].contains("no output at all"), "{:?}", v.failures);
}

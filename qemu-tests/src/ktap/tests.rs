//! Parser tests on hand-written serial logs.

use super::*;

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

fn names(doc: &Document) -> Vec<String> {
    doc.cases().into_iter().map(|c| c.name).collect()
}

const PASSING: &str = "\
BIOS boot, 1024 MiB usable
KTAP version 1
1..2
    KTAP version 1
    # Subtest: console
    1..2
    ok 1 print_works
    ok 2 log_works
ok 1 console
    KTAP version 1
    # Subtest: heap
    1..1
    ok 1 box_alloc
ok 2 heap
";

#[test]
fn passing_output() {
    let doc = parse(&lines(PASSING));
    assert_eq!(doc.problems, Vec::<String>::new());
    assert!(doc.fatal.is_empty());
    assert_eq!(names(&doc), ["console.print_works", "console.log_works", "heap.box_alloc"]);
    assert!(doc.cases().iter().all(|c| c.outcome == Outcome::Pass));
}

#[test]
fn not_ok_with_reason_and_skip() {
    let text = "\
KTAP version 1
1..1
    KTAP version 1
    # Subtest: console
    1..3
    ok 1 print_works
    not ok 2 something # assertion failed: x == y at kernel/src/foo.rs:12
    ok 3 skipped_case # SKIP not on this arch
    # some diagnostic
not ok 1 console
";
    let doc = parse(&lines(text));
    assert!(doc.problems.is_empty(), "{:?}", doc.problems);
    let cases = doc.cases();
    assert_eq!(cases[0].outcome, Outcome::Pass);
    assert_eq!(
        cases[1],
        Case {
            name: "console.something".into(),
            outcome: Outcome::Fail("assertion failed: x == y at kernel/src/foo.rs:12".into()),
        }
    );
    assert_eq!(cases[2].outcome, Outcome::Skip(Some("not on this arch".into())));
}

#[test]
fn failure_reason_from_preceding_diagnostics() {
    let text = "KTAP version 1\n1..1\n# left: 1, right: 2\nnot ok 1 eq\n";
    let doc = parse(&lines(text));
    assert_eq!(doc.cases()[0].outcome, Outcome::Fail("left: 1, right: 2".into()));
}

#[test]
fn short_plan() {
    let text = "KTAP version 1\n1..3\nok 1 a\nok 2 b\n";
    let doc = parse(&lines(text));
    assert_eq!(doc.problems, ["short plan: planned 3, got 2"]);
}

#[test]
fn missing_plan() {
    let doc = parse(&lines("KTAP version 1\nok 1 a\n"));
    assert_eq!(doc.problems, ["missing plan"]);
}

#[test]
fn missing_header() {
    let doc = parse(&lines("booting...\n1..1\nok 1 a\n"));
    assert!(doc.root.is_none());
    assert_eq!(doc.problems, ["no `KTAP version 1` header in the output"]);
    assert!(parse::<&str>(&[]).problems[0].contains("no `KTAP version 1` header"));
}

#[test]
fn wrong_version() {
    let doc = parse(&lines("TAP version 14\n1..1\nok 1 a\n"));
    assert!(doc.problems[0].contains("unsupported header `TAP version 14`"), "{:?}", doc.problems);
    let doc = parse(&lines("KTAP version 2\n1..1\nok 1 a\n"));
    assert!(doc.problems[0].contains("unsupported header"), "{:?}", doc.problems);
}

#[test]
fn out_of_order_and_duplicate_numbers() {
    let doc = parse(&lines("KTAP version 1\n1..2\nok 2 b\nok 1 a\n"));
    assert_eq!(doc.problems.len(), 1);
    assert!(doc.problems[0].contains("numbered 2, expected 1"), "{:?}", doc.problems);
    let doc = parse(&lines("KTAP version 1\n1..2\nok 1 a\nok 1 a\n"));
    assert!(doc.problems[0].contains("numbered 1, expected 2"), "{:?}", doc.problems);
}

#[test]
fn too_many_results() {
    let doc = parse(&lines("KTAP version 1\n1..1\nok 1 a\nok 2 b\n"));
    assert_eq!(doc.problems, ["too many results: planned 1, got 2"]);
}

#[test]
fn nested_three_levels() {
    let text = "\
KTAP version 1
1..1
    KTAP version 1
    # Subtest: mm
    1..2
        KTAP version 1
        # Subtest: buddy
        1..2
        ok 1 split
        ok 2 merge
    ok 1 buddy
    ok 2 frames
ok 1 mm
";
    let doc = parse(&lines(text));
    assert!(doc.problems.is_empty(), "{:?}", doc.problems);
    assert_eq!(names(&doc), ["mm.buddy.split", "mm.buddy.merge", "mm.frames"]);
}

#[test]
fn subtest_name_before_header_and_name_from_result() {
    // Older KUnit prints `# Subtest:` first; the result line's name wins.
    let text = "KTAP version 1\n1..1\n    # Subtest: a\n    KTAP version 1\n    1..1\n    ok 1 x\nok 1 b\n";
    let doc = parse(&lines(text));
    assert!(doc.problems.is_empty(), "{:?}", doc.problems);
    assert_eq!(names(&doc), ["b.x"]);
}

#[test]
fn noise_before_the_header_is_ignored_but_not_inside_the_block() {
    let log = [
        "\x1b[2J\x1b[01;01HBdsDxe: loading\r",
        "[INFO] heap ready\r",
        "KTAP version 1",
        "1..1",
        "[ 0.01] cpu 1 online",
        "    KTAP version 1",
        "    # Subtest: heap",
        "  two-space noise ok 1 fake",
        "    1..1",
        "    ok 1 box_alloc\r\r",
        "\0    ok 1 box_alloc",
        "    RIP: 0xffff8000 (register dump style noise)",
        "ok 1 heap",
        "shutting down\r",
    ];
    let doc = parse(&log);
    assert_eq!(
        doc.problems[..5],
        [
            r#"line 5: format error: neither a KTAP line nor a `#` diagnostic: "[ 0.01] cpu 1 online""#,
            r#"line 8: format error: neither a KTAP line nor a `#` diagnostic: "  two-space noise ok 1 fake""#,
            r#"line 10: format error: control character in the KTAP block: "    ok 1 box_alloc\r""#,
            r#"line 11: format error: control character in the KTAP block: "\0    ok 1 box_alloc""#,
            r#"line 12: format error: neither a KTAP line nor a `#` diagnostic: "    RIP: 0xffff8000 (register dump style noise)""#,
        ]
    );
    assert_eq!(doc.problems.len(), 6, "{:?}", doc.problems);
    assert!(doc.problems[5].contains("heap: short plan: planned 1, got 0"), "{:?}", doc.problems);
}

#[test]
fn crlf_line_endings_are_line_endings() {
    let doc = parse(&["KTAP version 1\r", "1..1\r", "# note\r", "ok 1 a\r"]);
    assert!(doc.problems.is_empty(), "{:?}", doc.problems);
    assert_eq!(doc.cases()[0].outcome, Outcome::Pass);
}

#[test]
fn header_must_be_a_whole_line() {
    let doc = parse(&["\x1b[0m\x1b[2JKTAP version 1", "1..1", "ok 1 a"]);
    assert_eq!(doc.problems, ["no `KTAP version 1` header in the output"]);
}

#[test]
fn many_format_errors_are_counted() {
    let mut log = vec!["KTAP version 1".to_string(), "1..1".to_string()];
    log.extend((0..15).map(|i| format!("noise {i}")));
    log.push("ok 1 a".into());
    let doc = parse(&log);
    assert_eq!(doc.problems.len(), 11, "{:?}", doc.problems);
    assert_eq!(doc.problems[10], "5 more format error(s) not shown");
}

#[test]
fn skip_and_todo_directives() {
    let text = "KTAP version 1\n1..3\nnot ok 1 a # SKIP no device\nok 2 b # skip\nnot ok 3 c # TODO later\n";
    let doc = parse(&lines(text));
    let cases = doc.cases();
    assert_eq!(cases[0].outcome, Outcome::Skip(Some("no device".into())));
    assert_eq!(cases[1].outcome, Outcome::Skip(None));
    assert_eq!(cases[2].outcome, Outcome::Fail("TODO: later".into()));
}

#[test]
fn suite_ok_around_failed_case_is_inconsistent() {
    let text = "KTAP version 1\n1..1\n    KTAP version 1\n    1..1\n    not ok 1 x\nok 1 s\n";
    let doc = parse(&lines(text));
    assert_eq!(doc.problems.len(), 1);
    assert!(doc.problems[0].contains("s: suite reported ok but 1 case(s) inside failed"));
}

#[test]
fn suite_not_ok_without_failed_case() {
    let text = "KTAP version 1\n1..1\n    KTAP version 1\n    1..1\n    ok 1 x\nnot ok 1 s # setup failed\n";
    let doc = parse(&lines(text));
    assert!(doc.problems[0].contains("suite reported not ok (setup failed)"), "{:?}", doc.problems);
}

#[test]
fn output_ends_inside_a_suite() {
    let text =
        "KTAP version 1\n1..2\n    KTAP version 1\n    # Subtest: heap\n    1..3\n    ok 1 a\n";
    let doc = parse(&lines(text));
    assert_eq!(
        doc.problems,
        ["short plan: planned 2, got 1", "heap: output ended inside the suite: planned 3, got 1"]
    );
    assert_eq!(names(&doc), ["heap.a"]);
}

#[test]
fn subtest_without_header_is_a_problem() {
    let text = "KTAP version 1\n1..1\n    1..1\n    ok 1 x\nok 1 s\n";
    let doc = parse(&lines(text));
    assert!(doc.problems[0].contains("subtest without `KTAP version 1` header"));
    assert_eq!(names(&doc), ["s.x"]);
}

#[test]
fn panic_line_is_reported_with_context() {
    // In KTAP mode the kernel's report is a diagnostic; shown without the `# `.
    let text =
        "KTAP version 1\n1..1\n# \n# KERNEL PANIC on CPU 0: boom\n#   at kernel/src/x.rs:1:2\n";
    let doc = parse(&lines(text));
    assert_eq!(doc.fatal, ["KERNEL PANIC on CPU 0: boom\n      at kernel/src/x.rs:1:2"]);
    assert_eq!(doc.problems, ["short plan: planned 1, got 0"]);
    let doc = parse(&["noise CPU EXCEPTION #PF at 0x0", "RIP=0x1"]);
    assert_eq!(doc.fatal, ["noise CPU EXCEPTION #PF at 0x0\n    RIP=0x1"]);
}

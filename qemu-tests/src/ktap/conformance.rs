//! Conformance tests written from the KTAP v1 specification (Linux
//! `Documentation/dev-tools/ktap.rst`): version, plan, result and diagnostic
//! lines, directives, nesting (the spec's two-space indentation and KUnit's
//! four), and what this project adds on top (strict lines inside the block,
//! crash and bail-out handling). Inputs are written here, not copied.

use super::*;

fn doc(text: &str) -> Document {
    parse(&text.lines().collect::<Vec<_>>())
}

fn outcomes(d: &Document) -> Vec<(String, Outcome)> {
    d.cases().into_iter().map(|c| (c.name, c.outcome)).collect()
}

fn pass(name: &str) -> (String, Outcome) {
    (name.into(), Outcome::Pass)
}

fn fail(name: &str, why: &str) -> (String, Outcome) {
    (name.into(), Outcome::Fail(why.into()))
}

fn skip(name: &str, why: Option<&str>) -> (String, Outcome) {
    (name.into(), Outcome::Skip(why.map(str::to_string)))
}

/// Spec, "Nested tests": one level is two spaces; the parent fails when a
/// subtest fails; a diagnostic sits just before the result it explains.
#[test]
fn nested_with_two_space_indentation() {
    let d = doc("\
KTAP version 1
1..1
  KTAP version 1
  1..2
  ok 1 alpha
  not ok 2 beta
# parent failed
not ok 1 parent
");
    assert_eq!(d.problems, Vec::<String>::new());
    assert_eq!(outcomes(&d), [pass("parent.alpha"), fail("parent.beta", "not ok")]);
    let root = d.root.unwrap();
    assert_eq!(root.results[0].diagnostics, ["parent failed"]);
}

/// Three levels, four spaces each (what KUnit and this kernel print), with
/// `# Subtest:` names and a bare `# SKIP`.
#[test]
fn nested_three_levels_kunit_style() {
    let d = doc("\
KTAP version 1
1..2
    KTAP version 1
    # Subtest: outer
    1..2
        KTAP version 1
        # Subtest: inner
        1..2
        not ok 1 x
        ok 2 y
    not ok 1 inner
    ok 2 z # SKIP
not ok 1 outer
ok 2 flat
");
    assert_eq!(d.problems, Vec::<String>::new());
    assert_eq!(
        outcomes(&d),
        [
            fail("outer.inner.x", "not ok"),
            pass("outer.inner.y"),
            skip("outer.z", None),
            pass("flat")
        ]
    );
}

/// Spec, "Test case result lines": SKIP with either result word, TODO, an
/// unknown directive (falls back to ok / not ok), plain diagnostic data after
/// `#`, and the optional `- ` before the description.
#[test]
fn directives_and_diagnostic_data() {
    let d = doc("\
KTAP version 1
1..7
ok 1 a # SKIP necessary dependency unavailable
not ok 2 b # SKIP not on this board
not ok 3 c # TODO known broken
ok 4 d # TODO
not ok 5 e # TIMEOUT 30 seconds
ok 6 check return code # rcode=0
ok 7 - dashed name
");
    assert_eq!(d.problems, Vec::<String>::new());
    assert_eq!(
        outcomes(&d),
        [
            skip("a", Some("necessary dependency unavailable")),
            skip("b", Some("not on this board")),
            fail("c", "TODO: known broken"),
            pass("d"),
            fail("e", "TIMEOUT 30 seconds"),
            pass("check return code"),
            pass("dashed name"),
        ]
    );
}

#[test]
fn directive_words_are_case_insensitive() {
    let d = doc("KTAP version 1\n1..2\nok 1 a # skip later\nnot ok 2 b # todo\n");
    assert_eq!(outcomes(&d), [skip("a", Some("later")), fail("b", "TODO: not ok")]);
}

/// Spec, "Diagnostic lines": anywhere, attached to the next result; a
/// failure without a reason is explained by them.
#[test]
fn diagnostics_before_results_and_after_the_last() {
    let d = doc("\
KTAP version 1
1..1
    KTAP version 1
    # Subtest: s
    # setting up
    1..2
    # expected 1, got 2
    not ok 1 eq
    ok 2 other
    # tearing down
ok 1 s
# all done
");
    let cases = outcomes(&d);
    // Everything printed since the previous result explains the next one.
    assert_eq!(cases[0], fail("s.eq", "setting up; expected 1, got 2"));
    let root = d.root.unwrap();
    let sub = root.results[0].subtest.as_ref().unwrap();
    assert_eq!(sub.trailing, ["tearing down"]);
    // `# all done` comes after the top-level plan is complete: outside the block.
    assert!(root.trailing.is_empty(), "{:?}", root.trailing);
    // An ok suite around a failed case is inconsistent: reported.
    assert_eq!(d.problems, ["s: suite reported ok but 1 case(s) inside failed (inconsistent)"]);
}

#[test]
fn missing_plan_at_top_level_and_in_a_suite() {
    let d = doc("KTAP version 1\n    KTAP version 1\n    # Subtest: s\n    ok 1 a\nok 1 s\n");
    assert_eq!(d.problems, ["missing plan", "s: missing plan"]);
    assert_eq!(outcomes(&d), [pass("s.a")]);
}

/// A crash mid-suite: the plan promised more results than came, and the
/// suite never got its result line.
#[test]
fn too_few_results_crash_mid_suite() {
    let d = doc("\
KTAP version 1
1..2
    KTAP version 1
    # Subtest: first
    1..3
    ok 1 a
    # KERNEL PANIC on CPU 1: boom
");
    assert_eq!(
        d.problems,
        ["short plan: planned 2, got 1", "first: output ended inside the suite: planned 3, got 1"]
    );
    assert_eq!(outcomes(&d), [pass("first.a")]);
    assert_eq!(d.fatal, ["KERNEL PANIC on CPU 1: boom"]);
}

/// Spec, "Unknown lines": KTAP v1 tolerates them; this project's runner does
/// not (its kernel prints log lines as diagnostics), and names each one.
#[test]
fn interleaved_kernel_log_lines() {
    let raw = doc("\
KTAP version 1
1..1
[    1.234] random: crng init done
ok 1 a
");
    assert_eq!(
        raw.problems,
        [
            r#"line 3: format error: neither a KTAP line nor a `#` diagnostic: "[    1.234] random: crng init done""#
        ]
    );
    let as_diag = doc("\
KTAP version 1
1..1
    KTAP version 1
    # Subtest: s
    1..1
    # [ERROR mm] BUG: Bad page state: pfn=0x42
    ok 1 a
ok 1 s
");
    assert_eq!(as_diag.problems, Vec::<String>::new());
    let s = as_diag.root.unwrap().results[0].subtest.clone().unwrap();
    assert_eq!(s.results[0].diagnostics, ["[ERROR mm] BUG: Bad page state: pfn=0x42"]);
}

#[test]
fn control_characters_are_named() {
    let d = parse(&["KTAP version 1", "1..1", "\0    ok 1 a", "ok 1 a"]);
    assert_eq!(
        d.problems,
        [r#"line 3: format error: control character in the KTAP block: "\0    ok 1 a""#]
    );
    let d = parse(&["KTAP version 1", "1..1", "# colour \x1b[31mred", "ok 1 a"]);
    assert!(d.problems[0].contains(r##""# colour \u{1b}[31mred""##), "{:?}", d.problems);
}

#[test]
fn indentation_off_the_unit_is_a_format_error() {
    let d =
        doc("KTAP version 1\n1..1\n    KTAP version 1\n    1..1\n   ok 1 a\n    ok 1 a\nok 1 s\n");
    assert_eq!(
        d.problems,
        [r#"line 5: format error: neither a KTAP line nor a `#` diagnostic: "   ok 1 a""#]
    );
}

/// TAP's `Bail out!`: not a KTAP v1 line; a test that prints it gave up.
#[test]
fn bail_out() {
    let d = doc("KTAP version 1\n1..3\nok 1 a\nBail out! disk on fire\nok 2 b\n");
    assert_eq!(
        d.problems,
        [
            r#"line 4: test run bailed out: "Bail out! disk on fire""#,
            "short plan: planned 3, got 1"
        ]
    );
}

/// After the top-level plan is complete the block is over: shutdown messages
/// are not checked, but a further result or a restarted document is.
#[test]
fn end_of_the_block() {
    let d = doc("KTAP version 1\n1..1\nok 1 a\nACPI: powering off\x07\n");
    assert_eq!(d.problems, Vec::<String>::new());
    let d = doc("KTAP version 1\n1..1\nok 1 a\nKTAP version 1\n1..1\nok 1 a\n");
    assert_eq!(d.problems, ["line 4: second top-level KTAP header (kernel restarted?)"]);
}

#[test]
fn version_lines() {
    assert!(doc("KTAP version 1\n1..0\n").problems.is_empty());
    let d = doc("KTAP version 2\n1..0\n");
    assert_eq!(d.problems, ["line 1: unsupported header `KTAP version 2`"]);
    let d = doc("TAP version 13\n1..0\n");
    assert_eq!(d.problems, ["line 1: unsupported header `TAP version 13`"]);
}

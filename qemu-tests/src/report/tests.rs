//! Result files: well-formed JUnit XML, a JSON tree, and the summary read back.

use std::time::Duration;

use quick_xml::Reader;
use quick_xml::events::Event;

use super::*;
use crate::qemu::Arch;
use crate::verdict::judge;

const LOG: &str = "\
BIOS boot
KTAP version 1
1..2
    KTAP version 1
    # Subtest: heap
    1..3
    ok 1 a
    not ok 2 b # left <1> & right \"2\"
    ok 3 c # SKIP no device
not ok 1 heap
    KTAP version 1
    # Subtest: mm
    1..1
    ok 1 d
ok 2 mm
";

fn fixture(log: &str, ending: Ending, dir: Option<&Path>) -> (Config, Run, Verdict) {
    let mut cfg = Config::new("target/image/x86_64/bios.img");
    cfg.name = "t-boot".into();
    cfg.cmdline = "ktest".into();
    cfg.log_dir = dir.map(Path::to_path_buf);
    let run = Run {
        arch: Arch::X86_64,
        lines: log.lines().map(String::from).collect(),
        ending,
        stderr: String::new(),
        timeout: Duration::from_secs(20),
        elapsed: Duration::from_millis(1500),
        log_path: cfg.log_path(),
    };
    let verdict = judge(&run);
    (cfg, run, verdict)
}

/// Every event of `xml`, failing on malformed input; returns the start tags.
fn xml_tags(xml: &str) -> Vec<String> {
    let mut r = Reader::from_str(xml);
    let mut tags = Vec::new();
    loop {
        match r.read_event() {
            Ok(Event::Eof) => break,
            Ok(Event::Start(e) | Event::Empty(e)) => {
                tags.push(String::from_utf8_lossy(e.name().as_ref().as_bytes()).into_owned())
            }
            Ok(_) => {}
            Err(e) => panic!("malformed XML at {}: {e}\n{xml}", r.buffer_position()),
        }
    }
    tags
}

#[test]
fn junit_is_well_formed_and_complete() {
    let (cfg, run, v) = fixture(LOG, Ending::Exited(Some(35)), None);
    let xml = to_junit(&cfg, &run, &v);
    let tags = xml_tags(&xml);
    assert_eq!(tags.iter().filter(|t| *t == "testcase").count(), 5, "4 cases + boot:\n{xml}");
    assert_eq!(tags.iter().filter(|t| *t == "testsuite").count(), 3, "heap, mm, harness:\n{xml}");
    assert!(
        xml.contains(
            "<testsuites name=\"t-boot\" tests=\"5\" failures=\"1\" errors=\"0\" skipped=\"1\""
        ),
        "{xml}"
    );
    // Escaped, not broken, by the writer.
    assert!(xml.contains("message=\"left &lt;1&gt; &amp; right &quot;2&quot;\""), "{xml}");
    assert!(xml.contains("<skipped message=\"no device\"/>"), "{xml}");
}

#[test]
fn junit_reports_harness_failures_as_errors() {
    let (cfg, run, v) = fixture("KTAP version 1\n1..1\n", Ending::TimedOut, None);
    let xml = to_junit(&cfg, &run, &v);
    xml_tags(&xml);
    assert!(xml.contains("errors=\"1\""), "{xml}");
    assert!(xml.contains("<error message=\"timeout after 20 s; last lines:\">"), "{xml}");
}

#[test]
fn json_tree_round_trips() {
    let (mut cfg, run, v) = fixture(LOG, Ending::Exited(Some(35)), None);
    cfg.expect_fail = true;
    let text = serde_json::to_string(&to_json(&cfg, &run, &v)).unwrap();
    let j: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(j["name"], "t-boot");
    assert_eq!(j["passed"], false);
    assert_eq!(j["as_expected"], true);
    assert_eq!(j["counts"]["failed"], 1);
    assert_eq!(j["cases"][1]["name"], "heap.b");
    assert_eq!(j["cases"][1]["outcome"], "fail");
    assert_eq!(j["ktap"]["plan"], 2);
    assert_eq!(j["ktap"]["results"][0]["subtest"]["results"][2]["directive"], "Skip");
}

#[test]
fn files_written_and_summarized() {
    let dir = std::env::temp_dir().join(format!("qemu-tests-report-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (cfg, run, v) = fixture(LOG, Ending::Exited(Some(35)), Some(&dir));
    write(&cfg, &run, &v).unwrap();
    xml_tags(&std::fs::read_to_string(dir.join("t-boot.xml")).unwrap());
    let (mut cfg2, run2, v2) = fixture(
        "KTAP version 1\n1..1\n    KTAP version 1\n    1..1\n    ok 1 x\nok 1 s\n",
        Ending::Exited(Some(33)),
        Some(&dir),
    );
    cfg2.name = "a-good".into();
    write(&cfg2, &run2, &v2).unwrap();
    std::fs::write(dir.join("z-junk.json"), "{").unwrap();
    let s = summarize(&dir).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(s.len(), 2, "{s:?}");
    assert_eq!(s[0].boot, "t-boot");
    assert!(!s[0].expected);
    assert_eq!(s[0].failures, ["heap.b: left <1> & right \"2\""]);
    assert!(s[1].failures[0].contains("not valid JSON"), "{s:?}");
}

/// A shell session's transcript: no KTAP at all.
const SESSION: &str = "frozen> help\nhelp  this list\nfrozen> ";

#[test]
fn session_checks_become_cases() {
    let mut c = Checks::default();
    c.record("shell prompt", Ok(()));
    c.record("command \"help\"", Err("timed out <after> 10 s\nlast output: x".into()));
    let names: Vec<&str> = c.cases().iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["session.01 shell prompt", "session.02 command \"help\""]);
    let v = c.verdict(false, None);
    assert!(!v.is_pass());
    assert_eq!(v.failures, Vec::<String>::new());
    let mut good = Checks::default();
    good.record("shell prompt", Ok(()));
    assert!(good.verdict(false, None).is_pass());
    // A panic after the last check fails the session even if every check passed.
    let v = good.verdict(true, None);
    assert!(!v.is_pass());
    assert!(v.failures[0].contains("last recorded check: session.01 shell prompt"), "{v:?}");
    assert!(Checks::default().verdict(true, None).failures[0].contains("check: none"));
}

#[test]
fn session_results_written_and_summarized() {
    let dir = std::env::temp_dir().join(format!("qemu-tests-session-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (mut cfg, run, _) = fixture(SESSION, Ending::Exited(Some(0)), Some(&dir));
    cfg.name = "shell-serial".into();
    let mut c = Checks::default();
    c.record("shell prompt", Ok(()));
    c.record("help lists `mem`", Err("`help` does not list `mem`:\n& <more>".into()));
    write_session(&cfg, &run, &c, false).unwrap();
    let (mut cfg2, run2, _) = fixture(SESSION, Ending::Exited(None), Some(&dir));
    cfg2.name = "shell-panicked".into();
    let mut c2 = Checks::default();
    c2.record("shell prompt", Ok(()));
    write_session(&cfg2, &run2, &c2, true).unwrap();
    let (mut cfg3, run3, _) = fixture(SESSION, Ending::Exited(Some(0)), Some(&dir));
    cfg3.name = "shell-good".into();
    write_session(&cfg3, &run3, &c2, false).unwrap();

    let xml = std::fs::read_to_string(dir.join("shell-serial.xml")).unwrap();
    let tags = xml_tags(&xml);
    assert_eq!(tags.iter().filter(|t| *t == "testcase").count(), 3, "2 checks + boot:\n{xml}");
    assert!(xml.contains("<testsuite name=\"shell-serial.session\""), "{xml}");
    assert_eq!(tags.iter().filter(|t| *t == "failure").count(), 1, "{xml}");
    let panicked = std::fs::read_to_string(dir.join("shell-panicked.xml")).unwrap();
    assert!(xml_tags(&panicked).contains(&"error".to_string()), "{panicked}");
    let j: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("shell-serial.json")).unwrap())
            .unwrap();
    assert_eq!(j["passed"], false);
    assert_eq!(j["cases"][1]["outcome"], "fail");
    assert_eq!(j["counts"]["cases"], 2);

    let s = summarize(&dir).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(s.len(), 2, "the good session is not listed: {s:?}");
    assert_eq!(s[0].boot, "shell-panicked");
    assert!(s[0].failures[0].starts_with("the test panicked during the session"), "{s:?}");
    assert_eq!(s[1].boot, "shell-serial");
    assert_eq!(s[1].failures, ["session.02 help lists `mem`: `help` does not list `mem`:"]);
}

#[test]
fn control_characters_kept_out_of_the_xml() {
    assert_eq!(xml_safe("a\tb\nc"), "a\tb\nc");
    assert_eq!(xml_safe("\u{1b}[2Jx\u{0}\u{7f}"), "\\u{1b}[2Jx\\u{0}\u{7f}");
    let (mut cfg, run, _) = fixture(SESSION, Ending::Exited(Some(0)), None);
    cfg.name = "esc\u{1b}".into();
    let mut c = Checks::default();
    c.record("expect \u{1b}[0m", Err("timed out; output: \u{1b}[2J\u{1b}[01;01H\u{8}".into()));
    let v = c.verdict(true, None);
    let xml = to_junit(&cfg, &run, &v);
    xml_tags(&xml);
    // What Python's and other strict readers reject: a raw control character.
    assert!(!xml.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\u{7f}')));
    assert!(xml.contains("\\u{1b}[2J"), "{xml}");
}

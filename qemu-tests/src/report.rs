//! Per-boot results for CI systems, written next to the serial log:
//!
//! - `<name>.json`: the JSON result tree ([`to_json`]): the boot (arch,
//!   firmware, command line, QEMU command, ending, time), the verdict
//!   (counts, leaf cases with their outcome, harness-level failures) and the
//!   whole parsed KTAP tree;
//! - `<name>.xml`: JUnit XML ([`to_junit`]), what GitLab, Jenkins and GitHub's
//!   test reporters read (Linux's `kunit.py --junit` writes the same kind):
//!   one `<testsuite>` per top-level KTAP suite, one `<testcase>` per leaf
//!   case, plus a `harness` suite whose `boot` case carries the harness-level
//!   failures (panic, timeout, exit status, KTAP format errors).
//!
//! Interactive sessions (the shell, keyboard and screen tests,
//! [`crate::interactive::Session`]) are boots too: their checks (each
//! expectation, command, typed line, screendump and test-level check) are
//! recorded in a [`Checks`] as `session.NN what` cases and written by
//! [`write_session`] in the same layout when the session ends, also when the
//! test panics mid-way (the session is then failed).
//!
//! `make test`'s summary reads the JSON files back ([`summarize`], the
//! `qemu-results` binary) to name every failed case with its boot.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use quick_xml::Writer;
use quick_xml::events::{BytesCData, BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use serde_json::{Value, json};

use crate::ktap::{self, Outcome};
use crate::qemu::{Config, Ending, Run};
use crate::verdict::Verdict;

/// Version of the JSON layout, bumped when a field changes meaning.
pub const JSON_FORMAT: u32 = 1;

/// Writes `<name>.json` and `<name>.xml` into the config's `log_dir`;
/// nothing without one.
pub fn write(cfg: &Config, run: &Run, verdict: &Verdict) -> io::Result<()> {
    let (Some(json_path), Some(xml_path)) = (cfg.result_path("json"), cfg.result_path("xml"))
    else {
        return Ok(());
    };
    if let Some(dir) = json_path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let json = serde_json::to_string_pretty(&to_json(cfg, run, verdict))?;
    write_file(&json_path, format!("{json}\n").as_bytes())?;
    write_file(&xml_path, to_junit(cfg, run, verdict).as_bytes())
}

/// The checks of an interactive session, recorded as they happen.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checks {
    cases: Vec<ktap::Case>,
}

impl Checks {
    /// Records one check: `session.NN what`, passed or failed with `why`
    /// (only its first line is the case's reason in the summary; the JSON
    /// keeps it all).
    pub fn record(&mut self, what: &str, result: Result<(), String>) {
        let name = format!("session.{:02} {what}", self.cases.len() + 1);
        let outcome = match result {
            Ok(()) => Outcome::Pass,
            Err(why) => Outcome::Fail(why),
        };
        self.cases.push(ktap::Case { name, outcome });
    }

    /// The recorded cases, in order.
    pub fn cases(&self) -> &[ktap::Case] {
        &self.cases
    }

    /// The session's verdict: its checks, plus a harness-level failure when
    /// the test panicked (`panicked`), so that a session that stopped
    /// mid-way never reads as passed.
    pub fn verdict(&self, panicked: bool, log_path: Option<String>) -> Verdict {
        let mut failures = Vec::new();
        if panicked {
            let last = self.cases.last().map_or("none".to_string(), |c| c.name.clone());
            failures.push(format!(
                "the test panicked during the session (last recorded check: {last}); \
                 its message is in the test's output"
            ));
        }
        Verdict { cases: self.cases.clone(), failures, log_path }
    }
}

/// Writes an interactive session's results (`<name>.json`, `<name>.xml`)
/// in the layout of [`write`]; `run.lines` is the session's transcript.
pub fn write_session(cfg: &Config, run: &Run, checks: &Checks, panicked: bool) -> io::Result<()> {
    let log = run.log_path.as_ref().map(|p| p.display().to_string());
    write(cfg, run, &checks.verdict(panicked, log))
}

fn write_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    std::fs::write(path, bytes)
        .map_err(|e| io::Error::new(e.kind(), format!("cannot write {}: {e}", path.display())))
}

fn outcome(o: &Outcome) -> (&'static str, Option<&str>) {
    match o {
        Outcome::Pass => ("pass", None),
        Outcome::Fail(why) => ("fail", Some(why.as_str())),
        Outcome::Skip(why) => ("skip", why.as_deref()),
    }
}

/// The JSON result tree of one boot (layout [`JSON_FORMAT`]).
pub fn to_json(cfg: &Config, run: &Run, verdict: &Verdict) -> Value {
    let cases: Vec<Value> = verdict
        .cases
        .iter()
        .map(|c| {
            let (o, reason) = outcome(&c.outcome);
            json!({ "name": c.name, "outcome": o, "reason": reason })
        })
        .collect();
    let exit_status = match run.ending {
        Ending::Exited(s) => s,
        _ => None,
    };
    json!({
        "format": JSON_FORMAT,
        "name": cfg.name,
        "arch": cfg.arch.to_string(),
        "boot": cfg.boot.to_string(),
        "image": cfg.image.display().to_string(),
        "cmdline": cfg.cmdline,
        "smp": cfg.smp,
        "memory": cfg.memory,
        "command": cfg.command_line().unwrap_or_default(),
        "log": run.log_path.as_ref().map(|p| p.display().to_string()),
        "ending": run.ending.to_string(),
        "exit_status": exit_status,
        "timed_out": run.ending == Ending::TimedOut,
        "elapsed_s": run.elapsed.as_secs_f64(),
        "timeout_s": run.timeout.as_secs(),
        "expected_failure": cfg.expect_fail,
        "passed": verdict.is_pass(),
        "as_expected": verdict.is_pass() != cfg.expect_fail,
        "counts": {
            "passed": verdict.passed(),
            "failed": verdict.failed(),
            "skipped": verdict.skipped(),
            "cases": verdict.cases.len(),
        },
        "cases": cases,
        "failures": verdict.failures,
        "ktap": ktap::parse(&run.lines).root,
    })
}

type Xml = Writer<Vec<u8>>;

/// `s` with the characters XML 1.0 forbids (control characters other than
/// tab, newline and carriage return: a session's quoted guest output holds
/// terminal escapes) written as `\u{1b}`; the XML writer escapes the rest.
pub fn xml_safe(s: &str) -> std::borrow::Cow<'_, str> {
    let bad = |c: char| matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}');
    if !s.contains(bad) {
        return s.into();
    }
    s.chars()
        .map(|c| if bad(c) { format!("\\u{{{:x}}}", u32::from(c)) } else { c.to_string() })
        .collect::<String>()
        .into()
}

fn start(w: &mut Xml, name: &str, attrs: &[(&str, String)]) -> io::Result<()> {
    let mut e = BytesStart::new(name);
    for (k, v) in attrs {
        e.push_attribute((*k, xml_safe(v).as_ref()));
    }
    w.write_event(Event::Start(e)).map_err(io::Error::other)
}

fn end(w: &mut Xml, name: &str) -> io::Result<()> {
    w.write_event(Event::End(BytesEnd::new(name))).map_err(io::Error::other)
}

fn empty(w: &mut Xml, name: &str, attrs: &[(&str, String)]) -> io::Result<()> {
    let mut e = BytesStart::new(name);
    for (k, v) in attrs {
        e.push_attribute((*k, xml_safe(v).as_ref()));
    }
    w.write_event(Event::Empty(e)).map_err(io::Error::other)
}

/// `<failure|error message=...>text</...>`; the message is the first line.
fn problem(w: &mut Xml, tag: &str, text: &str) -> io::Result<()> {
    let first = text.lines().next().unwrap_or("").to_string();
    start(w, tag, &[("message", first)])?;
    w.write_event(Event::Text(BytesText::new(&xml_safe(text)))).map_err(io::Error::other)?;
    end(w, tag)
}

/// One leaf case: `suite.sub.case` is split at its first dot.
struct XmlCase<'a> {
    name: &'a str,
    outcome: &'a Outcome,
}

/// JUnit XML of one boot (see the module documentation for the layout).
pub fn to_junit(cfg: &Config, run: &Run, verdict: &Verdict) -> String {
    junit(cfg, run, verdict).unwrap_or_else(|e| {
        // Writing into a Vec cannot fail; keep the file well-formed anyway.
        format!("<?xml version=\"1.0\"?>\n<testsuites><!-- {e} --></testsuites>\n")
    })
}

fn junit(cfg: &Config, run: &Run, verdict: &Verdict) -> io::Result<String> {
    let mut suites: BTreeMap<usize, (&str, Vec<XmlCase<'_>>)> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for c in &verdict.cases {
        let (suite, name) = c.name.split_once('.').unwrap_or(("ktest", c.name.as_str()));
        let i = order.iter().position(|s| *s == suite).unwrap_or_else(|| {
            order.push(suite);
            order.len() - 1
        });
        suites
            .entry(i)
            .or_insert((suite, Vec::new()))
            .1
            .push(XmlCase { name, outcome: &c.outcome });
    }
    let count = |cases: &[XmlCase<'_>], f: fn(&Outcome) -> bool| {
        cases.iter().filter(|c| f(c.outcome)).count().to_string()
    };
    let is_fail = |o: &Outcome| matches!(o, Outcome::Fail(_));
    let is_skip = |o: &Outcome| matches!(o, Outcome::Skip(_));

    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
        .map_err(io::Error::other)?;
    let harness_errors = verdict.failures.len();
    start(
        &mut w,
        "testsuites",
        &[
            ("name", cfg.name.clone()),
            ("tests", (verdict.cases.len() + 1).to_string()),
            ("failures", (verdict.failed() - harness_errors).to_string()),
            ("errors", usize::from(harness_errors > 0).to_string()),
            ("skipped", verdict.skipped().to_string()),
            ("time", format!("{:.3}", run.elapsed.as_secs_f64())),
        ],
    )?;
    for (suite, cases) in suites.values() {
        start(
            &mut w,
            "testsuite",
            &[
                ("name", format!("{}.{suite}", cfg.name)),
                ("tests", cases.len().to_string()),
                ("failures", count(cases, is_fail)),
                ("errors", "0".into()),
                ("skipped", count(cases, is_skip)),
            ],
        )?;
        for c in cases {
            let attrs =
                [("name", c.name.to_string()), ("classname", format!("{}.{suite}", cfg.name))];
            match c.outcome {
                Outcome::Pass => empty(&mut w, "testcase", &attrs)?,
                Outcome::Fail(why) => {
                    start(&mut w, "testcase", &attrs)?;
                    problem(&mut w, "failure", why)?;
                    end(&mut w, "testcase")?;
                }
                Outcome::Skip(why) => {
                    start(&mut w, "testcase", &attrs)?;
                    let msg = why.clone().unwrap_or_default();
                    empty(&mut w, "skipped", &[("message", msg)])?;
                    end(&mut w, "testcase")?;
                }
            }
        }
        end(&mut w, "testsuite")?;
    }
    // The boot itself: harness-level failures, and what was booted.
    start(
        &mut w,
        "testsuite",
        &[
            ("name", format!("{}.harness", cfg.name)),
            ("tests", "1".into()),
            ("failures", "0".into()),
            ("errors", usize::from(harness_errors > 0).to_string()),
            ("skipped", "0".into()),
        ],
    )?;
    start(&mut w, "properties", &[])?;
    let props = [
        ("arch", cfg.arch.to_string()),
        ("boot", cfg.boot.to_string()),
        ("cmdline", cfg.cmdline.clone()),
        ("command", cfg.command_line().unwrap_or_default()),
        ("log", run.log_path.as_ref().map(|p| p.display().to_string()).unwrap_or_default()),
        ("ending", run.ending.to_string()),
        ("expected_failure", cfg.expect_fail.to_string()),
    ];
    for (k, v) in props {
        empty(&mut w, "property", &[("name", k.into()), ("value", v)])?;
    }
    end(&mut w, "properties")?;
    let attrs = [("name", "boot".to_string()), ("classname", format!("{}.harness", cfg.name))];
    if verdict.failures.is_empty() {
        empty(&mut w, "testcase", &attrs)?;
    } else {
        start(&mut w, "testcase", &attrs)?;
        problem(&mut w, "error", &verdict.failures.join("\n"))?;
        end(&mut w, "testcase")?;
    }
    if let Some(log) = &run.log_path {
        start(&mut w, "system-out", &[])?;
        let text = xml_safe(&format!("serial log: {}", log.display())).into_owned();
        w.write_event(Event::CData(BytesCData::new(text))).map_err(io::Error::other)?;
        end(&mut w, "system-out")?;
    }
    end(&mut w, "testsuite")?;
    end(&mut w, "testsuites")?;
    let mut out = String::from_utf8(w.into_inner()).map_err(io::Error::other)?;
    out.push('\n');
    Ok(out)
}

/// One boot's failures, read back from its JSON file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootFailures {
    /// The boot's name (the JSON file's stem).
    pub boot: String,
    /// The boot was meant to fail (an injection).
    pub expected: bool,
    /// `suite.case: reason` for failed cases, then harness-level failures
    /// (first line of each reason).
    pub failures: Vec<String>,
}

/// Reads every `*.json` result in `dir` (sorted by name) and returns the
/// boots that failed, each with what failed. Files that are not results of
/// this layout are reported as failures of their own, never skipped.
pub fn summarize(dir: &Path) -> io::Result<Vec<BootFailures>> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        let boot = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let text = std::fs::read_to_string(&path)?;
        let value: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => {
                let failures = vec![format!("{}: not valid JSON: {e}", path.display())];
                out.push(BootFailures { boot, expected: false, failures });
                continue;
            }
        };
        if value["format"] != json!(JSON_FORMAT) {
            let failures = vec![format!("{}: not a qemu-tests result file", path.display())];
            out.push(BootFailures { boot, expected: false, failures });
            continue;
        }
        if value["passed"] == json!(true) {
            continue;
        }
        let mut failures: Vec<String> = value["cases"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["outcome"] == "fail")
            .map(|c| {
                let why = c["reason"].as_str().unwrap_or("").lines().next().unwrap_or("");
                format!("{}: {why}", c["name"].as_str().unwrap_or("?"))
            })
            .collect();
        failures.extend(
            value["failures"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str())
                .map(|f| f.lines().next().unwrap_or("").to_string()),
        );
        let expected = value["expected_failure"] == json!(true);
        out.push(BootFailures { boot, expected, failures });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;

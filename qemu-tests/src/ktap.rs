//! KTAP version 1 parser (the Linux KUnit format, Linux
//! `Documentation/dev-tools/ktap.rst`), strict inside the KTAP block.
//!
//! The serial log holds firmware chatter and the boot banner, then the KTAP
//! document. Everything before the top-level `KTAP version 1` line (which
//! must be a whole line) is ignored; from there until the top-level plan is
//! complete (the *KTAP block*) every line must be KTAP: a header, a plan, a
//! result, a `# Subtest:` line or a `#` diagnostic, indented by a multiple of
//! four spaces (the nesting depth). KTAP v1 tolerates unknown lines; this
//! project's kernel never prints any (its console turns log lines into
//! diagnostics while ktest runs), so here a line that is not KTAP, or any
//! control character (NUL, a stray `\r`, tab, escape...) in the block, is a
//! *format error* naming the line number and its escaped content. Nothing is
//! stripped or cleaned before parsing; the one CR of a serial console's CR LF
//! line ending is the line ending, not content.
//!
//! Parsing never fails: format errors and structural problems (missing header
//! or plan, short plan, misnumbered results, a suite that says `ok` around a
//! failed case...) are collected in [`Document::problems`], each of which
//! fails the run, so the runner can report all of them.

use protocol::fatal;
use protocol::ktap::{
    INDENT, NOT_OK, OK, PLAN_PREFIX, SKIP, SUBTEST_PREFIX, VERSION_LINE, VERSION_PREFIX,
};

/// Lines kept after a `KERNEL PANIC` / `CPU EXCEPTION` line: the kernel's
/// report (location, CPU, registers) follows it.
const FATAL_CONTEXT: usize = 6;
/// Markers the kernel prints at the start of a fatal report (`protocol::fatal`).
pub use protocol::fatal::MARKERS as FATAL_MARKERS;
/// Format errors quoted one by one; the rest are counted.
const MAX_FORMAT_ERRORS: usize = 10;

/// `# SKIP` / `# TODO` after a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Directive {
    Skip,
    Todo,
}

/// One `ok` / `not ok` line, with the subtest it closes, if any.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TestResult {
    pub ok: bool,
    pub number: u32,
    pub name: String,
    pub directive: Option<Directive>,
    /// Text after `#` (without the directive word), e.g. an assertion message.
    pub reason: Option<String>,
    /// `#` lines printed at this level since the previous result: KUnit-style
    /// kernels print a failure's details there, before the result line.
    pub diagnostics: Vec<String>,
    /// The nested test group this line is the result of (a suite).
    pub subtest: Option<Group>,
    /// Synthesised because the output ended (or moved on) inside the subtest.
    pub unfinished: bool,
}

/// A KTAP document or subtest: header, plan, results.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Group {
    /// From `# Subtest: NAME`.
    pub name: Option<String>,
    pub plan: Option<u32>,
    pub results: Vec<TestResult>,
    /// Diagnostics after the last result.
    pub trailing: Vec<String>,
}

/// A leaf test case, flattened as `suite.case`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub name: String,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail(String),
    Skip(Option<String>),
}

/// Everything learnt from one serial log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Document {
    /// The top-level group; `None` when no `KTAP version 1` header was seen.
    pub root: Option<Group>,
    /// Structural problems; each one fails the run.
    pub problems: Vec<String>,
    /// Fatal reports (panic / CPU exception), each with its following lines.
    pub fatal: Vec<String>,
}

impl Document {
    /// Leaf cases in output order.
    pub fn cases(&self) -> Vec<Case> {
        let mut out = Vec::new();
        if let Some(root) = &self.root {
            collect_cases(root, "", &mut out);
        }
        out
    }
}

/// Parses a whole serial log, one entry per line as received (without the
/// `\n`), with no cleaning: see the module documentation for what is a
/// format error.
pub fn parse<S: AsRef<str>>(lines: &[S]) -> Document {
    let mut p = Parser::default();
    for line in lines {
        p.line(line.as_ref());
    }
    let mut doc = p.finish();
    doc.fatal = fatal_reports(lines);
    doc
}

/// `line` as a Rust string literal (quotes, `\0`, `\u{1b}`...), for messages.
pub fn escape(line: &str) -> String {
    format!("{line:?}")
}

/// Removes `\r`, ANSI escape sequences (OVMF paints the serial console with
/// them) and other control characters: for showing lines to people (e.g. the
/// last lines before a timeout), never before parsing.
pub fn normalize(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // CSI: ESC [ params... final byte in @..~ ; other escapes: ESC + one char.
            if chars.next_if_eq(&'[').is_some() {
                for f in chars.by_ref() {
                    if ('@'..='~').contains(&f) {
                        break;
                    }
                }
            } else {
                chars.next();
            }
        } else if c == '\t' || !c.is_control() {
            out.push(c);
        }
    }
    out
}

/// Every `KERNEL PANIC` / `CPU EXCEPTION` line with the few lines after it,
/// cleaned for display: control characters removed, and the `    # ` the
/// kernel adds in KTAP mode (the report is a diagnostic there) taken off.
pub fn fatal_reports<S: AsRef<str>>(lines: &[S]) -> Vec<String> {
    let show = |l: &str| {
        let l = normalize(l);
        let body = l.trim_start_matches(' ');
        match body.strip_prefix('#') {
            Some(rest) => rest.strip_prefix(' ').unwrap_or(rest).trim_end().to_string(),
            None => l.trim_end().to_string(),
        }
    };
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].as_ref();
        if fatal::marker_in(line).is_some() {
            let end = (i + 1 + FATAL_CONTEXT).min(lines.len());
            let report: Vec<String> =
                lines[i..end].iter().map(|l| show(l.as_ref())).filter(|l| !l.is_empty()).collect();
            out.push(report.join("\n    "));
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

/// A classified KTAP line.
#[derive(Debug, PartialEq)]
enum Line<'a> {
    Header { ktap: bool, version: &'a str },
    Plan(u32),
    Result(TestResult),
    Subtest(&'a str),
    Diag(&'a str),
}

/// Returns (depth, line) for KTAP lines, `None` for anything else. `unit`:
/// spaces per nesting level.
fn classify(line: &str, unit: usize) -> Option<(usize, Line<'_>)> {
    let body = line.trim_start_matches(' ');
    let indent = line.len() - body.len();
    if !indent.is_multiple_of(unit) {
        return None;
    }
    let body = body.trim_end();
    // `word ` at the start of `body`: the rest after the space.
    let after = |word: &str| body.strip_prefix(word).and_then(|r| r.strip_prefix(' '));
    let kind = if let Some(v) = body.strip_prefix(VERSION_PREFIX) {
        Line::Header { ktap: true, version: v }
    } else if let Some(v) = body.strip_prefix("TAP version ") {
        Line::Header { ktap: false, version: v }
    } else if let Some(rest) = body.strip_prefix(PLAN_PREFIX) {
        let digits = rest.split([' ', '#']).next().unwrap_or("");
        Line::Plan(digits.parse().ok()?)
    } else if let Some(rest) = after(OK) {
        Line::Result(parse_result(true, rest)?)
    } else if let Some(rest) = after(NOT_OK) {
        Line::Result(parse_result(false, rest)?)
    } else if let Some(name) = body.strip_prefix(SUBTEST_PREFIX) {
        Line::Subtest(name.trim())
    } else {
        Line::Diag(body.strip_prefix('#')?.trim())
    };
    Some((indent / unit, kind))
}

/// `N [- ]name [# directive reason]` after `ok ` / `not ok `.
fn parse_result(ok: bool, rest: &str) -> Option<TestResult> {
    let (num, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let number = num.parse().ok()?;
    let (name, comment) = match rest.split_once('#') {
        Some((n, c)) => (n, Some(c.trim())),
        None => (rest, None),
    };
    let name = name.trim();
    let name = name.strip_prefix("- ").unwrap_or(name).to_string();
    let (directive, reason) = match comment {
        None => (None, None),
        Some(c) => {
            let word = c.split_whitespace().next().unwrap_or("");
            let d = match word.to_ascii_uppercase().as_str() {
                w if w == SKIP => Some(Directive::Skip),
                "TODO" => Some(Directive::Todo),
                _ => None,
            };
            let reason = if d.is_some() { c[word.len()..].trim() } else { c };
            (d, (!reason.is_empty()).then(|| reason.to_string()))
        }
    };
    Some(TestResult {
        ok,
        number,
        name,
        directive,
        reason,
        diagnostics: Vec::new(),
        subtest: None,
        unfinished: false,
    })
}

/// An open group plus parser bookkeeping.
#[derive(Default)]
struct Open {
    group: Group,
    /// Diagnostics since the last result; they go to the next result.
    pending: Vec<String>,
}

#[derive(Default)]
struct Parser {
    /// `stack[d]` is the open group at depth `d`; empty before the header.
    stack: Vec<Open>,
    started: bool,
    /// The top-level plan is complete: the KTAP block is over.
    ended: bool,
    /// A bail out or a restarted document: nothing after it is parsed.
    stopped: bool,
    problems: Vec<String>,
    format_errors: usize,
    lineno: usize,
    /// Spaces per nesting level: the indentation of the first indented line
    /// of the block, 4 (KUnit) or 2 (the KTAP v1 document's examples).
    unit: Option<usize>,
}

impl Parser {
    fn line(&mut self, line: &str) {
        self.lineno += 1;
        // A serial console ends lines with CR LF (the 16550 driver sends
        // `\r\n`): one CR before the LF is the line ending, not content.
        let line = line.strip_suffix('\r').unwrap_or(line);
        if self.stopped {
            return;
        }
        let late_result = self.ended
            && matches!(
                classify(line, self.unit.unwrap_or(INDENT.len())),
                Some((0, Line::Result(_)))
            );
        if (!self.started || self.ended) && !late_result {
            // Before the top-level header: boot noise. After the block: the
            // kernel's shutdown messages; only a restarted document matters.
            if let Some((0, Line::Header { ktap, version })) = classify(line, 1) {
                if self.ended {
                    self.problem(format!(
                        "line {}: second top-level KTAP header (kernel restarted?)",
                        self.lineno
                    ));
                    self.stopped = true;
                    return;
                }
                self.started = true;
                self.check_version(ktap, version);
                self.stack.push(Open::default());
            }
            return;
        }
        if line.chars().any(char::is_control) {
            self.format_error("control character in the KTAP block", line);
            return;
        }
        if line.trim_start_matches(' ').starts_with("Bail out!") {
            // TAP's "stop everything" line; KTAP v1 has no such line, so a
            // test that prints it has given up: say so and stop checking.
            self.problem(format!("line {}: test run bailed out: {}", self.lineno, escape(line)));
            self.stopped = true;
            return;
        }
        let indent = line.len() - line.trim_start_matches(' ').len();
        if self.unit.is_none() && indent > 0 && line.trim() != "" {
            self.unit = Some(if indent == 2 { 2 } else { INDENT.len() });
        }
        let Some((depth, kind)) = classify(line, self.unit.unwrap_or(INDENT.len())) else {
            self.format_error("neither a KTAP line nor a `#` diagnostic", line);
            return;
        };
        if depth > self.stack.len() {
            self.problem(format!("line {}: unexpected indentation", self.lineno));
            return;
        }
        match kind {
            Line::Header { .. } if depth == 0 => {
                self.problem(format!(
                    "line {}: second top-level KTAP header (kernel restarted?)",
                    self.lineno
                ));
                self.stopped = true;
            }
            Line::Header { ktap, version } => {
                self.check_version(ktap, version);
                self.open_subtest(depth, None);
            }
            Line::Subtest(name) => self.open_subtest(depth, Some(name)),
            Line::Plan(n) => {
                self.enter(depth);
                self.close_below(depth + 1);
                let lineno = self.lineno;
                let g = &mut self.stack[depth].group;
                if g.plan.is_some() {
                    let msg = format!("line {lineno}: second plan in {}", label(g));
                    self.problem(msg);
                } else {
                    g.plan = Some(n);
                }
            }
            Line::Result(mut r) => {
                self.enter(depth);
                self.close_below(depth + 2);
                if self.stack.len() == depth + 2 {
                    let mut child = self.stack.pop().expect("depth + 2 groups");
                    child.group.trailing.append(&mut child.pending);
                    r.subtest = Some(child.group);
                }
                let open = &mut self.stack[depth];
                r.diagnostics = std::mem::take(&mut open.pending);
                open.group.results.push(r);
                if depth == 0 {
                    let g = &self.stack[0].group;
                    self.ended = g.plan.is_some_and(|n| g.results.len() >= n as usize);
                }
            }
            Line::Diag(text) => {
                let d = depth.min(self.stack.len() - 1);
                self.stack[d].pending.push(text.to_string());
            }
        }
    }

    fn check_version(&mut self, ktap: bool, version: &str) {
        if !ktap || version != &VERSION_LINE[VERSION_PREFIX.len()..] {
            let kind = if ktap { "KTAP" } else { "TAP" };
            self.problem(format!(
                "line {}: unsupported header `{kind} version {version}`",
                self.lineno
            ));
        }
    }

    /// A `KTAP version` or `# Subtest:` line at `depth` (>= 1): both may open a
    /// subtest, and the second of the pair just completes the first.
    fn open_subtest(&mut self, depth: usize, name: Option<&str>) {
        if depth < self.stack.len() {
            let deepest = depth + 1 == self.stack.len();
            let top = &mut self.stack[depth];
            let fresh = top.group.plan.is_none() && top.group.results.is_empty();
            if deepest && fresh && (name.is_none() || top.group.name.is_none()) {
                if name.is_some() {
                    top.group.name = name.map(str::to_string);
                }
                return;
            }
            self.close_below(depth);
        }
        let group = Group { name: name.map(str::to_string), ..Group::default() };
        self.stack.push(Open { group, pending: Vec::new() });
    }

    /// Makes sure a group is open at `depth` (a plan or result line there).
    fn enter(&mut self, depth: usize) {
        if depth == self.stack.len() {
            self.problem(format!("line {}: subtest without `{VERSION_LINE}` header", self.lineno));
            self.stack.push(Open::default());
        }
    }

    /// Closes groups at depth >= `depth` that never got their result line,
    /// attaching each to its parent as an unfinished `not ok` result.
    fn close_below(&mut self, depth: usize) {
        while self.stack.len() > depth.max(1) {
            let mut open = self.stack.pop().expect("non-empty");
            open.group.trailing.append(&mut open.pending);
            let parent = &mut self.stack.last_mut().expect("root stays").group;
            parent.results.push(TestResult {
                ok: false,
                number: parent.results.len() as u32 + 1,
                name: open.group.name.clone().unwrap_or_else(|| "?".into()),
                directive: None,
                reason: Some("suite ended without a result line".into()),
                diagnostics: Vec::new(),
                subtest: Some(open.group),
                unfinished: true,
            });
        }
    }

    fn problem(&mut self, msg: String) {
        self.problems.push(msg);
    }

    /// A line in the KTAP block that breaks the format (see the module doc).
    fn format_error(&mut self, what: &str, line: &str) {
        self.format_errors += 1;
        if self.format_errors <= MAX_FORMAT_ERRORS {
            let msg = format!("line {}: format error: {what}: {}", self.lineno, escape(line));
            self.problem(msg);
        }
    }

    fn finish(mut self) -> Document {
        if !self.started {
            self.problem(format!("no `{VERSION_LINE}` header in the output"));
            return Document { problems: self.problems, ..Document::default() };
        }
        if self.format_errors > MAX_FORMAT_ERRORS {
            let more = self.format_errors - MAX_FORMAT_ERRORS;
            self.problem(format!("{more} more format error(s) not shown"));
        }
        self.close_below(1);
        let mut open = self.stack.pop().expect("root");
        open.group.trailing.append(&mut open.pending);
        let root = open.group;
        check_group(&root, None, false, &mut self.problems);
        Document { root: Some(root), problems: self.problems, fatal: Vec::new() }
    }
}

/// How a group is named in messages.
fn label(g: &Group) -> String {
    match &g.name {
        Some(n) => format!("suite `{n}`"),
        None => "the top level".into(),
    }
}

/// Plan, numbering and consistency checks, recursively. `path` is the dotted
/// suite name (None at the top level); `unfinished` if the output ended inside.
fn check_group(g: &Group, path: Option<&str>, unfinished: bool, problems: &mut Vec<String>) {
    let prefix = path.map(|p| format!("{p}: ")).unwrap_or_default();
    let got = g.results.len();
    match g.plan {
        None => problems.push(format!("{prefix}missing plan")),
        Some(n) if unfinished => {
            problems.push(format!("{prefix}output ended inside the suite: planned {n}, got {got}"))
        }
        Some(n) if got < n as usize => {
            problems.push(format!("{prefix}short plan: planned {n}, got {got}"))
        }
        Some(n) if got > n as usize => {
            problems.push(format!("{prefix}too many results: planned {n}, got {got}"))
        }
        Some(_) => {}
    }
    if let Some((i, r)) = g.results.iter().enumerate().find(|(i, r)| r.number as usize != i + 1) {
        problems.push(format!(
            "{prefix}result `{}` numbered {}, expected {} (out of order or duplicate)",
            r.name,
            r.number,
            i + 1
        ));
    }
    for r in &g.results {
        let Some(sub) = &r.subtest else { continue };
        let name = suite_name(r, sub);
        let sub_path = match path {
            Some(p) => format!("{p}.{name}"),
            None => name,
        };
        check_group(sub, Some(&sub_path), r.unfinished, problems);
        let mut cases = Vec::new();
        collect_cases(sub, &sub_path, &mut cases);
        let failed = cases.iter().filter(|c| matches!(c.outcome, Outcome::Fail(_))).count();
        let skipped = r.directive == Some(Directive::Skip);
        if r.ok && !skipped && failed > 0 {
            problems.push(format!(
                "{sub_path}: suite reported ok but {failed} case(s) inside failed (inconsistent)"
            ));
        }
        if !r.ok && !skipped && !r.unfinished && failed == 0 {
            let why = r.reason.as_deref().unwrap_or("no reason given");
            problems.push(format!(
                "{sub_path}: suite reported not ok ({why}) but none of its cases failed"
            ));
        }
    }
}

fn suite_name(r: &TestResult, sub: &Group) -> String {
    if !r.name.is_empty() {
        r.name.clone()
    } else {
        sub.name.clone().unwrap_or_else(|| format!("#{}", r.number))
    }
}

fn collect_cases(g: &Group, path: &str, out: &mut Vec<Case>) {
    for r in &g.results {
        if let Some(sub) = &r.subtest {
            let name = suite_name(r, sub);
            let sub_path = if path.is_empty() { name } else { format!("{path}.{name}") };
            collect_cases(sub, &sub_path, out);
            continue;
        }
        let name = if path.is_empty() { r.name.clone() } else { format!("{path}.{}", r.name) };
        let outcome = if r.directive == Some(Directive::Skip) {
            Outcome::Skip(r.reason.clone())
        } else if r.ok {
            Outcome::Pass
        } else {
            Outcome::Fail(failure_reason(r))
        };
        out.push(Case { name, outcome });
    }
}

/// The `# reason` of a `not ok` line, else the diagnostics printed before it.
fn failure_reason(r: &TestResult) -> String {
    let todo = if r.directive == Some(Directive::Todo) { "TODO: " } else { "" };
    let text = match (&r.reason, r.diagnostics.is_empty()) {
        (Some(reason), _) => reason.clone(),
        (None, false) => r.diagnostics.join("; "),
        (None, true) => NOT_OK.into(),
    };
    format!("{todo}{text}")
}

#[cfg(test)]
mod conformance;
#[cfg(test)]
mod tests;

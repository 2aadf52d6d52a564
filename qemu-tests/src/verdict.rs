//! Judging a boot: KTAP results + fatal reports + how QEMU ended, and the
//! report printed for humans (and `make`): every case, then the failures,
//! then `N passed, M failed`.

use std::fmt::Write as _;

use protocol::exit::{ExitStatus, isa_debug_exit};

use crate::ktap::{self, Case, Outcome};
use crate::qemu::{Arch, Ending, FATAL_GRACE, Run};

/// Serial lines quoted in a timeout message.
const LAST_LINES: usize = 5;

/// What a boot without a single byte on the serial port usually means,
/// quoted in the verdict (an empty log alone tells a user nothing).
pub const NO_OUTPUT_HINT: &str = "no output at all on the serial port: the kernel never reached its console. \
Usual causes: a firmware or image problem (the wrong image for the firmware, a corrupt image, \
missing OVMF); the bootloader failing before the kernel runs (a machine it cannot boot: \
docs/hardware.md, \"Machine shapes\"; vendor/README.md); \
or the serial port is not on QEMU's stdio (an extra `-serial` or `-nographic` argument)";

/// The judgement of one boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Leaf cases in output order.
    pub cases: Vec<Case>,
    /// Harness-level failures (panic, exception, timeout, exit status, plan
    /// problems); each counts as one failure.
    pub failures: Vec<String>,
    /// Where the serial log was written, for the report.
    pub log_path: Option<String>,
}

impl Verdict {
    pub fn passed(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Pass))
    }

    /// Failed cases plus harness-level failures.
    pub fn failed(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Fail(_))) + self.failures.len()
    }

    pub fn skipped(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Skip(_)))
    }

    pub fn is_pass(&self) -> bool {
        self.failed() == 0
    }

    fn count(&self, f: impl Fn(&Outcome) -> bool) -> usize {
        self.cases.iter().filter(|c| f(&c.outcome)).count()
    }

    /// Why the boot failed: `suite.case: reason` for failed cases, then the
    /// harness-level failures; empty if it passed.
    pub fn reason(&self) -> String {
        let cases = self.cases.iter().filter_map(|c| match &c.outcome {
            Outcome::Fail(why) => Some(format!("{}: {why}", c.name)),
            _ => None,
        });
        cases.chain(self.failures.iter().cloned()).collect::<Vec<_>>().join("\n")
    }

    /// `N passed, M failed` (plus `, K skipped` when there are any).
    pub fn summary(&self) -> String {
        let mut s = format!("{} passed, {} failed", self.passed(), self.failed());
        if self.skipped() > 0 {
            let _ = write!(s, ", {} skipped", self.skipped());
        }
        s
    }

    /// The full report, ending with [`Verdict::summary`] and a newline.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for c in &self.cases {
            let _ = match &c.outcome {
                Outcome::Pass => writeln!(s, "ok    {}", c.name),
                Outcome::Fail(why) => writeln!(s, "FAIL  {}: {why}", c.name),
                Outcome::Skip(_) => writeln!(s, "skip  {}", c.name),
            };
        }
        for f in &self.failures {
            let _ = writeln!(s, "error: {f}");
        }
        if let (false, Some(path)) = (self.is_pass(), &self.log_path) {
            let _ = writeln!(s, "serial log: {path}");
        }
        let _ = writeln!(s, "{}", self.summary());
        s
    }
}

/// Judges a finished boot.
pub fn judge(run: &Run) -> Verdict {
    let doc = ktap::parse(&run.lines);
    let cases = doc.cases();
    let mut failures = doc.fatal.clone();
    let silent = run.lines.iter().all(|l| l.trim().is_empty());
    match run.ending {
        Ending::TimedOut if silent => {
            failures.push(format!("timeout after {} s with {NO_OUTPUT_HINT}", run.timeout.as_secs()))
        }
        Ending::TimedOut => failures.push(format!(
            "timeout after {} s; last lines:\n    {}",
            run.timeout.as_secs(),
            last_lines(&run.lines).join("\n    ")
        )),
        Ending::NoExitAfterFatal => failures.push(format!(
            "QEMU still running {} s after the fatal report, killed (the kernel must exit QEMU after a panic or exception)",
            FATAL_GRACE.as_secs()
        )),
        Ending::Exited(_) if silent => {
            failures.push(format!("QEMU exited ({}) with {NO_OUTPUT_HINT}", run.ending))
        }
        Ending::Exited(_) => {}
    }
    let explained = !failures.is_empty()
        || !doc.problems.is_empty()
        || cases.iter().any(|c| matches!(c.outcome, Outcome::Fail(_)));
    if let Ending::Exited(status) = run.ending {
        failures.extend(status_failure(run.arch, status, explained, &run.stderr));
    }
    failures.extend(doc.problems);
    let log_path = run.log_path.as_ref().map(|p| p.display().to_string());
    Verdict { cases, failures, log_path }
}

/// The failure implied by QEMU's exit status, if any. `explained`: other
/// failures already account for a kernel-reported failure status.
fn status_failure(
    arch: Arch,
    status: Option<i32>,
    explained: bool,
    stderr: &str,
) -> Option<String> {
    let Some(status) = status else {
        return Some("QEMU was killed by a signal".into());
    };
    let qemu_said = match stderr.trim() {
        "" => String::new(),
        err => format!(" (QEMU: {})", err.lines().last().unwrap_or(err)),
    };
    let how = match arch {
        Arch::X86_64 => "QEMU exit status",
        Arch::Aarch64 => "semihosting exit status",
    };
    let msg = match (arch, arch.exit_status(status)) {
        (_, Some(ExitStatus::Success)) => return None,
        (_, Some(ExitStatus::Failure)) if explained => return None,
        (_, Some(ExitStatus::Failure)) => {
            format!("kernel reported failure ({how} {status}) but its output shows no failing case")
        }
        (Arch::X86_64, None) if status == 0 => {
            "QEMU exited with status 0 without the kernel reporting (triple fault or reset?)".into()
        }
        (Arch::X86_64, None) if status > 1 && isa_debug_exit::value_of(status).is_some() => {
            format!(
                "QEMU exited with status {status}: the kernel wrote {:#x} to isa-debug-exit ({:#x} = success, {:#x} = failure)",
                status >> 1,
                isa_debug_exit::SUCCESS_VALUE,
                isa_debug_exit::FAILURE_VALUE
            )
        }
        (_, None) => format!("QEMU exited with status {status}{qemu_said}"),
    };
    Some(msg)
}

/// The last few non-blank serial lines, cleaned of control characters.
fn last_lines(lines: &[String]) -> Vec<String> {
    let mut v: Vec<String> = lines
        .iter()
        .rev()
        .map(|l| ktap::normalize(l))
        .filter(|l| !l.trim().is_empty())
        .take(LAST_LINES)
        .collect();
    v.reverse();
    if v.is_empty() {
        v.push("(no serial output)".into());
    }
    v
}

#[cfg(test)]
mod tests;

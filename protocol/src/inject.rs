//! Deliberate failures for testing the test harness
//! (`ktest.inject=fail|panic|fault|hang|overflow`, see
//! [`crate::cmdline::key::KTEST_INJECT`]).
//!
//! The kernel's `inject` suite prints the diagnostic [`MARKER`] followed by
//! the kind's name just before it acts; the runner's tests require that
//! line, then the failure the kind must cause.

use core::fmt;

/// Start of the diagnostic printed just before an injection acts; the kind's
/// [`Injection::name`] follows (`inject: about to panic`).
pub const MARKER: &str = "inject: about to ";

/// One deliberate failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Injection {
    /// The case fails (`not ok`, failure exit status).
    Fail,
    /// The case panics (a `KERNEL PANIC` report).
    Panic,
    /// The case touches an unmapped address (a `CPU EXCEPTION` report).
    Fault,
    /// The case halts without a report: only the runner's timeout ends it.
    Hang,
    /// Unbounded recursion on the last online CPU: its stack's guard page
    /// must turn it into a reported double fault (x86_64) or exception
    /// (aarch64) naming that CPU.
    Overflow,
}

impl Injection {
    /// Every kind, in the order of the module doc.
    pub const ALL: [Self; 5] = [Self::Fail, Self::Panic, Self::Fault, Self::Hang, Self::Overflow];

    /// The kind's name on the command line and after [`MARKER`].
    pub const fn name(self) -> &'static str {
        match self {
            Self::Fail => "fail",
            Self::Panic => "panic",
            Self::Fault => "fault",
            Self::Hang => "hang",
            Self::Overflow => "overflow",
        }
    }

    /// The kind named `name`.
    ///
    /// # Errors
    /// [`UnknownInjection`] for any other text (the kernel panics on it, so a
    /// typo in a harness test cannot silently pass).
    pub fn parse(name: &str) -> Result<Self, UnknownInjection<'_>> {
        Self::ALL.into_iter().find(|k| k.name() == name).ok_or(UnknownInjection(name))
    }
}

impl fmt::Display for Injection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A `ktest.inject=` value that names no [`Injection`]; holds the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnknownInjection<'a>(pub &'a str);

impl fmt::Display for UnknownInjection<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {}={} (want", crate::cmdline::key::KTEST_INJECT, self.0)?;
        for (i, k) in Injection::ALL.iter().enumerate() {
            let sep = match i {
                0 => " ",
                i if i + 1 == Injection::ALL.len() => " or ",
                _ => ", ",
            };
            write!(f, "{sep}{k}")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in Injection::ALL {
            assert_eq!(Injection::parse(k.name()), Ok(k));
            assert_eq!(k.to_string(), k.name());
        }
        assert_eq!(Injection::parse("Panic"), Err(UnknownInjection("Panic")));
        let e = Injection::parse("").unwrap_err().to_string();
        assert_eq!(e, "unknown ktest.inject= (want fail, panic, fault, hang or overflow)");
    }
}

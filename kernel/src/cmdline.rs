//! Kernel command line: `mode [key=value ...]`.
//!
//! The first word picks what the boot does (`ktest`, `bench`; nothing means
//! the interactive shell); the rest are `key=value` options such as
//! `ktest.inject=panic` or `ktest.filter=heap`.

/// What the kernel does after initialisation.
#[derive(Debug, PartialEq, Eq)]
pub enum Mode<'a> {
    Shell,
    Ktest,
    Bench,
    Unknown(&'a str),
}

/// A parsed command line; borrows the original string.
pub struct CmdLine<'a> {
    pub mode: Mode<'a>,
    raw: &'a str,
}

impl<'a> CmdLine<'a> {
    pub fn parse(raw: &'a str) -> Self {
        let mode = match raw.split_whitespace().find(|w| !w.contains('=')) {
            None | Some("shell") => Mode::Shell,
            Some("ktest") => Mode::Ktest,
            Some("bench") => Mode::Bench,
            Some(other) => Mode::Unknown(other),
        };
        Self { mode, raw }
    }

    /// The value of `key=value`, if present (last one wins).
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.raw
            .split_whitespace()
            .filter_map(|w| w.split_once('='))
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v)
            .next_back()
    }
}

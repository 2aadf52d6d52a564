//! Kernel command line: `mode [key=value ...]`.
//!
//! The first word picks what the boot does (`ktest`, `bench`, `unattended`;
//! nothing means the interactive shell); the rest are `key=value` options
//! such as `ktest.inject=panic` or `ktest.filter=heap`.
//!
//! Where it comes from, first found wins (see docs/hardware.md):
//! 1. the firmware: QEMU's fw_cfg file `opt/cmdline` on x86_64 (`make run
//!    CMDLINE=...`, the test runner), `/chosen/bootargs` of the DTB on aarch64;
//! 2. a command line baked into the image (`make image CMDLINE=...`): the
//!    bootloader's ramdisk file, checked by [`parse_baked`];
//! 3. none: the interactive shell.

/// What the kernel does after initialisation.
#[derive(Debug, PartialEq, Eq)]
pub enum Mode<'a> {
    Shell,
    Ktest,
    Bench,
    /// memtest86+-style: ktest, then `stress` on every CPU, then a verdict
    /// banner; never needs a keyboard (crate::unattended).
    Unattended,
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
            Some("unattended") => Mode::Unattended,
            Some(other) => Mode::Unknown(other),
        };
        Self { mode, raw }
    }

    /// True when the bare word `word` (no `=`) appears after the mode word,
    /// e.g. `poweroff` in `unattended stress.secs=60 poweroff`.
    pub fn has_word(&self, word: &str) -> bool {
        self.raw.split_whitespace().filter(|w| !w.contains('=')).skip(1).any(|w| w == word)
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

/// First line of a command line baked into an image by the `boot` tool
/// (boot/src/main.rs has the same constant).
// Baked lines exist on x86_64 only (aarch64 boots with a DTB's bootargs).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub const BAKED_MAGIC: &[u8] = b"FROZEN-CMDLINE v1\n";

/// The command line in a baked ramdisk file: [`BAKED_MAGIC`], then the line
/// (printable ASCII, ends at the first newline or NUL).
///
/// # Errors
/// A short description when `file` is not such a file (another ramdisk, or
/// a damaged one): the caller reports it and boots without a command line.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub fn parse_baked(file: &[u8]) -> Result<&str, &'static str> {
    let rest = file.strip_prefix(BAKED_MAGIC).ok_or("no FROZEN-CMDLINE header")?;
    let end = rest.iter().position(|&b| b == b'\n' || b == 0).unwrap_or(rest.len());
    let line = &rest[..end];
    if !line.iter().all(|b| (b' '..=b'~').contains(b)) {
        return Err("command line is not printable ASCII");
    }
    // Printable ASCII is UTF-8.
    core::str::from_utf8(line).map(str::trim).map_err(|_| "command line is not UTF-8")
}

//! The kernel command line: `mode [key=value ...] [word ...]`.
//!
//! Words are separated by ASCII white space. The first word without a `=`
//! is the boot mode ([`Mode`]: `ktest`, `bench`, `unattended`, `shell`;
//! none means the shell); `key=value` words are options ([`key`], the last
//! one of a key wins); other words after the mode are flags ([`word`]).
//! Order does not matter otherwise: `ktest.filter=heap ktest` is `ktest`.
//!
//! Where the kernel gets it, first found wins:
//! 1. the firmware: on x86_64 QEMU's fw_cfg file [`FW_CFG_FILE`] (`-fw_cfg
//!    name=opt/cmdline,string=...`: `make run CMDLINE=...`, the runner), on
//!    aarch64 the DTB's `/chosen/bootargs` (QEMU `-append`);
//! 2. a line baked into an x86_64 image by the `boot` tool (`make image
//!    CMDLINE=...`): the bootloader's ramdisk file, see [`baked`];
//! 3. none: the interactive shell.
//!
//! The kernel keeps at most [`MAX_LEN`] bytes; [`check`] is what the host
//! tools accept before they hand a line to the kernel.

use core::fmt;

/// Longest command line the kernel keeps, in bytes: it reads at most this
/// much of the fw_cfg file and of a baked line (a longer one is cut), and
/// [`check`] refuses longer lines.
pub const MAX_LEN: usize = 512;

/// The fw_cfg file (x86_64) that carries the command line; QEMU's argument
/// is `-fw_cfg name=opt/cmdline,string=LINE` (a `,` in LINE written `,,`).
pub const FW_CFG_FILE: &str = "opt/cmdline";

/// The keys of `key=value` options the kernel reads.
pub mod key {
    /// `ktest.filter=a,b`: only the named ktest suites run (default all).
    pub const KTEST_FILTER: &str = "ktest.filter";
    /// `ktest.inject=KIND`: arms a deliberate failure
    /// ([`crate::inject::Injection`]).
    pub const KTEST_INJECT: &str = "ktest.inject";
    /// `bench.filter=a,b`: only the named benchmarks (cases of the `bench`
    /// suite, e.g. `refcount_shared,refcount_own`) run in `bench` mode
    /// (default all).
    pub const BENCH_FILTER: &str = "bench.filter";
    /// `stress.seed=N`: replays a stress run (N as the run printed it).
    pub const STRESS_SEED: &str = "stress.seed";
    /// `stress.scale=N`: N times the work per stress suite (N >= 1, default 1).
    pub const STRESS_SCALE: &str = "stress.scale";
    /// `stress.gate=1`: one CPU at a time in the allocator during stress
    /// ([`super::value::STRESS_GATE_ON`]).
    pub const STRESS_GATE: &str = "stress.gate";
    /// `stress.secs=N`: seconds of stress in `unattended` mode (default 600).
    pub const STRESS_SECS: &str = "stress.secs";
    /// `apic=x2apic` (x86_64): switch the local APIC to x2APIC
    /// ([`super::value::APIC_X2APIC`]).
    pub const APIC: &str = "apic";
    /// `usb=off` (x86_64): leave every xHCI controller alone
    /// ([`super::value::USB_OFF`]).
    pub const USB: &str = "usb";
}

/// Option values with a meaning of their own.
pub mod value {
    /// `stress.gate=1`.
    pub const STRESS_GATE_ON: &str = "1";
    /// `apic=x2apic`.
    pub const APIC_X2APIC: &str = "x2apic";
    /// `usb=off`.
    pub const USB_OFF: &str = "off";
}

/// Flag words after the mode.
pub mod word {
    /// `unattended ... poweroff`: power off at the end instead of halting.
    pub const POWEROFF: &str = "poweroff";
    /// `unattended ... exit`: end QEMU with the test status instead of halting.
    pub const EXIT: &str = "exit";
}

/// What the kernel does after initialisation (the first word without `=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode<'a> {
    /// `shell`, or no mode word: the interactive shell.
    Shell,
    /// `ktest`: run the KTAP suites, then exit QEMU with the result.
    Ktest,
    /// `bench`: run the benchmarks (KTAP too), then exit QEMU.
    Bench,
    /// `unattended`: memtest86+-style: ktest, then stress on every CPU for
    /// `stress.secs`, then a verdict banner; never needs a keyboard.
    Unattended,
    /// Any other word; the kernel says so and starts the shell.
    Unknown(&'a str),
}

impl<'a> Mode<'a> {
    /// Every mode with a word of its own.
    pub const KNOWN: [Mode<'static>; 4] = [Mode::Shell, Mode::Ktest, Mode::Bench, Mode::Unattended];

    /// The mode `word` names ([`Mode::Unknown`] for any other word).
    pub fn from_word(word: &'a str) -> Self {
        Self::KNOWN.into_iter().find(|m| m.word() == word).unwrap_or(Mode::Unknown(word))
    }

    /// The word that selects this mode (`Unknown`: the word itself).
    pub const fn word(self) -> &'a str {
        match self {
            Self::Shell => "shell",
            Self::Ktest => "ktest",
            Self::Bench => "bench",
            Self::Unattended => "unattended",
            Self::Unknown(w) => w,
        }
    }
}

/// A parsed command line; borrows the original string, and every `&str` it
/// returns is a part of it.
#[derive(Clone, Copy, Debug)]
pub struct CmdLine<'a> {
    /// The boot mode.
    pub mode: Mode<'a>,
    raw: &'a str,
}

impl<'a> CmdLine<'a> {
    /// Parses `raw` (any text; never fails: an unknown mode is
    /// [`Mode::Unknown`], words the kernel does not know are ignored).
    pub fn parse(raw: &'a str) -> Self {
        let mode =
            raw.split_whitespace().find(|w| !w.contains('=')).map_or(Mode::Shell, Mode::from_word);
        Self { mode, raw }
    }

    /// The text it was parsed from.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// True when the flag `word` (no `=`) appears after the mode word, e.g.
    /// `poweroff` in `unattended stress.secs=60 poweroff`.
    pub fn has_word(&self, word: &str) -> bool {
        self.words().any(|w| w == word)
    }

    /// The flag words after the mode word, in order.
    pub fn words(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.raw.split_whitespace().filter(|w| !w.contains('=')).skip(1)
    }

    /// Every `key=value` option in order, split at its first `=` (so a value
    /// may contain `=`).
    pub fn options(&self) -> impl DoubleEndedIterator<Item = (&'a str, &'a str)> + 'a {
        self.raw.split_whitespace().filter_map(|w| w.split_once('='))
    }

    /// The value of `key=value`, if present (the last one wins).
    pub fn get(&self, key: &str) -> Option<&'a str> {
        self.options().filter(|(k, _)| *k == key).map(|(_, v)| v).next_back()
    }

    /// The value of `key=N` as a whole number; `Ok(None)` when the key is
    /// absent.
    ///
    /// # Errors
    /// [`BadNumber`] when the value is not a decimal number from 0 to
    /// `u64::MAX`; the caller decides (the kernel says so and uses its
    /// default).
    pub fn number(&self, key: &'a str) -> Result<Option<u64>, BadNumber<'a>> {
        match self.get(key) {
            None => Ok(None),
            Some(value) => value.parse().map(Some).map_err(|_| BadNumber { key, value }),
        }
    }
}

/// A `key=value` option whose value should be a number and is not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadNumber<'a> {
    /// The option's key.
    pub key: &'a str,
    /// The value as written.
    pub value: &'a str,
}

impl fmt::Display for BadNumber<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad {}={} (want a whole number)", self.key, self.value)
    }
}

/// A command line written from its parts ([`fmt::Display`]): the mode word
/// (`shell` for [`Mode::Shell`]), then `key=value` for each option, then the
/// words, separated by one space. [`CmdLine::parse`] reads it back as these
/// parts when each key, value and word is non-empty and has no white space,
/// keys and words have no `=`, and `Unknown` holds such a word.
#[derive(Clone, Copy, Debug)]
pub struct Parts<'a> {
    /// The mode.
    pub mode: Mode<'a>,
    /// `key=value` options, in order.
    pub options: &'a [(&'a str, &'a str)],
    /// Flag words, in order.
    pub words: &'a [&'a str],
}

impl fmt::Display for Parts<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.mode.word())?;
        for (k, v) in self.options {
            write!(f, " {k}={v}")?;
        }
        for w in self.words {
            write!(f, " {w}")?;
        }
        Ok(())
    }
}

/// Why the host tools refuse a command line ([`check`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckError {
    /// Nothing but white space (an image without a command line is made by
    /// leaving it out).
    Empty,
    /// Longer than [`MAX_LEN`] bytes; holds the length.
    TooLong(usize),
    /// A character other than printable ASCII (space to `~`), with its
    /// byte offset.
    NotPrintable {
        /// The character.
        ch: char,
        /// Its byte offset in the line.
        at: usize,
    },
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("is empty"),
            Self::TooLong(len) => write!(f, "is {len} bytes; the kernel keeps {MAX_LEN}"),
            Self::NotPrintable { ch, at } => {
                write!(f, "has the character {ch:?} at byte {at}; only printable ASCII")
            }
        }
    }
}

/// Checks a command line the host hands to the kernel (baked into an image,
/// or passed through fw_cfg or `-append`): not empty, at most [`MAX_LEN`]
/// bytes, printable ASCII only (what [`baked::parse`] accepts).
///
/// # Errors
/// The first rule `line` breaks, as a [`CheckError`].
pub fn check(line: &str) -> Result<(), CheckError> {
    if line.trim().is_empty() {
        return Err(CheckError::Empty);
    }
    if let Some((at, ch)) = line.char_indices().find(|(_, c)| !(' '..='~').contains(c)) {
        return Err(CheckError::NotPrintable { ch, at });
    }
    if line.len() > MAX_LEN {
        return Err(CheckError::TooLong(line.len()));
    }
    Ok(())
}

/// A command line baked into an x86_64 image: the `boot` tool writes the
/// file, the bootloader loads it as its ramdisk, the kernel reads it with
/// [`parse`].
///
/// Layout: [`MAGIC`] (`FROZEN-CMDLINE v1` and a newline), then the line in
/// printable ASCII, ended by a newline (a NUL or the end of the file also
/// ends it). The tool also keeps the file as [`FILE_NAME`] beside the
/// images, so a person can see what an image carries.
pub mod baked {
    use core::fmt;

    /// First line of a baked file; a ramdisk without it is not one.
    pub const MAGIC: &str = "FROZEN-CMDLINE v1\n";

    /// Name of the file beside the images (`<out-dir>/cmdline.txt`).
    pub const FILE_NAME: &str = "cmdline.txt";

    /// Why a ramdisk is not a baked command line.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Error {
        /// The file does not start with [`MAGIC`] (another ramdisk, or none).
        NoMagic,
        /// The line has a byte outside printable ASCII (a damaged file), at
        /// this offset from the start of the line.
        NotPrintable {
            /// The byte.
            byte: u8,
            /// Its offset from the start of the line (after [`MAGIC`]).
            at: usize,
        },
    }

    impl fmt::Display for Error {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                Self::NoMagic => f.write_str("no FROZEN-CMDLINE header"),
                Self::NotPrintable { byte, at } => {
                    write!(f, "command line is not printable ASCII (byte {byte:#04x} at {at})")
                }
            }
        }
    }

    /// The command line in `file`, without surrounding white space (it may
    /// be empty). Reads only `file`.
    ///
    /// # Errors
    /// [`Error`] when `file` is not a baked command line; the kernel reports
    /// it and boots without one.
    pub fn parse(file: &[u8]) -> Result<&str, Error> {
        let rest = file.strip_prefix(MAGIC.as_bytes()).ok_or(Error::NoMagic)?;
        let end = rest.iter().position(|&b| b == b'\n' || b == 0).unwrap_or(rest.len());
        let line = &rest[..end];
        if let Some(at) = line.iter().position(|b| !(b' '..=b'~').contains(b)) {
            return Err(Error::NotPrintable { byte: line[at], at });
        }
        // Printable ASCII is UTF-8, so this never takes the fallback.
        Ok(core::str::from_utf8(line).map_or("", str::trim))
    }

    /// The file for `line` ([`fmt::Display`]): [`MAGIC`], the line, a
    /// newline. `line` should pass [`super::check`]; [`parse`] then gives it
    /// back (trimmed).
    #[derive(Clone, Copy, Debug)]
    pub struct File<'a>(pub &'a str);

    impl fmt::Display for File<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            writeln!(f, "{MAGIC}{}", self.0)
        }
    }
}

#[cfg(test)]
mod tests;

//! The KTAP version 1 words both sides use (Linux
//! `Documentation/dev-tools/ktap.rst`, the KUnit flavour).
//!
//! The kernel's printer (`kernel/src/ktest/`) writes:
//!
//! ```text
//! KTAP version 1
//! 1..N
//!     KTAP version 1
//!     # Subtest: SUITE
//!     1..M
//!     ok 1 CASE
//!     ok 2 CASE # SKIP reason
//!     not ok 3 CASE # reason
//! not ok 1 SUITE
//! ```
//!
//! and the runner's parser (`qemu-tests/src/ktap.rs`) reads the same words;
//! the parser also accepts what the spec allows beyond them (other versions,
//! `TODO`, two-space indentation).

/// The header line of a document or subtest.
pub const VERSION_LINE: &str = "KTAP version 1";

/// The header line without its version number.
pub const VERSION_PREFIX: &str = "KTAP version ";

/// Prefix of a plan line: `1..N`, N the number of results that follow.
pub const PLAN_PREFIX: &str = "1..";

/// One nesting level of indentation (four spaces; the kernel never uses
/// another width).
pub const INDENT: &str = "    ";

/// Names a subtest, after its header: `# Subtest: NAME`.
pub const SUBTEST_PREFIX: &str = "# Subtest:";

/// Starts the result line of a passed (or skipped) test: `ok N NAME`.
pub const OK: &str = "ok";

/// Starts the result line of a failed test: `not ok N NAME # reason`.
pub const NOT_OK: &str = "not ok";

/// Starts a diagnostic line, and separates a result from its directive or
/// reason (`ok 2 name # SKIP why`).
pub const DIAGNOSTIC: &str = "# ";

/// The directive word of a skipped test, after `#`.
pub const SKIP: &str = "SKIP";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_fit_together() {
        assert!(VERSION_LINE.starts_with(VERSION_PREFIX));
        assert_eq!(&VERSION_LINE[VERSION_PREFIX.len()..], "1");
        assert!(NOT_OK.ends_with(OK));
        assert!(SUBTEST_PREFIX.starts_with(DIAGNOSTIC));
        assert_eq!(INDENT.len(), 4);
    }
}

//! The interactive shell on the serial console (`kernel/src/shell.rs`).

/// The prompt the shell prints when it waits for a line; the runner's
/// interactive sessions and scripts that type into `make run` wait for it.
pub const PROMPT: &str = "frozen> ";

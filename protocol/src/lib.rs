//! The contract between the kernel and the host tools, written once.
//!
//! The kernel (`no_std`, bare-metal targets) and the host tools (`boot`,
//! `qemu-tests`, `bench-host`) both link this crate, so a value that one
//! side writes and the other reads is defined here and nowhere else:
//!
//! - [`exit`]: how a run ends: the isa-debug-exit value the x86_64 kernel
//!   writes and the QEMU exit status it becomes, the aarch64 semihosting
//!   exit code;
//! - [`fatal`]: the markers that start a panic or CPU exception report;
//! - [`ktap`]: the KTAP version 1 words the kernel prints and the runner's
//!   parser reads;
//! - [`cmdline`]: the kernel command line: its parser, the boot modes, the
//!   option keys and words, the fw_cfg file, the longest line, and the file
//!   layout of a command line baked into an image;
//! - [`inject`]: the deliberate failures of `ktest.inject=` and the marker
//!   printed before each;
//! - [`shell`]: the shell's prompt;
//! - [`bench`]: the `BENCH {json}` records of a bench boot: field names,
//!   record and variant names, and the writer.
//!
//! Nothing here allocates or depends on another crate. Every parser takes
//! arbitrary input without panicking (`tests/props.rs`).

#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]

pub mod bench;
pub mod cmdline;
pub mod exit;
pub mod fatal;
pub mod inject;
pub mod ktap;
pub mod shell;

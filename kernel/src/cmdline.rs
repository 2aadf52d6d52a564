//! Kernel command line: `mode [key=value ...] [word ...]`.
//!
//! The parser, the modes, the option keys and words are the host tools' too,
//! so they live in the `protocol` crate (`protocol/src/cmdline.rs`, tested on
//! the host with unit and property tests); this module is the kernel's name
//! for them. Where the line comes from, first found wins (see
//! docs/hardware.md):
//! 1. the firmware: QEMU's fw_cfg file `opt/cmdline` on x86_64 (`make run
//!    CMDLINE=...`, the test runner), `/chosen/bootargs` of the DTB on aarch64;
//! 2. a command line baked into the image (`make image CMDLINE=...`): the
//!    bootloader's ramdisk file, read by `protocol::cmdline::baked::parse`;
//! 3. none: the interactive shell.

pub use protocol::cmdline::{CmdLine, Mode};

//! Parsers of the bytes that devices and firmware hand the kernel.
//!
//! A USB device chooses its descriptors and reports, firmware (or whoever
//! edited it) chooses the device tree: the kernel did not write these bytes
//! and cannot trust them. Everything that turns such bytes into values
//! lives here, apart from the code that fetches them, so that it can be
//! tested and fuzzed on the host:
//!
//! - [`usb`]: device and configuration descriptors, and the search for a
//!   HID boot keyboard interface in a configuration;
//! - [`hid`]: HID boot-protocol keyboard reports to ASCII;
//! - [`x86`]: a PC's MADT processor flags, the S5 register value, CPUID's
//!   family and model, and the choice of a TSC rate among measurements;
//! - [`fb`]: a linear framebuffer's pixel addresses, from the geometry the
//!   firmware reported (padded lines, 24-bit pixels);
//! - [`dtb`]: the flattened device tree: the blob's header and structure
//!   checked (and `FDT_NOP` tokens squeezed out) before the `fdt` crate
//!   may see it, then the facts the aarch64 boot reads from it.
//!
//! What belongs here: pure functions over bytes (or values parsed from
//! them): no MMIO, no DMA, no architecture, no allocation, no global state.
//! The rules every parser keeps:
//!
//! - **It never panics and never reads out of bounds**, whatever the bytes:
//!   slices are indexed with `get`, arithmetic on lengths and addresses from
//!   the input is checked. `tests/proptest_*.rs` feed every parser
//!   arbitrary and mutated bytes; `fuzz/` does the same with libFuzzer
//!   (docs/testing.md, "Parsers of untrusted input").
//! - **An error is a type**, one enum per parser with `Display`, saying
//!   what was wrong and where, so the caller decides what it means (a USB
//!   device is left alone, a device tree stops the boot) and prints one
//!   line.
//! - **It is no stricter than the specification and Linux**: what Linux
//!   tolerates (a short interface descriptor, skipped) is tolerated here,
//!   and what Linux refuses is refused, with Linux's function named.

#![cfg_attr(not(test), no_std)]
// Safe code only: an out-of-bounds read is then a panic, never a silent
// read, so "never panics on any input" (the tests and fuzz targets) also
// means "never reads out of bounds".
#![forbid(unsafe_code)]

pub mod dtb;
pub mod fb;
pub mod hid;
pub mod usb;
pub mod x86;

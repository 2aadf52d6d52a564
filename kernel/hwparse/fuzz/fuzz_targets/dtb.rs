//! libFuzzer: any bytes as a device tree, read the way the aarch64 boot
//! reads one (compact, check, every query); see tests/common/mod.rs.
#![no_main]

#[path = "../../tests/common/mod.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    common::read_dtb_like_the_kernel(data);
});

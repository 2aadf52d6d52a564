//! libFuzzer: any bytes as USB device and configuration descriptors, parsed
//! the way enumeration parses them; see tests/common/mod.rs.
#![no_main]

#[path = "../../tests/common/mod.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    common::read_usb_like_the_kernel(data);
});

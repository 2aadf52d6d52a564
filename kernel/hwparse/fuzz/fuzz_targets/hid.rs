//! libFuzzer: any bytes as a stream of HID boot reports (the first byte
//! picks the report lengths, so short reports come too); see
//! tests/common/mod.rs.
#![no_main]

#[path = "../../tests/common/mod.rs"]
mod common;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&lens, reports)) = data.split_first() else { return };
    let lens = [usize::from(lens & 0x0F), usize::from(lens >> 4), 8];
    common::type_reports_like_the_kernel(reports, &lens);
});

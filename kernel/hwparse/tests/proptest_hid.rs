//! HID boot reports on arbitrary bytes (never panic, only ASCII out) and
//! reports built by the test (they parse back; a key types once).
//! `PROPTEST_CASES=N` runs more cases.

mod common;

use common::type_reports_like_the_kernel;
use hwparse::hid::{BootKeyboard, BootReport, REPORT_LEN, ReportError};
use proptest::collection::vec;
use proptest::prelude::*;

proptest! {
    #[test]
    fn arbitrary_bytes_parse_or_say_why(bytes in vec(any::<u8>(), 0..24)) {
        match BootReport::parse(&bytes) {
            Ok(r) => {
                prop_assert!(bytes.len() >= REPORT_LEN);
                prop_assert_eq!(r.modifiers, bytes[0]);
                prop_assert_eq!(&r.keys[..], &bytes[2..8]);
                prop_assert!(!r.keys.contains(&1));
            }
            Err(ReportError::Short { len }) => prop_assert!(len == bytes.len() && len < REPORT_LEN),
            Err(ReportError::RollOver) => prop_assert!(bytes[2..8].contains(&1)),
        }
    }

    #[test]
    fn arbitrary_report_streams_never_panic(bytes in vec(any::<u8>(), 0..400), lens in vec(0..12usize, 1..6)) {
        type_reports_like_the_kernel(&bytes, &lens);
    }

    /// Whatever state the keyboard is in, the same report twice types
    /// nothing the second time (a report is a state, not an event).
    #[test]
    fn a_report_repeated_types_nothing(history in vec(any::<[u8; 8]>(), 0..8), report in any::<[u8; 8]>()) {
        let mut kbd = BootKeyboard::new();
        for r in &history {
            kbd.report(r, |_| {});
        }
        kbd.report(&report, |_| {});
        let mut again = Vec::new();
        kbd.report(&report, |b| again.push(b));
        prop_assert!(again.is_empty(), "{:?}", again);
    }

    /// Distinct letters pressed at once from nothing type, lower case, in
    /// report order.
    #[test]
    fn built_letters_type_back(letters in prop::sample::subsequence((0x04u8..=0x1D).collect::<Vec<_>>(), 0..=6), order in any::<prop::sample::Index>()) {
        let mut keys = letters;
        let by = order.index(keys.len().max(1)).min(keys.len());
        keys.rotate_left(by);
        let mut report = [0u8; 8];
        report[2..2 + keys.len()].copy_from_slice(&keys);
        let parsed = BootReport::parse(&report).unwrap();
        prop_assert_eq!(&parsed.keys[..keys.len()], &keys[..]);
        let mut kbd = BootKeyboard::new();
        let mut out = Vec::new();
        kbd.feed(&parsed, |b| out.push(b));
        let want: Vec<u8> = keys.iter().map(|k| b'a' + (k - 0x04)).collect();
        prop_assert_eq!(out, want);
    }
}

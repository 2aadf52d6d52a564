//! Property tests of the parsers and writers: arbitrary input never panics,
//! everything a parser returns is a part of its input (no read outside it),
//! and what the writers produce parses back to what they were given.

use proptest::prelude::*;
use protocol::bench::{self, Record, Value};
use protocol::cmdline::{self, CmdLine, Mode, Parts, baked};
use protocol::inject::Injection;

/// Whether `part` lies inside `whole` (the same memory, not an equal copy).
fn within(part: &str, whole: &str) -> bool {
    let (p, w) = (part.as_ptr() as usize, whole.as_ptr() as usize);
    p >= w && p + part.len() <= w + whole.len()
}

/// Whether `part` lies inside `whole` (bytes).
fn within_bytes(part: &[u8], whole: &[u8]) -> bool {
    let (p, w) = (part.as_ptr() as usize, whole.as_ptr() as usize);
    p >= w && p + part.len() <= w + whole.len()
}

/// A token: non-empty, no white space, no `=`.
fn token() -> impl Strategy<Value = String> {
    "[!-<>-~]{1,12}"
}

fn mode() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("shell".to_string()),
        Just("ktest".to_string()),
        Just("bench".to_string()),
        Just("unattended".to_string()),
        token(),
    ]
}

proptest! {
    #[test]
    fn cmdline_parse_any_text(raw in any::<String>(), key in any::<String>()) {
        let c = CmdLine::parse(&raw);
        prop_assert!(within(c.raw(), &raw));
        if let Mode::Unknown(w) = c.mode {
            prop_assert!(within(w, &raw) && !w.is_empty() && !w.contains('='));
        }
        for w in c.words() {
            prop_assert!(within(w, &raw));
            prop_assert!(c.has_word(w));
        }
        for (k, v) in c.options() {
            prop_assert!(within(k, &raw) && within(v, &raw));
            prop_assert!(c.get(k).is_some());
        }
        if let Some(v) = c.get(&key) {
            prop_assert!(within(v, &raw));
        }
        match c.number(&key) {
            Ok(Some(n)) => prop_assert_eq!(c.get(&key).map(str::parse::<u64>), Some(Ok(n))),
            Ok(None) => prop_assert_eq!(c.get(&key), None),
            Err(e) => prop_assert!(within(e.value, &raw) && e.value.parse::<u64>().is_err()),
        }
    }

    #[test]
    fn cmdline_parts_round_trip(
        mode in mode(),
        options in prop::collection::vec((token(), "[!-~]{1,12}"), 0..6),
        words in prop::collection::vec(token(), 0..4),
    ) {
        let mode = Mode::from_word(&mode);
        let opts: Vec<(&str, &str)> = options.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let line = Parts { mode, options: &opts, words: &words }.to_string();
        let c = CmdLine::parse(&line);
        prop_assert_eq!(c.mode, mode);
        prop_assert_eq!(c.options().collect::<Vec<_>>(), opts.clone());
        prop_assert_eq!(c.words().collect::<Vec<_>>(), words.clone());
        for (k, _) in &opts {
            let last = opts.iter().rev().find(|(k2, _)| k2 == k).map(|(_, v)| *v);
            prop_assert_eq!(c.get(k), last);
        }
    }

    #[test]
    fn cmdline_check_any_text(raw in any::<String>()) {
        match cmdline::check(&raw) {
            Ok(()) => {
                prop_assert!(raw.len() <= cmdline::MAX_LEN && !raw.trim().is_empty());
                prop_assert!(raw.bytes().all(|b| (b' '..=b'~').contains(&b)));
            }
            Err(cmdline::CheckError::NotPrintable { ch, at }) => {
                prop_assert_eq!(raw[at..].chars().next(), Some(ch));
            }
            Err(_) => {}
        }
    }

    #[test]
    fn baked_parse_any_bytes(file in prop::collection::vec(any::<u8>(), 0..80), magic in any::<bool>()) {
        let mut bytes = if magic { baked::MAGIC.as_bytes().to_vec() } else { Vec::new() };
        bytes.extend_from_slice(&file);
        match baked::parse(&bytes) {
            Ok(line) => {
                prop_assert!(within_bytes(line.as_bytes(), &bytes[baked::MAGIC.len()..]));
                prop_assert!(line.bytes().all(|b| (b' '..=b'~').contains(&b)));
                prop_assert_eq!(line, line.trim());
            }
            Err(baked::Error::NoMagic) => prop_assert!(!bytes.starts_with(baked::MAGIC.as_bytes())),
            Err(baked::Error::NotPrintable { byte, at }) => {
                prop_assert_eq!(bytes[baked::MAGIC.len() + at], byte);
            }
        }
    }

    #[test]
    fn baked_file_round_trip(line in "[ -~]{1,512}") {
        prop_assume!(cmdline::check(&line).is_ok());
        let file = baked::File(&line).to_string();
        prop_assert_eq!(baked::parse(file.as_bytes()), Ok(line.trim()));
    }

    #[test]
    fn injection_parse_any_text(name in any::<String>()) {
        match Injection::parse(&name) {
            Ok(k) => prop_assert_eq!(k.name(), name.as_str()),
            Err(e) => prop_assert!(within(e.0, &name)),
        }
    }

    #[test]
    fn bench_record_is_json(
        text in any::<String>(),
        n in any::<u64>(),
        x in any::<f64>(),
    ) {
        let fields = [
            (bench::field::BENCH, Value::Text(&text)),
            (bench::field::CPUS, Value::Int(n)),
            (bench::field::NS_PER_OP, Value::Fixed2(x)),
        ];
        let line = Record(&fields).to_string();
        let json = line.strip_prefix(bench::PREFIX).expect("prefix");
        let v: serde_json::Value = serde_json::from_str(json).expect("valid JSON");
        prop_assert_eq!(v[bench::field::BENCH].as_str(), Some(text.as_str()));
        prop_assert_eq!(v[bench::field::CPUS].as_u64(), Some(n));
        if x.is_finite() {
            let back = v[bench::field::NS_PER_OP].as_f64().expect("a number");
            prop_assert!((back - x).abs() <= 0.005 + x.abs() * 1e-12, "{} -> {}", x, back);
        } else {
            prop_assert!(v[bench::field::NS_PER_OP].is_null());
        }
    }
}

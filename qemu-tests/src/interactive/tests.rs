//! Unit tests of the session helpers and the image code (no QEMU needed).

use super::image::{Class, Image, adler32, classify, crc32};
use super::*;

#[test]
fn command_output_drops_echo_and_prompt() {
    let text = "meminfo\nUsableRAM: 1 kB\nFree: 2 kB\nfrozen> ";
    assert_eq!(command_output(text), "UsableRAM: 1 kB\nFree: 2 kB\n");
    assert_eq!(command_output("help\nfrozen> "), "");
    assert_eq!(command_output("frozen> "), "");
}

#[test]
fn key_names() {
    assert_eq!(key_name('t').as_deref(), Some("t"));
    assert_eq!(key_name('7').as_deref(), Some("7"));
    assert_eq!(key_name(' ').as_deref(), Some("spc"));
    assert_eq!(key_name('\n').as_deref(), Some("ret"));
    assert_eq!(key_name('T').as_deref(), Some("shift-t"));
    assert_eq!(key_name('_').as_deref(), Some("shift-minus"));
    assert_eq!(key_name('é'), None);
}

#[test]
fn qmp_requests() {
    assert_eq!(qmp_request("qmp_capabilities", None), r#"{"execute":"qmp_capabilities"}"#);
    // Quotes, backslashes and control characters escaped: one line.
    let text = "sendkey \"a\"\\ \n\t\x01 ü";
    let request = qmp_request("human-monitor-command", Some(json!({ "command-line": text })));
    assert!(!request.contains('\n'), "{request}");
    assert!(request.contains(r#""sendkey \"a\"\\ \n\t\u0001 ü""#), "{request}");
    assert_eq!(
        serde_json::from_str::<Value>(&request).unwrap(),
        json!({ "execute": "human-monitor-command", "arguments": { "command-line": text } })
    );
}

#[test]
fn qmp_replies() {
    assert_eq!(qmp_reply(r#"{"return": {}}"#), Some(Ok(json!({}))));
    assert_eq!(
        qmp_reply(r#"{"return": "unknown key: 'x'\r\n"}"#),
        Some(Ok(json!("unknown key: 'x'\r\n")))
    );
    let error = r#"{"error": {"class": "GenericError", "desc": "no such file"}}"#;
    assert_eq!(qmp_reply(error), Some(Err(error.to_string())));
    let event = r#"{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "RESET"}"#;
    assert_eq!(qmp_reply(event), None);
    assert!(matches!(qmp_reply(r#"{"return": "unterminated"#), Some(Err(_))));
    assert!(matches!(qmp_reply("[]"), Some(Err(_))));
}

#[test]
fn socket_paths_are_short_and_distinct() {
    let a = socket_path("a very long test name with spaces and more words");
    let b = socket_path("a very long test name with spaces and more words");
    assert_ne!(a, b);
    assert!(a.as_os_str().len() < 100, "{}", a.display());
}

fn sample() -> Image {
    let mut img = Image::blank(5, 3);
    img.set_pixel(0, 0, (255, 0, 0));
    img.set_pixel(4, 2, (1, 2, 3));
    img
}

#[test]
fn ppm_round_trip_and_header_forms() {
    let img = sample();
    assert_eq!(Image::parse_ppm(&img.to_ppm()).unwrap(), img);
    // Comments, odd whitespace, maxval < 255 (scaled up).
    let mut data = b"P6 # QEMU\n2\t1 # size\n 15\n".to_vec();
    data.extend_from_slice(&[15, 0, 15, 0, 15, 0]);
    let img = Image::parse_ppm(&data).unwrap();
    assert_eq!((img.width, img.height), (2, 1));
    assert_eq!(img.pixel(0, 0), (255, 0, 255));
    assert_eq!(img.pixel(1, 0), (0, 255, 0));
}

#[test]
fn ppm_errors() {
    let err = |data: &[u8]| Image::parse_ppm(data).unwrap_err();
    assert!(err(b"P3\n1 1\n255\n").contains("P6"));
    assert!(err(b"P6\n1 x\n255\n").contains("field 2"));
    assert!(err(b"P6\n1 1\n65535\n\0\0\0\0\0\0").contains("maxval"));
    assert!(err(b"P6\n2 2\n255\n\0\0\0").contains("truncated"));
    assert!(err(b"P6\n1 1\n255").contains("whitespace"));
}

#[test]
fn checksums() {
    // Known values: the IEND chunk's CRC, and Adler-32 of "Wikipedia".
    assert_eq!(crc32(b"IEND"), 0xae42_6082);
    assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
    assert_eq!(adler32(&[0xff; 100_000]), {
        let (mut a, mut b) = (1u64, 0u64);
        for _ in 0..100_000 {
            a = (a + 0xff) % 65521;
            b = (b + a) % 65521;
        }
        ((b << 16) | a) as u32
    });
}

#[test]
fn png_structure() {
    // Wide enough that the deflate stream needs several stored blocks.
    let mut img = Image::blank(30_000, 2);
    img.set_pixel(29_999, 1, (1, 2, 3));
    let png = img.to_png();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // Walk the chunks, checking lengths and CRCs; collect the IDAT payload.
    let mut at = 8;
    let mut kinds = Vec::new();
    let mut zlib = Vec::new();
    while at < png.len() {
        let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        let kind = &png[at + 4..at + 8];
        let data = &png[at + 8..at + 8 + len];
        let crc = u32::from_be_bytes(png[at + 8 + len..at + 12 + len].try_into().unwrap());
        assert_eq!(crc, crc32(&png[at + 4..at + 8 + len]));
        if kind == b"IHDR" {
            assert_eq!(data, [0, 0, 0x75, 0x30, 0, 0, 0, 2, 8, 2, 0, 0, 0]);
        }
        if kind == b"IDAT" {
            zlib.extend_from_slice(data);
        }
        kinds.push(String::from_utf8_lossy(kind).into_owned());
        at += 12 + len;
    }
    assert_eq!(kinds, ["IHDR", "IDAT", "IEND"]);
    // Inflate the stored blocks by hand and compare with the filtered rows.
    let mut raw = Vec::new();
    let mut p = 2;
    loop {
        let last = zlib[p] & 1 == 1;
        assert_eq!(zlib[p] & 6, 0, "not a stored block");
        let len = u16::from_le_bytes([zlib[p + 1], zlib[p + 2]]);
        let nlen = u16::from_le_bytes([zlib[p + 3], zlib[p + 4]]);
        assert_eq!(len, !nlen);
        raw.extend_from_slice(&zlib[p + 5..p + 5 + len as usize]);
        p += 5 + len as usize;
        if last {
            break;
        }
    }
    assert_eq!(u32::from_be_bytes(zlib[p..p + 4].try_into().unwrap()), adler32(&raw));
    assert_eq!(raw.len(), 2 * (1 + 90_000));
    assert_eq!(raw[0], 0);
    assert_eq!(&raw[raw.len() - 3..], [1, 2, 3]);
}

#[test]
fn pixel_classes_match_the_console_colours() {
    // Full-intensity glyph pixels of the kernel's line colours.
    assert_eq!(classify((0x40, 0xe0, 0x40)), Class::Green);
    assert_eq!(classify((0xff, 0x50, 0x50)), Class::Red);
    assert_eq!(classify((0xdd, 0xdd, 0xdd)), Class::Other);
    assert_eq!(classify((0x90, 0x90, 0x90)), Class::Other);
    assert_eq!(classify((0, 0, 0)), Class::Black);
    // Faint anti-aliased edges of green text are lit but not "green".
    assert_eq!(classify((0x10, 0x38, 0x10)), Class::Other);
}

#[test]
fn text_rows_count_per_band() {
    let mut img = Image::blank(40, 8 + 3 * 16 + 5);
    img.set_pixel(3, 8, (0x40, 0xe0, 0x40)); // row 0
    img.set_pixel(10, 8 + 16 + 15, (0xff, 0x50, 0x50)); // row 1
    img.set_pixel(12, 8 + 16, (0xdd, 0xdd, 0xdd)); // row 1
    img.set_pixel(0, 2, (0xdd, 0xdd, 0xdd)); // in the margin: not counted
    let rows = img.text_rows(8, 16);
    assert_eq!(rows.len(), 3);
    assert_eq!((rows[0].lit, rows[0].green, rows[0].right), (1, 1, 4));
    assert_eq!((rows[1].lit, rows[1].red, rows[1].white, rows[1].right), (2, 1, 1, 13));
    assert_eq!(rows[2].lit, 0);
}

#[test]
fn a_session_that_cannot_start_leaves_a_failed_result() {
    let dir = std::env::temp_dir().join(format!("qemu-tests-nostart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut cfg = Config::new(dir.join("no-such.img"));
    cfg.name = "no-image".into();
    cfg.log_dir = Some(dir.clone());
    let err = Session::start(&cfg, false).err().expect("started without an image");
    assert!(err.to_string().contains("not found"), "{err}");
    let json = std::fs::read_to_string(dir.join("no-image.json")).expect("no JSON result");
    let xml = std::fs::read_to_string(dir.join("no-image.xml")).expect("no XML result");
    let s = crate::report::summarize(&dir).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let j: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(j["passed"], false);
    assert_eq!(j["cases"][0]["name"], "session.01 QEMU started");
    assert!(xml.contains("<failure"), "{xml}");
    assert_eq!(s.len(), 1);
    assert!(s[0].failures[0].starts_with("session.01 QEMU started: image "), "{s:?}");
}

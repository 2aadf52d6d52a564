//! Unit tests of the command line; the property tests are in tests/props.rs.

use super::*;

#[test]
fn modes() {
    assert_eq!(CmdLine::parse("").mode, Mode::Shell);
    assert_eq!(CmdLine::parse("  \t\n").mode, Mode::Shell);
    assert_eq!(CmdLine::parse("shell").mode, Mode::Shell);
    assert_eq!(CmdLine::parse("ktest").mode, Mode::Ktest);
    assert_eq!(CmdLine::parse("bench").mode, Mode::Bench);
    assert_eq!(CmdLine::parse("x=1 unattended").mode, Mode::Unattended);
    assert_eq!(CmdLine::parse("x=1 bogus ktest").mode, Mode::Unknown("bogus"));
    assert_eq!(CmdLine::parse("KTEST").mode, Mode::Unknown("KTEST"));
    for m in Mode::KNOWN {
        assert_eq!(Mode::from_word(m.word()), m);
    }
}

#[test]
fn options_and_words() {
    let c = CmdLine::parse("ktest ktest.inject=fail ktest.filter=heap,mm");
    assert_eq!(c.mode, Mode::Ktest);
    assert_eq!(c.get(key::KTEST_INJECT), Some("fail"));
    assert_eq!(c.get(key::KTEST_FILTER), Some("heap,mm"));
    assert_eq!(c.get("missing"), None);
    let c = CmdLine::parse("unattended stress.secs=60 a=1 a=2 b==x= poweroff exit");
    assert_eq!(c.get("a"), Some("2"));
    assert_eq!(c.get("b"), Some("=x="));
    assert!(c.has_word(word::POWEROFF) && c.has_word(word::EXIT));
    assert!(!c.has_word("unattended"), "the mode is not a flag word");
    assert_eq!(c.words().collect::<Vec<_>>(), ["poweroff", "exit"]);
    assert_eq!(c.options().count(), 4);
    assert_eq!(c.raw(), "unattended stress.secs=60 a=1 a=2 b==x= poweroff exit");
}

#[test]
fn numbers() {
    let c = CmdLine::parse("unattended stress.secs=60 stress.seed=x stress.scale=-1");
    assert_eq!(c.number(key::STRESS_SECS), Ok(Some(60)));
    assert_eq!(c.number(key::STRESS_GATE), Ok(None));
    let e = c.number(key::STRESS_SEED).unwrap_err();
    assert_eq!(e, BadNumber { key: "stress.seed", value: "x" });
    assert_eq!(e.to_string(), "bad stress.seed=x (want a whole number)");
    assert!(c.number(key::STRESS_SCALE).is_err());
    let max = format!("stress.seed={}", u64::MAX);
    assert_eq!(CmdLine::parse(&max).number(key::STRESS_SEED), Ok(Some(u64::MAX)));
    let over = format!("stress.seed={}0", u64::MAX);
    assert!(CmdLine::parse(&over).number(key::STRESS_SEED).is_err());
}

#[test]
fn parts_written() {
    let p = Parts {
        mode: Mode::Ktest,
        options: &[(key::KTEST_INJECT, "panic"), (key::KTEST_FILTER, "none")],
        words: &[],
    };
    assert_eq!(p.to_string(), "ktest ktest.inject=panic ktest.filter=none");
    let p = Parts { mode: Mode::Shell, options: &[], words: &["exit"] };
    assert_eq!(p.to_string(), "shell exit");
    assert!(CmdLine::parse(&p.to_string()).has_word("exit"));
}

#[test]
fn checks() {
    assert_eq!(check("ktest ktest.filter=heap"), Ok(()));
    assert_eq!(check(""), Err(CheckError::Empty));
    assert_eq!(check("  "), Err(CheckError::Empty));
    assert_eq!(check("ktest\nx"), Err(CheckError::NotPrintable { ch: '\n', at: 5 }));
    assert_eq!(check("é"), Err(CheckError::NotPrintable { ch: 'é', at: 0 }));
    assert_eq!(check(&"x".repeat(MAX_LEN)), Ok(()));
    assert_eq!(check(&"x".repeat(MAX_LEN + 1)), Err(CheckError::TooLong(MAX_LEN + 1)));
    assert_eq!(CheckError::TooLong(600).to_string(), "is 600 bytes; the kernel keeps 512");
    assert_eq!(
        CheckError::NotPrintable { ch: '\t', at: 3 }.to_string(),
        r"has the character '\t' at byte 3; only printable ASCII"
    );
}

#[test]
fn baked_files() {
    assert_eq!(baked::parse(b"FROZEN-CMDLINE v1\nktest x=1\n"), Ok("ktest x=1"));
    assert_eq!(baked::parse(b"FROZEN-CMDLINE v1\n  ktest  \0junk\xff"), Ok("ktest"));
    assert_eq!(baked::parse(b"FROZEN-CMDLINE v1\n"), Ok(""));
    assert_eq!(baked::parse(b"FROZEN-CMDLINE v1"), Err(baked::Error::NoMagic));
    assert_eq!(baked::parse(b""), Err(baked::Error::NoMagic));
    assert_eq!(baked::parse(b"\x7fELF"), Err(baked::Error::NoMagic));
    assert_eq!(
        baked::parse(b"FROZEN-CMDLINE v1\nab\tc\n"),
        Err(baked::Error::NotPrintable { byte: b'\t', at: 2 })
    );
    assert_eq!(baked::Error::NoMagic.to_string(), "no FROZEN-CMDLINE header");
    let file = baked::File("unattended stress.secs=600").to_string();
    assert_eq!(file, "FROZEN-CMDLINE v1\nunattended stress.secs=600\n");
    assert_eq!(baked::parse(file.as_bytes()), Ok("unattended stress.secs=600"));
    assert!(baked::MAGIC.ends_with('\n'));
}

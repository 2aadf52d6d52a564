//! Reading the assembly `make asm` makes of `asm-probe`: per probe symbol
//! (`refcount_<op>_<scheme>`), its instructions and its atomic
//! read-modify-writes, for docs/refcount.md's "Which layout" table.
//!
//! The text is what `rustc --emit=asm` writes (AT&T syntax on x86_64, the
//! usual syntax on aarch64): a symbol runs from its `name:` line to its
//! `.Lfunc_end` label; instructions are the lines that are neither labels,
//! directives (`.`) nor comments.

use std::collections::BTreeMap;

/// What one probe compiled to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Probe {
    /// Instructions in the symbol, every path (cold paths the compiler
    /// inlined included).
    pub instructions: usize,
    /// Atomic read-modify-writes in the symbol: `lock`-prefixed and `xchg`
    /// on x86_64; LSE (`ldadd`, `cas`, `swp`, `ldclr`, `ldset`, ...) and
    /// store-exclusives (`stxr`, `stlxr`: one per LL/SC loop) on aarch64.
    pub rmws: usize,
    /// The first atomic read-modify-write's mnemonic (e.g. `lock xaddl`,
    /// `ldaddal`), or empty.
    pub first_rmw: String,
}

/// Whether `mnemonic` (with any `lock` prefix kept) is an atomic RMW.
fn is_rmw(mnemonic: &str) -> bool {
    let m = mnemonic.trim();
    m.starts_with("lock")
        || m.starts_with("xchg")
        || ["ldadd", "ldclr", "ldset", "ldeor", "swp", "cas"].iter().any(|p| m.starts_with(p))
        || m.starts_with("stxr")
        || m.starts_with("stlxr")
}

/// Every `refcount_*` symbol of one assembly file. A probe the compiler
/// found identical to another is emitted as an alias (`a = b`): it gets
/// `b`'s figures.
pub fn probes(asm: &str) -> BTreeMap<String, Probe> {
    let mut out = BTreeMap::new();
    let mut aliases = Vec::new();
    let mut current: Option<(String, Probe)> = None;
    for line in asm.lines() {
        let t = line.trim();
        if let Some((alias, target)) = t.split_once(" = ") {
            if alias.starts_with("refcount_") {
                aliases.push((alias.to_string(), target.trim().to_string()));
            }
            continue;
        }
        if let Some(name) = t.strip_suffix(':') {
            if name.starts_with("refcount_") {
                current = Some((name.to_string(), Probe::default()));
                continue;
            }
            if name.starts_with(".Lfunc_end")
                && let Some((n, p)) = current.take()
            {
                out.insert(n, p);
            }
            continue;
        }
        let Some((_, p)) = current.as_mut() else { continue };
        if t.is_empty() || t.starts_with('.') || t.starts_with('#') || t.starts_with("//") {
            continue;
        }
        // The mnemonic, with a `lock` prefix joined to what it prefixes.
        let mut words = t.split_whitespace();
        let first = words.next().unwrap_or("");
        let mnemonic = if first == "lock" {
            format!("lock {}", words.next().unwrap_or(""))
        } else {
            first.to_string()
        };
        p.instructions += 1;
        if is_rmw(&mnemonic) {
            p.rmws += 1;
            if p.first_rmw.is_empty() {
                p.first_rmw = mnemonic;
            }
        }
    }
    for (alias, target) in aliases {
        if let Some(p) = out.get(&target).cloned() {
            out.insert(alias, p);
        }
    }
    out
}

/// The markdown table: a row per probe, per architecture its instructions,
/// RMWs and first RMW.
pub fn table(archs: &[(String, BTreeMap<String, Probe>)]) -> String {
    let mut s = String::from("| probe |");
    let mut rule = String::from("|---|");
    for (a, _) in archs {
        s.push_str(&format!(" {a}: instructions / RMWs (first) |"));
        rule.push_str("---|");
    }
    s.push('\n');
    s.push_str(&rule);
    s.push('\n');
    let names: std::collections::BTreeSet<&String> =
        archs.iter().flat_map(|(_, p)| p.keys()).collect();
    for n in names {
        s.push_str(&format!("| `{n}` |"));
        for (_, probes) in archs {
            match probes.get(n) {
                Some(p) => s.push_str(&format!(
                    " {} / {} ({}) |",
                    p.instructions,
                    p.rmws,
                    if p.first_rmw.is_empty() { "-" } else { &p.first_rmw }
                )),
                None => s.push_str(" - |"),
            }
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_instructions_and_rmws_per_symbol() {
        let x86 = "refcount_get_b = refcount_get_a\nrefcount_get_a:\n.Lfunc_begin0:\n\tmovl\t$1, %eax\n\tlock\t\txaddl\t%eax, (%rdi)\n.Ltmp1:\n\t.cfi_endproc\n\tjs\t.LBB0_1\n\tlock\t\tdecl\t(%rdi)\n\tretq\n.Lfunc_end0:\nother:\n\tnop\n.Lfunc_end1:\n";
        let p = probes(x86);
        assert_eq!(p.len(), 2, "{p:?}");
        let a = &p["refcount_get_a"];
        assert_eq!((a.instructions, a.rmws, a.first_rmw.as_str()), (5, 2, "lock xaddl"));
        assert_eq!(p["refcount_get_b"], *a, "an alias has its target's figures");
        let arm = "refcount_put_b:\n\tmov\tw8, #-1\n\tldaddl\tw8, w8, [x0]\n\tret\n.Lfunc_end2:\nrefcount_put_c:\n.LBB3_1:\n\tldxr\tw8, [x0]\n\tsub\tw9, w8, #1\n\tstlxr\tw10, w9, [x0]\n\tcbnz\tw10, .LBB3_1\n\tret\n.Lfunc_end3:\n";
        let p = probes(arm);
        assert_eq!(
            p["refcount_put_b"],
            Probe { instructions: 3, rmws: 1, first_rmw: "ldaddl".into() }
        );
        assert_eq!(p["refcount_put_c"].rmws, 1, "one store-exclusive per LL/SC loop");
        let t = table(&[("x86_64".into(), probes(x86))]);
        assert!(t.contains("| `refcount_get_a` | 5 / 2 (lock xaddl) |"), "{t}");
    }
}

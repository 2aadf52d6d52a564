//! Benchmark results: parsing the kernel's `BENCH {json}` lines, the ratio
//! summary, and an SVG plot. The kernel prints flat JSON objects with string
//! and number values only, so a tiny parser is enough (no serde).

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// One measurement (a `BENCH` line other than `meta`).
#[derive(Clone, Debug)]
pub struct Record {
    pub bench: String,
    pub variant: String,
    pub cpus: usize,
    pub ns_per_op: f64,
    pub cycles_per_op: f64,
    /// Every field, as printed.
    pub fields: BTreeMap<String, String>,
    /// The JSON object as the kernel printed it.
    pub raw: String,
}

/// Parses `{"k":"v","n":1.5}` (flat, no nesting, no escapes in strings).
pub fn parse_flat_json(s: &str) -> Option<BTreeMap<String, String>> {
    let body = s.trim().strip_prefix('{')?.strip_suffix('}')?;
    let mut map = BTreeMap::new();
    for pair in body.split(',').filter(|p| !p.trim().is_empty()) {
        let (k, v) = pair.split_once(':')?;
        let k = k.trim().trim_matches('"').to_string();
        let v = v.trim().trim_matches('"').to_string();
        map.insert(k, v);
    }
    Some(map)
}

/// The `meta` fields and the records of a boot log.
pub fn parse_log(log: &str) -> (BTreeMap<String, String>, Vec<Record>) {
    let mut meta = BTreeMap::new();
    let mut records = Vec::new();
    for line in log.lines() {
        let Some(json) = line.trim_end_matches('\r').strip_prefix("BENCH ") else { continue };
        let Some(fields) = parse_flat_json(json) else { continue };
        let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
        if get("bench") == "meta" {
            meta = fields;
            continue;
        }
        let num = |k: &str| fields.get(k).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
        records.push(Record {
            bench: get("bench"),
            variant: get("variant"),
            cpus: get("cpus").parse().unwrap_or(0),
            ns_per_op: num("ns_per_op"),
            cycles_per_op: num("cycles_per_op"),
            raw: json.trim().to_string(),
            fields,
        });
    }
    (meta, records)
}

/// Benchmarks in first-seen order, each with its variants in first-seen order.
fn groups(records: &[Record]) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for r in records {
        let idx = match out.iter().position(|(b, _)| *b == r.bench) {
            Some(i) => i,
            None => {
                out.push((r.bench.clone(), Vec::new()));
                out.len() - 1
            }
        };
        if !out[idx].1.contains(&r.variant) {
            out[idx].1.push(r.variant.clone());
        }
    }
    out
}

fn find<'a>(records: &'a [Record], bench: &str, variant: &str, cpus: usize) -> Option<&'a Record> {
    records.iter().find(|r| r.bench == bench && r.variant == variant && r.cpus == cpus)
}

/// Markdown: environment, then per benchmark a table of ns/op per variant,
/// the ratio first-variant / second-variant, and each variant's N/1 scaling.
pub fn summary_markdown(env: &BTreeMap<String, String>, records: &[Record]) -> String {
    let mut s = String::from("## Benchmark results\n\n");
    let e = |k: &str| env.get(k).map(String::as_str).unwrap_or("?");
    let _ = writeln!(
        s,
        "{} vCPUs ({} accelerator, guest CPU: {}) on {} host cores; oversubscribed: {}; atomics: {}; allocator scheme: {}.\n",
        e("cpus"),
        e("accel"),
        e("arch"),
        e("host_cores"),
        e("oversubscribed"),
        e("atomics"),
        e("scheme")
    );
    for (bench, variants) in groups(records) {
        if bench == "fragmentation" {
            for r in records.iter().filter(|r| r.bench == bench) {
                let share = r.fields.get("big_block_share").map(String::as_str).unwrap_or("?");
                let _ = writeln!(
                    s,
                    "### fragmentation\n\n{share}% of free memory in order-9/10 blocks after the churn.\n"
                );
            }
            continue;
        }
        let _ = writeln!(s, "### {bench} (ns per op)\n");
        let mut header = String::from("| CPUs |");
        let mut rule = String::from("|---:|");
        for v in &variants {
            let _ = write!(header, " {v} |");
            rule.push_str("---:|");
        }
        if variants.len() >= 2 {
            let _ = write!(header, " {} / {} |", variants[0], variants[1]);
            rule.push_str("---:|");
        }
        for v in &variants {
            let _ = write!(header, " {v} N/1 |");
            rule.push_str("---:|");
        }
        let _ = writeln!(s, "{header}\n{rule}");
        let mut cpus: Vec<usize> =
            records.iter().filter(|r| r.bench == bench).map(|r| r.cpus).collect();
        cpus.sort_unstable();
        cpus.dedup();
        for n in cpus {
            let mut row = format!("| {n} |");
            let vals: Vec<Option<f64>> =
                variants.iter().map(|v| find(records, &bench, v, n).map(|r| r.ns_per_op)).collect();
            for v in &vals {
                let _ = write!(row, " {} |", v.map_or("-".into(), |x| format!("{x:.1}")));
            }
            if let (Some(Some(a)), Some(Some(b))) = (vals.first(), vals.get(1)) {
                let _ = write!(row, " {:.2} |", a / b);
            } else if variants.len() >= 2 {
                row.push_str(" - |");
            }
            for (v, val) in variants.iter().zip(&vals) {
                let one = find(records, &bench, v, 1).map(|r| r.ns_per_op);
                let _ = write!(
                    row,
                    " {} |",
                    match (val, one) {
                        (Some(x), Some(o)) => format!("{:.2}", x / o),
                        _ => "-".into(),
                    }
                );
            }
            let _ = writeln!(s, "{row}");
        }
        s.push('\n');
    }
    s
}

const COLORS: [&str; 4] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

/// One SVG with a panel per benchmark: ns per op (y) against CPUs (x).
pub fn render_svg(env: &BTreeMap<String, String>, records: &[Record]) -> String {
    let panels: Vec<(String, Vec<String>)> =
        groups(records).into_iter().filter(|(b, _)| b != "fragmentation").collect();
    let (pw, ph, cols) = (420.0, 300.0, 2usize);
    let rows = panels.len().div_ceil(cols);
    let (w, h) = (pw * cols as f64, ph * rows as f64 + 40.0);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    let e = |k: &str| env.get(k).map(String::as_str).unwrap_or("?");
    let _ = writeln!(
        s,
        "<text x=\"10\" y=\"20\" font-size=\"13\">{} vCPUs, {} on {} host cores (oversubscribed: {}), {}</text>",
        e("cpus"),
        e("accel"),
        e("host_cores"),
        e("oversubscribed"),
        e("arch")
    );
    for (i, (bench, variants)) in panels.iter().enumerate() {
        let (ox, oy) = ((i % cols) as f64 * pw, 40.0 + (i / cols) as f64 * ph);
        let (l, r, t, b) = (ox + 55.0, ox + pw - 15.0, oy + 25.0, oy + ph - 40.0);
        let pts: Vec<&Record> =
            records.iter().filter(|r| &r.bench == bench && r.ns_per_op.is_finite()).collect();
        let max_x = pts.iter().map(|r| r.cpus).max().unwrap_or(1).max(2) as f64;
        let max_y = pts.iter().map(|r| r.ns_per_op).fold(0.0, f64::max).max(1e-9) * 1.1;
        let x = |c: usize| l + (c as f64 - 1.0) / (max_x - 1.0) * (r - l);
        let y = |v: f64| b - v / max_y * (b - t);
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" font-size=\"12\" font-weight=\"bold\">{bench}</text>",
            l,
            oy + 15.0
        );
        let _ = writeln!(
            s,
            "<line x1=\"{l}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"black\"/><line x1=\"{l}\" y1=\"{t}\" x2=\"{l}\" y2=\"{b}\" stroke=\"black\"/>"
        );
        for k in 0..=4 {
            let v = max_y * k as f64 / 4.0;
            let _ = writeln!(
                s,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{v:.0}</text>",
                l - 4.0,
                y(v) + 4.0
            );
        }
        let mut cpus: Vec<usize> = pts.iter().map(|r| r.cpus).collect();
        cpus.sort_unstable();
        cpus.dedup();
        for c in &cpus {
            let _ = writeln!(
                s,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{c}</text>",
                x(*c),
                b + 14.0
            );
        }
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">CPUs (ns per op on the y axis)</text>",
            (l + r) / 2.0,
            b + 30.0
        );
        for (vi, v) in variants.iter().enumerate() {
            let color = COLORS[vi % COLORS.len()];
            let mut line: Vec<(usize, f64)> =
                pts.iter().filter(|r| &r.variant == v).map(|r| (r.cpus, r.ns_per_op)).collect();
            line.sort_by_key(|p| p.0);
            let path: Vec<String> =
                line.iter().map(|&(c, n)| format!("{:.1},{:.1}", x(c), y(n))).collect();
            let _ = writeln!(
                s,
                "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" points=\"{}\"/>",
                path.join(" ")
            );
            for &(c, n) in &line {
                let _ = writeln!(
                    s,
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{color}\"/>",
                    x(c),
                    y(n)
                );
            }
            let _ = writeln!(
                s,
                "<text x=\"{}\" y=\"{}\" fill=\"{color}\">{v}</text>",
                l + 10.0,
                t + 12.0 + vi as f64 * 13.0
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "noise\nBENCH {\"bench\":\"meta\",\"arch\":\"x86_64\",\"cpus\":4}\n\
BENCH {\"bench\":\"rc\",\"variant\":\"frozen\",\"cpus\":1,\"ops_per_cpu\":10,\"cycles_per_op\":20.00,\"ns_per_op\":10.00}\r\n\
BENCH {\"bench\":\"rc\",\"variant\":\"legacy\",\"cpus\":1,\"ops_per_cpu\":10,\"cycles_per_op\":40.00,\"ns_per_op\":20.00}\n\
BENCH {\"bench\":\"rc\",\"variant\":\"frozen\",\"cpus\":4,\"ops_per_cpu\":10,\"cycles_per_op\":80.00,\"ns_per_op\":40.00}\n\
BENCH {\"bench\":\"rc\",\"variant\":\"legacy\",\"cpus\":4,\"ops_per_cpu\":10,\"cycles_per_op\":200.00,\"ns_per_op\":100.00}\n";

    #[test]
    fn parses_meta_and_records() {
        let (meta, recs) = parse_log(LOG);
        assert_eq!(meta.get("cpus").map(String::as_str), Some("4"));
        assert_eq!(recs.len(), 4);
        assert_eq!(recs[3].variant, "legacy");
        assert_eq!(recs[3].ns_per_op, 100.0);
    }

    #[test]
    fn summary_has_ratios_and_scaling() {
        let (meta, recs) = parse_log(LOG);
        let md = summary_markdown(&meta, &recs);
        // frozen/legacy at 1 CPU = 0.50, at 4 CPUs = 0.40; frozen N/1 at 4 = 4.00.
        assert!(md.contains("| 1 | 10.0 | 20.0 | 0.50 | 1.00 | 1.00 |"), "{md}");
        assert!(md.contains("| 4 | 40.0 | 100.0 | 0.40 | 4.00 | 5.00 |"), "{md}");
    }

    #[test]
    fn svg_has_a_line_per_variant() {
        let (meta, recs) = parse_log(LOG);
        let svg = render_svg(&meta, &recs);
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    }
}

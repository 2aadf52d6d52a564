//! Benchmark results: parsing the kernel's `BENCH {json}` lines (serde_json;
//! the prefix and field names are `protocol::bench`'s, which the kernel writes with),
//! the ratio summary, and an SVG plot (plotters, SVG backend). The kernel
//! prints flat JSON objects with string and number values; in a ktest-style
//! run they come as KTAP diagnostics (`    # BENCH {...}`), which is accepted
//! too.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use plotters::prelude::*;
use protocol::bench::{FRAGMENTATION, META, PREFIX, field};

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

/// Parses a flat JSON object, e.g. `{"k":"v","n":1.5}`, into its fields as
/// text (strings without quotes, numbers and booleans as JSON writes them).
/// `None` if it is not a JSON object or a value is an array or object.
pub fn parse_flat_json(s: &str) -> Option<BTreeMap<String, String>> {
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(s.trim()).ok()?;
    map.into_iter()
        .map(|(k, v)| {
            let text = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Null => String::new(),
                _ => return None,
            };
            Some((k, text))
        })
        .collect()
}

/// The JSON after `BENCH `, on a plain line or a KTAP diagnostic line.
fn bench_json(line: &str) -> Option<&str> {
    let line = line.trim_end_matches('\r');
    let body = line.trim_start_matches(' ');
    let body = body
        .strip_prefix(protocol::ktap::DIAGNOSTIC)
        .unwrap_or(if body.len() < line.len() { "" } else { body });
    body.strip_prefix(PREFIX)
}

/// The `meta` fields and the records of a boot log.
pub fn parse_log(log: &str) -> (BTreeMap<String, String>, Vec<Record>) {
    let mut meta = BTreeMap::new();
    let mut records = Vec::new();
    for line in log.lines() {
        let Some(json) = bench_json(line) else { continue };
        let Some(fields) = parse_flat_json(json) else { continue };
        let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
        if get(field::BENCH) == META {
            meta = fields;
            continue;
        }
        let num = |k: &str| fields.get(k).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
        records.push(Record {
            bench: get(field::BENCH),
            variant: get(field::VARIANT),
            cpus: get(field::CPUS).parse().unwrap_or(0),
            ns_per_op: num(field::NS_PER_OP),
            cycles_per_op: num(field::CYCLES_PER_OP),
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
        e(field::CPUS),
        e("accel"),
        e(field::ARCH),
        e("host_cores"),
        e("oversubscribed"),
        e(field::ATOMICS),
        e(field::SCHEME)
    );
    for (bench, variants) in groups(records) {
        if bench == FRAGMENTATION {
            for r in records.iter().filter(|r| r.bench == bench) {
                let share = r.fields.get(field::BIG_BLOCK_SHARE).map(String::as_str).unwrap_or("?");
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

const COLORS: [RGBColor; 4] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0x94, 0x67, 0xbd),
];

/// One SVG with a panel per benchmark: ns per op (y) against CPUs (x), one
/// line per variant.
pub fn render_svg(env: &BTreeMap<String, String>, records: &[Record]) -> String {
    let panels: Vec<(String, Vec<String>)> =
        groups(records).into_iter().filter(|(b, _)| b != FRAGMENTATION).collect();
    let (pw, ph, cols) = (420u32, 300u32, 2usize);
    let rows = panels.len().div_ceil(cols).max(1);
    let size = (pw * cols as u32, ph * rows as u32 + 40);
    let e = |k: &str| env.get(k).map(String::as_str).unwrap_or("?");
    let title = format!(
        "{} vCPUs, {} on {} host cores (oversubscribed: {}), {}",
        e(field::CPUS),
        e("accel"),
        e("host_cores"),
        e("oversubscribed"),
        e(field::ARCH)
    );
    let mut svg = String::new();
    // Drawing into a String cannot fail except on a plotters bug; an empty
    // plot is better than no report then.
    let _ = draw(&mut svg, size, &title, &panels, records, cols);
    svg.push('\n');
    svg
}

fn draw(
    svg: &mut String,
    size: (u32, u32),
    title: &str,
    panels: &[(String, Vec<String>)],
    records: &[Record],
    cols: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let root = SVGBackend::with_string(svg, size).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 13))?;
    let rows = panels.len().div_ceil(cols).max(1);
    let areas = root.split_evenly((rows, cols));
    for ((bench, variants), area) in panels.iter().zip(areas.iter()) {
        let pts: Vec<&Record> =
            records.iter().filter(|r| &r.bench == bench && r.ns_per_op.is_finite()).collect();
        let max_x = pts.iter().map(|r| r.cpus).max().unwrap_or(1).max(2) as f64;
        let max_y = pts.iter().map(|r| r.ns_per_op).fold(0.0, f64::max).max(1e-9) * 1.1;
        let mut chart = ChartBuilder::on(area)
            .caption(bench, ("sans-serif", 12))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(1.0..max_x, 0.0..max_y)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("CPUs")
            .y_desc("ns per op")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .draw()?;
        for (vi, v) in variants.iter().enumerate() {
            let color = COLORS[vi % COLORS.len()];
            let mut line: Vec<(f64, f64)> = pts
                .iter()
                .filter(|r| &r.variant == v)
                .map(|r| (r.cpus as f64, r.ns_per_op))
                .collect();
            line.sort_by(|a, b| a.0.total_cmp(&b.0));
            chart
                .draw_series(LineSeries::new(line.iter().copied(), color.stroke_width(2)))?
                .label(v.as_str())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 15, y)], color));
            chart.draw_series(line.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .draw()?;
    }
    root.present()?;
    Ok(())
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
        // Per variant (its colour): the data line and the legend stroke.
        for colour in ["#1F77B4", "#D62728"] {
            let strokes = svg.lines().filter(|l| l.starts_with("<polyline") && l.contains(colour));
            assert_eq!(strokes.count(), 2, "{colour}: {svg}");
        }
        assert_eq!(svg.matches("<circle").count(), 4, "{svg}");
        assert!(svg.contains("\nfrozen\n</text>") && svg.contains("\nlegacy\n</text>"), "{svg}");
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{svg}");
    }

    #[test]
    fn bench_lines_as_ktap_diagnostics() {
        let log = "    # BENCH {\"bench\":\"rc\",\"variant\":\"frozen\",\"cpus\":2,\"ns_per_op\":7.5}\n  BENCH {\"bench\":\"rc\",\"variant\":\"x\",\"cpus\":2,\"ns_per_op\":7.5}\n";
        let (_, recs) = parse_log(log);
        assert_eq!(recs.len(), 1, "an indented line without `# ` is not a record");
        assert_eq!((recs[0].cpus, recs[0].ns_per_op), (2, 7.5));
        assert_eq!(parse_flat_json("{\"a\":[1]}"), None);
        assert_eq!(parse_flat_json("not json"), None);
    }
}

//! Reading a kernel bench boot: the `BENCH {json}` records of its serial log
//! (prefix and field names from `protocol::bench`, which the kernel writes
//! with), turned into the same [`WorkloadResult`]s a host run gives.
//!
//! The kernel prints flat JSON objects with string and number values; in a
//! ktest-style run they come as KTAP diagnostics (`    # BENCH {...}`), which
//! is accepted too.

use std::collections::BTreeMap;

use protocol::bench::{FRAGMENTATION, META, PREFIX, field};
use serde_json::{Map, Value};
use workloads::Meta;

use crate::harness::Samples;
use crate::report::WorkloadResult;

/// The records of one boot.
#[derive(Debug, Default)]
pub struct Log {
    /// The `meta` record's fields (empty if the boot printed none).
    pub meta: Map<String, Value>,
    /// Every other record, in log order.
    pub records: Vec<Map<String, Value>>,
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

/// The records of a boot log; lines that are not records, or whose JSON is
/// not a flat object, are skipped.
pub fn parse_log(log: &str) -> Log {
    let mut out = Log::default();
    for line in log.lines() {
        let Some(json) = bench_json(line) else { continue };
        let Ok(fields) = serde_json::from_str::<Map<String, Value>>(json.trim()) else {
            continue;
        };
        if fields.values().any(|v| v.is_array() || v.is_object()) {
            continue;
        }
        if fields.get(field::BENCH).and_then(Value::as_str) == Some(META) {
            out.meta = fields;
        } else {
            out.records.push(fields);
        }
    }
    out
}

fn text<'a>(r: &'a Map<String, Value>, k: &str) -> &'a str {
    r.get(k).and_then(Value::as_str).unwrap_or("")
}

fn number(r: &Map<String, Value>, k: &str) -> f64 {
    r.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN)
}

/// The description of workload `name` as far as the log has it: the
/// `workloads` crate's, cut to the variants the log has (in the crate's
/// order, with the ratios between them); for a name the crate does not know
/// (a log from another version), the variants in the order seen and no
/// ratios. Leaked: a report tool builds a handful.
fn meta_for(name: &str, seen: &[String]) -> Meta {
    let leak = |s: &str| -> &'static str { Box::leak(s.to_string().into_boxed_str()) };
    let Some(m) = workloads::METAS.iter().find(|m| m.name == name) else {
        let variants: Vec<&'static str> = seen.iter().map(|v| leak(v)).collect();
        return Meta {
            name: leak(name),
            title: "",
            variants: Box::leak(variants.into_boxed_slice()),
            ratios: &[],
            kernel_ops: 0,
        };
    };
    let kept: Vec<usize> =
        (0..m.variants.len()).filter(|&i| seen.iter().any(|v| v == m.variants[i])).collect();
    let index = |i: usize| kept.iter().position(|&k| k == i);
    let ratios: Vec<(usize, usize)> =
        m.ratios.iter().filter_map(|&(a, b)| Some((index(a)?, index(b)?))).collect();
    let variants: Vec<&'static str> = kept.iter().map(|&i| m.variants[i]).collect();
    Meta {
        variants: Box::leak(variants.into_boxed_slice()),
        ratios: Box::leak(ratios.into_boxed_slice()),
        ..**m
    }
}

impl Log {
    /// Timed records grouped per workload (first-seen order), each a run of
    /// one trial per CPU count. A variant missing at some CPU count (a boot
    /// cut short) leaves that count out.
    pub fn workloads(&self) -> Vec<WorkloadResult> {
        let timed: Vec<&Map<String, Value>> =
            self.records.iter().filter(|r| text(r, field::BENCH) != FRAGMENTATION).collect();
        let mut names: Vec<&str> = Vec::new();
        for r in &timed {
            let n = text(r, field::BENCH);
            if !names.contains(&n) {
                names.push(n);
            }
        }
        let mut out = Vec::new();
        for name in names {
            let mine: Vec<&&Map<String, Value>> =
                timed.iter().filter(|r| text(r, field::BENCH) == name).collect();
            let mut seen: Vec<String> = Vec::new();
            for r in &mine {
                let v = text(r, field::VARIANT).to_string();
                if !seen.contains(&v) {
                    seen.push(v);
                }
            }
            let meta = meta_for(name, &seen);
            let find = |v: &str, cpus: u64| {
                mine.iter().find(|r| {
                    text(r, field::VARIANT) == v
                        && r.get(field::CPUS).and_then(Value::as_u64) == Some(cpus)
                })
            };
            let mut cpus: Vec<u64> =
                mine.iter().filter_map(|r| r.get(field::CPUS).and_then(Value::as_u64)).collect();
            cpus.sort_unstable();
            cpus.dedup();
            cpus.retain(|&n| meta.variants.iter().all(|v| find(v, n).is_some()));
            if cpus.is_empty() {
                continue;
            }
            let per_variant = |f: &dyn Fn(&Map<String, Value>) -> f64| -> Vec<Vec<Vec<f64>>> {
                meta.variants
                    .iter()
                    .map(|v| cpus.iter().map(|&n| vec![f(find(v, n).unwrap())]).collect())
                    .collect()
            };
            let samples = Samples {
                threads: cpus.iter().map(|&n| n as usize).collect(),
                ns: per_variant(&|r| number(r, field::NS_PER_OP)),
                on_cpu: per_variant(&|_| f64::NAN),
                cpu_ns: per_variant(&|_| f64::NAN),
                ops: meta
                    .variants
                    .iter()
                    .map(|v| {
                        cpus.iter()
                            .map(|&n| {
                                let r = find(v, n).unwrap();
                                r.get(field::OPS_PER_CPU).and_then(Value::as_u64).unwrap_or(0) * n
                            })
                            .collect()
                    })
                    .collect(),
            };
            out.push(WorkloadResult::new(&meta, &samples, None));
        }
        out
    }

    /// The fragmentation records, as printed.
    pub fn fragmentation(&self) -> Vec<Value> {
        self.records
            .iter()
            .filter(|r| text(r, field::BENCH) == FRAGMENTATION)
            .map(|r| Value::Object(r.clone()))
            .collect()
    }

    /// The environment: the `meta` record plus what the host adds.
    pub fn environment(&self, extra: &[(&str, Value)]) -> BTreeMap<String, Value> {
        let mut env: BTreeMap<String, Value> =
            self.meta.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        for (k, v) in extra {
            env.insert(k.to_string(), v.clone());
        }
        env
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::KernelRun;

    const LOG: &str = "noise\nBENCH {\"bench\":\"meta\",\"arch\":\"x86_64\",\"cpus\":4}\n\
BENCH {\"bench\":\"refcount_shared\",\"variant\":\"frozen\",\"cpus\":1,\"ops_per_cpu\":10,\"cycles_per_op\":20.00,\"ns_per_op\":10.00}\r\n\
BENCH {\"bench\":\"refcount_shared\",\"variant\":\"legacy\",\"cpus\":1,\"ops_per_cpu\":10,\"cycles_per_op\":40.00,\"ns_per_op\":20.00}\n\
    # BENCH {\"bench\":\"refcount_shared\",\"variant\":\"frozen\",\"cpus\":4,\"ops_per_cpu\":10,\"cycles_per_op\":80.00,\"ns_per_op\":40.00}\n\
BENCH {\"bench\":\"refcount_shared\",\"variant\":\"legacy\",\"cpus\":4,\"ops_per_cpu\":10,\"cycles_per_op\":200.00,\"ns_per_op\":100.00}\n\
BENCH {\"bench\":\"fragmentation\",\"variant\":\"buddy\",\"cpus\":1,\"big_block_share\":99.40}\n";

    #[test]
    fn parses_meta_records_and_ktap_diagnostics() {
        let log = parse_log(LOG);
        assert_eq!(log.meta.get("cpus").and_then(Value::as_u64), Some(4));
        assert_eq!(log.records.len(), 5);
        let stray = parse_log("  BENCH {\"bench\":\"x\"}\nBENCH {\"a\":[1]}\nBENCH not json\n");
        assert!(stray.records.is_empty(), "an indented line without `# `, arrays, non-JSON");
    }

    #[test]
    fn records_become_the_workloads_own_ratios_and_scaling() {
        let w = parse_log(LOG).workloads();
        assert_eq!(w.len(), 1);
        let r = &w[0];
        assert_eq!(r.variants, ["frozen", "legacy"]);
        assert_eq!(r.threads, [1, 4]);
        // refcount_shared's ratio is legacy / frozen: 2.0 at 1 CPU, 2.5 at 4.
        assert_eq!(r.ratio("legacy / frozen", 1).map(|s| s.median), Some(2.0));
        assert_eq!(r.ratio("legacy / frozen", 4).map(|s| s.median), Some(2.5));
        assert_eq!(r.ratio("frozen N/1", 4).map(|s| s.median), Some(4.0));
        assert_eq!(r.stat("legacy", 4).map(|s| s.ops), Some(40));
        let md = crate::report::markdown_table(r);
        assert!(md.contains("| 4 | 40.0 | 100.0 | 2.50 | 4.00 | 5.00 |"), "{md}");
    }

    #[test]
    fn a_boot_cut_short_keeps_the_complete_rows() {
        let cut: String = LOG.lines().take(5).collect::<Vec<_>>().join("\n");
        let w = parse_log(&cut).workloads();
        assert_eq!(w[0].threads, [1], "4 CPUs has frozen only");
    }

    #[test]
    fn kernel_run_summary_and_plot() {
        let log = parse_log(LOG);
        let run = KernelRun {
            environment: log.environment(&[("accel", Value::from("tcg"))]),
            workloads: log.workloads(),
            fragmentation: log.fragmentation(),
        };
        let md = run.markdown();
        assert!(md.contains("4 vCPUs (tcg accelerator, x86_64"), "{md}");
        assert!(md.contains("99.4% of free memory"), "{md}");
        let svg = crate::report::svg(&run.workloads).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{svg}");
        // Two points per variant, two variants.
        assert_eq!(svg.matches("<circle").count(), 4, "{svg}");
    }
}

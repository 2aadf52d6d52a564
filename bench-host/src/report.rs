//! Results, for both drivers: per-workload summaries and tables, the goals a
//! host run is judged against (the claims docs/benchmarks.md tests), and the
//! files (JSON, CSV, markdown, SVG).
//!
//! A host run has several trials per figure (medians, interquartile ranges,
//! per-trial ratios); a kernel bench boot has one sample per figure, which
//! is a run of one trial here, so both come out in the same tables and plots.

use crate::harness::{Samples, Summary, ratio, summarize};
use crate::machine::{Load, Machine};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use workloads::Meta;

/// One variant at one thread count.
#[derive(Clone, Debug, Serialize)]
pub struct VariantStat {
    /// The variant's name (the workload's `Meta::variants`).
    pub variant: String,
    /// Threads (host) or CPUs (kernel) that ran it at once.
    pub threads: usize,
    /// ns per op per thread over the trials.
    pub ns: Summary,
    /// Every trial's figure, in trial order.
    pub trials: Vec<f64>,
    /// Ops over all trials and threads.
    pub ops: u64,
    /// Share of the trial the threads were on a CPU (1.0: undisturbed).
    pub on_cpu: Summary,
    /// ns of thread CPU time per op (see `harness::RunResult::cpu_ns`).
    pub cpu_ns: Summary,
}

/// A ratio of costs at one thread count: median of per-trial ratios + IQR.
#[derive(Clone, Debug, Serialize)]
pub struct RatioStat {
    /// E.g. "legacy / frozen" or "pcp N/1".
    pub name: String,
    /// Threads or CPUs at which both costs were measured.
    pub threads: usize,
    /// The ratio's median and quartiles over trials.
    pub ratio: Summary,
}

/// Everything measured for one workload.
#[derive(Clone, Debug, Serialize)]
pub struct WorkloadResult {
    /// The workload's short name (`Meta::name`).
    pub name: String,
    /// What one op is.
    pub title: String,
    /// Variant names, in table order.
    pub variants: Vec<String>,
    /// Thread or CPU counts measured, ascending.
    pub threads: Vec<usize>,
    /// The machine's load while this workload ran (host runs; a kernel boot
    /// cannot see its host's load).
    pub load: Option<Load>,
    /// Every variant at every thread count.
    pub stats: Vec<VariantStat>,
    /// The workload's comparisons, per thread count.
    pub ratios: Vec<RatioStat>,
    /// Each variant's cost at N threads over its cost at the first thread
    /// count (per trial), named "VARIANT N/1".
    pub scaling: Vec<RatioStat>,
    /// The same from the threads' CPU time per op (`cpu_ns`), named
    /// "VARIANT N/1 cpu": what scaling costs while the threads actually run,
    /// with the time other load took away removed (on a loaded machine the
    /// threads then seldom run at the same time, so contention shows less).
    pub cpu_scaling: Vec<RatioStat>,
}

impl WorkloadResult {
    /// Summarises `s`, the samples of the workload `meta` describes.
    pub fn new(meta: &Meta, s: &Samples, load: Option<Load>) -> Self {
        let variants: Vec<String> = meta.variants.iter().map(|v| v.to_string()).collect();
        let mut stats = Vec::new();
        let mut ratios = Vec::new();
        let mut scaling = Vec::new();
        let mut cpu_scaling = Vec::new();
        for (ti, &n) in s.threads.iter().enumerate() {
            for (v, name) in variants.iter().enumerate() {
                stats.push(VariantStat {
                    variant: name.clone(),
                    threads: n,
                    ns: summarize(&s.ns[v][ti]),
                    trials: s.ns[v][ti].clone(),
                    ops: s.ops[v][ti],
                    on_cpu: summarize(&s.on_cpu[v][ti]),
                    cpu_ns: summarize(&s.cpu_ns[v][ti]),
                });
                scaling.push(RatioStat {
                    name: format!("{name} N/{}", s.threads[0]),
                    threads: n,
                    ratio: ratio(&s.ns[v][ti], &s.ns[v][0]),
                });
                cpu_scaling.push(RatioStat {
                    name: format!("{name} N/{} cpu", s.threads[0]),
                    threads: n,
                    ratio: ratio(&s.cpu_ns[v][ti], &s.cpu_ns[v][0]),
                });
            }
            for &(a, b) in meta.ratios {
                ratios.push(RatioStat {
                    name: format!("{} / {}", variants[a], variants[b]),
                    threads: n,
                    ratio: ratio(&s.ns[a][ti], &s.ns[b][ti]),
                });
            }
        }
        WorkloadResult {
            name: meta.name.into(),
            title: meta.title.into(),
            variants,
            threads: s.threads.clone(),
            load,
            stats,
            ratios,
            scaling,
            cpu_scaling,
        }
    }

    /// The figures of `variant` at `threads`, if measured.
    pub fn stat(&self, variant: &str, threads: usize) -> Option<&VariantStat> {
        self.stats.iter().find(|s| s.variant == variant && s.threads == threads)
    }

    /// The ratio named `name` (a comparison or a scaling) at `threads`.
    pub fn ratio(&self, name: &str, threads: usize) -> Option<Summary> {
        self.ratios
            .iter()
            .chain(&self.scaling)
            .chain(&self.cpu_scaling)
            .find(|r| r.name == name && r.threads == threads)
            .map(|r| r.ratio)
    }
}

/// One goal and whether this run met it (`None`: not measured).
#[derive(Clone, Debug, Serialize)]
pub struct Goal {
    /// The claim, in words.
    pub goal: String,
    /// What this run measured for it.
    pub measured: String,
    /// Whether the claim held (`None`: not measured).
    pub met: Option<bool>,
}

/// The whole run.
#[derive(Debug, Serialize)]
pub struct Run {
    /// What the figures were measured on.
    pub machine: Machine,
    /// The machine's load over the whole run.
    pub load: Load,
    /// Thread counts measured.
    pub threads: Vec<usize>,
    /// Trials per figure.
    pub trials: usize,
    /// Length of one run, ms.
    pub trial_ms: u64,
    /// Wall time of the whole run, s.
    pub wall_s: f64,
    /// The goals, judged.
    pub goals: Vec<Goal>,
    /// Every workload's results.
    pub workloads: Vec<WorkloadResult>,
}

/// `median (q1-q3)`, or the value alone when there was one trial.
fn fmt_summary(s: &Summary, digits: usize) -> String {
    if s.q1 == s.q3 {
        return format!("{:.d$}", s.median, d = digits);
    }
    format!("{:.d$} ({:.d$}-{:.d$})", s.median, s.q1, s.q3, d = digits)
}

/// Checks `pred` on the ratio `name` of workload `w` at each of `threads`.
fn ratio_goal(
    rs: &[WorkloadResult],
    goal: &str,
    w: &str,
    name: &str,
    threads: &[usize],
    pred: impl Fn(f64) -> bool,
) -> Goal {
    let Some(r) = rs.iter().find(|r| r.name == w) else {
        return Goal { goal: goal.into(), measured: "not measured".into(), met: None };
    };
    let found: Vec<(usize, Summary)> =
        threads.iter().filter_map(|&n| r.ratio(name, n).map(|s| (n, s))).collect();
    if found.is_empty() {
        return Goal { goal: goal.into(), measured: "not measured".into(), met: None };
    }
    let measured = found
        .iter()
        .map(|(n, s)| format!("{n} thr: {}", fmt_summary(s, 2)))
        .collect::<Vec<_>>()
        .join("; ");
    Goal { goal: goal.into(), measured, met: Some(found.iter().all(|(_, s)| pred(s.median))) }
}

/// The goals (medians; this run): the frozen bit's gain on a shared page and
/// its cost on an own page, per-CPU lists that scale, the per-CPU path
/// against the zone lock and the peer, and the price of the frozen put.
/// docs/benchmarks.md reads each against a run.
pub fn goals(rs: &[WorkloadResult]) -> Vec<Goal> {
    let all: Vec<usize> = rs.first().map(|r| r.threads.clone()).unwrap_or_default();
    let mut g = vec![
        ratio_goal(
            rs,
            "shared page: legacy / frozen-mid (the default) >= 1.3 at 2 threads",
            "refcount_shared",
            "legacy / frozen-mid",
            &[2],
            |x| x >= 1.3,
        ),
        ratio_goal(
            rs,
            "own page: legacy / frozen-mid within 0.95-1.05 at every thread count",
            "refcount_own",
            "legacy / frozen-mid",
            &all,
            |x| (0.95..=1.05).contains(&x),
        ),
        ratio_goal(
            rs,
            "order-0 per-CPU alloc+free: cost at 2 threads / 1 thread <= 1.15",
            "alloc_order0",
            "pcp N/1",
            &[2],
            |x| x <= 1.15,
        ),
        ratio_goal(
            rs,
            "(the same from on-CPU time per pair: contention shows only while both threads run)",
            "alloc_order0",
            "pcp N/1 cpu",
            &[2],
            |x| x <= 1.15,
        ),
    ];
    let pcp1 = rs.iter().find(|r| r.name == "alloc_order0").and_then(|r| r.stat("pcp", 1));
    g.push(Goal {
        goal: "order-0 per-CPU alloc+free: <= 30 ns per pair at 1 thread".into(),
        measured: pcp1.map_or("not measured".into(), |s| format!("{} ns", fmt_summary(&s.ns, 1))),
        met: pcp1.map(|s| s.ns.median <= 30.0),
    });
    g.push(ratio_goal(
        rs,
        "order-0: zone lock / per-CPU >= 3 at every thread count",
        "alloc_order0",
        "zone / pcp",
        &all,
        |x| x >= 3.0,
    ));
    g.push(ratio_goal(
        rs,
        "mixed orders 0-3: peer / this (per-CPU lists) >= 1 at every thread count",
        "alloc_mixed",
        "peer / pcp",
        &all,
        |x| x >= 1.0,
    ));
    g.push(ratio_goal(
        rs,
        "mixed orders 0-3: peer / this (zone lock only) >= 1 at every thread count",
        "alloc_mixed",
        "peer / zone",
        &all,
        |x| x >= 1.0,
    ));
    g.push(ratio_goal(
        rs,
        "alloc + final put: frozen-mid (the default) / legacy <= 1.05 at every thread count",
        "alloc_put",
        "frozen-mid / legacy",
        &all,
        |x| x <= 1.05,
    ));
    g.push(ratio_goal(
        rs,
        "shared page: the default's layout costs no more than the series' (frozen-mid / frozen <= 1.05) at every thread count",
        "refcount_shared",
        "frozen-mid / frozen",
        &all,
        |x| x <= 1.05,
    ));
    g
}

/// One workload as a markdown table: medians (IQR) per variant, the ratios,
/// and each variant's scaling.
pub fn markdown_table(r: &WorkloadResult) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "\n### {}: {}\n", r.name, r.title);
    let ratio_names: Vec<&str> =
        r.ratios.iter().filter(|x| x.threads == r.threads[0]).map(|x| x.name.as_str()).collect();
    let scale_names: Vec<&str> =
        r.scaling.iter().filter(|x| x.threads == r.threads[0]).map(|x| x.name.as_str()).collect();
    let mut head = String::from("| threads |");
    let mut rule = String::from("|---:|");
    for v in &r.variants {
        let _ = write!(head, " {v} ns |");
        rule.push_str("---:|");
    }
    for n in ratio_names.iter().chain(&scale_names) {
        let _ = write!(head, " {n} |");
        rule.push_str("---:|");
    }
    if r.load.is_some() {
        head.push_str(" on-CPU |");
        rule.push_str("---:|");
    }
    let _ = writeln!(s, "{head}\n{rule}");
    for &n in &r.threads {
        let mut row = format!("| {n} |");
        for v in &r.variants {
            let st = r.stat(v, n).expect("every variant measured");
            let _ = write!(row, " {} |", fmt_summary(&st.ns, 1));
        }
        for name in ratio_names.iter().chain(&scale_names) {
            let x = r.ratio(name, n).expect("every ratio computed");
            let _ = write!(row, " {} |", fmt_summary(&x, 2));
        }
        if r.load.is_some() {
            let on_cpu = r
                .stats
                .iter()
                .filter(|st| st.threads == n)
                .map(|st| st.on_cpu.median)
                .fold(f64::INFINITY, f64::min);
            let _ = write!(row, " {:.0}% |", on_cpu * 100.0);
        }
        let _ = writeln!(s, "{row}");
    }
    if let Some(load) = &r.load {
        let _ = writeln!(
            s,
            "\nMedians over trials, (interquartile range); ratios are medians of per-trial ratios; on-CPU: the lowest median over variants of the share of a trial the threads held a CPU. Other load while this ran: {:.2} CPUs busy on average; loadavg {:.2} -> {:.2}.",
            load.other_cpus_busy, load.loadavg_before[0], load.loadavg_after[0]
        );
    }
    s
}

/// The markdown summary of a run.
pub fn markdown(run: &Run) -> String {
    let m = &run.machine;
    let mut s = String::from("# make bench-host\n\n");
    let _ = writeln!(
        s,
        "Machine: {} ({} logical CPUs, {} physical cores{}), {}, {}; {}; tree {}.",
        m.cpu_model,
        m.logical_cpus,
        m.physical_cores,
        if m.virtual_machine { ", virtual machine" } else { "" },
        m.os,
        m.kernel,
        m.rustc,
        m.commit
    );
    let _ = writeln!(
        s,
        "\nMethod: threads {:?}; {} alternating trials of {} ms per variant and thread count; {:.0} s in all.",
        run.threads, run.trials, run.trial_ms, run.wall_s
    );
    let l = &run.load;
    let _ = writeln!(
        s,
        "\nLoad: /proc/loadavg {:.2} {:.2} {:.2} before, {:.2} {:.2} {:.2} after; other work kept {:.2} CPUs busy on average: {}.",
        l.loadavg_before[0],
        l.loadavg_before[1],
        l.loadavg_before[2],
        l.loadavg_after[0],
        l.loadavg_after[1],
        l.loadavg_after[2],
        l.other_cpus_busy,
        if l.other_load { "the machine was NOT quiet, other load was present" } else { "quiet" }
    );
    let _ = writeln!(s, "\n## Goals\n\n| goal | measured: median (IQR) | met |\n|---|---|---|");
    for g in &run.goals {
        let met = match g.met {
            Some(true) => "yes",
            Some(false) => "NO",
            None => "-",
        };
        let _ = writeln!(s, "| {} | {} | {met} |", g.goal, g.measured);
    }
    s.push_str("\n## Results\n");
    for r in &run.workloads {
        s.push_str(&markdown_table(r));
    }
    s
}

fn csv(workloads: &[WorkloadResult]) -> (String, String) {
    let mut results =
        String::from("workload,threads,variant,median_ns,q1_ns,q3_ns,trials,ops,on_cpu,cpu_ns\n");
    let mut ratios = String::from("workload,threads,ratio,median,q1,q3\n");
    for r in workloads {
        for st in &r.stats {
            let _ = writeln!(
                results,
                "{},{},{},{:.3},{:.3},{:.3},{},{},{:.3},{:.3}",
                r.name,
                st.threads,
                st.variant,
                st.ns.median,
                st.ns.q1,
                st.ns.q3,
                st.trials.len(),
                st.ops,
                st.on_cpu.median,
                st.cpu_ns.median
            );
        }
        for x in r.ratios.iter().chain(&r.scaling).chain(&r.cpu_scaling) {
            let _ = writeln!(
                ratios,
                "{},{},{},{:.4},{:.4},{:.4}",
                r.name, x.threads, x.name, x.ratio.median, x.ratio.q1, x.ratio.q3
            );
        }
    }
    (results, ratios)
}

/// One SVG with a panel per workload: ns per op (median, with the
/// interquartile range as a bar) against threads or CPUs, a line per variant.
pub fn svg(workloads: &[WorkloadResult]) -> Result<String, Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    let mut out = String::new();
    let cols = 2;
    let rows = workloads.len().div_ceil(cols).max(1);
    let root = SVGBackend::with_string(&mut out, (1200, 340 * rows as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let max_n = workloads.iter().flat_map(|r| r.threads.iter().copied()).max().unwrap_or(1) as f64;
    let threads: Vec<usize> = workloads.first().map(|r| r.threads.clone()).unwrap_or_default();
    for (area, r) in root.split_evenly((rows, cols)).iter().zip(workloads) {
        let ymax = r.stats.iter().map(|s| s.ns.q3).fold(0.0, f64::max) * 1.15;
        let mut chart = ChartBuilder::on(area)
            .caption(format!("{} (ns per op per thread)", r.name), ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(50)
            .build_cartesian_2d(0.5f64..max_n + 0.5, 0f64..ymax.max(1.0))?;
        chart
            .configure_mesh()
            .x_desc("threads")
            .y_desc("ns")
            .x_labels(threads.len().max(2))
            .draw()?;
        for (i, v) in r.variants.iter().enumerate() {
            let color = Palette99::pick(i).to_rgba();
            let pts: Vec<(f64, f64)> = r
                .threads
                .iter()
                .filter_map(|&n| r.stat(v, n).map(|s| (n as f64, s.ns.median)))
                .collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))?
                .label(v.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
            // The interquartile range as a vertical bar at each point.
            chart.draw_series(r.threads.iter().filter_map(|&n| {
                r.stat(v, n).map(|s| {
                    PathElement::new(vec![(n as f64, s.ns.q1), (n as f64, s.ns.q3)], color)
                })
            }))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
    }
    root.present()?;
    drop(root);
    out.push('\n');
    Ok(out)
}

/// Writes `results.json` (`doc`), `results.csv`, `ratios.csv`, `summary.md`
/// and `bench.svg` into `dir`, which is created if needed.
///
/// # Errors
///
/// The first file that could not be written, or a plot that could not be
/// drawn.
pub fn write_files(
    dir: &Path,
    doc: &impl Serialize,
    summary: &str,
    workloads: &[WorkloadResult],
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let json = serde_json::to_string_pretty(doc).map_err(std::io::Error::other)?;
    std::fs::write(dir.join("results.json"), json + "\n")?;
    let (results, ratios) = csv(workloads);
    std::fs::write(dir.join("results.csv"), results)?;
    std::fs::write(dir.join("ratios.csv"), ratios)?;
    std::fs::write(dir.join("summary.md"), summary)?;
    let plot = svg(workloads).map_err(|e| std::io::Error::other(e.to_string()))?;
    std::fs::write(dir.join("bench.svg"), plot)
}

/// Writes a host run's files (see [`write_files`]).
///
/// # Errors
///
/// As [`write_files`].
pub fn write_all(run: &Run, dir: &Path) -> std::io::Result<()> {
    write_files(dir, run, &markdown(run), &run.workloads)
}

/// A kernel bench boot: what its `meta` record says (plus the host's view:
/// accelerator, host cores, oversubscription), its workloads, and its
/// fragmentation records as printed.
#[derive(Debug, Serialize)]
pub struct KernelRun {
    /// The `meta` record and the host's additions.
    pub environment: BTreeMap<String, serde_json::Value>,
    /// Every timed workload of the boot.
    pub workloads: Vec<WorkloadResult>,
    /// The fragmentation records as the kernel printed them.
    pub fragmentation: Vec<serde_json::Value>,
}

impl KernelRun {
    /// The markdown summary: the environment, then a table per workload.
    pub fn markdown(&self) -> String {
        let e = |k: &str| self.environment.get(k).map_or("?".into(), json_text);
        let mut s = String::from("# make bench (in-kernel)\n\n");
        let _ = writeln!(
            s,
            "{} vCPUs ({} accelerator, {}, guest CPU: {}) on {} host cores; oversubscribed: {}; atomics: {}; allocator built with the {} refcount. One sample per figure; under TCG only ratios mean anything.",
            e(protocol::bench::field::CPUS),
            e("accel"),
            e(protocol::bench::field::ARCH),
            e(protocol::bench::field::CPU_MODEL),
            e("host_cores"),
            e("oversubscribed"),
            e(protocol::bench::field::ATOMICS),
            e(protocol::bench::field::SCHEME)
        );
        for r in &self.workloads {
            s.push_str(&markdown_table(r));
        }
        for f in &self.fragmentation {
            let share =
                f.get(protocol::bench::field::BIG_BLOCK_SHARE).map_or("?".into(), json_text);
            let _ = writeln!(
                s,
                "\n### fragmentation\n\n{share}% of free memory in order-9/10 blocks after the churn."
            );
        }
        s
    }

    /// Writes the boot's files (see [`write_files`]).
    ///
    /// # Errors
    ///
    /// As [`write_files`].
    pub fn write_all(&self, dir: &Path) -> std::io::Result<()> {
        write_files(dir, self, &self.markdown(), &self.workloads)
    }
}

/// A JSON value as text: strings without their quotes.
fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

//! What the numbers were measured on: CPU, cores, OS, kernel, and how much
//! other load the machine carried (from `/proc`; Linux only, empty elsewhere).

use serde::Serialize;
use std::fs;
use std::process::Command;

/// The machine description written next to the results.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    /// `model name` of /proc/cpuinfo ("unknown" if absent).
    pub cpu_model: String,
    /// Logical CPUs the process may run on.
    pub logical_cpus: usize,
    /// Distinct (package, core) pairs in /proc/cpuinfo (0 if unknown).
    pub physical_cores: usize,
    /// The CPU reports the `hypervisor` flag (a virtual machine).
    pub virtual_machine: bool,
    /// /etc/os-release `PRETTY_NAME`.
    pub os: String,
    /// The running kernel: type and release.
    pub kernel: String,
    /// `rustc --version` (empty if it could not run).
    pub rustc: String,
    /// `git describe --always --dirty` of the tree that was measured.
    pub commit: String,
}

fn read(path: &str) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

fn command(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

impl Machine {
    /// Describes this machine (reads /proc and runs `rustc` and `git`).
    pub fn describe() -> Self {
        let cpuinfo = read("/proc/cpuinfo");
        let field = |line: &str, key: &str| {
            line.split_once(':').filter(|(k, _)| k.trim() == key).map(|(_, v)| v.trim().to_string())
        };
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| field(l, "model name"))
            .unwrap_or_else(|| "unknown".into());
        let mut cores = std::collections::BTreeSet::new();
        let mut package = String::new();
        for line in cpuinfo.lines() {
            if let Some(p) = field(line, "physical id") {
                package = p;
            }
            if let Some(c) = field(line, "core id") {
                cores.insert((package.clone(), c));
            }
        }
        let os = read("/etc/os-release")
            .lines()
            .find_map(|l| l.strip_prefix("PRETTY_NAME="))
            .map(|v| v.trim_matches('"').to_string())
            .unwrap_or_else(|| std::env::consts::OS.into());
        Machine {
            cpu_model,
            logical_cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            physical_cores: cores.len(),
            virtual_machine: cpuinfo.lines().any(|l| {
                field(l, "flags").is_some_and(|f| f.split(' ').any(|x| x == "hypervisor"))
            }),
            os,
            kernel: format!(
                "{} {}",
                read("/proc/sys/kernel/ostype").trim(),
                read("/proc/sys/kernel/osrelease").trim()
            ),
            rustc: command("rustc", &["--version"]),
            commit: command("git", &["describe", "--always", "--dirty"]),
        }
    }
}

/// A snapshot of the machine's load.
#[derive(Clone, Copy, Debug)]
pub struct LoadSnapshot {
    /// /proc/loadavg: 1, 5, 15 minutes.
    pub loadavg: [f64; 3],
    /// /proc/stat "cpu" line: busy and total ticks, all CPUs together.
    busy: u64,
    total: u64,
    /// This process's user + system ticks (/proc/self/stat).
    own: u64,
}

impl LoadSnapshot {
    /// The counters now.
    pub fn now() -> Self {
        let la = read("/proc/loadavg");
        let mut loadavg = [f64::NAN; 3];
        for (slot, v) in loadavg.iter_mut().zip(la.split_whitespace()) {
            *slot = v.parse().unwrap_or(f64::NAN);
        }
        let stat = read("/proc/stat");
        let ticks: Vec<u64> = stat
            .lines()
            .next()
            .unwrap_or("")
            .split_whitespace()
            .skip(1)
            .filter_map(|x| x.parse().ok())
            .collect();
        let total: u64 = ticks.iter().take(8).sum();
        // idle + iowait are not busy.
        let busy = total.saturating_sub(
            ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0),
        );
        let me = read("/proc/self/stat");
        // Fields after the ")" that ends the command name, by position (proc(5):
        // state is field 3, utime field 14, stime field 15). Not filtered by
        // what parses: state is a letter and tpgid is -1 without a terminal,
        // and dropping them would shift utime/stime onto other fields.
        let after: Vec<&str> = me
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        let field = |i: usize| after.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
        let own = field(11) + field(12);
        LoadSnapshot { loadavg, busy, total, own }
    }
}

/// The load between two snapshots.
#[derive(Clone, Debug, Serialize)]
pub struct Load {
    /// /proc/loadavg (1, 5, 15 minutes) at the start.
    pub loadavg_before: [f64; 3],
    /// /proc/loadavg at the end.
    pub loadavg_after: [f64; 3],
    /// CPUs kept busy by everything except this benchmark, on average over
    /// the interval (from /proc/stat minus this process's own CPU time).
    pub other_cpus_busy: f64,
    /// Whether other load was present: more than a tenth of a CPU busy with
    /// other work on average over the run. (The load averages are reported
    /// but not judged: they lag by minutes and count a run just before this
    /// one, e.g. the previous workload of the same benchmark.)
    pub other_load: bool,
}

impl Load {
    /// The load between snapshots `a` and `b` on a machine of `cpus` CPUs.
    pub fn between(a: &LoadSnapshot, b: &LoadSnapshot, cpus: usize) -> Self {
        let total = b.total.saturating_sub(a.total).max(1) as f64;
        let others =
            b.busy.saturating_sub(a.busy).saturating_sub(b.own.saturating_sub(a.own)) as f64;
        let other_cpus_busy = others / total * cpus as f64;
        Load {
            loadavg_before: a.loadavg,
            loadavg_after: b.loadavg,
            other_cpus_busy,
            other_load: other_cpus_busy > 0.1,
        }
    }
}

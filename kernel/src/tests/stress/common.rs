//! Shared pieces of the stress suites: the seed, per-CPU random streams,
//! per-CPU operation counts, the slot table, and the before/after memory
//! snapshot every suite ends with.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use mm::{BuddyInfo, MAX_ORDER, Page};
use protocol::cmdline::key;

use crate::ktest::TestResult;
use crate::mm::{MEMMAP, zone};
use crate::{arch, bootinfo, heap, kassert_eq, smp};

/// Refcount operations done by the stress suites since boot (all suites,
/// all CPUs), printed with each report so a run shows how much refcount
/// traffic its races were exercised with.
static REFOPS_TOTAL: AtomicU64 = AtomicU64::new(0);

pub fn refops_total() -> u64 {
    REFOPS_TOTAL.load(Ordering::Relaxed)
}

/// Diagnostics off (the shell's `stress` loop prints its own progress).
static QUIET: AtomicBool = AtomicBool::new(false);
static LAST_SEED: AtomicU64 = AtomicU64::new(0);

pub fn quiet() -> bool {
    QUIET.load(Ordering::Relaxed)
}

pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// The seed of the most recent suite run.
pub fn last_seed() -> u64 {
    LAST_SEED.load(Ordering::Relaxed)
}

/// The seed of this suite run: `stress.seed=N` from the command line, else
/// the cycle counter. Printed so a failing run can be replayed (the per-CPU
/// random streams are reproducible; the interleaving of course is not).
pub fn seed() -> u64 {
    let seed = option(key::STRESS_SEED).and_then(|s| s.parse().ok());
    let seed = seed.unwrap_or_else(arch::read_cycles);
    LAST_SEED.store(seed, Ordering::Relaxed);
    diag!("seed {seed} (replay with stress.seed={seed}), {} CPUs", smp::nr_online());
    seed
}

/// Multiplier of every suite's amount of work: `stress.scale=N` (default 1)
/// for longer soak runs.
pub fn scale() -> usize {
    option(key::STRESS_SCALE).and_then(|s| s.parse().ok()).filter(|&n| n > 0).unwrap_or(1)
}

/// `key=value` from the boot command line.
pub fn option(key: &str) -> Option<&'static str> {
    crate::cmdline::CmdLine::parse(bootinfo::get().cmdline).get(key)
}

/// The PRNG (splitmix64; `Rng::stream(seed, cpu)`: one stream per CPU) and
/// its finaliser `mix`, also used to derive page patterns from a token.
pub use mm::rand::{Rng, mix};

/// Now and then a short random pause, between the steps of a lockless
/// protocol: widens the race windows the way an interrupt or a descheduled
/// vCPU would, so that a missing step (say, the slot reload) shows up.
///
/// (Not `spin_loop`: under TCG a `pause` ends the translation block and
/// costs far more than the pause itself.)
pub fn jitter(rng: &mut Rng) {
    if rng.one_in(8) {
        for k in 0..rng.below(256) {
            core::hint::black_box(k);
        }
    }
}

/// Per-CPU counters of one suite run: `N` named columns, one row per CPU.
/// Workers add their local counts once at the end; the caller reports.
pub struct Tally<const N: usize> {
    names: [&'static str; N],
    rows: Vec<[AtomicU64; N]>,
    start: u64,
}

impl<const N: usize> Tally<N> {
    pub fn new(names: [&'static str; N]) -> Self {
        let rows = (0..smp::nr_possible()).map(|_| [const { AtomicU64::new(0) }; N]).collect();
        Self { names, rows, start: arch::read_cycles() }
    }

    /// Relaxed: read after `on_each_cpu` returns, which orders it.
    pub fn add(&self, cpu: usize, values: [u64; N]) {
        for (c, v) in self.rows[cpu].iter().zip(values) {
            c.fetch_add(v, Ordering::Relaxed);
        }
    }

    /// Column `name` summed over CPUs.
    pub fn total(&self, name: &str) -> u64 {
        let k = self.names.iter().position(|n| *n == name).expect("no such column");
        self.rows.iter().map(|r| r[k].load(Ordering::Relaxed)).sum()
    }

    /// One diagnostic line per online CPU, then the totals and the time
    /// since [`Tally::new`]. The `refops` column (refcount operations), if
    /// any, is also added to the boot total.
    pub fn report(&self) {
        for c in smp::online_cpus() {
            diag!(
                "cpu{}: {}",
                c.index,
                self.line(|k| self.rows[c.index][k].load(Ordering::Relaxed))
            );
        }
        let ms = (arch::read_cycles() - self.start) / arch::cycles_per_us() / 1000;
        diag!("total: {} in {ms} ms", self.line(|k| self.total(self.names[k])));
        if self.names.contains(&"refops") {
            let n = self.total("refops");
            let boot = REFOPS_TOTAL.fetch_add(n, Ordering::Relaxed) + n;
            diag!("refcount ops by the stress suites so far this boot: {boot}");
        }
    }

    fn line(&self, value: impl Fn(usize) -> u64) -> alloc::string::String {
        let mut s = alloc::string::String::new();
        for (k, name) in self.names.iter().enumerate() {
            s += &alloc::format!("{}{name}={}", if k == 0 { "" } else { " " }, value(k));
        }
        s
    }
}

/// `pfn`'s descriptor; only called with pfns the zone handed out.
pub fn page_of(pfn: usize) -> &'static Page {
    MEMMAP.pfn_to_page(pfn).expect("stress: pfn without descriptor")
}

/// A table of "cache slots": each holds `pfn + 1` of a page, or 0 when
/// empty; in most suites the slot owns one reference to its page. Installs
/// and removals are CAS so racing writers never lose a page.
pub struct Slots(Vec<AtomicUsize>);

impl Slots {
    pub fn new(n: usize) -> Self {
        Self((0..n).map(|_| AtomicUsize::new(0)).collect())
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The pfn in slot `i`. Acquire: pairs with the Release of the CAS that
    /// installed it, so the page's stamp written before the install is seen.
    pub fn get(&self, i: usize) -> Option<usize> {
        self.0[i].load(Ordering::Acquire).checked_sub(1)
    }

    /// Replaces `old` by `new` (None = empty) if the slot still holds `old`.
    /// AcqRel: Release publishes the new page's contents to readers; Acquire
    /// orders the caller's later put of `old` after the readers' view.
    pub fn replace(&self, i: usize, old: Option<usize>, new: Option<usize>) -> bool {
        let enc = |p: Option<usize>| p.map_or(0, |p| p + 1);
        self.0[i].compare_exchange(enc(old), enc(new), Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// Empties slot `i`, returning what it held (teardown).
    pub fn take(&self, i: usize) -> Option<usize> {
        self.0[i].swap(0, Ordering::AcqRel).checked_sub(1)
    }
}

/// Free memory before a suite, compared with after it: every page the suite
/// took must be back and merged exactly as before (same buddyinfo), and no
/// bad-page report may have happened.
pub struct Snapshot {
    free: usize,
    buddy: BuddyInfo,
    bad: usize,
    arenas: usize,
}

impl Snapshot {
    /// Take it after the suite's own heap allocations (tables, counters), so
    /// they do not count as leaks.
    pub fn take() -> Self {
        drain_all_pages();
        let z = zone();
        Self {
            free: z.nr_free_pages(),
            buddy: z.buddyinfo(),
            bad: z.bad_page_count(),
            arenas: heap::stats().arenas,
        }
    }

    pub fn check(&self) -> TestResult {
        drain_all_pages();
        let z = zone();
        kassert_eq!(z.bad_page_count(), self.bad);
        // The heap grows by whole max-order blocks taken for good; a suite
        // that made it grow (only through the logger or a failure message)
        // is charged for them rather than failed.
        let grown = (heap::stats().arenas - self.arenas) << MAX_ORDER;
        kassert_eq!(z.nr_free_pages() + grown, self.free);
        if grown == 0 {
            kassert_eq!(z.buddyinfo(), self.buddy);
        } else {
            diag!("heap grew by {grown} pages during the suite; buddyinfo not compared");
        }
        Ok(())
    }
}

/// Empties every CPU's per-CPU page lists into the buddy free lists so free
/// counts and buddyinfo are exact (the suites' workers are done by then).
pub fn drain_all_pages() {
    crate::mm::drain_all_pages();
}

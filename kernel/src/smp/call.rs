//! Running a closure on other CPUs ("smp_call_function").
//!
//! The caller posts a pointer to a [`Job`] on its own stack into each target
//! CPU's [`CallSlot`], wakes the targets, runs the job itself if it is a
//! target, and waits until every target has finished. Targets clear their
//! slot before they report completion, so nothing touches the job after the
//! caller returns. One call at a time (a lock), which tests and benchmarks
//! are happy with.

use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use spin::Mutex;

use super::{CPUS, Cpu, this_cpu};
use crate::arch;

struct Job<'a> {
    f: &'a (dyn Fn(usize) + Sync),
    remaining: AtomicUsize,
}

pub(super) struct CallSlot {
    /// Type-erased `*const Job`; null when idle.
    job: AtomicPtr<()>,
}

impl CallSlot {
    pub(super) const fn new() -> Self {
        Self { job: AtomicPtr::new(ptr::null_mut()) }
    }
}

static CALL_LOCK: Mutex<()> = Mutex::new(());

/// Runs `f(cpu_index)` on every online CPU (this one included) and waits.
pub fn on_each_cpu(f: &(dyn Fn(usize) + Sync)) {
    on_cpus(&mut super::online_cpus().map(|c| c.index), f)
}

/// Runs `f(cpu_index)` on each listed online CPU (this one included if
/// listed) and waits for all of them.
pub fn on_cpus(cpus: &mut dyn Iterator<Item = usize>, f: &(dyn Fn(usize) + Sync)) {
    let _serial = CALL_LOCK.lock();
    let me = this_cpu().index;
    let job = Job { f, remaining: AtomicUsize::new(0) };
    let job_ptr = &job as *const Job<'_> as *mut ();
    let mut run_here = false;
    for cpu in cpus {
        if cpu == me {
            run_here = true;
            continue;
        }
        let target = &CPUS[cpu];
        if !target.online.load(Ordering::Acquire) {
            continue;
        }
        job.remaining.fetch_add(1, Ordering::Relaxed);
        // Release: the job (and everything the caller wrote before the call)
        // is visible to the target that loads this pointer.
        target.call.job.store(job_ptr, Ordering::Release);
        arch::wake_cpu(target);
    }
    if run_here {
        run_job(this_cpu(), &job);
    }
    // Acquire: pairs with each target's Release decrement, so their writes
    // made inside `f` are visible to the caller afterwards.
    while job.remaining.load(Ordering::Acquire) != 0 {
        core::hint::spin_loop();
    }
}

fn run_job(cpu: &Cpu, job: &Job<'_>) {
    (job.f)(cpu.index);
    cpu.stats.calls_run.fetch_add(1, Ordering::Relaxed);
}

/// What a secondary CPU does once it is online: wait for posted work and run it.
pub fn secondary_idle_loop(cpu: &'static Cpu) -> ! {
    loop {
        let p = cpu.call.job.load(Ordering::Acquire);
        if p.is_null() {
            // Sleeps until an interrupt (the caller's wake-up IPI), unless
            // work arrived between the check above and going to sleep.
            arch::idle_until(&|| !cpu.call.job.load(Ordering::Acquire).is_null());
            continue;
        }
        // SAFETY: `p` was stored by `on_cpus` from a live `Job`, which stays
        // alive until `remaining` reaches zero, i.e. after our decrement below.
        let job = unsafe { &*(p as *const Job<'_>) };
        run_job(cpu, job);
        cpu.call.job.store(ptr::null_mut(), Ordering::Relaxed);
        // Release: our writes in `f` happen-before the caller's Acquire load;
        // after this we never touch `job` again.
        job.remaining.fetch_sub(1, Ordering::Release);
    }
}

//! x86 platform: the PAT with a write-combining entry, the same on every CPU,
//! and the framebuffer mapped through it.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch::x86_64::paging::pat_index;
use crate::arch::x86_64::pat;
use crate::ktest::{Suite, TestResult};
use crate::{kassert, kassert_eq, kskip, smp};

pub static SUITE: Suite =
    Suite { name: "pat", cases: crate::cases![every_cpu_same_pat, framebuffer_write_combining] };

/// Every online CPU's IA32_PAT holds `pat::VALUE`: the power-on entries
/// with WC in entry `pat::WC_INDEX`.
fn every_cpu_same_pat() -> TestResult {
    if !pat::supported() {
        kskip!("CPU has no PAT");
    }
    kassert!(pat::programmed(), "boot CPU did not program the PAT");
    kassert_eq!((pat::VALUE >> (8 * pat::WC_INDEX)) as u8, pat::WC);
    // u64::MAX: not read (a CPU that never ran the call).
    let seen: Vec<AtomicU64> = (0..smp::nr_possible()).map(|_| AtomicU64::new(u64::MAX)).collect();
    smp::on_each_cpu(&|cpu| {
        // Relaxed: on_each_cpu waits for every CPU, which orders these
        // stores before the reads below.
        seen[cpu].store(pat::read().unwrap_or(0), Ordering::Relaxed);
    });
    for c in smp::online_cpus() {
        let value = seen[c.index].load(Ordering::Relaxed);
        kassert!(
            value == pat::VALUE,
            "cpu {}: IA32_PAT {:#018x}, want {:#018x}",
            c.index,
            value,
            pat::VALUE
        );
    }
    Ok(())
}

/// Every 4 KiB page of the framebuffer uses the WC entry.
fn framebuffer_write_combining() -> TestResult {
    if !pat::supported() {
        kskip!("CPU has no PAT");
    }
    let Some(fb) = crate::bootinfo::get().framebuffer else {
        kskip!("no framebuffer");
    };
    kassert_eq!(crate::fbcon::caching(), Some("write-combining (PAT 4)"));
    let first = fb.base as u64 & !0xfff;
    let end = fb.base as u64 + fb.byte_len as u64;
    for page in (first..end).step_by(4096) {
        let index = pat_index(page);
        kassert!(
            index == Some(pat::WC_INDEX),
            "framebuffer page {:#x}: PAT entry {:?}, want {}",
            page,
            index,
            pat::WC_INDEX
        );
    }
    Ok(())
}

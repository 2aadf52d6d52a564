//! Reset and power-off through the Raspberry Pi's power-management
//! watchdog (`brcm,bcm2835-pm-wdt` / `brcm,bcm2711-pm`), as Linux's
//! `bcm2835_wdt.c` does: boards without TF-A have no PSCI to ask.
//!
//! - **Reset**: PM_WDOG = a short timeout, then PM_RSTC = full reset; the
//!   watchdog fires and the SoC restarts.
//! - **Power-off**: the same reset with PM_RSTS's partition field set to
//!   63 (the bits 0, 2, 4, 6, 8, 10: `0x555`). The firmware's boot code
//!   reads that partition and halts instead of booting: the "halt" trick,
//!   the lowest-power state a Pi has without a PMIC. QEMU's raspi4b model
//!   does the same: reset with that partition shuts the machine down (QEMU
//!   exits), any other reset is a reset.
//!
//! Every write carries the password `0x5a00_0000` in its top byte.

use super::mmio::{read32, write32};
use core::sync::atomic::{AtomicU64, Ordering};

const PM_RSTC: u64 = 0x1c;
const PM_RSTS: u64 = 0x20;
const PM_WDOG: u64 = 0x24;
const PM_PASSWORD: u32 = 0x5a00_0000;
/// PM_RSTC: configuration bits that a full reset replaces.
const PM_RSTC_WRCFG_CLR: u32 = 0xffff_ffcf;
/// PM_RSTC: full reset when the watchdog expires.
const PM_RSTC_WRCFG_FULL_RESET: u32 = 0x0000_0020;
/// PM_RSTS: the partition bits (which partition to boot from next).
const PM_RSTS_PARTITION_CLR: u32 = 0xffff_faaa;
/// Partition 63 spread over PM_RSTS's even bits: "halt".
const PARTITION_HALT: u32 = 0x555;
/// PM_WDOG timeout in 16 us ticks (Linux uses 10 ticks).
const WDOG_TICKS: u32 = 10;

/// Virtual address of the PM block; 0 = none. Set once by the boot CPU.
static BASE: AtomicU64 = AtomicU64::new(0);

/// Notes the PM block mapped at `va` (boot CPU, before other CPUs run).
pub fn init(va: u64) {
    BASE.store(va, Ordering::Relaxed);
}

/// Whether the DTB had a watchdog.
pub fn available() -> bool {
    BASE.load(Ordering::Relaxed) != 0
}

/// Starts a watchdog reset (power-off if `halt`) and returns; the machine
/// goes within microseconds. Does nothing without a watchdog.
pub fn reset(halt: bool) {
    let base = BASE.load(Ordering::Relaxed);
    if base == 0 {
        return;
    }
    if halt {
        let rsts = read32(base + PM_RSTS) & PM_RSTS_PARTITION_CLR;
        write32(base + PM_RSTS, PM_PASSWORD | rsts | PARTITION_HALT);
    }
    write32(base + PM_WDOG, PM_PASSWORD | WDOG_TICKS);
    let rstc = read32(base + PM_RSTC) & PM_RSTC_WRCFG_CLR;
    write32(base + PM_RSTC, PM_PASSWORD | rstc | PM_RSTC_WRCFG_FULL_RESET);
}

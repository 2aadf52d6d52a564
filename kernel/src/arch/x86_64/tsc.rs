//! Time: the TSC, calibrated once at boot against a clock the machine really
//! has. QEMU's PC has them all; real PCs may not: newer platforms gate the
//! 8254 PIT off (its ports then read 0xFF, or it is present but never
//! counts), and not every CPU reports its TSC rate in CPUID. A wrong rate is
//! silent and everywhere (INIT-SIPI waits, CPU start time-outs, USB reset
//! times, the power-off wait), so the rate comes from the first source that
//! is seen to tick, in this order:
//!
//! 1. the ACPI PM timer (3.579545 MHz, ACPI 6.5 section 4.8.3.3), which every
//!    ACPI machine has and nothing gates;
//! 2. the PIT (1.193182 MHz), only after its count was seen to move;
//! 3. CPUID leaf 0x15 (TSC/crystal ratio with the crystal's frequency) or
//!    0x16 (base frequency), which need no waiting but are missing on many
//!    CPUs and on QEMU's default models.
//!
//! A second measured source, when there is one, cross-checks the first; a
//! rate outside [`PLAUSIBLE_KHZ`] is refused with a message and the next
//! source is tried. Every wait on a device is bounded by a count of reads.

use core::sync::atomic::{AtomicU64, Ordering};

use hwparse::x86::{PLAUSIBLE_KHZ, choose, khz_from};
use x86_64::instructions::port::Port;

/// The rate assumed when no source gives a plausible one, kHz.
const GUESS_KHZ: u64 = 3_000_000;

/// TSC rate in kHz (0 before [`calibrate`]).
static TSC_KHZ: AtomicU64 = AtomicU64::new(0);

/// Length of each measuring window, in microseconds.
const WINDOW_US: u64 = 10_000;
/// Reads of a timer before it counts as not ticking: far more than one tick
/// of either timer takes (a port read is 0.5-1 us on PCs, a tick < 1 us).
const STUCK_READS: u32 = 10_000;
/// Reads before a measuring window counts as never ending (~1 s of port reads).
const MAX_READS: u32 = 2_000_000;

#[inline]
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no side effects; CR4.TSD is clear in ring 0 anyway.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Where a TSC rate came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    PmTimer,
    Pit,
    Cpuid15,
    Cpuid16,
    /// Nothing usable: a fixed guess, so delays are wrong (and said to be).
    Guess,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::PmTimer => "ACPI PM timer",
            Source::Pit => "8254 PIT",
            Source::Cpuid15 => "CPUID 0x15",
            Source::Cpuid16 => "CPUID 0x16 base frequency",
            Source::Guess => "no clock source: a 3 GHz guess",
        }
    }
}

/// One candidate rate, in kHz, or why there is none.
type Reading = Result<u64, &'static str>;

/// Counts TSC ticks while `read` (a free-running up-counter of `bits` bits at
/// `hz`) advances by one window. Err when it does not tick.
fn measure(mut read: impl FnMut() -> u32, bits: u32, hz: u64) -> Reading {
    let mask = if bits >= 32 { u32::MAX } else { (1 << bits) - 1 };
    let target = (hz * WINDOW_US / 1_000_000) as u32;
    // Start on an edge, so the window is whole ticks.
    let first = read() & mask;
    let start_value =
        (0..STUCK_READS).map(|_| read() & mask).find(|&v| v != first).ok_or("does not tick")?;
    let start = rdtsc();
    let mut last = start_value;
    let mut same = 0;
    for _ in 0..MAX_READS {
        let v = read() & mask;
        let elapsed = v.wrapping_sub(start_value) & mask;
        if elapsed >= target {
            return Ok(khz_from(rdtsc() - start, u64::from(elapsed), hz));
        }
        if v == last {
            same += 1;
            if same > STUCK_READS {
                return Err("stopped ticking");
            }
        } else {
            same = 0;
            last = v;
        }
    }
    Err("window never ended")
}

/// The ACPI PM timer, from the FADT (I/O port, 24 or 32 bits).
fn pm_timer() -> Reading {
    const PM_TIMER_HZ: u64 = 3_579_545;
    let (port, bits) = super::acpi::pm_timer()?;
    let mut p: Port<u32> = Port::new(port);
    // SAFETY: the FADT names this port as the PM timer; reading it has no
    // side effects.
    measure(|| unsafe { p.read() }, bits, PM_TIMER_HZ)
}

/// PIT channel 2 (the PC speaker's, gated by port 0x61), counting down from
/// 0xFFFF in mode 2; read by latching its count.
fn pit() -> Reading {
    const PIT_HZ: u64 = 1_193_182;
    let mut gate: Port<u8> = Port::new(0x61);
    let mut cmd: Port<u8> = Port::new(0x43);
    let mut ch2: Port<u8> = Port::new(0x42);
    // SAFETY: the PIT's and the speaker gate's standard ports; channel 2
    // drives only the speaker, which stays off (bit 1 clear).
    unsafe {
        let g = gate.read();
        if g == 0xFF {
            return Err("not present (port 0x61 reads 0xFF)");
        }
        gate.write((g & !0x02) | 0x01); // speaker off, channel 2 gate on
        cmd.write(0b1011_0100); // channel 2, lo/hi byte, mode 2 (rate generator), binary
        ch2.write(0xFF);
        ch2.write(0xFF);
    }
    let read = || {
        // SAFETY: latch command for channel 2, then its count, low byte first.
        unsafe {
            cmd.write(0b1000_0000);
            let lo = ch2.read();
            let hi = ch2.read();
            // An up-counter for `measure`: the PIT counts down.
            0xFFFF - u32::from(u16::from_le_bytes([lo, hi]))
        }
    };
    measure(read, 16, PIT_HZ)
}

fn cpuid(leaf: u32) -> core::arch::x86_64::CpuidResult {
    // Leaves above the maximum return data of the highest leaf, which callers
    // rule out first.
    core::arch::x86_64::__cpuid(leaf)
}

/// CPUID 0x15: TSC = crystal Hz * EBX / EAX, when all three are given.
fn cpuid15() -> Reading {
    if cpuid(0).eax < 0x15 {
        return Err("leaf 0x15 not present");
    }
    let r = cpuid(0x15);
    if r.eax == 0 || r.ebx == 0 || r.ecx == 0 {
        return Err("crystal frequency not enumerated");
    }
    Ok(u64::from(r.ecx) * u64::from(r.ebx) / u64::from(r.eax) / 1000)
}

/// CPUID 0x16 EAX: the processor's base frequency in MHz (the TSC's rate on
/// the CPUs that have the leaf, as the SDM's TSC chapter says).
fn cpuid16() -> Reading {
    if cpuid(0).eax < 0x16 {
        return Err("leaf 0x16 not present");
    }
    match cpuid(0x16).eax & 0xFFFF {
        0 => Err("base frequency not enumerated"),
        mhz => Ok(u64::from(mhz) * 1000),
    }
}

/// Measures the TSC rate (see the module doc) and prints what it found.
pub fn calibrate() {
    let readings = [
        (Source::PmTimer, pm_timer()),
        (Source::Pit, pit()),
        (Source::Cpuid15, cpuid15()),
        (Source::Cpuid16, cpuid16()),
    ];
    let choice = choose(&readings).unwrap_or(hwparse::x86::Choice {
        khz: GUESS_KHZ,
        source: Source::Guess,
        disagrees: None,
    });
    TSC_KHZ.store(choice.khz, Ordering::Relaxed);
    for (source, reading) in &readings {
        match reading {
            Ok(khz) if !PLAUSIBLE_KHZ.contains(khz) => {
                println!("tsc: {} gave {} kHz, implausible: not used", source.name(), khz)
            }
            _ => {}
        }
    }
    println!("tsc: {} MHz from the {}", choice.khz / 1000, choice.source.name());
    if let Some(i) = choice.disagrees
        && let (source, Ok(khz)) = readings[i]
    {
        println!("tsc: warning: the {} says {} MHz", source.name(), khz / 1000);
    }
    if choice.source == Source::Guess {
        println!("tsc: WARNING: no clock source ticked; every delay may be wrong");
    }
}

/// TSC rate in kHz (after `calibrate`).
pub fn khz() -> u64 {
    TSC_KHZ.load(Ordering::Relaxed).max(1000)
}

/// TSC ticks per microsecond (after `calibrate`).
pub fn ticks_per_us() -> u64 {
    khz() / 1000
}

/// Busy-waits at least `us` microseconds.
pub fn delay_us(us: u64) {
    let end = rdtsc() + us * khz() / 1000;
    while rdtsc() < end {
        core::hint::spin_loop();
    }
}

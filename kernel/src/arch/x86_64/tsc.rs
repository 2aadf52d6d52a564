//! Time: the TSC, calibrated once against the PIT (8254), which every PC and
//! QEMU has. Used for the INIT-SIPI delays and to turn cycles into ns.

use core::sync::atomic::{AtomicU64, Ordering};

use x86_64::instructions::port::Port;

static TSC_PER_US: AtomicU64 = AtomicU64::new(0);

#[inline]
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no side effects; CR4.TSD is clear in ring 0 anyway.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Measures TSC ticks over 10 ms of PIT channel 2 (gate on port 0x61, mode 0).
pub fn calibrate() {
    const PIT_HZ: u64 = 1_193_182;
    const TICKS: u64 = PIT_HZ / 100; // 10 ms
    let mut gate: Port<u8> = Port::new(0x61);
    let mut cmd: Port<u8> = Port::new(0x43);
    let mut ch2: Port<u8> = Port::new(0x42);
    // SAFETY: standard PIT/PC speaker ports; channel 2 is only used here.
    let elapsed = unsafe {
        let g = gate.read();
        gate.write((g & !0x02) | 0x01); // speaker off, gate on
        cmd.write(0b1011_0000); // channel 2, lo/hi byte, mode 0, binary
        ch2.write((TICKS & 0xff) as u8);
        ch2.write((TICKS >> 8) as u8);
        // Restart the count by toggling the gate.
        let g = gate.read();
        gate.write(g & !0x01);
        gate.write(g | 0x01);
        let start = rdtsc();
        // Bit 5 of port 0x61 = channel 2 output, goes high at terminal count.
        let mut spins = 0u64;
        while gate.read() & 0x20 == 0 && spins < 100_000_000 {
            spins += 1;
        }
        rdtsc() - start
    };
    TSC_PER_US.store((elapsed / 10_000).max(1), Ordering::Relaxed);
}

/// TSC ticks per microsecond (after `calibrate`).
pub fn ticks_per_us() -> u64 {
    TSC_PER_US.load(Ordering::Relaxed).max(1)
}

/// Busy-waits at least `us` microseconds.
pub fn delay_us(us: u64) {
    let end = rdtsc() + us * ticks_per_us();
    while rdtsc() < end {
        core::hint::spin_loop();
    }
}

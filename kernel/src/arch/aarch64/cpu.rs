//! CPU identification (MPIDR, MIDR), the per-CPU register (TPIDR_EL1) and
//! the generic timer's virtual counter.

use core::fmt;

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{
    CNTFRQ_EL0, CNTVCT_EL0, ID_AA64ISAR0_EL1, MIDR_EL1, MPIDR_EL1, Readable, TPIDR_EL1, Writeable,
};

use crate::smp::{CPUS, Cpu};

/// The MPIDR_EL1 affinity fields packed into 32 bits: Aff3 in bits 31:24,
/// Aff2..Aff0 in 23:0. Needs no per-CPU setup, so it works in the panic path.
pub fn cpu_id() -> u32 {
    mpidr_to_id(MPIDR_EL1.get())
}

/// MPIDR layout (Aff3 at 39:32) -> [`cpu_id`] layout. The DTB's `/cpus`
/// `reg` values use the MPIDR layout too.
pub fn mpidr_to_id(mpidr: u64) -> u32 {
    ((mpidr & 0xFF_FFFF) | ((mpidr >> 8) & 0xFF00_0000)) as u32
}

/// Points TPIDR_EL1 at `CPUS[index]`. First thing on every CPU.
pub fn set_cpu_index(index: usize) {
    let slot: *const Cpu = &CPUS[index];
    // TPIDR_EL1 is a scratch register reserved for the kernel; only
    // `cpu_index` reads it back.
    TPIDR_EL1.set(slot as u64);
}

/// This CPU's dense index: one load through TPIDR_EL1 (0 before it is set,
/// which only the boot CPU can observe).
#[inline]
pub fn cpu_index() -> usize {
    let slot = TPIDR_EL1.get() as *const Cpu;
    if slot.is_null() {
        return 0;
    }
    // SAFETY: TPIDR_EL1 points at this CPU's `Cpu` in the static CPUS table
    // (set_cpu_index); `index` is written before the CPU starts.
    unsafe { (*slot).index }
}

/// The virtual counter (CNTVCT_EL0), in ticks of CNTFRQ_EL0; the `isb`
/// keeps it from being read early (Arm ARM D12.1.2).
#[inline]
pub fn read_cycles() -> u64 {
    barrier::isb(barrier::SY);
    CNTVCT_EL0.get()
}

/// Counter ticks per microsecond (CNTFRQ_EL0 / 10^6; 62 on QEMU 7.2).
pub fn cycles_per_us() -> u64 {
    (CNTFRQ_EL0.get() / 1_000_000).max(1)
}

/// True when the CPU implements the ARMv8.1 LSE atomics (ID_AA64ISAR0_EL1.Atomic,
/// bits 23:20, >= 2; the crate names only the RNDR field of this register).
pub fn has_lse() -> bool {
    (ID_AA64ISAR0_EL1.get() >> 20) & 0xF >= 2
}

/// Implementer, part, revision from MIDR_EL1, and the atomics in use.
pub fn cpu_model() -> impl fmt::Display {
    CpuModel(MIDR_EL1.get())
}

struct CpuModel(u64);

impl fmt::Display for CpuModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let midr = self.0;
        let implementer = (midr >> 24) & 0xFF;
        let variant = (midr >> 20) & 0xF;
        let part = (midr >> 4) & 0xFFF;
        let revision = midr & 0xF;
        let vendor = match implementer {
            0x00 => "QEMU/software",
            0x41 => "Arm",
            0x42 => "Broadcom",
            0x43 => "Cavium",
            0x46 => "Fujitsu",
            0x48 => "HiSilicon",
            0x4E => "NVIDIA",
            0x51 => "Qualcomm",
            0x61 => "Apple",
            0xC0 => "Ampere",
            _ => "unknown implementer",
        };
        write!(f, "{vendor} ")?;
        let arm_part = match (implementer, part) {
            (0x41, 0xD03) => Some("Cortex-A53"),
            (0x41, 0xD04) => Some("Cortex-A35"),
            (0x41, 0xD05) => Some("Cortex-A55"),
            (0x41, 0xD07) => Some("Cortex-A57"),
            (0x41, 0xD08) => Some("Cortex-A72"),
            (0x41, 0xD09) => Some("Cortex-A73"),
            (0x41, 0xD0A) => Some("Cortex-A75"),
            (0x41, 0xD0B) => Some("Cortex-A76"),
            (0x41, 0xD0C) => Some("Neoverse N1"),
            (0x41, 0xD0D) => Some("Cortex-A77"),
            (0x41, 0xD40) => Some("Neoverse V1"),
            (0x41, 0xD41) => Some("Cortex-A78"),
            (0x41, 0xD44) => Some("Cortex-X1"),
            (0x41, 0xD46) => Some("Cortex-A510"),
            (0x41, 0xD47) => Some("Cortex-A710"),
            (0x41, 0xD49) => Some("Neoverse N2"),
            (0x41, 0xD4F) => Some("Neoverse V2"),
            _ => None,
        };
        match arm_part {
            Some(name) => write!(f, "{name}")?,
            None => write!(f, "part {part:#05x}")?,
        }
        write!(f, " r{variant}p{revision} (MIDR {midr:#010x})")?;
        let lse = if has_lse() { "LSE atomics" } else { "no LSE atomics" };
        write!(f, ", {lse}; atomics in use: {}", super::atomics::in_use().describe())
    }
}

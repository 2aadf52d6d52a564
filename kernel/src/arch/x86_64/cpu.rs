//! CPU identification through CPUID.

use core::arch::x86_64::__cpuid;
use core::fmt;

/// The current CPU's initial local APIC id: CPUID leaf 0xB EDX (all 32
/// bits of the x2APIC id) where the CPU has that leaf, else leaf 1
/// EBX[31:24] (8 bits). Needs no per-CPU setup, so it works in the panic
/// path too.
pub fn cpu_id() -> u32 {
    use core::arch::x86_64::__cpuid_count;
    // Leaf 0xB is valid when the CPU lists it and its EBX is non-zero (SDM
    // vol. 2A, CPUID). Leaf 1 alone is wrong above id 255, and QEMU even
    // overflows its CPU count into the id byte with > 255 possible CPUs.
    if __cpuid(0).eax >= 0xB {
        let r = __cpuid_count(0xB, 0);
        if r.ebx != 0 {
            return r.edx;
        }
    }
    __cpuid(1).ebx >> 24
}

/// Vendor and brand string, e.g. `GenuineIntel, QEMU Virtual CPU version 2.5+`.
pub fn cpu_model() -> impl fmt::Display {
    CpuModel
}

struct CpuModel;

impl fmt::Display for CpuModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = __cpuid(0);
        let mut vendor = [0u8; 12];
        vendor[0..4].copy_from_slice(&v.ebx.to_le_bytes());
        vendor[4..8].copy_from_slice(&v.edx.to_le_bytes());
        vendor[8..12].copy_from_slice(&v.ecx.to_le_bytes());
        write!(f, "{}", core::str::from_utf8(&vendor).unwrap_or("?"))?;
        if __cpuid(0x8000_0000).eax >= 0x8000_0004 {
            let mut brand = [0u8; 48];
            for (i, leaf) in (0x8000_0002u32..=0x8000_0004).enumerate() {
                let r = __cpuid(leaf);
                for (j, reg) in [r.eax, r.ebx, r.ecx, r.edx].iter().enumerate() {
                    let at = i * 16 + j * 4;
                    brand[at..at + 4].copy_from_slice(&reg.to_le_bytes());
                }
            }
            let brand = core::str::from_utf8(&brand).unwrap_or("?");
            write!(f, ", {}", brand.trim_matches(|c: char| c == '\0' || c == ' '))?;
        }
        let (family, model) = hwparse::x86::family_model(__cpuid(1).eax);
        write!(f, ", family {family:#x} model {model:#x}")
    }
}

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
        let (family, model) = family_model(__cpuid(1).eax);
        write!(f, ", family {family:#x} model {model:#x}")
    }
}

/// Display family and model from CPUID.1 EAX (Intel SDM vol. 2A, CPUID,
/// "Processor Version Information"; AMD's CPUID specification agrees): the
/// extended family is added only when the base family is 0xF (every AMD CPU
/// since K8: Zen is 0xF + 0x8 = 0x17), the extended model is the high nibble
/// when the base family is 6 or 0xF.
pub fn family_model(eax: u32) -> (u32, u32) {
    let base_family = (eax >> 8) & 0xF;
    let base_model = (eax >> 4) & 0xF;
    let family = if base_family == 0xF { base_family + ((eax >> 20) & 0xFF) } else { base_family };
    let model = if base_family == 0x6 || base_family == 0xF {
        base_model | (((eax >> 16) & 0xF) << 4)
    } else {
        base_model
    };
    (family, model)
}

//! What an x86 PC's firmware and CPU report, judged: the MADT's processor
//! flags, the PM1 control value that enters S5, CPUID's family and model,
//! and the TSC rate measured against the clocks the machine has. The
//! kernel reads the registers and tables (arch/x86_64); the decisions on
//! their values live here, where crafted inputs can test them: a MADT with
//! Online Capable entries or a PIT that never ticks cannot be made in QEMU.

use core::ops::RangeInclusive;

/// What a Processor Local APIC or Local x2APIC entry's flags say (ACPI 6.5
/// table 5.23: bit 0 Enabled, bit 1 Online Capable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuState {
    /// Present and usable now: started at boot.
    Enabled,
    /// Not enabled but may be hot-added (ACPI 6.3+). AMD firmware lists a
    /// socket's unpopulated cores this way; INIT-SIPI to them only times
    /// out, so they are listed, not started.
    OnlineCapable,
    /// Neither: a processor that cannot be used.
    Unusable,
}

/// The state a MADT processor entry's `flags` describe.
pub fn cpu_state(flags: u32) -> CpuState {
    const ENABLED: u32 = 1 << 0;
    const ONLINE_CAPABLE: u32 = 1 << 1;
    if flags & ENABLED != 0 {
        CpuState::Enabled
    } else if flags & ONLINE_CAPABLE != 0 {
        CpuState::OnlineCapable
    } else {
        CpuState::Unusable
    }
}

/// Sorts MADT processor entries `(APIC id, flags)` into `enabled` and
/// `online_capable`, in MADT order (the boot CPU is usually first), each id
/// once: a repeated id (a firmware bug) keeps its first entry's state.
/// Unusable entries are dropped.
pub fn classify_cpus<L>(
    entries: impl IntoIterator<Item = (u32, u32)>,
    enabled: &mut L,
    online_capable: &mut L,
) where
    L: Extend<u32> + AsRef<[u32]>,
{
    for (id, flags) in entries {
        if enabled.as_ref().contains(&id) || online_capable.as_ref().contains(&id) {
            continue;
        }
        match cpu_state(flags) {
            CpuState::Enabled => enabled.extend([id]),
            CpuState::OnlineCapable => online_capable.extend([id]),
            CpuState::Unusable => {}
        }
    }
}

/// PM1 control's SLP_TYP field (bits 10-12) and SLP_EN (bit 13), ACPI 6.5
/// table 4.13.
const SLP_TYP_MASK: u16 = 0x7 << 10;
const SLP_EN: u16 = 1 << 13;

/// The two values written to a PM1 control register that holds `current`
/// to enter the sleep state of type `typ` (from the DSDT's `\_S5`): the new
/// SLP_TYP with SLP_EN clear, then the same with SLP_EN set, every other bit
/// (SCI_EN among them) as it was; Linux's `acpi_hw_legacy_sleep` writes the
/// same pair. Bits of `typ` above the 3-bit field are ignored.
pub fn s5_writes(current: u16, typ: u8) -> [u16; 2] {
    let with_typ = (current & !(SLP_TYP_MASK | SLP_EN)) | ((u16::from(typ) << 10) & SLP_TYP_MASK);
    [with_typ, with_typ | SLP_EN]
}

/// Display family and model from CPUID leaf 1's EAX (Intel SDM vol. 2A,
/// CPUID, "Processor Version Information"; AMD's CPUID specification
/// agrees): the extended family is added only when the base family is 0xF
/// (every AMD CPU since K8: Zen is 0xF + 0x8 = 0x17), the extended model is
/// the high nibble when the base family is 6 or 0xF.
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

/// TSC rates believed, in kHz: 100 MHz to 20 GHz. Anything outside is a
/// measurement that went wrong (a timer that did not tick, a window cut
/// short, a CPUID leaf with nonsense in it).
pub const PLAUSIBLE_KHZ: RangeInclusive<u64> = 100_000..=20_000_000;

/// Two plausible readings that differ by more than this (percent) are
/// reported.
pub const AGREE_PERCENT: u64 = 5;

/// TSC rate in kHz from `tsc` ticks counted while a reference clock of
/// `ref_hz` advanced `ref_ticks`; 0 when the reference did not move or the
/// result does not fit (never a panic).
pub fn khz_from(tsc: u64, ref_ticks: u64, ref_hz: u64) -> u64 {
    if ref_ticks == 0 {
        return 0;
    }
    // u128: tsc * ref_hz overflows u64 beyond ~5 s of a 3 GHz TSC.
    let khz = u128::from(tsc) * u128::from(ref_hz) / (u128::from(ref_ticks) * 1000);
    u64::try_from(khz).unwrap_or(0)
}

/// The reading a calibration uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Choice<S> {
    /// TSC rate, kHz, inside [`PLAUSIBLE_KHZ`].
    pub khz: u64,
    /// Where it came from.
    pub source: S,
    /// Index of a later plausible reading that differs from it by more than
    /// [`AGREE_PERCENT`], for the boot log.
    pub disagrees: Option<usize>,
}

/// Picks the first plausible reading of `readings` (in order of
/// preference: each a source and its rate in kHz, or why it has none), and
/// notes a later plausible one that disagrees with it. `None` when no
/// reading is plausible.
pub fn choose<S: Copy, E>(readings: &[(S, Result<u64, E>)]) -> Option<Choice<S>> {
    let plausible = |r: &Result<u64, E>| matches!(r, Ok(k) if PLAUSIBLE_KHZ.contains(k));
    let first = readings.iter().position(|(_, r)| plausible(r))?;
    let (source, Ok(khz)) = &readings[first] else { return None };
    let khz = *khz;
    let disagrees = readings.iter().enumerate().skip(first + 1).find_map(|(i, (_, r))| match r {
        Ok(other) if plausible(r) && khz.abs_diff(*other) * 100 > khz * AGREE_PERCENT => Some(i),
        _ => None,
    });
    Some(Choice { khz, source: *source, disagrees })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn madt_flags() {
        assert_eq!(cpu_state(0b01), CpuState::Enabled);
        assert_eq!(cpu_state(0b11), CpuState::Enabled);
        assert_eq!(cpu_state(0b10), CpuState::OnlineCapable);
        assert_eq!(cpu_state(0b00), CpuState::Unusable);
        // Reserved bits change nothing.
        assert_eq!(cpu_state(0xFFFF_FFFC), CpuState::Unusable);
    }

    /// An AMD-style MADT: 2 enabled cores, 2 online-capable, 1 disabled,
    /// and the boot CPU listed twice.
    #[test]
    fn madt_amd_shape() {
        let entries = [(0, 1), (2, 1), (4, 2), (6, 2), (8, 0), (0, 1), (4, 1)];
        let (mut enabled, mut capable) = (Vec::new(), Vec::new());
        classify_cpus(entries, &mut enabled, &mut capable);
        assert_eq!(enabled, [0, 2]);
        assert_eq!(capable, [4, 6]);
    }

    #[test]
    fn madt_x2apic_ids() {
        let entries = [(0, 1), (256, 1), (0x1_0000, 2)];
        let (mut enabled, mut capable) = (Vec::new(), Vec::new());
        classify_cpus(entries, &mut enabled, &mut capable);
        assert_eq!(enabled, [0, 256]);
        assert_eq!(capable, [0x1_0000]);
    }

    #[test]
    fn s5_keeps_other_bits() {
        // SCI_EN set, a stale SLP_TYP of 7, typ 5 (QEMU's \_S5 is 0).
        let [a, b] = s5_writes(0x1C01, 5);
        assert_eq!(a, 0x1401);
        assert_eq!(b, 0x3401);
        // typ beyond 3 bits does not spill into SLP_EN.
        assert_eq!(s5_writes(0, 0xFF)[0] & SLP_EN, 0);
        assert_eq!(s5_writes(0xFFFF, 0), [0xC3FF, 0xE3FF]);
    }

    #[test]
    fn cpuid_family_model() {
        // Zen 3 (Ryzen 5000): family 0x19 model 0x21.
        assert_eq!(family_model(0x00A2_0F10), (0x19, 0x21));
        // Intel Alder Lake: family 6 model 0x97.
        assert_eq!(family_model(0x0009_0672), (0x6, 0x97));
        // QEMU's qemu64 (AMD vendor, family 0xF model 0x6B).
        assert_eq!(family_model(0x0006_0FB1), (0xF, 0x6B));
        // Family 5: no extended fields.
        assert_eq!(family_model(0x0FFF_0543), (0x5, 0x4));
    }

    #[test]
    fn khz_from_reference() {
        // 10 ms of the PM timer (35795 ticks) against 26 M TSC ticks: 2.6 GHz.
        assert_eq!(khz_from(26_000_000, 35_795, 3_579_545), 2_600_032);
        assert_eq!(khz_from(123, 0, 3_579_545), 0);
        assert_eq!(khz_from(u64::MAX, 1, u64::MAX), 0);
    }

    #[test]
    fn choose_in_order_of_preference() {
        let r: [(&str, Result<u64, &str>); 3] =
            [("pm", Err("no PM timer")), ("pit", Ok(2_600_000)), ("cpuid", Ok(2_590_000))];
        let c = choose(&r).unwrap();
        assert_eq!((c.khz, c.source, c.disagrees), (2_600_000, "pit", None));
    }

    /// A PIT that "finished" at once (ports reading 0xFF) gives a rate of a
    /// few kHz: refused, the next source is used.
    #[test]
    fn choose_refuses_implausible() {
        let r: [(&str, Result<u64, ()>); 3] =
            [("pm", Ok(0)), ("pit", Ok(1_000)), ("cpuid", Ok(3_000_000))];
        assert_eq!(choose(&r).unwrap().source, "cpuid");
        let none: [(&str, Result<u64, ()>); 2] = [("pit", Ok(99_999)), ("cpuid", Ok(20_000_001))];
        assert_eq!(choose(&none), None);
    }

    #[test]
    fn choose_reports_disagreement() {
        let r: [(&str, Result<u64, ()>); 3] =
            [("pm", Ok(2_600_000)), ("pit", Ok(2_650_000)), ("cpuid", Ok(3_000_000))];
        assert_eq!(choose(&r).unwrap().disagrees, Some(2));
    }
}

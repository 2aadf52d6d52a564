//! How a test, benchmark or unattended run ends, and the exit status QEMU
//! reports for it.
//!
//! x86_64: the kernel writes a value to QEMU's isa-debug-exit device, which
//! the runner adds with [`isa_debug_exit::DEVICE`]; QEMU then exits with
//! status `(value << 1) | 1` (QEMU `hw/misc/debug-exit.c`), so the status is
//! always odd and 0 can only mean something else ended QEMU (a triple fault
//! with `-no-reboot`, an ACPI power-off).
//!
//! aarch64: the kernel makes the semihosting call `SYS_EXIT` with the reason
//! `ADP_Stopped_ApplicationExit` and a code (Arm "Semihosting for AArch32
//! and AArch64", QEMU `-semihosting`); QEMU exits with that code as its
//! status.

/// How a run ends. The kernel passes it to its arch's `exit`; the runner
/// reads it back from QEMU's exit status ([`ExitStatus::from_x86_64_status`],
/// [`ExitStatus::from_aarch64_status`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    /// Every test passed (or every benchmark's invariants held).
    Success,
    /// Something failed; the output says what.
    Failure,
}

impl ExitStatus {
    /// Both statuses.
    pub const ALL: [Self; 2] = [Self::Success, Self::Failure];

    /// [`Success`](Self::Success) when `passed`, else [`Failure`](Self::Failure).
    pub const fn from_passed(passed: bool) -> Self {
        if passed { Self::Success } else { Self::Failure }
    }

    /// The value the x86_64 kernel writes to the isa-debug-exit port:
    /// [`isa_debug_exit::SUCCESS_VALUE`] or [`isa_debug_exit::FAILURE_VALUE`].
    pub const fn isa_debug_exit_value(self) -> u32 {
        match self {
            Self::Success => isa_debug_exit::SUCCESS_VALUE,
            Self::Failure => isa_debug_exit::FAILURE_VALUE,
        }
    }

    /// QEMU's exit status on x86_64 after the kernel wrote
    /// [`isa_debug_exit_value`](Self::isa_debug_exit_value): 33 for success,
    /// 35 for failure.
    pub const fn x86_64_status(self) -> i32 {
        isa_debug_exit::status(self.isa_debug_exit_value())
    }

    /// The code the aarch64 kernel passes to semihosting `SYS_EXIT`:
    /// [`semihosting::SUCCESS_CODE`] or [`semihosting::FAILURE_CODE`].
    pub const fn semihosting_code(self) -> u64 {
        match self {
            Self::Success => semihosting::SUCCESS_CODE,
            Self::Failure => semihosting::FAILURE_CODE,
        }
    }

    /// QEMU's exit status on aarch64: the semihosting code itself, 0 for
    /// success and 1 for failure.
    pub const fn aarch64_status(self) -> i32 {
        self.semihosting_code() as i32
    }

    /// Which status an x86_64 QEMU exit status reports; `None` for any other
    /// status (not the kernel's exit, or a value the kernel never writes).
    pub fn from_x86_64_status(status: i32) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.x86_64_status() == status)
    }

    /// Which status an aarch64 QEMU exit status reports; `None` for any other.
    pub fn from_aarch64_status(status: i32) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.aarch64_status() == status)
    }
}

/// QEMU's `isa-debug-exit` device (x86_64).
pub mod isa_debug_exit {
    /// I/O port of the device (`iobase`).
    pub const PORT: u16 = 0xf4;
    /// Width of the port in bytes (`iosize`): the kernel writes a 32-bit value.
    pub const IOSIZE: u16 = 4;
    /// The `-device` argument that puts the device at [`PORT`] with
    /// [`IOSIZE`] (a unit test checks the two agree).
    pub const DEVICE: &str = "isa-debug-exit,iobase=0xf4,iosize=0x04";
    /// Written for [`ExitStatus::Success`](super::ExitStatus::Success): status 33.
    pub const SUCCESS_VALUE: u32 = 0x10;
    /// Written for [`ExitStatus::Failure`](super::ExitStatus::Failure): status 35.
    pub const FAILURE_VALUE: u32 = 0x11;

    /// QEMU's exit status after `value` was written to [`PORT`]:
    /// `(value << 1) | 1`, of which the host sees the low 8 bits (an exit
    /// status is one byte), so values 0 to 127 give the distinct statuses
    /// 1, 3, .. 255.
    pub const fn status(value: u32) -> i32 {
        ((value.wrapping_shl(1) | 1) & 0xff) as i32
    }

    /// The value (0 to 127) that makes QEMU exit with `status`: the inverse of
    /// [`status`]; `None` for a status the device cannot produce (even, or
    /// outside 1 to 255).
    pub const fn value_of(status: i32) -> Option<u32> {
        if status > 0 && status <= 0xff && status % 2 == 1 {
            Some((status >> 1) as u32)
        } else {
            None
        }
    }
}

/// Arm semihosting's exit call (aarch64; QEMU needs `-semihosting`).
pub mod semihosting {
    /// `SYS_EXIT`: the operation number, in `x0`; `x1` points at a two-word
    /// block `[reason, code]`.
    pub const SYS_EXIT: u64 = 0x18;
    /// `ADP_Stopped_ApplicationExit`: the reason with which QEMU exits with
    /// the block's code as its status.
    pub const ADP_STOPPED_APPLICATION_EXIT: u64 = 0x20026;
    /// Code for [`ExitStatus::Success`](super::ExitStatus::Success): status 0.
    pub const SUCCESS_CODE: u64 = 0;
    /// Code for [`ExitStatus::Failure`](super::ExitStatus::Failure): status 1.
    pub const FAILURE_CODE: u64 = 1;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qemu_statuses() {
        assert_eq!(ExitStatus::Success.x86_64_status(), 33);
        assert_eq!(ExitStatus::Failure.x86_64_status(), 35);
        assert_eq!(ExitStatus::Success.aarch64_status(), 0);
        assert_eq!(ExitStatus::Failure.aarch64_status(), 1);
        for s in ExitStatus::ALL {
            assert_eq!(ExitStatus::from_x86_64_status(s.x86_64_status()), Some(s));
            assert_eq!(ExitStatus::from_aarch64_status(s.aarch64_status()), Some(s));
            assert_eq!(ExitStatus::from_passed(s == ExitStatus::Success), s);
        }
        assert_eq!(ExitStatus::from_x86_64_status(0), None);
        assert_eq!(ExitStatus::from_x86_64_status(1), None);
        assert_eq!(ExitStatus::from_aarch64_status(33), None);
    }

    #[test]
    fn isa_debug_exit_status_and_inverse() {
        assert_eq!(isa_debug_exit::status(0), 1);
        assert_eq!(isa_debug_exit::status(0x7f), 255);
        // Only the low 8 bits of the status reach the host.
        assert_eq!(isa_debug_exit::status(0x80), 1);
        assert_eq!(isa_debug_exit::status(u32::MAX), 255);
        for v in 0..0x80 {
            assert_eq!(isa_debug_exit::value_of(isa_debug_exit::status(v)), Some(v));
        }
        for s in [-1, 0, 2, 34, 256, 257] {
            assert_eq!(isa_debug_exit::value_of(s), None, "{s}");
        }
    }

    #[test]
    fn device_argument_names_port_and_size() {
        let want = format!(
            "isa-debug-exit,iobase={:#x},iosize={:#04x}",
            isa_debug_exit::PORT,
            isa_debug_exit::IOSIZE
        );
        assert_eq!(isa_debug_exit::DEVICE, want);
    }
}

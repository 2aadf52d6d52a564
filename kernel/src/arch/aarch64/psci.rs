//! PSCI (Arm Power State Coordination Interface): starting CPUs, power off,
//! reset. Calls go to the firmware or hypervisor through `hvc` or `smc`, as
//! the DTB's `/psci` `method` says (QEMU `virt`: hvc at EL1, smc when the
//! guest owns EL2).

use core::arch::asm;
use core::sync::atomic::{AtomicU8, AtomicU32, Ordering};

use super::dtb::PsciMethod;

const PSCI_VERSION: u32 = 0x8400_0000;
const CPU_OFF: u32 = 0x8400_0002;
/// SMC64 CPU_ON (PSCI 0.2+).
const CPU_ON_64: u32 = 0xC400_0003;
const SYSTEM_OFF: u32 = 0x8400_0008;
const SYSTEM_RESET: u32 = 0x8400_0009;

/// 0 = no PSCI, 1 = hvc, 2 = smc. Set once at boot, before other CPUs run.
static CONDUIT: AtomicU8 = AtomicU8::new(0);
static CPU_ON_ID: AtomicU32 = AtomicU32::new(CPU_ON_64);

pub fn init(method: PsciMethod, cpu_on: Option<u32>) {
    CONDUIT.store(if method == PsciMethod::Hvc { 1 } else { 2 }, Ordering::Relaxed);
    if let Some(id) = cpu_on {
        CPU_ON_ID.store(id, Ordering::Relaxed);
    }
}

pub fn available() -> bool {
    CONDUIT.load(Ordering::Relaxed) != 0
}

/// A PSCI error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PsciError(pub i64);

impl core::fmt::Display for PsciError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let name = match self.0 {
            -1 => "NOT_SUPPORTED",
            -2 => "INVALID_PARAMETERS",
            -3 => "DENIED",
            -4 => "ALREADY_ON",
            -5 => "ON_PENDING",
            -6 => "INTERNAL_FAILURE",
            -7 => "NOT_PRESENT",
            -8 => "DISABLED",
            -9 => "INVALID_ADDRESS",
            _ => "unknown error",
        };
        write!(f, "PSCI {name} ({})", self.0)
    }
}

fn call(function: u32, a1: u64, a2: u64, a3: u64) -> Result<i64, PsciError> {
    let ret: i64;
    // asm!: aarch64-cpu has no hvc/smc helpers (SMCCC calls).
    match CONDUIT.load(Ordering::Relaxed) {
        // SAFETY: an SMCCC call to the firmware the DTB names; PSCI functions
        // only start/stop CPUs or the system. x0-x17 may be clobbered (SMCCC 1.0).
        1 => unsafe {
            asm!("hvc #0", inlateout("x0") u64::from(function) => ret, in("x1") a1, in("x2") a2, in("x3") a3,
                 clobber_abi("C"), options(nostack))
        },
        // SAFETY: as above, through the secure monitor.
        2 => unsafe {
            asm!("smc #0", inlateout("x0") u64::from(function) => ret, in("x1") a1, in("x2") a2, in("x3") a3,
                 clobber_abi("C"), options(nostack))
        },
        _ => return Err(PsciError(-1)),
    }
    if ret < 0 && function != PSCI_VERSION { Err(PsciError(ret)) } else { Ok(ret) }
}

/// (major, minor), if PSCI is there.
pub fn version() -> Option<(u16, u16)> {
    let v = call(PSCI_VERSION, 0, 0, 0).ok()?;
    (v >= 0).then_some(((v >> 16) as u16, v as u16))
}

/// Starts the CPU `mpidr` at physical address `entry` with x0 = `context`.
pub fn cpu_on(mpidr: u64, entry: u64, context: u64) -> Result<(), PsciError> {
    call(CPU_ON_ID.load(Ordering::Relaxed), mpidr, entry, context).map(|_| ())
}

/// Stops the calling CPU for good (returns only on failure).
pub fn cpu_off() -> PsciError {
    match call(CPU_OFF, 0, 0, 0) {
        Err(e) => e,
        Ok(_) => PsciError(-6),
    }
}

/// Asks the firmware to power the machine off (PSCI 1.1, DEN0022, 5.10
/// SYSTEM_OFF). PSCI says the call does not return; returning anyway with
/// no error code (`Ok`) means the request may still be pending (a
/// hypervisor that handles power-off asynchronously): the caller waits a
/// bounded time before calling it a failure. `Err` is the error code the
/// firmware returned (for example NOT_SUPPORTED, or no PSCI at all).
pub fn system_off() -> Result<(), PsciError> {
    call(SYSTEM_OFF, 0, 0, 0).map(|_| ())
}

/// Resets the machine (returns only on failure).
pub fn system_reset() -> PsciError {
    match call(SYSTEM_RESET, 0, 0, 0) {
        Err(e) => e,
        Ok(_) => PsciError(-6),
    }
}

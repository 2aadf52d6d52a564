//! Which instructions atomic read-modify-writes use: LSE (ARMv8.1 `ldadd`,
//! `swp`, `cas`, ...) where the CPU has them, LL/SC loops (`ldxr`/`stxr`)
//! where it does not, chosen once at boot (docs/decisions/outline-atomics.md).
//!
//! The default image is built with `+outline-atomics` (.cargo/config.toml):
//! LLVM compiles every atomic add, and, or, xor, swap and compare-exchange
//! as a call to a helper, `__aarch64_{cas,swp,ldadd,ldclr,ldeor,ldset}N_ORDER`.
//! The helpers come with the toolchain's `compiler_builtins` for
//! `aarch64-unknown-none` (compiler-rt's `lse.S`): each loads the byte
//! `__aarch64_have_lse_atomics` and runs one LSE instruction when it is
//! non-zero, else the equivalent LL/SC loop. On a hosted target a
//! constructor sets that byte from the OS's hwcaps; this kernel has no
//! constructors and no OS, so [`select`] sets it from ID_AA64ISAR0_EL1,
//! first thing on the boot CPU. Until then every helper takes the LL/SC
//! path, which every ARMv8 CPU has, so there is no window in which an
//! atomic could fault.
//!
//! Two comparison builds exist (`LSE=1` / `LSE=0`, mk/aarch64.mk): inline
//! LSE (`+lse`: no helpers, single instructions; needs ARMv8.1, and
//! [`select`] refuses a CPU without LSE) and inline LL/SC
//! (`-outline-atomics`: no helpers, runs everywhere, never uses LSE).

use core::sync::atomic::{AtomicU8, Ordering};

use super::cpu;

unsafe extern "C" {
    /// compiler-rt's flag (a C `_Bool`, hidden, in .bss, so 0 until
    /// [`select`]): non-zero makes the outline helpers use LSE. Declared
    /// as an `AtomicU8` so that it is read and written with plain byte
    /// loads and stores (never a read-modify-write, which would call the
    /// helpers themselves), exactly as the helpers read it (`ldrb`).
    static __aarch64_have_lse_atomics: AtomicU8;
}

/// How this image does atomic read-modify-writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Atomics {
    /// Outline helpers, LSE path (the CPU has LSE).
    OutlineLse,
    /// Outline helpers, LL/SC path (the CPU has no LSE).
    OutlineLlsc,
    /// Inline LSE instructions (`LSE=1` build).
    InlineLse,
    /// Inline LL/SC loops (`LSE=0` build).
    InlineLlsc,
}

impl Atomics {
    /// For the banner and the bench metadata.
    pub fn describe(self) -> &'static str {
        match self {
            Atomics::OutlineLse => {
                "LSE (ldadd / swp / cas), chosen at boot (outline helpers; the CPU has LSE)"
            }
            Atomics::OutlineLlsc => {
                "LL/SC (ldxr / stxr loops), chosen at boot (outline helpers; the CPU has no LSE)"
            }
            Atomics::InlineLse => "LSE (ldadd / swp / cas), inline (LSE=1 build, ARMv8.1+ only)",
            Atomics::InlineLlsc => "LL/SC (ldxr / stxr loops), inline (LSE=0 build)",
        }
    }

    /// True when read-modify-writes run LSE instructions.
    pub fn uses_lse(self) -> bool {
        matches!(self, Atomics::OutlineLse | Atomics::InlineLse)
    }
}

/// True when this image calls the outline helpers (the default build).
pub const OUTLINE: bool =
    cfg!(all(target_feature = "outline-atomics", not(target_feature = "lse")));

/// The outline helpers' flag as they see it now.
pub fn helpers_use_lse() -> bool {
    // SAFETY: a byte-sized static of compiler_builtins that lives for the
    // whole run; an `AtomicU8` has the layout of a `u8`.
    // Relaxed: pairs with the Relaxed store in `select`/`set_helpers_lse`;
    // the flag orders nothing, each helper is correct on either path.
    unsafe { __aarch64_have_lse_atomics.load(Ordering::Relaxed) != 0 }
}

/// Points the outline helpers at LSE (`true`) or LL/SC (`false`).
///
/// # Safety
/// `true` only on a system whose every CPU has LSE (the instructions are
/// UNDEFINED otherwise). Either value is otherwise safe at any time, also
/// while other CPUs run helpers: LSE and LL/SC read-modify-writes of the
/// same location are atomic with respect to each other.
pub unsafe fn set_helpers_lse(lse: bool) {
    // SAFETY: as in `helpers_use_lse`.
    // Relaxed: read by every helper call (an `ldrb`, no ordering); a CPU
    // started later sees it: `start_one` (smp.rs) cleans the start record
    // with a `dsb sy` after it, before PSCI CPU_ON, and the secondary's
    // first helper call comes after its start, with its caches on.
    unsafe { __aarch64_have_lse_atomics.store(u8::from(lse), Ordering::Relaxed) }
}

/// What the running image uses, from the build and (outline) the flag.
pub fn in_use() -> Atomics {
    if cfg!(target_feature = "lse") {
        Atomics::InlineLse
    } else if OUTLINE {
        if helpers_use_lse() { Atomics::OutlineLse } else { Atomics::OutlineLlsc }
    } else {
        Atomics::InlineLlsc
    }
}

/// Chooses the atomics for this boot from the boot CPU's ID_AA64ISAR0_EL1
/// (its `Atomic` field). Called by the boot CPU before any other CPU runs
/// and before anything needs an atomic read-modify-write to be fast.
///
/// # Errors
/// An inline-LSE image (`LSE=1`) on a CPU without LSE: it cannot run (the
/// first read-modify-write would be UNDEFINED), so the caller must stop.
pub fn select() -> Result<Atomics, &'static str> {
    let lse = cpu::has_lse();
    if cfg!(target_feature = "lse") && !lse {
        return Err("this image was built with inline LSE atomics (LSE=1) and this CPU has none; \
                    boot the default image (LSE chosen at boot) or an LSE=0 build");
    }
    if OUTLINE {
        // SAFETY: `lse` is this CPU's ID register; the other CPUs are
        // assumed alike (smp.rs refuses a secondary without LSE when LSE
        // was chosen).
        unsafe { set_helpers_lse(lse) };
    }
    Ok(in_use())
}

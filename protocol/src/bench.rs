//! The records of a bench boot (`bench` mode).
//!
//! Besides its markdown tables the kernel prints one line per figure:
//! [`PREFIX`] and a flat JSON object ([`Record`]), e.g.
//!
//! ```text
//! BENCH {"bench":"meta","arch":"x86_64","cpus":4,"cycles_per_us":2400,"atomics":"lock xadd / lock cmpxchg","scheme":"frozen-bit"}
//! BENCH {"bench":"get_put","variant":"frozen","cpus":2,"ops_per_cpu":100000,"cycles_per_op":41.20,"ns_per_op":17.17}
//! ```
//!
//! (inside the KTAP block as a diagnostic, `    # BENCH {...}`). The host's
//! `bench-report` (`bench-host/src/kernel_log.rs`) reads them by the [`field`]
//! names. The variant names ([`variant`]) are shared with `bench-host`, so
//! the in-kernel and host benchmarks name the things they compare alike.

use core::fmt::{self, Write as _};

/// Starts every record line; the JSON object follows.
pub const PREFIX: &str = "BENCH ";

/// The `bench` value of the one record describing the machine (fields
/// [`field::ARCH`], [`field::CPUS`], [`field::CPU_MODEL`], [`field::CYCLES_PER_US`],
/// [`field::ATOMICS`], [`field::SCHEME`]).
pub const META: &str = "meta";

/// The `bench` value of the fragmentation record (fields
/// [`field::HELD_PAGES`], [`field::FREE_PAGES`], [`field::BIG_BLOCK_SHARE`]
/// instead of timings).
pub const FRAGMENTATION: &str = "fragmentation";

/// Field names of the records.
pub mod field {
    /// Which benchmark (text): a workload name, [`super::META`] or
    /// [`super::FRAGMENTATION`].
    pub const BENCH: &str = "bench";
    /// Which implementation was measured (text, [`super::variant`]).
    pub const VARIANT: &str = "variant";
    /// CPUs that ran the workload at once (integer, >= 1); in the meta
    /// record the CPUs online.
    pub const CPUS: &str = "cpus";
    /// Operations each CPU did (integer).
    pub const OPS_PER_CPU: &str = "ops_per_cpu";
    /// Cycle-counter ticks per operation (number, two decimals).
    pub const CYCLES_PER_OP: &str = "cycles_per_op";
    /// Nanoseconds per operation (number, two decimals).
    pub const NS_PER_OP: &str = "ns_per_op";
    /// Meta: the architecture (text, `x86_64` or `aarch64`).
    pub const ARCH: &str = "arch";
    /// Meta: the CPU model as the CPU names itself (text; CPUID brand
    /// string, or MIDR implementer and part on aarch64).
    pub const CPU_MODEL: &str = "cpu_model";
    /// Meta: cycle-counter ticks per microsecond (integer, >= 1).
    pub const CYCLES_PER_US: &str = "cycles_per_us";
    /// Meta: how the atomics are implemented (text).
    pub const ATOMICS: &str = "atomics";
    /// Meta: the refcount scheme the image was built with (text).
    pub const SCHEME: &str = "scheme";
    /// Fragmentation: pages held while measuring (integer).
    pub const HELD_PAGES: &str = "held_pages";
    /// Fragmentation: free pages (integer).
    pub const FREE_PAGES: &str = "free_pages";
    /// Fragmentation: percent of the free pages in order-9 and order-10
    /// blocks (number, two decimals, 0 to 100).
    pub const BIG_BLOCK_SHARE: &str = "big_block_share";
}

/// Variant names both benchmark suites use.
pub mod variant {
    /// The frozen-bit refcount in the series' layout (FROZEN `0x8000_0000`).
    pub const FROZEN: &str = "frozen";
    /// The frozen-bit refcount with FROZEN mid-range (`0xC000_0000`), the
    /// kernel's default.
    pub const FROZEN_MID: &str = "frozen-mid";
    /// `frozen-mid` whose put of the only reference is one compare-exchange
    /// to FROZEN.
    pub const FROZEN_MID_DIRECT: &str = "frozen-mid-direct";
    /// `frozen` (the series' layout) with the direct single put.
    pub const FROZEN_DIRECT: &str = "frozen-direct";
    /// `frozen-low` with the direct single put.
    pub const FROZEN_LOW_DIRECT: &str = "frozen-low-direct";
    /// `live` with the direct single put.
    pub const LIVE_DIRECT: &str = "live-direct";
    /// `live-low` with the direct single put.
    pub const LIVE_LOW_DIRECT: &str = "live-low-direct";
    /// The frozen-bit refcount with the flag in bit 0 (counts in steps of 2).
    pub const FROZEN_LOW: &str = "frozen-low";
    /// The inverted layout: bit 31 set means owned, 0 is frozen.
    pub const LIVE: &str = "live";
    /// The inverted layout in bit 0: bit 0 set means owned, 0 is frozen.
    pub const LIVE_LOW: &str = "live-low";
    /// The classic "zero is dead" CAS-loop refcount.
    pub const LEGACY: &str = "legacy";
    /// The CAS loop whose first CAS guesses a count of 1 (no load).
    pub const LEGACY_OPTIMISTIC: &str = "legacy-optimistic";
    /// The peer allocator (`buddy_system_allocator` behind a spin lock).
    pub const PEER: &str = "peer";
}

/// A field's value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    /// Text, written as a JSON string (escaped).
    Text(&'a str),
    /// A whole number.
    Int(u64),
    /// A number written with two decimals; not finite (NaN, infinite)
    /// is written `null`.
    Fixed2(f64),
}

/// One record line ([`fmt::Display`]): [`PREFIX`], then `{"name":value,...}`
/// with the fields in order. Names are written as given (they are the
/// [`field`] constants); text values are JSON-escaped.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a>(pub &'a [(&'a str, Value<'a>)]);

impl fmt::Display for Record<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(PREFIX)?;
        f.write_char('{')?;
        for (i, (name, value)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_char(',')?;
            }
            json_string(f, name)?;
            f.write_char(':')?;
            match *value {
                Value::Text(s) => json_string(f, s)?,
                Value::Int(n) => write!(f, "{n}")?,
                Value::Fixed2(x) if x.is_finite() => write!(f, "{x:.2}")?,
                Value::Fixed2(_) => f.write_str("null")?,
            }
        }
        f.write_char('}')
    }
}

/// `s` as a JSON string: quotes, `\"`, `\\`, control characters as `\u00XX`.
fn json_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records() {
        let r = Record(&[
            (field::BENCH, Value::Text("get_put")),
            (field::VARIANT, Value::Text(variant::FROZEN)),
            (field::CPUS, Value::Int(2)),
            (field::OPS_PER_CPU, Value::Int(100_000)),
            (field::CYCLES_PER_OP, Value::Fixed2(41.2)),
            (field::NS_PER_OP, Value::Fixed2(17.166)),
        ]);
        assert_eq!(
            r.to_string(),
            r#"BENCH {"bench":"get_put","variant":"frozen","cpus":2,"ops_per_cpu":100000,"cycles_per_op":41.20,"ns_per_op":17.17}"#
        );
        assert_eq!(Record(&[]).to_string(), "BENCH {}");
        let r = Record(&[("a", Value::Text("q\"b\\\n")), ("n", Value::Fixed2(f64::NAN))]);
        assert_eq!(r.to_string(), r#"BENCH {"a":"q\"b\\\u000a","n":null}"#);
    }
}

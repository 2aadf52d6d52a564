//! `make asm`: every refcount operation of every scheme as its own
//! out-of-line symbol (`refcount_<op>_<scheme>`), so the code the compiler
//! makes of it after inlining the scheme into a caller can be read and
//! counted (`bench-host`'s `asm-report`, docs/refcount.md "Which layout").
//!
//! Each probe is what a caller inlines: a speculative get of 1
//! (`get_page_unless_frozen`), a put of 1 that reports whether it was the
//! last (`put_page`; the misuse path is a cold call), a freeze of count 1, an
//! unfreeze to 1, and `page_count`. The cold paths (scrub, repairs) stay out
//! of the counts: they are the schemes' own functions, not the probes'.

#![no_std]

use core::sync::atomic::AtomicU32;
use mm::RefcountScheme;

/// The five probes of one scheme.
macro_rules! probes {
    ($($scheme:ident: $s:ty => $get:ident, $put:ident, $freeze:ident, $unfreeze:ident, $count:ident;)*) => {$(
        /// Speculative get of one reference.
        #[unsafe(no_mangle)]
        #[inline(never)]
        pub extern "C" fn $get(c: &AtomicU32) -> bool {
            <$s>::add_unless_frozen(c, 1)
        }
        /// Put of one reference; true if it was the last.
        #[unsafe(no_mangle)]
        #[inline(never)]
        pub extern "C" fn $put(c: &AtomicU32) -> bool {
            matches!(<$s>::sub_and_test(c, 1), Ok(true))
        }
        /// Freeze a page holding exactly one reference.
        #[unsafe(no_mangle)]
        #[inline(never)]
        pub extern "C" fn $freeze(c: &AtomicU32) -> bool {
            <$s>::freeze(c, 1)
        }
        /// Unfreeze to one reference.
        #[unsafe(no_mangle)]
        #[inline(never)]
        pub extern "C" fn $unfreeze(c: &AtomicU32) -> bool {
            <$s>::unfreeze(c, 1)
        }
        /// `page_count`.
        #[unsafe(no_mangle)]
        #[inline(never)]
        pub extern "C" fn $count(c: &AtomicU32) -> u32 {
            <$s>::count(c)
        }
    )*};
}

probes! {
    frozen_bit: mm::Frozen => refcount_get_frozen_bit, refcount_put_frozen_bit, refcount_freeze_frozen_bit, refcount_unfreeze_frozen_bit, refcount_count_frozen_bit;
    frozen_mid_direct: mm::FrozenMidDirect => refcount_get_frozen_mid_direct, refcount_put_frozen_mid_direct, refcount_freeze_frozen_mid_direct, refcount_unfreeze_frozen_mid_direct, refcount_count_frozen_mid_direct;
    frozen_bit_direct: mm::FrozenDirect => refcount_get_frozen_bit_direct, refcount_put_frozen_bit_direct, refcount_freeze_frozen_bit_direct, refcount_unfreeze_frozen_bit_direct, refcount_count_frozen_bit_direct;
    frozen_low_direct: mm::FrozenLowDirect => refcount_get_frozen_low_direct, refcount_put_frozen_low_direct, refcount_freeze_frozen_low_direct, refcount_unfreeze_frozen_low_direct, refcount_count_frozen_low_direct;
    live_bit_direct: mm::LiveHighDirect => refcount_get_live_bit_direct, refcount_put_live_bit_direct, refcount_freeze_live_bit_direct, refcount_unfreeze_live_bit_direct, refcount_count_live_bit_direct;
    live_low_direct: mm::LiveLowDirect => refcount_get_live_low_direct, refcount_put_live_low_direct, refcount_freeze_live_low_direct, refcount_unfreeze_live_low_direct, refcount_count_live_low_direct;
    frozen_mid: mm::FrozenMid => refcount_get_frozen_mid, refcount_put_frozen_mid, refcount_freeze_frozen_mid, refcount_unfreeze_frozen_mid, refcount_count_frozen_mid;
    frozen_low: mm::FrozenLow => refcount_get_frozen_low, refcount_put_frozen_low, refcount_freeze_frozen_low, refcount_unfreeze_frozen_low, refcount_count_frozen_low;
    live_bit: mm::LiveHigh => refcount_get_live_bit, refcount_put_live_bit, refcount_freeze_live_bit, refcount_unfreeze_live_bit, refcount_count_live_bit;
    live_low: mm::LiveLow => refcount_get_live_low, refcount_put_live_low, refcount_freeze_live_low, refcount_unfreeze_live_low, refcount_count_live_low;
    legacy: mm::Legacy => refcount_get_legacy, refcount_put_legacy, refcount_freeze_legacy, refcount_unfreeze_legacy, refcount_count_legacy;
    legacy_optimistic: mm::LegacyOptimistic => refcount_get_legacy_optimistic, refcount_put_legacy_optimistic, refcount_freeze_legacy_optimistic, refcount_unfreeze_legacy_optimistic, refcount_count_legacy_optimistic;
}

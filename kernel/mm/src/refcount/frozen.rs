//! The frozen-bit refcount (refcount.md; LKML "mm: implement page refcount
//! locking via dedicated bit") in every layout the series left open: which
//! bit carries the flag, which polarity it has, and what a frozen page holds.
//!
//! One flag bit (`FLAG`: bit 31, or bit 0 with counts in steps of 2) tells
//! owned from frozen; `LIVE` says whether a set flag means owned (the
//! inverted, "live-bit" layouts, in which 0 and zero-filled memory are
//! frozen) or frozen (the series'). A count `c` is stored as
//! `ZERO + c * UNIT`, where `ZERO` is the owned value of count 0 (the
//! transient state inside a last put) and `UNIT` is 1 (flag in bit 31) or 2
//! (flag in bit 0). A frozen page holds `BASE`.
//!
//! ```text
//! layout            flag  set means  FROZEN (BASE)  owned count c  leftovers of a failed get / an over-put
//! frozen-bit        31    frozen     0x8000_0000    c              + up to the scrub limit / - : OWNED at once
//! frozen-bit-mid    31    frozen     0xC000_0000    c              + scrubbed at 0xE000_0000 / - 2^30 of room
//! frozen-bit-low    0     frozen     0x0000_0001    2c             +-2: parity kept, never owned, no scrub
//! live-bit          31    owned      0x0000_0000    0x8000_0000+c  + scrubbed at 0x4000_0000 / - : wraps to OWNED
//! live-bit-low      0     owned      0x0000_0000    2c+1           +-2: parity kept, never owned, no scrub
//! ```
//!
//! Each layout also comes with the direct single put (`DIRECT`, the
//! `-direct` schemes): a put that finds exactly one reference moves it to
//! FROZEN with one compare-exchange.
//!
//! Every layout runs the same protocol: a speculative get is one `fetch_add`
//! checked afterwards, a put one `fetch_sub`, the last put a compare-exchange
//! from count 0 to FROZEN. docs/refcount.md ("Which layout") compares them on
//! speed, generated code and robustness to misuse.

use super::{MAX_COUNT, MAX_REF_NR, RefcountBug, RefcountBugKind, RefcountScheme};
use crate::sync::{AtomicU32, Ordering::*, store_refcount};

/// A frozen-bit layout: the flag `FLAG` (`1 << 31` or `1`), its polarity
/// (`LIVE`: a set flag means owned), and the value of a frozen page
/// (`BASE`); `DIRECT`: a put that finds exactly one reference moves it
/// straight to FROZEN with one compare-exchange (as Linux's
/// `file_ref_put_close` does) instead of the series' `fetch_sub` and then a
/// compare-exchange from 0. The sealed trait admits only the layouts named
/// below.
#[derive(Clone, Copy, Debug, Default)]
pub struct FrozenBit<const FLAG: u32, const LIVE: bool, const BASE: u32, const DIRECT: bool = false>;

/// The series' layout: bit 31 set = frozen, FROZEN = `0x8000_0000`.
pub type Frozen = FrozenBit<0x8000_0000, false, 0x8000_0000>;

/// Bit 31 set = frozen, FROZEN = `0xC000_0000`, the middle of the frozen
/// half: leftovers of either sign stay frozen. The kernel's default
/// (`DefaultScheme`).
pub type FrozenMid = FrozenBit<0x8000_0000, false, 0xC000_0000>;

/// Bit 0 set = frozen, counts in steps of 2, FROZEN = 1: any amount of
/// leftovers of either sign keeps the parity, so no scrub.
pub type FrozenLow = FrozenBit<1, false, 1>;

/// Inverted: bit 31 set = owned, so 0 (and zero-filled memory) is frozen.
pub type LiveHigh = FrozenBit<0x8000_0000, true, 0>;

/// Inverted, bit 0: bit 0 set = owned, counts in steps of 2, FROZEN = 0.
pub type LiveLow = FrozenBit<1, true, 0>;

/// [`FrozenMid`] whose put of a page holding exactly one reference is one
/// compare-exchange `1 -> FROZEN` (falling back to the series' path when the
/// count is not 1): the answer to the review question of what the extra
/// compare-exchange of every last put costs.
pub type FrozenMidDirect = FrozenBit<0x8000_0000, false, 0xC000_0000, true>;

/// [`Frozen`] (the series' layout) with the direct single put.
pub type FrozenDirect = FrozenBit<0x8000_0000, false, 0x8000_0000, true>;

/// [`FrozenLow`] with the direct single put.
pub type FrozenLowDirect = FrozenBit<1, false, 1, true>;

/// [`LiveHigh`] with the direct single put.
pub type LiveHighDirect = FrozenBit<0x8000_0000, true, 0, true>;

/// [`LiveLow`] with the direct single put.
pub type LiveLowDirect = FrozenBit<1, true, 0, true>;

impl<const FLAG: u32, const LIVE: bool, const BASE: u32, const DIRECT: bool>
    FrozenBit<FLAG, LIVE, BASE, DIRECT>
{
    /// Step of one reference: 1 with the flag in bit 31, 2 with it in bit 0.
    pub const UNIT: u32 = if FLAG == 1 { 2 } else { 1 };
    /// The owned value of count 0: the transient state inside a last put
    /// (between its decrement and its CAS to FROZEN), revivable by a get.
    pub const ZERO: u32 = if LIVE { FLAG } else { 0 };
    /// Whether leftovers can walk into the flag (flag in bit 31): then they
    /// are scrubbed. With the flag in bit 0 every change is a multiple of 2
    /// and the parity, which is the flag, never changes.
    const SCRUBS: bool = FLAG != 1;
    /// The highest frozen value reachable by adding leftovers to `BASE`
    /// before the flag flips.
    const FROZEN_TOP: u32 = if LIVE { FLAG - 1 } else { u32::MAX };
    /// Leftovers of failed gets are scrubbed back to `BASE` once the counter
    /// reaches this: halfway from `BASE` to the top of the frozen range
    /// (`0xC000_0000` for [`Frozen`], `0xE000_0000` for [`FrozenMid`],
    /// `0x4000_0000` for [`LiveHigh`]), so 2^29 or more concurrent failed
    /// gets would still be needed to reach the flag. Unused (`u32::MAX`)
    /// with the flag in bit 0.
    pub const SCRUB_LIMIT: u32 =
        if Self::SCRUBS { BASE + ((Self::FROZEN_TOP - BASE) / 2 + 1) } else { u32::MAX };

    #[inline(always)]
    fn frozen(raw: u32) -> bool {
        (raw & FLAG != 0) != LIVE
    }

    /// The stored value of `count` references (`count <= MAX_COUNT`).
    #[inline(always)]
    const fn encode(count: u32) -> u32 {
        Self::ZERO.wrapping_add(count.wrapping_mul(Self::UNIT))
    }

    /// The references an owned value holds.
    #[inline(always)]
    const fn decode(raw: u32) -> u32 {
        raw.wrapping_sub(Self::ZERO) / Self::UNIT
    }

    #[inline(always)]
    fn needs_scrub(v: u32) -> bool {
        Self::SCRUBS && Self::frozen(v) && v >= Self::SCRUB_LIMIT
    }

    /// CAS the counter back to `BASE` while it holds frozen leftovers at or
    /// above the limit. `v` is the value we last saw. Stops as soon as one CAS
    /// succeeds, or the value drops below the limit (another scrubber won) or
    /// turns owned (someone unfroze the page: their count must survive).
    #[cold]
    fn scrub(c: &AtomicU32, mut v: u32) {
        // Relaxed: the CAS only replaces frozen noise by frozen noise; it can
        // never overwrite an owner's count because it succeeds only if the
        // word still holds the frozen value `v`, and it publishes nothing.
        while Self::needs_scrub(v) {
            match c.compare_exchange(v, BASE, Relaxed, Relaxed) {
                Ok(_) => return,
                Err(now) => v = now,
            }
        }
    }

    /// Undo our `d` (= nr * UNIT) from a failed put and make sure no lasting
    /// count 0 is left behind: a count 0 that no putter will CAS to FROZEN
    /// could be revived later. If the word ends at count 0 we freeze it
    /// ourselves: the page is then owned by nobody and nobody frees it
    /// (leaked, safe); the caller quarantines it.
    #[cold]
    fn repair_put(c: &AtomicU32, d: u32) {
        // Relaxed: bug path; the value is what matters, not what it publishes.
        let now = c.fetch_add(d, Relaxed).wrapping_add(d);
        if now == Self::ZERO {
            let _ = c.compare_exchange(Self::ZERO, BASE, Relaxed, Relaxed);
        } else if Self::needs_scrub(now) {
            Self::scrub(c, now);
        }
    }

    /// Whether `v = old + d` is a valid owned count grown from the owned
    /// `old`: with the flag in bit 0 an overflow wraps past 2^32 with the
    /// parity kept, so it shows only as a smaller count; in bit 31 it flips
    /// the flag (checked by the caller).
    #[inline(always)]
    fn grew(old: u32, v: u32) -> bool {
        Self::SCRUBS || v.wrapping_sub(Self::ZERO) > old.wrapping_sub(Self::ZERO)
    }
}

impl<const FLAG: u32, const LIVE: bool, const BASE: u32, const DIRECT: bool> RefcountScheme
    for FrozenBit<FLAG, LIVE, BASE, DIRECT>
where
    Self: super::sealed::Sealed,
{
    const NAME: &'static str = match (FLAG, LIVE, BASE, DIRECT) {
        (0x8000_0000, false, 0x8000_0000, false) => "frozen-bit",
        (0x8000_0000, false, 0x8000_0000, true) => "frozen-bit-direct",
        (0x8000_0000, false, _, false) => "frozen-bit-mid",
        (0x8000_0000, false, _, true) => "frozen-bit-mid-direct",
        (1, false, _, false) => "frozen-bit-low",
        (1, false, _, true) => "frozen-bit-low-direct",
        (0x8000_0000, true, _, false) => "live-bit",
        (0x8000_0000, true, _, true) => "live-bit-direct",
        (_, _, _, false) => "live-bit-low",
        (_, _, _, true) => "live-bit-low-direct",
    };
    const FROZEN: u32 = BASE;
    const TRANSIENT_ZERO: bool = true;
    const DIRECT_SINGLE_PUT: bool = DIRECT;
    const SCRUBS_AT: Option<u32> = if Self::SCRUBS { Some(Self::SCRUB_LIMIT) } else { None };

    #[inline]
    fn is_frozen(raw: u32) -> bool {
        Self::frozen(raw)
    }

    #[inline]
    fn raw_of_count(count: u32) -> u32 {
        Self::encode(count)
    }

    #[inline]
    fn add_unless_frozen(c: &AtomicU32, nr: u32) -> bool {
        // Out of the protocol's range (see MAX_REF_NR): refused before any
        // write. With nr a constant 1 (get_page_unless_frozen) this folds away.
        if nr == 0 || nr > MAX_REF_NR {
            return false;
        }
        let d = nr * Self::UNIT;
        // ONE unconditional add, checked afterwards: no loop on the hot path.
        // SeqCst like Linux (which keeps page_ref_add_unless fully ordered);
        // Acquire is what correctness needs: on success it pairs with the
        // Release of the last put / unfreeze / init_page_count that published
        // the page, so we see its contents and the allocator's flag writes.
        let old = c.fetch_add(d, SeqCst);
        let v = old.wrapping_add(d);
        if !Self::frozen(v) {
            if Self::grew(old, v) {
                // Owned (including the revive of a transient count 0: we now
                // own a reference and the stalled putter's CAS will fail).
                return true;
            }
        } else if Self::frozen(old) {
            // Frozen: our increment is a harmless leftover (nobody owns the
            // page, and the next owner overwrites the word). Bound the
            // leftovers.
            if Self::needs_scrub(v) {
                Self::scrub(c, v);
            }
            return false;
        }
        // An owned count pushed over MAX_COUNT: not a frozen page, so our add
        // is no harmless leftover. Undo it (Relaxed: nothing to publish, we
        // take no reference).
        c.fetch_sub(d, Relaxed);
        false
    }

    #[inline]
    fn sub_and_test(c: &AtomicU32, nr: u32) -> Result<bool, RefcountBug> {
        // nr 0 would make a transient 0 look like "our" last put (and steal
        // another putter's free); checked in every build.
        if nr == 0 || nr > MAX_REF_NR {
            return Err(RefcountBug {
                raw: c.load(Relaxed),
                kind: RefcountBugKind::InvalidArgument,
            });
        }
        let d = nr * Self::UNIT;
        if DIRECT && nr == 1 {
            // Relaxed load: only a guess for the compare-exchange, which
            // checks it.
            let one = Self::encode(1);
            // Acquire on success: we are the last holder and the freer, so we
            // acquire the Release decrements of every holder before us (the
            // 1 we replace continues their release sequence). No Release: a
            // successful exchange makes us the freer, our own writes to the
            // page come before our free in program order, and a getter that
            // loses to it finds FROZEN and reads nothing (the ordering
            // mutation run found AcqRel buys nothing here). Relaxed on
            // failure: the series' path below orders itself.
            if c.load(Relaxed) == one && c.compare_exchange(one, BASE, Acquire, Relaxed).is_ok() {
                return Ok(true);
            }
        }
        // Release: our reads and writes of the page happen before whoever
        // frees it. No Acquire needed here: only the freer needs it, and the
        // freer always goes through the CAS below, whose Acquire reads the
        // value our decrement wrote, which continues the release sequence of
        // every earlier decrement (docs/refcount.md, "Orderings").
        let old = c.fetch_sub(d, Release);
        if old == Self::ZERO.wrapping_add(d) {
            // Count hit 0. Claim the free: count 0 -> FROZEN. Acquire on
            // success: pairs with the Release decrements of every other holder
            // (and of a reviver whose put left the 0 we now see, in the ABA
            // case: see README "last-put ABA"). If it fails, a speculative
            // getter revived the page 0 -> 1 and owns it now.
            let won = c.compare_exchange(Self::ZERO, BASE, Acquire, Relaxed).is_ok();
            #[cfg(loom)]
            if !won {
                loom_probe::REVIVED_IN_PUT.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
            }
            return Ok(won);
        }
        if !Self::frozen(old) && Self::decode(old) > nr {
            return Ok(false);
        }
        // Misuse: a put on a frozen page (the subtraction stayed frozen if
        // the layout leaves room for it: see the module docs) or more
        // references than the page has. Undo our subtraction.
        let kind = if Self::frozen(old) {
            RefcountBugKind::PutOnFrozen
        } else {
            RefcountBugKind::Underflow
        };
        Self::repair_put(c, d);
        Err(RefcountBug { raw: old, kind })
    }

    #[inline]
    fn get(c: &AtomicU32) -> Result<(), RefcountBug> {
        // Relaxed, like Linux's page_ref_inc: the caller already holds a
        // reference, so the page cannot change owner under us; nothing to
        // order against.
        let old = c.fetch_add(Self::UNIT, Relaxed);
        let v = old.wrapping_add(Self::UNIT);
        if old != Self::ZERO && !Self::frozen(old) && !Self::frozen(v) && Self::grew(old, v) {
            return Ok(());
        }
        Err(Self::repair_get(c, old))
    }

    #[inline]
    fn freeze(c: &AtomicU32, expected: u32) -> bool {
        // expected 0 would freeze a putter's transient 0 and steal its free.
        if expected == 0 || expected > MAX_COUNT {
            return false;
        }
        // Acquire: the freezer sees the writes of every reference holder that
        // dropped out before (their puts are Release). No Release needed: a
        // frozen page is exclusively the freezer's; what it wrote before
        // reaches the next user through its unfreeze (Release) or through the
        // allocator's locks when it frees the page.
        c.compare_exchange(Self::encode(expected), BASE, Acquire, Relaxed).is_ok()
    }

    #[inline]
    fn try_unfreeze(c: &AtomicU32, count: u32) -> Result<(), RefcountBug> {
        if count == 0 || count > MAX_COUNT {
            // 0 would be a lasting 0: revivable by a speculative get while the
            // frozen owner still holds the page.
            return Err(RefcountBug {
                raw: c.load(Relaxed),
                kind: RefcountBugKind::InvalidArgument,
            });
        }
        // Replace whatever frozen value is there (FROZEN + leftovers) by
        // `count`, but only a frozen value: a compare-exchange detects exactly
        // that the page was not frozen (a live count, or a lasting 0) and
        // leaves it untouched. It retries only while failed gets keep adding
        // leftovers (bounded by the CPUs).
        // Release on success: publishes everything the freezer did; a
        // speculative getter whose add succeeds on `count` acquires it.
        let mut v = c.load(Relaxed);
        loop {
            if !Self::frozen(v) {
                return Err(RefcountBug { raw: v, kind: RefcountBugKind::UnfreezeNotFrozen });
            }
            match c.compare_exchange_weak(v, Self::encode(count), Release, Relaxed) {
                Ok(_) => return Ok(()),
                Err(now) => v = now,
            }
        }
    }

    #[inline]
    fn set_frozen(c: &AtomicU32) {
        // Relaxed: only on allocator init paths, under the zone lock or before
        // the descriptor is published; the lock provides the ordering.
        store_refcount(c, BASE, Relaxed);
    }

    #[inline]
    fn init_count(c: &AtomicU32) {
        // Release: a stale speculative getter that succeeds on this 1 (case 3
        // in refcount.md) acquires the allocator's flag writes (PG_head, order).
        store_refcount(c, Self::encode(1), Release);
    }

    #[inline]
    fn count(c: &AtomicU32) -> u32 {
        // Relaxed like Linux's page_count: a snapshot, not a synchronisation.
        let v = c.load(Relaxed);
        if Self::frozen(v) { 0 } else { Self::decode(v) }
    }
}

/// Test-only instrumentation for the loom models (`--cfg loom`): proves that
/// a model explored a given interleaving of the real code.
#[cfg(loom)]
pub mod loom_probe {
    /// Times a last put's `0 -> FROZEN` CAS failed because a speculative get
    /// revived the page `0 -> 1` in between (refcount.md case 1).
    pub static REVIVED_IN_PUT: core::sync::atomic::AtomicUsize =
        core::sync::atomic::AtomicUsize::new(0);
}

impl<const FLAG: u32, const LIVE: bool, const BASE: u32, const DIRECT: bool>
    FrozenBit<FLAG, LIVE, BASE, DIRECT>
where
    Self: super::sealed::Sealed,
{
    /// `get` found no reference (`old` frozen or count 0) or overflowed.
    #[cold]
    fn repair_get(c: &AtomicU32, old: u32) -> RefcountBug {
        if old == Self::ZERO {
            // We turned a count 0 (a putter's transient 0 or a lasting one)
            // into 1, so in the protocol's eyes we revived the page and own
            // the free. Drop the reference again; if that makes us the freer,
            // the page is left FROZEN with nobody freeing it: leaked, never
            // revived.
            let _ = Self::sub_and_test(c, 1);
            RefcountBug { raw: old, kind: RefcountBugKind::GetWithoutRef }
        } else if Self::frozen(old) {
            // A harmless leftover on a frozen page; keep leftovers bounded.
            let now = old.wrapping_add(Self::UNIT);
            if Self::needs_scrub(now) {
                Self::scrub(c, now);
            }
            RefcountBug { raw: old, kind: RefcountBugKind::GetWithoutRef }
        } else {
            // The largest count + 1 left the owned range: undo.
            c.fetch_sub(Self::UNIT, Relaxed);
            RefcountBug { raw: old, kind: RefcountBugKind::Overflow }
        }
    }
}

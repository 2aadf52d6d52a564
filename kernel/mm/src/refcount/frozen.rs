//! The frozen-bit refcount (refcount.md; LKML "mm: implement page refcount
//! locking via dedicated bit"), with the value a frozen page is set to
//! (`BASE`) as a parameter.
//!
//! ```text
//! 1 ..= 0x7FFF_FFFF        owned: that many references
//! 0                        transient, inside the last put (decrement done,
//!                          0 -> FROZEN CAS not yet); a lasting 0 is a bug
//! 0x8000_0000 ..= u32::MAX frozen (bit 31 set): owned by nobody
//!   BASE (= FROZEN)        what set_page_count_frozen, freeze and the last
//!                          put store
//!   above BASE             + leftovers of failed gets (and of get_page
//!                          misuse), scrubbed back to BASE at SCRUB_LIMIT
//!   below BASE             - over-puts on a frozen page (misuse), in flight
//!                          until the put undoes its own subtraction
//! ```
//!
//! Two bases are schemes:
//!
//! * [`Frozen`] (`BASE = 0x8000_0000`, the series' layout): no room below
//!   the base. A put of 2 on a free page (a stale double put) leaves
//!   `0x7FFF_FFFE` for the instant between its subtraction and its repair:
//!   an owned count, so a concurrent innocent speculative get succeeds on a
//!   free page and later puts that reference into the page's next owner.
//! * [`FrozenMid`] (`BASE = 0xC000_0000`, the kernel's default): 2^30 of room
//!   on each side, so neither leftovers of failed gets nor over-puts in flight
//!   (at most `NR_CPUS * MAX_REF_NR` of either) can leave the frozen half.
//!   Every operation is the same instruction sequence as [`Frozen`]'s with
//!   another immediate (docs/refcount.md, "Which layout").

use super::{MAX_COUNT, MAX_REF_NR, RefcountBug, RefcountBugKind, RefcountScheme};
use crate::sync::{AtomicU32, Ordering::*, store_refcount};

/// The frozen-bit scheme: bit 31 set = owned by nobody; a frozen page is set
/// to `BASE` (`0x8000_0000` or `0xC000_0000`: the sealed trait admits only
/// [`Frozen`] and [`FrozenMid`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct FrozenBit<const BASE: u32>;

/// The series' layout: FROZEN = `0x8000_0000` (bit 31 alone).
pub type Frozen = FrozenBit<0x8000_0000>;

/// FROZEN in the middle of the frozen half, `0xC000_0000`: leftovers of
/// either sign stay frozen. The kernel's default (`DefaultScheme`).
pub type FrozenMid = FrozenBit<0xC000_0000>;

/// The flag: bit 31 set means frozen, whatever the base.
const FROZEN_BIT: u32 = 0x8000_0000;

impl<const BASE: u32> FrozenBit<BASE> {
    /// Leftovers of failed gets are scrubbed back to `BASE` once the counter
    /// reaches this: halfway from `BASE` to the top of the range
    /// (`0xC000_0000` for [`Frozen`], `0xE000_0000` for [`FrozenMid`]), so
    /// 2^30 resp. 2^29 concurrent failed gets would still be needed to wrap
    /// into "owned".
    pub const SCRUB_LIMIT: u32 = BASE + ((u32::MAX - BASE) / 2 + 1);

    /// CAS the counter back to FROZEN while it holds frozen leftovers at or
    /// above the limit. `v` is the value we last saw. Stops as soon as one CAS
    /// succeeds, or the value drops below the limit (another scrubber won) or
    /// loses FROZEN (someone unfroze the page: their count must survive).
    #[cold]
    fn scrub(c: &AtomicU32, mut v: u32) {
        // Relaxed: the CAS only replaces frozen noise by frozen noise; it can
        // never overwrite an owner's count because it succeeds only if the
        // word still holds the frozen value `v`, and it publishes nothing.
        while v >= Self::SCRUB_LIMIT {
            match c.compare_exchange(v, BASE, Relaxed, Relaxed) {
                Ok(_) => return,
                Err(now) => v = now,
            }
        }
    }

    /// Undo our `nr` from a failed put and make sure no lasting 0 is left
    /// behind: a 0 that no putter will CAS to FROZEN could be revived later.
    /// If the word ends at 0 we freeze it ourselves: the page is then owned by
    /// nobody and nobody frees it (leaked, safe); the caller quarantines it.
    #[cold]
    fn repair_put(c: &AtomicU32, nr: u32) {
        // Relaxed: bug path; the value is what matters, not what it publishes.
        let now = c.fetch_add(nr, Relaxed).wrapping_add(nr);
        if now == 0 {
            let _ = c.compare_exchange(0, BASE, Relaxed, Relaxed);
        } else if now >= Self::SCRUB_LIMIT {
            Self::scrub(c, now);
        }
    }
}

impl<const BASE: u32> RefcountScheme for FrozenBit<BASE>
where
    Self: super::sealed::Sealed,
{
    const NAME: &'static str = if BASE == FROZEN_BIT { "frozen-bit" } else { "frozen-bit-mid" };
    const FROZEN: u32 = BASE;

    #[inline]
    fn is_frozen(raw: u32) -> bool {
        raw & FROZEN_BIT != 0
    }

    #[inline]
    fn add_unless_frozen(c: &AtomicU32, nr: u32) -> bool {
        // Out of the protocol's range (see MAX_REF_NR): refused before any
        // write. With nr a constant 1 (get_page_unless_frozen) this folds away.
        if nr == 0 || nr > MAX_REF_NR {
            return false;
        }
        // ONE unconditional add, checked afterwards: no loop on the hot path.
        // SeqCst like Linux (which keeps page_ref_add_unless fully ordered);
        // Acquire is what correctness needs: on success it pairs with the
        // Release of the last put / unfreeze / init_page_count that published
        // the page, so we see its contents and the allocator's flag writes.
        let old = c.fetch_add(nr, SeqCst);
        let v = old.wrapping_add(nr);
        if v & FROZEN_BIT == 0 {
            // Owned (including the revive of a transient 0: we now own a
            // reference and the stalled putter's 0 -> FROZEN CAS will fail).
            return true;
        }
        if old & FROZEN_BIT == 0 {
            // An owned count pushed over MAX_COUNT: not a frozen page, so our
            // add is no harmless leftover. Undo it (Relaxed: nothing to
            // publish, we take no reference).
            c.fetch_sub(nr, Relaxed);
            return false;
        }
        // Frozen: our increment is a harmless leftover (nobody owns the page,
        // and the next owner overwrites the word). Bound the leftovers.
        if v >= Self::SCRUB_LIMIT {
            Self::scrub(c, v);
        }
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
        // Release: our reads and writes of the page happen before whoever
        // frees it. No Acquire needed here: only the freer needs it, and the
        // freer always goes through the CAS below, whose Acquire reads the
        // value our decrement wrote, which continues the release sequence of
        // every earlier decrement (docs/refcount.md, "Orderings").
        let old = c.fetch_sub(nr, Release);
        if old == nr {
            // Count hit 0. Claim the free: 0 -> FROZEN. Acquire on success:
            // pairs with the Release decrements of every other holder (and of
            // a reviver whose put left the 0 we now see, in the ABA case: see
            // README "last-put ABA"). If it fails, a speculative getter revived
            // the page 0 -> 1 and owns it now.
            let won = c.compare_exchange(0, Self::FROZEN, Acquire, Relaxed).is_ok();
            #[cfg(loom)]
            if !won {
                loom_probe::REVIVED_IN_PUT.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
            }
            return Ok(won);
        }
        if old & FROZEN_BIT == 0 && old > nr {
            return Ok(false);
        }
        // Misuse: a put on a frozen page (the subtraction stayed in the frozen
        // half if there was room below BASE: see the module docs) or more
        // references than the page has. Undo our subtraction.
        let kind = if old & FROZEN_BIT != 0 {
            RefcountBugKind::PutOnFrozen
        } else {
            RefcountBugKind::Underflow
        };
        Self::repair_put(c, nr);
        Err(RefcountBug { raw: old, kind })
    }

    #[inline]
    fn get(c: &AtomicU32) -> Result<(), RefcountBug> {
        // Relaxed, like Linux's page_ref_inc: the caller already holds a
        // reference, so the page cannot change owner under us; nothing to
        // order against.
        let old = c.fetch_add(1, Relaxed);
        if old != 0 && old.wrapping_add(1) & FROZEN_BIT == 0 {
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
        c.compare_exchange(expected, Self::FROZEN, Acquire, Relaxed).is_ok()
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
        // that the page was not frozen (a live count, or a lasting 0 from
        // zero-filled memory) and leaves it untouched. It retries only while
        // failed gets keep adding leftovers (bounded by the CPUs).
        // Release on success: publishes everything the freezer did; a
        // speculative getter whose add succeeds on `count` acquires it.
        let mut v = c.load(Relaxed);
        loop {
            if !Self::is_frozen(v) {
                return Err(RefcountBug { raw: v, kind: RefcountBugKind::UnfreezeNotFrozen });
            }
            match c.compare_exchange_weak(v, count, Release, Relaxed) {
                Ok(_) => return Ok(()),
                Err(now) => v = now,
            }
        }
    }

    #[inline]
    fn set_frozen(c: &AtomicU32) {
        // Relaxed: only on allocator init paths, under the zone lock or before
        // the descriptor is published; the lock provides the ordering.
        store_refcount(c, Self::FROZEN, Relaxed);
    }

    #[inline]
    fn init_count(c: &AtomicU32) {
        // Release: a stale speculative getter that succeeds on this 1 (case 3
        // in refcount.md) acquires the allocator's flag writes (PG_head, order).
        store_refcount(c, 1, Release);
    }

    #[inline]
    fn count(c: &AtomicU32) -> u32 {
        // Relaxed like Linux's page_count: a snapshot, not a synchronisation.
        let v = c.load(Relaxed);
        if Self::is_frozen(v) { 0 } else { v }
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

impl<const BASE: u32> FrozenBit<BASE>
where
    Self: super::sealed::Sealed,
{
    /// `get` found no reference (`old` frozen or 0) or overflowed.
    #[cold]
    fn repair_get(c: &AtomicU32, old: u32) -> RefcountBug {
        if old == 0 {
            // We turned a 0 (a putter's transient 0 or a lasting one) into 1,
            // so in the protocol's eyes we revived the page and own the free.
            // Drop the reference again; if that makes us the freer, the page
            // is left FROZEN with nobody freeing it: leaked, never revived.
            let _ = Self::sub_and_test(c, 1);
            RefcountBug { raw: old, kind: RefcountBugKind::GetWithoutRef }
        } else if Self::is_frozen(old) {
            // A harmless leftover on a frozen page; keep leftovers bounded.
            let now = old.wrapping_add(1);
            if now >= Self::SCRUB_LIMIT {
                Self::scrub(c, now);
            }
            RefcountBug { raw: old, kind: RefcountBugKind::GetWithoutRef }
        } else {
            // 0x7FFF_FFFF + 1 reads as FROZEN: undo.
            c.fetch_sub(1, Relaxed);
            RefcountBug { raw: old, kind: RefcountBugKind::Overflow }
        }
    }
}

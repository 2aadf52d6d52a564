//! The classic "zero is dead" refcount, kept as the baseline for benchmarks
//! and as the `legacy-refcount` build option.
//!
//! `0` means owned by nobody (free or frozen); `1 ..= u32::MAX` are references.
//! A speculative get must not revive a 0, so it is a load + CAS loop
//! (`atomic_add_unless(v, nr, 0)`), the serialisation point the frozen bit
//! removes. There is no transient state in the last put (`fetch_sub == 1`
//! frees), hence no revive race and no last-put ABA.
//!
//! Two variants of the speculative get: [`Legacy`] loads the counter for its
//! first CAS, as Linux's `atomic_add_unless` does; [`LegacyOptimistic`]
//! skips the load and starts from the guess "count == 1" (Linus Torvalds'
//! suggestion on the series, Mar 2026): a hit saves the load, a miss costs
//! one failed CAS, which returns the value the load would have.

use super::{MAX_COUNT, MAX_REF_NR, RefcountBug, RefcountBugKind, RefcountScheme};
use crate::sync::{AtomicU32, Ordering::*, store_refcount};

/// The "zero is dead" scheme; `OPTIMISTIC`: the first CAS of a speculative
/// get assumes a count of 1 instead of loading it.
#[derive(Clone, Copy, Debug, Default)]
pub struct ZeroDead<const OPTIMISTIC: bool>;

/// The classic scheme: load + CAS loop.
pub type Legacy = ZeroDead<false>;

/// The CAS loop whose first CAS guesses a count of 1 (no load).
pub type LegacyOptimistic = ZeroDead<true>;

impl<const OPTIMISTIC: bool> RefcountScheme for ZeroDead<OPTIMISTIC>
where
    Self: super::sealed::Sealed,
{
    const NAME: &'static str = if OPTIMISTIC { "legacy-optimistic" } else { "legacy" };
    const FROZEN: u32 = 0;
    const TRANSIENT_ZERO: bool = false;
    const DIRECT_SINGLE_PUT: bool = false;
    const SCRUBS_AT: Option<u32> = None;

    #[inline]
    fn is_frozen(raw: u32) -> bool {
        raw == 0
    }

    #[inline]
    fn raw_of_count(count: u32) -> u32 {
        count
    }

    #[inline]
    fn add_unless_frozen(c: &AtomicU32, nr: u32) -> bool {
        if nr == 0 || nr > MAX_REF_NR {
            return false;
        }
        // The first CAS's expected value: a Relaxed load (only a guess), or
        // the optimistic guess that the page holds exactly one reference
        // (a page-cache page held by its cache alone), which a failed CAS
        // corrects with the real value.
        let mut v = if OPTIMISTIC { 1 } else { c.load(Relaxed) };
        loop {
            // Dead, or the add would leave the owned range: fail.
            if v == 0 || v > MAX_COUNT - nr {
                return false;
            }
            // SeqCst on success, as Linux's atomic_add_unless (fully ordered);
            // Acquire is the part that matters (pairs with the Release of
            // unfreeze / init_page_count). Relaxed on failure: we just retry.
            match c.compare_exchange_weak(v, v.wrapping_add(nr), SeqCst, Relaxed) {
                Ok(_) => return true,
                Err(now) => v = now,
            }
        }
    }

    #[inline]
    fn sub_and_test(c: &AtomicU32, nr: u32) -> Result<bool, RefcountBug> {
        if nr == 0 || nr > MAX_REF_NR {
            return Err(RefcountBug {
                raw: c.load(Relaxed),
                kind: RefcountBugKind::InvalidArgument,
            });
        }
        // AcqRel: Release publishes our writes to the freer, Acquire lets the
        // freer (old == nr) see everybody's.
        let old = c.fetch_sub(nr, AcqRel);
        if old >= nr && old != 0 {
            return Ok(old == nr);
        }
        // Undo (Relaxed: bug path). A 0 (dead) page stays dead.
        c.fetch_add(nr, Relaxed);
        let kind = if old == 0 { RefcountBugKind::PutOnFrozen } else { RefcountBugKind::Underflow };
        Err(RefcountBug { raw: old, kind })
    }

    #[inline]
    fn get(c: &AtomicU32) -> Result<(), RefcountBug> {
        // Relaxed: the caller holds a reference (see Frozen::get).
        let old = c.fetch_add(1, Relaxed);
        if old != 0 && old != u32::MAX {
            return Ok(());
        }
        // We revived a dead page (0 -> 1) or wrapped to 0: undo so it stays
        // dead / owned. The caller reports and quarantines.
        c.fetch_sub(1, Relaxed);
        let kind =
            if old == 0 { RefcountBugKind::GetWithoutRef } else { RefcountBugKind::Overflow };
        Err(RefcountBug { raw: old, kind })
    }

    #[inline]
    fn freeze(c: &AtomicU32, expected: u32) -> bool {
        // expected 0 would "freeze" a dead page: refused.
        if expected == 0 || expected > MAX_COUNT {
            return false;
        }
        // Acquire: see Frozen::freeze.
        c.compare_exchange(expected, 0, Acquire, Relaxed).is_ok()
    }

    #[inline]
    fn try_unfreeze(c: &AtomicU32, count: u32) -> Result<(), RefcountBug> {
        if count == 0 || count > MAX_COUNT {
            return Err(RefcountBug {
                raw: c.load(Relaxed),
                kind: RefcountBugKind::InvalidArgument,
            });
        }
        // 0 -> count, only from 0 (nothing adds to a dead page, so one CAS):
        // a live page is reported and left alone. Release: see
        // Frozen::try_unfreeze.
        c.compare_exchange(0, count, Release, Relaxed)
            .map(|_| ())
            .map_err(|raw| RefcountBug { raw, kind: RefcountBugKind::UnfreezeNotFrozen })
    }

    #[inline]
    fn set_frozen(c: &AtomicU32) {
        // Relaxed: allocator init paths (see Frozen::set_frozen).
        store_refcount(c, 0, Relaxed);
    }

    #[inline]
    fn init_count(c: &AtomicU32) {
        // Release: see Frozen::init_count.
        store_refcount(c, 1, Release);
    }

    #[inline]
    fn count(c: &AtomicU32) -> u32 {
        c.load(Relaxed)
    }
}

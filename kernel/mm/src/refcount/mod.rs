//! Page reference counting: the frozen-bit scheme and the legacy baseline.
//!
//! The counter is a `u32` in [`Page`]. The frozen-bit schemes ([`FrozenBit`])
//! reserve one bit (31, or 0 with counts in steps of 2) whose state says
//! "owned by nobody" (free, just allocated
//! frozen, or frozen by `page_ref_freeze`), so a speculative get is one
//! unconditional `fetch_add` checked afterwards, with no CAS loop on the hot
//! path. [`Frozen`] stores `0x8000_0000` in a frozen page (the series'
//! layout), [`FrozenMid`] `0xC000_0000` (room for misuse's leftovers of both
//! signs). [`Legacy`] is the classic "zero is dead" scheme whose speculative
//! get is a load + CAS loop; it is kept for side-by-side benchmarks and as a
//! build option.
//!
//! All implement [`RefcountScheme`] on a raw `&AtomicU32` and all are always
//! compiled. [`DefaultScheme`] (`FrozenMid`, or `Legacy` with the
//! `legacy-refcount` feature) is what the Linux-named functions below and the
//! default type parameter of [`Zone`](crate::Zone) use.
//!
//! The functions in this module act on **exactly the page passed in**, like
//! Linux's `page_ref_*`: pass a block head (or an order-0 page). A tail page of
//! a compound block is always frozen, so a speculative get on a tail fails
//! harmlessly. To follow tails to their head, and to get misuse reported to a
//! zone and the block quarantined, use the [`Zone`](crate::Zone) methods
//! (`get_page`, `put_page`, `get_page_unless_frozen`, `page_count`) or the
//! [`PageRef`](crate::PageRef) handle.

mod frozen;
mod legacy;

/// Loom-only instrumentation of the real code (see `tests/loom.rs`).
#[cfg(loom)]
pub use frozen::loom_probe as frozen_loom_probe;
pub use frozen::{
    Frozen, FrozenBit, FrozenDirect, FrozenLow, FrozenLowDirect, FrozenMid, FrozenMidDirect,
    LiveHigh, LiveHighDirect, LiveLow, LiveLowDirect,
};
pub use legacy::{Legacy, LegacyOptimistic, ZeroDead};

use crate::page::Page;
use crate::sync::{AtomicU32, Ordering::Relaxed};
use core::fmt;

/// The scheme the kernel is built with: the frozen bit with FROZEN in the
/// middle of the frozen half, which no misuse's leftovers can push out of it
/// (docs/refcount.md, "Which layout"), unless a scheme feature picks another
/// (two at once define this twice: a compile error).
#[cfg(not(any(
    feature = "legacy-refcount",
    feature = "refcount-legacy-optimistic",
    feature = "refcount-frozen-bit",
    feature = "refcount-frozen-mid-direct",
    feature = "refcount-frozen-bit-direct",
    feature = "refcount-frozen-low-direct",
    feature = "refcount-live-bit-direct",
    feature = "refcount-live-low-direct",
    feature = "refcount-frozen-low",
    feature = "refcount-live-bit",
    feature = "refcount-live-low"
)))]
pub type DefaultScheme = FrozenMid;
/// The scheme the kernel is built with (feature `legacy-refcount`).
#[cfg(feature = "legacy-refcount")]
pub type DefaultScheme = Legacy;
/// The scheme the kernel is built with (feature `refcount-legacy-optimistic`).
#[cfg(feature = "refcount-legacy-optimistic")]
pub type DefaultScheme = LegacyOptimistic;
/// The scheme the kernel is built with (feature `refcount-frozen-bit`).
#[cfg(feature = "refcount-frozen-bit")]
pub type DefaultScheme = Frozen;
/// The scheme the kernel is built with (feature `refcount-frozen-mid-direct`).
#[cfg(feature = "refcount-frozen-mid-direct")]
pub type DefaultScheme = FrozenMidDirect;
/// The scheme the kernel is built with (feature `refcount-frozen-bit-direct`).
#[cfg(feature = "refcount-frozen-bit-direct")]
pub type DefaultScheme = FrozenDirect;
/// The scheme the kernel is built with (feature `refcount-frozen-low-direct`).
#[cfg(feature = "refcount-frozen-low-direct")]
pub type DefaultScheme = FrozenLowDirect;
/// The scheme the kernel is built with (feature `refcount-live-bit-direct`).
#[cfg(feature = "refcount-live-bit-direct")]
pub type DefaultScheme = LiveHighDirect;
/// The scheme the kernel is built with (feature `refcount-live-low-direct`).
#[cfg(feature = "refcount-live-low-direct")]
pub type DefaultScheme = LiveLowDirect;
/// The scheme the kernel is built with (feature `refcount-frozen-low`).
#[cfg(feature = "refcount-frozen-low")]
pub type DefaultScheme = FrozenLow;
/// The scheme the kernel is built with (feature `refcount-live-bit`).
#[cfg(feature = "refcount-live-bit")]
pub type DefaultScheme = LiveHigh;
/// The scheme the kernel is built with (feature `refcount-live-low`).
#[cfg(feature = "refcount-live-low")]
pub type DefaultScheme = LiveLow;

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Frozen {}
    impl Sealed for super::FrozenMid {}
    impl Sealed for super::FrozenMidDirect {}
    impl Sealed for super::FrozenDirect {}
    impl Sealed for super::FrozenLowDirect {}
    impl Sealed for super::LiveHighDirect {}
    impl Sealed for super::LiveLowDirect {}
    impl Sealed for super::FrozenLow {}
    impl Sealed for super::LiveHigh {}
    impl Sealed for super::LiveLow {}
    impl Sealed for super::Legacy {}
    impl Sealed for super::LegacyOptimistic {}
}

/// A refcount operation found the counter in a state the caller's contract
/// excludes. The scheme has already repaired the counter as far as it can
/// (see each method); the caller reports it and quarantines the page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefcountBug {
    /// The counter value the failed operation found (before its change).
    pub raw: u32,
    /// What went wrong.
    pub kind: RefcountBugKind,
}

/// See [`RefcountBug`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefcountBugKind {
    /// `get_page` on a page nobody holds a reference to (frozen, or 0).
    GetWithoutRef,
    /// `put_page` on a frozen page.
    PutOnFrozen,
    /// `put_page` (sub_and_test) of more references than the page has.
    Underflow,
    /// `get_page` would overflow the owned range (2^31 - 1 references).
    Overflow,
    /// An argument outside the protocol's range: `nr` of a get or put not in
    /// `1..=MAX_REF_NR`, an unfreeze/freeze count not in `1..=MAX_COUNT`.
    /// Refused without touching the counter.
    InvalidArgument,
    /// `page_ref_unfreeze` on a page that is not frozen: refused, the live
    /// count is left as it was.
    UnfreezeNotFrozen,
}

impl fmt::Display for RefcountBugKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RefcountBugKind::GetWithoutRef => "get_page on a page without references",
            RefcountBugKind::PutOnFrozen => "put_page on a frozen page",
            RefcountBugKind::Underflow => "refcount underflow",
            RefcountBugKind::Overflow => "refcount overflow",
            RefcountBugKind::InvalidArgument => "refcount argument out of range",
            RefcountBugKind::UnfreezeNotFrozen => "page_ref_unfreeze on a page that is not frozen",
        })
    }
}

/// Largest `nr` a speculative get or a put accepts (2^16). Bounding it keeps
/// the frozen-bit argument sound: with at most one get in flight per CPU
/// ([`NR_CPUS`](crate::NR_CPUS) = 512) the leftovers of failed gets in flight
/// add at most `512 * 2^16 = 2^25` to a value below the scrub limit, which
/// leaves 2^29 or more of room before the flag in every bit-31 layout, so no
/// get can carry a frozen value over into the owned range; and for
/// [`FrozenMid`] the over-puts in flight keep a frozen value above
/// `0xC000_0000 - 2^25 = 0xBE00_0000`, inside the frozen half. (With the
/// flag in bit 0 the parity keeps every amount frozen.)
pub const MAX_REF_NR: u32 = 1 << 16;
/// Largest reference count a page can hold, and the largest `count` that
/// `page_ref_unfreeze` / `page_ref_freeze` accept (2^31 - 1, every scheme).
pub const MAX_COUNT: u32 = 0x7FFF_FFFF;

/// A page refcount protocol, operating on the raw counter word.
///
/// Sealed: the allocator's correctness depends on the exact protocol, so only
/// the layouts of [`FrozenBit`] named in this module ([`Frozen`],
/// [`FrozenMid`], [`FrozenLow`], [`LiveHigh`], [`LiveLow`], and each with
/// the direct single put: [`FrozenDirect`], [`FrozenMidDirect`],
/// [`FrozenLowDirect`], [`LiveHighDirect`], [`LiveLowDirect`]) and of
/// [`ZeroDead`] ([`Legacy`], [`LegacyOptimistic`]) implement it.
pub trait RefcountScheme: sealed::Sealed + Send + Sync + 'static {
    /// Name for reports and benchmark output.
    const NAME: &'static str;
    /// The value a page nobody owns is set to: `0x8000_0000` ([`Frozen`]),
    /// `0xC000_0000` ([`FrozenMid`]), `1` ([`FrozenLow`]) or `0` (the
    /// live-bit layouts and the zero-is-dead schemes).
    const FROZEN: u32;
    /// Whether a last put passes through a revivable count-0 state (its
    /// decrement, then the CAS to FROZEN): every frozen-bit layout; not the
    /// zero-is-dead schemes, whose 0 is dead.
    const TRANSIENT_ZERO: bool;
    /// Whether a put of the only reference moves the count straight to
    /// FROZEN with one compare-exchange (no transient 0 then; the series'
    /// path remains for every other put): the `-direct` layouts.
    const DIRECT_SINGLE_PUT: bool;

    /// Where failed gets' leftovers are scrubbed back to FROZEN: `Some` in
    /// the layouts whose leftovers could walk into the flag (flag in bit
    /// 31); `None` where a failed get writes nothing (zero is dead) or keeps
    /// the flag by parity (flag in bit 0).
    const SCRUBS_AT: Option<u32>;

    /// The raw value of a page holding `count` (`0..=MAX_COUNT`) references:
    /// `count` itself where the count is stored plainly; shifted and flagged
    /// in the bit-0 and live-bit layouts.
    fn raw_of_count(count: u32) -> u32;

    /// Whether a raw counter value means "owned by nobody".
    fn is_frozen(raw: u32) -> bool;

    /// Speculative get of `nr` references through a possibly stale pointer:
    /// succeeds only if the page is owned (not frozen). Acquire on success.
    /// `nr` outside `1..=MAX_REF_NR` is refused (false, counter untouched);
    /// a get that would overflow the owned range fails and is undone.
    fn add_unless_frozen(c: &AtomicU32, nr: u32) -> bool;

    /// Drop `nr` references. `Ok(true)`: the count reached zero and the caller
    /// must free the page (it has Acquire ordering and the counter is left
    /// FROZEN). `Ok(false)`: other references remain (or a speculative getter
    /// revived the page and now owns the free). `Err`: the page had fewer than
    /// `nr` references (the counter was restored and nobody frees), or `nr`
    /// is outside `1..=MAX_REF_NR` (`InvalidArgument`, counter untouched).
    fn sub_and_test(c: &AtomicU32, nr: u32) -> Result<bool, RefcountBug>;

    /// `get_page`: the caller already holds a reference, so a plain increment.
    /// `Err` if the page turned out to have none (or would overflow); the
    /// counter has then been repaired so that no free page is revived (the
    /// page may be left frozen and owner-less: the caller must quarantine it).
    fn get(c: &AtomicU32) -> Result<(), RefcountBug>;

    /// `page_ref_freeze`: `expected -> FROZEN` if the count is exactly
    /// `expected` (Acquire). Later speculative gets fail until `unfreeze`.
    /// `expected` outside `1..=MAX_COUNT` is refused (false).
    fn freeze(c: &AtomicU32, expected: u32) -> bool;

    /// `page_ref_unfreeze`: the page must be frozen (by us); publish it with
    /// `count` references (Release), overwriting any leftovers. Refused,
    /// counter untouched, if `count` is outside `1..=MAX_COUNT`
    /// (`InvalidArgument`: an unfreeze to 0 would leave a lasting, revivable
    /// 0) or the page is not frozen (`UnfreezeNotFrozen`, detected exactly by
    /// the compare-exchange that would publish `count`).
    fn try_unfreeze(c: &AtomicU32, count: u32) -> Result<(), RefcountBug>;

    /// [`try_unfreeze`](Self::try_unfreeze) as a bool (true: unfrozen).
    #[inline]
    fn unfreeze(c: &AtomicU32, count: u32) -> bool {
        Self::try_unfreeze(c, count).is_ok()
    }

    /// `set_page_count_frozen`: plain store of FROZEN (allocator init paths).
    fn set_frozen(c: &AtomicU32);

    /// `init_page_count`: plain store of 1 (`alloc_pages`).
    fn init_count(c: &AtomicU32);

    /// `page_count`: number of references; 0 for every frozen value.
    fn count(c: &AtomicU32) -> u32;

    /// The raw counter, leftovers included (for diagnostics).
    #[inline]
    fn raw(c: &AtomicU32) -> u32 {
        c.load(Relaxed)
    }
}

/// Log a refcount bug found by one of the zone-less functions below (the zone
/// methods produce a full [`BadPage`](crate::BadPage) report instead).
#[cold]
fn report_unzoned(page: &Page, op: &str, bug: RefcountBug) {
    log::error!(
        "BUG: Bad page state: page={:p} count={:#010x} flags={} {}: {} ({})",
        page,
        bug.raw,
        page.flags(),
        op,
        bug.kind,
        DefaultScheme::NAME
    );
}

/// Speculative get of `nr` references (Linux `page_ref_add_unless`): one
/// atomic add, fails if the page is frozen.
#[inline]
pub fn page_ref_add_unless_frozen(page: &Page, nr: u32) -> bool {
    DefaultScheme::add_unless_frozen(page.refcount(), nr)
}

/// Speculative get of one reference through a possibly stale pointer. On
/// success the caller must revalidate how it found the page (reload the slot)
/// and `put_page` if it is not the page it wanted.
#[inline]
pub fn get_page_unless_frozen(page: &Page) -> bool {
    page_ref_add_unless_frozen(page, 1)
}

/// Drop `nr` references; true if the caller must now free the block (with
/// `Zone::free_frozen_pages`, order from the head's flags). Misuse is logged
/// and returns false (the page is never freed on a bug).
#[inline]
pub fn page_ref_sub_and_test(page: &Page, nr: u32) -> bool {
    match DefaultScheme::sub_and_test(page.refcount(), nr) {
        Ok(last) => last,
        Err(bug) => {
            report_unzoned(page, "page_ref_sub_and_test", bug);
            false
        }
    }
}

/// Take another reference on a page the caller holds a reference to. Misuse
/// (the page is frozen) is logged; use `Zone::get_page` to have it counted and
/// the page quarantined.
#[inline]
pub fn get_page(page: &Page) {
    if let Err(bug) = DefaultScheme::get(page.refcount()) {
        report_unzoned(page, "get_page", bug);
    }
}

/// Freeze the page if its count is exactly `expected` (migration, reclaim).
#[inline]
pub fn page_ref_freeze(page: &Page, expected: u32) -> bool {
    DefaultScheme::freeze(page.refcount(), expected)
}

/// Unfreeze a page we froze, publishing it with `count` (`1..=MAX_COUNT`)
/// references. Misuse (the page is not frozen, or `count` is out of range) is
/// logged, refused (the counter is left as it was) and returns false.
#[inline]
pub fn page_ref_unfreeze(page: &Page, count: u32) -> bool {
    match DefaultScheme::try_unfreeze(page.refcount(), count) {
        Ok(()) => true,
        Err(bug) => {
            report_unzoned(page, "page_ref_unfreeze", bug);
            false
        }
    }
}

/// Store FROZEN (allocator init paths only).
#[inline]
pub fn set_page_count_frozen(page: &Page) {
    DefaultScheme::set_frozen(page.refcount())
}

/// Store a count of 1 (`alloc_pages` only).
#[inline]
pub fn init_page_count(page: &Page) {
    DefaultScheme::init_count(page.refcount())
}

/// Number of references; 0 for a frozen page (leftovers hidden).
#[inline]
pub fn page_count(page: &Page) -> u32 {
    DefaultScheme::count(page.refcount())
}

/// The raw counter word including FROZEN and leftovers (diagnostics).
#[inline]
pub fn page_ref_count_raw(page: &Page) -> u32 {
    DefaultScheme::raw(page.refcount())
}

#[cfg(all(test, not(loom)))]
mod tests;

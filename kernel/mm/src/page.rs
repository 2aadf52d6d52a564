//! The page descriptor (`struct page`).
//!
//! One [`Page`] per 4 KiB frame, 16 bytes (Linux's `struct page` is 64). The
//! memmap costs one descriptor per frame, so the size is bounded at compile
//! time below (at most 32 bytes, exactly 16 today):
//!
//! ```text
//! offset  field      meaning
//!   0     refcount   u32, see `refcount`: FROZEN bit 31 (frozen scheme)
//!   4     flags      bits 0..=6   PG_* flags (buddy, reserved, head, tail,
//!                                 quarantined, pcp, allocated)
//!                    bits 7..=10  order (head of a free block or of an
//!                                 allocated block; 0..=MAX_ORDER)
//!                    bits 11..=16 id of the zone that manages the page
//!                                 (0: none; Linux keeps the zone in the
//!                                 page flags too, `page_zonenum`)
//!                    bits 17..=31 memmap section slot: which present
//!                                 section the descriptor lives in, like
//!                                 Linux's SECTION_IN_PAGE_FLAGS, so
//!                                 page_to_pfn finds it without a search
//!                                 (a slot, not the section number: see
//!                                 `memmap`, "Sections and slots")
//!   8     next       u32 link: free-list next (head of a free block), the
//!                    pfn's offset in the zone span; for a tail page of an
//!                    allocated compound block: its distance from the head
//!  12     prev       u32 link: free-list prev; NONE elsewhere
//! ```
//!
//! Links are 32-bit offsets into the zone, not pointers or pfns: 4 bytes
//! instead of 8, a link can be checked against the zone before it is
//! followed, and a zone may lie anywhere in the 48-bit physical space (pfns
//! need up to 36 bits) as long as it spans fewer than 2^32 pages (16 TiB,
//! [`MAX_ZONE_PAGES`](crate::buddy::MAX_ZONE_PAGES)).
//!
//! # Page states
//!
//! Every managed page is in exactly one state, readable from its own flags
//! word (see [`PageFlags`]):
//!
//! ```text
//! state                          flags of the page
//! allocated, block head          ALLOCATED + order (+ HEAD if order > 0)
//! allocated, tail of a block     TAIL (next = head pfn)
//! free in the buddy, block head  BUDDY + order
//! free on a per-CPU list, head   PCP + order
//! inside a free block (not head) none
//! quarantined (leaked on purpose) QUARANTINED (+ order on the head)
//! not managed                    RESERVED
//! ```
//!
//! Who writes the flags word, and how:
//!
//! * the zone lock owns every page in a buddy state (BUDDY head or inside a
//!   free buddy block): the free lists split, merge and link them with plain
//!   atomic stores under that lock;
//! * a per-CPU list's lock owns the PCP heads on that list (and the cleared
//!   pages inside those blocks);
//! * every transition *out of* ALLOCATED (a free through the zone or a
//!   per-CPU list, a quarantine after a misuse report) is a compare-exchange
//!   from the exact expected state ([`Page::transition`]). Those paths run
//!   under different locks or none (a per-CPU free exchanges under its
//!   list's lock; a zone free of one page before it takes the zone lock;
//!   a zone free of a larger block, one the order-0 fast path refused, and
//!   a quarantine under the zone lock), so
//!   a transition that raced with another one fails instead of overwriting
//!   it: of two concurrent frees of one block exactly one wins, and a
//!   quarantine never erases a per-CPU mark (or vice versa; why no cheaper
//!   scheme: docs/decisions/free-proves-allocated-by-exchange.md);
//! * every other transition starts from a free state (BUDDY, PCP, inside a
//!   free block), which exactly one lock owns, and every other writer's
//!   exchange expects ALLOCATED and fails on it: allocation (free ->
//!   ALLOCATED, [`Page::set_flags_release`]), a refill (buddy -> PCP) and a
//!   drain (PCP -> buddy; both locks held). So the lock holder checks the
//!   state and stores the new one: nothing can come in between to be
//!   overwritten, and the hot paths save a locked instruction each
//!   (docs/decisions/free-state-exit-by-store.md). A check that fails reports
//!   and quarantines, as a failed exchange would.
//!
//! Links (`next`/`prev`) are written only by the owner of the page's state
//! (zone lock, per-CPU lock, or the winner of the head's transition for the
//! tails of its block). All four words are atomics: speculative readers (e.g.
//! `compound_head` on a page that is being freed concurrently) may read them
//! without any lock, and a racy plain read would be undefined behaviour. They
//! only use what they read as a hint that they revalidate.

use crate::MAX_ORDER;
use crate::memmap::SECTION_SLOT_BITS;
use crate::sync::{
    AtomicU32,
    Ordering::{AcqRel, Acquire, Relaxed, Release},
};
use core::fmt;

/// "No pfn" in a free-list link.
pub(crate) const NONE: u32 = u32::MAX;

/// A page frame descriptor. See the module docs for the layout.
#[repr(C)]
pub struct Page {
    refcount: AtomicU32,
    flags: AtomicU32,
    next: AtomicU32,
    prev: AtomicU32,
}

// At most half of Linux's 64-byte struct page: every frame of RAM pays for
// one (16 bytes: 0.39% of RAM). (Loom's atomics are much bigger, hence the
// cfg.)
#[cfg(not(loom))]
const _: () = assert!(core::mem::size_of::<Page>() <= 32);
#[cfg(not(loom))]
const _: () = assert!(core::mem::size_of::<Page>() == 16);

impl Page {
    /// A descriptor with raw refcount `count`, no flags, section 0 and empty
    /// links. The memmap builds its descriptors with this; standalone pages
    /// (outside any memmap: no pfn) are useful for tests and benchmarks of the
    /// refcount schemes. Pass the scheme's `FROZEN`, never a stray 0.
    pub fn new(count: u32) -> Self {
        Page {
            refcount: AtomicU32::new(count),
            flags: AtomicU32::new(0),
            next: AtomicU32::new(NONE),
            prev: AtomicU32::new(NONE),
        }
    }

    /// The raw refcount word, for the [`RefcountScheme`](crate::RefcountScheme)
    /// functions. Writing it directly bypasses every check: use the
    /// `page_ref_*` functions instead.
    #[inline]
    pub fn refcount(&self) -> &AtomicU32 {
        &self.refcount
    }

    /// A snapshot of the flags word. Without the zone lock it is only a hint.
    #[inline]
    pub fn flags(&self) -> PageFlags {
        PageFlags(self.flags.load(Relaxed))
    }

    /// Plain store of the flags word: only by the owner of the page's state
    /// (zone lock for buddy states, the per-CPU lock for PCP heads, the
    /// winner of the head's transition for its tails; or before the
    /// descriptor is published). The owning lock (or the winning
    /// transition's Acquire/Release) orders it; Release on top (no
    /// instruction on x86) so that a lock-free reader that sees the new
    /// flags also sees what their writer did before.
    #[inline]
    pub(crate) fn set_flags(&self, f: PageFlags) {
        self.flags.store(f.0, Release);
    }

    /// A snapshot of the flags word with Acquire: a reader that finds an
    /// allocated head sees the tails and links written before its state was
    /// stored (`set_flags_release`, or a transition's Release).
    #[inline]
    pub(crate) fn flags_acquire(&self) -> PageFlags {
        PageFlags(self.flags.load(Acquire))
    }

    /// Store of a new state by the owner of the current one (a free state's
    /// lock holder making the head ALLOCATED; see the module docs for why no
    /// exchange is needed). Release: a later transition out of ALLOCATED on
    /// another CPU (a free, a quarantine: Acquire) sees the block's tails and
    /// links written before this store.
    #[inline]
    pub(crate) fn set_flags_release(&self, f: PageFlags) {
        self.flags.store(f.0, Release);
    }

    /// Atomic state transition `from -> to` of the flags word
    /// (compare-exchange). `Err(now)` if the word did not hold exactly `from`
    /// (another path changed the state first): nothing is written.
    ///
    /// AcqRel on success, Acquire on failure: the winner of a transition sees
    /// the descriptor writes (tails, links) its predecessor in that state made
    /// under another lock (a per-CPU list's vs the zone's), and publishes its
    /// own to the next.
    #[inline]
    pub(crate) fn transition(&self, from: PageFlags, to: PageFlags) -> Result<(), PageFlags> {
        self.flags.compare_exchange(from.0, to.0, AcqRel, Acquire).map(|_| ()).map_err(PageFlags)
    }

    #[inline]
    pub(crate) fn next(&self) -> u32 {
        self.next.load(Relaxed)
    }

    #[inline]
    pub(crate) fn set_next(&self, pfn: u32) {
        self.next.store(pfn, Relaxed);
    }

    #[inline]
    pub(crate) fn prev(&self) -> u32 {
        self.prev.load(Relaxed)
    }

    #[inline]
    pub(crate) fn set_prev(&self, pfn: u32) {
        self.prev.store(pfn, Relaxed);
    }

    /// For a tail page: its distance in pages from its head (stored in
    /// `next`; `1..2^MAX_ORDER` when intact).
    #[inline]
    pub(crate) fn tail_offset(&self) -> u32 {
        self.next()
    }
}

impl fmt::Debug for Page {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Page")
            .field("refcount", &format_args!("{:#010x}", self.refcount.load(Relaxed)))
            .field("flags", &self.flags())
            .finish()
    }
}

/// A snapshot of a page's flags word (see the module docs for the layout).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PageFlags(u32);

impl PageFlags {
    /// Head of a free block in the buddy allocator (Linux `PG_buddy`).
    pub const BUDDY: u32 = 1 << 0;
    /// Not managed by the allocator (never handed to it, or a memory hole).
    pub const RESERVED: u32 = 1 << 1;
    /// Head of an allocated compound block (order > 0).
    pub const HEAD: u32 = 1 << 2;
    /// Tail of an allocated compound block; `next` holds its distance from
    /// the head.
    pub const TAIL: u32 = 1 << 3;
    /// Bad page, leaked on purpose: it never reaches a free list again.
    pub const QUARANTINED: u32 = 1 << 4;
    /// Head of a free block cached on a per-CPU list (`buddy/pcp.rs`).
    pub const PCP: u32 = 1 << 5;
    /// Head of an allocated block (order 0 included): what distinguishes an
    /// allocated order-0 page from a page inside a free block.
    pub const ALLOCATED: u32 = 1 << 6;
    const ORDER_SHIFT: u32 = 7;
    const ORDER_MASK: u32 = 0xf;
    const ZONE_SHIFT: u32 = 11;
    /// Zone ids `1..=ZONE_ID_MAX` (0: no zone).
    pub(crate) const ZONE_ID_MAX: u32 = 0x3f;
    /// Where the section slot lives: the top `SECTION_SLOT_BITS` bits.
    pub(crate) const SECTION_SHIFT: u32 = 32 - SECTION_SLOT_BITS;

    /// The raw word.
    #[inline]
    pub const fn bits(self) -> u32 {
        self.0
    }
    /// The flags word of a fresh memmap descriptor: reserved, in section
    /// slot `slot`.
    pub(crate) const fn new_reserved(slot: usize) -> Self {
        PageFlags(Self::RESERVED | ((slot as u32) << Self::SECTION_SHIFT))
    }
    /// Same section slot and zone, no flags, order 0.
    #[inline]
    pub(crate) const fn cleared(self) -> Self {
        PageFlags(
            self.0 & (!((1 << Self::SECTION_SHIFT) - 1) | (Self::ZONE_ID_MAX << Self::ZONE_SHIFT)),
        )
    }
    /// Same section slot, zone `id`, no flags, order 0.
    #[inline]
    pub(crate) const fn with_zone(self, id: u32) -> Self {
        PageFlags(
            (self.0 & !((1 << Self::SECTION_SHIFT) - 1))
                | ((id & Self::ZONE_ID_MAX) << Self::ZONE_SHIFT),
        )
    }
    /// The flags of the head of an allocated block of `order`: ALLOCATED +
    /// order, HEAD if order > 0; section and zone kept.
    #[inline]
    pub(crate) const fn allocated_head(self, order: usize) -> Self {
        let f = self.cleared().with(Self::ALLOCATED).with_order(order);
        if order > 0 { f.with(Self::HEAD) } else { f }
    }
    #[inline]
    pub(crate) const fn with(self, flag: u32) -> Self {
        PageFlags(self.0 | flag)
    }
    #[inline]
    pub(crate) const fn with_order(self, order: usize) -> Self {
        PageFlags(
            (self.0 & !(Self::ORDER_MASK << Self::ORDER_SHIFT))
                | ((order as u32 & Self::ORDER_MASK) << Self::ORDER_SHIFT),
        )
    }
    #[inline]
    const fn has(self, flag: u32) -> bool {
        self.0 & flag != 0
    }
    /// `PG_pcp`: head of a free block cached on a per-CPU list.
    pub const fn is_pcp(self) -> bool {
        self.has(Self::PCP)
    }
    /// `PG_buddy`: head of a free block.
    pub const fn is_buddy(self) -> bool {
        self.has(Self::BUDDY)
    }
    /// `PG_reserved`.
    pub const fn is_reserved(self) -> bool {
        self.has(Self::RESERVED)
    }
    /// `PG_head`.
    pub const fn is_head(self) -> bool {
        self.has(Self::HEAD)
    }
    /// `PG_tail`.
    pub const fn is_tail(self) -> bool {
        self.has(Self::TAIL)
    }
    /// `PG_quarantined`.
    pub const fn is_quarantined(self) -> bool {
        self.has(Self::QUARANTINED)
    }
    /// `PG_allocated`: head of an allocated block.
    pub const fn is_allocated(self) -> bool {
        self.has(Self::ALLOCATED)
    }
    /// The id of the zone managing the page (0: none).
    pub const fn zone(self) -> u32 {
        (self.0 >> Self::ZONE_SHIFT) & Self::ZONE_ID_MAX
    }
    /// The order field (meaningful on block heads).
    pub const fn order(self) -> usize {
        ((self.0 >> Self::ORDER_SHIFT) & Self::ORDER_MASK) as usize
    }
    /// The memmap section slot of the descriptor (`0..MAX_PRESENT_SECTIONS`;
    /// see `memmap`, "Sections and slots").
    pub const fn section_slot(self) -> usize {
        (self.0 >> Self::SECTION_SHIFT) as usize
    }
}

// The order field must hold MAX_ORDER, the fields must not overlap, and the
// slot field must name every slot.
const _: () = assert!(MAX_ORDER as u32 <= PageFlags::ORDER_MASK);
const _: () = assert!(PageFlags::ALLOCATED < 1 << PageFlags::ORDER_SHIFT);
const _: () = assert!(PageFlags::ORDER_SHIFT + 4 <= PageFlags::ZONE_SHIFT);
const _: () = assert!(PageFlags::ZONE_SHIFT + 6 <= PageFlags::SECTION_SHIFT);
const _: () = assert!(crate::memmap::MAX_PRESENT_SECTIONS <= 1 << (32 - PageFlags::SECTION_SHIFT));

impl fmt::Debug for PageFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `0x00020084(head) order=1 zone=0 slot=1`: raw word, then decoded.
impl fmt::Display for PageFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(u32, &str); 7] = [
            (PageFlags::BUDDY, "buddy"),
            (PageFlags::RESERVED, "reserved"),
            (PageFlags::HEAD, "head"),
            (PageFlags::TAIL, "tail"),
            (PageFlags::QUARANTINED, "quarantined"),
            (PageFlags::PCP, "pcp"),
            (PageFlags::ALLOCATED, "allocated"),
        ];
        write!(f, "{:#010x}(", self.0)?;
        let mut first = true;
        for (bit, name) in NAMES {
            if self.has(bit) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        write!(f, ") order={} zone={} slot={}", self.order(), self.zone(), self.section_slot())
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::format;

    #[test]
    fn layout() {
        assert_eq!(core::mem::size_of::<Page>(), 16);
        assert_eq!(core::mem::align_of::<Page>(), 4);
    }

    #[test]
    fn flag_fields_are_independent() {
        let last = crate::memmap::MAX_PRESENT_SECTIONS - 1;
        let f = PageFlags::new_reserved(last);
        assert!(f.is_reserved());
        assert_eq!(f.section_slot(), last);
        assert_eq!(f.zone(), 0);
        let f = f.cleared().with(PageFlags::HEAD).with_order(MAX_ORDER);
        assert!(!f.is_reserved() && f.is_head() && !f.is_tail() && !f.is_buddy());
        assert_eq!(f.order(), MAX_ORDER);
        assert_eq!(f.section_slot(), last);
        let f = f.cleared().with_order(3).with(PageFlags::QUARANTINED);
        assert_eq!(f.order(), 3);
        assert!(f.is_quarantined() && !f.is_head());
        assert_eq!(f.section_slot(), last);
    }

    #[test]
    fn display() {
        let f = PageFlags::new_reserved(1)
            .cleared()
            .with(PageFlags::HEAD)
            .with(PageFlags::BUDDY)
            .with_order(2);
        assert_eq!(format!("{f}"), "0x00020105(buddy|head) order=2 zone=0 slot=1");
        let f = f.with_zone(5).allocated_head(0);
        assert_eq!(format!("{f}"), "0x00022840(allocated) order=0 zone=5 slot=1");
        let f = f.with_zone(PageFlags::ZONE_ID_MAX).with_order(MAX_ORDER);
        assert_eq!((f.zone(), f.order(), f.section_slot()), (PageFlags::ZONE_ID_MAX, MAX_ORDER, 1));
        let p = Page::new(0x8000_0000);
        assert!(format!("{p:?}").contains("0x80000000"));
    }
}

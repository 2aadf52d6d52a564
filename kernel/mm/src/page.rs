//! The page descriptor (`struct page`).
//!
//! One [`Page`] per 4 KiB frame, 16 bytes (Linux's `struct page` is 64; the
//! issue asks for at most 32, checked at compile time below):
//!
//! ```text
//! offset  field      meaning
//!   0     refcount   u32, see `refcount`: FROZEN bit 31 (frozen scheme)
//!   4     flags      bits 0..=7   PG_* flags (buddy, reserved, head, tail,
//!                                 quarantined, pcp [reserved for per-CPU lists])
//!                    bits 8..=11  order (head of a free block or of an
//!                                 allocated block; 0..=MAX_ORDER)
//!                    bits 12..=19 unused
//!                    bits 20..=31 memmap section number, like Linux's
//!                                 SECTION_IN_PAGE_FLAGS: lets page_to_pfn
//!                                 find the section without a search
//!   8     next       u32 pfn: free-list next (head of a free block);
//!                    for a tail page of an allocated compound block: the head pfn
//!  12     prev       u32 pfn: free-list prev; NONE elsewhere
//! ```
//!
//! Links are pfns, not pointers: 4 bytes instead of 8, and a pfn can be
//! checked against the memmap before it is followed.
//!
//! Only the refcount is touched without the zone lock by design (speculative
//! gets). Flags and links are written only under the zone lock (or before the
//! descriptor is published), but they are still atomics, used with `Relaxed`:
//! a speculative reader (e.g. `compound_head` on a page that is being freed
//! concurrently) may read them without the lock, and a racy plain read would be
//! undefined behaviour. `Relaxed` is enough because the lock orders all
//! writers, and lock-free readers only use what they read as a hint that they
//! revalidate.

use crate::MAX_ORDER;
use crate::memmap::SECTION_BITS;
use crate::sync::{AtomicU32, Ordering::Relaxed};
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

// The issue's budget: at most half of Linux's 64-byte struct page. (Loom's
// atomics are much bigger, hence the cfg.)
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

    /// Zone lock held (or the page not yet published).
    #[inline]
    pub(crate) fn set_flags(&self, f: PageFlags) {
        self.flags.store(f.0, Relaxed);
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

    /// For a tail page: the pfn of its head (stored in `next`).
    #[inline]
    pub(crate) fn tail_head_pfn(&self) -> u32 {
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
    /// Tail of an allocated compound block; `next` holds the head pfn.
    pub const TAIL: u32 = 1 << 3;
    /// Bad page, leaked on purpose: it never reaches a free list again.
    pub const QUARANTINED: u32 = 1 << 4;
    /// Reserved for the per-CPU page lists (a later issue).
    pub const PCP: u32 = 1 << 5;
    const ORDER_SHIFT: u32 = 8;
    const ORDER_MASK: u32 = 0xf;
    /// Where the section number lives: the top `SECTION_BITS` bits.
    pub(crate) const SECTION_SHIFT: u32 = 32 - SECTION_BITS;

    /// The raw word.
    #[inline]
    pub const fn bits(self) -> u32 {
        self.0
    }
    /// The flags word of a fresh memmap descriptor: reserved, in `section`.
    pub(crate) const fn new_reserved(section: usize) -> Self {
        PageFlags(Self::RESERVED | ((section as u32) << Self::SECTION_SHIFT))
    }
    /// Same section, no flags, order 0.
    #[inline]
    pub(crate) const fn cleared(self) -> Self {
        PageFlags(self.0 & !((1 << Self::SECTION_SHIFT) - 1))
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
    /// The order field (meaningful on block heads).
    pub const fn order(self) -> usize {
        ((self.0 >> Self::ORDER_SHIFT) & Self::ORDER_MASK) as usize
    }
    /// The memmap section this descriptor lives in.
    pub const fn section(self) -> usize {
        (self.0 >> Self::SECTION_SHIFT) as usize
    }
}

// The order field must hold MAX_ORDER, and the section field must not overlap
// the flag and order bits.
const _: () = assert!(MAX_ORDER as u32 <= PageFlags::ORDER_MASK);
const _: () = assert!(PageFlags::SECTION_SHIFT >= 12);

impl fmt::Debug for PageFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `0x00100104(head) order=1 section=1`: raw word, then decoded.
impl fmt::Display for PageFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [(u32, &str); 6] = [
            (PageFlags::BUDDY, "buddy"),
            (PageFlags::RESERVED, "reserved"),
            (PageFlags::HEAD, "head"),
            (PageFlags::TAIL, "tail"),
            (PageFlags::QUARANTINED, "quarantined"),
            (PageFlags::PCP, "pcp"),
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
        write!(f, ") order={} section={}", self.order(), self.section())
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
        let f = PageFlags::new_reserved(4095);
        assert!(f.is_reserved());
        assert_eq!(f.section(), 4095);
        let f = f.cleared().with(PageFlags::HEAD).with_order(MAX_ORDER);
        assert!(!f.is_reserved() && f.is_head() && !f.is_tail() && !f.is_buddy());
        assert_eq!(f.order(), MAX_ORDER);
        assert_eq!(f.section(), 4095);
        let f = f.cleared().with_order(3).with(PageFlags::QUARANTINED);
        assert_eq!(f.order(), 3);
        assert!(f.is_quarantined() && !f.is_head());
        assert_eq!(f.section(), 4095);
    }

    #[test]
    fn display() {
        let f = PageFlags::new_reserved(1)
            .cleared()
            .with(PageFlags::HEAD)
            .with(PageFlags::BUDDY)
            .with_order(2);
        assert_eq!(format!("{f}"), "0x00100205(buddy|head) order=2 section=1");
        let p = Page::new(0x8000_0000);
        assert!(format!("{p:?}").contains("0x80000000"));
    }
}

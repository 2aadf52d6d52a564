//! Statistics snapshots: `/proc/buddyinfo` lines and zone counters.

use crate::NR_ORDERS;
use core::fmt;

/// Free-block counts per order, taken under the zone lock and formatted
/// without it (logging must never happen under the zone lock: the logger may
/// allocate, and the heap grows from this allocator).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuddyInfo {
    /// NUMA node (always 0 for now).
    pub node: u32,
    /// Zone name.
    pub name: &'static str,
    /// `nr_free[order]`: free blocks of each order.
    pub nr_free: [usize; NR_ORDERS],
}

/// Exactly Linux's line format (mm/vmstat.c `frag_show_print`):
/// `"Node %d, zone %8s "` then `"%6lu "` per order. The trailing newline is
/// left to the caller.
impl fmt::Display for BuddyInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Node {}, zone {:>8} ", self.node, self.name)?;
        for n in self.nr_free {
            write!(f, "{n:>6} ")?;
        }
        Ok(())
    }
}

/// Zone counters in pages, one consistent snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZoneStats {
    /// `end_pfn - start_pfn`, holes included.
    pub spanned: usize,
    /// Pages of the span that have descriptors now (present memmap
    /// subsections, including those added after the zone was created).
    pub present: usize,
    /// Pages handed to the buddy allocator (`free_memory_range`).
    pub managed: usize,
    /// Pages currently on free lists.
    pub free: usize,
    /// Present pages the allocator does not manage (`present - managed`).
    pub reserved: usize,
    /// Managed pages leaked on purpose after a bad-page report.
    pub quarantined: usize,
    /// Number of bad-page reports.
    pub bad_pages: usize,
    /// Free blocks per order.
    pub nr_free: [usize; NR_ORDERS],
}

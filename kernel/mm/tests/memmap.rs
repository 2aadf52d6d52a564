//! The sub-section memmap (2 MiB granularity, memmap.rs) under the buddy
//! allocator: small and ragged banks pay only for their subsections, and the
//! allocator never reaches a page whose subsection has no descriptors.
//!
//! Not built under `--cfg loom`: its banks assume 512-page subsections (loom's
//! are 32 pages) and its descriptors' atomics would be loom's, usable only
//! inside a loom model.
#![cfg(not(loom))]

use mm::memmap::{
    PAGES_PER_SECTION, PAGES_PER_SUBSECTION, SECTION_BYTES, SUBSECTION_BYTES,
    SUBSECTIONS_PER_SECTION,
};
use mm::{MAX_ORDER, MemMap, Page, testing};

const SUB: usize = PAGES_PER_SUBSECTION;
const SEC: usize = PAGES_PER_SECTION;

/// Every free page, allocated one by one, then freed: the counts come back,
/// and the free lists merge to what they were.
fn exhaust_and_refill(z: &mm::Zone<'static>, expected: usize) {
    let before = z.buddyinfo();
    let mut held: Vec<&Page> = Vec::new();
    while let Some(p) = z.alloc_frozen_pages(0) {
        let pfn = z.page_to_pfn(p);
        assert!(z.memmap().pfn_to_page(pfn).is_some());
        held.push(p);
    }
    assert_eq!(held.len(), expected);
    for p in held {
        z.free_frozen_pages(p, 0).unwrap();
    }
    assert_eq!(z.nr_free_pages(), expected);
    assert_eq!(z.buddyinfo(), before);
    z.verify_free_lists().unwrap();
}

/// A firmware-style map: low RAM below 640 KiB, a hole, RAM from 1 MiB to an
/// unaligned end, then a second bank in the next section with ragged edges.
#[test]
fn ragged_banks_pay_per_subsection() {
    let banks = [0..160, 256..3 * SUB + 77, SEC + SUB + 3..SEC + 2 * SUB - 5];
    let bytes = mm::memmap::pages_needed(&banks) * size_of::<Page>();
    // Section 0: subsections 0..=3; section 1: subsection 1 only.
    assert_eq!(bytes, 5 * SUBSECTION_BYTES);
    assert!(bytes < 2 * SECTION_BYTES, "less than the two whole sections it touches");
    let z: mm::Zone<'static> = testing::zone(&banks);
    let pages: usize = banks.iter().map(|r| r.len()).sum();
    assert_eq!(z.managed_pages(), pages);
    // Present = pages of present subsections inside the zone span.
    assert_eq!(z.stats().present, 4 * SUB + (SEC + 2 * SUB - 5 - (SEC + SUB)));
    assert!(z.pfn_to_page(SEC).is_none(), "leading hole of section 1");
    assert!(z.pfn_to_page(4 * SUB).is_none(), "trailing hole of section 0");
    exhaust_and_refill(&z, pages);
}

/// A free block never merges with a buddy whose subsection is absent, and
/// max-order blocks form where two present subsections are aligned buddies.
#[test]
fn no_merge_into_absent_subsection() {
    assert_eq!(1 << MAX_ORDER, 2 * SUB, "a max-order block is two subsections");
    // Subsection 1 is absent: 0..SUB cannot grow into a max-order block;
    // subsections 2 and 3 form one.
    let banks = [0..SUB, 2 * SUB..4 * SUB];
    let z: mm::Zone<'static> = testing::zone(&banks);
    let info = z.buddyinfo();
    assert_eq!(info.nr_free[MAX_ORDER], 1);
    assert_eq!(info.nr_free[MAX_ORDER - 1], 1);
    assert_eq!(z.nr_free_pages(), 3 * SUB);
    let big = z.alloc_frozen_pages(MAX_ORDER).unwrap();
    assert_eq!(z.page_to_pfn(big), 2 * SUB);
    assert!(z.alloc_frozen_pages(MAX_ORDER).is_none());
    z.free_frozen_pages(big, MAX_ORDER).unwrap();
    exhaust_and_refill(&z, 3 * SUB);
}

/// The `-m 64M` shape: one bank well under a section costs its own size in
/// descriptors (0.39%), where whole sections cost 512 KiB.
#[test]
#[cfg_attr(miri, ignore = "Miri shrinks sections below this bank")]
fn small_machine_overhead() {
    let mib = |m: usize| m << 8; // pfns per MiB with 4 KiB pages
    let banks = [0..mib(1) * 5 / 8, mib(1)..mib(60) + 17];
    let bytes = mm::memmap::pages_needed(&banks) * size_of::<Page>();
    let usable: usize = banks.iter().map(|r| r.len()).sum();
    let descriptors = usable * size_of::<Page>();
    // At most one subsection of rounding per bank end, plus the hole below 1 MiB.
    assert!(bytes <= descriptors + 4 * SUBSECTION_BYTES, "{bytes} vs {descriptors}");
    // The section table: one root and a slot chunk (or two), under 48 KiB.
    let table = mm::memmap::table_bytes_needed(&banks);
    assert!(table < 48 << 10, "{table} bytes of table");
    assert!(bytes + table < SECTION_BYTES);
    assert_eq!(MemMap::bytes_needed(&banks), bytes + table.next_multiple_of(16));
    let mm: &'static MemMap = testing::memmap(&banks);
    assert_eq!(mm.overhead_bytes(), bytes);
    assert_eq!(mm.nr_present_subsections(), 31);
    assert!(mm.nr_present_subsections() < SUBSECTIONS_PER_SECTION);
}

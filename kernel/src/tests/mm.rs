//! The memory manager in the running kernel: memmap coverage, buddy
//! allocator over all RAM, misuse detection, heap growth.

use alloc::format;
use alloc::vec::Vec;

use mm::{BadPageReason, MAX_ORDER, PAGE_SIZE, Page, RefcountBugKind};

use crate::ktest::{Failure, Suite, TestResult};
use crate::mm::{self as kmm, zone};
use crate::{bootinfo, heap, kassert, kassert_eq, kdiag};

pub static SUITE: Suite = Suite {
    name: "mm",
    cases: crate::cases![
        memmap_covers_usable_ram,
        buddy_manages_98_percent,
        every_order,
        alloc_all_free_all_merges,
        misuse_double_free,
        misuse_free_not_frozen,
        misuse_free_tail_page,
        misuse_wrong_order,
        misuse_put_on_frozen,
        misuse_pcp_double_free,
        misuse_pcp_tail_page,
        misuse_pcp_put_on_frozen,
        misuse_pcp_corrupt_cached_page,
        heap_grows_from_buddy,
        buddyinfo_format
    ],
};

fn fail(msg: alloc::string::String) -> Failure {
    Failure::Fail(msg)
}

fn memmap_covers_usable_ram() -> TestResult {
    let info = bootinfo::get();
    let mut pages = 0usize;
    for r in info.usable() {
        for pfn in r.start.div_ceil(PAGE_SIZE as u64) as usize..(r.end / PAGE_SIZE as u64) as usize
        {
            if kmm::MEMMAP.pfn_to_page(pfn).is_none() {
                return Err(fail(format!("usable pfn {pfn:#x} has no struct page")));
            }
            pages += 1;
        }
    }
    let m = kmm::meminfo();
    kdiag!(
        "memmap: {} KiB for {} MiB usable ({:.3}%), {} pages covered",
        m.memmap_bytes >> 10,
        m.usable_bytes >> 20,
        m.memmap_percent(),
        pages
    );
    let bound = memmap_bound_bytes(info);
    kdiag!("memmap bound for this map: {} KiB (descriptors at 2 MiB granularity)", bound >> 10);
    kassert!(
        m.memmap_bytes <= bound,
        "memmap {} KiB > {} KiB: more than one descriptor per page of the usable \
         ranges rounded out to 2 MiB subsections",
        m.memmap_bytes >> 10,
        bound >> 10
    );
    Ok(())
}

/// The most the memmap may cost for this machine's map, in bytes, derived
/// from the map itself: one descriptor per usable page, plus each range's
/// ends rounded out to whole subsections (2 MiB, `mm::memmap`), plus the
/// holes between two ranges of the same section (a section's descriptors are
/// one contiguous window). Whole 128 MiB sections for a small or ragged bank
/// exceed it.
fn memmap_bound_bytes(info: &bootinfo::BootInfo) -> usize {
    use mm::memmap::{PAGES_PER_SUBSECTION, PFN_SECTION_SHIFT};
    let page = PAGE_SIZE as u64;
    let ranges: Vec<core::ops::Range<usize>> = info
        .usable()
        .map(|r| r.start.div_ceil(page) as usize..(r.end / page) as usize)
        .filter(|r| r.start < r.end)
        .collect();
    let mut pages: usize = ranges.iter().map(|r| r.len() + 2 * PAGES_PER_SUBSECTION).sum();
    for w in ranges.windows(2) {
        if w[0].end >> PFN_SECTION_SHIFT == w[1].start >> PFN_SECTION_SHIFT {
            pages += w[1].start.saturating_sub(w[0].end);
        }
    }
    pages * size_of::<Page>()
}

/// The allocator manages every usable page except what the kernel keeps for
/// itself at boot (`crate::mm::init`): memory below 1 MiB and the memmap's
/// own storage. Exact, so it holds from the smallest machine up (a fixed
/// percentage would not: the memmap is a larger share of a small machine).
fn buddy_manages_98_percent() -> TestResult {
    let m = kmm::meminfo();
    kdiag!("buddy manages {:.2}% of usable RAM ({} pages)", m.managed_percent(), m.managed_pages);
    let info = bootinfo::get();
    let page = PAGE_SIZE as u64;
    let low_end = kmm::LOW_MEMORY_END / page;
    let storage = kmm::memmap_storage();
    let storage = storage.start / page..storage.end / page;
    let mut expected = 0u64;
    for r in info.usable() {
        let (start, end) = (r.start.div_ceil(page), r.end / page);
        let whole = end.saturating_sub(start);
        let below_1m = end.min(low_end).saturating_sub(start);
        let memmap = end.min(storage.end).saturating_sub(start.max(storage.start));
        expected += whole - below_1m - memmap;
    }
    kassert_eq!(m.managed_pages as u64, expected);
    kassert_eq!(m.managed_pages, kmm::boot_managed_pages());
    Ok(())
}

/// Fills a block through the physical window and checks it back.
fn fill_and_check(pfn: usize, order: usize, seed: u64) -> bool {
    let words = (PAGE_SIZE << order) / 8;
    let p = kmm::pfn_to_virt(pfn).cast::<u64>();
    // SAFETY: the caller owns the block pfn..pfn + 2^order (just allocated),
    // which the window maps; nothing else touches it meanwhile.
    unsafe {
        for i in 0..words {
            p.add(i).write_volatile(seed ^ i as u64);
        }
        (0..words).all(|i| p.add(i).read_volatile() == seed ^ i as u64)
    }
}

/// Every order from 0 to MAX_ORDER. Workload scaled to the machine: a
/// machine below the documented minimum may have no free block of the top
/// orders; then the orders it has are checked and the case reports SKIP.
fn every_order() -> TestResult {
    let z = zone();
    kmm::drain_all_pages();
    let before = z.nr_free_pages();
    let top = (0..=MAX_ORDER).rev().find(|&o| z.nr_free(o) > 0).unwrap_or(0);
    for order in 0..=top {
        let page = z.alloc_pages(order).ok_or_else(|| fail(format!("order {order} failed")))?;
        let pfn = z.page_to_pfn(page);
        kassert_eq!(pfn % (1 << order), 0);
        kassert_eq!(z.page_count(page), 1);
        kassert!(page.flags().is_head() || order == 0);
        if order > 0 {
            let tail = kmm::MEMMAP.pfn_to_page(pfn + (1 << order) - 1).unwrap();
            kassert!(tail.flags().is_tail());
            kassert_eq!(z.page_count(tail), 1);
        }
        kassert!(fill_and_check(pfn, order, 0x5eed_0000 + order as u64));
        kassert_eq!(z.put_page(page).map_err(|b| fail(format!("{b}")))?, true);
    }
    kassert_eq!(z.nr_free_pages(), before);
    if top < MAX_ORDER {
        kdiag!("largest free block: order {top}, {before} pages free");
        crate::kskip!("no free block of the top orders (machine below the minimum RAM)");
    }
    Ok(())
}

/// Takes every free page one by one (linked through the pages themselves, so
/// the test needs no memory of its own), then frees them all: the free lists
/// must come back exactly as they were (full merge).
fn alloc_all_free_all_merges() -> TestResult {
    let z = zone();
    let before = z.buddyinfo();
    let free_before = z.nr_free_pages();
    let mut head: Option<usize> = None;
    let mut n = 0usize;
    while let Some(page) = z.alloc_frozen_pages(0) {
        let pfn = z.page_to_pfn(page);
        // SAFETY: we own this frozen page; its first word stores the link.
        unsafe { kmm::pfn_to_virt(pfn).cast::<usize>().write(head.unwrap_or(usize::MAX)) };
        head = Some(pfn);
        n += 1;
    }
    kdiag!("allocated {n} order-0 pages ({} MiB), all of free memory", (n * PAGE_SIZE) >> 20);
    kassert_eq!(n, free_before);
    kassert_eq!(z.nr_free_pages(), 0);
    while let Some(pfn) = head {
        // SAFETY: the page is still ours; read its link before freeing it.
        let next = unsafe { kmm::pfn_to_virt(pfn).cast::<usize>().read() };
        let page: &Page = kmm::MEMMAP.pfn_to_page(pfn).unwrap();
        z.free_frozen_pages(page, 0).map_err(|b| fail(format!("{b}")))?;
        head = (next != usize::MAX).then_some(next);
    }
    kassert_eq!(z.nr_free_pages(), free_before);
    kassert_eq!(z.buddyinfo(), before);
    Ok(())
}

/// Runs a misuse and checks the report names the page and the reason, and
/// that the free page count did not change.
fn expect_bad(
    what: impl FnOnce() -> Result<(), mm::BadPage>,
    pfn: usize,
    reason: BadPageReason,
) -> TestResult {
    let z = zone();
    let (bad_before, free_before) = (z.bad_page_count(), z.nr_free_pages());
    let Err(bad) = what() else {
        return Err(fail(format!("misuse at pfn {pfn:#x} not detected")));
    };
    kdiag!("reported: {bad}");
    kassert_eq!(bad.reason, reason);
    kassert_eq!(bad.pfn, Some(pfn));
    kassert_eq!(z.bad_page_count(), bad_before + 1);
    kassert_eq!(z.last_bad_page(), Some(bad));
    kassert_eq!(z.nr_free_pages(), free_before);
    let text = format!("{bad}");
    kassert!(
        text.contains(&format!("{pfn:#x}")) && text.contains("count=") && text.contains("order=")
    );
    Ok(())
}

fn misuse_double_free() -> TestResult {
    let z = zone();
    let page = z.alloc_frozen_pages(2).ok_or_else(|| fail("alloc".into()))?;
    let pfn = z.page_to_pfn(page);
    z.free_frozen_pages(page, 2).map_err(|b| fail(format!("{b}")))?;
    expect_bad(|| z.free_frozen_pages(page, 2), pfn, BadPageReason::DoubleFree)?;
    // The same page freed again as part of a merged larger block is caught too.
    let inner = kmm::MEMMAP.pfn_to_page(pfn + 1).unwrap();
    expect_bad(|| z.free_frozen_pages(inner, 0), pfn + 1, BadPageReason::DoubleFree)
}

fn misuse_free_not_frozen() -> TestResult {
    let z = zone();
    let page = z.alloc_pages(0).ok_or_else(|| fail("alloc".into()))?;
    let pfn = z.page_to_pfn(page);
    // Count 1: an owned page freed as if frozen. Quarantined (leaks one page).
    expect_bad(|| z.free_frozen_pages(page, 0), pfn, BadPageReason::NotFrozen)
}

fn misuse_free_tail_page() -> TestResult {
    let z = zone();
    let page = z.alloc_frozen_pages(3).ok_or_else(|| fail("alloc".into()))?;
    let pfn = z.page_to_pfn(page);
    let tail = kmm::MEMMAP.pfn_to_page(pfn + 5).unwrap();
    let quarantined = z.quarantined_pages();
    expect_bad(|| z.free_frozen_pages(tail, 0), pfn + 5, BadPageReason::TailPage)?;
    // The whole block is quarantined: even its owner's later free keeps it
    // off the free lists, since its state can no longer be trusted.
    kassert_eq!(z.quarantined_pages(), quarantined + 8);
    let free = z.nr_free_pages();
    z.free_frozen_pages(page, 3).map_err(|b| fail(format!("{b}")))?;
    kassert_eq!(z.nr_free_pages(), free);
    Ok(())
}

fn misuse_wrong_order() -> TestResult {
    let z = zone();
    let page = z.alloc_frozen_pages(2).ok_or_else(|| fail("alloc".into()))?;
    let pfn = z.page_to_pfn(page);
    expect_bad(|| z.free_frozen_pages(page, 3), pfn, BadPageReason::WrongOrder { allocated: 2 })
}

fn misuse_put_on_frozen() -> TestResult {
    let z = zone();
    let page = z.alloc_frozen_pages(0).ok_or_else(|| fail("alloc".into()))?;
    let pfn = z.page_to_pfn(page);
    expect_bad(
        || z.put_page(page).map(|_| ()),
        pfn,
        BadPageReason::Refcount(RefcountBugKind::PutOnFrozen),
    )
}

// The same misuse through this CPU's per-CPU list (`crate::mm`'s
// alloc/free go through it): reported like on the zone path, exactly once,
// and never linked onto a list.

fn misuse_pcp_double_free() -> TestResult {
    let z = zone();
    let page = kmm::alloc_frozen_pages(0).ok_or_else(|| fail("alloc".into()))?;
    let pfn = z.page_to_pfn(page);
    kmm::free_frozen_pages(page, 0).map_err(|b| fail(format!("{b}")))?;
    let cached = kmm::nr_pcp_pages();
    // Again: the page is cached on this CPU's list.
    expect_bad(|| kmm::free_frozen_pages(page, 0), pfn, BadPageReason::DoubleFree)?;
    kassert_eq!(kmm::nr_pcp_pages(), cached);
    // A page inside a free buddy block, freed through the list.
    let block = z.alloc_frozen_pages(2).ok_or_else(|| fail("alloc".into()))?;
    let bpfn = z.page_to_pfn(block);
    z.free_frozen_pages(block, 2).map_err(|b| fail(format!("{b}")))?;
    let inner = kmm::MEMMAP.pfn_to_page(bpfn + 1).unwrap();
    expect_bad(|| kmm::free_frozen_pages(inner, 0), bpfn + 1, BadPageReason::DoubleFree)?;
    kassert_eq!(kmm::nr_pcp_pages(), cached);
    Ok(())
}

fn misuse_pcp_tail_page() -> TestResult {
    let z = zone();
    let page = kmm::alloc_frozen_pages(mm::PCP_MAX_ORDER).ok_or_else(|| fail("alloc".into()))?;
    let pfn = z.page_to_pfn(page);
    let tail = kmm::MEMMAP.pfn_to_page(pfn + 1).unwrap();
    let quarantined = z.quarantined_pages();
    expect_bad(|| kmm::free_frozen_pages(tail, 0), pfn + 1, BadPageReason::TailPage)?;
    kassert_eq!(z.quarantined_pages(), quarantined + (1 << mm::PCP_MAX_ORDER));
    // The owner's free is swallowed: the block stays out of every list.
    let cached = kmm::nr_pcp_pages();
    kmm::free_frozen_pages(page, mm::PCP_MAX_ORDER).map_err(|b| fail(format!("{b}")))?;
    kassert_eq!(kmm::nr_pcp_pages(), cached);
    Ok(())
}

fn misuse_pcp_put_on_frozen() -> TestResult {
    let z = zone();
    let cpu = crate::smp::this_cpu().index;
    let page = kmm::alloc_frozen_pages(0).ok_or_else(|| fail("alloc".into()))?;
    let pfn = z.page_to_pfn(page);
    // Reported once (expect_bad checks the count went up by exactly one).
    expect_bad(
        || z.put_page_pcp(cpu, page).map(|_| ()),
        pfn,
        BadPageReason::Refcount(RefcountBugKind::PutOnFrozen),
    )
}

/// A stray `init_page_count` on a page cached on this CPU's list: the next
/// allocation through the list reports and quarantines it instead of handing
/// it out.
fn misuse_pcp_corrupt_cached_page() -> TestResult {
    let z = zone();
    let page = kmm::alloc_frozen_pages(0).ok_or_else(|| fail("alloc".into()))?;
    let pfn = z.page_to_pfn(page);
    kmm::free_frozen_pages(page, 0).map_err(|b| fail(format!("{b}")))?;
    let (bad_before, quarantined) = (z.bad_page_count(), z.quarantined_pages());
    mm::init_page_count(page);
    // LIFO: the corrupted page is at the front of the list.
    let next = kmm::alloc_frozen_pages(0).ok_or_else(|| fail("alloc".into()))?;
    let next_pfn = z.page_to_pfn(next);
    kmm::free_frozen_pages(next, 0).map_err(|b| fail(format!("{b}")))?;
    kassert!(next_pfn != pfn, "corrupted cached page {pfn:#x} handed out");
    kassert_eq!(z.bad_page_count(), bad_before + 1);
    let bad = z.last_bad_page().ok_or_else(|| fail("no report".into()))?;
    kdiag!("reported: {bad}");
    kassert_eq!(bad.reason, BadPageReason::FreeListCorrupt);
    kassert_eq!(bad.pfn, Some(pfn));
    kassert_eq!(z.quarantined_pages(), quarantined + 1);
    Ok(())
}

/// More heap than the heap's arenas hold: the heap takes a 4 MiB block from
/// the zone. Grown arenas stay with the heap for good, so the test grows it
/// by exactly one (1 MiB chunks until it grows), which small machines can
/// afford; it needs one free max-order block.
fn heap_grows_from_buddy() -> TestResult {
    let z = zone();
    kmm::drain_all_pages();
    if z.nr_free(MAX_ORDER) == 0 {
        kdiag!("{} pages free, no free 4 MiB block", z.nr_free_pages());
        crate::kskip!("no free max-order (4 MiB) block for the heap to grow by");
    }
    let mut chunks: Vec<Vec<u8>> = Vec::with_capacity(64);
    let (arenas, free) = (heap::stats().arenas, z.nr_free_pages());
    while heap::stats().arenas == arenas && chunks.len() < 64 {
        let i = chunks.len();
        chunks.push(alloc::vec![i as u8; 1 << 20]);
    }
    kassert!(chunks.iter().enumerate().all(|(i, c)| c.iter().all(|&b| b == i as u8)));
    let grown = heap::stats().arenas - arenas;
    kdiag!("heap grew by {grown} arenas of 4 MiB");
    kassert!(grown >= 1);
    kassert_eq!(z.nr_free_pages(), free - grown * (1 << MAX_ORDER));
    Ok(())
}

fn buddyinfo_format() -> TestResult {
    let line = format!("{}", zone().buddyinfo());
    kdiag!("{line}");
    kassert!(line.starts_with("Node 0, zone   Normal "), "{}", line);
    let counts = line["Node 0, zone   Normal ".len()..].split_whitespace().count();
    kassert_eq!(counts, MAX_ORDER + 1);
    Ok(())
}

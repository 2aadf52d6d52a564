//! The kernel heap.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::alloc::Layout;

use crate::heap;
use crate::ktest::{Suite, TestResult};
use crate::{kassert, kassert_eq};

pub static SUITE: Suite = Suite {
    name: "heap",
    cases: crate::cases![box_alloc, vec_grow, large_alloc, many_small_freed, page_aligned],
};

fn box_alloc() -> TestResult {
    let a = Box::new(41u64);
    let b = Box::new([7u8; 100]);
    kassert_eq!(*a + 1, 42);
    kassert!(b.iter().all(|&x| x == 7));
    kassert!(!core::ptr::eq((&*a as *const u64).cast::<u8>(), b.as_ptr()));
    Ok(())
}

fn vec_grow() -> TestResult {
    let mut v = Vec::new();
    for i in 0..100_000u64 {
        v.push(i);
    }
    kassert_eq!(v.iter().sum::<u64>(), 100_000 * 99_999 / 2);
    Ok(())
}

/// A 2 MiB buffer: pattern written and read back intact.
fn large_alloc() -> TestResult {
    let n = 2 << 20;
    let mut v = alloc::vec![0u8; n];
    for (i, b) in v.iter_mut().enumerate() {
        *b = (i * 7 + i / 4096) as u8;
    }
    kassert!(v.iter().enumerate().all(|(i, &b)| b == (i * 7 + i / 4096) as u8));
    Ok(())
}

/// Memory is returned: usage after freeing equals usage before.
fn many_small_freed() -> TestResult {
    let before = heap::stats().used;
    let boxes: Vec<Box<[u8; 48]>> = (0..10_000).map(|i| Box::new([i as u8; 48])).collect();
    kassert!(heap::stats().used >= before + 10_000 * 48);
    kassert!(boxes.iter().enumerate().all(|(i, b)| b[47] == i as u8));
    drop(boxes);
    kassert_eq!(heap::stats().used, before);
    Ok(())
}

fn page_aligned() -> TestResult {
    let layout = Layout::from_size_align(8192, 4096).unwrap();
    // SAFETY: layout has non-zero size; the block is freed with the same layout.
    let p = unsafe { alloc::alloc::alloc(layout) };
    kassert!(!p.is_null());
    kassert_eq!(p as usize % 4096, 0);
    // SAFETY: p came from alloc with this layout and is not used afterwards.
    unsafe { alloc::alloc::dealloc(p, layout) };
    Ok(())
}

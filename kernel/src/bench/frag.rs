//! Fragmentation: after a long random churn that leaves a quarter of memory
//! allocated in scattered small blocks, how much of the free memory is still
//! available as order-9/10 blocks (what huge pages and DMA buffers need)?

use alloc::vec::Vec;

use mm::MAX_ORDER;
use protocol::bench::{FRAGMENTATION, Record, Value, field};

use crate::ktest::{Failure, TestResult};
use crate::mm::zone;

pub fn churn() -> TestResult {
    let z = zone();
    let target = z.nr_free_pages() / 4;
    // Allocated before the snapshot: if the heap grows for it, it takes its
    // memory from this zone, which must not count as fragmentation.
    let mut held: Vec<(&mm::Page, usize)> = Vec::with_capacity(target);
    let before = z.buddyinfo();
    let mut rng = mm::rand::Rng::new(0xf4a9);
    let mut held_pages = 0;
    for _ in 0..400_000 {
        if held_pages >= target || (!held.is_empty() && rng.below(3) == 0) {
            let (p, o) = held.swap_remove(rng.below(held.len()));
            z.free_frozen_pages(p, o).map_err(|b| Failure::Fail(alloc::format!("{b}")))?;
            held_pages -= 1 << o;
        } else {
            let order = [0, 0, 0, 0, 1, 1, 2, 3][rng.below(8)];
            if let Some(p) = z.alloc_frozen_pages(order) {
                held.push((p, order));
                held_pages += 1 << order;
            }
        }
    }
    let info = z.buddyinfo();
    let free = z.nr_free_pages();
    let big: usize = (9..=MAX_ORDER).map(|o| info.nr_free[o] << o).sum();
    let share = big as f64 * 100.0 / free as f64;
    println!("\n### Fragmentation after 400k random alloc/free ops holding ~25% of memory\n");
    println!("| held MiB | free MiB | free in order-9/10 blocks | buddyinfo |");
    println!("|---:|---:|---:|---|");
    println!("| {} | {} | {share:.1}% | `{info}` |", (held_pages * 4) >> 10, (free * 4) >> 10);
    println!(
        "{}",
        Record(&[
            (field::BENCH, Value::Text(FRAGMENTATION)),
            (field::VARIANT, Value::Text("buddy")),
            (field::CPUS, Value::Int(1)),
            (field::HELD_PAGES, Value::Int(held_pages as u64)),
            (field::FREE_PAGES, Value::Int(free as u64)),
            (field::BIG_BLOCK_SHARE, Value::Fixed2(share)),
        ])
    );
    for (p, o) in held {
        z.free_frozen_pages(p, o).map_err(|b| Failure::Fail(alloc::format!("{b}")))?;
    }
    if z.buddyinfo() != before {
        return Err(Failure::Fail("memory did not merge back after the churn".into()));
    }
    Ok(())
}

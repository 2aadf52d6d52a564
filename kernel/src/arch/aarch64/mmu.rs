//! The kernel's page tables (4 KiB granule, 48-bit VAs, 4 levels).
//!
//! Virtual layout (all in the TTBR1 half):
//!
//! | range                                   | what                                    |
//! |-----------------------------------------|-----------------------------------------|
//! | `PHYS_OFFSET` + phys (0xFFFF_0000_...)  | all RAM (Normal WB, no-execute) and the |
//! |                                         | MMIO the kernel uses (Device-nGnRE, XN) |
//! | `STACKS_VBASE` (0xFFFF_FF80_0000_0000)  | secondary CPUs' stacks with guard pages |
//! | `KERNEL_VBASE` (0xFFFF_FFFF_8000_0000)  | the image: text RX, rodata R, data RW   |
//!
//! TTBR0 holds the boot identity map of the image (entry.s) only while CPUs
//! come up; each CPU then turns TTBR0 walks off (TCR_EL1.EPD0), so low
//! addresses, null included, fault.
//!
//! The boot CPU builds these tables once in `build` from a pool of pages in
//! .bss (part of the kernel image, so the boot info's kernel region covers
//! them) and later only adds stack mappings in `map_stack`. Only the boot
//! CPU ever writes them, and never concurrently (see [`Tables`]).

use core::arch::asm;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};

use aarch64_cpu::asm::barrier;
use aarch64_cpu::registers::{PAR_EL1, ReadWriteable, Readable, TCR_EL1};

/// Where physical address 0 appears (the x86_64 side calls it the physical
/// memory offset): the bottom of the TTBR1 half.
pub const PHYS_OFFSET: u64 = 0xFFFF_0000_0000_0000;
/// Physical addresses the window maps: `0..PHYS_WINDOW_SIZE`, L0 entries
/// 0..=510 of the TTBR1 half (255.5 TiB: the 48-bit physical space but its
/// top 512 GiB, whose virtual twin, L0 entry 511, holds the image and the
/// stacks). RAM above it is left out of the boot memory map (boot.rs).
pub const PHYS_WINDOW_SIZE: u64 = 511 << 39;
/// The kernel's link address (linker.ld says the same).
pub const KERNEL_VBASE: u64 = 0xFFFF_FFFF_8000_0000;
/// Secondary CPUs' stacks, one [`STACK_SLOT`] per CPU index: the bottom of
/// the last L0 entry, which the image shares (512 slots are 64 MiB, far
/// below `KERNEL_VBASE`), so every other L0 entry is left to the window.
pub const STACKS_VBASE: u64 = 0xFFFF_FF80_0000_0000;

pub const PAGE_SIZE: u64 = 4096;
/// Kernel stack of a secondary CPU (the boot CPU's is 512 KiB, linker.ld).
pub const STACK_SIZE: u64 = 64 * 1024;
/// Exception stack (SP_EL1) of every CPU.
pub const EXC_STACK_SIZE: u64 = 16 * 1024;
/// Per CPU: guard page, kernel stack, guard page, exception stack, unmapped rest.
const STACK_SLOT: u64 = 128 * 1024;

// Descriptor bits.
const DESC_VALID: u64 = 1;
const DESC_TABLE: u64 = 0b11;
const DESC_PAGE: u64 = 0b11;
const DESC_BLOCK: u64 = 0b01;
/// MAIR_EL1 index 1 (entry.s): Device-nGnRE.
const ATTR_DEVICE: u64 = 1 << 2;
/// MAIR_EL1 index 2: Normal, write-back cacheable.
const ATTR_NORMAL: u64 = 2 << 2;
/// MAIR index 3: Normal, non-cacheable (entry.s's MAIR_VALUE).
const ATTR_NORMAL_NC: u64 = 3 << 2;
const AP_READ_ONLY: u64 = 1 << 7;
const SH_INNER: u64 = 3 << 8;
const AF: u64 = 1 << 10;
const PXN: u64 = 1 << 53;
const UXN: u64 = 1 << 54;
const ADDR_MASK: u64 = 0x0000_FFFF_FFFF_F000;

/// What a mapping holds; decides its attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Kernel code: read-only, executable at EL1.
    Text,
    /// Read-only data.
    ReadOnly,
    /// RAM: read-write, never executable.
    Data,
    /// MMIO: Device-nGnRE, never executable.
    Device,
    /// Video memory (a framebuffer the GPU scans out): Normal
    /// non-cacheable, so every pixel written reaches memory without cache
    /// maintenance, and writes may be merged; never executable.
    Video,
}

impl Kind {
    fn attrs(self) -> u64 {
        match self {
            Kind::Text => ATTR_NORMAL | SH_INNER | AF | AP_READ_ONLY | UXN,
            Kind::ReadOnly => ATTR_NORMAL | SH_INNER | AF | AP_READ_ONLY | PXN | UXN,
            Kind::Data => ATTR_NORMAL | SH_INNER | AF | PXN | UXN,
            Kind::Device => ATTR_DEVICE | AF | PXN | UXN,
            Kind::Video => ATTR_NORMAL_NC | SH_INNER | AF | PXN | UXN,
        }
    }
}

unsafe extern "C" {
    static __kernel_start: u8;
    static __text_end: u8;
    static __rodata_end: u8;
    static __boot_stack_guard: u8;
    static __boot_stack_bottom: u8;
    static __boot_exc_stack_bottom: u8;
    static __boot_exc_stack_top: u8;
    static __kernel_end: u8;
    fn aarch64_switch_ttbr1(root: u64, empty: u64);
}

fn sym(s: *const u8) -> u64 {
    s as u64
}

/// Start and end (exclusive) of the image in virtual memory.
pub fn kernel_range() -> (u64, u64) {
    (sym(&raw const __kernel_start), sym(&raw const __kernel_end))
}

/// The boot CPU's stacks as (bottom, top) pairs: kernel stack, exception stack.
pub fn boot_stacks() -> ((u64, u64), (u64, u64)) {
    (
        (sym(&raw const __boot_stack_bottom), sym(&raw const __boot_exc_stack_bottom)),
        (sym(&raw const __boot_exc_stack_bottom), sym(&raw const __boot_exc_stack_top)),
    )
}

/// Physical load address of the image (set once by the boot CPU, before any
/// other CPU runs; Relaxed everywhere: CPU_ON orders it for the secondaries).
static KERNEL_PHYS: AtomicU64 = AtomicU64::new(0);

pub fn kernel_phys() -> u64 {
    KERNEL_PHYS.load(Ordering::Relaxed)
}

/// Physical address of a kernel-image address (code, statics).
pub fn image_virt_to_phys(va: u64) -> u64 {
    va - KERNEL_VBASE + kernel_phys()
}

fn image_phys_to_virt(pa: u64) -> u64 {
    pa - kernel_phys() + KERNEL_VBASE
}

#[repr(C, align(4096))]
struct Table([u64; 512]);

/// Tables for the kernel image, the physical window, the devices and the
/// secondary CPUs' stacks: `MAX_CPUS` (512) stack slots of 128 KiB span
/// 64 MiB, 32 last-level tables on their own.
const POOL_TABLES: usize = 96;

struct TablesInner {
    pool: [Table; POOL_TABLES],
    used: usize,
    /// Physical address of the TTBR1 root (0 until built).
    root: u64,
    /// An all-zero table: TTBR1 points here for a moment while switching.
    empty: u64,
}

/// The kernel page tables. Written only by the boot CPU: first in
/// `build` (before any other CPU runs), then in `map_stack` from
/// `start_secondary_cpus`, which also runs on the boot CPU alone. No lock:
/// a lock would need atomic read-modify-writes, which an inline-LSE build
/// (`LSE=1`) must not run before `boot.rs` has checked the CPU has them
/// (`atomics::select`), and `build` runs before that check is reported.
struct Tables(UnsafeCell<TablesInner>);

// SAFETY: see the type's comment: one writer (the boot CPU), never concurrent.
unsafe impl Sync for Tables {}

static TABLES: Tables = Tables(UnsafeCell::new(TablesInner {
    pool: [const { Table([0; 512]) }; POOL_TABLES],
    used: 0,
    root: 0,
    empty: 0,
}));

impl TablesInner {
    /// A fresh zeroed table: (kernel virtual address, physical address).
    fn alloc(&mut self) -> (*mut Table, u64) {
        assert!(self.used < POOL_TABLES, "mmu: page-table pool exhausted");
        let t: *mut Table = &mut self.pool[self.used];
        self.used += 1;
        (t, image_virt_to_phys(t as u64))
    }

    /// Maps `[va, va + len)` to `[pa, pa + len)` with the largest blocks that
    /// fit (1 GiB, 2 MiB, 4 KiB). All three must be page-aligned, and the
    /// range must not be mapped already.
    fn map(&mut self, va: u64, pa: u64, len: u64, kind: Kind) {
        assert!(
            (va | pa | len).is_multiple_of(PAGE_SIZE),
            "mmu: unaligned map {va:#x} -> {pa:#x} + {len:#x}"
        );
        let attrs = kind.attrs();
        let (mut va, mut pa, end) = (va, pa, va + len);
        while va < end {
            let left = end - va;
            let level = if (va | pa) % (1 << 30) == 0 && left >= 1 << 30 {
                1
            } else if (va | pa) % (1 << 21) == 0 && left >= 1 << 21 {
                2
            } else {
                3
            };
            let entry = self.entry(va, level);
            // SAFETY: `entry` points into a pool table (kernel image, mapped
            // RW); only the boot CPU writes the tables (type invariant).
            unsafe {
                assert!(*entry & DESC_VALID == 0, "mmu: {va:#x} is already mapped");
                *entry = pa | attrs | if level == 3 { DESC_PAGE } else { DESC_BLOCK };
            }
            let size = 1u64 << (39 - 9 * level);
            va += size;
            pa += size;
        }
    }

    /// The descriptor slot for `va` at `level` (1..=3), creating the tables above it.
    fn entry(&mut self, va: u64, level: u32) -> *mut u64 {
        let mut table = image_phys_to_virt(self.root) as *mut Table;
        for l in 0..level {
            let index = ((va >> (39 - 9 * l)) & 0x1FF) as usize;
            // SAFETY: `table` is a pool table (see `map`).
            let slot = unsafe { &mut (*table).0[index] };
            if *slot & DESC_VALID == 0 {
                let (_, phys) = self.alloc();
                *slot = phys | DESC_TABLE;
            }
            assert!(*slot & 0b11 == DESC_TABLE, "mmu: {va:#x} is inside a block mapping");
            table = image_phys_to_virt(*slot & ADDR_MASK) as *mut Table;
        }
        let index = ((va >> (39 - 9 * level)) & 0x1FF) as usize;
        // SAFETY: as above.
        unsafe { &mut (*table).0[index] }
    }
}

/// Builds the final kernel tables: the image section by section, `ram` and
/// `devices` (physical `(start, end)` ranges) in the window. Returns the
/// root's physical address. Boot CPU only, once, before [`switch`].
///
/// # Panics
/// If a `ram` range is not page-aligned (devices are rounded out to pages).
///
/// # Safety
/// Must be called once, by the boot CPU, before any other CPU runs.
pub unsafe fn build(kernel_phys: u64, ram: &[(u64, u64)], devices: &[(u64, u64)]) -> u64 {
    KERNEL_PHYS.store(kernel_phys, Ordering::Relaxed);
    // SAFETY: boot CPU, before any other CPU (this function's contract).
    let t = unsafe { &mut *TABLES.0.get() };
    t.empty = t.alloc().1;
    t.root = t.alloc().1;
    let image = |va: u64| image_virt_to_phys(va);
    let start = sym(&raw const __kernel_start);
    let text_end = sym(&raw const __text_end);
    let rodata_end = sym(&raw const __rodata_end);
    let guard = sym(&raw const __boot_stack_guard);
    let end = sym(&raw const __kernel_end);
    t.map(start, image(start), text_end - start, Kind::Text);
    t.map(text_end, image(text_end), rodata_end - text_end, Kind::ReadOnly);
    t.map(rodata_end, image(rodata_end), guard - rodata_end, Kind::Data);
    // [guard, guard + 4 KiB) stays unmapped: the boot stack's overflow guard.
    t.map(guard + PAGE_SIZE, image(guard + PAGE_SIZE), end - guard - PAGE_SIZE, Kind::Data);
    for &(s, e) in ram {
        // Never widen a RAM range: the caller cut whole pages out of RAM
        // and out of no-map holes (boot.rs); rounding here would map the
        // bytes next to them (secure firmware's, on boards).
        assert!(
            (s | e).is_multiple_of(PAGE_SIZE),
            "mmu: window range {s:#x}..{e:#x} not page-aligned"
        );
        let e = e.min(PHYS_WINDOW_SIZE);
        if s < e {
            t.map(PHYS_OFFSET + s, s, e - s, Kind::Data);
        }
    }
    for &(s, e) in devices {
        let (s, e) = (s & !(PAGE_SIZE - 1), e.next_multiple_of(PAGE_SIZE));
        if s < e && e <= PHYS_WINDOW_SIZE {
            t.map(PHYS_OFFSET + s, s, e - s, Kind::Device);
        }
    }
    t.root
}

/// Switches this CPU's TTBR1 to the tables from [`build`].
///
/// # Safety
/// The new tables must map the kernel image at the same addresses as the
/// current ones (they do: same image, same physical pages), and TTBR0 must
/// still hold the boot identity map (the switch runs from there).
pub unsafe fn switch(root: u64) {
    // SAFETY: boot CPU, after `build` and before other CPUs run.
    let empty = unsafe { (*TABLES.0.get()).empty };
    // The tables were written through the cache; the walker is coherent with
    // it (TCR: inner-shareable write-back walks), a barrier is all it takes.
    barrier::dsb(barrier::ISHST);
    let switch_phys = image_virt_to_phys(aarch64_switch_ttbr1 as *const () as u64);
    // SAFETY: `aarch64_switch_ttbr1` is position-independent, uses no stack
    // and no memory, and its physical address is identity-mapped by TTBR0, so
    // it keeps running while TTBR1 changes under the rest of the kernel.
    unsafe {
        let f: unsafe extern "C" fn(u64, u64) = core::mem::transmute(switch_phys as usize);
        f(root, empty);
    }
}

/// Maps `[start, end)` (physical, rounded out to whole pages) into the
/// window as `kind` after [`build`], for memory found only later (the
/// framebuffer the firmware allocates). Returns false, mapping nothing, if
/// the range is beyond the window or its first page is mapped already
/// (video memory that lies in RAM stays as the window maps it).
///
/// # Safety
/// Boot CPU only, after [`switch`] and before any other CPU starts (the
/// tables have one writer, see [`Tables`]); nothing else may be mapped in
/// the range.
pub unsafe fn map_late(start: u64, end: u64, kind: Kind) -> bool {
    let (s, e) = (start & !(PAGE_SIZE - 1), end.next_multiple_of(PAGE_SIZE));
    if s >= e || e > PHYS_WINDOW_SIZE || virt_to_phys(PHYS_OFFSET + s).is_some() {
        return false;
    }
    // SAFETY: boot CPU only, no concurrent writer (contract).
    let t = unsafe { &mut *TABLES.0.get() };
    t.map(PHYS_OFFSET + s, s, e - s, kind);
    // New entries only: make them visible to the walkers (as map_stack).
    barrier::dsb(barrier::ISH);
    barrier::isb(barrier::SY);
    true
}

/// Root of the final kernel tables (what secondaries load into TTBR1).
pub fn root() -> u64 {
    // SAFETY: read-only access to a value written once by `build` before any
    // other CPU started.
    unsafe { (*TABLES.0.get()).root }
}

/// Stops this CPU from walking TTBR0 (the boot identity map): low virtual
/// addresses fault from now on.
pub fn disable_identity_map() {
    // The kernel runs entirely from TTBR1 addresses by now; EPD0 only
    // removes the low half; the TLB flush drops cached low entries.
    TCR_EL1.modify(TCR_EL1::EPD0::DisableTTBR0Walks);
    barrier::isb(barrier::SY);
    // asm!: aarch64-cpu has no TLB maintenance instructions.
    // SAFETY: invalidating this CPU's EL1 TLB entries only drops cached
    // translations; the tables stay the same.
    unsafe { asm!("tlbi vmalle1", options(nostack, preserves_flags)) };
    barrier::dsb(barrier::NSH);
    barrier::isb(barrier::SY);
}

/// Guard-page-protected stacks of CPU `index` (>= 1) in the stacks region,
/// backed by `backing` (a kernel-virtual, page-aligned block of
/// `STACK_SIZE + EXC_STACK_SIZE` bytes). Returns the kernel and exception
/// stack tops.
///
/// # Safety
/// Boot CPU only (see [`Tables`]); `backing` must belong to this stack for
/// the rest of the kernel's life.
pub unsafe fn map_stack(index: usize, backing: *mut u8) -> (u64, u64) {
    // SAFETY: boot CPU only, no concurrent writer (contract).
    let t = unsafe { &mut *TABLES.0.get() };
    let slot = STACKS_VBASE + index as u64 * STACK_SLOT;
    let stack = slot + PAGE_SIZE;
    let exc = stack + STACK_SIZE + PAGE_SIZE;
    let mut map_from = |va: u64, offset: u64, len: u64| {
        for page in (0..len).step_by(PAGE_SIZE as usize) {
            let pa =
                virt_to_phys(backing as u64 + offset + page).expect("stack backing not mapped");
            t.map(va + page, pa, PAGE_SIZE, Kind::Data);
        }
    };
    map_from(stack, 0, STACK_SIZE);
    map_from(exc, STACK_SIZE, EXC_STACK_SIZE);
    // New entries only (nothing was mapped there): no TLB maintenance, just
    // make the writes visible to the table walkers of every CPU.
    barrier::dsb(barrier::ISH);
    barrier::isb(barrier::SY);
    (stack + STACK_SIZE, exc + EXC_STACK_SIZE)
}

/// If `addr` lies in a stack guard page: the CPU index it belongs to.
pub fn stack_guard_owner(addr: u64) -> Option<usize> {
    let boot_guard = sym(&raw const __boot_stack_guard);
    if (boot_guard..boot_guard + PAGE_SIZE).contains(&addr) {
        return Some(0);
    }
    let rel = addr.checked_sub(STACKS_VBASE)?;
    let (index, offset) = ((rel / STACK_SLOT) as usize, rel % STACK_SLOT);
    let in_guard = offset < PAGE_SIZE
        || (PAGE_SIZE + STACK_SIZE..2 * PAGE_SIZE + STACK_SIZE).contains(&offset);
    (index < crate::smp::MAX_CPUS && in_guard).then_some(index)
}

/// The exception stack range of CPU `index` (for `exception_tables`).
pub fn exc_stack_range(index: usize) -> (u64, u64) {
    if index == 0 {
        return boot_stacks().1;
    }
    let exc = STACKS_VBASE + index as u64 * STACK_SLOT + 2 * PAGE_SIZE + STACK_SIZE;
    (exc, exc + EXC_STACK_SIZE)
}

/// Translates a virtual address with the active tables (the MMU's own walk,
/// `AT S1E1R`), or `None` if it is not mapped (readable).
pub fn virt_to_phys(virt: u64) -> Option<u64> {
    // asm!: aarch64-cpu has no address-translation (AT) instructions.
    // SAFETY: AT only writes PAR_EL1, which nothing else keeps live (interrupts
    // are masked, so no handler runs between the AT and the read below).
    unsafe { asm!("at s1e1r, {va}", va = in(reg) virt, options(nostack, preserves_flags)) };
    barrier::isb(barrier::SY);
    if PAR_EL1.is_set(PAR_EL1::F) {
        return None;
    }
    Some((PAR_EL1.get() & ADDR_MASK) | (virt & (PAGE_SIZE - 1)))
}

/// Cleans and invalidates the data cache lines over `[start, start + len)`
/// to the point of coherency, for a CPU that will read them with its MMU
/// (and so its caches) still off.
pub fn clean_dcache_range(start: u64, len: u64) {
    let ctr: u64;
    // asm!: aarch64-cpu has no CTR_EL0 register type.
    // SAFETY: reading CTR_EL0 (cache geometry) at EL1 has no side effects.
    unsafe { asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack, preserves_flags)) };
    // CTR_EL0.DminLine (bits 19:16): log2 of the smallest D-cache line in words.
    let line = 4u64 << ((ctr >> 16) & 0xF);
    let mut addr = start & !(line - 1);
    while addr < start + len {
        // asm!: aarch64-cpu has no data-cache maintenance instructions.
        // SAFETY: DC CIVAC on a mapped kernel address only writes back and
        // drops cache lines; memory contents are unchanged.
        unsafe { asm!("dc civac, {}", in(reg) addr, options(nostack, preserves_flags)) };
        addr += line;
    }
    barrier::dsb(barrier::SY);
}

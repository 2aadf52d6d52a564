//! GDT and TSS, one pair per CPU: 64-bit code/data segments and a TSS whose
//! first interrupt stack (IST 0) is reserved for double faults, so a kernel
//! stack overflow still produces a report instead of a triple fault.
//!
//! The boot CPU's tables are static (they are needed before the heap); each
//! secondary CPU gets its own from the heap, allocated once and never freed.

use alloc::boxed::Box;
use alloc::vec;

use spin::Lazy;
use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::{load_tss, sgdt};
use x86_64::registers::segmentation::SegmentSelector;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable};
use x86_64::structures::tss::TaskStateSegment;

/// IST slot used by the double-fault handler.
pub const DOUBLE_FAULT_IST: u16 = 0;
const FAULT_STACK_SIZE: usize = 32 * 1024;

#[repr(C, align(16))]
struct FaultStack([u8; FAULT_STACK_SIZE]);

static BSP_FAULT_STACK: FaultStack = FaultStack([0; FAULT_STACK_SIZE]);
static BSP_TSS: Lazy<TaskStateSegment> = Lazy::new(|| {
    tss_with_fault_stack(VirtAddr::from_ptr(&BSP_FAULT_STACK) + FAULT_STACK_SIZE as u64)
});
static BSP_GDT: Lazy<Gdt> = Lazy::new(|| Gdt::new(&BSP_TSS));

struct Gdt {
    table: GlobalDescriptorTable,
    code: SegmentSelector,
    data: SegmentSelector,
    tss: SegmentSelector,
}

impl Gdt {
    fn new(tss: &'static TaskStateSegment) -> Self {
        let mut table = GlobalDescriptorTable::new();
        let code = table.append(Descriptor::kernel_code_segment());
        let data = table.append(Descriptor::kernel_data_segment());
        let tss = table.append(Descriptor::tss_segment(tss));
        Self { table, code, data, tss }
    }

    fn load(&'static self) {
        self.table.load();
        // SAFETY: the selectors index descriptors of the GDT just loaded, which
        // is 'static; code is a 64-bit kernel code segment, data a kernel data
        // segment, tss an available TSS never loaded by another CPU.
        unsafe {
            CS::set_reg(self.code);
            DS::set_reg(self.data);
            ES::set_reg(self.data);
            SS::set_reg(self.data);
            load_tss(self.tss);
        }
    }
}

fn tss_with_fault_stack(top: VirtAddr) -> TaskStateSegment {
    let mut tss = TaskStateSegment::new();
    tss.interrupt_stack_table[DOUBLE_FAULT_IST as usize] = top.align_down(16u64);
    tss
}

/// Loads the boot CPU's static tables.
pub fn init_bsp() {
    BSP_GDT.load();
}

/// Builds and loads a secondary CPU's own tables (needs the heap).
pub fn init_ap() {
    let stack = vec![0u8; FAULT_STACK_SIZE].leak();
    let top = VirtAddr::from_ptr(stack.as_ptr()) + FAULT_STACK_SIZE as u64;
    let tss: &'static TaskStateSegment = Box::leak(Box::new(tss_with_fault_stack(top)));
    let gdt: &'static Gdt = Box::leak(Box::new(Gdt::new(tss)));
    gdt.load();
}

/// Reads back, from the CPU's own registers, the TSS it uses (TR -> GDT
/// descriptor -> TSS) and checks that the double-fault stack is set.
pub fn fault_stack_ok() -> bool {
    let gdtr = sgdt();
    let tr: u16;
    // SAFETY: `str` only reads the task register.
    unsafe { core::arch::asm!("str {0:x}", out(reg) tr, options(nomem, nostack, preserves_flags)) };
    let index = usize::from(tr >> 3);
    if index == 0 || (index + 1) * 8 > usize::from(gdtr.limit) + 1 {
        return false;
    }
    // SAFETY: the GDTR describes the live GDT; the 16-byte TSS descriptor at
    // `index` lies within its limit (checked above).
    let (low, high) = unsafe {
        let entries = gdtr.base.as_ptr::<u64>();
        (entries.add(index).read(), entries.add(index + 1).read())
    };
    let base =
        ((low >> 16) & 0xFF_FFFF) | (((low >> 56) & 0xFF) << 24) | ((high & 0xFFFF_FFFF) << 32);
    // SAFETY: the descriptor the CPU uses for TR points at a live TSS.
    let tss = unsafe { &*(base as *const TaskStateSegment) };
    let ist = tss.interrupt_stack_table[DOUBLE_FAULT_IST as usize].as_u64();
    ist != 0 && ist % 16 == 0
}

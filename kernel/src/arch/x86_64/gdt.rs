//! GDT and TSS: 64-bit code/data segments and a TSS whose first interrupt
//! stack (IST 0) is reserved for double faults, so a kernel stack overflow
//! still produces a report instead of a triple fault.

use spin::Lazy;
use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;

/// IST slot used by the double-fault handler.
pub const DOUBLE_FAULT_IST: u16 = 0;
const FAULT_STACK_SIZE: usize = 32 * 1024;

#[repr(C, align(16))]
struct Stack([u8; FAULT_STACK_SIZE]);

static DOUBLE_FAULT_STACK: Stack = Stack([0; FAULT_STACK_SIZE]);

static TSS: Lazy<TaskStateSegment> = Lazy::new(|| {
    let mut tss = TaskStateSegment::new();
    // The CPU writes to this stack; it is only ever used by the double-fault
    // handler of this (boot) CPU, so no other code touches it.
    let top = VirtAddr::from_ptr(&DOUBLE_FAULT_STACK) + FAULT_STACK_SIZE as u64;
    tss.interrupt_stack_table[DOUBLE_FAULT_IST as usize] = top;
    tss
});

struct Gdt {
    table: GlobalDescriptorTable,
    code: SegmentSelector,
    data: SegmentSelector,
    tss: SegmentSelector,
}

static GDT: Lazy<Gdt> = Lazy::new(|| {
    let mut table = GlobalDescriptorTable::new();
    let code = table.append(Descriptor::kernel_code_segment());
    let data = table.append(Descriptor::kernel_data_segment());
    let tss = table.append(Descriptor::tss_segment(&TSS));
    Gdt { table, code, data, tss }
});

pub fn init() {
    GDT.table.load();
    // SAFETY: the selectors index descriptors of the GDT just loaded, which is
    // 'static; code is a 64-bit kernel code segment, data a kernel data segment.
    unsafe {
        CS::set_reg(GDT.code);
        DS::set_reg(GDT.data);
        ES::set_reg(GDT.data);
        SS::set_reg(GDT.data);
        load_tss(GDT.tss);
    }
}

/// The double-fault IST entry points at the top of our static fault stack.
pub fn fault_stack_ok() -> bool {
    let top = TSS.interrupt_stack_table[DOUBLE_FAULT_IST as usize].as_u64();
    let base = &DOUBLE_FAULT_STACK as *const Stack as u64;
    top == base + FAULT_STACK_SIZE as u64
}

//! Bringing up the application processors (APs): CPUs from the ACPI MADT
//! (local APIC and x2APIC entries), INIT-SIPI-SIPI through the local APIC in
//! whichever mode it runs (xAPIC or x2APIC, see `apic.rs`), and the real-mode
//! trampoline in `trampoline.s`.
//!
//! APs are started one at a time: the BSP fills the trampoline's data (stack,
//! entry, CPU index, page table root), sends the IPIs and waits up to
//! [`AP_TIMEOUT_US`] for the AP to mark itself online. An AP that does not
//! come up is reported, put back into INIT (so it cannot run the trampoline
//! later with another CPU's data), and the kernel goes on without it.

use core::arch::global_asm;
use core::sync::atomic::Ordering;

use x86_64::registers::control::Cr3;

use super::{acpi, apic, gdt, interrupts, paging, percpu, tsc};
use crate::bootinfo;
use crate::smp::{self, CPUS, MAX_CPUS};

global_asm!(include_str!("trampoline.s"), options(att_syntax));

unsafe extern "C" {
    static ap_trampoline_start: u8;
    static ap_trampoline_end: u8;
    static ap_tramp_far32: u8;
    static ap_tramp_far64: u8;
    static ap_prot32: u8;
    static ap_long64: u8;
    static ap_tramp_gdt: u8;
    static ap_tramp_gdt_ptr: u8;
    static ap_tramp_cr3_low: u8;
    static ap_tramp_data: u8;
}

/// Pages the trampoline needs below 1 MiB: code+data, PML4 copy, PDPT, PD.
const TRAMPOLINE_PAGES: u64 = 4;
/// Preferred trampoline address (any usable 4 pages below 1 MiB work).
const TRAMPOLINE_PREFERRED: u64 = 0x8000;
/// 64 KiB stacks (plus a guard page each).
const AP_STACK_PAGES: u64 = 16;
const AP_TIMEOUT_US: u64 = 1_000_000;

/// Offset of a trampoline symbol from its start.
fn offset_of(sym: *const u8) -> usize {
    sym as usize - (&raw const ap_trampoline_start) as usize
}

/// Physical address for the trampoline: 4 usable pages below 1 MiB, above
/// the real-mode IVT/BDA page.
fn trampoline_phys() -> Option<u64> {
    let info = bootinfo::get();
    let fits = |base: u64| {
        info.usable().any(|r| r.start <= base && base + TRAMPOLINE_PAGES * 4096 <= r.end)
    };
    if fits(TRAMPOLINE_PREFERRED) {
        return Some(TRAMPOLINE_PREFERRED);
    }
    (1..0x9C).map(|page| page * 4096).find(|&base| fits(base))
}

/// Starts every CPU the MADT flags Enabled that can be started. Returns the
/// number online.
///
/// The possible CPUs (what the smp suite expects online) are the boot CPU
/// and the ones started: a CPU that cannot be started for a known reason (an
/// APIC id an xAPIC cannot address, no memory for the trampoline) is
/// reported with that reason and not counted, and Online Capable CPUs are
/// listed as hot-pluggable. Only a CPU that was sent INIT-SIPI and did not
/// answer is a failure.
pub fn start_aps() -> usize {
    let bsp_apic = apic::id();
    println!("apic: {}, boot CPU APIC id {bsp_apic}", apic::describe());
    CPUS[0].hw_id.store(bsp_apic, Ordering::Relaxed);
    let cpus = match acpi::madt_cpus() {
        Ok(cpus) => cpus,
        Err(e) => {
            println!("smp: no CPU list from ACPI ({e}); running on the boot CPU only");
            smp::set_possible(1, MAX_CPUS);
            return 1;
        }
    };
    if !cpus.online_capable.is_empty() {
        println!(
            "smp: {} hot-pluggable CPU(s) (MADT Online Capable, not Enabled), not started: APIC ids {:?}",
            cpus.online_capable.len(),
            cpus.online_capable
        );
    }
    // CPU 0 is the BSP; the others get indexes 1.. in MADT order.
    let aps = cpus.enabled.iter().copied().filter(|&id| id != bsp_apic);
    // xAPIC destinations are 8 bits: a larger id would wrap onto another CPU.
    let (aps, unreachable): (alloc::vec::Vec<u32>, alloc::vec::Vec<u32>) =
        aps.partition(|&id| apic::x2apic() || id <= 0xFF);
    for id in &unreachable {
        println!(
            "smp: CPU with APIC id {id} cannot be started: needs x2APIC (boot with apic=x2apic)"
        );
    }
    if aps.len() + 1 > MAX_CPUS {
        println!(
            "smp: {} CPUs can be started, only {MAX_CPUS} supported: starting {MAX_CPUS}",
            aps.len() + 1
        );
    }
    let Some(tramp) = trampoline_phys() else {
        println!(
            "smp: {} CPU(s) cannot be started: no usable memory below 1 MiB for the AP trampoline",
            aps.len()
        );
        smp::set_possible(1, MAX_CPUS);
        return 1;
    };
    smp::set_possible(aps.len() + 1, MAX_CPUS);
    for (index, apic_id) in (1..MAX_CPUS).zip(aps) {
        CPUS[index].hw_id.store(apic_id, Ordering::Relaxed);
        if !start_one(tramp, index, apic_id) {
            println!("smp: CPU {index} (APIC id {apic_id}) did not come up; continuing without it");
            apic::send_init(apic_id);
        }
    }
    smp::nr_online()
}

fn start_one(tramp: u64, index: usize, apic_id: u32) -> bool {
    let Some(stack_top) = paging::map_kernel_stack(AP_STACK_PAGES) else {
        println!("smp: no memory for CPU {index}'s stack");
        return false;
    };
    prepare_trampoline(tramp, stack_top, index as u64);
    apic::send_init_sipi_sipi(apic_id, (tramp >> 12) as u8);
    let deadline = tsc::rdtsc() + AP_TIMEOUT_US * tsc::ticks_per_us();
    while tsc::rdtsc() < deadline {
        if CPUS[index].online.load(Ordering::Acquire) {
            return true;
        }
        core::hint::spin_loop();
    }
    false
}

/// Copies the trampoline to `tramp` and fills in its data and page tables.
fn prepare_trampoline(tramp: u64, stack_top: u64, arg: u64) {
    let info = bootinfo::get();
    let start = &raw const ap_trampoline_start;
    let len = offset_of(&raw const ap_trampoline_end);
    let dst = info.phys_to_virt(tramp);
    let (kernel_cr3, _) = Cr3::read();
    let kernel_cr3 = kernel_cr3.start_address().as_u64();
    let pml4 = tramp + 0x1000;
    let pdpt = tramp + 0x2000;
    let pd = tramp + 0x3000;
    const PRESENT_RW: u64 = 0b11;
    const HUGE: u64 = 1 << 7;
    // SAFETY: [tramp, tramp + 4 pages) is usable RAM below 1 MiB that the
    // memory manager never hands out (it keeps all of low memory), mapped
    // by the physical window; `start..start+len` is the trampoline's code.
    unsafe {
        core::ptr::copy_nonoverlapping(start, dst, len);
        let put32 =
            |sym: *const u8, v: u32| dst.add(offset_of(sym)).cast::<u32>().write_unaligned(v);
        let put64 = |off: usize, v: u64| {
            dst.add(offset_of(&raw const ap_tramp_data) + off).cast::<u64>().write_unaligned(v)
        };
        put32(&raw const ap_tramp_far32, (tramp as usize + offset_of(&raw const ap_prot32)) as u32);
        put32(&raw const ap_tramp_far64, (tramp as usize + offset_of(&raw const ap_long64)) as u32);
        put32(
            (&raw const ap_tramp_gdt_ptr).add(2),
            (tramp as usize + offset_of(&raw const ap_tramp_gdt)) as u32,
        );
        put32(&raw const ap_tramp_cr3_low, pml4 as u32);
        put64(0, stack_top);
        put64(8, ap_entry as *const () as u64);
        put64(16, arg);
        put64(24, kernel_cr3);
        put64(32, paging::ap_efer_bits());
        // A PML4 that shares the kernel's upper half and identity-maps the
        // first 2 MiB (entry 0), so the trampoline survives enabling paging.
        let table = |phys: u64| info.phys_to_virt(phys).cast::<u64>();
        core::ptr::copy_nonoverlapping(table(kernel_cr3), table(pml4), 512);
        core::ptr::write_bytes(table(pdpt), 0, 512);
        core::ptr::write_bytes(table(pd), 0, 512);
        table(pd).write(HUGE | PRESENT_RW);
        table(pdpt).write(pd | PRESENT_RW);
        table(pml4).write(pdpt | PRESENT_RW);
    }
}

/// First Rust code on an AP, called by the trampoline on its own stack.
extern "C" fn ap_entry(index: u64, kernel_cr3: u64) -> ! {
    // SAFETY: `kernel_cr3` is the BSP's page table root; we run from the
    // kernel's upper half (mapped identically in both tables), so code and
    // stack stay mapped across the switch away from the trampoline's copy.
    unsafe { core::arch::asm!("mov cr3, {}", in(reg) kernel_cr3, options(nostack)) };
    // First: the same PAT as the boot CPU before anything here can reach
    // the framebuffer's write-combining mapping (a print would).
    super::pat::init_ap();
    let index = index as usize;
    percpu::init(index);
    gdt::init_ap();
    interrupts::init_ap();
    apic::init();
    CPUS[index].hw_id.store(apic::id(), Ordering::Relaxed);
    smp::set_online(index);
    smp::secondary_idle_loop(&CPUS[index])
}

/// Wakes `cpu` from `idle_until` with the wake-up IPI.
pub fn wake_cpu(cpu: &smp::Cpu) {
    apic::send_fixed(cpu.hw_id.load(Ordering::Relaxed), apic::WAKE_VECTOR);
}

/// Sleeps (interrupts on, `hlt`) unless `ready()` is already true. The check
/// runs with interrupts off and `sti; hlt` is atomic, so a wake-up IPI sent
/// after the check still ends the `hlt`.
pub fn idle_until(ready: &dyn Fn() -> bool) {
    x86_64::instructions::interrupts::disable();
    if !ready() {
        x86_64::instructions::interrupts::enable_and_hlt();
        x86_64::instructions::interrupts::disable();
    }
}

// aarch64 entry: the arm64 Image header, the boot CPU's path from the loader
// to Rust, the secondary CPUs' path from PSCI CPU_ON to Rust, and the helper
// that switches TTBR1 from the identity map. See docs/aarch64.md.
//
// Until the MMU is on, everything here runs at whatever physical address the
// loader chose: only PC-relative addressing (adr/adrp) is used, never a
// link-time address. After the MMU is on we jump to the link-time (high)
// addresses with `ldr xN, =label` + `br`.

// Memory attributes (MAIR_EL1 indexes; mmu.rs uses the same numbers).
.equ MAIR_VALUE,      0x44FF0400   // 0: Device-nGnRnE 1: Device-nGnRE 2: Normal WB 3: Normal NC
// TCR_EL1: T0SZ = T1SZ = 16 (48-bit VA), 4 KiB granules, walks inner+outer
// WBWA inner-shareable; IPS is filled in from ID_AA64MMFR0_EL1 at run time.
.equ TCR_VALUE,       0xB5103510
// SCTLR_EL1 RES1 bits (ARMv8.0: 11, 20, 22, 23, 28, 29), MMU off / on (M, C, SA, I).
.equ SCTLR_MMU_OFF,   0x30D00800
.equ SCTLR_MMU_ON,    0x30D0180D
// Block descriptor for the boot maps: valid block, AttrIndx 2 (Normal WB),
// inner shareable, access flag; EL1 RW and executable (boot tables only).
.equ BOOT_BLOCK_ATTRS, 0x709
.equ TABLE_DESC,      0x3

// Offsets in `ApBoot` (smp.rs; checked there with offset_of!).
.equ AP_TTBR1,        0
.equ AP_STACK_TOP,    8
.equ AP_EXC_STACK_TOP, 16
.equ AP_INDEX,        24

.section .text.head, "ax"
.global _start
_start:
    // arm64 Image header (Linux Documentation/arch/arm64/booting.rst).
    b       primary_entry           // code0: branch to the real entry
    .long   0                       // code1
    .quad   0                       // text_offset: load at a 2 MiB-aligned base
    .quad   __image_size            // image_size, including .bss and the boot stacks
    .quad   0x2                     // flags: little-endian, 4 KiB pages, base close to RAM start
    .quad   0                       // res2
    .quad   0                       // res3
    .quad   0                       // res4
    .ascii  "ARM\x64"               // magic
    .long   0                       // res5 (no PE/COFF header)

// x0 = physical address of the DTB (booting.rst); x1-x3 = 0.
primary_entry:
    msr     daifset, #0xf
    mov     x19, x0                 // x19 = DTB (physical)
    bl      el1_setup
    adrp    x20, _start             // x20 = physical load address of the image
    // The boot map uses 2 MiB blocks: the load address must be 2 MiB aligned
    // (booting.rst guarantees it for text_offset 0).
    tst     x20, #0x1fffff
    b.ne    boot_fail
    // Identity map via one L1 table: physical addresses must be < 512 GiB.
    lsr     x0, x20, #39
    cbnz    x0, boot_fail
    lsr     x0, x19, #39
    cbnz    x0, boot_fail

    // Zero the five boot tables (with the MMU off these writes go to memory).
    adrp    x0, boot_tables_start
    adrp    x1, boot_tables_end
1:  stp     xzr, xzr, [x0], #16
    cmp     x0, x1
    b.lo    1b

    // TTBR1: KERNEL_VBASE + [0, image_size) -> x20 in 2 MiB blocks.
    // KERNEL_VBASE = 0xFFFFFFFF80000000: L0 index 511, L1 index 510.
    adrp    x0, boot_l0_hi
    adrp    x1, boot_l1_hi
    orr     x2, x1, #TABLE_DESC
    str     x2, [x0, #511 * 8]
    adrp    x2, boot_l2_hi
    orr     x3, x2, #TABLE_DESC
    str     x3, [x1, #510 * 8]
    ldr     x3, =__image_size
    mov     x4, #0x1fffff
    add     x3, x3, x4
    lsr     x3, x3, #21             // number of 2 MiB blocks
    mov     x4, x20
    mov     x5, #BOOT_BLOCK_ATTRS
2:  orr     x6, x4, x5
    str     x6, [x2], #8
    add     x4, x4, #0x200000
    subs    x3, x3, #1
    b.ne    2b

    // TTBR0: identity map, 1 GiB blocks, of the GiB holding the image and of
    // those holding the DTB: its first 2 MiB and, when the header is valid,
    // all `totalsize` bytes (QEMU's -dtb blobs are padded past 2 MiB). The
    // blob may straddle a GiB boundary; it must end below 512 GiB.
    adrp    x0, boot_l0_id
    adrp    x1, boot_l1_id
    orr     x2, x1, #TABLE_DESC
    str     x2, [x0]
    mov     x0, x20
    bl      boot_map_gib
    mov     x0, x19
    bl      boot_map_gib
    add     x0, x19, #0x200000
    sub     x0, x0, #1
    bl      boot_map_gib
    ldr     w0, [x19]               // magic 0xd00dfeed, big-endian
    rev     w0, w0
    ldr     w1, =0xd00dfeed
    cmp     w0, w1
    b.ne    6f
    ldr     w0, [x19, #4]           // totalsize, big-endian
    rev     w0, w0
    add     x0, x19, x0
    sub     x0, x0, #1
    lsr     x1, x0, #39
    cbnz    x1, boot_fail
    bl      boot_map_gib
6:

    // Drop any stale cache lines over the tables (written with the MMU off).
    adrp    x0, boot_tables_start
    adrp    x1, boot_tables_end
    dmb     sy
3:  dc      ivac, x0
    add     x0, x0, #64
    cmp     x0, x1
    b.lo    3b
    dsb     sy

    adrp    x0, boot_l0_id
    adrp    x1, boot_l0_hi
    bl      mmu_on
    ldr     x0, =primary_high
    br      x0

// Maps the 1 GiB containing x0 (< 512 GiB) 1:1 in boot_l1_id. Clobbers x0-x3.
boot_map_gib:
    lsr     x0, x0, #30
    adrp    x1, boot_l1_id
    lsl     x2, x0, #30
    mov     x3, #BOOT_BLOCK_ATTRS
    orr     x2, x2, x3
    str     x2, [x1, x0, lsl #3]
    ret

// Now at the link-time address; TTBR0 still identity-maps the image.
primary_high:
    // Zero .bss (cacheable now). The boot stacks lie above __bss_end.
    ldr     x0, =__bss_start
    ldr     x1, =__bss_end
4:  cmp     x0, x1
    b.hs    5f
    stp     xzr, xzr, [x0], #16
    b       4b
5:  // Exceptions use SP_EL1 (this CPU's exception stack); the kernel runs on
    // SP_EL0 (EL1t), so a kernel stack overflow still has a stack to report on.
    ldr     x0, =__boot_exc_stack_top
    mov     sp, x0
    msr     spsel, #0
    ldr     x0, =__boot_stack_top
    mov     sp, x0
    ldr     x0, =exception_vectors
    msr     vbar_el1, x0
    isb
    mov     x0, x19                 // DTB (physical)
    mov     x1, x20                 // image load address (physical)
    bl      aarch64_primary_main
    b       boot_fail

// PSCI CPU_ON entry point (physical address), x0 = context_id = physical
// address of this CPU's `ApBoot` record. MMU off, like at primary_entry.
.global aarch64_secondary_entry
aarch64_secondary_entry:
    msr     daifset, #0xf
    mov     x19, x0
    bl      el1_setup
    adrp    x0, boot_l0_id          // the boot CPU's identity map (still intact)
    ldr     x1, [x19, #AP_TTBR1]    // the final kernel tables
    bl      mmu_on
    ldr     x0, =secondary_high
    br      x0
secondary_high:
    // x19 still works: the record lies in the identity-mapped image.
    ldr     x0, [x19, #AP_EXC_STACK_TOP]
    mov     sp, x0
    msr     spsel, #0
    ldr     x0, [x19, #AP_STACK_TOP]
    mov     sp, x0
    ldr     x0, =exception_vectors
    msr     vbar_el1, x0
    isb
    ldr     x0, [x19, #AP_INDEX]
    bl      aarch64_secondary_main
    b       boot_fail

// Leaves this CPU at EL1 with FP/SIMD usable; clobbers x0-x1. From EL2: EL1
// gets AArch64, no hypervisor traps, the counters, and an MMU-off SCTLR.
el1_setup:
    mrs     x0, CurrentEL
    lsr     x0, x0, #2
    cmp     x0, #1
    b.eq    1f
    cmp     x0, #2
    b.ne    boot_fail               // EL3 (or EL0?): not supported
    mov     x0, #(1 << 31)          // HCR_EL2.RW: EL1 is AArch64; nothing trapped
    msr     hcr_el2, x0
    mov     x0, #3                  // CNTHCTL_EL2: EL1PCTEN | EL1PCEN
    msr     cnthctl_el2, x0
    msr     cntvoff_el2, xzr
    mov     x0, #0x33ff             // CPTR_EL2: RES1 bits, TFP = 0 (no FP trap)
    msr     cptr_el2, x0
    msr     hstr_el2, xzr
    mrs     x0, midr_el1            // EL1 reads of MIDR/MPIDR return these
    msr     vpidr_el2, x0
    mrs     x0, mpidr_el1
    msr     vmpidr_el2, x0
    // A GICv3 CPU interface (ID_AA64PFR0_EL1.GIC != 0): let EL1 use its
    // system registers (ICC_SRE_EL2: SRE | DFB | DIB | Enable); without
    // Enable, EL1's accesses to ICC_SRE_EL1 would trap to this EL2.
    mrs     x0, id_aa64pfr0_el1
    ubfx    x0, x0, #24, #4
    cbz     x0, 2f
    mov     x0, #0xf
    msr     S3_4_C12_C9_5, x0       // ICC_SRE_EL2
    isb
    msr     S3_4_C12_C11_0, xzr     // ICH_HCR_EL2: no virtual interrupts
2:  ldr     x0, =SCTLR_MMU_OFF
    msr     sctlr_el1, x0
    mov     x0, #0x3c5              // SPSR: EL1h, D/A/I/F masked
    msr     spsr_el2, x0
    adr     x0, 1f
    msr     elr_el2, x0
    eret
1:  mov     x0, #(3 << 20)          // CPACR_EL1.FPEN = 0b11: no FP/SIMD traps
    msr     cpacr_el1, x0
    isb
    ret

// Turns the MMU on with TTBR0 = x0, TTBR1 = x1 (physical). Clobbers x0-x4.
mmu_on:
    ldr     x2, =MAIR_VALUE
    msr     mair_el1, x2
    ldr     x2, =TCR_VALUE
    mrs     x3, id_aa64mmfr0_el1
    and     x3, x3, #0x7            // PARange
    cmp     x3, #5                  // > 48 bits needs 52-bit descriptors: cap at 48
    mov     x4, #5
    csel    x3, x3, x4, ls
    bfi     x2, x3, #32, #3         // TCR_EL1.IPS
    msr     tcr_el1, x2
    msr     ttbr0_el1, x0
    msr     ttbr1_el1, x1
    isb
    tlbi    vmalle1
    ic      iallu
    dsb     nsh
    isb
    ldr     x2, =SCTLR_MMU_ON
    msr     sctlr_el1, x2
    isb
    ic      iallu
    dsb     nsh
    isb
    ret

boot_fail:
    wfe
    b       boot_fail

// Switches TTBR1 to x0 through an empty table in x1 (break-before-make for
// the kernel's own mapping). Called at its *physical* address, through the
// identity map, so nothing it fetches goes through TTBR1; it touches no memory.
.global aarch64_switch_ttbr1
aarch64_switch_ttbr1:
    dsb     ishst
    msr     ttbr1_el1, x1
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    msr     ttbr1_el1, x0
    isb
    tlbi    vmalle1
    dsb     nsh
    isb
    ret

.ltorg

.section .bss.boot_tables, "aw", %nobits
.balign 4096
boot_tables_start:
boot_l0_hi: .space 4096
boot_l1_hi: .space 4096
boot_l2_hi: .space 4096
boot_l0_id: .space 4096
boot_l1_id: .space 4096
boot_tables_end:

// Real-mode start code for application processors (APs).
//
// The BSP copies the bytes between ap_trampoline_start and ap_trampoline_end
// to a page T below 1 MiB, fills in the data fields and the two far-jump
// targets, builds page tables at T+0x1000 (a copy of the kernel's PML4 plus
// an identity map of the first 2 MiB at T+0x2000/T+0x3000), and sends
// STARTUP with vector T >> 12. The AP then starts here in real mode with
// CS = T >> 4, IP = 0. Everything is addressed relative to T: the code does
// not know where it runs until it reads CS.
//
// 16-bit -> 32-bit protected mode -> (PAE, EFER.LME|NXE, paging) 64-bit long
// mode -> call ap_entry(arg, kernel_cr3) on the stack the BSP chose.
// EFER.NXE must match the boot CPU's: the kernel's page tables use the
// no-execute bit exactly when NXE is on there (a reserved bit, so a page
// fault, while NXE is clear), and setting NXE on a CPU without NX is a #GP.

.section .text.ap_trampoline, "ax"
.global ap_trampoline_start
.global ap_trampoline_end
.global ap_tramp_far32
.global ap_tramp_far64
.global ap_tramp_gdt_ptr
.global ap_tramp_cr3_low
.global ap_tramp_data
.global ap_tramp_gdt
.global ap_prot32
.global ap_long64
.balign 4096
.code16
ap_trampoline_start:
    cli
    cld
    mov %cs, %ax
    mov %ax, %ds
    // ebx = T (linear base), kept through every mode switch.
    xor %ebx, %ebx
    mov %ax, %bx
    shl $4, %ebx
    lgdtl (ap_tramp_gdt_ptr - ap_trampoline_start)
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    // ljmpl $0x08, $(T + prot32): target patched by the BSP.
    .byte 0x66, 0xea
ap_tramp_far32:
    .long 0
    .word 0x08

.code32
ap_prot32:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov %cr4, %eax
    or $(1 << 5), %eax                 // PAE
    mov %eax, %cr4
    mov (ap_tramp_cr3_low - ap_trampoline_start)(%ebx), %eax
    mov %eax, %cr3
    mov $0xC0000080, %ecx              // IA32_EFER
    rdmsr
    // LME, and NXE exactly when the boot CPU has it (data [32], from the BSP)
    or (ap_tramp_data - ap_trampoline_start + 32)(%ebx), %eax
    wrmsr
    mov %cr0, %eax
    or $((1 << 31) | 1), %eax          // PG | PE
    mov %eax, %cr0
    // ljmp $0x18, $(T + long64): target patched by the BSP.
    .byte 0xea
ap_tramp_far64:
    .long 0
    .word 0x18

.code64
ap_long64:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov %ebx, %ebx                     // zero-extend T
    // ap_tramp_data: [0] stack top, [8] entry, [16] arg, [24] kernel CR3,
    // [32] EFER bits to set
    mov (ap_tramp_data - ap_trampoline_start)(%rbx), %rsp
    mov (ap_tramp_data - ap_trampoline_start + 16)(%rbx), %rdi
    mov (ap_tramp_data - ap_trampoline_start + 24)(%rbx), %rsi
    mov (ap_tramp_data - ap_trampoline_start + 8)(%rbx), %rax
    call *%rax
2:  hlt
    jmp 2b

.balign 8
ap_tramp_gdt:
    .quad 0                            // null
    .quad 0x00CF9A000000FFFF           // 0x08: 32-bit code, flat
    .quad 0x00CF92000000FFFF           // 0x10: data, flat
    .quad 0x00AF9A000000FFFF           // 0x18: 64-bit code
ap_tramp_gdt_end:
.balign 4
    .word 0
ap_tramp_gdt_ptr:
    .word ap_tramp_gdt_end - ap_tramp_gdt - 1
    .long 0                            // T + OFF(ap_tramp_gdt), patched
ap_tramp_cr3_low:
    .long 0
.balign 8
ap_tramp_data:
    .quad 0, 0, 0, 0, 0
ap_trampoline_end:
.code64

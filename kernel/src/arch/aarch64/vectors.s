// The EL1 exception vector table (VBAR_EL1) and the common entry/exit.
//
// The kernel runs on SP_EL0 (EL1t), so ordinary exceptions come through the
// "current EL with SP_EL0" group and run on SP_EL1, a per-CPU exception stack:
// a kernel stack overflow (fault on the guard page) still gets a good stack.
// Every entry saves a full `Frame` (exceptions.rs) and calls
// `aarch64_exception(frame, kind)`; if that returns (breakpoints), the frame
// is restored (with the possibly advanced ELR) and we `eret`.

.equ FRAME_SIZE, 288    // x0-x30, sp, elr, spsr, esr, far: 36 * 8

.macro VENTRY kind
    .balign 0x80
    sub     sp, sp, #FRAME_SIZE
    stp     x0, x1, [sp, #0]
    mov     x0, #\kind
    b       exception_common
.endm

.section .text.vectors, "ax"
.balign 2048
.global exception_vectors
exception_vectors:
    // kind = group * 4 + type; type: 0 sync, 1 IRQ, 2 FIQ, 3 SError
    VENTRY 0        // current EL, SP_EL0 (the kernel's normal state)
    VENTRY 1
    VENTRY 2
    VENTRY 3
    VENTRY 4        // current EL, SP_EL1 (inside a handler, or early boot)
    VENTRY 5
    VENTRY 6
    VENTRY 7
    VENTRY 8        // lower EL, AArch64 (no user mode yet: unexpected)
    VENTRY 9
    VENTRY 10
    VENTRY 11
    VENTRY 12       // lower EL, AArch32
    VENTRY 13
    VENTRY 14
    VENTRY 15

exception_common:
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    mrs     x1, spsr_el1
    // The interrupted SP: SP_EL0 if SPSR.M[0] = 0 (EL1t), else ours before the frame.
    mrs     x2, sp_el0
    add     x3, sp, #FRAME_SIZE
    tst     x1, #1
    csel    x2, x2, x3, eq
    stp     x30, x2, [sp, #240]
    mrs     x2, elr_el1
    stp     x2, x1, [sp, #256]
    mrs     x2, esr_el1
    mrs     x3, far_el1
    stp     x2, x3, [sp, #272]
    mov     x1, x0
    mov     x0, sp
    bl      aarch64_exception
    ldp     x2, x3, [sp, #256]
    msr     elr_el1, x2
    msr     spsr_el1, x3
    ldp     x0, x1, [sp, #0]
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x19, [sp, #144]
    ldp     x20, x21, [sp, #160]
    ldp     x22, x23, [sp, #176]
    ldp     x24, x25, [sp, #192]
    ldp     x26, x27, [sp, #208]
    ldp     x28, x29, [sp, #224]
    ldr     x30, [sp, #240]
    add     sp, sp, #FRAME_SIZE
    eret

// Semihosting call: x0 = operation, x1 = parameter block. A separate symbol
// so the exception handler can recognise the trap when no debugger or QEMU
// `-semihosting` is there to catch `hlt #0xf000` (it is UNDEFINED then).
.section .text.semihosting, "ax"
.global aarch64_semihosting_call
.global aarch64_semihosting_hlt
aarch64_semihosting_call:
aarch64_semihosting_hlt:
    hlt     #0xf000
    ret

// zsync context switch for aarch64, AAPCS64 (ELF).
//
// A context is a stack plus a saved stack pointer. A round trip is one call from the parent
// into the context (`blr`, in zsync_0_1_resume) and one `ret` back (in zsync_0_1_suspend or
// zsync_0_1_trampoline), so the return-address predictor always guesses right; the context side is
// entered and left with `b`/`br`, which the predictor does not track. `br x30` is used rather
// than `ret x30` on purpose: `ret` is the return hint that pops the predictor's stack.
//
// Callee-saved registers (AAPCS64): x19-x28, x29 (frame pointer), sp and the low 64 bits of
// v8-v15 (d8-d15). The full set is saved here on both sides of the switch: zsync_0_1_resume is an
// ordinary C function, and the Rust suspend stub (src/coro/arch/aarch64.rs) may not declare x19
// (LLVM's base pointer) or x29 clobbered. x30 (the link register) is saved with them because the
// call and the continuation travel in it. x18 (the platform register) and the thread pointer
// (tpidr_el0) are never touched: a started context never changes OS thread, so its TLS stays
// valid. sp is 16-byte aligned at every instruction here, as AAPCS64 requires.
//
// Resume: zsync_0_1_resume(sp: x0, link: x1, arg: x2) -> (arg: x0, sp: x1), a C function.
//   It saves the parent's registers and calls [x0], the resume address of the context:
//   .Lresume_point for a suspended context, zsync_0_1_trampoline for a new one. At that address:
//   sp = parent stack, x30 = the return address into zsync_0_1_resume, x0 = the context's saved
//   stack pointer, x1 = its link slot, x2 = the argument. Comes back with x0 = the context's
//   argument and x1 = its new stack pointer, or 0 once it has finished.
//
// Suspend: the Rust stub puts its continuation in x30 (`adr x30, 2f`) and branches (`b`) to
//   zsync_0_1_suspend with x0 = link, x1 = arg; it gets x0 = the argument of the next resume.
//
// Parent stack while a context runs (*link points at the lowest word):
//   [link+0] return address into zsync_0_1_resume   [link+8] unused (keeps sp 16-byte aligned)
//   [link+16] zsync_0_1_resume's own frame: the parent's x29, x30, x19-x28, d8-d15 (160 bytes)
//
// Saved context frame, at the saved stack pointer (176 bytes):
//   [sp+0] resume address (.Lresume_point)   [sp+8] zero (padding)
//   [sp+16] x19 x20 x21 x22 x23 x24 x25 x26 x27 x28   [sp+96] x29
//   [sp+104] x30 = where the context continues (set by the Rust suspend stub)
//   [sp+112] d8 d9 d10 d11 d12 d13 d14 d15
//
// Initial frame of a new context, written by init_frame in src/coro/arch/mod.rs:
//   [sp+0] zsync_0_1_trampoline   [sp+8] entry function   [sp+16] its 2nd argument
//   [sp+24] its 3rd argument
//
// CFI: every instruction is described, so that unwinders and sampling profilers walk a context's
// stack up to its trampoline and the parent's stack through zsync_0_1_resume. The CFA is always
// sp-based. While a context runs, its stack ends at the trampoline (x30 undefined); the parent
// chain is reached only from the parent stack.
//
// The symbol names carry the crate's semver series (0.1) so that two versions can link together.

    .pushsection .text.zsync_0_1_switch,"ax",@progbits

    // The saved context frame (see the layout above), pushed by suspend and hand_over alike;
    // `scratch` is a caller-saved register free at that point.
    .macro SAVE_CONTEXT_FRAME scratch
    adr \scratch, .Lresume_point    // where the next resume enters this context
    stp \scratch, xzr, [sp, #-176]! // [sp+0] resume address, [sp+8] zero; sp = the saved frame
    .cfi_def_cfa_offset 176
    stp x19, x20, [sp, #16]         // the context's callee-saved registers
    stp x21, x22, [sp, #32]
    stp x23, x24, [sp, #48]
    stp x25, x26, [sp, #64]
    stp x27, x28, [sp, #80]
    stp x29, x30, [sp, #96]         // x30: the continuation, put there by the stub's `adr`
    .cfi_offset x29, -80
    .cfi_offset x30, -72
    stp d8, d9, [sp, #112]
    stp d10, d11, [sp, #128]
    stp d12, d13, [sp, #144]
    stp d14, d15, [sp, #160]
    .endm


    // zsync_0_1_resume(sp: x0, link: x1, arg: x2) -> (arg: x0, sp: x1)
    // An ordinary AAPCS64 function: the Rust side calls it like any extern "C" fn.
    .globl zsync_0_1_resume
    .type zsync_0_1_resume,@function
    .p2align 4
zsync_0_1_resume:
    .cfi_startproc
    stp x29, x30, [sp, #-160]!      // the parent's frame pointer and return address; sp -= 160
    .cfi_def_cfa_offset 160
    .cfi_offset x29, -160
    .cfi_offset x30, -152
    stp x19, x20, [sp, #16]         // the parent's callee-saved registers, all of them:
    .cfi_offset x19, -144           // the context may change any of them before it comes back
    .cfi_offset x20, -136
    stp x21, x22, [sp, #32]
    .cfi_offset x21, -128
    .cfi_offset x22, -120
    stp x23, x24, [sp, #48]
    .cfi_offset x23, -112
    .cfi_offset x24, -104
    stp x25, x26, [sp, #64]
    .cfi_offset x25, -96
    .cfi_offset x26, -88
    stp x27, x28, [sp, #80]
    .cfi_offset x27, -80
    .cfi_offset x28, -72
    stp d8, d9, [sp, #96]           // only the low 64 bits of v8-v15 are callee-saved
    .cfi_offset d8, -64
    .cfi_offset d9, -56
    stp d10, d11, [sp, #112]
    .cfi_offset d10, -48
    .cfi_offset d11, -40
    stp d12, d13, [sp, #128]
    .cfi_offset d12, -32
    .cfi_offset d13, -24
    stp d14, d15, [sp, #144]
    .cfi_offset d14, -16
    .cfi_offset d15, -8
    ldr x3, [x0]                    // x3: the resume address, at [context sp + 0]
    blr x3                          // the only call of a round trip: x30 = the return address
                                    // below, x0-x2 passed through unchanged
    // Back from suspend's or the trampoline's final `ret`: x0 = the context's argument, x1 = its stack
    // pointer (or 0), sp = where it was before the call. Every other register is the context's.
    ldp x19, x20, [sp, #16]
    ldp x21, x22, [sp, #32]
    ldp x23, x24, [sp, #48]
    ldp x25, x26, [sp, #64]
    ldp x27, x28, [sp, #80]
    ldp d8, d9, [sp, #96]
    ldp d10, d11, [sp, #112]
    ldp d12, d13, [sp, #128]
    ldp d14, d15, [sp, #144]
    ldp x29, x30, [sp], #160        // sp += 160: the save area is now below sp, and a signal
    .cfi_def_cfa_offset 0           // frame may overwrite it, so the rules go back to "same
    .cfi_restore x29                // value" for the last instruction
    .cfi_restore x30
    .cfi_restore x19
    .cfi_restore x20
    .cfi_restore x21
    .cfi_restore x22
    .cfi_restore x23
    .cfi_restore x24
    .cfi_restore x25
    .cfi_restore x26
    .cfi_restore x27
    .cfi_restore x28
    .cfi_restore d8
    .cfi_restore d9
    .cfi_restore d10
    .cfi_restore d11
    .cfi_restore d12
    .cfi_restore d13
    .cfi_restore d14
    .cfi_restore d15
    ret                             // to the parent, with x0/x1 = the (arg, sp) pair
    .cfi_endproc
    .size zsync_0_1_resume, .-zsync_0_1_resume

    // zsync_0_1_suspend(link: x0, arg: x1), x30 = the continuation.
    // Entered with `b` from the Rust stub, never called: to the unwinder it looks like a call
    // from the stub (CFA = sp, return address in x30), which is the default CFI state.
    .globl zsync_0_1_suspend
    .type zsync_0_1_suspend,@function
    .p2align 4
zsync_0_1_suspend:
    .cfi_startproc
    SAVE_CONTEXT_FRAME x2
    ldr x2, [x0]                    // x2: the parent's stack pointer, from the link slot
    mov x0, x1                      // result 1, for the parent: the argument
    mov x1, sp                      // result 2, for the parent: our saved stack pointer
    mov sp, x2                      // onto the parent stack: [sp] = the return address into
    .cfi_def_cfa_offset 16          // zsync_0_1_resume, pushed when it resumed us
    .cfi_offset x30, -16
    .cfi_restore x29
    ldr x30, [sp], #16              // pop it; sp = zsync_0_1_resume's frame again
    .cfi_def_cfa_offset 0
    .cfi_restore x30
    ret                             // to zsync_0_1_resume, pairing with its `blr`

    // Reached through zsync_0_1_resume's `blr`: sp = parent stack, x30 = the return address
    // into zsync_0_1_resume, x0 = our saved stack pointer, x1 = link slot, x2 = arg.
    // The CFI state carried over from just above (CFA = sp, return address in x30) is exact.
    .p2align 4
.Lresume_point:
    str x30, [sp, #-16]!            // push the parent's return address (16 bytes: alignment)
    .cfi_def_cfa_offset 16
    .cfi_offset x30, -16
    mov x3, sp                      // (str cannot store sp directly)
    str x3, [x1]                    // link: how suspend and the trampoline get back
.Lcontinue:                         // also entered by hand_over, in this same state, x2 = arg
    ldp x19, x20, [x0, #16]         // the context's registers, from its saved frame
    ldp x21, x22, [x0, #32]
    ldp x23, x24, [x0, #48]
    ldp x25, x26, [x0, #64]
    ldp x27, x28, [x0, #80]
    ldp d8, d9, [x0, #112]
    ldp d10, d11, [x0, #128]
    ldp d12, d13, [x0, #144]
    ldp d14, d15, [x0, #160]
    ldp x29, x30, [x0, #96]         // x30: the continuation (the parent's return address stays
                                    // in memory, where the CFI above still finds it)
    add sp, x0, #176                // onto our stack, past the saved frame: sp is what it was
    .cfi_def_cfa_offset 0           // in the stub, which now looks called with x30 = return
    .cfi_restore x30
    mov x0, x2                      // the stub's result: the argument given to resume
    br x30                          // to the continuation; `br`, not `ret`: the return-address
                                    // predictor is left untouched
    .cfi_endproc
    .size zsync_0_1_suspend, .-zsync_0_1_suspend

    // zsync_0_1_hand_over(from_link: x0, to_sp: x1, to_link: x2, from_sp_out: x3),
    // x30 = the continuation.
    // From inside a context: suspends it (its frame saved as by suspend, its stack pointer
    // stored at [x3]) and enters a suspended sibling at `to_sp` in its place. The sibling takes
    // over the parent link (copied from [x0] to [x2]), so the parent's pending resume returns
    // when the sibling suspends or finishes, not this context. Entered with `b` from the Rust
    // stub, like suspend; the sibling continues with x0 = 0 (carry on).
    .globl zsync_0_1_hand_over
    .type zsync_0_1_hand_over,@function
    .p2align 4
zsync_0_1_hand_over:
    .cfi_startproc
    SAVE_CONTEXT_FRAME x4
    mov x4, sp
    str x4, [x3]                    // this context's saved stack pointer
    ldr x4, [x0]                    // the parent's stack pointer, from this context's link...
    str x4, [x2]                    // ...becomes the sibling's link
    mov sp, x4                      // onto the parent stack: [sp] = the return address into
    .cfi_def_cfa_offset 16          // zsync_0_1_resume, as .Lresume_point leaves it
    .cfi_offset x30, -16
    .cfi_restore x29
    mov x0, x1                      // the sibling's saved stack pointer
    mov x2, xzr                     // the sibling's stub result: carry on (RESUME)
    b .Lcontinue                    // the rest is a resume's: the sibling's registers, its
    .cfi_endproc                    // stack, its continuation
    .size zsync_0_1_hand_over, .-zsync_0_1_hand_over

    // The resume address of a context that has never run. Entered like .Lresume_point, with
    // x0 = the initial stack pointer. Calls entry(arg, [sp+16], [sp+24]) on the new stack; when
    // the entry returns (x0 = the context's last argument for the parent), goes back to the
    // parent for the last time with stack pointer 0, "finished". The context's stack is never
    // touched again.
    .globl zsync_0_1_trampoline
    .type zsync_0_1_trampoline,@function
    .p2align 4
zsync_0_1_trampoline:
    .cfi_startproc
    // Nothing to unwind into from the context's side: backtraces taken inside it stop here.
    .cfi_undefined x30
    str x30, [sp, #-16]!            // push the parent's return address, as .Lresume_point does
    mov x3, sp
    str x3, [x1]                    // link
    mov x19, x1                     // x19: the link slot, kept across the entry call
                                    // (callee-saved; zsync_0_1_resume saved the parent's x19)
    ldr x16, [x0, #8]               // x16: the entry function (x16 so that a `bti c` landing
                                    // pad at the entry would accept the `blr` below)
    ldp x1, x3, [x0, #16]           // x1: its 2nd argument, x3: its 3rd argument
    add sp, x0, #32                 // the new stack, 16-byte aligned, above the initial frame
    mov x0, x2                      // its 1st argument: the value given to the first resume
    mov x2, x3                      // its 3rd argument
    mov x29, #0                     // end of the frame-pointer chain
    // A real call: the entry's `ret` pairs with it, and zsync_0_1_resume's `blr` pairs with the
    // `ret` below, so the return-address predictor stays balanced over the context's life.
    blr x16
    ldr x2, [x19]                   // the parent's stack pointer, from the link slot
    mov x1, #0                      // result 2, for the parent: stack pointer 0, "finished";
                                    // result 1 (x0) is the entry's return value, passed on
    mov sp, x2                      // onto the parent stack, as in suspend
    .cfi_def_cfa_offset 16
    .cfi_offset x30, -16
    ldr x30, [sp], #16              // the return address into zsync_0_1_resume
    .cfi_def_cfa_offset 0
    .cfi_restore x30
    ret                             // pairing with its `blr`
    .cfi_endproc
    .size zsync_0_1_trampoline, .-zsync_0_1_trampoline

    .popsection

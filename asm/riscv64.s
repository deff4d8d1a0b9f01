# zsync context switch for riscv64, LP64D ABI (ELF; needs the F and D extensions).
#
# A context is a stack plus a saved stack pointer. A round trip is one call from the parent
# into the context (`jalr ra, 0(t1)`, in zsync_0_1_resume) and one `ret` back (in
# zsync_0_1_suspend or zsync_0_1_trampoline), so the return-address stack always guesses right; the
# context side is entered and left with jumps that carry no hint. RISC-V encodes the hint in the
# registers of jal/jalr: rd = ra or t0 (x1, x5) pushes, rs1 = ra or t0 pops. So the call is
# `jalr ra, 0(t1)` (push), the return `ret` = `jalr x0, 0(ra)` (pop), and every other indirect
# jump here is `jr t1` = `jalr x0, 0(t1)` (t1 = x6: no hint). ra and t0 are never the source of a
# jump that is not a return.
#
# Callee-saved registers (LP64D): s0-s11 (s0 is the frame pointer), sp, and fs0-fs11. The full
# set is saved here on both sides of the switch: zsync_0_1_resume is an ordinary C function, and
# the Rust suspend stub (src/coro/arch/riscv64.rs) may not declare s0 (the frame pointer) or s1
# (LLVM's base pointer) clobbered. ra is saved by resume because the call goes through it. The
# thread pointer (tp) and gp are never touched: a started context never changes OS thread, so
# its TLS stays valid. sp is 16-byte aligned at every instruction here.
#
# Resume: zsync_0_1_resume(sp: a0, link: a1, arg: a2) -> (arg: a0, sp: a1), a C function.
#   It saves the parent's registers and calls [a0], the resume address of the context:
#   .Lresume_point for a suspended context, zsync_0_1_trampoline for a new one. At that address:
#   sp = parent stack, ra = the return address into zsync_0_1_resume, a0 = the context's saved
#   stack pointer, a1 = its link slot, a2 = the argument. Comes back with a0 = the context's
#   argument and a1 = its new stack pointer, or 0 once it has finished.
#
# Suspend: the Rust stub puts its continuation in a2 (`lla a2, 2f`) and jumps (`tail`, which
#   goes through t1 with no hint) to zsync_0_1_suspend with a0 = link, a1 = arg; it gets
#   a0 = the argument of the next resume.
#
# Parent stack while a context runs (*link points at the lowest word):
#   [link+0] return address into zsync_0_1_resume   [link+8] unused (keeps sp 16-byte aligned)
#   [link+16] zsync_0_1_resume's own frame: the parent's ra, s0-s11, fs0-fs11 (208 bytes)
#
# Saved context frame, at the saved stack pointer (208 bytes):
#   [sp+0] resume address (.Lresume_point)
#   [sp+8] where the context continues (a2, from the Rust suspend stub)
#   [sp+16] s0 s1 s2 s3 s4 s5 s6 s7 s8 s9 s10 s11
#   [sp+112] fs0 fs1 fs2 fs3 fs4 fs5 fs6 fs7 fs8 fs9 fs10 fs11
#
# Initial frame of a new context, written by init_frame in src/coro/arch/mod.rs:
#   [sp+0] zsync_0_1_trampoline   [sp+8] entry function   [sp+16] its 2nd argument
#   [sp+24] its 3rd argument
#
# CFI: every instruction is described, so that unwinders and sampling profilers walk a context's
# stack up to its trampoline and the parent's stack through zsync_0_1_resume. The CFA is always
# sp-based. While a context runs, its stack ends at the trampoline (ra undefined); the parent
# chain is reached only from the parent stack.
#
# The symbol names carry the crate's semver series (0.1) so that two versions can link together.

    .pushsection .text.zsync_0_1_switch,"ax",@progbits

    # The saved context frame (see the layout above), pushed by suspend and hand_over alike,
    # with the continuation in a2; uses t0.
    .macro SAVE_CONTEXT_FRAME
    addi sp, sp, -208               # sp = the saved frame
    .cfi_def_cfa_offset 208
    sd a2, 8(sp)                    # where this context continues when resumed
    .cfi_offset ra, -200
    sd s0, 16(sp)                   # the context's callee-saved registers
    sd s1, 24(sp)
    sd s2, 32(sp)
    sd s3, 40(sp)
    sd s4, 48(sp)
    sd s5, 56(sp)
    sd s6, 64(sp)
    sd s7, 72(sp)
    sd s8, 80(sp)
    sd s9, 88(sp)
    sd s10, 96(sp)
    sd s11, 104(sp)
    fsd fs0, 112(sp)
    fsd fs1, 120(sp)
    fsd fs2, 128(sp)
    fsd fs3, 136(sp)
    fsd fs4, 144(sp)
    fsd fs5, 152(sp)
    fsd fs6, 160(sp)
    fsd fs7, 168(sp)
    fsd fs8, 176(sp)
    fsd fs9, 184(sp)
    fsd fs10, 192(sp)
    fsd fs11, 200(sp)
    lla t0, .Lresume_point          # where the next resume enters this context
    sd t0, 0(sp)
    .endm


    # zsync_0_1_resume(sp: a0, link: a1, arg: a2) -> (arg: a0, sp: a1)
    # An ordinary LP64D function: the Rust side calls it like any extern "C" fn.
    .globl zsync_0_1_resume
    .type zsync_0_1_resume,@function
    .p2align 2
zsync_0_1_resume:
    .cfi_startproc
    addi sp, sp, -208               # room for ra, s0-s11, fs0-fs11 (200 bytes), 16-aligned
    .cfi_def_cfa_offset 208
    sd ra, 0(sp)                    # the parent's return address
    .cfi_offset ra, -208
    sd s0, 8(sp)                    # the parent's callee-saved registers, all of them: the
    .cfi_offset s0, -200            # context may change any of them before it comes back
    sd s1, 16(sp)
    .cfi_offset s1, -192
    sd s2, 24(sp)
    .cfi_offset s2, -184
    sd s3, 32(sp)
    .cfi_offset s3, -176
    sd s4, 40(sp)
    .cfi_offset s4, -168
    sd s5, 48(sp)
    .cfi_offset s5, -160
    sd s6, 56(sp)
    .cfi_offset s6, -152
    sd s7, 64(sp)
    .cfi_offset s7, -144
    sd s8, 72(sp)
    .cfi_offset s8, -136
    sd s9, 80(sp)
    .cfi_offset s9, -128
    sd s10, 88(sp)
    .cfi_offset s10, -120
    sd s11, 96(sp)
    .cfi_offset s11, -112
    fsd fs0, 104(sp)
    .cfi_offset fs0, -104
    fsd fs1, 112(sp)
    .cfi_offset fs1, -96
    fsd fs2, 120(sp)
    .cfi_offset fs2, -88
    fsd fs3, 128(sp)
    .cfi_offset fs3, -80
    fsd fs4, 136(sp)
    .cfi_offset fs4, -72
    fsd fs5, 144(sp)
    .cfi_offset fs5, -64
    fsd fs6, 152(sp)
    .cfi_offset fs6, -56
    fsd fs7, 160(sp)
    .cfi_offset fs7, -48
    fsd fs8, 168(sp)
    .cfi_offset fs8, -40
    fsd fs9, 176(sp)
    .cfi_offset fs9, -32
    fsd fs10, 184(sp)
    .cfi_offset fs10, -24
    fsd fs11, 192(sp)
    .cfi_offset fs11, -16
    ld t1, 0(a0)                    # t1: the resume address, at [context sp + 0]
    jalr ra, 0(t1)                  # the only call of a round trip (rd = ra, rs1 = t1: push);
                                    # a0-a2 passed through unchanged
    # Back from suspend's or the trampoline's final `ret`: a0 = the context's argument, a1 = its stack
    # pointer (or 0), sp = where it was before the call. Every other register is the context's.
    ld ra, 0(sp)
    ld s0, 8(sp)
    ld s1, 16(sp)
    ld s2, 24(sp)
    ld s3, 32(sp)
    ld s4, 40(sp)
    ld s5, 48(sp)
    ld s6, 56(sp)
    ld s7, 64(sp)
    ld s8, 72(sp)
    ld s9, 80(sp)
    ld s10, 88(sp)
    ld s11, 96(sp)
    fld fs0, 104(sp)
    fld fs1, 112(sp)
    fld fs2, 120(sp)
    fld fs3, 128(sp)
    fld fs4, 136(sp)
    fld fs5, 144(sp)
    fld fs6, 152(sp)
    fld fs7, 160(sp)
    fld fs8, 168(sp)
    fld fs9, 176(sp)
    fld fs10, 184(sp)
    fld fs11, 192(sp)
    addi sp, sp, 208                # the save area is now below sp, and a signal frame may
    .cfi_def_cfa_offset 0           # overwrite it, so the rules go back to "same value" for
    .cfi_restore ra                 # the last instruction
    .cfi_restore s0
    .cfi_restore s1
    .cfi_restore s2
    .cfi_restore s3
    .cfi_restore s4
    .cfi_restore s5
    .cfi_restore s6
    .cfi_restore s7
    .cfi_restore s8
    .cfi_restore s9
    .cfi_restore s10
    .cfi_restore s11
    .cfi_restore fs0
    .cfi_restore fs1
    .cfi_restore fs2
    .cfi_restore fs3
    .cfi_restore fs4
    .cfi_restore fs5
    .cfi_restore fs6
    .cfi_restore fs7
    .cfi_restore fs8
    .cfi_restore fs9
    .cfi_restore fs10
    .cfi_restore fs11
    ret                             # to the parent, with a0/a1 = the (arg, sp) pair
    .cfi_endproc
    .size zsync_0_1_resume, .-zsync_0_1_resume

    # zsync_0_1_suspend(link: a0, arg: a1), a2 = the continuation.
    # Entered with `tail` from the Rust stub, never called: to the unwinder it looks like a call
    # from the stub whose return address is in a2 instead of ra.
    .globl zsync_0_1_suspend
    .type zsync_0_1_suspend,@function
    .p2align 2
zsync_0_1_suspend:
    .cfi_startproc
    .cfi_register ra, a2            # the caller's return address: the continuation, in a2
    SAVE_CONTEXT_FRAME
    ld t0, 0(a0)                    # t0: the parent's stack pointer, from the link slot
    mv a0, a1                       # result 1, for the parent: the argument
    mv a1, sp                       # result 2, for the parent: our saved stack pointer
    mv sp, t0                       # onto the parent stack: [sp] = the return address into
    .cfi_def_cfa_offset 16          # zsync_0_1_resume, pushed when it resumed us
    .cfi_offset ra, -16
    ld ra, 0(sp)
    addi sp, sp, 16                 # sp = zsync_0_1_resume's frame again
    .cfi_def_cfa_offset 0
    .cfi_restore ra
    ret                             # to zsync_0_1_resume, pairing with its `jalr ra`

    # Reached through zsync_0_1_resume's `jalr ra, 0(t1)`: sp = parent stack, ra = the return
    # address into zsync_0_1_resume, a0 = our saved stack pointer, a1 = link slot, a2 = arg.
    # The CFI state carried over from just above (CFA = sp, return address in ra) is exact.
    .p2align 2
.Lresume_point:
    addi sp, sp, -16                # push the parent's return address (16 bytes: alignment)
    .cfi_def_cfa_offset 16
    sd ra, 0(sp)
    .cfi_offset ra, -16
    sd sp, 0(a1)                    # link: how suspend and the trampoline get back to the parent
.Lcontinue:                         # also entered by hand_over, in this same state, a2 = arg
    ld s0, 16(a0)                   # the context's registers, from its saved frame
    ld s1, 24(a0)
    ld s2, 32(a0)
    ld s3, 40(a0)
    ld s4, 48(a0)
    ld s5, 56(a0)
    ld s6, 64(a0)
    ld s7, 72(a0)
    ld s8, 80(a0)
    ld s9, 88(a0)
    ld s10, 96(a0)
    ld s11, 104(a0)
    fld fs0, 112(a0)
    fld fs1, 120(a0)
    fld fs2, 128(a0)
    fld fs3, 136(a0)
    fld fs4, 144(a0)
    fld fs5, 152(a0)
    fld fs6, 160(a0)
    fld fs7, 168(a0)
    fld fs8, 176(a0)
    fld fs9, 184(a0)
    fld fs10, 192(a0)
    fld fs11, 200(a0)
    ld t1, 8(a0)                    # t1: the continuation
    addi sp, a0, 208                # onto our stack, past the saved frame: sp is what it was
    .cfi_def_cfa_offset 0           # in the stub, which now looks called with its return
    .cfi_register ra, t1            # address in t1
    mv a0, a2                       # the stub's result: the argument given to resume
    jr t1                           # to the continuation; rs1 = t1, rd = x0: no hint, the
                                    # return-address stack is left untouched
    .cfi_endproc
    .size zsync_0_1_suspend, .-zsync_0_1_suspend

    # zsync_0_1_hand_over(from_link: a0, to_sp: a1, to_link: a4, from_sp_out: a5),
    # a2 = the continuation.
    # From inside a context: suspends it (its frame saved as by suspend, its stack pointer
    # stored at [a5]) and enters a suspended sibling at `to_sp` in its place. The sibling takes
    # over the parent link (copied from [a0] to [a4]), so the parent's pending resume returns
    # when the sibling suspends or finishes, not this context. Entered with `tail` from the
    # Rust stub, like suspend; the sibling continues with a0 = 0 (carry on).
    .globl zsync_0_1_hand_over
    .type zsync_0_1_hand_over,@function
    .p2align 2
zsync_0_1_hand_over:
    .cfi_startproc
    .cfi_register ra, a2            # the caller's return address: the continuation, in a2
    SAVE_CONTEXT_FRAME
    sd sp, 0(a5)                    # this context's saved stack pointer
    ld t0, 0(a0)                    # the parent's stack pointer, from this context's link...
    sd t0, 0(a4)                    # ...becomes the sibling's link
    mv sp, t0                       # onto the parent stack: [sp] = the return address into
    .cfi_def_cfa_offset 16          # zsync_0_1_resume, as .Lresume_point leaves it
    .cfi_offset ra, -16
    mv a0, a1                       # the sibling's saved stack pointer
    li a2, 0                        # the sibling's stub result: carry on (RESUME)
    j .Lcontinue                    # the rest is a resume's (`j`: rd = x0, no hint)
    .cfi_endproc
    .size zsync_0_1_hand_over, .-zsync_0_1_hand_over

    # The resume address of a context that has never run. Entered like .Lresume_point, with
    # a0 = the initial stack pointer. Calls entry(arg, [sp+16], [sp+24]) on the new stack; when
    # the entry returns (a0 = the context's last argument for the parent), goes back to the
    # parent for the last time with stack pointer 0, "finished". The context's stack is never
    # touched again.
    .globl zsync_0_1_trampoline
    .type zsync_0_1_trampoline,@function
    .p2align 2
zsync_0_1_trampoline:
    .cfi_startproc
    # Nothing to unwind into from the context's side: backtraces taken inside it stop here.
    .cfi_undefined ra
    addi sp, sp, -16                # push the parent's return address, as .Lresume_point does
    sd ra, 0(sp)
    sd sp, 0(a1)                    # link
    mv s1, a1                       # s1: the link slot, kept across the entry call (callee-saved;
                                    # zsync_0_1_resume saved the parent's s1)
    ld t1, 8(a0)                    # t1: the entry function
    ld a1, 16(a0)                   # its 2nd argument
    ld a3, 24(a0)                   # a3: its 3rd argument, for a2 below
    addi sp, a0, 32                 # the new stack, 16-byte aligned, above the initial frame
    mv a0, a2                       # its 1st argument: the value given to the first resume
    mv a2, a3                       # its 3rd argument
    li s0, 0                        # end of the frame-pointer chain
    # A real call: the entry's `ret` pairs with it, and zsync_0_1_resume's `jalr ra` pairs with
    # the `ret` below, so the return-address stack stays balanced over the context's life.
    jalr ra, 0(t1)
    ld t0, 0(s1)                    # the parent's stack pointer, from the link slot
    li a1, 0                        # result 2, for the parent: stack pointer 0, "finished";
                                    # result 1 (a0) is the entry's return value, passed on
    mv sp, t0                       # onto the parent stack, as in suspend
    .cfi_def_cfa_offset 16
    .cfi_offset ra, -16
    ld ra, 0(sp)                    # the return address into zsync_0_1_resume
    addi sp, sp, 16
    .cfi_def_cfa_offset 0
    .cfi_restore ra
    ret                             # pairing with its `jalr ra`
    .cfi_endproc
    .size zsync_0_1_trampoline, .-zsync_0_1_trampoline

    .popsection

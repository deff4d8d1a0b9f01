# zsync context switch for x86_64, System V ABI. Intel syntax (Rust's default for global_asm!).
#
# A context is a stack plus a saved stack pointer. A round trip is one `call` from the parent
# into the context and one `ret` back, so the return-stack predictor always guesses right; the
# context side is left with `jmp`, which the predictor does not track, and entered by the
# parent's `call` straight at the instruction after that `jmp`: the resume half of the switch
# is inline in the Rust suspend stub (src/coro/arch/x86_64.rs), and only the suspend half is
# here.
#
# Callee-saved registers. rbx and rbp are saved here, on each side of the switch, because
# LLVM reserves them and inline asm cannot declare them clobbered. r12-r15 are declared
# clobbered by the Rust call sites (src/coro/arch/x86_64.rs), so the compiler saves only the ones
# that hold live values; everything caller-saved is clobbered by clobber_abi("C"). Together the
# full callee-saved set (rbx rbp r12-r15 rsp rip) survives every switch, with the fewest memory
# operations. The thread pointer (fs) is never touched: a started context never changes OS
# thread, so its TLS stays valid.
#
# Resume (inline in Rust): `call qword ptr [rdi]` with rdi = the context's saved stack pointer,
#   rsi = its link slot, rdx = the argument. [rdi] holds the resume address: the continuation
#   of the stub that suspended it, or zsync_0_1_trampoline for a new context. Comes back with
#   rax = the context's argument and rdx = its new stack pointer, or 0 once it has finished.
#
# The resume half, at a suspended context's continuation (inline in the Rust stubs; entered in
#   this state by the parent's call, or by hand_over's `jmp`, with rsp = the parent stack,
#   [rsp] = the return address into the parent, rdi/rsi/rdx as above):
#     push rbp; push rbx            the parent's, restored by suspend or finish
#     mov [rsi], rsp                link: how to get back to the parent
#     mov rbx, [rdi+8]; mov rbp, [rdi+16]
#     lea rsp, [rdi+24]             onto the context's stack, as it was at the stub's `jmp`
#   and the stub's result is rdx, the argument.
#
# Parent stack while a context runs (*link points at the lowest word):
#   [link+0] parent rbx   [link+8] parent rbp   [link+16] return address into the parent
#
# Saved context frame, at the saved stack pointer (24 bytes):
#   [sp+0] resume address (the stub's continuation)   [sp+8] rbx   [sp+16] rbp
#
# Initial frame of a new context, written by init_frame in src/coro/arch/mod.rs:
#   [sp+0] zsync_0_1_trampoline   [sp+8] entry function   [sp+16] its 2nd argument
#   [sp+24] its 3rd argument
# The entry function is an ordinary C function, entry(arg, arg2, arg3) -> usize; when it returns,
# the context has finished and the trampoline hands its result to the parent.
#
# The symbol names carry the crate's semver series (0.1) so that two versions can link together.

    .pushsection .text.zsync_0_1_switch,"ax",@progbits

    # zsync_0_1_suspend(link: rdi, arg: rsi, continuation: rax)
    # Entered with `jmp` from the Rust stub, which put the address it continues at in rax.
    .globl zsync_0_1_suspend
    .type zsync_0_1_suspend,@function
    .p2align 4
zsync_0_1_suspend:
    .cfi_startproc
    # Nothing was pushed by the jump: the caller's frame starts at rsp and its return address
    # is in rax. The CFI below describes every instruction, so that a sampling profiler or a
    # debugger can unwind from anywhere in here.
    .cfi_def_cfa rsp, 0
    .cfi_register rip, rax
    push rbp                        # the context's rbp and rbx: LLVM-reserved, saved by hand
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rbp, 0
    push rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rbx, 0
    push rax                        # the continuation: where the next resume enters
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rip, 0
    mov rdx, rsp                    # for the parent: our saved stack pointer
    mov rax, rsi                    # for the parent: the argument
    mov rsp, qword ptr [rdi]        # onto the parent stack: its rbx, rbp, return address
    .cfi_def_cfa rsp, 24
    .cfi_offset rbx, -24
    .cfi_offset rbp, -16
    .cfi_offset rip, -8
    pop rbx                         # the parent's rbx and rbp, pushed when it resumed us
    .cfi_adjust_cfa_offset -8
    .cfi_restore rbx
    pop rbp
    .cfi_adjust_cfa_offset -8
    .cfi_restore rbp
    ret                             # to the parent, pairing with its `call`
    .cfi_endproc
    .size zsync_0_1_suspend, .-zsync_0_1_suspend

    # zsync_0_1_hand_over(from_link: rdi, to_sp: rsi, to_link: rdx, from_sp_out: rcx,
    #                     continuation: rax)
    # From inside a context: suspends it (its frame saved as by suspend, its stack pointer
    # stored at [rcx]) and enters a suspended sibling at `to_sp` in its place, exactly as the
    # parent's `call` would: back on the parent stack with the parent's rbx and rbp in their
    # registers, it jumps to the sibling's resume address, whose resume half saves them again
    # and takes over the link. The parent's pending resume then returns when the sibling
    # suspends or finishes, not this context. Entered with `jmp` from the Rust stub, like
    # suspend; the sibling continues with rdx = 0 (carry on).
    .globl zsync_0_1_hand_over
    .type zsync_0_1_hand_over,@function
    .p2align 4
zsync_0_1_hand_over:
    .cfi_startproc
    .cfi_def_cfa rsp, 0
    .cfi_register rip, rax
    push rbp                        # this context's frame, as suspend saves it
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rbp, 0
    push rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rbx, 0
    push rax
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rip, 0
    mov qword ptr [rcx], rsp        # its saved stack pointer
    mov rsp, qword ptr [rdi]        # onto the parent stack: its rbx, rbp, return address
    .cfi_def_cfa rsp, 24
    .cfi_offset rbx, -24
    .cfi_offset rbp, -16
    .cfi_offset rip, -8
    pop rbx                         # the parent's registers, as they were at its call
    .cfi_adjust_cfa_offset -8
    .cfi_restore rbx
    pop rbp
    .cfi_adjust_cfa_offset -8
    .cfi_restore rbp
    mov rdi, rsi                    # the sibling's saved stack pointer
    mov rsi, rdx                    # its link slot
    xor edx, edx                    # its stub's result: carry on (RESUME)
    jmp qword ptr [rdi]             # its resume half, as if from the parent's call
    .cfi_endproc
    .size zsync_0_1_hand_over, .-zsync_0_1_hand_over

    # The resume address of a context that has never run. Entered like .Lresume_point, with
    # rdi = the initial stack pointer. Calls entry(arg, [sp+16], [sp+24]) on the new stack; when
    # the entry returns (with the context's last argument for the parent in rax), it goes back
    # to the parent for the last time, with stack pointer 0 meaning "finished". The context's
    # stack is never touched again.
    .globl zsync_0_1_trampoline
    .type zsync_0_1_trampoline,@function
    .p2align 4
zsync_0_1_trampoline:
    .cfi_startproc
    # Nothing to unwind into from the context's side: backtraces taken inside it stop here.
    .cfi_undefined rip
    push rbp                        # the parent's rbp and rbx, restored below
    push rbx
    mov qword ptr [rsi], rsp        # link
    mov rbx, rsi                    # the link slot, kept across the entry call (callee-saved)
    mov rax, qword ptr [rdi + 8]    # entry function
    mov rsi, qword ptr [rdi + 16]   # its 2nd argument
    mov rcx, qword ptr [rdi + 24]   # its 3rd argument
    lea rsp, [rdi + 32]             # the new stack, 16-byte aligned for the call
    mov rdi, rdx                    # its 1st argument: the value given to the first resume
    mov rdx, rcx
    xor ebp, ebp                    # end of the frame-pointer chain
    # A real call: the entry's `ret` pairs with it, and the parent's `call` pairs with the `ret`
    # below, so the return-stack predictor stays balanced over the context's whole life.
    call rax
    mov rsp, qword ptr [rbx]        # back onto the parent stack: its rbx, rbp, return address
    .cfi_def_cfa rsp, 24
    .cfi_offset rbx, -24
    .cfi_offset rbp, -16
    .cfi_offset rip, -8
    xor edx, edx                    # for the parent: stack pointer 0, "finished"; rax is the
    pop rbx                         # entry's result, passed on as is
    .cfi_adjust_cfa_offset -8
    .cfi_restore rbx
    pop rbp
    .cfi_adjust_cfa_offset -8
    .cfi_restore rbp
    ret
    .cfi_endproc
    .size zsync_0_1_trampoline, .-zsync_0_1_trampoline

    # zsync_0_1_walk(sp: rdi, f: rsi, arg: rdx): calls f(arg) from the parent, on the free part
    # of a suspended context's stack (below its saved stack pointer `sp`), with CFI that makes
    # the call's caller look like the suspended context itself: an unwinder that starts in f
    # goes from this frame straight into the context's frames, through the continuation saved at
    # [sp], with rbx and rbp at [sp+8] and [sp+16] and the context's stack pointer sp+24 (the
    # state at its stub's `jmp`, where the unwinder looks the continuation up: it looks up the
    # byte before a return address). Nothing of the context is resumed or written:
    # f only uses stack below `sp`, which the context does not use while it is suspended. For
    # `Runtime::dump`'s backtraces of parked green threads.
    .globl zsync_0_1_walk
    .type zsync_0_1_walk,@function
    .p2align 4
zsync_0_1_walk:
    .cfi_startproc
    push rbp                        # the parent's callee-saved registers that we use
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rbp, 0
    push rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset rbx, 0
    push r12
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r12, 0
    push r13
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset r13, 0
    push r14                        # (alignment)
    .cfi_adjust_cfa_offset 8
    mov r12, rsp                    # the parent's stack, kept across the call (callee-saved)
    lea r13, [rdi + 24]             # the context's stack pointer as at its stub's `jmp`
    .cfi_def_cfa r13, 0
    .cfi_offset rip, -24            # its continuation, then its rbx and rbp
    .cfi_offset rbx, -16
    .cfi_offset rbp, -8
    .cfi_undefined r12
    .cfi_undefined r13
    .cfi_undefined r14
    mov rbp, qword ptr [rdi + 16]   # the context's frame pointer, for frame-pointer walkers
    mov rax, rdi
    and rax, -16
    sub rax, 256                    # well below anything the context left on its stack
    mov rsp, rax
    mov rdi, rdx
    call rsi
    mov rsp, r12                    # back onto the parent stack
    .cfi_def_cfa rsp, 48
    .cfi_offset rbp, -16
    .cfi_offset rbx, -24
    .cfi_offset r12, -32
    .cfi_offset r13, -40
    .cfi_same_value r14
    pop r14
    .cfi_adjust_cfa_offset -8
    pop r13
    .cfi_adjust_cfa_offset -8
    .cfi_restore r13
    pop r12
    .cfi_adjust_cfa_offset -8
    .cfi_restore r12
    pop rbx
    .cfi_adjust_cfa_offset -8
    .cfi_restore rbx
    pop rbp
    .cfi_adjust_cfa_offset -8
    .cfi_restore rbp
    ret
    .cfi_endproc
    .size zsync_0_1_walk, .-zsync_0_1_walk

    .popsection

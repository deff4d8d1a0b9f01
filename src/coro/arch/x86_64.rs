//! x86_64 (System V) glue for `asm/x86_64.s`: the inline sequences that enter the asm, and the
//! resume half of the switch, inline where a suspended context continues.
//!
//! The asm saves rbx and rbp (LLVM reserves them, so inline asm cannot declare them clobbered);
//! the sequences below declare r12-r15 clobbered, and clobber_abi("C") covers every
//! caller-saved register. The compiler then spills only the callee-saved registers that hold
//! live values at each switch, which is what makes the round trip as cheap as corosensei's.

use super::Transfer;
use core::arch::{asm, global_asm};

global_asm!(include_str!("../../../asm/x86_64.s"));

extern "C" {
    // None of these has a Rust-callable signature: they are only ever jumped or called to from
    // the asm sequences below, with the register protocol of asm/x86_64.s.
    #[link_name = "zsync_0_1_suspend"]
    fn zsync_suspend();
    #[link_name = "zsync_0_1_trampoline"]
    fn zsync_trampoline();
    #[cfg(zsync_hand_over)]
    #[link_name = "zsync_0_1_hand_over"]
    fn zsync_hand_over();
    #[link_name = "zsync_0_1_walk"]
    fn zsync_walk(sp: *mut u8, f: unsafe extern "C" fn(*mut u8), arg: *mut u8);
}

/// Calls `f(arg)` on the free part of the suspended context's stack below `sp`, with CFI that
/// makes an unwinder started in `f` continue into the context's own frames (see
/// `zsync_0_1_walk` in asm/x86_64.s). The context is not resumed.
///
/// # Safety
/// `sp` must be the saved stack pointer of a suspended (started) context, with room below it
/// for `f`; the context must not run meanwhile; `f` must not unwind.
pub(crate) unsafe fn walk(sp: *mut u8, f: unsafe extern "C" fn(*mut u8), arg: *mut u8) {
    // SAFETY: upheld by the caller; zsync_walk is an ordinary C function.
    unsafe { zsync_walk(sp, f, arg) }
}

/// The resume address of a context that has never run.
pub(crate) const TRAMPOLINE: unsafe extern "C" fn() = zsync_trampoline;

/// Enters the context whose saved stack pointer is `sp`, recording our own stack pointer in
/// `*link` so that the context can come back.
///
/// # Safety
/// `sp` must be the stack pointer of a suspended or never-run context (from `init_frame` or a
/// previous `resume`), and `link` its link slot. The context must not be running.
#[inline]
pub(crate) unsafe fn resume(sp: *mut u8, link: *mut *mut u8, arg: usize) -> Transfer {
    let (ret, new_sp): (usize, *mut u8);
    // SAFETY: the caller upholds the protocol above. The call lands on the context's resume
    // address and comes back here through suspend's or finish's `ret`, with rbx and rbp
    // restored by the asm and everything else declared clobbered. The asm pushes onto our
    // stack, so `nostack` is not given (the red zone is then off limits to the compiler).
    unsafe {
        asm!(
            "call qword ptr [rdi]",
            inout("rdi") sp => _,
            inout("rsi") link => _,
            inout("rdx") arg => new_sp,
            lateout("rax") ret,
            lateout("r12") _, lateout("r13") _, lateout("r14") _, lateout("r15") _,
            clobber_abi("C"),
        );
    }
    Transfer {
        arg: ret,
        sp: new_sp,
    }
}

/// The resume half of the switch, inline at the continuation of the stubs below: entered by
/// the parent's `call qword ptr [rdi]` (or by `zsync_0_1_hand_over`'s `jmp`), on the parent
/// stack with rdi = this context's saved stack pointer, rsi = its link slot, rdx = the
/// argument. It saves the parent's rbx and rbp on the parent stack, records the link, reloads
/// this context's rbx and rbp and moves onto its stack, where the stub's `jmp` left it.
///
/// The CFI follows it (the sampling profiler's contract, tests/sampling_unwind.rs): from the
/// label on, the frame is the parent's call, whose return address is at the top of the stack,
/// and the parent's rbx and rbp are in their registers until pushed; r12-r15, which the stub's
/// function may have saved in its own frame, are not recoverable here (the parent saved its
/// own: it declared them clobbered). Once on the context's stack the function's own rules
/// apply again, as they were at the `jmp` (`.cfi_remember_state` / `.cfi_restore_state`).
macro_rules! resume_half {
    () => {
        concat!(
            ".cfi_remember_state\n",
            "2:\n",
            ".cfi_def_cfa rsp, 8\n",
            ".cfi_offset rip, -8\n",
            ".cfi_same_value rbx\n",
            ".cfi_same_value rbp\n",
            ".cfi_undefined r12\n",
            ".cfi_undefined r13\n",
            ".cfi_undefined r14\n",
            ".cfi_undefined r15\n",
            "push rbp\n",
            ".cfi_adjust_cfa_offset 8\n",
            ".cfi_rel_offset rbp, 0\n",
            "push rbx\n",
            ".cfi_adjust_cfa_offset 8\n",
            ".cfi_rel_offset rbx, 0\n",
            "mov qword ptr [rsi], rsp\n",
            "mov rbx, qword ptr [rdi + 8]\n",
            "mov rbp, qword ptr [rdi + 16]\n",
            "lea rsp, [rdi + 24]\n",
            ".cfi_restore_state\n",
        )
    };
}

/// Suspends the running context and returns to its parent, handing it `arg`. Returns the value
/// given to the `resume` that continues this context.
///
/// # Safety
/// Must run on the context whose link slot is `link`, while it is running.
#[inline(always)]
pub(crate) unsafe fn suspend(link: *mut *mut u8, arg: usize) -> usize {
    let ret: usize;
    // SAFETY: a hand-made call: the continuation address goes in rax and we jump, so that no
    // return-stack entry is created (the parent's `ret` pairs with its own `call`); the resume
    // half after it (see `resume_half!`) puts the stack pointer back where it was at the jump,
    // with rbx and rbp as they were. zsync_suspend saves rbx and rbp; r12-r15 and the
    // caller-saved registers are declared clobbered. The asm uses the stack below rsp, so
    // `nostack` is not given.
    unsafe {
        asm!(
            "lea rax, [rip + 2f]",
            "jmp {suspend}",
            resume_half!(),
            suspend = sym zsync_suspend,
            inout("rdi") link => _,
            inout("rsi") arg => _,
            lateout("rdx") ret,
            out("rax") _,
            lateout("r12") _, lateout("r13") _, lateout("r14") _, lateout("r15") _,
            clobber_abi("C"),
        );
    }
    ret
}

/// Suspends the running context, storing its saved stack pointer at `*from_sp`, and enters the
/// suspended sibling whose saved stack pointer is `to_sp` in its place: the parent link moves
/// from `*from_link` to `*to_link`, so the parent's pending `resume` returns when the sibling
/// suspends or finishes. The sibling's own pending `suspend` returns 0 (carry on). Returns the
/// value given to whoever later continues this context (a `resume`, or 0 from another
/// `hand_over`).
///
/// # Safety
/// Must run on the context whose link slot is `from_link`, while it is running; `to_sp` must
/// be the saved stack pointer of a suspended (started) context of the same parent on this OS
/// thread, whose link slot is `to_link`, and which does not run meanwhile.
#[cfg(zsync_hand_over)]
#[inline(always)]
pub(crate) unsafe fn hand_over(
    from_link: *mut *mut u8,
    from_sp: *mut *mut u8,
    to_sp: *mut u8,
    to_link: *mut *mut u8,
) -> usize {
    let ret: usize;
    // SAFETY: upheld by the caller. The sequence leaves with a jmp, like `suspend`, and is
    // continued at the same resume half, entered again when this context is continued.
    unsafe {
        asm!(
            "lea rax, [rip + 2f]",
            "jmp {hand_over}",
            resume_half!(),
            hand_over = sym zsync_hand_over,
            inout("rdi") from_link => _,
            inout("rsi") to_sp => _,
            inout("rdx") to_link => ret,
            inout("rcx") from_sp => _,
            out("rax") _,
            lateout("r12") _, lateout("r13") _, lateout("r14") _, lateout("r15") _,
            clobber_abi("C"),
        );
    }
    ret
}

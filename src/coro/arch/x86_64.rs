//! x86_64 (System V) glue for `asm/x86_64.s`: the two inline sequences that enter the asm.
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

/// Suspends the running context and returns to its parent, handing it `arg`. Returns the value
/// given to the `resume` that continues this context.
///
/// # Safety
/// Must run on the context whose link slot is `link`, while it is running.
#[inline(always)]
pub(crate) unsafe fn suspend(link: *mut *mut u8, arg: usize) -> usize {
    let ret: usize;
    // SAFETY: a hand-made call: the continuation address goes in rax and we jump, so that no
    // return-stack entry is created (the parent's `ret` pairs with its own `call`), and the stack
    // pointer does not move inside this block (the caller's CFI stays exact). zsync_suspend
    // saves rbx and rbp; r12-r15 and the caller-saved registers are declared clobbered. The
    // asm uses the stack below rsp, so `nostack` is not given.
    unsafe {
        asm!(
            "lea rax, [rip + 2f]",
            "jmp {suspend}",
            "2:",
            suspend = sym zsync_suspend,
            in("rdi") link,
            in("rsi") arg,
            lateout("rax") ret,
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
    // SAFETY: upheld by the caller. The sequence leaves with a jmp, like `suspend`; the
    // continuation at label 2 is reached again when this context is continued, with rax set.
    unsafe {
        asm!(
            "lea rax, [rip + 2f]",
            "jmp {hand_over}",
            "2:",
            hand_over = sym zsync_hand_over,
            in("rdi") from_link,
            in("rsi") to_sp,
            in("rdx") to_link,
            in("rcx") from_sp,
            lateout("rax") ret,
            lateout("r12") _, lateout("r13") _, lateout("r14") _, lateout("r15") _,
            clobber_abi("C"),
        );
    }
    ret
}

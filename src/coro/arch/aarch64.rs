//! aarch64 (AAPCS64) glue for `asm/aarch64.s`: the call into resume and the inline sequences that
//! enter suspend.
//!
//! The asm saves the whole callee-saved set (x19-x29, d8-d15) on both sides of the switch:
//! x19 (LLVM's base pointer) and x29 (the frame pointer) cannot be declared clobbered by inline
//! asm anyway, and `zsync_0_1_resume` is an ordinary C function, so the compiler treats it like
//! any call. The suspend sequence below declares only what clobber_abi("C") covers: x0-x18,
//! x30 and v0-v31 (the compiler cannot express "only the upper halves of v8-v15").
//!
//! The inline sequences are the ones the cross-architecture test harness exercises
//! (tests/cross/harness.c); keep them in step.

use super::Transfer;
use core::arch::{asm, global_asm};

global_asm!(include_str!("../../../asm/aarch64.s"));

extern "C" {
    // An ordinary AAPCS64 function: x0-x2 in, the two-word Transfer back in x0/x1.
    #[link_name = "zsync_0_1_resume"]
    fn zsync_resume(sp: *mut u8, link: *mut *mut u8, arg: usize) -> Transfer;
    // None of these has a Rust-callable signature: they are only ever branched to from the asm
    // sequences below, or called from zsync_0_1_resume, with the register protocol of
    // asm/aarch64.s.
    #[link_name = "zsync_0_1_suspend"]
    fn zsync_suspend();
    #[link_name = "zsync_0_1_trampoline"]
    fn zsync_trampoline();
    #[cfg(zsync_hand_over)]
    #[link_name = "zsync_0_1_hand_over"]
    fn zsync_hand_over();
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
    // SAFETY: the caller upholds the protocol above. zsync_0_1_resume saves every callee-saved
    // register, `blr`s to the context's resume address, and returns here through an ordinary
    // `ret` once suspend's or the trampoline's final `ret` has come back to it, with all of them restored: to
    // the compiler it is a plain extern "C" call.
    unsafe { zsync_resume(sp, link, arg) }
}

/// Suspends the running context and returns to its parent, handing it `arg`. Returns the value
/// given to the `resume` that continues this context.
///
/// # Safety
/// Must run on the context whose link slot is `link`, while it is running.
#[inline(always)]
pub(crate) unsafe fn suspend(link: *mut *mut u8, arg: usize) -> usize {
    let ret: usize;
    // SAFETY: a hand-made call: put the continuation address in x30 and branch, so that no
    // return-predictor entry is created (the parent's `ret` pairs with its own `blr`).
    // zsync_suspend saves x19-x29 and d8-d15 and comes back to `2:` with `br x30`; x30 is
    // written before any input is read, hence `out`, not `lateout`; clobber_abi("C") covers the
    // rest. The asm uses the stack below sp, so `nostack` is not given.
    unsafe {
        asm!(
            "adr x30, 2f",
            "b {suspend}",
            "2:",
            suspend = sym zsync_suspend,
            inout("x0") link => ret,
            in("x1") arg,
            out("x30") _,
            clobber_abi("C"),
        );
    }
    ret
}

/// `suspend`, entering the suspended sibling at `to_sp` instead of the parent (which it hands
/// the link on to); the same contract as on x86_64 (src/coro/arch/x86_64.rs).
///
/// # Safety
/// As on x86_64: running on the context of `from_link`; `to_sp`/`to_link` a suspended sibling
/// of the same parent on this OS thread, which does not run meanwhile.
#[cfg(zsync_hand_over)]
#[inline(always)]
pub(crate) unsafe fn hand_over(
    from_link: *mut *mut u8,
    from_sp: *mut *mut u8,
    to_sp: *mut u8,
    to_link: *mut *mut u8,
) -> usize {
    let ret: usize;
    // SAFETY: upheld by the caller. The same hand-made call as `suspend` (continuation in x30,
    // `b`, comes back to `2:` with `br x30` and x0 set); zsync_hand_over saves x19-x29 and
    // d8-d15 like zsync_suspend and uses x4 as scratch, which clobber_abi("C") covers with the
    // rest of the caller-saved registers.
    unsafe {
        asm!(
            "adr x30, 2f",
            "b {hand_over}",
            "2:",
            hand_over = sym zsync_hand_over,
            inout("x0") from_link => ret,
            in("x1") to_sp,
            in("x2") to_link,
            in("x3") from_sp,
            out("x30") _,
            clobber_abi("C"),
        );
    }
    ret
}

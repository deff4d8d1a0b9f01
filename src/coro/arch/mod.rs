//! Per-architecture glue around the hand-written switch in `asm/<arch>.s`.
//!
//! Every architecture module provides the same four items, with the register protocol described
//! at the top of its asm file:
//!
//! - [`resume`]: enter a context at its saved stack pointer; returns when it suspends or finishes.
//! - [`suspend`]: from inside a context, return to whoever resumed it.
//! - [`TRAMPOLINE`]: the resume address of a context that has never run.
//!
//! And, with `cfg(zsync_hand_over)` (set by build.rs for the asm backend), `hand_over`: from
//! inside a context, suspend it and enter a suspended sibling in its place (see
//! `Suspender::hand_over`).
//!
//! The initial frame that [`init_frame`] writes is the same on every architecture: four words,
//! `[trampoline, entry, arg2, arg3]`, at a 16-byte aligned stack pointer. The trampoline moves
//! onto the new stack and calls `entry(resume_arg, arg2, arg3)`, which never returns.

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(target_arch = "riscv64")]
mod riscv64;
#[cfg(target_arch = "x86_64")]
mod x86_64;

#[cfg(all(target_arch = "aarch64", zsync_hand_over))]
pub(crate) use aarch64::hand_over;
#[cfg(target_arch = "aarch64")]
pub(crate) use aarch64::{resume, suspend, TRAMPOLINE};
#[cfg(all(target_arch = "riscv64", zsync_hand_over))]
pub(crate) use riscv64::hand_over;
#[cfg(target_arch = "riscv64")]
pub(crate) use riscv64::{resume, suspend, TRAMPOLINE};
#[cfg(all(target_arch = "x86_64", zsync_hand_over))]
pub(crate) use x86_64::hand_over;
#[cfg(target_arch = "x86_64")]
pub(crate) use x86_64::{resume, suspend, walk, TRAMPOLINE};

/// The function a new context starts in: `entry(resume_arg, arg2, arg3)`. When it returns, the
/// context has finished: the trampoline hands the returned word to the parent (whose `resume`
/// sees a null stack pointer) and the context's stack is never touched again. It must not
/// unwind.
pub(crate) type EntryFn = unsafe extern "C" fn(usize, *mut u8, *mut u8) -> usize;

/// What [`resume`] hands back: the value the context passed to `suspend`/`finish`, and the
/// context's new stack pointer (null once it has finished).
#[repr(C)]
pub(crate) struct Transfer {
    pub arg: usize,
    pub sp: *mut u8,
}

/// Writes the initial frame of a new context just below `top` and returns its stack pointer.
///
/// # Safety
/// `top` must be 16-byte aligned, writable, and have at least 32 bytes of stack below it.
pub(crate) unsafe fn init_frame(
    top: *mut u8,
    entry: EntryFn,
    arg2: *mut u8,
    arg3: *mut u8,
) -> *mut u8 {
    debug_assert_eq!(top as usize % 16, 0);
    let sp = top.wrapping_sub(32) as *mut usize;
    // SAFETY: the caller guarantees 32 writable, aligned bytes below `top`.
    unsafe {
        sp.write(TRAMPOLINE as usize);
        sp.add(1).write(entry as usize);
        sp.add(2).write(arg2 as usize);
        sp.add(3).write(arg3 as usize);
    }
    sp as *mut u8
}

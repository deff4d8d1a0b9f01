//! Every callee-saved register survives a switch, checked by asm probes, not assumed.
//!
//! A probe fills rbx, rbp (the frame pointer) and r12-r15 with a pattern, calls a plain
//! `extern "C"` function that switches (resume on the parent side, suspend on the context side)
//! and then compares all six registers with the pattern. The patterns change every round and
//! differ between the two sides, so a register that one side fails to preserve shows up as the
//! other side's value. The probe checks the whole contract a caller relies on: the asm in asm/
//! plus the clobbers declared by the Rust glue around it. It runs on either backend.
#![cfg(target_arch = "x86_64")]

use std::arch::asm;
use std::cell::Cell;
use std::rc::Rc;
use zsync::coro::{Context, Resumed, Stack, Suspender};

const NAMES: [&str; 6] = ["rbx", "rbp", "r12", "r13", "r14", "r15"];

/// Sets the six callee-saved registers to `seed + 1 ..= seed + 6`, calls `f(arg)`, and returns a
/// bit mask of the registers that no longer hold their value.
fn probe(f: extern "C" fn(*mut u8), arg: *mut u8, seed: u64) -> u32 {
    let bad: u32;
    // SAFETY: rbx and rbp are saved on the stack and restored before the asm ends; r12-r15 are
    // declared clobbered; the stack stays 16-byte aligned at the call (two pushes of rbx/rbp and
    // two of the seed); `f` is an ordinary extern "C" function.
    unsafe {
        asm!(
            "push rbp",
            "push rbx",
            "push rsi",
            "push rsi",
            "lea rbx, [rsi + 1]",
            "lea rbp, [rsi + 2]",
            "lea r12, [rsi + 3]",
            "lea r13, [rsi + 4]",
            "lea r14, [rsi + 5]",
            "lea r15, [rsi + 6]",
            "call r11",
            "mov rcx, qword ptr [rsp]",
            "xor eax, eax",
            "lea rdx, [rcx + 1]", "cmp rbx, rdx", "je 2f", "or eax, 1", "2:",
            "lea rdx, [rcx + 2]", "cmp rbp, rdx", "je 2f", "or eax, 2", "2:",
            "lea rdx, [rcx + 3]", "cmp r12, rdx", "je 2f", "or eax, 4", "2:",
            "lea rdx, [rcx + 4]", "cmp r13, rdx", "je 2f", "or eax, 8", "2:",
            "lea rdx, [rcx + 5]", "cmp r14, rdx", "je 2f", "or eax, 16", "2:",
            "lea rdx, [rcx + 6]", "cmp r15, rdx", "je 2f", "or eax, 32", "2:",
            "add rsp, 16",
            "pop rbx",
            "pop rbp",
            in("rdi") arg,
            in("rsi") seed,
            in("r11") f,
            lateout("eax") bad,
            lateout("r12") _, lateout("r13") _, lateout("r14") _, lateout("r15") _,
            clobber_abi("C"),
        );
    }
    bad
}

fn names(mask: u32) -> Vec<&'static str> {
    (0..6)
        .filter(|i| mask & (1 << i) != 0)
        .map(|i| NAMES[i])
        .collect()
}

extern "C" fn do_resume(ctx: *mut u8) {
    // SAFETY (test): the parent passes its live, exclusively borrowed Context.
    let ctx = unsafe { &mut *ctx.cast::<Context>() };
    assert!(matches!(
        ctx.resume(),
        Resumed::Suspended | Resumed::Finished(Ok(()))
    ));
}

extern "C" fn do_suspend(s: *mut u8) {
    // SAFETY (test): the context passes its own Suspender.
    unsafe { &*s.cast::<Suspender>() }.suspend();
}

#[test]
fn callee_saved_registers_survive_every_switch() {
    const ROUNDS: u64 = 20_000;
    let round = Rc::new(Cell::new(0u64));
    let context_failures = Rc::new(Cell::new(0u32));
    let (r, failures) = (round.clone(), context_failures.clone());
    let mut ctx = Context::new(Stack::new(64 * 1024).unwrap(), move |s| {
        // The first entry is not a suspend, so it has no probe; every later switch does.
        loop {
            let seed = 0xC000_0000_0000_0000 | r.get() << 8;
            let s_ptr = s as *const Suspender as *mut u8;
            failures.set(failures.get() | probe(do_suspend, s_ptr, seed));
            if r.get() == ROUNDS {
                break;
            }
        }
    });
    for i in 0..=ROUNDS {
        round.set(i);
        let seed = 0x9000_0000_0000_0000 | i << 8;
        let bad = probe(do_resume, (&raw mut ctx).cast(), seed);
        assert_eq!(
            bad,
            0,
            "parent side, round {i}: {:?} changed across resume",
            names(bad)
        );
        let bad = context_failures.get();
        assert_eq!(
            bad,
            0,
            "context side, round {i}: {:?} changed across suspend",
            names(bad)
        );
    }
    assert!(ctx.is_finished());
}

#[test]
fn the_probe_catches_a_clobbered_register() {
    // The probe itself must be able to fail: a function that changes r13 behind the compiler's
    // back (declaring nothing) is caught.
    extern "C" fn clobbers_r13(_: *mut u8) {
        // SAFETY (test): deliberately breaks the ABI; the probe restores nothing it relies on.
        unsafe { asm!("mov r13, 12345", options(nomem, nostack)) };
    }
    assert_eq!(
        names(probe(clobbers_r13, std::ptr::null_mut(), 0x1000)),
        ["r13"]
    );
}

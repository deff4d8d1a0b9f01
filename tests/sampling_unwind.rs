//! The switch's CFI is right at every instruction: a profiling timer interrupts a ping-pong of
//! switches thousands of times, and each time the signal handler unwinds the interrupted stack
//! with `_Unwind_Backtrace`, as a sampling profiler would. Wrong CFI anywhere in asm/, or in the
//! resume halves inline in the suspending functions (src/coro/arch/x86_64.rs), makes the
//! unwinder read garbage and crash, or lose its way. The work runs in a child process so that a crash is a
//! failed assertion, not a dead test binary.
#![cfg(all(target_arch = "x86_64", not(zsync_corosensei)))]

use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use zsync::coro::{Context, Stack};

const CHILD: &str = "ZSYNC_TEST_CHILD";

static SAMPLES: AtomicUsize = AtomicUsize::new(0);
static FRAMES: AtomicUsize = AtomicUsize::new(0);
/// Samples that interrupted the asm of the switch itself.
static IN_SWITCH: AtomicUsize = AtomicUsize::new(0);
/// Of those, the ones whose walk reached neither the ping-pong loop (parent side) nor the
/// trampoline (context side): the unwinder lost its way. Samples elsewhere (in libc, say) are
/// not the switch's business.
static LOST: AtomicUsize = AtomicUsize::new(0);
/// Start addresses of the two functions a correct walk must reach.
static LOOP_FN: AtomicUsize = AtomicUsize::new(0);
static TRAMPOLINE_FN: AtomicUsize = AtomicUsize::new(0);
/// Samples anywhere (the switch's inline resume halves in the context's function, the loop,
/// libc) whose walk reached neither function.
static LOST_ANYWHERE: AtomicUsize = AtomicUsize::new(0);
/// Samples that interrupted code with no unwind information at all: the PLT stubs, for which
/// LLD (Rust's default linker) writes no CFI. No walk can start there, whatever zsync does.
static NO_CFI: AtomicUsize = AtomicUsize::new(0);
/// Set once the ping-pong runs: samples before it (the timer's own set-up) walk from elsewhere.
static PINGING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
/// Where the first of those were interrupted.
static LOST_ANYWHERE_AT: [AtomicUsize; 8] = [const { AtomicUsize::new(0) }; 8];
/// Where the first lost samples were interrupted, for the failure message.
static LOST_AT: [AtomicUsize; 8] = [const { AtomicUsize::new(0) }; 8];
/// Set before the ping-pong's context is dropped: dropping it unwinds it (a forced unwind),
/// and a sample that lands inside libgcc's `_Unwind_Resume` while it installs a frame cannot
/// be walked by anyone (libgcc then reads code bytes at a garbage address). Not the switch's
/// business, so sampling stops there.
static STOPPED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[repr(C)]
struct UnwindContext {
    _private: [u8; 0],
}

extern "C" {
    fn _Unwind_GetIPInfo(context: *mut UnwindContext, ip_before_insn: *mut libc::c_int) -> usize;
    fn _Unwind_FindEnclosingFunction(pc: *mut libc::c_void) -> *mut libc::c_void;
    #[link_name = "zsync_0_1_trampoline"]
    fn trampoline();
    #[link_name = "zsync_0_1_suspend"]
    fn suspend();
    fn _Unwind_Backtrace(
        trace: extern "C" fn(*mut UnwindContext, *mut libc::c_void) -> libc::c_int,
        arg: *mut libc::c_void,
    ) -> libc::c_int;
}

/// What one walk found.
struct Walk {
    frames: usize,
    reached: bool,
    /// Whether the walk reached the interrupted frame, and whether that frame's instruction lies
    /// in a function the unwinder knows.
    seen_interrupted: bool,
    interrupted_has_cfi: bool,
}

extern "C" fn visit_frame(context: *mut UnwindContext, walk: *mut libc::c_void) -> libc::c_int {
    // SAFETY (test): `walk` points at the handler's Walk; `context` is the unwinder's.
    let walk = unsafe { &mut *walk.cast::<Walk>() };
    walk.frames += 1;
    // A return address points after its call, and _Unwind_FindEnclosingFunction looks up the
    // byte before the address it is given. The interrupted frame's address is exact (the
    // unwinder says so for signal frames): step past it, or a sample on a function's first
    // instruction would be looked up in the function before.
    let mut exact: libc::c_int = 0;
    let ip = unsafe { _Unwind_GetIPInfo(context, &mut exact) };
    let ip = if exact != 0 { ip + 1 } else { ip };
    let start = unsafe { _Unwind_FindEnclosingFunction(ip as *mut _) } as usize;
    if exact != 0 && !walk.seen_interrupted {
        // The first exact frame is the interrupted one (the handler's own frames come first).
        walk.seen_interrupted = true;
        walk.interrupted_has_cfi = start != 0;
    }
    if start != 0
        && (start == LOOP_FN.load(Ordering::Relaxed)
            || start == TRAMPOLINE_FN.load(Ordering::Relaxed))
    {
        walk.reached = true;
        return 5; // _URC_END_OF_STACK: any non-zero value stops the walk
    }
    // A sane depth bound, so that a looping chain cannot hang the test.
    if walk.frames > 100 {
        return 5;
    }
    0 // _URC_NO_REASON: go on
}

extern "C" fn on_sigprof(_: libc::c_int, _: *mut libc::siginfo_t, uctx: *mut libc::c_void) {
    if STOPPED.load(Ordering::Relaxed) {
        return;
    }
    let mut walk = Walk {
        frames: 0,
        reached: false,
        seen_interrupted: false,
        interrupted_has_cfi: false,
    };
    // SAFETY (test): the unwinder is not async-signal-safe in general, but this thread only
    // runs the ping-pong below, which never takes the unwinder's locks.
    unsafe { _Unwind_Backtrace(visit_frame, (&raw mut walk).cast()) };
    SAMPLES.fetch_add(1, Ordering::Relaxed);
    FRAMES.fetch_add(walk.frames, Ordering::Relaxed);
    // SAFETY (test): the kernel passes a ucontext_t to SA_SIGINFO handlers.
    let rip =
        unsafe { (*uctx.cast::<libc::ucontext_t>()).uc_mcontext.gregs[libc::REG_RIP as usize] }
            as usize;
    // asm/x86_64.s is one section: suspend, hand_over, then the trampoline (under 64 bytes
    // long).
    let switch = suspend as *const () as usize..trampoline as *const () as usize + 64;
    let in_switch = switch.contains(&rip);
    if walk.seen_interrupted && !walk.interrupted_has_cfi && !in_switch {
        NO_CFI.fetch_add(1, Ordering::Relaxed);
    } else if !walk.reached && PINGING.load(Ordering::Relaxed) {
        let n = LOST_ANYWHERE.fetch_add(1, Ordering::Relaxed);
        if let Some(slot) = LOST_ANYWHERE_AT.get(n) {
            slot.store(rip, Ordering::Relaxed);
        }
    }
    if !in_switch {
        return;
    }
    IN_SWITCH.fetch_add(1, Ordering::Relaxed);
    if !walk.reached {
        let n = LOST.fetch_add(1, Ordering::Relaxed);
        if let Some(slot) = LOST_AT.get(n) {
            slot.store(rip, Ordering::Relaxed);
        }
    }
}

/// The symbol an address lies in, for the failure message.
fn symbol_of(address: usize) -> String {
    // SAFETY (test): dladdr fills `info` for a code address, or returns 0.
    unsafe {
        let mut info: libc::Dl_info = std::mem::zeroed();
        if libc::dladdr(address as *const libc::c_void, &mut info) == 0 || info.dli_sname.is_null()
        {
            return "?".into();
        }
        let name = std::ffi::CStr::from_ptr(info.dli_sname).to_string_lossy();
        format!("{name}+{:#x}", address - info.dli_saddr as usize)
    }
}

/// The parent side of the ping-pong; every walk from the parent stack must reach this frame.
#[inline(never)]
fn ping_pong() -> u64 {
    let mut ctx = Context::new(Stack::new(64 * 1024).unwrap(), |s| loop {
        s.suspend();
    });
    let mut new_ones = 0u64;
    let start = std::time::Instant::now();
    // The handler runs on this thread: a compiler fence orders the flag before the work.
    PINGING.store(true, Ordering::Relaxed);
    std::sync::atomic::compiler_fence(Ordering::SeqCst);
    while SAMPLES.load(Ordering::Relaxed) < 50_000 && start.elapsed().as_secs() < 10 {
        for _ in 0..1000 {
            ctx.resume();
        }
        // Also sample the trampoline and finish paths.
        // 64 KiB: the signal handler and the unwinder run on the interrupted stack, and a
        // signal frame that does not fit kills the process outright.
        let mut short = Context::new(Stack::new(64 * 1024).unwrap(), |s| s.suspend());
        short.resume();
        short.resume();
        new_ones += 1;
    }
    // The handler runs on this thread: a compiler fence orders the flag before the drop.
    STOPPED.store(true, Ordering::Relaxed);
    std::sync::atomic::compiler_fence(Ordering::SeqCst);
    drop(ctx);
    new_ones
}

#[test]
fn a_profiler_can_unwind_from_any_instruction_of_the_switch() {
    if std::env::var_os(CHILD).is_some() {
        // A high-resolution timer aimed at this thread: tick-based profiling timers fire too
        // rarely to land on the few instructions of the switch.
        let mut timer: libc::timer_t = std::ptr::null_mut();
        // SAFETY (test): installs a plain handler and a 20 us timer signalling this thread.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = on_sigprof
                as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void)
                as libc::sighandler_t;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            libc::sigaction(libc::SIGPROF, &action, std::ptr::null_mut());
            let mut event: libc::sigevent = std::mem::zeroed();
            event.sigev_notify = libc::SIGEV_THREAD_ID;
            event.sigev_signo = libc::SIGPROF;
            event.sigev_notify_thread_id = libc::gettid();
            assert_eq!(
                libc::timer_create(libc::CLOCK_MONOTONIC, &mut event, &mut timer),
                0
            );
            let tick = libc::timespec {
                tv_sec: 0,
                tv_nsec: 20_000,
            };
            let spec = libc::itimerspec {
                it_interval: tick,
                it_value: tick,
            };
            assert_eq!(
                libc::timer_settime(timer, 0, &spec, std::ptr::null_mut()),
                0
            );
        }
        LOOP_FN.store(ping_pong as *const () as usize, Ordering::Relaxed);
        TRAMPOLINE_FN.store(trampoline as *const () as usize, Ordering::Relaxed);
        let new_ones = ping_pong();
        // SAFETY (test): stop the timer before printing.
        unsafe { libc::timer_delete(timer) };
        let samples = SAMPLES.load(Ordering::Relaxed);
        let lost_at: Vec<String> = LOST_AT
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .filter(|&a| a != 0)
            .map(|a| {
                format!(
                    "{a:#x} (trampoline{:+})",
                    a as isize - trampoline as *const () as isize
                )
            })
            .collect();
        let lost_anywhere_at: Vec<String> = LOST_ANYWHERE_AT
            .iter()
            .map(|a| a.load(Ordering::Relaxed))
            .filter(|&a| a != 0)
            .map(|a| {
                // Static symbols are not in dladdr's table: the offset from the loop finds
                // the address in `nm`'s listing.
                let from_loop = a as isize - LOOP_FN.load(Ordering::Relaxed) as isize;
                format!("{a:#x} ({}, loop{from_loop:+#x})", symbol_of(a))
            })
            .collect();
        println!(
            "samples={samples} in_switch={} lost={} lost_anywhere={} no_cfi={} frames={} contexts={new_ones} lost_at={lost_at:?} lost_anywhere_at={lost_anywhere_at:?}",
            IN_SWITCH.load(Ordering::Relaxed),
            LOST.load(Ordering::Relaxed),
            LOST_ANYWHERE.load(Ordering::Relaxed),
            NO_CFI.load(Ordering::Relaxed),
            FRAMES.load(Ordering::Relaxed)
        );
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "a_profiler_can_unwind_from_any_instruction_of_the_switch",
            "--exact",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the child died (signal {:?}): {stdout}\n{}",
        out.status.signal(),
        String::from_utf8_lossy(&out.stderr)
    );
    let samples: usize = stdout
        .split_whitespace()
        .find_map(|w| w.strip_prefix("samples="))
        .and_then(|n| n.parse().ok())
        .expect("the child reports its samples");
    assert!(
        samples >= 1000,
        "too few samples to mean anything: {stdout}"
    );
    println!("{stdout}");
    assert!(
        stdout.contains(" lost=0 "),
        "some walks lost their way: {stdout}"
    );
    assert!(
        stdout.contains(" lost_anywhere=0 "),
        "some walks lost their way outside the asm (the inline resume halves?): {stdout}"
    );
}

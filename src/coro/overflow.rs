//! Stack overflow detection for contexts.
//!
//! A SIGSEGV/SIGBUS handler, installed once and running on an alternate signal stack (the
//! faulting stack is unusable), checks whether the fault address lies in the guard page of the
//! context running on this OS thread. If so it prints
//! `green thread '<name>' has overflowed its stack (<N> KiB)` and aborts, as std does for OS
//! threads. Any other fault is handed to the handler that was installed before ours (std's, or
//! the default action).

use std::cell::Cell;
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::Once;

/// What the handler needs to know about the running context. Lives in the `Context` and is
/// published through [`CURRENT`] for the duration of each resume.
#[derive(Debug)]
pub(crate) struct StackInfo {
    pub guard_start: usize,
    pub guard_end: usize,
    pub size: usize,
    pub name: Option<std::sync::Arc<str>>,
}

thread_local! {
    // Const-initialised and without a destructor: a plain TLS slot, safe to read from a signal
    // handler.
    static CURRENT: Cell<*const StackInfo> = const { Cell::new(ptr::null()) };
    static ALTSTACK_READY: Cell<bool> = const { Cell::new(false) };
}

/// Publishes `info` as the context about to run on this thread; returns the one published
/// before (a parent context's, or null on a thread's own stack), for [`leave`] to put back when
/// the context switches back.
///
/// One TLS load and one store, no branch: every switch pays this, so it is kept as small as a
/// round trip inlined into a caller's loop allows. `info` lives in the context's stack header
/// and stays at a fixed address while published; [`forget`] clears it before that memory is
/// reused.
///
/// Inlined on purpose: this runs on the parent's side of the switch, and the parent never
/// changes OS thread, so a TLS address the compiler keeps across the switch stays right.
#[inline(always)]
pub(crate) fn enter(info: *const StackInfo) -> *const StackInfo {
    CURRENT.with(|c| c.replace(info))
}

/// Called when the context published by [`enter`] has switched back to its parent: publishes
/// again what `enter` returned (the parent context, or nothing on a thread's own stack).
#[inline(always)]
pub(crate) fn leave(prev: *const StackInfo) {
    CURRENT.with(|c| c.set(prev));
}

/// Unpublishes `info` before the memory it lives in is reused or unmapped. Every `enter` is
/// paired with a `leave` (a resume always returns, panics are caught on the context's side), so
/// a finished context is normally no longer published; this makes sure of it.
#[inline]
pub(crate) fn forget(info: *const StackInfo) {
    let _ = CURRENT.try_with(|c| {
        if c.get() == info {
            c.set(ptr::null());
        }
    });
}

/// Makes sure this thread can report an overflow: the handler is installed and the thread has
/// an alternate signal stack. Cheap after the first call on a thread.
#[inline]
pub(crate) fn prepare_thread() {
    if !ALTSTACK_READY.with(Cell::get) {
        prepare_thread_slow();
    }
}

#[cold]
fn prepare_thread_slow() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(install_handler);
    ensure_altstack();
    ALTSTACK_READY.with(|c| c.set(true));
}

/// The handlers that were installed before ours, for chaining.
static mut PREVIOUS_SEGV: MaybeUninit<libc::sigaction> = MaybeUninit::zeroed();
static mut PREVIOUS_BUS: MaybeUninit<libc::sigaction> = MaybeUninit::zeroed();

fn install_handler() {
    for (signal, previous) in [
        (libc::SIGSEGV, &raw mut PREVIOUS_SEGV),
        (libc::SIGBUS, &raw mut PREVIOUS_BUS),
    ] {
        // SAFETY: sigaction with a zeroed struct filled in field by field; `previous` is written
        // here once (inside Once) before our handler can run, and only read by the handler.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler
                as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void)
                as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, (*previous).as_mut_ptr());
        }
    }
}

/// Gives this thread an alternate signal stack unless it has one (std gives one to the main
/// thread and to the threads it spawns). Ours is freed when the thread exits.
fn ensure_altstack() {
    // SAFETY: querying the current alternate stack.
    let mut current: libc::stack_t = unsafe { std::mem::zeroed() };
    unsafe { libc::sigaltstack(ptr::null(), &mut current) };
    if current.ss_flags & libc::SS_DISABLE == 0 {
        return;
    }
    struct AltStack(*mut libc::c_void, usize);
    impl Drop for AltStack {
        fn drop(&mut self) {
            // SAFETY: disable before unmapping, so no signal can land on freed memory.
            unsafe {
                let disable = libc::stack_t {
                    ss_sp: ptr::null_mut(),
                    ss_flags: libc::SS_DISABLE,
                    ss_size: 0,
                };
                libc::sigaltstack(&disable, ptr::null_mut());
                libc::munmap(self.0, self.1);
            }
        }
    }
    thread_local! { static OURS: Cell<Option<AltStack>> = const { Cell::new(None) }; }
    let size = libc::SIGSTKSZ.max(64 * 1024);
    // SAFETY: a fresh anonymous mapping, used only as this thread's signal stack.
    let mem = unsafe {
        libc::mmap(
            ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
            -1,
            0,
        )
    };
    if mem == libc::MAP_FAILED {
        return; // Overflow reports degrade to a plain SIGSEGV; nothing else depends on it.
    }
    let stack = libc::stack_t {
        ss_sp: mem,
        ss_flags: 0,
        ss_size: size,
    };
    // SAFETY: `mem` stays mapped until the thread-local below is dropped at thread exit.
    unsafe { libc::sigaltstack(&stack, ptr::null_mut()) };
    OURS.with(|c| c.set(Some(AltStack(mem, size))));
}

extern "C" fn handler(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    // try_with: never panic in a signal handler (the slot may be gone during thread exit).
    let current = CURRENT.try_with(Cell::get).unwrap_or(ptr::null());
    // SAFETY: CURRENT points at the StackInfo of the context running on this thread; it outlives
    // the resume during which it is published.
    if let Some(stack) = unsafe { current.as_ref() } {
        if (stack.guard_start..stack.guard_end).contains(&addr) {
            report_overflow(stack);
        }
    }
    // Not ours: hand the fault to whoever handled it before us.
    let previous = if signal == libc::SIGBUS {
        &raw const PREVIOUS_BUS
    } else {
        &raw const PREVIOUS_SEGV
    };
    // SAFETY: written once before this handler was installed.
    let previous = unsafe { (*previous).assume_init_ref() };
    let target = previous.sa_sigaction;
    if target == libc::SIG_DFL || target == libc::SIG_IGN {
        // Restore the default action and return: the faulting instruction runs again and the
        // kernel delivers the signal with its default effect (a core dump).
        // SAFETY: resetting a signal disposition is async-signal-safe.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(signal, &action, ptr::null_mut());
        }
    } else if previous.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous handler was installed with SA_SIGINFO, so it has this signature.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { std::mem::transmute(target) };
        f(signal, info, context);
    } else {
        // SAFETY: a plain sa_handler.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(target) };
        f(signal);
    }
}

/// Writes the overflow message with async-signal-safe calls only, then aborts.
fn report_overflow(stack: &StackInfo) -> ! {
    let name = stack.name.as_deref().unwrap_or("<unnamed>");
    let mut kib = [0u8; 20];
    let digits = format_decimal(stack.size / 1024, &mut kib);
    for part in [
        "\ngreen thread '".as_bytes(),
        name.as_bytes(),
        b"' has overflowed its stack (",
        digits,
        b" KiB)\nfatal runtime error: stack overflow, aborting\n",
    ] {
        // SAFETY: write(2) is async-signal-safe; a short write only shortens the message.
        unsafe { libc::write(libc::STDERR_FILENO, part.as_ptr().cast(), part.len()) };
    }
    // SAFETY: abort(3) is async-signal-safe.
    unsafe { libc::abort() }
}

fn format_decimal(mut n: usize, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[i..];
        }
    }
}

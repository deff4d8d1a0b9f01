//! Stack overflow detection for contexts.
//!
//! A SIGSEGV/SIGBUS handler, installed once and running on an alternate signal stack (the
//! faulting stack is unusable), checks whether the fault address lies in the guard page of a
//! context started on this OS thread, while the stack pointer is on that context's stack. If so
//! it prints `green thread '<name>' has overflowed its stack (<N> KiB)` and aborts, as std does
//! for OS threads. Any other fault is handed to the handler that was installed before ours
//! (std's, or the default action).
//!
//! The handler finds the stacks in a per-OS-thread table of the contexts started and not yet
//! finished there (a context never changes OS thread once started; see `started.rs`). A
//! context enters it at its first resume and leaves it when it finishes: twice per context,
//! off the switch. Publishing "the running context" at every switch instead cost a
//! thread-local load and two stores per resume, on the path every green thread's park and wake
//! takes.

use super::started::{self, Slot};
use std::cell::Cell;
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::Once;

/// What the handler needs to know about a started context. Lives at a fixed address (the
/// context's stack header) from the context's first resume to its finish, linked into this
/// thread's list of started contexts meanwhile.
#[derive(Debug)]
pub(crate) struct StackInfo {
    pub guard_start: usize,
    pub guard_end: usize,
    pub size: usize,
    pub name: Option<std::sync::Arc<str>>,
    /// The slot of this thread's table of started contexts that points here (see
    /// `started.rs`); null while not listed.
    pub(super) slot: Cell<*const Slot>,
}

impl StackInfo {
    /// The description of a stack whose guard page is `guard` and whose usable size is `size`.
    pub(crate) fn new(guard: std::ops::Range<usize>, size: usize) -> StackInfo {
        StackInfo {
            guard_start: guard.start,
            guard_end: guard.end,
            size,
            name: None,
            slot: Cell::new(ptr::null()),
        }
    }

    /// Whether a fault at `addr`, with the stack pointer at `sp` (if known), is this stack
    /// running into its guard page.
    fn overflowed(&self, addr: usize, sp: Option<usize>) -> bool {
        let on_stack = self.guard_start..self.guard_end.saturating_add(self.size);
        (self.guard_start..self.guard_end).contains(&addr)
            && sp.is_none_or(|sp| on_stack.contains(&sp))
    }
}

thread_local! {
    static ALTSTACK_READY: Cell<bool> = const { Cell::new(false) };
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
    let sp = stack_pointer(context);
    // SAFETY: this thread's own table, which is consistent at every instruction this handler
    // can interrupt (see `started.rs`).
    unsafe {
        started::for_each(|stack| {
            if stack.overflowed(addr, sp) {
                report_overflow(stack);
            }
        })
    };
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

/// The interrupted code's stack pointer, from the signal's machine context, where this
/// platform's layout is known.
fn stack_pointer(context: *mut libc::c_void) -> Option<usize> {
    let context = context.cast::<libc::ucontext_t>();
    if context.is_null() {
        return None;
    }
    // SAFETY: the kernel passes a valid ucontext_t to an SA_SIGINFO handler.
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    return Some(unsafe { (*context).uc_mcontext.gregs[libc::REG_RSP as usize] } as usize);
    // SAFETY: as above.
    #[cfg(all(target_os = "linux", target_arch = "aarch64"))]
    return Some(unsafe { (*context).uc_mcontext.sp } as usize);
    // SAFETY: as above; x2 is the stack pointer.
    #[cfg(all(target_os = "linux", target_arch = "riscv64"))]
    return Some(unsafe { (*context).uc_mcontext.__gregs[2] } as usize);
    #[allow(unreachable_code)]
    None
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

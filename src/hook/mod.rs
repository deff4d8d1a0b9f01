//! The `hook` feature: libc's blocking calls, made by code zsync does not own (std's own
//! `std::thread::sleep` and `std::net`, crates that open their own sockets, C libraries), park
//! the calling green thread instead of blocking its worker.
//!
//! What is hooked: sleeps (`sleep.rs`); sockets, pipes, FIFOs and ttys, `poll`, `ppoll`,
//! `select`, `epoll_wait`/`epoll_pwait`/`epoll_pwait2` on a foreign epoll fd, and the fd
//! bookkeeping (`io.rs`, `fd.rs`; `fcntl`/`ioctl`, which only note a change of `O_NONBLOCK`, in
//! `fcntl.rs`); `getaddrinfo`/`getnameinfo` on the blocking pool (`dns.rs`); reads of regular
//! files, whose cached bytes are read in place and the rest on the blocking pool (`file.rs`).
//! Not: writes to regular files (into the page cache, in place). A wait given a signal mask
//! that unblocks a signal (`ppoll`, `epoll_pwait*`) makes the real call: a parked green thread
//! cannot be ended by the signal, which is what such a mask asks for.
//!
//! # How
//!
//! zsync defines `#[no_mangle] extern "C"` functions named like libc's (`nanosleep`, `read`,
//! ...). The linker binds every reference in the program's own objects (std, every crate, C
//! code linked in statically) to these definitions instead of libc's, and the dynamic linker
//! does the same for shared libraries the program links against (an executable's definition
//! comes first in symbol lookup, and the linker exports it because the library references it).
//! A library loaded later with `dlopen` sees them only if the executable exports them
//! (`-C link-args=-Wl,--export-dynamic`). Calls that glibc makes inside itself (`fread` ->
//! `read`, `system` -> `waitpid`) use its private aliases and are not seen.
//!
//! Each hook asks one question first: is the caller a green thread of a zsync runtime of this
//! process ([`crate::runtime::context::current`], one thread-local read, and the runtime's fork
//! generation, one relaxed load)? If not (an OS thread, the blocking pool, a worker's own code,
//! the reactor, code before `main`, the child of a `fork()` made on a green thread), it makes
//! the real call
//! at once: the system call itself through `libc::syscall` (never the libc symbol, which is
//! this very function), with libc's exact semantics (errno, `EINTR`, partial reads and writes);
//! for the resolver, which is no system call, libc's own function found with
//! `dlsym(RTLD_NEXT, ..)`.
//! Only a green thread sees a change, and only where it would otherwise block. One change
//! no hook can hide: a parked call is not ended by a signal (libc's blocked call fails with
//! `EINTR`: always for sleeps, `poll`-like waits and sockets with a timeout, otherwise unless
//! the handler has `SA_RESTART`), since the worker cannot tell which parked call, if any, the
//! signal would have interrupted (docs/API.md, the hook section, "Signals").
//!
//! # Soundness
//!
//! A started green thread never changes OS thread (see the `runtime` module): `errno`, which the
//! hook sets and its caller reads after the call, and every thread-local of the caller stay those
//! of the same OS thread across the park. Nothing unwinds out of a hook: the functions are
//! `extern "C"`, so a panic inside one aborts the process instead of unwinding into a C frame,
//! and the hooks park with [`crate::runtime::park::park_quiet`], which reports a cancellation
//! or an expired `timeout()` instead of raising it. The hooked call then fails (see each
//! function), and the request is raised at the green thread's next zsync park point. Foreign
//! code may answer the failure with a Rust panic of its own (tokio does when its `epoll_wait`
//! fails): that panic unwinds through Rust frames only, and an expired `timeout()` whose expiry
//! a hook reported takes it as its own unwind (`Err(Elapsed)`).
//!
//! Thread-locals are the worker's, shared by its green threads: foreign code that keeps state in
//! one across a blocking call sees another green thread's state when the call parks. tokio's
//! "a runtime is entered here" is such state: a crate that runs a tokio runtime inside its
//! blocking API can be in use by one green thread per worker at a time (a second panics). The
//! resolver hooks lend the caller's pointers to a blocking-pool thread through
//! [`crate::blocking::unblock_scoped`]: the caller waits, shielded, until the job has returned,
//! so the pointers outlive their use.

use crate::runtime::context::{self, Current};
use std::time::Duration;

mod dns;
mod fcntl;
mod fd;
mod file;
mod io;
mod sleep;

/// Where a hook's caller runs: [`context::current`], except that a green thread of a runtime
/// built before a `fork()` of this process counts as a plain OS thread. Such a green thread is
/// the one that called `fork()` (the child's only thread): its worker loop was copied, but the
/// runtime's other threads were not, and parking would run the parent's other green threads
/// here, in the child (and wait on the epoll fd it shares with the parent). libc just blocks
/// this one thread; so does the hook, with the real call. One relaxed load more than
/// `context::current`.
#[inline]
fn current<'a>() -> Current<'a> {
    match context::current() {
        Current::Green { worker, .. } if worker.shared.forked_away() => Current::Os,
        current => current,
    }
}

/// Whether the caller is a green thread the hooks may park (see [`current`]).
fn on_green_thread() -> bool {
    matches!(current(), Current::Green { .. })
}

/// The caller's pointers, lent to a blocking-pool thread for the length of one call
/// (`getaddrinfo`'s arguments, a regular file read's buffers).
struct Borrowed<T>(T);

// SAFETY: the pointers are used only while the caller waits for the job, shielded
// ([`crate::blocking::unblock_scoped`]), and what they are lent to (libc's resolver, a system
// call) may run on any thread.
unsafe impl<T> Send for Borrowed<T> {}

impl<T: Copy> Borrowed<T> {
    /// By method, so that a closure captures the whole wrapper (not its non-`Send` fields).
    fn get(&self) -> T {
        self.0
    }
}

/// Sets the calling OS thread's `errno`.
fn set_errno(value: libc::c_int) {
    // SAFETY: `__errno_location` returns this OS thread's errno, valid while the thread lives.
    unsafe { *libc::__errno_location() = value };
}

/// The calling OS thread's `errno`.
fn errno() -> libc::c_int {
    // SAFETY: as in `set_errno`.
    unsafe { *libc::__errno_location() }
}

/// `f()`, with the caller's `errno` put back if it returns a success (not negative): libc's
/// calls leave `errno` alone then, but a hooked call may meet an error on its way (a try that
/// would block, a registration epoll refuses), and while it is parked the worker's other green
/// threads run on the same OS thread and set `errno` too. A failure keeps the `errno` that `f`
/// left, its own.
#[inline]
fn keep_errno<R: PartialOrd + Default>(f: impl FnOnce() -> R) -> R {
    // SAFETY: as in `set_errno`. Asked once per call: a green thread never changes OS thread
    // (see "Soundness" above), so after a park it is still the caller's.
    let at = unsafe { libc::__errno_location() };
    // SAFETY: this OS thread's errno, valid while the thread lives.
    let saved = unsafe { *at };
    let r = f();
    if r >= R::default() {
        // SAFETY: as above; this code runs on the caller's OS thread.
        unsafe { *at = saved };
    }
    r
}

/// A valid `timespec` as a duration (`None`: negative or out of range, for the kernel to
/// refuse).
fn timespec_duration(ts: &libc::timespec) -> Option<Duration> {
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return None;
    }
    Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// The socket type of `fd` (`SO_TYPE`), or `None` if it is not a socket. `errno` preserved.
fn socket_type(fd: std::os::fd::RawFd) -> Option<libc::c_int> {
    socket_option(fd, libc::SO_TYPE)
}

/// An int socket option of `fd` at `SOL_SOCKET`, or `None` if it cannot be read. `errno`
/// preserved.
fn socket_option(fd: std::os::fd::RawFd, name: libc::c_int) -> Option<libc::c_int> {
    let mut ty: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    let saved = errno();
    // SAFETY: a writable int and its length.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            name,
            (&mut ty as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    set_errno(saved);
    (r == 0).then_some(ty)
}

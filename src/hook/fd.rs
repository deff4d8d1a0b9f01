//! What the hooks remember per fd: whether it is a socket, a pipe/FIFO/character device or
//! something else (asked once, with `SO_TYPE` and `fstat`; and whether it refused `RWF_NOWAIT`) and its
//! registration with a reactor (made when a green thread first waits on it, and shared with
//! zsync's own registration of the fd, if any: see `Reactor::register`; dropped, which
//! deregisters it, by the `close`/`dup2`/`dup3` hooks before the kernel can reuse the number;
//! the hooks that hand out a number, `socket`, `accept`, `dup`, `pipe`, `socketpair`,
//! `fcntl(F_DUPFD)`, forget it too, in case it was freed behind their back).
//!
//! A table indexed by fd, in chunks of 1024 slots allocated on first use and never freed (fds
//! from 0 to 2^20; larger ones are not remembered and make the real call).
//!
//! # Answers kept under a generation
//!
//! Two things the kernel keeps are remembered per slot, each tagged with the value of a global
//! generation when it was read, and trusted only while that generation has not moved:
//! - whether the user made the fd non-blocking (`O_NONBLOCK`, asked with `F_GETFL` when a call
//!   would block: a non-blocking fd gets `EAGAIN` at once). The `fcntl` and `ioctl` hooks
//!   (`fcntl.rs`) bump [`NONBLOCK_GENERATION`] after every `F_SETFL` and `FIONBIO`, on any fd:
//!   the flag lives on the open file description, which `dup`'d fds and other processes share,
//!   so no per-fd invalidation could be complete. The `connect` hook, which sets `O_NONBLOCK`
//!   for the call only, bumps it too when it puts the flags back. Then a wait on an fd whose
//!   mode has not changed costs no `fcntl`, and a program that changes modes often pays at most
//!   what it paid before, one `F_GETFL` per wait. A tty (a `POLL_FIRST` fd) is always asked:
//!   the terminal's description is shared by every process of the session, and shells and
//!   editors change its mode behind this process's libc; its reads are human-paced anyway.
//!   Where `fcntl`/`ioctl` are not hooked ([`super::fcntl::HOOKED`]), every wait asks.
//! - whether a socket has no timeout (`SO_RCVTIMEO`/`SO_SNDTIMEO`), per direction: the
//!   `setsockopt` hook bumps [`TIMEOUT_GENERATION`] when any thread sets a timeout on any
//!   socket. A blocking read on a plain socket then costs no `getsockopt`.
//!
//! The race, for both: a reader loads the generation (acquire) *before* asking the kernel and
//! tags the answer with it; a changer makes its system call and bumps the generation (release)
//! *after* it. A reader that saw the new generation therefore sees the new flags; one that saw
//! the old one stored an answer the bump has already made stale. A reader that finds a
//! current answer while a change is in flight is concurrent with that change, and either order
//! is one libc could give. A racing reader may overwrite a newer answer with an older one: it
//! carries the older generation, so it is only asked again. Model-checked by `loom_tests`
//! below (`RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test --release --lib
//! --features hook loom_nonblocking`).
//!
//! A change made behind libc's back (a raw system call, such as rustix's `ioctl_fionbio`, which
//! async-io's `Async::new` uses; another process sharing the description) is seen only once the
//! fd is closed and its slot forgotten: until then the hooks follow the mode and timeouts as
//! last set through libc in this process. Only an fd a green thread has already waited on has
//! an answer to go stale. So is a
//! number closed behind the hooks' back (glibc closing inside itself, `fclose`) and reused by a
//! call that does not forget it (`open`).

use crate::loom::lock::Lock;
use crate::reactor::{Registration, ScheduledIo};
use crate::runtime::{Reactor, Thread};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

const CHUNK: usize = 1024;
const CHUNKS: usize = 1024;

/// `Slot::kind`: not asked yet, a socket, something else.
pub(super) const UNKNOWN: u8 = 0;
pub(super) const SOCKET: u8 = 1;
pub(super) const OTHER: u8 = 2;
/// A FIFO (pipes included) or a character device (ttys): pollable, not a socket, and not
/// yet known to refuse `RWF_NOWAIT`.
pub(super) const NOWAIT: u8 = 3;
/// As `NOWAIT`, but the kernel refused `RWF_NOWAIT` on it: readiness is polled first.
pub(super) const POLL_FIRST: u8 = 4;
/// A regular file, not yet known to refuse `RWF_NOWAIT` reads (see `file.rs`).
pub(super) const REGULAR: u8 = 5;
/// A regular file whose file system refused `RWF_NOWAIT` reads (tmpfs, /proc): read in place.
pub(super) const REGULAR_PLAIN: u8 = 6;

pub(super) struct Slot {
    kind: AtomicU8,
    /// A `SOCKET` of type `SOCK_STREAM` (set with `kind`).
    stream: AtomicBool,
    /// A TCP socket (set with `kind`): a read shorter than its buffer drained it, unless it
    /// stopped at the urgent mark. (An `AF_UNIX` stream read also stops after a message that
    /// carries fds, or one from another sender under `SO_PASSCRED`, with more queued.)
    tcp: AtomicBool,
    /// Per direction (read, write): `TIMEOUT_GENERATION + 1` when the socket was last found
    /// without a timeout in that direction; 0 if not known.
    no_timeout: [AtomicU64; 2],
    /// `(NONBLOCK_GENERATION + 1) << 1 | O_NONBLOCK set` when the fd's mode was last read; 0
    /// if not known.
    nonblocking: AtomicU64,
    /// Under the crate's short spin lock: read by every call that may wait (two per request
    /// of a server), held across a system call only when the fd is first registered.
    registration: Lock<Option<Registered>>,
    /// Bumped by [`Slot::reset`] (the number was closed, replaced or handed out afresh) before
    /// its registration is dropped: a call that began under another value waits on a number
    /// that no longer names its file (see [`Slot::epoch`]).
    epoch: AtomicU64,
}

/// A registration, with the fork generation it was made in. One made before a `fork()` of
/// this process belongs to the parent's reactor, whose epoll instance the child shares: in the
/// child it is never waited on, and forgetting it leaks it instead of deregistering the fd
/// (which would remove the parent's interest in the file it still uses, and take the parent's
/// reactor's locks, which a thread that does not exist here may have held at the fork).
struct Registered {
    registration: std::mem::ManuallyDrop<Registration<Thread>>,
    fork_generation: u64,
}

impl Registered {
    fn new(registration: Registration<Thread>) -> Registered {
        Registered {
            registration: std::mem::ManuallyDrop::new(registration),
            fork_generation: crate::runtime::fork_generation(),
        }
    }

    /// Made in this process (not inherited through a `fork()`).
    fn is_ours(&self) -> bool {
        self.fork_generation == crate::runtime::fork_generation()
    }

    /// Usable for a wait: ours, and its reactor still runs.
    fn is_live(&self) -> bool {
        self.is_ours() && !self.registration.reactor.is_shut_down()
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        if self.is_ours() {
            // SAFETY: dropped once, here; never used again.
            unsafe { std::mem::ManuallyDrop::drop(&mut self.registration) };
        }
    }
}

/// Bumped by the `setsockopt` hook whenever a socket timeout is set: every remembered "no
/// timeout" of an older generation is asked again.
static TIMEOUT_GENERATION: AtomicU64 = AtomicU64::new(0);

/// A socket timeout was set (on some socket): forget every remembered "no timeout".
pub(super) fn timeouts_changed() {
    TIMEOUT_GENERATION.fetch_add(1, Ordering::AcqRel);
}

/// Bumped, after the system call, by every `F_SETFL` and `FIONBIO` made through the hooks and
/// by the `connect` hook: every remembered `O_NONBLOCK` of an older generation is asked again.
static NONBLOCK_GENERATION: AtomicU64 = AtomicU64::new(0);

/// Some fd's `O_NONBLOCK` may have changed (the system call has returned): forget every
/// remembered mode.
pub(super) fn nonblocking_changed() {
    NONBLOCK_GENERATION.fetch_add(1, Ordering::AcqRel);
}

type Chunk = [Slot; CHUNK];

static TABLE: [AtomicPtr<Chunk>; CHUNKS] = [const { AtomicPtr::new(std::ptr::null_mut()) }; CHUNKS];

fn index(fd: RawFd) -> Option<(usize, usize)> {
    let fd = usize::try_from(fd).ok()?;
    (fd < CHUNK * CHUNKS).then_some((fd / CHUNK, fd % CHUNK))
}

/// The slot of `fd`, if its chunk exists.
#[inline]
fn existing(fd: RawFd) -> Option<&'static Slot> {
    let (chunk, i) = index(fd)?;
    let ptr = TABLE[chunk].load(Ordering::Acquire);
    // SAFETY: a published chunk is never freed.
    (!ptr.is_null()).then(|| unsafe { &(*ptr)[i] })
}

/// The slot of `fd`, allocating its chunk if needed. Inlined: every hooked call that may wait
/// asks it, and all but the first in a chunk find it.
#[inline]
pub(super) fn slot(fd: RawFd) -> Option<&'static Slot> {
    match existing(fd) {
        Some(slot) => Some(slot),
        None => new_slot(fd),
    }
}

/// [`slot`] of an fd whose chunk does not exist yet: makes it.
#[cold]
#[inline(never)]
fn new_slot(fd: RawFd) -> Option<&'static Slot> {
    let (chunk, i) = index(fd)?;
    // Built on the heap: a chunk is too big for a small green-thread stack.
    let slots: Vec<Slot> = (0..CHUNK)
        .map(|_| Slot {
            kind: AtomicU8::new(UNKNOWN),
            stream: AtomicBool::new(false),
            tcp: AtomicBool::new(false),
            no_timeout: [AtomicU64::new(0), AtomicU64::new(0)],
            nonblocking: AtomicU64::new(0),
            registration: Lock::new(None),
            epoch: AtomicU64::new(0),
        })
        .collect();
    let Ok(fresh) = Box::<Chunk>::try_from(slots.into_boxed_slice()) else {
        return None; // cannot happen: exactly CHUNK slots
    };
    let fresh = Box::into_raw(fresh);
    let ptr = match TABLE[chunk].compare_exchange(
        std::ptr::null_mut(),
        fresh,
        Ordering::AcqRel,
        Ordering::Acquire,
    ) {
        Ok(_) => fresh,
        Err(theirs) => {
            // SAFETY: ours, never published.
            drop(unsafe { Box::from_raw(fresh) });
            theirs
        }
    };
    // SAFETY: published, never freed.
    Some(unsafe { &(*ptr)[i] })
}

impl Slot {
    /// Whether the fd is a socket, asking the kernel the first time.
    pub(super) fn is_socket(&self, fd: RawFd) -> bool {
        self.kind(fd) == SOCKET
    }

    /// What the fd is (`SOCKET`, `NOWAIT`, `POLL_FIRST`, `REGULAR`, `REGULAR_PLAIN` or `OTHER`),
    /// asking the kernel the first time (`errno` preserved). Inlined, as the asking is not.
    #[inline]
    pub(super) fn kind(&self, fd: RawFd) -> u8 {
        let kind = self.kind.load(Ordering::Relaxed);
        if kind != UNKNOWN {
            return kind;
        }
        self.ask_kind(fd)
    }

    /// [`Slot::kind`] the first time: asks the kernel and remembers the answer.
    #[cold]
    #[inline(never)]
    fn ask_kind(&self, fd: RawFd) -> u8 {
        let kind = if let Some(ty) = super::socket_type(fd) {
            // Stored before the kind that publishes it (both relaxed: a reader that sees
            // `SOCKET` without this only misses a saved system call).
            self.stream
                .store(ty == libc::SOCK_STREAM, Ordering::Relaxed);
            let tcp = ty == libc::SOCK_STREAM
                && super::socket_option(fd, libc::SO_PROTOCOL) == Some(libc::IPPROTO_TCP);
            self.tcp.store(tcp, Ordering::Relaxed);
            SOCKET
        } else {
            match file_type(fd) {
                Some(libc::S_IFIFO | libc::S_IFCHR) => NOWAIT,
                Some(libc::S_IFREG) => REGULAR,
                _ => OTHER,
            }
        };
        self.kind.store(kind, Ordering::Relaxed);
        kind
    }

    /// Whether the fd is a stream socket (after `kind` said `SOCKET`).
    pub(super) fn is_stream(&self) -> bool {
        self.stream.load(Ordering::Relaxed)
    }

    /// Whether the fd is a TCP socket (after `kind` said `SOCKET`).
    pub(super) fn is_tcp(&self) -> bool {
        self.tcp.load(Ordering::Relaxed)
    }

    /// The kernel refused `RWF_NOWAIT` on the fd: a pipe or tty is polled first from now on, a
    /// regular file read in place.
    pub(super) fn refuses_nowait(&self) {
        let (from, to) = match self.kind.load(Ordering::Relaxed) {
            NOWAIT => (NOWAIT, POLL_FIRST),
            REGULAR => (REGULAR, REGULAR_PLAIN),
            _ => return,
        };
        let _ = self
            .kind
            .compare_exchange(from, to, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// The socket's timeout for `direction` (0: read, 1: write), if it has one: remembered
    /// while none is set (see the module docs), else asked with `read`. Inlined, as the asking
    /// is not: a plain socket's wait asks nothing.
    #[inline]
    pub(super) fn socket_timeout(
        &self,
        direction: usize,
        read: impl FnOnce() -> Option<Duration>,
    ) -> Option<Duration> {
        let generation = TIMEOUT_GENERATION.load(Ordering::Acquire) + 1;
        if self.no_timeout[direction].load(Ordering::Relaxed) == generation {
            return None;
        }
        self.ask_timeout(direction, generation, read)
    }

    /// [`Slot::socket_timeout`] when no "none" is remembered under `generation`: asks `read`.
    #[inline(never)]
    fn ask_timeout(
        &self,
        direction: usize,
        generation: u64,
        read: impl FnOnce() -> Option<Duration>,
    ) -> Option<Duration> {
        let timeout = read();
        if timeout.is_none() {
            self.no_timeout[direction].store(generation, Ordering::Relaxed);
        }
        timeout
    }

    /// Whether the user made `fd` non-blocking: remembered while no `O_NONBLOCK` has changed
    /// through libc (see the module docs), else asked with `F_GETFL` (`errno` preserved). An
    /// fd the kernel does not know is not non-blocking (the call that follows fails on its own).
    /// Inlined, as the asking is not.
    #[inline]
    pub(super) fn user_nonblocking(&self, fd: RawFd) -> bool {
        if !super::fcntl::HOOKED || self.kind(fd) == POLL_FIRST {
            return kernel_nonblocking(fd).unwrap_or(false);
        }
        // Loaded before the kernel is asked: see the module docs.
        let generation = NONBLOCK_GENERATION.load(Ordering::Acquire);
        if let Some(nonblocking) = recall(self.nonblocking.load(Ordering::Relaxed), generation) {
            return nonblocking;
        }
        self.ask_nonblocking(fd, generation)
    }

    /// [`Slot::user_nonblocking`] when no answer is remembered under `generation`: asks the
    /// kernel and remembers it.
    #[inline(never)]
    fn ask_nonblocking(&self, fd: RawFd, generation: u64) -> bool {
        let Some(nonblocking) = kernel_nonblocking(fd) else {
            return false;
        };
        self.nonblocking
            .store(remember(nonblocking, generation), Ordering::Relaxed);
        nonblocking
    }

    /// The fd turned out not to be what the slot said (it was closed and reused behind the
    /// hooks' back): forget everything.
    pub(super) fn reset(&self) {
        // Before the registration is dropped, which wakes its waiters: a waiter that sees the
        // drop (its snapshot, acquire, reads the deregistration's tick, released after this)
        // sees the new epoch.
        self.epoch.fetch_add(1, Ordering::Release);
        self.kind.store(UNKNOWN, Ordering::Relaxed);
        self.stream.store(false, Ordering::Relaxed);
        self.tcp.store(false, Ordering::Relaxed);
        for remembered in &self.no_timeout {
            remembered.store(0, Ordering::Relaxed);
        }
        self.nonblocking.store(0, Ordering::Relaxed);
        let old = self.registration.lock().take();
        drop(old);
    }

    /// Which file the number names, as far as the hooks know: a call reads it when it starts
    /// and, once it differs, the number was closed (and may name another file now) while the
    /// call waited. libc's call, blocked in the kernel, keeps its own reference to the old file;
    /// a call that retries by number cannot, and must not touch the new file either: it fails
    /// with `EBADF`, as libc's does on a number closed before the call.
    pub(super) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// The readiness of the fd's registration, if a wait has registered it already (with a
    /// reactor that still runs); nothing is registered here. Read before a try, so that a try
    /// that fails parks on a snapshot older than itself, without trying again.
    pub(super) fn registered_io(&self) -> Option<Arc<ScheduledIo<Thread>>> {
        let registration = self.registration.lock();
        registration
            .as_ref()
            .filter(|r| r.is_live())
            .map(|r| r.registration.io.clone())
    }

    /// The readiness of `fd` in a reactor: its registration's, registering it with `reactor`
    /// first if it has none. `None` if the fd cannot be registered (epoll refuses regular
    /// files) or its reactor has shut down.
    pub(super) fn io(&self, fd: RawFd, reactor: &Arc<Reactor>) -> Option<Arc<ScheduledIo<Thread>>> {
        let mut registration = self.registration.lock();
        if registration.as_ref().is_some_and(|r| !r.is_live()) {
            *registration = None;
        }
        if registration.is_none() {
            *registration = Some(Registered::new(reactor.register(fd).ok()?));
        }
        registration.as_ref().map(|r| r.registration.io.clone())
    }
}

/// The `S_IFMT` bits of `fd`'s mode (`errno` preserved).
fn file_type(fd: RawFd) -> Option<libc::mode_t> {
    let saved = super::errno();
    // SAFETY: all-zero is a valid `stat`; the kernel fills it.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a writable `stat`.
    let r = unsafe { libc::fstat(fd, &mut st) };
    super::set_errno(saved);
    (r == 0).then_some(st.st_mode & libc::S_IFMT)
}

/// A yes/no answer read under `generation`, as a slot keeps it (0 is "not known").
fn remember(answer: bool, generation: u64) -> u64 {
    (generation + 1) << 1 | answer as u64
}

/// The answer a slot keeps in `known`, if it was read under `generation`.
fn recall(known: u64, generation: u64) -> Option<bool> {
    (known >> 1 == generation + 1).then_some(known & 1 == 1)
}

/// Whether the open file description behind `fd` has `O_NONBLOCK`, from the kernel (`None`:
/// not an open fd; `errno` preserved).
fn kernel_nonblocking(fd: RawFd) -> Option<bool> {
    let saved = super::errno();
    // SAFETY: F_GETFL takes no argument.
    let flags = unsafe { libc::syscall(libc::SYS_fcntl, fd as libc::c_long, libc::F_GETFL) };
    super::set_errno(saved);
    (flags != -1).then_some(flags as libc::c_int & libc::O_NONBLOCK != 0)
}

/// The fd is about to be closed (or replaced by `dup2`/`dup3`): forget it, deregistering it
/// from its reactor while the number is still this file's. Also called with a number just
/// handed out, which may have been freed behind the hooks' back.
pub(super) fn forget(fd: RawFd) {
    if let Some(slot) = existing(fd) {
        slot.reset();
    }
}

/// The protocol of the module docs' "answers kept under a generation", with loom's atomics
/// standing in for the generation, a slot, and the kernel's flag (which a system call reads or
/// writes in the calling thread's program order, between the generation's loads and bumps).
#[cfg(all(test, loom))]
mod loom_tests {
    use super::{recall, remember};
    use loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use loom::sync::Arc;
    use loom::thread;

    #[derive(Default)]
    struct World {
        generation: AtomicU64,
        slot: AtomicU64,
        kernel_nonblocking: AtomicBool,
        /// The changer's `fcntl` has returned.
        changed: AtomicBool,
    }

    /// `Slot::user_nonblocking`.
    fn user_nonblocking(w: &World) -> bool {
        let generation = w.generation.load(Ordering::Acquire);
        if let Some(answer) = recall(w.slot.load(Ordering::Relaxed), generation) {
            return answer;
        }
        let answer = w.kernel_nonblocking.load(Ordering::Relaxed); // F_GETFL
        w.slot
            .store(remember(answer, generation), Ordering::Relaxed);
        answer
    }

    /// The `fcntl(F_SETFL)` hook: the system call, then the bump.
    fn set_nonblocking(w: &World, on: bool) {
        w.kernel_nonblocking.store(on, Ordering::Relaxed); // F_SETFL
        w.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// A reader remembers the mode while another thread makes the fd non-blocking: whoever
    /// asks after that `fcntl` has returned gets "non-blocking", even if the racing reader
    /// stored "blocking" last.
    #[test]
    fn loom_nonblocking_is_never_stale_after_the_change() {
        loom::model(|| {
            let w = Arc::new(World::default());
            let (w1, w2) = (w.clone(), w.clone());
            let reader = thread::spawn(move || {
                user_nonblocking(&w1);
            });
            let changer = thread::spawn(move || {
                set_nonblocking(&w2, true);
                w2.changed.store(true, Ordering::Release);
            });
            if w.changed.load(Ordering::Acquire) {
                assert!(
                    user_nonblocking(&w),
                    "a stale \"blocking\" after F_SETFL returned"
                );
            }
            reader.join().unwrap();
            changer.join().unwrap();
            assert!(user_nonblocking(&w));
            assert!(user_nonblocking(&w)); // and from the slot
        });
    }
}

//! What the hooks remember per fd: whether it is a socket, a pipe/FIFO/character device or
//! something else (asked once, with `SO_TYPE` and `fstat`; and whether it refused `RWF_NOWAIT`) and its
//! registration with a reactor (made when a green thread first waits on it, dropped, which
//! deregisters it, by the `close`/`dup2`/`dup3` hooks before the kernel can reuse the number).
//!
//! A table indexed by fd, in chunks of 1024 slots allocated on first use and never freed (fds
//! from 0 to 2^20; larger ones are not remembered and make the real call). The user's
//! `O_NONBLOCK` stays in the kernel, read there when a call would block (so `fcntl` and
//! `ioctl(FIONBIO)` need no hooks). A socket's timeouts (`SO_RCVTIMEO`/`SO_SNDTIMEO`) are read
//! there too, but a socket found without one is remembered as such, per direction, until any
//! thread of the process sets a timeout on any socket through `setsockopt` (the hook bumps
//! [`TIMEOUT_GENERATION`], which every remembered answer carries): a blocking read on a plain
//! socket then costs no `getsockopt`. A timeout set behind libc's back (a raw system call, or
//! another process sharing the socket) is seen only once the fd is closed and reused.

use crate::reactor::{Registration, ScheduledIo};
use crate::runtime::{Reactor, Thread};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
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

pub(super) struct Slot {
    kind: AtomicU8,
    /// Per direction (read, write): `TIMEOUT_GENERATION + 1` when the socket was last found
    /// without a timeout in that direction; 0 if not known.
    no_timeout: [AtomicU64; 2],
    registration: Mutex<Option<Registration<Thread>>>,
}

/// Bumped by the `setsockopt` hook whenever a socket timeout is set: every remembered "no
/// timeout" of an older generation is asked again.
static TIMEOUT_GENERATION: AtomicU64 = AtomicU64::new(0);

/// A socket timeout was set (on some socket): forget every remembered "no timeout".
pub(super) fn timeouts_changed() {
    TIMEOUT_GENERATION.fetch_add(1, Ordering::AcqRel);
}

type Chunk = [Slot; CHUNK];

static TABLE: [AtomicPtr<Chunk>; CHUNKS] = [const { AtomicPtr::new(std::ptr::null_mut()) }; CHUNKS];

fn index(fd: RawFd) -> Option<(usize, usize)> {
    let fd = usize::try_from(fd).ok()?;
    (fd < CHUNK * CHUNKS).then_some((fd / CHUNK, fd % CHUNK))
}

/// The slot of `fd`, if its chunk exists.
fn existing(fd: RawFd) -> Option<&'static Slot> {
    let (chunk, i) = index(fd)?;
    let ptr = TABLE[chunk].load(Ordering::Acquire);
    // SAFETY: a published chunk is never freed.
    (!ptr.is_null()).then(|| unsafe { &(*ptr)[i] })
}

/// The slot of `fd`, allocating its chunk if needed.
pub(super) fn slot(fd: RawFd) -> Option<&'static Slot> {
    if let Some(slot) = existing(fd) {
        return Some(slot);
    }
    let (chunk, i) = index(fd)?;
    // Built on the heap: a chunk is too big for a small green-thread stack.
    let slots: Vec<Slot> = (0..CHUNK)
        .map(|_| Slot {
            kind: AtomicU8::new(UNKNOWN),
            no_timeout: [AtomicU64::new(0), AtomicU64::new(0)],
            registration: Mutex::new(None),
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

    /// What the fd is (`SOCKET`, `NOWAIT`, `POLL_FIRST` or `OTHER`), asking the kernel the
    /// first time (`errno` preserved).
    pub(super) fn kind(&self, fd: RawFd) -> u8 {
        let kind = self.kind.load(Ordering::Relaxed);
        if kind != UNKNOWN {
            return kind;
        }
        let kind = if super::socket_type(fd).is_some() {
            SOCKET
        } else {
            match file_type(fd) {
                Some(libc::S_IFIFO | libc::S_IFCHR) => NOWAIT,
                _ => OTHER,
            }
        };
        self.kind.store(kind, Ordering::Relaxed);
        kind
    }

    /// The kernel refused `RWF_NOWAIT` on the fd: poll it first from now on.
    pub(super) fn refuses_nowait(&self) {
        let _ =
            self.kind
                .compare_exchange(NOWAIT, POLL_FIRST, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// The socket's timeout for `direction` (0: read, 1: write), if it has one: remembered
    /// while none is set (see the module docs), else asked with `read`.
    pub(super) fn socket_timeout(
        &self,
        direction: usize,
        read: impl FnOnce() -> Option<Duration>,
    ) -> Option<Duration> {
        let generation = TIMEOUT_GENERATION.load(Ordering::Acquire) + 1;
        if self.no_timeout[direction].load(Ordering::Relaxed) == generation {
            return None;
        }
        let timeout = read();
        if timeout.is_none() {
            self.no_timeout[direction].store(generation, Ordering::Relaxed);
        }
        timeout
    }

    /// The fd turned out not to be what the slot said (it was closed and reused behind the
    /// hooks' back): forget everything.
    pub(super) fn reset(&self) {
        self.kind.store(UNKNOWN, Ordering::Relaxed);
        for remembered in &self.no_timeout {
            remembered.store(0, Ordering::Relaxed);
        }
        let old = self
            .registration
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        drop(old);
    }

    /// The readiness of `fd` in a reactor: its registration's, registering it with `reactor`
    /// first if it has none. `None` if the fd cannot be registered (epoll refuses regular
    /// files) or its reactor has shut down.
    pub(super) fn io(&self, fd: RawFd, reactor: &Arc<Reactor>) -> Option<Arc<ScheduledIo<Thread>>> {
        let mut registration = self.registration.lock().unwrap_or_else(|e| e.into_inner());
        if registration
            .as_ref()
            .is_some_and(|r| r.reactor.is_shut_down())
        {
            *registration = None;
        }
        if registration.is_none() {
            *registration = Some(reactor.register(fd).ok()?);
        }
        registration.as_ref().map(|r| r.io.clone())
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

/// The fd is about to be closed (or replaced by `dup2`/`dup3`): forget it, deregistering it
/// from its reactor while the number is still this file's.
pub(super) fn forget(fd: RawFd) {
    if let Some(slot) = existing(fd) {
        slot.reset();
    }
}

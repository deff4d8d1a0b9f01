//! Sockets, pipes, FIFOs and ttys: `read`, `write`, `readv`, `writev`, `recv`, `recvfrom`, `recvmsg`,
//! `send`, `sendto`, `sendmsg`, `accept`, `accept4`, `connect`, `poll`, `ppoll`, `select` (any
//! pollable fd: sockets, pipes, FIFOs, ttys, eventfds, epoll fds), `epoll_wait`/`epoll_pwait`/
//! `epoll_pwait2` on an epoll fd that is not zsync's own, the fortified `__read_chk`, `__recv_chk`,
//! `__recvfrom_chk`, `__poll_chk`, `__ppoll_chk`, and the bookkeeping `close`, `dup2`, `dup3`,
//! `socket`, `dup`, `pipe`, `pipe2`, `socketpair` (and `fcntl`/`ioctl` in fcntl.rs).
//!
//! On a green thread, a call on a socket the user left blocking is made with `MSG_DONTWAIT`
//! (`read`/`write` become `recv`/`send`, `readv`/`writev` `recvmsg`/`sendmsg`, which the kernel
//! treats alike on a socket): nothing about the fd changes, so OS threads sharing it see plain
//! blocking behaviour. On `EAGAIN` the hook looks at the fd's `O_NONBLOCK` (remembered per fd
//! while no mode changes through libc, see the `fd` module): if the user made it
//! non-blocking, `EAGAIN` is the answer, at once; otherwise the green thread parks on its
//! worker's reactor until the socket is ready, then retries. The socket's `SO_RCVTIMEO` /
//! `SO_SNDTIMEO`, read from the kernel at the first wait, is the deadline: `EAGAIN` after it, as
//! the kernel gives. A cancellation makes the call fail with `ECANCELED`, an expired `timeout()`
//! with `ETIMEDOUT`; the request is raised at the next zsync park point.
//!
//! `accept` waits until the listener is readable, then makes the real (blocking) call: if
//! another thread takes the connection in between, the worker blocks until the next one.
//! `connect` sets `O_NONBLOCK` for the call only (the connection proceeds without it), waits
//! until the socket is writable and connects again for the outcome; on a Unix socket whose
//! listener's queue is full (`EAGAIN`), it tries again after a growing pause.
//!
//! `read`, `write`, `readv`, `writev` on a pipe, a FIFO or a character device (a tty) have no
//! `MSG_DONTWAIT`: they are tried with `preadv2`/`pwritev2` and `RWF_NOWAIT` (pipes and FIFOs
//! take it), or, where the kernel refuses that flag (ttys), a zero-timeout `poll` then the real
//! call, which blocks the worker if another reader drained the fd in between (see
//! [`pipe_try`]). The green thread parks as for a socket; a character device epoll refuses
//! (`/dev/null`, `/dev/zero`, which never block) makes the real call.
//!
//! Where the kernel's blocking path goes on after a partial transfer, so does the hook (see
//! [`go_on`]): a blocking write on a stream socket or a pipe writes everything, a read on a
//! stream socket waits for `MSG_WAITALL`'s length or `SO_RCVLOWAT`'s count.
//!
//! Not hooked: regular files (not pollable; use `zsync::fs`).

use super::fd::{self, Slot};
use super::{errno, keep_errno, set_errno};
use crate::reactor::scheduled_io::Direction;
use crate::reactor::ScheduledIo;
use crate::runtime::context::Current;
use crate::runtime::park::{park_quiet, WaitReason};
use crate::runtime::task::cancel::Pending;
use crate::runtime::Thread;
use libc::{c_int, c_void, iovec, msghdr, nfds_t, pollfd, size_t, sockaddr, socklen_t, ssize_t};
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs `op` (a non-blocking try) on socket `fd` for a green thread until it does not fail
/// with `EAGAIN`, parking for `direction` readiness in between. `pipe`, for `read`/`write`/
/// `readv`/`writev`, is the buffer list to try on a pollable fd that is not a socket (a pipe, a
/// FIFO, a tty: see [`pipe_try`]); without it such an fd makes the real call. `blocking` makes
/// the real call where the green path cannot be taken. `drains` is the buffer size of a read
/// that, if it returns less on a TCP socket with no urgent data, drained it (see
/// `IoSource::read_stream`): the fd's readability is then cleared, and the next read waits
/// without trying first (on an `AF_UNIX` stream socket, whose reads also stop after a message
/// carrying fds, the next read tries first).
/// `errno` is the caller's again when it succeeds.
fn green_io(
    fd: RawFd,
    direction: Direction,
    op: impl FnMut() -> ssize_t,
    pipe: Option<(*const iovec, c_int)>,
    drains: Option<usize>,
    blocking: impl Fn() -> ssize_t,
) -> ssize_t {
    green_io_in(
        &mut Wait::default(),
        fd,
        direction,
        op,
        pipe,
        drains,
        blocking,
    )
}

/// The deadline of one hooked call, which may take several [`green_io`]s (a `MSG_WAITALL` read,
/// a blocking send on a stream socket: see [`go_on`]): the socket's timeout, read at the call's
/// first wait, holds for the whole call, as the kernel's does. It also keeps what the call's
/// first try learned of the fd, so that [`go_on`] asks none of it again: a short read is most
/// of a server's requests.
#[derive(Default)]
struct Wait {
    /// `None` until a wait has read the socket's timeout.
    deadline: Option<Option<Instant>>,
    /// `SO_RCVLOWAT`, if the wait that read the deadline of a read read it too (the kernel
    /// also reads it once, when the call starts).
    lowat: Option<usize>,
    /// The fd's slot and whether the fd is a socket (else a pipe, a FIFO or a tty), set by a try
    /// that succeeded on the green path; `None` after one that made the real call, or failed.
    tried: Option<(&'static Slot, bool)>,
    /// The number's file when the call's first part on the green path started (see
    /// `Slot::epoch`): a later part of the same call (`MSG_WAITALL`, a whole blocking write)
    /// that finds the number closed meanwhile stops there, as the first part does, and the
    /// call returns what it did. `None` until a part gets that far.
    epoch: Option<u64>,
}

impl Wait {
    /// The socket's `SO_RCVLOWAT`: as the call's first wait read it, else read now.
    fn rcvlowat(&mut self, fd: RawFd, slot: &Slot) -> usize {
        *self.lowat.get_or_insert_with(|| read_settings(fd, slot).1)
    }
}

/// [`green_io`] as one part of a call, under the call's deadline `wait`.
fn green_io_in(
    wait: &mut Wait,
    fd: RawFd,
    direction: Direction,
    mut op: impl FnMut() -> ssize_t,
    pipe: Option<(*const iovec, c_int)>,
    drains: Option<usize>,
    blocking: impl Fn() -> ssize_t,
) -> ssize_t {
    // By reference: moved into the closure, both would be copied once more per call.
    keep_errno(|| try_until_ready(wait, fd, direction, &mut op, pipe, drains, &blocking))
}

/// [`green_io_in`], but for `errno`: a function of its own, as a try that finds the fd reused
/// for a pipe or a tty starts the call again here.
fn try_until_ready(
    wait: &mut Wait,
    fd: RawFd,
    direction: Direction,
    mut op: impl FnMut() -> ssize_t,
    pipe: Option<(*const iovec, c_int)>,
    drains: Option<usize>,
    blocking: impl Fn() -> ssize_t,
) -> ssize_t {
    wait.tried = None;
    let real = || call(&blocking);
    let Current::Green { worker, task } = super::current() else {
        return real();
    };
    let Some(slot) = fd::slot(fd) else {
        return real();
    };
    let pipe_arg = pipe;
    let pipe = match slot.kind(fd) {
        fd::SOCKET => None,
        fd::NOWAIT | fd::POLL_FIRST if pipe.is_some() => pipe,
        fd::REGULAR if direction == Direction::Read => {
            return match pipe {
                // `read`, `readv`: a device read goes to the blocking pool (see `file.rs`).
                // SAFETY: libc's contract for the caller's iovecs, checked by the kernel.
                Some((iov, iovcnt)) => unsafe {
                    super::file::read(fd, slot, iov, iovcnt, -1, real)
                },
                None => real(), // `recv` on a file: the kernel's ENOTSOCK
            };
        }
        _ => return real(),
    };
    let Some(reactor) = worker.reactor() else {
        return real();
    };
    // The number's file at the start of the call: see `Slot::epoch`. Only the call's first part
    // may find the number reused behind the hooks' back and start again on the new file.
    let first_part = wait.epoch.is_none();
    let epoch = *wait.epoch.get_or_insert_with(|| slot.epoch());
    let mut deadline = wait.deadline.flatten();
    let mut first_wait = wait.deadline.is_none();
    // Registered with a reactor only once a call would block (zsync's own non-blocking
    // sockets, which register themselves, never get that far). A read on an fd registered by
    // an earlier wait gives its readiness snapshot before the first try: a try that fails then
    // parks at once. (A snapshot taken after the failure could show an edge older than the
    // try, which would cost one more try: the steady state of a connection whose last read
    // emptied it.) A write, whose first try nearly always succeeds, skips it (the
    // registration's lock and reference count): one that fails takes the registration as a
    // fresh one, below, and tries once more before it parks.
    let mut io = match direction {
        Direction::Read => slot.registered_io(),
        Direction::Write => None,
    };
    // Set when the fd was just registered: the registration reports its state through the
    // driver later, so the next try is made whatever the (fresh) bits say.
    let mut just_registered = false;
    // A `read`/`readv` (the calls given `pipe`, with their length as `drains`) of nothing
    // answers 0 at once on any fd, whatever is queued: its try is made first. (A `recv` of
    // nothing waits for data, as any read.)
    let reads_nothing = pipe_arg.is_some() && drains == Some(0);
    loop {
        let seen = io
            .as_ref()
            .map(|io: &Arc<ScheduledIo<Thread>>| io.snapshot());
        if slot.epoch() != epoch {
            // Closed by another thread while this call waited (which woke it), the number
            // perhaps reused: never try it again (after the snapshot, see `Slot::reset`).
            set_errno(libc::EBADF);
            return -1;
        }
        if seen.is_some_and(|s| s.is_deregistered()) {
            // The registration this call waits on was dropped otherwise (its reactor shut
            // down): no event will come. The real call, as libc's, made now.
            return real();
        }
        // A read on a socket known not to be readable waits first (as `IoSource::io_loop`
        // does): not in non-blocking mode, and a last try once the deadline has passed.
        let known_empty = direction == Direction::Read
            && pipe.is_none()
            && !reads_nothing
            && !std::mem::take(&mut just_registered)
            && seen.is_some_and(|s| !s.is_ready(Direction::Read))
            && !slot.user_nonblocking(fd);
        let tried = !known_empty || deadline.is_some_and(|d| Instant::now() >= d);
        if tried {
            let r = match pipe {
                None => call(&mut op),
                Some((iov, iovcnt)) => pipe_try(fd, slot, direction, iov, iovcnt, &real),
            };
            if r >= 0 {
                if let (Some(want), Some(ready), Some(seen)) = (drains, io.as_ref(), seen) {
                    // Only TCP, and not at the urgent mark: a read that stops there, or an
                    // `AF_UNIX` one that stops after a message carrying fds, leaves data that
                    // no new event will announce.
                    let drained = r > 0 && (r as usize) < want && pipe.is_none();
                    if drained && slot.is_tcp() && !seen.is_urgent() {
                        ready.clear_drained(seen);
                    }
                }
                wait.tried = Some((slot, pipe.is_none()));
                return r;
            }
            match errno() {
                libc::EAGAIN => {}
                libc::ENOTSOCK if !first_part => {
                    // Reused behind the hooks' back after the call's first part: the rest of
                    // the call must not go to the new file.
                    slot.reset();
                    set_errno(libc::EBADF);
                    return -1;
                }
                libc::ENOTSOCK if pipe_arg.is_some() => {
                    // Closed behind the hooks' back and reused for a pipe or a tty (`open`,
                    // which does not forget the number): start again on what the fd is now.
                    // (The real call would block the worker, and with it whoever was to make
                    // the fd ready.)
                    slot.reset();
                    wait.epoch = None;
                    return try_until_ready(wait, fd, direction, op, pipe_arg, drains, blocking);
                }
                libc::ENOTSOCK => {
                    // The same, for a socket call (`recv`...), which fails on it anyway.
                    slot.reset();
                    return real();
                }
                _ => return r,
            }
            if slot.user_nonblocking(fd) {
                set_errno(libc::EAGAIN);
                return -1;
            }
        }
        if first_wait && pipe.is_none() {
            first_wait = false;
            let timeout = match direction {
                Direction::Read => {
                    let (timeout, lowat) = read_settings(fd, slot);
                    wait.lowat = Some(lowat);
                    timeout
                }
                Direction::Write => slot.socket_timeout(1, || socket_timeout(fd, direction)),
            };
            deadline = timeout.and_then(|t| Instant::now().checked_add(t));
            wait.deadline = Some(deadline);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            if !tried {
                continue; // the last try, above
            }
            if direction == Direction::Read && drains == Some(0) && slot.is_tcp() {
                // A TCP `recv` of nothing whose timeout passed: the kernel's answers 0 bytes
                // (its loop ends on the length left); a Unix stream's says EAGAIN, as here.
                return 0;
            }
            set_errno(libc::EAGAIN);
            return -1;
        }
        let (Some(ready), Some(seen)) = (io.as_ref(), seen) else {
            match slot.io(fd, reactor) {
                // Registering reports the fd's current state: try again.
                Some(registered) => {
                    io = Some(registered);
                    just_registered = true;
                }
                None => return real(),
            }
            continue;
        };
        ready.clear(seen, direction);
        if let Some(key) = ready.register(seen, direction, Thread::green(task.clone())) {
            // A wait on something outside the runtime (for the deadlock report).
            let _external = worker.remote().watch.external_wait();
            let pending = park_quiet(
                deadline,
                WaitReason::Socket {
                    fd,
                    direction: direction.into(),
                },
            );
            ready.remove(key);
            if let Some(pending) = pending {
                return fail(pending);
            }
        }
    }
}

/// `f()`, kept out of [`try_until_ready`] (`f` is its `&mut op` or `&blocking`): inlined, their
/// captures (the call's arguments) are loaded before its loop and copied to the stack on every
/// call, though most calls try once and never make the real call.
#[inline(never)]
fn call(f: impl FnOnce() -> ssize_t) -> ssize_t {
    f()
}

/// One non-blocking try of a read or write on a pollable fd that is not a socket, which has
/// no `MSG_DONTWAIT`: `preadv2`/`pwritev2` with `RWF_NOWAIT` at the current position (pipes
/// and FIFOs take it on current kernels; nothing about the fd changes, so OS threads sharing it
/// still block). Where the kernel refuses the flag (ttys, older kernels), the slot remembers it
/// and the try is a zero-timeout `poll` and, if the fd is ready (or the user made it
/// non-blocking), the real call: another reader may drain it in between, and then the real
/// call blocks the worker until more comes, as for `accept`.
fn pipe_try(
    fd: RawFd,
    slot: &Slot,
    direction: Direction,
    iov: *const iovec,
    iovcnt: c_int,
    real: &impl Fn() -> ssize_t,
) -> ssize_t {
    if slot.kind(fd) == fd::NOWAIT {
        let nr = match direction {
            Direction::Read => libc::SYS_preadv2,
            Direction::Write => libc::SYS_pwritev2,
        };
        // SAFETY: the caller's buffers, checked by the kernel (EFAULT); position -1 (the
        // current one, as `readv`/`writev`), high half 0.
        let r = unsafe {
            libc::syscall(
                nr,
                fd,
                iov,
                iovcnt,
                -1 as libc::c_long,
                0 as libc::c_long,
                libc::RWF_NOWAIT,
            ) as ssize_t
        };
        if r >= 0 {
            return r;
        }
        match errno() {
            libc::EOPNOTSUPP | libc::ENOSYS | libc::EINVAL => slot.refuses_nowait(),
            _ => return r,
        }
    }
    let mut p = pollfd {
        fd,
        events: match direction {
            Direction::Read => libc::POLLIN,
            Direction::Write => libc::POLLOUT,
        },
        revents: 0,
    };
    let saved = errno();
    let ready = sys_ppoll(&mut p, 1, 0) == 1;
    set_errno(saved);
    if ready || slot.user_nonblocking(fd) {
        real()
    } else {
        set_errno(libc::EAGAIN);
        -1
    }
}

/// [`fd::forget`], `errno` preserved: dropping a registration makes a system call, whose
/// failure must not show through the successful call that forgot the fd.
fn forget(fd: RawFd) {
    let saved = errno();
    fd::forget(fd);
    set_errno(saved);
}

/// A cancelled or timed-out hooked call: -1 with `ECANCELED` or `ETIMEDOUT`.
fn fail(pending: Pending) -> ssize_t {
    set_errno(match pending {
        Pending::Cancelled => libc::ECANCELED,
        Pending::TimedOut => libc::ETIMEDOUT,
    });
    -1
}

/// The socket's `SO_RCVTIMEO`, if set, and its `SO_RCVLOWAT`. The slot remembers "neither" (no
/// timeout, a low-water mark of 1) as it remembers "no timeout" (the `setsockopt` hook makes
/// it ask again when either is set), so that a plain socket's reads ask nothing.
fn read_settings(fd: RawFd, slot: &Slot) -> (Option<Duration>, usize) {
    let mut lowat = 1;
    let timeout = slot.socket_timeout(0, || {
        lowat = rcvlowat(fd);
        match socket_timeout(fd, Direction::Read) {
            // Not plain, so not to be remembered: "a timeout" too long to be a deadline.
            None if lowat > 1 => Some(Duration::MAX),
            timeout => timeout,
        }
    });
    (timeout.filter(|&t| t != Duration::MAX), lowat)
}

/// The socket's `SO_RCVLOWAT` (1 if it cannot be read).
fn rcvlowat(fd: RawFd) -> usize {
    let mut lowat: c_int = 1;
    let mut len = std::mem::size_of::<c_int>() as socklen_t;
    let saved = errno();
    // SAFETY: a writable int and its length.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            (&mut lowat as *mut c_int).cast(),
            &mut len,
        )
    };
    set_errno(saved);
    if r == -1 {
        return 1;
    }
    usize::try_from(lowat).unwrap_or(1).max(1)
}

/// A blocking call made of parts: the first try under a fresh deadline, then [`go_on`] (its
/// arguments: `len` bytes in all, `writes`, `target` and `step`), as every read and write that
/// the kernel continues does.
fn whole_call(
    fd: RawFd,
    len: usize,
    writes: bool,
    target: impl FnOnce(&mut Wait, &Slot) -> usize,
    mut step: impl FnMut(usize, &mut Wait) -> ssize_t,
) -> ssize_t {
    let mut wait = Wait::default();
    let first = step(0, &mut wait);
    go_on(fd, len, first, &mut wait, writes, target, step)
}

/// The rest of a blocking call that a green thread's first try did in part, where the kernel's
/// blocking path goes on: a read on a stream socket until `MSG_WAITALL`'s full length or
/// `SO_RCVLOWAT`'s count, a write on a stream socket or a pipe until all of it is written
/// (each try is non-blocking, and takes what the buffers hold). It stops at the end of the
/// stream, an error, a cancellation or the socket's timeout and returns what was done, as the
/// kernel does (which reports an error only when nothing was done); and it does not go on in
/// the user's non-blocking mode, where the kernel does not either. `first` is the first try's
/// answer, for `len` bytes; `target(wait, slot)` the count to reach (asked after a partial
/// first try only); `step(done, wait)` one more try, for what is left after `done` bytes, under
/// the call's deadline `wait`. What the first try learned of the fd (`Wait::tried`) is not
/// asked again.
fn go_on(
    fd: RawFd,
    len: usize,
    first: ssize_t,
    wait: &mut Wait,
    writes: bool,
    target: impl FnOnce(&mut Wait, &Slot) -> usize,
    mut step: impl FnMut(usize, &mut Wait) -> ssize_t,
) -> ssize_t {
    if first <= 0 || first as usize >= len {
        return first;
    }
    let Some((slot, socket)) = wait.tried.or_else(|| pollable(fd)) else {
        return first;
    };
    let applies = if socket { slot.is_stream() } else { writes };
    if !applies {
        return first;
    }
    let target = target(wait, slot).min(len);
    let mut done = first as usize;
    if done >= target || slot.user_nonblocking(fd) {
        return first;
    }
    keep_errno(|| {
        while done < target {
            let r = step(done, wait);
            if r <= 0 {
                break; // what was done is the answer; the next call meets the end or the error
            }
            done += r as usize;
        }
        done as ssize_t
    })
}

/// For [`go_on`] after a first try that made the real call: the fd's slot and whether the fd
/// is a socket (else a pipe, a FIFO or a tty), if the caller is a green thread and the fd is
/// one of those.
fn pollable(fd: RawFd) -> Option<(&'static Slot, bool)> {
    if !super::on_green_thread() {
        return None;
    }
    let slot = fd::slot(fd)?;
    match slot.kind(fd) {
        fd::SOCKET => Some((slot, true)),
        fd::NOWAIT | fd::POLL_FIRST => Some((slot, false)),
        _ => None,
    }
}

/// The buffers of `iov` after their first `skip` bytes: what is left of a call.
pub(super) fn iov_after(iov: *const iovec, iovcnt: c_int, mut skip: usize) -> Vec<iovec> {
    // SAFETY: libc's contract; called after a try the kernel made with these buffers.
    let iovs = unsafe { std::slice::from_raw_parts(iov, iovcnt.max(0) as usize) };
    let mut rest = Vec::with_capacity(iovs.len());
    for v in iovs {
        if skip >= v.iov_len && skip > 0 {
            skip -= v.iov_len;
            continue;
        }
        rest.push(iovec {
            iov_base: v.iov_base.cast::<u8>().wrapping_add(skip).cast(),
            iov_len: v.iov_len - skip,
        });
        skip = 0;
    }
    rest
}

/// `p` moved on by `n` bytes (a buffer's rest; not dereferenced here).
fn skip<T>(p: *mut T, n: usize) -> *mut c_void {
    p.cast::<u8>().wrapping_add(n).cast()
}

/// The socket's SO_RCVTIMEO or SO_SNDTIMEO, if set.
fn socket_timeout(fd: RawFd, direction: Direction) -> Option<Duration> {
    let name = match direction {
        Direction::Read => libc::SO_RCVTIMEO,
        Direction::Write => libc::SO_SNDTIMEO,
    };
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    let mut len = std::mem::size_of::<libc::timeval>() as socklen_t;
    let saved = errno();
    // SAFETY: a writable timeval and its length.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            name,
            (&mut tv as *mut libc::timeval).cast(),
            &mut len,
        )
    };
    set_errno(saved);
    if r == -1 || (tv.tv_sec == 0 && tv.tv_usec == 0) {
        return None;
    }
    Some(Duration::new(tv.tv_sec as u64, tv.tv_usec as u32 * 1000))
}

// The real calls, straight to the kernel.

fn sys_recvfrom(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) -> ssize_t {
    // SAFETY: the caller's pointers, checked by the kernel (EFAULT).
    unsafe { libc::syscall(libc::SYS_recvfrom, fd, buf, len, flags, addr, addrlen) as ssize_t }
}

fn sys_sendto(
    fd: c_int,
    buf: *const c_void,
    len: size_t,
    flags: c_int,
    addr: *const sockaddr,
    addrlen: socklen_t,
) -> ssize_t {
    // SAFETY: as in `sys_recvfrom`.
    unsafe { libc::syscall(libc::SYS_sendto, fd, buf, len, flags, addr, addrlen) as ssize_t }
}

fn sys_recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    // SAFETY: as in `sys_recvfrom`.
    unsafe { libc::syscall(libc::SYS_recvmsg, fd, msg, flags) as ssize_t }
}

fn sys_sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t {
    // SAFETY: as in `sys_recvfrom`.
    unsafe { libc::syscall(libc::SYS_sendmsg, fd, msg, flags) as ssize_t }
}

fn sys_read(fd: c_int, buf: *mut c_void, len: size_t) -> ssize_t {
    // SAFETY: as in `sys_recvfrom`.
    unsafe { libc::syscall(libc::SYS_read, fd, buf, len) as ssize_t }
}

fn sys_write(fd: c_int, buf: *const c_void, len: size_t) -> ssize_t {
    // SAFETY: as in `sys_recvfrom`.
    unsafe { libc::syscall(libc::SYS_write, fd, buf, len) as ssize_t }
}

fn sys_accept4(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t, flags: c_int) -> c_int {
    // SAFETY: as in `sys_recvfrom`.
    unsafe { libc::syscall(libc::SYS_accept4, fd, addr, len, flags) as c_int }
}

/// `poll` with a timeout in milliseconds (negative: none), through the kernel's ppoll.
fn sys_ppoll(fds: *mut pollfd, nfds: nfds_t, timeout_ms: c_int) -> c_int {
    sys_ppoll_for(
        fds,
        nfds,
        u64::try_from(timeout_ms).ok().map(Duration::from_millis),
    )
}

/// The kernel's ppoll with a `Duration` timeout (`None`: forever).
fn sys_ppoll_for(fds: *mut pollfd, nfds: nfds_t, wait: Option<Duration>) -> c_int {
    let ts = wait.map(|d| libc::timespec {
        // Saturates: a wait that long is a wait forever.
        tv_sec: libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(d.subsec_nanos() as i32),
    });
    sys_ppoll_masked(fds, nfds, ts, std::ptr::null())
}

/// The kernel's ppoll. The kernel writes the remaining time back into the timespec; like
/// glibc's ppoll, this passes it a copy (`timeout`, by value), so a caller's is never touched.
fn sys_ppoll_masked(
    fds: *mut pollfd,
    nfds: nfds_t,
    mut timeout: Option<libc::timespec>,
    sigmask: *const libc::sigset_t,
) -> c_int {
    let tsp = timeout
        .as_mut()
        .map_or(std::ptr::null_mut(), |t| t as *mut libc::timespec);
    // SAFETY: as in `sys_recvfrom`; `sigmask` is null or the caller's valid set.
    unsafe {
        libc::syscall(
            libc::SYS_ppoll,
            fds,
            nfds,
            tsp,
            sigmask,
            std::mem::size_of::<libc::c_ulong>(),
        ) as c_int
    }
}

/// A green path applies only to blocking calls (no `MSG_DONTWAIT` from the user).
fn wants_block(flags: c_int) -> bool {
    flags & libc::MSG_DONTWAIT == 0
}

/// `read(2)`. On a stream socket a read that `SO_RCVLOWAT` makes wait for more goes on until
/// it has that many bytes (see [`go_on`]).
///
/// # Safety
///
/// libc's contract for every hook here: the pointers are valid for the lengths given.
#[no_mangle]
pub unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, count: size_t) -> ssize_t {
    let try_from = move |done: usize, wait: &mut Wait| {
        let (buf, count) = (skip(buf, done), count - done);
        let iov = iovec {
            iov_base: buf,
            iov_len: count,
        };
        green_io_in(
            wait,
            fd,
            Direction::Read,
            move || {
                if count == 0 {
                    // A read of nothing returns 0 at once, whatever is queued (the kernel's
                    // socket read checks the length first); a recv of nothing would wait for
                    // data, and on a datagram socket take a datagram and drop it.
                    return sys_read(fd, buf, 0);
                }
                sys_recvfrom(
                    fd,
                    buf,
                    count,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                )
            },
            Some((&iov, 1)),
            Some(count),
            move || sys_read(fd, buf, count),
        )
    };
    whole_call(
        fd,
        count,
        false,
        |wait, slot| wait.rcvlowat(fd, slot),
        try_from,
    )
}

/// After a part was written, a failure is the next call's to report, as the kernel's blocking
/// send reports it only when nothing was sent: no `SIGPIPE` for the rest.
fn rest_flags(flags: c_int, done: usize) -> c_int {
    if done > 0 {
        flags | libc::MSG_NOSIGNAL
    } else {
        flags
    }
}

/// `write(2)`. A blocking write on a stream socket or a pipe writes everything (see
/// [`go_on`]).
///
/// # Safety
///
/// As [`read`].
#[no_mangle]
pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, count: size_t) -> ssize_t {
    let try_from = move |done: usize, wait: &mut Wait| {
        let (buf, count) = (skip(buf.cast_mut(), done).cast_const(), count - done);
        let iov = iovec {
            iov_base: buf.cast_mut(),
            iov_len: count,
        };
        let flags = rest_flags(libc::MSG_DONTWAIT, done);
        green_io_in(
            wait,
            fd,
            Direction::Write,
            move || sys_sendto(fd, buf, count, flags, std::ptr::null(), 0),
            Some((&iov, 1)),
            None,
            move || sys_write(fd, buf, count),
        )
    };
    whole_call(fd, count, true, |_, _| count, try_from)
}

/// `IOV_MAX` on Linux: `readv`/`writev` fail with `EINVAL` beyond it (`recvmsg`/`sendmsg`,
/// which the hooks use on a socket, with `EMSGSIZE`).
const IOV_MAX: c_int = 1024;

/// The total length of an iovec array (0, "unknown", for a null one or a count the kernel
/// refuses: it is read only where the kernel would read it).
pub(super) fn iov_len_sum(iov: *const iovec, iovcnt: c_int) -> usize {
    if iov.is_null() || iovcnt <= 0 || iovcnt > IOV_MAX {
        return 0;
    }
    // SAFETY: libc's contract for `readv`: `iov` points to `iovcnt` iovecs.
    let iovs = unsafe { std::slice::from_raw_parts(iov, iovcnt as usize) };
    iovs.iter()
        .fold(0usize, |sum, v| sum.saturating_add(v.iov_len))
}

fn iov_msg(iov: *const iovec, iovcnt: c_int) -> msghdr {
    // SAFETY: all-zero is a valid msghdr (null pointers, zero lengths).
    let mut msg: msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.cast_mut();
    msg.msg_iovlen = iovcnt.max(0) as _;
    msg
}

/// `readv(2)`. As [`read`], `SO_RCVLOWAT` included.
///
/// # Safety
///
/// As [`read`].
#[no_mangle]
pub unsafe extern "C" fn readv(fd: c_int, iov: *const iovec, iovcnt: c_int) -> ssize_t {
    // SAFETY: as in `sys_recvfrom`.
    let real = || unsafe { libc::syscall(libc::SYS_readv, fd, iov, iovcnt) as ssize_t };
    // A count the kernel refuses is its `EINVAL` (not `recvmsg`'s `EMSGSIZE`).
    if !(0..=IOV_MAX).contains(&iovcnt) || !matches!(super::current(), Current::Green { .. }) {
        return real();
    }
    let len = iov_len_sum(iov, iovcnt);
    let try_from = |done: usize, wait: &mut Wait| {
        let rest;
        let (iov, iovcnt) = if done == 0 {
            (iov, iovcnt)
        } else {
            rest = iov_after(iov, iovcnt, done);
            (rest.as_ptr(), rest.len() as c_int)
        };
        // SAFETY: as in `sys_recvfrom`.
        let real = || unsafe { libc::syscall(libc::SYS_readv, fd, iov, iovcnt) as ssize_t };
        let mut msg = iov_msg(iov, iovcnt);
        green_io_in(
            wait,
            fd,
            Direction::Read,
            // Nothing to read (or buffers the kernel will refuse): the real call, which returns
            // at once without touching the queue (see `read`).
            || {
                if len == 0 {
                    real()
                } else {
                    sys_recvmsg(fd, &mut msg, libc::MSG_DONTWAIT)
                }
            },
            Some((iov, iovcnt)),
            Some(len - done),
            real,
        )
    };
    whole_call(
        fd,
        len,
        false,
        |wait, slot| wait.rcvlowat(fd, slot),
        try_from,
    )
}

/// `writev(2)`. As [`write`].
///
/// # Safety
///
/// As [`read`].
#[no_mangle]
pub unsafe extern "C" fn writev(fd: c_int, iov: *const iovec, iovcnt: c_int) -> ssize_t {
    // As in `readv`: the kernel's `EINVAL` for a count it refuses.
    if !(0..=IOV_MAX).contains(&iovcnt) || !matches!(super::current(), Current::Green { .. }) {
        // SAFETY: as in `sys_recvfrom`.
        return unsafe { libc::syscall(libc::SYS_writev, fd, iov, iovcnt) as ssize_t };
    }
    let try_from = |done: usize, wait: &mut Wait| {
        let rest;
        let (iov, iovcnt) = if done == 0 {
            (iov, iovcnt)
        } else {
            rest = iov_after(iov, iovcnt, done);
            (rest.as_ptr(), rest.len() as c_int)
        };
        let msg = iov_msg(iov, iovcnt);
        let flags = rest_flags(libc::MSG_DONTWAIT, done);
        green_io_in(
            wait,
            fd,
            Direction::Write,
            || sys_sendmsg(fd, &msg, flags),
            Some((iov, iovcnt)),
            None,
            // SAFETY: as in `sys_recvfrom`.
            || unsafe { libc::syscall(libc::SYS_writev, fd, iov, iovcnt) as ssize_t },
        )
    };
    let len = iov_len_sum(iov, iovcnt);
    whole_call(fd, len, true, |_, _| len, try_from)
}

/// The count a blocking read with `flags` waits for on a stream socket: all of `len` with
/// `MSG_WAITALL`, else `SO_RCVLOWAT`'s; none more with `MSG_PEEK`, whose tries do not add up.
fn read_target(fd: RawFd, wait: &mut Wait, slot: &Slot, flags: c_int, len: usize) -> usize {
    if flags & libc::MSG_PEEK != 0 {
        0
    } else if flags & libc::MSG_WAITALL != 0 {
        len
    } else {
        wait.rcvlowat(fd, slot)
    }
}

/// `recvfrom(2)`. On a stream socket, `MSG_WAITALL` and `SO_RCVLOWAT` are kept (see [`go_on`]).
///
/// # Safety
///
/// As [`read`].
#[no_mangle]
pub unsafe extern "C" fn recvfrom(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) -> ssize_t {
    if !wants_block(flags) {
        return sys_recvfrom(fd, buf, len, flags, addr, addrlen);
    }
    // A read of nothing counts as draining whatever its flags: the length (0) is what makes a
    // TCP `recv` whose timeout passed answer 0 (see `try_until_ready`), `MSG_PEEK` or not.
    let drains = len == 0 || flags & (libc::MSG_PEEK | libc::MSG_WAITALL | libc::MSG_TRUNC) == 0;
    let try_from = move |done: usize, wait: &mut Wait| {
        let (buf, len) = (skip(buf, done), len - done);
        green_io_in(
            wait,
            fd,
            Direction::Read,
            move || sys_recvfrom(fd, buf, len, flags | libc::MSG_DONTWAIT, addr, addrlen),
            None,
            drains.then_some(len),
            move || sys_recvfrom(fd, buf, len, flags, addr, addrlen),
        )
    };
    whole_call(
        fd,
        len,
        false,
        |wait, slot| read_target(fd, wait, slot, flags, len),
        try_from,
    )
}

/// `recv(2)`.
///
/// # Safety
///
/// As [`read`].
#[no_mangle]
pub unsafe extern "C" fn recv(fd: c_int, buf: *mut c_void, len: size_t, flags: c_int) -> ssize_t {
    // SAFETY: forwarded.
    unsafe {
        recvfrom(
            fd,
            buf,
            len,
            flags,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    }
}

/// `sendto(2)`. A blocking send on a stream socket sends everything (see [`go_on`]).
///
/// # Safety
///
/// As [`read`].
#[no_mangle]
pub unsafe extern "C" fn sendto(
    fd: c_int,
    buf: *const c_void,
    len: size_t,
    flags: c_int,
    addr: *const sockaddr,
    addrlen: socklen_t,
) -> ssize_t {
    if !wants_block(flags) {
        return sys_sendto(fd, buf, len, flags, addr, addrlen);
    }
    let try_from = move |done: usize, wait: &mut Wait| {
        let (buf, len) = (skip(buf.cast_mut(), done).cast_const(), len - done);
        let flags = rest_flags(flags, done);
        green_io_in(
            wait,
            fd,
            Direction::Write,
            move || sys_sendto(fd, buf, len, flags | libc::MSG_DONTWAIT, addr, addrlen),
            None,
            None,
            move || sys_sendto(fd, buf, len, flags, addr, addrlen),
        )
    };
    whole_call(fd, len, true, |_, _| len, try_from)
}

/// `send(2)`.
///
/// # Safety
///
/// As [`read`].
#[no_mangle]
pub unsafe extern "C" fn send(fd: c_int, buf: *const c_void, len: size_t, flags: c_int) -> ssize_t {
    // SAFETY: forwarded.
    unsafe { sendto(fd, buf, len, flags, std::ptr::null(), 0) }
}

/// The length of a message's buffers (0 for a message the kernel will refuse).
///
/// # Safety
///
/// `msg` is null or valid.
unsafe fn msg_len(msg: *const msghdr) -> usize {
    if msg.is_null() {
        return 0;
    }
    // SAFETY: the caller's promise.
    let (iov, iovlen) = unsafe { ((*msg).msg_iov, (*msg).msg_iovlen) };
    c_int::try_from(iovlen).map_or(0, |n| iov_len_sum(iov, n))
}

/// `recvmsg(2)`. As [`recvfrom`]; a part that brings ancillary data ends the call there (the
/// kernel stops at a message carrying fds).
///
/// # Safety
///
/// As [`read`].
#[no_mangle]
pub unsafe extern "C" fn recvmsg(fd: c_int, msg: *mut msghdr, flags: c_int) -> ssize_t {
    if !wants_block(flags) {
        return sys_recvmsg(fd, msg, flags);
    }
    // `drains` is `Some(0)` for a read of nothing only: see `recvfrom`.
    let first_try = |wait: &mut Wait, drains: Option<usize>| {
        green_io_in(
            wait,
            fd,
            Direction::Read,
            || sys_recvmsg(fd, msg, flags | libc::MSG_DONTWAIT),
            None,
            drains,
            || sys_recvmsg(fd, msg, flags),
        )
    };
    if msg.is_null() {
        return first_try(&mut Wait::default(), None);
    }
    // SAFETY: the caller's message, valid; the kernel overwrites these two lengths.
    let (namelen, controllen) = unsafe { ((*msg).msg_namelen, (*msg).msg_controllen) };
    // SAFETY: as above (the kernel does not change the buffers' lengths).
    let len = unsafe { msg_len(msg) };
    let mut wait = Wait::default();
    let first = first_try(&mut wait, (len == 0).then_some(0));
    let target = |wait: &mut Wait, slot: &Slot| {
        // SAFETY: as above; filled in by the kernel.
        let ancillary = unsafe { (*msg).msg_controllen } != 0;
        if ancillary {
            0
        } else {
            read_target(fd, wait, slot, flags, len)
        }
    };
    let ended = std::cell::Cell::new(false);
    let step = |done: usize, wait: &mut Wait| {
        if ended.get() {
            return 0; // ends `go_on` with what was read
        }
        // SAFETY: as above.
        let user = unsafe { &mut *msg };
        let rest = iov_after(user.msg_iov, user.msg_iovlen as c_int, done);
        let mut part = iov_msg(rest.as_ptr(), rest.len() as c_int);
        part.msg_name = user.msg_name;
        part.msg_namelen = namelen;
        part.msg_control = user.msg_control;
        part.msg_controllen = controllen;
        let partp: *mut msghdr = &mut part;
        let r = green_io_in(
            wait,
            fd,
            Direction::Read,
            || sys_recvmsg(fd, partp, flags | libc::MSG_DONTWAIT),
            None,
            None,
            || sys_recvmsg(fd, partp, flags),
        );
        if r > 0 {
            user.msg_namelen = part.msg_namelen;
            user.msg_controllen = part.msg_controllen;
            user.msg_flags = part.msg_flags;
            // Ancillary data ends the call here, as it ends the kernel's read.
            ended.set(part.msg_controllen != 0);
        }
        r
    };
    go_on(fd, len, first, &mut wait, false, target, step)
}

/// `sendmsg(2)`. As [`sendto`]; ancillary data goes with the first part only.
///
/// # Safety
///
/// As [`read`].
#[no_mangle]
pub unsafe extern "C" fn sendmsg(fd: c_int, msg: *const msghdr, flags: c_int) -> ssize_t {
    if !wants_block(flags) {
        return sys_sendmsg(fd, msg, flags);
    }
    let try_from = |done: usize, wait: &mut Wait| {
        let rest;
        let mut part;
        let msg = if done == 0 {
            msg
        } else {
            // SAFETY: the caller's message, which the first try's kernel call accepted.
            let user = unsafe { &*msg };
            rest = iov_after(user.msg_iov, user.msg_iovlen as c_int, done);
            part = iov_msg(rest.as_ptr(), rest.len() as c_int);
            part.msg_name = user.msg_name;
            part.msg_namelen = user.msg_namelen;
            &part as *const msghdr
        };
        let flags = rest_flags(flags, done);
        green_io_in(
            wait,
            fd,
            Direction::Write,
            || sys_sendmsg(fd, msg, flags | libc::MSG_DONTWAIT),
            None,
            None,
            || sys_sendmsg(fd, msg, flags),
        )
    };
    // SAFETY: the caller's message, null or valid.
    let len = unsafe { msg_len(msg) };
    whole_call(fd, len, true, |_, _| len, try_from)
}

/// `accept4(2)`.
///
/// # Safety
///
/// As [`read`].
#[no_mangle]
pub unsafe extern "C" fn accept4(
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
    flags: c_int,
) -> c_int {
    let accept = || sys_accept4(fd, addr, len, flags) as ssize_t;
    // Tries: the real call on a listener the user made non-blocking (its answer is the
    // caller's); else a poll for readiness first, and `EAGAIN` if nothing waits.
    let r = green_io(
        fd,
        Direction::Read,
        || {
            let mut p = pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            let nonblocking = fd::slot(fd).is_some_and(|slot| slot.user_nonblocking(fd));
            if nonblocking || sys_ppoll(&mut p, 1, 0) == 1 {
                accept()
            } else {
                set_errno(libc::EAGAIN);
                -1
            }
        },
        None,
        None,
        accept,
    ) as c_int;
    if r >= 0 {
        forget(r); // a fresh fd: nothing remembered for its number applies to it
    }
    r
}

/// `accept(2)`.
///
/// # Safety
///
/// As [`read`].
#[no_mangle]
pub unsafe extern "C" fn accept(fd: c_int, addr: *mut sockaddr, len: *mut socklen_t) -> c_int {
    // SAFETY: forwarded.
    unsafe { accept4(fd, addr, len, 0) }
}

/// `connect(2)`.
///
/// # Safety
///
/// As [`read`].
#[no_mangle]
pub unsafe extern "C" fn connect(fd: c_int, addr: *const sockaddr, len: socklen_t) -> c_int {
    keep_errno(|| {
        // SAFETY: as in `sys_recvfrom`.
        let real = || unsafe { libc::syscall(libc::SYS_connect, fd, addr, len) as c_int };
        let Current::Green { worker, task } = super::current() else {
            return real();
        };
        let (Some(slot), Some(reactor)) = (fd::slot(fd), worker.reactor()) else {
            return real();
        };
        if !slot.is_socket(fd) {
            return real();
        }
        // SAFETY: F_GETFL / F_SETFL with an int flag word.
        let flags = unsafe { libc::syscall(libc::SYS_fcntl, fd, libc::F_GETFL) };
        if flags == -1 || flags & libc::O_NONBLOCK as libc::c_long != 0 {
            return real(); // the user's own non-blocking connect (or EBADF)
        }
        let set = |flags: libc::c_long| {
            let saved = errno();
            // SAFETY: as above.
            unsafe { libc::syscall(libc::SYS_fcntl, fd, libc::F_SETFL, flags) };
            set_errno(saved);
        };
        let epoch = slot.epoch(); // see `Slot::epoch`
        let try_connect = || {
            set(flags | libc::O_NONBLOCK as libc::c_long);
            let r = real();
            let e = errno();
            set(flags);
            // Another thread waiting on the socket (through this fd or a `dup` of it) may have
            // read and remembered the borrowed `O_NONBLOCK` in between (see the `fd` module).
            fd::nonblocking_changed();
            set_errno(e);
            r
        };
        let deadline =
            || socket_timeout(fd, Direction::Write).and_then(|t| Instant::now().checked_add(t));
        let mut r = try_connect();
        if r == -1 && errno() == libc::EAGAIN {
            // SAFETY: the kernel has read the address (it answered for it), so it is valid.
            let unix = unsafe { (*addr).sa_family } == libc::AF_UNIX as libc::sa_family_t;
            if unix {
                // A listener whose queue is full, where a blocking connect waits until it has
                // room (or `SO_SNDTIMEO` passes: `EAGAIN`). No event tells when it has (the
                // socket's own readiness says nothing of it): park 1 ms, doubling up to 16, and
                // try again, as zsync's own `UnixStream::connect`.
                let deadline = deadline();
                let mut pause = Duration::from_millis(1);
                while r == -1 && errno() == libc::EAGAIN {
                    let now = Instant::now();
                    if deadline.is_some_and(|d| now >= d) {
                        return -1; // EAGAIN, as the kernel's after the timeout
                    }
                    let nap = deadline.map_or(pause, |d| pause.min(d - now));
                    if let Err(pending) = super::sleep::green_sleep(Some(nap)) {
                        return fail(pending) as c_int;
                    }
                    pause = (pause * 2).min(Duration::from_millis(16));
                    r = try_connect();
                }
            }
        }
        if r == 0 || errno() != libc::EINPROGRESS {
            return r;
        }
        let deadline = deadline();
        loop {
            let Some(io) = slot.io(fd, reactor) else {
                // Cannot wait in a reactor: wait in poll(2), as the kernel would.
                let mut p = pollfd {
                    fd,
                    events: libc::POLLOUT,
                    revents: 0,
                };
                sys_ppoll(&mut p, 1, -1);
                break;
            };
            let seen = io.snapshot();
            if slot.epoch() != epoch {
                set_errno(libc::EBADF); // closed by another thread: as in `green_io`
                return -1;
            }
            let mut p = pollfd {
                fd,
                events: libc::POLLOUT,
                revents: 0,
            };
            if sys_ppoll(&mut p, 1, 0) == 1 {
                break;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                set_errno(libc::EINPROGRESS); // what a blocking connect that timed out says
                return -1;
            }
            io.clear(seen, Direction::Write);
            if let Some(key) = io.register(seen, Direction::Write, Thread::green(task.clone())) {
                // A wait on something outside the runtime (for the deadlock report).
                let _external = worker.remote().watch.external_wait();
                let pending = park_quiet(
                    deadline,
                    WaitReason::Socket {
                        fd,
                        direction: crate::runtime::IoDirection::Write,
                    },
                );
                io.remove(key);
                if let Some(pending) = pending {
                    return fail(pending) as c_int;
                }
            }
        }
        // The connection is made or has failed: a second connect says which (0, or its error), and
        // marks the socket connected, so that a third one says `EISCONN`, as after libc's
        // blocking connect. (`SO_ERROR` alone would leave the second one to answer 0.)
        real()
    })
}

/// `poll(2)`.
///
/// # Safety
///
/// As [`read`]: `fds` points to `nfds` pollfds.
#[no_mangle]
pub unsafe extern "C" fn poll(fds: *mut pollfd, nfds: nfds_t, timeout: c_int) -> c_int {
    // A negative timeout waits forever.
    let wait = u64::try_from(timeout).ok().map(Duration::from_millis);
    // SAFETY: forwarded.
    unsafe { poll_for(fds, nfds, wait) }
}

/// [`poll`] with its timeout as a `Duration` (`None`: forever): what `poll`, `ppoll` and
/// `select` share. On a green thread the timeout is kept as finely as the worker's timers go
/// (a tick of its timer wheel, 65.5 us), not rounded to `poll`'s milliseconds.
///
/// # Safety
///
/// As [`poll`].
unsafe fn poll_for(fds: *mut pollfd, nfds: nfds_t, wait: Option<Duration>) -> c_int {
    keep_errno(|| {
        let Current::Green { worker, task } = super::current() else {
            return sys_ppoll_for(fds, nfds, wait);
        };
        let Some(reactor) = worker.reactor() else {
            return sys_ppoll_for(fds, nfds, wait);
        };
        if nfds == 0 && wait != Some(Duration::ZERO) {
            // A sleep (`poll(NULL, 0, ms)`): the timeout passes, or a request ends it.
            return match super::sleep::green_sleep(wait) {
                Ok(()) => 0,
                Err(pending) => fail(pending) as c_int,
            };
        }
        if wait == Some(Duration::ZERO) || nfds == 0 || fds.is_null() || nfds > 1024 {
            return sys_ppoll_for(fds, nfds, wait);
        }
        let deadline = wait.and_then(|d| Instant::now().checked_add(d));
        // SAFETY: the caller's contract.
        let list = unsafe { std::slice::from_raw_parts(fds, nfds as usize) };
        let mut ios = Vec::with_capacity(list.len());
        loop {
            ios.clear();
            for p in list {
                if p.fd < 0 {
                    continue;
                }
                let io = fd::slot(p.fd).and_then(|s: &Slot| s.io(p.fd, reactor));
                let Some(io) = io else {
                    // Not pollable through a reactor (a regular file is always ready anyway).
                    let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
                    return sys_ppoll_for(fds, nfds, left);
                };
                let seen = io.snapshot();
                ios.push((io, seen, p.events));
            }
            let r = sys_ppoll(fds, nfds, 0);
            if r != 0 {
                return r;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return 0;
            }
            let mut keys = Vec::with_capacity(ios.len() * 2);
            let mut attempted = 0;
            for (io, seen, events) in &ios {
                for (direction, mask) in [
                    (
                        Direction::Read,
                        libc::POLLIN | libc::POLLPRI | libc::POLLRDHUP,
                    ),
                    (Direction::Write, libc::POLLOUT),
                ] {
                    if events & mask != 0 || direction == Direction::Read {
                        attempted += 1;
                        io.clear(*seen, direction);
                        // None: ready since the snapshot, poll again.
                        if let Some(key) =
                            io.register(*seen, direction, Thread::green(task.clone()))
                        {
                            keys.push((io, key));
                        }
                    }
                }
            }
            let woke_early = keys.len() < attempted;
            let pending = if woke_early {
                None
            } else {
                let _external = worker.remote().watch.external_wait();
                park_quiet(deadline, WaitReason::Poll)
            };
            for (io, key) in keys {
                io.remove(key);
            }
            if let Some(pending) = pending {
                return fail(pending) as c_int;
            }
        }
    })
}

/// Reports a failed buffer check of a fortified call, as glibc's `__chk_fail`, and aborts.
fn chk_fail() -> ! {
    let msg = b"*** buffer overflow detected ***: terminated\n";
    sys_write(2, msg.as_ptr().cast(), msg.len());
    std::process::abort();
}

/// `__read_chk`: `read` as built with `_FORTIFY_SOURCE`.
///
/// # Safety
///
/// As [`read`].
#[no_mangle]
pub unsafe extern "C" fn __read_chk(
    fd: c_int,
    buf: *mut c_void,
    count: size_t,
    buflen: size_t,
) -> ssize_t {
    if count > buflen {
        chk_fail();
    }
    // SAFETY: forwarded.
    unsafe { read(fd, buf, count) }
}

/// `__recv_chk`.
///
/// # Safety
///
/// As [`read`].
#[no_mangle]
pub unsafe extern "C" fn __recv_chk(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    buflen: size_t,
    flags: c_int,
) -> ssize_t {
    if len > buflen {
        chk_fail();
    }
    // SAFETY: forwarded.
    unsafe { recv(fd, buf, len, flags) }
}

/// `__recvfrom_chk`.
///
/// # Safety
///
/// As [`read`].
#[no_mangle]
pub unsafe extern "C" fn __recvfrom_chk(
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    buflen: size_t,
    flags: c_int,
    addr: *mut sockaddr,
    addrlen: *mut socklen_t,
) -> ssize_t {
    if len > buflen {
        chk_fail();
    }
    // SAFETY: forwarded.
    unsafe { recvfrom(fd, buf, len, flags, addr, addrlen) }
}

/// `__poll_chk`.
///
/// # Safety
///
/// As [`poll`].
#[no_mangle]
pub unsafe extern "C" fn __poll_chk(
    fds: *mut pollfd,
    nfds: nfds_t,
    timeout: c_int,
    fdslen: size_t,
) -> c_int {
    if fdslen / std::mem::size_of::<pollfd>() < nfds as usize {
        chk_fail();
    }
    // SAFETY: forwarded.
    unsafe { poll(fds, nfds, timeout) }
}

/// `close(2)`: the reactor forgets the fd first.
#[no_mangle]
pub extern "C" fn close(fd: c_int) -> c_int {
    forget(fd);
    // SAFETY: closing a number is safe for memory; the caller owns the fd.
    unsafe { libc::syscall(libc::SYS_close, fd) as c_int }
}

/// `dup2(2)`: `newfd` is closed first, so the reactor forgets it.
#[no_mangle]
pub extern "C" fn dup2(oldfd: c_int, newfd: c_int) -> c_int {
    if oldfd == newfd {
        // SAFETY: F_GETFL takes no argument; it only checks that the fd is open.
        let r = unsafe { libc::syscall(libc::SYS_fcntl, oldfd, libc::F_GETFL) };
        return if r == -1 { -1 } else { newfd };
    }
    dup3(oldfd, newfd, 0)
}

/// `dup3(2)`.
#[no_mangle]
pub extern "C" fn dup3(oldfd: c_int, newfd: c_int, flags: c_int) -> c_int {
    if oldfd != newfd {
        forget(newfd);
    }
    // SAFETY: plain integers.
    unsafe { libc::syscall(libc::SYS_dup3, oldfd, newfd, flags) as c_int }
}

/// `setsockopt(2)`: setting `SO_RCVTIMEO` or `SO_SNDTIMEO` makes the hooks ask every socket's
/// timeouts again (see the `fd` module).
///
/// # Safety
///
/// libc's contract: `value` points to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn setsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *const c_void,
    len: socklen_t,
) -> c_int {
    // SAFETY: the caller's pointer, checked by the kernel (EFAULT).
    let r = unsafe { libc::syscall(libc::SYS_setsockopt, fd, level, name, value, len) as c_int };
    // The 64-bit-time_t names (asm-generic/socket.h; the same numbers on every target zsync
    // runs on), which a 32-bit-time_t program's libc may use.
    const SO_RCVTIMEO_NEW: c_int = 66;
    const SO_SNDTIMEO_NEW: c_int = 67;
    // `SO_RCVLOWAT` is remembered with the read timeout (see `read_settings`).
    let timeout = matches!(
        name,
        libc::SO_RCVTIMEO
            | libc::SO_SNDTIMEO
            | SO_RCVTIMEO_NEW
            | SO_SNDTIMEO_NEW
            | libc::SO_RCVLOWAT
    );
    if level == libc::SOL_SOCKET && timeout {
        // After the call: a wait that read the old value in between is then asked again.
        fd::timeouts_changed();
    }
    r
}

/// `socket(2)`: a fresh fd, nothing remembered for its number applies.
#[no_mangle]
pub extern "C" fn socket(domain: c_int, ty: c_int, protocol: c_int) -> c_int {
    // SAFETY: plain integers.
    let fd = unsafe { libc::syscall(libc::SYS_socket, domain, ty, protocol) as c_int };
    if fd >= 0 {
        forget(fd);
    }
    fd
}

/// `dup(2)`: as [`socket`], a fresh number.
#[no_mangle]
pub extern "C" fn dup(oldfd: c_int) -> c_int {
    // SAFETY: a plain integer.
    let fd = unsafe { libc::syscall(libc::SYS_dup, oldfd) as c_int };
    if fd >= 0 {
        forget(fd);
    }
    fd
}

/// `pipe2(2)`: as [`socket`], two fresh numbers.
///
/// # Safety
///
/// libc's contract: `fds` points to two writable ints.
#[no_mangle]
pub unsafe extern "C" fn pipe2(fds: *mut c_int, flags: c_int) -> c_int {
    // SAFETY: the caller's array, checked by the kernel (EFAULT).
    let r = unsafe { libc::syscall(libc::SYS_pipe2, fds, flags) as c_int };
    if r == 0 {
        // SAFETY: filled by the kernel.
        unsafe { forget_pair(fds) };
    }
    r
}

/// `pipe(2)`: [`pipe2`] without flags.
///
/// # Safety
///
/// As [`pipe2`].
#[no_mangle]
pub unsafe extern "C" fn pipe(fds: *mut c_int) -> c_int {
    // SAFETY: forwarded.
    unsafe { pipe2(fds, 0) }
}

/// `socketpair(2)`: as [`socket`], two fresh numbers.
///
/// # Safety
///
/// As [`pipe2`].
#[no_mangle]
pub unsafe extern "C" fn socketpair(
    domain: c_int,
    ty: c_int,
    protocol: c_int,
    fds: *mut c_int,
) -> c_int {
    // SAFETY: the caller's array, checked by the kernel (EFAULT).
    let r = unsafe { libc::syscall(libc::SYS_socketpair, domain, ty, protocol, fds) as c_int };
    if r == 0 {
        // SAFETY: filled by the kernel.
        unsafe { forget_pair(fds) };
    }
    r
}

/// Forgets the two fresh fds a successful `pipe2` or `socketpair` wrote to `fds`.
///
/// # Safety
///
/// `fds` points to two ints the kernel has just written.
unsafe fn forget_pair(fds: *const c_int) {
    // SAFETY: the caller's promise.
    let pair = unsafe { [fds.read(), fds.add(1).read()] };
    for fd in pair {
        forget(fd);
    }
}

fn sys_epoll_pwait(
    epfd: c_int,
    events: *mut libc::epoll_event,
    maxevents: c_int,
    timeout: c_int,
    sigmask: *const libc::sigset_t,
) -> c_int {
    // SAFETY: as in `sys_recvfrom`; the kernel's signal set size, as glibc passes it.
    unsafe {
        libc::syscall(
            libc::SYS_epoll_pwait,
            epfd,
            events,
            maxevents,
            timeout,
            sigmask,
            std::mem::size_of::<libc::c_ulong>(), // _NSIG / 8
        ) as c_int
    }
}

/// Whether a wait given `sigmask` may park the green thread: the mask unblocks no signal that
/// the calling OS thread blocks now (a null mask, the thread's own mask, a fuller one). Then no
/// signal can end the real call that could not end the mask-less one, which parks too (a
/// parked call is not ended by a signal at all: its handler runs on the worker, and the call
/// goes on, where libc's would fail with `EINTR`, `SA_RESTART` or not, for these waits; see
/// the hook section of docs/API.md). A mask that unblocks a signal asks for the real call's
/// guarantee, that the signal is taken during the wait and ends it with `EINTR` (the `pselect`
/// idiom against the race between checking a flag and waiting): a parked green thread cannot
/// give that, so such a call goes to the kernel and blocks the worker.
fn mask_parks(sigmask: *const libc::sigset_t) -> bool {
    if sigmask.is_null() {
        return true;
    }
    let mut blocked: u64 = 0;
    let saved = errno();
    // SAFETY: reads the calling thread's mask into a set of the kernel's size (8 bytes).
    let r = unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_BLOCK,
            std::ptr::null::<u64>(),
            &mut blocked as *mut u64,
            std::mem::size_of::<u64>(),
        )
    };
    set_errno(saved);
    // SAFETY: the caller's contract: a valid sigset_t, whose first 8 bytes are the kernel's set.
    let wanted = unsafe { sigmask.cast::<u64>().read_unaligned() };
    r == 0 && blocked & !wanted == 0
}

/// The green path of the `epoll_pwait` family on an epoll fd that is not zsync's own: parks
/// until the epoll fd itself is readable (it is pollable: an instance with a ready event is)
/// or `wait` (`None`: forever) passes, trying the real call with timeout 0 in between. `real`
/// is the real call with the caller's own timeout, made where the green path does not apply.
fn foreign_epoll_wait(
    epfd: c_int,
    events: *mut libc::epoll_event,
    maxevents: c_int,
    wait: Option<Duration>,
    sigmask: *const libc::sigset_t,
    real: impl Fn() -> c_int,
) -> c_int {
    keep_errno(|| {
        let Current::Green { worker, task } = super::current() else {
            return real();
        };
        if wait == Some(Duration::ZERO) || maxevents <= 0 || !mask_parks(sigmask) {
            return real();
        }
        let (Some(slot), Some(reactor)) = (fd::slot(epfd), worker.reactor()) else {
            return real();
        };
        let epoch = slot.epoch();
        let Some(io) = slot.io(epfd, reactor) else {
            return real();
        };
        let deadline = wait.and_then(|d| Instant::now().checked_add(d));
        loop {
            let seen = io.snapshot();
            if slot.epoch() != epoch {
                set_errno(libc::EBADF); // closed by another thread: as in `green_io`
                return -1;
            }
            if seen.is_deregistered() {
                return real(); // as in `green_io`
            }
            let r = sys_epoll_pwait(epfd, events, maxevents, 0, sigmask);
            if r != 0 {
                return r;
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return 0;
            }
            io.clear(seen, Direction::Read);
            if let Some(key) = io.register(seen, Direction::Read, Thread::green(task.clone())) {
                let _external = worker.remote().watch.external_wait();
                let pending = park_quiet(deadline, WaitReason::Poll);
                io.remove(key);
                if let Some(pending) = pending {
                    return fail(pending) as c_int;
                }
            }
        }
    })
}

/// `epoll_pwait(2)`: on an epoll fd that is not zsync's own (a runtime inside a crate), a green
/// thread parks until the epoll fd itself is readable or the timeout passes, then the real call
/// is made with timeout 0. A `sigmask` that unblocks a signal the thread blocks makes the real
/// call instead (see [`mask_parks`]). A cancellation makes it fail with `ECANCELED`, an expired
/// `timeout()` with `ETIMEDOUT` (a runtime inside a crate may answer with a panic of its own:
/// tokio does, in its own frames; an expired `timeout()` takes that panic as its unwind and
/// returns `Err(Elapsed)`).
///
/// # Safety
///
/// As [`read`]: `events` has room for `maxevents` events; `sigmask` null or valid.
#[no_mangle]
pub unsafe extern "C" fn epoll_pwait(
    epfd: c_int,
    events: *mut libc::epoll_event,
    maxevents: c_int,
    timeout: c_int,
    sigmask: *const libc::sigset_t,
) -> c_int {
    let wait = u64::try_from(timeout).ok().map(Duration::from_millis);
    foreign_epoll_wait(epfd, events, maxevents, wait, sigmask, || {
        sys_epoll_pwait(epfd, events, maxevents, timeout, sigmask)
    })
}

/// `epoll_pwait2(2)`: [`epoll_pwait`] with a `timespec` timeout (null: forever), kept to the
/// nanosecond as far as the worker's timers allow. An invalid timeout goes to the kernel
/// (`EINVAL`); a kernel without the call (before 5.11) gives `ENOSYS`, as libc's does.
///
/// # Safety
///
/// As [`epoll_pwait`]; `timeout` null or valid.
#[no_mangle]
pub unsafe extern "C" fn epoll_pwait2(
    epfd: c_int,
    events: *mut libc::epoll_event,
    maxevents: c_int,
    timeout: *const libc::timespec,
    sigmask: *const libc::sigset_t,
) -> c_int {
    let real = || {
        // SAFETY: as in `sys_recvfrom`; the kernel's signal set size, as glibc passes it.
        unsafe {
            libc::syscall(
                libc::SYS_epoll_pwait2,
                epfd,
                events,
                maxevents,
                timeout,
                sigmask,
                std::mem::size_of::<libc::c_ulong>(),
            ) as c_int
        }
    };
    let wait = if timeout.is_null() {
        None
    } else {
        // SAFETY: the caller's contract.
        match super::timespec_duration(unsafe { &*timeout }) {
            Some(d) => Some(d),
            None => return real(), // EINVAL from the kernel
        }
    };
    foreign_epoll_wait(epfd, events, maxevents, wait, sigmask, real)
}

/// `epoll_wait(2)`: [`epoll_pwait`] without a signal mask.
///
/// # Safety
///
/// As [`epoll_pwait`].
#[no_mangle]
pub unsafe extern "C" fn epoll_wait(
    epfd: c_int,
    events: *mut libc::epoll_event,
    maxevents: c_int,
    timeout: c_int,
) -> c_int {
    // SAFETY: forwarded.
    unsafe { epoll_pwait(epfd, events, maxevents, timeout, std::ptr::null()) }
}

/// `ppoll(2)`: on a green thread, [`poll`] (with the timeout as fine as the worker's timers
/// go), unless `sigmask` unblocks a signal the thread blocks: then, as elsewhere, the real call,
/// which applies the mask for the wait (see [`mask_parks`]).
///
/// # Safety
///
/// As [`poll`]; `timeout` null or valid.
#[no_mangle]
pub unsafe extern "C" fn ppoll(
    fds: *mut pollfd,
    nfds: nfds_t,
    timeout: *const libc::timespec,
    sigmask: *const libc::sigset_t,
) -> c_int {
    let real = || {
        // SAFETY: `timeout` is null or valid (the caller's promise).
        let timeout = (!timeout.is_null()).then(|| unsafe { *timeout });
        sys_ppoll_masked(fds, nfds, timeout, sigmask)
    };
    if !super::on_green_thread() || !mask_parks(sigmask) {
        return real();
    }
    let wait = if timeout.is_null() {
        None
    } else {
        // SAFETY: the caller's contract.
        match super::timespec_duration(unsafe { &*timeout }) {
            Some(d) => Some(d),
            None => return real(), // EINVAL from the kernel
        }
    };
    // SAFETY: forwarded.
    unsafe { poll_for(fds, nfds, wait) }
}

/// `__ppoll_chk`.
///
/// # Safety
///
/// As [`ppoll`].
#[no_mangle]
pub unsafe extern "C" fn __ppoll_chk(
    fds: *mut pollfd,
    nfds: nfds_t,
    timeout: *const libc::timespec,
    sigmask: *const libc::sigset_t,
    fdslen: size_t,
) -> c_int {
    if fdslen / std::mem::size_of::<pollfd>() < nfds as usize {
        chk_fail();
    }
    // SAFETY: forwarded.
    unsafe { ppoll(fds, nfds, timeout, sigmask) }
}

/// `select(2)`: on a green thread, [`poll`] on the fds of the three sets (read: `POLLIN`,
/// write: `POLLOUT`, except: `POLLPRI`), the sets rewritten and the timeout set to the time
/// left, as Linux does. Elsewhere the real call (through `pselect6`, as glibc does).
///
/// # Safety
///
/// libc's contract: each set null or valid for `nfds` bits (at most `FD_SETSIZE`), `timeout`
/// null or valid.
#[no_mangle]
pub unsafe extern "C" fn select(
    nfds: c_int,
    readfds: *mut libc::fd_set,
    writefds: *mut libc::fd_set,
    exceptfds: *mut libc::fd_set,
    timeout: *mut libc::timeval,
) -> c_int {
    let tv = (!timeout.is_null()).then(|| {
        // SAFETY: the caller's contract.
        unsafe { *timeout }
    });
    // As glibc's select: a negative timeout is `EINVAL`; whole seconds of microseconds are
    // carried over (so is Linux's own select; `pselect6`, which the real call is, refuses them).
    if tv.is_some_and(|t| t.tv_sec < 0 || t.tv_usec < 0) {
        set_errno(libc::EINVAL);
        return -1;
    }
    let tv = tv.map(|t| {
        let carry = t.tv_usec / 1_000_000;
        match t.tv_sec.checked_add(carry) {
            Some(tv_sec) => libc::timeval {
                tv_sec,
                tv_usec: t.tv_usec % 1_000_000,
            },
            None => libc::timeval {
                tv_sec: libc::time_t::MAX,
                tv_usec: 999_999,
            },
        }
    });
    let green = super::on_green_thread() && (0..=libc::FD_SETSIZE as c_int).contains(&nfds);
    if !green {
        let mut ts = tv.map(|t| libc::timespec {
            tv_sec: t.tv_sec,
            tv_nsec: t.tv_usec as libc::c_long * 1000,
        });
        let tsp = ts
            .as_mut()
            .map_or(std::ptr::null_mut(), |t| t as *mut libc::timespec);
        // SAFETY: the caller's sets; a timespec of ours; no signal mask.
        let r = unsafe {
            libc::syscall(
                libc::SYS_pselect6,
                nfds,
                readfds,
                writefds,
                exceptfds,
                tsp,
                std::ptr::null::<c_void>(),
            ) as c_int
        };
        if let (Some(ts), false) = (ts, timeout.is_null()) {
            // SAFETY: the caller's timeval: the time left, as select(2) on Linux.
            unsafe {
                (*timeout).tv_sec = ts.tv_sec;
                (*timeout).tv_usec = (ts.tv_nsec / 1000) as libc::suseconds_t;
            }
        }
        return r;
    }
    let is_set = |set: *mut libc::fd_set, fd: c_int| {
        // SAFETY: the caller's set, `fd` below `nfds`.
        !set.is_null() && unsafe { libc::FD_ISSET(fd, set) }
    };
    let mut list = Vec::new();
    for fd in 0..nfds {
        let mut events = 0;
        if is_set(readfds, fd) {
            events |= libc::POLLIN;
        }
        if is_set(writefds, fd) {
            events |= libc::POLLOUT;
        }
        if is_set(exceptfds, fd) {
            events |= libc::POLLPRI;
        }
        if events != 0 {
            list.push(pollfd {
                fd,
                events,
                revents: 0,
            });
        }
    }
    // Both fields made valid above: not negative, microseconds below a second.
    let wait = tv.map(|t| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000));
    let start = Instant::now();
    // SAFETY: our own list.
    let r = unsafe { poll_for(list.as_mut_ptr(), list.len() as nfds_t, wait) };
    if r < 0 {
        return r;
    }
    if list.iter().any(|p| p.revents & libc::POLLNVAL != 0) {
        set_errno(libc::EBADF);
        return -1;
    }
    for set in [readfds, writefds, exceptfds] {
        if !set.is_null() {
            // SAFETY: the caller's set.
            unsafe { libc::FD_ZERO(set) };
        }
    }
    let mut count = 0;
    for p in &list {
        for (set, mask) in [
            (readfds, libc::POLLIN | libc::POLLHUP | libc::POLLERR),
            (writefds, libc::POLLOUT | libc::POLLERR),
            (exceptfds, libc::POLLPRI),
        ] {
            if !set.is_null() && p.events & mask != 0 && p.revents & mask != 0 {
                // SAFETY: the caller's set, `p.fd` below `nfds`.
                unsafe { libc::FD_SET(p.fd, set) };
                count += 1;
            }
        }
    }
    if let Some(t) = tv {
        let total = Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
        let left = total.saturating_sub(start.elapsed());
        // SAFETY: the caller's timeval.
        unsafe {
            (*timeout).tv_sec = left.as_secs() as libc::time_t;
            (*timeout).tv_usec = left.subsec_micros() as libc::suseconds_t;
        }
    }
    count
}

//! `IoSource`: a socket under zsync's control, and the one loop every blocking network call runs
//! (try, `WouldBlock`, wait, retry). It sits above both the runtime (to park) and the reactor
//! (to wait for readiness), which know nothing of each other's users.
//!
//! The fd is always in O_NONBLOCK mode. A call tries the operation; on `WouldBlock` it waits for
//! readiness and tries again, until the operation completes, the socket's timeout passes (std's
//! `WouldBlock` error, as a blocking socket with SO_RCVTIMEO gives), or the green thread is
//! cancelled (it unwinds from the park, leaving the socket registered and usable). How it waits
//! depends on who calls:
//! - a green thread parks on the reactor the fd is registered with (on first use, its own
//!   worker's);
//! - a plain OS thread (or a green thread waiting on an fd whose reactor's runtime has shut
//!   down) blocks in poll(2), which is std's blocking behaviour.
//!
//! User-level non-blocking mode (`set_nonblocking(true)`) is a flag: calls then return
//! `WouldBlock` at once, like std's. It and the timeouts live in `Options`, where every call
//! reads them without a system call; the kernel ignores timeouts on the non-blocking fd, but a
//! timeout set through zsync is also written into it and read back, as std's `set_read_timeout`
//! and `read_timeout` do, so that `Options` keeps (and zsync waits for) the kernel's rounding of
//! it. A conversion carries them across: a socket taken over from a caller (`IoSource::adopt`)
//! brings its `O_NONBLOCK` and its kernel timeouts in, and one handed back
//! (`IoSource::into_socket`) writes them into the kernel, so it behaves after a conversion as
//! before.

use crate::reactor::scheduled_io::{Direction, Snapshot};
use crate::reactor::{self, ScheduledIo};
use crate::runtime::{self, context::Current, Reactor, Thread};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Options that std keeps in the kernel's socket (shared by `try_clone`d handles) but zsync
/// keeps here, since the kernel ignores timeouts on non-blocking fds.
#[derive(Debug, Default)]
struct Options {
    nonblocking: AtomicBool,
    /// Nanoseconds; 0 is "none" (std refuses a zero timeout), `BEYOND_NANOS` one too long for
    /// them, which the kernel keeps whole (see `IoSource::timeout`).
    read_timeout: AtomicU64,
    write_timeout: AtomicU64,
}

pub(crate) struct IoSource<S: AsRawFd> {
    /// Declared before `inner`: dropped (deregistered) before the fd closes.
    registration: OnceLock<reactor::Registration<Thread>>,
    registering: Mutex<()>,
    options: Arc<Options>,
    inner: S,
}

impl<S: AsRawFd> IoSource<S> {
    /// Takes `inner` over, switching its fd to non-blocking mode; blocking behaviour and no
    /// timeouts. For the sockets zsync makes itself (connect, accept, bind, pair) and its
    /// pidfds, which start that way: one system call, where [`Self::adopt`] would make four.
    pub(crate) fn new(inner: S) -> io::Result<Self> {
        set_nonblocking(inner.as_raw_fd(), true)?;
        Ok(Self::with_options(inner, Arc::default()))
    }

    /// Takes over a socket a caller hands in (`From<std type>`, `FromRawFd`,
    /// `From<OwnedFd>`), so that it behaves as std's did: its `O_NONBLOCK` becomes the
    /// user-level non-blocking flag and its SO_RCVTIMEO / SO_SNDTIMEO the timeouts, which zsync
    /// keeps here from then on (the kernel ignores them on the non-blocking fd zsync makes of
    /// it; [`Self::into_socket`] writes them back). An option the kernel does not answer for
    /// (not a socket) counts as unset. Never fails: see [`Self::adopt_pipe`] for an fd that
    /// refuses non-blocking mode.
    pub(crate) fn adopt(inner: S) -> Self {
        let fd = inner.as_raw_fd();
        // SAFETY: F_GETFL takes no argument and only reads the fd's status flags.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        let nonblocking = flags != -1 && flags & libc::O_NONBLOCK != 0;
        let options = Options {
            nonblocking: AtomicBool::new(nonblocking),
            read_timeout: AtomicU64::new(kernel_timeout(fd, libc::SO_RCVTIMEO)),
            write_timeout: AtomicU64::new(kernel_timeout(fd, libc::SO_SNDTIMEO)),
        };
        // Already non-blocking: nothing to switch.
        if !nonblocking {
            switch_if_it_can(fd);
        }
        Self::with_options(inner, Arc::new(options))
    }

    /// Takes over a pipe end a caller hands in (or one zsync made), switching its fd to
    /// non-blocking mode; blocking behaviour, as std's pipe types have no other. Never fails:
    /// an fd that refuses non-blocking mode is kept as it is, as std would keep it (see
    /// `switch_if_it_can`).
    pub(crate) fn adopt_pipe(inner: S) -> Self {
        switch_if_it_can(inner.as_raw_fd());
        Self::with_options(inner, Arc::default())
    }

    fn with_options(inner: S, options: Arc<Options>) -> Self {
        IoSource {
            registration: OnceLock::new(),
            registering: Mutex::new(()),
            options,
            inner,
        }
    }

    /// A second handle on a duplicate of the fd (made by `dup`, std's `try_clone`) that shares
    /// this one's options, as std's `try_clone` shares the socket's. Out of file descriptors,
    /// the error names the limit and how to raise it.
    pub(crate) fn try_clone(&self, dup: impl FnOnce(&S) -> io::Result<S>) -> io::Result<Self> {
        let inner = dup(&self.inner)
            .map_err(|e| reactor::with_context_if_exhausted(e, "cannot duplicate a socket"))?;
        Ok(Self::with_options(inner, self.options.clone()))
    }

    pub(crate) fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Gives a socket back as std's would be after the same calls: zsync's timeouts written
    /// into the kernel (SO_RCVTIMEO / SO_SNDTIMEO; a zero `timeval`, none, where zsync has
    /// none, which also clears a timeout the socket came in with) and the fd in blocking mode
    /// unless the user asked for non-blocking.
    pub(crate) fn into_socket(self) -> S {
        let fd = self.inner.as_raw_fd();
        // Cannot fail on a socket fd.
        let _ = set_kernel_timeout(fd, libc::SO_RCVTIMEO, self.timeout(Direction::Read));
        let _ = set_kernel_timeout(fd, libc::SO_SNDTIMEO, self.timeout(Direction::Write));
        self.into_inner()
    }

    /// Gives the fd back in blocking mode (unless the user asked for non-blocking); a socket
    /// goes through [`Self::into_socket`], which also hands its timeouts back.
    pub(crate) fn into_inner(self) -> S {
        let IoSource {
            registration,
            options,
            inner,
            ..
        } = self;
        drop(registration);
        // Cannot fail on a valid socket fd.
        let _ = set_nonblocking(
            inner.as_raw_fd(),
            options.nonblocking.load(Ordering::Relaxed),
        );
        inner
    }

    /// The user's non-blocking mode, as std's `set_nonblocking` sets it.
    pub(crate) fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        // A call on the descriptor, as std's (FIONBIO), so that it fails where std's does (EBADF
        // on a descriptor that takes no I/O, an `O_PATH` one). Always "on": zsync keeps the
        // descriptor non-blocking, and the user's mode here.
        set_nonblocking(self.inner.as_raw_fd(), true)?;
        self.options
            .nonblocking
            .store(nonblocking, Ordering::Relaxed);
        Ok(())
    }

    /// Sets the socket's timeout in `direction` as std's `set_read_timeout` /
    /// `set_write_timeout` do, into the kernel (SO_RCVTIMEO / SO_SNDTIMEO), and keeps what the
    /// kernel made of it, as std's getters report it: rounded up to whole clock ticks, and none
    /// for a timeout the kernel takes as infinite (`Duration::MAX`). A zero duration is std's
    /// InvalidInput error.
    pub(crate) fn set_timeout(
        &self,
        direction: Direction,
        dur: Option<Duration>,
    ) -> io::Result<()> {
        if dur.is_some_and(|d| d.is_zero()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        let fd = self.inner.as_raw_fd();
        let name = option_name(direction);
        set_kernel_timeout(fd, name, dur)?;
        let nanos = kernel_timeout(fd, name);
        self.timeout_cell(direction).store(nanos, Ordering::Relaxed);
        Ok(())
    }

    /// Inline: every call's first wait asks, and the usual answer (none) is a load and a test.
    #[inline]
    pub(crate) fn timeout(&self, direction: Direction) -> Option<Duration> {
        match self.timeout_cell(direction).load(Ordering::Relaxed) {
            0 => None,
            // Over 584 years: the kernel has it (it holds every timeout `Options` does).
            BEYOND_NANOS => kernel_duration(self.inner.as_raw_fd(), option_name(direction)),
            nanos => Some(Duration::from_nanos(nanos)),
        }
    }

    fn timeout_cell(&self, direction: Direction) -> &AtomicU64 {
        match direction {
            Direction::Read => &self.options.read_timeout,
            Direction::Write => &self.options.write_timeout,
        }
    }

    /// Runs `op` until it does not return `WouldBlock`, waiting for `direction` readiness in
    /// between, for at most the socket's timeout in that direction.
    pub(crate) fn do_io<R>(
        &self,
        direction: Direction,
        mut op: impl FnMut(&S) -> io::Result<R>,
    ) -> io::Result<R> {
        self.do_io_until(direction, None, &mut op)
    }

    /// Reads from a stream socket with `op` into `len` bytes of buffer, as [`Self::do_io`]; a
    /// read that returns less than `len` (the receive queue was drained) forgets the socket's
    /// readability, so that the next read parks without first trying a read that would only
    /// say `WouldBlock`: one system call per request instead of two on an echo or
    /// request-response connection (B7 on one worker: 1.97 `recvfrom` per request, tokio 1.00).
    ///
    /// A blocking read into no buffer (`len` 0) waits for data as the kernel's `recv` does;
    /// when the read timeout passes first, TCP's answers 0 bytes (its loop ends on the length
    /// left, not on the timeout) and a Unix stream's `EAGAIN`: `empty_times_out_as_zero` says
    /// which this socket's kernel does.
    pub(crate) fn read_stream(
        &self,
        len: usize,
        empty_times_out_as_zero: bool,
        op: impl FnMut(&S) -> io::Result<usize>,
    ) -> io::Result<usize> {
        let result = self.io_loop(
            Direction::Read,
            None,
            op,
            |&n| n > 0 && n < len,
            |_, n, _| Ok(n),
        );
        self.empty_read_answer(len, empty_times_out_as_zero, result)
    }

    /// What a blocking read (or peek) into `len` bytes answers, given `result` of the wait: a
    /// read into no buffer whose timeout passed is `Ok(0)` where `empty_times_out_as_zero`
    /// (see [`Self::read_stream`]).
    pub(crate) fn empty_read_answer(
        &self,
        len: usize,
        empty_times_out_as_zero: bool,
        result: io::Result<usize>,
    ) -> io::Result<usize> {
        match result {
            // Not in the user's non-blocking mode, where the kernel says EAGAIN too.
            Err(e)
                if len == 0
                    && empty_times_out_as_zero
                    && e.kind() == io::ErrorKind::WouldBlock
                    && !self.options.nonblocking.load(Ordering::Relaxed) =>
            {
                Ok(0)
            }
            result => result,
        }
    }

    /// Writes `buf` to a stream socket or a pipe with `op` (one try at writing from the slice
    /// it is given), as std's blocking write does: the kernel's goes on until all of it is
    /// queued, where a try on zsync's non-blocking fd stops at what the buffers hold. A first
    /// try that writes everything, the common case, costs one comparison more than
    /// [`Self::do_io`]; see [`Self::write_rest`] for the rest.
    #[inline]
    pub(crate) fn write_stream(
        &self,
        buf: &[u8],
        op: impl Fn(&S, &[u8]) -> io::Result<usize> + Copy,
    ) -> io::Result<usize> {
        self.do_io_then(
            Direction::Write,
            move |s| op(s, buf),
            move |source, n, deadline| {
                if n >= buf.len() {
                    return Ok(n);
                }
                source.write_rest(buf.len(), n, deadline, |s, done| op(s, &buf[done..]))
            },
        )
    }

    /// [`Self::write_stream`] for a vectored write of `bufs`: as std's `writev`, at most the
    /// first `UIO_MAXIOV` buffers count, and the rest of a short write is written from a copy
    /// of the list, advanced past what was written.
    pub(crate) fn write_vectored_stream(
        &self,
        bufs: &[io::IoSlice<'_>],
        op: impl Fn(&S, &[io::IoSlice<'_>]) -> io::Result<usize> + Copy,
    ) -> io::Result<usize> {
        let bufs = &bufs[..bufs.len().min(libc::UIO_MAXIOV as usize)];
        self.do_io_then(
            Direction::Write,
            move |s| op(s, bufs),
            move |source, n, deadline| {
                let len = bufs.iter().map(|b| b.len()).sum();
                if n >= len {
                    return Ok(n);
                }
                let mut rest = bufs.to_vec();
                let mut left = &mut rest[..];
                let mut skipped = 0;
                source.write_rest(len, n, deadline, |s, done| {
                    io::IoSlice::advance_slices(&mut left, done - skipped);
                    skipped = done;
                    op(s, left)
                })
            },
        )
    }

    /// The rest of a blocking write whose first try wrote `done` of `len` bytes, where the
    /// kernel's blocking write goes on: more tries with `op` (see [`Self::write_stream`]), each
    /// waiting for room, until everything is written, the socket's write timeout passes
    /// (counted from the call's first wait, `deadline`, if the first try waited: the kernel's
    /// timeout bounds the whole call; else from here), a try fails or writes nothing. What
    /// was written is then the answer, as the kernel's (which reports an error or its timeout
    /// only when it wrote nothing): the next call meets the error. In the user's non-blocking
    /// mode, and after a try that wrote nothing, the first try's count stands, as the kernel's
    /// would.
    #[cold]
    #[inline(never)]
    fn write_rest(
        &self,
        len: usize,
        mut done: usize,
        deadline: Option<Instant>,
        mut op: impl FnMut(&S, usize) -> io::Result<usize>,
    ) -> io::Result<usize> {
        if done == 0 || self.options.nonblocking.load(Ordering::Relaxed) {
            return Ok(done);
        }
        let deadline = deadline.or_else(|| {
            self.timeout(Direction::Write)
                .and_then(|t| Instant::now().checked_add(t))
        });
        while done < len {
            match self.do_io_until(Direction::Write, deadline, |s| op(s, done)) {
                Ok(n) if n > 0 => done += n,
                _ => break,
            }
        }
        Ok(done)
    }

    /// Receives from a datagram socket with `op`, as [`Self::do_io`], and once the socket's
    /// read half is shut down (`shutdown(Read)` through this handle, another one or the raw fd)
    /// with nothing queued, answers `shut()`, what std's blocking receive returns then: the
    /// kernel's blocking receive ends at once with no datagram (0 bytes, no sender address),
    /// but its non-blocking one, which zsync makes, says `WouldBlock` while readiness says
    /// readable (`EPOLLIN | EPOLLRDHUP`), so the loop would spin on an OS thread and park for
    /// ever on a green thread. In non-blocking mode the kernel's `WouldBlock` stands, as std's.
    pub(crate) fn recv_datagram<R>(
        &self,
        mut op: impl FnMut(&S) -> io::Result<R>,
        shut: impl Fn() -> io::Result<R>,
    ) -> io::Result<R> {
        let nonblocking = self.options.nonblocking.load(Ordering::Relaxed);
        self.do_io(Direction::Read, |s| match op(s) {
            Err(e)
                if e.kind() == io::ErrorKind::WouldBlock
                    && !nonblocking
                    && read_shut_down(s.as_raw_fd()) =>
            {
                // The kernel's blocking receive looks at the queue again after seeing the
                // shutdown: a datagram that came in meanwhile is still received.
                match op(s) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => shut(),
                    other => other,
                }
            }
            other => other,
        })
    }

    /// Like [`Self::do_io`], with an explicit deadline instead of the socket's timeout.
    pub(crate) fn do_io_until<R>(
        &self,
        direction: Direction,
        deadline: Option<Instant>,
        op: impl FnMut(&S) -> io::Result<R>,
    ) -> io::Result<R> {
        self.io_loop(direction, deadline, op, |_| false, |_, r, _| Ok(r))
    }

    /// Like [`Self::do_io`], handing the result to `finish` (see [`Self::write_stream`]). Not
    /// inlined: a write's arguments then fit in registers, and its call is a tail jump here.
    #[inline(never)]
    fn do_io_then<R>(
        &self,
        direction: Direction,
        op: impl FnMut(&S) -> io::Result<R>,
        finish: impl FnOnce(&Self, R, Option<Instant>) -> io::Result<R>,
    ) -> io::Result<R> {
        self.io_loop(direction, None, op, |_| false, finish)
    }

    /// The loop under every call: `drained` tells whether a result emptied the socket (see
    /// [`Self::read_stream`]); `finish` makes the call's answer of the result (inside the
    /// loop's function, where the caller's check costs no call frame of its own), given the
    /// call's deadline if a wait set one.
    fn io_loop<R>(
        &self,
        direction: Direction,
        deadline: Option<Instant>,
        mut op: impl FnMut(&S) -> io::Result<R>,
        drained: impl Fn(&R) -> bool,
        finish: impl FnOnce(&Self, R, Option<Instant>) -> io::Result<R>,
    ) -> io::Result<R> {
        let mut deadline = deadline;
        crate::runtime::monitor::coop::poll();
        let mut first_wait = true;
        let nonblocking = self.options.nonblocking.load(Ordering::Relaxed);
        // Whether the last wait was a poll(2), which leaves the readiness bits as they were:
        // the try after it must be made whatever they say.
        let mut polled = false;
        loop {
            let registration = self.registration.get();
            let seen = registration.map(|r| r.io.snapshot());
            // A read on a socket known not to be readable (it said `WouldBlock`, or a read
            // drained it, and no event came since) waits first: the try would only fail. Not
            // in non-blocking mode, whose caller wants the socket's own answer now, and never
            // past the deadline (a last try then, as a blocking socket's read would make).
            let known_empty = direction == Direction::Read
                && !nonblocking
                && !polled
                && seen.is_some_and(|s| !s.is_ready(Direction::Read));
            let tried = !known_empty || deadline.is_some_and(|d| Instant::now() >= d);
            if tried {
                match op(&self.inner) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Ok(result) => {
                        if let (Some(registration), Some(seen)) = (registration, seen) {
                            // Not while TCP's urgent mark is pending (the last event said so):
                            // a read stops short at it with more data queued behind.
                            if drained(&result) && !seen.is_urgent() {
                                registration.io.clear_drained(seen);
                            }
                        }
                        return finish(self, result, deadline);
                    }
                    Err(e) => return Err(e),
                }
                if nonblocking {
                    return Err(io::Error::from_raw_os_error(libc::EAGAIN));
                }
            }
            if first_wait {
                first_wait = false;
                if deadline.is_none() {
                    deadline = self
                        .timeout(direction)
                        .and_then(|t| Instant::now().checked_add(t));
                }
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                if !tried {
                    continue; // the last try, above
                }
                // What a blocking socket whose SO_RCVTIMEO / SO_SNDTIMEO expired returns.
                return Err(io::Error::from_raw_os_error(libc::EAGAIN));
            }
            polled = !self.wait(direction, seen, deadline)?;
        }
    }

    /// Waits until `direction` may be ready, `deadline` passes, or (spuriously) anything else.
    /// True if the wait went through the reactor (whose driver keeps the readiness bits), false
    /// if it was a poll(2).
    fn wait(
        &self,
        direction: Direction,
        seen: Option<Snapshot>,
        deadline: Option<Instant>,
    ) -> io::Result<bool> {
        // A green thread waits in a reactor; an OS thread (or a worker outside any green
        // thread) in poll(2).
        if let Current::Green { worker, task } = runtime::context::current() {
            let Some(reactor) = worker.reactor() else {
                return poll_fd(self.inner.as_raw_fd(), direction, deadline).map(|()| false);
            };
            let registration = match self.registration.get() {
                Some(registration) => registration,
                None => {
                    self.register(reactor)?;
                    // Registering reports the fd's current state: just try again.
                    return Ok(false);
                }
            };
            // Any live reactor will do: its worker's driver unparks this waiter wherever it runs.
            if !registration.reactor.is_shut_down() {
                let Some(seen) = seen else {
                    return Ok(false); // registered by another thread meanwhile: try again
                };
                let io = &registration.io;
                io.clear(seen, direction);
                if let Some(key) = io.register(seen, direction, Thread::green(task.clone())) {
                    struct Remove<'a>(&'a ScheduledIo<Thread>, u64);
                    impl Drop for Remove<'_> {
                        fn drop(&mut self) {
                            self.0.remove(self.1);
                        }
                    }
                    // Also when the park unwinds (cancellation, timeout()): the socket stays
                    // registered and usable, with no waiter left behind.
                    let _remove = Remove(io, key);
                    let _external = worker.remote().watch.external_wait();
                    runtime::park::park_until_for(
                        deadline,
                        runtime::WaitReason::Socket {
                            fd: self.inner.as_raw_fd(),
                            direction: direction.into(),
                        },
                    );
                }
                return Ok(true);
            }
        }
        poll_fd(self.inner.as_raw_fd(), direction, deadline).map(|()| false)
    }

    fn register(&self, reactor: &Arc<Reactor>) -> io::Result<()> {
        let _guard = self.registering.lock().unwrap_or_else(|e| e.into_inner());
        if self.registration.get().is_none() {
            let registration = reactor.register(self.inner.as_raw_fd()).map_err(|e| {
                reactor::with_context(e, "cannot register a socket with the reactor")
            })?;
            let _ = self.registration.set(registration);
        }
        Ok(())
    }
}

impl<S: AsRawFd> AsRawFd for IoSource<S> {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl<S: AsRawFd + std::fmt::Debug> std::fmt::Debug for IoSource<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

pub(crate) fn set_nonblocking(fd: RawFd, nonblocking: bool) -> io::Result<()> {
    let mut on = libc::c_int::from(nonblocking);
    // SAFETY: FIONBIO reads one c_int through the pointer, which is valid for the call.
    if unsafe { libc::ioctl(fd, libc::FIONBIO, &mut on) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Switches an fd a caller handed in to non-blocking mode, or leaves it as it is if it refuses,
/// as std's conversions accept any fd. On Linux, `FIONBIO` fails only on an `O_PATH` descriptor
/// (`EBADF`; safe code opens one with `custom_flags(libc::O_PATH)`), whose every read, write,
/// send, receive and accept fails at once with that same `EBADF`, as std's calls on it do: the
/// I/O loop tries first (nothing is registered yet) and returns that error, so it neither
/// blocks nor spins. (poll(2) would answer `POLLNVAL` at once, and epoll refuses to register
/// it.) Were some other fd refused (a security module's ioctl policy), it would stay in its
/// blocking mode and its calls block their thread, as std's would.
fn switch_if_it_can(fd: RawFd) {
    let _ = set_nonblocking(fd, true);
}

/// What [`Options`] keeps for a timeout too long for `u64` nanoseconds. Never a kernel timeout's
/// nanoseconds: those are whole microseconds.
const BEYOND_NANOS: u64 = u64::MAX;

/// The socket option of `direction`'s timeout.
fn option_name(direction: Direction) -> libc::c_int {
    match direction {
        Direction::Read => libc::SO_RCVTIMEO,
        Direction::Write => libc::SO_SNDTIMEO,
    }
}

/// The socket's SO_RCVTIMEO or SO_SNDTIMEO (`name`) as [`Options`] keeps it: nanoseconds, 0 for
/// none (also if the kernel does not answer: not a socket), [`BEYOND_NANOS`] past them.
fn kernel_timeout(fd: RawFd, name: libc::c_int) -> u64 {
    kernel_duration(fd, name).map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(BEYOND_NANOS))
}

/// The socket's SO_RCVTIMEO or SO_SNDTIMEO (`name`) as std's `read_timeout` reads it: `None`
/// for none (a zero `timeval`, also the kernel's answer for an infinite timeout), or if the
/// kernel does not answer (not a socket).
#[cold]
#[inline(never)]
fn kernel_duration(fd: RawFd, name: libc::c_int) -> Option<Duration> {
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 0,
    };
    let mut len = std::mem::size_of::<libc::timeval>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes to `tv`, a valid `timeval`, during the call.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            name,
            (&mut tv as *mut libc::timeval).cast(),
            &mut len,
        )
    };
    if r == -1 || (tv.tv_sec == 0 && tv.tv_usec == 0) {
        return None;
    }
    // The kernel never answers with negative fields.
    let secs = u64::try_from(tv.tv_sec).unwrap_or(0);
    let micros = u32::try_from(tv.tv_usec).unwrap_or(0).min(999_999);
    Some(Duration::new(secs, micros * 1000))
}

/// Sets the socket's SO_RCVTIMEO or SO_SNDTIMEO (`name`) to `dur` as std's `set_read_timeout`
/// does: seconds beyond `time_t` saturate, a timeout under a microsecond becomes one (a zero
/// `timeval` would mean none), and `None` is the zero `timeval`.
fn set_kernel_timeout(fd: RawFd, name: libc::c_int, dur: Option<Duration>) -> io::Result<()> {
    let tv = match dur {
        None => libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        },
        Some(d) => {
            let mut tv = libc::timeval {
                tv_sec: libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
                tv_usec: d.subsec_micros() as libc::suseconds_t,
            };
            if tv.tv_sec == 0 && tv.tv_usec == 0 {
                tv.tv_usec = 1;
            }
            tv
        }
    };
    // SAFETY: the kernel reads `size_of::<timeval>()` bytes from `tv` during the call.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            name,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if r == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Whether `fd`'s read half is shut down (poll(2)'s `POLLRDHUP`, which a datagram socket
/// reports exactly then); false if poll fails.
fn read_shut_down(fd: RawFd) -> bool {
    let mut pollfd = libc::pollfd {
        fd,
        events: libc::POLLRDHUP,
        revents: 0,
    };
    // SAFETY: one valid pollfd, for the duration of the call; a zero timeout never blocks.
    let r = unsafe { libc::poll(&mut pollfd, 1, 0) };
    r > 0 && pollfd.revents & libc::POLLRDHUP != 0
}

/// Blocks the OS thread in poll(2) until `fd` is ready for `direction`, `deadline` passes, or
/// (on an OS thread of a runtime, which can be cancelled) a slice of time ends.
fn poll_fd(fd: RawFd, direction: Direction, deadline: Option<Instant>) -> io::Result<()> {
    // A cancellation or timeout() of this thread is raised here, and noticed within a slice.
    runtime::park::park_point();
    let wake = match (deadline, runtime::park::wake_deadline()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let slice = runtime::context::current()
        .os_threads_runtime()
        .is_some()
        .then_some(Duration::from_millis(50));
    let timeout = match (
        wake.map(|at| at.saturating_duration_since(Instant::now())),
        slice,
    ) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let millis = timeout.map_or(-1, |t| {
        // Round up, so that the deadline has passed when poll returns.
        libc::c_int::try_from(t.as_nanos().div_ceil(1_000_000)).unwrap_or(libc::c_int::MAX)
    });
    let events = match direction {
        Direction::Read => libc::POLLIN,
        Direction::Write => libc::POLLOUT,
    };
    let mut pollfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd, for the duration of the call.
    if unsafe { libc::poll(&mut pollfd, 1, millis) } == -1 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    runtime::park::park_point();
    Ok(())
}

/// The rest of a stream's `write_all` after its first `write` returned `first` without
/// writing all of `buf` (a timeout or an error after part of it, an interruption): std's own
/// `write_all` loop from there, so that the outcome, and the error values, are std's. Out of
/// line: the usual `write_all` is one `write` that takes everything.
#[cold]
#[inline(never)]
pub(crate) fn write_all_rest(
    stream: &mut impl io::Write,
    buf: &[u8],
    first: io::Result<usize>,
) -> io::Result<()> {
    /// A writer whose first `write` answers `first` and whose later ones are `inner`'s, so that
    /// std's default `write_all` runs its loop from the first answer on.
    struct Replay<'a, W> {
        first: Option<io::Result<usize>>,
        inner: &'a mut W,
    }
    impl<W: io::Write> io::Write for Replay<'_, W> {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            match self.first.take() {
                Some(first) => first,
                None => self.inner.write(buf),
            }
        }
        fn flush(&mut self) -> io::Result<()> {
            self.inner.flush()
        }
    }
    io::Write::write_all(
        &mut Replay {
            first: Some(first),
            inner: stream,
        },
        buf,
    )
}

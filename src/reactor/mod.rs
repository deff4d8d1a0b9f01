//! The I/O reactor: a driver below the runtime. One mio `Poll` per worker, the table of
//! registered sources, and each source's readiness and waiters ([`scheduled_io`]); beside it,
//! each worker's io_uring ring for file operations ([`uring`]), whose completion eventfd is
//! one of the worker's sources.
//!
//! It knows nothing of green threads: a waiter is anything that implements [`Unpark`] (the
//! runtime instantiates `Reactor<Thread>`), and the runtime's workers call [`Reactor::turn`].
//! The loop that tries an operation, waits for readiness and retries lives above it, in
//! `net::io_source`.
//!
//! A source is registered with the reactor of the worker whose green thread first waits on it,
//! so its events are collected by the worker that runs its waiter: no cross-thread wake on the
//! common path. (Waiters on other workers still work: the driver unparks them wherever they
//! live.) A worker with nothing to run blocks in its reactor's `epoll_wait` until its next timer
//! deadline; a busy worker polls it without blocking every few dozen scheduling ticks. Whoever
//! wakes a worker that sits in its driver goes through the mio `Waker` (see
//! `Shared::unpark_worker`).
//!
//! Tokens carry a generation: an event still in flight for a closed source whose slot was reused
//! is recognised as stale and dropped, so it never wakes the wrong green thread.

mod alarm;
mod holder;
pub(crate) mod scheduled_io;
pub(crate) mod uring;

use mio::{Events, Interest, Poll, Registry, Token, Waker};
use scheduled_io::{READABLE, READ_CLOSED, URGENT, WRITABLE, WRITE_CLOSED};
use std::collections::HashMap;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

pub(crate) use holder::DriverHolder;
pub(crate) use scheduled_io::ScheduledIo;

/// What the reactor wakes: something a waiting thread can be woken through. The runtime
/// implements it for its thread handle; its join packet uses it too.
pub(crate) trait Unpark {
    fn wake(&self);
}

#[cfg(all(test, loom))]
impl Unpark for crate::loom::thread::Thread {
    fn wake(&self) {
        crate::loom::thread::Thread::unpark(self)
    }
}

const WAKE_TOKEN: Token = Token(usize::MAX);
const ALARM_TOKEN: Token = Token(usize::MAX - 1);

/// How long a turn of the reactor may wait for events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Not at all: collect what is ready now.
    No,
    /// Until this instant (`None`: until an event or a wake), ended there by the alarm.
    Until(Option<Instant>),
    /// Until about this instant: the next whole millisecond after it will do (a worker's
    /// wake-up to trim its stacks), so the alarm is not armed for it.
    Roughly(Instant),
}

struct Slot<W> {
    generation: u32,
    io: Option<Arc<ScheduledIo<W>>>,
    /// How many `Registration`s share it (see [`Reactor::register`]).
    handles: usize,
    /// Whether `Table::by_fd` maps its fd to it: false once another registration of the number
    /// found it stale, and then its last handle leaves the epoll entry alone.
    owns_fd: bool,
}

struct Table<W> {
    slots: Vec<Slot<W>>,
    free: Vec<u32>,
    /// The slot registered for each fd number: one registration per fd and reactor, shared by
    /// whoever registers it (zsync's own sockets, the `hook` feature's waits, the standard
    /// streams), since epoll takes a file only once per number.
    by_fd: HashMap<RawFd, u32>,
}

/// The driver: the `Poll` and its event buffer, used by one worker at a time.
pub(crate) struct Driver<W> {
    poll: Poll,
    events: Events,
    /// The waiters an event made ready, woken once the table's lock is released; kept from
    /// turn to turn, so that an event allocates nothing.
    woken: Vec<W>,
    /// Ends a wait at its deadline to the microsecond; `None` if no timerfd could be made
    /// (waits then end at the next whole millisecond).
    alarm: Option<alarm::Alarm>,
}

/// A reactor whose sources wake waiters of type `W`.
pub(crate) struct Reactor<W> {
    driver: Mutex<Driver<W>>,
    registry: Registry,
    waker: Waker,
    table: Mutex<Table<W>>,
    /// The worker blocked in the driver, if any.
    pub(crate) holder: DriverHolder,
    /// Set when its worker has stopped: nobody polls it any more.
    shut_down: AtomicBool,
    /// The fork generation it was made in: a forked child shares its epoll instance with the
    /// parent, whose workers still wait in it, so a child must not change the instance's
    /// interests (see `Registration`'s drop).
    fork_generation: u64,
}

/// A source's place in the reactor, possibly shared with other registrations of the same fd;
/// dropping the last one deregisters the fd.
pub(crate) struct Registration<W: Unpark> {
    pub(crate) reactor: Arc<Reactor<W>>,
    pub(crate) io: Arc<ScheduledIo<W>>,
    token: Token,
    fd: RawFd,
}

impl<W: Unpark> Reactor<W> {
    pub(crate) fn new() -> io::Result<Reactor<W>> {
        let poll =
            Poll::new().map_err(|e| with_context(e, "cannot create the I/O reactor (epoll)"))?;
        let registry = poll.registry().try_clone()?;
        let waker = Waker::new(poll.registry(), WAKE_TOKEN)?;
        let alarm = alarm::Alarm::new(poll.registry(), ALARM_TOKEN).ok();
        Ok(Reactor {
            driver: Mutex::new(Driver {
                poll,
                events: Events::with_capacity(1024),
                woken: Vec::new(),
                alarm,
            }),
            registry,
            waker,
            table: Mutex::new(Table {
                slots: Vec::new(),
                free: Vec::new(),
                by_fd: HashMap::new(),
            }),
            holder: DriverHolder::new(),
            shut_down: AtomicBool::new(false),
            fork_generation: crate::fork_generation::generation(),
        })
    }

    /// Called by its worker when it stops.
    pub(crate) fn shut_down(&self) {
        self.shut_down.store(true, Ordering::Release);
    }

    /// True once its worker has stopped.
    pub(crate) fn is_shut_down(&self) -> bool {
        self.shut_down.load(Ordering::Acquire)
    }

    /// Interrupts the worker blocked in the driver, if any.
    pub(crate) fn wake(&self) {
        let _ = self.waker.wake();
    }

    /// The driver, if no other worker has it.
    pub(crate) fn try_drive(&self) -> Option<MutexGuard<'_, Driver<W>>> {
        match self.driver.try_lock() {
            Ok(driver) => Some(driver),
            Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    /// Waits as `wait` says for events and wakes the waiters they concern. Returns true if any
    /// source became ready.
    pub(crate) fn turn(&self, driver: &mut Driver<W>, wait: Wait) -> bool {
        let Driver {
            poll,
            events,
            woken,
            alarm,
        } = driver;
        let timeout = match wait {
            Wait::No => Some(Duration::ZERO),
            Wait::Until(None) => None,
            Wait::Until(Some(deadline)) => {
                let timeout = deadline.saturating_duration_since(Instant::now());
                if let Some(alarm) = alarm {
                    alarm.set(deadline, timeout);
                }
                // Rounded up to whole milliseconds by mio: the alarm ends the wait sooner.
                Some(timeout)
            }
            Wait::Roughly(deadline) => Some(deadline.saturating_duration_since(Instant::now())),
        };
        if let Err(e) = poll.poll(events, timeout) {
            if e.kind() != io::ErrorKind::Interrupted {
                // epoll_wait fails only on programming errors (EBADF, EINVAL).
                panic!("zsync reactor: epoll_wait failed: {e}");
            }
            return false;
        }
        let mut any = false;
        {
            let table = self.table.lock().unwrap();
            for event in events.iter() {
                if event.token() == WAKE_TOKEN || event.token() == ALARM_TOKEN {
                    continue;
                }
                let (index, generation) = split(event.token());
                let Some(io) = table
                    .slots
                    .get(index as usize)
                    .filter(|slot| slot.generation == generation)
                    .and_then(|slot| slot.io.as_ref())
                else {
                    continue; // stale: the source was closed and its slot reused
                };
                let mut ready = 0;
                if event.is_readable() {
                    ready |= READABLE;
                }
                if event.is_writable() {
                    ready |= WRITABLE;
                }
                if event.is_read_closed() {
                    ready |= READ_CLOSED;
                }
                if event.is_write_closed() {
                    ready |= WRITE_CLOSED;
                }
                if event.is_priority() {
                    ready |= URGENT;
                }
                if event.is_error() {
                    // Both directions retry and meet the error.
                    ready |= READABLE | WRITABLE;
                }
                // Under the table's lock, which keeps the source alive without a reference
                // count of its own (an `Arc` clone and drop per event, two atomic operations
                // on a line other workers may hold); its waiters are woken after the lock.
                io.set_ready_into(ready, woken);
                any = true;
            }
        }
        for waiter in woken.drain(..) {
            waiter.wake();
        }
        any
    }

    /// Registers `fd` for read and write readiness, edge-triggered. An fd this reactor has
    /// registered already gets that registration, shared (its readiness and waiters): epoll
    /// refuses a second entry for one file at one number (`EEXIST`), and the two users (a
    /// zsync socket and a hooked call on its fd, in either order) wait alike. The shared entry
    /// is first re-armed with its own token, which also tells whether it is still the entry of
    /// the file the number names now: a number closed behind its registrations' back and reused
    /// is not (the kernel dropped the entry, or keeps it for the old file), and then it gets a
    /// fresh registration, the stale one left to its holders (they see no more events). Made
    /// under the table's lock, so that two first registrations of one fd meet.
    pub(crate) fn register(self: &Arc<Self>, fd: RawFd) -> io::Result<Registration<W>> {
        let mut table = self.table.lock().unwrap();
        let Table { slots, free, by_fd } = &mut *table;
        if let Some(&index) = by_fd.get(&fd) {
            let slot = &mut slots[index as usize];
            let token = join(index, slot.generation);
            let rearmed = self.registry.reregister(
                &mut mio::unix::SourceFd(&fd),
                token,
                Interest::READABLE | Interest::WRITABLE | Interest::PRIORITY,
            );
            match (rearmed, slot.io.as_ref()) {
                (Ok(()), Some(io)) => {
                    slot.handles += 1;
                    return Ok(Registration {
                        reactor: self.clone(),
                        io: io.clone(),
                        token,
                        fd,
                    });
                }
                _ => {
                    slot.owns_fd = false;
                    by_fd.remove(&fd);
                }
            }
        }
        let index = match free.pop() {
            Some(index) => index,
            None => {
                // The two highest indices stay unused: with the highest generation their
                // tokens would be the waker's and the alarm's.
                let index = u32::try_from(slots.len())
                    .ok()
                    .filter(|&index| index < u32::MAX - 1)
                    .ok_or_else(|| {
                        io::Error::new(io::ErrorKind::OutOfMemory, "too many I/O sources")
                    })?;
                slots.push(Slot {
                    generation: 0,
                    io: None,
                    handles: 0,
                    owns_fd: false,
                });
                index
            }
        };
        let slot = &mut slots[index as usize];
        let token = join(index, slot.generation);
        let result = self.registry.register(
            &mut mio::unix::SourceFd(&fd),
            token,
            // PRIORITY: the hooks' drained-read rule must know of TCP's urgent mark.
            Interest::READABLE | Interest::WRITABLE | Interest::PRIORITY,
        );
        if let Err(e) = result {
            free.push(index);
            return Err(e);
        }
        let io = Arc::new(ScheduledIo::new());
        slot.io = Some(io.clone());
        slot.handles = 1;
        slot.owns_fd = true;
        by_fd.insert(fd, index);
        Ok(Registration {
            reactor: self.clone(),
            io,
            token,
            fd,
        })
    }
}

impl<W: Unpark> Drop for Registration<W> {
    fn drop(&mut self) {
        let (index, _) = split(self.token);
        {
            let mut table = self.reactor.table.lock().unwrap();
            let Table { slots, free, by_fd } = &mut *table;
            let slot = &mut slots[index as usize];
            slot.handles -= 1;
            if slot.handles > 0 {
                return; // shared: the others still use it
            }
            if slot.owns_fd {
                by_fd.remove(&self.fd);
                // Before the fd is closed (the owner closes it after dropping this), so that no
                // event for it is reported again; one already in the driver's hands is stale by
                // its generation. Not in a forked child: the epoll instance is the parent's too
                // (the interest is keyed by the open file, which the parent still has), and
                // deleting it would leave the parent's waiter on this socket parked for good.
                // The child's close drops only its own reference.
                if self.reactor.fork_generation == crate::fork_generation::generation() {
                    let _ = self
                        .reactor
                        .registry
                        .deregister(&mut mio::unix::SourceFd(&self.fd));
                }
            }
            slot.io = None;
            slot.owns_fd = false;
            slot.generation = slot.generation.wrapping_add(1);
            free.push(index);
        }
        // No event will wake a waiter on it now: wake them all (the hooks' waiters on an fd
        // another thread closes; zsync's own sockets have none left by now).
        self.io.deregistered();
    }
}

fn join(index: u32, generation: u32) -> Token {
    Token(((generation as usize) << 32) | index as usize)
}

fn split(token: Token) -> (u32, u32) {
    (token.0 as u32, (token.0 >> 32) as u32)
}

/// An error with `what` in front of the OS's message, keeping its kind; running out of file
/// descriptors also names the limit and how to raise it.
///
/// An `io::Error` holds either an OS error code or a message of its own, never both, so the
/// result's `raw_os_error()` is `None`; the OS's error is kept whole as its source
/// (`err.get_ref()` is a [`Context`], whose `source()` is the original `io::Error`, code
/// included), where error reporters that walk the chain find it too.
pub(crate) fn with_context(e: io::Error, what: &str) -> io::Error {
    let hint = match e.raw_os_error() {
        Some(libc::EMFILE) => {
            " (the per-process limit on open files, RLIMIT_NOFILE, is reached: raise it with \
             `ulimit -n` or setrlimit)"
        }
        Some(libc::ENFILE) => {
            " (the system-wide limit on open files is reached: raise it with \
             `sysctl fs.file-max`)"
        }
        _ => "",
    };
    let message = format!("{what}: {e}{hint}");
    io::Error::new(e.kind(), Context { message, os: e })
}

/// The error inside [`with_context`]'s: the message, and the OS's error as the source. The
/// message repeats the OS's own, since most callers print only the outer error.
#[derive(Debug)]
pub(crate) struct Context {
    message: String,
    os: io::Error,
}

impl std::fmt::Display for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Context {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.os)
    }
}

/// `with_context` for fd exhaustion only; every other error is passed on as the OS gave it,
/// as std does.
pub(crate) fn with_context_if_exhausted(e: io::Error, what: &str) -> io::Error {
    match e.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE) => with_context(e, what),
        _ => e,
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn an_exhaustion_error_names_the_limit_and_keeps_the_os_error_as_its_source() {
        let err = with_context_if_exhausted(
            io::Error::from_raw_os_error(libc::EMFILE),
            "cannot open a thing",
        );
        assert_eq!(
            err.kind(),
            io::Error::from_raw_os_error(libc::EMFILE).kind()
        );
        let message = err.to_string();
        assert!(message.starts_with("cannot open a thing: "), "{message}");
        assert!(message.contains("RLIMIT_NOFILE"), "{message}");
        let source = std::error::Error::source(err.get_ref().unwrap()).unwrap();
        let os = source.downcast_ref::<io::Error>().unwrap();
        assert_eq!(os.raw_os_error(), Some(libc::EMFILE));
        // Any other error passes through as the OS gave it.
        let other = with_context_if_exhausted(io::Error::from_raw_os_error(libc::EACCES), "x");
        assert_eq!(other.raw_os_error(), Some(libc::EACCES));
    }

    #[test]
    fn tokens_carry_index_and_generation() {
        assert_eq!(split(join(7, 3)), (7, 3));
        assert_eq!(split(join(u32::MAX, u32::MAX)), (u32::MAX, u32::MAX));
    }

    struct NoWaiter;
    impl Unpark for NoWaiter {
        fn wake(&self) {}
    }

    #[test]
    fn a_reused_slot_gets_a_new_generation() {
        let reactor = Arc::new(Reactor::<NoWaiter>::new().unwrap());
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        use std::os::fd::AsRawFd;
        let first = reactor.register(a.as_raw_fd()).unwrap();
        let first_token = first.token;
        drop(first);
        let second = reactor.register(a.as_raw_fd()).unwrap();
        assert_eq!(split(second.token).0, split(first_token).0);
        assert_ne!(second.token, first_token);
    }

    #[test]
    fn a_second_registration_of_an_fd_shares_the_first_until_both_are_dropped() {
        use std::os::fd::AsRawFd;
        let reactor = Arc::new(Reactor::<NoWaiter>::new().unwrap());
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let first = reactor.register(a.as_raw_fd()).unwrap();
        let second = reactor.register(a.as_raw_fd()).unwrap(); // epoll alone: EEXIST
        assert!(Arc::ptr_eq(&first.io, &second.io));
        assert_eq!(first.token, second.token);
        drop(first);
        assert!(!second.io.snapshot().is_deregistered());
        // Still in the epoll set: a third one shares it too.
        let third = reactor.register(a.as_raw_fd()).unwrap();
        assert!(Arc::ptr_eq(&third.io, &second.io));
        let io = second.io.clone();
        drop((second, third));
        assert!(io.snapshot().is_deregistered());
        // Gone from the epoll set: registering again makes a new one.
        let fresh = reactor.register(a.as_raw_fd()).unwrap();
        assert!(!Arc::ptr_eq(&fresh.io, &io));
    }

    #[test]
    fn a_number_closed_behind_its_registration_s_back_and_reused_gets_a_fresh_one() {
        use std::os::fd::{AsRawFd, IntoRawFd};
        let reactor = Arc::new(Reactor::<NoWaiter>::new().unwrap());
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        let (c, _d) = std::os::unix::net::UnixStream::pair().unwrap();
        let number = a.as_raw_fd();
        let stale = reactor.register(number).unwrap();
        // `a`'s file moves to a number of 100 or more (its epoll entry, keyed by file and
        // number, stays for the old pair), and `c`'s file takes the number.
        let kept = a.into_raw_fd();
        // SAFETY (test): `kept` is ours.
        let moved = unsafe { libc::fcntl(kept, libc::F_DUPFD_CLOEXEC, 100) };
        assert!(moved >= 0);
        // SAFETY (test): our fds.
        assert_eq!(
            unsafe { libc::dup3(c.as_raw_fd(), number, libc::O_CLOEXEC) },
            number
        );
        let fresh = reactor.register(number).unwrap();
        assert!(!Arc::ptr_eq(&fresh.io, &stale.io));
        // The stale one's last drop leaves the fresh one's epoll entry alone.
        drop(stale);
        let again = reactor.register(number).unwrap();
        assert!(Arc::ptr_eq(&again.io, &fresh.io));
        // SAFETY (test): ours (`number` now holds `c`'s file, closed by the drops below).
        unsafe { libc::close(moved) };
        drop((fresh, again));
        // SAFETY (test): `number` is a dup of `c`'s file, ours.
        unsafe { libc::close(number) };
    }
}

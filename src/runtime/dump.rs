//! `Runtime::dump`: a list of a runtime's live green threads, for diagnostics.
//!
//! The green threads of a worker are known only to that worker (its `OwnedTasks`, touched on
//! its own OS thread), so the dump is collected cooperatively: the caller leaves a [`Job`] in
//! every worker's `Remote::dump`, raises its `dump_pending` flag and wakes it; each worker
//! answers the next time it is in its scheduler (every `FAIRNESS_TICK` picks, and before it
//! sleeps), listing its green threads, and the last one to answer unparks the caller. The
//! caller waits in short slices, waking the late workers again at each (a wake can race with a
//! worker going to sleep), and gives up after [`PATIENCE`]: a worker that has not answered by
//! then is stuck in a green thread, which the monitor names (see `monitor::Watch`).
//!
//! What a parked green thread waits on is a [`WaitReason`] its parking call stores in its
//! task-local state as it suspends (`park::suspend_green`); since when is the runtime's coarse
//! clock (`Shared::clock`, milliseconds since the runtime started, advanced by the monitor at
//! each look and by each worker as it wakes from sleep), which the worker copies into the task
//! when it commits the park: one relaxed load and one store, no clock read on the park path.
//! The dump reads the clock afresh (`Shared::clock_now`), so a parked time is exact to within
//! the monitor's look interval (at most `monitor::MAX_LOOK_INTERVAL`, 10 ms).
//!
//! Backtraces of parked green threads are taken on their own stacks without resuming them
//! (`Context::backtrace`): the worker, answering, calls the capture through `zsync_0_1_walk`
//! (asm/x86_64.s) on the free part of the green thread's stack, below its saved stack pointer,
//! with CFI that makes the capture's caller the suspended green thread itself, so the unwinder
//! goes on into its frames. Nothing of the green thread runs or is written. x86_64 and the
//! default backend only; skipped when less than 24 KiB of the stack is free.

use super::task::handle::Thread;
use super::task::id::ThreadId;
use super::task::TaskRef;
use super::Shared;
use std::backtrace::Backtrace;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a dump waits for the workers' answers.
const PATIENCE: Duration = Duration::from_millis(200);
/// How often it wakes the workers that have not answered.
const SLICE: Duration = Duration::from_millis(5);

/// What a green thread is doing, in a [`Dump`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ThreadState {
    /// Running on its worker right now (the caller of `dump`, or a green thread holding a
    /// worker that did not answer).
    Running,
    /// Ready to run, waiting for its worker (or not started yet).
    Runnable,
    /// Parked: waiting for an unpark, a timer, I/O, a lock, a message...
    Parked,
}

/// A direction of socket readiness, in [`WaitReason::Socket`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoDirection {
    /// Waiting until the socket is readable (recv, accept, read).
    Read,
    /// Waiting until the socket is writable (send, connect, write).
    Write,
}

impl From<crate::reactor::scheduled_io::Direction> for IoDirection {
    fn from(d: crate::reactor::scheduled_io::Direction) -> Self {
        use crate::reactor::scheduled_io::Direction;
        match d {
            Direction::Read => IoDirection::Read,
            Direction::Write => IoDirection::Write,
        }
    }
}

/// What a parked green thread waits on, in a [`Dump`]. Recorded by the parking call itself (a
/// plain store into the green thread's own state as it suspends: nothing is allocated).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitReason {
    /// `thread::park` / `park_timeout`, or a wait with no better name.
    Park,
    /// A sleep (`thread::sleep`, `time::sleep`, `Interval::tick`, the `hook` feature's
    /// `nanosleep`...), until `until` (`None`: a deadline too far away to be an `Instant`).
    Sleep {
        /// When it ends.
        until: Option<Instant>,
    },
    /// `sync::Mutex::lock`.
    Mutex,
    /// `sync::RwLock::read` / `write`.
    RwLock,
    /// `sync::Condvar::wait*`.
    Condvar,
    /// `sync::Semaphore::acquire*`.
    Semaphore,
    /// `sync::Barrier::wait`.
    Barrier,
    /// `sync::WaitGroup::wait`.
    WaitGroup,
    /// A channel receive (`recv`, `recv_timeout`, iteration).
    Recv,
    /// A channel send (a full bounded channel, or a rendezvous).
    Send,
    /// `select!` over several channels.
    Select,
    /// A socket (zsync's own, or a hooked libc call on one) until it is ready.
    Socket {
        /// Its file descriptor.
        fd: i32,
        /// Readable or writable.
        direction: IoDirection,
    },
    /// `poll` / `select` / `epoll_wait` through the `hook` feature.
    Poll,
    /// `JoinHandle::join` of the green thread (or OS thread) `thread`.
    Join {
        /// The thread joined.
        thread: ThreadId,
    },
    /// `thread::scope` waiting for its threads.
    Scope,
    /// An `unblock` job on the blocking pool (file operations without io_uring included).
    Unblock,
    /// A file operation in io_uring.
    File,
    /// `future::block_on` of a future that is not ready.
    Future,
}

impl fmt::Display for WaitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            WaitReason::Park => f.write_str("thread::park"),
            WaitReason::Sleep { until: None } => f.write_str("sleep (forever)"),
            WaitReason::Sleep { until: Some(at) } => {
                let left = at.saturating_duration_since(Instant::now());
                write!(f, "sleep (ends in {left:.3?})")
            }
            WaitReason::Mutex => f.write_str("Mutex::lock"),
            WaitReason::RwLock => f.write_str("RwLock"),
            WaitReason::Condvar => f.write_str("Condvar::wait"),
            WaitReason::Semaphore => f.write_str("Semaphore::acquire"),
            WaitReason::Barrier => f.write_str("Barrier::wait"),
            WaitReason::WaitGroup => f.write_str("WaitGroup::wait"),
            WaitReason::Recv => f.write_str("channel recv"),
            WaitReason::Send => f.write_str("channel send"),
            WaitReason::Select => f.write_str("select!"),
            WaitReason::Socket { fd, direction } => {
                let d = match direction {
                    IoDirection::Read => "readable",
                    IoDirection::Write => "writable",
                };
                write!(f, "socket fd {fd} {d}")
            }
            WaitReason::Poll => f.write_str("poll (hook)"),
            WaitReason::Join { thread } => write!(f, "join of thread {}", thread.as_u64()),
            WaitReason::Scope => f.write_str("thread::scope"),
            WaitReason::Unblock => f.write_str("unblock job"),
            WaitReason::File => f.write_str("file operation (io_uring)"),
            WaitReason::Future => f.write_str("block_on future"),
        }
    }
}

/// One green thread in a [`Dump`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DumpedThread {
    /// Its id.
    pub id: ThreadId,
    /// Its name, if it was given one.
    pub name: Option<String>,
    /// Running, runnable or parked.
    pub state: ThreadState,
    /// The worker that owns it.
    pub worker: usize,
    /// For a parked green thread: what it waits on.
    pub waiting_on: Option<WaitReason>,
    /// For a parked green thread: for how long, to within about 10 ms (the park time comes
    /// from a coarse clock that the monitor advances at each look).
    pub parked_for: Option<Duration>,
    /// For a parked green thread: a backtrace taken on its own stack, without resuming it
    /// (x86_64 with the default backend; `None` elsewhere, or with less than 24 KiB of its
    /// stack free). Its first frames are the capture's and zsync's own park path.
    pub backtrace: Option<Arc<Backtrace>>,
}

/// A snapshot of a runtime's live green threads: [`Runtime::dump`](super::Runtime::dump),
/// [`Handle::dump`](super::Handle::dump). `Display` prints one line per green thread.
///
/// A worker that did not answer within a short while (it is held by a green thread that does
/// not come back to it) is listed with the green thread that holds it, as far as the monitor
/// knows it; its other green threads are left out.
#[derive(Clone, Debug, Default)]
pub struct Dump {
    threads: Vec<DumpedThread>,
    /// Workers that did not answer.
    silent: Vec<usize>,
    /// Green threads spawned and not started yet (in run queues).
    unstarted: usize,
    workers: usize,
}

impl Dump {
    /// The green threads listed, worker by worker.
    pub fn threads(&self) -> &[DumpedThread] {
        &self.threads
    }

    /// The workers that did not answer in time (held by a green thread), by index.
    pub fn silent_workers(&self) -> &[usize] {
        &self.silent
    }

    /// Green threads spawned that have not started yet.
    pub fn unstarted(&self) -> usize {
        self.unstarted
    }
}

impl fmt::Display for Dump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "zsync runtime: {} started green threads on {} workers, {} not started",
            self.threads.len(),
            self.workers,
            self.unstarted
        )?;
        for t in &self.threads {
            let state = match t.state {
                ThreadState::Running => "running",
                ThreadState::Runnable => "runnable",
                ThreadState::Parked => "parked",
            };
            let name = t
                .name
                .as_deref()
                .map_or_else(|| "<unnamed>".to_owned(), |n| format!("'{n}'"));
            write!(
                f,
                "  green thread {} {name} on worker {}: {state}",
                t.id.as_u64(),
                t.worker
            )?;
            if let Some(wait) = t.waiting_on {
                write!(f, " on {wait}")?;
            }
            if let Some(d) = t.parked_for {
                write!(f, " for {d:?}")?;
            }
            writeln!(f)?;
            if let Some(bt) = &t.backtrace {
                // From the green thread's own frames on: the capture's frames end at the walk.
                let text = bt.to_string();
                let lines: Vec<&str> = text.lines().collect();
                let start = lines
                    .iter()
                    .position(|l| l.contains("zsync_0_1_walk"))
                    .map_or(0, |i| i + 1);
                for line in &lines[start..] {
                    writeln!(f, "    {line}")?;
                }
            }
        }
        for w in &self.silent {
            writeln!(
                f,
                "  worker {w} did not answer: held by a green thread that does not come back \
                 to its scheduler (its other green threads are not listed)"
            )?;
        }
        Ok(())
    }
}

/// A dump being collected.
pub(crate) struct Job {
    parts: Mutex<Vec<DumpedThread>>,
    /// New green threads the workers hold in their own `ready` queues (taken from the injector
    /// or stolen in a batch): not started, not in any shared queue.
    queued_unstarted: AtomicUsize,
    left: AtomicUsize,
    caller: Thread,
    /// The caller's id: listed as running, not as the parked thread its worker sees.
    caller_id: ThreadId,
}

/// A worker's answer: its started green threads, and how many new ones wait in its `ready`
/// queue. Called on the worker's own thread, outside any green thread, holding its
/// `Remote::dump` slot (so that a caller that gives up and withdraws the job waits for an
/// answer under way).
pub(crate) fn answer(
    job: &Job,
    shared: &Shared,
    worker: usize,
    owned: Vec<TaskRef>,
    unstarted: usize,
) {
    job.queued_unstarted.fetch_add(unstarted, Ordering::Relaxed);
    let clock = shared.clock_now();
    let mut mine = Vec::with_capacity(owned.len());
    for task in owned {
        // SAFETY: called by the task's owner worker, outside any green thread: the task is
        // suspended, and only this thread touches its state now.
        let (sched, local) = unsafe { (task.sched(), task.try_local()) };
        let (state, waiting_on, parked_for) = match local {
            _ if task.id == job.caller_id => (ThreadState::Running, None, None),
            Some(local) if sched.parked => {
                let ago = clock.saturating_sub(local.parked_at);
                (
                    ThreadState::Parked,
                    Some(local.wait),
                    Some(Duration::from_millis(ago)),
                )
            }
            _ => (ThreadState::Runnable, None, None),
        };
        // SAFETY: as above.
        let backtrace = match unsafe { task.body() } {
            super::task::Body::Running { context, .. } if state == ThreadState::Parked => {
                context.backtrace().map(Arc::new)
            }
            _ => None,
        };
        mine.push(DumpedThread {
            id: task.id,
            name: task.name.as_deref().map(str::to_owned),
            state,
            worker,
            waiting_on,
            parked_for,
            backtrace,
        });
    }
    job.parts
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .append(&mut mine);
    if job.left.fetch_sub(1, Ordering::AcqRel) == 1 {
        job.caller.wake();
    }
}

/// Collects a dump of `shared`'s green threads (see the module docs).
pub(crate) fn collect(shared: &Shared) -> Dump {
    let n = shared.workers.len();
    let caller = super::current();
    let job = Arc::new(Job {
        parts: Mutex::new(Vec::new()),
        queued_unstarted: AtomicUsize::new(0),
        left: AtomicUsize::new(n),
        caller_id: caller.id(),
        caller,
    });
    let mut dump = Dump {
        workers: n,
        unstarted: shared.injector.len()
            + shared
                .workers
                .iter()
                .map(|w| w.fresh.len() + usize::from(!w.next.is_empty()))
                .sum::<usize>(),
        ..Dump::default()
    };
    if n == 0 || shared.flavor != super::Flavor::GreenThreads {
        return dump;
    }
    for remote in shared.workers.iter() {
        *remote.dump.lock().unwrap_or_else(|e| e.into_inner()) = Some(job.clone());
        remote.dump_pending.store(true, Ordering::Release);
    }
    let deadline = Instant::now() + PATIENCE;
    while job.left.load(Ordering::Acquire) != 0 && Instant::now() < deadline {
        for (index, remote) in shared.workers.iter().enumerate() {
            if remote.dump_pending.load(Ordering::Acquire) {
                shared.unpark_worker(index);
            }
        }
        super::park::park_until(Some(Instant::now() + SLICE));
    }
    for (index, remote) in shared.workers.iter().enumerate() {
        // Withdraw the job from workers that did not take it.
        let mut slot = remote.dump.lock().unwrap_or_else(|e| e.into_inner());
        if slot.take().is_some() {
            remote.dump_pending.store(false, Ordering::Relaxed);
            dump.silent.push(index);
            if let Some((id, name)) = remote.watch.running_identity() {
                dump.threads.push(DumpedThread {
                    id,
                    name: name.as_deref().map(str::to_owned),
                    state: ThreadState::Running,
                    worker: index,
                    waiting_on: None,
                    parked_for: None,
                    backtrace: None,
                });
            }
        }
    }
    let mut parts = std::mem::take(&mut *job.parts.lock().unwrap_or_else(|e| e.into_inner()));
    // (Read after the parts' lock: each answer adds its count before it appends its part.)
    dump.unstarted += job.queued_unstarted.load(Ordering::Relaxed);
    parts.append(&mut dump.threads);
    parts.sort_by_key(|t| (t.worker, t.id));
    dump.threads = parts;
    dump
}

/// `Builder::dump_on_signal`: a dump on stderr when a signal arrives.
///
/// The handler only does async-signal-safe things: it writes the signal's number, one byte,
/// to a non-blocking self-pipe (saving and restoring `errno`). A process-wide OS thread,
/// `zsync-dump-signal`, started with the first registration, blocks reading the pipe and, for
/// each byte, collects and prints the dump of every live runtime registered for that signal
/// (in the order they were built). Runtimes are held weakly: one that is dropped is skipped and
/// forgotten; the handler stays installed (a later signal then prints nothing).
pub(crate) mod signal {
    use super::super::Shared;
    use std::io;
    use std::sync::atomic::{AtomicI32, Ordering};
    use std::sync::{Arc, Mutex, OnceLock, Weak};

    /// The pipe's write end, for the handler (-1 before the first registration).
    static PIPE: AtomicI32 = AtomicI32::new(-1);
    /// The pipe and the thread, created once.
    static STARTED: OnceLock<io::Result<()>> = OnceLock::new();
    /// Registered runtimes, and the signals whose handler is installed.
    static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
        runtimes: Vec::new(),
        installed: Vec::new(),
    });

    struct Registry {
        runtimes: Vec<(i32, Weak<Shared>)>,
        installed: Vec<i32>,
    }

    extern "C" fn on_signal(signal: libc::c_int) {
        // SAFETY: errno is this thread's; write(2) is async-signal-safe; the byte is ours.
        unsafe {
            let errno = *libc::__errno_location();
            let byte = signal as u8;
            let _ = libc::write(
                PIPE.load(Ordering::Relaxed),
                std::ptr::from_ref(&byte).cast(),
                1,
            );
            *libc::__errno_location() = errno;
        }
    }

    /// Checks that `signal` can be caught, and that a dump is a sane answer to it: not SIGKILL
    /// or SIGSTOP, not a signal the C library keeps for itself (between Linux's 31 standard
    /// signals and `SIGRTMIN()`: glibc's threads use 32 and 33, and its `sigaction` refuses
    /// them), not out of range, and not a fault (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP): a
    /// handler that returns from a fault runs the faulting instruction again, so the dump
    /// would loop, and it would take the place of the stack-overflow report
    /// (`coro::overflow`'s SIGSEGV/SIGBUS handler).
    pub(crate) fn check(signal: i32) -> io::Result<()> {
        let refused = |why: &str| {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("runtime::Builder::dump_on_signal: signal {signal} {why}"),
            ))
        };
        /// The last of Linux's standard signals (SIGSYS); real-time ones start at `SIGRTMIN()`.
        const LAST_STANDARD: i32 = 31;
        if signal <= 0
            || signal > libc::SIGRTMAX()
            || signal > i32::from(u8::MAX)
            || matches!(signal, libc::SIGKILL | libc::SIGSTOP)
        {
            return refused("cannot be caught");
        }
        if signal > LAST_STANDARD && signal < libc::SIGRTMIN() {
            return refused(&format!(
                "is reserved by the C library (signals {} to {} are; SIGRTMIN is {})",
                LAST_STANDARD + 1,
                libc::SIGRTMIN() - 1,
                libc::SIGRTMIN()
            ));
        }
        let fault = match signal {
            libc::SIGSEGV => "SIGSEGV",
            libc::SIGBUS => "SIGBUS",
            libc::SIGILL => "SIGILL",
            libc::SIGFPE => "SIGFPE",
            libc::SIGTRAP => "SIGTRAP",
            _ => return Ok(()),
        };
        refused(&format!(
            "({fault}) reports a fault: a dump handler would hide it (and the stack-overflow \
             report) and run the faulting code again"
        ))
    }

    /// Registers `shared` for a dump on `signal`: starts the pipe and thread, installs the
    /// handler if needed.
    pub(crate) fn register(signal: i32, shared: &Arc<Shared>) -> io::Result<()> {
        check(signal)?;
        if let Err(err) = STARTED.get_or_init(start) {
            return Err(io::Error::new(
                err.kind(),
                format!("runtime::Builder::dump_on_signal: {err}"),
            ));
        }
        let mut registry = REGISTRY.lock().unwrap_or_else(|e| e.into_inner());
        registry.runtimes.retain(|(_, w)| w.strong_count() > 0);
        if !registry.installed.contains(&signal) {
            // SAFETY: a zeroed sigaction is valid; the handler is async-signal-safe.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                if libc::sigaction(signal, &action, std::ptr::null_mut()) != 0 {
                    let err = io::Error::last_os_error();
                    return Err(io::Error::new(
                        err.kind(),
                        format!(
                            "runtime::Builder::dump_on_signal: signal {signal}: sigaction: {err}"
                        ),
                    ));
                }
            }
            registry.installed.push(signal);
        }
        registry.runtimes.push((signal, Arc::downgrade(shared)));
        Ok(())
    }

    fn start() -> io::Result<()> {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let [read, write] = fds;
        // SAFETY: our own descriptor: the handler must never block on a full pipe.
        unsafe { libc::fcntl(write, libc::F_SETFL, libc::O_NONBLOCK) };
        PIPE.store(write, Ordering::Relaxed);
        std::thread::Builder::new()
            .name("zsync-dump-signal".into())
            .spawn(move || watch(read))?;
        Ok(())
    }

    fn watch(read: i32) {
        let mut buf = [0u8; 64];
        loop {
            // SAFETY: reads into our buffer from our descriptor.
            let n = unsafe { libc::read(read, buf.as_mut_ptr().cast(), buf.len()) };
            let Ok(n) = usize::try_from(n) else {
                if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return;
            };
            for &signal in &buf[..n] {
                let runtimes: Vec<Arc<Shared>> = REGISTRY
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .runtimes
                    .iter()
                    .filter(|(s, _)| *s == i32::from(signal))
                    .filter_map(|(_, w)| w.upgrade())
                    .collect();
                for shared in runtimes {
                    let dump = super::collect(&shared);
                    eprint!(
                        "zsync: signal {signal}: runtime '{}'\n{dump}",
                        shared.thread_name
                    );
                }
            }
        }
    }
}

//! `runtime::Builder` and `Flavor`.

use super::idle::Idle;
use super::metrics::WorkerMetrics;
use super::Reactor;
use super::{BoundedQueue, Queue, Remote, Runtime, Shared};
use crate::coro::{Stack, DEFAULT_STACK_SIZE};
use std::io;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// The limits that decide how many OS threads a process may start, for error messages.
pub(crate) const THREAD_LIMITS: &str = "the OS refused a new thread: the limits are the \
    per-user process limit (RLIMIT_NPROC, raise it with `ulimit -u`), kernel.threads-max \
    (`sysctl -w kernel.threads-max=N`) and the memory and address space for thread stacks \
    (RLIMIT_AS, `ulimit -v`)";

/// How a runtime runs the closures it is given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Flavor {
    /// Green threads on a few worker OS threads (the default).
    #[default]
    GreenThreads,
    /// Every spawn is a real OS thread and every zsync call blocks it: the same program on
    /// another execution model.
    OsThreads,
}

/// Configures and builds a [`Runtime`].
///
/// ```
/// use zsync::runtime::{Builder, Flavor};
/// let rt = Builder::new().worker_threads(2).stack_size(64 * 1024).thread_name("demo").build()?;
/// assert_eq!(rt.block_on(|| 1 + 1), 2);
///
/// let err = Builder::new().worker_threads(0).build().unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
/// let err = Builder::new().stack_size(usize::MAX).build().unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    workers: Option<usize>,
    stack_size: usize,
    thread_name: String,
    flavor: Flavor,
    /// `None` inside: explicitly off; outer `None`: not set (the environment decides).
    stall_threshold: Option<Option<Duration>>,
    deadlock_panic: bool,
    dump_signal: Option<i32>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// The most worker threads a runtime may have; [`build`](Builder::build) refuses more with
    /// `InvalidInput`.
    ///
    /// ```
    /// use zsync::runtime::Builder;
    /// let err = Builder::new().worker_threads(Builder::MAX_WORKER_THREADS + 1).build();
    /// assert_eq!(err.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    /// ```
    pub const MAX_WORKER_THREADS: usize = 1 << 14;

    /// The default settings: one worker per available CPU, 256 KiB stacks, green threads.
    pub fn new() -> Builder {
        Builder {
            workers: None,
            stack_size: DEFAULT_STACK_SIZE,
            thread_name: "zsync-worker".into(),
            flavor: Flavor::GreenThreads,
            stall_threshold: None,
            deadlock_panic: false,
            dump_signal: None,
        }
    }

    /// How many worker OS threads run green threads (default: `available_parallelism`).
    /// Checked by [`build`](Builder::build): 0 and more than
    /// [`MAX_WORKER_THREADS`](Builder::MAX_WORKER_THREADS) are `InvalidInput`.
    pub fn worker_threads(mut self, n: usize) -> Builder {
        self.workers = Some(n);
        self
    }

    /// The stack size of green threads spawned without an explicit one (default 256 KiB,
    /// reserved and committed lazily; minimum 16 KiB, rounded up to whole pages).
    ///
    /// Checked by [`build`](Builder::build), which maps one stack of this size to be sure:
    /// `InvalidInput` for a size below the minimum or beyond any address space,
    /// `OutOfMemory` if the stack cannot be mapped.
    ///
    /// ```
    /// use zsync::runtime::Builder;
    /// let err = Builder::new().stack_size(1 << 50).build().unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::OutOfMemory);
    /// ```
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = bytes;
        self
    }

    /// The name prefix of the worker OS threads (`<prefix>-<index>`).
    ///
    /// A name with a NUL byte is refused by [`build`](Builder::build) with `InvalidInput`
    /// (`std::thread::Builder` panics on one instead).
    ///
    /// ```
    /// use zsync::runtime::Builder;
    /// let err = Builder::new().thread_name("a\0b").build().unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    /// ```
    pub fn thread_name(mut self, prefix: impl Into<String>) -> Builder {
        self.thread_name = prefix.into();
        self
    }

    /// Green threads or OS threads.
    pub fn flavor(mut self, flavor: Flavor) -> Builder {
        self.flavor = flavor;
        self
    }

    /// How long a green thread may hold its worker without reaching a park point before the
    /// runtime warns about it on stderr (once per episode: the green thread's name and id, the
    /// worker, how long, and the usual causes). Default 100 ms, or `ZSYNC_STALL_MS`
    /// milliseconds from the environment (`0` turns warnings off); `None` turns them off.
    /// Warned stalls are counted in [`Metrics::stalls`](super::Metrics::stalls).
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = zsync::runtime::Builder::new()
    ///     .stall_threshold(Some(Duration::from_millis(500)))
    ///     .build()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stall_threshold(mut self, threshold: Option<Duration>) -> Builder {
        self.stall_threshold = Some(threshold);
        self
    }

    /// What the deadlock report does. When a root green thread (one given to
    /// [`Runtime::block_on`] or [`crate::run`]) is parked, every live green thread is parked, no
    /// timer is armed and no green thread waits on a socket or an [`unblock`](crate::unblock)
    /// job, for half a second without a switch, the runtime prints "zsync: all green threads are
    /// asleep: possible deadlock" and a [dump](Runtime::dump) to stderr (default). With
    /// `deadlock_panic(true)` it also cancels the roots, and their `block_on` panics with that
    /// message (for tests). "Possible": an OS thread outside the runtime could still send to or
    /// unpark one of them.
    pub fn deadlock_panic(mut self, panic: bool) -> Builder {
        self.deadlock_panic = panic;
        self
    }

    /// Prints a [dump](Runtime::dump) of the runtime's green threads to stderr whenever the
    /// process receives `signal` (`libc::SIGQUIT` is the usual choice, as in Go; note that this
    /// replaces its default action, a core dump). Green-thread runtimes only (an OS-thread
    /// runtime ignores it). Several runtimes may share a signal: each prints its own dump.
    ///
    /// The handler only writes a byte to a pipe; a process-wide OS thread,
    /// `zsync-dump-signal`, collects and prints the dumps. It stays installed after the runtime
    /// is dropped (the signal then prints nothing).
    ///
    /// ```no_run
    /// let rt = zsync::runtime::Builder::new()
    ///     .dump_on_signal(libc::SIGQUIT)
    ///     .build()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// [`build`](Self::build) fails with `InvalidInput` for a signal that cannot be caught
    /// (SIGKILL, SIGSTOP, out of range, or one the C library keeps for itself: glibc's 32 and
    /// 33, below `SIGRTMIN()`) and for a fault signal (SIGSEGV, SIGBUS, SIGILL, SIGFPE,
    /// SIGTRAP), whose handler would run the faulting code again and hide the stack-overflow
    /// report; the message names the signal.
    pub fn dump_on_signal(mut self, signal: i32) -> Builder {
        self.dump_signal = Some(signal);
        self
    }

    /// Starts the runtime.
    ///
    /// Every setting is checked first, so that a runtime that starts can run green threads.
    ///
    /// # Errors
    /// - `InvalidInput`: 0 workers or more than [`MAX_WORKER_THREADS`](Self::MAX_WORKER_THREADS),
    ///   a stack size below the minimum or beyond any address space, a thread name with a NUL
    ///   byte;
    /// - `OutOfMemory`: no stack of the configured size can be mapped;
    /// - the OS error, naming the limit that was hit, if a worker's I/O reactor or OS thread
    ///   cannot be created (the workers already started are stopped and joined first).
    pub fn build(self) -> io::Result<Runtime> {
        let workers = self.checked_workers()?;
        super::spawn::check_thread_name(&self.thread_name, "runtime::Builder::thread_name")?;
        check_stack_size(self.stack_size)?;
        if let Some(signal) = self.dump_signal {
            super::dump::signal::check(signal)?;
        }
        let dump_signal = self
            .dump_signal
            .filter(|_| self.flavor == Flavor::GreenThreads);
        let mut reactors = Vec::with_capacity(workers);
        for index in 0..workers {
            reactors.push(match self.flavor {
                Flavor::GreenThreads => Some(Arc::new(
                    Reactor::new().map_err(|err| reactor_error(err, index, workers))?,
                )),
                Flavor::OsThreads => None,
            });
        }
        let mut reactors = reactors.into_iter();
        let shared = Arc::new(Shared {
            flavor: self.flavor,
            stack_size: self.stack_size,
            thread_name: self.thread_name,
            workers: (0..workers)
                .map(|_| Remote {
                    inbox: Queue::new(),
                    inbox_closed: AtomicBool::new(false),
                    fresh: BoundedQueue::new(super::FRESH_CAPACITY),
                    next: super::next_slot::NextSlot::new(),
                    thread: OnceLock::new(),
                    metrics: WorkerMetrics::default(),
                    owned: Default::default(),
                    reactor: reactors.next().flatten(),
                    watch: Default::default(),
                    dump: Mutex::new(None),
                    dump_pending: AtomicBool::new(false),
                })
                .collect(),
            injector: super::Padded(Queue::new()),
            idle: super::Padded(Idle::new(workers)),
            shutdown: AtomicBool::new(false),
            stack_exhausted: AtomicBool::new(false),
            live: super::LiveCount::new(workers),
            external_spawns: Default::default(),
            os_threads: Mutex::new(Vec::new()),
            fork_generation: super::fork::generation(),
            monitor: OnceLock::new(),
            monitor_asleep: AtomicBool::new(false),
            started: std::time::Instant::now(),
            clock: std::sync::atomic::AtomicU64::new(0),
            stall_threshold: self
                .stall_threshold
                .unwrap_or_else(super::monitor::stall_threshold_from_env),
            roots: Mutex::new(Vec::new()),
            deadlock_panic: self.deadlock_panic,
            deadlocked: AtomicBool::new(false),
        });
        let runtime = Runtime::start(shared)?;
        if let Some(signal) = dump_signal {
            super::dump::signal::register(signal, &runtime.handle.shared)?;
        }
        Ok(runtime)
    }

    /// The number of workers, checked.
    fn checked_workers(&self) -> io::Result<usize> {
        match self.workers {
            Some(0) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a runtime needs at least 1 worker thread, got 0",
            )),
            Some(n) if n > Self::MAX_WORKER_THREADS => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a runtime has at most Builder::MAX_WORKER_THREADS = {} worker threads, got {n}",
                    Self::MAX_WORKER_THREADS
                ),
            )),
            Some(n) => Ok(n),
            None => Ok(std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(Self::MAX_WORKER_THREADS)),
        }
    }
}

/// Checks a runtime's stack size by mapping one stack of that size: `InvalidInput` if the size
/// makes no sense, `OutOfMemory` if it cannot be mapped.
fn check_stack_size(size: usize) -> io::Result<()> {
    match Stack::new(size) {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::InvalidInput => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("runtime::Builder::stack_size: {err}"),
        )),
        Err(err) => Err(io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!(
                "runtime::Builder::stack_size: cannot map even one green-thread stack of \
                 {size} bytes ({err}); choose a smaller stack size"
            ),
        )),
    }
}

/// The error of a worker's reactor that cannot be created, naming the limit if one was hit.
fn reactor_error(err: io::Error, index: usize, workers: usize) -> io::Error {
    let hint = match err.raw_os_error() {
        Some(libc::EMFILE) => {
            "; the process's open-file limit is reached (RLIMIT_NOFILE: raise it with \
             `ulimit -n`), or use fewer worker threads"
        }
        Some(libc::ENFILE) => {
            "; the system's open-file limit is reached (raise it with `sysctl -w fs.file-max=N`)"
        }
        Some(libc::ENOMEM) => "; out of kernel memory",
        _ => "",
    };
    io::Error::new(
        err.kind(),
        format!("cannot create the I/O reactor of zsync worker {index} of {workers}: {err}{hint}"),
    )
}

//! `runtime::Builder` and `Flavor`.

use super::idle::Idle;
use super::metrics::WorkerMetrics;
use super::{BoundedQueue, Queue, Remote, Runtime, Shared};
use crate::coro::{DEFAULT_STACK_SIZE, MIN_STACK_SIZE};
use crate::reactor::Reactor;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Mutex, OnceLock};

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
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    workers: Option<usize>,
    stack_size: usize,
    thread_name: String,
    flavor: Flavor,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// The default settings: one worker per available CPU, 256 KiB stacks, green threads.
    pub fn new() -> Builder {
        Builder {
            workers: None,
            stack_size: DEFAULT_STACK_SIZE,
            thread_name: "zsync-worker".into(),
            flavor: Flavor::GreenThreads,
        }
    }

    /// How many worker OS threads run green threads (default: `available_parallelism`).
    pub fn worker_threads(mut self, n: usize) -> Builder {
        self.workers = Some(n);
        self
    }

    /// The stack size of green threads spawned without an explicit one (default 256 KiB,
    /// reserved and committed lazily; minimum 16 KiB).
    pub fn stack_size(mut self, bytes: usize) -> Builder {
        self.stack_size = bytes;
        self
    }

    /// The name prefix of the worker OS threads (`<prefix>-<index>`).
    pub fn thread_name(mut self, prefix: impl Into<String>) -> Builder {
        self.thread_name = prefix.into();
        self
    }

    /// Green threads or OS threads.
    pub fn flavor(mut self, flavor: Flavor) -> Builder {
        self.flavor = flavor;
        self
    }

    /// Starts the runtime.
    ///
    /// # Errors
    /// `InvalidInput` for 0 workers or a stack below the minimum; the OS error if a worker
    /// thread cannot start.
    pub fn build(self) -> io::Result<Runtime> {
        let workers = match self.workers {
            Some(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a runtime needs at least 1 worker thread, got 0",
                ))
            }
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        if self.stack_size < MIN_STACK_SIZE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "stack size {} bytes is below the minimum of {MIN_STACK_SIZE} bytes ({} KiB)",
                    self.stack_size,
                    MIN_STACK_SIZE / 1024
                ),
            ));
        }
        let mut reactors = Vec::with_capacity(workers);
        for _ in 0..workers {
            reactors.push(match self.flavor {
                Flavor::GreenThreads => Some(Arc::new(Reactor::new()?)),
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
                    fresh: BoundedQueue::new(super::FRESH_CAPACITY),
                    thread: OnceLock::new(),
                    metrics: WorkerMetrics::default(),
                    reactor: reactors.next().flatten(),
                })
                .collect(),
            injector: Queue::new(),
            idle: Idle::new(workers),
            shutdown: AtomicBool::new(false),
            stack_exhausted: AtomicBool::new(false),
            live: AtomicUsize::new(0),
            external_spawns: Default::default(),
            os_threads: Mutex::new(Vec::new()),
        });
        Runtime::start(shared)
    }
}

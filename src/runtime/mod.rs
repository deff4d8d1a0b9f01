//! The runtime: it owns a green thread's whole life, and runs it on worker OS threads.
//!
//! Where a green thread is created, parked, woken and destroyed:
//! - created: `spawn.rs` (from [`Handle::spawn`], `thread::spawn`, `thread::Builder`) boxes the
//!   closure once with its join packet, makes a `Task` (`task/mod.rs`) and puts it in a run
//!   queue (the spawning worker's `fresh` queue, or the injector);
//! - started: `Worker::start` (`worker.rs`) gives it a stack from the worker's pool and makes it
//!   a `Context`; the worker is its owner from then on;
//! - parked: `park.rs` (`park_until`, `yield_now`) suspends it to its worker, whose `run_task`
//!   commits the park through its `ParkState` (`task/park_state.rs`);
//! - woken: `TaskRef::unpark` (`task/mod.rs`) puts it back in its owner's queue on the owner's
//!   OS thread, or posts the wake to the owner's inbox from any other (`Remote::post`, below);
//! - destroyed: `Worker::run_task` again, at `Resumed::Finished`: the stack goes back to the
//!   worker's `StackPool`, and the thread's `Live` count goes with its body.
//!
//! Also here: `context.rs` (the one "where am I?" probe), `os_threads.rs` (the OS threads of
//! `Flavor::OsThreads`), `timer/` (each worker's timer wheel), the run queues (`queue.rs`,
//! `idle.rs`, `owned.rs`), the global runtime and `fork()` handling. Below the runtime: `coro`
//! (stacks and switches) and `reactor` (I/O readiness), which know nothing of it.

mod builder;
pub(crate) mod context;
mod dump;
mod fork;
mod global;
mod idle;
mod live;
mod metrics;
pub(crate) mod monitor;
mod next_slot;
mod os_threads;
mod owned;
pub(crate) mod park;
mod queue;
mod ring;
pub(crate) mod spawn;
pub(crate) mod task;
pub(crate) mod timer;
pub(crate) mod worker;

pub use builder::{Builder, Flavor};
pub use dump::{Dump, DumpedThread, IoDirection, ThreadState, WaitReason};
pub use metrics::Metrics;

pub(crate) use builder::THREAD_LIMITS;
#[cfg(feature = "hook")]
pub(crate) use fork::generation as fork_generation;
pub(crate) use fork::{PerProcess, FORKED_RUNTIME};

use idle::Idle;
pub(crate) use live::{Live, LiveCount};
use metrics::WorkerMetrics;
pub(crate) use queue::{BoundedQueue, Queue};
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
#[cfg(not(loom))]
pub(crate) use task::handle::ThisWorker;
pub(crate) use task::handle::{current, Thread};
pub(crate) use task::join::JoinHandle;
use task::TaskRef;

/// The reactor type of a worker: one that wakes zsync threads.
pub(crate) type Reactor = crate::reactor::Reactor<Thread>;

/// How many new green threads a worker's `fresh` queue holds before spawns overflow into the
/// injector.
const FRESH_CAPACITY: usize = 256;

/// The part of a worker that other threads reach.
pub(crate) struct Remote {
    /// Wakes of green threads this worker owns, posted by other OS threads (see
    /// `task::park_state`): the worker applies them as it takes them out.
    pub(crate) inbox: Queue<TaskRef>,
    /// The worker has gone (see [`Remote::post`]).
    pub(crate) inbox_closed: AtomicBool,
    /// Green threads spawned on this worker that have not started: any idle worker may steal
    /// them (started ones never move, see docs/ARCHITECTURE.md). Bounded: spawns overflow into
    /// the injector.
    pub(crate) fresh: BoundedQueue<TaskRef>,
    /// The green thread this worker spawned last, kept for itself for a few microseconds (see
    /// `next_slot`): a spawner that parks at once runs its child on its own core.
    pub(crate) next: next_slot::NextSlot<TaskRef>,
    /// The worker's OS thread, to unpark it.
    pub(crate) thread: OnceLock<std::thread::Thread>,
    pub(crate) metrics: WorkerMetrics,
    /// Green threads this worker owns (started, not finished): its share, for placing new
    /// ones (`Worker::may_start_fresh`, `Worker::balance`). Written by the worker at each
    /// start and finish, read by the others; in a cache line of its own, away from the
    /// counters the worker writes at every switch.
    pub(crate) owned: Padded<std::sync::atomic::AtomicU64>,
    /// The worker's I/O reactor (green-thread runtimes only): sources are registered with the
    /// reactor of the worker whose green thread first waits on them, so their events usually
    /// arrive on the worker that runs their waiters.
    pub(crate) reactor: Option<Arc<Reactor>>,
    /// What the monitor sees of the worker (see `monitor`).
    pub(crate) watch: monitor::Watch,
    /// A dump waiting for this worker's answer, and its flag (see `dump`).
    pub(crate) dump: Mutex<Option<Arc<dump::Job>>>,
    pub(crate) dump_pending: AtomicBool,
}

impl Remote {
    /// Posts a wake of a green thread this worker owns, from another OS thread, and wakes the
    /// worker wherever it sleeps (`shared` is the worker's runtime, `index` its index).
    ///
    /// A worker that has gone takes nothing out of its inbox any more, and a post left there
    /// would keep the runtime alive (its task holds the runtime). Once a worker has gone, every
    /// green thread it owned has finished, so such a post is stale and its poster drops it: the
    /// worker closes the inbox and then empties it, the poster pushes and then looks at the
    /// close, with a SeqCst fence on each side, so one of the two sees the other's write.
    pub(crate) fn post(&self, shared: &Shared, index: usize, task: TaskRef) {
        self.inbox.push(task);
        shared.unpark_worker(index);
        std::sync::atomic::fence(Ordering::SeqCst);
        if self.inbox_closed.load(Ordering::Relaxed) {
            self.drop_posts();
        }
    }

    /// The worker, as it goes (see [`post`](Self::post)).
    pub(crate) fn close_inbox(&self) {
        self.inbox_closed.store(true, Ordering::Relaxed);
        std::sync::atomic::fence(Ordering::SeqCst);
        self.drop_posts();
    }

    fn drop_posts(&self) {
        while let Some(post) = self.inbox.pop() {
            drop(post);
        }
    }
}

/// A value alone in its cache line (two lines: adjacent-line prefetch pairs them on x86).
#[repr(align(128))]
#[derive(Default)]
pub(crate) struct Padded<T>(pub(crate) T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// Everything the workers of one runtime share.
pub(crate) struct Shared {
    pub(crate) flavor: Flavor,
    pub(crate) stack_size: usize,
    pub(crate) thread_name: String,
    pub(crate) workers: Box<[Remote]>,
    /// Green threads spawned from outside the runtime's workers.
    /// (In a cache line of its own, as is `idle`: both are written by every worker that takes
    /// from them or searches, while the fields around them are read at every spawn.)
    pub(crate) injector: Padded<Queue<TaskRef>>,
    pub(crate) idle: Padded<Idle>,
    pub(crate) shutdown: AtomicBool,
    /// Green threads spawned and not finished (OS threads too, for `Flavor::OsThreads`).
    pub(crate) live: LiveCount,
    /// Set while workers fail to map stacks for new green threads: spawns then map their stack
    /// themselves, so that the error reaches the caller of `spawn`.
    pub(crate) stack_exhausted: AtomicBool,
    /// Green threads spawned from outside the workers (their spawns are counted here).
    pub(crate) external_spawns: std::sync::atomic::AtomicU64,
    /// OS threads of `Flavor::OsThreads`, joined when the runtime is dropped.
    pub(crate) os_threads: Mutex<Vec<(std::thread::JoinHandle<()>, Thread)>>,
    /// The fork generation the runtime was built in (see `fork.rs`): in a forked child its
    /// threads do not exist, and it refuses to work.
    pub(crate) fork_generation: u64,
    /// The monitor thread (green-thread runtimes), to unpark it.
    pub(crate) monitor: OnceLock<std::thread::Thread>,
    /// True while the monitor sleeps because every worker does (see `monitor`).
    pub(crate) monitor_asleep: AtomicBool,
    /// How long a green thread may hold its worker before a warning; `None`: no warnings.
    pub(crate) stall_threshold: Option<std::time::Duration>,
    /// Root green threads: the ones `block_on` callers wait for (see the deadlock report in
    /// `monitor`).
    pub(crate) roots: Mutex<Vec<Thread>>,
    /// `Builder::deadlock_panic`: a deadlock report cancels the roots, and their `block_on`
    /// panics.
    pub(crate) deadlock_panic: bool,
    /// Set by a deadlock report that cancelled the roots.
    pub(crate) deadlocked: AtomicBool,
    /// When the runtime was built: the origin of `clock`.
    pub(crate) started: std::time::Instant,
    /// A coarse clock, in milliseconds since `started`: advanced by the monitor at each look
    /// and by a worker as it wakes from sleep, so that a park can record its time without
    /// reading the clock (see `dump`). Behind by at most the monitor's look interval.
    pub(crate) clock: std::sync::atomic::AtomicU64,
}

/// The deadlock report's message.
pub(crate) const DEADLOCK: &str = "all green threads are asleep: possible deadlock";

impl Shared {
    /// Reads the real clock, advances the coarse `clock` to it and returns it.
    pub(crate) fn clock_now(&self) -> u64 {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        // A read first: within the same millisecond (most wakes) the shared line stays clean.
        if ms > self.clock.load(Ordering::Relaxed) {
            self.clock.fetch_max(ms, Ordering::Relaxed);
        }
        ms
    }

    /// Wakes one idle worker, if any, for new work that any worker may take.
    pub(crate) fn notify_one(&self) {
        if let Some(index) = self.idle.pop_sleeper() {
            self.unpark_worker(index);
        }
    }

    /// Wakes worker `index`, wherever it sleeps: parked, or blocked in its reactor's driver.
    ///
    /// The worker announces itself as the driver's holder and then looks at its queues once
    /// more before it blocks in `epoll_wait`; the caller has published its work before calling
    /// this. With a SeqCst fence on each side (the store-buffering pattern, as in `Idle`),
    /// either the worker's look sees the work or this sees the holder.
    pub(crate) fn unpark_worker(&self, index: usize) {
        if let Some(reactor) = &self.workers[index].reactor {
            if reactor.holder.is(index) {
                reactor.wake();
                return;
            }
        }
        if let Some(thread) = self.workers[index].thread.get() {
            thread.unpark();
        }
    }

    /// A worker has left its sleep: wakes the monitor if it sleeps (see `monitor`). The
    /// worker's unregistration stored the sleepers' count (SeqCst) before this load.
    pub(crate) fn worker_awake(&self) {
        if self.monitor_asleep.load(Ordering::SeqCst) {
            if let Some(monitor) = self.monitor.get() {
                monitor.unpark();
            }
        }
    }

    /// True if this runtime was built in the parent of this (forked) process, where its
    /// threads live: here they do not exist. One relaxed load.
    #[inline]
    pub(crate) fn forked_away(&self) -> bool {
        self.fork_generation != fork::generation()
    }

    /// Panics with a message that names the mistake if this runtime was built before `fork()`.
    #[track_caller]
    pub(crate) fn assert_not_forked(&self) {
        if self.forked_away() {
            panic!("zsync: {}", fork::FORKED_RUNTIME);
        }
    }

    /// Cancels every green thread in the injector, none of which has started: each closure is
    /// dropped and each joiner sees `Cancelled`. For a runtime that has shut down (see
    /// `shut_down` and `spawn::spawn_green`).
    pub(crate) fn cancel_injected(&self) {
        while let Some(task) = self.injector.pop() {
            worker::abandon(task);
        }
    }

    /// True if this runtime has begun to shut down (or has): it starts no new thread.
    #[inline]
    pub(crate) fn is_shut_down(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    /// True if any run queue a worker can take from holds something.
    pub(crate) fn has_shared_work(&self, index: usize) -> bool {
        !self.injector.is_empty()
            || !self.workers[index].inbox.is_empty()
            || self
                .workers
                .iter()
                .any(|w| !w.fresh.is_empty() || !w.next.is_empty())
    }
}

/// A zsync runtime: worker OS threads running green threads.
///
/// Dropping a `Runtime` cancels every green thread still alive (each unwinds at its next park
/// point, running its destructors), waits for them, and joins the workers. A runtime may be
/// dropped on one of its own threads (a green thread that owns it): the drop then hands the
/// shutdown to a new OS thread and returns at once, and the dropping thread is cancelled at its
/// next park point like the others. A [`Handle`] may outlive its runtime: a green thread it
/// spawns once the shutdown has begun is cancelled before it starts ([`Handle::spawn`]), and
/// its [`block_on`](Handle::block_on) panics, saying that the runtime has shut down.
///
/// # `fork()`
/// A forked child has only the thread that called `fork()`: the runtime's workers do not exist
/// there. Using a `Runtime` (or a [`Handle`] to it) built before `fork()` in the child panics
/// ([`spawn`](Runtime::spawn), [`block_on`](Runtime::block_on), [`handle`](Runtime::handle))
/// or returns an error ([`crate::thread::Builder::spawn`]), with the message "this Runtime was
/// created before fork(); build a new one in the child"; dropping it there leaks it. The global
/// runtime behind [`crate::spawn`] is started afresh in the child on first use.
///
/// ```
/// let rt = zsync::Runtime::new()?;
/// let answer = rt.block_on(|| {
///     let h = zsync::spawn(|| 6 * 7);
///     h.join().unwrap()
/// });
/// assert_eq!(answer, 42);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Runtime {
    handle: Handle,
    workers: Vec<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("workers", &self.workers.len())
            .finish_non_exhaustive()
    }
}

/// A cheap, cloneable reference to a runtime, usable from any thread.
///
/// ```
/// let rt = zsync::Runtime::new()?;
/// let handle = rt.handle();
/// let answer = std::thread::spawn(move || handle.block_on(|| 6 * 7))
///     .join()
///     .unwrap();
/// assert_eq!(answer, 42);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Handle {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("workers", &self.shared.workers.len())
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// A runtime with the default settings: one worker per available CPU, 256 KiB stacks.
    ///
    /// ```
    /// let rt = zsync::Runtime::new()?;
    /// let cpus = std::thread::available_parallelism()?.get();
    /// assert_eq!(rt.handle().worker_threads(), cpus);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// If a worker OS thread cannot be started.
    pub fn new() -> io::Result<Runtime> {
        Builder::new().build()
    }

    /// A [`Builder`] to configure a runtime.
    ///
    /// ```
    /// let rt = zsync::Runtime::builder().worker_threads(2).build()?;
    /// assert_eq!(rt.handle().worker_threads(), 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn builder() -> Builder {
        Builder::new()
    }

    pub(crate) fn start(shared: Arc<Shared>) -> io::Result<Runtime> {
        task::panic_hook::install();
        fork::register_handler();
        let mut workers = Vec::new();
        if shared.flavor == Flavor::GreenThreads {
            for index in 0..shared.workers.len() {
                let s = shared.clone();
                let spawned = std::thread::Builder::new()
                    .name(format!("{}-{index}", shared.thread_name))
                    .spawn(move || worker::run(s, index));
                match spawned {
                    Ok(handle) => {
                        let _ = shared.workers[index].thread.set(handle.thread().clone());
                        workers.push(handle);
                    }
                    Err(err) => {
                        // Stop the ones already started before reporting.
                        drop(Runtime {
                            handle: Handle {
                                shared: shared.clone(),
                            },
                            workers,
                        });
                        return Err(io::Error::new(
                            err.kind(),
                            format!(
                                "cannot start zsync worker thread {index} of {}: {err} ({})",
                                shared.workers.len(),
                                builder::THREAD_LIMITS
                            ),
                        ));
                    }
                }
            }
        }
        if shared.flavor == Flavor::GreenThreads {
            // The monitor is a helper: a runtime without one (no thread for it) still works,
            // only without yield requests and stall warnings. Joined with the workers.
            let s = shared.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("{}-monitor", shared.thread_name))
                .spawn(move || monitor::run(s));
            if let Ok(handle) = spawned {
                let _ = shared.monitor.set(handle.thread().clone());
                workers.push(handle);
            }
        }
        Ok(Runtime {
            handle: Handle { shared },
            workers,
        })
    }

    /// Runs `f` as a green thread and blocks the calling thread until it returns its value. A
    /// panic in `f` is resumed here.
    ///
    /// ```
    /// use std::panic::{catch_unwind, AssertUnwindSafe};
    /// let rt = zsync::Runtime::new()?;
    /// let data = vec![1, 2, 3];
    /// assert_eq!(rt.block_on(move || data.iter().sum::<i32>()), 6);
    ///
    /// let caught = catch_unwind(AssertUnwindSafe(|| rt.block_on(|| panic!("boom"))));
    /// assert_eq!(caught.unwrap_err().downcast_ref::<&str>(), Some(&"boom"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Panics
    /// If `f` panics; as [`Runtime::spawn`] otherwise.
    pub fn block_on<F, T>(&self, f: F) -> T
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.handle.block_on(f)
    }

    /// Spawns a green thread on this runtime.
    ///
    /// ```
    /// let rt = zsync::Runtime::new()?;
    /// let handles: Vec<_> = (0..4).map(|i| rt.spawn(move || i * 10)).collect();
    /// let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    /// assert_eq!(results, [0, 10, 20, 30]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Panics
    /// If no stack can be mapped for it (see [`crate::thread::Builder::spawn`] for the error),
    /// or in a forked child if the runtime was built before `fork()` (see the type's docs).
    pub fn spawn<F, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        self.handle.spawn(f)
    }

    /// A handle to this runtime.
    ///
    /// ```
    /// let rt = zsync::Runtime::builder().worker_threads(2).build()?;
    /// let handle = rt.handle();
    /// let h = handle.spawn(|| zsync::runtime::Handle::current().worker_threads());
    /// assert_eq!(h.join().unwrap(), 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Panics
    /// In a forked child if the runtime was built before `fork()` (see the type's docs).
    #[track_caller]
    pub fn handle(&self) -> Handle {
        self.handle.shared.assert_not_forked();
        self.handle.clone()
    }

    /// Counters and gauges of this runtime.
    ///
    /// ```
    /// let rt = zsync::Runtime::new()?;
    /// rt.block_on(|| {
    ///     let handles: Vec<_> = (0..10).map(|i| zsync::spawn(move || i)).collect();
    ///     for h in handles {
    ///         h.join().unwrap();
    ///     }
    /// });
    /// assert_eq!(rt.metrics().spawns, 11); // the ten, and `block_on`'s own green thread
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn metrics(&self) -> Metrics {
        self.handle.metrics()
    }

    /// Lists the runtime's live green threads: id, name, and whether each is running,
    /// runnable or parked (see [`Dump`]). Waits for each worker to answer from its scheduler,
    /// at most a few hundred milliseconds for a worker held by a green thread. May be called
    /// from anywhere, a green thread of this runtime included (it is listed as running).
    ///
    /// ```
    /// let rt = zsync::Runtime::new()?;
    /// let h = rt.spawn(|| zsync::thread::sleep(std::time::Duration::from_millis(200)));
    /// # std::thread::sleep(std::time::Duration::from_millis(20));
    /// println!("{}", rt.dump());
    /// # h.join().unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn dump(&self) -> Dump {
        self.handle.dump()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let shared = self.handle.shared.clone();
        let workers = std::mem::take(&mut self.workers);
        if shared.forked_away() {
            // A forked child: the threads these handles name do not exist here (joining them
            // would wait forever), and the green threads' state is a copy nobody runs. Leak it
            // all.
            std::mem::forget(workers);
            std::mem::forget(std::mem::take(
                &mut *shared.os_threads.lock().unwrap_or_else(|e| e.into_inner()),
            ));
            std::mem::forget(shared);
            return;
        }
        let own_thread = Handle::try_current().is_some_and(|h| Arc::ptr_eq(&h.shared, &shared));
        if own_thread {
            // Dropped on one of its own threads, which cannot join itself: shut down from a new
            // OS thread. This thread is cancelled at its next park point, like the others.
            let s = shared.clone();
            let spawned = std::thread::Builder::new()
                .name("zsync-shutdown".into())
                .spawn(move || shut_down(&s, workers));
            if spawned.is_err() {
                // No thread for it: tell every thread to stop, and let them go unjoined.
                signal_shutdown(&shared);
                let os_threads = std::mem::take(
                    &mut *shared.os_threads.lock().unwrap_or_else(|e| e.into_inner()),
                );
                for (_, thread) in &os_threads {
                    thread.request_cancel();
                }
            }
            return;
        }
        shut_down(&shared, workers);
    }
}

/// Tells the workers to stop: each cancels its green threads and exits once they have unwound.
fn signal_shutdown(shared: &Shared) {
    shared.shutdown.store(true, Ordering::SeqCst);
    for index in 0..shared.workers.len() {
        shared.unpark_worker(index);
    }
    if let Some(monitor) = shared.monitor.get() {
        monitor.unpark();
    }
}

/// Stops a runtime: every green thread (or OS thread) is cancelled and unwinds, the workers
/// are joined. Never runs on one of the runtime's own threads.
fn shut_down(shared: &Shared, workers: Vec<std::thread::JoinHandle<()>>) {
    signal_shutdown(shared);
    for worker in workers {
        let _ = worker.join();
    }
    // Green threads spawned from outside after the workers stopped never ran: dropping them
    // drops their closures, and their joiners see them cancelled. The fence pairs with the one
    // a spawn from outside makes after its push (`spawn::spawn_green`): a spawn this look
    // misses sees the shutdown flag, set above, and cancels its thread itself.
    std::sync::atomic::fence(Ordering::SeqCst);
    shared.cancel_injected();
    // OS threads of `Flavor::OsThreads`: cancelled like green threads (each unwinds at its
    // next park point), then joined. Unwinding ones may spawn more: repeat until none.
    loop {
        let os_threads =
            std::mem::take(&mut *shared.os_threads.lock().unwrap_or_else(|e| e.into_inner()));
        if os_threads.is_empty() {
            break;
        }
        for (_, thread) in &os_threads {
            thread.request_cancel();
        }
        for (handle, _) in os_threads {
            let _ = handle.join();
        }
    }
}

impl Handle {
    /// The runtime the calling code runs on.
    ///
    /// ```
    /// let rt = zsync::Runtime::builder().worker_threads(3).build()?;
    /// let workers = rt.block_on(|| zsync::runtime::Handle::current().worker_threads());
    /// assert_eq!(workers, 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Panics
    /// Outside any zsync runtime, with a message that says so; see [`Handle::try_current`].
    pub fn current() -> Handle {
        Handle::try_current().expect(
            "zsync::runtime::Handle::current() called outside of a zsync runtime \
             (use Handle::try_current, or zsync::spawn, which falls back to the global runtime)",
        )
    }

    /// The runtime the calling code runs on, or `None` outside any zsync runtime.
    ///
    /// ```
    /// use zsync::runtime::Handle;
    /// assert!(Handle::try_current().is_none()); // a plain OS thread
    /// assert!(zsync::run(|| Handle::try_current().is_some()));
    /// ```
    pub fn try_current() -> Option<Handle> {
        context::current().runtime().map(|shared| Handle { shared })
    }

    /// Spawns a green thread on this runtime.
    ///
    /// ```
    /// let rt = zsync::Runtime::new()?;
    /// let handle = rt.handle();
    /// let h = std::thread::spawn(move || handle.spawn(|| "spawned from another OS thread"))
    ///     .join()
    ///     .unwrap();
    /// assert_eq!(h.join().unwrap(), "spawned from another OS thread");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// On a runtime that has shut down (its [`Runtime`] was dropped), or that is shutting down,
    /// the green thread is cancelled before it starts, as one still queued when the shutdown
    /// began: its closure is dropped unrun, and `join` returns `Err` with a [`crate::Cancelled`]
    /// payload.
    ///
    /// ```
    /// let rt = zsync::Runtime::new()?;
    /// let handle = rt.handle();
    /// drop(rt);
    /// let payload = handle.spawn(|| 7).join().unwrap_err();
    /// assert!(payload.is::<zsync::Cancelled>());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Panics
    /// If no stack can be mapped for it, or in a forked child if the runtime was built before
    /// `fork()` (see [`Runtime`]); [`crate::thread::Builder::spawn`] returns these as errors.
    pub fn spawn<F, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        spawn::spawn(Some(self), spawn::Options::default(), f)
            .unwrap_or_else(|err| panic!("zsync: failed to spawn a green thread: {err}"))
    }

    /// Runs `f` as a green thread on this runtime and blocks the calling thread (parks the
    /// calling green thread) until it returns; a panic in `f` is resumed here.
    ///
    /// ```
    /// let a = zsync::Runtime::new()?;
    /// let b = zsync::Runtime::builder().worker_threads(1).build()?;
    /// let on_b = b.handle();
    /// // A green thread of `a` waits (parked) for one on `b`.
    /// let answer = a.block_on(move || on_b.block_on(|| 6 * 7));
    /// assert_eq!(answer, 42);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Panics
    /// If `f` panics; as [`Handle::spawn`]; and, with the message "zsync: block_on: the runtime
    /// has shut down", on a runtime that has shut down (its [`Runtime`] was dropped) or that
    /// shuts down before `f` returns: there is no value to return (`f` never ran, or was
    /// cancelled).
    ///
    /// ```
    /// use std::panic::{catch_unwind, AssertUnwindSafe};
    /// let rt = zsync::Runtime::new()?;
    /// let handle = rt.handle();
    /// drop(rt);
    /// let caught = catch_unwind(AssertUnwindSafe(|| handle.block_on(|| 7)));
    /// let payload = caught.unwrap_err();
    /// let message = payload.downcast_ref::<&str>().unwrap();
    /// assert_eq!(*message, "zsync: block_on: the runtime has shut down");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn block_on<F, T>(&self, f: F) -> T
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        if self.shared.is_shut_down() {
            shut_down_block_on();
        }
        let root = self.spawn(f);
        let id = root.thread().id();
        self.shared
            .roots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(root.thread().clone());
        let result = root.join();
        self.shared
            .roots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|t| t.id() != id);
        match result {
            Ok(value) => value,
            Err(payload)
                if payload.is::<task::cancel::Cancelled>()
                    && self.shared.deadlocked.swap(false, Ordering::SeqCst) =>
            {
                panic!("zsync: {DEADLOCK}")
            }
            // Cancelled by the shutdown, before it started (the spawn raced the shutdown's
            // start) or while it ran.
            Err(payload)
                if payload.is::<task::cancel::Cancelled>() && self.shared.is_shut_down() =>
            {
                shut_down_block_on()
            }
            Err(payload) => std::panic::resume_unwind(payload),
        }
    }

    /// Counters and gauges of this runtime.
    ///
    /// ```
    /// use std::time::Duration;
    /// zsync::run(|| {
    ///     let handle = zsync::runtime::Handle::current();
    ///     let sleeper = zsync::spawn(|| zsync::thread::sleep(Duration::from_millis(20)));
    ///     let metrics = handle.metrics();
    ///     assert_eq!(metrics.live, 2); // this green thread and the sleeper
    ///     assert_eq!(metrics.workers.len(), handle.worker_threads());
    ///     sleeper.join().unwrap();
    /// });
    /// ```
    pub fn metrics(&self) -> Metrics {
        Metrics::collect(&self.shared)
    }

    /// Lists the runtime's live green threads; see [`Runtime::dump`].
    ///
    /// ```
    /// use zsync::runtime::{Handle, ThreadState};
    /// zsync::run(|| {
    ///     let me = zsync::thread::current().id();
    ///     let dump = Handle::current().dump();
    ///     let listed = dump.threads().iter().find(|t| t.id == me).unwrap();
    ///     assert_eq!(listed.state, ThreadState::Running);
    /// });
    /// ```
    pub fn dump(&self) -> Dump {
        dump::collect(&self.shared)
    }

    /// The number of worker OS threads.
    ///
    /// ```
    /// let rt = zsync::Runtime::builder().worker_threads(2).build()?;
    /// assert_eq!(rt.handle().worker_threads(), 2);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn worker_threads(&self) -> usize {
        self.shared.workers.len()
    }
}

/// Builds the default runtime, runs `f` on it as the first green thread, returns its value and
/// shuts the runtime down. A panic in `f` is resumed here.
///
/// ```
/// let sum = zsync::run(|| {
///     let handles: Vec<_> = (0..10).map(|i| zsync::spawn(move || i * i)).collect();
///     handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
/// });
/// assert_eq!(sum, 285);
/// ```
///
/// # Panics
/// If the runtime cannot start, or if `f` panics.
pub fn run<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let runtime = Runtime::new().unwrap_or_else(|err| panic!("zsync::run: {err}"));
    runtime.block_on(f)
}

pub(crate) use global::global_handle;

/// `block_on` on a runtime that has shut down (or did while it waited): no value to return.
#[cold]
#[track_caller]
fn shut_down_block_on() -> ! {
    panic!("zsync: block_on: the runtime has shut down")
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A handle of a green thread that finished, unparked from another OS thread after its
    /// runtime has gone: the wake is posted to a worker that takes nothing out of its inbox any
    /// more, and a post left there would hold the runtime forever (the post's task holds the
    /// runtime, and the runtime the inbox). The poster drops it (`Remote::post`), so the
    /// runtime goes with the handle's last reference.
    #[test]
    fn a_wake_posted_after_the_runtime_has_gone_does_not_keep_it_alive() {
        let runtime = Runtime::builder().worker_threads(1).build().unwrap();
        let weak = Arc::downgrade(&runtime.handle.shared);
        let finished = runtime.spawn(|| {});
        let thread = finished.thread().clone();
        finished.join().unwrap();
        drop(runtime);
        assert!(weak.upgrade().is_some(), "the handle holds the runtime");
        thread.unpark(); // from this OS thread: a post to the gone worker
        drop(thread);
        assert!(
            weak.upgrade().is_none(),
            "a stale post kept the runtime alive"
        );
    }
}

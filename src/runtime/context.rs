//! "Where am I running?": the one probe every part of zsync asks.
//!
//! [`current`] answers with one thread-local read: a green thread (with its worker and task), a
//! worker thread outside any green thread (the scheduler loop, a timer firing, a destructor run
//! by the worker), or a plain OS thread (any other thread, including the OS threads of a
//! `Flavor::OsThreads` runtime, whose runtime [`Current::runtime`] finds).
//! [`Current::in_runtime`] answers "inside a runtime?" without taking a count of it, for the
//! hot paths that ask on every call (every `zsync::fs` read).
//!
//! # The TLS trap
//!
//! The read (`probe`, under `current`) is `#[inline(never)]`: the thread-local's address is computed afresh at each call,
//! never cached by a caller across a stack switch (a compiler may hoist a TLS address out of a
//! loop that suspends; were a stack ever resumed on another OS thread, the cached address would
//! name the old thread's variable). What `current` *returns* may be kept across a suspension of
//! the calling green thread: a started green thread runs only on its owner worker, so the worker
//! and the task stay the same.

use super::task::{Task, TaskRef};
use super::worker::Worker;
use super::Shared;
use std::cell::Cell;
use std::sync::Arc;

thread_local! {
    /// The worker running on this OS thread, set by `worker::run` for the worker loop's life.
    static WORKER: Cell<*const Worker> = const { Cell::new(std::ptr::null()) };
}

/// Where the calling code runs.
#[derive(Clone, Copy)]
pub(crate) enum Current<'a> {
    /// A green thread, running on `worker`.
    Green {
        worker: &'a Worker,
        task: &'a TaskRef,
    },
    /// A worker thread, outside any green thread.
    Worker(&'a Worker),
    /// A plain OS thread (also one of a `Flavor::OsThreads` runtime).
    Os,
}

/// True if the caller is a green thread, running (whose worker must not wait in the kernel).
#[inline]
pub(crate) fn on_green_thread() -> bool {
    matches!(current(), Current::Green { .. })
}

/// Where the calling code runs; see the module docs. The references are valid as long as the
/// calling code runs: the worker for the whole worker loop, the task until it finishes (its
/// worker holds it while it runs, and a green thread's code runs only then).
#[inline(always)]
pub(crate) fn current<'a>() -> Current<'a> {
    let (worker, task) = probe();
    // SAFETY: `probe` returns this thread's worker, set by `worker::run` for the duration of
    // the worker loop (the Worker lives on that loop's stack frame), and `Worker::current`,
    // which points at the `TaskRef` in the worker's `resumed` slot for exactly the duration of
    // a resume (only the green thread runs meanwhile). The slot has one address for the
    // worker's life and holds the same task whenever this green thread runs, so the green
    // thread may keep the reference across its suspensions.
    match unsafe { (worker.as_ref(), task.as_ref()) } {
        (None, _) => Current::Os,
        (Some(worker), Some(task)) => Current::Green { worker, task },
        (Some(worker), None) => Current::Worker(worker),
    }
}

/// The one thread-local read: this thread's worker and its running task (null if none).
/// `#[inline(never)]` (see "The TLS trap" above); two words, returned in registers.
#[inline(never)]
fn probe() -> (*const Worker, *const TaskRef) {
    let worker = WORKER.with(Cell::get);
    if worker.is_null() {
        return (worker, std::ptr::null());
    }
    // SAFETY: a non-null worker pointer is live (see `current`).
    (worker, unsafe { (*worker).current.get() })
}

impl<'a> Current<'a> {
    /// The running green thread, if any.
    #[inline]
    pub(crate) fn task(self) -> Option<&'a Task> {
        match self {
            Current::Green { task, .. } => Some(task),
            _ => None,
        }
    }

    /// The worker of this OS thread, if it is one.
    #[inline]
    pub(crate) fn worker(self) -> Option<&'a Worker> {
        match self {
            Current::Green { worker, .. } | Current::Worker(worker) => Some(worker),
            Current::Os => None,
        }
    }

    /// The worker of this OS thread if it is one of `shared`'s (not another runtime's).
    #[inline]
    pub(crate) fn worker_of(self, shared: &Shared) -> Option<&'a Worker> {
        self.worker().filter(|worker| worker.of(shared))
    }

    /// The worker of this OS thread if it is worker `index` of `shared`: the owner worker of a
    /// green thread of `shared` whose owner index is `index`, found running this OS thread (so
    /// that green thread cannot run before this thread switches to it).
    #[inline]
    pub(crate) fn worker_at(self, shared: &Shared, index: usize) -> Option<&'a Worker> {
        self.worker().filter(|worker| worker.is(shared, index))
    }

    /// The runtime the calling code runs on: its worker's, or its `Flavor::OsThreads`
    /// runtime's (a second thread-local read, on OS threads only).
    pub(crate) fn runtime(self) -> Option<Arc<Shared>> {
        match self.worker() {
            Some(worker) => Some(worker.shared.clone()),
            None => self.os_threads_runtime(),
        }
    }

    /// Whether the calling code runs on a runtime: [`Current::runtime`]`.is_some()` without
    /// taking a count of the runtime. Asked by every `zsync::fs` call, on every worker at once:
    /// an `Arc` clone and drop there would be two atomic read-modify-writes on one shared cache
    /// line per call.
    #[inline]
    pub(crate) fn in_runtime(self) -> bool {
        match self {
            Current::Green { .. } | Current::Worker(_) => true,
            Current::Os => super::task::handle::os_thread_has_runtime(),
        }
    }

    /// The runtime of an OS thread of a `Flavor::OsThreads` runtime (`None` on any other
    /// thread, workers included).
    pub(crate) fn os_threads_runtime(self) -> Option<Arc<Shared>> {
        match self {
            Current::Os => super::task::handle::os_thread_runtime(),
            _ => None,
        }
    }
}

/// Makes `worker` (or null) this OS thread's worker: called by `worker::run` around its loop.
pub(super) fn set_worker(worker: *const Worker) {
    WORKER.with(|w| w.set(worker));
}

//! [`Thread`]: the handle of a green thread or an OS thread, and [`current`], the calling
//! thread's.
//!
//! A green thread's handle is its `TaskRef`. An OS thread's is an [`OsThread`], made on first
//! use for a plain thread (kept in the thread-local `OS_SELF`), or by `runtime::os_threads` for
//! the OS threads of a `Flavor::OsThreads` runtime (which also records its runtime there).

use super::id::ThreadId;
use super::TaskRef;
use crate::runtime::context::{self, Current};
use crate::runtime::worker::Worker;
use crate::runtime::Shared;
use std::cell::OnceCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The calling OS thread's worker, as [`Thread::on_this_worker`] found it, for a wake that
/// follows ([`Thread::unpark_on`]). Not `Send`: it stays on the OS thread that found it.
#[derive(Clone, Copy)]
#[cfg_attr(loom, allow(dead_code))] // loom models wake loom threads
pub(crate) struct ThisWorker<'w>(&'w Worker);

/// An OS thread as zsync sees it: a plain thread, or one spawned by a `Flavor::OsThreads`
/// runtime.
pub(crate) struct OsThread {
    pub(crate) id: ThreadId,
    pub(crate) name: Option<Arc<str>>,
    pub(crate) thread: std::thread::Thread,
    /// Its cancellation request (a green thread's is `Task::cancel`).
    pub(crate) cancel: AtomicBool,
    /// Its `park`/`unpark` token (a green thread's is `Task::unpark_token`).
    pub(crate) unpark_token: AtomicBool,
    pub(crate) runtime: Option<Arc<Shared>>,
}

thread_local! {
    static OS_SELF: OnceCell<Arc<OsThread>> = const { OnceCell::new() };
}

/// The calling OS thread's `OsThread`.
pub(crate) fn os_self() -> Arc<OsThread> {
    with_os_self(Arc::clone)
}

/// Runs `f` with the calling OS thread's `OsThread`, made on first use.
///
/// As a thread exits, its thread-locals are destroyed one by one, in no order a program can
/// rely on; a destructor of its own may still call zsync (std's `thread::sleep` works there).
/// One that runs after `OS_SELF` has gone gets a new `OsThread` for each call: it blocks as
/// std does, but has a new `ThreadId` each time and cannot be cancelled (nothing can reach it).
pub(crate) fn with_os_self<R>(f: impl FnOnce(&Arc<OsThread>) -> R) -> R {
    // Looked at first with `try_with` (`with` would panic, and a panic in a thread-local
    // destructor aborts); once alive it stays alive for this call: only this thread's exit
    // destroys it, and this thread is here.
    if OS_SELF.try_with(|_| ()).is_ok() {
        OS_SELF.with(|cell| f(cell.get_or_init(new_os_thread)))
    } else {
        f(&new_os_thread())
    }
}

/// A new `OsThread` for the calling OS thread, not yet known to zsync.
fn new_os_thread() -> Arc<OsThread> {
    let thread = std::thread::current();
    Arc::new(OsThread {
        id: ThreadId::next(),
        name: thread.name().map(Arc::from),
        thread,
        cancel: AtomicBool::new(false),
        unpark_token: AtomicBool::new(false),
        runtime: None,
    })
}

/// Makes the calling OS thread, just started by a `Flavor::OsThreads` runtime, known as `me`.
pub(crate) fn set_os_self(me: Arc<OsThread>) {
    OS_SELF.with(|cell| {
        let _ = cell.set(me);
    });
}

/// The runtime of a `Flavor::OsThreads` thread. `None` in a thread-local destructor that runs
/// after `OS_SELF`'s (see [`with_os_self`]): such a thread's spawns go to the global runtime.
pub(crate) fn os_thread_runtime() -> Option<Arc<Shared>> {
    OS_SELF
        .try_with(|cell| cell.get().and_then(|t| t.runtime.clone()))
        .ok()
        .flatten()
}

/// Whether the calling OS thread belongs to a `Flavor::OsThreads` runtime (no count taken);
/// false once its `OS_SELF` is gone, as [`os_thread_runtime`].
pub(crate) fn os_thread_has_runtime() -> bool {
    OS_SELF
        .try_with(|cell| cell.get().is_some_and(|t| t.runtime.is_some()))
        .unwrap_or(false)
}

/// A handle to a green thread or an OS thread, like `std::thread::Thread`.
#[derive(Clone)]
pub struct Thread(ThreadRef);

#[derive(Clone)]
enum ThreadRef {
    Green(TaskRef),
    Os(Arc<OsThread>),
}

impl Thread {
    pub(crate) fn green(task: TaskRef) -> Thread {
        Thread(ThreadRef::Green(task))
    }

    pub(crate) fn os(os: Arc<OsThread>) -> Thread {
        Thread(ThreadRef::Os(os))
    }

    /// The thread's unique identifier.
    pub fn id(&self) -> ThreadId {
        match &self.0 {
            ThreadRef::Green(task) => task.id,
            ThreadRef::Os(os) => os.id,
        }
    }

    /// The thread's name, if it has one.
    pub fn name(&self) -> Option<&str> {
        match &self.0 {
            ThreadRef::Green(task) => task.name.as_deref(),
            ThreadRef::Os(os) => os.name.as_deref(),
        }
    }

    /// Makes the thread's token available, waking it if it is parked, as
    /// `std::thread::Thread::unpark` does.
    pub fn unpark(&self) {
        self.token().store(true, Ordering::Release);
        self.wake();
    }

    /// The thread's `park`/`unpark` token: the user's, apart from the wakes of zsync's own
    /// waits (a sleep, a lock, a join, a socket), which would otherwise take it, as std's do
    /// not.
    #[inline]
    fn token(&self) -> &AtomicBool {
        match &self.0 {
            ThreadRef::Green(task) => &task.unpark_token,
            ThreadRef::Os(os) => &os.unpark_token,
        }
    }

    /// Wakes the thread if it is parked, or makes its next park return at once: the wake of
    /// zsync's own waits, which look again at what they wait for and park again if it is not
    /// there. Leaves the user's token alone (see [`unpark`](Self::unpark)).
    pub(crate) fn wake(&self) {
        match &self.0 {
            ThreadRef::Green(task) => task.unpark(),
            ThreadRef::Os(os) => os.thread.unpark(),
        }
    }

    /// The calling OS thread's worker, if this is a green thread that worker owns. Such a
    /// thread does not run, and so cannot return from anything, before this OS thread switches
    /// to it: a caller on this worker may touch what it left on its stack until then, and wake
    /// it with [`unpark_on`](Self::unpark_on) without looking again where it runs.
    #[cfg_attr(loom, allow(dead_code))] // loom models wake loom threads
    #[inline]
    pub(crate) fn on_this_worker<'w>(&self) -> Option<ThisWorker<'w>> {
        match &self.0 {
            ThreadRef::Green(task) => context::current()
                .worker_at(&task.shared, task.owner.load(Ordering::Relaxed) as usize)
                .map(ThisWorker),
            ThreadRef::Os(_) => None,
        }
    }

    /// [`unpark`](Self::unpark) for a thread that [`on_this_worker`](Self::on_this_worker)
    /// found owned by `worker`: a plain change of its park word and a place in the worker's
    /// ready queue, without a second thread-local read. (The ownership is looked at again,
    /// two loads: a `worker` found for another thread gets the ordinary `unpark`.)
    #[cfg_attr(loom, allow(dead_code))]
    #[inline]
    pub(crate) fn unpark_on(&self, worker: ThisWorker<'_>) {
        match &self.0 {
            ThreadRef::Green(task)
                if worker
                    .0
                    .is(&task.shared, task.owner.load(Ordering::Relaxed) as usize) =>
            {
                task.wake_on(worker.0)
            }
            _ => self.wake(),
        }
    }

    /// Whether `self` and `other` are handles of the same thread: one comparison of pointers.
    #[inline]
    pub(crate) fn is(&self, other: &Thread) -> bool {
        match (&self.0, &other.0) {
            (ThreadRef::Green(a), ThreadRef::Green(b)) => TaskRef::as_ptr(a) == TaskRef::as_ptr(b),
            (ThreadRef::Os(a), ThreadRef::Os(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }

    pub(crate) fn request_cancel(&self) {
        match &self.0 {
            ThreadRef::Green(task) => task.request_cancel(),
            ThreadRef::Os(os) => {
                os.cancel.store(true, Ordering::Release);
                os.thread.unpark();
            }
        }
    }
}

// A `Thread` only reads its id and name and unparks (all safe to use after a panic), like std's,
// which is unwind safe too.
impl std::panic::UnwindSafe for Thread {}
impl std::panic::RefUnwindSafe for Thread {}

impl crate::reactor::Unpark for Thread {
    fn wake(&self) {
        Thread::wake(self)
    }
}

impl std::fmt::Debug for Thread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // std's fields, word for word (a green thread and an OS thread print alike).
        f.debug_struct("Thread")
            .field("id", &self.id())
            .field("name", &self.name())
            .finish_non_exhaustive()
    }
}

/// The calling thread: a green thread or an OS thread.
pub fn current() -> Thread {
    match context::current() {
        Current::Green { task, .. } => Thread::green(task.clone()),
        _ => Thread::os(os_self()),
    }
}

/// The calling thread's handle without a reference count of its own: what [`current`]
/// returns, minus two atomic operations (for waiters on hot paths). It must not be dropped (it
/// is in a `ManuallyDrop`); clones are ordinary handles.
///
/// # Safety
/// The handle, and references taken from it, are used only while the calling thread is alive
/// (a green thread's task is kept alive by its worker until it finishes; an OS thread's by its
/// thread-local).
#[cfg_attr(loom, allow(dead_code))] // loom models park loom threads instead
#[inline]
pub(crate) unsafe fn current_unowned() -> std::mem::ManuallyDrop<Thread> {
    match context::current() {
        // SAFETY: a running task is counted by `TaskRef`s; the handle is never dropped, so no
        // count is released that was not taken.
        Current::Green { task, .. } => std::mem::ManuallyDrop::new(Thread::green(unsafe {
            TaskRef::from_raw(TaskRef::as_ptr(task))
        })),
        // SAFETY: the caller's promise, passed on.
        _ => unsafe { os_current_unowned() },
    }
}

/// [`current_unowned`] on an OS thread (out of line: the thread-local `OsThread`, made on
/// first use).
///
/// # Safety
/// As for [`current_unowned`].
#[cfg_attr(loom, allow(dead_code))]
#[inline(never)]
unsafe fn os_current_unowned() -> std::mem::ManuallyDrop<Thread> {
    let cached = OS_SELF.try_with(|cell| {
        let me = cell.get_or_init(new_os_thread);
        // SAFETY: as for a green thread's, for the thread-local `Arc` of this OS thread.
        std::mem::ManuallyDrop::new(Thread::os(unsafe { Arc::from_raw(Arc::as_ptr(me)) }))
    });
    // In a thread-local destructor that runs after `OS_SELF`'s (see `with_os_self`) there is
    // nothing to borrow from: a handle of its own, which is never dropped, so that its
    // `OsThread` leaks (a few dozen bytes per waiting zsync call such a destructor makes).
    cached.unwrap_or_else(|_| std::mem::ManuallyDrop::new(Thread::os(new_os_thread())))
}

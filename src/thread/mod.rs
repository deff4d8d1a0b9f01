//! Green threads, shaped like `std::thread`.
//!
//! Every function here works on a green thread, where blocking parks only the green thread, and
//! on a plain OS thread, where it blocks like std.
//!
//! ```
//! use std::time::Duration;
//! let handle = zsync::thread::Builder::new()
//!     .name("worker".into())
//!     .spawn(|| {
//!         zsync::thread::sleep(Duration::from_millis(1));
//!         zsync::thread::current().name().map(str::to_owned)
//!     })?;
//! assert_eq!(handle.join().unwrap().as_deref(), Some("worker"));
//! # Ok::<(), std::io::Error>(())
//! ```

mod cancel;
pub(crate) mod join;
mod panic_hook;
pub(crate) mod park_state;
mod scope;
pub(crate) mod task;

pub use crate::future::JoinFuture;
pub use cancel::Cancelled;
pub use scope::{scope, Scope, ScopedJoinHandle};

pub(crate) use panic_hook::install as install_panic_hook;

use crate::coro::Stack;
use crate::future::Joiner;
use crate::runtime::{Flavor, Handle, Shared};
use cancel::{Check, ParkPoint, TimedOut};
use join::{Packet, Unpark};
use std::cell::{OnceCell, RefCell};
use std::io;
use std::num::NonZeroU64;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use task::{Reason, Start, Task, TaskRef};

/// `std::thread::Result`: `Err` holds the panic payload.
pub type Result<T> = std::thread::Result<T>;

/// A unique identifier for a green thread or an OS thread, like `std::thread::ThreadId`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ThreadId(NonZeroU64);

impl ThreadId {
    pub(crate) fn next() -> ThreadId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        ThreadId(NonZeroU64::new(id).expect("ThreadId counter overflowed"))
    }

    /// The identifier as a number, unique for the life of the process.
    pub fn as_u64(&self) -> NonZeroU64 {
        self.0
    }
}

impl std::fmt::Debug for ThreadId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ThreadId({})", self.0)
    }
}

/// An OS thread as zsync sees it: a plain thread, or one spawned by a `Flavor::OsThreads`
/// runtime.
pub(crate) struct OsThread {
    id: ThreadId,
    name: Option<Arc<str>>,
    thread: std::thread::Thread,
    cancel: AtomicBool,
    runtime: Option<Arc<Shared>>,
}

thread_local! {
    static OS_SELF: OnceCell<Arc<OsThread>> = const { OnceCell::new() };
    static OS_PARK_POINT: RefCell<ParkPoint> = RefCell::new(ParkPoint::new());
}

fn os_self() -> Arc<OsThread> {
    with_os_self(Arc::clone)
}

fn with_os_self<R>(f: impl FnOnce(&Arc<OsThread>) -> R) -> R {
    OS_SELF.with(|cell| {
        f(cell.get_or_init(|| {
            let thread = std::thread::current();
            Arc::new(OsThread {
                id: ThreadId::next(),
                name: thread.name().map(Arc::from),
                thread,
                cancel: AtomicBool::new(false),
                runtime: None,
            })
        }))
    })
}

/// The runtime of a `Flavor::OsThreads` thread.
pub(crate) fn os_thread_runtime() -> Option<Arc<Shared>> {
    OS_SELF.with(|cell| cell.get().and_then(|t| t.runtime.clone()))
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
        match &self.0 {
            ThreadRef::Green(task) => task.unpark(),
            ThreadRef::Os(os) => os.thread.unpark(),
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

impl Unpark for Thread {
    fn unpark(&self) {
        Thread::unpark(self)
    }
}

impl std::fmt::Debug for Thread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Thread")
            .field("id", &self.id())
            .field("name", &self.name())
            .field("green", &matches!(self.0, ThreadRef::Green(_)))
            .finish()
    }
}

/// The green thread running here, if any.
fn current_task<'a>() -> Option<&'a Task> {
    // SAFETY: the worker keeps the running task alive (in its `owned` map) while it runs, and
    // a green thread only asks about itself.
    unsafe { crate::runtime::worker::current_task().as_ref() }
}

/// The calling thread: a green thread or an OS thread.
pub fn current() -> Thread {
    match crate::runtime::worker::with_worker(|w| w.current_ref()).flatten() {
        Some(task) => Thread(ThreadRef::Green(task)),
        None => Thread(ThreadRef::Os(os_self())),
    }
}

/// The calling thread's handle without a reference count of its own: what
/// [`current`] returns, minus two atomic operations (for waiters on hot paths). It must not be
/// dropped (it is in a `ManuallyDrop`); clones are ordinary handles.
///
/// # Safety
/// The handle, and references taken from it, are used only while the calling thread is alive
/// (a green thread's task is kept alive by its worker until it finishes; an OS thread's by its
/// thread-local).
#[cfg_attr(loom, allow(dead_code))] // loom models park loom threads instead
pub(crate) unsafe fn current_unowned() -> std::mem::ManuallyDrop<Thread> {
    let thread = match current_task() {
        // SAFETY: a running task lives in an `Arc` (a `TaskRef`); the handle is never dropped,
        // so no count is released that was not taken.
        Some(task) => Thread(ThreadRef::Green(unsafe { Arc::from_raw(task) })),
        // SAFETY: as above, for the thread-local `Arc` of this OS thread.
        None => with_os_self(|me| Thread(ThreadRef::Os(unsafe { Arc::from_raw(Arc::as_ptr(me)) }))),
    };
    std::mem::ManuallyDrop::new(thread)
}

/// Runs `f` with the calling thread's park-point state and cancellation flag.
fn with_park_point<R>(f: impl FnOnce(&mut ParkPoint, &AtomicBool) -> R) -> R {
    match current_task() {
        // SAFETY: we are this green thread, running.
        Some(task) => f(&mut unsafe { task.local() }.park_point, &task.cancel),
        None => {
            let me = os_self();
            OS_PARK_POINT.with(|pp| f(&mut pp.borrow_mut(), &me.cancel))
        }
    }
}

/// A park point: raises a pending cancellation or timeout, or, if it cannot be raised yet
/// (see `cancel`'s module docs), makes sure the green thread is woken when it can.
fn park_point() {
    match current_task() {
        Some(task) => {
            // SAFETY: we are this green thread, running; the reference ends before the raise
            // leaves this frame (`check` raises last, with nothing borrowed after it).
            let pp = &mut unsafe { task.local() }.park_point;
            if pp.check(&task.cancel) == Check::Deferred && !pp.deferred {
                pp.deferred = true;
                crate::runtime::worker::defer_until_unwound();
            }
        }
        None => {
            // The raise happens outside the borrow of the OS thread's state. An OS thread that
            // defers is itself unwinding: it reaches a park point again after the unwind ends.
            let me = os_self();
            let raise = OS_PARK_POINT.with(|pp| {
                let mut pp = pp.borrow_mut();
                catch_unwind(AssertUnwindSafe(|| pp.check(&me.cancel))).err()
            });
            if let Some(payload) = raise {
                std::panic::resume_unwind(payload);
            }
        }
    }
}

/// Suspends the running green thread to its worker.
fn suspend(task: &Task, reason: Reason) {
    // SAFETY: we are this green thread, running; the reference ends before the switch.
    let suspender = {
        let local = unsafe { task.local() };
        local.reason = reason;
        local.suspender
    };
    // SAFETY: set at the first resume; it lives on this green thread's stack.
    unsafe { (*suspender).suspend() };
}

/// Parks the calling thread until it is unparked, `deadline` passes, a `timeout()` expires or
/// it is cancelled (the last two raise). May return spuriously, like std's park.
pub(crate) fn park_until(deadline: Option<Instant>) {
    park_until_woken(deadline);
    park_point();
}

/// Like [`park_until`], but a park point only on the way in: a request that arrives while the
/// thread is parked wakes it without raising, so that the caller can first look at what else
/// woke it. A waiter that was handed a message, a lock or a permit returns with it (the send or
/// the lock took effect), and the request is raised at its next park point; a waiter that was
/// not parks again, which raises.
pub(crate) fn park_until_woken(deadline: Option<Instant>) {
    park_point();
    let wake_at = with_park_point(|pp, _| pp.wake_deadline());
    let wake_at = match (deadline, wake_at) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    match current_task() {
        Some(task) => {
            if !task.park.take_token() {
                let timer = wake_at.and_then(|at| {
                    let me = crate::runtime::worker::with_worker(|w| w.current_ref()).flatten()?;
                    crate::runtime::worker::add_timer(at, me)
                });
                suspend(task, Reason::Park);
                if let Some(key) = timer {
                    crate::runtime::worker::cancel_timer(key);
                }
            }
        }
        None => match wake_at {
            Some(at) => std::thread::park_timeout(at.saturating_duration_since(Instant::now())),
            None => std::thread::park(),
        },
    }
}

/// Blocks the calling thread until its token is available, like `std::thread::park`; on a green
/// thread only the green thread waits. A park point: a pending cancellation unwinds from here.
pub fn park() {
    park_until(None);
}

/// Like [`park`], but gives up after `dur`.
pub fn park_timeout(dur: Duration) {
    park_until(Instant::now().checked_add(dur));
}

/// Lets other green threads on this worker run (on an OS thread: `std::thread::yield_now`). A
/// park point.
pub fn yield_now() {
    park_point();
    match current_task() {
        Some(task) => suspend(task, Reason::Yield),
        None => std::thread::yield_now(),
    }
    park_point();
}

/// Puts the calling thread to sleep for at least `dur`; the same function as
/// [`zsync::time::sleep`](crate::time::sleep).
pub fn sleep(dur: Duration) {
    crate::time::sleep(dur)
}

/// True while the calling green thread (or OS thread) is unwinding, like
/// `std::thread::panicking`, but answered for the green thread, not the OS thread under it.
pub fn panicking() -> bool {
    match current_task() {
        // SAFETY: we are this green thread, running.
        // std's own answer is per OS thread: another green thread may be suspended mid-unwind
        // on this worker. The park point knows whether this one started a panic or an unwind.
        Some(task) => unsafe { task.local() }.park_point.unwinding(),
        None => std::thread::panicking(),
    }
}

/// Runs `f` with cancellation and `timeout()` held back: they are delivered at the first park
/// point after `f` returns.
///
/// ```
/// let value = zsync::thread::shield(|| {
///     zsync::thread::yield_now(); // not a cancellation point in here
///     5
/// });
/// assert_eq!(value, 5);
/// ```
pub fn shield<T>(f: impl FnOnce() -> T) -> T {
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            with_park_point(|pp, _| pp.leave_shield());
        }
    }
    with_park_point(|pp, _| pp.enter_shield());
    let _leave = Leave;
    f()
}

/// A park point that does not park: CPU-bound loops call it to stay cancellable.
pub fn check_cancel() {
    park_point();
}

/// Records that this OS thread (not a green thread) started a panic: the panic hook's half for
/// OS threads.
fn note_os_thread_panic() {
    let _ = OS_PARK_POINT.try_with(|pp| {
        if let Ok(mut pp) = pp.try_borrow_mut() {
            pp.panic_starts();
        }
    });
}

/// Whether the calling green thread (or OS thread) is unwinding from a panic, as opposed to a
/// cancellation or an expired `timeout()`: what poisons a lock.
pub(crate) fn unwinding_from_panic() -> bool {
    match current_task() {
        // SAFETY: we are this green thread, running.
        Some(task) => unsafe { task.local() }
            .park_point
            .unwinding_from_panic(false),
        None => OS_PARK_POINT
            .try_with(|pp| match pp.try_borrow_mut() {
                Ok(mut pp) => pp.unwinding_from_panic(true),
                Err(_) => std::thread::panicking(),
            })
            .unwrap_or_else(|_| std::thread::panicking()),
    }
}

/// The earliest `timeout()` deadline of the calling thread, if any.
pub(crate) fn wake_deadline() -> Option<Instant> {
    with_park_point(|pp, _| pp.wake_deadline())
}

pub(crate) fn enter_timeout(deadline: Instant) -> u64 {
    with_park_point(|pp, _| pp.push_timeout(deadline))
}

pub(crate) fn leave_timeout(id: u64) {
    with_park_point(|pp, _| pp.pop_timeout(id));
}

/// If `payload` is the timeout `id`'s own unwind, consumes it: that unwind is over.
pub(crate) fn is_own_timeout(payload: &(dyn std::any::Any + Send), id: u64) -> bool {
    let own = payload
        .downcast_ref::<TimedOut>()
        .is_some_and(|t| t.id == id);
    if own {
        with_park_point(|pp, _| pp.caught_timeout());
    }
    own
}

/// Green-thread factory, like `std::thread::Builder`.
#[derive(Debug, Default)]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl Builder {
    /// A builder with no name and the runtime's default stack size.
    pub fn new() -> Builder {
        Builder::default()
    }

    /// Names the green thread (shown by `Thread::name` and in stack-overflow reports).
    ///
    /// A name with a NUL byte makes [`spawn`](Builder::spawn) return `InvalidInput` (where
    /// `std::thread::Builder::spawn` panics), on either runtime flavor.
    ///
    /// ```
    /// let err = zsync::thread::Builder::new().name("a\0b".into()).spawn(|| ()).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    /// ```
    pub fn name(mut self, name: String) -> Builder {
        self.name = Some(name);
        self
    }

    /// The green thread's stack size in bytes: a smaller size is raised to the minimum (16
    /// KiB), as std raises one below its own, and sizes are rounded up to pages. A size that
    /// cannot be honoured (too large to map) makes [`spawn`](Builder::spawn) return an error,
    /// never panic.
    ///
    /// ```
    /// let err = zsync::thread::Builder::new().stack_size(usize::MAX).spawn(|| ()).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    /// ```
    pub fn stack_size(mut self, size: usize) -> Builder {
        // Like std, which rounds a size below its minimum up instead of refusing it.
        self.stack_size = Some(size.max(crate::coro::MIN_STACK_SIZE));
        self
    }

    /// Spawns the green thread on the current runtime, or on the global one outside any.
    ///
    /// # Errors
    /// `InvalidInput` for a bad stack size or a name with a NUL byte; `OutOfMemory` when no
    /// stack can be mapped, with a message that names the limit (for example
    /// `vm.max_map_count`) and how to raise it; the OS error if a `Flavor::OsThreads` runtime
    /// cannot start an OS thread; an error naming the mistake if the runtime was built before
    /// `fork()` in the parent of this process.
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let handle = Handle::try_current().unwrap_or_else(crate::runtime::global_handle);
        self.spawn_on(&handle, f)
    }

    pub(crate) fn spawn_on<F, T>(self, handle: &Handle, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        // SAFETY: F and T are 'static.
        unsafe { self.spawn_unchecked(handle, f, ()) }
    }

    /// Spawns without the `'static` bounds (for scoped threads). `last` is dropped after
    /// everything else the thread holds, its share of the join packet included, even if the
    /// closure never runs.
    ///
    /// # Safety
    /// The caller makes sure that nothing `f` or its result borrow goes away before `last` has
    /// been dropped.
    pub(crate) unsafe fn spawn_unchecked<'a, F, T, L>(
        self,
        handle: &Handle,
        f: F,
        last: L,
    ) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'a,
        T: Send + 'a,
        L: Send + 'a,
    {
        let shared = &handle.shared;
        check_spawn(shared, self.name.as_deref())?;
        let name: Option<Arc<str>> = self.name.map(Arc::from);
        let packet: Arc<Packet<Result<T>, Joiner>> = Arc::new(Packet::new());
        // Fields drop in order: the packet share first, `last` after it.
        struct Tail<T, L> {
            completer: Completer<T>,
            _last: L,
        }
        let tail = Tail {
            completer: Completer(Some(packet.clone())),
            _last: last,
        };
        let body = move |start: Start| {
            let mut tail = tail;
            let result = match start {
                Start::Run => catch_unwind(AssertUnwindSafe(f)),
                Start::Fail(err) => Err(Box::new(err) as Box<dyn std::any::Any + Send>),
            };
            tail.completer.complete(result);
        };
        let body: Box<dyn FnOnce(Start) + Send + 'a> = Box::new(body);
        // SAFETY: lifetime erasure; the caller guarantees the borrows outlive the thread.
        let body: Box<dyn FnOnce(Start) + Send + 'static> = unsafe { std::mem::transmute(body) };

        match shared.flavor {
            Flavor::GreenThreads => {
                // The starting worker maps the stack from its pool (see `Body::New`), unless the
                // thread wants a size of its own or mapping is failing right now: then map it
                // here, so that an error reaches this caller.
                let stack = match self.stack_size {
                    Some(size) => Some(Stack::new(size)?),
                    None if shared.stack_exhausted.load(Ordering::Relaxed) => {
                        Some(Stack::new(shared.stack_size)?)
                    }
                    None => None,
                };
                let task = Task::new(shared.clone(), name, stack, body);
                let thread = Thread(ThreadRef::Green(task.clone()));
                shared.live.fetch_add(1, Ordering::AcqRel);
                if let Some(task) = crate::runtime::worker::push_fresh(shared, task) {
                    shared.external_spawns.fetch_add(1, Ordering::Relaxed);
                    shared.injector.push(task);
                }
                shared.notify_one();
                Ok(JoinHandle { packet, thread })
            }
            Flavor::OsThreads => {
                let mut builder = std::thread::Builder::new();
                if let Some(name) = &name {
                    builder = builder.name(name.to_string());
                }
                if let Some(size) = self.stack_size {
                    crate::coro::Stack::new(size)?; // same validation as for green threads
                    builder = builder.stack_size(size);
                }
                let runtime = shared.clone();
                let body = move || body(Start::Run);
                let (tx, rx) = std::sync::mpsc::channel::<Arc<OsThread>>();
                let thread_name = name.clone();
                let counted = LiveCount::enter(shared);
                let live = shared.clone();
                let os = builder.spawn(move || {
                    let me = Arc::new(OsThread {
                        id: ThreadId::next(),
                        name: thread_name,
                        thread: std::thread::current(),
                        cancel: AtomicBool::new(false),
                        runtime: Some(runtime),
                    });
                    OS_SELF.with(|cell| {
                        let _ = cell.set(me.clone());
                    });
                    let _ = tx.send(me);
                    body();
                    live.live.fetch_sub(1, Ordering::AcqRel);
                });
                let os = os.map_err(os_thread_error)?;
                counted.keep();
                let me = rx
                    .recv()
                    .map_err(|_| io::Error::other("the new OS thread died at once"))?;
                shared
                    .os_threads
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((os, Thread(ThreadRef::Os(me.clone()))));
                Ok(JoinHandle {
                    packet,
                    thread: Thread(ThreadRef::Os(me)),
                })
            }
        }
    }
}

/// Checks a spawn before anything is allocated for it: the runtime must be usable in this
/// process, and the name must be one an OS thread can have.
fn check_spawn(shared: &Shared, name: Option<&str>) -> io::Result<()> {
    if shared.forked_away() {
        return Err(io::Error::other(crate::runtime::FORKED_RUNTIME));
    }
    match name {
        Some(name) => check_thread_name(name, "thread::Builder::name"),
        None => Ok(()),
    }
}

/// `InvalidInput` if `name` cannot be a thread name: it holds a NUL byte. (`std` panics on one;
/// zsync reports it.) `what` names the setting, for the message.
pub(crate) fn check_thread_name(name: &str, what: &str) -> io::Result<()> {
    match name.find('\0') {
        Some(at) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what}: the thread name {name:?} holds a NUL byte (at byte {at})"),
        )),
        None => Ok(()),
    }
}

/// An OS thread counted in its runtime's `live` until it is known to have started: dropped
/// before [`keep`](LiveCount::keep) (the spawn failed or panicked), it uncounts it.
struct LiveCount<'a>(Option<&'a Shared>);

impl<'a> LiveCount<'a> {
    fn enter(shared: &'a Shared) -> LiveCount<'a> {
        shared.live.fetch_add(1, Ordering::AcqRel);
        LiveCount(Some(shared))
    }

    /// The thread started: from now on it uncounts itself when it ends.
    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for LiveCount<'_> {
    fn drop(&mut self) {
        if let Some(shared) = self.0 {
            shared.live.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// The error of an OS thread of a `Flavor::OsThreads` runtime that cannot start.
fn os_thread_error(err: io::Error) -> io::Error {
    io::Error::new(
        err.kind(),
        format!(
            "cannot start an OS thread for a Flavor::OsThreads runtime: {err} ({})",
            crate::runtime::THREAD_LIMITS
        ),
    )
}

/// Completes a join packet exactly once: with the closure's result, or with `Cancelled` if the
/// closure is dropped without running (its runtime shut down first).
struct Completer<T>(Option<Arc<Packet<Result<T>, Joiner>>>);

impl<T> Completer<T> {
    fn complete(&mut self, result: Result<T>) {
        if let Some(packet) = self.0.take() {
            packet.complete(result);
        }
    }
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        self.complete(Err(Box::new(Cancelled::new())));
    }
}

/// Spawns a green thread, like `std::thread::spawn`: on the current runtime, or on the global
/// one outside any.
///
/// ```
/// let h = zsync::thread::spawn(|| "hello from a green thread");
/// assert_eq!(h.join().unwrap(), "hello from a green thread");
/// ```
///
/// # Panics
/// If no stack can be mapped (the message names the limit), like `std::thread::spawn`.
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    Builder::new()
        .spawn(f)
        .unwrap_or_else(|err| panic!("zsync: failed to spawn a green thread: {err}"))
}

/// An owned permission to join a green thread, like `std::thread::JoinHandle`. Dropping it
/// detaches the thread.
pub struct JoinHandle<T> {
    pub(crate) packet: Arc<Packet<Result<T>, Joiner>>,
    thread: Thread,
}

// SAFETY: every way to create a `JoinHandle<T>` (the `spawn` functions) requires `T: Send`, so
// the result may be handed to whichever thread joins; and `&JoinHandle` gives no access to a
// `T` at all (only `thread()` and `is_finished()`). std makes the same promise, for every `T`.
unsafe impl<T> Send for JoinHandle<T> {}
// SAFETY: see above.
unsafe impl<T> Sync for JoinHandle<T> {}

impl<T> std::fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinHandle")
            .field("thread", &self.thread)
            .finish_non_exhaustive()
    }
}

impl<T> JoinHandle<T> {
    /// Waits for the thread to finish: `Ok` with its value, or `Err` with its panic payload.
    /// A park point.
    pub fn join(self) -> Result<T> {
        self.packet.wait(Joiner::Thread(current()), park)
    }

    /// True once the thread has finished.
    pub fn is_finished(&self) -> bool {
        self.packet.is_done()
    }

    /// The thread's handle.
    pub fn thread(&self) -> &Thread {
        &self.thread
    }

    /// Asks the thread to stop and waits until it has unwound: `Ok(value)` if it had already
    /// finished, or `Err(payload)` with `payload.is::<Cancelled>()` if it was cancelled. The
    /// cancellation is delivered at the thread's next park point; a thread that never parks
    /// cannot be cancelled until it does.
    pub fn cancel(self) -> Result<T> {
        if !self.packet.is_done() {
            self.thread.request_cancel();
        }
        self.join()
    }
}

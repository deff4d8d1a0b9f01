//! Where a green thread is created: a [`Task`] is allocated with the closure and its join packet
//! behind it, in one allocation (`task::cell`; scoped threads box their closure, see
//! `spawn_unchecked`), and put in a run queue: the spawning worker's `next` slot (its previous
//! occupant moves to the `fresh` queue), or the injector from outside the runtime. A worker
//! starts it later (worker.rs `start`). For a `Flavor::OsThreads` runtime the closure is boxed
//! and runs on an OS thread instead (`os_threads.rs`).

use super::context::{self, Current};
use super::task::cell::Tail;
use super::task::handle::Thread;
use super::task::join::{JoinHandle, JoinPacket, Packet, PacketRef};
use super::task::{cancel::Cancelled, Start, Task, TaskRef};
use super::{os_threads, Flavor, Handle, Shared};
use crate::coro::Stack;
use std::cell::UnsafeCell;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// A spawned closure, boxed once, with its result going to its join packet.
pub(crate) type Body = Box<dyn FnOnce(Start) + Send + 'static>;

/// What `thread::Builder` sets.
#[derive(Debug, Default)]
pub(crate) struct Options {
    pub(crate) name: Option<String>,
    pub(crate) stack_size: Option<usize>,
}

/// Spawns `f` on the runtime of `handle`; `None`: on the current runtime, or on the global one
/// outside any.
pub(crate) fn spawn<F, T>(
    handle: Option<&Handle>,
    options: Options,
    f: F,
) -> io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let here = context::current();
    let runtime = Target::find(handle, here);
    if matches!(runtime.flavor, Flavor::OsThreads) {
        // SAFETY: F and T are 'static.
        return unsafe { spawn_unchecked(handle, options, f, ()) };
    }
    check_spawn(&runtime, options.name.as_deref())?;
    // One allocation: the task, the closure and the join packet (see `task::cell`).
    let tail = Spawned {
        f: UnsafeCell::new(Some(f)),
        packet: Packet::new(),
    };
    let task = spawn_green(&runtime, here, options, tail)?;
    // SAFETY: the cell is `Cell<Spawned<F, T>>` (made just above), and its task outlives the
    // pointer: the handle keeps the task (its `thread`) as long as the pointer.
    let packet = unsafe { Spawned::<F, T>::packet(&task) };
    Ok(JoinHandle {
        packet: PacketRef::InTask(packet),
        thread: Thread::green(task),
    })
}

/// Spawns without the `'static` bounds (for scoped threads). `last` is dropped after
/// everything else the thread holds, its share of the join packet included, even if the
/// closure never runs.
///
/// # Safety
/// The caller makes sure that nothing `f` or its result borrow goes away before `last` has
/// been dropped.
pub(crate) unsafe fn spawn_unchecked<'a, F, T, L>(
    handle: Option<&Handle>,
    options: Options,
    f: F,
    last: L,
) -> io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'a,
    T: Send + 'a,
    L: Send + 'a,
{
    let here = context::current();
    let runtime = Target::find(handle, here);
    check_spawn(&runtime, options.name.as_deref())?;
    // The packet in an allocation of its own: its result may borrow what `last` guards, so the
    // thread's share must go before `last`, however long `Thread` handles keep the task.
    let packet: Arc<JoinPacket<T>> = Arc::new(Packet::new());
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
        tail.completer.complete(outcome(f, start));
    };
    let body: Box<dyn FnOnce(Start) + Send + 'a> = Box::new(body);
    // SAFETY: lifetime erasure; the caller guarantees the borrows outlive the thread.
    let body: Body = unsafe { std::mem::transmute(body) };
    let thread = match runtime.flavor {
        Flavor::GreenThreads => Thread::green(spawn_green(
            &runtime,
            here,
            options,
            Boxed(UnsafeCell::new(Some(body))),
        )?),
        Flavor::OsThreads => {
            let name = options.name.map(Arc::from);
            os_threads::spawn(&runtime, name, options.stack_size, body)?
        }
    };
    Ok(JoinHandle {
        packet: PacketRef::Shared(packet),
        thread,
    })
}

/// The runtime a spawn goes to: the one given, the current one, or the global one.
enum Target<'a> {
    Given(&'a Arc<Shared>),
    Global(Handle),
}

impl<'a> Target<'a> {
    /// One look at where we are: it finds the runtime without an `Arc` clone on a worker.
    #[inline]
    fn find(handle: Option<&'a Handle>, here: Current<'a>) -> Target<'a> {
        match (handle, here.worker()) {
            (Some(handle), _) => Target::Given(&handle.shared),
            (None, Some(worker)) => Target::Given(&worker.shared),
            (None, None) => Target::Global(
                here.os_threads_runtime()
                    .map(|shared| Handle { shared })
                    .unwrap_or_else(super::global_handle),
            ),
        }
    }
}

impl std::ops::Deref for Target<'_> {
    type Target = Arc<Shared>;

    fn deref(&self) -> &Arc<Shared> {
        match self {
            Target::Given(shared) => shared,
            Target::Global(handle) => &handle.shared,
        }
    }
}

/// What a spawned closure's start gives its joiner: the closure's value or panic, or, if it is
/// dropped unrun, why (a panic of a captured value's destructor wins).
fn outcome<F: FnOnce() -> T, T>(f: F, start: Start) -> std::thread::Result<T> {
    let reason: Box<dyn std::any::Any + Send> = match start {
        Start::Run => return catch_unwind(AssertUnwindSafe(f)),
        Start::Fail(err) => Box::new(err),
        Start::Cancel => Box::new(Cancelled::new()),
    };
    catch_unwind(AssertUnwindSafe(|| drop(f)))?;
    Err(reason)
}

/// The tail of a `'static` green thread's task (see `task::cell`): its closure, until it
/// starts, and its join packet.
struct Spawned<F, T> {
    f: UnsafeCell<Option<F>>,
    packet: JoinPacket<T>,
}

// SAFETY: the closure is touched only by the task's `Unstarted` token (one holder at a time,
// and `F: Send`), the packet is Send (`T: Send`).
unsafe impl<F: Send, T: Send> Send for Spawned<F, T> {}

impl<F, T> Spawned<F, T> {
    /// The join packet in `task`'s tail.
    ///
    /// # Safety
    /// `task`'s tail is a `Spawned<F, T>`.
    unsafe fn packet(task: &TaskRef) -> NonNull<JoinPacket<T>> {
        // SAFETY: the caller's promise.
        let tail = unsafe { task.tail::<Self>() };
        NonNull::from(&tail.packet)
    }
}

impl<F, T> Tail for Spawned<F, T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    unsafe fn start(&self, start: Start) {
        // SAFETY: once per tail (the caller's promise), so nothing else touches `f`.
        let Some(f) = (unsafe { (*self.f.get()).take() }) else {
            return;
        };
        self.packet.complete(outcome(f, start));
    }
}

/// The tail of other green threads' tasks (scoped ones, whose closure borrows): the closure
/// boxed with its share of the join packet and what must be dropped last.
struct Boxed(UnsafeCell<Option<Body>>);

// SAFETY: the body is Send, and touched only by the task's `Unstarted` token.
unsafe impl Send for Boxed {}

impl Tail for Boxed {
    unsafe fn start(&self, start: Start) {
        // SAFETY: once per tail (the caller's promise), so nothing else touches the body.
        if let Some(body) = unsafe { (*self.0.get()).take() } {
            body(start);
        }
    }
}

/// Makes the green thread and queues it: on the spawning worker if `here` is one of
/// `shared`'s, otherwise in the injector.
#[inline(always)] // two callers; a call here costs B2 ~50 instructions per spawn
fn spawn_green<X: Tail>(
    shared: &Arc<Shared>,
    here: Current<'_>,
    options: Options,
    tail: X,
) -> io::Result<TaskRef> {
    // The starting worker maps the stack from its pool (see `Body::New`), unless the thread
    // wants a size of its own or mapping is failing right now: then map it here, so that an
    // error reaches this caller. A size of its own is mapped as std's spawn maps it, counted
    // against the overcommit limit: a size the system cannot back fails here, as in std.
    let stack = match options.stack_size {
        Some(size) => Some(Box::new(Stack::for_thread(size)?)),
        None if shared.stack_exhausted.load(Ordering::Relaxed) => {
            Some(Box::new(Stack::new(shared.stack_size)?))
        }
        None => None,
    };
    let name: Option<Arc<str>> = options.name.map(Arc::from);
    let spawner = here.worker_of(shared);
    let (task, queued) = Task::allocate(
        shared.clone(),
        spawner.map(|worker| worker.index),
        name,
        stack,
        tail,
    );
    match spawner {
        Some(worker) => {
            worker.push_spawned(queued);
            // Another worker may take it; on a runtime of one there is none to wake.
            if shared.workers.len() > 1 {
                shared.notify_one();
            }
        }
        None => {
            shared.external_spawns.fetch_add(1, Ordering::Relaxed);
            shared.injector.push(queued);
            shared.notify_one();
            // A runtime that has shut down takes nothing more out of its injector: its last
            // look there (`shut_down`, once the workers have gone) may have come before this
            // push, and the thread would wait there forever, its joiner with it. The flag is set
            // before that look and read after this push, with a SeqCst fence on each side:
            // either the look finds the thread, or this finds the flag and cancels what is
            // queued (new threads never start once the shutdown has begun).
            std::sync::atomic::fence(Ordering::SeqCst);
            if shared.shutdown.load(Ordering::Relaxed) {
                shared.cancel_injected();
            }
        }
    }
    // A spawn returns without parking, so it honours the budget and the monitor's yield
    // requests like every such zsync call: a loop that spawns a million green threads must not
    // hold its worker (and every sleeper on it) for a second. The yield comes after the queueing:
    // on one worker, the new thread is the one that runs.
    super::monitor::coop::poll();
    Ok(task)
}

/// Checks a spawn before anything is allocated for it: the runtime must be usable in this
/// process, and the name must be one an OS thread can have.
fn check_spawn(shared: &Shared, name: Option<&str>) -> io::Result<()> {
    if shared.forked_away() {
        return Err(io::Error::other(super::FORKED_RUNTIME));
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

/// Completes a join packet exactly once: with the closure's result, or with `Cancelled` if the
/// closure is dropped without running (its runtime shut down first).
struct Completer<T>(Option<Arc<JoinPacket<T>>>);

impl<T> Completer<T> {
    fn complete(&mut self, result: std::thread::Result<T>) {
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

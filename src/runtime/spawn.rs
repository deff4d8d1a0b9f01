//! Where a green thread is created: the closure is wrapped with its join packet and boxed
//! (once), then becomes a [`Task`] in a run queue: the spawning worker's `next` slot (its
//! previous occupant moves to the `fresh` queue), or the injector from outside the runtime. A worker starts it later (worker.rs `start`). For a
//! `Flavor::OsThreads` runtime the same boxed closure runs on an OS thread instead
//! (`os_threads.rs`).

use super::context::{self, Current};
use super::task::handle::Thread;
use super::task::join::{JoinHandle, JoinPacket, Packet};
use super::task::{cancel::Cancelled, Start, Task};
use super::{os_threads, Flavor, Handle, Shared};
use crate::coro::Stack;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
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
    // SAFETY: F and T are 'static.
    unsafe { spawn_unchecked(handle, options, f, ()) }
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
    // One look at where we are: it finds the runtime (no `Arc` clone on a worker) and, below,
    // the worker whose queue takes the new thread.
    let here = context::current();
    let global;
    let shared = match (handle, here.worker()) {
        (Some(handle), _) => &handle.shared,
        (None, Some(worker)) => &worker.shared,
        (None, None) => {
            global = here
                .os_threads_runtime()
                .map(|shared| Handle { shared })
                .unwrap_or_else(super::global_handle);
            &global.shared
        }
    };
    check_spawn(shared, options.name.as_deref())?;
    let name: Option<Arc<str>> = options.name.map(Arc::from);
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
        let result = match start {
            Start::Run => catch_unwind(AssertUnwindSafe(f)),
            Start::Fail(err) => Err(Box::new(err) as Box<dyn std::any::Any + Send>),
        };
        tail.completer.complete(result);
    };
    let body: Box<dyn FnOnce(Start) + Send + 'a> = Box::new(body);
    // SAFETY: lifetime erasure; the caller guarantees the borrows outlive the thread.
    let body: Body = unsafe { std::mem::transmute(body) };
    let thread = match shared.flavor {
        Flavor::GreenThreads => spawn_green(shared, here, name, options.stack_size, body)?,
        Flavor::OsThreads => os_threads::spawn(shared, name, options.stack_size, body)?,
    };
    Ok(JoinHandle { packet, thread })
}

/// Makes the green thread and queues it: on the spawning worker if `here` is one of
/// `shared`'s, otherwise in the injector.
#[inline(always)] // one caller; a call here costs B2 ~50 instructions per spawn
fn spawn_green(
    shared: &Arc<Shared>,
    here: Current<'_>,
    name: Option<Arc<str>>,
    stack_size: Option<usize>,
    body: Body,
) -> io::Result<Thread> {
    // The starting worker maps the stack from its pool (see `Body::New`), unless the thread
    // wants a size of its own or mapping is failing right now: then map it here, so that an
    // error reaches this caller.
    let stack = match stack_size {
        Some(size) => Some(Stack::new(size)?),
        None if shared.stack_exhausted.load(Ordering::Relaxed) => {
            Some(Stack::new(shared.stack_size)?)
        }
        None => None,
    };
    let task = Task::new(shared.clone(), name, stack, body);
    let thread = Thread::green(task.clone());
    match here.worker() {
        Some(worker) if Arc::ptr_eq(&worker.shared, shared) => worker.push_spawned(task),
        _ => {
            shared.external_spawns.fetch_add(1, Ordering::Relaxed);
            shared.injector.push(task);
        }
    }
    shared.notify_one();
    Ok(thread)
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

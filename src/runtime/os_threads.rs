//! `Flavor::OsThreads`: every spawned closure runs on an OS thread of its own (same API, same
//! cancellation at park points, blocking like std). The OS thread registers itself as an
//! [`OsThread`] with its runtime, so that `Handle::current` and cancellation find it, and the
//! runtime joins it when it is dropped.

use super::spawn::Body;
use super::task::handle::{set_os_self, OsThread, Thread};
use super::task::id::ThreadId;
use super::task::Start;
use super::{Live, Shared};
use crate::coro::Stack;
use std::io;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Condvar, Mutex};

/// What a new OS thread is handed by its spawner: its `OsThread`, and how to start.
type Handed = (Arc<OsThread>, Start);

/// Runs `body` on a new OS thread, counted in `live` until it ends.
pub(super) fn spawn(
    shared: &Arc<Shared>,
    name: Option<Arc<str>>,
    stack_size: Option<usize>,
    body: Body,
) -> io::Result<Thread> {
    let mut builder = std::thread::Builder::new();
    if let Some(name) = &name {
        builder = builder.name(name.to_string());
    }
    if let Some(size) = stack_size {
        // The same validation, and the same error, as for a green thread: a size the kernel
        // cannot commit is `WouldBlock` naming the size (std's spawn would say only `EAGAIN`).
        Stack::for_thread(size)?;
        builder = builder.stack_size(size);
    }
    // SAFETY: if the thread starts, the guard drops at the end of its closure, while its
    // `OsThread` (in its thread-local, dropped after the closure) holds an `Arc<Shared>`; if it
    // does not, the closure drops here, where the caller's handle holds one.
    let live = unsafe { Live::enter(shared) };
    // The new thread's handle is made here, from the `JoinHandle`, and handed over through a
    // mutex and condvar, not a channel: std's channels wait with `thread::park`, and a wake-up
    // they leave behind would be taken by this thread's next `thread::park` as an unpark (a
    // lost unpark later: std's own park tests hang).
    // With it goes how to start: a thread spawned on a runtime that has shut down is cancelled
    // before it starts, as a green thread would be.
    let slot: Arc<(Mutex<Option<Handed>>, Condvar)> = Arc::default();
    let handed = slot.clone();
    let os = builder.spawn(move || {
        let _live = live;
        let (me, start) = {
            let (lock, ready) = &*handed;
            let mut me = lock.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                match me.take() {
                    Some(me) => break me,
                    None => me = ready.wait(me).unwrap_or_else(|e| e.into_inner()),
                }
            }
        };
        set_os_self(me);
        body(start);
    });
    let os = os.map_err(os_thread_error)?;
    let me = Arc::new(OsThread {
        id: ThreadId::next(),
        name,
        thread: os.thread().clone(),
        cancel: AtomicBool::new(false),
        unpark_token: AtomicBool::new(false),
        runtime: Some(shared.clone()),
    });
    shared
        .os_threads
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((os, Thread::os(me.clone())));
    // The shutdown sets its flag and then takes this list, under its lock, until it finds it
    // empty. If this push came after its last take (nobody will cancel or join the thread),
    // the lock orders the flag before this load: the thread starts cancelled, its closure
    // dropped unrun. If it came before, the shutdown cancels and joins it like the others.
    let start = if shared.is_shut_down() {
        Start::Cancel
    } else {
        Start::Run
    };
    let (lock, ready) = &*slot;
    *lock.lock().unwrap_or_else(|e| e.into_inner()) = Some((me.clone(), start));
    ready.notify_one();
    Ok(Thread::os(me))
}

/// The error of an OS thread of a `Flavor::OsThreads` runtime that cannot start.
fn os_thread_error(err: io::Error) -> io::Error {
    io::Error::new(
        err.kind(),
        format!(
            "cannot start an OS thread for a Flavor::OsThreads runtime: {err} ({})",
            super::THREAD_LIMITS
        ),
    )
}

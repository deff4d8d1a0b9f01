//! Green threads, shaped like `std::thread`.
//!
//! Every function here works on a green thread, where blocking parks only the green thread, and
//! on a plain OS thread, where it blocks like std.
//!
//! This module is std's front only: each function calls down into the runtime, which owns a
//! green thread's life (`runtime::spawn` creates it, `runtime::park` parks it, `TaskRef::unpark`
//! wakes it, the worker's `run_task` destroys it). [`Thread`], [`ThreadId`],
//! [`JoinHandle`] and [`Cancelled`] are the runtime's types, re-exported here.
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

mod scope;

pub use crate::future::JoinFuture;
pub use crate::runtime::task::cancel::Cancelled;
pub use crate::runtime::task::handle::{current, Thread};
pub use crate::runtime::task::id::ThreadId;
pub use crate::runtime::task::join::JoinHandle;
pub use scope::{scope, Scope, ScopedJoinHandle};
/// std's own: `thread_local!` keys are per OS thread, so green threads of one worker share
/// them (see the crate's docs/API.md); `available_parallelism` is the machine's.
pub use std::thread::{available_parallelism, AccessError, LocalKey};

use crate::runtime::{park, spawn, Handle};
use std::io;
use std::time::{Duration, Instant};

/// `std::thread::Result`: `Err` holds the panic payload.
pub type Result<T> = std::thread::Result<T>;

/// Blocks the calling thread until its token is available, like `std::thread::park`; on a green
/// thread only the green thread waits. A park point: a pending cancellation unwinds from here.
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// let flag = Arc::new(AtomicBool::new(false));
/// let parked = zsync::thread::spawn({
///     let flag = flag.clone();
///     move || {
///         // Parks until unparked; a spurious wake-up just looks at the flag again.
///         while !flag.load(Ordering::Acquire) {
///             zsync::thread::park();
///         }
///     }
/// });
/// flag.store(true, Ordering::Release);
/// parked.thread().unpark();
/// assert!(parked.join().is_ok());
/// ```
#[inline]
pub fn park() {
    park::park_for_token(None);
}

/// Like [`park()`], but gives up after `dur`.
///
/// ```
/// use std::time::{Duration, Instant};
/// let start = Instant::now();
/// zsync::thread::park_timeout(Duration::from_millis(5)); // nobody unparks: gives up
/// assert!(start.elapsed() >= Duration::from_millis(5));
///
/// zsync::thread::current().unpark(); // the token is available: returns at once
/// zsync::thread::park_timeout(Duration::from_secs(10));
/// assert!(start.elapsed() < Duration::from_secs(10));
/// ```
#[inline]
pub fn park_timeout(dur: Duration) {
    park::park_for_token(Instant::now().checked_add(dur));
}

/// [`park_timeout`] in milliseconds, like std's deprecated `std::thread::park_timeout_ms`.
///
/// ```
/// # #![allow(deprecated)]
/// let start = std::time::Instant::now();
/// zsync::thread::park_timeout_ms(2);
/// assert!(start.elapsed() >= std::time::Duration::from_millis(2));
/// ```
#[deprecated(
    note = "replaced by zsync::thread::park_timeout, as std's by std::thread::park_timeout"
)]
pub fn park_timeout_ms(ms: u32) {
    park_timeout(Duration::from_millis(u64::from(ms)));
}

/// [`sleep`] in milliseconds, like std's deprecated `std::thread::sleep_ms`. A park point.
///
/// ```
/// # #![allow(deprecated)]
/// let start = std::time::Instant::now();
/// zsync::thread::sleep_ms(2);
/// assert!(start.elapsed() >= std::time::Duration::from_millis(2));
/// ```
#[deprecated(note = "replaced by zsync::thread::sleep, as std's by std::thread::sleep")]
pub fn sleep_ms(ms: u32) {
    sleep(Duration::from_millis(u64::from(ms)));
}

/// Lets other green threads on this worker run (on an OS thread: `std::thread::yield_now`). A
/// park point.
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// let rt = zsync::runtime::Builder::new().worker_threads(1).build()?;
/// let done = Arc::new(AtomicBool::new(false));
/// let flag = done.clone();
/// rt.block_on(move || {
///     zsync::spawn(move || flag.store(true, Ordering::Release));
///     // One worker: the spawned green thread runs only when this one lets it.
///     while !done.load(Ordering::Acquire) {
///         zsync::thread::yield_now();
///     }
/// });
/// # Ok::<(), std::io::Error>(())
/// ```
#[inline]
pub fn yield_now() {
    park::yield_now();
}

/// Puts the calling thread to sleep for at least `dur`; the same function as
/// [`zsync::time::sleep`](crate::time::sleep).
///
/// ```
/// use std::time::{Duration, Instant};
/// let start = Instant::now();
/// zsync::thread::sleep(Duration::from_millis(5));
/// assert!(start.elapsed() >= Duration::from_millis(5));
/// ```
#[inline]
pub fn sleep(dur: Duration) {
    park::sleep_until(Instant::now().checked_add(dur));
}

/// True while the calling green thread (or OS thread) is unwinding, like
/// `std::thread::panicking`, but answered for the green thread, not the OS thread under it.
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// static UNWINDING: AtomicBool = AtomicBool::new(false);
/// struct Probe;
/// impl Drop for Probe {
///     fn drop(&mut self) {
///         UNWINDING.store(zsync::thread::panicking(), Ordering::Relaxed);
///     }
/// }
/// let h = zsync::thread::spawn(|| {
///     let _probe = Probe;
///     panic!("unwinding");
/// });
/// assert!(h.join().is_err());
/// assert!(UNWINDING.load(Ordering::Relaxed));
/// assert!(!zsync::thread::panicking());
/// ```
#[inline]
pub fn panicking() -> bool {
    park::panicking()
}

/// Runs `f` with cancellation and the `timeout()`s entered before it held back: they are
/// delivered at the first park point after `f` returns. A `timeout()` entered inside `f` works
/// there as anywhere (a clean-up can bound its own waits).
///
/// ```
/// use std::time::Duration;
/// let value = zsync::thread::shield(|| {
///     zsync::thread::yield_now(); // not a cancellation point in here
///     5
/// });
/// assert_eq!(value, 5);
/// // A bounded clean-up: the shield holds a cancellation back, not this timeout.
/// let flushed = zsync::thread::shield(|| {
///     zsync::time::timeout(Duration::from_millis(10), || {
///         zsync::thread::sleep(Duration::from_secs(3600)) // a flush that never ends
///     })
/// });
/// assert!(flushed.is_err());
/// ```
pub fn shield<T>(f: impl FnOnce() -> T) -> T {
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            park::leave_shield();
        }
    }
    park::enter_shield();
    let _leave = Leave;
    f()
}

/// A park point that does not park: CPU-bound loops call it to stay cancellable.
///
/// ```
/// let spinner = zsync::thread::spawn(|| loop {
///     zsync::thread::check_cancel(); // a CPU-bound loop that never parks
/// });
/// let err = spinner.cancel().unwrap_err();
/// assert!(err.is::<zsync::thread::Cancelled>());
/// ```
pub fn check_cancel() {
    crate::runtime::monitor::coop::poll();
    park::park_point();
}

/// Green-thread factory, like `std::thread::Builder`.
///
/// ```
/// let handle = zsync::thread::Builder::new()
///     .name("answer".into())
///     .stack_size(64 * 1024)
///     .spawn(|| (zsync::thread::current().name().map(str::to_owned), 6 * 7))?;
/// assert_eq!(handle.join().unwrap(), (Some("answer".to_owned()), 42));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Default)]
pub struct Builder {
    name: Option<String>,
    stack_size: Option<usize>,
}

impl std::fmt::Debug for Builder {
    /// std's: formatted by a `std::thread::Builder` with the same name and stack size, so the
    /// fields are std's own (`Builder { name: None, stack_size: None, no_hooks: false }` on
    /// Rust 1.95).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut std_builder = std::thread::Builder::new();
        if let Some(name) = &self.name {
            std_builder = std_builder.name(name.clone());
        }
        if let Some(size) = self.stack_size {
            std_builder = std_builder.stack_size(size);
        }
        std::fmt::Debug::fmt(&std_builder, f)
    }
}

impl Builder {
    /// A builder with no name and the runtime's default stack size.
    ///
    /// ```
    /// let builder = zsync::thread::Builder::new();
    /// let handle = builder.spawn(|| zsync::thread::current().name().is_none())?;
    /// assert!(handle.join().unwrap());
    /// # Ok::<(), std::io::Error>(())
    /// ```
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
        // Kept as given (std's `Debug` shows it so); raised to the minimum when spawning.
        self.stack_size = Some(size);
        self
    }

    /// Spawns the green thread on the current runtime, or on the global one outside any.
    ///
    /// ```
    /// use zsync::runtime::Handle;
    /// use zsync::thread::Builder;
    ///
    /// let handle = Builder::new().spawn(|| 2 + 2)?;
    /// assert_eq!(handle.join().unwrap(), 4);
    ///
    /// let rt = zsync::Runtime::builder().worker_threads(1).build()?;
    /// let h = rt.block_on(|| Builder::new().spawn(Handle::current))?;
    /// // Spawned from a green thread of `rt`: it runs on `rt`, not on the global runtime.
    /// assert_eq!(h.join().unwrap().worker_threads(), 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// `InvalidInput` for a bad stack size or a name with a NUL byte; `WouldBlock`, as std's
    /// spawn, when the kernel refuses a stack of the size [`stack_size`](Builder::stack_size)
    /// asked for (more than it can commit: `stack_size(1 << 40)` on most machines), with a
    /// message that names the size; `OutOfMemory` when no stack can be mapped, with a message
    /// that names the limit (for example `vm.max_map_count`) and how to raise it; the OS error if a `Flavor::OsThreads` runtime
    /// cannot start an OS thread; an error naming the mistake if the runtime was built before
    /// `fork()` in the parent of this process.
    pub fn spawn<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        spawn::spawn(None, self.options(), f)
    }

    fn options(self) -> spawn::Options {
        spawn::Options {
            name: self.name,
            // Like std, which rounds a size below its minimum up instead of refusing it.
            stack_size: self
                .stack_size
                .map(|size| size.max(crate::coro::MIN_STACK_SIZE)),
        }
    }

    /// Spawns a green thread without the `'static` bounds on the closure and its result, like
    /// `std::thread::Builder::spawn_unchecked`: [`scope`] is the safe way to do this.
    ///
    /// ```
    /// let data = vec![1, 2, 3];
    /// // SAFETY: the handle is joined below, before `data` goes away.
    /// let handle = unsafe { zsync::thread::Builder::new().spawn_unchecked(|| data.len()) }?;
    /// assert_eq!(handle.join().unwrap(), 3);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Safety
    /// As std's: the caller makes sure the green thread does not outlive anything its closure
    /// or its result borrows, by joining it before the borrowed data goes away (or by
    /// borrowing nothing that is not `'static`). Dropping the `JoinHandle` detaches the thread,
    /// which then may outlive the borrow.
    ///
    /// # Errors
    /// As [`spawn`](Builder::spawn).
    pub unsafe fn spawn_unchecked<F, T>(self, f: F) -> io::Result<JoinHandle<T>>
    where
        F: FnOnce() -> T + Send,
        T: Send,
    {
        // SAFETY: the caller's promise is the one `spawn_unchecked` asks for (with nothing
        // dropped last).
        unsafe { spawn::spawn_unchecked(None, self.options(), f, ()) }
    }

    /// Spawns without the `'static` bounds (for scoped threads). `last` is dropped after
    /// everything else the thread holds, its share of the join packet included, even if the
    /// closure never runs.
    ///
    /// # Safety
    /// The caller makes sure that nothing `f` or its result borrow goes away before `last` has
    /// been dropped.
    pub(crate) unsafe fn spawn_guarded<'a, F, T, L>(
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
        // SAFETY: the caller's promise is the one `spawn_unchecked` asks for.
        unsafe { spawn::spawn_unchecked(Some(handle), self.options(), f, last) }
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

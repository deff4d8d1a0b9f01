//! Scoped green threads, like `std::thread::scope`: they may borrow from the caller's stack,
//! because `scope` does not return before every one of them has finished.

use super::{current, shield, Builder, Result, Thread};
use crate::runtime::{self, Handle};
use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

struct ScopeData {
    running: AtomicUsize,
    /// Scoped threads that panicked, or never ran, and whose handle has not reported it through
    /// `join`.
    unjoined_panics: AtomicUsize,
    owner: Thread,
}

/// A scope to spawn scoped green threads in; see [`scope`].
pub struct Scope<'scope, 'env: 'scope> {
    data: Arc<ScopeData>,
    handle: Handle,
    scope: PhantomData<&'scope mut &'scope ()>,
    env: PhantomData<&'env mut &'env ()>,
}

/// An owned permission to join a scoped green thread.
pub struct ScopedJoinHandle<'scope, T> {
    inner: super::JoinHandle<T>,
    data: Arc<ScopeData>,
    scope: PhantomData<&'scope ()>,
    /// `Send` and `Sync` exactly when `T: Send`, as std's (`inner` alone would be both for
    /// every `T`); `Unpin` and unwind safe for every `T`, also as std's.
    result: PhantomData<std::sync::Mutex<Box<T>>>,
}

/// Creates a scope for spawning green threads that borrow local data; every thread spawned in
/// it is joined before `scope` returns. Like `std::thread::scope`, it panics if a thread that
/// was not joined panicked; so does a thread that was not joined and never ran (its stack could
/// not be mapped when it was due to start, or the runtime shut down first), whose `join` would
/// have returned the error.
///
/// ```
/// let mut numbers = vec![1, 2, 3];
/// let total = std::sync::atomic::AtomicU32::new(0);
/// zsync::thread::scope(|s| {
///     s.spawn(|| total.fetch_add(numbers.iter().sum(), std::sync::atomic::Ordering::Relaxed));
///     s.spawn(|| total.fetch_add(10, std::sync::atomic::Ordering::Relaxed));
/// });
/// numbers.push(4);
/// assert_eq!(total.into_inner(), 16);
/// ```
pub fn scope<'env, F, T>(f: F) -> T
where
    F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T,
{
    let handle = Handle::try_current().unwrap_or_else(runtime::global_handle);
    let scope = Scope {
        data: Arc::new(ScopeData {
            running: AtomicUsize::new(0),
            unjoined_panics: AtomicUsize::new(0),
            owner: current(),
        }),
        handle,
        scope: PhantomData,
        env: PhantomData,
    };
    let result = catch_unwind(AssertUnwindSafe(|| f(&scope)));
    // Wait for every thread, whatever happened: they borrow from our caller. Shielded, so that a
    // cancellation of this thread cannot unwind past the wait.
    shield(|| {
        while scope.data.running.load(Ordering::Acquire) != 0 {
            crate::runtime::park::park_for(crate::runtime::WaitReason::Scope);
        }
    });
    match result {
        Err(payload) => resume_unwind(payload),
        Ok(_) if scope.data.unjoined_panics.load(Ordering::Acquire) > 0 => {
            panic!("a scoped thread panicked")
        }
        Ok(value) => value,
    }
}

impl<'scope, 'env> Scope<'scope, 'env> {
    /// Spawns a scoped green thread.
    ///
    /// # Panics
    /// If no stack can be mapped, like [`spawn`](super::spawn()).
    pub fn spawn<F, T>(&'scope self, f: F) -> ScopedJoinHandle<'scope, T>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        Builder::new()
            .spawn_scoped(self, f)
            .unwrap_or_else(|err| panic!("zsync: failed to spawn a green thread: {err}"))
    }
}

impl Builder {
    /// Spawns a scoped green thread with this builder's settings.
    ///
    /// ```
    /// let a = vec![1, 2, 3];
    /// let mut x = 0;
    /// zsync::thread::scope(|s| {
    ///     let first = zsync::thread::Builder::new()
    ///         .name("first".into())
    ///         .spawn_scoped(s, || {
    ///             (zsync::thread::current().name() == Some("first"), a.len())
    ///         })?;
    ///     zsync::thread::Builder::new().spawn_scoped(s, || x += a[0] + a[2])?;
    ///     assert_eq!(first.join().unwrap(), (true, 3));
    ///     Ok::<(), std::io::Error>(())
    /// })?;
    /// assert_eq!(x, 4);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Builder::spawn`].
    pub fn spawn_scoped<'scope, 'env, F, T>(
        self,
        scope: &'scope Scope<'scope, 'env>,
        f: F,
    ) -> std::io::Result<ScopedJoinHandle<'scope, T>>
    where
        F: FnOnce() -> T + Send + 'scope,
        T: Send + 'scope,
    {
        let data = scope.data.clone();
        data.running.fetch_add(1, Ordering::AcqRel);
        // Counts this thread among the unjoined failures unless its closure returns: a panic
        // (the guard drops as the unwinding passes) and a closure dropped without running (its
        // stack could not be mapped at start, or the runtime shut down first) both end in an
        // `Err` from `join`, which takes the count back.
        let failed = FailureGuard(data.clone());
        let body = move || {
            let failed = failed;
            let value = f();
            std::mem::forget(failed);
            value
        };
        // SAFETY: `scope` waits until `running` drops to zero, which DoneGuard does only once
        // the thread has dropped its closure and its share of the join packet (spawn_guarded
        // drops `last` after both). What is left, the handle's share, lives no longer than
        // 'scope. If spawning fails, the closure and the guard are dropped at once.
        let spawned = unsafe { self.spawn_guarded(&scope.handle, body, DoneGuard(data.clone())) };
        let inner = spawned.inspect_err(|_| {
            // The closure was dropped unrun and counted, but the caller gets this error, not
            // a handle: as std's `spawn_scoped`, a spawn that fails here fails only here.
            data.unjoined_panics.fetch_sub(1, Ordering::AcqRel);
        })?;
        Ok(ScopedJoinHandle {
            inner,
            data,
            scope: PhantomData,
            result: PhantomData,
        })
    }
}

/// Counts a scoped thread among `unjoined_panics` when it drops: kept alive (forgotten) only
/// by a closure that returned.
struct FailureGuard(Arc<ScopeData>);

impl Drop for FailureGuard {
    fn drop(&mut self) {
        self.0.unjoined_panics.fetch_add(1, Ordering::AcqRel);
    }
}

/// Decrements the scope's running count when the scoped thread's closure is gone.
struct DoneGuard(Arc<ScopeData>);

impl Drop for DoneGuard {
    fn drop(&mut self) {
        let owner = self.0.owner.clone();
        if self.0.running.fetch_sub(1, Ordering::AcqRel) == 1 {
            owner.wake();
        }
    }
}

impl<T> ScopedJoinHandle<'_, T> {
    /// Waits for the scoped thread: `Ok` with its value, or `Err` with its panic payload (which
    /// then no longer makes `scope` panic).
    pub fn join(self) -> Result<T> {
        let result = self.inner.join();
        if result.is_err() {
            self.data.unjoined_panics.fetch_sub(1, Ordering::AcqRel);
        }
        result
    }

    /// The scoped thread's handle.
    pub fn thread(&self) -> &Thread {
        self.inner.thread()
    }

    /// True once the scoped thread has finished.
    pub fn is_finished(&self) -> bool {
        self.inner.is_finished()
    }
}

impl<T> std::fmt::Debug for ScopedJoinHandle<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScopedJoinHandle").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Scope<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // std's fields and names: a thread that panicked and was not joined is what std's
        // `a_thread_panicked` records, too.
        f.debug_struct("Scope")
            .field(
                "num_running_threads",
                &self.data.running.load(Ordering::Relaxed),
            )
            .field(
                "a_thread_panicked",
                &(self.data.unjoined_panics.load(Ordering::Relaxed) > 0),
            )
            .field("main_thread", &self.data.owner)
            .finish_non_exhaustive()
    }
}

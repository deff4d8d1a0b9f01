//! [`Condvar`]: std's condition variable over zsync's [`Mutex`](super::Mutex).
//!
//! A waiter queues on the condvar's list *before* it unlocks the mutex, so a notification sent
//! after the unlock always finds it. A waiter notified before a cancellation or an expired
//! `timeout()` reached it returns normally (the request is raised at its next park point); one
//! that unwinds while a notification races in passes the notification on to the next waiter.

use super::mutex::MutexGuard;
#[cfg(loom)]
use super::waiter::Wake as _;
use super::waiter::{unpark_all, Entry, Lock, UnwindGuard, WaitList, WaitReason, Waiter, RETRY};
use std::fmt;
use std::sync::{LockResult, PoisonError};
use std::time::{Duration, Instant};

/// Whether a timed wait on a [`Condvar`] returned because its time ran out, like
/// `std::sync::WaitTimeoutResult` (which cannot be built outside std).
///
/// ```
/// use std::time::Duration;
/// use zsync::sync::{Condvar, Mutex};
/// let (m, cv) = (Mutex::new(()), Condvar::new());
/// let (_guard, result) = cv.wait_timeout(m.lock().unwrap(), Duration::from_millis(1)).unwrap();
/// assert!(result.timed_out());
/// ```
#[derive(Debug, PartialEq, Eq, Copy, Clone)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// True if the wait ended because its time ran out (rather than by a notification).
    ///
    /// ```
    /// use std::time::Duration;
    /// use zsync::sync::{Condvar, Mutex};
    /// let (m, cv) = (Mutex::new(()), Condvar::new());
    /// let r = cv.wait_timeout(m.lock().unwrap(), Duration::ZERO).unwrap().1;
    /// assert!(r.timed_out());
    /// ```
    #[must_use]
    pub fn timed_out(&self) -> bool {
        self.0
    }
}

/// A condition variable, like `std::sync::Condvar`: waits park the green thread (or block the
/// OS thread) and release the mutex meanwhile.
///
/// ```
/// use std::sync::Arc;
/// use zsync::sync::{Condvar, Mutex};
///
/// zsync::run(|| {
///     let pair = Arc::new((Mutex::new(false), Condvar::new()));
///     let pair2 = pair.clone();
///     zsync::spawn(move || {
///         let (lock, cvar) = &*pair2;
///         *lock.lock().unwrap() = true;
///         cvar.notify_one();
///     });
///     let (lock, cvar) = &*pair;
///     let mut started = lock.lock().unwrap();
///     while !*started {
///         started = cvar.wait(started).unwrap();
///     }
/// });
/// ```
pub struct Condvar {
    waiters: Lock<WaitList<()>>,
}

impl Condvar {
    crate::loom::loom_const_fn! {
        /// A new condition variable with no waiters. A `const fn`.
        ///
        /// ```
        /// static READY: zsync::sync::Condvar = zsync::sync::Condvar::new();
        /// READY.notify_all(); // nobody waits: nothing happens
        /// ```
        #[must_use]
        pub fn new() -> Condvar {
            Condvar {
                waiters: Lock::new(WaitList::new()),
            }
        }
    }

    /// Unlocks the guard's mutex, waits for a notification, and locks it again. Unlike std,
    /// it never wakes up spuriously, but callers should still check their condition in a loop
    /// (or use [`wait_while`](Self::wait_while)). A park point: a cancellation unwinds from
    /// here with the mutex unlocked.
    ///
    /// # Errors
    /// If the mutex is poisoned when it is locked again, `Err` still holds the guard.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use zsync::sync::{Condvar, Mutex};
    /// let pair = Arc::new((Mutex::new(0), Condvar::new()));
    /// let p = pair.clone();
    /// let h = zsync::spawn(move || {
    ///     *p.0.lock().unwrap() = 7;
    ///     p.1.notify_all();
    /// });
    /// let mut value = pair.0.lock().unwrap();
    /// while *value == 0 {
    ///     value = pair.1.wait(value).unwrap();
    /// }
    /// assert_eq!(*value, 7);
    /// # drop(value); h.join().unwrap();
    /// ```
    pub fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> LockResult<MutexGuard<'a, T>> {
        let (guard, _) = self.wait_until(guard, None, WaitReason::Condvar);
        check_poison(guard, |g| g)
    }

    /// Waits until `condition` returns false, re-checking it after every notification; it is
    /// checked first, with the lock held.
    ///
    /// # Errors
    /// If the mutex is poisoned when it is locked again, `Err` still holds the guard.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use zsync::sync::{Condvar, Mutex};
    /// let pair = Arc::new((Mutex::new(true), Condvar::new()));
    /// let p = pair.clone();
    /// let h = zsync::spawn(move || {
    ///     *p.0.lock().unwrap() = false;
    ///     p.1.notify_one();
    /// });
    /// let guard = pair.1.wait_while(pair.0.lock().unwrap(), |pending| *pending).unwrap();
    /// assert!(!*guard);
    /// # drop(guard); h.join().unwrap();
    /// ```
    pub fn wait_while<'a, T, F>(
        &self,
        guard: MutexGuard<'a, T>,
        condition: F,
    ) -> LockResult<MutexGuard<'a, T>>
    where
        F: FnMut(&mut T) -> bool,
    {
        self.wait_while_for(guard, condition, WaitReason::Condvar)
    }

    /// [`wait_while`](Self::wait_while) for `Barrier` and `WaitGroup`, which say what they
    /// are in a dump.
    pub(crate) fn wait_while_for<'a, T, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: F,
        wait: WaitReason,
    ) -> LockResult<MutexGuard<'a, T>>
    where
        F: FnMut(&mut T) -> bool,
    {
        while condition(&mut *guard) {
            let (g, _) = self.wait_until(guard, None, wait);
            guard = check_poison(g, |g| g)?;
        }
        Ok(guard)
    }

    /// Like [`wait`](Self::wait), giving up after `ms` milliseconds; the `bool` is false if the
    /// time ran out. Deprecated in std, kept for parity.
    ///
    /// # Errors
    /// If the mutex is poisoned when it is locked again.
    ///
    /// ```
    /// # #![allow(deprecated)]
    /// use zsync::sync::{Condvar, Mutex};
    /// let (m, cv) = (Mutex::new(()), Condvar::new());
    /// let (_guard, notified) = cv.wait_timeout_ms(m.lock().unwrap(), 1).unwrap();
    /// assert!(!notified);
    /// ```
    #[deprecated(
        since = "0.1.0",
        note = "replaced by `zsync::sync::Condvar::wait_timeout`"
    )]
    pub fn wait_timeout_ms<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        ms: u32,
    ) -> LockResult<(MutexGuard<'a, T>, bool)> {
        let (guard, timed_out) = self.wait_until(
            guard,
            deadline_after(Duration::from_millis(ms.into())),
            WaitReason::Condvar,
        );
        check_poison(guard, |g| (g, !timed_out))
    }

    /// Like [`wait`](Self::wait), giving up after `dur`.
    ///
    /// # Errors
    /// If the mutex is poisoned when it is locked again, `Err` still holds the guard and the
    /// result.
    ///
    /// ```
    /// use std::time::Duration;
    /// use zsync::sync::{Condvar, Mutex};
    /// let (m, cv) = (Mutex::new(()), Condvar::new());
    /// let (_guard, r) = cv.wait_timeout(m.lock().unwrap(), Duration::from_millis(5)).unwrap();
    /// assert!(r.timed_out());
    /// ```
    pub fn wait_timeout<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        dur: Duration,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)> {
        let (guard, timed_out) = self.wait_until(guard, deadline_after(dur), WaitReason::Condvar);
        check_poison(guard, |g| (g, WaitTimeoutResult(timed_out)))
    }

    /// Waits until `condition` returns false or `dur` has passed; the result says whether the
    /// time ran out (with the condition still true).
    ///
    /// # Errors
    /// If the mutex is poisoned when it is locked again.
    ///
    /// ```
    /// use std::time::Duration;
    /// use zsync::sync::{Condvar, Mutex};
    /// let (m, cv) = (Mutex::new(0), Condvar::new());
    /// let (guard, r) = cv
    ///     .wait_timeout_while(m.lock().unwrap(), Duration::from_millis(5), |v| *v == 0)
    ///     .unwrap();
    /// assert!(r.timed_out());
    /// assert_eq!(*guard, 0);
    /// ```
    pub fn wait_timeout_while<'a, T, F>(
        &self,
        mut guard: MutexGuard<'a, T>,
        dur: Duration,
        mut condition: F,
    ) -> LockResult<(MutexGuard<'a, T>, WaitTimeoutResult)>
    where
        F: FnMut(&mut T) -> bool,
    {
        let start = Instant::now();
        loop {
            if !condition(&mut *guard) {
                return Ok((guard, WaitTimeoutResult(false)));
            }
            let timeout = match dur.checked_sub(start.elapsed()) {
                Some(timeout) => timeout,
                None => return Ok((guard, WaitTimeoutResult(true))),
            };
            guard = self.wait_timeout(guard, timeout)?.0;
        }
    }

    /// Wakes one waiter, the one that has waited longest, if any.
    ///
    /// ```
    /// let cv = zsync::sync::Condvar::new();
    /// cv.notify_one(); // no waiter: nothing happens, nothing is remembered
    /// ```
    pub fn notify_one(&self) {
        let thread = self.waiters.lock().notify_one(RETRY);
        if let Some(thread) = thread {
            thread.wake();
        }
    }

    /// Wakes every current waiter.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use zsync::sync::{Condvar, Mutex};
    /// zsync::run(|| {
    ///     let state = Arc::new((Mutex::new(false), Condvar::new()));
    ///     let waiters: Vec<_> = (0..10)
    ///         .map(|_| {
    ///             let s = state.clone();
    ///             zsync::spawn(move || {
    ///                 let _g = s.1.wait_while(s.0.lock().unwrap(), |go| !*go).unwrap();
    ///             })
    ///         })
    ///         .collect();
    ///     *state.0.lock().unwrap() = true;
    ///     state.1.notify_all();
    ///     waiters.into_iter().for_each(|h| h.join().unwrap());
    /// });
    /// ```
    pub fn notify_all(&self) {
        let wakeups = self.waiters.lock().notify_all(RETRY);
        unpark_all(wakeups);
    }

    /// The wait itself: true if it timed out. Relocks even then; poison is checked by callers.
    fn wait_until<'a, T: ?Sized>(
        &self,
        guard: MutexGuard<'a, T>,
        deadline: Option<Instant>,
        wait: WaitReason,
    ) -> (MutexGuard<'a, T>, bool) {
        let waiter = Waiter::new();
        let entry = Entry::new(&waiter, 0, ());
        // SAFETY: the entry lives in this frame and is unlinked before it goes: by a
        // notification, by the timeout path below, or by `abandon` when unwinding.
        unsafe { self.waiters.lock().push_back(&entry) };
        let (mutex, poison) = guard.into_parts();
        // SAFETY: the guard held the lock; it has been taken apart without unlocking.
        unsafe { mutex.raw().unlock() };
        let cleanup = UnwindGuard(|| self.abandon(&waiter, &entry));
        let notified = waiter.wait(deadline, &wait);
        cleanup.disarm();
        if notified.is_none() {
            // SAFETY: linked in this list, if at all.
            unsafe { self.waiters.lock().remove(&entry) };
        }
        // A waiter that was notified and then unwinds while relocking passes the wake-up on.
        let relock = UnwindGuard(|| {
            if notified.is_some() {
                self.notify_one();
            }
        });
        mutex.raw().lock();
        relock.disarm();
        // SAFETY: locked again just above.
        let guard = unsafe { MutexGuard::from_parts(mutex, poison) };
        (guard, notified.is_none())
    }

    /// The cleanup of a waiter that unwinds while parked.
    fn abandon(&self, waiter: &Waiter, entry: &Entry<()>) {
        let mut list = self.waiters.lock();
        // SAFETY: linked in this list, if at all.
        unsafe { list.remove(entry) };
        if waiter.abort().is_err() {
            // Notified, but it will not act on it: pass the notification on.
            let thread = list.notify_one(RETRY);
            drop(list);
            if let Some(thread) = thread {
                thread.wake();
            }
        }
    }
}

fn deadline_after(dur: Duration) -> Option<Instant> {
    // A wait too long to express is a wait forever.
    Instant::now().checked_add(dur)
}

fn check_poison<'a, T: ?Sized, R>(
    guard: MutexGuard<'a, T>,
    wrap: impl FnOnce(MutexGuard<'a, T>) -> R,
) -> LockResult<R> {
    let poisoned = guard.mutex().is_poisoned();
    let result = wrap(guard);
    if poisoned {
        Err(PoisonError::new(result))
    } else {
        Ok(result)
    }
}

impl Default for Condvar {
    /// A new condition variable, like [`Condvar::new`].
    ///
    /// ```
    /// let cv: zsync::sync::Condvar = Default::default();
    /// cv.notify_one();
    /// ```
    fn default() -> Condvar {
        Condvar::new()
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}

//! [`Semaphore`]: a counting semaphore with FIFO-fair, direct hand-over of permits.
//!
//! One state word: `permits << 1 | WAITERS`. With nobody waiting, acquire and release are one
//! compare-exchange each. Once somebody waits (`WAITERS`, set exactly while the waiter list is
//! non-empty), released permits go straight to the waiters in order, so a newcomer cannot take
//! a permit from under a waiter. A waiter that unwinds after it was handed a permit releases it
//! again, which hands it on.

use super::waiter::{Entry, Lock, UnwindGuard, WaitList, Waiter, HANDOFF};
use crate::loom::sync::atomic::{AtomicUsize, Ordering};
use std::fmt;
use std::time::{Duration, Instant};

const WAITERS: usize = 1;
const ONE: usize = 2;

/// A counting semaphore: a pool of permits that threads acquire and give back.
///
/// Acquiring parks the green thread (or blocks the OS thread) until a permit is free; waiters
/// are served in arrival order. A [`SemaphorePermit`] gives its permit back when dropped.
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use zsync::sync::Semaphore;
///
/// zsync::run(|| {
///     let sem = Arc::new(Semaphore::new(3));
///     let inside = Arc::new(AtomicUsize::new(0));
///     let handles: Vec<_> = (0..20)
///         .map(|_| {
///             let (sem, inside) = (sem.clone(), inside.clone());
///             zsync::spawn(move || {
///                 let _permit = sem.acquire();
///                 assert!(inside.fetch_add(1, Ordering::SeqCst) < 3);
///                 zsync::thread::yield_now();
///                 inside.fetch_sub(1, Ordering::SeqCst);
///             })
///         })
///         .collect();
///     handles.into_iter().for_each(|h| h.join().unwrap());
/// });
/// ```
pub struct Semaphore {
    state: AtomicUsize,
    waiters: Lock<WaitList<()>>,
}

/// A permit from a [`Semaphore`], given back when dropped.
///
/// ```
/// let sem = zsync::sync::Semaphore::new(1);
/// let permit = sem.acquire();
/// assert_eq!(sem.available_permits(), 0);
/// drop(permit);
/// assert_eq!(sem.available_permits(), 1);
/// ```
#[must_use = "the permit is given back as soon as it is dropped"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
    permits: usize,
}

impl Semaphore {
    /// The most permits a semaphore can hold.
    ///
    /// ```
    /// assert!(zsync::sync::Semaphore::MAX_PERMITS >= u32::MAX as usize);
    /// ```
    pub const MAX_PERMITS: usize = usize::MAX >> 3;

    crate::loom::loom_const_fn! {
        /// A semaphore with `permits` permits, at most [`Semaphore::MAX_PERMITS`] (a larger
        /// count saturates, as in [`add_permits`](Semaphore::add_permits)). A `const fn`.
        ///
        /// ```
        /// use zsync::sync::Semaphore;
        /// static POOL: Semaphore = Semaphore::new(4);
        /// assert_eq!(POOL.available_permits(), 4);
        /// assert_eq!(Semaphore::new(usize::MAX).available_permits(), Semaphore::MAX_PERMITS);
        /// ```
        pub fn new(permits: usize) -> Semaphore {
            let permits = if permits > Self::MAX_PERMITS {
                Self::MAX_PERMITS
            } else {
                permits
            };
            Semaphore {
                state: AtomicUsize::new(permits * ONE),
                waiters: Lock::new(WaitList::new()),
            }
        }
    }

    /// The number of permits free right now.
    ///
    /// ```
    /// let sem = zsync::sync::Semaphore::new(2);
    /// let _p = sem.acquire();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn available_permits(&self) -> usize {
        self.state.load(Ordering::Acquire) / ONE
    }

    /// Takes a permit, parking until one is free (in arrival order). A park point: a
    /// cancellation unwinds from here without a permit.
    ///
    /// ```
    /// let sem = zsync::sync::Semaphore::new(1);
    /// let permit = sem.acquire();
    /// assert!(sem.try_acquire().is_none());
    /// drop(permit);
    /// ```
    pub fn acquire(&self) -> SemaphorePermit<'_> {
        crate::runtime::monitor::coop::poll();
        if !self.try_take() {
            self.acquire_contended(None);
        }
        SemaphorePermit {
            sem: self,
            permits: 1,
        }
    }

    /// Like [`acquire`](Self::acquire), giving up after `dur`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let sem = zsync::sync::Semaphore::new(0);
    /// assert!(sem.acquire_timeout(Duration::from_millis(2)).is_none());
    /// sem.add_permits(1);
    /// assert!(sem.acquire_timeout(Duration::from_millis(2)).is_some());
    /// ```
    pub fn acquire_timeout(&self, dur: Duration) -> Option<SemaphorePermit<'_>> {
        crate::runtime::monitor::coop::poll();
        if self.try_take() || self.acquire_contended(Instant::now().checked_add(dur)) {
            Some(SemaphorePermit {
                sem: self,
                permits: 1,
            })
        } else {
            None
        }
    }

    /// Takes a permit if one is free and nobody is queued for one; `None` otherwise.
    ///
    /// ```
    /// let sem = zsync::sync::Semaphore::new(1);
    /// let first = sem.try_acquire();
    /// assert!(first.is_some());
    /// assert!(sem.try_acquire().is_none());
    /// ```
    pub fn try_acquire(&self) -> Option<SemaphorePermit<'_>> {
        crate::runtime::monitor::coop::poll();
        // Not `then_some`: a permit built eagerly would give a permit back when dropped.
        self.try_take().then(|| SemaphorePermit {
            sem: self,
            permits: 1,
        })
    }

    /// Adds `n` permits, handing them to waiters first.
    ///
    /// The count saturates: permits beyond [`Semaphore::MAX_PERMITS`] (after every waiter has
    /// been served) are dropped, so `add_permits(usize::MAX)` is a way to open the semaphore
    /// for good. Never panics.
    ///
    /// ```
    /// use zsync::sync::Semaphore;
    /// let sem = Semaphore::new(0);
    /// sem.add_permits(2);
    /// assert_eq!(sem.available_permits(), 2);
    /// sem.add_permits(usize::MAX);
    /// assert_eq!(sem.available_permits(), Semaphore::MAX_PERMITS);
    /// ```
    pub fn add_permits(&self, n: usize) {
        if n == 0 {
            return;
        }
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & WAITERS != 0 {
                return self.release_contended(n);
            }
            match self.state.compare_exchange_weak(
                state,
                Self::saturating_total(state / ONE, n) * ONE,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => state = actual,
            }
        }
    }

    /// `have + n` permits, capped at [`Semaphore::MAX_PERMITS`].
    fn saturating_total(have: usize, n: usize) -> usize {
        have.saturating_add(n).min(Self::MAX_PERMITS)
    }

    fn try_take(&self) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        while state & WAITERS == 0 && state >= ONE {
            match self.state.compare_exchange_weak(
                state,
                state - ONE,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => state = actual,
            }
        }
        false
    }

    /// Queues for a permit; false if `deadline` passed first.
    #[cold]
    fn acquire_contended(&self, deadline: Option<Instant>) -> bool {
        let waiter = Waiter::new();
        let entry = Entry::new(&waiter, 0, ());
        if !self.enqueue(&entry) {
            return true;
        }
        let guard = UnwindGuard(|| self.abandon(&waiter, &entry));
        let notified = waiter.wait(deadline, &super::waiter::WaitReason::Semaphore);
        guard.disarm();
        if notified.is_some() {
            return true; // a permit was handed over
        }
        let mut list = self.waiters.lock();
        // SAFETY: linked in this list, if at all.
        unsafe { list.remove(&entry) };
        if list.is_empty() {
            self.state.fetch_and(!WAITERS, Ordering::Relaxed);
        }
        false
    }

    /// Takes a permit from the pool if it has one and nobody waits (false), or queues `entry`
    /// (true).
    fn enqueue(&self, entry: &Entry<()>) -> bool {
        let mut list = self.waiters.lock();
        // Permits are in the pool only while nobody waits; WAITERS changes only under the
        // list's lock.
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            let (next, order) = if state & WAITERS == 0 && state >= ONE {
                (state - ONE, Ordering::Acquire)
            } else if state & WAITERS == 0 {
                (state | WAITERS, Ordering::Relaxed)
            } else {
                break;
            };
            match self
                .state
                .compare_exchange_weak(state, next, order, Ordering::Relaxed)
            {
                Ok(_) if next < state => return false,
                Ok(_) => break,
                Err(actual) => state = actual,
            }
        }
        // SAFETY: the entry lives in the caller's frame, which unlinks it before it goes: by
        // the hand-over, by the timeout path, or by `abandon` when unwinding.
        unsafe { list.push_back(entry) };
        true
    }

    /// Hands up to `n` permits to waiters; the rest go to the pool.
    #[cold]
    fn release_contended(&self, mut n: usize) {
        let mut wakeups = Vec::new();
        let mut list = self.waiters.lock();
        while n > 0 {
            let Some(first) = list.pop_front() else { break };
            if let Some(thread) = first.notify(HANDOFF) {
                wakeups.push(thread);
                n -= 1;
            }
        }
        if list.is_empty() {
            // Nobody else can change the word while WAITERS is set: it holds no permits. Nothing
            // between the hand-overs above and the unparks below may panic, or a waiter that
            // was handed a permit would never be woken: the count saturates instead.
            let state = self.state.load(Ordering::Relaxed);
            self.state.store(
                Self::saturating_total(state / ONE, n) * ONE,
                Ordering::Release,
            );
        }
        drop(list);
        super::waiter::unpark_all(wakeups);
    }

    /// The cleanup of a waiter that unwinds: leave the queue, or give back the permit it was
    /// handed.
    fn abandon(&self, waiter: &Waiter, entry: &Entry<()>) {
        let mut list = self.waiters.lock();
        // SAFETY: linked in this list, if at all.
        unsafe { list.remove(entry) };
        if waiter.abort().is_ok() {
            if list.is_empty() {
                self.state.fetch_and(!WAITERS, Ordering::Relaxed);
            }
        } else {
            drop(list);
            self.add_permits(1);
        }
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("permits", &self.available_permits())
            .finish_non_exhaustive()
    }
}

impl SemaphorePermit<'_> {
    /// Keeps the permit out of the semaphore for good: dropping does not give it back.
    ///
    /// ```
    /// let sem = zsync::sync::Semaphore::new(1);
    /// sem.acquire().forget();
    /// assert_eq!(sem.available_permits(), 0);
    /// ```
    pub fn forget(mut self) {
        self.permits = 0;
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.sem.add_permits(self.permits);
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("permits", &self.permits)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::sync::Arc;
    use crate::loom::thread;

    /// One permit, two takers, one of which may give up (as if cancelled) at any point, even
    /// after it was handed the permit: the other always gets the permit (loom reports a
    /// deadlock otherwise), and no permit is lost or made up.
    #[test]
    fn no_permit_is_lost() {
        loom::model(|| {
            let sem = Arc::new(Semaphore::new(0));
            let s2 = sem.clone();
            let taker = thread::spawn(move || s2.acquire().forget());
            let s3 = sem.clone();
            let quitter = thread::spawn(move || {
                let waiter = Waiter::new();
                let entry = Entry::new(&waiter, 0, ());
                if s3.enqueue(&entry) {
                    thread::yield_now();
                    s3.abandon(&waiter, &entry);
                } else {
                    s3.add_permits(1); // took it from the pool: give it back
                }
            });
            sem.add_permits(1);
            quitter.join().unwrap();
            taker.join().unwrap();
            sem.add_permits(1);
            assert_eq!(sem.available_permits(), 1);
        });
    }
}

//! [`Mutex`]: std's mutex, parking green threads.
//!
//! The lock is one state word (`LOCKED`, `PARKED` = somebody waits), futex-style: an
//! uncontended lock and unlock are one compare-exchange each. A thread that finds it locked
//! spins a little, then queues on the waiter list and parks. `PARKED` is set exactly while the
//! list is non-empty (both change under the list's lock), so an unlock that sees it clear has
//! nobody to wake.
//!
//! Unlocking with waiters normally frees the lock and wakes the first waiter to compete for it
//! (newcomers may barge in, which keeps throughput up); but once the first waiter has waited
//! over a millisecond the lock is handed to it directly, still locked, so nobody starves.

use super::poison::{self, Flag};
#[cfg(loom)]
use super::waiter::Wake as _;
use super::waiter::{Entry, Lock, Unparker, UnwindGuard, WaitList, Waiter, HANDOFF, RETRY};
use crate::loom::sync::atomic::{AtomicU32, Ordering};
use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::{LockResult, TryLockError, TryLockResult};
use std::time::Instant;

const LOCKED: u32 = 1;
const PARKED: u32 = 2;

/// How often a locker re-reads a lock held by someone else before it parks, backing off
/// between looks: 1, 2, 4, 8, then 16 `pause`s ([`SPIN_PAUSES`]): 143 in all, about 1.7 us on
/// this project's machine, where a `pause` takes 12 ns (Go spins 4 x 30). A contended lock
/// changes hands between cores: lockers that re-read it at once keep pulling its cache line
/// away from the holder, which then waits for the line to unlock (B9, 64 green threads on 2
/// workers: 125-155 ns per lock with 8 plain re-reads, 43-57 with the backoff); and one that
/// parks at once pays a park and a cross-worker wake for a hold of a few nanoseconds.
#[cfg(not(loom))]
const SPINS: u32 = 12;
#[cfg(loom)]
const SPINS: u32 = 0;

/// The most `pause`s between two looks of a spinning locker (see [`SPINS`]).
const SPIN_PAUSES: u32 = 16;

/// When a waiter started waiting, and how often it was woken and lost the lock to a newcomer.
#[derive(Clone, Copy)]
struct Since {
    at: Instant,
    retries: u32,
}

/// Whether the first waiter is owed the lock (eventual fairness).
fn overdue(since: Since) -> bool {
    #[cfg(not(loom))]
    {
        let _ = since.retries;
        since.at.elapsed() >= std::time::Duration::from_millis(1)
    }
    // Loom has no clock: hand over from the second wake on, so both paths get explored.
    #[cfg(loom)]
    {
        let _ = since.at;
        since.retries > 0
    }
}

/// The lock without data: state word plus waiter list.
pub(crate) struct RawMutex {
    state: AtomicU32,
    waiters: Lock<WaitList<Since>>,
}

impl RawMutex {
    crate::loom::loom_const_fn! {
        pub(crate) fn new() -> RawMutex {
            RawMutex {
                state: AtomicU32::new(0),
                waiters: Lock::new(WaitList::new()),
            }
        }
    }

    /// Locks, parking while it is held elsewhere. A park point.
    #[inline]
    pub(crate) fn lock(&self) {
        if self
            .state
            .compare_exchange_weak(0, LOCKED, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            self.lock_contended();
        }
    }

    #[inline]
    pub(crate) fn try_lock(&self) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        while state & LOCKED == 0 {
            match self.state.compare_exchange_weak(
                state,
                state | LOCKED,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => state = actual,
            }
        }
        false
    }

    /// # Safety
    /// The caller holds the lock.
    #[inline]
    pub(crate) unsafe fn unlock(&self) {
        if self
            .state
            .compare_exchange(LOCKED, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            self.unlock_contended();
        }
    }

    #[cold]
    fn lock_contended(&self) {
        for look in 0..SPINS {
            let state = self.state.load(Ordering::Relaxed);
            if state & PARKED != 0 {
                break; // others already wait: queue behind them
            }
            if state & LOCKED == 0 && self.try_lock() {
                return;
            }
            for _ in 0..(1u32 << look).min(SPIN_PAUSES) {
                std::hint::spin_loop();
            }
        }
        let waiter = Waiter::new();
        let since = Since {
            at: Instant::now(),
            retries: 0,
        };
        let entry = Entry::new(&waiter, 0, since);
        loop {
            if self.try_lock() {
                return;
            }
            if !self.enqueue(&waiter, &entry) {
                continue; // it was unlocked meanwhile
            }
            let guard = UnwindGuard(|| self.abandon(&waiter, &entry));
            let notified = waiter.wait(None, &super::waiter::WaitReason::Mutex);
            guard.disarm();
            if notified.is_some_and(|n| n.kind == HANDOFF) {
                return; // handed over, still locked
            }
            entry.set_data(Since {
                retries: entry.data().retries + 1,
                ..since
            });
        }
    }

    /// Queues `entry` if the lock is still held; false if it is free now.
    fn enqueue(&self, waiter: &Waiter, entry: &Entry<Since>) -> bool {
        let mut list = self.waiters.lock();
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            if state & LOCKED == 0 {
                return false;
            }
            if state & PARKED != 0 {
                break;
            }
            // An unlock racing with this sees PARKED and takes the slow path, or makes this
            // exchange fail.
            match self.state.compare_exchange_weak(
                state,
                state | PARKED,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(actual) => state = actual,
            }
        }
        waiter.reset();
        // SAFETY: the entry and its waiter live in `lock_contended`'s frame, which unlinks the
        // entry before it returns or unwinds: a notification unlinks it, and `abandon` (run on
        // unwinding) removes it under this lock.
        unsafe { list.push_back(entry) };
        true
    }

    #[cold]
    fn unlock_contended(&self) {
        let mut list = self.waiters.lock();
        let wake = loop {
            let Some(first) = list.pop_front() else {
                self.state.store(0, Ordering::Release);
                break None;
            };
            let rest = if list.is_empty() { 0 } else { PARKED };
            if overdue(first.data()) {
                // Hand the lock over: it stays locked, the waiter owns it when it wakes.
                self.state.store(LOCKED | rest, Ordering::Relaxed);
                if let Some(thread) = first.notify(HANDOFF) {
                    break Some(thread);
                }
            } else if let Some(thread) = first.notify(RETRY) {
                self.state.store(rest, Ordering::Release);
                break Some(thread);
            }
        };
        drop(list);
        if let Some(thread) = wake {
            thread.wake();
        }
    }

    /// The cleanup of a waiter that unwinds: leave the list, and pass on whatever it was given.
    fn abandon(&self, waiter: &Waiter, entry: &Entry<Since>) {
        let mut list = self.waiters.lock();
        // SAFETY: the entry is linked in this list, if at all.
        unsafe { list.remove(entry) };
        match waiter.abort() {
            Ok(()) => {
                if list.is_empty() {
                    self.state.fetch_and(!PARKED, Ordering::Relaxed);
                }
            }
            Err(n) if n.kind == HANDOFF => {
                drop(list);
                // SAFETY: the lock was handed to this waiter.
                unsafe { self.unlock() };
            }
            Err(_) => {
                // Woken to compete for a free lock: if it is still free, wake the next waiter
                // instead. (If it is held, its holder's unlock wakes one.)
                let wake = if self.state.load(Ordering::Relaxed) & LOCKED == 0 {
                    self.wake_next(&mut list)
                } else {
                    None
                };
                drop(list);
                if let Some(thread) = wake {
                    thread.wake();
                }
            }
        }
    }

    fn wake_next(&self, list: &mut WaitList<Since>) -> Option<Unparker> {
        let thread = list.notify_one(RETRY);
        if list.is_empty() {
            self.state.fetch_and(!PARKED, Ordering::Relaxed);
        }
        thread
    }
}

/// A mutual exclusion lock protecting shared data, like `std::sync::Mutex`.
///
/// On a green thread, waiting for the lock parks only the green thread; on an OS thread it
/// blocks the thread. Green threads and OS threads can share one `Mutex`. The lock is poisoned
/// when a thread panics while holding it, exactly as in std; a cancellation or an expired
/// `timeout()` unwinding through the guard does not poison it (a request to stop is not a
/// failure, and one expired request must not break every later `lock().unwrap()`). It is fair enough that no waiter starves: a waiter that has waited
/// for a millisecond gets the lock handed over directly.
///
/// ```
/// use std::sync::Arc;
/// use zsync::sync::Mutex;
///
/// let total = zsync::run(|| {
///     let counter = Arc::new(Mutex::new(0));
///     let handles: Vec<_> = (0..10)
///         .map(|_| {
///             let counter = counter.clone();
///             zsync::spawn(move || *counter.lock().unwrap() += 1)
///         })
///         .collect();
///     handles.into_iter().for_each(|h| h.join().unwrap());
///     let total = *counter.lock().unwrap();
///     total
/// });
/// assert_eq!(total, 10);
/// ```
pub struct Mutex<T: ?Sized> {
    raw: RawMutex,
    poison: Flag,
    data: UnsafeCell<T>,
}

// SAFETY: the mutex hands out access to the data to one thread at a time, so sharing it only
// needs the data to be sendable, as in std.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}
impl<T: ?Sized> UnwindSafe for Mutex<T> {}
impl<T: ?Sized> RefUnwindSafe for Mutex<T> {}

/// The RAII guard of a locked [`Mutex`]: derefs to the data; unlocks on drop. Like
/// `std::sync::MutexGuard`, it is not `Send`.
///
/// ```
/// let m = zsync::sync::Mutex::new(vec![1]);
/// let mut guard = m.lock().unwrap();
/// guard.push(2);
/// assert_eq!(*guard, [1, 2]);
/// ```
#[must_use = "if unused the Mutex will immediately unlock"]
pub struct MutexGuard<'a, T: ?Sized + 'a> {
    lock: &'a Mutex<T>,
    poison: poison::Guard,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared guard only gives out `&T`.
unsafe impl<T: ?Sized + Sync> Sync for MutexGuard<'_, T> {}

impl<T> Mutex<T> {
    crate::loom::loom_const_fn! {
        /// A new, unlocked mutex holding `t`. A `const fn`, so it can initialise a `static`.
        ///
        /// ```
        /// static COUNT: zsync::sync::Mutex<u32> = zsync::sync::Mutex::new(0);
        /// *COUNT.lock().unwrap() += 1;
        /// assert_eq!(*COUNT.lock().unwrap(), 1);
        /// ```
        pub fn new(t: T) -> Mutex<T> {
            Mutex {
                raw: RawMutex::new(),
                poison: Flag::new(),
                data: UnsafeCell::new(t),
            }
        }
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Locks the mutex, parking the calling green thread (or blocking the OS thread) until it
    /// is free. A park point: a cancellation unwinds from here without taking the lock.
    ///
    /// # Errors
    /// If the mutex is poisoned, `Err` still holds the guard (the lock is taken).
    ///
    /// ```
    /// let m = zsync::sync::Mutex::new(1);
    /// *m.lock().unwrap() += 1;
    /// assert_eq!(*m.lock().unwrap(), 2);
    /// ```
    pub fn lock(&self) -> LockResult<MutexGuard<'_, T>> {
        crate::runtime::monitor::coop::poll();
        self.raw.lock();
        // SAFETY: just locked.
        unsafe { MutexGuard::new(self) }
    }

    /// Takes the lock if it is free right now.
    ///
    /// # Errors
    /// `WouldBlock` if it is held; `Poisoned` (with the guard) if it is poisoned.
    ///
    /// ```
    /// use std::sync::TryLockError;
    /// let m = zsync::sync::Mutex::new(());
    /// let held = m.lock().unwrap();
    /// assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock)));
    /// drop(held);
    /// assert!(m.try_lock().is_ok());
    /// ```
    pub fn try_lock(&self) -> TryLockResult<MutexGuard<'_, T>> {
        crate::runtime::monitor::coop::poll();
        if self.raw.try_lock() {
            // SAFETY: just locked.
            Ok(unsafe { MutexGuard::new(self) }?)
        } else {
            Err(TryLockError::WouldBlock)
        }
    }

    /// Whether a thread unwound while holding the lock.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let m = Arc::new(zsync::sync::Mutex::new(0));
    /// let m2 = m.clone();
    /// let _ = zsync::spawn(move || {
    ///     let _guard = m2.lock().unwrap();
    ///     panic!("poison it");
    /// })
    /// .join();
    /// assert!(m.is_poisoned());
    /// ```
    #[inline]
    pub fn is_poisoned(&self) -> bool {
        self.poison.get()
    }

    /// Clears the poisoned state.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let m = Arc::new(zsync::sync::Mutex::new(0));
    /// let m2 = m.clone();
    /// let _ = std::thread::spawn(move || {
    ///     let _guard = m2.lock().unwrap();
    ///     panic!("poison it");
    /// })
    /// .join();
    /// assert!(m.is_poisoned());
    /// let guard = m.lock().unwrap_or_else(|e| e.into_inner());
    /// m.clear_poison();
    /// drop(guard);
    /// assert!(!m.is_poisoned());
    /// ```
    #[inline]
    pub fn clear_poison(&self) {
        self.poison.clear();
    }

    /// Consumes the mutex and returns the data.
    ///
    /// # Errors
    /// If the mutex is poisoned, `Err` still holds the data.
    ///
    /// ```
    /// let m = zsync::sync::Mutex::new(String::from("data"));
    /// assert_eq!(m.into_inner().unwrap(), "data");
    /// ```
    pub fn into_inner(self) -> LockResult<T>
    where
        T: Sized,
    {
        let poison = self.poison;
        poison.wrap(self.data.into_inner())
    }

    /// A mutable reference to the data, without locking: the borrow checker proves exclusivity.
    ///
    /// # Errors
    /// If the mutex is poisoned, `Err` still holds the reference.
    ///
    /// ```
    /// let mut m = zsync::sync::Mutex::new(0);
    /// *m.get_mut().unwrap() = 10;
    /// assert_eq!(*m.lock().unwrap(), 10);
    /// ```
    pub fn get_mut(&mut self) -> LockResult<&mut T> {
        self.poison.wrap(self.data.get_mut())
    }

    /// The raw lock, for `Condvar`.
    pub(crate) fn raw(&self) -> &RawMutex {
        &self.raw
    }
}

impl<T> From<T> for Mutex<T> {
    /// A new mutex holding `t`, like [`Mutex::new`].
    ///
    /// ```
    /// let m = zsync::sync::Mutex::from(3);
    /// assert_eq!(*m.lock().unwrap(), 3);
    /// ```
    fn from(t: T) -> Self {
        Mutex::new(t)
    }
}

impl<T: Default> Default for Mutex<T> {
    /// A mutex holding `T::default()`.
    ///
    /// ```
    /// let m: zsync::sync::Mutex<Vec<u8>> = Default::default();
    /// assert!(m.lock().unwrap().is_empty());
    /// ```
    fn default() -> Mutex<T> {
        Mutex::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    /// Formats like std: `Mutex { data: .., poisoned: false, .. }`, with the string
    /// `"<locked>"` (quotes and all, as std prints it) as the data while it is locked.
    ///
    /// ```
    /// let m = zsync::sync::Mutex::new(1);
    /// assert_eq!(format!("{m:?}"), "Mutex { data: 1, poisoned: false, .. }");
    /// let held = m.lock().unwrap();
    /// assert_eq!(format!("{m:?}"), r#"Mutex { data: "<locked>", poisoned: false, .. }"#);
    /// # drop(held);
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Ok(guard) => {
                d.field("data", &&*guard);
            }
            Err(TryLockError::Poisoned(err)) => {
                d.field("data", &&**err.get_ref());
            }
            Err(TryLockError::WouldBlock) => {
                // A `&str`, as std's (its `RwLock` prints `<locked>` bare; so does ours).
                d.field("data", &"<locked>");
            }
        }
        d.field("poisoned", &self.poison.get());
        d.finish_non_exhaustive()
    }
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// # Safety
    /// The caller has just locked `lock`.
    unsafe fn new(lock: &'a Mutex<T>) -> LockResult<MutexGuard<'a, T>> {
        poison::map_result(lock.poison.guard(), |poison| MutexGuard {
            lock,
            poison,
            _not_send: PhantomData,
        })
    }

    /// The guard's mutex.
    pub(crate) fn mutex(&self) -> &'a Mutex<T> {
        self.lock
    }

    /// Takes the guard apart without unlocking (for `Condvar::wait`).
    pub(crate) fn into_parts(self) -> (&'a Mutex<T>, poison::Guard) {
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped, so the poison guard is moved out exactly once.
        (this.lock, unsafe { std::ptr::read(&this.poison) })
    }

    /// Rebuilds a guard taken apart by [`into_parts`](Self::into_parts).
    ///
    /// # Safety
    /// The caller holds the lock again.
    pub(crate) unsafe fn from_parts(lock: &'a Mutex<T>, poison: poison::Guard) -> Self {
        MutexGuard {
            lock,
            poison,
            _not_send: PhantomData,
        }
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock, and `&mut self` makes this the only access.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.poison.done(&self.poison);
        // SAFETY: the guard holds the lock.
        unsafe { self.lock.raw.unlock() };
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::sync::Arc;
    use crate::loom::thread;
    use crate::loom::UnsafeCell;

    struct Counter {
        raw: RawMutex,
        value: UnsafeCell<u32>,
    }
    // SAFETY: `value` is touched only under `raw`.
    unsafe impl Sync for Counter {}

    impl Counter {
        fn increment(&self) {
            self.raw.lock();
            // SAFETY: under the lock; loom checks that no other access overlaps.
            self.value.with_mut(|v| unsafe { *v += 1 });
            // SAFETY: locked above.
            unsafe { self.raw.unlock() };
        }
    }

    /// Two threads lock and unlock twice each, racing with the main thread's lock: mutual
    /// exclusion holds (loom checks the cell), no wake-up is lost (loom reports a deadlock
    /// otherwise), and the counter is exact. The second wake of a waiter is a hand-over, so
    /// both the barging and the hand-over paths are explored.
    #[test]
    fn mutual_exclusion_and_no_lost_wakeup() {
        loom::model(|| {
            let counter = Arc::new(Counter {
                raw: RawMutex::new(),
                value: UnsafeCell::new(0),
            });
            let c2 = counter.clone();
            let t = thread::spawn(move || {
                c2.increment();
                c2.increment();
            });
            counter.increment();
            counter.increment();
            t.join().unwrap();
            counter.raw.lock();
            // SAFETY: under the lock.
            let total = counter.value.with_mut(|v| unsafe { *v });
            assert_eq!(total, 4);
            assert_eq!(counter.raw.state.load(Ordering::Relaxed), LOCKED);
            // SAFETY: locked above.
            unsafe { counter.raw.unlock() };
        });
    }

    /// A waiter that unwinds after it was handed the lock passes it on: the other thread still
    /// gets it.
    #[test]
    fn an_abandoned_handoff_is_passed_on() {
        loom::model(|| {
            let raw = Arc::new(RawMutex::new());
            raw.lock();
            let r2 = raw.clone();
            let t = thread::spawn(move || {
                r2.lock();
                // SAFETY: locked above.
                unsafe { r2.unlock() };
            });
            // A waiter that gives up (as if cancelled) at some point while queued.
            let r3 = raw.clone();
            let quitter = thread::spawn(move || {
                let waiter = Waiter::new();
                let entry = Entry::new(
                    &waiter,
                    0,
                    Since {
                        at: Instant::now(),
                        retries: 1,
                    },
                );
                if r3.enqueue(&waiter, &entry) {
                    thread::yield_now();
                }
                r3.abandon(&waiter, &entry);
            });
            // SAFETY: locked above.
            unsafe { raw.unlock() };
            t.join().unwrap();
            quitter.join().unwrap();
            assert!(raw.try_lock(), "the lock leaked");
        });
    }
}

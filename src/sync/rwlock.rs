//! [`RwLock`]: std's reader-writer lock, parking green threads, with no writer starvation.
//!
//! One state word: the reader count, `WRITER`, and `PARKED` (the waiter list is non-empty; it
//! changes only under the list's lock). The fast paths (read or write an uncontended lock, and
//! their unlocks) are one atomic operation each and are open only while nobody waits. Once
//! anybody waits, new arrivals queue behind them (so a waiting writer holds new readers back),
//! and the lock is handed over directly: a released write lock goes to the first waiter, or to
//! all the readers at the front of the queue; the last reader out hands it to the writer at the
//! front. A waiter that unwinds after it was handed the lock releases it again, which hands it
//! on.

use super::poison::{self, Flag};
use super::waiter::HANDOFF;
use super::waiter::{unpark_all, Entry, Lock, Unparker, UnwindGuard, WaitList, Waiter};
use crate::loom::sync::atomic::{AtomicU32, Ordering};
use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::ptr::NonNull;
use std::sync::{LockResult, TryLockError, TryLockResult};

const READER: u32 = 1;
const READERS: u32 = (1 << 29) - 1;
const MAX_READERS: u32 = READERS - 1;
const WRITER: u32 = 1 << 29;
const PARKED: u32 = 1 << 30;

fn read_lockable(state: u32) -> bool {
    state & (WRITER | PARKED) == 0 && state & READERS < MAX_READERS
}

/// The lock without data. Waiter payload: true for a writer.
pub(crate) struct RawRwLock {
    state: AtomicU32,
    waiters: Lock<WaitList<bool>>,
}

impl RawRwLock {
    crate::loom::loom_const_fn! {
        pub(crate) fn new() -> RawRwLock {
            RawRwLock {
                state: AtomicU32::new(0),
                waiters: Lock::new(WaitList::new()),
            }
        }
    }

    #[inline]
    pub(crate) fn read(&self) {
        let state = self.state.load(Ordering::Relaxed);
        if !(read_lockable(state)
            && self
                .state
                .compare_exchange_weak(state, state + READER, Ordering::Acquire, Ordering::Relaxed)
                .is_ok())
        {
            self.lock_contended(false);
        }
    }

    pub(crate) fn try_read(&self) -> bool {
        let mut state = self.state.load(Ordering::Relaxed);
        while read_lockable(state) {
            match self.state.compare_exchange_weak(
                state,
                state + READER,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => state = actual,
            }
        }
        false
    }

    #[inline]
    pub(crate) fn write(&self) {
        if !self.try_write() {
            self.lock_contended(true);
        }
    }

    #[inline]
    pub(crate) fn try_write(&self) -> bool {
        self.state
            .compare_exchange(0, WRITER, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// # Safety
    /// The caller holds a read lock.
    #[inline]
    pub(crate) unsafe fn read_unlock(&self) {
        // AcqRel: the last reader out hands the lock to a writer, which must see every reader
        // done.
        let prev = self.state.fetch_sub(READER, Ordering::AcqRel);
        if prev - READER == PARKED {
            self.dispatch_now();
        }
    }

    /// # Safety
    /// The caller holds the write lock.
    #[inline]
    pub(crate) unsafe fn write_unlock(&self) {
        if self
            .state
            .compare_exchange(WRITER, 0, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            let mut list = self.waiters.lock();
            self.state.fetch_and(!WRITER, Ordering::Release);
            let wakeups = self.dispatch(&mut list);
            drop(list);
            unpark_all(wakeups);
        }
    }

    /// Turns the write lock into a read lock, letting the readers at the front of the queue in.
    ///
    /// # Safety
    /// The caller holds the write lock.
    pub(crate) unsafe fn downgrade(&self) {
        if self
            .state
            .compare_exchange(WRITER, READER, Ordering::Release, Ordering::Relaxed)
            .is_err()
        {
            let mut list = self.waiters.lock();
            self.state.fetch_sub(WRITER - READER, Ordering::Release);
            let wakeups = self.dispatch(&mut list);
            drop(list);
            unpark_all(wakeups);
        }
    }

    fn dispatch_now(&self) {
        let mut list = self.waiters.lock();
        let wakeups = self.dispatch(&mut list);
        drop(list);
        unpark_all(wakeups);
    }

    /// Hands the lock to the waiters at the front, as far as the state allows: the writer at
    /// the front if nobody holds the lock, or the readers at the front if no writer holds it.
    /// Clears `PARKED` when the list empties. Under the list's lock.
    fn dispatch(&self, list: &mut WaitList<bool>) -> Vec<Unparker> {
        let mut wakeups = Vec::new();
        loop {
            let state = self.state.load(Ordering::Acquire);
            if state & WRITER != 0 {
                break;
            }
            let Some(writer) = list.front_data() else {
                break;
            };
            let first = if writer {
                if state & READERS != 0 {
                    break; // the last reader out hands over
                }
                self.state.fetch_or(WRITER, Ordering::Relaxed);
                list.pop_front()
            } else {
                if state & READERS >= MAX_READERS {
                    break; // full: the last reader out lets the queued ones in
                }
                // Counted before the reader can run (and unlock).
                self.state.fetch_add(READER, Ordering::Relaxed);
                list.pop_front()
            };
            match first.and_then(|entry| entry.notify(HANDOFF)) {
                Some(thread) => {
                    wakeups.push(thread);
                    if writer {
                        break;
                    }
                }
                // The waiter gave up: undo and look at the next one.
                None if writer => {
                    self.state.fetch_and(!WRITER, Ordering::Relaxed);
                }
                None => {
                    self.state.fetch_sub(READER, Ordering::Relaxed);
                }
            }
        }
        if list.is_empty() {
            self.state.fetch_and(!PARKED, Ordering::Release);
        }
        wakeups
    }

    #[cold]
    fn lock_contended(&self, writer: bool) {
        if !writer && self.state.load(Ordering::Relaxed) & READERS >= MAX_READERS {
            // As std: a count this high means read guards are being leaked.
            panic!("too many active read locks on RwLock");
        }
        let waiter = Waiter::new();
        let entry = Entry::new(&waiter, 0, writer);
        if !self.enqueue(&entry, writer) {
            return; // got it after all
        }
        let guard = UnwindGuard(|| self.abandon(&waiter, &entry, writer));
        let notified = waiter.wait(None, &super::waiter::WaitReason::RwLock);
        guard.disarm();
        debug_assert_eq!(notified.map(|n| n.kind), Some(HANDOFF));
    }

    /// Takes the lock if it can be taken, or queues `entry`: false if the lock was taken.
    fn enqueue(&self, entry: &Entry<bool>, writer: bool) -> bool {
        let mut list = self.waiters.lock();
        let mut state = self.state.load(Ordering::Relaxed);
        loop {
            let lockable = if writer {
                state == 0
            } else {
                read_lockable(state)
            };
            let (next, order) = if lockable {
                let next = if writer { WRITER } else { state + READER };
                (next, Ordering::Acquire)
            } else if state & PARKED == 0 {
                (state | PARKED, Ordering::Relaxed)
            } else {
                break;
            };
            match self
                .state
                .compare_exchange_weak(state, next, order, Ordering::Relaxed)
            {
                Ok(_) if lockable => return false,
                Ok(_) => break,
                Err(actual) => state = actual,
            }
        }
        // SAFETY: the entry and its waiter live in `lock_contended`'s frame, which waits until
        // a hand-over unlinks the entry, or removes it in `abandon` when it unwinds.
        unsafe { list.push_back(entry) };
        // If the lock is free (a transient state while waiters give up), hand it out now.
        let wakeups = self.dispatch(&mut list);
        drop(list);
        unpark_all(wakeups);
        true
    }

    /// The cleanup of a waiter that unwinds: leave the queue (which may let the waiters behind
    /// in), or release the lock if it was handed over already.
    fn abandon(&self, waiter: &Waiter, entry: &Entry<bool>, writer: bool) {
        let mut list = self.waiters.lock();
        // SAFETY: linked in this list, if at all.
        unsafe { list.remove(entry) };
        if waiter.abort().is_ok() {
            let wakeups = self.dispatch(&mut list);
            drop(list);
            unpark_all(wakeups);
            return;
        }
        drop(list);
        // SAFETY: the lock was handed to this waiter.
        unsafe {
            if writer {
                self.write_unlock();
            } else {
                self.read_unlock();
            }
        }
    }
}

/// A reader-writer lock, like `std::sync::RwLock`: any number of readers or one writer.
///
/// Waiting parks the green thread (or blocks the OS thread). Writers do not starve: once a
/// writer waits, new readers queue behind it; the queue is served in order, with consecutive
/// readers let in together. A writer that panics while holding the lock poisons it, as in std
/// (a cancellation or an expired `timeout()` does not).
///
/// ```
/// use std::sync::Arc;
/// use zsync::sync::RwLock;
///
/// zsync::run(|| {
///     let config = Arc::new(RwLock::new(String::from("v1")));
///     let readers: Vec<_> = (0..4)
///         .map(|_| {
///             let c = config.clone();
///             zsync::spawn(move || c.read().unwrap().len())
///         })
///         .collect();
///     *config.write().unwrap() = String::from("v2");
///     for r in readers {
///         assert_eq!(r.join().unwrap(), 2);
///     }
///     assert_eq!(*config.read().unwrap(), "v2");
/// });
/// ```
pub struct RwLock<T: ?Sized> {
    raw: RawRwLock,
    poison: Flag,
    data: UnsafeCell<T>,
}

// SAFETY: readers share `&T` across threads (T: Sync), a writer gets `&mut T` (T: Send), as in
// std.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}
impl<T: ?Sized> UnwindSafe for RwLock<T> {}
impl<T: ?Sized> RefUnwindSafe for RwLock<T> {}

/// The RAII guard of a shared read lock on a [`RwLock`]; not `Send`, like std's.
///
/// ```
/// let lock = zsync::sync::RwLock::new(5);
/// let (r1, r2) = (lock.read().unwrap(), lock.read().unwrap());
/// assert_eq!(*r1 + *r2, 10);
/// ```
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockReadGuard<'a, T: ?Sized + 'a> {
    // A pointer to the data rather than `&'a RwLock<T>`: `RwLock<T>` holds an `UnsafeCell<T>`,
    // which would make the guard invariant in `T`, where std's is covariant (a guard of
    // `RwLock<&'static str>` may be used as a guard of `&'a str`). `NonNull<T>` is covariant,
    // like the `&'a T` this guard stands for, and is neither `Send` nor `Sync`, so those are
    // decided below.
    //
    // SAFETY: points into the `RwLock<T>` borrowed for 'a (the same borrow as `inner_lock`),
    // and the guard holds a read lock on it as long as it exists, so no `&mut T` is made
    // meanwhile; through it the guard only ever gives out `&T`, so seeing `T` as a shorter-lived
    // type is as sound as it is for `&'a T`.
    data: NonNull<T>,
    inner_lock: &'a RawRwLock,
}

// SAFETY: a shared read guard only gives out `&T`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockReadGuard<'_, T> {}

/// The RAII guard of the exclusive write lock on a [`RwLock`]; not `Send`, like std's.
///
/// ```
/// let lock = zsync::sync::RwLock::new(vec![1]);
/// lock.write().unwrap().push(2);
/// assert_eq!(*lock.read().unwrap(), [1, 2]);
/// ```
#[must_use = "if unused the RwLock will immediately unlock"]
pub struct RwLockWriteGuard<'a, T: ?Sized + 'a> {
    lock: &'a RwLock<T>,
    poison: poison::Guard,
    _not_send: PhantomData<*const ()>,
}

// SAFETY: a shared write guard only gives out `&T`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockWriteGuard<'_, T> {}

impl<T> RwLock<T> {
    crate::loom::loom_const_fn! {
        /// A new, unlocked lock holding `t`. A `const fn`.
        ///
        /// ```
        /// static TABLE: zsync::sync::RwLock<Vec<u32>> = zsync::sync::RwLock::new(Vec::new());
        /// TABLE.write().unwrap().push(1);
        /// assert_eq!(TABLE.read().unwrap().len(), 1);
        /// ```
        pub fn new(t: T) -> RwLock<T> {
            RwLock {
                raw: RawRwLock::new(),
                poison: Flag::new(),
                data: UnsafeCell::new(t),
            }
        }
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Takes a shared read lock, parking while a writer holds the lock or waits for it. A park
    /// point.
    ///
    /// # Errors
    /// If the lock is poisoned, `Err` still holds the guard.
    ///
    /// ```
    /// let lock = zsync::sync::RwLock::new(1);
    /// assert_eq!(*lock.read().unwrap(), 1);
    /// ```
    pub fn read(&self) -> LockResult<RwLockReadGuard<'_, T>> {
        crate::runtime::monitor::coop::poll();
        self.raw.read();
        // SAFETY: just read-locked.
        unsafe { RwLockReadGuard::new(self) }
    }

    /// Takes a read lock if that is possible right now (no writer holds or awaits the lock).
    ///
    /// # Errors
    /// `WouldBlock`, or `Poisoned` with the guard.
    ///
    /// ```
    /// use std::sync::TryLockError;
    /// let lock = zsync::sync::RwLock::new(1);
    /// let w = lock.write().unwrap();
    /// assert!(matches!(lock.try_read(), Err(TryLockError::WouldBlock)));
    /// drop(w);
    /// assert_eq!(*lock.try_read().unwrap(), 1);
    /// ```
    pub fn try_read(&self) -> TryLockResult<RwLockReadGuard<'_, T>> {
        crate::runtime::monitor::coop::poll();
        if self.raw.try_read() {
            // SAFETY: just read-locked.
            Ok(unsafe { RwLockReadGuard::new(self) }?)
        } else {
            Err(TryLockError::WouldBlock)
        }
    }

    /// Takes the exclusive write lock, parking until all readers and writers are out. A park
    /// point.
    ///
    /// # Errors
    /// If the lock is poisoned, `Err` still holds the guard.
    ///
    /// ```
    /// let lock = zsync::sync::RwLock::new(1);
    /// *lock.write().unwrap() += 1;
    /// assert_eq!(*lock.read().unwrap(), 2);
    /// ```
    pub fn write(&self) -> LockResult<RwLockWriteGuard<'_, T>> {
        crate::runtime::monitor::coop::poll();
        self.raw.write();
        // SAFETY: just write-locked.
        unsafe { RwLockWriteGuard::new(self) }
    }

    /// Takes the write lock if it is free right now.
    ///
    /// # Errors
    /// `WouldBlock`, or `Poisoned` with the guard.
    ///
    /// ```
    /// use std::sync::TryLockError;
    /// let lock = zsync::sync::RwLock::new(1);
    /// let r = lock.read().unwrap();
    /// assert!(matches!(lock.try_write(), Err(TryLockError::WouldBlock)));
    /// drop(r);
    /// assert!(lock.try_write().is_ok());
    /// ```
    pub fn try_write(&self) -> TryLockResult<RwLockWriteGuard<'_, T>> {
        crate::runtime::monitor::coop::poll();
        if self.raw.try_write() {
            // SAFETY: just write-locked.
            Ok(unsafe { RwLockWriteGuard::new(self) }?)
        } else {
            Err(TryLockError::WouldBlock)
        }
    }

    /// Whether a writer unwound while holding the lock.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let lock = Arc::new(zsync::sync::RwLock::new(0));
    /// let l2 = lock.clone();
    /// let _ = zsync::spawn(move || {
    ///     let _w = l2.write().unwrap();
    ///     panic!("poison it");
    /// })
    /// .join();
    /// assert!(lock.is_poisoned());
    /// ```
    #[inline]
    pub fn is_poisoned(&self) -> bool {
        self.poison.get()
    }

    /// Clears the poisoned state.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let lock = Arc::new(zsync::sync::RwLock::new(0));
    /// let l2 = lock.clone();
    /// let _ = std::thread::spawn(move || {
    ///     let _w = l2.write().unwrap();
    ///     panic!("poison it");
    /// })
    /// .join();
    /// lock.clear_poison();
    /// assert!(!lock.is_poisoned());
    /// ```
    #[inline]
    pub fn clear_poison(&self) {
        self.poison.clear();
    }

    /// Consumes the lock and returns the data.
    ///
    /// # Errors
    /// If the lock is poisoned, `Err` still holds the data.
    ///
    /// ```
    /// let lock = zsync::sync::RwLock::new(String::from("x"));
    /// assert_eq!(lock.into_inner().unwrap(), "x");
    /// ```
    pub fn into_inner(self) -> LockResult<T>
    where
        T: Sized,
    {
        let poison = self.poison;
        poison.wrap(self.data.into_inner())
    }

    /// A mutable reference to the data, without locking.
    ///
    /// # Errors
    /// If the lock is poisoned, `Err` still holds the reference.
    ///
    /// ```
    /// let mut lock = zsync::sync::RwLock::new(0);
    /// *lock.get_mut().unwrap() = 3;
    /// assert_eq!(*lock.read().unwrap(), 3);
    /// ```
    pub fn get_mut(&mut self) -> LockResult<&mut T> {
        self.poison.wrap(self.data.get_mut())
    }
}

impl<T> From<T> for RwLock<T> {
    /// A new lock holding `t`.
    ///
    /// ```
    /// let lock = zsync::sync::RwLock::from(4);
    /// assert_eq!(*lock.read().unwrap(), 4);
    /// ```
    fn from(t: T) -> Self {
        RwLock::new(t)
    }
}

impl<T: Default> Default for RwLock<T> {
    /// A lock holding `T::default()`.
    ///
    /// ```
    /// let lock: zsync::sync::RwLock<u8> = Default::default();
    /// assert_eq!(*lock.read().unwrap(), 0);
    /// ```
    fn default() -> RwLock<T> {
        RwLock::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    /// Formats like std: `RwLock { data: .., poisoned: false, .. }`.
    ///
    /// ```
    /// let lock = zsync::sync::RwLock::new(1);
    /// assert_eq!(format!("{lock:?}"), "RwLock { data: 1, poisoned: false, .. }");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Ok(guard) => {
                d.field("data", &&*guard);
            }
            Err(TryLockError::Poisoned(err)) => {
                d.field("data", &&**err.get_ref());
            }
            Err(TryLockError::WouldBlock) => {
                d.field("data", &format_args!("<locked>"));
            }
        }
        d.field("poisoned", &self.poison.get());
        d.finish_non_exhaustive()
    }
}

impl<'a, T: ?Sized> RwLockReadGuard<'a, T> {
    /// # Safety
    /// The caller has just read-locked `lock`.
    unsafe fn new(lock: &'a RwLock<T>) -> LockResult<RwLockReadGuard<'a, T>> {
        // SAFETY: the caller has just read-locked `lock`.
        lock.poison
            .wrap(unsafe { RwLockReadGuard::from_read_locked(lock) })
    }

    /// # Safety
    /// The caller holds a read lock on `lock` and hands it over to the guard.
    unsafe fn from_read_locked(lock: &'a RwLock<T>) -> RwLockReadGuard<'a, T> {
        RwLockReadGuard {
            // SAFETY: `UnsafeCell::get` never returns null.
            data: unsafe { NonNull::new_unchecked(lock.data.get()) },
            inner_lock: &lock.raw,
        }
    }
}

impl<'a, T: ?Sized> RwLockWriteGuard<'a, T> {
    /// # Safety
    /// The caller has just write-locked `lock`.
    unsafe fn new(lock: &'a RwLock<T>) -> LockResult<RwLockWriteGuard<'a, T>> {
        poison::map_result(lock.poison.guard(), |poison| RwLockWriteGuard {
            lock,
            poison,
            _not_send: PhantomData,
        })
    }

    /// Turns the write lock into a read lock without letting any writer in between, like
    /// `std::sync::RwLockWriteGuard::downgrade`. Readers queued at the front come in too.
    ///
    /// ```
    /// use zsync::sync::{RwLock, RwLockWriteGuard};
    /// let lock = RwLock::new(1);
    /// let mut w = lock.write().unwrap();
    /// *w = 2;
    /// let r = RwLockWriteGuard::downgrade(w);
    /// assert_eq!(*r, 2);
    /// assert!(lock.try_read().is_ok());
    /// assert!(lock.try_write().is_err());
    /// ```
    pub fn downgrade(s: Self) -> RwLockReadGuard<'a, T> {
        let this = std::mem::ManuallyDrop::new(s);
        let lock = this.lock;
        lock.poison.done(&this.poison);
        // SAFETY: the guard holds the write lock; it is not dropped (ManuallyDrop), so the
        // lock is not released twice. After `downgrade` we hold a read lock, which the new
        // guard takes over.
        unsafe {
            lock.raw.downgrade();
            RwLockReadGuard::from_read_locked(lock)
        }
    }
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard holds a read lock: no writer exists (see `data`).
        unsafe { self.data.as_ref() }
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the guard holds the write lock.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the write lock and `&mut self` makes this the only access.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the guard holds a read lock.
        unsafe { self.inner_lock.read_unlock() };
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock.poison.done(&self.poison);
        // SAFETY: the guard holds the write lock.
        unsafe { self.lock.raw.write_unlock() };
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// Past the reader limit, `read` panics as std's does, and the count never reaches the
    /// writer bit (it did: a queued reader was let in without a look at the count).
    #[test]
    fn a_read_past_the_reader_limit_panics_and_leaves_the_state_alone() {
        let lock = RawRwLock::new();
        lock.state.store(MAX_READERS, Ordering::Relaxed);
        assert!(!lock.try_read());
        let panicked = std::panic::catch_unwind(|| lock.read()).unwrap_err();
        assert_eq!(
            panicked.downcast_ref::<&str>(),
            Some(&"too many active read locks on RwLock")
        );
        assert_eq!(lock.state.load(Ordering::Relaxed), MAX_READERS);
        // The last readers out: the lock is free again.
        lock.state.store(READER, Ordering::Relaxed);
        // SAFETY: the one read lock left is ours to release.
        unsafe { lock.read_unlock() };
        assert!(lock.try_write());
    }

    /// A reader queued behind the limit (while a writer waited, say) is let in only once the
    /// count allows it.
    #[test]
    fn the_dispatch_of_queued_readers_stops_at_the_limit() {
        let lock = RawRwLock::new();
        lock.state.store(MAX_READERS | PARKED, Ordering::Relaxed);
        let waiter = Waiter::new();
        let entry = Entry::new(&waiter, 0, false);
        let mut list = lock.waiters.lock();
        // SAFETY: the entry and its waiter outlive the list's use of them (removed below).
        unsafe { list.push_back(&entry) };
        assert!(lock.dispatch(&mut list).is_empty());
        assert_eq!(lock.state.load(Ordering::Relaxed), MAX_READERS | PARKED);
        // SAFETY: linked above, not handed over.
        unsafe { list.remove(&entry) };
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::sync::Arc;
    use crate::loom::thread;
    use crate::loom::UnsafeCell;

    struct Shared {
        raw: RawRwLock,
        value: UnsafeCell<u32>,
    }
    // SAFETY: `value` is read under a read lock and written under the write lock.
    unsafe impl Sync for Shared {}

    fn read(shared: &Shared) -> u32 {
        shared.raw.read();
        // SAFETY: under a read lock; loom checks that no write overlaps.
        let v = shared.value.with_mut(|v| unsafe { *v });
        // SAFETY: read-locked above.
        unsafe { shared.raw.read_unlock() };
        v
    }

    fn write(shared: &Shared) {
        shared.raw.write();
        // SAFETY: under the write lock; loom checks exclusivity.
        shared.value.with_mut(|v| unsafe { *v += 1 });
        // SAFETY: write-locked above.
        unsafe { shared.raw.write_unlock() };
    }

    /// A reader and two writers: readers and writers exclude each other (loom checks the
    /// cell), nobody is left parked (loom reports deadlocks), and the reader sees a whole
    /// number of writes.
    #[test]
    fn readers_and_writers_exclude_each_other() {
        loom::model(|| {
            let shared = Arc::new(Shared {
                raw: RawRwLock::new(),
                value: UnsafeCell::new(0),
            });
            let s1 = shared.clone();
            let reader = thread::spawn(move || read(&s1));
            let s2 = shared.clone();
            let writer = thread::spawn(move || write(&s2));
            write(&shared);
            let seen = reader.join().unwrap();
            writer.join().unwrap();
            assert!(seen <= 2);
            assert_eq!(read(&shared), 2);
            assert_eq!(shared.raw.state.load(Ordering::Relaxed), 0);
        });
    }

    /// A queued writer that gives up (as if cancelled) lets the readers queued behind it in.
    #[test]
    fn an_abandoned_writer_lets_readers_in() {
        loom::model(|| {
            let raw = Arc::new(RawRwLock::new());
            raw.read();
            let r2 = raw.clone();
            let quitter = thread::spawn(move || {
                let waiter = Waiter::new();
                let entry = Entry::new(&waiter, 0, true);
                if r2.enqueue(&entry, true) {
                    thread::yield_now();
                    r2.abandon(&waiter, &entry, true);
                } else {
                    // SAFETY: the write lock was taken by enqueue.
                    unsafe { r2.write_unlock() };
                }
            });
            let r3 = raw.clone();
            let reader = thread::spawn(move || {
                r3.read();
                // SAFETY: read-locked above.
                unsafe { r3.read_unlock() };
            });
            quitter.join().unwrap();
            reader.join().unwrap();
            // SAFETY: read-locked at the start.
            unsafe { raw.read_unlock() };
            assert_eq!(raw.state.load(Ordering::Relaxed), 0);
        });
    }
}

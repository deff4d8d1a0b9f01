//! A short critical-section lock, the one under every waiter list (`sync::waiter`) and every
//! source's waiters (`reactor::scheduled_io`): a spin lock normally, loom's mutex in models.
//!
//! Never held across a park and never poisoned: its critical sections touch lists and flags,
//! run no user code and do not panic. Taking it is one compare-exchange and releasing it a
//! plain store (std's `Mutex` releases with an atomic swap and checks for poisoning on both
//! sides), which matters on paths that take it several times per message or request.

/// A short critical-section lock: never held across a park, never poisoned (nothing panics
/// under it, and user values are never dropped under it).
///
/// A test-and-test-and-set spin lock: taking it is one compare-exchange and releasing it is a
/// plain store, which matters on paths like a channel round trip that take it several times.
/// Critical sections are a few dozen instructions (plus, at most, an unpark; the hooks' fd
/// registration also makes its one `epoll_ctl` under it, once per fd), so a waiter spins
/// briefly and then yields its OS thread. Under loom it is loom's mutex.
#[cfg(not(loom))]
pub(crate) struct Lock<T> {
    locked: std::sync::atomic::AtomicBool,
    value: std::cell::UnsafeCell<T>,
}

// SAFETY: the lock hands the value to one thread at a time.
#[cfg(not(loom))]
unsafe impl<T: Send> Send for Lock<T> {}
// SAFETY: as above.
#[cfg(not(loom))]
unsafe impl<T: Send> Sync for Lock<T> {}
// Like std's Mutex: nothing under the lock is left half-updated by a panic.
#[cfg(not(loom))]
impl<T> std::panic::RefUnwindSafe for Lock<T> {}
#[cfg(not(loom))]
impl<T> std::panic::UnwindSafe for Lock<T> {}

/// The guard of a [`Lock`].
#[cfg(not(loom))]
pub(crate) struct LockGuard<'a, T> {
    lock: &'a Lock<T>,
}

#[cfg(not(loom))]
impl<T> Lock<T> {
    pub(crate) const fn new(value: T) -> Lock<T> {
        Lock {
            locked: std::sync::atomic::AtomicBool::new(false),
            value: std::cell::UnsafeCell::new(value),
        }
    }

    #[inline]
    pub(crate) fn lock(&self) -> LockGuard<'_, T> {
        use std::sync::atomic::Ordering::{Acquire, Relaxed};
        if self
            .locked
            .compare_exchange_weak(false, true, Acquire, Relaxed)
            .is_err()
        {
            self.lock_contended();
        }
        LockGuard { lock: self }
    }

    #[cold]
    fn lock_contended(&self) {
        use std::sync::atomic::Ordering::{Acquire, Relaxed};
        let mut spins = 0u32;
        loop {
            if !self.locked.load(Relaxed)
                && self
                    .locked
                    .compare_exchange_weak(false, true, Acquire, Relaxed)
                    .is_ok()
            {
                return;
            }
            if spins < 6 {
                for _ in 0..1 << spins {
                    std::hint::spin_loop();
                }
                spins += 1;
            } else {
                // The holder's OS thread was probably preempted: let it run.
                std::thread::yield_now();
            }
        }
    }
}

#[cfg(not(loom))]
impl<T> std::ops::Deref for LockGuard<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock.
        unsafe { &*self.lock.value.get() }
    }
}

#[cfg(not(loom))]
impl<T> std::ops::DerefMut for LockGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds the lock, and `&mut self` makes this the only access.
        unsafe { &mut *self.lock.value.get() }
    }
}

#[cfg(not(loom))]
impl<T> Drop for LockGuard<'_, T> {
    #[inline]
    fn drop(&mut self) {
        self.lock
            .locked
            .store(false, std::sync::atomic::Ordering::Release);
    }
}

#[cfg(not(loom))]
impl<T> std::fmt::Debug for Lock<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lock").finish_non_exhaustive()
    }
}

/// A short critical-section lock (loom's mutex in models).
#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct Lock<T>(loom::sync::Mutex<T>);

/// The guard of a [`Lock`].
#[cfg(loom)]
pub(crate) type LockGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

#[cfg(loom)]
impl<T> Lock<T> {
    pub(crate) fn new(value: T) -> Lock<T> {
        Lock(loom::sync::Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> LockGuard<'_, T> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

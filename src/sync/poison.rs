//! Poisoning, as std does it, but asking zsync whether *this green thread* is unwinding.
//!
//! std counts panics per OS thread; a worker runs many green threads, and one of them may be
//! suspended mid-unwind while another takes a lock. So a guard records
//! [`zsync::thread::panicking()`](crate::thread::panicking) when it is created, and poisons its
//! lock on drop if the green thread has started unwinding since (a panic, a cancellation or an
//! expired `timeout()`: each of these may leave the data half-updated).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LockResult, PoisonError};

/// Whether the calling green thread (or OS thread) is unwinding.
#[inline]
fn panicking() -> bool {
    // std's count is per OS thread and covers every green thread on it, so it is a cheap
    // filter: if it says no, no green thread here is unwinding.
    std::thread::panicking() && crate::thread::panicking()
}

/// A lock's poison flag.
#[derive(Debug)]
pub(crate) struct Flag(AtomicBool);

/// What a lock guard remembers: whether its thread was already unwinding when it locked.
#[derive(Debug)]
pub(crate) struct Guard {
    panicking: bool,
}

impl Flag {
    pub(crate) const fn new() -> Flag {
        Flag(AtomicBool::new(false))
    }

    #[inline]
    pub(crate) fn get(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub(crate) fn clear(&self) {
        self.0.store(false, Ordering::Relaxed);
    }

    /// `t`, as an `Err` if the lock is poisoned.
    #[inline]
    pub(crate) fn wrap<T>(&self, t: T) -> LockResult<T> {
        if self.get() {
            Err(PoisonError::new(t))
        } else {
            Ok(t)
        }
    }

    /// Called right after locking: `Err` if the lock is poisoned.
    #[inline]
    pub(crate) fn guard(&self) -> LockResult<Guard> {
        self.wrap(Guard {
            panicking: panicking(),
        })
    }

    /// Called right before unlocking: poisons if the thread started unwinding meanwhile.
    #[inline]
    pub(crate) fn done(&self, guard: &Guard) {
        if !guard.panicking && panicking() {
            self.0.store(true, Ordering::Relaxed);
        }
    }
}

/// Maps the value inside a `LockResult`, keeping its poison.
pub(crate) fn map_result<T, U>(result: LockResult<T>, f: impl FnOnce(T) -> U) -> LockResult<U> {
    match result {
        Ok(t) => Ok(f(t)),
        Err(err) => Err(PoisonError::new(f(err.into_inner()))),
    }
}

//! Poisoning, as std does it, but asking zsync whether *this green thread* is unwinding *from a
//! panic*.
//!
//! std counts panics per OS thread; a worker runs many green threads, and one of them may be
//! suspended mid-unwind while another takes a lock. So a guard records whether its green thread
//! was unwinding from a panic when it locked, and poisons its lock on drop if the thread has
//! started panicking since. A cancellation or an expired `timeout()` unwinds through guards
//! without poisoning: it is a request to stop, not a failure, and one expired request must not
//! turn every later `lock().unwrap()` into a panic.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{LockResult, PoisonError};

/// Whether the calling green thread (or OS thread) is unwinding from a panic.
#[inline]
fn panicking() -> bool {
    // std's count is per OS thread and covers every green thread on it, so it is a cheap
    // filter: if it says no, no green thread here is unwinding.
    std::thread::panicking() && crate::runtime::park::unwinding_from_panic()
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

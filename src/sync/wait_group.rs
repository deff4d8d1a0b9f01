//! [`WaitGroup`]: wait until a group of threads is done, like crossbeam's `WaitGroup`.

use super::{Condvar, Mutex};
use std::fmt;
use std::sync::{Arc, PoisonError};

/// Waits for a group of threads to finish: each clone is one member, dropping a clone says
/// "done", and [`wait`](WaitGroup::wait) blocks until every other clone has been dropped.
///
/// ```
/// use zsync::sync::WaitGroup;
///
/// zsync::run(|| {
///     let wg = WaitGroup::new();
///     for _ in 0..10 {
///         let member = wg.clone();
///         zsync::spawn(move || {
///             zsync::thread::yield_now();
///             drop(member);
///         });
///     }
///     wg.wait(); // returns once all ten have dropped their clone
/// });
/// ```
pub struct WaitGroup {
    inner: Arc<Inner>,
}

struct Inner {
    cvar: Condvar,
    count: Mutex<usize>,
}

impl WaitGroup {
    /// A group with one member: this handle.
    ///
    /// ```
    /// let wg = zsync::sync::WaitGroup::new();
    /// wg.wait(); // the only member: returns at once
    /// ```
    #[must_use]
    pub fn new() -> WaitGroup {
        WaitGroup {
            inner: Arc::new(Inner {
                cvar: Condvar::new(),
                count: Mutex::new(1),
            }),
        }
    }

    /// Drops this member and waits until every other member has been dropped. A park point.
    ///
    /// ```
    /// let wg = zsync::sync::WaitGroup::new();
    /// let member = wg.clone();
    /// let h = zsync::spawn(move || drop(member));
    /// wg.wait();
    /// h.join().unwrap();
    /// ```
    pub fn wait(self) {
        if *self
            .inner
            .count
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            == 1
        {
            return;
        }
        let inner = self.inner.clone();
        drop(self);
        let count = inner.count.lock().unwrap_or_else(PoisonError::into_inner);
        let _count = inner
            .cvar
            .wait_while_for(
                count,
                |count| *count > 0,
                crate::runtime::WaitReason::WaitGroup,
            )
            .unwrap_or_else(PoisonError::into_inner);
    }
}

impl Default for WaitGroup {
    /// A group with one member, like [`WaitGroup::new`].
    ///
    /// ```
    /// let wg: zsync::sync::WaitGroup = Default::default();
    /// wg.wait();
    /// ```
    fn default() -> Self {
        WaitGroup::new()
    }
}

impl Drop for WaitGroup {
    fn drop(&mut self) {
        let mut count = self
            .inner
            .count
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *count -= 1;
        if *count == 0 {
            self.inner.cvar.notify_all();
        }
    }
}

impl Clone for WaitGroup {
    /// Adds a member to the group.
    fn clone(&self) -> WaitGroup {
        *self
            .inner
            .count
            .lock()
            .unwrap_or_else(PoisonError::into_inner) += 1;
        WaitGroup {
            inner: self.inner.clone(),
        }
    }
}

impl fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = *self
            .inner
            .count
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("WaitGroup").field("count", &count).finish()
    }
}

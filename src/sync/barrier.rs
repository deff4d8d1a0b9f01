//! [`Barrier`]: std's barrier over zsync's `Mutex` and `Condvar`.

use super::{Condvar, Mutex};
use std::fmt;
use std::sync::PoisonError;

/// Lets `n` threads wait for each other, like `std::sync::Barrier`: the `n`-th arrival releases
/// them all and is the leader of that round. Reusable; on a green thread, waiting parks only the
/// green thread.
///
/// ```
/// use std::sync::Arc;
/// use zsync::sync::Barrier;
///
/// let leaders: usize = zsync::run(|| {
///     let barrier = Arc::new(Barrier::new(10));
///     let handles: Vec<_> = (0..10)
///         .map(|_| {
///             let b = barrier.clone();
///             zsync::spawn(move || b.wait().is_leader())
///         })
///         .collect();
///     handles.into_iter().map(|h| usize::from(h.join().unwrap())).sum()
/// });
/// assert_eq!(leaders, 1);
/// ```
pub struct Barrier {
    lock: Mutex<BarrierState>,
    cvar: Condvar,
    num_threads: usize,
}

struct BarrierState {
    count: usize,
    generation_id: usize,
}

/// What [`Barrier::wait`] returns: whether this thread is the round's leader.
///
/// ```
/// let barrier = zsync::sync::Barrier::new(1);
/// assert!(barrier.wait().is_leader());
/// ```
pub struct BarrierWaitResult(bool);

impl Barrier {
    crate::loom::loom_const_fn! {
        /// A barrier for `n` threads. A barrier for 0 or 1 thread never blocks. A `const fn`.
        ///
        /// ```
        /// static START: zsync::sync::Barrier = zsync::sync::Barrier::new(1);
        /// START.wait();
        /// ```
        #[must_use]
        pub fn new(n: usize) -> Barrier {
            Barrier {
                lock: Mutex::new(BarrierState {
                    count: 0,
                    generation_id: 0,
                }),
                cvar: Condvar::new(),
                num_threads: n,
            }
        }
    }

    /// Waits until `n` threads have called `wait` in this round. Exactly one of them, the
    /// last to arrive, gets a result whose [`is_leader`](BarrierWaitResult::is_leader) is true.
    /// A park point.
    ///
    /// ```
    /// use std::sync::Arc;
    /// let barrier = Arc::new(zsync::sync::Barrier::new(2));
    /// let b = barrier.clone();
    /// let other = zsync::spawn(move || b.wait().is_leader());
    /// let me = barrier.wait().is_leader();
    /// assert!(me ^ other.join().unwrap());
    /// ```
    pub fn wait(&self) -> BarrierWaitResult {
        let mut lock = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        let local_gen = lock.generation_id;
        lock.count += 1;
        if lock.count < self.num_threads {
            let withdraw = Withdraw {
                barrier: self,
                generation: local_gen,
            };
            let _guard = self
                .cvar
                .wait_while_for(
                    lock,
                    |state| local_gen == state.generation_id,
                    crate::runtime::WaitReason::Barrier,
                )
                .unwrap_or_else(PoisonError::into_inner);
            std::mem::forget(withdraw);
            BarrierWaitResult(false)
        } else {
            lock.count = 0;
            lock.generation_id = lock.generation_id.wrapping_add(1);
            self.cvar.notify_all();
            BarrierWaitResult(true)
        }
    }
}

/// Takes a waiter's arrival back when its wait unwinds (it was cancelled, or its `timeout()`
/// expired) before its round was released: otherwise a thread that retries after a timeout
/// would count twice, and a round could be released with a thread missing.
struct Withdraw<'a> {
    barrier: &'a Barrier,
    generation: usize,
}

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        // A park point during the unwind: it never raises there, so this lock is taken.
        let mut state = self
            .barrier
            .lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if state.generation_id == self.generation {
            state.count -= 1;
        }
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier").finish_non_exhaustive()
    }
}

impl BarrierWaitResult {
    /// True for exactly one thread of each round: the last to arrive.
    ///
    /// ```
    /// let barrier = zsync::sync::Barrier::new(1);
    /// assert!(barrier.wait().is_leader());
    /// ```
    #[must_use]
    pub fn is_leader(&self) -> bool {
        self.0
    }
}

impl fmt::Debug for BarrierWaitResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BarrierWaitResult")
            .field("is_leader", &self.is_leader())
            .finish()
    }
}

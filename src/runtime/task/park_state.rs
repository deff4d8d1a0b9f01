//! The one word that decides the race between a green thread going to sleep and a waker.
//!
//! States: `RUNNING` (running, or queued to run), `NOTIFIED` (running or queued, with an unpark
//! token waiting), `PARKED` (suspended, in no queue). The green thread parks in two steps: it
//! first tries to consume a token; if there is none it suspends to its worker, and only once its
//! stack is fully suspended does the worker try `RUNNING -> PARKED`. A waker that comes between
//! the two steps leaves a token (`RUNNING -> NOTIFIED`), which makes that transition fail, and
//! the worker requeues the green thread. A waker that finds `PARKED` moves it to `RUNNING` and is
//! then the only one to schedule it. So no wake-up is lost and none schedules a thread twice.

use crate::loom::sync::atomic::{AtomicU8, Ordering};

const RUNNING: u8 = 0;
const NOTIFIED: u8 = 1;
const PARKED: u8 = 2;

/// What a waker must do after [`ParkState::unpark`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Wake {
    /// The thread was parked: the caller now owns it and must schedule it.
    Schedule,
    /// The thread was running or queued: a token was left (or was already there).
    Token,
}

#[derive(Debug)]
pub(crate) struct ParkState(AtomicU8);

impl ParkState {
    pub(crate) fn new() -> Self {
        ParkState(AtomicU8::new(RUNNING))
    }

    /// Green-thread side, before suspending: takes a waiting token if there is one. `true`
    /// means "do not park".
    #[inline]
    pub(crate) fn take_token(&self) -> bool {
        // Look before the compare-exchange, which costs as much when it fails: usually there
        // is no token, and a token that arrives after this look makes `commit_park` fail, so
        // the thread is requeued at once rather than lost.
        self.0.load(Ordering::Relaxed) == NOTIFIED
            && self
                .0
                .compare_exchange(NOTIFIED, RUNNING, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
    }

    /// Worker side, after the green thread's stack has suspended: `true` if it is now parked;
    /// `false` if a token arrived meanwhile (it is consumed here) and the caller must requeue
    /// the thread.
    #[inline]
    pub(crate) fn commit_park(&self) -> bool {
        match self
            .0
            .compare_exchange(RUNNING, PARKED, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(_) => {
                // Only a token can have come in between: consume it.
                self.0.store(RUNNING, Ordering::Relaxed);
                false
            }
        }
    }

    /// Any thread: wakes the green thread or leaves it a token.
    #[inline]
    pub(crate) fn unpark(&self) -> Wake {
        let mut state = self.0.load(Ordering::Relaxed);
        loop {
            let (next, wake) = match state {
                PARKED => (RUNNING, Wake::Schedule),
                RUNNING => (NOTIFIED, Wake::Token),
                _ => return Wake::Token,
            };
            match self
                .0
                .compare_exchange_weak(state, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return wake,
                Err(actual) => state = actual,
            }
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::sync::atomic::AtomicUsize;
    use crate::loom::sync::Arc;
    use crate::loom::thread;

    /// A green thread parks once while another thread unparks it once: the green thread ends up
    /// either not parking (token) or parked and scheduled exactly once; never parked and
    /// forgotten. This is also what makes the park's reference sound (`Worker::after_suspend`
    /// keeps the reference it ran the thread with when the commit succeeds, and the waker that
    /// gets `Wake::Schedule` takes it over, `TaskRef::wake`): exactly one side ends up
    /// with it, the worker (requeued) when the commit fails, the one scheduling waker when it
    /// succeeds.
    #[test]
    fn no_lost_or_double_wakeup() {
        loom::model(|| {
            let state = Arc::new(ParkState::new());
            let scheduled = Arc::new(AtomicUsize::new(0));
            let (s2, sched2) = (state.clone(), scheduled.clone());
            let waker = thread::spawn(move || {
                if s2.unpark() == Wake::Schedule {
                    sched2.fetch_add(1, Ordering::SeqCst);
                }
            });
            // The green thread's park: token first, then the worker's commit after the switch.
            let parked = !state.take_token() && state.commit_park();
            waker.join().unwrap();
            let scheduled = scheduled.load(Ordering::SeqCst);
            if parked {
                assert_eq!(
                    scheduled, 1,
                    "a parked thread must be scheduled by the waker"
                );
            } else {
                assert_eq!(
                    scheduled, 0,
                    "a thread that did not park must not be scheduled"
                );
            }
        });
    }
}

//! Park points: where cancellation and `timeout()` are delivered.
//!
//! Every blocking zsync call (and `yield_now`, `check_cancel`) is a park point. There, a thread
//! whose cancellation was requested, or one of whose `timeout()`s has expired, is unwound with a private payload. The request stays in force, so the payload is raised again
//! at every later park point until the thread's entry (or its `timeout()`) catches it: a user
//! `catch_unwind` cannot swallow it. Two exceptions: inside [`shield`](super::shield), and while
//! the thread is already unwinding, park points never raise (a panic during unwinding would
//! abort the process).

use std::panic::resume_unwind;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Instant;

/// The panic payload of a cancelled green thread, as seen by [`JoinHandle::join`] and
/// [`JoinHandle::cancel`](super::JoinHandle::cancel).
///
/// ```
/// let handle = zsync::spawn(|| loop {
///     zsync::thread::sleep(std::time::Duration::from_secs(60));
/// });
/// let payload = handle.cancel().unwrap_err();
/// assert!(payload.is::<zsync::Cancelled>());
/// ```
///
/// [`JoinHandle::join`]: super::JoinHandle::join
pub struct Cancelled {
    /// Alive while the unwind is in flight: the thread counts as unwinding until it is dropped.
    _token: Arc<()>,
}

impl Cancelled {
    /// For a green thread whose runtime shut down before it ever ran.
    pub(crate) fn never_ran() -> Cancelled {
        Cancelled {
            _token: Arc::new(()),
        }
    }
}

impl std::fmt::Debug for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cancelled")
    }
}

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the green thread was cancelled")
    }
}

/// The payload that unwinds a `timeout()` whose deadline passed. Private: only the `timeout()`
/// that raised it catches it.
pub(crate) struct TimedOut {
    pub(crate) id: u64,
    _token: Arc<()>,
}

struct Frame {
    id: u64,
    deadline: Instant,
}

/// A thread's cancellation state, apart from the request flag (which others set).
pub(crate) struct ParkPoint {
    /// Nesting depth of `shield`.
    shield: u32,
    /// Active `timeout()`s, outermost first.
    timeouts: Vec<Frame>,
    next_id: u64,
    /// Weak twin of the token of a cancellation or timeout payload in flight.
    unwind_token: Weak<()>,
    /// Set by the panic hook when this thread starts panicking.
    pub(crate) panic_started: bool,
}

impl ParkPoint {
    pub(crate) fn new() -> Self {
        ParkPoint {
            shield: 0,
            timeouts: Vec::new(),
            next_id: 0,
            unwind_token: Weak::new(),
            panic_started: false,
        }
    }

    /// Whether this thread is unwinding (from a panic, a cancellation or a timeout), as far as
    /// `zsync::thread::panicking()` is concerned.
    pub(crate) fn unwinding(&mut self) -> bool {
        if self.unwind_token.strong_count() > 0 {
            return true;
        }
        if self.panic_started && !std::thread::panicking() {
            self.panic_started = false; // the panic was caught
        }
        self.panic_started
    }

    /// The earliest time a park must wake up at for a `timeout()`, unless shielded.
    pub(crate) fn wake_deadline(&self) -> Option<Instant> {
        if self.shield > 0 {
            return None;
        }
        self.timeouts.iter().map(|f| f.deadline).min()
    }

    /// Raises `Cancelled` or a `TimedOut` if one is due.
    pub(crate) fn check(&mut self, cancel: &AtomicBool) {
        if self.shield > 0 {
            return;
        }
        let cancelled = cancel.load(Ordering::Acquire);
        if !cancelled && self.timeouts.is_empty() {
            return;
        }
        // Never interrupt an unwinding stack. std's panicking() is per OS thread, so it may be
        // true because of another green thread suspended mid-unwind on this worker: then the
        // request waits for a later park point, which is safe; raising would not be.
        if self.unwind_token.strong_count() > 0 || std::thread::panicking() {
            return;
        }
        if cancelled {
            let token = self.new_token();
            resume_unwind(Box::new(Cancelled { _token: token }));
        }
        let now = Instant::now();
        // The outermost expired timeout wins: everything inside it is unwound anyway.
        if let Some(id) = self
            .timeouts
            .iter()
            .find(|f| f.deadline <= now)
            .map(|f| f.id)
        {
            let token = self.new_token();
            resume_unwind(Box::new(TimedOut { id, _token: token }));
        }
    }

    fn new_token(&mut self) -> Arc<()> {
        let token = Arc::new(());
        self.unwind_token = Arc::downgrade(&token);
        token
    }

    pub(crate) fn push_timeout(&mut self, deadline: Instant) -> u64 {
        self.next_id += 1;
        self.timeouts.push(Frame {
            id: self.next_id,
            deadline,
        });
        self.next_id
    }

    pub(crate) fn pop_timeout(&mut self, id: u64) {
        self.timeouts.retain(|f| f.id != id);
    }

    pub(crate) fn enter_shield(&mut self) {
        self.shield += 1;
    }

    pub(crate) fn leave_shield(&mut self) {
        self.shield -= 1;
    }
}

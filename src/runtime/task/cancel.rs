//! Park points: where cancellation and `timeout()` are delivered (the state kept per thread;
//! `runtime::park` holds the park points themselves).
//!
//! Every blocking zsync call (and `yield_now`, `check_cancel`) is a park point. There, a thread
//! whose cancellation was requested, or one of whose `timeout()`s has expired, is unwound with a
//! private payload. The request stays in force, so the payload is raised again at every later
//! park point until the thread's entry (or its `timeout()`) catches it: a user `catch_unwind`
//! cannot swallow it, and holding the caught payload does not hold the request back.
//!
//! # When a request cannot be raised: the race with another thread's unwinding
//!
//! Raising inside a destructor that runs during unwinding would be a panic while panicking: the
//! process aborts. So a park point never raises while its thread is unwinding, and the only
//! exact answer to "is anything on this OS thread unwinding?" is std's panic count
//! (`std::thread::panicking()`). It counts per OS thread, and a worker runs many green threads:
//! when green thread A parks in a destructor mid-unwind, the count stays up while B, C, ... run.
//! B tells whether the count may be its own from its own evidence: it raised a request that may
//! still unwind it (`raised`), or the panic hook saw it start a panic (`panic_started`). With
//! neither, the count is A's, and B's request is raised at once (two unwinds in flight on one
//! OS thread, on two stacks, are what std allows: a panic in B while A is suspended mid-unwind
//! is no different). Waiting for A instead would deadlock the clean-up where A's unwind waits
//! for B, as a guard that cancels and joins a background green thread in its destructor does.
//!
//! The hook's evidence is complete only while the hook sees every panic (see
//! `panic_hook::sees_every_panic`: a program that replaced it loses it). Without it, or with
//! evidence that B may be unwinding, B's due request is *deferred*, never dropped:
//! [`Check::Deferred`] tells the caller to register B with its worker, which wakes every
//! deferred green thread as soon as its OS thread's count is back to zero (it looks after each
//! green thread it runs: only a running green thread can end an unwind). B then reaches a park
//! point again and raises.
//!
//! # Panicking, per green thread
//!
//! `zsync::thread::panicking()` and lock poisoning want the *green thread's* answer. std's
//! count is exact when it says no; when it says yes, the evidence recorded here decides: this
//! thread raised a cancellation or timeout (`raised`), or the panic hook saw it start a panic
//! (`panic_started`). Both are forgotten the first time the thread sees std's count at zero (the
//! unwind was caught). Only a panic poisons a lock: a cancellation is a request, not a failure.

use std::panic::resume_unwind;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// The panic payload of a cancelled green thread, as seen by [`JoinHandle::join`] and
/// [`JoinHandle::cancel`](super::join::JoinHandle::cancel).
///
/// ```
/// let handle = zsync::spawn(|| loop {
///     zsync::thread::sleep(std::time::Duration::from_secs(60));
/// });
/// let payload = handle.cancel().unwrap_err();
/// assert!(payload.is::<zsync::Cancelled>());
/// ```
///
/// [`JoinHandle::join`]: super::join::JoinHandle::join
pub struct Cancelled {
    _private: (),
}

impl Cancelled {
    /// The payload of a cancellation (also of a green thread whose runtime shut down before it
    /// ever ran).
    pub(crate) fn new() -> Cancelled {
        Cancelled { _private: () }
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
}

struct Frame {
    id: u64,
    deadline: Instant,
    /// The `shield` depth it was entered at: only a shield entered after it (deeper) holds it
    /// back; the code inside a shield may bound its own waits.
    shield: u32,
    /// Its expiry was reported to foreign code without raising (a `hook` call failed with
    /// `ETIMEDOUT`): a panic that code raises in answer is this timeout's unwind.
    reported: bool,
}

/// What a park point found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Check {
    /// Nothing to raise (no request, or shielded).
    Clear,
    /// A request is due but the OS thread is unwinding: raise it at a later park point.
    Deferred,
}

/// A request a park point would raise; see [`ParkPoint::pending`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(feature = "hook"), allow(dead_code))]
pub(crate) enum Pending {
    /// The thread's cancellation was requested.
    Cancelled,
    /// One of its `timeout()`s has expired.
    TimedOut,
}

/// A thread's `timeout()` frames, outermost first. Boxed on the first `timeout()` and kept: most
/// green threads never use one, and every green thread carries a `ParkPoint` in its task (a
/// `Vec` and an id counter inline were 32 of a task's bytes; this is 8).
#[derive(Default)]
struct Timeouts(Option<Box<TimeoutFrames>>);

#[derive(Default)]
struct TimeoutFrames {
    frames: Vec<Frame>,
    /// The last id given out: ids stay unique for the thread's life.
    last_id: u64,
}

impl Timeouts {
    #[inline]
    fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(|t| t.frames.is_empty())
    }

    fn iter(&self) -> impl Iterator<Item = &Frame> {
        self.0.iter().flat_map(|t| t.frames.iter())
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = &mut Frame> {
        self.0.iter_mut().flat_map(|t| t.frames.iter_mut())
    }

    fn push(&mut self, deadline: Instant, shield: u32) -> u64 {
        let t = self.0.get_or_insert_with(Box::default);
        t.last_id += 1;
        t.frames.push(Frame {
            id: t.last_id,
            deadline,
            shield,
            reported: false,
        });
        t.last_id
    }

    fn remove(&mut self, id: u64) {
        if let Some(t) = &mut self.0 {
            t.frames.retain(|f| f.id != id);
        }
    }
}

/// A thread's cancellation state, apart from the request flag (which others set).
pub(crate) struct ParkPoint {
    /// Nesting depth of `shield`.
    shield: u32,
    /// Active `timeout()`s, outermost first.
    timeouts: Timeouts,
    /// This thread raised a cancellation or timeout that may still be unwinding it.
    raised: bool,
    /// Set by the panic hook when this thread starts panicking.
    panic_started: bool,
    /// Registered with its worker to be woken when the worker's OS thread stops unwinding.
    pub(crate) deferred: bool,
}

impl ParkPoint {
    pub(crate) fn new() -> Self {
        ParkPoint {
            shield: 0,
            timeouts: Timeouts::default(),
            raised: false,
            panic_started: false,
            deferred: false,
        }
    }

    /// False for certain if std's per-OS-thread count says nobody here is unwinding; then the
    /// evidence of an earlier unwind of this thread is stale (it was caught) and goes.
    fn os_thread_unwinding(&mut self) -> bool {
        let unwinding = std::thread::panicking();
        if !unwinding {
            self.raised = false;
            self.panic_started = false;
        }
        unwinding
    }

    /// Whether a due request must wait because raising it now might interrupt this thread's
    /// own unwinding (a panic while panicking: the process aborts). std's count is exact when
    /// it says nobody on this OS thread unwinds, and on an OS thread of its own when it says
    /// somebody does. On a green thread, that somebody may be another green thread of the
    /// worker, suspended mid-unwind (in a destructor that parked): this thread's own evidence
    /// then decides, when it is complete (`raised` is ours; `panic_started` is the panic
    /// hook's, exact while the hook sees every panic). Waiting for the other thread's unwind
    /// to end would deadlock the common clean-up where that unwind waits for this thread: a
    /// guard whose destructor cancels and joins a background green thread of the same worker.
    fn must_wait_for_unwinding(&mut self) -> bool {
        if !self.os_thread_unwinding() {
            return false;
        }
        if self.raised || self.panic_started {
            return true;
        }
        !(super::panic_hook::sees_every_panic()
            && crate::runtime::context::current().task().is_some())
    }

    /// Whether this thread is unwinding (from a panic, a cancellation or a timeout), as far as
    /// `zsync::thread::panicking()` is concerned. Without the panic hook's word (replaced by
    /// the program), std's per-OS-thread answer, as `std::thread::panicking()` gives it.
    pub(crate) fn unwinding(&mut self) -> bool {
        self.os_thread_unwinding()
            && (self.raised || self.panic_started || !super::panic_hook::sees_every_panic())
    }

    /// Whether this thread is unwinding from a panic: what poisons a lock. `own_os_thread`:
    /// the caller is an OS thread, for which std's count is exact, so any unwind that is not a
    /// raise of ours is a panic (even one the panic hook did not see: it is installed only once
    /// a runtime starts or a request is first raised). A green thread needs the hook's word,
    /// and without it (replaced by the program) takes std's count as an OS thread does.
    pub(crate) fn unwinding_from_panic(&mut self, own_os_thread: bool) -> bool {
        self.os_thread_unwinding()
            && if own_os_thread || !super::panic_hook::sees_every_panic() {
                !self.raised
            } else {
                self.panic_started
            }
    }

    /// The panic hook saw this thread start a panic: any raise of ours was caught before (a
    /// panic during an unwind aborts), so only the panic is in flight.
    pub(crate) fn panic_starts(&mut self) {
        self.panic_started = true;
        self.raised = false;
    }

    /// The earliest time a park must wake up at for a `timeout()`, unless shielded. A deadline
    /// that has passed counts (the park returns at once, and the park point after it raises):
    /// it passed after the park point before this park read the clock, and leaving it out
    /// would lose the timeout until something else woke the thread, forever on a quiet one.
    /// Except while this OS thread unwinds: then the timeout was raised already, or it is
    /// deferred and the worker wakes the thread when it can be raised (waking for it now would
    /// spin).
    #[inline]
    pub(crate) fn wake_deadline(&self) -> Option<Instant> {
        if self.timeouts.is_empty() {
            return None;
        }
        self.earliest_timeout()
    }

    /// [`wake_deadline`](Self::wake_deadline) with `timeout()`s in force.
    #[inline(never)]
    fn earliest_timeout(&self) -> Option<Instant> {
        let deadlines = self.live_timeouts().map(|f| f.deadline);
        if !std::thread::panicking() {
            return deadlines.min();
        }
        let now = Instant::now();
        deadlines.filter(|&d| d > now).min()
    }

    /// Whether `check` would raise now (a cancellation or an expired `timeout()`, not shielded,
    /// and the OS thread not unwinding), without raising.
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) fn due(&mut self, cancel: &AtomicBool) -> bool {
        // The clock only when there is a `timeout()` to hold it against: this runs before every
        // park of an io_uring wait.
        let due = (self.shield == 0 && cancel.load(Ordering::Acquire))
            || (!self.timeouts.is_empty() && {
                let now = Instant::now();
                self.live_timeouts().any(|f| f.deadline <= now)
            });
        due && !self.must_wait_for_unwinding()
    }

    /// Raises `Cancelled` or a `TimedOut` if one is due and may be raised. `withdraw` is called
    /// right before a raise: a thread queued as a waiter takes itself out of reach of notifiers
    /// there. If it cannot (a notification won: the send, lock or permit it hands over has
    /// taken effect), nothing is raised now (`Clear`); the request stays in force for the next
    /// park point. Other park points pass `&|| true`.
    #[inline]
    pub(crate) fn check_or(&mut self, cancel: &AtomicBool, withdraw: &dyn Fn() -> bool) -> Check {
        // The common case, inline at every park point: no `timeout()`, and no cancellation
        // requested (or one held back by a shield).
        if self.timeouts.is_empty() && (self.shield > 0 || !cancel.load(Ordering::Acquire)) {
            return Check::Clear;
        }
        match self.check_slow(cancel, withdraw) {
            Ok(check) => check,
            // Raised here, in the park point's own frame, not in `check_slow`'s: both of the
            // unwinder's walks visit every frame between the raise and the catch, and a
            // runtime dropped with a million parked green threads unwinds each of them.
            Err(payload) => resume_unwind(payload),
        }
    }

    /// The decision of `check_or` once something is requested: what to raise, if anything (the
    /// caller raises it).
    #[cold]
    fn check_slow(
        &mut self,
        cancel: &AtomicBool,
        withdraw: &dyn Fn() -> bool,
    ) -> Result<Check, Box<dyn std::any::Any + Send>> {
        let cancelled = self.shield == 0 && cancel.load(Ordering::Acquire);
        // The outermost expired timeout wins: everything inside it is unwound anyway.
        let expired = if cancelled {
            None
        } else {
            let now = Instant::now();
            match self.live_timeouts().find(|f| f.deadline <= now) {
                Some(frame) => Some(frame.id),
                None => return Ok(Check::Clear),
            }
        };
        // Never interrupt an unwinding stack; see the module docs for whose unwinding this may
        // be and why the request then waits instead of being dropped.
        if self.must_wait_for_unwinding() {
            return Ok(Check::Deferred);
        }
        if !withdraw() {
            return Ok(Check::Clear);
        }
        self.raised = true;
        // The hook keeps `raised` exact across a later panic (see `panic_starts`).
        super::panic_hook::install();
        Err(match expired {
            Some(id) => Box::new(TimedOut { id }),
            None => Box::new(Cancelled::new()),
        })
    }

    /// What [`Self::check_or`] would raise now (ignoring whether the OS thread is unwinding),
    /// without raising it: for waits that must not unwind (the `hook` feature's libc calls).
    pub(crate) fn pending(&self, cancel: &AtomicBool) -> Option<Pending> {
        if self.shield == 0 && cancel.load(Ordering::Acquire) {
            return Some(Pending::Cancelled);
        }
        // The clock only when there is a `timeout()` to hold it against: this runs before and
        // after every park of a hooked call (two clock reads per request of a hooked server).
        if self.timeouts.is_empty() {
            return None;
        }
        let now = Instant::now();
        self.live_timeouts()
            .any(|f| f.deadline <= now)
            .then_some(Pending::TimedOut)
    }

    /// A wait that must not unwind reported [`Pending::TimedOut`] to its caller instead of
    /// raising it: every expired `timeout()` remembers that it was reported.
    #[cfg_attr(not(feature = "hook"), allow(dead_code))]
    pub(crate) fn report_expired(&mut self) {
        let now = Instant::now();
        let depth = self.shield;
        for frame in self
            .timeouts
            .iter_mut()
            .filter(|f| f.shield >= depth && f.deadline <= now)
        {
            frame.reported = true;
        }
    }

    /// Whether the expiry of `timeout()` `id` was reported without raising (see
    /// [`Self::report_expired`]).
    pub(crate) fn reported(&self, id: u64) -> bool {
        self.timeouts.iter().any(|f| f.id == id && f.reported)
    }

    /// The `timeout()` `id` caught its own payload: that unwind is over.
    pub(crate) fn caught_timeout(&mut self) {
        self.raised = false;
    }

    pub(crate) fn push_timeout(&mut self, deadline: Instant) -> u64 {
        self.timeouts.push(deadline, self.shield)
    }

    /// The `timeout()`s no shield holds back: those entered inside the innermost shield (or
    /// with none), outermost first.
    fn live_timeouts(&self) -> impl Iterator<Item = &Frame> {
        let depth = self.shield;
        self.timeouts.iter().filter(move |f| f.shield >= depth)
    }

    pub(crate) fn pop_timeout(&mut self, id: u64) {
        self.timeouts.remove(id);
    }

    pub(crate) fn enter_shield(&mut self) {
        self.shield += 1;
    }

    pub(crate) fn leave_shield(&mut self) {
        // Saturating: in a thread-local destructor that runs after an OS thread's park-point
        // state is gone, each call gets a fresh state (see `park::with_os_park_point`), so a
        // shield is left on one that never entered it.
        self.shield = self.shield.saturating_sub(1);
    }
}

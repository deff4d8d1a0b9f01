//! Time: sleeping, deadlines for blocking code, and periodic ticks.
//!
//! On a green thread the waits are timers in the worker's wheel (`runtime::timer`) and park only
//! the green thread; on a plain OS thread they block it, like std. Every wait here is one call
//! into the runtime: `runtime::park::sleep_until`.

use crate::runtime::park;

pub use std::time::{
    Duration, Instant, SystemTime, SystemTimeError, TryFromFloatSecsError, UNIX_EPOCH,
};

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

/// Puts the calling thread to sleep for at least `dur`. A park point: a cancellation or an
/// expired `timeout()` unwinds from here.
///
/// ```
/// let start = zsync::time::Instant::now();
/// zsync::time::sleep(zsync::time::Duration::from_millis(5));
/// assert!(start.elapsed() >= zsync::time::Duration::from_millis(5));
/// ```
pub fn sleep(dur: Duration) {
    // A deadline too far away to be an `Instant` is never reached: sleep until cancelled.
    park::sleep_until(Instant::now().checked_add(dur));
}

/// Puts the calling thread to sleep until `deadline`. A park point.
///
/// ```
/// use zsync::time::{sleep_until, Duration, Instant};
/// let deadline = Instant::now() + Duration::from_millis(5);
/// sleep_until(deadline);
/// assert!(Instant::now() >= deadline);
/// ```
pub fn sleep_until(deadline: Instant) {
    park::sleep_until(Some(deadline));
}

/// The error of a [`timeout`] whose deadline passed.
///
/// ```
/// use zsync::time::{sleep, timeout, Duration, Elapsed};
/// let err: Elapsed =
///     timeout(Duration::from_millis(1), || sleep(Duration::from_secs(10))).unwrap_err();
/// assert_eq!(err.to_string(), "deadline has elapsed");
/// let err = std::io::Error::from(err);
/// assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed(());

impl std::fmt::Display for Elapsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

impl std::error::Error for Elapsed {}

impl From<Elapsed> for std::io::Error {
    fn from(_: Elapsed) -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::TimedOut, "deadline has elapsed")
    }
}

/// Runs `f` on the calling thread with a deadline. If the deadline passes while `f` is parked
/// (in any blocking zsync call), `f` is unwound, its destructors run, and `Err(Elapsed)` comes
/// back. Nested timeouts work: the one whose deadline passes first wins. `f` is interrupted only
/// at park points: code that never blocks runs to its end.
///
/// ```
/// use zsync::time::{timeout, sleep, Duration};
/// assert!(timeout(Duration::from_millis(10), || sleep(Duration::from_secs(10))).is_err());
/// assert_eq!(timeout(Duration::from_secs(10), || 7), Ok(7));
/// ```
pub fn timeout<T>(dur: Duration, f: impl FnOnce() -> T) -> Result<T, Elapsed> {
    // A deadline too far away to be an `Instant` never passes: no timeout at all.
    let Some(deadline) = Instant::now().checked_add(dur) else {
        return Ok(f());
    };
    let id = park::enter_timeout(deadline);
    struct Leave(u64);
    impl Drop for Leave {
        fn drop(&mut self) {
            park::leave_timeout(self.0);
        }
    }
    let leave = Leave(id);
    let result = catch_unwind(AssertUnwindSafe(f));
    // A blocking call that must not unwind (the `hook` feature's libc functions) reports the
    // expiry to its caller as `ETIMEDOUT` instead; if the caller answered with a panic of its
    // own (tokio panics when its `epoll_wait` fails), that panic is this timeout's unwind.
    let reported = result.is_err() && park::timeout_reported(id);
    drop(leave);
    match result {
        Ok(value) => Ok(value),
        Err(payload) if park::is_own_timeout(&*payload, id) => Err(Elapsed(())),
        // Only a panic: a cancellation or another timeout()'s unwind goes on.
        Err(payload) if reported && !park::is_request(&*payload) => Err(Elapsed(())),
        Err(payload) => resume_unwind(payload),
    }
}

/// Ticks at a fixed period without drift: each tick is scheduled from the previous deadline,
/// not from when the previous `tick` returned (like tokio's `Interval`).
///
/// ```
/// use zsync::time::{interval, sleep, Duration};
/// let mut ticks = interval(Duration::from_millis(2));
/// let start = ticks.tick();
/// sleep(Duration::from_millis(7)); // busy: the ticks at +2, +4 and +6 ms are missed
/// // They complete at once, each still at its own scheduled instant.
/// assert_eq!(ticks.tick(), start + Duration::from_millis(2));
/// assert_eq!(ticks.tick(), start + Duration::from_millis(4));
/// assert_eq!(ticks.tick(), start + Duration::from_millis(6));
/// ```
#[derive(Debug)]
pub struct Interval {
    /// The next tick; `None` once it would be too far away to be an `Instant` (a period such
    /// as `Duration::MAX`): that tick never comes.
    next: Option<Instant>,
    period: Duration,
}

/// An [`Interval`] whose first tick completes immediately.
///
/// # Panics
/// If `period` is zero.
///
/// ```
/// let mut ticks = zsync::time::interval(zsync::time::Duration::from_millis(2));
/// let first = ticks.tick();
/// let third = { ticks.tick(); ticks.tick() };
/// assert_eq!(third - first, zsync::time::Duration::from_millis(4));
/// ```
pub fn interval(period: Duration) -> Interval {
    assert!(
        !period.is_zero(),
        "zsync::time::interval: the period must be non-zero"
    );
    Interval {
        next: Some(Instant::now()),
        period,
    }
}

impl Interval {
    /// Waits for the next tick and returns its scheduled instant. Ticks missed while the caller
    /// was busy complete at once (burst), as tokio's default does. A tick too far away to be an
    /// `Instant` (after the first, with a period like `Duration::MAX`) never comes: the call
    /// waits until it is cancelled or its `timeout()` expires.
    ///
    /// ```
    /// use zsync::time::{interval, Duration, Instant};
    /// let mut ticks = interval(Duration::from_millis(5));
    /// let first = ticks.tick(); // at once
    /// let second = ticks.tick();
    /// assert_eq!(second - first, Duration::from_millis(5));
    /// assert!(Instant::now() >= second);
    /// ```
    pub fn tick(&mut self) -> Instant {
        let Some(deadline) = self.next else {
            park::sleep_until(None);
            unreachable!("a sleep without a deadline returns only by unwinding");
        };
        sleep_until(deadline);
        self.next = deadline.checked_add(self.period);
        deadline
    }

    /// The period.
    ///
    /// ```
    /// use zsync::time::{interval, Duration};
    /// let ticks = interval(Duration::from_millis(250));
    /// assert_eq!(ticks.period(), Duration::from_millis(250));
    /// ```
    pub fn period(&self) -> Duration {
        self.period
    }
}

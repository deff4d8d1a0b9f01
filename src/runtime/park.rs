//! Parking: where a green thread (or an OS thread) waits, and where cancellation and
//! `timeout()` are delivered (its park points; the per-thread state they read is in
//! `task::cancel`).
//!
//! A green thread parks in two steps (see `task::park_state`): [`park_until`] consumes a waiting
//! token or suspends to its worker with `Reason::Park`, arming a timer in its worker's wheel if
//! it has a deadline; the worker commits the park once the stack is suspended. It is woken by
//! `TaskRef::unpark` (any thread), which puts it back in its worker's run queue: at once on the
//! worker's own OS thread, through a post to the worker's inbox from any other. An OS thread
//! parks with `std::thread::park`.
//!
//! Each entry point here reads "where am I?" once ([`context::current`]) and keeps the answer
//! across its suspension: a green thread resumes on the same worker.

use super::context::{self, Current};
pub(crate) use super::dump::WaitReason;
use super::task::cancel::{Check, ParkPoint, Pending, TimedOut};
use super::task::handle::with_os_self;
use super::task::{Reason, TaskRef};
use super::worker::Worker;
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

thread_local! {
    /// An OS thread's park-point state (a green thread's is in its `Local`, on its stack).
    static OS_PARK_POINT: RefCell<ParkPoint> = RefCell::new(ParkPoint::new());
}

/// Runs `f` with the calling thread's park-point state and cancellation flag.
fn with_park_point<R>(f: impl FnOnce(&mut ParkPoint, &AtomicBool) -> R) -> R {
    match context::current().task() {
        // SAFETY: we are this green thread, running.
        Some(task) => f(&mut unsafe { task.local() }.park_point, &task.cancel),
        None => with_os_self(|me| with_os_park_point(|pp| f(pp, &me.cancel))),
    }
}

/// Runs `f` with the calling OS thread's park-point state. In a thread-local destructor that
/// runs after `OS_PARK_POINT`'s (see `handle::with_os_self`), with a fresh one: no shield and
/// no `timeout()` is active there (a `timeout()` entered there does not expire), and nothing is
/// raised that the thread could not raise anyway (its `OsThread` is new too, never cancelled).
fn with_os_park_point<R>(f: impl FnOnce(&mut ParkPoint) -> R) -> R {
    // `try_with` first: `with` would panic, and a panic in a thread-local destructor aborts.
    // Once alive it stays alive for this call (only this thread's exit destroys it).
    if OS_PARK_POINT.try_with(|_| ()).is_ok() {
        OS_PARK_POINT.with(|pp| f(&mut pp.borrow_mut()))
    } else {
        f(&mut ParkPoint::new())
    }
}

/// A park point of a running green thread: raises a pending cancellation or timeout, or, if it
/// cannot be raised yet (see `task::cancel`), makes sure the green thread is woken when it can.
#[inline]
fn green_park_point(worker: &Worker, task: &TaskRef) {
    green_park_point_or(worker, task, &|| true);
}

/// [`green_park_point`] for a queued waiter: see `ParkPoint::check_or`.
#[inline]
fn green_park_point_or(worker: &Worker, task: &TaskRef, withdraw: &dyn Fn() -> bool) {
    // SAFETY: we are this green thread, running; the reference ends before the raise leaves
    // this frame (`check` raises last, with nothing borrowed after it).
    let pp = &mut unsafe { task.local() }.park_point;
    if pp.check_or(&task.cancel, withdraw) == Check::Deferred && !pp.deferred {
        pp.deferred = true;
        worker.defer_until_unwound(task.clone());
    }
}

/// A park point of an OS thread. The raise happens outside the borrow of the thread's state.
/// An OS thread that defers is itself unwinding: it reaches a park point again after the
/// unwind ends.
fn os_park_point() {
    os_park_point_or(&|| true);
}

/// [`os_park_point`] for a queued waiter: see `ParkPoint::check_or`.
fn os_park_point_or(withdraw: &dyn Fn() -> bool) {
    let raise = with_os_self(|me| {
        with_os_park_point(|pp| {
            catch_unwind(AssertUnwindSafe(|| pp.check_or(&me.cancel, withdraw))).err()
        })
    });
    if let Some(payload) = raise {
        std::panic::resume_unwind(payload);
    }
}

/// A park point that does not park: raises a pending cancellation or expired `timeout()`.
pub(crate) fn park_point() {
    match context::current() {
        Current::Green { worker, task } => green_park_point(worker, task),
        _ => os_park_point(),
    }
}

/// Suspends the running green thread to its worker.
#[inline]
fn suspend(worker: &Worker, task: &TaskRef, reason: Reason) {
    // SAFETY: we are this green thread, running; the reference ends before the switch.
    let suspender = unsafe {
        task.sched().reason = reason;
        task.local().suspender
    };
    // Straight into the next green thread when the worker would pick a suspended one anyway.
    // (`task` points into the worker's `resumed` slot, which `hand_over` refills: it is not
    // read again before this thread is continued, when the slot holds it again.)
    #[cfg(zsync_hand_over)]
    if worker.hand_over() {
        return;
    }
    #[cfg(not(zsync_hand_over))]
    let _ = worker;
    // SAFETY: set at the first resume; it lives on this green thread's stack.
    unsafe { (*suspender).suspend() };
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The green half of [`park_until_woken`]: park point, then token or suspension (with a timer
/// in the worker's wheel for a deadline).
#[inline]
fn park_green(worker: &Worker, task: &TaskRef, deadline: Option<Instant>, wait: &WaitReason) {
    green_park_point(worker, task);
    suspend_green(worker, task, deadline, wait);
}

/// Takes the token, or suspends the green thread until it is unparked, `deadline` passes or
/// one of its `timeout()`s expires (a timer in the worker's wheel for the earliest of them).
/// Records `wait` in the task for `Runtime::dump` (a plain store).
#[inline(always)]
fn suspend_green(worker: &Worker, task: &TaskRef, deadline: Option<Instant>, wait: &WaitReason) {
    let wake_at = {
        // SAFETY: we are this green thread, running; the reference ends before the switch.
        let local = unsafe { task.local() };
        local.wait = *wait;
        earliest(deadline, local.park_point.wake_deadline())
    };
    if !task.park.take_token() {
        let timer = wake_at.map(|at| worker.add_timer(at, task.clone()));
        suspend(worker, task, Reason::Park);
        // Resumed on the same worker (a started green thread never moves).
        if let Some(key) = timer {
            worker.cancel_timer(key);
        }
    }
}

/// The OS-thread half of [`park_until_woken`].
fn park_os(deadline: Option<Instant>) {
    os_park_point();
    block_os(deadline);
}

/// Blocks the OS thread until it is unparked, `deadline` passes or one of its `timeout()`s
/// expires.
fn block_os(deadline: Option<Instant>) {
    match earliest(deadline, wake_deadline()) {
        Some(at) => std::thread::park_timeout(at.saturating_duration_since(Instant::now())),
        None => std::thread::park(),
    }
}

/// Parks the calling thread until it is unparked, `deadline` passes, a `timeout()` expires or
/// it is cancelled (the last two raise). May return spuriously, like std's park.
#[inline]
pub(crate) fn park_until(deadline: Option<Instant>) {
    park_until_for(deadline, WaitReason::Park);
}

/// [`park_until`], recording `wait` as what the green thread waits on (for `Runtime::dump`).
pub(crate) fn park_until_for(deadline: Option<Instant>, wait: WaitReason) {
    match context::current() {
        Current::Green { worker, task } => {
            park_green(worker, task, deadline, &wait);
            green_park_point(worker, task);
        }
        _ => {
            park_os(deadline);
            os_park_point();
        }
    }
}

/// Like [`park_until`], but a park point only on the way in: a request that arrives while the
/// thread is parked wakes it without raising, so that the caller can first look at what else
/// woke it. A waiter that was handed a message, a lock or a permit returns with it (the send or
/// the lock took effect), and the request is raised at its next park point; a waiter that was
/// not parks again, which raises.
#[cfg_attr(loom, allow(dead_code))] // loom models park loom threads instead
pub(crate) fn park_until_woken(deadline: Option<Instant>, wait: &WaitReason) {
    park_until_woken_or(deadline, wait, &|| true);
}

/// [`park_until_woken`] for a thread queued as a waiter: a park point only if `withdraw` (called
/// right before the raise) takes the waiter out of reach of notifiers. Between the waiter's
/// last look at its notification and this park point, a notifier on another thread may hand it
/// a message, a lock or a permit: then nothing is raised here (the hand-over took effect), and
/// the request waits for the next park point.
// Always inline, with `suspend_green`: the park of every `zsync::sync` waiter (`Waiter::wait`,
// its one hot caller). As two calls of their own they cost B4 ~45 instructions per park, 6% of
// its round trip (callgrind), and a cancelled waiter unwinds through two frames fewer.
#[inline(always)]
#[cfg_attr(loom, allow(dead_code))] // loom models park loom threads instead
pub(crate) fn park_until_woken_or(
    deadline: Option<Instant>,
    wait: &WaitReason,
    withdraw: &dyn Fn() -> bool,
) {
    match context::current() {
        Current::Green { worker, task } => {
            green_park_point_or(worker, task, withdraw);
            suspend_green(worker, task, deadline, wait);
        }
        _ => {
            os_park_point_or(withdraw);
            block_os(deadline);
        }
    }
}

/// Whether the calling thread's next park point would raise (a cancellation or an expired
/// `timeout()`, not shielded, not during an unwind), without raising: for a wait that must
/// first undo something (an io_uring operation that owns a buffer) before it unwinds.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) fn request_due() -> bool {
    with_park_point(|pp, cancel| pp.due(cancel))
}

/// A park that never raises: parks the calling thread like [`park_until_woken`] (until
/// unparked, `deadline` passes, a `timeout()` expires, it is cancelled, or spuriously), but a
/// pending cancellation or expired `timeout()` is reported instead of raised, before parking
/// (then it does not park) or after. The request stays in force: the next park point raises it.
///
/// For waits that must not unwind: the `hook` feature's libc functions, whose callers may be C
/// or sit behind an `extern "C"` frame. Not a park point.
#[cfg_attr(not(feature = "hook"), allow(dead_code))]
pub(crate) fn park_quiet(deadline: Option<Instant>, wait: WaitReason) -> Option<Pending> {
    let pending = park_quiet_inner(deadline, wait);
    if pending == Some(Pending::TimedOut) {
        // The caller fails with `ETIMEDOUT` instead of unwinding; foreign code may answer with
        // a panic of its own (tokio does), which the expired `timeout()` then takes as its unwind.
        with_park_point(|pp, _| pp.report_expired());
    }
    pending
}

#[cfg_attr(not(feature = "hook"), allow(dead_code))]
fn park_quiet_inner(deadline: Option<Instant>, wait: WaitReason) -> Option<Pending> {
    match context::current() {
        Current::Green { task, worker } => {
            // SAFETY: we are this green thread, running; the reference ends before the switch.
            let pending = |task: &TaskRef| unsafe { task.local() }.park_point.pending(&task.cancel);
            if let Some(pending) = pending(task) {
                return Some(pending);
            }
            suspend_green(worker, task, deadline, &wait);
            pending(task)
        }
        _ => {
            let pending = || with_park_point(|pp, cancel| pp.pending(cancel));
            if let Some(pending) = pending() {
                return Some(pending);
            }
            block_os(deadline);
            pending()
        }
    }
}

/// `thread::park` and `thread::park_timeout`: takes the thread's token (`Thread::unpark`'s),
/// or parks until it is unparked, `deadline` passes, or it is cancelled. The token is the
/// user's alone: zsync's own waits (a sleep, a lock, a join, a socket) park and are woken
/// without it, so an `unpark` that arrives during one of them is still there for the next
/// `park`, as with std. `#[inline]`, as the wrappers above `park_until_for`: a cancelled thread
/// unwinds from there, and each frame in between is walked twice by the unwinder (a runtime
/// dropped with a million parked threads unwinds them all).
#[inline]
pub(crate) fn park_for_token(deadline: Option<Instant>) {
    park_point();
    // The park below also returns for a wake meant for a wait that has ended (the `unpark`
    // that gave the token wakes too): look again, as std's park does not return for those.
    while !take_unpark_token() {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return;
        }
        park_until(deadline);
    }
}

/// Takes the calling thread's `park`/`unpark` token if it is there.
fn take_unpark_token() -> bool {
    let take = |token: &AtomicBool| {
        // Acquire: what the unparker did before `unpark` is visible after `park` returns.
        token.load(Ordering::Relaxed) && token.swap(false, Ordering::Acquire)
    };
    match context::current().task() {
        Some(task) => take(&task.unpark_token),
        None => with_os_self(|me| take(&me.unpark_token)),
    }
}

/// [`park`], recording `wait` (for `Runtime::dump`).
#[inline]
pub(crate) fn park_for(wait: WaitReason) {
    park_until_for(None, wait);
}

/// Sleeps until `deadline` (`None`: a deadline too far away to be an `Instant`, never reached:
/// until cancelled or a `timeout()` expires). What `thread::sleep`, `time::sleep`,
/// `time::sleep_until` and `Interval::tick` all call.
pub(crate) fn sleep_until(deadline: Option<Instant>) {
    loop {
        park_until_for(deadline, WaitReason::Sleep { until: deadline });
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return;
        }
    }
}

/// `thread::yield_now`: lets other green threads on this worker run (on an OS thread:
/// `std::thread::yield_now`). A park point.
pub(crate) fn yield_now() {
    match context::current() {
        Current::Green { worker, task } => {
            green_park_point(worker, task);
            if !worker.yield_in_place(task) {
                suspend(worker, task, Reason::Yield);
            }
            green_park_point(worker, task);
        }
        _ => {
            os_park_point();
            std::thread::yield_now();
            os_park_point();
        }
    }
}

/// The slow half of `monitor::coop::poll`: yields the calling green thread if its budget is
/// `spent` or its worker has a yield request for it. Not a park point: the calls that honour
/// requests (sends, locks, socket calls) never raised cancellation before, and do not now.
#[cold]
#[cfg_attr(loom, allow(dead_code))] // loom models run no green threads
pub(crate) fn coop_yield(spent: bool) {
    if let Current::Green { worker, task } = context::current() {
        let watch = &worker.remote().watch;
        if watch.take_request() || spent {
            super::metrics::WorkerMetrics::add(&watch.coop_yields, 1);
            if !worker.yield_in_place(task) {
                suspend(worker, task, Reason::Yield);
            }
        }
    }
}

/// True while the calling green thread (or OS thread) is unwinding, like
/// `std::thread::panicking`, but answered for the green thread, not the OS thread under it.
pub(crate) fn panicking() -> bool {
    match context::current().task() {
        // SAFETY: we are this green thread, running.
        // std's own answer is per OS thread: another green thread may be suspended mid-unwind
        // on this worker. The park point knows whether this one started a panic or an unwind.
        Some(task) => unsafe { task.local() }.park_point.unwinding(),
        None => std::thread::panicking(),
    }
}

/// Holds cancellation and `timeout()` back until the matching [`leave_shield`].
pub(crate) fn enter_shield() {
    with_park_point(|pp, _| pp.enter_shield());
}

pub(crate) fn leave_shield() {
    with_park_point(|pp, _| pp.leave_shield());
}

/// Records that this OS thread (not a green thread) started a panic: the panic hook's half for
/// OS threads.
pub(crate) fn note_os_thread_panic() {
    let _ = OS_PARK_POINT.try_with(|pp| {
        if let Ok(mut pp) = pp.try_borrow_mut() {
            pp.panic_starts();
        }
    });
}

/// Whether the calling green thread (or OS thread) is unwinding from a panic, as opposed to a
/// cancellation or an expired `timeout()`: what poisons a lock.
pub(crate) fn unwinding_from_panic() -> bool {
    match context::current().task() {
        // SAFETY: we are this green thread, running.
        Some(task) => unsafe { task.local() }
            .park_point
            .unwinding_from_panic(false),
        None => OS_PARK_POINT
            .try_with(|pp| match pp.try_borrow_mut() {
                Ok(mut pp) => pp.unwinding_from_panic(true),
                Err(_) => std::thread::panicking(),
            })
            .unwrap_or_else(|_| std::thread::panicking()),
    }
}

/// The earliest `timeout()` deadline of the calling thread, if any.
pub(crate) fn wake_deadline() -> Option<Instant> {
    with_park_point(|pp, _| pp.wake_deadline())
}

/// Enters a `timeout()` with `deadline`; returns its id.
pub(crate) fn enter_timeout(deadline: Instant) -> u64 {
    with_park_point(|pp, _| pp.push_timeout(deadline))
}

pub(crate) fn leave_timeout(id: u64) {
    with_park_point(|pp, _| pp.pop_timeout(id));
}

/// Whether a wait that must not unwind (a `hook` call) reported the expiry of `timeout()` `id`
/// to its caller (see [`park_quiet`]).
pub(crate) fn timeout_reported(id: u64) -> bool {
    with_park_point(|pp, _| pp.reported(id))
}

/// Whether `payload` is one of zsync's own unwinds (a cancellation or a `timeout()`), as
/// opposed to a panic.
pub(crate) fn is_request(payload: &(dyn std::any::Any + Send)) -> bool {
    payload.is::<TimedOut>() || payload.is::<super::task::cancel::Cancelled>()
}

/// If `payload` is the timeout `id`'s own unwind, consumes it: that unwind is over.
pub(crate) fn is_own_timeout(payload: &(dyn std::any::Any + Send), id: u64) -> bool {
    let own = payload
        .downcast_ref::<TimedOut>()
        .is_some_and(|t| t.id == id);
    if own {
        with_park_point(|pp, _| pp.caught_timeout());
    }
    own
}

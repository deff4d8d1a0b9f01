//! The monitor: one OS thread per green-thread runtime that watches its workers from outside.
//!
//! Scheduling stays cooperative: a green thread gives its worker back only at a park point.
//! The monitor makes a worker that does not come back visible, and asks it to come back:
//!
//! - **Looking.** Each worker publishes, in its [`Watch`], the green thread it is running (a
//!   pointer stored before each resume, cleared after it) and counts its resumes
//!   (`WorkerMetrics::switches`, the worker's scheduling tick). Every [`LOOK_INTERVAL`] (backing
//!   off to [`MAX_LOOK_INTERVAL`] while nothing is held) the monitor reads both with relaxed
//!   loads: a worker that runs a green thread and whose tick has not moved since the last look
//!   has been running that green thread all along. The worker's
//!   hot path gains no lock and no read-modify-write, only the two pointer stores.
//! - **Sleeping.** Once every worker has been asleep (registered in `Idle`) for a few looks in a
//!   row, the monitor parks. A worker that leaves its sleep unparks it if it is asleep: the
//!   monitor stores `monitor_asleep` and then reads the sleepers' count, the worker stores the
//!   count and then reads `monitor_asleep`, with a SeqCst fence between each store and load
//!   (the store-buffering pattern, model-checked in `idle.rs`): one of them sees the other.
//! - **Yield requests.** A green thread that has run longer than [`TIME_SLICE`] gets a request:
//!   the monitor sets its worker's `yield_request` flag and counts it in the process-wide
//!   [`REQUESTS`]. Every zsync call that can return without parking calls [`coop::poll`]
//!   first (`spawn` last, once the new thread is queued): one relaxed load of `REQUESTS` (and the per-OS-thread budget below); when it is
//!   non-zero, the slow path looks at its own worker's flag, takes it, and yields. The worker
//!   also takes its flag whenever the green thread comes back to it by itself. Independently, a
//!   budget of [`BUDGET`] consecutive non-parking calls per OS thread makes the thread yield
//!   when it runs out, so that a producer and a consumer on one worker cannot starve it for a
//!   whole time slice (tokio's coop budget, counted per call).
//! - **Stall warnings.** A green thread that has held its worker longer than the runtime's
//!   `stall_threshold` is reported once per episode on stderr, with its name, id, worker, and
//!   the usual causes; counted in `Metrics::stalls` and `Metrics::longest_stall`. To read the
//!   name the monitor dereferences the published pointer under the worker's `inspect` flag, a
//!   tiny lock that the worker takes (once, uncontended) only before it drops a finished green
//!   thread: the published task is alive while the monitor holds it.
//! - **Reactor hand-over.** A worker stuck in a green thread does not poll its reactor, and a
//!   socket registered there may have waiters on other workers. From the second look at a stuck
//!   worker on, the monitor turns that reactor without blocking (if nobody drives it), which
//!   wakes those waiters through their own workers. The stuck worker's timers are left alone:
//!   they only ever wake its own green threads, which cannot run until it comes back.
//! - **Deadlock report** ([`Deadlock`]). Before parking, the monitor asks whether the runtime
//!   looks deadlocked: a root green thread (`block_on`), every live green thread parked, no
//!   timer armed (`Watch::timers`, published by each worker as it goes to sleep), no green
//!   thread waiting on a socket or an `unblock` job (`Watch::external_waits`, counted by the
//!   waiters themselves on their worker's thread). It keeps looking while that holds and, after
//!   [`DEADLOCK_GRACE`] without a switch, prints the report and a dump.
//! - **The coarse clock.** At each look (and as it wakes) the monitor advances
//!   `Shared::clock`, milliseconds since the runtime started, which workers copy into a green
//!   thread as it parks: the dump's "parked for" costs the park path no clock read (see
//!   `dump`, which also describes the wait reasons, the backtraces taken on parked green
//!   threads' own stacks, and `Builder::dump_on_signal`).

use super::task::id::ThreadId;
use super::task::Task;
use super::Shared;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the monitor looks at its workers while one of them holds a green thread across
/// looks ...
pub(crate) const LOOK_INTERVAL: Duration = Duration::from_millis(2);
/// ... and at most this long between looks while none does (the interval doubles at each
/// uneventful look, as Go's sysmon backs off).
pub(crate) const MAX_LOOK_INTERVAL: Duration = Duration::from_millis(10);
/// The monitor parks after this many looks in a row found every worker asleep.
const IDLE_LOOKS_BEFORE_PARKING: u32 = 10;
/// How long a green thread may run before it is asked to yield.
pub(crate) const TIME_SLICE: Duration = Duration::from_millis(10);
/// The default stall threshold (`ZSYNC_STALL_MS` or `Builder::stall_threshold` change it).
pub(crate) const DEFAULT_STALL_THRESHOLD: Duration = Duration::from_millis(100);
/// Consecutive non-parking zsync calls an OS thread makes before it yields.
#[cfg_attr(loom, allow(dead_code))] // loom models run no green threads
pub(crate) const BUDGET: u32 = 128;

/// Outstanding yield requests, all runtimes together: the one word the fast paths read.
static REQUESTS: AtomicUsize = AtomicUsize::new(0);

/// What the monitor sees of one worker (in its `Remote`).
#[derive(Default)]
pub(crate) struct Watch {
    /// The green thread the worker is running, null between resumes. Stored with Release
    /// before a resume (so that the monitor, which loads it with Acquire, sees the task's
    /// fields), cleared with a relaxed store after it.
    running: AtomicPtr<Task>,
    /// Held by the monitor while it reads the running task; taken and released at once by the
    /// worker before it drops a finished green thread.
    inspect: AtomicBool,
    /// Set by the monitor: the running green thread should yield at its next zsync call.
    yield_request: AtomicBool,
    /// Stall episodes seen on this worker, and the longest, in microseconds (monitor-written).
    pub(crate) stalls: AtomicU64,
    pub(crate) longest_stall_us: AtomicU64,
    /// Yields made for a request or a spent budget (worker-written).
    pub(crate) coop_yields: AtomicU64,
    /// The worker has timers armed (published when it goes to sleep).
    pub(crate) timers: AtomicBool,
    /// Green threads of this worker parked on something outside the runtime's green threads:
    /// a socket, an `unblock` job (written by the worker's own thread only).
    pub(crate) external_waits: AtomicU64,
}

impl Watch {
    /// The worker is about to resume `task`.
    #[inline]
    pub(crate) fn enter(&self, task: &Task) {
        self.running
            .store(ptr::from_ref(task).cast_mut(), Ordering::Release);
    }

    /// The worker is back from a resume: the green thread no longer runs, and any request made
    /// to it is void.
    #[inline]
    pub(crate) fn leave(&self) {
        self.running.store(ptr::null_mut(), Ordering::Relaxed);
        if self.yield_request.load(Ordering::Relaxed) {
            self.take_request();
        }
    }

    /// Before the worker drops a finished green thread: waits for a monitor that may be
    /// reading it (the task was cleared from `running` before, so a monitor that comes later
    /// sees null). One uncontended compare-and-swap per finished green thread.
    #[inline]
    pub(crate) fn quiesce(&self) {
        while self
            .inspect
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::hint::spin_loop();
        }
        self.inspect.store(false, Ordering::Release);
    }

    /// Counts a green thread of this worker (the caller, running on it) as waiting on
    /// something outside the runtime until the guard drops (see the deadlock report).
    pub(crate) fn external_wait(&self) -> ExternalWait<'_> {
        super::metrics::WorkerMetrics::add(&self.external_waits, 1);
        ExternalWait(self)
    }

    /// Takes this worker's request, if any: true if there was one.
    #[cold]
    pub(crate) fn take_request(&self) -> bool {
        if self.yield_request.swap(false, Ordering::Relaxed) {
            REQUESTS.fetch_sub(1, Ordering::Relaxed);
            true
        } else {
            false
        }
    }

    fn request(&self) {
        if !self.yield_request.swap(true, Ordering::Relaxed) {
            REQUESTS.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The id and name of the running green thread, if any (see `quiesce`).
    pub(crate) fn running_identity(&self) -> Option<(ThreadId, Option<Arc<str>>)> {
        while self
            .inspect
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::hint::spin_loop();
        }
        let task = self.running.load(Ordering::Acquire);
        // SAFETY: a non-null `running` is a task its worker is running or ran last; the worker
        // drops a finished task only after taking `inspect`, which we hold, and it cleared
        // `running` before (so a task dropped before we took `inspect` reads as null here).
        let identity = unsafe { task.as_ref() }.map(|t| (t.id, t.name.clone()));
        self.inspect.store(false, Ordering::Release);
        identity
    }
}

/// See [`Watch::external_wait`]. Dropped on the same worker (a green thread never moves).
pub(crate) struct ExternalWait<'a>(&'a Watch);

impl Drop for ExternalWait<'_> {
    fn drop(&mut self) {
        super::metrics::WorkerMetrics::add(&self.0.external_waits, u64::MAX); // minus one
    }
}

/// The cooperative-yield check of the non-parking fast paths.
pub(crate) mod coop {
    #[cfg(not(loom))]
    use super::{BUDGET, REQUESTS};
    #[cfg(not(loom))]
    use std::{cell::Cell, sync::atomic::Ordering};

    #[cfg(not(loom))]
    thread_local! {
        /// Non-parking zsync calls left before this OS thread yields. Per OS thread, not per
        /// green thread: a green thread never changes OS thread, so an address of this cell
        /// cached across a switch would still be this thread's; and a count shared by the green
        /// threads of a worker only makes one of them yield a little early.
        static LEFT: Cell<u32> = const { Cell::new(BUDGET) };
    }

    /// Called first by every zsync call that can return without parking. Cost while no
    /// request is pending: one relaxed load and the budget's decrement.
    #[inline]
    pub(crate) fn poll() {
        #[cfg(not(loom))]
        {
            let spent = LEFT.with(|left| {
                let n = left.get().wrapping_sub(1);
                left.set(n);
                n == 0
            });
            if spent || REQUESTS.load(Ordering::Relaxed) != 0 {
                cold(spent);
            }
        }
    }

    #[cfg(not(loom))]
    #[cold]
    #[inline(never)]
    fn cold(spent: bool) {
        if spent {
            LEFT.with(|left| left.set(BUDGET));
        }
        super::super::park::coop_yield(spent);
    }
}

/// The stall threshold from `ZSYNC_STALL_MS` (milliseconds; 0 turns warnings off), or the
/// default.
pub(crate) fn stall_threshold_from_env() -> Option<Duration> {
    match std::env::var("ZSYNC_STALL_MS") {
        Ok(v) => match v.trim().parse::<u64>() {
            Ok(0) => None,
            Ok(ms) => Some(Duration::from_millis(ms)),
            Err(_) => Some(DEFAULT_STALL_THRESHOLD),
        },
        Err(_) => Some(DEFAULT_STALL_THRESHOLD),
    }
}

/// What the monitor remembers of a worker between looks.
#[derive(Clone, Copy)]
struct Seen {
    tick: u64,
    task: *const Task,
    since: Instant,
    requested: bool,
    warned: bool,
}

/// The monitor thread's main function.
pub(crate) fn run(shared: Arc<Shared>) {
    let n = shared.workers.len();
    let now = Instant::now();
    let mut seen = vec![
        Seen {
            tick: u64::MAX,
            task: ptr::null(),
            since: now,
            requested: false,
            warned: false,
        };
        n
    ];
    let mut interval = LOOK_INTERVAL;
    let mut idle_looks = 0;
    let mut deadlock = Deadlock::default();
    loop {
        if shared.shutdown.load(Ordering::Acquire) {
            return;
        }
        // Park only after a few looks found every worker asleep: a runtime whose workers nap
        // between frequent timers would otherwise unpark the monitor at every nap.
        idle_looks = if shared.idle.sleeping() == n {
            idle_looks + 1
        } else {
            0
        };
        if idle_looks > IDLE_LOOKS_BEFORE_PARKING && !deadlock.watch(&shared) {
            idle_looks = 0;
            shared.monitor_asleep.store(true, Ordering::SeqCst);
            if shared.idle.sleeping() == n && !shared.shutdown.load(Ordering::SeqCst) {
                std::thread::park();
            }
            shared.monitor_asleep.store(false, Ordering::SeqCst);
            shared.clock_now();
            interval = LOOK_INTERVAL;
            continue;
        }
        std::thread::sleep(interval);
        let now = Instant::now();
        shared.clock_now();
        let mut held = false;
        for (index, seen) in seen.iter_mut().enumerate() {
            held |= look(&shared, index, seen, now);
        }
        interval = if held {
            LOOK_INTERVAL
        } else {
            (interval * 2).min(MAX_LOOK_INTERVAL)
        };
    }
}

/// One look at worker `index`; true if it has run the same green thread since the last look.
fn look(shared: &Shared, index: usize, seen: &mut Seen, now: Instant) -> bool {
    let remote = &shared.workers[index];
    let tick = remote.metrics.switches.load(Ordering::Relaxed);
    let task = remote.watch.running.load(Ordering::Relaxed).cast_const();
    if task.is_null() || tick != seen.tick || task != seen.task {
        *seen = Seen {
            tick,
            task,
            since: now,
            requested: false,
            warned: false,
        };
        return false;
    }
    // The same green thread has run since the previous look at least.
    let ran = now.duration_since(seen.since);
    if let Some(reactor) = &remote.reactor {
        if let Some(mut driver) = reactor.try_drive() {
            reactor.turn(&mut driver, crate::reactor::Wait::No);
        }
    }
    if ran >= TIME_SLICE && !seen.requested {
        seen.requested = true;
        remote.watch.request();
    }
    let Some(threshold) = shared.stall_threshold else {
        return true;
    };
    if ran < threshold {
        return true;
    }
    let us = u64::try_from(ran.as_micros()).unwrap_or(u64::MAX);
    if us > remote.watch.longest_stall_us.load(Ordering::Relaxed) {
        remote.watch.longest_stall_us.store(us, Ordering::Relaxed);
    }
    if seen.warned {
        return true;
    }
    seen.warned = true;
    let stalls = &remote.watch.stalls;
    stalls.store(stalls.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    let Some((id, name)) = remote.watch.running_identity() else {
        return true;
    };
    let name = name
        .as_deref()
        .map_or_else(|| "<unnamed>".to_owned(), |name| format!("'{name}'"));
    eprintln!(
        "zsync: green thread {name} (id {}) has held worker {index} ({}-{index}) for \
         {} ms without reaching a park point: every other green thread on that worker waits.\n\
         \x20 Usual causes:\n\
         \x20 - a blocking std call (std::thread::sleep, std::sync::Mutex, std::net, std::fs, a C \
         library call): use zsync's own types, move the call to the blocking pool with \
         zsync::unblock, or build with the `hook` feature (Linux);\n\
         \x20 - a long computation: call zsync::thread::yield_now() (or check_cancel()) in its loop.",
        id.as_u64(),
        shared.thread_name,
        ran.as_millis(),
    );
    true
}

/// How long the runtime must look deadlocked before the report.
const DEADLOCK_GRACE: Duration = Duration::from_millis(500);

/// The deadlock report: a runtime whose root green thread (one a `block_on` caller waits for)
/// is parked, with every worker asleep, every live green thread parked, no timer armed, and no
/// green thread waiting on a socket or an `unblock` job, for [`DEADLOCK_GRACE`] without a single
/// switch, is reported once ("possible": an OS thread outside the runtime could still unpark
/// or send to one of them).
#[derive(Default)]
struct Deadlock {
    /// When the current suspicion started, and the switch count then.
    since: Option<(Instant, u64)>,
    /// The switch count of the last report: no second report without progress.
    reported: Option<u64>,
}

impl Deadlock {
    /// Called while every worker sleeps; true while the monitor should keep looking (not park).
    fn watch(&mut self, shared: &Shared) -> bool {
        let switches: u64 = shared
            .workers
            .iter()
            .map(|w| w.metrics.switches.load(Ordering::Relaxed))
            .sum();
        if self.reported == Some(switches) || !suspected(shared) {
            self.since = None;
            return false;
        }
        let now = Instant::now();
        match self.since {
            Some((since, at)) if at == switches => {
                if now.duration_since(since) < DEADLOCK_GRACE {
                    return true;
                }
                self.reported = Some(switches);
                self.since = None;
                report_deadlock(shared);
                false
            }
            _ => {
                self.since = Some((now, switches));
                true
            }
        }
    }
}

fn suspected(shared: &Shared) -> bool {
    if shared
        .roots
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .is_empty()
        || !shared.injector.is_empty()
    {
        return false;
    }
    let live = shared.live.load() as u64;
    let mut parked = 0;
    for w in shared.workers.iter() {
        if !w.inbox.is_empty()
            || !w.fresh.is_empty()
            || !w.next.is_empty()
            || w.watch.timers.load(Ordering::Relaxed)
            || w.watch.external_waits.load(Ordering::Relaxed) != 0
        {
            return false;
        }
        parked += w.metrics.parked.load(Ordering::Relaxed);
    }
    live > 0 && parked == live && shared.idle.sleeping() == shared.workers.len()
}

#[cold]
fn report_deadlock(shared: &Shared) {
    // The dump is collected from the sleeping workers (it wakes them; they answer).
    let dump = super::dump::collect(shared);
    eprintln!("zsync: {}\n{dump}", super::DEADLOCK);
    if shared.deadlock_panic {
        shared.deadlocked.store(true, Ordering::SeqCst);
        for root in shared
            .roots
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            root.request_cancel();
        }
    }
}

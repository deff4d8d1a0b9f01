//! A worker: one OS thread running green threads from its queues.
//!
//! Order of looking for work: the `next` slot (the green thread this worker spawned last, see
//! `next_slot`), the local ready queue (green threads this worker owns, woken on this thread)
//! taking turns with its own `fresh` queue (not-yet-started ones), then the inbox (owned ones
//! woken from elsewhere), the injector, and other workers' `fresh` queues (stealing); another
//! worker's `next` slot only after its occupant has waited there for [`NEXT_GRACE`]. Every 61st
//! pick polls I/O, fires due timers and looks at the inbox and the injector first, so that a
//! busy local queue cannot starve them; green threads woken by their timers go to the front of
//! the ready queue, ahead of the runnable ones (a sleeper's lateness is its wake-up's latency,
//! not the queue's length). With nothing to run, the worker fires due timers, and otherwise
//! sleeps (in its reactor's driver, if it has one) until the next timer deadline or an unpark.
//!
//! A green thread's life on its worker: `start` gives it a stack and a `Context` (its boxed
//! closure moves onto that stack, behind [`entry`]); `run_task` resumes it, commits its parks
//! (`Reason::Park`) or requeues it (`Reason::Yield`), and destroys it at `Resumed::Finished`
//! (stack back to the pool, `Body::Done`); `abandon` drops one that never started.

use super::context;
use super::metrics::WorkerMetrics;
use super::owned::OwnedTasks;
use super::ring::Ring;
use super::task::{Body, Local, Reason, Start, Task, TaskRef, Unstarted};
use super::timer::wheel::{TimerKey, TimerWheel};
use super::{Shared, FRESH_CAPACITY};
use crate::coro::{Context, Resumed, StackPool, Suspender};
use crate::reactor::Wait;
use std::cell::{Cell, RefCell, UnsafeCell};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the inbox and the injector are looked at before local work.
const FAIRNESS_TICK: u32 = 61;
/// A worker out of work looks this many times for more before it sleeps ...
///
/// 32 looks, two of them after a yield: the yields give the core to another process (a load
/// client on the same cores) without the cost of a sleep and a wake-up; more of them leave work
/// that arrives meanwhile waiting for a kernel time slice. Measured against 128 looks with 8
/// yields (B14's skewed echo load, alternating runs): p99 12.2-12.8 -> 4.7-4.9 ms, and B7 at
/// 1000 connections 196k-213k -> 207k-229k req/s, B11 177k-197k -> 182k-203k; without any
/// yield, B11 lost 5-10%.
const SEARCH_ROUNDS: u32 = 32;
/// ... spinning this many times between looks (a few microseconds in all, yielding its core
/// every sixteenth round, or, with a timer armed, going to sleep there): shorter than a sleep
/// and wake-up through the kernel.
const SEARCH_SPINS: u32 = 8;
/// A thief takes from another worker's `fresh` queue only once it holds this many new green
/// threads, for the first [`PATIENT_ROUNDS`] looks of its search; then one will do. A spawner
/// that keeps spawning and a thief that keeps up with it otherwise meet on the queue's head
/// for every green thread (the thief took one or two at a time, each a cache line moving
/// between the cores both ways): B2 on 2 workers alternated between rounds at ~400 and ~750 ns
/// per spawn + join, by whether the thief happened to fall behind and take batches (through
/// the injector) or not. Waiting for a batch costs a lone new thread a few microseconds more
/// before an idle worker takes it (and a thread spawned last waits in `next` anyway).
/// Measured (alternating, fresh process each): B2 2 workers, medians 600-640 -> 445-470 ns;
/// B14 and B7 unchanged.
const STEAL_BATCH: usize = 16;
/// See [`STEAL_BATCH`].
const PATIENT_ROUNDS: u32 = 8;
/// A worker that has been idle this long gives its idle stacks' memory back to the kernel
/// (`StackPool::trim`; it wakes for that if it would sleep longer); one that only naps between
/// near timers gives back, at most this often, the memory of the stacks idle since its previous
/// nap (`StackPool::trim_aged`). Not at once: trimming costs a TLB shootdown per run of stacks,
/// an interrupt for every other busy worker of the process, and a burst that resumes soon would
/// fault the released pages back in (B8: a worker whose sleepers were done trimmed while the
/// other still ran its own).
const TRIM_INTERVAL: Duration = Duration::from_millis(50);
/// A busy worker, which never sleeps, gives back at most this often the memory of the stacks
/// left unused since the previous time (`StackPool::release_aged`).
const BUSY_TRIM_INTERVAL: Duration = Duration::from_secs(1);
/// A worker that never runs dry polls its reactor at a fairness tick only if it has not for
/// this long: the poll is a system call, and at every 61st pick it cost a yield ~16 ns (B3).
/// Readiness then waits at most this long behind a busy run queue.
const BUSY_POLL_INTERVAL: Duration = Duration::from_micros(100);
/// How long a green thread waits in its spawner's `next` slot before an idle worker may take it:
/// long enough for a spawner that parks soon to run its child itself, short enough that a
/// spawner that keeps running does not hold its child back noticeably. (At 4 us, B4's echo
/// thread still landed on the other worker in 2 runs of 5: a new runtime's first green thread
/// takes page faults and cold misses between its spawn and its first park; 50 us: none in 24.)
const NEXT_GRACE: Duration = Duration::from_micros(50);
/// A busy worker with an armed timer reads the clock every this many picks (see `next_task`).
const TIMER_CHECK_TICK: u32 = 4;

/// How many green threads shutdown cancels at a time (see `shut_down`): small enough that a
/// batch's tasks stay in the cache until they run.
const SHUTDOWN_BATCH: usize = 64;
/// Every this many picks the `next` slot is looked at after the ready queue, not before, so that
/// a chain of green threads each spawning the next cannot starve the ready ones.
const NEXT_FAIRNESS_TICK: u32 = 8;
/// A busy worker looks every this many picks whether another worker holds more green threads
/// than it does, with new ones waiting, and takes half the difference (see `balance`).
const BALANCE_TICK: u32 = 16;
/// How long a worker leaves its own new green threads to a less loaded worker before it starts
/// them anyway: long enough for a sleeping worker to wake up (tens of microseconds, more on a
/// loaded machine), short enough if that worker is held by a green thread that never parks.
const FRESH_PATIENCE: Duration = Duration::from_micros(500);
/// ... and only while its `fresh` queue is less than half full (of 256).
const FRESH_KEPT_AT_MOST: usize = 128;

/// What `Worker::take_turns` found before the ready queue's first.
enum Turn {
    /// A green thread, taken.
    Taken(TaskRef),
    /// A turn is due (asked with `LOOK_ONLY`).
    Due,
    /// None: the pick is the ready queue's first (or what follows it).
    None,
}

pub(crate) struct Worker {
    pub(crate) index: usize,
    pub(crate) shared: Arc<Shared>,
    /// `&shared.workers[index]`, looked up once (a hot path reads it several times per switch).
    remote: *const super::Remote,
    ready: RefCell<Ring<TaskRef>>,
    pub(crate) pool: RefCell<StackPool>,
    timers: RefCell<TimerWheel<TaskRef>>,
    /// The green threads whose timers `fire_timers` found due (empty between its calls).
    due: RefCell<Vec<TaskRef>>,
    /// Started, unfinished green threads owned here: the ones to cancel at shutdown.
    owned: RefCell<OwnedTasks>,
    /// The green thread running right now: a pointer to the `TaskRef` in `resumed`, valid while
    /// that call resumes it (read through `context::current`).
    pub(super) current: Cell<*const TaskRef>,
    /// The `TaskRef` of the green thread being resumed, for the resume (see `run_task`).
    resumed: UnsafeCell<Option<TaskRef>>,
    /// Green threads may pick their successor themselves (`hand_over`, `yield_in_place`):
    /// only while the worker is in its run loop, not while it shuts down.
    picks_in_loop: Cell<bool>,
    tick: Cell<u32>,
    /// Green threads whose cancellation or timeout is due but could not be raised because this
    /// OS thread was unwinding (see `task::cancel`): woken once it no longer is.
    deferred: RefCell<Vec<TaskRef>>,
    /// When the stack pool was last trimmed (see `TRIM_INTERVAL`).
    last_trim: Cell<Instant>,
    /// When this worker's current idle stretch began, with its count of resumes then: a sleep
    /// that finds the count unchanged continues the stretch (see `TRIM_INTERVAL`).
    idle_since: Cell<(u64, Instant)>,
    /// The count of resumes at this worker's last full trim: none to do before it runs more.
    trimmed_at: Cell<Option<u64>>,
    /// Another worker's `next` occupant this worker is waiting to steal: (worker, occupant,
    /// first seen), for [`NEXT_GRACE`].
    next_candidate: Cell<Option<(usize, *const Task, Instant)>>,
    /// When this worker last polled its reactor (see `BUSY_POLL_INTERVAL`).
    last_poll: Cell<Instant>,
    /// Since when this worker has left its `fresh` queue to a less loaded worker (see
    /// `may_start_fresh`).
    fresh_left_since: Cell<Option<Instant>>,
    /// No later than the earliest deadline in `timers` (`None`: no timer), for a busy worker's
    /// look at the clock every [`TIMER_CHECK_TICK`] picks.
    timer_due: Cell<Option<Instant>>,
    /// The io_uring ring of this worker's file operations (`crate::reactor::uring`), made on first use.
    pub(crate) uring: crate::reactor::uring::WorkerRing<super::Thread>,
}

/// A green thread that will never run (its runtime is shutting down): drop its closure and
/// stack. Its joiner sees it cancelled: dropping its `Unstarted` token drops the closure unrun
/// and completes the join packet with `Cancelled` (see `task::cell`).
pub(crate) fn abandon(task: TaskRef) {
    // SAFETY: we hold the only queue entry of a green thread that never started; nobody else
    // touches its body.
    // Drops the closure (its joiner sees `Cancelled`) and the thread's `Live` count.
    *unsafe { task.body() } = Body::Done;
}

/// The first frame of every green thread, on its own stack: holds its [`Local`] state (with
/// where its `Suspender` lives) and publishes it in the task for the thread's life, then runs
/// the spawned closure (which completes the join packet and catches every panic).
fn entry(task: *const Task, suspender: &Suspender, f: Unstarted) {
    /// Withdraws the published state as the frame goes, returning or unwinding.
    struct Withdraw(*const Task);
    impl Drop for Withdraw {
        fn drop(&mut self) {
            // SAFETY: as below; the state is still alive (dropped after this guard).
            unsafe { (*self.0).set_local(std::ptr::null_mut()) };
        }
    }
    let mut local = Local::new(suspender);
    // SAFETY: we are the green thread, running (its worker holds the task, which outlives
    // its run); `local` stays in this frame, unmoved, until the guard below withdraws it.
    unsafe { (*task).set_local(&raw mut local) };
    let _withdraw = Withdraw(task);
    f.start(Start::Run);
}

/// The worker thread's main function.
pub(crate) fn run(shared: Arc<Shared>, index: usize) {
    let worker = Worker {
        index,
        remote: &shared.workers[index],
        pool: RefCell::new(
            StackPool::new(shared.stack_size).expect("stack size checked by the builder"),
        ),
        shared,
        ready: RefCell::new(Ring::new()),
        timers: RefCell::new(TimerWheel::new(Instant::now())),
        due: RefCell::new(Vec::new()),
        owned: RefCell::new(OwnedTasks::default()),
        current: Cell::new(std::ptr::null()),
        resumed: UnsafeCell::new(None),
        picks_in_loop: Cell::new(false),
        tick: Cell::new(0),
        deferred: RefCell::new(Vec::new()),
        last_trim: Cell::new(Instant::now()),
        idle_since: Cell::new((0, Instant::now())),
        trimmed_at: Cell::new(None),
        next_candidate: Cell::new(None),
        fresh_left_since: Cell::new(None),
        last_poll: Cell::new(Instant::now()),
        timer_due: Cell::new(None),
        uring: Default::default(),
    };
    context::set_worker(&worker);
    worker.picks_in_loop.set(true);
    worker.run_loop();
    worker.picks_in_loop.set(false);
    worker.shut_down();
    if let Some(reactor) = &worker.remote().reactor {
        // Nobody polls it any more: waits on its sources fall back to poll(2).
        reactor.shut_down();
    }
    // Every green thread this worker owned has finished: a wake posted from now on is stale.
    worker.remote().close_inbox();
    context::set_worker(std::ptr::null());
}

impl Worker {
    /// Registers a timer that unparks `task` at `deadline`.
    pub(crate) fn add_timer(&self, deadline: Instant, task: TaskRef) -> TimerKey {
        if self.timer_due.get().is_none_or(|due| deadline < due) {
            self.timer_due.set(Some(deadline));
        }
        self.timers.borrow_mut().insert(deadline, task)
    }

    pub(crate) fn cancel_timer(&self, key: TimerKey) {
        self.timers.borrow_mut().cancel(key);
    }

    /// Registers `task` (running here) to be woken as soon as this worker's OS thread is no
    /// longer unwinding: its due cancellation or timeout is raised then (see `task::cancel`).
    pub(crate) fn defer_until_unwound(&self, task: TaskRef) {
        self.deferred.borrow_mut().push(task);
    }

    /// This worker's I/O reactor (green-thread runtimes have one).
    pub(crate) fn reactor(&self) -> Option<&Arc<super::Reactor>> {
        self.remote().reactor.as_ref()
    }

    /// Queues a green thread spawned on this worker: into the `next` slot, whose previous
    /// occupant moves to the `fresh` queue (stealable; into the injector when it is full).
    pub(crate) fn push_spawned(&self, task: TaskRef) {
        let remote = self.remote();
        WorkerMetrics::add(&remote.metrics.spawns, 1);
        if let Some(older) = remote.next.put(task) {
            if let Err(overflow) = remote.fresh.push(older) {
                // Full: the older half goes to the injector with it, under one lock (as Go's
                // `runqputslow` does), so that a spawn storm takes that lock once per
                // `FRESH_CAPACITY / 2` spawns, not at each one.
                let half = std::iter::from_fn(|| remote.fresh.pop()).take(FRESH_CAPACITY / 2);
                self.shared.injector.push_all(half.chain(Some(overflow)));
            }
        }
    }

    /// The injector's first green thread, and a share of the ones behind it moved to this
    /// worker's `ready` queue, where they start in turn, all under one lock of the injector (as
    /// Go's `globrunqget` does): its share of what waits there, at most half a `fresh` queue.
    /// Not to `fresh`: the other workers' `balance` counts a worker's `fresh` queue as its load
    /// and took the batch back, and the next take gave it again (B8, a million sleepers spawned
    /// by one: over 500,000 steals each way, 1.09 -> 1.25 s).
    fn take_injected(&self) -> Option<TaskRef> {
        let injector = &self.shared.injector;
        if injector.is_empty() {
            return None;
        }
        let share = (injector.len() / self.shared.workers.len()).min(FRESH_CAPACITY / 2);
        let mut ready = self.ready.borrow_mut();
        injector.pop_some(share, |task| {
            ready.push_back(task);
            Ok(())
        })
    }

    /// Whether this is a worker of `shared` (not of another runtime).
    #[inline]
    pub(crate) fn of(&self, shared: &Shared) -> bool {
        std::ptr::eq(&*self.shared, shared)
    }

    /// Whether this is worker `index` of `shared`.
    #[inline]
    pub(crate) fn is(&self, shared: &Shared, index: usize) -> bool {
        self.of(shared) && self.index == index
    }

    #[inline]
    pub(crate) fn remote(&self) -> &super::Remote {
        // SAFETY: it points into `shared.workers`, a boxed slice that is never resized and
        // lives as long as `shared`, which this worker holds.
        unsafe { &*self.remote }
    }

    fn run_loop(&self) {
        loop {
            // A worker that never runs dry (green threads that keep yielding, a server under
            // constant load) must still see the shutdown: at every turn of the loop, not only
            // when idle. (Green threads that hand over to each other enter the loop only when a
            // pick differs, `plain_pick`: a fairness tick with work due, the shutdown included;
            // the tick the loop sees then is not a multiple of anything. One load of a line
            // that is written once.)
            if self.shared.shutdown.load(Ordering::Acquire) {
                return;
            }
            if let Some(task) = self.next_task() {
                self.run_task(task);
                continue;
            }
            // End of a scheduling round: submit the file operations queued in it.
            if self.uring.turn() {
                continue;
            }
            if self.fire_timers() {
                continue;
            }
            if self.shared.shutdown.load(Ordering::Acquire) {
                return;
            }
            if let Some(task) = self.search() {
                self.run_task(task);
                continue;
            }
            self.sleep();
        }
    }

    fn next_task(&self) -> Option<TaskRef> {
        let tick = self.tick.get().wrapping_add(1);
        self.tick.set(tick);
        if let Turn::Taken(task) = self.take_turns::<false>(tick) {
            return Some(task);
        }
        if let Some(task) = self.pop_ready() {
            return Some(task);
        }
        self.take_posted()
            .or_else(|| self.remote().fresh.pop())
            .or_else(|| self.remote().next.take())
            .or_else(|| self.take_injected())
            .or_else(|| self.steal(STEAL_BATCH))
    }

    /// Takes the turns that pick `tick` calls for before the ready queue's first, in order; the
    /// first that yields a green thread ends it. With `LOOK_ONLY`, takes nothing and says
    /// whether there is one (`Turn::Due`): `hand_over_to_next`, which enters the ready queue's
    /// first directly, asks that. One body for both (the look compiled out of `next_task`'s
    /// copy), so that the two cannot disagree about which picks differ.
    #[inline(always)]
    fn take_turns<const LOOK_ONLY: bool>(&self, tick: u32) -> Turn {
        let remote = self.remote();
        if tick.is_multiple_of(FAIRNESS_TICK) {
            if LOOK_ONLY {
                if self.fairness_work_due() {
                    return Turn::Due;
                }
            } else if let Some(task) = self.fairness_turn() {
                return Turn::Taken(task);
            }
        }
        // Due timers, by the clock: a pick can cost tens of microseconds (a loopback write runs
        // the receiver's side too), so 61 of them can be milliseconds, far too late for a
        // sleeper. One relaxed look at a cell, and a clock read only while a timer is armed.
        if tick.is_multiple_of(TIMER_CHECK_TICK) {
            if let Some(due) = self.timer_due.get() {
                if LOOK_ONLY {
                    return Turn::Due;
                }
                if Instant::now() >= due {
                    self.fire_timers();
                }
            }
        }
        if !tick.is_multiple_of(NEXT_FAIRNESS_TICK) {
            if LOOK_ONLY {
                if !remote.next.is_empty() {
                    return Turn::Due;
                }
            } else if let Some(task) = remote.next.take() {
                return Turn::Taken(task);
            }
        }
        if tick.is_multiple_of(BALANCE_TICK) {
            if LOOK_ONLY {
                // `balance` takes only new green threads: none waiting elsewhere, nothing to
                // take (the usual case, and always on one worker).
                if self.shared.workers.iter().any(|w| !w.fresh.is_empty()) {
                    return Turn::Due;
                }
            } else if let Some(task) = self.balance() {
                return Turn::Taken(task);
            }
        }
        // Woken and new green threads take turns, so that neither a thread that keeps yielding
        // nor a burst of spawns can hold the other back; but new ones are left to a less
        // loaded worker (see `may_start_fresh`).
        if tick.is_multiple_of(2) && !remote.fresh.is_empty() {
            if LOOK_ONLY {
                return Turn::Due;
            }
            if self.may_start_fresh() {
                if let Some(task) = remote.fresh.pop() {
                    return Turn::Taken(task);
                }
            }
        }
        Turn::None
    }

    /// The fairness tick's own work (every [`FAIRNESS_TICK`]th pick): readiness and due timers
    /// are picked up even when this worker never runs dry (a green thread that keeps yielding
    /// must not hold back every sleeper behind it), idle stacks are given back, a dump is
    /// answered, and the inbox and the injector get a turn before the ready queue.
    fn fairness_turn(&self) -> Option<TaskRef> {
        if self.remote().dump_pending.load(Ordering::Relaxed) {
            self.answer_dump();
        }
        let now = Instant::now();
        if self.busy_poll_due(now) {
            self.poll_io(Wait::No);
        }
        if self.busy_trim_due(now) {
            self.pool.borrow_mut().release_aged();
            self.last_trim.set(now);
        }
        self.fire_timers();
        self.take_posted().or_else(|| self.take_injected())
    }

    /// Whether a busy worker polls its reactor at this fairness tick: the poll is a system
    /// call, at most one per [`BUSY_POLL_INTERVAL`].
    #[inline]
    fn busy_poll_due(&self, now: Instant) -> bool {
        now.duration_since(self.last_poll.get()) >= BUSY_POLL_INTERVAL
    }

    /// Whether a busy worker gives back its aged idle stacks at this fairness tick.
    #[inline]
    fn busy_trim_due(&self, now: Instant) -> bool {
        now.duration_since(self.last_trim.get()) >= BUSY_TRIM_INTERVAL
    }

    /// Whether [`fairness_turn`](Self::fairness_turn) (or the run loop's shutdown check, or a
    /// dump) has anything to do at this tick: otherwise the pick is the ready queue's first, and
    /// a suspending green thread may hand over to it directly. Most fairness ticks of a busy
    /// worker find nothing: two green threads talking over a channel reach one every ~4 us,
    /// and the poll is due every 100 us. (Going through the run loop for nothing cost B4 ~130
    /// instructions per round trip, 9%: callgrind.)
    #[inline(never)]
    fn fairness_work_due(&self) -> bool {
        let remote = self.remote();
        if remote.dump_pending.load(Ordering::Relaxed)
            || self.timer_due.get().is_some()
            || !remote.inbox.is_empty()
            || !self.shared.injector.is_empty()
            || self.shared.shutdown.load(Ordering::Relaxed)
        {
            return true;
        }
        let now = Instant::now();
        self.busy_poll_due(now) || self.busy_trim_due(now)
    }

    /// Whether this worker may start one of its own new green threads now. Where a green
    /// thread starts, it stays: a burst of spawns followed by a park (a server accepting a
    /// batch of connections, `spawn` in a loop and then `join`) would otherwise start every new
    /// thread on the spawner's worker before another worker has even woken up to steal one
    /// (measured: 64 green threads that never park, spawned by one, all on one worker of two).
    /// So while this worker has other work to run (the caller's case) and holds more than one
    /// green thread more than some other worker, it leaves its new ones in `fresh` for that
    /// worker, which was notified at the spawn and takes half when it comes (`steal`,
    /// `balance`); but for [`FRESH_PATIENCE`] at most, in case that worker is held.
    fn may_start_fresh(&self) -> bool {
        let workers = &self.shared.workers;
        if workers.len() == 1 || self.remote().fresh.len() >= FRESH_KEPT_AT_MOST {
            // A spawn storm: the other workers are not keeping up; start them here rather than
            // overflow into the injector.
            self.fresh_left_since.set(None);
            return true;
        }
        let mine = self.remote().owned.0.load(Ordering::Relaxed);
        let least = workers
            .iter()
            .map(|w| w.owned.0.load(Ordering::Relaxed))
            .min()
            .unwrap_or(mine);
        if mine <= least + 1 {
            self.fresh_left_since.set(None);
            return true;
        }
        let now = Instant::now();
        match self.fresh_left_since.get() {
            None => {
                self.fresh_left_since.set(Some(now));
                false
            }
            Some(since) if now.duration_since(since) >= FRESH_PATIENCE => {
                // Start one; the next look waits again.
                self.fresh_left_since.set(None);
                true
            }
            Some(_) => false,
        }
    }

    /// A busy worker's share of new green threads: takes half the difference from a worker
    /// that holds more green threads (started ones and new ones) than this one and has new ones
    /// waiting. (An idle worker steals anyway, in `search`.) Counts are a snapshot: a move made
    /// on an old one is a placement a little less even, never a problem of soundness, since
    /// only threads that have not started move.
    fn balance(&self) -> Option<TaskRef> {
        let load = |w: &super::Remote| w.owned.0.load(Ordering::Relaxed) + w.fresh.len() as u64;
        let mine = load(self.remote());
        let n = self.shared.workers.len();
        (1..n).map(|k| (self.index + k) % n).find_map(|victim| {
            let victim = &self.shared.workers[victim];
            let theirs = load(victim);
            if theirs <= mine + 1 {
                return None;
            }
            let task = victim.fresh.pop()?;
            let mut taken = 1;
            while taken < (theirs - mine) / 2 {
                let Some(more) = victim.fresh.pop() else {
                    break;
                };
                if let Err(more) = self.remote().fresh.push(more) {
                    self.ready.borrow_mut().push_back(more);
                }
                taken += 1;
            }
            WorkerMetrics::add(&self.remote().metrics.steals, taken);
            Some(task)
        })
    }

    /// Looks for work for a short while before sleeping (see `Idle`): a spawn or a wake that
    /// arrives meanwhile costs its publisher nothing and this worker no trip through the
    /// kernel.
    fn search(&self) -> Option<TaskRef> {
        self.shared.idle.start_searching();
        let mut found = None;
        for round in 0..SEARCH_ROUNDS {
            found = self
                .take_posted()
                .or_else(|| self.remote().fresh.pop())
                .or_else(|| self.take_injected())
                .or_else(|| {
                    self.steal(if round < PATIENT_ROUNDS {
                        STEAL_BATCH
                    } else {
                        1
                    })
                })
                .or_else(|| self.steal_next());
            if found.is_some() || self.shared.shutdown.load(Ordering::Relaxed) {
                break;
            }
            if round % 16 == 15 {
                // With a timer armed, the search ends here instead: a yield on a busy machine
                // can cost a whole time slice of the kernel's, milliseconds late for the
                // sleeper, where the worker's sleep gives the core away just the same but
                // wakes at the deadline.
                if self.timer_due.get().is_some() {
                    break;
                }
                std::thread::yield_now();
            } else {
                for _ in 0..SEARCH_SPINS {
                    std::hint::spin_loop();
                }
            }
        }
        let last = self.shared.idle.stop_searching();
        if found.is_some() && last && self.shared.has_shared_work(self.index) {
            // More was published while we searched and nobody was woken for it.
            self.shared.notify_one();
        }
        found
    }

    /// Takes a green thread that has not started from another worker.
    /// Takes half of the victim's queue at once (as Go's scheduler does), so that a worker
    /// spawning in a loop and the worker running what it spawns do not meet on the same queue
    /// for every green thread.
    fn steal(&self, at_least: usize) -> Option<TaskRef> {
        let n = self.shared.workers.len();
        (1..n).map(|k| (self.index + k) % n).find_map(|victim| {
            let queue = &self.shared.workers[victim].fresh;
            if queue.len() < at_least {
                return None;
            }
            let task = queue.pop()?;
            let mut stolen = 1;
            for _ in 0..queue.len() / 2 {
                let Some(more) = queue.pop() else { break };
                if let Err(more) = self.remote().fresh.push(more) {
                    self.ready.borrow_mut().push_back(more);
                }
                stolen += 1;
            }
            WorkerMetrics::add(&self.remote().metrics.steals, stolen);
            Some(task)
        })
    }

    /// Takes the green thread waiting in another worker's `next` slot, once the same one has
    /// been seen there for [`NEXT_GRACE`] (its spawner kept running instead of parking). The
    /// clock is read only while some slot is occupied.
    fn steal_next(&self) -> Option<TaskRef> {
        let n = self.shared.workers.len();
        let (victim, seen) = (1..n).map(|k| (self.index + k) % n).find_map(|victim| {
            let seen = self.shared.workers[victim].next.peek();
            (!seen.is_null()).then_some((victim, seen))
        })?;
        let now = Instant::now();
        match self.next_candidate.get() {
            Some((v, p, since)) if v == victim && p == seen => {
                if now.duration_since(since) < NEXT_GRACE {
                    return None;
                }
                self.next_candidate.set(None);
                let task = self.shared.workers[victim].next.steal(seen)?;
                WorkerMetrics::add(&self.remote().metrics.steals, 1);
                Some(task)
            }
            _ => {
                self.next_candidate.set(Some((victim, seen, now)));
                None
            }
        }
    }

    /// Runs `task` until it suspends or finishes.
    fn run_task(&self, task: TaskRef) {
        // SAFETY: the task is not running (it came out of a queue, where only suspended or
        // unstarted tasks go), and this worker is its owner or about to become it.
        // (Through a raw pointer: the reference must not borrow `task`, which moves into
        // `resumed` below; the task lives as long as either holds it.)
        let this = unsafe { &*TaskRef::as_ptr(&task) };
        // SAFETY: as above.
        let body = unsafe { this.body() };
        if matches!(body, Body::New { .. }) {
            if self.shared.shutdown.load(Ordering::Acquire) {
                // Never started, and never will: shutdown cancels it.
                abandon(task);
                return;
            }
            if !self.start(&task, body) {
                return;
            }
        }
        let Body::Running { context, .. } = body else {
            // A stale wake of a finished green thread (its timer or a late unpark).
            return;
        };
        // SAFETY: as above.
        self.before_resume(&task, &mut unsafe { this.sched() }.parked);
        let remote = self.remote();
        // The green thread keeps the `&TaskRef` that `context::current` gives it across its
        // suspensions, and a later `run_task` (maybe from another caller, at another stack
        // depth) resumes it: the `TaskRef` must sit at the same address every time, so it moves
        // into the worker for the resume, not a slot of this frame.
        let slot = self.resumed.get();
        // SAFETY: only `run_task` touches `resumed`, never re-entered (the worker does not run
        // while a green thread does), and leaves it `None`: nothing to drop.
        unsafe { slot.write(Some(task)) };
        // SAFETY: just written; it stays there until the `take` below.
        self.current
            .set(unsafe { (*slot).as_ref().unwrap_unchecked() });
        #[cfg(not(zsync_hand_over))]
        let resumed = context.resume();
        // The thread may hand its turn to another of this worker's (`hand_over`), which may
        // hand it on: what comes back is whichever ran last, the one in the slot then.
        #[cfg(zsync_hand_over)]
        // SAFETY: `context` may be resumed (checked as it came out of a queue); the reference
        // is not used across the call, and the worker settles what comes back on the context
        // that came back.
        let returned = unsafe { Context::resume_raw(context) };
        self.current.set(std::ptr::null());
        // SAFETY: as above; the green thread is suspended or finished, nobody reads the slot.
        let task = unsafe { (*slot).take().unwrap_unchecked() };
        #[cfg(zsync_hand_over)]
        let (resumed, body) = {
            // SAFETY: the green thread that came back is suspended or finished, on this worker.
            let body = unsafe { (*TaskRef::as_ptr(&task)).body() };
            let Body::Running { context, .. } = body else {
                unreachable!("only a running green thread comes back from a resume")
            };
            (context.settle(returned), body)
        };
        remote.watch.leave();
        // Only a running green thread can end an unwind, so this is the place to look.
        if !self.deferred.borrow().is_empty() && !std::thread::panicking() {
            self.wake_deferred();
        }
        match resumed {
            Resumed::Suspended => self.after_suspend(task),
            Resumed::Finished(_) => {
                // Destroyed: the closure completed its join packet itself (and caught every
                // panic); the stack goes back to the pool, and `live` (dropped with the body)
                // uncounts the thread.
                // A monitor reading this green thread's name finishes first (see `monitor`).
                self.remote().watch.quiesce();
                if let Body::Running { context, live } = std::mem::replace(body, Body::Done) {
                    if let Some(stack) = context.into_stack() {
                        self.pool.borrow_mut().put(stack);
                    }
                    live.leave_on(self.index);
                }
                // SAFETY: finished, on this worker, which alone touches it now.
                self.owned
                    .borrow_mut()
                    .remove(unsafe { task.sched() }.owned_slot);
                WorkerMetrics::add(&self.remote().owned.0, u64::MAX); // minus one
            }
        }
    }

    /// The worker's part before a green thread runs: out of the parked gauge, one switch more,
    /// published to the monitor.
    #[inline(always)]
    fn before_resume(&self, task: &TaskRef, parked: &mut bool) {
        let remote = self.remote();
        if std::mem::take(parked) {
            WorkerMetrics::add(&remote.metrics.parked, u64::MAX); // minus one
        }
        WorkerMetrics::add(&remote.metrics.switches, 1);
        remote.watch.enter(task);
    }

    /// The worker's part once a green thread has suspended: a yield goes to the back of the
    /// ready queue; a park is committed (`task`, the queue's reference, becomes the park's:
    /// `owned` and wakers hold the others), or requeued if a wake came first.
    #[inline(always)]
    fn after_suspend(&self, task: TaskRef) {
        // SAFETY: suspended (not finished), on this worker, which alone touches it now.
        let sched = unsafe { task.sched() };
        match sched.reason {
            Reason::Yield => self.ready.borrow_mut().push_back(task),
            Reason::Park => {
                if task.park.commit_park() {
                    sched.parked = true;
                    // SAFETY: as above: its closure has not returned.
                    unsafe { task.local() }.parked_at = self.shared.clock.load(Ordering::Relaxed);
                    let metrics = &self.remote().metrics;
                    WorkerMetrics::add(&metrics.parked, 1);
                    WorkerMetrics::add(&metrics.parks, 1);
                    // The park keeps this reference (the thread stays alive in no queue); the
                    // waker that moves it out of `PARKED` takes it over (`TaskRef::wake_here`), so
                    // neither the park nor the wake changes the count.
                    std::mem::forget(task);
                } else {
                    self.ready.borrow_mut().push_back(task);
                }
            }
        }
    }

    /// The question both shortcuts of a suspending green thread (`yield_in_place`,
    /// `hand_over`) ask first: will the worker's next pick be the ready queue's first, with
    /// nothing else to do before it? Yes while the run loop picks (not during shutdown), no
    /// deferred wake waits and no turn of `take_turns` is due on the next tick; then that tick.
    #[inline(always)]
    fn plain_pick(&self) -> Option<u32> {
        if !self.picks_in_loop.get() || !self.deferred.borrow().is_empty() {
            return None;
        }
        let tick = self.tick.get().wrapping_add(1);
        matches!(self.take_turns::<true>(tick), Turn::None).then_some(tick)
    }

    /// Whether the running green thread is all this worker has to do: no other green thread
    /// started on it (`owned` counts the caller), none waiting to start (`next`, `fresh`),
    /// ready or woken (`ready`, `inbox`, deferred wakes). Then a call that holds this OS thread
    /// for a moment holds up none of the worker's green threads; only new ones placed on it
    /// meanwhile wait (unless another worker takes them). `zsync::fs` writes a regular file
    /// itself then, as std does, instead of a round trip through the blocking pool
    /// (`fs::op::write_waiting`).
    #[inline]
    pub(crate) fn runs_nothing_else(&self) -> bool {
        let remote = self.remote();
        remote.owned.load(Ordering::Relaxed) == 1
            && self.ready.borrow().is_empty()
            && remote.next.is_empty()
            && remote.fresh.is_empty()
            && remote.inbox.is_empty()
            && self.deferred.borrow().is_empty()
    }

    /// A yield that the worker would answer with the yielder itself: nothing in the ready
    /// queue and no other turn due (`take_turns`), so `next_task` would take the yielder
    /// straight back out of the ready queue it was put in. The yielding green thread does the
    /// worker's part of that round trip where it is (one tick, one switch counted for the
    /// monitor, its watch left and entered again) and goes on: no switch at all. Every tick on
    /// which the loop has more to do (fairness: I/O poll, dump, inbox, injector, shutdown;
    /// armed timers; balance; new threads in `next` or `fresh`) and any deferred wake still
    /// go through the worker. What `sched_yield` does on an idle CPU.
    ///
    /// Returns true if the caller has had its turn and goes on.
    #[inline(always)]
    pub(crate) fn yield_in_place(&self, task: &TaskRef) -> bool {
        if !self.ready.borrow().is_empty() {
            return false;
        }
        let Some(tick) = self.plain_pick() else {
            return false;
        };
        self.tick.set(tick);
        let remote = self.remote();
        // `run_task`'s part after the resume and before the next, for the same thread.
        remote.watch.leave();
        WorkerMetrics::add(&remote.metrics.switches, 1);
        remote.watch.enter(task);
        true
    }

    /// The suspending green thread's shortcut to its successor: when the next green thread this
    /// worker would pick is a suspended one from its ready queue, the suspending thread does the
    /// worker's part itself, on its own stack (queue itself for a yield, commit its park, as
    /// `run_task` does after a resume; then what `run_task` does before one, for the
    /// successor), and enters the successor directly (`Suspender::hand_over`): one switch
    /// instead of two, and no trip through the run loop. Every other pick goes through the
    /// worker as before, so nothing the loop does is skipped: fairness ticks (I/O polls, dumps,
    /// the inbox and injector, balance), clock checks of armed timers, spawned threads waiting
    /// in `next` or `fresh`, a successor that is new, finished or the caller itself, deferred
    /// wakes, shutdown. Then this returns false and the caller suspends.
    ///
    /// Why the park may be committed before the switch: only this worker resumes its green
    /// threads, and it is busy until the switch is done, so no wake can resume the thread
    /// before it is suspended: a wake on this OS thread comes after the switch, and one from
    /// another OS thread is posted to this worker's inbox, which only this worker takes out.
    ///
    /// Returns true once the calling green thread has been continued.
    #[cfg(zsync_hand_over)]
    #[inline(always)]
    pub(crate) fn hand_over(&self) -> bool {
        // Nothing else ready (a lone yielder, the usual park of a server): one look, inline,
        // without the cost of entering the rest (which saves every callee-saved register).
        !self.ready.borrow().is_empty() && self.hand_over_to_next()
    }

    /// Takes the ready queue's first green thread, and asks the CPU for what the ones queued
    /// behind it touch first (`prefetch_queued`): every take from `ready` of a green thread
    /// about to run goes through here.
    #[inline(always)]
    fn pop_ready(&self) -> Option<TaskRef> {
        let task = self.ready.borrow_mut().pop_front();
        if task.is_some() {
            self.prefetch_queued();
        }
        task
    }

    /// While the green thread just taken from the ready queue runs, asks the CPU for what the
    /// two queued behind it touch first: the stack top of the next one (whose task the previous
    /// call asked for, so that reading its stack pointer is cheap now) and the task of the one
    /// after. A worker that wakes many green threads at once (a reactor poll that found many
    /// sockets ready) runs each after the others have evicted it from the cache; without this,
    /// each switch waited on a cache miss for the task, then one for the stack.
    #[inline(always)]
    fn prefetch_queued(&self) {
        let ready = self.ready.borrow();
        if let Some(first) = ready.front() {
            // SAFETY: a queued green thread is not running, and this worker owns it (see
            // `hand_over_to_next`): reading its body here races with nothing. (Or it is the
            // caller of a hand-over, queued by a wake while it ran: then this reads its own
            // body on its own OS thread, as the hand-over does next, with no other reference
            // to it alive: the worker resumed it through a raw pointer, `resume_raw`.)
            if let Body::Running { context, .. } = unsafe { (*TaskRef::as_ptr(first)).body() } {
                context.prefetch_stack();
            }
        }
        if let Some(second) = ready.get(1) {
            TaskRef::prefetch(second);
        }
    }

    /// [`hand_over`](Self::hand_over) once something is ready.
    #[cfg(zsync_hand_over)]
    #[inline(never)]
    fn hand_over_to_next(&self) -> bool {
        let Some(tick) = self.plain_pick() else {
            return false;
        };
        let remote = self.remote();
        let slot = self.resumed.get();
        let next_context: *mut Context = {
            let ready = self.ready.borrow();
            let Some(next) = ready.front() else {
                return false;
            };
            // SAFETY: the slot holds the caller, running (see `run_task`).
            if TaskRef::ptr_eq(next, unsafe { (*slot).as_ref().unwrap_unchecked() }) {
                return false; // a wake that queued the caller while it ran
            }
            // SAFETY: a queued green thread is not running, and this worker owns it (only
            // owned ones are in its ready queue); nothing else holds its local state now.
            match unsafe { (*TaskRef::as_ptr(next)).body() } {
                Body::Running { context, .. } if context.is_suspended() => context,
                _ => return false, // new (to be started) or finished (a stale wake)
            }
        };
        self.tick.set(tick);
        let next = self.pop_ready();
        // SAFETY: checked above: the queue's first entry.
        let next = unsafe { next.unwrap_unchecked() };
        // The caller's side of `run_task`, after a resume.
        // SAFETY: the slot holds the caller (see `run_task`); taking it out is the worker's
        // part, done here; the caller reads it again only once continued, when it holds the
        // caller again.
        let me = unsafe { (*slot).take().unwrap_unchecked() };
        // SAFETY: we are this green thread, running on this worker.
        let me_task = unsafe { &*TaskRef::as_ptr(&me) };
        // SAFETY: as above.
        let suspender = unsafe { me_task.local() }.suspender;
        // SAFETY: as above.
        let Body::Running { context, .. } = (unsafe { me_task.body() }) else {
            unreachable!("a running green thread has a context")
        };
        let me_context: *mut Context = context;
        self.after_suspend(me); // `suspend` stored the reason
        remote.watch.leave();
        // The successor's side of `run_task`, before a resume.
        // SAFETY: queued, so not running; owned by this worker.
        self.before_resume(&next, unsafe {
            &mut (*TaskRef::as_ptr(&next)).sched().parked
        });
        // SAFETY: emptied above; `current` already points at the slot.
        unsafe { slot.write(Some(next)) };
        // SAFETY: `suspender` is the caller's (set at its first resume, on its stack);
        // `me_context` is the caller's running context and `next_context` the successor's,
        // suspended; both live in their tasks' allocations, which their `owned` entries keep
        // alive, and nothing borrows them across the switch. The worker resumes with
        // `resume_raw` and settles on the task in the slot (`run_task`).
        unsafe { (*suspender).hand_over(me_context, next_context) };
        true
    }

    /// Wakes the green threads whose cancellation or timeout waited for this OS thread to stop
    /// unwinding; their next park point raises it.
    #[cold]
    fn wake_deferred(&self) {
        let deferred = std::mem::take(&mut *self.deferred.borrow_mut());
        for task in deferred {
            // SAFETY: no green thread runs while the worker is here; `task` is suspended or
            // finished, and its worker (this one) may touch its local state.
            // A finished one has nothing left to raise.
            if let Some(local) = unsafe { task.try_local() } {
                local.park_point.deferred = false;
            }
            task.unpark();
        }
    }

    /// Turns a new green thread into a context owned by this worker, for good: the token that
    /// starts its closure moves onto its stack (see [`entry`]).
    /// Returns false if no stack could be mapped: the thread then failed without running (its
    /// joiner gets the error) and is gone.
    fn start(&self, task: &TaskRef, body: &mut Body) -> bool {
        let Body::New { stack, f, live } = std::mem::replace(body, Body::Done) else {
            unreachable!("start is called on new green threads only")
        };
        let stack = match stack {
            Some(stack) => Ok(*stack),
            None => self.pool.borrow_mut().get(),
        };
        let stack = match stack {
            Ok(stack) => {
                // Looked at first: a store on every start would pull the runtime's shared
                // cache line from the other workers, which read it on every spawn.
                if self.shared.stack_exhausted.load(Ordering::Relaxed) {
                    self.shared.stack_exhausted.store(false, Ordering::Relaxed);
                }
                stack
            }
            Err(err) => {
                // Spawns check this and map eagerly, so that they report the error themselves.
                self.shared.stack_exhausted.store(true, Ordering::Relaxed);
                f.start(Start::Fail(err));
                return false; // `live` goes here
            }
        };
        // The index fits: the builder allows at most `MAX_WORKER_THREADS` workers.
        task.owner.store(self.index as u32, Ordering::Relaxed);
        // From here on only this OS thread changes its park word; remote wakes come as posts
        // to the inbox (see `park_state`). The claim publishes the index above.
        task.park.claim();
        let task_ptr = TaskRef::as_ptr(task);
        let mut context = Context::new(stack, move |s| entry(task_ptr, s, f));
        if let Some(name) = &task.name {
            context.set_name(name.clone());
        }
        *body = Body::Running { context, live };
        // SAFETY: not running (about to start), on this worker, which alone touches it now.
        unsafe { task.sched() }.owned_slot = self.owned.borrow_mut().insert(task.clone());
        WorkerMetrics::add(&self.remote().owned.0, 1);
        true
    }

    /// Queues a green thread this worker owns, woken on this OS thread, behind the ready ones.
    #[inline]
    pub(crate) fn push_ready(&self, task: TaskRef) {
        self.ready.borrow_mut().push_back(task);
    }

    /// Applies the wakes other OS threads posted to this worker's inbox (see `park_state`), in
    /// order, until one wakes a parked green thread, which it returns for running. A post for a
    /// thread that has not parked since leaves it a token; one whose wake the thread took as a
    /// token before parking, or one for a finished thread, nothing.
    fn take_posted(&self) -> Option<TaskRef> {
        while let Some(post) = self.remote().inbox.pop() {
            // The post's own reference goes with `post`; a parked thread's comes from its park.
            if post.park.take_post() {
                if let Some(task) = post.wake_here() {
                    return Some(task);
                }
            }
        }
        None
    }

    /// Fires due timers; true if any fired.
    fn fire_timers(&self) -> bool {
        if self.timers.borrow().is_empty() {
            // Its last timers were cancelled: stop the busy worker's clock checks.
            self.timer_due.set(None);
            return false;
        }
        // The buffer is kept between calls: growing a fresh one to thousands of entries at each
        // turn cost more in malloc (its large requests consolidate the heap) than the wheel.
        let mut due = std::mem::take(&mut *self.due.borrow_mut());
        self.timers
            .borrow_mut()
            .advance(Instant::now(), |task| due.push(task));
        let fired = !due.is_empty();
        self.timer_due.set(self.timers.borrow().next_deadline());
        // Ahead of the runnable green threads (see the module docs), in deadline order. Every
        // timer in this wheel belongs to a green thread this worker owns (a green thread arms
        // its timers on its own worker), so the wake needs no `schedule`.
        let mut ready = self.ready.borrow_mut();
        for task in due.drain(..).rev() {
            // The park's reference goes to the queue; the timer's own goes here.
            if let Some(task) = task.wake_here() {
                ready.push_front(task);
            }
        }
        drop(ready);
        *self.due.borrow_mut() = due;
        fired
    }

    /// Answers a `Runtime::dump` (see `dump`).
    #[cold]
    fn answer_dump(&self) {
        let remote = self.remote();
        let mut slot = remote.dump.lock().unwrap_or_else(|e| e.into_inner());
        remote.dump_pending.store(false, Ordering::Relaxed);
        if let Some(job) = slot.take() {
            let unstarted = self
                .ready
                .borrow()
                .iter()
                // SAFETY: a queued green thread is not running, and this worker, outside any
                // green thread here, is the only one that touches it.
                .filter(|task| matches!(unsafe { task.body() }, Body::New { .. }))
                .count();
            super::dump::answer(
                &job,
                &self.shared,
                self.index,
                self.owned.borrow().snapshot(),
                unstarted,
            );
        }
    }

    /// Sleeps until there is work or the next timer is due.
    fn sleep(&self) {
        if self.remote().dump_pending.load(Ordering::Relaxed) {
            self.answer_dump();
        }
        self.shared.idle.register(self.index);
        if !self.ready.borrow().is_empty()
            || self.shared.has_shared_work(self.index)
            || self.shared.shutdown.load(Ordering::Acquire)
        {
            self.shared.idle.unregister(self.index);
            self.shared.worker_awake();
            return;
        }
        let next_deadline = self.timers.borrow().next_deadline();
        // For the monitor's deadlock report.
        self.remote()
            .watch
            .timers
            .store(next_deadline.is_some(), Ordering::Relaxed);
        let now = Instant::now();
        let resumes = self.remote().metrics.switches.load(Ordering::Relaxed);
        if self.idle_since.get().0 != resumes {
            self.idle_since.set((resumes, now));
        }
        let idle_for = now.duration_since(self.idle_since.get().1);
        // Until the sleep's end (to the timer's precision), unless it ends sooner to trim
        // (whenever, to the millisecond: no alarm is armed for it).
        let mut until = next_deadline;
        let mut to_trim = false;
        if next_deadline.is_none_or(|d| d.saturating_duration_since(now) >= TRIM_INTERVAL) {
            if self.trimmed_at.get() != Some(resumes) {
                if idle_for >= TRIM_INTERVAL {
                    self.pool.borrow_mut().trim();
                    self.last_trim.set(now);
                    self.trimmed_at.set(Some(resumes));
                } else {
                    until = Some(now + (TRIM_INTERVAL - idle_for));
                    to_trim = true;
                }
            }
        } else if now.duration_since(self.last_trim.get()) >= TRIM_INTERVAL {
            // A nap between near timers: release only the stacks idle since the last trim.
            self.pool.borrow_mut().trim_aged();
            self.last_trim.set(now);
        }
        let wait = match until {
            Some(at) if to_trim => Wait::Roughly(at),
            _ => Wait::Until(until),
        };
        if !self.poll_io(wait) {
            // Measured after the trim, which can take a while.
            match until.map(|deadline| deadline.saturating_duration_since(Instant::now())) {
                Some(timeout) if timeout.is_zero() => {}
                Some(timeout) => std::thread::park_timeout(timeout),
                None => std::thread::park(),
            }
        }
        self.shared.idle.unregister(self.index);
        self.shared.worker_awake();
        // Back from a sleep (a syscall): the coarse clock may be behind, as the monitor may
        // have slept too.
        self.shared.clock_now();
    }

    /// Waits in this worker's reactor as `wait` says (`Wait::Until(None)`: until woken) and
    /// wakes the green threads whose sources became ready. False if there is no reactor.
    fn poll_io(&self, wait: Wait) -> bool {
        let Some(reactor) = &self.remote().reactor else {
            return false;
        };
        WorkerMetrics::add(&self.remote().metrics.polls, 1);
        self.last_poll.set(Instant::now());
        // Submit the queued file operations before blocking (what completes at once is woken
        // now, and the check below then sees it).
        self.uring.turn();
        let Some(mut driver) = reactor.try_drive() else {
            return false;
        };
        let blocking = wait != Wait::No;
        let wait = if blocking {
            // Announce ourselves before the last look at the queues (see `unpark_worker`).
            reactor.holder.announce(self.index);
            if !self.ready.borrow().is_empty()
                || self.shared.has_shared_work(self.index)
                || self.shared.shutdown.load(Ordering::SeqCst)
                || self.uring.has_completions()
            {
                Wait::No
            } else {
                wait
            }
        } else {
            wait
        };
        reactor.turn(&mut driver, wait);
        if blocking {
            reactor.holder.release();
        }
        self.uring.turn(); // wake the green threads whose file operations completed
        true
    }

    /// At shutdown: cancel every green thread this worker owns and run them until they have all
    /// unwound; drop the ones that never started.
    fn shut_down(&self) {
        // Every stack that comes back from here on is unmapped when the worker goes.
        let live = self.owned.borrow().len();
        self.pool.borrow_mut().retire(live);
        let mut batch = Vec::with_capacity(SHUTDOWN_BATCH);
        while !self.owned.borrow().is_empty() {
            // A batch at a time, each run until it has unwound (or waits) before the next is
            // cancelled: its tasks are still in the cache when they run. (Cancelling a million
            // parked green threads first and running them after touched every task three times
            // from memory, and queued them all.)
            let mut from = 0;
            loop {
                self.owned
                    .borrow()
                    .batch_from(&mut from, SHUTDOWN_BATCH, &mut batch);
                if batch.is_empty() {
                    break;
                }
                for task in batch.drain(..) {
                    task.request_cancel();
                }
                // Run what the cancellations woke, plus wakes from other threads: each a
                // parked green thread whose stack has long left the cache (prefetched as for
                // any queue of them, see `pop_ready`).
                while let Some(task) = self.pop_ready().or_else(|| self.take_posted()) {
                    self.run_task(task);
                }
            }
            self.fire_timers();
            if !self.owned.borrow().is_empty()
                && self.ready.borrow().is_empty()
                && self.remote().inbox.is_empty()
            {
                // Someone is shielded, waits on another worker's thread, or its destructors
                // wait on I/O: give it a moment, with the reactor running.
                if !self.poll_io(Wait::Roughly(Instant::now() + Duration::from_millis(1))) {
                    std::thread::park_timeout(Duration::from_millis(1));
                }
            }
        }
        // New green threads left in `ready` (a share taken from the injector, or a stolen
        // batch that did not fit `fresh`) never start: `run_task` abandons them (and passes over
        // stale wakes of finished ones). Their joiners see them cancelled.
        loop {
            let Some(task) = self.ready.borrow_mut().pop_front() else {
                break;
            };
            self.run_task(task);
        }
        while let Some(task) = self
            .remote()
            .fresh
            .pop()
            .or_else(|| self.remote().next.take())
        {
            abandon(task);
        }
    }
}

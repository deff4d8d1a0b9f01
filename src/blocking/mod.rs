//! The blocking pool: OS threads for work that would otherwise block a worker (CPU-heavy code,
//! unported blocking calls, host-name resolution).
//!
//! One process-wide pool. It grows by one thread whenever a job arrives and no thread is idle, up
//! to a bound (`ZSYNC_BLOCKING_THREADS`, default 512), and a thread that stays idle for 10 s
//! exits. Beyond the bound, jobs queue. The caller of [`unblock`] parks until its job is done
//! (or it is cancelled); the caller of [`unblock_scoped`] until its job is done, whatever comes.
//! Either wait counts as one outside the runtime, so the monitor's deadlock report does not
//! take a green thread waiting for the pool for a stuck one.

use crate::runtime::task::join::{JoinPacket, Joiner, Packet};
use crate::runtime::{self, park, PerProcess};
use std::collections::VecDeque;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

type Job = Box<dyn FnOnce() + Send>;

const KEEP_ALIVE: Duration = Duration::from_secs(10);

struct Pool {
    state: Mutex<State>,
    work: Condvar,
    max_threads: usize,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
}

fn pool() -> &'static Pool {
    // A forked child gets a pool of its own: the parent's threads do not exist there.
    static POOL: PerProcess<Pool> = PerProcess::new();
    POOL.get_or_init(|| Pool {
        state: Mutex::new(State::default()),
        work: Condvar::new(),
        max_threads: std::env::var("ZSYNC_BLOCKING_THREADS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&n| n > 0)
            .unwrap_or(512),
    })
}

impl Pool {
    fn submit(&'static self, job: Job) {
        let mut state = self.state.lock().unwrap();
        state.queue.push_back(job);
        if state.idle > 0 {
            drop(state);
            self.work.notify_one();
            return;
        }
        if state.threads < self.max_threads {
            state.threads += 1;
            drop(state);
            let spawned = std::thread::Builder::new()
                .name("zsync-blocking".into())
                .spawn(move || self.run());
            if spawned.is_err() {
                // The OS refused a thread: the queued job waits for one that exists; if there
                // is none, run it right here rather than lose it.
                let mut state = self.state.lock().unwrap();
                state.threads -= 1;
                if state.threads == 0 {
                    let job = state.queue.pop_back();
                    drop(state);
                    if let Some(job) = job {
                        job();
                    }
                }
            }
        }
    }

    fn run(&self) {
        let mut state = self.state.lock().unwrap();
        loop {
            if let Some(job) = state.queue.pop_front() {
                drop(state);
                job(); // jobs catch their own panics
                state = self.state.lock().unwrap();
                continue;
            }
            state.idle += 1;
            let (next, timeout) = self.work.wait_timeout(state, KEEP_ALIVE).unwrap();
            state = next;
            state.idle -= 1;
            if timeout.timed_out() && state.queue.is_empty() {
                state.threads -= 1;
                return;
            }
        }
    }
}

/// Runs `f` on the blocking pool and parks the calling green thread until it returns; a panic in
/// `f` is resumed in the caller. On a plain OS thread `f` simply runs on the caller's thread.
///
/// Use it for CPU-heavy work and for blocking calls zsync has no green version of, so that the
/// worker keeps running other green threads meanwhile.
///
/// ```
/// let sum = zsync::run(|| zsync::unblock(|| (1..=1000u64).sum::<u64>()));
/// assert_eq!(sum, 500500);
/// ```
///
/// If the green thread is cancelled while it waits, it unwinds at once; `f` still runs to its
/// end on the pool and its result is dropped.
pub fn unblock<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let runtime::context::Current::Green { worker, .. } = runtime::context::current() else {
        return f();
    };
    // The job's result goes through a join packet, as a green thread's does.
    let packet: Arc<JoinPacket<T>> = Arc::new(Packet::new());
    let done = packet.clone();
    pool().submit(Box::new(move || {
        done.complete(catch_unwind(AssertUnwindSafe(f)));
    }));
    // Counted as a wait outside the runtime (see the monitor's deadlock report).
    let _external = worker.remote().watch.external_wait();
    packet
        .wait(Joiner::Thread(runtime::current()), || {
            park::park_for(park::WaitReason::Unblock);
        })
        .unwrap_or_else(|payload| resume_unwind(payload))
}

/// Like [`unblock`], but `f` may borrow from the caller: runs `f` on the blocking pool and parks
/// the calling green thread until it returns; a panic in `f` is resumed in the caller. On a
/// plain OS thread `f` simply runs on the caller's thread.
///
/// ```
/// zsync::run(|| {
///     let mut lines = vec![String::from("a")];
///     let n = zsync::unblock_scoped(|| {
///         lines.push(String::from("b")); // borrows `lines` mutably: no move, no 'static
///         lines.len()
///     });
///     assert_eq!((n, lines.len()), (2, 2));
/// });
/// ```
///
/// The borrows must outlive the job, so the caller cannot leave early: it is shielded from
/// cancellation and `timeout()` (see [`thread::shield`](crate::thread::shield)) until `f` has
/// returned, and a request that arrives meanwhile is raised at its first park point after that.
/// Use [`unblock`] where the caller must be able to give up on a job that hangs.
pub fn unblock_scoped<'a, F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'a,
    T: Send + 'a,
{
    let runtime::context::Current::Green { worker, .. } = runtime::context::current() else {
        return f();
    };
    /// Aborts if the wait unwinds before the job has finished: the job may still be using the
    /// caller's borrows. (Nothing in the wait raises: the caller is shielded.)
    struct MustFinish;
    impl Drop for MustFinish {
        fn drop(&mut self) {
            std::process::abort();
        }
    }
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            park::leave_shield();
        }
    }
    park::enter_shield();
    let _leave = Leave;
    let packet: Arc<JoinPacket<T>> = Arc::new(Packet::new());
    let done = packet.clone();
    let job: Box<dyn FnOnce() + Send + 'a> = Box::new(move || {
        done.complete(catch_unwind(AssertUnwindSafe(f)));
    });
    // SAFETY: only the lifetime changes. The job may use data borrowed for 'a until it has
    // completed the packet; the caller does not return (nor unwind: `MustFinish`) before it
    // sees the packet complete, and after `complete` the job touches nothing of 'a (the Arc it
    // drops last, if it does, holds no result: the caller took it).
    let job: Job = unsafe { std::mem::transmute::<Box<dyn FnOnce() + Send + 'a>, Job>(job) };
    let must_finish = MustFinish;
    pool().submit(job);
    // Counted as a wait outside the runtime, as `unblock`'s (see the monitor's deadlock report).
    let _external = worker.remote().watch.external_wait();
    let result = packet.wait(Joiner::Thread(runtime::current()), || {
        park::park_for(park::WaitReason::Unblock);
    });
    std::mem::forget(must_finish);
    result.unwrap_or_else(|payload| resume_unwind(payload))
}

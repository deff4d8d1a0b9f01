//! Idle workers: who sleeps, and who to wake for new work.
//!
//! A worker that finds nothing to run registers as a sleeper, then looks at every queue once
//! more, and only then parks its OS thread. Whoever publishes work pushes it first and then
//! looks for a sleeper to wake. A SeqCst fence on each side, between its write and its read (the
//! store-buffering pattern), makes sure that either the sleeper's second look sees the work, or
//! the publisher sees the sleeper: work is never left with everyone asleep. (The queues' own
//! release/acquire ordering is not enough for that; loom finds the interleaving without the
//! fences.) Wakes of a green thread owned by a worker go straight to that worker (see
//! `schedule`), so only work anyone may take goes through here.
//!
//! Before it sleeps, a worker searches for a short while (see `Worker::search`): waking a
//! sleeping OS thread costs microseconds, more than most green threads run, so while a worker
//! is searching, publishers wake nobody; the searcher will find the work. The same
//! store-buffering argument covers the hand-over from searching to sleeping: a searcher that
//! gives up stops searching *before* it registers as a sleeper and looks again, so a publisher
//! that saw it searching has published work that the second look sees. A searcher that finds
//! work and was the last one wakes a sleeper if more work is waiting (as Go's scheduler does),
//! so that a burst of spawns still spreads over every worker.

use crate::loom::sync::atomic::{fence, AtomicUsize, Ordering};
use crate::loom::sync::Mutex;

pub(crate) struct Idle {
    sleepers: Mutex<Vec<usize>>,
    /// `sleepers.len()`, readable without the lock on the publisher's fast path.
    count: AtomicUsize,
    /// Workers looking for work before they sleep.
    searching: AtomicUsize,
}

impl Idle {
    pub(crate) fn new(workers: usize) -> Idle {
        Idle {
            sleepers: Mutex::new(Vec::with_capacity(workers)),
            count: AtomicUsize::new(0),
            searching: AtomicUsize::new(0),
        }
    }

    /// A worker ran out of work and starts searching.
    pub(crate) fn start_searching(&self) {
        self.searching.fetch_add(1, Ordering::SeqCst);
    }

    /// A worker stops searching (it found work, or gives up and will `register`); true if it
    /// was the last searcher.
    pub(crate) fn stop_searching(&self) -> bool {
        self.searching.fetch_sub(1, Ordering::SeqCst) == 1
    }

    /// The worker `index` is about to sleep; it must look at the queues again afterwards.
    pub(crate) fn register(&self, index: usize) {
        let mut sleepers = self.sleepers.lock().unwrap();
        if !sleepers.contains(&index) {
            sleepers.push(index);
            self.count.store(sleepers.len(), Ordering::SeqCst);
        }
        drop(sleepers);
        // Registration before the second look at the queues.
        fence(Ordering::SeqCst);
    }

    /// The worker `index` is awake (it found work, or was woken).
    pub(crate) fn unregister(&self, index: usize) {
        let mut sleepers = self.sleepers.lock().unwrap();
        sleepers.retain(|&i| i != index);
        self.count.store(sleepers.len(), Ordering::SeqCst);
        drop(sleepers);
        // The worker's half of the monitor's sleep hand-shake: its load of `monitor_asleep`
        // (`Shared::worker_awake`) comes after this.
        fence(Ordering::SeqCst);
    }

    /// Takes one sleeper to wake, after new work was published.
    /// How many workers are registered as sleepers. The fence is the monitor's half of its
    /// sleep hand-shake (see `monitor`): its store of `monitor_asleep` comes before this load.
    pub(crate) fn sleeping(&self) -> usize {
        fence(Ordering::SeqCst);
        self.count.load(Ordering::SeqCst)
    }

    pub(crate) fn pop_sleeper(&self) -> Option<usize> {
        // The work published before this call, before the look at the sleepers.
        fence(Ordering::SeqCst);
        if self.searching.load(Ordering::SeqCst) > 0 || self.count.load(Ordering::SeqCst) == 0 {
            return None;
        }
        let mut sleepers = self.sleepers.lock().unwrap();
        let index = sleepers.pop();
        self.count.store(sleepers.len(), Ordering::SeqCst);
        index
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::sync::atomic::AtomicBool;
    use crate::loom::sync::Arc;
    use crate::loom::thread;

    /// One worker going to sleep while a producer publishes one item: the item is either seen
    /// by the worker's second look or the worker is woken. Never both asleep and unseen.
    #[test]
    fn published_work_is_never_stranded() {
        loom::model(|| {
            let idle = Arc::new(Idle::new(1));
            let queue = Arc::new(AtomicBool::new(false));
            let woken = Arc::new(AtomicBool::new(false));
            let (i2, q2, w2) = (idle.clone(), queue.clone(), woken.clone());
            let producer = thread::spawn(move || {
                // A queue push is a release store, no stronger.
                q2.store(true, Ordering::Release);
                if i2.pop_sleeper() == Some(0) {
                    w2.store(true, Ordering::SeqCst);
                }
            });
            // The worker: register, look again, then (conceptually) park.
            idle.register(0);
            let saw_work = queue.load(Ordering::Acquire);
            if saw_work {
                idle.unregister(0);
            }
            producer.join().unwrap();
            assert!(
                saw_work || woken.load(Ordering::SeqCst),
                "work published while everyone sleeps"
            );
        });
    }

    /// A searching worker gives up while a producer publishes: the producer skips the wake only
    /// if the worker was still searching, and then the worker's look after registering sees
    /// the work.
    /// The monitor's sleep hand-shake (`monitor::run` against `Worker::sleep` and
    /// `Shared::worker_awake`): the monitor never parks for good while a worker is awake.
    #[test]
    fn a_waking_worker_never_leaves_the_monitor_asleep() {
        loom::model(|| {
            let idle = Arc::new(Idle::new(1));
            idle.register(0);
            let asleep = Arc::new(AtomicBool::new(false));
            let unparked = Arc::new(AtomicBool::new(false));
            let (i2, a2, u2) = (idle.clone(), asleep.clone(), unparked.clone());
            let worker = thread::spawn(move || {
                i2.unregister(0);
                if a2.load(Ordering::SeqCst) {
                    u2.store(true, Ordering::SeqCst);
                }
            });
            // The monitor, having seen every worker asleep.
            asleep.store(true, Ordering::SeqCst);
            let parks = idle.sleeping() == 1;
            worker.join().unwrap();
            assert!(
                !parks || unparked.load(Ordering::SeqCst),
                "the monitor parked and the waking worker did not unpark it"
            );
        });
    }

    #[test]
    fn a_searcher_giving_up_never_strands_work() {
        loom::model(|| {
            let idle = Arc::new(Idle::new(1));
            let queue = Arc::new(AtomicBool::new(false));
            let woken = Arc::new(AtomicBool::new(false));
            idle.start_searching();
            let (i2, q2, w2) = (idle.clone(), queue.clone(), woken.clone());
            let producer = thread::spawn(move || {
                q2.store(true, Ordering::Release);
                if i2.pop_sleeper() == Some(0) {
                    w2.store(true, Ordering::SeqCst);
                }
            });
            // The worker: one fruitless look while searching, then give up and sleep.
            let mut saw_work = queue.load(Ordering::Acquire);
            if !saw_work {
                idle.stop_searching();
                idle.register(0);
                saw_work = queue.load(Ordering::Acquire);
                if saw_work {
                    idle.unregister(0);
                }
            }
            producer.join().unwrap();
            assert!(
                saw_work || woken.load(Ordering::SeqCst),
                "work published while the searcher went to sleep"
            );
        });
    }
}

//! Which worker, if any, is blocked in the driver: the hand-shake that lets a waker choose
//! between the mio `Waker` (for a worker in `epoll_wait`) and a thread unpark.
//!
//! The worker announces itself, then looks at its queues one last time, then blocks in the
//! driver. A waker publishes its work, then looks at the holder. Both sides put a SeqCst fence
//! between their write and their read (the store-buffering pattern): either the worker's last
//! look sees the work, or the waker sees the worker holding the driver and interrupts it.

use crate::loom::sync::atomic::{fence, AtomicUsize, Ordering};

const NO_HOLDER: usize = usize::MAX;

pub(crate) struct DriverHolder(AtomicUsize);

impl DriverHolder {
    pub(crate) fn new() -> Self {
        DriverHolder(AtomicUsize::new(NO_HOLDER))
    }

    /// Worker side, before its last look at the queues.
    pub(crate) fn announce(&self, index: usize) {
        self.0.store(index, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }

    /// Worker side, back from the driver.
    pub(crate) fn release(&self) {
        self.0.store(NO_HOLDER, Ordering::SeqCst);
    }

    /// Waker side, after publishing work for worker `index`: is it (about to be) in the driver?
    pub(crate) fn is(&self, index: usize) -> bool {
        fence(Ordering::SeqCst);
        self.0.load(Ordering::SeqCst) == index
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::sync::atomic::AtomicBool;
    use crate::loom::sync::Arc;
    use crate::loom::thread;

    /// A worker going into the driver while another thread queues work for it: either the
    /// worker's last look sees the work, or the waker sees it in the driver and wakes it.
    #[test]
    fn work_for_a_worker_in_the_driver_is_never_stranded() {
        loom::model(|| {
            let holder = Arc::new(DriverHolder::new());
            let inbox = Arc::new(AtomicBool::new(false));
            let interrupted = Arc::new(AtomicBool::new(false));
            let (h2, i2, w2) = (holder.clone(), inbox.clone(), interrupted.clone());
            let waker = thread::spawn(move || {
                // A queue push is a release store, no stronger.
                i2.store(true, Ordering::Release);
                if h2.is(0) {
                    w2.store(true, Ordering::SeqCst);
                }
            });
            holder.announce(0);
            let saw_work = inbox.load(Ordering::Acquire);
            // (Here the worker would block in epoll_wait if it saw no work.)
            waker.join().unwrap();
            holder.release();
            assert!(
                saw_work || interrupted.load(Ordering::SeqCst),
                "work queued while its worker blocks in the driver unwoken"
            );
        });
    }
}

//! The run queues shared between threads (inboxes, not-yet-started queues, the injector):
//! crossbeam's lock-free `SegQueue`, or, under loom, a loom `Mutex<VecDeque>` so that the
//! hand-off protocols around them can be model-checked.

#[cfg(not(loom))]
pub(crate) struct Queue<T>(crossbeam_queue::SegQueue<T>);

#[cfg(loom)]
pub(crate) struct Queue<T>(crate::loom::sync::Mutex<std::collections::VecDeque<T>>);

impl<T> Queue<T> {
    pub(crate) fn new() -> Self {
        #[cfg(not(loom))]
        return Queue(crossbeam_queue::SegQueue::new());
        #[cfg(loom)]
        Queue(crate::loom::sync::Mutex::new(
            std::collections::VecDeque::new(),
        ))
    }

    pub(crate) fn push(&self, value: T) {
        #[cfg(not(loom))]
        self.0.push(value);
        #[cfg(loom)]
        self.0.lock().unwrap().push_back(value);
    }

    pub(crate) fn pop(&self) -> Option<T> {
        #[cfg(not(loom))]
        return self.0.pop();
        #[cfg(loom)]
        self.0.lock().unwrap().pop_front()
    }

    pub(crate) fn is_empty(&self) -> bool {
        #[cfg(not(loom))]
        return self.0.is_empty();
        #[cfg(loom)]
        self.0.lock().unwrap().is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        #[cfg(not(loom))]
        return self.0.len();
        #[cfg(loom)]
        self.0.lock().unwrap().len()
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::sync::atomic::{AtomicUsize, Ordering};
    use crate::loom::sync::Arc;
    use crate::loom::thread;
    use crate::thread::park_state::{ParkState, Wake};

    /// A green thread parks on its worker; another OS thread wakes it. The wake goes through the
    /// worker's inbox and an unpark of the worker's OS thread: the worker always gets the green
    /// thread back, and runs it exactly once.
    #[test]
    fn a_remote_wake_reaches_the_owner_exactly_once() {
        loom::model(|| {
            let park = Arc::new(ParkState::new());
            let inbox: Arc<Queue<u32>> = Arc::new(Queue::new());
            let runs = Arc::new(AtomicUsize::new(0));
            let worker = thread::current();
            let (p2, i2) = (park.clone(), inbox.clone());
            let waker = thread::spawn(move || {
                if p2.unpark() == Wake::Schedule {
                    i2.push(7);
                    worker.unpark();
                }
            });
            // The worker: the green thread tries to park; the worker commits the park.
            let parked = !park.take_token() && park.commit_park();
            if parked {
                // Sleep until the inbox has it (the worker loop: look, then park).
                loop {
                    if let Some(task) = inbox.pop() {
                        assert_eq!(task, 7);
                        runs.fetch_add(1, Ordering::SeqCst);
                        break;
                    }
                    thread::park();
                }
            }
            waker.join().unwrap();
            assert!(inbox.pop().is_none(), "scheduled twice");
            assert_eq!(runs.load(Ordering::SeqCst), usize::from(parked));
        });
    }
}

//! The run queues shared between threads: the unbounded ones (inboxes, the injector) are a
//! `VecDeque` under a lock with its length readable without the lock, and the bounded
//! not-yet-started queue of each worker is crossbeam's lock-free `ArrayQueue` (under loom, a
//! loom `Mutex<VecDeque>`, so that the hand-off protocols around them can be model-checked).
//!
//! Why not a linked lock-free queue such as crossbeam's `SegQueue`: it allocates a block per 31
//! pushes, and when one worker pushes while another pops, every block is allocated on one
//! thread and freed on the other. glibc's allocator takes the first thread's arena lock for each
//! such free, and the two workers end up sleeping on that lock in the kernel (measured: a
//! spawn-and-join burst at 700-1100 ns per green thread, its largest items futex waits under
//! `_int_free`). A `VecDeque` allocates only when it grows, and an `ArrayQueue` only once.

use crate::loom::sync::atomic::Ordering;
use std::collections::VecDeque;

/// An unbounded multi-producer multi-consumer FIFO queue.
pub(crate) struct Queue<T> {
    items: crate::loom::sync::Mutex<VecDeque<T>>,
    /// `items.len()`, readable without the lock: most looks at a queue find it empty.
    len: crate::loom::sync::atomic::AtomicUsize,
}

impl<T> Queue<T> {
    pub(crate) fn new() -> Self {
        Queue {
            items: crate::loom::sync::Mutex::new(VecDeque::new()),
            len: crate::loom::sync::atomic::AtomicUsize::new(0),
        }
    }

    pub(crate) fn push(&self, value: T) {
        let mut items = self.items.lock().unwrap();
        items.push_back(value);
        self.len.store(items.len(), Ordering::Release);
    }

    pub(crate) fn pop(&self) -> Option<T> {
        if self.is_empty() {
            return None;
        }
        let mut items = self.items.lock().unwrap();
        let value = items.pop_front();
        self.len.store(items.len(), Ordering::Release);
        value
    }

    /// Pushes every item of `values` under one lock.
    pub(crate) fn push_all(&self, values: impl IntoIterator<Item = T>) {
        let mut items = self.items.lock().unwrap();
        items.extend(values);
        self.len.store(items.len(), Ordering::Release);
    }

    /// Pops the first item and hands up to `more` of the next ones to `keep`, which gives back
    /// any it cannot take (they return to the front, in order); all under one lock.
    pub(crate) fn pop_some(
        &self,
        more: usize,
        mut keep: impl FnMut(T) -> Result<(), T>,
    ) -> Option<T> {
        if self.is_empty() {
            return None;
        }
        let mut items = self.items.lock().unwrap();
        let first = items.pop_front();
        for _ in 0..more {
            let Some(value) = items.pop_front() else {
                break;
            };
            if let Err(value) = keep(value) {
                items.push_front(value);
                break;
            }
        }
        self.len.store(items.len(), Ordering::Release);
        first
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }
}

/// A bounded multi-producer multi-consumer queue; `push` hands the value back when full.
#[cfg(not(loom))]
pub(crate) struct BoundedQueue<T>(crossbeam_queue::ArrayQueue<T>);

#[cfg(loom)]
pub(crate) struct BoundedQueue<T>(
    crate::loom::sync::Mutex<std::collections::VecDeque<T>>,
    usize,
);

impl<T> BoundedQueue<T> {
    pub(crate) fn new(capacity: usize) -> Self {
        #[cfg(not(loom))]
        return BoundedQueue(crossbeam_queue::ArrayQueue::new(capacity));
        #[cfg(loom)]
        BoundedQueue(
            crate::loom::sync::Mutex::new(std::collections::VecDeque::new()),
            capacity,
        )
    }

    pub(crate) fn push(&self, value: T) -> Result<(), T> {
        #[cfg(not(loom))]
        return self.0.push(value);
        #[cfg(loom)]
        {
            let mut queue = self.0.lock().unwrap();
            if queue.len() == self.1 {
                return Err(value);
            }
            queue.push_back(value);
            Ok(())
        }
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn push_all_and_pop_some_keep_the_order() {
        let q = Queue::new();
        q.push(0);
        q.push_all(1..6);
        assert_eq!(q.len(), 6);
        let mut kept = Vec::new();
        // The first is returned, the next three handed over, in order.
        let first = q.pop_some(3, |v| {
            kept.push(v);
            Ok(())
        });
        assert_eq!(first, Some(0));
        assert_eq!(kept, [1, 2, 3]);
        assert_eq!(q.len(), 2);
        assert_eq!(q.pop(), Some(4));
        assert_eq!(q.pop(), Some(5));
        assert_eq!(q.pop_some(3, |_| Ok(())), None);
    }

    #[test]
    fn pop_some_puts_back_what_the_taker_refuses() {
        let q = Queue::new();
        q.push_all([10, 11, 12, 13]);
        let mut room = 1;
        let first = q.pop_some(3, |v| {
            if room == 0 {
                return Err(v);
            }
            room -= 1;
            Ok(())
        });
        assert_eq!(first, Some(10));
        // 11 was taken; 12 was refused and is back at the front, before 13.
        assert_eq!(q.len(), 2);
        assert_eq!(q.pop(), Some(12));
        assert_eq!(q.pop(), Some(13));
        assert!(q.is_empty());
    }
}

//! The join state: where a green thread leaves its result and how its joiner waits for it.
//!
//! One word: `EMPTY` (running, nobody waiting), `WAITING` (running, a joiner registered its
//! waker), `DONE` (result written). The joiner writes its waker before announcing `WAITING`; the
//! finishing thread writes the result before announcing `DONE`, and wakes the joiner only if it
//! saw `WAITING`. Each side touches the other's cell only after seeing the other's announcement.

use crate::loom::sync::atomic::{AtomicU8, Ordering};
use crate::loom::UnsafeCell;

const EMPTY: u8 = 0;
const WAITING: u8 = 1;
const DONE: u8 = 2;

/// Something that can wake a waiting joiner.
pub(crate) trait Unpark {
    fn unpark(&self);
}

pub(crate) struct Packet<T, W> {
    state: AtomicU8,
    result: UnsafeCell<Option<T>>,
    waiter: UnsafeCell<Option<W>>,
}

// SAFETY: the cells are handed from one thread to the other through `state` (see the module
// docs): the result from the finisher to the joiner, the waker from the joiner to the finisher.
unsafe impl<T: Send, W: Send> Send for Packet<T, W> {}
unsafe impl<T: Send, W: Send> Sync for Packet<T, W> {}

impl<T, W: Unpark> Packet<T, W> {
    pub(crate) fn new() -> Self {
        Packet {
            state: AtomicU8::new(EMPTY),
            result: UnsafeCell::new(None),
            waiter: UnsafeCell::new(None),
        }
    }

    /// Called once, by the finishing thread.
    pub(crate) fn complete(&self, result: T) {
        // SAFETY: nobody reads the result before DONE is published below.
        self.result.with_mut(|r| unsafe { *r = Some(result) });
        if self.state.swap(DONE, Ordering::AcqRel) == WAITING {
            // SAFETY: the joiner wrote the waker before publishing WAITING and no longer
            // touches it.
            if let Some(waiter) = self.waiter.with_mut(|w| unsafe { (*w).take() }) {
                waiter.unpark();
            }
        }
    }

    pub(crate) fn is_done(&self) -> bool {
        self.state.load(Ordering::Acquire) == DONE
    }

    /// Called once, by the joiner: registers `waiter`, then calls `park` until the result is
    /// there (`park` may return spuriously), and takes the result.
    pub(crate) fn wait(&self, waiter: W, mut park: impl FnMut()) -> T {
        if self.register(waiter) {
            while !self.is_done() {
                park();
            }
        }
        self.take()
    }

    /// Called at most once, by the joiner: registers `waiter` to be woken when the result is
    /// there. False if it is there already (the waiter will not be woken).
    pub(crate) fn register(&self, waiter: W) -> bool {
        if self.is_done() {
            return false;
        }
        // SAFETY: the finisher reads the waker only after seeing WAITING, published below.
        self.waiter.with_mut(|w| unsafe { *w = Some(waiter) });
        self.state
            .compare_exchange(EMPTY, WAITING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Takes the result of a finished thread. Panics if it is not there.
    pub(crate) fn take(&self) -> T {
        debug_assert!(self.is_done());
        // SAFETY: DONE was observed with Acquire, so the result is written; we are its only
        // reader.
        self.result
            .with_mut(|r| unsafe { (*r).take() })
            .expect("join result taken twice")
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::sync::Arc;
    use crate::loom::thread;

    impl Unpark for thread::Thread {
        fn unpark(&self) {
            thread::Thread::unpark(self)
        }
    }

    #[test]
    fn the_joiner_always_gets_the_result() {
        loom::model(|| {
            let packet: Arc<Packet<u32, thread::Thread>> = Arc::new(Packet::new());
            let p2 = packet.clone();
            let finisher = thread::spawn(move || p2.complete(42));
            assert_eq!(packet.wait(thread::current(), thread::park), 42);
            finisher.join().unwrap();
        });
    }
}

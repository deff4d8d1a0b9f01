//! The join state: where a green thread (or an OS thread of a `Flavor::OsThreads` runtime, or
//! a job of the blocking pool) leaves its result and how its joiner waits for it; and
//! [`JoinHandle`], the public owner of a green thread's packet.
//!
//! One word: `EMPTY` (running, nobody waiting), `WAITING` (running, a joiner registered its
//! waker), `DONE` (result written), `DETACHED` (the join handle is gone). The joiner writes its
//! waker before announcing `WAITING`; the finishing thread writes the result before announcing
//! `DONE`, and wakes the joiner only if it saw `WAITING`. Each side touches the other's cell only
//! after seeing the other's announcement. A result nobody will take is dropped at once, by
//! whichever of the finisher and the dropped handle swaps second (the packet itself may live on
//! for a while: a green thread's is in its task's allocation, which `Thread` handles keep).

use super::handle::Thread;
use crate::loom::sync::atomic::{AtomicU8, Ordering};
use crate::loom::UnsafeCell;
pub(crate) use crate::reactor::Unpark;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};
use std::task::Waker;

const EMPTY: u8 = 0;
const WAITING: u8 = 1;
const DONE: u8 = 2;
const DETACHED: u8 = 3;

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
        match self.state.swap(DONE, Ordering::AcqRel) {
            WAITING => {
                // SAFETY: the joiner wrote the waker before publishing WAITING and no longer
                // touches it.
                if let Some(waiter) = self.waiter.with_mut(|w| unsafe { (*w).take() }) {
                    waiter.wake();
                }
            }
            // SAFETY: the handle is gone (it published DETACHED and touches nothing after):
            // nobody else will read the result.
            DETACHED => drop(self.result.with_mut(|r| unsafe { (*r).take() })),
            _ => {}
        }
    }

    /// Called once, as the join handle goes (joined or not): if the result is there and was not
    /// taken, drops it; otherwise the finisher will.
    pub(crate) fn detach(&self) {
        if self.state.swap(DETACHED, Ordering::AcqRel) == DONE {
            // SAFETY: DONE was observed with Acquire: the result is written and the finisher no
            // longer touches it; the handle is its only reader.
            drop(self.result.with_mut(|r| unsafe { (*r).take() }));
        }
    }

    /// True once the result is there (until the handle detaches).
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

/// Who waits for a green thread to finish: a thread in `join`, or a task awaiting its handle
/// (`JoinFuture`).
pub(crate) enum Joiner {
    Thread(Thread),
    Waker(Arc<Mutex<Option<Waker>>>),
}

impl Unpark for Joiner {
    fn wake(&self) {
        match self {
            Joiner::Thread(thread) => thread.wake(),
            Joiner::Waker(slot) => {
                if let Some(waker) = slot.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    waker.wake();
                }
            }
        }
    }
}

/// A join packet with its result type: what a green thread completes and its joiner waits on.
pub(crate) type JoinPacket<T> = Packet<std::thread::Result<T>, Joiner>;

/// Where a join handle finds its packet.
pub(crate) enum PacketRef<T> {
    /// In an allocation of its own (OS threads of a `Flavor::OsThreads` runtime, scoped green
    /// threads).
    Shared(Arc<JoinPacket<T>>),
    /// In the green thread's task allocation (`runtime::spawn`), which the handle's `thread`
    /// keeps alive.
    InTask(NonNull<JoinPacket<T>>),
}

impl<T> std::ops::Deref for PacketRef<T> {
    type Target = JoinPacket<T>;

    #[inline]
    fn deref(&self) -> &JoinPacket<T> {
        match self {
            PacketRef::Shared(packet) => packet,
            // SAFETY: the handle holding this also holds the task's `Thread`, which keeps the
            // task's allocation, and this packet in it, alive.
            PacketRef::InTask(packet) => unsafe { packet.as_ref() },
        }
    }
}

/// An owned permission to join a green thread, like `std::thread::JoinHandle`. Dropping it
/// detaches the thread.
pub struct JoinHandle<T> {
    pub(crate) packet: PacketRef<T>,
    pub(crate) thread: Thread,
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        self.packet.detach();
    }
}

// SAFETY: every way to create a `JoinHandle<T>` (the `spawn` functions) requires `T: Send`, so
// the result may be handed to whichever thread joins; and `&JoinHandle` gives no access to a
// `T` at all (only `thread()` and `is_finished()`). std makes the same promise, for every `T`.
unsafe impl<T> Send for JoinHandle<T> {}
// SAFETY: see above.
unsafe impl<T> Sync for JoinHandle<T> {}

impl<T> std::fmt::Debug for JoinHandle<T> {
    /// As std's: `JoinHandle { .. }` (the thread is [`JoinHandle::thread`]'s to show).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinHandle").finish_non_exhaustive()
    }
}

impl<T> JoinHandle<T> {
    /// Waits for the thread to finish: `Ok` with its value, or `Err` with its panic payload.
    /// A park point.
    ///
    /// # Panics
    /// If the thread joins itself (its own handle, sent to it), which would wait forever: with
    /// std's message on Linux, "failed to join thread: Resource deadlock avoided (os error
    /// 35)".
    pub fn join(self) -> std::thread::Result<T> {
        let me = super::handle::current();
        self.refuse_self_join(&me);
        let wait = crate::runtime::WaitReason::Join {
            thread: self.thread.id(),
        };
        self.packet.wait(Joiner::Thread(me), || {
            crate::runtime::park::park_for(wait);
        })
    }

    /// Panics if `me`, the calling thread, is the thread this handle names and it has not
    /// finished: its join would wait for itself forever (a `join`, or a poll of the handle's
    /// future on its own thread, under `block_on` or any executor).
    #[inline]
    pub(crate) fn refuse_self_join(&self, me: &Thread) {
        // Only a thread that has not finished can join itself; the identity is two pointers.
        if me.is(&self.thread) && !self.packet.is_done() {
            join_self();
        }
    }

    /// True once the thread has finished.
    pub fn is_finished(&self) -> bool {
        self.packet.is_done()
    }

    /// The thread's handle.
    pub fn thread(&self) -> &Thread {
        &self.thread
    }

    /// Asks the thread to stop and waits until it has unwound: `Ok(value)` if it had already
    /// finished, or `Err(payload)` with `payload.is::<Cancelled>()` if it was cancelled. The
    /// cancellation is delivered at the thread's next park point; a thread that never parks
    /// cannot be cancelled until it does.
    ///
    /// # Panics
    /// As [`join`](Self::join), if the thread cancels itself through its own handle.
    ///
    /// [`Cancelled`]: crate::Cancelled
    pub fn cancel(self) -> std::thread::Result<T> {
        if !self.packet.is_done() {
            self.thread.request_cancel();
        }
        self.join()
    }
}

/// A thread joining itself: panics as std's join does, where `pthread_join` reports the
/// deadlock (before anything is registered in the packet: a waiter there that names the
/// thread itself would keep its own task alive).
#[cold]
#[inline(never)]
fn join_self() -> ! {
    panic!(
        "failed to join thread: {}",
        std::io::Error::from_raw_os_error(libc::EDEADLK)
    )
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::sync::Arc;
    use crate::loom::thread;

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

    /// A result whose handle went away unjoined is dropped exactly once, whichever side comes
    /// second, and before the packet itself goes.
    #[test]
    fn a_detached_result_is_dropped_exactly_once() {
        use crate::loom::sync::atomic::AtomicUsize;
        struct Counted(Arc<AtomicUsize>);
        impl Drop for Counted {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        loom::model(|| {
            let drops = Arc::new(AtomicUsize::new(0));
            let packet: Arc<Packet<Counted, thread::Thread>> = Arc::new(Packet::new());
            let p2 = packet.clone();
            let counted = Counted(drops.clone());
            let finisher = thread::spawn(move || p2.complete(counted));
            packet.detach();
            finisher.join().unwrap();
            assert_eq!(
                drops.load(Ordering::Relaxed),
                1,
                "dropped before the packet"
            );
            drop(packet);
            assert_eq!(drops.load(Ordering::Relaxed), 1);
        });
    }
}

//! A worker's "next" slot: the green thread it spawned last, not yet started, kept for itself
//! for a few microseconds (Go's `runnext`, tokio's LIFO slot).
//!
//! Why: a started green thread never moves to another OS thread, so where a green thread runs
//! is decided once, when a worker first takes it. Two green threads that talk (a spawner and the
//! child it waits for, a ping-pong pair, a server and the handler it just spawned) run fastest on
//! the same worker: their wakes are then local, without an inbox or a cross-core unpark. A
//! spawner that parks right after spawning therefore runs its child itself, from this slot. Only
//! if the child has waited here too long (the spawner keeps running) does an idle worker take it.
//!
//! # The protocol
//! The slot holds at most one counted reference (a `TaskRef`) as a raw pointer in an `AtomicPtr`. The owner worker
//! [`put`](NextSlot::put)s with a swap (the previous occupant comes back to it, to queue where
//! anyone may steal it) and [`take`](NextSlot::take)s with a swap to null. A thief first
//! [`peek`](NextSlot::peek)s at the occupant and waits (its own clock, see `worker::search`);
//! if the same pointer is still there after the grace period it takes it with a
//! compare-exchange to null. Whoever's swap or compare-exchange returns the pointer owns that
//! reference: exactly one party, since every transition out of a non-null value is a single atomic
//! read-modify-write.
//!
//! The race: between the thief's peek and its compare-exchange the owner may take the occupant,
//! run it to the end (freeing it) and put a new green thread that happens to sit at the same
//! address. The thief's compare-exchange then succeeds on the new occupant, before its grace
//! period: a scheduling choice made early, never a soundness problem, because the slot only ever
//! holds green threads that have not started (any worker may start them), and the pointer the
//! thief receives is the slot's own reference. The loom model below checks that every occupant
//! is taken exactly once.

use super::task::{Task, TaskRef};
use crate::loom::sync::atomic::{AtomicPtr, Ordering};
#[cfg(test)]
use std::sync::Arc;

/// A counted reference that can live in the slot as a raw pointer: `TaskRef` (and `Arc`, for
/// the model).
///
/// # Safety
/// `from_raw(into_raw(r))` gives `r` back, and the pointer is never null.
pub(crate) unsafe trait RawRef {
    type Target;
    fn into_raw(this: Self) -> *const Self::Target;
    /// # Safety
    /// `ptr` came from `into_raw`, and is given back once.
    unsafe fn from_raw(ptr: *const Self::Target) -> Self;
}

// SAFETY: `TaskRef::into_raw`/`from_raw` are inverse, and a `TaskRef` is never null.
unsafe impl RawRef for TaskRef {
    type Target = Task;
    fn into_raw(this: Self) -> *const Task {
        TaskRef::into_raw(this)
    }
    unsafe fn from_raw(ptr: *const Task) -> Self {
        // SAFETY: the caller's promise.
        unsafe { TaskRef::from_raw(ptr) }
    }
}

#[cfg(test)]
// SAFETY: as for `Arc`'s own `into_raw`/`from_raw`.
unsafe impl<T> RawRef for Arc<T> {
    type Target = T;
    fn into_raw(this: Self) -> *const T {
        Arc::into_raw(this)
    }
    unsafe fn from_raw(ptr: *const T) -> Self {
        // SAFETY: the caller's promise.
        unsafe { Arc::from_raw(ptr) }
    }
}

pub(crate) struct NextSlot<R: RawRef> {
    occupant: AtomicPtr<R::Target>,
}

impl<R: RawRef> NextSlot<R> {
    pub(crate) fn new() -> Self {
        NextSlot {
            occupant: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// Owner: puts `value` in the slot; returns the previous occupant, if any.
    #[inline]
    pub(crate) fn put(&self, value: R) -> Option<R> {
        let new = R::into_raw(value).cast_mut();
        // AcqRel: Release publishes the new occupant to a thief's Acquire; Acquire takes over
        // the previous one (put by this worker, so already visible; kept symmetric).
        let old = self.occupant.swap(new, Ordering::AcqRel);
        // SAFETY: a non-null pointer in the slot is a `RawRef::into_raw` whose reference the slot
        // owns; the swap moved that ownership to us, and no one else can receive it.
        (!old.is_null()).then(|| unsafe { R::from_raw(old) })
    }

    /// Owner (or shutdown): takes the occupant.
    #[inline]
    pub(crate) fn take(&self) -> Option<R> {
        if self.occupant.load(Ordering::Relaxed).is_null() {
            return None; // the common case, without a write to the line
        }
        let old = self.occupant.swap(std::ptr::null_mut(), Ordering::Acquire);
        // SAFETY: as in `put`: the swap moved the slot's reference to us.
        (!old.is_null()).then(|| unsafe { R::from_raw(old) })
    }

    /// Anyone: the current occupant's address, for a thief's grace period (never dereferenced).
    #[inline]
    pub(crate) fn peek(&self) -> *const R::Target {
        self.occupant.load(Ordering::Relaxed)
    }

    /// Thief: takes the occupant if it is still `seen` (from an earlier [`peek`](Self::peek)).
    pub(crate) fn steal(&self, seen: *const R::Target) -> Option<R> {
        if seen.is_null() {
            return None;
        }
        self.occupant
            .compare_exchange(
                seen.cast_mut(),
                std::ptr::null_mut(),
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .ok()
            // SAFETY: the compare-exchange moved the slot's reference (to whatever occupant is
            // at `seen` now, see the module docs) to us.
            .map(|old| unsafe { R::from_raw(old) })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.peek().is_null()
    }
}

impl<R: RawRef> Drop for NextSlot<R> {
    fn drop(&mut self) {
        drop(self.take());
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::sync::atomic::AtomicUsize;
    use crate::loom::thread;

    /// The owner puts two values (the second put hands the first back) and takes; a thief peeks
    /// and steals concurrently. Every value ends up owned by exactly one party: each value's
    /// counter ends at exactly one.
    #[test]
    fn every_occupant_is_taken_exactly_once() {
        loom::model(|| {
            let slot = crate::loom::sync::Arc::new(NextSlot::<Arc<AtomicUsize>>::new());
            let a = Arc::new(AtomicUsize::new(0));
            let b = Arc::new(AtomicUsize::new(0));
            let thief = {
                let slot = slot.clone();
                thread::spawn(move || {
                    let seen = slot.peek();
                    if let Some(v) = slot.steal(seen) {
                        v.fetch_add(1, Ordering::Relaxed);
                    }
                })
            };
            assert!(slot.put(a.clone()).is_none());
            if let Some(v) = slot.put(b.clone()) {
                v.fetch_add(1, Ordering::Relaxed);
            }
            if let Some(v) = slot.take() {
                v.fetch_add(1, Ordering::Relaxed);
            }
            thief.join().unwrap();
            if let Some(v) = slot.take() {
                v.fetch_add(1, Ordering::Relaxed);
            }
            assert_eq!(a.load(Ordering::Relaxed), 1, "the first occupant");
            assert_eq!(b.load(Ordering::Relaxed), 1, "the second occupant");
            // Only the test's own references are left: nothing leaked or freed twice.
            assert_eq!(Arc::strong_count(&a), 1);
            assert_eq!(Arc::strong_count(&b), 1);
        });
    }
}

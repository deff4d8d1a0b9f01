//! How many threads a runtime has spawned and not finished: [`LiveCount`], and the one guard
//! that changes it, [`Live`].
//!
//! # Why in shards
//!
//! A spawn counts its thread in and the thread's end counts it out, usually on another worker
//! (the spawner's idle neighbour steals and runs it). One counter would be one cache line
//! written by both workers at every spawn and every finish: measured on a spawn-and-join burst
//! on 2 workers, the spawner's `lock xadd` on it was three quarters of the samples of
//! `Task::allocate`. So each worker counts in a shard of its own (in a cache line of its own),
//! other threads in one more, and each thread counts in or out on the shard of the OS thread it
//! runs on: a shard alone may go below zero (a thread spawned on worker 0 and finished on
//! worker 1), the sum never does.
//!
//! The sum is read only by the metrics and by the monitor's deadlock check, which asks for it
//! while every worker sleeps (no shard moves then), and is not a snapshot while shards move: a
//! reader may see a thread's end and miss its spawn; [`LiveCount::load`] clamps at zero.

use super::context;
use super::{Padded, Shared};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Threads spawned and not finished (green threads, and OS threads for `Flavor::OsThreads`),
/// counted in one shard per worker and one for every other thread.
pub(crate) struct LiveCount(Box<[Padded<AtomicUsize>]>);

impl LiveCount {
    pub(crate) fn new(workers: usize) -> LiveCount {
        LiveCount((0..=workers).map(|_| Padded::default()).collect())
    }

    /// The count: the sum of the shards (each wraps; the sum is exact once they are still).
    pub(crate) fn load(&self) -> usize {
        let sum = self.0.iter().fold(0usize, |sum, shard| {
            sum.wrapping_add(shard.0.load(Ordering::Acquire))
        });
        // Below zero only while a reader races a spawn (see the module docs).
        if (sum as isize) < 0 {
            0
        } else {
            sum
        }
    }

    /// The worker of `shared` that the calling OS thread is, if any: whose shard it counts on.
    #[inline]
    fn worker_here(shared: &Shared) -> Option<usize> {
        context::current()
            .worker_of(shared)
            .map(|worker| worker.index)
    }

    /// The shard of worker `index`, or with `None` the other threads' one.
    #[inline]
    fn shard(&self, worker: Option<usize>) -> &AtomicUsize {
        let last = self.0.len() - 1;
        &self.0[worker.map_or(last, |index| index.min(last))].0
    }
}

/// One count in [`Shared::live`]: taken when a green thread or OS thread is spawned, given
/// back when the guard drops, whatever ends the thread: a green thread's body going `Done`
/// (finished, failed to start, or abandoned unstarted), an OS thread's closure returning, or an
/// OS thread that never started. The only place `live` changes.
pub(crate) struct Live(NonNull<Shared>);

// SAFETY: the guard only changes atomics in a `Shared`, which is `Sync`.
unsafe impl Send for Live {}

impl Live {
    /// Counts a thread in `shared.live`.
    ///
    /// # Safety
    /// `shared` outlives the guard. (A task keeps its guard in its body, dropped before its own
    /// `Arc<Shared>`; an OS thread drops it before its `OsThread`'s.) No `Arc` clone of its own:
    /// a spawn pays only the increment.
    pub(crate) unsafe fn enter(shared: &Shared) -> Live {
        // SAFETY: the caller's promise; the shard is this thread's.
        unsafe { Self::enter_on(shared, LiveCount::worker_here(shared)) }
    }

    /// [`Live::enter`] on the thread of worker `worker` of `shared` (`None`: any other
    /// thread), which the caller knows: a spawn, which has looked already.
    ///
    /// # Safety
    /// As for [`Live::enter`]; and the caller runs on that thread (a wrong shard would still
    /// count right, only on a shared cache line).
    #[inline]
    pub(crate) unsafe fn enter_on(shared: &Shared, worker: Option<usize>) -> Live {
        shared.live.shard(worker).fetch_add(1, Ordering::AcqRel);
        Live(NonNull::from(shared))
    }

    /// Drops the guard on the thread of worker `worker` of its runtime, which the caller is:
    /// a worker ending a green thread saves the look that `drop` makes.
    #[inline]
    pub(crate) fn leave_on(self, worker: usize) {
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `enter`'s caller keeps the `Shared` alive for the guard's life.
        let shared = unsafe { this.0.as_ref() };
        shared
            .live
            .shard(Some(worker))
            .fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        // SAFETY: `enter`'s caller keeps the `Shared` alive for the guard's life.
        let shared = unsafe { self.0.as_ref() };
        let worker = LiveCount::worker_here(shared);
        shared.live.shard(worker).fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_sum_of_the_shards_is_the_count_and_never_below_zero() {
        let live = LiveCount::new(2);
        // Spawned on worker 0 (twice) and on another thread; one finished on worker 1.
        live.shard(Some(0)).fetch_add(2, Ordering::AcqRel);
        live.shard(None).fetch_add(1, Ordering::AcqRel);
        live.shard(Some(1)).fetch_sub(1, Ordering::AcqRel);
        assert_eq!(live.load(), 2);
        // A reader that sees a finish before its spawn reads zero, not a wrapped count.
        let racing = LiveCount::new(1);
        racing.shard(Some(0)).fetch_sub(1, Ordering::AcqRel);
        assert_eq!(racing.load(), 0);
        // An index past the workers counts on the last shard, not out of bounds.
        racing.shard(Some(7)).fetch_add(1, Ordering::AcqRel);
        assert_eq!(racing.load(), 0);
        racing.shard(None).fetch_add(1, Ordering::AcqRel);
        assert_eq!(racing.load(), 1);
    }
}

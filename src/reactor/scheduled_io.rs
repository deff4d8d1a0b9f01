//! One registered I/O source's readiness, and the green threads waiting on it.
//!
//! Readiness is edge-triggered: the driver ORs in what the kernel reported and bumps a tick; an
//! operation that hits `WouldBlock` clears readiness only if the tick has not moved since it
//! read it before trying (`clear`), and a waiter enqueues only if the tick still has not moved
//! (`register`, under the waiter lock). The driver publishes the new tick first and takes the
//! waiter lock second, so an edge that arrives anywhere between the `WouldBlock` and the park is
//! seen either by the waiter's check or by the driver's wake: it is never lost.

use super::Unpark;
use crate::loom::lock::Lock;
use crate::loom::sync::atomic::{AtomicUsize, Ordering};

/// The direction an operation waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

pub(crate) const READABLE: usize = 1;
pub(crate) const WRITABLE: usize = 2;
pub(crate) const READ_CLOSED: usize = 4;
pub(crate) const WRITE_CLOSED: usize = 8;
/// The source's registration was dropped (its fd deregistered): no event will come any more.
/// Never cleared; every direction counts as ready, so that nobody waits on it.
const DEREGISTERED: usize = 16;
const READY_BITS: usize = 0xff;
const TICK_SHIFT: usize = 8;

impl Direction {
    /// The readiness bits that let an operation of this direction make progress.
    fn mask(self) -> usize {
        match self {
            Direction::Read => READABLE | READ_CLOSED,
            Direction::Write => WRITABLE | WRITE_CLOSED,
        }
    }
}

/// A snapshot of the readiness word.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Snapshot(usize);

impl Snapshot {
    pub(crate) fn is_ready(self, direction: Direction) -> bool {
        self.0 & (direction.mask() | DEREGISTERED) != 0
    }

    /// The registration was dropped (see [`ScheduledIo::deregistered`]).
    #[cfg_attr(not(any(feature = "hook", loom)), allow(dead_code))]
    pub(crate) fn is_deregistered(self) -> bool {
        self.0 & DEREGISTERED != 0
    }

    fn tick(self) -> usize {
        self.0 >> TICK_SHIFT
    }
}

struct Waiters<W> {
    next_key: u64,
    list: Vec<(u64, Direction, W)>,
}

/// The last event said the source has urgent data (`EPOLLPRI`: TCP's urgent mark, where a read
/// stops short with more queued). Set or cleared by each event, never by an operation.
pub(crate) const URGENT: usize = 32;

impl Snapshot {
    /// The last event reported urgent data (see [`URGENT`]). For the drained-read rules (the
    /// hooks' and `IoSource::read_stream`'s).
    pub(crate) fn is_urgent(self) -> bool {
        self.0 & URGENT != 0
    }
}

pub(crate) struct ScheduledIo<W> {
    /// Ready bits in the low byte, the event tick above.
    readiness: AtomicUsize,
    waiters: Lock<Waiters<W>>,
}

impl<W: Unpark> ScheduledIo<W> {
    pub(crate) fn new() -> Self {
        ScheduledIo {
            readiness: AtomicUsize::new(0),
            waiters: Lock::new(Waiters {
                next_key: 0,
                list: Vec::new(),
            }),
        }
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        Snapshot(self.readiness.load(Ordering::Acquire))
    }

    /// Driver side: the kernel reported `ready` (a set of the bit constants, `URGENT` included
    /// when the event had it: the one bit an event also clears). Publishes it, and
    /// moves every waiter of a direction that can now make progress into `woken`, for the
    /// caller to wake once it holds no lock of its own: a wake may post to another worker, and
    /// dropping a waiter's handle may drop the last reference to a finished green thread, and
    /// with it the value it returned (a socket, whose deregistration takes the reactor's table
    /// lock). The caller's `woken` is reused from turn to turn: an event allocates nothing.
    pub(crate) fn set_ready_into(&self, ready: usize, woken: &mut Vec<W>) {
        self.publish(|bits| (bits & !URGENT) | ready);
        // After the tick is published: a waiter that enqueued under this lock saw the old tick.
        let mut waiters = self.waiters.lock();
        let mut i = 0;
        while i < waiters.list.len() {
            if ready & waiters.list[i].1.mask() != 0 {
                woken.push(waiters.list.swap_remove(i).2);
            } else {
                i += 1;
            }
        }
    }

    /// Replaces the ready bits with `bits(current ones)` and starts a new tick, in one step: an
    /// operation that took its snapshot before sees the tick move, and does not forget
    /// readiness it never saw (`clear`) or park past it (`register`).
    fn publish(&self, bits: impl Fn(usize) -> usize) {
        let mut current = self.readiness.load(Ordering::Relaxed);
        loop {
            let tick = (current >> TICK_SHIFT).wrapping_add(1);
            let new = (tick << TICK_SHIFT) | (bits(current & READY_BITS) & READY_BITS);
            match self.readiness.compare_exchange_weak(
                current,
                new,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }

    /// [`Self::set_ready_into`], then wakes them: for the models and tests, which hold no lock.
    #[cfg(test)]
    pub(crate) fn set_ready(&self, ready: usize) {
        let mut woken = Vec::new();
        self.set_ready_into(ready, &mut woken);
        for waiter in woken {
            waiter.wake();
        }
    }

    /// Called when the source's registration is dropped (its fd deregistered, usually about to
    /// be closed): no event will wake its waiters any more, so they are woken now, every one,
    /// to find out (a hooked call whose fd another thread closed returns instead of waiting
    /// forever). Marks the source deregistered under the waiter lock, with a new tick: a
    /// waiter that enqueues later sees it (`register` refuses), one that enqueued before is
    /// taken here. Nothing else is waiting on the source's owner at this point: zsync's own
    /// sockets drop their registration only when nobody can use them any more.
    pub(crate) fn deregistered(&self) {
        let woken = {
            let mut waiters = self.waiters.lock();
            self.publish(|bits| bits | DEREGISTERED);
            std::mem::take(&mut waiters.list)
        };
        // After the lock: as in `set_ready_into`, a wake may post to another worker.
        for (_, _, waiter) in woken {
            waiter.wake();
        }
    }

    /// Operation side, after `WouldBlock`: forgets `direction`'s readiness unless a new event
    /// came in since `seen` was taken (then the caller simply tries again).
    pub(crate) fn clear(&self, seen: Snapshot, direction: Direction) {
        self.clear_since(seen, direction.mask());
    }

    /// Operation side, after a stream read that returned less than it asked for (the socket's
    /// receive queue was drained): forgets readability, as [`Self::clear`] does, so that the
    /// next read waits without trying a read that would only say `WouldBlock` (tokio does the
    /// same). `READ_CLOSED` stays: after the peer's FIN no new edge would come to set it again.
    pub(crate) fn clear_drained(&self, seen: Snapshot) {
        self.clear_since(seen, READABLE);
    }

    /// Clears `bits` unless the word moved since `seen` (a new event, which wins). Nothing to
    /// clear, no write: a read that waits on a socket already known empty clears nothing.
    fn clear_since(&self, seen: Snapshot, bits: usize) {
        let new = seen.0 & !bits;
        if new != seen.0 {
            let _ =
                self.readiness
                    .compare_exchange(seen.0, new, Ordering::AcqRel, Ordering::Relaxed);
        }
    }

    /// Operation side: enqueues `waiter` for `direction` unless readiness arrived or moved since
    /// `seen`, or the source was deregistered (then `None`: do not park, try again). Returns
    /// the key for [`Self::remove`].
    pub(crate) fn register(&self, seen: Snapshot, direction: Direction, waiter: W) -> Option<u64> {
        let mut waiters = self.waiters.lock();
        let now = self.snapshot();
        if now.tick() != seen.tick() || now.is_ready(direction) {
            return None;
        }
        let key = waiters.next_key;
        waiters.next_key += 1;
        waiters.list.push((key, direction, waiter));
        Some(key)
    }

    /// Takes a waiter out of the list (it gave up: timeout, cancellation, spurious wake). A
    /// waiter the driver already woke is gone already; nothing was handed to it but a wake.
    pub(crate) fn remove(&self, key: u64) {
        let mut waiters = self.waiters.lock();
        if let Some(i) = waiters.list.iter().position(|w| w.0 == key) {
            waiters.list.swap_remove(i);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    /// Counts its wakes.
    struct Counter(Arc<AtomicUsize>);
    impl Unpark for Counter {
        fn wake(&self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// An edge wakes every waiter it concerns, however many, and leaves the others in the
    /// list.
    #[test]
    fn an_edge_wakes_every_waiter_of_its_directions() {
        let io = ScheduledIo::<Counter>::new();
        let readers = Arc::new(AtomicUsize::new(0));
        let writers = Arc::new(AtomicUsize::new(0));
        let seen = io.snapshot();
        for _ in 0..3 {
            let key = io.register(seen, Direction::Read, Counter(readers.clone()));
            assert!(key.is_some());
        }
        assert!(io
            .register(seen, Direction::Write, Counter(writers.clone()))
            .is_some());
        io.set_ready(READABLE);
        assert_eq!(readers.load(Ordering::Relaxed), 3);
        assert_eq!(writers.load(Ordering::Relaxed), 0);
        assert_eq!(io.waiters.lock().list.len(), 1);
        io.set_ready(WRITABLE | READABLE);
        assert_eq!(readers.load(Ordering::Relaxed), 3);
        assert_eq!(writers.load(Ordering::Relaxed), 1);
        assert!(io.waiters.lock().list.is_empty());
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::sync::atomic::AtomicBool;
    use crate::loom::sync::Arc;
    use crate::loom::thread;

    /// The edge-triggered race: a green thread tries an operation, gets `WouldBlock`, and parks;
    /// meanwhile the driver reports the fd ready. The operation must complete: either it sees the
    /// data on a retry or the driver's wake reaches its park.
    #[test]
    fn an_edge_between_would_block_and_park_is_never_lost() {
        loom::model(|| {
            let io = Arc::new(ScheduledIo::<thread::Thread>::new());
            // The kernel's socket buffer.
            let data = Arc::new(AtomicBool::new(false));
            let (io2, data2) = (io.clone(), data.clone());
            let driver = thread::spawn(move || {
                data2.store(true, Ordering::Release);
                io2.set_ready(READABLE);
            });
            loop {
                let seen = io.snapshot();
                // The "read": succeeds if data arrived.
                if data.load(Ordering::Acquire) {
                    break;
                }
                io.clear(seen, Direction::Read);
                if let Some(key) = io.register(seen, Direction::Read, thread::current()) {
                    thread::park();
                    io.remove(key);
                }
            }
            driver.join().unwrap();
        });
    }

    /// The drained-read race: a read returns what was there (less than its buffer), the reader
    /// forgets readability (`clear_drained`) and its next read waits without trying; meanwhile
    /// more data comes and the driver reports it. The second read must get it: the edge is
    /// either seen before the clear (which then does nothing) or sets readability after it.
    #[test]
    fn an_edge_after_a_drained_read_is_never_lost() {
        loom::model(|| {
            let io = Arc::new(ScheduledIo::<thread::Thread>::new());
            // The first message's edge; the kernel's socket buffer: messages queued, not read.
            io.set_ready(READABLE);
            let queued = Arc::new(crate::loom::sync::atomic::AtomicUsize::new(1));
            let (io2, queued2) = (io.clone(), queued.clone());
            let driver = thread::spawn(move || {
                queued2.fetch_add(1, Ordering::Release);
                io2.set_ready(READABLE);
            });
            let mut read = 0;
            while read < 2 {
                let seen = io.snapshot();
                if !seen.is_ready(Direction::Read) {
                    // Known empty: wait without trying.
                    if let Some(key) = io.register(seen, Direction::Read, thread::current()) {
                        thread::park();
                        io.remove(key);
                    }
                    continue;
                }
                // The read takes everything queued.
                let n = queued.swap(0, Ordering::Acquire);
                if n == 0 {
                    io.clear(seen, Direction::Read); // WouldBlock
                } else {
                    read += n;
                    io.clear_drained(seen); // a short read: drained
                }
            }
            driver.join().unwrap();
        });
    }

    /// A green thread waits on a source (the hooks' read loop: it gives up once the source is
    /// deregistered) while another thread drops the source's registration (closes the fd): the
    /// waiter is never left parked, whether the drop comes before its snapshot, between its
    /// snapshot and its enqueue, or after it parked.
    #[test]
    fn a_waiter_is_never_left_parked_on_a_dropped_registration() {
        loom::model(|| {
            let io = Arc::new(ScheduledIo::<thread::Thread>::new());
            let io2 = io.clone();
            let closer = thread::spawn(move || io2.deregistered());
            loop {
                let seen = io.snapshot();
                if seen.is_deregistered() {
                    break;
                }
                io.clear(seen, Direction::Read); // the try said `WouldBlock`
                if let Some(key) = io.register(seen, Direction::Read, thread::current()) {
                    thread::park();
                    io.remove(key);
                }
            }
            closer.join().unwrap();
        });
    }

    /// A reader and a writer wait on the same source; a write-readiness edge wakes the writer
    /// and leaves the reader parked in the list.
    #[test]
    fn each_direction_is_woken_by_its_own_edge() {
        loom::model(|| {
            let io = Arc::new(ScheduledIo::<thread::Thread>::new());
            let seen = io.snapshot();
            let key = io.register(seen, Direction::Read, thread::current());
            assert!(key.is_some());
            let io2 = io.clone();
            let writer = thread::spawn(move || {
                let seen = io2.snapshot();
                if let Some(key) = io2.register(seen, Direction::Write, thread::current()) {
                    while !io2.snapshot().is_ready(Direction::Write) {
                        thread::park();
                    }
                    io2.remove(key);
                }
            });
            io.set_ready(WRITABLE);
            writer.join().unwrap();
            assert!(!io.snapshot().is_ready(Direction::Read));
            assert_eq!(io.waiters.lock().list.len(), 1);
        });
    }
}

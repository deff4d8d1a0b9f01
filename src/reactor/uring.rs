//! io_uring for file operations: one ring per worker, used by the green threads it runs. A
//! driver below the runtime, like the reactor: it wakes its waiters through
//! [`Unpark`] and knows nothing of green threads; `zsync::fs`
//! (`fs::uring`) submits and waits, the worker loop calls [`WorkerRing::turn`].
//!
//! # Where things happen
//!
//! - **The ring** ([`Ring`]) is created on a worker's first file operation from a green thread
//!   (`WorkerRing::ring`), and lives in that worker (`Worker::uring`). Only the worker's OS
//!   thread touches it: the green threads it runs submit, and its loop reaps. A started green
//!   thread never changes worker, so the thread that submitted an operation is on the worker
//!   whose ring completes it.
//! - **Waking the worker.** The ring signals an eventfd on every completion
//!   (`IORING_REGISTER_EVENTFD`); the eventfd is registered with the worker's mio `Poll`, so a
//!   worker blocked in `epoll_wait` wakes when a completion arrives. (Edge-triggered: every
//!   signal is a new edge, so the counter is never read.)
//! - **Batching.** A submission only queues its SQE. The worker enters the kernel for all of
//!   them at once when it runs out of green threads to run (`Worker::run_loop` calls
//!   [`WorkerRing::turn`]) and before every poll of its reactor; a burst of [`SUBMIT_BATCH`]
//!   queued SQEs is submitted at once. The same calls reap the completion queue.
//! - **A completion** is stored in its operation's [`Completion`] and then the green thread that
//!   submitted it is unparked; the green thread looks at the stored result before every park
//!   (the hand-off is model-checked with loom below).
//! - **Fallback.** `ZSYNC_IO_URING=0`, or a kernel that refuses the ring (`ENOSYS`, `EPERM`
//!   from `io_uring_disabled` or a seccomp filter, an old kernel without `IORING_REGISTER_PROBE`
//!   or one of the opcodes used here), sends every operation to the blocking pool, as before.
//!   A refusal that is about the kernel (`ENOSYS`, `EPERM`, `EACCES`) is remembered for the
//!   process; any other failure to create a ring only for its worker.
//!
//! # Soundness: the kernel's buffers
//!
//! The kernel writes into (or reads from) an operation's buffer at any time between the
//! submission and the completion. So:
//!
//! - the buffer is a heap `Vec` owned by the operation ([`Op`]), never the caller's slice (that
//!   may be on the green thread's stack); the caller's bytes are copied in or out. It is taken
//!   from the worker's spare list ([`WorkerRing::take_buf`]) and goes back there only once the
//!   completion is reaped (`Op::take_buf` gives nothing before), so a spare buffer is never one
//!   the kernel may still use;
//! - the ring holds a reference to every operation it submitted (`Ring::ops`) and drops it only
//!   when it reaps that operation's completion: whatever the submitting green thread does, the
//!   buffer (and the file, whose fd number the SQE names) lives until then;
//! - the submitting green thread does not return, and does not unwind, before its completion
//!   is reaped. A cancellation or an expired `timeout()` that arrives while it waits wakes it
//!   without raising; it submits `IORING_OP_ASYNC_CANCEL` for its SQE and keeps waiting (its
//!   parks are shielded) until the completion arrives; only then does it raise;
//! - a ring dropped with operations still in flight (a worker that stops while one is stuck:
//!   it should not happen, since every waiter waits) cancels them, and if any is still in
//!   flight leaks the ring and the operations' buffers rather than unmap or free anything the
//!   kernel may still use.

use crate::loom::sync::atomic::{AtomicU8, Ordering};
use crate::loom::UnsafeCell;
use crate::reactor::Unpark;

/// The completion of one operation: the hand-off from the worker that reaps it to the green
/// thread that waits for it.
///
/// The reaper stores the result, publishes it with a release store, and then unparks the
/// waiter. The waiter looks for the result (acquire) before each park, and parks again if it is
/// not there: an unpark that comes before the park leaves a token, one that comes after wakes
/// it, and a wake for any other reason (a cancellation request) finds no result and parks
/// again. So the waiter never misses its completion and never reads the result (or the buffer
/// the kernel wrote before it) early.
pub(crate) struct Completion<W> {
    state: AtomicU8,
    result: UnsafeCell<i32>,
    waiter: W,
}

const PENDING: u8 = 0;
const DONE: u8 = 1;

impl<W: Unpark> Completion<W> {
    pub(crate) fn new(waiter: W) -> Self {
        Completion {
            state: AtomicU8::new(PENDING),
            result: UnsafeCell::new(0),
            waiter,
        }
    }

    /// Reaper side, once per operation: stores `result` and wakes the waiter.
    pub(crate) fn complete(&self, result: i32) {
        // SAFETY: only the reaper writes the result, once, and before it publishes DONE; the
        // waiter reads it only after it has seen DONE (acquire), so the accesses never overlap.
        self.result.with_mut(|r| unsafe { *r = result });
        self.state.store(DONE, Ordering::Release);
        self.waiter.wake();
    }

    /// Waiter side: the result, if the operation has completed.
    pub(crate) fn result(&self) -> Option<i32> {
        if self.state.load(Ordering::Acquire) != DONE {
            return None;
        }
        // SAFETY: DONE was published after the only write (release/acquire): no write can
        // overlap this read.
        Some(self.result.with_mut(|r| unsafe { *r }))
    }
}

pub(crate) use ring::*;

mod ring {
    use super::Completion;
    use crate::env_switch::EnvSwitch;
    use crate::reactor::Unpark;
    use crate::reactor::{Reactor, Registration};
    use io_uring::{opcode, squeue, types, IoUring, Probe};
    use std::cell::{Cell, RefCell};
    use std::fs::File;
    use std::mem::ManuallyDrop;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::rc::Rc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    /// Entries in a ring's submission queue (the completion queue has twice as many).
    const ENTRIES: u32 = 256;
    /// Queued SQEs that are submitted at once rather than at the end of the scheduling round.
    pub(crate) const SUBMIT_BATCH: usize = 32;
    /// The `user_data` of cancellation SQEs, whose completions are not waited for.
    const CANCEL_TAG: u64 = u64::MAX;

    /// Whether io_uring may be used in this process: off with `ZSYNC_IO_URING=0`, or once the
    /// kernel refused a ring.
    static SWITCH: EnvSwitch = EnvSwitch::new("ZSYNC_IO_URING");

    /// File operations submitted to a ring, process-wide (see `zsync::fs::io_uring_ops`).
    pub(crate) static SUBMITTED: AtomicU64 = AtomicU64::new(0);

    fn allowed() -> bool {
        SWITCH.is_on()
    }

    /// One operation: its completion and what the kernel may use until then.
    pub(crate) struct Op<W> {
        completion: Completion<W>,
        /// Written (a read) or read (a write) by the kernel between submission and completion;
        /// touched by nobody else meanwhile.
        buf: std::cell::UnsafeCell<Vec<u8>>,
        /// Keeps the fd number the SQE names open (and the same file) until the completion.
        _file: Arc<File>,
    }

    struct Slot<W> {
        generation: u32,
        op: Option<Rc<Op<W>>>,
    }

    /// A worker's ring and the operations in flight on it.
    pub(crate) struct Ring<W: Unpark> {
        /// Never dropped while an operation is in flight (see `Drop`).
        ring: ManuallyDrop<IoUring>,
        /// Declared before the eventfd: deregistered before it is closed.
        _registration: Registration<W>,
        _eventfd: OwnedFd,
        /// `user_data` is a slot index and the slot's generation: a late cancellation never
        /// targets a later operation that reuses the slot.
        slots: Vec<Slot<W>>,
        free: Vec<u32>,
        in_flight: usize,
        unsubmitted: usize,
        /// IORING_FEAT_RW_CUR_POS: offset -1 reads and writes at the file position, as read(2).
        cur_pos: bool,
    }

    enum State<W: Unpark> {
        Untried,
        Ready(Box<Ring<W>>),
        Off,
    }

    /// The ring slot of a worker: created lazily, or off.
    pub(crate) struct WorkerRing<W: Unpark> {
        state: RefCell<State<W>>,
        /// True once the ring exists: the worker loop's fast check.
        active: Cell<bool>,
        /// Completions reaped and not yet delivered (kept to reuse its allocation).
        reaped: RefCell<Vec<(Rc<Op<W>>, i32)>>,
        /// File operations submitted to this worker's ring (see `zsync::fs::io_uring_submissions`).
        submitted: Cell<u64>,
        /// Buffers of finished operations, for the next ones (see [`WorkerRing::take_buf`]).
        spare: RefCell<SpareBufs>,
    }

    /// Owned buffers kept for reuse by one worker's operations: a read of 4 KiB on the ring
    /// would otherwise allocate, zero and free 4 KiB every time. Only the worker's OS thread
    /// touches them (its green threads take and give back), so no lock. Bounded: at most
    /// [`SPARE_BUFS`] buffers and [`SPARE_BYTES`] of capacity are kept.
    #[derive(Default)]
    struct SpareBufs {
        bufs: Vec<Vec<u8>>,
        bytes: usize,
    }

    /// Buffers a worker keeps for reuse: enough for every green thread of a busy round.
    const SPARE_BUFS: usize = 256;
    /// Capacity a worker keeps in spare buffers: four of `zsync::fs`'s largest (1 MiB) reads.
    const SPARE_BYTES: usize = 4 << 20;

    impl<W: Unpark> Default for WorkerRing<W> {
        fn default() -> Self {
            WorkerRing {
                state: RefCell::new(State::Untried),
                active: Cell::new(false),
                reaped: RefCell::new(Vec::new()),
                submitted: Cell::new(0),
                spare: RefCell::new(SpareBufs::default()),
            }
        }
    }

    impl<W: Unpark> WorkerRing<W> {
        /// Worker loop: submits the queued SQEs and wakes the green threads whose operations
        /// completed. True if it woke any.
        pub(crate) fn turn(&self) -> bool {
            if !self.active.get() {
                return false;
            }
            let mut reaped = self.reaped.take();
            if let State::Ready(ring) = &mut *self.state.borrow_mut() {
                if ring.in_flight > 0 || ring.unsubmitted > 0 {
                    ring.submit();
                    ring.reap(&mut reaped);
                }
            }
            let any = !reaped.is_empty();
            // Outside the borrow: an unpark never comes back here, but nothing needs it held.
            for (op, result) in reaped.drain(..) {
                op.completion.complete(result);
            }
            self.reaped.replace(reaped);
            any
        }

        /// Worker, before it blocks in its reactor: true if completions are waiting (then it
        /// must not block).
        pub(crate) fn has_completions(&self) -> bool {
            if !self.active.get() {
                return false;
            }
            match &mut *self.state.borrow_mut() {
                State::Ready(ring) => {
                    ring.in_flight > 0
                        && (!ring.ring.completion().is_empty()
                            || ring.ring.submission().cq_overflow())
                }
                _ => false,
            }
        }

        /// The ring, created on first use with `reactor` (the worker's) for its eventfd; `None`
        /// if io_uring is off here.
        fn ring(
            &self,
            reactor: Option<&Arc<Reactor<W>>>,
        ) -> Option<std::cell::RefMut<'_, Ring<W>>> {
            let mut state = self.state.borrow_mut();
            if let State::Untried = *state {
                *state = match Ring::new(reactor) {
                    Some(ring) => {
                        self.active.set(true);
                        State::Ready(Box::new(ring))
                    }
                    None => State::Off,
                };
            }
            std::cell::RefMut::filter_map(state, |s| match s {
                State::Ready(ring) => Some(&mut **ring),
                _ => None,
            })
            .ok()
        }
    }

    impl<W: Unpark> Ring<W> {
        fn new(reactor: Option<&Arc<Reactor<W>>>) -> Option<Ring<W>> {
            if !allowed() {
                return None;
            }
            let reactor = reactor?;
            let ring = match IoUring::new(ENTRIES) {
                Ok(ring) => ring,
                Err(e) => {
                    if matches!(
                        e.raw_os_error(),
                        Some(libc::ENOSYS | libc::EPERM | libc::EACCES)
                    ) {
                        SWITCH.turn_off();
                    }
                    return None;
                }
            };
            let mut probe = Probe::new();
            if ring.submitter().register_probe(&mut probe).is_err()
                || ![
                    opcode::Read::CODE,
                    opcode::Write::CODE,
                    opcode::Fsync::CODE,
                    opcode::AsyncCancel::CODE,
                ]
                .iter()
                .all(|&code| probe.is_supported(code))
            {
                SWITCH.turn_off();
                return None;
            }
            // SAFETY: eventfd has no memory-safety preconditions; the result is checked.
            let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
            if fd < 0 {
                return None;
            }
            // SAFETY: `fd` is a new descriptor that nothing else owns.
            let eventfd = unsafe { OwnedFd::from_raw_fd(fd) };
            ring.submitter().register_eventfd(fd).ok()?;
            let registration = reactor.register(fd).ok()?;
            let cur_pos = ring.params().is_feature_rw_cur_pos();
            Some(Ring {
                ring: ManuallyDrop::new(ring),
                _registration: registration,
                _eventfd: eventfd,
                slots: Vec::new(),
                free: Vec::new(),
                in_flight: 0,
                unsubmitted: 0,
                cur_pos,
            })
        }

        /// Enters the kernel for the queued SQEs. An error here (EBUSY when the completion
        /// queue is full, EINTR) leaves them queued for the next round.
        fn submit(&mut self) {
            if self.unsubmitted == 0 {
                return;
            }
            if let Ok(n) = self.ring.submit() {
                self.unsubmitted = self.unsubmitted.saturating_sub(n);
                // The queue may hold fewer than we counted if the kernel took some earlier.
                if self.ring.submission().is_empty() {
                    self.unsubmitted = 0;
                }
            }
        }

        /// Moves the completions in the completion queue to `out`, dropping the ring's
        /// references to those operations' buffers only now that the kernel is done with them.
        fn reap(&mut self, out: &mut Vec<(Rc<Op<W>>, i32)>) {
            loop {
                self.reap_queue(out);
                // More completions than the queue holds wait in the kernel (IORING_FEAT_NODROP)
                // until an enter with GETEVENTS, which `submit` makes when the flag is up.
                if self.in_flight == 0
                    || !self.ring.submission().cq_overflow()
                    || self.ring.submit().is_err()
                {
                    return;
                }
            }
        }

        fn reap_queue(&mut self, out: &mut Vec<(Rc<Op<W>>, i32)>) {
            for cqe in self.ring.completion() {
                let user_data = cqe.user_data();
                if user_data == CANCEL_TAG {
                    continue;
                }
                let (index, generation) = (user_data as u32, (user_data >> 32) as u32);
                let slot = &mut self.slots[index as usize];
                debug_assert_eq!(slot.generation, generation);
                if let Some(op) = slot.op.take() {
                    slot.generation = slot.generation.wrapping_add(1);
                    self.free.push(index);
                    self.in_flight -= 1;
                    out.push((op, cqe.result()));
                }
            }
        }

        /// Queues `entry` (whose pointers are into `op`'s buffer and file) for `op`.
        fn push(&mut self, op: &Rc<Op<W>>, entry: squeue::Entry) -> u64 {
            let index = match self.free.pop() {
                Some(index) => index,
                None => {
                    self.slots.push(Slot {
                        generation: 0,
                        op: None,
                    });
                    (self.slots.len() - 1) as u32
                }
            };
            let slot = &mut self.slots[index as usize];
            slot.op = Some(Rc::clone(op));
            let user_data = (u64::from(slot.generation) << 32) | u64::from(index);
            self.in_flight += 1;
            self.push_entry(entry.user_data(user_data));
            SUBMITTED.fetch_add(1, Ordering::Relaxed);
            user_data
        }

        fn push_entry(&mut self, entry: squeue::Entry) {
            loop {
                // SAFETY: every pointer in the entry is into an `Op` that the ring holds (in
                // `slots`) until the entry's completion is reaped, or (a cancellation) names no
                // memory at all.
                if unsafe { self.ring.submission().push(&entry) }.is_ok() {
                    break;
                }
                // Full: hand the queue to the kernel and try again.
                if self.ring.submit().is_err() {
                    std::thread::yield_now();
                }
                self.unsubmitted = self.ring.submission().len();
            }
            self.unsubmitted += 1;
            if self.unsubmitted >= SUBMIT_BATCH {
                self.submit();
            }
        }

        /// Asks the kernel to cancel the operation `user_data`, at once.
        fn cancel(&mut self, user_data: u64) {
            self.push_entry(
                opcode::AsyncCancel::new(user_data)
                    .build()
                    .user_data(CANCEL_TAG),
            );
            self.submit();
        }
    }

    impl<W: Unpark> Drop for Ring<W> {
        fn drop(&mut self) {
            if self.in_flight > 0 {
                // Every waiter waits for its completion, so a worker should not stop with any
                // in flight; if it does, cancel them and give the kernel a moment.
                let pending: Vec<u64> = self
                    .slots
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.op.is_some())
                    .map(|(i, s)| (u64::from(s.generation) << 32) | i as u64)
                    .collect();
                for user_data in pending {
                    self.cancel(user_data);
                }
                let mut reaped = Vec::new();
                for _ in 0..100 {
                    self.reap(&mut reaped);
                    if self.in_flight == 0 {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                // Nobody waits for these any more: drop without waking.
                reaped.clear();
                if self.in_flight > 0 {
                    // Still in the kernel's hands: leak the buffers (and the ring with them)
                    // rather than free memory the kernel may write.
                    std::mem::forget(std::mem::take(&mut self.slots));
                    return;
                }
            }
            // SAFETY: nothing is in flight: the kernel uses no memory of ours any more, and
            // the ring is not used after this.
            unsafe { ManuallyDrop::drop(&mut self.ring) };
        }
    }

    /// What an operation does with its buffer.
    pub(crate) enum Kind {
        Read { offset: Option<u64> },
        Write { offset: Option<u64> },
        Fsync { data_only: bool },
    }

    impl<W: Unpark> Op<W> {
        /// The operation's result, once its completion has been reaped.
        pub(crate) fn result(&self) -> Option<i32> {
            self.completion.result()
        }

        /// The buffer back, once the completion has been reaped (the kernel is done with it);
        /// `None` before.
        pub(crate) fn take_buf(&self) -> Option<Vec<u8>> {
            self.completion.result()?;
            // SAFETY: the completion was reaped, so the ring dropped its reference and the kernel
            // no longer touches the buffer; only this `Op`'s holder (on its one thread) uses it.
            Some(std::mem::take(unsafe { &mut *self.buf.get() }))
        }
    }

    /// An operation queued on a ring: what its submitter waits on.
    pub(crate) struct Submitted<W> {
        pub(crate) op: Rc<Op<W>>,
        pub(crate) user_data: u64,
    }

    impl<W: Unpark> WorkerRing<W> {
        /// Queues `kind` on `file` with `buf`, for `waiter` to be woken at its completion. Gives
        /// the buffer back if there is no ring (or it cannot read or write at the file position).
        pub(crate) fn submit(
            &self,
            reactor: Option<&Arc<Reactor<W>>>,
            waiter: W,
            file: &Arc<File>,
            buf: Vec<u8>,
            kind: Kind,
        ) -> Result<Submitted<W>, Vec<u8>> {
            let Some(mut ring) = self.ring(reactor) else {
                return Err(buf);
            };
            let at_position = matches!(
                kind,
                Kind::Read { offset: None } | Kind::Write { offset: None }
            );
            if at_position && !ring.cur_pos {
                return Err(buf);
            }
            let op = Rc::new(Op {
                completion: Completion::new(waiter),
                buf: std::cell::UnsafeCell::new(buf),
                _file: Arc::clone(file),
            });
            let fd = types::Fd(file.as_raw_fd());
            // SAFETY: nobody else uses the buffer until the completion (see `Op::buf`); the
            // pointer stays valid because the Vec is not touched meanwhile (its heap block does not
            // move when the Rc does).
            let (ptr, len) = unsafe {
                let buf = &mut *op.buf.get();
                (buf.as_mut_ptr(), buf.len() as u32)
            };
            let entry = match kind {
                Kind::Read { offset } => opcode::Read::new(fd, ptr, len)
                    .offset(offset.unwrap_or(u64::MAX))
                    .build(),
                Kind::Write { offset } => opcode::Write::new(fd, ptr, len)
                    .offset(offset.unwrap_or(u64::MAX))
                    .build(),
                Kind::Fsync { data_only } => {
                    let flags = if data_only {
                        types::FsyncFlags::DATASYNC
                    } else {
                        types::FsyncFlags::empty()
                    };
                    opcode::Fsync::new(fd).flags(flags).build()
                }
            };
            let user_data = ring.push(&op, entry);
            self.submitted.set(self.submitted.get() + 1);
            Ok(Submitted { op, user_data })
        }

        /// Whether this worker has a ring (made now if it was never tried): a caller asks
        /// before it prepares a buffer for [`submit`](Self::submit).
        pub(crate) fn available(&self, reactor: Option<&Arc<Reactor<W>>>) -> bool {
            self.active.get() || self.ring(reactor).is_some()
        }

        /// An owned buffer of exactly `len` initialised bytes (contents unspecified) for an
        /// operation: the spare one given back last that holds `len` bytes, or else the last one
        /// (grown), or a new one.
        pub(crate) fn take_buf(&self, len: usize) -> Vec<u8> {
            let mut spare = self.spare.borrow_mut();
            // Usually the last one: a program's operations tend to have one size.
            let fitting = spare.bufs.iter().rposition(|b| b.len() >= len);
            let taken = match fitting {
                Some(index) => Some(spare.bufs.swap_remove(index)),
                None => spare.bufs.pop(),
            };
            let mut buf = match taken {
                Some(buf) => {
                    spare.bytes -= buf.capacity();
                    buf
                }
                None => Vec::new(),
            };
            drop(spare);
            // A spare buffer keeps its bytes initialised up to its length: only a buffer that
            // grows is zeroed, and only beyond that.
            buf.resize(len, 0);
            buf
        }

        /// Gives a buffer back once its operation has completed (the kernel is done with it).
        pub(crate) fn put_buf(&self, buf: Vec<u8>) {
            let mut spare = self.spare.borrow_mut();
            if spare.bufs.len() < SPARE_BUFS && spare.bytes + buf.capacity() <= SPARE_BYTES {
                spare.bytes += buf.capacity();
                spare.bufs.push(buf);
            }
        }

        /// File operations submitted to this ring so far.
        pub(crate) fn submitted(&self) -> u64 {
            self.submitted.get()
        }

        /// Asks the kernel to cancel a submitted operation, then delivers what has completed. The
        /// submitter still waits for its completion.
        pub(crate) fn cancel(&self, user_data: u64) {
            if let State::Ready(ring) = &mut *self.state.borrow_mut() {
                ring.cancel(user_data);
            }
            self.turn();
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use crate::loom::sync::atomic::AtomicBool;
    use crate::loom::sync::Arc;
    use crate::loom::thread;

    /// What the kernel writes, owned by the operation: written before the completion is
    /// stored, read by the waiter only after it saw the result. Loom flags any overlap.
    struct Op {
        completion: Completion<thread::Thread>,
        buf: UnsafeCell<u32>,
    }

    /// The waiter's loop, as `ring::wait` runs it: result first, park otherwise.
    fn wait(op: &Op) -> i32 {
        loop {
            if let Some(result) = op.completion.result() {
                return result;
            }
            thread::park();
        }
    }

    /// The reaper stores the completion and unparks while the waiter checks and parks: the
    /// waiter always gets the result, never early, and reads the buffer only after it.
    #[test]
    fn a_completion_is_never_missed_or_read_early() {
        loom::model(|| {
            let op = Arc::new(Op {
                completion: Completion::new(thread::current()),
                buf: UnsafeCell::new(0),
            });
            let reaper = {
                let op = op.clone();
                thread::spawn(move || {
                    // SAFETY: the "kernel" owns the buffer until the completion (loom checks).
                    op.buf.with_mut(|b| unsafe { *b = 42 });
                    op.completion.complete(4);
                })
            };
            assert_eq!(wait(&op), 4);
            // SAFETY: the completion was seen; loom checks the ordering.
            assert_eq!(op.buf.with_mut(|b| unsafe { *b }), 42);
            reaper.join().unwrap();
        });
    }

    /// A waiter that never parks (it spins, yielding): the result and the buffer are published
    /// by the completion's own store, not by the synchronisation an unpark happens to give.
    #[test]
    fn the_store_alone_publishes_the_result() {
        struct NoWake;
        impl Unpark for NoWake {
            fn wake(&self) {}
        }
        struct SpinOp {
            completion: Completion<NoWake>,
            buf: UnsafeCell<u32>,
        }
        loom::model(|| {
            let op = Arc::new(SpinOp {
                completion: Completion::new(NoWake),
                buf: UnsafeCell::new(0),
            });
            let reaper = {
                let op = op.clone();
                thread::spawn(move || {
                    // SAFETY: the "kernel" owns the buffer until the completion (loom checks).
                    op.buf.with_mut(|b| unsafe { *b = 9 });
                    op.completion.complete(3);
                })
            };
            let result = loop {
                if let Some(result) = op.completion.result() {
                    break result;
                }
                thread::yield_now();
            };
            assert_eq!(result, 3);
            // SAFETY: the completion was seen; loom checks the ordering.
            assert_eq!(op.buf.with_mut(|b| unsafe { *b }), 9);
            drop(reaper);
        });
    }

    /// A cancellation request wakes the waiter while the operation is in flight: it asks for
    /// the cancellation and keeps waiting; it returns only with the completion (here the
    /// cancelled one), after which the buffer is its own.
    #[test]
    fn a_cancelled_waiter_still_waits_for_its_completion() {
        loom::model(|| {
            let op = Arc::new(Op {
                completion: Completion::new(thread::current()),
                buf: UnsafeCell::new(0),
            });
            let cancel_requested = Arc::new(AtomicBool::new(false));
            let cancel_sent = Arc::new(AtomicBool::new(false));
            let me = thread::current();
            let canceller = {
                let flag = cancel_requested.clone();
                thread::spawn(move || {
                    flag.store(true, Ordering::Release);
                    me.unpark();
                })
            };
            let reaper = {
                let (op, sent) = (op.clone(), cancel_sent.clone());
                thread::spawn(move || {
                    // SAFETY: the "kernel" owns the buffer until the completion (loom checks).
                    op.buf.with_mut(|b| unsafe { *b = 7 });
                    // Completes with -ECANCELED if the cancellation got there first.
                    let result = if sent.load(Ordering::Acquire) {
                        -125
                    } else {
                        1
                    };
                    op.completion.complete(result);
                })
            };
            let mut sent = false;
            let result = loop {
                if let Some(result) = op.completion.result() {
                    break result;
                }
                if !sent && cancel_requested.load(Ordering::Acquire) {
                    sent = true;
                    cancel_sent.store(true, Ordering::Release);
                    continue;
                }
                thread::park();
            };
            assert!(result == 1 || result == -125);
            // SAFETY: the completion was seen; loom checks the ordering.
            assert_eq!(op.buf.with_mut(|b| unsafe { *b }), 7);
            // Not joined: loom's join cannot wait while an unpark token is pending, and the
            // model ends when every thread has.
            drop((canceller, reaper));
        });
    }
}

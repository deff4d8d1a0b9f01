//! A green thread: its identity, its park state, and the state only it and its worker touch.
//!
//! Life cycle: created by `runtime::spawn` (spawn.rs) with its closure (`Body::New`), put in a
//! run queue; the first worker to run it becomes its owner for good, gives it a stack from its
//! pool and turns it into a `Context` (`Body::Running`, worker.rs `start`); it parks in
//! `runtime::park` and is woken by [`TaskRef::unpark`] through [`ParkState`] (on its owner's
//! OS thread) or a post to its owner's inbox (from any other); when its closure returns the
//! worker gives its stack back to the pool (`Body::Done`, worker.rs `run_task`).
//!
//! The files here: the task itself (this file), its [`ThreadId`](id) and public
//! [`Thread`](handle) handle (also for OS threads), its park word (`park_state`), its join
//! packet and [`JoinHandle`](join) (`join`), its cancellation state (`cancel`), and the panic
//! hook that names green threads (`panic_hook`).

pub(crate) mod cancel;
pub(crate) mod cell;
pub(crate) mod handle;
pub(crate) mod id;
pub(crate) mod join;
pub(crate) mod panic_hook;
pub(crate) mod park_state;

use super::dump::WaitReason;
use super::worker::Worker;
use super::{Live, Shared};
use crate::coro::{Context, Stack, Suspender};
use cancel::ParkPoint;
use id::ThreadId;
use park_state::{FarWake, ParkState, Wake};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;

pub(crate) use cell::{TaskRef, Unstarted};

/// No worker owns a green thread that has not started.
pub(crate) const NO_OWNER: u32 = u32::MAX;

/// How a new green thread's closure is started: run it, or drop it unrun, which completes its
/// join packet with the reason: no stack could be mapped (`Fail`), or the runtime shut down
/// first (`Cancel`: the joiner sees [`Cancelled`](cancel::Cancelled)).
pub(crate) enum Start {
    Run,
    Fail(std::io::Error),
    Cancel,
}

pub(crate) enum Body {
    /// Not started. The stack is mapped lazily, by the worker that starts the thread, unless the
    /// thread asked for a size of its own (or mapping is failing, see `Shared::stack_exhausted`):
    /// short-lived threads then reuse one pooled stack instead of each mapping one at spawn.
    /// `f` starts the spawned closure, which sits with its join packet in the task's own
    /// allocation (see `cell`); dropped unused, it cancels the closure.
    New {
        /// Boxed: only a thread with a stack size of its own has one, and every task has room
        /// for the largest variant.
        stack: Option<Box<Stack>>,
        f: Unstarted,
        live: Live,
    },
    /// Started: `f` has moved onto the context's own stack.
    Running {
        context: Context,
        /// Held until the thread is `Done` (given back by its worker, `Live::leave_on`, or
        /// dropped).
        live: Live,
    },
    /// Finished, failed to start, or abandoned: its count in `Shared::live` went with `live`.
    Done,
}

/// Why a green thread suspended, for its worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reason {
    Yield,
    Park,
}

/// The state of a started green thread that only it and its owner worker touch, on the
/// owner's OS thread, never at the same time (the worker touches it only while the thread is
/// suspended). It lives in the thread's first frame (worker.rs `entry`), on its own stack, from
/// its first run until its closure has returned: a parked green thread's first page holds it
/// anyway, and its task on the heap stays small (see `Task::local`).
pub(crate) struct Local {
    /// Lives on the same stack, a few frames below.
    pub(crate) suspender: *const Suspender,
    /// What it waits on: stored by the parking call as it suspends (for `Runtime::dump`).
    pub(crate) wait: WaitReason,
    /// When it parked, on its runtime's coarse clock (`Shared::clock`): stored by its worker
    /// as it commits the park.
    pub(crate) parked_at: u64,
    /// Cancellation, timeouts, shielding and the unwinding state.
    pub(crate) park_point: ParkPoint,
}

impl Local {
    pub(crate) fn new(suspender: &Suspender) -> Local {
        Local {
            suspender,
            wait: WaitReason::Park,
            parked_at: 0,
            park_point: ParkPoint::new(),
        }
    }
}

/// The worker's bookkeeping of a green thread, in its task: touched like [`Local`], but also
/// before the first run and after the last (by the worker that holds the task then).
pub(crate) struct Sched {
    /// Why it last suspended: stored by the green thread, read by its worker.
    pub(crate) reason: Reason,
    /// Parked and counted in its worker's `parked` gauge.
    pub(crate) parked: bool,
    /// Its slot in its worker's `OwnedTasks`, from its start on.
    pub(crate) owned_slot: u32,
}

pub(crate) struct Task {
    /// The count of [`TaskRef`]s (see `cell`).
    refs: AtomicUsize,
    /// The way to the rest of the task's allocation (see `cell`).
    vtable: &'static cell::Vtable,
    /// Declared (so dropped) before `shared`: the body's `Live` guard points into it. Touched
    /// like [`Sched`].
    body: UnsafeCell<Body>,
    /// Where its [`Local`] is, on its stack: null before its first run and after its closure
    /// has returned (the frame that holds it publishes it and clears it).
    local: UnsafeCell<*mut Local>,
    sched: UnsafeCell<Sched>,
    pub(crate) id: ThreadId,
    pub(crate) name: Option<Arc<str>>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) park: ParkState,
    pub(crate) cancel: AtomicBool,
    /// Its `park`/`unpark` token, apart from `park`'s, which every wait takes (see
    /// `Thread::unpark`).
    pub(crate) unpark_token: AtomicBool,
    /// The index of the worker that runs it, fixed at its first run (a `u32`: the builder
    /// allows at most `MAX_WORKER_THREADS`).
    pub(crate) owner: AtomicU32,
}

// SAFETY: everything but `body`, `local` and `sched` is Sync by itself. Those are touched only
// on the owner worker's OS thread (or, before the first run, by whoever holds the task
// exclusively: the spawner, then the worker that took it from a queue, with the queue's
// synchronisation in between), and there only by one party at a time: the green thread while
// it runs, the worker while it is suspended. The token in its body is Send; `local` points
// into the green thread's own stack, which only that OS thread runs.
unsafe impl Sync for Task {}
// SAFETY: as above.
unsafe impl Send for Task {}

impl Task {
    /// A new green thread, not started, whose closure and join packet are `tail` (see `cell`);
    /// spawned on worker `spawner` of `shared` (`None`: on another thread). Returns two
    /// references to it, one for a run queue and one for its handle: counted in as the cell is
    /// written, with no atomic increment on it after.
    pub(crate) fn allocate<X: cell::Tail>(
        shared: Arc<Shared>,
        spawner: Option<usize>,
        name: Option<Arc<str>>,
        stack: Option<Box<Stack>>,
        tail: X,
    ) -> (TaskRef, TaskRef) {
        // SAFETY: the guard lives in the task's body, which is dropped before the task's own
        // `Arc<Shared>` (field order, and `cell`'s free drops the body first); the caller runs
        // on `spawner`.
        let live = unsafe { Live::enter_on(&shared, spawner) };
        let task = TaskRef::new(
            |vtable| Task {
                refs: AtomicUsize::new(2),
                vtable,
                id: ThreadId::next(),
                name,
                shared,
                park: ParkState::new(),
                cancel: AtomicBool::new(false),
                unpark_token: AtomicBool::new(false),
                owner: AtomicU32::new(NO_OWNER),
                body: UnsafeCell::new(Body::Done),
                local: UnsafeCell::new(std::ptr::null_mut()),
                sched: UnsafeCell::new(Sched {
                    reason: Reason::Yield,
                    parked: false,
                    owned_slot: u32::MAX,
                }),
            },
            tail,
        );
        // SAFETY: the one token of this task, kept in its body.
        let f = unsafe { task.unstarted() };
        // SAFETY: nobody else has seen the task yet. (A write: the `Done` placeholder needs no
        // drop.)
        unsafe { std::ptr::write(task.body(), Body::New { stack, f, live }) };
        // SAFETY: the count was made 2 above: `task` is one reference, this is the other.
        let second = unsafe { TaskRef::from_raw(TaskRef::as_ptr(&task)) };
        (task, second)
    }

    /// The green thread's body: new, running (its context) or done.
    ///
    /// # Safety
    /// The caller is the green thread itself, running, or its worker while it is suspended (or
    /// whoever holds the task exclusively before its first run or after its last), and drops
    /// the reference before the other party can run.
    #[allow(clippy::mut_from_ref)]
    #[inline]
    pub(crate) unsafe fn body(&self) -> &mut Body {
        // SAFETY: exclusivity is the caller's promise (see above).
        unsafe { &mut *self.body.get() }
    }

    /// The worker's bookkeeping of the green thread.
    ///
    /// # Safety
    /// As for [`body`](Self::body).
    #[allow(clippy::mut_from_ref)]
    #[inline]
    pub(crate) unsafe fn sched(&self) -> &mut Sched {
        // SAFETY: exclusivity is the caller's promise (see above).
        unsafe { &mut *self.sched.get() }
    }

    /// The green thread's local state, on its stack.
    ///
    /// # Safety
    /// As for [`body`](Self::body), and the thread has run and its closure has not returned:
    /// it is the caller, inside its closure, or it is suspended.
    #[allow(clippy::mut_from_ref)]
    #[inline]
    pub(crate) unsafe fn local(&self) -> &mut Local {
        // SAFETY: the caller's promise: published by the frame that holds it, which is alive.
        unsafe {
            let local = *self.local.get();
            debug_assert!(
                !local.is_null(),
                "a green thread's local state before or after its run"
            );
            &mut *local
        }
    }

    /// [`local`](Self::local) for a green thread that may not have run yet or may have
    /// finished: `None` then.
    ///
    /// # Safety
    /// As for [`body`](Self::body).
    #[allow(clippy::mut_from_ref)]
    #[inline]
    pub(crate) unsafe fn try_local(&self) -> Option<&mut Local> {
        // SAFETY: exclusivity is the caller's promise; a non-null pointer was published by the
        // frame that holds the state, which clears it before it goes.
        unsafe { (*self.local.get()).as_mut() }
    }

    /// Publishes (or, with null, withdraws) where the green thread's [`Local`] is.
    ///
    /// # Safety
    /// The caller is the green thread itself, running; a non-null `local` stays valid until
    /// the caller withdraws it.
    #[inline]
    pub(crate) unsafe fn set_local(&self, local: *mut Local) {
        // SAFETY: only the running green thread writes it (the caller's promise), and nobody
        // else reads it while it runs.
        unsafe { *self.local.get() = local };
    }
}

impl TaskRef {
    /// Wakes the green thread, or leaves it a token if it is not parked. On its owner's OS
    /// thread the wake is a plain change of its park word, and a parked thread goes to the back
    /// of the worker's ready queue; from any other thread a started green thread's wake is
    /// posted to its owner's inbox (see `park_state`).
    #[inline]
    pub(crate) fn unpark(&self) {
        let owner = self.owner.load(Ordering::Relaxed);
        // `owner` is this worker's index only if this worker started the thread (the one
        // writer of that index), so the thread is claimed by this OS thread.
        match super::context::current().worker_at(&self.shared, owner as usize) {
            Some(worker) => self.wake_on(worker),
            None => self.wake_from_afar(),
        }
    }

    /// The wake on the owner's OS thread, `worker` (the caller's promise: it checked): the
    /// park word's change, and the ready queue's back for a thread that was parked.
    #[inline]
    pub(crate) fn wake_on(&self, worker: &Worker) {
        if let Some(task) = self.wake_here() {
            worker.push_ready(task);
        }
    }

    /// The park-word half of a wake on the green thread's owner OS thread (the caller's
    /// promise: its worker's timers, its inbox, or [`unpark`](Self::unpark) after checking):
    /// wakes the green thread or leaves it a token. If it was parked, returns the reference its
    /// park held (see `Worker::after_suspend`), for the caller to queue on this worker: a park
    /// and a local wake change no count.
    #[inline]
    pub(crate) fn wake_here(&self) -> Option<TaskRef> {
        (self.park.wake_here() == Wake::Schedule).then(|| {
            // SAFETY: the park kept a reference (`after_suspend` forgets it only when the
            // commit to `PARKED` succeeded), and moving the thread out of `PARKED` made this
            // waker its only taker.
            unsafe { TaskRef::from_raw(TaskRef::as_ptr(self)) }
        })
    }

    /// A wake from an OS thread other than the owner's: a token in the park word of a thread
    /// that has not started, or a post to the owner's inbox (a wake that finds an earlier one
    /// not yet delivered rides on it and posts nothing).
    #[inline(never)]
    fn wake_from_afar(&self) {
        if self.park.wake_from_afar() == FarWake::Post && self.park.post() {
            // Read after `wake_from_afar` saw the claim, which published it.
            let owner = self.owner.load(Ordering::Relaxed) as usize;
            self.shared.workers[owner].post(&self.shared, owner, self.clone());
        }
    }

    /// Asks the green thread to stop at its next park point, and wakes it.
    pub(crate) fn request_cancel(&self) {
        self.cancel.store(true, Ordering::Release);
        self.unpark();
    }
}
#[cfg(all(test, not(loom), target_pointer_width = "64"))]
mod tests {
    /// Every green thread carries its task (and its stack's first page) for its whole life: a
    /// million parked green threads hold a million tasks. A field that grows the task shows
    /// here first (it was 256 bytes before the stack, the context and the park point slimmed,
    /// 184 before the context's stack moved into its header and the thread's local state onto
    /// its own stack).
    #[test]
    fn a_task_stays_within_104_bytes() {
        use std::mem::size_of;
        // The corosensei fallback's context is a different size.
        #[cfg(not(feature = "corosensei-backend"))]
        assert!(
            size_of::<super::Task>() <= 104,
            "{}",
            size_of::<super::Task>()
        );
        assert!(size_of::<crate::coro::Stack>() <= 40);
        assert!(size_of::<super::ParkPoint>() <= 16);
    }
}

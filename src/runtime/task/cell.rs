//! A green thread's one allocation: the [`Task`] header, followed by a tail of the spawner's
//! choosing (the spawned closure and the join packet its result goes to, see
//! `runtime::spawn`), counted by [`TaskRef`], zsync's own `Arc` for tasks.
//!
//! Why not `Arc<Task>` plus a boxed closure plus an `Arc` join packet: that is three trips to
//! malloc and three to free per spawn, 36% of the instructions of a spawn + join (callgrind,
//! B2). tokio's task cell makes the same choice. The header is at offset 0 of a `#[repr(C)]`
//! [`Cell`], so a `TaskRef` is a thin pointer (it fits an `AtomicPtr`, see `next_slot`), and
//! the generic tail is reached through the header's [`Vtable`]:
//! - `start` runs the closure (or fails or cancels it unrun) exactly once; only the
//!   [`Unstarted`] token, one per task, calls it;
//! - `free` drops the cell and frees it, when the last `TaskRef` goes.
//!
//! The count works as `Arc`'s: a clone is a relaxed increment (a new reference is made from an
//! existing one, which keeps the task alive), a drop a release decrement, and the dropper that
//! takes it to zero synchronises with every earlier drop (an acquire fence) before freeing.

use super::{Body, Start, Task};
use crate::coro::{prefetch, CACHE_LINE};
use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::{fence, Ordering};

/// Past this many references the count could overflow: abort, as `Arc` does.
const MAX_REFS: usize = isize::MAX as usize;

/// What a task's allocation holds after its header: the spawned closure, and where its result
/// goes.
pub(crate) trait Tail: Send + 'static {
    /// Runs the closure (`Start::Run`), or drops it unrun and reports why; then completes the
    /// join packet.
    ///
    /// # Safety
    /// Called at most once per tail (by its task's [`Unstarted`] token).
    unsafe fn start(&self, start: Start);
}

/// The header's way to the tail of its cell.
pub(crate) struct Vtable {
    /// `Tail::start` of the cell's tail.
    start: unsafe fn(NonNull<Task>, Start),
    /// Drops the whole cell and frees it.
    free: unsafe fn(NonNull<Task>),
}

/// The allocation: the header first (`repr(C)`: at offset 0, so a pointer to the cell is a
/// pointer to its task), then the tail.
#[repr(C)]
struct Cell<X> {
    task: Task,
    tail: X,
}

impl<X: Tail> Cell<X> {
    const VTABLE: &'static Vtable = &Vtable {
        start: Self::start,
        free: Self::free,
    };

    /// # Safety
    /// `task` is the header of a live `Cell<X>`; see `Tail::start`.
    unsafe fn start(task: NonNull<Task>, start: Start) {
        let cell = task.cast::<Cell<X>>().as_ptr();
        // SAFETY: the cell is live (the caller's promise); a shared reference to the tail
        // alone, which is never borrowed mutably (its state is in cells of its own).
        let tail = unsafe { &*std::ptr::addr_of!((*cell).tail) };
        // SAFETY: once per tail, the caller's promise.
        unsafe { tail.start(start) }
    }

    /// # Safety
    /// `task` is the header of a `Cell<X>` made by [`TaskRef::new`], and no reference to it is
    /// left.
    unsafe fn free(task: NonNull<Task>) {
        let cell = task.cast::<Cell<X>>().as_ptr();
        // The body first, on its own: if the thread never started, its `Unstarted` token
        // cancels the closure, which reaches the tail while the header is still whole (and
        // before anything holds the cell as a whole).
        // SAFETY: nobody else holds the task (the last reference is gone), so its local state
        // is ours.
        let body = unsafe { (*cell).task.body() };
        if !matches!(body, Body::Done) {
            drop(std::mem::replace(body, Body::Done));
        }
        // SAFETY: made by `Box::into_raw` in `TaskRef::new`, freed once (the count hit zero).
        drop(unsafe { Box::from_raw(cell) });
    }
}

/// A counted reference to a task, as `Arc<Task>` would be (see the module docs).
pub(crate) struct TaskRef {
    ptr: NonNull<Task>,
}

// SAFETY: a `TaskRef` gives shared access to a `Task`, which is Send and Sync, and the count is
// atomic. The tail is `Send` (the last reference frees it on any thread); it is reached only by
// the task's one `Unstarted` token and by the join handle's share of the packet (`Sync`).
unsafe impl Send for TaskRef {}
// SAFETY: as above.
unsafe impl Sync for TaskRef {}

impl TaskRef {
    /// Allocates `task` with `tail` behind it; returns the first reference and the token that
    /// starts (or cancels) the closure in `tail` (the task's body keeps it until then).
    #[inline(always)] // one caller per tail type; inlined, the cell is written in place
    pub(crate) fn new<X: Tail>(task: impl FnOnce(&'static Vtable) -> Task, tail: X) -> TaskRef {
        // Written field by field into the allocation: `Box::new(Cell { .. })` built the cell on
        // the stack and copied it (a ~400-byte memcpy per spawn).
        let mut cell = Box::<Cell<X>>::new_uninit();
        let p = cell.as_mut_ptr();
        // SAFETY: `p` points to the new allocation, valid for writes of a `Cell<X>`; both
        // fields are written before `assume_init`.
        let cell = unsafe {
            std::ptr::addr_of_mut!((*p).task).write(task(Cell::<X>::VTABLE));
            std::ptr::addr_of_mut!((*p).tail).write(tail);
            cell.assume_init()
        };
        let ptr = NonNull::from(Box::leak(cell)).cast::<Task>();
        TaskRef { ptr }
    }

    /// Whether both are the same task.
    #[cfg(zsync_hand_over)]
    #[inline]
    pub(crate) fn ptr_eq(a: &TaskRef, b: &TaskRef) -> bool {
        a.ptr == b.ptr
    }

    pub(crate) fn as_ptr(this: &TaskRef) -> *const Task {
        this.ptr.as_ptr()
    }

    /// Asks the CPU for the task's cache lines, ahead of a switch to it (see
    /// `Worker::prefetch_queued`).
    #[inline(always)]
    pub(crate) fn prefetch(this: &TaskRef) {
        let task = this.ptr.as_ptr().cast::<u8>();
        // Every line the task touches, from the one holding its first byte: the allocation is
        // not line-aligned, so its (at most) 104 bytes can span three lines.
        let end = task.wrapping_add(std::mem::size_of::<Task>());
        let mut line = task.wrapping_sub(task as usize % CACHE_LINE);
        while line < end {
            prefetch(line);
            line = line.wrapping_add(CACHE_LINE);
        }
    }

    /// The reference as a raw pointer, for `from_raw`.
    pub(crate) fn into_raw(this: TaskRef) -> *const Task {
        std::mem::ManuallyDrop::new(this).ptr.as_ptr()
    }

    /// # Safety
    /// `ptr` came from `into_raw`, and that reference is given back only once (or the result
    /// is never dropped).
    pub(crate) unsafe fn from_raw(ptr: *const Task) -> TaskRef {
        // SAFETY: not null: it came from a `TaskRef`.
        TaskRef {
            ptr: unsafe { NonNull::new_unchecked(ptr.cast_mut()) },
        }
    }

    /// The task's tail.
    ///
    /// # Safety
    /// The task was made with a tail of type `X`.
    pub(crate) unsafe fn tail<X>(&self) -> &X {
        let cell = self.ptr.cast::<Cell<X>>().as_ptr();
        // SAFETY: the reference keeps the cell alive; its type is the caller's promise.
        unsafe { &*std::ptr::addr_of!((*cell).tail) }
    }

    /// The token that starts the task's closure.
    ///
    /// # Safety
    /// Called once per task, by `Task::allocate`, which keeps the token in the task's body.
    pub(crate) unsafe fn unstarted(&self) -> Unstarted {
        Unstarted { task: self.ptr }
    }
}

impl Deref for TaskRef {
    type Target = Task;

    #[inline]
    fn deref(&self) -> &Task {
        // SAFETY: the reference keeps the task alive.
        unsafe { self.ptr.as_ref() }
    }
}

impl Clone for TaskRef {
    #[inline]
    fn clone(&self) -> TaskRef {
        // Relaxed: a reference is made from one we hold (see the module docs).
        if self.refs.fetch_add(1, Ordering::Relaxed) > MAX_REFS {
            std::process::abort();
        }
        TaskRef { ptr: self.ptr }
    }
}

impl Drop for TaskRef {
    #[inline]
    fn drop(&mut self) {
        if self.refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        // Every other reference's uses happen before the free.
        fence(Ordering::Acquire);
        let free = self.vtable.free;
        // SAFETY: the count hit zero: this was the last reference, and the cell came from
        // `TaskRef::new` with this vtable.
        unsafe { free(self.ptr) }
    }
}

/// The right to start a task's closure, once: held by its body until a worker starts the
/// thread (then by the thread's first frame). Dropped unused, it cancels the closure: its
/// joiner sees the thread cancelled.
pub(crate) struct Unstarted {
    task: NonNull<Task>,
}

// SAFETY: it only calls the tail's `start`, which runs or drops a `Send` closure.
unsafe impl Send for Unstarted {}

impl Unstarted {
    /// Runs the closure (or fails it) and completes the join packet.
    pub(crate) fn start(self, start: Start) {
        let task = std::mem::ManuallyDrop::new(self).task;
        // SAFETY: the task outlives its token (the token sits in its body, or in the frames
        // of a worker or green thread that hold a reference); one token per task, consumed
        // here.
        unsafe { start_tail(task, start) }
    }
}

impl Drop for Unstarted {
    fn drop(&mut self) {
        // SAFETY: as in `start`; this is the token's only use.
        unsafe { start_tail(self.task, Start::Cancel) }
    }
}

/// # Safety
/// See [`Unstarted::start`].
unsafe fn start_tail(task: NonNull<Task>, start: Start) {
    // Read through the pointer, without a reference to the whole task: `Cell::free` may be
    // dropping its body (this token in it) right now.
    // SAFETY: the header is live (the caller's promise); `vtable` is never written after
    // `TaskRef::new`.
    let vtable = unsafe { std::ptr::addr_of!((*task.as_ptr()).vtable).read() };
    // SAFETY: the caller's promise.
    unsafe { (vtable.start)(task, start) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_task_ref_is_one_pointer() {
        assert_eq!(std::mem::size_of::<TaskRef>(), std::mem::size_of::<usize>());
        assert_eq!(
            std::mem::size_of::<Option<TaskRef>>(),
            std::mem::size_of::<usize>()
        );
    }
}

//! `Context` on the hand-written switch in `asm/`.
//!
//! Stack layout of a context, from the top down: a small [`Header`] (the parent link, the
//! unwinding flag, the overflow report's facts, how to drop a closure that never ran, the
//! `Stack` itself), the
//! closure (moved out by the entry function on first resume), the four-word initial frame, then
//! the context's own frames.

use super::arch;
use super::overflow::{self, StackInfo};
use super::prefetch::{prefetch, CACHE_LINE};
use super::started;
use super::unwind::{self, Finished, RESUME, UNWIND};
use super::{Resumed, Stack};
use std::cell::Cell;
use std::marker::PhantomData;
use std::mem::{align_of, size_of, ManuallyDrop};
use std::ptr;
use std::sync::{Arc, Weak};

/// How many cache lines above a suspended context's stack pointer `prefetch_stack` asks for:
/// the switch's saved registers and the few frames a parked green thread returns through
/// first (its park, its wait, its I/O loop).
const RESUME_LINES: usize = 16;

/// Lives at the top of the context's stack, so that it never moves while the `Context` value
/// that owns the stack does.
#[repr(C)]
struct Header {
    /// The parent's stack pointer while the context runs; written by `resume` in asm.
    link: *mut u8,
    /// Weak twin of the token of a forced unwind in flight on this stack (see `unwind`).
    unwind_token: Cell<Weak<()>>,
    /// For the overflow handler, which lists it from the first resume to the finish; here
    /// because it must not move meanwhile.
    info: StackInfo,
    /// The closure's slot on the stack and how to drop it, for a context that never ran. Here,
    /// not in `Context`, because only a context dropped unstarted needs them: every green
    /// thread's task holds a `Context`, so its bytes count per thread.
    closure: *mut u8,
    drop_closure: unsafe fn(*mut u8),
    /// The stack this header lies on: taken out (moved off the stack it describes) as the
    /// context gives it back or drops it. Here, not in `Context`, for the same reason: 40
    /// bytes less in every green thread's task.
    stack: ManuallyDrop<Stack>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    NotStarted,
    /// Started and not finished: suspended, or running (nothing records that a context runs:
    /// its parent is inside `resume` meanwhile).
    Suspended,
    Finished,
    /// Suspended, but could not be unwound (`panic = "abort"`): the stack is leaked.
    Abandoned,
}

/// The free stack a suspended context needs below its saved stack pointer for
/// [`Context::backtrace`] (the unwinder's own frames).
#[cfg(target_arch = "x86_64")]
pub(crate) const BACKTRACE_ROOM: usize = 24 * 1024;

/// A function running on its own stack, which can suspend itself and be resumed.
///
/// This is the stackful core under zsync's green threads; it knows nothing about scheduling. A
/// panic inside the function is caught at the context's entry and returned by
/// [`resume`](Context::resume); it never unwinds across the switch. Dropping a suspended context
/// unwinds its stack first, so every destructor on it runs.
///
/// A `Context` is neither `Send` nor `Sync`: once started, its stack may hold anything the
/// closure put there, including values tied to the current OS thread.
///
/// ```
/// use zsync::coro::{Context, Resumed, Stack};
/// use std::{cell::Cell, rc::Rc};
///
/// let steps = Rc::new(Cell::new(0));
/// let seen = steps.clone();
/// let mut ctx = Context::new(Stack::new(64 * 1024)?, move |s| {
///     seen.set(1);
///     s.suspend();
///     seen.set(2);
/// });
/// assert!(matches!(ctx.resume(), Resumed::Suspended));
/// assert_eq!(steps.get(), 1);
/// assert!(matches!(ctx.resume(), Resumed::Finished(Ok(()))));
/// assert_eq!(steps.get(), 2);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Context {
    /// Saved stack pointer while not running.
    sp: *mut u8,
    /// On the stack, whose description it holds.
    header: *mut Header,
    state: State,
}

/// What a resume brought back (see [`Context::settle`]).
pub(crate) struct Returned(arch::Transfer);

/// The handle a context's function uses to suspend itself. Only reachable inside the context.
pub struct Suspender {
    link: *mut *mut u8,
    unwind_token: *const Cell<Weak<()>>,
    _not_send: PhantomData<*mut ()>,
}

impl Context {
    /// Prepares `f` to run on `stack`. Nothing runs until the first [`resume`](Self::resume).
    #[inline]
    pub fn new<F>(stack: Stack, f: F) -> Context
    where
        F: FnOnce(&Suspender) + 'static,
    {
        // A huge closure would eat the stack it is about to run on: box it instead.
        if !super::closure_fits::<F>(&stack) {
            let boxed = Box::new(f);
            return Self::place(stack, move |s: &Suspender| boxed(s));
        }
        Self::place(stack, f)
    }

    #[inline]
    fn place<F: FnOnce(&Suspender) + 'static>(stack: Stack, f: F) -> Context {
        let top = stack.top() as usize;
        let header = (top - size_of::<Header>()) & !15;
        let slot = (header - size_of::<F>()) & !(align_of::<F>().max(16) - 1);
        // SAFETY: header, closure slot and initial frame all lie in the top quarter of a stack
        // we own and that nothing runs on yet; the addresses are suitably aligned.
        let guard = stack.guard();
        let info = StackInfo::new(guard, stack.size());
        let sp = unsafe {
            (header as *mut Header).write(Header {
                link: ptr::null_mut(),
                unwind_token: Cell::new(Weak::new()),
                info,
                closure: slot as *mut u8,
                drop_closure: drop_closure::<F>,
                stack: ManuallyDrop::new(stack),
            });
            (slot as *mut F).write(f);
            arch::init_frame(
                slot as *mut u8,
                entry::<F>,
                header as *mut u8,
                slot as *mut u8,
            )
        };
        Context {
            sp,
            header: header as *mut Header,
            state: State::NotStarted,
        }
    }

    /// Names the context in stack overflow reports.
    pub fn set_name(&mut self, name: Arc<str>) {
        // SAFETY: the header is ours and the context is not running (we hold &mut self).
        unsafe { (*self.header).info.name = Some(name) };
    }

    /// Runs the context until it suspends or finishes.
    ///
    /// # Panics
    /// If the context has already finished.
    #[inline]
    pub fn resume(&mut self) -> Resumed {
        if self.state != State::Suspended {
            // SAFETY: the header is ours, and not listed unless the context was started.
            unsafe { first_resume(self.state, &raw const (*self.header).info) };
            self.state = State::Suspended;
        }
        self.switch(RESUME)
    }

    #[inline]
    fn switch(&mut self, arg: usize) -> Resumed {
        // SAFETY: `self` may be resumed (`resume` checked it and prepared the thread for a
        // first run, `force_unwind` resumes only a suspended context), and nothing hands over
        // from it (only `Suspender::hand_over` does, and only for a parent that resumes with
        // `resume_raw`), so `self` is what comes back.
        let returned = unsafe { Self::enter(self, arg) };
        self.settle(returned)
    }

    /// The parent's half of a resume: enters the context and returns what came back, without
    /// recording it anywhere.
    ///
    /// # Safety
    /// `this` is a context that is not running, not finished, and not borrowed for the call
    /// (the context, or a sibling it hands over to, may write its own `Context` meanwhile). If
    /// it has never run, `first_resume` was called for it on this thread.
    #[inline]
    unsafe fn enter(this: *mut Context, arg: usize) -> Returned {
        // SAFETY: valid, not running and unborrowed (the caller's promise); the borrow ends
        // before the switch.
        let (sp, link) = unsafe {
            let this = &mut *this;
            (this.sp, &raw mut (*this.header).link)
        };
        // SAFETY: the context is not running, `sp` is its saved stack pointer and `link` its
        // link slot (the header lives as long as the stack). The switch returns here on this
        // same OS thread.
        Returned(unsafe { arch::resume(sp, link, arg) })
    }

    /// [`resume`](Self::resume) for a parent whose contexts may hand their turn to each other
    /// ([`Suspender::hand_over`]): what comes back is recorded by [`settle`](Self::settle), on
    /// the context that came back, which may be a sibling of `this`.
    ///
    /// # Safety
    /// As `enter`: `this` is not running, not finished, and not borrowed across the call.
    #[cfg(zsync_hand_over)]
    #[inline]
    pub(crate) unsafe fn resume_raw(this: *mut Context) -> Returned {
        // SAFETY: the caller's promise.
        unsafe {
            if (*this).state != State::Suspended {
                first_resume((*this).state, &raw const (*(*this).header).info);
                (*this).state = State::Suspended;
            }
            Self::enter(this, RESUME)
        }
    }

    /// Records what a resume brought back on the context that suspended or finished: `self`,
    /// which the parent learns from its own bookkeeping when a context may have handed over.
    #[inline]
    pub(crate) fn settle(&mut self, returned: Returned) -> Resumed {
        let transfer = returned.0;
        if transfer.sp.is_null() {
            self.state = State::Finished;
            // SAFETY: a null stack pointer means the entry finished, and `arg` is then its
            // finish value; the context was listed by its first resume, on this thread.
            Resumed::Finished(unsafe { finished(transfer.arg, &raw const (*self.header).info) })
        } else {
            // The state is already `Suspended`: a context is marked so from its first resume
            // until it finishes (it reads so while it runs, too).
            self.sp = transfer.sp;
            self.stack_mut().note_suspended_at(transfer.sp as usize);
            Resumed::Suspended
        }
    }

    #[inline]
    /// True once the function has returned or panicked (or been unwound).
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Finished | State::Abandoned)
    }

    /// True while the context waits in a suspension (started, not running, not finished).
    #[cfg(zsync_hand_over)]
    #[inline]
    pub(crate) fn is_suspended(&self) -> bool {
        self.state == State::Suspended
    }

    /// Asks the CPU for the lines a resume of this suspended context reads first (its saved
    /// registers and return address, then the frames above them), for a resume that comes
    /// soon. Does nothing unless the context is suspended.
    #[inline(always)]
    pub(crate) fn prefetch_stack(&self) {
        if self.state == State::Suspended {
            for line in 0..RESUME_LINES {
                prefetch(self.sp.wrapping_add(line * CACHE_LINE));
            }
        }
    }

    /// True once the context has been resumed at least once.
    pub fn is_started(&self) -> bool {
        self.state != State::NotStarted
    }

    /// The usable size of the context's stack.
    pub fn stack_size(&self) -> usize {
        self.stack().size()
    }

    /// The context's stack, described in its header.
    #[inline]
    fn stack(&self) -> &Stack {
        // SAFETY: the header, written by `place`, holds the stack until `take_stack`, which
        // consumes or drops the context.
        unsafe { &(*self.header).stack }
    }

    #[inline]
    fn stack_mut(&mut self) -> &mut Stack {
        // SAFETY: as in `stack`; `&mut self` excludes other references through this context,
        // and the context itself (running or not) never touches the header's `stack`.
        unsafe { &mut (*self.header).stack }
    }

    /// Moves the stack out of the header that lies on it.
    ///
    /// # Safety
    /// Once per context, after its release (`release_header`); nothing touches the header
    /// after.
    #[inline]
    unsafe fn take_stack(&mut self) -> Stack {
        // SAFETY: the caller's promise: taken once, the header is not read again.
        unsafe { ManuallyDrop::take(&mut (*self.header).stack) }
    }

    /// A backtrace of a suspended context, taken on its own stack without resuming it (see
    /// `arch::walk`): `None` for a context that is not suspended, on an architecture without
    /// the walk, or when less than [`BACKTRACE_ROOM`] of its stack is left below its saved
    /// stack pointer. Its first frames are the capture's own and the suspension's.
    pub(crate) fn backtrace(&self) -> Option<std::backtrace::Backtrace> {
        #[cfg(target_arch = "x86_64")]
        {
            if self.state != State::Suspended
                || (self.sp as usize).saturating_sub(self.stack().limit() as usize) < BACKTRACE_ROOM
            {
                return None;
            }
            unsafe extern "C" fn capture(out: *mut u8) {
                let out = out.cast::<Option<std::backtrace::Backtrace>>();
                // `f` of the walk must not unwind: a panic here (out of memory) aborts.
                let captured =
                    std::panic::catch_unwind(std::backtrace::Backtrace::force_capture).ok();
                // SAFETY: `out` is the caller's slot, alive for the walk.
                unsafe { *out = captured };
            }
            let mut out: Option<std::backtrace::Backtrace> = None;
            // SAFETY: suspended (checked), so `sp` is its saved stack pointer, with room below;
            // we hold `&self`, and only `&mut self` resumes it.
            unsafe {
                super::arch::walk(self.sp, capture, std::ptr::from_mut(&mut out).cast());
            }
            out
        }
        #[cfg(not(target_arch = "x86_64"))]
        None
    }

    /// Unwinds a suspended context: its pending `suspend` panics with a private payload that the
    /// context's entry catches, so every destructor on the stack runs. A context that never ran
    /// just drops its closure. Does nothing to a finished context.
    ///
    /// A destructor that suspends during the unwinding is resumed until it completes; the
    /// context is not interrupted a second time. Under `panic = "abort"` nothing can be unwound:
    /// the stack is leaked instead (never reused, never unmapped) and no destructor runs.
    #[inline]
    pub fn force_unwind(&mut self) {
        if self.state != State::Finished {
            self.force_unwind_slow();
        }
    }

    #[cold]
    fn force_unwind_slow(&mut self) {
        match self.state {
            State::NotStarted => {
                self.state = State::Finished;
                // SAFETY: the header and the closure were written by `place`, and the closure
                // never moved out (the context never ran); it is dropped exactly once because
                // the state is now Finished.
                unsafe { ((*self.header).drop_closure)((*self.header).closure) };
            }
            State::Suspended if cfg!(panic = "unwind") => {
                while self.state == State::Suspended {
                    // A panic payload other than ours (a destructor that panicked, say) has
                    // nowhere to go: the caller asked for the context to be gone.
                    drop(self.switch(UNWIND));
                }
            }
            State::Suspended => self.state = State::Abandoned,
            State::Finished | State::Abandoned => {}
        }
    }

    /// Drops what the header owns. Called once, when the context has finished (and left the
    /// overflow handler's list) and before its stack is reused or unmapped.
    #[inline]
    fn release_header(&mut self) {
        // SAFETY: the header was written by `place` and is dropped only here, once.
        unsafe {
            if self.state != State::Abandoned {
                ptr::drop_in_place(&raw mut (*self.header).info);
            }
        }
    }

    /// Unwinds the context if it has not finished and gives back its stack, for reuse in a
    /// [`StackPool`](super::StackPool). `None` if the stack could not be unwound and was leaked
    /// (`panic = "abort"`).
    #[inline]
    pub fn into_stack(self) -> Option<Stack> {
        let mut this = ManuallyDrop::new(self);
        this.force_unwind();
        // SAFETY: `this` is never used again, so each field is taken or dropped exactly once.
        unsafe {
            this.release_header();
            (this.state != State::Abandoned).then(|| this.take_stack())
        }
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        self.force_unwind();
        self.release_header();
        if self.state != State::Abandoned {
            // SAFETY: finished, so nothing runs on the stack any more; taken once (the copy
            // off the stack unmaps or frees it as it drops).
            drop(unsafe { self.take_stack() });
        }
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("state", &self.state)
            // SAFETY: the header lives as long as the stack, which we own.
            .field("name", unsafe { &(*self.header).info.name })
            .field("stack_size", &self.stack().size())
            .finish()
    }
}

impl Suspender {
    /// Suspends the context: [`Context::resume`] returns [`Resumed::Suspended`] in the parent,
    /// and this call returns when the context is resumed again.
    ///
    /// If the context is being unwound ([`Context::force_unwind`] or dropped while suspended),
    /// this call does not return: it unwinds the stack. It does return, though, when the stack
    /// is already unwinding (a destructor that suspends), so that the destructor can finish.
    #[inline]
    pub fn suspend(&self) {
        // SAFETY: a Suspender only exists inside its own context, which is running (we are on
        // it), and `link` is that context's link slot.
        let arg = unsafe { arch::suspend(self.link, 0) };
        if arg == UNWIND {
            // SAFETY: the slot lives in this context's header, which outlives the context's run.
            unwind::raise(unsafe { &*self.unwind_token });
        }
    }

    /// Suspends this context, `me`, and enters `next` in its place: `next` continues from its
    /// own pending suspension, and the parent's pending resume now returns when `next` (or a
    /// context it hands over to in turn) suspends or finishes. One switch instead of two (to
    /// the parent and from it into `next`). Returns, like [`suspend`](Self::suspend), when this
    /// context is continued, by its parent or by a sibling's `hand_over`; unwinds if the parent
    /// resumed it to unwind.
    ///
    /// # Safety
    /// `me` is the context this suspender belongs to; `next` is another context with the same
    /// parent, suspended (started, not finished), on this OS thread. Both stay at their
    /// addresses, unborrowed, until each is continued again, and the parent resumes with
    /// [`Context::resume_raw`] and settles what comes back on the context that came back (it
    /// must keep track of which one runs).
    #[cfg(zsync_hand_over)]
    #[inline]
    pub(crate) unsafe fn hand_over(&self, me: *mut Context, next: *mut Context) {
        // SAFETY: both valid and unborrowed (the caller's promise); `me` is running (we are
        // on it), and its state already reads `Suspended` (see `settle`); its saved stack
        // pointer is written by the switch.
        let arg = unsafe {
            debug_assert!((*next).state == State::Suspended && (*me).state == State::Suspended);
            arch::hand_over(
                self.link,
                &raw mut (*me).sp,
                (*next).sp,
                &raw mut (*(*next).header).link,
            )
        };
        // Continued: the stack pointer saved at the switch is the deepest this one went here.
        // SAFETY: `me` is still ours (the caller's promise); nothing wrote its `sp` since.
        unsafe { (*me).stack_mut().note_suspended_at((*me).sp as usize) };
        if arg == UNWIND {
            // SAFETY: as in `suspend`.
            unwind::raise(unsafe { &*self.unwind_token });
        }
    }
}

impl std::fmt::Debug for Suspender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Suspender").finish_non_exhaustive()
    }
}

/// `resume`'s once-per-context branch, out of line and given the state by value, not the
/// context: a round trip inlined into a caller's loop is then only the switch, and the
/// `Context`, whose address no call sees, can stay in registers across iterations. The first
/// resume prepares the thread for overflow reports and lists the context's `info` for them; a
/// finished context panics.
///
/// # Safety
/// `info` is the context's own, in its header; the context is about to run for the first
/// time on this thread (or has finished, and then this panics).
#[cold]
#[inline(never)]
unsafe fn first_resume(state: State, info: *const StackInfo) {
    assert!(
        state == State::NotStarted,
        "zsync::coro::Context::resume called on a context that has finished"
    );
    overflow::prepare_thread();
    // SAFETY: a context that never ran is not listed, and its header stays put until it
    // finishes, on this thread (a started context never changes OS thread); it is taken off
    // the table by `finished`.
    unsafe { started::watch(info) };
}

/// `settle`'s once-per-context branch, out of line for the same reason: the context leaves
/// the overflow handler's list, and the finish payload's decoding is not part of every round
/// trip. Returns the outcome in registers, not `Resumed` through memory: a caller's round trip
/// then builds `Resumed::Suspended` without a copy of the finished case's bytes.
///
/// # Safety
/// `arg` is the finish value the entry made with `unwind::Finished::into_arg`, decoded once;
/// `info` is the finished context's, listed by `first_resume` on this thread.
#[cold]
#[inline(never)]
unsafe fn finished(arg: usize, info: *const StackInfo) -> std::thread::Result<()> {
    // SAFETY: the caller's promise.
    unsafe {
        started::unwatch(info);
        Finished::from_arg(arg).into_result()
    }
}

unsafe fn drop_closure<F>(slot: *mut u8) {
    // SAFETY: the caller passes the slot `place` wrote an F into, still unmoved.
    unsafe { ptr::drop_in_place(slot.cast::<F>()) }
}

/// Where every context starts (called by the trampoline). Runs the closure, catching any
/// panic; returning finishes the context.
unsafe extern "C" fn entry<F: FnOnce(&Suspender)>(
    _arg: usize,
    header: *mut u8,
    slot: *mut u8,
) -> usize {
    // SAFETY: `place` put the header and the closure there, and this is the first and only run.
    unsafe { run::<F>(header.cast::<Header>(), slot.cast::<F>()) }.into_arg()
}

/// Runs the closure with a Suspender, catching every panic.
#[inline]
unsafe fn run<F: FnOnce(&Suspender)>(header: *mut Header, slot: *mut F) -> Finished {
    // SAFETY: moved out exactly once; the context is now started, so `force_unwind` will not
    // drop the slot again.
    let f = unsafe { slot.read() };
    let suspender = Suspender {
        link: unsafe { &raw mut (*header).link },
        unwind_token: unsafe { &raw const (*header).unwind_token },
        _not_send: PhantomData,
    };
    let finished = Finished::catch(|| f(&suspender));
    // The header is never dropped (the stack is reused as is): release the weak token here.
    // SAFETY: the header is ours and no Suspender is left.
    drop(unsafe { (*header).unwind_token.take() });
    finished
}

//! `Context` on corosensei's switch: the portable fallback for targets without a file in `asm/`,
//! and selectable everywhere with the cargo feature `corosensei-backend`. Same API, same stacks,
//! same forced-unwind protocol and overflow reports as the asm backend.

use super::overflow::{self, StackInfo};
use super::started;
use super::unwind::{self, Finished, RESUME, UNWIND};
use super::{Resumed, Stack};
use corosensei::stack::StackPointer;
use corosensei::{Coroutine, CoroutineResult, Yielder};
use std::cell::Cell;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::sync::{Arc, Weak};

// SAFETY: base() is the 16-byte aligned top of our mapping and limit() its lowest address,
// guard page included, as corosensei requires; both stay valid for the Stack's lifetime.
unsafe impl corosensei::stack::Stack for Stack {
    fn base(&self) -> StackPointer {
        StackPointer::new(self.top() as usize).expect("stack top is not null")
    }

    fn limit(&self) -> StackPointer {
        StackPointer::new(self.guard().start).expect("stack base is not null")
    }
}

/// A function running on its own stack, which can suspend itself and be resumed.
///
/// See the asm backend's documentation; this one behaves the same.
pub struct Context {
    coroutine: ManuallyDrop<Coroutine<usize, usize, usize, Stack>>,
    /// Boxed so that it stays put while the Context moves: the overflow handler lists it from
    /// the first resume to the finish (see `overflow::watch`). Leaked with the stack when the
    /// context is abandoned, which leaves it listed.
    info: ManuallyDrop<Box<StackInfo>>,
    /// Suspended but impossible to unwind (`panic = "abort"`): the stack is leaked.
    abandoned: bool,
    /// The lowest stack address seen at a suspension, handed to the stack with it (see
    /// `Stack::note_suspended_at`).
    low_water: usize,
}

/// The handle a context's function uses to suspend itself. Only reachable inside the context.
pub struct Suspender {
    yielder: *const Yielder<usize, usize>,
    unwind_token: *const Cell<Weak<()>>,
    _not_send: PhantomData<*mut ()>,
}

impl Context {
    /// Prepares `f` to run on `stack`. Nothing runs until the first [`resume`](Self::resume).
    pub fn new<F>(stack: Stack, f: F) -> Context
    where
        F: FnOnce(&Suspender) + 'static,
    {
        if !super::closure_fits::<F>(&stack) {
            let boxed = Box::new(f);
            return Self::place(stack, move |s: &Suspender| boxed(s));
        }
        Self::place(stack, f)
    }

    fn place<F: FnOnce(&Suspender) + 'static>(stack: Stack, f: F) -> Context {
        let guard = stack.guard();
        let info = ManuallyDrop::new(Box::new(StackInfo::new(guard, stack.size())));
        let coroutine =
            Coroutine::with_stack(stack, move |yielder: &Yielder<usize, usize>, _: usize| {
                let token = Cell::new(Weak::new());
                let suspender = Suspender {
                    yielder,
                    unwind_token: &token,
                    _not_send: PhantomData,
                };
                Finished::catch(|| f(&suspender)).into_arg()
            });
        Context {
            coroutine: ManuallyDrop::new(coroutine),
            info,
            abandoned: false,
            low_water: usize::MAX,
        }
    }

    /// Names the context in stack overflow reports.
    pub fn set_name(&mut self, name: Arc<str>) {
        self.info.name = Some(name);
    }

    /// Runs the context until it suspends or finishes.
    ///
    /// # Panics
    /// If the context has already finished.
    #[inline]
    pub fn resume(&mut self) -> Resumed {
        assert!(
            !self.is_finished(),
            "zsync::coro::Context::resume called on a context that has finished"
        );
        self.switch(RESUME)
    }

    fn switch(&mut self, arg: usize) -> Resumed {
        let info: *const StackInfo = &**self.info;
        if !self.coroutine.started() {
            overflow::prepare_thread();
            // SAFETY: a context that never ran is not listed; the box stays put until the
            // context finishes, on this thread (a started context never
            // changes OS thread), and `Return` below takes it off the table.
            unsafe { started::watch(info) };
        }
        let result = self.coroutine.resume(arg);
        match result {
            CoroutineResult::Yield(sp) => {
                self.low_water = self.low_water.min(sp);
                Resumed::Suspended
            }
            // SAFETY: the word comes from Finished::into_arg in the closure above, and the
            // context was listed by its first resume, on this thread.
            CoroutineResult::Return(arg) => unsafe {
                started::unwatch(info);
                Resumed::Finished(Finished::from_arg(arg).into_result())
            },
        }
    }

    /// True once the function has returned or panicked (or been unwound).
    pub fn is_finished(&self) -> bool {
        self.abandoned || self.coroutine.done()
    }

    /// Backtraces of suspended contexts are not taken with this backend.
    pub(crate) fn backtrace(&self) -> Option<std::backtrace::Backtrace> {
        None
    }

    /// The asm backend's prefetch of a suspended stack; corosensei does not show where its
    /// stack pointer is, so this does nothing.
    #[inline(always)]
    pub(crate) fn prefetch_stack(&self) {}

    /// True once the context has been resumed at least once.
    pub fn is_started(&self) -> bool {
        self.coroutine.started()
    }

    /// The usable size of the context's stack.
    pub fn stack_size(&self) -> usize {
        self.info.size
    }

    /// Unwinds a suspended context so that every destructor on its stack runs; see the asm
    /// backend's documentation.
    pub fn force_unwind(&mut self) {
        if self.is_finished() {
            return;
        }
        if !self.coroutine.started() {
            // Drops the closure without running it.
            self.coroutine.force_unwind();
        } else if cfg!(panic = "unwind") {
            while !self.coroutine.done() {
                drop(self.switch(UNWIND));
            }
        } else {
            self.abandoned = true;
        }
    }

    /// Unwinds the context if it has not finished and gives back its stack. `None` if the stack
    /// could not be unwound and was leaked (`panic = "abort"`).
    pub fn into_stack(self) -> Option<Stack> {
        let mut this = ManuallyDrop::new(self);
        this.force_unwind();
        // SAFETY: `this` is never used again, so each field is taken or dropped exactly once.
        unsafe {
            if !this.abandoned {
                ManuallyDrop::drop(&mut this.info);
            }
            (!this.abandoned).then(|| {
                let mut stack = ManuallyDrop::take(&mut this.coroutine).into_stack();
                stack.note_suspended_at(this.low_water);
                stack
            })
        }
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        self.force_unwind();
        if !self.abandoned {
            // SAFETY: finished (so no longer listed), dropped once.
            unsafe {
                ManuallyDrop::drop(&mut self.info);
                ManuallyDrop::drop(&mut self.coroutine);
            }
        }
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("started", &self.coroutine.started())
            .field("finished", &self.is_finished())
            .field("name", &self.info.name)
            .finish()
    }
}

impl Suspender {
    /// Suspends the context until it is resumed again; see the asm backend's documentation.
    #[inline]
    pub fn suspend(&self) {
        // The address of a local stands for the stack pointer at the suspension.
        let here = 0u8;
        let sp = std::hint::black_box(&here) as *const u8 as usize;
        // SAFETY: a Suspender only exists inside its own coroutine, whose yielder and token
        // outlive it.
        let arg = unsafe { (*self.yielder).suspend(sp) };
        if arg == UNWIND {
            unwind::raise(unsafe { &*self.unwind_token });
        }
    }
}

impl std::fmt::Debug for Suspender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Suspender").finish_non_exhaustive()
    }
}

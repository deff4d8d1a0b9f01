//! Forced unwinding and the hand-off of a context's outcome to its parent.
//!
//! A context is unwound on purpose by resuming it with [`UNWIND`]: its pending `suspend` then
//! panics with a private [`ForcedUnwind`] payload, which the context's entry catches. While that
//! payload is alive the stack is unwinding, and a destructor that suspends must not be
//! interrupted again (a panic during unwinding aborts the process). The payload therefore holds
//! a token whose weak twin sits on the context's stack: "a token is alive" means "unwinding".

use std::any::Any;
use std::cell::Cell;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::{Arc, Weak};

/// Resume argument: carry on.
pub(crate) const RESUME: usize = 0;
/// Resume argument: unwind the stack from the pending `suspend`.
pub(crate) const UNWIND: usize = 1;

/// The panic payload of a forced unwind. Private, so no user code can mistake it for its own.
struct ForcedUnwind {
    _token: Arc<()>,
}

/// Starts a forced unwind from a `suspend` that was resumed with [`UNWIND`], unless one is
/// already in flight on this stack (then the caller, a destructor, simply carries on).
#[cold]
pub(crate) fn raise(token_slot: &Cell<Weak<()>>) {
    let current = token_slot.take();
    let in_flight = current.strong_count() > 0;
    token_slot.set(current);
    if in_flight {
        return;
    }
    let token = Arc::new(());
    token_slot.set(Arc::downgrade(&token));
    // resume_unwind: no panic hook, nothing printed.
    resume_unwind(Box::new(ForcedUnwind { _token: token }));
}

/// How a context's function ended: `None` if it returned or was unwound on purpose, or the
/// payload of a panic.
pub(crate) struct Finished(Option<Box<dyn Any + Send>>);

impl Finished {
    /// Runs a context's function, catching every panic.
    pub(crate) fn catch(f: impl FnOnce()) -> Finished {
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(()) => Finished(None),
            Err(payload) if payload.is::<ForcedUnwind>() => Finished(None),
            Err(payload) => Finished(Some(payload)),
        }
    }

    /// Encodes the outcome as the one word that `finish` carries to the parent.
    #[inline]
    pub(crate) fn into_arg(self) -> usize {
        match self.0 {
            None => 0,
            Some(payload) => Box::into_raw(Box::new(payload)) as usize,
        }
    }

    /// Decodes a word made by [`into_arg`](Self::into_arg).
    ///
    /// # Safety
    /// `arg` must come from `into_arg`, and be decoded once.
    #[inline]
    pub(crate) unsafe fn from_arg(arg: usize) -> Finished {
        if arg == 0 {
            return Finished(None);
        }
        // SAFETY: made by Box::into_raw in into_arg, decoded once.
        Finished(Some(*unsafe {
            Box::from_raw(arg as *mut Box<dyn Any + Send>)
        }))
    }

    #[inline]
    pub(crate) fn into_result(self) -> std::thread::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}

//! `fork()` support: a process-wide fork generation, bumped in the child of every `fork()`.
//!
//! A forked child has one thread: the one that called `fork()`. The worker threads of every
//! runtime of the parent are gone, while their state (queues, "a worker is awake" flags, locks
//! that were held) was copied as it was: using it hangs. So:
//! - process-wide state that owns threads (the global runtime, the blocking pool) lives in a
//!   [`PerProcess`], which starts afresh in a child (the parent's copy is leaked: its threads
//!   do not exist here, so it can be neither used nor torn down);
//! - a runtime built explicitly remembers the generation it was built in, and refuses to work
//!   (or to join its missing threads on drop) in a child.
//!
//! The generation itself lives in `crate::fork_generation` (the reactor reads it too); its
//! handler is registered when the first runtime starts.

use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::OnceLock;

pub(crate) use crate::fork_generation::{generation, register_handler};

/// The message of every refusal of a runtime built before `fork()`.
pub(crate) const FORKED_RUNTIME: &str =
    "this Runtime was created before fork(); build a new one in the child";

/// A lazily initialised process-wide value that a forked child initialises afresh (the
/// parent's copy is leaked in the child). Like a `OnceLock` otherwise.
pub(crate) struct PerProcess<T> {
    slot: AtomicPtr<Slot<T>>,
}

struct Slot<T> {
    generation: u64,
    value: OnceLock<T>,
}

impl<T> PerProcess<T> {
    pub(crate) const fn new() -> PerProcess<T> {
        PerProcess {
            slot: AtomicPtr::new(std::ptr::null_mut()),
        }
    }

    /// The value of this process, initialised with `init` on first use in this process.
    pub(crate) fn get_or_init(&'static self, init: impl FnOnce() -> T) -> &'static T {
        let generation = generation();
        let mut slot = self.slot.load(Ordering::Acquire);
        loop {
            // SAFETY: slots are leaked, never freed once published: the pointer stays valid.
            if let Some(current) = unsafe { slot.as_ref() } {
                if current.generation == generation {
                    return current.value.get_or_init(init);
                }
            }
            // First use, or first use since a fork: a fresh slot. The old one is leaked: its
            // value may own threads that do not exist in this process.
            register_handler();
            let fresh = Box::into_raw(Box::new(Slot {
                generation,
                value: OnceLock::new(),
            }));
            match self
                .slot
                .compare_exchange(slot, fresh, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => slot = fresh,
                Err(actual) => {
                    // SAFETY: `fresh` was never published; we own it.
                    drop(unsafe { Box::from_raw(fresh) });
                    slot = actual;
                }
            }
        }
    }
}

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
//! The generation is bumped by a `pthread_atfork` child handler, registered when the first
//! runtime starts. Checking it costs one relaxed atomic load: no `getpid` on hot paths.

use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::{Once, OnceLock};

/// How many `fork()`s lie between the process that first started zsync and this one.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// The message of every refusal of a runtime built before `fork()`.
pub(crate) const FORKED_RUNTIME: &str =
    "this Runtime was created before fork(); build a new one in the child";

/// The current fork generation (one relaxed load).
#[inline]
pub(crate) fn generation() -> u64 {
    GENERATION.load(Ordering::Relaxed)
}

/// Registers (once per process) the handler that bumps the generation in forked children.
pub(crate) fn register_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: `in_child` is a plain `extern "C"` function that only does an atomic
        // increment, which is async-signal-safe, as a handler run in a fork child must be.
        let rc = unsafe { libc::pthread_atfork(None, None, Some(in_child)) };
        // ENOMEM is the only documented failure: then forked children are not detected, as
        // before this handler existed. Nothing else to do about it.
        let _ = rc;
    });
}

extern "C" fn in_child() {
    GENERATION.fetch_add(1, Ordering::Relaxed);
}

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

//! The process-wide fork generation: how many `fork()`s lie between the process that first
//! started zsync and this one, bumped in the child of every `fork()` by a `pthread_atfork`
//! handler. Checking it costs one relaxed atomic load: no `getpid` on hot paths.
//!
//! A leaf, like `env_switch`: the runtime (which refuses a runtime built before a fork) and the
//! reactor below it (which must not touch the epoll instance a child shares with its parent)
//! read it alike.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

static GENERATION: AtomicU64 = AtomicU64::new(0);

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

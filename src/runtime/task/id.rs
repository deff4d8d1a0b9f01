//! [`ThreadId`]: the identity of a green thread or an OS thread, unique for the life of the
//! process.

use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU64, Ordering};

/// A unique identifier for a green thread or an OS thread, like `std::thread::ThreadId`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ThreadId(NonZeroU64);

impl ThreadId {
    pub(crate) fn next() -> ThreadId {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        ThreadId(NonZeroU64::new(id).expect("ThreadId counter overflowed"))
    }

    /// The identifier as a number, unique for the life of the process.
    pub fn as_u64(&self) -> NonZeroU64 {
        self.0
    }
}

impl std::fmt::Debug for ThreadId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ThreadId({})", self.0)
    }
}

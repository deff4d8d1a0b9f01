//! The loom shim: std's atomics, `Arc`, `Mutex` and cells normally, loom's under `cfg(loom)`, so
//! that the lock-free protocols (park state, join state, run-queue hand-off, idle workers) can be
//! model-checked with `RUSTFLAGS="--cfg loom" cargo test --release --lib`.
//!
//! Loom never runs real stack switches: its models drive each protocol from plain loom threads.
//!
//! [`lock::Lock`] is the crate's short critical-section lock: a spin lock normally, loom's mutex
//! in models.

pub(crate) mod lock;

#[cfg(loom)]
pub(crate) use loom::{sync, thread};

#[cfg(not(loom))]
#[allow(unused_imports)]
pub(crate) mod sync {
    pub(crate) use std::sync::{Arc, Mutex, MutexGuard};
    pub(crate) mod atomic {
        pub(crate) use std::sync::atomic::{
            fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU8, AtomicUsize, Ordering,
        };
    }
}

#[cfg(not(loom))]
#[allow(unused_imports)]
pub(crate) use std::thread;

/// Declares a `const fn` normally and a plain `fn` under loom, whose types have no const
/// constructors: `loom_const_fn! { pub(crate) fn new() -> Self { .. } }`.
macro_rules! loom_const_fn {
    ($(#[$meta:meta])* $vis:vis fn $($rest:tt)*) => {
        #[cfg(not(loom))]
        $(#[$meta])* $vis const fn $($rest)*
        #[cfg(loom)]
        $(#[$meta])* $vis fn $($rest)*
    };
}
pub(crate) use loom_const_fn;

/// An `UnsafeCell` with loom's closure API, so that loom can check every access.
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(
    #[cfg(loom)] loom::cell::UnsafeCell<T>,
    #[cfg(not(loom))] std::cell::UnsafeCell<T>,
);

impl<T> UnsafeCell<T> {
    pub(crate) fn new(value: T) -> Self {
        #[cfg(loom)]
        return UnsafeCell(loom::cell::UnsafeCell::new(value));
        #[cfg(not(loom))]
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }

    /// Runs `f` with a mutable pointer to the value; the caller guarantees exclusive access.
    #[inline]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        #[cfg(loom)]
        return self.0.with_mut(f);
        #[cfg(not(loom))]
        f(self.0.get())
    }
}

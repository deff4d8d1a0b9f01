//! Synchronisation, mirroring `std::sync`: locks, condition variables, barriers, channels, and
//! a few extras (a semaphore, a wait group, one-shot channels, [`select!`](crate::select)).
//!
//! Every blocking call here parks the calling green thread and lets its worker run others; on a
//! plain OS thread it blocks the thread, like std. Green threads and OS threads can share every
//! primitive. Blocking calls are park points: a cancelled green thread (or one whose
//! `zsync::time::timeout` expired) unwinds from them. A waiter that was handed a lock, a permit
//! or a message before the request reached it returns with it (the call took effect; the request
//! is raised at its next park point); one that unwinds while a hand-over races in passes it on
//! to the next waiter. Nothing is lost, and a cancelled send never delivers. Locks poison like
//! std's when a panic unwinds through a guard; a cancellation or an expired `timeout()` does not
//! poison (it is a request to stop, not a failure). The waits are fair enough that no waiter starves.
//!
//! `Arc`, `Weak`, `Once`, `OnceLock`, `LazyLock`, the `atomic` module and the poison types are
//! std's own, re-exported. `Once`, `OnceLock` and `LazyLock` block the OS thread (not just the
//! green thread) while another thread runs the initialiser, exactly as in std: keep initialisers
//! short.
//!
//! ```
//! use zsync::sync::{mpsc, Arc, Mutex};
//!
//! zsync::run(|| {
//!     let total = Arc::new(Mutex::new(0));
//!     let (done_tx, done_rx) = mpsc::channel();
//!     for i in 1..=10 {
//!         let (total, done_tx) = (total.clone(), done_tx.clone());
//!         zsync::spawn(move || {
//!             *total.lock().unwrap() += i;
//!             done_tx.send(()).unwrap();
//!         });
//!     }
//!     drop(done_tx);
//!     assert_eq!(done_rx.iter().count(), 10);
//!     assert_eq!(*total.lock().unwrap(), 55);
//! });
//! ```

mod barrier;
mod chan;
mod condvar;
pub mod mpsc;
mod mutex;
pub mod oneshot;
mod poison;
mod rwlock;
#[doc(hidden)]
pub mod select;
mod semaphore;
mod wait_group;
pub(crate) mod waiter;

pub use barrier::{Barrier, BarrierWaitResult};
pub use condvar::{Condvar, WaitTimeoutResult};
pub use mutex::{Mutex, MutexGuard};
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use semaphore::{Semaphore, SemaphorePermit};
pub use wait_group::WaitGroup;

/// std's, deprecated there since 1.38 (use `Once::new()`), here so that a port compiles.
#[allow(deprecated)]
pub use std::sync::ONCE_INIT;
pub use std::sync::{
    atomic, Arc, LazyLock, LockResult, Once, OnceLock, OnceState, PoisonError, TryLockError,
    TryLockResult, Weak,
};

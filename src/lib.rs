//! zsync: green threads for Rust.
//!
//! Spawn closures like threads and write plain blocking code; each blocking call parks only a
//! cheap green thread (a stackful coroutine on a guard-paged stack), not an OS thread. The API
//! mirrors `std`: port blocking code by changing `std::` to `zsync::` in the imports.
//!
//! ```
//! use zsync::time::{sleep, Duration};
//! let total: u32 = zsync::run(|| {
//!     let handles: Vec<_> = (1..=100)
//!         .map(|i| zsync::spawn(move || { sleep(Duration::from_millis(1)); i }))
//!         .collect();
//!     handles.into_iter().map(|h| h.join().unwrap()).sum()
//! });
//! assert_eq!(total, 5050);
//! ```
//!
//! - [`coro`]: the stackful core (contexts on pooled, guard-paged stacks, switched in asm).
//! - [`runtime`]: the M:N scheduler, and the owner of a green thread's whole life; [`run`],
//!   [`Runtime`]. A green thread is created in `runtime/spawn.rs`, parked in `runtime/park.rs`,
//!   woken by `TaskRef::unpark` (`runtime/task/mod.rs`), and destroyed by
//!   its worker (`Worker::run_task`, `runtime/worker.rs`).
//! - [`thread`]: green threads shaped like `std::thread` (the front of the runtime), plus
//!   cancellation.
//! - [`time`]: sleep, timeout, interval.
//! - [`sync`]: locks, condition variables, channels and [`select!`], shaped like `std::sync`.
//! - [`fs`] and [`io`]: files, directories and the standard streams, shaped like `std::fs` and
//!   `std::io`.
//! - [`process`]: child processes shaped like `std::process`; `wait` and the pipes park the
//!   green thread (a pidfd and the pipes' fds in the reactor).
//! - [`net`], [`os`]: sockets whose blocking calls park the green thread
//!   (`net/io_source.rs` holds the try, wait, retry loop).
//! - [`unblock`] (the blocking pool) and [`block_on`] (futures interop).
//! - The I/O reactor (`reactor/`, private) is a driver below the runtime: it wakes waiters
//!   through its own `Unpark` trait and knows nothing of threads.
//!
//! Dependencies point one way (checked by `tests/architecture.rs`): `thread`, `net`, `os`,
//! `process`, `time`, `sync`, `blocking`, `future` -> `runtime` -> `reactor`, `coro`.

#![warn(missing_docs)]

pub(crate) mod blocking;
pub mod coro;
pub(crate) mod env_switch;
pub(crate) mod fork_generation;
pub mod fs;
pub(crate) mod future;
#[cfg(all(feature = "hook", target_os = "linux"))]
mod hook;
pub mod io;
pub(crate) mod loom;
pub mod net;
pub mod os;
pub mod process;
pub(crate) mod reactor;
pub mod runtime;
pub mod sync;
pub mod thread;
pub mod time;

pub use blocking::{unblock, unblock_scoped};
pub use future::block_on;
pub use runtime::{run, Runtime};
pub use thread::{spawn, Cancelled};

/// The README's code blocks, compiled (and the runnable ones run) as doc tests, so that the
/// porting guide and the examples there keep working.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

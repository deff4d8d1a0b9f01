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
//! - [`runtime`]: the M:N scheduler; [`run`], [`Runtime`].
//! - [`thread`]: green threads shaped like `std::thread`, plus cancellation.
//! - [`time`]: sleep, timeout, interval.
//! - [`sync`]: locks, condition variables, channels and [`select!`], shaped like `std::sync`.
//! - [`fs`] and [`io`]: files, directories and the standard streams, shaped like `std::fs` and
//!   `std::io`.

#![warn(missing_docs)]

pub(crate) mod blocking;
pub mod coro;
pub mod fs;
pub(crate) mod future;
pub mod io;
pub(crate) mod loom;
pub mod net;
pub mod os;
pub(crate) mod reactor;
pub mod runtime;
pub mod sync;
pub mod thread;
pub mod time;

pub use blocking::unblock;
pub use future::block_on;
pub use runtime::{run, Runtime};
pub use thread::{spawn, Cancelled};

/// The README's code blocks, compiled (and the runnable ones run) as doc tests, so that the
/// porting guide and the examples there keep working.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

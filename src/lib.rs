//! zsync: green threads for Rust.
//!
//! Spawn closures like threads and write plain blocking code; each blocking call parks only a
//! cheap green thread (a stackful coroutine on a guard-paged stack), not an OS thread.
//!
//! This release contains the stackful core, [`coro`]: contexts on pooled, guard-paged stacks,
//! switched by hand-written assembly. The scheduler and the std-shaped APIs build on it.

#![warn(missing_docs)]

pub mod coro;

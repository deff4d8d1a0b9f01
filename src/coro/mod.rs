//! The stackful core: a function running on its own guard-paged stack, suspended and resumed
//! by a hand-written context switch. No scheduling happens here.
//!
//! - [`Stack`]: one `mmap` per stack, guard page at the low end, committed lazily.
//! - [`StackPool`]: a per-thread cache that makes a stack cost nanoseconds instead of an `mmap`.
//! - [`Context`]: runs a closure on a stack; [`Context::resume`] enters it, [`Suspender::suspend`]
//!   leaves it, and a panic inside comes back as [`Resumed::Finished`]`(Err(payload))`.
//!
//! The switch itself lives in `asm/<arch>.s` (x86_64, aarch64, riscv64). Other targets, and
//! builds with the cargo feature `corosensei-backend`, use corosensei's switch instead; both
//! backends behave the same. A stack overflow inside a context is reported by name before the
//! process aborts (see the crate's README).
//!
//! ```
//! use zsync::coro::{Context, Resumed, StackPool};
//!
//! let mut pool = StackPool::new(64 * 1024)?;
//! let mut ctx = Context::new(pool.get()?, |s| {
//!     for _ in 0..3 {
//!         s.suspend();
//!     }
//! });
//! let mut suspensions = 0;
//! while let Resumed::Suspended = ctx.resume() {
//!     suspensions += 1;
//! }
//! assert_eq!(suspensions, 3);
//! pool.put(ctx.into_stack().unwrap());
//! # Ok::<(), std::io::Error>(())
//! ```

#[cfg(not(zsync_corosensei))]
mod arch;
#[cfg(not(zsync_corosensei))]
mod context;
#[cfg(zsync_corosensei)]
#[path = "corosensei_backend.rs"]
mod context;
mod discard;
mod overflow;
mod pool;
mod prefetch;
mod stack;
mod started;
mod unwind;

pub use context::{Context, Suspender};
pub use pool::StackPool;
pub(crate) use prefetch::{prefetch, CACHE_LINE};
pub use stack::{guard_mechanism, Stack, DEFAULT_STACK_SIZE, MIN_STACK_SIZE};

/// Whether a context's closure of type `F` goes on its own stack (fast), or must be boxed
/// because it would eat too much of the stack it is about to run on.
fn closure_fits<F>(stack: &Stack) -> bool {
    std::mem::size_of::<F>() <= stack.size() / 4 && std::mem::align_of::<F>() <= 4096
}

/// What [`Context::resume`] reports.
///
/// ```
/// use zsync::coro::{Context, Resumed, Stack};
///
/// let mut ctx = Context::new(Stack::new(64 * 1024)?, |s| s.suspend());
/// assert!(matches!(ctx.resume(), Resumed::Suspended));
/// assert!(matches!(ctx.resume(), Resumed::Finished(Ok(()))));
///
/// let mut ctx = Context::new(Stack::new(64 * 1024)?, |_| panic!("boom"));
/// let Resumed::Finished(Err(payload)) = ctx.resume() else {
///     panic!("the context did not panic");
/// };
/// assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub enum Resumed {
    /// The context called [`Suspender::suspend`] and can be resumed again.
    Suspended,
    /// The context's function returned (`Ok`), or panicked (`Err` with the panic payload, as
    /// from [`std::thread::JoinHandle::join`]).
    Finished(std::thread::Result<()>),
}

/// The name of the context-switch backend compiled in: `"asm"` or `"corosensei"`.
pub const BACKEND: &str = if cfg!(zsync_corosensei) {
    "corosensei"
} else {
    "asm"
};

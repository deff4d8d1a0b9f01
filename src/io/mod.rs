//! I/O shaped like `std::io`: port by changing `std::io` to `zsync::io`.
//!
//! [`stdin`], [`stdout`] and [`stderr`] return zsync handles ([`Stdin`], [`Stdout`],
//! [`Stderr`], and their locks) whose blocking reads and writes park only the calling green
//! thread. Everything else is std's own, re-exported: the traits ([`Read`], [`Write`],
//! [`BufRead`], [`Seek`]), the adapters and types ([`BufReader`], [`BufWriter`], [`Cursor`],
//! [`Error`], [`ErrorKind`], [`Result`], [`IoSlice`], ...) and the helpers ([`copy`], [`empty`],
//! [`sink`], [`repeat`], [`read_to_string`]), so `use zsync::io::{self, BufRead, Write}` works
//! as with std.
//!
//! ```
//! use zsync::io::{self, Write};
//! zsync::run(|| -> io::Result<()> {
//!     let mut out = io::stdout().lock();
//!     writeln!(out, "hello from a green thread")?;
//!     out.flush()
//! })?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # What runs where
//!
//! - **On a green thread** a read from standard input and a write or flush to standard output
//!   or error run on zsync's blocking pool (see [`crate::unblock`]), with owned buffers, and
//!   park only the green thread; on a plain OS thread they run on the calling thread.
//! - Writes go through std's own `std::io::stdout()` / `std::io::stderr()`, so they share std's
//!   buffer and lock: output written with `zsync::io::stdout()` and with `println!` stays in
//!   program order, and std flushes it at exit as usual.
//! - **Planned**: when a standard stream is pollable (a pipe, a socket, a terminal), waiting on
//!   the reactor instead of a pool thread.
//!
//! # Cancellation
//!
//! A green thread blocked reading standard input, or writing to a full pipe, can be cancelled
//! or timed out like anywhere else in zsync: it unwinds at once. The read or write itself
//! finishes on its pool thread: a write still lands in full, and the bytes a cancelled read
//! takes from standard input are kept for the next reader of `zsync::io::stdin()`, not lost.
//!
//! # Differences from std
//!
//! - zsync's `Stdin` keeps its own buffer (the bytes it took from std's): reading both
//!   `std::io::stdin()` and `zsync::io::stdin()` in one program sees each byte only once, as
//!   with two `BufReader`s. Use one of them.
//! - A `StdoutLock` / `StderrLock` holds back other users of zsync's handles (it is reentrant,
//!   like std's), not `println!` calls made elsewhere: each write is atomic against those, a
//!   sequence of writes is not.
//! - `println!`, `print!` and `eprintln!` themselves are std's: they write on the calling
//!   worker thread (fine for a terminal, a file or a pipe with room; a pipe nobody reads would
//!   block the worker). Use `writeln!(zsync::io::stdout(), ...)` on green threads when that
//!   matters.
//! - Every write to `Stdout`/`Stderr` is one trip to the pool: for many small writes, wrap the
//!   lock in a [`BufWriter`].
//! - `IsTerminal` is sealed in std: ask the fd instead (`stdout().as_fd().is_terminal()`).

mod stdio;

#[doc(hidden)]
pub use stdio::stdio_reactor_calls;
pub use stdio::{stderr, stdin, stdout, Stderr, StderrLock, Stdin, StdinLock, Stdout, StdoutLock};

pub use std::io::{
    copy, empty, read_to_string, repeat, sink, BufRead, BufReader, BufWriter, Bytes, Chain, Cursor,
    Empty, Error, ErrorKind, IntoInnerError, IoSlice, IoSliceMut, IsTerminal, LineWriter, Lines,
    Read, Repeat, Result, Seek, SeekFrom, Sink, Split, Take, Write, WriterPanicked,
};

/// The traits most I/O code needs, like `std::io::prelude` (std's own).
///
/// ```
/// use zsync::io::prelude::*;
/// let mut text = String::new();
/// zsync::io::Cursor::new("a\nb\n").read_line(&mut text)?;
/// assert_eq!(text, "a\n");
/// # Ok::<(), std::io::Error>(())
/// ```
pub mod prelude {
    pub use std::io::prelude::*;
}

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
//! - **On a green thread, a pollable stream** (a pipe, a FIFO, a socket, a terminal) is waited
//!   on through the worker's reactor, and only the green thread parks. The fd stays in its own
//!   (blocking) mode, since other code in the process and the parent shell share it: each read
//!   or write is a non-blocking try (`preadv2`/`pwritev2` with `RWF_NOWAIT`, which pipes take;
//!   where the kernel refuses the flag, as on a terminal, a zero-timeout poll and then the real
//!   call, which blocks the worker only if something else drained the fd in between), and on
//!   "would block" the green thread parks until the fd is ready.
//! - **On a green thread, any other stream** (a regular file, `/dev/null`, which epoll refuses)
//!   is read or written on zsync's blocking pool (see [`crate::unblock`]), with owned buffers.
//! - **On a plain OS thread** everything runs on the calling thread, through std's handles.
//! - Output stays in order with std's: the pool path writes through std's own
//!   `std::io::stdout()` / `std::io::stderr()` (sharing its buffer and lock); the reactor path
//!   writes fd 1 or 2 directly while holding std's lock on the stream, after flushing what std
//!   had buffered (a partial line from `print!`), and lets the lock go while it waits. So output
//!   written with `zsync::io::stdout()` and with `println!` stays in program order, lines stay
//!   whole, and std flushes its buffer at exit as usual.
//!
//! # Cancellation
//!
//! A green thread blocked reading standard input, or writing to a full pipe, can be cancelled
//! or timed out like anywhere else in zsync: it unwinds at once. On the reactor path nothing is
//! left running: a read took nothing, and a write stops after the bytes already written (a
//! `write_all` to a full pipe may have written part of its buffer). On the pool path the read
//! or write finishes on its pool thread: a write still lands in full. Either way the bytes a
//! cancelled read took from standard input are kept for the next reader of
//! `zsync::io::stdin()`, not lost.
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
//! - Every write to `Stdout`/`Stderr` is one system call (on the reactor path, or made in place
//!   to a file on a local file system) or one trip to the pool: for many small writes, wrap the
//!   lock in a [`BufWriter`].
//! - zsync's `Stdin` on the reactor path reads fd 0 itself, not through std's buffer: bytes a
//!   `std::io::stdin()` read had buffered are not seen (another reason to use one of them).
//! - `IsTerminal` is sealed in std, so zsync's handles (and `zsync::fs::File`) cannot implement
//!   it: each has an inherent `is_terminal()` instead, which `stdout().is_terminal()` finds as
//!   it finds std's (a function generic over `T: IsTerminal` needs `stdout().as_fd()`).

pub(crate) mod pipe;
mod stdio;

pub use pipe::{pipe, PipeReader, PipeWriter};
pub use stdio::{stderr, stdin, stdout, Stderr, StderrLock, Stdin, StdinLock, Stdout, StdoutLock};
#[doc(hidden)]
pub use stdio::{stdin_in_place_reads, stdio_pool_writes, stdio_reactor_calls};

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

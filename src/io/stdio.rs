//! Standard input, output and error for green threads.
//!
//! Each stream has one operation per kind (fill, read to end, write, write all, flush). From a
//! green thread, a pollable fd (a pipe, a socket, a terminal) is tried without blocking and
//! waited on through the worker's reactor (see [`Pollable`]); small writes to a regular file
//! on a local file system are made in place, timed (`crate::fs::in_place`), and so are reads of
//! standard input that need no wait (`RWF_NOWAIT`: a redirected file's cached bytes, see
//! [`pull_in_place`]); any other fd moves owned bytes to or from std's own handle on the
//! blocking pool (see [`crate::fs`]'s `offload` rule). On an OS thread everything runs on the
//! calling thread, through std's handles.

use crate::fs::in_place;
use crate::reactor::{self, scheduled_io::Direction, ScheduledIo};
use crate::runtime::context::{self, Current};
use crate::runtime::Thread;
use crate::sync::{Condvar, Mutex, MutexGuard};
use crate::thread::ThreadId;
use std::fmt;
use std::io::{self, BufRead, Lines, Read, Write};
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};

/// The most one write hands to the pool at once.
const WRITE_CHUNK: usize = 1 << 20;

/// What one read of standard input on the reactor path asks for.
const READ_CHUNK: usize = 64 * 1024;

// ---- standard input ----

/// Bytes zsync has taken from std's stdin and not yet handed out.
#[derive(Default)]
struct Buffered {
    data: Vec<u8>,
    pos: usize,
}

struct StdinShared {
    /// zsync's side, held by a `StdinLock` (a zsync lock: waiting for it parks only the green
    /// thread).
    buffered: Mutex<Buffered>,
    /// Where a pool read deposits what it took from std's stdin, while it still holds std's
    /// lock: in order, and kept even when the green thread that asked was cancelled.
    carry: Arc<std::sync::Mutex<Carry>>,
}

#[derive(Default)]
struct Carry {
    bytes: Vec<u8>,
    /// A read of std's stdin is running (perhaps abandoned by a cancelled reader).
    in_flight: bool,
    /// A reader waiting for that read to finish.
    waiter: Option<crate::thread::Thread>,
}

fn stdin_shared() -> &'static StdinShared {
    static SHARED: OnceLock<StdinShared> = OnceLock::new();
    SHARED.get_or_init(|| StdinShared {
        buffered: Mutex::new(Buffered::default()),
        carry: Arc::default(),
    })
}

fn lock_carry(carry: &std::sync::Mutex<Carry>) -> std::sync::MutexGuard<'_, Carry> {
    carry.lock().unwrap_or_else(|e| e.into_inner())
}

/// What one trip to std's stdin reads.
#[derive(Clone, Copy)]
enum Pull {
    /// What std has buffered, or one read's worth when it has nothing.
    Some,
    /// Everything up to the end of the input.
    ToEnd,
}

/// Reads from std's stdin into the carry (on the pool from a green thread). Only the holder of
/// the `StdinLock` calls it, so at most one read runs, plus perhaps one abandoned by a
/// cancelled holder: that one is waited for first, and if it brought bytes no new read starts
/// (it could wait for input the caller does not need).
fn pull(carry: &Arc<std::sync::Mutex<Carry>>, how: Pull) -> io::Result<()> {
    fn from_std(carry: &std::sync::Mutex<Carry>, how: Pull) -> io::Result<()> {
        let mut input = std::io::stdin().lock();
        let result = match how {
            Pull::Some => input.fill_buf().map(|available| {
                lock_carry(carry).bytes.extend_from_slice(available);
                available.len()
            }),
            Pull::ToEnd => {
                let mut all = Vec::new();
                let result = input.read_to_end(&mut all);
                lock_carry(carry).bytes.extend_from_slice(&all);
                result
            }
        };
        if let (Pull::Some, Ok(n)) = (how, &result) {
            input.consume(*n);
        }
        drop(input);
        let waiter = {
            let mut c = lock_carry(carry);
            c.in_flight = false;
            c.waiter.take()
        };
        if let Some(waiter) = waiter {
            waiter.wake();
        }
        result.map(drop)
    }
    {
        let mut c = lock_carry(carry);
        while c.in_flight {
            c.waiter = Some(crate::thread::current());
            drop(c);
            crate::thread::park();
            c = lock_carry(carry);
        }
        if !c.bytes.is_empty() {
            return Ok(());
        }
    }
    if let Some(registration) = STDIO[0].prepare() {
        return pull_green(carry, how, &registration);
    }
    if !crate::fs::offload() {
        lock_carry(carry).in_flight = true;
        return from_std(carry, how);
    }
    if let Some(pulled) = pull_in_place(carry, how) {
        return pulled;
    }
    lock_carry(carry).in_flight = true;
    let carry = Arc::clone(carry);
    crate::blocking::unblock(move || from_std(&carry, how))
}

/// [`pull`] on the reactor path: each read's bytes go to the carry as soon as they are taken,
/// so a cancelled reader loses none.
fn pull_green(
    carry: &std::sync::Mutex<Carry>,
    how: Pull,
    registration: &reactor::Registration<Thread>,
) -> io::Result<()> {
    let mut buf = vec![0; READ_CHUNK];
    loop {
        let n = STDIO[0].run(registration, Direction::Read, |s| {
            s.try_once(Direction::Read, buf.as_mut_ptr(), buf.len())
        })?;
        lock_carry(carry).bytes.extend_from_slice(&buf[..n]);
        if n == 0 || matches!(how, Pull::Some) {
            return Ok(());
        }
    }
}

/// [`pull`] for standard input that epoll refuses (a regular file), on the calling green thread:
/// what can be read without waiting (`RWF_NOWAIT` at the file position, as `zsync::fs` reads
/// first: a regular file's cached bytes) goes to the carry at once, no trip to the pool. `None`:
/// it would wait (bytes not cached, a file system that cannot say, `ZSYNC_FS_NOWAIT=0`), and
/// the pool reads (the rest, for `ToEnd`), through std's stdin as before.
fn pull_in_place(carry: &std::sync::Mutex<Carry>, how: Pull) -> Option<io::Result<()>> {
    /// What standard input has shown of `RWF_NOWAIT` (`EOPNOTSUPP` is remembered).
    static SUPPORT: crate::fs::nowait::Support = crate::fs::nowait::Support::new();
    // SAFETY: a `File` over fd 0 that is never dropped (so never closes it), used for reads
    // only, as std's stdin reads fd 0 whatever it is.
    let input = std::mem::ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(0) });
    let mut buf = vec![0; READ_CHUNK];
    loop {
        let n = match crate::fs::nowait::read(&input, &SUPPORT, &mut buf, None)? {
            Ok(n) => n,
            Err(e) => return Some(Err(e)),
        };
        IN_PLACE_READS.fetch_add(1, Ordering::Relaxed);
        lock_carry(carry).bytes.extend_from_slice(&buf[..n]);
        if n == 0 || matches!(how, Pull::Some) {
            return Some(Ok(()));
        }
    }
}

/// Reads of standard input made in place (for tests).
static IN_PLACE_READS: AtomicU64 = AtomicU64::new(0);

/// How many reads of standard input were made on the calling green thread without waiting
/// (a regular file's cached bytes), not on the blocking pool (for tests).
#[doc(hidden)]
pub fn stdin_in_place_reads() -> u64 {
    IN_PLACE_READS.load(Ordering::Relaxed)
}

/// A handle to the standard input, like `std::io::Stdin`: reads park only the calling green
/// thread.
///
/// ```no_run
/// use zsync::io::{self, BufRead};
/// zsync::run(|| -> io::Result<()> {
///     let mut name = String::new();
///     io::stdin().read_line(&mut name)?;
///     for line in io::stdin().lines() {
///         println!("{}", line?.to_uppercase());
///     }
///     Ok(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Stdin {
    std: std::io::Stdin,
}

/// A locked handle to the standard input, like `std::io::StdinLock`: `BufRead` and `Read`,
/// and exclusive among users of `zsync::io::stdin()` while it lives.
///
/// ```no_run
/// use zsync::io::{self, BufRead};
/// let mut input = io::stdin().lock();
/// let mut first = String::new();
/// input.read_line(&mut first)?;
/// let rest: Vec<String> = input.lines().collect::<io::Result<_>>()?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct StdinLock<'a> {
    buffered: MutexGuard<'a, Buffered>,
    shared: &'a StdinShared,
    std: std::io::Stdin,
}

/// The standard input of the process, like `std::io::stdin`.
///
/// ```no_run
/// let mut line = String::new();
/// zsync::io::stdin().read_line(&mut line)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[must_use]
pub fn stdin() -> Stdin {
    Stdin {
        std: std::io::stdin(),
    }
}

impl Stdin {
    /// Locks the handle: exclusive access among zsync's readers. Parks a green thread while
    /// another holds it.
    pub fn lock(&self) -> StdinLock<'static> {
        let shared = stdin_shared();
        StdinLock {
            buffered: shared.buffered.lock().unwrap_or_else(|e| e.into_inner()),
            shared,
            std: std::io::stdin(),
        }
    }

    /// Reads a line (up to and including `\n`) and appends it to `buf`, like
    /// `std::io::Stdin::read_line`; 0 at the end of the input.
    ///
    /// # Errors
    /// As std: `InvalidData` (and nothing appended) if the line is not UTF-8.
    pub fn read_line(&self, buf: &mut String) -> io::Result<usize> {
        self.lock().read_line(buf)
    }

    /// The lines of the input, like `std::io::Stdin::lines`.
    pub fn lines(self) -> Lines<StdinLock<'static>> {
        self.lock().lines()
    }
}

impl StdinLock<'_> {
    /// Moves what pool reads deposited into this side's buffer.
    fn absorb(&mut self) {
        let mut c = lock_carry(&self.shared.carry);
        let carry = &mut c.bytes;
        if carry.is_empty() {
            return;
        }
        let b = &mut *self.buffered;
        if b.pos == b.data.len() {
            b.data.clear();
            b.pos = 0;
            std::mem::swap(&mut b.data, carry);
        } else {
            b.data.append(carry);
        }
    }

    /// Hands out everything buffered into `out`.
    fn drain_into(&mut self, out: &mut Vec<u8>) -> usize {
        let b = &mut *self.buffered;
        let n = b.data.len() - b.pos;
        out.extend_from_slice(&b.data[b.pos..]);
        b.data.clear();
        b.pos = 0;
        n
    }
}

impl BufRead for StdinLock<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.absorb();
        if self.buffered.pos == self.buffered.data.len() {
            pull(&self.shared.carry, Pull::Some)?;
            self.absorb();
        }
        Ok(&self.buffered.data[self.buffered.pos..])
    }

    fn consume(&mut self, amt: usize) {
        let b = &mut *self.buffered;
        b.pos = (b.pos + amt).min(b.data.len());
    }
}

impl Read for StdinLock<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }

    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        self.absorb();
        let mut n = self.drain_into(buf);
        let result = pull(&self.shared.carry, Pull::ToEnd);
        self.absorb();
        n += self.drain_into(buf);
        result.map(|()| n)
    }

    fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
        let mut bytes = Vec::new();
        let result = self.read_to_end(&mut bytes);
        match String::from_utf8(bytes) {
            Ok(text) => {
                buf.push_str(&text);
                result
            }
            Err(_) => result.and_then(|_| Err(crate::fs::invalid_utf8())),
        }
    }
}

impl Read for Stdin {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.lock().read(buf)
    }

    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        self.lock().read_to_end(buf)
    }

    fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
        self.lock().read_to_string(buf)
    }
}

impl Read for &Stdin {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.lock().read(buf)
    }

    fn read_to_end(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        self.lock().read_to_end(buf)
    }

    fn read_to_string(&mut self, buf: &mut String) -> io::Result<usize> {
        self.lock().read_to_string(buf)
    }
}

// ---- standard output and error ----

#[derive(Clone, Copy, Debug)]
enum Stream {
    Out,
    Err,
}

/// A reentrant lock on zsync's handles to one output stream: the holder may write through
/// another handle (or lock again) without deadlocking, like std's.
struct OutShared {
    stream: Stream,
    owner: Mutex<Owner>,
    freed: Condvar,
}

#[derive(Default)]
struct Owner {
    thread: Option<ThreadId>,
    depth: usize,
}

fn out_shared(stream: Stream) -> &'static OutShared {
    static OUT: OnceLock<OutShared> = OnceLock::new();
    static ERR: OnceLock<OutShared> = OnceLock::new();
    let cell = match stream {
        Stream::Out => &OUT,
        Stream::Err => &ERR,
    };
    cell.get_or_init(|| OutShared {
        stream,
        owner: Mutex::new(Owner::default()),
        freed: Condvar::new(),
    })
}

impl OutShared {
    fn acquire(&self) {
        let me = crate::thread::current().id();
        let mut owner = self.owner.lock().unwrap_or_else(|e| e.into_inner());
        if owner.thread == Some(me) {
            owner.depth += 1;
            return;
        }
        while owner.thread.is_some() {
            owner = self.freed.wait(owner).unwrap_or_else(|e| e.into_inner());
        }
        owner.thread = Some(me);
        owner.depth = 1;
    }

    fn release(&self) {
        let mut owner = self.owner.lock().unwrap_or_else(|e| e.into_inner());
        owner.depth -= 1;
        if owner.depth == 0 {
            owner.thread = None;
            drop(owner);
            self.freed.notify_one();
        }
    }

    /// Writes through std's handle (on the pool from a green thread): `all` for `write_all`.
    fn write(&self, buf: &[u8], all: bool) -> io::Result<usize> {
        fn to_std(stream: Stream, buf: &[u8], all: bool) -> io::Result<usize> {
            fn put(mut out: impl Write, buf: &[u8], all: bool) -> io::Result<usize> {
                if all {
                    out.write_all(buf).map(|()| buf.len())
                } else {
                    out.write(buf)
                }
            }
            match stream {
                Stream::Out => put(std::io::stdout().lock(), buf, all),
                Stream::Err => put(std::io::stderr().lock(), buf, all),
            }
        }
        if !crate::fs::offload() || buf.is_empty() {
            return to_std(self.stream, buf, all);
        }
        if let Some(registration) = self.pollable().prepare() {
            return self.write_green(&registration, buf, all);
        }
        let stream = self.stream;
        if buf.len() < in_place::MAX_LEN && self.pollable().writes_in_place() {
            // Redirected to a file on a local file system: made here, as `zsync::fs` makes a
            // small write (see `crate::fs::in_place`).
            return in_place::write(|| to_std(stream, buf, all));
        }
        let owned = buf[..buf.len().min(WRITE_CHUNK)].to_vec();
        POOL_WRITES.fetch_add(1, Ordering::Relaxed);
        crate::blocking::unblock(move || to_std(stream, &owned, all))
    }

    fn pollable(&self) -> &'static Pollable {
        match self.stream {
            Stream::Out => &STDIO[1],
            Stream::Err => &STDIO[2],
        }
    }

    /// [`Self::write`] on the reactor path: all of `buf` unless the fd is in non-blocking mode,
    /// as std's blocking write. Each try writes fd 1 or 2 directly while holding
    /// std's lock on the stream, after flushing what std buffered (a partial line from
    /// `print!`), so output stays in order with std's and lines stay whole; the lock is let go
    /// while the green thread waits.
    fn write_green(
        &self,
        registration: &reactor::Registration<Thread>,
        buf: &[u8],
        all: bool,
    ) -> io::Result<usize> {
        let stream = self.stream;
        let attempt = |s: &Pollable, part: &[u8]| -> io::Result<usize> {
            let ptr = part.as_ptr().cast_mut();
            match stream {
                Stream::Out => {
                    let mut std = std::io::stdout().lock();
                    std.flush()?;
                    s.try_once(Direction::Write, ptr, part.len())
                }
                Stream::Err => {
                    let _std = std::io::stderr().lock();
                    s.try_once(Direction::Write, ptr, part.len())
                }
            }
        };
        let pollable = self.pollable();
        let mut done = 0;
        loop {
            let n = pollable.run(registration, Direction::Write, |s| attempt(s, &buf[done..]))?;
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            done += n;
            // A `write` stops short only in the user's non-blocking mode: on a blocking pipe,
            // socket or terminal, std's (the kernel's) write returns once all of it is queued.
            if done == buf.len() || (!all && user_nonblocking(pollable.fd)) {
                return Ok(done);
            }
        }
    }

    fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        if buf.is_empty() {
            return Ok(());
        }
        for chunk in buf.chunks(WRITE_CHUNK) {
            self.write(chunk, true)?;
        }
        Ok(())
    }

    fn flush(&self) -> io::Result<()> {
        fn to_std(stream: Stream) -> io::Result<()> {
            match stream {
                Stream::Out => std::io::stdout().flush(),
                Stream::Err => std::io::stderr().flush(),
            }
        }
        if !crate::fs::offload() || self.pollable().prepare().is_some() {
            return to_std(self.stream);
        }
        let stream = self.stream;
        if self.pollable().writes_in_place() {
            // What std's line buffer holds: 1 KiB at most, well under `in_place::MAX_LEN`.
            return in_place::write(|| to_std(stream));
        }
        POOL_WRITES.fetch_add(1, Ordering::Relaxed);
        crate::blocking::unblock(move || to_std(stream))
    }

    /// Formats first, so that one `write!` is one trip to the pool (and one atomic write).
    fn write_fmt(&self, args: fmt::Arguments<'_>) -> io::Result<()> {
        match args.as_str() {
            Some(text) => self.write_all(text.as_bytes()),
            None => self.write_all(fmt::format(args).as_bytes()),
        }
    }

    /// Runs `f` holding the lock.
    fn locked<T>(&self, f: impl FnOnce(&OutShared) -> T) -> T {
        struct Release<'a>(&'a OutShared);
        impl Drop for Release<'_> {
            fn drop(&mut self) {
                self.0.release();
            }
        }
        self.acquire();
        let _release = Release(self);
        f(self)
    }
}

macro_rules! output {
    ($(#[$doc:meta])* $name:ident, $(#[$lock_doc:meta])* $lock:ident, $(#[$fn_doc:meta])* $func:ident, $stream:ident, $std:ident) => {
        $(#[$doc])*
        pub struct $name {
            std: std::io::$name,
        }

        $(#[$lock_doc])*
        pub struct $lock<'a> {
            shared: &'a OutShared,
            std: std::io::$name,
            _not_send: PhantomData<*const ()>,
        }

        $(#[$fn_doc])*
        #[must_use]
        pub fn $func() -> $name {
            $name { std: std::io::$std() }
        }

        impl $name {
            /// Locks the handle (reentrantly): other zsync writers wait (park) until the lock
            /// is dropped.
            pub fn lock(&self) -> $lock<'static> {
                let shared = out_shared(Stream::$stream);
                shared.acquire();
                $lock {
                    shared,
                    std: std::io::$std(),
                    _not_send: PhantomData,
                }
            }
        }

        impl Drop for $lock<'_> {
            fn drop(&mut self) {
                self.shared.release();
            }
        }

        impl Write for &$name {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                out_shared(Stream::$stream).locked(|s| s.write(buf, false))
            }

            fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
                out_shared(Stream::$stream).locked(|s| s.write_all(buf))
            }

            fn write_fmt(&mut self, args: fmt::Arguments<'_>) -> io::Result<()> {
                out_shared(Stream::$stream).locked(|s| s.write_fmt(args))
            }

            fn flush(&mut self) -> io::Result<()> {
                out_shared(Stream::$stream).locked(|s| s.flush())
            }
        }

        impl Write for $name {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                (&*self).write(buf)
            }

            fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
                (&*self).write_all(buf)
            }

            fn write_fmt(&mut self, args: fmt::Arguments<'_>) -> io::Result<()> {
                (&*self).write_fmt(args)
            }

            fn flush(&mut self) -> io::Result<()> {
                (&*self).flush()
            }
        }

        impl Write for $lock<'_> {
            fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
                self.shared.write(buf, false)
            }

            fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
                self.shared.write_all(buf)
            }

            fn write_fmt(&mut self, args: fmt::Arguments<'_>) -> io::Result<()> {
                self.shared.write_fmt(args)
            }

            fn flush(&mut self) -> io::Result<()> {
                self.shared.flush()
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }

        impl fmt::Debug for $lock<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($lock)).finish_non_exhaustive()
            }
        }

        impl $name {
            /// Whether the stream is a terminal, like std's `IsTerminal` (which is sealed, so
            /// zsync's handles answer it with this method: `stream.is_terminal()` works as
            /// with std's, trait import or not).
            ///
            /// ```
            #[doc = concat!("let tty = zsync::io::", stringify!($func), "().is_terminal();")]
            #[doc = concat!("assert_eq!(tty, std::io::IsTerminal::is_terminal(&std::io::", stringify!($func), "()));")]
            /// ```
            pub fn is_terminal(&self) -> bool {
                std::io::IsTerminal::is_terminal(&self.std)
            }
        }

        impl $lock<'_> {
            /// Whether the stream is a terminal, like std's `IsTerminal` for its lock.
            ///
            /// ```
            #[doc = concat!("let lock = zsync::io::", stringify!($func), "().lock();")]
            #[doc = concat!("assert_eq!(lock.is_terminal(), std::io::IsTerminal::is_terminal(&std::io::", stringify!($func), "()));")]
            /// ```
            pub fn is_terminal(&self) -> bool {
                std::io::IsTerminal::is_terminal(&self.std)
            }
        }

        impl AsFd for $name {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.std.as_fd()
            }
        }

        impl AsRawFd for $name {
            fn as_raw_fd(&self) -> RawFd {
                self.std.as_raw_fd()
            }
        }

        impl AsFd for $lock<'_> {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.std.as_fd()
            }
        }

        impl AsRawFd for $lock<'_> {
            fn as_raw_fd(&self) -> RawFd {
                self.std.as_raw_fd()
            }
        }
    };
}

output!(
    /// A handle to the standard output, like `std::io::Stdout`: writes go to std's own stdout
    /// (its line buffer, in order with `println!`) and park only the calling green thread.
    ///
    /// ```
    /// use zsync::io::Write;
    /// zsync::run(|| writeln!(zsync::io::stdout(), "one line, one write"))?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    Stdout,
    /// A locked handle to the standard output, like `std::io::StdoutLock`: while it lives,
    /// other writers through `zsync::io::stdout()` wait.
    ///
    /// ```
    /// use zsync::io::Write;
    /// let mut out = zsync::io::stdout().lock();
    /// write!(out, "these ")?;
    /// writeln!(out, "stay together")?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    StdoutLock,
    /// The standard output of the process, like `std::io::stdout`.
    ///
    /// ```
    /// use zsync::io::Write;
    /// zsync::io::stdout().write_all(b"hello\n")?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    stdout,
    Out,
    stdout
);

output!(
    /// A handle to the standard error, like `std::io::Stderr` (unbuffered, like std's):
    /// writes park only the calling green thread.
    ///
    /// ```
    /// use zsync::io::Write;
    /// zsync::run(|| writeln!(zsync::io::stderr(), "a warning"))?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    Stderr,
    /// A locked handle to the standard error, like `std::io::StderrLock`.
    ///
    /// ```
    /// use zsync::io::Write;
    /// let mut err = zsync::io::stderr().lock();
    /// writeln!(err, "error: something")?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    StderrLock,
    /// The standard error of the process, like `std::io::stderr`.
    ///
    /// ```
    /// use zsync::io::Write;
    /// zsync::io::stderr().write_all(b"warning\n")?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    stderr,
    Err,
    stderr
);

impl From<Stdout> for std::process::Stdio {
    /// The process's standard output as a child's standard output or error, like std's
    /// `From<io::Stdout> for Stdio`: the child writes to the same fd 1. Like std's, it does
    /// not flush: text `print!` or this `Stdout` left in std's buffer (a line not yet ended)
    /// may come out after the child's output; flush first to keep the order.
    ///
    /// ```
    /// use zsync::io::Write;
    /// use zsync::process::Command;
    /// let mut out = zsync::io::stdout();
    /// write!(out, "the child says: ")?;
    /// out.flush()?; // not done by the conversion
    /// let status = Command::new("echo").arg("hello").stdout(zsync::io::stdout()).status()?;
    /// assert!(status.success());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn from(stdout: Stdout) -> std::process::Stdio {
        std::process::Stdio::from(stdout.std)
    }
}

impl From<Stderr> for std::process::Stdio {
    /// The process's standard error as a child's standard output or error, like std's
    /// `From<io::Stderr> for Stdio`: the child writes to the same fd 2 (std's `Stderr` keeps no
    /// buffer, so there is nothing to flush, and nothing is).
    ///
    /// ```
    /// use zsync::process::Command;
    /// let status = Command::new("sh")
    ///     .args(["-c", "echo 'a warning from the child' >&2"])
    ///     .stderr(zsync::io::stderr())
    ///     .status()?;
    /// assert!(status.success());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn from(stderr: Stderr) -> std::process::Stdio {
        std::process::Stdio::from(stderr.std)
    }
}

impl fmt::Debug for Stdin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stdin").finish_non_exhaustive()
    }
}

impl fmt::Debug for StdinLock<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StdinLock").finish_non_exhaustive()
    }
}

impl Stdin {
    /// Whether standard input is a terminal, like std's `IsTerminal` (which is sealed, so
    /// zsync's handles answer it with this method: `stdin().is_terminal()` works as with std's,
    /// trait import or not).
    ///
    /// ```
    /// let interactive = zsync::io::stdin().is_terminal();
    /// assert_eq!(interactive, std::io::IsTerminal::is_terminal(&std::io::stdin()));
    /// ```
    pub fn is_terminal(&self) -> bool {
        std::io::IsTerminal::is_terminal(&self.std)
    }
}

impl StdinLock<'_> {
    /// Whether standard input is a terminal, like std's `IsTerminal` for its lock.
    ///
    /// ```
    /// let lock = zsync::io::stdin().lock();
    /// assert_eq!(lock.is_terminal(), std::io::IsTerminal::is_terminal(&std::io::stdin()));
    /// ```
    pub fn is_terminal(&self) -> bool {
        std::io::IsTerminal::is_terminal(&self.std)
    }
}

impl AsFd for Stdin {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.std.as_fd()
    }
}

impl AsRawFd for Stdin {
    fn as_raw_fd(&self) -> RawFd {
        self.std.as_raw_fd()
    }
}

impl AsFd for StdinLock<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.std.as_fd()
    }
}

impl AsRawFd for StdinLock<'_> {
    fn as_raw_fd(&self) -> RawFd {
        self.std.as_raw_fd()
    }
}

// ---- the reactor path ----

/// One of the standard fds as zsync waits on it from a green thread: through its worker's
/// reactor while the fd is pollable (a pipe, a socket, a terminal), in its own (blocking) mode,
/// with non-blocking tries; `None` from [`Pollable::prepare`] sends the caller to the pool.
struct Pollable {
    fd: RawFd,
    /// epoll refused the fd (a regular file, `/dev/null`): the pool, for good.
    refused: AtomicBool,
    /// The kernel refused `RWF_NOWAIT` on it (a terminal): a zero-timeout poll, then the real
    /// call.
    no_nowait: AtomicBool,
    /// For an fd epoll refused: whether small writes to it may be made in place (a regular
    /// file on a local file system, see `crate::fs::in_place`), learnt once on the pool:
    /// [`KIND_UNKNOWN`], [`KIND_IN_PLACE`] or [`KIND_POOL`].
    kind: AtomicU8,
    registration: std::sync::Mutex<Option<Arc<reactor::Registration<Thread>>>>,
}

static STDIO: [Pollable; 3] = [Pollable::new(0), Pollable::new(1), Pollable::new(2)];

const KIND_UNKNOWN: u8 = 0;
const KIND_IN_PLACE: u8 = 1;
const KIND_POOL: u8 = 2;

/// Calls of the standard streams that took the reactor path (for tests).
static REACTOR_CALLS: AtomicU64 = AtomicU64::new(0);

/// How many reads and writes of the standard streams waited on a worker's reactor instead of
/// the blocking pool (for tests).
#[doc(hidden)]
pub fn stdio_reactor_calls() -> u64 {
    REACTOR_CALLS.load(Ordering::Relaxed)
}

/// Writes and flushes of standard output and error sent to the blocking pool (for tests).
static POOL_WRITES: AtomicU64 = AtomicU64::new(0);

/// How many writes and flushes of standard output and error went to the blocking pool (for
/// tests: a small write to a file on a local file system is made in place instead).
#[doc(hidden)]
pub fn stdio_pool_writes() -> u64 {
    POOL_WRITES.load(Ordering::Relaxed)
}

impl Pollable {
    const fn new(fd: RawFd) -> Self {
        Pollable {
            fd,
            refused: AtomicBool::new(false),
            no_nowait: AtomicBool::new(false),
            kind: AtomicU8::new(KIND_UNKNOWN),
            registration: std::sync::Mutex::new(None),
        }
    }

    /// Whether a small write to this fd, which epoll refused, may be made on the calling green
    /// thread now. The first call learns what the fd is, on the pool (`fstat` and `fstatfs`
    /// may wait on a network file system). Like `refused`, the answer is kept for good: an fd
    /// that `dup2` points elsewhere later keeps it.
    fn writes_in_place(&self) -> bool {
        if !in_place::enabled() {
            return false;
        }
        let kind = match self.kind.load(Ordering::Relaxed) {
            KIND_UNKNOWN => {
                let fd = self.fd;
                let local = crate::blocking::unblock(move || in_place::fd_qualifies(fd));
                let kind = if local { KIND_IN_PLACE } else { KIND_POOL };
                self.kind.store(kind, Ordering::Relaxed);
                kind
            }
            kind => kind,
        };
        kind == KIND_IN_PLACE && in_place::allowed()
    }

    /// The fd's registration with a live reactor, when the caller is a green thread whose
    /// worker has one and the fd is pollable.
    fn prepare(&self) -> Option<Arc<reactor::Registration<Thread>>> {
        if self.refused.load(Ordering::Relaxed) {
            return None;
        }
        let Current::Green { worker, .. } = context::current() else {
            return None;
        };
        let reactor = worker.reactor()?;
        let mut slot = self.registration.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(registration) = slot.as_ref() {
            // Any live reactor will do; one of a runtime that has shut down will not.
            if !registration.reactor.is_shut_down() {
                return Some(Arc::clone(registration));
            }
        }
        *slot = None;
        match reactor.register(self.fd) {
            Ok(registration) => {
                let registration = Arc::new(registration);
                *slot = Some(Arc::clone(&registration));
                Some(registration)
            }
            Err(e) => {
                // EPERM: not pollable (a regular file, /dev/null). Anything else (out of
                // memory or fds) leaves it to the pool this time. (An fd the `hook` feature
                // registered first is shared, not refused: see `Reactor::register`.)
                if e.raw_os_error() == Some(libc::EPERM) {
                    self.refused.store(true, Ordering::Relaxed);
                }
                None
            }
        }
    }

    /// One non-blocking try: `preadv2`/`pwritev2` with `RWF_NOWAIT` at the current position
    /// (pipes take it; nothing about the fd changes, so others sharing it still block), or,
    /// where the kernel refuses the flag (terminals), a zero-timeout poll and, if the fd is
    /// ready, the real call (which blocks the worker if another reader drained it in between).
    fn try_once(&self, direction: Direction, ptr: *mut u8, len: usize) -> io::Result<usize> {
        let (nowait_nr, plain_nr, events) = match direction {
            Direction::Read => (libc::SYS_preadv2, libc::SYS_read, libc::POLLIN),
            Direction::Write => (libc::SYS_pwritev2, libc::SYS_write, libc::POLLOUT),
        };
        if !self.no_nowait.load(Ordering::Relaxed) {
            let iov = libc::iovec {
                iov_base: ptr.cast(),
                iov_len: len,
            };
            // SAFETY: one iovec over the caller's buffer, valid for the call; position -1 (the
            // current one), high half 0. A raw syscall: the `hook` feature's wrappers are not
            // wanted here.
            let r = unsafe {
                libc::syscall(
                    nowait_nr,
                    self.fd,
                    &iov,
                    1,
                    -1 as libc::c_long,
                    0 as libc::c_long,
                    libc::RWF_NOWAIT,
                )
            };
            if let Ok(n) = usize::try_from(r) {
                return Ok(n);
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EOPNOTSUPP | libc::ENOSYS | libc::EINVAL) => {
                    self.no_nowait.store(true, Ordering::Relaxed);
                }
                _ => return Err(e),
            }
        }
        let mut p = libc::pollfd {
            fd: self.fd,
            events,
            revents: 0,
        };
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: one valid pollfd and timespec for the call; no signal mask.
        let ready = unsafe {
            libc::syscall(
                libc::SYS_ppoll,
                &mut p,
                1,
                &zero,
                std::ptr::null::<libc::sigset_t>(),
                0,
            )
        };
        if ready == -1 {
            return Err(io::Error::last_os_error());
        }
        if ready == 0 && !user_nonblocking(self.fd) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        // SAFETY: the caller's buffer, valid for `len` bytes.
        let r = unsafe { libc::syscall(plain_nr, self.fd, ptr, len) };
        usize::try_from(r).map_err(|_| io::Error::last_os_error())
    }

    /// Runs `attempt` (built on [`Self::try_once`]) until it does not fail with `WouldBlock`,
    /// parking the green thread for `direction` readiness in between. A cancellation or
    /// `timeout()` unwinds from the park, leaving no waiter behind.
    fn run<R>(
        &self,
        registration: &reactor::Registration<Thread>,
        direction: Direction,
        mut attempt: impl FnMut(&Self) -> io::Result<R>,
    ) -> io::Result<R> {
        REACTOR_CALLS.fetch_add(1, Ordering::Relaxed);
        crate::runtime::monitor::coop::poll();
        let io = &registration.io;
        loop {
            let seen = io.snapshot();
            match attempt(self) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                result => return result,
            }
            if user_nonblocking(self.fd) {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let Current::Green { worker, task } = context::current() else {
                unreachable!("the reactor path runs on green threads");
            };
            io.clear(seen, direction);
            if let Some(key) = io.register(seen, direction, Thread::green(task.clone())) {
                struct Remove<'a>(&'a ScheduledIo<Thread>, u64);
                impl Drop for Remove<'_> {
                    fn drop(&mut self) {
                        self.0.remove(self.1);
                    }
                }
                let _remove = Remove(io, key);
                let _external = worker.remote().watch.external_wait();
                crate::runtime::park::park_until_for(
                    None,
                    crate::runtime::WaitReason::Socket {
                        fd: self.fd,
                        direction: direction.into(),
                    },
                );
            }
        }
    }
}

/// The user made the fd non-blocking (`O_NONBLOCK`): `WouldBlock` is the answer, at once.
fn user_nonblocking(fd: RawFd) -> bool {
    // SAFETY: F_GETFL takes no argument.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    flags != -1 && flags & libc::O_NONBLOCK != 0
}

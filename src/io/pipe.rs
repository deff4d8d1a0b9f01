//! Pipe ends whose reads and writes park the green thread: the shapes shared by
//! `zsync::io::{PipeReader, PipeWriter}` (an anonymous pipe, [`pipe`]) and
//! `zsync::process::{ChildStdin, ChildStdout, ChildStderr}` (a child's standard streams).
//!
//! Each holds std's pipe end as a `File` inside an `IoSource` (so the fd is in O_NONBLOCK mode
//! and every read or write runs the try, `WouldBlock`, wait, retry loop of
//! `net/io_source.rs`): a green thread parks on its worker's reactor, a plain OS thread blocks
//! in poll(2). O_NONBLOCK belongs to the open file description, and the pipe's two ends are two
//! of them, so the other end (another process's, or std's) never sees it. Handing a pipe end
//! back to std (`into_raw_fd`, `OwnedFd::from`, `Stdio::from`, the std type's `From`) restores
//! blocking mode first, since another process may get it next. A `try_clone` shares the open
//! file description: one end handed back while its clone stays with zsync leaves the clone in
//! blocking mode too, so its waits block its OS thread (hand the clone back as well, or keep
//! both).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

macro_rules! pipe_end {
    ($(#[$doc:meta])* $ty:ident, $std:ty) => {
        $(#[$doc])*
        pub struct $ty($crate::net::io_source::IoSource<std::fs::File>);

        impl $ty {
            fn into_owned_fd(self) -> std::os::fd::OwnedFd {
                self.0.into_inner().into()
            }
        }

        impl From<$std> for $ty {
            /// Takes over std's pipe end, switching it to non-blocking mode internally. Never
            /// panics: an fd that refuses non-blocking mode is kept as it is, and its calls
            /// fail as std's would (`EBADF` on an `O_PATH` fd).
            fn from(inner: $std) -> $ty {
                // Unlike a socket's (`IoSource::adopt`), the fd's O_NONBLOCK is not read into
                // a non-blocking mode: the pipe types, std's and these, have none to offer (no
                // `set_nonblocking`), so an end std had made non-blocking with fcntl parks here
                // as a blocking one, and goes back to std in blocking mode, as before.
                let file = std::fs::File::from(std::os::fd::OwnedFd::from(inner));
                $ty($crate::net::io_source::IoSource::adopt_pipe(file))
            }
        }

        impl From<$ty> for $std {
            /// Gives the pipe end back to std, in blocking mode.
            fn from(value: $ty) -> $std {
                <$std>::from(value.into_owned_fd())
            }
        }

        impl From<$ty> for std::process::Stdio {
            /// The pipe end as another command's standard stream (in blocking mode, as the
            /// next process expects), like std's `From<ChildStdout> for Stdio`.
            fn from(value: $ty) -> std::process::Stdio {
                std::process::Stdio::from(value.into_owned_fd())
            }
        }

        impl From<$ty> for std::os::fd::OwnedFd {
            /// The fd, in blocking mode.
            fn from(value: $ty) -> std::os::fd::OwnedFd {
                value.into_owned_fd()
            }
        }

        impl From<std::os::fd::OwnedFd> for $ty {
            /// Takes over a pipe fd, like std's `From<OwnedFd>`.
            fn from(fd: std::os::fd::OwnedFd) -> $ty {
                <$ty>::from(<$std>::from(fd))
            }
        }

        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                std::os::fd::AsRawFd::as_raw_fd(&self.0)
            }
        }

        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                std::os::fd::AsFd::as_fd(self.0.get_ref())
            }
        }

        impl std::os::fd::IntoRawFd for $ty {
            /// The fd, in blocking mode.
            fn into_raw_fd(self) -> std::os::fd::RawFd {
                std::os::fd::IntoRawFd::into_raw_fd(self.into_owned_fd())
            }
        }

        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("fd", &std::os::fd::AsRawFd::as_raw_fd(&self.0))
                    .finish()
            }
        }
    };
}

macro_rules! readable {
    ($ty:ty) => {
        impl std::io::Read for $ty {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let dir = $crate::reactor::scheduled_io::Direction::Read;
                self.0.do_io(dir, |mut f| std::io::Read::read(&mut f, buf))
            }

            fn read_vectored(
                &mut self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                let dir = $crate::reactor::scheduled_io::Direction::Read;
                self.0
                    .do_io(dir, |mut f| std::io::Read::read_vectored(&mut f, bufs))
            }
        }
    };
}

/// `Write` for a pipe end and for a shared reference to it (a pipe write needs no `&mut`).
macro_rules! writable {
    ($ty:ident) => {
        impl std::io::Write for &$ty {
            /// Writes all of `buf`, waiting while the pipe is full, as std's blocking write
            /// does (an error after some of it is written shows on the next call).
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0
                    .write_stream(buf, |mut f, part| std::io::Write::write(&mut f, part))
            }

            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                self.0.write_vectored_stream(bufs, |mut f, bufs| {
                    std::io::Write::write_vectored(&mut f, bufs)
                })
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }

        impl std::io::Write for $ty {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                std::io::Write::write(&mut &*self, buf)
            }

            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                std::io::Write::write_vectored(&mut &*self, bufs)
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
    };
}

pub(crate) use {pipe_end, readable, writable};

pipe_end!(
    /// The read end of an anonymous pipe, like `std::io::PipeReader`: reads park the green
    /// thread until there is data (or every write end is closed: then 0, the end).
    PipeReader,
    std::io::PipeReader
);
pipe_end!(
    /// The write end of an anonymous pipe, like `std::io::PipeWriter`: writes park the green
    /// thread while the pipe is full. Dropping every write end ends the reader's input.
    PipeWriter,
    std::io::PipeWriter
);

readable!(PipeReader);
readable!(&PipeReader);
writable!(PipeWriter);

/// An anonymous pipe, like `std::io::pipe`: what is written to the [`PipeWriter`] is read from
/// the [`PipeReader`], in order. Both ends may go to other threads (green or not) or, through
/// `Stdio::from`, to a child process.
///
/// # Errors
/// Out of file descriptors (`EMFILE`, `ENFILE`, as std): the error names the limit and how to
/// raise it.
///
/// ```
/// use std::io::{Read, Write};
/// let (mut reader, mut writer) = zsync::io::pipe()?;
/// let echo = zsync::spawn(move || {
///     let mut text = String::new();
///     reader.read_to_string(&mut text).unwrap(); // parks until the writer is gone
///     text
/// });
/// writer.write_all(b"through the pipe")?;
/// drop(writer);
/// assert_eq!(echo.join().unwrap(), "through the pipe");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn pipe() -> io::Result<(PipeReader, PipeWriter)> {
    let (reader, writer) = std::io::pipe()
        .map_err(|e| crate::reactor::with_context_if_exhausted(e, "cannot create a pipe"))?;
    Ok((PipeReader::from(reader), PipeWriter::from(writer)))
}

/// Another fd for the same pipe end (`F_DUPFD_CLOEXEC`): the open file description, its
/// O_NONBLOCK included, is shared.
fn duplicate(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC only reads `fd`, which the caller keeps open for the call.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    if new < 0 {
        let err = io::Error::last_os_error();
        return Err(crate::reactor::with_context_if_exhausted(
            err,
            "cannot duplicate a pipe end",
        ));
    }
    // SAFETY: a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

impl FromRawFd for PipeReader {
    /// Takes over `fd`, the read end of a pipe, as `From<OwnedFd>` does, like std's
    /// `PipeReader::from_raw_fd`. (std gives `FromRawFd` to its anonymous pipe's ends only, not
    /// to a child's: neither does zsync.)
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use std::os::fd::{FromRawFd, IntoRawFd};
    /// let (reader, mut writer) = std::io::pipe()?;
    /// // SAFETY: the fd was just released by its owner, and nothing else has it.
    /// let mut reader = unsafe { zsync::io::PipeReader::from_raw_fd(reader.into_raw_fd()) };
    /// writer.write_all(b"raw")?;
    /// drop(writer);
    /// let mut text = String::new();
    /// reader.read_to_string(&mut text)?;
    /// assert_eq!(text, "raw");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    unsafe fn from_raw_fd(fd: RawFd) -> PipeReader {
        // SAFETY: the caller hands over an open fd that nothing else owns.
        PipeReader::from(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

impl FromRawFd for PipeWriter {
    /// Takes over `fd`, the write end of a pipe, as `From<OwnedFd>` does, like std's
    /// `PipeWriter::from_raw_fd`.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use std::os::fd::{FromRawFd, IntoRawFd};
    /// let (mut reader, writer) = std::io::pipe()?;
    /// // SAFETY: the fd was just released by its owner, and nothing else has it.
    /// let mut writer = unsafe { zsync::io::PipeWriter::from_raw_fd(writer.into_raw_fd()) };
    /// writer.write_all(b"raw")?;
    /// drop(writer);
    /// let mut text = String::new();
    /// reader.read_to_string(&mut text)?;
    /// assert_eq!(text, "raw");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    unsafe fn from_raw_fd(fd: RawFd) -> PipeWriter {
        // SAFETY: the caller hands over an open fd that nothing else owns.
        PipeWriter::from(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

impl PipeReader {
    /// Another handle to the same read end, like `std::io::PipeReader::try_clone`.
    ///
    /// # Errors
    /// As std (out of file descriptors).
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// let (reader, mut writer) = zsync::io::pipe()?;
    /// let mut clone = reader.try_clone()?;
    /// writer.write_all(b"x")?;
    /// let mut one = [0u8; 1];
    /// clone.read_exact(&mut one)?;
    /// assert_eq!(&one, b"x");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_clone(&self) -> io::Result<PipeReader> {
        duplicate(self.as_raw_fd()).map(PipeReader::from)
    }
}

impl PipeWriter {
    /// Another handle to the same write end, like `std::io::PipeWriter::try_clone`: the reader
    /// sees the end of its input when every one of them is dropped.
    ///
    /// # Errors
    /// As std (out of file descriptors).
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// let (mut reader, writer) = zsync::io::pipe()?;
    /// let mut clone = writer.try_clone()?;
    /// drop(writer);
    /// clone.write_all(b"still open")?;
    /// drop(clone);
    /// let mut text = String::new();
    /// reader.read_to_string(&mut text)?;
    /// assert_eq!(text, "still open");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn try_clone(&self) -> io::Result<PipeWriter> {
        duplicate(self.as_raw_fd()).map(PipeWriter::from)
    }
}

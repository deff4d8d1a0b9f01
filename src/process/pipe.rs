//! The parent's ends of a child's standard streams: `ChildStdin`, `ChildStdout`, `ChildStderr`.
//!
//! Each holds std's pipe end as a `File` inside an `IoSource` (so the fd is in O_NONBLOCK mode
//! and every read or write runs the try, `WouldBlock`, wait, retry loop of
//! `net/io_source.rs`): a green thread parks on its worker's reactor, a plain OS thread blocks
//! in poll(2). The pipe's other end belongs to the child (a different open file description),
//! so the child never sees O_NONBLOCK. Handing a pipe end back to std (`into_raw_fd`,
//! `OwnedFd::from`, `Stdio::from`, the std type's `From`) restores blocking mode first, since
//! another process may get it next.

use crate::net::io_source::IoSource;
use crate::reactor::scheduled_io::Direction;
use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};

macro_rules! pipe_end {
    ($(#[$doc:meta])* $ty:ident, $std:ty) => {
        $(#[$doc])*
        pub struct $ty(IoSource<File>);

        impl $ty {
            fn into_owned_fd(self) -> OwnedFd {
                self.0.into_inner().into()
            }
        }

        impl From<$std> for $ty {
            /// Takes over std's pipe end, switching it to non-blocking mode internally.
            ///
            /// # Panics
            /// If the fd refuses `FIONBIO` (a pipe never does).
            fn from(inner: $std) -> $ty {
                let file = File::from(OwnedFd::from(inner));
                $ty(IoSource::new(file).expect("FIONBIO on a pipe fd"))
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

        impl From<$ty> for OwnedFd {
            /// The fd, in blocking mode.
            fn from(value: $ty) -> OwnedFd {
                value.into_owned_fd()
            }
        }

        impl From<OwnedFd> for $ty {
            /// Takes over a pipe fd, like std's `From<OwnedFd>`.
            fn from(fd: OwnedFd) -> $ty {
                <$ty>::from(<$std>::from(fd))
            }
        }

        impl AsRawFd for $ty {
            fn as_raw_fd(&self) -> RawFd {
                self.0.as_raw_fd()
            }
        }

        impl AsFd for $ty {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.0.get_ref().as_fd()
            }
        }

        impl IntoRawFd for $ty {
            /// The fd, in blocking mode.
            fn into_raw_fd(self) -> RawFd {
                self.into_owned_fd().into_raw_fd()
            }
        }

        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    .field("fd", &self.0.as_raw_fd())
                    .finish()
            }
        }
    };
}

macro_rules! readable {
    ($ty:ident) => {
        impl Read for $ty {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.0.do_io(Direction::Read, |mut f| f.read(buf))
            }

            fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
                self.0.do_io(Direction::Read, |mut f| f.read_vectored(bufs))
            }
        }
    };
}

pipe_end!(
    /// The write end of a child's standard input, like `std::process::ChildStdin`: writes
    /// park the green thread while the pipe is full. Dropping it closes the pipe (the child
    /// sees the end of its input).
    ChildStdin,
    std::process::ChildStdin
);
pipe_end!(
    /// The read end of a child's standard output, like `std::process::ChildStdout`: reads
    /// park the green thread until the child writes (or exits: then 0, the end).
    ChildStdout,
    std::process::ChildStdout
);
pipe_end!(
    /// The read end of a child's standard error, like `std::process::ChildStderr`.
    ChildStderr,
    std::process::ChildStderr
);

readable!(ChildStdout);
readable!(ChildStderr);

impl Write for &ChildStdin {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.do_io(Direction::Write, |mut f| f.write(buf))
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0
            .do_io(Direction::Write, |mut f| f.write_vectored(bufs))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for ChildStdin {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&*self).write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

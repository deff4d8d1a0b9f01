//! What every zsync socket type shares, written once: the fd traits and conversions, `Read` and
//! `Write` for stream sockets, and the socket timeouts.

/// `AsRawFd`, `AsFd`, `FromRawFd`, `IntoRawFd`, `OwnedFd` conversions, `From<std type>`, the
/// std type's `From<Self>` (documented by the attributes given first) and `Debug` for a socket
/// type wrapping an `IoSource` of `$std`.
macro_rules! fd_traits {
    ($(#[$to_std:meta])* $ty:ident, $std:ty) => {
        impl std::os::fd::AsRawFd for $ty {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                self.0.as_raw_fd()
            }
        }

        impl std::os::fd::AsFd for $ty {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                self.0.get_ref().as_fd()
            }
        }

        impl std::os::fd::FromRawFd for $ty {
            /// Takes over `fd` as `From<std type>` does.
            unsafe fn from_raw_fd(fd: std::os::fd::RawFd) -> $ty {
                // SAFETY: the caller hands over an open socket fd of the right kind.
                <$ty>::from(unsafe { <$std as std::os::fd::FromRawFd>::from_raw_fd(fd) })
            }
        }

        impl std::os::fd::IntoRawFd for $ty {
            /// Gives the fd back with the socket's timeouts in the kernel, in blocking mode
            /// unless set non-blocking: as a std socket would be after the same calls.
            fn into_raw_fd(self) -> std::os::fd::RawFd {
                self.0.into_socket().into_raw_fd()
            }
        }

        impl From<std::os::fd::OwnedFd> for $ty {
            /// Takes over `fd` as `From<std type>` does.
            fn from(fd: std::os::fd::OwnedFd) -> $ty {
                <$ty>::from(<$std>::from(fd))
            }
        }

        impl From<$ty> for std::os::fd::OwnedFd {
            /// Gives the fd back as `into_raw_fd` does.
            fn from(value: $ty) -> std::os::fd::OwnedFd {
                value.0.into_socket().into()
            }
        }

        impl From<$ty> for $std {
            $(#[$to_std])*
            fn from(value: $ty) -> $std {
                value.0.into_socket()
            }
        }

        impl From<$std> for $ty {
            /// Takes over a std socket, which behaves as it did: its non-blocking mode and its
            /// read and write timeouts become the socket's (zsync keeps them itself, switching
            /// the fd to non-blocking mode internally). Never panics: an fd that is not a
            /// socket is taken as std takes it, and its calls fail as std's would (`EBADF` on
            /// an `O_PATH` fd).
            fn from(inner: $std) -> $ty {
                $ty(crate::net::io_source::IoSource::adopt(inner))
            }
        }

        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(&self.0, f)
            }
        }
    };
}

/// `Read` and `Write` for a stream socket type and for a shared reference to it, as std has.
///
/// `$empty_times_out_as_zero`: what the kernel's blocking `recv` of 0 bytes answers when the
/// read timeout passes with nothing to read: 0 on TCP, `EAGAIN` on a Unix stream (see
/// `IoSource::read_stream`).
macro_rules! stream_io {
    ($ty:ident, empty_times_out_as_zero: $empty_times_out_as_zero:expr) => {
        impl std::io::Read for &$ty {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                // std's `read` as a raw system call (see `net::sys`).
                self.0
                    .read_stream(buf.len(), $empty_times_out_as_zero, |s| {
                        crate::net::sys::recv(std::os::fd::AsRawFd::as_raw_fd(s), buf)
                    })
            }

            fn read_vectored(
                &mut self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                let len = bufs.iter().map(|b| b.len()).sum();
                if len == 0 {
                    // The kernel's `readv` of no bytes on a socket answers 0 at once, before
                    // it looks at the socket (in non-blocking mode too).
                    return Ok(0);
                }
                self.0
                    .read_stream(len, $empty_times_out_as_zero, |mut s| s.read_vectored(bufs))
            }
        }

        impl std::io::Write for &$ty {
            /// Writes all of `buf` (in blocking mode, until the write timeout passes or an
            /// error comes after some of it is written), as std's blocking write does.
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                // std's `write` as a raw system call (see `net::sys`).
                self.0.write_stream(buf, |s, part| {
                    crate::net::sys::send(std::os::fd::AsRawFd::as_raw_fd(s), part)
                })
            }

            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                self.0
                    .write_vectored_stream(bufs, |mut s, bufs| s.write_vectored(bufs))
            }

            /// std's `write_all`, with its usual case (one `write` takes everything) inline.
            #[inline]
            fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
                if buf.is_empty() {
                    return Ok(());
                }
                match std::io::Write::write(self, buf) {
                    Ok(n) if n == buf.len() => Ok(()),
                    first => crate::net::io_source::write_all_rest(self, buf, first),
                }
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }

        impl std::io::Read for $ty {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                (&*self).read(buf)
            }

            fn read_vectored(
                &mut self,
                bufs: &mut [std::io::IoSliceMut<'_>],
            ) -> std::io::Result<usize> {
                (&*self).read_vectored(bufs)
            }
        }

        impl std::io::Write for $ty {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                (&*self).write(buf)
            }

            fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
                (&*self).write_vectored(bufs)
            }

            #[inline]
            fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
                (&*self).write_all(buf)
            }

            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
    };
}

/// The four timeout methods of std's sockets, inside an `impl` block.
macro_rules! timeouts {
    () => {
        /// Sets the read timeout: a read that waits longer fails with `WouldBlock`, as std's
        /// does on Unix. `Some(Duration::ZERO)` is an InvalidInput error. As std's, it goes
        /// through the kernel (SO_RCVTIMEO), which rounds it up to whole clock ticks: the
        /// rounded timeout is the one waited for and reported by `read_timeout`.
        ///
        /// ```
        /// use std::io::Read;
        /// use std::time::Duration;
        /// use zsync::net::{TcpListener, TcpStream};
        /// let listener = TcpListener::bind("127.0.0.1:0")?;
        /// let mut stream = TcpStream::connect(listener.local_addr()?)?;
        /// stream.set_read_timeout(Some(Duration::from_millis(10)))?;
        /// let err = stream.read(&mut [0; 1]).unwrap_err();
        /// assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
        /// let err = stream.set_read_timeout(Some(Duration::ZERO)).unwrap_err();
        /// assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn set_read_timeout(&self, dur: Option<std::time::Duration>) -> std::io::Result<()> {
            self.0.set_timeout(Direction::Read, dur)
        }

        /// Sets the write timeout, like `set_read_timeout`.
        ///
        /// ```
        /// use std::io::Write;
        /// use std::time::Duration;
        /// use zsync::net::{TcpListener, TcpStream};
        /// let listener = TcpListener::bind("127.0.0.1:0")?;
        /// let mut stream = TcpStream::connect(listener.local_addr()?)?;
        /// stream.set_write_timeout(Some(Duration::from_millis(10)))?;
        /// // Nobody reads: once the buffers are full, a write waits 10 ms and fails.
        /// let err = loop {
        ///     if let Err(e) = stream.write(&[0; 65536]) {
        ///         break e;
        ///     }
        /// };
        /// assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn set_write_timeout(&self, dur: Option<std::time::Duration>) -> std::io::Result<()> {
            self.0.set_timeout(Direction::Write, dur)
        }

        /// The read timeout; `None` (the default) means reads wait indefinitely. As std's,
        /// this is the kernel's rounding of what was set: whole clock ticks, and `None` for a
        /// timeout the kernel takes as infinite.
        ///
        /// ```
        /// use std::time::Duration;
        /// use zsync::net::{TcpListener, TcpStream};
        /// let listener = TcpListener::bind("127.0.0.1:0")?;
        /// let stream = TcpStream::connect(listener.local_addr()?)?;
        /// assert_eq!(stream.read_timeout()?, None);
        /// stream.set_read_timeout(Some(Duration::from_secs(1)))?;
        /// assert_eq!(stream.read_timeout()?, Some(Duration::from_secs(1)));
        /// stream.set_read_timeout(Some(Duration::from_nanos(1)))?;
        /// assert!(stream.read_timeout()? >= Some(Duration::from_millis(1))); // one tick
        /// stream.set_read_timeout(Some(Duration::MAX))?;
        /// assert_eq!(stream.read_timeout()?, None);
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn read_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
            Ok(self.0.timeout(Direction::Read))
        }

        /// The write timeout; `None` (the default) means writes wait indefinitely. As std's,
        /// the kernel's rounding of what was set (see `read_timeout`).
        ///
        /// ```
        /// use std::time::Duration;
        /// use zsync::net::{TcpListener, TcpStream};
        /// let listener = TcpListener::bind("127.0.0.1:0")?;
        /// let stream = TcpStream::connect(listener.local_addr()?)?;
        /// assert_eq!(stream.write_timeout()?, None);
        /// stream.set_write_timeout(Some(Duration::from_secs(1)))?;
        /// assert_eq!(stream.write_timeout()?, Some(Duration::from_secs(1)));
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn write_timeout(&self) -> std::io::Result<Option<std::time::Duration>> {
            Ok(self.0.timeout(Direction::Write))
        }
    };
}

pub(crate) use {fd_traits, stream_io, timeouts};

//! Unix domain sockets shaped like `std::os::unix::net`: blocking calls park only the calling
//! green thread.
//!
//! `UnixStream::connect` is std's own connect: on a Unix socket it does not wait (unless the
//! listener's backlog is full).

use crate::net::io_source::IoSource;
use crate::reactor::scheduled_io::Direction;
use std::io;
use std::net::Shutdown;
use std::os::unix::net as std_unix;
use std::path::Path;

pub use std::os::unix::net::SocketAddr;

/// A Unix stream socket, like `std::os::unix::net::UnixStream`.
///
/// ```
/// use std::io::{Read, Write};
/// use zsync::os::unix::net::UnixStream;
/// let (mut a, mut b) = UnixStream::pair()?;
/// a.write_all(b"hi")?;
/// let mut buf = [0; 2];
/// b.read_exact(&mut buf)?;
/// assert_eq!(&buf, b"hi");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixStream(IoSource<std_unix::UnixStream>);

/// A Unix socket server, like `std::os::unix::net::UnixListener`.
///
/// ```
/// use zsync::os::unix::net::{UnixListener, UnixStream};
/// let dir = std::env::temp_dir().join(format!("zsync-doc-{}", std::process::id()));
/// let _ = std::fs::remove_file(&dir);
/// let listener = UnixListener::bind(&dir)?;
/// let _client = UnixStream::connect(&dir)?;
/// let (_server_side, _) = listener.accept()?;
/// std::fs::remove_file(&dir)?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixListener(IoSource<std_unix::UnixListener>);

/// A Unix datagram socket, like `std::os::unix::net::UnixDatagram`.
///
/// ```
/// use zsync::os::unix::net::UnixDatagram;
/// let (a, b) = UnixDatagram::pair()?;
/// a.send(b"ping")?;
/// let mut buf = [0; 8];
/// let n = b.recv(&mut buf)?;
/// assert_eq!(&buf[..n], b"ping");
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UnixDatagram(IoSource<std_unix::UnixDatagram>);

/// An endless iterator over the connections of a [`UnixListener`].
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a UnixListener,
}

macro_rules! common {
    () => {
        /// The local address.
        pub fn local_addr(&self) -> io::Result<SocketAddr> {
            self.0.get_ref().local_addr()
        }

        /// A new handle to the same socket, sharing its timeouts and non-blocking mode.
        pub fn try_clone(&self) -> io::Result<Self> {
            Ok(Self(self.0.clone_with(self.0.get_ref().try_clone()?)))
        }

        /// Takes the pending socket error (SO_ERROR).
        pub fn take_error(&self) -> io::Result<Option<io::Error>> {
            self.0.get_ref().take_error()
        }

        /// In non-blocking mode, calls that would wait return `WouldBlock` instead.
        pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
            self.0.set_nonblocking(nonblocking);
            Ok(())
        }
    };
}

impl UnixStream {
    /// Connects to the socket at `path`.
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        Ok(UnixStream(IoSource::new(std_unix::UnixStream::connect(
            path,
        )?)?))
    }

    /// Connects to the socket at `address`.
    pub fn connect_addr(address: &SocketAddr) -> io::Result<UnixStream> {
        Ok(UnixStream(IoSource::new(
            std_unix::UnixStream::connect_addr(address)?,
        )?))
    }

    /// A connected pair of sockets.
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = std_unix::UnixStream::pair()?;
        Ok((UnixStream(IoSource::new(a)?), UnixStream(IoSource::new(b)?)))
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().peer_addr()
    }

    /// Shuts down the read half, the write half or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.0.get_ref().shutdown(how)
    }

    common!();
    crate::net::macros::timeouts!();
}

crate::net::macros::stream_io!(UnixStream);

impl UnixListener {
    /// Creates a socket at `path` and listens on it.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        Ok(UnixListener(IoSource::new(std_unix::UnixListener::bind(
            path,
        )?)?))
    }

    /// Listens on `address`.
    pub fn bind_addr(address: &SocketAddr) -> io::Result<UnixListener> {
        Ok(UnixListener(IoSource::new(
            std_unix::UnixListener::bind_addr(address)?,
        )?))
    }

    /// Waits for a connection and returns it with the peer's address.
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (stream, addr) = self.0.do_io(Direction::Read, |l| l.accept()).map_err(|e| {
            crate::reactor::with_context_if_exhausted(e, "cannot accept a connection")
        })?;
        Ok((UnixStream(IoSource::new(stream)?), addr))
    }

    /// An endless iterator of accepted connections.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    common!();
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<UnixStream>;
    fn next(&mut self) -> Option<io::Result<UnixStream>> {
        Some(self.listener.accept().map(|(stream, _)| stream))
    }
}

impl std::iter::FusedIterator for Incoming<'_> {}

impl UnixDatagram {
    /// Creates a datagram socket bound to `path`.
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram(IoSource::new(std_unix::UnixDatagram::bind(
            path,
        )?)?))
    }

    /// Creates a datagram socket bound to `address`.
    pub fn bind_addr(address: &SocketAddr) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram(IoSource::new(
            std_unix::UnixDatagram::bind_addr(address)?,
        )?))
    }

    /// Creates an unbound datagram socket.
    pub fn unbound() -> io::Result<UnixDatagram> {
        Ok(UnixDatagram(IoSource::new(
            std_unix::UnixDatagram::unbound()?,
        )?))
    }

    /// A connected pair of datagram sockets.
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = std_unix::UnixDatagram::pair()?;
        Ok((
            UnixDatagram(IoSource::new(a)?),
            UnixDatagram(IoSource::new(b)?),
        ))
    }

    /// Connects the socket to `path`.
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        self.0.get_ref().connect(path)
    }

    /// Connects the socket to `address`.
    pub fn connect_addr(&self, address: &SocketAddr) -> io::Result<()> {
        self.0.get_ref().connect_addr(address)
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().peer_addr()
    }

    /// Receives one datagram and the address it came from.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.0.do_io(Direction::Read, |s| s.recv_from(buf))
    }

    /// Receives one datagram from the connected peer.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.do_io(Direction::Read, |s| s.recv(buf))
    }

    /// Sends `buf` to the socket at `path`.
    pub fn send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        let path = path.as_ref();
        self.0.do_io(Direction::Write, |s| s.send_to(buf, path))
    }

    /// Sends `buf` to `address`.
    pub fn send_to_addr(&self, buf: &[u8], address: &SocketAddr) -> io::Result<usize> {
        self.0
            .do_io(Direction::Write, |s| s.send_to_addr(buf, address))
    }

    /// Sends `buf` to the connected peer.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.0.do_io(Direction::Write, |s| s.send(buf))
    }

    /// Shuts down the read half, the write half or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.0.get_ref().shutdown(how)
    }

    common!();
    crate::net::macros::timeouts!();
}

crate::net::macros::fd_traits!(UnixStream, std_unix::UnixStream);
crate::net::macros::fd_traits!(UnixListener, std_unix::UnixListener);
crate::net::macros::fd_traits!(UnixDatagram, std_unix::UnixDatagram);

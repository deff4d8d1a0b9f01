//! Unix domain sockets shaped like `std::os::unix::net`: blocking calls park only the calling
//! green thread.
//!
//! `UnixStream::connect` on a green thread does not wait in the kernel for room in a full
//! listener's queue: it parks and tries again (see `stream_connect`).

use crate::net::io_source::IoSource;
use crate::reactor::scheduled_io::Direction;
use std::io;
use std::net::Shutdown;
use std::os::unix::net as std_unix;
use std::path::Path;

pub use std::os::unix::net::SocketAddr;

use crate::runtime::context::on_green_thread;

/// Names the limit, and how to raise it, in an error that says file descriptors ran out while
/// making a socket; any other error passes as std gave it.
fn exhausted(e: io::Error) -> io::Error {
    crate::reactor::with_context_if_exhausted(e, "cannot open a Unix socket")
}

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
///
/// ```
/// use std::io::{Read, Write};
/// use zsync::os::unix::net::{UnixListener, UnixStream};
/// let name = format!("zsync-incoming-struct-{}.sock", std::process::id());
/// let path = std::env::temp_dir().join(name);
/// let _ = std::fs::remove_file(&path);
/// let listener = UnixListener::bind(&path)?;
/// let mut client = UnixStream::connect(&path)?;
/// client.write_all(b"hi")?;
/// let mut server = listener.incoming().next().unwrap()?;
/// let mut buf = [0; 2];
/// server.read_exact(&mut buf)?;
/// assert_eq!(&buf, b"hi");
/// std::fs::remove_file(&path)?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a UnixListener,
}

macro_rules! common {
    () => {
        /// The local address.
        ///
        /// ```
        /// use zsync::os::unix::net::UnixListener;
        /// let name = format!("zsync-local_addr-{}.sock", std::process::id());
        /// let path = std::env::temp_dir().join(name);
        /// let _ = std::fs::remove_file(&path);
        /// let listener = UnixListener::bind(&path)?;
        /// assert_eq!(listener.local_addr()?.as_pathname(), Some(path.as_path()));
        /// std::fs::remove_file(&path)?;
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn local_addr(&self) -> io::Result<SocketAddr> {
            self.0.get_ref().local_addr()
        }

        /// A new handle to the same socket, sharing its timeouts and non-blocking mode.
        ///
        /// ```
        /// use std::io::{Read, Write};
        /// use std::time::Duration;
        /// use zsync::os::unix::net::UnixStream;
        /// let (a, mut b) = UnixStream::pair()?;
        /// let mut clone = a.try_clone()?;
        /// a.set_read_timeout(Some(Duration::from_secs(1)))?;
        /// assert_eq!(clone.read_timeout()?, Some(Duration::from_secs(1)));
        /// clone.write_all(b"hi")?;
        /// let mut buf = [0; 2];
        /// b.read_exact(&mut buf)?;
        /// assert_eq!(&buf, b"hi");
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn try_clone(&self) -> io::Result<Self> {
            Ok(Self(self.0.try_clone(|s| s.try_clone())?))
        }

        /// Takes the pending socket error (SO_ERROR).
        ///
        /// ```
        /// use zsync::os::unix::net::UnixStream;
        /// let (a, _b) = UnixStream::pair()?;
        /// assert!(a.take_error()?.is_none());
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn take_error(&self) -> io::Result<Option<io::Error>> {
            self.0.get_ref().take_error()
        }

        /// In non-blocking mode, calls that would wait return `WouldBlock` instead.
        ///
        /// ```
        /// use std::io::Read;
        /// use zsync::os::unix::net::UnixStream;
        /// let (mut a, _b) = UnixStream::pair()?;
        /// a.set_nonblocking(true)?;
        /// let err = a.read(&mut [0; 1]).unwrap_err();
        /// assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
        /// # Ok::<(), std::io::Error>(())
        /// ```
        pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
            self.0.set_nonblocking(nonblocking)
        }
    };
}

impl UnixStream {
    /// Connects to the socket at `path`.
    ///
    /// ```
    /// use zsync::os::unix::net::{UnixListener, UnixStream};
    /// let name = format!("zsync-stream-connect-{}.sock", std::process::id());
    /// let path = std::env::temp_dir().join(name);
    /// let _ = std::fs::remove_file(&path);
    /// let _listener = UnixListener::bind(&path)?;
    /// let stream = UnixStream::connect(&path)?;
    /// assert_eq!(stream.peer_addr()?.as_pathname(), Some(path.as_path()));
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// On a green thread, a listener whose queue of unaccepted connections is full parks the
    /// caller (tries again after 1 to 16 ms) instead of holding its worker until the listening
    /// process accepts; the wait is cancellable. Elsewhere it is std's blocking connect.
    pub fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        if !on_green_thread() {
            let stream = std_unix::UnixStream::connect(path).map_err(exhausted)?;
            return Ok(UnixStream(IoSource::new(stream)?));
        }
        // std's checks of the path, with std's errors.
        Self::connect_addr(&SocketAddr::from_pathname(path)?)
    }

    /// Connects to the socket at `address`.
    ///
    /// ```
    /// use zsync::os::unix::net::{UnixListener, UnixStream};
    /// let name = format!("zsync-stream-connect_addr-{}.sock", std::process::id());
    /// let path = std::env::temp_dir().join(name);
    /// let _ = std::fs::remove_file(&path);
    /// let listener = UnixListener::bind(&path)?;
    /// let addr = listener.local_addr()?;
    /// let stream = UnixStream::connect_addr(&addr)?;
    /// assert_eq!(stream.peer_addr()?.as_pathname(), Some(path.as_path()));
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// On a green thread it waits for room in a full listener's queue as
    /// [`connect`](Self::connect) does.
    pub fn connect_addr(address: &SocketAddr) -> io::Result<UnixStream> {
        let stream = match on_green_thread()
            .then(|| super::stream_connect::connect(address))
            .flatten()
        {
            Some(connected) => connected?,
            None => std_unix::UnixStream::connect_addr(address).map_err(exhausted)?,
        };
        Ok(UnixStream(IoSource::new(stream)?))
    }

    /// A connected pair of sockets.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use zsync::os::unix::net::UnixStream;
    /// let (mut a, mut b) = UnixStream::pair()?;
    /// a.write_all(b"ping")?;
    /// let mut buf = [0; 4];
    /// b.read_exact(&mut buf)?;
    /// assert_eq!(&buf, b"ping");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = std_unix::UnixStream::pair().map_err(exhausted)?;
        Ok((UnixStream(IoSource::new(a)?), UnixStream(IoSource::new(b)?)))
    }

    /// The peer's address.
    ///
    /// ```
    /// use zsync::os::unix::net::UnixStream;
    /// let (a, _b) = UnixStream::pair()?;
    /// assert!(a.peer_addr()?.is_unnamed());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().peer_addr()
    }

    /// Shuts down the read half, the write half or both.
    ///
    /// ```
    /// use std::io::Read;
    /// use std::net::Shutdown;
    /// use zsync::os::unix::net::UnixStream;
    /// let (a, mut b) = UnixStream::pair()?;
    /// a.shutdown(Shutdown::Write)?;
    /// let mut buf = Vec::new();
    /// assert_eq!(b.read_to_end(&mut buf)?, 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.0.get_ref().shutdown(how)
    }

    common!();
    crate::net::macros::timeouts!();
}

crate::net::macros::stream_io!(UnixStream, empty_times_out_as_zero: false);

impl UnixListener {
    /// Creates a socket at `path` and listens on it.
    ///
    /// ```
    /// use zsync::os::unix::net::UnixListener;
    /// let name = format!("zsync-listener-bind-{}.sock", std::process::id());
    /// let path = std::env::temp_dir().join(name);
    /// let _ = std::fs::remove_file(&path);
    /// let listener = UnixListener::bind(&path)?;
    /// assert_eq!(listener.local_addr()?.as_pathname(), Some(path.as_path()));
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        let listener = std_unix::UnixListener::bind(path).map_err(exhausted)?;
        Ok(UnixListener(IoSource::new(listener)?))
    }

    /// Listens on `address`.
    ///
    /// ```
    /// use zsync::os::unix::net::{SocketAddr, UnixListener};
    /// let name = format!("zsync-listener-bind_addr-{}.sock", std::process::id());
    /// let path = std::env::temp_dir().join(name);
    /// let _ = std::fs::remove_file(&path);
    /// let addr = SocketAddr::from_pathname(&path)?;
    /// let listener = UnixListener::bind_addr(&addr)?;
    /// assert_eq!(listener.local_addr()?.as_pathname(), Some(path.as_path()));
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind_addr(address: &SocketAddr) -> io::Result<UnixListener> {
        let listener = std_unix::UnixListener::bind_addr(address).map_err(exhausted)?;
        Ok(UnixListener(IoSource::new(listener)?))
    }

    /// Waits for a connection and returns it with the peer's address.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use zsync::os::unix::net::{UnixListener, UnixStream};
    /// let name = format!("zsync-accept-{}.sock", std::process::id());
    /// let path = std::env::temp_dir().join(name);
    /// let _ = std::fs::remove_file(&path);
    /// let listener = UnixListener::bind(&path)?;
    /// let mut client = UnixStream::connect(&path)?;
    /// let (mut server, peer) = listener.accept()?;
    /// assert!(peer.is_unnamed()); // the client did not bind its socket
    /// client.write_all(b"hi")?;
    /// let mut buf = [0; 2];
    /// server.read_exact(&mut buf)?;
    /// assert_eq!(&buf, b"hi");
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (stream, addr) = self.0.do_io(Direction::Read, |l| l.accept()).map_err(|e| {
            crate::reactor::with_context_if_exhausted(e, "cannot accept a connection")
        })?;
        Ok((UnixStream(IoSource::new(stream)?), addr))
    }

    /// An endless iterator of accepted connections.
    ///
    /// ```
    /// use zsync::os::unix::net::{UnixListener, UnixStream};
    /// let name = format!("zsync-incoming-{}.sock", std::process::id());
    /// let path = std::env::temp_dir().join(name);
    /// let _ = std::fs::remove_file(&path);
    /// let listener = UnixListener::bind(&path)?;
    /// let _first = UnixStream::connect(&path)?;
    /// let _second = UnixStream::connect(&path)?;
    /// let accepted: Vec<UnixStream> = listener.incoming().take(2).collect::<Result<_, _>>()?;
    /// assert_eq!(accepted.len(), 2);
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
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

impl<'a> IntoIterator for &'a UnixListener {
    type Item = io::Result<UnixStream>;
    type IntoIter = Incoming<'a>;

    /// The listener's connections, as [`UnixListener::incoming`], so that `for stream in
    /// &listener` works as with std's.
    ///
    /// ```
    /// use std::io::{Read, Write};
    /// use zsync::os::unix::net::{UnixListener, UnixStream};
    /// let name = format!("zsync-into-iter-{}.sock", std::process::id());
    /// let path = std::env::temp_dir().join(name);
    /// let _ = std::fs::remove_file(&path);
    /// let listener = UnixListener::bind(&path)?;
    /// UnixStream::connect(&path)?.write_all(b"hi")?;
    /// for stream in &listener {
    ///     let mut text = String::new();
    ///     stream?.read_to_string(&mut text)?;
    ///     assert_eq!(text, "hi");
    ///     break;
    /// }
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    fn into_iter(self) -> Incoming<'a> {
        self.incoming()
    }
}

impl UnixDatagram {
    /// Creates a datagram socket bound to `path`.
    ///
    /// ```
    /// use zsync::os::unix::net::UnixDatagram;
    /// let name = format!("zsync-datagram-bind-{}.sock", std::process::id());
    /// let path = std::env::temp_dir().join(name);
    /// let _ = std::fs::remove_file(&path);
    /// let socket = UnixDatagram::bind(&path)?;
    /// UnixDatagram::unbound()?.send_to(b"hi", &path)?;
    /// let mut buf = [0; 2];
    /// assert_eq!(socket.recv(&mut buf)?, 2);
    /// assert_eq!(&buf, b"hi");
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixDatagram> {
        let socket = std_unix::UnixDatagram::bind(path).map_err(exhausted)?;
        Ok(UnixDatagram(IoSource::new(socket)?))
    }

    /// Creates a datagram socket bound to `address`.
    ///
    /// ```
    /// use zsync::os::unix::net::{SocketAddr, UnixDatagram};
    /// let name = format!("zsync-datagram-bind_addr-{}.sock", std::process::id());
    /// let path = std::env::temp_dir().join(name);
    /// let _ = std::fs::remove_file(&path);
    /// let addr = SocketAddr::from_pathname(&path)?;
    /// let socket = UnixDatagram::bind_addr(&addr)?;
    /// assert_eq!(socket.local_addr()?.as_pathname(), Some(path.as_path()));
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn bind_addr(address: &SocketAddr) -> io::Result<UnixDatagram> {
        let socket = std_unix::UnixDatagram::bind_addr(address).map_err(exhausted)?;
        Ok(UnixDatagram(IoSource::new(socket)?))
    }

    /// Creates an unbound datagram socket.
    ///
    /// ```
    /// use zsync::os::unix::net::UnixDatagram;
    /// let socket = UnixDatagram::unbound()?;
    /// assert!(socket.local_addr()?.is_unnamed());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn unbound() -> io::Result<UnixDatagram> {
        let socket = std_unix::UnixDatagram::unbound().map_err(exhausted)?;
        Ok(UnixDatagram(IoSource::new(socket)?))
    }

    /// A connected pair of datagram sockets.
    ///
    /// ```
    /// use zsync::os::unix::net::UnixDatagram;
    /// let (a, b) = UnixDatagram::pair()?;
    /// b.send(b"pong")?;
    /// let mut buf = [0; 8];
    /// let n = a.recv(&mut buf)?;
    /// assert_eq!(&buf[..n], b"pong");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = std_unix::UnixDatagram::pair().map_err(exhausted)?;
        Ok((
            UnixDatagram(IoSource::new(a)?),
            UnixDatagram(IoSource::new(b)?),
        ))
    }

    /// Connects the socket to `path`.
    ///
    /// ```
    /// use zsync::os::unix::net::UnixDatagram;
    /// let name = format!("zsync-datagram-connect-{}.sock", std::process::id());
    /// let path = std::env::temp_dir().join(name);
    /// let _ = std::fs::remove_file(&path);
    /// let server = UnixDatagram::bind(&path)?;
    /// let client = UnixDatagram::unbound()?;
    /// client.connect(&path)?;
    /// client.send(b"hi")?;
    /// let mut buf = [0; 2];
    /// assert_eq!(server.recv(&mut buf)?, 2);
    /// assert_eq!(&buf, b"hi");
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        self.0.get_ref().connect(path)
    }

    /// Connects the socket to `address`.
    ///
    /// ```
    /// use zsync::os::unix::net::UnixDatagram;
    /// let name = format!("zsync-datagram-connect_addr-{}.sock", std::process::id());
    /// let path = std::env::temp_dir().join(name);
    /// let _ = std::fs::remove_file(&path);
    /// let server = UnixDatagram::bind(&path)?;
    /// let client = UnixDatagram::unbound()?;
    /// client.connect_addr(&server.local_addr()?)?;
    /// assert_eq!(client.peer_addr()?.as_pathname(), Some(path.as_path()));
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect_addr(&self, address: &SocketAddr) -> io::Result<()> {
        self.0.get_ref().connect_addr(address)
    }

    /// The peer's address.
    ///
    /// ```
    /// use zsync::os::unix::net::UnixDatagram;
    /// let (a, _b) = UnixDatagram::pair()?;
    /// assert!(a.peer_addr()?.is_unnamed());
    /// assert!(UnixDatagram::unbound()?.peer_addr().is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().peer_addr()
    }

    /// Receives one datagram and the address it came from.
    ///
    /// ```
    /// use zsync::os::unix::net::UnixDatagram;
    /// let name = format!("zsync-recv_from-{}.sock", std::process::id());
    /// let path = std::env::temp_dir().join(name);
    /// let _ = std::fs::remove_file(&path);
    /// let server = UnixDatagram::bind(&path)?;
    /// let client = UnixDatagram::unbound()?;
    /// client.send_to(b"hi", &path)?;
    /// let mut buf = [0; 8];
    /// let (n, from) = server.recv_from(&mut buf)?;
    /// assert_eq!(&buf[..n], b"hi");
    /// assert!(from.is_unnamed()); // the sender is not bound
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        // After `shutdown(Read)`, std's answer: no datagram, from no address (an unnamed one).
        self.0.recv_datagram(
            |s| s.recv_from(buf),
            || Ok((0, SocketAddr::from_pathname("")?)),
        )
    }

    /// Receives one datagram from the connected peer.
    ///
    /// ```
    /// use zsync::os::unix::net::UnixDatagram;
    /// let (a, b) = UnixDatagram::pair()?;
    /// a.send(b"one")?;
    /// a.send(b"two")?;
    /// let mut buf = [0; 8];
    /// let n = b.recv(&mut buf)?;
    /// assert_eq!(&buf[..n], b"one");
    /// let n = b.recv(&mut buf)?;
    /// assert_eq!(&buf[..n], b"two");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.recv_datagram(|s| s.recv(buf), || Ok(0))
    }

    /// Sends `buf` to the socket at `path`.
    ///
    /// ```
    /// use zsync::os::unix::net::UnixDatagram;
    /// let name = format!("zsync-send_to-{}.sock", std::process::id());
    /// let path = std::env::temp_dir().join(name);
    /// let _ = std::fs::remove_file(&path);
    /// let server = UnixDatagram::bind(&path)?;
    /// let client = UnixDatagram::unbound()?;
    /// assert_eq!(client.send_to(b"hi", &path)?, 2);
    /// let mut buf = [0; 8];
    /// let n = server.recv(&mut buf)?;
    /// assert_eq!(&buf[..n], b"hi");
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        let path = path.as_ref();
        self.0.do_io(Direction::Write, |s| s.send_to(buf, path))
    }

    /// Sends `buf` to `address`.
    ///
    /// ```
    /// use zsync::os::unix::net::UnixDatagram;
    /// let name = format!("zsync-send_to_addr-{}.sock", std::process::id());
    /// let path = std::env::temp_dir().join(name);
    /// let _ = std::fs::remove_file(&path);
    /// let server = UnixDatagram::bind(&path)?;
    /// let client = UnixDatagram::unbound()?;
    /// assert_eq!(client.send_to_addr(b"hi", &server.local_addr()?)?, 2);
    /// let mut buf = [0; 8];
    /// let n = server.recv(&mut buf)?;
    /// assert_eq!(&buf[..n], b"hi");
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send_to_addr(&self, buf: &[u8], address: &SocketAddr) -> io::Result<usize> {
        self.0
            .do_io(Direction::Write, |s| s.send_to_addr(buf, address))
    }

    /// Sends `buf` to the connected peer.
    ///
    /// ```
    /// use zsync::os::unix::net::UnixDatagram;
    /// let (a, b) = UnixDatagram::pair()?;
    /// assert_eq!(a.send(b"hi")?, 2);
    /// let mut buf = [0; 8];
    /// let n = b.recv(&mut buf)?;
    /// assert_eq!(&buf[..n], b"hi");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.0.do_io(Direction::Write, |s| s.send(buf))
    }

    /// Shuts down the read half, the write half or both. With the read half shut down, a
    /// receive that finds nothing queued returns 0 bytes at once, and one waiting in another
    /// thread wakes with 0, as std's.
    ///
    /// ```
    /// use std::net::Shutdown;
    /// use zsync::os::unix::net::UnixDatagram;
    /// let (a, _b) = UnixDatagram::pair()?;
    /// a.shutdown(Shutdown::Write)?;
    /// let err = a.send(b"lost").unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
    /// a.shutdown(Shutdown::Read)?;
    /// assert_eq!(a.recv(&mut [0; 8])?, 0);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.0.get_ref().shutdown(how)
    }

    common!();
    crate::net::macros::timeouts!();
}

crate::net::macros::fd_traits!(
    /// Gives the socket back to std, as `into_raw_fd` does: its read and write timeouts in
    /// the kernel, its fd in blocking mode unless it was set non-blocking.
    ///
    /// ```
    /// use std::time::Duration;
    /// use zsync::os::unix::net::UnixStream;
    /// let (a, _b) = UnixStream::pair()?;
    /// a.set_read_timeout(Some(Duration::from_secs(2)))?;
    /// let theirs = std::os::unix::net::UnixStream::from(a);
    /// assert_eq!(theirs.read_timeout()?, Some(Duration::from_secs(2)));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    UnixStream,
    std_unix::UnixStream
);
crate::net::macros::fd_traits!(
    /// Gives the listener back to std, as `into_raw_fd` does: in blocking mode unless it was
    /// set non-blocking.
    ///
    /// ```
    /// use zsync::os::unix::net::UnixListener;
    /// let name = format!("zsync-listener-to-std-{}.sock", std::process::id());
    /// let path = std::env::temp_dir().join(name);
    /// let _ = std::fs::remove_file(&path);
    /// let listener = UnixListener::bind(&path)?;
    /// let theirs = std::os::unix::net::UnixListener::from(listener);
    /// assert_eq!(theirs.local_addr()?.as_pathname(), Some(path.as_path()));
    /// std::fs::remove_file(&path)?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    UnixListener,
    std_unix::UnixListener
);
crate::net::macros::fd_traits!(
    /// Gives the socket back to std, as `into_raw_fd` does: its read and write timeouts in
    /// the kernel, its fd in blocking mode unless it was set non-blocking.
    ///
    /// ```
    /// use std::time::Duration;
    /// use zsync::os::unix::net::UnixDatagram;
    /// let (a, _b) = UnixDatagram::pair()?;
    /// a.set_nonblocking(true)?;
    /// a.set_write_timeout(Some(Duration::from_secs(2)))?;
    /// let theirs = std::os::unix::net::UnixDatagram::from(a);
    /// assert_eq!(theirs.write_timeout()?, Some(Duration::from_secs(2)));
    /// let err = theirs.recv(&mut [0; 4]).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock); // still non-blocking
    /// # Ok::<(), std::io::Error>(())
    /// ```
    UnixDatagram,
    std_unix::UnixDatagram
);

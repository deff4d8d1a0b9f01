//! TCP: `TcpListener`, `TcpStream`, `Incoming`, shaped like std's.

use super::addr::{each_addr, ToSocketAddrs};
use crate::net::io_source::IoSource;
use crate::reactor::scheduled_io::Direction;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd};
use std::time::{Duration, Instant};

/// A TCP stream between a local and a remote socket, like `std::net::TcpStream`; blocking calls
/// park only the calling green thread.
///
/// ```
/// use std::io::{Read, Write};
/// use zsync::net::{TcpListener, TcpStream};
/// zsync::run(|| -> std::io::Result<()> {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let addr = listener.local_addr()?;
///     let server = zsync::spawn(move || -> std::io::Result<()> {
///         let (mut stream, _) = listener.accept()?;
///         let mut buf = [0; 5];
///         stream.read_exact(&mut buf)?;
///         stream.write_all(&buf)
///     });
///     let mut client = TcpStream::connect(addr)?;
///     client.write_all(b"hello")?;
///     let mut echo = [0; 5];
///     client.read_exact(&mut echo)?;
///     assert_eq!(&echo, b"hello");
///     server.join().unwrap()
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TcpStream(IoSource<std::net::TcpStream>);

/// A TCP socket server, listening for connections, like `std::net::TcpListener`.
///
/// ```
/// use zsync::net::TcpListener;
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// assert!(listener.local_addr()?.port() != 0);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct TcpListener(IoSource<std::net::TcpListener>);

/// An endless iterator over the connections of a [`TcpListener`], like
/// `std::net::Incoming`.
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

fn connect_error_timeout(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::WouldBlock {
        io::Error::new(io::ErrorKind::TimedOut, "connection timed out")
    } else {
        e
    }
}

impl TcpStream {
    /// Opens a TCP connection to `addr`, trying each resolved address in turn, like
    /// `std::net::TcpStream::connect`.
    pub fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        each_addr(&addr, |addr| TcpStream::connect_addr(addr, None))
    }

    /// Opens a TCP connection to `addr`, giving up after `timeout` (TimedOut). A zero timeout
    /// is an InvalidInput error, as in std. As std's, it counts the time from the `connect`
    /// call and checks it before waiting for the connection to complete, the first wait
    /// included: a timeout too short to reach that check fails even on loopback.
    ///
    /// ```
    /// use std::time::Duration;
    /// use zsync::net::{TcpListener, TcpStream};
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    /// assert_eq!(stream.peer_addr()?, addr);
    /// let err = TcpStream::connect_timeout(&addr, Duration::from_nanos(1)).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect_timeout(addr: &SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        if timeout.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        TcpStream::connect_addr(addr, Some(timeout)).map_err(connect_error_timeout)
    }

    /// Connects to `addr`, for at most `timeout`, counted as std counts it: from the
    /// `connect` call's return (`EINPROGRESS`), and checked before each wait, the first
    /// included (std's loop checks the time, then polls), so a timeout shorter than the
    /// clock's step between the two readings fails even on loopback.
    fn connect_addr(addr: &SocketAddr, timeout: Option<Duration>) -> io::Result<TcpStream> {
        // A non-blocking connect (socket with SOCK_NONBLOCK | SOCK_CLOEXEC, then connect, which
        // returns EINPROGRESS); completion is write readiness, its result SO_ERROR.
        let pending = mio::net::TcpStream::connect(*addr).map_err(|e| {
            crate::reactor::with_context_if_exhausted(e, "cannot open a TCP socket")
        })?;
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        // SAFETY: the fd is a fresh TCP socket we own, handed over whole.
        let stream = unsafe { std::net::TcpStream::from_raw_fd(pending.into_raw_fd()) };
        let source = IoSource::new(stream)?;
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(io::ErrorKind::WouldBlock.into()); // TimedOut, in connect_timeout
        }
        source.do_io_until(Direction::Write, deadline, |s| {
            if let Some(e) = s.take_error()? {
                return Err(e);
            }
            match s.peer_addr() {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                    Err(io::ErrorKind::WouldBlock.into())
                }
                Err(e) => Err(e),
            }
        })?;
        Ok(TcpStream(source))
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().local_addr()
    }

    /// Shuts down the read half, the write half or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.0.get_ref().shutdown(how)
    }

    /// A new handle to the same socket; it shares this one's timeouts and non-blocking mode,
    /// as std's clones share the socket's.
    pub fn try_clone(&self) -> io::Result<TcpStream> {
        Ok(TcpStream(self.0.try_clone(std::net::TcpStream::try_clone)?))
    }

    super::macros::timeouts!();

    /// Reads without removing the data from the queue. A peek into no buffer waits for data
    /// as a read does, and answers `Ok(0)` when the read timeout passes first (as the kernel's).
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        let len = buf.len();
        let result = self.0.do_io(Direction::Read, |s| s.peek(buf));
        self.0.empty_read_answer(len, true, result)
    }

    /// Sets TCP_NODELAY.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.0.get_ref().set_nodelay(nodelay)
    }

    /// Reads TCP_NODELAY.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.0.get_ref().nodelay()
    }

    /// Sets IP_TTL.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.0.get_ref().set_ttl(ttl)
    }

    /// Reads IP_TTL.
    pub fn ttl(&self) -> io::Result<u32> {
        self.0.get_ref().ttl()
    }

    /// Takes the pending socket error (SO_ERROR).
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.0.get_ref().take_error()
    }

    /// In non-blocking mode, calls that would wait return `WouldBlock` instead, as in std.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.0.set_nonblocking(nonblocking)
    }
}

super::macros::stream_io!(TcpStream, empty_times_out_as_zero: true);

impl TcpListener {
    /// Binds a listener to `addr`, trying each resolved address in turn, like
    /// `std::net::TcpListener::bind`.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        let listener = each_addr(&addr, |a| std::net::TcpListener::bind(*a)).map_err(|e| {
            crate::reactor::with_context_if_exhausted(e, "cannot open a TCP socket")
        })?;
        super::deepen_backlog(listener.as_raw_fd());
        Ok(TcpListener(IoSource::new(listener)?))
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().local_addr()
    }

    /// A new handle to the same socket.
    pub fn try_clone(&self) -> io::Result<TcpListener> {
        Ok(TcpListener(
            self.0.try_clone(std::net::TcpListener::try_clone)?,
        ))
    }

    /// Waits for a connection and returns it with the peer's address.
    pub fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, addr) = self.0.do_io(Direction::Read, |l| l.accept()).map_err(|e| {
            crate::reactor::with_context_if_exhausted(e, "cannot accept a connection")
        })?;
        Ok((TcpStream(IoSource::new(stream)?), addr))
    }

    /// An endless iterator of accepted connections.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// Sets IP_TTL.
    pub fn set_ttl(&self, ttl: u32) -> io::Result<()> {
        self.0.get_ref().set_ttl(ttl)
    }

    /// Reads IP_TTL.
    pub fn ttl(&self) -> io::Result<u32> {
        self.0.get_ref().ttl()
    }

    /// Takes the pending socket error (SO_ERROR).
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.0.get_ref().take_error()
    }

    /// In non-blocking mode, `accept` returns `WouldBlock` instead of waiting.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.0.set_nonblocking(nonblocking)
    }

    /// Sets IPV6_V6ONLY, as std's `TcpListener::set_only_v6` does (deprecated there since
    /// Rust 1.16, and here as there): the option only matters before `bind`, and every
    /// listener is bound already, so Linux refuses it (`InvalidInput`, `EINVAL`; an IPv4
    /// listener has no such option: an error too).
    ///
    /// ```
    /// # #![allow(deprecated)]
    /// use zsync::net::TcpListener;
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// assert!(listener.set_only_v6(true).is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[deprecated(
        since = "1.16.0",
        note = "this option can only be set before the socket is bound"
    )]
    pub fn set_only_v6(&self, only_v6: bool) -> io::Result<()> {
        #[allow(deprecated)]
        self.0.get_ref().set_only_v6(only_v6)
    }

    /// Reads IPV6_V6ONLY, as std's `TcpListener::only_v6` does (deprecated there since Rust
    /// 1.16, and here as there); an IPv4 listener has no such option (an error).
    ///
    /// ```
    /// # #![allow(deprecated)]
    /// use zsync::net::TcpListener;
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stds = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// assert_eq!(listener.only_v6().is_err(), stds.only_v6().is_err());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[deprecated(
        since = "1.16.0",
        note = "this option can only be set before the socket is bound"
    )]
    pub fn only_v6(&self) -> io::Result<bool> {
        #[allow(deprecated)]
        self.0.get_ref().only_v6()
    }
}

impl<'a> Iterator for Incoming<'a> {
    type Item = io::Result<TcpStream>;
    fn next(&mut self) -> Option<io::Result<TcpStream>> {
        Some(self.listener.accept().map(|(stream, _)| stream))
    }
}

impl std::iter::FusedIterator for Incoming<'_> {}

super::macros::fd_traits!(
    /// Gives the socket back to std, as `into_raw_fd` does: its read and write timeouts in
    /// the kernel, its fd in blocking mode unless it was set non-blocking.
    ///
    /// ```
    /// use std::time::Duration;
    /// use zsync::net::{TcpListener, TcpStream};
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let stream = TcpStream::connect(listener.local_addr()?)?;
    /// stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    /// let theirs = std::net::TcpStream::from(stream);
    /// assert_eq!(theirs.read_timeout()?, Some(Duration::from_secs(2)));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    TcpStream,
    std::net::TcpStream
);
super::macros::fd_traits!(
    /// Gives the listener back to std, as `into_raw_fd` does: in blocking mode unless it was
    /// set non-blocking.
    ///
    /// ```
    /// use zsync::net::TcpListener;
    /// let listener = TcpListener::bind("127.0.0.1:0")?;
    /// let addr = listener.local_addr()?;
    /// let theirs = std::net::TcpListener::from(listener);
    /// assert_eq!(theirs.local_addr()?, addr);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    TcpListener,
    std::net::TcpListener
);

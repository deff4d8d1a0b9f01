//! UDP: `UdpSocket`, shaped like std's.

use super::addr::{each_addr, ToSocketAddrs};
use crate::net::io_source::IoSource;
use crate::reactor::scheduled_io::Direction;
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

/// A UDP socket, like `std::net::UdpSocket`; blocking calls park only the calling green thread.
///
/// ```
/// use zsync::net::UdpSocket;
/// let a = UdpSocket::bind("127.0.0.1:0")?;
/// let b = UdpSocket::bind("127.0.0.1:0")?;
/// a.send_to(b"ping", b.local_addr()?)?;
/// let mut buf = [0; 16];
/// let (n, from) = b.recv_from(&mut buf)?;
/// assert_eq!((&buf[..n], from), (&b"ping"[..], a.local_addr()?));
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct UdpSocket(IoSource<std::net::UdpSocket>);

/// What std's `recv_from` and `peek_from` return on a socket whose read half is shut down and
/// whose queue is empty: the kernel's answer has no sender address, which std refuses.
fn shut_from() -> io::Result<(usize, SocketAddr)> {
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        "invalid argument",
    ))
}

impl UdpSocket {
    /// Binds a socket to `addr`, trying each resolved address in turn.
    pub fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        let socket = each_addr(&addr, |a| std::net::UdpSocket::bind(*a)).map_err(|e| {
            crate::reactor::with_context_if_exhausted(e, "cannot open a UDP socket")
        })?;
        Ok(UdpSocket(IoSource::new(socket)?))
    }

    /// Receives one datagram and the address it came from.
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.0.recv_datagram(|s| s.recv_from(buf), shut_from)
    }

    /// Like [`recv_from`](Self::recv_from), leaving the datagram queued.
    pub fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.0.recv_datagram(|s| s.peek_from(buf), shut_from)
    }

    /// Sends `buf` to the first address `addr` resolves to; InvalidInput if there is none, as
    /// in std.
    pub fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], addr: A) -> io::Result<usize> {
        match addr.to_socket_addrs()?.next() {
            Some(addr) => self.0.do_io(Direction::Write, |s| s.send_to(buf, addr)),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no addresses to send data to",
            )),
        }
    }

    /// The address of the connected peer.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().local_addr()
    }

    /// A new handle to the same socket, sharing its timeouts and non-blocking mode.
    pub fn try_clone(&self) -> io::Result<UdpSocket> {
        Ok(UdpSocket(self.0.try_clone(std::net::UdpSocket::try_clone)?))
    }

    super::macros::timeouts!();

    /// Sets SO_BROADCAST.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.0.get_ref().set_broadcast(on)
    }

    /// Reads SO_BROADCAST.
    pub fn broadcast(&self) -> io::Result<bool> {
        self.0.get_ref().broadcast()
    }

    /// Sets IP_MULTICAST_LOOP.
    pub fn set_multicast_loop_v4(&self, on: bool) -> io::Result<()> {
        self.0.get_ref().set_multicast_loop_v4(on)
    }

    /// Reads IP_MULTICAST_LOOP.
    pub fn multicast_loop_v4(&self) -> io::Result<bool> {
        self.0.get_ref().multicast_loop_v4()
    }

    /// Sets IP_MULTICAST_TTL.
    pub fn set_multicast_ttl_v4(&self, ttl: u32) -> io::Result<()> {
        self.0.get_ref().set_multicast_ttl_v4(ttl)
    }

    /// Reads IP_MULTICAST_TTL.
    pub fn multicast_ttl_v4(&self) -> io::Result<u32> {
        self.0.get_ref().multicast_ttl_v4()
    }

    /// Sets IPV6_MULTICAST_LOOP.
    pub fn set_multicast_loop_v6(&self, on: bool) -> io::Result<()> {
        self.0.get_ref().set_multicast_loop_v6(on)
    }

    /// Reads IPV6_MULTICAST_LOOP.
    pub fn multicast_loop_v6(&self) -> io::Result<bool> {
        self.0.get_ref().multicast_loop_v6()
    }

    /// Joins an IPv4 multicast group.
    pub fn join_multicast_v4(&self, multiaddr: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.0.get_ref().join_multicast_v4(multiaddr, interface)
    }

    /// Joins an IPv6 multicast group.
    pub fn join_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.0.get_ref().join_multicast_v6(multiaddr, interface)
    }

    /// Leaves an IPv4 multicast group.
    pub fn leave_multicast_v4(&self, multiaddr: &Ipv4Addr, interface: &Ipv4Addr) -> io::Result<()> {
        self.0.get_ref().leave_multicast_v4(multiaddr, interface)
    }

    /// Leaves an IPv6 multicast group.
    pub fn leave_multicast_v6(&self, multiaddr: &Ipv6Addr, interface: u32) -> io::Result<()> {
        self.0.get_ref().leave_multicast_v6(multiaddr, interface)
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

    /// Connects the socket to the first address of `addr` that works.
    pub fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        each_addr(&addr, |addr| self.0.get_ref().connect(addr))
    }

    /// Sends `buf` to the connected peer.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.0.do_io(Direction::Write, |s| s.send(buf))
    }

    /// Receives one datagram from the connected peer. Once the socket's read half is shut
    /// down (`libc::shutdown` with `SHUT_RD`) and nothing is queued, returns 0 at once, as
    /// std's does (and `recv_from` std's error for the missing address, InvalidInput).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.recv_datagram(|s| s.recv(buf), || Ok(0))
    }

    /// Like [`recv`](Self::recv), leaving the datagram queued.
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.recv_datagram(|s| s.peek(buf), || Ok(0))
    }

    /// In non-blocking mode, calls that would wait return `WouldBlock` instead.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        self.0.set_nonblocking(nonblocking)
    }
}

super::macros::fd_traits!(
    /// Gives the socket back to std, as `into_raw_fd` does: its read and write timeouts in
    /// the kernel, its fd in blocking mode unless it was set non-blocking.
    ///
    /// ```
    /// use std::time::Duration;
    /// use zsync::net::UdpSocket;
    /// let socket = UdpSocket::bind("127.0.0.1:0")?;
    /// socket.set_write_timeout(Some(Duration::from_secs(2)))?;
    /// let theirs = std::net::UdpSocket::from(socket);
    /// assert_eq!(theirs.write_timeout()?, Some(Duration::from_secs(2)));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    UdpSocket,
    std::net::UdpSocket
);

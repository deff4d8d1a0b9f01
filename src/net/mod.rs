//! Networking shaped like `std::net`: TCP and UDP sockets whose blocking calls park only the
//! calling green thread (on a plain OS thread they block, as std's do).
//!
//! Port blocking code by changing `std::net` to `zsync::net` in the imports. Host names given to
//! `connect`, `bind` and `send_to` are resolved on the blocking pool, never on a worker.

mod addr;
pub(crate) mod io_source;
pub(crate) mod macros;
pub(crate) mod sys;
mod tcp;
mod udp;

pub use addr::ToSocketAddrs;
pub use std::net::{
    AddrParseError, IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, SocketAddrV4, SocketAddrV6,
};
pub use tcp::{Incoming, TcpListener, TcpStream};
pub use udp::UdpSocket;

/// Lets a TCP listener that std has just made (`listen(fd, 128)`) queue as many connections as
/// the system allows (`net.core.somaxconn`, 4096 by default since Linux 5.4), as std's own Unix
/// listeners (`listen(fd, -1)`) and Go's do (tokio's: 1024); calling `listen` again on a
/// listening socket changes only its backlog. A server of green threads is meant for thousands
/// of clients: with 128, 2000 clients connecting at once overflowed the queue, and each dropped
/// attempt waited for the client's one-second SYN retransmission (the demo's echo round took up
/// to 8 s instead of 2). A refusal leaves std's backlog, which still works.
pub(crate) fn deepen_backlog(fd: std::os::fd::RawFd) {
    // SAFETY: `listen` on a socket descriptor the caller owns; it changes only its backlog (-1:
    // the system's maximum, as std's Unix listeners ask).
    unsafe { libc::listen(fd, -1) };
}

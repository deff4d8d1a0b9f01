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

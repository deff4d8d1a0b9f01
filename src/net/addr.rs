//! `ToSocketAddrs`: std's trait, with host-name resolution moved off the workers.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// Values that can be turned into socket addresses, like `std::net::ToSocketAddrs` and
/// implemented for the same types.
///
/// Literal addresses are parsed in place; a host name is resolved on the blocking pool (see
/// [`unblock`](crate::unblock)), so that a slow DNS lookup parks only the calling green thread.
///
/// ```
/// use zsync::net::{SocketAddr, ToSocketAddrs};
/// let addrs: Vec<SocketAddr> = ("127.0.0.1", 8080).to_socket_addrs()?.collect();
/// assert_eq!(addrs, ["127.0.0.1:8080".parse::<SocketAddr>().unwrap()]);
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait ToSocketAddrs {
    /// The iterator of addresses.
    type Iter: Iterator<Item = SocketAddr>;

    /// The addresses this value stands for; host names are resolved.
    fn to_socket_addrs(&self) -> io::Result<Self::Iter>;
}

macro_rules! literal {
    ($($ty:ty => |$v:ident| $e:expr;)*) => {$(
        impl ToSocketAddrs for $ty {
            type Iter = std::option::IntoIter<SocketAddr>;
            fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
                let $v = self;
                Ok(Some($e).into_iter())
            }
        }
    )*};
}

literal! {
    SocketAddr => |a| *a;
    SocketAddrV4 => |a| SocketAddr::V4(*a);
    SocketAddrV6 => |a| SocketAddr::V6(*a);
    (IpAddr, u16) => |a| SocketAddr::new(a.0, a.1);
    (Ipv4Addr, u16) => |a| SocketAddr::new(IpAddr::V4(a.0), a.1);
    (Ipv6Addr, u16) => |a| SocketAddr::new(IpAddr::V6(a.0), a.1);
}

/// Resolves `host` on the blocking pool.
fn resolve(host: String, port: Option<u16>) -> io::Result<std::vec::IntoIter<SocketAddr>> {
    crate::blocking::unblock(move || {
        let addrs: Vec<SocketAddr> = match port {
            Some(port) => {
                std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))?.collect()
            }
            None => std::net::ToSocketAddrs::to_socket_addrs(host.as_str())?.collect(),
        };
        Ok(addrs.into_iter())
    })
}

impl ToSocketAddrs for (&str, u16) {
    type Iter = std::vec::IntoIter<SocketAddr>;
    fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
        let (host, port) = *self;
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, port)].into_iter());
        }
        resolve(host.to_owned(), Some(port))
    }
}

impl ToSocketAddrs for (String, u16) {
    type Iter = std::vec::IntoIter<SocketAddr>;
    fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
        (self.0.as_str(), self.1).to_socket_addrs()
    }
}

impl ToSocketAddrs for str {
    type Iter = std::vec::IntoIter<SocketAddr>;
    fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
        if let Ok(addr) = self.parse::<SocketAddr>() {
            return Ok(vec![addr].into_iter());
        }
        resolve(self.to_owned(), None)
    }
}

impl ToSocketAddrs for String {
    type Iter = std::vec::IntoIter<SocketAddr>;
    fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
        self.as_str().to_socket_addrs()
    }
}

impl<'a> ToSocketAddrs for &'a [SocketAddr] {
    type Iter = std::iter::Cloned<std::slice::Iter<'a, SocketAddr>>;
    fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
        Ok(self.iter().cloned())
    }
}

impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {
    type Iter = T::Iter;
    fn to_socket_addrs(&self) -> io::Result<Self::Iter> {
        (**self).to_socket_addrs()
    }
}

/// Calls `f` with each address in turn until one succeeds, like std: the first success, or the
/// last error, or InvalidInput when there was no address at all.
pub(crate) fn each_addr<A: ToSocketAddrs + ?Sized, T>(
    addr: &A,
    mut f: impl FnMut(&SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = None;
    for addr in addr.to_socket_addrs()? {
        match f(&addr) {
            Ok(value) => return Ok(value),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "could not resolve to any addresses",
        )
    }))
}

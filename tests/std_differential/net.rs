//! Sockets, `net` (TCP, UDP) and `os::unix::net`: timeouts of zero, of a nanosecond and of
//! `Duration::MAX`; non-blocking mode and timeouts shared with clones and kept through
//! conversions to and from std's types; errors of bad addresses, refused connections and closed
//! or reset peers; zero-length reads and writes; socket options. Loopback only: no packet
//! leaves the machine.

use super::api::*;
use crate::helpers::*;
use crate::Scenario;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

// Left out: connecting to an unroutable address (the outcome depends on the machine's routes)
// and to an unknown host name (on its resolver, and it may ask a DNS server).

pub const SCENARIOS: &[Scenario] = scenarios![
    net_read_timeout_zero,
    udp_timeout_zero,
    unix_timeout_zero,
    net_timeouts_roundtrip,
    net_read_timeout_expires,
    net_zero_len_read,
    net_zero_len_read_with_data,
    net_zero_len_peek,
    unix_zero_len_read,
    net_zero_len_write,
    net_zero_len_read_nonblocking,
    net_peek,
    net_peek_eof,
    net_shutdown_twice,
    net_shutdown_unconnected_listener,
    net_connect_refused,
    net_connect_port0,
    net_connect_empty_slice,
    net_connect_bad_str,
    net_bind_bad,
    net_bind_addr_in_use,
    net_connect_timeout_zero,
    net_connect_timeout_ok,
    net_connect_timeout_refused,
    net_connect_timeout_huge,
    net_connect_timeout_1ns,
    net_connect_timeout_port0,
    net_ipv6,
    net_only_v6_set,
    net_ttl,
    net_nodelay,
    net_take_error,
    udp_take_error_refused,
    udp_recv_refused,
    udp_connected_send_to,
    udp_unconnected_send,
    udp_zero_len,
    udp_truncate,
    udp_peek_connected,
    udp_nonblocking_recv,
    udp_timeout_expire,
    udp_broadcast,
    udp_multicast_v6_on_v4,
    udp_join_bad,
    udp_send_to_bad,
    udp_send_too_big,
    udp_connect_bad,
    udp_connect_multi,
    tcp_connect_multi,
    tcp_connect_multi_all_fail,
    tcp_nonblocking_accept,
    tcp_incoming_nonblocking,
    tcp_read_to_end_nonblocking,
    tcp_read_to_end_eof,
    tcp_write_after_peer_close,
    tcp_rst_read,
    tcp_nonblocking_write_full,
    tcp_write_timeout,
    tcp_write_all_timeout,
    tcp_write_all_edges,
    tcp_write_all_nonblocking_full,
    unix_write_all_timeout,
    tcp_clone_shares_nonblocking,
    tcp_clone_shares_timeout,
    tcp_clone_after_timeout,
    tcp_nonblocking_then_blocking,
    tcp_nonblocking_and_timeout,
    tcp_from_std_nonblocking,
    tcp_into_std_timeout,
    tcp_listener_accept_after_nonblocking_off,
    tcp_debug,
    tcp_local_addr_unspec,
    tcp_bind_multi,
    tcp_bind_localhost_name,
    tcp_peer_addr_after_shutdown,
    tcp_read_vectored,
    tcp_linger,
    unix_pair_basic,
    unix_connect_missing,
    unix_connect_long_path,
    unix_bind_exists,
    unix_connect_not_listening,
    unix_dgram,
    unix_dgram_send_to_missing,
    unix_dgram_peer_closed,
    unix_stream_peer_closed_write,
    unix_listener_nonblocking_accept,
    unix_read_timeout,
    unix_local_addr,
    tcp_listener_clone_accept,
    tcp_into_std_nonblocking,
    tcp_connect_unspecified,
    tcp_connect_v6_to_v4mapped,
    tcp_bind_v6_scope,
    udp_recv_connected_filter,
];

fn net_read_timeout_zero() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let s = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    format!(
        "{} {} {}",
        r(s.set_read_timeout(Some(Duration::ZERO))),
        r(s.set_write_timeout(Some(Duration::ZERO))),
        r(s.read_timeout())
    )
}

fn udp_timeout_zero() -> String {
    let u = net::UdpSocket::bind("127.0.0.1:0").unwrap();
    format!(
        "{} {} {}",
        r(u.set_read_timeout(Some(Duration::ZERO))),
        r(u.set_write_timeout(Some(Duration::ZERO))),
        r(u.read_timeout())
    )
}

fn unix_timeout_zero() -> String {
    let (a, _b) = unet::UnixStream::pair().unwrap();
    let (c, _d) = unet::UnixDatagram::pair().unwrap();
    format!(
        "{} {} {} {}",
        r(a.set_read_timeout(Some(Duration::ZERO))),
        r(a.set_write_timeout(Some(Duration::ZERO))),
        r(c.set_read_timeout(Some(Duration::ZERO))),
        r(c.set_write_timeout(Some(Duration::ZERO)))
    )
}

fn net_timeouts_roundtrip() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let s = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    s.set_read_timeout(Some(Duration::from_nanos(1))).unwrap();
    let a = r(s.read_timeout());
    s.set_read_timeout(Some(Duration::from_micros(1500)))
        .unwrap();
    let b = r(s.read_timeout());
    s.set_write_timeout(Some(Duration::from_secs(u64::MAX)))
        .ok();
    let c = r(s.write_timeout());
    s.set_read_timeout(Some(Duration::new(1, 999_999_999)))
        .unwrap();
    let d = r(s.read_timeout());
    format!("{a} {b} {c} {d}")
}

fn net_read_timeout_expires() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut s = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let t = Instant::now();
    let mut b = [0u8; 4];
    let res = r(s.read(&mut b));
    format!("{res} {}", took(t.elapsed(), Duration::from_millis(50)))
}

/// A read into an empty buffer with nothing to read: std's waits for data as the kernel's
/// `recv` of 0 bytes does (forever without a timeout), and returns `Ok(0)` when the timeout
/// passes.
fn net_zero_len_read() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut s = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let t = Instant::now();
    let res = r(s.read(&mut []));
    format!("{res} {}", took(t.elapsed(), Duration::from_millis(50)))
}

/// A peek into an empty buffer waits for data as a read does; when the read timeout passes
/// first, TCP answers 0 bytes (`recv(.., 0, MSG_PEEK)`).
fn net_zero_len_peek() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let s = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let t = Instant::now();
    let res = r(s.peek(&mut []));
    format!("{res} {}", took(t.elapsed(), Duration::from_millis(50)))
}

/// A read into an empty buffer with data queued returns `Ok(0)` at once, and the data stays.
fn net_zero_len_read_with_data() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut s = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (mut a, _) = l.accept().unwrap();
    a.write_all(b"data").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut b = [0u8; 4];
    // The data may still be on its way: wait until a peek sees it.
    let peeked = r(s.peek(&mut b));
    let t = Instant::now();
    let empty = r(s.read(&mut []));
    let vectored = r(s.read_vectored(&mut []));
    let at_once = took(t.elapsed(), Duration::from_secs(1));
    let rest = r(s.read(&mut b));
    format!("{peeked} {empty} {vectored} {at_once} {rest} {b:?}")
}

/// As `net_zero_len_read`, on a Unix stream socket, whose kernel answers the timeout with
/// `EAGAIN` (TCP's with 0 bytes); a vectored read of no bytes answers 0 at once, in blocking
/// and in non-blocking mode.
fn unix_zero_len_read() -> String {
    let (mut a, _b) = unet::UnixStream::pair().unwrap();
    a.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let t = Instant::now();
    let plain = r(a.read(&mut []));
    let waited = took(t.elapsed(), Duration::from_millis(50));
    let t = Instant::now();
    let vectored = r(a.read_vectored(&mut []));
    a.set_nonblocking(true).unwrap();
    let vectored_nonblocking = r(a.read_vectored(&mut [std::io::IoSliceMut::new(&mut [])]));
    let plain_nonblocking = r(a.read(&mut []));
    let at_once = took(t.elapsed(), Duration::from_millis(50));
    format!("{plain} {waited} {vectored} {vectored_nonblocking} {plain_nonblocking} {at_once}")
}

/// A write of nothing returns at once.
fn net_zero_len_write() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut s = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    r(s.write(&[]))
}

fn net_zero_len_read_nonblocking() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut s = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    s.set_nonblocking(true).unwrap();
    let res = r(s.read(&mut []));
    let mut b = [0u8; 4];
    let res2 = r(s.read(&mut b));
    let res3 = r(s.peek(&mut b));
    format!("{res} {res2} {res3}")
}

fn net_peek() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut s = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (mut a, _) = l.accept().unwrap();
    a.write_all(b"hello").unwrap();
    let mut b = [0u8; 3];
    let p1 = r(s.peek(&mut b));
    let p2 = r(s.peek(&mut []));
    let mut c = [0u8; 10];
    let rd = r(s.read(&mut c));
    format!("{p1} {:?} {p2} {rd} {:?}", b, &c[..5])
}

fn net_peek_eof() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut s = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (a, _) = l.accept().unwrap();
    drop(a);
    let mut b = [0u8; 3];
    format!("{} {}", r(s.peek(&mut b)), r(s.read(&mut b)))
}

fn net_shutdown_twice() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut s = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (_peer, _) = l.accept().unwrap();
    let r1 = r(s.shutdown(net::Shutdown::Write));
    let r2 = r(s.shutdown(net::Shutdown::Write));
    let r3 = r(s.shutdown(net::Shutdown::Both));
    let r4 = r(s.shutdown(net::Shutdown::Read));
    let w = r(s.write(b"x"));
    let mut b = [0u8; 2];
    let rd = r(s.read(&mut b));
    format!("{r1} {r2} {r3} {r4} {w} {rd}")
}

fn net_shutdown_unconnected_listener() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let s = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    drop(l);
    let mut b = [0u8; 2];
    r((&s).read(&mut b))
}

fn net_connect_refused() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    rk(net::TcpStream::connect(a))
}

fn net_connect_port0() -> String {
    format!(
        "{} {}",
        rk(net::TcpStream::connect("127.0.0.1:0")),
        rk(net::TcpStream::connect(("::1", 0)))
    )
}

fn net_connect_empty_slice() -> String {
    let v: Vec<net::SocketAddr> = vec![];
    rk(net::TcpStream::connect(&v[..]))
}

fn net_connect_bad_str() -> String {
    format!(
        "{} | {} | {}",
        rk(net::TcpStream::connect("nonsense")),
        rk(net::TcpStream::connect("127.0.0.1")),
        rk(net::TcpStream::connect("127.0.0.1:99999"))
    )
}

fn net_bind_bad() -> String {
    format!(
        "{} | {} | {}",
        rk(net::TcpListener::bind("nonsense")),
        rk(net::UdpSocket::bind("")),
        rk(net::TcpListener::bind("1.2.3.4:0"))
    )
}

fn net_bind_addr_in_use() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let u = net::UdpSocket::bind("127.0.0.1:0").unwrap();
    format!(
        "{} {}",
        rk(net::TcpListener::bind(l.local_addr().unwrap())),
        rk(net::UdpSocket::bind(u.local_addr().unwrap()))
    )
}

fn net_connect_timeout_zero() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    rk(net::TcpStream::connect_timeout(
        &l.local_addr().unwrap(),
        Duration::ZERO,
    ))
}

fn net_connect_timeout_ok() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let s =
        net::TcpStream::connect_timeout(&l.local_addr().unwrap(), Duration::from_secs(1)).unwrap();
    format!(
        "{} {}",
        r(s.peer_addr().map(|a| a == l.local_addr().unwrap())),
        r(s.read_timeout())
    )
}

fn net_connect_timeout_refused() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let a = l.local_addr().unwrap();
    drop(l);
    rk(net::TcpStream::connect_timeout(&a, Duration::from_secs(1)))
}

fn net_connect_timeout_huge() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    rk(net::TcpStream::connect_timeout(
        &l.local_addr().unwrap(),
        Duration::MAX,
    ))
}

fn net_connect_timeout_1ns() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    rk(net::TcpStream::connect_timeout(
        &l.local_addr().unwrap(),
        Duration::from_nanos(1),
    ))
}

fn net_connect_timeout_port0() -> String {
    rk(net::TcpStream::connect_timeout(
        &"127.0.0.1:0".parse().unwrap(),
        Duration::from_secs(1),
    ))
}

fn net_ipv6() -> String {
    let l = net::TcpListener::bind("[::1]:0").unwrap();
    let s = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (_a, pa) = l.accept().unwrap();
    // Deprecated on a listener, in std and in zsync (it can be set only before `bind`), and
    // still compared.
    #[allow(deprecated)]
    let only_v6 = r(l.only_v6());
    format!(
        "{} {} {only_v6}",
        l.local_addr().unwrap().is_ipv6(),
        pa == s.local_addr().unwrap(),
    )
}

fn net_only_v6_set() -> String {
    let l = net::TcpListener::bind("[::]:0").unwrap();
    // Deprecated on a listener, in std and in zsync (it can be set only before `bind`): the
    // error of setting it after is what is compared.
    #[allow(deprecated)]
    let set = r(l.set_only_v6(true));
    #[allow(deprecated)]
    let got = r(l.only_v6());
    format!("{set} {got}")
}

fn net_ttl() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let s = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let u = net::UdpSocket::bind("127.0.0.1:0").unwrap();
    format!(
        "{} {} {} {} {} {} {} {}",
        r(s.ttl()),
        r(s.set_ttl(0)),
        r(s.set_ttl(255)),
        r(s.set_ttl(256)),
        r(s.ttl()),
        r(l.set_ttl(u32::MAX)),
        r(l.ttl()),
        r(u.set_ttl(77).and_then(|_| u.ttl()))
    )
}

fn net_nodelay() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let s = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    format!(
        "{} {} {}",
        r(s.nodelay()),
        r(s.set_nodelay(true)),
        r(s.nodelay())
    )
}

fn net_take_error() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let s = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let u = net::UdpSocket::bind("127.0.0.1:0").unwrap();
    format!(
        "{} {} {}",
        r(s.take_error()),
        r(l.take_error()),
        r(u.take_error())
    )
}

fn udp_take_error_refused() -> String {
    let u = net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let v = net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let va = v.local_addr().unwrap();
    drop(v);
    u.connect(va).unwrap();
    let s = r(u.send(b"x"));
    // The port's ICMP error comes back a little after the send.
    let te = poll(|| {
        let err = u.take_error().transpose()?;
        Some(r(err.map(|e| (e.kind(), e.raw_os_error()))))
    });
    u.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut b = [0u8; 4];
    let rc = r(u.recv(&mut b));
    format!("{s} {te} {rc}")
}

fn udp_recv_refused() -> String {
    let u = net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let v = net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let va = v.local_addr().unwrap();
    drop(v);
    u.connect(va).unwrap();
    let s = r(u.send(b"x"));
    u.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut b = [0u8; 4];
    let rc = r(u.recv(&mut b));
    let rc2 = r(u.recv(&mut b));
    format!("{s} {rc} {rc2}")
}

fn udp_connected_send_to() -> String {
    let u = net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let v = net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let w = net::UdpSocket::bind("127.0.0.1:0").unwrap();
    u.connect(v.local_addr().unwrap()).unwrap();
    let a = r(u.send_to(b"abc", w.local_addr().unwrap()));
    let b = r(u.send_to(b"abc", v.local_addr().unwrap()));
    w.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 8];
    let c = rk(w.recv_from(&mut buf));
    format!(
        "{a} {b} {c} {}",
        r(u.peer_addr().map(|p| p == v.local_addr().unwrap()))
    )
}

fn udp_unconnected_send() -> String {
    let u = net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut b = [0u8; 4];
    u.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    format!(
        "{} {} {}",
        r(u.send(b"x")),
        r(u.peer_addr()),
        r(u.recv(&mut b))
    )
}

fn udp_zero_len() -> String {
    let u = net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let v = net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let a = r(u.send_to(&[], v.local_addr().unwrap()));
    let mut b = [0u8; 4];
    let c = r(v.recv_from(&mut b).map(|(n, _)| n));
    u.send_to(b"hello", v.local_addr().unwrap()).unwrap();
    let d = r(v.recv_from(&mut []).map(|(n, _)| n));
    v.set_nonblocking(true).unwrap();
    let e = r(v.recv_from(&mut b).map(|(n, _)| n));
    format!("{a} {c} {d} {e}")
}

fn udp_truncate() -> String {
    let u = net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let v = net::UdpSocket::bind("127.0.0.1:0").unwrap();
    u.send_to(b"hello world", v.local_addr().unwrap()).unwrap();
    let mut b = [0u8; 4];
    let p = r(v.peek_from(&mut b).map(|(n, _)| n));
    let c = r(v.recv_from(&mut b).map(|(n, _)| n));
    format!("{p} {c} {:?}", b)
}

fn udp_peek_connected() -> String {
    let u = net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let v = net::UdpSocket::bind("127.0.0.1:0").unwrap();
    v.connect(u.local_addr().unwrap()).unwrap();
    u.send_to(b"hello", v.local_addr().unwrap()).unwrap();
    let mut b = [0u8; 8];
    format!("{} {}", r(v.peek(&mut b)), r(v.recv(&mut b)))
}

fn udp_nonblocking_recv() -> String {
    let u = net::UdpSocket::bind("127.0.0.1:0").unwrap();
    u.set_nonblocking(true).unwrap();
    let mut b = [0u8; 8];
    format!(
        "{} {} {}",
        rk(u.recv_from(&mut b)),
        rk(u.peek_from(&mut b)),
        rk(u.recv(&mut b)),
    )
}

fn udp_timeout_expire() -> String {
    let u = net::UdpSocket::bind("127.0.0.1:0").unwrap();
    u.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut b = [0u8; 8];
    let t = Instant::now();
    format!(
        "{} {}",
        rk(u.recv_from(&mut b)),
        took(t.elapsed(), Duration::from_millis(50))
    )
}

fn udp_broadcast() -> String {
    let u = net::UdpSocket::bind("127.0.0.1:0").unwrap();
    format!(
        "{} {} {} {} {}",
        r(u.broadcast()),
        r(u.set_broadcast(true)),
        r(u.broadcast()),
        r(u.multicast_loop_v4()),
        r(u.multicast_ttl_v4())
    )
}

fn udp_multicast_v6_on_v4() -> String {
    let u = net::UdpSocket::bind("127.0.0.1:0").unwrap();
    format!(
        "{} {}",
        r(u.multicast_loop_v6()),
        r(u.join_multicast_v6(&"ff02::1".parse().unwrap(), 0))
    )
}

fn udp_join_bad() -> String {
    let u = net::UdpSocket::bind("0.0.0.0:0").unwrap();
    format!(
        "{} {}",
        r(u.join_multicast_v4(&"1.2.3.4".parse().unwrap(), &"0.0.0.0".parse().unwrap())),
        r(u.leave_multicast_v4(&"224.0.0.123".parse().unwrap(), &"0.0.0.0".parse().unwrap()))
    )
}

fn udp_send_to_bad() -> String {
    let u = net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let v: Vec<net::SocketAddr> = vec![];
    format!(
        "{} | {} | {} | {}",
        r(u.send_to(b"x", "nonsense")),
        r(u.send_to(b"x", &v[..])),
        r(u.send_to(b"x", "[::1]:5000")),
        r(u.send_to(b"x", "127.0.0.1:0"))
    )
}

fn udp_send_too_big() -> String {
    let u = net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let v = net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let big = vec![0u8; 70000];
    r(u.send_to(&big, v.local_addr().unwrap()))
}

fn udp_connect_bad() -> String {
    let u = net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let v: Vec<net::SocketAddr> = vec![];
    format!(
        "{} | {} | {}",
        r(u.connect(&v[..])),
        r(u.connect("nonsense")),
        r(u.connect("[::1]:5"))
    )
}

fn udp_connect_multi() -> String {
    let u = net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addrs: Vec<net::SocketAddr> =
        vec!["[::1]:5".parse().unwrap(), "127.0.0.1:5".parse().unwrap()];
    format!("{} {}", r(u.connect(&addrs[..])), r(u.peer_addr()))
}

fn tcp_connect_multi() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let da = dead.local_addr().unwrap();
    drop(dead);
    let addrs: Vec<net::SocketAddr> = vec![da, l.local_addr().unwrap()];
    r(net::TcpStream::connect(&addrs[..])
        .map(|s| s.peer_addr().unwrap() == l.local_addr().unwrap()))
}

fn tcp_connect_multi_all_fail() -> String {
    let d1 = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let d2 = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addrs: Vec<net::SocketAddr> = vec![d1.local_addr().unwrap(), d2.local_addr().unwrap()];
    drop(d1);
    drop(d2);
    rk(net::TcpStream::connect(&addrs[..]))
}

fn tcp_nonblocking_accept() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let a = rk(l.accept());
    let _s = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let acc = loop {
        match l.accept() {
            Ok((acc, _)) => break acc,
            Err(er) if er.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(er) => return e(&er),
        }
    };
    // A socket accepted from a non-blocking listener is blocking (std's accept4 is made
    // without SOCK_NONBLOCK): its read waits for the timeout.
    let mut b = [0u8; 4];
    let t = Instant::now();
    acc.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let rr = rk((&acc).read(&mut b));
    format!("{a} {rr} {}", took(t.elapsed(), Duration::from_millis(50)))
}

fn tcp_incoming_nonblocking() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    let x = l.incoming().next().map(rk);
    format!("{:?}", x)
}

fn tcp_read_to_end_nonblocking() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut s = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (mut a, _) = l.accept().unwrap();
    a.write_all(b"abcdef").unwrap();
    wait_for_bytes(&s, 6);
    s.set_nonblocking(true).unwrap();
    let mut v = Vec::new();
    let res = r(s.read_to_end(&mut v));
    format!("{res} {:?}", v)
}

fn tcp_read_to_end_eof() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut s = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (mut a, _) = l.accept().unwrap();
    // Written from another thread: the socket buffers need not hold it all.
    let h = std::thread::spawn(move || {
        a.write_all(&vec![7u8; 300000]).unwrap();
        drop(a);
    });
    let mut v = Vec::new();
    let res = r(s.read_to_end(&mut v));
    h.join().unwrap();
    format!("{res} {}", v.len())
}

/// Writes to a stream whose peer has closed: the first is taken (the peer answers it with a
/// reset), those after the reset fail, and keep failing.
fn tcp_write_after_peer_close() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut s = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (a, _) = l.accept().unwrap();
    drop(a);
    let eof = r(s.read(&mut [0u8; 4]));
    let mut write = || match s.write(b"hello") {
        Ok(n) => format!("Ok{n}"),
        Err(e) => format!("{:?}", e.kind()),
    };
    let mut res = vec![write()];
    // The reset may come back a little later on a loaded machine: writes taken meanwhile are
    // shown once.
    let failed = poll(|| {
        let w = write();
        (!w.starts_with("Ok")).then_some(w)
    });
    res.push(failed);
    res.push(write());
    res.push(write());
    format!("{eof} {res:?}")
}

fn tcp_rst_read() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut s = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (a, _) = l.accept().unwrap();
    s.write_all(b"unread").unwrap();
    wait_for_bytes(&a, 6);
    // Closed with data it has not read: the kernel resets the connection. The read waits for
    // the reset.
    drop(a);
    let mut b = [0u8; 4];
    format!(
        "{} {} {}",
        rk(s.read(&mut b)),
        rk(s.read(&mut b)),
        r(s.take_error().map(|o| o.map(|e| e.kind())))
    )
}

fn tcp_nonblocking_write_full() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut s = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (_peer, _) = l.accept().unwrap();
    s.set_nonblocking(true).unwrap();
    let buf = vec![0u8; 65536];
    let mut total = 0usize;
    let mut last = String::new();
    for _ in 0..10000 {
        match s.write(&buf) {
            Ok(n) => total += n,
            Err(er) => {
                last = e(&er);
                break;
            }
        }
    }
    format!("{} {}", total > 0, last)
}

fn tcp_write_timeout() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut s = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (_peer, _) = l.accept().unwrap();
    s.set_write_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    // More than the socket buffers can ever take, and the peer reads nothing: each write
    // copies what fits and returns the count after waiting the timeout for room, until one
    // finds no room at all and fails after waiting it. How many calls that takes depends on
    // the buffers' autotuning, so repeated lines are shown once.
    let buf = vec![0u8; 64 << 20];
    let mut calls = Vec::new();
    for _ in 0..1000 {
        let t = Instant::now();
        let res = s.write(&buf);
        let waited = took(t.elapsed(), Duration::from_millis(50));
        match res {
            Ok(n) if n == buf.len() => calls.push(format!("all, {waited}")),
            Ok(_) => calls.push(format!("part, {waited}")),
            Err(er) => {
                calls.push(format!("{}, {waited}", e(&er)));
                break;
            }
        }
    }
    calls.dedup();
    format!("{calls:?}")
}

fn tcp_write_all_timeout() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut s = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (_peer, _) = l.accept().unwrap();
    s.set_write_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let buf = vec![0u8; 64 << 20];
    let t = Instant::now();
    format!(
        "{} {}",
        rk(s.write_all(&buf)),
        took(t.elapsed(), Duration::from_millis(50))
    )
}

/// `write_all` of nothing makes no call (so a shut-down write half does not fail it); of
/// something after the shutdown, the first write's error (EPIPE).
fn tcp_write_all_edges() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut s = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (_peer, _) = l.accept().unwrap();
    let whole = r(s.write_all(b"abc"));
    s.shutdown(net::Shutdown::Write).unwrap();
    let empty = r(s.write_all(&[]));
    let after = r(s.write_all(b"x"));
    format!("{whole} {empty} {after}")
}

/// In non-blocking mode `write_all` stops at the first `WouldBlock`, after what the socket's
/// buffers took.
fn tcp_write_all_nonblocking_full() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut s = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (_peer, _) = l.accept().unwrap();
    s.set_nonblocking(true).unwrap();
    let t = Instant::now();
    format!(
        "{} {}",
        rk(s.write_all(&vec![0u8; 64 << 20])),
        took(t.elapsed(), Duration::from_millis(500))
    )
}

/// A Unix stream's `write_all` to a peer that never reads: the write timeout ends it.
fn unix_write_all_timeout() -> String {
    let (mut a, _b) = unet::UnixStream::pair().unwrap();
    a.set_write_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let t = Instant::now();
    format!(
        "{} {}",
        rk(a.write_all(&vec![0u8; 64 << 20])),
        took(t.elapsed(), Duration::from_millis(50))
    )
}

fn tcp_clone_shares_nonblocking() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let s = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let c = s.try_clone().unwrap();
    s.set_nonblocking(true).unwrap();
    let mut b = [0u8; 4];
    // Non-blocking through the clone: the read returns at once, not after the timeout.
    c.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let t = Instant::now();
    let x = rk((&c).read(&mut b));
    let y = r(s.read_timeout());
    format!("{x} {y} {}", took(t.elapsed(), Duration::from_millis(500)))
}

fn tcp_clone_shares_timeout() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let s = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let c = s.try_clone().unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    r(c.read_timeout())
}

fn tcp_clone_after_timeout() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let s = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    s.set_nonblocking(true).unwrap();
    let c = s.try_clone().unwrap();
    let mut b = [0u8; 1];
    let t = Instant::now();
    format!(
        "{} {} {}",
        r(c.read_timeout()),
        rk((&c).read(&mut b)),
        took(t.elapsed(), Duration::from_millis(500))
    )
}

fn tcp_nonblocking_then_blocking() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let s = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    s.set_nonblocking(true).unwrap();
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut b = [0u8; 1];
    let t = Instant::now();
    format!(
        "{} {}",
        rk((&s).read(&mut b)),
        took(t.elapsed(), Duration::from_millis(50))
    )
}

fn tcp_nonblocking_and_timeout() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let s = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    s.set_nonblocking(true).unwrap();
    let mut b = [0u8; 1];
    let t = Instant::now();
    format!(
        "{} {}",
        rk((&s).read(&mut b)),
        took(t.elapsed(), Duration::from_millis(500))
    )
}

fn tcp_from_std_nonblocking() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let s = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    #[allow(clippy::useless_conversion)] // the same type in the std compilation
    let z: net::TcpStream = s.into();
    let t = Instant::now();
    let mut b = [0u8; 1];
    format!(
        "{} {} {}",
        r(z.read_timeout()),
        rk((&z).read(&mut b)),
        took(t.elapsed(), Duration::from_millis(50))
    )
}

fn tcp_into_std_timeout() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let s = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    #[allow(clippy::useless_conversion)] // the same type in the std compilation
    let st: std::net::TcpStream = s.into();
    let t = Instant::now();
    let mut b = [0u8; 1];
    format!(
        "{} {} {}",
        r(st.read_timeout()),
        rk((&st).read(&mut b)),
        took(t.elapsed(), Duration::from_millis(50))
    )
}

fn tcp_listener_accept_after_nonblocking_off() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.set_nonblocking(true).unwrap();
    l.set_nonblocking(false).unwrap();
    let a = l.local_addr().unwrap();
    let h = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        std::net::TcpStream::connect(a).unwrap()
    });
    let t = Instant::now();
    let x = rk(l.accept());
    h.join().unwrap();
    format!("{x} {}", took(t.elapsed(), Duration::from_millis(50)))
}

fn tcp_debug() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    numbers_as_n(&format!("{l:?}"))
}

fn tcp_local_addr_unspec() -> String {
    let l = net::TcpListener::bind("0.0.0.0:0").unwrap();
    let u = net::UdpSocket::bind("[::]:0").unwrap();
    format!(
        "{} {}",
        l.local_addr().unwrap().ip(),
        u.local_addr().unwrap().ip()
    )
}

fn tcp_bind_multi() -> String {
    let addrs: Vec<net::SocketAddr> =
        vec!["1.2.3.4:0".parse().unwrap(), "127.0.0.1:0".parse().unwrap()];
    r(net::TcpListener::bind(&addrs[..]).map(|l| l.local_addr().unwrap().ip()))
}

fn tcp_bind_localhost_name() -> String {
    r(net::TcpListener::bind("localhost:0").map(|l| l.local_addr().unwrap().ip().is_loopback()))
}

fn tcp_peer_addr_after_shutdown() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let s = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (a, _) = l.accept().unwrap();
    drop(a);
    let eof = r((&s).read(&mut [0u8; 4]));
    s.shutdown(net::Shutdown::Both).unwrap();
    // Closed once the peer has acknowledged our end (at once over loopback, unless the machine
    // is loaded): then there is no peer any more.
    let peer = poll(|| s.peer_addr().err().map(|er| e(&er)));
    format!("{eof} {peer}")
}

fn tcp_read_vectored() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut s = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (mut a, _) = l.accept().unwrap();
    let w = r(a.write_vectored(&[
        std::io::IoSlice::new(b"ab"),
        std::io::IoSlice::new(b""),
        std::io::IoSlice::new(b"cde"),
    ]));
    wait_for_bytes(&s, 5);
    let mut b1 = [0u8; 1];
    let mut b2 = [0u8; 10];
    let rr = r(s.read_vectored(&mut [
        std::io::IoSliceMut::new(&mut b1),
        std::io::IoSliceMut::new(&mut b2),
    ]));
    format!("{w} {rr}")
}

/// A stream closed with `SO_LINGER` 0 (set with libc: std's `set_linger` is unstable) resets
/// the connection: its peer's read fails.
fn tcp_linger() -> String {
    use std::os::fd::AsRawFd;
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let s = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let (mut a, _) = l.accept().unwrap();
    let lg = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY (test): setsockopt reads a `linger` of the size given, from a live local.
    unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &lg as *const _ as *const _,
            std::mem::size_of::<libc::linger>() as u32,
        )
    };
    drop(s);
    let mut b = [0u8; 4];
    rk(a.read(&mut b))
}

fn unix_pair_basic() -> String {
    let (mut a, mut b) = unet::UnixStream::pair().unwrap();
    a.write_all(b"hi").unwrap();
    let mut buf = [0u8; 4];
    let n = r(b.read(&mut buf));
    let pa = format!("{:?}", a.peer_addr().map(|x| x.is_unnamed()));
    a.shutdown(net::Shutdown::Write).unwrap();
    let e = r(b.read(&mut buf));
    let e2 = r(a.shutdown(net::Shutdown::Write));
    format!("{n} {pa} {e} {e2}")
}

fn unix_connect_missing() -> String {
    format!(
        "{} | {} | {}",
        rk(unet::UnixStream::connect("/nonexistent/sock")),
        rk(unet::UnixStream::connect("")),
        rk(unet::UnixStream::connect("a\0b"))
    )
}

fn unix_connect_long_path() -> String {
    let p = "x".repeat(200);
    format!(
        "{} | {}",
        rk(unet::UnixStream::connect(&p)),
        rk(unet::UnixListener::bind(&p))
    )
}

fn unix_bind_exists() -> String {
    let d = TempDir::new();
    let p = d.join("s");
    let _l = unet::UnixListener::bind(&p).unwrap();
    let x = rk(unet::UnixListener::bind(&p));
    let dg = rk(unet::UnixDatagram::bind(&p));
    format!("{x} {dg}")
}

fn unix_connect_not_listening() -> String {
    let d = TempDir::new();
    let p = d.join("s");
    let _dg = unet::UnixDatagram::bind(&p).unwrap();
    let x = rk(unet::UnixStream::connect(&p));
    let f = d.join("f");
    std::fs::write(&f, b"").unwrap();
    let y = rk(unet::UnixStream::connect(&f));
    format!("{x} {y}")
}

fn unix_dgram() -> String {
    let (a, b) = unet::UnixDatagram::pair().unwrap();
    let s = r(a.send(b"hello"));
    let mut buf = [0u8; 3];
    let rr = r(b.recv(&mut buf));
    let z = r(a.send(b""));
    let rz = r(b.recv(&mut buf));
    b.set_nonblocking(true).unwrap();
    let nb = rk(b.recv(&mut buf));
    let u = unet::UnixDatagram::unbound().unwrap();
    let us = rk(u.send(b"x"));
    let ur = r(u.peer_addr().map(|a| a.is_unnamed()));
    format!("{s} {rr} {z} {rz} {nb} {us} {ur}")
}

fn unix_dgram_send_to_missing() -> String {
    let u = unet::UnixDatagram::unbound().unwrap();
    format!(
        "{} {}",
        rk(u.send_to(b"x", "/nonexistent/x")),
        rk(u.send_to(b"x", ""))
    )
}

fn unix_dgram_peer_closed() -> String {
    let (a, b) = unet::UnixDatagram::pair().unwrap();
    drop(b);
    let mut buf = [0u8; 3];
    a.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    format!("{} {}", rk(a.send(b"x")), rk(a.recv(&mut buf)))
}

fn unix_stream_peer_closed_write() -> String {
    let (mut a, b) = unet::UnixStream::pair().unwrap();
    drop(b);
    format!("{} {}", rk(a.write(b"x")), rk(a.read(&mut [0u8; 2])))
}

fn unix_listener_nonblocking_accept() -> String {
    let d = TempDir::new();
    let l = unet::UnixListener::bind(d.join("s")).unwrap();
    l.set_nonblocking(true).unwrap();
    rk(l.accept())
}

fn unix_read_timeout() -> String {
    let (a, _b) = unet::UnixStream::pair().unwrap();
    a.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let t = Instant::now();
    format!(
        "{} {} {}",
        rk((&a).read(&mut [0u8; 2])),
        r(a.read_timeout()),
        took(t.elapsed(), Duration::from_millis(50))
    )
}

fn unix_local_addr() -> String {
    let d = TempDir::new();
    let l = unet::UnixListener::bind(d.join("s")).unwrap();
    let c = unet::UnixStream::connect(d.join("s")).unwrap();
    let (_acc, pa) = l.accept().unwrap();
    let x = format!(
        "{:?} {:?} {:?} {:?}",
        l.local_addr()
            .unwrap()
            .as_pathname()
            .map(|p| p.file_name().unwrap().to_owned()),
        pa.is_unnamed(),
        c.local_addr().unwrap().is_unnamed(),
        c.peer_addr()
            .unwrap()
            .as_pathname()
            .map(|p| p.file_name().unwrap().to_owned())
    );
    x
}

fn tcp_listener_clone_accept() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let l2 = l.try_clone().unwrap();
    let a = l.local_addr().unwrap();
    let _c = net::TcpStream::connect(a).unwrap();
    rk(l2.accept())
}

/// A non-blocking stream converted to std's stays non-blocking.
fn tcp_into_std_nonblocking() -> String {
    let l = net::TcpListener::bind("127.0.0.1:0").unwrap();
    let s = net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    s.set_nonblocking(true).unwrap();
    #[allow(clippy::useless_conversion)] // the same type in the std compilation
    let st: std::net::TcpStream = s.into();
    let mut b = [0u8; 1];
    rk((&st).read(&mut b))
}

fn tcp_connect_unspecified() -> String {
    let l = net::TcpListener::bind("0.0.0.0:0").unwrap();
    rk(net::TcpStream::connect(l.local_addr().unwrap()))
}

fn tcp_connect_v6_to_v4mapped() -> String {
    let l = net::TcpListener::bind("[::]:0").unwrap();
    let p = l.local_addr().unwrap().port();
    rk(net::TcpStream::connect(("127.0.0.1", p)))
}

fn tcp_bind_v6_scope() -> String {
    rk(net::TcpListener::bind("[fe80::1%999]:0"))
}

fn udp_recv_connected_filter() -> String {
    let u = net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let v = net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let w = net::UdpSocket::bind("127.0.0.1:0").unwrap();
    u.connect(v.local_addr().unwrap()).unwrap();
    w.send_to(b"from w", u.local_addr().unwrap()).unwrap();
    v.send_to(b"from v", u.local_addr().unwrap()).unwrap();
    let mut b = [0u8; 10];
    let n = u.recv(&mut b).unwrap();
    format!("{:?}", std::str::from_utf8(&b[..n]))
}

/// Waits until `n` bytes can be read from `s` (the peer wrote them), without reading them.
fn wait_for_bytes(s: &net::TcpStream, n: usize) {
    let mut buf = vec![0u8; n];
    while s.peek(&mut buf).unwrap() < n {
        std::thread::sleep(Duration::from_millis(1));
    }
}

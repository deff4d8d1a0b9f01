//! The behaviours std's own TCP and UDP tests check (library/std/src/net/{tcp,udp}/tests.rs),
//! restated for `zsync::net`. Each body runs on a plain OS thread, inside a green-thread
//! runtime and inside an OS-threads runtime.
//!
//! Loopback only: everything binds 127.0.0.1 with port 0, so std's IPv6 halves are left out,
//! and the "cannot bind" checks use a TEST-NET address (binding it fails locally, no packet is
//! sent). Scaled down: read timeouts of 1 s become 200 ms (the elapsed-time bound scaled with
//! it). Left out: `set_linger` (unstable in std), IPv6 hop limits.

use std::io::{ErrorKind, IoSlice, IoSliceMut, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};
use zsync::net::{TcpListener, TcpStream, UdpSocket};
use zsync::sync::mpsc::channel;
use zsync::thread;

mod common;
use common::on_each_model;

fn listener() -> (TcpListener, SocketAddr) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    (l, addr)
}

fn udp() -> (UdpSocket, SocketAddr) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = s.local_addr().unwrap();
    (s, addr)
}

fn is_timeout(kind: ErrorKind) -> bool {
    kind == ErrorKind::WouldBlock || kind == ErrorKind::TimedOut
}

// ---- TCP ----

#[test]
fn tcp_bind_to_a_foreign_address_fails() {
    on_each_model(|| {
        let e = TcpListener::bind("192.0.2.1:9999").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AddrNotAvailable);
    });
}

/// Connecting by name ("localhost") and by the numeric loopback address.
#[test]
fn tcp_connect_by_name_and_by_address() {
    on_each_model(|| {
        for host in ["localhost", "127.0.0.1"] {
            let (l, addr) = listener();
            let _t = thread::spawn(move || {
                let mut s = TcpStream::connect((host, addr.port())).unwrap();
                s.write_all(&[144]).unwrap();
            });
            let mut s = l.accept().unwrap().0;
            let mut buf = [0];
            s.read_exact(&mut buf).unwrap();
            assert_eq!(buf[0], 144);
        }
    });
}

/// accept's peer address is the client's local address.
#[test]
fn tcp_accept_reports_the_peer() {
    on_each_model(|| {
        let (l, addr) = listener();
        let (tx, rx) = channel();
        let _t = thread::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(&[99]).unwrap();
            tx.send(s.local_addr().unwrap()).unwrap();
        });
        let (mut s, peer) = l.accept().unwrap();
        let mut buf = [0];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(buf[0], 99);
        assert_eq!(peer, rx.recv().unwrap());
    });
}

#[test]
fn tcp_read_after_close_is_eof_every_time() {
    on_each_model(|| {
        let (l, addr) = listener();
        let _t = thread::spawn(move || drop(TcpStream::connect(addr).unwrap()));
        let mut s = l.accept().unwrap().0;
        let mut buf = [0];
        assert_eq!(s.read(&mut buf).unwrap(), 0);
        assert_eq!(s.read(&mut buf).unwrap(), 0);
    });
}

#[test]
fn tcp_write_to_a_closed_peer_succeeds_or_fails_cleanly() {
    on_each_model(|| {
        let (l, addr) = listener();
        let (tx, rx) = channel();
        let _t = thread::spawn(move || {
            drop(TcpStream::connect(addr).unwrap());
            tx.send(()).unwrap();
        });
        let mut s = l.accept().unwrap().0;
        rx.recv().unwrap();
        if let Err(e) = s.write(&[0]) {
            assert!(
                matches!(
                    e.kind(),
                    ErrorKind::ConnectionReset
                        | ErrorKind::BrokenPipe
                        | ErrorKind::ConnectionAborted
                ),
                "unexpected error: {e}"
            );
        }
    });
}

#[test]
fn tcp_incoming_serves_serial_connections() {
    on_each_model(|| {
        let (l, addr) = listener();
        let _t = thread::spawn(move || {
            for _ in 0..10 {
                TcpStream::connect(addr).unwrap().write_all(&[99]).unwrap();
            }
        });
        for s in l.incoming().take(10) {
            let mut buf = [0];
            s.unwrap().read_exact(&mut buf).unwrap();
            assert_eq!(buf[0], 99);
        }
    });
}

/// Each connecting thread connects, then starts and joins the next one before it writes: ten
/// connections are open at once, each served by its own thread. `tag` decides what each writes.
fn nested_connects(tagged: bool) {
    const MAX: usize = 10;
    fn connect(i: usize, addr: SocketAddr, tagged: bool) {
        if i == MAX {
            return;
        }
        thread::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            connect(i + 1, addr, tagged);
            s.write_all(&[if tagged { i as u8 } else { 99 }]).unwrap();
        })
        .join()
        .unwrap();
    }
    let (l, addr) = listener();
    let server = thread::spawn(move || {
        let handlers: Vec<_> = l
            .incoming()
            .enumerate()
            .take(MAX)
            .map(|(i, s)| {
                thread::spawn(move || {
                    let mut buf = [0];
                    s.unwrap().read_exact(&mut buf).unwrap();
                    // Connections are accepted in the order they were made.
                    assert_eq!(buf[0], if tagged { i as u8 } else { 99 });
                })
            })
            .collect();
        for h in handlers {
            h.join().unwrap();
        }
    });
    connect(0, addr, tagged);
    server.join().unwrap();
}

#[test]
fn tcp_nested_connects_greedy_and_lazy() {
    on_each_model(|| {
        nested_connects(true);
        nested_connects(false);
    });
}

#[test]
fn tcp_local_and_peer_addresses() {
    on_each_model(|| {
        let (l, addr) = listener();
        let _t = thread::spawn(move || {
            l.accept().unwrap();
        });
        let s = TcpStream::connect(addr).unwrap();
        assert_eq!(s.peer_addr().unwrap(), addr);
    });
}

#[test]
fn tcp_a_short_read_returns_what_is_there() {
    on_each_model(|| {
        let (l, addr) = listener();
        let (tx, rx) = channel();
        let _t = thread::spawn(move || {
            let mut c = l.accept().unwrap().0;
            c.write_all(&[10]).unwrap();
            let mut b = [0];
            c.read_exact(&mut b).unwrap();
            tx.send(()).unwrap();
        });
        let mut c = TcpStream::connect(addr).unwrap();
        let mut b = [0; 10];
        assert_eq!(c.read(&mut b).unwrap(), 1);
        c.write_all(&[1]).unwrap();
        rx.recv().unwrap();
    });
}

#[test]
fn tcp_vectored_io() {
    on_each_model(|| {
        let (l, addr) = listener();
        let mut s1 = TcpStream::connect(addr).unwrap();
        let mut s2 = l.accept().unwrap().0;
        assert_eq!(s1.write(&[10, 11, 12]).unwrap(), 3);
        let (mut a, mut b, mut c) = ([0_u8; 0], [0_u8; 1], [0_u8; 3]);
        let n = s2
            .read_vectored(&mut [
                IoSliceMut::new(&mut a),
                IoSliceMut::new(&mut b),
                IoSliceMut::new(&mut c),
            ])
            .unwrap();
        assert!(n > 0);
        assert_eq!(b, [10]);
        assert!(n == 1 || c == [11, 12, 0]);

        let (a, b, c) = ([0_u8; 0], [10_u8], [11_u8, 12]);
        let n = s1
            .write_vectored(&[IoSlice::new(&a), IoSlice::new(&b), IoSlice::new(&c)])
            .unwrap();
        // Some systems write only the first non-empty buffer.
        assert!(n == 1 || n == 3, "{n}");
        let mut buf = [0; 4];
        let mut got = 0;
        while got < n {
            got += s2.read(&mut buf[got..]).unwrap();
        }
        assert_eq!(buf[..n], [10, 11, 12][..n]);
    });
}

#[test]
fn tcp_binding_a_bound_address_fails() {
    on_each_model(|| {
        let (l, addr) = listener();
        match TcpListener::bind(addr) {
            Ok(l2) => panic!("bound twice: {l:?} and {l2:?}"),
            Err(e) => assert_eq!(e.kind(), ErrorKind::AddrInUse, "{e}"),
        }
    });
}

/// A clone reads while the original writes, from different threads.
#[test]
fn tcp_clones_read_and_write_independently() {
    on_each_model(|| {
        let (l, addr) = listener();
        let _t = thread::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            let mut buf = [0, 0];
            assert_eq!(s.read(&mut buf).unwrap(), 1);
            assert_eq!(buf[0], 1);
            s.write_all(&[2]).unwrap();
        });
        let mut s1 = l.accept().unwrap().0;
        let mut s2 = s1.try_clone().unwrap();
        let (tx1, rx1) = channel();
        let (tx2, rx2) = channel();
        let _t = thread::spawn(move || {
            rx1.recv().unwrap();
            s2.write_all(&[1]).unwrap();
            tx2.send(()).unwrap();
        });
        tx1.send(()).unwrap();
        let mut buf = [0, 0];
        assert_eq!(s1.read(&mut buf).unwrap(), 1);
        rx2.recv().unwrap();
    });
}

/// Two clones read concurrently, two clones write concurrently.
#[test]
fn tcp_two_clones_reading_or_writing_at_once() {
    on_each_model(|| {
        let (l, addr) = listener();
        let (tx1, rx) = channel();
        let tx2 = tx1.clone();
        let _t = thread::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(&[1]).unwrap();
            rx.recv().unwrap();
            s.write_all(&[2]).unwrap();
            rx.recv().unwrap();
        });
        let mut s1 = l.accept().unwrap().0;
        let mut s2 = s1.try_clone().unwrap();
        let (done, done_rx) = channel();
        let _t = thread::spawn(move || {
            let mut buf = [0, 0];
            assert_eq!(s2.read(&mut buf).unwrap(), 1);
            tx2.send(()).unwrap();
            done.send(()).unwrap();
        });
        let mut buf = [0, 0];
        assert_eq!(s1.read(&mut buf).unwrap(), 1);
        tx1.send(()).unwrap();
        done_rx.recv().unwrap();

        let (l, addr) = listener();
        let _t = thread::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            let mut buf = [0, 1];
            // Both bytes may come in the first read; then the second sees the end.
            assert!(s.read(&mut buf).unwrap() > 0);
            assert!(s.read(&mut buf).unwrap() <= 1);
        });
        let mut s1 = l.accept().unwrap().0;
        let mut s2 = s1.try_clone().unwrap();
        let (done, done_rx) = channel();
        let _t = thread::spawn(move || {
            s2.write_all(&[1]).unwrap();
            done.send(()).unwrap();
        });
        s1.write_all(&[2]).unwrap();
        done_rx.recv().unwrap();
    });
}

#[test]
fn tcp_shutdown_write_still_reads() {
    on_each_model(|| {
        let (l, addr) = listener();
        let _t = thread::spawn(move || {
            let mut c = l.accept().unwrap().0;
            let mut b = [0];
            assert_eq!(c.read(&mut b).unwrap(), 0);
            c.write_all(&[1]).unwrap();
        });
        let mut s = TcpStream::connect(addr).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        assert!(s.write(&[1]).is_err());
        let mut b = [0, 0];
        assert_eq!(s.read(&mut b).unwrap(), 1);
        assert_eq!(b[0], 1);
    });
}

/// Shutting a socket down affects its existing clones and new ones.
#[test]
fn tcp_shutdown_applies_to_every_clone() {
    on_each_model(|| {
        let (l, addr) = listener();
        let (tx, rx) = channel::<()>();
        let _t = thread::spawn(move || {
            let _s = l.accept().unwrap();
            let _ = rx.recv();
        });
        let mut b = [0];
        let mut s = TcpStream::connect(addr).unwrap();
        let mut s2 = s.try_clone().unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        assert!(s.write(&[0]).is_err());
        s.shutdown(Shutdown::Read).unwrap();
        assert_eq!(s.read(&mut b).unwrap(), 0);
        assert!(s2.write(&[0]).is_err());
        assert_eq!(s2.read(&mut b).unwrap(), 0);
        let mut s3 = s.try_clone().unwrap();
        assert!(s3.write(&[0]).is_err());
        assert_eq!(s3.read(&mut b).unwrap(), 0);
        let _ = s2.shutdown(Shutdown::Read);
        let _ = s2.shutdown(Shutdown::Write);
        let _ = s3.shutdown(Shutdown::Read);
        let _ = s3.shutdown(Shutdown::Write);
        drop(tx);
    });
}

/// A thread blocked reading one clone is woken (with EOF) when another clone is shut down for
/// reading.
#[test]
fn tcp_shutdown_read_wakes_a_blocked_reader() {
    on_each_model(|| {
        let (l, addr) = listener();
        let (keep_tx, keep_rx) = channel::<()>();
        let _t = thread::spawn(move || {
            let _s = l.accept().unwrap();
            let _ = keep_rx.recv();
        });
        let s = TcpStream::connect(addr).unwrap();
        let mut s2 = s.try_clone().unwrap();
        let (tx, rx) = channel();
        let _t = thread::spawn(move || {
            assert_eq!(s2.read(&mut [0]).unwrap(), 0);
            tx.send(()).unwrap();
        });
        thread::sleep(Duration::from_millis(10)); // let it block
        s.shutdown(Shutdown::Read).unwrap();
        rx.recv().unwrap();
        drop(keep_tx);
    });
}

#[test]
fn tcp_clone_while_another_clone_reads() {
    on_each_model(|| {
        let (l, addr) = listener();
        let (tx, rx) = channel();
        let (done_tx, done_rx) = channel();
        let done2 = done_tx.clone();
        let _t = thread::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            rx.recv().unwrap();
            s.write_all(&[0]).unwrap();
            done2.send(()).unwrap();
        });
        let s = l.accept().unwrap().0;
        let mut s2 = s.try_clone().unwrap();
        let done3 = done_tx.clone();
        let _t = thread::spawn(move || {
            s2.read_exact(&mut [0]).unwrap();
            done3.send(()).unwrap();
        });
        for _ in 0..50 {
            thread::yield_now();
        }
        let _ = s.try_clone().unwrap();
        tx.send(()).unwrap();
        done_rx.recv().unwrap();
        done_rx.recv().unwrap();
    });
}

#[test]
fn tcp_cloned_listeners_both_accept() {
    on_each_model(|| {
        let (a, addr) = listener();
        let a2 = a.try_clone().unwrap();
        for _ in 0..2 {
            thread::spawn(move || {
                let _ = TcpStream::connect(addr);
            });
        }
        a.accept().unwrap();
        a2.accept().unwrap();

        // Both accepting at once, in two threads.
        let (a, addr) = listener();
        let a2 = a.try_clone().unwrap();
        let (tx, rx) = channel();
        let tx2 = tx.clone();
        thread::spawn(move || tx.send(a.accept().unwrap()).unwrap());
        thread::spawn(move || tx2.send(a2.accept().unwrap()).unwrap());
        for _ in 0..2 {
            thread::spawn(move || {
                let _ = TcpStream::connect(addr);
            });
        }
        rx.recv().unwrap();
        rx.recv().unwrap();
    });
}

/// Debug output as std's: `TcpListener { addr: .., fd: .. }`, `TcpStream { addr, peer, fd }`.
#[test]
fn tcp_debug_output_is_stds() {
    use std::os::fd::AsRawFd;
    on_each_model(|| {
        let (l, addr) = listener();
        assert_eq!(
            format!("{l:?}"),
            format!("TcpListener {{ addr: {addr:?}, fd: {:?} }}", l.as_raw_fd())
        );
        let s = TcpStream::connect(("localhost", addr.port())).unwrap();
        assert_eq!(
            format!("{s:?}"),
            format!(
                "TcpStream {{ addr: {:?}, peer: {:?}, fd: {:?} }}",
                s.local_addr().unwrap(),
                s.peer_addr().unwrap(),
                s.as_raw_fd()
            )
        );
    });
}

#[test]
fn tcp_timeout_settings_round_trip() {
    on_each_model(|| {
        let (_l, addr) = listener();
        let s = TcpStream::connect(addr).unwrap();
        let dur = Duration::new(15410, 0);
        assert_eq!(s.read_timeout().unwrap(), None);
        s.set_read_timeout(Some(dur)).unwrap();
        assert_eq!(s.read_timeout().unwrap(), Some(dur));
        assert_eq!(s.write_timeout().unwrap(), None);
        s.set_write_timeout(Some(dur)).unwrap();
        assert_eq!(s.write_timeout().unwrap(), Some(dur));
        s.set_read_timeout(None).unwrap();
        assert_eq!(s.read_timeout().unwrap(), None);
        s.set_write_timeout(None).unwrap();
        assert_eq!(s.write_timeout().unwrap(), None);
        // A zero timeout is refused.
        let e = s.set_write_timeout(Some(Duration::ZERO)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        let e = s.set_read_timeout(Some(Duration::ZERO)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    });
}

#[test]
fn tcp_read_timeout_expires() {
    on_each_model(|| {
        let timeout = Duration::from_millis(200); // std: 1 s
        let (l, addr) = listener();
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(timeout)).unwrap();
        let start = Instant::now();
        let kind = s.read_exact(&mut [0; 10]).unwrap_err().kind();
        assert!(is_timeout(kind), "{kind:?}");
        assert!(start.elapsed() > timeout * 2 / 5);

        // After data was read, the next read times out the same way.
        let mut other = l.accept().unwrap().0;
        other.write_all(b"hello world").unwrap();
        let mut buf = [0; 11];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hello world");
        let start = Instant::now();
        let kind = s.read_exact(&mut buf).unwrap_err().kind();
        assert!(is_timeout(kind), "{kind:?}");
        assert!(start.elapsed() > timeout * 2 / 5);
    });
}

#[test]
fn tcp_socket_options_round_trip() {
    on_each_model(|| {
        let (l, addr) = listener();
        let s = TcpStream::connect(("localhost", addr.port())).unwrap();
        assert!(!s.nodelay().unwrap());
        s.set_nodelay(true).unwrap();
        assert!(s.nodelay().unwrap());
        s.set_nodelay(false).unwrap();
        assert!(!s.nodelay().unwrap());
        l.set_ttl(100).unwrap();
        assert_eq!(l.ttl().unwrap(), 100);
        s.set_ttl(100).unwrap();
        assert_eq!(s.ttl().unwrap(), 100);
    });
}

#[test]
fn tcp_nonblocking_read_would_block() {
    on_each_model(|| {
        let (l, addr) = listener();
        l.set_nonblocking(true).unwrap();
        l.set_nonblocking(false).unwrap();
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_nonblocking(false).unwrap();
        s.set_nonblocking(true).unwrap();
        let e = s.read(&mut [0]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WouldBlock);
    });
}

#[test]
fn tcp_peek_leaves_the_data() {
    on_each_model(|| {
        let (l, addr) = listener();
        let (done_tx, done_rx) = channel();
        let _t = thread::spawn(move || {
            let mut c = l.accept().unwrap().0;
            c.write_all(&[1, 3, 3, 7]).unwrap();
            done_rx.recv().unwrap();
        });
        let mut c = TcpStream::connect(addr).unwrap();
        let mut b = [0; 10];
        // The first peek may see part of the data only if it is still arriving: wait for all.
        while c.peek(&mut b).unwrap() < 4 {
            thread::sleep(Duration::from_millis(1));
        }
        for _ in 0..2 {
            assert_eq!(c.peek(&mut b).unwrap(), 4);
        }
        assert_eq!(c.read(&mut b).unwrap(), 4);
        c.set_nonblocking(true).unwrap();
        assert_eq!(c.peek(&mut b).unwrap_err().kind(), ErrorKind::WouldBlock);
        done_tx.send(()).unwrap();
    });
}

#[test]
fn tcp_connect_timeout_to_a_listener() {
    on_each_model(|| {
        let (_l, addr) = listener();
        TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    });
}

/// std checks the time before its first wait for the connection: a timeout shorter than the
/// time between the connect call and that check is TimedOut, even to a live loopback
/// listener that accepts at once. Zero stays InvalidInput.
#[test]
fn tcp_connect_timeout_that_ends_before_the_first_wait_times_out() {
    on_each_model(|| {
        let (_l, addr) = listener();
        for _ in 0..20 {
            let e = TcpStream::connect_timeout(&addr, Duration::from_nanos(1)).unwrap_err();
            assert_eq!(
                (e.kind(), e.to_string()),
                (ErrorKind::TimedOut, "connection timed out".into())
            );
        }
        let e = TcpStream::connect_timeout(&addr, Duration::ZERO).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    });
}

// ---- UDP ----

#[test]
fn udp_bind_to_a_foreign_address_fails() {
    on_each_model(|| {
        let e = UdpSocket::bind("192.0.2.1:9999").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AddrNotAvailable);
    });
}

#[test]
fn udp_datagram_from_another_thread() {
    on_each_model(|| {
        let (server, server_addr) = udp();
        let (client, client_addr) = udp();
        let (tx1, rx1) = channel();
        let (tx2, rx2) = channel();
        let _t = thread::spawn(move || {
            rx1.recv().unwrap();
            client.send_to(&[99], server_addr).unwrap();
            tx2.send(()).unwrap();
        });
        tx1.send(()).unwrap();
        let mut buf = [0];
        let (n, from) = server.recv_from(&mut buf).unwrap();
        assert_eq!((n, buf[0], from), (1, 99, client_addr));
        rx2.recv().unwrap();
    });
}

#[test]
fn udp_local_and_peer_addresses() {
    on_each_model(|| {
        let (a, addr_a) = udp();
        let (b, addr_b) = udp();
        assert_eq!(a.peer_addr().unwrap_err().kind(), ErrorKind::NotConnected);
        assert!(addr_a.ip().is_loopback());
        a.connect(addr_b).unwrap();
        b.connect(addr_a).unwrap();
        assert_eq!(a.peer_addr().unwrap(), addr_b);
        assert_eq!(b.peer_addr().unwrap(), addr_a);
    });
}

#[test]
fn udp_clones_send_and_receive() {
    on_each_model(|| {
        let (s1, addr1) = udp();
        let (s2, addr2) = udp();
        let _t = thread::spawn(move || {
            let mut buf = [0, 0];
            let (n, from) = s2.recv_from(&mut buf).unwrap();
            assert_eq!((n, from, buf[0]), (1, addr1, 1));
            s2.send_to(&[2], addr1).unwrap();
        });
        let s3 = s1.try_clone().unwrap();
        let (tx1, rx1) = channel();
        let (tx2, rx2) = channel();
        let _t = thread::spawn(move || {
            rx1.recv().unwrap();
            s3.send_to(&[1], addr2).unwrap();
            tx2.send(()).unwrap();
        });
        tx1.send(()).unwrap();
        let mut buf = [0, 0];
        let (n, from) = s1.recv_from(&mut buf).unwrap();
        assert_eq!((n, from), (1, addr2));
        rx2.recv().unwrap();
    });
}

#[test]
fn udp_two_clones_reading_or_writing_at_once() {
    on_each_model(|| {
        let (s1, addr1) = udp();
        let (s2, _) = udp();
        let (tx1, rx) = channel();
        let tx2 = tx1.clone();
        let _t = thread::spawn(move || {
            s2.send_to(&[1], addr1).unwrap();
            rx.recv().unwrap();
            s2.send_to(&[2], addr1).unwrap();
            rx.recv().unwrap();
        });
        let s3 = s1.try_clone().unwrap();
        let (done, done_rx) = channel();
        let _t = thread::spawn(move || {
            s3.recv_from(&mut [0, 0]).unwrap();
            tx2.send(()).unwrap();
            done.send(()).unwrap();
        });
        s1.recv_from(&mut [0, 0]).unwrap();
        tx1.send(()).unwrap();
        done_rx.recv().unwrap();

        let (s1, _) = udp();
        let (s2, addr2) = udp();
        let (tx, rx) = channel();
        let (served_tx, served_rx) = channel();
        let _t = thread::spawn(move || {
            rx.recv().unwrap();
            s2.recv_from(&mut [0, 1]).unwrap();
            served_tx.send(()).unwrap();
        });
        let s3 = s1.try_clone().unwrap();
        let (done, done_rx) = channel();
        let tx2 = tx.clone();
        let _t = thread::spawn(move || {
            if s3.send_to(&[1], addr2).is_ok() {
                let _ = tx2.send(());
            }
            done.send(()).unwrap();
        });
        if s1.send_to(&[2], addr2).is_ok() {
            let _ = tx.send(());
        }
        drop(tx);
        done_rx.recv().unwrap();
        served_rx.recv().unwrap();
    });
}

#[test]
fn udp_debug_output_is_stds() {
    use std::os::fd::AsRawFd;
    on_each_model(|| {
        let (s, addr) = udp();
        assert_eq!(
            format!("{s:?}"),
            format!("UdpSocket {{ addr: {addr:?}, fd: {:?} }}", s.as_raw_fd())
        );
    });
}

#[test]
fn udp_timeout_settings_round_trip() {
    on_each_model(|| {
        let (s, _) = udp();
        let dur = Duration::new(15410, 0);
        assert_eq!(s.read_timeout().unwrap(), None);
        s.set_read_timeout(Some(dur)).unwrap();
        assert_eq!(s.read_timeout().unwrap(), Some(dur));
        assert_eq!(s.write_timeout().unwrap(), None);
        s.set_write_timeout(Some(dur)).unwrap();
        assert_eq!(s.write_timeout().unwrap(), Some(dur));
        s.set_read_timeout(None).unwrap();
        assert_eq!(s.read_timeout().unwrap(), None);
        s.set_write_timeout(None).unwrap();
        assert_eq!(s.write_timeout().unwrap(), None);
        let e = s.set_write_timeout(Some(Duration::ZERO)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        let e = s.set_read_timeout(Some(Duration::ZERO)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
    });
}

#[test]
fn udp_read_timeout_expires() {
    on_each_model(|| {
        let timeout = Duration::from_millis(200); // std: 1 s
        let (s, addr) = udp();
        s.set_read_timeout(Some(timeout)).unwrap();
        let mut buf = [0; 11];
        let start = Instant::now();
        let kind = loop {
            let kind = s.recv_from(&mut buf).unwrap_err().kind();
            if kind != ErrorKind::Interrupted {
                break kind;
            }
        };
        assert!(is_timeout(kind), "{kind:?}");
        assert!(start.elapsed() > timeout * 2 / 5);

        s.send_to(b"hello world", addr).unwrap();
        s.recv_from(&mut buf).unwrap();
        assert_eq!(&buf, b"hello world");
        let start = Instant::now();
        let kind = s.recv_from(&mut buf).unwrap_err().kind();
        assert!(is_timeout(kind), "{kind:?}");
        assert!(start.elapsed() > timeout * 2 / 5);
    });
}

#[test]
fn udp_connected_send_recv_and_peek() {
    on_each_model(|| {
        let (s, addr) = udp();
        s.connect(addr).unwrap();
        s.send(b"hello world").unwrap();
        let mut buf = [0; 11];
        for _ in 0..2 {
            assert_eq!(s.peek(&mut buf).unwrap(), 11);
            assert_eq!(&buf, b"hello world");
        }
        assert_eq!(s.recv(&mut buf).unwrap(), 11);
        assert_eq!(&buf, b"hello world");

        let (s, addr) = udp();
        s.send_to(b"hello world", addr).unwrap();
        for _ in 0..2 {
            let (n, from) = s.peek_from(&mut buf).unwrap();
            assert_eq!((n, from, &buf), (11, addr, b"hello world"));
        }
        assert_eq!(s.recv_from(&mut buf).unwrap().0, 11);
    });
}

#[test]
fn udp_ttl_and_nonblocking() {
    on_each_model(|| {
        let (s, addr) = udp();
        s.set_ttl(100).unwrap();
        assert_eq!(s.ttl().unwrap(), 100);
        s.set_nonblocking(true).unwrap();
        s.set_nonblocking(false).unwrap();
        s.connect(addr).unwrap();
        s.set_nonblocking(false).unwrap();
        s.set_nonblocking(true).unwrap();
        assert_eq!(s.recv(&mut [0]).unwrap_err().kind(), ErrorKind::WouldBlock);
    });
}

/// A datagram longer than `c_int::MAX` bytes cannot be sent whole and must be refused, not
/// truncated. The buffer is a read-only anonymous mapping, so no memory is touched.
#[test]
fn udp_datagram_larger_than_c_int_max_is_refused() {
    struct Mapping(*mut libc::c_void, usize);
    impl Drop for Mapping {
        fn drop(&mut self) {
            // SAFETY: unmaps exactly what `mmap` returned.
            unsafe { libc::munmap(self.0, self.1) };
        }
    }
    on_each_model(|| {
        let len = libc::c_int::MAX as usize + 1;
        // SAFETY: a fresh private anonymous mapping; checked for failure below.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        assert_ne!(ptr, libc::MAP_FAILED);
        let map = Mapping(ptr, len);
        // SAFETY: `len` readable bytes (zero pages) at `ptr`, alive as long as `map`.
        let data = unsafe { std::slice::from_raw_parts(map.0 as *const u8, map.1) };
        let (s, addr) = udp();
        assert!(s.send_to(data, addr).is_err());
        s.connect(addr).unwrap();
        assert!(s.send(data).is_err());
    });
}

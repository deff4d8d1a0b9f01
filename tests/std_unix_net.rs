//! The behaviours std's own Unix socket tests check (library/std/src/os/unix/net/tests.rs),
//! restated for `zsync::os::unix::net`. Each body runs on a plain OS thread, inside a
//! green-thread runtime and inside an OS-threads runtime.
//!
//! Scaled down: read timeouts of 1 s become 200 ms. Socket files live in a directory of their
//! own per body, and abstract names carry the process id and a counter, so that the three runs
//! of a body (and the test binary's parallel tests) never meet.
//!
//! std's tests that do not apply here, and why:
//! - `sock_addr_from_pathname`, `sock_addr_without_trailing_nul`,
//!   `sock_addr_pathname_fills_sun_path`, `abstract_socket_addr_debug`,
//!   `test_abstract_name_too_long`, `test_abstract_no_pathname_and_not_unnamed`: they test
//!   `SocketAddr`, which zsync re-exports from std unchanged.
//! - `test_unix_stream_peek`, `test_unix_datagram_peek`, `test_unix_datagram_peek_from`:
//!   `peek` on Unix sockets is unstable in std (`unix_socket_peek`).
//! - `test_send_vectored_fds_unix_stream`, `test_send_vectored_with_ancillary_to_unix_datagram`,
//!   `test_send_vectored_with_ancillary_unix_datagram`: ancillary data and `set_passcred` are
//!   unstable in std (`unix_socket_ancillary_data`).

use std::io::{ErrorKind, IoSlice, IoSliceMut, Read, Write};
use std::os::linux::net::SocketAddrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use zsync::os::unix::net::{SocketAddr, UnixDatagram, UnixListener, UnixStream};
use zsync::thread;

mod common;
use common::on_each_model;

/// `sun_path`'s size on Linux: a path must be shorter (its NUL ends it).
const SUN_PATH_MAX_LEN: usize = 108;

/// A directory of its own, removed with everything in it when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

static UNIQUE: AtomicUsize = AtomicUsize::new(0);

fn unique() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        UNIQUE.fetch_add(1, Ordering::Relaxed)
    )
}

fn tmpdir() -> TempDir {
    let dir = std::env::temp_dir().join(format!("zsync-unix-{}", unique()));
    std::fs::create_dir(&dir).unwrap();
    TempDir(dir)
}

/// An abstract address no other run of any test uses.
fn abstract_addr(name: &str) -> (SocketAddr, Vec<u8>) {
    let name = format!("zsync-{name}-{}", unique()).into_bytes();
    (SocketAddr::from_abstract_name(&name).unwrap(), name)
}

fn is_timeout(kind: ErrorKind) -> bool {
    kind == ErrorKind::WouldBlock || kind == ErrorKind::TimedOut
}

// ---- Streams ----

/// `basic`: a listener's and a client's addresses name the path; a request and a reply.
#[test]
fn stream_by_path() {
    on_each_model(|| {
        let dir = tmpdir();
        let path = dir.path().join("sock");
        let listener = UnixListener::bind(&path).unwrap();
        assert_eq!(Some(&*path), listener.local_addr().unwrap().as_pathname());
        let server = thread::spawn(move || {
            let mut s = listener.accept().unwrap().0;
            let mut buf = [0; 5];
            s.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"hello");
            s.write_all(b"world!").unwrap();
        });
        let mut s = UnixStream::connect(&path).unwrap();
        assert_eq!(Some(&*path), s.peer_addr().unwrap().as_pathname());
        s.write_all(b"hello").unwrap();
        let mut reply = Vec::new();
        s.read_to_end(&mut reply).unwrap();
        assert_eq!(reply, b"world!");
        drop(s);
        server.join().unwrap();
    });
}

/// `vectored`: a gathered write of three slices is one scattered read of two buffers.
#[test]
fn stream_vectored() {
    on_each_model(|| {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let slices = [
            IoSlice::new(b"hello"),
            IoSlice::new(b" "),
            IoSlice::new(b"world!"),
        ];
        assert_eq!(a.write_vectored(&slices).unwrap(), 12);
        let (mut first, mut second) = ([0; 6], [0; 7]);
        let n = b
            .read_vectored(&mut [IoSliceMut::new(&mut first), IoSliceMut::new(&mut second)])
            .unwrap();
        assert_eq!(n, 12);
        assert_eq!(&first, b"hello ");
        assert_eq!(&second, b"world!\0");
    });
}

/// `pair`: both ends are unnamed; a request and a reply across threads.
#[test]
fn stream_pair() {
    on_each_model(|| {
        let (mut a, mut b) = UnixStream::pair().unwrap();
        assert!(a.local_addr().unwrap().is_unnamed());
        assert!(b.peer_addr().unwrap().is_unnamed());
        let other = thread::spawn(move || {
            let mut buf = [0; 5];
            a.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"hello");
            a.write_all(b"world!").unwrap();
        });
        b.write_all(b"hello").unwrap();
        let mut reply = Vec::new();
        b.read_to_end(&mut reply).unwrap();
        assert_eq!(reply, b"world!");
        other.join().unwrap();
    });
}

/// `try_clone`: a clone reads the same stream, in order.
#[test]
fn stream_try_clone() {
    on_each_model(|| {
        let dir = tmpdir();
        let path = dir.path().join("sock");
        let listener = UnixListener::bind(&path).unwrap();
        let server = thread::spawn(move || {
            let mut s = listener.accept().unwrap().0;
            s.write_all(b"hello").unwrap();
            s.write_all(b"world").unwrap();
        });
        let mut s = UnixStream::connect(&path).unwrap();
        let mut clone = s.try_clone().unwrap();
        let mut buf = [0; 5];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hello");
        clone.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"world");
        server.join().unwrap();
    });
}

/// `iter`: `incoming` yields each connection.
#[test]
fn listener_incoming() {
    on_each_model(|| {
        let dir = tmpdir();
        let path = dir.path().join("sock");
        let listener = UnixListener::bind(&path).unwrap();
        let server = thread::spawn(move || {
            let mut got = Vec::new();
            for s in listener.incoming().take(2) {
                let mut buf = [0];
                s.unwrap().read_exact(&mut buf).unwrap();
                got.push(buf[0]);
            }
            got
        });
        for byte in [7, 8] {
            UnixStream::connect(&path)
                .unwrap()
                .write_all(&[byte])
                .unwrap();
        }
        assert_eq!(server.join().unwrap(), [7, 8]);
    });
}

/// `long_path`: a path that does not fit `sun_path` is invalid input, for every socket kind.
#[test]
fn path_too_long_is_invalid_input() {
    on_each_model(|| {
        let dir = tmpdir();
        let dir_len = dir.path().as_os_str().len() + 1;
        let name = format!(
            "sock{}",
            "a".repeat(SUN_PATH_MAX_LEN.saturating_sub(dir_len))
        );
        let path = dir.path().join(name);
        let kinds = [
            UnixStream::connect(&path).map(drop).unwrap_err().kind(),
            UnixListener::bind(&path).map(drop).unwrap_err().kind(),
            UnixDatagram::bind(&path).map(drop).unwrap_err().kind(),
        ];
        assert_eq!(kinds, [ErrorKind::InvalidInput; 3]);
    });
}

/// `test_unix_datagram_max_path`: the longest path that fits binds, and carries datagrams.
#[test]
fn datagram_longest_path() {
    on_each_model(|| {
        let dir = tmpdir();
        let dir_len = dir.path().as_os_str().len() + 1;
        let fill = SUN_PATH_MAX_LEN.saturating_sub(5 + dir_len);
        let path1 = dir.path().join(format!("sock{}", "a".repeat(fill)));
        let path2 = dir.path().join(format!("sock{}", "b".repeat(fill)));
        assert_eq!(path1.as_os_str().len(), SUN_PATH_MAX_LEN - 1);
        let sock1 = UnixDatagram::bind(&path1).unwrap();
        let sock2 = UnixDatagram::bind(&path2).unwrap();
        sock1.send_to(b"hello world", &path2).unwrap();
        let mut buf = [0; 11];
        let (n, from) = sock2.recv_from(&mut buf).unwrap();
        assert_eq!((n, &buf), (11, b"hello world"));
        assert_eq!(from.as_pathname(), Some(&*path1));
    });
}

/// `timeouts`: none at first; a long one set reads back exactly; `None` clears it.
#[test]
fn stream_timeouts_read_back() {
    on_each_model(|| {
        let dir = tmpdir();
        let path = dir.path().join("sock");
        let _listener = UnixListener::bind(&path).unwrap();
        let s = UnixStream::connect(&path).unwrap();
        let long = Duration::new(15410, 0);
        assert_eq!(s.read_timeout().unwrap(), None);
        s.set_read_timeout(Some(long)).unwrap();
        assert_eq!(s.read_timeout().unwrap(), Some(long));
        assert_eq!(s.write_timeout().unwrap(), None);
        s.set_write_timeout(Some(long)).unwrap();
        assert_eq!(s.write_timeout().unwrap(), Some(long));
        s.set_read_timeout(None).unwrap();
        assert_eq!(s.read_timeout().unwrap(), None);
        s.set_write_timeout(None).unwrap();
        assert_eq!(s.write_timeout().unwrap(), None);
    });
}

/// `test_read_timeout`: a read with nothing to read ends with the timeout's error.
#[test]
fn stream_read_times_out() {
    on_each_model(|| {
        let dir = tmpdir();
        let path = dir.path().join("sock");
        let _listener = UnixListener::bind(&path).unwrap();
        let mut s = UnixStream::connect(&path).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut buf = [0; 10];
        let kind = s.read_exact(&mut buf).unwrap_err().kind();
        assert!(is_timeout(kind), "{kind:?}");
    });
}

/// `test_read_with_timeout`: data within the timeout is read; then the timeout's error.
#[test]
fn stream_read_with_timeout() {
    on_each_model(|| {
        let dir = tmpdir();
        let path = dir.path().join("sock");
        let listener = UnixListener::bind(&path).unwrap();
        let mut s = UnixStream::connect(&path).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut other = listener.accept().unwrap().0;
        other.write_all(b"hello world").unwrap();
        let mut buf = [0; 11];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hello world");
        let kind = s.read_exact(&mut buf).unwrap_err().kind();
        assert!(is_timeout(kind), "{kind:?}");
    });
}

/// `test_unix_stream_timeout_zero_duration`: a zero timeout is invalid input.
#[test]
fn stream_zero_timeout_is_invalid_input() {
    on_each_model(|| {
        let dir = tmpdir();
        let path = dir.path().join("sock");
        let _listener = UnixListener::bind(&path).unwrap();
        let s = UnixStream::connect(&path).unwrap();
        let write = s.set_write_timeout(Some(Duration::ZERO)).unwrap_err();
        let read = s.set_read_timeout(Some(Duration::ZERO)).unwrap_err();
        assert_eq!(write.kind(), ErrorKind::InvalidInput);
        assert_eq!(read.kind(), ErrorKind::InvalidInput);
    });
}

// ---- Datagrams ----

/// `test_unix_datagram`: `send_to` a bound socket's path, `recv_from` there.
#[test]
fn datagram_send_to_path() {
    on_each_model(|| {
        let dir = tmpdir();
        let (path1, path2) = (dir.path().join("sock1"), dir.path().join("sock2"));
        let sock1 = UnixDatagram::bind(&path1).unwrap();
        let sock2 = UnixDatagram::bind(&path2).unwrap();
        sock1.send_to(b"hello world", &path2).unwrap();
        let mut buf = [0; 11];
        sock2.recv_from(&mut buf).unwrap();
        assert_eq!(&buf, b"hello world");
    });
}

/// `test_unnamed_unix_datagram`: a datagram from an unbound socket comes from an unnamed
/// address.
#[test]
fn datagram_from_unbound_is_unnamed() {
    on_each_model(|| {
        let dir = tmpdir();
        let path1 = dir.path().join("sock1");
        let sock1 = UnixDatagram::bind(&path1).unwrap();
        let sock2 = UnixDatagram::unbound().unwrap();
        sock2.send_to(b"hello world", &path1).unwrap();
        let mut buf = [0; 11];
        let (n, from) = sock1.recv_from(&mut buf).unwrap();
        assert_eq!(n, 11);
        assert!(from.is_unnamed());
        assert_eq!(&buf, b"hello world");
    });
}

/// `test_unix_datagram_connect_to_recv_addr`: the address `recv_from` reports can be sent to
/// (`connect_addr`, then `send`) and answers.
#[test]
fn datagram_reply_to_the_received_address() {
    on_each_model(|| {
        let dir = tmpdir();
        let sock1 = UnixDatagram::bind(dir.path().join("sock1")).unwrap();
        let sock2 = UnixDatagram::bind(dir.path().join("sock2")).unwrap();
        sock2
            .send_to_addr(b"hello world", &sock1.local_addr().unwrap())
            .unwrap();
        let mut buf = [0; 11];
        let (_, from) = sock1.recv_from(&mut buf).unwrap();
        sock1.connect_addr(&from).unwrap();
        sock1.send(b"hello back").unwrap();
        let mut reply = [0; 10];
        assert_eq!(sock2.recv(&mut reply).unwrap(), 10);
        assert_eq!(&reply, b"hello back");
    });
}

/// `test_connect_unix_datagram`: `send` goes to the connected path, and `connect` again
/// changes it.
#[test]
fn datagram_connect_and_reconnect() {
    on_each_model(|| {
        let dir = tmpdir();
        let (path1, path2) = (dir.path().join("sock1"), dir.path().join("sock2"));
        let bound1 = UnixDatagram::bind(&path1).unwrap();
        let bound2 = UnixDatagram::bind(&path2).unwrap();
        let sock = UnixDatagram::unbound().unwrap();
        sock.connect(&path1).unwrap();
        sock.send(b"hello there").unwrap();
        let mut buf = [0; 11];
        let (n, from) = bound1.recv_from(&mut buf).unwrap();
        assert_eq!(n, 11);
        assert!(from.is_unnamed());
        assert_eq!(&buf, b"hello there");
        sock.connect(&path2).unwrap();
        assert_eq!(sock.peer_addr().unwrap().as_pathname(), Some(&*path2));
        sock.send(b"hello again").unwrap();
        bound2.recv_from(&mut buf).unwrap();
        assert_eq!(&buf, b"hello again");
    });
}

/// `test_unix_datagram_recv`: `recv` on a bound socket takes what a connected one sent.
#[test]
fn datagram_recv() {
    on_each_model(|| {
        let dir = tmpdir();
        let path1 = dir.path().join("sock1");
        let sock1 = UnixDatagram::bind(&path1).unwrap();
        let sock2 = UnixDatagram::unbound().unwrap();
        sock2.connect(&path1).unwrap();
        sock2.send(b"hello world").unwrap();
        let mut buf = [0; 11];
        assert_eq!(sock1.recv(&mut buf).unwrap(), 11);
        assert_eq!(&buf, b"hello world");
    });
}

/// `datagram_pair`: a request and a reply across threads.
#[test]
fn datagram_pair() {
    on_each_model(|| {
        let (a, b) = UnixDatagram::pair().unwrap();
        let other = thread::spawn(move || {
            let mut buf = [0; 5];
            assert_eq!(a.recv(&mut buf).unwrap(), 5);
            assert_eq!(&buf, b"hello");
            a.send(b"world!").unwrap();
        });
        b.send(b"hello").unwrap();
        let mut buf = [0; 6];
        assert_eq!(b.recv(&mut buf).unwrap(), 6);
        assert_eq!(&buf, b"world!");
        other.join().unwrap();
    });
}

/// `test_unix_datagram_timeout_zero_duration`: a zero timeout is invalid input.
#[test]
fn datagram_zero_timeout_is_invalid_input() {
    on_each_model(|| {
        let dir = tmpdir();
        let sock = UnixDatagram::bind(dir.path().join("sock")).unwrap();
        let write = sock.set_write_timeout(Some(Duration::ZERO)).unwrap_err();
        let read = sock.set_read_timeout(Some(Duration::ZERO)).unwrap_err();
        assert_eq!(write.kind(), ErrorKind::InvalidInput);
        assert_eq!(read.kind(), ErrorKind::InvalidInput);
    });
}

// ---- The abstract namespace ----

/// `abstract_namespace_not_allowed_connect`: a path starting with NUL is not an abstract name.
#[test]
fn a_path_with_a_leading_nul_does_not_connect() {
    on_each_model(|| {
        assert!(UnixStream::connect("\0asdf").is_err());
    });
}

/// `test_abstract_stream_connect`: a listener bound to an abstract name takes a connection
/// by that name, whose peer address reports it.
#[test]
fn abstract_stream_connect() {
    on_each_model(|| {
        let (addr, name) = abstract_addr("stream");
        let listener = UnixListener::bind_addr(&addr).unwrap();
        let server = thread::spawn(move || {
            let mut s = listener.accept().unwrap().0;
            let mut buf = [0; 5];
            s.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"hello");
            s.write_all(b"world").unwrap();
        });
        let mut s = UnixStream::connect_addr(&addr).unwrap();
        assert_eq!(s.peer_addr().unwrap().as_abstract_name(), Some(&name[..]));
        s.write_all(b"hello").unwrap();
        let mut reply = Vec::new();
        s.read_to_end(&mut reply).unwrap();
        assert_eq!(reply, b"world");
        server.join().unwrap();
    });
}

/// `test_abstract_stream_iter`: `incoming` on an abstract listener.
#[test]
fn abstract_listener_incoming() {
    on_each_model(|| {
        let (addr, _) = abstract_addr("iter");
        let listener = UnixListener::bind_addr(&addr).unwrap();
        let server = thread::spawn(move || {
            for s in listener.incoming().take(2) {
                let mut buf = [0];
                s.unwrap().read_exact(&mut buf).unwrap();
            }
        });
        for _ in 0..2 {
            UnixStream::connect_addr(&addr)
                .unwrap()
                .write_all(&[0])
                .unwrap();
        }
        server.join().unwrap();
    });
}

/// `test_abstract_datagram_bind_send_to_addr`: datagrams between abstract names, each
/// reporting its own.
#[test]
fn abstract_datagram_send_to_addr() {
    on_each_model(|| {
        let (addr1, name1) = abstract_addr("dgram1");
        let sock1 = UnixDatagram::bind_addr(&addr1).unwrap();
        assert_eq!(
            sock1.local_addr().unwrap().as_abstract_name(),
            Some(&name1[..])
        );
        let (addr2, _) = abstract_addr("dgram2");
        let sock2 = UnixDatagram::bind_addr(&addr2).unwrap();
        sock1.send_to_addr(b"hello world", &addr2).unwrap();
        let mut buf = [0; 11];
        let (n, from) = sock2.recv_from(&mut buf).unwrap();
        assert_eq!((n, &buf), (11, b"hello world"));
        assert_eq!(from.as_abstract_name(), Some(&name1[..]));
    });
}

/// `test_abstract_datagram_connect_addr`: `connect_addr` to abstract names, then to another.
#[test]
fn abstract_datagram_connect_addr() {
    on_each_model(|| {
        let (addr1, _) = abstract_addr("dgram3");
        let bound1 = UnixDatagram::bind_addr(&addr1).unwrap();
        let sock = UnixDatagram::unbound().unwrap();
        sock.connect_addr(&addr1).unwrap();
        sock.send(b"hello world").unwrap();
        let mut buf = [0; 11];
        let (n, from) = bound1.recv_from(&mut buf).unwrap();
        assert_eq!(n, 11);
        assert!(from.is_unnamed());
        assert_eq!(&buf, b"hello world");
        let (addr2, _) = abstract_addr("dgram4");
        let bound2 = UnixDatagram::bind_addr(&addr2).unwrap();
        sock.connect_addr(&addr2).unwrap();
        sock.send(b"hello again").unwrap();
        bound2.recv_from(&mut buf).unwrap();
        assert_eq!(&buf, b"hello again");
    });
}

//! zsync::net and zsync::os::unix::net: echo under load, std clients, errors, timeouts, UDP,
//! Unix sockets, resets, cancellation, many connections.

use std::io::{ErrorKind, Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zsync::net::{Shutdown, TcpListener, TcpStream, UdpSocket};
use zsync::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use zsync::runtime::{Builder, Flavor};
use zsync::Runtime;

mod common;

fn runtime() -> Runtime {
    Builder::new().worker_threads(2).build().unwrap()
}

/// Runs the test `name` alone in a child process (this test binary again) with `env` set, which
/// tells the test it is the child.
fn run_as_child(name: &str, env: &str) -> std::process::Output {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(env, "1")
        .output()
        .expect("re-execute the test binary")
}

/// An echo server on green threads: one per connection. Returns its address.
fn spawn_echo_server(listener: TcpListener) {
    zsync::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            zsync::spawn(move || {
                let mut buf = [0u8; 4096];
                loop {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
}

/// A client that sends `rounds` distinct 64-byte messages and checks every echoed byte.
fn echo_client(addr: std::net::SocketAddr, id: usize, rounds: usize) -> usize {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut verified = 0;
    for round in 0..rounds {
        let message: Vec<u8> = (0..64).map(|i| (id * 31 + round * 7 + i) as u8).collect();
        stream.write_all(&message).unwrap();
        let mut echo = [0u8; 64];
        stream.read_exact(&mut echo).unwrap();
        assert_eq!(&echo[..], &message[..], "client {id} round {round}");
        verified += 64;
    }
    verified
}

#[test]
fn echo_1000_connections_100_round_trips() {
    runtime().block_on(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        spawn_echo_server(listener);
        let clients: Vec<_> = (0..1000)
            .map(|id| zsync::spawn(move || echo_client(addr, id, 100)))
            .collect();
        let bytes: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
        assert_eq!(bytes, 1000 * 100 * 64);
    });
}

#[test]
fn green_server_serves_plain_std_clients_on_os_threads() {
    let rt = runtime();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(move || spawn_echo_server(listener))
        .join()
        .unwrap();
    let clients: Vec<_> = (0..16)
        .map(|id| {
            std::thread::spawn(move || {
                let mut stream = std::net::TcpStream::connect(addr).unwrap();
                for round in 0..50 {
                    let message = format!("client {id} round {round} .....");
                    stream.write_all(message.as_bytes()).unwrap();
                    let mut echo = vec![0u8; message.len()];
                    stream.read_exact(&mut echo).unwrap();
                    assert_eq!(echo, message.as_bytes());
                }
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
}

#[test]
fn zsync_sockets_block_like_std_on_plain_os_threads() {
    // No runtime anywhere: every call is the blocking std behaviour.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = [0u8; 5];
        stream.read_exact(&mut buf).unwrap();
        stream.write_all(&buf).unwrap();
    });
    std::thread::sleep(Duration::from_millis(20));
    let mut client = TcpStream::connect(addr).unwrap();
    client.write_all(b"hello").unwrap();
    let mut buf = [0u8; 5];
    client.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hello");
    server.join().unwrap();
}

#[test]
fn connection_refused_on_a_closed_port() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    runtime().block_on(move || {
        let err = TcpStream::connect(("127.0.0.1", port)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
    });
    let err = TcpStream::connect(("127.0.0.1", port)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
}

#[test]
fn bad_input_gives_std_error_kinds() {
    runtime().block_on(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let err = TcpStream::connect_timeout(&addr, Duration::ZERO).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let stream = TcpStream::connect(addr).unwrap();
        let err = stream.set_read_timeout(Some(Duration::ZERO)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains("0 duration"), "{err}");
        let err = TcpListener::bind(addr).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse);
        let empty: &[std::net::SocketAddr] = &[];
        let err = TcpStream::connect(empty).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
    });
}

#[test]
fn read_timeout_gives_would_block_like_std_and_the_stream_stays_usable() {
    runtime().block_on(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = TcpStream::connect(addr).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        // 40 ms: whole clock ticks at HZ 100, 250, 300 and 1000, which the kernel keeps as is.
        client
            .set_read_timeout(Some(Duration::from_millis(40)))
            .unwrap();
        assert_eq!(
            client.read_timeout().unwrap(),
            Some(Duration::from_millis(40))
        );
        let start = Instant::now();
        let err = client.read(&mut [0u8; 8]).unwrap_err();
        let waited = start.elapsed();
        assert_eq!(err.kind(), ErrorKind::WouldBlock);
        assert!(waited >= Duration::from_millis(40), "{waited:?}");
        assert!(waited < Duration::from_secs(2), "{waited:?}");
        server.write_all(b"late").unwrap();
        let mut buf = [0u8; 4];
        client.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"late");
    });
}

/// A connected pair on one worker: the accepted side (the reader under test) and the client.
fn connected_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (server, client)
}

#[test]
fn a_read_that_drained_the_socket_still_sees_later_data_and_the_peer_s_close() {
    let rt = Builder::new().worker_threads(1).build().unwrap();
    rt.block_on(|| {
        let (server, client) = connected_pair();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        common::check_drained_reads(
            server,
            client,
            |s| s.try_clone().unwrap(),
            |s| s.shutdown(Shutdown::Write).unwrap(),
        );
        let mut buf = [0u8; 64];
        // A read timeout on a drained socket still times out, once, and the socket stays usable.
        let (mut server, mut client) = connected_pair();
        server
            .set_read_timeout(Some(Duration::from_millis(30)))
            .unwrap();
        client.write_all(b"ab").unwrap();
        zsync::thread::sleep(Duration::from_millis(20));
        assert_eq!(server.read(&mut buf).unwrap(), 2);
        let start = Instant::now();
        let err = server.read(&mut buf).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WouldBlock);
        assert!(start.elapsed() >= Duration::from_millis(30));
        client.write_all(b"cd").unwrap();
        assert_eq!(server.read(&mut buf).unwrap(), 2);
        // In non-blocking mode a drained socket is asked, not assumed empty.
        server.set_nonblocking(true).unwrap();
        assert_eq!(
            server.read(&mut buf).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        client.write_all(b"ef").unwrap();
        let start = Instant::now();
        loop {
            match server.read(&mut buf) {
                Ok(n) => break assert_eq!(&buf[..n], b"ef"),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    assert!(start.elapsed() < Duration::from_secs(2), "data never seen");
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("{e}"),
            }
        }
    });
}

#[test]
fn a_drained_socket_read_on_an_os_thread_after_its_runtime_is_gone() {
    // The socket's readiness was last kept by a reactor that no longer runs: a read on a plain
    // OS thread waits in poll(2) and must then try, not wait again on stale bits.
    let rt = Builder::new().worker_threads(1).build().unwrap();
    let (server, client) = rt.block_on(|| {
        let (mut server, client) = connected_pair();
        let writer = zsync::spawn({
            let mut client = client.try_clone().unwrap();
            move || {
                zsync::thread::sleep(Duration::from_millis(10));
                client.write_all(b"xy").unwrap();
            }
        });
        let mut buf = [0u8; 64];
        // Parks first (the socket registers with the worker's reactor), then drains it.
        assert_eq!(server.read(&mut buf).unwrap(), 2);
        writer.join().unwrap();
        (server, client)
    });
    let mut client = client;
    drop(rt);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut server = server;
        let mut buf = [0u8; 64];
        let n = server.read(&mut buf).unwrap();
        tx.send(buf[..n].to_vec()).unwrap();
    });
    std::thread::sleep(Duration::from_millis(20));
    client.write_all(b"later").unwrap();
    let got = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the OS thread's read never returned");
    assert_eq!(got, b"later");
}

#[test]
fn nonblocking_mode_returns_would_block_at_once() {
    runtime().block_on(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        assert_eq!(listener.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
        let addr = listener.local_addr().unwrap();
        let mut client = TcpStream::connect(addr).unwrap();
        client.set_nonblocking(true).unwrap();
        assert_eq!(
            client.read(&mut [0u8; 4]).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
    });
}

/// Whether `fd`'s open file description is in `O_NONBLOCK` mode.
fn fd_is_nonblocking(fd: &impl std::os::fd::AsRawFd) -> bool {
    // SAFETY (test): F_GETFL on an fd the caller keeps open.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    assert_ne!(flags, -1, "{}", std::io::Error::last_os_error());
    flags & libc::O_NONBLOCK != 0
}

/// A path for a Unix socket of this test process, nothing there yet.
fn socket_path(name: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("zsync-{name}-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

/// Each of the three ways a std socket comes in: `From<std type>`, `FromRawFd` and
/// `From<OwnedFd>`, in turn by `round` (0, 1, 2).
macro_rules! take_over {
    ($ours:ty, $std_socket:expr, $round:expr) => {{
        use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
        match $round {
            0 => <$ours>::from($std_socket),
            // SAFETY (test): the fd was just released by its owner.
            1 => unsafe { <$ours>::from_raw_fd($std_socket.into_raw_fd()) },
            _ => <$ours>::from(OwnedFd::from($std_socket)),
        }
    }};
}

#[test]
fn a_std_socket_taken_over_keeps_its_timeouts_and_non_blocking_mode() {
    let three = Some(Duration::from_secs(3));
    let five = Some(Duration::from_secs(5));
    for round in 0..3 {
        // Timeouts set on the std socket are the zsync socket's.
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let std_stream = std::net::TcpStream::connect(std_listener.local_addr().unwrap()).unwrap();
        std_stream.set_read_timeout(three).unwrap();
        std_stream.set_write_timeout(five).unwrap();
        let stream = take_over!(TcpStream, std_stream, round);
        assert_eq!(
            (
                stream.read_timeout().unwrap(),
                stream.write_timeout().unwrap()
            ),
            (three, five)
        );
        assert!(fd_is_nonblocking(&stream)); // internally, as always

        let std_udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        std_udp.set_read_timeout(five).unwrap();
        let udp = take_over!(UdpSocket, std_udp, round);
        assert_eq!(
            (udp.read_timeout().unwrap(), udp.write_timeout().unwrap()),
            (five, None)
        );

        let (std_a, _std_b) = std::os::unix::net::UnixStream::pair().unwrap();
        std_a.set_write_timeout(three).unwrap();
        let unix = take_over!(UnixStream, std_a, round);
        assert_eq!(
            (unix.read_timeout().unwrap(), unix.write_timeout().unwrap()),
            (None, three)
        );

        let (std_a, _std_b) = std::os::unix::net::UnixDatagram::pair().unwrap();
        std_a.set_read_timeout(three).unwrap();
        std_a.set_write_timeout(five).unwrap();
        let datagram = take_over!(UnixDatagram, std_a, round);
        assert_eq!(
            (
                datagram.read_timeout().unwrap(),
                datagram.write_timeout().unwrap()
            ),
            (three, five)
        );

        // A socket std had in non-blocking mode answers `WouldBlock` at once, as std's did.
        let (std_a, _std_b) = std::os::unix::net::UnixStream::pair().unwrap();
        std_a.set_nonblocking(true).unwrap();
        let mut unix = take_over!(UnixStream, std_a, round);
        let err = unix.read(&mut [0u8; 4]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WouldBlock);
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let listener = take_over!(TcpListener, std_listener, round);
        assert_eq!(listener.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
        let path = socket_path(&format!("taken-over-{round}"));
        let std_listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let listener = take_over!(UnixListener, std_listener, round);
        assert_eq!(listener.accept().unwrap_err().kind(), ErrorKind::WouldBlock);
        std::fs::remove_file(&path).unwrap();
        // And one in blocking mode blocks.
        let (std_a, _std_b) = std::os::unix::net::UnixDatagram::pair().unwrap();
        let datagram = take_over!(UnixDatagram, std_a, round);
        datagram
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let start = Instant::now();
        let err = datagram.recv(&mut [0u8; 4]).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WouldBlock);
        assert!(start.elapsed() >= Duration::from_millis(20));
    }
}

#[test]
fn a_read_timeout_a_std_socket_came_with_ends_a_green_thread_s_read() {
    runtime().block_on(|| {
        let (std_a, _std_b) = std::os::unix::net::UnixStream::pair().unwrap();
        std_a
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut ours = UnixStream::from(std_a);
        let start = Instant::now();
        let err = ours.read(&mut [0u8; 4]).unwrap_err();
        let waited = start.elapsed();
        assert_eq!(err.kind(), ErrorKind::WouldBlock);
        assert!(waited >= Duration::from_millis(100), "{waited:?}");
        assert!(waited < Duration::from_secs(5), "{waited:?}");
    });
}

#[test]
fn a_socket_handed_back_carries_its_timeouts_and_non_blocking_mode() {
    use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
    let three = Some(Duration::from_secs(3));
    let five = Some(Duration::from_secs(5));
    // Set through zsync: in the kernel once the socket is std's again.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    stream.set_read_timeout(three).unwrap();
    stream.set_write_timeout(five).unwrap();
    stream.set_nonblocking(true).unwrap();
    // SAFETY (test): the fd was just released by `into_raw_fd`.
    let mut back = unsafe { std::net::TcpStream::from_raw_fd(stream.into_raw_fd()) };
    assert_eq!(
        (back.read_timeout().unwrap(), back.write_timeout().unwrap()),
        (three, five)
    );
    assert!(fd_is_nonblocking(&back));
    assert_eq!(
        back.read(&mut [0u8; 4]).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );

    // A timeout the std socket came with and zsync's caller removed is gone from the kernel
    // too, and the fd is blocking again.
    let (std_a, _std_b) = std::os::unix::net::UnixDatagram::pair().unwrap();
    std_a.set_read_timeout(three).unwrap();
    std_a.set_nonblocking(true).unwrap();
    let ours = UnixDatagram::from(std_a);
    ours.set_read_timeout(None).unwrap();
    ours.set_write_timeout(five).unwrap();
    ours.set_nonblocking(false).unwrap();
    let back = std::os::unix::net::UnixDatagram::from(OwnedFd::from(ours));
    assert_eq!(
        (back.read_timeout().unwrap(), back.write_timeout().unwrap()),
        (None, five)
    );
    assert!(!fd_is_nonblocking(&back));

    // Untouched, a socket goes in and comes back as it was.
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_write_timeout(three).unwrap();
    udp.set_nonblocking(true).unwrap();
    let back = std::net::UdpSocket::from(OwnedFd::from(UdpSocket::from(udp)));
    assert_eq!(
        (back.read_timeout().unwrap(), back.write_timeout().unwrap()),
        (None, three)
    );
    assert!(fd_is_nonblocking(&back));
    // A socket zsync made comes back blocking, with no timeouts.
    let (a, _b) = UnixStream::pair().unwrap();
    // SAFETY (test): the fd was just released by `into_raw_fd`.
    let back = unsafe { std::os::unix::net::UnixStream::from_raw_fd(a.into_raw_fd()) };
    assert_eq!(
        (back.read_timeout().unwrap(), back.write_timeout().unwrap()),
        (None, None)
    );
    assert!(!fd_is_nonblocking(&back));
}

#[test]
fn each_socket_type_converts_into_its_std_type() {
    let two = Some(Duration::from_secs(2));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = TcpStream::connect(addr).unwrap();
    client.set_read_timeout(two).unwrap();
    let mut client = std::net::TcpStream::from(client);
    assert_eq!(client.read_timeout().unwrap(), two);
    assert!(!fd_is_nonblocking(&client));
    listener.set_nonblocking(true).unwrap();
    let listener = std::net::TcpListener::from(listener);
    assert!(fd_is_nonblocking(&listener));
    let (mut server, _) = loop {
        match listener.accept() {
            Ok(accepted) => break accepted,
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::yield_now(),
            Err(e) => panic!("{e}"),
        }
    };
    server.write_all(b"std").unwrap();
    let mut buf = [0u8; 3];
    client.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"std");

    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_write_timeout(two).unwrap();
    let udp = std::net::UdpSocket::from(udp);
    assert_eq!(
        (udp.read_timeout().unwrap(), udp.write_timeout().unwrap()),
        (None, two)
    );
    assert!(!fd_is_nonblocking(&udp));

    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_read_timeout(two).unwrap();
    let (mut a, mut b) = (
        std::os::unix::net::UnixStream::from(a),
        std::os::unix::net::UnixStream::from(b),
    );
    assert_eq!(a.read(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
    assert_eq!(b.read_timeout().unwrap(), two);
    a.write_all(b"abc").unwrap();
    b.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"abc");

    let path = socket_path("to-std");
    let listener = std::os::unix::net::UnixListener::from(UnixListener::bind(&path).unwrap());
    assert!(!fd_is_nonblocking(&listener));
    let _client = UnixStream::connect(&path).unwrap();
    listener.accept().unwrap();
    std::fs::remove_file(&path).unwrap();

    let (a, b) = UnixDatagram::pair().unwrap();
    b.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
    let (a, b) = (
        std::os::unix::net::UnixDatagram::from(a),
        std::os::unix::net::UnixDatagram::from(b),
    );
    // The kernel's timeout now ends std's blocking read.
    assert_eq!(b.recv(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
    a.send(b"xyz").unwrap();
    assert_eq!(b.recv(&mut buf).unwrap(), 3);
}

#[test]
fn a_unix_listener_reference_iterates_over_its_connections() {
    runtime().block_on(|| {
        let path = socket_path("into-iter");
        let listener = UnixListener::bind(&path).unwrap();
        for i in 0..3u8 {
            UnixStream::connect(&path).unwrap().write_all(&[i]).unwrap();
        }
        let mut got = Vec::new();
        for stream in &listener {
            let mut byte = [0u8; 1];
            stream.unwrap().read_exact(&mut byte).unwrap();
            got.push(byte[0]);
            if got.len() == 3 {
                break;
            }
        }
        assert_eq!(got, [0, 1, 2]);
        std::fs::remove_file(&path).unwrap();
    });
}

/// `TcpListener::set_only_v6` and `only_v6` (deprecated in std, as here) answer as std's on
/// the same kind of listener: bound already, so setting is refused.
#[test]
#[allow(deprecated)]
fn only_v6_answers_as_std_s() {
    fn answer<T>(r: std::io::Result<T>) -> Result<T, Option<i32>> {
        r.map_err(|e| e.raw_os_error())
    }
    for addr in ["127.0.0.1:0", "[::1]:0"] {
        let Ok(stds) = std::net::TcpListener::bind(addr) else {
            continue; // no IPv6 here
        };
        let ours = TcpListener::bind(addr).unwrap();
        assert_eq!(answer(ours.only_v6()), answer(stds.only_v6()), "{addr}");
        for on in [true, false] {
            let (theirs, mine) = (stds.set_only_v6(on), ours.set_only_v6(on));
            assert!(mine.is_err(), "{addr}: set after bind");
            assert_eq!(answer(mine), answer(theirs), "{addr}");
        }
    }
}

#[test]
fn udp_ping_pong() {
    runtime().block_on(|| {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let server_addr = server.local_addr().unwrap();
        let pong = zsync::spawn(move || {
            let mut buf = [0u8; 64];
            for _ in 0..100 {
                let (n, from) = server.recv_from(&mut buf).unwrap();
                server.send_to(&buf[..n], from).unwrap();
            }
        });
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client.connect(server_addr).unwrap();
        for i in 0..100u32 {
            client.send(&i.to_le_bytes()).unwrap();
            let mut buf = [0u8; 4];
            assert_eq!(client.recv(&mut buf).unwrap(), 4);
            assert_eq!(u32::from_le_bytes(buf), i);
        }
        pong.join().unwrap();
    });
}

/// A receive on a datagram socket whose read half is shut down and has nothing queued answers
/// at once, as std's blocking receive does (0 bytes; `UdpSocket::recv_from` std's InvalidInput
/// for the missing sender), and one already waiting wakes: zsync's non-blocking receive gets
/// `WouldBlock` while the socket reads as readable. A read timeout of 5 s bounds each case.
#[test]
fn a_datagram_receive_after_shutdown_read_returns_at_once_as_std_s() {
    use std::os::fd::AsRawFd;
    common::on_each_model(|| {
        let timeout = Some(Duration::from_secs(5));
        let mut buf = [0u8; 8];
        let (_a, b) = UnixDatagram::pair().unwrap();
        b.set_read_timeout(timeout).unwrap();
        b.shutdown(Shutdown::Read).unwrap();
        let start = Instant::now();
        assert_eq!(b.recv(&mut buf).unwrap(), 0);
        let (n, from) = b.recv_from(&mut buf).unwrap();
        assert!(n == 0 && from.is_unnamed(), "{n} from {from:?}");
        assert!(start.elapsed() < Duration::from_secs(1));

        // Shut down through another handle while a receive waits.
        let (a, _b) = UnixDatagram::pair().unwrap();
        a.set_read_timeout(timeout).unwrap();
        let waiting = a.try_clone().unwrap();
        let receiver =
            zsync::thread::spawn(move || waiting.recv(&mut [0u8; 8]).map_err(|e| e.kind()));
        zsync::thread::sleep(Duration::from_millis(50));
        a.shutdown(Shutdown::Both).unwrap();
        assert_eq!(receiver.join().unwrap(), Ok(0));

        // UDP, shut down through the raw fd: a queued datagram comes first, then nothing.
        let u = UdpSocket::bind("127.0.0.1:0").unwrap();
        let v = UdpSocket::bind("127.0.0.1:0").unwrap();
        u.connect(v.local_addr().unwrap()).unwrap();
        u.set_read_timeout(timeout).unwrap();
        // SAFETY: shutdown on an fd `u` keeps open.
        assert_eq!(unsafe { libc::shutdown(u.as_raw_fd(), libc::SHUT_RD) }, 0);
        v.send_to(b"queued", u.local_addr().unwrap()).unwrap();
        assert_eq!(u.peek(&mut buf).unwrap(), 6);
        assert_eq!(u.recv(&mut buf).unwrap(), 6);
        let start = Instant::now();
        assert_eq!(u.recv(&mut buf).unwrap(), 0);
        assert_eq!(u.peek(&mut buf).unwrap(), 0);
        for e in [
            u.recv_from(&mut buf).unwrap_err(),
            u.peek_from(&mut buf).unwrap_err(),
        ] {
            assert_eq!(
                (e.kind(), e.to_string()),
                (ErrorKind::InvalidInput, "invalid argument".into())
            );
        }
        assert!(start.elapsed() < Duration::from_secs(1));
        // In non-blocking mode, the kernel's answer, as std's.
        u.set_nonblocking(true).unwrap();
        assert_eq!(u.recv(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
    });
}

/// A blocking write on a stream socket writes all of its buffer, as std's does (the kernel's
/// blocking write goes on while the reader makes room), vectored too. With a write timeout and
/// no reader, it returns what it wrote once the timeout has passed, and the next write fails
/// with `WouldBlock`; in non-blocking mode a write stops at what fits. `pair` makes a connected
/// (writer, reader) pair.
fn check_whole_writes<S>(
    pair: fn() -> (S, S),
    set_write_timeout: fn(&S, Duration),
    nonblocking: fn(&S),
) where
    S: Read + Write + Send + 'static,
{
    const LEN: usize = 16 << 20;
    let data = vec![7u8; LEN];
    let (writer, reader) = pair();
    let all = common::write_whole_plain_and_vectored(writer, reader, &data);
    assert_eq!(all.len(), 2 * LEN);

    let (mut writer, mut reader_of_full) = pair();
    set_write_timeout(&writer, Duration::from_millis(200));
    let start = Instant::now();
    let n = writer.write(&data).unwrap();
    assert!(n > 0 && n < LEN, "{n}");
    assert!(
        start.elapsed() >= Duration::from_millis(190),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        writer.write(&data).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );

    // A write that waits for room, writes part and waits again ends one timeout after it
    // started, as the kernel's (SO_SNDTIMEO bounds the whole call), not one per wait. The
    // buffers are full from the write above; the reader makes room once, after 400 ms.
    let (done, until_done) = zsync::sync::mpsc::channel::<()>();
    let room = zsync::thread::spawn(move || {
        zsync::thread::sleep(Duration::from_millis(400));
        let mut taken = vec![0u8; 2 << 20];
        reader_of_full.read_exact(&mut taken).unwrap();
        let _ = until_done.recv();
    });
    set_write_timeout(&writer, Duration::from_millis(600));
    let start = Instant::now();
    let n = writer.write(&data).unwrap();
    let took = start.elapsed();
    done.send(()).unwrap();
    room.join().unwrap();
    assert!(n > 0 && n < LEN, "{n}");
    assert!(
        took >= Duration::from_millis(550) && took < Duration::from_millis(800),
        "the write took {took:?}: its timeout counts from its start"
    );

    let (mut writer, _reader) = pair();
    nonblocking(&writer);
    let start = Instant::now();
    let n = writer.write(&data).unwrap();
    assert!(n > 0 && n < LEN, "{n}");
    assert!(
        start.elapsed() < Duration::from_millis(150),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn a_blocking_stream_write_writes_the_whole_buffer_as_std_s() {
    common::on_each_model(|| {
        check_whole_writes(
            || {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
                (client, listener.accept().unwrap().0)
            },
            |s, t| s.set_write_timeout(Some(t)).unwrap(),
            |s| s.set_nonblocking(true).unwrap(),
        );
        check_whole_writes(
            || UnixStream::pair().unwrap(),
            |s, t| s.set_write_timeout(Some(t)).unwrap(),
            |s| s.set_nonblocking(true).unwrap(),
        );
    });
}

/// The timeouts go through the kernel, as std's: each socket type reports what a std socket
/// (`theirs`; the kernel rounds every socket's timeouts alike) reports after the same call:
/// the kernel's rounding up to clock ticks, `None` for a timeout the kernel takes as infinite.
/// A clone reports it too, and a read waits at least that long. Zero stays InvalidInput and
/// changes nothing.
fn check_kernel_timeouts<S: Read>(
    mut ours: S,
    theirs: &impl std::os::fd::AsRawFd,
    set: fn(&S, bool, Option<Duration>) -> std::io::Result<()>,
    get: fn(&S, bool) -> Option<Duration>,
    clone: fn(&S) -> S,
) {
    fn kernel(fd: &impl std::os::fd::AsRawFd, read: bool) -> Option<Duration> {
        // SAFETY: the socket stays open for the call; std's getter writes the kernel's answer
        // back, and the ManuallyDrop keeps the fd from being closed here.
        let std = std::mem::ManuallyDrop::new(unsafe {
            <std::net::UdpSocket as std::os::fd::FromRawFd>::from_raw_fd(fd.as_raw_fd())
        });
        if read {
            std.read_timeout()
        } else {
            std.write_timeout()
        }
        .unwrap()
    }
    fn set_std(fd: &impl std::os::fd::AsRawFd, read: bool, dur: Option<Duration>) {
        // SAFETY: as in `kernel`.
        let std = std::mem::ManuallyDrop::new(unsafe {
            <std::net::UdpSocket as std::os::fd::FromRawFd>::from_raw_fd(fd.as_raw_fd())
        });
        if read {
            std.set_read_timeout(dur)
        } else {
            std.set_write_timeout(dur)
        }
        .unwrap();
    }
    let durations = [
        Duration::from_nanos(1),
        Duration::from_nanos(500),
        Duration::from_micros(1500),
        Duration::new(1, 999_999_999),
        Duration::MAX,
        Duration::from_secs(i64::MAX as u64),
        Duration::from_secs(1 << 40),
        Duration::from_secs(3),
    ];
    for read in [true, false] {
        for dur in durations {
            set(&ours, read, Some(dur)).unwrap();
            set_std(theirs, read, Some(dur));
            let expected = kernel(theirs, read);
            assert_eq!(get(&ours, read), expected, "{dur:?}");
            assert_eq!(get(&clone(&ours), read), expected, "{dur:?} in a clone");
        }
        let e = set(&ours, read, Some(Duration::ZERO)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert_eq!(get(&ours, read), Some(Duration::from_secs(3)));
    }
    set(&ours, true, Some(Duration::from_nanos(500))).unwrap();
    let tick = get(&ours, true).unwrap();
    assert!(tick >= Duration::from_millis(1), "{tick:?}");
    let start = Instant::now();
    assert_eq!(
        ours.read(&mut [0u8; 8]).unwrap_err().kind(),
        ErrorKind::WouldBlock
    );
    assert!(start.elapsed() >= tick, "{:?} < {tick:?}", start.elapsed());
    set(&ours, true, None).unwrap();
    assert_eq!(get(&ours, true), None);
}

/// [`check_kernel_timeouts`] for a socket type: its timeouts are set and read on `$inner`
/// (the socket itself, or the socket in a `Read` adapter), and a clone is wrapped by `$wrap`.
macro_rules! check_timeouts {
    ($socket:expr, $theirs:expr, |$s:ident| $inner:expr, $wrap:expr) => {
        check_kernel_timeouts(
            $socket,
            $theirs,
            |$s, read, d| {
                let socket = $inner;
                if read {
                    socket.set_read_timeout(d)
                } else {
                    socket.set_write_timeout(d)
                }
            },
            |$s, read| {
                let socket = $inner;
                if read {
                    socket.read_timeout()
                } else {
                    socket.write_timeout()
                }
                .unwrap()
            },
            |$s| ($wrap)($inner.try_clone().unwrap()),
        )
    };
}

#[test]
fn socket_timeouts_are_the_kernel_s_as_std_s() {
    common::on_each_model(|| {
        let std_tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        check_timeouts!(stream, &std_tcp, |s| s, |c| c);
        let (stream, _peer) = UnixStream::pair().unwrap();
        check_timeouts!(stream, &std_tcp, |s| s, |c| c);
        // The datagram types read through a `Read` adapter.
        struct Udp(UdpSocket);
        impl Read for Udp {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.0.recv_from(buf).map(|(n, _)| n)
            }
        }
        let socket = Udp(UdpSocket::bind("127.0.0.1:0").unwrap());
        check_timeouts!(socket, &std_tcp, |s| &s.0, Udp);
        struct Unix(UnixDatagram);
        impl Read for Unix {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                self.0.recv(buf)
            }
        }
        let (socket, _peer) = UnixDatagram::pair().unwrap();
        check_timeouts!(Unix(socket), &std_tcp, |s| &s.0, Unix);
    });
}

/// `net.core.somaxconn`: the most connections a listener's queue may hold.
fn somaxconn() -> usize {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(128)
}

/// Connections made, none accepted yet: more than std's backlog of 128.
const UNACCEPTED: usize = 300;

#[test]
fn a_listener_queues_hundreds_of_connections_before_the_first_accept() {
    if somaxconn() <= UNACCEPTED {
        eprintln!("skipped: net.core.somaxconn is {}", somaxconn());
        return;
    }
    // With std's backlog (128) the kernel drops the connection attempts past the 129th, and
    // each waits a second for its SYN to be sent again: a thousand clients connecting at once
    // to a green-thread server took seconds.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let clients: Vec<std::net::TcpStream> = (0..UNACCEPTED)
        .map(|i| {
            std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500))
                .unwrap_or_else(|e| panic!("connection {i} of {UNACCEPTED}: {e}"))
        })
        .collect();
    for _ in 0..UNACCEPTED {
        listener.accept().unwrap();
    }
    drop(clients);
}

/// `path` as a `sockaddr_un`, for the raw socket calls of the tests below.
fn sockaddr_un(path: &std::path::Path) -> libc::sockaddr_un {
    use std::os::unix::ffi::OsStrExt;
    // SAFETY (test): a zeroed sockaddr_un is valid.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_bytes();
    assert!(bytes.len() < addr.sun_path.len());
    for (dst, &src) in addr.sun_path.iter_mut().zip(bytes) {
        *dst = src as libc::c_char;
    }
    addr
}

#[test]
fn a_unix_listener_queues_hundreds_of_connections_before_the_first_accept() {
    if somaxconn() <= UNACCEPTED {
        eprintln!("skipped: net.core.somaxconn is {}", somaxconn());
        return;
    }
    // (std's Unix listeners ask for the system's maximum; ours are std's.)
    let path = std::env::temp_dir().join(format!("zsync-backlog-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path).unwrap();
    // Non-blocking connects: a full queue answers EAGAIN at once instead of blocking.
    let addr = sockaddr_un(&path);
    let mut fds = Vec::new();
    for i in 0..UNACCEPTED {
        // SAFETY (test): plain socket calls on a descriptor this test owns and closes below.
        let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0) };
        assert!(fd >= 0);
        fds.push(fd);
        // SAFETY (test): `addr` is a valid sockaddr_un of the size given.
        let rc = unsafe {
            libc::connect(
                fd,
                (&addr as *const libc::sockaddr_un).cast(),
                std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t,
            )
        };
        assert_eq!(
            rc,
            0,
            "connection {i} of {UNACCEPTED}: {}",
            std::io::Error::last_os_error()
        );
    }
    for _ in 0..UNACCEPTED {
        listener.accept().unwrap();
    }
    for fd in fds {
        // SAFETY (test): opened above, closed once.
        unsafe { libc::close(fd) };
    }
    std::fs::remove_file(&path).unwrap();
}

/// A Unix listener at `path` whose queue holds one unaccepted connection (`listen(fd, 0)`;
/// std's and zsync's `bind` ask for the most the system allows).
fn listener_with_room_for_one(path: &std::path::Path) -> std::os::unix::net::UnixListener {
    use std::os::fd::FromRawFd;
    let _ = std::fs::remove_file(path);
    let addr = sockaddr_un(path);
    // SAFETY (test): plain socket calls; the descriptor is owned by the listener returned.
    unsafe {
        let fd = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        assert!(fd >= 0);
        let listener = std::os::unix::net::UnixListener::from_raw_fd(fd);
        let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
        assert_eq!(
            libc::bind(fd, (&addr as *const libc::sockaddr_un).cast(), len),
            0
        );
        assert_eq!(libc::listen(fd, 0), 0);
        listener
    }
}

#[test]
fn a_unix_connect_to_a_full_queue_parks_only_its_green_thread() {
    let path = std::env::temp_dir().join(format!("zsync-full-{}.sock", std::process::id()));
    let listener = listener_with_room_for_one(&path);
    // If the connect held the worker, nothing would ever accept: after 10 s a plain thread
    // makes room, so that the test fails (below) instead of hanging.
    let (done, watchdog) = std::sync::mpsc::channel::<()>();
    let rescuer = listener.try_clone().unwrap();
    let watchdog = std::thread::spawn(move || {
        if watchdog.recv_timeout(Duration::from_secs(10)).is_err() {
            drop(rescuer.accept());
        }
    });
    let served = common::runtime(1).block_on({
        let path = path.clone();
        move || {
            let _first = UnixStream::connect(&path).unwrap(); // the queue is full now
            let ticker = common::Ticker::spawn();
            let waiting = Arc::new(std::sync::atomic::AtomicBool::new(true));
            let connector = zsync::spawn({
                let (path, waiting) = (path.clone(), waiting.clone());
                move || {
                    let connected = UnixStream::connect(&path);
                    waiting.store(false, std::sync::atomic::Ordering::SeqCst);
                    connected
                }
            });
            // The only worker goes on (a blocking connect would hold it until the accept).
            assert!(ticker.ticked(20), "the worker was held by the connect");
            assert!(
                waiting.load(std::sync::atomic::Ordering::SeqCst),
                "connected while the queue was full"
            );
            done.send(()).unwrap();
            // Room: one connection accepted. The waiting connect completes.
            let (accepted, _) = listener.accept().unwrap();
            let mut second = connector.join().unwrap().unwrap();
            let (mut accepted2, _) = listener.accept().unwrap();
            second.write_all(b"hi").unwrap();
            let mut buf = [0u8; 2];
            accepted2.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"hi");

            // A connect that waits for room is cancellable: timeout() ends it.
            let _third = UnixStream::connect(&path).unwrap(); // full again
            let start = Instant::now();
            let waited =
                zsync::time::timeout(Duration::from_millis(50), || UnixStream::connect(&path));
            assert!(waited.is_err(), "connected to a full queue: {waited:?}");
            assert!(start.elapsed() >= Duration::from_millis(50));
            ticker.stop();
            drop(accepted);
            true
        }
    });
    assert!(served);
    watchdog.join().unwrap();
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_unix_connect_on_a_green_thread_gives_std_s_errors_and_reaches_abstract_names() {
    use std::os::linux::net::SocketAddrExt;
    use zsync::os::unix::net::SocketAddr;
    let dir = std::env::temp_dir();
    let missing = dir.join(format!("zsync-missing-{}.sock", std::process::id()));
    let not_a_socket = dir.join(format!("zsync-not-a-socket-{}", std::process::id()));
    std::fs::write(&not_a_socket, b"").unwrap();
    let too_long = dir.join("x".repeat(200));
    let with_nul = std::path::PathBuf::from("/tmp/a\0b");
    let paths = [missing, not_a_socket.clone(), too_long, with_nul];
    common::runtime(1).block_on(move || {
        for path in &paths {
            let Err(ours) = UnixStream::connect(path) else {
                panic!("{} connected", path.display())
            };
            let std_ = std::os::unix::net::UnixStream::connect(path).err().unwrap();
            assert_eq!(ours.kind(), std_.kind(), "{}", path.display());
            assert_eq!(ours.to_string(), std_.to_string(), "{}", path.display());
        }
        let name = format!("zsync-abstract-{}", std::process::id());
        let address = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixListener::bind_addr(&address).unwrap();
        let mut client = UnixStream::connect_addr(&address).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        client.write_all(b"abstract").unwrap();
        let mut buf = [0u8; 8];
        server.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"abstract");
    });
    std::fs::remove_file(&not_a_socket).unwrap();
}

#[test]
fn unix_stream_echo_and_datagrams() {
    let path = std::env::temp_dir().join(format!("zsync-test-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    runtime().block_on(move || {
        let listener = UnixListener::bind(&path).unwrap();
        let server = zsync::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            loop {
                let n = stream.read(&mut buf).unwrap();
                if n == 0 {
                    return;
                }
                stream.write_all(&buf[..n]).unwrap();
            }
        });
        let mut client = UnixStream::connect(&path).unwrap();
        for i in 0..100 {
            let message = format!("message {i}");
            client.write_all(message.as_bytes()).unwrap();
            let mut echo = vec![0u8; message.len()];
            client.read_exact(&mut echo).unwrap();
            assert_eq!(echo, message.as_bytes());
        }
        client.shutdown(Shutdown::Write).unwrap();
        server.join().unwrap();
        std::fs::remove_file(&path).unwrap();

        let (a, b) = UnixDatagram::pair().unwrap();
        let reader = zsync::spawn(move || {
            let mut buf = [0u8; 16];
            let n = b.recv(&mut buf).unwrap();
            buf[..n].to_vec()
        });
        zsync::thread::sleep(Duration::from_millis(10));
        a.send(b"datagram").unwrap();
        assert_eq!(reader.join().unwrap(), b"datagram");
    });
}

#[test]
fn peer_reset_mid_stream_is_an_error_not_a_hang() {
    runtime().block_on(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = TcpStream::connect(addr).unwrap();
        let (server, _) = listener.accept().unwrap();
        client.write_all(b"unread data").unwrap();
        zsync::thread::sleep(Duration::from_millis(10));
        // Closing with unread data makes the kernel send RST.
        drop(server);
        zsync::thread::sleep(Duration::from_millis(10));
        let mut buf = [0u8; 16];
        let result = client.read(&mut buf);
        let err = result.expect_err("read after a reset");
        assert_eq!(err.kind(), ErrorKind::ConnectionReset);
        // Writing keeps failing with an error, never a panic or hang.
        let mut failed = false;
        for _ in 0..10 {
            if client.write_all(&[0u8; 1024]).is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed);
    });
}

#[test]
fn reader_and_writer_of_one_socket_block_independently() {
    runtime().block_on(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).unwrap();
        let (server, _) = listener.accept().unwrap();
        let client = Arc::new(client);
        // The reader parks first; the writer, on the same socket, must not be held up by it.
        let c2 = client.clone();
        let reader = zsync::spawn(move || {
            let mut buf = [0u8; 3];
            (&*c2).read_exact(&mut buf).unwrap();
            buf
        });
        let writer_clone = client.try_clone().unwrap();
        let writer = zsync::spawn(move || {
            // Enough to fill the socket buffers: the writer parks until the server reads.
            let data = vec![7u8; 8 << 20];
            (&writer_clone).write_all(&data).unwrap();
        });
        let mut server = server;
        let mut total = 0;
        let mut buf = vec![0u8; 1 << 16];
        while total < 8 << 20 {
            total += server.read(&mut buf).unwrap();
        }
        writer.join().unwrap();
        server.write_all(b"abc").unwrap();
        assert_eq!(&reader.join().unwrap(), b"abc");
    });
}

#[test]
fn cancel_a_green_thread_blocked_in_accept_and_in_read() {
    runtime().block_on(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let listener = Arc::new(listener);
        let l2 = listener.clone();
        let acceptor = zsync::spawn(move || l2.accept().map(|_| ()));
        zsync::thread::sleep(Duration::from_millis(20));
        let payload = acceptor.cancel().unwrap_err();
        assert!(payload.is::<zsync::Cancelled>());

        // The listener is still usable after the cancelled accept.
        let client = TcpStream::connect(addr).unwrap();
        let (server, _) = listener.accept().unwrap();
        let server = Arc::new(server);
        let s2 = server.clone();
        let reader = zsync::spawn(move || (&*s2).read(&mut [0u8; 8]));
        zsync::thread::sleep(Duration::from_millis(20));
        assert!(reader.cancel().unwrap_err().is::<zsync::Cancelled>());
        // ...and so is the stream: a new reader gets the data.
        (&client).write_all(b"after").unwrap();
        let mut buf = [0u8; 5];
        (&*server).read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"after");

        // timeout() unwinds a blocked read too.
        let result =
            zsync::time::timeout(Duration::from_millis(30), || (&*server).read(&mut [0u8; 8]));
        assert!(result.is_err());
    });
}

/// Raises RLIMIT_NOFILE's soft limit to at least `want` (up to the hard limit); returns the
/// new soft limit.
fn raise_nofile(want: u64) -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid rlimit out-pointer.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
        0
    );
    if limit.rlim_cur < want {
        // Root may raise the hard limit too (up to fs.nr_open); others get what it allows.
        let raised = libc::rlimit {
            rlim_cur: want,
            rlim_max: want.max(limit.rlim_max),
        };
        // SAFETY: a valid rlimit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return want;
        }
        limit.rlim_cur = want.min(limit.rlim_max);
        // SAFETY: a valid rlimit.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) };
        // SAFETY: as above.
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    }
    limit.rlim_cur
}

/// 10,000 connections open at once. The hard RLIMIT_NOFILE of this kind of machine (20,000) is
/// below the 20,000+ descriptors both ends would need in one process, so the clients run in a
/// child process (this test binary re-executed), on zsync too.
#[test]
fn ten_thousand_simultaneous_connections() {
    const CONNECTIONS: usize = 10_000;
    let limit = raise_nofile(CONNECTIONS as u64 + 1000);
    assert!(
        limit >= CONNECTIONS as u64 + 100,
        "RLIMIT_NOFILE hard limit too low ({limit}): raise it (ulimit -Hn) to run this test"
    );
    if let Some(addr) = std::env::var_os("ZSYNC_CLIENTS_CHILD") {
        let addr: std::net::SocketAddr = addr.to_str().unwrap().parse().unwrap();
        runtime().block_on(move || {
            // At most 64 connects in flight: the listener's backlog is std's 128, and a client
            // whose handshake overflowed the accept queue can be dropped by the server while it
            // believes itself connected. Every connection stays open until the server answers.
            let connecting = Arc::new(zsync::sync::Semaphore::new(64));
            let clients: Vec<_> = (0..CONNECTIONS)
                .map(|_| {
                    let connecting = connecting.clone();
                    zsync::spawn(move || {
                        let permit = connecting.acquire();
                        let mut stream = TcpStream::connect(addr).unwrap();
                        stream.write_all(b"?").unwrap();
                        drop(permit);
                        let mut byte = [0u8; 1];
                        stream.read_exact(&mut byte).unwrap();
                        byte[0]
                    })
                })
                .collect();
            for client in clients {
                assert_eq!(client.join().unwrap(), b'!');
            }
        });
        println!("CLIENTS-OK");
        return;
    }
    runtime().block_on(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let child = zsync::unblock(move || {
            std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "ten_thousand_simultaneous_connections",
                    "--nocapture",
                ])
                .env("ZSYNC_CLIENTS_CHILD", addr.to_string())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        });
        // A deadline, so that a client process that dies early fails the test instead of
        // leaving this loop waiting for connections that never come.
        let accepted = zsync::time::timeout(Duration::from_secs(120), || {
            let mut streams = Vec::new();
            for _ in 0..CONNECTIONS {
                let (mut stream, _) = listener.accept().unwrap();
                let mut byte = [0u8; 1];
                stream.read_exact(&mut byte).unwrap();
                streams.push(stream);
            }
            streams
        });
        let Ok(mut streams) = accepted else {
            let out = zsync::unblock(move || {
                let mut child = child;
                let _ = child.kill();
                child.wait_with_output().unwrap()
            });
            panic!(
                "not all clients connected within 120 s; client process: {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        // Everyone is connected and waiting: answer all 10,000 at once.
        for stream in &mut streams {
            stream.write_all(b"!").unwrap();
        }
        let out = zsync::unblock(move || child.wait_with_output().unwrap());
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("CLIENTS-OK"),
            "client process failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
}

#[test]
fn running_out_of_file_descriptors_is_a_clear_error() {
    // In a child process, so that lowering the limit does not disturb the other tests.
    if std::env::var_os("ZSYNC_EMFILE_CHILD").is_some() {
        let limit = libc::rlimit {
            rlim_cur: 64,
            rlim_max: 64,
        };
        // SAFETY: a valid rlimit.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
        runtime().block_on(|| {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let mut open = Vec::new();
            let err = loop {
                match TcpStream::connect(addr) {
                    Ok(stream) => open.push(stream),
                    Err(e) => break e,
                }
                assert!(open.len() < 1000, "the limit did not apply");
            };
            assert_eq!(err.raw_os_error(), None); // wrapped, with a message
            let message = err.to_string();
            assert!(message.contains("RLIMIT_NOFILE"), "{message}");
            assert!(message.contains("ulimit -n"), "{message}");
            println!("EMFILE-OK: {message}");
        });
        return;
    }
    let out = run_as_child(
        "running_out_of_file_descriptors_is_a_clear_error",
        "ZSYNC_EMFILE_CHILD",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("EMFILE-OK"),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn os_threads_flavor_runs_the_same_network_code() {
    Builder::new()
        .worker_threads(2)
        .flavor(Flavor::OsThreads)
        .build()
        .unwrap()
        .block_on(|| {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            spawn_echo_server(listener);
            let clients: Vec<_> = (0..8)
                .map(|id| zsync::spawn(move || echo_client(addr, id, 20)))
                .collect();
            for c in clients {
                assert_eq!(c.join().unwrap(), 20 * 64);
            }
        });
}

// A write to a stream whose peer is gone fails with `BrokenPipe` (or `ConnectionReset`), as
// std's does, and never raises `SIGPIPE` (zsync's writes pass `MSG_NOSIGNAL`, as std's do).
// Rust programs start with `SIGPIPE` ignored, which would hide the signal: the case runs in a
// child process (this test binary again) that sets it back to the default action, which
// kills the process.

const SIGPIPE_CHILD: &str = "ZSYNC_NET_TEST_SIGPIPE_CHILD";

/// Writes to `stream` until it fails; the error's kind.
fn write_until_it_fails(mut stream: impl Write) -> ErrorKind {
    for _ in 0..1000 {
        if let Err(e) = stream.write_all(&[7u8; 4096]) {
            return e.kind();
        }
    }
    panic!("writes to a stream whose peer is gone kept succeeding");
}

fn writes_to_gone_peers() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    drop(listener.accept().unwrap());
    let kind = write_until_it_fails(client);
    assert!(
        matches!(kind, ErrorKind::BrokenPipe | ErrorKind::ConnectionReset),
        "TCP: {kind:?}"
    );
    let (a, b) = UnixStream::pair().unwrap();
    drop(b);
    assert_eq!(
        write_until_it_fails(a),
        ErrorKind::BrokenPipe,
        "Unix stream"
    );
}

#[test]
fn a_write_to_a_gone_peer_is_broken_pipe_not_sigpipe() {
    if std::env::var_os(SIGPIPE_CHILD).is_some() {
        // SAFETY: restores the default action of one signal before any thread of this child
        // process writes to a socket; no handler is installed.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
        writes_to_gone_peers(); // on this OS thread
        runtime().block_on(writes_to_gone_peers); // on a green thread
        return;
    }
    let out = run_as_child(
        "a_write_to_a_gone_peer_is_broken_pipe_not_sigpipe",
        SIGPIPE_CHILD,
    );
    assert!(
        out.status.success(),
        "the child failed (killed by SIGPIPE?): {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
}

/// A stream read that stops short at TCP's urgent mark (more data queued behind it) does not
/// make the next read wait for an event: it waited for new data, forever if none came.
#[test]
fn a_read_that_stops_at_the_urgent_mark_does_not_stall_the_next() {
    zsync::run(|| {
        let listener = zsync::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (done, finished) = std::sync::mpsc::channel::<()>();
        let peer = std::thread::spawn(move || {
            use std::os::fd::AsRawFd;
            let s = std::net::TcpStream::connect(addr).unwrap();
            let fd = s.as_raw_fd();
            std::thread::sleep(std::time::Duration::from_millis(50));
            // SAFETY (test): sends from a live buffer on the peer's own socket.
            unsafe {
                libc::send(fd, b"abc".as_ptr().cast(), 3, 0);
                libc::send(fd, b"d".as_ptr().cast(), 1, libc::MSG_OOB);
                libc::send(fd, b"efg".as_ptr().cast(), 3, 0);
            }
            // Open (no end-of-stream event to wake a stalled read) until the reads are done.
            let _ = finished.recv_timeout(std::time::Duration::from_secs(3));
        });
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 100];
        // The first read waits for the data and takes what stands before the mark.
        let mut got = Vec::new();
        while got.len() < 3 {
            let n = std::io::Read::read(&mut s, &mut buf).unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"abc");
        let start = std::time::Instant::now();
        let n = std::io::Read::read(&mut s, &mut buf).unwrap();
        assert!(
            start.elapsed() < std::time::Duration::from_secs(1),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(&buf[..n], b"efg");
        done.send(()).unwrap();
        peer.join().unwrap();
    });
}

//! The `hook` feature around an fd's and a process's life: a child forked from a green thread,
//! an fd closed (and its number reused) while a green thread waits on it in a hooked call, and
//! fds that zsync::net registered itself. Run with `cargo test --release --features hook
//! --test hook_life`.
#![cfg(all(feature = "hook", target_os = "linux"))]

mod common;

use common::Ticker;
use std::time::{Duration, Instant};
use zsync::runtime::Builder;

fn one_worker() -> zsync::Runtime {
    Builder::new().worker_threads(1).build().unwrap()
}

/// The tests that close fds and look at which number the next one gets, one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A connected pair of Unix stream sockets, raw (closed by the test).
fn socketpair() -> (libc::c_int, libc::c_int) {
    let mut fds = [0; 2];
    // SAFETY (test): a writable array of two fds.
    let r = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, fds.as_mut_ptr()) };
    assert_eq!(r, 0, "socketpair: {}", std::io::Error::last_os_error());
    (fds[0], fds[1])
}

/// Parks until `handle`'s green thread has finished or `limit` has passed; says whether it
/// finished.
fn finishes_within<T>(handle: &zsync::thread::JoinHandle<T>, limit: Duration) -> bool {
    let start = Instant::now();
    while !handle.is_finished() {
        if start.elapsed() > limit {
            return false;
        }
        zsync::thread::sleep(Duration::from_millis(5));
    }
    true
}

/// A hooked `read` into 8 bytes on a green thread: its result and errno.
fn green_read(fd: libc::c_int) -> zsync::thread::JoinHandle<(isize, i32, Vec<u8>)> {
    zsync::spawn(move || {
        let mut buf = [0u8; 8];
        // SAFETY (test): a writable buffer of 8 bytes.
        let r = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        (r, errno, buf[..r.max(0) as usize].to_vec())
    })
}

/// Waits (parking the green thread) for the child `pid` to exit, killing it after 10 s; returns
/// its exit code.
fn wait_for_child(pid: libc::pid_t) -> i32 {
    let start = Instant::now();
    loop {
        let mut status = 0;
        // SAFETY (test): our own child, without blocking.
        let done = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        assert!(done >= 0, "waitpid: {}", std::io::Error::last_os_error());
        if done == pid {
            assert!(libc::WIFEXITED(status), "the child died: {status:#x}");
            return libc::WEXITSTATUS(status);
        }
        if start.elapsed() > Duration::from_secs(10) {
            // SAFETY (test): our own child; then reaped.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            panic!("the forked child hung");
        }
        zsync::thread::sleep(Duration::from_millis(5));
    }
}

/// A child forked from a green thread has one thread, the forking one, and the runtime it came
/// from does not exist there: a hooked sleep blocks that thread as libc's does. Parking it
/// instead would run the parent's other green threads (a ticker here) in the child.
#[test]
fn a_child_forked_from_a_green_thread_sleeps_in_libc_and_runs_none_of_the_parent_s_threads() {
    let _serial = serial(); // its runtime's fds would take the numbers another test reuses
    one_worker().block_on(|| {
        let ticker = Ticker::spawn();
        assert!(ticker.ticked(3));
        // SAFETY (test): the child makes only system calls and atomic loads, then `_exit`s.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
        if pid == 0 {
            let before = ticker.ticks();
            let ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 200_000_000,
            };
            // SAFETY (test): a valid timespec, no remainder.
            let slept = unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) };
            let ticked = ticker.ticks() != before;
            let code = match (slept, ticked) {
                (0, false) => 0,
                (0, true) => 1, // the parent's ticker ran in the child
                _ => 2,
            };
            // SAFETY (test): leaves the child without running the parent's exit handlers.
            unsafe { libc::_exit(code) };
        }
        let code = wait_for_child(pid);
        assert_eq!(
            code, 0,
            "1: the parent's ticker ran in the child; 2: nanosleep failed"
        );
        // The parent's runtime goes on.
        assert!(ticker.ticked(3));
        ticker.stop();
    });
}

/// Another thread closes the fd a green thread waits on in a hooked `read`, then the peer
/// writes and closes. libc's read returns (`EBADF`, or the byte: a read already in the kernel
/// keeps its file); the hooked one must return too, not wait for an event that cannot come
/// now that the fd is deregistered.
#[test]
fn a_hooked_read_returns_when_another_thread_closes_its_fd() {
    let _serial = serial();
    one_worker().block_on(|| {
        let (a, b) = socketpair();
        let reader = green_read(a);
        let closer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            // SAFETY (test): our fds, each closed once; the byte is a valid buffer.
            unsafe {
                libc::close(a);
                std::thread::sleep(Duration::from_millis(50));
                libc::write(b, b"x".as_ptr().cast(), 1);
                libc::close(b);
            }
        });
        let finished = finishes_within(&reader, Duration::from_secs(5));
        closer.join().unwrap();
        assert!(finished, "the read still waits 5 s after its fd was closed");
        let (r, errno, _) = reader.join().unwrap();
        assert!(
            r == 1 || (r == -1 && errno == libc::EBADF),
            "read = {r}, errno {errno}"
        );
    });
}

/// From another OS thread, 100 ms from now: closes `a`, puts a new socket at its number (the
/// kernel usually hands the number out again; `dup2` makes sure) and writes `bytes` to the new
/// socket's peer. Gives the new socket and its peer.
fn close_and_reuse_number(
    a: libc::c_int,
    bytes: &'static [u8],
) -> std::thread::JoinHandle<(libc::c_int, libc::c_int)> {
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        // SAFETY (test): our fd, closed once.
        unsafe { libc::close(a) };
        let (new, peer) = socketpair();
        if new != a {
            // Another thread took the number first: put the new socket there.
            // SAFETY (test): our fds.
            assert_eq!(unsafe { libc::dup2(new, a) }, a);
        }
        // SAFETY (test): a valid buffer of `bytes.len()` bytes.
        let wrote = unsafe { libc::write(peer, bytes.as_ptr().cast(), bytes.len()) };
        assert_eq!(wrote, bytes.len() as isize);
        (new, peer)
    })
}

/// Closes what `close_and_reuse_number`'s test holds: `a` (now `new` or its dup), `new`, its
/// `peer`, and `b`, the old socket's peer.
fn close_all(a: libc::c_int, new: libc::c_int, peer: libc::c_int, b: libc::c_int) {
    // SAFETY (test): our fds, each closed once.
    unsafe {
        if new != a {
            libc::close(a);
        }
        libc::close(new);
        libc::close(peer);
        libc::close(b);
    }
}

/// A `MSG_WAITALL` read that got part of its bytes and waits for the rest when its fd is
/// closed and the number taken by a new socket: the rest of the call must not read the new
/// socket. It returns what it read (libc's call would go on with the old file, which nobody
/// writes to any more), and the new socket keeps its bytes.
#[test]
fn the_rest_of_a_waitall_read_never_reads_the_socket_that_took_its_closed_number() {
    let _serial = serial();
    one_worker().block_on(|| {
        let (a, b) = socketpair();
        // SAFETY (test): a valid buffer of 4 bytes.
        assert_eq!(unsafe { libc::write(b, b"old!".as_ptr().cast(), 4) }, 4);
        let reader = zsync::spawn(move || {
            let mut buf = [0u8; 8];
            // SAFETY (test): a writable buffer of 8 bytes.
            let r = unsafe { libc::recv(a, buf.as_mut_ptr().cast(), 8, libc::MSG_WAITALL) };
            (r, buf[..r.max(0) as usize].to_vec())
        });
        let closer = close_and_reuse_number(a, b"new!");
        let finished = finishes_within(&reader, Duration::from_secs(5));
        let (new, peer) = closer.join().unwrap();
        assert!(finished, "the read still waits 5 s after its fd was closed");
        let (r, got) = reader.join().unwrap();
        let mut left = [0u8; 8];
        // SAFETY (test): a writable buffer of 8 bytes.
        let kept = unsafe { libc::recv(new, left.as_mut_ptr().cast(), 8, libc::MSG_DONTWAIT) };
        assert_eq!((r, got.as_slice()), (4, &b"old!"[..]), "the read's answer");
        assert_eq!(kept, 4, "the new socket lost its bytes");
        close_all(a, new, peer, b);
    });
}

/// As above, with a receive timeout on the socket, and a new socket takes the closed number
/// before the peer writes to it. libc's read keeps the old file and gives `EAGAIN` when the
/// timeout passes; a hooked read retries by number, and must not take the new socket's bytes:
/// it fails with `EBADF` (what a read by that number gets from libc once the number is
/// closed), and the new socket keeps them.
#[test]
fn a_hooked_read_never_reads_the_socket_that_took_its_closed_number() {
    let _serial = serial();
    one_worker().block_on(|| {
        let (a, b) = socketpair();
        let timeout = libc::timeval {
            tv_sec: 1,
            tv_usec: 0,
        };
        // SAFETY (test): a valid timeval and its size.
        let r = unsafe {
            libc::setsockopt(
                a,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&timeout as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        assert_eq!(r, 0);
        let reader = green_read(a);
        let closer = close_and_reuse_number(a, b"new");
        let finished = finishes_within(&reader, Duration::from_secs(5));
        let (new, peer) = closer.join().unwrap();
        assert!(finished, "the read still waits 5 s after its fd was closed");
        let (r, errno, got) = reader.join().unwrap();
        let mut left = [0u8; 8];
        // SAFETY (test): a writable buffer of 8 bytes.
        let kept = unsafe { libc::recv(new, left.as_mut_ptr().cast(), 8, libc::MSG_DONTWAIT) };
        assert!(
            r == -1 && (errno == libc::EBADF || errno == libc::EAGAIN),
            "read = {r}, errno {errno}, bytes {got:?}"
        );
        assert_eq!(kept, 3, "the new socket lost its bytes");
        close_all(a, new, peer, b);
    });
}

/// A hooked `poll` on the fd of a socket zsync::net registered on the same worker waits
/// through that registration (epoll takes an fd once): it must park, not fall back to a
/// blocking `poll` that holds the worker (and the ticker on it).
#[test]
fn a_hooked_poll_on_a_zsync_socket_parks() {
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    one_worker().block_on(|| {
        let listener = zsync::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = zsync::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        // zsync registers the client's fd with this worker's reactor.
        client
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        assert!(client.read(&mut [0u8; 4]).is_err());
        let ticker = Ticker::spawn();
        let writer = zsync::spawn(move || {
            // Runs only if the poll below lets the worker go.
            let ticked = ticker.ticked(5);
            server.write_all(b"x").unwrap();
            ticker.stop();
            ticked
        });
        let mut p = libc::pollfd {
            fd: client.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY (test): one valid pollfd.
        let r = unsafe { libc::poll(&mut p, 1, 3000) };
        assert_eq!(r, 1, "the poll blocked the worker until its timeout");
        assert!(writer.join().unwrap());
        let mut byte = [0u8; 1];
        client.set_read_timeout(None).unwrap();
        assert_eq!(client.read(&mut byte).unwrap(), 1);
    });
}

/// A std socket a hooked read has waited on (the hooks registered its fd), handed to
/// zsync::net, works there: zsync waits through the same registration.
#[test]
fn a_std_socket_the_hooks_waited_on_works_as_a_zsync_socket() {
    use std::io::{Read, Write};
    use std::os::fd::{FromRawFd, IntoRawFd};
    one_worker().block_on(|| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            std::thread::sleep(Duration::from_millis(50));
            s.write_all(b"1").unwrap();
            std::thread::sleep(Duration::from_millis(100));
            s.write_all(b"2").unwrap();
            s
        });
        let (mut std_stream, _) = listener.accept().unwrap();
        let mut byte = [0u8; 1];
        std_stream.read_exact(&mut byte).unwrap(); // parks: the hooks register the fd
        assert_eq!(&byte, b"1");
        // SAFETY (test): the fd is the std stream's, handed over whole.
        let mut stream = unsafe { zsync::net::TcpStream::from_raw_fd(std_stream.into_raw_fd()) };
        stream.read_exact(&mut byte).unwrap();
        assert_eq!(&byte, b"2");
        let _peer = peer.join().unwrap();
        drop(stream);
    });
}

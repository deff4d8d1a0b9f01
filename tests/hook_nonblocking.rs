//! The `hook` feature's `O_NONBLOCK` bookkeeping: the hooks remember whether the user made an
//! fd non-blocking (so that a wait costs no `fcntl`), and every change of the mode through libc
//! (`fcntl(F_SETFL)`, `fcntl64`, `ioctl(FIONBIO)`, std's `set_nonblocking`), on any fd sharing
//! the file description, is seen by the next call. `fcntl` and `ioctl` otherwise behave as
//! libc's. Run with `cargo test --release --features hook --test hook_nonblocking`.
#![cfg(all(feature = "hook", target_os = "linux"))]

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::time::{Duration, Instant};
use zsync::runtime::Builder;

extern "C" {
    /// glibc's name for `fcntl` in code built with `_FILE_OFFSET_BITS=64`.
    fn fcntl64(fd: libc::c_int, cmd: libc::c_int, ...) -> libc::c_int;
}

/// The tests of this file one at a time, runtimes included (building and dropping one opens
/// and closes fds): one of them needs the lowest free fd numbers to be its own.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn runtime() -> zsync::Runtime {
    Builder::new().worker_threads(2).build().unwrap()
}

/// A connected pair of std TCP streams (client, server side).
fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    (client, server)
}

/// Writes `byte` to `peer` from another green thread after `delay`; returns the peer.
fn send_later(
    mut peer: TcpStream,
    delay: Duration,
    byte: u8,
) -> zsync::thread::JoinHandle<TcpStream> {
    zsync::spawn(move || {
        zsync::thread::sleep(delay);
        peer.write_all(&[byte]).unwrap();
        peer
    })
}

/// A read of one byte on `s` that has to wait for it (the peer writes it after 50 ms): the
/// hooks have then read and remembered that `s` is blocking.
fn wait_once_as_blocking(s: &mut TcpStream, peer: TcpStream) -> TcpStream {
    let writer = send_later(peer, Duration::from_millis(50), b'w');
    let start = Instant::now();
    let mut buf = [0u8; 1];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(buf[0], b'w');
    assert!(start.elapsed() >= Duration::from_millis(40), "did not wait");
    writer.join().unwrap()
}

/// With `s` just made non-blocking (through some fd of its description): a read gives
/// `WouldBlock` at once, although a byte comes 300 ms later (a stale "blocking" would park
/// until then and return it). Then `make_blocking` runs, and a read parks until the byte comes
/// (a stale "non-blocking" would give `WouldBlock` at once). Returns the peer.
fn check_mode_change(
    s: &mut TcpStream,
    peer: TcpStream,
    make_blocking: impl FnOnce(),
) -> TcpStream {
    let writer = send_later(peer, Duration::from_millis(300), b'x');
    let start = Instant::now();
    let mut buf = [0u8; 1];
    let r = s.read(&mut buf);
    assert_eq!(
        r.as_ref().map_err(|e| e.kind()),
        Err(ErrorKind::WouldBlock),
        "a read on a non-blocking socket gave {r:?} after {:?}",
        start.elapsed()
    );
    assert!(start.elapsed() < Duration::from_millis(200));
    make_blocking();
    let r = s.read(&mut buf);
    assert_eq!(
        r.as_ref().map_err(|e| e.kind()),
        Ok(&1),
        "a read on a blocking socket gave {r:?} after {:?}",
        start.elapsed()
    );
    assert_eq!(buf[0], b'x');
    assert!(start.elapsed() >= Duration::from_millis(250));
    writer.join().unwrap()
}

fn getfl(fd: RawFd) -> libc::c_int {
    // SAFETY: F_GETFL takes no argument.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    assert!(flags >= 0);
    flags
}

fn setfl(fd: RawFd, flags: libc::c_int) {
    // SAFETY: F_SETFL with an int flag word.
    assert_eq!(unsafe { libc::fcntl(fd, libc::F_SETFL, flags) }, 0);
}

#[test]
fn set_nonblocking_after_a_blocking_wait_is_seen_at_once() {
    let _serial = serial();
    runtime().block_on(|| {
        let (mut s, peer) = tcp_pair();
        let (clone1, clone2) = (s.try_clone().unwrap(), s.try_clone().unwrap());
        let peer = wait_once_as_blocking(&mut s, peer);
        s.set_nonblocking(true).unwrap(); // std: ioctl(FIONBIO)
        let peer = check_mode_change(&mut s, peer, || clone1.set_nonblocking(false).unwrap());
        // Again, through a clone (another fd, the same description).
        let peer = wait_once_as_blocking(&mut s, peer);
        clone2.set_nonblocking(true).unwrap();
        check_mode_change(&mut s, peer, || clone2.set_nonblocking(false).unwrap());
    });
}

#[test]
fn fcntl_and_ioctl_on_a_dup_change_the_shared_description() {
    let _serial = serial();
    runtime().block_on(|| {
        let (mut s, peer) = tcp_pair();
        // SAFETY: a new fd for our socket, closed below.
        let dup = unsafe { libc::dup(s.as_raw_fd()) };
        assert!(dup >= 0);
        let peer = wait_once_as_blocking(&mut s, peer);
        // fcntl(F_SETFL) on the dup: the original fd's remembered "blocking" is stale.
        let flags = getfl(dup);
        setfl(dup, flags | libc::O_NONBLOCK);
        let peer = check_mode_change(&mut s, peer, || setfl(dup, flags));
        // ioctl(FIONBIO) on the dup.
        let peer = wait_once_as_blocking(&mut s, peer);
        let fionbio = |on: libc::c_int| {
            let mut on = on;
            // SAFETY: FIONBIO takes a pointer to an int.
            assert_eq!(unsafe { libc::ioctl(dup, libc::FIONBIO, &mut on) }, 0);
        };
        fionbio(1);
        let peer = check_mode_change(&mut s, peer, || fionbio(0));
        // fcntl64, the name C code built with _FILE_OFFSET_BITS=64 calls.
        let peer = wait_once_as_blocking(&mut s, peer);
        // SAFETY: F_SETFL with an int flag word.
        assert_eq!(
            unsafe { fcntl64(dup, libc::F_SETFL, flags | libc::O_NONBLOCK) },
            0
        );
        check_mode_change(&mut s, peer, || {
            // SAFETY: as above.
            assert_eq!(unsafe { fcntl64(dup, libc::F_SETFL, flags) }, 0);
        });
        // SAFETY: our dup.
        assert_eq!(unsafe { libc::close(dup) }, 0);
    });
}

#[test]
fn a_listener_made_non_blocking_after_a_blocking_accept_gives_would_block() {
    let _serial = serial();
    runtime().block_on(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = zsync::spawn(move || {
            zsync::thread::sleep(Duration::from_millis(50));
            TcpStream::connect(addr).unwrap()
        });
        let start = Instant::now();
        let _first = listener.accept().unwrap(); // waits: "blocking" is remembered
        assert!(start.elapsed() >= Duration::from_millis(40));
        let _client = client.join().unwrap();
        listener.set_nonblocking(true).unwrap();
        // A connection comes in 300 ms: a stale "blocking" would wait for it and accept it.
        let client = zsync::spawn(move || {
            zsync::thread::sleep(Duration::from_millis(300));
            TcpStream::connect(addr).unwrap()
        });
        let start = Instant::now();
        let r = listener.accept().map(|_| ());
        assert_eq!(r.map_err(|e| e.kind()), Err(ErrorKind::WouldBlock));
        assert!(start.elapsed() < Duration::from_millis(200));
        listener.set_nonblocking(false).unwrap();
        let r = listener.accept().map(|_| ()); // a stale "non-blocking" gives WouldBlock
        assert_eq!(r.map_err(|e| e.kind()), Ok(()));
        assert!(start.elapsed() >= Duration::from_millis(250));
        client.join().unwrap();
    });
}

/// Two fds of a pipe as raw numbers (through the hooked `pipe2`).
fn pipe2(flags: libc::c_int) -> [RawFd; 2] {
    let mut fds = [0; 2];
    // SAFETY: a writable array of two fds.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), flags) }, 0);
    fds
}

/// Reads one byte from `fd` on the calling green thread: the result and how long it took.
fn read_byte(fd: RawFd) -> (isize, Instant) {
    let start = Instant::now();
    let mut b = 0u8;
    // SAFETY: a writable byte.
    let n = unsafe { libc::read(fd, (&mut b as *mut u8).cast(), 1) };
    (n, start)
}

fn close_behind_the_hooks(fd: RawFd) {
    // SAFETY: closing our own fd with the raw system call, which the hooks do not see.
    assert_eq!(unsafe { libc::syscall(libc::SYS_close, fd) }, 0);
}

#[test]
fn a_reused_number_is_asked_again() {
    let _serial = serial();
    runtime().block_on(|| {
        // A non-blocking pipe: its read end is remembered as non-blocking.
        let [r, w] = pipe2(libc::O_NONBLOCK);
        let (n, start) = read_byte(r);
        assert_eq!(
            (n, std::io::Error::last_os_error().raw_os_error()),
            (-1, Some(libc::EAGAIN))
        );
        assert!(start.elapsed() < Duration::from_millis(200));
        // Both numbers freed behind the hooks' back, then reused by blocking pipes (pipe, then
        // dup, socketpair: each forgets the numbers it hands out).
        for reuse in ["pipe", "dup", "socketpair"] {
            // A blocking pipe on higher numbers, for `dup`.
            let [a, b] = if reuse == "dup" { pipe2(0) } else { [-1, -1] };
            close_behind_the_hooks(r);
            close_behind_the_hooks(w);
            let [r2, w2] = match reuse {
                "pipe" => {
                    let mut fds = [0; 2];
                    // SAFETY: a writable array of two fds.
                    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
                    fds
                }
                "dup" => {
                    // SAFETY: plain calls on our fds: the dups take the two lowest numbers.
                    let fds = unsafe { [libc::dup(a), libc::dup(b)] };
                    close_behind_the_hooks(a);
                    close_behind_the_hooks(b);
                    fds
                }
                _ => {
                    let mut fds = [0; 2];
                    // SAFETY: a writable array of two fds.
                    let r = unsafe {
                        libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, fds.as_mut_ptr())
                    };
                    assert_eq!(r, 0);
                    fds
                }
            };
            assert_eq!([r2, w2], [r, w], "{reuse}: the numbers were not reused");
            let writer = zsync::spawn(move || {
                zsync::thread::sleep(Duration::from_millis(100));
                // SAFETY: a valid byte.
                assert_eq!(unsafe { libc::write(w, b"z".as_ptr().cast(), 1) }, 1);
            });
            let (n, start) = read_byte(r);
            assert_eq!(n, 1, "{reuse}: {:?}", std::io::Error::last_os_error());
            assert!(start.elapsed() >= Duration::from_millis(80), "{reuse}");
            writer.join().unwrap();
            // Remembered as blocking now; made non-blocking again for the next round (a byte
            // comes in 300 ms: a stale "blocking" would wait for it).
            setfl(r, getfl(r) | libc::O_NONBLOCK);
            let writer = zsync::spawn(move || {
                zsync::thread::sleep(Duration::from_millis(300));
                // SAFETY: a valid byte.
                assert_eq!(unsafe { libc::write(w, b"y".as_ptr().cast(), 1) }, 1);
            });
            let (n, start) = read_byte(r);
            assert_eq!(n, -1, "{reuse}: a read on a non-blocking pipe waited");
            assert!(start.elapsed() < Duration::from_millis(200));
            writer.join().unwrap();
        }
        close_behind_the_hooks(r);
        close_behind_the_hooks(w);
    });
}

#[test]
fn a_socket_s_number_reused_for_a_fifo_behind_the_hooks_still_parks() {
    // One worker: a read that blocked the worker would also stop the green thread that is to
    // write the byte it waits for.
    let _serial = serial();
    let rt = Builder::new().worker_threads(1).build().unwrap();
    rt.block_on(|| {
        // A socket the hooks remember as one (a green thread waited on it).
        let (mut s, peer) = tcp_pair();
        let _peer = wait_once_as_blocking(&mut s, peer);
        let number = std::os::fd::IntoRawFd::into_raw_fd(s);
        // A FIFO put on that number with the raw dup3 (the hooks do not see it).
        let path = std::env::temp_dir().join(format!("zsync-hook-fifo-{}", std::process::id()));
        let c_path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        let _ = std::fs::remove_file(&path);
        // SAFETY: a NUL-terminated path; plain calls on fds of our own.
        let fifo = unsafe {
            assert_eq!(libc::mkfifo(c_path.as_ptr(), 0o600), 0);
            let fifo = libc::open(c_path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC);
            assert!(fifo >= 0);
            let r = libc::syscall(libc::SYS_dup3, fifo, number, libc::O_CLOEXEC);
            assert_eq!(r, number as libc::c_long);
            libc::close(fifo);
            number
        };
        std::fs::remove_file(&path).unwrap();
        // A broken implementation blocks the worker in the real read: a byte from an OS thread
        // after 2 s ends that, and the elapsed time tells.
        let watchdog = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(2));
            // SAFETY: a valid byte.
            unsafe { libc::write(fifo, b"w".as_ptr().cast(), 1) };
        });
        let writer = zsync::spawn(move || {
            zsync::thread::sleep(Duration::from_millis(50));
            // SAFETY: a valid byte.
            assert_eq!(unsafe { libc::write(fifo, b"g".as_ptr().cast(), 1) }, 1);
        });
        let (n, start) = read_byte(fifo);
        let waited = start.elapsed();
        assert_eq!(n, 1, "{:?}", std::io::Error::last_os_error());
        assert!(
            waited < Duration::from_secs(1),
            "the read blocked the worker ({waited:?}): its green writer could not run"
        );
        writer.join().unwrap();
        watchdog.join().unwrap();
        // SAFETY: our fd.
        unsafe { libc::close(fifo) };
    });
}

#[test]
fn a_tty_s_mode_is_asked_every_time() {
    // A pseudo-terminal, whose description other processes of a session share and change
    // behind this process's libc: a change made with the raw system call is seen at once.
    let _serial = serial();
    runtime().block_on(|| {
        let (master, slave) = common::open_pty();
        let write_later = |delay: u64| {
            zsync::spawn(move || {
                zsync::thread::sleep(Duration::from_millis(delay));
                // SAFETY: a valid buffer.
                assert_eq!(unsafe { libc::write(slave, b"z\n".as_ptr().cast(), 2) }, 2);
            })
        };
        let drain = || {
            let mut buf = [0u8; 16];
            // SAFETY: a writable buffer.
            let n = unsafe { libc::read(master, buf.as_mut_ptr().cast(), buf.len()) };
            assert!(n >= 1);
        };
        let writer = write_later(50);
        let (n, start) = read_byte(master); // waits as blocking
        assert_eq!(n, 1);
        assert!(start.elapsed() >= Duration::from_millis(40));
        writer.join().unwrap();
        drain();
        let flags = getfl(master);
        // SAFETY: F_SETFL with an int flag word, behind the hooks' back.
        let set_raw = |flags: libc::c_int| unsafe {
            assert_eq!(
                libc::syscall(libc::SYS_fcntl, master, libc::F_SETFL, flags),
                0
            );
        };
        set_raw(flags | libc::O_NONBLOCK);
        let writer = write_later(300);
        let (n, start) = read_byte(master);
        assert_eq!(n, -1, "a read on a non-blocking tty waited for data");
        assert!(start.elapsed() < Duration::from_millis(200));
        set_raw(flags);
        writer.join().unwrap();
        drain();
        // SAFETY: our fds.
        unsafe {
            libc::close(slave);
            libc::close(master);
        }
    });
}

/// What `fcntl` and `ioctl` do besides `O_NONBLOCK`, as libc does it.
fn pass_through() {
    let (s, mut peer) = tcp_pair();
    let fd = s.as_raw_fd();
    // SAFETY (every call below): fcntl/ioctl on our own fds, with the argument each command
    // takes.
    unsafe {
        // F_GETFD / F_SETFD.
        assert_eq!(libc::fcntl(fd, libc::F_GETFD), libc::FD_CLOEXEC); // std's sockets
        assert_eq!(libc::fcntl(fd, libc::F_SETFD, 0), 0);
        assert_eq!(libc::fcntl(fd, libc::F_GETFD), 0);
        assert_eq!(fcntl64(fd, libc::F_SETFD, libc::FD_CLOEXEC), 0);
        assert_eq!(fcntl64(fd, libc::F_GETFD), libc::FD_CLOEXEC);
        // F_GETFL: the access mode.
        assert_eq!(getfl(fd) & libc::O_ACCMODE, libc::O_RDWR);
        // F_DUPFD_CLOEXEC: the lowest free number from 100 on.
        let dup = libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 100);
        assert!(dup >= 100, "{dup}");
        assert_eq!(libc::fcntl(dup, libc::F_GETFD), libc::FD_CLOEXEC);
        assert_eq!(libc::close(dup), 0);
        // F_SETOWN / F_GETOWN, a process and a process group (negative).
        let pid = libc::getpid();
        assert_eq!(libc::fcntl(fd, libc::F_SETOWN, pid), 0);
        assert_eq!(libc::fcntl(fd, libc::F_GETOWN), pid);
        let group = libc::getpgrp();
        assert_eq!(libc::fcntl(fd, libc::F_SETOWN, -group), 0);
        assert_eq!(libc::fcntl(fd, libc::F_GETOWN), -group);
        // FIONREAD: what is waiting.
        peer.write_all(b"12345").unwrap();
        let mut waiting: libc::c_int = 0;
        let start = Instant::now();
        while waiting < 5 && start.elapsed() < Duration::from_secs(5) {
            assert_eq!(libc::ioctl(fd, libc::FIONREAD, &mut waiting), 0);
        }
        assert_eq!(waiting, 5);
        // Errors, with errno.
        assert_eq!(libc::fcntl(-1, libc::F_GETFD), -1);
        assert_eq!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::EBADF)
        );
        let mut size: libc::winsize = std::mem::zeroed();
        assert_eq!(libc::ioctl(fd, libc::TIOCGWINSZ, &mut size), -1);
        assert_eq!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::ENOTTY)
        );
        assert_eq!(libc::ioctl(-1, libc::FIONBIO, &mut waiting), -1);
        assert_eq!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::EBADF)
        );
    }
}

#[test]
fn fcntl_and_ioctl_pass_other_commands_through() {
    let _serial = serial();
    pass_through(); // an OS thread
    runtime().block_on(pass_through); // a green thread
}

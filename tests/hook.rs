//! The `hook` feature: libc's blocking calls made by code zsync does not own (std's own types,
//! C code) park the calling green thread. Run with `cargo test --release --features hook --test
//! hook`.
#![cfg(all(feature = "hook", target_os = "linux"))]

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zsync::runtime::Builder;

fn two_workers() -> zsync::Runtime {
    Builder::new().worker_threads(2).build().unwrap()
}

/// A green thread that counts 1 ms ticks until stopped.
struct Ticker {
    ticks: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    handle: zsync::thread::JoinHandle<()>,
}

impl Ticker {
    fn start() -> Ticker {
        let ticks = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (t, s) = (ticks.clone(), stop.clone());
        let handle = zsync::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                t.fetch_add(1, Ordering::Relaxed);
                zsync::thread::sleep(Duration::from_millis(1));
            }
        });
        Ticker {
            ticks,
            stop,
            handle,
        }
    }

    fn ticks(&self) -> usize {
        self.ticks.load(Ordering::Relaxed)
    }

    fn stop(self) -> usize {
        self.stop.store(true, Ordering::Relaxed);
        let ticks = self.ticks();
        self.handle.join().unwrap();
        ticks
    }
}

#[test]
fn std_sleep_parks_green_threads() {
    let elapsed = two_workers().block_on(|| {
        let start = Instant::now();
        let handles: Vec<_> = (0..1000)
            .map(|_| zsync::spawn(|| std::thread::sleep(Duration::from_millis(100))))
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        start.elapsed()
    });
    // Blocking the workers, 1000 sleeps of 100 ms on 2 workers take about 50 s.
    assert!(elapsed >= Duration::from_millis(100), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[test]
fn libc_sleeps_park_and_keep_their_semantics() {
    two_workers().block_on(|| {
        let ticker = Ticker::start();
        let start = Instant::now();
        let handles: Vec<_> = (0..4)
            .map(|i| {
                zsync::spawn(move || {
                    let ts = libc::timespec {
                        tv_sec: 0,
                        tv_nsec: 200_000_000,
                    };
                    let mut rem = libc::timespec {
                        tv_sec: 9,
                        tv_nsec: 9,
                    };
                    // SAFETY: valid timespecs.
                    match i {
                        0 => assert_eq!(unsafe { libc::nanosleep(&ts, &mut rem) }, 0),
                        1 => assert_eq!(unsafe { libc::usleep(200_000) }, 0),
                        2 => {
                            let mut now = libc::timespec {
                                tv_sec: 0,
                                tv_nsec: 0,
                            };
                            // SAFETY: valid clock, writable timespec.
                            unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
                            now.tv_nsec += 200_000_000;
                            if now.tv_nsec >= 1_000_000_000 {
                                now.tv_nsec -= 1_000_000_000;
                                now.tv_sec += 1;
                            }
                            let r = unsafe {
                                libc::clock_nanosleep(
                                    libc::CLOCK_MONOTONIC,
                                    libc::TIMER_ABSTIME,
                                    &now,
                                    std::ptr::null_mut(),
                                )
                            };
                            assert_eq!(r, 0);
                        }
                        _ => {
                            // An invalid request goes to the kernel: EINVAL, as libc's.
                            let bad = libc::timespec {
                                tv_sec: 0,
                                tv_nsec: 2_000_000_000,
                            };
                            assert_eq!(unsafe { libc::nanosleep(&bad, &mut rem) }, -1);
                            assert_eq!(
                                std::io::Error::last_os_error().raw_os_error(),
                                Some(libc::EINVAL)
                            );
                            assert_eq!(unsafe { libc::sleep(0) }, 0);
                            std::thread::sleep(Duration::from_millis(200));
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let elapsed = start.elapsed();
        assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
        // The ticker kept ticking meanwhile (it would stall behind blocked workers).
        let ticks = ticker.stop();
        // Generous (a loaded machine delays ticks): with the workers blocked it would be 0-2.
        assert!(ticks >= 8, "only {ticks} ticks in {elapsed:?}");
    });
}

#[test]
fn cancelled_sleep_returns_early_and_the_request_is_raised_at_the_next_park_point() {
    two_workers().block_on(|| {
        let returned = Arc::new(AtomicBool::new(false));
        let r = returned.clone();
        let handle = zsync::spawn(move || {
            std::thread::sleep(Duration::from_secs(30));
            r.store(true, Ordering::Relaxed);
            zsync::thread::yield_now(); // raises
            unreachable!();
        });
        zsync::thread::sleep(Duration::from_millis(50));
        let start = Instant::now();
        let payload = handle.cancel().unwrap_err();
        assert!(payload.is::<zsync::Cancelled>());
        assert!(returned.load(Ordering::Relaxed));
        assert!(start.elapsed() < Duration::from_secs(5));

        // An expired timeout() ends a libc sleep too, and raises at the next park point.
        let start = Instant::now();
        let r = zsync::time::timeout(Duration::from_millis(50), || {
            // SAFETY: valid timespec.
            let ts = libc::timespec {
                tv_sec: 30,
                tv_nsec: 0,
            };
            let mut rem = libc::timespec {
                tv_sec: 9,
                tv_nsec: 9,
            };
            let r = unsafe { libc::nanosleep(&ts, &mut rem) };
            assert_eq!(r, -1);
            assert_eq!(
                std::io::Error::last_os_error().raw_os_error(),
                Some(libc::EINTR)
            );
            assert_eq!((rem.tv_sec, rem.tv_nsec), (0, 0));
            zsync::thread::yield_now();
        });
        assert!(r.is_err());
        assert!(start.elapsed() < Duration::from_secs(5));
    });
}

#[test]
fn os_threads_sleep_for_real() {
    let start = Instant::now();
    std::thread::sleep(Duration::from_millis(50));
    // SAFETY: plain call.
    assert_eq!(unsafe { libc::usleep(20_000) }, 0);
    assert!(start.elapsed() >= Duration::from_millis(70));
    // A worker thread (outside any green thread) is an OS thread too: the runtime's own
    // timers keep working, which they would not if a worker parked itself.
    two_workers().block_on(|| zsync::thread::sleep(Duration::from_millis(10)));
}

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};

/// A std echo server on green threads: one green thread per connection.
fn echo_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
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
    addr
}

#[test]
fn std_net_echo_on_green_threads_while_a_ticker_ticks() {
    two_workers().block_on(|| {
        let addr = echo_server();
        let ticker = Ticker::start();
        let start = Instant::now();
        let clients: Vec<_> = (0..200)
            .map(|i| {
                zsync::spawn(move || {
                    let mut s = TcpStream::connect(addr).unwrap();
                    let mut buf = [0u8; 64];
                    for round in 0..20 {
                        let msg = format!("client {i} round {round}");
                        s.write_all(msg.as_bytes()).unwrap();
                        s.read_exact(&mut buf[..msg.len()]).unwrap();
                        assert_eq!(&buf[..msg.len()], msg.as_bytes());
                    }
                })
            })
            .collect();
        // A client that waits on a read with nothing coming while the others run: it parks.
        let idle = {
            let mut s = TcpStream::connect(addr).unwrap();
            zsync::spawn(move || {
                s.set_read_timeout(Some(Duration::from_millis(300)))
                    .unwrap();
                let mut buf = [0u8; 1];
                let e = s.read(&mut buf).unwrap_err();
                assert_eq!(e.kind(), ErrorKind::WouldBlock);
            })
        };
        for c in clients {
            c.join().unwrap();
        }
        idle.join().unwrap();
        let elapsed = start.elapsed();
        let ticks = ticker.stop();
        // At least a tick per 40 ms on average (generous for a loaded machine): a blocked worker
        // would stall it completely.
        assert!(
            ticks as u128 >= elapsed.as_millis() / 40,
            "{ticks} ticks in {elapsed:?}"
        );
    });
}

#[test]
fn std_net_semantics_are_kept() {
    two_workers().block_on(|| {
        let addr = echo_server();
        let mut s = TcpStream::connect(addr).unwrap();
        let mut buf = [0u8; 8];
        // A read that waits on a socket without a timeout (the hooks remember it has none)...
        s.write_all(b"a").unwrap();
        s.read_exact(&mut buf[..1]).unwrap();
        // ...then a timeout set through another fd of the same socket: WouldBlock after it,
        // not before.
        s.try_clone()
            .unwrap()
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let start = Instant::now();
        let e = s.read(&mut buf).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WouldBlock);
        assert!(
            start.elapsed() >= Duration::from_millis(95),
            "{:?}",
            start.elapsed()
        );
        // Non-blocking: WouldBlock at once.
        s.set_nonblocking(true).unwrap();
        let start = Instant::now();
        assert_eq!(s.read(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
        assert!(start.elapsed() < Duration::from_millis(50));
        s.set_nonblocking(false).unwrap();
        s.write_all(b"ping").unwrap();
        s.read_exact(&mut buf[..4]).unwrap();
        assert_eq!(&buf[..4], b"ping");
        // A refused connection.
        let closed = TcpListener::bind("127.0.0.1:0").unwrap();
        let closed_addr = closed.local_addr().unwrap();
        drop(closed);
        let e = TcpStream::connect(closed_addr).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused);
        // A connect timeout to an address that does not answer is not tested (needs a
        // black-hole route); a connect that succeeds goes through the EINPROGRESS path.
        let peer = TcpStream::connect(addr).unwrap();
        assert_eq!(peer.peer_addr().unwrap(), addr);
    });
}

#[test]
fn a_std_read_that_drained_the_socket_still_sees_later_data_and_the_peer_s_close() {
    // std's own stream sockets through the hooks, which keep zsync::net's drained-read rule.
    one_worker().block_on(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        common::check_drained_reads(
            server,
            client,
            |s| s.try_clone().unwrap(),
            |s| s.shutdown(std::net::Shutdown::Write).unwrap(),
        );
    });
}

#[test]
fn cancel_of_a_green_thread_blocked_in_a_std_read_is_prompt() {
    two_workers().block_on(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let error = Arc::new(std::sync::Mutex::new(None));
        let e2 = error.clone();
        let reader = zsync::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            let mut buf = [0u8; 8];
            let r = s.read(&mut buf);
            *e2.lock().unwrap() = Some(r.map_err(|e| e.raw_os_error()));
            zsync::thread::yield_now(); // the request is raised here
        });
        let (_peer, _) = listener.accept().unwrap(); // parks too: std's accept
        zsync::thread::sleep(Duration::from_millis(50));
        let start = Instant::now();
        let payload = reader.cancel().unwrap_err();
        assert!(payload.is::<zsync::Cancelled>());
        assert!(start.elapsed() < Duration::from_secs(2));
        assert_eq!(
            *error.lock().unwrap(),
            Some(Err(Some(libc::ECANCELED))),
            "the read failed with ECANCELED"
        );
    });
}

#[test]
fn os_threads_keep_blocking_semantics() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        s.write_all(b"late").unwrap();
        std::thread::sleep(Duration::from_millis(300)); // open while the client times out
    });
    let mut s = TcpStream::connect(addr).unwrap();
    let start = Instant::now();
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).unwrap(); // blocks the OS thread, as std does
    assert_eq!(&buf, b"late");
    assert!(start.elapsed() >= Duration::from_millis(90));
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    assert_eq!(s.read(&mut buf).unwrap_err().kind(), ErrorKind::WouldBlock);
    server.join().unwrap();
}

#[test]
fn poll_parks_on_a_pipe() {
    two_workers().block_on(|| {
        let mut fds = [0; 2];
        // SAFETY: a writable array of two fds.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        let (r, w) = (fds[0], fds[1]);
        let ticker = Ticker::start();
        let waiter = zsync::spawn(move || {
            let mut p = libc::pollfd {
                fd: r,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            let n = unsafe { libc::poll(&mut p, 1, 5000) };
            (n, p.revents)
        });
        zsync::thread::sleep(Duration::from_millis(100));
        // SAFETY: a valid buffer.
        assert_eq!(unsafe { libc::write(w, b"x".as_ptr().cast(), 1) }, 1);
        let (n, revents) = waiter.join().unwrap();
        assert_eq!(n, 1);
        assert!(revents & libc::POLLIN != 0);
        assert!(ticker.stop() >= 10);
        // A poll timeout is kept.
        let start = Instant::now();
        let mut p = libc::pollfd {
            fd: w,
            events: 0,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        assert_eq!(unsafe { libc::poll(&mut p, 1, 100) }, 0);
        assert!(start.elapsed() >= Duration::from_millis(95));
        // SAFETY: our fds.
        unsafe {
            libc::close(r);
            libc::close(w);
        }
    });
}

/// Compiles tests/hook/client.c into a shared object and loads it: its plain libc calls bind
/// to the hooks (the test binary exports them, see build.rs).
fn c_library() -> unsafe extern "C" fn(i32, *const libc::c_char, *mut libc::c_char, i32) -> i32 {
    let dir = std::env::temp_dir().join(format!("zsync-hook-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let so = dir.join("libclient.so");
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/hook/client.c");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = std::process::Command::new(cc)
        .args(["-shared", "-fPIC", "-O2", "-D_FORTIFY_SOURCE=2", "-o"])
        .arg(&so)
        .arg(src)
        .status()
        .expect("a C compiler (cc)");
    assert!(status.success());
    let path = std::ffi::CString::new(so.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string; the library has no constructors.
    let handle = unsafe { libc::dlopen(path.as_ptr(), libc::RTLD_NOW) };
    assert!(!handle.is_null());
    // SAFETY: a valid handle and C string.
    let f = unsafe { libc::dlsym(handle, c"zsync_c_echo".as_ptr()) };
    assert!(!f.is_null());
    // SAFETY: the symbol is the function defined in client.c, with this signature.
    unsafe { std::mem::transmute(f) }
}

#[test]
fn a_c_library_s_own_calls_park() {
    let echo = c_library();
    two_workers().block_on(move || {
        let addr = echo_server();
        let ticker = Ticker::start();
        let start = Instant::now();
        // Were the C calls not hooked, the first two clients would block both workers in
        // read() while the echo server's green threads wait behind them: a deadlock.
        let clients: Vec<_> = (0..100)
            .map(|i| {
                zsync::spawn(move || {
                    let msg = std::ffi::CString::new(format!("hello from C {i}")).unwrap();
                    let mut out = vec![0 as libc::c_char; 64];
                    // SAFETY: a C string and a buffer of the size given.
                    let n = unsafe {
                        echo(
                            i32::from(addr.port()),
                            msg.as_ptr(),
                            out.as_mut_ptr(),
                            out.len() as i32,
                        )
                    };
                    assert_eq!(n as usize, msg.as_bytes().len());
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
        let elapsed = start.elapsed();
        let ticks = ticker.stop();
        assert!(ticks >= 1, "{ticks} ticks in {elapsed:?}");
    });
}

fn one_worker() -> zsync::Runtime {
    Builder::new().worker_threads(1).build().unwrap()
}

/// A pipe as two std files (std's read and write call libc's).
fn pipe() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: a writable array of two fds.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: two fresh fds, owned from here on.
    unsafe {
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(fds[1]),
        )
    }
}

#[test]
fn pipe_read_and_write_park_on_one_worker() {
    one_worker().block_on(|| {
        let (mut r, mut w) = pipe();
        let ticker = Ticker::start();
        let reader = zsync::spawn(move || {
            let start = Instant::now();
            let mut buf = [0u8; 5];
            r.read_exact(&mut buf).unwrap();
            let mut a = [0u8; 2];
            let mut b = [0u8; 3];
            let n = r
                .read_vectored(&mut [
                    std::io::IoSliceMut::new(&mut a),
                    std::io::IoSliceMut::new(&mut b),
                ])
                .unwrap();
            (buf, n, a, b, start.elapsed())
        });
        let writer = zsync::spawn(move || {
            std::thread::sleep(Duration::from_millis(100)); // parks too
            w.write_all(b"hello").unwrap();
            std::thread::sleep(Duration::from_millis(50));
            let n = w
                .write_vectored(&[std::io::IoSlice::new(b"ab"), std::io::IoSlice::new(b"cde")])
                .unwrap();
            assert_eq!(n, 5);
            w
        });
        let (buf, n, a, b, waited) = reader.join().unwrap();
        assert_eq!(&buf, b"hello");
        assert_eq!((n, &a, &b), (5, b"ab", b"cde"));
        assert!(waited >= Duration::from_millis(140), "{waited:?}");
        let ticks = ticker.stop();
        assert!(ticks >= 10, "the ticker ticked {ticks} times in {waited:?}");
        drop(writer.join().unwrap());
        // More than a pipe holds (64 KiB): the writer parks until the reader drains it, and
        // the reader sees EOF once the write end is closed.
        let (mut r, mut w) = pipe();
        let data: Vec<u8> = (0..1_000_000u32).map(|i| i as u8).collect();
        let expect = data.clone();
        let ticker = Ticker::start();
        let writer = zsync::spawn(move || w.write_all(&data).unwrap());
        let mut got = Vec::new();
        r.read_to_end(&mut got).unwrap();
        writer.join().unwrap();
        assert!(got == expect, "{} bytes read", got.len());
        ticker.stop();
    });
}

#[test]
fn cancel_of_a_green_thread_blocked_in_a_pipe_read_is_prompt() {
    one_worker().block_on(|| {
        let (mut r, w) = pipe();
        let error = Arc::new(std::sync::Mutex::new(None));
        let e2 = error.clone();
        let reader = zsync::spawn(move || {
            let mut buf = [0u8; 8];
            let res = r.read(&mut buf);
            *e2.lock().unwrap() = Some(res.map_err(|e| e.raw_os_error()));
            zsync::thread::yield_now(); // the request is raised here
        });
        zsync::thread::sleep(Duration::from_millis(50));
        let start = Instant::now();
        let payload = reader.cancel().unwrap_err();
        assert!(payload.is::<zsync::Cancelled>());
        assert!(start.elapsed() < Duration::from_secs(1));
        assert_eq!(*error.lock().unwrap(), Some(Err(Some(libc::ECANCELED))));
        drop(w);
    });
}

#[test]
fn a_non_blocking_pipe_gives_eagain_at_once() {
    one_worker().block_on(|| {
        let (mut r, _w) = pipe();
        use std::os::fd::AsRawFd;
        // SAFETY: our fd; F_SETFL with an int flag word.
        unsafe { libc::fcntl(r.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
        let start = Instant::now();
        let e = r.read(&mut [0u8; 4]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::WouldBlock);
        assert!(start.elapsed() < Duration::from_millis(50));
    });
}

#[test]
fn epoll_wait_on_a_foreign_epoll_parks() {
    one_worker().block_on(|| {
        use std::os::fd::AsRawFd;
        let (r, mut w) = pipe();
        let ticker = Ticker::start();
        let rfd = r.as_raw_fd();
        let waiter = zsync::spawn(move || {
            // SAFETY: plain calls on our own fds; one writable event.
            unsafe {
                let ep = libc::epoll_create1(libc::EPOLL_CLOEXEC);
                assert!(ep >= 0);
                let mut ev = libc::epoll_event {
                    events: libc::EPOLLIN as u32,
                    u64: 7,
                };
                assert_eq!(libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, rfd, &mut ev), 0);
                let start = Instant::now();
                let mut out = [libc::epoll_event { events: 0, u64: 0 }; 4];
                let n = libc::epoll_wait(ep, out.as_mut_ptr(), 4, 5000);
                let waited = start.elapsed();
                let got = (out[0].u64, out[0].events);
                // The timeout is kept (nothing more comes: the byte is still unread, so
                // level-triggered it is ready; read it first).
                let mut b = [0u8; 1];
                assert_eq!(libc::read(rfd, b.as_mut_ptr().cast(), 1), 1);
                let t = Instant::now();
                let none = libc::epoll_pwait(ep, out.as_mut_ptr(), 4, 100, std::ptr::null());
                let timed = t.elapsed();
                libc::close(ep);
                (n, got, waited, none, timed)
            }
        });
        zsync::thread::sleep(Duration::from_millis(100));
        w.write_all(b"x").unwrap();
        let (n, (data, events), waited, none, timed) = waiter.join().unwrap();
        assert_eq!(n, 1);
        assert_eq!(data, 7);
        assert!(events & libc::EPOLLIN as u32 != 0);
        assert!(waited >= Duration::from_millis(90), "{waited:?}");
        assert_eq!(none, 0);
        assert!(timed >= Duration::from_millis(95), "{timed:?}");
        let ticks = ticker.stop();
        assert!(ticks >= 10, "the ticker ticked {ticks} times");
        drop(r);
    });
}

#[test]
fn name_resolution_runs_on_the_blocking_pool() {
    use std::net::ToSocketAddrs;
    one_worker().block_on(|| {
        let ticker = Ticker::start();
        let handles: Vec<_> = (0..20)
            .map(|_| {
                zsync::spawn(|| {
                    let addrs: Vec<_> = ("localhost", 80).to_socket_addrs().unwrap().collect();
                    assert!(!addrs.is_empty());
                    assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 80));
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert!(("no-such-host.invalid", 80).to_socket_addrs().is_err());
        // getnameinfo: 127.0.0.1 back to a name.
        let sin = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 80u16.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from_ne_bytes([127, 0, 0, 1]),
            },
            sin_zero: [0; 8],
        };
        let mut host = [0 as libc::c_char; 256];
        // SAFETY: a valid sockaddr_in and a writable host buffer.
        let r = unsafe {
            libc::getnameinfo(
                (&sin as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                host.as_mut_ptr(),
                host.len() as libc::socklen_t,
                std::ptr::null_mut(),
                0,
                libc::NI_NUMERICHOST,
            )
        };
        assert_eq!(r, 0);
        // SAFETY: NUL-terminated by getnameinfo.
        let name = unsafe { std::ffi::CStr::from_ptr(host.as_ptr()) };
        assert_eq!(name.to_str().unwrap(), "127.0.0.1");
        zsync::thread::sleep(Duration::from_millis(20));
        assert!(ticker.stop() >= 1);
    });
}

#[test]
fn ppoll_and_select_park() {
    one_worker().block_on(|| {
        use std::os::fd::AsRawFd;
        let (r, mut w) = pipe();
        let rfd = r.as_raw_fd();
        let ticker = Ticker::start();
        let waiter = zsync::spawn(move || {
            let mut p = libc::pollfd {
                fd: rfd,
                events: libc::POLLIN,
                revents: 0,
            };
            let ts = libc::timespec {
                tv_sec: 5,
                tv_nsec: 0,
            };
            // SAFETY: one valid pollfd and timespec.
            let n = unsafe { libc::ppoll(&mut p, 1, &ts, std::ptr::null()) };
            assert_eq!((n, p.revents & libc::POLLIN), (1, libc::POLLIN));
            // select on the same fd (still readable) and a sleep through select.
            // SAFETY: fd_sets of our own, our fd below FD_SETSIZE.
            unsafe {
                let mut set: libc::fd_set = std::mem::zeroed();
                libc::FD_SET(rfd, &mut set);
                let mut tv = libc::timeval {
                    tv_sec: 5,
                    tv_usec: 0,
                };
                let n = libc::select(
                    rfd + 1,
                    &mut set,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    &mut tv,
                );
                assert_eq!(n, 1);
                assert!(libc::FD_ISSET(rfd, &set));
                assert!(tv.tv_sec <= 5);
                let start = Instant::now();
                let mut tv = libc::timeval {
                    tv_sec: 0,
                    tv_usec: 100_000,
                };
                let n = libc::select(
                    0,
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    &mut tv,
                );
                assert_eq!(n, 0);
                assert!(start.elapsed() >= Duration::from_millis(95));
                assert_eq!((tv.tv_sec, tv.tv_usec), (0, 0));
                // poll(NULL, 0, ms) sleeps too.
                let start = Instant::now();
                assert_eq!(libc::poll(std::ptr::null_mut(), 0, 50), 0);
                assert!(start.elapsed() >= Duration::from_millis(45));
            }
            // Sub-millisecond timeouts on an fd that stays quiet: kept as they are (not rounded
            // to poll's milliseconds, nor down to nothing), so never over early.
            let (quiet, _quiet_writer) = pipe();
            let mut p = libc::pollfd {
                fd: quiet.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            for us in [300, 1_700] {
                let ts = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: us * 1_000,
                };
                let start = Instant::now();
                // SAFETY: one valid pollfd and timespec.
                let n = unsafe { libc::ppoll(&mut p, 1, &ts, std::ptr::null()) };
                let waited = start.elapsed();
                assert_eq!(n, 0);
                assert!(
                    waited >= Duration::from_micros(us as u64),
                    "{us} us: {waited:?}"
                );
                // SAFETY: an fd_set of our own, the fd below FD_SETSIZE.
                let (n, waited) = unsafe {
                    let mut set: libc::fd_set = std::mem::zeroed();
                    libc::FD_SET(quiet.as_raw_fd(), &mut set);
                    let mut tv = libc::timeval {
                        tv_sec: 0,
                        tv_usec: us,
                    };
                    let start = Instant::now();
                    let n = libc::select(
                        quiet.as_raw_fd() + 1,
                        &mut set,
                        std::ptr::null_mut(),
                        std::ptr::null_mut(),
                        &mut tv,
                    );
                    (n, start.elapsed())
                };
                assert_eq!(n, 0);
                assert!(
                    waited >= Duration::from_micros(us as u64),
                    "{us} us: {waited:?}"
                );
            }
        });
        zsync::thread::sleep(Duration::from_millis(100));
        w.write_all(b"x").unwrap();
        waiter.join().unwrap();
        let ticks = ticker.stop();
        assert!(ticks >= 10, "the ticker ticked {ticks} times");
        drop(r);
    });
}

#[test]
fn a_tty_read_parks_where_rwf_nowait_is_refused() {
    // A pseudo-terminal: the kernel refuses RWF_NOWAIT on ttys, so the hook polls first.
    one_worker().block_on(|| {
        let (master, slave) = common::open_pty();
        let ticker = Ticker::start();
        let reader = zsync::spawn(move || {
            let mut buf = [0u8; 16];
            let start = Instant::now();
            // SAFETY: a writable buffer.
            let n = unsafe { libc::read(master, buf.as_mut_ptr().cast(), buf.len()) };
            (n, buf[0], start.elapsed())
        });
        zsync::thread::sleep(Duration::from_millis(100));
        // SAFETY: a valid buffer.
        assert_eq!(unsafe { libc::write(slave, b"z\n".as_ptr().cast(), 2) }, 2);
        let (n, first, waited) = reader.join().unwrap();
        assert!(n >= 1, "read gave {n}");
        assert_eq!(first, b'z');
        assert!(waited >= Duration::from_millis(90), "{waited:?}");
        let ticks = ticker.stop();
        assert!(ticks >= 10, "the ticker ticked {ticks} times");
        // SAFETY: our fds.
        unsafe {
            libc::close(slave);
            libc::close(master);
        }
    });
}

/// A foreign epoll instance watching `fd` for input (data 7).
fn epoll_on(fd: i32) -> i32 {
    // SAFETY: plain calls on our own fds.
    unsafe {
        let ep = libc::epoll_create1(libc::EPOLL_CLOEXEC);
        assert!(ep >= 0);
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: 7,
        };
        assert_eq!(libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev), 0);
        ep
    }
}

#[test]
fn epoll_pwait2_on_a_foreign_epoll_parks_and_keeps_its_timespec_timeout() {
    one_worker().block_on(|| {
        use std::os::fd::AsRawFd;
        let (r, mut w) = pipe();
        let ep = epoll_on(r.as_raw_fd());
        let ticker = Ticker::start();
        let waiter = zsync::spawn(move || {
            let mut out = [libc::epoll_event { events: 0, u64: 0 }; 4];
            let forever = std::ptr::null();
            let start = Instant::now();
            // SAFETY: four writable events; no timeout, no mask.
            let n = unsafe { libc::epoll_pwait2(ep, out.as_mut_ptr(), 4, forever, forever.cast()) };
            (n, out[0].u64, start.elapsed())
        });
        zsync::thread::sleep(Duration::from_millis(100));
        w.write_all(b"x").unwrap();
        let (n, data, waited) = waiter.join().unwrap();
        assert_eq!((n, data), (1, 7));
        assert!(waited >= Duration::from_millis(90), "{waited:?}");
        let mut b = [0u8; 1];
        (&r).read_exact(&mut b).unwrap();
        // Nothing ready: the timespec timeout passes (parked), and a zero one returns at once.
        let mut out = [libc::epoll_event { events: 0, u64: 0 }; 4];
        let ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 150_000_000,
        };
        let start = Instant::now();
        // SAFETY: four writable events, a valid timespec, no mask.
        let n = unsafe { libc::epoll_pwait2(ep, out.as_mut_ptr(), 4, &ts, std::ptr::null()) };
        assert_eq!(n, 0);
        assert!(
            start.elapsed() >= Duration::from_millis(145),
            "{:?}",
            start.elapsed()
        );
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: as above.
        let n = unsafe { libc::epoll_pwait2(ep, out.as_mut_ptr(), 4, &zero, std::ptr::null()) };
        assert_eq!(n, 0);
        // An invalid timeout is the kernel's EINVAL.
        let bad = libc::timespec {
            tv_sec: 0,
            tv_nsec: 2_000_000_000,
        };
        // SAFETY: as above.
        let n = unsafe { libc::epoll_pwait2(ep, out.as_mut_ptr(), 4, &bad, std::ptr::null()) };
        assert_eq!(n, -1);
        assert_eq!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::EINVAL)
        );
        let ticks = ticker.stop();
        assert!(ticks >= 10, "the ticker ticked {ticks} times");
        // SAFETY: our fd.
        unsafe { libc::close(ep) };
    });
}

static USR1_TAKEN: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_usr1(_: libc::c_int) {
    USR1_TAKEN.fetch_add(1, Ordering::Relaxed);
}

/// The calling OS thread's signal mask.
fn thread_mask() -> libc::sigset_t {
    // SAFETY: an all-zero sigset_t is valid; pthread_sigmask fills it.
    unsafe {
        let mut mask: libc::sigset_t = std::mem::zeroed();
        assert_eq!(
            libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut mask),
            0
        );
        mask
    }
}

#[test]
fn a_signal_mask_is_applied_by_ppoll_and_epoll_pwait() {
    // SAFETY: a handler that only counts (async-signal-safe), without SA_RESTART.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_usr1 as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::sigemptyset(&mut sa.sa_mask);
        assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
    }
    one_worker().block_on(|| {
        use std::os::fd::AsRawFd;
        let (r, _w) = pipe();
        let rfd = r.as_raw_fd();
        let ep = epoll_on(rfd);
        // SIGUSR1 blocked on this worker, and unblocked only during the waits: the pselect
        // idiom. The waits go to the kernel, which takes the signal and ends them with EINTR.
        let before = thread_mask();
        let mut wait_mask = before;
        // SAFETY: valid sets.
        unsafe {
            libc::sigdelset(&mut wait_mask, libc::SIGUSR1);
            let mut usr1: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut usr1);
            libc::sigaddset(&mut usr1, libc::SIGUSR1);
            libc::pthread_sigmask(libc::SIG_BLOCK, &usr1, std::ptr::null_mut());
        }
        // SAFETY: plain call.
        let worker = unsafe { libc::pthread_self() } as u64;
        let kick = move || {
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(100));
                // SAFETY: the worker lives until the runtime is dropped, after the join below.
                unsafe { libc::pthread_kill(worker as libc::pthread_t, libc::SIGUSR1) };
            })
        };
        let taken = USR1_TAKEN.load(Ordering::Relaxed);
        let kicker = kick();
        let mut p = libc::pollfd {
            fd: rfd,
            events: libc::POLLIN,
            revents: 0,
        };
        let ts = libc::timespec {
            tv_sec: 5,
            tv_nsec: 0,
        };
        let start = Instant::now();
        // SAFETY: one valid pollfd, timespec and mask.
        let n = unsafe { libc::ppoll(&mut p, 1, &ts, &wait_mask) };
        let err = std::io::Error::last_os_error().raw_os_error();
        assert_eq!((n, err), (-1, Some(libc::EINTR)));
        assert!(
            start.elapsed() < Duration::from_secs(4),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(USR1_TAKEN.load(Ordering::Relaxed), taken + 1);
        kicker.join().unwrap();
        let kicker = kick();
        let mut out = [libc::epoll_event { events: 0, u64: 0 }; 4];
        let start = Instant::now();
        // SAFETY: four writable events, a valid mask.
        let n = unsafe { libc::epoll_pwait(ep, out.as_mut_ptr(), 4, 5000, &wait_mask) };
        let err = std::io::Error::last_os_error().raw_os_error();
        assert_eq!((n, err), (-1, Some(libc::EINTR)));
        assert!(
            start.elapsed() < Duration::from_secs(4),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(USR1_TAKEN.load(Ordering::Relaxed), taken + 2);
        kicker.join().unwrap();
        // SAFETY: restores the worker's mask.
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &before, std::ptr::null_mut()) };

        // A mask that unblocks nothing (here: every signal blocked) parks, as without one.
        let ticker = Ticker::start();
        let waiter = zsync::spawn(move || {
            // SAFETY: a valid set.
            let full = unsafe {
                let mut full: libc::sigset_t = std::mem::zeroed();
                libc::sigfillset(&mut full);
                full
            };
            let mut p = libc::pollfd {
                fd: rfd,
                events: libc::POLLIN,
                revents: 0,
            };
            let ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 150_000_000,
            };
            let start = Instant::now();
            // SAFETY: one valid pollfd, timespec and mask.
            let n = unsafe { libc::ppoll(&mut p, 1, &ts, &full) };
            let polled = start.elapsed();
            let mut out = [libc::epoll_event { events: 0, u64: 0 }; 4];
            let start = Instant::now();
            // SAFETY: four writable events, valid timespec and mask.
            let m = unsafe { libc::epoll_pwait2(ep, out.as_mut_ptr(), 4, &ts, &full) };
            (n, polled, m, start.elapsed())
        });
        let (n, polled, m, waited) = waiter.join().unwrap();
        assert_eq!((n, m), (0, 0));
        assert!(polled >= Duration::from_millis(145), "{polled:?}");
        assert!(waited >= Duration::from_millis(145), "{waited:?}");
        let ticks = ticker.stop();
        // Blocking the one worker for the 300 ms would leave 0-2 ticks.
        assert!(ticks >= 10, "the ticker ticked {ticks} times");
        // SAFETY: our fd.
        unsafe { libc::close(ep) };
        drop(r);
    });
}

#[test]
fn a_green_thread_parked_in_a_hooked_read_is_no_deadlock() {
    // Waiting on a socket is waiting on the world outside the runtime: the deadlock report
    // (here made to panic) must not fire while a hooked read waits longer than its grace.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        std::thread::sleep(Duration::from_millis(900));
        s.write_all(b"late").unwrap();
    });
    let rt = Builder::new()
        .worker_threads(1)
        .deadlock_panic(true)
        .build()
        .unwrap();
    rt.block_on(move || {
        let reader = zsync::spawn(move || {
            let mut s = TcpStream::connect(addr).unwrap();
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).unwrap();
            buf
        });
        assert_eq!(&reader.join().unwrap(), b"late");
    });
    peer.join().unwrap();
}

// What a hooked call answers, compared with libc's: the count, errno, and how long it takes.

/// An `AF_UNIX` socket pair of `ty` as raw fds (the tests close them with the process).
fn raw_pair(ty: libc::c_int) -> (libc::c_int, libc::c_int) {
    let mut fds = [0; 2];
    // SAFETY: a writable array of two fds.
    assert_eq!(
        unsafe { libc::socketpair(libc::AF_UNIX, ty, 0, fds.as_mut_ptr()) },
        0
    );
    (fds[0], fds[1])
}

fn errno() -> libc::c_int {
    std::io::Error::last_os_error().raw_os_error().unwrap()
}

fn set_errno(value: libc::c_int) {
    // SAFETY: this thread's errno.
    unsafe { *libc::__errno_location() = value };
}

/// `write(2)` of `data` on `fd`, from an OS thread after `ms` milliseconds.
fn write_later(fd: libc::c_int, ms: u64, data: &'static [u8]) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(ms));
        // SAFETY: a valid buffer.
        unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
    })
}

#[test]
fn a_read_of_nothing_returns_at_once_and_takes_no_datagram() {
    one_worker().block_on(|| {
        // SAFETY (the block): raw calls on our own fds and buffers.
        unsafe {
            // An empty stream socket: 0 at once (a recv of nothing would wait for data).
            let (a, b) = raw_pair(libc::SOCK_STREAM);
            let peer = write_later(b, 2000, b"x");
            let start = Instant::now();
            assert_eq!(libc::read(a, std::ptr::null_mut(), 0), 0);
            let iov = libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            };
            assert_eq!(libc::readv(a, &iov, 1), 0);
            assert_eq!(libc::readv(a, &iov, 0), 0);
            assert!(
                start.elapsed() < Duration::from_secs(1),
                "{:?}",
                start.elapsed()
            );
            peer.join().unwrap();
            // A datagram socket: the datagram stays queued.
            let (a, b) = raw_pair(libc::SOCK_DGRAM);
            assert_eq!(libc::write(b, b"abc".as_ptr().cast(), 3), 3);
            assert_eq!(libc::read(a, std::ptr::null_mut(), 0), 0);
            assert_eq!(libc::readv(a, &iov, 1), 0);
            let mut buf = [0u8; 8];
            let n = libc::recv(a, buf.as_mut_ptr().cast(), 8, libc::MSG_DONTWAIT);
            assert_eq!(n, 3);
        }
    });
}

/// A TCP `recv` of nothing waits for data; when the socket's read timeout passes first, the
/// kernel answers 0 (its loop ends on the length left, not on the timeout), with `MSG_PEEK` and
/// through `recvmsg` too. The hooks answer the same on a green thread as libc on an OS thread.
#[test]
fn a_tcp_recv_of_nothing_whose_timeout_passes_answers_zero() {
    use std::os::fd::AsRawFd;
    fn calls() -> Vec<(isize, i32, bool)> {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_peer, _) = listener.accept().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let fd = stream.as_raw_fd();
        let mut iov = libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        };
        let mut answers = Vec::new();
        for call in 0..4 {
            set_errno(0);
            let start = Instant::now();
            // SAFETY (the block): raw calls on our own socket, with no bytes to write into.
            let r = unsafe {
                match call {
                    0 => libc::recv(fd, std::ptr::null_mut(), 0, 0),
                    1 => libc::recv(fd, std::ptr::null_mut(), 0, libc::MSG_PEEK),
                    _ => {
                        let mut msg: libc::msghdr = std::mem::zeroed();
                        msg.msg_iov = &mut iov;
                        msg.msg_iovlen = if call == 2 { 1 } else { 0 };
                        libc::recvmsg(fd, &mut msg, 0)
                    }
                }
            };
            let waited = start.elapsed() >= Duration::from_millis(40);
            answers.push((r, if r < 0 { errno() } else { 0 }, waited));
        }
        answers
    }
    let on_os_thread = std::thread::spawn(calls).join().unwrap();
    assert_eq!(on_os_thread, vec![(0, 0, true); 4], "the kernel's answers");
    let on_green_thread = one_worker().block_on(calls);
    assert_eq!(on_green_thread, on_os_thread);
}

#[test]
fn readv_and_writev_beyond_iov_max_fail_with_einval() {
    one_worker().block_on(|| {
        let (a, b) = raw_pair(libc::SOCK_STREAM);
        let mut byte = [0u8; 1];
        let iov: Vec<libc::iovec> = (0..1025)
            .map(|_| libc::iovec {
                iov_base: byte.as_mut_ptr().cast(),
                iov_len: 1,
            })
            .collect();
        // SAFETY: 1025 valid iovecs (which the kernel refuses to read).
        unsafe {
            assert_eq!(libc::write(b, b"x".as_ptr().cast(), 1), 1);
            assert_eq!(libc::readv(a, iov.as_ptr(), 1025), -1);
            assert_eq!(errno(), libc::EINVAL);
            assert_eq!(libc::writev(a, iov.as_ptr(), 1025), -1);
            assert_eq!(errno(), libc::EINVAL);
        }
    });
}

#[test]
fn errno_is_left_alone_by_calls_that_succeed() {
    const MARK: libc::c_int = 12345;
    one_worker().block_on(|| {
        // SAFETY (the block): raw calls on our own fds and buffers.
        unsafe {
            // A read that had to wait (its first try met EAGAIN).
            let (a, b) = raw_pair(libc::SOCK_STREAM);
            let peer = write_later(b, 100, b"x");
            let mut buf = [0u8; 8];
            set_errno(MARK);
            assert_eq!(libc::read(a, buf.as_mut_ptr().cast(), 8), 1);
            assert_eq!(errno(), MARK, "read");
            peer.join().unwrap();
            // accept and connect that wait.
            use std::os::fd::AsRawFd;
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let connector = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(100));
                std::net::TcpStream::connect(addr).unwrap()
            });
            set_errno(MARK);
            let fd = libc::accept(
                listener.as_raw_fd(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            );
            assert!(fd >= 0);
            assert_eq!(errno(), MARK, "accept");
            libc::close(fd);
            drop(connector.join().unwrap());
            let s = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: addr.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes([127, 0, 0, 1]),
                },
                sin_zero: [0; 8],
            };
            set_errno(MARK);
            let r = libc::connect(
                s,
                (&sin as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            );
            assert_eq!(r, 0);
            assert_eq!(errno(), MARK, "connect");
            libc::close(s);
            // poll on a regular file (which the reactor refuses).
            let file = std::fs::File::open("/proc/self/stat").unwrap();
            let mut p = libc::pollfd {
                fd: file.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            set_errno(MARK);
            assert_eq!(libc::poll(&mut p, 1, 1000), 1);
            assert_eq!(errno(), MARK, "poll on a file");
            // poll on a zsync::net socket, which zsync registered itself.
            let listener = zsync::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let mut c = zsync::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (mut s, _) = listener.accept().unwrap();
            c.set_read_timeout(Some(Duration::from_millis(20))).unwrap();
            assert!(c.read(&mut buf).is_err()); // registered by zsync
                                                // From an OS thread: a poll that cannot park would block the worker.
            let writer = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                s.write_all(b"x").unwrap();
                s
            });
            let mut p = libc::pollfd {
                fd: c.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            set_errno(MARK);
            assert_eq!(libc::poll(&mut p, 1, 5000), 1);
            assert_eq!(errno(), MARK, "poll on a zsync socket");
            drop(writer.join().unwrap());
            // A sleep, while another green thread of the worker sets errno.
            let other = zsync::spawn(|| set_errno(libc::EIO));
            set_errno(MARK);
            let ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 20_000_000,
            };
            assert_eq!(libc::nanosleep(&ts, std::ptr::null_mut()), 0);
            assert_eq!(errno(), MARK, "nanosleep");
            other.join().unwrap();
        }
    });
}

/// Writes `a` then, `ms` milliseconds later, `b` to `fd` from an OS thread, then closes it if
/// `close`.
fn write_twice(
    fd: libc::c_int,
    a: &'static [u8],
    ms: u64,
    b: &'static [u8],
    close: bool,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        // SAFETY: valid buffers; our fd.
        unsafe {
            libc::write(fd, a.as_ptr().cast(), a.len());
            std::thread::sleep(Duration::from_millis(ms));
            libc::write(fd, b.as_ptr().cast(), b.len());
            if close {
                libc::close(fd);
            }
        }
    })
}

#[test]
fn waitall_and_rcvlowat_reads_wait_for_the_whole_count() {
    one_worker().block_on(|| {
        // SAFETY (the block): raw calls on our own fds and buffers.
        unsafe {
            let mut buf = [0u8; 100];
            // MSG_WAITALL: both halves, in recv and recvmsg.
            let (a, b) = raw_pair(libc::SOCK_STREAM);
            let peer = write_twice(b, b"12345", 100, b"67890", false);
            assert_eq!(
                libc::recv(a, buf.as_mut_ptr().cast(), 10, libc::MSG_WAITALL),
                10
            );
            assert_eq!(&buf[..10], b"1234567890");
            peer.join().unwrap();
            let peer = write_twice(b, b"abc", 100, b"defg", false);
            let (mut x, mut y) = ([0u8; 2], [0u8; 5]);
            let iov = [
                libc::iovec {
                    iov_base: x.as_mut_ptr().cast(),
                    iov_len: 2,
                },
                libc::iovec {
                    iov_base: y.as_mut_ptr().cast(),
                    iov_len: 5,
                },
            ];
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_iov = iov.as_ptr().cast_mut();
            msg.msg_iovlen = 2;
            assert_eq!(libc::recvmsg(a, &mut msg, libc::MSG_WAITALL), 7);
            assert_eq!((&x, &y), (b"ab", b"cdefg"));
            peer.join().unwrap();
            // The end of the stream ends it with what came.
            let peer = write_twice(b, b"12", 100, b"3", true);
            assert_eq!(
                libc::recv(a, buf.as_mut_ptr().cast(), 10, libc::MSG_WAITALL),
                3
            );
            peer.join().unwrap();
            // So does SO_RCVTIMEO: what came, then EAGAIN when nothing did.
            let (a, b) = raw_pair(libc::SOCK_STREAM);
            let tv = libc::timeval {
                tv_sec: 0,
                tv_usec: 200_000,
            };
            let tvp = (&tv as *const libc::timeval).cast();
            assert_eq!(
                libc::setsockopt(a, libc::SOL_SOCKET, libc::SO_RCVTIMEO, tvp, 16),
                0
            );
            assert_eq!(libc::write(b, b"xy".as_ptr().cast(), 2), 2);
            let start = Instant::now();
            assert_eq!(
                libc::recv(a, buf.as_mut_ptr().cast(), 10, libc::MSG_WAITALL),
                2
            );
            assert!(
                start.elapsed() >= Duration::from_millis(150),
                "{:?}",
                start.elapsed()
            );
            assert_eq!(
                libc::recv(a, buf.as_mut_ptr().cast(), 10, libc::MSG_WAITALL),
                -1
            );
            assert_eq!(errno(), libc::EAGAIN);
            // SO_RCVLOWAT: a plain read waits for that many bytes.
            let (a, b) = raw_pair(libc::SOCK_STREAM);
            let lowat: libc::c_int = 10;
            let lowatp = (&lowat as *const libc::c_int).cast();
            assert_eq!(
                libc::setsockopt(a, libc::SOL_SOCKET, libc::SO_RCVLOWAT, lowatp, 4),
                0
            );
            let peer = write_twice(b, b"12345", 100, b"67890", false);
            assert_eq!(libc::read(a, buf.as_mut_ptr().cast(), 100), 10);
            peer.join().unwrap();
        }
    });
}

/// Reads everything from `fd` on an OS thread, starting after 200 ms, until the end of the
/// stream; returns the count.
fn drain_later(fd: libc::c_int) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        let mut buf = vec![0u8; 1 << 16];
        let mut total = 0;
        loop {
            // SAFETY: our buffer.
            let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                return total;
            }
            total += n as usize;
        }
    })
}

#[test]
fn a_blocking_write_on_a_stream_socket_or_a_pipe_writes_everything() {
    one_worker().block_on(|| {
        const BIG: usize = 4 << 20;
        let data = vec![7u8; BIG];
        // SAFETY (the block): raw calls on our own fds and buffers.
        unsafe {
            let half = [
                libc::iovec {
                    iov_base: data.as_ptr().cast_mut().cast(),
                    iov_len: BIG / 2,
                },
                libc::iovec {
                    iov_base: data.as_ptr().cast_mut().cast(),
                    iov_len: BIG / 2,
                },
            ];
            for call in 0..4 {
                let (a, b) = raw_pair(libc::SOCK_STREAM);
                let reader = drain_later(b);
                let n = match call {
                    0 => libc::send(a, data.as_ptr().cast(), BIG, 0),
                    1 => libc::write(a, data.as_ptr().cast(), BIG),
                    2 => libc::writev(a, half.as_ptr(), 2),
                    _ => {
                        let mut msg: libc::msghdr = std::mem::zeroed();
                        msg.msg_iov = half.as_ptr().cast_mut();
                        msg.msg_iovlen = 2;
                        libc::sendmsg(a, &msg, 0)
                    }
                };
                assert_eq!(n, BIG as isize, "call {call}");
                libc::close(a);
                assert_eq!(reader.join().unwrap(), BIG, "call {call}");
            }
            // SO_SNDTIMEO: the part sent when it passes, then EAGAIN.
            let (a, _b) = raw_pair(libc::SOCK_STREAM);
            let tv = libc::timeval {
                tv_sec: 0,
                tv_usec: 200_000,
            };
            let tvp = (&tv as *const libc::timeval).cast();
            assert_eq!(
                libc::setsockopt(a, libc::SOL_SOCKET, libc::SO_SNDTIMEO, tvp, 16),
                0
            );
            let start = Instant::now();
            let n = libc::send(a, data.as_ptr().cast(), BIG, 0);
            assert!(n > 0 && (n as usize) < BIG, "{n}");
            assert!(
                start.elapsed() >= Duration::from_millis(150),
                "{:?}",
                start.elapsed()
            );
            assert_eq!(libc::send(a, data.as_ptr().cast(), BIG, 0), -1);
            assert_eq!(errno(), libc::EAGAIN);
            // A pipe: a blocking write of more than it holds is written whole too, and one of
            // PIPE_BUF bytes is never split.
            let mut fds = [0; 2];
            assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
            let reader = drain_later(fds[0]);
            assert_eq!(libc::write(fds[1], data.as_ptr().cast(), 1 << 20), 1 << 20);
            let mut small = 0;
            for _ in 0..64 {
                small += libc::write(fds[1], data.as_ptr().cast(), libc::PIPE_BUF);
                assert_eq!(small % libc::PIPE_BUF as isize, 0);
            }
            let n = libc::writev(fds[1], half.as_ptr(), 2);
            assert_eq!(n, BIG as isize);
            libc::close(fds[1]);
            assert_eq!(
                reader.join().unwrap(),
                (1 << 20) + 64 * libc::PIPE_BUF + BIG
            );
        }
    });
}

#[test]
fn a_read_after_one_that_stopped_early_with_data_left_does_not_wait() {
    one_worker().block_on(|| {
        // SAFETY (the block): raw calls on our own fds and buffers.
        unsafe {
            let mut buf = [0u8; 100];
            // AF_UNIX: a read stops after a message that carries fds, with "B" still queued.
            let (a, b) = raw_pair(libc::SOCK_STREAM);
            let peer = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                libc::write(b, b"0".as_ptr().cast(), 1);
                std::thread::sleep(Duration::from_millis(100));
                let mut iov = libc::iovec {
                    iov_base: b"A".as_ptr().cast_mut().cast(),
                    iov_len: 1,
                };
                let mut cbuf = [0u64; 4];
                let mut msg: libc::msghdr = std::mem::zeroed();
                msg.msg_iov = &mut iov;
                msg.msg_iovlen = 1;
                msg.msg_control = cbuf.as_mut_ptr().cast();
                msg.msg_controllen = libc::CMSG_SPACE(4) as _;
                let c = libc::CMSG_FIRSTHDR(&msg);
                (*c).cmsg_level = libc::SOL_SOCKET;
                (*c).cmsg_type = libc::SCM_RIGHTS;
                (*c).cmsg_len = libc::CMSG_LEN(4) as _;
                *(libc::CMSG_DATA(c) as *mut libc::c_int) = 0;
                assert_eq!(libc::sendmsg(b, &msg, 0), 1);
                libc::write(b, b"B".as_ptr().cast(), 1);
                std::thread::sleep(Duration::from_secs(3));
                libc::write(b, b"C".as_ptr().cast(), 1);
            });
            // The first read waits (the fd is registered), the second takes "A" (its fd is
            // closed for want of a control buffer) and stops there.
            assert_eq!(libc::read(a, buf.as_mut_ptr().cast(), 100), 1);
            zsync::thread::sleep(Duration::from_millis(300));
            assert_eq!(libc::read(a, buf.as_mut_ptr().cast(), 100), 1);
            assert_eq!(buf[0], b'A');
            let start = Instant::now();
            let n = libc::read(a, buf.as_mut_ptr().cast(), 100);
            assert!(
                start.elapsed() < Duration::from_secs(1),
                "{:?}",
                start.elapsed()
            );
            assert_eq!((n, buf[0]), (1, b'B'));
            peer.join().unwrap();
            // TCP: a read stops at the urgent mark, with "efg" still queued.
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let peer = std::thread::spawn(move || {
                use std::os::fd::AsRawFd;
                let s = std::net::TcpStream::connect(addr).unwrap();
                let fd = s.as_raw_fd();
                std::thread::sleep(Duration::from_millis(50));
                libc::write(fd, b"0".as_ptr().cast(), 1);
                std::thread::sleep(Duration::from_millis(100));
                libc::send(fd, b"abc".as_ptr().cast(), 3, 0);
                libc::send(fd, b"d".as_ptr().cast(), 1, libc::MSG_OOB);
                libc::send(fd, b"efg".as_ptr().cast(), 3, 0);
                std::thread::sleep(Duration::from_secs(3));
                libc::write(fd, b"Z".as_ptr().cast(), 1);
                std::thread::sleep(Duration::from_millis(100));
            });
            let (mut s, _) = listener.accept().unwrap();
            assert_eq!(s.read(&mut buf).unwrap(), 1);
            zsync::thread::sleep(Duration::from_millis(300));
            assert_eq!(s.read(&mut buf).unwrap(), 3);
            assert_eq!(&buf[..3], b"abc");
            let start = Instant::now();
            let n = s.read(&mut buf).unwrap();
            assert!(
                start.elapsed() < Duration::from_secs(1),
                "{:?}",
                start.elapsed()
            );
            assert_eq!(&buf[..n], b"efg");
            peer.join().unwrap();
        }
    });
}

/// `connect(2)` of `fd` to `addr` (a `sockaddr_in` or `sockaddr_un`).
///
/// # Safety
///
/// `addr` is a valid socket address of its type.
unsafe fn connect_to<A>(fd: libc::c_int, addr: &A) -> libc::c_int {
    // SAFETY: the caller's address, its size.
    unsafe {
        libc::connect(
            fd,
            (addr as *const A).cast(),
            std::mem::size_of::<A>() as libc::socklen_t,
        )
    }
}

#[test]
fn connect_again_after_a_blocking_connect_gives_eisconn() {
    one_worker().block_on(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let sin = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: listener.local_addr().unwrap().port().to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from_ne_bytes([127, 0, 0, 1]),
            },
            sin_zero: [0; 8],
        };
        // SAFETY: our socket and address.
        unsafe {
            let s = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
            assert_eq!(connect_to(s, &sin), 0);
            assert_eq!(connect_to(s, &sin), -1);
            assert_eq!(errno(), libc::EISCONN);
            libc::close(s);
        }
    });
}

#[test]
fn a_unix_connect_to_a_full_backlog_waits_for_room() {
    one_worker().block_on(|| {
        // SAFETY (the block): raw calls on our own fds and address.
        unsafe {
            let l = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
            let mut addr: libc::sockaddr_un = std::mem::zeroed();
            addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
            // An abstract address: nothing to clean up.
            let name = format!("zsync-hook-backlog-{}", libc::getpid());
            for (i, c) in name.bytes().enumerate() {
                addr.sun_path[i + 1] = c as libc::c_char;
            }
            let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
            assert_eq!(
                libc::bind(l, (&addr as *const libc::sockaddr_un).cast(), len),
                0
            );
            assert_eq!(libc::listen(l, 0), 0);
            let first = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
            assert_eq!(connect_to(first, &addr), 0);
            let acceptor = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                let a = libc::accept(l, std::ptr::null_mut(), std::ptr::null_mut());
                let b = libc::accept(l, std::ptr::null_mut(), std::ptr::null_mut());
                assert!(a >= 0 && b >= 0);
            });
            let ticker = Ticker::start();
            let second = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
            let start = Instant::now();
            assert_eq!(connect_to(second, &addr), 0, "{}", errno());
            assert!(
                start.elapsed() >= Duration::from_millis(250),
                "{:?}",
                start.elapsed()
            );
            acceptor.join().unwrap();
            assert!(ticker.stop() >= 10, "the worker was blocked");
            // With SO_SNDTIMEO: EAGAIN once it passes, as the kernel's blocking connect.
            let tv = libc::timeval {
                tv_sec: 0,
                tv_usec: 200_000,
            };
            let third = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
            let tvp = (&tv as *const libc::timeval).cast();
            assert_eq!(
                libc::setsockopt(third, libc::SOL_SOCKET, libc::SO_SNDTIMEO, tvp, 16),
                0
            );
            let fourth = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0);
            assert_eq!(connect_to(fourth, &addr), 0);
            let start = Instant::now();
            assert_eq!(connect_to(third, &addr), -1);
            assert_eq!(errno(), libc::EAGAIN);
            assert!(
                start.elapsed() >= Duration::from_millis(150),
                "{:?}",
                start.elapsed()
            );
        }
    });
}

/// `select` with no fds and a timeout of `usec` microseconds: its answer, errno, and how long
/// it took.
fn select_sleep(usec: libc::suseconds_t) -> (libc::c_int, libc::c_int, Duration) {
    let mut tv = libc::timeval {
        tv_sec: 0,
        tv_usec: usec,
    };
    let null = std::ptr::null_mut();
    let start = Instant::now();
    // SAFETY: no sets, a valid timeval.
    let r = unsafe { libc::select(0, null, null, null, &mut tv) };
    (r, errno(), start.elapsed())
}

#[test]
fn select_takes_a_microsecond_count_of_a_second_or_more() {
    // glibc carries whole seconds over, on any thread; a negative count is EINVAL.
    for green in [true, false] {
        let (r, _, took) = if green {
            one_worker().block_on(|| select_sleep(1_100_000))
        } else {
            select_sleep(1_100_000)
        };
        assert_eq!(r, 0, "green: {green}");
        assert!(took >= Duration::from_millis(1050), "{took:?}");
        let (r, e, _) = if green {
            one_worker().block_on(|| select_sleep(-1))
        } else {
            select_sleep(-1)
        };
        assert_eq!((r, e), (-1, libc::EINVAL), "green: {green}");
    }
}

extern "C" fn on_usr2(_: libc::c_int) {}

#[test]
fn an_interrupted_sleep_returns_the_whole_seconds_left() {
    // glibc's sleep(3) drops the fraction: 2.7 s left is 2.
    // SAFETY: a handler that does nothing, without SA_RESTART.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_usr2 as extern "C" fn(libc::c_int) as libc::sighandler_t;
        assert_eq!(libc::sigaction(libc::SIGUSR2, &sa, std::ptr::null_mut()), 0);
    }
    // SAFETY: this thread's id.
    let me = unsafe { libc::pthread_self() } as usize;
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        // SAFETY: the sleeping thread, alive until the sleep returns.
        unsafe { libc::pthread_kill(me as libc::pthread_t, libc::SIGUSR2) };
    });
    // SAFETY: a plain call.
    let left = unsafe { libc::sleep(3) };
    killer.join().unwrap();
    assert_eq!(left, 2);
}

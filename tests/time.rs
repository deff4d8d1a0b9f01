//! `zsync::time`: sleep, timeout, interval, on green threads and on plain OS threads.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zsync::runtime::{Builder, Flavor};
use zsync::time::{interval, sleep, sleep_until, timeout, Elapsed};

fn on_each_model(body: fn()) {
    body(); // a plain OS thread, no runtime
    for flavor in [Flavor::GreenThreads, Flavor::OsThreads] {
        Builder::new()
            .worker_threads(2)
            .flavor(flavor)
            .build()
            .unwrap()
            .block_on(body);
    }
}

#[test]
fn sleep_is_never_short_and_not_much_long() {
    on_each_model(|| {
        for ms in [1u64, 5, 20] {
            let start = Instant::now();
            sleep(Duration::from_millis(ms));
            let took = start.elapsed();
            assert!(
                took >= Duration::from_millis(ms),
                "slept {took:?} for {ms} ms"
            );
            assert!(
                took < Duration::from_millis(ms + 200),
                "slept {took:?} for {ms} ms"
            );
        }
        // Finer than a millisecond (the green-thread timers tick every 65.5 us): still never
        // short, whatever part of a tick the sleep starts in.
        for us in [150u64, 1_300, 2_050] {
            for _ in 0..5 {
                let start = Instant::now();
                sleep(Duration::from_micros(us));
                let took = start.elapsed();
                assert!(
                    took >= Duration::from_micros(us),
                    "slept {took:?} for {us} us"
                );
            }
        }
        let deadline = Instant::now() + Duration::from_millis(3);
        sleep_until(deadline);
        assert!(Instant::now() >= deadline);
        let deadline = Instant::now() + Duration::from_micros(400);
        sleep_until(deadline);
        assert!(Instant::now() >= deadline);
        sleep(Duration::ZERO);
    });
}

#[test]
fn timeout_unwinds_a_blocked_closure_and_runs_its_destructors() {
    on_each_model(|| {
        struct Flag(Arc<AtomicBool>);
        impl Drop for Flag {
            fn drop(&mut self) {
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let dropped = Arc::new(AtomicBool::new(false));
        let d = dropped.clone();
        let start = Instant::now();
        let r = timeout(Duration::from_millis(20), move || {
            let _f = Flag(d);
            sleep(Duration::from_secs(3600));
        });
        assert_eq!(r, Err(Elapsed::default_for_tests()));
        assert!(dropped.load(Ordering::SeqCst));
        let took = start.elapsed();
        assert!(
            took >= Duration::from_millis(20) && took < Duration::from_secs(2),
            "{took:?}"
        );
        assert_eq!(timeout(Duration::from_secs(5), || 11), Ok(11));
        // A closure that finishes in time is not disturbed by the timer afterwards.
        sleep(Duration::from_millis(30));
    });
}

trait ElapsedForTests {
    fn default_for_tests() -> Elapsed;
}
impl ElapsedForTests for Elapsed {
    fn default_for_tests() -> Elapsed {
        timeout(Duration::ZERO, || sleep(Duration::from_secs(1))).unwrap_err()
    }
}

#[test]
fn nested_timeouts_the_first_to_expire_wins() {
    on_each_model(|| {
        // Inner expires first: the inner one reports it, the outer goes on.
        let r = timeout(Duration::from_secs(5), || {
            let inner = timeout(Duration::from_millis(10), || {
                sleep(Duration::from_secs(3600))
            });
            assert!(inner.is_err());
            "outer finished"
        });
        assert_eq!(r, Ok("outer finished"));
        // Outer expires first: the whole thing unwinds to the outer one.
        let reached_after_inner = Arc::new(AtomicBool::new(false));
        let flag = reached_after_inner.clone();
        let r = timeout(Duration::from_millis(10), move || {
            let _ = timeout(Duration::from_secs(3600), || {
                sleep(Duration::from_secs(3600))
            });
            flag.store(true, Ordering::SeqCst);
        });
        assert!(r.is_err());
        assert!(!reached_after_inner.load(Ordering::SeqCst));
    });
}

#[test]
fn interval_does_not_drift() {
    on_each_model(|| {
        let period = Duration::from_millis(5);
        let mut ticks = interval(period);
        let first = ticks.tick();
        let mut last = first;
        for _ in 0..10 {
            last = ticks.tick();
        }
        assert_eq!(
            last - first,
            period * 10,
            "ticks are scheduled from the first, not from now"
        );
        assert!(Instant::now() >= last);
    });
}

#[test]
fn a_hundred_thousand_sleeping_green_threads() {
    let rt = Builder::new()
        .worker_threads(2)
        .stack_size(16 * 1024)
        .build()
        .unwrap();
    let woke = Arc::new(AtomicUsize::new(0));
    let w = woke.clone();
    let start = Instant::now();
    rt.block_on(move || {
        const N: usize = 100_000;
        let handles: Vec<_> = (0..N)
            .map(|i| {
                let w = w.clone();
                zsync::spawn(move || {
                    sleep(Duration::from_millis(50 + (i % 50) as u64));
                    w.fetch_add(1, Ordering::Relaxed);
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    });
    assert_eq!(woke.load(Ordering::Relaxed), 100_000);
    assert!(start.elapsed() < Duration::from_secs(60));
}

#[test]
fn sleepers_wake_while_another_green_thread_keeps_yielding() {
    let rt = zsync::runtime::Builder::new()
        .worker_threads(1)
        .build()
        .unwrap();
    rt.block_on(|| {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s2 = stop.clone();
        // Never runs dry: the worker always has this one to run.
        let spinner = zsync::spawn(move || {
            while !s2.load(std::sync::atomic::Ordering::Relaxed) {
                zsync::thread::yield_now();
            }
        });
        let start = std::time::Instant::now();
        zsync::time::sleep(std::time::Duration::from_millis(20));
        let slept = start.elapsed();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        spinner.join().unwrap();
        assert!(
            slept < std::time::Duration::from_secs(2),
            "the sleeper waited {slept:?} behind a yielding green thread"
        );
    });
}

// Far deadlines and `Duration::MAX`: a deadline beyond the timer wheel's span (about 795 days)
// once made a worker loop forever, and `interval(Duration::MAX)` panicked. The runtime tests run
// under a watchdog so that a hang fails instead of blocking the suite.

const FAR: Duration = Duration::from_secs(800 * 86_400);

/// Runs `f` on a fresh OS thread and fails if it does not end within `limit` (generous: this
/// catches hangs and spinning workers, it is no performance claim).
fn within(limit: Duration, what: &str, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    match rx.recv_timeout(limit) {
        Ok(()) => thread.join().unwrap(),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(payload) = thread.join() {
                std::panic::resume_unwind(payload);
            }
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: not done after {limit:?} (a hung or spinning worker?)")
        }
    }
}

fn one_worker() -> zsync::Runtime {
    Builder::new().worker_threads(1).build().unwrap()
}

/// Moves the clock of the worker's timer wheel off zero with a short sleep: far deadlines
/// armed on a wheel that had never advanced happened to work.
fn advance_the_wheel() {
    sleep(Duration::from_millis(3));
}

/// `body` on a plain OS thread, then on a 1-worker green-thread runtime and an OS-thread
/// runtime, each under a watchdog.
fn on_os_thread_and_runtimes(what: &'static str, body: fn()) {
    within(Duration::from_secs(30), what, body);
    within(Duration::from_secs(30), what, move || {
        one_worker().block_on(move || {
            advance_the_wheel();
            body();
        })
    });
    within(Duration::from_secs(30), what, move || {
        Builder::new()
            .worker_threads(1)
            .flavor(Flavor::OsThreads)
            .build()
            .unwrap()
            .block_on(body)
    });
}

/// A 10 ms sleep must come back in a reasonable time.
fn short_sleep_returns() {
    let start = Instant::now();
    sleep(Duration::from_millis(10));
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(10) && took < Duration::from_secs(2),
        "a 10 ms sleep took {took:?}"
    );
}

/// On a 1-worker runtime: a green thread waits in `far_wait` (with a far deadline, armed as a
/// timer on the only worker); meanwhile and after it is cancelled, short sleeps on the same
/// worker still return on time. `far_wait` calls `ready` just before its far wait.
fn far_waiter_leaves_the_worker_usable(what: &'static str, far_wait: fn(ready: &dyn Fn())) {
    within(Duration::from_secs(30), what, move || {
        one_worker().block_on(move || {
            advance_the_wheel();
            let started = Arc::new(AtomicBool::new(false));
            let s = started.clone();
            let far = zsync::spawn(move || far_wait(&|| s.store(true, Ordering::SeqCst)));
            // One worker: once the flag is seen, the far waiter has parked.
            while !started.load(Ordering::SeqCst) {
                zsync::thread::yield_now();
            }
            zsync::thread::yield_now();
            short_sleep_returns();
            short_sleep_returns();
            assert!(!far.is_finished(), "{what}: the far wait ended early");
            assert!(
                far.cancel().is_err(),
                "{what}: the far waiter was cancelled"
            );
            short_sleep_returns();
        });
    });
}

#[test]
fn a_far_sleep_does_not_stall_a_one_worker_runtime() {
    far_waiter_leaves_the_worker_usable("sleep(800 days)", |ready| {
        ready();
        sleep(FAR)
    });
}

#[test]
fn a_far_sleep_until_does_not_stall_a_one_worker_runtime() {
    far_waiter_leaves_the_worker_usable("sleep_until(now + 800 days)", |ready| {
        ready();
        sleep_until(Instant::now() + FAR)
    });
    far_waiter_leaves_the_worker_usable("sleep_until(now + 10 years)", |ready| {
        ready();
        sleep_until(Instant::now() + 5 * FAR)
    });
}

#[test]
fn a_far_timeout_does_not_stall_a_one_worker_runtime() {
    far_waiter_leaves_the_worker_usable("timeout(800 days, sleep(MAX))", |ready| {
        ready();
        let _ = timeout(FAR, || sleep(Duration::MAX));
    });
}

#[test]
fn a_far_interval_does_not_stall_a_one_worker_runtime() {
    far_waiter_leaves_the_worker_usable("interval(800 days)", |ready| {
        let mut ticks = interval(FAR);
        ticks.tick();
        ready();
        ticks.tick();
    });
}

#[test]
fn far_waits_in_sync_and_park_do_not_stall_a_one_worker_runtime() {
    far_waiter_leaves_the_worker_usable("park_timeout(800 days)", |ready| loop {
        ready();
        zsync::thread::park_timeout(FAR);
    });
    far_waiter_leaves_the_worker_usable("Condvar::wait_timeout(800 days)", |ready| {
        let (m, cv) = (zsync::sync::Mutex::new(()), zsync::sync::Condvar::new());
        let mut guard = m.lock().unwrap();
        ready();
        loop {
            guard = cv.wait_timeout(guard, FAR).unwrap().0;
        }
    });
    far_waiter_leaves_the_worker_usable("recv_timeout(800 days)", |ready| {
        let (_tx, rx) = zsync::sync::mpsc::channel::<u8>();
        ready();
        let _ = rx.recv_timeout(FAR);
    });
}

#[test]
fn a_socket_read_with_a_max_timeout_does_not_stall_a_one_worker_runtime() {
    far_waiter_leaves_the_worker_usable("read with read_timeout(MAX)", |ready| {
        let listener = zsync::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut stream = zsync::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        stream.set_read_timeout(Some(Duration::MAX)).unwrap();
        ready();
        let _ = std::io::Read::read(&mut stream, &mut [0u8; 8]);
    });
}

#[test]
fn timeout_with_duration_max_is_no_timeout() {
    on_os_thread_and_runtimes("timeout(MAX)", || {
        assert_eq!(timeout(Duration::MAX, || 5), Ok(5));
        assert_eq!(timeout(Duration::from_secs(u64::MAX), || 6), Ok(6));
        assert_eq!(timeout(FAR, || 7), Ok(7));
        // A far deadline that does not pass leaves the closure alone while it waits.
        assert_eq!(
            timeout(FAR, || {
                sleep(Duration::from_millis(5));
                8
            }),
            Ok(8)
        );
        // A wait with no deadline of its own waits for the far one: it must not stall others.
        let (tx, rx) = zsync::sync::mpsc::channel();
        let sender = after_10ms(move || tx.send(9).unwrap());
        assert_eq!(timeout(FAR, || rx.recv()), Ok(Ok(9)));
        sender.join().unwrap();
        short_sleep_returns();
    });
}

#[test]
fn sleeps_with_huge_durations_wait_until_their_timeout() {
    on_os_thread_and_runtimes("sleep(MAX) in timeout", || {
        for dur in [Duration::MAX, Duration::from_secs(u64::MAX), FAR] {
            let start = Instant::now();
            let r = timeout(Duration::from_millis(10), || sleep(dur));
            assert!(r.is_err(), "sleep({dur:?}) returned");
            let took = start.elapsed();
            assert!(took < Duration::from_secs(2), "{dur:?}: {took:?}");
        }
        let far = Instant::now() + 5 * FAR;
        assert!(timeout(Duration::from_millis(10), || sleep_until(far)).is_err());
        short_sleep_returns();
    });
}

#[test]
fn interval_with_an_unreachable_period_ticks_once_then_waits() {
    on_os_thread_and_runtimes("interval(MAX)", || {
        for period in [Duration::MAX, Duration::from_secs(u64::MAX), FAR] {
            let start = Instant::now();
            let mut ticks = interval(period);
            let first = ticks.tick();
            assert!(first <= Instant::now());
            assert!(
                start.elapsed() < Duration::from_secs(2),
                "first tick waited"
            );
            assert_eq!(ticks.period(), period);
            let second = timeout(Duration::from_millis(10), || ticks.tick());
            assert!(second.is_err(), "{period:?}: the second tick came");
            // Still waiting, not panicking, when asked again.
            assert!(timeout(Duration::from_millis(5), || ticks.tick()).is_err());
        }
        short_sleep_returns();
    });
}

/// Runs `wake` on another OS thread after 10 ms.
fn after_10ms(wake: impl FnOnce() + Send + 'static) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(10));
        wake();
    })
}

#[test]
fn park_timeout_with_duration_max_is_unparked() {
    on_os_thread_and_runtimes("park_timeout(MAX)", || {
        for dur in [Duration::MAX, FAR] {
            let woken = Arc::new(AtomicBool::new(false));
            let (w, me) = (woken.clone(), zsync::thread::current());
            let waker = after_10ms(move || {
                w.store(true, Ordering::SeqCst);
                me.unpark();
            });
            // park may return spuriously: wait for the flag.
            while !woken.load(Ordering::SeqCst) {
                zsync::thread::park_timeout(dur);
            }
            waker.join().unwrap();
        }
        short_sleep_returns();
    });
}

#[test]
fn condvar_wait_timeout_with_duration_max_is_notified() {
    on_os_thread_and_runtimes("Condvar::wait_timeout(MAX)", || {
        for dur in [Duration::MAX, FAR] {
            let pair = Arc::new((zsync::sync::Mutex::new(false), zsync::sync::Condvar::new()));
            let p = pair.clone();
            let waker = after_10ms(move || {
                *p.0.lock().unwrap() = true;
                p.1.notify_all();
            });
            let (m, cv) = (&pair.0, &pair.1);
            let mut ready = m.lock().unwrap();
            while !*ready {
                let (guard, result) = cv.wait_timeout(ready, dur).unwrap();
                assert!(!result.timed_out());
                ready = guard;
            }
            drop(ready);
            let (guard, result) = cv
                .wait_timeout_while(m.lock().unwrap(), dur, |ready| !*ready)
                .unwrap();
            assert!(*guard && !result.timed_out());
            drop(guard);
            waker.join().unwrap();
        }
        short_sleep_returns();
    });
}

#[test]
fn recv_timeout_with_duration_max_gets_a_late_message() {
    on_os_thread_and_runtimes("recv_timeout(MAX)", || {
        for dur in [Duration::MAX, FAR] {
            let (tx, rx) = zsync::sync::mpsc::channel();
            let sender = after_10ms(move || tx.send(42u32).unwrap());
            assert_eq!(rx.recv_timeout(dur), Ok(42));
            sender.join().unwrap();
            assert_eq!(
                rx.recv_timeout(dur),
                Err(zsync::sync::mpsc::RecvTimeoutError::Disconnected)
            );
        }
        short_sleep_returns();
    });
}

#[test]
fn socket_timeouts_of_duration_max_wait_for_data() {
    on_os_thread_and_runtimes("set_read_timeout(MAX)", || {
        use std::io::{Read, Write};
        for dur in [Duration::MAX, FAR] {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let peer = std::thread::spawn(move || {
                let (mut conn, _) = listener.accept().unwrap();
                std::thread::sleep(Duration::from_millis(10));
                conn.write_all(b"late").unwrap();
                let mut buf = [0u8; 4];
                conn.read_exact(&mut buf).unwrap();
                assert_eq!(&buf, b"back");
            });
            let mut stream = zsync::net::TcpStream::connect_timeout(&addr, dur).unwrap();
            stream.set_read_timeout(Some(dur)).unwrap();
            stream.set_write_timeout(Some(dur)).unwrap();
            // Reported as std reports it: the kernel's reading (None where it means forever).
            let stds = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            stds.set_read_timeout(Some(dur)).unwrap();
            stds.set_write_timeout(Some(dur)).unwrap();
            assert_eq!(stream.read_timeout().unwrap(), stds.read_timeout().unwrap());
            assert_eq!(
                stream.write_timeout().unwrap(),
                stds.write_timeout().unwrap()
            );
            let mut buf = [0u8; 4];
            stream.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"late");
            stream.write_all(b"back").unwrap();
            peer.join().unwrap();
        }
        short_sleep_returns();
    });
}

#[test]
fn select_semaphore_and_oneshot_with_duration_max_wait_for_the_event() {
    on_os_thread_and_runtimes("select!/Semaphore/oneshot with MAX", || {
        for dur in [Duration::MAX, FAR] {
            let (tx, rx) = zsync::sync::mpsc::channel::<u32>();
            let sender = after_10ms(move || tx.send(3).unwrap());
            let got = zsync::select! {
                recv(rx) -> msg => msg.unwrap(),
                default(dur) => 0,
            };
            assert_eq!(got, 3, "select! default({dur:?}) gave up");
            sender.join().unwrap();

            let sem = Arc::new(zsync::sync::Semaphore::new(0));
            let s = sem.clone();
            let adder = after_10ms(move || s.add_permits(1));
            assert!(sem.acquire_timeout(dur).is_some());
            adder.join().unwrap();

            let (tx, rx) = zsync::sync::oneshot::channel::<u32>();
            let sender = after_10ms(move || tx.send(4).unwrap());
            assert_eq!(rx.recv_timeout(dur), Ok(4));
            sender.join().unwrap();
        }
        short_sleep_returns();
    });
}

/// A sleeper on a busy worker wakes on time even when each pick of that worker is slow: the
/// worker reads the clock every few picks while a timer is armed, and the woken thread goes
/// ahead of the runnable ones. Here every pick of three busy green threads takes 200 us, so a
/// worker that looked at its timers only every 61st pick (as it once did) was ~12 ms late at
/// each tick. The median is compared, so that an OS preemption of the worker cannot fail it.
#[test]
fn a_sleeper_wakes_on_time_on_a_worker_whose_picks_are_slow() {
    let rt = zsync::runtime::Builder::new()
        .worker_threads(1)
        .build()
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let busy: Vec<_> = (0..3)
        .map(|_| {
            let stop = stop.clone();
            rt.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let start = Instant::now();
                    while start.elapsed() < Duration::from_micros(200) {
                        std::hint::spin_loop();
                    }
                    zsync::thread::yield_now();
                }
            })
        })
        .collect();
    let mut lateness: Vec<Duration> = rt.block_on(|| {
        (0..40)
            .map(|_| {
                let before = Instant::now();
                zsync::thread::sleep(Duration::from_millis(1));
                before.elapsed().saturating_sub(Duration::from_millis(1))
            })
            .collect()
    });
    stop.store(true, Ordering::Relaxed);
    for b in busy {
        b.join().unwrap();
    }
    lateness.sort();
    let median = lateness[lateness.len() / 2];
    assert!(
        median < Duration::from_millis(4),
        "median lateness {median:?} (all: {lateness:?})"
    );
}

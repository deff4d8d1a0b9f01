//! The `hook` feature: libc's blocking calls made by code zsync does not own (std's own types,
//! C code) park the calling green thread. Run with `cargo test --release --features hook --test
//! hook`.
#![cfg(all(feature = "hook", target_os = "linux"))]

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
        assert!(ticks >= 20, "only {ticks} ticks in {elapsed:?}");
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

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
        let deadline = Instant::now() + Duration::from_millis(3);
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

//! unblock, block_on, awaiting a JoinHandle, host-name resolution off the workers.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use zsync::runtime::Builder;

fn one_worker() -> zsync::Runtime {
    Builder::new().worker_threads(1).build().unwrap()
}

#[test]
fn unblock_runs_off_the_worker_and_returns_the_value() {
    one_worker().block_on(|| {
        let ticks = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (t2, s2) = (ticks.clone(), stop.clone());
        // Shares the only worker with the caller of unblock.
        let ticker = zsync::spawn(move || {
            while !s2.load(Ordering::Relaxed) {
                t2.fetch_add(1, Ordering::Relaxed);
                zsync::thread::sleep(Duration::from_millis(1));
            }
        });
        // The pool thread waits for the ticker, which shares the only worker with the caller
        // of unblock: it can tick only if that worker is free while the caller waits.
        let t3 = ticks.clone();
        let (pool_thread, worker_was_free) = zsync::unblock(move || {
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while t3.load(Ordering::Relaxed) < 10 && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            let name = std::thread::current().name().map(str::to_owned);
            (name, t3.load(Ordering::Relaxed) >= 10)
        });
        stop.store(true, Ordering::Relaxed);
        ticker.join().unwrap();
        assert_eq!(pool_thread.as_deref(), Some("zsync-blocking"));
        assert!(
            worker_was_free,
            "the worker was blocked: {} ticks",
            ticks.load(Ordering::Relaxed)
        );
    });
}

#[test]
fn unblock_resumes_panics_in_the_caller() {
    one_worker().block_on(|| {
        let err = std::panic::catch_unwind(|| zsync::unblock(|| -> u8 { panic!("in the pool") }))
            .unwrap_err();
        assert_eq!(err.downcast_ref::<&str>(), Some(&"in the pool"));
    });
}

#[test]
fn unblock_on_a_plain_thread_runs_inline() {
    let me = std::thread::current().id();
    assert!(zsync::unblock(move || std::thread::current().id() == me));
}

/// A future completed by another OS thread after a delay.
struct Delayed {
    state: Arc<Mutex<(bool, Option<Waker>)>>,
}

impl Delayed {
    fn new(after: Duration) -> Delayed {
        let state = Arc::new(Mutex::new((false, None::<Waker>)));
        let s2 = state.clone();
        std::thread::spawn(move || {
            std::thread::sleep(after);
            let mut s = s2.lock().unwrap();
            s.0 = true;
            if let Some(w) = s.1.take() {
                w.wake();
            }
        });
        Delayed { state }
    }
}

impl Future for Delayed {
    type Output = &'static str;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<&'static str> {
        let mut s = self.state.lock().unwrap();
        if s.0 {
            Poll::Ready("done")
        } else {
            s.1 = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

#[test]
fn block_on_parks_a_green_thread_until_the_waker_fires() {
    one_worker().block_on(|| {
        let ran = Arc::new(AtomicBool::new(false));
        let r2 = ran.clone();
        let other = zsync::spawn(move || r2.store(true, Ordering::SeqCst));
        assert_eq!(
            zsync::block_on(Delayed::new(Duration::from_millis(30))),
            "done"
        );
        // While block_on waited, the only worker ran the other green thread.
        assert!(ran.load(Ordering::SeqCst));
        other.join().unwrap();
    });
    assert_eq!(
        zsync::block_on(Delayed::new(Duration::from_millis(10))),
        "done"
    );
}

#[test]
fn a_join_handle_can_be_awaited() {
    let rt = Builder::new().worker_threads(2).build().unwrap();
    let slow = rt.spawn(|| {
        zsync::thread::sleep(Duration::from_millis(20));
        7
    });
    let bad = rt.spawn(|| -> u8 { panic!("awaited panic") });
    // From a plain OS thread...
    assert_eq!(zsync::block_on(async move { slow.await.unwrap() }), 7);
    let err = zsync::block_on(bad.into_future()).unwrap_err();
    assert_eq!(err.downcast_ref::<&str>(), Some(&"awaited panic"));
    // ...and from a green thread awaiting another.
    rt.block_on(|| {
        let inner = zsync::spawn(|| "inner");
        assert_eq!(zsync::block_on(inner.into_future()).unwrap(), "inner");
    });
}

#[test]
fn block_on_is_cancellable() {
    let rt = one_worker();
    let waiting = rt.spawn(|| zsync::block_on(std::future::pending::<()>()));
    rt.block_on(|| zsync::thread::sleep(Duration::from_millis(10)));
    assert!(waiting.cancel().unwrap_err().is::<zsync::Cancelled>());
}

#[test]
fn host_names_resolve_on_the_blocking_pool() {
    one_worker().block_on(|| {
        let listener = zsync::net::TcpListener::bind("localhost:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stream = zsync::net::TcpStream::connect(("localhost", port)).unwrap();
        assert_eq!(stream.peer_addr().unwrap().port(), port);
    });
}

#[test]
fn unblock_scoped_borrows_and_shields_the_caller_until_the_job_is_done() {
    one_worker().block_on(|| {
        // Borrows, mutably, from the calling green thread's stack.
        let mut words = vec![String::from("a")];
        let n = zsync::unblock_scoped(|| {
            words.push(String::from("b"));
            words.len()
        });
        assert_eq!((n, words.len()), (2, 2));

        // A cancellation waits for the job: the job's borrow stays valid to its end.
        let finished = Arc::new(AtomicBool::new(false));
        let f2 = finished.clone();
        let handle = zsync::spawn(move || {
            let mut local = 0u64;
            zsync::unblock_scoped(|| {
                std::thread::sleep(Duration::from_millis(200));
                local += 1;
            });
            f2.store(local == 1, Ordering::SeqCst);
            zsync::thread::yield_now(); // the request is raised here
            unreachable!();
        });
        zsync::thread::sleep(Duration::from_millis(20));
        let payload = handle.cancel().unwrap_err();
        assert!(payload.is::<zsync::Cancelled>());
        assert!(finished.load(Ordering::SeqCst));

        // A panic in the job is resumed in the caller.
        let r = std::panic::catch_unwind(|| zsync::unblock_scoped(|| panic!("boom")));
        assert!(r.is_err());
    });
    // On an OS thread it runs in place.
    let mut x = 1;
    zsync::unblock_scoped(|| x += 1);
    assert_eq!(x, 2);
}

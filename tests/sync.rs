//! `zsync::sync` locks and friends: Mutex, RwLock, Condvar, Barrier, Semaphore, WaitGroup, with
//! std's semantics, on green threads and OS threads, under load and under cancellation.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::TryLockError;
use std::time::{Duration, Instant};
use zsync::sync::{Arc, Barrier, Condvar, Mutex, RwLock, RwLockWriteGuard, Semaphore, WaitGroup};
use zsync::thread;
use zsync::time::timeout;
use zsync::Cancelled;

mod common;
use common::{assert_not_impl, on_each_model, rng, runtime};

// ---- auto traits, as in std ----

#[test]
fn auto_traits_match_std() {
    fn send_sync<T: Send + Sync>() {}
    fn unwind_safe<T: std::panic::UnwindSafe + std::panic::RefUnwindSafe>() {}
    send_sync::<Mutex<Vec<u8>>>();
    send_sync::<Mutex<std::cell::Cell<u8>>>(); // Sync needs only Send, as in std
    send_sync::<RwLock<Vec<u8>>>();
    send_sync::<Condvar>();
    send_sync::<Barrier>();
    send_sync::<Semaphore>();
    send_sync::<WaitGroup>();
    fn sync<T: Sync>() {}
    sync::<zsync::sync::MutexGuard<'static, u8>>();
    sync::<zsync::sync::RwLockReadGuard<'static, u8>>();
    unwind_safe::<Mutex<std::cell::Cell<u8>>>();
    unwind_safe::<RwLock<std::cell::Cell<u8>>>();
    unwind_safe::<Condvar>();
    // Guards are not Send (they would not be in std either).
    assert_not_impl!(zsync::sync::MutexGuard<'static, u8>: Send);
    assert_not_impl!(zsync::sync::RwLockReadGuard<'static, u8>: Send);
    assert_not_impl!(zsync::sync::RwLockWriteGuard<'static, u8>: Send);
    // RwLock<Cell> is not Sync (Cell is not Sync), as in std.
    assert_not_impl!(RwLock<std::cell::Cell<u8>>: Sync);
}

// ---- Mutex ----

#[test]
fn mutex_1000_green_threads_x_1000_increments() {
    let total = runtime(2).block_on(|| {
        let counter = Arc::new(Mutex::new(0u64));
        let handles: Vec<_> = (0..1000)
            .map(|i| {
                let counter = counter.clone();
                thread::spawn(move || {
                    for k in 0..1000 {
                        *counter.lock().unwrap() += 1;
                        if (i + k) % 97 == 0 {
                            thread::yield_now(); // mix the interleavings up
                        }
                    }
                })
            })
            .collect();
        handles.into_iter().for_each(|h| h.join().unwrap());
        let total = *counter.lock().unwrap();
        total
    });
    assert_eq!(total, 1_000_000);
}

#[test]
fn mutex_shared_by_green_threads_and_os_threads() {
    let counter = Arc::new(Mutex::new(0u64));
    let rt = runtime(2);
    let os: Vec<_> = (0..2)
        .map(|_| {
            let c = counter.clone();
            std::thread::spawn(move || {
                for _ in 0..20_000 {
                    *c.lock().unwrap() += 1;
                }
            })
        })
        .collect();
    let c = counter.clone();
    rt.block_on(move || {
        let hs: Vec<_> = (0..20)
            .map(|_| {
                let c = c.clone();
                thread::spawn(move || {
                    for i in 0..2_000 {
                        let mut g = c.lock().unwrap();
                        *g += 1;
                        if i % 500 == 0 {
                            thread::yield_now(); // hold it across a switch now and then
                        }
                    }
                })
            })
            .collect();
        hs.into_iter().for_each(|h| h.join().unwrap());
    });
    os.into_iter().for_each(|h| h.join().unwrap());
    assert_eq!(*counter.lock().unwrap(), 80_000);
}

#[test]
fn mutex_poisoning_is_like_std() {
    on_each_model(|| {
        let m = Arc::new(Mutex::new(vec![1]));
        let m2 = m.clone();
        let r = thread::spawn(move || {
            let mut g = m2.lock().unwrap();
            g.push(2);
            panic!("poison");
        })
        .join();
        assert!(r.is_err());
        assert!(m.is_poisoned());
        let err = m.lock().unwrap_err();
        assert_eq!(**err.get_ref(), [1, 2]);
        let guard = err.into_inner();
        assert!(matches!(m.try_lock(), Err(TryLockError::WouldBlock)));
        drop(guard);
        assert!(matches!(m.try_lock(), Err(TryLockError::Poisoned(_))));
        assert_eq!(
            format!("{m:?}"),
            "Mutex { data: [1, 2], poisoned: true, .. }"
        );
        m.clear_poison();
        assert!(!m.is_poisoned());
        assert_eq!(*m.lock().unwrap(), [1, 2]);
        let m = Arc::try_unwrap(m).unwrap();
        assert_eq!(m.into_inner().unwrap(), [1, 2]);
    });
}

#[test]
fn mutex_surface_like_std() {
    static GLOBAL: Mutex<u32> = Mutex::new(1);
    *GLOBAL.lock().unwrap() += 1;
    assert_eq!(*GLOBAL.lock().unwrap(), 2);
    let mut m: Mutex<String> = Mutex::default();
    m.get_mut().unwrap().push('a');
    assert_eq!(format!("{}", m.lock().unwrap()), "a");
    assert_eq!(format!("{:?}", m.lock().unwrap()), "\"a\"");
    let held = m.lock().unwrap();
    assert_eq!(
        format!("{m:?}"),
        r#"Mutex { data: "<locked>", poisoned: false, .. }"#
    );
    drop(held);
    let unsized_: &Mutex<[u8]> = &Mutex::new([1u8, 2, 3]);
    assert_eq!(unsized_.lock().unwrap().len(), 3);
    let from = Mutex::from(5);
    assert_eq!(from.into_inner().unwrap(), 5);
}

#[test]
fn cancelling_a_holder_or_a_waiter_does_not_poison() {
    runtime(2).block_on(|| {
        let m = Arc::new(Mutex::new(0));
        let held = m.clone();
        let holder = thread::spawn(move || {
            let _g = held.lock().unwrap();
            thread::sleep(Duration::from_secs(3600));
        });
        while !matches!(m.try_lock(), Err(TryLockError::WouldBlock)) {
            thread::yield_now();
        }
        let waiting = m.clone();
        let waiter = thread::spawn(move || {
            *waiting.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        });
        thread::sleep(Duration::from_millis(5));
        assert!(waiter.cancel().unwrap_err().is::<Cancelled>());
        assert!(!m.is_poisoned(), "a cancelled waiter never held the lock");
        assert!(holder.cancel().unwrap_err().is::<Cancelled>());
        assert!(
            !m.is_poisoned(),
            "a cancellation is a request to stop, not a failure: it does not poison"
        );
        assert_eq!(*m.lock().unwrap(), 0);
    });
}

#[test]
fn poisoning_asks_the_green_thread_not_the_worker() {
    // One worker: a green thread parks in a destructor while it unwinds from a panic, so the
    // worker's OS thread counts as panicking; another green thread locks and unlocks meanwhile.
    runtime(1).block_on(|| {
        let m = Arc::new(Mutex::new(()));
        let (go_tx, go_rx) = zsync::sync::mpsc::channel::<()>();
        let (parked_tx, parked_rx) = zsync::sync::mpsc::channel::<()>();
        struct ParkOnDrop(
            zsync::sync::mpsc::Receiver<()>,
            zsync::sync::mpsc::Sender<()>,
        );
        impl Drop for ParkOnDrop {
            fn drop(&mut self) {
                self.1.send(()).unwrap();
                let _ = self.0.recv(); // parks mid-unwind
            }
        }
        let panicker = thread::spawn(move || {
            let _p = ParkOnDrop(go_rx, parked_tx);
            panic!("unwinding");
        });
        parked_rx.recv().unwrap();
        {
            let _g = m.lock().unwrap();
            assert!(!thread::panicking());
        }
        assert!(!m.is_poisoned());
        go_tx.send(()).unwrap();
        assert!(panicker.join().is_err());
    });
}

#[test]
fn mutex_waiters_cancelled_at_random_lose_nothing() {
    runtime(2).block_on(|| {
        let m = Arc::new(Mutex::new(0u64));
        let done = Arc::new(AtomicUsize::new(0));
        let mut next = rng(1);
        let mut handles = Vec::new();
        for _ in 0..300 {
            let (m, done) = (m.clone(), done.clone());
            handles.push(thread::spawn(move || {
                for _ in 0..20 {
                    let mut g = m.lock().unwrap_or_else(|e| e.into_inner());
                    *g += 1;
                    drop(g);
                    thread::yield_now();
                }
                done.fetch_add(1, Ordering::SeqCst);
            }));
        }
        // Cancel a third of them at random moments.
        let mut cancelled = 0;
        for (i, h) in handles.into_iter().enumerate() {
            if next(3) == 0 {
                if h.cancel().is_err() {
                    cancelled += 1;
                }
            } else {
                h.join().unwrap();
            }
            if i % 10 == 0 {
                thread::yield_now();
            }
        }
        // The lock is free and works; every thread not cancelled finished.
        m.clear_poison();
        let g = m.try_lock().expect("the mutex leaked");
        assert!(*g <= 300 * 20);
        assert_eq!(done.load(Ordering::SeqCst) + cancelled, 300);
        // And timeouts interrupt waiters too, without leaking the lock.
        drop(g);
        let holder = m.lock().unwrap();
        let m2 = m.clone();
        let r = thread::spawn(move || timeout(Duration::from_millis(5), || *m2.lock().unwrap()))
            .join()
            .unwrap();
        assert!(r.is_err());
        drop(holder);
        assert!(m.try_lock().is_ok());
    });
}

#[test]
fn mutex_hands_over_to_a_long_waiter() {
    // One busy green thread relocks in a tight loop across yields; a waiter on the other
    // worker still gets the lock (the hand-over after 1 ms of waiting).
    runtime(2).block_on(|| {
        let m = Arc::new(Mutex::new(0u32));
        let stop = Arc::new(AtomicBool::new(false));
        let (m2, stop2) = (m.clone(), stop.clone());
        let hog = thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                let _g = m2.lock().unwrap();
                std::hint::black_box(0);
            }
        });
        let started = Instant::now();
        for _ in 0..20 {
            *m.lock().unwrap() += 1;
        }
        stop.store(true, Ordering::Relaxed);
        hog.join().unwrap();
        assert_eq!(*m.lock().unwrap(), 20);
        assert!(started.elapsed() < Duration::from_secs(10));
    });
}

// ---- RwLock ----

#[test]
fn rwlock_readers_share_it() {
    runtime(2).block_on(|| {
        let lock = Arc::new(RwLock::new(7));
        // Eight readers meet at a barrier while each holds a read lock: that is only possible
        // if all eight hold it at the same time.
        let barrier = Arc::new(Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (lock, barrier) = (lock.clone(), barrier.clone());
                thread::spawn(move || {
                    let r = lock.read().unwrap();
                    barrier.wait();
                    *r
                })
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), 7);
        }
    });
}

/// Fails the whole test binary if `done` is not set within `secs` (for tests whose failure mode
/// is a hang). An OS thread, so that it runs whatever the runtime does.
fn watchdog(secs: u64, what: &'static str) -> Arc<AtomicBool> {
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    std::thread::spawn(move || {
        let start = Instant::now();
        while !d.load(Ordering::SeqCst) {
            if start.elapsed() > Duration::from_secs(secs) {
                eprintln!("watchdog: {what} did not finish in {secs} s");
                std::process::exit(101);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    done
}

#[test]
fn rwlock_writer_is_not_starved_by_readers() {
    let finished = watchdog(60, "rwlock_writer_is_not_starved_by_readers");
    runtime(2).block_on(|| {
        let lock = Arc::new(RwLock::new(0u32));
        let stop = Arc::new(AtomicBool::new(false));
        let reads = Arc::new(AtomicUsize::new(0));
        let readers: Vec<_> = (0..6)
            .map(|_| {
                let (lock, stop, reads) = (lock.clone(), stop.clone(), reads.clone());
                thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let r = lock.read().unwrap();
                        thread::yield_now(); // readers overlap all the time
                        std::hint::black_box(*r);
                        drop(r);
                        reads.fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        while reads.load(Ordering::Relaxed) < 1000 {
            thread::yield_now();
        }
        for _ in 0..10 {
            *lock.write().unwrap() += 1;
        }
        stop.store(true, Ordering::Relaxed);
        readers.into_iter().for_each(|h| h.join().unwrap());
        assert_eq!(*lock.read().unwrap(), 10);
    });
    finished.store(true, Ordering::SeqCst);
}

#[test]
fn rwlock_surface_like_std() {
    on_each_model(|| {
        static TABLE: RwLock<Vec<u8>> = RwLock::new(Vec::new());
        TABLE.write().unwrap().push(1);
        assert!(!TABLE.read().unwrap().is_empty());

        let lock = Arc::new(RwLock::new(1));
        let r = lock.read().unwrap();
        assert!(lock.try_read().is_ok());
        assert!(matches!(lock.try_write(), Err(TryLockError::WouldBlock)));
        assert_eq!(
            format!("{lock:?}"),
            "RwLock { data: 1, poisoned: false, .. }"
        );
        drop(r);
        let w = lock.write().unwrap();
        assert!(matches!(lock.try_read(), Err(TryLockError::WouldBlock)));
        assert_eq!(
            format!("{lock:?}"),
            "RwLock { data: <locked>, poisoned: false, .. }"
        );
        let r = RwLockWriteGuard::downgrade(w);
        assert_eq!(*r, 1);
        assert!(lock.try_read().is_ok());
        assert!(lock.try_write().is_err());
        drop(r);

        let l2 = lock.clone();
        let _ = thread::spawn(move || {
            let _r = l2.read().unwrap();
            panic!("a reader does not poison");
        })
        .join();
        assert!(!lock.is_poisoned());
        let l2 = lock.clone();
        let _ = thread::spawn(move || {
            let _w = l2.write().unwrap();
            panic!("a writer does");
        })
        .join();
        assert!(lock.is_poisoned());
        assert!(lock.read().is_err());
        assert!(matches!(lock.try_write(), Err(TryLockError::Poisoned(_))));
        lock.clear_poison();
        let mut lock = Arc::try_unwrap(lock).unwrap();
        *lock.get_mut().unwrap() = 5;
        assert_eq!(lock.into_inner().unwrap(), 5);
        assert_eq!(*RwLock::<u8>::default().read().unwrap(), 0);
        assert_eq!(*RwLock::from(3).read().unwrap(), 3);
    });
}

#[test]
fn rwlock_waiters_cancelled_at_random_lose_nothing() {
    runtime(2).block_on(|| {
        let lock = Arc::new(RwLock::new(0u64));
        let mut next = rng(2);
        let handles: Vec<_> = (0..200)
            .map(|i| {
                let lock = lock.clone();
                thread::spawn(move || {
                    for _ in 0..10 {
                        if i % 4 == 0 {
                            *lock.write().unwrap_or_else(|e| e.into_inner()) += 1;
                        } else {
                            let r = lock.read().unwrap_or_else(|e| e.into_inner());
                            thread::yield_now();
                            drop(r);
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            if next(3) == 0 {
                let _ = h.cancel();
            } else {
                h.join().unwrap();
            }
        }
        lock.clear_poison();
        assert!(lock.try_write().is_ok(), "the lock leaked");
    });
}

// ---- Condvar ----

#[test]
fn condvar_notify_all_wakes_1000_waiters() {
    runtime(2).block_on(|| {
        let state = Arc::new((Mutex::new((false, 0usize)), Condvar::new()));
        let handles: Vec<_> = (0..1000)
            .map(|_| {
                let state = state.clone();
                thread::spawn(move || {
                    let (m, cv) = &*state;
                    let mut g = m.lock().unwrap();
                    g.1 += 1;
                    if g.1 == 1000 {
                        cv.notify_all(); // tell the main thread everybody waits
                    }
                    let _g = cv.wait_while(g, |s| !s.0).unwrap();
                })
            })
            .collect();
        let (m, cv) = &*state;
        let mut g = cv.wait_while(m.lock().unwrap(), |s| s.1 < 1000).unwrap();
        g.0 = true;
        drop(g);
        cv.notify_all();
        handles.into_iter().for_each(|h| h.join().unwrap());
    });
}

#[test]
fn condvar_notify_one_wakes_one_at_a_time() {
    on_each_model(|| {
        let state = Arc::new((Mutex::new(0u32), Condvar::new()));
        let woken = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let (state, woken) = (state.clone(), woken.clone());
                thread::spawn(move || {
                    let (m, cv) = &*state;
                    let mut tokens = cv.wait_while(m.lock().unwrap(), |t| *t == 0).unwrap();
                    *tokens -= 1;
                    woken.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        let (m, cv) = &*state;
        for round in 1..=4 {
            *m.lock().unwrap() += 1;
            cv.notify_one();
            let start = Instant::now();
            while woken.load(Ordering::SeqCst) < round {
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "a notify_one got lost"
                );
                thread::yield_now();
            }
        }
        handles.into_iter().for_each(|h| h.join().unwrap());
        assert_eq!(*m.lock().unwrap(), 0);
    });
}

#[test]
fn condvar_timeouts() {
    on_each_model(|| {
        let m = Mutex::new(0);
        let cv = Condvar::new();
        let start = Instant::now();
        let (g, r) = cv
            .wait_timeout(m.lock().unwrap(), Duration::from_millis(10))
            .unwrap();
        assert!(r.timed_out());
        assert!(start.elapsed() >= Duration::from_millis(10));
        let (g, r) = cv
            .wait_timeout_while(g, Duration::from_millis(5), |v| *v == 0)
            .unwrap();
        assert!(r.timed_out());
        let (_g, r) = cv
            .wait_timeout_while(g, Duration::from_millis(5), |v| *v != 0)
            .unwrap();
        assert!(!r.timed_out());
        assert_eq!(format!("{cv:?}"), "Condvar { .. }");
    });
    // A notification before the deadline ends the wait early.
    runtime(2).block_on(|| {
        let state = Arc::new((Mutex::new(false), Condvar::new()));
        let s = state.clone();
        let h = thread::spawn(move || {
            thread::sleep(Duration::from_millis(5));
            *s.0.lock().unwrap() = true;
            s.1.notify_one();
        });
        let (g, r) = state
            .1
            .wait_timeout_while(state.0.lock().unwrap(), Duration::from_secs(30), |v| !*v)
            .unwrap();
        assert!(*g && !r.timed_out());
        drop(g);
        h.join().unwrap();
    });
}

#[test]
fn condvar_wait_returns_poison() {
    let state = Arc::new((Mutex::new(false), Condvar::new()));
    let s = state.clone();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let h = std::thread::spawn(move || {
        let g = s.0.lock().unwrap();
        ready_tx.send(()).unwrap(); // the poisoner can only lock once this waits
        let g = s.1.wait_while(g, |v| !*v);
        g.is_err()
    });
    ready_rx.recv().unwrap();
    let s = state.clone();
    let _ = std::thread::spawn(move || {
        let mut g = s.0.lock().unwrap();
        *g = true;
        s.1.notify_all();
        panic!("poison while the other waits");
    })
    .join();
    assert!(h.join().unwrap(), "the waiter saw the poison");
}

#[test]
fn condvar_waiters_cancelled_pass_their_notification_on() {
    // A queue of jobs guarded by a mutex; consumers wait on a condvar; half of the consumers
    // are cancelled at random while the producer notifies one per job. Every job still gets
    // consumed by the survivors.
    runtime(2).block_on(|| {
        let state = Arc::new((Mutex::new(Vec::<u32>::new()), Condvar::new()));
        let consumed = Arc::new(AtomicUsize::new(0));
        let consumers: Vec<_> = (0..40)
            .map(|_| {
                let (state, consumed) = (state.clone(), consumed.clone());
                thread::spawn(move || loop {
                    let (m, cv) = &*state;
                    let mut q = cv
                        .wait_while(m.lock().unwrap_or_else(|e| e.into_inner()), |q| {
                            q.is_empty()
                        })
                        .unwrap_or_else(|e| e.into_inner());
                    if q.pop() == Some(u32::MAX) {
                        q.push(u32::MAX); // the end marker stays for the others
                        cv.notify_one();
                        return;
                    }
                    drop(q);
                    consumed.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        let mut next = rng(3);
        let mut survivors = Vec::new();
        for (i, h) in consumers.into_iter().enumerate() {
            let (m, cv) = &*state;
            for j in 0..25 {
                m.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(i as u32 * 100 + j);
                cv.notify_one();
            }
            if i % 2 == 0 && next(2) == 0 {
                let _ = h.cancel();
            } else {
                survivors.push(h);
            }
        }
        // Wait until every job is consumed, then stop the survivors.
        let start = Instant::now();
        loop {
            let left = state.0.lock().unwrap_or_else(|e| e.into_inner()).len();
            if left == 0 {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{left} jobs stuck"
            );
            thread::sleep(Duration::from_millis(1));
        }
        let (m, cv) = &*state;
        m.lock().unwrap_or_else(|e| e.into_inner()).push(u32::MAX);
        cv.notify_one();
        survivors.into_iter().for_each(|h| h.join().unwrap());
        assert!(consumed.load(Ordering::SeqCst) <= 1000);
    });
}

// ---- Barrier ----

#[test]
fn barrier_has_exactly_one_leader_per_round() {
    runtime(2).block_on(|| {
        let barrier = Arc::new(Barrier::new(100));
        let leaders = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..100)
            .map(|_| {
                let (barrier, leaders) = (barrier.clone(), leaders.clone());
                thread::spawn(move || {
                    for _ in 0..5 {
                        if barrier.wait().is_leader() {
                            leaders.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
        handles.into_iter().for_each(|h| h.join().unwrap());
        assert_eq!(leaders.load(Ordering::SeqCst), 5);
    });
    // Across green threads and OS threads.
    let barrier = Arc::new(Barrier::new(4));
    let os: Vec<_> = (0..2)
        .map(|_| {
            let b = barrier.clone();
            std::thread::spawn(move || b.wait().is_leader())
        })
        .collect();
    let b = barrier.clone();
    let green: Vec<_> = runtime(1).block_on(move || {
        let hs: Vec<_> = (0..2)
            .map(|_| {
                let b = b.clone();
                thread::spawn(move || b.wait().is_leader())
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let all: Vec<bool> = os
        .into_iter()
        .map(|h| h.join().unwrap())
        .chain(green)
        .collect();
    assert_eq!(all.iter().filter(|l| **l).count(), 1);
    assert_eq!(
        format!("{:?}", Barrier::new(1).wait()),
        "BarrierWaitResult { is_leader: true }"
    );
}

// ---- Semaphore ----

#[test]
fn semaphore_is_never_exceeded() {
    runtime(2).block_on(|| {
        let sem = Arc::new(Semaphore::new(3));
        let inside = Arc::new(AtomicUsize::new(0));
        let max = Arc::new(AtomicUsize::new(0));
        // All start together, so that they contend even if spawning is slow.
        let start = Arc::new(Barrier::new(300));
        let handles: Vec<_> = (0..300)
            .map(|_| {
                let (sem, inside, max) = (sem.clone(), inside.clone(), max.clone());
                let start = start.clone();
                thread::spawn(move || {
                    start.wait();
                    for _ in 0..10 {
                        let _p = sem.acquire();
                        let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                        max.fetch_max(now, Ordering::SeqCst);
                        thread::yield_now();
                        inside.fetch_sub(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        handles.into_iter().for_each(|h| h.join().unwrap());
        // (Not `== 3`: a permit handed to a waiter is in transit until that waiter runs.)
        assert!(max.load(Ordering::SeqCst) <= 3);
        assert_eq!(sem.available_permits(), 3);
    });
}

#[test]
fn semaphore_surface() {
    on_each_model(|| {
        let sem = Semaphore::new(1);
        let p = sem.try_acquire().unwrap();
        assert!(sem.try_acquire().is_none());
        assert!(sem.acquire_timeout(Duration::from_millis(2)).is_none());
        drop(p);
        assert_eq!(sem.available_permits(), 1);
        sem.add_permits(2);
        let ps: Vec<_> = (0..3).map(|_| sem.acquire()).collect();
        assert_eq!(sem.available_permits(), 0);
        ps.into_iter().next().unwrap().forget();
        assert_eq!(sem.available_permits(), 2);
    });
}

#[test]
fn semaphore_waiters_cancelled_or_timed_out_lose_no_permit() {
    runtime(2).block_on(|| {
        let sem = Arc::new(Semaphore::new(2));
        let mut next = rng(4);
        let handles: Vec<_> = (0..400)
            .map(|i| {
                let sem = sem.clone();
                thread::spawn(move || {
                    for _ in 0..5 {
                        if i % 3 == 0 {
                            let _ = timeout(Duration::from_micros(200), || {
                                let _p = sem.acquire();
                                thread::yield_now();
                            });
                        } else if let Some(p) = sem.acquire_timeout(Duration::from_micros(300)) {
                            thread::yield_now();
                            drop(p);
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            if next(4) == 0 {
                let _ = h.cancel();
            } else {
                h.join().unwrap();
            }
        }
        assert_eq!(sem.available_permits(), 2, "a permit was lost or made up");
        let _a = sem.try_acquire().unwrap();
        let _b = sem.try_acquire().unwrap();
    });
}

// ---- WaitGroup ----

#[test]
fn wait_group_waits_for_every_member() {
    on_each_model(|| {
        let wg = WaitGroup::new();
        let done = Arc::new(AtomicUsize::new(0));
        for _ in 0..50 {
            let (member, done) = (wg.clone(), done.clone());
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(1));
                done.fetch_add(1, Ordering::SeqCst);
                drop(member);
            });
        }
        assert!(format!("{wg:?}").starts_with("WaitGroup { count: "));
        wg.wait();
        assert_eq!(done.load(Ordering::SeqCst), 50);
        WaitGroup::default().wait();
    });
}

// ---- re-exports ----

#[test]
fn std_reexports_are_std_types() {
    let _: std::sync::Arc<u8> = zsync::sync::Arc::new(1);
    static ONCE: zsync::sync::Once = zsync::sync::Once::new();
    ONCE.call_once(|| {});
    static CELL: zsync::sync::OnceLock<u8> = zsync::sync::OnceLock::new();
    assert_eq!(*CELL.get_or_init(|| 3), 3);
    static LAZY: zsync::sync::LazyLock<u8> = zsync::sync::LazyLock::new(|| 4);
    assert_eq!(*LAZY, 4);
    let weak: zsync::sync::Weak<u8> = zsync::sync::Weak::new();
    assert!(weak.upgrade().is_none());
    let err: std::sync::PoisonError<u8> = zsync::sync::PoisonError::new(1);
    assert_eq!(err.to_string(), "poisoned lock: another task failed inside");
}

/// A waiter whose `timeout()` expires (or that is cancelled) before its round is released takes
/// its arrival back: a retry counts once, and the round waits for the thread that is missing.
/// It counted twice: the retry alone released a barrier for two.
#[test]
fn a_barrier_waiter_that_gives_up_no_longer_counts() {
    on_each_model(|| {
        let barrier = Arc::new(Barrier::new(2));
        let gave_up = timeout(Duration::from_millis(10), || barrier.wait());
        assert!(gave_up.is_err());
        let retried = timeout(Duration::from_millis(10), || barrier.wait());
        assert!(retried.is_err(), "a retry alone released the round");
        // Two real arrivals release it, with one leader.
        let b = barrier.clone();
        let other = thread::spawn(move || b.wait().is_leader());
        let me = barrier.wait().is_leader();
        assert!(me ^ other.join().unwrap());
        // A cancelled waiter too.
        let b = barrier.clone();
        let waiting = thread::spawn(move || {
            b.wait();
        });
        thread::sleep(Duration::from_millis(5));
        assert!(waiting.cancel().unwrap_err().is::<Cancelled>());
        let retried = timeout(Duration::from_millis(10), || barrier.wait());
        assert!(retried.is_err(), "the cancelled waiter still counted");
    });
}

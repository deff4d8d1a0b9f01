//! The behaviours std's own tests check for `Mutex`, `RwLock`, `Condvar`, `Barrier` and
//! `OnceLock` (library/std/tests/sync/), restated for zsync. Each body runs on a plain OS
//! thread, inside a green-thread runtime and inside an OS-threads runtime (`on_each_model`);
//! threads spawned by a body are zsync threads.
//!
//! Left out, because std only has them behind unstable features: mapped guards
//! (`MutexGuard::map`, `RwLockReadGuard::map`, ...), `get_cloned`/`set`/`replace`, the
//! `nonpoison` locks and `OnceLock::get_or_try_init`. The read guard's covariance is checked
//! at compile time in tests/std_traits.rs.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::TryLockError;
use std::time::Duration;
use zsync::sync::mpsc::{channel, TryRecvError};
use zsync::sync::{
    Arc, Barrier, Condvar, Mutex, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard,
};
use zsync::thread;

mod common;
use common::{on_each_model, rng, DropCounter};

/// A value without `Copy` whose drops are counted.
#[derive(Debug, PartialEq, Eq)]
struct Token(u32);

// ---- Mutex ----

#[test]
fn mutex_lock_try_lock_and_relock() {
    on_each_model(|| {
        let m = Mutex::new(Vec::<u8>::new());
        m.lock().unwrap().push(1);
        m.lock().unwrap().push(2);
        m.try_lock().unwrap().push(3);
        assert_eq!(*m.lock().unwrap(), [1, 2, 3]);
    });
}

/// `Debug` of a mutex, free and held, is std's word for word (held: `data: "<locked>"`, the
/// quotes included).
#[test]
fn mutex_debug_is_std_s_free_and_while_locked() {
    on_each_model(|| {
        let ours = Mutex::new(vec![1, 2]);
        let theirs = std::sync::Mutex::new(vec![1, 2]);
        assert_eq!(format!("{ours:?}"), format!("{theirs:?}"));
        let (_held, _also_held) = (ours.lock().unwrap(), theirs.lock().unwrap());
        assert_eq!(format!("{ours:?}"), format!("{theirs:?}"));
    });
}

#[test]
fn mutex_into_inner_and_get_mut_move_the_value_out_once() {
    on_each_model(|| {
        let m = Mutex::new(Token(10));
        assert_eq!(m.into_inner().unwrap(), Token(10));

        let drops = Arc::new(AtomicUsize::new(0));
        let m = Mutex::new(DropCounter(drops.clone()));
        let inner = m.into_inner().unwrap();
        assert_eq!(
            drops.load(Ordering::SeqCst),
            0,
            "into_inner must not drop the value"
        );
        drop(inner);
        assert_eq!(drops.load(Ordering::SeqCst), 1);

        let mut m = Mutex::new(Token(1));
        *m.get_mut().unwrap() = Token(2);
        assert_eq!(m.into_inner().unwrap(), Token(2));
    });
}

#[test]
fn mutex_of_mutex_across_threads() {
    on_each_model(|| {
        let inner = Arc::new(Mutex::new(5));
        let outer = Arc::new(Mutex::new(inner));
        let (tx, rx) = channel();
        thread::spawn(move || {
            let outer_guard = outer.lock().unwrap();
            let inner_guard = outer_guard.lock().unwrap();
            tx.send(*inner_guard).unwrap();
        });
        assert_eq!(rx.recv().unwrap(), 5);
    });
}

#[test]
fn mutex_of_unsized_slice() {
    on_each_model(|| {
        let m: &Mutex<[u32]> = &Mutex::new([7, 8, 9]);
        {
            let mut g = m.lock().unwrap();
            g[0] = 1;
            g[2] = 3;
        }
        assert_eq!(&*m.lock().unwrap(), &[1, 8, 3][..]);
    });
}

/// Locks, then panics inside `catch_unwind`, three times: the mutex is poisoned after the first
/// and can still be locked (with `Err`) every time.
#[test]
fn mutex_survives_repeated_panics_while_held() {
    on_each_model(|| {
        let m = Mutex::new(0);
        for round in 0..3 {
            let caught = panic::catch_unwind(AssertUnwindSafe(|| {
                let mut g = m.lock().unwrap_or_else(|e| e.into_inner());
                *g += 1;
                panic!("round {round}");
            }));
            assert!(caught.is_err());
            assert!(m.is_poisoned());
        }
        assert_eq!(*m.lock().unwrap_err().into_inner(), 3);
    });
}

/// A destructor that runs while its thread unwinds can still lock the mutex (it was not held by
/// the panic, so it is not poisoned either).
#[test]
fn mutex_is_usable_from_a_destructor_during_unwinding() {
    on_each_model(|| {
        struct BumpOnDrop(Arc<Mutex<u32>>);
        impl Drop for BumpOnDrop {
            fn drop(&mut self) {
                *self.0.lock().unwrap() += 1;
            }
        }
        let m = Arc::new(Mutex::new(1));
        let m2 = m.clone();
        let joined = thread::spawn(move || {
            let _bump = BumpOnDrop(m2);
            panic!("unwind through the destructor");
        })
        .join();
        assert!(joined.is_err());
        assert_eq!(*m.lock().unwrap(), 2);
        assert!(!m.is_poisoned());
    });
}

/// Poisons `m` by panicking while holding it.
fn poison_mutex<T>(m: &Mutex<T>) {
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        let _g = m.lock().unwrap();
        panic!("poison it");
    }));
    assert!(r.is_err());
    assert!(m.is_poisoned());
}

#[test]
fn poisoned_mutex_still_hands_out_its_value() {
    on_each_model(|| {
        let m = Mutex::new(Token(4));
        poison_mutex(&m);
        match m.into_inner() {
            Err(e) => assert_eq!(e.into_inner(), Token(4)),
            Ok(v) => panic!("into_inner of a poisoned mutex gave Ok({v:?})"),
        }
        let mut m = Mutex::new(Token(5));
        poison_mutex(&m);
        match m.get_mut() {
            Err(e) => assert_eq!(*e.into_inner(), Token(5)),
            Ok(v) => panic!("get_mut of a poisoned mutex gave Ok({v:?})"),
        }
    });
}

/// A failed assertion in another thread, while it holds the lock, poisons the mutex.
#[test]
fn mutex_poisoned_by_a_failing_thread() {
    on_each_model(|| {
        let m = Arc::new(Mutex::new(1));
        assert!(!m.is_poisoned());
        let m2 = m.clone();
        let joined = thread::spawn(move || {
            let g = m2.lock().unwrap();
            assert_eq!(*g, 2, "deliberate failure");
        })
        .join();
        assert!(joined.is_err());
        assert!(m.lock().is_err());
        assert!(m.is_poisoned());
    });
}

// ---- RwLock ----

#[test]
fn rwlock_read_write_and_two_readers() {
    on_each_model(|| {
        let l = RwLock::new(0);
        drop(l.read().unwrap());
        *l.write().unwrap() += 1;
        let (a, b) = (l.read().unwrap(), l.read().unwrap());
        assert_eq!(*a + *b, 2);
        drop((a, b));
        *l.write().unwrap() += 1;
        assert_eq!(*l.read().unwrap(), 2);
    });
}

/// Ten threads take the lock a thousand times each, writing with probability 1/10.
#[test]
fn rwlock_random_readers_and_writers() {
    on_each_model(|| {
        const THREADS: u64 = 10;
        const ROUNDS: usize = 1000;
        let lock = Arc::new(RwLock::new(0_u64));
        let handles: Vec<_> = (0..THREADS)
            .map(|seed| {
                let lock = lock.clone();
                thread::spawn(move || {
                    let mut next = rng(seed + 1);
                    let mut writes = 0;
                    for _ in 0..ROUNDS {
                        if next(THREADS) == 0 {
                            *lock.write().unwrap() += 1;
                            writes += 1;
                        } else {
                            drop(lock.read().unwrap());
                        }
                    }
                    writes
                })
            })
            .collect();
        let writes: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(*lock.read().unwrap(), writes);
    });
}

/// A writer breaks the invariant (value >= 0) inside its critical section and yields there;
/// readers must never see the broken state.
#[test]
fn rwlock_readers_never_see_a_writer_in_progress() {
    on_each_model(|| {
        let lock = Arc::new(RwLock::new(0_i32));
        let writer = {
            let lock = lock.clone();
            thread::spawn(move || {
                let mut g = lock.write().unwrap();
                for _ in 0..10 {
                    let kept = *g;
                    *g = -1;
                    thread::yield_now();
                    *g = kept + 1;
                }
            })
        };
        let readers: Vec<_> = (0..5)
            .map(|_| {
                let lock = lock.clone();
                thread::spawn(move || assert!(*lock.read().unwrap() >= 0))
            })
            .collect();
        for r in readers {
            r.join().unwrap();
        }
        writer.join().unwrap();
        assert_eq!(*lock.read().unwrap(), 10);
    });
}

#[test]
fn rwlock_is_writable_from_a_destructor_during_unwinding() {
    on_each_model(|| {
        struct BumpOnDrop(Arc<RwLock<i32>>);
        impl Drop for BumpOnDrop {
            fn drop(&mut self) {
                *self.0.write().unwrap() += 1;
            }
        }
        let l = Arc::new(RwLock::new(1));
        let l2 = l.clone();
        let joined = thread::spawn(move || {
            let _bump = BumpOnDrop(l2);
            panic!("unwind through the destructor");
        })
        .join();
        assert!(joined.is_err());
        assert_eq!(*l.read().unwrap(), 2);
    });
}

#[test]
fn rwlock_of_unsized_slice_into_inner_and_get_mut() {
    on_each_model(|| {
        let l: &RwLock<[u32]> = &RwLock::new([7, 8, 9]);
        {
            let mut g = l.write().unwrap();
            g[0] = 1;
            g[2] = 3;
        }
        assert_eq!(&*l.read().unwrap(), &[1, 8, 3][..]);

        assert_eq!(RwLock::new(Token(3)).into_inner().unwrap(), Token(3));
        let drops = Arc::new(AtomicUsize::new(0));
        let inner = RwLock::new(DropCounter(drops.clone()))
            .into_inner()
            .unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        drop(inner);
        assert_eq!(drops.load(Ordering::SeqCst), 1);

        let mut l = RwLock::new(Token(1));
        *l.get_mut().unwrap() = Token(2);
        assert_eq!(l.into_inner().unwrap(), Token(2));
    });
}

#[test]
fn rwlock_downgrade_keeps_writers_out() {
    on_each_model(|| {
        // Plain downgrade.
        let l = RwLock::new(());
        let r = RwLockWriteGuard::downgrade(l.write().unwrap());
        assert!(matches!(l.try_write(), Err(TryLockError::WouldBlock)));
        assert!(l.try_read().is_ok());
        drop(r);

        // Twenty writers increment a hundred times each and check, after downgrading, that
        // the value is still the one they wrote.
        const WRITERS: usize = 20;
        const ROUNDS: usize = 100;
        let l = Arc::new(RwLock::new(0));
        let handles: Vec<_> = (0..WRITERS)
            .map(|_| {
                let l = l.clone();
                thread::spawn(move || {
                    for _ in 0..ROUNDS {
                        let mut w = l.write().unwrap();
                        *w += 1;
                        let wrote = *w;
                        let r = RwLockWriteGuard::downgrade(w);
                        assert_eq!(*r, wrote);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(*l.read().unwrap(), WRITERS * ROUNDS);
    });
}

/// Writers queue up behind the main thread's write lock; once it is downgraded, none of them
/// may get in before the main thread has read its own value.
#[test]
fn rwlock_downgrade_is_atomic() {
    on_each_model(|| {
        const WRITERS: i32 = 20;
        let l = Arc::new(RwLock::new(0));
        let mut w = l.write().unwrap();
        let handles: Vec<_> = (0..WRITERS)
            .map(|_| {
                let l = l.clone();
                thread::spawn(move || *l.write().unwrap() += 1)
            })
            .collect();
        thread::sleep(Duration::from_millis(40)); // let them queue
        *w = -1;
        let r = RwLockWriteGuard::downgrade(w);
        assert_eq!(
            *r, -1,
            "a writer got in between the write and the read lock"
        );
        drop(r);
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(*l.read().unwrap(), WRITERS - 1);
    });
}

#[test]
fn rwlock_try_write_fails_while_read_locked() {
    on_each_model(|| {
        let l = RwLock::new(0);
        let r = l.read().unwrap();
        assert!(matches!(l.try_write(), Err(TryLockError::WouldBlock)));
        drop(r);
        assert!(l.try_write().is_ok());
    });
}

fn poison_rwlock<T>(l: &RwLock<T>) {
    let r = panic::catch_unwind(AssertUnwindSafe(|| {
        let _w = l.write().unwrap();
        panic!("poison it");
    }));
    assert!(r.is_err());
    assert!(l.is_poisoned());
}

#[test]
fn poisoned_rwlock_still_hands_out_its_value() {
    on_each_model(|| {
        let l = RwLock::new(Token(4));
        poison_rwlock(&l);
        match l.into_inner() {
            Err(e) => assert_eq!(e.into_inner(), Token(4)),
            Ok(v) => panic!("into_inner of a poisoned lock gave Ok({v:?})"),
        }
        let mut l = RwLock::new(Token(5));
        poison_rwlock(&l);
        match l.get_mut() {
            Err(e) => assert_eq!(*e.into_inner(), Token(5)),
            Ok(v) => panic!("get_mut of a poisoned lock gave Ok({v:?})"),
        }
    });
}

/// A panic while write-locked poisons (for readers and writers); one while read-locked does not.
#[test]
fn rwlock_poisoning_by_writers_only() {
    on_each_model(|| {
        fn panics_holding(l: &Arc<RwLock<i32>>, write: bool) {
            let l = l.clone();
            let joined = thread::spawn(move || {
                if write {
                    let _w = l.write().unwrap();
                    panic!("while writing");
                } else {
                    let _r = l.read().unwrap();
                    panic!("while reading");
                }
            })
            .join();
            assert!(joined.is_err());
        }
        // write, then read
        let l = Arc::new(RwLock::new(1));
        panics_holding(&l, true);
        assert!(l.read().is_err());
        // write, then write
        let l = Arc::new(RwLock::new(1));
        assert!(!l.is_poisoned());
        panics_holding(&l, true);
        assert!(l.write().is_err());
        assert!(l.is_poisoned());
        // read, then read
        let l = Arc::new(RwLock::new(1));
        panics_holding(&l, false);
        assert_eq!(*l.read().unwrap(), 1);
        // read, then write
        let l = Arc::new(RwLock::new(1));
        panics_holding(&l, false);
        assert_eq!(*l.write().unwrap(), 1);
    });
}

/// std's check that a read guard is covariant, as a running test (the compile-time forms are in
/// tests/std_traits.rs).
#[test]
fn rwlock_read_guard_coerces_to_a_shorter_payload_lifetime() {
    fn use_both<'a>(g: RwLockReadGuard<'_, &'a i32>, other: &'a i32) -> i32 {
        **g + *other
    }
    on_each_model(|| {
        let outer = 5;
        let l = RwLock::new(&outer);
        {
            let inner = 6;
            assert_eq!(use_both(l.read().unwrap(), &inner), 11);
        }
    });
}

// ---- Condvar ----

#[test]
fn condvar_notify_without_waiters_is_a_no_op() {
    on_each_model(|| {
        let c = Condvar::new();
        c.notify_one();
        c.notify_all();
    });
}

/// The main thread waits holding nothing but the condvar; the other thread can only notify
/// after the wait released the mutex.
#[test]
fn condvar_notify_one_wakes_the_waiter() {
    on_each_model(|| {
        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let g = pair.0.lock().unwrap();
        let pair2 = pair.clone();
        let _t = thread::spawn(move || {
            *pair2.0.lock().unwrap() = true;
            pair2.1.notify_one();
        });
        let mut g = pair.1.wait(g).unwrap();
        while !*g {
            g = pair.1.wait(g).unwrap();
        }
    });
}

#[test]
fn condvar_notify_all_wakes_every_waiter() {
    on_each_model(|| {
        const N: usize = 10;
        let shared = Arc::new((Mutex::new(0), Condvar::new()));
        let (tx, rx) = channel();
        for _ in 0..N {
            let shared = shared.clone();
            let tx = tx.clone();
            thread::spawn(move || {
                let (lock, cvar) = &*shared;
                let mut count = lock.lock().unwrap();
                *count += 1;
                if *count == N {
                    tx.send(()).unwrap(); // everybody has arrived
                }
                while *count != 0 {
                    count = cvar.wait(count).unwrap();
                }
                tx.send(()).unwrap();
            });
        }
        drop(tx);
        rx.recv().unwrap();
        let (lock, cvar) = &*shared;
        *lock.lock().unwrap() = 0;
        cvar.notify_all();
        for _ in 0..N {
            rx.recv().unwrap();
        }
    });
}

/// The child waits for the parent to hold the lock (told over a channel), sets the flag and
/// notifies; the parent waits in a loop for it.
#[test]
fn condvar_parent_waits_for_child_flag() {
    on_each_model(|| {
        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let pair2 = pair.clone();
        let (tx, rx) = channel();
        let _t = thread::spawn(move || {
            rx.recv().unwrap();
            *pair2.0.lock().unwrap() = true;
            pair2.1.notify_one();
        });
        let mut g = pair.0.lock().unwrap();
        tx.send(()).unwrap();
        assert!(!*g);
        while !*g {
            g = pair.1.wait(g).unwrap();
        }
    });
}

#[test]
fn condvar_wait_while_returns_once_the_condition_is_false() {
    on_each_model(|| {
        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let pair2 = pair.clone();
        thread::spawn(move || {
            *pair2.0.lock().unwrap() = true;
            pair2.1.notify_one();
        });
        let g = pair
            .1
            .wait_while(pair.0.lock().unwrap(), |started| !*started)
            .unwrap();
        assert!(*g);
    });
}

#[test]
fn condvar_wait_timeout_times_out() {
    on_each_model(|| {
        let m = Mutex::new(());
        let c = Condvar::new();
        // A spurious wake-up is allowed: retry until one wait reports a timeout.
        loop {
            let (g, res) = c
                .wait_timeout(m.lock().unwrap(), Duration::from_millis(1))
                .unwrap();
            drop(g);
            if res.timed_out() {
                break;
            }
        }
        // wait_timeout_while never returns early: it must time out.
        let (g, res) = c
            .wait_timeout_while(m.lock().unwrap(), Duration::from_millis(1), |_| true)
            .unwrap();
        drop(g);
        assert!(res.timed_out());
        // A condition that is already false returns at once, not timed out, even with no time.
        let (g, res) = c
            .wait_timeout_while(m.lock().unwrap(), Duration::ZERO, |_| false)
            .unwrap();
        drop(g);
        assert!(!res.timed_out());
    });
}

/// A timeout of u64::MAX milliseconds must neither overflow nor time out: the notification
/// comes first.
fn condvar_enormous_timeout_body() {
    {
        let forever = Duration::from_millis(u64::MAX);
        // wait_timeout_while
        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let g = pair.0.lock().unwrap();
        let pair2 = pair.clone();
        let t = thread::spawn(move || {
            let mut flag = pair2.0.lock().unwrap();
            thread::sleep(Duration::from_millis(1));
            *flag = true;
            pair2.1.notify_one();
        });
        let (g, res) = pair.1.wait_timeout_while(g, forever, |set| !*set).unwrap();
        assert!(!res.timed_out());
        assert!(*g);
        drop(g);
        t.join().unwrap();

        // wait_timeout
        let shared = Arc::new((Mutex::new(()), Condvar::new()));
        loop {
            let g = shared.0.lock().unwrap();
            let notified = Arc::new(AtomicBool::new(false));
            let (shared2, notified2) = (shared.clone(), notified.clone());
            let t = thread::spawn(move || {
                let _g = shared2.0.lock().unwrap();
                thread::sleep(Duration::from_millis(1));
                notified2.store(true, Ordering::Relaxed);
                shared2.1.notify_one();
            });
            let (g, res) = shared.1.wait_timeout(g, forever).unwrap();
            assert!(!res.timed_out());
            drop(g);
            t.join().unwrap();
            if notified.load(Ordering::Relaxed) {
                break; // else a spurious wake-up: again
            }
        }
    }
}

#[test]
fn condvar_wait_timeout_with_an_enormous_timeout_is_woken() {
    condvar_enormous_timeout_body();
    use zsync::runtime::{Builder, Flavor};
    Builder::new()
        .worker_threads(2)
        .flavor(Flavor::OsThreads)
        .build()
        .unwrap()
        .block_on(condvar_enormous_timeout_body);
}

/// On green threads: a deadline beyond the timer wheel's span (2^36 ms, about 795 days) once sent
/// a worker into an endless loop in `TimerWheel::advance`, so the notifying thread's 1 ms sleep
/// never ended; far deadlines now wait in the wheel's overflow list.
#[test]
fn condvar_wait_timeout_with_an_enormous_timeout_is_woken_on_green_threads() {
    common::runtime(2).block_on(condvar_enormous_timeout_body);
}

// ---- Barrier ----

/// Nine threads wait at a barrier of ten: nobody gets through until the tenth arrives, and
/// exactly one of the ten is the leader.
#[test]
fn barrier_releases_all_with_one_leader() {
    on_each_model(|| {
        const N: usize = 10;
        let barrier = Arc::new(Barrier::new(N));
        let (tx, rx) = channel();
        for _ in 0..N - 1 {
            let barrier = barrier.clone();
            let tx = tx.clone();
            thread::spawn(move || tx.send(barrier.wait().is_leader()).unwrap());
        }
        // Give the others time to arrive: still nobody may have passed.
        thread::sleep(Duration::from_millis(10));
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
        let mut leaders = usize::from(barrier.wait().is_leader());
        for _ in 0..N - 1 {
            leaders += usize::from(rx.recv().unwrap());
        }
        assert_eq!(leaders, 1);
    });
}

// ---- OnceLock (std's own type, used from green threads) ----

#[test]
fn once_lock_set_by_another_thread_is_seen() {
    on_each_model(|| {
        let cell = Arc::new(OnceLock::new());
        assert!(cell.get().is_none());
        let cell2 = cell.clone();
        thread::spawn(move || {
            cell2.get_or_init(|| 92);
            assert_eq!(cell2.get(), Some(&92));
        })
        .join()
        .unwrap();
        // Already set: the initialiser is not run.
        cell.get_or_init(|| panic!("must not run"));
        assert_eq!(cell.get(), Some(&92));
    });
}

#[test]
fn once_lock_value_is_dropped_once_where_the_cell_is() {
    on_each_model(|| {
        let drops = Arc::new(AtomicUsize::new(0));
        let cell = OnceLock::new();
        let drops2 = drops.clone();
        thread::spawn(move || {
            cell.get_or_init(|| DropCounter(drops2.clone()));
            assert_eq!(drops2.load(Ordering::SeqCst), 0);
            drop(cell);
        })
        .join()
        .unwrap();
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        drop(OnceLock::<String>::new()); // empty: nothing to drop
    });
}

#[test]
fn once_lock_surface() {
    on_each_model(|| {
        let mut c = OnceLock::new();
        assert!(c.get_mut().is_none());
        c.set(90).unwrap();
        *c.get_mut().unwrap() += 2;
        assert_eq!(c.get_mut(), Some(&mut 92));

        let s = OnceLock::new();
        assert!(s.clone().get().is_none());
        s.set(String::from("hi")).unwrap();
        assert_eq!(s.clone().get().map(String::as_str), Some("hi"));

        assert_eq!(OnceLock::from("v").get(), Some(&"v"));
        assert!(OnceLock::from(1) == OnceLock::from(1));
        assert!(OnceLock::from(1) != OnceLock::from(2));
        assert!(OnceLock::<u8>::new() == OnceLock::new());
        assert!(OnceLock::<u8>::new() != OnceLock::from(1));

        assert_eq!(OnceLock::<String>::new().into_inner(), None);
        let c = OnceLock::new();
        c.set(String::from("x")).unwrap();
        assert_eq!(c.into_inner().as_deref(), Some("x"));

        fn send_sync<T: Send + Sync>() {}
        send_sync::<OnceLock<String>>();

        // A static cell behind a function, like a lazily computed constant.
        fn table() -> &'static Vec<u32> {
            static TABLE: OnceLock<Vec<u32>> = OnceLock::new();
            TABLE.get_or_init(|| (0..10).map(|i| i * i).collect())
        }
        assert_eq!(table()[5], 25);
        assert!(std::ptr::eq(table(), table()));

        // A cell may hold a borrow that ends before the cell does (dropck).
        let cell = OnceLock::new();
        {
            let s = String::new();
            cell.set(&s).unwrap();
        }
    });
}

/// Readers poll a cell that writers race to set: every reader sees the whole value. The
/// readers spin on `get()` without parking, so on green threads they would keep their workers
/// from ever running the writers: this needs preemption. Run on OS threads only.
fn once_lock_racing_readers_and_writers() {
    const MSG: &str = "Hello, World";
    let cell: &'static OnceLock<String> = Box::leak(Box::new(OnceLock::new()));
    let (tx, rx) = channel();
    for _ in 0..10 {
        let tx = tx.clone();
        thread::spawn(move || loop {
            if let Some(msg) = cell.get() {
                tx.send(msg).unwrap();
                break;
            }
        });
    }
    for _ in 0..3 {
        thread::spawn(move || {
            let _ = cell.set(MSG.to_owned());
        });
    }
    for _ in 0..10 {
        assert_eq!(rx.recv().unwrap(), MSG);
    }
}

#[test]
fn once_lock_racing_readers_and_writers_on_os_threads() {
    use zsync::runtime::{Builder, Flavor};
    Builder::new()
        .worker_threads(2)
        .flavor(Flavor::OsThreads)
        .build()
        .unwrap()
        .block_on(once_lock_racing_readers_and_writers);
}

#[test]
#[ignore = "cooperative scheduling: the readers spin on std's OnceLock::get, no zsync call, so no yield request reaches them"]
fn once_lock_racing_readers_and_writers_on_green_threads() {
    common::runtime(2).block_on(once_lock_racing_readers_and_writers);
}

#[test]
#[allow(deprecated)]
fn once_init_is_std_s_deprecated_constant() {
    static ONCE: zsync::sync::Once = zsync::sync::ONCE_INIT;
    let mut runs = 0;
    ONCE.call_once(|| runs += 1);
    ONCE.call_once(|| runs += 1);
    assert_eq!(runs, 1);
    assert!(ONCE.is_completed());
}

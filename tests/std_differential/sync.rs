//! Locks and channels, `sync` and `sync::mpsc`: poisoning; `try_lock` and its kin; condvar
//! timeouts of zero and of `Duration::MAX`; channel disconnection rules, including messages
//! dropped with the receiver; error types, their messages and `Debug` output.

use super::api::*;
use crate::helpers::*;
use crate::Scenario;
use std::time::{Duration, Instant};

pub const SCENARIOS: &[Scenario] = scenarios![
    mpsc_recv_timeout_max,
    mpsc_recv_timeout_zero,
    mpsc_recv_timeout_huge_sync,
    mpsc_send_after_drop,
    mpsc_sync0_rendezvous,
    mpsc_sync0_send_blocks_until_recv,
    mpsc_sync_full,
    mpsc_iter_try_iter,
    mpsc_into_iter,
    mpsc_disconnect_with_pending,
    mpsc_recv_disconnect_wakes,
    mpsc_sync_send_disconnect_wakes,
    mpsc_sync_send_disconnect_full_buffer,
    mpsc_error_display,
    mpsc_debug,
    mpsc_send_err_debug,
    mutex_poison,
    mutex_poison_unwrap_msg,
    mutex_try_lock_wouldblock,
    mutex_into_inner_poisoned,
    mutex_debug_poisoned,
    rwlock_poison,
    rwlock_try,
    // rwlock_downgrade left out: std's `RwLockWriteGuard::downgrade` is stable only since Rust
    // 1.92, above the crate's 1.89; tests/std_sync.rs checks zsync's.
    condvar_wait_timeout_huge,
    condvar_wait_timeout_huge2,
    condvar_wait_timeout_zero,
    condvar_wait_ms,
    condvar_two_mutexes,
    condvar_poisoned_wait,
    condvar_debug,
    barrier_basic,
    barrier_result_debug,
    once_poison,
    oncelock_lazylock,
    // oncelock_concurrent_init (threads racing into a `OnceLock` whose initialiser sleeps) left
    // out: docs/API.md, "`Once`, `OnceLock` and `LazyLock` are std's: a thread that finds another
    // running the initialiser blocks its OS thread" (with `hook`, the sleep parks the initialiser
    // and the blocked workers never resume it).
    mutex_reentrant_deadlock_trylock,
    mutex_get_mut,
    mutex_guard_map_drop_order,
    mpsc_drop_messages_on_rx_drop,
    mpsc_sync_drop_messages_on_rx_drop,
    mpsc_sender_clone_after_rx_drop,
    mpsc_recv_timeout_after_sender_drop_wakes,
    mpsc_recv_timeout_overflow_instant,
    mpsc_sync_channel_huge_cap,
    mutex_lock_across_threads_unlock_other,
];

fn mpsc_recv_timeout_max() -> String {
    let (tx, rx) = mpsc::channel::<i32>();
    let h = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        tx.send(5).unwrap();
    });
    let a = format!("{:?}", rx.recv_timeout(Duration::MAX));
    h.join().unwrap();
    let b = format!("{:?}", rx.recv_timeout(Duration::MAX));
    format!("{a} {b}")
}

fn mpsc_recv_timeout_zero() -> String {
    let (tx, rx) = mpsc::channel::<i32>();
    let a = format!("{:?}", rx.recv_timeout(Duration::ZERO));
    tx.send(1).unwrap();
    let b = format!("{:?}", rx.recv_timeout(Duration::ZERO));
    drop(tx);
    let c = format!("{:?}", rx.recv_timeout(Duration::ZERO));
    format!("{a} {b} {c}")
}

fn mpsc_recv_timeout_huge_sync() -> String {
    let (tx, rx) = mpsc::sync_channel::<i32>(0);
    let h = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        drop(tx);
    });
    let a = format!("{:?}", rx.recv_timeout(Duration::from_secs(u64::MAX)));
    h.join().unwrap();
    a
}

fn mpsc_send_after_drop() -> String {
    let (tx, rx) = mpsc::channel::<String>();
    drop(rx);
    let e1 = tx.send("hello".into());
    let (stx, srx) = mpsc::sync_channel::<String>(1);
    drop(srx);
    let e2 = stx.send("x".into());
    let e3 = stx.try_send("y".into());
    format!(
        "{:?} {:?} {:?} {} {}",
        e1,
        e2,
        e3,
        e1.as_ref().unwrap_err(),
        e3.as_ref().unwrap_err()
    )
}

fn mpsc_sync0_rendezvous() -> String {
    let (tx, rx) = mpsc::sync_channel::<i32>(0);
    let a = format!("{:?}", tx.try_send(1));
    let t = Instant::now();
    let h = thread::spawn(move || {
        thread::sleep(Duration::from_millis(150));
        rx.recv().unwrap()
    });
    // The send waits for the receiver, which comes after 150 ms.
    let s = tx.send(7);
    let el = took(t.elapsed(), Duration::from_millis(75));
    let v = h.join().unwrap();
    format!("{a} {:?} {el} {v}", s)
}

fn mpsc_sync0_send_blocks_until_recv() -> String {
    let (tx, rx) = mpsc::sync_channel::<i32>(0);
    let h = thread::spawn(move || {
        tx.send(1).unwrap();
        Instant::now()
    });
    thread::sleep(Duration::from_millis(150));
    let t = Instant::now();
    let v = rx.recv().unwrap();
    let done = h.join().unwrap();
    format!("{v} {}", done >= t)
}

fn mpsc_sync_full() -> String {
    let (tx, rx) = mpsc::sync_channel::<i32>(2);
    let a = format!(
        "{:?} {:?} {:?}",
        tx.try_send(1),
        tx.try_send(2),
        tx.try_send(3)
    );
    drop(rx);
    let b = format!("{:?}", tx.try_send(4));
    format!("{a} {b}")
}

fn mpsc_iter_try_iter() -> String {
    let (tx, rx) = mpsc::channel::<i32>();
    for i in 0..5 {
        tx.send(i).unwrap();
    }
    let a: Vec<_> = rx.try_iter().collect();
    tx.send(9).unwrap();
    let tx2 = tx.clone();
    drop(tx);
    tx2.send(10).unwrap();
    drop(tx2);
    let b: Vec<_> = rx.iter().collect();
    let c = format!("{:?} {:?}", rx.try_recv(), rx.recv());
    format!("{:?} {:?} {c}", a, b)
}

fn mpsc_into_iter() -> String {
    let (tx, rx) = mpsc::channel::<i32>();
    thread::spawn(move || {
        for i in 0..3 {
            tx.send(i).unwrap();
            thread::sleep(Duration::from_millis(10));
        }
    });
    let v: Vec<_> = rx.into_iter().collect();
    format!("{:?}", v)
}

fn mpsc_disconnect_with_pending() -> String {
    let (tx, rx) = mpsc::channel::<i32>();
    tx.send(1).unwrap();
    tx.send(2).unwrap();
    drop(tx);
    format!(
        "{:?} {:?} {:?} {:?}",
        rx.recv(),
        rx.try_recv(),
        rx.recv(),
        rx.try_recv()
    )
}

fn mpsc_recv_disconnect_wakes() -> String {
    let (tx, rx) = mpsc::sync_channel::<i32>(0);
    let h = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        drop(tx);
    });
    let r = rx.recv();
    h.join().unwrap();
    format!("{:?}", r)
}

fn mpsc_sync_send_disconnect_wakes() -> String {
    let (tx, rx) = mpsc::sync_channel::<i32>(0);
    let h = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        drop(rx);
    });
    let r = tx.send(3);
    h.join().unwrap();
    format!("{:?}", r)
}

fn mpsc_sync_send_disconnect_full_buffer() -> String {
    let (tx, rx) = mpsc::sync_channel::<i32>(1);
    tx.send(1).unwrap();
    let h = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        drop(rx);
    });
    let r = tx.send(3);
    h.join().unwrap();
    format!("{:?}", r)
}

fn mpsc_error_display() -> String {
    let (tx, rx) = mpsc::channel::<i32>();
    drop(tx);
    let a = rx.try_recv().unwrap_err();
    let b = rx.recv().unwrap_err();
    let c = rx.recv_timeout(Duration::from_millis(1)).unwrap_err();
    let (_tx2, rx2) = mpsc::channel::<i32>();
    let d = rx2.recv_timeout(Duration::from_millis(1)).unwrap_err();
    let e2 = rx2.try_recv().unwrap_err();
    format!("{a} / {b} / {c} / {d} / {e2} / {:?}", (a, b, c, d, e2))
}

fn mpsc_debug() -> String {
    let (tx, rx) = mpsc::channel::<i32>();
    let (stx, srx) = mpsc::sync_channel::<i32>(1);
    format!(
        "{:?} {:?} {:?} {:?} {:?} {:?}",
        tx,
        rx,
        stx,
        srx,
        rx.iter(),
        rx.try_iter()
    )
}

fn mpsc_send_err_debug() -> String {
    let (tx, rx) = mpsc::channel::<i32>();
    drop(rx);
    let e = tx.send(3).unwrap_err();
    format!("{:?} {} {}", e, e, e.0)
}

fn mutex_poison() -> String {
    let m = std::sync::Arc::new(sync::Mutex::new(5));
    let m2 = m.clone();
    let j = thread::spawn(move || {
        let _g = m2.lock().unwrap();
        panic!("boom");
    })
    .join();
    let a = m.is_poisoned();
    let b = match m.lock() {
        Ok(_) => "ok".to_string(),
        Err(e) => {
            let s = format!("{} | {:?}", e, e);
            format!("{s} | {}", *e.into_inner())
        }
    };
    let c = match m.try_lock() {
        Ok(_) => "ok".to_string(),
        Err(e) => format!("{} | {:?}", e, e),
    };
    m.clear_poison();
    let d = format!("{} {:?}", m.is_poisoned(), m.lock().map(|g| *g));
    format!("{} {a} {b} // {c} // {d}", j.is_err())
}

fn mutex_poison_unwrap_msg() -> String {
    let m = std::sync::Arc::new(sync::Mutex::new(5));
    let m2 = m.clone();
    let _ = thread::spawn(move || {
        let _g = m2.lock().unwrap();
        panic!("boom");
    })
    .join();
    pc(|| {
        let _g = m.lock().unwrap();
    })
}

fn mutex_try_lock_wouldblock() -> String {
    let m = sync::Mutex::new(1);
    let g = m.lock().unwrap();
    let a = match m.try_lock() {
        Ok(_) => "ok".to_string(),
        Err(e) => format!("{} | {:?}", e, e),
    };
    drop(g);
    let b = format!("{:?}", m);
    let g2 = m.lock().unwrap();
    let c = format!("{:?} {:?}", m, g2);
    format!("{a} | {b} | {c}")
}

fn mutex_into_inner_poisoned() -> String {
    let m = std::sync::Arc::new(sync::Mutex::new(vec![1]));
    let m2 = m.clone();
    let _ = thread::spawn(move || {
        let _g = m2.lock().unwrap();
        panic!("x");
    })
    .join();
    let m = std::sync::Arc::try_unwrap(m).unwrap();
    format!("{:?}", m.into_inner().map_err(|e| e.into_inner()))
}

fn mutex_debug_poisoned() -> String {
    let m = std::sync::Arc::new(sync::Mutex::new(1));
    let m2 = m.clone();
    let _ = thread::spawn(move || {
        let _g = m2.lock().unwrap();
        panic!("x");
    })
    .join();
    format!("{:?}", m)
}

fn rwlock_poison() -> String {
    let l = std::sync::Arc::new(sync::RwLock::new(1));
    let l2 = l.clone();
    let _ = thread::spawn(move || {
        let _g = l2.write().unwrap();
        panic!("x");
    })
    .join();
    let a = l.is_poisoned();
    let b = format!("{:?}", l.read().map(|g| *g).map_err(|e| e.to_string()));
    let l3 = std::sync::Arc::new(sync::RwLock::new(1));
    let l4 = l3.clone();
    let _ = thread::spawn(move || {
        let _g = l4.read().unwrap();
        panic!("x");
    })
    .join();
    let c = l3.is_poisoned();
    format!("{a} {b} {c} {:?}", l)
}

fn rwlock_try() -> String {
    let l = sync::RwLock::new(1);
    let r1 = l.read().unwrap();
    let a = format!("{:?}", l.try_read().map(|g| *g));
    let b = match l.try_write() {
        Ok(_) => "ok".into(),
        Err(e) => format!("{} {:?}", e, e),
    };
    drop(r1);
    let w = l.write().unwrap();
    let c = match l.try_read() {
        Ok(_) => "ok".into(),
        Err(e) => format!("{} {:?}", e, e),
    };
    let dbg = format!("{:?}", l);
    drop(w);
    format!("{a} {b} {c} {dbg} {:?}", l)
}

fn condvar_wait_timeout_huge() -> String {
    let p = std::sync::Arc::new((sync::Mutex::new(false), sync::Condvar::new()));
    let p2 = p.clone();
    let h = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        *p2.0.lock().unwrap() = true;
        p2.1.notify_all();
    });
    let g = p.0.lock().unwrap();
    let (g, res) = p.1.wait_timeout_while(g, Duration::MAX, |v| !*v).unwrap();
    h.join().unwrap();
    format!("{} {}", *g, res.timed_out())
}

fn condvar_wait_timeout_huge2() -> String {
    let p = std::sync::Arc::new((sync::Mutex::new(false), sync::Condvar::new()));
    let g = p.0.lock().unwrap();
    let p2 = p.clone();
    let h = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        *p2.0.lock().unwrap() = true;
        p2.1.notify_one();
    });
    let (g, res) = p.1.wait_timeout(g, Duration::from_secs(u64::MAX)).unwrap();
    h.join().unwrap();
    format!("{} {}", *g, res.timed_out())
}

fn condvar_wait_timeout_zero() -> String {
    let m = sync::Mutex::new(0);
    let c = sync::Condvar::new();
    let g = m.lock().unwrap();
    let t = Instant::now();
    let (g, res) = c.wait_timeout(g, Duration::ZERO).unwrap();
    let (g, res2) = c.wait_timeout_while(g, Duration::ZERO, |_| false).unwrap();
    let (_g, res3) = c
        .wait_timeout_while(g, Duration::from_millis(50), |_| true)
        .unwrap();
    format!(
        "{} {} {} {}",
        res.timed_out(),
        res2.timed_out(),
        res3.timed_out(),
        took(t.elapsed(), Duration::from_millis(25))
    )
}

fn condvar_wait_ms() -> String {
    let m = sync::Mutex::new(0);
    let c = sync::Condvar::new();
    let g = m.lock().unwrap();
    #[allow(deprecated)] // std's, deprecated; zsync has it too, deprecated as well
    let (_g, res) = c.wait_timeout_ms(g, 30).unwrap();
    format!("{}", res)
}

/// A condvar waited on with a second mutex while a wait with another is (most likely) in
/// progress: std panics for that on some platforms, not on Linux.
fn condvar_two_mutexes() -> String {
    let m1 = std::sync::Arc::new(sync::Mutex::new(0));
    let m2 = std::sync::Arc::new(sync::Mutex::new(0));
    let c = std::sync::Arc::new(sync::Condvar::new());
    let (c2, m1b) = (c.clone(), m1.clone());
    let h = thread::spawn(move || {
        let g = m1b.lock().unwrap();
        let _ = c2.wait_timeout(g, Duration::from_millis(300));
    });
    thread::sleep(Duration::from_millis(50));
    let g2 = m2.lock().unwrap();
    let res = pc(|| {
        let _ = c.wait_timeout(g2, Duration::from_millis(10));
    });
    h.join().ok();
    res
}

fn condvar_poisoned_wait() -> String {
    let p = std::sync::Arc::new((sync::Mutex::new(0), sync::Condvar::new()));
    let p2 = p.clone();
    let g = p.0.lock().unwrap();
    let h = thread::spawn(move || {
        let _g = p2.0.lock().unwrap();
        p2.1.notify_all();
        panic!("x");
    });
    let res = p.1.wait(g);
    let out = match res {
        Ok(_) => "ok".into(),
        Err(e) => format!("poisoned {}", e),
    };
    drop(h.join());
    out
}

fn condvar_debug() -> String {
    let c = sync::Condvar::new();
    let m = sync::Mutex::new(());
    let (_g, w) = c
        .wait_timeout(m.lock().unwrap(), Duration::from_millis(1))
        .unwrap();
    format!("{:?} {:?}", c, w)
}

fn barrier_basic() -> String {
    let b = std::sync::Arc::new(sync::Barrier::new(3));
    let hs: Vec<_> = (0..3)
        .map(|_| {
            let b = b.clone();
            thread::spawn(move || b.wait().is_leader())
        })
        .collect();
    let leaders = hs
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|x| *x)
        .count();
    let b0 = sync::Barrier::new(0);
    let b1 = sync::Barrier::new(1);
    format!(
        "{leaders} {} {} {} {:?}",
        b0.wait().is_leader(),
        b1.wait().is_leader(),
        b1.wait().is_leader(),
        b1
    )
}

fn barrier_result_debug() -> String {
    let b = sync::Barrier::new(1);
    format!("{:?}", b.wait())
}

fn once_poison() -> String {
    static O: std::sync::Once = std::sync::Once::new();
    let _ = thread::spawn(|| O.call_once(|| panic!("init fail"))).join();
    let a = O.is_completed();
    let b = pc(|| O.call_once(|| {}));
    let mut st = String::new();
    O.call_once_force(|s| st = format!("{}", s.is_poisoned()));
    format!("{a} {b} {st} {}", O.is_completed())
}

fn oncelock_lazylock() -> String {
    static L: std::sync::LazyLock<i32> = std::sync::LazyLock::new(|| panic!("lazy fail"));
    let a = pc(|| *L);
    let b = pc(|| *L);
    let c = thread::spawn(|| pc(|| *L)).join().unwrap();
    format!("{a} // {b} // {c}")
}

fn mutex_reentrant_deadlock_trylock() -> String {
    let m = sync::Mutex::new(0);
    let _g = m.lock().unwrap();
    format!("{}", m.try_lock().is_err())
}

fn mutex_get_mut() -> String {
    let mut m = sync::Mutex::new(1);
    *m.get_mut().unwrap() += 1;
    let mut l = sync::RwLock::new(1);
    *l.get_mut().unwrap() += 2;
    format!(
        "{:?} {:?} {:?}",
        m.into_inner(),
        l.into_inner(),
        sync::Mutex::<i32>::default()
    )
}

fn mutex_guard_map_drop_order() -> String {
    let m = sync::Mutex::new(String::from("a"));
    {
        let mut g = m.lock().unwrap();
        g.push('b');
    }
    let g = m.lock().unwrap();
    format!("{} {}", *g, g.len())
}

fn mpsc_drop_messages_on_rx_drop() -> String {
    struct D(std::sync::Arc<std::sync::atomic::AtomicUsize>);
    impl Drop for D {
        fn drop(&mut self) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let c = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    for _ in 0..3 {
        tx.send(D(c.clone())).unwrap();
    }
    drop(rx);
    let after_rx = c.load(std::sync::atomic::Ordering::SeqCst);
    drop(tx);
    format!("{after_rx} {}", c.load(std::sync::atomic::Ordering::SeqCst))
}

fn mpsc_sync_drop_messages_on_rx_drop() -> String {
    struct D(std::sync::Arc<std::sync::atomic::AtomicUsize>);
    impl Drop for D {
        fn drop(&mut self) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
    let c = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (tx, rx) = mpsc::sync_channel(5);
    for _ in 0..3 {
        tx.send(D(c.clone())).unwrap();
    }
    drop(rx);
    let after_rx = c.load(std::sync::atomic::Ordering::SeqCst);
    drop(tx);
    format!("{after_rx} {}", c.load(std::sync::atomic::Ordering::SeqCst))
}

fn mpsc_sender_clone_after_rx_drop() -> String {
    let (tx, rx) = mpsc::channel::<i32>();
    let tx2 = tx.clone();
    drop(tx);
    tx2.send(1).unwrap();
    format!("{:?} {:?}", rx.recv(), rx.try_recv())
}

fn mpsc_recv_timeout_after_sender_drop_wakes() -> String {
    let (tx, rx) = mpsc::channel::<i32>();
    let h = thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        drop(tx);
    });
    // Ends when the sender goes (after 100 ms), not after the 5 s.
    let t = Instant::now();
    let r = rx.recv_timeout(Duration::from_secs(5));
    h.join().unwrap();
    format!("{:?} {}", r, took(t.elapsed(), Duration::from_millis(2500)))
}

fn mpsc_recv_timeout_overflow_instant() -> String {
    let (tx, rx) = mpsc::channel::<i32>();
    tx.send(1).unwrap();
    format!(
        "{:?}",
        rx.recv_timeout(Duration::new(u64::MAX, 999_999_999))
    )
}

fn mpsc_sync_channel_huge_cap() -> String {
    pc(|| {
        let (tx, _rx) = mpsc::sync_channel::<u8>(usize::MAX);
        tx.try_send(1).is_ok()
    })
}

fn mutex_lock_across_threads_unlock_other() -> String {
    let m = std::sync::Arc::new(sync::Mutex::new(0));
    let hs: Vec<_> = (0..8)
        .map(|_| {
            let m = m.clone();
            thread::spawn(move || {
                for _ in 0..10000 {
                    *m.lock().unwrap() += 1;
                }
            })
        })
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    format!("{}", *m.lock().unwrap())
}

//! Threads, `thread`: builder errors and stack sizes; names; panics and their payloads; park
//! and unpark tokens; sleeps; scoped threads; a thread joining itself; `Debug` output. And std's
//! `Instant` arithmetic beside zsync's threads.

use super::api::*;
use crate::helpers::*;
use crate::Scenario;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

// Left out: the name of the thread that runs a scenario (`thread::current().name()`), which is
// the harness's: libtest's thread for the test on an OS thread, an unnamed green thread inside a
// runtime.

pub const SCENARIOS: &[Scenario] = scenarios![
    // th_name_nul left out: docs/API.md, deliberate differences, "Thread names with a NUL byte".
    th_stack_zero,
    th_stack_huge,
    th_stack_large,
    th_stack_large2,
    th_name,
    th_panic_payload,
    th_park_timeout_zero,
    th_park_timeout_max,
    th_sleep_zero,
    th_sleep_ms,
    th_scope,
    th_scope_panic,
    th_scope_panic_joined,
    th_scope_main_panic,
    th_scope_both_panic,
    th_scope_is_finished,
    th_scope_builder,
    th_join_is_finished,
    th_ids_unique,
    th_unpark_before_park,
    th_unpark_twice_one_token,
    th_available_parallelism,
    th_panicking,
    th_thread_debug,
    th_threadid_debug,
    th_joinhandle_debug,
    th_join_self,
    th_join_self2,
    th_spawn_many_names_long,
    // th_local_key left out: docs/API.md, deliberate differences, "`thread_local!` on a green
    // thread is per worker OS thread".
    th_builder_debug,
    th_yield,
    th_current_unpark_from_other,
    time_instant_panics,
    time_sleep_until_past,
];

fn th_stack_zero() -> String {
    pc(|| {
        thread::Builder::new()
            .stack_size(0)
            .spawn(|| 5)
            .map(|h| h.join().unwrap())
            .map_err(|e| e.kind())
    })
}

fn th_stack_huge() -> String {
    pc(|| {
        thread::Builder::new()
            .stack_size(usize::MAX)
            .spawn(|| 5)
            .map(|h| h.join().unwrap())
            .map_err(|e| e.kind())
    })
}

fn th_stack_large() -> String {
    pc(|| {
        thread::Builder::new()
            .stack_size(1 << 40)
            .spawn(|| 5)
            .map(|h| h.join().unwrap())
            .map_err(|e| e.kind())
    })
}

fn th_stack_large2() -> String {
    pc(|| {
        thread::Builder::new()
            .stack_size(64 << 20)
            .spawn(|| {
                let v = [0u8; 32 << 20];
                std::hint::black_box(&v);
                v[100]
            })
            .map(|h| h.join().unwrap())
            .map_err(|e| e.kind())
    })
}

fn th_name() -> String {
    let h = thread::Builder::new()
        .name("worker-x".into())
        .spawn(|| thread::current().name().map(|s| s.to_string()))
        .unwrap();
    let n1 = format!("{:?}", h.thread().name());
    let n2 = h.join().unwrap();
    let u = thread::spawn(|| thread::current().name().map(|s| s.to_string()))
        .join()
        .unwrap();
    format!("{n1} {:?} {:?}", n2, u)
}

fn th_panic_payload() -> String {
    let h = thread::spawn(|| panic!("msg {}", 5));
    let e = h.join().unwrap_err();
    let h2 = thread::spawn(|| std::panic::panic_any(42i32));
    let e2 = h2.join().unwrap_err();
    format!("{} {:?}", payload(&*e), e2.downcast_ref::<i32>())
}

fn th_park_timeout_zero() -> String {
    let t = Instant::now();
    thread::park_timeout(Duration::ZERO);
    thread::current().unpark();
    thread::park_timeout(Duration::ZERO);
    thread::current().unpark();
    thread::park();
    // No token left: this one waits the whole 50 ms.
    thread::park_timeout(Duration::from_millis(50));
    took(t.elapsed(), Duration::from_millis(25))
}

/// A park with no end (`Duration::MAX` overflows any deadline) returns for the unpark, and
/// only then.
fn th_park_timeout_max() -> String {
    let me = thread::current();
    let unparked = Arc::new(AtomicBool::new(false));
    let h = {
        let unparked = unparked.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            unparked.store(true, Ordering::SeqCst);
            me.unpark();
        })
    };
    thread::park_timeout(Duration::MAX);
    let after_the_unpark = unparked.load(Ordering::SeqCst);
    h.join().unwrap();
    format!("{after_the_unpark}")
}

fn th_sleep_zero() -> String {
    let t = Instant::now();
    thread::sleep(Duration::ZERO);
    thread::sleep(Duration::from_nanos(1));
    took(t.elapsed(), Duration::from_millis(500))
}

fn th_sleep_ms() -> String {
    let t = Instant::now();
    #[allow(deprecated)] // std's, deprecated; zsync has it too, deprecated as well
    thread::sleep_ms(50);
    took(t.elapsed(), Duration::from_millis(25))
}

fn th_scope() -> String {
    let mut v = vec![1, 2, 3];
    let r = thread::scope(|s| {
        let h = s.spawn(|| v.iter().sum::<i32>());
        let h2 = s.spawn(|| 10);
        h.join().unwrap() + h2.join().unwrap()
    });
    v.push(4);
    format!("{r} {:?}", v)
}

fn th_scope_panic() -> String {
    pc(|| {
        thread::scope(|s| {
            s.spawn(|| panic!("inner"));
            5
        })
    })
}

fn th_scope_panic_joined() -> String {
    pc(|| {
        thread::scope(|s| {
            let h = s.spawn(|| panic!("inner"));
            h.join().is_err()
        })
    })
}

fn th_scope_main_panic() -> String {
    pc(|| {
        thread::scope(|s| {
            s.spawn(|| thread::sleep(Duration::from_millis(50)));
            panic!("outer")
        })
    })
}

fn th_scope_both_panic() -> String {
    pc(|| {
        thread::scope(|s| {
            s.spawn(|| panic!("inner"));
            thread::sleep(Duration::from_millis(20));
            panic!("outer")
        })
    })
}

/// `is_finished` is false while the thread runs (it waits for `go`) and becomes true once it
/// has ended (else: a hang).
fn th_scope_is_finished() -> String {
    let go = AtomicBool::new(false);
    thread::scope(|s| {
        let h = s.spawn(|| {
            while !go.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(1));
            }
        });
        let a = h.is_finished();
        go.store(true, Ordering::SeqCst);
        while !h.is_finished() {
            thread::sleep(Duration::from_millis(1));
        }
        format!("{a} {:?}", h.thread().name())
    })
}

fn th_scope_builder() -> String {
    thread::scope(|s| {
        let h = thread::Builder::new()
            .name("scoped".into())
            .spawn_scoped(s, || thread::current().name().map(|x| x.to_string()))
            .unwrap();
        format!("{:?}", h.join().unwrap())
    })
}

/// As `th_scope_is_finished`, for a thread of `spawn`.
fn th_join_is_finished() -> String {
    let go = Arc::new(AtomicBool::new(false));
    let h = {
        let go = go.clone();
        thread::spawn(move || {
            while !go.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(1));
            }
        })
    };
    let a = h.is_finished();
    go.store(true, Ordering::SeqCst);
    while !h.is_finished() {
        thread::sleep(Duration::from_millis(1));
    }
    format!("{a} {:?}", h.join())
}

fn th_ids_unique() -> String {
    let a = thread::current().id();
    let b = thread::spawn(|| thread::current().id()).join().unwrap();
    let c = thread::current().id();
    format!("{} {}", a != b, a == c)
}

/// An unpark that comes while the thread sleeps leaves a token that its next park takes at
/// once (a lost token: a hang).
fn th_unpark_before_park() -> String {
    let unparked = Arc::new(AtomicBool::new(false));
    let h = {
        let unparked = unparked.clone();
        thread::spawn(move || {
            while !unparked.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(1));
            }
            thread::park();
            "parked and returned"
        })
    };
    h.thread().unpark();
    unparked.store(true, Ordering::SeqCst);
    h.join().unwrap().into()
}

/// Two unparks before a park leave one token: the first park takes it, the second waits its
/// whole timeout.
fn th_unpark_twice_one_token() -> String {
    let unparked = Arc::new(AtomicBool::new(false));
    let h = {
        let unparked = unparked.clone();
        thread::spawn(move || {
            while !unparked.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(1));
            }
            thread::park();
            let t = Instant::now();
            thread::park_timeout(Duration::from_millis(100));
            took(t.elapsed(), Duration::from_millis(50))
        })
    };
    h.thread().unpark();
    h.thread().unpark();
    unparked.store(true, Ordering::SeqCst);
    h.join().unwrap()
}

fn th_available_parallelism() -> String {
    format!(
        "{:?}",
        thread::available_parallelism()
            .map(|n| n.get() > 0)
            .map_err(|e| e.kind())
    )
}

fn th_panicking() -> String {
    struct D(std::sync::Arc<std::sync::Mutex<Option<bool>>>);
    impl Drop for D {
        fn drop(&mut self) {
            *self.0.lock().unwrap() = Some(thread::panicking());
        }
    }
    let s = std::sync::Arc::new(std::sync::Mutex::new(None));
    let s2 = s.clone();
    let _ = thread::spawn(move || {
        let _d = D(s2);
        panic!("x");
    })
    .join();
    let x = *s.lock().unwrap();
    format!("{:?} {}", x, thread::panicking())
}

fn th_thread_debug() -> String {
    let h = thread::Builder::new()
        .name("dbg".into())
        .spawn(|| ())
        .unwrap();
    let s = format!("{:?}", h.thread());
    h.join().unwrap();
    numbers_as_n(&s)
}

fn th_threadid_debug() -> String {
    let s = format!(
        "{:?}",
        thread::spawn(|| thread::current().id()).join().unwrap()
    );
    numbers_as_n(&s)
}

fn th_joinhandle_debug() -> String {
    let h = thread::spawn(|| ());
    let s = format!("{:?}", h);
    h.join().unwrap();
    numbers_as_n(&s)
}

/// A thread that joins itself panics (std's message), and takes nothing else down; what it
/// panicked with is compared by `th_join_self2`.
fn th_join_self() -> String {
    let (tx, rx) = mpsc::channel::<thread::JoinHandle<String>>();
    let h = thread::spawn(move || {
        let me = rx.recv().unwrap();
        pc(move || {
            let _ = me.join();
        })
    });
    tx.send(h).unwrap();
    thread::sleep(Duration::from_millis(300));
    "sent".into()
}

fn th_join_self2() -> String {
    let (tx, rx) = mpsc::channel();
    let (otx, orx) = mpsc::channel();
    let h = thread::spawn(move || {
        let me: thread::JoinHandle<()> = rx.recv().unwrap();
        let r = pc(move || {
            let _ = me.join();
        });
        otx.send(r).unwrap();
    });
    tx.send(h).unwrap();
    orx.recv_timeout(Duration::from_secs(3))
        .unwrap_or("timeout".into())
}

fn th_spawn_many_names_long() -> String {
    let n = "x".repeat(100);
    let h = thread::Builder::new()
        .name(n.clone())
        .spawn(|| thread::current().name().map(|s| s.len()))
        .unwrap();
    format!("{:?}", h.join().unwrap())
}

fn th_builder_debug() -> String {
    format!(
        "{:?}",
        thread::Builder::new().name("n".into()).stack_size(1 << 20)
    )
}

fn th_yield() -> String {
    thread::yield_now();
    "ok".into()
}

/// `park` returns for an unpark from an OS thread, and only then.
fn th_current_unpark_from_other() -> String {
    let me = thread::current();
    let unparked = Arc::new(AtomicBool::new(false));
    let h = {
        let unparked = unparked.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            unparked.store(true, Ordering::SeqCst);
            me.unpark();
        })
    };
    thread::park();
    let after_the_unpark = unparked.load(Ordering::SeqCst);
    h.join().unwrap();
    format!("{after_the_unpark}")
}

fn time_instant_panics() -> String {
    let now = Instant::now();
    let a = pc(|| now + Duration::MAX);
    let b = pc(|| now - Duration::MAX);
    let later = now + Duration::from_secs(1);
    let c = pc(|| now.duration_since(later));
    let d = pc(|| now - later);
    let e2 = pc(|| later.checked_duration_since(now));
    format!("{a} | {b} | {c} | {d} | {e2}")
}

fn time_sleep_until_past() -> String {
    let t = Instant::now();
    thread::sleep(Duration::ZERO);
    took(t.elapsed(), Duration::from_millis(500))
}

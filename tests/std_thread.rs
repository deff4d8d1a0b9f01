//! The behaviours std's own thread tests check (library/std/src/thread/tests.rs), restated for
//! `zsync::thread`. Each body runs on a plain OS thread, inside a green-thread runtime and
//! inside an OS-threads runtime.
//!
//! Scaled down: the park/unpark tests that sleep 50 ms per round sleep 5 ms. Left out: the OS
//! name of a thread (green threads have none; the name zsync keeps is checked), `current_os_id`
//! (unstable in std), the Windows-only minimal stack test, and the Miri-only data-race test
//! (run here as a plain smoke test).

use std::any::Any;
use std::panic::panic_any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use zsync::sync::mpsc::{channel, Sender};
use zsync::sync::{Arc, Barrier};
use zsync::thread::{self, Builder, Scope, ThreadId};

mod common;
use common::on_each_model;

#[test]
fn names_of_spawned_threads() {
    on_each_model(|| {
        thread::spawn(|| assert!(thread::current().name().is_none()))
            .join()
            .unwrap();
        Builder::new()
            .name("ada lovelace".to_string())
            .spawn(|| assert_eq!(thread::current().name(), Some("ada lovelace")))
            .unwrap()
            .join()
            .unwrap();
        // A long name is kept whole (std truncates only the OS's copy).
        let long: String = std::iter::once("long name")
            .chain(std::iter::repeat_n(" yada", 100))
            .collect();
        let expected = long.clone();
        Builder::new()
            .name(long)
            .spawn(move || assert_eq!(thread::current().name(), Some(expected.as_str())))
            .unwrap()
            .join()
            .unwrap();
    });
}

/// `Debug` of a builder (with a stack size below the minimum too, shown as given) and of a
/// join handle is std's word for word.
#[test]
fn builder_and_join_handle_debug_is_std_s() {
    on_each_model(|| {
        assert_eq!(
            format!("{:?}", Builder::new()),
            format!("{:?}", std::thread::Builder::new())
        );
        let ours = Builder::new().name("ada".to_string()).stack_size(1);
        let theirs = std::thread::Builder::new()
            .name("ada".to_string())
            .stack_size(1);
        assert_eq!(format!("{ours:?}"), format!("{theirs:?}"));
        let (ours, theirs) = (thread::spawn(|| 1), std::thread::spawn(|| 1));
        assert_eq!(format!("{ours:?}"), format!("{theirs:?}"));
        assert_eq!((ours.join().unwrap(), theirs.join().unwrap()), (1, 1));
    });
}

/// `Debug` of a scope is std's: the same fields, with the scoped threads still running
/// counted. (The owner's `Thread` is printed as each prints its own threads.)
#[test]
fn scope_debug_is_std_s() {
    /// What precedes `main_thread`, with a thread blocked in the scope.
    fn head(debug: String) -> String {
        assert!(
            debug.ends_with(".. }") && debug.contains("main_thread: Thread {"),
            "{debug}"
        );
        debug[..debug.find("main_thread").unwrap()].to_string()
    }
    on_each_model(|| {
        let ours = thread::scope(|s| {
            let (tx, rx) = channel::<()>();
            s.spawn(move || rx.recv());
            let debug = format!("{s:?}");
            drop(tx);
            debug
        });
        let theirs = std::thread::scope(|s| {
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            s.spawn(move || rx.recv());
            let debug = format!("{s:?}");
            drop(tx);
            debug
        });
        assert_eq!(head(ours), head(theirs));
    });
}

/// std panics when spawning a thread whose name holds a NUL byte; zsync's contract is an
/// `InvalidInput` error instead (no API panics on input a caller could pass at run time).
#[test]
fn a_name_with_a_nul_byte_is_refused() {
    on_each_model(|| {
        let err = Builder::new()
            .name("ada l\0velace".to_string())
            .spawn(|| {})
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    });
}

#[test]
fn spawned_thread_runs() {
    on_each_model(|| {
        let (tx, rx) = channel();
        thread::spawn(move || tx.send(()).unwrap());
        rx.recv().unwrap();
        thread::spawn(|| {}); // and one nobody waits for
    });
}

#[test]
fn is_finished_becomes_true_and_join_is_then_quick() {
    on_each_model(|| {
        let barrier = Arc::new(Barrier::new(2));
        let b = barrier.clone();
        let t = thread::spawn(move || {
            b.wait();
            1234
        });
        assert!(!t.is_finished(), "still waiting at the barrier");
        barrier.wait();
        let start = Instant::now();
        while !t.is_finished() {
            assert!(start.elapsed() < Duration::from_secs(2));
            thread::sleep(Duration::from_millis(15));
        }
        let joining = Instant::now();
        assert_eq!(t.join().unwrap(), 1234);
        assert!(joining.elapsed() < Duration::from_secs(2));
    });
}

#[test]
fn join_reports_a_panic() {
    on_each_model(|| {
        assert!(thread::spawn(|| panic!()).join().is_err());
    });
}

/// A chain of ten threads, each spawning the next; the last one reports. And a thread whose
/// child reports after the parent has finished.
#[test]
fn threads_spawned_from_spawned_threads() {
    fn spawn_next(i: i32, tx: Sender<()>) {
        thread::spawn(move || {
            if i == 0 {
                tx.send(()).unwrap();
            } else {
                spawn_next(i - 1, tx);
            }
        });
    }
    on_each_model(|| {
        let (tx, rx) = channel();
        spawn_next(10, tx);
        rx.recv().unwrap();

        let (tx, rx) = channel();
        thread::spawn(move || {
            thread::spawn(move || tx.send(()).unwrap());
        });
        rx.recv().unwrap();
    });
}

/// The closure is moved into the thread without copying what it owns: a boxed value is at the
/// same address in the child.
#[test]
fn the_closure_is_not_copied() {
    fn check(spawner: impl FnOnce(Box<dyn FnOnce() + Send>)) {
        let (tx, rx) = channel();
        let owned = Box::new(1_i32);
        let in_parent = &*owned as *const i32 as usize;
        spawner(Box::new(move || {
            tx.send(&*owned as *const i32 as usize).unwrap();
        }));
        assert_eq!(rx.recv().unwrap(), in_parent);
    }
    on_each_model(|| {
        check(|f| {
            thread::spawn(f);
        });
        check(|f| {
            thread::spawn(move || {
                f();
            });
        });
        check(|f| {
            let _ = thread::spawn(f).join();
        });
    });
}

/// Sixteen generations of detached threads, each spawning the next (a child must not keep its
/// parent alive).
#[test]
fn generations_of_detached_threads() {
    fn generation(n: u32, done: Sender<()>) {
        if n < 16 {
            thread::spawn(move || generation(n + 1, done));
        } else {
            done.send(()).unwrap();
        }
    }
    on_each_model(|| {
        let (tx, rx) = channel();
        thread::spawn(move || generation(0, tx));
        rx.recv().unwrap();
    });
}

#[test]
fn panic_payloads_reach_join() {
    on_each_model(|| {
        let e = thread::spawn(|| panic!("static string"))
            .join()
            .unwrap_err();
        assert_eq!(*e.downcast::<&'static str>().unwrap(), "static string");

        let e = thread::spawn(|| panic_any("owned string".to_string()))
            .join()
            .unwrap_err();
        assert_eq!(*e.downcast::<String>().unwrap(), "owned string");

        let e = thread::spawn(|| panic_any(Box::new(413_u16) as Box<dyn Any + Send>))
            .join()
            .unwrap_err();
        let inner = e.downcast::<Box<dyn Any + Send>>().unwrap();
        assert_eq!(*inner.downcast::<u16>().unwrap(), 413);

        struct Juju;
        let e = thread::spawn(|| panic_any(Juju)).join().unwrap_err();
        assert!(e.is::<Juju>());
    });
}

#[test]
fn park_consumes_a_token_given_earlier() {
    on_each_model(|| {
        for _ in 0..10 {
            thread::current().unpark();
            thread::park();
        }
        for _ in 0..10 {
            thread::current().unpark();
            thread::park_timeout(Duration::from_millis(u32::MAX as u64));
        }
    });
}

/// The token comes from another thread, after a while; spawning that thread must not consume
/// the token of the spawner.
#[test]
fn park_is_ended_by_another_threads_unpark() {
    on_each_model(|| {
        for timed in [false, true] {
            for _ in 0..10 {
                let me = thread::current();
                let _t = thread::spawn(move || {
                    thread::sleep(Duration::from_millis(5)); // std: 50 ms
                    me.unpark();
                });
                if timed {
                    thread::park_timeout(Duration::from_millis(u32::MAX as u64));
                } else {
                    thread::park();
                }
            }
        }
    });
}

/// The token is the user's: zsync's own waits (a sleep, a contended lock, a join) park and
/// are woken without it, so an `unpark` that arrives during one of them is still there for the
/// next `park`, as with std (whose sleep, locks and joins do not touch it).
#[test]
fn an_unpark_during_another_wait_is_kept_for_the_next_park() {
    on_each_model(|| {
        // Each wait below runs while another thread unparks this one; `park_timeout` after it
        // must find the token: it returns at once instead of waiting its 5 s.
        let expect_token = |what: &str| {
            let started = Instant::now();
            thread::park_timeout(Duration::from_secs(5));
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "an unpark during {what} was lost"
            );
        };
        let unpark_me_soon = || {
            let me = thread::current();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(5));
                me.unpark();
            })
        };

        let unparker = unpark_me_soon();
        thread::sleep(Duration::from_millis(100));
        expect_token("a sleep");
        unparker.join().unwrap();

        let lock = Arc::new(zsync::sync::Mutex::new(()));
        let holder = {
            let lock = lock.clone();
            let (held, is_held) = channel();
            let holder = thread::spawn(move || {
                let _guard = lock.lock().unwrap();
                held.send(()).unwrap();
                thread::sleep(Duration::from_millis(100));
            });
            is_held.recv().unwrap();
            holder
        };
        let unparker = unpark_me_soon();
        drop(lock.lock().unwrap());
        expect_token("a contended lock");
        holder.join().unwrap();
        unparker.join().unwrap();

        let unparker = unpark_me_soon();
        thread::spawn(|| thread::sleep(Duration::from_millis(100)))
            .join()
            .unwrap();
        expect_token("a join");
        unparker.join().unwrap();

        // Without an unpark, the token is not there: the wait ends at its timeout.
        let started = Instant::now();
        thread::park_timeout(Duration::from_millis(20));
        assert!(started.elapsed() >= Duration::from_millis(20));
    });
}

#[test]
fn park_timeout_without_unpark_returns() {
    on_each_model(|| {
        for _ in 0..10 {
            thread::park_timeout(Duration::from_millis(10));
        }
        thread::sleep(Duration::from_millis(2));
    });
}

#[test]
fn thread_ids() {
    on_each_model(|| {
        assert_eq!(
            std::mem::size_of::<Option<ThreadId>>(),
            std::mem::size_of::<ThreadId>()
        );
        assert!(thread::current().id() == thread::current().id());
        let spawned = thread::spawn(|| thread::current().id()).join().unwrap();
        assert!(thread::current().id() != spawned);
    });
}

/// A scoped thread's result is dropped before the scope ends even if nobody joins it, and its
/// destructor may still spawn into the scope: the scope waits for that thread too.
#[test]
fn scope_waits_for_threads_spawned_by_a_dropped_result() {
    on_each_model(|| {
        let finished = &AtomicBool::new(false);
        struct SpawnsOnDrop<'scope, 'env>(&'scope Scope<'scope, 'env>, &'env AtomicBool);
        impl Drop for SpawnsOnDrop<'_, '_> {
            fn drop(&mut self) {
                thread::sleep(Duration::from_millis(20));
                let finished = self.1;
                self.0.spawn(move || {
                    thread::sleep(Duration::from_millis(20));
                    finished.store(true, Ordering::Relaxed);
                });
            }
        }
        thread::scope(|s| {
            s.spawn(move || {
                thread::sleep(Duration::from_millis(20));
                SpawnsOnDrop(s, finished)
            });
        });
        assert!(finished.load(Ordering::Relaxed));
    });
}

#[test]
fn scoped_threads_borrow_and_join() {
    // std's compile test: a scoped closure that matches on a borrowed argument.
    #[allow(clippy::match_single_binding)]
    fn borrows(x: &u8) {
        thread::scope(|s| {
            s.spawn(|| match x {
                _ => (),
            });
        });
    }
    on_each_model(|| {
        let x = 42_u8;
        borrows(&x);
        // Many short scopes of readers (std runs this one under Miri's race detector).
        for _ in 0..100 {
            let flag = AtomicBool::new(false);
            thread::scope(|s| {
                for _ in 0..10 {
                    s.spawn(|| flag.load(Ordering::Relaxed));
                }
            });
        }
    });
}

#[test]
fn spawn_unchecked_lets_a_joined_thread_borrow() {
    // std's `Builder::spawn_unchecked`: no `'static` bounds; joining before the borrowed data
    // goes away keeps it sound.
    on_each_model(|| {
        let mut counted = vec![0u32; 4];
        let words = String::from("one two three");
        let handles: Vec<_> = counted
            .iter_mut()
            .enumerate()
            .map(|(i, slot)| {
                let words = &words;
                // SAFETY: every handle is joined below, while `counted` and `words` live.
                unsafe {
                    Builder::new()
                        .name(format!("borrower {i}"))
                        .spawn_unchecked(move || {
                            *slot = words.split(' ').count() as u32 + i as u32;
                            thread::current().name().map(str::to_owned)
                        })
                }
                .unwrap()
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(h.join().unwrap(), Some(format!("borrower {i}")));
        }
        assert_eq!(counted, [3, 4, 5, 6]);
    });
}

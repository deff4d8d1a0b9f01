//! Cancellation and `timeout()` are never lost, and they do not poison locks; panics on green
//! threads are reported under the green thread's name.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use zsync::runtime::{Builder, Flavor};
use zsync::sync::{mpsc, Mutex, RwLock};
use zsync::thread;
use zsync::time::timeout;
use zsync::Cancelled;

const HOUR: Duration = Duration::from_secs(3600);

fn runtime(workers: usize, flavor: Flavor) -> zsync::Runtime {
    Builder::new()
        .worker_threads(workers)
        .flavor(flavor)
        .build()
        .unwrap()
}

/// Runs `f` on an OS thread of its own and fails the test if it does not finish within
/// `limit`: the bugs these tests guard against are hangs.
fn within<T: Send + 'static>(
    limit: Duration,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(catch_unwind(AssertUnwindSafe(f)));
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(value)) => value,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("{what}: still not done after {limit:?} (a lost cancellation?)"),
    }
}

#[test]
fn holding_a_caught_cancellation_does_not_hold_the_next_one_back() {
    for flavor in [Flavor::GreenThreads, Flavor::OsThreads] {
        within(
            Duration::from_secs(20),
            "cancel of a thread holding its payload",
            move || {
                runtime(2, flavor).block_on(|| {
                    let (caught_tx, caught_rx) = mpsc::channel();
                    let h = thread::spawn(move || {
                        let first = catch_unwind(|| thread::sleep(HOUR));
                        // The caught payload stays alive, as a log line or an error value would.
                        let held = first.unwrap_err();
                        caught_tx.send(held.is::<Cancelled>()).unwrap();
                        thread::sleep(HOUR); // the request is still in force: raised again here
                        drop(held);
                        "not reached"
                    });
                    thread::sleep(Duration::from_millis(10));
                    assert!(h.cancel().unwrap_err().is::<Cancelled>());
                    assert!(caught_rx.recv().unwrap(), "the first raise was a Cancelled");
                })
            },
        );
    }
}

#[test]
fn holding_a_caught_timeout_does_not_hold_back_a_cancellation() {
    within(
        Duration::from_secs(20),
        "cancel after a caught timeout",
        || {
            runtime(1, Flavor::GreenThreads).block_on(|| {
                let h = thread::spawn(|| {
                    let elapsed = timeout(Duration::from_millis(5), || thread::sleep(HOUR));
                    let kept = elapsed.unwrap_err();
                    thread::sleep(HOUR);
                    kept
                });
                thread::sleep(Duration::from_millis(30));
                assert!(h.cancel().unwrap_err().is::<Cancelled>());
            })
        },
    );
}

/// A guard whose destructor parks for `pause` (while its green thread unwinds), then reports.
struct ParksInDrop {
    pause: Duration,
    parked: Option<mpsc::Sender<()>>,
    done: Arc<AtomicBool>,
}

impl Drop for ParksInDrop {
    fn drop(&mut self) {
        assert!(thread::panicking(), "dropped during the unwind");
        if let Some(parked) = self.parked.take() {
            parked.send(()).unwrap();
        }
        thread::sleep(self.pause); // parks mid-unwind: the worker's OS thread counts as panicking
        self.done.store(true, Ordering::SeqCst);
    }
}

/// On one worker, green thread A unwinds (from a cancellation, or from a panic) and parks in a
/// destructor for 300 ms. Meanwhile B, on the same worker, is cancelled (or its `timeout()`
/// expires). B is not unwinding itself, so its request lands at once, while A is still parked
/// mid-unwind (std's panic count, per OS thread, is A's). With `hook_replaced` (the program set
/// a panic hook of its own after the runtime started, so zsync cannot tell whose unwind it is)
/// B's request waits for A's unwind to end instead, and lands right after it.
fn other_thread_parked_mid_unwind(a_panics: bool, b_uses_timeout: bool, hook_replaced: bool) {
    within(
        Duration::from_secs(20),
        "a request that met another unwind",
        move || {
            runtime(1, Flavor::GreenThreads).block_on(move || {
                if hook_replaced {
                    std::panic::set_hook(Box::new(|_| {}));
                }
                let a_done = Arc::new(AtomicBool::new(false));
                let (parked_tx, parked_rx) = mpsc::channel();
                let guard = ParksInDrop {
                    pause: Duration::from_millis(300),
                    parked: Some(parked_tx),
                    done: a_done.clone(),
                };
                let a = thread::spawn(move || {
                    let _guard = guard;
                    if a_panics {
                        panic!("A unwinds from a panic");
                    }
                    thread::sleep(HOUR);
                });
                let b = thread::spawn(move || {
                    if b_uses_timeout {
                        let r = timeout(Duration::from_millis(50), || thread::sleep(HOUR));
                        assert!(r.is_err(), "the timeout expired");
                    } else {
                        thread::sleep(HOUR);
                        unreachable!()
                    }
                });
                // A unwinds: cancelled by another green thread (so that this one stays free),
                // or from its own panic.
                let (a, canceller) = if a_panics {
                    (Some(a), None)
                } else {
                    thread::sleep(Duration::from_millis(5));
                    (None, Some(thread::spawn(move || a.cancel().is_err())))
                };
                parked_rx.recv().unwrap();
                let switches = zsync::runtime::Handle::current().metrics().switches;
                let b_result = if b_uses_timeout { b.join() } else { b.cancel() };
                assert!(b_result.is_ok() == b_uses_timeout);
                assert_eq!(
                    a_done.load(Ordering::SeqCst),
                    hook_replaced,
                    "B's request landed after A's unwind only if it had to wait for it"
                );
                // B waited without spinning through the scheduler meanwhile.
                let switches = zsync::runtime::Handle::current().metrics().switches - switches;
                assert!(
                    switches < 1000,
                    "{switches} switches while B's request waited"
                );
                if let Some(canceller) = canceller {
                    assert!(canceller.join().unwrap(), "A was cancelled");
                }
                if let Some(a) = a {
                    assert!(a.join().is_err(), "A panicked");
                }
                assert!(a_done.load(Ordering::SeqCst), "A's destructor finished");
            })
        },
    );
}

#[test]
fn a_cancel_lands_while_another_green_threads_cancellation_unwind_is_parked() {
    other_thread_parked_mid_unwind(false, false, false);
}

#[test]
fn a_cancel_lands_while_another_green_threads_panic_unwind_is_parked() {
    other_thread_parked_mid_unwind(true, false, false);
}

#[test]
fn a_timeout_lands_while_another_green_threads_unwind_is_parked() {
    other_thread_parked_mid_unwind(false, true, false);
    other_thread_parked_mid_unwind(true, true, false);
}

#[test]
fn without_zsync_s_panic_hook_a_request_waits_for_another_unwind_then_lands() {
    // In a child: the hook replaced here would be the whole test binary's.
    if std::env::var_os(CHILD).is_some() {
        for (a_panics, b_uses_timeout) in [(false, false), (true, false), (false, true)] {
            other_thread_parked_mid_unwind(a_panics, b_uses_timeout, true);
        }
        println!("all landed");
        return;
    }
    let out = run_child("without_zsync_s_panic_hook_a_request_waits_for_another_unwind_then_lands");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("all landed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A guard that cancels and joins a background green thread in its destructor, the clean-up a
/// struct owning a green thread does: when the guard's own thread unwinds (a panic here), the
/// background thread shares its worker and is cancelled during that unwind. It was deferred
/// until the unwind ended, which waited for it: a deadlock (the runtime's drop hung as well).
#[test]
fn a_destructor_cancels_and_joins_a_green_thread_of_its_worker_during_an_unwind() {
    struct StopsOnDrop(Option<thread::JoinHandle<()>>);
    impl Drop for StopsOnDrop {
        fn drop(&mut self) {
            let background = self.0.take().unwrap();
            assert!(background.cancel().unwrap_err().is::<Cancelled>());
        }
    }
    for workers in [1, 2] {
        within(
            Duration::from_secs(20),
            "a cancel from a destructor during an unwind",
            move || {
                let rt = runtime(workers, Flavor::GreenThreads);
                rt.block_on(|| {
                    let owner = thread::spawn(|| {
                        let background = thread::spawn(|| thread::sleep(HOUR));
                        let _stops = StopsOnDrop(Some(background));
                        thread::sleep(Duration::from_millis(5));
                        panic!("the owner fails");
                    });
                    assert!(owner.join().is_err());
                    // And at shutdown: the owner cancelled, its guard cancelling the other.
                    thread::spawn(|| {
                        let background = thread::spawn(|| thread::sleep(HOUR));
                        let _stops = StopsOnDrop(Some(background));
                        thread::sleep(HOUR);
                    });
                    thread::sleep(Duration::from_millis(5));
                });
                drop(rt);
            },
        );
    }
}

#[test]
fn cancelling_a_lock_holder_does_not_poison() {
    for flavor in [Flavor::GreenThreads, Flavor::OsThreads] {
        runtime(2, flavor).block_on(|| {
            let m = Arc::new(Mutex::new(0));
            let rw = Arc::new(RwLock::new(0));
            let (locked_tx, locked_rx) = mpsc::channel();
            let (m2, rw2) = (m.clone(), rw.clone());
            let holder = thread::spawn(move || {
                let mut g = m2.lock().unwrap();
                let mut w = rw2.write().unwrap();
                *g += 1;
                *w += 1;
                locked_tx.send(()).unwrap();
                thread::sleep(HOUR);
            });
            locked_rx.recv().unwrap();
            assert!(holder.cancel().unwrap_err().is::<Cancelled>());
            assert!(
                !m.is_poisoned(),
                "a cancellation is a request, not a failure"
            );
            assert!(!rw.is_poisoned());
            assert_eq!(*m.lock().unwrap(), 1);
            assert_eq!(*rw.read().unwrap(), 1);
        });
    }
}

#[test]
fn an_expired_timeout_around_a_held_lock_does_not_poison() {
    fn body() {
        let m = Mutex::new(Vec::new());
        let rw = RwLock::new(0);
        for i in 0..3 {
            let r = timeout(Duration::from_millis(5), || {
                let mut g = m.lock().unwrap();
                let _r = rw.read().unwrap();
                g.push(i);
                thread::sleep(HOUR);
            });
            assert!(r.is_err());
        }
        // Every later lock().unwrap() still works.
        assert_eq!(*m.lock().unwrap(), [0, 1, 2]);
        assert!(!rw.is_poisoned());
        let r = timeout(Duration::from_millis(5), || {
            let _w = rw.write().unwrap();
            thread::sleep(HOUR);
        });
        assert!(r.is_err());
        assert!(!rw.is_poisoned());
        // A panic after the caught timeouts still poisons, as in std.
        let p = catch_unwind(AssertUnwindSafe(|| {
            let _g = m.lock().unwrap();
            panic!("a real failure");
        }));
        assert!(p.is_err() && m.is_poisoned());
    }
    body(); // on a plain OS thread
    for flavor in [Flavor::GreenThreads, Flavor::OsThreads] {
        runtime(2, flavor).block_on(body);
    }
}

#[test]
fn a_panic_still_poisons_after_a_cancellation_was_caught() {
    runtime(1, Flavor::GreenThreads).block_on(|| {
        let m = Arc::new(Mutex::new(()));
        let m2 = m.clone();
        let h = thread::spawn(move || {
            let _ = timeout(Duration::from_millis(1), || thread::sleep(HOUR));
            let _g = m2.lock().unwrap();
            panic!("a real failure");
        });
        assert!(h.join().is_err());
        assert!(m.is_poisoned(), "panics poison, as in std");
    });
}

// Panic reports name the green thread. Each case runs in a child process (this test binary
// again, with CHILD set), because the report goes to the process's stderr.

const CHILD: &str = "ZSYNC_CANCELLATION_TEST_CHILD";

fn run_child(name: &str) -> Output {
    Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env_remove("RUST_BACKTRACE")
        .output()
        .expect("re-execute the test binary")
}

#[test]
fn a_green_threads_panic_report_names_the_green_thread() {
    if std::env::var_os(CHILD).is_some() {
        runtime(1, Flavor::GreenThreads).block_on(|| {
            let named = thread::Builder::new()
                .name("report-me".into())
                .spawn(|| panic!("boom from a named green thread"))
                .unwrap();
            println!("\nnamed id {}", named.thread().id().as_u64());
            assert!(named.join().is_err());
            let unnamed = thread::spawn(|| panic!("boom from an unnamed green thread"));
            let id = unnamed.thread().id().as_u64();
            assert!(unnamed.join().is_err());
            println!("\nunnamed id {id}");
        });
        return;
    }
    let out = run_child("a_green_threads_panic_report_names_the_green_thread");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let id = |prefix: &str| {
        stdout
            .lines()
            .find_map(|l| Some(&l[l.find(prefix)? + prefix.len()..]))
            .unwrap_or_else(|| panic!("the child printed no line '{prefix}': {stdout}"))
            .to_owned()
    };
    let named = format!(
        "thread 'report-me' (green thread {}) panicked at",
        id("named id ")
    );
    let unnamed = format!(
        "thread '<unnamed>' (green thread {}) panicked at",
        id("unnamed id ")
    );
    assert!(
        stderr.contains(&named) && stderr.contains("boom from a named green thread"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&unnamed) && stderr.contains("boom from an unnamed green thread"),
        "{stderr}"
    );
    assert!(!stderr.contains("zsync-worker"), "{stderr}");
}

#[test]
fn a_panic_hook_set_before_the_runtime_still_runs_for_green_threads() {
    if std::env::var_os(CHILD).is_some() {
        std::panic::set_hook(Box::new(|_| {
            let me = thread::current();
            eprintln!("custom hook: {:?}", me.name());
        }));
        runtime(1, Flavor::GreenThreads).block_on(|| {
            let h = thread::Builder::new()
                .name("hooked".into())
                .spawn(|| panic!("boom"))
                .unwrap();
            assert!(h.join().is_err());
            // The hook still tracks the panic for zsync::thread::panicking().
            let m = Arc::new(Mutex::new(()));
            let m2 = m.clone();
            let _ = thread::spawn(move || {
                let _g = m2.lock().unwrap();
                panic!("poisons");
            })
            .join();
            assert!(m.is_poisoned());
        });
        return;
    }
    let out = run_child("a_panic_hook_set_before_the_runtime_still_runs_for_green_threads");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("custom hook: Some(\"hooked\")"), "{stderr}");
    assert!(
        !stderr.contains("panicked at"),
        "std's report is the custom hook's to make: {stderr}"
    );
}

/// A blocked sender that is cancelled just as a receiver takes its message: either the send
/// took effect (it returns, the message is received, the join sees the closure's value) or it
/// did not (the sender unwinds, the message is never received); never "received but not sent".
/// The cancellation wakes the sender, which looks at its notification and parks again, raising
/// on the way in; a receiver on another OS thread that takes the message between that look and
/// the raise used to be handed a message whose sender then unwound. Now the park point
/// withdraws the waiter before it raises, and a hand-over that won stands. Many tight rounds,
/// the cancel and the receive released together.
#[test]
fn a_send_cancelled_as_its_message_is_taken_is_either_sent_or_not() {
    let rt = runtime(2, Flavor::GreenThreads);
    let mut outcomes = [0usize; 2];
    for round in 0..2000u32 {
        let (tx, rx) = mpsc::sync_channel::<u32>(0);
        let sender = rt.spawn(move || tx.send(round).is_ok());
        // Let the sender block in its send (a rendezvous: no receiver yet).
        while rt.metrics().parked == 0 {
            std::thread::yield_now();
        }
        let go = Arc::new(std::sync::Barrier::new(2));
        let receiver = {
            let go = go.clone();
            std::thread::spawn(move || {
                go.wait();
                rx.recv_timeout(Duration::from_millis(200)).ok()
            })
        };
        go.wait();
        let joined = sender.cancel();
        let received = receiver.join().unwrap();
        match (joined, received) {
            (Ok(true), Some(value)) => {
                assert_eq!(value, round);
                outcomes[0] += 1;
            }
            (Err(payload), None) => {
                assert!(payload.is::<Cancelled>());
                outcomes[1] += 1;
            }
            (joined, received) => panic!(
                "round {round}: the send returned {:?} but the receiver got {received:?}",
                joined.map_err(|_| "an unwind")
            ),
        }
    }
    eprintln!(
        "sent and received: {}, cancelled unsent: {}",
        outcomes[0], outcomes[1]
    );
}

/// A `timeout()` whose deadline passes between the park point's look at the clock and the
/// park's own (tens of nanoseconds) still ends the park. It did not: the park left the passed
/// deadline out, armed no timer and slept until something else woke the thread, forever here.
#[test]
fn a_timeout_that_expires_as_its_park_begins_still_ends_it() {
    fn rounds() {
        let (_tx, rx) = mpsc::channel::<()>();
        for round in 0..2000u64 {
            let limit = Duration::from_nanos(round % 400);
            let parked: Result<(), _> = timeout(limit, || loop {
                thread::park();
            });
            assert!(parked.is_err(), "round {round}");
            let received = timeout(limit, || rx.recv());
            assert!(received.is_err(), "round {round}");
        }
    }
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        rounds(); // on a plain OS thread
        let rt = Builder::new().worker_threads(1).build().unwrap();
        rt.block_on(rounds); // on a green thread
        done.send(()).unwrap();
    });
    finished
        .recv_timeout(Duration::from_secs(60))
        .expect("a park outlived its expired timeout()");
}

/// A `timeout()` entered inside a shield bounds the shielded code's own waits (it never fired:
/// the shield held every timeout back), while the shield still holds back a cancellation and
/// the `timeout()`s entered before it.
#[test]
fn a_timeout_inside_a_shield_fires_and_the_shield_still_holds_the_rest_back() {
    within(Duration::from_secs(20), "a timeout inside a shield", || {
        let inner = |label: &str| {
            let started = std::time::Instant::now();
            let r = thread::shield(|| timeout(Duration::from_millis(10), || thread::sleep(HOUR)));
            assert!(r.is_err(), "{label}: the inner timeout fired");
            assert!(started.elapsed() < Duration::from_secs(5), "{label}");
        };
        inner("OS thread");
        runtime(1, Flavor::GreenThreads).block_on(move || {
            inner("green thread");
            // An outer timeout is held back by the shield, even while an inner one fires.
            let outer = timeout(Duration::from_millis(5), || {
                let held = thread::shield(|| {
                    let r = timeout(Duration::from_millis(30), || thread::sleep(HOUR));
                    assert!(r.is_err(), "the inner timeout fired, not the outer");
                    7
                });
                assert_eq!(held, 7, "the shielded code ran to its end");
                thread::sleep(HOUR); // the outer timeout lands here
            });
            assert!(outer.is_err());
            // A cancellation is held back too, and lands after the shield.
            let (entered_tx, entered_rx) = mpsc::channel();
            let h = thread::spawn(move || {
                let r = thread::shield(|| {
                    entered_tx.send(()).unwrap();
                    timeout(Duration::from_millis(30), || thread::sleep(HOUR))
                });
                assert!(r.is_err());
                thread::sleep(HOUR);
            });
            entered_rx.recv().unwrap();
            assert!(h.cancel().unwrap_err().is::<Cancelled>());
        });
    });
}

//! The monitor: yield requests, the coop budget, stall warnings, and a stalled worker's reactor
//! polled by someone else.

use std::io::{Read, Write};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zsync::runtime::Builder;
use zsync::sync::mpsc::channel;
use zsync::thread;

fn runtime(workers: usize) -> zsync::Runtime {
    Builder::new()
        .worker_threads(workers)
        .stall_threshold(None)
        .build()
        .unwrap()
}

/// std's `recv_try_iter`: the asker loops on `try_iter()` and an unbounded `send()`, never
/// parking; the answering thread is on the same (only) worker.
fn try_iter_against_a_busy_asker() {
    let (request_tx, request_rx) = channel();
    let (response_tx, response_rx) = channel();
    let asker = thread::spawn(move || {
        let mut count = 0;
        loop {
            for x in response_rx.try_iter() {
                count += x;
                if count == 6 {
                    return count;
                }
            }
            request_tx.send(()).unwrap();
        }
    });
    for _ in request_rx.iter() {
        if response_tx.send(2).is_err() {
            break;
        }
    }
    assert_eq!(asker.join().unwrap(), 6);
}

/// Holds the calling worker for `d` without reaching a park point: a spin that calls nothing of
/// zsync's (std::thread::sleep would do too, but the `hook` feature makes it park).
fn hold_worker(d: Duration) {
    let start = std::time::Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

#[test]
fn try_iter_and_send_loop_on_one_worker_over_many_runs() {
    let rt = runtime(1);
    for _ in 0..50 {
        rt.block_on(try_iter_against_a_busy_asker);
    }
}

#[test]
fn a_try_recv_spinner_lets_the_sender_on_its_worker_run() {
    let rt = runtime(1);
    rt.block_on(|| {
        let (tx, rx) = channel();
        let spinner = thread::spawn(move || loop {
            if let Ok(v) = rx.try_recv() {
                return v;
            }
        });
        let sender = thread::spawn(move || tx.send(7).unwrap());
        sender.join().unwrap();
        assert_eq!(spinner.join().unwrap(), 7);
    });
}

#[test]
fn cancel_of_a_check_cancel_spin_on_one_worker_returns() {
    let rt = runtime(1);
    rt.block_on(|| {
        let spinning = Arc::new(AtomicBool::new(false));
        let s = spinning.clone();
        let spinner = thread::spawn(move || loop {
            s.store(true, Ordering::Relaxed);
            thread::check_cancel();
            std::hint::spin_loop();
        });
        while !spinning.load(Ordering::Relaxed) {
            thread::yield_now();
        }
        let start = Instant::now();
        assert!(spinner.cancel().is_err());
        assert!(start.elapsed() < Duration::from_secs(5));
    });
}

/// A spin that never calls zsync cannot be asked to yield; a timer on its worker waits for it.
/// One that calls `check_cancel` gets a request within a time slice or so: the sleeper beside
/// it wakes in time.
#[test]
fn a_timer_beside_a_check_cancel_spin_fires_about_on_time() {
    let rt = runtime(1);
    let late = rt.block_on(|| {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let spinner = thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                thread::check_cancel();
            }
        });
        let start = Instant::now();
        thread::sleep(Duration::from_millis(20));
        let late = start.elapsed();
        stop.store(true, Ordering::Relaxed);
        spinner.join().unwrap();
        late
    });
    assert!(late < Duration::from_millis(500), "slept {late:?}");
    assert!(rt.metrics().coop_yields > 0);
}

/// A green thread in a std sleep holds its worker; the sockets registered with that worker's
/// reactor keep working for green threads on the other worker.
#[test]
fn a_stalled_workers_reactor_is_polled_for_the_others() {
    let rt = runtime(2);
    let elapsed = rt.block_on(|| {
        let listener = zsync::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut a = zsync::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut b, _) = listener.accept().unwrap();
        // Register both ends with this worker's reactor: wait on each once.
        for s in [&mut a, &mut b] {
            s.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
            let _ = s.read(&mut [0; 1]);
            s.set_read_timeout(None).unwrap();
        }
        const ROUNDS: usize = 10;
        let ponger = thread::spawn(move || {
            let mut byte = [0; 1];
            for _ in 0..ROUNDS {
                b.read_exact(&mut byte).unwrap();
                b.write_all(&byte).unwrap();
            }
        });
        let pinger = thread::spawn(move || {
            let start = Instant::now();
            let mut byte = [1; 1];
            for _ in 0..ROUNDS {
                a.write_all(&byte).unwrap();
                a.read_exact(&mut byte).unwrap();
            }
            start.elapsed()
        });
        // Hold this worker: the two green threads above run on the other one, but their
        // sockets' events arrive in this worker's reactor.
        hold_worker(Duration::from_millis(400));
        ponger.join().unwrap();
        pinger.join().unwrap()
    });
    assert!(
        elapsed < Duration::from_millis(250),
        "{} round trips took {elapsed:?}",
        10
    );
}

const CHILD: &str = "ZSYNC_MONITOR_TEST_CHILD";

/// Runs this test binary's test `name` in a child process with `CHILD` set; returns stderr.
fn run_child(name: &str) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env_remove("ZSYNC_STALL_MS")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "child failed:\n{stderr}");
    stderr
}

#[test]
fn a_stall_is_warned_about_once_with_the_green_threads_name() {
    if std::env::var_os(CHILD).is_none() {
        let stderr = run_child("a_stall_is_warned_about_once_with_the_green_threads_name");
        assert_eq!(stderr.matches("zsync: green thread").count(), 1, "{stderr}");
        assert!(stderr.contains("'std-sleeper'"), "{stderr}");
        assert!(stderr.contains("has held worker 0"), "{stderr}");
        assert!(stderr.contains("zsync::unblock"), "{stderr}");
        assert!(stderr.contains("yield_now"), "{stderr}");
        return;
    }
    let rt = Builder::new().worker_threads(1).build().unwrap();
    rt.block_on(|| {
        thread::Builder::new()
            .name("std-sleeper".into())
            .spawn(|| hold_worker(Duration::from_millis(400)))
            .unwrap()
            .join()
            .unwrap();
    });
    let m = rt.metrics();
    assert_eq!(m.stalls, 1);
    assert!(m.longest_stall >= Duration::from_millis(300), "{m:?}");
}

#[test]
fn no_warning_when_stall_warnings_are_off() {
    if std::env::var_os(CHILD).is_none() {
        let stderr = run_child("no_warning_when_stall_warnings_are_off");
        assert!(!stderr.contains("zsync: green thread"), "{stderr}");
        return;
    }
    let rt = runtime(1);
    rt.block_on(|| hold_worker(Duration::from_millis(250)));
    assert_eq!(rt.metrics().stalls, 0);
}

/// An accept loop that retries at once on EMFILE (std's accept loop pattern, no sleep) on a
/// 1-worker runtime: its failing accepts yield, so the green thread that frees descriptors
/// (after a zsync sleep) runs, and every client is served. In a child process: it uses up the
/// process's descriptors.
#[test]
fn an_accept_loop_spinning_on_emfile_recovers() {
    if std::env::var_os(CHILD).is_none() {
        run_child("an_accept_loop_spinning_on_emfile_recovers");
        return;
    }
    const CLIENTS: usize = 20;
    let rt = runtime(1);
    let served = rt.block_on(|| {
        let listener = zsync::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // Connect the clients first (the kernel queues them), then use up the descriptors.
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        let mut hog = Vec::new();
        loop {
            match std::fs::File::open("/dev/null") {
                Ok(f) => hog.push(f),
                Err(e) if e.raw_os_error() == Some(libc::EMFILE) => break,
                Err(e) => panic!("{e}"),
            }
        }
        let freer = thread::spawn(move || {
            thread::sleep(Duration::from_millis(30));
            drop(hog);
        });
        let mut served = 0;
        let mut emfile = 0u64;
        while served < CLIENTS {
            match listener.accept() {
                Ok(_) => served += 1,
                // zsync adds the limit's name to the message (the raw code stays in it).
                Err(e) if e.to_string().contains("os error 24") => emfile += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(emfile > 0, "the accept loop never hit EMFILE");
        freer.join().unwrap();
        drop(clients);
        served
    });
    assert_eq!(served, CLIENTS);
}

#[test]
fn a_dump_lists_parked_runnable_and_running_green_threads() {
    use zsync::runtime::ThreadState;
    let rt = runtime(2);
    let sleeper = rt.block_on(|| {
        thread::Builder::new()
            .name("dump-sleeper".into())
            .spawn(|| thread::sleep(Duration::from_secs(60)))
            .unwrap()
    });
    std::thread::sleep(Duration::from_millis(50));
    let dump = rt.dump();
    let text = dump.to_string();
    let t = dump
        .threads()
        .iter()
        .find(|t| t.name.as_deref() == Some("dump-sleeper"))
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(t.state, ThreadState::Parked, "{text}");
    assert_eq!(t.id, sleeper.thread().id());
    assert!(dump.silent_workers().is_empty(), "{text}");
    assert!(
        text.contains("'dump-sleeper'") && text.contains("parked"),
        "{text}"
    );

    // From a green thread of the runtime: the caller is listed as running.
    let inner = rt.block_on(|| {
        let me = thread::current().id();
        let dump = zsync::runtime::Handle::current().dump();
        dump.threads().iter().find(|t| t.id == me).map(|t| t.state)
    });
    assert_eq!(inner, Some(ThreadState::Running));
    assert!(sleeper.cancel().is_err());
}

#[test]
fn a_dump_says_what_parked_green_threads_wait_on_and_since_when() {
    use zsync::runtime::{IoDirection, ThreadState, WaitReason};
    use zsync::sync::mpsc::sync_channel;
    use zsync::sync::{Barrier, Mutex, WaitGroup};
    let rt = runtime(2);
    let lock = Arc::new(Mutex::new(()));
    let barrier = Arc::new(Barrier::new(2));
    let wg = WaitGroup::new();
    let (tx, rx) = channel::<u8>();
    let (sync_tx, _sync_rx) = sync_channel::<u8>(0);
    let listener = zsync::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listener_fd = std::os::fd::AsRawFd::as_raw_fd(&listener);
    let guard = lock.clone();
    let (held_tx, held_rx) = channel::<()>();
    let (release_tx, release_rx) = channel::<()>();
    let mut handles = Vec::new();
    let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
        let name = name.to_owned();
        rt.block_on(move || thread::Builder::new().name(name).spawn(f).unwrap())
    };
    handles.push(spawn(
        "holder",
        Box::new(move || {
            let _g = guard.lock().unwrap();
            held_tx.send(()).unwrap();
            let _ = release_rx.recv();
        }),
    ));
    held_rx.recv().unwrap();
    let l = lock.clone();
    handles.push(spawn("w-mutex", Box::new(move || drop(l.lock()))));
    handles.push(spawn(
        "w-barrier",
        Box::new(move || {
            let _ = barrier.wait();
        }),
    ));
    let w = wg.clone();
    handles.push(spawn("w-waitgroup", Box::new(move || w.wait())));
    handles.push(spawn(
        "w-recv",
        Box::new(move || {
            let _ = rx.recv();
        }),
    ));
    handles.push(spawn(
        "w-send",
        Box::new(move || {
            let _ = sync_tx.send(1);
        }),
    ));
    handles.push(spawn(
        "w-sleep",
        Box::new(|| thread::sleep(Duration::from_secs(30))),
    ));
    handles.push(spawn("w-park", Box::new(thread::park)));
    handles.push(spawn("w-accept", Box::new(move || drop(listener.accept()))));
    handles.push(spawn(
        "w-unblock",
        Box::new(|| zsync::unblock(|| std::thread::sleep(Duration::from_millis(700)))),
    ));
    handles.push(spawn(
        "w-join",
        Box::new(move || {
            let inner = thread::spawn(|| thread::sleep(Duration::from_secs(30)));
            let _ = inner.join();
        }),
    ));
    std::thread::sleep(Duration::from_millis(300));
    let dump = rt.dump();
    let text = dump.to_string();
    let of = |name: &str| {
        dump.threads()
            .iter()
            .find(|t| t.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("{name} missing:\n{text}"))
            .clone()
    };
    for (name, want) in [
        ("w-mutex", WaitReason::Mutex),
        ("w-barrier", WaitReason::Barrier),
        ("w-waitgroup", WaitReason::WaitGroup),
        ("w-recv", WaitReason::Recv),
        ("w-send", WaitReason::Send),
        ("w-park", WaitReason::Park),
        ("w-unblock", WaitReason::Unblock),
        ("holder", WaitReason::Recv),
    ] {
        let t = of(name);
        assert_eq!(t.state, ThreadState::Parked, "{name}:\n{text}");
        assert_eq!(t.waiting_on, Some(want), "{name}:\n{text}");
        let d = t.parked_for.unwrap();
        assert!(
            d >= Duration::from_millis(150) && d < Duration::from_secs(5),
            "{name} parked for {d:?}:\n{text}"
        );
    }
    assert!(
        matches!(
            of("w-sleep").waiting_on,
            Some(WaitReason::Sleep { until: Some(_) })
        ),
        "{text}"
    );
    assert_eq!(
        of("w-accept").waiting_on,
        Some(WaitReason::Socket {
            fd: listener_fd,
            direction: IoDirection::Read
        }),
        "{text}"
    );
    assert!(
        matches!(of("w-join").waiting_on, Some(WaitReason::Join { .. })),
        "{text}"
    );
    assert!(text.contains("on Mutex::lock for "), "{text}");
    assert!(
        text.contains(&format!("on socket fd {listener_fd} readable")),
        "{text}"
    );
    drop(release_tx);
    drop(tx);
    drop(wg);
    for h in handles {
        let _ = h.cancel();
    }
}

#[test]
fn a_signal_prints_the_dump_to_stderr() {
    if std::env::var_os(CHILD).is_none() {
        let stderr = run_child("a_signal_prints_the_dump_to_stderr");
        assert!(
            stderr.contains(&format!("zsync: signal {}", libc::SIGUSR1)),
            "{stderr}"
        );
        assert!(
            stderr.contains("'signal-sleeper' on worker 0: parked on sleep"),
            "{stderr}"
        );
        // Two signals, two dumps.
        assert_eq!(stderr.matches("'signal-sleeper'").count(), 2, "{stderr}");
        return;
    }
    let rt = Builder::new()
        .worker_threads(1)
        .dump_on_signal(libc::SIGUSR1)
        .build()
        .unwrap();
    let sleeper = rt.block_on(|| {
        thread::Builder::new()
            .name("signal-sleeper".into())
            .spawn(|| thread::sleep(Duration::from_secs(60)))
            .unwrap()
    });
    std::thread::sleep(Duration::from_millis(50));
    for _ in 0..2 {
        // SAFETY: a signal to ourselves, with a handler installed.
        assert_eq!(unsafe { libc::kill(libc::getpid(), libc::SIGUSR1) }, 0);
        std::thread::sleep(Duration::from_millis(400));
    }
    assert!(sleeper.cancel().is_err());
}

#[test]
fn an_uncatchable_dump_signal_is_refused() {
    for signal in [0, libc::SIGKILL, libc::SIGSTOP, 1000] {
        let err = Builder::new().dump_on_signal(signal).build().err().unwrap();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{signal}");
    }
}

#[inline(never)]
fn a_function_of_its_own_that_parks() {
    thread::sleep(Duration::from_secs(60));
    std::hint::black_box(());
}

#[test]
fn a_dump_has_a_backtrace_of_each_parked_green_thread_taken_on_its_stack() {
    let rt = runtime(1);
    let parked = rt.block_on(|| {
        thread::Builder::new()
            .name("bt-sleeper".into())
            .spawn(a_function_of_its_own_that_parks)
            .unwrap()
    });
    std::thread::sleep(Duration::from_millis(50));
    let dump = rt.dump();
    let text = dump.to_string();
    let t = dump
        .threads()
        .iter()
        .find(|t| t.name.as_deref() == Some("bt-sleeper"))
        .unwrap_or_else(|| panic!("{text}"));
    if cfg!(target_arch = "x86_64") && zsync::coro::BACKEND != "corosensei" {
        let bt = t
            .backtrace
            .as_ref()
            .unwrap_or_else(|| panic!("{text}"))
            .to_string();
        assert!(bt.contains("a_function_of_its_own_that_parks"), "{bt}");
        assert!(text.contains("a_function_of_its_own_that_parks"), "{text}");
    }
    // The green thread was not resumed by the dump: it still sleeps, and wakes normally.
    assert!(parked.cancel().is_err());
}

#[test]
fn a_dump_names_the_green_thread_holding_a_worker() {
    use zsync::runtime::ThreadState;
    let rt = runtime(1);
    let holder = rt.block_on(|| {
        thread::Builder::new()
            .name("worker-holder".into())
            .spawn(|| hold_worker(Duration::from_millis(600)))
            .unwrap()
    });
    std::thread::sleep(Duration::from_millis(50));
    let dump = rt.dump();
    let text = dump.to_string();
    assert_eq!(dump.silent_workers(), &[0], "{text}");
    let t = dump
        .threads()
        .iter()
        .find(|t| t.name.as_deref() == Some("worker-holder"))
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(t.state, ThreadState::Running, "{text}");
    assert!(text.contains("did not answer"), "{text}");
    holder.join().unwrap();
}

/// Two green threads that take two mutexes in opposite orders, and a root that joins them.
fn two_mutex_deadlock() {
    use zsync::sync::{Barrier, Mutex};
    let m1 = Arc::new(Mutex::new(()));
    let m2 = Arc::new(Mutex::new(()));
    let barrier = Arc::new(Barrier::new(2));
    let (a1, a2, ab) = (m1.clone(), m2.clone(), barrier.clone());
    let a = thread::Builder::new()
        .name("lock-1-then-2".into())
        .spawn(move || {
            let _one = a1.lock().unwrap();
            ab.wait();
            let _two = a2.lock().unwrap();
        })
        .unwrap();
    let b = thread::Builder::new()
        .name("lock-2-then-1".into())
        .spawn(move || {
            let _two = m2.lock().unwrap();
            barrier.wait();
            let _one = m1.lock().unwrap();
        })
        .unwrap();
    a.join().unwrap();
    b.join().unwrap();
}

#[test]
fn a_two_mutex_deadlock_is_reported_with_a_dump() {
    if std::env::var_os(CHILD).is_none() {
        let stderr = run_child("a_two_mutex_deadlock_is_reported_with_a_dump");
        assert_eq!(
            stderr
                .matches("zsync: all green threads are asleep: possible deadlock")
                .count(),
            1,
            "{stderr}"
        );
        assert!(stderr.contains("'lock-1-then-2' on worker"), "{stderr}");
        assert!(stderr.contains("'lock-2-then-1' on worker"), "{stderr}");
        assert!(stderr.contains("parked"), "{stderr}");
        return;
    }
    // The child: the report is printed, then the test ends (the runtime is leaked, with its
    // deadlocked green threads and the OS thread blocked on them; the process exits).
    let rt = runtime(2);
    let h = rt.handle();
    std::thread::spawn(move || h.block_on(two_mutex_deadlock));
    std::thread::sleep(Duration::from_millis(1500));
    std::mem::forget(rt);
}

#[test]
fn deadlock_panic_panics_in_block_on() {
    let rt = Builder::new()
        .worker_threads(2)
        .stall_threshold(None)
        .deadlock_panic(true)
        .build()
        .unwrap();
    let start = Instant::now();
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(two_mutex_deadlock)
    }))
    .unwrap_err();
    let msg = err
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(
        msg.contains("all green threads are asleep: possible deadlock"),
        "{msg}"
    );
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_root_waiting_on_a_sleeper_is_no_deadlock() {
    let rt = Builder::new()
        .worker_threads(1)
        .stall_threshold(None)
        .deadlock_panic(true)
        .build()
        .unwrap();
    rt.block_on(|| {
        thread::spawn(|| thread::sleep(Duration::from_millis(900)))
            .join()
            .unwrap();
        // And on an unblock job, scoped or not (the scoped wait is shielded: a report's
        // cancellation would be raised at the yield after it).
        zsync::unblock(|| std::thread::sleep(Duration::from_millis(900)));
        zsync::unblock_scoped(|| std::thread::sleep(Duration::from_millis(900)));
        thread::yield_now();
    });
}

//! The runtime and `zsync::thread`: spawn, join, names and ids, park/unpark, cancellation,
//! scoped threads, panics, shutdown, both flavors.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zsync::runtime::{Builder, Flavor, Handle};
use zsync::thread;
use zsync::{Cancelled, Runtime};

mod common;
use common::DropCounter;

fn runtime(flavor: Flavor) -> Runtime {
    Builder::new()
        .worker_threads(2)
        .flavor(flavor)
        .build()
        .unwrap()
}

/// Waits (up to 5 s, then fails with the metrics) until `rt`'s metrics satisfy `done`.
fn wait_for_metrics(rt: &Runtime, done: impl Fn(&zsync::runtime::Metrics) -> bool) {
    let start = Instant::now();
    while !done(&rt.metrics()) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            rt.metrics()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Runs `body` on a fresh runtime of each flavor.
fn both_flavors(body: fn()) {
    for flavor in [Flavor::GreenThreads, Flavor::OsThreads] {
        runtime(flavor).block_on(body);
    }
}

#[test]
fn run_returns_the_value_and_resumes_panics() {
    assert_eq!(zsync::run(|| 40 + 2), 42);
    let err = std::panic::catch_unwind(|| zsync::run(|| panic!("inside run"))).unwrap_err();
    assert_eq!(err.downcast_ref::<&str>(), Some(&"inside run"));
}

#[test]
fn join_returns_values_and_panic_payloads() {
    both_flavors(|| {
        let ok = thread::spawn(|| vec![1, 2, 3]);
        let bad = thread::spawn(|| -> u8 { std::panic::panic_any(7i32) });
        assert_eq!(ok.join().unwrap(), vec![1, 2, 3]);
        assert_eq!(*bad.join().unwrap_err().downcast::<i32>().unwrap(), 7);
    });
}

#[test]
fn many_green_threads_join() {
    let rt = runtime(Flavor::GreenThreads);
    let sum = rt.block_on(|| {
        let handles: Vec<_> = (0..10_000u64).map(|i| thread::spawn(move || i)).collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    assert_eq!(sum, 10_000 * 9_999 / 2);
    let m = rt.metrics();
    assert!(m.spawns >= 10_001, "{m:?}");
    assert!(m.switches >= 10_001, "{m:?}");
}

#[test]
fn names_ids_and_current() {
    both_flavors(|| {
        let h = thread::Builder::new()
            .name("named".into())
            .spawn(|| {
                let me = thread::current();
                (me.name().map(str::to_owned), me.id())
            })
            .unwrap();
        let id = h.thread().id();
        assert_eq!(h.thread().name(), Some("named"));
        let (name, inner_id) = h.join().unwrap();
        assert_eq!(name.as_deref(), Some("named"));
        assert_eq!(inner_id, id);
        let unnamed = thread::spawn(|| thread::current().name().map(str::to_owned));
        assert_ne!(unnamed.thread().id(), id);
        assert_eq!(unnamed.join().unwrap(), None);
    });
    // Off any runtime: the OS thread's own identity, stable across calls.
    assert_eq!(thread::current().id(), thread::current().id());
}

#[test]
fn park_and_unpark_tokens() {
    both_flavors(|| {
        // A token given before park makes park return at once.
        thread::current().unpark();
        thread::park();
        // A parked thread is woken by unpark from another thread.
        let woken = Arc::new(AtomicBool::new(false));
        let w = woken.clone();
        let sleeper = thread::spawn(move || {
            while !w.load(Ordering::Acquire) {
                thread::park();
            }
        });
        thread::sleep(Duration::from_millis(5));
        woken.store(true, Ordering::Release);
        sleeper.thread().unpark();
        sleeper.join().unwrap();
        // park_timeout returns by itself.
        let start = Instant::now();
        thread::park_timeout(Duration::from_millis(20));
        assert!(start.elapsed() >= Duration::from_millis(15));
    });
}

#[test]
fn unpark_from_a_plain_os_thread_wakes_a_green_thread() {
    let rt = runtime(Flavor::GreenThreads);
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    let parked = rt.spawn(move || {
        while !f.load(Ordering::Acquire) {
            thread::park();
        }
        "woken"
    });
    std::thread::sleep(Duration::from_millis(10));
    flag.store(true, Ordering::Release);
    parked.thread().unpark();
    assert_eq!(parked.join().unwrap(), "woken");
}

/// Wakes of a running green thread from another OS thread are posted to its worker's inbox,
/// where the worker applies them when it next looks: one post at a time, however many wakes
/// come (the thread here never lets its worker look), and none lost: the thread's next park
/// takes the posted wake as a token and returns at once.
#[test]
fn unparks_of_a_running_green_thread_from_an_os_thread_leave_one_token() {
    let rt = Builder::new()
        .worker_threads(1)
        .stall_threshold(None)
        .build()
        .unwrap();
    let go = Arc::new(AtomicBool::new(false));
    let started = Arc::new(AtomicBool::new(false));
    let (g, s) = (go.clone(), started.clone());
    let spinner = rt.spawn(move || {
        s.store(true, Ordering::Release);
        // Holds the worker without a park point: no post is applied meanwhile.
        while !g.load(Ordering::Acquire) {
            std::hint::spin_loop();
        }
        let handle = Handle::current();
        let switches = handle.metrics().switches;
        let start = Instant::now();
        thread::park_timeout(Duration::from_secs(10));
        // Taken as a token: the park did not suspend, so the worker did not switch back in.
        (start.elapsed(), handle.metrics().switches - switches)
    });
    while !started.load(Ordering::Acquire) {
        std::thread::yield_now();
    }
    // Lets the spinner go even if an assertion fails, so that the runtime can shut down.
    struct Release(Arc<AtomicBool>);
    impl Drop for Release {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Release);
        }
    }
    let release = Release(go);
    for i in 0..10_000 {
        spinner.thread().unpark();
        if i % 1000 == 999 {
            let queued = rt.metrics().workers[0].queued;
            assert!(queued <= 1, "{queued} wakes of one thread queued");
        }
    }
    drop(release);
    let (parked_for, switches) = spinner.join().unwrap();
    assert!(
        parked_for < Duration::from_secs(5),
        "the wakes were lost: parked {parked_for:?}"
    );
    assert_eq!(
        switches, 0,
        "the park suspended instead of taking the posted token"
    );
    // The post, its wake taken as a token by that park, is dropped when the worker looks.
    wait_for_metrics(&rt, |m| m.workers[0].queued == 0);
}

/// Two parties taking turns through a shared counter, each waking the other with `unpark` and
/// parking until its turn comes.
struct Turns {
    turn: AtomicUsize,
}

impl Turns {
    /// Waits for turn `i` (parking), then passes the turn on and wakes `peer`.
    fn take(&self, i: usize, peer: &thread::Thread) {
        while self.turn.load(Ordering::Acquire) != i {
            thread::park();
        }
        self.turn.store(i + 1, Ordering::Release);
        peer.unpark();
    }
}

/// Runs `body` on another OS thread and fails (rather than hangs) if it has not returned
/// within `limit`: a lost wake leaves a party parked for good.
fn within(limit: Duration, what: &str, body: impl FnOnce() + Send + 'static) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        body();
        let _ = tx.send(());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("{what}: a wake was lost (no progress for {limit:?})"));
}

/// A green thread and a plain OS thread wake each other in turn, 20,000 times each way: every
/// wake of the green thread comes from another OS thread, so it is posted to its worker's inbox,
/// often while the green thread is still on its way to park (the post then wakes it right
/// after). None is lost.
#[test]
fn a_green_thread_and_an_os_thread_waking_each_other_in_turn_lose_no_wake() {
    within(Duration::from_secs(60), "green <-> OS thread", || {
        const ROUNDS: usize = 20_000;
        let rt = runtime(Flavor::GreenThreads);
        let turns = Arc::new(Turns {
            turn: AtomicUsize::new(0),
        });
        let os = thread::current();
        let t = turns.clone();
        let green = rt.spawn(move || {
            for i in 0..ROUNDS {
                t.take(2 * i + 1, &os);
            }
        });
        let green_thread = green.thread().clone();
        for i in 0..ROUNDS {
            turns.take(2 * i, &green_thread);
        }
        green.join().unwrap();
        assert_eq!(turns.turn.load(Ordering::Acquire), 2 * ROUNDS);
    });
}

/// The same between two green threads on different workers, 20,000 times each way: each wake
/// crosses workers as a post. The first is spawned and holds its worker, spinning, until the
/// second (spawned from this OS thread once the first runs, so an idle worker starts it) has
/// started and the two have each other's handles. None is lost.
#[test]
fn green_threads_on_two_workers_waking_each_other_in_turn_lose_no_wake() {
    within(
        Duration::from_secs(60),
        "green <-> green across workers",
        || {
            const ROUNDS: usize = 20_000;
            // No stall warnings: the first side holds its worker on purpose for a moment.
            let rt = Builder::new()
                .worker_threads(2)
                .stall_threshold(None)
                .build()
                .unwrap();
            let turns = Arc::new(Turns {
                turn: AtomicUsize::new(0),
            });
            // Each side's slot for the other's handle.
            let peers: Arc<[Mutex<Option<thread::Thread>>; 2]> =
                Arc::new([Mutex::new(None), Mutex::new(None)]);
            let (started_tx, started_rx) = std::sync::mpsc::channel::<thread::Thread>();
            let party = |side: usize| {
                let (t, peers, started) = (turns.clone(), peers.clone(), started_tx.clone());
                rt.spawn(move || {
                    started.send(thread::current()).unwrap();
                    // Holds the worker (no park point) until the other side's handle is here.
                    let peer = loop {
                        if let Some(peer) = peers[side].lock().unwrap().clone() {
                            break peer;
                        }
                        std::hint::spin_loop();
                    };
                    for i in 0..ROUNDS {
                        t.take(2 * i + side, &peer);
                    }
                })
            };
            let first = party(0);
            let first_thread = started_rx.recv().unwrap();
            let second = party(1);
            let second_thread = started_rx.recv().unwrap();
            *peers[1].lock().unwrap() = Some(first_thread);
            *peers[0].lock().unwrap() = Some(second_thread);
            first.join().unwrap();
            second.join().unwrap();
            assert_eq!(turns.turn.load(Ordering::Acquire), 2 * ROUNDS);
        },
    );
}

struct SetOnDrop(Arc<AtomicBool>);
impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn cancel_unwinds_a_sleeping_thread_and_runs_destructors() {
    both_flavors(|| {
        let dropped = Arc::new(AtomicBool::new(false));
        let d = dropped.clone();
        let h = thread::spawn(move || {
            let _guard = SetOnDrop(d);
            thread::sleep(Duration::from_secs(3600));
            "never"
        });
        thread::sleep(Duration::from_millis(5));
        let payload = h.cancel().unwrap_err();
        assert!(payload.is::<Cancelled>());
        assert!(dropped.load(Ordering::SeqCst));
    });
}

#[test]
fn cancel_of_a_finished_thread_returns_its_value() {
    both_flavors(|| {
        let h = thread::spawn(|| 5);
        while !h.is_finished() {
            thread::yield_now();
        }
        assert_eq!(h.cancel().unwrap(), 5);
    });
}

#[test]
fn a_user_catch_unwind_cannot_swallow_a_cancellation() {
    both_flavors(|| {
        let swallowed = Arc::new(AtomicUsize::new(0));
        let s = swallowed.clone();
        let h = thread::spawn(move || {
            let r = std::panic::catch_unwind(|| thread::sleep(Duration::from_secs(3600)));
            if r.is_err() {
                s.fetch_add(1, Ordering::SeqCst);
            }
            drop(r);
            // The cancellation was swallowed above; the next park point raises it again.
            thread::sleep(Duration::from_secs(3600));
            "not reached"
        });
        thread::sleep(Duration::from_millis(5));
        assert!(h.cancel().unwrap_err().is::<Cancelled>());
        assert_eq!(
            swallowed.load(Ordering::SeqCst),
            1,
            "caught once, raised again at the next park"
        );
    });
}

#[test]
fn shield_holds_cancellation_back() {
    both_flavors(|| {
        let finished_shielded = Arc::new(AtomicBool::new(false));
        let f = finished_shielded.clone();
        let h = thread::spawn(move || {
            thread::shield(|| {
                thread::sleep(Duration::from_millis(30));
                f.store(true, Ordering::SeqCst);
            });
            thread::sleep(Duration::from_secs(3600));
        });
        thread::sleep(Duration::from_millis(5));
        assert!(h.cancel().unwrap_err().is::<Cancelled>());
        assert!(finished_shielded.load(Ordering::SeqCst));
    });
}

#[test]
fn a_destructor_may_block_while_a_cancellation_unwinds() {
    both_flavors(|| {
        struct SleepsInDrop(Arc<AtomicBool>);
        impl Drop for SleepsInDrop {
            fn drop(&mut self) {
                assert!(
                    thread::panicking(),
                    "unwinding, as far as this green thread knows"
                );
                thread::sleep(Duration::from_millis(5)); // a park point while unwinding: no raise
                self.0.store(true, Ordering::SeqCst);
            }
        }
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        let h = thread::spawn(move || {
            let _g = SleepsInDrop(d);
            thread::sleep(Duration::from_secs(3600));
        });
        thread::sleep(Duration::from_millis(5));
        assert!(h.cancel().unwrap_err().is::<Cancelled>());
        assert!(done.load(Ordering::SeqCst));
    });
}

#[test]
fn check_cancel_makes_a_busy_loop_cancellable() {
    for flavor in [Flavor::GreenThreads, Flavor::OsThreads] {
        let rt = runtime(flavor);
        // The busy loop never yields, so it holds its worker: cancel it from a plain OS thread.
        let h = rt.spawn(|| {
            let mut n = 0u64;
            loop {
                n = n.wrapping_add(1);
                if n.is_multiple_of(1024) {
                    thread::check_cancel();
                }
            }
        });
        std::thread::sleep(Duration::from_millis(5));
        assert!(h.cancel().unwrap_err().is::<Cancelled>());
    }
}

#[test]
fn scoped_threads_borrow_local_data() {
    both_flavors(|| {
        let mut data = vec![1, 2, 3];
        let total = AtomicUsize::new(0);
        thread::scope(|s| {
            for chunk in data.chunks(1) {
                let total = &total;
                s.spawn(move || {
                    thread::sleep(Duration::from_millis(1));
                    total.fetch_add(chunk[0], Ordering::SeqCst);
                });
            }
            let h = s.spawn(|| data.len());
            assert_eq!(h.join().unwrap(), 3);
        });
        data.push(4);
        assert_eq!(total.load(Ordering::SeqCst), 6);
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            thread::scope(|s| {
                s.spawn(|| panic!("scoped"));
            })
        }));
        assert!(
            err.is_err(),
            "an unjoined panicking scoped thread makes scope panic"
        );
    });
}

#[test]
fn panicking_is_per_green_thread() {
    let rt = runtime(Flavor::GreenThreads);
    rt.block_on(|| {
        assert!(!thread::panicking());
        let r = thread::spawn(|| {
            struct Check;
            impl Drop for Check {
                fn drop(&mut self) {
                    assert!(thread::panicking());
                    // Park mid-unwind; the green threads that run meanwhile are not panicking.
                    thread::sleep(Duration::from_millis(10));
                }
            }
            let _c = Check;
            panic!("boom");
        });
        let others: Vec<_> = (0..8)
            .map(|_| {
                thread::spawn(|| {
                    for _ in 0..10 {
                        assert!(!thread::panicking());
                        thread::sleep(Duration::from_millis(2));
                    }
                })
            })
            .collect();
        assert!(r.join().is_err());
        for o in others {
            o.join().unwrap();
        }
    });
}

#[test]
fn dropping_a_runtime_cancels_thousands_of_parked_threads() {
    let rt = runtime(Flavor::GreenThreads);
    let dropped = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(AtomicUsize::new(0));
    struct Count(Arc<AtomicUsize>);
    impl Drop for Count {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    const N: usize = 5000;
    for _ in 0..N {
        let (d, s) = (dropped.clone(), started.clone());
        let _ = rt.spawn(move || {
            let _c = Count(d);
            s.fetch_add(1, Ordering::SeqCst);
            thread::park(); // forever, unless cancelled
            loop {
                thread::sleep(Duration::from_secs(3600));
            }
        });
    }
    while started.load(Ordering::SeqCst) < N {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(rt.metrics().live, N as u64);
    let start = Instant::now();
    drop(rt);
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(dropped.load(Ordering::SeqCst), N, "every destructor ran");
}

#[test]
fn spawn_outside_any_runtime_uses_the_global_one() {
    assert!(Handle::try_current().is_none());
    let h = zsync::spawn(|| Handle::try_current().is_some());
    assert!(h.join().unwrap());
    let on_os_thread = std::thread::spawn(|| zsync::spawn(|| 3).join().unwrap())
        .join()
        .unwrap();
    assert_eq!(on_os_thread, 3);
}

#[test]
fn builder_errors_are_invalid_input() {
    let e = Builder::new().worker_threads(0).build().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("at least 1 worker"), "{e}");
    let e = Builder::new().stack_size(4096).build().unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("below the minimum"), "{e}");
    // A green thread's size below the minimum is rounded up, as std does for OS threads.
    both_flavors(|| {
        let h = thread::Builder::new().stack_size(1000).spawn(|| 7).unwrap();
        assert_eq!(h.join().unwrap(), 7);
    });
}

#[test]
#[should_panic(expected = "outside of a zsync runtime")]
fn handle_current_outside_a_runtime_panics_clearly() {
    let _ = Handle::current();
}

#[test]
fn yield_now_interleaves_green_threads_on_one_worker() {
    let rt = Builder::new().worker_threads(1).build().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    rt.block_on({
        let log = log.clone();
        move || {
            let hs: Vec<_> = (0..2)
                .map(|id| {
                    let log = log.clone();
                    thread::spawn(move || {
                        for _ in 0..3 {
                            log.lock().unwrap().push(id);
                            thread::yield_now();
                        }
                    })
                })
                .collect();
            for h in hs {
                h.join().unwrap();
            }
        }
    });
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 6);
    assert!(
        log.windows(2).any(|w| w[0] != w[1]),
        "yield_now let the other run: {log:?}"
    );
}

#[test]
fn stacks_are_reused_after_threads_finish() {
    let rt = runtime(Flavor::GreenThreads);
    let pages = rt.block_on(|| {
        let mut pages = std::collections::HashSet::new();
        for _ in 0..3 {
            let hs: Vec<_> = (0..200)
                .map(|_| {
                    thread::spawn(|| {
                        thread::yield_now();
                        let local = 0u8;
                        std::hint::black_box(&local) as *const u8 as usize / 4096
                    })
                })
                .collect();
            for h in hs {
                pages.insert(h.join().unwrap());
            }
        }
        pages.len()
    });
    // 600 green threads, at most 200 alive at once: pooled stacks are reused across rounds.
    assert!(
        pages <= 300,
        "{pages} distinct stacks for 600 green threads"
    );
    wait_for_metrics(&rt, |m| m.live == 0);
}

/// Whether the page holding `addr` is in memory (mincore(2), which brings nothing in).
fn page_resident(addr: usize) -> bool {
    let page = addr & !4095;
    let mut v = 0u8;
    // SAFETY: mincore only reads the page tables of the range and writes one byte to `v`.
    let rc = unsafe { libc::mincore(page as *mut libc::c_void, 4096, &mut v) };
    assert_eq!(rc, 0, "mincore: {}", std::io::Error::last_os_error());
    v & 1 == 1
}

#[test]
fn an_idle_worker_gives_its_stacks_deep_memory_back() {
    let rt = Builder::new().worker_threads(1).build().unwrap();
    // A green thread that went 96 KiB deep, below the pool's keep-resident window (32 KiB):
    // the address of its deepest page, still mapped (the pool keeps its stacks mapped). (By
    // reference: a debug build would copy an array passed by value, past the 256 KiB stack.)
    let deep = rt.block_on(|| {
        thread::spawn(|| {
            let mut buf = [1u8; 96 * 1024];
            std::hint::black_box(&mut buf);
            buf.as_ptr() as usize
        })
        .join()
        .unwrap()
    });
    // The worker is idle now; it trims once it has been for a while (not at once: a burst that
    // resumes soon would fault the pages back in).
    let start = Instant::now();
    while page_resident(deep) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the deep page of an idle stack is still resident after 5 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(rt);
}

#[test]
fn metrics_count_live_parked_switches_and_steals() {
    let rt = runtime(Flavor::GreenThreads);
    let release = Arc::new(AtomicBool::new(false));
    let parked_now = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..100)
        .map(|_| {
            let (release, parked_now) = (release.clone(), parked_now.clone());
            rt.spawn(move || {
                parked_now.fetch_add(1, Ordering::SeqCst);
                while !release.load(Ordering::SeqCst) {
                    thread::park();
                }
            })
        })
        .collect();
    wait_for_metrics(&rt, |m| m.parked >= 100);
    let m = rt.metrics();
    assert_eq!(m.live, 100, "{m:?}");
    assert_eq!(m.parked, 100, "{m:?}");
    assert!(m.spawns >= 100 && m.switches >= 100, "{m:?}");
    assert_eq!(m.workers.len(), 2);
    assert_eq!(m.workers.iter().map(|w| w.parked).sum::<u64>(), 100);
    release.store(true, Ordering::SeqCst);
    for h in &handles {
        h.thread().unpark();
    }
    for h in handles {
        h.join().unwrap();
    }
    wait_for_metrics(&rt, |m| m.live == 0);
    assert_eq!(rt.metrics().parked, 0);
}

#[test]
fn spawning_an_os_thread_leaves_no_stray_unpark_behind() {
    // Each spawned thread unparks its spawner once and the spawner parks once per spawn: a
    // wake-up token left behind by the spawn itself would let a park return early, two unparks
    // would then merge into one token, and the last park would wait forever.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        runtime(Flavor::OsThreads).block_on(|| {
            for _ in 0..2000 {
                let me = thread::current();
                let _t = thread::spawn(move || me.unpark());
                thread::park();
            }
        });
        let _ = tx.send(());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("a park never returned: an unpark was lost");
}

/// Waits (up to 10 s) for `done`, failing with `what` if it never comes.
fn wait_for(done: &AtomicBool, what: &str) {
    let start = Instant::now();
    while !done.load(Ordering::SeqCst) {
        assert!(start.elapsed() < Duration::from_secs(10), "{what}");
        std::thread::yield_now();
    }
}

/// A new green thread waits in its spawner's `next` slot, but not forever: if the spawner keeps
/// its worker busy and never parks, another worker takes the child after a few microseconds.
/// (Without that, the child would wait for the spawner, which waits for the child: a hang.)
#[test]
fn a_spawner_that_never_parks_does_not_hold_its_child_back() {
    let rt = Builder::new().worker_threads(2).build().unwrap();
    for _ in 0..50 {
        let ran = Arc::new(AtomicBool::new(false));
        let spinner = {
            let ran = ran.clone();
            rt.spawn(move || {
                let child = {
                    let ran = ran.clone();
                    zsync::spawn(move || ran.store(true, Ordering::SeqCst))
                };
                // Busy, with no park point, until the child has run elsewhere.
                wait_for(
                    &ran,
                    "the child never ran while its spawner kept its worker busy",
                );
                child.join().unwrap();
            })
        };
        spinner.join().unwrap();
    }
}

/// A spawner that parks soon after spawning (here: a microsecond later, in a join) runs the
/// child on its own worker, from its `next` slot, even while the other worker is looking for
/// work: the pair's wakes stay local. Each round makes the other worker look at the right
/// moment (it finishes a green thread just as the child is spawned); before the `next` slot it
/// took the child nearly every round. The child goes elsewhere only if its spawner is held up
/// for longer than the slot's grace period, which a preempted OS thread can be: hence 90%.
#[test]
fn a_spawner_that_parks_soon_runs_its_child_on_its_own_worker() {
    let rt = Builder::new().worker_threads(2).build().unwrap();
    let same = rt.block_on(|| {
        let mine = std::thread::current().id();
        (0..100)
            .filter(|_| {
                // A green thread that keeps the other worker busy until the child is spawned.
                let (started, go) = (
                    Arc::new(AtomicBool::new(false)),
                    Arc::new(AtomicBool::new(false)),
                );
                let other = {
                    let (started, go) = (started.clone(), go.clone());
                    zsync::spawn(move || {
                        started.store(true, Ordering::SeqCst);
                        while !go.load(Ordering::SeqCst) {
                            std::hint::spin_loop();
                        }
                    })
                };
                wait_for(
                    &started,
                    "the other worker never took the busy green thread",
                );
                go.store(true, Ordering::SeqCst);
                let child = zsync::spawn(|| std::thread::current().id());
                let spin = Instant::now();
                while spin.elapsed() < Duration::from_micros(1) {
                    std::hint::spin_loop();
                }
                let ran_on = child.join().unwrap();
                other.join().unwrap();
                ran_on == mine
            })
            .count()
    });
    assert!(
        same >= 90,
        "only {same} of 100 children ran on their spawner's worker"
    );
}

/// The `next` slot does not starve the ready queue: on one worker, a chain of green threads
/// each spawning the next and exiting (every pick could come from the slot) must let a
/// yielding green thread run meanwhile. The chain goes on until it has seen the other thread
/// make progress, so without fairness this test hangs (and fails at its deadline).
#[test]
fn a_chain_of_spawns_does_not_starve_ready_green_threads() {
    let rt = Builder::new().worker_threads(1).build().unwrap();
    let progress = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let yielder = {
        let (progress, stop) = (progress.clone(), stop.clone());
        rt.spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                progress.fetch_add(1, Ordering::SeqCst);
                thread::yield_now();
            }
        })
    };
    fn link(progress: Arc<AtomicUsize>, seen: usize, done: Arc<AtomicBool>, start: Instant) {
        if progress.load(Ordering::SeqCst) >= seen + 100 {
            done.store(true, Ordering::SeqCst);
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the yielder starved"
        );
        drop(zsync::spawn(move || link(progress, seen, done, start)));
    }
    let done = Arc::new(AtomicBool::new(false));
    {
        let (progress, done) = (progress.clone(), done.clone());
        rt.spawn(move || {
            let seen = progress.load(Ordering::SeqCst);
            link(progress, seen, done, Instant::now())
        });
    }
    wait_for(&done, "the chain never saw the yielder progress");
    stop.store(true, Ordering::SeqCst);
    yielder.join().unwrap();
}

/// Two green threads that talk over channels hand their worker to each other at every message,
/// and the worker's run loop may never see a pick of its own: what the loop does on its
/// fairness turns must still happen. A dump is answered, a green thread spawned from outside
/// (the injector) runs, a wake from another OS thread (the inbox) is applied, a sleeper's timer
/// fires and a socket's readiness is seen, all while the two keep talking on the only worker.
#[test]
fn a_worker_whose_green_threads_hand_over_to_each_other_still_takes_its_turns() {
    /// Stops the talk when the test ends, failed or not (dropped before the runtime, whose drop
    /// would otherwise wait for two green threads that never stop).
    struct StopOnDrop(Arc<AtomicBool>);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let rt = Builder::new().worker_threads(1).build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let _stop_on_drop = StopOnDrop(stop.clone());
    let round_trips = Arc::new(AtomicUsize::new(0));
    let (ping_tx, ping_rx) = zsync::sync::mpsc::channel::<u32>();
    let (pong_tx, pong_rx) = zsync::sync::mpsc::channel::<u32>();
    let echo = rt.spawn(move || {
        for v in ping_rx {
            if pong_tx.send(v).is_err() {
                break;
            }
        }
    });
    let pinger = {
        let (stop, round_trips) = (stop.clone(), round_trips.clone());
        rt.spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                ping_tx.send(1).unwrap();
                pong_rx.recv().unwrap();
                round_trips.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let talking = |what: &str| {
        let seen = round_trips.load(Ordering::Relaxed);
        let start = Instant::now();
        while round_trips.load(Ordering::Relaxed) < seen + 1000 {
            assert!(start.elapsed() < Duration::from_secs(10), "{what}: no talk");
            std::thread::yield_now();
        }
    };
    talking("at first");
    // A parked green thread, woken from this OS thread (its inbox), and a sleeper.
    let woken = Arc::new(AtomicBool::new(false));
    let parked = {
        let woken = woken.clone();
        rt.spawn(move || {
            while !woken.load(Ordering::SeqCst) {
                thread::park();
            }
        })
    };
    let slept = rt.spawn(|| thread::sleep(Duration::from_millis(5)));
    // A socket whose data arrives while the two talk.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let reader = rt.spawn(move || {
        let mut stream = zsync::net::TcpStream::connect(addr).unwrap();
        let mut byte = [0u8; 1];
        std::io::Read::read_exact(&mut stream, &mut byte).unwrap();
        byte[0]
    });
    listener.set_nonblocking(true).unwrap();
    let start = Instant::now();
    let mut peer = loop {
        match listener.accept() {
            Ok((peer, _)) => break peer,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "a green thread spawned from outside never connected"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(e) => panic!("accept: {e}"),
        }
    };
    talking("with a reader connected");
    std::io::Write::write_all(&mut peer, &[42]).unwrap();
    // The dump waits for the worker's answer: asked from another OS thread, so that a worker
    // that never answers fails the test instead of hanging it.
    let (dumped_tx, dumped) = std::sync::mpsc::channel();
    let handle = rt.handle();
    std::thread::spawn(move || dumped_tx.send(handle.dump().threads().len()));
    let listed = dumped
        .recv_timeout(Duration::from_secs(10))
        .expect("a dump was never answered");
    // At least the two that talk (the others may have finished or not started yet).
    assert!(listed >= 2, "{listed} green threads listed");
    let injected = rt.spawn(|| 7);
    woken.store(true, Ordering::SeqCst);
    parked.thread().unpark();
    let within = |done: &dyn Fn() -> bool, what: &str| {
        let start = Instant::now();
        while !done() {
            assert!(start.elapsed() < Duration::from_secs(10), "{what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    within(
        &|| injected.is_finished(),
        "a green thread spawned from outside never ran",
    );
    within(
        &|| parked.is_finished(),
        "a wake from another OS thread was never applied",
    );
    within(&|| slept.is_finished(), "a sleeper's timer never fired");
    within(
        &|| reader.is_finished(),
        "a socket's readiness was never seen",
    );
    talking("at the end");
    assert_eq!(injected.join().unwrap(), 7);
    assert_eq!(reader.join().unwrap(), 42);
    stop.store(true, Ordering::SeqCst);
    pinger.join().unwrap();
    echo.join().unwrap();
}

/// Dropping a runtime whose workers never run dry (green threads that keep yielding) cancels
/// them and returns: the workers look for the shutdown at every fairness tick, not only when
/// they are idle. (It hung before.)
#[test]
fn dropping_a_runtime_whose_green_threads_keep_yielding_returns() {
    // One yielder alone on its worker never switches (`yield_in_place`); several take turns.
    for (workers, yielders) in [(1, 1), (1, 4), (2, 1), (2, 4)] {
        let rt = Builder::new().worker_threads(workers).build().unwrap();
        let running = Arc::new(AtomicUsize::new(0));
        for _ in 0..yielders {
            let running = running.clone();
            drop(rt.spawn(move || {
                running.fetch_add(1, Ordering::SeqCst);
                loop {
                    thread::yield_now();
                }
            }));
        }
        let start = Instant::now();
        while running.load(Ordering::SeqCst) < yielders {
            assert!(start.elapsed() < Duration::from_secs(10), "never started");
            std::thread::yield_now();
        }
        let dropped = Arc::new(AtomicBool::new(false));
        let dropper = {
            let dropped = dropped.clone();
            std::thread::spawn(move || {
                drop(rt);
                dropped.store(true, Ordering::SeqCst);
            })
        };
        wait_for(
            &dropped,
            "dropping the runtime hung on yielding green threads",
        );
        dropper.join().unwrap();
    }
}

/// A green thread that yields with nothing else ready on its worker goes on without a switch;
/// everything the worker would have done between its turns still happens, on the same worker:
/// a timer fires, a socket's readiness wakes its reader, an unpark from an OS thread arrives,
/// a thread it spawns starts, its cancellation is raised, and the monitor sees it switch.
#[test]
fn a_lone_yielder_still_lets_the_worker_do_its_rounds() {
    fn spin_until(what: &str, done: impl Fn() -> bool) {
        let start = Instant::now();
        while !done() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{what}: never happened behind a lone yielder"
            );
            thread::yield_now();
        }
    }
    let rt = Builder::new().worker_threads(1).build().unwrap();
    let switches_before = rt.metrics().switches;
    let (to_unpark_tx, to_unpark_rx) = std::sync::mpsc::channel();
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    let outside = std::thread::spawn(move || {
        let parked: zsync::thread::Thread = to_unpark_rx.recv().unwrap();
        std::thread::sleep(Duration::from_millis(5));
        parked.unpark();
        let port: u16 = port_rx.recv().unwrap();
        std::thread::sleep(Duration::from_millis(5));
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        std::io::Write::write_all(&mut stream, b"ping").unwrap();
    });
    let yielder = rt.spawn(move || {
        // A new thread: started on this worker although the spawner never parks.
        let started = Arc::new(AtomicBool::new(false));
        let s = started.clone();
        let child = zsync::spawn(move || s.store(true, Ordering::SeqCst));
        spin_until("a spawned thread", || started.load(Ordering::SeqCst));
        child.join().unwrap();

        // A timer of a sleeper on the same worker.
        let slept = Arc::new(AtomicBool::new(false));
        let s = slept.clone();
        let sleeper = zsync::spawn(move || {
            thread::sleep(Duration::from_millis(5));
            s.store(true, Ordering::SeqCst);
        });
        spin_until("a sleeper's timer", || slept.load(Ordering::SeqCst));
        sleeper.join().unwrap();

        // An unpark from an OS thread (the worker's inbox).
        let unparked = Arc::new(AtomicBool::new(false));
        let u = unparked.clone();
        let parker = zsync::spawn(move || {
            thread::park();
            u.store(true, Ordering::SeqCst);
        });
        to_unpark_tx.send(parker.thread().clone()).unwrap();
        spin_until("an unpark from an OS thread", || {
            unparked.load(Ordering::SeqCst)
        });
        parker.join().unwrap();

        // A socket's readiness (the worker's reactor).
        let listener = zsync::net::TcpListener::bind("127.0.0.1:0").unwrap();
        port_tx.send(listener.local_addr().unwrap().port()).unwrap();
        let read = Arc::new(AtomicBool::new(false));
        let r = read.clone();
        let reader = zsync::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut buf = [0; 4];
            std::io::Read::read_exact(&mut stream, &mut buf).unwrap();
            assert_eq!(&buf, b"ping");
            r.store(true, Ordering::SeqCst);
        });
        spin_until("a socket read", || read.load(Ordering::SeqCst));
        reader.join().unwrap();

        // Its own cancellation, raised at a yield.
        loop {
            thread::yield_now();
        }
    });
    outside.join().unwrap();
    wait_for_metrics(&rt, |m| m.switches > switches_before + 1_000);
    let payload = yielder.cancel().unwrap_err();
    assert!(payload.is::<Cancelled>(), "the yielder was not cancelled");
}

/// A detached green thread's result is dropped as it finishes, not when the last `Thread` handle
/// of it goes (its join packet lives in the task's allocation, which such a handle keeps).
#[test]
fn a_detached_threads_result_is_dropped_when_it_finishes() {
    both_flavors(|| {
        let dropped = Arc::new(AtomicBool::new(false));
        let d = dropped.clone();
        let h = thread::spawn(move || SetOnDrop(d));
        let still_held = h.thread().clone();
        drop(h);
        let start = Instant::now();
        while !dropped.load(Ordering::SeqCst) {
            let waited = start.elapsed();
            assert!(
                waited < Duration::from_secs(10),
                "the result of a detached thread was kept"
            );
            thread::sleep(Duration::from_millis(1));
        }
        drop(still_held);
    });
}

/// The result of a finished thread that nobody joins is dropped with its join handle, though a
/// `Thread` handle of it lives on.
#[test]
fn an_unjoined_result_is_dropped_with_its_join_handle() {
    both_flavors(|| {
        let dropped = Arc::new(AtomicBool::new(false));
        let d = dropped.clone();
        let h = thread::spawn(move || SetOnDrop(d));
        let still_held = h.thread().clone();
        while !h.is_finished() {
            thread::yield_now();
        }
        assert!(
            !dropped.load(Ordering::SeqCst),
            "dropped before anyone could join"
        );
        drop(h);
        assert!(
            dropped.load(Ordering::SeqCst),
            "kept after its join handle went"
        );
        drop(still_held);
    });
}

/// Green threads still queued when their runtime shuts down never run: each joiner sees
/// `Cancelled`, and each closure (with what it captured) is dropped exactly once.
#[test]
fn threads_queued_at_shutdown_are_cancelled_and_their_closures_dropped() {
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let rt = Builder::new().worker_threads(1).build().unwrap();
    // Hold the only worker in a call zsync does not see, so that nothing else starts.
    let (release, held) = std::sync::mpsc::channel::<()>();
    let (entered, holding) = std::sync::mpsc::channel::<()>();
    drop(rt.spawn(move || {
        entered.send(()).unwrap();
        held.recv().unwrap();
    }));
    holding.recv().unwrap();
    let drops = Arc::new(AtomicUsize::new(0));
    let ran = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..100)
        .map(|_| {
            let counted = Counted(drops.clone());
            let ran = ran.clone();
            rt.spawn(move || {
                let _counted = counted;
                ran.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    let dropped = Arc::new(AtomicBool::new(false));
    let dropper = {
        let dropped = dropped.clone();
        std::thread::spawn(move || {
            drop(rt);
            dropped.store(true, Ordering::SeqCst);
        })
    };
    // The shutdown is under way (the dropper waits for the held worker); then let it go.
    std::thread::sleep(Duration::from_millis(50));
    release.send(()).unwrap();
    wait_for(&dropped, "dropping the runtime hung");
    dropper.join().unwrap();
    for h in handles {
        let payload = h.join().expect_err("a thread queued at shutdown ran");
        assert!(payload.is::<Cancelled>());
    }
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert_eq!(drops.load(Ordering::SeqCst), 100);
}

/// Joins `handles` from a helper OS thread, failing after 5 s (a hang fails instead of
/// hanging).
fn join_within<T: Send + 'static>(
    handles: Vec<thread::JoinHandle<T>>,
    what: &str,
) -> Vec<std::thread::Result<T>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(handles.into_iter().map(|h| h.join()).collect());
    });
    rx.recv_timeout(Duration::from_secs(5))
        .unwrap_or_else(|_| panic!("{what}: join hung"))
}

/// A `Handle` that outlives its runtime: a green thread (or OS thread) it spawns is cancelled
/// before it starts, its closure dropped unrun, and its `block_on` panics saying why. (Both
/// hung: the thread waited in a queue nobody looked at any more.)
#[test]
fn a_handle_outliving_its_runtime_cancels_its_spawns_and_its_block_on_panics() {
    for flavor in [Flavor::GreenThreads, Flavor::OsThreads] {
        let rt = runtime(flavor);
        let handle = rt.handle();
        drop(rt);
        let drops = Arc::new(AtomicUsize::new(0));
        let ran = Arc::new(AtomicBool::new(false));
        let (counted, r) = (DropCounter(drops.clone()), ran.clone());
        let h = handle.spawn(move || {
            let _counted = counted;
            r.store(true, Ordering::SeqCst);
        });
        let mut joined = join_within(vec![h], "a spawn on a dropped runtime");
        let payload = joined.pop().unwrap().unwrap_err();
        assert!(payload.is::<Cancelled>(), "{flavor:?}");
        assert!(!ran.load(Ordering::SeqCst), "{flavor:?}: it ran");
        assert_eq!(drops.load(Ordering::SeqCst), 1, "{flavor:?}");

        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let caught = std::panic::catch_unwind(|| handle.block_on(|| 7));
            let _ = tx.send(caught.map_err(|p| p.downcast::<&str>().map(|m| *m)));
        });
        let caught = rx
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| panic!("{flavor:?}: block_on on a dropped runtime hung"));
        match caught {
            Err(Ok(message)) => {
                assert_eq!(message, "zsync: block_on: the runtime has shut down")
            }
            other => panic!("{flavor:?}: block_on on a dropped runtime gave {other:?}"),
        }
    }
}

/// Spawns and `block_on`s from another OS thread before, while and after the runtime is
/// dropped: each spawned thread either runs or is cancelled, each `block_on` returns or panics
/// saying the runtime has shut down; none waits forever (a spawn that came just after the
/// shutdown's last look at its queue did).
#[test]
fn spawns_racing_the_shutdown_run_or_are_cancelled_never_wait_forever() {
    for flavor in [Flavor::GreenThreads, Flavor::OsThreads] {
        for round in 0..10 {
            let rt = Builder::new()
                .worker_threads(1)
                .flavor(flavor)
                .build()
                .unwrap();
            let handle = rt.handle();
            let dropped = Arc::new(AtomicBool::new(false));
            let spawner = {
                let dropped = dropped.clone();
                std::thread::spawn(move || {
                    let mut handles = Vec::new();
                    let mut after = 0;
                    // Until a few hundred spawns after the drop has returned.
                    while after < 200 && handles.len() < 5_000 {
                        if dropped.load(Ordering::SeqCst) {
                            after += 1;
                        }
                        let i = handles.len();
                        handles.push(handle.spawn(move || i));
                        if i % 500 == 0 {
                            match std::panic::catch_unwind(|| handle.block_on(move || i)) {
                                Ok(value) => assert_eq!(value, i),
                                Err(p) => assert_eq!(
                                    p.downcast_ref::<&str>().copied(),
                                    Some("zsync: block_on: the runtime has shut down")
                                ),
                            }
                        }
                    }
                    handles
                })
            };
            std::thread::sleep(Duration::from_micros(100 + 50 * round));
            drop(rt);
            dropped.store(true, Ordering::SeqCst);
            let handles = spawner.join().unwrap();
            let joined = join_within(handles, &format!("{flavor:?} round {round}"));
            for (i, result) in joined.into_iter().enumerate() {
                match result {
                    Ok(value) => assert_eq!(value, i),
                    Err(payload) => assert!(payload.is::<Cancelled>()),
                }
            }
        }
    }
}

/// A spawn returns without parking, so it yields now and then like every such call (the
/// budget): a green thread that spawns in a loop lets the other green threads of its worker
/// run. (Before, on one worker, none ran until the loop ended.)
#[test]
fn a_spawn_loop_lets_the_other_green_threads_of_its_worker_run() {
    let rt = Builder::new().worker_threads(1).build().unwrap();
    rt.block_on(|| {
        let ran = Arc::new(AtomicBool::new(false));
        let r = ran.clone();
        let other = thread::spawn(move || r.store(true, Ordering::SeqCst));
        let mut spawned = 0;
        while !ran.load(Ordering::SeqCst) {
            drop(thread::spawn(|| {}));
            spawned += 1;
            assert!(spawned < 100_000, "the spawn loop held its worker");
        }
        other.join().unwrap();
    });
}

/// Placement is final once a green thread starts, so new ones are spread while every worker is
/// busy, not only by idle workers: 64 green threads that never park, spawned by one, end up
/// split about evenly between two workers (each worker's count, from the name of the OS thread
/// under it).
#[test]
fn new_green_threads_are_spread_over_busy_workers() {
    let rt = Builder::new().worker_threads(2).build().unwrap();
    let splits: Vec<[usize; 2]> = (0..5)
        .map(|_| {
            rt.block_on(|| {
                let counts = Arc::new(Mutex::new([0usize; 2]));
                let stop = Arc::new(AtomicBool::new(false));
                let handles: Vec<_> = (0..64)
                    .map(|_| {
                        let (counts, stop) = (counts.clone(), stop.clone());
                        thread::spawn(move || {
                            let worker = std::thread::current().name().map(String::from);
                            let index = usize::from(worker.as_deref().unwrap().ends_with('1'));
                            counts.lock().unwrap()[index] += 1;
                            while !stop.load(Ordering::SeqCst) {
                                thread::yield_now();
                            }
                        })
                    })
                    .collect();
                let start = Instant::now();
                while counts.lock().unwrap().iter().sum::<usize>() < 64 {
                    assert!(start.elapsed() < Duration::from_secs(10), "never started");
                    thread::sleep(Duration::from_millis(1));
                }
                stop.store(true, Ordering::SeqCst);
                handles.into_iter().for_each(|h| h.join().unwrap());
                let counts = *counts.lock().unwrap();
                counts
            })
        })
        .collect();
    for split in &splits {
        assert!(
            split[0].abs_diff(split[1]) <= 8,
            "64 busy green threads split {splits:?} between two workers"
        );
    }
}

/// Two green threads on one worker that wake each other in turn. Each park finds the other one
/// ready, so (on x86_64) the parking thread enters it directly instead of going through the
/// worker ("hand-over"): the thread that comes back to the worker is then not the one it
/// resumed. Values arrive in order, and a thread entered that way that panics and ends is
/// joined with its payload.
#[test]
fn green_threads_that_wake_each_other_in_turn_exchange_in_order_and_end_cleanly() {
    let rt = Builder::new().worker_threads(1).build().unwrap();
    rt.block_on(|| {
        let (ping_tx, ping_rx) = zsync::sync::mpsc::channel::<u32>();
        let (pong_tx, pong_rx) = zsync::sync::mpsc::channel::<u32>();
        let echo = zsync::spawn(move || {
            for v in ping_rx {
                pong_tx.send(v * 2).unwrap();
                if v == 999 {
                    // Ends right after waking its partner, on a turn it was handed.
                    std::panic::resume_unwind(Box::new("echo ends"));
                }
            }
        });
        for i in 0..1000 {
            ping_tx.send(i).unwrap();
            assert_eq!(pong_rx.recv().unwrap(), i * 2);
        }
        let payload = echo.join().unwrap_err();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"echo ends"));
    });
}

/// Three green threads on one worker passing a token around a ring until it runs out, then all
/// parked in `recv`, most of their parks made by handing the worker to the next one: the parked
/// gauge counts each exactly once, a cancellation unwinds one of them, and dropping the runtime
/// unwinds the others.
#[test]
fn green_threads_parked_by_handing_over_are_counted_cancelled_and_unwound() {
    let rt = Builder::new().worker_threads(1).build().unwrap();
    let gone = Arc::new(AtomicUsize::new(0));
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..3).map(|_| zsync::sync::mpsc::channel::<u32>()).unzip();
    let mut handles = Vec::new();
    for (i, rx) in rxs.into_iter().enumerate() {
        let next = txs[(i + 1) % 3].clone();
        let gone = gone.clone();
        handles.push(rt.spawn(move || {
            let _gone = DropCounter(gone);
            while let Ok(token) = rx.recv() {
                if token > 0 {
                    next.send(token - 1).unwrap();
                }
            }
        }));
    }
    txs[0].send(3000).unwrap(); // from this OS thread: its send blocks nothing
    wait_for_metrics(&rt, |m| m.parked >= 3);
    std::thread::sleep(Duration::from_millis(50)); // time to overshoot, if the gauge would
    let m = rt.metrics();
    assert_eq!((m.live, m.parked), (3, 3), "{m:?}");
    let cancelled = handles.remove(1).cancel().unwrap_err();
    assert!(cancelled.is::<Cancelled>());
    assert_eq!(gone.load(Ordering::SeqCst), 1);
    assert_eq!(rt.metrics().parked, 2);
    drop(rt);
    assert_eq!(gone.load(Ordering::SeqCst), 3);
    for h in handles {
        assert!(h.join().unwrap_err().is::<Cancelled>());
    }
}

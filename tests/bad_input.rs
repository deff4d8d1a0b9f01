//! Bad input and hostile conditions: every case returns an error (or saturates), none panics,
//! none hangs. Cases that could hang, abort or need a process of their own (rlimits, fork) run
//! in a child: this test binary re-executed with `ZSYNC_TEST_CHILD` set, under a deadline.

mod common;

use common::DropCounter;
use std::io::ErrorKind;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use zsync::runtime::{Builder, Flavor};
use zsync::sync::Semaphore;
use zsync::thread;

const CHILD: &str = "ZSYNC_TEST_CHILD";
/// How long any single wait in these tests may take before it counts as a hang.
const DEADLINE: Duration = Duration::from_secs(20);

fn in_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// What a child run produced.
struct ChildRun {
    status: std::process::ExitStatus,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for ChildRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "status {:?}\nstdout:\n{}\nstderr:\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// Runs the test `name` of this binary alone in a child process; panics if it is not done
/// within [`DEADLINE`] (the child is killed: a hang fails the test instead of hanging it).
fn run_child(name: &str, env: &[(&str, &str)]) -> ChildRun {
    let child = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("re-execute the test binary");
    match common::output_within(child, DEADLINE, false) {
        Ok(out) => ChildRun {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        },
        Err(out) => panic!(
            "{name}: the child hung and was killed after {DEADLINE:?}\nstdout:\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// Runs the test `name` in a child and asserts that it passed.
fn assert_child_passes(name: &str, env: &[(&str, &str)]) {
    let run = run_child(name, env);
    assert!(run.status.success(), "{name}: {run}");
    assert!(
        run.stdout.contains("1 passed"),
        "{name}: the test did not run in the child: {run}"
    );
}

/// Polls `cond` until it holds; panics with `what` after [`DEADLINE`].
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The message of a panic payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "<not a string>".into())
}

// ---- 6. Semaphore::add_permits(usize::MAX) --------------------------------------------------

#[test]
fn add_permits_beyond_the_maximum_saturates() {
    let sem = Semaphore::new(5);
    let added = catch_unwind(|| sem.add_permits(usize::MAX));
    assert!(added.is_ok(), "add_permits(usize::MAX) panicked");
    assert_eq!(sem.available_permits(), Semaphore::MAX_PERMITS);
    sem.add_permits(Semaphore::MAX_PERMITS);
    assert_eq!(sem.available_permits(), Semaphore::MAX_PERMITS);
    // Still a working semaphore.
    let permit = sem.acquire();
    assert_eq!(sem.available_permits(), Semaphore::MAX_PERMITS - 1);
    drop(permit);
    assert_eq!(sem.available_permits(), Semaphore::MAX_PERMITS);
}

/// A waiter queued on an empty semaphore gets its permit and is woken when `usize::MAX`
/// permits are added; the rest saturate at `MAX_PERMITS`.
fn add_permits_max_wakes(spawn_waiter: impl FnOnce(Box<dyn FnOnce() + Send>)) {
    let sem = Arc::new(Semaphore::new(0));
    let (tx, rx) = mpsc::channel();
    let (s, t) = (sem.clone(), tx.clone());
    spawn_waiter(Box::new(move || {
        t.send("waiting").unwrap();
        let permit = s.acquire();
        t.send("acquired").unwrap();
        permit.forget();
    }));
    assert_eq!(rx.recv_timeout(DEADLINE), Ok("waiting"));
    // Give the waiter time to queue (if it has not, it takes a permit from the pool: the test
    // still passes, but checks less).
    std::thread::sleep(Duration::from_millis(50));
    let added = catch_unwind(AssertUnwindSafe(|| sem.add_permits(usize::MAX)));
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(5)),
        Ok("acquired"),
        "the waiter that was handed a permit was never woken"
    );
    assert!(added.is_ok(), "add_permits(usize::MAX) panicked");
    assert_eq!(sem.available_permits(), Semaphore::MAX_PERMITS);
}

#[test]
fn add_permits_max_wakes_a_waiting_green_thread() {
    let rt = common::runtime(2);
    add_permits_max_wakes(|f| drop(rt.spawn(f)));
}

#[test]
fn add_permits_max_wakes_a_waiting_os_thread() {
    add_permits_max_wakes(|f| drop(std::thread::spawn(f)));
}

// ---- 7. NUL bytes in names ------------------------------------------------------------------

fn assert_nul_name_error(result: std::io::Result<impl Sized>) {
    let err = result.err().expect("a name with a NUL byte was accepted");
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert!(err.to_string().contains("NUL"), "{err}");
}

#[test]
fn nul_in_a_green_thread_name_is_invalid_input() {
    let rt = common::runtime(2);
    rt.block_on(|| assert_nul_name_error(thread::Builder::new().name("a\0b".into()).spawn(|| 1)));
    wait_until("live to drop to 0", || rt.metrics().live == 0);
}

#[test]
fn nul_in_an_os_thread_name_is_invalid_input_and_live_returns_to_zero() {
    let rt = Builder::new()
        .worker_threads(1)
        .flavor(Flavor::OsThreads)
        .build()
        .unwrap();
    let result = catch_unwind(AssertUnwindSafe(|| {
        rt.block_on(|| {
            assert_nul_name_error(thread::Builder::new().name("a\0b".into()).spawn(|| 1))
        })
    }));
    // The block_on thread itself leaves `live` when its body has returned: wait for it.
    let start = Instant::now();
    while rt.metrics().live != 0 && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(rt.metrics().live, 0, "a failed spawn left `live` too high");
    if let Err(payload) = result {
        std::panic::resume_unwind(payload);
    }
}

#[test]
fn nul_in_a_runtime_thread_name_is_invalid_input() {
    for flavor in [Flavor::GreenThreads, Flavor::OsThreads] {
        let built = catch_unwind(|| {
            Builder::new()
                .worker_threads(1)
                .flavor(flavor)
                .thread_name("bad\0name")
                .build()
        });
        let built = built.unwrap_or_else(|p| panic!("build() panicked: {}", panic_message(&*p)));
        assert_nul_name_error(built);
    }
}

// ---- 8. Settings validated by build() -------------------------------------------------------

fn build_error(builder: Builder) -> std::io::Error {
    let built = catch_unwind(AssertUnwindSafe(|| builder.build()));
    let built = built.unwrap_or_else(|p| panic!("build() panicked: {}", panic_message(&*p)));
    match built {
        Ok(rt) => {
            // Leak it: its workers may be broken.
            std::mem::forget(rt);
            panic!("build() accepted a setting it cannot honour");
        }
        Err(err) => err,
    }
}

#[test]
fn runtime_stack_sizes_are_validated_by_build() {
    for flavor in [Flavor::GreenThreads, Flavor::OsThreads] {
        let base = Builder::new().worker_threads(1).flavor(flavor);
        for size in [usize::MAX, usize::MAX / 2, 0, 100] {
            let err = build_error(base.clone().stack_size(size));
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{size}: {err}");
            assert!(err.to_string().contains("stack size"), "{err}");
        }
        let err = build_error(base.clone().stack_size(1 << 50));
        assert_eq!(err.kind(), ErrorKind::OutOfMemory, "{err}");
        assert!(err.to_string().contains("stack"), "{err}");
    }
}

#[test]
fn runtime_with_a_huge_stack_size_fails_in_build_not_later() {
    // Before the fix: build() said Ok, the workers panicked, and block_on hung or the process
    // exited with status 101 printing nothing. In a child, under a deadline.
    if in_child() {
        match Builder::new().worker_threads(1).stack_size(1 << 50).build() {
            Ok(rt) => println!("block_on: {}", rt.block_on(|| 7)),
            Err(err) => println!("build error: {err}"),
        }
        return;
    }
    let run = run_child(
        "runtime_with_a_huge_stack_size_fails_in_build_not_later",
        &[],
    );
    assert!(run.status.success(), "{run}");
    assert!(run.stdout.contains("build error:"), "{run}");
}

#[test]
fn runtime_worker_counts_are_validated_by_build() {
    let err = build_error(Builder::new().worker_threads(0));
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    for n in [usize::MAX, usize::MAX / 8, 1 << 40] {
        let err = build_error(Builder::new().worker_threads(n));
        assert!(
            matches!(err.kind(), ErrorKind::InvalidInput | ErrorKind::OutOfMemory),
            "{n}: {err}"
        );
        assert!(err.to_string().contains("worker"), "{n}: {err}");
    }
}

/// `dump_on_signal` with a signal the dump cannot or must not take: `build` refuses it with
/// `InvalidInput` and a message naming the signal. 32 and 33 are glibc's own (its `sigaction`
/// refused them with a bare "Invalid argument"); a fault signal would loop on the fault and
/// hide the stack-overflow report.
#[test]
fn dump_signals_that_cannot_or_must_not_be_caught_are_refused() {
    let reserved = 32..libc::SIGRTMIN();
    let faults = [
        libc::SIGSEGV,
        libc::SIGBUS,
        libc::SIGILL,
        libc::SIGFPE,
        libc::SIGTRAP,
    ];
    let uncatchable = [0, -1, libc::SIGKILL, libc::SIGSTOP, 65, 256, i32::MAX];
    for signal in reserved.chain(faults).chain(uncatchable) {
        let err = build_error(Builder::new().worker_threads(1).dump_on_signal(signal));
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{signal}: {err}");
        let text = err.to_string();
        assert!(
            text.starts_with("runtime::Builder::dump_on_signal: signal ")
                && text.contains(&format!("signal {signal} ")),
            "{signal}: {err}"
        );
    }
    let err = build_error(Builder::new().dump_on_signal(libc::SIGSEGV));
    assert!(err.to_string().contains("SIGSEGV"), "{err}");
    let err = build_error(Builder::new().dump_on_signal(32));
    assert!(err.to_string().contains("reserved"), "{err}");
}

/// Threads of this process, from /proc.
fn os_thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn a_worker_that_cannot_start_is_an_error_and_the_others_stop() {
    if in_child() {
        // Little address space left: a few workers start (8 MiB stacks, see RUST_MIN_STACK in
        // the parent), then the OS refuses one.
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        let pages: u64 = statm.split_whitespace().next().unwrap().parse().unwrap();
        // SAFETY (test): sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
        let limit = pages * page + 48 * 1024 * 1024;
        let rlim = libc::rlimit {
            rlim_cur: limit,
            rlim_max: libc::RLIM_INFINITY,
        };
        // SAFETY (test): a plain setrlimit call on this (child) process.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &rlim) }, 0);
        let before = os_thread_count();
        let err = Builder::new()
            .worker_threads(64)
            .stack_size(16 * 1024)
            .build()
            .expect_err("64 workers started in 48 MiB of address space");
        println!("build error: {err}");
        // The message names the worker and the limits that apply, with how to raise them.
        assert!(err.to_string().contains("worker thread"), "{err}");
        assert!(err.to_string().contains("ulimit"), "{err}");
        // The workers that had started were stopped and joined.
        assert_eq!(os_thread_count(), before);
        return;
    }
    assert_child_passes(
        "a_worker_that_cannot_start_is_an_error_and_the_others_stop",
        &[("RUST_MIN_STACK", "8388608")],
    );
}

#[test]
fn thread_stack_size_max_is_an_error_on_both_flavors() {
    for flavor in [Flavor::GreenThreads, Flavor::OsThreads] {
        let rt = Builder::new()
            .worker_threads(1)
            .flavor(flavor)
            .build()
            .unwrap();
        rt.block_on(move || {
            for size in [usize::MAX, usize::MAX / 2, 1 << 50] {
                let spawned = catch_unwind(|| thread::Builder::new().stack_size(size).spawn(|| 1));
                let spawned =
                    spawned.unwrap_or_else(|p| panic!("{flavor:?} {size}: {}", panic_message(&*p)));
                let err = spawned.expect_err("an impossible stack size was accepted");
                assert!(
                    matches!(
                        err.kind(),
                        ErrorKind::InvalidInput | ErrorKind::OutOfMemory | ErrorKind::WouldBlock
                    ),
                    "{flavor:?} {size}: {err}"
                );
                assert!(err.to_string().contains("stack"), "{err}");
            }
        });
        wait_until("live to drop to 0", || rt.metrics().live == 0);
    }
}

/// A stack size the system cannot commit (1 TiB: more than RAM plus swap, under the default
/// overcommit heuristic) fails `spawn` as std's does, with the same kind (`WouldBlock`,
/// `pthread_create`'s `EAGAIN`) and a message that names the size, from a plain thread (the
/// global runtime) and on both flavors; where std's spawn succeeds (`vm.overcommit_memory=1`,
/// or a machine that large), zsync's does too.
#[test]
fn a_stack_size_the_system_cannot_commit_fails_spawn_as_in_std() {
    const SIZE: usize = 1 << 40;
    common::on_each_model(|| {
        let theirs = std::thread::Builder::new()
            .stack_size(SIZE)
            .spawn(|| 5)
            .map(|h| h.join().unwrap());
        let ours = thread::Builder::new()
            .stack_size(SIZE)
            .spawn(|| 5)
            .map(|h| h.join().unwrap());
        match (theirs, ours) {
            (Ok(theirs), Ok(ours)) => assert_eq!(ours, theirs),
            (Err(theirs), Err(ours)) => {
                assert_eq!(ours.kind(), theirs.kind(), "{ours}");
                assert!(ours.to_string().contains(&SIZE.to_string()), "{ours}");
            }
            (theirs, ours) => panic!("std: {theirs:?}; zsync: {ours:?}"),
        }
    });
}

// ---- 9. Dropping a Runtime on one of its own threads -----------------------------------------

fn drop_runtime_from_its_own_thread(flavor: Flavor) {
    let rt = Builder::new()
        .worker_threads(2)
        .flavor(flavor)
        .build()
        .unwrap();
    let handle = rt.handle();
    let unwound = Arc::new(AtomicUsize::new(0));
    let (ready_tx, ready_rx) = mpsc::channel();
    const OTHERS: usize = 4;
    for _ in 0..OTHERS {
        let (unwound, ready) = (unwound.clone(), ready_tx.clone());
        drop(handle.spawn(move || {
            let _counter = DropCounter(unwound);
            ready.send(()).unwrap();
            loop {
                thread::park();
            }
        }));
    }
    for _ in 0..OTHERS {
        ready_rx.recv_timeout(DEADLINE).unwrap();
    }
    let slot = Arc::new(Mutex::new(Some(rt)));
    let (done_tx, done_rx) = mpsc::channel();
    let owner_unwound = unwound.clone();
    drop(handle.spawn(move || {
        let _counter = DropCounter(owner_unwound);
        let rt = slot.lock().unwrap().take();
        drop(rt);
        done_tx.send(()).unwrap();
        // Cancelled here like the others.
        loop {
            thread::park();
        }
    }));
    drop(handle);
    assert_eq!(
        done_rx.recv_timeout(DEADLINE),
        Ok(()),
        "dropping the runtime on its own thread failed"
    );
    wait_until("every green thread to unwind", || {
        unwound.load(Ordering::SeqCst) == OTHERS + 1
    });
}

#[test]
fn a_runtime_dropped_on_its_own_green_thread_shuts_down() {
    drop_runtime_from_its_own_thread(Flavor::GreenThreads);
}

#[test]
fn a_runtime_dropped_on_its_own_os_thread_shuts_down() {
    drop_runtime_from_its_own_thread(Flavor::OsThreads);
}

// ---- 10. fork() -----------------------------------------------------------------------------

/// Forks; the child runs `child` and exits with its status (2 if it panics). The parent waits
/// for it with a deadline (a hang kills it and fails) and returns its exit status.
fn fork_and_wait(child: impl FnOnce() -> i32) -> i32 {
    // SAFETY (test): the child only runs `child` and then `_exit`s; this process runs a single
    // test (it is itself a child of the test run, see `run_child`).
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let code = catch_unwind(AssertUnwindSafe(child)).unwrap_or(2);
        // SAFETY (test): leaves the forked child without running the parent's exit handlers.
        unsafe { libc::_exit(code) };
    }
    let start = Instant::now();
    loop {
        let mut status = 0;
        // SAFETY (test): waits for our own child without blocking.
        let done = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        assert!(done >= 0, "waitpid: {}", std::io::Error::last_os_error());
        if done == pid {
            assert!(
                libc::WIFEXITED(status),
                "the forked child died: {status:#x}"
            );
            return libc::WEXITSTATUS(status);
        }
        if start.elapsed() > Duration::from_secs(10) {
            // SAFETY (test): our own child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            // SAFETY (test): reaps it.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            panic!("the forked child hung");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn the_global_runtime_works_in_a_forked_child() {
    if in_child() {
        assert_eq!(zsync::spawn(|| 1).join().unwrap(), 1); // starts the global runtime
        let code = fork_and_wait(|| {
            let value = zsync::spawn(|| 40 + 2).join().unwrap();
            let nested = zsync::spawn(|| zsync::spawn(|| 3).join().unwrap());
            if value == 42 && nested.join().unwrap() == 3 {
                0
            } else {
                1
            }
        });
        assert_eq!(code, 0, "the forked child failed");
        // The parent's global runtime still works.
        assert_eq!(zsync::spawn(|| 5).join().unwrap(), 5);
        return;
    }
    assert_child_passes("the_global_runtime_works_in_a_forked_child", &[]);
}

#[test]
fn a_runtime_built_before_fork_fails_clearly_in_the_child() {
    if in_child() {
        let rt = common::runtime(2);
        assert_eq!(rt.block_on(|| 1), 1);
        let code = fork_and_wait(move || {
            std::panic::set_hook(Box::new(|_| {}));
            let msg = |r: std::thread::Result<()>| r.err().map(|p| panic_message(&*p));
            let wanted = "created before fork()";
            let block_on = msg(catch_unwind(AssertUnwindSafe(|| {
                rt.block_on(|| 1);
            })));
            let spawn = msg(catch_unwind(AssertUnwindSafe(|| drop(rt.spawn(|| 1)))));
            let handle = msg(catch_unwind(AssertUnwindSafe(|| drop(rt.handle()))));
            let ok = [block_on, spawn, handle]
                .iter()
                .all(|m| m.as_deref().is_some_and(|m| m.contains(wanted)));
            drop(rt); // must not hang either
            if ok {
                0
            } else {
                1
            }
        });
        assert_eq!(code, 0, "the forked child did not fail clearly");
        return;
    }
    assert_child_passes(
        "a_runtime_built_before_fork_fails_clearly_in_the_child",
        &[],
    );
}

/// A forked child that drops a zsync socket it inherited must not take the socket out of the
/// parent's reactor: the child shares the parent's epoll instance, and deleting the interest
/// there left the parent's next wait on that socket parked for good.
#[test]
fn a_socket_dropped_in_a_forked_child_stays_in_the_parent_s_reactor() {
    use std::io::{Read, Write};
    if in_child() {
        let rt = common::runtime(1);
        let listener = zsync::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut peer = std::net::TcpStream::connect(addr).unwrap();
        let (stream, _) = listener.accept().unwrap();
        // A first read on a green thread waits in the reactor: the socket is registered there.
        let stream = rt.block_on(move || {
            let mut stream = stream;
            let reader = zsync::spawn(move || {
                let mut byte = [0u8; 1];
                stream.read_exact(&mut byte).unwrap();
                stream
            });
            zsync::thread::sleep(Duration::from_millis(20));
            peer.write_all(b"1").unwrap();
            (reader.join().unwrap(), peer)
        });
        let (stream, mut peer) = stream;
        let stream = std::sync::Mutex::new(Some(stream));
        let code = fork_and_wait(|| {
            drop(stream.lock().unwrap().take()); // deregisters, closes the child's copy
            0
        });
        assert_eq!(code, 0);
        let mut stream = stream.into_inner().unwrap().unwrap();
        let read = rt.block_on(move || {
            let reader = zsync::spawn(move || {
                let mut byte = [0u8; 1];
                stream.read_exact(&mut byte).map(|()| byte[0])
            });
            zsync::thread::sleep(Duration::from_millis(20)); // parked in the reactor first
            peer.write_all(b"2").unwrap();
            zsync::time::timeout(Duration::from_secs(5), || reader.join())
        });
        let read = read.expect("the parent's read never woke: its socket left the reactor");
        assert_eq!(read.unwrap().unwrap(), b'2');
        println!("the parent's read woke");
        return;
    }
    assert_child_passes(
        "a_socket_dropped_in_a_forked_child_stays_in_the_parent_s_reactor",
        &[],
    );
}

#[test]
fn a_handle_from_before_fork_fails_clearly_in_the_child() {
    if in_child() {
        let rt = common::runtime(1);
        let handle = rt.handle();
        let code = fork_and_wait(move || {
            // A Handle from before fork reaches the old runtime too: its spawn fails clearly.
            std::panic::set_hook(Box::new(|_| {}));
            let r = catch_unwind(AssertUnwindSafe(|| drop(handle.spawn(|| 1))));
            match r {
                Err(p) if panic_message(&*p).contains("created before fork()") => 0,
                _ => 1,
            }
        });
        assert_eq!(code, 0);
        drop(rt);
        return;
    }
    assert_child_passes("a_handle_from_before_fork_fails_clearly_in_the_child", &[]);
}

// ---- 11. Blocking calls in a thread-local destructor ------------------------------------------

/// What a thread-local destructor saw of zsync's blocking calls.
struct InDestructor {
    slept: Duration,
    name: Option<String>,
    recv_timed_out: bool,
}

thread_local! {
    static REPORTS_AS_IT_GOES: std::cell::RefCell<Option<ReportsAsItGoes>> =
        const { std::cell::RefCell::new(None) };
}

/// Makes zsync calls as its thread exits, and reports what they did.
struct ReportsAsItGoes(mpsc::Sender<InDestructor>);

impl Drop for ReportsAsItGoes {
    fn drop(&mut self) {
        let start = Instant::now();
        zsync::thread::sleep(Duration::from_millis(1));
        let slept = start.elapsed();
        let name = zsync::thread::current().name().map(str::to_owned);
        zsync::thread::park_timeout(Duration::from_millis(1));
        let shielded = zsync::thread::shield(|| 7);
        assert_eq!(shielded, 7);
        // A wait on a zsync channel: the waiter path, with the thread's handle.
        let (_tx, rx) = zsync::sync::mpsc::channel::<()>();
        let recv_timed_out = rx.recv_timeout(Duration::from_millis(1)).is_err();
        let _ = self.0.send(InDestructor {
            slept,
            name,
            recv_timed_out,
        });
    }
}

/// A plain std thread whose thread-local's destructor sleeps, parks, waits on a channel and
/// asks for its own handle through zsync, as it may through std: it exits normally. zsync's
/// own thread-locals may be gone by then (they were registered after this one, and go first):
/// those calls aborted the process ("cannot access a Thread Local Storage value during or
/// after destruction").
#[test]
fn blocking_calls_in_a_thread_local_destructor_work_as_std_s() {
    if !in_child() {
        assert_child_passes(
            "blocking_calls_in_a_thread_local_destructor_work_as_std_s",
            &[],
        );
        return;
    }
    for zsync_first in [false, true] {
        let (tx, rx) = mpsc::channel();
        let exited = std::thread::Builder::new()
            .name("tls-dtor".into())
            .spawn(move || {
                if zsync_first {
                    // zsync's thread-locals made before ours: they go after it.
                    zsync::thread::sleep(Duration::from_millis(1));
                }
                REPORTS_AS_IT_GOES.with(|r| *r.borrow_mut() = Some(ReportsAsItGoes(tx)));
                // ... or after ours: they go before it.
                zsync::thread::sleep(Duration::from_millis(1));
                let (_keep, rx) = zsync::sync::mpsc::channel::<()>();
                let _ = rx.recv_timeout(Duration::from_millis(1));
            })
            .unwrap()
            .join();
        assert!(exited.is_ok(), "the thread did not exit normally");
        let seen = rx
            .recv_timeout(DEADLINE)
            .expect("the destructor did not report");
        assert!(seen.slept >= Duration::from_millis(1), "{:?}", seen.slept);
        assert_eq!(seen.name.as_deref(), Some("tls-dtor"));
        assert!(seen.recv_timed_out);
    }
}

// ---- 12. A thread joining itself ---------------------------------------------------------------

/// A green thread (or an OS thread of an OS-threads runtime) that is handed its own join handle
/// and joins it panics as std's join does on Linux (pthread_join's EDEADLK), instead of parking
/// forever; the runtime then goes down as usual.
#[test]
fn a_thread_joining_itself_panics_as_std_s_does() {
    a_thread_waiting_for_itself_panics("joining itself", |me| me.join().map(drop));
}

/// The same through the handle's future: a thread that awaits its own join handle (under
/// `zsync::block_on`, or any executor polling on that thread) panics instead of parking
/// forever.
#[test]
fn a_thread_awaiting_its_own_join_future_panics_as_its_join_does() {
    a_thread_waiting_for_itself_panics("awaiting its own join", |me| {
        zsync::block_on(std::future::IntoFuture::into_future(me)).map(drop)
    });
}

/// Hands a thread of each flavour its own join handle, lets it `wait` for it, and checks that
/// the wait panicked with std's EDEADLK message (`what` names the wait in a failure).
fn a_thread_waiting_for_itself_panics(
    what: &str,
    wait: fn(thread::JoinHandle<()>) -> thread::Result<()>,
) {
    for flavor in [Flavor::GreenThreads, Flavor::OsThreads] {
        let rt = Builder::new()
            .worker_threads(1)
            .flavor(flavor)
            .build()
            .unwrap();
        let (give, mine) = zsync::sync::mpsc::channel::<thread::JoinHandle<()>>();
        let (report, reported) = mpsc::channel();
        let me = rt.spawn(move || {
            let me = mine.recv().unwrap();
            let waited = catch_unwind(AssertUnwindSafe(|| wait(me)));
            let _ = report.send(waited.map_err(|p| panic_message(&*p)).map(|_| ()));
        });
        give.send(me).unwrap();
        let waited = reported
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| panic!("{flavor:?}: a thread {what} hung"));
        assert_eq!(
            waited,
            Err("failed to join thread: Resource deadlock avoided (os error 35)".to_string()),
            "{flavor:?}: {what}"
        );
        drop(rt);
    }
}

/// A descriptor that refuses non-blocking mode (`FIONBIO` fails with `EBADF` on `O_PATH`),
/// which safe code can open.
fn o_path_fd() -> std::os::fd::OwnedFd {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH)
        .open(std::env::temp_dir())
        .unwrap();
    dir.into()
}

/// `ours` failed as the kernel fails any I/O on an `O_PATH` fd, with std's kind for it.
fn assert_ebadf<T: std::fmt::Debug>(what: &str, ours: std::io::Result<T>) {
    let err = ours.expect_err(what);
    let stds = std::io::Error::from_raw_os_error(libc::EBADF);
    assert_eq!(err.raw_os_error(), Some(libc::EBADF), "{what}: {err}");
    assert_eq!(err.kind(), stds.kind(), "{what}: {err}");
}

/// Every conversion from an `O_PATH` fd, and the I/O on it, on the calling thread.
fn o_path_fds_convert_and_fail_their_io() {
    use std::io::{Read, Write};
    use std::os::fd::{FromRawFd, IntoRawFd};
    use std::time::Duration;
    use zsync::net::{TcpListener, TcpStream, UdpSocket};
    use zsync::os::unix::net::{UnixDatagram, UnixListener, UnixStream};

    let mut tcp = TcpStream::from(o_path_fd());
    assert_ebadf("TCP read", tcp.read(&mut [0u8; 4]));
    assert_ebadf("TCP write", tcp.write(b"x"));
    // Set through the kernel, as std's: refused as std's is.
    assert_ebadf(
        "TCP set_read_timeout",
        tcp.set_read_timeout(Some(Duration::from_millis(10))),
    );
    // The same for the mode: std's asks the kernel (FIONBIO), which refuses.
    let stds = std::net::TcpStream::from(o_path_fd()).set_nonblocking(true);
    assert_ebadf("std's TCP set_nonblocking", stds);
    assert_ebadf("TCP set_nonblocking", tcp.set_nonblocking(true));
    assert_ebadf("UDP set_nonblocking", {
        let udp = UdpSocket::from(std::net::UdpSocket::from(o_path_fd()));
        udp.set_nonblocking(true)
    });
    assert_ebadf(
        "Unix set_nonblocking",
        UnixStream::from(o_path_fd()).set_nonblocking(true),
    );
    assert_ebadf("TCP read after it", tcp.read(&mut [0u8; 4]));
    // Handed back, it is the same fd again (the kernel refused every change on the way).
    let std_tcp = std::net::TcpStream::from(tcp);
    drop(std_tcp);
    // SAFETY (test): a fresh fd released by its owner.
    let listener = unsafe { TcpListener::from_raw_fd(o_path_fd().into_raw_fd()) };
    assert_ebadf("TCP accept", listener.accept());
    let udp = UdpSocket::from(std::net::UdpSocket::from(o_path_fd()));
    assert_ebadf("UDP recv", udp.recv(&mut [0u8; 4]));
    let mut unix = UnixStream::from(o_path_fd());
    assert_ebadf("Unix read", unix.read(&mut [0u8; 4]));
    assert_ebadf(
        "Unix listener accept",
        UnixListener::from(o_path_fd()).accept(),
    );
    assert_ebadf(
        "Unix datagram send",
        UnixDatagram::from(o_path_fd()).send(b"x"),
    );

    let (mut reader, mut writer) = (
        zsync::io::PipeReader::from(o_path_fd()),
        zsync::io::PipeWriter::from(std::io::PipeWriter::from(o_path_fd())),
    );
    assert_ebadf("pipe read", reader.read(&mut [0u8; 4]));
    assert_ebadf("pipe write", writer.write(b"x"));
    let mut stdout = zsync::process::ChildStdout::from(o_path_fd());
    assert_ebadf("child stdout read", stdout.read(&mut [0u8; 4]));
    drop(std::io::PipeReader::from(reader));
}

#[test]
fn an_fd_that_refuses_non_blocking_mode_converts_and_its_io_fails_as_std_s() {
    if in_child() {
        o_path_fds_convert_and_fail_their_io();
        for flavor in [Flavor::GreenThreads, Flavor::OsThreads] {
            let rt = Builder::new()
                .worker_threads(1)
                .flavor(flavor)
                .build()
                .unwrap();
            rt.block_on(o_path_fds_convert_and_fail_their_io);
        }
        return;
    }
    // In a child, under a deadline: a conversion or a call that blocked would hang.
    assert_child_passes(
        "an_fd_that_refuses_non_blocking_mode_converts_and_its_io_fails_as_std_s",
        &[],
    );
}

/// `err` says file descriptors ran out, names the per-process limit and how to raise it, and
/// keeps the OS's error (`EMFILE`) reachable as its source.
fn assert_names_the_fd_limit(what: &str, err: std::io::Error) {
    let message = err.to_string();
    assert!(message.contains("RLIMIT_NOFILE"), "{what}: {message}");
    assert!(message.contains("ulimit -n"), "{what}: {message}");
    let emfile = std::io::Error::from_raw_os_error(libc::EMFILE);
    assert_eq!(err.kind(), emfile.kind(), "{what}: {message}");
    let source = err
        .get_ref()
        .and_then(|inner| inner.source())
        .and_then(|source| source.downcast_ref::<std::io::Error>());
    let code = source.and_then(std::io::Error::raw_os_error);
    assert_eq!(code, Some(libc::EMFILE), "{what}: {message}");
}

/// With every file descriptor in use, each call that makes one fails with the limit named.
fn each_fd_maker_names_the_limit(unix_listener: &std::path::Path) {
    use zsync::net::{TcpListener, UdpSocket};
    use zsync::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
    let dir = std::env::temp_dir();
    let spare = dir.join(format!("zsync-emfile-{}", std::process::id()));
    let _ = std::fs::remove_file(&spare);
    // What the duplicating calls and the whole-file calls work on, made while there is room.
    let readable = dir.join(format!("zsync-emfile-src-{}", std::process::id()));
    std::fs::write(&readable, "data").unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let (pipe_reader, pipe_writer) = zsync::io::pipe().unwrap();
    let file = zsync::fs::File::open(&readable).unwrap();
    let (unix, _unix_peer) = UnixStream::pair().unwrap();
    // Take every descriptor left (std's calls: they are not under test).
    let mut held = Vec::new();
    let full = loop {
        match std::fs::File::open("/dev/null") {
            Ok(file) => held.push(file),
            Err(e) => break e,
        }
        assert!(held.len() < 10_000, "the limit did not apply");
    };
    assert_eq!(full.raw_os_error(), Some(libc::EMFILE));

    assert_names_the_fd_limit("UDP bind", UdpSocket::bind("127.0.0.1:0").unwrap_err());
    assert_names_the_fd_limit("TCP bind", TcpListener::bind("127.0.0.1:0").unwrap_err());
    assert_names_the_fd_limit("pipe", zsync::io::pipe().unwrap_err());
    assert_names_the_fd_limit("File::open", zsync::fs::File::open(&dir).unwrap_err());
    assert_names_the_fd_limit("File::create", zsync::fs::File::create(&spare).unwrap_err());
    let options = zsync::fs::OpenOptions::new().read(true).open("/dev/null");
    assert_names_the_fd_limit("OpenOptions::open", options.unwrap_err());
    assert_names_the_fd_limit("UnixStream::pair", UnixStream::pair().unwrap_err());
    assert_names_the_fd_limit(
        "UnixStream::connect",
        UnixStream::connect(unix_listener).unwrap_err(),
    );
    let bound = UnixListener::bind(&spare).unwrap_err();
    assert_names_the_fd_limit("UnixListener::bind", bound);
    let bound = UnixDatagram::bind(&spare).unwrap_err();
    assert_names_the_fd_limit("UnixDatagram::bind", bound);
    assert_names_the_fd_limit(
        "UnixDatagram::unbound",
        UnixDatagram::unbound().unwrap_err(),
    );
    assert_names_the_fd_limit("UnixDatagram::pair", UnixDatagram::pair().unwrap_err());
    assert_names_the_fd_limit("UdpSocket::try_clone", udp.try_clone().unwrap_err());
    assert_names_the_fd_limit("TcpListener::try_clone", tcp.try_clone().unwrap_err());
    assert_names_the_fd_limit("UnixStream::try_clone", unix.try_clone().unwrap_err());
    assert_names_the_fd_limit(
        "PipeReader::try_clone",
        pipe_reader.try_clone().unwrap_err(),
    );
    assert_names_the_fd_limit(
        "PipeWriter::try_clone",
        pipe_writer.try_clone().unwrap_err(),
    );
    assert_names_the_fd_limit("File::try_clone", file.try_clone().unwrap_err());
    assert_names_the_fd_limit("fs::read", zsync::fs::read(&readable).unwrap_err());
    let text = zsync::fs::read_to_string(&readable);
    assert_names_the_fd_limit("fs::read_to_string", text.unwrap_err());
    assert_names_the_fd_limit("fs::write", zsync::fs::write(&spare, "x").unwrap_err());
    let copied = zsync::fs::copy(&readable, &spare);
    assert_names_the_fd_limit("fs::copy", copied.unwrap_err());
    let listing = zsync::fs::read_dir(&dir).map(drop);
    assert_names_the_fd_limit("fs::read_dir", listing.unwrap_err());
    let child = zsync::process::Command::new("true")
        .stdout(zsync::process::Stdio::piped())
        .spawn();
    assert_names_the_fd_limit("Command::spawn", child.map(drop).unwrap_err());
    drop(held);
    std::fs::remove_file(&readable).unwrap();
    // With descriptors free again, the same calls work.
    let _ = UdpSocket::bind("127.0.0.1:0").unwrap();
    let _ = zsync::io::pipe().unwrap();
}

/// Converting a `zsync::fs::File` into a std file while an abandoned read (of a `timeout()`)
/// still holds it on the blocking pool duplicates the descriptor; with none left for that, the
/// conversion waits for the read to let the file go instead of panicking.
#[test]
fn a_file_held_by_an_abandoned_read_converts_to_std_with_no_descriptor_left() {
    use std::io::{Read, Write};
    use std::os::unix::fs::MetadataExt;
    if in_child() {
        let dir = std::env::temp_dir().join(format!("zsync-into-std-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("fifo");
        let name = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY (test): mkfifo with a valid, NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        let rt = common::runtime(1);
        let reader = fifo.clone();
        // Read and write: opening does not wait for a writer, and the read waits for data.
        let file = rt.block_on(move || {
            let file = zsync::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&reader)
                .unwrap();
            let mut one = [0u8; 1];
            let read = zsync::time::timeout(Duration::from_millis(50), || (&file).read(&mut one));
            assert!(read.is_err(), "the read returned: {read:?}");
            file
        });
        let inode = file.metadata().unwrap().ino();
        let mut writer = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        // No descriptor left for a duplicate.
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY (test): getrlimit and setrlimit on this (child) process, with a valid rlimit.
        unsafe {
            assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
            limit.rlim_cur = 256;
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        }
        let mut held = Vec::new();
        while let Ok(null) = std::fs::File::open("/dev/null") {
            held.push(null);
        }
        // The abandoned read ends when a byte arrives, a little later.
        let feeder = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            writer.write_all(b"x").unwrap();
        });
        let started = Instant::now();
        let converted = rt.block_on(move || std::fs::File::from(file));
        assert!(started.elapsed() >= Duration::from_millis(150));
        assert_eq!(converted.metadata().unwrap().ino(), inode);
        feeder.join().unwrap();
        drop(held);
        drop(converted);
        drop(rt);
        std::fs::remove_dir_all(&dir).unwrap();
        return;
    }
    // The blocking pool, not io_uring, whose cancellation takes the read back at once.
    assert_child_passes(
        "a_file_held_by_an_abandoned_read_converts_to_std_with_no_descriptor_left",
        &[("ZSYNC_IO_URING", "0")],
    );
}

#[test]
fn running_out_of_file_descriptors_names_the_limit_for_sockets_pipes_and_files() {
    if in_child() {
        // The runtime, and a listener to connect to, before the limit is lowered.
        let rt = common::runtime(1);
        let path = std::env::temp_dir().join(format!("zsync-emfile-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let _listener = zsync::os::unix::net::UnixListener::bind(&path).unwrap();
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY (test): getrlimit and setrlimit on this (child) process, with a valid rlimit.
        unsafe {
            assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
            limit.rlim_cur = 256;
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        }
        each_fd_maker_names_the_limit(&path);
        let on_green = path.clone();
        rt.block_on(move || each_fd_maker_names_the_limit(&on_green));
        std::fs::remove_file(&path).unwrap();
        return;
    }
    assert_child_passes(
        "running_out_of_file_descriptors_names_the_limit_for_sockets_pipes_and_files",
        &[],
    );
}

//! zsync::process: the behaviour std's own process tests check (library/std/src/process/tests.rs),
//! each run on a plain OS thread, on a green thread (`zsync::run`) and on a `Flavor::OsThreads`
//! runtime's thread; then zsync's own: many children waited for at once, a worker that keeps
//! running while a child runs, `timeout()` and cancellation of `wait` and of a pipe read, and
//! the blocking-pool fallback (`ZSYNC_PIDFD=0`, in a child test process).
//!
//! std's process tests that do not apply here, and why:
//! - Windows-only: `test_creation_flags`, `test_proc_thread_attributes`, `env_empty` (an
//!   empty environment block), `run_bat_script`, `run_canonical_bat_script`, the
//!   `raw_arg`/argument-quoting tests.
//! - `test_command_fork_no_unwind` and the `spawn` internals tests (posix_spawn choice, pidfd
//!   `ChildExt`): they test std's own spawning, which zsync calls unchanged, or unstable API.
//! - `test_capture_env_at_spawn` changes the test process's environment with `set_var`, which
//!   is unsound with other tests' threads running; the same behaviour (the environment is read
//!   at spawn, not at `Command::new`) is std's code, called unchanged.
//! - `exit_status_display`, `exit_status_error` (`ExitStatusError` is unstable): the status
//!   types are std's own.
//!
//! Every other test of that file has a counterpart below (named after it where it helps), in
//! this file's own words.

use std::io::{ErrorKind, Read, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zsync::os::unix::process::{CommandExt, ExitStatusExt};
use zsync::process::{Child, Command, Output, Stdio};
use zsync::runtime::{Builder, Flavor};

mod common;

/// Runs `body` on this plain OS thread, on a green thread, and on a `Flavor::OsThreads`
/// runtime's thread.
fn each_way(body: fn()) {
    body();
    zsync::run(body);
    Builder::new()
        .worker_threads(2)
        .flavor(Flavor::OsThreads)
        .build()
        .unwrap()
        .block_on(body);
}

fn sh(script: &str) -> Command {
    let mut command = Command::new("/bin/sh");
    command.arg("-c").arg(script);
    command
}

fn read_stdout(child: &mut Child) -> String {
    let mut text = String::new();
    child
        .stdout
        .as_mut()
        .expect("stdout piped")
        .read_to_string(&mut text)
        .unwrap();
    text
}

// ---- std's behaviours ----

#[test]
fn smoke_true_succeeds() {
    each_way(|| {
        let mut child = sh("true").spawn().unwrap();
        assert!(child.wait().unwrap().success());
    });
}

#[test]
fn smoke_failure_missing_program_is_not_found() {
    each_way(|| {
        let err = Command::new("zsync-there-is-no-such-program")
            .spawn()
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        let err = Command::new("/zsync/no/such/binary").output().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        let err = Command::new("/zsync/no/such/binary").status().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
    });
}

#[test]
fn exit_reported_right() {
    each_way(|| {
        let mut child = sh("false").spawn().unwrap();
        assert_eq!(child.wait().unwrap().code(), Some(1));
        let status = sh("exit 42").status().unwrap();
        assert_eq!(status.code(), Some(42));
        assert!(!status.success());
    });
}

#[test]
fn signal_reported_right() {
    each_way(|| {
        let mut child = sh("read line").stdin(Stdio::piped()).spawn().unwrap();
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(9));
        assert_eq!(status.code(), None);
    });
}

#[test]
fn kill_after_exit_is_ok() {
    // std: killing a child that has exited and been reaped is not an error.
    each_way(|| {
        let mut child = sh("exit 0").spawn().unwrap();
        child.wait().unwrap();
        child.kill().unwrap();
    });
}

#[test]
fn stdout_works() {
    each_way(|| {
        let mut child = sh("echo foobar").stdout(Stdio::piped()).spawn().unwrap();
        assert_eq!(read_stdout(&mut child), "foobar\n");
        assert!(child.wait().unwrap().success());
    });
}

#[test]
fn set_current_dir_works() {
    each_way(|| {
        let mut child = sh("pwd")
            .current_dir("/")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        assert_eq!(read_stdout(&mut child), "/\n");
        assert!(child.wait().unwrap().success());
    });
}

#[test]
fn stdin_works() {
    each_way(|| {
        let mut child = sh("read line; echo $line")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.as_mut().unwrap().write_all(b"foobar").unwrap();
        drop(child.stdin.take());
        assert_eq!(read_stdout(&mut child), "foobar\n");
        assert!(child.wait().unwrap().success());
    });
}

#[test]
fn cat_echoes_a_large_input() {
    // More than a pipe holds, in both directions: the writer must wait for the reader.
    each_way(|| {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let input: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut stdin = child.stdin.take().unwrap();
        let expected = input.clone();
        let writer = zsync::spawn(move || {
            stdin.write_all(&input).unwrap();
        });
        let mut echoed = Vec::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_end(&mut echoed)
            .unwrap();
        writer.join().unwrap();
        assert!(echoed == expected);
        assert!(child.wait().unwrap().success());
    });
}

/// A blocking write to a child's standard input writes all of its buffer, as std's does:
/// a megabyte, sixteen times what the pipe holds, in one call, vectored too.
#[test]
fn a_write_to_a_childs_stdin_writes_the_whole_buffer() {
    each_way(|| {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let data = vec![3u8; 1 << 20];
        assert_eq!(stdin.write(&data).unwrap(), data.len());
        let halves = [
            std::io::IoSlice::new(&data[..1 << 19]),
            std::io::IoSlice::new(&data[1 << 19..]),
        ];
        assert_eq!(stdin.write_vectored(&halves).unwrap(), data.len());
        drop(stdin);
        assert!(child.wait().unwrap().success());
    });
}

#[test]
fn test_process_status() {
    each_way(|| {
        assert_eq!(sh("false").status().unwrap().code(), Some(1));
        assert!(sh("true").status().unwrap().success());
    });
}

#[test]
fn test_process_output_output() {
    each_way(|| {
        let Output {
            status,
            stdout,
            stderr,
        } = sh("echo hello").output().unwrap();
        assert!(status.success());
        assert_eq!(String::from_utf8(stdout).unwrap().trim(), "hello");
        assert!(stderr.is_empty());
    });
}

#[test]
fn test_process_output_error() {
    each_way(|| {
        let Output {
            status,
            stdout,
            stderr,
        } = Command::new("mkdir").arg("./").output().unwrap();
        assert!(status.code().is_some_and(|c| c != 0));
        assert!(stdout.is_empty());
        assert!(!stderr.is_empty());
    });
}

#[test]
fn output_reads_both_pipes_without_deadlock() {
    // 1 MiB to stderr first, then 1 MiB to stdout: reading only stdout first would deadlock
    // on a full stderr pipe.
    each_way(|| {
        let out = sh("head -c 1048576 /dev/zero >&2; head -c 1048576 /dev/zero")
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout.len(), 1 << 20);
        assert_eq!(out.stderr.len(), 1 << 20);
    });
}

#[test]
fn output_gives_a_null_stdin_and_spawn_inherits_afterwards() {
    each_way(|| {
        // `cat` with a null stdin ends at once with nothing.
        let mut cat = Command::new("cat");
        let out = cat.output().unwrap();
        assert!(out.status.success());
        assert!(out.stdout.is_empty());
        // Set streams are kept by `output`.
        let out = sh("echo to-null").stdout(Stdio::null()).output().unwrap();
        assert!(out.stdout.is_empty());
        // `output` left no pipe behind in the command: a later spawn has no pipes.
        let mut command = sh("true");
        command.output().unwrap();
        let mut child = command.spawn().unwrap();
        assert!(child.stdout.is_none() && child.stderr.is_none() && child.stdin.is_none());
        assert!(child.wait().unwrap().success());
    });
}

#[test]
fn test_finish_once_and_twice() {
    each_way(|| {
        let mut child = sh("false").spawn().unwrap();
        assert_eq!(child.wait().unwrap().code(), Some(1));
        assert_eq!(child.wait().unwrap().code(), Some(1));
        assert_eq!(child.try_wait().unwrap().unwrap().code(), Some(1));
    });
}

#[test]
fn test_wait_with_output_once() {
    each_way(|| {
        let child = sh("echo hello; echo oops >&2")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, b"hello\n");
        assert_eq!(out.stderr, b"oops\n");
        // Only stdout piped: stderr is empty (inherited, not captured).
        let child = sh("echo one").stdout(Stdio::piped()).spawn().unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.stdout, b"one\n");
        assert!(out.stderr.is_empty());
    });
}

#[test]
fn try_wait_before_and_after_exit() {
    each_way(|| {
        let mut child = sh("read line").stdin(Stdio::piped()).spawn().unwrap();
        assert!(child.try_wait().unwrap().is_none());
        drop(child.stdin.take()); // read sees the end: the shell exits 1
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            zsync::thread::sleep(Duration::from_millis(5));
        };
        assert_eq!(status.code(), Some(1));
        assert_eq!(child.wait().unwrap().code(), Some(1));
    });
}

#[test]
fn wait_closes_stdin_first() {
    // As std: `wait` drops the child's stdin, so a child reading to the end can finish.
    each_way(|| {
        let mut child = Command::new("cat").stdin(Stdio::piped()).spawn().unwrap();
        assert!(child.wait().unwrap().success());
        assert!(child.stdin.is_none());
    });
}

#[test]
fn test_override_env() {
    each_way(|| {
        let mut command = Command::new("env");
        command.env_clear().env("ZSYNC_TEST_NEW_ENV", "123");
        if let Some(path) = std::env::var_os("PATH") {
            command.env("PATH", path);
        }
        let out = String::from_utf8(command.output().unwrap().stdout).unwrap();
        assert!(out.contains("ZSYNC_TEST_NEW_ENV=123"), "{out}");
        assert!(!out.contains("HOME="), "{out}");
    });
}

#[test]
fn test_add_and_remove_env() {
    each_way(|| {
        let out = Command::new("env")
            .env("ZSYNC_TEST_ADDED", "yes")
            .envs([("ZSYNC_TEST_A", "1"), ("ZSYNC_TEST_B", "2")])
            .env_remove("PATH")
            .output()
            .unwrap();
        let out = String::from_utf8(out.stdout).unwrap();
        assert!(out.contains("ZSYNC_TEST_ADDED=yes"), "{out}");
        assert!(out.contains("ZSYNC_TEST_A=1") && out.contains("ZSYNC_TEST_B=2"));
        assert!(!out.lines().any(|l| l.starts_with("PATH=")), "{out}");
    });
}

#[test]
fn interior_nul_is_invalid_input() {
    each_way(|| {
        let kind = |r: std::io::Result<Child>| r.unwrap_err().kind();
        assert_eq!(
            kind(Command::new("has-a-\0-inside").spawn()),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            kind(Command::new("echo").arg("a\0b").spawn()),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            kind(Command::new("echo").args(["a\0b"]).spawn()),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            kind(Command::new("echo").current_dir("a\0b").spawn()),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            kind(Command::new("env").env("k\0ey", "v").spawn()),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            kind(Command::new("env").env("key", "v\0").spawn()),
            ErrorKind::InvalidInput
        );
    });
}

#[test]
fn test_command_implements_send_sync() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    send_sync(&Command::new(""));
    fn send<T: Send>() {}
    send::<Child>();
    send::<zsync::process::ChildStdin>();
    send::<zsync::process::ChildStdout>();
    send::<zsync::process::ChildStderr>();
}

#[test]
fn getters() {
    let mut command = Command::new("echo");
    assert_eq!(command.get_program(), "echo");
    assert_eq!(command.get_args().count(), 0);
    assert!(command.get_current_dir().is_none());
    command
        .args(["a", "b"])
        .env("K", "V")
        .env_remove("R")
        .current_dir("/tmp");
    let args: Vec<_> = command.get_args().collect();
    assert_eq!(args, ["a", "b"]);
    let envs: Vec<_> = command.get_envs().collect();
    assert!(envs.contains(&("K".as_ref(), Some("V".as_ref()))));
    assert!(envs.contains(&("R".as_ref(), None)));
    assert_eq!(command.get_current_dir(), Some("/tmp".as_ref()));
    let debug = format!("{command:?}");
    assert!(debug.contains("\"echo\" \"a\" \"b\""), "{debug}");
}

#[test]
fn unix_command_ext() {
    each_way(|| {
        // arg0: what the child sees as its name.
        let out = sh("echo $0").arg0("renamed").output().unwrap();
        assert_eq!(out.stdout, b"renamed\n");
        // process_group(0): the child leads a new group.
        let mut child = sh("ps -o pgid= -p $$ || echo none")
            .process_group(0)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let id = child.id();
        let text = read_stdout(&mut child);
        child.wait().unwrap();
        if text.trim() != "none" {
            assert_eq!(text.trim(), id.to_string());
        }
        // uid/gid set to our own ids are always allowed.
        // SAFETY: getuid and getgid cannot fail and touch no memory.
        let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
        assert!(sh("true").uid(uid).gid(gid).status().unwrap().success());
        // pre_exec runs in the child; an error from it fails the spawn.
        let mut failing = Command::new("true");
        // SAFETY: the hook only builds an io::Error from an errno value: no allocation, no
        // locks.
        unsafe {
            failing.pre_exec(|| Err(std::io::Error::from_raw_os_error(libc::EACCES)));
        }
        assert_eq!(
            failing.spawn().unwrap_err().raw_os_error(),
            Some(libc::EACCES)
        );
    });
}

#[test]
fn pipes_chain_into_another_command() {
    each_way(|| {
        let mut first = sh("echo chained").stdout(Stdio::piped()).spawn().unwrap();
        let out = Command::new("cat")
            .stdin(Stdio::from(first.stdout.take().unwrap()))
            .output()
            .unwrap();
        assert_eq!(out.stdout, b"chained\n");
        assert!(first.wait().unwrap().success());
        // And from a std child's pipe taken over.
        let std_child = std::process::Command::new("echo")
            .arg("from std")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut child = Child::from(std_child);
        assert_eq!(read_stdout(&mut child), "from std\n");
        assert!(child.wait().unwrap().success());
    });
}

#[test]
fn id_exit_abort_are_std() {
    assert_eq!(zsync::process::id(), std::process::id());
    let _: fn(i32) -> ! = zsync::process::exit;
    let _: fn() -> ! = zsync::process::abort;
}

// ---- zsync's own ----

#[test]
fn two_hundred_sleeping_children_at_once() {
    let runtime = Builder::new().worker_threads(2).build().unwrap();
    let start = Instant::now();
    runtime.block_on(|| {
        let handles: Vec<_> = (0..200)
            .map(|n| {
                zsync::spawn(move || {
                    let out = sh(&format!("sleep 0.2; echo {n}")).output().unwrap();
                    assert!(out.status.success());
                    (n, String::from_utf8(out.stdout).unwrap())
                })
            })
            .collect();
        for handle in handles {
            let (n, text) = handle.join().unwrap();
            assert_eq!(text, format!("{n}\n"));
        }
    });
    let took = start.elapsed();
    // 200 x 0.2 s in series would be 40 s; concurrently it is the spawning that costs.
    assert!(took < Duration::from_secs(12), "took {took:?}");
}

#[test]
fn a_waiting_child_does_not_hold_the_only_worker() {
    let runtime = Builder::new().worker_threads(1).build().unwrap();
    runtime.block_on(|| {
        let ticks = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let (ticks, stop) = (ticks.clone(), stop.clone());
            zsync::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    zsync::thread::sleep(Duration::from_millis(10));
                    ticks.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        let started = Instant::now();
        let status = sh("sleep 1").status().unwrap();
        assert!(status.success());
        assert!(started.elapsed() >= Duration::from_millis(900));
        stop.store(true, Ordering::Relaxed);
        ticker.join().unwrap();
        let ticks = ticks.load(Ordering::Relaxed);
        // Generous for a loaded machine: a worker blocked in the wait would give 0.
        assert!(ticks >= 10, "the ticker ticked only {ticks} times");
    });
}

#[test]
fn timeout_of_wait_then_wait_again() {
    zsync::run(|| {
        let mut child = sh("sleep 0.3; exit 7").spawn().unwrap();
        let started = Instant::now();
        let outcome = zsync::time::timeout(Duration::from_millis(50), || child.wait());
        assert!(outcome.is_err());
        assert!(started.elapsed() < Duration::from_millis(250));
        assert_eq!(child.wait().unwrap().code(), Some(7));
    });
}

#[test]
fn timeout_of_wait_on_an_os_threads_runtime() {
    Builder::new()
        .worker_threads(1)
        .flavor(Flavor::OsThreads)
        .build()
        .unwrap()
        .block_on(|| {
            let mut child = sh("sleep 0.3; exit 5").spawn().unwrap();
            let outcome = zsync::time::timeout(Duration::from_millis(50), || child.wait());
            assert!(outcome.is_err());
            assert_eq!(child.wait().unwrap().code(), Some(5));
        });
}

#[test]
fn cancel_of_a_green_thread_reading_a_childs_stdout() {
    zsync::run(|| {
        let mut child = sh("sleep 30").stdout(Stdio::piped()).spawn().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let reader = zsync::spawn(move || {
            let mut buf = [0u8; 16];
            let _ = stdout.read(&mut buf);
        });
        zsync::thread::sleep(Duration::from_millis(50));
        let started = Instant::now();
        let payload = reader.cancel().unwrap_err();
        assert!(payload.is::<zsync::Cancelled>());
        assert!(started.elapsed() < Duration::from_millis(500));
        // The child was not killed by any of this.
        assert!(child.try_wait().unwrap().is_none());
        child.kill().unwrap();
        assert_eq!(child.wait().unwrap().signal(), Some(9));
    });
}

#[test]
fn timeout_of_a_pipe_read_then_read_again() {
    zsync::run(|| {
        let mut child = sh("sleep 0.3; echo late")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let mut buf = [0u8; 16];
        let outcome = zsync::time::timeout(Duration::from_millis(50), || stdout.read(&mut buf));
        assert!(outcome.is_err());
        let mut text = String::new();
        stdout.read_to_string(&mut text).unwrap();
        assert_eq!(text, "late\n");
        assert!(child.wait().unwrap().success());
    });
}

#[test]
fn cancel_of_a_green_thread_in_wait_and_in_output() {
    zsync::run(|| {
        let child = sh("sleep 30").spawn().unwrap();
        let pid = child.id();
        let waiter = zsync::spawn(move || {
            let mut child = child;
            let _ = child.wait();
            child
        });
        zsync::thread::sleep(Duration::from_millis(50));
        let started = Instant::now();
        assert!(waiter.cancel().unwrap_err().is::<zsync::Cancelled>());
        assert!(started.elapsed() < Duration::from_millis(500));
        // The Child was dropped by the unwinding, not killed: kill and reap it by pid.
        // SAFETY: plain syscalls on our own child's pid.
        unsafe {
            assert_eq!(libc::kill(pid as libc::pid_t, 0), 0);
            libc::kill(pid as libc::pid_t, libc::SIGKILL);
            libc::waitpid(pid as libc::pid_t, std::ptr::null_mut(), 0);
        }
        // output() with both pipes: its stderr reader is cancelled along with it.
        let outputter =
            zsync::spawn(|| sh("sleep 3 >/dev/null 2>&1 & echo started; wait").output());
        zsync::thread::sleep(Duration::from_millis(50));
        let started = Instant::now();
        assert!(outputter.cancel().unwrap_err().is::<zsync::Cancelled>());
        assert!(started.elapsed() < Duration::from_millis(500));
    });
}

/// How many pidfds this process holds open on process `pid` (their fdinfo names the pid).
fn pidfds_of(pid: u32) -> usize {
    std::fs::read_dir("/proc/self/fdinfo")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .filter(|info| {
            info.lines()
                .any(|l| l.split_whitespace().eq(["Pid:", &pid.to_string()]))
        })
        .count()
}

#[test]
fn a_green_wait_parks_on_a_pidfd_that_goes_with_the_child() {
    zsync::run(|| {
        let mut child = sh("sleep 0.3").spawn().unwrap();
        let pid = child.id();
        let waiter = zsync::spawn(move || {
            let status = child.wait().unwrap();
            (status, child)
        });
        zsync::thread::sleep(Duration::from_millis(100));
        assert_eq!(pidfds_of(pid), 1, "no pidfd while a green thread waits");
        let (status, child) = waiter.join().unwrap();
        assert!(status.success());
        drop(child);
        assert_eq!(pidfds_of(pid), 0);
    });
}

#[test]
fn many_green_threads_wait_on_one_worker() {
    let runtime = Builder::new().worker_threads(1).build().unwrap();
    runtime.block_on(|| {
        let handles: Vec<_> = (0..20)
            .map(|n| zsync::spawn(move || sh(&format!("sleep 0.1; exit {n}")).status().unwrap()))
            .collect();
        for (n, handle) in handles.into_iter().enumerate() {
            assert_eq!(handle.join().unwrap().code(), Some(n as i32));
        }
    });
}

/// The blocking-pool fallback, chosen with `ZSYNC_PIDFD=0` (read once per process): this test
/// runs the fallback tests below in a child test process with the variable set.
#[test]
fn pool_fallback_in_a_child_process() {
    if std::env::var_os("ZSYNC_PIDFD").is_some() {
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args([
            "--exact",
            "fallback_body",
            "--include-ignored",
            "--nocapture",
        ])
        .env("ZSYNC_PIDFD", "0")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("1 passed"), "{text}");
}

#[test]
#[ignore = "run by pool_fallback_in_a_child_process with ZSYNC_PIDFD=0"]
fn fallback_body() {
    assert_eq!(std::env::var("ZSYNC_PIDFD").as_deref(), Ok("0"));
    let runtime = Builder::new().worker_threads(1).build().unwrap();
    runtime.block_on(|| {
        let ticks = Arc::new(AtomicU64::new(0));
        let ticker = {
            let ticks = ticks.clone();
            zsync::spawn(move || loop {
                zsync::thread::sleep(Duration::from_millis(10));
                ticks.fetch_add(1, Ordering::Relaxed);
            })
        };
        assert_eq!(sh("sleep 0.3; exit 3").status().unwrap().code(), Some(3));
        assert!(ticks.load(Ordering::Relaxed) >= 10);
        let mut child = sh("sleep 0.3; exit 4").spawn().unwrap();
        let pid = child.id();
        assert!(zsync::time::timeout(Duration::from_millis(50), || child.wait()).is_err());
        assert_eq!(pidfds_of(pid), 0, "a pidfd with ZSYNC_PIDFD=0");
        assert_eq!(child.wait().unwrap().code(), Some(4));
        assert_eq!(child.wait().unwrap().code(), Some(4));
        let out = sh("echo out; echo err >&2").output().unwrap();
        assert_eq!(
            (out.stdout.as_slice(), out.stderr.as_slice()),
            (&b"out\n"[..], &b"err\n"[..])
        );
        let _ = ticker.cancel();
    });
}

/// The CPUs the calling OS thread may run on, as `/proc` lists them ("0-1").
fn allowed_cpus_of(status: &str) -> String {
    status
        .lines()
        .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
        .expect("Cpus_allowed_list in /proc/<pid>/status")
        .trim()
        .to_string()
}

/// Pins the calling OS thread to CPU 0 (`Some`), or lets it run anywhere again (`None`).
fn pin_this_thread(cpus: Option<&libc::cpu_set_t>) {
    // SAFETY (test): a valid CPU set for the calling thread (pid 0).
    let set = cpus.copied().unwrap_or_else(|| unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        set
    });
    // SAFETY (test): as above.
    let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
    assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
}

#[test]
fn a_green_thread_s_spawn_forks_on_the_pool_unless_alone_or_a_pre_exec_hook_needs_its_thread() {
    // SAFETY (test): reads the calling thread's CPU set into a zeroed one.
    let mut everywhere: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let r =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&everywhere), &mut everywhere) };
    assert_eq!(r, 0);
    // SAFETY (test): CPU_COUNT reads the set.
    if unsafe { libc::CPU_COUNT(&everywhere) } < 2 {
        eprintln!("skipped: one CPU, so a pinned thread and a free one look alike");
        return;
    }
    let default = allowed_cpus_of(&std::fs::read_to_string("/proc/thread-self/status").unwrap());
    Builder::new()
        .worker_threads(1)
        .build()
        .unwrap()
        .block_on(move || {
            // A pool thread made before the worker is pinned (a new one would inherit the pin).
            zsync::unblock(|| ());
            // Pin the worker's OS thread: a child forked there inherits the pin.
            pin_this_thread(None);
            let child_cpus = |cmd: &mut Command| {
                let out = cmd.arg("/proc/self/status").output().unwrap();
                allowed_cpus_of(&String::from_utf8(out.stdout).unwrap())
            };
            // All its worker runs: forked here, as std (the reader of standard error that
            // `output` starts is not started yet when it spawns).
            let alone = child_cpus(&mut Command::new("cat"));
            // With another green thread on the worker: forked on the pool.
            let sibling = common::ParkedSibling::park();
            let shared = child_cpus(&mut Command::new("cat"));
            let mut hooked = Command::new("cat");
            // SAFETY (test): the hook does nothing.
            unsafe { hooked.pre_exec(|| Ok(())) };
            let hooked = child_cpus(&mut hooked);
            sibling.release();
            pin_this_thread(Some(&everywhere));
            assert_eq!(alone, "0", "a lone green thread's spawn left its thread");
            assert_eq!(
                shared, default,
                "spawned on the worker, holding its green threads"
            );
            assert_eq!(
                hooked, "0",
                "a pre_exec command spawned away from its thread"
            );
        });
}

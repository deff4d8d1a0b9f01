//! Processes, `process` and `os::unix::process`: spawn errors (no such program, NUL bytes, a
//! bad directory, no permission, a bad executable, a failing `pre_exec`); the child's pipes and
//! the standard streams it gets by default; `wait`, `try_wait`, `kill` and `wait_with_output`
//! before and after the child has exited; exit statuses and signals; `Debug` output.

use super::api::*;
use crate::helpers::*;
use crate::Scenario;
use std::io::{Read, Write};
use std::time::Duration;

pub const SCENARIOS: &[Scenario] = scenarios![
    proc_nonexistent,
    proc_empty_program,
    proc_nul_program,
    proc_permission_denied,
    proc_bad_exec_format,
    proc_bad_cwd,
    proc_env_clear,
    proc_env_clear_path_lookup,
    proc_env_path_override,
    proc_output_basic,
    proc_output_big,
    proc_output_stdin_default,
    proc_status_stdin_inherit,
    proc_stdin_large_deadlock,
    proc_wait_with_output_stdin,
    proc_wait_stdin_open,
    proc_kill_wait,
    proc_try_wait,
    proc_wait_twice,
    proc_kill_after_exit,
    proc_kill_after_exit_no_sleep,
    proc_signal_exit,
    proc_stdout_to_file,
    proc_stdin_null_read,
    proc_get_args,
    proc_debug_cmd,
    proc_child_id,
    proc_write_stdin_after_exit,
    proc_write_stdin_after_exit2,
    proc_read_stdout_zero_buf,
    proc_stdin_write_zero,
    proc_stdin_pipe_write_full_count,
    proc_stdout_read_full,
    proc_stderr_to_stdout,
    proc_status_with_piped,
    proc_output_with_stdin_piped,
    proc_arg0,
    proc_exec_fail,
    proc_pre_exec_err,
    proc_uid_fail,
    proc_process_group,
    proc_many_concurrent,
    proc_into_std_child,
    proc_stdio_from_file,
    proc_stdio_from_childstdout,
    proc_exit_status_display,
];

fn proc_nonexistent() -> String {
    format!(
        "{} | {} | {}",
        rk(process::Command::new("/nonexistent/prog").spawn()),
        rk(process::Command::new("no-such-prog-xyz").output()),
        rk(process::Command::new("no-such-prog-xyz").status())
    )
}

fn proc_empty_program() -> String {
    rk(process::Command::new("").spawn())
}

fn proc_nul_program() -> String {
    format!(
        "{} | {} | {} | {}",
        rk(process::Command::new("a\0b").spawn()),
        rk(process::Command::new("true").arg("a\0b").spawn()),
        rk(process::Command::new("true").env("A\0", "b").spawn()),
        rk(process::Command::new("true").current_dir("a\0b").spawn())
    )
}

fn proc_permission_denied() -> String {
    let d = TempDir::new();
    let f = d.join("x");
    std::fs::write(&f, b"#!/bin/sh\necho hi\n").unwrap();
    let x = rk(process::Command::new(&f).spawn());
    let y = rk(process::Command::new(&*d).spawn());
    format!("{x} | {y}")
}

fn proc_bad_exec_format() -> String {
    use std::os::unix::fs::PermissionsExt;
    let d = TempDir::new();
    let f = d.join("x");
    std::fs::write(&f, b"\x7fELFgarbage").unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
    rk(process::Command::new(&f).spawn())
}

fn proc_bad_cwd() -> String {
    format!(
        "{} | {}",
        rk(process::Command::new("true")
            .current_dir("/nonexistent-dir")
            .spawn()),
        rk(process::Command::new("true")
            .current_dir("/nonexistent-dir")
            .output())
    )
}

fn proc_env_clear() -> String {
    let o = process::Command::new("/usr/bin/env")
        .env_clear()
        .env("FOO", "bar")
        .output()
        .unwrap();
    format!("{:?} {:?}", o.status, String::from_utf8_lossy(&o.stdout))
}

fn proc_env_clear_path_lookup() -> String {
    // A program given by name after env_clear: std looks it up in this process's PATH.
    r(process::Command::new("true").env_clear().status())
}

fn proc_env_path_override() -> String {
    r(process::Command::new("true")
        .env("PATH", "/nonexistent")
        .status()
        .map(|s| s.success()))
}

fn proc_output_basic() -> String {
    let o = process::Command::new("sh")
        .args(["-c", "echo out; echo err >&2; exit 3"])
        .output()
        .unwrap();
    format!("{:?} {:?} {:?}", o.status, o.stdout, o.stderr)
}

fn proc_output_big() -> String {
    let o = process::Command::new("sh")
        .args([
            "-c",
            "head -c 5000000 /dev/zero; head -c 3000000 /dev/zero >&2",
        ])
        .output()
        .unwrap();
    format!("{:?} {} {}", o.status, o.stdout.len(), o.stderr.len())
}

/// `output()` gives the child a null stdin unless told otherwise: `cat` ends at once (here the
/// inherited stdin would be /dev/null too, but a pipe left open would hang).
fn proc_output_stdin_default() -> String {
    let o = process::Command::new("cat").output().unwrap();
    format!("{:?} {:?}", o.status, o.stdout)
}

/// The child inherits our stdin, which the harness made /dev/null: not a terminal.
fn proc_status_stdin_inherit() -> String {
    let o = process::Command::new("sh")
        .args(["-c", "test -t 0; echo $?"])
        .stdout(process::Stdio::piped())
        .spawn()
        .unwrap()
        .wait_with_output()
        .unwrap();
    format!("{:?}", String::from_utf8_lossy(&o.stdout))
}

fn proc_stdin_large_deadlock() -> String {
    let mut c = process::Command::new("cat")
        .stdin(process::Stdio::piped())
        .stdout(process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = c.stdin.take().unwrap();
    let h = std::thread::spawn(move || {
        stdin.write_all(&vec![b'a'; 4 << 20]).unwrap();
    });
    let mut out = Vec::new();
    c.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    h.join().unwrap();
    format!("{} {:?}", out.len(), c.wait().unwrap())
}

fn proc_wait_with_output_stdin() -> String {
    let c = process::Command::new("cat")
        .stdin(process::Stdio::piped())
        .stdout(process::Stdio::piped())
        .spawn()
        .unwrap();
    // stdin not taken: wait_with_output closes it first, so `cat` ends (else: a hang).
    let o = c.wait_with_output().unwrap();
    format!("{:?} {:?}", o.status, o.stdout)
}

fn proc_wait_stdin_open() -> String {
    let mut c = process::Command::new("cat")
        .stdin(process::Stdio::piped())
        .spawn()
        .unwrap();
    // wait closes stdin first, so `cat` ends (else: a hang).
    let s = c.wait().unwrap();
    format!("{:?} {}", s, c.stdin.is_none())
}

fn proc_kill_wait() -> String {
    let mut c = process::Command::new("sleep").arg("10").spawn().unwrap();
    let k = r(c.kill());
    let w = r(c.wait());
    let k2 = r(c.kill());
    let w2 = r(c.wait());
    let tw = r(c.try_wait());
    use std::os::unix::process::ExitStatusExt;
    format!("{k} {w} {k2} {w2} {tw} {:?}", c.wait().unwrap().signal())
}

/// `try_wait` while the child runs (it waits for a line on its stdin), then until it has
/// exited, then again, then `wait`.
fn proc_try_wait() -> String {
    let mut c = process::Command::new("sh")
        .args(["-c", "read line; exit 3"])
        .stdin(process::Stdio::piped())
        .spawn()
        .unwrap();
    let a = r(c.try_wait());
    drop(c.stdin.take());
    let b = loop {
        match c.try_wait() {
            Ok(None) => std::thread::sleep(Duration::from_millis(1)),
            done => break r(done),
        }
    };
    let d = r(c.try_wait());
    let e = r(c.wait());
    format!("{a} {b} {d} {e}")
}

fn proc_wait_twice() -> String {
    let mut c = process::Command::new("sh")
        .args(["-c", "exit 7"])
        .spawn()
        .unwrap();
    format!("{} {}", r(c.wait()), r(c.wait()))
}

fn proc_kill_after_exit() -> String {
    let mut c = process::Command::new("true").spawn().unwrap();
    wait_exited_unreaped(c.id());
    let k = r(c.kill());
    let w = r(c.wait());
    let k2 = r(c.kill());
    format!("{k} {w} {k2}")
}

fn proc_kill_after_exit_no_sleep() -> String {
    let mut c = process::Command::new("true").spawn().unwrap();
    let w = r(c.wait());
    let k2 = r(c.kill());
    format!("{w} {k2}")
}

fn proc_signal_exit() -> String {
    use std::os::unix::process::ExitStatusExt;
    let s = process::Command::new("sh")
        .args(["-c", "kill -TERM $$"])
        .status()
        .unwrap();
    format!("{:?} {:?} {:?} {}", s, s.code(), s.signal(), s)
}

fn proc_stdout_to_file() -> String {
    let d = TempDir::new();
    let f = std::fs::File::create(d.join("o")).unwrap();
    let s = process::Command::new("echo")
        .arg("hi")
        .stdout(f)
        .status()
        .unwrap();
    let c = std::fs::read_to_string(d.join("o")).unwrap();
    format!("{:?} {:?}", s, c)
}

fn proc_stdin_null_read() -> String {
    let o = process::Command::new("sh")
        .args(["-c", "cat; echo done"])
        .stdin(process::Stdio::null())
        .output()
        .unwrap();
    format!("{:?}", String::from_utf8_lossy(&o.stdout))
}

fn proc_get_args() -> String {
    let mut c = process::Command::new("echo");
    c.arg("a")
        .args(["b", "c"])
        .env("X", "1")
        .env_remove("Y")
        .current_dir("/tmp");
    format!(
        "{:?} {:?} {:?} {:?} {:?}",
        c.get_program(),
        c.get_args().collect::<Vec<_>>(),
        c.get_envs().collect::<Vec<_>>(),
        c.get_current_dir(),
        c
    )
}

fn proc_debug_cmd() -> String {
    let mut c = process::Command::new("echo");
    c.arg("a b").env("X", "1");
    format!("{:?} | {:#?}", c, c)
}

fn proc_child_id() -> String {
    let mut c = process::Command::new("true").spawn().unwrap();
    let id = c.id();
    c.wait().unwrap();
    format!("{}", id == c.id())
}

fn proc_write_stdin_after_exit() -> String {
    let mut c = process::Command::new("true")
        .stdin(process::Stdio::piped())
        .spawn()
        .unwrap();
    c.wait().unwrap();
    let mut si = c.stdin.take();
    let x = match si.as_mut() {
        Some(s) => rk(s.write_all(b"hello")),
        None => "no stdin (dropped by wait)".into(),
    };
    x
}

fn proc_write_stdin_after_exit2() -> String {
    let mut c = process::Command::new("true")
        .stdin(process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut si = c.stdin.take().unwrap();
    c.wait().unwrap();
    rk(si.write_all(b"hello"))
}

/// A read into an empty buffer returns at once while the child writes nothing (it waits for
/// its stdin, which is closed only after: a read that waited would hang).
fn proc_read_stdout_zero_buf() -> String {
    let mut c = process::Command::new("sh")
        .args(["-c", "read line"])
        .stdin(process::Stdio::piped())
        .stdout(process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut so = c.stdout.take().unwrap();
    let x = r(so.read(&mut []));
    drop(c.stdin.take());
    let mut v = Vec::new();
    let y = r(so.read_to_end(&mut v));
    c.wait().unwrap();
    format!("{x} {y}")
}

fn proc_stdin_write_zero() -> String {
    let mut c = process::Command::new("cat")
        .stdin(process::Stdio::piped())
        .stdout(process::Stdio::null())
        .spawn()
        .unwrap();
    let mut si = c.stdin.take().unwrap();
    let x = r(si.write(&[]));
    let y = r(si.flush());
    drop(si);
    format!("{x} {y} {:?}", c.wait().unwrap())
}

fn proc_stdin_pipe_write_full_count() -> String {
    let mut c = process::Command::new("sh")
        .args(["-c", "sleep 0.1; cat > /dev/null"])
        .stdin(process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut si = c.stdin.take().unwrap();
    let buf = vec![0u8; 1 << 20];
    let n = r(si.write(&buf));
    drop(si);
    format!("{n} {:?}", c.wait().unwrap())
}

/// A read returns what is there (the child writes the rest only once it has read a line).
fn proc_stdout_read_full() -> String {
    let mut c = process::Command::new("sh")
        .args(["-c", "printf abc; read line; printf def"])
        .stdin(process::Stdio::piped())
        .stdout(process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut so = c.stdout.take().unwrap();
    let mut b = [0u8; 10];
    let n = r(so.read(&mut b));
    c.stdin.take().unwrap().write_all(b"\n").unwrap();
    let mut rest = String::new();
    so.read_to_string(&mut rest).unwrap();
    c.wait().unwrap();
    format!("{n} {rest}")
}

fn proc_stderr_to_stdout() -> String {
    let o = process::Command::new("sh")
        .args(["-c", "echo err >&2"])
        .stderr(process::Stdio::piped())
        .stdout(process::Stdio::null())
        .output()
        .unwrap();
    format!("{:?} {:?}", o.stdout, o.stderr)
}

fn proc_status_with_piped() -> String {
    // `status()` with stdout piped: the pipe is made and its read end closed; the child's
    // status is compared.
    let s = process::Command::new("sh")
        .args(["-c", "echo hi"])
        .stdout(process::Stdio::piped())
        .status();
    r(s)
}

fn proc_output_with_stdin_piped() -> String {
    let o = process::Command::new("cat")
        .stdin(process::Stdio::piped())
        .output();
    r(o.map(|o| (o.status, o.stdout)))
}

fn proc_arg0() -> String {
    use uproc::CommandExt;
    let o = process::Command::new("sh")
        .arg0("myname")
        .args(["-c", "echo $0"])
        .output()
        .unwrap();
    format!("{:?}", String::from_utf8_lossy(&o.stdout))
}

fn proc_exec_fail() -> String {
    use uproc::CommandExt;
    let er = process::Command::new("/nonexistent").exec();
    e(&er)
}

fn proc_pre_exec_err() -> String {
    use uproc::CommandExt;
    let mut c = process::Command::new("true");
    // SAFETY (test): the hook only returns an error, which is async-signal-safe.
    unsafe {
        c.pre_exec(|| Err(std::io::Error::from_raw_os_error(libc::EPERM)));
    }
    rk(c.spawn())
}

fn proc_uid_fail() -> String {
    use uproc::CommandExt;
    rk(process::Command::new("true").uid(12345).gid(12345).status())
}

fn proc_process_group() -> String {
    use uproc::CommandExt;
    let o = process::Command::new("sh")
        .args([
            "-c",
            "read -r _ _ _ _ pgid _ < /proc/$$/stat; echo $pgid $$",
        ])
        .process_group(0)
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&o.stdout).to_string();
    let v: Vec<&str> = s.split_whitespace().collect();
    format!("{}", v.len() == 2 && v[0] == v[1])
}

fn proc_many_concurrent() -> String {
    let kids: Vec<_> = (0..20)
        .map(|i| {
            process::Command::new("sh")
                .args(["-c", &format!("exit {}", i)])
                .spawn()
                .unwrap()
        })
        .collect();
    let codes: Vec<_> = kids
        .into_iter()
        .map(|mut k| k.wait().unwrap().code())
        .collect();
    format!("{:?}", codes)
}

fn proc_into_std_child() -> String {
    let mut c = process::Command::new("sh")
        .args(["-c", "read x; echo got $x"])
        .stdin(process::Stdio::piped())
        .stdout(process::Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(b"yo\n").unwrap();
    let mut s = String::new();
    c.stdout.take().unwrap().read_to_string(&mut s).unwrap();
    format!("{s:?} {:?}", c.wait().unwrap())
}

fn proc_stdio_from_file() -> String {
    let d = TempDir::new();
    std::fs::write(d.join("in"), b"file content").unwrap();
    let f = fs::File::open(d.join("in")).unwrap();
    let o = process::Command::new("cat").stdin(f).output().unwrap();
    format!("{:?}", String::from_utf8_lossy(&o.stdout))
}

fn proc_stdio_from_childstdout() -> String {
    let mut a = process::Command::new("echo")
        .arg("chained")
        .stdout(process::Stdio::piped())
        .spawn()
        .unwrap();
    let so = a.stdout.take().unwrap();
    let o = process::Command::new("cat").stdin(so).output().unwrap();
    a.wait().unwrap();
    format!("{:?}", String::from_utf8_lossy(&o.stdout))
}

fn proc_exit_status_display() -> String {
    let s = process::Command::new("sh")
        .args(["-c", "exit 300"])
        .status()
        .unwrap();
    format!("{} {:?} {}", s, s.code(), s.success())
}

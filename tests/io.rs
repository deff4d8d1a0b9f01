//! zsync::io: standard output and error written from green threads, standard input read by
//! green threads, anonymous pipes (`zsync::io::pipe`). Each case runs this test binary again as a child process (selected by the
//! `ZSYNC_IO_CHILD` variable) with its standard streams piped, and checks what came out.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

mod common;

const CHILD_VAR: &str = "ZSYNC_IO_CHILD";

/// Starts this binary again running only `child_entry`, in case `case`.
fn child(case: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "child_entry",
        "--exact",
        "--nocapture",
        "--test-threads=1",
        "-q",
    ])
    .env(CHILD_VAR, case)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    cmd
}

/// The lines of `text` that start with `prefix` (the harness adds lines of its own).
fn marked<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.starts_with(prefix)).collect()
}

/// The body of every child: does nothing unless this process is one.
#[test]
fn child_entry() {
    match std::env::var(CHILD_VAR).as_deref() {
        Ok("output") => child_output(),
        Ok("stdin_lines") => child_stdin_lines(),
        Ok("stdin_all") => child_stdin_all(),
        Ok("small_lines") => child_small_lines(),
        Ok("stdio_to_child") => child_stdio_to_child(),
        Ok("big_write") => child_big_write(),
        _ => {}
    }
}

fn payload(i: usize, j: usize) -> String {
    (0..120)
        .map(|k| (b'a' + ((i + j + k) % 26) as u8) as char)
        .collect()
}

fn child_output() {
    println!("@std before");
    zsync::run(|| {
        let writers: Vec<_> = (0..50)
            .map(|i| {
                zsync::spawn(move || {
                    for j in 0..20 {
                        writeln!(zsync::io::stdout(), "@g{i:02} l{j:02} {}", payload(i, j))
                            .unwrap();
                        if j % 5 == 0 {
                            zsync::thread::yield_now();
                        }
                    }
                    writeln!(zsync::io::stderr(), "!e{i:02}").unwrap();
                })
            })
            .collect();
        // A lock keeps other zsync writers out between its writes, and is reentrant.
        let locked = zsync::spawn(|| {
            let mut out = zsync::io::stdout().lock();
            write!(out, "@L begin").unwrap();
            zsync::thread::sleep(Duration::from_millis(20));
            write!(zsync::io::stdout(), " middle").unwrap();
            writeln!(out, " end").unwrap();
            out.flush().unwrap();
        });
        for w in writers {
            w.join().unwrap();
        }
        locked.join().unwrap();
        zsync::io::stdout().flush().unwrap();
    });
    println!("@std after");
    // Pipes: every write and flush waited on the reactor, none went to the pool.
    println!("#pool threads {}", common::pool_threads());
}

/// One `write` of a megabyte to standard output, a pipe its reader empties only later.
fn child_big_write() {
    let written = zsync::run(|| {
        let data = vec![b'x'; 1 << 20];
        zsync::io::stdout().write(&data).unwrap()
    });
    eprintln!("!wrote {written}");
}

fn child_stdin_lines() {
    let ticks = zsync::runtime::Builder::new()
        .worker_threads(1)
        .build()
        .unwrap()
        .block_on(|| {
            // A read_line that times out: what its abandoned read takes is kept.
            let mut line = String::new();
            let outcome = zsync::time::timeout(Duration::from_millis(100), || {
                zsync::io::stdin().read_line(&mut line)
            });
            assert!(outcome.is_err());
            writeln!(zsync::io::stdout(), "@timed out").unwrap();
            zsync::io::stdout().flush().unwrap();
            let mut kept = String::new();
            zsync::io::stdin().read_line(&mut kept).unwrap();
            writeln!(zsync::io::stdout(), "@kept {}", kept.trim_end()).unwrap();
            zsync::io::stdout().flush().unwrap();

            // The only worker keeps running a ticker while a green thread waits for input.
            let ticker = common::Ticker::spawn();
            let reader = zsync::spawn(|| {
                use zsync::io::BufRead;
                let mut first = String::new();
                zsync::io::stdin().read_line(&mut first).unwrap();
                let rest: Vec<String> = zsync::io::stdin()
                    .lock()
                    .lines()
                    .collect::<zsync::io::Result<_>>()
                    .unwrap();
                (first, rest)
            });
            let (first, rest) = reader.join().unwrap();
            let (ticks, _) = ticker.stop();
            writeln!(zsync::io::stdout(), "@first {}", first.trim_end()).unwrap();
            writeln!(zsync::io::stdout(), "@rest {}", rest.join(",")).unwrap();
            ticks
        });
    println!("@ticks {ticks}");
    // A pipe is waited on through the worker's reactor: no blocking-pool thread was started.
    println!("@pool threads {}", common::pool_threads());
    println!("@reactor path {}", zsync::io::stdio_reactor_calls() > 0);
}

fn child_stdin_all() {
    let (len, sum) = zsync::run(|| {
        let mut all = Vec::new();
        zsync::io::stdin().read_to_end(&mut all).unwrap();
        (all.len(), all.iter().map(|&b| b as u64).sum::<u64>())
    });
    println!("@all {len} {sum}");
    println!("@pool used {}", zsync::io::stdio_reactor_calls() == 0);
    println!("@in place reads {}", zsync::io::stdin_in_place_reads());
}

#[test]
fn stdout_and_stderr_from_green_threads() {
    let out = child("output").output().unwrap();
    assert!(out.status.success(), "child failed: {out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    check_output(&stdout);
    let mut errs = marked(&stderr, "!e");
    errs.sort_unstable();
    assert_eq!(errs.len(), 50, "{stderr}");
    errs.dedup();
    assert_eq!(errs.len(), 50);
    assert_eq!(marked(&stdout, "#pool"), ["#pool threads 0"]);
}

/// Standard output redirected to a regular file: 50 green threads' lines land whole and once
/// (made in place on a local file system, through the pool elsewhere).
#[test]
fn stdout_to_a_regular_file_from_green_threads() {
    let path = std::env::temp_dir().join(format!("zsync-io-stdout-{}", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    let out = child("output").stdout(file).output().unwrap();
    let stdout = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(out.status.success(), "child failed: {out:?}");
    check_output(&stdout);
}

/// Standard output redirected to a regular file on a local file system, written by a green
/// thread with a parked sibling on its worker: its small writes are made in place, none goes
/// to the blocking pool (with `ZSYNC_FS_IN_PLACE=0` each does), and they land in order.
#[test]
fn small_writes_to_stdout_in_a_local_file_are_made_in_place() {
    let path = std::env::temp_dir().join(format!("zsync-io-lines-{}", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    let out = child("small_lines").stdout(file).output().unwrap();
    let stdout = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(out.status.success(), "child failed: {out:?}");
    let lines = marked(&stdout, "@line ");
    let expected: Vec<String> = (0..200).map(|i| format!("@line {i}")).collect();
    assert_eq!(lines, expected);
    let stderr = String::from_utf8(out.stderr).unwrap();
    let figure = |name: &str| -> u64 { marked(&stderr, name)[0][name.len()..].parse().unwrap() };
    let (to_pool, slow) = (figure("#pool writes "), figure("#slow writes "));
    match common::small_writes_in_place(&std::env::temp_dir()) {
        // Unless one was slow (a loaded machine): then the next went to the pool for a while.
        Some(true) if slow > 0 => {}
        Some(true) => assert_eq!(to_pool, 0, "small writes to a local file went to the pool"),
        Some(false) => assert_eq!(to_pool, 200, "199 lines and a flush"),
        None => {}
    }
}

fn child_small_lines() {
    let rt = zsync::runtime::Builder::new()
        .worker_threads(1)
        .build()
        .unwrap();
    let to_pool = rt.block_on(|| {
        // A sibling parked on the worker: the writer is not all its worker runs.
        let sibling = common::ParkedSibling::park();
        // The first write learns what standard output is (a trip to the pool, not a write).
        writeln!(zsync::io::stdout(), "@line 0").unwrap();
        let slow = zsync::fs::in_place_slow_writes();
        let before = zsync::io::stdio_pool_writes();
        for i in 1..200 {
            writeln!(zsync::io::stdout(), "@line {i}").unwrap();
        }
        zsync::io::stdout().flush().unwrap();
        let to_pool = zsync::io::stdio_pool_writes() - before;
        sibling.release();
        // A write over 1 ms (a loaded machine) sends the next ones to the pool for a while.
        (to_pool, zsync::fs::in_place_slow_writes() - slow)
    });
    eprintln!("#pool writes {}", to_pool.0);
    eprintln!("#slow writes {}", to_pool.1);
}

/// The `@` lines the "output" child writes: every green thread's lines whole and once, the
/// locked sequence together, std's lines first and last.
fn check_output(stdout: &str) {
    let lines = marked(stdout, "@");
    assert_eq!(lines.first(), Some(&"@std before"), "{stdout}");
    assert_eq!(lines.last(), Some(&"@std after"), "{stdout}");
    // Every green thread's line, whole and once.
    let mut green: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("@g"))
        .collect();
    assert_eq!(green.len(), 1000, "{stdout}");
    green.sort_unstable();
    green.dedup();
    assert_eq!(green.len(), 1000);
    for line in &green {
        let i: usize = line[2..4].parse().unwrap();
        let j: usize = line[6..8].parse().unwrap();
        assert_eq!(*line, format!("@g{i:02} l{j:02} {}", payload(i, j)));
    }
    // The locked sequence stayed together, reentrant write included.
    assert!(lines.contains(&"@L begin middle end"), "{stdout}");
    assert_eq!(lines.len(), 1000 + 3);
}

#[test]
fn stdin_read_line_and_lines_from_a_pipe() {
    let mut proc = child("stdin_lines").stdin(Stdio::piped()).spawn().unwrap();
    let mut input = proc.stdin.take().unwrap();
    let mut output = BufReader::new(proc.stdout.take().unwrap());
    let mut seen = Vec::new();
    let mut next_marked = |seen: &mut Vec<String>| loop {
        let mut line = String::new();
        assert!(
            output.read_line(&mut line).unwrap() > 0,
            "child ended early: {seen:?}"
        );
        if line.starts_with('@') {
            let line = line.trim_end().to_owned();
            seen.push(line.clone());
            return line;
        }
    };
    assert_eq!(next_marked(&mut seen), "@timed out");
    input.write_all(b"kept line\n").unwrap();
    input.flush().unwrap();
    assert_eq!(next_marked(&mut seen), "@kept kept line");
    input.write_all(b"hello\n").unwrap();
    input.flush().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    input.write_all(b"a\nb\nc").unwrap();
    drop(input);
    assert_eq!(next_marked(&mut seen), "@first hello");
    assert_eq!(next_marked(&mut seen), "@rest a,b,c");
    let ticks: usize = next_marked(&mut seen)
        .strip_prefix("@ticks ")
        .unwrap()
        .parse()
        .unwrap();
    // Generous for a loaded machine: a worker blocked in the read would give 0 or 1.
    assert!(
        ticks >= 5,
        "the worker was blocked while reading stdin: {ticks} ticks"
    );
    assert_eq!(next_marked(&mut seen), "@pool threads 0");
    assert_eq!(next_marked(&mut seen), "@reactor path true");
    let status = proc.wait().unwrap();
    let mut err = String::new();
    proc.stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{err}");
}

#[test]
fn stdin_read_to_end_of_a_large_input() {
    let mut proc = child("stdin_all").stdin(Stdio::piped()).spawn().unwrap();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 241) as u8).collect();
    let expected_sum: u64 = data.iter().map(|&b| b as u64).sum();
    let mut input = proc.stdin.take().unwrap();
    let writer = std::thread::spawn(move || input.write_all(&data).unwrap());
    let out = proc.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        marked(&stdout, "@all"),
        [format!("@all 300000 {expected_sum}").as_str()]
    );
}

/// Standard input redirected from a regular file: its cached bytes are read on the green thread
/// itself (`RWF_NOWAIT`), no trip to the pool; with `ZSYNC_FS_NOWAIT=0` the pool reads them
/// through std's stdin. Either way every byte arrives, in order.
#[test]
fn stdin_from_a_regular_file_is_read_in_place_when_cached() {
    let path = std::env::temp_dir().join(format!("zsync-io-stdin-{}", std::process::id()));
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let expected_sum: u64 = data.iter().map(|&b| b as u64).sum();
    std::fs::write(&path, &data).unwrap();
    for nowait in [true, false] {
        let file = std::fs::File::open(&path).unwrap();
        let mut child = child("stdin_all");
        child.env("ZSYNC_FS_NOWAIT", if nowait { "1" } else { "0" });
        let out = child.stdin(file).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert_eq!(
            marked(&stdout, "@all"),
            [format!("@all 100000 {expected_sum}").as_str()]
        );
        // epoll refuses a regular file: no reactor.
        assert_eq!(marked(&stdout, "@pool used"), ["@pool used true"]);
        let in_place: u64 = marked(&stdout, "@in place reads")[0]
            .strip_prefix("@in place reads ")
            .unwrap()
            .parse()
            .unwrap();
        if nowait && takes_nowait_reads(&path) {
            // The file was just written: its bytes are cached. Two 64 KiB reads and the end.
            assert!(in_place >= 2, "{in_place} reads in place");
        } else if !nowait {
            assert_eq!(in_place, 0, "ZSYNC_FS_NOWAIT=0 left stdin reads in place");
        }
    }
    std::fs::remove_file(&path).unwrap();
}

/// Whether the file system under `path` reads cached bytes with `RWF_NOWAIT` (some, tmpfs on
/// older kernels among them, refuse the flag).
fn takes_nowait_reads(path: &std::path::Path) -> bool {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(path).unwrap();
    let mut byte = [0u8; 1];
    let iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: one iovec over a live one-byte buffer, for the call only.
    unsafe { libc::preadv2(file.as_raw_fd(), &iov, 1, 0, libc::RWF_NOWAIT) == 1 }
}

// ---- zsync::io::pipe ----

/// A pattern byte: a byte out of place or lost shows.
fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(31) ^ (i >> 8)) as u8
}

/// A megabyte through an anonymous pipe (sixteen times its buffer), written by one thread and
/// read by another, arrives whole and in order: on a plain OS thread, on green threads and on
/// a `Flavor::OsThreads` runtime; the reader sees the end once the writer is dropped.
#[test]
fn a_pipe_carries_a_megabyte_in_order() {
    common::on_each_model(|| {
        const LEN: usize = 1 << 20;
        let (mut reader, mut writer) = zsync::io::pipe().unwrap();
        let sender = zsync::thread::spawn(move || {
            let data: Vec<u8> = (0..LEN).map(pattern).collect();
            for chunk in data.chunks(10_000) {
                writer.write_all(chunk).unwrap();
            }
        });
        let mut got = Vec::new();
        reader.read_to_end(&mut got).unwrap();
        sender.join().unwrap();
        assert_eq!(got.len(), LEN);
        assert!(got.iter().enumerate().all(|(i, &b)| b == pattern(i)));
    });
}

/// A blocking write to a pipe writes all of its buffer, as std's does (sixteen times what the
/// pipe holds, while a slow reader makes room), vectored too.
#[test]
fn a_pipe_write_writes_the_whole_buffer_as_std_s() {
    common::on_each_model(|| {
        const LEN: usize = 1 << 20;
        let (reader, writer) = zsync::io::pipe().unwrap();
        let data: Vec<u8> = (0..LEN).map(pattern).collect();
        let all = common::write_whole_plain_and_vectored(writer, reader, &data);
        assert_eq!(all.len(), 2 * LEN);
        assert!(all.iter().enumerate().all(|(i, &b)| b == pattern(i % LEN)));
    });
}

/// Clones of both ends share the pipe (std's pipe test): bytes written through a clone are
/// read through a clone, through `&PipeReader` too, and the end comes only when every write
/// end is gone.
#[test]
fn pipe_ends_cloned_share_the_pipe() {
    common::on_each_model(|| {
        let (reader, writer) = zsync::io::pipe().unwrap();
        let reader2 = reader.try_clone().unwrap();
        let mut writer2 = writer.try_clone().unwrap();
        writer2.write_all(b"ab").unwrap();
        (&writer).write_all(b"cd").unwrap();
        let mut two = [0u8; 2];
        (&reader2).read_exact(&mut two).unwrap();
        assert_eq!(&two, b"ab");
        drop(writer);
        writer2.write_all(b"ef").unwrap();
        drop(writer2);
        let mut rest = String::new();
        (&reader).read_to_string(&mut rest).unwrap();
        assert_eq!(rest, "cdef");
    });
}

/// A green thread's `write` of a megabyte to standard output, a blocking pipe that fills up,
/// writes all of it, as std's write does (the kernel's returns once all is queued); only a
/// non-blocking fd takes a short count.
#[test]
fn a_write_to_standard_output_writes_the_whole_buffer_as_std_s() {
    let mut running = child("big_write").spawn().unwrap();
    // Let the pipe fill before reading.
    std::thread::sleep(Duration::from_millis(200));
    let mut out = Vec::new();
    running
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    let done = running.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&done.stderr);
    assert!(done.status.success(), "{err}");
    assert_eq!(marked(&err, "!wrote"), ["!wrote 1048576"], "{err}");
    assert_eq!(out.iter().filter(|&&b| b == b'x').count(), 1 << 20);
}

/// A green thread writing into a full pipe parks: on one worker its sibling keeps ticking while
/// the writer waits, and only then does a plain thread start reading (a write that blocked the
/// worker would fail this test, not hang it).
#[test]
fn a_green_thread_writing_a_full_pipe_parks() {
    const LEN: usize = 1 << 20;
    let (mut reader, mut writer) = zsync::io::pipe().unwrap();
    let (go, gate) = std::sync::mpsc::channel::<()>();
    let drain = std::thread::spawn(move || {
        // Without the go (a blocked worker cannot send it), read anyway after a while so that
        // the test fails rather than hangs.
        let _ = gate.recv_timeout(Duration::from_secs(10));
        let mut got = Vec::new();
        reader.read_to_end(&mut got).unwrap();
        got
    });
    let rt = zsync::runtime::Builder::new()
        .worker_threads(1)
        .build()
        .unwrap();
    let (ticked, full) = rt.block_on(move || {
        let ticker = common::Ticker::spawn();
        let sender = zsync::spawn(move || {
            let data: Vec<u8> = (0..LEN).map(pattern).collect();
            writer.write_all(&data).unwrap();
        });
        zsync::thread::sleep(Duration::from_millis(10));
        let ticked = ticker.ticked(20);
        let full = !sender.is_finished();
        go.send(()).unwrap();
        sender.join().unwrap();
        ticker.stop();
        (ticked, full)
    });
    let got = drain.join().unwrap();
    assert_eq!(got.len(), LEN);
    assert!(got.iter().enumerate().all(|(i, &b)| b == pattern(i)));
    assert!(
        ticked,
        "the sibling stopped while a green thread wrote into a full pipe"
    );
    assert!(
        full,
        "a megabyte fit into the pipe, or was written while the worker was stuck"
    );
}

/// Pipe ends go to child processes as their standard streams (in blocking mode, as they
/// expect): `cat` reads what is written into the pipe, and `echo` writes into one.
#[test]
fn pipe_ends_as_a_childs_standard_streams() {
    use zsync::process::{Command, Stdio};
    let (cat_out, echo_out) = zsync::run(|| {
        let (reader, mut writer) = zsync::io::pipe().unwrap();
        let cat = Command::new("cat")
            .stdin(reader)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        writer.write_all(b"into cat").unwrap();
        drop(writer);
        let cat_out = cat.wait_with_output().unwrap();
        let (mut reader, writer) = zsync::io::pipe().unwrap();
        let mut echo = Command::new("echo");
        echo.arg("from echo").stdout(writer);
        let status = echo.status().unwrap();
        drop(echo); // the command holds the write end until it goes
        let mut echo_out = String::new();
        reader.read_to_string(&mut echo_out).unwrap();
        assert!(status.success());
        (cat_out, echo_out)
    });
    assert!(cat_out.status.success());
    assert_eq!(cat_out.stdout, b"into cat");
    assert_eq!(echo_out, "from echo\n");
}

/// Runs `echo text` with its standard output going to `to`.
fn echo(text: &str, to: std::process::Stdio) {
    let status = zsync::process::Command::new("echo")
        .arg(text)
        .stdout(to)
        .status()
        .unwrap();
    assert!(status.success());
}

fn child_stdio_to_child() {
    use zsync::process::Command;
    // Neither std's conversion nor zsync's flushes: the line std still buffers comes out after
    // the child's.
    print!("@std tail");
    echo("@std child", std::io::stdout().into());
    println!();
    print!("@zsync tail");
    echo("@zsync child", zsync::io::stdout().into());
    println!();
    zsync::run(|| {
        echo("@green to stdout", zsync::io::stdout().into());
        echo("!green to stderr", zsync::io::stderr().into());
        let status = Command::new("sh")
            .args(["-c", "echo '!sh to stderr' >&2"])
            .stderr(zsync::io::stderr())
            .status()
            .unwrap();
        assert!(status.success());
    });
}

/// `zsync::io::stdout()` and `stderr()` as a child's streams: the child writes to the
/// parent's own standard output or error, unflushed, as with std's.
#[test]
fn stdout_and_stderr_as_a_childs_streams() {
    let out = child("stdio_to_child").output().unwrap();
    assert!(out.status.success(), "child failed: {out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        marked(&stdout, "@"),
        [
            "@std child",
            "@std tail",
            "@zsync child",
            "@zsync tail",
            "@green to stdout"
        ],
        "{stdout}"
    );
    assert_eq!(
        marked(&stderr, "!"),
        ["!green to stderr", "!sh to stderr"],
        "{stderr}"
    );
}

/// A pipe's ends taken over from raw fds (`FromRawFd`, as std's have) work as `pipe()`'s.
#[test]
fn pipe_ends_from_raw_fds() {
    use std::os::fd::{FromRawFd, IntoRawFd};
    common::on_each_model(|| {
        let (reader, writer) = std::io::pipe().unwrap();
        // SAFETY (test): both fds were just released by their owners.
        let (mut reader, mut writer) = unsafe {
            (
                zsync::io::PipeReader::from_raw_fd(reader.into_raw_fd()),
                zsync::io::PipeWriter::from_raw_fd(writer.into_raw_fd()),
            )
        };
        writer.write_all(b"raw ends").unwrap();
        drop(writer);
        let mut text = String::new();
        reader.read_to_string(&mut text).unwrap();
        assert_eq!(text, "raw ends");
    });
}

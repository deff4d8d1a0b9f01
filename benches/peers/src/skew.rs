//! The B14 load client (skew): 1000 long-lived echo connections of which 100 are ten times
//! busier than the others, driven by one OS thread with mio (the same client for every server;
//! the server is B7's echo server, in its own process).
//!
//! Every connection is closed-loop: one 64-byte message in flight, the next sent when its echo
//! is back. The 100 hot connections (picked pseudo-randomly with a fixed seed, so that they are
//! not every tenth accepted connection, which a round-robin placement would put on one worker)
//! send the next message at once. The 900 quiet ones are paced by the hot ones, not by a clock:
//! quiet connection `q` may send its `c`th message once the hot connections together have
//! completed `1000 * c + q * 1000 / 900` round trips, so that each quiet connection does a
//! tenth of an average hot connection's round trips whatever the server's speed, and the
//! quiet messages are spread evenly between the hot ones rather than sent in bursts.
//!
//! A request's latency runs from the write of its message to the read of the last byte of its
//! echo. The result is round trips per second over the measuring window and the 99th
//! percentile of the latencies of the round trips completed in it.
//!
//! For judging a result, the client prints to stderr the share of a core it used itself (near
//! 100%: the client, not the server, was the limit), how evenly the hot connections were served
//! (10th and 90th percentile of their round trips), p50 and the hot and quiet p99s, and the CPU
//! use of the server's busiest threads over the window, from /proc (on zsync: each worker's,
//! so an imbalance between them shows).

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// Long-lived connections.
pub const B14_CONNECTIONS: usize = 1000;
/// The busy ones among them (10%).
const HOT: usize = B14_CONNECTIONS / 10;
/// How many times busier a hot connection is than a quiet one.
const SKEW: u64 = 10;
const MSG: usize = 64;

struct Conn {
    stream: TcpStream,
    /// `None` for a hot connection, `Some(q)` for the `q`th quiet one.
    quiet: Option<u64>,
    /// Round trips completed on this connection.
    completed: u64,
    /// When the message in flight was written; `None` when none is.
    sent_at: Option<Instant>,
    sent: usize,
    received: usize,
}

/// One measurement: round trips per second and the 99th percentile latency.
pub struct Skew {
    pub rps: f64,
    pub p99_us: f64,
}

/// Which connections are hot: `HOT` of `B14_CONNECTIONS`, chosen by a fixed-seed xorshift.
fn hot_set() -> Vec<bool> {
    let mut hot = vec![false; B14_CONNECTIONS];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut chosen = 0;
    while chosen < HOT {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let i = (x % B14_CONNECTIONS as u64) as usize;
        if !hot[i] {
            hot[i] = true;
            chosen += 1;
        }
    }
    hot
}

/// The `pct`th percentile of `samples` (nanoseconds), in microseconds.
fn percentile_us(samples: &mut [u32], pct: usize) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort_unstable();
    let i = (samples.len() * pct).div_ceil(100) - 1;
    samples[i] as f64 / 1e3
}

/// CPU time so far (clock ticks) of each thread of process `pid`, from /proc, with its name.
fn threads_cpu(pid: u32) -> Vec<(String, u64)> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| {
            let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
            let (head, rest) = stat.rsplit_once(") ")?;
            let name = head.split_once(" (")?.1.to_string();
            let fields: Vec<&str> = rest.split_whitespace().collect();
            // utime and stime are fields 14 and 15 of stat; `rest` starts at field 3.
            let ticks =
                fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
            Some((
                format!("{name}/{}", task.file_name().to_string_lossy()),
                ticks,
            ))
        })
        .collect()
}

/// The busiest threads of the server over the window, as "name/tid NN%" of one core.
fn busiest(before: &[(String, u64)], after: &[(String, u64)], window: Duration) -> String {
    // SAFETY: sysconf only reads a configuration value.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let mut used: Vec<(f64, &str)> = after
        .iter()
        .map(|(name, ticks)| {
            let was = before
                .iter()
                .find(|(n, _)| n == name)
                .map_or(0, |(_, t)| *t);
            let share = (ticks - was.min(*ticks)) as f64 / per_second / window.as_secs_f64();
            (share, name.as_str())
        })
        .collect();
    used.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap());
    used.iter()
        .take(4)
        .map(|(share, name)| format!("{name} {:.0}%", share * 100.0))
        .collect::<Vec<_>>()
        .join(", ")
}

/// This thread's CPU time, to tell whether the client itself was the bottleneck.
fn thread_cpu() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable timespec for the duration of the call.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// Runs the skewed load against the echo server at `addr` (process `server_pid`, whose
/// threads' CPU use it reports) for `warmup` then `measure`.
pub fn skew_load(addr: SocketAddr, server_pid: u32, warmup: Duration, measure: Duration) -> Skew {
    let mut poll = Poll::new().unwrap();
    let mut events = Events::with_capacity(1024);
    let message = [0x5au8; MSG];
    let hot = hot_set();
    let mut next_quiet = 0;
    let mut conns: Vec<Conn> = (0..B14_CONNECTIONS)
        .map(|i| {
            let std = std::net::TcpStream::connect(addr).expect("connect to the server");
            std.set_nodelay(true).unwrap();
            std.set_nonblocking(true).unwrap();
            let mut stream = TcpStream::from_std(std);
            poll.registry()
                .register(
                    &mut stream,
                    Token(i),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .unwrap();
            let quiet = (!hot[i]).then(|| {
                next_quiet += 1;
                next_quiet - 1
            });
            Conn {
                stream,
                quiet,
                completed: 0,
                sent_at: None,
                sent: 0,
                received: 0,
            }
        })
        .collect();
    let quiet_count = (B14_CONNECTIONS - HOT) as u64;
    let per_round = SKEW * HOT as u64;
    // Hot round trips after which quiet connection `q` may send its `c`th message.
    let threshold = |q: u64, c: u64| per_round * c + q * per_round / quiet_count;
    let mut hot_done = 0u64;
    // Quiet connections waiting for their threshold, lowest first.
    let mut waiting: BinaryHeap<Reverse<(u64, usize)>> = BinaryHeap::new();
    // Which connections are in `waiting` (a readiness event while one waits must not add it
    // twice).
    let mut in_waiting = vec![false; B14_CONNECTIONS];
    // Latencies (ns) of the round trips completed in the window, hot and quiet.
    let mut hot_latencies: Vec<u32> = Vec::with_capacity(1 << 20);
    let mut quiet_latencies: Vec<u32> = Vec::with_capacity(1 << 20);
    let mut server_before = None;
    let start = Instant::now();
    let cpu_start = thread_cpu();
    let measure_from = start + warmup;
    let end = measure_from + measure;
    let mut counted = 0u64;
    let mut buf = [0u8; MSG];
    let mut pending: Vec<usize> = (0..B14_CONNECTIONS).collect();
    loop {
        while let Some(i) = pending.pop() {
            let c = &mut conns[i];
            loop {
                if c.sent_at.is_none() {
                    if let Some(q) = c.quiet {
                        let at = threshold(q, c.completed);
                        if hot_done < at {
                            if !in_waiting[i] {
                                in_waiting[i] = true;
                                waiting.push(Reverse((at, i)));
                            }
                            break;
                        }
                    }
                    c.sent_at = Some(Instant::now());
                }
                while c.sent < MSG {
                    match c.stream.write(&message[c.sent..]) {
                        Ok(n) => c.sent += n,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) => panic!("write: {e}"),
                    }
                }
                while c.received < MSG {
                    match c.stream.read(&mut buf[..MSG - c.received]) {
                        Ok(0) => panic!("server closed a connection"),
                        Ok(n) => c.received += n,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) => panic!("read: {e}"),
                    }
                }
                if c.received < MSG {
                    break;
                }
                let now = Instant::now();
                let latency = now - c.sent_at.take().unwrap();
                c.sent = 0;
                c.received = 0;
                c.completed += 1;
                if now >= measure_from && now < end {
                    counted += 1;
                    let ns = latency.as_nanos().min(u32::MAX as u128) as u32;
                    if c.quiet.is_none() {
                        hot_latencies.push(ns);
                    } else {
                        quiet_latencies.push(ns);
                    }
                }
                if c.quiet.is_none() {
                    hot_done += 1;
                    while let Some(&Reverse((at, q))) = waiting.peek() {
                        if at > hot_done {
                            break;
                        }
                        waiting.pop();
                        in_waiting[q] = false;
                        pending.push(q);
                    }
                }
            }
        }
        let now = Instant::now();
        if now >= end {
            break;
        }
        if now >= measure_from && server_before.is_none() {
            server_before = Some((threads_cpu(server_pid), now));
        }
        poll.poll(&mut events, Some(end - now)).unwrap();
        pending.extend(events.iter().map(|e| e.token().0));
    }
    let busy = (thread_cpu() - cpu_start).as_secs_f64() / start.elapsed().as_secs_f64();
    let server = match server_before {
        Some((before, at)) => busiest(&before, &threads_cpu(server_pid), at.elapsed()),
        None => String::new(),
    };
    let quiet_done: u64 = conns
        .iter()
        .filter(|c| c.quiet.is_some())
        .map(|c| c.completed)
        .sum();
    // How evenly the hot connections were served: a server that leaves some of them on a
    // busier worker shows a wide spread here (a closed loop hides it from the total).
    let mut per_hot: Vec<u64> = conns
        .iter()
        .filter(|c| c.quiet.is_none())
        .map(|c| c.completed)
        .collect();
    per_hot.sort_unstable();
    let mut all: Vec<u32> = hot_latencies
        .iter()
        .chain(&quiet_latencies)
        .copied()
        .collect();
    let skew = Skew {
        rps: counted as f64 / measure.as_secs_f64(),
        p99_us: percentile_us(&mut all, 99),
    };
    eprintln!(
        "  (B14 client: {:.0}% of a core busy; round trips per hot connection {:.0} (10th \
         percentile {}, 90th {}), per quiet one {:.1}; latency p50 {:.0} µs, p99 hot {:.0} µs, \
         quiet {:.0} µs; busiest server threads: {server})",
        busy * 100.0,
        hot_done as f64 / HOT as f64,
        per_hot[HOT / 10],
        per_hot[HOT * 9 / 10],
        quiet_done as f64 / quiet_count as f64,
        percentile_us(&mut all, 50),
        percentile_us(&mut hot_latencies, 99),
        percentile_us(&mut quiet_latencies, 99),
    );
    skew
}

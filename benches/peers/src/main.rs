//! zsync-peers: runs the workloads of docs/BENCHMARKS.md (B1-B14) on zsync and on its
//! peers side by side, alternating implementations over several rounds, and prints medians and
//! zsync's advantage over each peer.
//!
//! ```text
//! cd benches/peers
//! cargo run --release                  # everything, several rounds (about 15 minutes)
//! cargo run --release -- --quick       # one short round of each (under 2 minutes)
//! cargo run --release -- b4 b7         # only some workloads (b1 ... b14), full or --quick
//! cargo run --release -- chart         # redraw results/chart.svg from results/results.md
//! ```
//!
//! Every run prints a Markdown table and writes results/results.md and results/chart.svg (a run
//! of some workloads replaces only their rows; a `--quick` run writes results/quick.md and
//! results/quick.svg instead). Each measurement runs in a fresh child process (`micro KEY IMPL
//! WORKERS` or `server IMPL KIND WORKERS ADDR`), so that implementations never share a heap,
//! threads or a crash. Go runs when golang-go is installed (its program is go/main.go), and is
//! skipped with a printed line when it is not; wrk (for B11) and redis-server (for B13) likewise.
//! B13's zsync-with-`hook` rows and B7's "hook" rows (std's own net types on green threads) run
//! the hooked/ package's binary, which the runner builds.
//! B7 and B14 load their server from this process (load.rs, skew.rs: one mio thread), never
//! from the server's own process, so that the server cannot starve its load. By hand, to compare
//! builds or settings of one server: start `target/release/zsync-peers server zsync echo 2
//! 127.0.0.1:0` (it prints its address; `skew` for B14's server), then `zsync-peers load ADDR
//! CONNECTIONS` (B7's load, 1 s + 4 s) or `zsync-peers skew-load ADDR SERVER_PID` (B14's, 2 s +
//! 8 s).

mod blocking_server;
mod files;
mod go;
mod hazard;
mod hazard_net;
mod hazard_zsync;
mod load;
mod micro;
mod parked;
mod report;
mod servers;
mod skew;
mod switch;

use report::Row;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long one child measurement may take before it is killed; the slowest honest run (B6,
/// 1,000,000 parked tasks) stays well under it.
const DEADLINE: Duration = Duration::from_secs(120);
/// The same in the quick mode, whose workloads are ten times smaller.
const QUICK_DEADLINE: Duration = Duration::from_secs(15);

/// Every implementation, in table order; zsync first.
pub const IMPLS: [&str; 6] = ["zsync", "tokio", "may", "std", "go", "corosensei"];
/// The runtimes with a scheduler (everything but corosensei, which is only a coroutine).
const RUNTIMES: &[&str] = &["zsync", "tokio", "may", "std", "go"];
/// The runtimes with a scheduler and a worker count to set.
const SCHEDULERS: &[&str] = &["zsync", "tokio", "may", "go"];

/// One row of the table: a workload, the implementations it runs on and how.
struct Workload {
    /// Selects the workload on the command line (`b4`) and in the child (`B4`).
    key: &'static str,
    name: &'static str,
    unit: &'static str,
    higher_is_better: bool,
    impls: &'static [&'static str],
    workers: usize,
    /// Rounds in the full mode (the quick mode runs one).
    rounds: usize,
    kind: Kind,
    /// Environment variables set on the zsync child only (B12's pool rows: `ZSYNC_IO_URING=0`).
    zsync_env: &'static [(&'static str, &'static str)],
    /// A row whose peer medians this row shows instead of measuring the peers again (B12's
    /// pool rows measure only zsync; tokio and std are the same as in the io_uring rows).
    peers_from: Option<&'static str>,
    /// The zsync child is hooked/'s binary (zsync with the `hook` feature), not this one.
    zsync_hooked: bool,
}

enum Kind {
    /// Runs in a child process that prints the result on its last line.
    Child,
    /// A server (echo or http) in a child process under load from this process.
    Server { http: bool, connections: usize },
    /// B14: B7's echo server under skew.rs's skewed load; `p99` picks the figure. Both rows
    /// come from the same runs: the first row to ask measures, the other reads the cache.
    Skew { p99: bool },
}

const fn child(
    key: &'static str,
    name: &'static str,
    unit: &'static str,
    higher_is_better: bool,
    impls: &'static [&'static str],
    workers: usize,
    rounds: usize,
) -> Workload {
    Workload {
        key,
        name,
        unit,
        higher_is_better,
        impls,
        workers,
        rounds,
        kind: Kind::Child,
        zsync_env: &[],
        peers_from: None,
        zsync_hooked: false,
    }
}

/// A B12 row: zsync on io_uring with tokio and std, or (`pool`) zsync alone on the blocking
/// pool, showing the peers of the io_uring row `peers_from`.
const fn files(
    key: &'static str,
    name: &'static str,
    unit: &'static str,
    pool: Option<&'static str>,
) -> Workload {
    let mut w = child(key, name, unit, true, &["zsync", "tokio", "std"], 2, 3);
    if let Some(peers_from) = pool {
        w.impls = &["zsync"];
        w.zsync_env = &[("ZSYNC_IO_URING", "0")];
        w.peers_from = Some(peers_from);
    }
    w
}

/// B12's small writes by zsync alone with `ZSYNC_FS_IN_PLACE=0` (on the ring, as before writes
/// were made in place), showing the peers of `peers_from`.
const fn ring_writes(name: &'static str, peers_from: &'static str) -> Workload {
    let mut w = files("B12-WRITE", name, "MiB/s", Some(peers_from));
    w.zsync_env = &[("ZSYNC_FS_IN_PLACE", "0")];
    w
}

const fn server(
    key: &'static str,
    name: &'static str,
    impls: &'static [&'static str],
    workers: usize,
    http: bool,
    connections: usize,
) -> Workload {
    Workload {
        key,
        name,
        unit: "req/s",
        higher_is_better: true,
        impls,
        workers,
        rounds: 3,
        kind: Kind::Server { http, connections },
        zsync_env: &[],
        peers_from: None,
        zsync_hooked: false,
    }
}

/// A B7 "hook" row: zsync alone, serving with std's own net types through the `hook` feature
/// (hooked/'s binary), showing the peers of the zsync::net row `peers_from`.
const fn hooked_server(
    name: &'static str,
    connections: usize,
    peers_from: &'static str,
) -> Workload {
    let mut w = server("B7", name, &["zsync"], 2, false, connections);
    w.zsync_hooked = true;
    w.peers_from = Some(peers_from);
    w
}

/// A B13 row: zsync with `hook` (hooked/'s binary), tokio with spawn_blocking and std threads,
/// or (`no_hook`) zsync alone without `hook`, showing the peers of the hook row `no_hook` names.
const fn hazard(
    key: &'static str,
    name: &'static str,
    unit: &'static str,
    higher_is_better: bool,
    no_hook: Option<&'static str>,
) -> Workload {
    let mut w = child(
        key,
        name,
        unit,
        higher_is_better,
        &["zsync", "tokio", "std"],
        2,
        3,
    );
    w.zsync_hooked = true;
    if let Some(peers_from) = no_hook {
        w.impls = &["zsync"];
        w.zsync_hooked = false;
        w.peers_from = Some(peers_from);
    }
    w
}

/// A B14 row: req/s, or (`p99`) the 99th percentile latency of the same runs.
const fn skew(name: &'static str, p99: bool) -> Workload {
    Workload {
        key: "B14",
        name,
        unit: if p99 { "µs" } else { "req/s" },
        higher_is_better: !p99,
        impls: &["zsync", "tokio", "go"],
        workers: 2,
        rounds: 3,
        kind: Kind::Skew { p99 },
        zsync_env: &[],
        peers_from: None,
        zsync_hooked: false,
    }
}

/// The suite, in table order. B10 (scaling) repeats B2, B4 and B7 at one worker; the B2, B4 and
/// B7 rows are its "all cores" points on this 2-core machine.
const SUITE: &[Workload] = &[
    child(
        "B1",
        "B1 switch",
        "ns",
        false,
        &["zsync", "corosensei"],
        1,
        5,
    ),
    child("B2", "B2 spawn+join", "ns/task", false, RUNTIMES, 2, 5),
    child("B3", "B3 yield", "ns", false, RUNTIMES, 2, 5),
    child("B4", "B4 ping-pong", "ns", false, RUNTIMES, 2, 5),
    child(
        "B5",
        "B5 parked memory",
        "KiB/task",
        false,
        SCHEDULERS,
        2,
        3,
    ),
    child("B6", "B6 most parked", "tasks", true, RUNTIMES, 2, 1),
    server("B7", "B7 echo 100", RUNTIMES, 2, false, 100),
    server("B7", "B7 echo 1000", RUNTIMES, 2, false, 1000),
    hooked_server("B7 echo 100 hook", 100, "B7 echo 100"),
    hooked_server("B7 echo 1000 hook", 1000, "B7 echo 1000"),
    child("B8", "B8 timers", "ms", false, SCHEDULERS, 2, 3),
    child("B9", "B9 mutex", "ns/lock", false, RUNTIMES, 2, 5),
    child("B2", "B10 B2 1 worker", "ns/task", false, SCHEDULERS, 1, 5),
    child("B4", "B10 B4 1 worker", "ns", false, SCHEDULERS, 1, 5),
    server("B7", "B10 B7 100 1 worker", SCHEDULERS, 1, false, 100),
    server("B11", "B11 http 100", RUNTIMES, 2, true, 100),
    files("B12-READ", "B12 read io_uring", "reads/s", None),
    files(
        "B12-READ",
        "B12 read pool",
        "reads/s",
        Some("B12 read io_uring"),
    ),
    files("B12-COPY", "B12 copy io_uring", "MiB/s", None),
    files(
        "B12-COPY",
        "B12 copy pool",
        "MiB/s",
        Some("B12 copy io_uring"),
    ),
    files("B12-WRITE", "B12 4 KiB writes", "MiB/s", None),
    ring_writes("B12 4 KiB writes ring", "B12 4 KiB writes"),
    hazard("B13-LATE", "B13 redis lateness hook", "ms", false, None),
    hazard(
        "B13-LATE",
        "B13 redis lateness no hook",
        "ms",
        false,
        Some("B13 redis lateness hook"),
    ),
    hazard("B13-OPS", "B13 redis ops hook", "ops/s", true, None),
    hazard(
        "B13-OPS",
        "B13 redis ops no hook",
        "ops/s",
        true,
        Some("B13 redis ops hook"),
    ),
    child(
        "B13-NET-LATE",
        "B13 redis lateness zsync::net",
        "ms",
        false,
        &["zsync", "tokio", "std"],
        2,
        3,
    ),
    child(
        "B13-NET-LATE-P50",
        "B13 redis lateness p50 zsync::net",
        "ms",
        false,
        &["zsync", "tokio", "std"],
        2,
        3,
    ),
    child(
        "B13-NET-OPS",
        "B13 redis ops zsync::net",
        "ops/s",
        true,
        &["zsync", "tokio", "std"],
        2,
        3,
    ),
    skew("B14 skew", false),
    skew("B14 skew p99", true),
];

/// A server of one implementation, in its own process (so that each gets the machine to
/// itself and a crash cannot take the runner down).
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    /// `kind`: "echo", "http" or "skew" (servers.rs; Go's echo server serves "skew"); `hooked`:
    /// zsync's server is hooked/'s binary (std's own net types through the `hook` feature).
    fn start(implementation: &str, kind: &str, workers: usize, hooked: bool) -> Option<Server> {
        let workers = workers.to_string();
        let mut cmd = if hooked && implementation == "zsync" {
            let mut cmd = Command::new(hazard::hooked_binary()?);
            cmd.args(["server", implementation, kind, &workers]);
            cmd
        } else if implementation == "go" {
            let mut cmd = Command::new(go::binary()?);
            let kind = if kind == "http" { "http" } else { "echo" };
            cmd.args(["server", kind, &workers]);
            cmd
        } else {
            let mut cmd = Command::new(std::env::current_exe().unwrap());
            cmd.args(["server", implementation, kind, &workers]);
            cmd
        };
        let mut child = cmd
            .arg("127.0.0.1:0")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start a server process");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line.trim().parse().expect("the server prints its address");
        Some(Server { child, addr })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The median of the samples that are numbers; NaN if there are none.
fn median(mut values: Vec<f64>) -> f64 {
    values.retain(|v| !v.is_nan());
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[values.len() / 2]
}

/// Runs one child workload in a fresh process; its result is the last number it printed
/// (B6 prints a running count, so a process that dies still leaves its result behind).
fn run_child(
    key: &str,
    implementation: &str,
    workers: usize,
    quick: bool,
    env: &[(&str, &str)],
    hooked: bool,
) -> f64 {
    let workers = workers.to_string();
    let mut cmd = if hooked && implementation == "zsync" {
        let Some(binary) = hazard::hooked_binary() else {
            return f64::NAN;
        };
        let mut cmd = Command::new(binary);
        cmd.args(["micro", key, implementation, &workers]);
        cmd
    } else if implementation == "go" {
        let Some(binary) = go::binary() else {
            return f64::NAN;
        };
        let mut cmd = Command::new(binary);
        cmd.args(["micro", key, &workers]);
        cmd
    } else {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args(["micro", key, implementation, &workers]);
        cmd
    };
    if quick {
        cmd.arg("--quick");
    }
    cmd.envs(env.iter().copied());
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run a workload");
    // Read the output on a thread, so that a child printing a lot never blocks on a full pipe
    // while this thread waits for it to exit.
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut text);
        text
    });
    let limit = if quick { QUICK_DEADLINE } else { DEADLINE };
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for a workload") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            // A runtime that failed half-way can hang instead of exiting (may, out of
            // mappings, deadlocks in its abort path): its last printed number still counts.
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    match status {
        Some(status) if !status.success() => {
            eprintln!("  ({implementation} {key} exited with {status})")
        }
        None => eprintln!(
            "  ({implementation} {key} killed after {} s without exiting)",
            limit.as_secs()
        ),
        _ => {}
    }
    reader
        .join()
        .unwrap()
        .lines()
        .rev()
        .find_map(|l| l.trim().parse().ok())
        .unwrap_or(f64::NAN)
}

/// Runs one server workload: the load client (or wrk) against a fresh server process.
fn run_server(w: &Workload, implementation: &str, quick: bool) -> f64 {
    let Kind::Server { http, connections } = w.kind else {
        unreachable!()
    };
    let kind = if http { "http" } else { "echo" };
    let Some(server) = Server::start(implementation, kind, w.workers, w.zsync_hooked) else {
        return f64::NAN;
    };
    let (warmup, measure) = if quick {
        (Duration::from_millis(300), Duration::from_secs(1))
    } else {
        (Duration::from_secs(1), Duration::from_secs(5))
    };
    if http {
        wrk(server.addr, connections, measure).unwrap_or(f64::NAN)
    } else {
        load::echo_load(server.addr, connections, warmup, measure)
    }
}

/// Runs one B14 measurement of round `round` (both figures, req/s and p99 µs), or returns the
/// one already made for this implementation and round by the other B14 row.
fn run_skew(implementation: &str, workers: usize, quick: bool, round: usize) -> (f64, f64) {
    type Cache = std::sync::Mutex<Vec<(String, usize, (f64, f64))>>;
    static CACHE: Cache = std::sync::Mutex::new(Vec::new());
    let mut cache = CACHE.lock().unwrap();
    if let Some((_, _, figures)) = cache
        .iter()
        .find(|(i, r, _)| i == implementation && *r == round)
    {
        return *figures;
    }
    let figures = match Server::start(implementation, "skew", workers, false) {
        Some(server) => {
            let (warmup, measure) = if quick {
                (Duration::from_secs(2), Duration::from_secs(8))
            } else {
                (Duration::from_secs(3), Duration::from_secs(15))
            };
            let skew = skew::skew_load(server.addr, server.child.id(), warmup, measure);
            (skew.rps, skew.p99_us)
        }
        None => (f64::NAN, f64::NAN),
    };
    cache.push((implementation.to_string(), round, figures));
    figures
}

/// Runs wrk against a server and returns requests per second.
fn wrk(addr: SocketAddr, connections: usize, time: Duration) -> Option<f64> {
    let out = Command::new("wrk")
        .args([
            "-t1".to_string(),
            format!("-c{connections}"),
            format!("-d{}s", time.as_secs()),
            format!("http://{addr}/"),
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("Requests/sec:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Runs a workload on each of its implementations, alternating their order between rounds so
/// that none always goes first, and returns the medians.
/// `env` goes to every child of the workload (B12's directory), `w.zsync_env` to zsync's.
fn measure(w: &Workload, quick: bool, env: &[(&str, &str)]) -> Row {
    let rounds = if quick { 1 } else { w.rounds };
    let mut samples = vec![Vec::new(); IMPLS.len()];
    let mut ran = vec![false; IMPLS.len()];
    let http = matches!(w.kind, Kind::Server { http: true, .. });
    for round in 0..rounds {
        let mut order: Vec<&str> = w.impls.to_vec();
        if round % 2 == 1 {
            order.reverse();
        }
        for implementation in order {
            if implementation == "go" && go::binary().is_none() {
                continue;
            }
            if http && !wrk_installed() {
                continue;
            }
            let value = match w.kind {
                Kind::Child => {
                    let mut env = env.to_vec();
                    if implementation == "zsync" {
                        env.extend_from_slice(w.zsync_env);
                    }
                    let hooked = w.zsync_hooked;
                    run_child(w.key, implementation, w.workers, quick, &env, hooked)
                }
                Kind::Server { .. } => run_server(w, implementation, quick),
                Kind::Skew { p99 } => {
                    let (rps, p99_us) = run_skew(implementation, w.workers, quick, round);
                    if p99 {
                        p99_us
                    } else {
                        rps
                    }
                }
            };
            eprintln!(
                "{}, round {round}: {implementation:>10} {value:>12.1} {}",
                w.name, w.unit
            );
            let i = IMPLS.iter().position(|&x| x == implementation).unwrap();
            samples[i].push(value);
            ran[i] = true;
        }
    }
    let values: Vec<f64> = samples.into_iter().map(median).collect();
    Row {
        name: w.name.to_string(),
        unit: w.unit,
        higher_is_better: w.higher_is_better,
        failed: values
            .iter()
            .zip(&ran)
            .map(|(v, ran)| *ran && v.is_nan())
            .collect(),
        values,
    }
}

fn wrk_installed() -> bool {
    static INSTALLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *INSTALLED.get_or_init(|| {
        let ok = Command::new("wrk").arg("--version").output().is_ok();
        if !ok {
            println!("B11 skipped: wrk is not installed (apt-get install wrk)");
        }
        ok
    })
}

/// Prints the table and writes results/results.md and results/chart.svg.
/// A full run replaces the files; a run of some workloads (not `--quick`) replaces only their
/// rows in the existing results.md, and says so in its first line.
/// A `--quick` run writes results/quick.md and results/quick.svg instead (not kept in git).
fn write_report(rows: &[Row], command: &str, partial: bool, quick: bool) {
    let (md_name, svg_name) = if quick {
        ("quick.md", "quick.svg")
    } else {
        ("results.md", "chart.svg")
    };
    println!("\n{}", report::markdown(rows));
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    std::fs::create_dir_all(&dir).unwrap();
    let previous = std::fs::read_to_string(dir.join(md_name)).ok();
    let (rows, md) = match previous.filter(|_| partial) {
        Some(previous) => {
            let mut merged = rows_from_markdown(&previous);
            for row in rows {
                match merged.iter_mut().find(|r| r.name == row.name) {
                    Some(old) => *old = row.clone(),
                    None => merged.push(row.clone()),
                }
            }
            // In the suite's order, a new row where it belongs.
            let position = |r: &Row| SUITE.iter().position(|w| w.name == r.name);
            merged.sort_by_key(position);
            let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
            let first = previous.lines().next().unwrap_or_default();
            // A second run of the same rows does not repeat the note.
            let note = format!(
                " Rows re-measured later with `{command}`: {}.",
                names.join(", ")
            );
            let first = first.replace(&note, "");
            // Rows not measured again keep their lines as they were: their ratios were
            // computed from the unrounded medians, which the table does not keep.
            let table: String = report::markdown(&merged)
                .lines()
                .map(|line| {
                    let name = line
                        .trim_matches('|')
                        .split('|')
                        .next()
                        .unwrap_or("")
                        .trim();
                    let kept = previous
                        .lines()
                        .find(|old| old.starts_with(&format!("| {name} |")))
                        .filter(|_| !names.contains(&name) && SUITE.iter().any(|w| w.name == name));
                    format!("{}\n", kept.unwrap_or(line))
                })
                .collect();
            let md = format!("{first}{note}\n\n{table}");
            (merged, md)
        }
        None => {
            let go = go::version().unwrap_or_else(|| "not installed".to_string());
            let md = format!(
                "Produced by `{command}` (in benches/peers) on {} cores; medians of alternating \
                 rounds, each measurement in a fresh process. Go: {go}.\n\n{}",
                std::thread::available_parallelism().map_or(0, |n| n.get()),
                report::markdown(rows)
            );
            (rows.to_vec(), md)
        }
    };
    let rows = &rows[..];
    std::fs::write(dir.join(md_name), md).unwrap();
    std::fs::write(dir.join(svg_name), report::svg(rows)).unwrap();
    println!("wrote {}", dir.join(md_name).display());
    println!("wrote {}", dir.join(svg_name).display());
}

/// Reads the rows back from a table written by `report::markdown`.
fn rows_from_markdown(md: &str) -> Vec<Row> {
    md.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            let w = SUITE.iter().find(|w| w.name == cells[0])?;
            let cells = &cells[2..2 + IMPLS.len()];
            Some(Row {
                name: w.name.to_string(),
                unit: w.unit,
                higher_is_better: w.higher_is_better,
                values: cells
                    .iter()
                    .map(|c| c.parse().unwrap_or(f64::NAN))
                    .collect(),
                failed: cells.iter().map(|c| *c == "failed").collect(),
            })
        })
        .collect()
}

/// The child side: runs one workload and prints its result.
fn child_main(args: &[String], quick: bool) {
    let scale = if quick { 10 } else { 1 };
    let (key, implementation) = (args[1].as_str(), args[2].as_str());
    let workers: usize = args[3].parse().expect("worker count");
    let result = match key {
        "B1" => switch::b1(implementation, switch::B1_ROUND_TRIPS / scale),
        "B2" => micro::b2(implementation, micro::B2_TASKS / scale, workers),
        "B3" => micro::b3(implementation, micro::B3_YIELDS / scale, workers),
        "B4" => micro::b4(implementation, micro::B4_ROUND_TRIPS / scale, workers),
        "B5" => {
            parked::b5(implementation, workers);
            return;
        }
        "B6" => {
            parked::b6(implementation, parked::B6_TASKS / scale, workers);
            return;
        }
        "B8" => parked::b8(implementation, parked::B8_TIMERS / scale, workers),
        "B9" => micro::b9(implementation, micro::B9_INCREMENTS / scale, workers),
        "B12-READ" => files::b12_read(implementation, files::B12_READS / scale, workers),
        "B12-COPY" => files::b12_copy(implementation, workers),
        "B12-WRITE" => files::b12_write(implementation, workers),
        "B13-LATE" | "B13-OPS" | "B13-NET-LATE" | "B13-NET-LATE-P50" | "B13-NET-OPS" => {
            hazard::b13(key, implementation, hazard::B13_PAIRS / scale, workers)
        }
        other => panic!("unknown workload {other}"),
    };
    println!("{result}");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    match args.first().map(String::as_str) {
        Some("server") => {
            let (implementation, kind, workers, addr) = (&args[1], &args[2], &args[3], &args[4]);
            let workers = workers.parse().expect("worker count");
            servers::serve(implementation, kind, workers, addr);
        }
        Some("micro") => child_main(&args, quick),
        Some("chart") => {
            // Redraw results/chart.svg from results/results.md, without measuring again.
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
            let md = std::fs::read_to_string(dir.join("results.md")).expect("results/results.md");
            std::fs::write(dir.join("chart.svg"), report::svg(&rows_from_markdown(&md))).unwrap();
            println!("wrote {}", dir.join("chart.svg").display());
        }
        Some("load") => {
            // Load an already running echo server: `load ADDR CONNECTIONS`.
            let addr = args[1].parse().expect("address");
            let connections = args[2].parse().expect("connections");
            let rps = load::echo_load(
                addr,
                connections,
                Duration::from_secs(1),
                Duration::from_secs(4),
            );
            println!("{rps:.0} req/s");
        }
        Some("skew-load") => {
            // B14's load against an already running skew server: `skew-load ADDR PID`.
            let addr = args[1].parse().expect("address");
            let pid = args[2].parse().expect("server pid");
            let skew = skew::skew_load(addr, pid, Duration::from_secs(2), Duration::from_secs(8));
            println!("{:.0} req/s, p99 {:.0} us", skew.rps, skew.p99_us);
        }
        _ => {
            let selected: Vec<String> = args
                .iter()
                .filter(|a| !a.starts_with("--"))
                .map(|a| a.to_uppercase())
                .collect();
            let workloads: Vec<&Workload> = SUITE
                .iter()
                .filter(|w| {
                    selected.is_empty()
                        || selected.iter().any(|s| {
                            let scaling = w.name.starts_with("B10");
                            // B12-READ, B12-COPY and B12-WRITE are selected by `b12` or by their own key.
                            let group = w.key.split('-').next().unwrap();
                            ((*s == w.key || *s == group) && !scaling) || (*s == "B10" && scaling)
                        })
                })
                .collect();
            // B12's file, made once for the run and removed (with its directory) at the end.
            let b12 = workloads
                .iter()
                .any(|w| w.key.starts_with("B12"))
                .then(files::prepare);
            let dir = b12.as_ref().map(|f| f.dir.to_string_lossy().into_owned());
            let mut env: Vec<(&str, &str)> =
                dir.iter().map(|d| (files::DIR_VAR, d.as_str())).collect();
            // B13's redis-server, started once for the run and stopped at the end; without
            // one, B13 is skipped.
            let b13 = workloads
                .iter()
                .any(|w| w.key.starts_with("B13"))
                .then(hazard::prepare)
                .flatten();
            if let Some(redis) = &b13 {
                env.push((hazard::PORT_VAR, redis.port.as_str()));
            }
            let workloads: Vec<&Workload> = workloads
                .into_iter()
                .filter(|w| !w.key.starts_with("B13") || b13.is_some())
                .collect();
            let mut rows: Vec<Row> = workloads.iter().map(|w| measure(w, quick, &env)).collect();
            drop(b12);
            drop(b13);
            // Rows that measure only zsync show the peers of the row they name.
            for (i, w) in workloads.iter().enumerate() {
                let Some(from) = w.peers_from else { continue };
                let Some(source) = rows.iter().find(|r| r.name == from).cloned() else {
                    continue;
                };
                for j in 1..IMPLS.len() {
                    rows[i].values[j] = source.values[j];
                    rows[i].failed[j] = source.failed[j];
                }
            }
            let command = if args.is_empty() {
                "cargo run --release".to_string()
            } else {
                format!("cargo run --release -- {}", args.join(" "))
            };
            write_report(&rows, &command, !selected.is_empty(), quick);
        }
    }
}

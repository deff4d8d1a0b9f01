//! zsync-peers: runs the workloads of ../../shared/BENCHMARKS.md on zsync and on its peers side by
//! side, alternating implementations over several rounds, and prints medians and ratios.
//!
//! ```text
//! cd benches/peers
//! cargo run --release -- b7            # TCP echo, 100 and 1000 connections
//! cargo run --release -- b11           # HTTP hello under wrk (Debian package wrk)
//! cargo run --release -- b7 --quick    # one short round
//! ```

mod load;
mod servers;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const IMPLS: [&str; 4] = ["zsync", "tokio", "may", "std"];

/// A server of one implementation, in its own process (so that each gets the machine to
/// itself and a crash cannot take the runner down).
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(implementation: &str, workload: &str) -> Server {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["server", implementation, workload, "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start a server process");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line.trim().parse().expect("the server prints its address");
        Server { child, addr }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values[values.len() / 2]
}

/// Prints a Markdown table: one row per case, one column per implementation, plus zsync's
/// ratio to each peer (above 1: zsync is faster).
fn print_table(title: &str, unit: &str, cases: &[String], results: &[Vec<f64>]) {
    println!("\n### {title} ({unit}, median)\n");
    print!("| case |");
    for i in IMPLS {
        print!(" {i} |");
    }
    for i in &IMPLS[1..] {
        print!(" zsync / {i} |");
    }
    println!();
    println!("|---|{}", "---|".repeat(IMPLS.len() * 2 - 1));
    for (case, row) in cases.iter().zip(results) {
        print!("| {case} |");
        for v in row {
            print!(" {v:.0} |");
        }
        for v in &row[1..] {
            print!(" {:.2} |", row[0] / v);
        }
        println!();
    }
}

fn b7(quick: bool) {
    let (rounds, warmup, measure) = if quick {
        (1, Duration::from_millis(300), Duration::from_secs(1))
    } else {
        (3, Duration::from_secs(1), Duration::from_secs(5))
    };
    let sizes = [100, 1000];
    let mut results = Vec::new();
    for connections in sizes {
        let mut samples = vec![Vec::new(); IMPLS.len()];
        for round in 0..rounds {
            // Alternate the order between rounds so that no implementation always goes first.
            let order: Vec<usize> = if round % 2 == 0 {
                (0..IMPLS.len()).collect()
            } else {
                (0..IMPLS.len()).rev().collect()
            };
            for i in order {
                let server = Server::start(IMPLS[i], "echo");
                let rps = load::echo_load(server.addr, connections, warmup, measure);
                eprintln!("B7 {connections} conns, round {round}: {:>6} {rps:>9.0} req/s", IMPLS[i]);
                samples[i].push(rps);
            }
        }
        results.push(samples.iter_mut().map(|s| median(s)).collect::<Vec<_>>());
    }
    let cases: Vec<String> = sizes.iter().map(|n| format!("B7 echo, {n} conns")).collect();
    print_table("B7 TCP echo, 64-byte messages", "req/s", &cases, &results);
}

/// Runs wrk against a server and returns requests per second.
fn wrk(addr: SocketAddr, connections: usize, secs: u64) -> Option<f64> {
    let out = Command::new("wrk")
        .args([
            "-t1".to_string(),
            format!("-c{connections}"),
            format!("-d{secs}s"),
            format!("http://{addr}/"),
        ])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("Requests/sec:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn b11(quick: bool) {
    let (rounds, secs) = if quick { (1, 1) } else { (3, 5) };
    if wrk("127.0.0.1:9".parse().unwrap(), 1, 1).is_none()
        && Command::new("wrk").arg("--version").output().is_err()
    {
        println!("B11 skipped: wrk is not installed (apt-get install wrk)");
        return;
    }
    let mut samples = vec![Vec::new(); IMPLS.len()];
    for round in 0..rounds {
        for (i, implementation) in IMPLS.iter().enumerate() {
            let server = Server::start(implementation, "http");
            let rps = wrk(server.addr, 100, secs).unwrap_or(0.0);
            eprintln!("B11 round {round}: {implementation:>6} {rps:>9.0} req/s");
            samples[i].push(rps);
        }
    }
    let row: Vec<f64> = samples.iter_mut().map(|s| median(s)).collect();
    print_table(
        "B11 HTTP/1.1 keep-alive hello, wrk -t1 -c100",
        "req/s",
        &["B11 http, 100 conns".to_string()],
        &[row],
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    match args.first().map(String::as_str) {
        Some("server") => {
            let (implementation, workload, addr) = (&args[1], &args[2], &args[3]);
            let http = workload == "http";
            match implementation.as_str() {
                "zsync" => servers::zsync_server(addr, http),
                "tokio" => servers::tokio_server(addr, http),
                "may" => servers::may_server(addr, http),
                "std" => servers::std_server(addr, http),
                other => panic!("unknown implementation {other}"),
            }
        }
        Some("load") => {
            // Load an already running echo server: `load ADDR CONNECTIONS`.
            let addr = args[1].parse().expect("address");
            let connections = args[2].parse().expect("connections");
            let rps = load::echo_load(addr, connections, Duration::from_secs(1), Duration::from_secs(4));
            println!("{rps:.0} req/s");
        }
        Some("b7") => b7(quick),
        Some("b11") => b11(quick),
        _ => {
            b7(quick);
            b11(quick);
        }
    }
}

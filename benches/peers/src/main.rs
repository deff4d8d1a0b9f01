//! zsync-peers: runs the workloads of ../../shared/BENCHMARKS.md on zsync and on its peers side by
//! side, alternating implementations over several rounds, and prints medians and ratios.
//!
//! ```text
//! cd benches/peers
//! cargo run --release                  # everything: B2, B3, B4, B7, B11 (about 8 minutes)
//! cargo run --release -- --quick       # one short round of each (under 2 minutes)
//! cargo run --release -- b7            # TCP echo, 100 and 1000 connections
//! cargo run --release -- b11           # HTTP hello under wrk (Debian package wrk)
//! ```
//!
//! Every run prints a Markdown table and writes results/results.md and results/chart.svg.
//! Go is not in the runner yet.
//! ```text
//! ```

mod load;
mod micro;
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

/// One workload's medians, one per implementation (in `IMPLS` order; NaN where not run).
pub struct Row {
    pub name: String,
    pub unit: &'static str,
    pub higher_is_better: bool,
    pub values: Vec<f64>,
}

impl Row {
    /// zsync's advantage over implementation `i`: above 1, zsync is better.
    fn advantage(&self, i: usize) -> f64 {
        if self.higher_is_better {
            self.values[0] / self.values[i]
        } else {
            self.values[i] / self.values[0]
        }
    }
}

/// The results as a Markdown table: medians, then zsync's advantage over each peer.
fn markdown(rows: &[Row]) -> String {
    let mut out = String::from("| workload | unit |");
    for i in IMPLS {
        out += &format!(" {i} |");
    }
    for i in &IMPLS[1..] {
        out += &format!(" zsync vs {i} |");
    }
    out += &format!("\n|---|---|{}\n", "---|".repeat(IMPLS.len() * 2 - 1));
    for row in rows {
        out += &format!("| {} | {} |", row.name, row.unit);
        for v in &row.values {
            out += &if v.is_nan() {
                " - |".to_string()
            } else if *v >= 100.0 {
                format!(" {v:.0} |")
            } else {
                format!(" {v:.1} |")
            };
        }
        for i in 1..IMPLS.len() {
            let a = row.advantage(i);
            out += &if a.is_nan() {
                " - |".to_string()
            } else {
                format!(" {a:.2}x |")
            };
        }
        out += "\n";
    }
    out +=
        "\n\"zsync vs peer\" above 1.00x: zsync is better (faster, or more requests per second).\n";
    out
}

/// A grouped bar chart: per workload, each implementation's cost relative to zsync's (zsync =
/// 1; lower is better), on a log scale from 0.1x to 1000x.
fn svg(rows: &[Row]) -> String {
    const COLORS: [&str; 4] = ["#d62728", "#1f77b4", "#2ca02c", "#7f7f7f"];
    let (left, top, plot_h, group_w, bar_w) = (70.0, 40.0, 300.0, 150.0, 28.0);
    let width = left + group_w * rows.len() as f64 + 20.0;
    let height = top + plot_h + 90.0;
    let y = |ratio: f64| top + plot_h * (1.0 - (ratio.log10() + 1.0) / 4.0);
    let mut out = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">
<text x="{left}" y="20" font-size="13">Cost relative to zsync (zsync = 1, lower is better, log scale)</text>
"#
    );
    for (k, label) in [
        (0.1, "0.1x"),
        (1.0, "1x"),
        (10.0, "10x"),
        (100.0, "100x"),
        (1000.0, "1000x"),
    ] {
        out += &format!(
            r##"<line x1="{left}" x2="{}" y1="{y}" y2="{y}" stroke="{}"/><text x="{}" y="{}" text-anchor="end">{label}</text>
"##,
            width - 10.0,
            if k == 1.0 { "#000" } else { "#ddd" },
            left - 6.0,
            y(k) + 4.0,
            y = y(k)
        );
    }
    for (g, row) in rows.iter().enumerate() {
        let x0 = left + group_w * g as f64 + 10.0;
        for i in 0..IMPLS.len() {
            let cost = 1.0 / row.advantage(i).max(1e-9);
            if !cost.is_finite() || row.values[i].is_nan() {
                continue;
            }
            let cost = cost.clamp(0.1, 1000.0);
            let (top_y, base) = (y(cost).min(y(1.0)), y(cost).max(y(1.0)));
            out += &format!(
                r#"<rect x="{}" y="{top_y:.1}" width="{bar_w}" height="{:.1}" fill="{}"><title>{}: {:.2}x</title></rect>
"#,
                x0 + bar_w * i as f64,
                (base - top_y).max(1.0),
                COLORS[i],
                IMPLS[i],
                cost
            );
        }
        out += &format!(
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>
"#,
            x0 + bar_w * 2.0,
            top + plot_h + 16.0,
            row.name
        );
    }
    for (i, name) in IMPLS.iter().enumerate() {
        let x = left + 90.0 * i as f64;
        out += &format!(
            r#"<rect x="{x}" y="{}" width="12" height="12" fill="{}"/><text x="{}" y="{}">{name}</text>
"#,
            top + plot_h + 40.0,
            COLORS[i],
            x + 16.0,
            top + plot_h + 50.0
        );
    }
    out + "</svg>\n"
}

/// Runs `peers micro WORKLOAD IMPL` in a fresh process and returns its ns/op.
fn micro(workload: &str, implementation: &str, quick: bool) -> f64 {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["micro", workload, implementation]);
    if quick {
        cmd.arg("--quick");
    }
    let out = cmd.output().expect("run a micro workload");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(f64::NAN)
}

fn micro_rows(quick: bool) -> Vec<Row> {
    let rounds = if quick { 1 } else { 5 };
    let workloads = [
        ("B2 spawn+join", "B2 spawn + join"),
        ("B3 yield", "B3 yield"),
        ("B4 ping-pong", "B4 channel ping-pong"),
    ];
    let mut rows = Vec::new();
    for (key, name) in workloads {
        let mut samples = vec![Vec::new(); IMPLS.len()];
        for round in 0..rounds {
            let order: Vec<usize> = if round % 2 == 0 {
                (0..IMPLS.len()).collect()
            } else {
                (0..IMPLS.len()).rev().collect()
            };
            for i in order {
                let ns = micro(key, IMPLS[i], quick);
                eprintln!("{name}, round {round}: {:>6} {ns:>10.1} ns", IMPLS[i]);
                samples[i].push(ns);
            }
        }
        rows.push(Row {
            name: key.to_string(),
            unit: "ns/op",
            higher_is_better: false,
            values: samples.iter_mut().map(|s| median(s)).collect(),
        });
    }
    rows
}

fn b7(quick: bool) -> Vec<Row> {
    let (rounds, warmup, measure) = if quick {
        (1, Duration::from_millis(300), Duration::from_secs(1))
    } else {
        (3, Duration::from_secs(1), Duration::from_secs(5))
    };
    let mut rows = Vec::new();
    for connections in [100, 1000] {
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
                eprintln!(
                    "B7 {connections} conns, round {round}: {:>6} {rps:>9.0} req/s",
                    IMPLS[i]
                );
                samples[i].push(rps);
            }
        }
        rows.push(Row {
            name: format!("B7 echo {connections}"),
            unit: "req/s",
            higher_is_better: true,
            values: samples.iter_mut().map(|s| median(s)).collect(),
        });
    }
    rows
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

fn b11(quick: bool) -> Vec<Row> {
    let (rounds, secs) = if quick { (1, 1) } else { (3, 5) };
    if Command::new("wrk").arg("--version").output().is_err() {
        println!("B11 skipped: wrk is not installed (apt-get install wrk)");
        return Vec::new();
    }
    let mut samples = vec![Vec::new(); IMPLS.len()];
    for round in 0..rounds {
        for (i, implementation) in IMPLS.iter().enumerate() {
            let server = Server::start(implementation, "http");
            let rps = wrk(server.addr, 100, secs).unwrap_or(f64::NAN);
            eprintln!("B11 round {round}: {implementation:>6} {rps:>9.0} req/s");
            samples[i].push(rps);
        }
    }
    vec![Row {
        name: "B11 http 100".to_string(),
        unit: "req/s",
        higher_is_better: true,
        values: samples.iter_mut().map(|s| median(s)).collect(),
    }]
}

/// Prints the table and writes results/results.md and results/chart.svg.
fn report(rows: &[Row], command: &str) {
    let table = markdown(rows);
    println!("\n{table}");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("results");
    std::fs::create_dir_all(&dir).unwrap();
    let md = format!(
        "Produced by `{command}` (in benches/peers) on {} cores; medians of alternating rounds.\n\n{table}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    std::fs::write(dir.join("results.md"), md).unwrap();
    std::fs::write(dir.join("chart.svg"), svg(rows)).unwrap();
    println!("wrote {}", dir.join("results.md").display());
    println!("wrote {}", dir.join("chart.svg").display());
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let command = format!("cargo run --release -- {}", args.join(" "));
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
        Some("micro") => {
            let scale = if quick { 10 } else { 1 };
            let ns = match args[1].as_str() {
                "B2 spawn+join" => micro::b2(&args[2], micro::B2_TASKS / scale),
                "B3 yield" => micro::b3(&args[2], micro::B3_YIELDS / scale),
                "B4 ping-pong" => micro::b4(&args[2], micro::B4_ROUND_TRIPS / scale),
                other => panic!("unknown micro workload {other}"),
            };
            println!("{ns}");
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
        Some("micro-all") => report(&micro_rows(quick), &command),
        Some("b7") => report(&b7(quick), &command),
        Some("b11") => report(&b11(quick), &command),
        _ => {
            let mut rows = micro_rows(quick);
            rows.extend(b7(quick));
            rows.extend(b11(quick));
            report(&rows, &command);
        }
    }
}

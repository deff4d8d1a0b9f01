//! B13 blocking hazard: 200 clients doing redis SET/GET through the `redis` crate's own
//! (blocking) sockets while a ticker sleeps 1 ms at a time; the ticker's worst lateness and the
//! commands per second.
//!
//! - zsync: green threads (src/hazard_zsync.rs). Its "hook" rows run that code in the hooked/
//!   binary, built with zsync's `hook` feature (a feature is per build, so the runner's own
//!   zsync cannot have it on for one row and off for another); its "no hook" rows run it here,
//!   where the crate's socket calls block the workers.
//! - tokio (multi-thread, 2 workers): 200 tasks, each command in `spawn_blocking` (what an async
//!   program does with a blocking client); the ticker is a task on `tokio::time::sleep`.
//! - std: 200 OS threads and a ticker thread on `std::thread::sleep`.
//!
//! The "zsync::net" rows (hazard_net.rs) run the same clients on each runtime's own sockets
//! (zsync::net, tokio::net, std::net) with a minimal RESP client instead of the crate.
//!
//! The runner starts one redis-server on a free loopback port for the run (`prepare`), passes
//! the port to each child in `PORT_VAR` and stops the server at the end.

use crate::hazard_zsync::{self, Outcome, Ticker, B13_CLIENTS};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

pub use crate::hazard_zsync::{B13_PAIRS, PORT_VAR};

/// The run's redis-server, killed when dropped.
pub struct Redis {
    child: Child,
    pub port: String,
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts redis-server on a free loopback port, or says why not (B13 is then skipped).
pub fn prepare() -> Option<Redis> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let child = match child {
        Ok(child) => child,
        Err(e) => {
            println!("B13 skipped: cannot start redis-server ({e}); apt-get install redis-server");
            return None;
        }
    };
    let redis = Redis {
        child,
        port: port.to_string(),
    };
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if start.elapsed() > Duration::from_secs(10) {
            println!("B13 skipped: redis-server did not listen on port {port}");
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(redis)
}

/// The hooked/ binary (zsync with `hook`), built once per run next to the runner's own binary.
pub fn hooked_binary() -> Option<std::path::PathBuf> {
    static BINARY: std::sync::OnceLock<Option<std::path::PathBuf>> = std::sync::OnceLock::new();
    BINARY
        .get_or_init(|| {
            let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
            eprintln!("building hooked/ (zsync with the `hook` feature)");
            let ok = Command::new(cargo)
                .args([
                    "build",
                    "--release",
                    "-p",
                    "zsync-peers-hooked",
                    "--manifest-path",
                ])
                .arg(&manifest)
                .status()
                .is_ok_and(|s| s.success());
            let exe = std::env::current_exe().ok()?;
            let binary = exe.parent()?.join("zsync-peers-hooked");
            if !ok || !binary.exists() {
                println!("hook rows skipped: building benches/peers/hooked failed");
                return None;
            }
            Some(binary)
        })
        .clone()
}

/// One B13 measurement; `key` picks the figure printed (`B13-LATE` or `B13-OPS`; the
/// `B13-NET-...` keys run hazard_net.rs, each runtime on its own sockets).
pub fn b13(key: &str, implementation: &str, pairs: usize, workers: usize) -> f64 {
    if key.starts_with("B13-NET") {
        return crate::hazard_net::run(implementation, pairs, workers).figure(key);
    }
    let outcome = match implementation {
        "zsync" => hazard_zsync::run(pairs, workers),
        "tokio" => tokio(pairs, workers),
        _ => threads(pairs),
    };
    outcome.figure(key)
}

/// [`Ticker::tick`] on tokio's timer.
pub async fn tick_tokio(ticker: &Ticker) {
    while !ticker.stopped() {
        let before = Instant::now();
        tokio::time::sleep(hazard_zsync::TICK).await;
        ticker.record(before);
    }
}

fn tokio(pairs: usize, workers: usize) -> Outcome {
    let url = hazard_zsync::url();
    crate::micro::tokio_rt(workers).block_on(async move {
        let ticker = Ticker::default();
        let tick = {
            let ticker = ticker.clone();
            tokio::spawn(async move {
                tick_tokio(&ticker).await;
            })
        };
        let start = Instant::now();
        let clients: Vec<_> = (0..B13_CLIENTS)
            .map(|i| {
                let url = url.clone();
                tokio::spawn(async move {
                    let mut con = tokio::task::spawn_blocking(move || {
                        redis::Client::open(url).unwrap().get_connection().unwrap()
                    })
                    .await
                    .unwrap();
                    for j in 0..pairs {
                        con = tokio::task::spawn_blocking(move || {
                            hazard_zsync::pair(&mut con, i, j);
                            con
                        })
                        .await
                        .unwrap();
                    }
                })
            })
            .collect();
        for c in clients {
            c.await.unwrap();
        }
        let elapsed = start.elapsed();
        ticker.stop.store(true, Ordering::Relaxed);
        tick.await.unwrap();
        Outcome {
            worst_late: ticker.worst(),
            median_late: ticker.median(),
            ops_per_s: (B13_CLIENTS * pairs * 2) as f64 / elapsed.as_secs_f64(),
        }
    })
}

fn threads(pairs: usize) -> Outcome {
    let url = hazard_zsync::url();
    let ticker = Ticker::default();
    let tick = {
        let ticker = ticker.clone();
        std::thread::spawn(move || {
            ticker.tick(std::thread::sleep);
        })
    };
    let start = Instant::now();
    let clients: Vec<_> = (0..B13_CLIENTS)
        .map(|i| {
            let url = url.clone();
            std::thread::spawn(move || hazard_zsync::client(&url, i, pairs))
        })
        .collect();
    clients.into_iter().for_each(|c| c.join().unwrap());
    let elapsed = start.elapsed();
    ticker.stop.store(true, Ordering::Relaxed);
    tick.join().unwrap();
    Outcome {
        worst_late: ticker.worst(),
        median_late: ticker.median(),
        ops_per_s: (B13_CLIENTS * pairs * 2) as f64 / elapsed.as_secs_f64(),
    }
}

//! B13's zsync side, shared by the runner (zsync without `hook`) and hooked/ (zsync with it,
//! which includes this file by path): 200 green threads doing redis SET/GET through the `redis`
//! crate's blocking client, while a ticker green thread sleeps 1 ms at a time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The environment variable that tells a child the port of the run's redis-server.
pub const PORT_VAR: &str = "ZSYNC_PEERS_B13_PORT";
/// The number of clients, each with its own connection.
pub const B13_CLIENTS: usize = 200;
/// SET/GET pairs per client (two commands each), in the full mode; the quick mode does a tenth.
pub const B13_PAIRS: usize = 250;
/// The ticker's period.
pub const TICK: Duration = Duration::from_millis(1);

/// One measurement: the ticker's worst lateness and the commands per second.
pub struct Outcome {
    pub worst_late: Duration,
    /// The median tick's lateness.
    pub median_late: Duration,
    pub ops_per_s: f64,
}

impl Outcome {
    /// The figure `key` asks for: `B13-LATE` or `B13-NET-LATE` (the worst tick's lateness,
    /// ms), `B13-NET-LATE-P50` (the median tick's, ms), `B13-OPS` or `B13-NET-OPS` (commands
    /// per second).
    pub fn figure(&self, key: &str) -> f64 {
        match key {
            "B13-LATE" | "B13-NET-LATE" => self.worst_late.as_secs_f64() * 1e3,
            "B13-NET-LATE-P50" => self.median_late.as_secs_f64() * 1e3,
            "B13-OPS" | "B13-NET-OPS" => self.ops_per_s,
            other => panic!("unknown B13 figure {other}"),
        }
    }
}

pub fn url() -> String {
    let port = std::env::var(PORT_VAR).expect("the runner sets ZSYNC_PEERS_B13_PORT");
    format!("redis://127.0.0.1:{port}/")
}

/// A ticker's record of every tick's lateness, and its stop flag.
#[derive(Clone, Default)]
pub struct Ticker {
    /// Each tick's lateness in microseconds (pushed by the ticker alone: the lock is never
    /// contended; a few thousand ticks per run).
    pub lates_us: Arc<Mutex<Vec<u64>>>,
    pub stop: Arc<AtomicBool>,
}

impl Ticker {
    /// Records one tick that started at `before`.
    pub fn record(&self, before: Instant) {
        let late = before.elapsed().saturating_sub(TICK).as_micros() as u64;
        self.lates_us.lock().unwrap().push(late);
    }

    /// The median tick's lateness (zero if none ticked).
    pub fn median(&self) -> Duration {
        let mut lates = self.lates_us.lock().unwrap().clone();
        lates.sort_unstable();
        Duration::from_micros(lates.get(lates.len() / 2).copied().unwrap_or(0))
    }

    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// The worst tick's lateness (zero if none ticked).
    pub fn worst(&self) -> Duration {
        let lates = self.lates_us.lock().unwrap();
        Duration::from_micros(lates.iter().copied().max().unwrap_or(0))
    }

    /// The ticker's loop on a blocking runtime (zsync's green threads, std's OS threads):
    /// `sleep` is that runtime's sleep; returns once stopped. (tokio's is `hazard::tick_tokio`:
    /// this file is also built into hooked/, which has no tokio.)
    pub fn tick(&self, sleep: impl Fn(Duration)) {
        while !self.stopped() {
            let before = Instant::now();
            sleep(TICK);
            self.record(before);
        }
    }
}

/// One SET and one GET of client `client`'s `j`th pair (16 keys per client, rewritten).
pub fn pair(con: &mut redis::Connection, client: usize, j: usize) {
    use redis::Commands;
    let key = format!("b13:{client}:{}", j % 16);
    let value = format!("value {client} {j}");
    let () = con.set(&key, &value).unwrap();
    let got: String = con.get(&key).unwrap();
    assert_eq!(got, value);
}

/// The whole of one client's work on its own connection: connect, then `pairs` pairs.
pub fn client(url: &str, client: usize, pairs: usize) {
    let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
    for j in 0..pairs {
        pair(&mut con, client, j);
    }
}

/// zsync, `workers` workers: the ticker and the clients are green threads. Without `hook` the
/// crate's blocking socket calls block their worker; with it they park the green thread.
pub fn run(pairs: usize, workers: usize) -> Outcome {
    let url = url();
    let rt = zsync::runtime::Builder::new()
        .worker_threads(workers)
        .build()
        .unwrap();
    rt.block_on(move || {
        let ticker = Ticker::default();
        let tick = {
            let ticker = ticker.clone();
            zsync::spawn(move || {
                ticker.tick(zsync::thread::sleep);
            })
        };
        let start = Instant::now();
        let clients: Vec<_> = (0..B13_CLIENTS)
            .map(|i| {
                let url = url.clone();
                zsync::spawn(move || client(&url, i, pairs))
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
    })
}

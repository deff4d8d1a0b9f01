//! B13 on each runtime's own sockets ("B13 redis ... zsync::net" rows): the same 200 clients,
//! SET/GET pairs and 1 ms ticker as the other B13 rows, but through a minimal RESP client
//! written here instead of the `redis` crate, on sockets that park rather than block:
//!
//! - zsync: `zsync::net::TcpStream`, blocking reads and writes from 200 green threads (each
//!   parks its green thread, not its worker); the ticker is a green thread on
//!   `zsync::thread::sleep`, on the same 2-worker runtime.
//! - tokio: `tokio::net::TcpStream`, the same client written async, 200 tasks on the
//!   multi-threaded runtime (2 workers); the ticker is a task on `tokio::time::sleep`.
//! - std: `std::net::TcpStream`, the same blocking client on 200 OS threads; the ticker is an
//!   OS thread on `std::thread::sleep`.
//!
//! The ticker's figure is the worst, over the run, of (time it runs again after a 1 ms sleep)
//! minus (time it went to sleep + 1 ms): how late a timer wake is served while the clients
//! keep the workers busy.
//!
//! The client sends one command per `write_all` (`*3 $3 SET key value` / `*2 $3 GET key`) and
//! reads one reply (`+OK` / `$len value`) through a buffer; redis never sends anything unasked,
//! so the buffer is empty between commands.

use crate::hazard_zsync::{self, Outcome, Ticker, B13_CLIENTS};
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::atomic::Ordering;
use std::time::Instant;

/// The port of the run's redis-server.
fn addr() -> String {
    let port = std::env::var(hazard_zsync::PORT_VAR).expect("the runner sets the B13 port");
    format!("127.0.0.1:{port}")
}

/// `client`'s `j`th key and value (16 keys per client, rewritten), as the other B13 rows.
fn key_value(client: usize, j: usize) -> (String, String) {
    (
        format!("b13:{client}:{}", j % 16),
        format!("value {client} {j}"),
    )
}

fn set_command(key: &str, value: &str) -> Vec<u8> {
    format!(
        "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n${}\r\n{value}\r\n",
        key.len(),
        value.len()
    )
    .into_bytes()
}

fn get_command(key: &str) -> Vec<u8> {
    format!("*2\r\n$3\r\nGET\r\n${}\r\n{key}\r\n", key.len()).into_bytes()
}

/// The length of a bulk reply from its header line (`$5\r\n`).
fn bulk_len(line: &str) -> usize {
    line.strip_prefix('$')
        .and_then(|n| n.trim_end().parse().ok())
        .unwrap_or_else(|| panic!("unexpected redis reply {line:?}"))
}

fn expect_ok(line: &str) {
    assert_eq!(line, "+OK\r\n", "unexpected redis reply to SET");
}

/// The blocking client over any blocking stream (zsync's or std's).
fn blocking_client<S: Read + Write>(stream: S, client: usize, pairs: usize) {
    let mut con = BufReader::new(stream);
    let mut line = String::new();
    for j in 0..pairs {
        let (key, value) = key_value(client, j);
        con.get_mut().write_all(&set_command(&key, &value)).unwrap();
        line.clear();
        con.read_line(&mut line).unwrap();
        expect_ok(&line);
        con.get_mut().write_all(&get_command(&key)).unwrap();
        line.clear();
        con.read_line(&mut line).unwrap();
        let mut got = vec![0; bulk_len(&line) + 2];
        con.read_exact(&mut got).unwrap();
        assert_eq!(&got[..value.len()], value.as_bytes());
    }
}

/// The same client, async, over tokio's stream.
async fn tokio_client(stream: tokio::net::TcpStream, client: usize, pairs: usize) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    let mut con = tokio::io::BufReader::new(stream);
    let mut line = String::new();
    for j in 0..pairs {
        let (key, value) = key_value(client, j);
        con.get_mut()
            .write_all(&set_command(&key, &value))
            .await
            .unwrap();
        line.clear();
        con.read_line(&mut line).await.unwrap();
        expect_ok(&line);
        con.get_mut().write_all(&get_command(&key)).await.unwrap();
        line.clear();
        con.read_line(&mut line).await.unwrap();
        let mut got = vec![0; bulk_len(&line) + 2];
        con.read_exact(&mut got).await.unwrap();
        assert_eq!(&got[..value.len()], value.as_bytes());
    }
}

/// One measurement on `implementation`'s own sockets.
pub fn run(implementation: &str, pairs: usize, workers: usize) -> Outcome {
    let addr = addr();
    let ticker = Ticker::default();
    match implementation {
        "zsync" => crate::micro::zsync_rt(workers).block_on(move || {
            let tick = {
                let ticker = ticker.clone();
                zsync::spawn(move || {
                    ticker.tick(zsync::thread::sleep);
                })
            };
            let start = Instant::now();
            let clients: Vec<_> = (0..B13_CLIENTS)
                .map(|i| {
                    let addr = addr.clone();
                    zsync::spawn(move || {
                        let stream = zsync::net::TcpStream::connect(addr).unwrap();
                        stream.set_nodelay(true).unwrap();
                        blocking_client(stream, i, pairs)
                    })
                })
                .collect();
            clients.into_iter().for_each(|c| c.join().unwrap());
            finish(ticker, start, pairs, || tick.join().unwrap())
        }),
        "tokio" => crate::micro::tokio_rt(workers).block_on(async move {
            let tick = {
                let ticker = ticker.clone();
                tokio::spawn(async move {
                    crate::hazard::tick_tokio(&ticker).await;
                })
            };
            let start = Instant::now();
            let clients: Vec<_> = (0..B13_CLIENTS)
                .map(|i| {
                    let addr = addr.clone();
                    tokio::spawn(async move {
                        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
                        stream.set_nodelay(true).unwrap();
                        tokio_client(stream, i, pairs).await
                    })
                })
                .collect();
            for c in clients {
                c.await.unwrap();
            }
            let elapsed = start.elapsed();
            ticker.stop.store(true, Ordering::Relaxed);
            tick.await.unwrap();
            outcome(&ticker, elapsed, pairs)
        }),
        _ => {
            let tick = {
                let ticker = ticker.clone();
                std::thread::spawn(move || {
                    ticker.tick(std::thread::sleep);
                })
            };
            let start = Instant::now();
            let clients: Vec<_> = (0..B13_CLIENTS)
                .map(|i| {
                    let addr = addr.clone();
                    std::thread::spawn(move || {
                        let stream = std::net::TcpStream::connect(addr).unwrap();
                        stream.set_nodelay(true).unwrap();
                        blocking_client(stream, i, pairs)
                    })
                })
                .collect();
            clients.into_iter().for_each(|c| c.join().unwrap());
            finish(ticker, start, pairs, || tick.join().unwrap())
        }
    }
}

/// Stops the ticker once every client has joined (`join_ticker` waits for it) and returns the
/// figures; the time covers the first spawn to the last client's join.
fn finish(ticker: Ticker, start: Instant, pairs: usize, join_ticker: impl FnOnce()) -> Outcome {
    let elapsed = start.elapsed();
    ticker.stop.store(true, Ordering::Relaxed);
    join_ticker();
    outcome(&ticker, elapsed, pairs)
}

fn outcome(ticker: &Ticker, elapsed: std::time::Duration, pairs: usize) -> Outcome {
    Outcome {
        worst_late: ticker.worst(),
        median_late: ticker.median(),
        ops_per_s: (B13_CLIENTS * pairs * 2) as f64 / elapsed.as_secs_f64(),
    }
}

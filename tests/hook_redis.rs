//! The `hook` feature with a real crate that owns its sockets: the `redis` crate's blocking
//! client against a redis-server started here, from 200 green threads, while a 1 ms ticker
//! green thread runs. Run with `cargo test --release --features hook --test hook_redis`
//! (skipped, with a printed line, when `redis-server` is not installed, unless
//! `ZSYNC_REQUIRE_SERVERS=1` is set: CI sets it and installs the server, so there a missing
//! server fails the test).
#![cfg(all(feature = "hook", target_os = "linux"))]

mod common;

use redis::Commands;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A redis-server on a free loopback port, killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server() -> Option<Server> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
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
            let msg = format!("cannot start redis-server ({e}); install Debian's redis-server");
            if std::env::var_os("ZSYNC_REQUIRE_SERVERS").is_some_and(|v| v == "1") {
                panic!("{msg} (ZSYNC_REQUIRE_SERVERS=1)");
            }
            println!("skipped: {msg}");
            return None;
        }
    };
    let server = Server { child, port };
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "redis-server did not start listening on port {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Some(server)
}

#[test]
fn redis_crate_from_200_green_threads_while_a_ticker_ticks() {
    let Some(server) = start_server() else {
        return;
    };
    let url = format!("redis://127.0.0.1:{}/", server.port);
    let rt = zsync::runtime::Builder::new()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(move || {
        let ticker = common::Ticker::spawn();
        let start = Instant::now();
        let clients: Vec<_> = (0..200)
            .map(|i| {
                let url = url.clone();
                zsync::spawn(move || {
                    let client = redis::Client::open(url).unwrap();
                    let mut con = client.get_connection().unwrap();
                    for j in 0..20 {
                        let key = format!("zsync:{i}:{j}");
                        let value = format!("value {i} {j}");
                        let () = con.set(&key, &value).unwrap();
                        let got: String = con.get(&key).unwrap();
                        assert_eq!(got, value);
                    }
                    let n: i64 = con.incr("zsync:counter", 1).unwrap();
                    assert!(n >= 1);
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
        let elapsed = start.elapsed();
        let (ticks, worst) = ticker.stop();
        // Every value once more, from one connection.
        let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
        let counter: i64 = con.get("zsync:counter").unwrap();
        assert_eq!(counter, 200);
        for i in (0..200).step_by(17) {
            let got: String = con.get(format!("zsync:{i}:19")).unwrap();
            assert_eq!(got, format!("value {i} 19"));
        }
        println!("8000 SET/GET in {elapsed:?}: {ticks} ticks, worst lateness {worst:?}");
        // A worker blocked in a socket call stops the ticker on it altogether; on a busy
        // machine a tick may take several ms, so only a tick per 20 ms on average is asked.
        assert!(
            ticks as u128 >= elapsed.as_millis() / 20,
            "{ticks} ticks in {elapsed:?}"
        );
    });
    drop(server);
}

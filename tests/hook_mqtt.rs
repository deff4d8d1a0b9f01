//! The `hook` feature with a crate that runs a tokio runtime inside its blocking API: `rumqttc`'s
//! sync `Client`/`Connection` (each `Connection` holds a current-thread tokio runtime and blocks
//! in its `epoll_wait`) against a mosquitto broker started here. Run with
//! `cargo test --release --features hook --test hook_mqtt`.
//!
//! One such client per worker at a time: tokio keeps "a runtime is entered here" in a
//! thread-local of the OS thread, so a second green thread of the same worker entering its own
//! client's runtime while the first is parked inside it panics ("Cannot start a runtime from
//! within a runtime"). Hence one green thread with a client here, its peer on an OS thread.
//!
//! Skipped, with a printed line, when `mosquitto` is not installed (Debian's `mosquitto`), unless
//! `ZSYNC_REQUIRE_SERVERS=1` is set (CI sets it): then a missing broker fails the test.
#![cfg(all(feature = "hook", target_os = "linux"))]

mod common;

use rumqttc::{Client, Connection, Event, MqttOptions, Packet, QoS};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A mosquitto broker on a free loopback port, killed when dropped (its directory removed).
struct Broker {
    child: Child,
    port: u16,
    dir: std::path::PathBuf,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The broker is missing: skip (`None`), or fail when `ZSYNC_REQUIRE_SERVERS=1`.
fn missing(why: String) -> Option<Broker> {
    let msg = format!("cannot start mosquitto ({why}); install Debian's mosquitto");
    if std::env::var_os("ZSYNC_REQUIRE_SERVERS").is_some_and(|v| v == "1") {
        panic!("{msg} (ZSYNC_REQUIRE_SERVERS=1)");
    }
    println!("skipped: {msg}");
    None
}

fn start_broker() -> Option<Broker> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("zsync-mqtt-{}-{port}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("mosquitto.conf");
    // `user root`: mosquitto started as root would otherwise switch to its own user (which may
    // not exist); ignored when not started as root.
    std::fs::write(
        &conf,
        format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nuser root\n\
             log_dest none\n"
        ),
    )
    .unwrap();
    // Debian installs it in /usr/sbin, which a user's PATH may lack.
    let spawn = |program: &str| {
        Command::new(program)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
    };
    let child = match spawn("mosquitto").or_else(|_| spawn("/usr/sbin/mosquitto")) {
        Ok(child) => child,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            return missing(e.to_string());
        }
    };
    let mut broker = Broker { child, port, dir };
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = broker.child.try_wait() {
            panic!(
                "mosquitto exited at start ({status}); config: {}",
                conf.display()
            );
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "mosquitto did not start listening on port {port}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    broker.port = port;
    Some(broker)
}

/// A connected client subscribed to `topic` (QoS 1), its subscription acknowledged.
fn subscribed(port: u16, id: &str, topic: &str) -> (Client, Connection) {
    let mut options = MqttOptions::new(id, "127.0.0.1", port);
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut connection) = Client::new(options, 16);
    client.subscribe(topic, QoS::AtLeastOnce).unwrap();
    loop {
        match connection.recv().unwrap().unwrap() {
            Event::Incoming(Packet::SubAck(_)) => return (client, connection),
            _ => continue,
        }
    }
}

/// Drives `connection` until a publish arrives on it; returns its payload.
fn next_message(connection: &mut Connection) -> Vec<u8> {
    loop {
        if let Event::Incoming(Packet::Publish(p)) = connection.recv().unwrap().unwrap() {
            return p.payload.to_vec();
        }
    }
}

const ROUNDS: usize = 100;
// The round trips publish at QoS 0: one small write each way per round, so that Nagle's
// algorithm and delayed ACKs (rumqttc sets no TCP_NODELAY) do not add ~40 ms per write.
/// How long the responder waits before each answer.
const THINK: Duration = Duration::from_millis(2);

#[test]
fn a_rumqttc_client_parks_in_its_runtime_s_epoll_wait_while_a_ticker_ticks() {
    let Some(broker) = start_broker() else {
        return;
    };
    let port = broker.port;
    // The responder: an OS thread with its own client (not hooked: it blocks as usual). It
    // answers each ping after THINK, so the green thread's client waits in its tokio runtime's
    // epoll_wait for at least ROUNDS * THINK in all.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let responder = std::thread::spawn(move || {
        let (client, mut connection) = subscribed(port, "zsync-responder", "zsync/ping");
        ready_tx.send(()).unwrap();
        for round in 0..ROUNDS {
            assert_eq!(
                next_message(&mut connection),
                format!("ping {round}").into_bytes()
            );
            std::thread::sleep(THINK);
            let pong = format!("pong {round}").into_bytes();
            client
                .publish("zsync/pong", QoS::AtMostOnce, false, pong)
                .unwrap();
        }
        client.disconnect().unwrap();
        while connection.recv().is_ok_and(|event| event.is_ok()) {}
    });
    ready_rx.recv().unwrap();
    // One worker: a worker blocked in the client's epoll_wait would stop the ticker outright.
    let rt = zsync::runtime::Builder::new()
        .worker_threads(1)
        .build()
        .unwrap();
    rt.block_on(move || {
        let ticker = common::Ticker::spawn();
        let start = Instant::now();
        let pinger = zsync::spawn(move || {
            let (client, mut connection) = subscribed(port, "zsync-pinger", "zsync/pong");
            for round in 0..ROUNDS {
                let ping = format!("ping {round}").into_bytes();
                client
                    .publish("zsync/ping", QoS::AtMostOnce, false, ping)
                    .unwrap();
                assert_eq!(
                    next_message(&mut connection),
                    format!("pong {round}").into_bytes()
                );
            }
            client.disconnect().unwrap();
            while connection.recv().is_ok_and(|event| event.is_ok()) {}
        });
        pinger.join().unwrap();
        let elapsed = start.elapsed();
        let (ticks, worst) = ticker.stop();
        println!(
            "{ROUNDS} MQTT round trips in {elapsed:?}: {ticks} ticks, worst lateness {worst:?}"
        );
        assert!(elapsed >= THINK * ROUNDS as u32, "{elapsed:?}");
        // Not hooked, the worker would sit in epoll_wait for the whole exchange (at least
        // ROUNDS * THINK = 200 ms): no tick at all until it ends. The bounds leave room for a
        // loaded machine.
        assert!(
            ticks as u128 >= elapsed.as_millis() / 20,
            "{ticks} ticks in {elapsed:?}"
        );
        assert!(
            worst < Duration::from_millis(100),
            "worst lateness {worst:?}"
        );
    });
    responder.join().unwrap();
    drop(broker);
}

#[test]
fn timeout_around_a_blocked_rumqttc_call_returns_within_its_deadline() {
    let Some(broker) = start_broker() else {
        return;
    };
    let port = broker.port;
    let rt = zsync::runtime::Builder::new()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(move || {
        // Subscribed to a topic nobody publishes on: recv() waits in tokio's epoll_wait.
        let (_client, mut connection) = subscribed(port, "zsync-quiet", "zsync/quiet");
        let start = Instant::now();
        let r = zsync::time::timeout(Duration::from_millis(100), || connection.recv());
        let waited = start.elapsed();
        assert!(r.is_err(), "recv() returned {:?}", r.map(|e| e.is_ok()));
        assert!(waited >= Duration::from_millis(95), "{waited:?}");
        // Within its deadline, give or take a loaded machine: without the hook it would wait
        // for the keep-alive (30 s) and then return Ok.
        assert!(waited < Duration::from_secs(2), "{waited:?}");
        drop(connection);
        // The green thread goes on: a fresh client works.
        let (client, mut connection) = subscribed(port, "zsync-after", "zsync/after");
        client
            .publish("zsync/after", QoS::AtLeastOnce, false, b"again".to_vec())
            .unwrap();
        assert_eq!(next_message(&mut connection), b"again");
    });
    drop(broker);
}

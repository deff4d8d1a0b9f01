//! A tour of zsync: `cargo run --release --example tour`. Prints as it goes; under a minute on
//! two cores.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zsync::net::{TcpListener, TcpStream};
use zsync::thread;
use zsync::time::{sleep, timeout};

fn rss_kib() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(0)
        * 4
}

fn main() {
    let rt = zsync::Runtime::new().expect("start the runtime");
    println!(
        "zsync runtime: {} workers, context switch: {}, guard pages: {}",
        rt.handle().worker_threads(),
        zsync::coro::BACKEND,
        zsync::coro::guard_mechanism()
    );

    // 1. Spawn and join 100,000 green threads.
    let start = Instant::now();
    let sum = rt.block_on(|| {
        let handles: Vec<_> = (0..100_000u64)
            .map(|i| zsync::spawn(move || i * 2))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    let took = start.elapsed();
    println!(
        "spawned and joined 100,000 green threads in {took:.2?} ({:.0} ns each); sum {sum}",
        took.as_nanos() as f64 / 1e5
    );

    // 2. Park 1,000,000 green threads and look at the memory they take.
    const PARKED: usize = 1_000_000;
    let before = rss_kib();
    let parked = Arc::new(AtomicUsize::new(0));
    let p = parked.clone();
    let start = Instant::now();
    let handles = rt.block_on(move || {
        (0..PARKED)
            .map(|_| {
                let p = p.clone();
                zsync::spawn(move || {
                    p.fetch_add(1, Ordering::Relaxed);
                    thread::park();
                })
            })
            .collect::<Vec<_>>()
    });
    let mut last = Instant::now();
    while parked.load(Ordering::Relaxed) < PARKED {
        if last.elapsed() > Duration::from_secs(1) {
            println!("  ... {} parked", parked.load(Ordering::Relaxed));
            last = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let kib = rss_kib().saturating_sub(before);
    println!(
        "parked {PARKED} green threads in {:.2?}: {:.2} KiB resident each, {} MiB in all",
        start.elapsed(),
        kib as f64 / PARKED as f64,
        kib / 1024
    );
    for h in &handles {
        h.thread().unpark();
    }
    for h in handles {
        h.join().unwrap();
    }

    // 3. An echo server with thousands of client connections, all green threads on this runtime.
    const CONNECTIONS: usize = 2_000;
    const ROUNDS: usize = 50;
    let start = Instant::now();
    let echoed = rt.block_on(|| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().unwrap();
        let server = zsync::spawn(move || {
            for stream in listener.incoming().flatten() {
                zsync::spawn(move || {
                    let mut stream = stream;
                    let mut buf = [0u8; 1024];
                    while let Ok(n @ 1..) = stream.read(&mut buf) {
                        if stream.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        let done = Arc::new(AtomicUsize::new(0));
        let clients: Vec<_> = (0..CONNECTIONS)
            .map(|id| {
                let done = done.clone();
                zsync::spawn(move || {
                    let mut stream = TcpStream::connect(addr).expect("connect");
                    let message = [id as u8; 64];
                    let mut echo = [0u8; 64];
                    for _ in 0..ROUNDS {
                        stream.write_all(&message).unwrap();
                        stream.read_exact(&mut echo).unwrap();
                        assert_eq!(echo, message);
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                })
            })
            .collect();
        let mut last = Instant::now();
        while done.load(Ordering::Relaxed) < CONNECTIONS {
            if last.elapsed() > Duration::from_secs(1) {
                println!(
                    "  ... {} of {CONNECTIONS} clients done",
                    done.load(Ordering::Relaxed)
                );
                last = Instant::now();
            }
            sleep(Duration::from_millis(20));
        }
        for c in clients {
            c.join().unwrap();
        }
        // The acceptor blocks in accept() forever: cancellation unwinds it from there.
        assert!(server.cancel().unwrap_err().is::<zsync::Cancelled>());
        CONNECTIONS * ROUNDS
    });
    let took = start.elapsed();
    println!(
        "echo server: {CONNECTIONS} client connections x {ROUNDS} round trips of 64 bytes in \
         {took:.2?}: {:.0} round trips/s (server and clients share the 2 workers)",
        echoed as f64 / took.as_secs_f64()
    );

    // 4. Cancellation and timeouts unwind blocked green threads, running their destructors.
    rt.block_on(|| {
        struct Goodbye(&'static str);
        impl Drop for Goodbye {
            fn drop(&mut self) {
                println!("  destructor ran: {}", self.0);
            }
        }
        let h = zsync::spawn(|| {
            let _g = Goodbye("the cancelled green thread's guard");
            sleep(Duration::from_secs(3600));
        });
        sleep(Duration::from_millis(10));
        let payload = h.cancel().unwrap_err();
        println!(
            "cancelled a sleeping green thread: payload is Cancelled = {}",
            payload.is::<zsync::Cancelled>()
        );

        let r = timeout(Duration::from_millis(20), || {
            let _g = Goodbye("the timed-out closure's guard");
            sleep(Duration::from_secs(3600));
        });
        println!("timeout(20 ms) around a one-hour sleep: {r:?}");
    });

    println!("metrics: {:?}", {
        let mut m = rt.metrics();
        m.workers.clear();
        m
    });
}

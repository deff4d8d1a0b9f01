//! The B7 load client: one OS thread driving all connections with mio (the same client for every
//! server). Each connection sends a 64-byte message, waits for its 64-byte echo, and repeats;
//! the result is completed round trips per second over the measuring window.

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

struct Conn {
    stream: TcpStream,
    sent: usize,
    received: usize,
}

const MSG: usize = 64;

/// Runs `connections` echo connections against `addr` for `warmup` then `measure`; returns
/// round trips per second during `measure`.
pub fn echo_load(addr: SocketAddr, connections: usize, warmup: Duration, measure: Duration) -> f64 {
    let mut poll = Poll::new().unwrap();
    let mut events = Events::with_capacity(1024);
    let message = [0x5au8; MSG];
    let mut conns: Vec<Conn> = (0..connections)
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
            Conn {
                stream,
                sent: 0,
                received: 0,
            }
        })
        .collect();
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + measure;
    let mut counted = 0u64;
    let mut buf = [0u8; 4096];
    // Kick every connection off once; afterwards only readiness events drive them.
    let mut pending: Vec<usize> = (0..connections).collect();
    loop {
        for i in pending.drain(..) {
            let c = &mut conns[i];
            loop {
                // Write what is left of the current message.
                while c.sent < MSG {
                    match c.stream.write(&message[c.sent..]) {
                        Ok(n) => c.sent += n,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) => panic!("write: {e}"),
                    }
                }
                // Read the echo.
                let mut progressed = false;
                while c.received < MSG {
                    match c.stream.read(&mut buf[..MSG - c.received]) {
                        Ok(0) => panic!("server closed a connection"),
                        Ok(n) => {
                            c.received += n;
                            progressed = true;
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) => panic!("read: {e}"),
                    }
                }
                if c.sent == MSG && c.received == MSG {
                    c.sent = 0;
                    c.received = 0;
                    if Instant::now() >= measure_from {
                        counted += 1;
                    }
                    continue; // next round trip at once
                }
                let _ = progressed;
                break;
            }
        }
        let now = Instant::now();
        if now >= end {
            break;
        }
        poll.poll(&mut events, Some(end - now)).unwrap();
        pending.extend(events.iter().map(|e| e.token().0));
    }
    counted as f64 / measure.as_secs_f64()
}

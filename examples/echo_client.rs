//! Load for the echo server: N connections, each sending M 64-byte messages and checking every
//! echoed byte; prints round trips per second.
//!
//! ```text
//! cargo run --release --example echo_client -- 127.0.0.1:7878 1000 100
//! ```

use std::io::{Read, Write};
use std::time::Instant;
use zsync::net::TcpStream;

fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:7878".into());
    let connections: usize = args.next().map_or(100, |s| s.parse().expect("connections"));
    let rounds: usize = args
        .next()
        .map_or(1000, |s| s.parse().expect("round trips"));
    let start = Instant::now();
    let total: usize = zsync::run(move || {
        let clients: Vec<_> = (0..connections)
            .map(|id| {
                let addr = addr.clone();
                zsync::spawn(move || -> std::io::Result<usize> {
                    let mut stream = TcpStream::connect(&addr)?;
                    stream.set_nodelay(true)?;
                    let mut echo = [0u8; 64];
                    for round in 0..rounds {
                        let message = [(id + round) as u8; 64];
                        stream.write_all(&message)?;
                        stream.read_exact(&mut echo)?;
                        assert_eq!(echo, message, "connection {id}: wrong echo");
                    }
                    Ok(rounds)
                })
            })
            .collect();
        clients
            .into_iter()
            .map(|c| c.join().expect("client panicked").expect("client I/O"))
            .sum()
    });
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{total} round trips over {connections} connections in {secs:.2} s: {:.0} req/s",
        total as f64 / secs
    );
}

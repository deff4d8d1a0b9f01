//! The blocking echo / http connection loop that zsync, may and std threads share (B7, B11),
//! and B7's "hook" server: std's own `TcpListener`/`TcpStream` on zsync green threads, which
//! park through the `hook` feature (run by hooked/'s binary, which includes this file by path).

use std::io::{Read, Write};
use std::net::SocketAddr;

pub const HTTP_RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, world!";

/// Counts complete requests in `buf[..filled]` (each ends with a blank line), shifts out what
/// was consumed and returns how many responses to send. Same logic for every implementation.
pub fn take_requests(buf: &mut [u8], filled: &mut usize) -> usize {
    let mut count = 0;
    let mut start = 0;
    while let Some(end) = buf[start..*filled]
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
    {
        start += end + 4;
        count += 1;
    }
    buf.copy_within(start..*filled, 0);
    *filled -= start;
    count
}

pub fn announce(addr: SocketAddr) {
    println!("{addr}");
    std::io::stdout().flush().unwrap();
}

/// Blocking echo / http loop over any Read + Write: the code zsync and std threads share.
pub fn blocking_conn(mut s: impl Read + Write, http: bool) {
    let mut buf = vec![0u8; 8192];
    let mut filled = 0;
    loop {
        let n = match s.read(&mut buf[filled..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if !http {
            if s.write_all(&buf[..n]).is_err() {
                return;
            }
            continue;
        }
        filled += n;
        let count = take_requests(&mut buf, &mut filled);
        if s.write_all(&HTTP_RESPONSE.repeat(count)).is_err() {
            return;
        }
    }
}

/// std's own listener and streams, a green thread per connection, on a zsync runtime of
/// `workers` workers: with zsync's `hook` feature (hooked/), their calls park the green
/// thread; without it they would block the worker.
#[allow(dead_code)] // served by hooked/'s binary only; the runner includes the file for the rest
pub fn std_on_zsync(addr: &str, http: bool, workers: usize) {
    let addr = addr.to_owned();
    zsync::runtime::Builder::new()
        .worker_threads(workers)
        .build()
        .unwrap()
        .block_on(move || {
            let listener = std::net::TcpListener::bind(&addr).unwrap();
            announce(listener.local_addr().unwrap());
            for stream in listener.incoming().flatten() {
                stream.set_nodelay(true).unwrap();
                zsync::spawn(move || blocking_conn(stream, http));
            }
        })
}

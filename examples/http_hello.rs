//! Porting blocking code unchanged: an HTTP/1.1 keep-alive "hello" server written as a plain
//! blocking loop with httparse, one green thread per connection (benchmark B11).
//!
//! By default it serves, makes 1000 keep-alive requests to itself and exits; with
//! `--serve ADDR` it only serves (for `wrk -t1 -c100 -d5s http://ADDR/`).
//!
//! ```text
//! cargo run --release --example http_hello
//! ```

use std::io::{Read, Write};
use zsync::net::{TcpListener, TcpStream};

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, world!";

/// Serves one connection: parse requests as they come, answer each, until the peer closes.
fn serve(mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = vec![0u8; 8192];
    let mut filled = 0;
    loop {
        let n = stream.read(&mut buf[filled..])?;
        if n == 0 {
            return Ok(());
        }
        filled += n;
        let mut out = Vec::new();
        // Answer every complete request in the buffer (pipelining).
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut request = httparse::Request::new(&mut headers);
            match request.parse(&buf[..filled]) {
                Ok(httparse::Status::Complete(len)) => {
                    out.extend_from_slice(RESPONSE);
                    buf.copy_within(len..filled, 0);
                    filled -= len;
                }
                Ok(httparse::Status::Partial) => break,
                Err(e) => {
                    stream.write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")?;
                    return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e));
                }
            }
        }
        stream.write_all(&out)?;
        if filled == buf.len() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "request headers too large",
            ));
        }
    }
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let serve_only = args.next().as_deref() == Some("--serve");
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:0".into());
    zsync::run(move || {
        let listener = TcpListener::bind(&addr)?;
        let local = listener.local_addr()?;
        println!("http server on http://{local}/");
        let server = zsync::spawn(move || {
            for stream in listener.incoming().flatten() {
                zsync::spawn(move || {
                    let _ = serve(stream);
                });
            }
        });
        if serve_only {
            let _ = server.join();
            return Ok(());
        }
        // A keep-alive client: 1000 requests on one connection.
        let mut client = TcpStream::connect(local)?;
        let mut response = vec![0u8; RESPONSE.len()];
        for _ in 0..1000 {
            client.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")?;
            client.read_exact(&mut response)?;
            assert_eq!(response, RESPONSE);
        }
        println!("1000 keep-alive requests answered");
        Ok(())
    })
}

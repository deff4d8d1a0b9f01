//! A TCP echo server: one green thread per connection, plain blocking code.
//!
//! ```text
//! cargo run --release --example echo_server -- 127.0.0.1:7878
//! cargo run --release --example echo_client -- 127.0.0.1:7878 1000 100
//! ```

use std::io::{Read, Write};
use zsync::net::{TcpListener, TcpStream};

fn serve(mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        stream.write_all(&buf[..n])?;
    }
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7878".into());
    zsync::run(move || {
        let listener = TcpListener::bind(&addr)?;
        println!("echo server listening on {}", listener.local_addr()?);
        for stream in listener.incoming() {
            match stream {
                Ok(stream) => {
                    zsync::spawn(move || {
                        if let Err(e) = serve(stream) {
                            eprintln!("connection error: {e}");
                        }
                    });
                }
                Err(e) => eprintln!("accept: {e}"),
            }
        }
        Ok(())
    })
}

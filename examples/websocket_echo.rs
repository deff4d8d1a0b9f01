//! Porting blocking code unchanged: tungstenite's blocking WebSocket API works over any
//! `Read + Write`, so it runs on zsync's `TcpStream` as is, one green thread per connection.
//!
//! Runs a WebSocket echo server and 100 clients against it, then exits; with `--serve ADDR` it
//! only serves.
//!
//! ```text
//! cargo run --release --example websocket_echo
//! ```

// tungstenite's own error type is large; its API returns it as is.
#![allow(clippy::result_large_err)]

use tungstenite::{accept, client, Message};
use zsync::net::{TcpListener, TcpStream};

fn serve(stream: TcpStream) -> tungstenite::Result<()> {
    let mut socket = accept(stream).map_err(|e| match e {
        tungstenite::HandshakeError::Failure(e) => e,
        tungstenite::HandshakeError::Interrupted(_) => unreachable!("the stream blocks"),
    })?;
    loop {
        match socket.read()? {
            msg @ (Message::Text(_) | Message::Binary(_)) => socket.send(msg)?,
            Message::Close(_) => return Ok(()),
            _ => {}
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
        println!("websocket echo server on ws://{local}");
        let server = zsync::spawn(move || {
            for stream in listener.incoming().flatten() {
                zsync::spawn(move || {
                    if let Err(e) = serve(stream) {
                        eprintln!("websocket error: {e}");
                    }
                });
            }
        });
        if serve_only {
            let _ = server.join();
            return Ok(());
        }
        let clients: Vec<_> = (0..100)
            .map(|id| {
                zsync::spawn(move || -> tungstenite::Result<usize> {
                    let stream = TcpStream::connect(local)?;
                    let (mut socket, _) =
                        client(format!("ws://{local}/"), stream).map_err(|e| match e {
                            tungstenite::HandshakeError::Failure(e) => e,
                            tungstenite::HandshakeError::Interrupted(_) => unreachable!(),
                        })?;
                    for round in 0..10 {
                        let text = format!("hello {id}/{round}");
                        socket.send(Message::text(text.clone()))?;
                        assert_eq!(socket.read()?, Message::text(text));
                    }
                    socket.close(None)?;
                    Ok(10)
                })
            })
            .collect();
        let echoed: usize = clients
            .into_iter()
            .map(|c| {
                c.join()
                    .expect("client panicked")
                    .expect("websocket client")
            })
            .sum();
        println!("{echoed} messages echoed over 100 WebSocket connections");
        Ok(())
    })
}

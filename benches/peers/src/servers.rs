//! The same servers on each implementation: TCP echo (B7, and B14's "skew" kind) and HTTP/1.1
//! keep-alive hello (B11). Each prints its bound address on stdout, then serves until killed.
//! "skew" is the echo server with tokio's accept loop in a spawned task on a worker (as zsync's
//! acceptor is a green thread on one) rather than in `block_on` on the main thread, so that
//! tokio's handlers start from a worker's local queue, as zsync's do. The blocking loop that
//! zsync, may and std threads share is in blocking_server.rs (hooked/ serves it too).

use crate::blocking_server::{announce, blocking_conn, take_requests, HTTP_RESPONSE};

/// Serves `addr` with `implementation` on `workers` worker threads (std: a thread per
/// connection, whatever `workers` says); `kind` is "echo", "http" or "skew".
pub fn serve(implementation: &str, kind: &str, workers: usize, addr: &str) {
    let http = kind == "http";
    match implementation {
        "zsync" => zsync_server(addr, http, workers),
        "tokio" => tokio_server(addr, http, workers, kind == "skew"),
        "may" => may_server(addr, http, workers),
        "std" => std_server(addr, http),
        other => panic!("unknown implementation {other}"),
    }
}

fn zsync_server(addr: &str, http: bool, workers: usize) {
    let addr = addr.to_owned();
    crate::micro::zsync_rt(workers).block_on(move || {
        let listener = zsync::net::TcpListener::bind(&addr).unwrap();
        announce(listener.local_addr().unwrap());
        for stream in listener.incoming().flatten() {
            stream.set_nodelay(true).unwrap();
            zsync::spawn(move || blocking_conn(stream, http));
        }
    })
}

fn std_server(addr: &str, http: bool) {
    let listener = std::net::TcpListener::bind(addr).unwrap();
    announce(listener.local_addr().unwrap());
    for stream in listener.incoming().flatten() {
        stream.set_nodelay(true).unwrap();
        std::thread::spawn(move || blocking_conn(stream, http));
    }
}

fn may_server(addr: &str, http: bool, workers: usize) {
    may::config().set_workers(workers);
    let listener = may::net::TcpListener::bind(addr).unwrap();
    announce(listener.local_addr().unwrap());
    for stream in listener.incoming().flatten() {
        stream.set_nodelay(true).unwrap();
        // SAFETY: may's spawn is unsafe because a coroutine may migrate between threads; this
        // one holds no thread-local state across its blocking calls, and the loop's frame fits
        // may's default coroutine stack.
        unsafe {
            may::coroutine::spawn(move || blocking_conn(stream, http));
        }
    }
}

fn tokio_server(addr: &str, http: bool, workers: usize, spawned_acceptor: bool) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = crate::micro::tokio_rt(workers);
    let listener = rt.block_on(tokio::net::TcpListener::bind(addr)).unwrap();
    announce(listener.local_addr().unwrap());
    let accept = async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                continue;
            };
            s.set_nodelay(true).unwrap();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut filled = 0;
                loop {
                    let n = match s.read(&mut buf[filled..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => n,
                    };
                    if !http {
                        if s.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    filled += n;
                    let count = take_requests(&mut buf, &mut filled);
                    if s.write_all(&HTTP_RESPONSE.repeat(count)).await.is_err() {
                        return;
                    }
                }
            });
        }
    };
    if spawned_acceptor {
        rt.block_on(rt.spawn(accept)).unwrap();
    } else {
        rt.block_on(accept);
    }
}

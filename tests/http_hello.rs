//! examples/http_hello.rs driven over real loopback sockets: the very code of the example (pulled
//! in with `#[path]`), on its own runtime per test, with plain std clients on the test thread.
//! Every client read has a timeout, so a server that misbehaves fails a test instead of hanging.

#[path = "../examples/http_hello.rs"]
#[allow(dead_code)]
mod http_hello;

use http_hello::Config;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use zsync::runtime::Builder;
use zsync::Runtime;

/// How long a client waits for any one read before the test fails.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

struct Server {
    addr: SocketAddr,
    _runtime: Runtime,
}

fn server_with(config: Config) -> Server {
    let runtime = Builder::new().worker_threads(1).build().unwrap();
    let listener = zsync::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    runtime.spawn(move || http_hello::serve(listener, config));
    Server {
        addr,
        _runtime: runtime,
    }
}

fn server() -> Server {
    server_with(Config::default())
}

/// A server whose header timeout is short enough to wait for in a test.
fn impatient_server(timeout: Duration) -> Server {
    server_with(Config {
        header_timeout: timeout,
        ..Config::default()
    })
}

#[derive(Debug)]
struct Response {
    version: u8,
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn assert_hello(&self, version: u8) {
        assert_eq!((self.version, self.status), (version, 200), "{self:?}");
        assert_eq!(self.header("content-length"), Some("13"), "{self:?}");
        assert_eq!(self.body, b"Hello, world!", "{self:?}");
    }
}

/// A raw client that keeps whatever it read past the end of one response for the next.
struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(CLIENT_TIMEOUT)).unwrap();
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Reads more bytes into `buf`; panics on EOF, a timeout or a reset, saying what came so far.
    fn read_more(&mut self, waiting_for: &str) {
        let mut chunk = [0u8; 4096];
        match self.stream.read(&mut chunk) {
            Ok(0) => panic!(
                "EOF while waiting for {waiting_for}; got {:?}",
                String::from_utf8_lossy(&self.buf)
            ),
            Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            Err(err) => panic!(
                "{err} ({:?}) while waiting for {waiting_for}; got {:?}",
                err.kind(),
                String::from_utf8_lossy(&self.buf)
            ),
        }
    }

    /// Reads one response. `head` says it answers a HEAD request (no body whatever it says).
    fn response_to(&mut self, head: bool) -> Response {
        let (len, version, status, headers) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            match response.parse(&self.buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let headers = response
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_string(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect::<Vec<_>>();
                    break (
                        len,
                        response.version.unwrap(),
                        response.code.unwrap(),
                        headers,
                    );
                }
                Ok(httparse::Status::Partial) => self.read_more("a response head"),
                Err(err) => panic!(
                    "bad response ({err}): {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            }
        };
        self.buf.drain(..len);
        let mut response = Response {
            version,
            status,
            headers,
            body: Vec::new(),
        };
        let body_len = if head || status / 100 == 1 || status == 204 || status == 304 {
            0
        } else {
            response
                .header("content-length")
                .expect("every response of this server has a Content-Length")
                .parse::<usize>()
                .unwrap()
        };
        while self.buf.len() < body_len {
            self.read_more("a response body");
        }
        response.body = self.buf.drain(..body_len).collect();
        response
    }

    fn response(&mut self) -> Response {
        self.response_to(false)
    }

    /// The server closed the connection: nothing more was sent, and the next read is a clean
    /// EOF (not a timeout, not a reset).
    fn assert_closed(&mut self) {
        assert!(
            self.buf.is_empty(),
            "unexpected bytes: {:?}",
            String::from_utf8_lossy(&self.buf)
        );
        let mut chunk = [0u8; 256];
        match self.stream.read(&mut chunk) {
            Ok(0) => {}
            Ok(n) => panic!(
                "expected EOF, got {:?}",
                String::from_utf8_lossy(&chunk[..n])
            ),
            Err(err) => panic!("expected EOF, got {err} ({:?})", err.kind()),
        }
    }

    /// The connection is still open: a read waits (times out) rather than seeing EOF.
    fn assert_open(&mut self) {
        assert!(self.buf.is_empty());
        self.stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut chunk = [0u8; 256];
        match self.stream.read(&mut chunk) {
            Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            other => panic!("expected the connection to stay open, got {other:?}"),
        }
        self.stream.set_read_timeout(Some(CLIENT_TIMEOUT)).unwrap();
    }
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";

#[test]
fn http_1_1_keep_alive_by_default() {
    let server = server();
    let mut client = Client::connect(server.addr);
    for path in ["/", "/any/path?x=1", "/"] {
        client.send(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes());
        let response = client.response();
        response.assert_hello(1);
        assert_eq!(response.header("connection"), None);
    }
    client.assert_open();
}

#[test]
fn http_1_0_gets_a_1_0_reply_and_the_connection_closes() {
    let server = server();
    let mut client = Client::connect(server.addr);
    client.send(b"GET / HTTP/1.0\r\n\r\n");
    let response = client.response();
    response.assert_hello(0);
    assert_ne!(response.header("connection"), Some("keep-alive"));
    client.assert_closed();
}

#[test]
fn http_1_0_keep_alive_when_asked() {
    let server = server();
    let mut client = Client::connect(server.addr);
    for _ in 0..2 {
        client.send(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        let response = client.response();
        response.assert_hello(0);
        assert_eq!(
            response.header("connection").map(str::to_ascii_lowercase),
            Some("keep-alive".into())
        );
    }
    client.assert_open();
    // And the last of them may end it.
    client.send(b"GET / HTTP/1.0\r\n\r\n");
    client.response().assert_hello(0);
    client.assert_closed();
}

#[test]
fn connection_close_is_honoured() {
    let server = server();
    let mut client = Client::connect(server.addr);
    client.send(GET);
    client.response().assert_hello(1);
    // A token list, any case.
    client.send(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: TE, CLOSE\r\n\r\n");
    let response = client.response();
    response.assert_hello(1);
    assert_eq!(response.header("connection"), Some("close"));
    client.assert_closed();
}

#[test]
fn head_has_the_headers_of_get_and_no_body() {
    let server = server();
    let mut client = Client::connect(server.addr);
    client.send(b"HEAD / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let head = client.response_to(true);
    assert_eq!((head.version, head.status), (1, 200));
    assert_eq!(head.header("content-length"), Some("13"));
    // A body after the HEAD response would now be read as the start of the next response.
    client.send(GET);
    client.response().assert_hello(1);
    client.assert_open();
}

#[test]
fn post_body_is_skipped_and_the_next_request_answered() {
    let server = server();
    let mut client = Client::connect(server.addr);
    client.send(
        b"POST /form HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n\r\nx=1",
    );
    client.response().assert_hello(1);
    client.send(GET);
    client.response().assert_hello(1);
    client.assert_open();
}

#[test]
fn body_split_across_writes() {
    let server = server();
    let mut client = Client::connect(server.addr);
    client.stream.set_nodelay(true).unwrap();
    // Not a method token: an old server that parsed bodies as requests would answer 400.
    let body = br#"{"k":"0123456789ab"}"#;
    client.send(b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 20\r\n\r\n0123");
    std::thread::sleep(Duration::from_millis(30));
    client.send(&body[4..11]);
    std::thread::sleep(Duration::from_millis(30));
    // The end of the body and the next request in one write.
    let mut rest = body[11..].to_vec();
    rest.extend_from_slice(GET);
    client.send(&rest);
    client.response().assert_hello(1);
    client.response().assert_hello(1);
    client.assert_open();
}

#[test]
fn body_larger_than_the_buffer() {
    let server = server();
    let mut client = Client::connect(server.addr);
    let body = vec![b'a'; 1 << 20];
    client.send(
        format!(
            "PUT /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    );
    client.send(&body);
    client.send(GET);
    // PUT is not one of this server's methods (see the example's doc): 405, body skipped.
    let response = client.response();
    assert_eq!(response.status, 405, "{response:?}");
    assert!(response.header("allow").is_some());
    client.response().assert_hello(1);
    client.assert_open();
}

#[test]
fn chunked_body_is_decoded_and_skipped() {
    let server = server();
    let mut client = Client::connect(server.addr);
    client.stream.set_nodelay(true).unwrap();
    client.send(b"POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n");
    client.send(b"5\r\nhello\r\n1");
    std::thread::sleep(Duration::from_millis(30));
    // A chunk extension, a chunk split in two writes, a trailer.
    client.send(b"0;name=value\r\n0123456789");
    std::thread::sleep(Duration::from_millis(30));
    client.send(b"abcdef\r\n0\r\nX-Trailer: yes\r\n\r\n");
    client.response().assert_hello(1);
    // A large chunk, with the next request straight after it.
    let mut big = format!(
        "POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
        100_000
    )
    .into_bytes();
    big.extend(std::iter::repeat_n(b'z', 100_000));
    big.extend_from_slice(b"\r\n0\r\n\r\n");
    big.extend_from_slice(GET);
    client.send(&big);
    client.response().assert_hello(1);
    client.response().assert_hello(1);
    client.assert_open();
}

#[test]
fn bad_chunked_body_is_400_and_close() {
    let server = server();
    let mut client = Client::connect(server.addr);
    client.send(
        b"POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    );
    assert_eq!(client.response().status, 400);
    client.assert_closed();
}

#[test]
fn bad_or_conflicting_content_length_is_400_and_close() {
    let server = server();
    for request in [
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: abc\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: -1\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3, 4\r\n\r\nabcd",
        "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: gzip\r\n\r\nabc",
    ] {
        let mut client = Client::connect(server.addr);
        client.send(request.as_bytes());
        let response = client.response();
        assert_eq!(response.status, 400, "{request:?}: {response:?}");
        assert_eq!(response.header("connection"), Some("close"));
        client.assert_closed();
    }
    // The same length twice is allowed.
    let mut client = Client::connect(server.addr);
    client.send(
        b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
    );
    client.response().assert_hello(1);
    client.send(GET);
    client.response().assert_hello(1);
}

#[test]
fn expect_100_continue() {
    let server = server();
    let mut client = Client::connect(server.addr);
    client.send(
        b"POST / HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    );
    let interim = client.response();
    assert_eq!((interim.version, interim.status), (1, 100), "{interim:?}");
    client.send(b"hello");
    client.response().assert_hello(1);
    // A client that sends the body without waiting gets no 100 (the body is already here).
    client.send(
        b"POST / HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello",
    );
    client.response().assert_hello(1);
    client.assert_open();
    // An expectation the server cannot meet.
    client
        .send(b"POST / HTTP/1.1\r\nHost: localhost\r\nExpect: teapot\r\nContent-Length: 5\r\n\r\n");
    assert_eq!(client.response().status, 417);
    client.assert_closed();
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let server = server();
    let mut client = Client::connect(server.addr);
    let mut batch = Vec::new();
    batch.extend_from_slice(GET);
    batch.extend_from_slice(b"HEAD / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    batch.extend_from_slice(b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\n\r\nbody");
    batch.extend_from_slice(GET);
    client.send(&batch);
    client.response().assert_hello(1);
    let head = client.response_to(true);
    assert_eq!(
        (head.status, head.header("content-length")),
        (200, Some("13"))
    );
    client.response().assert_hello(1);
    client.response().assert_hello(1);
    client.assert_open();
}

#[test]
fn half_sent_header_gets_408_then_close() {
    let timeout = Duration::from_millis(300);
    let server = impatient_server(timeout);
    let mut client = Client::connect(server.addr);
    let start = Instant::now();
    client.send(b"GET / HTTP/1.1\r\nHost: localhost\r\n");
    // Dribbling bytes does not extend the deadline for the header block.
    std::thread::sleep(timeout / 2);
    client.send(b"X-Slow: 1\r\n");
    let response = client.response();
    let waited = start.elapsed();
    assert_eq!(response.status, 408, "{response:?}");
    assert!(waited >= timeout, "408 after only {waited:?}");
    // Not the default 10 s, with room for a loaded machine.
    assert!(waited < timeout + Duration::from_secs(3), "{waited:?}");
    client.assert_closed();
}

#[test]
fn idle_keep_alive_connection_is_closed_after_the_timeout() {
    let timeout = Duration::from_millis(300);
    let server = impatient_server(timeout);
    let mut client = Client::connect(server.addr);
    client.send(GET);
    client.response().assert_hello(1);
    let start = Instant::now();
    client.assert_closed();
    let waited = start.elapsed();
    assert!(waited >= timeout - Duration::from_millis(50), "{waited:?}");
    // A connection that never sends a byte is cut off too.
    let mut silent = Client::connect(server.addr);
    let response = silent.response();
    assert_eq!(response.status, 408, "{response:?}");
    silent.assert_closed();
}

#[test]
fn huge_header_gets_431_not_a_reset() {
    let server = server();
    let mut client = Client::connect(server.addr);
    let mut request = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: ".to_vec();
    request.extend(std::iter::repeat_n(b'a', 100 * 1024));
    request.extend_from_slice(b"\r\n\r\n");
    // The server answers long before the request is all sent: send from another thread so the
    // answer is read while it writes, as a real client would.
    let mut writer = client.stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || writer.write_all(&request));
    let response = client.response();
    assert_eq!(response.status, 431, "{response:?}");
    assert_eq!(response.header("connection"), Some("close"));
    client.assert_closed();
    let _ = sender.join().unwrap();
}

#[test]
fn too_many_headers_get_431() {
    let server = server();
    let mut client = Client::connect(server.addr);
    let mut request = String::from("GET / HTTP/1.1\r\nHost: localhost\r\n");
    for i in 0..200 {
        request.push_str(&format!("X-{i}: {i}\r\n"));
    }
    request.push_str("\r\n");
    client.send(request.as_bytes());
    assert_eq!(client.response().status, 431);
    client.assert_closed();
}

#[test]
fn malformed_requests_get_400_and_close() {
    let server = server();
    for request in [
        &b"\x01\x02garbage\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: localhost\r\nBad Header\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n", // HTTP/1.1 without Host
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    ] {
        let mut client = Client::connect(server.addr);
        client.send(request);
        let response = client.response();
        assert_eq!(response.status, 400, "{request:?}: {response:?}");
        client.assert_closed();
    }
}

#[test]
fn answers_before_an_error_are_kept() {
    // A good request pipelined before a bad one is still answered, first.
    let server = server();
    let mut client = Client::connect(server.addr);
    let mut batch = GET.to_vec();
    batch.extend_from_slice(b"nonsense\r\n\r\n");
    client.send(&batch);
    client.response().assert_hello(1);
    assert_eq!(client.response().status, 400);
    client.assert_closed();
}

#[test]
fn the_examples_own_keep_alive_client() {
    let server = server();
    let addr = server.addr;
    let runtime = Builder::new().worker_threads(1).build().unwrap();
    runtime
        .block_on(move || http_hello::keep_alive_client(addr, 200))
        .unwrap();
}

#[test]
fn curl() {
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        println!("curl test skipped: curl is not installed");
        return;
    }
    let server = server();
    let url = format!("http://{}/", server.addr);
    let run = |args: &[&str]| {
        let output = std::process::Command::new("curl")
            .args(["-s", "-S", "--max-time", "5"])
            .args(args)
            .arg(&url)
            .output()
            .unwrap();
        assert!(output.status.success(), "curl {args:?}: {output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    assert_eq!(run(&[]), "Hello, world!");
    assert_eq!(run(&["-d", "x=1"]), "Hello, world!");
    assert_eq!(run(&["-0", "-d", "x=1"]), "Hello, world!");
    // A body big enough that curl sends Expect: 100-continue (curl >= 7.x: over 1 MiB).
    let big = format!("x={}", "a".repeat(2 << 20));
    let path = std::env::temp_dir().join(format!("zsync-http-hello-{}", std::process::id()));
    std::fs::write(&path, big).unwrap();
    let upload = format!("@{}", path.display());
    let big_result = run(&["--data-binary", &upload]);
    let _ = std::fs::remove_file(&path);
    assert_eq!(big_result, "Hello, world!");
    let head = run(&["-I"]);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head:?}");
    assert!(
        head.to_ascii_lowercase().contains("content-length: 13\r\n"),
        "{head:?}"
    );
    assert!(!head.contains("Hello"), "{head:?}");
    let head_1_0 = run(&["-0", "-I"]);
    assert!(head_1_0.starts_with("HTTP/1.0 200 OK\r\n"), "{head_1_0:?}");
}

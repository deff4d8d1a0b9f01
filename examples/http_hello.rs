//! Porting blocking code unchanged: a small but correct HTTP/1.1 "hello" server, written as a
//! plain blocking loop with httparse, one green thread per connection (benchmark B11).
//!
//! By default it serves, makes 1000 keep-alive requests to itself and exits; with
//! `--serve ADDR` it only serves (for `wrk -t1 -c100 -d5s http://ADDR/` or `curl`).
//!
//! ```text
//! cargo run --release --example http_hello
//! cargo run --release --example http_hello -- --serve 127.0.0.1:8080
//! ```
//!
//! What it does, as a base to copy (tests/http_hello.rs drives this very file):
//! - `GET` and `POST` of any path answer `Hello, world!`; `HEAD` gets the same headers and no
//!   body; any other method gets `405 Method Not Allowed` with an `Allow` header.
//! - A reply carries the request's version. An HTTP/1.1 connection stays open unless the request
//!   says `Connection: close`; an HTTP/1.0 one closes unless it says `Connection: keep-alive`.
//! - Pipelined requests are answered in order; the replies to all the requests of one read go
//!   out in one write, and the common path allocates nothing per request.
//! - A request body (`Content-Length`, or `Transfer-Encoding: chunked`, decoded) is read and
//!   thrown away; a client that sent `Expect: 100-continue` gets `100 Continue` when the server
//!   goes to read the body. A bad or conflicting `Content-Length`, both framings at once, a
//!   final transfer coding other than chunked, or any transfer coding on HTTP/1.0 is `400` and
//!   close (RFC 9112 section 6); another expectation is `417` and close.
//! - A header block has [`HEADER_TIMEOUT`] to arrive whole, counted from when the server starts
//!   waiting for it: then `408 Request Timeout` and close. A keep-alive connection idle that
//!   long between requests is closed without a reply; a body that stalls that long gets `408`.
//! - A header block over [`MAX_HEADER_BYTES`] or with more than [`MAX_HEADERS`] fields is `431`
//!   (a request line alone over the limit, `414`); anything malformed is `400`, as is an
//!   HTTP/1.1 request without exactly one `Host`.
//! - Every error reply closes the connection gracefully: write the reply, shut down the write
//!   side, read and discard what the client still sends for a moment, then close. Closing a
//!   socket with unread data would send a reset, and the client might never see the reply.

use std::convert::Infallible;
use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use zsync::net::{Shutdown, TcpListener, TcpStream};

/// How long a client has to send a whole header block, and how long a connection may idle.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest header block (request line included) the server reads.
pub const MAX_HEADER_BYTES: usize = 8 * 1024;
/// The most header fields a request may have.
pub const MAX_HEADERS: usize = 64;
/// After an error reply, how long and how much the server reads before it closes.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 1 << 20;

/// The limits of one server.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// See [`HEADER_TIMEOUT`]; also the write timeout of every connection.
    pub header_timeout: Duration,
    /// See [`MAX_HEADER_BYTES`]; the size of each connection's read buffer.
    pub max_header_bytes: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            header_timeout: HEADER_TIMEOUT,
            max_header_bytes: MAX_HEADER_BYTES,
        }
    }
}

const HELLO: &str = "Hello, world!";
/// The reply to the common request (HTTP/1.1 keep-alive `GET`), ready-made.
const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, world!";
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

const OK: &str = "200 OK";
const BAD_REQUEST: &str = "400 Bad Request";
const METHOD_NOT_ALLOWED: &str = "405 Method Not Allowed";
const REQUEST_TIMEOUT: &str = "408 Request Timeout";
const URI_TOO_LONG: &str = "414 URI Too Long";
const EXPECTATION_FAILED: &str = "417 Expectation Failed";
const HEADERS_TOO_LARGE: &str = "431 Request Header Fields Too Large";

/// Accepts connections forever, serving each on its own green thread.
pub fn serve(listener: TcpListener, config: Config) {
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                zsync::spawn(move || {
                    let _ = serve_connection(stream, config);
                });
            }
            Err(err)
                if matches!(
                    err.kind(),
                    ErrorKind::ConnectionAborted | ErrorKind::Interrupted
                ) => {}
            // Out of file descriptors or memory: let connections end rather than spin.
            Err(_) => zsync::time::sleep(Duration::from_millis(10)),
        }
    }
}

/// Serves one connection until the client closes it, a request asks to close it, or an error
/// reply closes it. An `Err` is an I/O error (a reset, a write that timed out).
pub fn serve_connection(stream: TcpStream, config: Config) -> io::Result<()> {
    stream.set_nodelay(true)?;
    // A client that stops reading its replies must not hold the green thread forever either.
    stream.set_write_timeout(Some(config.header_timeout))?;
    let mut conn = Connection {
        stream,
        timeout: config.header_timeout,
        buf: vec![0; config.max_header_bytes.max(64)].into_boxed_slice(),
        start: 0,
        end: 0,
        out: Vec::with_capacity(4096),
        version: 1,
        continue_pending: false,
        answered: false,
    };
    let Err(stop) = conn.run();
    match stop {
        Stop::Quiet => Ok(()),
        Stop::Close => conn.close_gracefully(),
        Stop::Reply(status) => {
            conn.reply(conn.version, status, false, true, status);
            conn.close_gracefully()
        }
        Stop::Io(err) => Err(err),
    }
}

/// Why a connection ends.
enum Stop {
    /// Close without a reply: the client went away, or idled past the timeout.
    Quiet,
    /// The last reply said `Connection: close`.
    Close,
    /// Reply with this error status, then close.
    Reply(&'static str),
    Io(io::Error),
}

impl From<io::Error> for Stop {
    fn from(err: io::Error) -> Stop {
        Stop::Io(err)
    }
}

enum Fill {
    Data,
    Eof,
    TimedOut,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Head,
    Post,
    Other,
}

enum Body {
    None,
    Length(u64),
    Chunked,
}

/// What the server needs from a request's header block.
struct Head {
    version: u8,
    method: Method,
    keep_alive: bool,
    body: Body,
    expect_continue: bool,
}

struct Connection {
    stream: TcpStream,
    timeout: Duration,
    /// Bytes read and not yet consumed are `buf[start..end]`.
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// Replies not yet written.
    out: Vec<u8>,
    /// The version of the request at hand, for an error reply.
    version: u8,
    /// The client waits for `100 Continue` before it sends the body being read.
    continue_pending: bool,
    /// At least one request was answered.
    answered: bool,
}

impl Connection {
    fn run(&mut self) -> Result<Infallible, Stop> {
        // When the server started waiting for the header block it has not got whole yet.
        let mut waiting_since = None;
        loop {
            // Answer every request already here (pipelining).
            while self.start < self.end && self.request()? {
                waiting_since = None;
            }
            if self.end - self.start == self.buf.len() {
                let line = &self.buf[self.start..self.end];
                let request_line_ended = line
                    .iter()
                    .skip_while(|&&b| b == b'\r' || b == b'\n')
                    .any(|&b| b == b'\n');
                return Err(Stop::Reply(if request_line_ended {
                    HEADERS_TOO_LARGE
                } else {
                    URI_TOO_LONG
                }));
            }
            self.flush()?;
            let deadline = *waiting_since.get_or_insert_with(Instant::now) + self.timeout;
            match self.fill(deadline)? {
                Fill::Data => {}
                Fill::Eof => return Err(Stop::Quiet),
                Fill::TimedOut if self.answered && self.start == self.end => {
                    return Err(Stop::Quiet)
                }
                Fill::TimedOut => return Err(Stop::Reply(REQUEST_TIMEOUT)),
            }
        }
    }

    /// Handles the request at the head of the buffer if its header block is all here: consumes
    /// it and its body and queues the reply. `Ok(false)`: more bytes are needed first.
    fn request(&mut self) -> Result<bool, Stop> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        let parsed = request.parse(&self.buf[self.start..self.end]);
        self.version = request.version.unwrap_or(1);
        let head = match parsed {
            Ok(httparse::Status::Complete(len)) => {
                self.start += len;
                parse_head(&request).map_err(Stop::Reply)?
            }
            Ok(httparse::Status::Partial) => return Ok(false),
            Err(httparse::Error::TooManyHeaders) => return Err(Stop::Reply(HEADERS_TOO_LARGE)),
            Err(_) => return Err(Stop::Reply(BAD_REQUEST)),
        };
        self.continue_pending = head.expect_continue;
        match head.body {
            Body::None => {}
            Body::Length(len) => self.skip(len)?,
            Body::Chunked => self.skip_chunked()?,
        }
        self.continue_pending = false;
        self.answered = true;
        match head.method {
            Method::Get | Method::Post if head.version == 1 && head.keep_alive => {
                self.out.extend_from_slice(RESPONSE);
            }
            Method::Get | Method::Post | Method::Head => {
                let with_body = head.method != Method::Head;
                self.reply(head.version, OK, head.keep_alive, with_body, HELLO);
            }
            Method::Other => {
                let body = METHOD_NOT_ALLOWED;
                self.reply(
                    head.version,
                    METHOD_NOT_ALLOWED,
                    head.keep_alive,
                    true,
                    body,
                );
            }
        }
        if head.keep_alive {
            Ok(true)
        } else {
            Err(Stop::Close)
        }
    }

    /// Queues a reply with a text body.
    fn reply(&mut self, version: u8, status: &str, keep_alive: bool, with_body: bool, body: &str) {
        // Writing to a Vec cannot fail.
        let _ = write!(
            self.out,
            "HTTP/1.{version} {status}\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n",
            body.len()
        );
        if status == METHOD_NOT_ALLOWED {
            self.out.extend_from_slice(b"Allow: GET, HEAD, POST\r\n");
        }
        if !keep_alive {
            self.out.extend_from_slice(b"Connection: close\r\n");
        } else if version == 0 {
            self.out.extend_from_slice(b"Connection: keep-alive\r\n");
        }
        self.out.extend_from_slice(b"\r\n");
        if with_body {
            self.out.extend_from_slice(body.as_bytes());
        }
    }

    /// Consumes `len` bytes of body, reading them as needed.
    fn skip(&mut self, mut len: u64) -> Result<(), Stop> {
        loop {
            let here = (self.end - self.start).min(usize::try_from(len).unwrap_or(usize::MAX));
            self.start += here;
            len -= here as u64;
            if len == 0 {
                return Ok(());
            }
            self.more_body(BAD_REQUEST)?;
        }
    }

    /// Consumes a chunked body: chunks, the last chunk and the trailer section.
    fn skip_chunked(&mut self) -> Result<(), Stop> {
        loop {
            let size = loop {
                match httparse::parse_chunk_size(&self.buf[self.start..self.end]) {
                    Ok(httparse::Status::Complete((len, size))) => {
                        self.start += len;
                        break size;
                    }
                    Ok(httparse::Status::Partial) => self.more_body(BAD_REQUEST)?,
                    Err(_) => return Err(Stop::Reply(BAD_REQUEST)),
                }
            };
            if size == 0 {
                break;
            }
            self.skip(size)?;
            while self.end - self.start < 2 {
                self.more_body(BAD_REQUEST)?;
            }
            if self.buf[self.start..self.start + 2] != *b"\r\n" {
                return Err(Stop::Reply(BAD_REQUEST));
            }
            self.start += 2;
        }
        loop {
            let mut trailers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            match httparse::parse_headers(&self.buf[self.start..self.end], &mut trailers) {
                Ok(httparse::Status::Complete((len, _))) => {
                    self.start += len;
                    return Ok(());
                }
                Ok(httparse::Status::Partial) => self.more_body(HEADERS_TOO_LARGE)?,
                Err(httparse::Error::TooManyHeaders) => return Err(Stop::Reply(HEADERS_TOO_LARGE)),
                Err(_) => return Err(Stop::Reply(BAD_REQUEST)),
            }
        }
    }

    /// Reads more of a body. Sends what the client waits for first: `100 Continue` if it asked,
    /// and the replies to earlier pipelined requests. `full` is the error if the buffer is full
    /// of something that cannot be consumed yet (a chunk-size line or a trailer too long).
    fn more_body(&mut self, full: &'static str) -> Result<(), Stop> {
        if self.end - self.start == self.buf.len() {
            return Err(Stop::Reply(full));
        }
        if std::mem::take(&mut self.continue_pending) {
            self.out.extend_from_slice(CONTINUE);
        }
        self.flush()?;
        match self.fill(Instant::now() + self.timeout)? {
            Fill::Data => Ok(()),
            Fill::Eof => Err(Stop::Quiet),
            Fill::TimedOut => Err(Stop::Reply(REQUEST_TIMEOUT)),
        }
    }

    /// One read into the free end of the buffer (moving unconsumed bytes to its start first if
    /// the end is full), waiting until `deadline` at most. The buffer must not be full.
    fn fill(&mut self, deadline: Instant) -> io::Result<Fill> {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        debug_assert!(self.end < self.buf.len());
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Fill::TimedOut);
            }
            self.stream.set_read_timeout(Some(left))?;
            match self.stream.read(&mut self.buf[self.end..]) {
                Ok(0) => return Ok(Fill::Eof),
                Ok(n) => {
                    self.end += n;
                    return Ok(Fill::Data);
                }
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(err) if matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Ok(Fill::TimedOut)
                }
                Err(err) => return Err(err),
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            self.stream.write_all(&self.out)?;
            self.out.clear();
        }
        Ok(())
    }

    /// Sends the queued replies, then closes so that the client gets them: shut down the write
    /// side (the client sees EOF after the last reply), read what the client still sends until
    /// it closes too (or for a moment), then close.
    fn close_gracefully(mut self) -> io::Result<()> {
        self.flush()?;
        self.stream.shutdown(Shutdown::Write)?;
        let deadline = Instant::now() + LINGER;
        let mut drained = 0;
        while drained < LINGER_BYTES {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            self.stream.set_read_timeout(Some(left))?;
            match self.stream.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => drained += n,
                Err(err) if err.kind() == ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        Ok(())
    }
}

/// The framing and connection handling a header block asks for, or the error status to reply.
fn parse_head(request: &httparse::Request<'_, '_>) -> Result<Head, &'static str> {
    let version = request.version.unwrap_or(1);
    let method = match request.method {
        Some("GET") => Method::Get,
        Some("HEAD") => Method::Head,
        Some("POST") => Method::Post,
        _ => Method::Other,
    };
    let (mut close, mut keep_alive, mut expect_continue) = (false, false, false);
    let (mut length, mut transfer_encoding, mut chunked_last) = (None, false, false);
    let mut hosts = 0;
    for header in request.headers.iter() {
        let (name, value) = (header.name, header.value);
        if name.eq_ignore_ascii_case("connection") {
            for token in list(value) {
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            // Repeats (as fields or a list) are allowed only if they all agree.
            for item in value.split(|&b| b == b',') {
                let len = parse_length(trim(item)).ok_or(BAD_REQUEST)?;
                if length.is_some_and(|seen| seen != len) {
                    return Err(BAD_REQUEST);
                }
                length = Some(len);
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            transfer_encoding = true;
            for coding in list(value) {
                // Chunked must be the last coding, and appear once.
                if chunked_last {
                    return Err(BAD_REQUEST);
                }
                chunked_last = coding.eq_ignore_ascii_case(b"chunked");
            }
        } else if name.eq_ignore_ascii_case("expect") {
            // An HTTP/1.0 client cannot know 100-continue: ignore it there.
            if version == 1 {
                if !trim(value).eq_ignore_ascii_case(b"100-continue") {
                    return Err(EXPECTATION_FAILED);
                }
                expect_continue = true;
            }
        } else if name.eq_ignore_ascii_case("host") {
            hosts += 1;
        }
    }
    if hosts > 1 || (version == 1 && hosts == 0) {
        return Err(BAD_REQUEST);
    }
    let body = if transfer_encoding {
        if version == 0 || length.is_some() || !chunked_last {
            return Err(BAD_REQUEST);
        }
        Body::Chunked
    } else {
        match length {
            None | Some(0) => Body::None,
            Some(len) => Body::Length(len),
        }
    };
    Ok(Head {
        version,
        method,
        keep_alive: if version == 1 {
            !close
        } else {
            keep_alive && !close
        },
        body,
        expect_continue,
    })
}

/// The non-empty elements of a comma-separated header value.
fn list(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim)
        .filter(|item| !item.is_empty())
}

fn trim(bytes: &[u8]) -> &[u8] {
    let is_space = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes
        .iter()
        .position(|b| !is_space(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_space(b))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// A Content-Length: decimal digits only, no sign, no overflow.
fn parse_length(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |len, &b| {
        if b.is_ascii_digit() {
            len.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// The client of the default mode: `requests` keep-alive GETs on one connection, each reply
/// checked byte for byte.
pub fn keep_alive_client(addr: SocketAddr, requests: usize) -> io::Result<()> {
    let mut client = TcpStream::connect(addr)?;
    let mut response = vec![0u8; RESPONSE.len()];
    for _ in 0..requests {
        client.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")?;
        client.read_exact(&mut response)?;
        if response != RESPONSE {
            return Err(io::Error::new(
                ErrorKind::InvalidData,
                format!("unexpected reply {:?}", String::from_utf8_lossy(&response)),
            ));
        }
    }
    Ok(())
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let serve_only = args.next().as_deref() == Some("--serve");
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:0".into());
    zsync::run(move || {
        let listener = TcpListener::bind(&addr)?;
        let local = listener.local_addr()?;
        println!("http server on http://{local}/");
        let server = zsync::spawn(move || serve(listener, Config::default()));
        if serve_only {
            let _ = server.join();
            return Ok(());
        }
        keep_alive_client(local, 1000)?;
        println!("1000 keep-alive requests answered");
        Ok(())
    })
}

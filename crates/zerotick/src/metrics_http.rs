//! `--metrics-addr`: a tiny HTTP/1.1 server on its own thread answering `GET /metrics` (and
//! `HEAD`) with the registry in the Prometheus text exposition format
//! (`text/plain; version=0.0.4`), 404 for any other path, 405 for any other method, 400 for a
//! malformed request line, 431 for a request head over [`MAX_HEAD`] bytes, 408 for a request
//! not complete within [`READ_DEADLINE`] of its connection. Every answer ends the connection
//! (`Connection: close`).
//!
//! Slow or hostile clients cannot starve a scraper or hold the process up: one thread serves up
//! to [`MAX_CONNECTIONS`] connections at once over non-blocking sockets, each with a deadline for
//! its whole request (not per read, so trickling a byte at a time does not extend it) and one for
//! writing its answer. Each poll does bounded work: at most [`MAX_ACCEPTS_PER_POLL`] new
//! connections, a request head of at most [`MAX_HEAD`] bytes and at most [`MAX_DRAIN_PER_POLL`]
//! bytes drained per connection, so a client that streams data or a flood of connects cannot
//! keep the thread in one loop. A new connection whose request has already arrived is answered
//! as it is accepted. When all slots are taken, a new connection evicts one that has sent
//! nothing yet, else one still sending its request, else one being drained, and only then one
//! being answered (the oldest of the first kind found), so a flood of connects cannot push out
//! a scraper that is being answered. The thread never blocks on a socket, so
//! [`MetricsServer::stop`] returns within one poll interval ([`MAX_POLL_SLEEP`], plus one
//! poll's bounded work) after its linger, whatever the clients do.
//!
//! It never blocks the pipeline: rendering takes the registry's internal lock, which only
//! registration and rendering take; recording through metric handles never does.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use zerotick_sync::metrics::Registry;

/// Longest request head (request line and headers) read, bytes; longer gets 431.
pub const MAX_HEAD: usize = 8 * 1024;
/// Connections served at once; one more evicts one (see the module docs for which).
pub const MAX_CONNECTIONS: usize = 32;
/// New connections accepted per poll; more wait in the listen queue for the next poll.
pub const MAX_ACCEPTS_PER_POLL: usize = 64;
/// Bytes read and discarded per poll from a connection being drained.
pub const MAX_DRAIN_PER_POLL: usize = 64 * 1024;
/// Time from accepting a connection to the end of its request head; later gets 408.
pub const READ_DEADLINE: Duration = Duration::from_secs(2);
/// Time to hand the answer to a client that does not read it, then the connection is dropped.
pub const WRITE_DEADLINE: Duration = Duration::from_secs(2);
/// After answering, unread request bytes are drained this long before closing, so that the
/// client reads the answer rather than a reset.
const DRAIN: Duration = Duration::from_millis(200);
/// Longest sleep between polls when nothing happened (bounds `stop` and accept latency).
pub const MAX_POLL_SLEEP: Duration = Duration::from_millis(10);

/// The running endpoint; [`MetricsServer::stop`] ends it.
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl MetricsServer {
    /// Binds `addr` and serves `registry` from a new thread.
    ///
    /// # Errors
    /// Binding or configuring the socket, or spawning the thread, failed.
    pub fn start(addr: &str, registry: Arc<Registry>) -> io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("zerotick-metrics".into())
            .spawn(move || Server::new(listener, registry).run(&flag))?;
        Ok(Self { addr, stop, thread })
    }

    /// The bound address (useful with port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Keeps serving for `linger` (so a scraper reads the final values), then stops: open
    /// connections are dropped. Returns within [`MAX_POLL_SLEEP`] (plus one render) after
    /// `linger`, whatever the clients do: the serving thread never blocks on a socket.
    pub fn stop(self, linger: Duration) {
        std::thread::sleep(linger);
        // Relaxed: the flag carries no data; the join below synchronises.
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

/// Where a connection is in its one request.
enum Phase {
    /// Reading the request head into `Conn::buf` until `deadline`.
    Reading { deadline: Instant },
    /// Writing `Conn::buf[sent..]` until `deadline`.
    Writing { sent: usize, deadline: Instant },
    /// Answer sent, write side shut: discarding what the client still sends until `until`.
    Draining { until: Instant },
}

/// One served connection.
struct Conn {
    stream: TcpStream,
    accepted: Instant,
    phase: Phase,
    /// The request head while reading, the answer while writing. Invariant: while reading,
    /// `buf.len() <= MAX_HEAD`.
    buf: Vec<u8>,
}

/// What one poll of a connection did.
enum Poll {
    Progress,
    Idle,
    Done,
}

/// The serving loop's state: the listener and up to [`MAX_CONNECTIONS`] connections.
struct Server {
    listener: TcpListener,
    registry: Arc<Registry>,
    conns: Vec<Conn>,
    /// Rendered metrics, reused between requests.
    body: String,
}

impl Server {
    fn new(listener: TcpListener, registry: Arc<Registry>) -> Self {
        Self {
            listener,
            registry,
            conns: Vec::with_capacity(MAX_CONNECTIONS),
            body: String::new(),
        }
    }

    fn run(mut self, stop: &AtomicBool) {
        let mut sleep = Duration::from_millis(1);
        while !stop.load(Ordering::Relaxed) {
            let mut busy = self.accept_new(stop);
            let now = Instant::now();
            let mut i = 0;
            while i < self.conns.len() {
                match self.poll(i, now) {
                    Poll::Progress => {
                        busy = true;
                        i += 1;
                    }
                    Poll::Idle => i += 1,
                    Poll::Done => {
                        busy = true;
                        self.conns.swap_remove(i);
                    }
                }
            }
            // Back off while nothing happens: 1 ms after activity, up to MAX_POLL_SLEEP.
            sleep = if busy {
                Duration::from_millis(1)
            } else {
                (sleep * 2).min(MAX_POLL_SLEEP)
            };
            std::thread::sleep(sleep);
        }
    }

    /// Accepts up to [`MAX_ACCEPTS_PER_POLL`] pending connections (none once `stop` is set),
    /// answering at once those whose request is already here; at capacity, [`Server::victim`]
    /// makes room.
    fn accept_new(&mut self, stop: &AtomicBool) -> bool {
        let mut any = false;
        for _ in 0..MAX_ACCEPTS_PER_POLL {
            // Relaxed: the flag carries no data (see `MetricsServer::stop`).
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let Ok((stream, _)) = self.listener.accept() else {
                break;
            };
            any = true;
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            let _ = stream.set_nodelay(true);
            if self.conns.len() >= MAX_CONNECTIONS
                && let Some(victim) = self.victim()
            {
                self.conns.swap_remove(victim);
            }
            let now = Instant::now();
            self.conns.push(Conn {
                stream,
                accepted: now,
                phase: Phase::Reading {
                    deadline: now + READ_DEADLINE,
                },
                buf: Vec::with_capacity(1024),
            });
            // A scraper sends its request as it connects: read and answer it now, before
            // the next connections of this round could evict it unanswered.
            let last = self.conns.len() - 1;
            if let Poll::Done = self.poll(last, now) {
                self.conns.swap_remove(last);
            }
        }
        any
    }

    /// The connection to drop for a new one: the oldest of those that have sent nothing,
    /// else of those still sending their request, else of those being drained, else of
    /// those being answered.
    fn victim(&self) -> Option<usize> {
        let rank = |c: &Conn| match c.phase {
            Phase::Reading { .. } if c.buf.is_empty() => 0,
            Phase::Reading { .. } => 1,
            Phase::Draining { .. } => 2,
            Phase::Writing { .. } => 3,
        };
        (0..self.conns.len()).min_by_key(|&i| (rank(&self.conns[i]), self.conns[i].accepted))
    }

    fn poll(&mut self, i: usize, now: Instant) -> Poll {
        let conn = &mut self.conns[i];
        match conn.phase {
            Phase::Reading { deadline } => {
                let mut chunk = [0u8; 1024];
                let mut progress = false;
                loop {
                    let room = (MAX_HEAD + 1 - conn.buf.len()).min(chunk.len());
                    match conn.stream.read(&mut chunk[..room]) {
                        Ok(0) => return Poll::Done,
                        Ok(n) => {
                            progress = true;
                            conn.buf.extend_from_slice(&chunk[..n]);
                            if head_end(&conn.buf).is_some() || conn.buf.len() > MAX_HEAD {
                                break;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => return Poll::Done,
                    }
                }
                let answer = match head_end(&conn.buf) {
                    Some(end) if end <= MAX_HEAD => {
                        let request = parse_request(&conn.buf[..end]);
                        Some(request)
                    }
                    _ if conn.buf.len() > MAX_HEAD => Some(Request::TooLarge),
                    _ if now >= deadline => Some(Request::TimedOut),
                    _ => None,
                };
                match answer {
                    Some(request) => {
                        let (conn, registry, body) =
                            (&mut self.conns[i], &self.registry, &mut self.body);
                        respond_into(&mut conn.buf, request, registry, body);
                        conn.phase = Phase::Writing {
                            sent: 0,
                            deadline: now + WRITE_DEADLINE,
                        };
                        self.poll(i, now)
                    }
                    None if progress => Poll::Progress,
                    None => Poll::Idle,
                }
            }
            Phase::Writing { sent, deadline } => {
                let mut sent = sent;
                let mut progress = false;
                while sent < conn.buf.len() {
                    match conn.stream.write(&conn.buf[sent..]) {
                        Ok(0) => return Poll::Done,
                        Ok(n) => {
                            sent += n;
                            progress = true;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => return Poll::Done,
                    }
                }
                if sent == conn.buf.len() {
                    if conn.stream.shutdown(Shutdown::Write).is_err() {
                        return Poll::Done;
                    }
                    conn.phase = Phase::Draining { until: now + DRAIN };
                    return Poll::Progress;
                }
                if now >= deadline {
                    return Poll::Done;
                }
                conn.phase = Phase::Writing { sent, deadline };
                if progress { Poll::Progress } else { Poll::Idle }
            }
            Phase::Draining { until } => {
                if now >= until {
                    return Poll::Done;
                }
                // At most MAX_DRAIN_PER_POLL bytes: a client that keeps sending gets the
                // thread for one bounded read per poll, until `until`.
                let mut chunk = [0u8; 4096];
                let mut drained = 0;
                while drained < MAX_DRAIN_PER_POLL {
                    match conn.stream.read(&mut chunk) {
                        Ok(0) => return Poll::Done,
                        Ok(n) => drained += n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => return Poll::Done,
                    }
                }
                if drained > 0 {
                    Poll::Progress
                } else {
                    Poll::Idle
                }
            }
        }
    }
}

/// The length of the request head including its blank line (`\r\n\r\n` or a bare `\n\n`).
fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    /// `GET` (body too) or `HEAD` (headers only) of `/metrics`.
    Metrics { head_only: bool },
    /// `GET` or `HEAD` of another path.
    NotFound { head_only: bool },
    /// A well-formed request with another method.
    MethodNotAllowed,
    /// The request line is not `METHOD TARGET HTTP/1.x`.
    Malformed,
    /// The head is longer than [`MAX_HEAD`].
    TooLarge,
    /// The head did not arrive within [`READ_DEADLINE`].
    TimedOut,
}

/// Reads the request line of a complete head.
fn parse_request(head: &[u8]) -> Request {
    // RFC 9112 2.2: ignore at least one empty line before the request line.
    let start = head
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(head.len());
    let head = &head[start..];
    let end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let line = head[..end].strip_suffix(b"\r").unwrap_or(&head[..end]);
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Request::Malformed;
    };
    let token = |s: &[u8]| {
        !s.is_empty()
            && s.iter()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b))
    };
    if !token(method)
        || !version.starts_with(b"HTTP/1.")
        || version.len() != 8
        || !version[7].is_ascii_digit()
        || target.is_empty()
        || !target.iter().all(|b| b.is_ascii_graphic())
    {
        return Request::Malformed;
    }
    // Origin form `/path?query`, or absolute form `http://host/path?query`.
    let path = if target.starts_with(b"/") {
        target
    } else if let Some(rest) = target.strip_prefix(b"http://") {
        let slash = rest.iter().position(|&b| b == b'/').unwrap_or(rest.len());
        &rest[slash..]
    } else if target == b"*" {
        b"*"
    } else {
        return Request::Malformed;
    };
    let path = path.split(|&b| b == b'?').next().unwrap_or_default();
    let head_only = match method {
        b"GET" => false,
        b"HEAD" => true,
        _ => return Request::MethodNotAllowed,
    };
    if path == b"/metrics" {
        Request::Metrics { head_only }
    } else {
        Request::NotFound { head_only }
    }
}

/// Writes the whole answer to `request` into `out` (replacing its contents).
fn respond_into(out: &mut Vec<u8>, request: Request, registry: &Registry, body: &mut String) {
    out.clear();
    let (status, content_type, text, head_only): (&str, &str, &[u8], bool) = match request {
        Request::Metrics { head_only } => {
            body.clear();
            registry.render_prometheus_into(body);
            (
                "200 OK",
                "text/plain; version=0.0.4; charset=utf-8",
                body.as_bytes(),
                head_only,
            )
        }
        Request::NotFound { head_only } => {
            ("404 Not Found", "text/plain", b"not found\n", head_only)
        }
        Request::MethodNotAllowed => (
            "405 Method Not Allowed",
            "text/plain",
            b"method not allowed\n",
            false,
        ),
        Request::Malformed => ("400 Bad Request", "text/plain", b"bad request\n", false),
        Request::TooLarge => (
            "431 Request Header Fields Too Large",
            "text/plain",
            b"request head too large\n",
            false,
        ),
        Request::TimedOut => (
            "408 Request Timeout",
            "text/plain",
            b"request timeout\n",
            false,
        ),
    };
    let allow = if request == Request::MethodNotAllowed {
        "Allow: GET, HEAD\r\n"
    } else {
        ""
    };
    let _ = write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{allow}Connection: close\r\n\r\n",
        text.len()
    );
    if !head_only {
        out.extend_from_slice(text);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use super::*;

    /// A server on a free loopback port with one counter at 7.
    fn server() -> MetricsServer {
        let registry = Arc::new(Registry::new());
        registry
            .counter("zerotick_test_total", "a test counter", &[])
            .expect("register")
            .add(7);
        MetricsServer::start("127.0.0.1:0", registry).expect("start")
    }

    /// Sends `request` and reads the answer to its end: (status code, whole answer).
    fn exchange(addr: SocketAddr, request: &[u8]) -> (u16, String) {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(request).expect("send");
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let text = String::from_utf8_lossy(&out).into_owned();
        let code = text
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (code, text)
    }

    /// A client that sends a request head one byte every `every`, forever, until stopped.
    fn trickler(addr: SocketAddr, every: Duration) -> (TcpStream, Arc<AtomicBool>) {
        let s = TcpStream::connect(addr).expect("connect");
        let mut w = s.try_clone().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::spawn(move || {
            let head = b"GET /metrics HTTP/1.1\r\nX-Slow: ";
            let mut i = 0;
            while !flag.load(Ordering::Relaxed) {
                let b = head.get(i).copied().unwrap_or(b'a');
                if w.write_all(&[b]).is_err() {
                    return;
                }
                i += 1;
                std::thread::sleep(every);
            }
        });
        (s, stop)
    }

    #[test]
    fn answers_by_method_path_and_shape() {
        let srv = server();
        let a = srv.addr();
        let long_header = format!(
            "GET /metrics HTTP/1.1\r\nX: {}\r\n\r\n",
            "a".repeat(MAX_HEAD)
        );
        let cases: [(&[u8], u16); 15] = [
            (b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 200),
            (b"GET /metrics?x=1 HTTP/1.0\n\n", 200),
            (b"\r\nGET http://localhost:9/metrics HTTP/1.1\r\n\r\n", 200),
            (b"GET / HTTP/1.1\r\n\r\n", 404),
            (b"GET /metricsx HTTP/1.1\r\n\r\n", 404),
            (
                b"POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\na=1",
                405,
            ),
            (b"DELETE /metrics HTTP/1.1\r\n\r\n", 405),
            (b"BOGUS\r\n\r\n", 400),
            (b"GET /metrics\r\n\r\n", 400),
            (b"GET metrics HTTP/1.1\r\n\r\n", 400),
            (b"GET /metrics HTTP/2.0\r\n\r\n", 400),
            (b"GET /metrics HTTP/1.1 extra\r\n\r\n", 400),
            (b"G\x00T /metrics HTTP/1.1\r\n\r\n", 400),
            (b"\xff\xfe\x00\x01\r\n\r\n", 400),
            (long_header.as_bytes(), 431),
        ];
        for (request, code) in cases {
            let (got, text) = exchange(a, request);
            assert_eq!(
                got,
                code,
                "{:?} -> {text}",
                String::from_utf8_lossy(request)
            );
        }
        let (_, text) = exchange(a, b"GET /metrics HTTP/1.1\r\n\r\n");
        assert!(text.contains("\r\n\r\n"), "{text}");
        assert!(text.lines().any(|l| l == "zerotick_test_total 7"), "{text}");
        let (code, text) = exchange(a, b"HEAD /metrics HTTP/1.1\r\n\r\n");
        assert_eq!(code, 200);
        assert!(
            text.ends_with("\r\n\r\n") && !text.contains("zerotick_test_total"),
            "{text}"
        );
        let (_, text) = exchange(a, b"PUT /metrics HTTP/1.1\r\n\r\n");
        assert!(text.contains("\r\nAllow: GET, HEAD\r\n"), "{text}");
        srv.stop(Duration::ZERO);
    }

    #[test]
    fn fifty_half_open_connections_do_not_delay_a_scrape() {
        let srv = server();
        let a = srv.addr();
        let mut idle: Vec<TcpStream> = (0..50)
            .map(|i| {
                let mut s = TcpStream::connect(a).expect("connect");
                if i % 2 == 1 {
                    s.write_all(b"GET /metr").unwrap();
                }
                s
            })
            .collect();
        std::thread::sleep(Duration::from_millis(50));
        for _ in 0..3 {
            let start = Instant::now();
            let (code, text) = exchange(a, b"GET /metrics HTTP/1.1\r\n\r\n");
            assert_eq!(code, 200, "{text}");
            let took = start.elapsed();
            assert!(took < Duration::from_millis(500), "scrape took {took:?}");
        }
        // Beyond MAX_CONNECTIONS the oldest were dropped to make room.
        let first = &mut idle[0];
        first
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        assert!(matches!(first.read(&mut [0u8; 64]), Ok(0) | Err(_)));
        srv.stop(Duration::ZERO);
    }

    #[test]
    fn a_trickling_client_is_cut_off_at_the_request_deadline() {
        let srv = server();
        let start = Instant::now();
        let (mut s, stop) = trickler(srv.addr(), Duration::from_millis(100));
        s.set_read_timeout(Some(READ_DEADLINE * 3)).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        let took = start.elapsed();
        stop.store(true, Ordering::Relaxed);
        let text = String::from_utf8_lossy(&out);
        assert!(
            took >= READ_DEADLINE - Duration::from_millis(50)
                && took < READ_DEADLINE + Duration::from_millis(700),
            "cut off after {took:?}: {text}"
        );
        assert!(text.starts_with("HTTP/1.1 408 "), "{text}");
        srv.stop(Duration::ZERO);
    }

    #[test]
    fn stop_returns_promptly_while_slow_clients_are_connected() {
        let srv = server();
        let a = srv.addr();
        let _idle: Vec<TcpStream> = (0..10).map(|_| TcpStream::connect(a).unwrap()).collect();
        let tricklers: Vec<_> = (0..3)
            .map(|_| trickler(a, Duration::from_millis(150)))
            .collect();
        // A client that sends its request and never reads the answer.
        let mut mute = TcpStream::connect(a).unwrap();
        mute.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let start = Instant::now();
        srv.stop(Duration::ZERO);
        let took = start.elapsed();
        for (_, stop) in &tricklers {
            stop.store(true, Ordering::Relaxed);
        }
        assert!(took < Duration::from_millis(200), "stop took {took:?}");
    }

    /// A server that no thread runs (the tests call its steps), on a free loopback port.
    fn bare_server() -> (Server, SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        (Server::new(listener, Arc::new(Registry::new())), addr)
    }

    /// Runs `f` on a thread of its own; `None` if it has not returned within `limit` (the
    /// thread is then left behind).
    fn within<T: Send + 'static>(
        limit: Duration,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(limit).ok()
    }

    #[test]
    fn a_client_streaming_after_its_request_does_not_hold_the_server() {
        let srv = server();
        let a = srv.addr();
        let mut s = TcpStream::connect(a).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        // After its request, two writers on one connection keep its receive queue full.
        for _ in 0..2 {
            let mut w = s.try_clone().unwrap();
            let flag = stop.clone();
            std::thread::spawn(move || {
                let junk = vec![b'x'; 1 << 16];
                while !flag.load(Ordering::Relaxed) && w.write_all(&junk).is_ok() {}
            });
        }
        std::thread::sleep(Duration::from_millis(100));
        // Others are served meanwhile (each exchange gives up after 5 s)...
        for _ in 0..3 {
            let (code, text) = exchange(a, b"GET /metrics HTTP/1.1\r\n\r\n");
            assert_eq!(code, 200, "{text}");
        }
        // ... and stop returns (generous limit: only a server stuck in a loop misses it).
        let stopped = within(Duration::from_secs(20), move || srv.stop(Duration::ZERO));
        stop.store(true, Ordering::Relaxed);
        assert!(stopped.is_some(), "stop did not return");
    }

    #[test]
    fn one_poll_drains_a_bounded_number_of_bytes() {
        let (mut server, a) = bare_server();
        let mut client = TcpStream::connect(a).unwrap();
        client.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
        let stop = AtomicBool::new(false);
        server.accept_new(&stop);
        let now = Instant::now();
        while matches!(
            server.conns[0].phase,
            Phase::Reading { .. } | Phase::Writing { .. }
        ) {
            assert!(!matches!(server.poll(0, now), Poll::Done));
        }
        // The client keeps sending after its request: queue as much as the sockets take.
        client.set_nonblocking(true).unwrap();
        let junk = vec![b'x'; 1 << 16];
        let mut queued = 0;
        loop {
            match client.write(&junk) {
                Ok(n) => queued += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        // One poll takes its share and leaves the rest for later polls: what the test reads
        // afterwards (until the client's data stops coming) is all but that share.
        assert!(!matches!(server.poll(0, now), Poll::Done));
        assert!(matches!(server.conns[0].phase, Phase::Draining { .. }));
        let stream = &mut server.conns[0].stream;
        stream.set_nonblocking(false).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(1)))
            .unwrap();
        let mut rest = 0;
        let mut chunk = vec![0u8; 1 << 16];
        while let Ok(n @ 1..) = stream.read(&mut chunk) {
            rest += n;
        }
        let drained = queued - rest;
        assert!(
            (1..=MAX_DRAIN_PER_POLL).contains(&drained),
            "one poll drained {drained} of {queued} bytes"
        );
    }

    #[test]
    fn a_connect_flood_does_not_hold_the_server() {
        let srv = server();
        let a = srv.addr();
        let stop = Arc::new(AtomicBool::new(false));
        let flooders: Vec<_> = (0..2)
            .map(|_| {
                let flag = stop.clone();
                std::thread::spawn(move || {
                    // Connect and hang up, at most 5,000 times (each leaves a port in
                    // TIME_WAIT; the ephemeral range is about 28,000).
                    let mut n = 0u64;
                    for _ in 0..5_000 {
                        if flag.load(Ordering::Relaxed) {
                            break;
                        }
                        n += u64::from(TcpStream::connect(a).is_ok());
                    }
                    n
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(100));
        let mut codes = Vec::new();
        for _ in 0..3 {
            codes.push(exchange(a, b"GET /metrics HTTP/1.1\r\n\r\n").0);
        }
        let stopped = within(Duration::from_secs(20), move || srv.stop(Duration::ZERO));
        stop.store(true, Ordering::Relaxed);
        let connects: u64 = flooders.into_iter().map(|t| t.join().unwrap()).sum();
        assert!(stopped.is_some(), "stop did not return");
        assert!(connects > 0);
        // Scrapes may lose to the flood now and then (the listen queue is shared); most win.
        assert!(
            codes.iter().filter(|&&c| c == 200).count() >= 1,
            "{codes:?}"
        );
    }

    #[test]
    fn one_poll_accepts_a_bounded_number_of_connections_and_none_once_stopping() {
        let (mut server, a) = bare_server();
        let pending = MAX_ACCEPTS_PER_POLL + 36;
        let _clients: Vec<TcpStream> = (0..pending)
            .map(|_| TcpStream::connect(a).unwrap())
            .collect();
        let stop = AtomicBool::new(true);
        assert!(!server.accept_new(&stop), "accepted while stopping");
        stop.store(false, Ordering::Relaxed);
        assert!(server.accept_new(&stop));
        let mut left = 0;
        while server.listener.accept().is_ok() {
            left += 1;
        }
        assert_eq!(left, pending - MAX_ACCEPTS_PER_POLL);
    }

    #[test]
    fn a_connect_burst_does_not_evict_a_scraper_before_it_is_answered() {
        let (mut server, a) = bare_server();
        // The scraper connects and sends its request first; a burst of silent connections
        // (more than there are slots) lands before the server's next poll.
        let mut scraper = TcpStream::connect(a).unwrap();
        scraper.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
        let _burst: Vec<TcpStream> = (0..MAX_CONNECTIONS + 8)
            .map(|_| TcpStream::connect(a).unwrap())
            .collect();
        let stop = AtomicBool::new(false);
        // One round of the serving loop.
        server.accept_new(&stop);
        let now = Instant::now();
        let mut i = 0;
        while i < server.conns.len() {
            match server.poll(i, now) {
                Poll::Done => drop(server.conns.swap_remove(i)),
                _ => i += 1,
            }
        }
        scraper
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut out = Vec::new();
        let _ = scraper.read_to_end(&mut out);
        let text = String::from_utf8_lossy(&out);
        assert!(text.starts_with("HTTP/1.1 200 "), "{text:?}");
    }

    #[test]
    fn eviction_spares_connections_being_answered() {
        let (mut server, a) = bare_server();
        let _clients: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(a).unwrap()).collect();
        let stop = AtomicBool::new(false);
        server.accept_new(&stop);
        assert_eq!(server.conns.len(), 4);
        let t0 = Instant::now();
        let far = t0 + Duration::from_secs(60);
        // Oldest first: being answered, being drained, sending its request, silent.
        server.conns[0].phase = Phase::Writing {
            sent: 0,
            deadline: far,
        };
        server.conns[0].buf = b"HTTP/1.1 200 OK\r\n".to_vec();
        server.conns[1].phase = Phase::Draining { until: far };
        server.conns[2].buf = b"GET /met".to_vec();
        for (k, c) in server.conns.iter_mut().enumerate() {
            c.accepted = t0 + Duration::from_millis(k as u64);
        }
        let mut order = Vec::new();
        while let Some(v) = server.victim() {
            order.push(server.conns[v].accepted - t0);
            server.conns.swap_remove(v);
        }
        let ms = |k| Duration::from_millis(k);
        assert_eq!(order, [ms(3), ms(2), ms(1), ms(0)]);
    }
}

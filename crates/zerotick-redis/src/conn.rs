//! [`Connection`]: one TCP connection to a Redis server, with pipelining (queue many commands,
//! send them in one write, read the replies in order), timeouts and typed errors.

use core::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use zerotick_core::endpoint::split_url;

use crate::resp::{Encoder, Parser, RespError, Value};

/// Largest reply buffered, bytes; a larger reply is an error, not an out-of-memory.
pub const MAX_REPLY: usize = 1 << 30;

/// What went wrong talking to Redis.
#[derive(Debug)]
pub enum RedisError {
    /// Connecting, reading or writing failed (includes timeouts).
    Io(io::Error),
    /// The server closed the connection.
    Closed,
    /// The server sent bytes that are not RESP2.
    Protocol(RespError),
    /// A reply larger than [`MAX_REPLY`].
    ReplyTooLarge,
    /// The server answered with an error reply (the message, lossily decoded).
    Server(String),
    /// A well-formed reply of the wrong shape for the command.
    Unexpected(&'static str),
    /// A `redis://` address that cannot be used.
    BadUrl(String),
    /// A stored checkpoint that cannot be resumed from (corrupt, another format version,
    /// another shard set, a stream trimmed past it): the message names the key. Deleting
    /// the key (`DEL`) starts the group over from the streams' start.
    Checkpoint(String),
    /// A consumer standing by for another consumer's lease of its shards was told to stop
    /// waiting (for example by Ctrl-C).
    Standby(String),
}

impl RedisError {
    /// Whether the connection is unusable afterwards (reconnect and retry), as opposed to an
    /// answer the server gave on a healthy connection.
    pub fn is_connection(&self) -> bool {
        matches!(
            self,
            RedisError::Io(_) | RedisError::Closed | RedisError::Protocol(_)
        )
    }

    /// Whether retrying on a new connection may succeed: [`RedisError::is_connection`], or a
    /// server that is still loading its data after a restart (`LOADING`), busy with a script
    /// (`BUSY`) or asks to try again (`TRYAGAIN`).
    pub fn is_transient(&self) -> bool {
        self.is_connection()
            || self.is_server("LOADING")
            || self.is_server("BUSY ")
            || self.is_server("TRYAGAIN")
    }

    /// Whether this is a server error reply starting with `prefix` (e.g. `NOGROUP`).
    pub fn is_server(&self, prefix: &str) -> bool {
        matches!(self, RedisError::Server(m) if m.starts_with(prefix))
    }
}

impl fmt::Display for RedisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisError::Io(e) => write!(f, "redis connection: {e}"),
            RedisError::Closed => f.write_str("redis closed the connection"),
            RedisError::Protocol(e) => write!(f, "redis protocol: {e}"),
            RedisError::ReplyTooLarge => write!(f, "redis reply larger than {MAX_REPLY} bytes"),
            RedisError::Server(m) => write!(f, "redis: {m}"),
            RedisError::Unexpected(what) => write!(f, "redis: unexpected reply to {what}"),
            RedisError::BadUrl(u) => write!(f, "bad redis address: {u}"),
            RedisError::Checkpoint(m) => write!(f, "checkpoint {m}"),
            RedisError::Standby(m) => write!(f, "redis feed: {m}"),
        }
    }
}

impl std::error::Error for RedisError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RedisError::Io(e) => Some(e),
            RedisError::Protocol(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for RedisError {
    fn from(e: io::Error) -> Self {
        RedisError::Io(e)
    }
}

impl From<RedisError> for io::Error {
    fn from(e: RedisError) -> Self {
        match e {
            RedisError::Io(e) => e,
            other => io::Error::other(other),
        }
    }
}

/// `redis://HOST:PORT/STREAM`, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or address.
    pub host: String,
    /// TCP port (6379 when the URL has none).
    pub port: u16,
    /// Stream (base) name: the path after the first `/`.
    pub stream: String,
}

impl Endpoint {
    /// Parses `redis://HOST[:PORT]/STREAM`.
    ///
    /// # Errors
    /// [`RedisError::BadUrl`] when the scheme, port or stream name is missing or invalid.
    pub fn parse(url: &str) -> Result<Self, RedisError> {
        let bad = |why: &str| RedisError::BadUrl(format!("{url:?}: {why}"));
        let (host, port, stream) =
            split_url(url, "redis", 6379, "STREAM").map_err(|why| bad(&why))?;
        if stream.is_empty() || stream.contains(|c: char| c.is_whitespace() || c.is_control()) {
            return Err(bad("empty stream name or one with whitespace"));
        }
        Ok(Self {
            host: host.to_owned(),
            port,
            stream: stream.to_owned(),
        })
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "redis://{}:{}/{}", self.host, self.port, self.stream)
    }
}

/// One connection. Commands are queued with [`Connection::encoder`], sent by
/// [`Connection::send`], and their replies read in order by [`Connection::read_reply`].
///
/// Allocates only while its buffers grow to the largest batch and reply seen.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    out: Encoder,
    /// Received bytes; `inbuf[used..filled]` is not yet parsed.
    inbuf: Vec<u8>,
    used: usize,
    filled: usize,
    parser: Parser,
    /// Replies owed for commands already sent.
    owed: usize,
    read_timeout: Duration,
}

impl Connection {
    /// Connects with `timeout` for the connection and every read and write.
    ///
    /// # Errors
    /// [`RedisError::Io`] when no address of `host` accepts the connection in time.
    pub fn connect(host: &str, port: u16, timeout: Duration) -> Result<Self, RedisError> {
        let mut last = None;
        for addr in (host, port).to_socket_addrs()? {
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(stream) => {
                    stream.set_nodelay(true)?;
                    stream.set_read_timeout(Some(timeout))?;
                    stream.set_write_timeout(Some(timeout))?;
                    return Ok(Self {
                        stream,
                        out: Encoder::new(),
                        inbuf: vec![0; 64 * 1024],
                        used: 0,
                        filled: 0,
                        parser: Parser::new(),
                        owed: 0,
                        read_timeout: timeout,
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        Err(RedisError::Io(last.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("{host}: no address"))
        })))
    }

    /// Sets the read timeout (e.g. longer than a `BLOCK` argument).
    ///
    /// # Errors
    /// [`RedisError::Io`] if the socket refuses it.
    pub fn set_read_timeout(&mut self, timeout: Duration) -> Result<(), RedisError> {
        if timeout != self.read_timeout {
            self.stream.set_read_timeout(Some(timeout))?;
            self.read_timeout = timeout;
        }
        Ok(())
    }

    /// The queue of commands not yet sent.
    pub fn encoder(&mut self) -> &mut Encoder {
        &mut self.out
    }

    /// Writes every queued command in one go.
    ///
    /// # Errors
    /// [`RedisError::Io`] when the write fails or times out.
    pub fn send(&mut self) -> Result<(), RedisError> {
        if self.out.is_empty() {
            return Ok(());
        }
        self.stream.write_all(self.out.as_bytes())?;
        self.owed += self.out.commands();
        self.out.clear();
        Ok(())
    }

    /// Writes commands encoded elsewhere (`commands` of them) without touching the queue.
    ///
    /// # Errors
    /// [`RedisError::Io`] when the write fails or times out.
    pub fn send_encoded(&mut self, e: &Encoder) -> Result<(), RedisError> {
        self.stream.write_all(e.as_bytes())?;
        self.owed += e.commands();
        Ok(())
    }

    /// Writes `commands` commands already encoded as `bytes` (e.g. the unconfirmed tail of
    /// a batch, sent again after a reconnection).
    ///
    /// # Errors
    /// [`RedisError::Io`] when the write fails or times out.
    pub fn send_raw(&mut self, bytes: &[u8], commands: usize) -> Result<(), RedisError> {
        self.stream.write_all(bytes)?;
        self.owed += commands;
        Ok(())
    }

    /// Replies still owed for commands sent.
    pub fn owed(&self) -> usize {
        self.owed
    }

    /// Reads the next reply. Error replies are returned as values (`Value::error`); see
    /// [`Connection::read_ok`] for commands where an error reply is an error.
    ///
    /// # Errors
    /// [`RedisError`] for I/O failure, timeout, a closed connection or bytes that are not RESP.
    pub fn read_reply(&mut self) -> Result<Value<'_>, RedisError> {
        debug_assert!(self.owed > 0, "reading a reply no command asked for");
        if self.used > 0 {
            self.inbuf.copy_within(self.used..self.filled, 0);
            self.filled -= self.used;
            self.used = 0;
        }
        loop {
            match self
                .parser
                .parse(&self.inbuf[..self.filled])
                .map_err(RedisError::Protocol)?
            {
                Some(n) => {
                    self.used = n;
                    self.owed = self.owed.saturating_sub(1);
                    return Ok(self.parser.reply(&self.inbuf[..n]));
                }
                None => {
                    if self.filled == self.inbuf.len() {
                        if self.inbuf.len() >= MAX_REPLY {
                            return Err(RedisError::ReplyTooLarge);
                        }
                        let grown = (self.inbuf.len() * 2).min(MAX_REPLY);
                        self.inbuf.resize(grown, 0);
                    }
                    let n = self.stream.read(&mut self.inbuf[self.filled..])?;
                    if n == 0 {
                        return Err(RedisError::Closed);
                    }
                    self.filled += n;
                }
            }
        }
    }

    /// Reads the next reply and turns an error reply into [`RedisError::Server`].
    ///
    /// # Errors
    /// As [`Connection::read_reply`], plus [`RedisError::Server`].
    pub fn read_ok(&mut self) -> Result<Value<'_>, RedisError> {
        let v = self.read_reply()?;
        match v.error() {
            Some(m) => Err(RedisError::Server(String::from_utf8_lossy(m).into_owned())),
            None => Ok(v),
        }
    }

    /// Sends the queue and reads the one reply of a single queued command.
    ///
    /// # Errors
    /// As [`Connection::read_ok`].
    pub fn call(&mut self) -> Result<Value<'_>, RedisError> {
        debug_assert_eq!(self.out.commands(), 1);
        self.send()?;
        self.read_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(
            Endpoint::parse("redis://127.0.0.1:7000/ticks").unwrap(),
            Endpoint {
                host: "127.0.0.1".into(),
                port: 7000,
                stream: "ticks".into()
            }
        );
        assert_eq!(Endpoint::parse("redis://h/a/b").unwrap().stream, "a/b");
        assert_eq!(Endpoint::parse("redis://h/s").unwrap().port, 6379);
        for bad in [
            "http://h/s",
            "redis://h:x/s",
            "redis://h:1",
            "redis:///s",
            "redis://h:1/",
            "redis://h:99999/s",
            "redis://h/a b",
        ] {
            assert!(
                matches!(Endpoint::parse(bad), Err(RedisError::BadUrl(_))),
                "{bad}"
            );
        }
    }

    /// A fake server that answers with `reply` split into single bytes, then closes.
    #[test]
    fn split_reads_and_closed_connection() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut cmd = [0u8; 14];
            s.read_exact(&mut cmd).unwrap();
            assert_eq!(&cmd, b"*1\r\n$4\r\nPING\r\n");
            for b in b"+PONG\r\n-ERR x\r\n*1\r\n:5\r\n".iter() {
                s.write_all(&[*b]).unwrap();
                s.flush().unwrap();
            }
            s.write_all(b"$5\r\nab").unwrap();
        });
        let mut c = Connection::connect("127.0.0.1", port, Duration::from_secs(5)).unwrap();
        c.encoder().begin(1).arg(b"PING");
        c.owed = 0;
        c.send().unwrap();
        c.owed = 4; // as if four commands were sent
        assert_eq!(c.read_reply().unwrap().bytes(), Some(&b"PONG"[..]));
        assert!(matches!(c.read_ok(), Err(RedisError::Server(m)) if m == "ERR x"));
        assert_eq!(c.read_reply().unwrap().get(0).unwrap().int(), Some(5));
        server.join().unwrap();
        let e = c.read_reply().unwrap_err();
        assert!(matches!(e, RedisError::Closed), "{e}");
        assert!(e.is_connection());
    }

    #[test]
    fn garbage_from_the_server_is_a_protocol_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").unwrap();
            std::thread::sleep(Duration::from_millis(100));
        });
        let mut c = Connection::connect("127.0.0.1", port, Duration::from_secs(5)).unwrap();
        c.owed = 1;
        let e = c.read_reply().unwrap_err();
        assert!(
            matches!(e, RedisError::Protocol(RespError::BadTag(b'H'))),
            "{e}"
        );
        server.join().unwrap();
    }

    #[test]
    fn read_timeout_is_an_io_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut c = Connection::connect("127.0.0.1", port, Duration::from_millis(50)).unwrap();
        c.owed = 1;
        let e = c.read_reply().unwrap_err();
        assert!(matches!(e, RedisError::Io(_)), "{e}");
        assert!(e.is_connection());
        drop(listener);
    }
}

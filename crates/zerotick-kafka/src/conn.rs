//! [`Connection`]: one TCP connection to a Kafka broker (a request at a time, correlated,
//! with timeouts), the typed [`KafkaError`], and the `kafka://` [`Endpoint`].

use core::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use zerotick_core::endpoint::split_url;

use crate::wire::{Reader, WireError, Writer};

/// Largest response buffered, bytes; a larger one is an error, not an out-of-memory.
pub const MAX_RESPONSE: usize = 256 << 20;

/// The client id sent with every request.
pub const CLIENT_ID: &str = "zerotick";

/// What went wrong talking to Kafka.
#[derive(Debug)]
pub enum KafkaError {
    /// Connecting, reading or writing failed (includes timeouts).
    Io(io::Error),
    /// The broker closed the connection.
    Closed,
    /// The broker sent bytes that do not decode.
    Wire(WireError),
    /// A response larger than [`MAX_RESPONSE`].
    ResponseTooLarge,
    /// The broker answered with an error code.
    Broker {
        /// The request (e.g. `Produce`) and, where it applies, the topic or group.
        what: &'static str,
        /// Kafka's error code ([`error_name`] names it).
        code: i16,
    },
    /// A well-formed response of the wrong shape (e.g. a partition we did not ask for).
    Unexpected(&'static str),
    /// A `kafka://` address or option that cannot be used.
    BadUrl(String),
    /// Something this client does not do (e.g. a compressed record batch), said in words.
    Unsupported(String),
}

impl KafkaError {
    /// Whether the connection is unusable afterwards (reconnect and retry).
    pub fn is_connection(&self) -> bool {
        matches!(
            self,
            KafkaError::Io(_) | KafkaError::Closed | KafkaError::Wire(_)
        )
    }

    /// Whether retrying (after a metadata refresh or on a new connection) may succeed: a
    /// connection problem, or an error code Kafka marks retriable (leader moved, coordinator
    /// loading or moved, timeouts, not enough replicas, ...).
    pub fn is_transient(&self) -> bool {
        match self {
            KafkaError::Broker { code, .. } => is_retriable(*code),
            other => other.is_connection(),
        }
    }

    /// The broker's error code, if this is a broker error.
    pub fn code(&self) -> Option<i16> {
        match self {
            KafkaError::Broker { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// Error codes of the Kafka protocol this client acts on.
pub mod code {
    /// The fetch offset is outside the partition's log.
    pub const OFFSET_OUT_OF_RANGE: i16 = 1;
    /// The topic or partition does not exist (yet).
    pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
    /// The group coordinator is loading its state.
    pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
    /// No coordinator is available for the group.
    pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
    /// This broker is not the group's coordinator.
    pub const NOT_COORDINATOR: i16 = 16;
    /// The member's generation is not the group's.
    pub const ILLEGAL_GENERATION: i16 = 22;
    /// The group does not know the member.
    pub const UNKNOWN_MEMBER_ID: i16 = 25;
    /// The group is rebalancing: rejoin.
    pub const REBALANCE_IN_PROGRESS: i16 = 27;
    /// The topic exists already.
    pub const TOPIC_ALREADY_EXISTS: i16 = 36;
    /// The broker has a newer sequence for this producer and partition: already written.
    pub const DUPLICATE_SEQUENCE_NUMBER: i16 = 46;
    /// A first JoinGroup: rejoin with the member id the broker gave.
    pub const MEMBER_ID_REQUIRED: i16 = 79;
}

/// Whether Kafka marks error `code` retriable.
pub fn is_retriable(code: i16) -> bool {
    matches!(
        code,
        3 | 5 | 6 | 7 | 13 | 14 | 15 | 16 | 19 | 20 | 56 | 74 | 75 | 78 | 80 | 89
    )
}

/// Kafka's name of error `code` (the common ones; others are `error N`).
pub fn error_name(code: i16) -> &'static str {
    match code {
        -1 => "UNKNOWN_SERVER_ERROR",
        1 => "OFFSET_OUT_OF_RANGE",
        2 => "CORRUPT_MESSAGE",
        3 => "UNKNOWN_TOPIC_OR_PARTITION",
        5 => "LEADER_NOT_AVAILABLE",
        6 => "NOT_LEADER_OR_FOLLOWER",
        7 => "REQUEST_TIMED_OUT",
        10 => "MESSAGE_TOO_LARGE",
        13 => "NETWORK_EXCEPTION",
        14 => "COORDINATOR_LOAD_IN_PROGRESS",
        15 => "COORDINATOR_NOT_AVAILABLE",
        16 => "NOT_COORDINATOR",
        17 => "INVALID_TOPIC_EXCEPTION",
        19 => "NOT_ENOUGH_REPLICAS",
        22 => "ILLEGAL_GENERATION",
        23 => "INCONSISTENT_GROUP_PROTOCOL",
        24 => "INVALID_GROUP_ID",
        25 => "UNKNOWN_MEMBER_ID",
        26 => "INVALID_SESSION_TIMEOUT",
        27 => "REBALANCE_IN_PROGRESS",
        29 => "TOPIC_AUTHORIZATION_FAILED",
        30 => "GROUP_AUTHORIZATION_FAILED",
        35 => "UNSUPPORTED_VERSION",
        36 => "TOPIC_ALREADY_EXISTS",
        37 => "INVALID_PARTITIONS",
        45 => "OUT_OF_ORDER_SEQUENCE_NUMBER",
        46 => "DUPLICATE_SEQUENCE_NUMBER",
        47 => "INVALID_PRODUCER_EPOCH",
        59 => "UNKNOWN_PRODUCER_ID",
        79 => "MEMBER_ID_REQUIRED",
        _ => "error",
    }
}

impl fmt::Display for KafkaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KafkaError::Io(e) => write!(f, "kafka connection: {e}"),
            KafkaError::Closed => f.write_str("kafka broker closed the connection"),
            KafkaError::Wire(e) => write!(f, "kafka protocol: {e}"),
            KafkaError::ResponseTooLarge => {
                write!(f, "kafka response larger than {MAX_RESPONSE} bytes")
            }
            KafkaError::Broker { what, code } => {
                write!(f, "kafka {what}: {} ({code})", error_name(*code))
            }
            KafkaError::Unexpected(what) => write!(f, "kafka: unexpected response to {what}"),
            KafkaError::BadUrl(u) => write!(f, "bad kafka address: {u}"),
            KafkaError::Unsupported(what) => write!(f, "kafka: not supported: {what}"),
        }
    }
}

impl std::error::Error for KafkaError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            KafkaError::Io(e) => Some(e),
            KafkaError::Wire(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for KafkaError {
    fn from(e: io::Error) -> Self {
        KafkaError::Io(e)
    }
}

impl From<WireError> for KafkaError {
    fn from(e: WireError) -> Self {
        KafkaError::Wire(e)
    }
}

impl From<KafkaError> for io::Error {
    fn from(e: KafkaError) -> Self {
        match e {
            KafkaError::Io(e) => e,
            other => io::Error::other(other),
        }
    }
}

/// `Err(Broker)` unless `code` is 0.
pub fn check(what: &'static str, code: i16) -> Result<(), KafkaError> {
    if code == 0 {
        Ok(())
    } else {
        Err(KafkaError::Broker { what, code })
    }
}

/// `kafka://HOST:PORT/TOPIC`, split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Host name or address of the bootstrap broker.
    pub host: String,
    /// TCP port (9092 when the URL has none).
    pub port: u16,
    /// Topic name.
    pub topic: String,
}

impl Endpoint {
    /// Parses `kafka://HOST[:PORT]/TOPIC`. A topic name is 1 to 244 characters of
    /// `[A-Za-z0-9._-]`, as Kafka requires (249 at most, less room for `.dead`).
    ///
    /// ```
    /// let ep = zerotick_kafka::Endpoint::parse("kafka://127.0.0.1:9092/ticks").unwrap();
    /// assert_eq!((ep.host.as_str(), ep.port, ep.topic.as_str()), ("127.0.0.1", 9092, "ticks"));
    /// assert!(zerotick_kafka::Endpoint::parse("kafka://host:x/ticks").is_err());
    /// ```
    ///
    /// # Errors
    /// [`KafkaError::BadUrl`] when the scheme, port or topic is missing or invalid.
    pub fn parse(url: &str) -> Result<Self, KafkaError> {
        let bad = |why: &str| KafkaError::BadUrl(format!("{url:?}: {why}"));
        let (host, port, topic) =
            split_url(url, "kafka", 9092, "TOPIC").map_err(|why| bad(&why))?;
        if !valid_topic(topic) {
            return Err(bad(
                "the topic must be 1 to 244 characters of letters, digits, '.', '_' and '-'",
            ));
        }
        Ok(Self {
            host: host.to_owned(),
            port,
            topic: topic.to_owned(),
        })
    }
}

/// Whether `t` is a legal Kafka topic name (the dead-letter topic `t.dead` must be too, so
/// at most 244 characters leave room for it).
pub fn valid_topic(t: &str) -> bool {
    (1..=244).contains(&t.len())
        && t != "."
        && t != ".."
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "kafka://{}:{}/{}", self.host, self.port, self.topic)
    }
}

/// One connection to a broker: a request at a time, each answered before the next is sent.
#[derive(Debug)]
pub struct Connection {
    stream: TcpStream,
    out: Writer,
    /// Where the size of the request being written sits in `out`.
    frame: usize,
    inb: Vec<u8>,
    correlation: i32,
    timeout: Duration,
}

impl Connection {
    /// Connects to `host:port` with `timeout` for the connect and every read and write.
    ///
    /// # Errors
    /// [`KafkaError::Io`] if no address of `host` accepts a connection in time.
    pub fn connect(host: &str, port: u16, timeout: Duration) -> Result<Self, KafkaError> {
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
        for addr in (host, port).to_socket_addrs()? {
            match TcpStream::connect_timeout(&addr, timeout) {
                Ok(stream) => {
                    stream.set_nodelay(true)?;
                    stream.set_read_timeout(Some(timeout))?;
                    stream.set_write_timeout(Some(timeout))?;
                    return Ok(Self {
                        stream,
                        out: Writer::with_capacity(1 << 16),
                        frame: 0,
                        inb: Vec::with_capacity(1 << 16),
                        correlation: 0,
                        timeout,
                    });
                }
                Err(e) => last = e,
            }
        }
        Err(KafkaError::Io(last))
    }

    /// Starts request `api_key` at `version`; write its body into the returned writer and
    /// send it with [`Connection::call`].
    pub fn request(&mut self, api_key: i16, version: i16) -> &mut Writer {
        self.out.clear();
        self.correlation = self.correlation.wrapping_add(1);
        self.frame = self
            .out
            .begin_request(api_key, version, self.correlation, CLIENT_ID);
        &mut self.out
    }

    /// Sends the request begun with [`Connection::request`] and reads its response; the
    /// reader starts after the response header. `wait` is added to the read timeout (a
    /// fetch or a join that the broker holds open).
    ///
    /// # Errors
    /// [`KafkaError`] for I/O, a closed connection, a response with another correlation id
    /// or one larger than [`MAX_RESPONSE`].
    pub fn call(&mut self, wait: Duration) -> Result<Reader<'_>, KafkaError> {
        self.out.end_request(self.frame);
        self.stream.set_read_timeout(Some(self.timeout + wait))?;
        self.stream.write_all(self.out.as_bytes())?;
        let mut size = [0u8; 4];
        read_exact(&mut self.stream, &mut size)?;
        let size = i32::from_be_bytes(size);
        if size < 4 {
            return Err(KafkaError::Wire(WireError("response size")));
        }
        let size = size as usize;
        if size > MAX_RESPONSE {
            return Err(KafkaError::ResponseTooLarge);
        }
        self.inb.resize(size, 0);
        read_exact(&mut self.stream, &mut self.inb)?;
        let mut r = Reader::new(&self.inb);
        if r.i32()? != self.correlation {
            return Err(KafkaError::Unexpected("correlation id"));
        }
        Ok(r)
    }
}

fn read_exact(s: &mut TcpStream, buf: &mut [u8]) -> Result<(), KafkaError> {
    match s.read_exact(buf) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(KafkaError::Closed),
        Err(e) => Err(KafkaError::Io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_or_say_why_not() {
        let ep = Endpoint::parse("kafka://broker/t.1-x_y").unwrap();
        assert_eq!(ep.port, 9092);
        assert_eq!(ep.to_string(), "kafka://broker:9092/t.1-x_y");
        for bad in [
            "redis://h:1/t",
            "kafka://h:1",
            "kafka://h:1/",
            "kafka://:1/t",
            "kafka://h:0/t",
            "kafka://h:99999/t",
            "kafka://h:1/a b",
            "kafka://h:1/a/b",
            "kafka://h:1/..",
        ] {
            let e = Endpoint::parse(bad).unwrap_err();
            assert!(e.to_string().starts_with("bad kafka address"), "{bad}: {e}");
        }
        assert!(!valid_topic(&"x".repeat(245)));
    }

    #[test]
    fn broker_errors_name_their_code() {
        let e = KafkaError::Broker {
            what: "JoinGroup",
            code: code::REBALANCE_IN_PROGRESS,
        };
        assert_eq!(e.to_string(), "kafka JoinGroup: REBALANCE_IN_PROGRESS (27)");
        assert!(!e.is_transient());
        assert!(
            KafkaError::Broker {
                what: "Fetch",
                code: 6
            }
            .is_transient()
        );
        assert!(KafkaError::Closed.is_transient());
    }
}

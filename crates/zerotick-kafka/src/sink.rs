//! [`KafkaSink`]: signals written to a topic, keyed by symbol name.
//!
//! | value bytes | field |
//! |---|---|
//! | 0 | layout version, `1` |
//! | 1..9 | `ts`: the signal's exchange timestamp, ns, `u64` big-endian |
//! | 9..17 | `value`: `f64` big-endian |

use std::io;
use std::sync::Arc;
use std::time::Duration;

use zerotick_core::symbols::SymbolNames;
use zerotick_core::{Signal, Sink};

use crate::client::Client;
use crate::conn::KafkaError;
use crate::produce::{Producer, now_ms};
use crate::record::partition_of;

/// Symbol names a sink holds before its name table must grow.
pub const NAMES_RESERVED: usize = 4096;
/// Signals buffered before a write even without a flush.
pub const FLUSH_SIGNALS: usize = 8192;
/// Bytes of a signal's value.
pub const SIGNAL_VALUE_LEN: usize = 17;

/// A signal's 17-byte value (layout in the module docs).
pub fn signal_value(s: &Signal) -> [u8; SIGNAL_VALUE_LEN] {
    let mut v = [0u8; SIGNAL_VALUE_LEN];
    v[0] = 1;
    v[1..9].copy_from_slice(&s.ts_ns.to_be_bytes());
    v[9..17].copy_from_slice(&s.value.to_bits().to_be_bytes());
    v
}

/// Signals to a topic (created with one partition if absent): key = symbol name, partition
/// [`partition_of`] the name, value as in the module docs.
///
/// `emit` only encodes into the partition's batch; `flush` (and a full buffer) writes and
/// waits for the acknowledgement, retrying through transient failures (idempotent where
/// the broker grants a producer id, else at-least-once).
#[derive(Debug)]
pub struct KafkaSink {
    client: Client,
    producer: Producer,
    names: SymbolNames,
    /// Names known to this sink. Capacity [`NAMES_RESERVED`].
    local: Vec<Arc<str>>,
    /// Partition of each symbol index seen (`-1`: not computed yet).
    partition_by_symbol: Vec<i32>,
    ts_ms: i64,
}

impl KafkaSink {
    /// Connects to `host:port`; signals go to `topic`.
    ///
    /// # Errors
    /// [`KafkaError`] if the broker cannot be reached or the topic cannot be created.
    pub fn connect(
        host: &str,
        port: u16,
        topic: &str,
        names: SymbolNames,
        give_up: Duration,
    ) -> Result<Self, KafkaError> {
        let mut client = Client::connect(host, port, Duration::from_secs(10))?;
        let producer = Producer::new(&mut client, topic, 1, give_up)?;
        Ok(Self {
            client,
            producer,
            local: {
                let mut local = Vec::with_capacity(NAMES_RESERVED);
                names.refresh(&mut local);
                local
            },
            names,
            partition_by_symbol: vec![-1; NAMES_RESERVED],
            ts_ms: now_ms(),
        })
    }

    /// Produce requests sent again after a failure.
    pub fn retries(&self) -> u64 {
        self.producer.retries()
    }

    #[cold]
    #[inline(never)]
    fn refresh_names(&mut self) {
        self.names.refresh(&mut self.local);
    }
}

impl Sink for KafkaSink {
    #[inline]
    fn emit(&mut self, s: &Signal) -> io::Result<()> {
        let i = s.symbol as usize;
        if i >= self.local.len() {
            self.refresh_names();
        }
        let mut digits = [0u8; 10];
        let key: &[u8] = match self.local.get(i) {
            Some(name) => name.as_bytes(),
            None => decimal(s.symbol, &mut digits),
        };
        if i >= self.partition_by_symbol.len() {
            self.partition_by_symbol.resize(i + 1, -1);
        }
        if self.partition_by_symbol[i] < 0 {
            // Only a named symbol's partition is kept (a name may arrive later).
            let p = partition_of(
                std::str::from_utf8(key).unwrap_or(""),
                self.producer.partitions(),
            );
            if self.local.get(i).is_some() {
                self.partition_by_symbol[i] = p;
            }
            self.producer
                .push(p, self.ts_ms, Some(key), Some(&signal_value(s)), &[]);
        } else {
            let p = self.partition_by_symbol[i];
            self.producer
                .push(p, self.ts_ms, Some(key), Some(&signal_value(s)), &[]);
        }
        if self.producer.queued() >= FLUSH_SIGNALS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.producer
            .flush(&mut self.client)
            .map_err(io::Error::from)?;
        self.ts_ms = now_ms();
        Ok(())
    }
}

/// `v` in decimal, into `buf`.
fn decimal(mut v: u32, buf: &mut [u8; 10]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            return &buf[i..];
        }
    }
}

impl From<KafkaError> for zerotick_core::FeedError {
    fn from(e: KafkaError) -> Self {
        zerotick_core::FeedError::Io(e.into())
    }
}

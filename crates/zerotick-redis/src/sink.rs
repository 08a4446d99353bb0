//! [`RedisSink`]: signals appended to a stream with pipelined `XADD`s.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use zerotick_core::symbols::SymbolNames;
use zerotick_core::{Signal, Sink};

use crate::Backoff;
use crate::conn::{Connection, RedisError};
use crate::resp::Encoder;

/// Symbol names a sink holds before its name table must grow.
pub const NAMES_RESERVED: usize = 4096;

/// Buffered commands that trigger a send even without a flush, bytes.
pub const FLUSH_BYTES: usize = 256 * 1024;
/// Bytes reserved up front for the command buffer (a flush happens at [`FLUSH_BYTES`], and
/// one command is far smaller than the difference).
const BUF_RESERVED: usize = 2 * FLUSH_BYTES;

/// The deduplicating append ([`RedisSink::with_dedup`]): `KEYS[1]` the signal stream,
/// `KEYS[2]` the hash of each symbol's last sequence number, `KEYS[3]` the epoch the hash
/// belongs to; `ARGV` symbol, seq, ts, value, maxlen (empty: none), epoch. A hash of another
/// epoch is emptied first (its sequence numbers count another incarnation of the feed).
/// Appends and records the signal only if `seq` is above the symbol's last one; answers 1 if
/// appended, 0 if it was a duplicate. Atomic (a script runs alone), so a batch sent again
/// after a lost reply appends nothing twice.
const DEDUP_SCRIPT: &[u8] = b"if redis.call('GET', KEYS[3]) ~= ARGV[6] then \
redis.call('DEL', KEYS[2]) redis.call('SET', KEYS[3], ARGV[6]) end \
local last = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0') \
local seq = tonumber(ARGV[2]) \
if seq <= last then return 0 end \
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]) \
if ARGV[5] ~= '' then \
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[5], '*', 'ts', ARGV[3], 'symbol', ARGV[1], \
'value', ARGV[4], 'seq', ARGV[2]) \
else \
redis.call('XADD', KEYS[1], '*', 'ts', ARGV[3], 'symbol', ARGV[1], 'value', ARGV[4], \
'seq', ARGV[2]) \
end \
return 1";

/// The keys and epoch of a deduplicating sink.
#[derive(Debug)]
struct Dedup {
    hash: Vec<u8>,
    epoch_key: Vec<u8>,
    epoch: Vec<u8>,
}

/// Signals to `XADD STREAM [MAXLEN ~ N] * ts <ns> symbol <name> value <f64>`.
///
/// `emit` only encodes into a reused buffer; `flush` (and a full buffer) sends the batch in one
/// write and reads every reply. On a lost connection it reconnects with capped exponential
/// backoff and sends the whole unconfirmed batch again (at-least-once: a batch whose replies
/// were lost can be written twice). Steady state allocates nothing; a symbol index not yet
/// known reads the shared name table once (the symbol index is written if it has no name).
#[derive(Debug)]
pub struct RedisSink {
    host: String,
    port: u16,
    stream: Vec<u8>,
    maxlen: Option<u64>,
    io_timeout: Duration,
    conn: Option<Connection>,
    /// Commands not yet confirmed by the server.
    buf: Encoder,
    names: SymbolNames,
    /// Names known to this sink. Capacity [`NAMES_RESERVED`] so that a symbol's first signal
    /// copies its name without allocating.
    local: Vec<Arc<str>>,
    backoff: Backoff,
    reconnects: u64,
    /// The hash of each symbol's last sequence number, its epoch key and the epoch, when
    /// deduplicating.
    dedup: Option<Dedup>,
    /// Signals the deduplicating append refused as already in the stream.
    duplicates: u64,
}

impl RedisSink {
    /// Connects to `host:port`; signals go to `stream`, trimmed to about `maxlen` entries.
    ///
    /// # Errors
    /// [`RedisError`] if the first connection fails.
    pub fn connect(
        host: &str,
        port: u16,
        stream: &str,
        maxlen: Option<u64>,
        names: SymbolNames,
        give_up: Duration,
    ) -> Result<Self, RedisError> {
        let io_timeout = Duration::from_secs(5);
        let conn = Connection::connect(host, port, io_timeout)?;
        Ok(Self {
            host: host.to_owned(),
            port,
            stream: stream.as_bytes().to_vec(),
            maxlen,
            io_timeout,
            conn: Some(conn),
            buf: Encoder::with_capacity(BUF_RESERVED),
            local: {
                let mut local = Vec::with_capacity(NAMES_RESERVED);
                names.refresh(&mut local);
                local
            },
            names,
            backoff: Backoff::new(give_up),
            reconnects: 0,
            dedup: None,
            duplicates: 0,
        })
    }

    /// Deduplicates by `(symbol, seq)`: [`Sink::emit_seq`] appends a signal (with a `seq`
    /// field) only if its sequence number is above the last one appended for its symbol,
    /// recorded in the hash `key` in the same atomic script. Signals emitted again after a
    /// failover (the pipeline replays from a checkpoint) are then written once. Use one key
    /// per stream of sequence numbers (the CLI uses `SINK.seq.GROUP[.SHARDS]`) and name the
    /// incarnation of that stream of sequence numbers by `epoch` (the CLI: the consumer
    /// group's epoch, [`RedisFeed::epoch`](crate::RedisFeed::epoch)): the first signal of
    /// another epoch empties the hash (kept in `KEY.epoch`), so a new run over the same
    /// ticks, after the group was created again, is appended in full.
    #[must_use]
    pub fn with_dedup(mut self, key: &str, epoch: &str) -> Self {
        self.dedup = Some(Dedup {
            hash: key.as_bytes().to_vec(),
            epoch_key: format!("{key}.epoch").into_bytes(),
            epoch: epoch.as_bytes().to_vec(),
        });
        self
    }

    /// Signals not appended because the stream already held them (deduplicating sink).
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Reconnections after a lost connection.
    pub fn reconnects(&self) -> u64 {
        self.reconnects
    }

    fn send_batch(&mut self) -> Result<(), RedisError> {
        let conn = self.conn.as_mut().ok_or(RedisError::Closed)?;
        conn.send_encoded(&self.buf)?;
        let mut duplicates = 0;
        for _ in 0..self.buf.commands() {
            // The deduplicating script answers 0 for a duplicate (XADD answers an id).
            if conn.read_ok()?.int() == Some(0) {
                duplicates += 1;
            }
        }
        self.duplicates += duplicates;
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn refresh_names(&mut self) {
        self.names.refresh(&mut self.local);
    }
}

impl Sink for RedisSink {
    #[inline]
    fn emit(&mut self, s: &Signal) -> io::Result<()> {
        let i = s.symbol as usize;
        if i >= self.local.len() {
            self.refresh_names();
        }
        let args = 9 + if self.maxlen.is_some() { 3 } else { 0 };
        let e = &mut self.buf;
        e.begin(args).arg(b"XADD").arg(&self.stream);
        if let Some(n) = self.maxlen {
            e.arg(b"MAXLEN").arg(b"~").arg_u64(n);
        }
        e.arg(b"*").arg(b"ts").arg_u64(s.ts_ns).arg(b"symbol");
        match self.local.get(i) {
            Some(name) => e.arg(name.as_bytes()),
            None => e.arg_u64(u64::from(s.symbol)),
        };
        e.arg(b"value").arg_f64(s.value);
        if e.len_bytes() >= FLUSH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    #[inline]
    fn emit_seq(&mut self, s: &Signal, seq: u64) -> io::Result<()> {
        if self.dedup.is_none() {
            return self.emit(s);
        }
        let i = s.symbol as usize;
        if i >= self.local.len() {
            self.refresh_names();
        }
        let Some(d) = &self.dedup else {
            return self.emit(s);
        };
        let e = &mut self.buf;
        e.begin(12)
            .arg(b"EVAL")
            .arg(DEDUP_SCRIPT)
            .arg(b"3")
            .arg(&self.stream)
            .arg(&d.hash)
            .arg(&d.epoch_key);
        match self.local.get(i) {
            Some(name) => e.arg(name.as_bytes()),
            None => e.arg_u64(u64::from(s.symbol)),
        };
        e.arg_u64(seq).arg_u64(s.ts_ns).arg_f64(s.value);
        match self.maxlen {
            Some(n) => e.arg_u64(n),
            None => e.arg(b""),
        };
        e.arg(&d.epoch);
        if e.len_bytes() >= FLUSH_BYTES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        loop {
            if self.conn.is_none() {
                std::thread::sleep(self.backoff.until_next());
                match Connection::connect(&self.host, self.port, self.io_timeout) {
                    Ok(c) => {
                        self.conn = Some(c);
                        self.backoff.succeeded();
                        self.reconnects += 1;
                    }
                    Err(e) => {
                        self.backoff.failed(e)?;
                        continue;
                    }
                }
            }
            match self.send_batch() {
                Ok(()) => {
                    self.buf.clear();
                    return Ok(());
                }
                Err(e) if e.is_transient() => {
                    self.conn = None;
                    self.backoff.failed(e)?;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

//! [`Publisher`]: ticks written into sharded streams, pipelined and batched.

use std::time::Duration;

use zerotick_core::Tick;

use crate::codec::{encode_end, encode_tick, shard_of};
use crate::conn::{Connection, RedisError};
use crate::shard_stream;

/// Writes ticks to `STREAM.{shard_of(name, N)}` (or to `STREAM` when unsharded), `batch`
/// commands per write, with at most two batches awaiting replies so the server works while
/// the next batch is encoded. No reconnection: a failed publish is an error to rerun.
#[derive(Debug)]
pub struct Publisher {
    conn: Connection,
    streams: Vec<Vec<u8>>,
    maxlen: Option<u64>,
    batch: usize,
    /// Shard of each symbol index seen (`u32::MAX`: not computed yet).
    shard_by_symbol: Vec<u32>,
    published: u64,
}

impl Publisher {
    /// Connects; `shards: None` writes the single stream `stream`, `Some(n)` the `n` streams
    /// `stream.0 .. stream.{n-1}`.
    ///
    /// # Errors
    /// [`RedisError`] if the connection fails or `shards` is `Some(0)`.
    pub fn connect(
        host: &str,
        port: u16,
        stream: &str,
        shards: Option<u32>,
        maxlen: Option<u64>,
        batch: usize,
    ) -> Result<Self, RedisError> {
        let streams = match shards {
            None => vec![stream.as_bytes().to_vec()],
            Some(0) => {
                return Err(RedisError::BadUrl(
                    "--shards-total must be at least 1".into(),
                ));
            }
            Some(n) => (0..n)
                .map(|i| shard_stream(stream, i).into_bytes())
                .collect(),
        };
        Ok(Self {
            conn: Connection::connect(host, port, Duration::from_secs(10))?,
            streams,
            maxlen,
            batch: batch.max(1),
            shard_by_symbol: Vec::new(),
            published: 0,
        })
    }

    /// Ticks handed to the server so far.
    pub fn published(&self) -> u64 {
        self.published
    }

    /// Queues one tick of symbol `name`; sends a batch when one is full.
    ///
    /// # Errors
    /// [`RedisError`] when sending or a reply fails.
    pub fn publish(&mut self, tick: &Tick, name: &str) -> Result<(), RedisError> {
        let i = tick.symbol as usize;
        if i >= self.shard_by_symbol.len() {
            self.shard_by_symbol.resize(i + 1, u32::MAX);
        }
        if self.shard_by_symbol[i] == u32::MAX {
            self.shard_by_symbol[i] = shard_of(name, self.streams.len() as u32);
        }
        let stream = &self.streams[self.shard_by_symbol[i] as usize];
        encode_tick(self.conn.encoder(), stream, self.maxlen, tick, name);
        self.published += 1;
        if self.conn.encoder().commands() >= self.batch {
            self.send_batch()?;
        }
        Ok(())
    }

    fn send_batch(&mut self) -> Result<(), RedisError> {
        self.conn.send()?;
        while self.conn.owed() > self.batch {
            self.conn.read_ok()?;
        }
        Ok(())
    }

    /// Sends what is queued and waits for every reply.
    ///
    /// # Errors
    /// [`RedisError`] when sending or a reply fails.
    pub fn flush(&mut self) -> Result<(), RedisError> {
        self.conn.send()?;
        while self.conn.owed() > 0 {
            self.conn.read_ok()?;
        }
        Ok(())
    }

    /// Flushes, then appends the end marker to every stream (after every tick of that stream).
    ///
    /// # Errors
    /// [`RedisError`] when sending or a reply fails.
    pub fn finish(&mut self) -> Result<(), RedisError> {
        for s in &self.streams {
            encode_end(self.conn.encoder(), s);
        }
        self.flush()
    }
}

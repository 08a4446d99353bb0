//! [`Publisher`]: ticks written to a topic, keyed by symbol name, each symbol in partition
//! [`partition_of`]`(name, N)`.

use std::time::Duration;

use zerotick_core::Tick;

use crate::client::Client;
use crate::conn::KafkaError;
use crate::produce::{Producer, now_ms};
use crate::record::{partition_of, tick_value};

/// Writes ticks to `TOPIC` (created with `N` partitions if absent), `batch` ticks per
/// `Produce` round (one request per leader), idempotent where the broker allows.
#[derive(Debug)]
pub struct Publisher {
    client: Client,
    producer: Producer,
    batch: usize,
    /// Partition of each symbol index seen (`-1`: not computed yet).
    partition_by_symbol: Vec<i32>,
    published: u64,
    /// Wall clock of the records, ms (refreshed every batch: one clock read per batch).
    ts_ms: i64,
}

impl Publisher {
    /// Connects to `host:port` and makes sure `topic` exists (created with `partitions`
    /// partitions if absent; an existing topic keeps its own count, which is then used).
    ///
    /// # Errors
    /// [`KafkaError`] if the broker cannot be reached or the topic cannot be created.
    pub fn connect(
        host: &str,
        port: u16,
        topic: &str,
        partitions: i32,
        batch: usize,
        give_up: Duration,
    ) -> Result<Self, KafkaError> {
        if partitions < 1 {
            return Err(KafkaError::BadUrl(format!(
                "--partitions must be at least 1, got {partitions}"
            )));
        }
        let mut client = Client::connect(host, port, Duration::from_secs(10))?;
        let producer = Producer::new(&mut client, topic, partitions, give_up)?;
        Ok(Self {
            client,
            producer,
            batch: batch.max(1),
            partition_by_symbol: Vec::new(),
            published: 0,
            ts_ms: now_ms(),
        })
    }

    /// Compresses the batches written from now on with codec `codec` (see
    /// [`Producer::set_compression`]).
    ///
    /// # Errors
    /// [`KafkaError::Unsupported`] for a codec outside 0-4.
    pub fn set_compression(&mut self, codec: i16) -> Result<(), KafkaError> {
        self.producer.set_compression(codec)
    }

    /// Partitions of the topic (those it had if it existed).
    pub fn partitions(&self) -> i32 {
        self.producer.partitions()
    }

    /// Whether batches carry a producer id and sequence numbers (written once on retry).
    pub fn idempotent(&self) -> bool {
        self.producer.idempotent()
    }

    /// Ticks handed to the broker so far.
    pub fn published(&self) -> u64 {
        self.published
    }

    /// Produce requests sent again after a failure.
    pub fn retries(&self) -> u64 {
        self.producer.retries()
    }

    /// Queues one tick of symbol `name`; writes a batch when one is full.
    ///
    /// # Errors
    /// [`KafkaError`] when writing fails (after retrying for `give_up`).
    pub fn publish(&mut self, tick: &Tick, name: &str) -> Result<(), KafkaError> {
        let i = tick.symbol as usize;
        if i >= self.partition_by_symbol.len() {
            self.partition_by_symbol.resize(i + 1, -1);
        }
        if self.partition_by_symbol[i] < 0 {
            self.partition_by_symbol[i] = partition_of(name, self.producer.partitions());
        }
        let value = tick_value(tick);
        self.producer.push(
            self.partition_by_symbol[i],
            self.ts_ms,
            Some(name.as_bytes()),
            Some(&value),
            &[],
        );
        self.published += 1;
        if self.producer.queued() >= self.batch {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes what is queued and waits for the acknowledgement.
    ///
    /// # Errors
    /// [`KafkaError`] when writing fails (after retrying for `give_up`).
    pub fn flush(&mut self) -> Result<(), KafkaError> {
        self.producer.flush(&mut self.client)?;
        self.ts_ms = now_ms();
        Ok(())
    }
}

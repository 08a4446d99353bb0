//! [`Producer`]: records gathered into one record batch per partition and written with one
//! `Produce` request per leader (acks = all). Idempotent when the broker grants a producer
//! id: every batch carries the producer id, epoch and per-partition sequence numbers, so a
//! batch sent again after a lost response is written once.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use zerotick_core::backoff::Backoff;

use crate::client::{Client, TopicInfo, api};
use crate::conn::{KafkaError, code};
use crate::record::{BatchBuilder, ProducerIdentity};
use crate::wire::Writer;

/// One partition's batch being filled.
#[derive(Debug, Default)]
struct Pending {
    w: Writer,
    batch: Option<BatchBuilder>,
}

/// Records for one topic, batched per partition.
#[derive(Debug)]
pub struct Producer {
    topic: String,
    info: TopicInfo,
    /// Producer id and epoch (idempotence), if granted.
    identity: Option<(i64, i16)>,
    /// Next sequence number per partition.
    sequences: Vec<i32>,
    pending: Vec<Pending>,
    queued: usize,
    ack_timeout_ms: i32,
    give_up: Duration,
    /// Produce requests sent again after a failure.
    retries: u64,
    /// Codec of the batches written ([`crate::codec`]).
    compression: i16,
}

/// Now as ms since the Unix epoch (a record's timestamp: when it was produced).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Producer {
    /// A producer for `topic`, created with `partitions` partitions if absent. Asks for a
    /// producer id (idempotence); a broker that refuses gets plain at-least-once batches.
    ///
    /// # Errors
    /// [`KafkaError`] if the topic cannot be created or described.
    pub fn new(
        client: &mut Client,
        topic: &str,
        partitions: i32,
        give_up: Duration,
    ) -> Result<Self, KafkaError> {
        let info = client.ensure_topic(topic, partitions)?;
        let identity = client.init_producer_id().ok();
        let n = info.leaders.len();
        Ok(Self {
            topic: topic.to_owned(),
            info,
            identity,
            sequences: vec![0; n],
            pending: (0..n).map(|_| Pending::default()).collect(),
            queued: 0,
            ack_timeout_ms: 30_000,
            give_up,
            retries: 0,
            compression: 0,
        })
    }

    /// Compresses every batch written from now on with codec `codec` (`1` gzip, `2`
    /// snappy, `3` lz4, `4` zstd; `0` none), as Kafka's `compression.type` does.
    ///
    /// # Errors
    /// [`KafkaError::Unsupported`] for a codec outside 0-4.
    pub fn set_compression(&mut self, codec: i16) -> Result<(), KafkaError> {
        if !(0..=4).contains(&codec) {
            return Err(KafkaError::Unsupported(format!(
                "compression codec {codec} (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd)"
            )));
        }
        self.compression = codec;
        Ok(())
    }

    /// Partitions of the topic.
    pub fn partitions(&self) -> i32 {
        self.info.leaders.len() as i32
    }

    /// Whether the broker granted a producer id (batches are idempotent).
    pub fn idempotent(&self) -> bool {
        self.identity.is_some()
    }

    /// Records queued and not yet written.
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// Produce requests sent again after a failure (reconnects).
    pub fn retries(&self) -> u64 {
        self.retries
    }

    /// Queues a record for `partition` (taken modulo the partition count).
    pub fn push(
        &mut self,
        partition: i32,
        ts_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&str, &[u8])],
    ) {
        let p = partition.rem_euclid(self.partitions().max(1)) as usize;
        let identity = self.identity.map(|(id, epoch)| ProducerIdentity {
            id,
            epoch,
            base_sequence: self.sequences[p],
        });
        let pending = &mut self.pending[p];
        let batch = pending
            .batch
            .get_or_insert_with(|| BatchBuilder::begin(&mut pending.w, ts_ms, identity));
        batch.push(&mut pending.w, ts_ms, key, value, headers);
        self.queued += 1;
    }

    /// Writes every queued record and waits for the broker's acknowledgement, retrying
    /// with backoff (and fresh metadata) through transient failures for up to `give_up`.
    ///
    /// # Errors
    /// [`KafkaError`] on a failure that is not transient, or once `give_up` passed.
    pub fn flush(&mut self, client: &mut Client) -> Result<(), KafkaError> {
        if self.queued == 0 {
            return Ok(());
        }
        for p in &mut self.pending {
            if let Some(b) = p.batch.take() {
                b.finish_compressed(&mut p.w, self.compression)?;
            }
        }
        let mut backoff = Backoff::new(self.give_up);
        loop {
            match self.send(client) {
                Ok(()) => break,
                Err(e) if e.is_transient() => {
                    client.reset();
                    backoff.failed(e)?;
                    std::thread::sleep(backoff.until_next());
                    self.retries += 1;
                    if let Ok(Some(info)) = client.metadata(&[&self.topic]).map(|mut v| v.remove(0))
                        && info.leaders.len() == self.info.leaders.len()
                    {
                        self.info = info;
                    }
                }
                Err(e) => return Err(e),
            }
        }
        self.queued = 0;
        Ok(())
    }

    /// One `Produce` per leader of the partitions with a batch; a partition acknowledged is
    /// cleared, so a retry sends only what is left.
    fn send(&mut self, client: &mut Client) -> Result<(), KafkaError> {
        let mut leaders: Vec<i32> = (0..self.pending.len())
            .filter(|&p| !self.pending[p].w.is_empty())
            .map(|p| self.info.leaders[p])
            .collect();
        leaders.sort_unstable();
        leaders.dedup();
        for leader in leaders {
            let parts: Vec<usize> = (0..self.pending.len())
                .filter(|&p| !self.pending[p].w.is_empty() && self.info.leaders[p] == leader)
                .collect();
            let conn = client.conn(leader)?;
            let w = conn.request(api::PRODUCE, 3);
            w.nullable_string(None) // not transactional
                .i16(-1) // acks: all in-sync replicas
                .i32(self.ack_timeout_ms)
                .array_len(1)
                .string(&self.topic)
                .array_len(parts.len());
            for &p in &parts {
                w.i32(p as i32).bytes(self.pending[p].w.as_bytes());
            }
            let mut r = conn.call(Duration::from_millis(self.ack_timeout_ms as u64))?;
            let mut first_error = None;
            for _ in 0..r.array_len()? {
                let _name = r.string()?;
                for _ in 0..r.array_len()? {
                    let p = r.i32()?;
                    let err = r.i16()?;
                    let _base = r.i64()?;
                    let _append_time = r.i64()?;
                    let Some(pending) = self.pending.get_mut(p as usize) else {
                        return Err(KafkaError::Unexpected("Produce (partition)"));
                    };
                    if err == 0 || err == code::DUPLICATE_SEQUENCE_NUMBER {
                        // Written (a duplicate: by an earlier try whose answer was lost).
                        let records = batch_records(pending.w.as_bytes());
                        self.sequences[p as usize] =
                            self.sequences[p as usize].wrapping_add(records);
                        pending.w.clear();
                    } else if first_error.is_none() {
                        first_error = Some(err);
                    }
                }
            }
            if let Some(code) = first_error {
                return Err(KafkaError::Broker {
                    what: "Produce",
                    code,
                });
            }
        }
        Ok(())
    }
}

/// The record count of a finished batch (its header's last field).
fn batch_records(batch: &[u8]) -> i32 {
    batch
        .get(57..61)
        .map_or(0, |b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

//! [`Producer`]: records gathered into record batches per partition (a new batch begun before
//! one would pass [`MAX_BATCH_BYTES`]) and written with one `Produce` request per leader per
//! round, each carrying one batch per partition as Kafka requires (acks = all). Idempotent
//! when the broker grants a producer id: every batch carries the producer id, epoch and
//! per-partition sequence numbers, so a batch sent again after a lost response is written
//! once.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use zerotick_core::backoff::Backoff;

use crate::client::{Client, TopicInfo, api};
use crate::conn::{KafkaError, code};
use crate::record::{BatchBuilder, ProducerIdentity, compress_batch};
use crate::wire::Writer;

/// Most bytes of one record batch (before compression) this producer writes: well under
/// Kafka's default `message.max.bytes` (1 MiB), above which the broker refuses a batch with
/// `MESSAGE_TOO_LARGE`, an error no retry cures. A record larger than this gets a batch of
/// its own.
pub const MAX_BATCH_BYTES: usize = 256 << 10;

/// One partition's record batches, filled and sent.
#[derive(Debug, Default)]
struct Pending {
    /// Uncompressed record batches back to back: the finished ones, then the one `batch`
    /// fills. Each one at most [`MAX_BATCH_BYTES`] unless it holds a single record.
    w: Writer,
    /// The batch being filled (last in `w`).
    batch: Option<BatchBuilder>,
    /// Bytes at the start of `w` the broker acknowledged (whole batches).
    sent: usize,
    /// Sequence number of the next record queued (idempotence).
    sequence: i32,
}

impl Pending {
    /// Whether a finished batch waits to be sent.
    fn unsent(&self) -> bool {
        self.batch.is_none() && self.sent < self.w.len_bytes()
    }

    /// The first batch not acknowledged yet (its header says how long it is).
    fn next_batch(&self) -> &[u8] {
        let rest = &self.w.as_bytes()[self.sent.min(self.w.len_bytes())..];
        let len = rest.get(8..12).map_or(rest.len(), |b| {
            12 + i32::from_be_bytes([b[0], b[1], b[2], b[3]]).max(0) as usize
        });
        &rest[..len.min(rest.len())]
    }
}

/// Records for one topic, batched per partition.
#[derive(Debug)]
pub struct Producer {
    topic: String,
    info: TopicInfo,
    /// Producer id and epoch (idempotence), if granted.
    identity: Option<(i64, i16)>,
    pending: Vec<Pending>,
    queued: usize,
    /// Scratch: the batch being sent, compressed.
    compressed: Writer,
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
            pending: (0..n).map(|_| Pending::default()).collect(),
            queued: 0,
            compressed: Writer::new(),
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

    /// Queues a record for `partition` (taken modulo the partition count), in the
    /// partition's open batch, or in a new one if it would pass [`MAX_BATCH_BYTES`].
    pub fn push(
        &mut self,
        partition: i32,
        ts_ms: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&str, &[u8])],
    ) {
        let p = partition.rem_euclid(self.partitions().max(1)) as usize;
        let pending = &mut self.pending[p];
        let len = record_len_max(key, value, headers);
        if let Some(full) = pending
            .batch
            .take_if(|b| b.count() > 0 && b.len_bytes(&pending.w) + len > MAX_BATCH_BYTES)
        {
            full.finish(&mut pending.w);
        }
        let identity = self.identity.map(|(id, epoch)| ProducerIdentity {
            id,
            epoch,
            base_sequence: pending.sequence,
        });
        let batch = pending
            .batch
            .get_or_insert_with(|| BatchBuilder::begin(&mut pending.w, ts_ms, identity));
        batch.push(&mut pending.w, ts_ms, key, value, headers);
        pending.sequence = pending.sequence.wrapping_add(1);
        self.queued += 1;
    }

    /// Writes every queued record and waits for the broker's acknowledgement, retrying
    /// with backoff (and fresh metadata) through transient failures for up to `give_up`.
    /// Takes a round of `Produce` requests per batch a partition has queued.
    ///
    /// # Errors
    /// [`KafkaError`] on a failure that is not transient, or once `give_up` passed.
    pub fn flush(&mut self, client: &mut Client) -> Result<(), KafkaError> {
        if self.queued == 0 {
            return Ok(());
        }
        for p in &mut self.pending {
            if let Some(b) = p.batch.take() {
                b.finish(&mut p.w);
            }
        }
        let mut backoff = Backoff::new(self.give_up);
        while self.pending.iter().any(Pending::unsent) {
            match self.send(client) {
                Ok(()) => backoff.succeeded(),
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
        for p in &mut self.pending {
            p.w.clear();
            p.sent = 0;
        }
        self.queued = 0;
        Ok(())
    }

    /// One round: a `Produce` per leader of the partitions with a batch to send, holding
    /// each one's next batch (compressed here if set); a batch acknowledged is done, so a
    /// retry sends only what is left.
    fn send(&mut self, client: &mut Client) -> Result<(), KafkaError> {
        let mut leaders: Vec<i32> = (0..self.pending.len())
            .filter(|&p| self.pending[p].unsent())
            .map(|p| self.info.leaders[p])
            .collect();
        leaders.sort_unstable();
        leaders.dedup();
        for leader in leaders {
            let parts: Vec<usize> = (0..self.pending.len())
                .filter(|&p| self.pending[p].unsent() && self.info.leaders[p] == leader)
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
                let batch = self.pending[p].next_batch();
                w.i32(p as i32);
                if self.compression == 0 {
                    w.bytes(batch);
                } else {
                    compress_batch(batch, self.compression, &mut self.compressed)?;
                    w.bytes(self.compressed.as_bytes());
                }
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
                        pending.sent += pending.next_batch().len();
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

/// Most bytes a record with these fields takes in a batch (its varints at their longest).
fn record_len_max(key: Option<&[u8]>, value: Option<&[u8]>, headers: &[(&str, &[u8])]) -> usize {
    let field = |b: Option<&[u8]>| 5 + b.map_or(0, <[u8]>::len);
    let headers: usize = headers.iter().map(|(k, v)| 10 + k.len() + v.len()).sum();
    // Length, attributes, timestamp delta, offset delta, key, value, header count, headers.
    5 + 1 + 10 + 5 + field(key) + field(value) + 5 + headers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{FakeBroker, MESSAGE_MAX_BYTES};
    use crate::record::read_batches;

    #[test]
    fn a_large_flush_goes_out_in_batches_the_broker_takes() {
        let k = FakeBroker::start();
        let mut c = Client::connect("127.0.0.1", k.port, Duration::from_secs(5)).unwrap();
        let mut p = Producer::new(&mut c, "out", 2, Duration::from_secs(1)).unwrap();
        assert!(p.idempotent());
        // About 1.3 MB per partition: one batch of it is above message.max.bytes.
        const N: u32 = 12_000;
        let value = [5u8; 200];
        for i in 0..N {
            p.push(i as i32 % 2, 0, Some(&i.to_be_bytes()), Some(&value), &[]);
        }
        p.flush(&mut c).expect("flush");
        assert_eq!(p.queued(), 0);
        let s = k.state();
        let refused: Vec<_> = s.produced.iter().filter(|p| p.3 != 0).collect();
        assert!(refused.is_empty(), "{refused:?}");
        assert!(s.produced.iter().all(|p| p.2 <= MAX_BATCH_BYTES));
        const { assert!(MAX_BATCH_BYTES < MESSAGE_MAX_BYTES) };
        for part in 0..2 {
            // Every record once, in order; sequence numbers continue from batch to batch.
            let mut keys = Vec::new();
            let mut sequence = 0;
            for b in &s.topics["out"][part] {
                let at = |i: usize| {
                    i32::from_be_bytes([b.bytes[i], b.bytes[i + 1], b.bytes[i + 2], b.bytes[i + 3]])
                };
                assert_eq!(
                    at(53),
                    sequence,
                    "base sequence of a batch of partition {part}"
                );
                sequence += at(57);
                read_batches(&b.bytes, 0, |r| {
                    keys.push(u32::from_be_bytes(r.key.unwrap().try_into().unwrap()));
                    Ok(())
                })
                .unwrap();
            }
            let want: Vec<u32> = (part as u32..N).step_by(2).collect();
            assert_eq!(keys, want, "partition {part}");
        }
    }

    #[test]
    fn compressed_and_oversized_records_keep_their_order() {
        let k = FakeBroker::start();
        let mut c = Client::connect("127.0.0.1", k.port, Duration::from_secs(5)).unwrap();
        let mut p = Producer::new(&mut c, "z", 1, Duration::from_secs(1)).unwrap();
        p.set_compression(crate::codec::LZ4).unwrap();
        // A record above the batch limit on its own, between small ones; twice, so the
        // second flush starts from a clean state.
        let big = vec![1u8; MAX_BATCH_BYTES + 1];
        for round in 0..2u8 {
            for (i, v) in [&b"a"[..], &big, b"b"].into_iter().enumerate() {
                p.push(0, 0, Some(&[round, i as u8]), Some(v), &[]);
            }
            p.flush(&mut c).expect("flush");
        }
        let s = k.state();
        assert_eq!(s.produced.len(), 6, "a, big, b: a batch each");
        assert!(s.produced.iter().all(|p| p.3 == 0 && p.2 < MAX_BATCH_BYTES));
        let mut got = Vec::new();
        for b in &s.topics["z"][0] {
            assert_eq!(b.bytes[22] & 0x07, crate::codec::LZ4 as u8, "compressed");
            read_batches(&b.bytes, 0, |r| {
                got.push((r.key.unwrap().to_vec(), r.value.unwrap().len()));
                Ok(())
            })
            .unwrap();
        }
        let want: Vec<(Vec<u8>, usize)> = (0..2u8)
            .flat_map(|r| [(vec![r, 0], 1), (vec![r, 1], big.len()), (vec![r, 2], 1)])
            .collect();
        assert_eq!(got, want);
    }
}

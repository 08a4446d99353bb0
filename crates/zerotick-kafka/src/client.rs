//! [`Client`]: the cluster as this crate sees it (brokers, partition leaders) and the
//! admin requests: metadata, topic creation, end offsets, producer ids. Connections to
//! brokers are opened on first use and kept; any error drops them all (the caller retries
//! with backoff and fresh metadata).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::conn::{Connection, KafkaError, check, code};
use crate::wire::Reader;

/// API keys of the requests this crate sends.
pub mod api {
    /// Produce (v3).
    pub const PRODUCE: i16 = 0;
    /// Fetch (v4).
    pub const FETCH: i16 = 1;
    /// ListOffsets (v2).
    pub const LIST_OFFSETS: i16 = 2;
    /// Metadata (v4).
    pub const METADATA: i16 = 3;
    /// OffsetCommit (v2).
    pub const OFFSET_COMMIT: i16 = 8;
    /// OffsetFetch (v1).
    pub const OFFSET_FETCH: i16 = 9;
    /// FindCoordinator (v1).
    pub const FIND_COORDINATOR: i16 = 10;
    /// JoinGroup (v2).
    pub const JOIN_GROUP: i16 = 11;
    /// Heartbeat (v1).
    pub const HEARTBEAT: i16 = 12;
    /// LeaveGroup (v1).
    pub const LEAVE_GROUP: i16 = 13;
    /// SyncGroup (v1).
    pub const SYNC_GROUP: i16 = 14;
    /// CreateTopics (v3).
    pub const CREATE_TOPICS: i16 = 19;
    /// InitProducerId (v0).
    pub const INIT_PRODUCER_ID: i16 = 22;
}

/// `ListOffsets` timestamp for the end of a partition (the offset the next record gets).
pub const LATEST: i64 = -1;
/// `ListOffsets` timestamp for the start of a partition.
pub const EARLIEST: i64 = -2;

/// Node id under which the bootstrap connection is kept.
const BOOTSTRAP: i32 = i32::MIN;

/// Most partitions of a topic this client reads: a Metadata answer naming a partition index
/// at or above it is refused, so a broker's number does not size allocations (per-partition
/// state of a consumer, a leader table of `i32::MAX` entries).
pub const MAX_PARTITIONS: usize = 100_000;

/// A topic as Metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    /// Leader node of partition `i` (`-1`: none right now).
    pub leaders: Vec<i32>,
}

/// The cluster: bootstrap address, known brokers, open connections.
#[derive(Debug)]
pub struct Client {
    host: String,
    port: u16,
    timeout: Duration,
    brokers: HashMap<i32, (String, u16)>,
    conns: HashMap<i32, Connection>,
    controller: i32,
}

impl Client {
    /// Connects to the bootstrap broker `host:port` (at once, so a bad address fails here).
    ///
    /// # Errors
    /// [`KafkaError`] if the connection or the first Metadata request fails.
    pub fn connect(host: &str, port: u16, timeout: Duration) -> Result<Self, KafkaError> {
        let mut c = Self {
            host: host.to_owned(),
            port,
            timeout,
            brokers: HashMap::new(),
            conns: HashMap::new(),
            controller: -1,
        };
        c.metadata(&[])?;
        Ok(c)
    }

    /// Timeout of connecting and of every request (a fetch adds its wait).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Closes every connection (after an error: the next request reconnects).
    pub fn reset(&mut self) {
        self.conns.clear();
    }

    /// The connection to broker `node` (opened if needed; unknown nodes use the bootstrap
    /// address).
    ///
    /// # Errors
    /// [`KafkaError::Io`] if connecting fails.
    pub fn conn(&mut self, node: i32) -> Result<&mut Connection, KafkaError> {
        if !self.conns.contains_key(&node) {
            let (host, port) = match self.brokers.get(&node) {
                Some((h, p)) => (h.clone(), *p),
                None => (self.host.clone(), self.port),
            };
            let c = Connection::connect(&host, port, self.timeout)?;
            self.conns.insert(node, c);
        }
        self.conns.get_mut(&node).ok_or(KafkaError::Closed)
    }

    /// A connection to any broker (the first known one, else the bootstrap address).
    ///
    /// # Errors
    /// [`KafkaError::Io`] if connecting fails.
    pub fn any_conn(&mut self) -> Result<&mut Connection, KafkaError> {
        let node = self.brokers.keys().min().copied().unwrap_or(BOOTSTRAP);
        self.conn(node)
    }

    /// Metadata of `topics` (none: brokers only); refreshes the broker list. Unknown topics
    /// come back as `None` (Metadata never creates a topic here).
    ///
    /// # Errors
    /// [`KafkaError`] on a failed request or a topic error other than unknown;
    /// [`KafkaError::Unexpected`] for a negative or repeated partition index,
    /// [`KafkaError::Unsupported`] for one at or above [`MAX_PARTITIONS`].
    pub fn metadata(&mut self, topics: &[&str]) -> Result<Vec<Option<TopicInfo>>, KafkaError> {
        let result = self.try_metadata(topics);
        if result.is_err() {
            self.reset();
        }
        result
    }

    fn try_metadata(&mut self, topics: &[&str]) -> Result<Vec<Option<TopicInfo>>, KafkaError> {
        let timeout = Duration::ZERO;
        let conn = self.any_conn()?;
        let w = conn.request(api::METADATA, 4);
        w.array_len(topics.len());
        for t in topics {
            w.string(t);
        }
        w.i8(0); // allow_auto_topic_creation: no
        let mut r = conn.call(timeout)?;
        let _throttle = r.i32()?;
        let mut brokers = HashMap::new();
        for _ in 0..r.array_len()? {
            let node = r.i32()?;
            let host = r.string()?.to_owned();
            let port =
                u16::try_from(r.i32()?).map_err(|_| KafkaError::Unexpected("broker port"))?;
            let _rack = r.nullable_string()?;
            brokers.insert(node, (host, port));
        }
        let _cluster = r.nullable_string()?;
        let controller = r.i32()?;
        let mut out = vec![None; topics.len()];
        for _ in 0..r.array_len()? {
            let err = r.i16()?;
            let name = r.string()?;
            let _internal = r.bool()?;
            let leaders = read_leaders(&mut r)?;
            let Some(slot) = topics.iter().position(|t| *t == name) else {
                continue;
            };
            match err {
                0 => out[slot] = Some(TopicInfo { leaders }),
                code::UNKNOWN_TOPIC_OR_PARTITION => {}
                5 => {
                    out[slot] = Some(TopicInfo {
                        leaders: Vec::new(),
                    })
                } // leader not available yet
                e => {
                    return Err(KafkaError::Broker {
                        what: "Metadata",
                        code: e,
                    });
                }
            }
        }
        self.brokers = brokers;
        self.controller = controller;
        Ok(out)
    }

    /// The topic's partition leaders, creating it with `partitions` partitions (replication
    /// factor 1, or the broker's default if it refuses 1) when it does not exist. Waits up
    /// to the timeout for every partition to have a leader.
    ///
    /// # Errors
    /// [`KafkaError`] if creating it fails or it has no leaders in time.
    pub fn ensure_topic(&mut self, topic: &str, partitions: i32) -> Result<TopicInfo, KafkaError> {
        let start = Instant::now();
        let mut created = false;
        loop {
            match self.metadata(&[topic])?.pop().flatten() {
                Some(t) if !t.leaders.is_empty() && t.leaders.iter().all(|&l| l >= 0) => {
                    return Ok(t);
                }
                Some(_) => {}
                None if !created => {
                    self.create_topic(topic, partitions)?;
                    created = true;
                }
                None => {}
            }
            if start.elapsed() > self.timeout {
                return Err(KafkaError::Broker {
                    what: "Metadata (topic has no leader)",
                    code: 5,
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `CreateTopics` of `topic` with `partitions` partitions; an existing topic is fine.
    ///
    /// # Errors
    /// [`KafkaError`] if the broker refuses for another reason.
    pub fn create_topic(&mut self, topic: &str, partitions: i32) -> Result<(), KafkaError> {
        let timeout_ms = self.timeout.as_millis().min(i32::MAX as u128) as i32;
        let controller = self.controller;
        let conn = self.conn(controller)?;
        let w = conn.request(api::CREATE_TOPICS, 3);
        w.array_len(1)
            .string(topic)
            .i32(partitions)
            .i16(1) // replication factor
            .array_len(0) // assignments
            .array_len(0) // configs
            .i32(timeout_ms)
            .i8(0); // validate only: no
        let mut r = conn.call(Duration::ZERO)?;
        let _throttle = r.i32()?;
        for _ in 0..r.array_len()? {
            let _name = r.string()?;
            let err = r.i16()?;
            let _msg = r.nullable_string()?;
            if err != 0 && err != code::TOPIC_ALREADY_EXISTS {
                return Err(KafkaError::Broker {
                    what: "CreateTopics",
                    code: err,
                });
            }
        }
        Ok(())
    }

    /// `ListOffsets` of every partition of `topic` at `timestamp` ([`LATEST`] or [`EARLIEST`]).
    ///
    /// # Errors
    /// [`KafkaError`] on a failed request or a partition error.
    pub fn list_offsets(
        &mut self,
        topic: &str,
        info: &TopicInfo,
        timestamp: i64,
    ) -> Result<Vec<i64>, KafkaError> {
        let mut out = vec![-1i64; info.leaders.len()];
        let mut leaders: Vec<i32> = info.leaders.clone();
        leaders.sort_unstable();
        leaders.dedup();
        for leader in leaders {
            let parts: Vec<i32> = (0..info.leaders.len() as i32)
                .filter(|&p| info.leaders[p as usize] == leader)
                .collect();
            let conn = self.conn(leader)?;
            let w = conn.request(api::LIST_OFFSETS, 2);
            w.i32(-1)
                .i8(0)
                .array_len(1)
                .string(topic)
                .array_len(parts.len());
            for p in &parts {
                w.i32(*p).i64(timestamp);
            }
            let mut r = conn.call(Duration::ZERO)?;
            let _throttle = r.i32()?;
            for _ in 0..r.array_len()? {
                let _name = r.string()?;
                for _ in 0..r.array_len()? {
                    let p = r.i32()?;
                    let err = r.i16()?;
                    let _ts = r.i64()?;
                    let offset = r.i64()?;
                    check("ListOffsets", err)?;
                    let slot = out
                        .get_mut(p as usize)
                        .ok_or(KafkaError::Unexpected("ListOffsets"))?;
                    *slot = offset;
                }
            }
        }
        if out.contains(&-1) {
            return Err(KafkaError::Unexpected("ListOffsets (a partition missing)"));
        }
        Ok(out)
    }

    /// The end offset of every partition of `topic` (the offset the next record gets): the
    /// larger of `ListOffsets` latest and the high watermark a `Fetch` at that offset
    /// reports. The two agree on Kafka; tansu 0.6 answers `ListOffsets` latest with the last
    /// batch's base offset + 1, which the fetch corrects.
    ///
    /// # Errors
    /// [`KafkaError`] on a failed request or a partition error.
    pub fn end_offsets(&mut self, topic: &str, info: &TopicInfo) -> Result<Vec<i64>, KafkaError> {
        let mut ends = self.list_offsets(topic, info, LATEST)?;
        for (p, &leader) in info.leaders.iter().enumerate() {
            let conn = self.conn(leader)?;
            conn.request(api::FETCH, 4)
                .i32(-1) // replica id: a consumer
                .i32(10) // max wait, ms (tansu answers a fetch without any wait with nothing)
                .i32(1) // min bytes
                .i32(1) // max bytes (at least one batch comes anyway)
                .i8(0) // read uncommitted
                .array_len(1)
                .string(topic)
                .array_len(1)
                .i32(p as i32)
                .i64(ends[p])
                .i32(1);
            let mut r = conn.call(Duration::from_millis(10))?;
            let _throttle = r.i32()?;
            for _ in 0..r.array_len()? {
                let _topic = r.string()?;
                for _ in 0..r.array_len()? {
                    let q = r.i32()?;
                    let err = r.i16()?;
                    let high_watermark = r.i64()?;
                    if q as usize == p && err == 0 {
                        ends[p] = ends[p].max(high_watermark);
                    }
                    let _last_stable = r.i64()?;
                    let aborted = r.i32()?;
                    r.take((aborted.max(0) as usize).saturating_mul(16))?;
                    r.nullable_bytes()?;
                }
            }
        }
        Ok(ends)
    }

    /// `InitProducerId` for an idempotent (not transactional) producer: (id, epoch).
    ///
    /// # Errors
    /// [`KafkaError`] on a failed request or an error code.
    pub fn init_producer_id(&mut self) -> Result<(i64, i16), KafkaError> {
        let conn = self.any_conn()?;
        conn.request(api::INIT_PRODUCER_ID, 0)
            .nullable_string(None)
            .i32(60_000);
        let mut r = conn.call(Duration::ZERO)?;
        let _throttle = r.i32()?;
        check("InitProducerId", r.i16()?)?;
        Ok((r.i64()?, r.i16()?))
    }
}

fn skip_i32_array(r: &mut Reader<'_>) -> Result<(), KafkaError> {
    let n = r.array_len()?;
    r.take(n.saturating_mul(4))?;
    Ok(())
}

/// The leader of every partition of one topic of a Metadata v4 answer, by partition index
/// (`-1` for an index the answer skips). Indices are checked before they size the table:
/// not negative, not repeated, below [`MAX_PARTITIONS`].
fn read_leaders(r: &mut Reader<'_>) -> Result<Vec<i32>, KafkaError> {
    let mut leaders = Vec::new();
    // Which entries of `leaders` the answer set (the others are gaps).
    let mut seen: Vec<bool> = Vec::new();
    for _ in 0..r.array_len()? {
        let _perr = r.i16()?;
        let index = r.i32()?;
        let leader = r.i32()?;
        skip_i32_array(r)?; // replicas
        skip_i32_array(r)?; // in-sync replicas
        let i = usize::try_from(index)
            .map_err(|_| KafkaError::Unexpected("Metadata (a negative partition index)"))?;
        if i >= MAX_PARTITIONS {
            return Err(KafkaError::Unsupported(format!(
                "a topic with partition index {i}: this client reads at most \
                 {MAX_PARTITIONS} partitions"
            )));
        }
        if i >= leaders.len() {
            leaders.resize(i + 1, -1);
            seen.resize(i + 1, false);
        }
        if std::mem::replace(&mut seen[i], true) {
            return Err(KafkaError::Unexpected(
                "Metadata (a partition listed twice)",
            ));
        }
        leaders[i] = leader;
    }
    Ok(leaders)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Writer;

    /// A Metadata v4 topic's partition array with these (index, leader) entries.
    fn partitions(entries: &[(i32, i32)]) -> Vec<u8> {
        let mut w = Writer::new();
        w.array_len(entries.len());
        for &(index, leader) in entries {
            w.i16(0).i32(index).i32(leader);
            w.array_len(1).i32(leader).array_len(1).i32(leader); // replicas, in-sync
        }
        w.as_bytes().to_vec()
    }

    fn leaders(entries: &[(i32, i32)]) -> Result<Vec<i32>, KafkaError> {
        read_leaders(&mut Reader::new(&partitions(entries)))
    }

    /// The error `entries` must give (a table made of them is reported by its length only).
    fn refused(entries: &[(i32, i32)]) -> KafkaError {
        match leaders(entries) {
            Ok(t) => panic!("{entries:?} accepted: {} leaders", t.len()),
            Err(e) => e,
        }
    }

    #[test]
    fn partition_indices_are_checked_before_they_size_anything() {
        assert_eq!(leaders(&[(1, 7), (0, 3)]).unwrap(), vec![3, 7]);
        // A gap is a partition without a leader for now.
        assert_eq!(leaders(&[(0, 1), (2, 1)]).unwrap(), vec![1, -1, 1]);
        assert_eq!(leaders(&[]).unwrap(), Vec::<i32>::new());
        let last = MAX_PARTITIONS as i32 - 1;
        assert_eq!(leaders(&[(last, 5)]).unwrap().len(), MAX_PARTITIONS);
        // At or above the cap (i32::MAX would be an 8 GiB leader table): a clear error.
        for huge in [MAX_PARTITIONS as i32, i32::MAX] {
            let e = refused(&[(0, 1), (huge, 1)]);
            assert!(matches!(e, KafkaError::Unsupported(_)), "{huge}: {e}");
            assert!(e.to_string().contains("at most 100000 partitions"), "{e}");
        }
        let e = refused(&[(0, 1), (-1, 1)]);
        assert!(matches!(e, KafkaError::Unexpected(_)), "{e}");
        let e = refused(&[(0, 1), (1, 2), (0, 3)]);
        assert!(matches!(e, KafkaError::Unexpected(_)), "{e}");
        assert!(e.to_string().contains("listed twice"), "{e}");
    }
}

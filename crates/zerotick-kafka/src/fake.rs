//! A stand-in Kafka broker for this crate's tests: one node on a free 127.0.0.1 port that
//! answers the requests this crate sends, at the versions it sends them, from memory (topics
//! of record batches, one consumer group whose only member leads it, committed offsets).
//! Knobs make it answer as a changing or misbehaving cluster would: partitions added to a
//! topic, a rebalance, an assignment naming any partition. Like Kafka, it takes one record
//! batch per partition in a Produce and refuses a batch over `message.max.bytes`.
//!
//! Every connection is served by a thread of its own; the broker stops accepting when
//! dropped (a connection's thread ends when its client closes it).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use crate::client::api;
use crate::conn::code;
use crate::wire::{Reader, WireError, Writer};

/// Kafka's default `message.max.bytes`: a larger record batch is refused.
pub const MESSAGE_MAX_BYTES: usize = 1_048_588;
/// Error code: a record batch larger than `message.max.bytes`.
pub const MESSAGE_TOO_LARGE: i16 = 10;
/// Error code: records Kafka does not take (e.g. two batches for one partition).
pub const INVALID_RECORD: i16 = 87;
/// The member id the broker gives the one member of its group.
const MEMBER: &str = "member-1";

/// One record batch of a partition's log.
#[derive(Debug, Clone)]
pub struct Stored {
    /// Offset after its last record.
    pub end: i64,
    /// The batch as written (base offset filled in).
    pub bytes: Vec<u8>,
}

/// What the broker holds, and its knobs; lock it with [`FakeBroker::state`].
#[derive(Debug, Default)]
pub struct State {
    /// Per topic, per partition, its batches in offset order.
    pub topics: HashMap<String, Vec<Vec<Stored>>>,
    /// The group's committed offsets by (topic, partition).
    pub committed: HashMap<(String, i32), i64>,
    /// Generation of the group (incremented by every JoinGroup).
    pub generation: i32,
    /// SyncGroup hands out these partitions of this topic, whatever the leader assigned.
    pub assignment: Option<(String, Vec<i32>)>,
    /// Answering SyncGroup first grows this topic to this many partitions (partitions
    /// added while the group was forming).
    pub grow_on_sync: Option<(String, usize)>,
    /// The next Heartbeat says the group rebalances.
    pub rebalance: bool,
    /// Every partition fetched, as (topic, partition, offset, partition max bytes).
    pub fetches: Vec<(String, i32, i64, i32)>,
    /// Every batch offered in a Produce, as (topic, partition, bytes, error answered).
    pub produced: Vec<(String, i32, usize, i16)>,
}

impl State {
    /// Creates `topic` with `partitions` empty partitions, or grows it to that many.
    pub fn ensure(&mut self, topic: &str, partitions: usize) {
        let t = self.topics.entry(topic.to_owned()).or_default();
        if t.len() < partitions {
            t.resize(partitions, Vec::new());
        }
    }

    /// Appends the record batch `batch` (as [`crate::record::BatchBuilder`] writes it) to
    /// `topic`'s `partition`, at the partition's end; returns its base offset.
    ///
    /// # Panics
    /// If the topic or partition does not exist (a mistake of the test).
    #[track_caller]
    pub fn append(&mut self, topic: &str, partition: usize, batch: &[u8]) -> i64 {
        let log = &mut self.topics.get_mut(topic).expect("no such topic")[partition];
        let base = log.last().map_or(0, |b| b.end);
        let mut bytes = batch.to_vec();
        bytes[..8].copy_from_slice(&base.to_be_bytes());
        let last_delta = i32::from_be_bytes([bytes[23], bytes[24], bytes[25], bytes[26]]);
        let end = base + i64::from(last_delta) + 1;
        log.push(Stored { end, bytes });
        base
    }

    /// The offset after the last record of `topic`'s `partition`.
    pub fn high_watermark(&self, topic: &str, partition: usize) -> i64 {
        self.topics
            .get(topic)
            .and_then(|t| t.get(partition))
            .and_then(|log| log.last())
            .map_or(0, |b| b.end)
    }
}

/// The broker: its port, and its state shared with the connection threads.
pub struct FakeBroker {
    /// The port it listens on (127.0.0.1).
    pub port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl FakeBroker {
    /// Starts a broker with no topics.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local addr").port();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (shared, stopped) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::Relaxed) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let state = shared.clone();
                std::thread::spawn(move || serve(stream, &state, port));
            }
        });
        Self { port, state, stop }
    }

    /// The state, locked.
    pub fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

impl Drop for FakeBroker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// Answers the requests of one connection until the client closes it.
fn serve(mut stream: TcpStream, state: &Mutex<State>, port: u16) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let mut request = Vec::new();
    let mut out = Writer::new();
    loop {
        let mut size = [0u8; 4];
        if stream.read_exact(&mut size).is_err() {
            return;
        }
        request.resize(i32::from_be_bytes(size).max(0) as usize, 0);
        if stream.read_exact(&mut request).is_err() {
            return;
        }
        out.clear();
        let at = out.reserve_i32();
        if answer(&request, &mut out, &mut lock(state), port).is_err() {
            return; // a request this broker does not understand: hang up, as Kafka does
        }
        out.end_request(at);
        if stream.write_all(out.as_bytes()).is_err() {
            return;
        }
    }
}

/// Writes the answer to `request` (header and body) into `w`.
fn answer(request: &[u8], w: &mut Writer, s: &mut State, port: u16) -> Result<(), WireError> {
    let mut r = Reader::new(request);
    let key = r.i16()?;
    let _version = r.i16()?;
    let correlation = r.i32()?;
    let _client = r.nullable_string()?;
    w.i32(correlation);
    match key {
        api::METADATA => metadata(&mut r, w, s, port),
        api::LIST_OFFSETS => list_offsets(&mut r, w, s),
        api::FETCH => fetch(&mut r, w, s),
        api::PRODUCE => produce(&mut r, w, s),
        api::CREATE_TOPICS => create_topics(&mut r, w, s),
        api::INIT_PRODUCER_ID => {
            w.i32(0).i16(0).i64(4242).i16(0);
            Ok(())
        }
        api::FIND_COORDINATOR => {
            w.i32(0).i16(0).nullable_string(None).i32(0);
            w.string("127.0.0.1").i32(i32::from(port));
            Ok(())
        }
        api::JOIN_GROUP => join_group(&mut r, w, s),
        api::SYNC_GROUP => sync_group(&mut r, w, s),
        api::HEARTBEAT => {
            let err = if std::mem::take(&mut s.rebalance) {
                code::REBALANCE_IN_PROGRESS
            } else {
                0
            };
            w.i32(0).i16(err);
            Ok(())
        }
        api::LEAVE_GROUP => {
            w.i32(0).i16(0);
            Ok(())
        }
        api::OFFSET_FETCH => offset_fetch(&mut r, w, s),
        api::OFFSET_COMMIT => offset_commit(&mut r, w, s),
        _ => Err(WireError("an API this broker does not answer")),
    }
}

/// Metadata v4: this node, and every topic asked for (partitions led by node 0).
fn metadata(r: &mut Reader<'_>, w: &mut Writer, s: &State, port: u16) -> Result<(), WireError> {
    let n = r.array_len()?;
    let mut names = Vec::new();
    for _ in 0..n {
        names.push(r.string()?.to_owned());
    }
    w.i32(0).array_len(1).i32(0).string("127.0.0.1");
    w.i32(i32::from(port)).nullable_string(None);
    w.nullable_string(Some("fake"))
        .i32(0)
        .array_len(names.len());
    for name in &names {
        match s.topics.get(name) {
            Some(parts) => {
                w.i16(0).string(name).i8(0).array_len(parts.len());
                for p in 0..parts.len() {
                    w.i16(0).i32(p as i32).i32(0);
                    w.array_len(1).i32(0).array_len(1).i32(0); // replicas, in-sync
                }
            }
            None => {
                w.i16(code::UNKNOWN_TOPIC_OR_PARTITION)
                    .string(name)
                    .i8(0)
                    .array_len(0);
            }
        }
    }
    Ok(())
}

/// ListOffsets v2: the start (0) or the end of each partition asked for.
fn list_offsets(r: &mut Reader<'_>, w: &mut Writer, s: &State) -> Result<(), WireError> {
    let _replica = r.i32()?;
    let _isolation = r.i8()?;
    w.i32(0);
    let topics = r.array_len()?;
    w.array_len(topics);
    for _ in 0..topics {
        let name = r.string()?;
        let parts = r.array_len()?;
        w.string(name).array_len(parts);
        for _ in 0..parts {
            let p = r.i32()?;
            let ts = r.i64()?;
            let offset = if ts == -2 {
                0
            } else {
                s.high_watermark(name, p as usize)
            };
            w.i32(p).i16(0).i64(-1).i64(offset);
        }
    }
    Ok(())
}

/// Fetch v4: from each partition's offset, whole batches up to its byte limit (always at
/// least one, as Kafka does).
fn fetch(r: &mut Reader<'_>, w: &mut Writer, s: &mut State) -> Result<(), WireError> {
    let _replica = r.i32()?;
    let _wait = r.i32()?;
    let _min_bytes = r.i32()?;
    let _max_bytes = r.i32()?;
    let _isolation = r.i8()?;
    w.i32(0);
    let topics = r.array_len()?;
    w.array_len(topics);
    for _ in 0..topics {
        let name = r.string()?.to_owned();
        let parts = r.array_len()?;
        w.string(&name).array_len(parts);
        for _ in 0..parts {
            let p = r.i32()?;
            let offset = r.i64()?;
            let max_bytes = r.i32()?;
            s.fetches.push((name.clone(), p, offset, max_bytes));
            let log = s.topics.get(&name).and_then(|t| t.get(p as usize));
            let hw = s.high_watermark(&name, p as usize);
            let Some(log) = log.filter(|_| (0..=hw).contains(&offset)) else {
                w.i32(p).i16(code::OFFSET_OUT_OF_RANGE).i64(hw).i64(hw);
                w.i32(-1).i32(-1);
                continue;
            };
            let mut records = Vec::new();
            for b in log.iter().filter(|b| b.end > offset) {
                if !records.is_empty() && records.len() + b.bytes.len() > max_bytes as usize {
                    break;
                }
                records.extend_from_slice(&b.bytes);
            }
            w.i32(p).i16(0).i64(hw).i64(hw).i32(-1).bytes(&records);
        }
    }
    Ok(())
}

/// Produce v3: one batch per partition, at most `message.max.bytes`, appended.
fn produce(r: &mut Reader<'_>, w: &mut Writer, s: &mut State) -> Result<(), WireError> {
    let _transactional = r.nullable_string()?;
    let _acks = r.i16()?;
    let _timeout = r.i32()?;
    let topics = r.array_len()?;
    w.array_len(topics);
    for _ in 0..topics {
        let name = r.string()?.to_owned();
        let parts = r.array_len()?;
        w.string(&name).array_len(parts);
        for _ in 0..parts {
            let p = r.i32()?;
            let records = r.bytes()?;
            let first_len = records.get(8..12).map_or(0, |b| {
                i32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize + 12
            });
            let err = if first_len != records.len() {
                INVALID_RECORD
            } else if records.len() > MESSAGE_MAX_BYTES {
                MESSAGE_TOO_LARGE
            } else if s.topics.get(&name).is_none_or(|t| p as usize >= t.len()) {
                code::UNKNOWN_TOPIC_OR_PARTITION
            } else {
                0
            };
            s.produced.push((name.clone(), p, records.len(), err));
            let base = if err == 0 {
                s.append(&name, p as usize, records)
            } else {
                -1
            };
            w.i32(p).i16(err).i64(base).i64(-1);
        }
    }
    w.i32(0); // throttle
    Ok(())
}

/// CreateTopics v3: each topic created unless it exists.
fn create_topics(r: &mut Reader<'_>, w: &mut Writer, s: &mut State) -> Result<(), WireError> {
    let topics = r.array_len()?;
    w.i32(0).array_len(topics);
    for _ in 0..topics {
        let name = r.string()?.to_owned();
        let partitions = r.i32()?;
        let _replication = r.i16()?;
        let _assignments = r.array_len()?;
        let _configs = r.array_len()?;
        let err = if s.topics.contains_key(&name) {
            code::TOPIC_ALREADY_EXISTS
        } else {
            s.ensure(&name, partitions.max(1) as usize);
            0
        };
        w.string(&name).i16(err).nullable_string(None);
    }
    Ok(())
}

/// JoinGroup v2: the one member leads a new generation.
fn join_group(r: &mut Reader<'_>, w: &mut Writer, s: &mut State) -> Result<(), WireError> {
    let _group = r.string()?;
    let _session = r.i32()?;
    let _rebalance = r.i32()?;
    let _member = r.string()?;
    let _protocol_type = r.string()?;
    let mut metadata = &[][..];
    for _ in 0..r.array_len()? {
        let _name = r.string()?;
        metadata = r.bytes()?;
    }
    s.generation += 1;
    w.i32(0).i16(0).i32(s.generation).string("range");
    w.string(MEMBER).string(MEMBER).array_len(1);
    w.string(MEMBER).bytes(metadata);
    Ok(())
}

/// SyncGroup v1: the member's assignment as its leader sent it, or the knob's.
fn sync_group(r: &mut Reader<'_>, w: &mut Writer, s: &mut State) -> Result<(), WireError> {
    let _group = r.string()?;
    let _generation = r.i32()?;
    let _member = r.string()?;
    let mut mine = Vec::new();
    for _ in 0..r.array_len()? {
        let id = r.string()?;
        let a = r.bytes()?;
        if id == MEMBER {
            mine = a.to_vec();
        }
    }
    if let Some((topic, n)) = s.grow_on_sync.take() {
        s.ensure(&topic, n);
    }
    if let Some((topic, parts)) = &s.assignment {
        let mut a = Writer::new();
        a.i16(0).array_len(1).string(topic).array_len(parts.len());
        for &p in parts {
            a.i32(p);
        }
        a.i32(-1);
        mine = a.as_bytes().to_vec();
    }
    w.i32(0).i16(0).bytes(&mine);
    Ok(())
}

/// OffsetFetch v1: the committed offsets (-1: none).
fn offset_fetch(r: &mut Reader<'_>, w: &mut Writer, s: &State) -> Result<(), WireError> {
    let _group = r.string()?;
    let topics = r.array_len()?;
    w.array_len(topics);
    for _ in 0..topics {
        let name = r.string()?.to_owned();
        let parts = r.array_len()?;
        w.string(&name).array_len(parts);
        for _ in 0..parts {
            let p = r.i32()?;
            let c = s.committed.get(&(name.clone(), p)).copied().unwrap_or(-1);
            w.i32(p).i64(c).nullable_string(None).i16(0);
        }
    }
    Ok(())
}

/// OffsetCommit v2: every offset taken.
fn offset_commit(r: &mut Reader<'_>, w: &mut Writer, s: &mut State) -> Result<(), WireError> {
    let _group = r.string()?;
    let _generation = r.i32()?;
    let _member = r.string()?;
    let _retention = r.i64()?;
    let topics = r.array_len()?;
    w.array_len(topics);
    for _ in 0..topics {
        let name = r.string()?.to_owned();
        let parts = r.array_len()?;
        w.string(&name).array_len(parts);
        for _ in 0..parts {
            let p = r.i32()?;
            let offset = r.i64()?;
            let _meta = r.nullable_string()?;
            s.committed.insert((name.clone(), p), offset);
            w.i32(p).i16(0);
        }
    }
    Ok(())
}

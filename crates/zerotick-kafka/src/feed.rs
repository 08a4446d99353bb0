//! [`KafkaFeed`]: ticks read from a topic as a member of a consumer group (or from a static
//! set of partitions), offsets committed only up to what the pipeline acknowledged.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use zerotick_core::backoff::Backoff;
use zerotick_core::symbols::{SymbolNames, SymbolTable};
use zerotick_core::{Feed, FeedError, FeedEvent, RejectReason};

use crate::client::{Client, EARLIEST, TopicInfo, api};
use crate::conn::{KafkaError, code};
pub use crate::counters::{FeedCounters, PartitionCounters, PartitionList};
use crate::group::{Beat, Group, GroupConfig};
use crate::produce::{Producer, now_ms};
use crate::record::{BatchReader, Decoded, MAX_SYMBOLS, decode_tick};

/// Which partitions a feed reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Assignment {
    /// As a member of the consumer group: the group's range assignor decides, and
    /// rebalances move partitions between members.
    Group,
    /// No membership: the partitions `p` with `p % count == index` (offsets are still
    /// committed to the group, as generation -1). Two static consumers of one partition
    /// are not prevented: give each instance its own `index`.
    Static {
        /// This instance's index, `0..count`.
        index: u32,
        /// Instances sharing the topic.
        count: u32,
    },
}

/// How a [`KafkaFeed`] connects and reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaFeedConfig {
    /// Bootstrap broker host.
    pub host: String,
    /// Bootstrap broker port.
    pub port: u16,
    /// Topic of ticks (records that do not decode go to `TOPIC.dead`).
    pub topic: String,
    /// Group membership, session and heartbeat settings.
    pub group: GroupConfig,
    /// Group membership, or a static set of partitions.
    pub assignment: Assignment,
    /// End once every partition held has reached the end offset it had when the feed
    /// started (for a partition added later, when the feed first saw it).
    pub until_end: bool,
    /// How long a fetch waits for data before the feed reports `Idle`, ms.
    pub max_wait_ms: u64,
    /// Most bytes a fetch returns per partition.
    pub partition_max_bytes: i32,
    /// Offsets are committed at most this often while reading (each commit is a round trip
    /// to the coordinator), and always before a rebalance and once the feed ended.
    pub commit_interval: Duration,
    /// Timeout of connecting and of every request.
    pub io_timeout: Duration,
    /// How long to keep trying to reconnect before the run fails.
    pub give_up: Duration,
}

impl KafkaFeedConfig {
    /// Defaults for everything but the address, topic and group.
    pub fn new(host: &str, port: u16, topic: &str, group: &str) -> Self {
        Self {
            host: host.to_owned(),
            port,
            topic: topic.to_owned(),
            group: GroupConfig::new(group),
            assignment: Assignment::Group,
            until_end: false,
            max_wait_ms: 100,
            partition_max_bytes: 1 << 20,
            commit_interval: Duration::from_millis(100),
            io_timeout: Duration::from_secs(10),
            give_up: Duration::from_secs(30),
        }
    }
}

/// A decoded record waiting to be handed to the pipeline.
#[derive(Debug, Clone, Copy)]
struct Ready {
    partition: i32,
    offset: i64,
    event: FeedEvent,
}

/// A partition of the topic as this feed sees it.
#[derive(Debug, Default)]
struct Part {
    assigned: bool,
    /// Next offset to fetch.
    position: i64,
    /// Offset after the last record handed to the pipeline (or skipped).
    handed: i64,
    /// Records of this partition in `ready`.
    ready: usize,
    /// Offsets of ticks handed and not yet acknowledged, in order. Room for
    /// [`INFLIGHT_RESERVED`] is made when the partition is first held, not for every
    /// partition of the topic.
    inflight: VecDeque<i64>,
    /// Last offset committed (-1: none by this feed).
    committed: i64,
    /// End offset at start (or when the feed first saw the partition): with `until_end`,
    /// nothing at or after it is read.
    end: i64,
}

/// Most records waiting in `ready`: a fetch stops decoding there and the rest of it is
/// fetched again, so one fetch of small records (a 1 MB zstd batch may decode to millions)
/// does not queue without bound.
const READY_CAP: usize = 1 << 16;

/// Ticks in flight a held partition has room for before its `inflight` queue grows.
const INFLIGHT_RESERVED: usize = 1 << 14;

impl Part {
    /// A partition not held (yet), whose end offset is `end` now.
    fn new(end: i64) -> Self {
        Self {
            end,
            committed: -1,
            ..Self::default()
        }
    }

    /// Offset up to which every record is done: the first tick in flight, else what was
    /// handed (or, with nothing waiting, everything fetched).
    fn committable(&self) -> i64 {
        match self.inflight.front() {
            Some(&o) => o,
            None if self.ready == 0 => self.position,
            None => self.handed,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not a member yet (or dropped): join before fetching.
    Joining,
    /// Reading the assigned partitions.
    Active,
    /// The group rebalances: hand out nothing more, wait (up to a limit) for the ticks in
    /// flight to be acknowledged, commit, then rejoin.
    Revoking { since: Instant },
}

/// Ticks from a Kafka topic. See the crate docs for the record layout, the group protocol,
/// commits and what happens on faults.
///
/// Allocates at the boundary only: when a fetch response is larger than any before, when
/// a symbol is new, and on the cold paths (joins, commits, dead letters, reconnects).
#[derive(Debug)]
pub struct KafkaFeed {
    cfg: KafkaFeedConfig,
    client: Client,
    group: Group,
    /// The topic's partition leaders. Invariant: `info.leaders`, `parts` and
    /// `counters.partitions` have one entry per partition known (they grow together, when
    /// fresh metadata shows partitions added, and never shrink).
    info: TopicInfo,
    parts: Vec<Part>,
    state: State,
    /// Records decoded and not handed out yet, in order. Invariant: at most [`READY_CAP`].
    ready: VecDeque<Ready>,
    /// Partition of every tick handed and not yet acknowledged, in delivery order.
    inflight: VecDeque<i32>,
    /// Ticks acknowledged so far (the pipeline's figure).
    acked: u64,
    symbols: SymbolTable,
    /// Reads fetched record batches; keeps the decompression buffer of compressed ones.
    batches: BatchReader,
    dead: Producer,
    /// Set while the connection is down.
    down: bool,
    backoff: Backoff,
    counters: Arc<FeedCounters>,
    /// Scratch of the commit list.
    commit_list: Vec<(i32, i64)>,
    /// When offsets were last committed (or tried).
    last_commit: Instant,
    /// The feed returned `End`: every acknowledgement is committed at once.
    ended: bool,
    /// Scratch of a fetch round: the leaders to ask, and one leader's partitions.
    fetch_leaders: Vec<i32>,
    fetch_parts: Vec<usize>,
}

impl KafkaFeed {
    /// Connects, reads the topic's partitions and end offsets, and joins the group (or
    /// takes the static partitions); reading starts at the committed offsets (the earliest
    /// offset where the group has none).
    ///
    /// # Errors
    /// [`KafkaError`] if the broker cannot be reached, the topic does not exist, or the
    /// first join fails (no retry here: a bad address should fail fast).
    pub fn connect(cfg: KafkaFeedConfig) -> Result<Self, KafkaError> {
        if let Assignment::Static { index, count } = cfg.assignment
            && index >= count
        {
            return Err(KafkaError::BadUrl(format!(
                "--partitions-of {index}/{count}: the index must be below the count"
            )));
        }
        let mut client = Client::connect(&cfg.host, cfg.port, cfg.io_timeout)?;
        // Before the dead-letter topic is made: a missing topic fails here.
        topic_info(&mut client, &cfg.topic)?;
        let dead_topic = format!("{}.dead", cfg.topic);
        let dead = Producer::new(&mut client, &dead_topic, 1, cfg.give_up)?;
        let mut feed = Self {
            group: Group::new(cfg.group.clone()),
            client,
            // The partitions are taken from the metadata `join` reads.
            info: TopicInfo {
                leaders: Vec::new(),
            },
            parts: Vec::new(),
            state: State::Joining,
            ready: VecDeque::with_capacity(1 << 14),
            inflight: VecDeque::with_capacity(1 << 16),
            acked: 0,
            symbols: SymbolTable::new(MAX_SYMBOLS),
            batches: BatchReader::default(),
            dead,
            down: false,
            backoff: Backoff::new(cfg.give_up),
            counters: Arc::new(FeedCounters::new()),
            commit_list: Vec::new(),
            last_commit: Instant::now(),
            ended: false,
            fetch_leaders: Vec::new(),
            fetch_parts: Vec::new(),
            cfg,
        };
        feed.join()?;
        Ok(feed)
    }

    /// Boundary counters (records, commits, lag, rebalances, dead letters, reconnects),
    /// readable during and after the run.
    pub fn counters(&self) -> Arc<FeedCounters> {
        self.counters.clone()
    }

    /// The partitions held now.
    pub fn assigned(&self) -> Vec<i32> {
        (0..self.parts.len() as i32)
            .filter(|&p| self.parts[p as usize].assigned)
            .collect()
    }

    /// Reads fresh metadata (leaders that moved, partitions added since), joins the group
    /// (or takes the static partitions) and positions every newly assigned partition at its
    /// committed offset.
    ///
    /// # Errors
    /// [`KafkaError`] from the requests; [`KafkaError::Unexpected`] for an assignment of a
    /// partition the topic does not have, even in metadata read after the assignment.
    #[cold]
    #[inline(never)]
    fn join(&mut self) -> Result<(), KafkaError> {
        self.refresh_partitions()?;
        let n = self.parts.len() as i32;
        let mine: Vec<i32> = match self.cfg.assignment {
            Assignment::Group => self.group.join(&mut self.client, &self.cfg.topic, n)?,
            Assignment::Static { index, count } => {
                (0..n).filter(|&p| p as u32 % count == index).collect()
            }
        };
        if self.group.joins() > 1 {
            self.counters.rebalances.fetch_add(1, Ordering::Relaxed);
        }
        let unknown = |known: usize| {
            mine.iter()
                .any(|&p| !usize::try_from(p).is_ok_and(|p| p < known))
        };
        if unknown(self.parts.len()) {
            // The leader saw partitions added to the topic after our metadata was read.
            self.refresh_partitions()?;
            if unknown(self.parts.len()) {
                return Err(KafkaError::Unexpected(
                    "SyncGroup (an assignment of a partition the topic does not have)",
                ));
            }
        }
        self.take_assignment(&mine)
    }

    /// Fresh metadata of the topic: leaders that moved, and partitions added since the feed
    /// last looked (their state made, not held yet; their end offset is the one now).
    #[cold]
    #[inline(never)]
    fn refresh_partitions(&mut self) -> Result<(), KafkaError> {
        let info = topic_info(&mut self.client, &self.cfg.topic)?;
        for (old, &new) in self.info.leaders.iter_mut().zip(&info.leaders) {
            if new >= 0 {
                *old = new;
            }
        }
        let known = self.parts.len();
        if info.leaders.len() <= known {
            return Ok(()); // partitions are never removed from a topic
        }
        let ends = self.client.end_offsets(&self.cfg.topic, &info)?;
        let added = &ends[known..];
        self.info.leaders.extend_from_slice(&info.leaders[known..]);
        self.parts.extend(added.iter().map(|&end| Part::new(end)));
        self.counters.partitions.grow(added);
        Ok(())
    }

    /// Holds the partitions `mine` (every one below `parts.len()`), gives up the others,
    /// and starts each newly held one at the group's committed offset (the earliest offset
    /// where there is none).
    fn take_assignment(&mut self, mine: &[i32]) -> Result<(), KafkaError> {
        let fresh: Vec<i32> = mine
            .iter()
            .copied()
            .filter(|&p| !self.parts[p as usize].assigned)
            .collect();
        let committed = self
            .group
            .committed(&mut self.client, &self.cfg.topic, &fresh)?;
        let needs_start: Vec<i32> = fresh
            .iter()
            .zip(&committed)
            .filter(|(_, c)| **c < 0)
            .map(|(p, _)| *p)
            .collect();
        let earliest = if needs_start.is_empty() {
            Vec::new()
        } else {
            self.client
                .list_offsets(&self.cfg.topic, &self.info, EARLIEST)?
        };
        for (p, part) in self.parts.iter_mut().enumerate() {
            let keep = mine.contains(&(p as i32));
            if part.assigned && !keep {
                // Given up: ticks still in flight may be processed again by the new owner.
                self.counters
                    .revoked_in_flight
                    .fetch_add(part.inflight.len() as u64, Ordering::Relaxed);
            }
            part.assigned = keep;
            if let Some(pc) = self.counters.partitions.get(p) {
                pc.assigned.store(keep, Ordering::Relaxed);
            }
        }
        for (p, c) in fresh.iter().zip(&committed) {
            let part = &mut self.parts[*p as usize];
            let start = if *c >= 0 { *c } else { earliest[*p as usize] };
            part.position = start;
            part.handed = start;
            part.committed = *c;
            if part.inflight.capacity() == 0 {
                part.inflight.reserve(INFLIGHT_RESERVED);
            }
            if let Some(pc) = self.counters.partitions.get(*p as usize) {
                pc.committed.store(*c, Ordering::Relaxed);
            }
        }
        self.state = State::Active;
        Ok(())
    }

    /// Whether every held partition reached its end offset at start (`--until-end`).
    fn at_end(&self) -> bool {
        self.cfg.until_end
            && self
                .parts
                .iter()
                .all(|p| !p.assigned || p.position >= p.end)
    }

    /// After a connection error: drops the connections and waits out the backoff; fails if
    /// the outage lasted past `give_up` or `e` is not a connection problem.
    #[cold]
    #[inline(never)]
    fn lost(&mut self, e: KafkaError) -> Result<(), KafkaError> {
        if !e.is_transient() {
            return Err(e);
        }
        self.client.reset();
        self.group.reset();
        self.down = true;
        self.backoff.failed(e)?;
        std::thread::sleep(
            self.backoff
                .until_next()
                .min(Duration::from_millis(self.cfg.max_wait_ms.max(1))),
        );
        Ok(())
    }

    /// A request succeeded after an outage.
    fn up(&mut self) {
        if self.down {
            self.down = false;
            self.backoff.succeeded();
            self.counters.reconnects.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// One round: heartbeat, join or revoke as the group says, else one fetch into `ready`.
    /// `Ok(false)` when nothing came.
    fn fill(&mut self) -> Result<bool, KafkaError> {
        if !self.backoff.until_next().is_zero() {
            std::thread::sleep(Duration::from_millis(self.cfg.max_wait_ms.clamp(1, 100)));
            return Ok(false);
        }
        let result = match self.state {
            State::Joining => self.join().map(|()| false),
            State::Revoking { since } => self.revoke(since),
            State::Active => match self.group.heartbeat_if_due(&mut self.client) {
                Ok(Beat::Rejoin) => {
                    self.begin_revoke();
                    Ok(false)
                }
                // A commit held back by the interval goes out here, also when the stream is
                // quiet and no acknowledgement comes.
                Ok(Beat::Member) => self.commit_if_due().and_then(|()| self.fetch()),
                Err(e) => Err(e),
            },
        };
        match result {
            Ok(got) => {
                self.up();
                Ok(got)
            }
            Err(e) if is_membership(&e) => {
                self.begin_revoke();
                Ok(false)
            }
            Err(e) => {
                self.lost(e)?;
                Ok(false)
            }
        }
    }

    /// The group rebalances: drop what was fetched and not handed out (the next owner
    /// fetches it again), then wait for the ticks in flight.
    #[cold]
    #[inline(never)]
    fn begin_revoke(&mut self) {
        for r in self.ready.drain(..) {
            let part = &mut self.parts[r.partition as usize];
            part.ready = 0;
            part.position = part.position.min(r.offset);
        }
        self.state = State::Revoking {
            since: Instant::now(),
        };
    }

    /// Waits (up to half the session or rebalance timeout, whichever is shorter: no
    /// heartbeat goes out meanwhile) for the ticks in flight, commits, rejoins.
    #[cold]
    #[inline(never)]
    fn revoke(&mut self, since: Instant) -> Result<bool, KafkaError> {
        let g = &self.cfg.group;
        let limit_ms = g.rebalance_timeout_ms.min(g.session_timeout_ms).max(0) as u64 / 2;
        let limit = Duration::from_millis(limit_ms);
        if !self.inflight.is_empty() && since.elapsed() < limit {
            std::thread::sleep(Duration::from_millis(1));
            return Ok(false);
        }
        // A commit refused because the generation moved on is lost work only for ticks
        // the next owner reads again (at-least-once), so it does not stop the rejoin.
        match self.commit() {
            Ok(()) => {}
            Err(e) if is_membership(&e) => {}
            Err(e) => return Err(e),
        }
        self.state = State::Joining;
        self.join()?;
        Ok(false)
    }

    /// One `Fetch` per leader of the held partitions (not yet at their end with
    /// `until_end`); records decoded into `ready`, bad ones dead-lettered first.
    fn fetch(&mut self) -> Result<bool, KafkaError> {
        let until_end = self.cfg.until_end;
        // Scratch vectors reused across fetches: a fetch round allocates nothing.
        let mut leaders = std::mem::take(&mut self.fetch_leaders);
        leaders.clear();
        for (p, part) in self.parts.iter().enumerate() {
            if part.assigned && !(until_end && part.position >= part.end) {
                let l = self.info.leaders[p];
                if !leaders.contains(&l) {
                    leaders.push(l);
                }
            }
        }
        if leaders.is_empty() {
            self.fetch_leaders = leaders;
            // Nothing to read (no partitions, or all at their end): wait like a fetch would.
            std::thread::sleep(Duration::from_millis(self.cfg.max_wait_ms.clamp(1, 100)));
            return Ok(false);
        }
        let before = self.ready.len();
        let fetched = leaders.iter().try_for_each(|&l| self.fetch_from(l));
        self.fetch_leaders = leaders;
        fetched?;
        if self.dead.queued() > 0 {
            self.dead.flush(&mut self.client)?;
        }
        Ok(self.ready.len() > before)
    }

    fn fetch_from(&mut self, leader: i32) -> Result<(), KafkaError> {
        let until_end = self.cfg.until_end;
        let wait_ms = self.cfg.max_wait_ms;
        let conn = self.client.conn(leader)?;
        let w = conn.request(api::FETCH, 4);
        w.i32(-1) // replica id: a consumer
            .i32(wait_ms as i32)
            .i32(1) // min bytes
            .i32(64 << 20) // max bytes
            .i8(0) // read uncommitted
            .array_len(1)
            .string(&self.cfg.topic);
        let wanted = &mut self.fetch_parts;
        wanted.clear();
        wanted.extend((0..self.parts.len()).filter(|&p| {
            let part = &self.parts[p];
            part.assigned
                && self.info.leaders[p] == leader
                && !(until_end && part.position >= part.end)
        }));
        w.array_len(wanted.len());
        for &p in wanted.iter() {
            w.i32(p as i32)
                .i64(self.parts[p].position)
                .i32(self.cfg.partition_max_bytes);
        }
        let mut r = conn.call(Duration::from_millis(wait_ms))?;
        let _throttle = r.i32()?;
        let mut out_of_range = Vec::new();
        for _ in 0..r.array_len()? {
            let _topic = r.string()?;
            for _ in 0..r.array_len()? {
                let p = r.i32()?;
                let err = r.i16()?;
                let high_watermark = r.i64()?;
                let _last_stable = r.i64()?;
                let aborted = r.i32()?;
                r.take((aborted.max(0) as usize).saturating_mul(16))?;
                let records = r.nullable_bytes()?.unwrap_or(&[]);
                let Some(part) = self.parts.get_mut(p as usize) else {
                    return Err(KafkaError::Unexpected("Fetch (partition)"));
                };
                match err {
                    0 => {}
                    code::OFFSET_OUT_OF_RANGE => {
                        out_of_range.push(p);
                        continue;
                    }
                    e => {
                        return Err(KafkaError::Broker {
                            what: "Fetch",
                            code: e,
                        });
                    }
                }
                let Some(pc) = self.counters.partitions.get(p as usize) else {
                    return Err(KafkaError::Unexpected("Fetch (partition)"));
                };
                pc.high_watermark.store(high_watermark, Ordering::Relaxed);
                let mut ctx = Decode {
                    partition: p,
                    part,
                    ready: &mut self.ready,
                    symbols: &mut self.symbols,
                    dead: &mut self.dead,
                    topic: &self.cfg.topic,
                    counters: &self.counters,
                    partition_counters: pc,
                    until_end,
                };
                let from = ctx.part.position;
                // Past the cap, `next` is the first record not queued: the next fetch
                // starts there.
                let room = READY_CAP.saturating_sub(ctx.ready.len());
                let next = self.batches.read_at_most(records, from, room, |rec| {
                    ctx.record(rec.offset, rec.key, rec.value);
                    Ok(())
                })?;
                debug_assert!(ctx.ready.len() <= READY_CAP);
                let part = ctx.part;
                part.position = if until_end {
                    next.min(part.end).max(from)
                } else {
                    next
                };
            }
        }
        if !out_of_range.is_empty() {
            self.reset_out_of_range(&out_of_range)?;
        }
        Ok(())
    }

    /// Partitions whose position fell out of the log (retention deleted it): restart at
    /// the earliest offset still there, as `auto.offset.reset=earliest` does.
    #[cold]
    #[inline(never)]
    fn reset_out_of_range(&mut self, parts: &[i32]) -> Result<(), KafkaError> {
        let earliest = self
            .client
            .list_offsets(&self.cfg.topic, &self.info, EARLIEST)?;
        for &p in parts {
            let part = &mut self.parts[p as usize];
            if part.ready == 0 && part.inflight.is_empty() {
                part.position = earliest[p as usize];
                part.handed = part.position;
            }
        }
        Ok(())
    }

    /// [`KafkaFeed::commit`] if `commit_interval` passed since the last one.
    fn commit_if_due(&mut self) -> Result<(), KafkaError> {
        if self.last_commit.elapsed() < self.cfg.commit_interval {
            return Ok(());
        }
        self.commit()
    }

    /// Commits, for every held partition, the offset below which every record is done.
    fn commit(&mut self) -> Result<(), KafkaError> {
        self.last_commit = Instant::now();
        self.commit_list.clear();
        for (p, part) in self.parts.iter().enumerate() {
            let c = part.committable();
            if part.assigned && c > part.committed {
                self.commit_list.push((p as i32, c));
            }
        }
        if self.commit_list.is_empty() {
            return Ok(());
        }
        self.group
            .commit(&mut self.client, &self.cfg.topic, &self.commit_list)?;
        self.counters.commits.fetch_add(1, Ordering::Relaxed);
        for &(p, c) in &self.commit_list {
            self.parts[p as usize].committed = c;
            if let Some(pc) = self.counters.partitions.get(p as usize) {
                pc.committed.store(c, Ordering::Relaxed);
            }
        }
        Ok(())
    }
}

/// `topic`'s partition leaders, from fresh metadata.
///
/// # Errors
/// [`KafkaError`] from the request; `UNKNOWN_TOPIC_OR_PARTITION` (retriable) if the topic
/// does not exist or has no partition with a leader yet.
fn topic_info(client: &mut Client, topic: &str) -> Result<TopicInfo, KafkaError> {
    client
        .metadata(&[topic])?
        .pop()
        .flatten()
        .filter(|t| !t.leaders.is_empty())
        .ok_or(KafkaError::Broker {
            what: "Metadata (the topic does not exist: publish to it first)",
            code: code::UNKNOWN_TOPIC_OR_PARTITION,
        })
}

/// Whether `e` says this member's generation is over (rejoin, do not reconnect).
fn is_membership(e: &KafkaError) -> bool {
    matches!(
        e.code(),
        Some(code::REBALANCE_IN_PROGRESS | code::ILLEGAL_GENERATION | code::UNKNOWN_MEMBER_ID)
    )
}

/// What decoding one partition's records needs, borrowed apart from the connection that
/// holds the response.
struct Decode<'a> {
    partition: i32,
    part: &'a mut Part,
    ready: &'a mut VecDeque<Ready>,
    symbols: &'a mut SymbolTable,
    dead: &'a mut Producer,
    topic: &'a str,
    counters: &'a FeedCounters,
    partition_counters: &'a PartitionCounters,
    until_end: bool,
}

impl Decode<'_> {
    #[inline]
    fn record(&mut self, offset: i64, key: Option<&[u8]>, value: Option<&[u8]>) {
        if self.until_end && offset >= self.part.end {
            return;
        }
        let event = match decode_tick(key, value, self.symbols) {
            Decoded::Tick(t) => FeedEvent::Tick(t),
            Decoded::Rejected(reason) => {
                self.dead_letter(offset, key, value, reason);
                FeedEvent::Rejected(reason)
            }
        };
        self.counters.records.fetch_add(1, Ordering::Relaxed);
        self.partition_counters
            .records
            .fetch_add(1, Ordering::Relaxed);
        self.part.ready += 1;
        self.ready.push_back(Ready {
            partition: self.partition,
            offset,
            event,
        });
    }

    /// Queues the record, unchanged, for `TOPIC.dead` with headers `reason`, `topic`,
    /// `partition` and `offset` (written before the rejection is handed on).
    #[cold]
    #[inline(never)]
    fn dead_letter(
        &mut self,
        offset: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        reason: RejectReason,
    ) {
        let partition = self.partition.to_string();
        let offset_text = offset.to_string();
        self.dead.push(
            0,
            now_ms(),
            key,
            value,
            &[
                ("reason", reason.name().as_bytes()),
                ("topic", self.topic.as_bytes()),
                ("partition", partition.as_bytes()),
                ("offset", offset_text.as_bytes()),
            ],
        );
        self.counters.dead_lettered.fetch_add(1, Ordering::Relaxed);
    }
}

impl Feed for KafkaFeed {
    fn next_event(&mut self) -> Result<FeedEvent, FeedError> {
        loop {
            if let Some(r) = self.ready.pop_front() {
                let part = &mut self.parts[r.partition as usize];
                part.ready -= 1;
                part.handed = r.offset + 1;
                if let FeedEvent::Tick(_) = r.event {
                    part.inflight.push_back(r.offset);
                    self.inflight.push_back(r.partition);
                }
                return Ok(r.event);
            }
            if self.state == State::Active && self.at_end() {
                self.ended = true;
                return Ok(FeedEvent::End);
            }
            if !self.fill()? {
                return Ok(FeedEvent::Idle);
            }
        }
    }

    fn names(&self) -> SymbolNames {
        self.symbols.names()
    }

    fn wants_acknowledgements(&self) -> bool {
        true
    }

    /// Commits up to the new watermark (at most every `commit_interval` while reading; at
    /// once after the end), retrying through reconnects (up to `give_up`): the last call of
    /// a run must not be lost. A commit refused because the group rebalances
    /// starts the rejoin instead (the partitions may have moved).
    fn acknowledge(&mut self, processed: u64) -> Result<(), FeedError> {
        let n = processed
            .saturating_sub(self.acked)
            .min(self.inflight.len() as u64);
        for _ in 0..n {
            if let Some(p) = self.inflight.pop_front() {
                self.parts[p as usize].inflight.pop_front();
            }
        }
        self.acked += n;
        if matches!(self.state, State::Revoking { .. }) {
            return Ok(()); // committed once the ticks in flight are in, before the rejoin
        }
        if !self.ended && self.last_commit.elapsed() < self.cfg.commit_interval {
            return Ok(()); // committed by a later acknowledgement or fetch round
        }
        loop {
            match self.commit() {
                Ok(()) => {
                    self.up();
                    return Ok(());
                }
                Err(e) if is_membership(&e) => {
                    self.begin_revoke();
                    return Ok(());
                }
                Err(e) => self.lost(e)?,
            }
        }
    }
}

impl Drop for KafkaFeed {
    /// Commits what is done and leaves the group, so the partitions move at once instead
    /// of after the session timeout (best effort).
    fn drop(&mut self) {
        if self.state == State::Active {
            let _ = self.commit();
        }
        self.group.leave(&mut self.client);
    }
}

#[cfg(test)]
mod tests;

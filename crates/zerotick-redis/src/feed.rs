//! [`RedisFeed`]: ticks read from Redis Streams through a consumer group, acknowledged only
//! after the pipeline says their signals were written.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use zerotick_core::symbols::{SymbolNames, SymbolPartitions, SymbolTable};
use zerotick_core::{Feed, FeedError, FeedEvent, RejectReason};

use crate::checkpoint::{self, checkpoint_key, group_key};
use crate::codec::{Decoded, MAX_SYMBOLS, StreamId, decode_entry};
use crate::conn::{Connection, RedisError};
use crate::resp::{Encoder, Value};
use crate::{Backoff, shard_stream};

/// A [`Ctx`] over `$feed`'s fields, borrowed one by one (so a reply still borrowed from the
/// feed's connection can be decoded through it).
macro_rules! ctx {
    ($feed:ident, $skip:expr) => {
        Ctx {
            shards: &mut $feed.shards,
            ready: &mut $feed.ready,
            symbols: &mut $feed.symbols,
            side: &mut $feed.side,
            group: &$feed.group,
            dead: &$feed.dead,
            dead_max: $feed.dead_max,
            skip: $skip,
            counters: &$feed.counters,
        }
    };
}

/// Creates the group on a shard stream if missing and answers the group's epoch: `KEYS[1]`
/// the stream, `KEYS[2]` its epoch key (`SHARD.epoch.GROUP`); `ARGV` group, a fresh token.
/// A group created here (or found without an epoch) gets the fresh token. Atomic, so the
/// epoch names exactly one incarnation of the group: deleting the stream or the group and
/// creating it again gives a new one.
const GROUP_SCRIPT: &[u8] =
    b"local r = redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM') \
if type(r) == 'table' and r.err then \
if string.find(r.err, 'BUSYGROUP', 1, true) == nil then return r end \
local e = redis.call('GET', KEYS[2]) \
if e then return e end \
end \
redis.call('SET', KEYS[2], ARGV[2]) \
return ARGV[2]";

/// Takes or renews the lease of a shard set: `KEYS[1]` the lease key; `ARGV` consumer, time
/// to live in ms. Answers 1 if this consumer holds it now, else the holder's name.
const LEASE_SCRIPT: &[u8] = b"local cur = redis.call('GET', KEYS[1]) \
if cur and cur ~= ARGV[1] then return cur end \
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) \
return 1";

/// Gives the lease up if this consumer holds it: `KEYS[1]` the lease key; `ARGV` consumer.
const RELEASE_SCRIPT: &[u8] = b"if redis.call('GET', KEYS[1]) == ARGV[1] then \
redis.call('DEL', KEYS[1]) end \
return 0";

/// What a consumer waiting for another one's lease is told on every poll
/// ([`RedisFeed::connect_with`]).
#[derive(Debug, Clone, Copy)]
pub struct Standby<'a> {
    /// The consumer holding the lease of this shard set.
    pub holder: &'a str,
    /// The lease key.
    pub key: &'a str,
    /// How long this consumer has waited so far.
    pub waited: Duration,
}

/// How a [`RedisFeed`] connects and reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisFeedConfig {
    /// Server host.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Base stream name: shard `i` is `STREAM.{i}`; unsharded, the stream itself.
    pub stream: String,
    /// Consumer group (created at id 0 with `MKSTREAM` if missing).
    pub group: String,
    /// This consumer's name in the group. A restart under the same name re-reads its own
    /// pending entries first.
    pub consumer: String,
    /// Shards to consume; `None`: the unsharded stream `STREAM`.
    pub shards: Option<Vec<u32>>,
    /// Entries per `XREADGROUP`/`XAUTOCLAIM` call.
    pub count: usize,
    /// `BLOCK` of `XREADGROUP`, ms: how long a read waits before the feed reports `Idle`.
    pub block_ms: u64,
    /// Entries pending longer than this (ms) for any consumer are claimed (`XAUTOCLAIM`), at
    /// start, after a reconnect, and every this many ms. Must exceed the longest time an entry
    /// of a live consumer waits for its acknowledgement.
    pub claim_idle_ms: u64,
    /// Timeout of connecting and of every read and write.
    pub io_timeout: Duration,
    /// How long to keep trying to reconnect before the run fails.
    pub give_up: Duration,
    /// Store and resume from pipeline checkpoints (see the crate docs, "Deterministic
    /// failover"): at connect, wait for the lease of these shards (one consumer holds a
    /// shard set at a time; others stand by), load the group's checkpoint for them and replay
    /// the stream from its positions; during the run, store the checkpoints the pipeline
    /// takes and renew the lease.
    pub checkpoints: bool,
    /// Most entries kept in the dead-letter stream `STREAM.dead` (`XADD MAXLEN`, exact: the
    /// oldest dead letters go first), so a writer of bad entries cannot grow the server's
    /// memory without bound while the source entries are acknowledged and trimmed.
    pub dead_letter_max: u64,
}

/// How long the lease of a shard set lives without renewal (with
/// [`RedisFeedConfig::checkpoints`]): `claim_idle_ms`, the time after which a consumer's
/// entries count as abandoned, at least a second. The holder renews it between reads once a
/// third of it has passed, so a blocking read (`block_ms`) must stay under a third of it.
pub fn lease_ms(claim_idle_ms: u64) -> u64 {
    claim_idle_ms.max(1_000)
}

/// Default of [`RedisFeedConfig::dead_letter_max`].
pub const DEAD_LETTER_MAX: u64 = 100_000;

impl RedisFeedConfig {
    /// Defaults for everything but the address and names.
    pub fn new(host: &str, port: u16, stream: &str, group: &str, consumer: &str) -> Self {
        Self {
            host: host.to_owned(),
            port,
            stream: stream.to_owned(),
            group: group.to_owned(),
            consumer: consumer.to_owned(),
            shards: None,
            count: 512,
            block_ms: 100,
            claim_idle_ms: 5_000,
            io_timeout: Duration::from_secs(5),
            give_up: Duration::from_secs(30),
            checkpoints: false,
            dead_letter_max: DEAD_LETTER_MAX,
        }
    }
}

/// What a feed did at the boundary; shared so the caller can read it after the run.
#[derive(Debug, Default)]
pub struct FeedCounters {
    /// Successful reconnections after a connection was lost.
    pub reconnects: AtomicU64,
    /// Entries taken over from other consumers with `XAUTOCLAIM`.
    pub claimed: AtomicU64,
    /// Entries re-read from this consumer's pending list (previous run or lost reply).
    pub recovered: AtomicU64,
    /// Entries skipped because this run had already handed them to the pipeline.
    pub duplicates_skipped: AtomicU64,
    /// Bad entries copied to the dead-letter stream and acknowledged.
    pub dead_lettered: AtomicU64,
    /// Entries acknowledged (ticks, bad entries, end markers).
    pub acked: AtomicU64,
    /// Time spent after the last end marker waiting for other consumers' entries before the
    /// markers to be acknowledged or to become idle enough to claim, ms.
    pub end_wait_ms: AtomicU64,
    /// Of [`FeedCounters::claimed`], entries claimed during that wait.
    pub end_claimed: AtomicU64,
    /// Checkpoints stored.
    pub checkpoints: AtomicU64,
    /// Size of the last checkpoint stored, bytes.
    pub checkpoint_bytes: AtomicU64,
    /// 1 if this run resumed from a stored checkpoint.
    pub resumed: AtomicU64,
    /// Entries read again from a checkpoint's position up to where the group had got to.
    pub replayed: AtomicU64,
    /// 1 if a stored checkpoint was set aside because the group was created again since it
    /// was taken (the stream or the group had been deleted): the run started afresh.
    pub stale_checkpoints: AtomicU64,
    /// Time spent standing by for another consumer's lease of these shards, ms.
    pub standby_ms: AtomicU64,
}

/// Where a shard is in its read cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Claiming idle entries of other consumers from `cursor` on; then re-read this
    /// consumer's own pending entries if `then_own`.
    Claim { cursor: StreamId, then_own: bool },
    /// Re-reading this consumer's pending entries after `cursor`.
    Own { cursor: StreamId },
    /// Replaying the stream after `cursor` up to `until` (`XRANGE`): a checkpoint's position
    /// up to the group's last delivered entry when the feed resumed.
    Replay { cursor: StreamId, until: StreamId },
    /// Reading new entries (`>`).
    Live,
}

#[derive(Debug)]
struct Shard {
    name: Vec<u8>,
    phase: Phase,
    /// The end marker, once seen: nothing after it is read, and it is acknowledged when
    /// every tick before it is.
    marker: Option<StreamId>,
}

#[derive(Debug, Clone, Copy)]
struct Ready {
    shard: u16,
    id: StreamId,
    event: FeedEvent,
}

/// Ticks from Redis Streams. See the crate docs for the entry layout, sharding, the end of a
/// run and what happens on faults.
///
/// Allocates at the boundary only: when a reply is larger than any before, when a symbol is
/// new, and on the cold paths (reconnects, claims, dead letters).
#[derive(Debug)]
pub struct RedisFeed {
    cfg: RedisFeedConfig,
    group: Vec<u8>,
    consumer: Vec<u8>,
    dead: Vec<u8>,
    /// [`RedisFeedConfig::dead_letter_max`].
    dead_max: u64,
    conn: Option<Connection>,
    shards: Vec<Shard>,
    /// Decoded entries not yet handed to the pipeline, in stream order.
    ready: VecDeque<Ready>,
    /// Ticks handed to the pipeline and not yet acknowledged, in delivery order.
    inflight: VecDeque<(u16, StreamId)>,
    /// Ticks the pipeline has finished (acknowledge target); `inflight[..target - acked]`
    /// are the ones to `XACK` next. Invariant: `acked <= target`.
    target: u64,
    acked: u64,
    markers_acked: bool,
    /// Every shard ended and no other consumer holds an entry before its marker: the run may
    /// end, and the markers may be acknowledged.
    settled: bool,
    /// When the wait for other consumers' entries began (every shard ended).
    settle_since: Option<Instant>,
    symbols: SymbolTable,
    /// Cold-path commands (dead letters, acks of bad or deleted entries).
    side: Encoder,
    backoff: Backoff,
    last_claim: Instant,
    /// A live read happened since the last claim round began: claim rounds and live reads
    /// alternate, so no `claim_idle_ms` (not even 0) starves the live entries.
    read_since_claim: bool,
    counters: Arc<FeedCounters>,
    /// Per shard, the last entry handed to the pipeline (a checkpoint's position).
    handed: Vec<StreamId>,
    /// `handed` and the symbol count at the last checkpoint mark.
    mark: Vec<StreamId>,
    mark_symbols: usize,
    /// The pipeline state of the checkpoint resumed from, until the pipeline takes it.
    restored: Option<Vec<u8>>,
    /// The envelope being stored (reused).
    envelope: Vec<u8>,
    /// Per shard, the epoch of the group (see [`GROUP_SCRIPT`]); empty before the first
    /// setup.
    epochs: Vec<Vec<u8>>,
    /// With checkpoints, the lease key of this shard set, whether this consumer holds it,
    /// and when it was last renewed.
    lease_key: Option<String>,
    lease_held: bool,
    lease_renewed: Instant,
    /// With several shards, the shard (by position) each symbol comes from, for the
    /// pipeline ([`Feed::partitions`]).
    partitions: Option<Partitions>,
}

/// The feed's side of [`SymbolPartitions`]: what it has already published.
#[derive(Debug)]
struct Partitions {
    shared: SymbolPartitions,
    known: Vec<bool>,
}

impl Partitions {
    #[inline]
    fn note(&mut self, symbol: u32, shard: u16) {
        if !self.known.get(symbol as usize).copied().unwrap_or(false) {
            self.learn(symbol, shard);
        }
    }

    #[cold]
    fn learn(&mut self, symbol: u32, shard: u16) {
        let i = symbol as usize;
        if self.known.len() <= i {
            self.known.resize(i + 1, false);
        }
        self.known[i] = true;
        self.shared.set(symbol, u32::from(shard));
    }
}

impl RedisFeed {
    /// Connects, creates the group on every shard stream if missing, and prepares to claim
    /// idle entries and re-read this consumer's pending ones before new entries.
    ///
    /// # Errors
    /// [`RedisError`] if the first connection or group creation fails (no retry here: a bad
    /// address should fail fast).
    pub fn connect(cfg: RedisFeedConfig) -> Result<Self, RedisError> {
        Self::connect_with(cfg, &mut |_| true)
    }

    /// [`RedisFeed::connect`], told while it stands by for another consumer's lease of these
    /// shards (checkpoints on): `standby` is called on every poll (about every 100 ms) and
    /// ends the wait with [`RedisError::Standby`] when it answers `false`.
    ///
    /// # Errors
    /// As [`RedisFeed::connect`], and [`RedisError::Standby`].
    pub fn connect_with(
        cfg: RedisFeedConfig,
        standby: &mut dyn FnMut(Standby<'_>) -> bool,
    ) -> Result<Self, RedisError> {
        let names: Vec<Vec<u8>> = match &cfg.shards {
            None => vec![cfg.stream.as_bytes().to_vec()],
            Some(list) => {
                if list.is_empty() {
                    return Err(RedisError::BadUrl("--shards lists no shard".to_owned()));
                }
                let mut seen = HashSet::new();
                for &i in list {
                    if !seen.insert(i) {
                        return Err(RedisError::BadUrl(format!("shard {i} listed twice")));
                    }
                }
                list.iter()
                    .map(|&i| shard_stream(&cfg.stream, i).into_bytes())
                    .collect()
            }
        };
        if names.len() > usize::from(u16::MAX) {
            return Err(RedisError::BadUrl("too many shards".to_owned()));
        }
        if cfg.dead_letter_max == 0 {
            return Err(RedisError::BadUrl(
                "the dead-letter stream must keep at least 1 entry".to_owned(),
            ));
        }
        let names_len = names.len();
        let mut feed = Self {
            group: cfg.group.as_bytes().to_vec(),
            consumer: cfg.consumer.as_bytes().to_vec(),
            dead: format!("{}.dead", cfg.stream).into_bytes(),
            dead_max: cfg.dead_letter_max,
            conn: None,
            shards: names
                .into_iter()
                .map(|name| Shard {
                    name,
                    phase: Phase::Live,
                    marker: None,
                })
                .collect(),
            ready: VecDeque::with_capacity(cfg.count.max(1) * 2),
            inflight: VecDeque::with_capacity(1 << 16),
            target: 0,
            acked: 0,
            markers_acked: false,
            settled: false,
            settle_since: None,
            symbols: SymbolTable::new(MAX_SYMBOLS),
            side: Encoder::new(),
            backoff: Backoff::new(cfg.give_up),
            last_claim: Instant::now(),
            read_since_claim: false,
            counters: Arc::default(),
            handed: vec![StreamId::default(); names_len],
            mark: vec![StreamId::default(); names_len],
            mark_symbols: 0,
            restored: None,
            envelope: Vec::new(),
            epochs: Vec::new(),
            lease_key: cfg
                .checkpoints
                .then(|| group_key(&cfg.stream, "owner", &cfg.group, cfg.shards.as_deref())),
            lease_held: false,
            lease_renewed: Instant::now(),
            partitions: (names_len > 1).then(|| Partitions {
                shared: SymbolPartitions::new(names_len),
                known: Vec::with_capacity(MAX_SYMBOLS),
            }),
            cfg,
        };
        feed.setup()?;
        if feed.cfg.checkpoints {
            feed.stand_by(standby)?;
            feed.resume()?;
        }
        Ok(feed)
    }

    /// The epoch of the group on every shard, joined by `,`: names this incarnation of the
    /// group (state kept outside the process about it, such as a deduplicating sink's, must
    /// start over when it changes).
    pub fn epoch(&self) -> String {
        let parts: Vec<_> = self
            .epochs
            .iter()
            .map(|e| String::from_utf8_lossy(e))
            .collect();
        parts.join(",")
    }

    /// [`lease_ms`] of this feed's `claim_idle_ms`.
    fn lease_ms(&self) -> u64 {
        lease_ms(self.cfg.claim_idle_ms)
    }

    /// Takes or renews the lease; `Ok(None)` if this consumer holds it now, else the holder.
    fn try_lease(&mut self) -> Result<Option<String>, RedisError> {
        let Some(key) = &self.lease_key else {
            return Ok(None);
        };
        let ttl = self.lease_ms();
        let conn = self.conn.as_mut().ok_or(RedisError::Closed)?;
        conn.set_read_timeout(self.cfg.io_timeout)?;
        conn.encoder()
            .begin(6)
            .arg(b"EVAL")
            .arg(LEASE_SCRIPT)
            .arg(b"1")
            .arg(key.as_bytes())
            .arg(&self.consumer)
            .arg_u64(ttl);
        let reply = conn.call()?;
        if reply.int() == Some(1) {
            self.lease_held = true;
            self.lease_renewed = Instant::now();
            return Ok(None);
        }
        let holder = reply
            .bytes()
            .ok_or(RedisError::Unexpected("lease script"))?;
        Ok(Some(String::from_utf8_lossy(holder).into_owned()))
    }

    /// Waits until this consumer holds the lease of its shard set: another consumer that
    /// holds it is alive (it renews it) or died less than [`RedisFeed::lease_ms`] ago.
    #[cold]
    fn stand_by(&mut self, standby: &mut dyn FnMut(Standby<'_>) -> bool) -> Result<(), RedisError> {
        let since = Instant::now();
        loop {
            let holder = match self.try_lease() {
                Ok(None) => break,
                Ok(Some(h)) => h,
                Err(e) if e.is_transient() => {
                    // The server went away while standing by: reconnect with backoff, up to
                    // `give_up` in all.
                    self.conn = None;
                    self.backoff.failed(e)?;
                    std::thread::sleep(self.backoff.until_next());
                    if let Err(e) = self.setup()
                        && !e.is_transient()
                    {
                        return Err(e);
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
            let waited = since.elapsed();
            let key = self.lease_key.clone().unwrap_or_default();
            self.counters.standby_ms.store(
                u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
            if !standby(Standby {
                holder: &holder,
                key: &key,
                waited,
            }) {
                return Err(RedisError::Standby(format!(
                    "stopped standing by for {key} (held by consumer {holder})"
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.backoff.succeeded();
        Ok(())
    }

    /// Renews the lease when a third of its life has passed. Fails if another consumer took
    /// it (this one stalled longer than the lease lives): its state is no longer this
    /// consumer's to write.
    fn renew_lease(&mut self) -> Result<(), RedisError> {
        if !self.lease_held
            || self.lease_renewed.elapsed() < Duration::from_millis(self.lease_ms() / 3)
        {
            return Ok(());
        }
        match self.try_lease()? {
            None => Ok(()),
            Some(holder) => Err(self.lease_lost(&holder)),
        }
    }

    #[cold]
    fn lease_lost(&mut self, holder: &str) -> RedisError {
        self.lease_held = false;
        RedisError::Checkpoint(format!(
            "{}: consumer {holder} took this shard set over (this consumer did not renew the \
             lease for {} ms); stopping so that only one consumer writes its state",
            self.lease_key.as_deref().unwrap_or_default(),
            self.lease_ms()
        ))
    }

    /// Gives the lease up at the end of the run, so a standby takes over at once (best
    /// effort: otherwise it expires).
    fn release_lease(&mut self) {
        if !self.lease_held {
            return;
        }
        self.lease_held = false;
        let (Some(key), Some(conn)) = (&self.lease_key, self.conn.as_mut()) else {
            return;
        };
        conn.encoder()
            .begin(5)
            .arg(b"EVAL")
            .arg(RELEASE_SCRIPT)
            .arg(b"1")
            .arg(key.as_bytes())
            .arg(&self.consumer);
        if conn.call().is_err() {
            self.conn = None;
        }
    }

    /// Boundary counters (reconnects, claims, dead letters, ...), readable during and after
    /// the run.
    pub fn counters(&self) -> Arc<FeedCounters> {
        self.counters.clone()
    }

    /// Connects and creates the group where missing; every shard not yet ended goes through
    /// claim and own-pending phases again.
    fn setup(&mut self) -> Result<(), RedisError> {
        let mut conn = Connection::connect(&self.cfg.host, self.cfg.port, self.cfg.io_timeout)?;
        let token = fresh_epoch(&self.consumer);
        for s in &self.shards {
            let name = String::from_utf8_lossy(&s.name);
            let group = String::from_utf8_lossy(&self.group);
            let key = group_key(&name, "epoch", &group, None);
            conn.encoder()
                .begin(7)
                .arg(b"EVAL")
                .arg(GROUP_SCRIPT)
                .arg(b"2")
                .arg(&s.name)
                .arg(key.as_bytes())
                .arg(&self.group)
                .arg(token.as_bytes());
        }
        conn.send()?;
        let mut epochs = Vec::with_capacity(self.shards.len());
        for _ in 0..self.shards.len() {
            let reply = conn.read_ok()?;
            let epoch = reply
                .bytes()
                .ok_or(RedisError::Unexpected("group script"))?;
            epochs.push(epoch.to_vec());
        }
        if self.epochs.is_empty() {
            self.epochs = epochs;
        } else if self.epochs != epochs {
            if self.cfg.checkpoints {
                return Err(RedisError::Checkpoint(format!(
                    "the group {} was created again during the run (the server lost it, or it \
                     or its stream was deleted): the positions and state of this run no \
                     longer apply",
                    String::from_utf8_lossy(&self.group)
                )));
            }
            self.epochs = epochs;
        }
        for s in &mut self.shards {
            // A replay goes on where it was: what it has not read yet is not this
            // consumer's to claim or re-read.
            if s.marker.is_none() && !matches!(s.phase, Phase::Replay { .. }) {
                s.phase = Phase::Claim {
                    cursor: StreamId::default(),
                    then_own: true,
                };
            }
        }
        self.last_claim = Instant::now();
        self.conn = Some(conn);
        if self.lease_held {
            // A reconnect: still this consumer's shard set, unless another took it over.
            self.lease_held = false;
            if let Some(holder) = self.try_lease()? {
                return Err(self.lease_lost(&holder));
            }
        }
        Ok(())
    }

    /// Makes sure there is a connection; `Ok(false)` while waiting for the next attempt.
    /// With `wait`, sleeps until the next attempt instead of returning early (at most
    /// `block_ms` per call when not waiting).
    fn ensure_connected(&mut self, wait: bool) -> Result<bool, RedisError> {
        loop {
            if self.conn.is_some() {
                return Ok(true);
            }
            let pause = self.backoff.until_next();
            if !pause.is_zero() {
                let cap = Duration::from_millis(self.cfg.block_ms);
                if !wait && pause > cap {
                    std::thread::sleep(cap);
                    return Ok(false);
                }
                std::thread::sleep(pause);
            }
            match self.setup() {
                Ok(()) => {
                    self.backoff.succeeded();
                    self.counters.reconnects.fetch_add(1, Ordering::Relaxed);
                    return Ok(true);
                }
                Err(e) if e.is_transient() => {
                    self.backoff.failed(e)?;
                    if !wait {
                        return Ok(false);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Connected (without waiting for the next attempt) and the lease renewed if due;
    /// `Ok(false)` while waiting to reconnect, a lost connection included.
    fn ready_to_read(&mut self) -> Result<bool, RedisError> {
        if !self.ensure_connected(false)? {
            return Ok(false);
        }
        if let Err(e) = self.renew_lease() {
            self.lost(e)?;
            return Ok(false);
        }
        Ok(true)
    }

    /// Drops the connection after `e`; fails if the outage lasted past `give_up`, or if `e`
    /// is not a connection problem.
    #[cold]
    #[inline(never)]
    fn lost(&mut self, e: RedisError) -> Result<(), RedisError> {
        self.conn = None;
        if e.is_server("NOGROUP") {
            // The server lost the group (restart without persistence, or someone deleted
            // it): set up again at once.
            return Ok(());
        }
        if !e.is_transient() {
            return Err(e);
        }
        self.backoff.failed(e)
    }

    /// One read from the server into `ready`. `Ok(false)` when nothing came (timeout, or
    /// waiting to reconnect).
    fn fill(&mut self) -> Result<bool, RedisError> {
        if !self.ready_to_read()? {
            return Ok(false);
        }
        if self.read_since_claim
            && self.last_claim.elapsed() >= Duration::from_millis(self.cfg.claim_idle_ms)
        {
            self.last_claim = Instant::now();
            self.read_since_claim = false;
            for s in &mut self.shards {
                if s.marker.is_none() && s.phase == Phase::Live {
                    s.phase = Phase::Claim {
                        cursor: StreamId::default(),
                        then_own: false,
                    };
                }
            }
        }
        let before = self.ready.len();
        let result = match self
            .shards
            .iter()
            .position(|s| s.marker.is_none() && s.phase != Phase::Live)
        {
            Some(i) => match self.shards[i].phase {
                Phase::Claim { cursor, then_own } => self.claim(i, cursor, then_own),
                Phase::Own { cursor } => self.read_own(i, cursor),
                Phase::Replay { cursor, until } => self.replay(i, cursor, until),
                Phase::Live => unreachable!("filtered above"),
            },
            None => self.read_live(),
        };
        match result {
            Ok(()) => Ok(self.ready.len() > before),
            Err(e) => {
                self.lost(e)?;
                Ok(self.ready.len() > before)
            }
        }
    }

    /// `XREADGROUP ... BLOCK ms STREAMS s.. > ..` over the live shards.
    fn read_live(&mut self) -> Result<(), RedisError> {
        let live = self.shards.iter().filter(|s| s.marker.is_none()).count();
        if live == 0 {
            return Ok(());
        }
        self.read_since_claim = true;
        let conn = self.conn.as_mut().ok_or(RedisError::Closed)?;
        conn.set_read_timeout(Duration::from_millis(self.cfg.block_ms) + self.cfg.io_timeout)?;
        let e = conn.encoder();
        e.begin(9 + 2 * live)
            .arg(b"XREADGROUP")
            .arg(b"GROUP")
            .arg(&self.group)
            .arg(&self.consumer)
            .arg(b"COUNT")
            .arg_u64(self.cfg.count as u64)
            .arg(b"BLOCK")
            .arg_u64(self.cfg.block_ms)
            .arg(b"STREAMS");
        for s in self.shards.iter().filter(|s| s.marker.is_none()) {
            e.arg(&s.name);
        }
        for _ in 0..live {
            e.arg(b">");
        }
        let reply = conn.call()?;
        let mut ctx = ctx!(self, None);
        if reply.is_null() {
            return Ok(());
        }
        for stream in reply.iter() {
            let name = stream.get(0).and_then(|v| v.bytes());
            let shard = name.and_then(|n| ctx.shards.iter().position(|s| s.name == n));
            let (Some(shard), Some(entries)) = (shard, stream.get(1)) else {
                return Err(RedisError::Unexpected("XREADGROUP"));
            };
            ctx.entries(shard as u16, entries)?;
        }
        self.flush_side()
    }

    /// `XAUTOCLAIM` of entries idle longer than `claim_idle_ms`, from `cursor` on.
    #[cold]
    #[inline(never)]
    fn claim(&mut self, i: usize, cursor: StreamId, then_own: bool) -> Result<(), RedisError> {
        let skip = self.inflight_set();
        let conn = self.conn.as_mut().ok_or(RedisError::Closed)?;
        conn.set_read_timeout(self.cfg.io_timeout)?;
        conn.encoder()
            .begin(8)
            .arg(b"XAUTOCLAIM")
            .arg(&self.shards[i].name)
            .arg(&self.group)
            .arg(&self.consumer)
            .arg_u64(self.cfg.claim_idle_ms)
            .arg_id(cursor)
            .arg(b"COUNT")
            .arg_u64(self.cfg.count as u64);
        let reply = conn.call()?;
        let next = reply
            .get(0)
            .and_then(|v| v.bytes())
            .and_then(StreamId::parse);
        let (Some(next), Some(entries)) = (next, reply.get(1)) else {
            return Err(RedisError::Unexpected("XAUTOCLAIM"));
        };
        let mut ctx = ctx!(self, Some(&skip));
        let n = ctx.entries(i as u16, entries)?;
        self.counters.claimed.fetch_add(n, Ordering::Relaxed);
        if self.shards[i].marker.is_none() {
            self.shards[i].phase = if next != StreamId::default() {
                Phase::Claim {
                    cursor: next,
                    then_own,
                }
            } else if then_own {
                Phase::Own {
                    cursor: StreamId::default(),
                }
            } else {
                Phase::Live
            };
        }
        self.flush_side()
    }

    /// `XREADGROUP ... STREAMS s cursor`: this consumer's pending entries after `cursor`.
    #[cold]
    #[inline(never)]
    fn read_own(&mut self, i: usize, cursor: StreamId) -> Result<(), RedisError> {
        let skip = self.inflight_set();
        let conn = self.conn.as_mut().ok_or(RedisError::Closed)?;
        conn.set_read_timeout(self.cfg.io_timeout)?;
        conn.encoder()
            .begin(9)
            .arg(b"XREADGROUP")
            .arg(b"GROUP")
            .arg(&self.group)
            .arg(&self.consumer)
            .arg(b"COUNT")
            .arg_u64(self.cfg.count as u64)
            .arg(b"STREAMS")
            .arg(&self.shards[i].name)
            .arg_id(cursor);
        let reply = conn.call()?;
        let entries = reply.get(0).and_then(|s| s.get(1));
        let last = entries
            .and_then(|e| e.iter().last())
            .and_then(|e| e.get(0))
            .and_then(|id| id.bytes())
            .and_then(StreamId::parse);
        let mut ctx = ctx!(self, Some(&skip));
        if let Some(entries) = entries {
            let n = ctx.entries(i as u16, entries)?;
            self.counters.recovered.fetch_add(n, Ordering::Relaxed);
        }
        if self.shards[i].marker.is_none() {
            self.shards[i].phase = match last {
                Some(cursor) => Phase::Own { cursor },
                None => Phase::Live,
            };
        }
        self.flush_side()
    }

    /// Every shard has met its end marker. Before the run may end, the entries before the
    /// markers that other consumers hold (delivered to a consumer that died before
    /// acknowledging them) must be acknowledged by their owners, or claimed here once idle
    /// longer than `claim_idle_ms` and processed. `Ok(true)` when entries were claimed into
    /// `ready` or nothing is left to wait for (then `settled`); `Ok(false)` while waiting.
    #[cold]
    #[inline(never)]
    fn settle(&mut self) -> Result<bool, RedisError> {
        let since = *self.settle_since.get_or_insert_with(Instant::now);
        if !self.ready_to_read()? {
            return Ok(false);
        }
        let before = self.ready.len();
        let mut waiting = false;
        for i in 0..self.shards.len() {
            match self.settle_shard(i) {
                Ok(w) => waiting |= w,
                Err(e) => {
                    self.lost(e)?;
                    return Ok(false);
                }
            }
        }
        let waited = u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.counters.end_wait_ms.store(waited, Ordering::Relaxed);
        if self.ready.len() > before {
            return Ok(true);
        }
        if waiting {
            // Owners may still acknowledge; check again after a read's worth of time.
            std::thread::sleep(Duration::from_millis(self.cfg.block_ms.clamp(1, 100)));
            return Ok(false);
        }
        self.settled = true;
        Ok(true)
    }

    /// [`RedisFeed::settle`] for shard `i`: claims what other consumers hold before its marker
    /// and is idle enough; `Ok(true)` if other consumers hold any such entry.
    fn settle_shard(&mut self, i: usize) -> Result<bool, RedisError> {
        let Some(marker) = self.shards[i].marker else {
            return Ok(false);
        };
        let conn = self.conn.as_mut().ok_or(RedisError::Closed)?;
        conn.set_read_timeout(self.cfg.io_timeout)?;
        // Who holds entries of this shard: [count, min, max, [[consumer, count], ..]].
        conn.encoder()
            .begin(3)
            .arg(b"XPENDING")
            .arg(&self.shards[i].name)
            .arg(&self.group);
        let reply = conn.call()?;
        let owners: Vec<Vec<u8>> = reply
            .get(3)
            .map(|list| {
                list.iter()
                    .filter_map(|c| c.get(0).and_then(|n| n.bytes()))
                    .filter(|&n| n != self.consumer.as_slice())
                    .map(<[u8]>::to_vec)
                    .collect()
            })
            .unwrap_or_default();
        // XPENDING takes no exclusive bounds: the last id before the marker.
        let before_marker = match (marker.ms, marker.seq) {
            (0, 0) => return Ok(false),
            (ms, 0) => StreamId {
                ms: ms - 1,
                seq: u64::MAX,
            },
            (ms, seq) => StreamId { ms, seq: seq - 1 },
        };
        let idle_ms = self.cfg.claim_idle_ms;
        let mut held = false;
        let mut idle = Vec::new();
        for owner in &owners {
            // Entries of `owner` before the marker: [[id, consumer, idle ms, deliveries], ..].
            conn.encoder()
                .begin(7)
                .arg(b"XPENDING")
                .arg(&self.shards[i].name)
                .arg(&self.group)
                .arg(b"-")
                .arg_id(before_marker)
                .arg_u64(self.cfg.count as u64)
                .arg(owner);
            let reply = conn.call()?;
            for e in reply.iter() {
                let id = e.get(0).and_then(|v| v.bytes()).and_then(StreamId::parse);
                let (Some(id), Some(ms)) = (id, e.get(2).and_then(|v| v.int())) else {
                    return Err(RedisError::Unexpected("XPENDING"));
                };
                held = true;
                if u64::try_from(ms).is_ok_and(|ms| ms >= idle_ms) {
                    idle.push(id);
                }
            }
        }
        if idle.is_empty() {
            return Ok(held);
        }
        let skip = self.inflight_set();
        let conn = self.conn.as_mut().ok_or(RedisError::Closed)?;
        let e = conn.encoder();
        e.begin(5 + idle.len())
            .arg(b"XCLAIM")
            .arg(&self.shards[i].name)
            .arg(&self.group)
            .arg(&self.consumer)
            .arg_u64(idle_ms);
        for id in &idle {
            e.arg_id(*id);
        }
        let entries = conn.call()?;
        let mut ctx = ctx!(self, Some(&skip));
        let n = ctx.entries(i as u16, entries)?;
        self.counters.claimed.fetch_add(n, Ordering::Relaxed);
        self.counters.end_claimed.fetch_add(n, Ordering::Relaxed);
        self.flush_side()?;
        Ok(true)
    }

    /// The checkpoint key of this feed's group and shards.
    fn checkpoint_key(&self) -> String {
        checkpoint_key(
            &self.cfg.stream,
            &self.cfg.group,
            self.cfg.shards.as_deref(),
        )
    }

    /// Resumes from the group's checkpoint for these shards (or from the start of the
    /// streams when there is none): restores the symbol table, acknowledges what the group
    /// still holds pending up to each position (the checkpoint reflects it, and its signals
    /// were emitted before the checkpoint was taken), and replays each shard from its
    /// position up to the group's last delivered entry before reading new entries. The
    /// entries replayed are acknowledged as they are processed, whoever held them.
    ///
    /// # Errors
    /// [`RedisError::Checkpoint`] for a checkpoint that cannot be used (corrupt, another
    /// version, another shard count) or a stream trimmed past its position.
    #[cold]
    fn resume(&mut self) -> Result<(), RedisError> {
        let key = self.checkpoint_key();
        let conn = self.conn.as_mut().ok_or(RedisError::Closed)?;
        conn.set_read_timeout(self.cfg.io_timeout)?;
        conn.encoder().begin(2).arg(b"GET").arg(key.as_bytes());
        let reply = conn.call()?;
        let stored = reply.bytes().map(<[u8]>::to_vec);
        if let Some(bytes) = stored {
            let env = checkpoint::decode(&bytes, self.shards.len())
                .map_err(|e| RedisError::Checkpoint(format!("{key}: {e}")))?;
            if env.epochs != self.epochs {
                // Taken before the group was created again: not this group's state.
                self.counters.stale_checkpoints.store(1, Ordering::Relaxed);
                return self.replay_from_positions(&key);
            }
            for (i, name) in env.names.iter().enumerate() {
                if self.symbols.intern(name) != Some(i as u32) {
                    return Err(RedisError::Checkpoint(format!(
                        "{key}: symbol {name:?} listed twice or beyond the symbol limit"
                    )));
                }
            }
            self.handed.copy_from_slice(&env.positions);
            self.restored = Some(env.state);
            self.counters.resumed.store(1, Ordering::Relaxed);
        }
        self.replay_from_positions(&key)
    }

    /// The end of [`RedisFeed::resume`]: from the positions in `handed` (the checkpoint's,
    /// or the start of the streams), acknowledges what the group holds up to them and
    /// replays each shard up to the group's last delivered entry.
    #[cold]
    fn replay_from_positions(&mut self, key: &str) -> Result<(), RedisError> {
        for i in 0..self.shards.len() {
            let from = self.handed[i];
            self.ack_through(i, from)?;
            let until = self.last_delivered(i)?;
            if until > from {
                self.check_not_trimmed(i, from, key)?;
                self.shards[i].phase = Phase::Replay {
                    cursor: from,
                    until,
                };
            } else {
                self.shards[i].phase = Phase::Live;
            }
        }
        Ok(())
    }

    /// `XACK`s every entry of shard `i` the group holds pending up to `upto` (inclusive).
    fn ack_through(&mut self, i: usize, upto: StreamId) -> Result<(), RedisError> {
        if upto == StreamId::default() {
            return Ok(());
        }
        let conn = self.conn.as_mut().ok_or(RedisError::Closed)?;
        loop {
            conn.encoder()
                .begin(6)
                .arg(b"XPENDING")
                .arg(&self.shards[i].name)
                .arg(&self.group)
                .arg(b"-")
                .arg_id(upto)
                .arg_u64(1000);
            let reply = conn.call()?;
            let ids: Vec<StreamId> = reply
                .iter()
                .filter_map(|e| e.get(0).and_then(|v| v.bytes()).and_then(StreamId::parse))
                .collect();
            if ids.is_empty() {
                return Ok(());
            }
            let e = conn.encoder();
            e.begin(3 + ids.len())
                .arg(b"XACK")
                .arg(&self.shards[i].name)
                .arg(&self.group);
            for id in &ids {
                e.arg_id(*id);
            }
            let n = conn.call()?.int().ok_or(RedisError::Unexpected("XACK"))?;
            self.counters
                .acked
                .fetch_add(n.max(0) as u64, Ordering::Relaxed);
            if ids.len() < 1000 {
                return Ok(());
            }
        }
    }

    /// The group's last delivered entry of shard `i` (`XINFO GROUPS`).
    fn last_delivered(&mut self, i: usize) -> Result<StreamId, RedisError> {
        let conn = self.conn.as_mut().ok_or(RedisError::Closed)?;
        conn.encoder()
            .begin(3)
            .arg(b"XINFO")
            .arg(b"GROUPS")
            .arg(&self.shards[i].name);
        let reply = conn.call()?;
        for g in reply.iter() {
            if field(g, b"name").and_then(|v| v.bytes()) == Some(self.group.as_slice()) {
                return field(g, b"last-delivered-id")
                    .and_then(|v| v.bytes())
                    .and_then(StreamId::parse)
                    .ok_or(RedisError::Unexpected("XINFO GROUPS"));
            }
        }
        Err(RedisError::Unexpected("XINFO GROUPS (no such group)"))
    }

    /// Fails if entries of shard `i` after `from` were trimmed or deleted (Redis 7's
    /// `max-deleted-entry-id`; older servers do not say, and are not checked).
    fn check_not_trimmed(&mut self, i: usize, from: StreamId, key: &str) -> Result<(), RedisError> {
        let conn = self.conn.as_mut().ok_or(RedisError::Closed)?;
        conn.encoder()
            .begin(3)
            .arg(b"XINFO")
            .arg(b"STREAM")
            .arg(&self.shards[i].name);
        let reply = conn.call()?;
        let deleted = field(reply, b"max-deleted-entry-id")
            .and_then(|v| v.bytes())
            .and_then(StreamId::parse);
        match deleted {
            Some(d) if d > from => Err(RedisError::Checkpoint(format!(
                "{key}: stream {} was trimmed past the checkpoint's position {}-{} (up to                  {}-{}); the state cannot be rebuilt (keep MAXLEN above the entries between                  checkpoints, see the crate docs)",
                String::from_utf8_lossy(&self.shards[i].name),
                from.ms,
                from.seq,
                d.ms,
                d.seq
            ))),
            _ => Ok(()),
        }
    }

    /// `XRANGE s (cursor until COUNT n`: the next entries of a replay.
    #[cold]
    #[inline(never)]
    fn replay(&mut self, i: usize, cursor: StreamId, until: StreamId) -> Result<(), RedisError> {
        let skip = self.inflight_set();
        let conn = self.conn.as_mut().ok_or(RedisError::Closed)?;
        conn.set_read_timeout(self.cfg.io_timeout)?;
        let start = format!("({}-{}", cursor.ms, cursor.seq);
        conn.encoder()
            .begin(6)
            .arg(b"XRANGE")
            .arg(&self.shards[i].name)
            .arg(start.as_bytes())
            .arg_id(until)
            .arg(b"COUNT")
            .arg_u64(self.cfg.count as u64);
        let entries = conn.call()?;
        let got = entries.array_len().unwrap_or(0);
        let last = entries
            .iter()
            .last()
            .and_then(|e| e.get(0))
            .and_then(|id| id.bytes())
            .and_then(StreamId::parse);
        let mut ctx = ctx!(self, Some(&skip));
        let n = ctx.entries(i as u16, entries)?;
        self.counters.replayed.fetch_add(n, Ordering::Relaxed);
        if self.shards[i].marker.is_none() {
            self.shards[i].phase = match last {
                Some(c) if got >= self.cfg.count && c < until => Phase::Replay { cursor: c, until },
                _ => Phase::Live,
            };
        }
        self.flush_side()
    }

    /// `SET key envelope`.
    fn store_checkpoint(&mut self) -> Result<(), RedisError> {
        let key = self.checkpoint_key();
        let conn = self.conn.as_mut().ok_or(RedisError::Closed)?;
        conn.set_read_timeout(self.cfg.io_timeout)?;
        conn.encoder()
            .begin(3)
            .arg(b"SET")
            .arg(key.as_bytes())
            .arg(&self.envelope);
        conn.call()?;
        Ok(())
    }

    /// Entries already handed to the pipeline and not yet acknowledged (cold path).
    fn inflight_set(&self) -> HashSet<(u16, StreamId)> {
        let mut set: HashSet<(u16, StreamId)> = self.inflight.iter().copied().collect();
        set.extend(self.ready.iter().map(|r| (r.shard, r.id)));
        set
    }

    /// Sends the cold-path commands gathered while decoding (dead letters, acks).
    fn flush_side(&mut self) -> Result<(), RedisError> {
        if self.side.is_empty() {
            return Ok(());
        }
        let n = self.side.commands();
        let conn = self.conn.as_mut().ok_or(RedisError::Closed)?;
        conn.set_read_timeout(self.cfg.io_timeout)?;
        let sent = conn.send_encoded(&self.side);
        self.side.clear();
        sent?;
        let mut acked = 0;
        for _ in 0..n {
            // XACK answers how many it acknowledged; XADD (dead letters) an id.
            acked += conn.read_ok()?.int().unwrap_or(0).max(0) as u64;
        }
        self.counters.acked.fetch_add(acked, Ordering::Relaxed);
        Ok(())
    }

    /// `XACK`s the first `target - acked` in-flight ticks (one command per shard, pipelined),
    /// then the end markers once every tick is acknowledged and every shard ended.
    fn send_acks(&mut self) -> Result<(), RedisError> {
        let n = (self.target - self.acked) as usize;
        let all_ended = self.shards.iter().all(|s| s.marker.is_some());
        let markers = all_ended
            && self.settled
            && !self.markers_acked
            && self.ready.is_empty()
            && n == self.inflight.len();
        if n == 0 && !markers {
            return Ok(());
        }
        let conn = self.conn.as_mut().ok_or(RedisError::Closed)?;
        conn.set_read_timeout(self.cfg.io_timeout)?;
        let mut commands = 0;
        for (i, s) in self.shards.iter().enumerate() {
            let ids = self.inflight.iter().take(n).filter(|e| e.0 == i as u16);
            let marker = s.marker.filter(|_| markers);
            let count = ids.clone().count() + usize::from(marker.is_some());
            if count == 0 {
                continue;
            }
            let e = conn.encoder();
            e.begin(3 + count)
                .arg(b"XACK")
                .arg(&s.name)
                .arg(&self.group);
            for (_, id) in ids {
                e.arg_id(*id);
            }
            if let Some(m) = marker {
                e.arg_id(m);
            }
            commands += 1;
        }
        conn.send()?;
        let mut acked = 0;
        for _ in 0..commands {
            acked += conn
                .read_ok()?
                .int()
                .ok_or(RedisError::Unexpected("XACK"))?;
        }
        self.counters
            .acked
            .fetch_add(acked.max(0) as u64, Ordering::Relaxed);
        self.inflight.drain(..n);
        self.acked = self.target;
        if markers {
            self.markers_acked = true;
        }
        Ok(())
    }
}

/// What decoding needs, borrowed apart from the connection that holds the reply.
struct Ctx<'a> {
    shards: &'a mut [Shard],
    ready: &'a mut VecDeque<Ready>,
    symbols: &'a mut SymbolTable,
    side: &'a mut Encoder,
    group: &'a [u8],
    dead: &'a [u8],
    /// [`RedisFeedConfig::dead_letter_max`].
    dead_max: u64,
    /// Entries to skip: already handed to the pipeline in this run.
    skip: Option<&'a HashSet<(u16, StreamId)>>,
    counters: &'a FeedCounters,
}

impl Ctx<'_> {
    /// Decodes `[[id, [f, v, ..]], ..]` of shard `shard` into `ready`; returns how many
    /// entries were new to this run.
    fn entries(&mut self, shard: u16, entries: Value<'_>) -> Result<u64, RedisError> {
        let mut fresh = 0;
        for entry in entries.iter() {
            let id = entry
                .get(0)
                .and_then(|v| v.bytes())
                .and_then(StreamId::parse)
                .ok_or(RedisError::Unexpected("stream entry id"))?;
            let s = &mut self.shards[usize::from(shard)];
            if s.marker.is_some_and(|m| id >= m) {
                break; // left pending for the next run
            }
            if self.skip.is_some_and(|set| set.contains(&(shard, id))) {
                self.counters
                    .duplicates_skipped
                    .fetch_add(1, Ordering::Relaxed);
                continue;
            }
            fresh += 1;
            let fields = entry.get(1);
            let Some(fields) = fields.filter(|f| !f.is_null()) else {
                // Deleted while pending (XTRIM/XDEL): nothing to process.
                self.side
                    .begin(4)
                    .arg(b"XACK")
                    .arg(&s.name)
                    .arg(self.group)
                    .arg_id(id);
                continue;
            };
            let event = match decode_entry(fields, self.symbols) {
                Decoded::Tick(t) => FeedEvent::Tick(t),
                Decoded::End => {
                    s.marker = Some(id);
                    continue;
                }
                Decoded::Rejected(reason) => {
                    dead_letter(
                        self.side,
                        (self.dead, self.dead_max),
                        &s.name,
                        id,
                        reason,
                        fields,
                    );
                    self.side
                        .begin(4)
                        .arg(b"XACK")
                        .arg(&s.name)
                        .arg(self.group)
                        .arg_id(id);
                    self.counters.dead_lettered.fetch_add(1, Ordering::Relaxed);
                    FeedEvent::Rejected(reason)
                }
            };
            self.ready.push_back(Ready { shard, id, event });
        }
        Ok(fresh)
    }
}

/// The value after `name` in a flat `[name, value, ..]` reply (RESP2 maps).
fn field<'a>(map: Value<'a>, name: &[u8]) -> Option<Value<'a>> {
    let mut it = map.iter();
    while let Some(k) = it.next() {
        let v = it.next()?;
        if k.bytes() == Some(name) {
            return Some(v);
        }
    }
    None
}

/// `XADD STREAM.dead MAXLEN N * stream S id ID reason R <original fields>`.
#[cold]
#[inline(never)]
fn dead_letter(
    e: &mut Encoder,
    (dead, max_len): (&[u8], u64),
    stream: &[u8],
    id: StreamId,
    reason: RejectReason,
    fields: Value<'_>,
) {
    let copy = fields
        .array_len()
        .filter(|_| fields.iter().all(|v| v.bytes().is_some()));
    e.begin(11 + copy.unwrap_or(0))
        .arg(b"XADD")
        .arg(dead)
        .arg(b"MAXLEN")
        .arg_u64(max_len)
        .arg(b"*")
        .arg(b"stream")
        .arg(stream)
        .arg(b"id")
        .arg_id(id)
        .arg(b"reason")
        .arg(reason.name().as_bytes());
    if copy.is_some() {
        for v in fields.iter() {
            e.arg(v.bytes().unwrap_or_default());
        }
    }
}

impl Feed for RedisFeed {
    fn next_event(&mut self) -> Result<FeedEvent, FeedError> {
        loop {
            if let Some(r) = self.ready.pop_front() {
                if let FeedEvent::Tick(t) = r.event {
                    self.inflight.push_back((r.shard, r.id));
                    if let Some(p) = &mut self.partitions {
                        p.note(t.symbol, r.shard);
                    }
                }
                self.handed[usize::from(r.shard)] = r.id;
                return Ok(r.event);
            }
            if self.shards.iter().all(|s| s.marker.is_some()) {
                if self.settled {
                    self.release_lease();
                    return Ok(FeedEvent::End);
                }
                if !self.settle()? {
                    return Ok(FeedEvent::Idle);
                }
                continue;
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

    /// Retries through reconnects (up to `give_up`) until the acknowledgement is delivered:
    /// the last call of a run must not be lost.
    fn checkpoints(&self) -> bool {
        self.cfg.checkpoints
    }

    fn checkpoint_mark(&mut self) {
        self.mark.copy_from_slice(&self.handed);
        self.mark_symbols = self.symbols.len();
    }

    /// Stores the checkpoint with one `SET`, retrying through reconnects (up to `give_up`).
    fn checkpoint_save(&mut self, state: &[u8]) -> Result<(), FeedError> {
        let names = self.symbols.names();
        let owned: Vec<_> = (0..self.mark_symbols as u32)
            .filter_map(|i| names.get(i))
            .collect();
        let names: Vec<&str> = owned.iter().map(|n| &**n).collect();
        checkpoint::encode(&self.mark, &self.epochs, &names, state, &mut self.envelope);
        loop {
            self.ensure_connected(true)?;
            match self.store_checkpoint() {
                Ok(()) => break,
                Err(e) => self.lost(e)?,
            }
        }
        self.counters.checkpoints.fetch_add(1, Ordering::Relaxed);
        self.counters
            .checkpoint_bytes
            .store(self.envelope.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    fn checkpoint_take(&mut self) -> Option<Vec<u8>> {
        self.restored.take()
    }

    fn source_epoch(&self) -> Option<String> {
        Some(self.epoch())
    }

    /// With several shards: each symbol's shard, by its position in this feed's shard list.
    fn partitions(&self) -> Option<SymbolPartitions> {
        self.partitions.as_ref().map(|p| p.shared.clone())
    }

    fn acknowledge(&mut self, processed: u64) -> Result<(), FeedError> {
        let delivered = self.acked + self.inflight.len() as u64;
        self.target = processed.clamp(self.acked, delivered);
        loop {
            self.ensure_connected(true)?;
            match self.send_acks() {
                Ok(()) => return Ok(()),
                Err(e) => self.lost(e)?,
            }
        }
    }
}

/// A new epoch token: unique enough across processes and time (nanoseconds since the Unix
/// epoch, the process id and the consumer's name).
fn fresh_epoch(consumer: &[u8]) -> String {
    let ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let name: String = String::from_utf8_lossy(consumer).chars().take(32).collect();
    format!("{ns:x}.{:x}.{name}", std::process::id())
}

impl From<RedisError> for FeedError {
    fn from(e: RedisError) -> Self {
        FeedError::Io(e.into())
    }
}

//! Where ticks come from: the [`Feed`] trait, what it yields ([`FeedEvent`]), and why a row
//! is rejected ([`RejectReason`], counted in [`RejectCounts`]).

use core::fmt;

use crate::event::{BookDelta, Quote, SnapshotLevel};
use crate::symbols::SymbolNames;
use crate::tick::Tick;

/// What a feed yields next. `Copy`, at most 72 bytes.
///
/// Market data is a trade ([`FeedEvent::Tick`]), a [`FeedEvent::Quote`], a
/// [`FeedEvent::BookDelta`] or a [`FeedEvent::SnapshotLevel`] (see
/// [`event`](crate::event) for the snapshot contract). A consumer that reads trades only
/// skips the other three.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FeedEvent {
    /// A valid trade.
    Tick(Tick),
    /// A valid best bid/ask.
    Quote(Quote),
    /// A valid book level update.
    BookDelta(BookDelta),
    /// A valid level of a book snapshot.
    SnapshotLevel(SnapshotLevel),
    /// A row that could not become a tick, and why. Counted, never fatal (unless strict).
    Rejected(RejectReason),
    /// Nothing available yet (a network feed's blocking read timed out). The pipeline checks
    /// its deadline, passes on acknowledgements, and asks again.
    Idle,
    /// No more data.
    End,
}

impl FeedEvent {
    /// The event time (ns since the Unix epoch) of a market event; `None` for
    /// `Rejected`, `Idle` and `End`.
    #[inline]
    pub fn ts_ns(&self) -> Option<u64> {
        match self {
            FeedEvent::Tick(t) => Some(t.ts_ns),
            FeedEvent::Quote(q) => Some(q.ts_ns),
            FeedEvent::BookDelta(d) => Some(d.ts_ns),
            FeedEvent::SnapshotLevel(s) => Some(s.level.ts_ns),
            _ => None,
        }
    }

    /// The symbol index of a market event; `None` for `Rejected`, `Idle` and `End`.
    #[inline]
    pub fn symbol(&self) -> Option<u32> {
        match self {
            FeedEvent::Tick(t) => Some(t.symbol),
            FeedEvent::Quote(q) => Some(q.symbol),
            FeedEvent::BookDelta(d) => Some(d.symbol),
            FeedEvent::SnapshotLevel(s) => Some(s.level.symbol),
            _ => None,
        }
    }

    /// Sets the event time of a market event (see [`TimeClamp`]); does nothing to the others.
    #[inline]
    pub fn set_ts_ns(&mut self, ts_ns: u64) {
        match self {
            FeedEvent::Tick(t) => t.ts_ns = ts_ns,
            FeedEvent::Quote(q) => q.ts_ns = ts_ns,
            FeedEvent::BookDelta(d) => d.ts_ns = ts_ns,
            FeedEvent::SnapshotLevel(s) => s.level.ts_ns = ts_ns,
            _ => {}
        }
    }

    /// Sets the symbol index of a market event (a feed that merges sources maps their
    /// indices onto its own); does nothing to the others.
    #[inline]
    pub fn set_symbol(&mut self, symbol: u32) {
        match self {
            FeedEvent::Tick(t) => t.symbol = symbol,
            FeedEvent::Quote(q) => q.symbol = symbol,
            FeedEvent::BookDelta(d) => d.symbol = symbol,
            FeedEvent::SnapshotLevel(s) => s.level.symbol = symbol,
            _ => {}
        }
    }
}

/// Most consecutive events of a non-[`live`](Feed::live) feed that share one clock read.
pub const STAMP_EVERY: u32 = 16;

/// A source of ticks, pulled one at a time by the feed thread.
pub trait Feed: Send {
    /// The next event.
    ///
    /// # Errors
    /// [`FeedError`] for what ends the run: an I/O error, or a bad row in strict mode.
    fn next_event(&mut self) -> Result<FeedEvent, FeedError>;

    /// The names of the symbols, indexed by [`Tick::symbol`]: a shared, incremental table
    /// that grows while the feed runs (a CSV or stream feed learns names as it reads), so a
    /// sink on another thread resolves a name as soon as the feed has met it.
    fn names(&self) -> SymbolNames;

    /// Whether events arrive at their own pace (a live stream, a paced replay): the pipeline
    /// then stamps every event with the clock the moment it is read. A feed that is read as
    /// fast as the pipeline takes it (a file, an unpaced synthetic market) returns `false`:
    /// consecutive events are then stamped with one clock read per few events (at most
    /// [`STAMP_EVERY`]), and always anew after the feed thread waited, so a stamp is never
    /// later than its event's read and a latency measured from it is never understated.
    /// The default, `true`, is always correct; `false` saves a clock read (~25 ns) per event.
    fn live(&self) -> bool {
        true
    }

    /// How long before its read the event just returned by [`Feed::next_event`] became
    /// available, in nanoseconds, where the feed knows it: a paced replay knows when each
    /// event was due, and one released late (its thread was asleep or descheduled) says by
    /// how much. The pipeline subtracts it from the event's read stamp, so latency is
    /// measured from the event's arrival, the feed thread's own delays included. The
    /// default, 0, stamps at the read (a socket's data arrived at an unknown earlier time).
    fn lateness_ns(&self) -> u64 {
        0
    }

    /// Whether the feed wants [`Feed::acknowledge`] calls (sources with at-least-once
    /// delivery). When it does, the pipeline flushes the sink after every batch, so an
    /// acknowledged tick's signals have been handed on.
    fn wants_acknowledgements(&self) -> bool {
        false
    }

    /// The first `processed` ticks this feed yielded (counting only [`FeedEvent::Tick`]s)
    /// are done: every signal derived from them was emitted and the sink flushed. Called on
    /// the feed thread between [`Feed::next_event`] calls when the figure grew, and once more
    /// after the run with the final figure. Only called when
    /// [`Feed::wants_acknowledgements`] is true.
    ///
    /// # Errors
    /// [`FeedError`] if the acknowledgement could not be delivered; it ends the run.
    fn acknowledge(&mut self, processed: u64) -> Result<(), FeedError> {
        let _ = processed;
        Ok(())
    }

    /// Gaps the feed found in the exchange's sequence numbers so far (a diff-depth message
    /// whose first update id does not follow the previous message's last one, per symbol).
    /// Not a rejection: the events are handed on, and a book built from them is suspect
    /// until the next snapshot. 0 for a source without sequence numbers.
    fn sequence_gaps(&self) -> u64 {
        0
    }

    /// Market events whose time the feed raised to the last time of their symbol, so that
    /// a symbol's event time never goes backwards downstream ([`TimeClamp`]). Not a
    /// rejection: the events are handed on (a book update dropped would corrupt the book).
    /// 0 for a feed that does not clamp.
    fn time_clamped(&self) -> u64 {
        0
    }

    /// Whether this feed stores pipeline checkpoints (state snapshots aligned with its
    /// input positions, see [`Feed::checkpoint_mark`]). The default, `false`, never takes one.
    fn checkpoints(&self) -> bool {
        false
    }

    /// Records the feed's position after the last event [`Feed::next_event`] returned: the
    /// pipeline puts a barrier behind that event, and hands the state it has once every
    /// event before the barrier is processed (and its signals emitted) to
    /// [`Feed::checkpoint_save`]. Called on the feed thread, only when
    /// [`Feed::checkpoints`] is true, never again before that save.
    fn checkpoint_mark(&mut self) {}

    /// Persists a checkpoint: `state`, the pipeline's encoded state after exactly the events
    /// before the last [`Feed::checkpoint_mark`], with the position recorded then. Called on
    /// the feed thread (not a compute thread).
    ///
    /// # Errors
    /// [`FeedError`] if the checkpoint could not be stored; it ends the run.
    fn checkpoint_save(&mut self, state: &[u8]) -> Result<(), FeedError> {
        let _ = state;
        Ok(())
    }

    /// The pipeline state of the checkpoint this feed resumes from, taken once before the
    /// first event: the feed's first events are then the ones after that checkpoint's
    /// position. `None`: start from an empty state.
    fn checkpoint_take(&mut self) -> Option<Vec<u8>> {
        None
    }

    /// Names the incarnation of the feed's source, for state kept outside the process about
    /// it (a deduplicating sink's sequence numbers start over when it changes): for a Redis
    /// consumer group, the group's epoch. `None` (the default): no such identity.
    fn source_epoch(&self) -> Option<String> {
        None
    }

    /// The partition each symbol comes from, when the feed reads several partitions whose
    /// relative order depends on timing (a Redis consumer of several stream shards): the
    /// pipeline then keeps each compute shard's symbols within one partition, so that its
    /// output does not depend on that timing. `None` (the default): one ordered source.
    fn partitions(&self) -> Option<crate::SymbolPartitions> {
        None
    }
}

/// Keeps each symbol's event time from going backwards: a market event earlier than the last
/// one seen for its symbol takes that last time and is counted. Nothing is dropped, so a book
/// update that an exchange stamped a little earlier than a trade before it (a Binance trade's
/// `T` is often a little below the depth message's `E` that precedes it) still reaches the
/// book; a window or bar downstream sees it at the time the symbol had reached.
///
/// Allocates only when it meets a symbol index above every one before.
///
/// ```
/// use zerotick_core::feed::TimeClamp;
/// use zerotick_core::{FeedEvent, Side, Tick};
/// let tick = |ts_ns| FeedEvent::Tick(Tick { ts_ns, symbol: 3, price: 1.0, size: 1.0, side: Side::Buy });
/// let mut clamp = TimeClamp::default();
/// let mut a = tick(20);
/// let mut b = tick(10);
/// assert!(!clamp.apply(&mut a));
/// assert!(clamp.apply(&mut b));
/// assert_eq!((b.ts_ns(), clamp.clamped()), (Some(20), 1));
/// ```
#[derive(Debug, Clone, Default)]
pub struct TimeClamp {
    /// The last event time per symbol index (0 before the first).
    last_ts_ns: Vec<u64>,
    clamped: u64,
}

impl TimeClamp {
    /// Raises `event`'s time to its symbol's last when it is earlier, and returns whether it
    /// did; records the time otherwise. Events without a time or symbol pass untouched.
    #[inline]
    pub fn apply(&mut self, event: &mut FeedEvent) -> bool {
        let (Some(symbol), Some(ts_ns)) = (event.symbol(), event.ts_ns()) else {
            return false;
        };
        let s = symbol as usize;
        if s >= self.last_ts_ns.len() {
            self.last_ts_ns.resize(s + 1, 0);
        }
        let last = &mut self.last_ts_ns[s];
        if ts_ns < *last {
            event.set_ts_ns(*last);
            self.clamped += 1;
            true
        } else {
            *last = ts_ns;
            false
        }
    }

    /// Events whose time was raised so far.
    pub fn clamped(&self) -> u64 {
        self.clamped
    }
}

/// Why a row was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// Not the number of fields the layout needs.
    FieldCount,
    /// The timestamp is not a number (or out of range).
    BadTimestamp,
    /// The price is not a finite number above 0.
    BadPrice,
    /// The size is not a finite number at or above 0.
    BadSize,
    /// The side field is not one of the accepted spellings.
    BadSide,
    /// The row is not UTF-8.
    BadUtf8,
    /// The row is longer than the reader accepts.
    TooLong,
    /// The feed already knows the maximum number of symbols.
    TooManySymbols,
    /// The line is not a well-formed JSON object (or one of its values is not of the
    /// expected JSON type, e.g. a price that is not a string or number).
    BadJson,
    /// A field the message type needs is absent.
    MissingField,
    /// A well-formed message of a type the reader does not read (an event type other than
    /// trade, aggTrade, bookTicker or depthUpdate).
    UnknownEvent,
    /// An exchange update id that is not a whole number above 0, or a first update id
    /// above the last.
    BadUpdateId,
    /// A flag field is not one of its spellings (Tardis `is_snapshot`: `true`/`false`).
    BadFlag,
}

impl RejectReason {
    /// Every reason, in report order.
    pub const ALL: [RejectReason; 13] = [
        RejectReason::FieldCount,
        RejectReason::BadTimestamp,
        RejectReason::BadPrice,
        RejectReason::BadSize,
        RejectReason::BadSide,
        RejectReason::BadUtf8,
        RejectReason::TooLong,
        RejectReason::TooManySymbols,
        RejectReason::BadJson,
        RejectReason::MissingField,
        RejectReason::UnknownEvent,
        RejectReason::BadUpdateId,
        RejectReason::BadFlag,
    ];

    /// Snake-case name for reports.
    pub const fn name(self) -> &'static str {
        match self {
            RejectReason::FieldCount => "field_count",
            RejectReason::BadTimestamp => "bad_timestamp",
            RejectReason::BadPrice => "bad_price",
            RejectReason::BadSize => "bad_size",
            RejectReason::BadSide => "bad_side",
            RejectReason::BadUtf8 => "bad_utf8",
            RejectReason::TooLong => "too_long",
            RejectReason::TooManySymbols => "too_many_symbols",
            RejectReason::BadJson => "bad_json",
            RejectReason::MissingField => "missing_field",
            RejectReason::UnknownEvent => "unknown_event",
            RejectReason::BadUpdateId => "bad_update_id",
            RejectReason::BadFlag => "bad_flag",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Rejections counted by reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RejectCounts([u64; RejectReason::ALL.len()]);

impl RejectCounts {
    /// Counts one rejection.
    #[inline]
    pub fn add(&mut self, reason: RejectReason) {
        self.0[reason.index()] += 1;
    }

    /// Counts `n` rejections for `reason`.
    #[inline]
    pub fn add_n(&mut self, reason: RejectReason, n: u64) {
        self.0[reason.index()] += n;
    }

    /// Rejections for `reason`.
    pub fn get(&self, reason: RejectReason) -> u64 {
        self.0[reason.index()]
    }

    /// All rejections.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// `(reason, count)` for every reason with a non-zero count.
    pub fn nonzero(&self) -> impl Iterator<Item = (RejectReason, u64)> + '_ {
        RejectReason::ALL
            .into_iter()
            .map(|r| (r, self.get(r)))
            .filter(|(_, n)| *n > 0)
    }
}

/// What ends a feed early.
#[derive(Debug)]
pub enum FeedError {
    /// Reading the source failed.
    Io(std::io::Error),
    /// Strict mode: the first bad row, with its 1-based line number.
    BadRow {
        /// Line number in the file.
        line: u64,
        /// Why it was rejected.
        reason: RejectReason,
    },
    /// An error of one source of a feed that reads several (files, or members of an archive),
    /// naming that source.
    InSource {
        /// The source: a path, or `archive.zip:member.csv`.
        source: String,
        /// What went wrong there.
        error: Box<FeedError>,
    },
}

impl fmt::Display for FeedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FeedError::Io(e) => write!(f, "reading the feed: {e}"),
            FeedError::BadRow { line, reason } => write!(f, "line {line}: rejected ({reason})"),
            FeedError::InSource { source, error } => write!(f, "{source}: {error}"),
        }
    }
}

impl std::error::Error for FeedError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FeedError::Io(e) => Some(e),
            FeedError::BadRow { .. } => None,
            FeedError::InSource { error, .. } => Some(error.as_ref()),
        }
    }
}

impl From<std::io::Error> for FeedError {
    fn from(e: std::io::Error) -> Self {
        FeedError::Io(e)
    }
}

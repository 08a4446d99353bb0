//! What travels between the pipeline's threads: [`Stamped`] market events on the feed ring,
//! pooled [`Job`]s (a shard's batch of rows) between the feature thread and the compute stage.

use zerotick_core::{BookSide, Tick};
use zerotick_mem::{Batch, PoolError, Reusable, Slab};

use crate::compute::{ComputeError, ShardState};
use crate::features::WIDTH;

/// A market event as the feature thread needs it: a trade whole, a quote and a book level
/// without the times and ids only the feed thread reads (the local receive time, exchange
/// update ids: it has already used them to find message boundaries, and the feed counts
/// sequence gaps). 48 bytes: the quote's fields sit inline so its symbol packs beside the
/// tag (a `Quote` struct inside the variant would make the enum 56).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Event {
    /// A trade.
    Trade(Tick),
    /// A best bid/ask.
    Quote {
        ts_ns: u64,
        symbol: u32,
        bid_price: f64,
        bid_size: f64,
        ask_price: f64,
        ask_size: f64,
    },
    /// A level of a depth message (`snapshot` false) or of a snapshot (`snapshot` true,
    /// `clear_side` on its first level of a side), see [`zerotick_core::event`].
    Level {
        ts_ns: u64,
        symbol: u32,
        side: BookSide,
        price: f64,
        size: f64,
        snapshot: bool,
        clear_side: bool,
        /// Part of the same book event (depth message or snapshot) as the event before it
        /// on the ring (see [`crate::books::Boundaries`]).
        continues: bool,
    },
    /// A checkpoint barrier: every event before it is in the checkpoint the feed marked
    /// (see [`crate::checkpoint`]).
    Barrier,
}

/// A market event stamped with the monotonic time (ns since the run's start) the feed thread
/// read it. One cache line: `align(64)` makes the ring's slots line-aligned, so the feed
/// thread writes and the feature thread reads one line per event (an unaligned 64-byte slot
/// straddles two).
#[derive(Debug, Clone, Copy)]
#[repr(align(64))]
pub(crate) struct Stamped {
    pub(crate) event: Event,
    pub(crate) read_ns: u64,
    /// How long before its read the event arrived, where the feed knows it
    /// ([`Feed::lateness_ns`](zerotick_core::Feed::lateness_ns)), else 0.
    pub(crate) late_ns: u64,
}

// A quote or a book level rides the ring beside trades at one cache line per event (a
// trade alone took 48 bytes before book events were carried).
const _: () = assert!(size_of::<Event>() == 48);
const _: () = assert!(size_of::<Stamped>() == 64);

/// Where a row came from, for its signal and its latency records.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RowMeta {
    pub(crate) ts_ns: u64,
    pub(crate) symbol: u32,
    pub(crate) read_ns: u64,
    pub(crate) made_ns: u64,
    /// The row's last event's [`Stamped::late_ns`].
    pub(crate) late_ns: u64,
    /// The signal's sequence number ([`Sink::emit_seq`](zerotick_core::Sink::emit_seq)).
    pub(crate) seq: u64,
}

/// A pooled unit of work: one shard's batch of rows, their metadata and their signals. It
/// travels feature thread -> compute -> feature thread (which emits) and back to the pool.
pub(crate) struct Job {
    pub(crate) batch: Batch,
    pub(crate) metas: Box<[RowMeta]>,
    pub(crate) signals: Box<[f64]>,
    /// The rows' feature values as the feature stage wrote them, `rows x feature_width`
    /// (empty unless feature values are emitted: the compute stage overwrites the batch).
    pub(crate) features: Box<[f64]>,
    pub(crate) shard: usize,
    /// Ticks (trades) processed before the first row, plus one: a row made by a trade holds
    /// that trade's number (1-based), one made by a book event the next trade's.
    pub(crate) first_seq: u64,
    pub(crate) compute_start_ns: u64,
    pub(crate) compute_end_ns: u64,
    pub(crate) failed: Option<ComputeError>,
    /// The shard's compute state, lent with the batch to the compute worker that runs it
    /// (and back with the result).
    pub(crate) state: Option<ShardState>,
}

impl Job {
    /// A job of `rows` rows, keeping `feature_width` feature values per row for the sink
    /// (0: none).
    /// Its batch is carved from `slab` (sized with [`Job::slab_bytes`] per job): a pool's
    /// batches then share huge pages (start-up faults and hot-path TLB entries).
    pub(crate) fn new_in(
        slab: &Slab,
        rows: usize,
        feature_width: usize,
    ) -> Result<Self, PoolError> {
        Ok(Self {
            batch: Batch::try_zeroed_in(slab, rows, WIDTH)?,
            metas: vec![RowMeta::default(); rows].into_boxed_slice(),
            signals: vec![0.0; rows].into_boxed_slice(),
            features: vec![0.0; rows * feature_width].into_boxed_slice(),
            shard: 0,
            first_seq: 0,
            compute_start_ns: 0,
            compute_end_ns: 0,
            failed: None,
            state: None,
        })
    }
}

impl Job {
    /// Bytes of slab one job of `rows` rows takes; `None` on overflow.
    pub(crate) fn slab_bytes(rows: usize) -> Option<usize> {
        Batch::slab_bytes(rows, WIDTH)
    }
}

impl Reusable for Job {
    fn clear(&mut self) {
        self.batch.clear();
        self.failed = None;
    }
    fn zero(&mut self) {
        self.batch.zero();
        self.failed = None;
    }
    fn prefault(&mut self) {
        self.batch.prefault();
    }
    fn heap_bytes(&self) -> usize {
        self.batch.heap_bytes()
            + self.metas.len() * size_of::<RowMeta>()
            + self.signals.len() * 8
            + self.features.len() * 8
    }
}

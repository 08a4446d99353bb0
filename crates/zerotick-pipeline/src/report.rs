//! What a run did: [`RunReport`].

use zerotick_core::RejectCounts;
use zerotick_mem::PoolStats;
use zerotick_sync::metrics::HistogramSnapshot;

use crate::books::BookReport;
use crate::compute::ComputeStats;

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// Rows read from the feed (ticks plus rejections).
    pub ticks_in: u64,
    /// Ticks through the feature stage.
    pub ticks_processed: u64,
    /// Rows rejected, by the feed or at the pipeline's entry.
    pub ticks_rejected: u64,
    /// Rejections by reason.
    pub rejects: RejectCounts,
    /// Symbols the run took: [`PipelineConfig::max_symbols`](crate::PipelineConfig), or its
    /// [`symbol_capacity`](crate::PipelineConfig::symbol_capacity) where that is lower (ticks
    /// of the symbols past it are rejected as `too_many_symbols`).
    pub max_symbols: usize,
    /// Market events other than trades the feed handed on, by kind (not part of
    /// `ticks_in`): they feed the order books.
    pub events: EventCounts,
    /// What the order books counted (symbols with a book, crossed and locked books, deltas
    /// of unknown levels, ...).
    pub books: BookReport,
    /// Gaps in the exchange's sequence numbers the feed found
    /// ([`Feed::sequence_gaps`](zerotick_core::Feed::sequence_gaps); 0 when the feed
    /// thread did not return).
    pub sequence_gaps: u64,
    /// Market events the feed handed on at their symbol's last time because theirs was
    /// earlier ([`Feed::time_clamped`](zerotick_core::Feed::time_clamped); 0 when the feed
    /// thread did not return).
    pub time_clamped: u64,
    /// Feature rows computed (= signals emitted).
    pub vectors: u64,
    /// Batches processed.
    pub batches: u64,
    /// Wall time from the first read to the last signal.
    pub seconds: f64,
    /// Tick-to-signal latency in ns: from the moment the feed thread read the tick that
    /// completed a row to the moment that row's signal was handed to the sink.
    pub latency: HistogramSnapshot,
    /// Arrival-to-signal latency in ns: `latency` plus how late the feed read the tick after
    /// it arrived, where the feed knows (a paced replay: after its due time, see
    /// `Feed::lateness_ns`); equal to `latency` for other feeds. The feed thread's own
    /// delays (a sleep that ended late, a lost time slice) count here and not in `latency`.
    pub arrival_latency: HistogramSnapshot,
    /// Allocations of the compute path (the feature thread and compute workers) between the
    /// end of warm-up and the end of the run (`None` without a counter, or when the run
    /// ended before warm-up did).
    pub steady_state_allocations: Option<u64>,
    /// Allocations of the feed thread (the boundary: parsing, network) over the same window.
    pub feed_allocations: Option<u64>,
    /// The batch pool's counters.
    pub pool: zerotick_mem::PoolStats,
    /// The run checksum ([`SignalDigest`](zerotick_core::SignalDigest)): per-symbol signal
    /// sequences, whatever the interleaving.
    pub checksum: u64,
    /// Prometheus text of the run's metrics.
    pub prometheus: String,
    /// Where a row's time goes, per stage.
    pub stages: StageLatency,
    /// What the compute stage did (projection paths, PCA refreshes, filter methods).
    pub compute: ComputeStats,
    /// The pool of PCA matrices.
    pub matrix_pool: PoolStats,
    /// The thread layout the run used, and why.
    pub layout: Layout,
}

/// Market events other than trades, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EventCounts {
    /// Best bid/ask quotes.
    pub quotes: u64,
    /// Book level updates.
    pub book_deltas: u64,
    /// Levels of book snapshots.
    pub snapshot_levels: u64,
}

/// Per-stage latency of the rows (ns), the parts of the tick-to-signal latency.
#[derive(Debug, Clone)]
pub struct StageLatency {
    /// From the feed reading the row's last tick to the feature thread taking it off the
    /// ring (queueing behind other ticks).
    pub queue: HistogramSnapshot,
    /// Per tick of a feed that knows its events' arrival (a paced replay): how long after
    /// arriving each was read, the feed thread's own delays (a late wake-up from its sleep,
    /// a time slice lost): the difference between `arrival_latency` and `latency`. Empty
    /// for other feeds.
    pub feed_lateness: HistogramSnapshot,
    /// From the row being written to its batch starting compute (batching).
    pub batch_wait: HistogramSnapshot,
    /// Compute time of a batch (one record per batch).
    pub compute: HistogramSnapshot,
    /// From a batch's compute ending to its signals being emitted (result ring, sink).
    pub emit: HistogramSnapshot,
}

/// The threads a run used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Compute worker threads (0: the compute stage runs on the feature thread).
    pub workers: usize,
    /// Whether PCA refreshes ran on a thread of their own.
    pub pca_thread: bool,
    /// Why this layout (the rule that chose it, or "set by --workers").
    pub reason: String,
    /// `(feature thread's CPU, feed and PCA threads' CPU)` when the threads were pinned.
    pub pinned: Option<(usize, usize)>,
    /// Rows the compute workers computed (the feature thread computed the rest).
    pub worker_rows: u64,
    /// Rows per batch.
    pub batch_rows: usize,
    /// Why that many ([`crate::config::batch_rows_reason`]).
    pub batch_reason: String,
}

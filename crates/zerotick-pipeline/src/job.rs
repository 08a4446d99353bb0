//! What travels between the pipeline's threads: [`Stamped`] ticks on the feed ring, pooled
//! [`Job`]s (a shard's batch of rows) between the feature thread and the compute stage.

use zerotick_core::Tick;
use zerotick_mem::{Batch, PoolError, Reusable};

use crate::compute::{ComputeError, ShardState};
use crate::features::WIDTH;

/// A tick stamped with the monotonic time (ns since the run's start) the feed thread read it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stamped {
    pub(crate) tick: Tick,
    pub(crate) read_ns: u64,
    /// How long before its read the tick arrived, where the feed knows it
    /// ([`Feed::lateness_ns`](zerotick_core::Feed::lateness_ns)), else 0.
    pub(crate) late_ns: u64,
}

// A `u64` lateness costs the ring nothing: the stamped tick is 48 bytes either way.
const _: () = assert!(size_of::<Stamped>() == 48);

/// Where a row came from, for its signal and its latency records.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct RowMeta {
    pub(crate) ts_ns: u64,
    pub(crate) symbol: u32,
    pub(crate) read_ns: u64,
    pub(crate) made_ns: u64,
    /// The row's last tick's [`Stamped::late_ns`].
    pub(crate) late_ns: u64,
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
    /// Number (1-based) of the tick that made the first row.
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
    pub(crate) fn new(rows: usize, feature_width: usize) -> Result<Self, PoolError> {
        Ok(Self {
            batch: Batch::try_zeroed(rows, WIDTH)?,
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

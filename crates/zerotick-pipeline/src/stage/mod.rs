//! The pipeline's threads, one named stage type each:
//!
//! * [`feed::FeedStage`]: pulls the feed, validates and stamps ticks, pushes them on the
//!   tick ring (a thread of its own, left behind if the feed blocks past the deadline);
//! * [`feature::FeatureThread`]: the feature stage, batching per compute shard, dispatch to
//!   the compute stage (inline, or compute workers), and emission through
//!   [`emit::Emitter`] (the calling thread);
//! * [`worker::ComputeWorker`]: a compute thread (none by default on 2 cores);
//! * the PCA worker ([`crate::compute::PcaWorker`]): randomized SVD refreshes.

pub(crate) mod emit;
pub(crate) mod feature;
pub(crate) mod feed;
pub(crate) mod worker;

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use zerotick_core::RejectReason;

/// State shared by every thread of a run.
pub(crate) struct Link {
    /// The run's clock origin: every `*_ns` stamp is nanoseconds since it.
    pub(crate) start: Instant,
    /// Ticks whose signals are all emitted (and the sink flushed when the feed wants
    /// acknowledgements): the feature thread publishes, the feed thread acknowledges.
    /// Padded: written once per batch, it must not share a line with the read-mostly fields
    /// (`start` is read for every stamp).
    pub(crate) done: Padded<AtomicU64>,
    /// Set once warm-up is over (allocations are counted from then on).
    pub(crate) steady: AtomicBool,
    /// Compute and PCA threads that finished warming up; the feed starts once all have.
    pub(crate) ready: AtomicUsize,
    /// The run is over: the feed thread stops reading.
    pub(crate) stop: AtomicBool,
    /// When the feed started reading (ns since `start`; 0 before).
    pub(crate) feed_start_ns: AtomicU64,
    /// Ticks the feed thread put on the ring, and rows rejected by reason (written by the
    /// feed thread only: the report reads them even if the feed thread never returns).
    pub(crate) ticks: Padded<AtomicU64>,
    pub(crate) rejects: [AtomicU64; RejectReason::ALL.len()],
    /// Quotes, book deltas and snapshot levels the feed thread read (written by it only).
    pub(crate) other_events: [AtomicU64; 3],
    /// How long the feed reads, from `feed_start_ns`.
    pub(crate) duration: Option<Duration>,
}

impl Link {
    pub(crate) fn new(duration: Option<Duration>) -> Self {
        Self {
            start: Instant::now(),
            done: Padded(AtomicU64::new(0)),
            steady: AtomicBool::new(false),
            ready: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            feed_start_ns: AtomicU64::new(0),
            ticks: Padded(AtomicU64::new(0)),
            rejects: core::array::from_fn(|_| AtomicU64::new(0)),
            other_events: core::array::from_fn(|_| AtomicU64::new(0)),
            duration,
        }
    }

    /// Nanoseconds since the run's start.
    #[inline]
    pub(crate) fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    /// When the feed must stop reading, once the feed has started (`None`: no limit, or not
    /// started yet).
    pub(crate) fn deadline(&self) -> Option<Instant> {
        let d = self.duration?;
        // Acquire: pairs with the feed thread's Release store of its start.
        let t0 = self.feed_start_ns.load(Ordering::Acquire);
        (t0 != 0).then(|| self.start + Duration::from_nanos(t0) + d)
    }
}

/// A value on cache lines of its own (two 64-byte lines: adjacent-line prefetch pairs them):
/// the feed thread's per-tick store must not evict what the other threads read.
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

/// Adds one to the ready count when dropped, also while unwinding (so the feed never waits
/// on a thread that died warming up).
pub(crate) struct ReadyOnDrop<'a>(pub(crate) &'a AtomicUsize);

impl Drop for ReadyOnDrop<'_> {
    fn drop(&mut self) {
        // Release: pairs with the feed thread's Acquire load of the count.
        self.0.fetch_add(1, Ordering::Release);
    }
}

/// The calling thread's allocations since the `warm` sample (`None` without a counter or a
/// sample).
pub(crate) fn allocations_since(
    warm: Option<u64>,
    allocations: Option<fn() -> u64>,
) -> Option<u64> {
    warm.zip(allocations.map(|f| f())).map(|(a, b)| b - a)
}

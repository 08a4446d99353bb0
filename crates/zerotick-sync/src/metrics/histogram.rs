//! [`Histogram`]: fixed log-linear (HDR-style) buckets of `u64` values, recorded with atomics.
//!
//! # Bucket layout
//! With `u = floor(log2(lowest))` and `s` sub-bucket bits (the smallest `s` with
//! `2^(s-1) >= 10^digits`), a value `v` maps to `w = v >> u`, then:
//!
//! ```text
//! e     = max(0, bit_length(w) - s)
//! index = e * 2^(s-1) + (w >> e)
//! ```
//!
//! Values with `w < 2^s` get one bucket per unit (`2^u <= lowest`); above that each power of
//! two is split into `2^(s-1)` equal buckets, so a bucket is never wider than `1 / 2^(s-1) <=
//! 10^-digits` of its lowest value. The bucket count is fixed at construction:
//! `index(highest) + 1` (for 1 ns .. 1 h at 3 digits, 33,421 buckets, 261 KiB).

use std::fmt;
use std::num::NonZeroU64;
use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};

use crossbeam_utils::CachePadded;

use super::counter::Counter;
use super::thread_slot::{self, UNCLAIMED};
use crate::sync::{AtomicU64, Ordering};

/// Errors from [`HistogramConfig`] validation (at [`Histogram::new`] or registration).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum HistogramError {
    /// `lowest` was 0: the smallest value of the range must be at least 1.
    LowestZero,
    /// `highest` was below `2 * lowest`.
    HighestTooLow {
        /// The lowest value given.
        lowest: u64,
        /// The highest value given.
        highest: u64,
    },
    /// Significant digits outside `1..=5`.
    Precision {
        /// The digits given.
        digits: u8,
    },
    /// More thread shards than thread slots ([`MAX_THREADS`](super::MAX_THREADS)).
    Shards {
        /// The shards asked for.
        shards: usize,
        /// The most allowed.
        max: usize,
    },
    /// The Prometheus scale was not a finite number above zero.
    Scale {
        /// The scale given.
        scale: f64,
    },
}

impl fmt::Display for HistogramError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LowestZero => write!(f, "histogram lowest value must be at least 1"),
            Self::HighestTooLow { lowest, highest } => write!(
                f,
                "histogram highest value {highest} is below twice the lowest ({lowest})"
            ),
            Self::Precision { digits } => write!(
                f,
                "histogram precision of {digits} significant digits is outside 1..=5"
            ),
            Self::Shards { shards, max } => {
                write!(
                    f,
                    "histogram thread shards {shards} above the maximum of {max}"
                )
            }
            Self::Scale { scale } => {
                write!(f, "histogram scale {scale} is not a finite number above 0")
            }
        }
    }
}

impl std::error::Error for HistogramError {}

/// Range, precision and Prometheus rendering of a [`Histogram`], fixed at construction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HistogramConfig {
    /// Smallest value recorded as itself; smaller values are clamped up to it and counted.
    pub lowest: u64,
    /// Largest value recorded as itself; larger values are clamped down to it and counted.
    pub highest: u64,
    /// Significant decimal digits kept, `1..=5`: a recorded value is reported within a
    /// relative error of `10^-digits` (or within `lowest`, for values below `2^s * lowest`).
    pub significant_digits: u8,
    /// Multiplier applied to `le` bounds and `_sum` in the Prometheus text (e.g. `1e-9` to
    /// record nanoseconds and expose seconds, as Prometheus conventions prefer). Default 1.
    pub prometheus_scale: f64,
    /// Threads holding thread slots below this record into private bucket rows with a plain
    /// load and store instead of an atomic add (see [`Histogram`]); default 0. Each shard
    /// costs another `8 * (buckets + 8)` bytes.
    pub thread_shards: usize,
}

impl HistogramConfig {
    /// Values in `[lowest, highest]` kept to `significant_digits`, rendered unscaled.
    pub const fn new(lowest: u64, highest: u64, significant_digits: u8) -> Self {
        Self {
            lowest,
            highest,
            significant_digits,
            prometheus_scale: 1.0,
            thread_shards: 0,
        }
    }

    /// Latencies in nanoseconds, 1 ns to 1 hour, 3 significant digits, exposed in seconds.
    pub const fn latency_ns() -> Self {
        Self::new(1, 3_600_000_000_000, 3).with_prometheus_scale(1e-9)
    }

    /// Sets [`prometheus_scale`](Self::prometheus_scale).
    pub const fn with_prometheus_scale(mut self, scale: f64) -> Self {
        self.prometheus_scale = scale;
        self
    }

    /// Sets [`thread_shards`](Self::thread_shards).
    pub const fn with_thread_shards(mut self, shards: usize) -> Self {
        self.thread_shards = shards;
        self
    }

    /// Checks the configuration.
    ///
    /// # Errors
    /// [`HistogramError`] naming the first field out of range.
    pub fn validate(&self) -> Result<(), HistogramError> {
        if self.lowest == 0 {
            return Err(HistogramError::LowestZero);
        }
        if self.highest / 2 < self.lowest {
            return Err(HistogramError::HighestTooLow {
                lowest: self.lowest,
                highest: self.highest,
            });
        }
        if !(1..=5).contains(&self.significant_digits) {
            return Err(HistogramError::Precision {
                digits: self.significant_digits,
            });
        }
        if self.thread_shards > super::MAX_THREADS {
            return Err(HistogramError::Shards {
                shards: self.thread_shards,
                max: super::MAX_THREADS,
            });
        }
        if !(self.prometheus_scale.is_finite() && self.prometheus_scale > 0.0) {
            return Err(HistogramError::Scale {
                scale: self.prometheus_scale,
            });
        }
        Ok(())
    }
}

/// The value-to-bucket mapping (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Layout {
    config: HistogramConfig,
    /// `floor(log2(lowest))`.
    unit: u32,
    /// Sub-bucket bits `s`, `2..=18`.
    sub_bits: u32,
    /// `s - 1`, the shift of the exponent in [`index`](Self::index).
    half_bits: u32,
    /// `2^s - 1`: or-ed into `w` in [`index`](Self::index), so its `ilog2` is at least `s - 1`
    /// and needs no zero check.
    low: NonZeroU64,
    /// Number of buckets, `index(highest) + 1`.
    len: usize,
}

impl Layout {
    fn new(config: HistogramConfig) -> Result<Self, HistogramError> {
        config.validate()?;
        let unit = 63 - config.lowest.leading_zeros();
        let half = 10u64.pow(u32::from(config.significant_digits));
        let sub_bits = 64 - (half - 1).leading_zeros() + 1; // 2^(s-1) >= 10^digits
        let low = NonZeroU64::MIN.saturating_add((1u64 << sub_bits) - 2);
        let mut layout = Self {
            config,
            unit,
            sub_bits,
            half_bits: sub_bits - 1,
            low,
            len: 0,
        };
        layout.len = layout.index(config.highest) + 1;
        Ok(layout)
    }

    /// Bucket of `v` (any `v`; in range for `v <= highest`).
    ///
    /// `w | (2^s - 1)` is never zero and has `max(s, bit_length(w))` bits, so
    /// `e = max(0, bit_length(w) - s) = ilog2(w | (2^s - 1)) - (s - 1)` is one `bsr` and a
    /// subtraction, with no branch and no zero check (the mask and `s - 1` are precomputed,
    /// so the record path computes neither).
    #[inline(always)]
    fn index(&self, v: u64) -> usize {
        let w = v >> self.unit;
        let e = (self.low | w).ilog2() - self.half_bits;
        (((e as u64) << self.half_bits) + (w >> e)) as usize
    }

    /// Smallest and largest value of bucket `i`.
    fn range(&self, i: usize) -> (u64, u64) {
        let i = i as u64;
        let s = self.sub_bits;
        let (e, m) = if i < 1 << s {
            (0, i)
        } else {
            (
                (i >> (s - 1)) - 1,
                (i & ((1 << (s - 1)) - 1)) + (1 << (s - 1)),
            )
        };
        let lo = (m << e) << self.unit;
        let width = (1u64 << e) << self.unit;
        (lo, lo.saturating_add(width - 1))
    }
}

/// Counters written by every record, kept on their own cache line.
struct Totals {
    /// Smallest value recorded since the last reset; `u64::MAX` when none.
    min: AtomicU64,
    /// Largest value recorded since the last reset; 0 when none.
    max: AtomicU64,
    /// Values below `lowest`, clamped up.
    below: AtomicU64,
    /// Values above `highest`, clamped down.
    above: AtomicU64,
    /// Smallest value ever recorded (never reset); `u64::MAX` when none. With `ever_max` it
    /// bounds the buckets a snapshot reads (see [`Histogram::read_into`]).
    ever_min: AtomicU64,
    /// Largest value ever recorded (never reset); 0 when none.
    ever_max: AtomicU64,
}

struct Core {
    layout: Layout,
    /// `highest - lowest`: `value - lowest` (wrapping) above it is out of range.
    span: u64,
    /// `layout.config.thread_shards`, next to the other fields the record path reads.
    shard_count: usize,
    /// Cells per shard row: [`ROW_HEADER`] header cells (the row's sum first) then
    /// `layout.len` buckets.
    stride: usize,
    /// One count per bucket; `buckets.len() == layout.len`.
    buckets: Box<[AtomicU64]>,
    totals: CachePadded<Totals>,
    /// Wrapping sum of the (clamped) values recorded by threads without a shard row, in
    /// per-thread cells like a counter's, so a record pays one atomic read-modify-write (its
    /// bucket), not two.
    sum: Counter,
    /// `thread_shards` rows of `stride` cells; row `t` starts at `t * stride` with the wrapping
    /// sum of the values its thread recorded, then (from `ROW_HEADER` on) its bucket counts.
    /// Invariant: only the thread holding thread slot `t` writes row `t` (plain load + store),
    /// and every cell only grows (wrapping, for the sum); everyone may load.
    shards: Box<[AtomicU64]>,
    /// What interval snapshots have taken so far from the cells that are not swapped. Locked
    /// only by snapshot readers, never by recorders.
    taken: Mutex<Taken>,
}

/// Cells at the head of a shard row before its buckets: the row's sum, padded to a cache
/// line so the buckets of the next row never share the sum's line.
const ROW_HEADER: usize = 8;

/// Totals of the grow-only cells at the last interval snapshot: an interval gets the growth
/// since then.
struct Taken {
    sum: u64,
    /// Per bucket, the sum over the shard rows; empty without shards.
    shards: Vec<u64>,
}

/// A concurrent histogram of `u64` values with fixed memory: a cheap handle (`Clone` shares
/// it) into a [`Registry`](super::Registry), or standalone from [`Histogram::new`].
///
/// Recording is one atomic add (the bucket), a plain add into the thread's own sum cell (as
/// for a [`Counter`]) and two loads (min, max: updated only when exceeded); it never
/// allocates, locks or panics. With [`HistogramConfig::thread_shards`] `n > 0`, threads
/// holding thread slots below `n` (see [Threads](super#threads)) count into a private row
/// (bucket counts and a sum cell) with plain loads and stores instead, no atomic
/// read-modify-write at all, for `8 * (buckets + 8)` more bytes per shard; snapshots then
/// add the rows up. That is the configuration for a hot path: in the bench's
/// `histogram_record` case it records as fast as `hdrhistogram`'s `&mut self` record (see
/// docs/kernels.md). Values outside `[lowest, highest]` are
/// clamped to the range and counted ([`HistogramSnapshot::clamped_below`] / `_above`).
///
/// The cells are allocated zeroed and left for the operating system to map on first write,
/// and snapshots read only the buckets between the smallest and the largest value ever
/// recorded: the latency preset's ~33,000 buckets (261 KiB) cost a few pages and a few
/// hundred reads where the values fall, not 261 KiB of page faults at registration and a
/// full scan per snapshot. The price is one page fault (~1-3 us on a VM) the first time a
/// value lands in a 4 KiB page of buckets (512 adjacent buckets) not written before,
/// which happens in the first moments of a run or at a new extreme.
///
/// ```
/// use zerotick_sync::metrics::{Histogram, HistogramConfig};
///
/// let h = Histogram::new(HistogramConfig::new(1, 1_000_000, 3))?;
/// for v in 1..=1000 {
///     h.record(v);
/// }
/// let s = h.snapshot();
/// assert_eq!(s.count(), 1000);
/// assert_eq!(s.value_at_quantile(0.5), Some(500));
/// assert_eq!((s.min(), s.max()), (Some(1), Some(1000)));
/// # Ok::<(), zerotick_sync::metrics::HistogramError>(())
/// ```
#[derive(Clone)]
pub struct Histogram {
    core: Arc<Core>,
}

impl Histogram {
    /// A histogram outside any registry.
    ///
    /// # Errors
    /// [`HistogramError`] if the configuration is out of range.
    ///
    /// Its sum keeps per-thread cells for [`DEFAULT_THREADS`](super::DEFAULT_THREADS) thread
    /// slots, as a registry's counters do (see [Threads](super#threads)).
    pub fn new(config: HistogramConfig) -> Result<Self, HistogramError> {
        Self::with_threads(config, super::DEFAULT_THREADS)
    }

    pub(crate) fn with_threads(
        config: HistogramConfig,
        threads: usize,
    ) -> Result<Self, HistogramError> {
        let layout = Layout::new(config)?;
        let stride = ROW_HEADER + layout.len;
        Ok(Self {
            core: Arc::new(Core {
                layout,
                span: config.highest - config.lowest,
                shard_count: config.thread_shards,
                stride,
                buckets: zeroed_cells(layout.len),
                totals: CachePadded::new(Totals {
                    min: AtomicU64::new(u64::MAX),
                    max: AtomicU64::new(0),
                    below: AtomicU64::new(0),
                    above: AtomicU64::new(0),
                    ever_min: AtomicU64::new(u64::MAX),
                    ever_max: AtomicU64::new(0),
                }),
                sum: Counter::new(threads),
                shards: zeroed_cells(stride * config.thread_shards),
                taken: Mutex::new(Taken {
                    sum: 0,
                    shards: vec![
                        0;
                        if config.thread_shards > 0 {
                            layout.len
                        } else {
                            0
                        }
                    ],
                }),
            }),
        })
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &HistogramConfig {
        &self.core.layout.config
    }

    /// Records one value. All Relaxed: each field is an independent tally, and snapshots
    /// reconcile min and max with the buckets (see [`HistogramSnapshot::max`]).
    ///
    /// Inlined whole (not inlining it measured ~15% slower in the bench's loop): the rare
    /// cases (a first record, clamping, a new min or max) are calls out.
    #[inline(always)]
    pub fn record(&self, value: u64) {
        let core = &*self.core;
        if value.wrapping_sub(core.layout.config.lowest) > core.span {
            return self.record_clamped(value);
        }
        let i = core.layout.index(value);
        let slot = thread_slot::current();
        if slot < core.shard_count {
            let row = slot * core.stride;
            // `get` never fails: `slot < thread_shards` and `i < len`, so the bucket cell is
            // below `thread_shards * stride`, and the sum cell `row` is below it.
            debug_assert!(i < core.layout.len && row + core.stride <= core.shards.len());
            // SAFETY: `shards.len() == thread_shards * stride` (built so in `with_threads`),
            // `slot < thread_shards` (checked above) and `i < len = stride - ROW_HEADER`
            // (`value <= highest`, checked above, so `i <= index(highest) = len - 1`): both
            // cells lie in row `slot`, below `(slot + 1) * stride <= shards.len()`. Unchecked
            // because the two bounds checks measured ~5% of the record (see docs/kernels.md).
            let (sum, cell) = unsafe {
                (
                    core.shards.get_unchecked(row),
                    core.shards.get_unchecked(row + ROW_HEADER + i),
                )
            };
            // Loads + stores: only the thread holding `slot` writes this row (invariant on
            // `Core::shards`); see `Counter::add` for why that is exact.
            cell.store(cell.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            sum.store(
                sum.load(Ordering::Relaxed).wrapping_add(value),
                Ordering::Relaxed,
            );
        } else {
            self.record_shared(slot, i, value);
        }
        let t = &core.totals;
        if value > t.max.load(Ordering::Relaxed) || value < t.min.load(Ordering::Relaxed) {
            self.record_extreme(value);
        }
    }

    /// A value above the max or below the min seen so far: rare once warmed up. Every value
    /// recorded lies within the interval's min and max, which only ever hold values that
    /// came through here, so `ever_min ..= ever_max` covers every value recorded (once the
    /// record is visible).
    #[cold]
    #[inline(never)]
    fn record_extreme(&self, value: u64) {
        let t = &self.core.totals;
        t.max.fetch_max(value, Ordering::Relaxed);
        t.min.fetch_min(value, Ordering::Relaxed);
        if value > t.ever_max.load(Ordering::Relaxed) {
            t.ever_max.fetch_max(value, Ordering::Relaxed);
        }
        if value < t.ever_min.load(Ordering::Relaxed) {
            t.ever_min.fetch_min(value, Ordering::Relaxed);
        }
    }

    /// Bucket `i` and sum of `value` for a thread without a shard row: first record on this
    /// thread (it claims a slot, which may give it a row), or a slot past `thread_shards`.
    #[inline(always)]
    fn record_shared(&self, mut slot: usize, i: usize, value: u64) {
        let core = &*self.core;
        if slot == UNCLAIMED && core.shard_count > 0 {
            slot = thread_slot::claim();
            if slot < core.shard_count {
                return self.record_first(slot, i, value);
            }
        }
        if let Some(b) = core.buckets.get(i) {
            // `get` never fails: `value <= highest`, so `i <= index(highest) < len`.
            b.fetch_add(1, Ordering::Relaxed);
        }
        core.sum.add_in(slot, value);
    }

    /// The first record of a thread that has just claimed shard row `slot`.
    #[cold]
    #[inline(never)]
    fn record_first(&self, slot: usize, i: usize, value: u64) {
        let core = &*self.core;
        let row = slot * core.stride;
        if let (Some(sum), Some(cell)) =
            (core.shards.get(row), core.shards.get(row + ROW_HEADER + i))
        {
            // As in `record`: the row is this thread's alone since `claim`.
            cell.store(cell.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            sum.store(
                sum.load(Ordering::Relaxed).wrapping_add(value),
                Ordering::Relaxed,
            );
        }
    }

    #[cold]
    #[inline(never)]
    fn record_clamped(&self, value: u64) {
        let c = &self.core.layout.config;
        let t = &self.core.totals;
        if value < c.lowest {
            t.below.fetch_add(1, Ordering::Relaxed);
            self.record(c.lowest);
        } else {
            t.above.fetch_add(1, Ordering::Relaxed);
            self.record(c.highest);
        }
    }

    /// A copy of the counts so far, without resetting them. Allocates the snapshot.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut s = HistogramSnapshot::empty(self.core.layout);
        self.read_into(&mut s, false);
        s
    }

    /// Buckets (the fixed memory, 8 bytes each).
    pub fn bucket_count(&self) -> usize {
        self.core.layout.len
    }

    /// The counts since the last interval snapshot (or construction), resetting them to zero.
    ///
    /// Each shared bucket is swapped with zero, and the grow-only private rows and sum cells
    /// are read less what the previous interval took, so every record's bucket count lands in
    /// exactly one interval, even while other threads record: summed over intervals, counts
    /// are exact.
    /// The sum is read from per-thread cells that only grow, less the total taken at the
    /// previous interval, so sums over intervals are exact too; a record racing with the reset
    /// may have its sum land in the neighbouring interval (that interval's mean is then off
    /// by the one record). Interval snapshots from several threads at once are serialised.
    pub fn interval_snapshot(&self) -> HistogramSnapshot {
        let mut s = HistogramSnapshot::empty(self.core.layout);
        self.read_into(&mut s, true);
        s
    }

    /// As [`snapshot`](Self::snapshot) (or [`interval_snapshot`](Self::interval_snapshot) when
    /// `reset`) into `out`, reusing its allocation when it came from this histogram's layout.
    pub fn snapshot_into(&self, out: &mut HistogramSnapshot, reset: bool) {
        if out.layout != self.core.layout {
            *out = HistogramSnapshot::empty(self.core.layout);
        }
        self.read_into(out, reset);
    }

    /// Reads the buckets between those of the smallest and the largest value ever recorded
    /// (the rest have never been written: a snapshot of a latency histogram reads a few
    /// hundred of its ~33,000 buckets). A record whose bucket count is visible here before
    /// its update of `ever_min` / `ever_max` may fall outside that range; it is then read by
    /// a later snapshot (an interval snapshot leaves it in place for the next interval), as
    /// if it had come just after this one.
    fn read_into(&self, out: &mut HistogramSnapshot, reset: bool) {
        let read = |a: &AtomicU64, init: u64| {
            if reset {
                a.swap(init, Ordering::Relaxed)
            } else {
                a.load(Ordering::Relaxed)
            }
        };
        let core = &*self.core;
        let t = &core.totals;
        let (lo, hi) = (
            t.ever_min.load(Ordering::Relaxed),
            t.ever_max.load(Ordering::Relaxed),
        );
        let range = if lo <= hi {
            // Both were recorded, so within `[lowest, highest]`: indices below `len`.
            core.layout.index(lo)..core.layout.index(hi) + 1
        } else {
            0..0
        };
        out.reset_range(range.clone());
        for (dst, b) in out.counts.iter_mut().zip(&core.buckets[range.clone()]) {
            *dst = read(b, 0);
        }
        let mut taken = core.taken.lock().unwrap_or_else(PoisonError::into_inner);
        let rows = || (0..core.shard_count).map(|t| t * core.stride);
        if core.shard_count > 0 {
            for (i, (dst, prev)) in range
                .clone()
                .zip(out.counts.iter_mut().zip(&mut taken.shards[range.clone()]))
            {
                let now = rows()
                    .filter_map(|r| core.shards.get(r + ROW_HEADER + i))
                    .map(|c| c.load(Ordering::Relaxed))
                    .fold(0u64, u64::wrapping_add);
                *dst = dst.wrapping_add(now.wrapping_sub(*prev));
                if reset {
                    *prev = now;
                }
            }
        }
        let total = rows()
            .filter_map(|r| core.shards.get(r))
            .map(|c| c.load(Ordering::Relaxed))
            .fold(core.sum.get(), u64::wrapping_add);
        out.sum = total.wrapping_sub(taken.sum);
        if reset {
            taken.sum = total;
        }
        drop(taken);
        out.count = out.counts.iter().sum();
        out.min_seen = read(&t.min, u64::MAX);
        out.max_seen = read(&t.max, 0);
        out.below = read(&t.below, 0);
        out.above = read(&t.above, 0);
    }
}

/// `n` cells reading zero. Outside loom they come zeroed from the allocator, which for a
/// histogram's hundreds of KiB means fresh pages from the kernel, mapped on first touch: a
/// histogram costs memory (and start-up time) only for the buckets it records into, and the
/// first record into each 4 KiB page of buckets (512 of them) takes one page fault.
fn zeroed_cells(n: usize) -> Box<[AtomicU64]> {
    #[cfg(not(loom))]
    {
        // `n` is bounded by the validated configuration (at most `MAX_THREADS` rows of at
        // most ~2^24 buckets), far below `isize::MAX` bytes.
        let layout = std::alloc::Layout::array::<AtomicU64>(n)
            .expect("a validated histogram's cells fit in an allocation");
        if layout.size() == 0 {
            return Box::new([]);
        }
        // SAFETY: the layout has a non-zero size (checked above).
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) }.cast::<AtomicU64>();
        if ptr.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        // SAFETY: `ptr` is a fresh allocation of `layout`, the global allocator's, as `Box`
        // expects, of `n` `AtomicU64`s; all-zero bytes are a valid `AtomicU64` (it has the
        // representation of `u64`), so every element is initialised (to 0).
        unsafe { Box::from_raw(core::ptr::slice_from_raw_parts_mut(ptr, n)) }
    }
    #[cfg(loom)]
    {
        (0..n).map(|_| AtomicU64::new(0)).collect()
    }
}

impl fmt::Debug for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Histogram")
            .field("config", self.config())
            .field("buckets", &self.core.layout.len)
            .finish()
    }
}

/// A point-in-time copy of a [`Histogram`]: counts per bucket and totals, with quantile
/// queries. Reading it touches no atomics.
#[derive(Clone, Debug)]
pub struct HistogramSnapshot {
    layout: Layout,
    /// Bucket index of `counts[0]`.
    first: usize,
    /// Counts of the buckets the snapshot read, from bucket `first` on (those between the
    /// smallest and the largest value ever recorded); every other bucket is zero.
    counts: Vec<u64>,
    count: u64,
    sum: u64,
    min_seen: u64,
    max_seen: u64,
    below: u64,
    above: u64,
}

impl HistogramSnapshot {
    fn empty(layout: Layout) -> Self {
        Self {
            layout,
            first: 0,
            // Room for every bucket, so a reused snapshot never reallocates; only the range
            // read is ever written (and so mapped, for a large layout).
            counts: Vec::with_capacity(layout.len),
            count: 0,
            sum: 0,
            min_seen: u64::MAX,
            max_seen: 0,
            below: 0,
            above: 0,
        }
    }

    /// The configuration of the histogram it was taken from.
    pub fn config(&self) -> &HistogramConfig {
        &self.layout.config
    }

    /// Makes `range` the buckets held, all zero (reusing the allocation).
    fn reset_range(&mut self, range: Range<usize>) {
        self.first = range.start;
        self.counts.clear();
        self.counts.resize(range.len(), 0);
    }

    /// `(bucket index, count)` of the non-empty buckets, ascending.
    fn nonzero(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        (self.first..)
            .zip(self.counts.iter().copied())
            .filter(|&(_, c)| c > 0)
    }

    /// Values recorded (clamped ones included).
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Wrapping sum of the values recorded (clamped values count as clamped).
    pub fn sum(&self) -> u64 {
        self.sum
    }

    /// Mean of the values recorded, `None` when empty.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum as f64 / self.count as f64)
    }

    /// Values below `lowest` that were recorded as `lowest`.
    pub fn clamped_below(&self) -> u64 {
        self.below
    }

    /// Values above `highest` that were recorded as `highest`.
    pub fn clamped_above(&self) -> u64 {
        self.above
    }

    /// Smallest value recorded, `None` when empty.
    ///
    /// Exact, unless a record raced with the snapshot so that its min update and its bucket
    /// count fell on different sides; then the edge of the lowest non-empty bucket (within the
    /// stated precision).
    pub fn min(&self) -> Option<u64> {
        let (i, _) = self.nonzero().next()?;
        let (lo, hi) = self.layout.range(i);
        Some(if (lo..=hi).contains(&self.min_seen) {
            self.min_seen
        } else {
            lo.max(self.layout.config.lowest)
        })
    }

    /// Largest value recorded, `None` when empty. Exact, with the same caveat as
    /// [`min`](Self::min) (then the top of the highest non-empty bucket).
    pub fn max(&self) -> Option<u64> {
        let i = self.first + self.counts.iter().rposition(|&c| c > 0)?;
        let (lo, hi) = self.layout.range(i);
        let max = if (lo..=hi).contains(&self.max_seen) {
            self.max_seen
        } else {
            hi.min(self.layout.config.highest)
        };
        // A racy snapshot could pair a min and a max of disjoint records in one bucket.
        Some(max.max(self.min()?))
    }

    /// The value at quantile `q` (`0.0..=1.0`, clamped; NaN reads as 0): the largest value
    /// equivalent to the `ceil(q * count)`-th smallest recorded value (at least the first),
    /// bounded by [`min`](Self::min) and [`max`](Self::max). Within `10^-digits` relative (or
    /// `lowest` absolute) of the true order statistic. `None` when empty.
    pub fn value_at_quantile(&self, q: f64) -> Option<u64> {
        let (min, max) = (self.min()?, self.max()?);
        let q = if q.is_nan() { 0.0 } else { q.clamp(0.0, 1.0) };
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        let mut seen = 0u64;
        for (i, &c) in (self.first..).zip(&self.counts) {
            seen += c;
            if seen >= rank {
                // Not `clamp`: a racy snapshot may have `min > max` (see `min`); never panic.
                return Some(self.layout.range(i).1.min(max).max(min));
            }
        }
        Some(max)
    }

    /// Median.
    pub fn p50(&self) -> Option<u64> {
        self.value_at_quantile(0.5)
    }

    /// 90th percentile.
    pub fn p90(&self) -> Option<u64> {
        self.value_at_quantile(0.9)
    }

    /// 99th percentile.
    pub fn p99(&self) -> Option<u64> {
        self.value_at_quantile(0.99)
    }

    /// 99.9th percentile.
    pub fn p999(&self) -> Option<u64> {
        self.value_at_quantile(0.999)
    }

    /// Non-empty buckets as `(lowest value, highest value, count)`, ascending.
    pub fn buckets(&self) -> impl Iterator<Item = (u64, u64, u64)> + '_ {
        self.nonzero().map(|(i, c)| {
            let (lo, hi) = self.layout.range(i);
            (lo, hi, c)
        })
    }

    /// Values recorded that are at most `bound`, counting whole buckets: a bucket counts when
    /// its highest value is at most `bound`, so the figure may miss values within one bucket
    /// below `bound` (the stated precision), never include one above it.
    pub fn count_at_most(&self, bound: u64) -> u64 {
        self.buckets()
            .take_while(|&(_, hi, _)| hi <= bound)
            .map(|(_, _, c)| c)
            .sum()
    }
}

/// Equal when they hold the same counts and totals from the same layout, whatever range of
/// buckets each read.
impl PartialEq for HistogramSnapshot {
    fn eq(&self, other: &Self) -> bool {
        self.layout == other.layout
            && self.nonzero().eq(other.nonzero())
            && (self.count, self.sum, self.min_seen, self.max_seen)
                == (other.count, other.sum, other.min_seen, other.max_seen)
            && (self.below, self.above) == (other.below, other.above)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn layout_is_contiguous_and_within_precision() {
        for (lowest, digits) in [(1, 1), (1, 3), (1000, 2), (7, 5)] {
            let l = Layout::new(HistogramConfig::new(lowest, 1 << 40, digits)).unwrap();
            let mut next = 0;
            for i in 0..l.len {
                let (lo, hi) = l.range(i);
                assert_eq!(lo, next, "bucket {i} of {l:?}");
                assert_eq!(l.index(lo), i);
                assert_eq!(l.index(hi), i);
                let rel = (hi - lo) as f64 / lo.max(1) as f64;
                assert!(
                    hi - lo < lowest || rel <= 10f64.powi(-i32::from(digits)),
                    "{i}"
                );
                next = hi + 1;
            }
        }
    }

    #[test]
    fn index_matches_the_bit_length_formula() {
        // The module docs' formula, written out with a plain bit length.
        let l = Layout::new(HistogramConfig::new(1, u64::MAX / 2, 3)).unwrap();
        let s = l.sub_bits;
        let reference = |v: u64| {
            let e = (64 - v.leading_zeros()).saturating_sub(s);
            ((u64::from(e) << (s - 1)) + (v >> e)) as usize
        };
        let mut vs: Vec<u64> = (0..4096).collect();
        for k in 0..64 {
            for d in [0u64, 1, 2, 3] {
                vs.push((1u64 << k).wrapping_sub(d));
                vs.push((1u64 << k).wrapping_add(d));
            }
        }
        vs.push(u64::MAX);
        for v in vs {
            assert_eq!(l.index(v), reference(v), "{v}");
        }
    }

    #[test]
    fn latency_preset_size() {
        let l = Layout::new(HistogramConfig::latency_ns()).unwrap();
        assert_eq!(l.sub_bits, 11);
        assert_eq!(l.len, 33_421);
    }

    #[test]
    fn snapshots_read_only_the_recorded_range_and_reuse_clears_the_rest() {
        let config = HistogramConfig::latency_ns().with_thread_shards(2);
        let (a, b) = (
            Histogram::new(config).unwrap(),
            Histogram::new(config).unwrap(),
        );
        for v in [1_000, 5_000, 2_000_000] {
            a.record(v);
        }
        b.record(3);
        let s = a.snapshot();
        let (lo, hi) = (a.core.layout.index(1_000), a.core.layout.index(2_000_000));
        assert_eq!((s.first, s.counts.len()), (lo, hi + 1 - lo));
        assert_eq!(
            (s.count(), s.min(), s.max()),
            (3, Some(1_000), Some(2_000_000))
        );
        // One buffer for both, as the Prometheus renderer uses it: a's counts must not
        // survive into b's snapshot, nor b's into a's.
        let mut buf = a.snapshot();
        b.snapshot_into(&mut buf, false);
        assert_eq!(buf.counts.iter().sum::<u64>(), 1);
        assert_eq!(buf, b.snapshot());
        a.snapshot_into(&mut buf, false);
        assert_eq!(buf.counts.iter().sum::<u64>(), 3);
        assert_eq!(buf, s);
        // An interval resets the interval's min and max, not the range: a later interval
        // with one value inside it still finds it, and the next one is empty.
        let first = a.interval_snapshot();
        assert_eq!(first.count(), 3);
        a.record(5_000);
        let second = a.interval_snapshot();
        assert_eq!((second.count(), second.p50()), (1, Some(5_000)));
        assert_eq!((second.first, second.counts.len()), (lo, hi + 1 - lo));
        assert_eq!(a.interval_snapshot().count(), 0);
        // Equality ignores which range each side read.
        let empty = Histogram::new(config).unwrap().snapshot();
        assert!(empty.counts.is_empty());
        assert_eq!(a.snapshot(), empty);
    }
}

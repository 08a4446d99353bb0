//! [`Counter`]: per-thread cells summed on read; [`Gauge`]: one `f64` cell.

use std::sync::Arc;

use crossbeam_utils::CachePadded;

use super::thread_slot::{self, SHARED};
use crate::sync::{AtomicU64, Ordering};

/// Counters sharing one [`CellBlock`]: each thread's row holds one cell per counter.
pub(crate) const LANES: usize = 16;

/// One thread's cells for the [`LANES`] counters of a block: 128 bytes, cache-padded, so no
/// two threads' rows share a cache line (nor an adjacent-line prefetch pair).
type Row = CachePadded<[AtomicU64; LANES]>;

fn row() -> Row {
    CachePadded::new(std::array::from_fn(|_| AtomicU64::new(0)))
}

/// Storage for up to [`LANES`] counters: one row per thread slot plus a shared overflow row.
///
/// A counter's value is the wrapping sum of its lane over every row.
pub(crate) struct CellBlock {
    /// Row `t` belongs to the thread holding slot `t` (see `thread_slot`). Invariant: only that
    /// thread writes row `t`, so it may add with a plain load + store; everyone may load.
    private: Box<[Row]>,
    /// Written by threads whose slot is not below `private.len()`, with atomic `fetch_add`.
    overflow: Row,
}

impl CellBlock {
    /// A block with private rows for slots `0..threads`.
    pub(crate) fn new(threads: usize) -> Arc<Self> {
        Arc::new(Self {
            private: (0..threads).map(|_| row()).collect(),
            overflow: row(),
        })
    }
}

/// A monotonically increasing `u64` counter: a cheap handle into a [`Registry`] (or
/// standalone, from [`Counter::new`]).
///
/// Each recording thread adds into its own cache-padded cell with a plain load and store (no
/// read-modify-write, no lock, no allocation); [`Counter::get`] sums the cells. Values wrap at
/// `u64::MAX`.
///
/// [`Registry`]: super::Registry
#[derive(Clone)]
pub struct Counter {
    block: Arc<CellBlock>,
    /// Invariant: `lane < LANES`.
    lane: usize,
}

impl Counter {
    /// A counter outside any registry, with private cells for `threads` thread slots (the
    /// other threads share one overflow cell, see [`Registry`](super::Registry)).
    pub fn new(threads: usize) -> Self {
        Self::in_block(CellBlock::new(threads), 0)
    }

    pub(crate) fn in_block(block: Arc<CellBlock>, lane: usize) -> Self {
        debug_assert!(lane < LANES);
        Self { block, lane }
    }

    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    /// Adds `n` (wrapping at `u64::MAX`). Never allocates, locks or blocks.
    #[inline]
    pub fn add(&self, n: u64) {
        self.add_in(thread_slot::current(), n);
    }

    /// [`add`](Self::add) for a caller that already read `thread_slot::current()`.
    #[inline(always)]
    pub(crate) fn add_in(&self, slot: usize, n: u64) {
        match self.block.private.get(slot) {
            Some(row) => {
                let cell = &row[self.lane % LANES];
                // A load + store instead of `fetch_add`: only the thread holding `slot` writes
                // this cell (invariant on `CellBlock::private`), so no store can come between
                // our load and our store. The load sees our own last store (program order), or
                // the previous owner's last store, published by the slot's Release/Acquire
                // hand-over (see `thread_slot::BITMAP`). Readers only load, and atomics keep
                // those loads race-free; Relaxed suffices since a counter orders nothing.
                cell.store(
                    cell.load(Ordering::Relaxed).wrapping_add(n),
                    Ordering::Relaxed,
                );
            }
            None => self.add_shared(slot, n),
        }
    }

    /// First record on this thread, or a thread without a private cell.
    #[cold]
    #[inline(never)]
    fn add_shared(&self, mut slot: usize, n: u64) {
        if slot != SHARED {
            slot = thread_slot::claim();
            if slot < self.block.private.len() {
                return self.add(n);
            }
        }
        self.block.overflow[self.lane % LANES].fetch_add(n, Ordering::Relaxed);
    }

    /// The current total: the wrapping sum of every thread's cell.
    ///
    /// Concurrent adds may or may not be included; successive calls from one thread never go
    /// down (each cell is read coherently and only grows), unless the total wraps.
    pub fn get(&self) -> u64 {
        let lane = self.lane % LANES;
        self.block
            .private
            .iter()
            .map(|r| r[lane].load(Ordering::Relaxed))
            .fold(
                self.block.overflow[lane].load(Ordering::Relaxed),
                u64::wrapping_add,
            )
    }
}

impl std::fmt::Debug for Counter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counter")
            .field("value", &self.get())
            .finish()
    }
}

/// An `f64` that goes up and down: a cheap handle into a [`Registry`](super::Registry) (or
/// standalone, from [`Gauge::new`]).
///
/// Unlike counters, a gauge is **one** cache-padded atomic cell holding the `f64`'s bits, not
/// per-thread cells: [`Gauge::set`] must replace the value every thread has added, which
/// per-thread deltas cannot do without a lock. So:
/// - [`set`](Gauge::set) is one atomic store; [`get`](Gauge::get) one load;
/// - [`add`](Gauge::add) / [`sub`](Gauge::sub) are a compare-exchange loop (lock-free; each
///   add is applied exactly once, and adds and sets are linearizable: the value is always
///   the result of some order of the calls);
/// - NaN and infinities are data: `set(f64::NAN)` stores NaN, adding to NaN stays NaN until
///   the next `set`, and the Prometheus text renders them as `NaN`, `+Inf`, `-Inf`.
///
/// For an up/down count bumped at high rate from many threads, two [`Counter`]s (ups and
/// downs) scale better than one gauge.
#[derive(Clone)]
pub struct Gauge {
    bits: Arc<CachePadded<AtomicU64>>,
}

impl Gauge {
    /// A gauge outside any registry, at 0.0.
    pub fn new() -> Self {
        Self {
            bits: Arc::new(CachePadded::new(AtomicU64::new(0.0f64.to_bits()))),
        }
    }

    /// Replaces the value.
    #[inline]
    pub fn set(&self, value: f64) {
        self.bits.store(value.to_bits(), Ordering::Relaxed);
    }

    /// Adds `delta` (IEEE 754 addition, so NaN and infinities propagate).
    #[inline]
    pub fn add(&self, delta: f64) {
        let mut cur = self.bits.load(Ordering::Relaxed);
        loop {
            let next = (f64::from_bits(cur) + delta).to_bits();
            match self
                .bits
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(seen) => cur = seen,
            }
        }
    }

    /// Subtracts `delta`.
    #[inline]
    pub fn sub(&self, delta: f64) {
        self.add(-delta);
    }

    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.add(1.0);
    }

    /// Subtracts one.
    #[inline]
    pub fn dec(&self) {
        self.add(-1.0);
    }

    /// The current value.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.bits.load(Ordering::Relaxed))
    }
}

impl Default for Gauge {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Gauge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gauge").field("value", &self.get()).finish()
    }
}

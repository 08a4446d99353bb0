//! Settings of a run ([`PipelineConfig`], with the bounds [`PipelineConfig::validate`]
//! enforces) and the caller's [`Hooks`].

use std::time::Duration;

use zerotick_sync::metrics::Registry;
use zerotick_sync::wait::WaitStrategy;

use crate::PipelineError;
use crate::compute::{ComputeConfig, PCA_ROWS};
use crate::features::{FeatureConfig, WIDTH};
use crate::rows::{Emit, SpecSettings};

/// Upper bounds of the size settings, so that a typo cannot ask for terabytes: each is far
/// above any useful value on the machines this runs on.
pub mod limits {
    /// Most rows per batch.
    pub const BATCH_ROWS: usize = 1024;
    /// Most batches in the pool.
    pub const POOL_BATCHES: usize = 4096;
    /// Most ticks the feed ring holds.
    pub const RING_CAPACITY: usize = 1 << 20;
    /// Most compute shards (each holds a 1,024 x 1,024 PCA matrix: 8 MiB).
    pub const SHARDS: usize = 64;
    /// Most compute worker threads.
    pub const WORKERS: usize = 64;
    /// Most symbols (the symbol table's bound; feature state is ~16 KiB a symbol).
    pub const SYMBOLS: usize = zerotick_core::symbols::MAX_SYMBOLS;
    /// Most levels per side of an order book.
    pub const BOOK_DEPTH: usize = zerotick_core::book::MAX_DEPTH;
    /// Most memory a configuration may preallocate, bytes (before the first tick); also the
    /// bound on that plus every symbol's state ([`super::PipelineConfig::symbol_capacity`]).
    pub const PREALLOCATED_BYTES: u64 = 8 << 30;
}

/// Settings of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineConfig {
    /// Feature stage settings (the built-in row).
    pub features: FeatureConfig,
    /// A feature spec whose rows replace the built-in row (`None`: the built-in
    /// [`FeatureStage`](crate::features::FeatureStage)); set it with
    /// [`with_spec`](Self::with_spec), which also applies its compute steps.
    pub spec: Option<SpecSettings>,
    /// What goes to the sink.
    pub emit: Emit,
    /// Compute stage settings.
    pub compute: ComputeConfig,
    /// Rows per batch (1 ..= [`limits::BATCH_ROWS`]); by default [`default_batch_rows`].
    pub batch_rows: usize,
    /// Batches in the pool (compute shards ..= [`limits::POOL_BATCHES`]).
    pub pool_batches: usize,
    /// Capacity of the tick ring (1 ..= [`limits::RING_CAPACITY`]).
    pub ring_capacity: usize,
    /// Events (trades and book events) processed before steady state is declared
    /// (allocations are counted after it).
    pub warmup_ticks: u64,
    /// Stop reading the feed after this much wall time. The run ends within about 100 ms of
    /// it whatever the feed does (a feed blocked in a read is left behind).
    pub duration: Option<Duration>,
    /// How the threads wait on the rings.
    pub wait: WaitStrategy,
    /// How the feature thread waits for ticks from a [live](zerotick_core::Feed::live) feed
    /// (a stream or a paced replay), instead of [`PipelineConfig::wait`]: by default
    /// [`LIVE_WAIT`], a busy-poll of about a millisecond before parking. A parked thread's
    /// wake-up (a futex wake, then an idle vCPU's exit) costs tens to hundreds of
    /// microseconds, and a yield hands the core to whatever else is runnable for a whole
    /// time slice; either would be the tail of tick-to-signal latency.
    pub live_wait: WaitStrategy,
    /// Symbols to preallocate feature state for (0 ..= [`limits::SYMBOLS`]).
    pub symbols_hint: usize,
    /// Levels per side of each symbol's order book (1 ..= [`limits::BOOK_DEPTH`]; default
    /// [`DEFAULT_DEPTH`](zerotick_core::book::DEFAULT_DEPTH), 1,000): 96 bytes per level of
    /// depth (both sides, each in a slab of twice the depth, with a key beside each level),
    /// so about 96 KiB a symbol at the default, allocated on the symbol's first book event
    /// (none for a trade-only feed). See [`crate::books`].
    pub book_depth: usize,
    /// Ticks with a symbol index at or above this are rejected at the pipeline's entry
    /// (`too_many_symbols`); at most [`limits::SYMBOLS`]. A run takes fewer where that many
    /// symbols' state would not fit in memory: [`PipelineConfig::symbol_capacity`].
    pub max_symbols: usize,
    /// Compute threads (0 ..= [`limits::WORKERS`], at most the shard count). 0: the compute
    /// stage runs on the feature thread. `None`: chosen by [`PipelineConfig::default_workers`].
    pub workers: Option<usize>,
    /// Run PCA refreshes on a thread of their own (the default), so a refresh never stalls
    /// the hot path; `false` computes them inline (same signals, longer stalls).
    pub pca_thread: bool,
    /// Pin the threads when compute runs inline and 2 or more CPUs are allowed: the feature
    /// thread alone on one CPU, the feed and PCA threads on another. `None` (the default):
    /// pin behind a [live](zerotick_core::Feed::live) feed, not behind a replay, nor behind
    /// a feed that [wants acknowledgements](zerotick_core::Feed::wants_acknowledgements) (a
    /// consumer-group member, which shares its host with other members: pinned alike, their
    /// busy-polling threads would share one CPU). Behind a
    /// live feed the feature thread busy-polls and nothing else may take its CPU: pinned,
    /// paced runs on the 2-vCPU EPYC gave a tick-to-signal p99 of 0.12-0.28 ms against
    /// 0.19-1.9 ms unpinned (2026-11-30, docs/pipeline.md). Behind a replay every thread is
    /// busy and pinning cost 5-15% throughput.
    pub pin_threads: Option<bool>,
    /// Take a checkpoint of the pipeline's state every this many ticks, when the feed
    /// stores them ([`Feed::checkpoints`](zerotick_core::Feed::checkpoints)); 0 (the
    /// default): never. See [`crate::checkpoint`]. Built-in rows only (not with a spec).
    pub checkpoint_every: u64,
}

/// Rows per batch by default: [`LARGE_BATCH_ROWS`] where the core's L2 cache holds two batches
/// of that size ([`l2_cache_bytes`] of 1 MiB or more), else [`SMALL_BATCH_ROWS`]. A larger
/// batch spreads each job's fixed costs (hand-off, statistics fold, projection set-up) over
/// more rows, as long as the batch stays in L2 while the compute stage makes its passes over
/// it. Measured (`scripts/interleave.py`, paired rounds, same checksum): on the 2-vCPU Intel
/// Xeon (2 MiB L2, 2026-12-02) 64 rows ran 1.16x the default's ticks/s on the AVX-512 tier
/// (12 rounds) and 48, 96 and 128 rows 1.11-1.12x; on the 2-vCPU AMD EPYC (Zen 3, 512 KiB
/// L2) 128 rows were level with 32 (0.998, 2026-12-01), and 64 rows (512 KiB) would fill its
/// L2, so it keeps 32. Where the L2 cannot be read: 32.
pub fn default_batch_rows() -> usize {
    match l2_cache_bytes() {
        Some(bytes) if bytes >= 2 * LARGE_BATCH_ROWS * WIDTH * 8 => LARGE_BATCH_ROWS,
        _ => SMALL_BATCH_ROWS,
    }
}

/// The larger default batch ([`default_batch_rows`]).
pub const LARGE_BATCH_ROWS: usize = 64;
/// The smaller default batch ([`default_batch_rows`]).
pub const SMALL_BATCH_ROWS: usize = 32;

/// Why a run has `rows` rows per batch, for the report.
pub fn batch_rows_reason(rows: usize) -> String {
    if rows != default_batch_rows() {
        return "set by the caller (--batch-rows)".to_owned();
    }
    match l2_cache_bytes() {
        Some(b) if rows == LARGE_BATCH_ROWS => format!(
            "this CPU's default: its L2 cache ({} KiB) holds two {LARGE_BATCH_ROWS}-row batches",
            b >> 10
        ),
        Some(b) => format!(
            "this CPU's default: its L2 cache ({} KiB) holds fewer than two \
             {LARGE_BATCH_ROWS}-row batches",
            b >> 10
        ),
        None => "the default where the L2 cache's size cannot be read".to_owned(),
    }
}

/// Size of CPU 0's level-2 data (or unified) cache, from Linux's sysfs; `None` elsewhere or
/// if it cannot be read. Read once per process (the first call reads files and allocates:
/// make it outside hot paths); later calls return the same value.
pub fn l2_cache_bytes() -> Option<usize> {
    static L2: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    *L2.get_or_init(read_l2_cache_bytes)
}

fn read_l2_cache_bytes() -> Option<usize> {
    let base = std::path::Path::new("/sys/devices/system/cpu/cpu0/cache");
    for i in 0..8 {
        let dir = base.join(format!("index{i}"));
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).ok();
        let Some(level) = read("level") else {
            break;
        };
        let kind = read("type").unwrap_or_default();
        if level.trim() != "2" || kind.trim() == "Instruction" {
            continue;
        }
        let size = read("size")?;
        let size = size.trim();
        let (digits, unit) = size.split_at(
            size.find(|c: char| !c.is_ascii_digit())
                .unwrap_or(size.len()),
        );
        let n: usize = digits.parse().ok()?;
        return match unit {
            "" => Some(n),
            "K" => n.checked_mul(1 << 10),
            "M" => n.checked_mul(1 << 20),
            _ => None,
        };
    }
    None
}

/// Batches in the pool by default: a job at each of two workers, one queued behind each (the
/// feature thread queues a job behind a busy worker) and the batches the four shards fill
/// meanwhile. 8 left the feature thread waiting for a free batch once jobs queue; 16 was
/// 7.6% faster on the 2-vCPU EPYC (Zen 3), 32 no faster than 16 (docs/pipeline.md).
pub const DEFAULT_POOL_BATCHES: usize = 16;

/// The feature thread's default wait on a live feed: about 1 ms of spinning (32,768 spin-loop
/// hints at ~30 ns), no yields, then park. Measured on the 2-vCPU EPYC (2026-11-30,
/// `zerotick run --paced --rate 300000`): the default strategy's yields and early parks
/// gave a p99 in milliseconds; this one keeps it in tens of microseconds
/// (docs/pipeline.md, "Latency").
pub const LIVE_WAIT: WaitStrategy = WaitStrategy::SpinYieldPark {
    spins: 32_768,
    yields: 0,
    park_timeout: Duration::from_millis(1),
};

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            features: FeatureConfig::default(),
            spec: None,
            emit: Emit::Signals,
            compute: ComputeConfig::default(),
            batch_rows: default_batch_rows(),
            pool_batches: DEFAULT_POOL_BATCHES,
            ring_capacity: 16_384,
            warmup_ticks: 100_000,
            duration: None,
            wait: WaitStrategy::default(),
            live_wait: LIVE_WAIT,
            symbols_hint: 64,
            book_depth: zerotick_core::book::DEFAULT_DEPTH,
            max_symbols: limits::SYMBOLS,
            workers: None,
            pca_thread: true,
            pin_threads: None,
            checkpoint_every: 0,
        }
    }
}

impl PipelineConfig {
    /// Uses `spec`'s rows instead of the built-in row, with its compute steps
    /// ([`ComputeConfig::steps`](crate::compute::ComputeConfig::steps)) and, for
    /// `projection = "fixed"`, no PCA refresh (`pca_every = 0`).
    #[must_use]
    pub fn with_spec(mut self, spec: SpecSettings) -> Self {
        self.compute.steps = spec.steps;
        if !spec.pca {
            self.compute.pca_every = 0;
        }
        self.spec = Some(spec);
        self
    }

    /// The default thread layout: one compute worker per available core (at most the shard
    /// count), sharing the compute with the feature thread; a feed thread beside them and the
    /// PCA refreshes on a mostly idle thread of their own.
    ///
    /// Why: a worker takes a row only while it is idle or about to be (work sharing, one job
    /// may wait behind a busy worker, see [`run`](crate::run)), and parks when there is
    /// none, so a worker costs nothing when its core is busy and takes what the core has
    /// room for when it is not: the split follows the machine
    /// instead of being tuned on one. On the 2-core EPYC (2026-11-30, medians of 10-20 runs
    /// of `zerotick run`): 0 workers 5.2, 1 worker 5.7, 2 workers 6.2, 4 workers 6.1 M
    /// ticks/s (docs/pipeline.md).
    ///
    /// A [live](zerotick_core::Feed::live) feed (a stream, a paced replay) computes inline:
    /// at a live feed's load the feature thread has time for the compute (a row is ~10 us,
    /// one per 64 ticks), and handing a row to a parked worker costs its wake-up, tens to
    /// hundreds of microseconds on a VM, on the row's latency. Measured on the 2-core EPYC
    /// (2026-11-30, `--paced --rate 300000` / `1000000`): tick-to-signal p50 14-19 us inline
    /// against 87-141 us with 2 workers, and a lower p99.
    pub fn default_workers(&self, live: bool) -> (usize, &'static str) {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if live {
            (
                0,
                "live feed: compute on the feature thread, which busy-polls the tick ring (a \
                 parked worker's wake-up would cost a row more than its compute)",
            )
        } else if cores < 2 {
            (0, "one core: compute on the feature thread")
        } else {
            (
                cores.min(self.compute.shards),
                "one compute worker per core, taking the feature thread's rows: one job may \
                 wait behind a busy worker, and the feature thread computes a row itself only \
                 when every worker already has one waiting",
            )
        }
    }

    /// Bytes this configuration preallocates before the first tick (batch pool, tick ring,
    /// PCA matrices and scratch, feature state for `symbols_hint` symbols: the built-in row's,
    /// or a spec's upper estimate [`spec_state_bytes`](crate::rows::spec_state_bytes)), an
    /// estimate within a few percent for the built-in row.
    pub fn preallocated_bytes(&self) -> u64 {
        let workers = self.workers.unwrap_or(0).max(1) as u64;
        // A job also keeps its rows' feature values when they are emitted (at most WIDTH).
        let copy = if self.emit.features() { WIDTH * 8 } else { 0 };
        let batch = (self.batch_rows * (WIDTH * 8 + 40 + copy)) as u64;
        let ring = (self.ring_capacity.next_power_of_two() * 64) as u64;
        let shards = self.compute.shards as u64;
        let pca = shards * (PCA_ROWS * WIDTH * 8) as u64 + workers * 24 * (1 << 20);
        let per_shard = (32 * WIDTH * 8 + 6 * 16 * WIDTH * 8) as u64;
        let features = self.symbols_hint as u64 * self.feature_state_bytes();
        batch * self.pool_batches as u64 + ring + pca + shards * per_shard + features
    }

    /// Bytes of state one symbol may come to hold: its feature state (as in
    /// [`preallocated_bytes`](Self::preallocated_bytes)) and its order book at
    /// [`book_depth`](Self::book_depth) (96 bytes per level of depth, built on the symbol's
    /// first book event).
    pub fn symbol_state_bytes(&self) -> u64 {
        self.feature_state_bytes() + 96 * self.book_depth as u64
    }

    /// One symbol's feature state: the built-in row's (~16 KiB) or a spec's upper estimate
    /// ([`spec_state_bytes`](crate::rows::spec_state_bytes)).
    fn feature_state_bytes(&self) -> u64 {
        match &self.spec {
            Some(s) => crate::rows::spec_state_bytes(&s.spec),
            None => 16 << 10,
        }
    }

    /// The symbols a run takes: [`max_symbols`](Self::max_symbols), or fewer where their
    /// state ([`symbol_state_bytes`](Self::symbol_state_bytes) each) would not fit in
    /// [`limits::PREALLOCATED_BYTES`] beside the preallocation; at least 1. Ticks of the
    /// symbols past it are rejected (`too_many_symbols`, counted) instead of the process
    /// running out of memory on a feed with more symbols than the machine can hold (65,536
    /// names at 96 KiB of book each would be 6 GiB; a spec window of 1 M values is 64 MiB a
    /// symbol). At the defaults it is `max_symbols` (65,536 x 112 KiB fit).
    ///
    /// ```
    /// use zerotick_pipeline::PipelineConfig;
    /// let mut c = PipelineConfig::default();
    /// assert_eq!(c.symbol_capacity(), c.max_symbols);
    /// c.book_depth = 65_536; // 6 MiB of book a symbol
    /// assert!(c.symbol_capacity() < 1_400);
    /// ```
    pub fn symbol_capacity(&self) -> usize {
        let room = limits::PREALLOCATED_BYTES.saturating_sub(self.preallocated_bytes());
        let fit = room / self.symbol_state_bytes().max(1);
        self.max_symbols
            .min(usize::try_from(fit).unwrap_or(usize::MAX))
            .max(1)
    }

    /// Checks every size setting against its bound ([`limits`]).
    ///
    /// # Errors
    /// [`PipelineError::Config`] naming the setting, its value and the allowed range.
    pub fn validate(&self) -> Result<(), PipelineError> {
        fn range(name: &str, v: usize, lo: usize, hi: usize) -> Result<(), PipelineError> {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(PipelineError::config(format_args!(
                    "{name} is {v}; it must be between {lo} and {hi}"
                )))
            }
        }
        let shards = self.compute.shards;
        range("compute shards", shards, 1, limits::SHARDS)?;
        range("batch rows", self.batch_rows, 1, limits::BATCH_ROWS)?;
        range(
            "pool batches",
            self.pool_batches,
            shards,
            limits::POOL_BATCHES,
        )?;
        range(
            "ring capacity",
            self.ring_capacity,
            1,
            limits::RING_CAPACITY,
        )?;
        range("symbols", self.symbols_hint, 0, limits::SYMBOLS)?;
        range("max symbols", self.max_symbols, 1, limits::SYMBOLS)?;
        range("book depth", self.book_depth, 1, limits::BOOK_DEPTH)?;
        if let Some(w) = self.workers {
            range("workers", w, 0, limits::WORKERS.min(shards))?;
        }
        self.compute
            .validate()
            .map_err(|e| PipelineError::config(format_args!("compute: {e}")))?;
        if !(1..=1 << 20).contains(&self.features.row_every) {
            return Err(PipelineError::config(format_args!(
                "row_every is {}; it must be between 1 and {}",
                self.features.row_every,
                1 << 20
            )));
        }
        if self.checkpoint_every > 0 && self.spec.is_some() {
            return Err(PipelineError::config(
                "checkpoints take the built-in feature row only, not a spec's rows",
            ));
        }
        if self.emit.signals() && !self.compute.steps.read_out {
            return Err(PipelineError::config(match &self.spec {
                Some(s) => format!(
                    "the spec turns the read-out off (line {}), so there are no signals to emit; \
                     emit features only",
                    s.readout_line
                ),
                None => "the read-out is off, so there are no signals to emit; emit features only"
                    .to_owned(),
            }));
        }
        let bytes = self.preallocated_bytes();
        if bytes > limits::PREALLOCATED_BYTES {
            return Err(PipelineError::config(format_args!(
                "this configuration needs about {} MiB before the first tick; the limit is {} MiB",
                bytes >> 20,
                limits::PREALLOCATED_BYTES >> 20
            )));
        }
        Ok(())
    }
}

/// Hooks the caller provides.
#[derive(Default)]
pub struct Hooks<'a> {
    /// Reads the *calling thread's* allocation counter (a counting global allocator, e.g.
    /// `zerotick_mem::counting::thread_total`): each pipeline thread samples it when steady
    /// state begins and when the run ends, so the compute path and the feed (the boundary,
    /// which may allocate for a network source) are reported apart.
    pub allocations: Option<fn() -> u64>,
    /// Registers the run's metrics here instead of in a private registry, so they can be
    /// scraped while the run goes on (`--metrics-addr`).
    pub registry: Option<&'a Registry>,
    /// Called from the feature thread about every 65,536 ticks with the ticks processed so
    /// far. Runs on the hot thread: keep it to an atomic store.
    pub progress: Option<&'a (dyn Fn(u64) + Sync)>,
    /// Called first thing on each of the pipeline's threads (feed, feature, compute workers,
    /// PCA), e.g. to mark them for a per-thread allocation counter.
    pub thread_start: Option<fn()>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_batch_follows_the_l2_cache_and_says_why() {
        let rows = default_batch_rows();
        match l2_cache_bytes() {
            Some(b) if b >= 2 * LARGE_BATCH_ROWS * WIDTH * 8 => assert_eq!(rows, LARGE_BATCH_ROWS),
            _ => assert_eq!(rows, SMALL_BATCH_ROWS),
        }
        assert_eq!(PipelineConfig::default().batch_rows, rows);
        assert!(batch_rows_reason(rows).contains("default"));
        assert!(batch_rows_reason(rows + 1).contains("--batch-rows"));
        // A size read is a plausible L2 (sysfs may lack it in a container: then 32 rows).
        if let Some(b) = l2_cache_bytes() {
            assert!((16 << 10..=1 << 30).contains(&b), "{b}");
        }
    }
}

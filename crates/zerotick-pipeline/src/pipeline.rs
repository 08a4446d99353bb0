//! The assembled pipeline:
//!
//! ```text
//! feed thread --spsc ring of ticks--> worker: feature stage -> pooled 32 x 1024 batch
//!                                             -> compute stage (in place) -> sink
//! ```
//!
//! * Backpressure, not loss: the feed waits when the ring is full; every row read is either a
//!   processed tick or a counted rejection (`ticks_in == ticks_processed + ticks_rejected`).
//! * A batch goes to the compute stage when it is full, when the ring runs dry, or when its
//!   oldest row has waited `max_batch_wait_ns`: latency stays bounded at low rates.
//! * Steady state allocates nothing: rings, pools, feature state and compute state are built
//!   before the first tick (feature state grows only when a new symbol appears).
//! * One worker processes ticks in feed order, so the same seed and configuration give the
//!   same signals and checksum on every run.

use core::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use zerotick_kernels::{KernelError, Kernels};
use zerotick_mem::{Batch, MissPolicy, Pool, PoolError, PoolStats, ResetPolicy};
use zerotick_sync::metrics::{HistogramConfig, HistogramSnapshot, Registry, RegistryError};
use zerotick_sync::spsc::{self, PopError};
use zerotick_sync::wait::WaitStrategy;

use crate::compute::{ComputeConfig, ComputeStage};
use crate::features::{FeatureConfig, FeatureStage, WIDTH};
use crate::feed::{Feed, FeedError, FeedEvent, RejectCounts};
use crate::sink::{Signal, Sink};
use crate::tick::Tick;

/// Settings of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineConfig {
    /// Feature stage settings.
    pub features: FeatureConfig,
    /// Compute stage settings.
    pub compute: ComputeConfig,
    /// Rows per batch.
    pub batch_rows: usize,
    /// Batches in the pool.
    pub pool_batches: usize,
    /// Capacity of the tick ring.
    pub ring_capacity: usize,
    /// Longest a row waits for its batch to fill before the batch is processed anyway.
    pub max_batch_wait_ns: u64,
    /// Ticks processed before steady state is declared (allocations are counted after it).
    pub warmup_ticks: u64,
    /// Stop reading the feed after this much wall time.
    pub duration: Option<Duration>,
    /// How the two threads wait on the ring.
    pub wait: WaitStrategy,
    /// Symbols to preallocate feature state for.
    pub symbols_hint: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            features: FeatureConfig::default(),
            compute: ComputeConfig::default(),
            batch_rows: 32,
            pool_batches: 8,
            ring_capacity: 1024,
            max_batch_wait_ns: 200_000,
            warmup_ticks: 100_000,
            duration: None,
            wait: WaitStrategy::default(),
            symbols_hint: 64,
        }
    }
}

/// Hooks the caller provides.
#[derive(Default)]
pub struct Hooks<'a> {
    /// Reads the *calling thread's* allocation counter (a counting global allocator, e.g.
    /// `zerotick_mem::counting::thread_total`): each pipeline thread samples it when steady
    /// state begins and when the run ends, so the compute path and the feed (the boundary,
    /// which may allocate for a network source) are reported apart.
    pub allocations: Option<&'a (dyn Fn() -> u64 + Sync)>,
    /// Registers the run's metrics here instead of in a private registry, so they can be
    /// scraped while the run goes on (`--metrics-addr`).
    pub registry: Option<&'a Registry>,
    /// Called from the worker about every 65,536 ticks with the ticks processed so far.
    /// Runs on the hot thread: keep it to an atomic store.
    pub progress: Option<&'a (dyn Fn(u64) + Sync)>,
    /// Called first thing on each of the pipeline's threads (the feed thread and the calling
    /// thread), e.g. to mark them for a per-thread allocation counter.
    pub thread_start: Option<&'a (dyn Fn() + Sync)>,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// Rows read from the feed (ticks plus rejections).
    pub ticks_in: u64,
    /// Ticks through the feature stage.
    pub ticks_processed: u64,
    /// Rows rejected by the feed.
    pub ticks_rejected: u64,
    /// Rejections by reason.
    pub rejects: RejectCounts,
    /// Feature rows computed (= signals emitted).
    pub vectors: u64,
    /// Batches processed.
    pub batches: u64,
    /// Wall time from the first read to the last signal.
    pub seconds: f64,
    /// Tick-to-signal latency in ns: from the moment the feed thread read the tick that
    /// completed a row to the moment that row's signal was handed to the sink.
    pub latency: HistogramSnapshot,
    /// Allocations of the compute path (the worker) between the end of warm-up and the end
    /// of the run (`None` without a counter, or when the run ended before warm-up did).
    pub steady_state_allocations: Option<u64>,
    /// Allocations of the feed thread (the boundary: parsing, network) over the same window.
    pub feed_allocations: Option<u64>,
    /// The batch pool's counters.
    pub pool: PoolStats,
    /// FNV-1a digest of every signal (symbol, ts, value bits) in order.
    pub checksum: u64,
    /// Prometheus text of the run's metrics.
    pub prometheus: String,
}

/// What stops a run.
#[derive(Debug)]
pub enum PipelineError {
    /// The feed failed (I/O, or a bad row in strict mode).
    Feed(FeedError),
    /// The sink failed.
    Sink(std::io::Error),
    /// A kernel refused its input (a bug: shapes are fixed).
    Kernel(KernelError),
    /// The pool could not be built.
    Pool(PoolError),
    /// Metrics registration failed.
    Metrics(RegistryError),
    /// A bad configuration value.
    Config(&'static str),
}

impl fmt::Display for PipelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PipelineError::Feed(e) => write!(f, "feed: {e}"),
            PipelineError::Sink(e) => write!(f, "sink: {e}"),
            PipelineError::Kernel(e) => write!(f, "compute: {e}"),
            PipelineError::Pool(e) => write!(f, "pool: {e}"),
            PipelineError::Metrics(e) => write!(f, "metrics: {e}"),
            PipelineError::Config(what) => write!(f, "configuration: {what}"),
        }
    }
}

impl std::error::Error for PipelineError {}

/// A tick stamped with the monotonic time the feed thread read it.
#[derive(Debug, Clone, Copy)]
struct Timed {
    tick: Tick,
    read_ns: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct RowMeta {
    ts_ns: u64,
    symbol: u32,
    read_ns: u64,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h = (h ^ u64::from(*b)).wrapping_mul(FNV_PRIME);
    }
    h
}

/// Runs the pipeline until the feed ends (or `config.duration` passes), sending signals to
/// `sink`.
///
/// # Errors
/// [`PipelineError`] for what stopped the run; ticks already processed are lost with it only
/// in the sense that no report is returned.
pub fn run<F: Feed>(
    mut feed: F,
    sink: &mut dyn Sink,
    config: &PipelineConfig,
    hooks: &Hooks<'_>,
) -> Result<RunReport, PipelineError> {
    if config.batch_rows == 0 || config.pool_batches == 0 {
        return Err(PipelineError::Config(
            "batch_rows and pool_batches must be at least 1",
        ));
    }
    let own_registry;
    let registry = match hooks.registry {
        Some(r) => r,
        None => {
            own_registry = Registry::new();
            &own_registry
        }
    };
    let m_ticks = registry
        .counter(
            "zerotick_ticks_processed_total",
            "Ticks through the feature stage",
            &[],
        )
        .map_err(PipelineError::Metrics)?;
    let m_rows = registry
        .counter("zerotick_vectors_total", "Feature rows computed", &[])
        .map_err(PipelineError::Metrics)?;
    let m_latency = registry
        .histogram(
            "zerotick_tick_to_signal_seconds",
            "From reading a tick to emitting the signal of the row it completed",
            &[],
            HistogramConfig::latency_ns(),
        )
        .map_err(PipelineError::Metrics)?;

    let rows = config.batch_rows;
    let pool = Pool::try_new(
        config.pool_batches,
        MissPolicy::FailFast,
        ResetPolicy::Clear,
        move || Batch::try_zeroed(rows, WIDTH),
    )
    .map_err(PipelineError::Pool)?;
    let mut features = FeatureStage::new(config.features, config.symbols_hint);
    let mut compute = ComputeStage::new(config.compute, Kernels::active());
    let mut metas = vec![RowMeta::default(); rows];
    let mut signals = vec![0.0; rows];
    let (mut tx, mut rx) = spsc::channel::<Timed>(config.ring_capacity)
        .map_err(|_| PipelineError::Config("ring capacity must be at least 1"))?;

    let start = Instant::now();
    let now_ns = move || start.elapsed().as_nanos() as u64;
    let deadline = config.duration.map(|d| start + d);
    let wait = config.wait;

    let acks = feed.wants_acknowledgements();
    // Ticks whose signals are all emitted (and the sink flushed when `acks`): the worker
    // publishes, the feed thread acknowledges up to it.
    let done = AtomicU64::new(0);
    let steady = AtomicBool::new(false);

    let (feed_result, worker) = std::thread::scope(|scope| {
        let thread_start = hooks.thread_start;
        let allocations = hooks.allocations;
        let (done, steady) = (&done, &steady);
        let feeder = scope.spawn(move || -> Result<FeedSummary<F>, FeedError> {
            if let Some(f) = thread_start {
                f();
            }
            let mut rejects = RejectCounts::default();
            let mut ticks = 0u64;
            let mut acked = 0u64;
            let mut warm_allocs = None;
            let mut events = 0u64;
            let result = loop {
                events += 1;
                if events.is_multiple_of(4096) {
                    if deadline.is_some_and(|d| Instant::now() >= d) {
                        break Ok(());
                    }
                    if warm_allocs.is_none() && steady.load(Ordering::Relaxed) {
                        warm_allocs = allocations.map(|f| f());
                    }
                }
                if acks {
                    let upto = done.load(Ordering::Acquire);
                    if upto > acked {
                        if let Err(e) = feed.acknowledge(upto) {
                            break Err(e);
                        }
                        acked = upto;
                    }
                }
                match feed.next_event() {
                    Ok(FeedEvent::Tick(tick)) => {
                        ticks += 1;
                        if tx
                            .push_wait(
                                Timed {
                                    tick,
                                    read_ns: now_ns(),
                                },
                                wait,
                            )
                            .is_err()
                        {
                            break Ok(()); // the worker is gone; it reports why
                        }
                    }
                    Ok(FeedEvent::Rejected(reason)) => rejects.add(reason),
                    Ok(FeedEvent::Idle) => {
                        events = events.next_multiple_of(4096) - 1; // check the deadline next
                    }
                    Ok(FeedEvent::End) => break Ok(()),
                    Err(e) => break Err(e),
                }
            };
            tx.close();
            let feed_allocs = warm_allocs
                .zip(allocations.map(|f| f()))
                .map(|(a, b)| b - a);
            result.map(|()| FeedSummary {
                feed,
                ticks,
                rejects,
                allocations: feed_allocs,
            })
        });

        if let Some(f) = hooks.thread_start {
            f();
        }
        let mut w = Worker {
            features: &mut features,
            compute: &mut compute,
            pool: &pool,
            batch: None,
            metas: &mut metas,
            signals: &mut signals,
            sink,
            checksum: FNV_OFFSET,
            processed: 0,
            vectors: 0,
            batches: 0,
            oldest_row_ns: 0,
            max_wait_ns: config.max_batch_wait_ns,
            now_ns: &now_ns,
            latency: &m_latency,
            flush_sink: acks,
            done,
        };
        let mut warm_allocs = None;
        let result = loop {
            let timed = match rx.pop() {
                Ok(t) => t,
                Err(PopError::Empty) => {
                    // Dry ring: do not let a partial batch wait for more ticks.
                    if let Err(e) = w.flush() {
                        break Err(e);
                    }
                    match rx.pop_wait(wait) {
                        Ok(t) => t,
                        Err(_) => break Ok(()),
                    }
                }
                Err(PopError::Closed) => break Ok(()),
            };
            if let Err(e) = w.on_tick(&timed) {
                break Err(e);
            }
            m_ticks.inc();
            if w.processed == config.warmup_ticks {
                warm_allocs = hooks.allocations.map(|f| f());
                steady.store(true, Ordering::Relaxed);
            }
            if w.processed.is_multiple_of(65_536)
                && let Some(p) = hooks.progress
            {
                p(w.processed);
            }
        };
        let result = result.and_then(|()| w.flush());
        let end_allocs = hooks.allocations.map(|f| f());
        rx.close(); // unblocks the feeder if the worker stopped early
        m_rows.add(w.vectors);
        let summary = (w.processed, w.vectors, w.batches, w.checksum, now_ns());
        let steady = warm_allocs.zip(end_allocs).map(|(a, b)| b - a);
        (feeder.join(), result.map(|()| (summary, steady)))
    });

    let ((processed, vectors, batches, checksum, end_ns), steady) = worker?;
    let FeedSummary {
        mut feed,
        ticks,
        rejects,
        allocations: feed_allocations,
    } = match feed_result {
        Ok(r) => r.map_err(PipelineError::Feed)?,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    sink.flush().map_err(PipelineError::Sink)?;
    debug_assert_eq!(ticks, processed);
    if acks {
        feed.acknowledge(processed).map_err(PipelineError::Feed)?;
    }
    Ok(RunReport {
        ticks_in: ticks + rejects.total(),
        ticks_processed: processed,
        ticks_rejected: rejects.total(),
        rejects,
        vectors,
        batches,
        seconds: end_ns as f64 / 1e9,
        latency: m_latency.snapshot(),
        steady_state_allocations: steady,
        feed_allocations,
        pool: pool.stats(),
        checksum,
        prometheus: registry.render_prometheus(),
    })
}

/// What the feed thread hands back.
struct FeedSummary<F> {
    feed: F,
    ticks: u64,
    rejects: RejectCounts,
    allocations: Option<u64>,
}

struct Worker<'a> {
    features: &'a mut FeatureStage,
    compute: &'a mut ComputeStage,
    pool: &'a Pool<Batch>,
    batch: Option<zerotick_mem::PoolGuard<'a, Batch>>,
    metas: &'a mut [RowMeta],
    signals: &'a mut [f64],
    sink: &'a mut dyn Sink,
    checksum: u64,
    processed: u64,
    vectors: u64,
    batches: u64,
    oldest_row_ns: u64,
    max_wait_ns: u64,
    now_ns: &'a dyn Fn() -> u64,
    latency: &'a zerotick_sync::metrics::Histogram,
    /// Flush the sink after every batch (the feed acknowledges what was emitted).
    flush_sink: bool,
    /// Ticks whose signals are emitted, for the feed's acknowledgements.
    done: &'a AtomicU64,
}

impl Worker<'_> {
    #[inline]
    fn on_tick(&mut self, t: &Timed) -> Result<(), PipelineError> {
        self.processed += 1;
        if !self.features.update(&t.tick) {
            // Age check every 1,024 ticks keeps the clock off the hot path.
            if self.processed.is_multiple_of(1024)
                && self.batch.as_ref().is_some_and(|b| !b.is_empty())
                && (self.now_ns)() - self.oldest_row_ns > self.max_wait_ns
            {
                self.flush()?;
            }
            return Ok(());
        }
        if self.batch.is_none() {
            self.batch = Some(self.pool.acquire().map_err(PipelineError::Pool)?);
        }
        let Some(batch) = self.batch.as_mut() else {
            unreachable!("just filled")
        };
        let i = batch.len_rows();
        let Some(row) = batch.push_row_mut() else {
            unreachable!("full batches are flushed")
        };
        self.features.write_row(t.tick.symbol, row);
        self.metas[i] = RowMeta {
            ts_ns: t.tick.ts_ns,
            symbol: t.tick.symbol,
            read_ns: t.read_ns,
        };
        if i == 0 {
            self.oldest_row_ns = t.read_ns;
        }
        if batch.is_full() {
            self.flush()?;
        }
        Ok(())
    }

    /// Processes the current batch, if any, and hands its signals to the sink.
    fn flush(&mut self) -> Result<(), PipelineError> {
        let Some(mut batch) = self.batch.take() else {
            return Ok(());
        };
        let rows = batch.len_rows();
        if rows == 0 {
            return Ok(());
        }
        self.compute
            .process(&mut batch, self.signals)
            .map_err(PipelineError::Kernel)?;
        drop(batch); // back to the pool before the (possibly slow) sink
        let now = (self.now_ns)();
        for (meta, value) in self.metas[..rows].iter().zip(&self.signals[..rows]) {
            let signal = Signal {
                ts_ns: meta.ts_ns,
                symbol: meta.symbol,
                value: *value,
            };
            self.sink.emit(&signal).map_err(PipelineError::Sink)?;
            let mut h = fnv(self.checksum, &signal.symbol.to_le_bytes());
            h = fnv(h, &signal.ts_ns.to_le_bytes());
            self.checksum = fnv(h, &signal.value.to_bits().to_le_bytes());
            self.latency.record(now.saturating_sub(meta.read_ns).max(1));
        }
        self.vectors += rows as u64;
        self.batches += 1;
        if self.flush_sink {
            self.sink.flush().map_err(PipelineError::Sink)?;
        }
        // Every row made so far was in this batch: all ticks processed so far are done.
        self.done.store(self.processed, Ordering::Release);
        Ok(())
    }
}

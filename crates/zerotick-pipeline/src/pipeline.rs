//! The assembled pipeline:
//!
//! ```text
//! feed thread --spsc ring of ticks--> feature thread: feature stage -> pooled 32 x 1024
//!     batches, one per compute shard -> compute stage (in place; inline, or on `workers`
//!     compute threads over spsc rings, shard `h` on worker `h % workers`) -> sink
//! ```
//!
//! * Backpressure, not loss: the feed waits when the ring is full; every row read is either a
//!   processed tick or a counted rejection (`ticks_in == ticks_processed + ticks_rejected`).
//! * A batch goes to the compute stage when it is full, when the ring runs dry, or when its
//!   oldest row has waited `max_batch_wait_ns`: latency stays bounded at low rates.
//! * Steady state allocates nothing: rings, pools, feature state and compute state are built
//!   before the first tick (feature state grows only when a new symbol appears).
//! * Signals depend only on the rows of their compute shard before them (see
//!   [`compute`](crate::compute)), and batches of a shard are computed and emitted in order,
//!   so per-symbol order holds and the checksum (a digest of every symbol's signal sequence)
//!   is the same for the same seed and configuration, whatever the timing or worker count.

use core::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use zerotick_kernels::Kernels;
use zerotick_mem::{
    Batch, MissPolicy, Pool, PoolError, PoolGuard, PoolStats, ResetPolicy, Reusable,
};
use zerotick_sync::metrics::{
    Counter, Gauge, Histogram, HistogramConfig, HistogramSnapshot, Registry, RegistryError,
};
use zerotick_sync::spsc::{self, Consumer, PopError, Producer};
use zerotick_sync::wait::WaitStrategy;

use crate::compute::{ComputeConfig, ComputeError, ComputeStage, ComputeStats};
use crate::features::{FeatureConfig, FeatureStage, WIDTH};
use zerotick_core::{
    Feed, FeedError, FeedEvent, RejectCounts, RejectReason, Signal, SignalDigest, Sink, Tick,
};

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
    /// Compute threads. 0: the compute stage runs on the feature thread (the default: on two
    /// cores a third busy thread only competes with the other two).
    pub workers: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            features: FeatureConfig::default(),
            compute: ComputeConfig::default(),
            batch_rows: 32,
            pool_batches: 8,
            ring_capacity: 128,
            max_batch_wait_ns: 20_000,
            warmup_ticks: 100_000,
            duration: None,
            wait: WaitStrategy::default(),
            symbols_hint: 64,
            workers: 0,
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
    /// The run checksum ([`SignalDigest`]): per-symbol signal sequences, whatever the interleaving.
    pub checksum: u64,
    /// Prometheus text of the run's metrics.
    pub prometheus: String,
    /// Where a row's time goes, per stage.
    pub stages: StageLatency,
    /// What the compute stage did (projection paths, PCA refreshes, filter methods).
    pub compute: ComputeStats,
    /// The pool of PCA matrices.
    pub matrix_pool: PoolStats,
}

/// Per-stage latency of the rows (ns), the parts of the tick-to-signal latency.
#[derive(Debug, Clone)]
pub struct StageLatency {
    /// From the feed reading the row's last tick to the feature thread taking it off the
    /// ring (queueing behind other ticks).
    pub queue: HistogramSnapshot,
    /// From the row being written to its batch starting compute (batching).
    pub batch_wait: HistogramSnapshot,
    /// Compute time of a batch (one record per batch).
    pub compute: HistogramSnapshot,
    /// From a batch's compute ending to its signals being emitted (result ring, sink).
    pub emit: HistogramSnapshot,
}

/// What stops a run.
#[derive(Debug)]
pub enum PipelineError {
    /// The feed failed (I/O, or a bad row in strict mode).
    Feed(FeedError),
    /// The sink failed.
    Sink(std::io::Error),
    /// The compute stage failed (a bug or a bad configuration: shapes are fixed).
    Compute(ComputeError),
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
            PipelineError::Compute(e) => write!(f, "compute: {e}"),
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
    made_ns: u64,
}

/// A pooled unit of work: one shard's batch of rows, their metadata and their signals. It
/// travels feature thread -> compute -> feature thread (which emits) and back to the pool.
struct Job {
    batch: Batch,
    metas: Box<[RowMeta]>,
    signals: Box<[f64]>,
    shard: usize,
    /// Number (1-based) of the tick that made the first row.
    first_seq: u64,
    compute_start_ns: u64,
    compute_end_ns: u64,
    failed: Option<ComputeError>,
}

impl Job {
    fn new(rows: usize) -> Result<Self, PoolError> {
        Ok(Self {
            batch: Batch::try_zeroed(rows, WIDTH)?,
            metas: vec![RowMeta::default(); rows].into_boxed_slice(),
            signals: vec![0.0; rows].into_boxed_slice(),
            shard: 0,
            first_seq: 0,
            compute_start_ns: 0,
            compute_end_ns: 0,
            failed: None,
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
        self.batch.heap_bytes() + self.metas.len() * size_of::<RowMeta>() + self.signals.len() * 8
    }
}

/// The run's metrics, registered once.
struct Metrics {
    ticks: Counter,
    ticks_in: Counter,
    rejects: [Counter; RejectReason::ALL.len()],
    rows: Counter,
    batches: Counter,
    latency: Histogram,
    queue: Histogram,
    batch_wait: Histogram,
    compute: Histogram,
    emit: Histogram,
    ring_occupancy: Gauge,
    pool_in_use: Gauge,
    pool_hits: Gauge,
    pool_misses: Gauge,
}

impl Metrics {
    fn register(r: &Registry) -> Result<Self, RegistryError> {
        let ns = HistogramConfig::latency_ns;
        let stage = |name| {
            r.histogram(
                "zerotick_stage_seconds",
                "Per-stage latency of a row",
                &[("stage", name)],
                ns(),
            )
        };
        Ok(Self {
            ticks: r.counter(
                "zerotick_ticks_processed_total",
                "Ticks through the feature stage",
                &[],
            )?,
            ticks_in: r.counter(
                "zerotick_ticks_in_total",
                "Rows read from the feed (ticks and rejections)",
                &[],
            )?,
            rejects: {
                let mut v = Vec::with_capacity(RejectReason::ALL.len());
                for reason in RejectReason::ALL {
                    v.push(r.counter(
                        "zerotick_ticks_rejected_total",
                        "Feed rows rejected, by reason",
                        &[("reason", reason.name())],
                    )?);
                }
                match v.try_into() {
                    Ok(a) => a,
                    Err(_) => unreachable!("one counter per reason"),
                }
            },
            rows: r.counter("zerotick_vectors_total", "Feature rows computed", &[])?,
            batches: r.counter("zerotick_batches_total", "Batches computed", &[])?,
            latency: r.histogram(
                "zerotick_tick_to_signal_seconds",
                "From reading a tick to emitting the signal of the row it completed",
                &[],
                ns(),
            )?,
            queue: stage("queue")?,
            batch_wait: stage("batch_wait")?,
            compute: stage("compute")?,
            emit: stage("emit")?,
            ring_occupancy: r.gauge(
                "zerotick_ring_occupancy",
                "Ticks waiting in the feed ring (sampled every 1,024 ticks)",
                &[],
            )?,
            pool_in_use: r.gauge("zerotick_pool_in_use", "Batches off the batch pool", &[])?,
            pool_hits: r.gauge("zerotick_pool_hits", "Batch pool acquisitions served", &[])?,
            pool_misses: r.gauge(
                "zerotick_pool_misses",
                "Batch pool acquisitions that found the pool empty (the feature thread waited)",
                &[],
            )?,
        })
    }

    fn pool(&self, s: &PoolStats) {
        self.pool_in_use.set(s.in_use as f64);
        self.pool_hits.set(s.hits as f64);
        self.pool_misses.set(s.misses as f64);
    }
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
    let shards = config.compute.shards;
    if config.batch_rows == 0 || config.pool_batches == 0 || shards == 0 {
        return Err(PipelineError::Config(
            "batch rows, pool batches and compute shards must be at least 1",
        ));
    }
    if config.pool_batches < shards {
        return Err(PipelineError::Config(
            "the batch pool needs at least one batch per compute shard",
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
    let m = Metrics::register(registry).map_err(PipelineError::Metrics)?;

    let rows = config.batch_rows;
    let pool = Pool::try_new(
        config.pool_batches,
        MissPolicy::FailFast,
        ResetPolicy::Clear,
        move || Job::new(rows),
    )
    .map_err(PipelineError::Pool)?;
    let mut features = FeatureStage::new(config.features, config.symbols_hint);
    let workers = config.workers;
    // Inline: one stage with every shard. Workers: worker `w` holds shards `h % workers == w`.
    let mut stages = Vec::with_capacity(workers.max(1));
    for w in 0..workers.max(1) {
        let owns = |h: usize| workers == 0 || h % workers == w;
        stages.push(
            ComputeStage::for_shards(config.compute, Kernels::active(), rows, owns)
                .map_err(PipelineError::Compute)?,
        );
    }
    let (mut tx, mut rx) = spsc::channel::<Timed>(config.ring_capacity)
        .map_err(|_| PipelineError::Config("ring capacity must be at least 1"))?;
    let mut job_tx = Vec::with_capacity(workers);
    let mut job_rx = Vec::with_capacity(workers);
    let mut result_tx = Vec::with_capacity(workers);
    let mut result_rx = Vec::with_capacity(workers);
    for _ in 0..workers {
        // As many slots as jobs exist: a push never finds a ring full.
        let (t, r) = spsc::channel::<PoolGuard<'_, Job>>(config.pool_batches)
            .map_err(|_| PipelineError::Config("pool batches must be at least 1"))?;
        job_tx.push(t);
        job_rx.push(r);
        let (t, r) = spsc::channel::<PoolGuard<'_, Job>>(config.pool_batches)
            .map_err(|_| PipelineError::Config("pool batches must be at least 1"))?;
        result_tx.push(t);
        result_rx.push(r);
    }

    let start = Instant::now();
    let now_ns = move || start.elapsed().as_nanos() as u64;
    let duration = config.duration;
    let wait = config.wait;
    let acks = feed.wants_acknowledgements();
    // Ticks whose signals are all emitted (and the sink flushed when `acks`): the feature
    // thread publishes, the feed thread acknowledges up to it.
    let done = AtomicU64::new(0);
    let steady = AtomicBool::new(false);
    // Compute threads warmed up; the feed starts reading (and the clock runs) once all are.
    let ready = AtomicUsize::new(0);
    let feed_start_ns = AtomicU64::new(0);
    if let Some(stage) = stages.first()
        && workers == 0
    {
        stage.warm_up_thread();
    }
    let mut symbols_hint = config.symbols_hint;
    let m = &m;

    let (feed_result, front_result, worker_results) = std::thread::scope(|scope| {
        let thread_start = hooks.thread_start;
        let allocations = hooks.allocations;
        let (done, steady, ready, feed_start_ns) = (&done, &steady, &ready, &feed_start_ns);
        let feeder = scope.spawn(move || -> Result<FeedSummary<F>, FeedError> {
            if let Some(f) = thread_start {
                f();
            }
            while ready.load(Ordering::Acquire) < workers {
                std::thread::yield_now();
            }
            feed_start_ns.store(now_ns(), Ordering::Relaxed);
            let deadline = duration.map(|d| Instant::now() + d);
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
                        m.ticks_in.inc();
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
                            break Ok(()); // the feature thread is gone; it reports why
                        }
                    }
                    Ok(FeedEvent::Rejected(reason)) => {
                        rejects.add(reason);
                        m.ticks_in.inc();
                        m.rejects[reason as usize].inc();
                    }
                    Ok(FeedEvent::Idle) => {
                        events = events.next_multiple_of(4096) - 1; // check the deadline next
                    }
                    Ok(FeedEvent::End) => break Ok(()),
                    Err(e) => break Err(e),
                }
            };
            tx.close();
            let feed_allocs = allocations_since(warm_allocs, allocations);
            result.map(|()| FeedSummary {
                feed,
                ticks,
                rejects,
                allocations: feed_allocs,
            })
        });

        // Compute workers (none by default).
        let mut handles = Vec::with_capacity(workers);
        let mut stages_iter = stages.into_iter();
        let inline = if workers == 0 {
            stages_iter.next()
        } else {
            None
        };
        for ((mut jobs, mut results), mut stage) in
            job_rx.into_iter().zip(result_tx).zip(stages_iter)
        {
            handles.push(scope.spawn(move || {
                if let Some(f) = thread_start {
                    f();
                }
                // Counted as ready even if the warm-up panics, so the feed never waits on a
                // dead worker (the front then sees its closed ring and stops the run).
                let counted = ReadyOnDrop(ready);
                stage.warm_up_thread();
                drop(counted);
                let mut warm_allocs = None;
                while let Ok(mut job) = jobs.pop_wait(wait) {
                    if warm_allocs.is_none() && steady.load(Ordering::Relaxed) {
                        warm_allocs = allocations.map(|f| f());
                    }
                    compute_job(&mut stage, &mut job, &now_ns);
                    if results.push_wait(job, wait).is_err() {
                        break;
                    }
                }
                results.close();
                let allocs = allocations_since(warm_allocs, allocations);
                (stage.stats(), stage.matrix_pool().stats(), allocs)
            }));
        }

        if let Some(f) = hooks.thread_start {
            f();
        }
        let mut inline = inline;
        let mut front = Front {
            features: &mut features,
            pool: &pool,
            pending: (0..shards).map(|_| None).collect(),
            outstanding: Vec::with_capacity(config.pool_batches),
            inline: inline.as_mut(),
            jobs: job_tx,
            results: result_rx,
            in_flight: 0,
            sink,
            digest: SignalDigest::with_symbols(symbols_hint),
            processed: 0,
            vectors: 0,
            batches: 0,
            max_wait_ns: config.max_batch_wait_ns,
            now_ns: &now_ns,
            m,
            flush_sink: acks,
            done,
        };
        symbols_hint = symbols_hint.max(1);
        let mut warm_allocs = None;
        let result = (|| -> Result<(), PipelineError> {
            while let Some(timed) = front.next_tick(&mut rx, wait)? {
                front.on_tick(&timed)?;
                m.ticks.inc();
                let n = front.processed;
                if n == config.warmup_ticks {
                    warm_allocs = hooks.allocations.map(|f| f());
                    steady.store(true, Ordering::Relaxed);
                }
                if n.is_multiple_of(64) && !front.jobs.is_empty() {
                    front.poll_results()?;
                }
                if n.is_multiple_of(1024) {
                    m.ring_occupancy.set(rx.len() as f64);
                    if n.is_multiple_of(65_536) {
                        m.pool(&front.pool.stats());
                        if let Some(p) = hooks.progress {
                            p(n);
                        }
                    }
                }
            }
            front.finish()
        })();
        let steady_allocs = allocations_since(warm_allocs, hooks.allocations);
        rx.close(); // unblocks the feeder if the feature thread stopped early
        front.close_jobs();
        m.pool(&pool.stats());
        let summary = (
            front.processed,
            front.vectors,
            front.batches,
            front.digest.finish(),
            now_ns(),
        );
        let inline_stats = inline
            .as_ref()
            .map(|s| (s.stats(), s.matrix_pool().stats()));
        let workers: Vec<_> = handles.into_iter().map(|h| h.join()).collect();
        (
            feeder.join(),
            result.map(|()| (summary, steady_allocs, inline_stats)),
            workers,
        )
    });

    let ((processed, vectors, batches, checksum, end_ns), mut steady, inline_stats) = front_result?;
    let mut compute = ComputeStats::default();
    let mut matrix_pool: Option<PoolStats> = None;
    let mut add = |c: ComputeStats, p: PoolStats| {
        compute = compute.merge(&c);
        matrix_pool = Some(matrix_pool.map_or(p, |q| q.merge(&p)));
    };
    if let Some((c, p)) = inline_stats {
        add(c, p);
    }
    for w in worker_results {
        match w {
            Ok((c, p, allocs)) => {
                add(c, p);
                steady = steady.zip(allocs).map(|(a, b)| a + b);
            }
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
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
        seconds: end_ns.saturating_sub(feed_start_ns.load(Ordering::Relaxed)) as f64 / 1e9,
        latency: m.latency.snapshot(),
        steady_state_allocations: steady,
        feed_allocations,
        pool: pool.stats(),
        checksum,
        prometheus: registry.render_prometheus(),
        stages: StageLatency {
            queue: m.queue.snapshot(),
            batch_wait: m.batch_wait.snapshot(),
            compute: m.compute.snapshot(),
            emit: m.emit.snapshot(),
        },
        compute,
        matrix_pool: matrix_pool.unwrap_or_default(),
    })
}

/// The calling thread's allocations since the `warm` sample (`None` without a counter or a
/// sample).
fn allocations_since(
    warm: Option<u64>,
    allocations: Option<&(dyn Fn() -> u64 + Sync)>,
) -> Option<u64> {
    warm.zip(allocations.map(|f| f())).map(|(a, b)| b - a)
}

/// Adds one to the ready count when dropped, also while unwinding.
struct ReadyOnDrop<'a>(&'a AtomicUsize);

impl Drop for ReadyOnDrop<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Release);
    }
}

/// Runs the compute stage on a job, stamping its start and end.
fn compute_job(stage: &mut ComputeStage, job: &mut Job, now_ns: &dyn Fn() -> u64) {
    job.compute_start_ns = now_ns();
    let Job {
        batch,
        signals,
        shard,
        failed,
        ..
    } = job;
    if let Err(e) = stage.process(*shard, batch, signals) {
        *failed = Some(e);
    }
    job.compute_end_ns = now_ns();
}

/// What the feed thread hands back.
struct FeedSummary<F> {
    feed: F,
    ticks: u64,
    rejects: RejectCounts,
    allocations: Option<u64>,
}

/// The feature thread: features, batching per shard, dispatch to compute, emission.
struct Front<'a, 'p> {
    features: &'a mut FeatureStage,
    pool: &'p Pool<Job>,
    /// The batch being filled, per shard.
    pending: Vec<Option<PoolGuard<'p, Job>>>,
    /// `first_seq` of the jobs in flight to workers.
    outstanding: Vec<u64>,
    /// The compute stage when it runs on this thread.
    inline: Option<&'a mut ComputeStage>,
    jobs: Vec<Producer<PoolGuard<'p, Job>>>,
    results: Vec<Consumer<PoolGuard<'p, Job>>>,
    in_flight: usize,
    sink: &'a mut dyn Sink,
    /// The run checksum.
    digest: SignalDigest,
    processed: u64,
    vectors: u64,
    batches: u64,
    max_wait_ns: u64,
    now_ns: &'a dyn Fn() -> u64,
    m: &'a Metrics,
    /// Flush the sink after every batch (the feed acknowledges what was emitted).
    flush_sink: bool,
    /// Ticks whose signals are emitted, for the feed's acknowledgements.
    done: &'a AtomicU64,
}

impl<'p> Front<'_, 'p> {
    /// The next tick, `None` at the end of the feed. While the ring is dry, batches older
    /// than `max_batch_wait_ns` go to compute and finished work is emitted; the thread
    /// blocks (per the wait strategy) only when nothing is pending anywhere. A dry ring does
    /// not by itself cut batches: at high rates it runs dry for microseconds at a time, and
    /// cutting there would make every batch tiny.
    fn next_tick(
        &mut self,
        rx: &mut Consumer<Timed>,
        wait: WaitStrategy,
    ) -> Result<Option<Timed>, PipelineError> {
        let mut spins = 0u32;
        loop {
            match rx.pop() {
                Ok(t) => return Ok(Some(t)),
                Err(PopError::Closed) => return Ok(None),
                Err(PopError::Empty) => {}
            }
            let pending = self.pending.iter().any(Option::is_some);
            if !pending && self.in_flight == 0 {
                return Ok(rx.pop_wait(wait).ok());
            }
            if self.in_flight > 0 {
                self.poll_results()?;
            }
            spins += 1;
            if spins.is_multiple_of(64) {
                self.dispatch_aged()?;
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    }

    #[inline]
    fn on_tick(&mut self, t: &Timed) -> Result<(), PipelineError> {
        self.processed += 1;
        if !self.features.update(&t.tick) {
            // Age check every 128 ticks keeps the clock mostly off the hot path.
            if self.processed.is_multiple_of(128) {
                self.dispatch_aged()?;
            }
            return Ok(());
        }
        let now = (self.now_ns)();
        self.m.queue.record(now.saturating_sub(t.read_ns).max(1));
        let symbol = t.tick.symbol;
        let h = symbol as usize % self.pending.len();
        if self.pending[h].is_none() {
            let mut job = self.acquire()?;
            job.shard = h;
            job.first_seq = self.processed;
            self.pending[h] = Some(job);
        }
        let Some(job) = self.pending[h].as_mut() else {
            unreachable!("just filled")
        };
        let i = job.batch.len_rows();
        let Some(row) = job.batch.push_row_mut() else {
            unreachable!("full batches are dispatched")
        };
        self.features.write_row(symbol, row);
        job.metas[i] = RowMeta {
            ts_ns: t.tick.ts_ns,
            symbol,
            read_ns: t.read_ns,
            made_ns: now,
        };
        if job.batch.is_full() {
            self.dispatch(h)?;
        }
        Ok(())
    }

    /// A job from the pool; when every job is out, completes results until one returns.
    fn acquire(&mut self) -> Result<PoolGuard<'p, Job>, PipelineError> {
        loop {
            match self.pool.acquire() {
                Ok(job) => return Ok(job),
                Err(PoolError::Exhausted { .. }) if self.in_flight > 0 => {
                    if self.poll_results()? == 0 {
                        std::thread::yield_now();
                    }
                }
                Err(e) => return Err(PipelineError::Pool(e)),
            }
        }
    }

    /// Sends shard `h`'s pending batch to compute (inline: computes and emits it).
    fn dispatch(&mut self, h: usize) -> Result<(), PipelineError> {
        let Some(mut job) = self.pending[h].take() else {
            return Ok(());
        };
        if job.batch.is_empty() {
            return Ok(());
        }
        if let Some(stage) = self.inline.as_deref_mut() {
            compute_job(stage, &mut job, self.now_ns);
            return self.complete(job);
        }
        let w = h % self.jobs.len();
        self.outstanding.push(job.first_seq);
        self.in_flight += 1;
        self.jobs[w]
            .push(job)
            .map_err(|_| PipelineError::Config("a compute worker stopped"))
    }

    fn dispatch_all(&mut self) -> Result<(), PipelineError> {
        for h in 0..self.pending.len() {
            self.dispatch(h)?;
        }
        Ok(())
    }

    fn dispatch_aged(&mut self) -> Result<(), PipelineError> {
        let now = (self.now_ns)();
        for h in 0..self.pending.len() {
            let aged = self.pending[h].as_ref().is_some_and(|j| {
                !j.batch.is_empty() && now.saturating_sub(j.metas[0].read_ns) > self.max_wait_ns
            });
            if aged {
                self.dispatch(h)?;
            }
        }
        Ok(())
    }

    /// Completes every job the workers have finished; returns how many.
    fn poll_results(&mut self) -> Result<usize, PipelineError> {
        let mut n = 0;
        for w in 0..self.results.len() {
            loop {
                let job = match self.results[w].pop() {
                    Ok(job) => job,
                    Err(PopError::Empty) => break,
                    // Workers close their result ring only after their job ring closed, which
                    // happens after the last result was taken: a closed ring here is a worker
                    // that died (its panic, if any, is resumed when it is joined).
                    Err(PopError::Closed) => {
                        return Err(PipelineError::Config("a compute worker stopped"));
                    }
                };
                self.in_flight -= 1;
                if let Some(i) = self.outstanding.iter().position(|&s| s == job.first_seq) {
                    self.outstanding.swap_remove(i);
                }
                self.complete(job)?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// Emits a computed job's signals and returns it to the pool.
    fn complete(&mut self, mut job: PoolGuard<'p, Job>) -> Result<(), PipelineError> {
        if let Some(e) = job.failed.take() {
            return Err(PipelineError::Compute(e));
        }
        let rows = job.batch.len_rows();
        let m = self.m;
        m.compute.record(
            job.compute_end_ns
                .saturating_sub(job.compute_start_ns)
                .max(1),
        );
        for (meta, value) in job.metas[..rows].iter().zip(&job.signals[..rows]) {
            m.batch_wait
                .record(job.compute_start_ns.saturating_sub(meta.made_ns).max(1));
            let signal = Signal {
                ts_ns: meta.ts_ns,
                symbol: meta.symbol,
                value: *value,
            };
            self.sink.emit(&signal).map_err(PipelineError::Sink)?;
            self.digest.add(&signal);
        }
        let now = (self.now_ns)();
        m.emit.record(now.saturating_sub(job.compute_end_ns).max(1));
        for meta in &job.metas[..rows] {
            m.latency.record(now.saturating_sub(meta.read_ns).max(1));
        }
        drop(job);
        self.vectors += rows as u64;
        self.batches += 1;
        m.rows.add(rows as u64);
        m.batches.inc();
        if self.flush_sink {
            self.sink.flush().map_err(PipelineError::Sink)?;
        }
        // Done: every tick before the first row still pending or in flight.
        let oldest = self
            .pending
            .iter()
            .flatten()
            .filter(|j| !j.batch.is_empty())
            .map(|j| j.first_seq)
            .chain(self.outstanding.iter().copied())
            .min();
        let done = oldest.map_or(self.processed, |s| s - 1);
        self.done.fetch_max(done, Ordering::Release);
        Ok(())
    }

    /// End of the feed: computes and emits everything still pending or in flight.
    fn finish(&mut self) -> Result<(), PipelineError> {
        self.dispatch_all()?;
        while self.in_flight > 0 {
            if self.poll_results()? == 0 {
                std::thread::yield_now();
            }
        }
        self.done.fetch_max(self.processed, Ordering::Release);
        Ok(())
    }

    fn close_jobs(&mut self) {
        for j in &mut self.jobs {
            j.close();
        }
    }
}

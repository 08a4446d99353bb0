//! [`run`]: assembles the pipeline's threads, runs them, and reports.
//!
//! ```text
//! feed thread --spsc ring of ticks--> feature thread: feature stage -> pooled batches, one
//!     per compute shard -> compute: on the feature thread, or lent with the shard's state
//!     to a compute worker over spsc rings (work sharing) -> sink
//! PCA refreshes: one thread for every stage, parked between refreshes
//! ```
//!
//! * Work sharing: the feature thread's compute stage holds every shard; a due batch goes,
//!   with its shard's state, to a worker that is idle or has no job waiting yet, else it is
//!   computed on the feature thread at once. The workers take the compute their cores have
//!   room for, whatever the machine (see `stage::feature`).
//! * The feed, faster than the pipeline, fills the ring and then waits for a quarter of it
//!   to drain ([`spsc::Producer::push_wait_refill`]): one wake-up per quarter ring, and a
//!   large ring (16,384 ticks by default) rides out the feed sharing its core with a worker.
//!
//! * Backpressure, not loss: the feed waits when the ring is full; every row read is either a
//!   processed tick or a counted rejection (`ticks_in == ticks_processed + ticks_rejected`).
//! * Steady state allocates nothing: rings, pools, feature state and compute state are built
//!   before the first tick (feature state grows only when a new symbol appears).
//! * Signals depend only on the rows of their compute shard before them (see
//!   [`compute`](crate::compute)), and batches of a shard are computed and emitted in order,
//!   so per-symbol order holds and the checksum (a digest of every symbol's signal sequence)
//!   is the same for the same seed and configuration, whatever the timing or thread layout.
//! * A deadline (`duration`) holds within about 100 ms whatever the feed does; a panic in
//!   any pipeline thread ends the run with [`PipelineError::ThreadDied`].

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use zerotick_core::{Feed, RejectCounts, RejectReason, SignalDigest, Sink};
use zerotick_kernels::Kernels;
use zerotick_mem::{MissPolicy, Pool, PoolGuard, ResetPolicy, Slab};
use zerotick_sync::metrics::Registry;
use zerotick_sync::spsc;

use crate::PipelineError;
use crate::books::BookStage;
use crate::checkpoint::{self, CheckpointError, Reader};
use crate::compute::{ComputeStage, PROJ, PcaWorker};
use crate::config::{Hooks, PipelineConfig};
use crate::features::FeatureStage;
use crate::features::WIDTH;
use crate::job::{Job, Stamped};
use crate::metrics::Metrics;
use crate::report::{EventCounts, Layout, RunReport, StageLatency};
use crate::rows::{RowStage, SpecStage};
use crate::stage::emit::Emitter;
use crate::stage::feature::{FeatureThread, Routing, RowStamp, RunLoop, SnapshotRings};
use crate::stage::feed::{FeedCheckpoints, FeedStage};
use crate::stage::worker::ComputeWorker;
use crate::stage::{Link, ReadyOnDrop, allocations_since};

/// How long the run waits for a feed thread that did not stop by itself (past the deadline,
/// or after the feature thread stopped on an error) before leaving it behind.
const FEED_GRACE: Duration = Duration::from_millis(250);

/// The PCA thread's nice value: a refresh (tens of ms of GEMM) must not take its core's time
/// slices from the feed or a compute worker; it has thousands of rows of slack before it is
/// due (`pca_publish_delay_rows`).
const PCA_NICE: i32 = 10;
/// The PCA thread's nice value behind a live feed (see where it is set).
const PCA_NICE_LIVE: i32 = 19;

/// Starts the PCA thread: it warms up (faer's packing buffers, see
/// [`PcaWorker::warm_up_thread`]), counts itself ready for the feed, then serves refreshes until
/// the stages are dropped. A plain thread, not a scoped one, so it can start before the rest of
/// the run is set up; a run that fails before its scope drops the stages, which ends it.
fn spawn_pca(
    mut pca: PcaWorker,
    link: &Arc<Link>,
    hooks: &Hooks<'_>,
    cpu: Option<usize>,
    live: bool,
) -> Result<std::thread::JoinHandle<Option<u64>>, PipelineError> {
    let link = Arc::clone(link);
    let (thread_start, allocations) = (hooks.thread_start, hooks.allocations);
    std::thread::Builder::new()
        .name("zerotick-pca".to_owned())
        .spawn(move || {
            if let Some(f) = thread_start {
                f();
            }
            if let Some(cpu) = cpu {
                let _ = zerotick_sync::affinity::pin_current_thread(cpu);
            }
            // Background work with a publish delay of thousands of rows: it yields its core to
            // the feed and compute threads (best effort). Behind a live feed, whose thread
            // sleeps between bursts on the core this one uses, at the lowest nice: a waking
            // feed then preempts it. Not `SCHED_IDLE`: that starved it behind other background
            // load (855 of 1,140 refreshes waited for, stalls up to 0.86 s, in a 10-minute
            // paced run beside a build).
            let counted = ReadyOnDrop(&link.ready);
            // A failure here (a scratch arena too small) recurs at the first refresh, which
            // reports it through the stage.
            let _ = pca.warm_up_thread();
            // Niced only after the warm-up: the feed waits for it, and at nice 10 beside
            // the other threads' start-up it ran up to 10x slower (one-tick runs of
            // 40-170 ms instead of ~14 on the Xeon VM, 2026-12-02).
            let nice = if live { PCA_NICE_LIVE } else { PCA_NICE };
            let _ = zerotick_sync::affinity::set_current_thread_nice(nice);
            drop(counted);
            let mut warm = None;
            pca.run_with(|| {
                if warm.is_none() && link.steady.load(Ordering::Relaxed) {
                    warm = allocations.map(|f| f());
                }
            });
            allocations_since(warm, allocations)
        })
        .map_err(|e| PipelineError::config(format_args!("cannot start the PCA thread: {e}")))
}

/// Runs the pipeline until the feed ends (or `config.duration` passes), sending signals to
/// `sink`, and then [finishes](Sink::finish) the sink (a run that fails does not: a sink that
/// must complete its output, such as a file with a footer, does so when dropped too).
///
/// # Errors
/// [`PipelineError`] for what stopped the run: a bad configuration (checked before anything
/// is allocated), the feed, the sink, the compute stage, or a thread that died.
pub fn run<F: Feed + 'static>(
    feed: F,
    sink: &mut dyn Sink,
    config: &PipelineConfig,
    hooks: &Hooks<'_>,
) -> Result<RunReport, PipelineError> {
    config.validate()?;
    let mut feed = feed;
    // A feed resuming from a checkpoint starts after its position: the state must too.
    let restored = feed.checkpoint_take();
    let checkpoints = config.checkpoint_every > 0 && feed.checkpoints();
    let live = feed.live();
    let acks = feed.wants_acknowledgements();
    let routing = Routing {
        partitions: feed.partitions(),
        names: feed.names(),
    };
    let (workers, reason) = match config.workers {
        Some(w) => (w, "set by the caller (--workers)"),
        None => config.default_workers(live),
    };
    let rows = config.batch_rows;
    // The PCA thread first: its warm-up (one refresh on made-up rows, ~15 ms on the Xeon VM)
    // then overlaps the rest of the set-up (the shards' 8 MiB row windows, pools, rings and
    // the metrics registry: mostly page faults, on the other core) instead of following it.
    // The feed starts only when every thread is ready, as before.
    // The feature thread's stage holds every shard and lends them to the workers' stages
    // (work sharing, see `stage::feature`); one PCA thread serves them all.
    let pca_wait = (config.pca_thread && config.compute.pca_every > 0).then_some(config.wait);
    let (shared_pca, pca_worker) =
        ComputeStage::sharing_pca(&config.compute, pca_wait).map_err(PipelineError::Compute)?;
    // Two CPUs, compute inline: the feature thread gets one to itself.
    let caller_mask = zerotick_sync::affinity::thread_affinity().ok();
    let pinned = match caller_mask.as_deref() {
        Some([a, b, ..]) if config.pin_threads.unwrap_or(live && !acks) && workers == 0 => {
            Some((*b, *a))
        }
        _ => None,
    };
    let link = Arc::new(Link::new(config.duration));
    let pca_handle = pca_worker
        .map(|pca| spawn_pca(pca, &link, hooks, pinned.map(|p| p.1), live))
        .transpose()?;
    let mut stages =
        ComputeStage::sharing(config.compute, Kernels::active(), rows, workers, shared_pca)
            .map_err(PipelineError::Compute)?;
    let own_registry;
    let registry = match hooks.registry {
        Some(r) => r,
        None => {
            own_registry = Registry::new();
            &own_registry
        }
    };
    let m = Metrics::register(registry).map_err(PipelineError::Metrics)?;
    let mut features = match &config.spec {
        None => RowStage::Builtin(FeatureStage::new(config.features, config.symbols_hint)),
        Some(s) => RowStage::Spec(SpecStage::new(Arc::clone(&s.spec), config.symbols_hint)),
    };
    // Books are built per symbol on its first book event (none for a trade-only feed).
    // Every symbol's state must fit in memory: past the capacity, ticks are rejected.
    let max_symbols = config.symbol_capacity();
    let mut books = BookStage::new(config.book_depth, max_symbols);
    let feature_width = if config.emit.features() {
        features.width()
    } else {
        0
    };
    // The batches in one slab: 16 x 512 KiB in four huge pages rather than 2,048 small ones
    // (about 5 ms of page faults at start-up on the 2-vCPU VMs, and TLB reach in compute).
    let slab_bytes = Job::slab_bytes(rows)
        .and_then(|b| b.checked_mul(config.pool_batches))
        .ok_or_else(|| PipelineError::config("the batch pool's size overflows"))?;
    let slab = Slab::try_zeroed(slab_bytes).map_err(|e| PipelineError::Pool(e.into()))?;
    let pool = Pool::try_new(
        config.pool_batches,
        MissPolicy::FailFast,
        ResetPolicy::Clear,
        move || Job::new_in(&slab, rows, feature_width),
    )
    .map_err(PipelineError::Pool)?;
    let fingerprint = checkpoint::fingerprint(&config.compute, &config.features);
    if let Some(bytes) = restored {
        restore(&bytes, fingerprint, &mut features, &mut stages[0])?;
    }
    let (feed_checkpoints, snapshot_rings) = if checkpoints {
        let (snap_tx, snap_rx) = spsc::channel::<Vec<f64>>(1)
            .map_err(|e| PipelineError::config(format_args!("checkpoint ring: {e}")))?;
        let (mut buf_tx, buf_rx) = spsc::channel::<Vec<f64>>(1)
            .map_err(|e| PipelineError::config(format_args!("checkpoint ring: {e}")))?;
        // Room for the state without the PCA windows (which grow it on their first
        // checkpoint), so most checkpoints allocate nothing.
        let words = 64
            + config.symbols_hint.max(1) * 1024
            + config.compute.shards * (11 * WIDTH + 2 * PROJ * WIDTH);
        let _ = buf_tx.push(Vec::with_capacity(words));
        (
            Some(FeedCheckpoints {
                every: config.checkpoint_every,
                snapshots: snap_rx,
                buffers: buf_tx,
                bytes: Vec::with_capacity(words * 8),
                since: 0,
                outstanding: false,
            }),
            Some(SnapshotRings {
                snapshots: snap_tx,
                buffers: buf_rx,
                fingerprint,
            }),
        )
    } else {
        (None, None)
    };
    let (tx, mut rx) = spsc::channel::<Stamped>(config.ring_capacity)
        .map_err(|e| PipelineError::config(format_args!("tick ring: {e}")))?;
    let mut job_rings = Vec::with_capacity(workers);
    let mut result_rings = Vec::with_capacity(workers);
    for _ in 0..workers {
        // As many slots as jobs exist: a push never finds a ring full.
        job_rings.push(
            spsc::channel::<PoolGuard<'_, Job>>(config.pool_batches)
                .map_err(|e| PipelineError::config(format_args!("job ring: {e}")))?,
        );
        result_rings.push(
            spsc::channel::<PoolGuard<'_, Job>>(config.pool_batches)
                .map_err(|e| PipelineError::config(format_args!("result ring: {e}")))?,
        );
    }

    stages[0].warm_up_thread().map_err(PipelineError::Compute)?;
    let feed_stage = FeedStage {
        feed,
        ring: tx,
        link: Arc::clone(&link),
        metrics: m.clone(),
        wait: config.wait,
        wait_for_ready: workers + usize::from(pca_handle.is_some()),
        max_symbols,
        allocations: hooks.allocations,
        thread_start: hooks.thread_start,
        cpu: pinned.map(|p| p.1),
        checkpoints: feed_checkpoints,
    };
    let (feed_handle, feed_summary) = feed_stage.spawn()?;
    if let Some((cpu, _)) = pinned {
        let _ = zerotick_sync::affinity::pin_current_thread(cpu);
    }
    let link_ref = &*link;
    let m_ref = &m;

    let (front, worker_results) = std::thread::scope(|scope| {
        let mut stages = stages.into_iter();
        let Some(mut main_stage) = stages.next() else {
            unreachable!("`sharing` makes the feature thread's stage first")
        };
        let mut job_tx = Vec::with_capacity(workers);
        let mut result_rx = Vec::with_capacity(workers);
        let mut handles = Vec::with_capacity(workers);
        for (((jt, jr), (rt, rr)), stage) in job_rings.into_iter().zip(result_rings).zip(stages) {
            job_tx.push(jt);
            result_rx.push(rr);
            let worker = ComputeWorker {
                stage,
                jobs: jr,
                results: rt,
                // The run's strategy (a short spin, a few yields, then park): a worker that
                // yielded for long while idle took the feed thread's time slices on their
                // shared core (5.4 against 7.0 M ticks/s, 2-core EPYC, 2026-11-30).
                wait: config.wait,
                allocations: hooks.allocations,
                thread_start: hooks.thread_start,
            };
            handles.push(scope.spawn(move || worker.run(link_ref)));
        }
        if let Some(f) = hooks.thread_start {
            f();
        }
        let mut thread = FeatureThread {
            features: &mut features,
            books: &mut books,
            open_stamp: RowStamp::default(),
            pool: &pool,
            // Never more than the pool's jobs: no queue grows in steady state.
            pending: (0..config.compute.shards)
                .map(|_| VecDeque::with_capacity(config.pool_batches))
                .collect(),
            outstanding: Vec::with_capacity(config.pool_batches),
            stage: &mut main_stage,
            jobs: job_tx,
            results: result_rx,
            in_flight: vec![0; workers],
            emitter: Emitter {
                sink,
                digest: SignalDigest::with_symbols(config.symbols_hint.max(1)),
                vectors: 0,
                batches: 0,
                flush_sink: acks,
                emit: config.emit,
                feature_width,
                m: m_ref,
                link: link_ref,
            },
            processed: 0,
            events: 0,
            m: m_ref,
            link: link_ref,
            checkpoints: snapshot_rings,
            route: vec![u32::MAX; config.symbols_hint.max(1)],
            routing,
        };
        let lp = RunLoop {
            wait: if live { config.live_wait } else { config.wait },
            warmup_ticks: config.warmup_ticks,
            progress: hooks.progress,
            allocations: hooks.allocations,
        };
        let result = thread.run(&mut rx, &lp);
        // Whatever happened: the feed stops, the workers finish, the rings close.
        link_ref.stop.store(true, Ordering::Relaxed);
        rx.close();
        thread.close_jobs();
        m_ref.pool(&pool.stats());
        let front = result.map(|steady| {
            (
                steady,
                thread.processed,
                thread.emitter.vectors,
                thread.emitter.batches,
                thread.emitter.digest.finish(),
                link_ref.now_ns(),
            )
        });
        drop(thread);
        let inline_stats = (main_stage.stats(), main_stage.matrix_pool().stats());
        drop(main_stage); // with the workers' stages, closes the PCA queue: its thread returns
        let workers: Vec<_> = handles.into_iter().map(|h| h.join()).collect();
        (front.map(|f| (f, inline_stats)), workers)
    });
    // The stages are gone, so the PCA queue is closed: the PCA thread returns.
    let pca_result = pca_handle.map(std::thread::JoinHandle::join);

    if let (Some(_), Some(mask)) = (pinned, &caller_mask) {
        let _ = zerotick_sync::affinity::set_thread_affinity(mask);
    }
    let ((steady, processed, vectors, batches, checksum, end_ns), inline_stats) = front?;
    let mut steady = steady;
    // Only the feature thread's stage has PCA matrices (lent shards bring theirs along).
    let (mut compute, matrix_pool) = inline_stats;
    let mut worker_rows = 0;
    for w in worker_results {
        let (c, allocs) = w.map_err(|panic| PipelineError::died("compute worker", &*panic))?;
        worker_rows += c.rows;
        compute = compute.merge(&c);
        // A worker that got no job after warm-up has no sample: it allocated nothing in
        // steady state (a book feed's rows can be few enough for one worker to take them all).
        steady = steady.map(|a| a + allocs.unwrap_or(0));
    }
    if let Some(p) = pca_result {
        let allocs = p.map_err(|panic| PipelineError::died("pca", &*panic))?;
        // A PCA thread that served no refresh after warm-up has no sample: it allocated
        // nothing in steady state.
        steady = steady.map(|a| a + allocs.unwrap_or(0));
    }
    // The feed thread: normally done already (the ring closed because the feed ended, or
    // it saw the stop flag); one blocked in a read past the deadline is left behind.
    let summary = match feed_summary.recv_timeout(FEED_GRACE) {
        Ok(s) => Some(s),
        Err(_) if feed_handle.is_finished() => {
            return Err(match feed_handle.join() {
                Err(panic) => PipelineError::died("feed", &*panic),
                Ok(()) => PipelineError::died("feed", &"no summary"),
            });
        }
        Err(_) => None,
    };
    let (mut sequence_gaps, mut time_clamped) = (0, 0);
    let feed_allocations = match summary {
        Some(s) => {
            sequence_gaps = s.feed.sequence_gaps();
            time_clamped = s.feed.time_clamped();
            s.result.map_err(PipelineError::Feed)?;
            sink.finish().map_err(PipelineError::Sink)?;
            let mut feed = s.feed;
            if acks {
                feed.acknowledge(processed).map_err(PipelineError::Feed)?;
            }
            s.allocations
        }
        None => {
            sink.finish().map_err(PipelineError::Sink)?;
            None
        }
    };
    let mut rejects = RejectCounts::default();
    for r in RejectReason::ALL {
        rejects.add_n(r, link.rejects[r as usize].load(Ordering::Relaxed));
    }
    let ticks = link.ticks.0.load(Ordering::Relaxed);
    debug_assert_eq!(ticks, processed);
    Ok(RunReport {
        ticks_in: ticks + rejects.total(),
        ticks_processed: processed,
        ticks_rejected: rejects.total(),
        rejects,
        max_symbols,
        events: EventCounts {
            quotes: link.other_events[0].load(Ordering::Relaxed),
            book_deltas: link.other_events[1].load(Ordering::Relaxed),
            snapshot_levels: link.other_events[2].load(Ordering::Relaxed),
        },
        books: books.report(),
        sequence_gaps,
        time_clamped,
        vectors,
        batches,
        seconds: end_ns.saturating_sub(link.feed_start_ns.load(Ordering::Relaxed)) as f64 / 1e9,
        latency: m.latency.snapshot(),
        arrival_latency: m.arrival_latency.snapshot(),
        steady_state_allocations: steady,
        feed_allocations,
        pool: pool.stats(),
        checksum,
        prometheus: registry.render_prometheus(),
        stages: StageLatency {
            queue: m.queue.snapshot(),
            feed_lateness: m.feed_lateness.snapshot(),
            batch_wait: m.batch_wait.snapshot(),
            compute: m.compute.snapshot(),
            emit: m.emit.snapshot(),
        },
        compute,
        matrix_pool,
        layout: Layout {
            workers,
            pca_thread: config.pca_thread && config.compute.pca_every > 0,
            reason: reason.to_owned(),
            pinned,
            worker_rows,
            batch_rows: rows,
            batch_reason: crate::config::batch_rows_reason(rows),
        },
    })
}

/// Restores the feature state and every compute shard (all held by `stage`) from a
/// checkpoint's state bytes.
///
/// # Errors
/// [`PipelineError::Config`] naming what is wrong with the checkpoint.
fn restore(
    bytes: &[u8],
    fingerprint: u64,
    features: &mut RowStage,
    stage: &mut ComputeStage,
) -> Result<(), PipelineError> {
    restore_state(bytes, fingerprint, features, stage)
        .map_err(|e| PipelineError::config(format_args!("cannot resume: {e}")))
}

fn restore_state(
    bytes: &[u8],
    fingerprint: u64,
    features: &mut RowStage,
    stage: &mut ComputeStage,
) -> Result<(), CheckpointError> {
    let words = checkpoint::decode_words(bytes)?;
    let mut r = Reader::open(&words, fingerprint)?;
    features.restore(&mut r)?;
    for h in 0..stage.shards() {
        stage.restore_shard(h, &mut r)?;
    }
    r.finish()
}

//! The idiomatic baseline: the pipeline a competent engineer writes without zerotick.
//!
//! ```text
//! feed thread --crossbeam bounded (Tick, Instant)--> feature thread: each row written straight
//!     into its shard's batch (a reused row-major matrix) --crossbeam bounded--> compute thread:
//!     every step in place on the batch, signals into a reused Vec --> sink; the batch goes back
//!     to the feature thread over a return channel (the free list)
//! metrics: the `metrics` crate, handles registered once, a recorder of atomics ([`Recorder`])
//! ```
//!
//! Nothing is cloned or allocated per row or per step: batches are allocated on a free-list
//! miss only (at most `pool_batches + shards` of them, so every shard can hold a partial batch
//! while the others are in flight), the compute steps run in place through the same public
//! stage APIs as `ComputeStage::process`, and counters and the latency histogram go through
//! `metrics` handles made once, as its docs recommend for hot paths. [`Layout::Two`] runs the
//! compute steps on the feature thread (same batches, same free list, no second hand-off);
//! `zerotick bench` measures both layouts and reports the faster.
//!
//! It emits the same signals as the zerotick pipeline (equal checksums, tested below).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use metrics::{Counter, Histogram, Key, KeyName, Metadata, SharedString, Unit};
use zerotick_core::{Feed, FeedEvent, Signal, SignalDigest, Sink, Tick};
use zerotick_kernels::Kernels;
use zerotick_pipeline::compute::{ComputeError, ComputeStage};
use zerotick_pipeline::features::{FeatureStage, WIDTH};
use zerotick_pipeline::{PipelineConfig, PipelineError};

/// Thread layout of the idiomatic pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Feed thread; features and compute on one thread.
    Two,
    /// Feed, feature and compute threads.
    Three,
}

impl Layout {
    /// Threads the layout runs on.
    pub fn threads(self) -> usize {
        match self {
            Layout::Two => 2,
            Layout::Three => 3,
        }
    }
}

/// What a run of the idiomatic pipeline did.
#[derive(Debug, Clone)]
pub struct IdiomaticReport {
    /// Ticks through the feature stage.
    pub ticks: u64,
    /// Feature rows computed (= signals emitted).
    pub vectors: u64,
    /// Batches through the compute steps.
    pub batches: u64,
    /// The zerotick pipeline's checksum of the signals ([`SignalDigest`]).
    pub checksum: u64,
    /// Batches taken from the free list.
    pub free_list_hits: u64,
    /// Batches allocated because the free list was empty.
    pub free_list_misses: u64,
    /// The recorder's counters at the end of the run, by name.
    pub counters: HashMap<String, u64>,
    /// Latency samples recorded.
    pub latency_samples: u64,
}

/// A `metrics` recorder of atomics: one `AtomicU64` per counter name, one [`AtomicHistogram`]
/// per histogram name; registering a name twice gives the same cell.
#[derive(Default)]
pub struct Recorder {
    counters: Mutex<HashMap<String, Arc<AtomicU64>>>,
    histograms: Mutex<HashMap<String, Arc<AtomicHistogram>>>,
}

/// Count, sum and power-of-two buckets of the recorded values, all atomics.
pub struct AtomicHistogram {
    count: AtomicU64,
    sum: AtomicU64,
    buckets: [AtomicU64; 64],
}

impl Default for AtomicHistogram {
    fn default() -> Self {
        Self {
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            buckets: [const { AtomicU64::new(0) }; 64],
        }
    }
}

impl metrics::HistogramFn for AtomicHistogram {
    fn record(&self, value: f64) {
        // Saturating float-to-int: NaN and negatives -> 0.
        let v = value as u64;
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(v, Ordering::Relaxed);
        self.buckets[63 - (v | 1).leading_zeros() as usize].fetch_add(1, Ordering::Relaxed);
    }
}

impl Recorder {
    /// The counters, by name.
    pub fn counters(&self) -> HashMap<String, u64> {
        let map = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        map.iter()
            .map(|(k, v)| (k.clone(), v.load(Ordering::Relaxed)))
            .collect()
    }

    /// Samples recorded in histogram `name` (0 if there is none).
    pub fn histogram_count(&self, name: &str) -> u64 {
        let map = self
            .histograms
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        map.get(name).map_or(0, |h| h.count.load(Ordering::Relaxed))
    }
}

impl metrics::Recorder for Recorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let mut map = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        Counter::from_arc(map.entry(key.name().to_owned()).or_default().clone())
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> metrics::Gauge {
        metrics::Gauge::noop()
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let mut map = self
            .histograms
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        Histogram::from_arc(map.entry(key.name().to_owned()).or_default().clone())
    }
}

/// The pipeline's metric handles, registered once.
struct Metrics {
    ticks_in: Counter,
    ticks_processed: Counter,
    rows: Counter,
    batches: Counter,
    signals: Counter,
    latency_ns: Histogram,
}

impl Metrics {
    fn new(recorder: &Recorder) -> Self {
        metrics::with_local_recorder(recorder, || Self {
            ticks_in: metrics::counter!("ticks_in"),
            ticks_processed: metrics::counter!("ticks_processed"),
            rows: metrics::counter!("rows"),
            batches: metrics::counter!("batches"),
            signals: metrics::counter!("signals"),
            latency_ns: metrics::histogram!("latency_ns"),
        })
    }
}

/// Rows of one compute shard on their way through the compute steps; reused.
struct Batch {
    shard: usize,
    len: usize,
    ts_ns: Vec<u64>,
    symbols: Vec<u32>,
    read_at: Vec<Instant>,
    /// Row-major, `capacity_rows x WIDTH`.
    matrix: Vec<f64>,
}

impl Batch {
    fn new(capacity_rows: usize) -> Self {
        Self {
            shard: 0,
            len: 0,
            ts_ns: Vec::with_capacity(capacity_rows),
            symbols: Vec::with_capacity(capacity_rows),
            read_at: Vec::with_capacity(capacity_rows),
            matrix: vec![0.0; capacity_rows * WIDTH],
        }
    }

    fn clear(&mut self, shard: usize) {
        self.shard = shard;
        self.len = 0;
        self.ts_ns.clear();
        self.symbols.clear();
        self.read_at.clear();
    }
}

/// Batches come back from the compute side over a channel; a miss allocates, up to a bound,
/// then the feature thread waits for one to come back.
struct FreeList {
    back: Receiver<Batch>,
    made: usize,
    bound: usize,
    capacity_rows: usize,
    hits: u64,
    misses: u64,
}

impl FreeList {
    fn get(&mut self, shard: usize) -> Option<Batch> {
        let mut batch = match self.back.try_recv() {
            Ok(b) => {
                self.hits += 1;
                b
            }
            Err(_) if self.made < self.bound => {
                self.made += 1;
                self.misses += 1;
                Batch::new(self.capacity_rows)
            }
            Err(_) => {
                self.hits += 1;
                self.back.recv().ok()?
            }
        };
        batch.clear(shard);
        Some(batch)
    }
}

/// Runs the idiomatic pipeline in `layout` until the feed ends, sending signals to `sink`.
/// `thread_start` runs first on each of its threads (the calling thread included);
/// `progress(n)` on the feature thread every 65,536 ticks (as zerotick's `Hooks::progress`).
///
/// # Errors
/// [`PipelineError`] for what stopped the run (feed, kernel or sink failure).
pub fn run<F: Feed>(
    feed: F,
    sink: &mut dyn Sink,
    config: &PipelineConfig,
    layout: Layout,
    thread_start: &(dyn Fn() + Sync),
    progress: &(dyn Fn(u64) + Sync),
) -> Result<IdiomaticReport, PipelineError> {
    if config.batch_rows == 0 || config.pool_batches == 0 || config.ring_capacity == 0 {
        return Err(PipelineError::Config(
            "batch_rows, pool_batches and ring_capacity must be at least 1".into(),
        ));
    }
    let recorder = Recorder::default();
    let metrics = Metrics::new(&recorder);
    let (tick_tx, tick_rx) = bounded::<(Tick, Instant)>(config.ring_capacity);
    let (back_tx, back_rx) = unbounded::<Batch>();
    let shards = config.compute.shards;
    let mut features = FeatureSide {
        stage: FeatureStage::new(config.features, config.symbols_hint),
        free: FreeList {
            back: back_rx,
            made: 0,
            bound: config.pool_batches + shards,
            capacity_rows: config.batch_rows,
            hits: 0,
            misses: 0,
        },
        pending: (0..shards).map(|_| None).collect(),
        ticks: 0,
    };
    let mut compute = ComputeSide {
        stage: ComputeStage::new(config.compute, Kernels::active(), config.batch_rows)
            .map_err(PipelineError::Compute)?,
        signals: vec![0.0; config.batch_rows],
        digest: SignalDigest::default(),
        vectors: 0,
        batches: 0,
        back: back_tx,
    };
    let metrics = &metrics;
    std::thread::scope(|scope| {
        let feeder = scope.spawn(move || {
            thread_start();
            feed_thread(feed, &tick_tx, metrics)
        });
        thread_start();
        let result = match layout {
            Layout::Two => {
                let r = features.run(&tick_rx, metrics, progress, &mut |b| {
                    compute.process(b, sink, metrics)
                });
                drop(tick_rx); // unblocks the feeder if the pipeline stopped early
                r
            }
            Layout::Three => {
                let (batch_tx, batch_rx) = bounded::<Batch>(config.pool_batches);
                let featurer = scope.spawn(move || {
                    thread_start();
                    // Owned here: dropped when this thread ends, which unblocks the feeder.
                    let r = features.run(&tick_rx, metrics, progress, &mut |b| {
                        batch_tx
                            .send(b)
                            .map_err(|_| PipelineError::Config("compute thread gone".into()))
                    });
                    (r, features)
                });
                let computed = batch_rx
                    .iter()
                    .try_for_each(|b| compute.process(b, sink, metrics));
                // Unblock the feature thread if compute stopped early: its sends and its
                // wait on the free list both fail once these are gone.
                drop(batch_rx);
                compute.back = unbounded().0;
                let (featured, f) = featurer
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p));
                features = f;
                computed.and(featured)
            }
        };
        let fed = feeder
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p));
        result?;
        let ticks_in = fed?;
        sink.flush().map_err(PipelineError::Sink)?;
        debug_assert_eq!(ticks_in, features.ticks);
        Ok(IdiomaticReport {
            ticks: features.ticks,
            vectors: compute.vectors,
            batches: compute.batches,
            checksum: compute.digest.finish(),
            free_list_hits: features.free.hits,
            free_list_misses: features.free.misses,
            counters: recorder.counters(),
            latency_samples: recorder.histogram_count("latency_ns"),
        })
    })
}

/// Reads the feed and sends every tick on, stamped with the time it was read.
fn feed_thread<F: Feed>(
    mut feed: F,
    tx: &Sender<(Tick, Instant)>,
    metrics: &Metrics,
) -> Result<u64, PipelineError> {
    let mut ticks = 0u64;
    loop {
        match feed.next_event().map_err(PipelineError::Feed)? {
            FeedEvent::Tick(tick) => {
                ticks += 1;
                metrics.ticks_in.increment(1);
                if tx.send((tick, Instant::now())).is_err() {
                    break; // the pipeline stopped; it reports why
                }
            }
            // Only trades feed the baseline pipelines.
            FeedEvent::Quote(_)
            | FeedEvent::BookDelta(_)
            | FeedEvent::SnapshotLevel(_)
            | FeedEvent::Rejected(_)
            | FeedEvent::Idle => {}
            FeedEvent::End => break,
        }
    }
    Ok(ticks)
}

/// The feature side: the stage, the free list and each shard's partial batch.
struct FeatureSide {
    stage: FeatureStage,
    free: FreeList,
    pending: Vec<Option<Batch>>,
    ticks: u64,
}

impl FeatureSide {
    /// Updates the features on every tick, writes each row due into its shard's batch and
    /// hands full batches (then the partial ones at the end) to `emit`.
    fn run(
        &mut self,
        rx: &Receiver<(Tick, Instant)>,
        metrics: &Metrics,
        progress: &(dyn Fn(u64) + Sync),
        emit: &mut dyn FnMut(Batch) -> Result<(), PipelineError>,
    ) -> Result<(), PipelineError> {
        let shards = self.pending.len();
        for (tick, read_at) in rx {
            self.ticks += 1;
            metrics.ticks_processed.increment(1);
            if self.ticks.is_multiple_of(65_536) {
                progress(self.ticks);
            }
            if !self.stage.update(&tick) {
                continue;
            }
            let shard = tick.symbol as usize % shards;
            let slot = &mut self.pending[shard];
            if slot.is_none() {
                *slot = self.free.get(shard);
            }
            let Some(batch) = slot.as_mut() else {
                return Err(PipelineError::Config("compute side gone".into()));
            };
            let row = &mut batch.matrix[batch.len * WIDTH..(batch.len + 1) * WIDTH];
            self.stage.write_row(tick.symbol, row);
            batch.len += 1;
            batch.ts_ns.push(tick.ts_ns);
            batch.symbols.push(tick.symbol);
            batch.read_at.push(read_at);
            metrics.rows.increment(1);
            if batch.len * WIDTH == batch.matrix.len()
                && let Some(full) = slot.take()
            {
                emit(full)?;
            }
        }
        for slot in &mut self.pending {
            if let Some(batch) = slot.take() {
                emit(batch)?;
            }
        }
        Ok(())
    }
}

/// The compute side: the stage, reused signal buffer, digest and the free list's sender.
struct ComputeSide {
    stage: ComputeStage,
    signals: Vec<f64>,
    digest: SignalDigest,
    vectors: u64,
    batches: u64,
    back: Sender<Batch>,
}

impl ComputeSide {
    /// The steps of `ComputeStage::process`, in its order, in place on the batch; then the
    /// signals to the sink and the batch back to the free list.
    fn process(
        &mut self,
        mut batch: Batch,
        sink: &mut dyn Sink,
        metrics: &Metrics,
    ) -> Result<(), PipelineError> {
        self.steps(&mut batch).map_err(PipelineError::Compute)?;
        for i in 0..batch.len {
            let signal = Signal {
                ts_ns: batch.ts_ns[i],
                symbol: batch.symbols[i],
                value: self.signals[i],
            };
            sink.emit(&signal).map_err(PipelineError::Sink)?;
            self.digest.add(&signal);
            metrics.signals.increment(1);
            metrics
                .latency_ns
                .record(batch.read_at[i].elapsed().as_nanos() as f64);
        }
        self.vectors += batch.len as u64;
        self.batches += 1;
        metrics.batches.increment(1);
        // The feature side may have finished; then the batch is simply dropped.
        let _ = self.back.send(batch);
        Ok(())
    }

    fn steps(&mut self, batch: &mut Batch) -> Result<(), ComputeError> {
        let shard = batch.shard;
        for row in batch.matrix.chunks_exact_mut(WIDTH).take(batch.len) {
            self.stage.normalize_row(shard, row)?;
            self.stage.filter_row(row)?;
            self.stage.squash_row(row);
        }
        self.stage
            .project_and_read_out(shard, &batch.matrix, batch.len, &mut self.signals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{config, feed, zerotick_run};
    use zerotick_core::NullSink;

    #[test]
    fn same_signals_as_the_zerotick_pipeline_in_both_layouts() {
        let config = config();
        for seed in [1, 42] {
            let after = zerotick_run(seed, 40_000, &config);
            for layout in [Layout::Two, Layout::Three] {
                let r = run(
                    feed(seed, 40_000),
                    &mut NullSink,
                    &config,
                    layout,
                    &|| {},
                    &|_| {},
                )
                .expect("idiomatic");
                assert!(after.vectors > 100, "{after:?}");
                assert_eq!(r.vectors, after.vectors, "{layout:?}");
                assert_eq!(r.ticks, after.ticks_processed);
                assert_eq!(r.checksum, after.checksum, "seed {seed} {layout:?}");
                assert_eq!(r.counters["ticks_in"], 40_000);
                assert_eq!(r.counters["ticks_processed"], 40_000);
                assert_eq!(r.counters["rows"], r.vectors);
                assert_eq!(r.counters["signals"], r.vectors);
                assert_eq!(r.counters["batches"], r.batches);
                assert_eq!(r.latency_samples, r.vectors);
                // Every batch came from the free list once; no more were allocated than
                // the bound, and with compute inline each shard's batch comes straight back.
                assert_eq!(r.free_list_hits + r.free_list_misses, r.batches, "{r:?}");
                let bound = match layout {
                    Layout::Two => config.compute.shards,
                    Layout::Three => config.pool_batches + config.compute.shards,
                };
                assert!(r.free_list_misses <= bound as u64, "{layout:?} {r:?}");
            }
        }
    }

    #[test]
    fn recorder_hands_out_one_cell_per_name() {
        let recorder = Recorder::default();
        let (a, b) = metrics::with_local_recorder(&recorder, || {
            (metrics::counter!("x"), metrics::counter!("x"))
        });
        a.increment(2);
        b.increment(3);
        assert_eq!(recorder.counters()["x"], 5);
        let h = metrics::with_local_recorder(&recorder, || metrics::histogram!("h"));
        h.record(10.0);
        h.record(f64::NAN);
        assert_eq!(recorder.histogram_count("h"), 2);
    }
}

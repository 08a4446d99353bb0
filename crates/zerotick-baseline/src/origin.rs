//! The origin-style "before" pipeline: the same work as [`zerotick_pipeline::run`], written
//! the way the origin report's "before" code was.
//!
//! ```text
//! feed thread --mpsc (Tick, Instant)--> feature thread: a fresh Vec<f64> per row,
//!     rows collected into a Vec<Row> batch per compute shard --mpsc--> compute thread: a
//!     fresh Vec per stage (clone, normalise, clone, filter, clone, squash; the batch copied
//!     into a fresh matrix for projection and read-out) --> sink
//! metrics: one Arc<Mutex<HashMap<String, u64>>> shared by all three threads
//! ```
//!
//! It does what the origin report's "before" code did (DESIGN.md, "Origin report figures"):
//! a clone per step (`normalize(data.clone())`, `extract(normalized.clone())`,
//! `transform(features.clone())`: here a fresh `Vec` per row, then a clone before normalise,
//! filter and squash, and a fresh matrix per batch) and a `metrics.lock().unwrap()` update of a
//! `Mutex<HashMap<String, u64>>` per event (per tick on the feed thread and on the feature
//! thread, per row, per signal, per batch). Otherwise it is not a strawman: bounded
//! `std::sync::mpsc::sync_channel`s sized like zerotick's ring and pool, the same feature and
//! compute code, no sleeps, no extra passes. The idiomatic baseline ([`crate::idiomatic`]) is
//! the version without those costs.
//!
//! It produces the same signals per symbol as the zerotick pipeline (a signal depends only on
//! its shard's earlier rows, so batch cuts do not change it): the checksums match, which is
//! what proves both do the same work (tested below and by `zerotick bench`).
//!
//! When the zerotick compute stage gains steps, add them to `compute_batch` in the same
//! order as `ComputeStage::process`, each on a fresh clone of the previous stage's output.

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use zerotick_core::{Feed, FeedEvent, Signal, SignalDigest, Sink, Tick};
use zerotick_kernels::Kernels;
use zerotick_pipeline::compute::{ComputeError, ComputeStage};
use zerotick_pipeline::features::{FeatureStage, WIDTH};
use zerotick_pipeline::{PipelineConfig, PipelineError};

/// What a run of the origin-style pipeline did.
#[derive(Debug, Clone)]
pub struct OriginReport {
    /// Ticks through the feature stage.
    pub ticks: u64,
    /// Feature rows computed (= signals emitted).
    pub vectors: u64,
    /// Batches sent to the compute thread.
    pub batches: u64,
    /// Lock acquisitions, all threads.
    pub lock_acquisitions: u64,
    /// The zerotick pipeline's checksum of the signals ([`SignalDigest`]).
    pub checksum: u64,
    /// The shared metrics map at the end of the run.
    pub metrics: HashMap<String, u64>,
}

/// A row on its way to the compute thread.
struct Row {
    ts_ns: u64,
    symbol: u32,
    /// When the feed thread read the tick that completed this row.
    read_at: Instant,
    values: Vec<f64>,
}

/// The metrics map as such code shares it, with the time spent acquiring the lock recorded
/// per thread (one [`LockClock`] each).
#[derive(Clone)]
struct Metrics(Arc<Mutex<HashMap<String, u64>>>);

/// Per-thread count of lock acquisitions (not timed: the time threads spend blocked is
/// measured from outside, the same way for every pipeline; see `steady.rs`).
#[derive(Default)]
struct LockClock {
    acquisitions: u64,
}

impl Metrics {
    fn new() -> Self {
        let keys = [
            "ticks_in",
            "ticks_processed",
            "rows",
            "batches",
            "signals",
            "latency_ns_sum",
            "latency_ns_max",
        ];
        Self(Arc::new(Mutex::new(
            keys.into_iter().map(|k| (k.to_owned(), 0)).collect(),
        )))
    }

    /// Locks the map and runs `f` on it, counting the acquisition.
    fn with<R>(&self, clock: &mut LockClock, f: impl FnOnce(&mut HashMap<String, u64>) -> R) -> R {
        clock.acquisitions += 1;
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut map)
    }

    /// Adds `n` to the counter `key`.
    fn add(&self, clock: &mut LockClock, key: &str, n: u64) {
        self.with(clock, |m| add(m, key, n));
    }
}

fn add(map: &mut HashMap<String, u64>, key: &str, n: u64) {
    match map.get_mut(key) {
        Some(v) => *v += n,
        None => {
            map.insert(key.to_owned(), n);
        }
    }
}

/// Runs the origin-style pipeline until the feed ends, sending signals to `sink`. `thread_start`
/// runs first on each of its threads (the calling thread included), e.g. to mark them for a
/// counting allocator.
///
/// # Errors
/// [`PipelineError`] for what stopped the run (feed, kernel or sink failure).
pub fn run<F: Feed>(
    feed: F,
    sink: &mut dyn Sink,
    config: &PipelineConfig,
    thread_start: &(dyn Fn() + Sync),
    progress: &(dyn Fn(u64) + Sync),
) -> Result<OriginReport, PipelineError> {
    if config.batch_rows == 0 || config.pool_batches == 0 || config.ring_capacity == 0 {
        return Err(PipelineError::Config(
            "batch_rows, pool_batches and ring_capacity must be at least 1".into(),
        ));
    }
    let metrics = Metrics::new();
    let (tick_tx, tick_rx) = sync_channel::<(Tick, Instant)>(config.ring_capacity);
    let (batch_tx, batch_rx) = sync_channel::<(usize, Vec<Row>)>(config.pool_batches);
    let features = FeatureStage::new(config.features, config.symbols_hint);
    let batch_rows = config.batch_rows;
    let mut compute = ComputeStage::new(config.compute, Kernels::active(), batch_rows)
        .map_err(PipelineError::Compute)?;

    std::thread::scope(|scope| {
        let feed_metrics = metrics.clone();
        let feeder = scope.spawn(move || {
            thread_start();
            feed_thread(feed, &tick_tx, &feed_metrics)
        });
        let feature_metrics = metrics.clone();
        let featurer = scope.spawn(move || {
            thread_start();
            let shards = config.compute.shards;
            feature_thread(
                features,
                &tick_rx,
                &batch_tx,
                batch_rows,
                shards,
                &feature_metrics,
                progress,
            )
        });
        thread_start();
        let computed = compute_thread(&mut compute, &batch_rx, batch_rows, sink, &metrics);
        // Unblock the other threads if the compute thread stopped early.
        drop(batch_rx);
        let featured = join(featurer);
        let fed = join(feeder);
        let (ticks_in, feed_clock) = fed?;
        let (ticks, batches, feature_clock) = featured;
        let (vectors, checksum, compute_clock) = computed?;
        sink.flush().map_err(PipelineError::Sink)?;
        debug_assert_eq!(ticks_in, ticks);
        let clocks = [feed_clock, feature_clock, compute_clock];
        let map = metrics.0.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(OriginReport {
            ticks,
            vectors,
            batches,
            lock_acquisitions: clocks.iter().map(|c| c.acquisitions).sum(),
            checksum,
            metrics: map.clone(),
        })
    })
}

fn join<T>(h: std::thread::ScopedJoinHandle<'_, T>) -> T {
    match h.join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Reads the feed and sends every tick on, stamped with the time it was read.
fn feed_thread<F: Feed>(
    mut feed: F,
    tx: &SyncSender<(Tick, Instant)>,
    metrics: &Metrics,
) -> Result<(u64, LockClock), PipelineError> {
    let mut clock = LockClock::default();
    let mut ticks = 0u64;
    loop {
        match feed.next_event().map_err(PipelineError::Feed)? {
            FeedEvent::Tick(tick) => {
                ticks += 1;
                metrics.add(&mut clock, "ticks_in", 1);
                if tx.send((tick, Instant::now())).is_err() {
                    break; // the feature thread is gone; the compute thread reports why
                }
            }
            // Rejections are the feed's business; the synthetic feed makes none.
            // Only trades feed the baseline pipelines.
            FeedEvent::Quote(_)
            | FeedEvent::BookDelta(_)
            | FeedEvent::SnapshotLevel(_)
            | FeedEvent::Rejected(_)
            | FeedEvent::Idle => {}
            FeedEvent::End => break,
        }
    }
    Ok((ticks, clock))
}

/// Updates the features on every tick; each row due is written into a fresh `Vec` and
/// collected into its compute shard's batch of `batch_rows`, the last ones partial.
fn feature_thread(
    mut features: FeatureStage,
    rx: &Receiver<(Tick, Instant)>,
    tx: &SyncSender<(usize, Vec<Row>)>,
    batch_rows: usize,
    shards: usize,
    metrics: &Metrics,
    progress: &(dyn Fn(u64) + Sync),
) -> (u64, u64, LockClock) {
    let mut clock = LockClock::default();
    let (mut ticks, mut batches) = (0u64, 0u64);
    let mut pending: Vec<Vec<Row>> = (0..shards)
        .map(|_| Vec::with_capacity(batch_rows))
        .collect();
    for (tick, read_at) in rx {
        ticks += 1;
        metrics.add(&mut clock, "ticks_processed", 1);
        if ticks.is_multiple_of(65_536) {
            progress(ticks);
        }
        if !features.update(&tick) {
            continue;
        }
        let mut values = vec![0.0; WIDTH];
        features.write_row(tick.symbol, &mut values);
        let shard = tick.symbol as usize % shards;
        let batch = &mut pending[shard];
        batch.push(Row {
            ts_ns: tick.ts_ns,
            symbol: tick.symbol,
            read_at,
            values,
        });
        metrics.add(&mut clock, "rows", 1);
        if batch.len() == batch_rows {
            batches += 1;
            let full = std::mem::replace(batch, Vec::with_capacity(batch_rows));
            if tx.send((shard, full)).is_err() {
                return (ticks, batches, clock);
            }
        }
    }
    for (shard, batch) in pending.into_iter().enumerate() {
        if !batch.is_empty() {
            batches += 1;
            // An error means the compute thread stopped and reports why.
            let _ = tx.send((shard, batch));
        }
    }
    (ticks, batches, clock)
}

/// Runs the compute steps on every row of every batch and hands the signals to the sink.
fn compute_thread(
    compute: &mut ComputeStage,
    rx: &Receiver<(usize, Vec<Row>)>,
    batch_rows: usize,
    sink: &mut dyn Sink,
    metrics: &Metrics,
) -> Result<(u64, u64, LockClock), PipelineError> {
    let mut clock = LockClock::default();
    let mut digest = SignalDigest::default();
    let mut vectors = 0u64;
    for (shard, batch) in rx {
        let values =
            compute_batch(compute, shard, &batch, batch_rows).map_err(PipelineError::Compute)?;
        let signals: Vec<Signal> = batch
            .iter()
            .zip(values)
            .map(|(row, value)| Signal {
                ts_ns: row.ts_ns,
                symbol: row.symbol,
                value,
            })
            .collect();
        for (signal, row) in signals.iter().zip(&batch) {
            sink.emit(signal).map_err(PipelineError::Sink)?;
            digest.add(signal);
            let latency_ns = row.read_at.elapsed().as_nanos() as u64;
            metrics.with(&mut clock, |m| {
                add(m, "signals", 1);
                add(m, "latency_ns_sum", latency_ns);
                if let Some(max) = m.get_mut("latency_ns_max") {
                    *max = (*max).max(latency_ns);
                }
            });
        }
        vectors += batch.len() as u64;
        metrics.add(&mut clock, "batches", 1);
    }
    Ok((vectors, digest.finish(), clock))
}

/// The compute steps of `ComputeStage::process`, in its order, each row step on a fresh copy
/// of the previous step's output, then the batch copied into a fresh `batch_rows x WIDTH`
/// matrix (the shape the projection runs at) for projection and read-out.
fn compute_batch(
    compute: &mut ComputeStage,
    shard: usize,
    batch: &[Row],
    batch_rows: usize,
) -> Result<Vec<f64>, ComputeError> {
    let mut squashed_rows = Vec::with_capacity(batch.len());
    for row in batch {
        let mut normalized = row.values.clone();
        compute.normalize_row(shard, &mut normalized)?;
        let mut filtered = normalized.clone();
        compute.filter_row(&mut filtered)?;
        let mut squashed = filtered.clone();
        compute.squash_row(&mut squashed);
        squashed_rows.push(squashed);
    }
    let mut matrix = vec![0.0; batch_rows * WIDTH];
    for (dst, src) in matrix.chunks_exact_mut(WIDTH).zip(&squashed_rows) {
        dst.copy_from_slice(src);
    }
    let mut signals = vec![0.0; batch.len()];
    compute.project_and_read_out(shard, &matrix, batch.len(), &mut signals)?;
    Ok(signals)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{config, feed, zerotick_run};
    use zerotick_core::NullSink;

    #[test]
    fn same_signals_as_the_zerotick_pipeline() {
        let config = config();
        for seed in [1, 42] {
            let after = zerotick_run(seed, 40_000, &config);
            let before =
                run(feed(seed, 40_000), &mut NullSink, &config, &|| {}, &|_| {}).expect("origin");
            assert!(after.vectors > 100, "{after:?}");
            assert_eq!(before.vectors, after.vectors);
            assert_eq!(before.ticks, after.ticks_processed);
            assert_eq!(before.checksum, after.checksum, "seed {seed}");
            assert_eq!(before.metrics["ticks_in"], 40_000);
            assert_eq!(before.metrics["ticks_processed"], 40_000);
            assert_eq!(before.metrics["rows"], before.vectors);
            assert_eq!(before.metrics["signals"], before.vectors);
            assert_eq!(before.metrics["batches"], before.batches);
            assert!(before.lock_acquisitions >= 80_000);
        }
    }

    #[test]
    fn checksum_depends_on_the_signals() {
        let config = PipelineConfig::default();
        let a = run(feed(1, 20_000), &mut NullSink, &config, &|| {}, &|_| {}).expect("origin");
        let b = run(feed(2, 20_000), &mut NullSink, &config, &|| {}, &|_| {}).expect("origin");
        assert_ne!(a.checksum, b.checksum);
    }

    #[test]
    fn zero_sizes_are_refused() {
        let config = PipelineConfig {
            batch_rows: 0,
            ..PipelineConfig::default()
        };
        assert!(matches!(
            run(feed(1, 10), &mut NullSink, &config, &|| {}, &|_| {}),
            Err(PipelineError::Config(_))
        ));
    }
}

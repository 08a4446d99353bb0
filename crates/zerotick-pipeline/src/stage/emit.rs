//! [`Emitter`]: hands a computed job's signals to the sink, folds them into the run
//! checksum, records their latency, and publishes the acknowledgement watermark.

use std::sync::atomic::Ordering;

use zerotick_core::{FeatureRecord, Signal, SignalDigest, Sink};
use zerotick_mem::PoolGuard;

use super::Link;
use crate::PipelineError;
use crate::job::Job;
use crate::metrics::Metrics;
use crate::rows::Emit;

/// The sink end of the feature thread.
pub(crate) struct Emitter<'a> {
    pub(crate) sink: &'a mut dyn Sink,
    /// The run checksum.
    pub(crate) digest: SignalDigest,
    pub(crate) vectors: u64,
    pub(crate) batches: u64,
    /// Flush the sink after every batch (the feed acknowledges what was emitted).
    pub(crate) flush_sink: bool,
    /// What goes to the sink.
    pub(crate) emit: Emit,
    /// Feature values per row in `Job::features` (0 unless feature values are emitted).
    pub(crate) feature_width: usize,
    pub(crate) m: &'a Metrics,
    pub(crate) link: &'a Link,
}

impl Emitter<'_> {
    /// `--emit features|both`: one record per row; the checksum digests what the sink got
    /// (each feature value, as a signal of the row's time and symbol, then the signal).
    fn emit_rows(&mut self, job: &Job, rows: usize) -> Result<(), PipelineError> {
        let w = self.feature_width;
        let both = self.emit == Emit::Both;
        for (i, meta) in job.metas[..rows].iter().enumerate() {
            let values = &job.features[i * w..(i + 1) * w];
            let record = FeatureRecord {
                ts_ns: meta.ts_ns,
                symbol: meta.symbol,
                values,
                signal: both.then(|| job.signals[i]),
            };
            self.sink.emit_row(&record).map_err(PipelineError::Sink)?;
            for &value in values.iter().chain(&record.signal) {
                self.digest.add(&Signal {
                    ts_ns: meta.ts_ns,
                    symbol: meta.symbol,
                    value,
                });
            }
        }
        Ok(())
    }

    /// Emits a computed job's signals and returns it to the pool. `done` is the number of
    /// ticks whose signals are now all out (every tick before the oldest row still pending
    /// or in flight); it is published for the feed's acknowledgements.
    pub(crate) fn complete(
        &mut self,
        mut job: PoolGuard<'_, Job>,
        done: u64,
    ) -> Result<(), PipelineError> {
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
            if self.emit == Emit::Signals {
                self.sink
                    .emit_seq(&signal, meta.seq)
                    .map_err(PipelineError::Sink)?;
                self.digest.add(&signal);
            }
        }
        if self.emit != Emit::Signals {
            self.emit_rows(&job, rows)?;
        }
        let now = self.link.now_ns();
        m.emit.record(now.saturating_sub(job.compute_end_ns).max(1));
        for meta in &job.metas[..rows] {
            let latency = now.saturating_sub(meta.read_ns).max(1);
            m.latency.record(latency);
            m.arrival_latency
                .record(latency.saturating_add(meta.late_ns));
        }
        drop(job);
        self.vectors += rows as u64;
        self.batches += 1;
        m.rows.add(rows as u64);
        m.batches.inc();
        if self.flush_sink {
            self.sink.flush().map_err(PipelineError::Sink)?;
        }
        // Release: pairs with the feed thread's Acquire load before it acknowledges.
        self.link.done.0.fetch_max(done, Ordering::Release);
        Ok(())
    }
}

//! The compute stage: streaming per-column normalisation of a batch, SIMD squashing, and a
//! linear read-out to one signal per row. Everything in place in the pooled batch.

use zerotick_kernels::{ColumnStats, KernelError, Kernels, NanPolicy, ZeroVariance};
use zerotick_mem::Batch;

use crate::features::WIDTH;
use crate::rng::Rng;

/// Settings of the compute stage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ComputeConfig {
    /// Seed of the read-out weights.
    pub seed: u64,
    /// Multiplier applied after squashing.
    pub scale: f64,
}

impl Default for ComputeConfig {
    fn default() -> Self {
        Self {
            seed: 7,
            scale: 1.0,
        }
    }
}

/// Normalise, squash, read out. State is allocated at construction.
#[derive(Debug, Clone)]
pub struct ComputeStage {
    kernels: Kernels,
    stats: ColumnStats,
    weights: Box<[f64]>,
    scale: f64,
}

impl ComputeStage {
    /// A stage for [`WIDTH`]-wide rows; read-out weights drawn from `config.seed`, scaled so a
    /// row of unit-variance values gives a signal of about unit variance.
    pub fn new(config: ComputeConfig, kernels: Kernels) -> Self {
        let mut rng = Rng::new(config.seed);
        let norm = 1.0 / (WIDTH as f64).sqrt();
        let weights = (0..WIDTH).map(|_| rng.normal_pair().0 * norm).collect();
        Self {
            kernels,
            stats: ColumnStats::new(WIDTH),
            weights,
            scale: config.scale,
        }
    }

    /// Rows seen so far by the running statistics of column 0.
    pub fn rows_seen(&self) -> u64 {
        self.stats.moments(0).map_or(0, |m| m.count)
    }

    /// Processes the filled rows of `batch` in place and writes one signal per row into
    /// `signals[..batch.len_rows()]`.
    ///
    /// # Errors
    /// [`KernelError`] if the batch is not [`WIDTH`] wide or `signals` is too short.
    pub fn process(&mut self, batch: &mut Batch, signals: &mut [f64]) -> Result<(), KernelError> {
        let rows = batch.len_rows();
        if signals.len() < rows {
            return Err(KernelError::LengthMismatch {
                expected: rows,
                got: signals.len(),
            });
        }
        for (i, signal) in signals[..rows].iter_mut().enumerate() {
            let row = batch.row_mut(i);
            self.normalize_row(row)?;
            self.squash_row(row);
            *signal = self.read_out(row)?;
        }
        Ok(())
    }

    /// Step 1: streaming Welford/Chan normalisation, one row at a time: the row joins the
    /// running statistics, then is scaled by them. Row by row (not batch by batch) so a row's
    /// signal depends only on the rows before it, never on where batches were cut: the output
    /// is the same whatever the timing.
    ///
    /// # Errors
    /// [`KernelError`] if `row` is not [`WIDTH`] long.
    pub fn normalize_row(&mut self, row: &mut [f64]) -> Result<(), KernelError> {
        let k = self.kernels;
        self.stats.update(&k, row, 1, WIDTH, NanPolicy::Skip)?;
        self.stats
            .normalize_rows_in_place(&k, row, 1, WIDTH, ZeroVariance::Zero)
    }

    /// Step 2: SIMD squashing by `tanh`, in place.
    pub fn squash_row(&self, row: &mut [f64]) {
        self.kernels.tanh_in_place(row);
    }

    /// Step 3: the linear read-out of a squashed row to its signal.
    ///
    /// # Errors
    /// [`KernelError`] if `row` is not [`WIDTH`] long.
    pub fn read_out(&self, row: &[f64]) -> Result<f64, KernelError> {
        Ok(self.scale * self.kernels.dot(row, &self.weights)?)
    }
}

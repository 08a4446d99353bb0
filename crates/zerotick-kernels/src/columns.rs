//! [`ColumnStats`]: streaming per-column mean and variance of row-major batches, vectorised
//! across columns, and normalisation of rows with them.

use zerotick_mem::{AlignedBuf, AllocError, Batch};

use crate::error::KernelError;
use crate::simd::{Kernels, multiversion};
use crate::stats::{Moments, NanPolicy, ZeroVariance};

/// Running statistics of every column of a stream of row-major batches.
///
/// Each [`update`](Self::update) folds a whole batch in (two passes over its rows, each
/// vectorised across columns, then one Chan merge per column), so per-thread states can also
/// be merged exactly ([`merge`](Self::merge)). All memory is allocated at construction:
/// updating and normalising allocate nothing.
///
/// ```
/// use zerotick_kernels::{ColumnStats, Kernels, NanPolicy, ZeroVariance};
///
/// let k = Kernels::active();
/// let mut stats = ColumnStats::new(3);
/// // Two rows of width 3, stride 3.
/// stats.update(&k, &[1.0, 10.0, 5.0, 3.0, 30.0, 5.0], 2, 3, NanPolicy::Skip)?;
/// assert_eq!(stats.moments(1).map(|m| m.mean), Some(20.0));
/// let mut rows = [2.0, 20.0, 6.0];
/// stats.normalize_rows_in_place(&k, &mut rows, 1, 3, ZeroVariance::Zero)?;
/// assert_eq!(rows, [0.0, 0.0, 0.0]);
/// # Ok::<(), zerotick_kernels::KernelError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ColumnStats {
    width: usize,
    /// Per column: values seen (as `f64`, exact below 2^53), mean, m2.
    count: AlignedBuf<f64>,
    mean: AlignedBuf<f64>,
    m2: AlignedBuf<f64>,
    /// Scratch for one update: batch count, sum / mean, sum of squared and of plain deviations.
    scratch: [AlignedBuf<f64>; 4],
}

impl ColumnStats {
    /// State for rows of `width` values, with nothing seen yet.
    ///
    /// # Errors
    /// [`AllocError`] if the buffers cannot be allocated.
    pub fn try_new(width: usize) -> Result<Self, AllocError> {
        let buf = || AlignedBuf::<f64>::try_zeroed(width);
        Ok(Self {
            width,
            count: buf()?,
            mean: buf()?,
            m2: buf()?,
            scratch: [buf()?, buf()?, buf()?, buf()?],
        })
    }

    /// State for rows of `width` values.
    ///
    /// # Panics
    /// If the allocation fails; see [`try_new`](Self::try_new).
    #[track_caller]
    pub fn new(width: usize) -> Self {
        match Self::try_new(width) {
            Ok(s) => s,
            Err(e) => panic!("ColumnStats::new({width}): {e}"),
        }
    }

    /// Values per row.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The statistics of column `j`, `None` past the last column.
    pub fn moments(&self, j: usize) -> Option<Moments> {
        (j < self.width).then(|| Moments {
            count: self.count[j] as u64,
            mean: self.mean[j],
            m2: self.m2[j],
        })
    }

    /// Forgets everything seen.
    pub fn reset(&mut self) {
        for b in [&mut self.count, &mut self.mean, &mut self.m2] {
            b.as_capacity_slice_mut().fill(0.0);
        }
    }

    /// Folds in `rows` rows of `data`, row `r` at `data[r * stride..][..width]`.
    ///
    /// # Errors
    /// [`KernelError::BadShape`] if the rows do not fit `data` or `stride < width`; the state
    /// is unchanged.
    pub fn update(
        &mut self,
        k: &Kernels,
        data: &[f64],
        rows: usize,
        stride: usize,
        nan: NanPolicy,
    ) -> Result<(), KernelError> {
        check_shape(data.len(), rows, self.width, stride)?;
        let [bc, bs, bq, bl] = &mut self.scratch;
        update_v(
            k.tier(),
            data,
            rows,
            stride,
            nan == NanPolicy::Skip,
            [&mut self.count, &mut self.mean, &mut self.m2],
            [bc, bs, bq, bl],
        );
        Ok(())
    }

    /// Folds in the filled rows of a pooled [`Batch`].
    ///
    /// # Errors
    /// [`KernelError::LengthMismatch`] if the batch width differs from this state's.
    pub fn update_batch(
        &mut self,
        k: &Kernels,
        batch: &Batch,
        nan: NanPolicy,
    ) -> Result<(), KernelError> {
        if batch.width() != self.width {
            return Err(KernelError::LengthMismatch {
                expected: self.width,
                got: batch.width(),
            });
        }
        let data = batch.as_strided();
        // The last row needs only `width` elements; `as_strided` holds whole strides.
        self.update(k, data, batch.len_rows(), batch.stride(), nan)
    }

    /// Merges another state of the same width into this one (Chan's update per column).
    ///
    /// # Errors
    /// [`KernelError::LengthMismatch`] if the widths differ.
    pub fn merge(&mut self, other: &ColumnStats) -> Result<(), KernelError> {
        if other.width != self.width {
            return Err(KernelError::LengthMismatch {
                expected: self.width,
                got: other.width,
            });
        }
        for j in 0..self.width {
            let m = self
                .moments(j)
                .unwrap_or_default()
                .merge(&other.moments(j).unwrap_or_default());
            self.count[j] = m.count as f64;
            self.mean[j] = m.mean;
            self.m2[j] = m.m2;
        }
        Ok(())
    }

    /// Z-scores `rows` rows of `data` in place, column by column, with this state's means and
    /// population standard deviations.
    ///
    /// # Errors
    /// [`KernelError::BadShape`] for a bad shape, [`KernelError::Empty`] if a column has no
    /// value yet, [`KernelError::ZeroVariance`] if a column has zero variance under
    /// [`ZeroVariance::Error`]. Nothing is written on error.
    pub fn normalize_rows_in_place(
        &mut self,
        k: &Kernels,
        data: &mut [f64],
        rows: usize,
        stride: usize,
        zero_variance: ZeroVariance,
    ) -> Result<(), KernelError> {
        check_shape(data.len(), rows, self.width, stride)?;
        let inv = &mut self.scratch[0];
        for j in 0..self.width {
            let m = Moments {
                count: self.count[j] as u64,
                mean: self.mean[j],
                m2: self.m2[j],
            };
            inv[j] = crate::stats::inv_std(&m, zero_variance)?.0;
        }
        normalize_rows_v(k.tier(), data, rows, stride, &self.mean, inv);
        Ok(())
    }
}

fn check_shape(len: usize, rows: usize, width: usize, stride: usize) -> Result<(), KernelError> {
    let bad = KernelError::BadShape {
        rows,
        width,
        stride,
        len,
    };
    if stride < width {
        return Err(bad);
    }
    // The last row only needs `width` elements.
    let needed = match rows {
        0 => 0,
        r => (r - 1)
            .checked_mul(stride)
            .and_then(|n| n.checked_add(width))
            .ok_or(bad)?,
    };
    if needed > len { Err(bad) } else { Ok(()) }
}

multiversion! {
    fn update_v(
        data: &[f64],
        rows: usize,
        stride: usize,
        skip_nan: bool,
        state: [&mut AlignedBuf<f64>; 3],
        scratch: [&mut AlignedBuf<f64>; 4],
    ) -> () {
        let [count, mean, m2] = state;
        let [bc, bs, bq, bl] = scratch;
        let w = count.len();
        let valid = |v: f64| !skip_nan || !v.is_nan();
        for b in [&mut *bc, &mut *bs, &mut *bq, &mut *bl] {
            b.fill(0.0);
        }
        // Pass 1: count and sum per column.
        for r in 0..rows {
            let row = &data[r * stride..r * stride + w];
            for j in 0..w {
                let ok = valid(row[j]);
                bc[j] += if ok { 1.0 } else { 0.0 };
                bs[j] += if ok { row[j] } else { 0.0 };
            }
        }
        for j in 0..w {
            bs[j] = if bc[j] > 0.0 { bs[j] / bc[j] } else { 0.0 };
        }
        // Pass 2: squared and plain deviations from the batch mean.
        for r in 0..rows {
            let row = &data[r * stride..r * stride + w];
            for j in 0..w {
                let d = if valid(row[j]) { row[j] - bs[j] } else { 0.0 };
                bq[j] += d * d;
                bl[j] += d;
            }
        }
        // Chan merge of the batch (count bc, mean bs + bl/bc, m2 bq - bl^2/bc) per column.
        for j in 0..w {
            let nb = bc[j];
            let (mb, m2b) = if nb > 0.0 {
                (bs[j] + bl[j] / nb, bq[j] - bl[j] * bl[j] / nb)
            } else {
                (0.0, 0.0)
            };
            let na = count[j];
            let n = na + nb;
            let delta = mb - mean[j];
            let frac = if n > 0.0 { nb / n } else { 0.0 };
            mean[j] += delta * frac;
            m2[j] += m2b + delta * delta * na * frac;
            count[j] = n;
        }
    }
}

multiversion! {
    fn normalize_rows_v(data: &mut [f64], rows: usize, stride: usize, mean: &[f64], inv_std: &[f64]) -> () {
        let w = mean.len();
        for r in 0..rows {
            let row = &mut data[r * stride..r * stride + w];
            for j in 0..w {
                row[j] = (row[j] - mean[j]) * inv_std[j];
            }
        }
    }
}

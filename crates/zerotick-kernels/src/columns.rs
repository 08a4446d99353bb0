//! [`ColumnStats`]: streaming per-column mean and variance of row-major batches, vectorised
//! across columns, and normalisation of rows with them.

use zerotick_mem::{AlignedBuf, AllocError, Batch};

use crate::error::KernelError;
use crate::simd::{Kernels, multiversion};
use crate::stats::{M2_TINY, Moments, NanPolicy, ZeroVariance};

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
    /// Per column: values seen (as `f64`, exact below 2^53).
    count: AlignedBuf<f64>,
    /// Per column: the mean as an unevaluated sum `mean + mean_lo` (a double-double; `mean`
    /// is also the exact shift each batch is centred on). Invariant: `|mean_lo| <=
    /// ulp(mean) / 2`, and both are 0 while `count == 0`. Keeping the low part is what makes
    /// the merges exact at large offsets: a running mean rounded at 1e12 would be off by
    /// ~1e-4, and every later merge would carry that error into `m2`.
    mean: AlignedBuf<f64>,
    mean_lo: AlignedBuf<f64>,
    /// Per column: sum of squared deviations from the mean; `+inf` if they overflowed.
    m2: AlignedBuf<f64>,
    /// Per column: 1.0 once a batch's deviations were so small their squares may have
    /// underflowed (data spread below ~1e-150); `m2` is then only trusted above
    /// [`M2_TINY`].
    tiny: AlignedBuf<f64>,
    /// Scratch for one update: batch count, mean (relative to `mean`), sum of squared and of
    /// plain deviations.
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
            mean_lo: buf()?,
            m2: buf()?,
            tiny: buf()?,
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
            mean: self.mean[j] + self.mean_lo[j],
            m2: self.m2[j],
        })
    }

    /// Forgets everything seen.
    pub fn reset(&mut self) {
        for b in [
            &mut self.count,
            &mut self.mean,
            &mut self.mean_lo,
            &mut self.m2,
            &mut self.tiny,
        ] {
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
        let skip = nan == NanPolicy::Skip;
        let [bc, bs, bq, bl] = &mut self.scratch;
        for j in 0..self.width {
            if self.count[j] == 0.0 {
                // The exact shift a new column is centred on: its first finite value.
                self.mean[j] = first_finite(data, rows, stride, j);
                self.mean_lo[j] = 0.0;
            }
        }
        update_v(
            *k,
            data,
            rows,
            stride,
            skip,
            [
                &mut self.count,
                &mut self.mean,
                &mut self.mean_lo,
                &mut self.m2,
            ],
            [bc, bs, bq, bl],
        );
        for j in 0..self.width {
            // `bq`: the batch's sum of squared deviations. Small only for a (nearly)
            // constant column; then look whether it was constant or lost bits. `bl`: the
            // between-groups term of the merge was tiny but not zero.
            let [_, _, bq, bl] = &self.scratch;
            if bl[j] != 0.0
                || (rows > 1 && bq[j] < M2_TINY && !constant(data, rows, stride, j, skip))
            {
                self.tiny[j] = 1.0;
            }
        }
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
            let (na, nb) = (self.count[j], other.count[j]);
            if nb == 0.0 {
                continue;
            }
            if na == 0.0 {
                self.count[j] = nb;
                self.mean[j] = other.mean[j];
                self.mean_lo[j] = other.mean_lo[j];
                self.m2[j] = other.m2[j];
                self.tiny[j] = other.tiny[j];
                continue;
            }
            // Chan's update on the double-double means: the difference of the high parts
            // is exact for nearby means (Sterbenz), the low parts carry the rest.
            let n = na + nb;
            let delta = (other.mean[j] - self.mean[j]) + (other.mean_lo[j] - self.mean_lo[j]);
            let frac = nb / n;
            let (hi, lo) = two_sum(self.mean[j], self.mean_lo[j] + delta * frac);
            self.mean[j] = hi;
            self.mean_lo[j] = lo;
            let between = delta * delta * (na * frac);
            self.m2[j] += other.m2[j] + between;
            self.count[j] = n;
            let lost = delta != 0.0 && between < M2_TINY;
            self.tiny[j] = if lost {
                1.0
            } else {
                self.tiny[j].max(other.tiny[j])
            };
        }
        Ok(())
    }

    /// Z-scores `rows` rows of `data` in place, column by column, with this state's means and
    /// population standard deviations.
    ///
    /// # Errors
    /// [`KernelError::BadShape`] for a bad shape, [`KernelError::Empty`] if a column has no
    /// value yet, [`KernelError::ZeroVariance`] if a column has zero variance under
    /// [`ZeroVariance::Error`], [`KernelError::OutOfRange`] if a column's squared deviations
    /// overflowed (spread above ~1e154) or underflowed (spread below ~1e-150) on finite
    /// data. Nothing is written on error.
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
            if self.tiny[j] != 0.0 && m.m2 < M2_TINY {
                return Err(KernelError::OutOfRange);
            }
            inv[j] = crate::stats::inv_std(&m, zero_variance)?.0;
        }
        normalize_rows_v(*k, data, rows, stride, [&self.mean, &self.mean_lo, inv]);
        Ok(())
    }
}

/// Whether `rows` rows of `width` values, `stride` apart, fit in `len` elements (overflow-safe).
pub(crate) fn check_shape(
    len: usize,
    rows: usize,
    width: usize,
    stride: usize,
) -> Result<(), KernelError> {
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

/// `a + b = hi + lo` exactly (Knuth's two-sum: no ordering of `|a|`, `|b|` assumed).
#[inline(always)]
pub(crate) fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let hi = a + b;
    let bb = hi - a;
    (hi, (a - (hi - bb)) + (b - bb))
}

/// Column `j`'s first finite value over the rows (NaN and infinities skipped); 0 if none.
fn first_finite(data: &[f64], rows: usize, stride: usize, j: usize) -> f64 {
    (0..rows)
        .map(|r| data[r * stride + j])
        .find(|v| v.is_finite())
        .unwrap_or(0.0)
}

/// Whether column `j` holds one value over the rows (NaNs left out when skipped).
#[cold]
#[inline(never)]
fn constant(data: &[f64], rows: usize, stride: usize, j: usize, skip_nan: bool) -> bool {
    let mut used = (0..rows)
        .map(|r| data[r * stride + j])
        .filter(|v| !skip_nan || !v.is_nan());
    match used.next() {
        None => true,
        Some(first) => used.all(|v| v == first),
    }
}

multiversion! {
    fn update_v(
        data: &[f64],
        rows: usize,
        stride: usize,
        skip_nan: bool,
        state: [&mut AlignedBuf<f64>; 4],
        scratch: [&mut AlignedBuf<f64>; 4],
    ) -> () {
        let [count, mean, mean_lo, m2] = state;
        let [bc, bs, bq, bl] = scratch;
        let w = count.len();
        let valid = |v: f64| !skip_nan || !v.is_nan();
        for b in [&mut *bc, &mut *bs, &mut *bq, &mut *bl] {
            b.fill(0.0);
        }
        // Every value is taken relative to the column's running mean `mean[j]` (an exact
        // shift): sums stay at the scale of the deviations, whatever the offset.
        // Pass 1: count and sum of shifted values per column.
        // Zipped iterators, not indices: one length for every slice, so the loops carry no
        // bounds checks and vectorise (the indexed form ran ~10 ns a value in the pipeline).
        for r in 0..rows {
            let row = &data[r * stride..r * stride + w];
            for (((c, s), &x), &m) in bc.iter_mut().zip(bs.iter_mut()).zip(row).zip(mean.iter()) {
                let ok = valid(x);
                *c += if ok { 1.0 } else { 0.0 };
                *s += if ok { x - m } else { 0.0 };
            }
        }
        for j in 0..w {
            bs[j] = if bc[j] > 0.0 { bs[j] / bc[j] } else { 0.0 };
        }
        // Pass 2: squared and plain deviations from the batch mean.
        for r in 0..rows {
            let row = &data[r * stride..r * stride + w];
            let cols = bq.iter_mut().zip(bl.iter_mut()).zip(row).zip(mean.iter()).zip(bs.iter());
            for ((((q, l), &x), &m), &b) in cols {
                let d = if valid(x) { (x - m) - b } else { 0.0 };
                *q += d * d;
                *l += d;
            }
        }
        // Chan merge of the batch (count nb, mean mean + mb, m2 m2b) per column.
        for j in 0..w {
            let nb = bc[j];
            let (mb, m2b) = if nb > 0.0 {
                let m2b = if bq[j].is_finite() { bq[j] - bl[j] * (bl[j] / nb) } else { bq[j] };
                (bs[j] + bl[j] / nb, m2b.max(0.0))
            } else {
                (0.0, 0.0)
            };
            let na = count[j];
            let n = na + nb;
            let delta = mb - mean_lo[j];
            let frac = if n > 0.0 { nb / n } else { 0.0 };
            // With nothing seen before (`na == 0`) there is no between-groups term; computing
            // it anyway is `inf * 0 = NaN` once `delta^2` overflows (issue 12).
            let between = if na > 0.0 && nb > 0.0 { delta * delta * (na * frac) } else { 0.0 };
            let (hi, lo) = two_sum(mean[j], mean_lo[j] + delta * frac);
            mean[j] = hi;
            mean_lo[j] = lo;
            m2[j] += m2b + between;
            count[j] = n;
            // Whether the between-groups term may have underflowed (for `update` to record).
            bl[j] = if delta != 0.0 && between < M2_TINY && na > 0.0 && nb > 0.0 { 1.0 } else { 0.0 };
        }
    }
}

multiversion! {
    fn normalize_rows_v(data: &mut [f64], rows: usize, stride: usize, stats: [&[f64]; 3]) -> () {
        let [mean, mean_lo, inv_std] = stats;
        let w = mean.len();
        for r in 0..rows {
            let row = &mut data[r * stride..r * stride + w];
            for j in 0..w {
                row[j] = ((row[j] - mean[j]) - mean_lo[j]) * inv_std[j];
            }
        }
    }
}

//! Mean and variance by Welford's method and Chan et al.'s merge, and in-place z-score
//! normalisation.
//!
//! # Algorithm
//! A slice is cut into blocks of [`BLOCK`] values. Each block's mean and sum of squared
//! deviations (`m2`) come from an exact two-pass computation in L1 cache, corrected by the
//! sum of deviations (Björck's correction, which cancels the rounding of the block mean);
//! blocks then merge into the running [`Moments`] with Chan et al.'s pairwise update, which is
//! exact in exact arithmetic and stable in floating point. Nothing divides per element (as
//! textbook Welford does), so the passes vectorise; the result is as stable as Welford's: the
//! tests check data offset by 1e9, where the naive `E[x^2] - E[x]^2` loses every digit.
//!
//! # Policies
//! * NaN: [`NanPolicy::Propagate`] lets NaN flow through (the statistics and so every output
//!   become NaN); [`NanPolicy::Skip`] leaves NaNs out of the statistics, counts them, and leaves
//!   them as NaN in the output.
//! * Zero variance: never a silent division by zero. [`ZeroVariance::Error`] refuses
//!   ([`KernelError::ZeroVariance`], nothing written); [`ZeroVariance::Zero`] writes 0 (the
//!   centred value) and says so in the [`NormalizeReport`].
//! * Infinities are data: they make the mean or variance infinite or NaN, which then flows
//!   through like NaN under `Propagate`.

use crate::elementwise::{add, map_in_place, reduce};
use crate::error::KernelError;
use crate::math;
use crate::simd::{Kernels, multiversion};

/// Values per block of the two-pass step.
pub const BLOCK: usize = 256;

/// Count, mean and sum of squared deviations from the mean (`m2`) of a set of values.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Moments {
    /// Number of values (NaNs excluded when skipped).
    pub count: u64,
    /// Their mean (0 when `count == 0`).
    pub mean: f64,
    /// Sum of squared deviations from the mean.
    pub m2: f64,
}

impl Moments {
    /// No values.
    pub const EMPTY: Moments = Moments {
        count: 0,
        mean: 0.0,
        m2: 0.0,
    };

    /// Adds one value (Welford's update).
    #[inline]
    pub fn push(&mut self, x: f64) {
        self.count += 1;
        let delta = x - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (x - self.mean);
    }

    /// The moments of both sets together (Chan, Golub and LeVeque's pairwise update).
    #[inline]
    pub fn merge(&self, other: &Moments) -> Moments {
        if other.count == 0 {
            return *self;
        }
        if self.count == 0 {
            return *other;
        }
        let (na, nb) = (self.count as f64, other.count as f64);
        let n = na + nb;
        let delta = other.mean - self.mean;
        Moments {
            count: self.count + other.count,
            mean: self.mean + delta * (nb / n),
            m2: self.m2 + other.m2 + delta * delta * (na * nb / n),
        }
    }

    /// `m2 / count`; `None` when empty.
    pub fn population_variance(&self) -> Option<f64> {
        (self.count > 0).then(|| self.m2 / self.count as f64)
    }

    /// `m2 / (count - 1)`; `None` below two values.
    pub fn sample_variance(&self) -> Option<f64> {
        (self.count > 1).then(|| self.m2 / (self.count - 1) as f64)
    }

    /// Square root of the population variance.
    pub fn population_std(&self) -> Option<f64> {
        self.population_variance().map(f64::sqrt)
    }
}

/// What NaN values do to statistics and normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NanPolicy {
    /// NaN flows through: statistics and outputs become NaN.
    #[default]
    Propagate,
    /// NaNs are left out of the statistics and counted; they stay NaN in the output.
    Skip,
}

/// What normalisation does when the variance is zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ZeroVariance {
    /// Refuse with [`KernelError::ZeroVariance`]; nothing is written.
    #[default]
    Error,
    /// Write 0 (every value equals the mean), and report it.
    Zero,
}

/// How to normalise: the two policies together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NormalizePolicy {
    /// NaN handling.
    pub nan: NanPolicy,
    /// Zero-variance handling.
    pub zero_variance: ZeroVariance,
}

/// What a normalisation did.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct NormalizeReport {
    /// The statistics used.
    pub moments: Moments,
    /// NaN values skipped (always 0 under [`NanPolicy::Propagate`]).
    pub nan_count: u64,
    /// The variance was zero and [`ZeroVariance::Zero`] wrote zeros.
    pub zero_variance: bool,
}

/// Mean and `m2` of one block by the corrected two-pass method; `(moments, nans)`.
#[inline(always)]
fn block_moments(x: &[f64], skip_nan: bool) -> (Moments, u64) {
    let valid = |v: f64| !skip_nan || !v.is_nan();
    let n = if skip_nan {
        reduce(x, 0.0, |a, v| a + if valid(v) { 1.0 } else { 0.0 }, add)
    } else {
        x.len() as f64
    };
    let nans = x.len() as u64 - n as u64;
    if n == 0.0 {
        return (Moments::EMPTY, nans);
    }
    let sum = reduce(x, 0.0, |a, v| a + if valid(v) { v } else { 0.0 }, add);
    let mean = sum / n;
    let dev = |v: f64| if valid(v) { v - mean } else { 0.0 };
    let sq = reduce(
        x,
        0.0,
        |a, v| {
            let d = dev(v);
            a + d * d
        },
        add,
    );
    let lin = reduce(x, 0.0, |a, v| a + dev(v), add);
    // The mean's own rounding shows as a non-zero `lin`; this removes its effect on `m2`.
    let m2 = sq - lin * lin / n;
    let m = Moments {
        count: n as u64,
        mean: mean + lin / n,
        m2: m2.max(0.0),
    };
    // NaN data under `Propagate` must stay NaN, which `max` would hide.
    let m = if m2.is_nan() { Moments { m2, ..m } } else { m };
    (m, nans)
}

multiversion! {
    fn moments_v(x: &[f64], skip_nan: bool) -> (Moments, u64) {
        // Blocks merge relative to the first block's mean, so the running mean stays small
        // and each merge rounds a small number rather than, say, 1e9: the final mean is off
        // by about one rounding of the offset instead of one per block.
        let mut total = Moments::EMPTY;
        let mut shift = None;
        let mut nans = 0;
        for block in x.chunks(BLOCK) {
            let (m, n) = block_moments(block, skip_nan);
            nans += n;
            if m.count > 0 {
                let k = *shift.get_or_insert(m.mean);
                total = total.merge(&Moments { mean: m.mean - k, ..m });
            }
        }
        total.mean += shift.unwrap_or(0.0);
        (total, nans)
    }
}

multiversion! {
    fn affine_v(x: &mut [f64], mean: f64, inv_std: f64) -> () {
        for v in x.iter_mut() {
            *v = (*v - mean) * inv_std;
        }
    }
}

multiversion! {
    fn affine_tanh_scale_v(x: &mut [f64], mean: f64, inv_std: f64, scale: f64) -> () {
        map_in_place(x, |v| math::tanh::<FMA>((v - mean) * inv_std) * scale)
    }
}

impl Kernels {
    /// Count, mean and `m2` of `x`, and the number of NaNs skipped.
    ///
    /// ```
    /// use zerotick_kernels::{Kernels, NanPolicy};
    ///
    /// let k = Kernels::active();
    /// let (m, nans) = k.moments(&[1.0, f64::NAN, 3.0], NanPolicy::Skip);
    /// assert_eq!((m.count, m.mean, m.population_variance(), nans), (2, 2.0, Some(1.0), 1));
    /// ```
    pub fn moments(&self, x: &[f64], nan: NanPolicy) -> (Moments, u64) {
        moments_v(self.tier(), x, nan == NanPolicy::Skip)
    }

    /// Z-scores `x` in place with its own mean and population standard deviation.
    ///
    /// # Errors
    /// [`KernelError::Empty`] with no (non-NaN) value; [`KernelError::ZeroVariance`] under
    /// [`ZeroVariance::Error`]. Nothing is written on error.
    pub fn normalize_in_place(
        &self,
        x: &mut [f64],
        policy: NormalizePolicy,
    ) -> Result<NormalizeReport, KernelError> {
        let (report, inv_std) = self.plan(x, policy)?;
        affine_v(self.tier(), x, report.moments.mean, inv_std);
        Ok(report)
    }

    /// Z-scores `x` in place with statistics gathered elsewhere (a running state).
    ///
    /// # Errors
    /// [`KernelError::Empty`] if `moments` has no value; [`KernelError::ZeroVariance`] under
    /// [`ZeroVariance::Error`].
    pub fn normalize_with_in_place(
        &self,
        x: &mut [f64],
        moments: &Moments,
        zero_variance: ZeroVariance,
    ) -> Result<bool, KernelError> {
        let (inv_std, zero) = inv_std(moments, zero_variance)?;
        affine_v(self.tier(), x, moments.mean, inv_std);
        Ok(zero)
    }

    /// The fused pipeline pass: statistics of `x`, then in one pass
    /// `x[i] = scale * tanh((x[i] - mean) / std)`.
    ///
    /// ```
    /// use zerotick_kernels::{Kernels, NormalizePolicy};
    ///
    /// let mut x: Vec<f64> = (0..1024).map(|i| (i as f64).sin()).collect();
    /// Kernels::active().normalize_tanh_scale_in_place(&mut x, NormalizePolicy::default(), 2.0)?;
    /// assert!(x.iter().all(|v| v.abs() < 2.0));
    /// # Ok::<(), zerotick_kernels::KernelError>(())
    /// ```
    ///
    /// # Errors
    /// As [`normalize_in_place`](Self::normalize_in_place).
    pub fn normalize_tanh_scale_in_place(
        &self,
        x: &mut [f64],
        policy: NormalizePolicy,
        scale: f64,
    ) -> Result<NormalizeReport, KernelError> {
        let (report, inv_std) = self.plan(x, policy)?;
        affine_tanh_scale_v(self.tier(), x, report.moments.mean, inv_std, scale);
        Ok(report)
    }

    fn plan(
        &self,
        x: &[f64],
        policy: NormalizePolicy,
    ) -> Result<(NormalizeReport, f64), KernelError> {
        let (moments, nan_count) = self.moments(x, policy.nan);
        let (inv_std, zero_variance) = inv_std(&moments, policy.zero_variance)?;
        Ok((
            NormalizeReport {
                moments,
                nan_count,
                zero_variance,
            },
            inv_std,
        ))
    }
}

/// `1 / std` and whether the zero-variance policy applied.
pub(crate) fn inv_std(m: &Moments, policy: ZeroVariance) -> Result<(f64, bool), KernelError> {
    let Some(var) = m.population_variance() else {
        return Err(KernelError::Empty);
    };
    if var == 0.0 {
        return match policy {
            ZeroVariance::Error => Err(KernelError::ZeroVariance),
            ZeroVariance::Zero => Ok((0.0, true)),
        };
    }
    Ok((1.0 / var.sqrt(), false))
}

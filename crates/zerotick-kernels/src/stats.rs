//! Mean and variance by Welford's method and Chan et al.'s merge, and in-place z-score
//! normalisation.
//!
//! # Algorithm
//! Every value is first shifted by one exact constant, the first finite value (`x - shift`,
//! exact for data within a factor 2 of it), so nothing below is ever rounded at the data's
//! magnitude: an offset of 1e12 costs no digits, and constant data gives `m2 == 0` exactly
//! whatever its size. The shifted slice is cut into blocks of [`BLOCK`] values. Each block's
//! mean and sum of squared deviations (`m2`) come from an exact two-pass computation in L1
//! cache, corrected by the sum of deviations (Björck's correction, which cancels the
//! rounding of the block mean); blocks then merge into the running [`Moments`] with Chan et
//! al.'s pairwise update. Nothing divides per element (as textbook Welford does), so the
//! passes vectorise. The tests check offsets up to 1e12 x the spread against a
//! double-double reference (1e-12 relative; the old unshifted version was 4.6e-9 off at
//! 1e9).
//!
//! The fused pass with the `f32` squash ([`Squash::TanhF32`]) takes its statistics in one
//! pass instead of two where that is accurate to ~1e-13 (the shifted sums of `d` and `d^2`,
//! with the first value within 3 standard deviations of the mean), and the two-pass ones
//! otherwise: see [`Kernels::normalize_squash_scale_in_place`].
//!
//! Normalisation never returns `Ok` with a non-finite result from finite data: when the
//! squared deviations overflow (spread above ~1e154) or underflow (spread below ~1e-150),
//! the statistics are recomputed on values scaled by an exact power of two (a cold path).
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

use crate::elementwise::{add, map_in_place, reduce, reduce_pair};
use crate::error::KernelError;
use crate::math;
use crate::simd::{Kernels, Tier, madd, multiversion};
use crate::squash::{RationalPass, Squash, rational_pass, single_pass, tanh_fast};

/// Values per block of the two-pass step: 16 KiB, so a block's second pass reads it from L1.
/// A 1,024-value feature row is one block (two passes, no merge); the block was 256 values
/// until 2026-12-01, when one block per row made the fused normalise + squash pass's
/// statistics ~30% cheaper (`zerotick-bench simd`).
pub const BLOCK: usize = 2048;

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
    ///
    /// Each `Moments` holds its mean rounded to `f64`, so merging the moments of data at a
    /// large offset carries that rounding into `m2` (at an offset of 1e12 x the spread,
    /// ~1e-4 of the spread in each mean). [`Kernels::moments`] and
    /// [`ColumnStats`](crate::ColumnStats) merge internally on shifted or compensated
    /// means and do not lose those digits.
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

/// `m2` below this may have lost bits to underflow (a squared deviation under 2^-1022 is
/// subnormal or 0); normalisation then recomputes on scaled values. Above it, the at most
/// `n` underflowed squares (each below 2^-1022) are below `n * 2^-122` of `m2`: negligible.
pub(crate) const M2_TINY: f64 = f64::from_bits(((1023 - 900) as u64) << 52); // 2^-900

/// Mean and `m2` of one block of the values `f(v)` by the corrected two-pass method;
/// `(moments, nans)`. `f` is the exact shift (or scale and shift) that puts the data near 0,
/// so the block mean is rounded at the scale of the deviations, not of the data.
#[inline(always)]
fn block_moments<const SKIP_NAN: bool, const FMA: bool>(
    x: &[f64],
    f: impl Fn(f64) -> f64 + Copy,
) -> (Moments, u64) {
    let skip_nan = SKIP_NAN;
    let valid = |v: f64| !skip_nan || !v.is_nan();
    // Under Skip the count and the sum share one pass (each bit for bit its own `reduce`).
    let (n, sum) = if skip_nan {
        reduce_pair(
            x,
            |c, s, v| {
                let ok = valid(v);
                (
                    c + if ok { 1.0 } else { 0.0 },
                    s + if ok { f(v) } else { 0.0 },
                )
            },
            add,
        )
    } else {
        (x.len() as f64, reduce(x, 0.0, |a, v| a + f(v), add))
    };
    let nans = x.len() as u64 - n as u64;
    if n == 0.0 {
        return (Moments::EMPTY, nans);
    }
    let mean = sum / n;
    let dev = |v: f64| if valid(v) { f(v) - mean } else { 0.0 };
    // Squared and plain deviations in one pass (each sum as its own `reduce` would give).
    let (sq, lin) = reduce_pair(
        x,
        |s, l, v| {
            let d = dev(v);
            (madd::<FMA>(d, d, s), l + d)
        },
        add,
    );
    // The mean's own rounding shows as a non-zero `lin`; this removes its effect on `m2`.
    // An overflowed `sq` stays +inf (never `inf - inf`); NaN data keeps `m2` NaN.
    let m2 = if sq.is_finite() {
        (sq - lin * (lin / n)).max(0.0)
    } else {
        sq
    };
    let m = Moments {
        count: n as u64,
        mean: mean + lin / n,
        m2,
    };
    (m, nans)
}

/// [`moments_rel_v`] with NaNs skipped or not. Under Skip, data without NaN (the common
/// case) goes through the loops without the NaN selects first: with no NaN to leave out
/// they compute what the skipping loops would, bit for bit, at Propagate's speed (the
/// skipping loops cost 1.5x). A NaN in the result (a NaN in the data, or `inf - inf`)
/// sends the data through the skipping loops.
#[inline(always)]
fn moments_rel(k: Kernels, x: &[f64], skip_nan: bool, shift: f64) -> (Moments, u64) {
    let plain = moments_rel_v(k, x, false, shift);
    if skip_nan && (plain.0.mean.is_nan() || plain.0.m2.is_nan()) {
        return moments_rel_v(k, x, true, shift);
    }
    plain
}

/// The first value statistics would use (not NaN when skipped) that is finite: the exact
/// shift every block is centred on. 0 if there is none.
#[inline(always)]
fn first_finite(x: &[f64]) -> f64 {
    x.iter().copied().find(|v| v.is_finite()).unwrap_or(0.0)
}

multiversion! {
    fn moments_rel_v(x: &[f64], skip_nan: bool, shift: f64) -> (Moments, u64) {
        // Every block is centred on the same exact `shift` (a data value), so block means
        // and the merges between blocks work on deviations, never rounded at the data's
        // magnitude (which costs 1e-9 relative at an offset of 1e9: issue 12), and a
        // constant input gives exactly 0 whatever its magnitude.
        // The policy as a constant: each loop is compiled without the other policy's
        // selects (a runtime flag inside left the AVX2 loops half scalar).
        let mut total = Moments::EMPTY;
        let mut nans = 0;
        for block in x.chunks(BLOCK) {
            let (m, n) = if skip_nan {
                block_moments::<true, FMA>(block, |v| v - shift)
            } else {
                block_moments::<false, FMA>(block, |v| v - shift)
            };
            nans += n;
            total = total.merge(&m);
        }
        (total, nans)
    }
}

multiversion! {
    fn moments_scaled_v(x: &[f64], skip_nan: bool, scale: f64, shift_scaled: f64) -> (Moments, u64) {
        let mut total = Moments::EMPTY;
        let mut nans = 0;
        for block in x.chunks(BLOCK) {
            let (m, n) = if skip_nan {
                block_moments::<true, FMA>(block, |v| v * scale - shift_scaled)
            } else {
                block_moments::<false, FMA>(block, |v| v * scale - shift_scaled)
            };
            nans += n;
            total = total.merge(&m);
        }
        (total, nans)
    }
}

// `(sum(v - shift), sum((v - shift)^2))`: each block of `BLOCK` values through
// `reduce_pair` (32 partial sums each, one load per value), the blocks added in order.
multiversion! {
    fn shifted_sums_pair_v(x: &[f64], shift: f64) -> (f64, f64) {
        let (mut s1, mut s2) = (0.0, 0.0);
        for block in x.chunks(BLOCK) {
            let (a, b) = reduce_pair(
                block,
                |a, b, v| {
                    let d = v - shift;
                    (a + d, madd::<FMA>(d, d, b))
                },
                add,
            );
            s1 += a;
            s2 += b;
        }
        (s1, s2)
    }
}

/// The AVX2 tier's shifted sums.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::BLOCK;
    use crate::elementwise::{CHUNK, add, pairwise};
    use core::arch::x86_64::{
        __m256d, _mm256_add_pd, _mm256_fmadd_pd, _mm256_loadu_pd, _mm256_set1_pd,
        _mm256_setzero_pd, _mm256_storeu_pd, _mm256_sub_pd,
    };

    // Eight 4-lane registers hold `reduce`'s partial sums.
    const _: () = assert!(CHUNK == 32);

    /// `reduce`'s 32 partial sums of `v - shift` (`SQUARE = false`) or of `(v - shift)^2`
    /// by fused multiply-add (`SQUARE = true`) over `block`, in eight `ymm` (lane `i` of the
    /// 32 in register `i / 4`), then `reduce`'s remainder and pairwise combination: the bits
    /// `reduce` gives.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn sum<const SQUARE: bool>(block: &[f64], shift: f64) -> f64 {
        let sh = _mm256_set1_pd(shift);
        let mut acc: [__m256d; 8] = [_mm256_setzero_pd(); 8];
        let mut chunks = block.chunks_exact(CHUNK);
        for c in &mut chunks {
            for (j, a) in acc.iter_mut().enumerate() {
                // SAFETY: `c` has `CHUNK = 32` values and `4 j + 3 < 32`.
                let v = unsafe { _mm256_loadu_pd(c.as_ptr().add(4 * j)) };
                let d = _mm256_sub_pd(v, sh);
                *a = if SQUARE {
                    _mm256_fmadd_pd(d, d, *a)
                } else {
                    _mm256_add_pd(*a, d)
                };
            }
        }
        let mut lanes = [0.0; CHUNK];
        for (j, a) in acc.iter().enumerate() {
            // SAFETY: `lanes` has 32 values and `4 j + 3 < 32`.
            unsafe { _mm256_storeu_pd(lanes.as_mut_ptr().add(4 * j), *a) };
        }
        for (l, v) in lanes.iter_mut().zip(chunks.remainder()) {
            let d = v - shift;
            *l = if SQUARE { d.mul_add(d, *l) } else { *l + d };
        }
        pairwise(&mut lanes, add)
    }

    /// `shifted_sums_pair_v`'s result, bit for bit, one sum at a time: the pair form's 16
    /// accumulators, the shift and the deviation do not fit the tier's 16 `ymm`, and the
    /// compiler kept the accumulators on the stack. Each block is read twice (from L1).
    ///
    /// # Safety
    /// The CPU supports AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn shifted_sums(x: &[f64], shift: f64) -> (f64, f64) {
        let (mut s1, mut s2) = (0.0, 0.0);
        for block in x.chunks(BLOCK) {
            s1 += sum::<false>(block, shift);
            s2 += sum::<true>(block, shift);
        }
        (s1, s2)
    }
}

/// `(sum(v - shift), sum((v - shift)^2))` in `BLOCK`-value blocks, 32 partial sums each
/// (`reduce_pair`); on the AVX2 tier the same bits one sum at a time (`x86::shifted_sums`).
fn shifted_sums_v(k: Kernels, x: &[f64], shift: f64) -> (f64, f64) {
    match k.tier() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Kernels`' invariant: the AVX2 tier requires avx2 and fma.
        Tier::Avx2 => unsafe { x86::shifted_sums(x, shift) },
        _ => shifted_sums_pair_v(k, x, shift),
    }
}

/// The largest share of `sum(d^2)` that `sum(d)^2 / n` may take for the one-pass statistics
/// of [`Kernels::normalize_squash_scale_in_place`] with [`Squash::TanhF32`]: the shift lies
/// within 3 standard deviations of the mean. Beyond it the subtraction would cancel too many
/// digits and the two-pass statistics are used.
pub(crate) const ONE_PASS_MAX_SHARE: f64 = 0.9;

/// The plan from statistics `rel` of `x - shift` (finite, `m2` above [`M2_TINY`]): the
/// report (the mean moved back by `shift`) and the z-score map, unscaled.
fn plan_from(shift: f64, rel: Moments, nan_count: u64) -> (NormalizeReport, Affine) {
    let report = NormalizeReport {
        moments: Moments {
            mean: shift + rel.mean,
            ..rel
        },
        nan_count,
        zero_variance: false,
    };
    let a = Affine {
        scale: 1.0,
        shift,
        mean: rel.mean,
        inv_std: 1.0 / (rel.m2 / rel.count as f64).sqrt(),
    };
    (report, a)
}

/// `x -> ((x * scale - shift) - mean) * inv_std`: the z-score of `x` from statistics
/// gathered on `x * scale - shift` (`scale` a power of two, 1 but for huge or tiny data).
#[derive(Debug, Clone, Copy)]
struct Affine {
    scale: f64,
    shift: f64,
    mean: f64,
    inv_std: f64,
}

impl Affine {
    /// The pass of the rational squashes: this map, the squash, then `* scale`.
    fn then_scale(self, scale: f64) -> RationalPass {
        RationalPass {
            pre_scale: self.scale,
            shift: self.shift,
            mean: self.mean,
            inv_std: self.inv_std,
            scale,
        }
    }
}

multiversion! {
    fn affine_v(x: &mut [f64], a: Affine) -> () {
        for v in x.iter_mut() {
            *v = ((*v * a.scale - a.shift) - a.mean) * a.inv_std;
        }
    }
}

multiversion! {
    fn affine_tanh_scale_v(x: &mut [f64], a: Affine, scale: f64) -> () {
        map_in_place(x, |v| math::tanh::<FMA>(((v * a.scale - a.shift) - a.mean) * a.inv_std) * scale)
    }
}

multiversion! {
    fn affine_tanh_fast_scale_v(x: &mut [f64], a: Affine, scale: f64) -> () {
        map_in_place(x, |v| tanh_fast::<FMA>(((v * a.scale - a.shift) - a.mean) * a.inv_std) * scale)
    }
}

impl Kernels {
    /// Count, mean and `m2` of `x`, and the number of NaNs skipped.
    ///
    /// Accuracy: the variance is within about `4 * n * 2^-53` relative of the exact variance
    /// of the given values (typically ~1e-15), whatever their offset: every block is
    /// centred on one exact data value before anything is summed. A constant input gives
    /// `m2 == 0` exactly. `m2` is `+inf` when the exact value exceeds `f64::MAX` (a spread
    /// above ~1e154); [`normalize_in_place`](Self::normalize_in_place) still works there.
    ///
    /// ```
    /// use zerotick_kernels::{Kernels, NanPolicy};
    ///
    /// let k = Kernels::active();
    /// let (m, nans) = k.moments(&[1.0, f64::NAN, 3.0], NanPolicy::Skip);
    /// assert_eq!((m.count, m.mean, m.population_variance(), nans), (2, 2.0, Some(1.0), 1));
    /// let (c, _) = k.moments(&[1e200; 1000], NanPolicy::Propagate);
    /// assert_eq!((c.mean, c.m2), (1e200, 0.0));
    /// ```
    pub fn moments(&self, x: &[f64], nan: NanPolicy) -> (Moments, u64) {
        let shift = first_finite(x);
        let (rel, nans) = moments_rel(*self, x, nan == NanPolicy::Skip, shift);
        (
            Moments {
                mean: shift + rel.mean,
                ..rel
            },
            nans,
        )
    }

    /// Z-scores `x` in place with its own mean and population standard deviation.
    ///
    /// Finite input gives finite output at any magnitude (statistics of huge or tiny data
    /// are recomputed on exactly rescaled values), or an error.
    ///
    /// # Errors
    /// [`KernelError::Empty`] with no (non-NaN) value; [`KernelError::ZeroVariance`] under
    /// [`ZeroVariance::Error`] when every value is equal. Nothing is written on error.
    pub fn normalize_in_place(
        &self,
        x: &mut [f64],
        policy: NormalizePolicy,
    ) -> Result<NormalizeReport, KernelError> {
        let (report, a) = self.plan(x, policy)?;
        affine_v(*self, x, a);
        Ok(report)
    }

    /// Z-scores `x` in place with statistics gathered elsewhere (a running state).
    ///
    /// # Errors
    /// [`KernelError::Empty`] if `moments` has no value; [`KernelError::ZeroVariance`] under
    /// [`ZeroVariance::Error`]; [`KernelError::OutOfRange`] if `moments.m2` is `+inf` (finite
    /// data whose squared deviations overflowed: the standard deviation is unknown).
    pub fn normalize_with_in_place(
        &self,
        x: &mut [f64],
        moments: &Moments,
        zero_variance: ZeroVariance,
    ) -> Result<bool, KernelError> {
        let (inv_std, zero) = inv_std(moments, zero_variance)?;
        let a = Affine {
            scale: 1.0,
            shift: moments.mean,
            mean: 0.0,
            inv_std,
        };
        affine_v(*self, x, a);
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
        self.normalize_squash_scale_in_place(x, policy, Squash::Tanh, scale)
    }

    /// The fused pass with a choice of `tanh`: statistics of `x`, then in one pass
    /// `x[i] = scale * tanh((x[i] - mean) / std)` with the [`Squash`] given.
    /// [`Squash::Tanh`] is [`normalize_tanh_scale_in_place`](Self::normalize_tanh_scale_in_place);
    /// the others are cheaper, within a relative error of
    /// [`TANH_FAST_MAX_REL_ERR`](crate::TANH_FAST_MAX_REL_ERR),
    /// [`TANH_RATIONAL_MAX_REL_ERR`](crate::TANH_RATIONAL_MAX_REL_ERR) or
    /// [`TANH_F32_MAX_REL_ERR`](crate::TANH_F32_MAX_REL_ERR) of
    /// `scale * tanh(z)` for the z-score `z` as computed (the scaling included).
    ///
    /// With [`Squash::TanhRational`], [`Squash::TanhFast`] and [`Squash::Tanh`] the result is
    /// bit for bit [`normalize_in_place`](Self::normalize_in_place), the squash, then
    /// [`scale_in_place`](Self::scale_in_place). [`Squash::TanhF32`], the fast choice, also
    /// takes the statistics in one pass instead of two where the data allow (the first value
    /// within 3 standard deviations of the mean, all finite): `m2` then carries a relative
    /// error up to ~1.3e-13 on a 1,024-value row instead of ~4e-15, far below the squash's
    /// own 1.2e-6; other data get the two-pass statistics.
    ///
    /// ```
    /// use zerotick_kernels::{Kernels, NormalizePolicy, Squash};
    ///
    /// let x: Vec<f64> = (0..1024).map(|i| (i as f64).sin()).collect();
    /// let k = Kernels::active();
    /// let (mut a, mut b) = (x.clone(), x);
    /// k.normalize_squash_scale_in_place(&mut a, NormalizePolicy::default(), Squash::Tanh, 2.0)?;
    /// k.normalize_squash_scale_in_place(&mut b, NormalizePolicy::default(), Squash::TanhRational, 2.0)?;
    /// assert!(a.iter().zip(&b).all(|(p, q)| (p - q).abs() <= 2e-14));
    /// # Ok::<(), zerotick_kernels::KernelError>(())
    /// ```
    ///
    /// # Errors
    /// As [`normalize_in_place`](Self::normalize_in_place).
    pub fn normalize_squash_scale_in_place(
        &self,
        x: &mut [f64],
        policy: NormalizePolicy,
        squash: Squash,
        scale: f64,
    ) -> Result<NormalizeReport, KernelError> {
        let (report, a) = if squash == Squash::TanhF32 {
            self.plan_one_pass(x, policy)?
        } else {
            self.plan(x, policy)?
        };
        match squash {
            Squash::Tanh => affine_tanh_scale_v(*self, x, a, scale),
            Squash::TanhFast => affine_tanh_fast_scale_v(*self, x, a, scale),
            Squash::TanhRational => rational_pass(*self, x, a.then_scale(scale), false),
            Squash::TanhF32 => single_pass(*self, x, a.then_scale(scale), false),
        }
        Ok(report)
    }

    /// [`plan`](Self::plan) from one pass over `x` where that is accurate: `m2 = S2 - S1^2/n`
    /// from the sums `S1` and `S2` of `d = x - shift` and `d^2` (the shifted one-pass
    /// formula), taken only when `S1^2/n <= 0.9 S2` ([`ONE_PASS_MAX_SHARE`]), all finite, and
    /// `m2` above [`M2_TINY`]. Otherwise (NaN, infinities, a shift more than 3 standard
    /// deviations from the mean, constant, huge or tiny data) it is `plan`, bit for bit.
    ///
    /// Error: each sum carries at most `g = (min(n, BLOCK)/32 + 6 + n/BLOCK) u` of the sum
    /// of its terms' magnitudes (first order, `u = 2^-53`); with the share at most
    /// `T = 0.9`, `m2` is within `g (1 + 2 sqrt T) / (1 - T) + 19 u < 30 g` of itself,
    /// relative (`1.3e-13` for a 1,024-value row, `g = 38 u`), against about `g` for the
    /// two-pass statistics. Only the `f32` squash (relative error 1.2e-6) uses it: it took
    /// the fused AVX-512 pass from ~785 to ~655 ns per 1,024 values (`zerotick-bench simd`).
    fn plan_one_pass(
        &self,
        x: &[f64],
        policy: NormalizePolicy,
    ) -> Result<(NormalizeReport, Affine), KernelError> {
        let shift = first_finite(x);
        let (s1, s2) = shifted_sums_v(*self, x, shift);
        let n = x.len() as f64;
        let mean = s1 / n;
        let explained = s1 * mean;
        // NaN (empty input, NaN data) fails the comparison; +inf fails `is_finite`.
        if s2.is_finite() && explained <= ONE_PASS_MAX_SHARE * s2 {
            let m2 = s2 - explained;
            if m2 >= M2_TINY {
                let rel = Moments {
                    count: x.len() as u64,
                    mean,
                    m2,
                };
                return Ok(plan_from(shift, rel, 0));
            }
        }
        self.plan(x, policy)
    }

    fn plan(
        &self,
        x: &[f64],
        policy: NormalizePolicy,
    ) -> Result<(NormalizeReport, Affine), KernelError> {
        let skip = policy.nan == NanPolicy::Skip;
        let shift = first_finite(x);
        let (rel, nan_count) = moments_rel(*self, x, skip, shift);
        if rel.count == 0 {
            return Err(KernelError::Empty);
        }
        if rel.mean.is_finite() && rel.m2.is_finite() && rel.m2 >= M2_TINY {
            return Ok(plan_from(shift, rel, nan_count));
        }
        self.plan_edge(x, policy, shift, rel, nan_count)
    }

    /// [`plan`](Self::plan) for statistics that are not finite, zero, or small enough to
    /// have lost bits to underflow: non-finite data flows through as before; constant data
    /// follows the zero-variance policy; otherwise the statistics are recomputed on
    /// `x * 2^-e - shift * 2^-e`, exact, with the deviations brought near 1.
    #[cold]
    #[inline(never)]
    fn plan_edge(
        &self,
        x: &[f64],
        policy: NormalizePolicy,
        shift: f64,
        rel: Moments,
        nan_count: u64,
    ) -> Result<(NormalizeReport, Affine), KernelError> {
        let skip = policy.nan == NanPolicy::Skip;
        let used = || x.iter().copied().filter(move |v| !skip || !v.is_nan());
        let moments = Moments {
            mean: shift + rel.mean,
            ..rel
        };
        let report = |moments, zero_variance| NormalizeReport {
            moments,
            nan_count,
            zero_variance,
        };
        if used().any(|v| !v.is_finite()) {
            // NaN or infinities are data: the statistics are NaN or infinite and flow through.
            let (inv, zero) = inv_std(&moments, policy.zero_variance)?;
            let a = Affine {
                scale: 1.0,
                shift,
                mean: rel.mean,
                inv_std: inv,
            };
            return Ok((report(moments, zero), a));
        }
        // Largest deviation from the shift; halved first where the difference overflows.
        let max_dev = |h: f64| used().fold(0.0f64, |m, v| m.max((v * h - shift * h).abs()));
        let a = max_dev(1.0);
        let log2a = if a.is_finite() {
            a.log2()
        } else {
            max_dev(0.5).log2() + 1.0
        };
        if a == 0.0 {
            return match policy.zero_variance {
                ZeroVariance::Error => Err(KernelError::ZeroVariance),
                ZeroVariance::Zero => {
                    let exact = Moments {
                        mean: shift,
                        m2: 0.0,
                        ..rel
                    };
                    let a = Affine {
                        scale: 1.0,
                        shift,
                        mean: 0.0,
                        inv_std: 0.0,
                    };
                    Ok((report(exact, true), a))
                }
            };
        }
        // 2^-e with the largest scaled deviation in [1, 2); e clamped so 2^-e is normal.
        let e = (log2a.floor() as i64).clamp(-1022, 1022);
        let scale = f64::from_bits(((1023 - e) as u64) << 52);
        let shift_scaled = shift * scale;
        let (m, _) = moments_scaled_v(*self, x, skip, scale, shift_scaled);
        let var = m.m2 / m.count as f64;
        let exact = Moments {
            count: m.count,
            mean: shift + m.mean / scale,
            m2: m.m2 / scale / scale,
        };
        let a = Affine {
            scale,
            shift: shift_scaled,
            mean: m.mean,
            inv_std: 1.0 / var.sqrt(),
        };
        Ok((report(exact, false), a))
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
    if var == f64::INFINITY && m.mean.is_finite() {
        // Finite data whose squared deviations overflowed: 1 / sqrt(inf) = 0 would scale
        // every value to 0 and call it a result.
        return Err(KernelError::OutOfRange);
    }
    Ok((1.0 / var.sqrt(), false))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AVX2 tier's one-sum-at-a-time shifted sums give `reduce_pair`'s bits: lengths
    /// around the 32-value chunk and the `BLOCK`, values of mixed size and sign, specials.
    #[test]
    fn split_shifted_sums_are_the_pair_form() {
        let Ok(k) = Kernels::new(Tier::Avx2) else {
            return; // no AVX2 here: nothing to compare
        };
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let m = (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
            m * 10f64.powi((state % 13) as i32 - 6)
        };
        let data: Vec<f64> = (0..2 * BLOCK + 77).map(|_| next()).collect();
        for n in [
            0,
            1,
            5,
            31,
            32,
            33,
            100,
            1024,
            BLOCK - 1,
            BLOCK,
            BLOCK + 1,
            data.len(),
        ] {
            for shift in [0.0, data.first().copied().unwrap_or(0.0), -3.5e3] {
                let x = &data[..n];
                let (a, b) = shifted_sums_v(k, x, shift);
                let (c, d) = shifted_sums_pair_v(k, x, shift);
                assert_eq!(
                    (a.to_bits(), b.to_bits()),
                    (c.to_bits(), d.to_bits()),
                    "n {n}"
                );
            }
        }
        let mut special = data[..100].to_vec();
        special[3] = f64::NAN;
        special[40] = f64::INFINITY;
        special[77] = -0.0;
        let (a, b) = shifted_sums_v(k, &special, 0.0);
        let (c, d) = shifted_sums_pair_v(k, &special, 0.0);
        assert!(a.is_nan() && b.is_nan() && c.is_nan() && d.is_nan());
        special[3] = 1e300;
        let (a, b) = shifted_sums_v(k, &special, 0.0);
        let (c, d) = shifted_sums_pair_v(k, &special, 0.0);
        assert_eq!((a.to_bits(), b.to_bits()), (c.to_bits(), d.to_bits()));
    }
}

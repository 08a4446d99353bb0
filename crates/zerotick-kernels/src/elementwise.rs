//! Element-wise kernels and reductions over `f64` slices, in place and `_into` a caller buffer.
//!
//! Loops walk fixed chunks of [`CHUNK`] elements with independent accumulators so every tier
//! vectorises them (4 x 8 lanes in flight for reductions), then finish the tail one element at
//! a time. Reductions therefore sum in a different order than a plain left-to-right loop:
//! results differ from it by rounding only (tests bound it).

use crate::error::KernelError;
use crate::math;
use crate::simd::{Kernels, madd, multiversion};

/// Elements per vectorised step of a reduction: 4 accumulators of 8 lanes.
pub(crate) const CHUNK: usize = 32;

#[inline]
fn same_len(expected: usize, got: usize) -> Result<(), KernelError> {
    if expected == got {
        Ok(())
    } else {
        Err(KernelError::LengthMismatch { expected, got })
    }
}

/// Elements per step of a map: several vectors in flight, so the long dependency chains of
/// the transcendental functions (a Horner polynomial, a division) overlap.
const MAP_CHUNK: usize = 16;

/// Applies `f` to every element in place (inlined into each tier's copy).
#[inline(always)]
pub(crate) fn map_in_place(x: &mut [f64], f: impl Fn(f64) -> f64) {
    let mut chunks = x.chunks_exact_mut(MAP_CHUNK);
    for c in &mut chunks {
        for v in c.iter_mut() {
            *v = f(*v);
        }
    }
    for v in chunks.into_remainder() {
        *v = f(*v);
    }
}

/// Writes `f(x[i])` to `out[i]`; lengths already checked.
#[inline(always)]
fn map_into(out: &mut [f64], x: &[f64], f: impl Fn(f64) -> f64) {
    let mut oc = out.chunks_exact_mut(MAP_CHUNK);
    let mut xc = x.chunks_exact(MAP_CHUNK);
    for (o, v) in (&mut oc).zip(&mut xc) {
        for i in 0..MAP_CHUNK {
            o[i] = f(v[i]);
        }
    }
    for (o, v) in oc.into_remainder().iter_mut().zip(xc.remainder()) {
        *o = f(*v);
    }
}

/// Writes `f(x[i], y[i])` to `x[i]`; lengths already checked.
#[inline(always)]
fn zip_in_place(x: &mut [f64], y: &[f64], f: impl Fn(f64, f64) -> f64) {
    for (a, b) in x.iter_mut().zip(y) {
        *a = f(*a, *b);
    }
}

/// Writes `f(x[i], y[i])` to `out[i]`; lengths already checked.
#[inline(always)]
fn zip_into(out: &mut [f64], x: &[f64], y: &[f64], f: impl Fn(f64, f64) -> f64) {
    for ((o, a), b) in out.iter_mut().zip(x).zip(y) {
        *o = f(*a, *b);
    }
}

/// Folds `x` with `step(acc, value)` into 32 partial accumulators, then combines those
/// pairwise with `combine`.
#[inline(always)]
pub(crate) fn reduce(
    x: &[f64],
    init: f64,
    step: impl Fn(f64, f64) -> f64,
    combine: impl Fn(f64, f64) -> f64,
) -> f64 {
    let mut acc = [init; CHUNK];
    let mut chunks = x.chunks_exact(CHUNK);
    for c in &mut chunks {
        for i in 0..CHUNK {
            acc[i] = step(acc[i], c[i]);
        }
    }
    for (i, v) in chunks.remainder().iter().enumerate() {
        acc[i] = step(acc[i], *v);
    }
    pairwise(&mut acc, combine)
}

/// Combines [`CHUNK`] partial accumulators pairwise (halves added lane by lane until one
/// is left), which keeps their rounding balanced: the last step of [`reduce`] and
/// [`reduce_pair`], and of every kernel that must give their bits.
#[inline(always)]
pub(crate) fn pairwise(acc: &mut [f64; CHUNK], combine: impl Fn(f64, f64) -> f64) -> f64 {
    let mut width = CHUNK;
    while width > 1 {
        width /= 2;
        for i in 0..width {
            acc[i] = combine(acc[i], acc[i + width]);
        }
    }
    acc[0]
}

/// Two [`reduce`]s in one pass over `x`: `step(a, b, value)` updates the partial
/// accumulators of both. Each result is bit for bit what `reduce` with its half of `step`
/// gives (same partials, same combination order); one load per element instead of two.
#[inline(always)]
pub(crate) fn reduce_pair(
    x: &[f64],
    step: impl Fn(f64, f64, f64) -> (f64, f64),
    combine: impl Fn(f64, f64) -> f64,
) -> (f64, f64) {
    let mut acc_a = [0.0; CHUNK];
    let mut acc_b = [0.0; CHUNK];
    let mut chunks = x.chunks_exact(CHUNK);
    for c in &mut chunks {
        for i in 0..CHUNK {
            (acc_a[i], acc_b[i]) = step(acc_a[i], acc_b[i], c[i]);
        }
    }
    for (i, v) in chunks.remainder().iter().enumerate() {
        (acc_a[i], acc_b[i]) = step(acc_a[i], acc_b[i], *v);
    }
    (
        pairwise(&mut acc_a, &combine),
        pairwise(&mut acc_b, &combine),
    )
}

multiversion! {
    fn add_in_place_v(x: &mut [f64], y: &[f64]) -> () { zip_in_place(x, y, |a, b| a + b) }
}
multiversion! {
    fn sub_in_place_v(x: &mut [f64], y: &[f64]) -> () { zip_in_place(x, y, |a, b| a - b) }
}
multiversion! {
    fn mul_in_place_v(x: &mut [f64], y: &[f64]) -> () { zip_in_place(x, y, |a, b| a * b) }
}
multiversion! {
    fn add_into_v(out: &mut [f64], x: &[f64], y: &[f64]) -> () { zip_into(out, x, y, |a, b| a + b) }
}
multiversion! {
    fn sub_into_v(out: &mut [f64], x: &[f64], y: &[f64]) -> () { zip_into(out, x, y, |a, b| a - b) }
}
multiversion! {
    fn mul_into_v(out: &mut [f64], x: &[f64], y: &[f64]) -> () { zip_into(out, x, y, |a, b| a * b) }
}
multiversion! {
    fn axpy_v(y: &mut [f64], a: f64, x: &[f64]) -> () { zip_in_place(y, x, |yv, xv| madd::<FMA>(a, xv, yv)) }
}
multiversion! {
    fn fma_in_place_v(x: &mut [f64], m: &[f64], a: &[f64]) -> () {
        for ((v, mv), av) in x.iter_mut().zip(m).zip(a) {
            *v = madd::<FMA>(*v, *mv, *av);
        }
    }
}
multiversion! {
    fn standardize_accumulate_v(
        x: &mut [f64],
        gain: &[f64],
        offset: &[f64],
        reference: &[f64],
        sum: &mut [f64],
        sum_sq: &mut [f64],
    ) -> () {
        let coefficients = gain.iter().zip(offset).zip(reference);
        let sums = sum.iter_mut().zip(sum_sq.iter_mut());
        for ((v, ((g, b), r)), (s1, s2)) in x.iter_mut().zip(coefficients).zip(sums) {
            let raw = *v;
            let d = raw - *r;
            *s1 += d;
            *s2 = madd::<FMA>(d, d, *s2);
            *v = madd::<FMA>(raw, *g, *b);
        }
    }
}
multiversion! {
    fn scale_in_place_v(x: &mut [f64], a: f64) -> () { map_in_place(x, |v| v * a) }
}
multiversion! {
    fn scale_into_v(out: &mut [f64], x: &[f64], a: f64) -> () { map_into(out, x, |v| v * a) }
}
multiversion! {
    fn clamp_in_place_v(x: &mut [f64], lo: f64, hi: f64) -> () { map_in_place(x, |v| clamp_keep_nan(v, lo, hi)) }
}
multiversion! {
    fn abs_in_place_v(x: &mut [f64]) -> () { map_in_place(x, f64::abs) }
}
multiversion! {
    fn abs_into_v(out: &mut [f64], x: &[f64]) -> () { map_into(out, x, f64::abs) }
}
multiversion! {
    fn exp_in_place_v(x: &mut [f64]) -> () { map_in_place(x, math::exp::<FMA>) }
}
multiversion! {
    fn exp_into_v(out: &mut [f64], x: &[f64]) -> () { map_into(out, x, math::exp::<FMA>) }
}
multiversion! {
    fn ln_in_place_v(x: &mut [f64]) -> () { map_in_place(x, math::ln::<FMA>) }
}
multiversion! {
    fn ln_into_v(out: &mut [f64], x: &[f64]) -> () { map_into(out, x, math::ln::<FMA>) }
}
multiversion! {
    fn tanh_in_place_v(x: &mut [f64]) -> () { map_in_place(x, math::tanh::<FMA>) }
}
multiversion! {
    fn tanh_into_v(out: &mut [f64], x: &[f64]) -> () { map_into(out, x, math::tanh::<FMA>) }
}
multiversion! {
    fn sigmoid_in_place_v(x: &mut [f64]) -> () { map_in_place(x, math::sigmoid::<FMA>) }
}
multiversion! {
    fn sigmoid_into_v(out: &mut [f64], x: &[f64]) -> () { map_into(out, x, math::sigmoid::<FMA>) }
}
multiversion! {
    fn sum_v(x: &[f64]) -> f64 { reduce(x, 0.0, add, add) }
}
multiversion! {
    fn sum_scaled_v(x: &[f64], a: f64) -> f64 { reduce(x, 0.0, |s, v| s + v * a, add) }
}
multiversion! {
    fn dot_v(x: &[f64], y: &[f64]) -> f64 {
        let mut acc = [0.0; CHUNK];
        let (mut xc, mut yc) = (x.chunks_exact(CHUNK), y.chunks_exact(CHUNK));
        for (a, b) in (&mut xc).zip(&mut yc) {
            for i in 0..CHUNK {
                acc[i] = madd::<FMA>(a[i], b[i], acc[i]);
            }
        }
        for (i, (a, b)) in xc.remainder().iter().zip(yc.remainder()).enumerate() {
            acc[i] = madd::<FMA>(*a, *b, acc[i]);
        }
        reduce(&acc, 0.0, add, add)
    }
}
multiversion! {
    fn min_v(x: &[f64]) -> f64 { reduce(x, f64::INFINITY, min_nan, min_nan) }
}
multiversion! {
    fn max_v(x: &[f64]) -> f64 { reduce(x, f64::NEG_INFINITY, max_nan, max_nan) }
}

/// `a + b`, as a function for [`reduce`].
#[inline(always)]
pub(crate) fn add(a: f64, b: f64) -> f64 {
    a + b
}

/// `v` clamped to `[lo, hi]`; NaN stays NaN (data, not an error).
#[inline(always)]
fn clamp_keep_nan(v: f64, lo: f64, hi: f64) -> f64 {
    let v = if v < lo { lo } else { v };
    if v > hi { hi } else { v }
}

/// Minimum that propagates NaN.
#[inline(always)]
fn min_nan(a: f64, b: f64) -> f64 {
    if b < a || b.is_nan() { b } else { a }
}

/// Maximum that propagates NaN.
#[inline(always)]
fn max_nan(a: f64, b: f64) -> f64 {
    if b > a || b.is_nan() { b } else { a }
}

macro_rules! binary_ops {
    ($($(#[$doc:meta])* $in_place:ident / $into:ident => $vin:ident / $vinto:ident;)*) => {$(
        $(#[$doc])*
        ///
        /// # Errors
        /// [`KernelError::LengthMismatch`] if the slices differ in length; nothing is written.
        #[inline]
        pub fn $in_place(&self, x: &mut [f64], y: &[f64]) -> Result<(), KernelError> {
            same_len(x.len(), y.len())?;
            $vin(*self, x, y);
            Ok(())
        }

        /// As the in-place form, writing into `out` instead of `x`.
        ///
        /// # Errors
        /// [`KernelError::LengthMismatch`] if the slices differ in length; nothing is written.
        #[inline]
        pub fn $into(&self, out: &mut [f64], x: &[f64], y: &[f64]) -> Result<(), KernelError> {
            same_len(out.len(), x.len())?;
            same_len(out.len(), y.len())?;
            $vinto(*self, out, x, y);
            Ok(())
        }
    )*};
}

macro_rules! unary_ops {
    ($($(#[$doc:meta])* $in_place:ident / $into:ident => $vin:ident / $vinto:ident;)*) => {$(
        $(#[$doc])*
        #[inline]
        pub fn $in_place(&self, x: &mut [f64]) {
            $vin(*self, x);
        }

        /// As the in-place form, writing into `out`.
        ///
        /// # Errors
        /// [`KernelError::LengthMismatch`] if the slices differ in length; nothing is written.
        #[inline]
        pub fn $into(&self, out: &mut [f64], x: &[f64]) -> Result<(), KernelError> {
            same_len(out.len(), x.len())?;
            $vinto(*self, out, x);
            Ok(())
        }
    )*};
}

impl Kernels {
    binary_ops! {
        /// `x[i] += y[i]`.
        add_in_place / add_into => add_in_place_v / add_into_v;
        /// `x[i] -= y[i]`.
        sub_in_place / sub_into => sub_in_place_v / sub_into_v;
        /// `x[i] *= y[i]`.
        mul_in_place / mul_into => mul_in_place_v / mul_into_v;
    }

    unary_ops! {
        /// `x[i] = |x[i]|`.
        abs_in_place / abs_into => abs_in_place_v / abs_into_v;
        /// `x[i] = e^x[i]`, within 1.6 ULP of the exact value (see the crate README).
        exp_in_place / exp_into => exp_in_place_v / exp_into_v;
        /// `x[i] = ln x[i]`, within 1.25 ULP of the exact value (NaN for negatives, `-inf` at 0).
        ln_in_place / ln_into => ln_in_place_v / ln_into_v;
        /// `x[i] = tanh x[i]`, within 5.5 ULP of the exact value (a derived worst case; measured 2.5).
        tanh_in_place / tanh_into => tanh_in_place_v / tanh_into_v;
        /// `x[i] = 1 / (1 + e^-x[i])`, within 4.2 ULP of the exact value, subnormal results included.
        sigmoid_in_place / sigmoid_into => sigmoid_in_place_v / sigmoid_into_v;
    }

    /// `x[i] *= a`.
    #[inline]
    pub fn scale_in_place(&self, x: &mut [f64], a: f64) {
        scale_in_place_v(*self, x, a);
    }

    /// `out[i] = a * x[i]`.
    ///
    /// # Errors
    /// [`KernelError::LengthMismatch`] if the slices differ in length.
    #[inline]
    pub fn scale_into(&self, out: &mut [f64], x: &[f64], a: f64) -> Result<(), KernelError> {
        same_len(out.len(), x.len())?;
        scale_into_v(*self, out, x, a);
        Ok(())
    }

    /// `y[i] += a * x[i]` (fused where the tier has FMA).
    ///
    /// # Errors
    /// [`KernelError::LengthMismatch`] if the slices differ in length.
    #[inline]
    pub fn axpy(&self, y: &mut [f64], a: f64, x: &[f64]) -> Result<(), KernelError> {
        same_len(y.len(), x.len())?;
        axpy_v(*self, y, a, x);
        Ok(())
    }

    /// `x[i] = x[i] * m[i] + a[i]` (fused where the tier has FMA).
    ///
    /// # Errors
    /// [`KernelError::LengthMismatch`] if the slices differ in length.
    #[inline]
    pub fn fma_in_place(&self, x: &mut [f64], m: &[f64], a: &[f64]) -> Result<(), KernelError> {
        same_len(x.len(), m.len())?;
        same_len(x.len(), a.len())?;
        fma_in_place_v(*self, x, m, a);
        Ok(())
    }

    /// Standardises `x` in place and accumulates its raw values into shifted sums, in one
    /// pass: `d = x[i] - reference[i]`, `sum[i] += d`, `sum_sq[i] += d * d`, then
    /// `x[i] = x[i] * gain[i] + offset[i]` (fused where the tier has FMA).
    ///
    /// The sums of a block of rows give its mean and variance without a division per
    /// value (`mean = reference + sum / n`, `m2 = sum_sq - sum^2 / n`); with `reference`
    /// near the mean (the running mean of earlier blocks) the subtraction loses little. This
    /// is the shifted-data variance algorithm; combine blocks with Chan's formula.
    ///
    /// ```
    /// use zerotick_kernels::Kernels;
    ///
    /// let k = Kernels::active();
    /// let mut x = [3.0, 5.0];
    /// let (mut s1, mut s2) = ([0.0; 2], [0.0; 2]);
    /// k.standardize_accumulate(&mut x, &[2.0, 1.0], &[-1.0, 0.0], &[1.0, 5.0], &mut s1, &mut s2)?;
    /// assert_eq!(x, [5.0, 5.0]);
    /// assert_eq!((s1, s2), ([2.0, 0.0], [4.0, 0.0]));
    /// # Ok::<(), zerotick_kernels::KernelError>(())
    /// ```
    ///
    /// # Errors
    /// [`KernelError::LengthMismatch`] if the slices differ in length.
    #[inline]
    pub fn standardize_accumulate(
        &self,
        x: &mut [f64],
        gain: &[f64],
        offset: &[f64],
        reference: &[f64],
        sum: &mut [f64],
        sum_sq: &mut [f64],
    ) -> Result<(), KernelError> {
        for len in [
            gain.len(),
            offset.len(),
            reference.len(),
            sum.len(),
            sum_sq.len(),
        ] {
            same_len(x.len(), len)?;
        }
        standardize_accumulate_v(*self, x, gain, offset, reference, sum, sum_sq);
        Ok(())
    }

    /// Clamps every element to `[lo, hi]`; NaN elements stay NaN.
    ///
    /// # Errors
    /// [`KernelError::InvalidBounds`] if `lo > hi` or either bound is NaN.
    #[inline]
    pub fn clamp_in_place(&self, x: &mut [f64], lo: f64, hi: f64) -> Result<(), KernelError> {
        if lo.is_nan() || hi.is_nan() || lo > hi {
            return Err(KernelError::InvalidBounds { lo, hi });
        }
        clamp_in_place_v(*self, x, lo, hi);
        Ok(())
    }

    /// Sum of the elements (0 for an empty slice); summed in 32 interleaved partial sums.
    #[inline]
    pub fn sum(&self, x: &[f64]) -> f64 {
        sum_v(*self, x)
    }

    /// Mean of the elements, `None` for an empty slice. Finite for finite input, even where
    /// the sum overflows (then summed again on values scaled by an exact power of two).
    #[inline]
    pub fn mean(&self, x: &[f64]) -> Option<f64> {
        if x.is_empty() {
            return None;
        }
        let m = self.sum(x) / x.len() as f64;
        Some(if m.is_finite() {
            m
        } else {
            self.mean_scaled(x, m)
        })
    }

    /// The mean of `x` when the plain sum was not finite (`m`): for finite data, the sum of
    /// `x * 2^-k` with `2^k >= 2 len` cannot overflow; NaN or infinite data keep `m`.
    #[cold]
    #[inline(never)]
    fn mean_scaled(&self, x: &[f64], m: f64) -> f64 {
        if x.iter().any(|v| !v.is_finite()) {
            return m;
        }
        let k = (usize::BITS - x.len().leading_zeros()) as i32 + 1;
        let down = f64::powi(2.0, -k);
        sum_scaled_v(*self, x, down) / x.len() as f64 * f64::powi(2.0, k)
    }

    /// `sum(x[i] * y[i])`.
    ///
    /// # Errors
    /// [`KernelError::LengthMismatch`] if the slices differ in length.
    #[inline]
    pub fn dot(&self, x: &[f64], y: &[f64]) -> Result<f64, KernelError> {
        same_len(x.len(), y.len())?;
        Ok(dot_v(*self, x, y))
    }

    /// Smallest element; NaN if any element is NaN; `None` for an empty slice.
    #[inline]
    pub fn min(&self, x: &[f64]) -> Option<f64> {
        (!x.is_empty()).then(|| min_v(*self, x))
    }

    /// Largest element; NaN if any element is NaN; `None` for an empty slice.
    #[inline]
    pub fn max(&self, x: &[f64]) -> Option<f64> {
        (!x.is_empty()).then(|| max_v(*self, x))
    }
}

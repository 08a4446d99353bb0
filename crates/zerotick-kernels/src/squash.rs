//! Cheaper `tanh`s for squashing features, with derived error bounds: `tanh_fast` (an `expm1`
//! polynomial and a division, [`TANH_FAST_MAX_REL_ERR`]) and `tanh_rational` (a rational
//! function of the reduced argument, [`TANH_RATIONAL_MAX_REL_ERR`]), and [`Squash`], the
//! choice among them and the accurate 4-ULP `tanh` that the fused normalise + squash + scale
//! pass takes.
//!
//! # `tanh_fast`
//!
//! `tanh_fast(x) = sign(x) * e / (e + 2)` with `e = expm1(2a)`, `a = min(|x|, SAT)`:
//!
//! 1. Clamp. For `|x| >= SAT = 19.0625`, `1 - tanh|x| < 2 e^(-2 SAT) < 5.6e-17`, below half
//!    an ULP of 1 (1.1e-16): the correctly rounded result is `+-1`, and the clamped evaluation
//!    returns exactly that (`e >= 3.6e16`, `2 / (e + 2) < 5.6e-17`).
//! 2. Reduce `2a = k ln 2 + r`, `|r| <= ln(2) / 2 + 2^-40` (Cody-Waite, ln 2 in two parts).
//! 3. `expm1(r)` by its Taylor polynomial of degree [`DEGREE`] (Horner, `r + r^2 q(r)` so the
//!    leading term is exact). Truncation: `|R| <= |r|^11 / 11! * e^|r| <= 3.1e-13` absolute,
//!    and relative to `|expm1 r| >= |r| e^-|r|`: `<= |r|^10 / 11! * e^(2|r|) <= 1.3e-12`.
//! 4. `e = 2^k expm1(r) + (2^k - 1)`, both terms exact or small, no cancellation; for `k = 1`,
//!    `e >= 2 e^-0.347 - 1 = 0.414`, so `e`'s relative error is at most
//!    `2 * 3.1e-13 / 0.414 <= 1.5e-12`; for `k >= 2` at most `3.1e-13 * 1.42 / (1 - 2^-k e^0.35)`
//!    `<= 8e-13`; for `k = 0` it is the `1.3e-12` of step 3.
//! 5. `t = e / (e + 2)`: `dt / t = (de / e) * 2 / (e + 2)`, so `t`'s relative error is at most
//!    `e`'s (and shrinks as `e` grows), plus the rounding of the last steps (< 8 eps = 1.8e-15).
//!
//! Bound: relative error (hence absolute, `|tanh| <= 1`) at most [`TANH_FAST_MAX_REL_ERR`]
//! over all finite `x` (the `k = 1` case, 1.5e-12 * 2 / 2.414 = 1.25e-12, plus rounding).
//! `tests/squash.rs` measures it against `f64::tanh` over millions of random bit patterns on
//! every tier the CPU runs. Specials: NaN -> NaN, `+-inf -> +-1`, `-0 -> -0`, subnormal
//! `x -> x`.
//!
//! Cost: against the accurate `tanh` (4 ULP, degree-13 polynomial and selects for NaN and
//! the clamp), this one is 3 multiply-adds shorter, and the clamp, sign and NaN handling are
//! one compare-and-select and one bitwise OR (NaN propagates through the arithmetic itself).
//! One division per vector remains.
//!
//! # `tanh_rational`
//!
//! Same reduction, `2a = k ln 2 + r` (`a = min(|x|, SAT)`, one fused multiply-add with ln 2
//! rounded to `f64`), but `e^r` is the [5/5] Padé approximant `P(r) / P(-r)`,
//! `P(r) = E(r^2) + r O(r^2)`, `E(s) = 30240 + 3360 s + 30 s^2`, `O(s) = 15120 + 420 s + s^2`.
//! With `u = 2^k P(r) / P(-r)`, `tanh a = (u - 1) / (u + 1)`, and multiplying through by
//! `P(-r)`, with `w = r O(r^2)`:
//!
//! ```text
//! tanh a = ((2^k - 1) E + (2^k + 1) w) / ((2^k + 1) E + (2^k - 1) w)
//! ```
//!
//! No `expm1` and no cancellation near 0 (for `k = 0` it is `w / E`, the Padé form of
//! `tanh(r / 2)`), one division, no polynomial longer than degree 2 in `r^2`: the chain of
//! dependent steps is about half of `tanh_fast`'s, which on an out-of-order core with a
//! limited window is what bounds the throughput (see `docs/kernels.md`).
//!
//! 1. Approximation. `P(r) / P(-r) = e^r (1 + d)` with `|d| <= 8.64e-16` on
//!    `|r| <= ln(2) / 2 (1 + 2^-20)` (the reduction can overshoot `ln(2) / 2` by a rounding;
//!    maximum over 4,001 points in 50-digit arithmetic, `mpmath`). `d` in `u` is `d` in
//!    `e^2a`, i.e. an error `ln(1 + d) / 2` in `a`, relative error `|d| / sinh(2a)` in `tanh a`.
//!    For `k >= 1`, `2a >= ln(2) / 2` and `sinh(2a) >= 0.3536`: at most `2.45e-15`; for `k = 0`
//!    the relative error of `w / E` against `tanh(r / 2)` is at most `2.44e-15` (same
//!    computation).
//! 2. The reduced argument. `r` is one rounding of `2a - k LN2` (at most `2^-55` absolute,
//!    exact for `k = 0`) plus `k |LN2 - ln 2| <= 55 * 2.32e-17`; an absolute error in `r` is a
//!    relative error in `u`, damped by `2u / (u^2 - 1) <= 2^(1.5 - k) * 1.05`: below `2e-16`
//!    on every tier (without FMA `k LN2` rounds too: still below `2e-16`).
//! 3. Rounding of the evaluation, in `v = 2^-53`: `E` within `1.04v`, `O` within `2.0v`
//!    (two roundings of a value near 15,120), `w` within `3.0v`. The numerator cancels most
//!    at `k = 1` (`E + 3w`, `E >= 30240`, `|w| <= 5258`: terms at most 3.21 times the sum):
//!    `7.6v`; the denominator `2.4v`; the division `v`: `11v` with fused multiply-adds,
//!    `14.6v` without (the products `(2^k -+ 1) E` round too). For `k = 0` the numerator is
//!    `2w` and the denominator `2E` (exact doublings): `5.1v`. The sign is exact (a bitwise
//!    OR); the fused pass's `* scale` adds `v`.
//! 4. Saturation. For `a = SAT`, `k = 55`: `2^55 -+ 1` both round to `2^55`, numerator and
//!    denominator are the same computation and the result is exactly 1, the correctly rounded
//!    value (step 1 of `tanh_fast`).
//!
//! Bound: `2.45e-15 + 2e-16 + 15.6v = 4.38e-15`; [`TANH_RATIONAL_MAX_REL_ERR`] is 4.5e-15
//! (about 20 ULP), over all finite `x`, every tier, with or without the fused scale.
//! `tests/squash.rs` measures it against `f64::tanh` on every tier the CPU runs. Specials as
//! `tanh_fast`: NaN -> NaN, `+-inf -> +-1`, `-0 -> -0`; subnormal `x -> x` exactly (every
//! product of a subnormal with the integer coefficients is exact).

use crate::elementwise::map_in_place;
use crate::error::KernelError;
use crate::math::{pow2i, reduce_ln2};
use crate::simd::{Kernels, Tier, madd, multiversion};

/// Degree of the Taylor polynomial of `expm1` on the reduced interval.
pub const DEGREE: usize = 10;

/// The largest relative error of [`Kernels::tanh_fast_in_place`] against the exact `tanh`
/// (derived in the module docs; the tests check it against `f64::tanh` with its own 1 ULP
/// added). Also the largest absolute error.
pub const TANH_FAST_MAX_REL_ERR: f64 = 1.3e-12;

/// The largest relative error of [`Kernels::tanh_rational_in_place`] (and of the squash in
/// [`Kernels::normalize_squash_scale_in_place`] with [`Squash::TanhRational`]) against the
/// exact `tanh` (derived in the module docs: 4.38e-15; the tests check it against `f64::tanh`
/// with its own error added). Also the largest absolute error.
pub const TANH_RATIONAL_MAX_REL_ERR: f64 = 4.5e-15;

/// The largest relative error of [`Kernels::tanh_f32_in_place`] (and of the squash in
/// [`Kernels::normalize_squash_scale_in_place`] with [`Squash::TanhF32`]) against the exact
/// `tanh`, on every tier (derived in `squash/single.rs`: 6.6e-7 with fused multiply-adds,
/// 1.14e-6 without). Also the largest absolute error; it holds for every finite input,
/// subnormals included.
pub const TANH_F32_MAX_REL_ERR: f64 = 1.2e-6;

/// Which `tanh` a squashing pass uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Squash {
    /// The accurate `tanh` ([`Kernels::tanh_in_place`]): within 5.5 ULP (measured 2.5).
    #[default]
    Tanh,
    /// [`Kernels::tanh_fast_in_place`]: relative error at most [`TANH_FAST_MAX_REL_ERR`].
    TanhFast,
    /// [`Kernels::tanh_rational_in_place`]: relative error at most
    /// [`TANH_RATIONAL_MAX_REL_ERR`]; the fastest at double precision.
    TanhRational,
    /// [`Kernels::tanh_f32_in_place`]: a rational function evaluated in single precision
    /// (16 values per AVX-512 vector), relative error at most [`TANH_F32_MAX_REL_ERR`]; the
    /// fastest of the four, for squashing where ~1e-6 is enough.
    TanhF32,
}

/// `|x|` beyond which `tanh` rounds to `+-1`.
const SAT: f64 = 19.0625;
const SIGN: u64 = 1 << 63;

/// `tanh(x)` within [`TANH_FAST_MAX_REL_ERR`].
#[inline(always)]
pub(crate) fn tanh_fast<const FMA: bool>(x: f64) -> f64 {
    let a = f64::from_bits(x.to_bits() & !SIGN);
    // NaN fails the compare and stays NaN through every step below.
    let a = if a > SAT { SAT } else { a };
    let (k, r) = reduce_ln2::<FMA>(a + a);
    // 1/2! .. 1/10!, highest first.
    const C: [f64; DEGREE - 1] = [
        1.0 / 3_628_800.0,
        1.0 / 362_880.0,
        1.0 / 40_320.0,
        1.0 / 5_040.0,
        1.0 / 720.0,
        1.0 / 120.0,
        1.0 / 24.0,
        1.0 / 6.0,
        0.5,
    ];
    let mut q = C[0];
    for c in &C[1..] {
        q = madd::<FMA>(q, r, *c);
    }
    let p = madd::<FMA>(r * r, q, r);
    let s = pow2i(k); // 0 <= k <= 56
    let e = madd::<FMA>(s, p, s - 1.0);
    let m = e / (e + 2.0);
    f64::from_bits(m.to_bits() | (x.to_bits() & SIGN))
}

/// ln 2 rounded to `f64` (`tanh_rational` reduces with one fused multiply-add).
const LN_2: f64 = core::f64::consts::LN_2;
const LOG2_E: f64 = core::f64::consts::LOG2_E;
/// `1.5 * 2^52`: adding it rounds a value below 2^51 to an integer, left in the low bits.
const ROUNDER: f64 = 6_755_399_441_055_744.0;

/// `scale * tanh(pre[i] * mul)` for `N` lanes, portable: the scalar tier's kernel and the
/// reference the AVX2 and AVX-512 kernels (`x86::tanh4`, `avx512::tanh8`: the same operations
/// in the same order) follow.
///
/// `tanh(z)` within [`TANH_RATIONAL_MAX_REL_ERR`], `z = pre * mul` (rounded once); see the
/// module docs.
#[inline(always)]
pub(crate) fn tanh_rational_lanes<const FMA: bool, const SCALED: bool, const N: usize>(
    pre: &[f64; N],
    mul: f64,
    scale: f64,
) -> [f64; N] {
    // z = pre * mul; 2|z| clamped at 2 SAT (an overflowed product clamps too, NaN stays NaN:
    // it fails the compare).
    let mut z = [0.0; N];
    let mut y = [0.0; N];
    for i in 0..N {
        z[i] = pre[i] * mul;
        let a = f64::from_bits(z[i].to_bits() & !SIGN);
        let a = if a > SAT { SAT } else { a };
        y[i] = a + a;
    }
    // 2|z| = k ln 2 + r: k = round(y / ln 2) in the low bits of t, 2^k built from them.
    let mut t = [0.0; N];
    for i in 0..N {
        t[i] = madd::<FMA>(y[i], LOG2_E, ROUNDER);
    }
    let mut r = [0.0; N];
    let mut p2 = [0.0; N];
    for i in 0..N {
        r[i] = madd::<FMA>(-(t[i] - ROUNDER), LN_2, y[i]);
        p2[i] = f64::from_bits(t[i].to_bits().wrapping_add(1023) << 52);
    }
    let mut e = [0.0; N];
    let mut w = [0.0; N];
    for i in 0..N {
        let s = r[i] * r[i];
        e[i] = madd::<FMA>(madd::<FMA>(30.0, s, 3360.0), s, 30240.0);
        // O = s^2 + 420 s + 15120 as two multiply-adds (`(s + 420) s + 15120` is one
        // operation shorter, but LLVM's SLP vectoriser splits that form into scalars).
        w[i] = r[i] * madd::<FMA>(s, s, madd::<FMA>(420.0, s, 15120.0));
    }
    let mut out = [0.0; N];
    for i in 0..N {
        let (cm, cp) = (p2[i] - 1.0, p2[i] + 1.0);
        let num = madd::<FMA>(cm, e[i], cp * w[i]);
        let den = madd::<FMA>(cp, e[i], cm * w[i]);
        let m = f64::from_bits((num / den).to_bits() | (z[i].to_bits() & SIGN));
        out[i] = if SCALED { m * scale } else { m };
    }
    out
}

/// Calls `$run::<AFFINE, UNIT_PRE, SCALED>($x, $p)` with the shape of the pass: plain `tanh`
/// (`$plain`: no affine map, no scale), or the affine map and the scale, skipping the
/// multiplication by `pre_scale` when it is 1 (`v * 1.0 == v` for every `v`: skipping it
/// changes no result). Every vector kernel of both squashes dispatches through it.
macro_rules! by_shape {
    ($run:ident, $x:expr, $p:expr, $plain:expr) => {
        if $plain {
            $run::<false, true, false>($x, $p)
        } else if $p.pre_scale == 1.0 {
            $run::<true, true, true>($x, $p)
        } else {
            $run::<true, false, true>($x, $p)
        }
    };
}

/// What the rational squash pass does to each value before `tanh` and after it:
/// `scale * tanh(((v * pre_scale - shift) - mean) * inv_std)`. Plain `tanh` is
/// `pre_scale = inv_std = scale = 1`, `shift = mean = 0` (every step then returns `v`
/// exactly, `-0` and NaN included), and skips them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RationalPass {
    pub(crate) pre_scale: f64,
    pub(crate) shift: f64,
    pub(crate) mean: f64,
    pub(crate) inv_std: f64,
    pub(crate) scale: f64,
}

impl RationalPass {
    /// Plain `tanh`.
    pub(crate) const TANH: RationalPass = RationalPass {
        pre_scale: 1.0,
        shift: 0.0,
        mean: 0.0,
        inv_std: 1.0,
        scale: 1.0,
    };

    /// `(v * pre_scale - shift) - mean`: the deviation the vector kernels' affine step
    /// (`affine4`, `affine8`) multiplies by `inv_std`, in the same operations.
    #[inline(always)]
    fn deviation(&self, v: f64) -> f64 {
        (v * self.pre_scale - self.shift) - self.mean
    }

    /// The pass on one value, portable (the scalar tier, and every tier's last few values).
    #[inline(always)]
    fn one<const FMA: bool>(&self, v: f64) -> f64 {
        tanh_rational_lanes::<FMA, true, 1>(&[self.deviation(v)], self.inv_std, self.scale)[0]
    }
}

multiversion! {
    fn rational_pass_portable_v(x: &mut [f64], p: RationalPass) -> () {
        map_in_place(x, |v| p.one::<FMA>(v))
    }
}

/// The AVX2+FMA kernel of the rational squash, written with intrinsics: the portable lane
/// code left LLVM free to vectorise across chunks instead (strided loads, shuffles), which
/// made it slower than `tanh_fast`.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{LN_2, LOG2_E, ROUNDER, RationalPass, SAT};
    use core::arch::x86_64::{
        __m256d, _mm256_add_epi64, _mm256_add_pd, _mm256_and_pd, _mm256_andnot_pd,
        _mm256_castpd_si256, _mm256_castsi256_pd, _mm256_div_pd, _mm256_fmadd_pd, _mm256_fnmadd_pd,
        _mm256_loadu_pd, _mm256_min_pd, _mm256_mul_pd, _mm256_or_pd, _mm256_set1_epi64x,
        _mm256_set1_pd, _mm256_slli_epi64, _mm256_storeu_pd, _mm256_sub_pd,
    };

    /// `tanh_rational_lanes` on 4 lanes, the same operations in the same order (so the same
    /// results as the portable code with FMA), in the three parts the staged loop (`run`)
    /// spreads over its steps: `front`, `middle`, then the division and `back`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn tanh4(z: __m256d) -> __m256d {
        let (num, den) = middle(front(z));
        back(z, _mm256_div_pd(num, den))
    }

    /// `tanh4` up to `r` (the reduced argument of `exp(2|z|)`) and `p2 = 2^k`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn front(z: __m256d) -> (__m256d, __m256d) {
        let sign = _mm256_set1_pd(-0.0);
        // min(SAT, a) returns its second operand when either is NaN: NaN stays NaN.
        let a = _mm256_min_pd(_mm256_set1_pd(SAT), _mm256_andnot_pd(sign, z));
        let y = _mm256_add_pd(a, a);
        let t = _mm256_fmadd_pd(y, _mm256_set1_pd(LOG2_E), _mm256_set1_pd(ROUNDER));
        let kf = _mm256_sub_pd(t, _mm256_set1_pd(ROUNDER));
        let r = _mm256_fnmadd_pd(kf, _mm256_set1_pd(LN_2), y);
        let bits = _mm256_add_epi64(_mm256_castpd_si256(t), _mm256_set1_epi64x(1023));
        (r, _mm256_castsi256_pd(_mm256_slli_epi64::<52>(bits)))
    }

    /// `tanh4` from `(r, p2)` to the numerator and denominator of `tanh |z|`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn middle((r, p2): (__m256d, __m256d)) -> (__m256d, __m256d) {
        let s = _mm256_mul_pd(r, r);
        let e = _mm256_fmadd_pd(
            _mm256_fmadd_pd(_mm256_set1_pd(30.0), s, _mm256_set1_pd(3360.0)),
            s,
            _mm256_set1_pd(30240.0),
        );
        let o = _mm256_fmadd_pd(
            s,
            s,
            _mm256_fmadd_pd(_mm256_set1_pd(420.0), s, _mm256_set1_pd(15120.0)),
        );
        let w = _mm256_mul_pd(r, o);
        let cm = _mm256_sub_pd(p2, _mm256_set1_pd(1.0));
        let cp = _mm256_add_pd(p2, _mm256_set1_pd(1.0));
        let num = _mm256_fmadd_pd(cm, e, _mm256_mul_pd(cp, w));
        let den = _mm256_fmadd_pd(cp, e, _mm256_mul_pd(cm, w));
        (num, den)
    }

    /// `tanh4`'s last step: `tanh |z|` (the quotient `q`) given `z`'s sign.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn back(z: __m256d, q: __m256d) -> __m256d {
        _mm256_or_pd(q, _mm256_and_pd(z, _mm256_set1_pd(-0.0)))
    }

    /// `((v * pre_scale - shift) - mean) * inv_std` on 4 values, or `v` unchanged without
    /// `AFFINE`; `UNIT_PRE` skips the multiplication by `pre_scale = 1`. The map before both
    /// squashes' AVX2 kernels (this one and `single`'s), so both see the same z-scores.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn affine4<const AFFINE: bool, const UNIT_PRE: bool>(
        v: __m256d,
        p: &RationalPass,
    ) -> __m256d {
        if !AFFINE {
            return v;
        }
        let v = if UNIT_PRE {
            v
        } else {
            _mm256_mul_pd(v, _mm256_set1_pd(p.pre_scale))
        };
        let d = _mm256_sub_pd(
            _mm256_sub_pd(v, _mm256_set1_pd(p.shift)),
            _mm256_set1_pd(p.mean),
        );
        _mm256_mul_pd(d, _mm256_set1_pd(p.inv_std))
    }

    /// The pass on 4 values; `AFFINE` / `UNIT_PRE` / `SCALED` drop the steps that are
    /// identities for plain `tanh` or an unscaled input.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn pass4<const AFFINE: bool, const UNIT_PRE: bool, const SCALED: bool>(
        v: __m256d,
        p: &RationalPass,
    ) -> __m256d {
        scaled::<SCALED>(tanh4(affine4::<AFFINE, UNIT_PRE>(v, p)), p)
    }

    /// `* scale` where `SCALED`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn scaled<const SCALED: bool>(m: __m256d, p: &RationalPass) -> __m256d {
        if SCALED {
            _mm256_mul_pd(m, _mm256_set1_pd(p.scale))
        } else {
            m
        }
    }

    /// The pass over `x`, 4 values per group, the groups in five stages: each step runs the
    /// affine map of group `g`, `front` of group `g - 1`, `middle` of group `g - 2`, the
    /// division of group `g - 3` and `back` and the scale of group `g - 4`. The z-scores
    /// wait in `x` itself (stored over the group's input; plain `tanh` leaves the input, its
    /// own z-score) until the last stage loads them again for their sign, so the state in
    /// registers is 6 vectors. A group's chain of dependent operations is ~65 cycles long and
    /// AMD Zen 3 did not overlap enough groups of the earlier loop (4 vectors per step, each
    /// through every step) by itself: this took 22% off that loop in a standalone probe
    /// of both (same process, interleaved; `docs/kernels.md`). Each group gets `pass4`'s
    /// operations (fewer than 5 groups go through it), so the same bits; the portable code
    /// takes the last `len % 4`.
    #[target_feature(enable = "avx2,fma")]
    fn run<const AFFINE: bool, const UNIT_PRE: bool, const SCALED: bool>(
        x: &mut [f64],
        p: &RationalPass,
    ) {
        let groups = x.len() / 4;
        let (body, rest) = x.split_at_mut(groups * 4);
        if groups < 5 {
            for c in body.chunks_exact_mut(4) {
                let q = c.as_mut_ptr();
                // SAFETY: `c` has 4 elements.
                unsafe {
                    _mm256_storeu_pd(q, pass4::<AFFINE, UNIT_PRE, SCALED>(_mm256_loadu_pd(q), p))
                };
            }
        } else {
            let q = body.as_mut_ptr();
            // Group `g < groups` spans `q + 4 g .. q + 4 g + 4`, inside `body` (`4 groups =
            // body.len()`). Its first stage loads its input and stores its z-score there;
            // its last stage, four steps later, loads that and stores the result; no other
            // stage touches the group.
            let z_of = |g: usize| {
                // SAFETY: `g < groups`: group `g` is in bounds (above).
                unsafe {
                    let z = affine4::<AFFINE, UNIT_PRE>(_mm256_loadu_pd(q.add(4 * g)), p);
                    if AFFINE {
                        _mm256_storeu_pd(q.add(4 * g), z);
                    }
                    z
                }
            };
            let finish = |g: usize, quotient: __m256d| {
                // SAFETY: `g < groups`: group `g` is in bounds (above).
                unsafe {
                    let z = _mm256_loadu_pd(q.add(4 * g));
                    _mm256_storeu_pd(q.add(4 * g), scaled::<SCALED>(back(z, quotient), p));
                }
            };
            let div = |(num, den): (__m256d, __m256d)| _mm256_div_pd(num, den);
            let mut q4 = div(middle(front(z_of(0))));
            let mut nd3 = middle(front(z_of(1)));
            let mut rp2 = front(z_of(2));
            let mut z1 = z_of(3);
            for g in 4..groups {
                let z0 = z_of(g);
                let rp1 = front(z1);
                let nd2 = middle(rp2);
                let q3 = div(nd3);
                finish(g - 4, q4);
                (q4, nd3, rp2, z1) = (q3, nd2, rp1, z0);
            }
            finish(groups - 4, q4);
            finish(groups - 3, div(nd3));
            finish(groups - 2, div(middle(rp2)));
            finish(groups - 1, div(middle(front(z1))));
        }
        for v in rest {
            *v = p.one::<true>(*v);
        }
    }

    /// Runs the pass with the AVX2+FMA kernel.
    ///
    /// # Safety
    /// The CPU supports AVX2 and FMA.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn pass(x: &mut [f64], p: &RationalPass, plain: bool) {
        by_shape!(run, x, p, plain);
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512;
mod single;
pub(crate) use single::single_pass;

/// `scale * tanh(((x * pre_scale - shift) - mean) * inv_std)` in place with the rational
/// `tanh`, on `k`'s tier; every tier gives the same bits.
pub(crate) fn rational_pass(k: Kernels, x: &mut [f64], p: RationalPass, plain: bool) {
    match k.tier() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Kernels`' invariant: its tier is supported by this CPU, and the AVX2
        // tier requires avx2 and fma (`Tier::is_supported`).
        Tier::Avx2 => unsafe { x86::pass(x, &p, plain) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Kernels`' invariant: the AVX-512 tier requires avx512f and avx512dq
        // (`Tier::is_supported`), the features `avx512::pass` enables.
        Tier::Avx512 => unsafe { avx512::pass(x, &p, plain) },
        _ => rational_pass_portable_v(k, x, p),
    }
}

multiversion! {
    fn tanh_fast_in_place_v(x: &mut [f64]) -> () { map_in_place(x, tanh_fast::<FMA>) }
}

/// The `_into` form of an in-place squash: `x` copied to `out`, then `in_place(out)`; a
/// length mismatch is refused with nothing written.
#[inline]
fn copy_then(
    out: &mut [f64],
    x: &[f64],
    in_place: impl FnOnce(&mut [f64]),
) -> Result<(), KernelError> {
    if out.len() != x.len() {
        return Err(KernelError::LengthMismatch {
            expected: out.len(),
            got: x.len(),
        });
    }
    out.copy_from_slice(x);
    in_place(out);
    Ok(())
}

impl Kernels {
    /// `x[i] = tanh x[i]` within a relative (and absolute) error of
    /// [`TANH_FAST_MAX_REL_ERR`] (1.3e-12): cheaper than the 4-ULP
    /// [`tanh_in_place`](Self::tanh_in_place), for squashing. NaN stays NaN, `+-inf` gives
    /// `+-1`, `-0` stays `-0`.
    #[inline]
    pub fn tanh_fast_in_place(&self, x: &mut [f64]) {
        tanh_fast_in_place_v(*self, x);
    }

    /// As [`tanh_fast_in_place`](Self::tanh_fast_in_place), writing into `out`.
    ///
    /// # Errors
    /// [`KernelError::LengthMismatch`] if the slices differ in length; nothing is written.
    #[inline]
    pub fn tanh_fast_into(&self, out: &mut [f64], x: &[f64]) -> Result<(), KernelError> {
        copy_then(out, x, |o| self.tanh_fast_in_place(o))
    }
}

impl Kernels {
    /// `x[i] = tanh x[i]` within a relative (and absolute) error of
    /// [`TANH_RATIONAL_MAX_REL_ERR`] (4.5e-15): a rational function of the reduced argument
    /// and one division, the fastest `tanh` here, for squashing. NaN stays NaN, `+-inf` gives
    /// `+-1`, `-0` stays `-0`, subnormals are returned unchanged.
    ///
    /// ```
    /// use zerotick_kernels::{Kernels, TANH_RATIONAL_MAX_REL_ERR};
    ///
    /// let mut x = [-3.0, -0.5, 0.0, 1e-3, 2.0, 40.0];
    /// let want = x.map(f64::tanh);
    /// Kernels::active().tanh_rational_in_place(&mut x);
    /// for (y, t) in x.iter().zip(want) {
    ///     assert!((y - t).abs() <= 2.0 * TANH_RATIONAL_MAX_REL_ERR * t.abs());
    /// }
    /// ```
    #[inline]
    pub fn tanh_rational_in_place(&self, x: &mut [f64]) {
        rational_pass(*self, x, RationalPass::TANH, true);
    }

    /// As [`tanh_rational_in_place`](Self::tanh_rational_in_place), writing into `out`.
    ///
    /// # Errors
    /// [`KernelError::LengthMismatch`] if the slices differ in length; nothing is written.
    #[inline]
    pub fn tanh_rational_into(&self, out: &mut [f64], x: &[f64]) -> Result<(), KernelError> {
        copy_then(out, x, |o| self.tanh_rational_in_place(o))
    }

    /// `x[i] = tanh x[i]` within a relative (and absolute) error of
    /// [`TANH_F32_MAX_REL_ERR`] (1.2e-6): `x * R(x^2)` with the rational function `R`
    /// evaluated in `f32`, 16 values per AVX-512 vector (method and bound in the
    /// `squash/single.rs` module docs). NaN stays NaN, `+-inf` gives `+-tanh 9` (within the
    /// bound of `+-1`), `-0` stays `-0`, subnormals are returned unchanged. The result can
    /// exceed 1 in magnitude by up to the bound.
    ///
    /// ```
    /// use zerotick_kernels::{Kernels, TANH_F32_MAX_REL_ERR};
    ///
    /// let mut x = [-3.0, -0.5, 0.0, 1e-3, 2.0, 40.0];
    /// let want = x.map(f64::tanh);
    /// Kernels::active().tanh_f32_in_place(&mut x);
    /// for (y, t) in x.iter().zip(want) {
    ///     assert!((y - t).abs() <= TANH_F32_MAX_REL_ERR * t.abs());
    /// }
    /// ```
    #[inline]
    pub fn tanh_f32_in_place(&self, x: &mut [f64]) {
        single_pass(*self, x, RationalPass::TANH, true);
    }

    /// As [`tanh_f32_in_place`](Self::tanh_f32_in_place), writing into `out`.
    ///
    /// # Errors
    /// [`KernelError::LengthMismatch`] if the slices differ in length; nothing is written.
    #[inline]
    pub fn tanh_f32_into(&self, out: &mut [f64], x: &[f64]) -> Result<(), KernelError> {
        copy_then(out, x, |o| self.tanh_f32_in_place(o))
    }

    /// `x[i] = tanh x[i]` with the chosen [`Squash`].
    #[inline]
    pub fn squash_in_place(&self, x: &mut [f64], squash: Squash) {
        match squash {
            Squash::Tanh => self.tanh_in_place(x),
            Squash::TanhFast => self.tanh_fast_in_place(x),
            Squash::TanhRational => self.tanh_rational_in_place(x),
            Squash::TanhF32 => self.tanh_f32_in_place(x),
        }
    }
}

/// Checks that an AVX2 squash kernel (`kernel(k, x, pass, plain)`) gives its portable code's
/// bits with fused multiply-adds (`portable(k, x, pass)` on the AVX2 `Kernels`) for plain
/// `tanh`, a fused pass and one with a `pre_scale`, at every length `0..=max_len` and
/// 1,023-1,025: values spread over `[-half_range, half_range)`, every eleventh one a special
/// (signed zeros, a subnormal, huge values, infinity, a NaN whose payload must survive).
/// Does nothing where the CPU has no AVX2.
#[cfg(test)]
fn assert_avx2_kernel_is_the_portable_fma_code(
    kernel: fn(Kernels, &mut [f64], RationalPass, bool),
    portable: fn(Kernels, &mut [f64], RationalPass),
    max_len: usize,
    half_range: f64,
) {
    let Ok(k) = Kernels::new(Tier::Avx2) else {
        return; // no AVX2 here: nothing to compare
    };
    let fused = RationalPass {
        pre_scale: 1.0,
        shift: 0.25,
        mean: 1.5,
        inv_std: 0.75,
        scale: 0.7,
    };
    let pre = RationalPass {
        pre_scale: 3.0,
        ..fused
    };
    let nan = f64::from_bits(0x7ff8_0000_dead_beef);
    let specials = [0.0, -0.0, 1e-300, -5e-324, 40.0, -1e300, f64::INFINITY, nan];
    for len in (0..=max_len).chain([1023, 1024, 1025]) {
        let x: Vec<f64> = (0..len)
            .map(|i| {
                if i % 11 == 5 {
                    specials[i / 11 % specials.len()]
                } else {
                    (i as f64 * 0.618_034).fract() * 2.0 * half_range - half_range
                }
            })
            .collect();
        for (p, plain) in [(RationalPass::TANH, true), (fused, false), (pre, false)] {
            let mut a = x.clone();
            kernel(k, &mut a, p, plain);
            let mut b = x.clone();
            portable(k, &mut b, p);
            let bits = |v: &[f64]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a), bits(&b), "len {len}, plain {plain}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AVX2 rational kernel (five stages from 5 groups of 4 up, `pass4` per group below
    /// that, the portable tail) gives the portable code's bits with fused multiply-adds,
    /// plain and fused, at every length up to 60 and around 1,024; NaN keeps its payload.
    #[test]
    fn avx2_rational_kernel_is_the_portable_fma_code() {
        assert_avx2_kernel_is_the_portable_fma_code(
            rational_pass,
            rational_pass_portable_v,
            60,
            25.0,
        );
    }

    #[test]
    fn saturation_rounds_to_one() {
        // The clamp is sound: tanh(SAT) already rounds to 1 in f64.
        assert_eq!(SAT.tanh(), 1.0);
        assert_eq!(tanh_fast::<false>(SAT), 1.0);
        assert_eq!(tanh_fast::<false>(-1e300), -1.0);
    }

    #[test]
    fn rational_saturates_and_keeps_subnormals() {
        let f = |x: f64| tanh_rational_lanes::<false, false, 1>(&[x], 1.0, 1.0)[0];
        assert_eq!(f(SAT), 1.0);
        assert_eq!(f(-1e300), -1.0);
        assert_eq!(f(5e-324), 5e-324);
        assert_eq!(f(-3e-310), -3e-310);
        // The [5/5] coefficients: P(r) / P(-r) matches e^r to the derived 8.64e-16 at the
        // interval's end (std's exp is within 1 ULP).
        let r = LN_2 / 2.0;
        let p = |r: f64| 30240.0 + r * (15120.0 + r * (3360.0 + r * (420.0 + r * (30.0 + r))));
        let d = (p(r) / p(-r) / r.exp() - 1.0).abs();
        assert!(d < 8.64e-16 + 4.5e-16 && d > 1e-16, "pade error {d:e}");
    }

    #[test]
    fn truncation_bound_holds_at_the_interval_end() {
        // The derivation's step 3 at |r| = ln(2) / 2, in exact-enough arithmetic: compare the
        // polynomial against std's expm1 there.
        let r = core::f64::consts::LN_2 / 2.0;
        let mut q = 0.0;
        let mut fact = 1.0;
        let mut terms = [0.0; DEGREE + 1];
        for (n, t) in terms.iter_mut().enumerate().skip(1) {
            fact *= n as f64;
            *t = r.powi(n as i32) / fact;
        }
        for t in terms.iter().rev() {
            q += t;
        }
        let rel = (q - r.exp_m1()).abs() / r.exp_m1();
        assert!(rel < 1.3e-12 && rel > 1e-14, "truncation {rel:e}");
    }
}

//! `tanh_f32`: the squash with its rational function evaluated in single precision, for
//! passes where ~1e-6 is accurate enough and throughput matters (the fused normalise +
//! squash + scale pass of a 1,024-value row).
//!
//! # Method
//! `tanh z = z R(z^2)` with `R(s) = P(s) / Q(s)`, `P` and `Q` of degree 4, on `|z| <= C = 9`;
//! `z` is clamped to `[-C, C]` first:
//!
//! 1. Clamp, in `f64`: `zc = max(-C, min(C, z))` (NaN stays NaN).
//! 2. `s = f32(zc)^2`, `R = P(s) / Q(s)` in `f32` (Horner with fused multiply-adds on the
//!    vector tiers, one IEEE division: 16 values per `zmm`, 8 per `ymm`). A NaN `zc` is
//!    replaced by `C` here, so `R` is never NaN and step 3 returns `z`'s own NaN.
//! 3. `tanh z = zc * f64(R)` in `f64` (then `* scale` in the fused pass).
//!
//! Step 3 multiplies in `f64` by the unrounded `zc`, so a tiny or subnormal `z` gives `z`
//! exactly (`s` rounds to 0 and `R(0) = P(0) / Q(0) = 1`) and the sign of zero is kept: the
//! relative error bound holds for every finite `z`, not only `f32`'s normal range.
//!
//! # Error bound
//! The coefficients are a near-minimax fit of `tanh(z) / z` on `[0, 9]` for relative error
//! (Lawson-weighted linearised least squares, 40-digit `mpmath`), then rounded to `f32`; the
//! fit with the rounded coefficients is within `3.57e-8` of `tanh(z) / z` (maximum over
//! 20,000 points of `(0, 9]` in 40-digit arithmetic; `scripts/fit-tanh-f32.py` redoes the
//! fit and the check, a unit test the check in `f64`). In units of `u = 2^-24`:
//!
//! - `f32(zc)` and the square: `s` within `3u` relative; `R` approximates `tanh(z) / z`,
//!   whose logarithmic derivative in `s` lies in `[-1/2, 0]`, so that is at most `1.5u` in
//!   `R`;
//! - Horner of `P` and of `Q`: every coefficient and `s` are positive, so no cancellation;
//!   4 fused multiply-adds each: `4u` each (8 roundings, `8u`, without FMA);
//! - the division: `u`; the conversion back to `f64` and the `f64` products: exact or
//!   `2^-53`.
//!
//! So `10.5u + 3.57e-8 = 6.6e-7` with fused multiply-adds (AVX2 and AVX-512 tiers) and
//! `18.5u + 3.57e-8 = 1.14e-6` without (the scalar tier). Beyond the clamp, `tanh |z|` is
//! within `1 - tanh 9 = 3.05e-8` of `tanh 9`. [`TANH_F32_MAX_REL_ERR`] = `1.2e-6` covers
//! every tier; `tests/squash.rs` measures each tier against `f64::tanh`. The result is not
//! clamped to `[-1, 1]`: it can exceed 1 in magnitude by up to the bound.
//!
//! The AVX2 and AVX-512 kernels do the same operations in the same order as the portable
//! code with fused multiply-adds (the conversions round to nearest, the division is IEEE), so
//! those tiers give the same bits.
//!
//! [`TANH_F32_MAX_REL_ERR`]: super::TANH_F32_MAX_REL_ERR

use super::RationalPass;
use crate::elementwise::map_in_place;
use crate::simd::{Kernels, Tier, multiversion};

/// The clamp: `tanh 9 = 1 - 3.05e-8`.
const C: f64 = 9.0;

/// `P`, constant term first: the `f32` roundings of the fit (bit patterns, so no decimal
/// literal can round to a neighbour): 1, 0.13380975, 0.0034955267, 2.0608046e-5,
/// 1.3353203e-8.
const P: [f32; 5] = [
    f32::from_bits(0x3f80_0000),
    f32::from_bits(0x3e09_056c),
    f32::from_bits(0x3b65_1535),
    f32::from_bits(0x37ac_df71),
    f32::from_bits(0x3265_6802),
];
/// `Q`, constant term first: 1, 0.46714291, 0.025876751, 3.2855332e-4, 7.7759643e-7.
const Q: [f32; 5] = [
    f32::from_bits(0x3f80_0000),
    f32::from_bits(0x3eef_2d5b),
    f32::from_bits(0x3cd3_fb7b),
    f32::from_bits(0x39ac_41ae),
    f32::from_bits(0x3550_bc05),
];

#[inline(always)]
fn madd32<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// `R(s) = P(s) / Q(s)` in `f32`, Horner.
#[inline(always)]
fn ratio<const FMA: bool>(s: f32) -> f32 {
    let p = madd32::<FMA>(
        madd32::<FMA>(
            madd32::<FMA>(madd32::<FMA>(P[4], s, P[3]), s, P[2]),
            s,
            P[1],
        ),
        s,
        P[0],
    );
    let q = madd32::<FMA>(
        madd32::<FMA>(
            madd32::<FMA>(madd32::<FMA>(Q[4], s, Q[3]), s, Q[2]),
            s,
            Q[1],
        ),
        s,
        Q[0],
    );
    p / q
}

/// The clamp of step 1, as `vminpd` / `vmaxpd` do it (each returns its second operand when
/// either is NaN, so NaN stays NaN; `-0` stays `-0`).
#[inline(always)]
fn clamp(z: f64) -> f64 {
    let w = if C < z { C } else { z };
    if -C > w { -C } else { w }
}

/// `zf`, or `C` for NaN, as `vminps(zf, C)` does (its second operand when either is NaN):
/// `R` is then never NaN, so `zc * R` returns `zc`'s own NaN, the same payload on every tier.
#[inline(always)]
fn nan_to_c(zf: f32) -> f32 {
    if zf < C as f32 { zf } else { C as f32 }
}

impl RationalPass {
    /// The pass on one value with the `f32` squash, portable (the scalar tier, and the vector
    /// tiers' last few values on AVX2).
    #[inline(always)]
    fn one_f32<const FMA: bool>(&self, v: f64) -> f64 {
        let z = self.deviation(v) * self.inv_std;
        let zc = clamp(z);
        let zf = nan_to_c(zc as f32);
        (zc * f64::from(ratio::<FMA>(zf * zf))) * self.scale
    }
}

multiversion! {
    fn single_pass_portable_v(x: &mut [f64], p: RationalPass) -> () {
        map_in_place(x, |v| p.one_f32::<FMA>(v))
    }
}

/// The body of the AVX-512 tier's `pipelined`: the whole groups of `$w` values of `$x`,
/// software-pipelined in three stages. Each step runs the front of group `g` (`$front`: the
/// affine step, the clamp, the conversion to `f32` and the square), the ratio and division of
/// group `g - 1` (`$ratio`) and the back of group `g - 2` (`$back`: the conversion back,
/// `zc * R`, the scale). The uops issued together then do not wait on each other: a group's
/// chain of dependent operations is ~90 cycles long against ~19 cycles of issue. Each group
/// gets the same operations as `$pass` (fewer than two groups go through it), so the results
/// are the same bits.
macro_rules! pipelined_groups {
    ($x:ident, $p:ident, $w:literal, $load:ident, $store:ident, $front:path, $ratio:ident, $back:path, $pass:path) => {{
        let groups = $x.len() / $w;
        if groups < 2 {
            for c in $x.chunks_exact_mut($w) {
                let q = c.as_mut_ptr();
                // SAFETY: `c` has `$w` elements.
                unsafe {
                    let (lo, hi) = $load(q);
                    $store(q, $pass(lo, hi, $p));
                }
            }
            return;
        }
        let q = $x.as_mut_ptr();
        // SAFETY: every group `g < groups` spans `q + $w g .. q + $w (g + 1)`, inside `$x`
        // (`$w groups <= $x.len()`); each group is loaded once before it is stored, and
        // stored only by its own back stage.
        unsafe {
            let (lo, hi) = $load(q);
            let (mut zl2, mut zh2, s) = $front(lo, hi, $p);
            let mut r2 = $ratio(s);
            let (lo, hi) = $load(q.add($w));
            let (mut zl1, mut zh1, mut s1) = $front(lo, hi, $p);
            for g in 2..groups {
                let (lo, hi) = $load(q.add($w * g));
                let (zl0, zh0, s0) = $front(lo, hi, $p);
                let r1 = $ratio(s1);
                $store(q.add($w * (g - 2)), $back(zl2, zh2, r2, $p));
                (zl2, zh2, r2) = (zl1, zh1, r1);
                (zl1, zh1, s1) = (zl0, zh0, s0);
            }
            let r1 = $ratio(s1);
            $store(q.add($w * (groups - 2)), $back(zl2, zh2, r2, $p));
            $store(q.add($w * (groups - 1)), $back(zl1, zh1, r1, $p));
        }
    }};
}

/// The whole groups of `$w` values of `$x` in five stages, for the AVX2 tier: each step
/// runs the front of group `g` (`$front`: the affine step, the clamp, the conversion to
/// `f32`), the square of group `g - 1` (`$square`), the polynomials of group `g - 2`
/// (`$poly`), the division of group `g - 3` and the back of group `g - 4` (`$back`). The
/// clamped z-scores wait in `$x` itself between the front and the back: the front stores
/// them over the group's input and the back loads them again (from L1, long after the
/// store), so only `f`, `s`, `P`, `Q` and `R` stay in registers (the AVX2 tier has 16;
/// `pipelined_groups`' six vectors of state spilled its constants). A group's chain of
/// dependent operations is ~75 cycles long, and AMD Zen 3 did not overlap enough groups of
/// the two- and three-stage loops by itself. There this took `zerotick-bench simd`'s fused
/// pass (`normalize_1k`, `tanh-f32`) from 1,602 to 1,271 ns and plain `tanh_f32` from 1,025
/// to 602 ns in four stages (medians of five interleaved invocations), and splitting the
/// square from the front gained another ~5% (`docs/kernels.md`). Each group gets the same
/// operations as `$pass` (fewer than four groups go through it), so the results are the
/// same bits.
macro_rules! staged_groups {
    ($x:ident, $p:ident, $w:literal, $load:ident, $store:ident, $front:path, $square:ident, $poly:ident, $div:ident, $back:path, $pass:path) => {{
        let groups = $x.len() / $w;
        if groups < 4 {
            for c in $x.chunks_exact_mut($w) {
                let q = c.as_mut_ptr();
                // SAFETY: `c` has `$w` elements.
                unsafe {
                    let (lo, hi) = $load(q);
                    $store(q, $pass(lo, hi, $p));
                }
            }
            return;
        }
        let q = $x.as_mut_ptr();
        // SAFETY: every group `g < groups` spans `q + $w g .. q + $w (g + 1)`, inside `$x`
        // (`$w groups <= $x.len()`). Group `g`'s front loads its input and stores its
        // clamped z-scores there; its back, four steps later, loads those and stores the
        // result there; no other stage touches the group.
        unsafe {
            let front = |g: usize| {
                let (lo, hi) = $load(q.add($w * g));
                let (zl, zh, f) = $front(lo, hi, $p);
                $store(q.add($w * g), (zl, zh));
                f
            };
            let back = |g: usize, r| {
                let (zl, zh) = $load(q.add($w * g));
                $store(q.add($w * g), $back(zl, zh, r, $p));
            };
            let (p0, q0) = $poly($square(front(0)));
            let mut r4 = $div(p0, q0);
            let (mut p3, mut q3) = $poly($square(front(1)));
            let mut s2 = $square(front(2));
            let mut f1 = front(3);
            for g in 4..groups {
                let f0 = front(g);
                let s1 = $square(f1);
                let (p2, q2) = $poly(s2);
                let r3 = $div(p3, q3);
                back(g - 4, r4);
                (r4, p3, q3, s2, f1) = (r3, p2, q2, s1, f0);
            }
            let s1 = $square(f1);
            let (p2, q2) = $poly(s2);
            back(groups - 4, r4);
            back(groups - 3, $div(p3, q3));
            back(groups - 2, $div(p2, q2));
            let (p1, q1) = $poly(s1);
            back(groups - 1, $div(p1, q1));
        }
    }};
}

/// The AVX2+FMA kernel: 8 values per step (two `ymm` of `f64` -> one `ymm` of `f32`).
#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::super::x86::affine4;
    use super::{C, P, Q, RationalPass};
    use core::arch::x86_64::{
        __m256, __m256d, _mm256_castps128_ps256, _mm256_castps256_ps128, _mm256_cvtpd_ps,
        _mm256_cvtps_pd, _mm256_div_ps, _mm256_extractf128_ps, _mm256_fmadd_ps,
        _mm256_insertf128_ps, _mm256_loadu_pd, _mm256_max_pd, _mm256_min_pd, _mm256_min_ps,
        _mm256_mul_pd, _mm256_mul_ps, _mm256_set1_pd, _mm256_set1_ps, _mm256_storeu_pd,
    };

    /// `P(s)` and `Q(s)` on 8 values, Horner.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn poly8(s: __m256) -> (__m256, __m256) {
        let c = _mm256_set1_ps;
        let p = _mm256_fmadd_ps(
            _mm256_fmadd_ps(
                _mm256_fmadd_ps(_mm256_fmadd_ps(c(P[4]), s, c(P[3])), s, c(P[2])),
                s,
                c(P[1]),
            ),
            s,
            c(P[0]),
        );
        let q = _mm256_fmadd_ps(
            _mm256_fmadd_ps(
                _mm256_fmadd_ps(_mm256_fmadd_ps(c(Q[4]), s, c(Q[3])), s, c(Q[2])),
                s,
                c(Q[1]),
            ),
            s,
            c(Q[0]),
        );
        (p, q)
    }

    /// `R = P / Q` on 8 values.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn div8(p: __m256, q: __m256) -> __m256 {
        _mm256_div_ps(p, q)
    }

    /// The affine map (the rational kernel's own) and step 1 on 4 values.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn clamped<const AFFINE: bool, const UNIT_PRE: bool>(v: __m256d, p: &RationalPass) -> __m256d {
        let z = affine4::<AFFINE, UNIT_PRE>(v, p);
        _mm256_max_pd(_mm256_set1_pd(-C), _mm256_min_pd(_mm256_set1_pd(C), z))
    }

    /// Step 1 and the start of step 2 on 8 values: the clamped z-scores `(zl, zh)` in `f64`
    /// and `f32(zc)`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn front8<const AFFINE: bool, const UNIT_PRE: bool>(
        lo: __m256d,
        hi: __m256d,
        p: &RationalPass,
    ) -> (__m256d, __m256d, __m256) {
        let (zl, zh) = (
            clamped::<AFFINE, UNIT_PRE>(lo, p),
            clamped::<AFFINE, UNIT_PRE>(hi, p),
        );
        let f = _mm256_insertf128_ps::<1>(
            _mm256_castps128_ps256(_mm256_cvtpd_ps(zl)),
            _mm256_cvtpd_ps(zh),
        );
        (zl, zh, f)
    }

    /// `s = f32(zc)^2` on 8 values (NaN -> C first, `nan_to_c`).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn square8(f: __m256) -> __m256 {
        let f = _mm256_min_ps(f, _mm256_set1_ps(C as f32));
        _mm256_mul_ps(f, f)
    }

    /// Step 3 on 8 values: `zc * f64(R)`, then `* scale`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn back8<const SCALED: bool>(
        zl: __m256d,
        zh: __m256d,
        r: __m256,
        p: &RationalPass,
    ) -> (__m256d, __m256d) {
        let rl = _mm256_cvtps_pd(_mm256_castps256_ps128(r));
        let rh = _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(r));
        let (ol, oh) = (_mm256_mul_pd(zl, rl), _mm256_mul_pd(zh, rh));
        if SCALED {
            let s = _mm256_set1_pd(p.scale);
            (_mm256_mul_pd(ol, s), _mm256_mul_pd(oh, s))
        } else {
            (ol, oh)
        }
    }

    /// The pass on 8 values.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn pass8<const AFFINE: bool, const UNIT_PRE: bool, const SCALED: bool>(
        lo: __m256d,
        hi: __m256d,
        p: &RationalPass,
    ) -> (__m256d, __m256d) {
        let (zl, zh, f) = front8::<AFFINE, UNIT_PRE>(lo, hi, p);
        let (p8, q8) = poly8(square8(f));
        back8::<SCALED>(zl, zh, div8(p8, q8), p)
    }

    /// Loads the 8 values at `q`.
    ///
    /// # Safety
    /// `q..q + 8` is in bounds.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn load8(q: *const f64) -> (__m256d, __m256d) {
        // SAFETY: the caller's bounds.
        unsafe { (_mm256_loadu_pd(q), _mm256_loadu_pd(q.add(4))) }
    }

    /// Stores 8 values at `q`.
    ///
    /// # Safety
    /// `q..q + 8` is in bounds.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn store8(q: *mut f64, (lo, hi): (__m256d, __m256d)) {
        // SAFETY: the caller's bounds.
        unsafe {
            _mm256_storeu_pd(q, lo);
            _mm256_storeu_pd(q.add(4), hi);
        }
    }

    /// The whole groups of 8 values in five stages (`staged_groups`), for the fused pass and
    /// plain `tanh_f32` alike.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn pipelined<const AFFINE: bool, const UNIT_PRE: bool, const SCALED: bool>(
        x: &mut [f64],
        p: &RationalPass,
    ) {
        staged_groups!(
            x,
            p,
            8,
            load8,
            store8,
            front8::<AFFINE, UNIT_PRE>,
            square8,
            poly8,
            div8,
            back8::<SCALED>,
            pass8::<AFFINE, UNIT_PRE, SCALED>
        )
    }

    #[target_feature(enable = "avx2,fma")]
    fn run<const AFFINE: bool, const UNIT_PRE: bool, const SCALED: bool>(
        x: &mut [f64],
        p: &RationalPass,
    ) {
        let whole = x.len() / 8 * 8;
        let (body, rest) = x.split_at_mut(whole);
        pipelined::<AFFINE, UNIT_PRE, SCALED>(body, p);
        for v in rest {
            *v = p.one_f32::<true>(*v);
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

/// The AVX-512 kernel: 16 values per step (two `zmm` of `f64` -> one `zmm` of `f32`), a
/// masked tail.
#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::super::avx512::affine8;
    use super::{C, P, Q, RationalPass};
    use core::arch::x86_64::{
        __m512, __m512d, _mm512_castps256_ps512, _mm512_castps512_ps256, _mm512_cvtpd_ps,
        _mm512_cvtps_pd, _mm512_div_ps, _mm512_extractf32x8_ps, _mm512_fmadd_ps,
        _mm512_insertf32x8, _mm512_loadu_pd, _mm512_mask_storeu_pd, _mm512_maskz_loadu_pd,
        _mm512_max_pd, _mm512_min_pd, _mm512_min_ps, _mm512_mul_pd, _mm512_mul_ps, _mm512_set1_pd,
        _mm512_set1_ps, _mm512_storeu_pd,
    };

    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn ratio16(s: __m512) -> __m512 {
        let c = _mm512_set1_ps;
        let p = _mm512_fmadd_ps(
            _mm512_fmadd_ps(
                _mm512_fmadd_ps(_mm512_fmadd_ps(c(P[4]), s, c(P[3])), s, c(P[2])),
                s,
                c(P[1]),
            ),
            s,
            c(P[0]),
        );
        let q = _mm512_fmadd_ps(
            _mm512_fmadd_ps(
                _mm512_fmadd_ps(_mm512_fmadd_ps(c(Q[4]), s, c(Q[3])), s, c(Q[2])),
                s,
                c(Q[1]),
            ),
            s,
            c(Q[0]),
        );
        _mm512_div_ps(p, q)
    }

    /// The affine map (the rational kernel's own) and step 1 on 8 values.
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn clamped<const AFFINE: bool, const UNIT_PRE: bool>(v: __m512d, p: &RationalPass) -> __m512d {
        let z = affine8::<AFFINE, UNIT_PRE>(v, p);
        _mm512_max_pd(_mm512_set1_pd(-C), _mm512_min_pd(_mm512_set1_pd(C), z))
    }

    /// Steps 1 and 2 up to `s` on 16 values: the clamped z-scores `(zl, zh)` in `f64` and
    /// `s = f32(zc)^2` (NaN -> C first, `nan_to_c`).
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn front16<const AFFINE: bool, const UNIT_PRE: bool>(
        lo: __m512d,
        hi: __m512d,
        p: &RationalPass,
    ) -> (__m512d, __m512d, __m512) {
        let (zl, zh) = (
            clamped::<AFFINE, UNIT_PRE>(lo, p),
            clamped::<AFFINE, UNIT_PRE>(hi, p),
        );
        let f = _mm512_insertf32x8::<1>(
            _mm512_castps256_ps512(_mm512_cvtpd_ps(zl)),
            _mm512_cvtpd_ps(zh),
        );
        let f = _mm512_min_ps(f, _mm512_set1_ps(C as f32));
        (zl, zh, _mm512_mul_ps(f, f))
    }

    /// Step 3 on 16 values: `zc * f64(R)`, then `* scale`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn back16<const SCALED: bool>(
        zl: __m512d,
        zh: __m512d,
        r: __m512,
        p: &RationalPass,
    ) -> (__m512d, __m512d) {
        let rl = _mm512_cvtps_pd(_mm512_castps512_ps256(r));
        let rh = _mm512_cvtps_pd(_mm512_extractf32x8_ps::<1>(r));
        let (ol, oh) = (_mm512_mul_pd(zl, rl), _mm512_mul_pd(zh, rh));
        if SCALED {
            let s = _mm512_set1_pd(p.scale);
            (_mm512_mul_pd(ol, s), _mm512_mul_pd(oh, s))
        } else {
            (ol, oh)
        }
    }

    /// The pass on 16 values.
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn pass16<const AFFINE: bool, const UNIT_PRE: bool, const SCALED: bool>(
        lo: __m512d,
        hi: __m512d,
        p: &RationalPass,
    ) -> (__m512d, __m512d) {
        let (zl, zh, s) = front16::<AFFINE, UNIT_PRE>(lo, hi, p);
        back16::<SCALED>(zl, zh, ratio16(s), p)
    }

    /// Loads the 16 values at `q`.
    ///
    /// # Safety
    /// `q..q + 16` is in bounds.
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    unsafe fn load16(q: *const f64) -> (__m512d, __m512d) {
        // SAFETY: the caller's bounds.
        unsafe { (_mm512_loadu_pd(q), _mm512_loadu_pd(q.add(8))) }
    }

    /// Stores 16 values at `q`.
    ///
    /// # Safety
    /// `q..q + 16` is in bounds.
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    unsafe fn store16(q: *mut f64, (lo, hi): (__m512d, __m512d)) {
        // SAFETY: the caller's bounds.
        unsafe {
            _mm512_storeu_pd(q, lo);
            _mm512_storeu_pd(q.add(8), hi);
        }
    }

    /// The whole groups of 16 values, software-pipelined (`pipelined_groups`). This measured
    /// 3-5% faster than the plain loop on the fused normalise + squash + scale pass
    /// (`zerotick-bench simd`, Sapphire Rapids), and the same on the plain `tanh_f32`.
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq")]
    fn pipelined<const AFFINE: bool, const UNIT_PRE: bool, const SCALED: bool>(
        x: &mut [f64],
        p: &RationalPass,
    ) {
        pipelined_groups!(
            x,
            p,
            16,
            load16,
            store16,
            front16::<AFFINE, UNIT_PRE>,
            ratio16,
            back16::<SCALED>,
            pass16::<AFFINE, UNIT_PRE, SCALED>
        )
    }

    #[target_feature(enable = "avx512f,avx512dq")]
    fn run<const AFFINE: bool, const UNIT_PRE: bool, const SCALED: bool>(
        x: &mut [f64],
        p: &RationalPass,
    ) {
        let whole = x.len() / 16 * 16;
        let (body, mut rest) = x.split_at_mut(whole);
        pipelined::<AFFINE, UNIT_PRE, SCALED>(body, p);
        while !rest.is_empty() {
            let n = rest.len().min(16);
            let (lo_n, hi_n) = (n.min(8), n - n.min(8));
            // Masks of the first `lo_n` and `hi_n` lanes (each at most 8).
            let lanes = |m: usize| if m >= 8 { u8::MAX } else { (1u8 << m) - 1 };
            let (ml, mh) = (lanes(lo_n), lanes(hi_n));
            let q = rest.as_mut_ptr();
            // SAFETY: lanes `0..lo_n` of `q` and `0..hi_n` of `q + 8` are elements of
            // `rest` (`lo_n + hi_n = n <= rest.len()`, and `q + 8` is only dereferenced
            // through lanes that exist); masked-off lanes are neither read nor written
            // (masked AVX-512 loads and stores do not fault there). The zeros loaded into
            // them are squashed harmlessly and never stored.
            unsafe {
                let lo = _mm512_maskz_loadu_pd(ml, q);
                let hi = _mm512_maskz_loadu_pd(mh, q.wrapping_add(8));
                let (yl, yh) = pass16::<AFFINE, UNIT_PRE, SCALED>(lo, hi, p);
                _mm512_mask_storeu_pd(q, ml, yl);
                _mm512_mask_storeu_pd(q.wrapping_add(8), mh, yh);
            }
            rest = &mut rest[n..];
        }
    }

    /// Runs the pass with the AVX-512 kernel.
    ///
    /// # Safety
    /// The CPU supports AVX-512 F and DQ.
    #[target_feature(enable = "avx512f,avx512dq")]
    pub(super) unsafe fn pass(x: &mut [f64], p: &RationalPass, plain: bool) {
        by_shape!(run, x, p, plain);
    }
}

/// `scale * tanh(((x * pre_scale - shift) - mean) * inv_std)` in place with the `f32`
/// squash, on `k`'s tier; the AVX2 and AVX-512 tiers give the same bits.
pub(crate) fn single_pass(k: Kernels, x: &mut [f64], p: RationalPass, plain: bool) {
    match k.tier() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Kernels`' invariant: its tier is supported by this CPU, and the AVX2
        // tier requires avx2 and fma (`Tier::is_supported`).
        Tier::Avx2 => unsafe { x86::pass(x, &p, plain) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Kernels`' invariant: the AVX-512 tier requires avx512f and avx512dq
        // (`Tier::is_supported`), the features `avx512::pass` enables.
        Tier::Avx512 => unsafe { avx512::pass(x, &p, plain) },
        _ => single_pass_portable_v(k, x, p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratio_is_one_at_zero_and_tanh_over_z_inside() {
        assert_eq!(ratio::<true>(0.0), 1.0);
        assert_eq!(ratio::<false>(0.0), 1.0);
        // tanh(z) / z at a few points, within the fit's error plus f32 rounding.
        for z in [0.01f64, 0.5, 1.0, 2.0, 4.0, 8.9] {
            let zf = z as f32;
            let r = f64::from(ratio::<true>(zf * zf));
            let want = z.tanh() / z;
            assert!(((r - want) / want).abs() < 7e-7, "z {z}: {r} vs {want}");
        }
    }

    /// The fit's error with the `f32` coefficients, evaluated in `f64` (rounding ~1e-16):
    /// the 3.57e-8 the bound starts from, on a grid of `[0, 9]`, and the clamp's 3.05e-8.
    #[test]
    fn approximation_error_is_the_derived_one() {
        let r = |s: f64| {
            let h = |c: &[f32; 5]| c.iter().rev().fold(0.0, |a, &k| a * s + f64::from(k));
            h(&P) / h(&Q)
        };
        let mut worst = 0.0f64;
        for i in 1..=90_000 {
            let z = f64::from(i) * 1e-4;
            let want = z.tanh() / z;
            worst = worst.max(((r(z * z) - want) / want).abs());
        }
        assert!(worst < 3.58e-8 && worst > 3.4e-8, "fit error {worst:e}");
        assert!(1.0 - C.tanh() < 3.06e-8);
    }

    /// The AVX2 kernel (five stages from 4 groups of 8 up, the per-group pass below that, the
    /// portable tail) gives the portable code's bits with fused multiply-adds, plain and
    /// fused, at every length up to 70 and around 1,024; NaN keeps its payload.
    #[test]
    fn avx2_kernel_is_the_portable_fma_code() {
        super::super::assert_avx2_kernel_is_the_portable_fma_code(
            single_pass,
            single_pass_portable_v,
            70,
            12.0,
        );
    }

    #[test]
    fn clamp_keeps_nan_and_signed_zero() {
        assert!(clamp(f64::NAN).is_nan());
        assert_eq!(clamp(f64::INFINITY), C);
        assert_eq!(clamp(-1e300), -C);
        assert!(clamp(-0.0).is_sign_negative());
        assert_eq!(clamp(3.5), 3.5);
    }
}

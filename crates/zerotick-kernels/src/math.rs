//! Branch-free `f64` exp, ln, tanh and sigmoid, written so that LLVM vectorises them inside
//! the AVX2 and AVX-512 copies of a kernel (no table lookups, no calls, selects instead of
//! branches).
//!
//! # Error bounds
//! In ULP of the exact value, on every tier (the analysis holds with or without FMA), derived
//! below and measured by `tests/ulp.rs` against a double-double reference over random bit
//! patterns of the whole finite range (subnormals included) plus edge cases:
//!
//! | function  | bound | measured max, 3M inputs per tier (scalar / avx2) |
//! |-----------|-------|--------------------------------------------------|
//! | `exp`     | 1.6 (1.1 for normal results) | 0.960 / 0.963 |
//! | `ln`      | 1.25  | 0.840 / 0.840 |
//! | `tanh`    | 5.5   | 2.449 / 2.499 |
//! | `sigmoid` | 4.2   | 2.289 / 2.289 |
//!
//! Notation: `u = 2^-53`. A relative error `k u` is below `k` ULP (a ULP of `y` exceeds
//! `|y| u`), and `c` ULP is at most `2 c u` relative. Each rounding adds at most half a ULP
//! of the value rounded.
//!
//! * `exp`: `x = k ln2 + r`, `|r| <= 0.347`; `x - k LN2_HI` is exact, so `r` carries one
//!   rounding (`|r| < 1/2`: at most `2^-55 = u/4`) plus the split's `k * 2^-100`.
//!   `q = expm1(r) = r + r^2 P(r)`: truncation below `2^-60`; the final rounding of `q`
//!   (`|q| < 1/2`) at most `u/4`, the rounded `r^2 P` at most `0.2u`, the error of `r`
//!   times `e^r <= 1.42`: `|dq| <= 0.81u`. `p = fl(1 + q)` adds half a ULP of `p`: for
//!   `p >= 1` (ULP `2u`) `0.5 + 0.41`, for `p < 1` (ULP `u`, `|q| < 0.3`, `|dq| <= 0.59u`)
//!   `0.5 + 0.59`: at most 1.1 ULP. Scaling by `2^k` is exact for normal results; a
//!   subnormal result is rounded once more (half a ULP): 1.6.
//! * `ln`: `x = 2^e m`, `f = m - 1` exact, `ln(1 + f) = f - c`, `c = hfsq - s (hfsq + R)`,
//!   `|c| <= f^2 / 2`. The computed `c` is off by at most `1.5 u f^2` (the roundings of
//!   `hfsq`, `s` and the products, each relative `u` of a term at most `f^2 / 2`). For
//!   `e = 0` that is, relative to `|ln(1 + f)| >= 0.85 |f|`, at most `1.76 u |f| <= 0.73u`
//!   (`|f| <= 0.414`), plus the final rounding: 1.23 ULP. For `e != 0`, `e LN2_HI` is
//!   exact and `|y| >= 0.35`, which shrinks the same terms: below 1 ULP. Bound: 1.25.
//! * `tanh = e / (e + 2)`, `e = expm1(2|x|) = 2^k expm1(r) + (2^k - 1)`: the product is
//!   exact and `2^k - 1` is exact, so one rounding (`u e`) plus `2^k |dq|`, `|dq| <= 0.81u`.
//!   The worst case is `k = 1` at its low end (`e >= 0.41`, cancellation in `2(1 + q) - 1`):
//!   relative `u + 1.62u / 0.41 = 5u`, damped by `2 / (e + 2) <= 0.83`: `4.1u`; for `k = 0`
//!   (`r = 2|x|` exact) at most `1.5u`. Then `e + 2` and the division round: `+2u`, and
//!   together (with the `k = 1` term above) at most `5.5u`: 5.5 ULP. Past `|x| = 20` the
//!   result is exactly 1, which is the correctly rounded value.
//! * `sigmoid`: `t = exp(-|x|)` in `(0, 1]` (relative `2.2u` for normal `t`, from 1.1 ULP),
//!   then `1 / (1 + t)` (`x >= 0`: `t`'s error damped by `t / (1 + t) <= 1/2`, plus two
//!   roundings: `3.1u`) or `t / (1 + t)` (`x < 0`: `t`'s error damped by `1 / (1 + t)`, two
//!   roundings: `4.2u`). For subnormal `t` (`x < -708`) `1 + t` rounds to 1 and the result
//!   is `t`: 1.6 ULP. Bound: 4.2 ULP.
//!
//! These are worst cases of sums of worst cases; the measured maxima sit well below them.
//!
//! Special values follow IEEE and std: NaN in, NaN out; `exp(+inf) = inf`, `exp(-inf) = 0`,
//! `ln(0) = -inf`, `ln(x < 0) = NaN`, `ln(inf) = inf`; `tanh(+-inf) = +-1`,
//! `tanh(-0) = -0`; `sigmoid(-inf) = 0`, `sigmoid(inf) = 1`; results that underflow become
//! subnormal, then 0.

use crate::simd::madd;

/// ln 2 = LN2_HI + LN2_LO; LN2_HI has 32 trailing zero bits so `k * LN2_HI` is exact.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
const LOG2_E: f64 = core::f64::consts::LOG2_E;
/// Adding then subtracting this rounds a value below 2^51 to the nearest integer (ties to
/// even) without a rounding instruction the scalar tier lacks.
const ROUNDER: f64 = 6_755_399_441_055_744.0; // 1.5 * 2^52

/// `2^k` for integer `k` in `[-1022, 1023]`, built from its bits.
#[inline(always)]
pub(crate) fn pow2i(k: i64) -> f64 {
    f64::from_bits((k.wrapping_add(1023) as u64) << 52)
}

/// `n as f64` for `0 <= n < 2^52` by bit arithmetic: AVX2 has no 64-bit integer to float
/// conversion, and this keeps the loop vectorised there.
#[inline(always)]
fn small_u64_to_f64(n: u64) -> f64 {
    const TWO52: f64 = 4_503_599_627_370_496.0;
    f64::from_bits(TWO52.to_bits() | n) - TWO52
}

/// Cody-Waite reduction `y = k ln 2 + r` with `k = round(y / ln 2)`: returns `k` and `r`,
/// `|r| <= ln(2) / 2` (plus the split's `k * 2^-100`). `k * LN2_HI` is exact, so `r` carries
/// one rounding. For `|y| <= 1,400` (the callers clamp or bound it).
#[inline(always)]
pub(crate) fn reduce_ln2<const FMA: bool>(y: f64) -> (i64, f64) {
    // k = round(y / ln 2), as a float and, from the same bits, as an integer.
    let t = madd::<FMA>(y, LOG2_E, ROUNDER);
    let k = t - ROUNDER;
    let ki = (t.to_bits() as i64).wrapping_sub(ROUNDER.to_bits() as i64);
    (ki, madd::<FMA>(-k, LN2_LO, madd::<FMA>(-k, LN2_HI, y)))
}

/// `e^r - 1` for `|r| <= ln(2) / 2`: Taylor to degree 13 (truncation below 2^-60 relative).
#[inline(always)]
fn expm1_reduced<const FMA: bool>(r: f64) -> f64 {
    const C: [f64; 12] = [
        1.0 / 6_227_020_800.0, // 1/13!
        1.0 / 479_001_600.0,
        1.0 / 39_916_800.0,
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
    let mut p = C[0];
    for c in &C[1..] {
        p = madd::<FMA>(p, r, *c);
    }
    // r + r^2 * p(r): keeps the leading term exact.
    madd::<FMA>(r * r, p, r)
}

/// `e^x`.
#[inline(always)]
pub(crate) fn exp<const FMA: bool>(x: f64) -> f64 {
    // Clamp so the exponent arithmetic below stays in range; results there are 0 or inf anyway.
    let xc = x.clamp(-1_400.0, 1_400.0);
    let (ki, r) = reduce_ln2::<FMA>(xc);
    let p = 1.0 + expm1_reduced::<FMA>(r);
    // 2^k in two factors so k down to -2044 (subnormal results) and up to 2046 (overflow to
    // inf) is representable. Logical shift of a non-negative value: AVX2 has no 64-bit
    // arithmetic shift.
    let k1 = ((ki.wrapping_add(2048) as u64) >> 1) as i64 - 1024;
    let y = p * pow2i(k1) * pow2i(ki.wrapping_sub(k1));
    if x.is_nan() { x } else { y }
}

/// `ln(x)`.
#[inline(always)]
pub(crate) fn ln<const FMA: bool>(x: f64) -> f64 {
    // Scale subnormals into the normal range first.
    let tiny = x < f64::MIN_POSITIVE;
    let xs = if tiny {
        x * 18_014_398_509_481_984.0
    } else {
        x
    }; // * 2^54
    let bits = xs.to_bits();
    // Split xs = 2^e * m with m in [sqrt(1/2), sqrt(2)): subtracting the bits of sqrt(1/2)
    // moves the exponent boundary there.
    let shifted = bits.wrapping_sub(0x3fe6_a09e_667f_3bcd);
    // e + 1024, from a logical shift of a non-negative value (AVX2 lacks the arithmetic one).
    let e_biased = shifted.wrapping_add(1 << 62) >> 52;
    let e = small_u64_to_f64(e_biased) - 1024.0;
    let m = f64::from_bits(bits.wrapping_sub(shifted & 0xfff0_0000_0000_0000));
    // ln(m) = ln(1 + f) with f = m - 1, exact (Sterbenz: m is within a factor 2 of 1).
    // With s = f / (2 + f), ln(1 + f) = 2 atanh(s) = 2s + s R(s), R = 2s^2/3 + 2s^4/5 + ...,
    // and 2s = f - s f = f - hfsq + s hfsq (hfsq = f^2 / 2), so
    //     ln(1 + f) = f - (hfsq - s (hfsq + R)),
    // fdlibm's form: the exact f leads, and every rounded term is at most |f| / 2 of it.
    let f = m - 1.0;
    let s = f / (2.0 + f);
    let s2 = s * s;
    // R(s) / s^2 = sum 2 s^(2i) / (2i + 3), i = 0..9, for |s| <= 0.1716 (s^2 <= 0.0295):
    // the first omitted term is below 2^-60 of R.
    const C: [f64; 10] = [
        2.0 / 21.0,
        2.0 / 19.0,
        2.0 / 17.0,
        2.0 / 15.0,
        2.0 / 13.0,
        2.0 / 11.0,
        2.0 / 9.0,
        2.0 / 7.0,
        2.0 / 5.0,
        2.0 / 3.0,
    ];
    let mut p = C[0];
    for c in &C[1..] {
        p = madd::<FMA>(p, s2, *c);
    }
    let r = s2 * p;
    let hfsq = 0.5 * f * f;
    let e = if tiny { e - 54.0 } else { e };
    // e * LN2_HI is exact (LN2_HI has 32 trailing zero bits, |e| < 2^11): one rounding at
    // the end, of a sum whose rounded parts are all at most half the leading term.
    let y = madd::<FMA>(e, LN2_HI, f - (hfsq - madd::<FMA>(s, hfsq + r, e * LN2_LO)));
    // Specials: NaN and negatives -> NaN, 0 -> -inf, inf -> inf.
    let y = if x == f64::INFINITY { x } else { y };
    let y = if x == 0.0 { f64::NEG_INFINITY } else { y };
    if x < 0.0 || x.is_nan() { f64::NAN } else { y }
}

/// `e^y - 1` for `0 <= y <= 60`, without the cancellation of `exp(y) - 1`: with
/// `y = k ln 2 + r`, `e^y - 1 = 2^k expm1(r) + (2^k - 1)`, both terms exact or small.
#[inline(always)]
fn expm1_nonneg<const FMA: bool>(y: f64) -> f64 {
    let (ki, r) = reduce_ln2::<FMA>(y);
    let s = pow2i(ki);
    madd::<FMA>(s, expm1_reduced::<FMA>(r), s - 1.0)
}

/// `tanh` is exactly `+-1.0` in `f64` beyond this `|x|` (tanh(19.1) rounds to 1).
const TANH_SATURATION: f64 = 20.0;

/// `tanh(x) = sign(x) * e / (e + 2)` with `e = expm1(2|x|)`: one polynomial and one
/// division for every input, no cancellation near 0, exactly 1 past saturation.
#[inline(always)]
pub(crate) fn tanh<const FMA: bool>(x: f64) -> f64 {
    let a = x.abs().min(TANH_SATURATION);
    let e = expm1_nonneg::<FMA>(2.0 * a);
    let t = (e / (e + 2.0)).copysign(x);
    if x.is_nan() { x } else { t }
}

/// The logistic function `1 / (1 + e^-x)`, as `1 / (1 + t)` for `x >= 0` and `t / (1 + t)`
/// for `x < 0`, with `t = e^-|x|` in `(0, 1]`: `exp` never overflows, so results for
/// `x < -709` are the true (subnormal) values rather than `1 / inf = 0`, and the error of
/// `t` is damped by `1 / (1 + t)` instead of amplified.
#[inline(always)]
pub(crate) fn sigmoid<const FMA: bool>(x: f64) -> f64 {
    let t = exp::<FMA>(-x.abs());
    let num = if x < 0.0 { t } else { 1.0 };
    let y = num / (1.0 + t);
    if x.is_nan() { x } else { y }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spot_values() {
        assert_eq!(exp::<false>(0.0), 1.0);
        assert_eq!(ln::<false>(1.0), 0.0);
        assert_eq!(tanh::<false>(0.0), 0.0);
        assert!(tanh::<false>(-0.0).is_sign_negative());
        assert_eq!(sigmoid::<false>(0.0), 0.5);
        assert_eq!(exp::<false>(f64::INFINITY), f64::INFINITY);
        assert_eq!(exp::<false>(f64::NEG_INFINITY), 0.0);
        assert_eq!(tanh::<false>(f64::NEG_INFINITY), -1.0);
        assert_eq!(tanh::<false>(30.0), 1.0);
        assert!(ln::<false>(-1.0).is_nan());
        assert_eq!(ln::<false>(0.0), f64::NEG_INFINITY);
        assert!((ln::<false>(5e-324) - (5e-324f64).ln()).abs() < 1e-12);
    }
}

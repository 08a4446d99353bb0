//! The AVX-512 kernel of the rational squash: 8 lanes per `zmm`, the same operations in the
//! same order as the portable code and the AVX2 kernel, so every tier gives the same bits.
//!
//! The pass is bound by the division, not by the multiply-adds: `vdivpd` issues one 8-lane
//! division per 16 cycles on Sapphire Rapids (one 4-lane one per 8 on the `ymm` path), 2
//! cycles per value either way, while the other 15 multiply-class operations per vector need
//! 7.5 cycles of the two FMA pipes. The divider is its own unit, so this kernel splits the
//! quotients: of every four vectors, two go to `vdivpd` and two are computed with
//! multiply-adds only ([`quotient`]), which returns the same correctly rounded quotient.
//!
//! # The division-free quotient is `vdivpd`'s result
//!
//! For `n / d` with `d > 0` normal and `n` finite (every quotient the pass forms: see below),
//! [`quotient`] computes, every operation rounded to nearest even:
//!
//! 1. `y0 = vrcp14pd(d)`, `|1 - d y0| <= 2^-14`; two Newton steps `y <- y + y (1 - d y)`
//!    (two fused multiply-adds each) give `y2` within 1 ULP of `1 / d` (relative error
//!    `2^-28`, then `2^-56` before the rounding of `y2`).
//! 2. Markstein's reciprocal step, `e = 1 - d y2` (exact: `y2` is within 1 ULP) and
//!    `y3 = y2 + e y2`: the exact value `y2 + e y2 = (1 - e^2) / d` is within `2^-104`
//!    relative of `1 / d`, so `y3 = RN(1 / d)` unless `1 / d` lies that close to a rounding
//!    boundary, which for a `p = 53`-bit `d` happens only when `d`'s significand is all ones
//!    (Markstein, "Computation of elementary functions on the IBM RISC System/6000
//!    processor", IBM J. Res. Dev. 34, 1990; *Handbook of Floating-Point Arithmetic*, Muller et
//!    al., the reciprocal iteration theorem). There `1 / d = 2^(-E-1) (1 + 2^-53 + 2^-106 ..)`
//!    just above the midpoint and the step returns `2^(-E-1)`: one is added to its bits.
//! 3. `q0 = n y3`: `n y3 = (n / d)(1 + delta)`, `|delta| < 2^-53`, so `q0` is within 1.5
//!    ULP of `n / d`; one correction `q1 = q0 + (n - d q0) y3` brings it within
//!    `0.5 + 2^-50` ULP: faithful.
//! 4. Markstein's theorem: `y = RN(1 / d)` and `q1` within 1 ULP of `n / d` give
//!    `r = n - d q1` exactly (one fused multiply-add) and `RN(q1 + r y) = RN(n / d)`, the
//!    correctly rounded quotient, which is what `vdivpd` returns (same references).
//!
//! Conditions: no underflow or overflow anywhere, which holds for the pass's quotients:
//! `d = (2^k + 1) E + (2^k - 1) w` with `30240 <= E <= 31200`, `|w| <= 5258`, `0 <= k <= 56`
//! is in `[6e4, 3e22]` and `+0 <= n <= d` (`n` is never `-0`: the fraction is formed from
//! `|z|`, the sign is ORed in afterwards; a NaN input makes both NaN, which every step
//! propagates with its bits, as `vdivpd` does). The in-module tests compare [`quotient`] with `vdivpd` over tens of
//! millions of such pairs, the all-ones and nearly-all-ones significands at every exponent
//! the pass reaches, and random pairs over the whole normal range: no difference.

use super::{LN_2, LOG2_E, ROUNDER, RationalPass, SAT};
use core::arch::x86_64::{
    __m512d, _mm512_add_epi64, _mm512_add_pd, _mm512_and_pd, _mm512_and_si512, _mm512_andnot_pd,
    _mm512_castpd_si512, _mm512_castsi512_pd, _mm512_cmpeq_epi64_mask, _mm512_div_pd,
    _mm512_fmadd_pd, _mm512_fnmadd_pd, _mm512_loadu_pd, _mm512_mask_add_epi64,
    _mm512_mask_storeu_pd, _mm512_maskz_loadu_pd, _mm512_min_pd, _mm512_mul_pd, _mm512_or_pd,
    _mm512_rcp14_pd, _mm512_set1_epi64, _mm512_set1_pd, _mm512_slli_epi64, _mm512_storeu_pd,
    _mm512_sub_pd,
};

/// How a vector's final quotient is formed: `vdivpd`, or [`quotient`] (the same bits).
const DIV: bool = true;
const NEWTON: bool = false;

/// `RN(1 / d)` for `d > 0` normal with a normal reciprocal: steps 1 and 2 of the module
/// docs.
#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn reciprocal(d: __m512d) -> __m512d {
    let one = _mm512_set1_pd(1.0);
    let y0 = _mm512_rcp14_pd(d);
    let y1 = _mm512_fmadd_pd(y0, _mm512_fnmadd_pd(d, y0, one), y0);
    let y2 = _mm512_fmadd_pd(y1, _mm512_fnmadd_pd(d, y1, one), y1);
    let y3 = _mm512_fmadd_pd(y2, _mm512_fnmadd_pd(d, y2, one), y2);
    // Significand all ones: y3 is 2^(-E-1), one ULP below RN(1 / d).
    let mant = _mm512_set1_epi64((1 << 52) - 1);
    let ones = _mm512_cmpeq_epi64_mask(_mm512_and_si512(_mm512_castpd_si512(d), mant), mant);
    let y3i = _mm512_castpd_si512(y3);
    _mm512_castsi512_pd(_mm512_mask_add_epi64(y3i, ones, y3i, _mm512_set1_epi64(1)))
}

/// `RN(n / d)` without a division, for `d > 0` normal, `n` not `-0` (`-0 / d` gives `+0`)
/// and no underflow or overflow in `n / d` (see the module docs for the argument and the
/// conditions).
#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
pub(super) fn quotient(n: __m512d, d: __m512d) -> __m512d {
    let y = reciprocal(d);
    let q0 = _mm512_mul_pd(n, y);
    let q1 = _mm512_fmadd_pd(_mm512_fnmadd_pd(d, q0, n), y, q0);
    _mm512_fmadd_pd(_mm512_fnmadd_pd(d, q1, n), y, q1)
}

/// `tanh_rational_lanes` on 8 lanes, the same operations in the same order as the portable
/// code and `x86::tanh4`; the quotient by `vdivpd` (`DIV`) or by [`quotient`], equal bits.
#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn tanh8<const Q: bool>(z: __m512d) -> __m512d {
    let sign = _mm512_set1_pd(-0.0);
    // min(SAT, a) returns its second operand when either is NaN: NaN stays NaN.
    let a = _mm512_min_pd(_mm512_set1_pd(SAT), _mm512_andnot_pd(sign, z));
    let y = _mm512_add_pd(a, a);
    let t = _mm512_fmadd_pd(y, _mm512_set1_pd(LOG2_E), _mm512_set1_pd(ROUNDER));
    let kf = _mm512_sub_pd(t, _mm512_set1_pd(ROUNDER));
    let r = _mm512_fnmadd_pd(kf, _mm512_set1_pd(LN_2), y);
    let bits = _mm512_add_epi64(_mm512_castpd_si512(t), _mm512_set1_epi64(1023));
    let p2 = _mm512_castsi512_pd(_mm512_slli_epi64::<52>(bits));
    let s = _mm512_mul_pd(r, r);
    let e = _mm512_fmadd_pd(
        _mm512_fmadd_pd(_mm512_set1_pd(30.0), s, _mm512_set1_pd(3360.0)),
        s,
        _mm512_set1_pd(30240.0),
    );
    let o = _mm512_fmadd_pd(
        s,
        s,
        _mm512_fmadd_pd(_mm512_set1_pd(420.0), s, _mm512_set1_pd(15120.0)),
    );
    let w = _mm512_mul_pd(r, o);
    let cm = _mm512_sub_pd(p2, _mm512_set1_pd(1.0));
    let cp = _mm512_add_pd(p2, _mm512_set1_pd(1.0));
    let num = _mm512_fmadd_pd(cm, e, _mm512_mul_pd(cp, w));
    let den = _mm512_fmadd_pd(cp, e, _mm512_mul_pd(cm, w));
    let m = if Q == DIV {
        _mm512_div_pd(num, den)
    } else {
        quotient(num, den)
    };
    _mm512_or_pd(m, _mm512_and_pd(z, sign))
}

/// The pass on 8 values; `AFFINE` / `UNIT_PRE` / `SCALED` drop the steps that are
/// identities for plain `tanh` or an unscaled input.
#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn pass8<const Q: bool, const AFFINE: bool, const UNIT_PRE: bool, const SCALED: bool>(
    v: __m512d,
    p: &RationalPass,
) -> __m512d {
    let z = if AFFINE {
        let v = if UNIT_PRE {
            v
        } else {
            _mm512_mul_pd(v, _mm512_set1_pd(p.pre_scale))
        };
        let d = _mm512_sub_pd(
            _mm512_sub_pd(v, _mm512_set1_pd(p.shift)),
            _mm512_set1_pd(p.mean),
        );
        _mm512_mul_pd(d, _mm512_set1_pd(p.inv_std))
    } else {
        v
    };
    let m = tanh8::<Q>(z);
    if SCALED {
        _mm512_mul_pd(m, _mm512_set1_pd(p.scale))
    } else {
        m
    }
}

/// The pass over `x`: 32 values (4 independent vectors, two quotients by `vdivpd` and two
/// by [`quotient`], which run on different units) per step, then 8 at a time, then the last
/// `len % 8` through masked loads and stores.
#[target_feature(enable = "avx512f,avx512dq")]
fn run<const AFFINE: bool, const UNIT_PRE: bool, const SCALED: bool>(
    x: &mut [f64],
    p: &RationalPass,
) {
    let mut chunks = x.chunks_exact_mut(32);
    for c in &mut chunks {
        let q = c.as_mut_ptr();
        // SAFETY: `c` has 32 elements: offsets 0, 8, 16 and 24 each start 8 in bounds.
        let (v0, v1, v2, v3) = unsafe {
            (
                _mm512_loadu_pd(q),
                _mm512_loadu_pd(q.add(8)),
                _mm512_loadu_pd(q.add(16)),
                _mm512_loadu_pd(q.add(24)),
            )
        };
        let y0 = pass8::<DIV, AFFINE, UNIT_PRE, SCALED>(v0, p);
        let y1 = pass8::<NEWTON, AFFINE, UNIT_PRE, SCALED>(v1, p);
        let y2 = pass8::<DIV, AFFINE, UNIT_PRE, SCALED>(v2, p);
        let y3 = pass8::<NEWTON, AFFINE, UNIT_PRE, SCALED>(v3, p);
        // SAFETY: as for the loads.
        unsafe {
            _mm512_storeu_pd(q, y0);
            _mm512_storeu_pd(q.add(8), y1);
            _mm512_storeu_pd(q.add(16), y2);
            _mm512_storeu_pd(q.add(24), y3);
        }
    }
    let mut octs = chunks.into_remainder().chunks_exact_mut(8);
    for c in &mut octs {
        let q = c.as_mut_ptr();
        // SAFETY: `c` has 8 elements.
        unsafe {
            _mm512_storeu_pd(
                q,
                pass8::<DIV, AFFINE, UNIT_PRE, SCALED>(_mm512_loadu_pd(q), p),
            )
        };
    }
    let rest = octs.into_remainder();
    if !rest.is_empty() {
        let mask = (1u8 << rest.len()) - 1; // rest.len() < 8
        let q = rest.as_mut_ptr();
        // SAFETY: lanes `0..rest.len()` of `q` are `rest`'s elements; the masked-off lanes
        // are neither read nor written (masked AVX-512 loads and stores do not fault there).
        unsafe {
            let v = _mm512_maskz_loadu_pd(mask, q);
            _mm512_mask_storeu_pd(q, mask, pass8::<DIV, AFFINE, UNIT_PRE, SCALED>(v, p));
        }
    }
}

/// Runs the pass with the AVX-512 kernel.
///
/// # Safety
/// The CPU supports AVX-512 F and DQ.
#[target_feature(enable = "avx512f,avx512dq")]
pub(super) unsafe fn pass(x: &mut [f64], p: &RationalPass, plain: bool) {
    if plain {
        run::<false, true, false>(x, p);
    } else if p.pre_scale == 1.0 {
        // `v * 1.0 == v` for every `v`: skipping it changes no result.
        run::<true, true, true>(x, p);
    } else {
        run::<true, false, true>(x, p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::Tier;

    /// xorshift64*, as in the integration tests.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn unit(&mut self) -> f64 {
            (self.next() >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// Mismatches (bits) of [`quotient`] against `vdivpd` over the pairs, 8 at a time; the
    /// first one found, for the message.
    fn mismatches(pairs: &[(f64, f64)]) -> (usize, Option<(f64, f64, f64, f64)>) {
        let mut bad = (0, None);
        for c in pairs.chunks(8) {
            let mut n = [1.0; 8];
            let mut d = [1.0; 8];
            for (i, (a, b)) in c.iter().enumerate() {
                (n[i], d[i]) = (*a, *b);
            }
            let (mut q, mut want) = ([0.0; 8], [0.0; 8]);
            // SAFETY: the callers checked that the CPU has AVX-512 F and DQ; the arrays
            // hold 8 values each.
            unsafe {
                let (vn, vd) = (_mm512_loadu_pd(n.as_ptr()), _mm512_loadu_pd(d.as_ptr()));
                _mm512_storeu_pd(q.as_mut_ptr(), quotient(vn, vd));
                _mm512_storeu_pd(want.as_mut_ptr(), _mm512_div_pd(vn, vd));
            }
            for i in 0..c.len() {
                if q[i].to_bits() != want[i].to_bits() {
                    bad.0 += 1;
                    bad.1.get_or_insert((n[i], d[i], q[i], want[i]));
                }
            }
        }
        bad
    }

    fn check(what: &str, pairs: &[(f64, f64)]) {
        let (count, first) = mismatches(pairs);
        eprintln!("{what}: {} pairs, {count} differ", pairs.len());
        assert_eq!(
            count, 0,
            "{what}: first (n, d, quotient, vdivpd) = {first:?}"
        );
    }

    fn avx512() -> bool {
        let ok = Tier::Avx512.is_supported();
        if !ok {
            eprintln!("skipped: this CPU has no AVX-512 tier");
        }
        ok
    }

    /// `x` with its significand replaced by `1 + m 2^-52`.
    fn with_mantissa(x: f64, m: u64) -> f64 {
        f64::from_bits((x.to_bits() & !((1 << 52) - 1)) | (m & ((1 << 52) - 1)))
    }

    #[test]
    fn reciprocal_is_correctly_rounded() {
        if !avx512() {
            return;
        }
        // Markstein's reciprocal step and the all-ones fix: RN(1 / d), checked against the
        // correctly rounded division, at every significand near 1 and 2 and at random ones.
        let mut rng = Rng(77);
        let mut ds = Vec::new();
        for e in -500..=500 {
            let base = 2f64.powi(e);
            for j in 0..256u64 {
                ds.push(with_mantissa(base, ((1 << 52) - 1) - j));
                ds.push(with_mantissa(base, j));
            }
            for _ in 0..2048 {
                ds.push(with_mantissa(base, rng.next()));
            }
        }
        let mut bad = 0;
        for c in ds.chunks_exact(8) {
            let mut y = [0.0; 8];
            // SAFETY: AVX-512 F and DQ checked above; `c` and `y` hold 8 values each.
            unsafe { _mm512_storeu_pd(y.as_mut_ptr(), reciprocal(_mm512_loadu_pd(c.as_ptr()))) };
            for (d, y) in c.iter().zip(y) {
                if y.to_bits() != (1.0 / d).to_bits() {
                    bad += 1;
                    eprintln!("1 / {d:e}: {y:e} vs {:e}", 1.0 / d);
                }
            }
        }
        eprintln!("reciprocals: {} divisors, {bad} differ", ds.len());
        assert_eq!(bad, 0);
    }

    #[test]
    fn quotient_equals_vdivpd_on_the_pass_fractions() {
        if !avx512() {
            return;
        }
        // num / den exactly as the pass forms them (portable code with FMA), for every k
        // the reduction gives (0..=56, 55 at the clamp) and |r| up to ln(2) / 2 (1 + 2^-20).
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut pairs = Vec::with_capacity(1 << 20);
        let half = LN_2 / 2.0 * (1.0 + 1.0 / (1u64 << 20) as f64);
        for round in 0..24 {
            pairs.clear();
            for _ in 0..1 << 20 {
                let k = (rng.next() % 57) as i32;
                let r = if k == 0 {
                    rng.unit() * half
                } else {
                    (2.0 * rng.unit() - 1.0) * half
                };
                let p2 = 2f64.powi(k);
                let s = r * r;
                let e = 30.0f64.mul_add(s, 3360.0).mul_add(s, 30240.0);
                let w = r * s.mul_add(s, 420.0f64.mul_add(s, 15120.0));
                let (cm, cp) = (p2 - 1.0, p2 + 1.0);
                pairs.push((cm.mul_add(e, cp * w), cp.mul_add(e, cm * w)));
            }
            check(&format!("pass fractions, round {round}"), &pairs);
        }
    }

    #[test]
    fn quotient_equals_vdivpd_on_adversarial_pairs() {
        if !avx512() {
            return;
        }
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        // Divisors with all-ones and nearly-all-ones (and nearly-zero) significands at
        // every exponent from 2^-500 to 2^500 (the pass's are 2^15 .. 2^75).
        let mut pairs = Vec::new();
        for e in -500..=500 {
            let base = 2f64.powi(e);
            for j in 0..64u64 {
                for m in [((1 << 52) - 1) - j, j] {
                    let d = with_mantissa(base, m);
                    for _ in 0..8 {
                        let n =
                            with_mantissa(2f64.powi(e + (rng.next() % 9) as i32 - 4), rng.next());
                        pairs.push((n, d));
                        pairs.push((-n, d));
                    }
                    pairs.push((d, d));
                    pairs.push((0.0, d));
                }
            }
        }
        check("all-ones / nearly-all-ones divisors", &pairs);
        // Quotients within a hair of a rounding boundary: n = RN(d * m) for a midpoint m
        // (53 bits and a trailing one), so n / d = m (1 + tiny).
        for round in 0..8 {
            pairs.clear();
            for _ in 0..1 << 21 {
                let d = with_mantissa(2f64.powi((rng.next() % 120) as i32 - 20), rng.next());
                let q = with_mantissa(2f64.powi((rng.next() % 40) as i32 - 20), rng.next());
                // The midpoint above q, split as q + ulp(q) / 2: d * m = d q + d ulp / 2.
                let half_ulp = f64::from_bits(q.to_bits() + 1) - q;
                let n = d.mul_add(q, d * half_ulp * 0.5);
                pairs.push((n, d));
            }
            check(&format!("near-midpoint quotients, round {round}"), &pairs);
        }
        // Random normal pairs whose quotient is normal.
        for round in 0..8 {
            pairs.clear();
            for _ in 0..1 << 21 {
                let d = with_mantissa(2f64.powi((rng.next() % 1000) as i32 - 500), rng.next());
                let n = with_mantissa(2f64.powi((rng.next() % 1000) as i32 - 500), rng.next());
                pairs.push((if rng.next() & 1 == 0 { n } else { -n }, d));
            }
            check(&format!("random normal pairs, round {round}"), &pairs);
        }
    }

    #[test]
    fn nan_keeps_the_same_bits_as_vdivpd() {
        if !avx512() {
            return;
        }
        let nans = [
            f64::NAN,
            -f64::NAN,
            f64::from_bits(0x7ff8_0000_dead_beef),
            f64::from_bits(0xfff8_0000_0000_0001),
        ];
        // The pass's NaN quotients have a NaN numerator and denominator (the same NaN).
        let pairs: Vec<(f64, f64)> = nans.iter().map(|&v| (v, v)).collect();
        check("NaN / NaN", &pairs);
    }
}

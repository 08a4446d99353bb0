//! The AVX-512 kernel of the rational squash: 8 lanes per `zmm`, the same operations in the
//! same order as the portable code and the AVX2 kernel, so every tier gives the same bits.
//!
//! The pass is bound by the division: `vdivpd` issues one 8-lane division per 16 cycles on
//! Sapphire Rapids (a 4-lane one per 8 on the `ymm` path), 2 cycles per value either way,
//! while the other 22 vector operations per 8 values (26 in the fused pass) need 11 (13)
//! cycles of the two ports that execute 512-bit operations (p0 and p5). What the `zmm`
//! kernel gains over running the AVX2 kernel is the rest: half the instructions per value,
//! 32 registers (the AVX2 kernel spills with 4 vectors in flight) and a masked tail instead
//! of the scalar loop.
//!
//! A division-free quotient was tried (commit 6143851: `vrcp14pd`, two Newton steps,
//! Markstein's reciprocal step with a fix for all-ones significands, one quotient
//! correction and Markstein's final step; equal to `vdivpd` on ~61M adversarial pairs): its
//! 15 extra operations land on the same two ports, so every split between it and `vdivpd`
//! measured slower (`docs/kernels.md`, 2026-12-01).

use super::{LN_2, LOG2_E, ROUNDER, RationalPass, SAT};
use core::arch::x86_64::{
    __m512d, _mm512_add_epi64, _mm512_add_pd, _mm512_and_pd, _mm512_andnot_pd, _mm512_castpd_si512,
    _mm512_castsi512_pd, _mm512_div_pd, _mm512_fmadd_pd, _mm512_fnmadd_pd, _mm512_loadu_pd,
    _mm512_mask_storeu_pd, _mm512_maskz_loadu_pd, _mm512_min_pd, _mm512_mul_pd, _mm512_or_pd,
    _mm512_set1_epi64, _mm512_set1_pd, _mm512_slli_epi64, _mm512_storeu_pd, _mm512_sub_pd,
};

/// `tanh_rational_lanes` on 8 lanes, the same operations in the same order as the portable
/// code and `x86::tanh4` (so the same results).
#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn tanh8(z: __m512d) -> __m512d {
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
    _mm512_or_pd(_mm512_div_pd(num, den), _mm512_and_pd(z, sign))
}

/// `((v * pre_scale - shift) - mean) * inv_std` on 8 values, or `v` unchanged without
/// `AFFINE`; `UNIT_PRE` skips the multiplication by `pre_scale = 1`. The map before both
/// squashes' AVX-512 kernels (this one and `single`'s), so both see the same z-scores.
#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
pub(super) fn affine8<const AFFINE: bool, const UNIT_PRE: bool>(
    v: __m512d,
    p: &RationalPass,
) -> __m512d {
    if !AFFINE {
        return v;
    }
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
}

/// The pass on 8 values; `AFFINE` / `UNIT_PRE` / `SCALED` drop the steps that are
/// identities for plain `tanh` or an unscaled input.
#[inline]
#[target_feature(enable = "avx512f,avx512dq")]
fn pass8<const AFFINE: bool, const UNIT_PRE: bool, const SCALED: bool>(
    v: __m512d,
    p: &RationalPass,
) -> __m512d {
    let m = tanh8(affine8::<AFFINE, UNIT_PRE>(v, p));
    if SCALED {
        _mm512_mul_pd(m, _mm512_set1_pd(p.scale))
    } else {
        m
    }
}

/// The pass over `x`: 32 values (4 independent vectors) per step, then 8 at a time, then the
/// last `len % 8` through masked loads and stores. (8 vectors per step measured the same:
/// the divider is the limit.)
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
        let y0 = pass8::<AFFINE, UNIT_PRE, SCALED>(v0, p);
        let y1 = pass8::<AFFINE, UNIT_PRE, SCALED>(v1, p);
        let y2 = pass8::<AFFINE, UNIT_PRE, SCALED>(v2, p);
        let y3 = pass8::<AFFINE, UNIT_PRE, SCALED>(v3, p);
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
        unsafe { _mm512_storeu_pd(q, pass8::<AFFINE, UNIT_PRE, SCALED>(_mm512_loadu_pd(q), p)) };
    }
    let rest = octs.into_remainder();
    if !rest.is_empty() {
        let mask = (1u8 << rest.len()) - 1; // rest.len() < 8
        let q = rest.as_mut_ptr();
        // SAFETY: lanes `0..rest.len()` of `q` are `rest`'s elements; the masked-off lanes
        // are neither read nor written (masked AVX-512 loads and stores do not fault there).
        unsafe {
            let v = _mm512_maskz_loadu_pd(mask, q);
            _mm512_mask_storeu_pd(q, mask, pass8::<AFFINE, UNIT_PRE, SCALED>(v, p));
        }
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

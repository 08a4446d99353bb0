//! SpMV row kernels with hardware gathers of `x`: AVX-512 (8 lanes, masks) and AVX2 (4
//! lanes, vector masks).
//!
//! What they remove is the per-row loop exit, not memory traffic. With ~10 entries per row
//! in random numbers, the portable loop (chunks of 4 plus a 0-3 entry tail) mispredicts its
//! exits about once per row; at ~20 cycles each that cost more than the loads. Here every row
//! of at most [`WINDOW_512`] (AVX-512) or [`WINDOW_256`] (AVX2) entries runs the same
//! straight-line code: masked loads of the row's columns and values and masked gathers of
//! `x`, with the lanes past the row's end masked off (not loaded, and contributing `+0.0`
//! to the sum, never `0 * x`, so a NaN or infinity in `x` cannot leak into another row).
//! Longer rows first run whole unmasked windows in a loop, which is rarely entered (and so
//! well predicted) on matrices whose rows are shorter than the window.
//!
//! Masked-off lanes of `vmaskmov`, `vpmaskmov`, AVX-512 masked loads and gathers are not
//! accessed (their faults are suppressed), which is what lets the tail window read past a
//! row's end, and past the end of the arrays on the last row, without touching that memory.

use super::csr::Csr;
use core::arch::x86_64::{
    __m256d, _mm_add_pd, _mm_add_sd, _mm_cmpgt_epi32, _mm_cvtsd_f64, _mm_loadu_si128,
    _mm_maskload_epi32, _mm_set1_epi32, _mm_setr_epi32, _mm_unpackhi_pd, _mm256_add_pd,
    _mm256_and_pd, _mm256_castpd256_pd128, _mm256_castsi256_pd, _mm256_cmpgt_epi64,
    _mm256_extractf128_pd, _mm256_fmadd_pd, _mm256_i32gather_pd, _mm256_loadu_pd,
    _mm256_loadu_si256, _mm256_mask_i32gather_pd, _mm256_maskload_pd, _mm256_maskz_loadu_epi32,
    _mm256_set1_epi64x, _mm256_setr_epi64x, _mm256_setzero_pd, _mm512_add_pd, _mm512_fmadd_pd,
    _mm512_i32gather_pd, _mm512_loadu_pd, _mm512_mask_i32gather_pd, _mm512_maskz_loadu_pd,
    _mm512_reduce_add_pd, _mm512_setzero_pd,
};

/// Entries of a row the AVX-512 kernel handles without a loop (two masked 8-lane windows).
pub(super) const WINDOW_512: usize = 16;
/// Entries of a row the AVX2 kernel handles without a loop (two masked 4-lane windows).
pub(super) const WINDOW_256: usize = 8;

/// Whether the gather kernels may run on `a`: the gathers read `x[col]` with `col` as a
/// signed 32-bit offset, so every column must be below `2^31` (`Csr` allows up to
/// `u32::MAX - 1`). Wider matrices take the portable loop.
pub(super) fn gathers_fit(a: &Csr) -> bool {
    a.cols() <= i32::MAX as usize
}

/// Whether this CPU's hardware gathers beat the portable loop, by vendor (a fixed rule,
/// read once): yes on Intel, no on AMD. Measured with `zerotick-bench sparse`
/// (`spmv_100k_1m`, 1 M entries in 100,000 rows): on a 2-vCPU Xeon (Sapphire Rapids class)
/// the gather kernels took 0.42-0.60x sprs's time and the portable loop 0.81-0.91x; on a
/// 2-vCPU EPYC (Zen 3) the AVX2 gather kernel took 1.14x the same tier's loop's time
/// (median of six 15-sample runs with this override, 0.94-1.28x; 2026-12-02,
/// docs/kernels.md): Zen cores run a `vgatherdpd` as a slow sequence of loads, so there the
/// loop's occasional mispredicted row exit is the cheaper cost.
/// Unknown vendors (and Hygon, Zen-based) take the loop too. `ZEROTICK_SPMV_GATHERS=1`
/// (or `0`) overrides the rule, read once, to measure it on another machine; any other
/// value keeps the rule and says so on stderr, once, as `ZEROTICK_SIMD` does.
pub(super) fn gathers_pay() -> bool {
    static PAY: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PAY.get_or_init(|| {
        match std::env::var("ZEROTICK_SPMV_GATHERS").as_deref() {
            Ok("1") => return true,
            Ok("0") => return false,
            Ok(other) => eprintln!(
                "zerotick-kernels: ZEROTICK_SPMV_GATHERS={other} is not 0 or 1; choosing by \
                 CPU vendor"
            ),
            Err(_) => {}
        }
        // `__cpuid` is a safe function in recent Rust and `unsafe` in older releases (this
        // crate's rust-version among them), hence the `allow`.
        #[allow(unused_unsafe)]
        // SAFETY: CPUID leaf 0 exists on every x86-64 CPU and only reads identification
        // registers.
        let r = unsafe { core::arch::x86_64::__cpuid(0) };
        // The vendor string is EBX, EDX, ECX: "GenuineIntel".
        (r.ebx, r.edx, r.ecx) == (0x756e_6547, 0x4965_6e69, 0x6c65_746e)
    })
}

/// `y = alpha A x + beta y` with 8-lane gathers.
///
/// The caller guarantees (checked by `spmv_into`, re-checked here for `x` and `y`):
/// `x.len() == a.cols()`, `y.len() == a.rows()`, [`gathers_fit`], and that the CPU has
/// avx512f, avx512vl, avx2 and fma (the `Kernels` tier invariant).
#[target_feature(enable = "avx512f,avx512vl,avx2,fma")]
pub(super) fn spmv_avx512(a: &Csr, alpha: f64, x: &[f64], beta: f64, y: &mut [f64]) {
    if x.len() != a.cols() || y.len() != a.rows() || !gathers_fit(a) {
        return;
    }
    let (indptr, ind, val) = (a.indptr(), a.indices().as_ptr(), a.values().as_ptr());
    let xp = x.as_ptr();
    let zero = _mm512_setzero_pd();
    for (yr, w) in y.iter_mut().zip(indptr.windows(2)) {
        let (mut p, e) = (w[0], w[1]);
        let (mut acc0, mut acc1) = (zero, zero);
        while e - p > WINDOW_512 {
            // SAFETY: `p + 16 <= e <= nnz`, so the 16 columns and values are in bounds; each
            // column is `< cols = x.len() <= i32::MAX` (`Csr` invariant, checked above), so
            // each gathered `x[col]` is in bounds with a non-negative 32-bit offset.
            let (g0, g1, v0, v1) = unsafe {
                let i0 = _mm256_loadu_si256(ind.add(p).cast());
                let i1 = _mm256_loadu_si256(ind.add(p + 8).cast());
                (
                    _mm512_i32gather_pd::<8>(i0, xp),
                    _mm512_i32gather_pd::<8>(i1, xp),
                    _mm512_loadu_pd(val.add(p)),
                    _mm512_loadu_pd(val.add(p + 8)),
                )
            };
            acc0 = _mm512_fmadd_pd(v0, g0, acc0);
            acc1 = _mm512_fmadd_pd(v1, g1, acc1);
            p += WINDOW_512;
        }
        // `e - p <= 16`: lane `l` of window `h` is live when `8 h + l < e - p`.
        let live = (1u32 << (e - p)) - 1;
        let (m0, m1) = (live as u8, (live >> 8) as u8);
        // SAFETY: only live lanes are accessed (masked loads and gathers suppress the rest;
        // the addresses are formed with `wrapping_add` and never dereferenced past them):
        // entries `p..e` of `indices` / `values`, and `x[col]` for their columns, in bounds
        // as in the loop above.
        let (g0, g1, v0, v1) = unsafe {
            let i0 = _mm256_maskz_loadu_epi32(m0, ind.wrapping_add(p).cast());
            let i1 = _mm256_maskz_loadu_epi32(m1, ind.wrapping_add(p + 8).cast());
            (
                _mm512_mask_i32gather_pd::<8>(zero, m0, i0, xp),
                _mm512_mask_i32gather_pd::<8>(zero, m1, i1, xp),
                _mm512_maskz_loadu_pd(m0, val.wrapping_add(p)),
                _mm512_maskz_loadu_pd(m1, val.wrapping_add(p + 8)),
            )
        };
        acc0 = _mm512_fmadd_pd(v0, g0, acc0);
        acc1 = _mm512_fmadd_pd(v1, g1, acc1);
        let dot = _mm512_reduce_add_pd(_mm512_add_pd(acc0, acc1));
        *yr = store(alpha, dot, beta, *yr);
    }
}

/// `y = alpha A x + beta y` with 4-lane gathers; the contract of [`spmv_avx512`], with avx2
/// and fma.
#[target_feature(enable = "avx2,fma")]
pub(super) fn spmv_avx2(a: &Csr, alpha: f64, x: &[f64], beta: f64, y: &mut [f64]) {
    if x.len() != a.cols() || y.len() != a.rows() || !gathers_fit(a) {
        return;
    }
    let (indptr, ind, val) = (a.indptr(), a.indices().as_ptr(), a.values().as_ptr());
    let nnz = a.nnz();
    let xp = x.as_ptr();
    let zero = _mm256_setzero_pd();
    let lane64 = _mm256_setr_epi64x(0, 1, 2, 3);
    let lane32 = _mm_setr_epi32(0, 1, 2, 3);
    for (yr, w) in y.iter_mut().zip(indptr.windows(2)) {
        let (mut p, e) = (w[0], w[1]);
        let (mut acc0, mut acc1) = (zero, zero);
        while e - p > WINDOW_256 {
            // SAFETY: as in `spmv_avx512`'s loop: `p + 8 <= e`, columns `< x.len() <= i32::MAX`.
            let (g0, g1, v0, v1) = unsafe {
                let i0 = _mm_loadu_si128(ind.add(p).cast());
                let i1 = _mm_loadu_si128(ind.add(p + 4).cast());
                (
                    _mm256_i32gather_pd::<8>(xp, i0),
                    _mm256_i32gather_pd::<8>(xp, i1),
                    _mm256_loadu_pd(val.add(p)),
                    _mm256_loadu_pd(val.add(p + 4)),
                )
            };
            acc0 = _mm256_fmadd_pd(v0, g0, acc0);
            acc1 = _mm256_fmadd_pd(v1, g1, acc1);
            p += WINDOW_256;
        }
        // `rem <= 8`: lane `l` of window `h` is live when `4 h + l < rem` (all-ones lanes).
        let rem = (e - p) as i32;
        let live64 = |h: i32| _mm256_cmpgt_epi64(_mm256_set1_epi64x(i64::from(rem - h)), lane64);
        let live32 = |h: i32| _mm_cmpgt_epi32(_mm_set1_epi32(rem - h), lane32);
        let (m0, m1) = (live64(0), live64(4));
        let (g0, g1, v0, v1) = if p + WINDOW_256 <= nnz {
            // Not near the arrays' end: plain loads of the window's columns and values (the
            // lanes past `e` read the next rows' entries, in bounds and unused: their gathers
            // are masked off and their values zeroed by the mask, so they give the `+0.0`
            // of a masked load). Cheaper than `vpmaskmovd` / `vmaskmovpd` (2 uops each).
            // SAFETY: `p + 8 <= nnz`, so the 8 columns and values from `p` are in bounds;
            // only live lanes gather, and their columns are `< x.len() <= i32::MAX` as in
            // the loop above.
            unsafe {
                let i0 = _mm_loadu_si128(ind.add(p).cast());
                let i1 = _mm_loadu_si128(ind.add(p + 4).cast());
                let (f0, f1) = (_mm256_castsi256_pd(m0), _mm256_castsi256_pd(m1));
                (
                    _mm256_mask_i32gather_pd::<8>(zero, xp, i0, f0),
                    _mm256_mask_i32gather_pd::<8>(zero, xp, i1, f1),
                    _mm256_and_pd(_mm256_loadu_pd(val.add(p)), f0),
                    _mm256_and_pd(_mm256_loadu_pd(val.add(p + 4)), f1),
                )
            }
        } else {
            // SAFETY: as in `spmv_avx512`'s tail: only live lanes (entries `p..e` and their
            // `x[col]`) are accessed; masked lanes of `vpmaskmovd`, `vmaskmovpd` and
            // `vgatherdpd` are not.
            unsafe {
                let i0 = _mm_maskload_epi32(ind.wrapping_add(p).cast(), live32(0));
                let i1 = _mm_maskload_epi32(ind.wrapping_add(p + 4).cast(), live32(4));
                (
                    _mm256_mask_i32gather_pd::<8>(zero, xp, i0, _mm256_castsi256_pd(m0)),
                    _mm256_mask_i32gather_pd::<8>(zero, xp, i1, _mm256_castsi256_pd(m1)),
                    _mm256_maskload_pd(val.wrapping_add(p), m0),
                    _mm256_maskload_pd(val.wrapping_add(p + 4), m1),
                )
            }
        };
        acc0 = _mm256_fmadd_pd(v0, g0, acc0);
        acc1 = _mm256_fmadd_pd(v1, g1, acc1);
        *yr = store(alpha, hsum256(_mm256_add_pd(acc0, acc1)), beta, *yr);
    }
}

/// `((l0 + l2) + (l1 + l3))` of a 4-lane vector.
#[inline]
#[target_feature(enable = "avx2")]
fn hsum256(v: __m256d) -> f64 {
    let s2 = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd::<1>(v));
    _mm_cvtsd_f64(_mm_add_sd(s2, _mm_unpackhi_pd(s2, s2)))
}

/// The row's result: `alpha * dot`, plus `beta * y` unless `beta == 0` (then `y` is not
/// read, as in BLAS), fused as the portable FMA tiers do.
#[inline(always)]
fn store(alpha: f64, dot: f64, beta: f64, y: f64) -> f64 {
    if beta == 0.0 {
        alpha * dot
    } else {
        beta.mul_add(y, alpha * dot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::Tier;

    /// Row `r` holds `r` entries (0 to 40: every window's empty, partial, full and looped
    /// cases) with small integer values, so every summation order gives the exact result;
    /// column 0 is in no row and `x[0]` is infinite, so a masked lane that multiplied it
    /// would turn a row into NaN.
    #[test]
    fn every_row_length_is_exact_and_masked_lanes_read_nothing() {
        let rows = 41;
        let cols = 97;
        let mut t = Vec::new();
        for r in 0..rows {
            for e in 0..r {
                t.push((
                    r,
                    1 + (r * 7 + e * 13) % (cols - 1),
                    ((r + e) % 5) as f64 - 2.0,
                ));
            }
        }
        let a = Csr::try_from_triplets(rows, cols, &t).unwrap();
        let mut x: Vec<f64> = (0..cols).map(|c| (c % 9) as f64 - 4.0).collect();
        x[0] = f64::INFINITY;
        let want: Vec<f64> = (0..rows)
            .map(|r| {
                let (c, v) = a.row(r);
                c.iter()
                    .zip(v)
                    .map(|(&c, &v)| v * x[c as usize])
                    .sum::<f64>()
                    * 2.0
                    - 1.0
            })
            .collect();
        let mut got = vec![1.0; rows];
        if Tier::Avx512.is_supported() {
            // SAFETY: avx512f, avx512vl, avx2 and fma are present (checked just above).
            unsafe { spmv_avx512(&a, 2.0, &x, -1.0, &mut got) };
            assert_eq!(got, want, "avx512");
        }
        if Tier::Avx2.is_supported() {
            got.fill(1.0);
            // SAFETY: avx2 and fma are present (checked just above).
            unsafe { spmv_avx2(&a, 2.0, &x, -1.0, &mut got) };
            assert_eq!(got, want, "avx2");
        }
    }

    /// The tail window reads past a row's end (plain loads on AVX2 away from the arrays' end):
    /// those lanes hold the next rows' columns, here always columns where `x` is NaN (odd
    /// rows use only those), and must not reach the even rows, whose sums stay exact.
    #[test]
    fn lanes_past_a_rows_end_do_not_leak_the_next_rows() {
        let (rows, cols) = (61, 100);
        let mut t = Vec::new();
        for r in 0..rows {
            for e in 0..(r * 7) % 20 {
                let c = if r % 2 == 0 {
                    1 + (r + e * 3) % 49
                } else {
                    50 + (r + e) % 50
                };
                t.push((r, c, ((r + e) % 5) as f64 - 2.0));
            }
        }
        let a = Csr::try_from_triplets(rows, cols, &t).unwrap();
        let x: Vec<f64> = (0..cols)
            .map(|c| {
                if c >= 50 {
                    f64::NAN
                } else {
                    (c % 9) as f64 - 4.0
                }
            })
            .collect();
        let check = |got: &[f64], what: &str| {
            for (r, &g) in got.iter().enumerate() {
                let (c, v) = a.row(r);
                let dot: f64 = c.iter().zip(v).map(|(&c, &v)| v * x[c as usize]).sum();
                let want = dot * 2.0 - 1.0;
                if c.is_empty() || r % 2 == 0 {
                    assert_eq!(g, want, "{what} row {r}");
                } else {
                    assert!(g.is_nan(), "{what} row {r}");
                }
            }
        };
        let mut got = vec![1.0; rows];
        if Tier::Avx512.is_supported() {
            // SAFETY: avx512f, avx512vl, avx2 and fma are present (checked just above).
            unsafe { spmv_avx512(&a, 2.0, &x, -1.0, &mut got) };
            check(&got, "avx512");
        }
        if Tier::Avx2.is_supported() {
            got.fill(1.0);
            // SAFETY: avx2 and fma are present (checked just above).
            unsafe { spmv_avx2(&a, 2.0, &x, -1.0, &mut got) };
            check(&got, "avx2");
        }
    }
}

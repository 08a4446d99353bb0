//! `dots_into`: every dot product of a block of rows with a set of vectors (`X Wᵀ`), each
//! with [`Kernels::dot`]'s bits.
//!
//! # Why not `dot` in a loop
//! `dot(x_i, w_j)` for each pair reads both vectors once per pair: for a batch of rows
//! against 16 projection vectors of 1,024 (128 KiB, more than the 32-48 KiB of L1), the
//! vectors stream from L2 or further for every row, at two loads per fused multiply-add.
//! Here two rows meet four vectors at a time, so each vector is read once per two rows and
//! each step does eight multiply-adds for six loads.
//!
//! # Same bits as `dot`
//! `dot` keeps [`CHUNK`] (32) lane sums: lane `l` adds `x[32 k + l] * y[32 k + l]` for
//! `k = 0, 1, ...` in order, then the lanes are combined pairwise. A lane's order is all
//! that fixes its bits, so the lanes may be advanced in any interleaving: here 4 lanes at a
//! time (one `ymm`) over a block of [`KB`] chunks, the 32 lane sums of each pair kept in
//! memory between blocks, then combined by the same `reduce`. Every entry of the result is
//! `dot`'s, on every tier (the scalar tier without fused multiply-adds, like `dot`'s).

use crate::elementwise::{CHUNK, add, reduce};
use crate::error::KernelError;
use crate::simd::{Kernels, madd, multiversion};

/// Lanes advanced together: one `ymm` of `f64`.
const LANES: usize = 4;
/// Chunks (of [`CHUNK`] elements) per block: 256 elements, 2 KiB of each of the six
/// vectors in L1 while the eight lane groups pass over them.
const KB: usize = 8;

/// The lane sums of the `R x C` pairs of `x` rows and `w` vectors, advanced over every whole
/// chunk and the remainder exactly as `dot_v` advances its own.
#[inline(always)]
fn block<const R: usize, const C: usize, const FMA: bool>(
    x: [&[f64]; R],
    w: [&[f64]; C],
) -> [[f64; C]; R] {
    let len = x[0].len();
    let whole = len / CHUNK;
    let mut lanes = [[[0.0f64; CHUNK]; C]; R];
    let mut k0 = 0;
    while k0 < whole {
        let k1 = (k0 + KB).min(whole);
        for g in (0..CHUNK).step_by(LANES) {
            #[cfg(target_arch = "x86_64")]
            if FMA {
                // SAFETY: `FMA` is true only in the AVX2 and AVX-512 copies of `dots_v`
                // (`multiversion!`), which run only where `Kernels`' tier found AVX2 and FMA.
                unsafe { x86::advance(&x, &w, k0, k1, g, &mut lanes) };
                continue;
            }
            advance::<R, C, FMA>(&x, &w, k0, k1, g, &mut lanes);
        }
        k0 = k1;
    }
    let tail = whole * CHUNK;
    for r in 0..R {
        for c in 0..C {
            for (i, (a, b)) in x[r][tail..].iter().zip(&w[c][tail..]).enumerate() {
                lanes[r][c][i] = madd::<FMA>(*a, *b, lanes[r][c][i]);
            }
        }
    }
    core::array::from_fn(|r| core::array::from_fn(|c| reduce(&lanes[r][c], 0.0, add, add)))
}

/// Lanes `g..g + 4` of the `R x C` lane sums over chunks `k0..k1`, portable: the scalar
/// tier's step (its twin for the vector tiers is `x86::advance`).
#[inline(always)]
fn advance<const R: usize, const C: usize, const FMA: bool>(
    x: &[&[f64]; R],
    w: &[&[f64]; C],
    k0: usize,
    k1: usize,
    g: usize,
    lanes: &mut [[[f64; CHUNK]; C]; R],
) {
    let mut acc = [[[0.0f64; LANES]; C]; R];
    for r in 0..R {
        for c in 0..C {
            acc[r][c].copy_from_slice(&lanes[r][c][g..g + LANES]);
        }
    }
    for k in k0..k1 {
        let at = k * CHUNK + g;
        let xv: [[f64; LANES]; R] = core::array::from_fn(|r| {
            let mut v = [0.0; LANES];
            v.copy_from_slice(&x[r][at..at + LANES]);
            v
        });
        let wv: [[f64; LANES]; C] = core::array::from_fn(|c| {
            let mut v = [0.0; LANES];
            v.copy_from_slice(&w[c][at..at + LANES]);
            v
        });
        for r in 0..R {
            for c in 0..C {
                for l in 0..LANES {
                    acc[r][c][l] = madd::<FMA>(xv[r][l], wv[c][l], acc[r][c][l]);
                }
            }
        }
    }
    for r in 0..R {
        for c in 0..C {
            lanes[r][c][g..g + LANES].copy_from_slice(&acc[r][c]);
        }
    }
}

/// The vector tiers' step, in intrinsics: the portable form above, compiled, ran each lane
/// sum's eight steps of a block back to back (one dependent chain of fused multiply-adds at a
/// time, latency-bound: `project_32x16x1k` at ~0.6 multiply-adds a cycle); here every step
/// issues all `R x C` independent multiply-adds before the next. Same operations, same order
/// per lane, so the same bits.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{CHUNK, LANES};
    use core::arch::x86_64::{__m256d, _mm256_fmadd_pd, _mm256_loadu_pd, _mm256_storeu_pd};

    /// Lanes `g..g + 4` of the `R x C` lane sums over chunks `k0..k1`.
    ///
    /// # Safety
    /// The CPU supports AVX2 and FMA.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn advance<const R: usize, const C: usize>(
        x: &[&[f64]; R],
        w: &[&[f64]; C],
        k0: usize,
        k1: usize,
        g: usize,
        lanes: &mut [[[f64; CHUNK]; C]; R],
    ) {
        let end = k1 * CHUNK;
        assert!(g + LANES <= CHUNK && x.iter().chain(w.iter()).all(|v| v.len() >= end));
        let mut acc: [[__m256d; C]; R] = core::array::from_fn(|r| {
            core::array::from_fn(|c| {
                // SAFETY: `g + 4 <= CHUNK` (asserted above), so the 4 lane sums at `g` are in
                // bounds.
                unsafe { _mm256_loadu_pd(lanes[r][c].as_ptr().add(g)) }
            })
        });
        for k in k0..k1 {
            let at = k * CHUNK + g;
            // SAFETY: `at + 4 <= (k1 - 1) * CHUNK + CHUNK = end`, and every vector holds at
            // least `end` elements (asserted above).
            let xv: [__m256d; R] =
                core::array::from_fn(|r| unsafe { _mm256_loadu_pd(x[r].as_ptr().add(at)) });
            for c in 0..C {
                // SAFETY: as for `xv`.
                let wv = unsafe { _mm256_loadu_pd(w[c].as_ptr().add(at)) };
                for r in 0..R {
                    acc[r][c] = _mm256_fmadd_pd(xv[r], wv, acc[r][c]);
                }
            }
        }
        for r in 0..R {
            for c in 0..C {
                // SAFETY: as for the loads of the lane sums.
                unsafe { _mm256_storeu_pd(lanes[r][c].as_mut_ptr().add(g), acc[r][c]) };
            }
        }
    }
}

/// `R` consecutive rows of `x` against every vector of `w` (both `len` wide), into `out`
/// (`R` rows of `out.len() / R`, row-major).
#[inline(always)]
fn rows_against<const R: usize, const FMA: bool>(
    x: [&[f64]; R],
    w: &[f64],
    len: usize,
    out: &mut [f64],
) {
    let m = out.len() / R;
    let mut j = 0;
    while j + 4 <= m {
        let ws: [&[f64]; 4] = core::array::from_fn(|c| &w[(j + c) * len..(j + c + 1) * len]);
        for (r, d) in block::<R, 4, FMA>(x, ws).into_iter().enumerate() {
            out[r * m + j..r * m + j + 4].copy_from_slice(&d);
        }
        j += 4;
    }
    for j in j..m {
        for (r, d) in block::<R, 1, FMA>(x, [&w[j * len..(j + 1) * len]])
            .into_iter()
            .enumerate()
        {
            out[r * m + j] = d[0];
        }
    }
}

multiversion! {
    fn dots_v(x: &[f64], w: &[f64], len: usize, out: &mut [f64]) -> () {
        let (rows, m) = (x.len() / len, w.len() / len);
        let mut i = 0;
        while i + 2 <= rows {
            let xs = [&x[i * len..(i + 1) * len], &x[(i + 1) * len..(i + 2) * len]];
            rows_against::<2, FMA>(xs, w, len, &mut out[i * m..(i + 2) * m]);
            i += 2;
        }
        if i < rows {
            rows_against::<1, FMA>([&x[i * len..(i + 1) * len]], w, len, &mut out[i * m..(i + 1) * m]);
        }
    }
}

impl Kernels {
    /// `out[i * m + j] = dot(x_i, w_j)`: every row `x_i` of `x` against every vector `w_j` of
    /// `w` (`X Wᵀ`), both row-major with rows of `len`; `m = w.len() / len`, and `out` holds
    /// `x.len() / len` rows of `m`.
    ///
    /// Each entry has [`Kernels::dot`]'s bits (the same 32 lane sums, combined the same
    /// way), so a row's results do not depend on how many rows come with it; the vectors are
    /// read once per two rows instead of once per row.
    ///
    /// # Errors
    /// [`KernelError::BadShape`] if `len` is 0 while `x` or `w` is not empty, if `x` or `w`
    /// is not a whole number of rows of `len`, or if `out` does not hold exactly `rows x m`
    /// (the error's `rows` and `stride` are then `rows` and `m`). Nothing is written then.
    ///
    /// # Example
    /// ```
    /// use zerotick_kernels::Kernels;
    /// let k = Kernels::active();
    /// let x = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // two rows of 3
    /// let w = [1.0, 0.0, 0.0, 0.0, 1.0, 1.0]; // two vectors of 3
    /// let mut out = [0.0; 4];
    /// k.dots_into(&x, &w, 3, &mut out)?;
    /// assert_eq!(out, [1.0, 5.0, 4.0, 11.0]);
    /// assert_eq!(out[3], k.dot(&x[3..], &w[3..])?);
    /// # Ok::<(), zerotick_kernels::KernelError>(())
    /// ```
    pub fn dots_into(
        &self,
        x: &[f64],
        w: &[f64],
        len: usize,
        out: &mut [f64],
    ) -> Result<(), KernelError> {
        // `n.is_multiple_of(0)` holds only for `n == 0`.
        let whole = |v: &[f64]| v.len().is_multiple_of(len);
        let (rows, m) = (
            x.len().checked_div(len).unwrap_or(0),
            w.len().checked_div(len).unwrap_or(0),
        );
        let bad = |rows: usize, got: usize| KernelError::BadShape {
            rows,
            width: len,
            stride: len,
            len: got,
        };
        if !whole(x) {
            return Err(bad(rows + 1, x.len()));
        }
        if !whole(w) {
            return Err(bad(m + 1, w.len()));
        }
        let need = rows.checked_mul(m).ok_or(bad(rows, x.len()))?;
        if out.len() != need {
            return Err(KernelError::BadShape {
                rows,
                width: m,
                stride: m,
                len: out.len(),
            });
        }
        if need == 0 {
            return Ok(());
        }
        dots_v(*self, x, w, len, out);
        Ok(())
    }
}

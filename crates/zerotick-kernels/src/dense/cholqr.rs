//! CholeskyQR2 for the randomized SVD's tall, skinny bases (Fukaya, Nakatsukasa, Yanagisawa
//! and Yamamoto 2014): `G = Y^T Y`, `G = R^T R` (Cholesky), `Q = Y R^-1`, done twice. The
//! first pass leaves `Q` orthonormal to about `eps * cond(Y)^2`, the second to about `eps`,
//! as long as `cond(Y)^2 * eps` is well below 1.
//!
//! Every step with `O(rows * l^2)` work is one of the skinny kernels (`G` by `B^T X`, the
//! triangular solve as a product with the explicit `R^-1`), so a `2000 x 30` basis costs four
//! small products instead of a Householder QR and the accumulation of its `Q`. A Cholesky
//! pivot below [`MIN_PIVOT_RATIO`] of the largest diagonal value of `G` (condition number
//! above about `10^5`: rank-deficient or nearly so) makes [`cholqr2`] return `false`, and
//! the caller falls back to Householder QR.

use faer::reborrow::{Reborrow, ReborrowMut};
use faer::{MatMut, MatRef};

use super::skinny::{ColMajor, Panels, mul_into, packed_width, tmul_into, unpack_tiles};
use crate::simd::Kernels;

/// Smallest accepted Cholesky pivot of `G = Y^T Y`, relative to `G`'s largest diagonal value:
/// `10^-10` means `cond(Y)` up to about `10^5`, where the first pass's loss of orthogonality
/// (`eps * cond^2`, about `2e-6`) is still small enough for the second to repair.
pub(crate) const MIN_PIVOT_RATIO: f64 = 1e-10;

/// Scratch of [`cholqr2`] and the skinny kernels it calls.
pub(crate) struct Scratch<'a> {
    /// `l x ld`: `G`, then `R^-1` packed row-major.
    pub(crate) small: &'a mut [f64],
    /// A second `l x ld` buffer (`G` while `R^-1` is formed).
    pub(crate) gram: &'a mut [f64],
    /// Tiles of [`mul_into`]'s output.
    pub(crate) tiles: &'a mut [f64],
    /// [`mul_into`]'s packing buffer.
    pub(crate) panel: &'a mut [f64],
}

/// Orthonormal basis of the columns of `y` (`rows x l`): written to `q` (column-major,
/// `rows x l`) and to `q_packed` (row-major, row length `packed_width(l)`, padding left as it
/// is). Returns `false`, with `q` and `q_packed` unspecified, when `y` is too ill-conditioned
/// for CholeskyQR2 (see [`MIN_PIVOT_RATIO`]) or holds NaN or infinities.
pub(crate) fn cholqr2(
    k: Kernels,
    y: MatRef<'_, f64>,
    mut q: MatMut<'_, f64>,
    q_packed: &mut [f64],
    s: &mut Scratch<'_>,
) -> bool {
    let (rows, l) = y.shape();
    let ld = packed_width(l);
    q.copy_from(y);
    for _ in 0..2 {
        super::rsvd::pack(q.rb(), q_packed, ld);
        let Some(b) = ColMajor::new(q.rb()) else {
            return false;
        };
        // G = Q^T Q (rows of G: l x ld).
        tmul_into(k, b, q_packed, l, ld, s.gram);
        if !cholesky_inverse(s.gram, s.small, l, ld) {
            return false;
        }
        // Q = Q R^-1.
        mul_into(k, b, s.small, l, ld, s.tiles, &mut Panels::scratch(s.panel));
        unpack_tiles(s.tiles, l, q.rb_mut());
    }
    debug_assert_eq!(q.nrows(), rows);
    super::rsvd::pack(q.rb(), q_packed, ld);
    true
}

/// Factors `G = R^T R` (`g`: `l x l` of a row-major `l x ld` buffer; overwritten) and writes
/// `R^-1` (upper triangular) into `rinv` packed row-major with zero lower part and padding.
/// `false` if a pivot is below [`MIN_PIVOT_RATIO`] times the largest diagonal value (or not a
/// number).
fn cholesky_inverse(g: &mut [f64], rinv: &mut [f64], l: usize, ld: usize) -> bool {
    let max_diag = (0..l).map(|i| g[i * ld + i]).fold(0.0, f64::max);
    let min_pivot = MIN_PIVOT_RATIO * max_diag;
    // Upper R in place, row by row: R[i][j] = (G[i][j] - sum_{p<i} R[p][i] R[p][j]) / R[i][i].
    for i in 0..l {
        let mut d = g[i * ld + i];
        for p in 0..i {
            d -= g[p * ld + i] * g[p * ld + i];
        }
        // `!(d > min)` also rejects NaN.
        if !(d > min_pivot && d.is_finite()) {
            return false;
        }
        let rii = d.sqrt();
        g[i * ld + i] = rii;
        for j in i + 1..l {
            let mut v = g[i * ld + j];
            for p in 0..i {
                v -= g[p * ld + i] * g[p * ld + j];
            }
            g[i * ld + j] = v / rii;
        }
    }
    // R^-1 by back substitution, column by column: R X = I, X upper triangular.
    rinv[..l * ld].fill(0.0);
    for j in 0..l {
        rinv[j * ld + j] = 1.0 / g[j * ld + j];
        for i in (0..j).rev() {
            let mut v = 0.0;
            for p in i + 1..=j {
                v += g[i * ld + p] * rinv[p * ld + j];
            }
            rinv[i * ld + j] = -v / g[i * ld + i];
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dense::skinny::{pack_len, tiles_len};
    use faer::Mat;

    fn run(y: &Mat<f64>) -> Option<Mat<f64>> {
        let (rows, l) = y.shape();
        let ld = packed_width(l);
        let (mut small, mut gram) = (vec![0.0; l * ld], vec![0.0; l * ld]);
        let (mut tiles, mut panel) = (vec![0.0; tiles_len(rows, l)], vec![0.0; pack_len(rows)]);
        let mut s = Scratch {
            small: &mut small,
            gram: &mut gram,
            tiles: &mut tiles,
            panel: &mut panel,
        };
        let mut q = Mat::<f64>::zeros(rows, l);
        let mut qp = vec![0.0; rows * ld];
        let ok = cholqr2(Kernels::active(), y.as_ref(), q.as_mut(), &mut qp, &mut s);
        for i in 0..rows {
            for c in 0..l {
                assert!(!ok || qp[i * ld + c] == q[(i, c)]);
            }
        }
        ok.then_some(q)
    }

    #[test]
    fn orthonormal_and_same_span_up_to_condition_1e4() {
        let (rows, l) = (300, 12);
        for cond in [1.0f64, 1e2, 1e4] {
            // Y = U diag(s) V^T with s from 1 down to 1/cond.
            let u = Mat::<f64>::from_fn(rows, l, |i, j| ((i * 31 + j * 17) % 23) as f64 - 11.0)
                .qr()
                .compute_thin_Q();
            let v = Mat::<f64>::from_fn(l, l, |i, j| ((i * 7 + j * 5) % 13) as f64 - 6.0)
                .qr()
                .compute_thin_Q();
            let sv = Mat::<f64>::from_fn(l, l, |i, j| {
                if i == j {
                    cond.powf(-(i as f64) / (l - 1) as f64)
                } else {
                    0.0
                }
            });
            let y = &u * &sv * v.transpose();
            let q = run(&y).expect("well enough conditioned");
            let qtq = q.transpose() * &q;
            assert!(
                (qtq - Mat::<f64>::identity(l, l)).norm_max() < 1e-14,
                "{cond}"
            );
            // Same span: Y - Q Q^T Y vanishes.
            let resid = &y - &q * (q.transpose() * &y);
            assert!(resid.norm_max() < 1e-13, "{cond}: {}", resid.norm_max());
        }
    }

    #[test]
    fn rank_deficient_nan_and_zero_inputs_are_declined() {
        let (rows, l) = (50, 4);
        let mut y = Mat::<f64>::from_fn(rows, l, |i, j| (i + 1) as f64 * (j + 1) as f64);
        assert!(run(&y).is_none(), "rank one");
        y = Mat::<f64>::from_fn(rows, l, |i, j| ((i * 3 + j * 7) % 11) as f64);
        y[(3, 2)] = f64::NAN;
        assert!(run(&y).is_none(), "NaN");
        assert!(run(&Mat::<f64>::zeros(rows, l)).is_none(), "zero");
    }
}

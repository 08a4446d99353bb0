//! Randomized SVD (Halko, Martinsson and Tropp 2011, algorithms 4.4 and 5.1): a seeded Gaussian
//! test matrix, a range finder with oversampling and power iterations re-orthonormalised by
//! QR, and faer's SVD of the small projected matrix. All scratch comes from one arena slice
//! sized by faer's `*_scratch` queries.

use faer::dyn_stack::{MemStack, StackReq};
use faer::linalg::householder::{
    apply_block_householder_sequence_on_the_left_in_place_scratch,
    apply_block_householder_sequence_on_the_left_in_place_with_conj,
};
use faer::linalg::qr::no_pivoting::factor::{
    qr_in_place, qr_in_place_scratch, recommended_block_size,
};
use faer::linalg::svd::{ComputeSvdVectors, svd, svd_scratch};
use faer::linalg::{temp_mat_scratch, temp_mat_zeroed};
use faer::mat::AsMatMut;
use faer::reborrow::{Reborrow, ReborrowMut};
use faer::{Conj, MatMut, MatRef, Par, diag::DiagMut};
use zerotick_mem::Arena;

use super::DenseError;
use super::gemm::gemm_unchecked_shapes;

/// Parameters of [`rsvd_into`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RsvdParams {
    /// Rank: singular triplets returned.
    pub k: usize,
    /// Oversampling `p`: the range finder uses `k + p` random directions (10 is the usual).
    pub oversample: usize,
    /// Power iterations `q` (each one two passes over `A`); 1 or 2 for slowly decaying spectra.
    pub power_iters: usize,
    /// Seed of the Gaussian test matrix: same seed, same result.
    pub seed: u64,
}

impl RsvdParams {
    /// Rank `k` with `p = 10`, `q = 2`, seed 0.
    pub const fn new(k: usize) -> Self {
        Self {
            k,
            oversample: 10,
            power_iters: 2,
            seed: 0,
        }
    }

    /// Sketch width `l = min(k + p, min(m, n))`.
    fn width(&self, m: usize, n: usize) -> usize {
        self.k.saturating_add(self.oversample).min(m.min(n))
    }
}

fn stack_req(m: usize, n: usize, l: usize) -> StackReq {
    let bs_m = recommended_block_size::<f64>(m, l);
    let bs_n = recommended_block_size::<f64>(n, l);
    let par = Par::Seq;
    let work = StackReq::any_of(&[
        qr_in_place_scratch::<f64>(m, l, bs_m, par, Default::default()),
        qr_in_place_scratch::<f64>(n, l, bs_n, par, Default::default()),
        apply_block_householder_sequence_on_the_left_in_place_scratch::<f64>(m, bs_m, l),
        apply_block_householder_sequence_on_the_left_in_place_scratch::<f64>(n, bs_n, l),
        svd_scratch::<f64>(
            n,
            l,
            ComputeSvdVectors::Thin,
            ComputeSvdVectors::Thin,
            par,
            Default::default(),
        ),
    ]);
    StackReq::all_of(&[
        temp_mat_scratch::<f64>(n, l), // omega, then the orthonormal basis of A^T Q
        temp_mat_scratch::<f64>(n, l), // z = A^T Q, then B^T
        temp_mat_scratch::<f64>(m, l), // y = A omega
        temp_mat_scratch::<f64>(m, l), // q
        temp_mat_scratch::<f64>(bs_m, l),
        temp_mat_scratch::<f64>(bs_n, l),
        temp_mat_scratch::<f64>(l, 1), // singular values
        temp_mat_scratch::<f64>(n, l), // left singular vectors of B^T
        temp_mat_scratch::<f64>(l, l), // right singular vectors of B^T
        work,
    ])
}

/// Arena bytes [`rsvd_into`] needs for an `m x n` input.
pub fn rsvd_scratch_bytes(m: usize, n: usize, params: RsvdParams) -> usize {
    let l = params.width(m, n).max(1);
    let req = stack_req(m, n, l);
    req.size_bytes() + req.align_bytes()
}

/// Top-`k` SVD of `a` (`m x n`): `u` (`m x k`), `s` (`k`, non-increasing), `vt` (`k x n`)
/// with `a ~= u * diag(s) * vt`, by randomized range finding.
///
/// Cost: `2q + 2` passes over `A` of `(k + p)`-column products, QR of `m x (k+p)` and
/// `n x (k+p)` matrices, one SVD of an `n x (k+p)` matrix. Scratch (size it with
/// [`rsvd_scratch_bytes`]) comes from `arena` in one slice that stays allocated until the
/// caller resets the arena. No heap allocation after a warm-up call on the same thread.
///
/// # Errors
/// [`DenseError::BadRank`] if `k == 0` or `k > min(m, n)`; [`DenseError::OutputShape`] if an
/// output has the wrong shape; [`DenseError::Arena`] if the scratch does not fit;
/// [`DenseError::NoConvergence`] if faer's SVD fails (NaN or infinite input): outputs are then
/// unspecified.
///
/// ```
/// use faer::Mat;
/// use zerotick_kernels::dense::{RsvdParams, rsvd_into, rsvd_scratch_bytes};
/// use zerotick_mem::Arena;
///
/// // A rank-2 matrix: singular values 3 and 2 (orthonormal factors).
/// let a = Mat::<f64>::from_fn(40, 30, |i, j| {
///     let (u1, u2) = (if i == 0 { 1.0 } else { 0.0 }, if i == 1 { 1.0 } else { 0.0 });
///     let (v1, v2) = (if j == 2 { 1.0 } else { 0.0 }, if j == 5 { 1.0 } else { 0.0 });
///     3.0 * u1 * v1 + 2.0 * u2 * v2
/// });
/// let params = RsvdParams::new(2);
/// let arena = Arena::new(rsvd_scratch_bytes(40, 30, params));
/// let (mut u, mut s, mut vt) = (Mat::<f64>::zeros(40, 2), [0.0; 2], Mat::<f64>::zeros(2, 30));
/// rsvd_into(a.as_ref(), params, u.as_mut(), &mut s, vt.as_mut(), &arena)?;
/// assert!((s[0] - 3.0).abs() < 1e-12 && (s[1] - 2.0).abs() < 1e-12);
/// # Ok::<(), zerotick_kernels::dense::DenseError>(())
/// ```
pub fn rsvd_into(
    a: MatRef<'_, f64>,
    params: RsvdParams,
    mut u: MatMut<'_, f64>,
    s: &mut [f64],
    mut vt: MatMut<'_, f64>,
    arena: &Arena,
) -> Result<(), DenseError> {
    let (m, n) = a.shape();
    let k = params.k;
    if k == 0 || k > m.min(n) {
        return Err(DenseError::BadRank { k, max: m.min(n) });
    }
    for (output, expected, got) in [
        ("u", (m, k), u.shape()),
        ("s", (k, 1), (s.len(), 1)),
        ("vt", (k, n), vt.shape()),
    ] {
        if expected != got {
            return Err(DenseError::OutputShape {
                output,
                expected,
                got,
            });
        }
    }
    let l = params.width(m, n);
    let bytes = arena.try_alloc_bytes(rsvd_scratch_bytes(m, n, params))?;
    let stack = MemStack::new(bytes);
    let par = Par::Seq;

    let (mut omega, stack) = temp_mat_zeroed::<f64, _, _>(n, l, stack);
    let mut omega = omega.as_mat_mut();
    let (mut z, stack) = temp_mat_zeroed::<f64, _, _>(n, l, stack);
    let mut z = z.as_mat_mut();
    let (mut y, stack) = temp_mat_zeroed::<f64, _, _>(m, l, stack);
    let mut y = y.as_mat_mut();
    let (mut q, stack) = temp_mat_zeroed::<f64, _, _>(m, l, stack);
    let mut q = q.as_mat_mut();
    let (mut hm, stack) =
        temp_mat_zeroed::<f64, _, _>(recommended_block_size::<f64>(m, l), l, stack);
    let mut hm = hm.as_mat_mut();
    let (mut hn, stack) =
        temp_mat_zeroed::<f64, _, _>(recommended_block_size::<f64>(n, l), l, stack);
    let mut hn = hn.as_mat_mut();
    let (mut sv, stack) = temp_mat_zeroed::<f64, _, _>(l, 1, stack);
    let mut sv = sv.as_mat_mut();
    let (mut w, stack) = temp_mat_zeroed::<f64, _, _>(n, l, stack);
    let mut w = w.as_mat_mut();
    let (mut zz, stack) = temp_mat_zeroed::<f64, _, _>(l, l, stack);
    let mut zz = zz.as_mat_mut();

    let mut rng = super::rng::Gaussian::new(params.seed);
    faer::zip!(omega.rb_mut()).for_each(|faer::unzip!(x)| *x = rng.sample());

    // Range finder: Q = orth(A Omega), then q rounds of Q = orth(A orth(A^T Q)).
    gemm_unchecked_shapes(y.rb_mut(), a, omega.rb(), 1.0, 0.0, par);
    orthonormalize(y.rb_mut(), hm.rb_mut(), q.rb_mut(), stack);
    for _ in 0..params.power_iters {
        gemm_unchecked_shapes(z.rb_mut(), a.transpose(), q.rb(), 1.0, 0.0, par);
        orthonormalize(z.rb_mut(), hn.rb_mut(), omega.rb_mut(), stack);
        gemm_unchecked_shapes(y.rb_mut(), a, omega.rb(), 1.0, 0.0, par);
        orthonormalize(y.rb_mut(), hm.rb_mut(), q.rb_mut(), stack);
    }
    // B^T = A^T Q (n x l) = W S Z^T, so A ~= Q B = (Q Z) S W^T.
    gemm_unchecked_shapes(z.rb_mut(), a.transpose(), q.rb(), 1.0, 0.0, par);
    let sdiag: DiagMut<'_, f64> = sv.rb_mut().col_mut(0).as_diagonal_mut();
    svd(
        z.rb(),
        sdiag,
        Some(w.rb_mut()),
        Some(zz.rb_mut()),
        par,
        stack,
        Default::default(),
    )
    .map_err(|_| DenseError::NoConvergence)?;
    gemm_unchecked_shapes(u.rb_mut(), q.rb(), zz.rb().get(.., ..k), 1.0, 0.0, par);
    for (i, s) in s.iter_mut().enumerate() {
        *s = sv[(i, 0)];
    }
    vt.copy_from(w.rb().get(.., ..k).transpose());
    Ok(())
}

/// `out = Q` of the thin QR of `y` (`y` is overwritten by the factorisation).
fn orthonormalize(
    mut y: MatMut<'_, f64>,
    mut h: MatMut<'_, f64>,
    mut out: MatMut<'_, f64>,
    stack: &mut MemStack,
) {
    qr_in_place(y.rb_mut(), h.rb_mut(), Par::Seq, stack, Default::default());
    out.fill(0.0);
    out.rb_mut().diagonal_mut().fill(1.0);
    apply_block_householder_sequence_on_the_left_in_place_with_conj(
        y.rb(),
        h.rb(),
        Conj::No,
        out,
        Par::Seq,
        stack,
    );
}

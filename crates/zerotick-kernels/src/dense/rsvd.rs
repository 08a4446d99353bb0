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

use super::cholqr::{Scratch, cholqr2};
use super::gemm::gemm_unchecked_shapes;
use super::skinny::{
    ColMajor, Panels, mul_into, pack_len, packed_width, tiles_len, tmul_into, unpack_tiles,
    whole_len,
};
use super::{DenseError, clear_upper_vector_state};
use crate::simd::Kernels;

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

    /// `k` is a rank an `m x n` input can have (1 ..= `min(m, n)`).
    fn check_rank(&self, m: usize, n: usize) -> Result<(), DenseError> {
        let (k, max) = (self.k, m.min(n));
        if k == 0 || k > max {
            return Err(DenseError::BadRank { k, max });
        }
        Ok(())
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
        temp_mat_scratch::<f64>(m, l), // q: orthonormal basis of the range
        temp_mat_scratch::<f64>(n, l), // orthonormal basis of A^T Q
        temp_mat_scratch::<f64>(bs_m, l),
        temp_mat_scratch::<f64>(bs_n, l),
        temp_mat_scratch::<f64>(l, 1), // singular values
        temp_mat_scratch::<f64>(n, l), // left singular vectors of B^T
        temp_mat_scratch::<f64>(l, l), // right singular vectors of B^T
        work,
    ])
}

/// The buffers besides faer's scratch: the sketch / `A^T Q` basis and the range basis
/// packed row-major (`n x ld`, `m x ld`), the two product outputs (row-major `x ld` or
/// column-major), the tiles [`mul_into`] writes and its packing buffer, CholeskyQR2's
/// two `l x ld` matrices, and the copy of `A` in [`mul_into`]'s tiles that its three `A X`
/// products share (`A` or `A^T` column-major; unused for other strides).
fn packed_lens(m: usize, n: usize, l: usize) -> [usize; 9] {
    let ld = packed_width(l);
    [
        n * ld,
        m * ld,
        m * ld,
        n * ld,
        tiles_len(m, l).max(tiles_len(n, l)),
        pack_len(m.max(n)),
        l * ld,
        l * ld,
        whole_len(m, n).max(whole_len(n, m)),
    ]
}

/// Whether no `m x n` matrix of `f64` could fit in memory (more than `isize::MAX` bytes):
/// faer's scratch queries overflow on such shapes, so they are refused before asking.
fn impossible_shape(m: usize, n: usize) -> bool {
    m.checked_mul(n)
        .and_then(|e| e.checked_mul(size_of::<f64>()))
        .is_none_or(|b| b > isize::MAX as usize)
}

/// Arena bytes [`rsvd_into`] needs for an `m x n` input; `usize::MAX` for a shape no `f64`
/// matrix could have, which no arena can be built for ([`Arena::try_new`] then returns an
/// error).
///
/// ```
/// use zerotick_kernels::dense::{RsvdParams, rsvd_scratch_bytes};
/// use zerotick_mem::Arena;
///
/// assert!(rsvd_scratch_bytes(2000, 1000, RsvdParams::new(20)) < 64 << 20);
/// let impossible = rsvd_scratch_bytes(1 << 40, 1 << 40, RsvdParams::new(20));
/// assert_eq!(impossible, usize::MAX);
/// assert!(Arena::try_new(impossible).is_err());
/// ```
pub fn rsvd_scratch_bytes(m: usize, n: usize, params: RsvdParams) -> usize {
    if impossible_shape(m, n) {
        return usize::MAX;
    }
    let l = params.width(m, n).max(1);
    let req = stack_req(m, n, l);
    let packed = packed_lens(m, n, l).iter().fold(0usize, |sum, len| {
        sum.saturating_add(len.saturating_mul(size_of::<f64>()).saturating_add(64))
    });
    req.size_bytes()
        .saturating_add(req.align_bytes())
        .saturating_add(packed)
}

/// How the products with `A` run.
#[derive(Clone, Copy)]
enum Products<'a> {
    /// `A` column-major: `A X` by [`mul_into`], `A^T X` by [`tmul_into`].
    Cols(ColMajor<'a>),
    /// `A` row-major, so `A^T` is column-major: `A X = (A^T)^T X` by [`tmul_into`],
    /// `A^T X` by [`mul_into`].
    Rows(ColMajor<'a>),
    /// Other strides: faer's GEMM.
    General(MatRef<'a, f64>),
}

impl<'a> Products<'a> {
    fn new(a: MatRef<'a, f64>) -> Self {
        if let Some(b) = ColMajor::new(a) {
            Products::Cols(b)
        } else if let Some(b) = ColMajor::new(a.transpose()) {
            Products::Rows(b)
        } else {
            Products::General(a)
        }
    }

    /// `A X` (`transpose == false`) or `A^T X`, for `X` packed row-major (`l` columns, row
    /// length `ld`), written into `out` and returned as a view of it.
    #[allow(clippy::too_many_arguments)] // the product, its operand and its four buffers
    fn apply<'o>(
        self,
        k: Kernels,
        transpose: bool,
        x: &[f64],
        l: usize,
        ld: usize,
        out: &'o mut [f64],
        bufs: &mut Scratch<'_>,
        kept: &mut Panels<'_>,
    ) -> MatMut<'o, f64> {
        match (self, transpose) {
            (Products::Cols(b), false) | (Products::Rows(b), true) => {
                mul_into(k, b, x, l, ld, bufs.tiles, kept);
                let rows = b.rows();
                let mut y = MatMut::from_column_major_slice_mut(&mut out[..rows * l], rows, l);
                unpack_tiles(bufs.tiles, l, y.rb_mut());
                y
            }
            (Products::Cols(b), true) | (Products::Rows(b), false) => {
                tmul_into(k, b, x, l, ld, out);
                row_major(out, b.cols(), l, ld)
            }
            (Products::General(a), t) => {
                let a = if t { a.transpose() } else { a };
                let (rows, inner) = a.shape();
                let xv =
                    MatRef::from_column_major_slice_with_stride(&x[..inner * ld], l, inner, ld)
                        .transpose();
                let mut y = MatMut::from_column_major_slice_mut(&mut out[..rows * l], rows, l);
                gemm_unchecked_shapes(y.rb_mut(), a, xv, 1.0, 0.0, Par::Seq);
                y
            }
        }
    }
}

/// `rows x cols` row-major view of `data` with row length `ld`.
fn row_major(data: &mut [f64], rows: usize, cols: usize, ld: usize) -> MatMut<'_, f64> {
    // `from_column_major_slice_with_stride_mut` of the transpose: see `view::mat_mut`.
    MatMut::from_column_major_slice_with_stride_mut(&mut data[..rows * ld], cols, rows, ld)
        .transpose_mut()
}

/// Copies `src` (`rows x l`) into `dst` packed row-major with row length `ld` (the padding is
/// left as it is: zero from the arena).
pub(crate) fn pack(src: MatRef<'_, f64>, dst: &mut [f64], ld: usize) {
    for (c, col) in src.col_iter().enumerate() {
        for (r, v) in col.iter().enumerate() {
            dst[r * ld + c] = *v;
        }
    }
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
    u: MatMut<'_, f64>,
    s: &mut [f64],
    vt: MatMut<'_, f64>,
    arena: &Arena,
) -> Result<(), DenseError> {
    rsvd_into_with(Kernels::active(), a, params, u, s, vt, arena)
}

/// [`rsvd_into`] with the skinny products and CholeskyQR2 on `kernels`' tier instead of the
/// active one. The AVX2 and AVX-512 kernels sum every output in the same order and agree
/// bit for bit; the scalar tier (no fused multiply-adds) differs in the last bits. A caller
/// whose output must not depend on the tier (the pipeline's PCA, whose signals are the same
/// on the AVX2 and AVX-512 tiers) fixes it here.
///
/// # Errors
/// As [`rsvd_into`].
pub fn rsvd_into_with(
    kernels: Kernels,
    a: MatRef<'_, f64>,
    params: RsvdParams,
    mut u: MatMut<'_, f64>,
    s: &mut [f64],
    mut vt: MatMut<'_, f64>,
    arena: &Arena,
) -> Result<(), DenseError> {
    let (m, n) = a.shape();
    let k = params.k;
    params.check_rank(m, n)?;
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
    let ld = packed_width(l);
    let [
        x_len,
        q_len,
        y_len,
        z_len,
        t_len,
        p_len,
        s_len,
        g_len,
        a_len,
    ] = packed_lens(m, n, l);
    let xp = arena.try_alloc_zeroed::<f64>(x_len)?;
    let qp = arena.try_alloc_zeroed::<f64>(q_len)?;
    let ybuf = arena.try_alloc_zeroed::<f64>(y_len)?;
    let zbuf = arena.try_alloc_zeroed::<f64>(z_len)?;
    let tiles = arena.try_alloc_zeroed::<f64>(t_len)?;
    let panel = arena.try_alloc_zeroed::<f64>(p_len)?;
    let small = arena.try_alloc_zeroed::<f64>(s_len)?;
    let gram = arena.try_alloc_zeroed::<f64>(g_len)?;
    // Filled panel by panel by the first `A X` (never read before it is written): not zeroed.
    let mut kept = Panels::whole(arena.try_alloc_uninit::<f64>(a_len)?);
    let mut bufs = Scratch {
        small,
        gram,
        tiles,
        panel,
    };
    let req = stack_req(m, n, l);
    let bytes = arena.try_alloc_bytes(req.size_bytes() + req.align_bytes())?;
    let stack = MemStack::new(bytes);
    let kern = kernels;
    let prod = Products::new(a);

    let (mut q, stack) = temp_mat_zeroed::<f64, _, _>(m, l, stack);
    let mut q = q.as_mat_mut();
    let (mut wn, stack) = temp_mat_zeroed::<f64, _, _>(n, l, stack);
    let mut wn = wn.as_mat_mut();
    let (mut hm, stack) =
        temp_mat_zeroed::<f64, _, _>(recommended_block_size::<f64>(m, l), l, stack);
    let mut hm = hm.as_mat_mut();
    let (mut hn, stack) =
        temp_mat_zeroed::<f64, _, _>(recommended_block_size::<f64>(n, l), l, stack);
    let mut hn = hn.as_mat_mut();
    let (mut sv, mut w, mut zz, stack) = svd_outputs(n, l, stack);
    let (mut sv, mut w, mut zz) = (sv.as_mat_mut(), w.as_mat_mut(), zz.as_mat_mut());

    // The sketch, drawn column by column (the order faer's `Mat::from_fn` uses).
    let mut rng = super::rng::Gaussian::new(params.seed);
    for c in 0..l {
        for j in 0..n {
            xp[j * ld + c] = rng.sample();
        }
    }

    // Range finder: Q = orth(A Omega), then q rounds of Q = orth(A orth(A^T Q)).
    let y = prod.apply(kern, false, xp, l, ld, ybuf, &mut bufs, &mut kept);
    orth(kern, y, hm.rb_mut(), q.rb_mut(), qp, &mut bufs, stack);
    for _ in 0..params.power_iters {
        let z = prod.apply(kern, true, qp, l, ld, zbuf, &mut bufs, &mut kept);
        orth(kern, z, hn.rb_mut(), wn.rb_mut(), xp, &mut bufs, stack);
        let y = prod.apply(kern, false, xp, l, ld, ybuf, &mut bufs, &mut kept);
        orth(kern, y, hm.rb_mut(), q.rb_mut(), qp, &mut bufs, stack);
    }
    // B^T = A^T Q (n x l) = W S Z^T, so A ~= Q B = (Q Z) S W^T.
    let z = prod.apply(kern, true, qp, l, ld, zbuf, &mut bufs, &mut kept);
    svd_then_u(
        z.rb(),
        (sv.rb_mut(), w.rb_mut(), zz.rb_mut()),
        q.rb(),
        u.rb_mut(),
        stack,
    )?;
    for (i, s) in s.iter_mut().enumerate() {
        *s = sv[(i, 0)];
    }
    vt.copy_from(w.rb().get(.., ..k).transpose());
    Ok(())
}

/// The outputs of the small SVD (singular values `l x 1`, left vectors `n x l`, right
/// vectors `l x l`), zeroed, carved from `stack` in that order; and the rest of the stack.
#[allow(clippy::type_complexity)]
fn svd_outputs(
    n: usize,
    l: usize,
    stack: &mut MemStack,
) -> (
    impl AsMatMut<T = f64, Rows = usize, Cols = usize> + '_,
    impl AsMatMut<T = f64, Rows = usize, Cols = usize> + '_,
    impl AsMatMut<T = f64, Rows = usize, Cols = usize> + '_,
    &mut MemStack,
) {
    let (sv, stack) = temp_mat_zeroed::<f64, _, _>(l, 1, stack);
    let (w, stack) = temp_mat_zeroed::<f64, _, _>(n, l, stack);
    let (zz, stack) = temp_mat_zeroed::<f64, _, _>(l, l, stack);
    (sv, w, zz, stack)
}

/// The last step: the thin SVD `z = W S Z^T` of the small `n x l` matrix into
/// `(S, W, Z)` (as [`svd_outputs`] shapes them), then `u = q Z[.., ..k]` (`k` = `u`'s
/// columns), single-threaded, scratch from `stack`.
fn svd_then_u(
    z: MatRef<'_, f64>,
    (mut sv, w, mut zz): (MatMut<'_, f64>, MatMut<'_, f64>, MatMut<'_, f64>),
    q: MatRef<'_, f64>,
    u: MatMut<'_, f64>,
    stack: &mut MemStack,
) -> Result<(), DenseError> {
    let k = u.ncols();
    let sdiag: DiagMut<'_, f64> = sv.rb_mut().col_mut(0).as_diagonal_mut();
    let ok = svd(
        z,
        sdiag,
        Some(w),
        Some(zz.rb_mut()),
        Par::Seq,
        stack,
        Default::default(),
    );
    clear_upper_vector_state();
    ok.map_err(|_| DenseError::NoConvergence)?;
    gemm_unchecked_shapes(u, q, zz.rb().get(.., ..k), 1.0, 0.0, Par::Seq);
    Ok(())
}

/// Runs on the calling thread the faer routines [`rsvd_into_with`] calls for an `m x n`
/// input with these parameters (the SVD of the small `n x l` matrix and the `m x l` by
/// `l x k` product that forms `U`), on made-up data of those shapes, so that faer's
/// per-thread GEMM packing buffers exist, at their sizes and touched, before the first real
/// call: a thread that must not allocate in steady state calls this first. Much cheaper
/// than a whole [`rsvd_into`]: no product with an `m x n` matrix. Scratch comes from
/// `arena` ([`rsvd_scratch_bytes`]`(m, n, params)` bytes are enough) and is left allocated
/// until the arena's next reset.
///
/// ```
/// use zerotick_kernels::dense::{RsvdParams, rsvd_scratch_bytes, rsvd_warm_up};
/// use zerotick_mem::Arena;
///
/// let params = RsvdParams::new(3);
/// let arena = Arena::new(rsvd_scratch_bytes(200, 100, params));
/// rsvd_warm_up(200, 100, params, &arena)?;
/// // A rank the input cannot have, or too little scratch, is an error, not a panic.
/// assert!(rsvd_warm_up(200, 100, RsvdParams::new(101), &arena).is_err());
/// assert!(rsvd_warm_up(200, 100, params, &Arena::new(64)).is_err());
/// assert!(rsvd_warm_up(usize::MAX, 100, params, &arena).is_err());
/// # Ok::<(), zerotick_kernels::dense::DenseError>(())
/// ```
///
/// # Errors
/// [`DenseError::BadRank`] for `k` of 0 or above `min(m, n)`; [`DenseError::Arena`] if the
/// arena is too small, or if no `m x n` matrix of `f64` could fit in memory.
pub fn rsvd_warm_up(
    m: usize,
    n: usize,
    params: RsvdParams,
    arena: &Arena,
) -> Result<(), DenseError> {
    let k = params.k;
    params.check_rank(m, n)?;
    if impossible_shape(m, n) {
        return Err(zerotick_mem::ArenaError::SizeOverflow.into());
    }
    let l = params.width(m, n);
    let ld = packed_width(l);
    let req = stack_req(m, n, l);
    // The small matrix comes out of a product row-major (stride `ld`) or column-major
    // (which, depends on `A`'s layout), and callers keep `U` either way: both of each, so
    // the buffers are sized for whichever a real call meets.
    let zbuf = arena.try_alloc_zeroed::<f64>(n * ld)?;
    let ubuf = arena.try_alloc_zeroed::<f64>(m * k)?;
    let qbuf = arena.try_alloc_zeroed::<f64>(m * l)?;
    let mut q = MatMut::from_column_major_slice_mut(qbuf, m, l);
    let bytes = arena.try_alloc_bytes(req.size_bytes() + req.align_bytes())?;
    let stack = MemStack::new(bytes);
    // The SVD's outputs; the rest of the stack is its scratch, as in `rsvd_into_with`.
    let (mut sv, mut w, mut zz, stack) = svd_outputs(n, l, stack);
    let (mut sv, mut w, mut zz) = (sv.as_mat_mut(), w.as_mat_mut(), zz.as_mat_mut());
    // Gaussian entries: full rank, so the SVD takes its usual path.
    let mut rng = super::rng::Gaussian::new(0x9e37_79b9_7f4a_7c15);
    for c in 0..l {
        for i in 0..m {
            q[(i, c)] = rng.sample();
        }
    }
    for v in zbuf.iter_mut() {
        *v = rng.sample();
    }
    for rows_major in [false, true] {
        let z = if rows_major {
            row_major(zbuf, n, l, ld)
        } else {
            MatMut::from_column_major_slice_mut(&mut zbuf[..n * l], n, l)
        };
        let u = if rows_major {
            MatMut::from_row_major_slice_mut(&mut ubuf[..], m, k)
        } else {
            MatMut::from_column_major_slice_mut(&mut ubuf[..], m, k)
        };
        svd_then_u(
            z.rb(),
            (sv.rb_mut(), w.rb_mut(), zz.rb_mut()),
            q.rb(),
            u,
            stack,
        )?;
    }
    Ok(())
}

/// Orthonormal basis of the columns of `y` into `out` (column-major) and `packed`
/// (row-major, row length `packed_width(l)`): CholeskyQR2 when `y` is well enough conditioned
/// for it, else Householder QR (`y` is then overwritten).
fn orth(
    kern: Kernels,
    y: MatMut<'_, f64>,
    h: MatMut<'_, f64>,
    mut out: MatMut<'_, f64>,
    packed: &mut [f64],
    scratch: &mut Scratch<'_>,
    stack: &mut MemStack,
) {
    if !cholqr2(kern, y.rb(), out.rb_mut(), packed, scratch) {
        orthonormalize(y, h, out.rb_mut(), stack);
        pack(out.rb(), packed, packed_width(out.ncols()));
    }
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
    // faer's GEMM kernels (inside the QR) leave the upper vector halves dirty; the packing
    // loops that follow are baseline (SSE) code.
    clear_upper_vector_state();
}

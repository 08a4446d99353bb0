//! SpGEMM `C = A * B` (both CSR), Gustavson's row-by-row algorithm in two phases: a symbolic
//! phase that builds the exact output structure once ([`SpgemmPlan::try_new`], allocates), and
//! a numeric phase that fills the values into the plan's buffers
//! ([`SpgemmPlan::numeric`], allocates nothing), for repeated products of the same structure.

use super::csr::Csr;
use super::error::{SparseError, check_dim};
use super::spmv::prefetch;
use crate::simd::{madd, multiversion};

/// Entries of `A` ahead of the current one whose `B` row is prefetched; the row pointers of
/// the entry twice as far ahead are prefetched too. Uniformly scattered products are bound
/// by the latency of these random row fetches (profiled with perf: 2/3 of the numeric time
/// sat on the loads of `B.indptr` and `B.indices` before prefetching; with it the numeric
/// phase of the 100k x 100k, 1M-nonzero A*A runs 2x faster). SpMV does not prefetch: there
/// it measured 1.6x slower (the `x` gathers already saturate the outstanding-miss slots).
const PREFETCH_AHEAD: usize = 8;

/// Prefetches for the `A` entry at `p`: `B.indptr` of entry `p + 2D`, the start of the `B`
/// row of entry `p + D` (columns and values).
#[inline(always)]
fn prefetch_b_rows(ai: &[u32], bp: &[usize], bi: &[u32], bv: Option<&[f64]>, p: usize) {
    if let Some(&far) = ai.get(p + 2 * PREFETCH_AHEAD) {
        prefetch(bp.as_ptr().wrapping_add(far as usize));
    }
    if let Some(&near) = ai.get(p + PREFETCH_AHEAD) {
        let s = bp[near as usize];
        prefetch(bi.as_ptr().wrapping_add(s));
        if let Some(bv) = bv {
            prefetch(bv.as_ptr().wrapping_add(s));
            prefetch(bv.as_ptr().wrapping_add(s + 8));
        }
    }
}

/// The structure of `A * B` for one pair of sparsity patterns, with room for its values.
///
/// ```
/// use zerotick_kernels::{Kernels, sparse::{Csr, SpgemmPlan}};
///
/// let a = Csr::try_from_triplets(2, 2, &[(0, 0, 1.0), (0, 1, 2.0), (1, 1, 3.0)])?;
/// let mut plan = SpgemmPlan::try_new(&a, &a)?; // symbolic: allocates the output structure
/// plan.numeric(&Kernels::active(), &a, &a)?; // numeric: allocation-free, repeatable
/// assert_eq!(plan.indices(), &[0, 1, 1]);
/// assert_eq!(plan.values(), &[1.0, 8.0, 9.0]);
/// let c: Csr = plan.into_csr();
/// assert_eq!(c.nnz(), 3);
/// # Ok::<(), zerotick_kernels::sparse::SparseError>(())
/// ```
#[derive(Debug, Clone)]
pub struct SpgemmPlan {
    /// `(A.rows, A.cols == B.rows, B.cols, A.nnz, B.nnz)` the plan was built for.
    shape: [usize; 5],
    /// Output row pointers. Invariant: a valid CSR `indptr` for `rows x b_cols` and `indices`.
    indptr: Vec<usize>,
    /// Output columns, sorted within each row. Invariant: every entry `< b_cols`.
    indices: Vec<u32>,
    /// Output values, `indices.len()` of them.
    values: Vec<f64>,
    /// Dense accumulator of `b_cols` slots, `((row + 1) << 32) | slot_in_row` for the output
    /// columns of the row in progress. Invariant: a slot stamped `row + 1` always holds that
    /// row's slot for the column, since stamps are only ever written from this plan's own
    /// `indices` (stale stamps from an earlier `numeric` call name the same slots).
    marks: Vec<u64>,
}

/// Predicted size of `A * B`: multiply-adds and an upper bound on the output entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpgemmWork {
    /// Scalar products `a_ik * b_kj` Gustavson performs (`sum over A's entries of the length
    /// of the B row they select`), exact.
    pub products: usize,
}

/// Counts the products of `A * B` exactly (O(A.nnz)).
pub(crate) fn count_products(a: &Csr, b: &Csr) -> usize {
    let bp = b.indptr();
    a.indices()
        .iter()
        .map(|&k| bp[k as usize + 1] - bp[k as usize])
        .sum()
}

impl SpgemmPlan {
    /// The symbolic phase: the exact structure of `A * B` (rows sorted), with zeroed values.
    /// Allocates the output (sized exactly) and a `B.cols`-slot accumulator.
    ///
    /// # Errors
    /// [`DimensionMismatch`](SparseError::DimensionMismatch) if `A.cols != B.rows`.
    pub fn try_new(a: &Csr, b: &Csr) -> Result<Self, SparseError> {
        check_dim("a.cols vs b.rows", a.cols(), b.rows())?;
        let (rows, n) = (a.rows(), b.cols());
        let mut marks = vec![0u64; n];
        let mut indptr = Vec::with_capacity(rows + 1);
        indptr.push(0);
        let mut indices: Vec<u32> = Vec::with_capacity(a.nnz().max(b.nnz()));
        let (bp, bi) = (b.indptr(), b.indices());
        let (ap, ai) = (a.indptr(), a.indices());
        for r in 0..rows {
            let stamp = r as u64 + 1;
            let start = indices.len();
            for p in ap[r]..ap[r + 1] {
                prefetch_b_rows(ai, bp, bi, None, p);
                let k = ai[p] as usize;
                for &j in &bi[bp[k]..bp[k + 1]] {
                    let m = &mut marks[j as usize];
                    if *m != stamp {
                        *m = stamp;
                        indices.push(j);
                    }
                }
            }
            let row = &mut indices[start..];
            if row.len() > 1 {
                row.sort_unstable();
            }
            indptr.push(indices.len());
        }
        indices.shrink_to_fit();
        let values = vec![0.0; indices.len()];
        // The numeric phase stamps `(row + 1) << 32`; clear the symbolic stamps so none can
        // be mistaken for one (they are `<= u32::MAX`, below every numeric stamp anyway).
        marks.fill(0);
        Ok(Self {
            shape: [rows, a.cols(), n, a.nnz(), b.nnz()],
            indptr,
            indices,
            values,
            marks,
        })
    }

    /// The numeric phase: `values = A * B` into the plan's buffers. Allocates nothing.
    ///
    /// `A` and `B` must have the plan's shapes and entry counts, and their product must have
    /// no stored entry outside the plan's structure (any values with the patterns the plan
    /// was built from qualify). NaN and infinities are data.
    ///
    /// # Errors
    /// [`PlanMismatch`](SparseError::PlanMismatch): with `row == usize::MAX` (nothing written)
    /// if the shapes or entry counts differ; with the row where a product fell outside the
    /// structure otherwise (values are then unspecified until the next successful call).
    pub fn numeric(&mut self, k: &crate::Kernels, a: &Csr, b: &Csr) -> Result<(), SparseError> {
        if self.shape != [a.rows(), a.cols(), b.cols(), a.nnz(), b.nnz()] || b.rows() != a.cols() {
            return Err(SparseError::PlanMismatch { row: usize::MAX });
        }
        match numeric_v(
            *k,
            a,
            b,
            &self.indptr,
            &self.indices,
            &mut self.values,
            &mut self.marks,
        ) {
            usize::MAX => Ok(()),
            row => Err(SparseError::PlanMismatch { row }),
        }
    }

    /// Rows of the product.
    pub fn rows(&self) -> usize {
        self.shape[0]
    }

    /// Columns of the product.
    pub fn cols(&self) -> usize {
        self.shape[2]
    }

    /// Stored entries of the product.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// Row pointers of the product.
    pub fn indptr(&self) -> &[usize] {
        &self.indptr
    }

    /// Column indices of the product, sorted within each row.
    pub fn indices(&self) -> &[u32] {
        &self.indices
    }

    /// Values of the product (zeros until [`numeric`](Self::numeric) has run).
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// The product as a [`Csr`] (the plan's buffers move; the accumulator is freed).
    pub fn into_csr(self) -> Csr {
        // SAFETY: `indptr` and `indices` are private, written only by `try_new` (the symbolic
        // phase: rows `0..A.rows`, each row's columns collected from B's rows, so `< B.cols`,
        // deduplicated by the stamps and sorted, `indptr` the running lengths from 0) and
        // never changed after; `values` has `indices.len()` entries (made so by `try_new`,
        // only written in place by `numeric`); `shape[0] = A.rows` and `shape[2] = B.cols`
        // are each `< u32::MAX` (checked when A and B were built), so their product fits a
        // 64-bit `usize` (the crate's unchecked loads depend only on columns `< cols`).
        unsafe {
            Csr::from_parts_trusted(
                self.shape[0],
                self.shape[2],
                self.indptr,
                self.indices,
                self.values,
            )
        }
    }

    /// A copy of the product as a [`Csr`] (allocates; the plan stays reusable).
    pub fn to_csr(&self) -> Csr {
        self.clone().into_csr()
    }
}

multiversion! {
    fn numeric_v(
        a: &Csr,
        b: &Csr,
        indptr: &[usize],
        indices: &[u32],
        values: &mut [f64],
        marks: &mut [u64],
    ) -> usize {
        numeric_body::<FMA>(a, b, indptr, indices, values, marks)
    }
}

/// Gustavson's numeric phase; returns `usize::MAX` on success, else the first row with a
/// product outside the structure. Shapes are checked by the caller; every index is bounds
/// checked here (the checks are predictable branches).
#[inline(always)]
fn numeric_body<const FMA: bool>(
    a: &Csr,
    b: &Csr,
    indptr: &[usize],
    indices: &[u32],
    values: &mut [f64],
    marks: &mut [u64],
) -> usize {
    let (bp, bi, bv) = (b.indptr(), b.indices(), b.values());
    let (ap, ai, av) = (a.indptr(), a.indices(), a.values());
    for (r, w) in indptr.windows(2).enumerate() {
        let (start, end) = (w[0], w[1]);
        let stamp = (r as u64 + 1) << 32;
        for (slot, &j) in indices[start..end].iter().enumerate() {
            marks[j as usize] = stamp | slot as u64;
        }
        let out = &mut values[start..end];
        out.fill(0.0);
        for p in ap[r]..ap[r + 1] {
            prefetch_b_rows(ai, bp, bi, Some(bv), p);
            let (k, x) = (ai[p] as usize, av[p]);
            let (s, e) = (bp[k], bp[k + 1]);
            for (&j, &y) in bi[s..e].iter().zip(&bv[s..e]) {
                let m = marks[j as usize];
                if m >> 32 != r as u64 + 1 {
                    return r;
                }
                let o = &mut out[(m & 0xffff_ffff) as usize];
                *o = madd::<FMA>(x, y, *o);
            }
        }
    }
    usize::MAX
}

impl Csr {
    /// `A * B` in one call: [`SpgemmPlan::try_new`] then [`SpgemmPlan::numeric`] (allocates
    /// the result). Keep the plan instead when the product is repeated with the same
    /// structure.
    ///
    /// # Errors
    /// [`DimensionMismatch`](SparseError::DimensionMismatch) if `A.cols != B.rows`.
    pub fn try_matmul(&self, k: &crate::Kernels, b: &Csr) -> Result<Csr, SparseError> {
        let mut plan = SpgemmPlan::try_new(self, b)?;
        plan.numeric(k, self, b)?;
        Ok(plan.into_csr())
    }

    /// Exact count of scalar products in `self * b` (what SpGEMM's cost scales with).
    ///
    /// # Errors
    /// [`DimensionMismatch`](SparseError::DimensionMismatch) if `A.cols != B.rows`.
    pub fn spgemm_work(&self, b: &Csr) -> Result<SpgemmWork, SparseError> {
        check_dim("a.cols vs b.rows", self.cols(), b.rows())?;
        Ok(SpgemmWork {
            products: count_products(self, b),
        })
    }
}

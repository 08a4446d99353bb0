//! SpGEMM `C = A * B` (both CSR), Gustavson's row-by-row algorithm: in one pass
//! ([`Csr::try_matmul`]: structure and values together), or in two phases for repeated
//! products of the same structure: a symbolic phase that builds the exact output structure
//! once ([`SpgemmPlan::try_new`], allocates), and a numeric phase that fills the values into
//! the plan's buffers ([`SpgemmPlan::numeric`], allocates nothing). The row kernels of the
//! one-pass product and of the symbolic phase are in `gustavson`.

use super::csr::Csr;
use super::error::{SparseError, check_dim};
use super::gustavson::{self, prefetch_b_rows};
use crate::simd::{madd, multiversion};

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
    /// Allocates the output and a `B.cols`-slot accumulator for the numeric phase (and,
    /// while it runs, a bitset of `B.cols` bits).
    ///
    /// # Errors
    /// [`DimensionMismatch`](SparseError::DimensionMismatch) if `A.cols != B.rows`.
    pub fn try_new(a: &Csr, b: &Csr) -> Result<Self, SparseError> {
        check_dim("a.cols vs b.rows", a.cols(), b.rows())?;
        let (indptr, indices) = gustavson::structure(crate::Kernels::active().tier(), a, b);
        let mut values = vec![0.0; indices.len()];
        // Fresh zero pages from the allocator (not yet touched): the numeric phase's first
        // writes then map 2 MiB pages where the kernel allows.
        zerotick_mem::advise_huge_pages(&mut values);
        Ok(Self {
            shape: [a.rows(), a.cols(), b.cols(), a.nnz(), b.nnz()],
            indptr,
            indices,
            values,
            marks: vec![0; b.cols()],
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
        // each once per row (the bitset) in increasing order (`gustavson::structure`),
        // `indptr` the running lengths from 0) and
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
    /// `A * B` in one call: structure and values in a single pass over the rows (allocates
    /// the result). The values are the same bits as [`SpgemmPlan::try_new`] followed by
    /// [`SpgemmPlan::numeric`] on the same tier; keep a plan instead when the product is
    /// repeated with the same structure.
    ///
    /// # Errors
    /// [`DimensionMismatch`](SparseError::DimensionMismatch) if `A.cols != B.rows`.
    pub fn try_matmul(&self, k: &crate::Kernels, b: &Csr) -> Result<Csr, SparseError> {
        check_dim("a.cols vs b.rows", self.cols(), b.rows())?;
        let (indptr, indices, values) = gustavson::product(k.tier(), self, b);
        // SAFETY: `gustavson::product` builds a valid CSR for `self.rows x b.cols`: `indptr`
        // the running row lengths from 0 (one push per row of `self`), columns taken from
        // B's rows (`< b.cols`), each once per row (the bitset) in increasing order (the
        // emit step), one value per column; `self.rows` and `b.cols` are within
        // `check_shape` (they are sides of valid `Csr`s).
        Ok(unsafe { Csr::from_parts_trusted(self.rows(), b.cols(), indptr, indices, values) })
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

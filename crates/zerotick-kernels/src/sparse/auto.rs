//! Automatic sparse-or-dense choice: a cost model calibrated on the running machine.
//!
//! [`CostModel::calibrate`] times small SpMV, SpMM, SpGEMM and dense kernels (about 50 ms
//! in all); [`CostModel::cached`] does it once per process. Each `choose_*` predicts the time
//! of both paths from the shapes and entry counts (measured density, exact or predicted
//! SpGEMM work) and returns a [`Decision`] holding both estimates and why one won.

use core::fmt;
use std::sync::OnceLock;
use std::time::Instant;

use super::csr::{Csr, density};
use super::error::{SparseError, check_dim};
use super::spgemm::{SpgemmPlan, count_products};
use crate::Kernels;

/// Nanoseconds per unit of work of each kernel on this machine.
///
/// Build one with [`calibrate`](Self::calibrate) (or [`cached`](Self::cached)), or fill the
/// fields yourself for reproducible decisions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostModel {
    /// SpMV: ns per stored entry (load, gather of `x`, multiply-add).
    pub spmv_ns_per_nnz: f64,
    /// SpMV: ns per row (row pointers, the write of `y`).
    pub spmv_ns_per_row: f64,
    /// Dense matrix-vector product: ns per multiply-add.
    pub dense_matvec_ns_per_madd: f64,
    /// SpMM (sparse x dense): ns per multiply-add (one contiguous axpy per stored entry).
    pub spmm_ns_per_madd: f64,
    /// Dense matrix-matrix product: ns per multiply-add. Calibrated on a row-axpy GEMM over
    /// this crate's kernels; a blocked GEMM is faster, so lower it if you use one.
    pub dense_gemm_ns_per_madd: f64,
    /// SpGEMM (symbolic + numeric phases): ns per scalar product `a_ik * b_kj`.
    pub spgemm_ns_per_product: f64,
}

/// Which implementation to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Path {
    /// Dense kernels on the dense matrix.
    Dense,
    /// CSR kernels.
    Sparse,
}

/// The operation a [`Decision`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Matrix times vector.
    MatVec,
    /// Matrix times a dense matrix of `n` columns.
    MatMul {
        /// Columns of the dense right-hand side.
        n: usize,
    },
    /// Sparse times sparse.
    SpGemm,
}

/// A sparse-or-dense choice with the estimates it was made from. `Display` gives the reason
/// as a sentence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    /// The cheaper path.
    pub path: Path,
    /// The operation.
    pub operation: Operation,
    /// Stored entries over cells of the (left) sparse operand.
    pub density: f64,
    /// SpGEMM only: predicted density of the product (uniformly scattered columns assumed).
    pub predicted_output_density: Option<f64>,
    /// Estimated time of one call on the dense path.
    pub dense_ns: f64,
    /// Estimated time of one call on the sparse path.
    pub sparse_ns: f64,
    /// Density of the operand at which both estimates are equal for these shapes (sparse
    /// wins below it); infinite when sparse always wins.
    pub crossover_density: f64,
}

impl Decision {
    /// `dense_ns / sparse_ns`: above 1 the sparse path is predicted faster by that factor.
    pub fn sparse_speedup(&self) -> f64 {
        self.dense_ns / self.sparse_ns
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (path, cmp) = match self.path {
            Path::Sparse => ("sparse", "below"),
            Path::Dense => ("dense", "at or above"),
        };
        write!(
            f,
            "{path}: density {:.3e} is {cmp} the crossover {:.3e}; estimated {:.0} ns sparse vs {:.0} ns dense",
            self.density, self.crossover_density, self.sparse_ns, self.dense_ns
        )?;
        if let Some(d) = self.predicted_output_density {
            write!(f, " (predicted product density {d:.3e})")?;
        }
        Ok(())
    }
}

/// Builds the decision from per-operation costs linear in density:
/// `sparse(d) = fixed + d * per_density`, constant `dense`.
fn decide(
    operation: Operation,
    d: f64,
    out: Option<f64>,
    dense_ns: f64,
    fixed: f64,
    per_density: f64,
) -> Decision {
    let sparse_ns = fixed + d * per_density;
    let crossover_density = if per_density > 0.0 {
        ((dense_ns - fixed) / per_density).max(0.0)
    } else {
        f64::INFINITY
    };
    Decision {
        path: if sparse_ns < dense_ns {
            Path::Sparse
        } else {
            Path::Dense
        },
        operation,
        density: d,
        predicted_output_density: out,
        dense_ns,
        sparse_ns,
        crossover_density,
    }
}

fn cells(rows: usize, cols: usize) -> f64 {
    rows as f64 * cols as f64
}

impl CostModel {
    /// Matrix-vector product with a `rows x cols` matrix holding `nnz` nonzeros.
    pub fn choose_matvec(&self, rows: usize, cols: usize, nnz: usize) -> Decision {
        let c = cells(rows, cols);
        let d = if c > 0.0 { nnz as f64 / c } else { 0.0 };
        decide(
            Operation::MatVec,
            d,
            None,
            c * self.dense_matvec_ns_per_madd,
            rows as f64 * self.spmv_ns_per_row,
            c * self.spmv_ns_per_nnz,
        )
    }

    /// As [`choose_matvec`](Self::choose_matvec), measuring the density of a row-major dense
    /// matrix (one pass, no allocation). The one-off conversion to CSR is not counted: the
    /// choice is for repeated products.
    ///
    /// ```
    /// use zerotick_kernels::sparse::{CostModel, Path};
    ///
    /// let model = CostModel::cached(); // calibrated once per process
    /// let mut identity = vec![0.0; 300 * 300];
    /// for i in 0..300 { identity[i * 300 + i] = 1.0; }
    /// let d = model.choose_matvec_dense(&identity, 300, 300)?;
    /// assert_eq!(d.path, Path::Sparse);
    /// println!("{d}"); // the reason, with both estimates
    /// # Ok::<(), zerotick_kernels::sparse::SparseError>(())
    /// ```
    ///
    /// # Errors
    /// [`DimensionMismatch`](SparseError::DimensionMismatch) if `dense.len() != rows * cols`.
    pub fn choose_matvec_dense(
        &self,
        dense: &[f64],
        rows: usize,
        cols: usize,
    ) -> Result<Decision, SparseError> {
        check_dim("dense", rows.saturating_mul(cols), dense.len())?;
        let nnz = (density(dense) * dense.len() as f64).round() as usize;
        Ok(self.choose_matvec(rows, cols, nnz))
    }

    /// Product of a `rows x inner` matrix holding `nnz` nonzeros with a dense `inner x n`.
    pub fn choose_matmul(&self, rows: usize, inner: usize, nnz: usize, n: usize) -> Decision {
        let c = cells(rows, inner);
        let d = if c > 0.0 { nnz as f64 / c } else { 0.0 };
        decide(
            Operation::MatMul { n },
            d,
            None,
            c * n as f64 * self.dense_gemm_ns_per_madd,
            rows as f64 * self.spmv_ns_per_row,
            c * n as f64 * self.spmm_ns_per_madd,
        )
    }

    /// As [`choose_matmul`](Self::choose_matmul), measuring the density of a row-major dense
    /// `rows x inner` left operand.
    ///
    /// # Errors
    /// [`DimensionMismatch`](SparseError::DimensionMismatch) if `dense.len() != rows * inner`.
    pub fn choose_matmul_dense(
        &self,
        dense: &[f64],
        rows: usize,
        inner: usize,
        n: usize,
    ) -> Result<Decision, SparseError> {
        check_dim("dense", rows.saturating_mul(inner), dense.len())?;
        let nnz = (density(dense) * dense.len() as f64).round() as usize;
        Ok(self.choose_matmul(rows, inner, nnz, n))
    }

    /// `A * B` for `rows x inner` and `inner x cols` operands known only by their entry counts
    /// (columns assumed uniformly scattered: `products = nnz_a * nnz_b / inner`).
    pub fn choose_spgemm_shapes(
        &self,
        rows: usize,
        inner: usize,
        cols: usize,
        nnz_a: usize,
        nnz_b: usize,
    ) -> Decision {
        let products = if inner == 0 {
            0.0
        } else {
            nnz_a as f64 * nnz_b as f64 / inner as f64
        };
        self.spgemm_decision(rows, inner, cols, nnz_a, products)
    }

    /// `A * B` for two CSR operands, from the exact product count (O(A.nnz)).
    ///
    /// # Errors
    /// [`DimensionMismatch`](SparseError::DimensionMismatch) if `A.cols != B.rows`.
    pub fn choose_spgemm(&self, a: &Csr, b: &Csr) -> Result<Decision, SparseError> {
        check_dim("a.cols vs b.rows", a.cols(), b.rows())?;
        let products = count_products(a, b) as f64;
        Ok(self.spgemm_decision(a.rows(), a.cols(), b.cols(), a.nnz(), products))
    }

    fn spgemm_decision(
        &self,
        rows: usize,
        inner: usize,
        cols: usize,
        nnz_a: usize,
        products: f64,
    ) -> Decision {
        let c = cells(rows, inner);
        let d = if c > 0.0 { nnz_a as f64 / c } else { 0.0 };
        // Predicted fill: `p` products per row land on `cols` columns uniformly.
        let out = if rows == 0 || cols == 0 {
            0.0
        } else {
            let p = products / rows as f64;
            1.0 - (1.0 - 1.0 / cols as f64).powf(p)
        };
        // Sparse cost is linear in products, which is linear in A's density for a fixed B.
        let per_density = if d > 0.0 {
            products * self.spgemm_ns_per_product / d
        } else {
            0.0
        };
        decide(
            Operation::SpGemm,
            d,
            Some(out),
            c * cols as f64 * self.dense_gemm_ns_per_madd,
            rows as f64 * self.spmv_ns_per_row,
            per_density,
        )
    }

    /// Measures this machine on `k`'s tier: SpMV on two random 4,096-row matrices (2 and 32
    /// entries per row, fitted to per-row and per-entry costs), a dense 512 x 512 matvec, an
    /// SpMM with 32 right-hand columns, a row-axpy dense GEMM of 128^3, and an SpGEMM of a
    /// random 4,096 x 4,096 matrix with itself. Best of 5 runs each; about 50 ms.
    pub fn calibrate(k: &Kernels) -> CostModel {
        let n = 4096;
        let thin = random_csr(n, n, 2, 1);
        let thick = random_csr(n, n, 32, 2);
        let x: Vec<f64> = (0..n).map(|i| (i % 7) as f64 * 0.25).collect();
        let mut y = vec![0.0; n];
        let mut spmv = |a: &Csr| {
            best_ns(5, || {
                if a.spmv_into(k, 1.0, &x, 0.0, &mut y).is_err() {
                    unreachable!("shapes match");
                }
                std::hint::black_box(&mut y);
            })
        };
        let (t1, t2) = (spmv(&thin), spmv(&thick));
        let per_nnz = ((t2 - t1) / (thick.nnz() - thin.nnz()) as f64).max(1e-3);
        let per_row = ((t1 - per_nnz * thin.nnz() as f64) / n as f64).max(0.0);

        let m = 512;
        let dense: Vec<f64> = (0..m * m).map(|i| (i % 13) as f64 - 6.0).collect();
        let v: Vec<f64> = (0..m).map(|i| i as f64 * 0.5).collect();
        let mut out = vec![0.0; m];
        let t = best_ns(5, || {
            for (o, row) in out.iter_mut().zip(dense.chunks_exact(m)) {
                *o = k.dot(row, &v).unwrap_or(f64::NAN);
            }
            std::hint::black_box(&mut out);
        });
        let dense_matvec = t / (m * m) as f64;

        let (r, nb) = (1024, 32);
        let a = random_csr(r, r, 8, 3);
        let b: Vec<f64> = (0..r * nb).map(|i| (i % 5) as f64).collect();
        let mut c = vec![0.0; r * nb];
        let t = best_ns(5, || {
            if a.spmm_into(k, 1.0, &b, nb, 0.0, &mut c).is_err() {
                unreachable!("shapes match");
            }
            std::hint::black_box(&mut c);
        });
        let spmm = t / (a.nnz() * nb) as f64;

        let g = 128;
        let ga: Vec<f64> = (0..g * g).map(|i| (i % 11) as f64).collect();
        let mut gc = vec![0.0; g * g];
        let t = best_ns(5, || {
            gc.fill(0.0);
            for (crow, arow) in gc.chunks_exact_mut(g).zip(ga.chunks_exact(g)) {
                for (kk, &av) in arow.iter().enumerate() {
                    let _ = k.axpy(crow, av, &ga[kk * g..kk * g + g]);
                }
            }
            std::hint::black_box(&mut gc);
        });
        let dense_gemm = t / (g * g * g) as f64;

        let s = random_csr(n, n, 8, 4);
        let products = count_products(&s, &s) as f64;
        let t = best_ns(5, || {
            let Ok(mut plan) = SpgemmPlan::try_new(&s, &s) else {
                unreachable!("square")
            };
            let _ = plan.numeric(k, &s, &s);
            std::hint::black_box(&plan);
        });
        CostModel {
            spmv_ns_per_nnz: per_nnz,
            spmv_ns_per_row: per_row,
            dense_matvec_ns_per_madd: dense_matvec,
            spmm_ns_per_madd: spmm,
            dense_gemm_ns_per_madd: dense_gemm,
            spgemm_ns_per_product: t / products,
        }
    }

    /// The model calibrated on [`Kernels::active`] the first time this is called in the
    /// process (about 50 ms), then the same value.
    pub fn cached() -> &'static CostModel {
        static MODEL: OnceLock<CostModel> = OnceLock::new();
        MODEL.get_or_init(|| CostModel::calibrate(&Kernels::active()))
    }

    /// Density of a `rows x cols` operand at which SpMV and a dense matvec cost the same.
    pub fn matvec_crossover_density(&self, rows: usize, cols: usize) -> f64 {
        self.choose_matvec(rows, cols, 0).crossover_density
    }
}

/// Minimum over `reps` runs of `f`, in ns.
fn best_ns(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_nanos() as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// A `rows x cols` matrix with `per_row` uniformly random columns per row (duplicates
/// summed), values in [-1, 1); deterministic per `seed`.
pub(crate) fn random_csr(rows: usize, cols: usize, per_row: usize, seed: u64) -> Csr {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move || {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        s.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut t = Vec::with_capacity(rows * per_row);
    for r in 0..rows {
        for _ in 0..per_row {
            let c = (next() % cols.max(1) as u64) as usize;
            let v = (next() >> 11) as f64 / (1u64 << 52) as f64 - 1.0;
            t.push((r, c, v));
        }
    }
    match Csr::try_from_triplets(rows, cols.max(1), &t) {
        Ok(m) => m,
        Err(_) => unreachable!("indices generated in range"),
    }
}

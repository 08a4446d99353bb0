//! Sparse matrices: [`Csr`] built from triplets, dense data or raw arrays (validated), SpMV
//! and sparse x dense products into caller buffers, sparse x sparse products in one pass
//! ([`Csr::try_matmul`]) or in two phases ([`SpgemmPlan`]: symbolic once, numeric
//! allocation-free), and a [`CostModel`] calibrated on
//! the running machine that picks the sparse or dense path from measured density.
//!
//! **Promise.** SpMV, SpMM and SpGEMM's numeric phase allocate nothing, lock nothing and do not
//! panic on data (NaN and infinities are data); bad shapes and malformed structures are a
//! [`SparseError`] decided before anything is written. Construction, transposition,
//! `try_matmul` and SpGEMM's symbolic phase allocate (what they return, and a bitset of
//! `B.cols` bits while they run).
//!
//! ```
//! use zerotick_kernels::Kernels;
//! use zerotick_kernels::sparse::{Csr, CostModel, Path, SpgemmPlan};
//!
//! let k = Kernels::active();
//! // 3 x 3 with a duplicate (summed) and an unsorted row.
//! let a = Csr::try_from_triplets(3, 3, &[(0, 2, 1.0), (0, 0, 2.0), (2, 1, 3.0), (2, 1, 1.0)])?;
//! let mut y = [0.0; 3];
//! a.spmv_into(&k, 1.0, &[1.0, 2.0, 3.0], 0.0, &mut y)?;
//! assert_eq!(y, [5.0, 0.0, 8.0]);
//!
//! let mut plan = SpgemmPlan::try_new(&a, &a)?; // structure of A*A, once
//! for _ in 0..3 {
//!     plan.numeric(&k, &a, &a)?; // values only: no allocation
//! }
//! // A*A: row 0 = 2 * (row 0) + 1 * (row 2) = [4, 4, 2]; rows 1 and 2 are empty.
//! assert_eq!((plan.indptr(), plan.indices()), (&[0, 3, 3, 3][..], &[0, 1, 2][..]));
//! assert_eq!(plan.values(), &[4.0, 4.0, 2.0]);
//!
//! let decision = CostModel::cached().choose_matvec(10_000, 10_000, 50_000);
//! assert_eq!(decision.path, Path::Sparse);
//! # Ok::<(), zerotick_kernels::sparse::SparseError>(())
//! ```

mod auto;
mod csr;
mod error;
mod gustavson;
mod spgemm;
mod spmv;
#[cfg(target_arch = "x86_64")]
mod spmv_x86;

pub use auto::{CostModel, Decision, Operation, Path};
pub use csr::{Csr, density};
pub use error::SparseError;
pub use spgemm::{SpgemmPlan, SpgemmWork};

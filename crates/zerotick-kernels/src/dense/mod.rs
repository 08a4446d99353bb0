//! Dense linear algebra on faer, allocation-free in steady state: GEMM into caller buffers,
//! Strassen-Winograd with a measured crossover, randomized SVD.
//!
//! * Inputs and outputs are faer views (`MatRef`/`MatMut`): any strides, no copies. Build them
//!   from slices with [`mat_ref`]/[`mat_mut`] or from pooled [`Matrix`](zerotick_mem::Matrix)
//!   with [`matrix_ref`]/[`matrix_mut`].
//! * Shapes are checked before anything is written: a mismatch is a [`DenseError`], never a
//!   panic.
//! * Scratch comes from a [`zerotick_mem::Arena`] sized by the `*_scratch_bytes` functions.
//! * Everything runs on the calling thread (`Par::Seq`); [`gemm_par_into`] is the opt-in for
//!   another faer parallelism.
//! * faer keeps a per-thread packing buffer, allocated by the first product on each thread
//!   (measured: +4 MiB virtual, about +1.2 MiB resident on the AVX2 EPYC VM): call
//!   [`warm_up_thread`] once on each worker thread before the hot path.
//!
//! ```
//! use zerotick_kernels::dense::{
//!     Crossover, GemmPath, gemm_auto, mat_mut, mat_ref, strassen_scratch_bytes,
//! };
//! use zerotick_mem::Arena;
//!
//! let (m, k, n) = (64, 48, 32);
//! let a: Vec<f64> = (0..m * k).map(|i| (i % 7) as f64).collect();
//! let b: Vec<f64> = (0..k * n).map(|i| (i % 5) as f64).collect();
//! let mut c = vec![0.0; m * n];
//! let x = Crossover::new(32);
//! let arena = Arena::new(strassen_scratch_bytes(m, k, n, x, 0.0));
//! let (cv, av, bv) = (mat_mut(&mut c, m, n, n)?, mat_ref(&a, m, k, k)?, mat_ref(&b, k, n, n)?);
//! let path = gemm_auto(cv, av, bv, 1.0, 0.0, x, &arena)?;
//! assert_eq!(path, GemmPath::Strassen { levels: 1 });
//! let c00: f64 = (0..k).map(|p| a[p] * b[p * n]).sum();
//! assert!((c[0] - c00).abs() < 1e-9);
//! # Ok::<(), zerotick_kernels::dense::DenseError>(())
//! ```

mod cholqr;
mod error;
mod gemm;
pub mod rng;
mod rsvd;
mod skinny;
mod strassen;
mod view;

pub use error::DenseError;
pub use gemm::{MemoryStatus, WarmUpReport, gemm_into, gemm_par_into, warm_up_thread};
pub use rsvd::{RsvdParams, rsvd_into, rsvd_into_with, rsvd_scratch_bytes, rsvd_warm_up};
pub use strassen::{
    CALIBRATION_MARGIN, CALIBRATION_REPEATS, CalibrationPoint, CalibrationReport, Crossover,
    GemmPath, MIN_SPLIT_DIM, gemm_auto, strassen_into, strassen_scratch_bytes,
};
pub use view::{mat_mut, mat_ref, matrix_mut, matrix_ref};

/// Clears the upper halves of the vector registers (`vzeroupper`) when the CPU has AVX.
///
/// faer's GEMM micro-kernels (`private-gemm-x86`, hand-written assembly) return with the upper
/// halves of the `ymm`/`zmm` registers dirty. Until something clears them, every legacy-SSE
/// instruction (all scalar `f64` code of a crate built for baseline x86-64) merges into the
/// dirty registers: measured on the Xeon (2026-12-01), drawing 30,000 normal samples took
/// 0.85 ms before a faer product and 12-21 ms after it. Called after faer calls whose caller
/// continues with scalar code, and by the sketch generator. One cheap instruction.
#[inline]
pub(crate) fn clear_upper_vector_state() {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx") {
        // SAFETY: AVX is present (checked just above).
        unsafe { zero_upper() }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
fn zero_upper() {
    core::arch::x86_64::_mm256_zeroupper();
}

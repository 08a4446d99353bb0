//! Classical GEMM on faer, sequential, writing into the caller's output; the per-thread
//! warm-up of faer's packing buffer.

use faer::linalg::matmul::matmul;
use faer::reborrow::ReborrowMut;
use faer::{Accum, Mat, MatMut, MatRef, Par};

use super::DenseError;

/// Checks `C (m x n) = A (m x k) * B (k x n)`.
pub(crate) fn check_product(
    c: (usize, usize),
    a: (usize, usize),
    b: (usize, usize),
) -> Result<(), DenseError> {
    if c.0 == a.0 && c.1 == b.1 && a.1 == b.0 {
        Ok(())
    } else {
        Err(DenseError::ShapeMismatch { c, a, b })
    }
}

/// `C = alpha * A * B + beta * C`, in place in `c`, on the calling thread.
///
/// Any shapes and strides (row-major, column-major, sub-blocks, transposed views). `beta == 0`
/// means `C` is not read (NaN in `C` does not propagate), as in BLAS. Backed by faer's
/// `matmul` with `Par::Seq`; after [`warm_up_thread`] it performs no heap allocation.
///
/// # Errors
/// [`DenseError::ShapeMismatch`] unless `c` is `m x n`, `a` is `m x k` and `b` is `k x n`;
/// `c` is then untouched.
///
/// ```
/// use zerotick_kernels::dense::{gemm_into, mat_mut, mat_ref};
///
/// let a = [1.0, 2.0, 3.0, 4.0]; // [[1, 2], [3, 4]]
/// let b = [1.0, 0.0, 0.0, 1.0]; // identity
/// let mut c = [1.0; 4];
/// gemm_into(mat_mut(&mut c, 2, 2, 2)?, mat_ref(&a, 2, 2, 2)?, mat_ref(&b, 2, 2, 2)?, 2.0, 1.0)?;
/// assert_eq!(c, [3.0, 5.0, 7.0, 9.0]);
/// # Ok::<(), zerotick_kernels::dense::DenseError>(())
/// ```
pub fn gemm_into(
    c: MatMut<'_, f64>,
    a: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
    alpha: f64,
    beta: f64,
) -> Result<(), DenseError> {
    gemm_par_into(c, a, b, alpha, beta, Par::Seq)
}

/// [`gemm_into`] with an explicit faer parallelism (the opt-in for parallel GEMM). This crate
/// builds faer without rayon, so `Par::Rayon` runs sequentially unless the application
/// enables faer's `rayon` feature itself.
///
/// # Errors
/// As [`gemm_into`].
pub fn gemm_par_into(
    c: MatMut<'_, f64>,
    a: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
    alpha: f64,
    beta: f64,
    par: Par,
) -> Result<(), DenseError> {
    check_product(c.shape(), a.shape(), b.shape())?;
    gemm_unchecked_shapes(c, a, b, alpha, beta, par);
    Ok(())
}

/// The product with shapes already checked.
pub(crate) fn gemm_unchecked_shapes(
    mut c: MatMut<'_, f64>,
    a: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
    alpha: f64,
    beta: f64,
    par: Par,
) {
    let accum = if beta == 0.0 {
        Accum::Replace
    } else {
        if beta != 1.0 {
            scale_in_place(c.rb_mut(), beta);
        }
        Accum::Add
    };
    if a.ncols() == 0 {
        // faer leaves `C` alone for an empty inner dimension; `Replace` must still zero it.
        if accum == Accum::Replace {
            c.fill(0.0);
        }
        return;
    }
    matmul(c, accum, a, b, alpha, par);
    // faer's kernels return with dirty upper vector halves; callers continue with scalar code.
    super::clear_upper_vector_state();
}

/// `c *= s`.
pub(crate) fn scale_in_place(c: MatMut<'_, f64>, s: f64) {
    faer::zip!(c).for_each(|faer::unzip!(x)| *x *= s);
}

pub use zerotick_mem::process::MemoryStatus;

/// What a [`warm_up_thread`] call changed in this process's memory (process-wide figures, so
/// other threads' activity shows up too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WarmUpReport {
    /// Before the warm-up product (after its operands were built).
    pub before: MemoryStatus,
    /// After it.
    pub after: MemoryStatus,
}

impl WarmUpReport {
    /// Growth of the virtual size, in bytes (0 if unknown or shrunk).
    pub fn vm_size_growth_bytes(&self) -> u64 {
        delta(self.before.vm_size_bytes, self.after.vm_size_bytes)
    }
    /// Growth of the resident size, in bytes (0 if unknown or shrunk).
    pub fn vm_rss_growth_bytes(&self) -> u64 {
        delta(self.before.vm_rss_bytes, self.after.vm_rss_bytes)
    }
}

fn delta(a: Option<u64>, b: Option<u64>) -> u64 {
    match (a, b) {
        (Some(a), Some(b)) => b.saturating_sub(a),
        _ => 0,
    }
}

/// Warms faer up on the calling thread: runs one `dim x dim x dim` product (operands allocated
/// here and freed) so faer's thread-local packing buffer exists before the hot path.
///
/// faer (through `private-gemm-x86`) keeps, per thread that multiplies, a packing buffer of
/// twice the L3 size its CPUID probe detects, reserved on the first product above 16x16x16
/// and kept until the thread exits. Pages become resident as packing touches them, so a
/// larger `dim` (up to the largest product the thread will run) makes the resident figure
/// honest up front. Measured on the AMD EPYC (AVX2) development VM with faer 0.24.4: the first
/// 1024^3 product grows VmSize by 4.0 MiB and VmRSS by 1.1-1.3 MiB, far from the "hundreds of
/// MB" seen with older faer/gemm versions. Call once per worker thread; later
/// [`gemm_into`] calls then allocate nothing. Returns the memory figures around the product.
///
/// ```
/// let report = zerotick_kernels::dense::warm_up_thread(64);
/// # let _ = report.vm_size_growth_bytes();
/// ```
pub fn warm_up_thread(dim: usize) -> WarmUpReport {
    let dim = dim.max(17);
    let a = Mat::<f64>::from_fn(dim, dim, |i, j| ((i * 7 + j * 3) % 11) as f64);
    let b = a.clone();
    let mut c = Mat::<f64>::zeros(dim, dim);
    let before = MemoryStatus::read();
    matmul(
        c.as_mut(),
        Accum::Replace,
        a.as_ref(),
        b.as_ref(),
        1.0,
        Par::Seq,
    );
    let after = MemoryStatus::read();
    std::hint::black_box(&c);
    WarmUpReport { before, after }
}

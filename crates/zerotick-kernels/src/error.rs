//! The kernels' error type. Errors are decided before any element is written.

use core::fmt;

/// Why a kernel refused its input. Nothing was written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KernelError {
    /// Two slices that must have the same length do not.
    LengthMismatch {
        /// Length of the first slice (the output or the one modified in place).
        expected: usize,
        /// Length of the other.
        got: usize,
    },
    /// A row-major shape does not fit the data: `rows * stride` elements needed, or
    /// `width > stride`.
    BadShape {
        /// Rows.
        rows: usize,
        /// Elements used per row.
        width: usize,
        /// Elements between row starts.
        stride: usize,
        /// Elements provided.
        len: usize,
    },
    /// `clamp` bounds are NaN or `lo > hi`.
    InvalidBounds {
        /// Lower bound.
        lo: f64,
        /// Upper bound.
        hi: f64,
    },
    /// Normalising needs at least one (non-NaN) value.
    Empty,
    /// Variance is zero and the policy is [`ZeroVariance::Error`](crate::ZeroVariance::Error).
    ZeroVariance,
    /// The statistics of finite data are not representable in `f64` (squared deviations
    /// overflowed, or underflowed so far that the variance lost its digits), so no finite
    /// result can be trusted. Nothing was written.
    OutOfRange,
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::LengthMismatch { expected, got } => {
                write!(f, "length mismatch: expected {expected}, got {got}")
            }
            Self::BadShape {
                rows,
                width,
                stride,
                len,
            } => write!(
                f,
                "shape {rows} rows x {width} (stride {stride}) does not fit {len} elements"
            ),
            Self::InvalidBounds { lo, hi } => write!(f, "invalid clamp bounds [{lo}, {hi}]"),
            Self::Empty => f.write_str("no values to compute statistics from"),
            Self::ZeroVariance => f.write_str("zero variance: cannot scale to unit variance"),
            Self::OutOfRange => f.write_str(
                "the variance of these finite values over- or underflows f64: cannot normalise",
            ),
        }
    }
}

impl std::error::Error for KernelError {}

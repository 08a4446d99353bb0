//! The dense kernels' error type. Every error is decided before any output element is written.

use core::fmt;

use zerotick_mem::ArenaError;

/// Why a dense kernel refused its input. The outputs were not written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenseError {
    /// A slice cannot hold the row-major view asked of it: it needs
    /// `(rows - 1) * row_stride + cols` elements and `row_stride >= cols`.
    BadView {
        /// Rows of the view.
        rows: usize,
        /// Columns of the view.
        cols: usize,
        /// Elements between the starts of two rows.
        row_stride: usize,
        /// Elements the slice has.
        len: usize,
    },
    /// The shapes of a product `C = A B` do not agree.
    ShapeMismatch {
        /// `(rows, cols)` of `C`.
        c: (usize, usize),
        /// `(rows, cols)` of `A`.
        a: (usize, usize),
        /// `(rows, cols)` of `B`.
        b: (usize, usize),
    },
    /// A randomized SVD output has the wrong shape for the requested rank.
    OutputShape {
        /// Which output: `"u"`, `"s"` or `"vt"`.
        output: &'static str,
        /// `(rows, cols)` expected (`(k, 1)` for `s`).
        expected: (usize, usize),
        /// `(rows, cols)` given.
        got: (usize, usize),
    },
    /// The requested rank is 0 or larger than `min(rows, cols)` of the input.
    BadRank {
        /// Rank asked for.
        k: usize,
        /// `min(rows, cols)` of the input.
        max: usize,
    },
    /// The arena cannot hold the scratch the kernel needs.
    Arena(ArenaError),
    /// faer's SVD of the small projected matrix did not converge (NaN or infinite input).
    NoConvergence,
}

impl fmt::Display for DenseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadView {
                rows,
                cols,
                row_stride,
                len,
            } => write!(
                f,
                "a {rows}x{cols} row-major view with row stride {row_stride} does not fit \
                 {len} elements"
            ),
            Self::ShapeMismatch { c, a, b } => write!(
                f,
                "shape mismatch: C {}x{} = A {}x{} * B {}x{}",
                c.0, c.1, a.0, a.1, b.0, b.1
            ),
            Self::OutputShape {
                output,
                expected,
                got,
            } => write!(
                f,
                "output {output} must be {}x{}, got {}x{}",
                expected.0, expected.1, got.0, got.1
            ),
            Self::BadRank { k, max } => write!(f, "rank {k} is not in 1..={max}"),
            Self::Arena(e) => write!(f, "scratch: {e}"),
            Self::NoConvergence => f.write_str("the small SVD did not converge"),
        }
    }
}

impl std::error::Error for DenseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Arena(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ArenaError> for DenseError {
    fn from(e: ArenaError) -> Self {
        Self::Arena(e)
    }
}

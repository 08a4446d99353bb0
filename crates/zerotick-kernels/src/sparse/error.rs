//! The sparse module's error type. Every check runs before anything is written, except where
//! a variant says otherwise ([`SparseError::PlanMismatch`]).

use core::fmt;

/// Why a sparse constructor or kernel refused its input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SparseError {
    /// A dimension (rows or columns) is `u32::MAX` or more, or `rows * cols` overflows `usize`.
    /// Column indices are stored as `u32` (half the memory traffic of `usize` in SpMV).
    TooLarge {
        /// Rows asked for.
        rows: usize,
        /// Columns asked for.
        cols: usize,
    },
    /// The row-pointer array does not have `rows + 1` entries.
    IndptrLength {
        /// `rows + 1`.
        expected: usize,
        /// Entries given.
        got: usize,
    },
    /// The row-pointer array does not start at 0.
    IndptrStart {
        /// The first entry.
        first: usize,
    },
    /// Row pointers decrease: `indptr[row + 1] < indptr[row]`.
    IndptrDecreasing {
        /// The row whose end precedes its start.
        row: usize,
    },
    /// The last row pointer is not the number of stored entries.
    IndptrEnd {
        /// `indptr[rows]`.
        last: usize,
        /// `indices.len()`.
        nnz: usize,
    },
    /// `indices` and `values` differ in length.
    LengthMismatch {
        /// `indices.len()`.
        indices: usize,
        /// `values.len()`.
        values: usize,
    },
    /// A row index (triplets) is out of range.
    RowOutOfRange {
        /// The offending row index.
        row: usize,
        /// Rows of the matrix.
        rows: usize,
    },
    /// A column index is out of range.
    ColumnOutOfRange {
        /// Row holding it.
        row: usize,
        /// The offending column index.
        col: usize,
        /// Columns of the matrix.
        cols: usize,
    },
    /// Column indices within a row are not strictly increasing (`try_from_parts` rejects
    /// unsorted rows rather than sorting them: use `try_from_triplets` for unsorted input).
    UnsortedColumns {
        /// The row.
        row: usize,
        /// Position (into `indices`) of the first entry not greater than its predecessor.
        position: usize,
    },
    /// A column appears twice in a row (`try_from_parts`; triplets sum duplicates instead).
    DuplicateColumn {
        /// The row.
        row: usize,
        /// The repeated column.
        col: usize,
    },
    /// A dense buffer or vector has the wrong length for the operation's shapes.
    DimensionMismatch {
        /// Which operand: `"x"`, `"y"`, `"dense"`, `"b"`, `"out"`, `"a.cols vs b.rows"`.
        operand: &'static str,
        /// Length (or dimension) the shapes require.
        expected: usize,
        /// Length (or dimension) given.
        got: usize,
    },
    /// The dense-to-sparse threshold is negative or NaN.
    InvalidThreshold {
        /// The threshold given.
        threshold: f64,
    },
    /// [`SpgemmPlan::numeric`](super::SpgemmPlan::numeric) was given operands whose product
    /// has a nonzero outside the plan's structure (or other shapes than the plan's). When this
    /// is found during the numeric phase, the plan's values are partially written (they are
    /// unspecified until the next successful `numeric`); its structure is unchanged.
    PlanMismatch {
        /// The output row where it was found (`usize::MAX` for a shape mismatch).
        row: usize,
    },
}

impl fmt::Display for SparseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::TooLarge { rows, cols } => {
                write!(
                    f,
                    "matrix {rows} x {cols} is too large (each side must be below u32::MAX)"
                )
            }
            Self::IndptrLength { expected, got } => {
                write!(f, "row pointers: expected {expected} entries, got {got}")
            }
            Self::IndptrStart { first } => write!(f, "row pointers start at {first}, not 0"),
            Self::IndptrDecreasing { row } => write!(f, "row pointers decrease at row {row}"),
            Self::IndptrEnd { last, nnz } => {
                write!(
                    f,
                    "last row pointer {last} differs from the {nnz} stored entries"
                )
            }
            Self::LengthMismatch { indices, values } => {
                write!(f, "{indices} column indices but {values} values")
            }
            Self::RowOutOfRange { row, rows } => {
                write!(f, "row index {row} out of range for {rows} rows")
            }
            Self::ColumnOutOfRange { row, col, cols } => {
                write!(
                    f,
                    "column {col} in row {row} out of range for {cols} columns"
                )
            }
            Self::UnsortedColumns { row, position } => {
                write!(f, "columns of row {row} not increasing at entry {position}")
            }
            Self::DuplicateColumn { row, col } => {
                write!(f, "column {col} appears twice in row {row}")
            }
            Self::DimensionMismatch {
                operand,
                expected,
                got,
            } => write!(
                f,
                "dimension mismatch for {operand}: expected {expected}, got {got}"
            ),
            Self::InvalidThreshold { threshold } => {
                write!(f, "threshold {threshold} is not a non-negative number")
            }
            Self::PlanMismatch { row } if row == usize::MAX => {
                f.write_str("operands do not have the shapes the SpGEMM plan was built for")
            }
            Self::PlanMismatch { row } => {
                write!(
                    f,
                    "product row {row} has a nonzero outside the SpGEMM plan's structure"
                )
            }
        }
    }
}

impl std::error::Error for SparseError {}

/// `Err(DimensionMismatch)` unless `expected == got`.
#[inline]
pub(crate) fn check_dim(
    operand: &'static str,
    expected: usize,
    got: usize,
) -> Result<(), SparseError> {
    if expected == got {
        Ok(())
    } else {
        Err(SparseError::DimensionMismatch {
            operand,
            expected,
            got,
        })
    }
}

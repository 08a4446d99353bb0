//! [`Csr`]: compressed sparse row storage with validated construction.

use super::error::{SparseError, check_dim};

/// A sparse `f64` matrix in compressed sparse row form.
///
/// Row `i` stores its entries at positions `indptr[i]..indptr[i + 1]` of `indices` (column,
/// as `u32`) and `values`. Every constructor validates the structure, so kernels can rely on
/// it: column indices are in range and strictly increasing within a row. Explicitly stored
/// zeros are allowed (they are structure, e.g. duplicates that summed to zero).
///
/// Only `f64` is provided: the kernels are compiled per SIMD tier by the crate's dispatch
/// macro, which is written for `f64`.
///
/// ```
/// use zerotick_kernels::sparse::Csr;
///
/// // Triplets in any order; duplicates are summed.
/// let a = Csr::try_from_triplets(2, 3, &[(1, 2, 4.0), (0, 0, 1.0), (1, 2, 1.0)])?;
/// assert_eq!((a.nnz(), a.row(1)), (2, (&[2u32][..], &[5.0][..])));
/// let mut dense = [0.0; 6];
/// a.to_dense_into(&mut dense)?;
/// assert_eq!(dense, [1.0, 0.0, 0.0, 0.0, 0.0, 5.0]);
/// assert_eq!(Csr::try_from_dense(2, 3, &dense, 0.0)?, a);
/// # Ok::<(), zerotick_kernels::sparse::SparseError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Csr {
    /// Rows. Invariant: `rows < u32::MAX` and `rows * cols` fits `usize` (SpGEMM stamps
    /// rows as `row + 1` in 32 bits).
    rows: usize,
    /// Columns. Invariant: `cols < u32::MAX`.
    cols: usize,
    /// Row pointers. Invariant: `len == rows + 1`, `indptr[0] == 0`, non-decreasing,
    /// `indptr[rows] == indices.len()`.
    indptr: Vec<usize>,
    /// Column of each entry. Invariant: every entry `< cols`, strictly increasing within a row.
    /// The unchecked loads of `x[col]` in the kernels rely on `< cols`.
    indices: Vec<u32>,
    /// Value of each entry. Invariant: `values.len() == indices.len()`.
    values: Vec<f64>,
}

/// Checks the dimension limits.
pub(crate) fn check_shape(rows: usize, cols: usize) -> Result<(), SparseError> {
    let max = u32::MAX as usize;
    if rows >= max || cols >= max || rows.checked_mul(cols).is_none() {
        Err(SparseError::TooLarge { rows, cols })
    } else {
        Ok(())
    }
}

impl Csr {
    /// The `rows x cols` matrix with no stored entries.
    ///
    /// # Errors
    /// [`SparseError::TooLarge`] if a side exceeds `u32::MAX` or `rows * cols` overflows.
    pub fn try_zeros(rows: usize, cols: usize) -> Result<Self, SparseError> {
        check_shape(rows, cols)?;
        Ok(Self {
            rows,
            cols,
            indptr: vec![0; rows + 1],
            indices: Vec::new(),
            values: Vec::new(),
        })
    }

    /// Takes ownership of raw CSR arrays after validating them (O(rows + nnz), no copy).
    ///
    /// Rows must already be sorted by column without duplicates: this constructor rejects
    /// rather than repairs, so a bug upstream is reported instead of silently changed. Use
    /// [`Csr::try_from_triplets`] for unsorted or duplicated input.
    ///
    /// # Errors
    /// In the order checked: [`TooLarge`](SparseError::TooLarge),
    /// [`IndptrLength`](SparseError::IndptrLength),
    /// [`LengthMismatch`](SparseError::LengthMismatch),
    /// [`IndptrStart`](SparseError::IndptrStart),
    /// [`IndptrDecreasing`](SparseError::IndptrDecreasing),
    /// [`IndptrEnd`](SparseError::IndptrEnd),
    /// [`ColumnOutOfRange`](SparseError::ColumnOutOfRange),
    /// [`DuplicateColumn`](SparseError::DuplicateColumn),
    /// [`UnsortedColumns`](SparseError::UnsortedColumns).
    pub fn try_from_parts(
        rows: usize,
        cols: usize,
        indptr: Vec<usize>,
        indices: Vec<u32>,
        values: Vec<f64>,
    ) -> Result<Self, SparseError> {
        check_shape(rows, cols)?;
        if indptr.len() != rows + 1 {
            return Err(SparseError::IndptrLength {
                expected: rows + 1,
                got: indptr.len(),
            });
        }
        if indices.len() != values.len() {
            return Err(SparseError::LengthMismatch {
                indices: indices.len(),
                values: values.len(),
            });
        }
        if indptr[0] != 0 {
            return Err(SparseError::IndptrStart { first: indptr[0] });
        }
        if let Some(row) = indptr.windows(2).position(|w| w[1] < w[0]) {
            return Err(SparseError::IndptrDecreasing { row });
        }
        if indptr[rows] != indices.len() {
            return Err(SparseError::IndptrEnd {
                last: indptr[rows],
                nnz: indices.len(),
            });
        }
        for row in 0..rows {
            let (start, end) = (indptr[row], indptr[row + 1]);
            let mut prev: Option<u32> = None;
            for (position, &c) in indices[start..end].iter().enumerate() {
                if c as usize >= cols {
                    return Err(SparseError::ColumnOutOfRange {
                        row,
                        col: c as usize,
                        cols,
                    });
                }
                match prev {
                    Some(p) if p == c => {
                        return Err(SparseError::DuplicateColumn {
                            row,
                            col: c as usize,
                        });
                    }
                    Some(p) if p > c => {
                        return Err(SparseError::UnsortedColumns {
                            row,
                            position: start + position,
                        });
                    }
                    _ => prev = Some(c),
                }
            }
        }
        Ok(Self {
            rows,
            cols,
            indptr,
            indices,
            values,
        })
    }

    /// Builds from `(row, col, value)` triplets in any order; duplicates are summed (in input
    /// order), explicit zeros are kept. O(nnz log(max row length)) time, O(rows + nnz) memory.
    ///
    /// # Errors
    /// [`TooLarge`](SparseError::TooLarge), then the first out-of-range triplet as
    /// [`RowOutOfRange`](SparseError::RowOutOfRange) or
    /// [`ColumnOutOfRange`](SparseError::ColumnOutOfRange).
    pub fn try_from_triplets(
        rows: usize,
        cols: usize,
        triplets: &[(usize, usize, f64)],
    ) -> Result<Self, SparseError> {
        check_shape(rows, cols)?;
        let mut counts = vec![0usize; rows + 1];
        for &(r, c, _) in triplets {
            if r >= rows {
                return Err(SparseError::RowOutOfRange { row: r, rows });
            }
            if c >= cols {
                return Err(SparseError::ColumnOutOfRange {
                    row: r,
                    col: c,
                    cols,
                });
            }
            counts[r + 1] += 1;
        }
        for i in 0..rows {
            counts[i + 1] += counts[i];
        }
        // Bucket by row (stable: duplicates keep input order, so their sum is deterministic).
        let mut next = counts.clone();
        let mut entries = vec![(0u32, 0.0f64); triplets.len()];
        for &(r, c, v) in triplets {
            entries[next[r]] = (c as u32, v);
            next[r] += 1;
        }
        let mut indptr = Vec::with_capacity(rows + 1);
        indptr.push(0);
        let mut indices = Vec::with_capacity(triplets.len());
        let mut values = Vec::with_capacity(triplets.len());
        for r in 0..rows {
            let row = &mut entries[counts[r]..counts[r + 1]];
            row.sort_by_key(|e| e.0);
            for &(c, v) in row.iter() {
                if indices.len() > indptr[r] && indices.last() == Some(&c) {
                    if let Some(last) = values.last_mut() {
                        *last += v;
                    }
                } else {
                    indices.push(c);
                    values.push(v);
                }
            }
            indptr.push(indices.len());
        }
        indices.shrink_to_fit();
        values.shrink_to_fit();
        Ok(Self {
            rows,
            cols,
            indptr,
            indices,
            values,
        })
    }

    /// Builds from a row-major dense `rows x cols` slice, keeping the entries with
    /// `|v| > threshold` (threshold 0 keeps every nonzero). NaN entries are kept: they are
    /// data, not zeros.
    ///
    /// # Errors
    /// [`TooLarge`](SparseError::TooLarge), [`DimensionMismatch`](SparseError::DimensionMismatch)
    /// if `dense.len() != rows * cols`, [`InvalidThreshold`](SparseError::InvalidThreshold) if
    /// `threshold` is negative or NaN.
    pub fn try_from_dense(
        rows: usize,
        cols: usize,
        dense: &[f64],
        threshold: f64,
    ) -> Result<Self, SparseError> {
        check_shape(rows, cols)?;
        check_dim("dense", rows * cols, dense.len())?;
        if threshold.is_nan() || threshold < 0.0 {
            return Err(SparseError::InvalidThreshold { threshold });
        }
        let keep = |v: f64| v.is_nan() || v.abs() > threshold;
        let nnz = dense.iter().filter(|v| keep(**v)).count();
        let mut indptr = Vec::with_capacity(rows + 1);
        indptr.push(0);
        let mut indices = Vec::with_capacity(nnz);
        let mut values = Vec::with_capacity(nnz);
        if cols > 0 {
            for row in dense.chunks_exact(cols) {
                for (c, &v) in row.iter().enumerate() {
                    if keep(v) {
                        indices.push(c as u32);
                        values.push(v);
                    }
                }
                indptr.push(indices.len());
            }
        } else {
            indptr.resize(rows + 1, 0);
        }
        Ok(Self {
            rows,
            cols,
            indptr,
            indices,
            values,
        })
    }

    /// Writes the matrix into a row-major dense `rows x cols` buffer (zeros where nothing is
    /// stored). Allocates nothing.
    ///
    /// # Errors
    /// [`DimensionMismatch`](SparseError::DimensionMismatch) if `out.len() != rows * cols`;
    /// nothing is written.
    pub fn to_dense_into(&self, out: &mut [f64]) -> Result<(), SparseError> {
        check_dim("out", self.rows * self.cols, out.len())?;
        out.fill(0.0);
        if self.cols == 0 {
            return Ok(());
        }
        for (r, dense_row) in out.chunks_exact_mut(self.cols).enumerate() {
            let (cols, vals) = self.row(r);
            for (&c, &v) in cols.iter().zip(vals) {
                dense_row[c as usize] = v;
            }
        }
        Ok(())
    }

    /// The transpose, as a new CSR matrix (a counting sort by column: O(rows + cols + nnz),
    /// rows of the result come out sorted).
    pub fn transpose(&self) -> Csr {
        let mut indptr = vec![0usize; self.cols + 1];
        for &c in &self.indices {
            indptr[c as usize + 1] += 1;
        }
        for i in 0..self.cols {
            indptr[i + 1] += indptr[i];
        }
        let mut next = indptr.clone();
        let mut indices = vec![0u32; self.nnz()];
        let mut values = vec![0.0; self.nnz()];
        for r in 0..self.rows {
            let (cols, vals) = self.row(r);
            for (&c, &v) in cols.iter().zip(vals) {
                let slot = &mut next[c as usize];
                indices[*slot] = r as u32;
                values[*slot] = v;
                *slot += 1;
            }
        }
        Csr {
            rows: self.cols,
            cols: self.rows,
            indptr,
            indices,
            values,
        }
    }

    /// Rows.
    #[inline]
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Columns.
    #[inline]
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Stored entries (including explicit zeros).
    #[inline]
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// Stored entries over `rows * cols`; 0 for an empty shape.
    pub fn density(&self) -> f64 {
        let cells = self.rows * self.cols;
        if cells == 0 {
            0.0
        } else {
            self.nnz() as f64 / cells as f64
        }
    }

    /// Row pointers (`rows + 1` entries).
    #[inline]
    pub fn indptr(&self) -> &[usize] {
        &self.indptr
    }

    /// Column index of every stored entry.
    #[inline]
    pub fn indices(&self) -> &[u32] {
        &self.indices
    }

    /// Value of every stored entry.
    #[inline]
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// Mutable values; the structure stays fixed.
    #[inline]
    pub fn values_mut(&mut self) -> &mut [f64] {
        &mut self.values
    }

    /// Columns and values of row `r`.
    ///
    /// # Panics
    /// If `r >= rows`.
    #[inline]
    #[track_caller]
    pub fn row(&self, r: usize) -> (&[u32], &[f64]) {
        let (s, e) = (self.indptr[r], self.indptr[r + 1]);
        (&self.indices[s..e], &self.values[s..e])
    }

    /// The raw arrays `(indptr, indices, values)`.
    pub fn into_parts(self) -> (Vec<usize>, Vec<u32>, Vec<f64>) {
        (self.indptr, self.indices, self.values)
    }

    /// Builds from arrays without validating them (crate-internal: SpGEMM output, whose
    /// structure the symbolic phase built). Debug builds still validate.
    ///
    /// # Safety
    /// The arrays must satisfy every invariant [`Csr::try_from_parts`] checks (the ones
    /// written on the fields): `rows`/`cols` within [`check_shape`], `indptr` of length
    /// `rows + 1`, starting at 0, non-decreasing, ending at `indices.len() == values.len()`,
    /// and every column `< cols`, strictly increasing within a row. The SpMV/SpMM kernels
    /// load `x[col]` unchecked, so a column `>= cols` is an out-of-bounds read.
    pub(crate) unsafe fn from_parts_trusted(
        rows: usize,
        cols: usize,
        indptr: Vec<usize>,
        indices: Vec<u32>,
        values: Vec<f64>,
    ) -> Self {
        debug_assert!(
            Self::try_from_parts(rows, cols, indptr.clone(), indices.clone(), values.clone())
                .is_ok()
        );
        Self {
            rows,
            cols,
            indptr,
            indices,
            values,
        }
    }
}

/// Fraction of entries of a dense slice that are not zero (NaN counts as nonzero); 0 for an
/// empty slice. One pass, no allocation.
pub fn density(dense: &[f64]) -> f64 {
    if dense.is_empty() {
        return 0.0;
    }
    let nnz = dense.iter().filter(|v| **v != 0.0).count();
    nnz as f64 / dense.len() as f64
}

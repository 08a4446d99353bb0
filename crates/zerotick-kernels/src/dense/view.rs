//! Zero-copy faer views of caller and pooled buffers.
//!
//! faer's `MatRef`/`MatMut` are (pointer, shape, strides) triples, so any row-major or strided
//! buffer can be viewed without a copy. faer's own constructors panic on a bad shape; these
//! check first and return [`DenseError::BadView`].

use faer::{MatMut, MatRef};
use zerotick_mem::Matrix;

use super::DenseError;

fn check(rows: usize, cols: usize, row_stride: usize, len: usize) -> Result<(), DenseError> {
    if rows == 0 || cols == 0 {
        return Ok(());
    }
    let need = (rows - 1)
        .checked_mul(row_stride)
        .and_then(|x| x.checked_add(cols));
    match need {
        Some(need) if row_stride >= cols && need <= len => Ok(()),
        _ => Err(DenseError::BadView {
            rows,
            cols,
            row_stride,
            len,
        }),
    }
}

/// Views `data` as a `rows x cols` row-major matrix whose rows start `row_stride` elements
/// apart (`row_stride == cols` for a dense matrix, larger for a sub-block of a wider one).
///
/// # Errors
/// [`DenseError::BadView`] if `row_stride < cols` or `data` is too short.
///
/// ```
/// use zerotick_kernels::dense::mat_ref;
///
/// let data = [1.0, 2.0, 9.0, 3.0, 4.0, 9.0];
/// let m = mat_ref(&data, 2, 2, 3)?; // the left 2x2 block of a 2x3 matrix
/// assert_eq!(m[(1, 0)], 3.0);
/// assert!(mat_ref(&data, 3, 2, 3).is_err());
/// # Ok::<(), zerotick_kernels::dense::DenseError>(())
/// ```
pub fn mat_ref(
    data: &[f64],
    rows: usize,
    cols: usize,
    row_stride: usize,
) -> Result<MatRef<'_, f64>, DenseError> {
    check(rows, cols, row_stride, data.len())?;
    if rows == 0 || cols == 0 {
        return Ok(MatRef::from_row_major_slice(&[], rows, cols));
    }
    Ok(MatRef::from_row_major_slice_with_stride(
        data, rows, cols, row_stride,
    ))
}

/// Mutable version of [`mat_ref`].
///
/// # Errors
/// [`DenseError::BadView`] if `row_stride < cols` or `data` is too short.
pub fn mat_mut(
    data: &mut [f64],
    rows: usize,
    cols: usize,
    row_stride: usize,
) -> Result<MatMut<'_, f64>, DenseError> {
    check(rows, cols, row_stride, data.len())?;
    if rows == 0 || cols == 0 {
        return Ok(MatMut::from_row_major_slice_mut(&mut [], rows, cols));
    }
    // Not `MatMut::from_row_major_slice_with_stride_mut`: in faer 0.24.4 it builds a
    // column-major view (row stride 1, column stride `row_stride`), which writes out of place.
    // The transpose of a column-major view is the row-major view we want.
    Ok(
        MatMut::from_column_major_slice_with_stride_mut(data, cols, rows, row_stride)
            .transpose_mut(),
    )
}

/// Views a pooled [`Matrix`] (row-major, dense) as a faer `MatRef`. Never copies.
pub fn matrix_ref(m: &Matrix) -> MatRef<'_, f64> {
    MatRef::from_row_major_slice(m.as_slice(), m.rows(), m.cols())
}

/// Views a pooled [`Matrix`] (row-major, dense) as a faer `MatMut`. Never copies.
pub fn matrix_mut(m: &mut Matrix) -> MatMut<'_, f64> {
    let (rows, cols) = (m.rows(), m.cols());
    MatMut::from_row_major_slice_mut(m.as_mut_slice(), rows, cols)
}

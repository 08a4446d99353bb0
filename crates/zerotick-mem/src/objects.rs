//! The pooled object types of the pipeline: vectors ([`AlignedBuf`]), matrices ([`Matrix`])
//! and row batches ([`Batch`]), and how each is reset between users ([`Reusable`]).

use crate::aligned::{ALIGN, AlignedBuf, Slab};
use crate::element::Element;
use crate::error::{AllocError, CapacityError, ShapeError};
use crate::pages::{PageSpan, Pages};
use crate::pool::Reusable;

impl<T: Element> Reusable for AlignedBuf<T> {
    /// Length back to 0.
    fn clear(&mut self) {
        AlignedBuf::clear(self);
    }
    /// Length back to 0 and every element of the capacity zeroed.
    fn zero(&mut self) {
        AlignedBuf::clear(self);
        AlignedBuf::zero(self);
    }
    fn prefault(&mut self) {
        AlignedBuf::prefault(self);
    }
    fn heap_bytes(&self) -> usize {
        self.capacity_bytes()
    }
}

/// A dense row-major `f64` matrix over a fixed, 64-byte-aligned buffer.
///
/// The shape can change in O(1) to anything that fits the capacity
/// ([`try_reshape`](Self::try_reshape)), so one pool of large matrices serves several shapes.
/// Row `i` starts at element `i * cols` (no padding between rows).
///
/// ```
/// use zerotick_mem::Matrix;
///
/// let mut m = Matrix::zeroed(2, 3);
/// m.row_mut(1)[2] = 5.0;
/// assert_eq!(m.as_slice(), &[0.0, 0.0, 0.0, 0.0, 0.0, 5.0]);
/// m.try_reshape(3, 2)?;
/// assert_eq!(m.row(2), &[0.0, 5.0]);
/// # Ok::<(), zerotick_mem::ShapeError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    /// Storage. Invariant: `data.len() == rows * cols <= data.capacity()`.
    data: AlignedBuf<f64>,
    rows: usize,
    cols: usize,
    /// The shape the matrix was built with, restored by [`Reusable::clear`].
    built: (usize, usize),
}

impl Matrix {
    /// Builds a zeroed `rows x cols` matrix.
    ///
    /// # Errors
    /// [`AllocError`] if the size overflows or the allocator refuses.
    pub fn try_zeroed(rows: usize, cols: usize) -> Result<Self, AllocError> {
        let len = rows.checked_mul(cols).ok_or(AllocError::CapacityOverflow)?;
        Ok(Self {
            data: AlignedBuf::try_zeroed(len)?,
            rows,
            cols,
            built: (rows, cols),
        })
    }

    /// A zeroed `rows x cols` matrix whose pages need not be resident yet, mapped with
    /// `pages` where it is 2 MiB or more ([`AlignedBuf::try_zeroed_unfaulted_with`]): fault
    /// it in with [`page_span`](Self::page_span) on the thread that should pay for it.
    ///
    /// # Errors
    /// [`AllocError`] if the size overflows or the allocator refuses.
    pub fn try_zeroed_unfaulted_with(
        rows: usize,
        cols: usize,
        pages: Pages,
    ) -> Result<Self, AllocError> {
        let len = rows.checked_mul(cols).ok_or(AllocError::CapacityOverflow)?;
        Ok(Self {
            data: AlignedBuf::try_zeroed_unfaulted_with(len, pages)?,
            rows,
            cols,
            built: (rows, cols),
        })
    }

    /// The address range of the storage, to fault in from another thread
    /// ([`PageSpan::populate`]).
    pub fn page_span(&self) -> PageSpan {
        PageSpan::of(&self.data)
    }

    /// Builds a zeroed `rows x cols` matrix.
    ///
    /// # Panics
    /// If the allocation fails; see [`try_zeroed`](Self::try_zeroed).
    #[track_caller]
    pub fn zeroed(rows: usize, cols: usize) -> Self {
        match Self::try_zeroed(rows, cols) {
            Ok(m) => m,
            Err(e) => panic!("Matrix::zeroed({rows}, {cols}): {e}"),
        }
    }

    /// Number of rows.
    #[inline]
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns (also the row stride).
    #[inline]
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Elements the storage holds.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.data.capacity()
    }

    /// Changes the shape in O(1); contents are reinterpreted, not moved.
    ///
    /// # Errors
    /// [`ShapeError::TooLarge`] if `rows * cols` exceeds the capacity; the matrix is unchanged.
    pub fn try_reshape(&mut self, rows: usize, cols: usize) -> Result<(), ShapeError> {
        let len = rows.saturating_mul(cols);
        self.data.set_len(len)?;
        self.rows = rows;
        self.cols = cols;
        Ok(())
    }

    /// All `rows * cols` elements, row-major.
    #[inline]
    pub fn as_slice(&self) -> &[f64] {
        &self.data
    }

    /// All `rows * cols` elements, row-major, mutably.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [f64] {
        &mut self.data
    }

    /// Row `i`, or `None` past the last row.
    #[inline]
    pub fn get_row(&self, i: usize) -> Option<&[f64]> {
        (i < self.rows).then(|| &self.data[i * self.cols..(i + 1) * self.cols])
    }

    /// Row `i`.
    ///
    /// # Panics
    /// If `i >= rows`; see [`get_row`](Self::get_row).
    #[inline]
    #[track_caller]
    pub fn row(&self, i: usize) -> &[f64] {
        assert!(i < self.rows, "row {i} out of bounds ({} rows)", self.rows);
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// Row `i`, mutably.
    ///
    /// # Panics
    /// If `i >= rows`.
    #[inline]
    #[track_caller]
    pub fn row_mut(&mut self, i: usize) -> &mut [f64] {
        assert!(i < self.rows, "row {i} out of bounds ({} rows)", self.rows);
        let cols = self.cols;
        &mut self.data[i * cols..(i + 1) * cols]
    }
}

impl Reusable for Matrix {
    /// Shape back to the one the matrix was built with; contents kept.
    fn clear(&mut self) {
        let (rows, cols) = self.built;
        self.rows = rows;
        self.cols = cols;
        // Cannot fail: the built shape is exactly the capacity.
        let _ = self.data.set_len(rows * cols);
    }
    /// Shape back to the built one and every element zeroed.
    fn zero(&mut self) {
        self.clear();
        self.data.zero();
    }
    fn prefault(&mut self) {
        self.data.prefault();
    }
    fn heap_bytes(&self) -> usize {
        self.data.capacity_bytes()
    }
}

/// A batch of up to `capacity_rows` feature rows of `width` `f64` each, filled row by row.
///
/// Every row starts on a 64-byte boundary: the row stride is `width` rounded up to a multiple
/// of 8 elements. Rows are written in place ([`push_row_mut`](Self::push_row_mut)) or copied in
/// ([`try_push_row`](Self::try_push_row)).
///
/// ```
/// use zerotick_mem::Batch;
///
/// let mut b = Batch::zeroed(32, 1024);
/// b.push_row_mut().unwrap().fill(1.0); // write the next row in place
/// b.try_push_row(&[2.0; 1024])?;
/// assert_eq!(b.len_rows(), 2);
/// assert_eq!(b.row(1)[1023], 2.0);
/// assert_eq!(b.row(1).as_ptr() as usize % 64, 0);
/// # Ok::<(), zerotick_mem::ShapeError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// Storage. Invariant: `data.len() == data.capacity() == capacity_rows * stride`.
    data: AlignedBuf<f64>,
    width: usize,
    /// Invariant: `stride >= width` and `stride * size_of::<f64>()` is a multiple of 64.
    stride: usize,
    capacity_rows: usize,
    /// Invariant: `len_rows <= capacity_rows`.
    len_rows: usize,
}

impl Batch {
    /// Builds an empty batch with room for `capacity_rows` rows of `width` zeroed elements.
    ///
    /// # Errors
    /// [`AllocError`] if the size overflows or the allocator refuses.
    pub fn try_zeroed(capacity_rows: usize, width: usize) -> Result<Self, AllocError> {
        let (stride, len) = Self::shape(capacity_rows, width)?;
        Ok(Self::from_storage(
            AlignedBuf::try_zeroed(len)?,
            capacity_rows,
            width,
            stride,
        ))
    }

    /// As [`try_zeroed`](Self::try_zeroed), the storage carved from `slab` (see [`Slab`]:
    /// batches built together share its huge pages).
    ///
    /// ```
    /// use zerotick_mem::{Batch, Slab};
    ///
    /// let slab = Slab::try_zeroed(4 * Batch::slab_bytes(32, 1024).unwrap())?;
    /// let batches: Vec<Batch> = (0..4)
    ///     .map(|_| Batch::try_zeroed_in(&slab, 32, 1024))
    ///     .collect::<Result<_, _>>()?;
    /// assert_eq!((batches[3].capacity_rows(), slab.remaining()), (32, 0));
    /// # Ok::<(), zerotick_mem::AllocError>(())
    /// ```
    ///
    /// # Errors
    /// [`AllocError`] if the size overflows or the slab has too little room left.
    pub fn try_zeroed_in(
        slab: &Slab,
        capacity_rows: usize,
        width: usize,
    ) -> Result<Self, AllocError> {
        let (stride, len) = Self::shape(capacity_rows, width)?;
        Ok(Self::from_storage(
            slab.try_carve(len)?,
            capacity_rows,
            width,
            stride,
        ))
    }

    /// Bytes [`try_zeroed_in`](Self::try_zeroed_in) takes from a slab for this shape;
    /// `None` on overflow.
    pub fn slab_bytes(capacity_rows: usize, width: usize) -> Option<usize> {
        Slab::bytes_for::<f64>(Self::shape(capacity_rows, width).ok()?.1)
    }

    /// `(stride, elements)` of a batch of this shape.
    fn shape(capacity_rows: usize, width: usize) -> Result<(usize, usize), AllocError> {
        let lanes = ALIGN / size_of::<f64>();
        let stride = width
            .checked_next_multiple_of(lanes)
            .ok_or(AllocError::CapacityOverflow)?;
        let len = capacity_rows
            .checked_mul(stride)
            .ok_or(AllocError::CapacityOverflow)?;
        Ok((stride, len))
    }

    /// A batch over `data` (`capacity_rows * stride` zeroed elements).
    fn from_storage(
        data: AlignedBuf<f64>,
        capacity_rows: usize,
        width: usize,
        stride: usize,
    ) -> Self {
        Self {
            capacity_rows,
            data,
            width,
            stride,
            len_rows: 0,
        }
    }

    /// Builds an empty batch with room for `capacity_rows` rows of `width` elements.
    ///
    /// # Panics
    /// If the allocation fails; see [`try_zeroed`](Self::try_zeroed).
    #[track_caller]
    pub fn zeroed(capacity_rows: usize, width: usize) -> Self {
        match Self::try_zeroed(capacity_rows, width) {
            Ok(b) => b,
            Err(e) => panic!("Batch::zeroed({capacity_rows}, {width}): {e}"),
        }
    }

    /// Elements per row.
    #[inline]
    pub fn width(&self) -> usize {
        self.width
    }

    /// Elements between the starts of two rows (`width` rounded up to 8).
    #[inline]
    pub fn stride(&self) -> usize {
        self.stride
    }

    /// Rows the batch can hold.
    #[inline]
    pub fn capacity_rows(&self) -> usize {
        self.capacity_rows
    }

    /// Rows filled so far.
    #[inline]
    pub fn len_rows(&self) -> usize {
        self.len_rows
    }

    /// Whether no row is filled.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len_rows == 0
    }

    /// Whether every row is filled.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.len_rows == self.capacity_rows
    }

    /// Marks the next row as filled and returns it for writing in place (its previous
    /// contents are still there), or `None` if the batch is full.
    #[inline]
    pub fn push_row_mut(&mut self) -> Option<&mut [f64]> {
        if self.is_full() {
            return None;
        }
        let start = self.len_rows * self.stride;
        self.len_rows += 1;
        let width = self.width;
        Some(&mut self.data.as_capacity_slice_mut()[start..start + width])
    }

    /// Copies `row` in as the next row.
    ///
    /// # Errors
    /// [`ShapeError::WidthMismatch`] for a row of the wrong width, [`ShapeError::TooLarge`] if
    /// the batch is full. The batch is unchanged on error.
    #[inline]
    pub fn try_push_row(&mut self, row: &[f64]) -> Result<(), ShapeError> {
        if row.len() != self.width {
            return Err(ShapeError::WidthMismatch {
                expected: self.width,
                got: row.len(),
            });
        }
        let capacity = self.capacity_rows;
        let requested = self.len_rows + 1;
        match self.push_row_mut() {
            Some(dst) => {
                dst.copy_from_slice(row);
                Ok(())
            }
            None => Err(CapacityError {
                capacity,
                requested,
            }
            .into()),
        }
    }

    /// Filled row `i`, or `None` past the filled rows.
    #[inline]
    pub fn get_row(&self, i: usize) -> Option<&[f64]> {
        (i < self.len_rows).then(|| self.row_unchecked_bounds(i))
    }

    /// Filled row `i`.
    ///
    /// # Panics
    /// If `i >= len_rows`; see [`get_row`](Self::get_row).
    #[inline]
    #[track_caller]
    pub fn row(&self, i: usize) -> &[f64] {
        assert!(
            i < self.len_rows,
            "row {i} out of bounds ({} rows filled)",
            self.len_rows
        );
        self.row_unchecked_bounds(i)
    }

    /// Filled row `i`, mutably.
    ///
    /// # Panics
    /// If `i >= len_rows`.
    #[inline]
    #[track_caller]
    pub fn row_mut(&mut self, i: usize) -> &mut [f64] {
        assert!(
            i < self.len_rows,
            "row {i} out of bounds ({} rows filled)",
            self.len_rows
        );
        let start = i * self.stride;
        let width = self.width;
        &mut self.data.as_capacity_slice_mut()[start..start + width]
    }

    /// The filled rows, in order.
    pub fn rows(&self) -> impl ExactSizeIterator<Item = &[f64]> + '_ {
        (0..self.len_rows).map(|i| self.row_unchecked_bounds(i))
    }

    /// The storage of the filled rows with their padding: `len_rows * stride` elements, row
    /// `i` at `i * stride`. Suits kernels that take a strided matrix.
    #[inline]
    pub fn as_strided(&self) -> &[f64] {
        &self.full()[..self.len_rows * self.stride]
    }

    /// The storage of every row the batch can hold, filled or not: `capacity_rows * stride`
    /// elements. For kernels whose arithmetic must not depend on how many rows are filled
    /// (the unfilled rows hold stale or zero values; ignore their outputs).
    #[inline]
    pub fn as_capacity_strided(&self) -> &[f64] {
        self.full()
    }

    /// As [`as_strided`](Self::as_strided), mutably.
    #[inline]
    pub fn as_strided_mut(&mut self) -> &mut [f64] {
        let len = self.len_rows * self.stride;
        &mut self.data.as_capacity_slice_mut()[..len]
    }

    fn full(&self) -> &[f64] {
        &self.data
    }

    fn row_unchecked_bounds(&self, i: usize) -> &[f64] {
        let start = i * self.stride;
        &self.full()[start..start + self.width]
    }
}

impl Reusable for Batch {
    /// No rows filled; contents kept.
    fn clear(&mut self) {
        self.len_rows = 0;
    }
    /// No rows filled, every element zeroed.
    fn zero(&mut self) {
        self.len_rows = 0;
        self.data.zero();
    }
    fn prefault(&mut self) {
        self.data.prefault();
    }
    fn heap_bytes(&self) -> usize {
        self.data.capacity_bytes()
    }
}

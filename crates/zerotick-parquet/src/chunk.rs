//! [`Chunk`]: the preallocated column buffers one row group is gathered in. The emitting
//! thread fills one, hands it to the writer thread through a ring, and gets written ones back.

use std::io;

/// The rows of one row group, column by column. Allocated once, when the sink is made; moved
/// between the threads by value (a few words: the column buffers themselves stay put), never
/// copied or reallocated.
#[derive(Debug)]
pub(crate) struct Chunk {
    /// Rows filled. Invariant: `len <= capacity_rows`.
    len: usize,
    /// Rows the chunk holds.
    capacity_rows: usize,
    /// `ts_ns` of each row; `capacity_rows` long.
    ts_ns: Box<[i64]>,
    /// Symbol index of each row; `capacity_rows` long.
    symbols: Box<[u32]>,
    /// The f64 columns (features, then the signal), column-major: column `c`'s rows are
    /// `values[c * capacity_rows..][..capacity_rows]`. Invariant: `values.len()` is
    /// `capacity_rows` times the number of f64 columns.
    values: Box<[f64]>,
    /// Set by a flush: the writer writes the file out after this chunk.
    pub(crate) flush: bool,
}

impl Chunk {
    /// A chunk of `capacity_rows` rows (at least 1) and `columns` f64 columns, every page
    /// written once (touched now, not on the first row).
    ///
    /// # Errors
    /// [`io::ErrorKind::OutOfMemory`] if the sizes overflow or the allocator refuses.
    pub(crate) fn try_new(capacity_rows: usize, columns: usize) -> io::Result<Self> {
        let capacity_rows = capacity_rows.max(1);
        let cells = capacity_rows
            .checked_mul(columns)
            .ok_or_else(|| too_large(capacity_rows, columns))?;
        Ok(Self {
            len: 0,
            capacity_rows,
            ts_ns: filled(capacity_rows, capacity_rows, columns)?,
            symbols: filled(capacity_rows, capacity_rows, columns)?,
            values: filled(cells, capacity_rows, columns)?,
            flush: false,
        })
    }

    /// Appends one row. `values` and `signal` together must give the chunk's f64 columns
    /// (the sink checks the row's shape before); the chunk must not be full.
    #[inline]
    pub(crate) fn push(&mut self, ts_ns: i64, symbol: u32, values: &[f64], signal: Option<f64>) {
        let row = self.len;
        debug_assert!(row < self.capacity_rows, "push into a full chunk");
        debug_assert_eq!(
            (values.len() + usize::from(signal.is_some())) * self.capacity_rows,
            self.values.len()
        );
        self.ts_ns[row] = ts_ns;
        self.symbols[row] = symbol;
        let columns = self.values.chunks_exact_mut(self.capacity_rows);
        for (column, &v) in columns.zip(values.iter().chain(signal.as_ref())) {
            column[row] = v;
        }
        self.len = row + 1;
    }

    /// Rows filled.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether no row is filled.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the chunk holds `capacity_rows` rows.
    #[inline]
    pub(crate) fn is_full(&self) -> bool {
        self.len == self.capacity_rows
    }

    /// Empties the chunk for reuse (the buffers stay).
    pub(crate) fn clear(&mut self) {
        self.len = 0;
        self.flush = false;
    }

    /// The filled `ts_ns` values.
    pub(crate) fn ts_ns(&self) -> &[i64] {
        &self.ts_ns[..self.len]
    }

    /// The filled symbol indices.
    pub(crate) fn symbols(&self) -> &[u32] {
        &self.symbols[..self.len]
    }

    /// The filled rows of f64 column `c`; empty past the last column.
    pub(crate) fn column(&self, c: usize) -> &[f64] {
        self.values
            .chunks_exact(self.capacity_rows)
            .nth(c)
            .map_or(&[][..], |col| &col[..self.len])
    }
}

/// `n` default values in a boxed slice, or an error instead of an abort when the allocator
/// refuses.
fn filled<T: Copy + Default>(n: usize, rows: usize, columns: usize) -> io::Result<Box<[T]>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| too_large(rows, columns))?;
    v.resize(n, T::default());
    Ok(v.into_boxed_slice())
}

#[cold]
fn too_large(rows: usize, columns: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::OutOfMemory,
        format!(
            "cannot allocate a Parquet row group of {rows} rows x {columns} columns; use fewer \
             rows per group"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_land_column_by_column() {
        let mut c = Chunk::try_new(3, 3).unwrap();
        assert!(c.is_empty());
        c.push(1, 7, &[1.0, 2.0], Some(9.0));
        c.push(2, 8, &[3.0, 4.0], Some(f64::NAN));
        assert_eq!(c.len(), 2);
        assert!(!c.is_full());
        assert_eq!(c.ts_ns(), [1, 2]);
        assert_eq!(c.symbols(), [7, 8]);
        assert_eq!(c.column(0), [1.0, 3.0]);
        assert_eq!(c.column(1), [2.0, 4.0]);
        assert_eq!(c.column(2)[0], 9.0);
        assert!(c.column(2)[1].is_nan());
        assert!(c.column(3).is_empty());
        c.push(3, 9, &[5.0, 6.0], Some(0.0));
        assert!(c.is_full());
        c.flush = true;
        c.clear();
        assert!(c.is_empty() && !c.flush);
    }

    #[test]
    fn capacity_one_and_no_value_columns() {
        let mut c = Chunk::try_new(0, 0).unwrap();
        c.push(5, 1, &[], None);
        assert!(c.is_full());
        assert_eq!(c.ts_ns(), [5]);
        assert!(c.column(0).is_empty());
    }

    #[test]
    fn absurd_sizes_are_an_error_not_an_abort() {
        let e = Chunk::try_new(usize::MAX / 2, 4).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::OutOfMemory);
        assert!(e.to_string().contains("rows per group"), "{e}");
    }
}

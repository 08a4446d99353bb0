//! The writer thread ([`WriterStage::run`]): takes full chunks from the ring, writes each as
//! a row group, hands the chunk back, and writes the footer when the ring closes. Also the
//! file's schema and writer properties.

use std::io::{self, Write};
use std::sync::Arc;

use parquet::basic::{Compression, LogicalType, Repetition, TimeUnit, Type as PhysicalType};
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::errors::ParquetError;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::writer::{SerializedFileWriter, SerializedRowGroupWriter};
use parquet::schema::types::{ColumnPath, Type};
use zerotick_core::symbols::SymbolNames;
use zerotick_sync::spsc::{Consumer, Producer};
use zerotick_sync::wait::WaitStrategy;

use crate::chunk::Chunk;

/// Name of the time column.
pub const TS_COLUMN: &str = "ts_ns";
/// Name of the symbol column.
pub const SYMBOL_COLUMN: &str = "symbol";
/// Name of the signal column.
pub const SIGNAL_COLUMN: &str = "signal";

/// The writer thread's state. Only this thread touches the file.
pub(crate) struct WriterStage<W: Write + Send> {
    pub(crate) file: SerializedFileWriter<W>,
    /// Full chunks from the emitting thread.
    pub(crate) full: Consumer<Chunk>,
    /// Written chunks back to it.
    pub(crate) free: Producer<Chunk>,
    /// f64 columns per row (features and signal).
    pub(crate) value_columns: usize,
    pub(crate) names: SymbolNames,
    /// Names learned from `names` so far (index = symbol).
    pub(crate) known: Vec<Arc<str>>,
    /// `known` as Parquet values (cloning one shares its bytes).
    pub(crate) name_values: Vec<ByteArray>,
    /// The symbol column of the row group being written (reused).
    pub(crate) row_symbols: Vec<ByteArray>,
    pub(crate) wait: WaitStrategy,
}

impl<W: Write + Send> WriterStage<W> {
    /// The thread's body: until the emitting side closes the ring, writes every chunk as a
    /// row group; then writes the footer and returns the writer. An error ends the thread
    /// (dropping its ring ends, which the emitting side sees as closed; it then joins the
    /// thread for this error).
    pub(crate) fn run(mut self) -> io::Result<W> {
        // `Closed` comes only once the ring is closed *and* drained.
        while let Ok(mut chunk) = self.full.pop_wait(self.wait) {
            self.write(&chunk).map_err(io_error)?;
            if chunk.flush {
                self.file.flush()?;
            }
            chunk.clear();
            // Closed only if the emitting side is gone; nothing is lost then.
            let _ = self.free.push(chunk);
        }
        let mut out = self.file.into_inner().map_err(io_error)?;
        out.flush()?;
        Ok(out)
    }

    /// Writes `chunk` as one row group (nothing if it is empty).
    fn write(&mut self, chunk: &Chunk) -> Result<(), ParquetError> {
        if chunk.is_empty() {
            return Ok(());
        }
        self.resolve_names(chunk.symbols());
        let mut group = self.file.next_row_group()?;
        write_column::<Int64Type>(&mut group, chunk.ts_ns())?;
        write_column::<ByteArrayType>(&mut group, &self.row_symbols)?;
        for c in 0..self.value_columns {
            write_column::<DoubleType>(&mut group, chunk.column(c))?;
        }
        group.close()?;
        Ok(())
    }

    /// Fills `row_symbols` with the names of `symbols`, learning new names from the feed's
    /// table. A symbol the feed has not named (never the case for this workspace's feeds,
    /// which name a symbol before its first tick) is written as its index.
    fn resolve_names(&mut self, symbols: &[u32]) {
        self.row_symbols.clear();
        for &s in symbols {
            let i = s as usize;
            if i >= self.name_values.len() {
                self.names.refresh(&mut self.known);
                for name in &self.known[self.name_values.len()..] {
                    self.name_values
                        .push(ByteArray::from(name.as_bytes().to_vec()));
                }
            }
            let value = match self.name_values.get(i) {
                Some(v) => v.clone(),
                None => ByteArray::from(s.to_string().into_bytes()),
            };
            self.row_symbols.push(value);
        }
    }
}

/// Writes `values` as the row group's next column, which must be of type `T`.
fn write_column<T: parquet::data_type::DataType>(
    group: &mut SerializedRowGroupWriter<'_, impl Write + Send>,
    values: &[T::T],
) -> Result<(), ParquetError> {
    let mut column = group
        .next_column()?
        .ok_or_else(|| ParquetError::General("more columns written than the schema has".into()))?;
    column.typed::<T>().write_batch(values, None, None)?;
    column.close()
}

/// The file schema: `ts_ns` (INT64, timestamp in ns, UTC), `symbol` (UTF-8 string), one
/// DOUBLE per feature, `signal` (DOUBLE) if `signal`; every column required.
pub(crate) fn schema(features: &[String], signal: bool) -> Result<Type, ParquetError> {
    let mut fields = Vec::with_capacity(features.len() + 3);
    fields.push(Arc::new(
        Type::primitive_type_builder(TS_COLUMN, PhysicalType::INT64)
            .with_repetition(Repetition::REQUIRED)
            .with_logical_type(Some(LogicalType::timestamp(true, TimeUnit::NANOS)))
            .build()?,
    ));
    fields.push(Arc::new(
        Type::primitive_type_builder(SYMBOL_COLUMN, PhysicalType::BYTE_ARRAY)
            .with_repetition(Repetition::REQUIRED)
            .with_logical_type(Some(LogicalType::String))
            .build()?,
    ));
    let signal = signal.then_some(SIGNAL_COLUMN);
    for name in features.iter().map(String::as_str).chain(signal) {
        fields.push(Arc::new(
            Type::primitive_type_builder(name, PhysicalType::DOUBLE)
                .with_repetition(Repetition::REQUIRED)
                .build()?,
        ));
    }
    Type::group_type_builder("zerotick")
        .with_fields(fields)
        .build()
}

/// Writer properties: dictionary encoding for the symbol column only (the numbers are
/// nearly all distinct: a dictionary would cost a hash per value and save nothing), min/max
/// statistics per column chunk, `compression` for every column.
pub(crate) fn properties(compression: Compression) -> WriterProperties {
    WriterProperties::builder()
        .set_compression(compression)
        .set_dictionary_enabled(false)
        .set_column_dictionary_enabled(ColumnPath::from(SYMBOL_COLUMN), true)
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_created_by(format!(
            "zerotick-parquet {} (parquet-rs)",
            env!("CARGO_PKG_VERSION")
        ))
        .build()
}

/// A Parquet error as an I/O error: the writer's own I/O errors keep their kind (a full disk
/// stays `StorageFull`), anything else is `Other` with the Parquet error inside.
pub(crate) fn io_error(e: ParquetError) -> io::Error {
    match e {
        ParquetError::External(inner) => match inner.downcast::<io::Error>() {
            Ok(io) => *io,
            Err(other) => io::Error::other(other),
        },
        e => io::Error::other(e),
    }
}

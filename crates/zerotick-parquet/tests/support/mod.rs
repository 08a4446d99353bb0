//! Shared by the test binaries: a feature spec, a temp-file path, and reading a file back
//! with the parquet crate's own reader.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::RowAccessor;

/// A small spec: lags, an EMA, MACD (three columns), flow imbalance; every compute step that
/// makes signals.
pub const SPEC: &str = r#"
[row]
every = 16

[compute]
filter_bank = false
projection = "fixed"

[[feature]]
name = "ret"
indicator = "lags"
input = "returns"
count = 4

[[feature]]
name = "ema"
indicator = "ema"
period = 12

[[feature]]
name = "macd"
indicator = "macd"

[[feature]]
name = "flow"
indicator = "flow_imbalance"
window = 32
"#;

/// A fresh path in the temp dir, unique to this process and `name`; removed when dropped.
pub struct TempPath(pub PathBuf);

impl TempPath {
    pub fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "zerotick-parquet-{}-{name}.parquet",
            std::process::id()
        ));
        let _ = std::fs::remove_file(&p);
        Self(p)
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A file read back: its column names and its rows.
#[derive(Debug, Default)]
pub struct Table {
    pub columns: Vec<String>,
    pub ts_ns: Vec<i64>,
    pub symbols: Vec<String>,
    /// The DOUBLE columns (features, then signal), row by row.
    pub values: Vec<Vec<f64>>,
    pub row_groups: usize,
    /// Whether every row group's `symbol` chunk is dictionary-encoded.
    pub symbol_dictionary: bool,
    /// The `symbol` column's logical type is STRING and `ts_ns`'s a ns timestamp.
    pub logical_types_ok: bool,
}

/// Reads `path` with `SerializedFileReader` (fails if the file has no valid footer).
pub fn read(path: &Path) -> Result<Table, parquet::errors::ParquetError> {
    let reader = SerializedFileReader::try_from(path)?;
    read_from(&reader)
}

pub fn read_from<R: FileReader>(reader: &R) -> Result<Table, parquet::errors::ParquetError> {
    use parquet::basic::{Encoding, LogicalType, TimeUnit};
    let meta = reader.metadata();
    let schema = meta.file_metadata().schema_descr();
    let columns: Vec<String> = schema
        .columns()
        .iter()
        .map(|c| c.name().to_owned())
        .collect();
    let logical_types_ok = schema.column(0).logical_type_ref()
        == Some(&LogicalType::timestamp(true, TimeUnit::NANOS))
        && schema.column(1).logical_type_ref() == Some(&LogicalType::String);
    let symbol_dictionary = meta.row_groups().iter().all(|rg| {
        let c = rg.column(1);
        c.dictionary_page_offset().is_some()
            && c.encodings()
                .any(|e| matches!(e, Encoding::RLE_DICTIONARY | Encoding::PLAIN_DICTIONARY))
    });
    let mut t = Table {
        columns,
        row_groups: meta.num_row_groups(),
        symbol_dictionary,
        logical_types_ok,
        ..Table::default()
    };
    for row in reader.get_row_iter(None)? {
        let row = row?;
        t.ts_ns.push(row.get_long(0)?);
        t.symbols.push(row.get_string(1)?.clone());
        let values = (2..row.len())
            .map(|i| row.get_double(i))
            .collect::<Result<_, _>>()?;
        t.values.push(values);
    }
    Ok(t)
}

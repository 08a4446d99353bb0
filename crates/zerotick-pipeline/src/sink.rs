//! Where signals go: a CSV file, stdout, or nowhere (counted in every case).

use std::io::{self, Write};

/// One output of the pipeline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Signal {
    /// Exchange time of the tick that triggered the row, ns since the epoch.
    pub ts_ns: u64,
    /// Symbol index.
    pub symbol: u32,
    /// The signal value.
    pub value: f64,
}

/// A destination for signals. Writing must not allocate in steady state.
pub trait Sink {
    /// Takes one signal.
    ///
    /// # Errors
    /// The underlying writer failed.
    fn emit(&mut self, signal: &Signal) -> io::Result<()>;

    /// Flushes buffered output.
    ///
    /// # Errors
    /// The underlying writer failed.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Discards signals.
#[derive(Debug, Default, Clone, Copy)]
pub struct NullSink;

impl Sink for NullSink {
    #[inline]
    fn emit(&mut self, _: &Signal) -> io::Result<()> {
        Ok(())
    }
}

/// Writes `ts_ns,symbol,value` lines (with a header) to any writer; wrap files and stdout in a
/// `BufWriter`.
#[derive(Debug)]
pub struct CsvSink<W: Write> {
    out: W,
    names: Vec<String>,
}

impl<W: Write> CsvSink<W> {
    /// A sink writing to `out`; `names` maps symbol indices to names (indices are written
    /// when a name is missing).
    ///
    /// # Errors
    /// Writing the header failed.
    pub fn new(mut out: W, names: Vec<String>) -> io::Result<Self> {
        out.write_all(b"ts_ns,symbol,value\n")?;
        Ok(Self { out, names })
    }
}

impl<W: Write> Sink for CsvSink<W> {
    #[inline]
    fn emit(&mut self, s: &Signal) -> io::Result<()> {
        match self.names.get(s.symbol as usize) {
            Some(name) => writeln!(self.out, "{},{},{}", s.ts_ns, name, s.value),
            None => writeln!(self.out, "{},{},{}", s.ts_ns, s.symbol, s.value),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

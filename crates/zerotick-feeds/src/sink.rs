//! Sinks for files and stdout: [`CsvSink`] writes `ts_ns,symbol,value` lines with symbol
//! *names*, resolved through the feed's shared [`SymbolNames`] as the feed learns them.

use std::io::{self, Write};
use std::sync::Arc;

use zerotick_core::symbols::SymbolNames;
use zerotick_core::{Signal, Sink};

/// Names a sink can learn before its local table must grow (the local table is reserved to
/// this size, so a symbol's first signal copies its name without allocating).
pub const NAMES_RESERVED: usize = 4096;

/// Writes `ts_ns,symbol,value` lines (with a header) to any writer; wrap files and stdout in
/// a `BufWriter`.
///
/// The symbol column holds the name the feed gave the symbol. A name the feed has not
/// published yet (never the case for the feeds of this workspace, which intern a name before
/// yielding its first tick) is written as the symbol index.
///
/// ```
/// use zerotick_core::{Signal, Sink, SymbolTable};
/// use zerotick_feeds::sink::CsvSink;
///
/// let mut table = SymbolTable::new(16);
/// let mut sink = CsvSink::new(Vec::new(), table.names())?;
/// let id = table.intern("BTCUSDT").unwrap(); // learned after the sink was made
/// sink.emit(&Signal { ts_ns: 5, symbol: id, value: 0.25 })?;
/// assert_eq!(String::from_utf8(sink.into_inner()).unwrap(), "ts_ns,symbol,value\n5,BTCUSDT,0.25\n");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct CsvSink<W: Write> {
    out: W,
    names: SymbolNames,
    /// Names known to this sink (index = symbol); capacity [`NAMES_RESERVED`].
    local: Vec<Arc<str>>,
}

impl<W: Write> CsvSink<W> {
    /// A sink writing to `out`, naming symbols through `names`.
    ///
    /// # Errors
    /// Writing the header failed.
    pub fn new(mut out: W, names: SymbolNames) -> io::Result<Self> {
        out.write_all(b"ts_ns,symbol,value\n")?;
        let mut local = Vec::with_capacity(NAMES_RESERVED);
        names.refresh(&mut local);
        Ok(Self { out, names, local })
    }

    /// The writer, without flushing it.
    pub fn into_inner(self) -> W {
        self.out
    }

    #[cold]
    #[inline(never)]
    fn refresh_names(&mut self) {
        self.names.refresh(&mut self.local);
    }
}

impl<W: Write> Sink for CsvSink<W> {
    #[inline]
    fn emit(&mut self, s: &Signal) -> io::Result<()> {
        let i = s.symbol as usize;
        if i >= self.local.len() {
            self.refresh_names();
        }
        match self.local.get(i) {
            Some(name) => writeln!(self.out, "{},{},{}", s.ts_ns, name, s.value),
            None => writeln!(self.out, "{},{},{}", s.ts_ns, s.symbol, s.value),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

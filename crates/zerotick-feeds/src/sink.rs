//! Sinks for files and stdout: [`CsvSink`] writes `ts_ns,symbol,value` lines (or, for
//! feature rows, `ts_ns,symbol,<features...>[,signal]`) with symbol *names*, resolved through
//! the feed's shared [`SymbolNames`] as the feed learns them. Names come from the feed's data
//! (a Redis field, a Kafka key, a JSON string), so a name that would break the row is quoted
//! (RFC 4180): it cannot add a column or a row.

use std::io::{self, Write};
use std::sync::Arc;

use zerotick_core::symbols::SymbolNames;
use zerotick_core::{FeatureRecord, Signal, Sink};

/// Names a sink can learn before its local table must grow (the local table is reserved to
/// this size, so a symbol's first signal copies its name without allocating, unless the name
/// needs quoting).
pub const NAMES_RESERVED: usize = 4096;

/// Writes `ts_ns,symbol,value` lines (with a header) to any writer; wrap files and stdout in
/// a `BufWriter`.
///
/// The symbol column holds the name the feed gave the symbol. A name holding `,`, `"`, CR or
/// LF, and the empty name, is written quoted as RFC 4180 says (`"A,B"`, `"say ""hi"""`,
/// `""`); the quoted form is made once, when the sink learns the name, so steady state
/// still allocates nothing. A name the feed has not published yet (never the case for the
/// feeds of this workspace, which intern a name before yielding its first tick) is written
/// as the symbol index.
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
    /// Names known to this sink as CSV fields (index = symbol): the feed's name, or its
    /// quoted form (`csv_field`) where it needs one; capacity [`NAMES_RESERVED`].
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
        learn(&names, &mut local);
        Ok(Self { out, names, local })
    }

    /// A sink of feature rows ([`Sink::emit_row`]) writing to `out`, with the header
    /// `ts_ns,symbol,<columns...>` and, with `signal`, a last `signal` column. Each record
    /// is one line: its time, its symbol's name, its values in column order (Rust's shortest
    /// round-trip form: parsed back they are the same `f64`), and its signal if it has one
    /// (the pipeline sends signals with every record or with none).
    ///
    /// ```
    /// use zerotick_core::{FeatureRecord, Sink, SymbolTable};
    /// use zerotick_feeds::sink::CsvSink;
    ///
    /// let mut table = SymbolTable::new(16);
    /// let id = table.intern("ETHUSDT").unwrap();
    /// let mut sink = CsvSink::with_columns(Vec::new(), table.names(), &["ema", "rsi"], true)?;
    /// sink.emit_row(&FeatureRecord { ts_ns: 7, symbol: id, values: &[1.5, 0.1], signal: Some(-0.25) })?;
    /// assert_eq!(
    ///     String::from_utf8(sink.into_inner()).unwrap(),
    ///     "ts_ns,symbol,ema,rsi,signal\n7,ETHUSDT,1.5,0.1,-0.25\n",
    /// );
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # Errors
    /// Writing the header failed.
    pub fn with_columns<S: AsRef<str>>(
        mut out: W,
        names: SymbolNames,
        columns: &[S],
        signal: bool,
    ) -> io::Result<Self> {
        out.write_all(b"ts_ns,symbol")?;
        for c in columns {
            out.write_all(b",")?;
            out.write_all(c.as_ref().as_bytes())?;
        }
        out.write_all(if signal { &b",signal\n"[..] } else { b"\n" })?;
        let mut local = Vec::with_capacity(NAMES_RESERVED);
        learn(&names, &mut local);
        Ok(Self { out, names, local })
    }

    /// The writer, without flushing it.
    pub fn into_inner(self) -> W {
        self.out
    }

    #[cold]
    #[inline(never)]
    fn refresh_names(&mut self) {
        learn(&self.names, &mut self.local);
    }
}

/// Appends the names `local.len()..` of `names` to `local` as CSV fields (the cold path).
fn learn(names: &SymbolNames, local: &mut Vec<Arc<str>>) {
    let from = local.len();
    names.refresh(local);
    for name in &mut local[from..] {
        if let Some(quoted) = csv_field(name) {
            *name = quoted;
        }
    }
}

/// `name` quoted as an RFC 4180 field (in `"`, each `"` doubled) if it holds `,`, `"`, CR
/// or LF, or is empty (a bare empty field reads as a missing value); `None` if it can be
/// written as it is.
fn csv_field(name: &str) -> Option<Arc<str>> {
    let plain = !name.is_empty()
        && !name
            .bytes()
            .any(|b| matches!(b, b',' | b'"' | b'\r' | b'\n'));
    if plain {
        return None;
    }
    let mut field = String::with_capacity(name.len() + 2);
    field.push('"');
    for c in name.chars() {
        if c == '"' {
            field.push('"');
        }
        field.push(c);
    }
    field.push('"');
    Some(field.into())
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

    fn emit_row(&mut self, r: &FeatureRecord<'_>) -> io::Result<()> {
        let i = r.symbol as usize;
        if i >= self.local.len() {
            self.refresh_names();
        }
        match self.local.get(i) {
            Some(name) => write!(self.out, "{},{}", r.ts_ns, name)?,
            None => write!(self.out, "{},{}", r.ts_ns, r.symbol)?,
        }
        for v in r.values {
            write!(self.out, ",{v}")?;
        }
        match r.signal {
            Some(v) => writeln!(self.out, ",{v}"),
            None => self.out.write_all(b"\n"),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_that_would_break_a_row_are_quoted() {
        for plain in ["BTCUSDT", "a b", "x;y", "'q'", "\t", "é"] {
            assert_eq!(csv_field(plain), None, "{plain:?}");
        }
        for (name, field) in [
            ("", "\"\""),
            ("A,B", "\"A,B\""),
            ("say \"hi\"", "\"say \"\"hi\"\"\""),
            ("\"", "\"\"\"\""),
            ("X\n1,FAKE,9e99", "\"X\n1,FAKE,9e99\""),
            ("cr\r", "\"cr\r\""),
        ] {
            assert_eq!(csv_field(name).as_deref(), Some(field), "{name:?}");
        }
    }
}

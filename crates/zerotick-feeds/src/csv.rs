//! [`CsvFeed`]: trades streamed from CSV, one reused line buffer, never the whole file.
//!
//! Layouts ([`CsvLayout`]):
//! * `Generic`: `timestamp,symbol,price,size[,side]`; side is `buy`/`sell`/`b`/`s` (any case)
//!   or empty.
//! * `AggTrades` (exchange aggregate-trade dumps):
//!   `agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker[,is_best_match]`.
//! * `Trades` (exchange trade dumps): `id,price,qty,quote_qty,time,is_buyer_maker[,is_best_match]`.
//!
//! `Auto` picks the layout from the header if there is one, else from the first row. A header is
//! a first line whose first field is not a number. Exchange dumps carry no symbol: it is taken
//! from the file name up to the first `-` (`BTCUSDT-aggTrades-2024-01-01.csv` -> `BTCUSDT`).
//! `is_buyer_maker = true` means the seller took liquidity: [`Side::Sell`].
//!
//! Timestamps are integers (or decimals) in seconds, milliseconds, microseconds or
//! nanoseconds, told apart by magnitude (below 1e11 s, 1e14 ms, 1e17 us, else ns). Bad rows are
//! counted by [`RejectReason`]; with `strict` the first one ends the feed with its line number.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use zerotick_core::symbols::{SymbolNames, SymbolTable};
use zerotick_core::{Feed, FeedError, FeedEvent, RejectReason, Side, Tick};

/// Longest line accepted, in bytes.
pub const MAX_LINE: usize = 4096;
/// Most distinct symbols one feed accepts.
pub const MAX_SYMBOLS: usize = zerotick_core::symbols::MAX_SYMBOLS;

/// How the columns of a CSV file are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CsvLayout {
    /// Decide from the header or the first row.
    #[default]
    Auto,
    /// `timestamp,symbol,price,size[,side]`.
    Generic,
    /// Aggregate-trade dumps (7 or 8 fields).
    AggTrades,
    /// Trade dumps (6 or 7 fields).
    Trades,
}

/// Trades read from CSV. Allocates only when it meets a new symbol.
#[derive(Debug)]
pub struct CsvFeed<R> {
    reader: R,
    layout: CsvLayout,
    strict: bool,
    line: Vec<u8>,
    line_no: u64,
    /// Symbol used by exchange layouts (from the file name).
    default_symbol: u32,
    symbols: SymbolTable,
}

impl CsvFeed<BufReader<File>> {
    /// Opens `path`.
    ///
    /// # Errors
    /// The file cannot be opened.
    pub fn open(path: &Path, layout: CsvLayout, strict: bool) -> std::io::Result<Self> {
        let file = File::open(path)?;
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("UNKNOWN");
        let symbol = stem
            .split('-')
            .next()
            .filter(|s| !s.is_empty())
            .unwrap_or("UNKNOWN");
        Ok(Self::new(
            BufReader::with_capacity(1 << 16, file),
            layout,
            strict,
            symbol,
        ))
    }
}

impl<R: BufRead> CsvFeed<R> {
    /// A feed over `reader`; `symbol` names the ticks of exchange layouts.
    pub fn new(reader: R, layout: CsvLayout, strict: bool, symbol: &str) -> Self {
        let mut feed = Self {
            reader,
            layout,
            strict,
            line: Vec::with_capacity(MAX_LINE),
            line_no: 0,
            default_symbol: 0,
            symbols: SymbolTable::new(MAX_SYMBOLS),
        };
        feed.default_symbol = feed.intern(symbol).unwrap_or(0);
        feed
    }

    /// The layout in use (decided after the first row under `Auto`).
    pub fn layout(&self) -> CsvLayout {
        self.layout
    }

    fn intern(&mut self, name: &str) -> Option<u32> {
        self.symbols.intern(name)
    }

    /// Reads the next line into `self.line`, without its line ending; `false` at the end.
    fn read_line(&mut self) -> Result<Option<bool>, FeedError> {
        self.line.clear();
        let mut too_long = false;
        loop {
            let buf = self.reader.fill_buf()?;
            if buf.is_empty() {
                return Ok(if self.line.is_empty() && !too_long {
                    None
                } else {
                    Some(too_long)
                });
            }
            let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (&buf[..i], Some(i + 1)),
                None => (buf, None),
            };
            if self.line.len() + chunk.len() <= MAX_LINE {
                self.line.extend_from_slice(chunk);
            } else {
                too_long = true;
            }
            let consumed = done.unwrap_or(buf.len());
            self.reader.consume(consumed);
            if done.is_some() {
                if self.line.last() == Some(&b'\r') {
                    self.line.pop();
                }
                return Ok(Some(too_long));
            }
        }
    }

    fn reject(&self, reason: RejectReason) -> Result<FeedEvent, FeedError> {
        if self.strict {
            Err(FeedError::BadRow {
                line: self.line_no,
                reason,
            })
        } else {
            Ok(FeedEvent::Rejected(reason))
        }
    }

    fn parse(&mut self) -> Result<Tick, RejectReason> {
        let line = std::mem::take(&mut self.line);
        let result = self.parse_line(&line);
        self.line = line;
        result
    }

    fn parse_line(&mut self, line: &[u8]) -> Result<Tick, RejectReason> {
        let text = std::str::from_utf8(line).map_err(|_| RejectReason::BadUtf8)?;
        let mut fields: [&str; 8] = [""; 8];
        let mut n = 0;
        for f in text.split(',') {
            if n == fields.len() {
                return Err(RejectReason::FieldCount);
            }
            fields[n] = f.trim();
            n += 1;
        }
        let fields = &fields[..n];
        if self.layout == CsvLayout::Auto {
            self.layout = guess_layout(fields);
        }
        let (ts, symbol, price, size, side) = match (self.layout, n) {
            (CsvLayout::Generic, 4 | 5) => {
                let side = if n == 5 {
                    parse_side(fields[4])?
                } else {
                    Side::Unknown
                };
                let symbol = self.intern(fields[1]).ok_or(RejectReason::TooManySymbols)?;
                (fields[0], symbol, fields[2], fields[3], side)
            }
            (CsvLayout::AggTrades, 7 | 8) => (
                fields[5],
                self.default_symbol,
                fields[1],
                fields[2],
                maker_side(fields[6])?,
            ),
            (CsvLayout::Trades, 6 | 7) => (
                fields[4],
                self.default_symbol,
                fields[1],
                fields[2],
                maker_side(fields[5])?,
            ),
            _ => return Err(RejectReason::FieldCount),
        };
        let price: f64 = price.parse().map_err(|_| RejectReason::BadPrice)?;
        if !(price.is_finite() && price > 0.0) {
            return Err(RejectReason::BadPrice);
        }
        let size: f64 = size.parse().map_err(|_| RejectReason::BadSize)?;
        if !(size.is_finite() && size >= 0.0) {
            return Err(RejectReason::BadSize);
        }
        Ok(Tick {
            ts_ns: parse_ts(ts)?,
            symbol,
            price,
            size,
            side,
        })
    }
}

fn is_number(s: &str) -> bool {
    s.parse::<f64>().is_ok()
}

/// The layout of a header or first row.
fn guess_layout(fields: &[&str]) -> CsvLayout {
    let header = fields.first().is_some_and(|f| !is_number(f));
    if header {
        let has = |name: &str| fields.iter().any(|f| f.eq_ignore_ascii_case(name));
        return if has("first_trade_id") || has("agg_trade_id") {
            CsvLayout::AggTrades
        } else if has("quote_qty") {
            CsvLayout::Trades
        } else {
            CsvLayout::Generic
        };
    }
    match fields.len() {
        8 => CsvLayout::AggTrades,
        7 if fields[5].eq_ignore_ascii_case("true") || fields[5].eq_ignore_ascii_case("false") => {
            CsvLayout::Trades
        }
        7 => CsvLayout::AggTrades,
        6 => CsvLayout::Trades,
        _ if fields.get(1).is_some_and(|f| !is_number(f)) => CsvLayout::Generic,
        _ => CsvLayout::Generic,
    }
}

fn parse_side(s: &str) -> Result<Side, RejectReason> {
    Ok(match s {
        "" => Side::Unknown,
        _ if s.eq_ignore_ascii_case("buy") || s.eq_ignore_ascii_case("b") => Side::Buy,
        _ if s.eq_ignore_ascii_case("sell") || s.eq_ignore_ascii_case("s") => Side::Sell,
        _ => return Err(RejectReason::BadSide),
    })
}

fn maker_side(s: &str) -> Result<Side, RejectReason> {
    if s.eq_ignore_ascii_case("true") {
        Ok(Side::Sell)
    } else if s.eq_ignore_ascii_case("false") {
        Ok(Side::Buy)
    } else {
        Err(RejectReason::BadSide)
    }
}

/// A timestamp in s, ms, us or ns (by magnitude) to ns.
fn parse_ts(s: &str) -> Result<u64, RejectReason> {
    let v: f64 = s.parse().map_err(|_| RejectReason::BadTimestamp)?;
    if !(v.is_finite() && v >= 0.0) {
        return Err(RejectReason::BadTimestamp);
    }
    let scale = if v < 1e11 {
        1e9
    } else if v < 1e14 {
        1e6
    } else if v < 1e17 {
        1e3
    } else {
        1.0
    };
    let ns = v * scale;
    if ns >= u64::MAX as f64 {
        return Err(RejectReason::BadTimestamp);
    }
    // Integer inputs in ns keep every digit; others are exact to the f64 precision.
    Ok(if scale == 1.0 {
        s.parse::<u64>().unwrap_or(ns as u64)
    } else {
        ns as u64
    })
}

impl<R: BufRead + Send> Feed for CsvFeed<R> {
    fn next_event(&mut self) -> Result<FeedEvent, FeedError> {
        loop {
            let Some(too_long) = self.read_line()? else {
                return Ok(FeedEvent::End);
            };
            self.line_no += 1;
            if too_long {
                return self.reject(RejectReason::TooLong);
            }
            if self.line.iter().all(u8::is_ascii_whitespace) {
                continue; // blank lines are not rows
            }
            if self.line_no == 1 {
                let first = self.line.split(|&b| b == b',').next().unwrap_or_default();
                let is_header = std::str::from_utf8(first).is_ok_and(|f| !is_number(f.trim()));
                if is_header {
                    if self.layout == CsvLayout::Auto {
                        let text = String::from_utf8_lossy(&self.line).into_owned();
                        let fields: Vec<&str> = text.split(',').map(str::trim).collect();
                        self.layout = guess_layout(&fields);
                    }
                    continue;
                }
            }
            return match self.parse() {
                Ok(tick) => Ok(FeedEvent::Tick(tick)),
                Err(reason) => self.reject(reason),
            };
        }
    }

    fn names(&self) -> SymbolNames {
        self.symbols.names()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(text: &str, layout: CsvLayout, strict: bool) -> Vec<Result<FeedEvent, String>> {
        let mut feed = CsvFeed::new(text.as_bytes(), layout, strict, "BTCUSDT");
        let mut out = Vec::new();
        loop {
            match feed.next_event() {
                Ok(FeedEvent::End) => return out,
                Ok(e) => out.push(Ok(e)),
                Err(e) => {
                    out.push(Err(e.to_string()));
                    return out;
                }
            }
        }
    }

    #[test]
    fn agg_trades_with_and_without_header() {
        let rows = "1,42000.5,0.01,10,12,1700000000000,true,true\n2,42001,0.5,13,13,1700000000001,false,true\n";
        let with_header = format!(
            "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker,is_best_match\n{rows}"
        );
        for text in [rows.to_owned(), with_header] {
            let ev = events(&text, CsvLayout::Auto, false);
            assert_eq!(ev.len(), 2);
            let Ok(FeedEvent::Tick(t)) = ev[0] else {
                panic!("{ev:?}")
            };
            assert_eq!(
                (t.ts_ns, t.price, t.size, t.side),
                (1_700_000_000_000_000_000, 42000.5, 0.01, Side::Sell)
            );
            let Ok(FeedEvent::Tick(t)) = ev[1] else {
                panic!()
            };
            assert_eq!(t.side, Side::Buy);
        }
    }

    #[test]
    fn trades_layout_and_microsecond_times() {
        let text = "1,100.0,2.0,200.0,1735689600000000,false,true\n";
        let ev = events(text, CsvLayout::Auto, false);
        let Ok(FeedEvent::Tick(t)) = ev[0] else {
            panic!("{ev:?}")
        };
        assert_eq!(
            (t.ts_ns, t.price, t.side),
            (1_735_689_600_000_000_000, 100.0, Side::Buy)
        );
    }

    #[test]
    fn generic_layout_interns_symbols_and_counts_bad_rows() {
        let text = "timestamp,symbol,price,size,side\n\
                    1700000000,AAA,10,1,buy\n\
                    1700000001,BBB,-1,1,sell\n\
                    1700000002,AAA,10,x\n\
                    1700000003,AAA,10,1,sideways\n\
                    1700000004,AAA\n\
                    \n\
                    nonsense,AAA,10,1\n\
                    1700000005,BBB,11,2,S\r\n";
        let ev = events(text, CsvLayout::Auto, false);
        let reasons: Vec<_> = ev
            .iter()
            .filter_map(|e| match e {
                Ok(FeedEvent::Rejected(r)) => Some(*r),
                _ => None,
            })
            .collect();
        assert_eq!(
            reasons,
            [
                RejectReason::BadPrice,
                RejectReason::BadSize,
                RejectReason::BadSide,
                RejectReason::FieldCount,
                RejectReason::BadTimestamp
            ]
        );
        let ticks: Vec<Tick> = ev
            .iter()
            .filter_map(|e| match e {
                Ok(FeedEvent::Tick(t)) => Some(*t),
                _ => None,
            })
            .collect();
        assert_eq!(ticks.len(), 2);
        assert_eq!(
            (ticks[0].symbol, ticks[1].symbol, ticks[1].side),
            (1, 2, Side::Sell)
        );
    }

    #[test]
    fn strict_mode_stops_at_the_first_bad_row_with_its_line() {
        let text = "1700000000,AAA,10,1\n1700000001,AAA,0,1\n";
        let ev = events(text, CsvLayout::Generic, true);
        assert_eq!(
            ev.last().unwrap().as_ref().unwrap_err(),
            "line 2: rejected (bad_price)"
        );
    }

    #[test]
    fn overlong_lines_are_rejected_not_buffered() {
        let text = format!(
            "1700000000,AAA,10,1\n{}\n1700000001,AAA,10,1\n",
            "9".repeat(MAX_LINE * 3)
        );
        let ev = events(&text, CsvLayout::Generic, false);
        assert_eq!(ev.len(), 3);
        assert_eq!(ev[1], Ok(FeedEvent::Rejected(RejectReason::TooLong)));
    }
}

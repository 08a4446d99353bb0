//! [`CsvFeed`]: trades streamed from CSV, one reused line buffer, never the whole file.
//!
//! Layouts ([`CsvLayout`]):
//! * `Generic`: `timestamp,symbol,price,size[,side]`; side is `buy`/`sell`/`b`/`s` (any case)
//!   or empty.
//! * `AggTrades` (exchange aggregate-trade dumps):
//!   `agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker[,is_best_match]`.
//! * `Trades` (exchange trade dumps): `id,price,qty,quote_qty,time,is_buyer_maker[,is_best_match]`.
//!
//! Exchange dumps carry no symbol: it is taken from the file name up to the first `-`
//! (`BTCUSDT-aggTrades-2024-01-01.csv` -> `BTCUSDT`). `is_buyer_maker = true` means the seller
//! took liquidity: [`Side::Sell`].
//!
//! Lines end at `\n`, `\r\n` or a lone `\r`; the last line needs no line end. Blank lines are
//! skipped (they still count for line numbers). A UTF-8 byte order mark starting the file is
//! ignored.
//!
//! **Header.** The first non-blank row is a header, and skipped, when its fields are the column
//! names of a layout (any ASCII case, surrounding whitespace ignored): the names above, where
//! the generic layout also accepts `time`/`ts`, `sym`/`ticker`, `px` and
//! `qty`/`quantity`/`volume`/`amount`. Any other first row is data: if it does not parse it is a
//! counted rejection like any other row (and ends the feed under `strict`).
//!
//! **`Auto`** takes the layout from the header if there is one. Otherwise it takes the layout of
//! the first row, among the first [`LOOKAHEAD_ROWS`], that is valid under one (no row is valid
//! under two); the rows read ahead are then handed out in order, so none is lost. If none is
//! valid, the field count of the first row decides.
//!
//! **Numbers.** Timestamps are decimal numbers (optional `+`, fraction and exponent) in seconds,
//! milliseconds, microseconds or nanoseconds, told apart by the magnitude of their integer part
//! (below 1e11 s, 1e14 ms, 1e17 us, else ns), converted to ns in integer arithmetic: exact, with
//! digits below 1 ns truncated; a value beyond `u64::MAX` ns is `bad_timestamp`. Prices and
//! sizes are read as `f64`: a price must be finite and above 0, a size finite and at or above
//! +0 (`-0` is rejected). Bad rows are counted by [`RejectReason`]; with `strict` the first one
//! ends the feed with its line number.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use zerotick_core::symbols::SymbolNames;
use zerotick_core::{Feed, FeedError, FeedEvent, MAX_TS_NS, RejectReason, Side, Tick};

use crate::lines::Lines;
use crate::num;
use crate::symbols::Symbols;

/// Longest line accepted, in bytes (without its line end).
pub const MAX_LINE: usize = 4096;
/// Most distinct symbols one feed accepts.
pub const MAX_SYMBOLS: usize = zerotick_core::symbols::MAX_SYMBOLS;
/// Most rows `Auto` reads ahead looking for one that is valid under a layout.
pub const LOOKAHEAD_ROWS: usize = 16;
/// Most fields in a row of any layout.
const MAX_FIELDS: usize = 8;

/// Header names accepted per column, for each layout.
const GENERIC_HEADER: [&[&str]; 5] = [
    &["timestamp", "time", "ts"],
    &["symbol", "sym", "ticker"],
    &["price", "px"],
    &["size", "qty", "quantity", "volume", "amount"],
    &["side"],
];
const AGG_TRADES_HEADER: [&[&str]; 8] = [
    &["agg_trade_id"],
    &["price"],
    &["quantity", "qty"],
    &["first_trade_id"],
    &["last_trade_id"],
    &["transact_time", "time"],
    &["is_buyer_maker"],
    &["is_best_match"],
];
const TRADES_HEADER: [&[&str]; 7] = [
    &["id", "trade_id"],
    &["price"],
    &["qty", "quantity"],
    &["quote_qty"],
    &["time"],
    &["is_buyer_maker"],
    &["is_best_match"],
];

/// How the columns of a CSV file are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CsvLayout {
    /// Decide from the header or the first valid rows.
    #[default]
    Auto,
    /// `timestamp,symbol,price,size[,side]`.
    Generic,
    /// Aggregate-trade dumps (7 or 8 fields).
    AggTrades,
    /// Trade dumps (6 or 7 fields).
    Trades,
}

/// Trades read from CSV. Allocates only when it meets a new symbol, and while deciding the
/// layout (at most `LOOKAHEAD_ROWS` = 16 rows kept).
#[derive(Debug)]
pub struct CsvFeed<R> {
    reader: R,
    /// The layout asked for (`Auto` is decided again at each [`CsvFeed::restart`]).
    requested: CsvLayout,
    layout: CsvLayout,
    strict: bool,
    /// The current row (at most [`MAX_LINE`] bytes) and line numbers (rows read ahead come
    /// back with theirs).
    lines: Lines,
    /// The header and, under `Auto`, the layout are still to be decided.
    at_start: bool,
    /// The first row was a header.
    header: bool,
    /// Rows read while deciding the layout, handed out in order before reading on.
    ahead: VecDeque<Pending>,
    /// Symbol used by exchange layouts (from the file name).
    default_symbol: u32,
    symbols: Symbols,
}

/// A row read ahead.
#[derive(Debug)]
struct Pending {
    text: Vec<u8>,
    line_no: u64,
    too_long: bool,
}

/// A row's fields, checked; the symbol still to be interned (`None`: the file's symbol).
struct Row<'a> {
    ts_ns: u64,
    symbol: Option<&'a [u8]>,
    price: f64,
    size: f64,
    side: Side,
}

impl CsvFeed<BufReader<File>> {
    /// Opens `path`, read as it is (plain text). [`FileFeed::open`](crate::FileFeed::open)
    /// also reads compressed files.
    ///
    /// # Errors
    /// The file cannot be opened.
    pub fn open(path: &Path, layout: CsvLayout, strict: bool) -> std::io::Result<Self> {
        let file = File::open(path)?;
        Ok(Self::new(
            BufReader::with_capacity(1 << 16, file),
            layout,
            strict,
            symbol_from_path(path),
        ))
    }
}

/// The symbol of an exchange dump, from its file name: the name without its compression
/// extension (`.gz`, `.zst`, `.zip`, any case) and then without its last extension, up to
/// the first `-` (`BTCUSDT-aggTrades-2024-01-01.csv.gz` -> `BTCUSDT`); `UNKNOWN` if that is
/// empty or not UTF-8.
///
/// ```
/// use std::path::Path;
/// use zerotick_feeds::csv::symbol_from_path;
/// assert_eq!(symbol_from_path(Path::new("d/BTCUSDT-trades-2024-01.zip")), "BTCUSDT");
/// assert_eq!(symbol_from_path(Path::new("ETHUSDT.csv.gz")), "ETHUSDT");
/// assert_eq!(symbol_from_path(Path::new("-x.csv")), "UNKNOWN");
/// ```
pub fn symbol_from_path(path: &Path) -> &str {
    symbol_from_name(path).unwrap_or("UNKNOWN")
}

/// [`symbol_from_path`] without the fallback: `None` where that gives `UNKNOWN`.
pub(crate) fn symbol_from_name(path: &Path) -> Option<&str> {
    let mut name = path.file_name().and_then(|s| s.to_str())?;
    for ext in [".gz", ".zst", ".zip"] {
        let cut = name.len().saturating_sub(ext.len());
        if name.is_char_boundary(cut) && name[cut..].eq_ignore_ascii_case(ext) {
            name = &name[..cut];
            break;
        }
    }
    let stem = Path::new(name)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(name);
    stem.split('-').next().filter(|s| !s.is_empty())
}

impl<R: BufRead> CsvFeed<R> {
    /// A feed over `reader`; `symbol` names the ticks of exchange layouts.
    pub fn new(reader: R, layout: CsvLayout, strict: bool, symbol: &str) -> Self {
        let mut feed = Self {
            reader,
            requested: layout,
            layout,
            strict,
            lines: Lines::new(MAX_LINE, MAX_LINE),
            at_start: true,
            header: false,
            ahead: VecDeque::new(),
            default_symbol: 0,
            symbols: Symbols::new(MAX_SYMBOLS),
        };
        feed.default_symbol = feed.intern(symbol).unwrap_or(0);
        feed
    }

    /// The layout in use (under `Auto`, decided at the first event).
    pub fn layout(&self) -> CsvLayout {
        self.layout
    }

    /// Whether the first row was a header (skipped: neither a tick nor a rejection). Every
    /// other non-blank line yields exactly one tick or one rejection.
    pub fn skipped_header(&self) -> bool {
        self.header
    }

    /// The 1-based line number of the row of the last event (0 before the first).
    pub fn line(&self) -> u64 {
        self.lines.row_no
    }

    /// The reader.
    pub fn reader(&self) -> &R {
        &self.reader
    }

    /// The reader, to change (for instance to move on to the next file it holds, then
    /// [`CsvFeed::restart`]).
    pub fn reader_mut(&mut self) -> &mut R {
        &mut self.reader
    }

    /// Starts over on what the reader reads next, as on a new file (line numbers from 1, a
    /// header may follow, `Auto` decides the layout again), keeping the symbols met so far.
    /// For a reader that holds several files in turn, such as the members of a zip.
    pub fn restart(&mut self) {
        self.restart_as(None);
    }

    /// [`CsvFeed::restart`], and with `Some(symbol)` the ticks of exchange layouts are
    /// named `symbol` from here on (as [`CsvFeed::new`]'s `symbol`), for a reader whose
    /// files each hold one symbol, such as a zip of exchange dumps.
    pub fn restart_as(&mut self, symbol: Option<&str>) {
        if let Some(name) = symbol {
            // Past the symbol limit the previous name stays, as `new` keeps 0.
            if let Some(id) = self.intern(name) {
                self.default_symbol = id;
            }
        }
        self.layout = self.requested;
        self.lines.restart();
        self.at_start = true;
        self.header = false;
        self.ahead.clear();
    }

    fn intern(&mut self, name: &str) -> Option<u32> {
        self.symbols.intern(name)
    }

    /// Reads the next row (a line that is not blank) into the line buffer: `Some(too_long)`,
    /// or `None` at the end.
    fn read_row(&mut self) -> Result<Option<bool>, FeedError> {
        self.lines.read_row(&mut self.reader)
    }

    /// Decides the header and, under `Auto`, the layout from the first rows; the data rows
    /// read on the way wait in `self.ahead`.
    #[cold]
    #[inline(never)]
    fn start(&mut self) -> Result<(), FeedError> {
        self.at_start = false;
        let Some(too_long) = self.read_row()? else {
            return Ok(());
        };
        if !too_long && let Some(layout) = header_layout(&self.lines.line) {
            self.header = true;
            if self.layout == CsvLayout::Auto {
                self.layout = layout;
            }
            return Ok(());
        }
        let mut fallback = None;
        let result = self.look_ahead(too_long, &mut fallback);
        if self.layout == CsvLayout::Auto {
            self.layout = fallback.unwrap_or(CsvLayout::Generic);
        }
        result
    }

    /// Keeps the current row and, under `Auto`, reads on until a row is valid under a layout
    /// (which it then sets), [`LOOKAHEAD_ROWS`] rows are kept or the input ends. `fallback`
    /// gets the layout the first row's field count suggests.
    fn look_ahead(
        &mut self,
        mut too_long: bool,
        fallback: &mut Option<CsvLayout>,
    ) -> Result<(), FeedError> {
        loop {
            self.ahead.push_back(Pending {
                text: self.lines.line.clone(),
                line_no: self.lines.row_no,
                too_long,
            });
            if self.layout != CsvLayout::Auto {
                return Ok(());
            }
            if !too_long {
                if let Some(layout) = valid_layout(&self.lines.line) {
                    self.layout = layout;
                    return Ok(());
                }
                fallback.get_or_insert_with(|| shape_layout(&self.lines.line));
            }
            if self.ahead.len() >= LOOKAHEAD_ROWS {
                return Ok(());
            }
            match self.read_row()? {
                Some(t) => too_long = t,
                None => return Ok(()),
            }
        }
    }

    fn reject(&self, reason: RejectReason) -> Result<FeedEvent, FeedError> {
        self.lines.reject(self.strict, reason)
    }

    /// The event of a row parsed to `result`: its tick, or its rejection.
    #[inline]
    fn event(&self, result: Result<Tick, RejectReason>) -> Result<FeedEvent, FeedError> {
        match result {
            Ok(tick) => Ok(FeedEvent::Tick(tick)),
            Err(reason) => self.reject(reason),
        }
    }
}

/// A row under `layout` as a tick, its symbol interned in `symbols` (`default_symbol` for
/// layouts without one); a row the line reader cut short (`too_long`) is rejected whole.
#[inline]
fn parse_row(
    layout: CsvLayout,
    symbols: &mut Symbols,
    default_symbol: u32,
    too_long: bool,
    line: &[u8],
) -> Result<Tick, RejectReason> {
    if too_long {
        return Err(RejectReason::TooLong);
    }
    let mut fields: Fields = [b""; MAX_FIELDS];
    let n = split_fields(line, &mut fields)?;
    let row = parse_fields(layout, &fields[..n])?;
    let symbol = match row.symbol {
        Some(name) => symbols.intern_bytes(name)?,
        None => default_symbol,
    };
    Ok(Tick {
        ts_ns: row.ts_ns,
        symbol,
        price: row.price,
        size: row.size,
        side: row.side,
    })
}

/// A row's fields, as bytes of the line.
type Fields<'a> = [&'a [u8]; MAX_FIELDS];

/// Splits a row (which must be UTF-8) into `out`, each field trimmed of whitespace as
/// `str::trim` trims it; returns how many.
///
/// An ASCII row (the usual one) is split and trimmed byte by byte; any other is checked as
/// UTF-8 and trimmed of Unicode whitespace by `str::trim`. One pass, eight bytes at a time,
/// finds the commas, whether the row is ASCII (a comma is the same byte in any UTF-8 row)
/// and whether it has any byte at or below a space (the only ASCII bytes `str::trim` trims):
/// a row with none (the usual one) needs no trimming.
#[inline]
fn split_fields<'a>(line: &'a [u8], out: &mut Fields<'a>) -> Result<usize, RejectReason> {
    let mut n = 0;
    let mut start = 0;
    let mut push = |end: usize, start: &mut usize| {
        let slot = out.get_mut(n).ok_or(())?;
        *slot = &line[*start..end];
        n += 1;
        *start = end + 1;
        Ok(())
    };
    // Every byte's high bit gathered in `high`; `low` nonzero when a byte is below 0x21.
    let (mut high, mut low) = (0u64, 0u64);
    let mut chunks = line.chunks_exact(8);
    let mut i = 0;
    for chunk in &mut chunks {
        let w = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        high |= w;
        // The "has a byte below n" test (n = 0x21): nonzero exactly when some lane is.
        low |= w.wrapping_sub(num::splat(0x21)) & !w;
        let mut commas = comma_lanes(w);
        while commas != 0 {
            push(i + (commas.trailing_zeros() / 8) as usize, &mut start)
                .map_err(|()| too_many_fields(line))?;
            commas &= commas - 1;
        }
        i += 8;
    }
    for (j, &c) in chunks.remainder().iter().enumerate() {
        high |= u64::from(c);
        low |= u64::from(c <= b' ') << 7;
        if c == b',' {
            push(i + j, &mut start).map_err(|()| too_many_fields(line))?;
        }
    }
    if high & num::splat(0x80) != 0 {
        return split_unicode(line, out);
    }
    push(line.len(), &mut start).map_err(|()| RejectReason::FieldCount)?;
    if low & num::splat(0x80) != 0 {
        for f in &mut out[..n] {
            *f = trim_ascii(f);
        }
    }
    Ok(n)
}

/// Why a row with more than [`MAX_FIELDS`] fields is rejected: `bad_utf8` first, as
/// [`split_unicode`] checks it first.
#[cold]
#[inline(never)]
fn too_many_fields(line: &[u8]) -> RejectReason {
    if std::str::from_utf8(line).is_ok() {
        RejectReason::FieldCount
    } else {
        RejectReason::BadUtf8
    }
}

/// The high bit of each byte of `w` that is a comma, and no other bit (exact per lane: no
/// carry crosses lanes).
#[inline(always)]
fn comma_lanes(w: u64) -> u64 {
    const LOW7: u64 = num::splat(0x7F);
    let v = w ^ num::splat(b',');
    // A lane's high bit ends up clear exactly when the lane is 0.
    !(((v & LOW7) + LOW7) | v | LOW7)
}

/// [`split_fields`] for a row with bytes above ASCII.
#[cold]
#[inline(never)]
fn split_unicode<'a>(line: &'a [u8], out: &mut Fields<'a>) -> Result<usize, RejectReason> {
    let text = std::str::from_utf8(line).map_err(|_| RejectReason::BadUtf8)?;
    let mut n = 0;
    for f in text.split(',') {
        if n == out.len() {
            return Err(RejectReason::FieldCount);
        }
        out[n] = f.trim().as_bytes();
        n += 1;
    }
    Ok(n)
}

/// `f` without the ASCII bytes that `str::trim` trims at either end (Unicode `White_Space`
/// within ASCII: tab, line feed, vertical tab, form feed, carriage return, space).
#[inline]
fn trim_ascii(f: &[u8]) -> &[u8] {
    let space = |c: &u8| matches!(c, b'\t'..=b'\r' | b' ');
    let (mut s, mut e) = (0, f.len());
    while s < e && space(&f[s]) {
        s += 1;
    }
    while e > s && space(&f[e - 1]) {
        e -= 1;
    }
    &f[s..e]
}

/// Checks a row's fields under `layout` (never `Auto`: that finds no fields).
#[inline(always)]
fn parse_fields<'a>(layout: CsvLayout, fields: &[&'a [u8]]) -> Result<Row<'a>, RejectReason> {
    let (ts, symbol, price, size, side) = match (layout, fields.len()) {
        (CsvLayout::Generic, n @ (4 | 5)) => {
            let side = if n == 5 {
                parse_side(fields[4])?
            } else {
                Side::Unknown
            };
            (fields[0], Some(fields[1]), fields[2], fields[3], side)
        }
        (CsvLayout::AggTrades, 7 | 8) => {
            let side = maker_side(fields[6])?;
            (fields[5], None, fields[1], fields[2], side)
        }
        (CsvLayout::Trades, 6 | 7) => {
            let side = maker_side(fields[5])?;
            (fields[4], None, fields[1], fields[2], side)
        }
        _ => return Err(RejectReason::FieldCount),
    };
    let price = num::decimal(price).ok_or(RejectReason::BadPrice)?;
    if !(price.is_finite() && price > 0.0) {
        return Err(RejectReason::BadPrice);
    }
    let size = num::decimal(size).ok_or(RejectReason::BadSize)?;
    // `is_sign_positive` also rejects -0: a size written with a minus sign is not a size.
    if !(size.is_finite() && size.is_sign_positive()) {
        return Err(RejectReason::BadSize);
    }
    Ok(Row {
        ts_ns: parse_ts(ts)?,
        symbol,
        price,
        size,
        side,
    })
}

/// The layout whose header `line` is, if any.
fn header_layout(line: &[u8]) -> Option<CsvLayout> {
    let mut fields: Fields = [b""; MAX_FIELDS];
    let n = split_fields(line, &mut fields).ok()?;
    let fields = &fields[..n];
    let is = |names: &[&[&str]], min: usize| {
        (min..=names.len()).contains(&n)
            && fields.iter().zip(names).all(|(f, ok)| {
                ok.iter()
                    .any(|name| f.eq_ignore_ascii_case(name.as_bytes()))
            })
    };
    if is(&GENERIC_HEADER, 4) {
        Some(CsvLayout::Generic)
    } else if is(&AGG_TRADES_HEADER, 7) {
        Some(CsvLayout::AggTrades)
    } else if is(&TRADES_HEADER, 6) {
        Some(CsvLayout::Trades)
    } else {
        None
    }
}

/// The layout under which `line` is a valid row, if any (at most one is).
fn valid_layout(line: &[u8]) -> Option<CsvLayout> {
    let mut fields: Fields = [b""; MAX_FIELDS];
    let n = split_fields(line, &mut fields).ok()?;
    [CsvLayout::Generic, CsvLayout::AggTrades, CsvLayout::Trades]
        .into_iter()
        .find(|&layout| parse_fields(layout, &fields[..n]).is_ok())
}

/// The layout a row's field count suggests.
fn shape_layout(line: &[u8]) -> CsvLayout {
    let mut fields: Fields = [b""; MAX_FIELDS];
    let Ok(n) = split_fields(line, &mut fields) else {
        return CsvLayout::Generic;
    };
    let is_bool = |f: &[u8]| f.eq_ignore_ascii_case(b"true") || f.eq_ignore_ascii_case(b"false");
    match n {
        8 => CsvLayout::AggTrades,
        7 if is_bool(fields[5]) => CsvLayout::Trades,
        7 => CsvLayout::AggTrades,
        6 => CsvLayout::Trades,
        _ => CsvLayout::Generic,
    }
}

fn parse_side(s: &[u8]) -> Result<Side, RejectReason> {
    Ok(match s {
        b"" => Side::Unknown,
        _ if s.eq_ignore_ascii_case(b"buy") || s.eq_ignore_ascii_case(b"b") => Side::Buy,
        _ if s.eq_ignore_ascii_case(b"sell") || s.eq_ignore_ascii_case(b"s") => Side::Sell,
        _ => return Err(RejectReason::BadSide),
    })
}

#[inline]
fn maker_side(s: &[u8]) -> Result<Side, RejectReason> {
    // Each byte of `true` and `false` is a letter: a byte OR 0x20 is the lower-case letter
    // exactly when the byte is that letter in either case, so one word compare is
    // `eq_ignore_ascii_case`.
    if let Ok(&w) = <&[u8; 4]>::try_from(s) {
        if u32::from_le_bytes(w) | 0x2020_2020 == u32::from_le_bytes(*b"true") {
            return Ok(Side::Sell);
        }
    } else if let Some((&first, rest)) = s.split_first()
        && let Ok(&w) = <&[u8; 4]>::try_from(rest)
        && first | 0x20 == b'f'
        && u32::from_le_bytes(w) | 0x2020_2020 == u32::from_le_bytes(*b"alse")
    {
        return Ok(Side::Buy);
    }
    maker_side_slow(s)
}

/// [`maker_side`] the plain way (the fast test found neither word).
#[cold]
#[inline(never)]
fn maker_side_slow(s: &[u8]) -> Result<Side, RejectReason> {
    if s.eq_ignore_ascii_case(b"true") {
        Ok(Side::Sell)
    } else if s.eq_ignore_ascii_case(b"false") {
        Ok(Side::Buy)
    } else {
        Err(RejectReason::BadSide)
    }
}

/// Significant digits of a timestamp kept; further digits are below 1 ns for any value that
/// fits `u64` ns (at most 20 digits above it), so dropping them truncates exactly.
const TS_DIGITS: u32 = 36;

/// `10^k` as a `u128`, `None` when it does not fit (or `k` is negative).
fn pow10(k: i64) -> Option<u128> {
    10u128.checked_pow(u32::try_from(k).ok()?)
}

/// `mantissa * 10^exp10`, truncated toward zero; `None` when it does not fit a `u128`.
fn scale(mantissa: u128, exp10: i64) -> Option<u128> {
    if exp10 >= 0 {
        mantissa.checked_mul(pow10(exp10)?)
    } else {
        Some(pow10(-exp10).map_or(0, |p| mantissa / p))
    }
}

/// The exponent of ten that turns a whole number of the unit its magnitude tells (s, ms, us,
/// ns) into ns.
#[inline]
fn unit_exp(whole: u128) -> i64 {
    if whole < 100_000_000_000 {
        9 // s
    } else if whole < 100_000_000_000_000 {
        6 // ms
    } else if whole < 100_000_000_000_000_000 {
        3 // us
    } else {
        0 // ns
    }
}

/// A timestamp in s, ms, us or ns (by the magnitude of its integer part) to ns, in integer
/// arithmetic: `[+]digits[.digits][(e|E)[+|-]digits]` (a digit on one side of the point), at
/// most [`MAX_TS_NS`].
///
/// A whole number of at most 19 digits (what exchanges write) takes a fast path in `u64`
/// arithmetic with the same result.
#[inline]
pub(crate) fn parse_ts(b: &[u8]) -> Result<u64, RejectReason> {
    if let Some(whole) = num::whole(b) {
        let unit = unit_exp(u128::from(whole));
        // `unit` is 0, 3, 6 or 9.
        return whole
            .checked_mul(num::POW10_INT[unit as usize])
            .filter(|&ns| ns <= MAX_TS_NS)
            .ok_or(RejectReason::BadTimestamp);
    }
    parse_ts_general(b)
}

/// [`parse_ts`] for any number it accepts.
#[cold]
#[inline(never)]
fn parse_ts_general(b: &[u8]) -> Result<u64, RejectReason> {
    let bad = RejectReason::BadTimestamp;
    let b = b.strip_prefix(b"+").unwrap_or(b);
    // Value = mantissa * 10^exp10, from at most TS_DIGITS significant digits.
    let (mut mantissa, mut exp10, mut kept, mut digits) = (0u128, 0i64, 0u32, 0usize);
    let mut point = false;
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'0'..=b'9' => {
                digits += 1;
                if kept < TS_DIGITS {
                    kept += u32::from(mantissa != 0 || c != b'0');
                    mantissa = mantissa * 10 + u128::from(c - b'0');
                    exp10 -= i64::from(point);
                } else if !point {
                    exp10 += 1; // an integer digit dropped: the value keeps its magnitude
                }
            }
            b'.' if !point => point = true,
            _ => break,
        }
        i += 1;
    }
    if digits == 0 {
        return Err(bad);
    }
    if let Some(rest) = b[i..].strip_prefix(b"e").or(b[i..].strip_prefix(b"E")) {
        let (negative, rest) = match rest.first() {
            Some(b'-') => (true, &rest[1..]),
            Some(b'+') => (false, &rest[1..]),
            _ => (false, rest),
        };
        if rest.is_empty() || !rest.iter().all(u8::is_ascii_digit) {
            return Err(bad);
        }
        // Saturates far beyond any u64 ns (and below i64 overflow).
        let e = rest
            .iter()
            .fold(0i64, |e, &c| (e * 10 + i64::from(c - b'0')).min(1_000_000));
        exp10 += if negative { -e } else { e };
    } else if i < b.len() {
        return Err(bad);
    }
    let whole = scale(mantissa, exp10).ok_or(bad)?;
    let ns = scale(mantissa, exp10 + unit_exp(whole)).ok_or(bad)?;
    u64::try_from(ns)
        .ok()
        .filter(|&ns| ns <= MAX_TS_NS)
        .ok_or(bad)
}

impl<R: BufRead + Send> Feed for CsvFeed<R> {
    fn next_event(&mut self) -> Result<FeedEvent, FeedError> {
        if self.at_start {
            self.start()?;
        }
        if let Some(row) = self.ahead.pop_front() {
            self.lines.row_no = row.line_no;
            let result = parse_row(
                self.layout,
                &mut self.symbols,
                self.default_symbol,
                row.too_long,
                &row.text,
            );
            return self.event(result);
        }
        // The row in place in the reader's buffer (nearly always): parsed, then consumed.
        let Some(row) = self.lines.next_row(&mut self.reader)? else {
            return Ok(FeedEvent::End);
        };
        let result = parse_row(
            self.layout,
            &mut self.symbols,
            self.default_symbol,
            row.too_long,
            row.text,
        );
        self.lines.done(&mut self.reader);
        self.event(result)
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

    proptest::proptest! {
        /// Splitting eight bytes at a time gives the fields `str::split` and `str::trim` give.
        #[test]
        fn split_fields_equals_str_split(line in "[a-z0-9 ,\t\n\x0b\x0c\r\x01\x1f!.-]{0,40}") {
            let mut fields: Fields = [b""; MAX_FIELDS];
            let want: Vec<&str> = line.split(',').map(str::trim).collect();
            match split_fields(line.as_bytes(), &mut fields) {
                Ok(n) => {
                    let got: Vec<&[u8]> = fields[..n].to_vec();
                    let want: Vec<&[u8]> = want.iter().map(|f| f.as_bytes()).collect();
                    proptest::prop_assert_eq!(got, want);
                }
                Err(e) => {
                    proptest::prop_assert_eq!(e, RejectReason::FieldCount);
                    proptest::prop_assert!(want.len() > MAX_FIELDS);
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

    fn ticks(ev: &[Result<FeedEvent, String>]) -> Vec<Tick> {
        ev.iter()
            .filter_map(|e| match e {
                Ok(FeedEvent::Tick(t)) => Some(*t),
                _ => None,
            })
            .collect()
    }

    fn kinds(ev: &[Result<FeedEvent, String>]) -> Vec<Result<Option<RejectReason>, String>> {
        ev.iter()
            .map(|e| match e {
                Ok(FeedEvent::Tick(_)) => Ok(None),
                Ok(FeedEvent::Rejected(r)) => Ok(Some(*r)),
                Ok(other) => Err(format!("{other:?}")),
                Err(e) => Err(e.clone()),
            })
            .collect()
    }

    #[test]
    fn a_bom_before_a_headerless_file_is_stripped_and_the_row_kept() {
        let text = "\u{feff}1700000000,AAA,10,1\n1700000001,AAA,11,1\n";
        for layout in [CsvLayout::Auto, CsvLayout::Generic] {
            let ev = events(text, layout, true);
            assert_eq!(kinds(&ev), [Ok(None), Ok(None)], "{layout:?}");
            assert_eq!(ticks(&ev)[0].ts_ns, 1_700_000_000_000_000_000);
        }
        let with_header = "\u{feff}timestamp,symbol,price,size\n1700000000,AAA,10,1\n";
        assert_eq!(
            kinds(&events(with_header, CsvLayout::Auto, true)),
            [Ok(None)]
        );
    }

    #[test]
    fn a_first_row_that_is_neither_header_nor_data_is_a_counted_rejection() {
        for first in [
            "17000000x0,AAA,10,1",
            "date,sym,last,vol",
            "timestamp,symbol,price,size,side,extra",
        ] {
            let text = format!("{first}\n1700000001,AAA,11,1\n");
            let ev = events(&text, CsvLayout::Auto, false);
            let k = kinds(&ev);
            assert_eq!(k.len(), 2, "{first}: {ev:?}");
            assert!(matches!(k[0], Ok(Some(_))), "{first}: {ev:?}");
            assert_eq!(k[1], Ok(None), "{first}");
            let strict = events(&text, CsvLayout::Auto, true);
            assert!(
                strict[0].as_ref().is_err_and(|e| e.starts_with("line 1:")),
                "{first}: {strict:?}"
            );
        }
    }

    #[test]
    fn known_headers_of_every_layout_are_skipped_in_any_case() {
        let agg = "1,42000.5,0.01,10,12,1700000000000,true,true\n";
        let trades = "1,100.0,2.0,200.0,1735689600000000,false\n";
        let generic = "1700000000,AAA,10,1,buy\n";
        for (header, row, layout) in [
            (
                "agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker",
                agg,
                CsvLayout::AggTrades,
            ),
            (
                "ID, Price, Qty, Quote_Qty, Time, Is_Buyer_Maker",
                trades,
                CsvLayout::Trades,
            ),
            (
                "Timestamp,Symbol,Price,Size,Side",
                generic,
                CsvLayout::Generic,
            ),
            ("time,symbol,price,qty", generic, CsvLayout::Generic),
        ] {
            let text = format!("\n{header}\r\n{row}");
            let mut feed = CsvFeed::new(text.as_bytes(), CsvLayout::Auto, true, "X");
            assert!(
                matches!(feed.next_event(), Ok(FeedEvent::Tick(_))),
                "{header}"
            );
            assert_eq!(feed.layout(), layout, "{header}");
            assert!(matches!(feed.next_event(), Ok(FeedEvent::End)));
        }
    }

    #[test]
    fn auto_layout_is_decided_by_the_first_valid_row_without_losing_rows() {
        let text = "1,42000.5,0.01\n\
                    2,42001,0.5,13,13,1700000000001,false,true\n\
                    3,42002,0.5,14,14,1700000000002,true,true\n\
                    4,42003,0.5,15,15,1700000000003,true\n";
        let ev = events(text, CsvLayout::Auto, false);
        assert_eq!(
            kinds(&ev),
            [
                Ok(Some(RejectReason::FieldCount)),
                Ok(None),
                Ok(None),
                Ok(None)
            ]
        );
        let prices: Vec<f64> = ticks(&ev).iter().map(|t| t.price).collect();
        assert_eq!(prices, [42001.0, 42002.0, 42003.0]);
        let strict = events(text, CsvLayout::Auto, true);
        assert_eq!(
            strict[0].as_ref().unwrap_err(),
            "line 1: rejected (field_count)"
        );
    }

    #[test]
    fn look_ahead_rows_come_out_in_order_with_their_line_numbers() {
        // Four bad rows (one too long) and a blank line before the first valid one.
        let text = format!(
            "1,2\n\n{}\nx,AAA,1,1\n1700000000,AAA,-1,1\n1700000001,BBB,10,1\n1700000002,AAA,10,bad\n",
            "9".repeat(MAX_LINE + 1)
        );
        let ev = events(&text, CsvLayout::Auto, false);
        use RejectReason::*;
        assert_eq!(
            kinds(&ev),
            [
                Ok(Some(FieldCount)),
                Ok(Some(TooLong)),
                Ok(Some(BadTimestamp)),
                Ok(Some(BadPrice)),
                Ok(None),
                Ok(Some(BadSize))
            ]
        );
        let ev = events(&text, CsvLayout::Auto, true);
        assert_eq!(ev, [Err("line 1: rejected (field_count)".to_owned())]);
        let skip_first = &text[4..];
        let ev = events(skip_first, CsvLayout::Auto, true);
        assert_eq!(ev, [Err("line 2: rejected (too_long)".to_owned())]);
    }

    #[test]
    fn cr_only_crlf_and_lf_line_ends_are_all_line_ends() {
        let text = "1700000000,AAA,10,1\r1700000001,AAA,11,1\r\n1700000002,AAA,12,1\n\r\r1700000003,AAA,13,1\r";
        let ev = events(text, CsvLayout::Auto, true);
        assert_eq!(kinds(&ev), vec![Ok(None); 4]);
        let bad = "1700000000,AAA,10,1\r1700000001,AAA,11,1\r\n\r1700000002,AAA,0,1";
        let ev = events(bad, CsvLayout::Auto, true);
        assert_eq!(
            ev.last().unwrap().as_ref().unwrap_err(),
            "line 4: rejected (bad_price)"
        );
    }

    /// Hands out its bytes a few at a time, in a fixed irregular pattern.
    struct Trickle<'a>(&'a [u8], usize);

    impl std::io::Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.1 += 1;
            let n = (self.1 % 3 + 1).min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn reading_in_small_chunks_gives_the_same_events_as_reading_whole() {
        let text = format!(
            "\u{feff}timestamp,symbol,price,size\r\n1700000000,AAA,10,1\r\r\n1700000001,BBB,x,1\r{}\n\
             1700000002,AAA,10,1\n\r\n1700000003,AAA,10,1",
            "7".repeat(MAX_LINE + 5)
        );
        for strict in [false, true] {
            let whole = events(&text, CsvLayout::Auto, strict);
            for cap in [1, 2, 3, 7] {
                let reader = std::io::BufReader::with_capacity(cap, Trickle(text.as_bytes(), 0));
                let mut feed = CsvFeed::new(reader, CsvLayout::Auto, strict, "BTCUSDT");
                let mut chunked = Vec::new();
                loop {
                    match feed.next_event() {
                        Ok(FeedEvent::End) => break,
                        Ok(e) => chunked.push(Ok(e)),
                        Err(e) => {
                            chunked.push(Err(e.to_string()));
                            break;
                        }
                    }
                }
                assert_eq!(chunked, whole, "capacity {cap}, strict {strict}");
            }
        }
        let whole = events(&text, CsvLayout::Auto, false);
        assert_eq!(
            kinds(&whole),
            [
                Ok(None),
                Ok(Some(RejectReason::BadPrice)),
                Ok(Some(RejectReason::TooLong)),
                Ok(None),
                Ok(None)
            ]
        );
    }

    #[test]
    fn timestamps_in_every_unit_stay_on_their_integer_grid() {
        for (text, ns) in [
            ("1723161255", 1_723_161_255_000_000_000),
            ("1723161255617", 1_723_161_255_617_000_000),
            ("1723161255617123", 1_723_161_255_617_123_000),
            ("1723161255617123456", 1_723_161_255_617_123_456),
            ("1723161255.617123456", 1_723_161_255_617_123_456),
            ("1723161255.1", 1_723_161_255_100_000_000),
            ("1723161255617.5", 1_723_161_255_617_500_000),
            ("1723161255617123.999", 1_723_161_255_617_123_999),
            ("1723161255617123456.9", 1_723_161_255_617_123_456),
            ("1.723161255617e12", 1_723_161_255_617_000_000),
            ("+1723161255617", 1_723_161_255_617_000_000),
            ("0", 0),
            ("0.000000001", 1),
            ("0.0000000019", 1),
            ("9223372036.854775807", MAX_TS_NS),
            ("9223372036854775807", MAX_TS_NS),
            ("0009223372036854775807.000", MAX_TS_NS),
        ] {
            assert_eq!(parse_ts(text.as_bytes()), Ok(ns), "{text}");
        }
    }

    #[test]
    fn timestamps_that_overflow_or_are_not_plain_numbers_are_rejected() {
        for text in [
            // Past i64::MAX ns (2262-04-11), what a Parquet or Arrow timestamp holds.
            "9223372036854775808",
            "9223372036.854775808",
            "9999999999.9",
            "18446744073709551615",
            "0018446744073709551615.000",
            "18446744073709551616",
            "99999999999.9",
            "99999999999999999999999999999999999999999999999",
            "1e400",
            "1e99999999999999999999",
            "-1",
            "-0",
            "-0.0",
            "NaN",
            "inf",
            "infinity",
            "",
            ".",
            "+",
            "1e",
            "1e+",
            "1.2.3",
            "0x10",
            "1_000",
            "1 000",
            "٣",
            "++1",
        ] {
            assert_eq!(
                parse_ts(text.as_bytes()),
                Err(RejectReason::BadTimestamp),
                "{text:?}"
            );
        }
    }

    #[test]
    fn prices_and_sizes_reject_nan_infinities_and_negative_zero() {
        use RejectReason::*;
        let cases = [
            ("1700000000,AAA,NaN,1", Some(BadPrice)),
            ("1700000000,AAA,inf,1", Some(BadPrice)),
            ("1700000000,AAA,1e400,1", Some(BadPrice)),
            ("1700000000,AAA,-0,1", Some(BadPrice)),
            ("1700000000,AAA,1e-400,1", Some(BadPrice)),
            ("1700000000,AAA,10,-0", Some(BadSize)),
            ("1700000000,AAA,10,-0.0", Some(BadSize)),
            ("1700000000,AAA,10,NaN", Some(BadSize)),
            ("1700000000,AAA,10,-inf", Some(BadSize)),
            ("1700000000,AAA,10,0", None),
            (" +1700000000 ,\tAAA , +10 , +1 ", None),
        ];
        for (row, want) in cases {
            let ev = events(&format!("{row}\n"), CsvLayout::Generic, false);
            assert_eq!(kinds(&ev), [Ok(want)], "{row}");
        }
    }

    #[test]
    fn a_final_line_without_newline_and_blank_lines_keep_line_numbers() {
        let text = "1700000000,AAA,10,1\n \n\t\r\n\n1700000001,AAA,0,1";
        let ev = events(text, CsvLayout::Generic, false);
        assert_eq!(kinds(&ev), [Ok(None), Ok(Some(RejectReason::BadPrice))]);
        let ev = events(text, CsvLayout::Generic, true);
        assert_eq!(
            ev.last().unwrap().as_ref().unwrap_err(),
            "line 5: rejected (bad_price)"
        );
    }
}

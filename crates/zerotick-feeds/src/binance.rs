//! [`BinanceJsonFeed`]: Binance websocket recordings, one JSON message per line, as market
//! events, without a heap allocation per message.
//!
//! **Lines.** Each line is one message: a combined-stream wrapper
//! `{"stream":"btcusdt@trade","data":{...}}` (the payload is `data`; `stream` is not read) or a
//! bare payload `{...}`, optionally preceded by the local receive time and one space, as
//! data collectors write them (`1700000000123456789 {"e":"trade",...}`; nanoseconds, or any
//! unit the CSV timestamps accept, told by magnitude). Blank lines are skipped; lines end as
//! in CSV (`\n`, `\r\n`, `\r`); a line may be up to [`MAX_JSON_LINE`] bytes.
//!
//! **Messages** (told by `e`, or by their fields where Binance sends no `e`):
//!
//! | payload | event | time | other fields |
//! |---|---|---|---|
//! | `trade`, `aggTrade` | [`Tick`] | `T` (else `E`), ms | `s`, `p`, `q`; `m` true: the seller took liquidity ([`Side::Sell`]), absent: unknown |
//! | `bookTicker` (spot: no `e`, fields `u s b B a A`) | [`Quote`] | `T`, else `E`, else the receive time | `u` as the update id |
//! | `depthUpdate` | one [`BookDelta`] per level, bids then asks | `E` (else `T`), ms | `U`/`u` first/last update id on each; `b`/`a`: `[[price, qty], ...]`, qty 0 removes |
//!
//! Numbers are read from their strings (or JSON numbers) exactly: prices and sizes correctly
//! rounded to `f64`, bit for bit as Rust's `str::parse::<f64>` reads them (a fast path for
//! plain decimals, the standard parser for the rest), times and ids as whole numbers.
//!
//! **One pass.** A line is read once: its grammar is checked (RFC 8259) while the fields read
//! are noted as spans of the line, and a depth update's levels are parsed into a reused buffer
//! on the way, each number once (a level written as Binance writes it, `["price","qty"]`,
//! in one step). The buffer starts at 1,024 levels and grows only for a message with more
//! levels than any before. A subscription reply
//! (`{"result":null,"id":1}`: an `id` and no `e`) is not market data and is skipped like a
//! blank line.
//!
//! **Sequence gaps.** Per symbol, a depth update whose `U` is not the previous update's
//! `u + 1` (futures streams: whose `pu` is not the previous `u`) is a gap, counted in
//! [`Feed::sequence_gaps`]; its levels are still handed on.
//!
//! **Rejects.** A line yields its events or exactly one rejection, never part of a message:
//! a depth update is checked whole (every level parsed) before its first level is handed on. Reasons:
//! `bad_json` (not a JSON object, or a value of the wrong JSON type), `missing_field`,
//! `unknown_event` (another `e`, or an object that is none of the above), `bad_timestamp`,
//! `bad_price`, `bad_size`, `bad_side` (`m` not a boolean), `bad_update_id` (not a whole
//! number above 0, or `U > u`), `bad_utf8` (the symbol), `too_long`, `too_many_symbols`.
//! With `strict` the first one ends the feed with its line number.
//!
//! ```
//! use zerotick_core::{Feed, FeedEvent};
//! use zerotick_feeds::BinanceJsonFeed;
//!
//! let text = concat!(
//!     r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1700000000001,"s":"BTCUSDT","t":1,"p":"42000.50","q":"0.010","T":1700000000000,"m":true}}"#, "\n",
//!     r#"{"e":"depthUpdate","E":1700000000002,"s":"BTCUSDT","U":10,"u":11,"b":[["41999.9","1.5"]],"a":[["42000.1","0"]]}"#, "\n",
//! );
//! let mut feed = BinanceJsonFeed::new(text.as_bytes(), false);
//! let FeedEvent::Tick(t) = feed.next_event()? else { panic!() };
//! assert_eq!((t.ts_ns, t.price), (1_700_000_000_000_000_000, 42000.5));
//! assert!(matches!(feed.next_event()?, FeedEvent::BookDelta(d) if d.size == 1.5));
//! assert!(matches!(feed.next_event()?, FeedEvent::BookDelta(d) if d.size == 0.0));
//! assert!(matches!(feed.next_event()?, FeedEvent::End));
//! # Ok::<(), zerotick_core::FeedError>(())
//! ```

use std::io::BufRead;
use std::num::NonZeroU64;

use zerotick_core::event::nonzero;
use zerotick_core::symbols::SymbolNames;
use zerotick_core::{
    BookDelta, BookSide, Feed, FeedError, FeedEvent, MAX_TS_NS, Quote, RejectReason, Side, Tick,
};

use crate::csv::{MAX_SYMBOLS, parse_ts};
use crate::json::{self, Kind, MAX_DEPTH, Malformed, Value};
use crate::lines::Lines;
use crate::num;
use crate::symbols::Symbols;

/// Longest line accepted, in bytes (a diff-depth message of 1,000 levels is ~40 KB).
pub const MAX_JSON_LINE: usize = 1 << 20;
/// Bytes of line buffer allocated up front (it grows, once, for a longer line).
const RESERVE: usize = 64 << 10;
/// Depth levels of buffer allocated up front (it grows for a message with more).
const LEVELS_RESERVE: usize = 1 << 10;

/// A depth side's levels, parsed while the line's grammar is checked: where they are in the
/// feed's level buffer, and the first reason a level is not a valid `[price, qty]`.
#[derive(Debug, Clone, Copy, Default)]
struct Levels {
    start: usize,
    end: usize,
    error: Option<RejectReason>,
}

/// The fields of a payload that are read (spans into the line).
#[derive(Default)]
struct Fields {
    e: Option<Value>,
    big_e: Option<Value>,
    big_t: Option<Value>,
    s: Option<Value>,
    p: Option<Value>,
    q: Option<Value>,
    m: Option<Value>,
    u: Option<Value>,
    big_u: Option<Value>,
    pu: Option<Value>,
    b: Option<Value>,
    big_b: Option<Value>,
    a: Option<Value>,
    big_a: Option<Value>,
    id: Option<Value>,
    data: Option<Value>,
    /// The levels of `b` and `a` when they are arrays.
    bid_levels: Levels,
    ask_levels: Levels,
}

impl Fields {
    /// The slot of a key that is read, if it is one.
    #[inline]
    fn slot(&mut self, key: &[u8]) -> Option<&mut Option<Value>> {
        Some(match key {
            b"e" => &mut self.e,
            b"E" => &mut self.big_e,
            b"T" => &mut self.big_t,
            b"s" => &mut self.s,
            b"p" => &mut self.p,
            b"q" => &mut self.q,
            b"m" => &mut self.m,
            b"u" => &mut self.u,
            b"U" => &mut self.big_u,
            b"pu" => &mut self.pu,
            b"b" => &mut self.b,
            b"B" => &mut self.big_b,
            b"a" => &mut self.a,
            b"A" => &mut self.big_a,
            b"id" => &mut self.id,
            b"data" => &mut self.data,
            _ => return None,
        })
    }
}

/// One pass over a message: checks the grammar of the object at `i` (RFC 8259, as
/// [`json::value`] does) and notes the fields read in `f`. The levels of a `b` or `a` array
/// are parsed into `levels` on the way (each number once), and a `data` object, when `inner`
/// is given (the top level), is walked into `inner`. Returns the index after the object.
fn walk_object(
    line: &[u8],
    i: usize,
    depth: u32,
    f: &mut Fields,
    levels: &mut Vec<(f64, f64)>,
    mut inner: Option<&mut Fields>,
) -> Result<usize, Malformed> {
    if depth >= MAX_DEPTH || line.get(i) != Some(&b'{') {
        return Err(Malformed);
    }
    let mut i = json::skip_ws(line, i + 1);
    if line.get(i) == Some(&b'}') {
        return Ok(i + 1);
    }
    loop {
        if line.get(i) != Some(&b'"') {
            return Err(Malformed);
        }
        let key_end = key_end(line, i + 1)?;
        let key = &line[i + 1..key_end];
        // `":` then the value, as Binance writes it; else whitespace around the colon.
        i = if line.get(key_end + 1) == Some(&b':') {
            key_end + 1
        } else {
            json::skip_ws(line, key_end + 1)
        };
        if line.get(i) != Some(&b':') {
            return Err(Malformed);
        }
        i = json::skip_ws(line, i + 1);
        let first = line.get(i).copied();
        let next = match (key, first) {
            (b"b" | b"a", Some(b'[')) => {
                let (parsed, next) = walk_side(line, i, depth + 1, levels)?;
                if key == b"b" {
                    f.bid_levels = parsed;
                } else {
                    f.ask_levels = parsed;
                }
                set(f, key, Kind::Array, i, next);
                next
            }
            (b"data", Some(b'{')) if inner.is_some() => {
                let data = inner.as_deref_mut().ok_or(Malformed)?;
                *data = Fields::default();
                let next = walk_object(line, i, depth + 1, data, levels, None)?;
                set(f, key, Kind::Object, i, next);
                next
            }
            _ => {
                // Strings and numbers (most values) here; the rest the general way.
                let (v, next) = match first {
                    Some(b'"') => {
                        let end = json::string_end(line, i + 1)?;
                        (Value::new(Kind::String, i + 1, end), end + 1)
                    }
                    Some(b'-' | b'0'..=b'9') => {
                        let end = json::number(line, i)?;
                        (Value::new(Kind::Number, i, end), end)
                    }
                    _ => json::value(line, i, depth + 1)?,
                };
                if let Some(slot) = f.slot(key) {
                    *slot = Some(v);
                }
                next
            }
        };
        i = json::skip_ws(line, next);
        match line.get(i) {
            Some(b',') => i = json::skip_ws(line, i + 1),
            Some(b'}') => return Ok(i + 1),
            _ => return Err(Malformed),
        }
    }
}

/// The index of the closing quote of the key whose content starts at `i`, as
/// [`json::string_end`] finds it: one step for a one-byte key (most of Binance's).
#[inline(always)]
fn key_end(line: &[u8], i: usize) -> Result<usize, Malformed> {
    match line.get(i..i + 2) {
        Some(&[c, b'"']) if c != b'"' && c != b'\\' && c >= 0x20 => Ok(i + 1),
        _ => json::string_end(line, i),
    }
}

/// Notes a value walked by hand (an array or object spanning `start..end`) under `key`.
fn set(f: &mut Fields, key: &[u8], kind: Kind, start: usize, end: usize) {
    if let Some(slot) = f.slot(key) {
        *slot = Some(Value::new(kind, start, end));
    }
}

/// Checks the array at `i` (a depth side) and parses its levels into `levels`, up to the first
/// that is not a valid `[price, qty]` (whose reason it keeps; the grammar is checked to the
/// end). Returns the levels and the index after the array.
fn walk_side(
    line: &[u8],
    i: usize,
    depth: u32,
    levels: &mut Vec<(f64, f64)>,
) -> Result<(Levels, usize), Malformed> {
    if depth >= MAX_DEPTH {
        return Err(Malformed);
    }
    let mut side = Levels {
        start: levels.len(),
        end: levels.len(),
        error: None,
    };
    let mut i = json::skip_ws(line, i + 1);
    if line.get(i) == Some(&b']') {
        return Ok((side, i + 1));
    }
    loop {
        let (level, next) = if line.get(i) == Some(&b'[') {
            walk_level(line, i, depth + 1)?
        } else {
            let (_, next) = json::value(line, i, depth + 1)?;
            (Err(bad_json()), next)
        };
        if side.error.is_none() {
            match level {
                Ok(pq) => {
                    levels.push(pq);
                    side.end = levels.len();
                }
                Err(reason) => side.error = Some(reason),
            }
        }
        i = json::skip_ws(line, next);
        match line.get(i) {
            Some(b',') => i = json::skip_ws(line, i + 1),
            Some(b']') => return Ok((side, i + 1)),
            _ => return Err(Malformed),
        }
    }
}

/// Checks the level array at `i` (`[price, qty]`, extra elements ignored) and reads it: the
/// grammar error, or the level or why it is not one.
#[allow(clippy::type_complexity)]
fn walk_level(
    line: &[u8],
    i: usize,
    depth: u32,
) -> Result<(Result<(f64, f64), RejectReason>, usize), Malformed> {
    if depth >= MAX_DEPTH {
        return Err(Malformed);
    }
    if let Some((p, q, next)) = plain_level(line, i) {
        return Ok((valid_price(p).and_then(|p| Ok((p, valid_size(q)?))), next));
    }
    let (mut p, mut q) = (None, None);
    let mut i = json::skip_ws(line, i + 1);
    if line.get(i) != Some(&b']') {
        loop {
            let (v, next) = json::value(line, i, depth + 1)?;
            if p.is_none() {
                p = Some(v);
            } else if q.is_none() {
                q = Some(v);
            }
            i = json::skip_ws(line, next);
            match line.get(i) {
                Some(b',') => i = json::skip_ws(line, i + 1),
                Some(b']') => break,
                _ => return Err(Malformed),
            }
        }
    }
    let level = match (p, q) {
        (Some(p), Some(q)) => price(line, p).and_then(|p| Ok((p, size(line, q)?))),
        _ => Err(RejectReason::FieldCount),
    };
    Ok((level, i + 1))
}

/// The level at `i` (its `[`) when it is written the way Binance writes levels,
/// `["price","qty"]` with plain decimals and no whitespace, read in one pass: price, size
/// and the index after the `]`. `None` for any other form, which [`walk_level`] then reads
/// the general way (with the same result for this form).
#[inline]
fn plain_level(line: &[u8], i: usize) -> Option<(f64, f64, usize)> {
    if line.get(i + 1) != Some(&b'"') {
        return None;
    }
    let (p, end) = num::unsigned_prefix(line, i + 2)?;
    if line.get(end..end + 3) != Some(b"\",\"") {
        return None;
    }
    let (q, end) = num::unsigned_prefix(line, end + 3)?;
    if line.get(end..end + 2) != Some(b"\"]") {
        return None;
    }
    Some((p, q, end + 2))
}

/// The levels of a depth update still to hand out, in the feed's level buffer.
#[derive(Debug, Clone, Copy)]
struct Depth {
    /// The next delta, price and size still to be filled in.
    template: BookDelta,
    /// The next bid and the end of the bids; the next ask and the end of the asks.
    bid: usize,
    bids_end: usize,
    ask: usize,
    asks_end: usize,
}

/// Binance websocket messages read from JSON lines (see the module docs). Allocates only
/// when it meets a new symbol, or a line longer than any before (up to [`MAX_JSON_LINE`]).
#[derive(Debug)]
pub struct BinanceJsonFeed<R> {
    reader: R,
    strict: bool,
    lines: Lines,
    /// What the messages read so far left (borrowed apart from `lines` and `reader`, so a
    /// line is parsed in place in the reader's buffer).
    parser: Parser,
}

/// The state messages are parsed into.
#[derive(Debug)]
struct Parser {
    symbols: Symbols,
    /// Last `u` of a depth update per symbol index (0: none yet).
    last_update: Vec<u64>,
    gaps: u64,
    /// A depth update being handed out level by level from `levels`.
    depth: Option<Depth>,
    /// The parsed levels of the current line's depth sides (`(price, size)`); it grows only
    /// for a message with more levels than any before.
    levels: Vec<(f64, f64)>,
}

impl<R: BufRead> BinanceJsonFeed<R> {
    /// A feed over `reader`; `strict` makes the first bad line end the feed.
    pub fn new(reader: R, strict: bool) -> Self {
        Self {
            reader,
            strict,
            lines: Lines::new(MAX_JSON_LINE, RESERVE),
            parser: Parser {
                symbols: Symbols::new(MAX_SYMBOLS),
                last_update: Vec::new(),
                gaps: 0,
                depth: None,
                levels: Vec::with_capacity(LEVELS_RESERVE),
            },
        }
    }

    /// The 1-based line number of the last event's line (0 before the first).
    pub fn line(&self) -> u64 {
        self.lines.row_no
    }

    /// The reader.
    pub fn reader(&self) -> &R {
        &self.reader
    }

    /// The reader, to change (e.g. to move on to the next zip member, then
    /// [`BinanceJsonFeed::restart`]).
    pub fn reader_mut(&mut self) -> &mut R {
        &mut self.reader
    }

    /// Starts over on what the reader reads next, as on a new file (line numbers from 1),
    /// keeping the symbols and each symbol's last update id.
    pub fn restart(&mut self) {
        self.lines.restart();
        self.parser.depth = None;
    }

    fn reject(&self, reason: RejectReason) -> Result<FeedEvent, FeedError> {
        self.lines.reject(self.strict, reason)
    }
}

impl Parser {
    /// The next level of the depth update being handed out, if any.
    #[inline]
    fn next_level(&mut self) -> Option<FeedEvent> {
        let d = self.depth.as_mut()?;
        let (side, i) = if d.bid < d.bids_end {
            d.bid += 1;
            (BookSide::Bid, d.bid - 1)
        } else if d.ask < d.asks_end {
            d.ask += 1;
            (BookSide::Ask, d.ask - 1)
        } else {
            self.depth = None;
            return None;
        };
        let (price, size) = self.levels[i];
        Some(FeedEvent::BookDelta(BookDelta {
            side,
            price,
            size,
            ..d.template
        }))
    }

    /// The line's first event, `None` for a line that yields none (a subscription reply, a
    /// depth update without levels).
    #[inline]
    fn parse_line(&mut self, line: &[u8]) -> Result<Option<FeedEvent>, RejectReason> {
        match self.parse_message(line)? {
            Step::Depth => Ok(self.next_level()),
            Step::Nothing => Ok(None),
            Step::Event(e) => Ok(Some(e)),
        }
    }

    /// Parses one message.
    fn parse_message(&mut self, line: &[u8]) -> Result<Step, RejectReason> {
        let (local_ns, start) = receive_time(line)?;
        let (mut outer, mut inner) = (Fields::default(), Fields::default());
        self.levels.clear();
        let end = walk_object(
            line,
            start,
            0,
            &mut outer,
            &mut self.levels,
            Some(&mut inner),
        )
        .map_err(|_| bad_json())?;
        if json::skip_ws(line, end) != line.len() {
            return Err(bad_json());
        }
        let f = match outer.data {
            Some(data) if data.kind != Kind::Object => return Err(bad_json()),
            Some(_) => &inner,
            None => &outer,
        };
        match f.e.map(|v| (v.kind, v.bytes(line))) {
            Some((Kind::String, b"trade" | b"aggTrade")) => self.trade(line, f),
            Some((Kind::String, b"bookTicker")) => self.quote(line, f, local_ns),
            Some((Kind::String, b"depthUpdate")) => self.parse_depth(line, f, local_ns),
            Some(_) => Err(RejectReason::UnknownEvent),
            None if f.u.is_some() && f.big_b.is_some() && f.big_a.is_some() => {
                self.quote(line, f, local_ns)
            }
            None if f.id.is_some() => Ok(Step::Nothing),
            None => Err(RejectReason::UnknownEvent),
        }
    }

    fn symbol(&mut self, line: &[u8], f: &Fields) -> Result<u32, RejectReason> {
        let v = f.s.ok_or(RejectReason::MissingField)?;
        if v.kind != Kind::String {
            return Err(bad_json());
        }
        self.symbols.intern_bytes(v.bytes(line))
    }

    fn trade(&mut self, line: &[u8], f: &Fields) -> Result<Step, RejectReason> {
        let ts_ns = millis(line, f.big_t.or(f.big_e).ok_or(RejectReason::MissingField)?)?;
        let price = price(line, f.p.ok_or(RejectReason::MissingField)?)?;
        let size = size(line, f.q.ok_or(RejectReason::MissingField)?)?;
        let side = match f.m.map(|v| v.kind) {
            Some(Kind::True) => Side::Sell,
            Some(Kind::False) => Side::Buy,
            None => Side::Unknown,
            Some(_) => return Err(RejectReason::BadSide),
        };
        let symbol = self.symbol(line, f)?;
        Ok(Step::Event(FeedEvent::Tick(Tick {
            ts_ns,
            symbol,
            price,
            size,
            side,
        })))
    }

    fn quote(
        &mut self,
        line: &[u8],
        f: &Fields,
        local_ns: Option<NonZeroU64>,
    ) -> Result<Step, RejectReason> {
        let ts_ns = match f.big_t.or(f.big_e) {
            Some(v) => millis(line, v)?,
            None => local_ns.ok_or(RejectReason::MissingField)?.get(),
        };
        let missing = RejectReason::MissingField;
        let quote = Quote {
            ts_ns,
            local_ts_ns: local_ns,
            symbol: 0,
            bid_price: price(line, f.b.ok_or(missing)?)?,
            bid_size: size(line, f.big_b.ok_or(missing)?)?,
            ask_price: price(line, f.a.ok_or(missing)?)?,
            ask_size: size(line, f.big_a.ok_or(missing)?)?,
            update_id: match f.u {
                Some(v) => Some(update_id(line, v)?),
                None => None,
            },
        };
        let symbol = self.symbol(line, f)?;
        Ok(Step::Event(FeedEvent::Quote(Quote { symbol, ..quote })))
    }

    fn parse_depth(
        &mut self,
        line: &[u8],
        f: &Fields,
        local_ns: Option<NonZeroU64>,
    ) -> Result<Step, RejectReason> {
        let missing = RejectReason::MissingField;
        let ts_ns = millis(line, f.big_e.or(f.big_t).ok_or(missing)?)?;
        let first = update_id(line, f.big_u.ok_or(missing)?)?;
        let last = update_id(line, f.u.ok_or(missing)?)?;
        if first > last {
            return Err(RejectReason::BadUpdateId);
        }
        let prev = match f.pu {
            Some(v) if v.kind == Kind::Number => {
                Some(whole(line, v).ok_or(RejectReason::BadUpdateId)?)
            }
            Some(_) => return Err(bad_json()),
            None => None,
        };
        let (bids, asks) = (f.b.ok_or(missing)?, f.a.ok_or(missing)?);
        for (side, levels) in [(bids, f.bid_levels), (asks, f.ask_levels)] {
            if side.kind != Kind::Array {
                return Err(bad_json());
            }
            if let Some(reason) = levels.error {
                return Err(reason);
            }
        }
        let symbol = self.symbol(line, f)?;
        let s = symbol as usize;
        if s >= self.last_update.len() {
            self.last_update.resize(s + 1, 0);
        }
        let before = self.last_update[s];
        if before != 0 {
            let follows = match prev {
                Some(pu) => pu == before,
                None => first.get() == before.wrapping_add(1),
            };
            self.gaps += u64::from(!follows);
        }
        self.last_update[s] = last.get();
        self.depth = Some(Depth {
            template: BookDelta {
                ts_ns,
                local_ts_ns: local_ns,
                symbol,
                side: BookSide::Bid,
                price: 0.0,
                size: 0.0,
                first_update_id: Some(first),
                last_update_id: Some(last),
            },
            bid: f.bid_levels.start,
            bids_end: f.bid_levels.end,
            ask: f.ask_levels.start,
            asks_end: f.ask_levels.end,
        });
        Ok(Step::Depth)
    }
}

/// What a message gives.
enum Step {
    /// One event.
    Event(FeedEvent),
    /// A depth update's levels, waiting in `depth`.
    Depth,
    /// Nothing to hand on (a subscription reply).
    Nothing,
}

fn bad_json() -> RejectReason {
    RejectReason::BadJson
}

/// The receive time before the message, if any, and where the message starts.
fn receive_time(line: &[u8]) -> Result<(Option<NonZeroU64>, usize), RejectReason> {
    let start = json::skip_ws(line, 0);
    if line.get(start) == Some(&b'{') {
        return Ok((None, start));
    }
    let end = line[start..]
        .iter()
        .position(|&c| c == b' ' || c == b'\t')
        .map_or(line.len(), |n| start + n);
    let text = std::str::from_utf8(&line[start..end]).map_err(|_| RejectReason::BadTimestamp)?;
    if !text.bytes().next().is_some_and(|c| c.is_ascii_digit()) {
        return Err(bad_json());
    }
    let ns = parse_ts(text.as_bytes())?;
    Ok((nonzero(ns), json::skip_ws(line, end)))
}

/// A whole number of at most 19 digits (no sign, fraction or exponent).
fn whole(line: &[u8], v: Value) -> Option<u64> {
    num::whole(v.bytes(line))
}

/// Milliseconds (a JSON number) to ns.
fn millis(line: &[u8], v: Value) -> Result<u64, RejectReason> {
    if v.kind != Kind::Number {
        return Err(bad_json());
    }
    whole(line, v)
        .and_then(|ms| ms.checked_mul(1_000_000))
        .filter(|&ns| ns <= MAX_TS_NS)
        .ok_or(RejectReason::BadTimestamp)
}

fn update_id(line: &[u8], v: Value) -> Result<NonZeroU64, RejectReason> {
    if v.kind != Kind::Number {
        return Err(bad_json());
    }
    whole(line, v)
        .and_then(NonZeroU64::new)
        .ok_or(RejectReason::BadUpdateId)
}

/// A number written as a JSON string or number, read as `f64` (correctly rounded).
fn decimal(line: &[u8], v: Value, bad: RejectReason) -> Result<f64, RejectReason> {
    if !matches!(v.kind, Kind::String | Kind::Number) {
        return Err(bad_json());
    }
    num::decimal(v.bytes(line)).ok_or(bad)
}

fn price(line: &[u8], v: Value) -> Result<f64, RejectReason> {
    valid_price(decimal(line, v, RejectReason::BadPrice)?)
}

fn size(line: &[u8], v: Value) -> Result<f64, RejectReason> {
    valid_size(decimal(line, v, RejectReason::BadSize)?)
}

/// A price must be finite and above 0.
#[inline]
fn valid_price(p: f64) -> Result<f64, RejectReason> {
    if p.is_finite() && p > 0.0 {
        Ok(p)
    } else {
        Err(RejectReason::BadPrice)
    }
}

/// A size must be finite and at or above +0 (`is_sign_positive` also rejects -0, as in CSV).
#[inline]
fn valid_size(s: f64) -> Result<f64, RejectReason> {
    if s.is_finite() && s.is_sign_positive() {
        Ok(s)
    } else {
        Err(RejectReason::BadSize)
    }
}

impl<R: BufRead + Send> Feed for BinanceJsonFeed<R> {
    fn next_event(&mut self) -> Result<FeedEvent, FeedError> {
        if let Some(e) = self.parser.next_level() {
            return Ok(e);
        }
        loop {
            // The line in place in the reader's buffer (nearly always): parsed, then consumed.
            let Some(row) = self.lines.next_row(&mut self.reader)? else {
                return Ok(FeedEvent::End);
            };
            let result = if row.too_long {
                Err(RejectReason::TooLong)
            } else {
                self.parser.parse_line(row.text)
            };
            self.lines.done(&mut self.reader);
            match result {
                Ok(Some(e)) => return Ok(e),
                Ok(None) => {}
                Err(reason) => return self.reject(reason),
            }
        }
    }

    fn names(&self) -> SymbolNames {
        self.parser.symbols.names()
    }

    fn sequence_gaps(&self) -> u64 {
        self.parser.gaps
    }
}

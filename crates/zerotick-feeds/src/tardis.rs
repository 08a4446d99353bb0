//! [`TardisFeed`]: Tardis.dev CSV datasets (the documented public format, "Downloadable CSV
//! files") as market events, without a heap allocation per row.
//!
//! The header names the data type; every file has one. Every row starts with
//! `exchange,symbol,timestamp,local_timestamp`: `timestamp` (the exchange's time, or the
//! local one where the exchange gives none) and `local_timestamp` (arrival) are microseconds
//! since the Unix epoch, read exactly as whole numbers. `exchange` is not read; `symbol` is
//! interned as it is written.
//!
//! | [`TardisKind`] | columns after the four | events |
//! |---|---|---|
//! | `Trades` | `id,side,price,amount` | a [`Tick`]; side `buy`, `sell` or `unknown` (any case) |
//! | `Quotes` (also `book_ticker`) | `ask_amount,ask_price,bid_price,bid_amount` | a [`Quote`] |
//! | `BookSnapshot(N)` (`book_snapshot_N`) | `asks[0].price,asks[0].amount,bids[0].price,bids[0].amount,` ... up to `[N-1]` | a snapshot of both sides as [`SnapshotLevel`]s: the asks' levels, then the bids' |
//! | `IncrementalL2` | `is_snapshot,side,price,amount` | a [`BookDelta`], or a [`SnapshotLevel`] for `is_snapshot = true` |
//!
//! **Snapshots** follow the contract of [`zerotick_core::event`]. A `book_snapshot_N` row
//! leaves a level empty (both fields empty) where the book has fewer than N levels; a side
//! with no level at all arrives as one clearing level of size 0. In `incremental_book_L2`,
//! a row with `is_snapshot = true` after a row of that symbol that was not (or as the
//! symbol's first row) starts a new snapshot, which discards the whole book: that row comes
//! as a level with `clear_side = true`, followed by a clearing level of size 0 for the other
//! side; the snapshot's further rows are levels without the flag. Rows before a symbol's
//! first snapshot are handed on as deltas (the documentation advises skipping them; a book
//! counts them as updates of unknown levels).
//!
//! **Rejects** (counted; with `strict` the first ends the feed with its line number):
//! `field_count` (not the header's number of fields), `bad_timestamp`, `bad_price`,
//! `bad_size`, `bad_side`, `bad_flag` (`is_snapshot` not `true`/`false`), `bad_utf8`,
//! `too_long`, `too_many_symbols`. A row yields its events or one rejection: a snapshot row
//! is checked whole first. A file whose first row is not a Tardis header is an error.
//!
//! ```
//! use zerotick_core::{Feed, FeedEvent};
//! use zerotick_feeds::TardisFeed;
//!
//! let text = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n\
//!             binance,BTCUSDT,1700000000000001,1700000000000500,7,sell,42000.5,0.25\n";
//! let mut feed = TardisFeed::new(text.as_bytes(), false)?;
//! let FeedEvent::Tick(t) = feed.next_event()? else { panic!() };
//! assert_eq!((t.ts_ns, t.price, t.size), (1_700_000_000_000_001_000, 42000.5, 0.25));
//! assert!(matches!(feed.next_event()?, FeedEvent::End));
//! # Ok::<(), zerotick_core::FeedError>(())
//! ```

use std::io::BufRead;
use std::num::NonZeroU64;

use zerotick_core::event::nonzero;
use zerotick_core::symbols::SymbolNames;
use zerotick_core::{
    BookDelta, BookSide, Feed, FeedError, FeedEvent, MAX_TS_NS, Quote, RejectReason, Side,
    SnapshotLevel, Tick,
};

use crate::csv::{MAX_LINE, MAX_SYMBOLS};
use crate::lines::Lines;
use crate::symbols::Symbols;

/// Most levels per side of a `book_snapshot_N` file.
pub const MAX_SNAPSHOT_LEVELS: usize = 100;
/// Fields of every row before the data type's own.
const COMMON: [&str; 4] = ["exchange", "symbol", "timestamp", "local_timestamp"];
/// Most fields in a row.
const MAX_FIELDS: usize = COMMON.len() + 4 * MAX_SNAPSHOT_LEVELS;
/// Longest line accepted: a full `book_snapshot_100` row fits.
const MAX_TARDIS_LINE: usize = 4 * MAX_LINE;

/// The data type of a Tardis CSV file, from its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TardisKind {
    /// `trades`.
    Trades,
    /// `quotes` or `book_ticker`.
    Quotes,
    /// `book_snapshot_N`: N levels per side.
    BookSnapshot(usize),
    /// `incremental_book_L2`.
    IncrementalL2,
}

impl TardisKind {
    /// The kind whose header `line` is, if any.
    ///
    /// ```
    /// use zerotick_feeds::tardis::TardisKind;
    /// let h = b"exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount";
    /// assert_eq!(TardisKind::from_header(h), Some(TardisKind::IncrementalL2));
    /// assert_eq!(TardisKind::from_header(b"timestamp,symbol,price,size"), None);
    /// ```
    pub fn from_header(line: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(line).ok()?;
        let mut fields = text.split(',').map(str::trim);
        if !COMMON.iter().all(|c| fields.next() == Some(*c)) {
            return None;
        }
        let rest: [Option<&str>; 4] = core::array::from_fn(|_| fields.next());
        let rest_is = |names: [&str; 4]| rest == names.map(Some);
        if rest_is(["id", "side", "price", "amount"]) && fields.next().is_none() {
            return Some(TardisKind::Trades);
        }
        if rest_is(["ask_amount", "ask_price", "bid_price", "bid_amount"])
            && fields.next().is_none()
        {
            return Some(TardisKind::Quotes);
        }
        if rest_is(["is_snapshot", "side", "price", "amount"]) && fields.next().is_none() {
            return Some(TardisKind::IncrementalL2);
        }
        // asks[i].price,asks[i].amount,bids[i].price,bids[i].amount for i = 0, 1, ...
        let mut levels = 0;
        let mut group = rest;
        while group.iter().all(Option::is_some) {
            let want = [
                ("asks", "price"),
                ("asks", "amount"),
                ("bids", "price"),
                ("bids", "amount"),
            ];
            for (f, (side, what)) in group.iter().zip(want) {
                let f = f.unwrap_or_default();
                let ok = f
                    .strip_prefix(side)
                    .and_then(|r| r.strip_prefix('['))
                    .and_then(|r| r.strip_suffix(what))
                    .and_then(|r| r.strip_suffix("]."))
                    .is_some_and(|n| n.parse::<usize>() == Ok(levels));
                if !ok {
                    return None;
                }
            }
            levels += 1;
            if levels > MAX_SNAPSHOT_LEVELS {
                return None;
            }
            group = core::array::from_fn(|_| fields.next());
        }
        (levels > 0 && group.iter().all(Option::is_none))
            .then_some(TardisKind::BookSnapshot(levels))
    }

    /// Fields in a row of this kind.
    fn fields(self) -> usize {
        match self {
            TardisKind::BookSnapshot(n) => COMMON.len() + 4 * n,
            _ => COMMON.len() + 4,
        }
    }
}

/// A `book_snapshot_N` row being handed out level by level (its fields stay in the line).
#[derive(Debug, Clone, Copy)]
struct SnapshotCursor {
    template: BookDelta,
    /// Next level index on the current side.
    i: usize,
    side: BookSide,
    /// A level of the current side was handed out (the next ones do not clear).
    any: bool,
}

/// Tardis CSV rows as market events (see the module docs). Allocates only when it meets a
/// new symbol.
#[derive(Debug)]
pub struct TardisFeed<R> {
    reader: R,
    strict: bool,
    kind: TardisKind,
    lines: Lines,
    /// `(start, end)` of each field of the current row. Capacity [`MAX_FIELDS`], never
    /// exceeded.
    fields: Vec<(u32, u32)>,
    symbols: Symbols,
    /// Per symbol index: its last incremental row was part of a snapshot.
    in_snapshot: Vec<bool>,
    snapshot: Option<SnapshotCursor>,
    /// An event to hand out before reading on.
    pending: Option<FeedEvent>,
}

impl<R: BufRead> TardisFeed<R> {
    /// A feed over `reader`, whose first row must be a Tardis header.
    ///
    /// # Errors
    /// Reading fails, or the first row is not a Tardis header (the error says so).
    pub fn new(reader: R, strict: bool) -> Result<Self, FeedError> {
        let mut feed = Self {
            reader,
            strict,
            kind: TardisKind::Trades,
            lines: Lines::new(MAX_TARDIS_LINE, MAX_TARDIS_LINE),
            fields: Vec::with_capacity(MAX_FIELDS),
            symbols: Symbols::new(MAX_SYMBOLS),
            in_snapshot: Vec::new(),
            snapshot: None,
            pending: None,
        };
        feed.read_header()?;
        Ok(feed)
    }

    /// The data type, from the header.
    pub fn kind(&self) -> TardisKind {
        self.kind
    }

    /// The 1-based line number of the last event's row (0 before the first).
    pub fn line(&self) -> u64 {
        self.lines.row_no
    }

    /// The reader.
    pub fn reader(&self) -> &R {
        &self.reader
    }

    /// The reader, to change (e.g. to move on to the next zip member, then
    /// [`TardisFeed::restart`]).
    pub fn reader_mut(&mut self) -> &mut R {
        &mut self.reader
    }

    /// Starts over on what the reader reads next, as on a new file: reads its header.
    ///
    /// # Errors
    /// As [`TardisFeed::new`].
    pub fn restart(&mut self) -> Result<(), FeedError> {
        self.lines.restart();
        self.snapshot = None;
        self.pending = None;
        self.read_header()
    }

    #[cold]
    fn read_header(&mut self) -> Result<(), FeedError> {
        let header = self.lines.read_row(&mut self.reader)?;
        let kind = match header {
            Some(false) => TardisKind::from_header(&self.lines.line),
            _ => None,
        };
        self.kind = kind.ok_or_else(|| {
            let shown = String::from_utf8_lossy(&self.lines.line[..self.lines.line.len().min(120)]);
            FeedError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("not a Tardis CSV header (trades, quotes, book_snapshot_N or incremental_book_L2): {shown:?}"),
            ))
        })?;
        Ok(())
    }

    fn reject(&self, reason: RejectReason) -> Result<FeedEvent, FeedError> {
        self.lines.reject(self.strict, reason)
    }

    /// Field `i` of the current row.
    fn field(&self, i: usize) -> &[u8] {
        let (s, e) = self.fields[i];
        &self.lines.line[s as usize..e as usize]
    }

    /// Splits the current row into `self.fields`, trimmed; checks the count.
    fn split(&mut self) -> Result<(), RejectReason> {
        self.fields.clear();
        let line = &self.lines.line;
        let want = self.kind.fields();
        let mut start = 0;
        for end in line
            .iter()
            .enumerate()
            .filter(|(_, c)| **c == b',')
            .map(|(i, _)| i)
            .chain([line.len()])
        {
            if self.fields.len() == want {
                return Err(RejectReason::FieldCount);
            }
            let (mut s, mut e) = (start, end);
            while s < e && line[s].is_ascii_whitespace() {
                s += 1;
            }
            while e > s && line[e - 1].is_ascii_whitespace() {
                e -= 1;
            }
            self.fields.push((s as u32, e as u32));
            start = end + 1;
        }
        if self.fields.len() == want {
            Ok(())
        } else {
            Err(RejectReason::FieldCount)
        }
    }

    /// The row's first event.
    fn parse_row(&mut self) -> Result<FeedEvent, RejectReason> {
        self.split()?;
        let ts_ns = micros(self.field(2))?;
        let local = nonzero(micros(self.field(3))?);
        match self.kind {
            TardisKind::Trades => {
                let side = trade_side(self.field(5))?;
                let price = price(self.field(6))?;
                let size = size(self.field(7))?;
                let symbol = self.intern_symbol()?;
                Ok(FeedEvent::Tick(Tick {
                    ts_ns,
                    symbol,
                    price,
                    size,
                    side,
                }))
            }
            TardisKind::Quotes => {
                // A side with both fields empty is an empty side (price and size 0).
                let (ask_price, ask_size) =
                    level(self.field(5), self.field(4))?.unwrap_or((0.0, 0.0));
                let (bid_price, bid_size) =
                    level(self.field(6), self.field(7))?.unwrap_or((0.0, 0.0));
                let quote = Quote {
                    ts_ns,
                    local_ts_ns: local,
                    symbol: 0,
                    ask_size,
                    ask_price,
                    bid_price,
                    bid_size,
                    update_id: None,
                };
                let symbol = self.intern_symbol()?;
                Ok(FeedEvent::Quote(Quote { symbol, ..quote }))
            }
            TardisKind::IncrementalL2 => self.incremental(ts_ns, local),
            TardisKind::BookSnapshot(n) => {
                for i in 0..2 * n {
                    level(self.field(4 + 2 * i), self.field(5 + 2 * i))?;
                }
                let symbol = self.intern_symbol()?;
                self.snapshot = Some(SnapshotCursor {
                    template: delta(ts_ns, local, symbol, BookSide::Ask, 0.0, 0.0),
                    i: 0,
                    side: BookSide::Ask,
                    any: false,
                });
                Ok(self.next_snapshot_level())
            }
        }
    }

    /// The row's symbol (field 1), interned.
    fn intern_symbol(&mut self) -> Result<u32, RejectReason> {
        let (s, e) = self.fields[1];
        self.symbols
            .intern_bytes(&self.lines.line[s as usize..e as usize])
    }

    fn incremental(
        &mut self,
        ts_ns: u64,
        local: Option<NonZeroU64>,
    ) -> Result<FeedEvent, RejectReason> {
        let snapshot = match self.field(4) {
            b"true" => true,
            b"false" => false,
            _ => return Err(RejectReason::BadFlag),
        };
        let side = match self.field(5) {
            b"bid" => BookSide::Bid,
            b"ask" => BookSide::Ask,
            _ => return Err(RejectReason::BadSide),
        };
        let price = price(self.field(6))?;
        let size = size(self.field(7))?;
        let symbol = self.intern_symbol()?;
        let s = symbol as usize;
        if s >= self.in_snapshot.len() {
            self.in_snapshot.resize(s + 1, false);
        }
        let starts = snapshot && !self.in_snapshot[s];
        self.in_snapshot[s] = snapshot;
        let level = delta(ts_ns, local, symbol, side, price, size);
        if !snapshot {
            return Ok(FeedEvent::BookDelta(level));
        }
        if starts {
            self.pending = Some(FeedEvent::SnapshotLevel(SnapshotLevel {
                level: BookDelta {
                    side: side.opposite(),
                    price: 0.0,
                    size: 0.0,
                    ..level
                },
                clear_side: true,
            }));
        }
        Ok(FeedEvent::SnapshotLevel(SnapshotLevel {
            level,
            clear_side: starts,
        }))
    }

    /// The next level of the `book_snapshot_N` row being handed out (asks, then bids; an
    /// empty side as one clearing level of size 0); `End` when the row is done.
    fn next_snapshot_level(&mut self) -> FeedEvent {
        let Some(mut c) = self.snapshot else {
            return FeedEvent::End;
        };
        let TardisKind::BookSnapshot(n) = self.kind else {
            self.snapshot = None;
            return FeedEvent::End;
        };
        let base = if c.side == BookSide::Ask { 4 } else { 6 };
        while c.i < n {
            let f = base + 4 * c.i;
            c.i += 1;
            // Checked in `parse_row`: an empty level is `None`.
            if let Ok(Some((price, size))) = level(self.field(f), self.field(f + 1)) {
                let clear_side = !c.any;
                c.any = true;
                self.snapshot = Some(c);
                return FeedEvent::SnapshotLevel(SnapshotLevel {
                    level: BookDelta {
                        side: c.side,
                        price,
                        size,
                        ..c.template
                    },
                    clear_side,
                });
            }
        }
        let empty_side = !c.any;
        let side = c.side;
        self.snapshot = (side == BookSide::Ask).then_some(SnapshotCursor {
            i: 0,
            side: BookSide::Bid,
            any: false,
            ..c
        });
        if empty_side {
            return FeedEvent::SnapshotLevel(SnapshotLevel {
                level: BookDelta { side, ..c.template },
                clear_side: true,
            });
        }
        self.next_snapshot_level()
    }
}

fn delta(
    ts_ns: u64,
    local: Option<NonZeroU64>,
    symbol: u32,
    side: BookSide,
    price: f64,
    size: f64,
) -> BookDelta {
    BookDelta {
        ts_ns,
        local_ts_ns: local,
        symbol,
        side,
        price,
        size,
        first_update_id: None,
        last_update_id: None,
    }
}

/// Microseconds (a whole number of at most 19 digits) to ns, at most [`MAX_TS_NS`].
fn micros(b: &[u8]) -> Result<u64, RejectReason> {
    if b.is_empty() || b.len() > 19 || !b.iter().all(u8::is_ascii_digit) {
        return Err(RejectReason::BadTimestamp);
    }
    b.iter()
        .fold(0u64, |n, &c| n * 10 + u64::from(c - b'0'))
        .checked_mul(1_000)
        .filter(|&ns| ns <= MAX_TS_NS)
        .ok_or(RejectReason::BadTimestamp)
}

fn decimal(b: &[u8], bad: RejectReason) -> Result<f64, RejectReason> {
    std::str::from_utf8(b)
        .map_err(|_| bad)?
        .parse::<f64>()
        .map_err(|_| bad)
}

fn price(b: &[u8]) -> Result<f64, RejectReason> {
    let p = decimal(b, RejectReason::BadPrice)?;
    if p.is_finite() && p > 0.0 {
        Ok(p)
    } else {
        Err(RejectReason::BadPrice)
    }
}

fn size(b: &[u8]) -> Result<f64, RejectReason> {
    let s = decimal(b, RejectReason::BadSize)?;
    if s.is_finite() && s.is_sign_positive() {
        Ok(s)
    } else {
        Err(RejectReason::BadSize)
    }
}

/// A snapshot level or a quote's side: `None` when both fields are empty (an empty side).
fn level(p: &[u8], a: &[u8]) -> Result<Option<(f64, f64)>, RejectReason> {
    if p.is_empty() && a.is_empty() {
        return Ok(None);
    }
    Ok(Some((price(p)?, size(a)?)))
}

fn trade_side(b: &[u8]) -> Result<Side, RejectReason> {
    if b.eq_ignore_ascii_case(b"buy") {
        Ok(Side::Buy)
    } else if b.eq_ignore_ascii_case(b"sell") {
        Ok(Side::Sell)
    } else if b.eq_ignore_ascii_case(b"unknown") || b.is_empty() {
        Ok(Side::Unknown)
    } else {
        Err(RejectReason::BadSide)
    }
}

impl<R: BufRead + Send> Feed for TardisFeed<R> {
    fn next_event(&mut self) -> Result<FeedEvent, FeedError> {
        if let Some(e) = self.pending.take() {
            return Ok(e);
        }
        if self.snapshot.is_some() {
            match self.next_snapshot_level() {
                FeedEvent::End => {}
                e => return Ok(e),
            }
        }
        let Some(too_long) = self.lines.read_row(&mut self.reader)? else {
            return Ok(FeedEvent::End);
        };
        if too_long {
            return self.reject(RejectReason::TooLong);
        }
        match self.parse_row() {
            Ok(e) => Ok(e),
            Err(reason) => self.reject(reason),
        }
    }

    fn names(&self) -> SymbolNames {
        self.symbols.names()
    }
}

//! Order books on the feature thread: one L2 [`Book`] per symbol that has book events
//! ([`BookStage`]), the rule that groups a feed's book levels into book events
//! ([`Boundaries`]), and what the books counted ([`BookReport`]).
//!
//! Promises: a symbol's book is built (its levels allocated, at the run's book depth) on
//! the symbol's first book event, during warm-up like the symbol table; after that nothing
//! allocates, nothing blocks, and bad input is counted, never a panic.
//!
//! # Book events
//! Features and counts are taken at the end of a *book event*, not per level: a depth
//! message of many levels may cross the book between its levels (bids come before asks),
//! and a snapshot empties a side before refilling it. A book event is
//! * a quote (complete in itself);
//! * a depth message: consecutive [`BookDelta`](zerotick_core::BookDelta)s of one symbol
//!   with the same event time, receive time and update ids (every level of a Binance
//!   `depthUpdate` carries its message's `U`/`u`; Tardis rows of one message share their
//!   timestamps);
//! * a snapshot: consecutive [`SnapshotLevel`](zerotick_core::SnapshotLevel)s of one
//!   symbol, a new one starting at a level that clears a side this one already cleared.
//!
//! An event ends when the next market event (of any symbol) does not continue it, or at the
//! end of the feed: the feed thread tells continuation from the full events
//! ([`Boundaries`]) and the feature thread ends the open event when something else arrives.
//! Ending is never decided by timing, so runs are deterministic.
//!
//! # Quotes and depth
//! A symbol whose book has had no depth (no delta, no snapshot) takes its book from its
//! quotes: each quote replaces both sides with its best bid and ask (a size of 0 leaves a
//! side empty). From the symbol's first depth level on, its book is the depth book (the
//! quote's levels are dropped then), and its quotes are counted
//! ([`BookReport::quotes_on_depth_books`]) but change nothing: a bookTicker stream and a
//! diff-depth stream each describe the book at their own moments, and mixing their levels
//! would make each wrong (a level the quote removed and the depth stream later removes
//! would count as an unknown level).
//!
//! ```
//! use zerotick_core::{BookSide, Level};
//! use zerotick_pipeline::books::BookStage;
//!
//! let mut books = BookStage::new(100, 16);
//! let l = |price, size| Level { price, size };
//! // A quote is a whole book event: its order-flow imbalance comes back at once.
//! assert_eq!(books.quote(0, l(99.0, 2.0), l(101.0, 1.0)), Some(0.0));
//! assert_eq!(books.quote(0, l(99.0, 5.0), l(101.0, 1.0)), Some(3.0)); // bid size +3
//! // A depth message: levels one by one, ended by the next event.
//! books.level(0, BookSide::Bid, 99.5, 1.0, false, false);
//! books.level(0, BookSide::Ask, 100.5, 4.0, false, false);
//! let (symbol, _ofi) = books.end_event().unwrap();
//! assert_eq!(symbol, 0);
//! assert_eq!(books.book(0).unwrap().mid(), Some(100.0)); // the quote's levels are gone
//! assert_eq!(books.quote(0, l(1.0, 1.0), l(2.0, 1.0)), None); // a depth book now
//! assert_eq!(books.report().quotes_on_depth_books, 1);
//! ```

use zerotick_core::{Book, BookSet, BookSide, FeedEvent, Level};

/// What the books of a run counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BookReport {
    /// Symbols with a book (symbols that had a book event).
    pub symbols: u64,
    /// Book events ended: quotes applied, depth messages, snapshots.
    pub events: u64,
    /// Book events after which the best bid was above the best ask.
    pub crossed: u64,
    /// Book events after which the best bid equalled the best ask.
    pub locked: u64,
    /// Deltas removing a level the book does not hold, where it is exact (see
    /// [`BookStats::unknown_removals`](zerotick_core::BookStats::unknown_removals)): what a
    /// book built from deltas without a snapshot first, or after a sequence gap, meets.
    pub unknown_level_deltas: u64,
    /// Levels lost to the bounded depth.
    pub dropped: u64,
    /// Level updates the book refused (bad price or size).
    pub rejected: u64,
    /// Quotes of symbols whose book is fed by depth: counted, not applied (module docs).
    pub quotes_on_depth_books: u64,
    /// Book events of symbols at or above the run's symbol bound: not applied.
    pub refused: u64,
}

/// The books of a run (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct BookStage {
    books: BookSet,
    /// Per symbol id: its book has had depth (a delta or a snapshot level), so quotes no
    /// longer change it. Grows with the symbols, like `books`.
    depth_fed: Vec<bool>,
    /// The symbol of the book event being applied (levels arrive one by one).
    open: Option<u32>,
    events: u64,
    quotes_on_depth_books: u64,
}

impl BookStage {
    /// No books yet; books of `depth` levels per side (clamped to
    /// [`MAX_DEPTH`](zerotick_core::book::MAX_DEPTH)) for symbol ids below `max_symbols`.
    pub fn new(depth: usize, max_symbols: usize) -> Self {
        Self {
            books: BookSet::new(depth, max_symbols),
            depth_fed: Vec::new(),
            open: None,
            events: 0,
            quotes_on_depth_books: 0,
        }
    }

    /// Whether a book event is open (levels applied, not ended yet).
    #[inline]
    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// The book of `symbol`, if it has one.
    #[inline]
    pub fn book(&self, symbol: u32) -> Option<&Book> {
        self.books.get(symbol)
    }

    /// Applies a quote of `symbol`, a whole book event; returns its order-flow imbalance, or
    /// `None` when the quote changed nothing (the symbol's book is fed by depth, or its id is
    /// beyond the bound). End an open event first ([`BookStage::end_event`]).
    #[inline]
    pub fn quote(&mut self, symbol: u32, bid: Level, ask: Level) -> Option<f64> {
        debug_assert!(self.open.is_none(), "end the open book event first");
        if self.depth_fed.get(symbol as usize) == Some(&true) {
            self.quotes_on_depth_books += 1;
            return None;
        }
        let book = self.books.book_mut(symbol)?;
        for (side, l) in [(BookSide::Bid, bid), (BookSide::Ask, ask)] {
            book.clear_side(side);
            // A size of 0 is an empty side, not the removal of an unknown level.
            if l.size != 0.0 {
                book.update(side, l.price, l.size);
            }
        }
        book.end_event();
        self.events += 1;
        Some(book.take_ofi())
    }

    /// Applies one level of a depth message (`snapshot` false) or of a snapshot (`snapshot`
    /// true; `clear_side` empties `side` first, see the snapshot contract of
    /// [`zerotick_core::event`]) and leaves the book event open. Call
    /// [`BookStage::end_event`] first unless the level continues the open event
    /// ([`Boundaries`]). Returns whether the level reached a book (`false`: the id is beyond
    /// the bound, counted).
    #[inline]
    pub fn level(
        &mut self,
        symbol: u32,
        side: BookSide,
        price: f64,
        size: f64,
        snapshot: bool,
        clear_side: bool,
    ) -> bool {
        let i = symbol as usize;
        if self.depth_fed.get(i) != Some(&true) && !self.start_depth(symbol) {
            return false;
        }
        let Some(book) = self.books.get_mut(symbol) else {
            return false;
        };
        if snapshot && clear_side {
            book.clear_side(side);
        }
        // A snapshot level of size 0 sets nothing (it marks an empty side).
        if !(snapshot && size == 0.0) {
            book.update(side, price, size);
        }
        self.open = Some(symbol);
        true
    }

    /// The symbol's first depth level: builds its book if needed and drops the quote's
    /// levels. `false` when the id is beyond the bound.
    #[cold]
    #[inline(never)]
    fn start_depth(&mut self, symbol: u32) -> bool {
        let Some(book) = self.books.book_mut(symbol) else {
            return false;
        };
        book.clear_side(BookSide::Bid);
        book.clear_side(BookSide::Ask);
        let i = symbol as usize;
        if i >= self.depth_fed.len() {
            self.depth_fed.resize(i + 1, false);
        }
        self.depth_fed[i] = true;
        true
    }

    /// Ends the open book event, if any: the book counts a crossed or locked state and
    /// steps its order-flow imbalance. Returns the event's symbol and order-flow imbalance.
    #[inline]
    pub fn end_event(&mut self) -> Option<(u32, f64)> {
        let symbol = self.open.take()?;
        let book = self.books.get_mut(symbol)?;
        book.end_event();
        self.events += 1;
        Some((symbol, book.take_ofi()))
    }

    /// What the books counted so far.
    pub fn report(&self) -> BookReport {
        let s = self.books.stats();
        BookReport {
            symbols: self.books.len() as u64,
            events: self.events,
            crossed: s.crossed,
            locked: s.locked,
            unknown_level_deltas: s.unknown_removals,
            dropped: s.dropped,
            rejected: s.rejected,
            quotes_on_depth_books: self.quotes_on_depth_books,
            refused: self.books.unknown_symbols(),
        }
    }
}

/// What identifies the book event a level belongs to.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Key {
    Delta {
        symbol: u32,
        ts_ns: u64,
        local_ts_ns: Option<core::num::NonZeroU64>,
        first: Option<core::num::NonZeroU64>,
        last: Option<core::num::NonZeroU64>,
    },
    Snapshot {
        symbol: u32,
        /// Sides already cleared by this snapshot (bid, ask).
        cleared: [bool; 2],
    },
}

/// Tells, from the events a feed yields in order, which book levels continue the book event
/// before them (the rule is in the [module docs](self)). Call it for every market event
/// handed on (not for rejections: a rejected line is no part of a message).
///
/// ```
/// use zerotick_core::{BookDelta, BookSide, FeedEvent};
/// use zerotick_pipeline::books::Boundaries;
///
/// let d = |u: u64, price| FeedEvent::BookDelta(BookDelta {
///     ts_ns: 1, local_ts_ns: None, symbol: 0, side: BookSide::Bid, price, size: 1.0,
///     first_update_id: core::num::NonZeroU64::new(u),
///     last_update_id: core::num::NonZeroU64::new(u + 1),
/// });
/// let mut b = Boundaries::default();
/// assert!(!b.continues(&d(10, 1.0)));
/// assert!(b.continues(&d(10, 2.0)), "same message");
/// assert!(!b.continues(&d(12, 1.0)), "next message");
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Boundaries {
    prev: Option<Key>,
}

impl Boundaries {
    /// Whether `e` is a book level continuing the book event of the event before it.
    #[inline]
    pub fn continues(&mut self, e: &FeedEvent) -> bool {
        match e {
            FeedEvent::BookDelta(d) => {
                let key = Key::Delta {
                    symbol: d.symbol,
                    ts_ns: d.ts_ns,
                    local_ts_ns: d.local_ts_ns,
                    first: d.first_update_id,
                    last: d.last_update_id,
                };
                let continues = self.prev == Some(key);
                self.prev = Some(key);
                continues
            }
            FeedEvent::SnapshotLevel(s) => {
                let side = s.level.side as usize;
                let symbol = s.level.symbol;
                let continues = match &mut self.prev {
                    Some(Key::Snapshot { symbol: p, cleared })
                        if *p == symbol && !(s.clear_side && cleared[side]) =>
                    {
                        cleared[side] |= s.clear_side;
                        true
                    }
                    _ => false,
                };
                if !continues {
                    let mut cleared = [false; 2];
                    cleared[side] = s.clear_side;
                    self.prev = Some(Key::Snapshot { symbol, cleared });
                }
                continues
            }
            FeedEvent::Tick(_) | FeedEvent::Quote(_) => {
                self.prev = None;
                false
            }
            FeedEvent::Rejected(_) | FeedEvent::Idle | FeedEvent::End => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerotick_core::{BookDelta, SnapshotLevel};

    fn level(symbol: u32, side: BookSide, clear_side: bool) -> FeedEvent {
        FeedEvent::SnapshotLevel(SnapshotLevel {
            level: BookDelta {
                ts_ns: 5,
                local_ts_ns: None,
                symbol,
                side,
                price: 1.0,
                size: 1.0,
                first_update_id: None,
                last_update_id: None,
            },
            clear_side,
        })
    }

    #[test]
    fn snapshots_end_where_a_side_is_cleared_again_or_the_symbol_changes() {
        use BookSide::{Ask, Bid};
        let mut b = Boundaries::default();
        let got: Vec<bool> = [
            level(0, Ask, true),
            level(0, Ask, false),
            level(0, Bid, true),
            level(0, Bid, false),
            level(0, Ask, true), // the next snapshot
            level(1, Bid, true), // another symbol
            level(1, Bid, false),
        ]
        .iter()
        .map(|e| b.continues(e))
        .collect();
        assert_eq!(got, [false, true, true, true, false, false, true]);
        // A trade or a quote between levels ends the event.
        assert!(!b.continues(&FeedEvent::Tick(zerotick_core::Tick::default())));
        assert!(!b.continues(&level(1, Bid, false)));
        // A rejection is no part of the stream of events.
        assert!(!b.continues(&FeedEvent::Rejected(zerotick_core::RejectReason::BadJson)));
        assert!(b.continues(&level(1, Bid, false)));
    }

    #[test]
    fn a_snapshot_level_of_size_zero_empties_its_side_without_counting_an_unknown_level() {
        let mut s = BookStage::new(8, 4);
        assert!(s.level(2, BookSide::Bid, 10.0, 1.0, false, false));
        assert!(s.level(2, BookSide::Bid, 0.0, 0.0, true, true));
        assert!(
            !s.level(4, BookSide::Bid, 1.0, 1.0, false, false),
            "beyond the bound"
        );
        assert_eq!(s.end_event().map(|e| e.0), Some(2));
        assert!(s.book(2).unwrap().is_empty());
        let r = s.report();
        assert_eq!(
            (r.symbols, r.events, r.unknown_level_deltas, r.refused),
            (1, 1, 0, 1)
        );
        // A quote of size 0 on one side: a one-sided book, nothing unknown either.
        let l = |price, size| Level { price, size };
        assert_eq!(s.quote(0, l(1.0, 0.0), l(2.0, 1.0)), Some(0.0));
        assert_eq!(s.book(0).unwrap().len(BookSide::Bid), 0);
        assert_eq!(s.report().unknown_level_deltas, 0);
    }
}

//! The L2 order book: one symbol's price levels per side ([`Book`]), books for many symbols
//! ([`BookSet`]), what the book counts ([`BookStats`]), and the book features (spread, mid,
//! microprice, imbalance, depth within N bps, order-flow imbalance [`Ofi`]).
//!
//! Promises: a [`Book`] allocates its levels once, at construction (bounded depth per side,
//! fixed then); updates, snapshots and features allocate nothing, never panic on data and never
//! block. Bad input (a NaN, infinite, zero or negative price, a NaN, infinite or negative size)
//! is rejected and counted, leaving the book as it was.
//!
//! ```
//! use zerotick_core::{Book, BookSide, LevelChange};
//!
//! let mut book = Book::new(100);
//! // One message of a depth stream: several levels, then the message boundary.
//! book.update(BookSide::Bid, 99.5, 2.0);
//! book.update(BookSide::Bid, 99.0, 5.0);
//! book.update(BookSide::Ask, 100.5, 1.0);
//! book.end_event();
//! assert_eq!(book.best_bid().map(|l| l.price), Some(99.5));
//! assert_eq!(book.spread(), Some(1.0));
//! assert_eq!(book.mid(), Some(100.0));
//! // A one-level event: `apply` is `update` then `end_event`.
//! assert_eq!(book.apply(BookSide::Bid, 99.5, 0.0), LevelChange::Removed);
//! assert_eq!(book.level(BookSide::Bid, 0).map(|l| l.size), Some(5.0));
//! assert_eq!(book.apply(BookSide::Ask, f64::NAN, 1.0), LevelChange::Rejected);
//! assert_eq!(book.stats().rejected, 1);
//! ```
//!
//! # Prices as keys
//! A level is keyed by the exact `f64` value of its price: exchanges send prices as decimal
//! strings, and parsing a decimal string is correctly rounded, so two spellings of one
//! decimal (`"1.10"`, `"1.1"`) give the same `f64` and two different decimals of fewer than 16
//! significant digits never do. No tick size is assumed and no epsilon is used. Prices must be
//! finite and above 0, sizes finite and at or above 0 (`-0.0` is 0); anything else is
//! [`LevelChange::Rejected`] and counted in [`BookStats::rejected`].
//!
//! # Layout and cost
//! Each side keeps its levels sorted from worst to best in blocks of at most 64 levels
//! (`price, size` pairs, 16 bytes; 1 KiB a block) inside one slab allocated at construction,
//! with a directory listing the blocks in price order and each block's lowest key. Two
//! adjacent blocks always hold more than 64 levels together, so a side of `n` levels uses at
//! most `2n / 65 + 1` blocks and the slab (about `2 * depth` levels, as many as the blocks
//! this bound needs at `depth + 1` levels; at least 2 blocks for any depth above 0) never runs
//! out. An update at the level of rank `k` (0 = the best) of a side holding `n` levels costs:
//! * the search: the directory (the top block first, else a binary search), then the block's
//!   keys (`sign * price`, kept in an array beside the levels): a linear scan of the top
//!   block's top [`TOP_SCAN`] keys, then a count of the block's keys below the searched one
//!   (branch-free SIMD compares over at most 64 keys);
//! * a size change: nothing more;
//! * an insertion or removal: a `memmove` of the block's levels above it (at most 63);
//! * when the block is full: its worst level moves to the previous block or its best to the
//!   next one if that has room, otherwise it splits in two halves (a copy of 32 levels and a
//!   `memmove` of the directory, 16 bytes an entry); when a removal leaves a block that fits
//!   with a neighbour in one block, the two merge (a copy of at most 63 levels).
//!
//! So every update is `O(log n)` comparisons and moves at most a block's worth of bytes
//! (1 KiB), plus, on a split or merge, the directory (`n / 32` entries at most); for the
//! realistic stream, where most updates touch the top few levels, that is a handful of
//! comparisons and a move of a few dozen bytes in the top block. The best level is `O(1)`
//! and level `i` walks the blocks from the top, `O(1 + i / 32)`: the top-N reads of the
//! features stay within one or two blocks.
//!
//! # Bounded depth
//! A side holds at most `depth` levels (set by [`Book::new`], clamped to [`MAX_DEPTH`]). When a
//! full side receives a new level:
//! * better than its worst kept level: the worst level is dropped and the new one kept
//!   ([`LevelChange::InsertedDroppingWorst`]);
//! * worse than every kept level: the new level is not kept ([`LevelChange::Dropped`]).
//!
//! Both count one in [`BookStats::dropped`]. The side remembers the best price it dropped since
//! it was last cleared, its [`horizon`](Book::horizon): every level strictly better than the
//! horizon is exactly the book the updates describe; at and beyond it levels may be missing.
//! A removal of a level the side does not hold is [`LevelChange::UnknownRemoval`] (counted in
//! [`BookStats::unknown_removals`]) when it is better than the horizon, and
//! [`LevelChange::RemovedBeyondHorizon`] (not counted: the level may be one the side dropped)
//! otherwise. A side with room keeps new levels beyond its horizon. Clearing a side (a
//! snapshot) resets its horizon.
//!
//! # Events, crossed books and order-flow imbalance
//! A source message may carry many levels (a Binance `depthUpdate`) and may cross the book
//! transiently between its levels. So [`Book::update`] applies one level and checks nothing;
//! [`Book::end_event`] marks the message boundary: it counts a crossed (best bid above best
//! ask) or locked (equal) book in [`BookStats`] and steps the order-flow imbalance from the
//! best levels at the previous boundary to the current ones. A snapshot is
//! [`Book::clear_side`], its levels through [`Book::update`], then [`Book::end_event`].

use crate::tick::BookSide;
use ladder::Ladder;

mod ladder;

/// Depth per side of [`Book::default`] and a reasonable default for [`Book::new`]: Binance
/// futures' largest REST snapshot, and several times the 20 bps of a liquid pair's book.
/// About 96 KiB of levels and keys per book.
pub const DEFAULT_DEPTH: usize = 1000;

/// The largest depth per side a book accepts (larger requests are clamped): about 6 MB of levels
/// per book.
pub const MAX_DEPTH: usize = 1 << 16;

/// Levels at the top of a side that a search scans linearly before it binary-searches the
/// rest (most updates land there).
pub const TOP_SCAN: usize = 8;

/// One price level: a price and the quantity resting there (always above 0 in a book).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Level {
    /// The level's price.
    pub price: f64,
    /// The quantity at that price.
    pub size: f64,
}

/// What a book counted. Every count is of events or level updates since the book was built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BookStats {
    /// [`Book::end_event`] calls after which the best bid was above the best ask.
    pub crossed: u64,
    /// [`Book::end_event`] calls after which the best bid equalled the best ask.
    pub locked: u64,
    /// Removals (size 0) of a level the book does not hold, at a price better than the side's
    /// horizon (where the book is exact).
    pub unknown_removals: u64,
    /// Levels lost to the bounded depth: a new level not kept, or the worst level dropped to
    /// make room for a better one.
    pub dropped: u64,
    /// Updates refused: price not finite or not above 0, or size not finite or below 0.
    pub rejected: u64,
}

impl BookStats {
    /// Adds `other`'s counts to these (totals over several books).
    pub fn merge(&mut self, other: &BookStats) {
        self.crossed += other.crossed;
        self.locked += other.locked;
        self.unknown_removals += other.unknown_removals;
        self.dropped += other.dropped;
        self.rejected += other.rejected;
    }
}

/// What one [`Book::update`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LevelChange {
    /// A new level was added.
    Inserted,
    /// A new level was added to a full side, whose worst level was dropped (counted).
    InsertedDroppingWorst,
    /// An existing level got a new size.
    Changed,
    /// An existing level was removed (size 0).
    Removed,
    /// A removal of a level the book does not hold, better than the horizon (counted).
    UnknownRemoval,
    /// A removal of a level the book does not hold, at or beyond the horizon (where the book
    /// may lack levels it dropped): nothing to do, not counted.
    RemovedBeyondHorizon,
    /// A new level worse than every level of a full side: not kept (counted).
    Dropped,
    /// Bad price or size: the book is unchanged (counted).
    Rejected,
}

/// The state of the top of the book at an event boundary ([`Book::end_event`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookState {
    /// Both sides present, best bid below best ask.
    Normal,
    /// Best bid equals best ask (counted).
    Locked,
    /// Best bid above best ask (counted).
    Crossed,
    /// One side is empty.
    OneSided,
    /// Both sides are empty.
    Empty,
}

/// Quantity per side, e.g. within some distance of the mid ([`Book::depth_within_bps`]).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SideSums {
    /// Sum over bid levels.
    pub bid: f64,
    /// Sum over ask levels.
    pub ask: f64,
}

/// Order-flow imbalance at the best levels (Cont, Kukanov and Stoikov, "The price impact of
/// order book events", 2014): for consecutive observations `n-1`, `n` of the best bid
/// `(Pb, qb)` and best ask `(Pa, qa)`,
///
/// ```text
/// e_n = [Pb_n >= Pb_n-1] qb_n - [Pb_n <= Pb_n-1] qb_n-1
///     - [Pa_n <= Pa_n-1] qa_n + [Pa_n >= Pa_n-1] qa_n-1
/// ```
///
/// accumulated until read with [`Ofi::take`]. A side's terms are 0 when that side is missing
/// in either observation (an empty side has no best quote to compare). Usable on its own for
/// quote events (best bid/ask with sizes), and embedded in every [`Book`].
///
/// ```
/// use zerotick_core::book::{Level, Ofi};
///
/// let mut ofi = Ofi::default();
/// let q = |price, size| Some(Level { price, size });
/// ofi.observe(q(100.0, 5.0), q(101.0, 4.0)); // first observation: nothing to compare
/// ofi.observe(q(100.0, 7.0), q(101.0, 4.0)); // bid size +2 at the same price
/// ofi.observe(q(100.5, 1.0), q(101.0, 3.0)); // new better bid (+1), ask -1 at the same price
/// assert_eq!(ofi.take(), 2.0 + 1.0 + 1.0);
/// assert_eq!(ofi.take(), 0.0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Ofi {
    prev_bid: Option<Level>,
    prev_ask: Option<Level>,
    acc: f64,
}

impl Ofi {
    /// Records an observation of the best levels; returns its `e_n` (also accumulated).
    #[inline]
    pub fn observe(&mut self, bid: Option<Level>, ask: Option<Level>) -> f64 {
        let mut e = 0.0;
        if let (Some(b), Some(p)) = (bid, self.prev_bid) {
            if b.price >= p.price {
                e += b.size;
            }
            if b.price <= p.price {
                e -= p.size;
            }
        }
        if let (Some(a), Some(p)) = (ask, self.prev_ask) {
            if a.price <= p.price {
                e -= a.size;
            }
            if a.price >= p.price {
                e += p.size;
            }
        }
        self.prev_bid = bid;
        self.prev_ask = ask;
        self.acc += e;
        e
    }

    /// The sum of `e_n` since the last [`Ofi::take`].
    #[inline]
    pub fn value(&self) -> f64 {
        self.acc
    }

    /// Returns the sum of `e_n` since the last take and starts a new sum (the last
    /// observation stays the reference for the next `e_n`).
    #[inline]
    pub fn take(&mut self) -> f64 {
        core::mem::take(&mut self.acc)
    }
}

/// One symbol's L2 book, bounded to a depth per side fixed at construction. See the
/// [module docs](self) for the rules (keys, cost, bounded depth, events).
#[derive(Debug, Clone)]
pub struct Book {
    bids: Ladder,
    asks: Ladder,
    stats: BookStats,
    ofi: Ofi,
}

impl Default for Book {
    /// A book of [`DEFAULT_DEPTH`] levels per side.
    fn default() -> Self {
        Self::new(DEFAULT_DEPTH)
    }
}

impl Book {
    /// An empty book holding at most `depth` levels per side (clamped to [`MAX_DEPTH`]); its
    /// storage (about `2 * depth` levels of 16 bytes per side, at least 2 blocks of 64 levels
    /// for a depth above 0) is allocated here, once.
    pub fn new(depth: usize) -> Self {
        let depth = depth.min(MAX_DEPTH);
        Self {
            bids: Ladder::new(depth, 1.0),
            asks: Ladder::new(depth, -1.0),
            stats: BookStats::default(),
            ofi: Ofi::default(),
        }
    }

    /// The most levels a side holds.
    pub fn depth(&self) -> usize {
        self.bids.cap
    }

    #[inline]
    fn side(&self, side: BookSide) -> &Ladder {
        match side {
            BookSide::Bid => &self.bids,
            BookSide::Ask => &self.asks,
        }
    }

    /// Sets the level at `price` on `side` to `size` (0 removes it): one level of an event.
    /// Does not check for a crossed book; call [`Book::end_event`] at the end of the event.
    /// Never panics; bad input is [`LevelChange::Rejected`] and counted.
    #[inline]
    pub fn update(&mut self, side: BookSide, price: f64, size: f64) -> LevelChange {
        if !(price.is_finite() && price > 0.0 && size.is_finite() && size >= 0.0) {
            self.stats.rejected += 1;
            return LevelChange::Rejected;
        }
        let ladder = match side {
            BookSide::Bid => &mut self.bids,
            BookSide::Ask => &mut self.asks,
        };
        let change = ladder.set(price, size);
        match change {
            LevelChange::UnknownRemoval => self.stats.unknown_removals += 1,
            LevelChange::Dropped | LevelChange::InsertedDroppingWorst => self.stats.dropped += 1,
            _ => {}
        }
        change
    }

    /// Removes every level of `side` and resets its horizon: the start of a snapshot of that
    /// side, whose levels follow through [`Book::update`], then [`Book::end_event`].
    pub fn clear_side(&mut self, side: BookSide) {
        match side {
            BookSide::Bid => self.bids.clear(),
            BookSide::Ask => self.asks.clear(),
        }
    }

    /// Replaces `side`'s levels with `levels` (price, size pairs, any order) and ends the
    /// event: [`Book::clear_side`], an [`Book::update`] per level, [`Book::end_event`].
    pub fn replace_side(
        &mut self,
        side: BookSide,
        levels: impl IntoIterator<Item = (f64, f64)>,
    ) -> BookState {
        self.clear_side(side);
        for (price, size) in levels {
            self.update(side, price, size);
        }
        self.end_event()
    }

    /// The end of an event (a message of updates, a snapshot): counts a crossed or locked book
    /// in [`BookStats`], steps the order-flow imbalance from the best levels at the previous
    /// end of event to the current ones, and returns the state of the top of the book.
    #[inline]
    pub fn end_event(&mut self) -> BookState {
        let (bid, ask) = (self.best_bid(), self.best_ask());
        self.ofi.observe(bid, ask);
        match (bid, ask) {
            (Some(b), Some(a)) if b.price > a.price => {
                self.stats.crossed += 1;
                BookState::Crossed
            }
            (Some(b), Some(a)) if b.price == a.price => {
                self.stats.locked += 1;
                BookState::Locked
            }
            (Some(_), Some(_)) => BookState::Normal,
            (None, None) => BookState::Empty,
            _ => BookState::OneSided,
        }
    }

    /// A one-level event: [`Book::update`] then [`Book::end_event`].
    #[inline]
    pub fn apply(&mut self, side: BookSide, price: f64, size: f64) -> LevelChange {
        let change = self.update(side, price, size);
        self.end_event();
        change
    }

    /// What the book counted so far.
    pub fn stats(&self) -> BookStats {
        self.stats
    }

    /// The best bid (highest price), if any.
    #[inline]
    pub fn best_bid(&self) -> Option<Level> {
        self.bids.level(0)
    }

    /// The best ask (lowest price), if any.
    #[inline]
    pub fn best_ask(&self) -> Option<Level> {
        self.asks.level(0)
    }

    /// Level `rank` of `side` (0 = the best), if the side holds that many.
    #[inline]
    pub fn level(&self, side: BookSide, rank: usize) -> Option<Level> {
        self.side(side).level(rank)
    }

    /// Levels held on `side`.
    #[inline]
    pub fn len(&self, side: BookSide) -> usize {
        self.side(side).len()
    }

    /// Whether both sides are empty.
    pub fn is_empty(&self) -> bool {
        self.bids.len() == 0 && self.asks.len() == 0
    }

    /// `side`'s levels, best first.
    pub fn levels(&self, side: BookSide) -> impl DoubleEndedIterator<Item = Level> + '_ {
        self.side(side).iter()
    }

    /// The best price `side` dropped for lack of room since it was last cleared: levels
    /// strictly better are exactly the book; at and beyond it levels may be missing. `None`
    /// when the side dropped nothing.
    pub fn horizon(&self, side: BookSide) -> Option<f64> {
        let l = self.side(side);
        (l.horizon != f64::NEG_INFINITY).then_some(l.sign * l.horizon)
    }

    #[inline]
    fn top(&self) -> Option<(Level, Level)> {
        Some((self.best_bid()?, self.best_ask()?))
    }

    /// `ask - bid` at the best levels; `None` unless both sides hold a level. Negative when
    /// the book is crossed.
    #[inline]
    pub fn spread(&self) -> Option<f64> {
        self.top().map(|(b, a)| a.price - b.price)
    }

    /// `(bid + ask) / 2` at the best levels; `None` unless both sides hold a level.
    #[inline]
    pub fn mid(&self) -> Option<f64> {
        self.top().map(|(b, a)| (b.price + a.price) / 2.0)
    }

    /// Size-weighted mid, `(bid * ask_size + ask * bid_size) / (bid_size + ask_size)` at the
    /// best levels (closer to the side with less quantity); `None` unless both sides hold a
    /// level (sizes in a book are above 0, so the denominator is too).
    #[inline]
    pub fn microprice(&self) -> Option<f64> {
        self.top()
            .map(|(b, a)| (b.price * a.size + a.price * b.size) / (b.size + a.size))
    }

    /// `(B - A) / (B + A)` with `B`, `A` the quantity of the top `levels` levels of each side
    /// (fewer if a side holds fewer), in `[-1, 1]`, positive when bids outweigh asks. `None`
    /// when `levels` is 0 or a side is empty.
    #[inline]
    pub fn imbalance(&self, levels: usize) -> Option<f64> {
        if levels == 0 {
            return None;
        }
        self.top()?;
        let b: f64 = self
            .levels(BookSide::Bid)
            .take(levels)
            .map(|l| l.size)
            .sum();
        let a: f64 = self
            .levels(BookSide::Ask)
            .take(levels)
            .map(|l| l.size)
            .sum();
        Some((b - a) / (b + a))
    }

    /// Quantity per side within `bps` basis points of the mid `m`: bids priced at or above
    /// `m * (1 - bps / 10_000)`, asks at or below `m * (1 + bps / 10_000)`. `None` unless both
    /// sides hold a level, or when `bps` is negative or not finite. Counts only levels the
    /// book holds (see [`Book::horizon`]).
    #[inline]
    pub fn depth_within_bps(&self, bps: f64) -> Option<SideSums> {
        if !(bps.is_finite() && bps >= 0.0) {
            return None;
        }
        let m = self.mid()?;
        let (lo, hi) = (m * (1.0 - bps / 10_000.0), m * (1.0 + bps / 10_000.0));
        let bid = self
            .levels(BookSide::Bid)
            .take_while(|l| l.price >= lo)
            .map(|l| l.size)
            .sum();
        let ask = self
            .levels(BookSide::Ask)
            .take_while(|l| l.price <= hi)
            .map(|l| l.size)
            .sum();
        Some(SideSums { bid, ask })
    }

    /// Order-flow imbalance accumulated over the [`Book::end_event`] calls since the last
    /// [`Book::take_ofi`] (see [`Ofi`] for the formula).
    #[inline]
    pub fn ofi(&self) -> f64 {
        self.ofi.value()
    }

    /// Returns the accumulated order-flow imbalance and starts a new sum.
    #[inline]
    pub fn take_ofi(&mut self) -> f64 {
        self.ofi.take()
    }
}

/// Books for many symbols, indexed by symbol id (`Tick::symbol`, dense from 0 as the symbol
/// table hands them out).
///
/// Allocation: [`BookSet::with_symbols`] builds the first books up front; a symbol seen
/// later gets its book on its first [`BookSet::book_mut`], which allocates once per new
/// symbol (the book's levels, and a slot per id up to it), during warm-up, like the symbol
/// table. Only symbols that were asked for get a book: a feed whose ids are shared by
/// trade-only symbols pays nothing for them. Ids at or above `max_symbols` are refused and
/// counted.
///
/// ```
/// use zerotick_core::{BookSet, BookSide};
///
/// let mut books = BookSet::with_symbols(50, 3, 0);
/// books.book_mut(1).unwrap().apply(BookSide::Bid, 10.0, 1.0);
/// assert!(books.book_mut(3).is_none(), "beyond max_symbols");
/// assert_eq!(books.unknown_symbols(), 1);
/// assert_eq!(books.get(1).and_then(|b| b.best_bid()).map(|l| l.size), Some(1.0));
/// assert!(books.get(0).is_none(), "symbol 0 never asked for a book");
/// assert_eq!(books.len(), 1);
/// ```
#[derive(Debug, Clone, Default)]
pub struct BookSet {
    /// Slot per symbol id; `Some` once that symbol's book is built.
    books: Vec<Option<Book>>,
    /// Books built (the `Some` slots).
    built: usize,
    depth: usize,
    max_symbols: usize,
    unknown_symbols: u64,
}

impl BookSet {
    /// No books yet; books of `depth` levels per side for symbol ids below `max_symbols`.
    pub fn new(depth: usize, max_symbols: usize) -> Self {
        Self::with_symbols(depth, max_symbols, 0)
    }

    /// As [`BookSet::new`], with the books of ids `0..symbols` (at most `max_symbols`) built
    /// now.
    pub fn with_symbols(depth: usize, max_symbols: usize, symbols: usize) -> Self {
        let symbols = symbols.min(max_symbols);
        let mut books = Vec::with_capacity(symbols);
        books.resize_with(symbols, || Some(Book::new(depth)));
        Self {
            books,
            built: symbols,
            depth,
            max_symbols,
            unknown_symbols: 0,
        }
    }

    /// Books built so far.
    pub fn len(&self) -> usize {
        self.built
    }

    /// Whether no book is built.
    pub fn is_empty(&self) -> bool {
        self.built == 0
    }

    /// The book of `symbol`, if built.
    #[inline]
    pub fn get(&self, symbol: u32) -> Option<&Book> {
        self.books.get(symbol as usize)?.as_ref()
    }

    /// The book of `symbol`, if built; never allocates.
    #[inline]
    pub fn get_mut(&mut self, symbol: u32) -> Option<&mut Book> {
        self.books.get_mut(symbol as usize)?.as_mut()
    }

    /// The book of `symbol`, built on first use (allocates then, once). `None`, counted in
    /// [`BookSet::unknown_symbols`], when `symbol >= max_symbols`.
    #[inline]
    pub fn book_mut(&mut self, symbol: u32) -> Option<&mut Book> {
        let i = symbol as usize;
        if !matches!(self.books.get(i), Some(Some(_))) {
            self.build(i)?;
        }
        self.books.get_mut(i)?.as_mut()
    }

    #[cold]
    #[inline(never)]
    fn build(&mut self, i: usize) -> Option<()> {
        if i >= self.max_symbols {
            self.unknown_symbols += 1;
            return None;
        }
        if i >= self.books.len() {
            self.books.resize_with(i + 1, || None);
        }
        self.books[i] = Some(Book::new(self.depth));
        self.built += 1;
        Some(())
    }

    /// Symbol ids refused by [`BookSet::book_mut`] (at or above `max_symbols`).
    pub fn unknown_symbols(&self) -> u64 {
        self.unknown_symbols
    }

    /// `(symbol, book)` for every built book, by symbol id.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Book)> {
        (0u32..)
            .zip(self.books.iter())
            .filter_map(|(s, b)| Some((s, b.as_ref()?)))
    }

    /// The counts of every book, summed.
    pub fn stats(&self) -> BookStats {
        let mut total = BookStats::default();
        for (_, b) in self.iter() {
            total.merge(&b.stats);
        }
        total
    }
}

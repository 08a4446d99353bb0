//! The order book against a plain reference (a `BTreeMap` per side keyed by the price's bits,
//! with the same depth rule written the obvious way): random update streams (proptest and a
//! long seeded stream at depth 1,000), adversarial cases, every feature against a
//! recomputation from the reference's levels, and order-flow imbalance against a hand-computed
//! example of the paper's definition.
//!
//! Tolerance: the random streams use prices on a 0.5 grid and sizes on a 0.25 grid, so every
//! sum and difference is exact in binary and features are compared exactly except where
//! a division or the order of summation could differ by rounding (`close`: 1e-12 relative).

use std::collections::BTreeMap;

use proptest::prelude::*;
use zerotick_core::book::{DEFAULT_DEPTH, MAX_DEPTH};
use zerotick_core::rng::Rng;
use zerotick_core::{Book, BookSet, BookSide, BookState, BookStats, Level, LevelChange, SideSums};

/// One side of the reference book.
#[derive(Debug, Clone)]
struct RefSide {
    bid: bool,
    cap: usize,
    /// Price bits -> size. Prices are finite and > 0, whose bits order like their values.
    levels: BTreeMap<u64, f64>,
    /// Best price dropped since the last clear.
    horizon: Option<f64>,
}

impl RefSide {
    fn new(bid: bool, cap: usize) -> Self {
        Self {
            bid,
            cap,
            levels: BTreeMap::new(),
            horizon: None,
        }
    }

    fn better(&self, a: f64, b: f64) -> bool {
        if self.bid { a > b } else { a < b }
    }

    fn best_first(&self) -> Vec<Level> {
        let it = self.levels.iter().map(|(k, s)| Level {
            price: f64::from_bits(*k),
            size: *s,
        });
        if self.bid {
            it.rev().collect()
        } else {
            it.collect()
        }
    }

    fn note_drop(&mut self, price: f64) {
        self.horizon = match self.horizon {
            Some(h) if !self.better(price, h) => Some(h),
            _ => Some(price),
        };
    }

    fn set(&mut self, price: f64, size: f64) -> LevelChange {
        let key = price.to_bits();
        if self.levels.contains_key(&key) {
            if size == 0.0 {
                self.levels.remove(&key);
                return LevelChange::Removed;
            }
            self.levels.insert(key, size);
            return LevelChange::Changed;
        }
        if size == 0.0 {
            return match self.horizon {
                Some(h) if !self.better(price, h) => LevelChange::RemovedBeyondHorizon,
                _ => LevelChange::UnknownRemoval,
            };
        }
        if self.levels.len() < self.cap {
            self.levels.insert(key, size);
            return LevelChange::Inserted;
        }
        let worst = self.best_first().last().map(|l| l.price);
        match worst {
            Some(w) if self.better(price, w) => {
                self.levels.remove(&w.to_bits());
                self.note_drop(w);
                self.levels.insert(key, size);
                LevelChange::InsertedDroppingWorst
            }
            _ => {
                self.note_drop(price);
                LevelChange::Dropped
            }
        }
    }
}

/// The reference book: sides, counts, and OFI in the paper's three-case form.
#[derive(Debug, Clone)]
struct RefBook {
    bids: RefSide,
    asks: RefSide,
    stats: BookStats,
    prev: Option<(Option<Level>, Option<Level>)>,
    ofi: f64,
}

impl RefBook {
    fn new(depth: usize) -> Self {
        Self {
            bids: RefSide::new(true, depth),
            asks: RefSide::new(false, depth),
            stats: BookStats::default(),
            prev: None,
            ofi: 0.0,
        }
    }

    fn side(&mut self, side: BookSide) -> &mut RefSide {
        match side {
            BookSide::Bid => &mut self.bids,
            BookSide::Ask => &mut self.asks,
        }
    }

    fn update(&mut self, side: BookSide, price: f64, size: f64) -> LevelChange {
        let ok_price = price.is_finite() && price > 0.0;
        let ok_size = size.is_finite() && size >= 0.0;
        if !ok_price || !ok_size {
            self.stats.rejected += 1;
            return LevelChange::Rejected;
        }
        let change = self.side(side).set(price, size);
        match change {
            LevelChange::UnknownRemoval => self.stats.unknown_removals += 1,
            LevelChange::Dropped | LevelChange::InsertedDroppingWorst => self.stats.dropped += 1,
            _ => {}
        }
        change
    }

    fn clear(&mut self, side: BookSide) {
        let s = self.side(side);
        s.levels.clear();
        s.horizon = None;
    }

    fn best(&self) -> (Option<Level>, Option<Level>) {
        (
            self.bids.best_first().first().copied(),
            self.asks.best_first().first().copied(),
        )
    }

    fn end_event(&mut self) -> BookState {
        let (bid, ask) = self.best();
        if let Some((pb, pa)) = self.prev {
            let mut e = 0.0;
            if let (Some(b), Some(p)) = (bid, pb) {
                e += if b.price > p.price {
                    b.size
                } else if b.price == p.price {
                    b.size - p.size
                } else {
                    -p.size
                };
            }
            if let (Some(a), Some(p)) = (ask, pa) {
                e += if a.price < p.price {
                    -a.size
                } else if a.price == p.price {
                    p.size - a.size
                } else {
                    p.size
                };
            }
            self.ofi += e;
        }
        self.prev = Some((bid, ask));
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
}

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-12 * a.abs().max(b.abs())
}

fn close_opt(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => close(a, b),
        (None, None) => true,
        _ => false,
    }
}

/// Every level, count and horizon of `book` equals the reference's.
fn assert_same(book: &Book, r: &RefBook) {
    for (side, rs) in [(BookSide::Bid, &r.bids), (BookSide::Ask, &r.asks)] {
        let got: Vec<Level> = book.levels(side).collect();
        assert_eq!(got, rs.best_first(), "{side:?} levels");
        assert_eq!(book.len(side), got.len());
        assert_eq!(book.horizon(side), rs.horizon, "{side:?} horizon");
        for (i, l) in got.iter().enumerate() {
            assert_eq!(book.level(side, i), Some(*l));
        }
        assert_eq!(book.level(side, got.len()), None);
    }
    assert_eq!(book.stats(), r.stats);
}

/// Every feature of `book` equals its recomputation from the reference's levels.
fn assert_features(book: &Book, r: &RefBook) {
    let (bids, asks) = (r.bids.best_first(), r.asks.best_first());
    let top = bids.first().zip(asks.first());
    assert_eq!(book.best_bid(), bids.first().copied());
    assert_eq!(book.best_ask(), asks.first().copied());
    assert_eq!(book.spread(), top.map(|(b, a)| a.price - b.price));
    assert_eq!(book.mid(), top.map(|(b, a)| (b.price + a.price) / 2.0));
    let micro = top.map(|(b, a)| (b.price * a.size + a.price * b.size) / (b.size + a.size));
    assert!(close_opt(book.microprice(), micro));
    for n in [0, 1, 5, 10, 1000] {
        let want = top.filter(|_| n > 0).map(|_| {
            let b: f64 = bids.iter().take(n).map(|l| l.size).sum();
            let a: f64 = asks.iter().take(n).map(|l| l.size).sum();
            (b - a) / (b + a)
        });
        assert!(close_opt(book.imbalance(n), want), "imbalance {n}");
    }
    for bps in [0.0, 10.0, 50.0, 250.0, 1e6] {
        let want = top.map(|(b, a)| {
            let m = (b.price + a.price) / 2.0;
            let lo = m * (1.0 - bps / 10_000.0);
            let hi = m * (1.0 + bps / 10_000.0);
            SideSums {
                bid: bids.iter().filter(|l| l.price >= lo).map(|l| l.size).sum(),
                ask: asks.iter().filter(|l| l.price <= hi).map(|l| l.size).sum(),
            }
        });
        assert_eq!(book.depth_within_bps(bps), want, "depth within {bps} bps");
    }
    assert_eq!(book.depth_within_bps(f64::NAN), None);
    assert_eq!(book.depth_within_bps(-1.0), None);
    assert!(close(book.ofi(), r.ofi), "ofi {} vs {}", book.ofi(), r.ofi);
}

#[derive(Debug, Clone)]
enum Op {
    Update(BookSide, f64, f64),
    End,
    Clear(BookSide),
    TakeOfi,
}

fn side() -> impl Strategy<Value = BookSide> {
    prop_oneof![Just(BookSide::Bid), Just(BookSide::Ask)]
}

fn price() -> impl Strategy<Value = f64> {
    prop_oneof![
        30 => (0u32..40).prop_map(|k| 90.0 + f64::from(k) * 0.5),
        1 => prop::sample::select(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, 0.0, -0.0]),
    ]
}

fn size() -> impl Strategy<Value = f64> {
    prop_oneof![
        5 => Just(0.0),
        12 => (1u32..40).prop_map(|k| f64::from(k) * 0.25),
        1 => prop::sample::select(vec![f64::NAN, f64::INFINITY, -0.25, -0.0]),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        30 => (side(), price(), size()).prop_map(|(s, p, q)| Op::Update(s, p, q)),
        8 => Just(Op::End),
        1 => side().prop_map(Op::Clear),
        1 => Just(Op::TakeOfi),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_streams_match_the_reference(
        depth in prop::sample::select(vec![0usize, 1, 2, 3, 5, 8, 9, 13, 64]),
        ops in prop::collection::vec(op(), 0..400),
    ) {
        let mut book = Book::new(depth);
        let mut r = RefBook::new(depth);
        for op in ops {
            match op {
                Op::Update(s, p, q) => prop_assert_eq!(book.update(s, p, q), r.update(s, p, q)),
                Op::End => {
                    prop_assert_eq!(book.end_event(), r.end_event());
                    assert_features(&book, &r);
                }
                Op::Clear(s) => {
                    book.clear_side(s);
                    r.clear(s);
                }
                Op::TakeOfi => {
                    prop_assert!(close(book.take_ofi(), r.ofi));
                    r.ofi = 0.0;
                    prop_assert_eq!(book.ofi(), 0.0);
                }
            }
            assert_same(&book, &r);
        }
    }
}

/// A long stream at the default depth around a drifting mid, most updates near the top: the
/// binary-search part of the search, both directions of the window and its recentring all run.
#[test]
fn a_long_stream_at_default_depth_matches_the_reference() {
    for (depth, seed) in [(DEFAULT_DEPTH, 1), (64, 2), (1, 3)] {
        let mut rng = Rng::new(seed);
        let mut book = Book::new(depth);
        let mut r = RefBook::new(depth);
        let mut mid = 100_000i64; // in ticks of 0.5
        for step in 0..100_000u32 {
            if rng.next_u64().is_multiple_of(16) {
                mid += (rng.next_u64() % 3) as i64 - 1;
            }
            let side = if rng.next_u64().is_multiple_of(2) {
                BookSide::Bid
            } else {
                BookSide::Ask
            };
            // Distance from the mid: mostly a few ticks, sometimes deep (up to 3,000 ticks).
            let dist = if rng.next_u64().is_multiple_of(8) {
                rng.next_u64() % 3000
            } else {
                rng.next_u64() % 12
            } as i64
                + 1;
            let ticks = match side {
                BookSide::Bid => mid - dist,
                BookSide::Ask => mid + dist,
            };
            let price = ticks as f64 * 0.5;
            let size = if rng.next_u64().is_multiple_of(3) {
                0.0
            } else {
                (1 + rng.next_u64() % 64) as f64 * 0.25
            };
            assert_eq!(book.update(side, price, size), r.update(side, price, size));
            if step % 4 == 3 {
                assert_eq!(book.end_event(), r.end_event());
            }
            if step % 997 == 0 {
                assert_same(&book, &r);
                assert_features(&book, &r);
            }
            if step % 25_000 == 24_999 {
                // A snapshot of the bids from the reference's levels.
                let levels = r.bids.best_first();
                book.replace_side(BookSide::Bid, levels.iter().map(|l| (l.price, l.size)));
                r.clear(BookSide::Bid);
                for l in &levels {
                    r.update(BookSide::Bid, l.price, l.size);
                }
                r.end_event();
            }
        }
        assert_same(&book, &r);
        assert!(book.stats().dropped > 0 || depth == DEFAULT_DEPTH);
    }
}

#[test]
fn removing_unknown_levels_is_counted_and_changes_nothing() {
    let mut book = Book::new(10);
    book.apply(BookSide::Bid, 100.0, 1.0);
    assert_eq!(
        book.apply(BookSide::Bid, 99.0, 0.0),
        LevelChange::UnknownRemoval
    );
    assert_eq!(
        book.apply(BookSide::Ask, 100.0, 0.0),
        LevelChange::UnknownRemoval,
        "a bid level is not an ask level"
    );
    assert_eq!(book.stats().unknown_removals, 2);
    assert_eq!(book.len(BookSide::Bid), 1);
    assert_eq!(book.len(BookSide::Ask), 0);
    assert_eq!(book.apply(BookSide::Bid, 100.0, 0.0), LevelChange::Removed);
    assert_eq!(
        book.apply(BookSide::Bid, 100.0, 0.0),
        LevelChange::UnknownRemoval
    );
    assert!(book.is_empty());
}

#[test]
fn crossed_and_locked_books_are_counted_at_event_ends_only() {
    let mut book = Book::new(10);
    book.update(BookSide::Bid, 100.0, 1.0);
    book.update(BookSide::Ask, 101.0, 1.0);
    assert_eq!(book.end_event(), BookState::Normal);
    assert_eq!(book.apply(BookSide::Bid, 101.0, 2.0), LevelChange::Inserted);
    assert_eq!(book.stats().locked, 1);
    book.apply(BookSide::Bid, 102.0, 2.0);
    assert_eq!(book.stats().crossed, 1);
    assert_eq!(
        book.spread(),
        Some(-1.0),
        "a crossed book's spread is negative"
    );
    // The market moves up within one message: transiently crossed, not counted.
    book.update(BookSide::Bid, 102.0, 0.0);
    book.update(BookSide::Bid, 101.0, 0.0);
    book.update(BookSide::Bid, 103.0, 1.0);
    book.update(BookSide::Ask, 101.0, 0.0);
    book.update(BookSide::Ask, 104.0, 1.0);
    assert_eq!(book.end_event(), BookState::Normal);
    assert_eq!((book.stats().crossed, book.stats().locked), (1, 1));
    book.clear_side(BookSide::Ask);
    assert_eq!(book.end_event(), BookState::OneSided);
    book.clear_side(BookSide::Bid);
    assert_eq!(book.end_event(), BookState::Empty);
}

#[test]
fn a_snapshot_replaces_one_side_and_its_horizon() {
    let mut book = Book::new(3);
    for p in [1.0, 2.0, 3.0, 4.0, 5.0] {
        book.apply(BookSide::Bid, p, 1.0);
    }
    book.apply(BookSide::Ask, 6.0, 1.0);
    assert_eq!(book.horizon(BookSide::Bid), Some(2.0));
    let state = book.replace_side(BookSide::Bid, [(4.5, 2.0), (3.5, 3.0)]);
    assert_eq!(state, BookState::Normal);
    let bids: Vec<_> = book
        .levels(BookSide::Bid)
        .map(|l| (l.price, l.size))
        .collect();
    assert_eq!(bids, [(4.5, 2.0), (3.5, 3.0)]);
    assert_eq!(book.horizon(BookSide::Bid), None);
    assert_eq!(
        book.best_ask(),
        Some(Level {
            price: 6.0,
            size: 1.0
        })
    );
    // A book rebuilt from deltas equals the snapshot that follows.
    let mut from_deltas = Book::new(50);
    let mut from_snapshot = Book::new(50);
    let mut rng = Rng::new(7);
    for _ in 0..5000 {
        let p = (100 + rng.next_u64() % 40) as f64;
        let q = (rng.next_u64() % 4) as f64;
        from_deltas.apply(BookSide::Ask, p, q);
    }
    let snapshot: Vec<(f64, f64)> = from_deltas
        .levels(BookSide::Ask)
        .rev() // worst first: the order does not matter
        .map(|l| (l.price, l.size))
        .collect();
    from_snapshot.replace_side(BookSide::Ask, snapshot);
    assert!(
        from_deltas
            .levels(BookSide::Ask)
            .eq(from_snapshot.levels(BookSide::Ask))
    );
}

#[test]
fn capacity_overflow_drops_the_worst_and_keeps_the_horizon() {
    let mut book = Book::new(3);
    let mut changes = Vec::new();
    for p in [10.0, 11.0, 12.0, 13.0, 14.0] {
        changes.push(book.apply(BookSide::Bid, p, 1.0));
    }
    use LevelChange::*;
    assert_eq!(
        changes,
        [
            Inserted,
            Inserted,
            Inserted,
            InsertedDroppingWorst,
            InsertedDroppingWorst
        ]
    );
    assert_eq!(book.horizon(BookSide::Bid), Some(11.0));
    assert_eq!(
        book.apply(BookSide::Bid, 9.0, 1.0),
        Dropped,
        "worse than all"
    );
    assert_eq!(book.stats().dropped, 3);
    assert_eq!(book.horizon(BookSide::Bid), Some(11.0));
    assert_eq!(book.apply(BookSide::Bid, 14.0, 0.0), Removed);
    // Room again: a level beyond the horizon is kept; removals there are not "unknown".
    assert_eq!(book.apply(BookSide::Bid, 8.0, 1.0), Inserted);
    assert_eq!(book.apply(BookSide::Bid, 10.0, 0.0), RemovedBeyondHorizon);
    assert_eq!(book.apply(BookSide::Bid, 11.0, 0.0), RemovedBeyondHorizon);
    assert_eq!(book.apply(BookSide::Bid, 12.5, 0.0), UnknownRemoval);
    assert_eq!(book.stats().unknown_removals, 1);
    let bids: Vec<f64> = book.levels(BookSide::Bid).map(|l| l.price).collect();
    assert_eq!(bids, [13.0, 12.0, 8.0]);
    // Asks: the worst is the highest price.
    for p in [20.0, 19.0, 18.0, 17.0] {
        book.apply(BookSide::Ask, p, 1.0);
    }
    assert_eq!(book.horizon(BookSide::Ask), Some(20.0));
    assert_eq!(book.level(BookSide::Ask, 2).map(|l| l.price), Some(19.0));
}

#[test]
fn depth_zero_and_one() {
    let mut book = Book::new(0);
    assert_eq!(book.apply(BookSide::Bid, 1.0, 1.0), LevelChange::Dropped);
    assert_eq!(
        book.apply(BookSide::Bid, 1.0, 0.0),
        LevelChange::RemovedBeyondHorizon
    );
    assert!(book.is_empty());
    assert_eq!(book.mid(), None);
    let mut book = Book::new(1);
    book.apply(BookSide::Ask, 5.0, 1.0);
    assert_eq!(
        book.apply(BookSide::Ask, 4.0, 2.0),
        LevelChange::InsertedDroppingWorst
    );
    assert_eq!(book.apply(BookSide::Ask, 6.0, 2.0), LevelChange::Dropped);
    assert_eq!(
        book.best_ask(),
        Some(Level {
            price: 4.0,
            size: 2.0
        })
    );
    assert_eq!(Book::new(usize::MAX).depth(), MAX_DEPTH);
    assert_eq!(Book::default().depth(), DEFAULT_DEPTH);
}

#[test]
fn bad_prices_and_sizes_are_rejected_and_counted() {
    let mut book = Book::new(4);
    book.apply(BookSide::Bid, 100.0, 1.0);
    let before: Vec<Level> = book.levels(BookSide::Bid).collect();
    let bad = [
        (f64::NAN, 1.0),
        (f64::INFINITY, 1.0),
        (f64::NEG_INFINITY, 1.0),
        (-100.0, 1.0),
        (0.0, 1.0),
        (-0.0, 1.0),
        (100.0, f64::NAN),
        (100.0, f64::INFINITY),
        (100.0, -1.0),
        (f64::NAN, f64::NAN),
    ];
    for (p, q) in bad {
        for side in [BookSide::Bid, BookSide::Ask] {
            assert_eq!(book.apply(side, p, q), LevelChange::Rejected, "{p} {q}");
        }
    }
    assert_eq!(book.stats().rejected, 2 * bad.len() as u64);
    assert!(book.levels(BookSide::Bid).eq(before));
    // -0.0 is a size of 0: a removal, not a reject.
    assert_eq!(book.apply(BookSide::Bid, 100.0, -0.0), LevelChange::Removed);
    // Prices are keyed by their exact parsed value.
    let a: f64 = "1.10".parse().unwrap();
    let b: f64 = "1.1".parse().unwrap();
    book.apply(BookSide::Ask, a, 1.0);
    assert_eq!(book.apply(BookSide::Ask, b, 2.0), LevelChange::Changed);
    assert_eq!(
        book.apply(BookSide::Ask, "1.1000000000000001".parse().unwrap(), 3.0),
        LevelChange::Changed,
        "the same f64"
    );
    assert_eq!(
        book.apply(BookSide::Ask, "1.100000000000001".parse().unwrap(), 3.0),
        LevelChange::Inserted,
        "a different f64"
    );
}

#[test]
fn features_by_hand() {
    let mut book = Book::new(20);
    for (p, q) in [(99.0, 1.0), (98.0, 2.0), (97.0, 3.0)] {
        book.update(BookSide::Bid, p, q);
    }
    for (p, q) in [(101.0, 3.0), (102.0, 1.0)] {
        book.update(BookSide::Ask, p, q);
    }
    book.end_event();
    assert_eq!(book.spread(), Some(2.0));
    assert_eq!(book.mid(), Some(100.0));
    // (99 * 3 + 101 * 1) / (1 + 3) = 99.5: nearer the bid, which has less quantity.
    assert_eq!(book.microprice(), Some(99.5));
    assert_eq!(book.imbalance(1), Some((1.0 - 3.0) / 4.0));
    assert_eq!(book.imbalance(5), Some((6.0 - 4.0) / 10.0));
    assert_eq!(book.imbalance(10), book.imbalance(5));
    assert_eq!(book.imbalance(0), None);
    // 150 bps of 100 = 1.5: bids >= 98.5, asks <= 101.5.
    assert_eq!(
        book.depth_within_bps(150.0),
        Some(SideSums { bid: 1.0, ask: 3.0 })
    );
    assert_eq!(
        book.depth_within_bps(300.0),
        Some(SideSums { bid: 6.0, ask: 4.0 })
    );
    // One-sided and empty books have no two-sided features.
    book.clear_side(BookSide::Ask);
    book.end_event();
    assert_eq!(book.spread(), None);
    assert_eq!(book.mid(), None);
    assert_eq!(book.microprice(), None);
    assert_eq!(book.imbalance(1), None);
    assert_eq!(book.depth_within_bps(10.0), None);
    assert_eq!(book.best_bid().map(|l| l.price), Some(99.0));
    assert_eq!(Book::new(4).spread(), None);
}

/// Cont, Kukanov and Stoikov (2014), eq. (2): e_n from consecutive best quotes, by hand.
#[test]
fn order_flow_imbalance_by_hand() {
    let mut book = Book::new(10);
    // n = 0: bid 100 x 5, ask 101 x 4. No previous observation: e_0 = 0.
    book.update(BookSide::Bid, 100.0, 5.0);
    book.update(BookSide::Ask, 101.0, 4.0);
    book.end_event();
    assert_eq!(book.take_ofi(), 0.0);
    // n = 1: bid size 5 -> 7 at 100 (+2); ask unchanged (-4 + 4). e_1 = 2.
    book.apply(BookSide::Bid, 100.0, 7.0);
    assert_eq!(book.ofi(), 2.0);
    // n = 2: new best bid 100.5 x 1 (+1); ask 4 -> 3 at 101 (-3 + 4 = +1). e_2 = 2.
    book.update(BookSide::Bid, 100.5, 1.0);
    book.update(BookSide::Ask, 101.0, 3.0);
    book.end_event();
    assert_eq!(book.ofi(), 4.0);
    // n = 3: best bid falls back to 100 (now x 6): -q_{n-1} = -1; a new best ask 100.5 x 2:
    // -q_n = -2. e_3 = -3.
    book.update(BookSide::Bid, 100.5, 0.0);
    book.update(BookSide::Bid, 100.0, 6.0);
    book.update(BookSide::Ask, 100.5, 2.0);
    book.end_event();
    assert_eq!(book.ofi(), 1.0);
    // n = 4: bid unchanged (+6 - 6); best ask back up to 101 (x 9): +q_{n-1} = +2. e_4 = 2.
    book.update(BookSide::Ask, 100.5, 0.0);
    book.update(BookSide::Ask, 101.0, 9.0);
    book.end_event();
    assert_eq!(book.take_ofi(), 3.0);
    assert_eq!(book.ofi(), 0.0);
    // An empty side contributes nothing: the bid empties (0), comes back (0).
    book.clear_side(BookSide::Bid);
    book.end_event();
    book.apply(BookSide::Bid, 100.0, 1.0);
    assert_eq!(book.take_ofi(), 0.0);
}

#[test]
fn book_set_grows_in_warm_up_and_refuses_beyond_its_bound() {
    let mut set = BookSet::new(8, 4);
    assert!(set.is_empty());
    assert!(set.get_mut(0).is_none(), "get_mut never builds");
    set.book_mut(2).unwrap().apply(BookSide::Bid, 1.0, 1.0);
    assert_eq!(set.len(), 1, "lower ids are not built");
    assert!(set.get(1).is_none());
    assert_eq!(set.get(2).unwrap().depth(), 8);
    set.book_mut(0).unwrap().apply(BookSide::Bid, f64::NAN, 1.0);
    assert_eq!(set.len(), 2);
    assert!(set.book_mut(4).is_none());
    assert!(set.book_mut(u32::MAX).is_none());
    assert_eq!(set.unknown_symbols(), 2);
    assert_eq!(set.stats().rejected, 1);
    let with_books: Vec<u32> = set
        .iter()
        .filter(|(_, b)| !b.is_empty())
        .map(|(s, _)| s)
        .collect();
    assert_eq!(with_books, [2]);
    assert_eq!(BookSet::with_symbols(8, 2, 10).len(), 2);
}

//! Group `book`: level updates of one symbol's L2 order book, single thread.
//!
//! One op = one level update (side, price, size; size 0 removes), replayed from a recorded
//! stream of 65,536 updates around a random-walking mid (prices in ticks of 0.01), with an
//! end of event every 4th update for `zerotick`. The book is warmed to a full depth of 1,000
//! levels per side before timing.
//! - `book_update_top`: 7 in 8 updates within 12 ticks of the mid, 1 in 8 up to 3,000 ticks
//!   deep (beyond the depth: dropped or not kept), a third of them removals: the shape of a
//!   depth stream.
//! - `book_update_uniform`: distances uniform over 1,000 ticks: the costly case of the
//!   sorted-array layout (moves of up to half the side per insertion or removal).
//!
//! Impls: `zerotick` (`zerotick_core::Book`, depth 1,000) and `btreemap` (the usual way: a
//! `std::collections::BTreeMap` per side keyed by the price's bits, unbounded, no counters).
//! The note gives the medians as updates per second.

use super::GroupResult;
use crate::harness::{Harness, Impl};
use std::collections::BTreeMap;
use std::hint::black_box;
use zerotick_core::rng::Rng;
use zerotick_core::{Book, BookSide};

/// Length of the replayed stream (a power of two).
const STREAM: usize = 1 << 16;

/// Runs `book_update_top` and `book_update_uniform`.
///
/// # Errors
/// None: the group has no fallible setup.
pub fn run(h: &mut Harness) -> GroupResult {
    let mut rows = Vec::new();
    for (case, top) in [("book_update_top", true), ("book_update_uniform", false)] {
        let stream = updates(top);
        let mut book = Book::new(1000);
        let mut map = MapBook::default();
        for &(side, price, size) in &stream {
            book.apply(side, price, size);
            map.update(side, price, size);
        }
        let (mut i, mut j) = (0usize, 0usize);
        let case_rows = h.case(
            case,
            vec![
                Impl::per_op("zerotick", || {
                    let (side, price, size) = stream[i & (STREAM - 1)];
                    black_box(book.update(side, price, size));
                    if i & 3 == 3 {
                        black_box(book.end_event());
                    }
                    i = i.wrapping_add(1);
                }),
                Impl::per_op("btreemap", || {
                    let (side, price, size) = stream[j & (STREAM - 1)];
                    map.update(side, price, size);
                    black_box(&map);
                    j = j.wrapping_add(1);
                }),
            ],
        );
        for row in &case_rows {
            h.note(format!(
                "{} [{}]: {:.1} M updates/s ({:.1} ns/update, samples {:.1}..{:.1} ns)",
                row.case,
                row.imp,
                1e3 / row.median_ns,
                row.median_ns,
                row.min_ns,
                row.max_ns
            ));
        }
        rows.extend(case_rows);
    }
    Ok(rows)
}

/// A recorded stream: near the top (`top`) or uniform over 1,000 ticks.
fn updates(top: bool) -> Vec<(BookSide, f64, f64)> {
    let mut rng = Rng::new(if top { 1 } else { 2 });
    let mut mid = 1_000_000i64;
    (0..STREAM)
        .map(|i| {
            if rng.next_u64().is_multiple_of(16) {
                mid += (rng.next_u64() % 3) as i64 - 1;
            }
            let side = if i % 2 == 0 {
                BookSide::Bid
            } else {
                BookSide::Ask
            };
            let dist = 1 + if !top {
                rng.next_u64() % 1000
            } else if rng.next_u64().is_multiple_of(8) {
                rng.next_u64() % 3000
            } else {
                rng.next_u64() % 12
            } as i64;
            let ticks = if side == BookSide::Bid {
                mid - dist
            } else {
                mid + dist
            };
            let size = if rng.next_u64().is_multiple_of(3) {
                0.0
            } else {
                (1 + rng.next_u64() % 100) as f64 * 0.001
            };
            (side, ticks as f64 * 0.01, size)
        })
        .collect()
}

/// The usual book: a `BTreeMap` per side, price bits -> size (positive prices order by bits).
#[derive(Default)]
struct MapBook {
    bids: BTreeMap<u64, f64>,
    asks: BTreeMap<u64, f64>,
}

impl MapBook {
    #[inline]
    fn update(&mut self, side: BookSide, price: f64, size: f64) {
        let map = match side {
            BookSide::Bid => &mut self.bids,
            BookSide::Ask => &mut self.asks,
        };
        if size == 0.0 {
            map.remove(&price.to_bits());
        } else {
            map.insert(price.to_bits(), size);
        }
    }
}

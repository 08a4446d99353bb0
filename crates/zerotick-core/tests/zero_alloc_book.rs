//! The order book allocates nothing after construction: a counting global allocator watches
//! the calling thread while it applies a long stream of updates (insertions, removals, drops
//! at a full side, snapshots) and reads every feature.

use zerotick_core::rng::Rng;
use zerotick_core::{Book, BookSet, BookSide};
use zerotick_mem::counting::counting;

#[global_allocator]
static GLOBAL: zerotick_mem::counting::CountingAlloc = zerotick_mem::counting::CountingAlloc;

/// One test in this binary, so no other test's allocations land in the window.
#[test]
fn steady_state_updates_allocate_nothing() {
    let mut books = BookSet::with_symbols(64, 4, 4);
    let mut rng = Rng::new(11);
    let mut mid = 10_000i64;
    let mut sink = 0.0;
    let mut run = |books: &mut BookSet, n: u32| {
        for i in 0..n {
            if rng.next_u64().is_multiple_of(16) {
                mid += (rng.next_u64() % 3) as i64 - 1;
            }
            let symbol = (rng.next_u64() % 4) as u32;
            let Some(book) = books.book_mut(symbol) else {
                continue;
            };
            let side = if i % 2 == 0 {
                BookSide::Bid
            } else {
                BookSide::Ask
            };
            let dist = (1 + rng.next_u64() % 200) as i64;
            let ticks = if side == BookSide::Bid {
                mid - dist
            } else {
                mid + dist
            };
            let size = (rng.next_u64() % 4) as f64;
            book.update(side, ticks as f64 * 0.01, size);
            if i % 3 == 0 {
                book.end_event();
                sink += book.microprice().unwrap_or(0.0)
                    + book.imbalance(10).unwrap_or(0.0)
                    + book.depth_within_bps(25.0).map_or(0.0, |d| d.bid - d.ask)
                    + book.take_ofi();
            }
            if i % 10_000 == 0 {
                let best: Option<(f64, f64)> = book.best_ask().map(|l| (l.price, l.size));
                book.replace_side(BookSide::Ask, best);
            }
        }
    };
    // Warm-up (nothing to build: the books exist), then the measured window.
    run(&mut books, 10_000);
    let allocations = counting(|| run(&mut books, 200_000));
    assert_eq!(allocations, 0);
    assert!(books.stats().dropped > 0, "the depth bound was exercised");
    assert!(sink.is_finite());
    // The instrument works: building a book allocates (its levels).
    assert!(counting(|| drop(Book::new(16))) > 0);
}

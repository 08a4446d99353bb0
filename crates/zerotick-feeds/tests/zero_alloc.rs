//! The synthetic feed allocates nothing per tick: a counting global allocator watches the
//! calling thread while it pulls ticks, paced and not.

use zerotick_core::{Feed, FeedEvent};
use zerotick_feeds::{SyntheticConfig, SyntheticFeed};
use zerotick_mem::counting::counting;

#[global_allocator]
static GLOBAL: zerotick_mem::counting::CountingAlloc = zerotick_mem::counting::CountingAlloc;

/// One test in this binary, so no other test's allocations land in the window.
#[test]
fn ticks_allocate_nothing() {
    for symbols in [1, 64, 4096] {
        let mut feed = SyntheticFeed::new(SyntheticConfig {
            symbols,
            ..SyntheticConfig::default()
        });
        let mut n = 0u64;
        let allocations = counting(|| {
            for _ in 0..200_000 {
                if let Ok(FeedEvent::Tick(t)) = feed.next_event() {
                    n += u64::from(t.price > 0.0);
                }
            }
        });
        assert_eq!(n, 200_000);
        assert_eq!(allocations, 0, "{symbols} symbols");
    }
    // Paced (fast enough that nothing sleeps for long): the first call sets the clock origin.
    let mut feed = SyntheticFeed::new(SyntheticConfig {
        rate_per_s: 1e9,
        paced: true,
        ..SyntheticConfig::default()
    });
    let allocations = counting(|| {
        for _ in 0..10_000 {
            assert!(feed.next_event().is_ok());
        }
    });
    assert_eq!(allocations, 0, "paced");
    // The instrument works: building a feed allocates (its tables and names).
    assert!(counting(|| drop(SyntheticFeed::new(SyntheticConfig::default()))) > 0);
}

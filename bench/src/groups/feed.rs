//! Group `feed`: how fast the feeds produce ticks, single thread.
//!
//! - `feed_synthetic`: one op = one `Feed::next_event` of the seeded synthetic market
//!   (`SyntheticFeed`, default config: 64 symbols, endless, not paced), i.e. one tick, the call
//!   the pipeline's feed thread makes. The tick goes through `black_box` so nothing is
//!   optimised away. `feed_synthetic_4096sym` is the same with 4,096 symbols, where the
//!   per-symbol state no longer fits in L1.
//!
//! The note gives the median as ticks per second (issue 14's target: >= 20 M ticks/s on one
//! core, so the feed is never the pipeline's bottleneck).
//!
//! Then the parse cases, one per input format, beside serde-based peers: `parse_ws_json`
//! (messages) and `parse_trades_csv` (rows), see [`super::parse`]; and `gunzip_ws_json`, gzip
//! decompression by flate2 and its two pure-Rust backends, see [`super::gunzip`].

use super::GroupResult;
use crate::harness::{Harness, Impl, Row};
use std::hint::black_box;
use zerotick_core::{Feed, FeedEvent};
use zerotick_feeds::{SyntheticConfig, SyntheticFeed};

/// Runs `feed_synthetic`, `feed_synthetic_4096sym`, `parse_ws_json` and `parse_trades_csv`.
///
/// # Errors
/// If a feed cannot be built from its config, or ends although it is endless.
pub fn run(h: &mut Harness) -> GroupResult {
    let mut rows = Vec::new();
    for (case, symbols) in [("feed_synthetic", 64), ("feed_synthetic_4096sym", 4096)] {
        let mut feed = synthetic(symbols)?;
        let case_rows = h.case(
            case,
            vec![Impl::per_op("zerotick", move || match feed.next_event() {
                Ok(event @ FeedEvent::Tick(_)) => {
                    black_box(event);
                }
                _ => ended(),
            })],
        );
        note_rate(h, &case_rows);
        rows.extend(case_rows);
    }
    rows.extend(super::parse::run(h));
    rows.extend(super::gunzip::run(h));
    Ok(rows)
}

/// An endless, unpaced synthetic feed of `symbols` symbols, otherwise the default config.
fn synthetic(symbols: usize) -> Result<SyntheticFeed, Box<dyn std::error::Error>> {
    let config = SyntheticConfig {
        symbols,
        ticks: None,
        paced: false,
        ..SyntheticConfig::default()
    };
    Ok(SyntheticFeed::try_new(config)?)
}

/// Adds the median as ticks per second to the group's notes.
fn note_rate(h: &mut Harness, rows: &[Row]) {
    for row in rows {
        if row.median_ns > 0.0 {
            h.note(format!(
                "{} [{}]: {:.1} M ticks/s ({:.2} ns/tick)",
                row.case,
                row.imp,
                1e3 / row.median_ns,
                row.median_ns
            ));
        }
    }
}

/// Unreachable: the feeds are endless and synthetic feeds never fail.
#[cold]
#[inline(never)]
fn ended() -> ! {
    panic!("an endless synthetic feed ended or failed")
}

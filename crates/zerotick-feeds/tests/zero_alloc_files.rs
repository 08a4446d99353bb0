//! File feeds allocate nothing per event once warm, compressed or not: the decoders write
//! into their own reused buffers and the CSV, JSON-lines and Tardis readers into their reused
//! line buffers (a depth update's levels and a snapshot row's levels are handed out from the
//! line, never collected). A counting global
//! allocator watches the calling thread while it pulls ticks. The first half of each file is
//! read before the window opens: it meets the symbols and decides the layout.
//!
//! Plain, gzip and zip files: no allocation at all in the second half. zstd (ruzstd): its
//! buffers (window ring, literals, sequences) grow when a block needs more than any block
//! before it, up to the format's bounds (window, 128 KiB blocks), so a rare allocation
//! happens while those high-water marks are reached: a handful over 60,000 ticks, never one
//! per tick. The test bounds them.

use std::path::{Path, PathBuf};

use zerotick_core::{Feed, FeedEvent};
use zerotick_feeds::{CsvLayout, FileFeed, MergedFeed};
use zerotick_mem::counting::counting;

mod support;

#[global_allocator]
static GLOBAL: zerotick_mem::counting::CountingAlloc = zerotick_mem::counting::CountingAlloc;

const ROWS: u64 = 120_000;
const WARM_ROWS: u64 = ROWS / 2;
/// Most buffer growths zstd may show in the measured half (see the module docs).
const ZSTD_GROWTHS: u64 = 4;

fn csv(t0_s: u64) -> Vec<u8> {
    let mut s = String::from("timestamp,symbol,price,size,side\n");
    for i in 0..ROWS {
        let sym = ["AAA", "BBB", "CCC"][(i % 3) as usize];
        s += &format!(
            "{}.{:03},{sym},{}.25,1,buy\n",
            t0_s + i / 1000,
            i % 1000,
            100 + i % 9
        );
    }
    s.into_bytes()
}

/// Pulls every event after the warm rows; returns (ticks, allocations in the window).
fn measure(feed: &mut impl Feed) -> (u64, u64) {
    for _ in 0..WARM_ROWS {
        assert!(matches!(feed.next_event(), Ok(FeedEvent::Tick(_))));
    }
    let mut ticks = 0;
    let allocations = counting(|| {
        while let Ok(FeedEvent::Tick(_)) = feed.next_event() {
            ticks += 1;
        }
    });
    (ticks, allocations)
}

/// Binance websocket lines: trades, book tickers and depth updates of three symbols, with a
/// receive-time prefix on every other line; `2 * rows` lines.
fn binance_json(rows: u64) -> Vec<u8> {
    let mut s = String::new();
    for i in 0..rows {
        let sym = ["BTCUSDT", "ETHUSDT", "SOLUSDT"][(i % 3) as usize];
        let ms = 1_700_000_000_000 + i;
        let prefix = if i % 2 == 0 {
            format!("{} ", ms * 1_000_000 + 5)
        } else {
            String::new()
        };
        s += &format!(
            r#"{prefix}{{"stream":"x@trade","data":{{"e":"trade","E":{ms},"s":"{sym}","t":{i},"p":"{}.5","q":"0.01","T":{ms},"m":{}}}}}"#,
            100 + i % 7,
            i % 2 == 0
        );
        s.push('\n');
        if i % 2 == 0 {
            s += &format!(
                r#"{{"e":"depthUpdate","E":{ms},"s":"{sym}","U":{},"u":{},"b":[["{}.4","1.5"],["99.1","0"]],"a":[["{}.6","2"]]}}"#,
                // A symbol's depth updates are every sixth line pair: ids follow on.
                2 * (i / 6) + 1,
                2 * (i / 6) + 2,
                100 + i % 7,
                100 + i % 7
            );
        } else {
            s += &format!(
                r#"{prefix}{{"u":{i},"s":"{sym}","b":"99.5","B":"3","a":"100.5","A":"4","T":{ms}}}"#
            );
        }
        s.push('\n');
    }
    s.into_bytes()
}

/// A Tardis book_snapshot_5 file of `rows` rows over two symbols.
fn tardis_snapshots(rows: u64) -> Vec<u8> {
    let mut s = String::from("exchange,symbol,timestamp,local_timestamp");
    for i in 0..5 {
        s += &format!(",asks[{i}].price,asks[{i}].amount,bids[{i}].price,bids[{i}].amount");
    }
    s.push('\n');
    for r in 0..rows {
        let us = 1_700_000_000_000_000 + r;
        s += &format!(
            "binance,{},{us},{}",
            ["BTCUSDT", "ETHUSDT"][(r % 2) as usize],
            us + 3
        );
        for i in 0..5 {
            s += &format!(",{}.5,{},{}.5,{}", 101 + i, i + 1, 99 - i, i + 2);
        }
        s.push('\n');
    }
    s.into_bytes()
}

/// Pulls `warm` market events, then every one to the end (no rejection allowed); returns
/// (events after the warm ones, allocations while pulling them).
fn measure_events(feed: &mut impl Feed, warm: u64) -> (u64, u64) {
    let market = |e: &FeedEvent| e.ts_ns().is_some();
    for _ in 0..warm {
        let e = feed.next_event().unwrap();
        assert!(market(&e), "{e:?}");
    }
    let mut events = 0;
    let mut other = None;
    let allocations = counting(|| {
        loop {
            match feed.next_event() {
                Ok(e) if market(&e) => events += 1,
                Ok(FeedEvent::End) => break,
                e => {
                    other = Some(e);
                    break;
                }
            }
        }
    });
    assert!(other.is_none(), "{other:?}");
    (events, allocations)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// One test in this binary, so no other test's allocations land in the window.
#[test]
fn file_ticks_allocate_nothing_compressed_or_merged() {
    let dir = std::env::temp_dir().join(format!("zerotick-feeds-alloc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = csv(1_700_000_000);
    let gz = support::gzip(&text);
    let zst =
        ruzstd::encoding::compress_to_vec(&text[..], ruzstd::encoding::CompressionLevel::Fastest);
    let files = [
        write(&dir, "plain.csv", &text),
        write(&dir, "t.csv.gz", &gz),
        write(&dir, "t.csv.zst", &zst),
        write(&dir, "t.zip", &support::zip(&[("t.csv", &text)], true)),
    ];
    for (path, most) in files.iter().zip([0, 0, ZSTD_GROWTHS, 0]) {
        let mut feed = FileFeed::open(path, CsvLayout::Auto, true).unwrap();
        let (ticks, allocations) = measure(&mut feed);
        assert_eq!(ticks, ROWS - WARM_ROWS, "{}", path.display());
        assert!(allocations <= most, "{}: {allocations}", path.display());
    }
    // The gzip file merged with a plain one whose times interleave its own.
    let shifted = write(&dir, "shifted.csv", &csv(1_700_000_000 + 7));
    let mut feed = MergedFeed::open(&[&files[1], &shifted], CsvLayout::Auto, true).unwrap();
    let (ticks, allocations) = measure(&mut feed);
    assert_eq!(ticks, 2 * ROWS - WARM_ROWS);
    assert_eq!(allocations, 0, "merged");
    // Websocket JSON lines, gzip-compressed: per two line pairs, two trades, one quote and
    // a depth update of three levels.
    let json = binance_json(ROWS / 2);
    let path = write(&dir, "ws.jsonl.gz", &support::gzip(&json));
    let mut feed = FileFeed::open(&path, CsvLayout::Auto, true).unwrap();
    let total = ROWS / 2 + ROWS / 4 + ROWS / 4 * 3;
    let (events, allocations) = measure_events(&mut feed, total / 2);
    assert_eq!(events, total - total / 2);
    assert_eq!(allocations, 0, "binance json");
    assert_eq!(feed.sequence_gaps(), 0);
    // Tardis snapshots: 10 levels per row.
    let path = write(&dir, "snap.csv", &tardis_snapshots(ROWS / 10));
    let mut feed = FileFeed::open(&path, CsvLayout::Auto, true).unwrap();
    let (events, allocations) = measure_events(&mut feed, ROWS / 2);
    assert_eq!(events, ROWS / 2);
    assert_eq!(allocations, 0, "tardis");
    // The instrument works: opening a compressed file allocates (its buffers).
    assert!(counting(|| drop(FileFeed::open(&files[1], CsvLayout::Auto, true))) > 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

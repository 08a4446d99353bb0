//! File feeds allocate nothing per tick once warm, compressed or not: the decoders write into
//! their own reused buffers and the CSV feed into its reused line buffer. A counting global
//! allocator watches the calling thread while it pulls ticks. The first half of each file is
//! read before the window opens: it meets the symbols and decides the layout.
//!
//! Plain, gzip and zip files: no allocation at all in the second half. zstd (ruzstd): its
//! buffers (window ring, literals, sequences) grow when a block needs more than any block
//! before it, up to the format's bounds (window, 128 KiB blocks), so a rare allocation
//! happens while those high-water marks are reached: a handful over 60,000 ticks, never one
//! per tick. The test bounds them.

use std::io::Write;
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
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&text).unwrap();
    let gz = gz.finish().unwrap();
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
    // The instrument works: opening a compressed file allocates (its buffers).
    assert!(counting(|| drop(FileFeed::open(&files[1], CsvLayout::Auto, true))) > 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

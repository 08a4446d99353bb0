//! File feeds as a user opens them: compressed files (gzip, zstd, zip) read exactly as their
//! plain text, told by magic bytes, broken archives reported; several files merged by time.
//! The compressed inputs are made here with the same crates the reader uses (flate2, ruzstd,
//! crc32fast for the zip directory), from CSV text written by hand.

use std::path::Path;

use ruzstd::encoding::{CompressionLevel, compress_to_vec};
use zerotick_core::{Feed, FeedError, FeedEvent, RejectReason};
use zerotick_feeds::{Compression, CsvLayout, FileFeed, MergedFeed, expand_paths};

mod support;
use support::{dir, gzip, write, zip};

/// A generic CSV of `rows` rows over four symbols, a header, CRLF and LF line ends, one bad
/// row and no final line end.
fn generic_csv(rows: u64, t0_ms: u64) -> String {
    let mut s = String::from("timestamp,symbol,price,size,side\r\n");
    for i in 0..rows {
        let sym = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"][(i % 4) as usize];
        let side = if i % 3 == 0 { "buy" } else { "sell" };
        s += &format!(
            "{},{sym},{}.{},{},{side}\n",
            t0_ms + i,
            100 + i % 17,
            i % 10,
            1 + i % 5
        );
        if i == rows / 2 {
            s += "1700000000000,BTCUSDT,-1,1,buy\n";
        }
    }
    s.pop();
    s
}

/// An exchange aggTrades dump (no header, no symbol column).
fn agg_trades_csv(rows: u64) -> String {
    (0..rows)
        .map(|i| {
            format!(
                "{i},{}.5,0.{},{i},{i},{},{}\n",
                42000 + i % 7,
                1 + i % 9,
                1_704_067_200_000u64 + i,
                i % 2 == 0
            )
        })
        .collect()
}

fn zstd(bytes: &[u8]) -> Vec<u8> {
    compress_to_vec(bytes, CompressionLevel::Fastest)
}

/// What a feed yielded: ticks with their symbol's name, or rejections.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Tick(u64, String, f64, f64, zerotick_core::Side),
    Rejected(RejectReason),
}

fn drain(feed: &mut impl Feed) -> Result<Vec<Seen>, FeedError> {
    let names = feed.names();
    let mut out = Vec::new();
    loop {
        match feed.next_event()? {
            FeedEvent::Tick(t) => out.push(Seen::Tick(
                t.ts_ns,
                names.get(t.symbol).expect("named").to_string(),
                t.price,
                t.size,
                t.side,
            )),
            FeedEvent::Rejected(r) => out.push(Seen::Rejected(r)),
            FeedEvent::End => return Ok(out),
            FeedEvent::Idle => panic!("a file feed never waits"),
            other => panic!("a trade CSV yields trades only: {other:?}"),
        }
    }
}

fn read(path: &Path, strict: bool) -> Result<Vec<Seen>, FeedError> {
    drain(&mut FileFeed::open(path, CsvLayout::Auto, strict)?)
}

#[test]
fn every_format_reads_the_same_ticks_and_names_as_the_plain_file() {
    let d = dir("formats");
    for (stem, text) in [
        ("mixed", generic_csv(3000, 1_700_000_000_000)),
        ("ETHUSDT-aggTrades-2024-01-01", agg_trades_csv(3000)),
    ] {
        let plain = read(
            &write(&d.join(format!("{stem}.csv")), text.as_bytes()),
            false,
        )
        .unwrap();
        assert!(plain.len() > 3000 - 1, "{stem}");
        let member = format!("{stem}.csv");
        for (name, bytes, compression) in [
            (
                format!("{stem}.csv.gz"),
                gzip(text.as_bytes()),
                Compression::Gzip,
            ),
            (
                format!("{stem}.csv.zst"),
                zstd(text.as_bytes()),
                Compression::Zstd,
            ),
            (
                format!("{stem}.zip"),
                zip(&[(&member, text.as_bytes())], true),
                Compression::Zip,
            ),
            (
                format!("{stem}-stored.zip"),
                zip(&[(&member, text.as_bytes())], false),
                Compression::Zip,
            ),
        ] {
            let path = write(&d.join(&name), &bytes);
            let feed = FileFeed::open(&path, CsvLayout::Auto, false).unwrap();
            assert_eq!(feed.compression(), compression, "{name}");
            assert_eq!(read(&path, false).unwrap(), plain, "{name}");
        }
    }
    // The exchange dump's symbol comes from the file name without the compression extension.
    let seen = read(&d.join("ETHUSDT-aggTrades-2024-01-01.csv.gz"), true).unwrap();
    assert!(
        matches!(&seen[0], Seen::Tick(_, s, ..) if s == "ETHUSDT"),
        "{:?}",
        seen[0]
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn multi_member_gzip_and_multi_frame_zstd_read_every_part() {
    let d = dir("multi");
    let text = agg_trades_csv(2000);
    let (a, b) = text.split_at(text.len() / 3 + 7); // splits a row: the stream is one text
    let plain = read(&write(&d.join("BTCUSDT.csv"), text.as_bytes()), true).unwrap();
    assert_eq!(plain.len(), 2000);
    let gz = [gzip(a.as_bytes()), gzip(b.as_bytes())].concat();
    assert_eq!(
        read(&write(&d.join("BTCUSDT.csv.gz"), &gz), true).unwrap(),
        plain
    );
    // Two frames with a skippable frame between them.
    let skippable = [
        &0x184D_2A50u32.to_le_bytes()[..],
        &3u32.to_le_bytes(),
        b"abc",
    ]
    .concat();
    let zst = [zstd(a.as_bytes()), skippable, zstd(b.as_bytes())].concat();
    assert_eq!(
        read(&write(&d.join("BTCUSDT.csv.zst"), &zst), true).unwrap(),
        plain
    );
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_zip_with_two_members_reads_both_in_order_each_with_its_header() {
    let d = dir("zip2");
    let first = generic_csv(500, 1_700_000_000_000);
    let second = generic_csv(300, 1_700_000_100_000);
    let plain_first = read(&write(&d.join("a.csv"), first.as_bytes()), false).unwrap();
    let plain_second = read(&write(&d.join("b.csv"), second.as_bytes()), false).unwrap();
    let archive = zip(
        &[
            ("dir/", b""),
            ("a.csv", first.as_bytes()),
            ("README.txt", b"not data"),
            ("b.CSV", second.as_bytes()),
        ],
        true,
    );
    let path = write(&d.join("two.zip"), &archive);
    let seen = read(&path, false).unwrap();
    assert_eq!(seen, [plain_first, plain_second].concat());
    // Strict: the bad row of the first member, named with its member and line.
    let err = read(&path, true).unwrap_err().to_string();
    assert!(
        err.ends_with("two.zip:a.csv: line 253: rejected (bad_price)"),
        "{err}"
    );
    // No CSV member: every file member is read.
    let no_csv = zip(
        &[("x.txt", first.as_bytes()), ("y", second.as_bytes())],
        false,
    );
    let seen = read(&write(&d.join("nocsv.zip"), &no_csv), false).unwrap();
    assert_eq!(seen.len(), 500 + 1 + 300 + 1);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_zip_of_several_exchange_dumps_names_each_members_ticks_after_the_member() {
    let d = dir("zipsyms");
    let btc = agg_trades_csv(40);
    let eth = agg_trades_csv(30);
    let archive = zip(
        &[
            ("2024/BTCUSDT-aggTrades-2024-01.csv", btc.as_bytes()),
            ("2024/ETHUSDT-aggTrades-2024-01.csv", eth.as_bytes()),
            // A member whose name gives no symbol: the archive's name.
            ("-.csv", eth.as_bytes()),
        ],
        true,
    );
    let seen = read(&write(&d.join("bundle.zip"), &archive), false).unwrap();
    let names: Vec<&str> = seen
        .iter()
        .map(|s| match s {
            Seen::Tick(_, name, ..) => name.as_str(),
            Seen::Rejected(r) => panic!("no row is bad: {r:?}"),
        })
        .collect();
    let expected: Vec<&str> = [("BTCUSDT", 40), ("ETHUSDT", 30), ("bundle", 30)]
        .iter()
        .flat_map(|&(name, n)| std::iter::repeat_n(name, n))
        .collect();
    assert_eq!(names, expected);
    // The same dump read plain or in a zip of its own gives the same ticks and name.
    let plain = read(
        &write(&d.join("ETHUSDT-aggTrades-2024-01.csv"), eth.as_bytes()),
        false,
    );
    let single = zip(&[("ETHUSDT-aggTrades-2024-01.csv", eth.as_bytes())], false);
    let zipped = read(&write(&d.join("x.zip"), &single), false);
    assert_eq!(plain.unwrap(), zipped.unwrap());
    std::fs::remove_dir_all(&d).unwrap();
}

/// Reads `bytes` written to `path` and expects an error whose message contains every needle.
fn expect_error(path: &Path, bytes: &[u8], needles: &[&str]) {
    write(path, bytes);
    let err = match FileFeed::open(path, CsvLayout::Auto, false) {
        Err(e) => e,
        Ok(mut feed) => drain(&mut feed).expect_err("a broken file is an error"),
    };
    let text = err.to_string();
    for needle in needles {
        assert!(text.contains(needle), "{needle:?} not in {text:?}");
    }
}

#[test]
fn truncated_gzip_and_zstd_are_errors_at_every_cut() {
    let d = dir("truncated");
    let text = generic_csv(400, 1_700_000_000_000);
    for (name, full) in [
        ("t.csv.gz", gzip(text.as_bytes())),
        ("t.csv.zst", zstd(text.as_bytes())),
    ] {
        let path = d.join(name);
        // Cuts from just after the magic number to one byte short.
        for cut in (4..full.len()).step_by(7).chain([full.len() - 1]) {
            expect_error(&path, &full[..cut], &[name]);
        }
        // Two members, the second cut: the first member's data does not hide the error.
        let both = [full.clone(), full[..full.len() / 2].to_vec()].concat();
        expect_error(&path, &both, &[name, "truncated"]);
    }
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn corrupt_gzip_zstd_and_zip_are_errors_naming_the_file() {
    let d = dir("corrupt");
    let text = generic_csv(400, 1_700_000_000_000);
    let mut gz = gzip(text.as_bytes());
    let n = gz.len();
    gz[n - 6] ^= 0xff; // the CRC-32 in the trailer
    expect_error(&d.join("c.csv.gz"), &gz, &["c.csv.gz: gzip"]);
    let mut zst = zstd(text.as_bytes());
    zst[4] = 0xff; // reserved frame-header bits
    expect_error(&d.join("c.csv.zst"), &zst, &["c.csv.zst"]);

    let good = zip(&[("a.csv", text.as_bytes())], true);
    let path = d.join("c.zip");
    // Cut anywhere: the end-of-directory record is gone.
    for cut in [4, 30, good.len() / 2, good.len() - 1] {
        expect_error(&path, &good[..cut], &["c.zip", "central directory"]);
    }
    // A flipped bit in the deflated data: a deflate error or a CRC-32 mismatch.
    let mut flipped = good.clone();
    flipped[30 + 5 + 40] ^= 0x10;
    expect_error(&path, &flipped, &["c.zip:a.csv"]);
    // A stored member whose bytes changed: the CRC-32 catches it.
    let mut stored = zip(&[("a.csv", text.as_bytes())], false);
    stored[30 + 5 + 100] ^= 0x01;
    expect_error(&path, &stored, &["c.zip:a.csv", "CRC-32 mismatch"]);
    // A directory that says the member is longer than the file.
    let mut long = good.clone();
    let dir_at = long.len() - 22 - (46 + 5);
    long[dir_at + 20..dir_at + 24].copy_from_slice(&u32::MAX.to_le_bytes());
    expect_error(&path, &long, &["c.zip"]);
    // A directory that says the member is shorter than it inflates to (a bomb: 64 MiB of
    // rows said to be 1,000 bytes): an error before a row past the 1,000 bytes, without
    // inflating the rest.
    let row = "1700000000000,AAA,1,1\n";
    let bomb_text = row.repeat((64 << 20) / row.len());
    let mut bomb = zip(&[("a.csv", bomb_text.as_bytes())], true);
    let dir_at = bomb.len() - 22 - (46 + 5);
    bomb[dir_at + 24..dir_at + 28].copy_from_slice(&1000u32.to_le_bytes());
    let path_bomb = write(&d.join("bomb.zip"), &bomb);
    let mut ticks = 0;
    // Told at open (the format is read off the first bytes) or while reading.
    let err = match FileFeed::open(&path_bomb, CsvLayout::Auto, false) {
        Err(e) => e.to_string(),
        Ok(mut feed) => loop {
            match feed.next_event() {
                Ok(FeedEvent::Tick(_)) => ticks += 1,
                Ok(FeedEvent::End) => panic!("read to the end: {ticks} ticks"),
                Ok(other) => panic!("{other:?}"),
                Err(e) => break e.to_string(),
            }
        },
    };
    assert!(ticks * row.len() <= 1000, "{ticks} ticks handed on");
    assert!(
        err.contains("bomb.zip:a.csv") && err.contains("past the 1000 bytes"),
        "{err}"
    );
    // Only directories: nothing to read.
    expect_error(&path, &zip(&[("d/", b"")], false), &["no file to read"]);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn the_format_comes_from_the_magic_bytes_not_the_name() {
    let d = dir("magic");
    let text = generic_csv(100, 1_700_000_000_000);
    let plain = read(&write(&d.join("p.csv"), text.as_bytes()), false).unwrap();
    for (name, bytes, compression) in [
        ("gzip-named.csv", gzip(text.as_bytes()), Compression::Gzip),
        (
            "plain-named.csv.gz",
            text.as_bytes().to_vec(),
            Compression::None,
        ),
        ("zstd-named.zip", zstd(text.as_bytes()), Compression::Zstd),
        (
            "zip-named.csv.zst",
            zip(&[("a.csv", text.as_bytes())], true),
            Compression::Zip,
        ),
        ("noext", gzip(text.as_bytes()), Compression::Gzip),
    ] {
        let path = write(&d.join(name), &bytes);
        let feed = FileFeed::open(&path, CsvLayout::Auto, false).unwrap();
        assert_eq!(feed.compression(), compression, "{name}");
        assert_eq!(read(&path, false).unwrap(), plain, "{name}");
    }
    // Files shorter than any magic number are plain.
    assert_eq!(read(&write(&d.join("empty.gz"), b""), true).unwrap(), []);
    assert_eq!(
        read(&write(&d.join("one.gz"), b"\x1f"), false).unwrap(),
        [Seen::Rejected(RejectReason::FieldCount)]
    );
    std::fs::remove_dir_all(&d).unwrap();
}

fn ticks_of(seen: &[Seen]) -> Vec<(u64, &str)> {
    seen.iter()
        .filter_map(|s| match s {
            Seen::Tick(ts, name, ..) => Some((*ts / 1_000_000_000, name.as_str())),
            Seen::Rejected(_) => None,
        })
        .collect()
}

#[test]
fn several_files_merge_by_time_with_shared_names_and_clamp_time_going_backwards() {
    let d = dir("merge");
    // Seconds. b.csv has a bad row and, for BBB, a time going backwards (5 after 9): handed
    // on at 9, counted.
    let a = write(
        &d.join("a.csv.gz"),
        &gzip(b"timestamp,symbol,price,size\n1000,AAA,1,1\n1004,BBB,1,1\n1008,AAA,1,1\n"),
    );
    let b = write(
        &d.join("b.csv"),
        b"1002,CCC,1,1\n1004,BBB,2,1\n1009,BBB,2,1\nx,BBB,1,1\n1005,BBB,2,1\n1010,AAA,2,1\n",
    );
    let mut feed = MergedFeed::open(&[&a, &b], CsvLayout::Auto, false).unwrap();
    assert_eq!(
        feed.compressions().collect::<Vec<_>>(),
        [Compression::Gzip, Compression::None]
    );
    let seen = drain(&mut feed).unwrap();
    assert_eq!(
        ticks_of(&seen),
        [
            (1000, "AAA"),
            (1002, "CCC"),
            (1004, "BBB"), // tie: a.csv.gz (given first) before b.csv
            (1004, "BBB"),
            (1008, "AAA"),
            (1009, "BBB"),
            (1009, "BBB"), // 1005, clamped
            (1010, "AAA"),
        ]
    );
    assert_eq!(feed.time_clamped(), 1);
    let tied: Vec<f64> = seen
        .iter()
        .filter_map(|s| match s {
            Seen::Tick(ts, _, price, ..) if *ts == 1_004_000_000_000 => Some(*price),
            _ => None,
        })
        .collect();
    assert_eq!(tied, [1.0, 2.0], "the tie goes to the file given first");
    let rejects: Vec<_> = seen
        .iter()
        .filter_map(|s| match s {
            Seen::Rejected(r) => Some(*r),
            Seen::Tick(..) => None,
        })
        .collect();
    assert_eq!(rejects, [RejectReason::BadTimestamp]);
    // One table: AAA, CCC, BBB in the order the merge met them.
    let names = feed.names().snapshot();
    assert_eq!(names.len(), 3);
    assert!(
        names
            .iter()
            .all(|n| ["AAA", "BBB", "CCC"].contains(&n.as_str())),
        "{names:?}"
    );

    // Strict: the first bad row ends it, naming the file and line.
    let err = drain(&mut MergedFeed::open(&[&a, &b], CsvLayout::Auto, true).unwrap());
    let err = err.unwrap_err().to_string();
    assert!(
        err.ends_with("b.csv: line 4: rejected (bad_timestamp)"),
        "{err}"
    );
    let c = write(
        &d.join("c.csv"),
        b"1002,CCC,1,1\n1009,BBB,2,1\n1005,BBB,2,1\n",
    );
    // A time going backwards is not a bad row: strict clamps it too.
    let mut strict = MergedFeed::open(&[&a, &c], CsvLayout::Auto, true).unwrap();
    let seen = drain(&mut strict).unwrap();
    assert_eq!(
        ticks_of(&seen),
        [
            (1000, "AAA"),
            (1002, "CCC"),
            (1004, "BBB"),
            (1008, "AAA"),
            (1009, "BBB"),
            (1009, "BBB"),
        ]
    );
    assert_eq!(strict.time_clamped(), 1);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_directory_is_its_regular_files_sorted_by_name() {
    let d = dir("dir");
    write(&d.join("b.csv.zst"), &zstd(b"1001,BBB,1,1\n1003,BBB,1,1\n"));
    write(&d.join("a.csv"), b"1002,AAA,1,1\n1003,AAA,1,1\n");
    std::fs::create_dir_all(d.join("sub")).unwrap();
    write(&d.join("sub").join("z.csv"), b"1000,ZZZ,1,1\n");
    let paths = expand_paths(&[&d]).unwrap();
    let names: Vec<_> = paths
        .iter()
        .map(|p| p.file_name().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["a.csv", "b.csv.zst"]);
    let seen = drain(&mut MergedFeed::open(&paths, CsvLayout::Auto, true).unwrap()).unwrap();
    assert_eq!(
        ticks_of(&seen),
        [(1001, "BBB"), (1002, "AAA"), (1003, "AAA"), (1003, "BBB")]
    );
    let empty = d.join("sub").join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let err = expand_paths(&[&empty]).unwrap_err().to_string();
    assert!(err.contains("no regular file"), "{err}");
    assert!(expand_paths(&[d.join("missing")]).is_err());
    std::fs::remove_dir_all(&d).unwrap();
}

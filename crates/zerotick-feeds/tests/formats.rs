//! The market-event formats against hand-written expectations: Binance websocket JSON lines
//! and Tardis CSV, written by hand from the formats' documentation; every reject reason;
//! truncation at every byte; gzip-compressed JSON lines; sequence gaps; format detection,
//! globs and merging across formats.

use std::num::NonZeroU64;

use zerotick_core::{
    BookDelta, BookSide, Feed, FeedEvent, Quote, RejectReason, Side, SnapshotLevel, Tick,
};
use zerotick_feeds::{
    BinanceJsonFeed, CsvLayout, FileFeed, InputFormat, MergedFeed, TardisFeed, TardisKind,
    expand_paths,
};

mod support;
use support::{dir, gzip, write};

/// Every event to the end, or the error text that ended the feed.
fn drain(feed: &mut impl Feed) -> Result<Vec<FeedEvent>, String> {
    let mut out = Vec::new();
    loop {
        match feed.next_event() {
            Ok(FeedEvent::End) => return Ok(out),
            Ok(e) => out.push(e),
            Err(e) => return Err(e.to_string()),
        }
    }
}

fn nz(v: u64) -> Option<NonZeroU64> {
    NonZeroU64::new(v)
}

const MS: u64 = 1_000_000;
const US: u64 = 1_000;

/// Binance messages as the docs show them: combined-stream wrapped, bare, with and without
/// a receive-time prefix.
const BINANCE: &str = concat!(
    r#"{"stream":"btcusdt@trade","data":{"e":"trade","E":1700000000002,"s":"BTCUSDT","t":12345,"p":"42000.10","q":"0.500","T":1700000000001,"m":true,"M":true}}"#,
    "\n",
    r#"1700000000003000000 {"e":"aggTrade","E":1700000000004,"s":"ETHUSDT","a":5,"p":"2000.5","q":"1","f":100,"l":105,"T":1700000000003,"m":false,"M":true}"#,
    "\n",
    r#"1700000000005000000 {"u":400900217,"s":"BTCUSDT","b":"41999.90","B":"31.21","a":"42000.00","A":"40.66"}"#,
    "\n",
    r#"{"result":null,"id":1}"#,
    "\r\n",
    "\n",
    r#"{"stream":"btcusdt@depth","data":{"e":"depthUpdate","E":1700000000006,"s":"BTCUSDT","U":157,"u":160,"b":[["41999.80","10"],["41999.70","0"]],"a":[["42000.20","100"]]}}"#,
    "\n",
    r#"{"e":"depthUpdate","E":1700000000007,"s":"BTCUSDT","U":161,"u":161,"b":[],"a":[]}"#,
    "\n",
    r#"{"e":"bookTicker","u":7,"s":"ETHUSDT","b":"1999.5","B":"2","a":"2000","A":"3","T":1700000000008,"E":1700000000009}"#,
);

#[test]
fn binance_json_lines_give_the_documented_events() {
    let mut feed = BinanceJsonFeed::new(BINANCE.as_bytes(), true);
    let events = drain(&mut feed).unwrap();
    let depth = |side, price, size| {
        FeedEvent::BookDelta(BookDelta {
            ts_ns: 1_700_000_000_006 * MS,
            local_ts_ns: None,
            symbol: 0,
            side,
            price,
            size,
            first_update_id: nz(157),
            last_update_id: nz(160),
        })
    };
    let want = vec![
        FeedEvent::Tick(Tick {
            ts_ns: 1_700_000_000_001 * MS,
            symbol: 0,
            price: 42000.10,
            size: 0.5,
            side: Side::Sell,
        }),
        FeedEvent::Tick(Tick {
            ts_ns: 1_700_000_000_003 * MS,
            symbol: 1,
            price: 2000.5,
            size: 1.0,
            side: Side::Buy,
        }),
        FeedEvent::Quote(Quote {
            ts_ns: 1_700_000_000_005 * MS,
            local_ts_ns: nz(1_700_000_000_005 * MS),
            symbol: 0,
            bid_price: 41999.90,
            bid_size: 31.21,
            ask_price: 42000.0,
            ask_size: 40.66,
            update_id: nz(400900217),
        }),
        depth(BookSide::Bid, 41999.80, 10.0),
        depth(BookSide::Bid, 41999.70, 0.0),
        depth(BookSide::Ask, 42000.20, 100.0),
        FeedEvent::Quote(Quote {
            ts_ns: 1_700_000_000_008 * MS,
            local_ts_ns: None,
            symbol: 1,
            bid_price: 1999.5,
            bid_size: 2.0,
            ask_price: 2000.0,
            ask_size: 3.0,
            update_id: nz(7),
        }),
    ];
    assert_eq!(events, want);
    assert_eq!(feed.sequence_gaps(), 0);
    let names = feed.names();
    assert_eq!(names.get(0).as_deref(), Some("BTCUSDT"));
    assert_eq!(names.get(1).as_deref(), Some("ETHUSDT"));
}

#[test]
fn depth_sequence_gaps_are_counted_per_symbol() {
    let line = |s: &str, first: u64, last: u64, pu: Option<u64>| {
        let pu = pu.map_or(String::new(), |p| format!(r#","pu":{p}"#));
        format!(
            r#"{{"e":"depthUpdate","E":1,"s":"{s}","U":{first},"u":{last}{pu},"b":[["1","1"]],"a":[]}}"#
        ) + "\n"
    };
    let text = [
        line("A", 10, 12, None),
        line("B", 100, 100, None),
        line("A", 13, 15, None),   // follows
        line("B", 102, 103, None), // gap (101 missing)
        line("A", 15, 16, None),   // gap (overlap)
        line("A", 20, 25, None),   // gap
        line("C", 50, 60, Some(1)),
        line("C", 65, 70, Some(60)), // futures: pu = previous u, follows
        line("C", 71, 72, Some(69)), // gap
    ]
    .concat();
    let mut feed = BinanceJsonFeed::new(text.as_bytes(), true);
    let events = drain(&mut feed).unwrap();
    assert_eq!(events.len(), 9);
    assert_eq!(feed.sequence_gaps(), 4);
}

#[test]
fn every_binance_reject_reason() {
    use RejectReason::*;
    let long = format!(
        r#"{{"e":"trade","x":"{}"}}"#,
        "y".repeat(zerotick_feeds::binance::MAX_JSON_LINE)
    );
    let cases: Vec<(String, RejectReason)> = vec![
        (r#"{"e":"trade","#.into(), BadJson),
        (r#"[1,2]"#.into(), BadJson),
        (r#"{"e":"trade"} trailing"#.into(), BadJson),
        (
            r#"{"e":"trade","T":"1","s":"A","p":"1","q":"1"}"#.into(),
            BadJson,
        ),
        (r#"{"data":5}"#.into(), BadJson),
        (
            r#"{"e":"trade","T":1,"s":"A","p":"1"}"#.into(),
            MissingField,
        ),
        (
            r#"{"u":1,"s":"A","b":"1","B":"1","a":"2","A":"1"}"#.into(),
            MissingField,
        ),
        (r#"{"e":"kline","E":1,"s":"A"}"#.into(), UnknownEvent),
        (r#"{"x":1}"#.into(), UnknownEvent),
        (
            r#"{"e":"trade","T":-1,"s":"A","p":"1","q":"1"}"#.into(),
            BadTimestamp,
        ),
        (
            r#"{"e":"trade","T":1.5,"s":"A","p":"1","q":"1"}"#.into(),
            BadTimestamp,
        ),
        (
            r#"{"e":"trade","T":99999999999999999,"s":"A","p":"1","q":"1"}"#.into(),
            BadTimestamp,
        ),
        // One ms past i64::MAX ns (2262-04-11): a Parquet timestamp could not hold it.
        (
            r#"{"e":"trade","T":9223372036855,"s":"A","p":"1","q":"1"}"#.into(),
            BadTimestamp,
        ),
        (
            r#"9223372036854775808 {"e":"trade","T":1,"s":"A","p":"1","q":"1"}"#.into(),
            BadTimestamp,
        ),
        (
            r#"x1 {"e":"trade","T":1,"s":"A","p":"1","q":"1"}"#.into(),
            BadJson,
        ),
        (
            r#"1 ["e":"trade","T":1,"s":"A","p":"1","q":"1"}"#.into(),
            BadJson,
        ),
        (r#"1 "e":"trade","T":1}"#.into(), BadJson),
        (
            r#"1.2.3 {"e":"trade","T":1,"s":"A","p":"1","q":"1"}"#.into(),
            BadTimestamp,
        ),
        (
            r#"{"e":"trade","T":1,"s":"A","p":"0","q":"1"}"#.into(),
            BadPrice,
        ),
        (
            r#"{"e":"trade","T":1,"s":"A","p":"NaN","q":"1"}"#.into(),
            BadPrice,
        ),
        (
            r#"{"e":"trade","T":1,"s":"A","p":"1","q":"-0"}"#.into(),
            BadSize,
        ),
        (
            r#"{"e":"trade","T":1,"s":"A","p":"1","q":"1","m":"yes"}"#.into(),
            BadSide,
        ),
        (
            r#"{"e":"depthUpdate","E":1,"s":"A","U":0,"u":1,"b":[],"a":[]}"#.into(),
            BadUpdateId,
        ),
        (
            r#"{"e":"depthUpdate","E":1,"s":"A","U":5,"u":4,"b":[],"a":[]}"#.into(),
            BadUpdateId,
        ),
        (
            r#"{"e":"depthUpdate","E":1,"s":"A","U":1,"u":1,"b":[["1"]],"a":[]}"#.into(),
            FieldCount,
        ),
        (
            r#"{"e":"depthUpdate","E":1,"s":"A","U":1,"u":1,"b":[["1","1"]],"a":[["0","1"]]}"#
                .into(),
            BadPrice,
        ),
        (
            r#"{"e":"trade","T":1,"s":"A\xff","p":"1","q":"1"}"#.into(),
            BadUtf8,
        ),
        (long, TooLong),
    ];
    for (line, want) in &cases {
        let mut bytes = line.clone().into_bytes();
        if line.contains("\\xff") {
            // A symbol that is not UTF-8: the raw byte, not the escape text.
            bytes = line.replace("\\xff", "").into_bytes();
            let at = bytes.iter().position(|&c| c == b'A').unwrap() + 1;
            bytes.insert(at, 0xff);
        }
        let mut feed = BinanceJsonFeed::new(&bytes[..], false);
        let got = drain(&mut feed).unwrap();
        let want_reason = *want;
        assert_eq!(
            got,
            [FeedEvent::Rejected(want_reason)],
            "{}",
            &line[..line.len().min(120)]
        );
        let mut strict = BinanceJsonFeed::new(&bytes[..], true);
        let err = drain(&mut strict).unwrap_err();
        assert_eq!(err, format!("line 1: rejected ({want_reason})"));
    }
    // A bad depth level rejects the whole message: no level of it is handed on.
    let text = "{\"e\":\"depthUpdate\",\"E\":1,\"s\":\"A\",\"U\":1,\"u\":1,\"b\":[[\"1\",\"1\"],[\"2\",\"x\"]],\"a\":[]}\n";
    let got = drain(&mut BinanceJsonFeed::new(text.as_bytes(), false)).unwrap();
    assert_eq!(got, [FeedEvent::Rejected(BadSize)]);
}

/// Cutting a file at any byte gives a prefix of its events (and maybe one rejection of the
/// cut line), never a panic or an event that was not in the file.
fn truncation_at_every_byte(text: &[u8], events: impl Fn(&[u8]) -> Result<Vec<FeedEvent>, String>) {
    let whole = events(text).unwrap();
    for cut in 0..text.len() {
        let Ok(got) = events(&text[..cut]) else {
            continue;
        };
        let good: Vec<_> = got
            .iter()
            .filter(|e| !matches!(e, FeedEvent::Rejected(_)))
            .copied()
            .collect();
        let rejected = got.len() - good.len();
        assert!(rejected <= 1, "cut at {cut}: {got:?}");
        // The cut line's events may differ in value (a number cut short), so compare the
        // events before the last line only.
        let n = good.len().saturating_sub(3);
        assert_eq!(&good[..n], &whole[..n], "cut at {cut}");
        assert!(good.len() <= whole.len(), "cut at {cut}");
    }
}

#[test]
fn binance_truncated_at_every_byte() {
    truncation_at_every_byte(BINANCE.as_bytes(), |b| {
        drain(&mut BinanceJsonFeed::new(b, false))
    });
}

/// The events of `text` read through a buffer of `cap` bytes (rows straddling refills are
/// assembled) equal those read in place from the whole text.
fn same_at_every_buffer_size(
    text: &[u8],
    events: impl Fn(&mut (dyn std::io::BufRead + Send)) -> Result<Vec<FeedEvent>, String>,
) {
    let whole = events(&mut &text[..]);
    for cap in (1..=text.len() + 1).step_by(1 + text.len() / 300) {
        let mut reader = std::io::BufReader::with_capacity(cap, text);
        assert_eq!(events(&mut reader), whole, "buffer of {cap} bytes");
    }
}

#[test]
fn binance_lines_straddling_buffer_refills() {
    let text = format!(
        "{BINANCE}\r\n{}\n{}",
        r#"{"e":"trade","E":1,"s":"A","p":"1.5","q":"x","T":1}"#,
        r#"{"e":"trade","s":"\u00ff","p":"1","q":"1","T":1}"#
    );
    for strict in [false, true] {
        same_at_every_buffer_size(text.as_bytes(), |r| {
            drain(&mut BinanceJsonFeed::new(r, strict))
        });
    }
    let got = drain(&mut BinanceJsonFeed::new(text.as_bytes(), false)).unwrap();
    // BINANCE's seven events, then the two lines added.
    assert_eq!(got.len(), 9);
    assert_eq!(got[7], FeedEvent::Rejected(RejectReason::BadSize));
    assert!(matches!(got[8], FeedEvent::Tick(t) if t.price == 1.0));
}

#[test]
fn csv_rows_straddling_buffer_refills_with_crlf_bad_utf8_and_no_final_newline() {
    let text = b"\xEF\xBB\xBFid,price,qty,quote_qty,time,is_buyer_maker\r\n\
        1,42000.5,0.01,420,1700000000000,true\r\n\
        2,42000.5,0.01,4\xff20,1700000000001,false\r\n\
        \r\n\
        3, 42000.25 ,0.5,1,1700000000002,TRUE,True\n\
        4,1,\xc3\xa9,1,1700000000003,false\r\
        5,1,1,1,1700000000004,false";
    for strict in [false, true] {
        same_at_every_buffer_size(text, |r| {
            drain(&mut zerotick_feeds::CsvFeed::new(
                r,
                CsvLayout::Auto,
                strict,
                "BTCUSDT",
            ))
        });
    }
    let csv = |strict| {
        drain(&mut zerotick_feeds::CsvFeed::new(
            &text[..],
            CsvLayout::Auto,
            strict,
            "X",
        ))
    };
    let kinds: Vec<_> = csv(false)
        .unwrap()
        .iter()
        .map(|e| match e {
            FeedEvent::Tick(t) => Ok(t.price),
            FeedEvent::Rejected(r) => Err(*r),
            other => panic!("{other:?}"),
        })
        .collect();
    use RejectReason::*;
    assert_eq!(
        kinds,
        [
            Ok(42000.5),
            Err(BadUtf8),
            Ok(42000.25),
            Err(BadSize),
            Ok(1.0)
        ]
    );
    assert_eq!(csv(true), Err("line 3: rejected (bad_utf8)".to_owned()));
}

const TARDIS_TRADES: &str = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n\
    binance,BTCUSDT,1700000000000001,1700000000000501,t1,buy,42000.5,0.25\n\
    binance,ETHUSDT,1700000000000002,1700000000000502,,unknown,2000,1\n\
    binance,BTCUSDT,1700000000000003,1700000000000503,t3,SELL,41999,0\n";

const TARDIS_QUOTES: &str = "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount\n\
    deribit,BTC-PERPETUAL,1585699201147000,1585699202147000,86,6423,6422.9,112\n";

const TARDIS_SNAPSHOT: &str = "exchange,symbol,timestamp,local_timestamp,asks[0].price,asks[0].amount,bids[0].price,bids[0].amount,asks[1].price,asks[1].amount,bids[1].price,bids[1].amount\n\
    binance,BTCUSDT,1700000000000010,1700000000000020,101,1,100,2,102,3,,\n";

const TARDIS_L2: &str = "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n\
    binance,BTCUSDT,1700000000000001,1700000000000002,false,bid,99,1\n\
    binance,BTCUSDT,1700000000000010,1700000000000011,true,ask,101,5\n\
    binance,BTCUSDT,1700000000000010,1700000000000011,true,bid,100,4\n\
    binance,BTCUSDT,1700000000000020,1700000000000021,false,ask,101,0\n\
    binance,BTCUSDT,1700000000000030,1700000000000031,true,bid,98,7\n";

fn level(ts_us: u64, local_us: u64, side: BookSide, price: f64, size: f64) -> BookDelta {
    BookDelta {
        ts_ns: ts_us * US,
        local_ts_ns: nz(local_us * US),
        symbol: 0,
        side,
        price,
        size,
        first_update_id: None,
        last_update_id: None,
    }
}

fn snap(level: BookDelta, clear_side: bool) -> FeedEvent {
    FeedEvent::SnapshotLevel(SnapshotLevel { level, clear_side })
}

fn tardis(text: &str) -> Vec<FeedEvent> {
    drain(&mut TardisFeed::new(text.as_bytes(), true).unwrap()).unwrap()
}

#[test]
fn tardis_trades_and_quotes() {
    let t = |ts_us: u64, symbol, price, size, side| {
        FeedEvent::Tick(Tick {
            ts_ns: ts_us * US,
            symbol,
            price,
            size,
            side,
        })
    };
    assert_eq!(
        tardis(TARDIS_TRADES),
        [
            t(1_700_000_000_000_001, 0, 42000.5, 0.25, Side::Buy),
            t(1_700_000_000_000_002, 1, 2000.0, 1.0, Side::Unknown),
            t(1_700_000_000_000_003, 0, 41999.0, 0.0, Side::Sell),
        ]
    );
    assert_eq!(
        tardis(TARDIS_QUOTES),
        [FeedEvent::Quote(Quote {
            ts_ns: 1_585_699_201_147_000 * US,
            local_ts_ns: nz(1_585_699_202_147_000 * US),
            symbol: 0,
            bid_price: 6422.9,
            bid_size: 112.0,
            ask_price: 6423.0,
            ask_size: 86.0,
            update_id: None,
        })]
    );
    // A side with both fields empty is an empty side (0, 0), as a thin book has; one
    // field of a pair empty is a bad row.
    let header = TARDIS_QUOTES.lines().next().unwrap();
    let rows = "x,A,1,2,,,6422.9,112\nx,A,3,4,86,6423,,\nx,A,5,6,,6423,1,1\nx,A,7,8,1,1,,5\n";
    let text = format!("{header}\n{rows}");
    let got = drain(&mut TardisFeed::new(text.as_bytes(), false).unwrap()).unwrap();
    let q = |ts, (bid_price, bid_size), (ask_price, ask_size)| {
        FeedEvent::Quote(Quote {
            ts_ns: ts * US,
            local_ts_ns: nz((ts + 1) * US),
            symbol: 0,
            bid_price,
            bid_size,
            ask_price,
            ask_size,
            update_id: None,
        })
    };
    assert_eq!(
        got,
        [
            q(1, (6422.9, 112.0), (0.0, 0.0)),
            q(3, (0.0, 0.0), (6423.0, 86.0)),
            FeedEvent::Rejected(RejectReason::BadSize),
            FeedEvent::Rejected(RejectReason::BadPrice),
        ]
    );
}

#[test]
fn tardis_book_snapshot_rows_are_two_clearing_runs() {
    let (ts, local) = (1_700_000_000_000_010, 1_700_000_000_000_020);
    let feed = TardisFeed::new(TARDIS_SNAPSHOT.as_bytes(), true).unwrap();
    assert_eq!(feed.kind(), TardisKind::BookSnapshot(2));
    assert_eq!(
        tardis(TARDIS_SNAPSHOT),
        [
            snap(level(ts, local, BookSide::Ask, 101.0, 1.0), true),
            snap(level(ts, local, BookSide::Ask, 102.0, 3.0), false),
            snap(level(ts, local, BookSide::Bid, 100.0, 2.0), true),
        ]
    );
    // An empty side is one clearing level of size 0.
    let empty_bids = "exchange,symbol,timestamp,local_timestamp,asks[0].price,asks[0].amount,bids[0].price,bids[0].amount\n\
                      x,BTCUSDT,1,2,5,1,,\n";
    assert_eq!(
        tardis(empty_bids),
        [
            snap(level(1, 2, BookSide::Ask, 5.0, 1.0), true),
            snap(level(1, 2, BookSide::Bid, 0.0, 0.0), true),
        ]
    );
}

#[test]
fn tardis_incremental_l2_snapshots_clear_both_sides() {
    let l = |ts: u64, side, price, size| level(ts, ts + 1, side, price, size);
    assert_eq!(
        tardis(TARDIS_L2),
        [
            FeedEvent::BookDelta(level(
                1_700_000_000_000_001,
                1_700_000_000_000_002,
                BookSide::Bid,
                99.0,
                1.0
            )),
            snap(l(1_700_000_000_000_010, BookSide::Ask, 101.0, 5.0), true),
            snap(l(1_700_000_000_000_010, BookSide::Bid, 0.0, 0.0), true),
            snap(l(1_700_000_000_000_010, BookSide::Bid, 100.0, 4.0), false),
            FeedEvent::BookDelta(l(1_700_000_000_000_020, BookSide::Ask, 101.0, 0.0)),
            snap(l(1_700_000_000_000_030, BookSide::Bid, 98.0, 7.0), true),
            snap(l(1_700_000_000_000_030, BookSide::Ask, 0.0, 0.0), true),
        ]
    );
}

#[test]
fn every_tardis_reject_reason() {
    use RejectReason::*;
    let trades = "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n";
    let l2 = "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n";
    let cases = [
        (trades, "x,A,1,2,id,buy,1\n".to_owned(), FieldCount),
        (trades, "x,A,1,2,id,buy,1,1,9\n".to_owned(), FieldCount),
        (trades, "x,A,1.5,2,id,buy,1,1\n".to_owned(), BadTimestamp),
        (trades, "x,A,1,,id,buy,1,1\n".to_owned(), BadTimestamp),
        (
            trades,
            "x,A,99999999999999999,2,id,buy,1,1\n".to_owned(),
            BadTimestamp,
        ),
        // One us past i64::MAX ns, as event or local time.
        (
            trades,
            "x,A,9223372036854776,2,id,buy,1,1\n".to_owned(),
            BadTimestamp,
        ),
        (
            trades,
            "x,A,1,9223372036854776,id,buy,1,1\n".to_owned(),
            BadTimestamp,
        ),
        (trades, "x,A,1,2,id,buy,-1,1\n".to_owned(), BadPrice),
        (trades, "x,A,1,2,id,buy,1,x\n".to_owned(), BadSize),
        (trades, "x,A,1,2,id,hold,1,1\n".to_owned(), BadSide),
        (l2, "x,A,1,2,yes,bid,1,1\n".to_owned(), BadFlag),
        (l2, "x,A,1,2,true,mid,1,1\n".to_owned(), BadSide),
        (
            trades,
            format!("x,A,1,2,{},buy,1,1\n", "9".repeat(20_000)),
            TooLong,
        ),
    ];
    for (header, row, want) in &cases {
        let text = format!("{header}{row}");
        let got = drain(&mut TardisFeed::new(text.as_bytes(), false).unwrap()).unwrap();
        assert_eq!(
            got,
            [FeedEvent::Rejected(*want)],
            "{}",
            &row[..row.len().min(80)]
        );
        let err = drain(&mut TardisFeed::new(text.as_bytes(), true).unwrap()).unwrap_err();
        assert_eq!(err, format!("line 2: rejected ({want})"));
    }
    let mut bad_utf8 = trades.as_bytes().to_vec();
    bad_utf8.extend_from_slice(b"x,A\xff,1,2,id,buy,1,1\n");
    let got = drain(&mut TardisFeed::new(&bad_utf8[..], false).unwrap()).unwrap();
    assert_eq!(got, [FeedEvent::Rejected(BadUtf8)]);
    // A bad level rejects the whole snapshot row.
    let snapshot = "exchange,symbol,timestamp,local_timestamp,asks[0].price,asks[0].amount,bids[0].price,bids[0].amount\nx,A,1,2,5,1,,3\n";
    let got = drain(&mut TardisFeed::new(snapshot.as_bytes(), false).unwrap()).unwrap();
    assert_eq!(got, [FeedEvent::Rejected(BadPrice)]);
    // Not a Tardis header: an error that says so.
    let err = TardisFeed::new(&b"timestamp,symbol,price,size\n"[..], false).unwrap_err();
    assert!(err.to_string().contains("not a Tardis CSV header"), "{err}");
}

#[test]
fn tardis_truncated_at_every_byte() {
    for text in [TARDIS_TRADES, TARDIS_L2, TARDIS_SNAPSHOT] {
        let header_end = text.find('\n').unwrap() + 1;
        let rows = &text.as_bytes()[header_end..];
        truncation_at_every_byte(rows, |b| {
            let mut t = text.as_bytes()[..header_end].to_vec();
            t.extend_from_slice(b);
            drain(&mut TardisFeed::new(&t[..], false).map_err(|e| e.to_string())?)
        });
    }
}

#[test]
fn gzip_json_lines_and_tardis_files_are_detected_and_read() {
    let d = dir("detect");
    let json = write(&d.join("rec.log"), &gzip(BINANCE.as_bytes()));
    let mut feed = FileFeed::open(&json, CsvLayout::Auto, true).unwrap();
    assert_eq!(feed.format(), InputFormat::BinanceJson);
    assert_eq!(
        drain(&mut feed).unwrap(),
        drain(&mut BinanceJsonFeed::new(BINANCE.as_bytes(), true)).unwrap()
    );
    let l2 = write(&d.join("l2.csv.gz"), &gzip(TARDIS_L2.as_bytes()));
    let mut feed = FileFeed::open(&l2, CsvLayout::Auto, true).unwrap();
    assert_eq!(feed.format(), InputFormat::Tardis);
    assert_eq!(drain(&mut feed).unwrap(), tardis(TARDIS_L2));
    // Empty content: the extension decides.
    let empty = write(&d.join("empty.jsonl"), b"");
    let feed = FileFeed::open(&empty, CsvLayout::Auto, true).unwrap();
    assert_eq!(feed.format(), InputFormat::BinanceJson);
    // Forced: a JSON file read as CSV is rejections, not JSON.
    let mut forced = FileFeed::open_as(&json, InputFormat::Csv, CsvLayout::Auto, false).unwrap();
    assert_eq!(forced.format(), InputFormat::Csv);
    assert!(
        drain(&mut forced)
            .unwrap()
            .iter()
            .all(|e| matches!(e, FeedEvent::Rejected(_)))
    );
    // A zip of a JSON member, through the same detection.
    let z = write(
        &d.join("rec.zip"),
        &zip_one("rec.jsonl", BINANCE.as_bytes()),
    );
    let mut feed = FileFeed::open(&z, CsvLayout::Auto, true).unwrap();
    assert_eq!(feed.format(), InputFormat::BinanceJson);
    assert_eq!(drain(&mut feed).unwrap().len(), 7);
}

fn zip_one(name: &str, data: &[u8]) -> Vec<u8> {
    support::zip(&[(name, data)], true)
}

#[test]
fn formats_merge_by_event_time_and_globs_expand() {
    let d = dir("merge");
    let json = "{\"e\":\"trade\",\"s\":\"BTCUSDT\",\"p\":\"1\",\"q\":\"1\",\"T\":2}\n\
                {\"e\":\"depthUpdate\",\"E\":4,\"s\":\"BTCUSDT\",\"U\":1,\"u\":1,\"b\":[[\"1\",\"1\"]],\"a\":[]}\n";
    write(&d.join("a-1.jsonl"), json.as_bytes());
    let quotes = "exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount\n\
                  x,BTCUSDT,1000,1000,1,2,1,1\n\
                  x,ETHUSDT,3000,3000,1,2,1,1\n";
    write(&d.join("a-2.csv"), quotes.as_bytes());
    write(&d.join("b.csv"), b"");
    let paths = expand_paths(&[d.join("a-?.*")]).unwrap();
    assert_eq!(paths, [d.join("a-1.jsonl"), d.join("a-2.csv")]);
    let err = expand_paths(&[d.join("z*")]).unwrap_err().to_string();
    assert!(err.contains("no regular file matches"), "{err}");
    let mut feed = MergedFeed::open(&paths, CsvLayout::Auto, true).unwrap();
    let events = drain(&mut feed).unwrap();
    let times: Vec<u64> = events.iter().filter_map(FeedEvent::ts_ns).collect();
    assert_eq!(times, [MS, 2 * MS, 3 * MS, 4 * MS]);
    assert!(matches!(events[0], FeedEvent::Quote(q) if q.symbol == 0));
    assert!(matches!(events[1], FeedEvent::Tick(t) if t.symbol == 0));
    assert!(matches!(events[2], FeedEvent::Quote(q) if q.symbol == 1));
    assert!(matches!(events[3], FeedEvent::BookDelta(b) if b.symbol == 0));
    assert_eq!(feed.names().get(1).as_deref(), Some("ETHUSDT"));
}

#[test]
fn an_event_going_back_in_time_is_clamped_not_dropped_whatever_its_kind() {
    let d = dir("backwards");
    // A book update stamped before the update it follows: dropping it would leave the level at
    // size 1 where the exchange says 2.
    let text = "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n\
                x,A,5,5,false,bid,1,1\n\
                x,A,3,3,false,bid,1,2\n";
    let p = write(&d.join("l2.csv"), text.as_bytes());
    let other = write(&d.join("empty.csv"), b"");
    let expect = |events: &[FeedEvent]| {
        let deltas: Vec<(u64, f64)> = events
            .iter()
            .map(|e| match e {
                FeedEvent::BookDelta(b) => (b.ts_ns, b.size),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(deltas, [(5_000, 1.0), (5_000, 2.0)]);
    };
    for strict in [false, true] {
        let mut merged = MergedFeed::open(&[&p, &other], CsvLayout::Auto, strict).unwrap();
        expect(&drain(&mut merged).unwrap());
        assert_eq!(merged.time_clamped(), 1);
        let mut one = FileFeed::open(&p, CsvLayout::Auto, strict).unwrap();
        expect(&drain(&mut one).unwrap());
        assert_eq!(one.time_clamped(), 1);
    }
}

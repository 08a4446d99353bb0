//! Parse cases of group `feed` (issue 16, Performance): how fast one core turns decompressed
//! bytes in memory into market events, zerotick's feeds against the usual serde way.
//!
//! - `parse_ws_json`: one op = one websocket message (one JSON line) of a Binance
//!   combined-stream recording (`{"stream":...,"data":{...}}`): 40% `trade`, 40%
//!   `bookTicker`, 20% `depthUpdate` of 1-20 levels a side (mean ~10.5), one symbol. The
//!   recording (16,384 lines, ~3.4 MB) is built once in memory and replayed.
//!   * `zerotick`: `BinanceJsonFeed` over the bytes, every event it yields (a depth message
//!     is one event per level) through `black_box`;
//!   * `serde_json`: each line deserialised into owned structs, the way serde's docs show
//!     for a payload tagged by a field (`#[serde(tag = "e")]`, an internally tagged enum),
//!     prices and sizes read as `String` then parsed to `f64` (Binance sends them as
//!     strings), depth levels into a `Vec<(f64, f64)>` per side;
//!   * `serde_json-flat`: the faster serde shape, one struct with every field optional (no
//!     tag buffering), same owned output.
//! - `parse_trades_csv`: one op = one row of a Binance trades dump
//!   (`id,price,qty,quote_qty,time,is_buyer_maker,is_best_match`, 65,536 rows, ~4.5 MB).
//!   * `zerotick`: `CsvFeed` (layout `Trades`) over the bytes, every tick through
//!     `black_box`;
//!   * `csv+serde`: `csv::Reader` with one reused `ByteRecord` and `deserialize` into a
//!     `#[derive(Deserialize)]` row, the fast path of the csv crate's tutorial ("amortizing
//!     allocations").
//!
//! Every impl walks the whole buffer in passes; a sample's time is scaled to exactly the ops
//! asked for (a pass is ~1-4 ms, a sample 10 ms: a partial last pass would otherwise bias
//! short samples). The notes give messages or rows per second and the peer ratios.

use std::hint::black_box;
use std::io::Cursor;
use std::time::{Duration, Instant};

use serde::Deserialize;
use zerotick_core::rng::Rng;
use zerotick_core::{Feed, FeedEvent};
use zerotick_feeds::{BinanceJsonFeed, CsvFeed, CsvLayout};

use crate::harness::{Harness, Impl, Row};

/// Lines of the websocket recording.
const WS_LINES: usize = 1 << 14;
/// Rows of the trade CSV.
const CSV_ROWS: usize = 1 << 16;

/// Runs `parse_ws_json` and `parse_trades_csv`; returns their rows.
pub fn run(h: &mut Harness) -> Vec<Row> {
    let mut rows = Vec::new();
    let ws = ws_recording();
    let case = h.case(
        "parse_ws_json",
        vec![
            passes("zerotick", WS_LINES, || zerotick_ws(&ws)),
            passes("serde_json", WS_LINES, || serde_ws(&ws)),
            passes("serde_json-flat", WS_LINES, || serde_ws_flat(&ws)),
        ],
    );
    note(h, &case, "messages", ws.len());
    rows.extend(case);
    let csv = trades_csv();
    let case = h.case(
        "parse_trades_csv",
        vec![
            passes("zerotick", CSV_ROWS, || zerotick_csv(&csv)),
            passes("csv+serde", CSV_ROWS, || serde_csv(&csv)),
        ],
    );
    note(h, &case, "rows", csv.len());
    rows.extend(case);
    rows
}

/// An impl whose routine runs whole passes of `per_pass` ops (`pass` returns the ops it
/// did) until it has done at least the ops asked for, and scales its time to exactly those.
fn passes<'a>(
    name: &'static str,
    per_pass: usize,
    mut pass: impl FnMut() -> usize + 'a,
) -> Impl<'a> {
    Impl::new(name, move |iters| {
        let start = Instant::now();
        let mut done = 0u64;
        while done < iters.max(1) {
            let n = pass();
            assert_eq!(n, per_pass, "{name}: a pass did {n} ops, not {per_pass}");
            done += n as u64;
        }
        let elapsed = start.elapsed();
        Duration::from_secs_f64(elapsed.as_secs_f64() * iters as f64 / done as f64)
    })
}

/// Notes the medians as ops per second, the input's size, and each peer's ratio.
fn note(h: &mut Harness, rows: &[Row], what: &str, bytes: usize) {
    let ours = rows
        .iter()
        .find(|r| r.imp == "zerotick")
        .map(|r| r.median_ns);
    for r in rows {
        let ratio = ours.map_or(String::new(), |z| {
            format!(", {:.2}x zerotick's time", r.median_ns / z)
        });
        h.note(format!(
            "{} [{}]: {:.2} M {what}/s ({:.1} ns each, samples {:.1}..{:.1}){ratio}",
            r.case,
            r.imp,
            1e3 / r.median_ns,
            r.median_ns,
            r.min_ns,
            r.max_ns
        ));
    }
    h.note(format!(
        "{}: {:.1} MB in memory, replayed",
        rows.first().map_or("", |r| r.case),
        bytes as f64 / 1e6
    ));
}

/// A Binance combined-stream recording: trades, bookTickers and depth updates of BTCUSDT
/// around a random-walking price.
pub fn ws_recording() -> Vec<u8> {
    use std::fmt::Write as _;
    let mut rng = Rng::new(16);
    let mut out = String::with_capacity(WS_LINES * 220);
    let mut mid = 4_200_000i64; // cents
    let (mut t, mut id) = (1_700_000_000_000u64, 1_000_000u64);
    let px = |c: i64| format!("{}.{:02}", c / 100, c % 100);
    let qty = |rng: &mut Rng| format!("{:.3}", rng.next_f64() * 5.0);
    for _ in 0..WS_LINES {
        t += 1 + (rng.next_u64() % 20);
        mid += (rng.next_u64() % 5) as i64 - 2;
        let kind = rng.next_u64() % 10;
        if kind < 4 {
            id += 1;
            let _ = writeln!(
                out,
                r#"{{"stream":"btcusdt@trade","data":{{"e":"trade","E":{},"s":"BTCUSDT","t":{id},"p":"{}","q":"{}","T":{t},"m":{}}}}}"#,
                t + 1,
                px(mid),
                qty(&mut rng),
                rng.next_u64().is_multiple_of(2)
            );
        } else if kind < 8 {
            id += 1;
            let _ = writeln!(
                out,
                r#"{{"stream":"btcusdt@bookTicker","data":{{"e":"bookTicker","u":{id},"s":"BTCUSDT","b":"{}","B":"{}","a":"{}","A":"{}","T":{t},"E":{}}}}}"#,
                px(mid - 1),
                qty(&mut rng),
                px(mid + 1),
                qty(&mut rng),
                t + 1
            );
        } else {
            let levels = |rng: &mut Rng, sign: i64| {
                let n = 1 + rng.next_u64() % 20;
                let items: Vec<String> = (0..n)
                    .map(|_| {
                        let d = 1 + (rng.next_u64() % 50) as i64;
                        let q = if rng.next_u64().is_multiple_of(3) {
                            "0.000".to_owned()
                        } else {
                            qty(rng)
                        };
                        format!(r#"["{}","{q}"]"#, px(mid + sign * d))
                    })
                    .collect();
                items.join(",")
            };
            let (bids, asks) = (levels(&mut rng, -1), levels(&mut rng, 1));
            let _ = writeln!(
                out,
                r#"{{"stream":"btcusdt@depth@100ms","data":{{"e":"depthUpdate","E":{t},"s":"BTCUSDT","U":{},"u":{},"b":[{bids}],"a":[{asks}]}}}}"#,
                id + 1,
                id + 3
            );
            id += 3;
        }
    }
    out.into_bytes()
}

/// A Binance trades dump (no header): `id,price,qty,quote_qty,time,is_buyer_maker,is_best_match`.
pub fn trades_csv() -> Vec<u8> {
    use std::fmt::Write as _;
    let mut rng = Rng::new(17);
    let mut out = String::with_capacity(CSV_ROWS * 70);
    let mut price = 4_200_000i64;
    let mut t = 1_700_000_000_000u64;
    for id in 0..CSV_ROWS as u64 {
        price += (rng.next_u64() % 5) as i64 - 2;
        t += rng.next_u64() % 3;
        let q = rng.next_f64() * 2.0;
        let p = price as f64 / 100.0;
        let _ = writeln!(
            out,
            "{},{}.{:02},{q:.8},{:.8},{t},{},True",
            3_000_000_000 + id,
            price / 100,
            price % 100,
            p * q,
            if rng.next_u64().is_multiple_of(2) {
                "True"
            } else {
                "False"
            }
        );
    }
    out.into_bytes()
}

/// One pass of zerotick's JSON-lines feed; returns the messages (lines) read.
fn zerotick_ws(buf: &[u8]) -> usize {
    let mut feed = BinanceJsonFeed::new(Cursor::new(buf), false);
    loop {
        match feed.next_event() {
            Ok(FeedEvent::End) => break,
            Ok(e @ (FeedEvent::Tick(_) | FeedEvent::Quote(_) | FeedEvent::BookDelta(_))) => {
                black_box(e);
            }
            other => panic!("the recording is valid: {other:?}"),
        }
    }
    feed.line() as usize
}

/// One pass of zerotick's trade CSV feed; returns the rows read.
fn zerotick_csv(buf: &[u8]) -> usize {
    let mut feed = CsvFeed::new(Cursor::new(buf), CsvLayout::Trades, false, "BTCUSDT");
    let mut n = 0;
    loop {
        match feed.next_event() {
            Ok(FeedEvent::End) => break,
            Ok(e @ FeedEvent::Tick(_)) => {
                black_box(e);
                n += 1;
            }
            other => panic!("the CSV is valid: {other:?}"),
        }
    }
    n
}

/// The owned events the serde peers produce (what zerotick's events carry).
#[derive(Debug)]
#[allow(dead_code)] // read through `black_box` only
enum Owned {
    Trade {
        symbol: String,
        ts_ms: u64,
        price: f64,
        size: f64,
        seller_maker: bool,
    },
    Quote {
        symbol: String,
        ts_ms: u64,
        update_id: u64,
        bid: (f64, f64),
        ask: (f64, f64),
    },
    Depth {
        symbol: String,
        ts_ms: u64,
        first: u64,
        last: u64,
        bids: Vec<(f64, f64)>,
        asks: Vec<(f64, f64)>,
    },
}

#[derive(Deserialize)]
struct Envelope<T> {
    #[allow(dead_code)]
    stream: String,
    data: T,
}

#[derive(Deserialize)]
#[serde(tag = "e")]
enum Payload {
    #[serde(rename = "trade")]
    Trade {
        #[serde(rename = "T")]
        t: u64,
        s: String,
        p: String,
        q: String,
        m: bool,
    },
    #[serde(rename = "bookTicker")]
    BookTicker {
        #[serde(rename = "T")]
        t: u64,
        s: String,
        u: u64,
        b: String,
        #[serde(rename = "B")]
        bq: String,
        a: String,
        #[serde(rename = "A")]
        aq: String,
    },
    #[serde(rename = "depthUpdate")]
    Depth {
        #[serde(rename = "E")]
        e: u64,
        s: String,
        #[serde(rename = "U")]
        first: u64,
        u: u64,
        b: Vec<[String; 2]>,
        a: Vec<[String; 2]>,
    },
}

fn num(s: &str) -> f64 {
    s.parse().expect("the recording's numbers parse")
}

fn levels(v: &[[String; 2]]) -> Vec<(f64, f64)> {
    v.iter().map(|[p, q]| (num(p), num(q))).collect()
}

/// One pass of serde_json into owned structs (internally tagged enum); returns the lines.
fn serde_ws(buf: &[u8]) -> usize {
    let mut n = 0;
    for line in buf.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let env: Envelope<Payload> = serde_json::from_slice(line).expect("valid JSON");
        let owned = match env.data {
            Payload::Trade { t, s, p, q, m } => Owned::Trade {
                symbol: s,
                ts_ms: t,
                price: num(&p),
                size: num(&q),
                seller_maker: m,
            },
            Payload::BookTicker {
                t,
                s,
                u,
                b,
                bq,
                a,
                aq,
            } => Owned::Quote {
                symbol: s,
                ts_ms: t,
                update_id: u,
                bid: (num(&b), num(&bq)),
                ask: (num(&a), num(&aq)),
            },
            Payload::Depth {
                e,
                s,
                first,
                u,
                b,
                a,
            } => Owned::Depth {
                symbol: s,
                ts_ms: e,
                first,
                last: u,
                bids: levels(&b),
                asks: levels(&a),
            },
        };
        black_box(owned);
        n += 1;
    }
    n
}

/// Every field of the three payloads, optional: no tag to buffer on.
#[derive(Deserialize)]
struct Flat {
    e: String,
    #[serde(rename = "E")]
    big_e: Option<u64>,
    #[serde(rename = "T")]
    big_t: Option<u64>,
    s: String,
    p: Option<String>,
    q: Option<String>,
    m: Option<bool>,
    u: Option<u64>,
    #[serde(rename = "U")]
    big_u: Option<u64>,
    b: Option<serde_json::Value>,
    #[serde(rename = "B")]
    big_b: Option<String>,
    a: Option<serde_json::Value>,
    #[serde(rename = "A")]
    big_a: Option<String>,
}

/// A string field that must be there.
fn some(v: &Option<String>) -> f64 {
    num(v.as_deref().expect("field present"))
}

/// A depth side (`[[price, qty], ...]` as a JSON value) or a bookTicker price (a string).
fn side(v: &Option<serde_json::Value>) -> Vec<(f64, f64)> {
    match v {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .map(|l| {
                let p = l[0].as_str().expect("price string");
                let q = l[1].as_str().expect("qty string");
                (num(p), num(q))
            })
            .collect(),
        _ => panic!("depth side"),
    }
}

fn price(v: &Option<serde_json::Value>) -> f64 {
    num(v.as_ref().and_then(|v| v.as_str()).expect("price string"))
}

/// One pass of serde_json into one flat struct per line; returns the lines.
fn serde_ws_flat(buf: &[u8]) -> usize {
    let mut n = 0;
    for line in buf.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let env: Envelope<Flat> = serde_json::from_slice(line).expect("valid JSON");
        let f = env.data;
        let owned = match f.e.as_str() {
            "trade" => Owned::Trade {
                ts_ms: f.big_t.expect("T"),
                price: some(&f.p),
                size: some(&f.q),
                seller_maker: f.m.expect("m"),
                symbol: f.s,
            },
            "bookTicker" => Owned::Quote {
                ts_ms: f.big_t.expect("T"),
                update_id: f.u.expect("u"),
                bid: (price(&f.b), some(&f.big_b)),
                ask: (price(&f.a), some(&f.big_a)),
                symbol: f.s,
            },
            _ => Owned::Depth {
                ts_ms: f.big_e.expect("E"),
                first: f.big_u.expect("U"),
                last: f.u.expect("u"),
                bids: side(&f.b),
                asks: side(&f.a),
                symbol: f.s,
            },
        };
        black_box(owned);
        n += 1;
    }
    n
}

/// A row of a Binance trades dump, the csv crate's way.
#[derive(Deserialize, Debug)]
#[allow(dead_code)] // read through `black_box` only
struct TradeRow {
    id: u64,
    price: f64,
    qty: f64,
    quote_qty: f64,
    time: u64,
    #[serde(deserialize_with = "python_bool")]
    is_buyer_maker: bool,
    #[serde(deserialize_with = "python_bool")]
    is_best_match: bool,
}

/// `True`/`False` (the dumps' spelling), or `true`/`false`.
fn python_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let s: &str = Deserialize::deserialize(d)?;
    match s {
        "True" | "true" => Ok(true),
        "False" | "false" => Ok(false),
        other => Err(serde::de::Error::custom(format!("not a bool: {other}"))),
    }
}

/// One pass of csv + serde with a reused record; returns the rows.
fn serde_csv(buf: &[u8]) -> usize {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(buf);
    let mut record = csv::ByteRecord::new();
    let mut n = 0;
    while reader.read_byte_record(&mut record).expect("valid CSV") {
        let row: TradeRow = record.deserialize(None).expect("valid row");
        black_box(row);
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_impl_reads_every_message_and_row() {
        let ws = ws_recording();
        assert_eq!(zerotick_ws(&ws), WS_LINES);
        assert_eq!(serde_ws(&ws), WS_LINES);
        assert_eq!(serde_ws_flat(&ws), WS_LINES);
        let csv = trades_csv();
        assert_eq!(zerotick_csv(&csv), CSV_ROWS);
        assert_eq!(serde_csv(&csv), CSV_ROWS);
    }
}

//! Book features through the whole pipeline: a hand-made Binance websocket recording
//! (bookTicker, depthUpdate and trades of two symbols, as the documented message formats
//! give them, gzip-compressed) runs with a spec naming every book input, and the emitted
//! rows are compared with an independent recomputation from the same messages: a plain
//! `BTreeMap` book per symbol, the features from their textbook definitions, the documented
//! rules (quotes make the book of a symbol without depth; a depth message is one event).
//! The report's counts (events by kind, book symbols, crossed books, unknown-level deltas,
//! sequence gaps) are checked against the recording too.

#[path = "../../zerotick-feeds/tests/support/mod.rs"]
mod support;

use std::collections::{BTreeMap, HashMap};

use zerotick_core::rng::Rng;
use zerotick_core::{FeatureRecord, Feed, Signal, Sink};
use zerotick_feeds::FileFeed;
use zerotick_feeds::csv::CsvLayout;
use zerotick_pipeline::rows::{Emit, SpecSettings};
use zerotick_pipeline::{Hooks, PipelineConfig, run};

/// Every book input, raw (`lags` of one: the latest value), and a trade input between them.
const SPEC: &str = r#"
[row]
every = 3
[compute]
normalise = false
filter_bank = false
squash = false
projection = "none"
readout = false
[[feature]]
name = "spread"
indicator = "lags"
count = 1
input = "spread"
[[feature]]
name = "mid"
indicator = "lags"
count = 1
input = "mid"
[[feature]]
name = "micro"
indicator = "lags"
count = 1
input = "microprice"
[[feature]]
name = "imb1"
indicator = "lags"
count = 1
input = "book_imbalance"
[[feature]]
name = "imb5"
indicator = "lags"
count = 1
input = "book_imbalance"
levels = 5
[[feature]]
name = "imb10"
indicator = "lags"
count = 1
input = "book_imbalance"
levels = 10
[[feature]]
name = "px"
indicator = "lags"
count = 1
[[feature]]
name = "dbid"
indicator = "lags"
count = 1
input = "depth_bid"
bps = 2.5
[[feature]]
name = "dask"
indicator = "lags"
count = 1
input = "depth_ask"
bps = 2.5
[[feature]]
name = "ofi"
indicator = "lags"
count = 1
input = "ofi"
"#;

/// Columns of `SPEC`, in order.
const WIDTH: usize = 10;

/// One message of the recording, as the test knows it.
#[derive(Debug, Clone)]
enum Msg {
    Trade {
        sym: usize,
        ts_ms: u64,
        price: i64,
        qty: i64,
    },
    Quote {
        sym: usize,
        ts_ms: u64,
        bid: (i64, i64),
        ask: (i64, i64),
    },
    Depth {
        sym: usize,
        ts_ms: u64,
        first: u64,
        last: u64,
        bids: Vec<(i64, i64)>,
        asks: Vec<(i64, i64)>,
    },
}

const SYMBOLS: [&str; 2] = ["BTCUSDT", "ETHUSDT"];

/// Prices in cents, quantities in thousandths: written as exact decimals, read back by the
/// reference from the same decimal text (so both sides see the same `f64`).
fn px(c: i64) -> String {
    format!("{}.{:02}", c / 100, c % 100)
}
fn qty(m: i64) -> String {
    format!("{}.{:03}", m / 1000, m % 1000)
}
fn pf(c: i64) -> f64 {
    px(c).parse().unwrap()
}
fn qf(m: i64) -> f64 {
    qty(m).parse().unwrap()
}

/// The recording: BTCUSDT with quotes first, then depth (its quotes after that are shadowed),
/// a crossing message, removals of unknown levels and one sequence gap; ETHUSDT with quotes
/// only (one with an empty bid); trades of both throughout.
fn recording() -> Vec<Msg> {
    let mut rng = Rng::new(7);
    let mut out = Vec::new();
    let mut mid = [4_200_000i64, 220_000];
    let mut t = 1_700_000_000_000u64;
    let mut u = 100u64;
    let mut depth_msgs = 0;
    let mut eth_quotes = 0;
    let mut cross = 0;
    for i in 0..3000 {
        t += 1 + rng.next_u64() % 5;
        let sym = (rng.next_u64() % 2) as usize;
        mid[sym] += (rng.next_u64() % 3) as i64 - 1;
        let m = mid[sym];
        let q = |rng: &mut Rng| 1 + (rng.next_u64() % 5000) as i64;
        let kind = rng.next_u64() % 10;
        if kind < 3 {
            out.push(Msg::Trade {
                sym,
                ts_ms: t,
                price: m,
                qty: q(&mut rng),
            });
        } else if kind < 6 || sym == 1 || i < 40 {
            eth_quotes += usize::from(sym == 1);
            let empty_bid = sym == 1 && eth_quotes % 97 == 50;
            let bid_qty = if empty_bid { 0 } else { q(&mut rng) };
            out.push(Msg::Quote {
                sym,
                ts_ms: t,
                bid: (m - 1 - (rng.next_u64() % 2) as i64, bid_qty),
                ask: (m + 1 + (rng.next_u64() % 2) as i64, q(&mut rng)),
            });
        } else {
            depth_msgs += 1;
            let mut side = |sign: i64| -> Vec<(i64, i64)> {
                let n = 1 + rng.next_u64() % 12;
                (0..n)
                    .map(|_| {
                        let d = 1 + (rng.next_u64() % 40) as i64;
                        let size = if rng.next_u64().is_multiple_of(4) {
                            0
                        } else {
                            q(&mut rng)
                        };
                        (m + sign * d, size)
                    })
                    .collect()
            };
            let mut bids = side(-1);
            let asks = side(1);
            if depth_msgs == 30 {
                cross = m + 45;
                bids.push((cross, 7)); // above every ask: a crossed book
            }
            if depth_msgs == 31 {
                bids.push((cross, 0)); // and gone again
            }
            // One gap: U does not follow the previous u.
            let first = if depth_msgs == 50 { u + 5 } else { u + 1 };
            u = first + 2;
            out.push(Msg::Depth {
                sym,
                ts_ms: t,
                first,
                last: u,
                bids,
                asks,
            });
        }
    }
    out
}

/// The recording as JSON lines: combined-stream wrappers, bare payloads and receive-time
/// prefixes mixed, as recorders write them.
fn render(msgs: &[Msg]) -> String {
    let mut s = String::new();
    for (i, m) in msgs.iter().enumerate() {
        let payload = match m {
            Msg::Trade {
                sym,
                ts_ms,
                price,
                qty: q,
            } => format!(
                r#"{{"e":"trade","E":{},"s":"{}","t":{i},"p":"{}","q":"{}","T":{ts_ms},"m":{}}}"#,
                ts_ms + 1,
                SYMBOLS[*sym],
                px(*price),
                qty(*q),
                i.is_multiple_of(3)
            ),
            Msg::Quote {
                sym,
                ts_ms,
                bid,
                ask,
            } => format!(
                r#"{{"e":"bookTicker","u":{},"s":"{}","b":"{}","B":"{}","a":"{}","A":"{}","T":{ts_ms},"E":{}}}"#,
                i + 1,
                SYMBOLS[*sym],
                px(bid.0),
                qty(bid.1),
                px(ask.0),
                qty(ask.1),
                ts_ms + 1
            ),
            Msg::Depth {
                sym,
                ts_ms,
                first,
                last,
                bids,
                asks,
            } => {
                let side = |v: &[(i64, i64)]| {
                    v.iter()
                        .map(|(p, q)| format!(r#"["{}","{}"]"#, px(*p), qty(*q)))
                        .collect::<Vec<_>>()
                        .join(",")
                };
                format!(
                    r#"{{"e":"depthUpdate","E":{ts_ms},"T":{},"s":"{}","U":{first},"u":{last},"b":[{}],"a":[{}]}}"#,
                    ts_ms + 1,
                    SYMBOLS[*sym],
                    side(bids),
                    side(asks)
                )
            }
        };
        match i % 3 {
            0 => s.push_str(&format!(r#"{{"stream":"x@y","data":{payload}}}"#)),
            1 => s.push_str(&payload),
            _ => s.push_str(&format!(
                "{} {payload}",
                1_700_000_000_000_000_000u64 + i as u64
            )),
        }
        s.push('\n');
    }
    s
}

/// A best level: price, size.
type Best = (f64, f64);

/// A plain book: price bits (positive `f64`s order as their bits) to size, per side.
#[derive(Default)]
struct RefBook {
    bids: BTreeMap<u64, f64>,
    asks: BTreeMap<u64, f64>,
    depth_fed: bool,
    prev: (Option<Best>, Option<Best>),
    /// The latest value of each column (0 before any).
    cols: [f64; WIDTH],
    events: u64,
}

#[derive(Default, Debug, PartialEq)]
struct Counts {
    crossed: u64,
    locked: u64,
    unknown: u64,
    gaps: u64,
    quotes: u64,
    depth_levels: u64,
    trades: u64,
    shadowed: u64,
}

impl RefBook {
    fn best_bid(&self) -> Option<(f64, f64)> {
        self.bids
            .iter()
            .next_back()
            .map(|(k, s)| (f64::from_bits(*k), *s))
    }
    fn best_ask(&self) -> Option<(f64, f64)> {
        self.asks
            .iter()
            .next()
            .map(|(k, s)| (f64::from_bits(*k), *s))
    }
    fn bids_best_first(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.bids
            .iter()
            .rev()
            .map(|(k, s)| (f64::from_bits(*k), *s))
    }
    fn asks_best_first(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.asks.iter().map(|(k, s)| (f64::from_bits(*k), *s))
    }

    fn set(side: &mut BTreeMap<u64, f64>, price: f64, size: f64, unknown: &mut u64) {
        if size == 0.0 {
            if side.remove(&price.to_bits()).is_none() {
                *unknown += 1;
            }
        } else {
            side.insert(price.to_bits(), size);
        }
    }

    /// The end of a book event: the counts, and every book column from its definition.
    fn end_event(&mut self, c: &mut Counts) {
        let (b, a) = (self.best_bid(), self.best_ask());
        // Order-flow imbalance (Cont, Kukanov, Stoikov 2014), e_n from the previous event.
        let mut e = 0.0;
        if let (Some(b), Some(p)) = (b, self.prev.0) {
            e += if b.0 >= p.0 { b.1 } else { 0.0 } - if b.0 <= p.0 { p.1 } else { 0.0 };
        }
        if let (Some(a), Some(p)) = (a, self.prev.1) {
            e += -(if a.0 <= p.0 { a.1 } else { 0.0 }) + if a.0 >= p.0 { p.1 } else { 0.0 };
        }
        self.prev = (b, a);
        self.cols[9] = e;
        self.events += 1;
        let (Some(b), Some(a)) = (b, a) else {
            return; // one-sided: the other book columns keep their values
        };
        if b.0 > a.0 {
            c.crossed += 1;
        } else if b.0 == a.0 {
            c.locked += 1;
        }
        let mid = (b.0 + a.0) / 2.0;
        self.cols[0] = a.0 - b.0;
        self.cols[1] = mid;
        self.cols[2] = (b.0 * a.1 + a.0 * b.1) / (b.1 + a.1);
        for (col, n) in [(3, 1), (4, 5), (5, 10)] {
            let bq: f64 = self.bids_best_first().take(n).map(|l| l.1).sum();
            let aq: f64 = self.asks_best_first().take(n).map(|l| l.1).sum();
            self.cols[col] = (bq - aq) / (bq + aq);
        }
        let (lo, hi) = (mid * (1.0 - 2.5 / 10_000.0), mid * (1.0 + 2.5 / 10_000.0));
        self.cols[7] = self
            .bids
            .iter()
            .filter(|(k, _)| f64::from_bits(**k) >= lo)
            .map(|l| l.1)
            .sum();
        self.cols[8] = self
            .asks
            .iter()
            .filter(|(k, _)| f64::from_bits(**k) <= hi)
            .map(|l| l.1)
            .sum();
    }
}

type Rows = HashMap<String, Vec<(u64, Vec<f64>)>>;

/// The rows the spec should produce, recomputed from the messages; and the counts.
fn expected(msgs: &[Msg]) -> (Rows, Counts) {
    let mut books: [RefBook; 2] = Default::default();
    let mut c = Counts::default();
    let mut last_u: [Option<u64>; 2] = [None, None];
    let mut rows: Rows = HashMap::new();
    for m in msgs {
        let (sym, ts_ms) = match m {
            Msg::Trade {
                sym, ts_ms, price, ..
            } => {
                c.trades += 1;
                books[*sym].cols[6] = pf(*price);
                (*sym, *ts_ms)
            }
            Msg::Quote {
                sym,
                ts_ms,
                bid,
                ask,
            } => {
                c.quotes += 1;
                let b = &mut books[*sym];
                if b.depth_fed {
                    c.shadowed += 1;
                    continue; // a depth book: the quote changes nothing, makes no event
                }
                b.bids.clear();
                b.asks.clear();
                if bid.1 > 0 {
                    b.bids.insert(pf(bid.0).to_bits(), qf(bid.1));
                }
                if ask.1 > 0 {
                    b.asks.insert(pf(ask.0).to_bits(), qf(ask.1));
                }
                b.end_event(&mut c);
                (*sym, *ts_ms)
            }
            Msg::Depth {
                sym,
                ts_ms,
                first,
                last,
                bids,
                asks,
            } => {
                if last_u[*sym].is_some_and(|p| *first != p + 1) {
                    c.gaps += 1;
                }
                last_u[*sym] = Some(*last);
                let b = &mut books[*sym];
                if !b.depth_fed {
                    b.depth_fed = true;
                    b.bids.clear();
                    b.asks.clear();
                }
                for (p, q) in bids {
                    RefBook::set(&mut b.bids, pf(*p), qf(*q), &mut c.unknown);
                }
                for (p, q) in asks {
                    RefBook::set(&mut b.asks, pf(*p), qf(*q), &mut c.unknown);
                }
                c.depth_levels += (bids.len() + asks.len()) as u64;
                b.end_event(&mut c);
                (*sym, *ts_ms)
            }
        };
        let b = &mut books[sym];
        // Trades count as events of the symbol too (book events counted in `end_event`).
        let n = match m {
            Msg::Trade { .. } => {
                b.events += 1;
                b.events
            }
            _ => b.events,
        };
        if n % 3 == 0 {
            rows.entry(SYMBOLS[sym].to_owned())
                .or_default()
                .push((ts_ms * 1_000_000, b.cols.to_vec()));
        }
    }
    (rows, c)
}

/// Collects the feature rows a run emits.
#[derive(Default)]
struct Collect(Vec<(u64, u32, Vec<f64>)>);

impl Sink for Collect {
    fn emit(&mut self, _: &Signal) -> std::io::Result<()> {
        panic!("features only")
    }
    fn emit_row(&mut self, r: &FeatureRecord<'_>) -> std::io::Result<()> {
        self.0.push((r.ts_ns, r.symbol, r.values.to_vec()));
        Ok(())
    }
}

#[test]
fn book_features_in_emitted_rows_match_a_plain_btreemap_book() {
    let msgs = recording();
    let dir = support::dir("book-rows");
    let path = support::write(
        &dir.join("binance.jsonl.gz"),
        &support::gzip(render(&msgs).as_bytes()),
    );
    let settings = SpecSettings::parse(SPEC).unwrap();
    assert_eq!(settings.spec.width(), WIDTH);
    let mut config = PipelineConfig {
        warmup_ticks: 100,
        symbols_hint: 2,
        emit: Emit::Features,
        ..PipelineConfig::default()
    }
    .with_spec(settings);
    for workers in [0, 2] {
        config.workers = Some(workers);
        let feed = FileFeed::open(&path, CsvLayout::Auto, true).unwrap();
        let names = feed.names();
        let mut sink = Collect::default();
        let r = run(feed, &mut sink, &config, &Hooks::default()).unwrap();
        let (want, c) = expected(&msgs);
        // The counts of the report, against the recording.
        assert_eq!(r.ticks_processed, c.trades);
        assert_eq!(r.events.quotes, c.quotes);
        assert_eq!(r.events.book_deltas, c.depth_levels);
        assert_eq!(r.sequence_gaps, c.gaps);
        assert_eq!(c.gaps, 1);
        assert_eq!(r.books.symbols, 2);
        assert_eq!(r.books.crossed, c.crossed);
        assert!(c.crossed >= 1, "the recording crosses the book");
        assert_eq!(r.books.locked, c.locked);
        assert_eq!(r.books.unknown_level_deltas, c.unknown);
        assert!(c.unknown > 10, "removals of levels the book never had");
        assert_eq!(r.books.quotes_on_depth_books, c.shadowed);
        assert!(c.shadowed > 100);
        // The rows, per symbol in order.
        let mut now = Vec::new();
        names.refresh(&mut now);
        let mut got: Rows = HashMap::new();
        for (ts, s, v) in sink.0 {
            got.entry(now[s as usize].to_string())
                .or_default()
                .push((ts, v));
        }
        let mut total = 0;
        for name in SYMBOLS {
            let (g, w) = (&got[name], &want[name]);
            assert_eq!(g.len(), w.len(), "{name}: rows");
            for (k, ((gt, gv), (wt, wv))) in g.iter().zip(w).enumerate() {
                assert_eq!(gt, wt, "{name} row {k}: time");
                for (col, (a, b)) in gv.iter().zip(wv).enumerate() {
                    // Sums over levels may add in another order: 1e-12 relative.
                    let tol = 1e-12 * b.abs().max(1.0);
                    assert!(
                        (a - b).abs() <= tol,
                        "{name} row {k} col {col}: pipeline {a}, reference {b}"
                    );
                }
            }
            total += g.len();
        }
        assert!(total > 800, "{total} rows");
        assert_eq!(r.vectors, total as u64);
    }
}

/// A book rebuilt from deltas equals the snapshot that follows it, through the feed and the
/// pipeline's book stage: a Tardis `incremental_book_L2` file (a snapshot, deltas, then a
/// snapshot of the book the deltas describe) read event by event, grouped into book events
/// by `Boundaries` as the feed thread groups them.
#[test]
fn a_book_rebuilt_from_deltas_equals_the_snapshot_that_follows() {
    use zerotick_core::{BookSide, FeedEvent, Level};
    use zerotick_feeds::TardisFeed;
    use zerotick_pipeline::books::{BookStage, Boundaries};

    let mut rng = Rng::new(11);
    let mut text =
        String::from("exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n");
    let mut row = |ts: u64, snap: bool, side: &str, price: i64, size: i64| {
        text.push_str(&format!(
            "binance,BTCUSDT,{ts},{},{snap},{side},{},{}\n",
            ts + 7,
            px(price),
            qty(size)
        ));
    };
    // The book the test keeps: price in cents -> size in thousandths, per side.
    let mut book: [BTreeMap<i64, i64>; 2] = Default::default();
    for k in 1..=20 {
        row(1_000, true, "bid", 10_000 - k, k * 10);
        row(1_000, true, "ask", 10_000 + k, k * 10);
        book[0].insert(10_000 - k, k * 10);
        book[1].insert(10_000 + k, k * 10);
    }
    for m in 0..400u64 {
        // A message of 1-6 levels at one timestamp.
        for _ in 0..1 + rng.next_u64() % 6 {
            let s = (rng.next_u64() % 2) as usize;
            let d = 1 + (rng.next_u64() % 30) as i64;
            let price = if s == 0 { 10_000 - d } else { 10_000 + d };
            let size = if rng.next_u64().is_multiple_of(3) {
                if !book[s].contains_key(&price) {
                    continue; // only removals of levels the book holds: none unknown
                }
                0
            } else {
                1 + (rng.next_u64() % 900) as i64
            };
            row(2_000 + m, false, ["bid", "ask"][s], price, size);
            if size == 0 {
                book[s].remove(&price);
            } else {
                book[s].insert(price, size);
            }
        }
    }
    for (s, side) in ["bid", "ask"].iter().enumerate() {
        for (&p, &q) in &book[s] {
            row(9_000, true, side, p, q);
        }
    }

    let mut feed = TardisFeed::new(text.as_bytes(), true).unwrap();
    let mut bounds = Boundaries::default();
    let mut stage = BookStage::new(100, 4);
    let levels =
        |stage: &BookStage, side| -> Vec<Level> { stage.book(0).unwrap().levels(side).collect() };
    let mut before_last_snapshot = None;
    let mut events = 0;
    loop {
        let e = feed.next_event().unwrap();
        let (level, snapshot, clear_side) = match e {
            FeedEvent::BookDelta(d) => (d, false, false),
            FeedEvent::SnapshotLevel(s) => (s.level, true, s.clear_side),
            FeedEvent::End => break,
            other => panic!("{other:?}"),
        };
        if !bounds.continues(&e) {
            events += usize::from(stage.end_event().is_some());
            if snapshot && level.ts_ns == 9_000_000 && before_last_snapshot.is_none() {
                before_last_snapshot =
                    Some((levels(&stage, BookSide::Bid), levels(&stage, BookSide::Ask)));
            }
        }
        assert!(stage.level(0, level.side, level.price, level.size, snapshot, clear_side));
    }
    stage.end_event();
    let (bids, asks) = before_last_snapshot.expect("the last snapshot came");
    assert_eq!(bids, levels(&stage, BookSide::Bid), "bids");
    assert_eq!(asks, levels(&stage, BookSide::Ask), "asks");
    let want: Vec<Level> = book[0]
        .iter()
        .rev()
        .map(|(&p, &q)| Level {
            price: pf(p),
            size: qf(q),
        })
        .collect();
    assert_eq!(bids, want, "and both are the book the test kept");
    // One event per message: the first snapshot, 400 messages (a message whose levels were
    // all skipped has no row), the last snapshot.
    assert!((300..=401).contains(&events), "{events}");
    let r = stage.report();
    assert_eq!((r.unknown_level_deltas, r.crossed, r.locked), (0, 0, 0));
}

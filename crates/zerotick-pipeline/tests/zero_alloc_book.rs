//! A websocket-JSON feed with order books allocates nothing after warm-up: a gzip-compressed
//! Binance recording (trades, bookTickers, depth updates of four symbols; books at a depth
//! of 32, so full sides drop levels) through the whole pipeline, with the built-in row and
//! with a spec reading every book input, inline and with compute workers. A counting global
//! allocator watches every pipeline thread, the feed's included.

#[path = "../../zerotick-feeds/tests/support/mod.rs"]
mod support;

use std::fmt::Write as _;

use zerotick_core::rng::Rng;
use zerotick_feeds::FileFeed;
use zerotick_feeds::csv::CsvLayout;
use zerotick_mem::counting::{thread_total, watch_this_thread};
use zerotick_pipeline::rows::{Emit, SpecSettings};
use zerotick_pipeline::{Hooks, PipelineConfig, run};

mod fold;
use fold::Fold;

#[global_allocator]
static GLOBAL: zerotick_mem::counting::CountingAlloc = zerotick_mem::counting::CountingAlloc;

const SPEC: &str = r#"
[row]
every = 8
[compute]
filter_bank = false
projection = "fixed"
[[feature]]
name = "spread"
indicator = "ema"
period = 4
input = "spread"
[[feature]]
name = "micro"
indicator = "lags"
count = 4
input = "microprice"
[[feature]]
name = "imb10"
indicator = "mean"
window = "50ms"
capacity = 256
input = "book_imbalance"
levels = 10
[[feature]]
name = "depth"
indicator = "sma"
window = 16
input = "depth_bid"
bps = 10
[[feature]]
name = "ask_depth"
indicator = "lags"
count = 1
input = "depth_ask"
bps = 10
[[feature]]
name = "ofi"
indicator = "std"
window = 32
input = "ofi"
[[feature]]
name = "rv"
indicator = "realized_vol"
window = 32
input = "mid"
[[feature]]
name = "vwap"
indicator = "vwap"
window = 64
"#;

/// `lines` messages of four symbols: 30% trades, 30% bookTickers, 40% depth updates.
fn recording(lines: usize) -> String {
    let mut rng = Rng::new(3);
    let mut s = String::with_capacity(lines * 200);
    let mut mid = [4_200_000i64, 220_000, 15_000, 6_000];
    let mut u = [1u64; 4];
    let mut t = 1_700_000_000_000u64;
    let px = |c: i64| format!("{}.{:02}", c / 100, c % 100);
    for i in 0..lines {
        t += rng.next_u64() % 3;
        let k = (rng.next_u64() % 4) as usize;
        mid[k] += (rng.next_u64() % 5) as i64 - 2;
        let m = mid[k];
        let q = |rng: &mut Rng| format!("{:.3}", 0.001 + rng.next_f64() * 3.0);
        let sym = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"][k];
        match rng.next_u64() % 10 {
            0..=2 => {
                let _ = writeln!(
                    s,
                    r#"{{"stream":"{sym}@trade","data":{{"e":"trade","E":{t},"s":"{sym}","t":{i},"p":"{}","q":"{}","T":{t},"m":{}}}}}"#,
                    px(m),
                    q(&mut rng),
                    i.is_multiple_of(2)
                );
            }
            3..=5 => {
                let _ = writeln!(
                    s,
                    r#"{} {{"u":{i},"s":"{sym}","b":"{}","B":"{}","a":"{}","A":"{}"}}"#,
                    t * 1_000_000,
                    px(m - 1),
                    q(&mut rng),
                    px(m + 1),
                    q(&mut rng)
                );
            }
            _ => {
                let mut side = |sign: i64| {
                    (0..1 + rng.next_u64() % 8)
                        .map(|_| {
                            let p = px(m + sign * (1 + (rng.next_u64() % 60) as i64));
                            let size = if rng.next_u64().is_multiple_of(3) {
                                "0".to_owned()
                            } else {
                                q(&mut rng)
                            };
                            format!(r#"["{p}","{size}"]"#)
                        })
                        .collect::<Vec<_>>()
                        .join(",")
                };
                let (b, a) = (side(-1), side(1));
                let _ = writeln!(
                    s,
                    r#"{{"e":"depthUpdate","E":{t},"s":"{sym}","U":{},"u":{},"b":[{b}],"a":[{a}]}}"#,
                    u[k],
                    u[k] + 1
                );
                u[k] += 2;
            }
        }
    }
    s
}

/// One test in this binary, so no other test's allocations land in the window.
#[test]
fn a_websocket_json_feed_with_books_allocates_nothing_in_steady_state() {
    let dir = support::dir("zero-alloc-book");
    let path = support::write(
        &dir.join("book.jsonl.gz"),
        &support::gzip(recording(160_000).as_bytes()),
    );
    let hooks = Hooks {
        allocations: Some(thread_total),
        thread_start: Some(watch_this_thread),
        ..Hooks::default()
    };
    let base = PipelineConfig {
        warmup_ticks: 40_000,
        symbols_hint: 4,
        book_depth: 32,
        ..PipelineConfig::default()
    };
    let spec = SpecSettings::parse(SPEC).unwrap();
    for (name, emit, with_spec) in [
        ("built-in row", Emit::Signals, false),
        ("book spec, signals", Emit::Signals, true),
        ("book spec, both", Emit::Both, true),
    ] {
        for workers in [0, 2] {
            let mut config = base.clone();
            config.emit = emit;
            config.workers = Some(workers);
            config.compute.pca_every = 2048;
            config.compute.pca_publish_delay_rows = 512;
            if with_spec {
                config = config.with_spec(spec.clone());
            } else {
                config.features.row_every = 4;
            }
            let feed = FileFeed::open(&path, CsvLayout::Auto, true).unwrap();
            let mut sink = Fold::default();
            let r = run(feed, &mut sink, &config, &hooks).unwrap();
            let what = format!("{name}, workers {workers}: {r:?}");
            assert_eq!(r.books.symbols, 4, "{what}");
            assert!(r.books.dropped > 0, "full sides drop levels: {what}");
            assert!(r.events.book_deltas > 100_000, "{what}");
            assert!(r.vectors > 8_000, "{what}");
            assert_eq!(sink.1, r.vectors, "{what}");
            assert_eq!(r.steady_state_allocations, Some(0), "{what}");
            assert_eq!(r.feed_allocations, Some(0), "{what}");
        }
    }
}

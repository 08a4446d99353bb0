//! Spec-driven runs allocate nothing after warm-up either: three specs (event and time
//! cadence; trade, rolling-window, bar and lag indicators; every compute-step combination
//! the specs allow), emitting signals, features and both, inline and with compute workers.

use zerotick_feeds::{SyntheticConfig, SyntheticFeed};
use zerotick_mem::counting::{thread_total, watch_this_thread};
use zerotick_pipeline::rows::{Emit, SpecSettings};
use zerotick_pipeline::{Hooks, PipelineConfig, run};

mod fold;
use fold::Fold;

#[global_allocator]
static GLOBAL: zerotick_mem::counting::CountingAlloc = zerotick_mem::counting::CountingAlloc;

/// Every indicator kind, all compute steps, PCA refreshes.
const FULL: &str = r#"
[row]
every = 16
[[feature]]
name = "ret"
indicator = "lags"
input = "returns"
count = 512
[[feature]]
name = "ema"
indicator = "ema"
period = 20
[[feature]]
name = "sma"
indicator = "sma"
window = 50
[[feature]]
name = "vol"
indicator = "std"
input = "returns"
window = "50ms"
capacity = 1024
[[feature]]
name = "rsi"
indicator = "rsi"
[[feature]]
name = "macd"
indicator = "macd"
[[feature]]
name = "bb"
indicator = "bollinger"
window = 20
[[feature]]
name = "vwap"
indicator = "vwap"
window = "100ms"
[[feature]]
name = "rv"
indicator = "realized_vol"
window = "100ms"
annualise = true
[[feature]]
name = "flow"
indicator = "flow_imbalance"
window = 64
[[feature]]
name = "atr"
indicator = "atr"
period = 14
bar = { ticks = 20 }
[[feature]]
name = "tr"
indicator = "true_range"
bar = { time = "10ms" }
"#;

/// Time cadence, a fixed projection, no filter bank.
const TIME: &str = r#"
[row]
every = "2ms"
[compute]
filter_bank = false
projection = "fixed"
[[feature]]
name = "mean"
indicator = "mean"
input = "size"
window = "20ms"
[[feature]]
name = "var"
indicator = "variance"
input = "signed_volume"
window = 100
ddof = 1
[[feature]]
name = "atr"
indicator = "atr"
bar = { volume = 50.0 }
"#;

/// Features only: no read-out, no normalisation, no squash.
const RAW: &str = r#"
[row]
every = 8
[compute]
normalise = false
squash = false
projection = "none"
readout = false
[[feature]]
name = "p"
indicator = "lags"
count = 64
[[feature]]
name = "ema"
indicator = "ema"
input = "returns"
period = 5
"#;

/// One test in this binary, so no other test's allocations land in the window.
#[test]
fn spec_runs_allocate_nothing_in_steady_state() {
    let hooks = Hooks {
        allocations: Some(thread_total),
        thread_start: Some(watch_this_thread),
        ..Hooks::default()
    };
    let cases = [
        (FULL, Emit::Both),
        (FULL, Emit::Signals),
        (TIME, Emit::Features),
        (TIME, Emit::Signals),
        (RAW, Emit::Features),
    ];
    for (spec, emit) in cases {
        for workers in [0, 2] {
            let mut config = PipelineConfig {
                warmup_ticks: 60_000,
                emit,
                ..PipelineConfig::default()
            };
            config.compute.pca_every = 2048;
            config.compute.pca_publish_delay_rows = 512;
            config.workers = Some(workers);
            let config = config.with_spec(SpecSettings::parse(spec).unwrap());
            let feed = SyntheticFeed::new(SyntheticConfig {
                ticks: Some(300_000),
                ..SyntheticConfig::default()
            });
            let mut sink = Fold::default();
            let r = run(feed, &mut sink, &config, &hooks).unwrap();
            let what = format!("{emit:?} workers {workers} spec {}", &spec[..30]);
            assert!(r.vectors > 1000 && sink.1 == r.vectors, "{what}: {r:?}");
            assert_eq!(r.steady_state_allocations, Some(0), "{what}: {r:?}");
            if spec == FULL {
                assert!(r.compute.pca_refreshes > 0, "{what}: {r:?}");
            }
        }
    }
}

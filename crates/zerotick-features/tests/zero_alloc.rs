//! Every indicator's steady-state update allocates nothing: a counting global allocator
//! watches this thread while warm indicators (event and time windows, windows that flip and
//! overflow, bars of every kind) take 200,000 updates.

use zerotick_features::{
    Atr, BarBuilder, BarKind, Bollinger, Ema, FeatureRow, FeatureSpec, FlowImbalance, Indicator,
    Lags, Macd, RealizedVol, RollingStats, Rsi, Sample, Side, Sma, Tick, TrueRange, Vwap, Window,
};
use zerotick_mem::counting::counting;

#[global_allocator]
static GLOBAL: zerotick_mem::counting::CountingAlloc = zerotick_mem::counting::CountingAlloc;

struct All {
    ema: Ema,
    sma: Sma,
    sma_t: Sma,
    stats: RollingStats,
    stats_t: RollingStats,
    bb: Bollinger,
    macd: Macd,
    rsi: Rsi,
    vwap: Vwap,
    flow: FlowImbalance,
    rv: RealizedVol,
    rv_t: RealizedVol,
    bars: [BarBuilder; 3],
    tr: TrueRange,
    atr: Atr,
    lags: Lags,
    row: [f64; 64],
}

impl All {
    fn new() -> All {
        let ev = Window::Events(64);
        let t = Window::parse("1s").unwrap();
        All {
            ema: Ema::new(32),
            sma: Sma::new(ev, 0),
            sma_t: Sma::new(t, 4096),
            stats: RollingStats::new(ev, 0),
            // Too small for 1 s of ticks every 100 us: overflows on every update.
            stats_t: RollingStats::new(t, 256),
            bb: Bollinger::new(ev, 0, 2.0),
            macd: Macd::new(12, 26, 9),
            rsi: Rsi::new(14),
            vwap: Vwap::new(t, 16_384),
            flow: FlowImbalance::new(ev, 0),
            rv: RealizedVol::new(ev, 0),
            rv_t: RealizedVol::new(t, 16_384).annualised().unwrap(),
            bars: [
                BarBuilder::new(BarKind::Time {
                    period_ns: 10_000_000,
                }),
                BarBuilder::new(BarKind::Ticks(50)),
                BarBuilder::new(BarKind::Volume(100.0)),
            ],
            tr: TrueRange::new(),
            atr: Atr::new(14),
            lags: Lags::new(64),
            row: [0.0; 64],
        }
    }

    /// One event through every indicator; returns a checksum so nothing is optimised out.
    fn step(&mut self, i: u64) -> f64 {
        let price = 100.0 + ((i % 1000) as f64 * 0.01).sin();
        let tick = Tick {
            ts_ns: i * 100_000,
            symbol: 0,
            price,
            size: 1.0 + (i % 7) as f64,
            side: if i.is_multiple_of(3) {
                Side::Sell
            } else {
                Side::Buy
            },
        };
        let s = Sample::at(tick.ts_ns, price);
        let mut sum = 0.0;
        sum += self.ema.update(s).unwrap_or(0.0);
        sum += self.sma.update(s).unwrap_or(0.0);
        sum += self.sma_t.update(s).unwrap_or(0.0);
        sum += self.stats.update(s).map_or(0.0, |o| o.std());
        sum += self.stats_t.update(s).map_or(0.0, |o| o.mean);
        sum += self.bb.update(s).map_or(0.0, |b| b.upper);
        sum += self.macd.update(s).map_or(0.0, |m| m.histogram);
        sum += self.rsi.update(s).unwrap_or(0.0);
        sum += self.vwap.update(tick).unwrap_or(0.0);
        sum += self.flow.update(tick).unwrap_or(0.0);
        sum += self.rv.update(s).unwrap_or(0.0);
        sum += self.rv_t.update(s).unwrap_or(0.0);
        for b in &mut self.bars {
            if let Some(bar) = b.update(tick) {
                sum += self.tr.update(bar).unwrap_or(0.0);
                sum += self.atr.update(bar).unwrap_or(0.0);
            }
        }
        self.lags.push(price);
        self.lags.write_into(&mut self.row);
        sum + self.row[63]
    }
}

/// One test in this binary, so no other test's allocations land in the window.
#[test]
fn steady_state_updates_allocate_nothing() {
    let mut all = All::new();
    let mut sum = 0.0;
    // Warm up: every window full, every time window past its span.
    for i in 0..20_000 {
        sum += all.step(i);
    }
    let allocations = counting(|| {
        for i in 20_000..220_000 {
            sum += all.step(i);
        }
    });
    assert!(sum.is_finite());
    assert_eq!(allocations, 0);
    assert!(
        all.stats_t.window().overflows() > 100_000,
        "the overflow path was exercised"
    );
    // Reset and warm again: still no allocation.
    let allocations = counting(|| {
        all.ema.reset();
        all.stats.reset();
        all.vwap.reset();
        all.atr.reset();
        for i in 220_000..240_000 {
            sum += all.step(i);
        }
    });
    assert_eq!(allocations, 0, "after reset");
    // The instrument works: building the indicators allocates (their rings).
    assert!(counting(|| drop(All::new())) > 0);

    // Whole rows, for several specs: the README's (every indicator), a wide one (1,000 lags
    // of returns and long windows) and one of small time windows that overflow.
    let specs = [
        include_str!("fixtures/full.toml").to_owned(),
        "[[feature]]\nname = \"r\"\nindicator = \"lags\"\ninput = \"returns\"\ncount = 1000\n\
         [[feature]]\nname = \"s\"\nindicator = \"std\"\nwindow = 4096\ninput = \"size\"\n\
         [[feature]]\nname = \"m\"\nindicator = \"macd\"\ninput = \"signed_volume\"\n"
            .to_owned(),
        "[row]\nevery = \"250ms\"\n[[feature]]\nname = \"v\"\nindicator = \"vwap\"\nwindow = \"1s\"\ncapacity = 8\n\
         [[feature]]\nname = \"b\"\nindicator = \"bollinger\"\nwindow = \"100ms\"\ncapacity = 4\n\
         [[feature]]\nname = \"t\"\nindicator = \"true_range\"\nbar = { volume = 20.0 }\n"
            .to_owned(),
    ];
    for text in &specs {
        let spec = FeatureSpec::parse(text).unwrap();
        let mut row = FeatureRow::new(&spec);
        let mut out = vec![0.0; row.width()];
        let tick = |i: u64| Tick {
            ts_ns: i * 100_000,
            symbol: 0,
            price: 100.0 + ((i % 1000) as f64 * 0.01).sin(),
            size: 1.0 + (i % 7) as f64,
            side: if i.is_multiple_of(3) {
                Side::Sell
            } else {
                Side::Buy
            },
        };
        for i in 0..20_000 {
            row.update(&tick(i));
        }
        let allocations = counting(|| {
            for i in 20_000..60_000 {
                row.update(&tick(i));
                if i.is_multiple_of(64) {
                    row.write_into(&mut out);
                }
            }
        });
        assert_eq!(allocations, 0, "spec:\n{text}");
        assert!(out.iter().all(|v| v.is_finite()));
    }
}

//! Adversarial input: constant prices, values far from each other in magnitude, huge and tiny
//! magnitudes, offsets, windows of one, gaps in time, time going backwards, full time windows,
//! and values the indicators must refuse (NaN, infinities, non-positive prices).

mod support;

use support::{close, mean_var, tick};
use zerotick_features::{
    Atr, Bar, BarBuilder, BarKind, Bollinger, Ema, FlowImbalance, Indicator, Macd, RealizedVol,
    RollingStats, Rsi, Sample, Side, Sma, TrueRange, Vwap, Window,
};

fn ev(n: usize) -> Window {
    Window::Events(n)
}

#[test]
fn constant_prices_are_exact() {
    for level in [1e-300, 1e-9, 1.0, 100.0, 1e9, 1e150, 1e300] {
        let mut stats = RollingStats::new(ev(16), 0);
        let mut bb = Bollinger::new(ev(16), 0, 2.0);
        let mut rsi = Rsi::new(14);
        let mut rv = RealizedVol::new(ev(16), 0);
        let mut macd = Macd::new(12, 26, 9);
        for _ in 0..100 {
            let s = Sample::from(level);
            if let Some(o) = stats.update(s) {
                assert_eq!(
                    (o.mean, o.variance, o.sample_variance),
                    (level, 0.0, 0.0),
                    "{level}"
                );
            }
            if let Some(b) = bb.update(s) {
                assert_eq!((b.lower, b.middle, b.upper), (level, level, level));
            }
            if let Some(r) = rsi.update(s) {
                assert_eq!(r, 50.0, "no movement is neutral");
            }
            if let Some(v) = rv.update(s) {
                assert_eq!(v, 0.0);
            }
            if let Some(m) = macd.update(s) {
                assert_eq!((m.line, m.signal, m.histogram), (0.0, 0.0, 0.0));
            }
        }
        let bar = Bar {
            high: level,
            low: level,
            close: level,
            ..Bar::default()
        };
        let mut atr = Atr::new(3);
        let last = (0..10).filter_map(|_| atr.update(bar)).last();
        assert_eq!(last, Some(0.0));
    }
}

/// A huge value that left the window leaves no error behind (the two-stack window never
/// subtracts): the result is exactly that of the remaining values.
#[test]
fn huge_value_leaves_no_residue() {
    for huge in [1e300, -1e300, 1e150, 1e20] {
        for n in [1, 2, 3, 16, 64] {
            let (mut sma, mut stats) = (Sma::new(ev(n), 0), RollingStats::new(ev(n), 0));
            sma.update(huge.into());
            stats.update(huge.into());
            let (mut a, mut b) = (None, None);
            for _ in 0..n {
                a = sma.update(1.0.into());
                b = stats.update(1.0.into());
            }
            assert_eq!(a, Some(1.0), "sma after {huge:e}, window {n}");
            let b = b.unwrap();
            assert_eq!(
                (b.mean, b.variance),
                (1.0, 0.0),
                "stats after {huge:e}, window {n}"
            );
        }
    }
    // The same through a time window.
    let mut stats = RollingStats::new(Window::parse("10ns").unwrap(), 64);
    stats.update(Sample::at(0, 1e300));
    let mut last = None;
    for t in 1..=30 {
        last = stats.update(Sample::at(t, 2.0));
    }
    let o = last.unwrap();
    assert_eq!((o.count, o.mean, o.variance), (10, 2.0, 0.0));
}

#[test]
fn extreme_magnitudes_stay_finite_and_accurate() {
    // Spread around a scale, and an offset far above the spread (1e9 + small spread).
    for (offset, spread) in [
        (0.0, 1e-300),
        (0.0, 1e-150),
        (0.0, 1e150),
        (1e9, 1e-3),
        (1e12, 1.0),
        (0.0, 1e300),
    ] {
        let n = 32;
        let mut stats = RollingStats::new(ev(n), 0);
        let mut sma = Sma::new(ev(n), 0);
        let mut ema = Ema::new(n);
        let mut xs = Vec::new();
        for i in 0..200u64 {
            let x = offset + spread * ((i * 7919 % 101) as f64 / 50.0 - 1.0);
            xs.push(x);
            let o = stats.update(x.into());
            let m = sma.update(x.into());
            let e = ema.update(x.into());
            for v in [m, e, o.map(|o| o.mean), o.map(|o| o.std())]
                .into_iter()
                .flatten()
            {
                assert!(!v.is_nan(), "NaN from finite input at {offset}+{spread:e}");
            }
            let Some(o) = o else { continue };
            let (mean, var) = mean_var(&xs[xs.len() - n..]);
            let m_abs = offset.abs() + spread;
            close(o.mean, mean, 64.0 * n as f64 * f64::EPSILON * m_abs, "mean");
            if spread < 1e150 {
                // Population variance: error ~ n eps * |x| * spread (see tests/reference.rs).
                let tol = 64.0 * n as f64 * f64::EPSILON * m_abs * spread;
                close(
                    o.variance,
                    var,
                    tol,
                    &format!("variance at {offset}+{spread:e}"),
                );
                assert!(o.variance.is_finite());
            } else {
                // Squared deviations beyond f64: the variance saturates, never NaN.
                assert!(o.std() > 0.0);
            }
        }
    }
}

#[test]
fn window_of_one() {
    let (mut sma, mut stats, mut bb) = (
        Sma::new(ev(1), 0),
        RollingStats::new(ev(1), 0),
        Bollinger::new(ev(1), 0, 3.0),
    );
    let (mut ema, mut rsi, mut rv) = (Ema::new(1), Rsi::new(1), RealizedVol::new(ev(1), 0));
    let mut prev = None;
    for i in 0..50 {
        let x = 10.0 + (i as f64).sin();
        assert_eq!(sma.update(x.into()), Some(x));
        let o = stats.update(x.into()).unwrap();
        assert_eq!(
            (o.count, o.mean, o.variance, o.sample_variance),
            (1, x, 0.0, 0.0)
        );
        let b = bb.update(x.into()).unwrap();
        assert_eq!((b.lower, b.upper), (x, x));
        assert_eq!(ema.update(x.into()), Some(x), "span 1 tracks the input");
        let r = rsi.update(x.into());
        let v = rv.update(x.into());
        if let Some(p) = prev {
            let want = if x > p {
                100.0
            } else if x < p {
                0.0
            } else {
                50.0
            };
            assert_eq!(r, Some(want));
            close(
                v.unwrap(),
                (x / p).ln().abs(),
                1e-15,
                "realized vol, one return",
            );
        } else {
            assert_eq!((r, v), (None, None));
        }
        prev = Some(x);
    }
    let mut atr = Atr::new(1);
    let bar = |h: f64, l: f64, c: f64| Bar {
        high: h,
        low: l,
        close: c,
        ..Bar::default()
    };
    assert_eq!(atr.update(bar(2.0, 1.0, 1.5)), None);
    assert_eq!(atr.update(bar(5.0, 4.0, 4.5)), Some(3.5));
}

#[test]
fn gaps_and_time_going_backwards() {
    let span = 1_000_000_000;
    let mut stats = RollingStats::new(Window::Time { span_ns: span }, 1024);
    let mut vwap = Vwap::new(Window::Time { span_ns: span }, 1024);
    for i in 0..20u64 {
        stats.update(Sample::at(i * 100_000_000, i as f64));
        vwap.update(tick(i * 100_000_000, 1.0 + i as f64, 1.0, Side::Buy));
    }
    // An hour of silence: the window holds only the new value, and stays warm.
    let o = stats.update(Sample::at(3_600_000_000_000, 7.0)).unwrap();
    assert_eq!((o.count, o.mean, o.variance), (1, 7.0, 0.0));
    assert_eq!(
        vwap.update(tick(3_600_000_000_000, 9.0, 2.0, Side::Sell)),
        Some(9.0)
    );
    // A timestamp in the past is stored at the latest time and counted.
    let o = stats.update(Sample::at(5, 9.0)).unwrap();
    assert_eq!((o.count, o.mean), (2, 8.0));
    assert_eq!(stats.window().backwards(), 1);
    // Equal timestamps all stay in the window.
    let mut sma = Sma::new(Window::Time { span_ns: 10 }, 16);
    sma.update(Sample::at(0, 0.0));
    for _ in 0..5 {
        sma.update(Sample::at(10, 2.0));
    }
    assert_eq!(sma.update(Sample::at(10, 2.0)), Some(2.0));
    assert_eq!(sma.window().len(), 6);
}

#[test]
fn full_time_window_overflows_and_counts() {
    let mut stats = RollingStats::new(Window::Time { span_ns: 1_000 }, 4);
    let mut last = None;
    for t in 0..=1_000u64 {
        last = stats.update(Sample::at(t, t as f64));
    }
    let o = last.unwrap();
    // Storage for 4: the 4 newest values, the rest evicted early and counted.
    assert_eq!((o.count, o.mean), (4, 998.5));
    assert_eq!(stats.window().overflows(), 1_001 - 4);
}

#[test]
fn unusable_inputs_are_counted_and_ignored() {
    let bad = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY];
    let mut stats = RollingStats::new(ev(3), 0);
    let mut ema = Ema::new(2);
    let mut rsi = Rsi::new(2);
    let mut macd = Macd::new(2, 3, 2);
    let mut rv = RealizedVol::new(ev(2), 0);
    for x in [1.0, 2.0, 4.0] {
        stats.update(x.into());
        ema.update(x.into());
        rsi.update(x.into());
        macd.update(x.into());
        rv.update(x.into());
    }
    let before = (
        stats.update(8.0.into()),
        ema.value(),
        rsi.clone().update(8.0.into()),
    );
    let mut stats2 = RollingStats::new(ev(3), 0);
    for x in [1.0, 2.0, 4.0] {
        stats2.update(x.into());
    }
    for x in bad {
        assert_eq!(stats2.update(x.into()), None);
        assert_eq!(ema.update(x.into()), None);
        assert_eq!(rsi.update(x.into()), None);
        assert_eq!(macd.update(x.into()), None);
        assert_eq!(rv.update(x.into()), None);
    }
    for x in [0.0, -1.0] {
        assert_eq!(
            rv.update(x.into()),
            None,
            "log returns need positive prices"
        );
    }
    assert_eq!(stats2.update(8.0.into()), before.0, "NaN left no trace");
    assert_eq!(rsi.update(8.0.into()), before.2);
    assert_eq!(
        (
            stats2.rejected(),
            ema.rejected(),
            rsi.rejected(),
            macd.rejected(),
            rv.rejected()
        ),
        (3, 3, 3, 3, 5)
    );
    assert!(ema.value().unwrap().is_finite() && ema.value() == before.1);

    let mut vwap = Vwap::new(ev(2), 0);
    let mut flow = FlowImbalance::new(ev(2), 0);
    let mut bars = BarBuilder::new(BarKind::Ticks(2));
    for t in [
        tick(0, f64::NAN, 1.0, Side::Buy),
        tick(0, 1.0, -1.0, Side::Buy),
        tick(0, 0.0, 1.0, Side::Buy),
        tick(0, 1.0, f64::INFINITY, Side::Sell),
    ] {
        assert_eq!(vwap.update(t), None);
        assert_eq!(bars.update(t), None);
    }
    assert_eq!((vwap.rejected(), bars.rejected()), (4, 4));
    assert_eq!(flow.update(tick(0, 1.0, -1.0, Side::Buy)), None);
    assert_eq!(flow.rejected(), 1);
    // Zero volume: VWAP undefined (None), imbalance 0.
    assert_eq!(vwap.update(tick(0, 5.0, 0.0, Side::Buy)), None);
    assert_eq!(vwap.update(tick(0, 5.0, 0.0, Side::Buy)), None);
    flow.update(tick(0, 5.0, 0.0, Side::Buy));
    assert_eq!(flow.update(tick(0, 5.0, 0.0, Side::Sell)), Some(0.0));

    let mut tr = TrueRange::new();
    let inverted = Bar {
        high: 1.0,
        low: 2.0,
        close: 1.5,
        ..Bar::default()
    };
    assert_eq!(tr.update(inverted), None);
    assert_eq!(tr.rejected(), 1);
}

#[test]
fn time_bars_skip_empty_periods_and_count_backwards() {
    let mut bars = BarBuilder::new(BarKind::Time { period_ns: 1_000 });
    assert_eq!(bars.update(tick(1_500, 10.0, 1.0, Side::Buy)), None);
    assert_eq!(bars.update(tick(1_900, 12.0, 1.0, Side::Buy)), None);
    // Back in time, into an earlier period: joins the open bar, counted.
    assert_eq!(bars.update(tick(900, 8.0, 1.0, Side::Sell)), None);
    assert_eq!(bars.backwards(), 1);
    // A gap of many periods: one completed bar, no empty bars.
    let bar = bars.update(tick(9_100, 11.0, 2.0, Side::Buy)).unwrap();
    assert_eq!(
        (bar.start_ts_ns, bar.end_ts_ns, bar.ticks),
        (1_000, 1_900, 3)
    );
    assert_eq!(
        (bar.open, bar.high, bar.low, bar.close, bar.volume),
        (10.0, 12.0, 8.0, 8.0, 3.0)
    );
    assert_eq!(bars.partial().map(|b| b.start_ts_ns), Some(9_000));
    let last = bars.flush().unwrap();
    assert_eq!((last.open, last.ticks), (11.0, 1));
    assert_eq!(bars.flush(), None);

    // Volume bars: the crossing trade belongs to the bar whole.
    let mut vb = BarBuilder::new(BarKind::Volume(5.0));
    assert_eq!(vb.update(tick(0, 1.0, 3.0, Side::Buy)), None);
    let b = vb.update(tick(1, 2.0, 4.0, Side::Buy)).unwrap();
    assert_eq!((b.volume, b.ticks), (7.0, 2));
    assert!(vb.partial().is_none());
    // Degenerate settings: every trade a bar; a window of 0 events holds 1.
    for kind in [
        BarKind::Volume(f64::NAN),
        BarKind::Volume(-1.0),
        BarKind::Ticks(0),
        BarKind::Volume(0.0),
    ] {
        let mut b = BarBuilder::new(kind);
        assert!(b.update(tick(0, 1.0, 0.0, Side::Buy)).is_some(), "{kind:?}");
    }
    let mut sma = Sma::new(Window::Events(0), 0);
    assert_eq!(sma.update(1.0.into()), Some(1.0));
    assert_eq!(sma.update(3.0.into()), Some(3.0));
    let mut sma = Sma::new(Window::Time { span_ns: 0 }, 0);
    sma.update(Sample::at(0, 1.0));
    assert_eq!(sma.update(Sample::at(1, 3.0)), Some(3.0));
}

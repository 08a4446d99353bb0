//! `FeatureRow` against the same indicators run one by one, for a spec with every indicator
//! (`tests/fixtures/full.toml`, the README's example) on a seeded random market.

use zerotick_core::rng::Rng;
use zerotick_features::spec::{FeatureSpec, Input};
use zerotick_features::{
    Atr, BarBuilder, BarKind, Bollinger, Ema, FeatureRow, FlowImbalance, Indicator, Lags, Macd,
    RealizedVol, RollingStats, Rsi, Sample, Side, Tick, Vwap, Window,
};

fn ticks(n: usize, seed: u64) -> Vec<Tick> {
    let mut rng = Rng::new(seed);
    let mut ts = 1_700_000_000_000_000_000u64;
    let mut lp = 100f64.ln();
    (0..n)
        .map(|_| {
            ts += rng.next_u64() % 400_000_000;
            lp += (rng.next_f64() - 0.5) * 0.004;
            let side = match rng.next_u64() % 3 {
                0 => Side::Buy,
                1 => Side::Sell,
                _ => Side::Unknown,
            };
            Tick {
                ts_ns: ts,
                symbol: 0,
                price: lp.exp(),
                size: rng.next_f64() * 10.0,
                side,
            }
        })
        .collect()
}

#[test]
fn full_spec_row_equals_indicators_run_alone() {
    let spec = FeatureSpec::parse(include_str!("fixtures/full.toml")).unwrap();
    let mut row = FeatureRow::new(&spec);
    assert_eq!(row.width(), spec.width());
    // The same indicators, built by hand from the README's parameters.
    let t = |s: &str| Window::parse(s).unwrap();
    let mut lags = Lags::new(32);
    let mut ema = Ema::new(12);
    let mut std = RollingStats::new(t("5s"), 8192);
    let mut rsi = Rsi::new(14);
    let mut macd = Macd::new(12, 26, 9);
    let mut bb = Bollinger::new(Window::Events(20), 0, 2.0);
    let mut vwap = Vwap::new(t("1m"), 4096);
    let mut rv = RealizedVol::new(t("30s"), 4096).annualised().unwrap();
    let mut flow = FlowImbalance::new(Window::Events(256), 0);
    let mut bars = BarBuilder::new(BarKind::Time {
        period_ns: 1_000_000_000,
    });
    let mut atr = Atr::new(14);
    let mut want = vec![0.0; spec.width()];
    let mut prev: Option<f64> = None;
    let mut out = vec![0.0; spec.width()];
    for (i, tk) in ticks(3_000, 7).iter().enumerate() {
        assert!(row.update(tk));
        let s = Sample::at(tk.ts_ns, tk.price);
        let ret = prev.map(|p| tk.price.ln() - p);
        prev = Some(tk.price.ln());
        if let Some(r) = ret {
            lags.push(r);
            if let Some(o) = std.update(Sample::at(tk.ts_ns, r)) {
                want[33] = o.sample_std();
            }
        }
        lags.write_into(&mut want[..32]);
        if let Some(v) = ema.update(s) {
            want[32] = v;
        }
        if let Some(v) = rsi.update(s) {
            want[34] = v;
        }
        if let Some(m) = macd.update(s) {
            want[35..38].copy_from_slice(&[m.line, m.signal, m.histogram]);
        }
        if let Some(b) = bb.update(s) {
            want[38..41].copy_from_slice(&[b.lower, b.middle, b.upper]);
        }
        if let Some(v) = vwap.update(*tk) {
            want[41] = v;
        }
        if let Some(v) = rv.update(s) {
            want[42] = v;
        }
        if let Some(v) = flow.update(*tk) {
            want[43] = v;
        }
        if let Some(v) = bars.update(*tk).and_then(|b| atr.update(b)) {
            want[44] = v;
        }
        row.write_into(&mut out);
        assert_eq!(out, want, "tick {i}");
    }
    // Everything but the book input (spread_mean) is warm; the row says not warm.
    assert!(!row.is_warm());
    assert_eq!(spec.features.last().unwrap().input, Input::Spread);
    assert_eq!(out[45], 0.0);
    row.reset();
    row.write_into(&mut out);
    assert!(out.iter().all(|&v| v == 0.0));
    // A bad trade is refused whole.
    let mut bad = ticks(1, 1)[0];
    bad.price = f64::NAN;
    assert!(!row.update(&bad));
    row.write_into(&mut out);
    assert!(out.iter().all(|&v| v == 0.0));
    // A short output slice gets the first columns.
    row.update(&ticks(1, 1)[0]);
    let mut short = [9.0; 3];
    row.write_into(&mut short);
    assert_eq!(short, [0.0; 3], "no return yet after one trade");
}

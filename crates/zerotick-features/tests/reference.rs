//! Every indicator against the plain textbook implementation of `support` (recomputed from
//! the whole window or history at every step) on random input: event and time windows,
//! random gaps between timestamps (including equal timestamps and gaps longer than the
//! window), random walks of prices, sizes and sides.
//!
//! Tolerances: the crate and the reference round differently (merge order, recursion against
//! closed form), so results agree to a bound, not bit for bit. A sum or mean of `n` values
//! of magnitude at most `M` is off by at most about `n * eps * M` in either; we allow
//! `64 * n * eps * M` (`eps = 2^-53`). For variances the bound is `n * eps * M * D` (`D` the
//! largest deviation from the mean: the sub-window means differ by about `D`, each carries
//! `eps * M` of rounding), again with a factor 64. EMAs and Wilder averages over a history
//! of `t` steps: `t * eps * M` per average, factor 64.

mod support;

use proptest::prelude::*;
use support::*;
use zerotick_features::{
    Atr, BarBuilder, BarKind, Bollinger, Ema, FlowImbalance, Indicator, Macd, RealizedVol,
    RollingStats, Rsi, Sample, Side, Sma, Tick, TrueRange, Vwap, Window,
};

const EPS: f64 = f64::EPSILON / 2.0;

/// Timestamps: gaps of 0 .. 3 s (half of them on a 100 ms grid, like the time windows, so
/// values land exactly on a window's edge), sometimes a 20 s jump (longer than any window).
fn stamps(len: usize) -> impl Strategy<Value = Vec<u64>> {
    prop::collection::vec(
        prop_oneof![
            4 => 0u64..3_000_000_000,
            4 => (0u64..30).prop_map(|g| g * 100_000_000),
            1 => Just(0u64),
            1 => Just(20_000_000_000u64)
        ],
        len,
    )
    .prop_map(|gaps| {
        let mut t = 1_700_000_000_000_000_000u64;
        gaps.into_iter()
            .map(|g| {
                t += g;
                t
            })
            .collect()
    })
}

/// A window: 1 ..= 40 events, or 1 ns .. 10 s (on the 100 ms grid or not).
fn windows() -> impl Strategy<Value = Result<u64, usize>> {
    prop_oneof![
        (1usize..=40).prop_map(Err),
        (1u64..10_000_000_000).prop_map(Ok),
        (1u64..100).prop_map(|k| Ok(k * 100_000_000))
    ]
}

fn to_window(span: Result<u64, usize>) -> Window {
    match span {
        Err(n) => Window::Events(n),
        Ok(ns) => Window::Time { span_ns: ns },
    }
}

/// Prices: a random walk of log returns within +-5 % around 100.
fn prices(len: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(-0.05f64..0.05, len).prop_map(|r| {
        let mut lp = 100f64.ln();
        r.into_iter()
            .map(|x| {
                lp += x;
                lp.exp()
            })
            .collect()
    })
}

/// Scalars: an offset (0, 1e6) plus a spread of up to 1e3.
fn values(len: usize) -> impl Strategy<Value = Vec<f64>> {
    (
        prop_oneof![Just(0.0), Just(1e6), -1e3f64..1e3],
        prop::collection::vec(-1e3f64..1e3, len),
    )
        .prop_map(|(offset, xs)| xs.into_iter().map(|x| offset + x).collect())
}

fn trades(len: usize) -> impl Strategy<Value = Vec<Tick>> {
    (
        stamps(len),
        prices(len),
        prop::collection::vec(
            (
                prop_oneof![Just(0.0), 0.0f64..10.0],
                prop_oneof![Just(Side::Buy), Just(Side::Sell), Just(Side::Unknown)],
            ),
            len,
        ),
    )
        .prop_map(|(ts, ps, rest)| {
            (0..ts.len())
                .map(|i| tick(ts[i], ps[i], rest[i].0, rest[i].1))
                .collect()
        })
}

fn max_abs(xs: &[f64]) -> f64 {
    xs.iter().fold(0.0, |m, x| m.max(x.abs()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn sma_stats_bollinger((ts, xs) in (1usize..200).prop_flat_map(|n| (stamps(n), values(n))),
                           span in windows(), k in 0.0f64..4.0) {
        let w = to_window(span);
        let (mut sma, mut st, mut bb) = (Sma::new(w, 4096), RollingStats::new(w, 4096), Bollinger::new(w, 4096, k));
        for t in 0..xs.len() {
            let s = Sample::at(ts[t], xs[t]);
            let (a, b, c) = (sma.update(s), st.update(s), bb.update(s));
            let Some(r) = window_at(&ts, t, span) else {
                prop_assert!(a.is_none() && b.is_none() && c.is_none(), "warm too early at {t}");
                continue;
            };
            let win = &xs[r.clone()];
            let (mean, var) = mean_var(win);
            let n = win.len() as f64;
            let m = max_abs(win);
            let d = win.iter().fold(0.0f64, |d, x| d.max((x - mean).abs()));
            let tol = 64.0 * n * EPS * m;
            let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
            close(a, mean, tol, &format!("sma step {t}"));
            prop_assert_eq!(b.count, win.len());
            close(b.mean, mean, tol, &format!("mean step {t}"));
            close(b.variance, var, 64.0 * n * EPS * m * d, &format!("variance step {t}"));
            let sample = if win.len() > 1 { var * n / (n - 1.0) } else { 0.0 };
            close(b.sample_variance, sample, 128.0 * n * EPS * m * d, &format!("sample variance step {t}"));
            // std: |sqrt(v) - sqrt(v')| <= |v - v'| / sqrt(v) ; plus eps * d.
            let std_tol = 64.0 * n * EPS * m + 4.0 * EPS * d;
            close(b.std(), var.sqrt(), std_tol, &format!("std step {t}"));
            close(c.middle, mean, tol, &format!("bb middle step {t}"));
            close(c.upper, mean + k * var.sqrt(), tol + k * std_tol, &format!("bb upper step {t}"));
            close(c.lower, mean - k * var.sqrt(), tol + k * std_tol, &format!("bb lower step {t}"));
        }
    }

    #[test]
    fn ema_macd(xs in (1usize..120).prop_flat_map(values), n in 1usize..30,
                (fast, slow, sig) in (1usize..15, 1usize..30, 1usize..12)) {
        let (mut ema, mut macd) = (Ema::new(n), Macd::new(fast, slow, sig));
        for t in 0..xs.len() {
            let hist = &xs[..=t];
            let m = max_abs(hist);
            let tol = 64.0 * (t + 1) as f64 * EPS * m;
            match ema.update(xs[t].into()) {
                Some(v) => {
                    prop_assert!(t + 1 >= n);
                    close(v, ema_closed(hist, n), tol, &format!("ema step {t}"));
                }
                None => prop_assert!(t + 1 < n),
            }
            match (macd.update(xs[t].into()), support::macd(hist, fast, slow, sig)) {
                (Some(o), Some((line, signal, histogram))) => {
                    close(o.line, line, 4.0 * tol, &format!("macd line step {t}"));
                    close(o.signal, signal, 8.0 * tol, &format!("macd signal step {t}"));
                    close(o.histogram, histogram, 16.0 * tol, &format!("macd histogram step {t}"));
                }
                (None, None) => {}
                (a, b) => prop_assert!(false, "warm-up differs at {t}: {a:?} vs {b:?}"),
            }
        }
    }

    #[test]
    fn rsi(ps in (1usize..150).prop_flat_map(prices), n in 1usize..30) {
        let mut rsi = Rsi::new(n);
        for t in 0..ps.len() {
            let got = rsi.update(ps[t].into());
            let want = support::rsi(&ps[..=t], n);
            match (got, want) {
                // RSI = 100 g / (g + l): relative error of g and l is ~t eps each
                // (changes are ~5 % of the price: M / (g + l) is at most ~1e3 here).
                (Some(a), Some(b)) => close(a, b, 1e-9, &format!("rsi step {t}")),
                (None, None) => {}
                (a, b) => prop_assert!(false, "warm-up differs at {t}: {a:?} vs {b:?}"),
            }
        }
    }

    #[test]
    fn vwap_flow_realized_vol(ticks in (1usize..200).prop_flat_map(trades), span in windows()) {
        let w = to_window(span);
        let (mut vwap, mut flow, mut rv) = (Vwap::new(w, 4096), FlowImbalance::new(w, 4096), RealizedVol::new(w, 4096));
        let ts: Vec<u64> = ticks.iter().map(|t| t.ts_ns).collect();
        for (t, tk) in ticks.iter().enumerate() {
            let (a, b) = (vwap.update(*tk), flow.update(*tk));
            let c = rv.update(Sample::at(tk.ts_ns, tk.price));
            match window_at(&ts, t, span) {
                None => prop_assert!(a.is_none() && b.is_none()),
                Some(r) => {
                    let win = &ticks[r.clone()];
                    let n = win.len() as f64;
                    let vol: f64 = win.iter().map(|x| x.size).sum();
                    let pv: f64 = win.iter().map(|x| x.price * x.size).sum();
                    let signed: f64 = win.iter().map(|x| x.side.sign() * x.size).sum();
                    if vol > 0.0 {
                        // Relative error of each sum ~n eps (all terms positive).
                        close(a.unwrap(), pv / vol, 64.0 * n * EPS * (pv / vol), &format!("vwap step {t}"));
                        close(b.unwrap(), signed / vol, 64.0 * n * EPS, &format!("flow step {t}"));
                    } else {
                        prop_assert!(a.is_none());
                        prop_assert_eq!(b, Some(0.0));
                    }
                }
            }
            // Realized vol: the returns window has one value less and starts at tick 1.
            let want = (t >= 1).then(|| window_at(&ts[1..], t - 1, span)).flatten().map(|r| {
                r.map(|i| (ticks[i + 1].price / ticks[i].price).ln().powi(2)).sum::<f64>().sqrt()
            });
            match (c, want) {
                // ln(a) - ln(b) vs ln(a / b): ~4 eps * |ln p| ~ 20 eps absolute per return
                // (prices near 100); squared and summed: relative 64 n eps of the sum.
                (Some(a), Some(b)) => close(a, b, 1e-12 + 64.0 * 200.0 * EPS * b, &format!("realized vol step {t}")),
                (None, None) => {}
                (a, b) => prop_assert!(false, "realized vol warm-up differs at {t}: {a:?} vs {b:?}"),
            }
        }
    }

    #[test]
    fn bars_true_range_atr(ticks in (1usize..300).prop_flat_map(trades), which in 0usize..3,
                           n in 1usize..20, period_s in 1u64..10, threshold in 0.5f64..30.0) {
        let (kind, cut) = match which {
            0 => (BarKind::Time { period_ns: period_s * 1_000_000_000 }, Cut::Time(period_s * 1_000_000_000)),
            1 => (BarKind::Ticks(n as u64), Cut::Ticks(n)),
            _ => (BarKind::Volume(threshold), Cut::Volume(threshold)),
        };
        let mut builder = BarBuilder::new(kind);
        let got: Vec<(usize, _)> = ticks.iter().enumerate()
            .filter_map(|(i, t)| builder.update(*t).map(|b| (i, b)))
            .collect();
        let want = support::bars(&ticks, &cut);
        prop_assert_eq!(got.len(), want.len());
        for ((i, a), (j, b)) in got.iter().zip(&want) {
            prop_assert_eq!(i, j);
            prop_assert_eq!((a.start_ts_ns, a.end_ts_ns, a.ticks), (b.start_ts_ns, b.end_ts_ns, b.ticks));
            prop_assert_eq!((a.open, a.high, a.low, a.close), (b.open, b.high, b.low, b.close));
            close(a.volume, b.volume, 64.0 * a.ticks as f64 * EPS * a.volume, "bar volume");
        }
        let bars: Vec<_> = want.into_iter().map(|(_, b)| b).collect();
        let (mut tr, mut atr) = (TrueRange::new(), Atr::new(n));
        for k in 0..bars.len() {
            let m = bars[..=k].iter().fold(0.0f64, |m, b| m.max(b.high));
            prop_assert_eq!(tr.update(bars[k]), Some(true_range(&bars, k)));
            match (atr.update(bars[k]), support::atr(&bars, k, n)) {
                (Some(a), Some(b)) => close(a, b, 64.0 * (k + 1) as f64 * EPS * m, &format!("atr bar {k}")),
                (None, None) => {}
                (a, b) => prop_assert!(false, "atr warm-up differs at bar {k}: {a:?} vs {b:?}"),
            }
        }
    }
}

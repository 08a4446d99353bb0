//! Plain textbook implementations, recomputed from the whole history or window at every step:
//! the independent references of the indicator tests. No state is carried between steps
//! except the input history itself; sums are two-pass, EMAs and Wilder averages are their
//! closed-form weighted sums, not the recursion the crate uses.

#![allow(dead_code)]

use zerotick_features::{Bar, Side, Tick};

/// Indices of the values in the window ending at step `t` (inclusive), or `None` if the
/// window is not warm at `t`. `span`: `Err(n)` for `n` events, `Ok(ns)` for a time span.
pub fn window_at(ts: &[u64], t: usize, span: Result<u64, usize>) -> Option<std::ops::Range<usize>> {
    match span {
        Err(n) => (t + 1 >= n).then(|| t + 1 - n..t + 1),
        Ok(ns) => {
            if ts[t] - ts[0] < ns {
                return None;
            }
            let first = (0..=t)
                .find(|&i| ts[i] > ts[t].saturating_sub(ns) || ts[t] < ns)
                .unwrap();
            Some(first..t + 1)
        }
    }
}

/// Two-pass mean and population variance.
pub fn mean_var(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    (mean, var)
}

/// EMA of span `n` seeded with `xs[0]`, as the closed form
/// `(1-a)^t x_0 + sum_{k<t} a (1-a)^k x_{t-k}`.
pub fn ema_closed(xs: &[f64], n: usize) -> f64 {
    let a = 2.0 / (n as f64 + 1.0);
    wilder_like(xs, a, xs[0], 1)
}

/// `seed` at step `start - 1`, then smoothed with factor `a` over `xs[start..]`, closed form.
pub fn wilder_like(xs: &[f64], a: f64, seed: f64, start: usize) -> f64 {
    let t = xs.len() - 1;
    let steps = (t + 1 - start) as i32;
    let mut acc = (1.0 - a).powi(steps) * seed;
    for (k, &x) in xs[start..].iter().rev().enumerate() {
        acc += a * (1.0 - a).powi(k as i32) * x;
    }
    acc
}

/// Wilder average of `xs` with period `n`: the mean of the first `n`, then smoothed with
/// `1/n`; `None` with fewer than `n` values.
pub fn wilder(xs: &[f64], n: usize) -> Option<f64> {
    if xs.len() < n {
        return None;
    }
    let seed = xs[..n].iter().sum::<f64>() / n as f64;
    if xs.len() == n {
        return Some(seed);
    }
    Some(wilder_like(xs, 1.0 / n as f64, seed, n))
}

/// RSI over `n` changes after every price (None before warm).
pub fn rsi(prices: &[f64], n: usize) -> Option<f64> {
    let changes: Vec<f64> = prices.windows(2).map(|w| w[1] - w[0]).collect();
    let gain = wilder(&changes.iter().map(|c| c.max(0.0)).collect::<Vec<_>>(), n)?;
    let loss = wilder(
        &changes.iter().map(|c| (-c).max(0.0)).collect::<Vec<_>>(),
        n,
    )?;
    Some(if gain + loss > 0.0 {
        100.0 * gain / (gain + loss)
    } else {
        50.0
    })
}

/// MACD (line, signal, histogram) after the last of `xs`, every EMA in closed form.
pub fn macd(xs: &[f64], fast: usize, slow: usize, signal: usize) -> Option<(f64, f64, f64)> {
    if xs.len() < fast.max(slow) + signal - 1 {
        return None;
    }
    let lines: Vec<f64> = (1..=xs.len())
        .map(|k| ema_closed(&xs[..k], fast) - ema_closed(&xs[..k], slow))
        .collect();
    let line = *lines.last().unwrap();
    let sig = ema_closed(&lines, signal);
    Some((line, sig, line - sig))
}

/// True range of bar `k` of `bars`.
pub fn true_range(bars: &[Bar], k: usize) -> f64 {
    let b = &bars[k];
    if k == 0 {
        return b.high - b.low;
    }
    let c = bars[k - 1].close;
    [b.high - b.low, (b.high - c).abs(), (b.low - c).abs()]
        .into_iter()
        .fold(f64::MIN, f64::max)
}

/// ATR after bar `k`.
pub fn atr(bars: &[Bar], k: usize, n: usize) -> Option<f64> {
    let trs: Vec<f64> = (1..=k).map(|i| true_range(bars, i)).collect();
    wilder(&trs, n)
}

/// Bars cut from `ticks` by grouping: time buckets, `n` ticks, or cumulative volume.
pub enum Cut {
    Time(u64),
    Ticks(usize),
    Volume(f64),
}

/// Every completed bar (not the trailing partial one) with the index of the tick that
/// completed it (for time bars: the first tick of the next bucket).
pub fn bars(ticks: &[Tick], cut: &Cut) -> Vec<(usize, Bar)> {
    let mut groups: Vec<(Vec<usize>, usize)> = Vec::new();
    let mut cur: Vec<usize> = Vec::new();
    for (i, t) in ticks.iter().enumerate() {
        match *cut {
            Cut::Time(p) => {
                if let Some(&f) = cur.first()
                    && t.ts_ns / p != ticks[f].ts_ns / p
                {
                    groups.push((std::mem::take(&mut cur), i));
                }
                cur.push(i);
            }
            Cut::Ticks(n) => {
                cur.push(i);
                if cur.len() == n {
                    groups.push((std::mem::take(&mut cur), i));
                }
            }
            Cut::Volume(v) => {
                cur.push(i);
                if cur.iter().map(|&j| ticks[j].size).sum::<f64>() >= v {
                    groups.push((std::mem::take(&mut cur), i));
                }
            }
        }
    }
    groups
        .into_iter()
        .map(|(g, at)| {
            let prices: Vec<f64> = g.iter().map(|&j| ticks[j].price).collect();
            let start = match *cut {
                Cut::Time(p) => ticks[g[0]].ts_ns / p * p,
                _ => ticks[g[0]].ts_ns,
            };
            let bar = Bar {
                start_ts_ns: start,
                end_ts_ns: ticks[*g.last().unwrap()].ts_ns,
                open: prices[0],
                high: prices.iter().copied().fold(f64::MIN, f64::max),
                low: prices.iter().copied().fold(f64::MAX, f64::min),
                close: *prices.last().unwrap(),
                volume: g.iter().map(|&j| ticks[j].size).sum(),
                ticks: g.len() as u64,
            };
            (at, bar)
        })
        .collect()
}

/// A trade.
pub fn tick(ts_ns: u64, price: f64, size: f64, side: Side) -> Tick {
    Tick {
        ts_ns,
        symbol: 0,
        price,
        size,
        side,
    }
}

/// `|a - b| <= tol`, with a message naming the step.
#[track_caller]
pub fn close(a: f64, b: f64, tol: f64, what: &str) {
    assert!(
        (a - b).abs() <= tol || a == b,
        "{what}: {a} vs reference {b} (|diff| {} > tol {tol})",
        (a - b).abs()
    );
}

//! Nanoseconds per update of each indicator, warm, on a synthetic random walk: the median of
//! 7 runs of 1,000,000 updates, and the slowest single update of an event window of 4,096
//! (the two-stack window's flip).
//!
//! `cargo run --release -p zerotick-features --example update_cost`

use std::hint::black_box;
use std::time::Instant;

use zerotick_core::rng::Rng;
use zerotick_features::{
    Atr, Bar, BarBuilder, BarKind, Bollinger, Ema, FlowImbalance, Indicator, Macd, RealizedVol,
    RollingStats, Rsi, Sample, Side, Sma, Tick, Vwap, Window,
};

const N: usize = 1 << 20;

fn ticks() -> Vec<Tick> {
    let mut rng = Rng::new(42);
    let mut lp = 100f64.ln();
    (0..N as u64)
        .map(|i| {
            lp += (rng.next_f64() - 0.5) * 0.002;
            let side = if rng.next_u64() & 1 == 0 {
                Side::Buy
            } else {
                Side::Sell
            };
            Tick {
                ts_ns: i * 1_000_000,
                symbol: 0,
                price: lp.exp(),
                size: rng.next_f64(),
                side,
            }
        })
        .collect()
}

/// Median ns per update over 7 runs (each run on a fresh, then warmed, indicator).
fn measure<I: Indicator>(
    name: &str,
    make: impl Fn() -> I,
    input: impl Fn(&Tick) -> I::Input,
    ticks: &[Tick],
) {
    let mut runs: Vec<f64> = (0..7)
        .map(|_| {
            let mut ind = make();
            for t in &ticks[..N / 8] {
                black_box(ind.update(input(t)).is_some());
            }
            let start = Instant::now();
            for t in &ticks[N / 8..] {
                black_box(ind.update(input(black_box(t))).is_some());
            }
            start.elapsed().as_nanos() as f64 / (N - N / 8) as f64
        })
        .collect();
    runs.sort_by(f64::total_cmp);
    println!(
        "{name:<28} {:>6.2} ns/update (min {:.2}, max {:.2})",
        runs[3], runs[0], runs[6]
    );
}

fn main() {
    let ticks = ticks();
    let s = |t: &Tick| Sample::at(t.ts_ns, t.price);
    let ev = Window::Events(64);
    let time = Window::parse("1s").unwrap();
    measure("ema(64)", || Ema::new(64), s, &ticks);
    measure("sma(64 events)", || Sma::new(ev, 0), s, &ticks);
    measure("sma(1s, 1000/s)", || Sma::new(time, 4096), s, &ticks);
    measure(
        "rolling stats(64 events)",
        || RollingStats::new(ev, 0),
        s,
        &ticks,
    );
    measure(
        "rolling stats(4096 events)",
        || RollingStats::new(Window::Events(4096), 0),
        s,
        &ticks,
    );
    measure(
        "rolling stats(1s)",
        || RollingStats::new(time, 4096),
        s,
        &ticks,
    );
    measure(
        "bollinger(64 events)",
        || Bollinger::new(ev, 0, 2.0),
        s,
        &ticks,
    );
    measure("rsi(14)", || Rsi::new(14), s, &ticks);
    measure("macd(12,26,9)", || Macd::new(12, 26, 9), s, &ticks);
    measure("vwap(64 events)", || Vwap::new(ev, 0), |t| *t, &ticks);
    measure(
        "flow imbalance(64 events)",
        || FlowImbalance::new(ev, 0),
        |t| *t,
        &ticks,
    );
    measure(
        "realized vol(64 events)",
        || RealizedVol::new(ev, 0),
        s,
        &ticks,
    );
    measure(
        "bars(ticks 16)",
        || BarBuilder::new(BarKind::Ticks(16)),
        |t| *t,
        &ticks,
    );
    let bar = |t: &Tick| Bar {
        high: t.price * 1.001,
        low: t.price * 0.999,
        close: t.price,
        ..Bar::default()
    };
    measure("atr(14)", || Atr::new(14), bar, &ticks);

    // Latency of single updates of a 4,096-event window: most are a few ns, one in 4,096
    // flips the window (4,096 merges).
    let mut st = RollingStats::new(Window::Events(4096), 0);
    let mut lat: Vec<u64> = Vec::with_capacity(N);
    for t in &ticks {
        let start = Instant::now();
        black_box(st.update(s(black_box(t))));
        lat.push(start.elapsed().as_nanos() as u64);
    }
    lat.sort_unstable();
    let q = |p: f64| lat[((lat.len() - 1) as f64 * p) as usize];
    println!(
        "rolling stats(4096) single update incl. timer: p50 {} ns, p99.9 {} ns, p99.99 {} ns, max {} ns",
        q(0.5),
        q(0.999),
        q(0.9999),
        lat[lat.len() - 1]
    );
}

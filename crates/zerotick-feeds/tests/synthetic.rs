//! The synthetic market through its public API: determinism, the statistics its docs promise,
//! config validation, the end of event time and bounded blocking when paced.

use std::time::{Duration, Instant};

use zerotick_core::{Feed, FeedEvent, Side, Tick};
use zerotick_feeds::synthetic::{
    MAX_RATE_PER_S, MAX_SYMBOLS, MIN_RATE_PER_S, SyntheticConfig, SyntheticConfigError,
    SyntheticFeed,
};

fn config(seed: u64, ticks: u64) -> SyntheticConfig {
    SyntheticConfig {
        seed,
        ticks: Some(ticks),
        ..SyntheticConfig::default()
    }
}

fn ticks(cfg: SyntheticConfig) -> Vec<Tick> {
    let mut f = SyntheticFeed::new(cfg);
    std::iter::from_fn(|| f.next_tick()).collect()
}

#[test]
fn same_seed_same_ticks_other_seed_other_ticks() {
    let a = ticks(config(42, 50_000));
    assert_eq!(a.len(), 50_000);
    assert_eq!(a, ticks(config(42, 50_000)));
    let b = ticks(config(43, 50_000));
    assert_ne!(a[..100], b[..100]);
    // next_event yields the same ticks as next_tick, then End.
    let mut f = SyntheticFeed::new(config(42, 50_000));
    for t in &a {
        assert!(matches!(f.next_event(), Ok(FeedEvent::Tick(u)) if u == *t));
    }
    assert!(matches!(f.next_event(), Ok(FeedEvent::End)));
    assert!(matches!(f.next_event(), Ok(FeedEvent::End)));
}

#[test]
fn symbol_frequencies_follow_the_zipf_weights() {
    let n = 1_000_000;
    let a = ticks(config(5, n));
    let symbols = SyntheticConfig::default().symbols;
    let mut counts = vec![0u64; symbols];
    for t in &a {
        counts[t.symbol as usize] += 1;
    }
    let w: Vec<f64> = (0..symbols)
        .map(|i| 1.0 / ((i + 1) as f64).powf(0.8))
        .collect();
    let total: f64 = w.iter().sum();
    // Pearson chi-square with 63 degrees of freedom: mean 63, sd 11.2; 150 is p < 1e-8. A
    // wrong law (uniform, or exponent 1) gives tens of thousands.
    let chi2: f64 = counts
        .iter()
        .zip(&w)
        .map(|(&c, w)| {
            let e = n as f64 * w / total;
            (c as f64 - e).powi(2) / e
        })
        .sum();
    assert!(chi2 < 150.0, "chi2 {chi2}, counts {counts:?}");
    // And each symbol within 5 sd of its expectation.
    for (i, (&c, w)) in counts.iter().zip(&w).enumerate() {
        let p = w / total;
        let (e, sd) = (n as f64 * p, (n as f64 * p * (1.0 - p)).sqrt());
        assert!((c as f64 - e).abs() < 5.0 * sd, "symbol {i}: {c} vs {e}");
    }
}

#[test]
fn sizes_are_log_normal_with_median_10() {
    let a = ticks(config(6, 1_000_000));
    let mut logs: Vec<f64> = a.iter().map(|t| t.size.ln()).collect();
    logs.sort_by(f64::total_cmp);
    let median = logs[logs.len() / 2].exp();
    assert!((median / 10.0 - 1.0).abs() < 0.01, "median {median}");
    let mean = logs.iter().sum::<f64>() / logs.len() as f64;
    let sd = (logs.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / logs.len() as f64).sqrt();
    assert!((mean - 10f64.ln()).abs() < 0.005, "mean log {mean}");
    assert!((sd / 0.5 - 1.0).abs() < 0.01, "log sd {sd}");
    // Symmetric in log space: as many sizes above 10 e^0.5 as below 10 e^-0.5.
    let above = logs.iter().filter(|&&l| l > 10f64.ln() + 0.5).count() as f64;
    let below = logs.iter().filter(|&&l| l < 10f64.ln() - 0.5).count() as f64;
    assert!((above / below - 1.0).abs() < 0.03, "{above} {below}");
}

#[test]
fn gaps_are_exponential_at_the_configured_rate() {
    for rate in [1e3, 1e5] {
        let cfg = SyntheticConfig {
            rate_per_s: rate,
            ..config(7, 1_000_000)
        };
        let start = cfg.start_ns;
        let a = ticks(cfg);
        let mean_ns = 1e9 / rate;
        let gaps: Vec<f64> = std::iter::once(a[0].ts_ns - start)
            .chain(a.windows(2).map(|w| w[1].ts_ns - w[0].ts_ns))
            .map(|g| g as f64)
            .collect();
        let mean = gaps.iter().sum::<f64>() / gaps.len() as f64;
        // sd of the mean of 10^6 exponentials is mean / 1000; gaps are rounded to whole ns.
        assert!(
            (mean / mean_ns - 1.0).abs() < 5e-3,
            "rate {rate}: mean gap {mean}"
        );
        // Exponential shape: P(gap > mean) = 1/e, P(gap > 3 mean) = e^-3.
        for (k, want) in [(1.0, (-1f64).exp()), (3.0, (-3f64).exp())] {
            let p = gaps.iter().filter(|&&g| g > k * mean_ns).count() as f64 / gaps.len() as f64;
            assert!(
                (p - want).abs() < 2e-3,
                "rate {rate}: P(gap > {k} mean) = {p}"
            );
        }
    }
}

#[test]
fn ten_million_ticks_from_several_seeds_stay_valid() {
    // 4 x 2.5 M = 10^7 ticks in all.
    for seed in [0, 1, 42, u64::MAX] {
        let mut f = SyntheticFeed::new(config(seed, 2_500_000));
        let mut last_ts = f.config().start_ns;
        let (mut buys, mut n) = (0u64, 0u64);
        while let Some(t) = f.next_tick() {
            assert!(t.ts_ns > last_ts, "seed {seed}: {t:?} after {last_ts}");
            last_ts = t.ts_ns;
            assert!(t.price.is_finite() && t.price > 0.0, "seed {seed}: {t:?}");
            assert!(t.size.is_finite() && t.size > 0.0, "seed {seed}: {t:?}");
            assert!(
                t.symbol < 64 && t.side != Side::Unknown,
                "seed {seed}: {t:?}"
            );
            buys += u64::from(t.side == Side::Buy);
            n += 1;
        }
        assert_eq!(n, 2_500_000);
        let buy_share = buys as f64 / n as f64;
        assert!(
            (buy_share - 0.5).abs() < 0.01,
            "seed {seed}: buys {buy_share}"
        );
    }
}

#[test]
fn config_bounds_are_enforced_with_a_message() {
    let ok = SyntheticConfig::default();
    let symbols = |symbols| SyntheticConfig {
        symbols,
        ..ok.clone()
    };
    let rate = |rate_per_s| SyntheticConfig {
        rate_per_s,
        ..ok.clone()
    };
    let bad = [
        (symbols(0), "symbols"),
        (symbols(MAX_SYMBOLS + 1), "symbols"),
        (symbols(100_000_000), "symbols"),
        (symbols(usize::MAX), "symbols"),
        (rate(1e-10), "rate_per_s"),
        (rate(1e-300), "rate_per_s"),
        (rate(0.0), "rate_per_s"),
        (rate(-1.0), "rate_per_s"),
        (rate(2e9), "rate_per_s"),
        (rate(f64::NAN), "rate_per_s"),
        (rate(f64::INFINITY), "rate_per_s"),
    ];
    for (cfg, want) in bad {
        let err = SyntheticFeed::try_new(cfg.clone()).expect_err(&format!("{cfg:?}"));
        assert_eq!(
            cfg.validate().map_err(|e| e.to_string()),
            Err(err.to_string())
        );
        let msg = err.to_string();
        assert!(msg.contains(want) && msg.contains("between"), "{msg}");
        let field_ok = match err {
            SyntheticConfigError::Symbols(n) => want == "symbols" && n == cfg.symbols,
            SyntheticConfigError::Rate(_) => want == "rate_per_s",
            _ => false,
        };
        assert!(field_ok, "{err:?}");
    }
    let msg = SyntheticFeed::try_new(symbols(0)).unwrap_err().to_string();
    assert!(msg.contains("got 0") && msg.contains("65536"), "{msg}");
    // The edges are accepted, and the smallest rate does not wrap timestamps.
    for cfg in [
        symbols(1),
        symbols(MAX_SYMBOLS),
        rate(MAX_RATE_PER_S),
        rate(MIN_RATE_PER_S),
    ] {
        let mut f = SyntheticFeed::try_new(cfg.clone()).expect("in range");
        let mut last = cfg.start_ns;
        for _ in 0..10_000 {
            let t = f.next_tick().unwrap();
            assert!(
                t.ts_ns > last && (t.symbol as usize) < cfg.symbols,
                "{cfg:?}: {t:?}"
            );
            last = t.ts_ns;
        }
    }
}

#[test]
#[should_panic(expected = "rate_per_s must be a finite number")]
fn new_panics_on_a_bad_config() {
    let _ = SyntheticFeed::new(SyntheticConfig {
        rate_per_s: f64::NAN,
        ..SyntheticConfig::default()
    });
}

#[test]
fn the_feed_ends_before_event_time_overflows() {
    let cfg = SyntheticConfig {
        start_ns: u64::MAX - 100_000,
        rate_per_s: 1e6, // mean gap 1,000 ns: ~100 ticks fit
        ..SyntheticConfig::default()
    };
    let mut f = SyntheticFeed::new(cfg);
    let mut last = f.config().start_ns;
    let mut n = 0;
    while let Some(t) = f.next_tick() {
        assert!(t.ts_ns > last);
        last = t.ts_ns;
        n += 1;
        assert!(n < 1_000, "event time should have run out");
    }
    assert!(n > 10, "{n} ticks");
    // Ended for good, through both entry points.
    assert!(f.next_tick().is_none());
    assert!(matches!(f.next_event(), Ok(FeedEvent::End)));
}

#[test]
fn paced_feed_at_a_tiny_rate_returns_idle_instead_of_blocking() {
    let mut f = SyntheticFeed::new(SyntheticConfig {
        rate_per_s: MIN_RATE_PER_S, // next tick due in ~1,000 s of wall time
        paced: true,
        ..SyntheticConfig::default()
    });
    assert!(
        matches!(f.next_event(), Ok(FeedEvent::Tick(_))),
        "the first paced tick is due at once"
    );
    // Each call sleeps ~10 ms and returns Idle. The bound is loose (a loaded machine may
    // oversleep); it only has to tell "returns" from "blocks until the tick is due".
    for _ in 0..3 {
        let start = Instant::now();
        assert!(matches!(f.next_event(), Ok(FeedEvent::Idle)));
        let took = start.elapsed();
        assert!(took < Duration::from_millis(500), "blocked {took:?}");
    }
}

#[test]
fn paced_feed_yields_the_unpaced_ticks_across_idles() {
    // At 50 ticks/s (mean gap 20 ms) most waits go through Idle; the tick kept meanwhile
    // must come out next, so the paced feed yields exactly the unpaced ticks.
    let cfg = SyntheticConfig {
        rate_per_s: 50.0,
        ticks: Some(12),
        ..SyntheticConfig::default()
    };
    let want = ticks(cfg.clone());
    let mut paced = SyntheticFeed::new(SyntheticConfig { paced: true, ..cfg });
    let (mut got, mut idles) = (Vec::new(), 0);
    loop {
        match paced.next_event() {
            Ok(FeedEvent::Tick(t)) => got.push(t),
            Ok(FeedEvent::Idle) => idles += 1,
            Ok(FeedEvent::End) => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(got, want);
    assert!(idles > 0, "waits of ~20 ms go through Idle");
}

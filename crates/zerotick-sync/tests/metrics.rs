//! The metrics registry's public API: registration rules, exact totals under many threads,
//! histogram quantiles against a sorted reference, interval snapshots, bad input.

use proptest::prelude::*;
use zerotick_sync::metrics::{
    Counter, Gauge, Histogram, HistogramConfig, HistogramError, MAX_THREADS, MetricKind, Registry,
    RegistryError,
};

#[test]
fn registering_twice_returns_the_existing_metric() {
    let r = Registry::new();
    let a = r
        .counter("hits_total", "Hits.", &[("b", "2"), ("a", "1")])
        .unwrap();
    // Same labels in another order: same series.
    let b = r
        .counter("hits_total", "Other help.", &[("a", "1"), ("b", "2")])
        .unwrap();
    a.inc();
    b.add(2);
    assert_eq!(a.get(), 3);
    // Other label values: a new series of the same family.
    let c = r
        .counter("hits_total", "", &[("a", "1"), ("b", "3")])
        .unwrap();
    assert_eq!(c.get(), 0);
    let text = r.render_prometheus();
    assert_eq!(text.matches("# HELP hits_total Hits.\n").count(), 1);
    assert!(text.contains("hits_total{a=\"1\",b=\"2\"} 3\n"));
    assert!(text.contains("hits_total{a=\"1\",b=\"3\"} 0\n"));

    let g1 = r.gauge("g", "", &[]).unwrap();
    let g2 = r.gauge("g", "", &[]).unwrap();
    g1.set(4.5);
    assert_eq!(g2.get(), 4.5);

    let cfg = HistogramConfig::new(1, 1000, 2);
    let h1 = r.histogram("h", "", &[], cfg).unwrap();
    let h2 = r.histogram("h", "", &[], cfg).unwrap();
    h1.record(5);
    assert_eq!(h2.snapshot().count(), 1);
}

#[test]
fn registration_errors_are_typed() {
    let r = Registry::new();
    r.counter("x", "", &[]).unwrap();
    assert_eq!(
        r.gauge("x", "", &[]).unwrap_err(),
        RegistryError::KindMismatch {
            name: "x".into(),
            registered: MetricKind::Counter,
            requested: MetricKind::Gauge
        }
    );
    for bad in ["", "1x", "a-b", "a.b", "ü"] {
        assert!(matches!(
            r.counter(bad, "", &[]),
            Err(RegistryError::InvalidName { .. })
        ));
    }
    for bad in ["", "1a", "a:b", "__reserved", "a-b"] {
        assert!(matches!(
            r.counter("ok", "", &[(bad, "v")]),
            Err(RegistryError::InvalidLabelName { .. })
        ));
    }
    assert!(matches!(
        r.counter("ok", "", &[("a", "1"), ("a", "2")]),
        Err(RegistryError::DuplicateLabel { .. })
    ));
    let cfg = HistogramConfig::new(1, 1000, 2);
    assert!(matches!(
        r.histogram("h", "", &[("le", "1")], cfg),
        Err(RegistryError::InvalidLabelName { .. })
    ));
    // `le` is fine on a counter.
    r.counter("c_le", "", &[("le", "1")]).unwrap();
    r.histogram("h", "", &[], cfg).unwrap();
    assert!(matches!(
        r.histogram("h", "", &[], HistogramConfig::new(1, 1000, 3)),
        Err(RegistryError::ConfigMismatch { .. })
    ));
    assert!(matches!(
        Registry::with_threads(0),
        Err(RegistryError::Threads { .. })
    ));
    assert!(matches!(
        Registry::with_threads(MAX_THREADS + 1),
        Err(RegistryError::Threads { .. })
    ));
    assert_eq!(
        Registry::with_threads(MAX_THREADS).unwrap().threads(),
        MAX_THREADS
    );
    // Errors display without panicking.
    let e = r.gauge("x", "", &[]).unwrap_err();
    assert!(e.to_string().contains("x"));
}

#[test]
fn histogram_sample_names_do_not_collide_with_other_families() {
    let r = Registry::new();
    let cfg = HistogramConfig::new(1, 1000, 2);
    r.histogram("lat", "", &[], cfg).unwrap();
    for taken in ["lat_bucket", "lat_sum", "lat_count"] {
        assert_eq!(
            r.counter(taken, "", &[]).unwrap_err(),
            RegistryError::NameCollision {
                name: taken.into(),
                other: "lat".into()
            }
        );
    }
    r.gauge("size_count", "", &[]).unwrap();
    assert!(matches!(
        r.histogram("size", "", &[], cfg),
        Err(RegistryError::NameCollision { .. })
    ));
    // A counter `x` and a gauge `x_count` are fine: neither renders suffixes.
    r.counter("x", "", &[]).unwrap();
    r.gauge("x_count", "", &[]).unwrap();
}

#[test]
fn histogram_configs_out_of_range_are_typed_errors() {
    let cases = [
        (HistogramConfig::new(0, 100, 3), HistogramError::LowestZero),
        (
            HistogramConfig::new(10, 19, 3),
            HistogramError::HighestTooLow {
                lowest: 10,
                highest: 19,
            },
        ),
        (
            HistogramConfig::new(1, 0, 3),
            HistogramError::HighestTooLow {
                lowest: 1,
                highest: 0,
            },
        ),
        (
            HistogramConfig::new(1, 100, 0),
            HistogramError::Precision { digits: 0 },
        ),
        (
            HistogramConfig::new(1, 100, 6),
            HistogramError::Precision { digits: 6 },
        ),
    ];
    for (cfg, want) in cases {
        assert_eq!(Histogram::new(cfg).unwrap_err(), want);
        let r = Registry::new();
        assert_eq!(
            r.histogram("h", "", &[], cfg).unwrap_err(),
            RegistryError::Histogram(want)
        );
    }
    assert_eq!(
        Histogram::new(HistogramConfig::new(1, 100, 2).with_thread_shards(MAX_THREADS + 1))
            .unwrap_err(),
        HistogramError::Shards {
            shards: MAX_THREADS + 1,
            max: MAX_THREADS
        }
    );
    for scale in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let cfg = HistogramConfig::new(1, 100, 2).with_prometheus_scale(scale);
        assert!(matches!(
            Histogram::new(cfg),
            Err(HistogramError::Scale { .. })
        ));
    }
    // The extremes that are valid.
    Histogram::new(HistogramConfig::new(1, u64::MAX, 5)).unwrap();
    Histogram::new(HistogramConfig::new(u64::MAX / 2, u64::MAX, 1)).unwrap();
}

#[test]
fn eight_threads_times_a_million_increments_is_exact() {
    const THREADS: u64 = 8;
    const N: u64 = 1_000_000;
    let r = Registry::new();
    let c = r.counter("n_total", "", &[]).unwrap();
    let other = r.counter("m_total", "", &[]).unwrap();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (c, other) = (c.clone(), other.clone());
            s.spawn(move || {
                for _ in 0..N {
                    c.inc();
                }
                other.add(t);
            });
        }
        // A concurrent reader sees a monotone sum.
        let mut last = 0;
        for _ in 0..1000 {
            let now = c.get();
            assert!(now >= last);
            last = now;
        }
    });
    assert_eq!(c.get(), THREADS * N);
    assert_eq!(other.get(), (0..THREADS).sum::<u64>());
}

#[test]
fn threads_beyond_the_private_cells_share_the_overflow_cell_exactly() {
    // One private cell: at most one of the 6 threads (the one holding slot 0, if any) gets
    // it; the others add atomically into the overflow cell.
    let c = Counter::new(1);
    std::thread::scope(|s| {
        for _ in 0..6 {
            s.spawn(|| {
                for _ in 0..100_000 {
                    c.inc();
                }
            });
        }
    });
    assert_eq!(c.get(), 600_000);
}

#[test]
fn slots_are_reused_and_values_kept_after_threads_exit() {
    let c = Counter::new(4);
    for round in 1..=200u64 {
        std::thread::spawn({
            let c = c.clone();
            move || c.add(round)
        })
        .join()
        .unwrap();
    }
    assert_eq!(c.get(), (1..=200).sum::<u64>());
}

#[test]
fn gauges_set_add_and_treat_nan_as_data() {
    let g = Gauge::new();
    g.set(2.5);
    g.add(1.0);
    g.sub(0.5);
    g.inc();
    g.dec();
    assert_eq!(g.get(), 3.0);
    g.set(f64::NAN);
    assert!(g.get().is_nan());
    g.add(1.0);
    assert!(g.get().is_nan());
    g.set(f64::NEG_INFINITY);
    assert_eq!(g.get(), f64::NEG_INFINITY);
    g.set(0.0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..10_000 {
                    g.add(1.0);
                    g.sub(0.5);
                }
            });
        }
    });
    assert_eq!(g.get(), 20_000.0);
}

#[test]
fn histogram_clamps_and_counts_out_of_range_values() {
    let h = Histogram::new(HistogramConfig::new(10, 1000, 2)).unwrap();
    for v in [0, 9, 10, 500, 1000, 1001, u64::MAX] {
        h.record(v);
    }
    let s = h.snapshot();
    assert_eq!(s.count(), 7);
    assert_eq!((s.clamped_below(), s.clamped_above()), (2, 2));
    assert_eq!((s.min(), s.max()), (Some(10), Some(1000)));
    assert_eq!(s.sum(), 10 + 10 + 10 + 500 + 1000 + 1000 + 1000);
    assert_eq!(s.value_at_quantile(1.0), Some(1000));
    // Lowest bucket: 8..=15 (unit 2^3 <= lowest), bounded below by the min.
    let p0 = s.value_at_quantile(0.0).unwrap();
    assert!((10..=15).contains(&p0), "{p0}");
    assert_eq!(s.value_at_quantile(f64::NAN), Some(p0));
    assert_eq!(s.value_at_quantile(-3.0), Some(p0));
    assert_eq!(s.value_at_quantile(7.0), Some(1000));
}

#[test]
fn empty_histogram_has_no_statistics() {
    let h = Histogram::new(HistogramConfig::latency_ns()).unwrap();
    let s = h.snapshot();
    assert_eq!(s.count(), 0);
    assert_eq!(
        (s.min(), s.max(), s.mean(), s.p50()),
        (None, None, None, None)
    );
}

#[test]
fn interval_snapshots_lose_nothing_under_concurrent_records() {
    interval_snapshots_lose_nothing(HistogramConfig::new(1, 1 << 20, 2));
}

#[test]
fn interval_snapshots_lose_nothing_with_thread_shards() {
    // Two shards for four recording threads: some record into private rows, the others
    // into the shared atomic buckets (which threads depends on the slots they claim).
    interval_snapshots_lose_nothing(HistogramConfig::new(1, 1 << 20, 2).with_thread_shards(2));
}

fn interval_snapshots_lose_nothing(config: HistogramConfig) {
    const THREADS: u64 = 4;
    const N: u64 = 200_000;
    let h = Histogram::new(config).unwrap();
    let (mut count, mut sum) = (0u64, 0u64);
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..THREADS)
            .map(|t| {
                let h = h.clone();
                s.spawn(move || {
                    for i in 0..N {
                        h.record(1 + (i * 7 + t) % 5000);
                    }
                })
            })
            .collect();
        while !hs.iter().all(|j| j.is_finished()) {
            let snap = h.interval_snapshot();
            count += snap.count();
            sum += snap.sum();
            // Quantiles of a racy interval stay ordered and never panic.
            if let (Some(a), Some(b), Some(c)) = (snap.min(), snap.p50(), snap.max()) {
                assert!(a <= c && b <= c.max(a), "{a} {b} {c}");
            }
        }
    });
    let last = h.interval_snapshot();
    count += last.count();
    sum += last.sum();
    let want_sum: u64 = (0..THREADS)
        .flat_map(|t| (0..N).map(move |i| 1 + (i * 7 + t) % 5000))
        .sum();
    assert_eq!(count, THREADS * N);
    assert_eq!(sum, want_sum);
    assert_eq!(h.interval_snapshot().count(), 0);
}

#[test]
fn snapshots_merge_private_rows_while_recording() {
    // Enough shards that every recording thread (most likely) owns a private row: snapshots
    // taken while they record add the rows up, never go down, and end exact per bucket.
    const THREADS: u64 = 3;
    const N: u64 = 100_000;
    let h = Histogram::new(HistogramConfig::new(1, 1 << 20, 2).with_thread_shards(64)).unwrap();
    let (mut last_count, mut last_sum, mut last_small) = (0u64, 0u64, 0u64);
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..THREADS)
            .map(|t| {
                let h = h.clone();
                // Thread t records 10^t and 10^t + 100_000, alternately.
                s.spawn(move || {
                    for i in 0..N {
                        h.record(10u64.pow(t as u32) + (i % 2) * 100_000);
                    }
                })
            })
            .collect();
        while !hs.iter().all(|j| j.is_finished()) {
            let snap = h.snapshot();
            let small = snap.count_at_most(100);
            assert!(snap.count() >= last_count && small >= last_small);
            assert!(snap.sum() >= last_sum);
            assert!(snap.count() <= THREADS * N);
            (last_count, last_sum, last_small) = (snap.count(), snap.sum(), small);
        }
    });
    let snap = h.snapshot();
    assert_eq!(snap.count(), THREADS * N);
    let want_sum: u64 = (0..THREADS)
        .map(|t| N * 10u64.pow(t as u32) + (N / 2) * 100_000)
        .sum();
    assert_eq!(snap.sum(), want_sum);
    // 1, 10 and 100 each have a bucket of their own at two digits.
    assert_eq!(snap.count_at_most(1), N / 2);
    assert_eq!(snap.count_at_most(10), N);
    assert_eq!(snap.count_at_most(100), 3 * N / 2);
    assert_eq!((snap.min(), snap.max()), (Some(1), Some(100_100)));
}

#[test]
fn snapshot_into_reuses_and_adapts() {
    let a = Histogram::new(HistogramConfig::new(1, 1000, 2)).unwrap();
    let b = Histogram::new(HistogramConfig::new(1, 1 << 30, 3)).unwrap();
    a.record(3);
    b.record(1 << 29);
    let mut s = a.snapshot();
    b.snapshot_into(&mut s, false);
    assert_eq!(s.config(), b.config());
    assert_eq!(s.count(), 1);
    a.snapshot_into(&mut s, true);
    assert_eq!((s.count(), s.max()), (1, Some(3)));
    assert_eq!(a.snapshot().count(), 0);
}

/// The `ceil(q * n)`-th smallest value (1-based, at least the first).
fn reference_quantile(sorted: &[u64], q: f64) -> u64 {
    let n = sorted.len() as u64;
    let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
    sorted[rank as usize - 1]
}

fn check_quantiles(values: &[u64], config: HistogramConfig) -> Result<(), TestCaseError> {
    let h = Histogram::new(config).unwrap();
    for &v in values {
        h.record(v);
    }
    let s = h.snapshot();
    let mut sorted: Vec<u64> = values
        .iter()
        .map(|&v| v.clamp(config.lowest, config.highest))
        .collect();
    sorted.sort_unstable();
    prop_assert_eq!(s.count(), values.len() as u64);
    prop_assert_eq!(s.min(), sorted.first().copied());
    prop_assert_eq!(s.max(), sorted.last().copied());
    prop_assert_eq!(s.sum(), sorted.iter().sum::<u64>());
    // Stated precision: within 10^-digits relative, or `lowest` absolute for small values.
    let rel = 10f64.powi(-i32::from(config.significant_digits));
    for q in [0.0, 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0] {
        let want = reference_quantile(&sorted, q);
        let got = s.value_at_quantile(q).unwrap();
        let err = got.abs_diff(want) as f64;
        prop_assert!(
            err <= (want as f64 * rel).max(config.lowest as f64),
            "q={} got {} want {} ({:?})",
            q,
            got,
            want,
            config
        );
    }
    Ok(())
}

#[test]
fn quantiles_match_a_sorted_reference_on_fixed_data() {
    let values: Vec<u64> = (1..=100_000).collect();
    check_quantiles(&values, HistogramConfig::new(1, 1 << 40, 3)).unwrap();
    let s = {
        let h = Histogram::new(HistogramConfig::new(1, 1 << 40, 3)).unwrap();
        values.iter().for_each(|&v| h.record(v));
        h.snapshot()
    };
    assert_eq!(s.mean(), Some(50_000.5));
    for (p, want) in [
        (s.p50(), 50_000),
        (s.p90(), 90_000),
        (s.p99(), 99_000),
        (s.p999(), 99_900),
    ] {
        let got = p.unwrap();
        assert!(
            got.abs_diff(want) as f64 <= want as f64 * 1e-3,
            "{got} vs {want}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn quantiles_within_precision(
        values in prop::collection::vec(
            prop_oneof![0u64..5_000, 0u64..10_000_000, any::<u64>()], 1..400),
        lowest_pow in 0u32..12,
        digits in 1u8..=5,
        shards in 0usize..3,
    ) {
        let lowest = 1u64 << lowest_pow;
        let config = HistogramConfig::new(lowest, 1 << 50, digits).with_thread_shards(shards);
        check_quantiles(&values, config)?;
    }
}

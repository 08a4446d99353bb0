//! Welford/Chan statistics and normalisation: stability, merge laws, policies, columns.

mod common;
use common::{Rng, tiers};
use proptest::prelude::*;
use zerotick_kernels::{
    ColumnStats, KernelError, Kernels, Moments, NanPolicy, NormalizePolicy, ZeroVariance,
};

/// 1e9 + k / 1024 for integer k: every value exact in f64, so the true mean and variance come
/// from integer arithmetic (the higher-precision reference).
fn offset_data(n: usize, seed: u64) -> (Vec<f64>, f64, f64) {
    let mut rng = Rng::new(seed);
    let ks: Vec<i64> = (0..n)
        .map(|_| (rng.next_u64() % 4096) as i64 - 2048)
        .collect();
    let x = ks.iter().map(|k| 1e9 + *k as f64 / 1024.0).collect();
    let (sum, sumsq): (i128, i128) = ks.iter().fold((0, 0), |(s, q), k| {
        (s + *k as i128, q + (*k as i128).pow(2))
    });
    let n = n as f64;
    let mean_k = sum as f64 / n;
    let var_k = (sumsq as f64 - (sum as f64).powi(2) / n) / n;
    (x, 1e9 + mean_k / 1024.0, var_k / (1024.0 * 1024.0))
}

#[test]
fn stable_at_a_large_offset_where_the_naive_formula_fails() {
    for n in [1, 2, 255, 256, 257, 1024, 100_000] {
        let (x, mean, var) = offset_data(n, n as u64);
        for k in tiers() {
            let (m, _) = k.moments(&x, NanPolicy::Propagate);
            assert!(
                (m.mean - mean).abs() <= 1e9 * f64::EPSILON,
                "{:?} n={n}",
                k.tier()
            );
            let v = m.population_variance().unwrap();
            assert!(
                (v - var).abs() <= 1e-9 * var.max(1e-6),
                "{:?} n={n}: {v} vs {var}",
                k.tier()
            );
        }
        // The naive formula on the same data (shown failing, so the test above means something).
        if n >= 1024 {
            let s: f64 = x.iter().sum();
            let q: f64 = x.iter().map(|v| v * v).sum();
            let naive = q / n as f64 - (s / n as f64).powi(2);
            assert!(
                (naive - var).abs() > 0.1 * var,
                "naive formula unexpectedly fine"
            );
        }
    }
}

#[test]
fn streaming_push_is_stable_too() {
    // One value at a time (textbook Welford): stable, though each update rounds the running
    // mean at the offset's scale, so it is less exact than the blocked kernel.
    let (x, mean, var) = offset_data(5000, 9);
    let mut m = Moments::EMPTY;
    x.iter().for_each(|v| m.push(*v));
    assert_eq!(m.count, 5000);
    assert!((m.mean - mean).abs() <= 1e-14 * mean);
    assert!((m.population_variance().unwrap() - var).abs() <= 1e-6 * var);
}

proptest! {
    /// Merging the moments of two parts equals the moments of the whole.
    #[test]
    fn merge_equals_one_pass(x in proptest::collection::vec(-1e6f64..1e6, 0..600), cut in 0usize..600) {
        let k = Kernels::active();
        let cut = cut.min(x.len());
        let (a, _) = k.moments(&x[..cut], NanPolicy::Propagate);
        let (b, _) = k.moments(&x[cut..], NanPolicy::Propagate);
        let (all, _) = k.moments(&x, NanPolicy::Propagate);
        let merged = a.merge(&b);
        prop_assert_eq!(merged.count, all.count);
        prop_assert!((merged.mean - all.mean).abs() <= 1e-9 * (1.0 + all.mean.abs()));
        prop_assert!((merged.m2 - all.m2).abs() <= 1e-9 * (1.0 + all.m2));
    }
}

#[test]
fn nan_policies() {
    for k in tiers() {
        let mut x = vec![1.0, f64::NAN, 3.0, 5.0];
        let skip = NormalizePolicy {
            nan: NanPolicy::Skip,
            ..Default::default()
        };
        let r = k.normalize_in_place(&mut x, skip).unwrap();
        assert_eq!((r.moments.count, r.nan_count), (3, 1));
        assert!(x[1].is_nan());
        let sd = (8.0f64 / 3.0).sqrt();
        assert!((x[0] + 2.0 / sd).abs() < 1e-15 && x[2] == 0.0);

        let mut y = vec![1.0, f64::NAN, 3.0];
        let r = k
            .normalize_in_place(&mut y, NormalizePolicy::default())
            .unwrap();
        assert!(
            r.moments.mean.is_nan() && y.iter().all(|v| v.is_nan()),
            "propagate"
        );
    }
}

/// Skip runs the loops without NaN selects first and falls back to the skipping loops only
/// when the result is NaN: data without NaN must give Propagate's statistics bit for bit,
/// and NaNs in any block (the data spans three 2,048-value blocks) must still be left out.
#[test]
fn skip_is_propagate_without_nans_and_leaves_nans_out_in_any_block() {
    let bits = |m: Moments| (m.count, m.mean.to_bits(), m.m2.to_bits());
    for k in tiers() {
        let (x, _, _) = offset_data(5000, 11);
        let (p, pn) = k.moments(&x, NanPolicy::Propagate);
        let (s, sn) = k.moments(&x, NanPolicy::Skip);
        assert_eq!((bits(p), pn), (bits(s), sn), "{:?}", k.tier());

        for holes in [&[0usize][..], &[2100, 3000, 4999], &[10, 2047, 2048, 4500]] {
            let mut y = x.clone();
            for &i in holes {
                y[i] = f64::NAN;
            }
            let kept: Vec<f64> = y.iter().copied().filter(|v| !v.is_nan()).collect();
            let (want, _) = k.moments(&kept, NanPolicy::Propagate);
            let (got, nans) = k.moments(&y, NanPolicy::Skip);
            assert_eq!((got.count, nans), (want.count, holes.len() as u64));
            assert!(
                (got.mean - want.mean).abs() <= 1e-15 * want.mean,
                "{:?}",
                k.tier()
            );
            assert!(
                (got.m2 - want.m2).abs() <= 1e-12 * want.m2,
                "{:?}: {} vs {}",
                k.tier(),
                got.m2,
                want.m2
            );
        }

        // An infinity without NaN (the statistics come out NaN, so Skip takes its skipping
        // loops): Skip and Propagate still agree, with no NaN counted.
        let mut z = x.clone();
        z[3000] = f64::INFINITY;
        let (p, _) = k.moments(&z, NanPolicy::Propagate);
        let (s, sn) = k.moments(&z, NanPolicy::Skip);
        let same = |a: f64, b: f64| a == b || (a.is_nan() && b.is_nan());
        assert_eq!((s.count, sn), (p.count, 0));
        assert!(same(s.mean, p.mean) && same(s.m2, p.m2), "{s:?} vs {p:?}");
    }
}

#[test]
fn zero_variance_is_never_a_silent_division() {
    let k = Kernels::active();
    let mut x = vec![7.0; 10];
    let err = k
        .normalize_in_place(&mut x, NormalizePolicy::default())
        .unwrap_err();
    assert_eq!(err, KernelError::ZeroVariance);
    assert_eq!(x, vec![7.0; 10], "nothing written");
    let zero = NormalizePolicy {
        zero_variance: ZeroVariance::Zero,
        ..Default::default()
    };
    let r = k.normalize_tanh_scale_in_place(&mut x, zero, 3.0).unwrap();
    assert!(r.zero_variance && x.iter().all(|v| *v == 0.0));
    assert_eq!(
        k.normalize_in_place(&mut [], zero).unwrap_err(),
        KernelError::Empty
    );
    let mut all_nan = [f64::NAN; 3];
    let skip = NormalizePolicy {
        nan: NanPolicy::Skip,
        ..zero
    };
    assert_eq!(
        k.normalize_in_place(&mut all_nan, skip).unwrap_err(),
        KernelError::Empty
    );
}

#[test]
fn fused_pass_equals_the_three_steps() {
    let mut rng = Rng::new(5);
    let x: Vec<f64> = (0..1024).map(|_| rng.uniform(-3.0, 5.0)).collect();
    for k in tiers() {
        let mut fused = x.clone();
        k.normalize_tanh_scale_in_place(&mut fused, NormalizePolicy::default(), 0.5)
            .unwrap();
        let mut steps = x.clone();
        k.normalize_in_place(&mut steps, NormalizePolicy::default())
            .unwrap();
        k.tanh_in_place(&mut steps);
        k.scale_in_place(&mut steps, 0.5);
        assert!(
            fused.iter().zip(&steps).all(|(a, b)| a == b),
            "{:?}",
            k.tier()
        );
    }
}

#[test]
fn column_stats_match_per_column_reference_and_merge() {
    let (rows, width, stride) = (32, 37, 40);
    let mut rng = Rng::new(8);
    let data: Vec<f64> = (0..rows * stride)
        .map(|_| 1e6 + rng.uniform(-1.0, 1.0))
        .collect();
    for k in tiers() {
        let mut whole = ColumnStats::new(width);
        let mut first = ColumnStats::new(width);
        let mut second = ColumnStats::new(width);
        whole
            .update(&k, &data, rows, stride, NanPolicy::Skip)
            .unwrap();
        first
            .update(&k, &data[..10 * stride], 10, stride, NanPolicy::Skip)
            .unwrap();
        second
            .update(&k, &data[10 * stride..], rows - 10, stride, NanPolicy::Skip)
            .unwrap();
        first.merge(&second).unwrap();
        for j in 0..width {
            let mut reference = Moments::EMPTY;
            (0..rows).for_each(|r| reference.push(data[r * stride + j]));
            for got in [whole.moments(j).unwrap(), first.moments(j).unwrap()] {
                assert_eq!(got.count, rows as u64);
                assert!((got.mean - reference.mean).abs() < 1e-9);
                assert!((got.m2 - reference.m2).abs() < 1e-9 * reference.m2);
            }
        }
        let mut rows_copy = data.clone();
        whole
            .normalize_rows_in_place(&k, &mut rows_copy, rows, stride, ZeroVariance::Error)
            .unwrap();
        let mut col = ColumnStats::new(width);
        col.update(&k, &rows_copy, rows, stride, NanPolicy::Skip)
            .unwrap();
        for j in 0..width {
            let m = col.moments(j).unwrap();
            assert!(m.mean.abs() < 1e-9 && (m.population_variance().unwrap() - 1.0).abs() < 1e-9);
        }
        // Padding between rows is untouched.
        assert_eq!(rows_copy[width..stride], data[width..stride]);
    }
}

#[test]
fn column_stats_reject_bad_shapes() {
    let k = Kernels::active();
    let mut s = ColumnStats::new(4);
    assert!(matches!(
        s.update(&k, &[0.0; 7], 2, 4, NanPolicy::Skip),
        Err(KernelError::BadShape { .. })
    ));
    assert!(matches!(
        s.update(&k, &[0.0; 8], 2, 3, NanPolicy::Skip),
        Err(KernelError::BadShape { .. })
    ));
    assert!(s.update(&k, &[0.0; 7], 2, 3, NanPolicy::Skip).is_err());
    assert!(s.update(&k, &[1.0; 8], 2, 4, NanPolicy::Skip).is_ok());
    assert_eq!(
        s.normalize_rows_in_place(&k, &mut [1.0; 4], 1, 4, ZeroVariance::Error),
        Err(KernelError::ZeroVariance)
    );
    assert!(s.merge(&ColumnStats::new(5)).is_err());
}

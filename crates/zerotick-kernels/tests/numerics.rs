//! Statistics at the numeric edges (issue 12, section 2): huge, tiny, offset and constant
//! data, on every tier. The rule: a finite input never yields `Ok` with a non-finite result,
//! and the variance is accurate to 1e-12 relative at offsets up to 1e12 x the spread.
//!
//! References are exact: every `f64` is an integer multiple of 2^-1074, so sums of values and
//! of squared deviations are computed in exact fixed point over `i128` limbs after scaling
//! (see [`exact_moments`]); only the final division rounds.

mod common;
use common::{Rng, tiers};
use zerotick_kernels::{
    ColumnStats, KernelError, Kernels, NanPolicy, NormalizePolicy, Tier, ZeroVariance,
};

/// Error-free sum `a + b = s + e` (Knuth's two-sum).
fn two_sum(a: f64, b: f64) -> (f64, f64) {
    let s = a + b;
    let bb = s - a;
    (s, (a - (s - bb)) + (b - bb))
}

/// Error-free product `a * b = p + e` (FMA).
fn two_prod(a: f64, b: f64) -> (f64, f64) {
    let p = a * b;
    (p, a.mul_add(b, -p))
}

/// A double-double accumulator (about 106 bits): the reference mean and variance.
#[derive(Clone, Copy, Default)]
struct Dd(f64, f64);

impl Dd {
    fn add(self, x: f64) -> Dd {
        let (s, e) = two_sum(self.0, x);
        let (hi, lo) = two_sum(s, e + self.1);
        Dd(hi, lo)
    }
    fn add_dd(self, o: Dd) -> Dd {
        self.add(o.0).add(o.1)
    }
    fn div_f64(self, x: f64) -> Dd {
        let q = self.0 / x;
        // One Newton correction: the residual self - q * x, exactly enough.
        let (p, e) = two_prod(q, x);
        let r = ((self.0 - p) - e + self.1) / x;
        let (hi, lo) = two_sum(q, r);
        Dd(hi, lo)
    }
    fn sq(self) -> Dd {
        let (p, e) = two_prod(self.0, self.0);
        let (hi, lo) = two_sum(p, e + 2.0 * self.0 * self.1);
        Dd(hi, lo)
    }
    fn neg(self) -> Dd {
        Dd(-self.0, -self.1)
    }
}

/// Reference `(mean, population variance)` in double-double: the mean to ~1e-32 relative,
/// then the squared deviations from it, each in double-double. Data must be finite with
/// squares in range (the tests scale first where they need to). Error ~1e-30 relative,
/// far below the 1e-12 tolerance tested.
fn reference(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let mean = x.iter().fold(Dd::default(), |a, v| a.add(*v)).div_f64(n);
    let m2 = x.iter().fold(Dd::default(), |a, v| {
        let d = Dd(*v, 0.0).add_dd(mean.neg());
        a.add_dd(d.sq())
    });
    (mean.0 + mean.1, m2.div_f64(n).0)
}

fn rel(got: f64, want: f64) -> f64 {
    if got == want {
        0.0
    } else {
        ((got - want) / want).abs()
    }
}

/// Issue 12's case: x_i = 1e9 + sin(0.1 i), i < 600.
#[test]
fn variance_of_the_issue_sine_at_1e9() {
    let x: Vec<f64> = (0..600).map(|i| 1e9 + (0.1 * i as f64).sin()).collect();
    let (_, var) = reference(&x);
    assert!(rel(var, 0.4964377466869496) < 1e-15, "reference {var}");
    for k in tiers() {
        let (m, _) = k.moments(&x, NanPolicy::Propagate);
        let v = m.population_variance().unwrap();
        assert!(rel(v, var) <= 1e-12, "{}: {v} vs {var}", k.tier());
    }
}

/// Offset data up to 1e12 x the spread, lengths around block and lane edges: the variance
/// within 1e-12 relative. Why 1e-12: after the exact shift the problem is well conditioned;
/// the kernel's error is a few roundings of the small deviations (~n * 2^-53 worst case,
/// 1e-11 at n = 1e5 in the worst case, ~1e-14 typical with pairwise partial sums); at
/// offsets of 1e12 x spread a method that rounds a mean at the data's magnitude is off by
/// 1e-4 relative, so the bound separates the two by eight orders.
#[test]
fn moments_accurate_at_offsets_up_to_1e12_times_the_spread() {
    let mut rng = Rng::new(12);
    for offset in [0.0, 1.0, 1e6, 1e9, 1e12, -1e12] {
        for n in [2, 3, 255, 256, 257, 600, 1023, 4097, 100_000] {
            let x: Vec<f64> = (0..n).map(|_| offset + rng.uniform(-1.0, 1.0)).collect();
            let (mean, var) = reference(&x);
            for k in tiers() {
                let (m, _) = k.moments(&x, NanPolicy::Propagate);
                let v = m.population_variance().unwrap();
                assert!(
                    rel(v, var) <= 1e-12,
                    "{} offset {offset:e} n {n}: {v} vs {var} ({:e})",
                    k.tier(),
                    rel(v, var)
                );
                // One rounding at the mean's magnitude plus a few of the (unit) spread.
                assert!(
                    (m.mean - mean).abs() <= f64::EPSILON * (mean.abs() + 4.0),
                    "{} offset {offset:e} n {n}: mean {} vs {mean}",
                    k.tier(),
                    m.mean
                );
            }
        }
    }
}

/// The same for ColumnStats, fed in batches of uneven sizes (the Chan merges between
/// batches are where a rounded running mean costs digits), and merged across states.
#[test]
fn column_stats_accurate_at_offsets_up_to_1e12_times_the_spread() {
    let (width, stride) = (9, 11);
    let mut rng = Rng::new(13);
    for offset in [0.0, 1e9, 1e12, -1e12] {
        let rows = 600;
        let data: Vec<f64> = (0..rows * stride)
            .map(|i| offset * (1.0 + (i % stride) as f64) + rng.uniform(-1.0, 1.0))
            .collect();
        for k in tiers() {
            let mut s = ColumnStats::new(width);
            let mut other = ColumnStats::new(width);
            let mut r = 0;
            for (i, take) in [1, 7, 32, 100, 3, 250, 207].into_iter().enumerate() {
                let chunk = &data[r * stride..(r + take) * stride];
                let target = if i % 2 == 0 { &mut s } else { &mut other };
                target
                    .update(&k, chunk, take, stride, NanPolicy::Skip)
                    .unwrap();
                r += take;
            }
            assert_eq!(r, rows);
            s.merge(&other).unwrap();
            for j in 0..width {
                let col: Vec<f64> = (0..rows).map(|r| data[r * stride + j]).collect();
                let (mean, var) = reference(&col);
                let m = s.moments(j).unwrap();
                let v = m.population_variance().unwrap();
                assert!(
                    rel(v, var) <= 1e-12,
                    "{} offset {offset:e} col {j}: {v} vs {var} ({:e})",
                    k.tier(),
                    rel(v, var)
                );
                // One rounding at the mean's magnitude plus a few of the (unit) spread.
                assert!(
                    (m.mean - mean).abs() <= f64::EPSILON * (mean.abs() + 4.0),
                    "{} offset {offset:e} col {j}: mean {} vs {mean}",
                    k.tier(),
                    m.mean
                );
            }
        }
    }
}

/// Issue 12: one row [1e155] gave m2 = NaN (inf * 0 in the merge); normalising then wrote NaN
/// and returned Ok.
#[test]
fn column_stats_of_one_huge_row_have_zero_m2() {
    for k in tiers() {
        for v in [1e155, -1e155, 1e300, f64::MAX, 5e-324] {
            let mut s = ColumnStats::new(1);
            s.update(&k, &[v], 1, 1, NanPolicy::Skip).unwrap();
            let m = s.moments(0).unwrap();
            assert_eq!((m.count, m.mean, m.m2), (1, v, 0.0), "{} {v:e}", k.tier());
            let mut row = [v];
            assert_eq!(
                s.normalize_rows_in_place(&k, &mut row, 1, 1, ZeroVariance::Error),
                Err(KernelError::ZeroVariance)
            );
            s.normalize_rows_in_place(&k, &mut row, 1, 1, ZeroVariance::Zero)
                .unwrap();
            assert_eq!(row, [0.0], "{} {v:e}", k.tier());
        }
    }
}

/// Issue 12: moments(&[1e200; 1000]) gave m2 = NaN and normalize_in_place wrote NaN with Ok.
#[test]
fn constant_data_at_any_magnitude_has_zero_variance() {
    for k in tiers() {
        for v in [
            1e200,
            -1e300,
            f64::MAX,
            1e155,
            1e-300,
            5e-324,
            0.1,
            1e9 + 0.1,
        ] {
            for n in [1, 7, 256, 1000, 4099] {
                let x = vec![v; n];
                let (m, _) = k.moments(&x, NanPolicy::Propagate);
                assert_eq!(
                    (m.count, m.mean, m.m2),
                    (n as u64, v, 0.0),
                    "{} {v:e}",
                    k.tier()
                );
                let mut y = x.clone();
                assert_eq!(
                    k.normalize_in_place(&mut y, NormalizePolicy::default()),
                    Err(KernelError::ZeroVariance),
                    "{} {v:e} n {n}",
                    k.tier()
                );
                assert_eq!(y, x, "nothing written");
            }
        }
    }
}

/// Finite data at any scale: normalising gives finite z-scores with mean 0 and variance 1,
/// or a typed error; never Ok with NaN or infinity.
#[test]
fn normalize_is_finite_and_correct_for_huge_and_tiny_data() {
    let mut rng = Rng::new(14);
    for scale in [
        1e-310, 1e-300, 1e-200, 1e-160, 1.0, 1e150, 1e160, 1e200, 1e300, 1e307,
    ] {
        for n in [2, 5, 300, 1000] {
            let base: Vec<f64> = (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect();
            let x: Vec<f64> = base.iter().map(|b| b * scale).collect();
            for k in tiers() {
                for fused in [false, true] {
                    let mut y = x.clone();
                    let r = if fused {
                        k.normalize_tanh_scale_in_place(&mut y, NormalizePolicy::default(), 1.0)
                    } else {
                        k.normalize_in_place(&mut y, NormalizePolicy::default())
                    };
                    let r = r.unwrap_or_else(|e| panic!("{} scale {scale:e} n {n}: {e}", k.tier()));
                    assert!(!r.zero_variance);
                    assert!(
                        y.iter().all(|v| v.is_finite()),
                        "{} scale {scale:e} n {n}: non-finite output",
                        k.tier()
                    );
                    if fused {
                        continue;
                    }
                    // z-scores of x equal those of `base` (exactly scaled) up to rounding;
                    // subnormal inputs keep fewer bits, so the bound widens there.
                    let (bm, bv) = reference(&base);
                    let tol = if scale < 1e-300 { 1e-5 } else { 1e-12 };
                    for (b, z) in base.iter().zip(&y) {
                        let want = (b - bm) / bv.sqrt();
                        assert!(
                            (z - want).abs() <= tol * (1.0 + want.abs()),
                            "{} scale {scale:e} n {n}: {z} vs {want}",
                            k.tier()
                        );
                    }
                }
            }
        }
    }
}

/// Data spanning the whole range, where `x - mean` itself overflows: still finite z-scores.
#[test]
fn normalize_spanning_plus_minus_max() {
    for k in tiers() {
        let mut y = [f64::MAX, -f64::MAX, f64::MAX, -f64::MAX];
        k.normalize_in_place(&mut y, NormalizePolicy::default())
            .unwrap();
        assert_eq!(y, [1.0, -1.0, 1.0, -1.0], "{}", k.tier());
    }
}

/// NaN and infinities are data: they still flow through (Propagate) as before.
#[test]
fn non_finite_input_still_propagates() {
    for k in tiers() {
        for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let mut y = [1.0, bad, 3.0];
            let r = k.normalize_in_place(&mut y, NormalizePolicy::default());
            if let Ok(r) = r {
                assert!(!r.moments.mean.is_finite() || !r.moments.m2.is_finite());
                assert!(y.iter().all(|v| v.is_nan()), "{} {bad}: {y:?}", k.tier());
            }
        }
    }
}

/// `ColumnStats` at extreme magnitudes: a finite input never gives Ok with a non-finite
/// result. A column whose squared deviations overflow `f64` is a typed error.
#[test]
fn column_stats_never_ok_with_non_finite_from_finite() {
    for k in tiers() {
        for scale in [1e-300, 1.0, 1e150, 1e160, 1e300] {
            let data = [scale, -scale, 0.5 * scale, scale];
            let mut s = ColumnStats::new(1);
            s.update(&k, &data, 4, 1, NanPolicy::Skip).unwrap();
            let mut out = data;
            match s.normalize_rows_in_place(&k, &mut out, 4, 1, ZeroVariance::Zero) {
                Ok(()) => assert!(
                    out.iter().all(|v| v.is_finite()) && out[0] != out[1],
                    "{} scale {scale:e}: {out:?}",
                    k.tier()
                ),
                Err(e) => {
                    assert_eq!(e, KernelError::OutOfRange, "{} scale {scale:e}", k.tier());
                    assert_eq!(out, data, "nothing written");
                }
            }
        }
    }
}

#[test]
fn scalar_tier_is_always_available() {
    assert!(Kernels::new(Tier::Scalar).is_ok());
}

/// `mean` of finite values is finite even where their sum overflows.
#[test]
fn mean_of_huge_values_is_finite() {
    for k in tiers() {
        for n in [2, 3, 33, 1000] {
            let x = vec![f64::MAX; n];
            // The scaled sum and the division each round once: within 2 ULP of MAX.
            let m = k.mean(&x).unwrap();
            assert!(
                m.is_finite() && m >= f64::MAX * (1.0 - 2.0 * f64::EPSILON),
                "{} n {n}: {m}",
                k.tier()
            );
            let mixed: Vec<f64> = (0..n)
                .map(|i| if i % 2 == 0 { 1e308 } else { 1.5e308 })
                .collect();
            let m = k.mean(&mixed).unwrap();
            assert!(
                m.is_finite() && m > 1e308 && m < 1.5e308,
                "{} n {n}: {m}",
                k.tier()
            );
        }
        assert!(k.mean(&[f64::INFINITY, 1.0]).unwrap().is_infinite());
        assert!(k.mean(&[f64::NAN, 1.0]).unwrap().is_nan());
    }
}

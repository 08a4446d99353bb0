//! Every tier against the scalar reference and a plain loop, at awkward lengths, unaligned
//! starts, magnitudes from 1e-300 to 1e300, NaN and infinities.

mod common;
use common::{Rng, SPECIALS, tiers, ulps};
use zerotick_kernels::{KernelError, Kernels, Tier};

const LENGTHS: [usize; 11] = [0, 1, 3, 4, 5, 7, 8, 9, 33, 1023, 4096];

/// Data of length `n` starting `offset` elements into its allocation (unaligned for odd
/// offsets), mixing magnitudes and special values.
fn data(seed: u64, n: usize, offset: usize) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    let mut v = vec![0.0; offset];
    for i in 0..n {
        let x = match i % 7 {
            0 => SPECIALS[(rng.next_u64() % SPECIALS.len() as u64) as usize],
            1 => rng.any_finite(),
            2 => rng.uniform(-1e300, 1e300),
            3 => rng.uniform(-1e-300, 1e-300),
            _ => rng.uniform(-10.0, 10.0),
        };
        v.push(x);
    }
    v
}

fn scalar() -> Kernels {
    Kernels::new(Tier::Scalar).unwrap()
}

fn same(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| ulps(*x, *y) == 0)
}

#[test]
fn exact_ops_match_a_plain_loop_on_every_tier() {
    for k in tiers() {
        for n in LENGTHS {
            for offset in [0, 1, 3] {
                let xs = data(n as u64 + 1, n, offset);
                let ys = data(n as u64 + 99, n, offset);
                let (x, y) = (&xs[offset..], &ys[offset..]);
                let plain = |f: fn(f64, f64) -> f64| {
                    x.iter().zip(y).map(|(a, b)| f(*a, *b)).collect::<Vec<_>>()
                };

                let mut v = x.to_vec();
                k.add_in_place(&mut v, y).unwrap();
                assert!(same(&v, &plain(|a, b| a + b)), "{:?} add n={n}", k.tier());
                let mut out = vec![0.0; n];
                k.sub_into(&mut out, x, y).unwrap();
                assert!(same(&out, &plain(|a, b| a - b)), "{:?} sub n={n}", k.tier());
                k.mul_into(&mut out, x, y).unwrap();
                assert!(same(&out, &plain(|a, b| a * b)), "{:?} mul n={n}", k.tier());

                let mut v = x.to_vec();
                k.scale_in_place(&mut v, -0.5);
                assert!(same(&v, &x.iter().map(|a| a * -0.5).collect::<Vec<_>>()));
                k.abs_into(&mut out, x).unwrap();
                assert!(same(&out, &x.iter().map(|a| a.abs()).collect::<Vec<_>>()));
                let mut v = x.to_vec();
                k.clamp_in_place(&mut v, -1.0, 2.0).unwrap();
                let clamped: Vec<f64> = x
                    .iter()
                    .map(|a| if a.is_nan() { *a } else { a.clamp(-1.0, 2.0) })
                    .collect();
                assert!(same(&v, &clamped), "{:?} clamp n={n}", k.tier());
            }
        }
    }
}

#[test]
fn reductions_match_the_scalar_tier_exactly() {
    let s = scalar();
    for k in tiers() {
        for n in LENGTHS {
            let xs = data(n as u64 + 7, n, 1);
            let x = &xs[1..];
            assert_eq!(ulps(k.sum(x), s.sum(x)), 0, "{:?} sum n={n}", k.tier());
            assert_eq!(k.min(x).map(f64::to_bits), s.min(x).map(f64::to_bits));
            assert_eq!(k.max(x).map(f64::to_bits), s.max(x).map(f64::to_bits));
        }
    }
}

#[test]
fn reductions_agree_with_a_plain_loop() {
    let mut rng = Rng::new(3);
    for k in tiers() {
        for n in LENGTHS {
            let x: Vec<f64> = (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect();
            let y: Vec<f64> = (0..n).map(|_| rng.uniform(-1.0, 1.0)).collect();
            // Reassociated sums of n values in [-1, 1]: error below n * eps * max partial.
            let tol = n as f64 * f64::EPSILON * 2.0;
            assert!((k.sum(&x) - x.iter().sum::<f64>()).abs() <= tol);
            let plain_dot: f64 = x.iter().zip(&y).map(|(a, b)| a * b).sum();
            assert!((k.dot(&x, &y).unwrap() - plain_dot).abs() <= tol);
            let fold = |f: fn(f64, f64) -> f64, init| x.iter().copied().fold(init, f);
            assert_eq!(k.min(&x), (n > 0).then(|| fold(f64::min, f64::INFINITY)));
            assert_eq!(
                k.max(&x),
                (n > 0).then(|| fold(f64::max, f64::NEG_INFINITY))
            );
            assert_eq!(k.mean(&x).is_none(), n == 0);
        }
    }
}

#[test]
fn nan_propagates_through_min_max_and_sum() {
    for k in tiers() {
        let mut x = vec![1.0; 100];
        x[57] = f64::NAN;
        assert!(k.min(&x).unwrap().is_nan() && k.max(&x).unwrap().is_nan() && k.sum(&x).is_nan());
        x[57] = f64::INFINITY;
        assert_eq!(k.max(&x), Some(f64::INFINITY));
    }
}

#[test]
fn fused_ops_are_within_one_rounding_of_the_reference() {
    let mut rng = Rng::new(11);
    for k in tiers() {
        for n in LENGTHS {
            let x: Vec<f64> = (0..n).map(|_| rng.uniform(-1e3, 1e3)).collect();
            let m: Vec<f64> = (0..n).map(|_| rng.uniform(-1e3, 1e3)).collect();
            let a: Vec<f64> = (0..n).map(|_| rng.uniform(-1e3, 1e3)).collect();
            let mut v = x.clone();
            k.fma_in_place(&mut v, &m, &a).unwrap();
            let mut y = a.clone();
            k.axpy(&mut y, 0.25, &x).unwrap();
            for i in 0..n {
                // Fused (one rounding) or not (two): differ by at most one rounding of x*m.
                let tol = (x[i] * m[i]).abs() * f64::EPSILON + a[i].abs() * f64::EPSILON;
                assert!(
                    (v[i] - x[i].mul_add(m[i], a[i])).abs() <= tol,
                    "{:?}",
                    k.tier()
                );
                let tol = (0.25 * x[i]).abs() * f64::EPSILON + a[i].abs() * f64::EPSILON;
                assert!((y[i] - 0.25f64.mul_add(x[i], a[i])).abs() <= tol);
            }
        }
    }
}

#[test]
fn bad_input_is_an_error_and_writes_nothing() {
    let k = Kernels::active();
    let mut x = vec![1.0; 4];
    let err = k.add_in_place(&mut x, &[1.0; 3]).unwrap_err();
    assert_eq!(
        err,
        KernelError::LengthMismatch {
            expected: 4,
            got: 3
        }
    );
    assert!(k.dot(&x, &[1.0]).is_err());
    assert!(k.axpy(&mut x, 1.0, &[]).is_err());
    assert!(k.fma_in_place(&mut x, &[1.0; 4], &[1.0; 5]).is_err());
    assert!(matches!(
        k.clamp_in_place(&mut x, 2.0, 1.0),
        Err(KernelError::InvalidBounds { .. })
    ));
    assert!(k.clamp_in_place(&mut x, f64::NAN, 1.0).is_err());
    assert_eq!(x, vec![1.0; 4]);
    assert!(k.mean(&[]).is_none() && k.min(&[]).is_none());
}

#[test]
fn forcing_tiers() {
    use zerotick_kernels::{active_tier, best_supported_tier, force_tier};
    for t in Tier::ALL {
        match force_tier(Some(t)) {
            Ok(()) => assert_eq!(active_tier(), t),
            Err(e) => assert!(!t.is_supported(), "{e}"),
        }
    }
    force_tier(None).unwrap();
    assert!(active_tier() <= best_supported_tier());
}

/// `dots_into` gives `dot`'s bits for every pair (signed zeros included; NaN as NaN), at
/// widths around the 32-lane chunk and the 256-element block, odd row counts and vector
/// counts that are not a multiple of four; and refuses shapes that do not fit.
#[test]
fn dots_into_is_dot_for_every_pair() {
    let same_bits = |a: f64, b: f64| a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan());
    for k in tiers() {
        for (seed, &len) in [1, 3, 31, 32, 33, 255, 256, 257, 1024, 1031]
            .iter()
            .enumerate()
        {
            for (rows, m) in [(1, 1), (1, 4), (2, 3), (3, 5), (5, 16), (4, 9)] {
                let seed = seed as u64 * 100 + rows as u64 * 10 + m as u64;
                // Ordinary data for most cases; every third one mixes in specials and extremes.
                let (x, w) = if seed.is_multiple_of(3) {
                    (data(seed, rows * len, 0), data(seed + 1, m * len, 0))
                } else {
                    let mut rng = Rng::new(seed);
                    let mut v = |n: usize| (0..n).map(|_| rng.uniform(-3.0, 3.0)).collect();
                    let x: Vec<f64> = v(rows * len);
                    (x, v(m * len))
                };
                let mut out = vec![7.0; rows * m];
                k.dots_into(&x, &w, len, &mut out).unwrap();
                for i in 0..rows {
                    for j in 0..m {
                        let d = k
                            .dot(&x[i * len..(i + 1) * len], &w[j * len..(j + 1) * len])
                            .unwrap();
                        let got = out[i * m + j];
                        assert!(
                            same_bits(got, d),
                            "{:?} len {len} rows {rows} m {m} ({i}, {j}): {got:e} vs dot {d:e}",
                            k.tier()
                        );
                    }
                }
            }
        }
        // -0.0 products: dot and dots_into agree on the sign of an all-negative-zero sum.
        let mut out = [1.0];
        k.dots_into(&[-0.0; 40], &[1.0; 40], 40, &mut out).unwrap();
        assert!(same_bits(out[0], k.dot(&[-0.0; 40], &[1.0; 40]).unwrap()));
        // Shapes that do not fit: nothing written.
        let mut out = [5.0; 2];
        let bad = |r: Result<(), KernelError>| matches!(r, Err(KernelError::BadShape { .. }));
        assert!(bad(k.dots_into(&[1.0; 7], &[1.0; 6], 3, &mut out)));
        assert!(bad(k.dots_into(&[1.0; 6], &[1.0; 7], 3, &mut out)));
        assert!(bad(k.dots_into(&[1.0; 6], &[1.0; 6], 3, &mut out[..1])));
        assert!(bad(k.dots_into(&[1.0; 6], &[1.0; 6], 0, &mut out)));
        assert_eq!(out, [5.0; 2]);
        let mut none: [f64; 0] = [];
        assert!(k.dots_into(&[], &[1.0; 6], 3, &mut none).is_ok());
        assert!(k.dots_into(&[], &[], 0, &mut none).is_ok());
    }
}

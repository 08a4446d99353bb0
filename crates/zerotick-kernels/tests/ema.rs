//! `Kernels::ema_fold` (the closed-form block update of a bank of EMAs) against the
//! recursion it replaces and against the scalar tier, on every tier this CPU runs.

mod common;
use common::{Rng, tiers};
use zerotick_kernels::{EmaBank, KernelError, Kernels, MAX_EMA_BLOCK, Tier};

/// The definition: `e <- e + a (x - e)` per input, oldest first.
fn recursive(alphas: &[f64], state: &mut [f64], inputs: &[f64], stride: usize, m: usize) {
    let h = alphas.len();
    for (s, e) in state.chunks_exact_mut(h).enumerate() {
        for x in &inputs[s * stride..s * stride + m] {
            for (ej, a) in e.iter_mut().zip(alphas) {
                *ej += a * (x - *ej);
            }
        }
    }
}

/// Alphas from 1 (the EMA is the last input) down to 1e-3 (a ~2,000-input memory).
fn alphas(h: usize, rng: &mut Rng) -> Vec<f64> {
    (0..h)
        .map(|j| match j % 4 {
            0 => 1.0,
            1 => 1e-3,
            _ => rng.uniform(1e-3, 1.0),
        })
        .collect()
}

/// Tolerance of a fold of `m` inputs against the recursion: the fold rounds `m + 1` products
/// and `m + 1` sums (weights < 1, summing with the decay to 1), the recursion 3 operations per
/// input damped by `1 - a`; each is within `(m + 2) eps` of the exact value relative to the
/// stream's scale (the largest of `|e|` and `|x|`); the weights' own rounding (`powi`, a few
/// eps each) is covered by the factor 4.
fn tol(m: usize, scale: f64) -> f64 {
    4.0 * (m as f64 + 2.0) * f64::EPSILON * scale
}

#[test]
fn every_tier_matches_the_recursion_at_awkward_shapes_and_magnitudes() {
    let mut rng = Rng::new(0xe3a);
    for k in tiers() {
        for h in [1, 3, 4, 7, 8, 9, 31, 32, 33, 64, 70] {
            let al = alphas(h, &mut rng);
            let max_block = 70;
            let bank = EmaBank::new(&al, max_block).unwrap();
            for streams in [0, 1, 3, 8] {
                for m in [0, 1, 2, 3, 5, 7, 8, 9, 17, 64, 70] {
                    for mag in [1e-300, 1e-5, 1.0, 1e9, 1e300] {
                        let stride = m + 3;
                        let inputs: Vec<f64> = (0..streams * stride)
                            .map(|_| mag * rng.uniform(-1.0, 1.0))
                            .collect();
                        let start: Vec<f64> = (0..streams * h)
                            .map(|_| mag * rng.uniform(-1.0, 1.0))
                            .collect();
                        let mut got = start.clone();
                        k.ema_fold(&bank, &mut got, &inputs, stride, m).unwrap();
                        let mut want = start.clone();
                        recursive(&al, &mut want, &inputs, stride, m);
                        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                            let t = tol(m, mag);
                            assert!(
                                (g - w).abs() <= t,
                                "{} h={h} streams={streams} m={m} mag={mag:e} [{i}]: \
                                 {g:e} vs {w:e} (tol {t:e})",
                                k.tier()
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn every_tier_matches_the_scalar_tier() {
    let scalar = Kernels::new(Tier::Scalar).unwrap();
    let mut rng = Rng::new(17);
    let al = alphas(32, &mut rng);
    let bank = EmaBank::new(&al, 64).unwrap();
    for k in tiers() {
        for m in [1, 5, 63, 64] {
            let inputs: Vec<f64> = (0..8 * 64).map(|_| rng.uniform(-3.0, 3.0)).collect();
            let start: Vec<f64> = (0..8 * 32).map(|_| rng.uniform(-3.0, 3.0)).collect();
            let (mut a, mut b) = (start.clone(), start.clone());
            k.ema_fold(&bank, &mut a, &inputs, 64, m).unwrap();
            scalar.ema_fold(&bank, &mut b, &inputs, 64, m).unwrap();
            for (x, y) in a.iter().zip(&b) {
                // FMA vs separate multiply and add: half an ULP per product.
                assert!(
                    (x - y).abs() <= tol(m, 3.0) / 2.0,
                    "{}: {x} vs {y}",
                    k.tier()
                );
            }
        }
    }
}

#[test]
fn repeated_folds_track_a_long_recursion() {
    // Many blocks in a row: errors must not grow (the fold is a contraction).
    let mut rng = Rng::new(5);
    let al: Vec<f64> = (0..32)
        .map(|h| 2.0 / (2f64.powf(f64::from(h) / 4.0) + 1.0))
        .collect();
    let bank = EmaBank::new(&al, 64).unwrap();
    for k in tiers() {
        let mut got = vec![0.0; 32];
        let mut want = vec![0.0; 32];
        for _ in 0..2_000 {
            let x: Vec<f64> = (0..64).map(|_| rng.uniform(-1.0, 1.0)).collect();
            k.ema_fold(&bank, &mut got, &x, 64, 64).unwrap();
            recursive(&al, &mut want, &x, 64, 64);
        }
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() <= 1e-13, "{}: {g} vs {w}", k.tier());
        }
    }
}

#[test]
fn non_finite_inputs_stay_in_their_stream() {
    let bank = EmaBank::new(&[0.5, 0.1], 4).unwrap();
    for k in tiers() {
        let mut state = [0.0; 6];
        let inputs = [1.0, f64::NAN, 1.0, 1.0, f64::INFINITY, 0.0];
        k.ema_fold(&bank, &mut state, &inputs, 2, 2).unwrap();
        assert!(state[..2].iter().all(|v| v.is_nan()), "{}", k.tier());
        assert!(state[2..4].iter().all(|v| v.is_finite()), "{}", k.tier());
        assert!(state[4] == f64::INFINITY && state[5] == f64::INFINITY);
    }
}

#[test]
fn bad_banks_and_shapes_are_errors_and_write_nothing() {
    assert_eq!(EmaBank::new(&[], 4), Err(KernelError::Empty));
    assert_eq!(EmaBank::new(&[0.5], 0), Err(KernelError::Empty));
    // A block past the bound is an error, not a capacity overflow or an abort.
    for huge in [MAX_EMA_BLOCK + 1, usize::MAX / 2, usize::MAX] {
        assert_eq!(
            EmaBank::new(&[0.5], huge),
            Err(KernelError::LengthMismatch {
                expected: MAX_EMA_BLOCK,
                got: huge
            })
        );
    }
    for bad in [0.0, -0.1, 1.5, f64::NAN] {
        assert!(matches!(
            EmaBank::new(&[0.5, bad], 4),
            Err(KernelError::InvalidBounds { .. })
        ));
    }
    let bank = EmaBank::new(&[0.5, 0.25], 4).unwrap();
    assert_eq!(bank.horizons(), 2);
    assert_eq!(bank.max_block(), 4);
    let k = Kernels::active();
    let mut state = [7.0; 4];
    assert_eq!(
        k.ema_fold(&bank, &mut state[..3], &[0.0; 8], 4, 1),
        Err(KernelError::LengthMismatch {
            expected: 4,
            got: 3
        })
    );
    assert_eq!(
        k.ema_fold(&bank, &mut state, &[0.0; 10], 5, 5),
        Err(KernelError::LengthMismatch {
            expected: 4,
            got: 5
        })
    );
    assert!(matches!(
        k.ema_fold(&bank, &mut state, &[0.0; 6], 4, 3),
        Err(KernelError::BadShape { .. })
    ));
    assert!(matches!(
        k.ema_fold(&bank, &mut state, &[0.0; 8], 2, 3),
        Err(KernelError::BadShape { .. })
    ));
    // A stride whose rows would end past usize::MAX: an error, not an overflow.
    for stride in [usize::MAX, usize::MAX / 2 + 1] {
        assert!(matches!(
            k.ema_fold(&bank, &mut state, &[0.0; 8], stride, 3),
            Err(KernelError::BadShape { .. })
        ));
    }
    assert_eq!(state, [7.0; 4]);
    // Two streams of 3 inputs, stride 4, last row short of its stride: fits.
    k.ema_fold(&bank, &mut state, &[1.0; 7], 4, 3).unwrap();
    assert_eq!(state[0], 7.0 * 0.125 + 1.0 - 0.125);
}

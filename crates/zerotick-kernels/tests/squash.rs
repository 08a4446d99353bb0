//! `tanh_fast`, `tanh_rational` and `tanh_f32` against `f64::tanh` on every tier this CPU runs: the
//! documented error bounds over millions of random bit patterns (every magnitude,
//! subnormals, NaN, infinities), dense samples where tanh bends, and the special values.

mod common;
use common::{Rng, SPECIALS, tiers};
use zerotick_kernels::{
    KernelError, Kernels, Squash, TANH_F32_MAX_REL_ERR, TANH_FAST_MAX_REL_ERR,
    TANH_RATIONAL_MAX_REL_ERR, Tier,
};

/// std's `tanh` is within about 1 ULP of the exact value: allow that on top of the bound.
const TOL: f64 = TANH_FAST_MAX_REL_ERR + 2.0 * f64::EPSILON;
/// The same for `tanh_rational`.
const TOL_RATIONAL: f64 = TANH_RATIONAL_MAX_REL_ERR + 2.0 * f64::EPSILON;

/// The same for `tanh_f32`.
const TOL_F32: f64 = TANH_F32_MAX_REL_ERR + 2.0 * f64::EPSILON;

/// The three cheaper squashes, with their tolerances.
const CHEAP: [(Squash, f64); 3] = [
    (Squash::TanhFast, TOL),
    (Squash::TanhRational, TOL_RATIONAL),
    (Squash::TanhF32, TOL_F32),
];

/// Largest relative error of `k.squash_in_place(.., squash)` over `inputs` (NaN,
/// infinities and the sign of zero are checked exactly) and the input where it occurs.
fn worst_of(k: &Kernels, squash: Squash, inputs: &[f64]) -> (f64, f64) {
    let mut out = inputs.to_vec();
    k.squash_in_place(&mut out, squash);
    let mut worst = (0.0, 0.0);
    for (x, y) in inputs.iter().zip(&out) {
        let want = x.tanh();
        if x.is_nan() {
            assert!(y.is_nan(), "{}: tanh_fast(NaN) = {y}", k.tier());
            continue;
        }
        assert_eq!(
            y.is_sign_negative(),
            want.is_sign_negative(),
            "{}: sign of tanh_fast({x:e}) = {y:e}",
            k.tier()
        );
        let rel = if want == 0.0 {
            y.abs()
        } else {
            ((y - want) / want).abs()
        };
        if rel > worst.0 {
            worst = (rel, *x);
        }
    }
    worst
}

#[test]
fn random_bit_patterns_within_the_bound_on_every_tier() {
    for k in tiers() {
        let mut rng = Rng::new(0x5eed_7a4f);
        // Uniform over bit patterns: every exponent equally likely (most |x| are huge or
        // tiny), incl. subnormals, infinities and NaNs with any payload.
        let mut v: Vec<f64> = (0..4_000_000)
            .map(|_| f64::from_bits(rng.next_u64()))
            .collect();
        v.extend_from_slice(&SPECIALS);
        for (squash, tol) in CHEAP {
            let (rel, at) = worst_of(&k, squash, &v);
            eprintln!(
                "{} {squash:?}: bit patterns: max rel err {rel:e} at x = {at:e}",
                k.tier()
            );
            assert!(
                rel <= tol,
                "{} {squash:?}: rel err {rel:e} at {at:e}",
                k.tier()
            );
        }
    }
}

#[test]
fn dense_sampling_where_tanh_bends_within_the_bound() {
    for k in tiers() {
        let mut rng = Rng::new(99);
        let mut v: Vec<f64> = (0..1_000_000).map(|_| rng.uniform(-20.0, 20.0)).collect();
        v.extend((0..1_000_000).map(|_| rng.uniform(-1.0, 1.0)));
        // Around each reduction boundary k ln2 / 2 (where |r| is largest) and the clamp.
        for j in 1..60 {
            let b = f64::from(j) * core::f64::consts::LN_2 / 4.0;
            v.extend((0..2_000).map(|_| b * rng.uniform(0.999, 1.001)));
        }
        v.extend((0..2_000).map(|_| rng.uniform(18.0, 20.0)));
        // Tiny and subnormal magnitudes, where tanh x = x.
        v.extend((0..100_000).map(|_| rng.uniform(-1.0, 1.0) * 1e-300));
        v.extend((0..100_000).map(|_| f64::from_bits(rng.next_u64() >> 12)));
        for (squash, tol) in CHEAP {
            let (rel, at) = worst_of(&k, squash, &v);
            eprintln!(
                "{} {squash:?}: |x| <= 20: max rel err {rel:e} at x = {at:e}",
                k.tier()
            );
            assert!(
                rel <= tol,
                "{} {squash:?}: rel err {rel:e} at {at:e}",
                k.tier()
            );
        }
    }
}

#[test]
fn special_values() {
    for k in tiers() {
        let v = [
            f64::NAN,
            -f64::NAN,
            f64::from_bits(0x7ff0_0000_0000_0001), // signalling NaN payload
            f64::INFINITY,
            f64::NEG_INFINITY,
            0.0,
            -0.0,
            5e-324,
            -5e-324,
            2.2250738585072014e-308,
            1e-300,
            f64::MAX,
            f64::MIN,
            19.0625,
            -1e20,
        ];
        for squash in [Squash::TanhFast, Squash::TanhRational] {
            let mut v = v;
            k.squash_in_place(&mut v, squash);
            let t = format!("{} {squash:?}", k.tier());
            assert!(v[0].is_nan() && v[1].is_nan() && v[2].is_nan(), "{t}");
            assert_eq!(v[3], 1.0, "{t}");
            assert_eq!(v[4], -1.0, "{t}");
            assert!(v[5] == 0.0 && v[5].is_sign_positive(), "{t}");
            assert!(v[6] == 0.0 && v[6].is_sign_negative(), "{t}");
            assert_eq!(v[7], 5e-324, "{t}");
            assert_eq!(v[8], -5e-324, "{t}");
            assert_eq!(v[9], 2.2250738585072014e-308, "{t}");
            assert_eq!(v[10], 1e-300, "{t}");
            assert_eq!(v[11], 1.0, "{t}");
            assert_eq!(v[12], -1.0, "{t}");
            assert_eq!(v[13], 1.0, "{t}");
            assert_eq!(v[14], -1.0, "{t}");
        }
        // `tanh_f32` saturates at `tanh 9` computed in `f32`: within its bound of +-1, not
        // exactly +-1; everything else as above.
        let mut w = v;
        k.squash_in_place(&mut w, Squash::TanhF32);
        let t = format!("{} TanhF32", k.tier());
        assert!(w[0].is_nan() && w[1].is_nan() && w[2].is_nan(), "{t}");
        for (i, sign) in [
            (3, 1.0),
            (4, -1.0),
            (11, 1.0),
            (12, -1.0),
            (13, 1.0),
            (14, -1.0),
        ] {
            assert!((w[i] - sign).abs() <= TOL_F32, "{t}: [{i}] = {:e}", w[i]);
        }
        assert!(w[5] == 0.0 && w[5].is_sign_positive(), "{t}");
        assert!(w[6] == 0.0 && w[6].is_sign_negative(), "{t}");
        assert_eq!(
            &w[7..11],
            &v[7..11],
            "{t}: tiny values are returned unchanged"
        );
    }
}

#[test]
fn tiers_agree_at_awkward_lengths() {
    let scalar = Kernels::new(Tier::Scalar).unwrap();
    let mut rng = Rng::new(3);
    for k in tiers() {
        for len in [0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 33, 1023, 4099] {
            let x: Vec<f64> = (0..len).map(|_| rng.uniform(-25.0, 25.0)).collect();
            for (squash, tol) in CHEAP {
                let mut a = x.clone();
                k.squash_in_place(&mut a, squash);
                let mut b = vec![0.0; len];
                match squash {
                    Squash::TanhRational => k.tanh_rational_into(&mut b, &x).unwrap(),
                    Squash::TanhF32 => k.tanh_f32_into(&mut b, &x).unwrap(),
                    _ => k.tanh_fast_into(&mut b, &x).unwrap(),
                }
                let t = k.tier();
                assert_eq!(
                    a, b,
                    "{t} {squash:?}: in place and into differ at len {len}"
                );
                let mut s = x.clone();
                scalar.squash_in_place(&mut s, squash);
                for (i, (p, q)) in a.iter().zip(&s).enumerate() {
                    // Both within `tol` of tanh, so within 2 `tol` of each other.
                    assert!(
                        (p - q).abs() <= 2.0 * tol * q.abs(),
                        "{t} {squash:?}: len {len} [{i}]: {p:e} vs scalar {q:e}"
                    );
                }
            }
        }
    }
}

#[test]
fn into_checks_lengths() {
    let k = Kernels::active();
    let mut out = [0.0; 3];
    assert_eq!(
        k.tanh_fast_into(&mut out, &[1.0; 4]),
        Err(KernelError::LengthMismatch {
            expected: 3,
            got: 4
        })
    );
    assert_eq!(out, [0.0; 3], "nothing written");
    assert_eq!(
        k.tanh_rational_into(&mut out, &[1.0; 2]),
        Err(KernelError::LengthMismatch {
            expected: 3,
            got: 2
        })
    );
    assert_eq!(out, [0.0; 3], "nothing written");
    assert_eq!(
        k.tanh_f32_into(&mut out, &[1.0; 5]),
        Err(KernelError::LengthMismatch {
            expected: 3,
            got: 5
        })
    );
    assert_eq!(out, [0.0; 3], "nothing written");
}

/// The fused normalise + squash + scale pass is, bit for bit, the three steps with the same
/// squash, on every tier, at awkward lengths (the rational squash pads its last chunk). The
/// `f32` squash takes its statistics in one pass (`fused_f32_one_pass_statistics`): within
/// its bound of the three steps here, bit for bit where the one pass is refused.
#[test]
fn fused_squash_equals_the_three_steps() {
    let mut rng = Rng::new(21);
    for k in tiers() {
        for len in [1, 2, 15, 16, 17, 1000, 1024] {
            let x: Vec<f64> = (0..len).map(|_| 1e6 + rng.uniform(-3.0, 5.0)).collect();
            for squash in [
                Squash::Tanh,
                Squash::TanhFast,
                Squash::TanhRational,
                Squash::TanhF32,
            ] {
                let policy = zerotick_kernels::NormalizePolicy {
                    zero_variance: zerotick_kernels::ZeroVariance::Zero,
                    ..Default::default()
                };
                let mut fused = x.clone();
                k.normalize_squash_scale_in_place(&mut fused, policy, squash, -1.5)
                    .unwrap();
                let mut steps = x.clone();
                k.normalize_in_place(&mut steps, policy).unwrap();
                k.squash_in_place(&mut steps, squash);
                k.scale_in_place(&mut steps, -1.5);
                if squash == Squash::TanhF32 {
                    // Both within TOL_F32 of -1.5 tanh(z), z-scores 1e-13 apart at most.
                    for (f, t) in fused.iter().zip(&steps) {
                        assert!(
                            (f - t).abs() <= 2.0 * TOL_F32 * t.abs() + 1e-12,
                            "{} len {len}: {f} vs {t}",
                            k.tier()
                        );
                    }
                } else {
                    assert_eq!(fused, steps, "{} {squash:?} len {len}", k.tier());
                }
            }
        }
    }
}

/// The `f32` fused pass's one-pass statistics: the reported moments within the derived
/// bound of the two-pass ones (1.3e-13 relative in `m2` for 1,024 values) at offsets up to
/// 1e12 and with the shift 2.9 standard deviations out; and bit for bit the two-pass path
/// (the three steps) wherever the one pass is refused: the first value far out, NaNs
/// skipped, infinities, constant data, spreads that over- or underflow.
#[test]
fn fused_f32_one_pass_statistics() {
    let mut rng = Rng::new(23);
    let zero = zerotick_kernels::NormalizePolicy {
        zero_variance: zerotick_kernels::ZeroVariance::Zero,
        ..Default::default()
    };
    let skip = zerotick_kernels::NormalizePolicy {
        nan: zerotick_kernels::NanPolicy::Skip,
        ..zero
    };
    for k in tiers() {
        for offset in [0.0, 1e3, 1e9, 1e12] {
            for first in [None, Some(2.9)] {
                let mut x: Vec<f64> = (0..1024).map(|_| rng.uniform(-1.0, 1.0)).collect();
                if let Some(f) = first {
                    // uniform(-1, 1) has standard deviation 1/sqrt(3).
                    x[0] = f / 3f64.sqrt();
                }
                let x: Vec<f64> = x.iter().map(|v| offset + v).collect();
                let two = k.moments(&x, zerotick_kernels::NanPolicy::Propagate).0;
                let mut y = x.clone();
                let r = k
                    .normalize_squash_scale_in_place(&mut y, zero, Squash::TanhF32, 1.0)
                    .unwrap();
                assert_eq!(r.moments.count, 1024);
                let rel = ((r.moments.m2 - two.m2) / two.m2).abs();
                assert!(
                    rel < 1.3e-13,
                    "{} offset {offset:e}: m2 {rel:e} off",
                    k.tier()
                );
                let sd = (two.m2 / 1024.0).sqrt();
                assert!(
                    (r.moments.mean - two.mean).abs() <= 1e-13 * sd + 4.0 * f64::EPSILON * offset,
                    "{} offset {offset:e}: mean {} vs {}",
                    k.tier(),
                    r.moments.mean,
                    two.mean
                );
            }
        }
        // Refused: the result is the two-pass one, bit for bit.
        let mut outlier: Vec<f64> = (0..1024).map(|_| rng.uniform(-1.0, 1.0)).collect();
        outlier[0] = 100.0;
        let mut nan = outlier.clone();
        nan[0] = 0.5;
        nan[7] = f64::NAN;
        let mut inf = nan.clone();
        inf[7] = f64::INFINITY;
        let cases = [
            (outlier, zero),
            (nan, skip),
            (inf, zero),
            (vec![3.0; 100], zero),
            ((0..64).map(|i| f64::from(i) * 1e200).collect(), zero),
            ((0..64).map(|i| f64::from(i) * 1e-200).collect(), zero),
        ];
        for (i, (x, policy)) in cases.into_iter().enumerate() {
            let mut fused = x.clone();
            let rf = k.normalize_squash_scale_in_place(&mut fused, policy, Squash::TanhF32, 2.0);
            let mut steps = x.clone();
            let rs = k.normalize_in_place(&mut steps, policy);
            // Debug text, so NaN statistics compare equal.
            assert_eq!(
                format!("{rf:?}"),
                format!("{rs:?}"),
                "{} case {i}: report",
                k.tier()
            );
            k.squash_in_place(&mut steps, Squash::TanhF32);
            k.scale_in_place(&mut steps, 2.0);
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<u64>>();
            assert_eq!(bits(&fused), bits(&steps), "{} case {i}", k.tier());
        }
    }
}

/// The fused rational pass against `f64::tanh` of the z-scores computed in `f64` (the
/// normalisation is tested elsewhere): within the bound, NaN and zero variance as the other
/// squashes, huge data through the rescaled (edge) path.
#[test]
fn fused_rational_within_the_bound_and_at_the_edges() {
    let mut rng = Rng::new(22);
    let policy = zerotick_kernels::NormalizePolicy::default();
    for k in tiers() {
        for magnitude in [1e-300, 1.0, 1e12, 1e300] {
            let x: Vec<f64> = (0..1024)
                .map(|_| rng.uniform(-2.0, 3.0) * magnitude)
                .collect();
            let mut z = x.clone();
            k.normalize_in_place(&mut z, policy).unwrap();
            for (squash, tol) in [
                (Squash::TanhRational, TOL_RATIONAL),
                (Squash::TanhF32, TOL_F32),
            ] {
                let mut y = x.clone();
                k.normalize_squash_scale_in_place(&mut y, policy, squash, 3.0)
                    .unwrap();
                for (i, (got, zi)) in y.iter().zip(&z).enumerate() {
                    let want = 3.0 * zi.tanh();
                    assert!(
                        (got - want).abs() <= tol * want.abs() + 1e-300,
                        "{} {squash:?} magnitude {magnitude:e} [{i}]: {got:e} vs {want:e}",
                        k.tier()
                    );
                }
            }
        }
        let mut nan = vec![1.0, f64::NAN, 3.0];
        k.normalize_squash_scale_in_place(&mut nan, policy, Squash::TanhRational, 1.0)
            .unwrap();
        assert!(
            nan.iter().all(|v| v.is_nan()),
            "{}: NaN propagates",
            k.tier()
        );
        let mut constant = vec![4.0; 40];
        assert_eq!(
            k.normalize_squash_scale_in_place(&mut constant, policy, Squash::TanhRational, 1.0),
            Err(KernelError::ZeroVariance)
        );
        assert_eq!(constant, vec![4.0; 40], "nothing written");
    }
}

/// The AVX-512 kernels of the rational and `f32` squashes (`zmm`, masked tails) against the
/// AVX2 kernels, bit for bit, NaN payloads and signs of zero included: both do the same
/// operations in the same order with fused multiply-adds, so any difference is a bug, not a
/// rounding. Lengths around the kernel's 8- and 32-value steps; every kind of value at
/// every position (NaN with payloads, infinities, `-0`, subnormals, huge, the clamp).
#[test]
fn avx512_rational_is_bit_identical_to_avx2() {
    let (Ok(wide), Ok(avx2)) = (Kernels::new(Tier::Avx512), Kernels::new(Tier::Avx2)) else {
        eprintln!("skipped: this CPU has no AVX-512 tier (nothing to compare)");
        return;
    };
    let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<u64>>();
    let mut rng = Rng::new(512);
    let odd = [
        f64::from_bits(0x7ff8_0000_dead_beef),
        f64::from_bits(0xfff8_0000_0000_0001),
        f64::from_bits(0x7ff0_0000_0000_0001), // signalling NaN payload
        19.0625,
        -19.0625,
        0.173_286_795_139_986_3, // ln(2) / 4: the k = 0 / 1 boundary
        -3e-310,
    ];
    let lens = [
        0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 39, 63, 64, 65, 1023, 1024, 1025,
    ];
    for len in lens {
        for kind in 0..4 {
            let x: Vec<f64> = (0..len)
                .map(|i| match kind {
                    0 => rng.uniform(-25.0, 25.0),
                    1 => f64::from_bits(rng.next_u64()),
                    2 => SPECIALS[i % SPECIALS.len()],
                    _ => odd[i % odd.len()] * if i % 2 == 0 { 1.0 } else { -1.0 },
                })
                .collect();
            let (mut a, mut b) = (x.clone(), x.clone());
            wide.tanh_rational_in_place(&mut a);
            avx2.tanh_rational_in_place(&mut b);
            assert_eq!(bits(&a), bits(&b), "tanh_rational, len {len}, kind {kind}");
            let (mut a, mut b) = (x.clone(), x.clone());
            wide.tanh_f32_in_place(&mut a);
            avx2.tanh_f32_in_place(&mut b);
            assert_eq!(bits(&a), bits(&b), "tanh_f32, len {len}, kind {kind}");
        }
        // The fused pass: plain data, an offset, NaNs skipped (left NaN in place), and
        // huge data through the rescaled path (`pre_scale != 1`).
        for (magnitude, offset, nan) in [
            (1.0, 0.0, false),
            (1.0, 1e9, false),
            (3.0, 0.0, true),
            (1e300, 0.0, false),
        ] {
            let x: Vec<f64> = (0..len)
                .map(|i| {
                    if nan && i % 5 == 2 {
                        f64::from_bits(0x7ff8_0000_0000_0000 | i as u64)
                    } else {
                        offset + magnitude * rng.uniform(-1.5, 1.7)
                    }
                })
                .collect();
            let policy = zerotick_kernels::NormalizePolicy {
                nan: if nan {
                    zerotick_kernels::NanPolicy::Skip
                } else {
                    zerotick_kernels::NanPolicy::Propagate
                },
                zero_variance: zerotick_kernels::ZeroVariance::Zero,
            };
            for squash in [Squash::TanhRational, Squash::TanhF32] {
                let (mut a, mut b) = (x.clone(), x.clone());
                let ra = wide.normalize_squash_scale_in_place(&mut a, policy, squash, -2.5);
                let rb = avx2.normalize_squash_scale_in_place(&mut b, policy, squash, -2.5);
                assert_eq!(
                    ra, rb,
                    "{squash:?} report, len {len}, magnitude {magnitude:e}"
                );
                assert_eq!(
                    bits(&a),
                    bits(&b),
                    "{squash:?} fused, len {len}, magnitude {magnitude:e}, nan {nan}"
                );
            }
        }
    }
}

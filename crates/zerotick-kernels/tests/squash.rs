//! `tanh_fast` against `f64::tanh` on every tier this CPU runs: the documented error bound
//! over millions of random bit patterns (every magnitude, subnormals, NaN, infinities) and
//! the special values.

mod common;
use common::{Rng, SPECIALS, tiers};
use zerotick_kernels::{KernelError, Kernels, TANH_FAST_MAX_REL_ERR};

/// std's `tanh` is within about 1 ULP of the exact value: allow that on top of the bound.
const TOL: f64 = TANH_FAST_MAX_REL_ERR + 2.0 * f64::EPSILON;

/// Largest relative error of `k.tanh_fast_in_place` over `inputs` (NaN, infinities and the
/// sign of zero are checked exactly) and the input where it occurs.
fn worst(k: &Kernels, inputs: &[f64]) -> (f64, f64) {
    let mut out = inputs.to_vec();
    k.tanh_fast_in_place(&mut out);
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
        let (rel, at) = worst(&k, &v);
        eprintln!(
            "{}: bit patterns: max rel err {rel:e} at x = {at:e}",
            k.tier()
        );
        assert!(rel <= TOL, "{}: rel err {rel:e} at {at:e}", k.tier());
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
        let (rel, at) = worst(&k, &v);
        eprintln!("{}: |x| <= 20: max rel err {rel:e} at x = {at:e}", k.tier());
        assert!(rel <= TOL, "{}: rel err {rel:e} at {at:e}", k.tier());
    }
}

#[test]
fn special_values() {
    for k in tiers() {
        let mut v = [
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
        k.tanh_fast_in_place(&mut v);
        let t = k.tier();
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
}

#[test]
fn tiers_agree_at_awkward_lengths() {
    let scalar = Kernels::new(zerotick_kernels::Tier::Scalar).unwrap();
    let mut rng = Rng::new(3);
    for k in tiers() {
        for len in [0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 1023, 4099] {
            let x: Vec<f64> = (0..len).map(|_| rng.uniform(-25.0, 25.0)).collect();
            let mut a = x.clone();
            k.tanh_fast_in_place(&mut a);
            let mut b = vec![0.0; len];
            k.tanh_fast_into(&mut b, &x).unwrap();
            assert_eq!(a, b, "{}: in place and into differ at len {len}", k.tier());
            let mut s = x.clone();
            scalar.tanh_fast_in_place(&mut s);
            for (i, (p, q)) in a.iter().zip(&s).enumerate() {
                // Both within TOL of tanh, so within 2 TOL of each other.
                assert!(
                    (p - q).abs() <= 2.0 * TOL * q.abs(),
                    "{}: len {len} [{i}]: {p:e} vs scalar {q:e}",
                    k.tier()
                );
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
}

//! `ln_1p` against `f64::ln_1p` on every tier this CPU runs, over the whole domain.

mod common;
use common::{Rng, SPECIALS, tiers, ulps};
use zerotick_kernels::{KernelError, Kernels, LN_1P_MAX_ULPS};

#[test]
fn within_the_documented_ulps_on_every_tier() {
    for k in tiers() {
        let mut rng = Rng::new(0x1091);
        let mut v: Vec<f64> = SPECIALS.to_vec();
        v.extend([-1.0, -0.5, -1.0 + f64::EPSILON, 1e-16, -1e-16, 1.5e-16]);
        v.extend((0..1_000_000).map(|_| f64::from_bits(rng.next_u64())));
        v.extend((0..300_000).map(|_| rng.uniform(-1.0, 1.0)));
        v.extend((0..300_000).map(|_| rng.uniform(-1e-6, 1e-6)));
        v.extend((0..300_000).map(|_| rng.uniform(0.0, 1e5)));
        let mut out = v.clone();
        k.ln_1p_in_place(&mut out);
        let mut worst = (0, 0.0);
        for (x, y) in v.iter().zip(&out) {
            let u = ulps(*y, x.ln_1p());
            if u > worst.0 {
                worst = (u, *x);
            }
        }
        eprintln!("{}: worst {} ULP at x = {:e}", k.tier(), worst.0, worst.1);
        assert!(
            worst.0 <= LN_1P_MAX_ULPS,
            "{}: {} ULP at x = {:e}",
            k.tier(),
            worst.0,
            worst.1
        );
    }
}

#[test]
fn special_values() {
    for k in tiers() {
        let mut v = [f64::NAN, -1.0, -2.0, f64::INFINITY, -0.0, 0.0, 5e-324];
        k.ln_1p_in_place(&mut v);
        assert!(v[0].is_nan());
        assert_eq!(v[1], f64::NEG_INFINITY);
        assert!(v[2].is_nan());
        assert_eq!(v[3], f64::INFINITY);
        assert!(v[4] == 0.0 && v[4].is_sign_negative());
        assert!(v[5] == 0.0 && v[5].is_sign_positive());
        assert_eq!(v[6], 5e-324);
    }
}

#[test]
fn into_checks_lengths() {
    let k = Kernels::active();
    let mut out = [0.0; 2];
    assert_eq!(
        k.ln_1p_into(&mut out, &[1.0]),
        Err(KernelError::LengthMismatch {
            expected: 2,
            got: 1
        })
    );
    k.ln_1p_into(&mut out, &[1.0, 3.0]).unwrap();
    assert!(ulps(out[0], 1f64.ln_1p()) <= LN_1P_MAX_ULPS);
    assert!(ulps(out[1], 3f64.ln_1p()) <= LN_1P_MAX_ULPS);
}

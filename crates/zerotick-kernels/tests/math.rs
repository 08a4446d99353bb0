//! The vectorised transcendental functions against `f64` std, on every tier, over the whole
//! `f64` range: the error bounds the crate documents.

mod common;
use common::{Rng, SPECIALS, tiers, ulps};

fn worst(f: impl Fn(&mut [f64]), reference: impl Fn(f64) -> f64, inputs: &[f64]) -> (u64, f64) {
    let mut out = inputs.to_vec();
    f(&mut out);
    let mut worst = (0, f64::NAN);
    for (x, y) in inputs.iter().zip(&out) {
        let u = ulps(*y, reference(*x));
        if u > worst.0 {
            worst = (u, *x);
        }
    }
    eprintln!("worst: {} ULP at x = {:e}", worst.0, worst.1);
    worst
}

fn inputs(seed: u64, lo: f64, hi: f64) -> Vec<f64> {
    let mut rng = Rng::new(seed);
    let mut v: Vec<f64> = SPECIALS.to_vec();
    v.extend((0..200_000).map(|_| rng.uniform(lo, hi)));
    v.extend((0..100_000).map(|_| rng.any_finite()));
    // Odd length so every tier's tail loop runs too.
    v.push(0.5);
    v
}

#[test]
fn exp_within_2_ulp() {
    let xs = inputs(1, -746.0, 710.0);
    for k in tiers() {
        let (u, x) = worst(|v| k.exp_in_place(v), f64::exp, &xs);
        assert!(u <= 2, "{:?}: exp({x:e}) off by {u} ULP", k.tier());
    }
}

#[test]
fn ln_within_2_ulp() {
    let mut xs = inputs(2, 0.0, 10.0);
    xs.extend([
        f64::MIN_POSITIVE,
        1e-310,
        0.999_999_999,
        1.000_000_001,
        -0.0,
    ]);
    for k in tiers() {
        let (u, x) = worst(|v| k.ln_in_place(v), f64::ln, &xs);
        assert!(u <= 2, "{:?}: ln({x:e}) off by {u} ULP", k.tier());
    }
}

#[test]
fn tanh_within_4_ulp() {
    let mut xs = inputs(3, -20.0, 20.0);
    xs.extend([
        0.17, 0.1733, 0.1732, 19.06, 19.07, 354.0, 355.0, 1e-8, -1e-8,
    ]);
    for k in tiers() {
        let (u, x) = worst(|v| k.tanh_in_place(v), f64::tanh, &xs);
        assert!(u <= 4, "{:?}: tanh({x:e}) off by {u} ULP", k.tier());
        let mut z = [-0.0];
        k.tanh_in_place(&mut z);
        assert!(z[0] == 0.0 && z[0].is_sign_negative(), "tanh(-0) = -0");
    }
}

#[test]
fn sigmoid_within_4_ulp() {
    let xs = inputs(4, -750.0, 750.0);
    for k in tiers() {
        // The reference in the form that cannot overflow: below x = -709.78, `exp(-x)` is
        // inf and `1 / (1 + inf)` = 0, while the logistic function is still e^x (subnormal).
        let reference = |x: f64| {
            let t = (-x.abs()).exp();
            if x < 0.0 {
                t / (1.0 + t)
            } else {
                1.0 / (1.0 + t)
            }
        };
        let (u, x) = worst(|v| k.sigmoid_in_place(v), reference, &xs);
        assert!(u <= 4, "{:?}: sigmoid({x:e}) off by {u} ULP", k.tier());
    }
}

#[test]
fn into_forms_match_in_place() {
    let xs = inputs(5, -5.0, 5.0);
    for k in tiers() {
        let mut a = xs.clone();
        let mut b = vec![0.0; xs.len()];
        k.tanh_in_place(&mut a);
        k.tanh_into(&mut b, &xs).unwrap();
        assert!(a.iter().zip(&b).all(|(x, y)| ulps(*x, *y) == 0));
        assert!(k.exp_into(&mut b[1..], &xs).is_err());
    }
}

//! ULP error of the vectorised `exp`, `ln`, `tanh` and `sigmoid` against a double-double
//! reference (`qd::Quad`, ~104 bits, so its own error is below 2^-45 ULP of any result),
//! on every tier this CPU runs, over random bit patterns (every finite magnitude, subnormals
//! included), uniform samples where the functions vary, and edge cases.
//!
//! The error is measured in fractions of a ULP of the exact value, `|y - f(x)| / ulp(f(x))`,
//! not as the integer distance to a rounded reference, so the bounds documented in
//! `src/math.rs` are tested as stated (a correctly rounded result measures at most 0.5).
//!
//! Samples: `ZEROTICK_ULP_SAMPLES` (default 300,000 per function per tier, a few seconds in
//! a debug build); the figures in the README (3M per function per tier, 19 min in a debug build) come from
//! `ZEROTICK_ULP_SAMPLES=3000000 cargo test -p zerotick-kernels --test ulp -- --nocapture`.

mod common;
use common::{Rng, SPECIALS, tiers};
use qd::Quad;
use zerotick_kernels::Kernels;

fn q(x: f64) -> Quad {
    Quad(x, 0.0)
}
fn add(a: Quad, b: Quad) -> Quad {
    a.add_accurate(b)
}
fn sub(a: Quad, b: Quad) -> Quad {
    a.sub_accurate(b)
}

/// `2^k` for `-1074 <= k <= 1023`.
fn pow2(k: i32) -> f64 {
    if k >= -1022 {
        f64::from_bits(((k + 1023) as u64) << 52)
    } else {
        f64::from_bits(1u64 << (k + 1074))
    }
}

/// Spacing of the `f64`s at `|v|` (the ULP of a value in that binade; 2^-1074 below 2^-1022).
fn ulp_at(v: f64) -> f64 {
    let e = ((v.abs().to_bits() >> 52) & 0x7ff) as i32;
    pow2(e.max(1) - 1075)
}

/// A reference value `r * 2^-scale` (scaled so that it is a normal double-double even where
/// the function's value is subnormal).
#[derive(Clone, Copy)]
struct Ref {
    r: Quad,
    scale: i32,
}

impl Ref {
    fn exact(r: Quad) -> Self {
        Ref { r, scale: 0 }
    }
}

/// `|y - ref| / ulp(ref)`; 0 when both are the same infinity or both NaN.
fn err_ulps(y: f64, want: Ref) -> f64 {
    let Ref { r, scale } = want;
    if r.0.is_nan() || y.is_nan() {
        return if r.0.is_nan() && y.is_nan() {
            0.0
        } else {
            f64::INFINITY
        };
    }
    if r.0.is_infinite() || y.is_infinite() {
        return if y == r.0 { 0.0 } else { f64::INFINITY };
    }
    let s = pow2(scale);
    let ys = y * s; // exact: a power of two times a double, kept in range by the caller
    let unscaled = r.0 / s;
    let ulp = ulp_at(unscaled) * s;
    ((ys - r.0) - r.1).abs() / ulp
}

/// `e^x` for `x` in `[-745, 709.8]`, scaled by `2^128` below `-700` so it stays normal.
fn ref_exp(x: Quad) -> Ref {
    if x.0 < -700.0 {
        let shifted = add(x, Quad::LN_2 * q(128.0));
        Ref {
            r: shifted.exp(),
            scale: 128,
        }
    } else if x.0 > 709.0 {
        let shifted = sub(x, Quad::LN_2 * q(2.0));
        let r = shifted.exp() * q(4.0);
        Ref::exact(r)
    } else {
        Ref::exact(x.exp())
    }
}

/// `ln x` for finite `x > 0`: `x = 2^e m`, `m` in `[sqrt(1/2), sqrt(2))`, `f = m - 1` exact,
/// `ln m = 2 atanh(f / (2 + f))` summed in double-double to 2^-110.
fn ref_ln(x: f64) -> Quad {
    let (x, e0) = if x < f64::MIN_POSITIVE {
        (x * pow2(54), -54)
    } else {
        (x, 0)
    };
    let bits = x.to_bits();
    let mut e = ((bits >> 52) & 0x7ff) as i32 - 1023 + e0;
    let mut m = f64::from_bits((bits & ((1 << 52) - 1)) | (1023u64 << 52));
    if m > std::f64::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    let f = m - 1.0;
    let s = q(f) / add(q(2.0), q(f));
    let s2 = s * s;
    let mut term = s;
    let mut sum = s;
    for k in 1..40 {
        term *= s2;
        sum = add(sum, term / q((2 * k + 1) as f64));
        if term.0.abs() < 1e-40 * sum.0.abs().max(1e-300) {
            break;
        }
    }
    add(q(e as f64) * Quad::LN_2, sum * q(2.0))
}

fn ref_tanh(x: f64) -> Ref {
    let a = x.abs();
    let t = if a < 1e-9 {
        // x - x^3 / 3: the next term, 2x^5/15, is below 2^-110 of x here.
        sub(q(a), q(a) * q(a) * q(a) / q(3.0))
    } else if a > 40.0 {
        // 1 - 2 e^-2a + ...: below 2^-115 from 1 past 40; 1 - 2e^-2a is exact enough.
        sub(q(1.0), q(2.0) * q(-2.0 * a).exp())
    } else {
        let e = q(2.0 * a).exp();
        sub(e, q(1.0)) / add(e, q(1.0))
    };
    Ref::exact(if x < 0.0 { -t } else { t })
}

fn ref_sigmoid(x: f64) -> Ref {
    if x >= 0.0 {
        // 1 / (1 + e^-x); e^-x underflows harmlessly (the result rounds to 1).
        let t = if x > 740.0 { q(0.0) } else { q(-x).exp() };
        Ref::exact(q(1.0) / add(q(1.0), t))
    } else {
        // e^x / (1 + e^x), scaled where e^x is subnormal.
        let Ref { r: t, scale } = ref_exp(q(x));
        let denom = add(q(1.0), Quad(t.0 / pow2(scale), t.1 / pow2(scale)));
        Ref {
            r: t / denom,
            scale,
        }
    }
}

fn samples() -> usize {
    std::env::var("ZEROTICK_ULP_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300_000)
}

/// Inputs: specials and edges, then a third random bit patterns (all finite magnitudes), a
/// third uniform in `[lo, hi]`, a third uniform in the narrow range where the function
/// changes fastest (`narrow`).
fn inputs(seed: u64, edges: &[f64], wide: (f64, f64), narrow: (f64, f64)) -> Vec<f64> {
    let n = samples() / 3;
    let mut rng = Rng::new(seed);
    let mut v: Vec<f64> = SPECIALS.to_vec();
    v.extend_from_slice(edges);
    v.extend((0..n).map(|_| rng.any_finite()));
    v.extend((0..n).map(|_| rng.uniform(wide.0, wide.1)));
    v.extend((0..n).map(|_| rng.uniform(narrow.0, narrow.1)));
    v.push(0.5);
    v
}

/// Largest error over `xs` on tier `k`, and where.
fn worst(
    k: &Kernels,
    xs: &[f64],
    f: impl Fn(&Kernels, &mut [f64]),
    reference: impl Fn(f64) -> Ref,
) -> (f64, f64) {
    let mut y = xs.to_vec();
    f(k, &mut y);
    let mut worst = (0.0, 0.0);
    for (x, y) in xs.iter().zip(&y) {
        let e = err_ulps(*y, reference(*x));
        if e > worst.0 || e.is_nan() {
            worst = (e, *x);
        }
    }
    worst
}

fn check(
    name: &str,
    bound: f64,
    xs: &[f64],
    f: impl Fn(&Kernels, &mut [f64]),
    reference: impl Fn(f64) -> Ref,
) {
    for k in tiers() {
        let (e, x) = worst(&k, xs, &f, &reference);
        eprintln!(
            "{name} on {}: max {e:.3} ULP at x = {x:e} over {} inputs",
            k.tier(),
            xs.len()
        );
        assert!(e <= bound, "{name} on {}: {e} ULP at x = {x:e}", k.tier());
    }
}

#[test]
fn ln_within_its_derived_bound() {
    let edges = [
        f64::MIN_POSITIVE,
        1e-310,
        0.999_999_999,
        1.000_000_001,
        1.0 - f64::EPSILON / 2.0,
        1.0 + f64::EPSILON,
        std::f64::consts::SQRT_2,
        std::f64::consts::FRAC_1_SQRT_2,
        std::f64::consts::E,
    ];
    let mut xs = inputs(21, &edges, (0.0, 10.0), (0.7, 1.42));
    // ln of a negative number is NaN: the bit patterns' sign is taken off.
    xs.iter_mut().for_each(|v| *v = v.abs());
    check(
        "ln",
        LN_BOUND,
        &xs,
        |k, v| k.ln_in_place(v),
        |x| {
            if x == 0.0 {
                Ref::exact(q(f64::NEG_INFINITY))
            } else if x.is_finite() {
                Ref::exact(ref_ln(x))
            } else {
                Ref::exact(q(x.ln()))
            }
        },
    );
}

#[test]
fn exp_within_its_derived_bound() {
    let edges = [709.78, 709.7, -708.4, -745.1, -744.0, 1e-300, -1e-17];
    let xs = inputs(22, &edges, (-745.0, 709.7), (-1.0, 1.0));
    check(
        "exp",
        EXP_BOUND,
        &xs,
        |k, v| k.exp_in_place(v),
        |x| {
            if x.is_nan() {
                Ref::exact(q(f64::NAN))
            } else if x > 709.782712893384 {
                Ref::exact(q(f64::INFINITY))
            } else if x < -745.2 {
                Ref::exact(q(0.0))
            } else {
                ref_exp(q(x))
            }
        },
    );
}

#[test]
fn tanh_within_its_derived_bound() {
    let edges = [
        0.17, 0.1733, 0.1732, 0.34657, 0.3466, 19.06, 19.07, 354.0, 355.0, 1e-8, -1e-8,
    ];
    let xs = inputs(23, &edges, (-20.0, 20.0), (-1.0, 1.0));
    check(
        "tanh",
        TANH_BOUND,
        &xs,
        |k, v| k.tanh_in_place(v),
        |x| {
            if x.is_nan() {
                Ref::exact(q(f64::NAN))
            } else if x.is_infinite() {
                Ref::exact(q(x.signum()))
            } else {
                ref_tanh(x)
            }
        },
    );
}

#[test]
fn sigmoid_within_its_derived_bound() {
    let edges = [
        -745.0, -744.5, -720.0, -709.0, -708.0, 36.0, 37.0, 40.0, 710.0,
    ];
    let xs = inputs(24, &edges, (-750.0, 750.0), (-8.0, 8.0));
    check(
        "sigmoid",
        SIGMOID_BOUND,
        &xs,
        |k, v| k.sigmoid_in_place(v),
        |x| {
            if x.is_nan() {
                Ref::exact(q(f64::NAN))
            } else if x == f64::INFINITY {
                Ref::exact(q(1.0))
            } else if x < -745.2 {
                Ref::exact(q(0.0))
            } else {
                ref_sigmoid(x)
            }
        },
    );
}

// The bounds derived in `src/math.rs` (see there), in ULP of the exact value.
const EXP_BOUND: f64 = 1.6;
const LN_BOUND: f64 = 1.25;
const TANH_BOUND: f64 = 5.5;
const SIGMOID_BOUND: f64 = 4.2;

//! Convolution: every mode, every method (direct on every tier, FFT, overlap-add, filter bank)
//! against a plain direct convolution, with the bounds stated in `zerotick_kernels::fft`.
//!
//! Tolerances:
//! - direct (any tier) vs the plain reference: per output `k`,
//!   `|err| <= 2 m eps sum_j |a[j] b[k-j]|` (both sides are dot products of at most `m`
//!   terms, each within `m eps sum |terms|` of the exact value);
//! - FFT methods: `max |err| <= 4 eps log2(L) min(|a|_1 |b|_2, |a|_2 |b|_1)`, the normwise
//!   bound of an FFT convolution of length `L` with a constant of 4 (rustfft's transforms
//!   are accurate to about `eps log2 L` relative to the 2-norm).

mod common;

use common::{Rng, tiers};
use proptest::prelude::*;
use zerotick_kernels::fft::{
    Choice, ConvError, CostModel, FftConvolver, Method, Mode, Padding, next_fast_len, output_len,
};
use zerotick_kernels::{Kernels, Tier};

const MODES: [Mode; 3] = [Mode::Full, Mode::Same, Mode::Valid];

/// Inputs, mode, expected output.
type Case<'a> = (&'a [f64], &'a [f64], Mode, &'a [f64]);

/// The full convolution by definition, then the mode's window (numpy semantics).
fn reference(a: &[f64], b: &[f64], mode: Mode) -> Vec<f64> {
    let mut full = vec![0.0; a.len() + b.len() - 1];
    for (i, x) in a.iter().enumerate() {
        for (j, y) in b.iter().enumerate() {
            full[i + j] += x * y;
        }
    }
    let (lo, len) = mode.window(a.len(), b.len());
    full[lo..lo + len].to_vec()
}

fn abs(v: &[f64]) -> Vec<f64> {
    v.iter().map(|x| x.abs()).collect()
}

fn norm1(v: &[f64]) -> f64 {
    v.iter().map(|x| x.abs()).sum()
}

fn norm2(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// Checks a direct result element-wise.
fn check_direct(a: &[f64], b: &[f64], mode: Mode, got: &[f64], what: &str) {
    let want = reference(a, b, mode);
    let mag = reference(&abs(a), &abs(b), mode);
    let m = a.len().min(b.len()) as f64;
    assert_eq!(got.len(), want.len(), "{what}");
    for k in 0..want.len() {
        let tol = 2.0 * m * f64::EPSILON * mag[k];
        assert!(
            (got[k] - want[k]).abs() <= tol,
            "{what} {mode:?} n={} m={} k={k}: {} vs {} (tol {tol})",
            a.len(),
            b.len(),
            got[k],
            want[k]
        );
    }
}

/// Checks an FFT result against the normwise bound; returns the observed constant.
fn check_fft(a: &[f64], b: &[f64], mode: Mode, fft_len: usize, got: &[f64], what: &str) -> f64 {
    let want = reference(a, b, mode);
    assert_eq!(got.len(), want.len(), "{what}");
    let scale = (norm1(a) * norm2(b)).min(norm2(a) * norm1(b));
    let unit = f64::EPSILON * (fft_len.max(2) as f64).log2() * scale;
    let err = got
        .iter()
        .zip(&want)
        .map(|(g, w)| (g - w).abs())
        .fold(0.0, f64::max);
    assert!(
        err <= 4.0 * unit,
        "{what} {mode:?} n={} m={} L={fft_len}: max error {err:e} > 4 x {unit:e}",
        a.len(),
        b.len()
    );
    if unit > 0.0 { err / unit } else { 0.0 }
}

fn convolver() -> FftConvolver {
    FftConvolver::with_cost_model(CostModel::default(), Kernels::active())
}

/// Every method on `(a, b)` in every mode, including direct on every tier.
fn check_all(conv: &mut FftConvolver, a: &[f64], b: &[f64], block: usize) {
    let (n, m) = (a.len().max(b.len()), a.len().min(b.len()));
    for mode in MODES {
        let len = output_len(mode, a.len(), b.len());
        let mut out = vec![f64::NAN; len];
        for k in tiers() {
            k.convolve_direct_into(a, b, mode, &mut out).unwrap();
            check_direct(a, b, mode, &out, k.tier().name());
        }
        conv.convolve_with_into(Choice::direct(), a, b, mode, &mut out)
            .unwrap();
        check_direct(a, b, mode, &out, "direct");
        for padding in [Padding::Fast, Padding::PowerOfTwo] {
            let c = Choice::fft(n, m, padding);
            out.fill(f64::NAN);
            conv.convolve_with_into(c, a, b, mode, &mut out).unwrap();
            check_fft(a, b, mode, c.fft_len(), &out, "fft");
            let c = Choice::overlap_add(block, m, padding);
            out.fill(f64::NAN);
            conv.convolve_with_into(c, a, b, mode, &mut out).unwrap();
            check_fft(a, b, mode, c.fft_len(), &out, "overlap-add");
        }
        out.fill(f64::NAN);
        let c = conv.convolve_into(a, b, mode, &mut out).unwrap();
        match c.method() {
            Method::Direct => check_direct(a, b, mode, &out, "auto"),
            _ => _ = check_fft(a, b, mode, c.fft_len(), &out, "auto"),
        }
    }
}

fn signal(rng: &mut Rng, len: usize, scale: f64) -> Vec<f64> {
    (0..len).map(|_| rng.uniform(-scale, scale)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn every_method_matches_direct(
        n in prop_oneof![0usize..4, 0usize..300],
        m in prop_oneof![0usize..4, 0usize..70],
        block in 1usize..80,
        exp_a in -40i32..40,
        exp_b in -40i32..40,
        seed in any::<u64>(),
    ) {
        let mut rng = Rng::new(seed);
        let a = signal(&mut rng, n, 10f64.powi(exp_a));
        let b = signal(&mut rng, m, 10f64.powi(exp_b));
        let mut conv = convolver();
        if n == 0 || m == 0 {
            let mut out = [];
            for mode in MODES {
                prop_assert_eq!(conv.convolve_into(&a, &b, mode, &mut out), Err(ConvError::EmptyInput));
                prop_assert_eq!(
                    Kernels::active().convolve_direct_into(&a, &b, mode, &mut out),
                    Err(ConvError::EmptyInput)
                );
            }
        } else {
            check_all(&mut conv, &a, &b, block);
        }
    }

    #[test]
    fn filter_bank_matches_single_convolutions(
        n in 1usize..200,
        m in 1usize..40,
        count in 0usize..5,
        seed in any::<u64>(),
    ) {
        let mut rng = Rng::new(seed);
        let s = signal(&mut rng, n, 1.0);
        let bank = signal(&mut rng, m * count, 1.0);
        let mut conv = convolver();
        for mode in MODES {
            let row = output_len(mode, n, m);
            let mut out = vec![f64::NAN; row * count];
            let choices = [
                conv.choose_bank(n, m, count, mode),
                Choice::direct(),
                Choice::fft(n, m, Padding::Fast),
                Choice::overlap_add(7, m, Padding::Fast),
            ];
            for c in choices {
                out.fill(f64::NAN);
                conv.filter_bank_with_into(c, &s, &bank, m, mode, &mut out).unwrap();
                for (k, o) in bank.chunks_exact(m).zip(out.chunks_exact(row)) {
                    match c.method() {
                        Method::Direct => check_direct(&s, k, mode, o, "bank direct"),
                        _ => _ = check_fft(&s, k, mode, c.fft_len(), o, "bank"),
                    }
                }
            }
        }
    }
}

#[test]
fn long_inputs_many_blocks() {
    let mut rng = Rng::new(7);
    let mut conv = convolver();
    for (n, m, block) in [
        (5000, 300, 1000),
        (4099, 33, 64),
        (3000, 1, 17),
        (2048, 2048, 100),
    ] {
        let a = signal(&mut rng, n, 1.0);
        let b = signal(&mut rng, m, 3.0);
        check_all(&mut conv, &a, &b, block);
        check_all(&mut conv, &b, &a, block);
    }
}

#[test]
fn numpy_examples() {
    let mut conv = convolver();
    let cases: [Case; 6] = [
        (
            &[1.0, 2.0, 3.0],
            &[0.0, 1.0, 0.5],
            Mode::Same,
            &[1.0, 2.5, 4.0],
        ),
        (&[1.0, 2.0, 3.0], &[0.0, 1.0, 0.5], Mode::Valid, &[2.5]),
        (
            &[1.0, 2.0, 3.0, 4.0],
            &[1.0, 1.0],
            Mode::Same,
            &[1.0, 3.0, 5.0, 7.0],
        ),
        (
            &[1.0, 1.0],
            &[1.0, 2.0, 3.0, 4.0],
            Mode::Same,
            &[1.0, 3.0, 5.0, 7.0],
        ),
        (&[2.0], &[3.0], Mode::Full, &[6.0]),
        (
            &[1.0, 2.0, 3.0, 4.0, 5.0],
            &[1.0, 0.0, -1.0, 0.0],
            Mode::Same,
            &[2.0, 2.0, 2.0, 2.0, -4.0],
        ),
    ];
    for (a, b, mode, want) in cases {
        for c in [
            Choice::direct(),
            Choice::fft(a.len(), b.len(), Padding::Fast),
            Choice::overlap_add(1, a.len().min(b.len()), Padding::Fast),
        ] {
            let mut out = vec![0.0; want.len()];
            conv.convolve_with_into(c, a, b, mode, &mut out).unwrap();
            for (g, w) in out.iter().zip(want) {
                assert!(
                    (g - w).abs() < 1e-12,
                    "{c} {mode:?} {a:?} {b:?}: {out:?} vs {want:?}"
                );
            }
        }
    }
}

#[test]
fn bad_shapes_are_errors() {
    let mut conv = convolver();
    let mut out = [0.0; 3];
    assert_eq!(
        conv.convolve_into(&[1.0, 2.0], &[1.0], Mode::Full, &mut out),
        Err(ConvError::OutputLength {
            expected: 2,
            got: 3
        })
    );
    assert_eq!(
        conv.convolve_with_into(
            Choice::fft(2, 1, Padding::Fast),
            &[1.0; 9],
            &[1.0; 9],
            Mode::Valid,
            &mut out[..1]
        ),
        Err(ConvError::ChoiceTooSmall {
            fft_len: 2,
            needed: 17
        })
    );
    assert_eq!(
        conv.filter_bank_into(&[1.0; 4], &[1.0; 5], 2, Mode::Full, &mut out),
        Err(ConvError::BankShape {
            len: 5,
            kernel_len: 2
        })
    );
    assert_eq!(
        conv.filter_bank_into(&[1.0; 4], &[1.0; 4], 0, Mode::Full, &mut out),
        Err(ConvError::EmptyInput)
    );
    assert!(out.iter().all(|v| *v == 0.0), "nothing written on error");
}

#[test]
fn non_finite_values_are_data() {
    let mut a = vec![1.0; 64];
    a[10] = f64::NAN;
    a[40] = f64::INFINITY;
    let b = [1.0, 1.0];
    for k in tiers() {
        let mut out = vec![0.0; 65];
        k.convolve_direct_into(&a, &b, Mode::Full, &mut out)
            .unwrap();
        for (i, v) in out.iter().enumerate() {
            match i {
                10 | 11 => assert!(v.is_nan(), "{i}"),
                40 | 41 => assert_eq!(*v, f64::INFINITY, "{i}"),
                0 | 64 => assert_eq!(*v, 1.0),
                _ => assert_eq!(*v, 2.0),
            }
        }
    }
    let mut out = vec![0.0; 65];
    convolver()
        .convolve_with_into(
            Choice::fft(64, 2, Padding::Fast),
            &a,
            &b,
            Mode::Full,
            &mut out,
        )
        .unwrap();
    assert!(
        out.iter().all(|v| v.is_nan()),
        "FFT spreads NaN over its block"
    );
}

#[test]
fn extreme_magnitudes_direct() {
    let mut rng = Rng::new(3);
    for k in tiers() {
        for scale in [1e-300, 1e-150, 1.0, 1e150, 1e300] {
            let a = signal(&mut rng, 1023, scale);
            let b = signal(&mut rng, 37, 1e-5);
            let mut out = vec![0.0; 1023 + 36];
            k.convolve_direct_into(&a, &b, Mode::Full, &mut out)
                .unwrap();
            check_direct(&a, &b, Mode::Full, &out, k.tier().name());
        }
    }
}

#[test]
fn choice_is_exposed_and_sensible() {
    let conv = convolver();
    assert_eq!(conv.choose(65_536, 16, Mode::Full).method(), Method::Direct);
    assert_eq!(
        conv.choose(1 << 20, 1024, Mode::Full).method(),
        Method::OverlapAdd
    );
    assert_eq!(conv.choose(4096, 4096, Mode::Full).method(), Method::Fft);
    let c = conv.choose(1 << 20, 1024, Mode::Full);
    assert!(c.block_len() + 1023 <= c.fft_len() && c.fft_len() == next_fast_len(c.fft_len()));
    // Calibration gives positive, finite constants.
    let k = Kernels::new(Tier::Scalar).unwrap();
    let cal = CostModel::calibrate(k);
    for v in [cal.direct_ns_per_madd, cal.fft_ns_small, cal.fft_ns_large] {
        assert!(v.is_finite() && v > 0.0, "{cal:?}");
    }
}

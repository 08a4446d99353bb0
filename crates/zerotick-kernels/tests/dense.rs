//! Dense kernels against a plain triple-loop reference (f64 accumulation in index order).

mod common;

use common::Rng;
use faer::Mat;
use std::time::Duration;
use zerotick_kernels::dense::{
    CALIBRATION_MARGIN, CALIBRATION_REPEATS, CalibrationPoint, Crossover, DenseError, GemmPath,
    RsvdParams, gemm_auto, gemm_into, mat_mut, mat_ref, matrix_mut, matrix_ref, rsvd_into,
    rsvd_scratch_bytes, strassen_into, strassen_scratch_bytes,
};
use zerotick_mem::{Arena, Matrix};

fn random(rng: &mut Rng, m: usize, n: usize) -> Mat<f64> {
    Mat::from_fn(m, n, |_, _| rng.uniform(-1.0, 1.0))
}

fn reference(a: &Mat<f64>, b: &Mat<f64>) -> Mat<f64> {
    Mat::from_fn(a.nrows(), b.ncols(), |i, j| {
        (0..a.ncols()).map(|p| a[(i, p)] * b[(p, j)]).sum()
    })
}

/// Max-norm error scaled by `k * max|A| * max|B|`, in units of eps.
fn scaled_err(c: &Mat<f64>, want: &Mat<f64>, a: &Mat<f64>, b: &Mat<f64>) -> f64 {
    let scale = a.ncols().max(1) as f64 * a.norm_max() * b.norm_max();
    (c - want).norm_max() / scale / f64::EPSILON
}

#[test]
fn gemm_matches_reference_at_awkward_shapes_and_strides() {
    let mut rng = Rng::new(1);
    for (m, k, n) in [
        (0, 3, 4),
        (3, 0, 4),
        (1, 1, 1),
        (5, 7, 3),
        (17, 33, 9),
        (64, 65, 63),
    ] {
        let (a, b) = (random(&mut rng, m, k), random(&mut rng, k, n));
        let want = reference(&a, &b);
        // Row-major with padding: C lives in a 2-wider buffer.
        let stride = n + 2;
        let mut buf = vec![f64::NAN; m * stride + 1];
        let a_rm: Vec<f64> = (0..m * k)
            .map(|x| a[(x / k.max(1), x % k.max(1))])
            .collect();
        let b_rm: Vec<f64> = (0..k * n)
            .map(|x| b[(x / n.max(1), x % n.max(1))])
            .collect();
        gemm_into(
            mat_mut(&mut buf, m, n, stride).unwrap(),
            mat_ref(&a_rm, m, k, k).unwrap(),
            mat_ref(&b_rm, k, n, n).unwrap(),
            1.0,
            0.0, // beta == 0: the NaNs in C are not read
        )
        .unwrap();
        for i in 0..m {
            for j in 0..n {
                let d = (buf[i * stride + j] - want[(i, j)]).abs();
                assert!(d <= 1e-13 * (k as f64 + 1.0), "{m}x{k}x{n} ({i},{j}): {d}");
            }
            assert!(buf[i * stride + n].is_nan(), "padding written");
        }
    }
}

#[test]
fn gemm_alpha_beta() {
    let mut rng = Rng::new(2);
    let (a, b) = (random(&mut rng, 9, 11), random(&mut rng, 11, 7));
    let c0 = random(&mut rng, 9, 7);
    let want = Mat::from_fn(9, 7, |i, j| {
        0.5 * reference(&a, &b)[(i, j)] - 2.0 * c0[(i, j)]
    });
    let mut c = c0.clone();
    gemm_into(c.as_mut(), a.as_ref(), b.as_ref(), 0.5, -2.0).unwrap();
    assert!((&c - &want).norm_max() < 1e-13);
    let mut c = c0.clone();
    gemm_into(c.as_mut(), a.as_ref(), b.as_ref(), 1.0, 1.0).unwrap();
    assert!((&c - &(reference(&a, &b) + &c0)).norm_max() < 1e-13);
}

#[test]
fn shape_mismatch_is_an_error_and_writes_nothing() {
    let a = Mat::<f64>::zeros(3, 4);
    let b = Mat::<f64>::zeros(5, 2);
    let mut c = Mat::<f64>::from_fn(3, 2, |_, _| 7.0);
    let e = gemm_into(c.as_mut(), a.as_ref(), b.as_ref(), 1.0, 0.0).unwrap_err();
    assert_eq!(
        e,
        DenseError::ShapeMismatch {
            c: (3, 2),
            a: (3, 4),
            b: (5, 2)
        }
    );
    let arena = Arena::new(1 << 16);
    assert!(
        strassen_into(
            c.as_mut(),
            a.as_ref(),
            b.as_ref(),
            1.0,
            0.0,
            Crossover::new(8),
            &arena
        )
        .is_err()
    );
    assert!(
        gemm_auto(
            c.as_mut(),
            a.as_ref(),
            b.as_ref(),
            1.0,
            0.0,
            Crossover::new(8),
            &arena
        )
        .is_err()
    );
    assert!(c.col_iter().flat_map(|c| c.iter()).all(|&x| x == 7.0));
    assert!(e.to_string().contains("3x4"));
}

#[test]
fn bad_views_are_errors() {
    let data = [0.0; 10];
    assert!(mat_ref(&data, 3, 3, 3).is_ok());
    assert!(matches!(
        mat_ref(&data, 4, 3, 3),
        Err(DenseError::BadView { .. })
    ));
    assert!(matches!(
        mat_ref(&data, 2, 4, 3),
        Err(DenseError::BadView { .. })
    ));
    assert!(matches!(
        mat_ref(&data, usize::MAX, 2, usize::MAX),
        Err(DenseError::BadView { .. })
    ));
    assert!(mat_ref(&data, 0, 100, 0).is_ok());
    let mut data = [0.0; 10];
    assert!(mat_mut(&mut data, 2, 5, 5).is_ok());
    assert!(mat_mut(&mut data, 2, 6, 6).is_err());
}

#[test]
fn pooled_matrix_views_do_not_copy() {
    let mut m = Matrix::zeroed(4, 6);
    m.try_reshape(3, 4).unwrap();
    let ptr = m.as_slice().as_ptr();
    assert_eq!(matrix_ref(&m).as_ptr(), ptr);
    let mut v = matrix_mut(&mut m);
    v[(2, 3)] = 5.0;
    assert_eq!(m.row(2)[3], 5.0);
}

#[test]
fn strassen_matches_classical_at_odd_and_rectangular_shapes() {
    let mut rng = Rng::new(3);
    let x = Crossover::new(8);
    for (m, k, n) in [
        (8, 8, 8),
        (9, 8, 8),
        (8, 9, 8),
        (8, 8, 9),
        (33, 47, 21),
        (100, 37, 64),
        (65, 129, 77),
    ] {
        let (a, b) = (random(&mut rng, m, k), random(&mut rng, k, n));
        let want = reference(&a, &b);
        for beta in [0.0, 1.5] {
            let c0 = random(&mut rng, m, n);
            let mut c = c0.clone();
            let arena = Arena::new(strassen_scratch_bytes(m, k, n, x, beta));
            let path =
                gemm_auto(c.as_mut(), a.as_ref(), b.as_ref(), -2.0, beta, x, &arena).unwrap();
            assert!(matches!(path, GemmPath::Strassen { .. }), "{path:?}");
            let want = Mat::from_fn(m, n, |i, j| -2.0 * want[(i, j)] + beta * c0[(i, j)]);
            let err = (&c - &want).norm_max();
            assert!(err < 1e-12, "{m}x{k}x{n} beta {beta}: {err}");
        }
    }
}

/// Row-major operands take the transposed walk of the element-wise passes (and of the fused
/// update of C's quadrants), an output with a negative row stride the element-by-element
/// fallback: each layout must give the product.
#[test]
fn strassen_matches_classical_in_every_layout() {
    let mut rng = Rng::new(5);
    let x = Crossover::new(8);
    for (m, k, n) in [(64, 64, 64), (65, 129, 77), (40, 17, 33)] {
        let (a, b) = (random(&mut rng, m, k), random(&mut rng, k, n));
        let want = reference(&a, &b);
        let a_rm: Vec<f64> = (0..m * k).map(|i| a[(i / k, i % k)]).collect();
        let b_rm: Vec<f64> = (0..k * n).map(|i| b[(i / n, i % n)]).collect();
        let mut arena = Arena::new(strassen_scratch_bytes(m, k, n, x, 0.0));
        // Column-major (faer's own layout).
        let mut c = Mat::<f64>::zeros(m, n);
        strassen_into(c.as_mut(), a.as_ref(), b.as_ref(), 1.0, 0.0, x, &arena).unwrap();
        assert!((&c - &want).norm_max() < 1e-12, "{m}x{k}x{n} column-major");
        // Row-major slices.
        arena.reset();
        let mut c_rm = vec![f64::NAN; m * n];
        strassen_into(
            mat_mut(&mut c_rm, m, n, n).unwrap(),
            mat_ref(&a_rm, m, k, k).unwrap(),
            mat_ref(&b_rm, k, n, n).unwrap(),
            1.0,
            0.0,
            x,
            &arena,
        )
        .unwrap();
        let err = (0..m * n)
            .map(|i| (c_rm[i] - want[(i / n, i % n)]).abs())
            .fold(0.0, f64::max);
        assert!(err < 1e-12, "{m}x{k}x{n} row-major: {err}");
        // Rows reversed: no contiguous column in C, the element-by-element fallback.
        arena.reset();
        let mut c_rev = Mat::<f64>::from_fn(m, n, |_, _| f64::NAN);
        strassen_into(
            c_rev.as_mut().reverse_rows_mut(),
            a.as_ref(),
            b.as_ref(),
            1.0,
            0.0,
            x,
            &arena,
        )
        .unwrap();
        let err = (0..m)
            .flat_map(|i| (0..n).map(move |j| (i, j)))
            .map(|(i, j)| (c_rev[(m - 1 - i, j)] - want[(i, j)]).abs())
            .fold(0.0, f64::max);
        assert!(err < 1e-12, "{m}x{k}x{n} reversed rows: {err}");
    }
}

#[test]
fn strassen_error_bound_random_and_ill_scaled() {
    // Bound stated and checked: max |C_strassen - C_exact| <= 12^levels * k * eps * max|A| max|B|
    // (the Brent/Higham norm-wise bound has 18^levels; 12^levels holds with margin in practice).
    let mut rng = Rng::new(4);
    let n = 256;
    let x = Crossover::new(32); // 4 levels
    let mut arena = Arena::new(strassen_scratch_bytes(n, n, n, x, 0.0));
    for ill in [false, true] {
        arena.reset();
        let mut a = random(&mut rng, n, n);
        let b = random(&mut rng, n, n);
        if ill {
            for i in 0..n {
                let s = 10f64.powi((i % 17) as i32 - 8);
                for j in 0..n {
                    a[(i, j)] *= s;
                }
            }
        }
        let want = reference(&a, &b);
        let mut c = Mat::zeros(n, n);
        strassen_into(c.as_mut(), a.as_ref(), b.as_ref(), 1.0, 0.0, x, &arena).unwrap();
        let levels = x.levels(n, n, n) as i32;
        let err = scaled_err(&c, &want, &a, &b);
        assert!(err <= 12f64.powi(levels), "ill {ill}: {err} eps");
    }
}

/// The error table of the README: `cargo test --release -p zerotick-kernels --test dense --
/// --ignored --nocapture strassen_error_table`.
#[test]
#[ignore = "large sizes; run in release to print the error table"]
fn strassen_error_table() {
    let mut rng = Rng::new(5);
    println!("n | levels | input | strassen err | classical err (eps * k * max|A| max|B|)");
    for n in [512, 1024, 2048] {
        for ill in [false, true] {
            let mut a = random(&mut rng, n, n);
            let b = random(&mut rng, n, n);
            if ill {
                for i in 0..n {
                    let s = 10f64.powi((i % 17) as i32 - 8);
                    for j in 0..n {
                        a[(i, j)] *= s;
                    }
                }
            }
            // Reference: classical GEMM in compensated form is too slow at 2048; use the
            // classical faer product of the f64 inputs, computed on a split (hi + lo) of A so
            // its own error is about eps^2.
            let a_hi = Mat::from_fn(n, n, |i, j| (a[(i, j)] as f32) as f64);
            let a_lo = &a - &a_hi;
            let mut want = Mat::zeros(n, n);
            let mut lo = Mat::zeros(n, n);
            gemm_into(want.as_mut(), a_hi.as_ref(), b.as_ref(), 1.0, 0.0).unwrap();
            gemm_into(lo.as_mut(), a_lo.as_ref(), b.as_ref(), 1.0, 0.0).unwrap();
            let want = &want + &lo;
            let mut classical = Mat::zeros(n, n);
            gemm_into(classical.as_mut(), a.as_ref(), b.as_ref(), 1.0, 0.0).unwrap();
            for min_dim in [n, 256, 64] {
                let x = Crossover::new(min_dim);
                let arena = Arena::new(strassen_scratch_bytes(n, n, n, x, 0.0));
                let mut c = Mat::zeros(n, n);
                strassen_into(c.as_mut(), a.as_ref(), b.as_ref(), 1.0, 0.0, x, &arena).unwrap();
                println!(
                    "{n} | {} | {} | {:.3e} | {:.3e}",
                    x.levels(n, n, n),
                    if ill {
                        "ill-scaled rows 1e-8..1e8"
                    } else {
                        "uniform(-1,1)"
                    },
                    scaled_err(&c, &want, &a, &b),
                    scaled_err(&classical, &want, &a, &b)
                );
            }
        }
    }
}

#[test]
fn calibration_returns_a_measured_or_extrapolated_crossover() {
    let r = Crossover::calibrate(256);
    let p = r.measured[0].expect("256 measured");
    assert_eq!(p.dim, 256);
    assert!(r.measured[1].is_none());
    assert!(r.crossover.min_dim() >= 256);
    // One size only: whatever it measured, nothing confirms it.
    assert!(r.extrapolated);
    assert_eq!(Crossover::choose(&r.measured), (r.crossover, true));
}

fn point(dim: usize, classical_ms: u64, strassen_ms: u64) -> Option<CalibrationPoint> {
    Some(CalibrationPoint {
        dim,
        classical: Duration::from_millis(classical_ms),
        strassen: Duration::from_millis(strassen_ms),
    })
}

#[test]
fn a_crossover_needs_wins_at_two_consecutive_sizes() {
    // A lone win at 512 (noise) is not a crossover; 1,024 and 2,048 both win.
    let m = [
        point(256, 100, 120),
        point(512, 100, 90),
        point(1024, 100, 99),
        point(2048, 100, 90),
        point(4096, 100, 80),
    ];
    assert_eq!(Crossover::choose(&m), (Crossover::new(2048), false));
    // A win within the margin (4%) is a tie, not a win.
    let m = [
        point(1024, 100, 96),
        point(2048, 100, 94),
        point(4096, 100, 94),
    ];
    assert_eq!(Crossover::choose(&m), (Crossover::new(2048), false));
    // A win at the top size alone: that size, flagged.
    let m = [point(1024, 100, 101), point(2048, 100, 90)];
    assert_eq!(Crossover::choose(&m), (Crossover::new(2048), true));
    // No win: twice the largest size, flagged.
    let m = [point(1024, 100, 101), point(2048, 100, 100)];
    assert_eq!(Crossover::choose(&m), (Crossover::new(4096), true));
    assert_eq!(Crossover::choose(&[]), (Crossover::DEFAULT, true));
    assert_eq!(Crossover::choose(&[None, None]), (Crossover::DEFAULT, true));
}

#[test]
fn the_default_crossover_is_a_fixed_rule() {
    assert_eq!(Crossover::DEFAULT.min_dim(), 2048);
    assert_eq!(Crossover::DEFAULT.levels(1024, 4096, 4096), 0);
    assert_eq!(Crossover::DEFAULT.levels(2048, 2048, 2048), 1);
    assert_eq!(Crossover::DEFAULT.levels(4096, 4096, 4096), 2);
    const { assert!(CALIBRATION_MARGIN > 0.0 && CALIBRATION_REPEATS % 2 == 1) };
}

fn orthogonal(rng: &mut Rng, n: usize, cols: usize) -> Mat<f64> {
    let g = Mat::from_fn(n, cols, |_, _| rng.uniform(-1.0, 1.0));
    g.qr().compute_thin_Q()
}

#[test]
fn rsvd_recovers_known_singular_values() {
    let mut rng = Rng::new(6);
    let (m, n, r) = (300, 200, 200);
    let u = orthogonal(&mut rng, m, r);
    let v = orthogonal(&mut rng, n, r);
    let sv: Vec<f64> = (0..r).map(|i| 0.7f64.powi(i as i32)).collect();
    let us = Mat::from_fn(m, r, |i, p| u[(i, p)] * sv[p]);
    let a = &us * v.transpose();
    let params = RsvdParams {
        k: 10,
        oversample: 10,
        power_iters: 2,
        seed: 9,
    };
    let arena = Arena::new(rsvd_scratch_bytes(m, n, params));
    let (mut uu, mut s, mut vt) = (Mat::zeros(m, 10), [0.0; 10], Mat::zeros(10, n));
    rsvd_into(a.as_ref(), params, uu.as_mut(), &mut s, vt.as_mut(), &arena).unwrap();
    // Tolerance: HMT's bound with q = 2 makes the k-th value's relative error about
    // (s_{k+p+1}/s_k)^(2(2q+1)) = 0.7^100 ~ 3e-16 in theory; 1e-10 leaves room for rounding.
    for i in 0..10 {
        assert!(
            (s[i] - sv[i]).abs() <= 1e-10 * sv[0],
            "{i}: {} vs {}",
            s[i],
            sv[i]
        );
    }
    // U and V^T orthonormal.
    let utu = uu.transpose() * &uu;
    let vvt = &vt * vt.transpose();
    assert!((utu - Mat::<f64>::identity(10, 10)).norm_max() < 1e-12);
    assert!((vvt - Mat::<f64>::identity(10, 10)).norm_max() < 1e-12);
}

#[test]
fn rsvd_low_rank_plus_noise_is_near_optimal() {
    let mut rng = Rng::new(7);
    let (m, n, rank, k) = (300, 160, 20, 20);
    let l = random(&mut rng, m, rank);
    let r = random(&mut rng, rank, n);
    let a = &l * &r + Mat::from_fn(m, n, |_, _| 0.05 * rng.uniform(-1.0, 1.0));
    let params = RsvdParams {
        k,
        oversample: 10,
        power_iters: 2,
        seed: 1,
    };
    let arena = Arena::new(rsvd_scratch_bytes(m, n, params));
    let (mut u, mut s, mut vt) = (Mat::zeros(m, k), vec![0.0; k], Mat::zeros(k, n));
    rsvd_into(a.as_ref(), params, u.as_mut(), &mut s, vt.as_mut(), &arena).unwrap();
    let us = Mat::from_fn(m, k, |i, p| u[(i, p)] * s[p]);
    let approx = &us * &vt;
    let err = (&a - &approx).norm_l2();
    let all = a.singular_values().unwrap();
    let opt = all[k..].iter().map(|x| x * x).sum::<f64>().sqrt();
    assert!(err <= 1.1 * opt, "err {err} optimum {opt}");
    assert!(err >= opt * (1.0 - 1e-12));
}

#[test]
fn rsvd_rejects_bad_rank_and_shapes() {
    let a = Mat::<f64>::zeros(10, 6);
    let arena = Arena::new(1 << 20);
    let (mut u, mut s, mut vt) = (Mat::zeros(10, 3), [0.0; 3], Mat::zeros(3, 6));
    for k in [0, 7] {
        let e = rsvd_into(
            a.as_ref(),
            RsvdParams::new(k),
            u.as_mut(),
            &mut s,
            vt.as_mut(),
            &arena,
        );
        assert_eq!(e, Err(DenseError::BadRank { k, max: 6 }));
    }
    let e = rsvd_into(
        a.as_ref(),
        RsvdParams::new(2),
        u.as_mut(),
        &mut s[..2],
        vt.as_mut(),
        &arena,
    );
    assert!(matches!(
        e,
        Err(DenseError::OutputShape { output: "u", .. })
    ));
    let tiny = Arena::new(64);
    let e = rsvd_into(
        a.as_ref(),
        RsvdParams::new(3),
        u.as_mut(),
        &mut s,
        vt.as_mut(),
        &tiny,
    );
    assert!(matches!(e, Err(DenseError::Arena(_))));
    let tiny = Arena::new(64);
    let (a, b, mut c) = (
        Mat::<f64>::zeros(16, 16),
        Mat::<f64>::zeros(16, 16),
        Mat::<f64>::zeros(16, 16),
    );
    let x = Crossover::new(8);
    let e = strassen_into(c.as_mut(), a.as_ref(), b.as_ref(), 1.0, 0.0, x, &tiny);
    assert!(matches!(e, Err(DenseError::Arena(_))), "{e:?}");
}

#[test]
fn rsvd_nan_input_is_an_error_or_nan_not_a_panic() {
    let a = Mat::<f64>::from_fn(30, 20, |i, j| if i == 3 && j == 4 { f64::NAN } else { 1.0 });
    let params = RsvdParams::new(2);
    let arena = Arena::new(rsvd_scratch_bytes(30, 20, params));
    let (mut u, mut s, mut vt) = (Mat::zeros(30, 2), [0.0; 2], Mat::zeros(2, 20));
    let r = rsvd_into(a.as_ref(), params, u.as_mut(), &mut s, vt.as_mut(), &arena);
    assert!(
        r == Err(DenseError::NoConvergence) || s.iter().any(|x| x.is_nan()),
        "{r:?} {s:?}"
    );
}

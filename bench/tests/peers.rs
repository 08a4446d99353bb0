//! Every peer added for fairness computes what zerotick computes (cheap sizes).

use faer::Mat;
use zerotick_bench::groups::dense::faer_hmt;
use zerotick_bench::groups::fft::{Plain, Planned};
use zerotick_bench::groups::simd::{two_pass_normalize_tanh_scale, welford_normalize_tanh_scale};
use zerotick_bench::groups::sparse::{check_spgemm, random_matrix, to_sprs_u32, to_sprs_usize};
use zerotick_kernels::dense::{RsvdParams, rsvd_into, rsvd_scratch_bytes};
use zerotick_kernels::fft::realfft::RealFftPlanner;
use zerotick_kernels::fft::{FftConvolver, Mode};
use zerotick_kernels::sparse::SpgemmPlan;
use zerotick_kernels::{Kernels, NormalizePolicy};
use zerotick_mem::Arena;

fn uniform(len: usize, seed: u64) -> Vec<f64> {
    zerotick_bench::data::uniform(len, seed, -1.0, 1.0)
}

fn direct(a: &[f64], b: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; a.len() + b.len() - 1];
    for (i, x) in a.iter().enumerate() {
        for (j, y) in b.iter().enumerate() {
            out[i + j] += x * y;
        }
    }
    out
}

fn max_abs_diff(x: &[f64], y: &[f64]) -> f64 {
    assert_eq!(x.len(), y.len());
    x.iter()
        .zip(y)
        .map(|(p, q)| (p - q).abs())
        .fold(0.0, f64::max)
}

/// Values in [-1, 1), kernels of at most 300 taps: every output is a sum of at most 300
/// products of magnitude <= 1, so FFT round-off stays far below 1e-10 (observed ~1e-13).
const CONV_TOL: f64 = 1e-10;

#[test]
fn realfft_planned_equals_direct_and_zerotick() {
    let mut planner = RealFftPlanner::<f64>::new();
    let mut conv = FftConvolver::new();
    for (n, m) in [(1, 1), (5, 3), (1000, 37), (3000, 300), (4096, 64)] {
        let (a, b) = (uniform(n, 1), uniform(m, 2));
        let want = direct(&a, &b);
        let mut ours = vec![0.0; n + m - 1];
        conv.convolve_into(&a, &b, Mode::Full, &mut ours).unwrap();
        assert!(max_abs_diff(&ours, &want) < CONV_TOL, "zerotick {n}x{m}");
        let plain = Plain::new(&mut planner, n + m - 1)
            .convolve(&a, &b)
            .unwrap();
        assert!(max_abs_diff(&plain, &want) < CONV_TOL, "plain {n}x{m}");
        // The automatic choice, one FFT, and overlap-add with several block sizes.
        let single = zerotick_kernels::fft::next_fast_len(n + m - 1);
        let mut planners = vec![
            (Planned::new(&mut planner, n, m), "auto"),
            (Planned::tuned(&mut planner, &a, &b).unwrap(), "tuned"),
        ];
        planners.push((
            Planned::with_blocks(&mut planner, n, m, single, n),
            "one FFT",
        ));
        for block in [1, 7, 64.min(n)] {
            let l = zerotick_kernels::fft::next_fast_len(block + m - 1);
            planners.push((Planned::with_blocks(&mut planner, n, m, l, block), "ola"));
        }
        for (mut p, what) in planners {
            let mut out = vec![f64::NAN; n + m - 1];
            // Twice: buffers reused across calls must not leak state.
            for _ in 0..2 {
                p.convolve_into(&a, &b, &mut out).unwrap();
                let err = max_abs_diff(&out, &want);
                assert!(err < CONV_TOL, "{what} {} {n}x{m}: {err:e}", p.describe());
            }
        }
    }
}

#[test]
fn realfft_planned_rejects_other_lengths() {
    let mut planner = RealFftPlanner::<f64>::new();
    let mut p = Planned::new(&mut planner, 100, 10);
    let (a, b) = (uniform(100, 1), uniform(10, 2));
    assert!(p.convolve_into(&a, &b, &mut vec![0.0; 108]).is_err());
    assert!(p.convolve_into(&a[..99], &b, &mut vec![0.0; 109]).is_err());
    assert!(p.convolve_into(&a, &b, &mut vec![0.0; 109]).is_ok());
    assert!(Planned::tuned(&mut planner, &[], &b).is_err());
    assert!(Planned::tuned(&mut planner, &a, &[]).is_err());
}

#[test]
fn realfft_planned_picks_overlap_add_for_long_signals_and_fast_lengths() {
    for (n, m) in [(65_536, 64), (65_536, 1024), (1 << 20, 64), (1 << 20, 1024)] {
        let (l, block) = Planned::choose(n, m);
        assert!(
            block < n && l >= block + m - 1,
            "{n}x{m}: L {l}, block {block}"
        );
        assert_eq!(
            l,
            zerotick_kernels::fft::next_fast_len(l),
            "{l} is a fast length"
        );
    }
    // A kernel as long as the signal: one FFT of the fast length (not 2^13 = 8192).
    assert_eq!(Planned::choose(3000, 3000), (6000, 3000));
}

/// The top singular values of a rank-5 + 1e-3 noise matrix are separated from the rest by a
/// factor of ~100; with p = 10 and q = 2 both randomized SVDs resolve them to near machine
/// precision, whatever their (different) Gaussian sketches. Tolerance 1e-9 relative.
#[test]
fn faer_hmt_singular_values_match_zerotick_rsvd() {
    let (m, n, k) = (300, 150, 5);
    let l = Mat::<f64>::from_fn(m, k, |i, j| ((i * 7 + j * 13) % 17) as f64 / 17.0 - 0.5);
    let r = Mat::<f64>::from_fn(k, n, |i, j| ((i * 5 + j * 3) % 11) as f64 / 11.0 - 0.5);
    let noise = uniform(m * n, 9);
    let a = &l * &r + Mat::<f64>::from_fn(m, n, |i, j| 1e-3 * noise[i * n + j]);
    let params = RsvdParams::new(k);
    let arena = Arena::try_new(rsvd_scratch_bytes(m, n, params)).unwrap();
    let (mut u, mut s, mut vt) = (Mat::zeros(m, k), vec![0.0; k], Mat::zeros(k, n));
    rsvd_into(a.as_ref(), params, u.as_mut(), &mut s, vt.as_mut(), &arena).unwrap();
    let hmt = faer_hmt(a.as_ref(), params).unwrap();
    let exact = a.thin_svd().unwrap();
    let exact = exact.S().column_vector();
    for (i, (&ours, &peer)) in s.iter().zip(&hmt.s).enumerate() {
        let sv = exact[i];
        assert!((peer - ours).abs() <= 1e-9 * ours, "{i}: {peer} vs {ours}");
        assert!((peer - sv).abs() <= 1e-9 * sv, "{i}: {peer} vs exact {sv}");
    }
    // U diag(s) V^T reconstructs A as well as zerotick's factors do.
    let us = Mat::<f64>::from_fn(m, k, |i, j| hmt.u[(i, j)] * hmt.s[j]);
    let err_hmt = (&a - &us * hmt.v.transpose()).norm_l2();
    let us = Mat::<f64>::from_fn(m, k, |i, j| u[(i, j)] * s[j]);
    let err_ours = (&a - &us * &vt).norm_l2();
    assert!(
        (err_hmt - err_ours).abs() <= 1e-6 * err_ours,
        "{err_hmt} vs {err_ours}"
    );
    assert!(faer_hmt(a.as_ref(), RsvdParams::new(0)).is_err());
    assert!(faer_hmt(a.as_ref(), RsvdParams::new(151)).is_err());
}

#[test]
fn sprs_u32_and_usize_match_zerotick() {
    let a = random_matrix(2000, 2000, 20_000, 7).unwrap();
    let k = Kernels::active();
    let x = uniform(2000, 3);
    let mut y = vec![0.0; 2000];
    a.spmv_into(&k, 1.0, &x, 0.0, &mut y).unwrap();
    let close = |p: f64, q: f64| (p - q).abs() <= 1e-12 * (1.0 + p.abs().max(q.abs()));
    let s32 = to_sprs_u32(&a).unwrap();
    let s64 = to_sprs_usize(&a).unwrap();
    let mut y32 = vec![0.0; 2000];
    let mut y64 = vec![0.0; 2000];
    sprs::prod::mul_acc_mat_vec_csr(s32.view(), &x[..], &mut y32[..]);
    sprs::prod::mul_acc_mat_vec_csr(s64.view(), &x[..], &mut y64[..]);
    for (i, ((&p, &q), &r)) in y.iter().zip(&y32).zip(&y64).enumerate() {
        assert!(close(p, q) && close(p, r), "row {i}");
    }
    let mut plan = SpgemmPlan::try_new(&a, &a).unwrap();
    plan.numeric(&k, &a, &a).unwrap();
    check_spgemm(&plan, &(&s32 * &s32)).unwrap();
}

/// Both scalar peers against the fused kernel: the kernel's tanh is within 4 ULP of
/// `f64::tanh` and its statistics are exact to a few ULP, so outputs (|x| <= 0.5) agree to
/// 1e-13 absolute.
#[test]
fn scalar_peers_match_the_fused_kernel() {
    for len in [2, 3, 7, 1023, 1024] {
        let input: Vec<f64> = (0..len)
            .map(|i| (i as f64 * 0.618).sin() * 4.0 + 100.0)
            .collect();
        let mut ours = input.clone();
        Kernels::active()
            .normalize_tanh_scale_in_place(&mut ours, NormalizePolicy::default(), 0.5)
            .unwrap();
        let mut two_pass = input.clone();
        two_pass_normalize_tanh_scale(&mut two_pass, 0.5);
        let mut welford = input.clone();
        welford_normalize_tanh_scale(&mut welford, 0.5);
        assert!(
            max_abs_diff(&ours, &two_pass) < 1e-13,
            "two-pass, len {len}"
        );
        assert!(max_abs_diff(&ours, &welford) < 1e-13, "welford, len {len}");
    }
}

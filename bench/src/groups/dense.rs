//! Group `dense`: GEMM and randomized SVD on one thread, zerotick vs faer and matrixmultiply.
//!
//! - `gemm_N` (N = 1024, 2048, 4096): one op = `C = A B` for `N x N` `f64` matrices.
//!   `zerotick` runs `dense::gemm_auto` (classical faer GEMM or Strassen-Winograd, by
//!   `Crossover::cached()`: `ZEROTICK_STRASSEN_MIN_DIM`, else the fixed rule
//!   `Crossover::DEFAULT`; this machine's calibration is measured and noted beside it) on
//!   row-major buffers with arena scratch; `zerotick-classical` runs `dense::gemm_into` (shown
//!   when the automatic choice is Strassen); `faer` runs `faer::linalg::matmul::matmul` with
//!   `Par::Seq` on faer's own column-major `Mat`; `matrixmultiply` runs `dgemm` on the
//!   row-major buffers (not at 4096). One call at 4096 takes seconds, so `gemm_4096` is
//!   measured with the harness's quick settings (5 samples, one call each).
//! - `rsvd_2000x1000_k20`: one op = top-20 singular triplets of a 2000 x 1000 rank-20 + noise
//!   matrix. `zerotick` runs `dense::rsvd_into` (p = 10, q = 2) into caller buffers with arena
//!   scratch; `faer-hmt` is the same algorithm (Halko-Martinsson-Tropp randomized SVD, same
//!   k, p, q, standard normal sketch) written on faer's public API the obvious way, allocating
//!   per call ([`faer_hmt`]); `faer-thin-svd` runs faer's full thin SVD (`Mat::thin_svd`), the
//!   exact answer.
//!
//! `ZEROTICK_DENSE_CASES=rsvd` (any substring of case names, comma-separated) runs only the
//! matching cases and skips the Strassen calibration when no GEMM case is selected: for
//! iterating on one kernel; figures to quote come from the whole group.

use super::GroupResult;
use crate::harness::{Config, Harness, Impl, Row};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};
use std::hint::black_box;
use zerotick_kernels::dense::{
    Crossover, GemmPath, RsvdParams, gemm_auto, gemm_into, mat_mut, mat_ref, rsvd_into,
    rsvd_scratch_bytes, strassen_scratch_bytes, warm_up_thread,
};
use zerotick_mem::Arena;

/// Runs the GEMM cases and `rsvd_2000x1000_k20`.
///
/// # Errors
/// If a kernel rejects its (well-formed) input, which would be a bug.
pub fn run(h: &mut Harness) -> GroupResult {
    let wanted = |case: &str| match std::env::var("ZEROTICK_DENSE_CASES") {
        Ok(list) => list.split(',').any(|w| case.contains(w.trim())),
        Err(_) => true,
    };
    let warm = warm_up_thread(1024);
    h.note(format!(
        "faer packing buffer (first 1024^3 product on this thread): VmSize +{:.1} MiB, \
         VmRSS +{:.1} MiB",
        mib(warm.vm_size_growth_bytes()),
        mib(warm.vm_rss_growth_bytes())
    ));
    let peak = crate::peak::measure();
    h.note(format!(
        "peak of this core ({} tier): {:.1} GFLOP/s, best of 7 passes of a register-only loop of \
         12 independent FMA chains (an FMA = 2 flops); the ceiling of a classical product (Strassen's 2n^3/t can pass it: it does fewer flops)",
        peak.tier.name(),
        peak.gflops
    ));
    let mut rows = Vec::new();
    let gemm_cases: Vec<(&'static str, usize)> = [
        ("gemm_1024", 1024),
        ("gemm_2048", 2048),
        ("gemm_4096", 4096),
    ]
    .into_iter()
    .filter(|(case, _)| wanted(case))
    .collect();
    let crossover = if gemm_cases.is_empty() {
        Crossover::cached()
    } else {
        crossover(h)
    };
    for (case, n) in gemm_cases {
        let heavy = n >= 4096;
        let got = if heavy {
            let mut quick = Harness::new(Config { quick: true });
            quick.start_group("dense");
            gemm_case(&mut quick, case, n, crossover)?
        } else {
            gemm_case(h, case, n, crossover)?
        };
        let path = match crossover.levels(n, n, n) {
            0 => "classical".to_string(),
            l => format!("Strassen-Winograd, {l} level(s)"),
        };
        let rates: Vec<String> = got
            .iter()
            .map(|r| {
                let rate = 2.0 * (n as f64).powi(3) / r.median_ns;
                format!(
                    "{} {rate:.1} ({:.0}% of peak)",
                    r.imp,
                    100.0 * rate / peak.gflops
                )
            })
            .collect();
        h.note(format!(
            "{case}: zerotick path = {path}; GFLOP/s (2n^3/t): {}",
            rates.join(", ")
        ));
        rows.extend(got);
    }
    if wanted("rsvd_2000x1000_k20") {
        rows.extend(rsvd_case(h, peak.gflops)?);
    }
    Ok(rows)
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

/// The crossover the cases use: what `gemm_auto` users get, `Crossover::cached()`
/// (`ZEROTICK_STRASSEN_MIN_DIM`, else the fixed rule `Crossover::DEFAULT`). This machine's own
/// calibration (two consecutive wins required, medians of interleaved runs) is measured and
/// noted beside it, so a reader sees whether the rule and the machine agree.
fn crossover(h: &mut Harness) -> Crossover {
    let x = Crossover::cached();
    let source = if std::env::var_os("ZEROTICK_STRASSEN_MIN_DIM").is_some() {
        "ZEROTICK_STRASSEN_MIN_DIM"
    } else {
        "the fixed rule Crossover::DEFAULT"
    };
    let r = Crossover::calibrate(2048);
    let points: Vec<String> = r
        .measured
        .iter()
        .flatten()
        .map(|p| {
            format!(
                "{}: classical {:.1} ms, one Strassen level {:.1} ms ({:.2}x)",
                p.dim,
                p.classical.as_secs_f64() * 1e3,
                p.strassen.as_secs_f64() * 1e3,
                p.classical.as_secs_f64() / p.strassen.as_secs_f64()
            )
        })
        .collect();
    h.note(format!(
        "Strassen crossover used: min_dim {} (from {source}); this machine's calibration \
         (medians of {} interleaved runs, a win of {:.0}% at two consecutive sizes) says \
         min_dim {}{} ({})",
        x.min_dim(),
        zerotick_kernels::dense::CALIBRATION_REPEATS,
        zerotick_kernels::dense::CALIBRATION_MARGIN * 100.0,
        r.crossover.min_dim(),
        if r.extrapolated {
            ", not confirmed by two consecutive sizes up to 2048"
        } else {
            ""
        },
        points.join("; ")
    ));
    x
}

/// Deterministic matrix entries in [-0.5, 0.5).
fn fill(len: usize, seed: u64) -> Vec<f64> {
    crate::data::uniform(len, seed, -0.5, 0.5)
}

fn gemm_case(
    h: &mut Harness,
    case: &'static str,
    n: usize,
    crossover: Crossover,
) -> Result<Vec<Row>, Box<dyn std::error::Error>> {
    let (a, b) = (fill(n * n, 1), fill(n * n, 2));
    let mut c_auto = vec![0.0; n * n];
    let mut c_classical = vec![0.0; n * n];
    let mut c_mm = vec![0.0; n * n];
    let fa = Mat::<f64>::from_fn(n, n, |i, j| a[i * n + j]);
    let fb = Mat::<f64>::from_fn(n, n, |i, j| b[i * n + j]);
    let mut fc = Mat::<f64>::zeros(n, n);
    let mut arena = Arena::try_new(strassen_scratch_bytes(n, n, n, crossover, 0.0))?;
    arena.prefault();
    // Check once, outside timing, that the automatic path runs and agrees with faer.
    let path = gemm_auto(
        mat_mut(&mut c_auto, n, n, n)?,
        mat_ref(&a, n, n, n)?,
        mat_ref(&b, n, n, n)?,
        1.0,
        0.0,
        crossover,
        &arena,
    )?;
    arena.reset();
    matmul(
        fc.as_mut(),
        Accum::Replace,
        fa.as_ref(),
        fb.as_ref(),
        1.0,
        Par::Seq,
    );
    let max_diff = (0..n * n)
        .map(|x| (c_auto[x] - fc[(x / n, x % n)]).abs())
        .fold(0.0, f64::max);
    if max_diff > 1e-8 {
        return Err(format!("{case}: gemm_auto differs from faer by {max_diff}").into());
    }

    let mut impls = vec![Impl::per_op("zerotick", || {
        arena.reset();
        let r = gemm_auto(
            mat_mut(&mut c_auto, n, n, n).expect("shape checked above"),
            mat_ref(&a, n, n, n).expect("shape checked above"),
            mat_ref(&b, n, n, n).expect("shape checked above"),
            1.0,
            0.0,
            crossover,
            &arena,
        );
        black_box(r.is_ok());
        black_box(&mut c_auto);
    })];
    if matches!(path, GemmPath::Strassen { .. }) && n < 4096 {
        impls.push(Impl::per_op("zerotick-classical", || {
            let r = gemm_into(
                mat_mut(&mut c_classical, n, n, n).expect("shape checked above"),
                mat_ref(&a, n, n, n).expect("shape checked above"),
                mat_ref(&b, n, n, n).expect("shape checked above"),
                1.0,
                0.0,
            );
            black_box(r.is_ok());
            black_box(&mut c_classical);
        }));
    }
    impls.push(Impl::per_op("faer", || {
        matmul(
            fc.as_mut(),
            Accum::Replace,
            fa.as_ref(),
            fb.as_ref(),
            1.0,
            Par::Seq,
        );
        black_box(&mut fc);
    }));
    if n < 4096 {
        impls.push(Impl::per_op("matrixmultiply", || {
            let ni = n as isize;
            // SAFETY: `a`, `b` and `c_mm` hold n*n f64 each; with row stride n and column
            // stride 1 every index `i * n + j` with i, j < n is inside them; `c_mm` is
            // borrowed mutably here and aliases neither input.
            unsafe {
                matrixmultiply::dgemm(
                    n,
                    n,
                    n,
                    1.0,
                    a.as_ptr(),
                    ni,
                    1,
                    b.as_ptr(),
                    ni,
                    1,
                    0.0,
                    c_mm.as_mut_ptr(),
                    ni,
                    1,
                );
            }
            black_box(&mut c_mm);
        }));
    }
    Ok(h.case(case, impls))
}

fn rsvd_case(h: &mut Harness, peak: f64) -> Result<Vec<Row>, Box<dyn std::error::Error>> {
    let (m, n, k) = (2000, 1000, 20);
    // Rank 20 + noise: L (m x k) R (k x n) + 0.01 * noise.
    let l = Mat::<f64>::from_fn(m, k, {
        let v = fill(m * k, 3);
        move |i, j| v[i * k + j]
    });
    let r = Mat::<f64>::from_fn(k, n, {
        let v = fill(k * n, 4);
        move |i, j| v[i * n + j]
    });
    let noise = fill(m * n, 5);
    let a = &l * &r + Mat::<f64>::from_fn(m, n, |i, j| 0.01 * noise[i * n + j]);
    let params = RsvdParams::new(k);
    let mut arena = Arena::try_new(rsvd_scratch_bytes(m, n, params))?;
    arena.prefault();
    let (mut u, mut s, mut vt) = (
        Mat::<f64>::zeros(m, k),
        vec![0.0; k],
        Mat::<f64>::zeros(k, n),
    );
    rsvd_into(a.as_ref(), params, u.as_mut(), &mut s, vt.as_mut(), &arena)?;
    arena.reset();
    // Accuracy next to the optimum (the exact truncated SVD).
    let exact = a.thin_svd().map_err(|e| format!("faer thin SVD: {e:?}"))?;
    let sv = exact.S().column_vector();
    let opt = (k..n).map(|i| sv[i] * sv[i]).sum::<f64>().sqrt();
    let mut approx = Mat::<f64>::zeros(m, n);
    let us = Mat::<f64>::from_fn(m, k, |i, j| u[(i, j)] * s[j]);
    matmul(
        approx.as_mut(),
        Accum::Replace,
        us.as_ref(),
        vt.as_ref(),
        1.0,
        Par::Seq,
    );
    let err = (&a - &approx).norm_l2();
    h.note(format!(
        "rsvd_2000x1000_k20 (p = 10, q = 2): reconstruction error {:.6e} = {:.6}x the optimal \
         truncated SVD's {:.6e}; max relative error of the top-20 singular values {:.1e}",
        err,
        err / opt,
        opt,
        (0..k)
            .map(|i| (s[i] - sv[i]).abs() / sv[i])
            .fold(0.0, f64::max)
    ));
    let hmt = faer_hmt(a.as_ref(), params).map_err(|e| format!("faer-hmt: {e}"))?;
    h.note(format!(
        "faer-hmt (same k, p, q and Gaussian sketch, generated in the bench): max relative \
         difference of the top-20 singular values from zerotick's {:.1e}",
        (0..k)
            .map(|i| (s[i] - hmt.s[i]).abs() / s[i])
            .fold(0.0, f64::max)
    ));
    let rows = h.case(
        "rsvd_2000x1000_k20",
        vec![
            Impl::per_op("zerotick", || {
                arena.reset();
                let r = rsvd_into(a.as_ref(), params, u.as_mut(), &mut s, vt.as_mut(), &arena);
                black_box(r.is_ok());
                black_box(&mut s);
            }),
            Impl::per_op("faer-hmt", || {
                black_box(faer_hmt(a.as_ref(), params).is_ok());
            }),
            Impl::per_op("faer-thin-svd", || {
                black_box(a.thin_svd().is_ok());
            }),
        ],
    );
    // The products with `A` dominate: 2q + 2 of them, each 2 m n (k + p) flops.
    let l = (k + params.oversample) as f64;
    let flops = (2 * params.power_iters + 2) as f64 * 2.0 * (m * n) as f64 * l;
    let rates: Vec<String> = rows
        .iter()
        .filter(|r| r.imp != "faer-thin-svd")
        .map(|r| format!("{} {:.1}", r.imp, flops / r.median_ns))
        .collect();
    h.note(format!(
        "rsvd_2000x1000_k20: the {} products with A are {:.0} MFLOP, at least {:.1} ms at this \
         core's peak ({peak:.1} GFLOP/s); their rate over the whole call, GFLOP/s: {}",
        2 * params.power_iters + 2,
        flops / 1e6,
        flops / peak / 1e6,
        rates.join(", ")
    ));
    Ok(rows)
}

/// A rank-`k` approximation `A ~= U diag(s) V^T` from [`faer_hmt`].
#[derive(Debug)]
pub struct Hmt {
    /// `m x k`, orthonormal columns.
    pub u: Mat<f64>,
    /// The `k` singular values, descending.
    pub s: Vec<f64>,
    /// `n x k`, orthonormal columns.
    pub v: Mat<f64>,
}

/// The `faer-hmt` peer: the plain randomized SVD of Halko, Martinsson and Tropp (2011,
/// algorithms 4.4 and 5.1) written on faer's public API the obvious way, allocating per call:
/// `Omega` (`n x (k + p)`, standard normal, seeded by `params.seed`), `Q = qr(A Omega).Q`,
/// `params.power_iters` rounds of `Q = qr(A qr(A^T Q).Q).Q`, then the thin SVD of `B = Q^T A`
/// and `U = Q U_B`. Same `k`, `p`, `q` as [`rsvd_into`].
///
/// # Errors
/// If `k` is 0 or above `min(m, n)`, or faer's SVD does not converge.
pub fn faer_hmt(a: MatRef<'_, f64>, params: RsvdParams) -> Result<Hmt, String> {
    let (m, n) = a.shape();
    let k = params.k;
    if k == 0 || k > m.min(n) {
        return Err(format!("rank {k} outside 1..={}", m.min(n)));
    }
    let l = (k + params.oversample).min(m.min(n));
    let mut g = crate::data::Gaussian::new(params.seed);
    let omega = Mat::<f64>::from_fn(n, l, |_, _| g.sample());
    let mut q = (a * &omega).qr().compute_thin_Q();
    for _ in 0..params.power_iters {
        let w = (a.transpose() * &q).qr().compute_thin_Q();
        q = (a * &w).qr().compute_thin_Q();
    }
    let b = q.transpose() * a;
    let svd = b.thin_svd().map_err(|e| format!("faer SVD: {e:?}"))?;
    let u = &q * svd.U().get(.., ..k);
    let s = (0..k).map(|i| svd.S().column_vector()[i]).collect();
    let v = svd.V().get(.., ..k).to_owned();
    Ok(Hmt { u, s, v })
}

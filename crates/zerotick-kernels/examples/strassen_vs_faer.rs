//! Paired rounds of `strassen_into` (the fixed crossover rule) against faer's classical
//! `matmul` on one `n x n` product, for the Strassen rows of docs/kernels.md: each round
//! times one product of each, back to back, so a slow spell of a shared machine lands on
//! both; prints the median time and the median (min, max) of the per-round ratios.
//!
//! ```text
//! cargo run --release -p zerotick-kernels --example strassen_vs_faer -- [N [ROUNDS]]
//! ```
//! (defaults: N = 4096, ROUNDS = 7). zerotick multiplies row-major slices, faer its own
//! column-major matrices, as in `zerotick-bench dense`. The checksum (a weighted sum of
//! zerotick's product) tells two builds' results apart.

mod args;

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par};
use std::process::ExitCode;
use std::time::Instant;
use zerotick_kernels::dense::{Crossover, strassen_into, strassen_scratch_bytes};
use zerotick_mem::Arena;

fn main() -> ExitCode {
    let arg = args::positional;
    let (n, rounds) = match (arg(1, 4096), arg(2, 7)) {
        (Ok(n), Ok(r)) if n <= 1 << 15 => (n, r),
        (Ok(_), Ok(_)) => return usage("N must be at most 32768"),
        (Err(e), _) | (_, Err(e)) => return usage(&e),
    };
    let a: Vec<f64> = (0..n * n)
        .map(|i| ((i * 7919) % 1000) as f64 / 1000.0 - 0.5)
        .collect();
    let b: Vec<f64> = (0..n * n)
        .map(|i| ((i * 104_729) % 997) as f64 / 997.0 - 0.5)
        .collect();
    let mut c = vec![0.0; n * n];
    let (fa, fb) = (
        Mat::<f64>::from_fn(n, n, |i, j| a[i * n + j]),
        Mat::<f64>::from_fn(n, n, |i, j| b[i * n + j]),
    );
    let mut fc = Mat::<f64>::zeros(n, n);
    let x = Crossover::DEFAULT;
    let mut arena = match Arena::try_new(strassen_scratch_bytes(n, n, n, x, 0.0)) {
        Ok(arena) => arena,
        Err(e) => {
            eprintln!("error: scratch for n = {n}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (mut ratios, mut times) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        arena.reset();
        let t = Instant::now();
        let run = strassen_into(
            MatMut::from_row_major_slice_mut(&mut c, n, n),
            MatRef::from_row_major_slice(&a, n, n),
            MatRef::from_row_major_slice(&b, n, n),
            1.0,
            0.0,
            x,
            &arena,
        );
        let ours = t.elapsed().as_secs_f64();
        if let Err(e) = run {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
        let t = Instant::now();
        matmul(
            fc.as_mut(),
            Accum::Replace,
            fa.as_ref(),
            fb.as_ref(),
            1.0,
            Par::Seq,
        );
        ratios.push(t.elapsed().as_secs_f64() / ours);
        times.push(ours);
    }
    let checksum: f64 = c.iter().enumerate().map(|(i, v)| v * (i % 13) as f64).sum();
    ratios.sort_by(f64::total_cmp);
    times.sort_by(f64::total_cmp);
    println!(
        "n {n}, {} level(s): zerotick median {:.1} ms; faer time / zerotick time median {:.3} \
         (min {:.3}, max {:.3}) over {rounds} rounds; checksum {checksum:e}",
        x.levels(n, n, n),
        times[rounds / 2] * 1e3,
        ratios[rounds / 2],
        ratios[0],
        ratios[rounds - 1],
    );
    ExitCode::SUCCESS
}

fn usage(err: &str) -> ExitCode {
    args::usage(err, "strassen_vs_faer [N [ROUNDS]]")
}

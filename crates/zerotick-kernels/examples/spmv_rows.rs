//! SpMV speed against the shape of the rows: a 100,000 x 100,000 matrix whose rows all hold
//! `MEAN` entries (`uniform`), and one with as many entries placed at random, so that row
//! lengths vary around `MEAN` (`varied`, about Poisson). Both through
//! `Csr::spmv_into_fixed_order` (the portable loop every CPU runs), in ns per stored entry,
//! alternating the two each round. Varied lengths cost the loop a mispredicted exit about
//! once a row, which `spmv_v`'s predicated short rows avoid (docs/kernels.md, seventh
//! session).
//!
//! ```text
//! cargo run --release -p zerotick-kernels --example spmv_rows -- [MEAN [ROUNDS [REPS]]]
//! ```
//! (defaults: MEAN 10, 3 rounds of 50 products each). Under `valgrind --tool=cachegrind
//! --branch-sim=yes`, use few reps (`10 1 5`) and compare the mispredict counts.

mod args;

use std::process::ExitCode;
use std::time::Instant;
use zerotick_kernels::{Kernels, sparse::Csr};

const N: usize = 100_000;

fn main() -> ExitCode {
    let arg = args::positional;
    let (mean, rounds, reps) = match (arg(1, 10), arg(2, 3), arg(3, 50)) {
        (Ok(m), Ok(r), Ok(p)) if m <= 1_000 => (m, r, p),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => return usage(&e),
        _ => return usage("MEAN must be at most 1000"),
    };
    let mut state = 12_345u64;
    let mut next = move || {
        // splitmix64
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut build = |uniform: bool| {
        let mut counts = vec![if uniform { mean } else { 0 }; N];
        if !uniform {
            for _ in 0..N * mean {
                counts[(next() % N as u64) as usize] += 1;
            }
        }
        let (mut indptr, mut indices, mut values) = (vec![0], Vec::new(), Vec::new());
        for &count in &counts {
            let mut cols: Vec<u32> = (0..count).map(|_| (next() % N as u64) as u32).collect();
            cols.sort_unstable();
            cols.dedup();
            for c in cols {
                indices.push(c);
                values.push((next() % 1000) as f64 / 1000.0);
            }
            indptr.push(indices.len());
        }
        Csr::try_from_parts(N, N, indptr, indices, values)
    };
    let (uniform, varied) = match (build(true), build(false)) {
        (Ok(u), Ok(v)) => (u, v),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let x: Vec<f64> = (0..N).map(|i| (i % 7) as f64).collect();
    let mut y = vec![0.0; N];
    let k = Kernels::active();
    for round in 1..=rounds {
        for (name, a) in [("uniform", &uniform), ("varied", &varied)] {
            let t = Instant::now();
            for _ in 0..reps {
                if let Err(e) = a.spmv_into_fixed_order(&k, 1.0, &x, 0.0, &mut y) {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            }
            let ns = t.elapsed().as_secs_f64() * 1e9 / (reps * a.nnz()) as f64;
            println!(
                "round {round}: {name:7} rows, {} entries, {ns:.3} ns/entry",
                a.nnz()
            );
        }
    }
    ExitCode::SUCCESS
}

fn usage(err: &str) -> ExitCode {
    args::usage(err, "spmv_rows [MEAN [ROUNDS [REPS]]]")
}

//! The sparse numeric kernels allocate nothing: SpMV, SpMM, SpGEMM's numeric phase (on a plan
//! built beforehand), `to_dense_into` and `density`, on every tier, watched by a counting global
//! allocator (per thread). The symbolic phase is shown to allocate, as documented.

use zerotick_kernels::sparse::{Csr, SpgemmPlan, density};
use zerotick_kernels::{Kernels, Tier};
use zerotick_mem::counting::counting;

#[global_allocator]
static GLOBAL: zerotick_mem::counting::CountingAlloc = zerotick_mem::counting::CountingAlloc;

fn matrix(n: usize, per_row: usize) -> Csr {
    let t: Vec<(usize, usize, f64)> = (0..n * per_row)
        .map(|i| (i / per_row, (i * 7919 + 13) % n, (i % 9) as f64 - 4.0))
        .collect();
    Csr::try_from_triplets(n, n, &t).unwrap()
}

#[test]
fn counter_sees_allocations() {
    assert_eq!(counting(|| drop(std::hint::black_box(vec![1u8; 10]))), 1);
}

#[test]
fn symbolic_phase_allocates_numeric_does_not() {
    let a = matrix(500, 8);
    let n = counting(|| drop(SpgemmPlan::try_new(&a, &a).unwrap()));
    assert!(n > 0);
}

#[test]
fn numeric_kernels_allocate_nothing() {
    let n = 500;
    let mut a = matrix(n, 8);
    let x: Vec<f64> = (0..n).map(|i| i as f64 * 0.01).collect();
    let mut y = vec![0.0; n];
    let cols = 16;
    let b: Vec<f64> = (0..n * cols).map(|i| (i % 5) as f64).collect();
    let mut c = vec![0.0; n * cols];
    let mut dense = vec![0.0; n * n];
    let mut plan = SpgemmPlan::try_new(&a, &a).unwrap();
    for tier in Tier::ALL {
        let Ok(k) = Kernels::new(tier) else {
            eprintln!("skipping the {tier} tier: not supported here");
            continue;
        };
        let allocs = counting(|| {
            for round in 0..5 {
                a.spmv_into(&k, 1.0, &x, 0.5, &mut y).unwrap();
                a.spmm_into(&k, 1.0, &b, cols, 0.0, &mut c).unwrap();
                plan.numeric(&k, &a, &a).unwrap();
                a.values_mut()[round] += 1.0; // new values, same structure
                a.to_dense_into(&mut dense).unwrap();
                std::hint::black_box(density(&dense));
            }
        });
        assert_eq!(allocs, 0, "{tier}");
    }
}

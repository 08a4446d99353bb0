//! The sparse numeric kernels allocate nothing: SpMV, SpMM, SpGEMM's numeric phase (on a plan
//! built beforehand), `to_dense_into` and `density`, on every tier, watched by a counting global
//! allocator (per thread). The symbolic phase is shown to allocate, as documented.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use zerotick_kernels::sparse::{Csr, SpgemmPlan, density};
use zerotick_kernels::{Kernels, Tier};

struct Counting;

thread_local! {
    static WATCHED: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: forwards every call to `System` unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if WATCHED.try_with(Cell::get).unwrap_or(false) {
            let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        }
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn counting(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    WATCHED.with(|w| w.set(true));
    f();
    WATCHED.with(|w| w.set(false));
    ALLOCATIONS.with(Cell::get) - before
}

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

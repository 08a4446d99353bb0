//! The dense kernels allocate nothing in steady state: a counting global allocator watches
//! them on this thread after one warm-up call.

use faer::Mat;
use zerotick_kernels::dense::{
    Crossover, RsvdParams, gemm_auto, gemm_into, rsvd_into, rsvd_scratch_bytes,
    strassen_scratch_bytes, warm_up_thread,
};
use zerotick_mem::Arena;
use zerotick_mem::counting::counting;

#[global_allocator]
static GLOBAL: zerotick_mem::counting::CountingAlloc = zerotick_mem::counting::CountingAlloc;

#[test]
fn gemm_strassen_and_rsvd_allocate_nothing_after_warm_up() {
    let first = counting(|| {
        let _ = warm_up_thread(64);
    });
    assert!(
        first > 0,
        "the warm-up is where faer's packing buffer is allocated"
    );

    let (m, k, n) = (150, 130, 170);
    let a = Mat::<f64>::from_fn(m, k, |i, j| ((i * 3 + j) % 13) as f64 - 6.0);
    let b = Mat::<f64>::from_fn(k, n, |i, j| ((i + 5 * j) % 11) as f64 - 5.0);
    let mut c = Mat::<f64>::zeros(m, n);
    let x = Crossover::new(32);
    let mut arena = Arena::new(
        strassen_scratch_bytes(m, k, n, x, 1.0) + rsvd_scratch_bytes(m, k, RsvdParams::new(8)),
    );
    let params = RsvdParams::new(8);
    let (mut u, mut s, mut vt) = (Mat::<f64>::zeros(m, 8), [0.0; 8], Mat::<f64>::zeros(8, k));
    let n_alloc = counting(|| {
        for _ in 0..3 {
            gemm_into(c.as_mut(), a.as_ref(), b.as_ref(), 1.0, 0.5).unwrap();
            gemm_auto(c.as_mut(), a.as_ref(), b.as_ref(), 1.0, 0.5, x, &arena).unwrap();
            rsvd_into(a.as_ref(), params, u.as_mut(), &mut s, vt.as_mut(), &arena).unwrap();
            arena.reset();
        }
    });
    assert_eq!(n_alloc, 0);
}

//! The kernels allocate nothing: a counting global allocator watches them (per thread).

use zerotick_kernels::{
    ColumnStats, Kernels, NanPolicy, NormalizePolicy, Squash, Tier, ZeroVariance,
};
use zerotick_mem::counting::counting;

#[global_allocator]
static GLOBAL: zerotick_mem::counting::CountingAlloc = zerotick_mem::counting::CountingAlloc;

#[test]
fn counter_sees_allocations() {
    assert_eq!(counting(|| drop(std::hint::black_box(vec![1u8; 10]))), 1);
}

#[test]
fn in_place_kernels_allocate_nothing() {
    let mut x: Vec<f64> = (0..1024).map(|i| (i as f64 * 0.37).sin() * 3.0).collect();
    let y = x.clone();
    let mut out = vec![0.0; 1024];
    let mut batch: Vec<f64> = (0..32 * 1024).map(|i| (i % 97) as f64).collect();
    let mut cols = ColumnStats::new(1024);
    for tier in Tier::ALL {
        let Ok(k) = Kernels::new(tier) else { continue };
        let n = counting(|| {
            for _ in 0..10 {
                k.add_in_place(&mut x, &y).unwrap();
                k.axpy(&mut x, -1.0, &y).unwrap();
                k.tanh_into(&mut out, &x).unwrap();
                k.exp_in_place(&mut out);
                k.ln_in_place(&mut out);
                k.sigmoid_in_place(&mut out);
                let _ = (k.sum(&x), k.dot(&x, &y), k.min(&x), k.max(&x));
                let _ = k.moments(&x, NanPolicy::Skip);
                k.normalize_tanh_scale_in_place(&mut x, NormalizePolicy::default(), 2.0)
                    .unwrap();
                for squash in [Squash::TanhFast, Squash::TanhRational, Squash::TanhF32] {
                    k.normalize_squash_scale_in_place(
                        &mut x,
                        NormalizePolicy::default(),
                        squash,
                        2.0,
                    )
                    .unwrap();
                    k.squash_in_place(&mut out, squash);
                }
                k.tanh_rational_into(&mut out, &x).unwrap();
                k.tanh_f32_into(&mut out, &x).unwrap();
                cols.update(&k, &batch, 32, 1024, NanPolicy::Skip).unwrap();
                cols.normalize_rows_in_place(&k, &mut batch, 32, 1024, ZeroVariance::Zero)
                    .unwrap();
            }
        });
        assert_eq!(n, 0, "{tier}");
    }
}

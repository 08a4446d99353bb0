//! The core's measured floating-point peak: a register-only loop of independent fused
//! multiply-adds on the active SIMD tier, the ceiling a GEMM-bound kernel is held to in the
//! `dense` group's notes ("flops against the machine's measured peak", issue 15).
//!
//! Twelve accumulators cover the FMA latency (4 cycles) times the FMA ports (2) of every
//! x86-64 core this project runs on, with room to spare; no memory is touched inside the loop.
//! The figure is the best of several timed passes (a peak, not a typical rate), in GFLOP/s
//! counting an FMA as two flops.

use std::hint::black_box;
use std::time::Instant;
use zerotick_kernels::simd::{Tier, active_tier};

/// Independent FMA chains in the loop.
const CHAINS: usize = 12;
/// Loop iterations per timed pass: 12 chains x 2M = 24M vector FMAs, ~5-15 ms a pass.
const ITERS: u64 = 2_000_000;
/// Timed passes; the best one is reported.
const PASSES: usize = 7;

/// The measured peak of one core on the active tier.
#[derive(Debug, Clone, Copy)]
pub struct Peak {
    /// The tier the loop ran on.
    pub tier: Tier,
    /// Best pass, GFLOP/s (an FMA = 2 flops).
    pub gflops: f64,
}

/// Measures the peak of the calling thread's core on [`active_tier`].
pub fn measure() -> Peak {
    let tier = active_tier();
    let flops = 2.0 * tier.lanes_f64() as f64 * (CHAINS as f64) * ITERS as f64;
    let mut best = f64::INFINITY;
    for _ in 0..PASSES {
        let start = Instant::now();
        black_box(run(tier, black_box(ITERS)));
        best = best.min(start.elapsed().as_secs_f64());
    }
    Peak {
        tier,
        gflops: flops / best / 1e9,
    }
}

/// One pass on `tier`; returns a sum of the accumulators so the loop is not removed.
fn run(tier: Tier, iters: u64) -> f64 {
    match tier {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `active_tier` names AVX-512 only where the CPU has AVX-512F.
        Tier::Avx512 => unsafe { fma512(iters) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `active_tier` names AVX2 only where the CPU has AVX2 and FMA.
        Tier::Avx2 => unsafe { fma256(iters) },
        _ => fma_scalar(iters),
    }
}

/// The scalar loop (`f64::mul_add`, a fused instruction only where the build targets FMA).
fn fma_scalar(iters: u64) -> f64 {
    let (a, b) = (black_box(0.999_999_9), black_box(1e-9));
    let mut acc = [0.0f64; CHAINS];
    for _ in 0..iters {
        for x in &mut acc {
            *x = x.mul_add(a, b);
        }
    }
    acc.iter().sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn fma512(iters: u64) -> f64 {
    use std::arch::x86_64::{_mm512_fmadd_pd, _mm512_reduce_add_pd, _mm512_set1_pd};
    let a = _mm512_set1_pd(black_box(0.999_999_9));
    let b = _mm512_set1_pd(black_box(1e-9));
    let mut acc = [_mm512_set1_pd(0.0); CHAINS];
    for _ in 0..iters {
        for x in &mut acc {
            *x = _mm512_fmadd_pd(*x, a, b);
        }
    }
    acc.iter().map(|&x| _mm512_reduce_add_pd(x)).sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn fma256(iters: u64) -> f64 {
    use std::arch::x86_64::{_mm256_fmadd_pd, _mm256_set1_pd, _mm256_storeu_pd};
    let a = _mm256_set1_pd(black_box(0.999_999_9));
    let b = _mm256_set1_pd(black_box(1e-9));
    let mut acc = [_mm256_set1_pd(0.0); CHAINS];
    for _ in 0..iters {
        for x in &mut acc {
            *x = _mm256_fmadd_pd(*x, a, b);
        }
    }
    let mut sum = 0.0;
    for x in acc {
        let mut lanes = [0.0f64; 4];
        // SAFETY: `lanes` is 4 writable f64s; the store is unaligned-tolerant.
        unsafe { _mm256_storeu_pd(lanes.as_mut_ptr(), x) };
        sum += lanes.iter().sum::<f64>();
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tier_computes_the_same_recurrence() {
        // x <- x * a + b from 0, 10 steps, per lane: the tiers must agree with the scalar
        // loop (up to the number of lanes), so the timed loop really does the FMAs counted.
        let one = fma_scalar(10) / CHAINS as f64;
        assert!(one > 9.0e-9 && one < 1.1e-8, "{one}");
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                // SAFETY: AVX2 and FMA detected just above.
                let v = unsafe { fma256(10) };
                assert!((v / (4.0 * CHAINS as f64) - one).abs() < 1e-20, "{v}");
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: AVX-512F detected just above.
                let v = unsafe { fma512(10) };
                assert!((v / (8.0 * CHAINS as f64) - one).abs() < 1e-20, "{v}");
            }
        }
    }
}

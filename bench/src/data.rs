//! Deterministic inputs shared by the groups, so every impl of a case sees the same data.

/// `len` values uniform in `[lo, hi)` from a seeded xorshift64 generator. The draw is
/// `u = (s >> 11) / 2^53` in `[0, 1)`, scaled as `lo + (hi - lo) * u`; for the ranges the groups
/// use (`[-0.5, 0.5)`, `[-1, 1)`) the scaling is exact.
pub fn uniform(len: usize, seed: u64, lo: f64, hi: f64) -> Vec<f64> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            lo + (hi - lo) * ((s >> 11) as f64 / (1u64 << 53) as f64)
        })
        .collect()
}

/// The kernels' sketch generator (SplitMix64 bits, Box-Muller pairs): the bench's faer-hmt
/// draws the same sketch as zerotick's rSVD.
pub use zerotick_kernels::dense::rng::Gaussian;

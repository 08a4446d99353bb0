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

/// Standard normal samples from a seed: SplitMix64 bits, Box-Muller pairs (the distribution of
/// zerotick's rSVD sketch; its generator is private to the kernels crate).
#[derive(Clone, Debug)]
pub struct Gaussian {
    state: u64,
    spare: Option<f64>,
}

impl Gaussian {
    /// A generator seeded with `seed`: same seed, same samples.
    pub fn new(seed: u64) -> Self {
        Self {
            state: seed,
            spare: None,
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1].
    fn open_unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// One standard normal sample.
    pub fn sample(&mut self) -> f64 {
        if let Some(v) = self.spare.take() {
            return v;
        }
        let r = (-2.0 * self.open_unit().ln()).sqrt();
        let (sin, cos) = (std::f64::consts::TAU * self.open_unit()).sin_cos();
        self.spare = Some(r * sin);
        r * cos
    }
}

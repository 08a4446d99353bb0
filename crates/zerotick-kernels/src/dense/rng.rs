//! A seeded standard-normal generator: SplitMix64 bits, Box-Muller pairs. Deterministic across
//! platforms for a given seed; no allocation. It draws the randomized SVD's sketch; public so
//! a comparison (the bench's plain randomized SVD on faer) can use the same sketch.
//!
//! ```
//! use zerotick_kernels::dense::rng::Gaussian;
//!
//! let (mut a, mut b) = (Gaussian::new(7), Gaussian::new(7));
//! let x: Vec<f64> = (0..4).map(|_| a.sample()).collect();
//! assert_eq!(x, (0..4).map(|_| b.sample()).collect::<Vec<_>>());
//! ```

/// Standard normal samples from a 64-bit seed.
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
        // Scalar code after a faer product runs many times slower until the vector registers'
        // upper halves are cleared (see `clear_upper_vector_state`): not this generator's
        // callers' problem.
        super::clear_upper_vector_state();
        let r = (-2.0 * self.open_unit().ln()).sqrt();
        let (sin, cos) = (core::f64::consts::TAU * self.open_unit()).sin_cos();
        self.spare = Some(r * sin);
        r * cos
    }
}

#[cfg(test)]
mod tests {
    use super::Gaussian;

    #[test]
    fn moments_are_standard_normal() {
        let mut g = Gaussian::new(42);
        let n = 200_000;
        let (mut s1, mut s2) = (0.0, 0.0);
        for _ in 0..n {
            let x = g.sample();
            s1 += x;
            s2 += x * x;
        }
        let mean = s1 / n as f64;
        let var = s2 / n as f64 - mean * mean;
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var - 1.0).abs() < 0.02, "{var}");
    }
}

//! Shared test helpers: tiers this CPU runs, a seeded generator, ULP distance.
#![allow(dead_code)]

use zerotick_kernels::{Kernels, Tier};

/// Kernels for every tier this CPU supports; says which it skips.
pub fn tiers() -> Vec<Kernels> {
    Tier::ALL
        .into_iter()
        .filter_map(|t| match Kernels::new(t) {
            Ok(k) => Some(k),
            Err(e) => {
                eprintln!("skipping the {t} tier: {e}");
                None
            }
        })
        .collect()
}

/// xorshift64*: deterministic, dependency-free.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64)
    }
    /// Any finite f64, uniform over bit patterns (so every magnitude from 5e-324 to 1.8e308).
    pub fn any_finite(&mut self) -> f64 {
        loop {
            let v = f64::from_bits(self.next_u64());
            if v.is_finite() {
                return v;
            }
        }
    }
}

/// Distance in units in the last place; 0 for equal values or two NaNs, `u64::MAX` when
/// exactly one is NaN.
pub fn ulps(a: f64, b: f64) -> u64 {
    if a.is_nan() && b.is_nan() || a == b {
        return 0;
    }
    if a.is_nan() || b.is_nan() {
        return u64::MAX;
    }
    let key = |x: f64| {
        let i = x.to_bits() as i64;
        if i < 0 { i64::MIN - i } else { i }
    };
    key(a).abs_diff(key(b))
}

/// Awkward values: zeros, subnormals, extremes, infinities, NaN.
pub const SPECIALS: [f64; 16] = [
    0.0,
    -0.0,
    5e-324,
    -5e-324,
    2.2250738585072014e-308,
    1e-300,
    -1e-300,
    1.0,
    -1.0,
    1e300,
    -1e300,
    f64::MAX,
    f64::MIN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
];

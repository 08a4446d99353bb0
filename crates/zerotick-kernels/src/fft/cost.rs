//! Transform lengths and the cost model that picks a method.
//!
//! Costs are estimated from two kinds of machine constants: nanoseconds per direct
//! multiply-add, and nanoseconds per "point·log" of a transform step of an FFT convolution
//! (`t(L) = c(L) * L * log2 L`: one real transform plus its share of the loading, spectral
//! product and adding). `c(L)` is measured at `L = 2^9` (an overlap-add convolution) and at
//! `L = 2^17` (one FFT convolution), interpolated in `log2 L` between them, grown by 10% per
//! doubling above `2^17` (transforms spill out of L2 there; measured on the reference machine), and raised by 4% per factor 3 and 10% per
//! factor 5 of `L` (rustfft's radix-3/5 passes are slower per point than radix-4; measured).
//!
//! - direct: `c_direct * (multiply-adds of the mode's outputs)`;
//! - FFT: `3 t(L)` (two forward transforms, one inverse) with `L = next_fast_len(n + m - 1)`;
//! - overlap-add in blocks `B = L - m + 1`: `(1 + 2 ceil(n / B)) t(L)` (times 1.15 for
//!   signals over `2^17` values, whose blocks stream from beyond L2), minimised over
//!   `L = 2^k` and `3 * 2^k` from `2m` up (small lengths with factors of 5 measured up to 60%
//!   slower per point, so overlap-add does not use them).

use std::sync::OnceLock;
use std::time::Instant;

use super::{Choice, Method, Mode};
use crate::simd::Kernels;

/// How transform lengths are padded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Padding {
    /// The next even `2^a 3^b 5^c` (see [`next_fast_len`]): at most ~7% padding.
    #[default]
    Fast,
    /// The next power of two: up to 100% padding.
    PowerOfTwo,
}

impl Padding {
    /// The transform length this padding gives for at least `len` points (at least 2).
    pub fn len_for(self, len: usize) -> usize {
        match self {
            Padding::Fast => next_fast_len(len),
            Padding::PowerOfTwo => len.max(2).next_power_of_two(),
        }
    }
}

/// The smallest even `L >= len` (and `>= 2`) of the form `2^a 3^b 5^c`: lengths rustfft
/// transforms with its fast radix-2/3/4/5 kernels (realfft uses a complex FFT of `L / 2`).
///
/// ```
/// use zerotick_kernels::fft::next_fast_len;
/// assert_eq!(next_fast_len(1), 2);
/// assert_eq!(next_fast_len(7), 8);
/// assert_eq!(next_fast_len(1_048_576 + 1023), 1_049_760); // 2^5 3^8 5; 2^21 for a power of two
/// ```
pub fn next_fast_len(len: usize) -> usize {
    let target = len.max(2);
    let mut best = target.next_power_of_two();
    let mut p5 = 1usize;
    while p5 < best {
        let mut p35 = p5;
        while p35 < best {
            // Smallest `p35 * 2^a >= target` with `a >= 1`.
            let mut l = p35 * 2;
            while l < target {
                l *= 2;
            }
            best = best.min(l);
            p35 *= 3;
        }
        p5 *= 5;
    }
    best
}

/// The machine constants of the cost model. `Copy`: calibrate once ([`CostModel::calibrate`],
/// or [`CostModel::cached`] for once per process), store the fields, rebuild with
/// [`CostModel::new`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CostModel {
    /// Nanoseconds per multiply-add of the direct kernel on its tier.
    pub direct_ns_per_madd: f64,
    /// Nanoseconds per point·log2 of one transform step at length `2^9` (overlap-add).
    pub fft_ns_small: f64,
    /// Nanoseconds per point·log2 of one transform step at length `2^17` (one FFT).
    pub fft_ns_large: f64,
}

/// `log2` of the lengths the FFT constants are measured at.
const SMALL_LOG: f64 = 9.0;
const LARGE_LOG: f64 = 17.0;

impl Default for CostModel {
    /// Constants measured on an AVX2+FMA AMD EPYC (2 cores) in November 2026; calibrate for
    /// other machines.
    fn default() -> Self {
        Self::new(0.068, 0.23, 0.25)
    }
}

impl CostModel {
    /// A model from stored constants.
    pub const fn new(direct_ns_per_madd: f64, fft_ns_small: f64, fft_ns_large: f64) -> Self {
        Self {
            direct_ns_per_madd,
            fft_ns_small,
            fft_ns_large,
        }
    }

    /// Measures the constants on this machine (about 30 ms): the direct kernel on `kernels`'
    /// tier at 16,384 x 32, an overlap-add convolution with `L = 2^9` and one FFT convolution
    /// with `L = 2^17`, interleaved over 10 rounds, the fastest round of each kept. Allocates its buffers and plans.
    pub fn calibrate(kernels: Kernels) -> Self {
        let x: Vec<f64> = (0..1 << 17)
            .map(|i| ((i * 7919) % 1000) as f64 * 1e-3)
            .collect();
        let mut conv = super::FftConvolver::with_cost_model(Self::default(), kernels);
        let mut out = vec![0.0; x.len()];
        let (l_small, l_large, m, blocks) = (1usize << 9, 1usize << 17, 64, 32);
        let runs = [
            // (signal length, kernel length, choice, calls per timing)
            (16_384, 32, Choice::direct(), 8),
            (
                blocks * (l_small - m + 1),
                m,
                Choice::overlap_add(l_small - m + 1, m, Padding::PowerOfTwo),
                2,
            ),
            (
                l_large - m + 1,
                m,
                Choice::fft(l_large - m + 1, m, Padding::PowerOfTwo),
                1,
            ),
        ];
        // Interleaved rounds, fastest per kind: a burst of load on the machine hits every
        // kind alike instead of skewing one constant.
        let mut best = [f64::INFINITY; 3];
        for round in 0..10 {
            for (slot, &(n, k, choice, calls)) in runs.iter().enumerate() {
                let (a, b) = (&x[..n], &x[..k]);
                let out = &mut out[..n + k - 1];
                let mut call = || {
                    let _ = conv.convolve_with_into(choice, a, b, Mode::Full, out);
                    std::hint::black_box(&mut *out);
                };
                if round == 0 {
                    call(); // plans, warms caches
                }
                let t = Instant::now();
                for _ in 0..calls {
                    call();
                }
                best[slot] = best[slot].min(t.elapsed().as_nanos() as f64 / calls as f64);
            }
        }
        let direct = best[0] / (16_384.0 * 32.0);
        let small = best[1] / ((1 + 2 * blocks) as f64 * l_small as f64 * SMALL_LOG);
        let large = best[2] / (3.0 * l_large as f64 * LARGE_LOG);
        Self::new(direct, small, large)
    }

    /// A model calibrated once per process (the first call measures, on [`Kernels::active`]).
    pub fn cached() -> Self {
        static CACHED: OnceLock<CostModel> = OnceLock::new();
        *CACHED.get_or_init(|| CostModel::calibrate(Kernels::active()))
    }

    /// Nanoseconds per point·log2 of a transform step of length `len`.
    pub fn fft_ns_per_point_log(&self, len: usize) -> f64 {
        let lg = (len.max(2) as f64).log2();
        let t = ((lg - SMALL_LOG) / (LARGE_LOG - SMALL_LOG)).clamp(0.0, 1.0);
        let base = self.fft_ns_small + t * (self.fft_ns_large - self.fft_ns_small);
        let spill = 1.0 + 0.1 * (lg - LARGE_LOG).max(0.0);
        let (mut rest, mut penalty) = (len.max(1), 1.0);
        while rest % 3 == 0 {
            rest /= 3;
            penalty += 0.04;
        }
        while rest % 5 == 0 {
            rest /= 5;
            penalty += 0.10;
        }
        base * spill * penalty
    }

    /// Estimated nanoseconds of one transform step of length `len`.
    pub fn transform_ns(&self, len: usize) -> f64 {
        let l = len.max(2) as f64;
        self.fft_ns_per_point_log(len) * l * l.log2()
    }

    /// Estimated nanoseconds of convolving inputs of lengths `n >= m >= 1` in `mode` with
    /// `choice`.
    pub fn estimate_ns(&self, choice: Choice, n: usize, m: usize, mode: Mode) -> f64 {
        let l = choice.fft_len();
        match choice.method() {
            Method::Direct => self.direct_ns_per_madd * direct_madds(n, m, mode),
            Method::Fft => 3.0 * self.transform_ns(l),
            Method::OverlapAdd => {
                let blocks = n.div_ceil(choice.block_len().max(1)) as f64;
                // Signal and output beyond L2 (2^17 values): each block's copy-in and add-out
                // miss cache, measured +15% per transform step.
                let spill = if n > 1 << 17 { 1.15 } else { 1.0 };
                (1.0 + 2.0 * blocks) * self.transform_ns(l) * spill
            }
        }
    }

    /// The cheapest overlap-add for `n >= m >= 1`: transform lengths `2^k` and `3 * 2^k` from
    /// `2m` up to the single-transform length.
    pub fn best_overlap_add(&self, n: usize, m: usize, mode: Mode) -> Choice {
        let full = next_fast_len(n + m - 1);
        let mut best = Choice::overlap_add(n, m, Padding::Fast);
        let mut best_ns = self.estimate_ns(best, n, m, mode);
        let mut p = (2 * m).max(16).next_power_of_two();
        while p < full {
            for l in [p, p / 4 * 3] {
                if l >= 2 * m && l < full {
                    let c = Choice::overlap_add(l - m + 1, m, Padding::Fast);
                    let ns = self.estimate_ns(c, n, m, mode);
                    if ns < best_ns {
                        (best, best_ns) = (c, ns);
                    }
                }
            }
            p *= 2;
        }
        best
    }

    /// The cheapest method (with its sizes) for inputs of lengths `len_a`, `len_b` in `mode`.
    /// Direct when either input is empty (the convolution refuses it anyway).
    pub fn choose(&self, len_a: usize, len_b: usize, mode: Mode) -> Choice {
        let (n, m) = (len_a.max(len_b), len_a.min(len_b));
        if m == 0 {
            return Choice::direct();
        }
        let direct = Choice::direct();
        let fft = Choice::fft(n, m, Padding::Fast);
        let mut best = (direct, self.estimate_ns(direct, n, m, mode));
        let fft_ns = self.estimate_ns(fft, n, m, mode);
        if fft_ns < best.1 {
            best = (fft, fft_ns);
        }
        // Overlap-add only pays when the signal is several blocks of a kernel-sized transform.
        if n >= 4 * m {
            let ola = self.best_overlap_add(n, m, mode);
            let ola_ns = self.estimate_ns(ola, n, m, mode);
            if ola_ns < best.1 {
                best = (ola, ola_ns);
            }
        }
        best.0
    }
}

/// Multiply-adds of a direct convolution of `n >= m >= 1` in `mode`.
fn direct_madds(n: usize, m: usize, mode: Mode) -> f64 {
    let (n, m) = (n as f64, m as f64);
    match mode {
        Mode::Full => n * m,
        Mode::Same => n * m - m * m / 4.0,
        Mode::Valid => (n - m + 1.0) * m,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_fast(mut l: usize) -> bool {
        if !l.is_multiple_of(2) {
            return false;
        }
        for p in [2, 3, 5] {
            while l.is_multiple_of(p) {
                l /= p;
            }
        }
        l == 1
    }

    #[test]
    fn fast_lengths_are_the_next_fast_even_number() {
        for len in 0..3000 {
            let f = next_fast_len(len);
            assert!(f >= len.max(2) && is_fast(f), "{len} -> {f}");
            assert!((len.max(2)..f).all(|l| !is_fast(l)), "{len} -> {f}");
        }
        assert_eq!(next_fast_len(1 << 20), 1 << 20);
    }

    #[test]
    fn choice_follows_the_costs() {
        let c = CostModel::default();
        assert_eq!(c.choose(100, 5, Mode::Full).method(), Method::Direct);
        assert_eq!(
            c.choose(1 << 20, 1 << 12, Mode::Full).method(),
            Method::OverlapAdd
        );
        assert_eq!(c.choose(1 << 16, 1 << 15, Mode::Full).method(), Method::Fft);
        assert_eq!(c.choose(0, 5, Mode::Full).method(), Method::Direct);
    }
}

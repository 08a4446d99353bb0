//! The synthetic market's samplers: tables built once at construction, then O(1) and
//! branch-free per draw (no `exp`, `ln`, `sqrt` or `sin_cos` per tick, no allocation).
//!
//! * [`AliasTable`]: Walker/Vose alias method for a discrete distribution (which symbol trades).
//! * [`Quantiles`]: a piecewise-linear inverse CDF over `2^LOG2` equal-probability cells,
//!   indexed by the top bits of a 32-bit draw and interpolated with the rest. Built for the
//!   standard normal ([`Quantiles::standard_normal`]) and, through it, the log-normal.
//! * [`Exponential`]: `-ln U` from the leading-zero count of a 64-bit draw (the binary
//!   exponent of `U`, exact and unbounded) plus a table of `ln(1 + m)` for the mantissa.

use core::f64::consts::{LN_2, PI};

/// Walker/Vose alias table: one uniform cell pick and one biased coin give index `i` with
/// probability `weights[i] / sum(weights)`.
///
/// Cell `i` keeps `i` when the coin (32 bits) is below `threshold`, else yields `alias`. A cell
/// that keeps its index always has `threshold == u32::MAX` and `alias == i`, so the one coin
/// value at or above the threshold gives `i` too.
#[derive(Debug, Clone)]
pub(super) struct AliasTable {
    /// Invariant: non-empty, at most `u32::MAX` cells, every `alias < cells.len()`.
    cells: Box<[AliasCell]>,
}

#[derive(Debug, Clone, Copy)]
struct AliasCell {
    threshold: u32,
    alias: u32,
}

impl AliasTable {
    /// The table for `weights` (each finite and > 0; at least one, at most `u32::MAX`).
    pub(super) fn new(weights: &[f64]) -> Self {
        let n = weights.len();
        debug_assert!(n > 0 && n <= u32::MAX as usize);
        debug_assert!(weights.iter().all(|w| w.is_finite() && *w > 0.0));
        let total: f64 = weights.iter().sum();
        // Scaled so the mean is 1: cell `i` holds `q[i]` of its own and `1 - q[i]` of an alias.
        let mut q: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut cells: Vec<AliasCell> = (0..n as u32)
            .map(|i| AliasCell {
                threshold: u32::MAX,
                alias: i,
            })
            .collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| q[i] < 1.0);
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            cells[s] = AliasCell {
                threshold: to_threshold(q[s]),
                alias: l as u32,
            };
            q[l] -= 1.0 - q[s];
            if q[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // What is left is 1 up to rounding: those cells keep their index (set above).
        Self {
            cells: cells.into_boxed_slice(),
        }
    }

    /// An index drawn with the table's probabilities, from 64 random bits: the high 32 pick
    /// the cell (`(hi * n) >> 32`, so a cell's chance is off by at most `n / 2^32` relative),
    /// the low 32 are the coin.
    #[inline]
    pub(super) fn sample(&self, bits: u64) -> usize {
        let i = (((bits >> 32) * self.cells.len() as u64) >> 32) as usize;
        let cell = self.cells[i];
        // Half the cells of a skewed table take either branch: a branch would mispredict
        // often, so select without one.
        core::hint::select_unpredictable((bits as u32) < cell.threshold, i, cell.alias as usize)
    }

    /// The exact probability of each outcome as the table encodes it (for tests).
    #[cfg(test)]
    pub(super) fn probabilities(&self) -> Vec<f64> {
        let n = self.cells.len() as f64;
        let mut p = vec![0.0; self.cells.len()];
        for (i, c) in self.cells.iter().enumerate() {
            let keep = c.threshold as f64 / 2f64.powi(32);
            p[i] += keep / n;
            p[c.alias as usize] += (1.0 - keep) / n;
        }
        p
    }
}

/// `p` in `[0, 1]` as a 32-bit threshold: the coin `c` passes when `c < threshold`.
fn to_threshold(p: f64) -> u32 {
    (p * 2f64.powi(32)).round().clamp(0.0, u32::MAX as f64) as u32
}

/// A piecewise-linear inverse CDF over `2^LOG2` cells of equal probability: a draw picks cell
/// `k` with its top `LOG2` bits and returns `values[k] + (values[k + 1] - values[k]) * f`,
/// `f` the remaining bits as a fraction. `LEN` must be `2^LOG2 + 1`.
#[derive(Debug, Clone)]
pub(super) struct Quantiles<const LOG2: u32, const LEN: usize> {
    /// Node `k` is the quantile at probability `k / 2^LOG2` (the end nodes are finite
    /// stand-ins for the tails, see [`Quantiles::standard_normal`]).
    values: Box<[f64; LEN]>,
}

impl<const LOG2: u32, const LEN: usize> Quantiles<LOG2, LEN> {
    const CELLS: usize = {
        assert!(LOG2 >= 1 && LOG2 <= 16 && LEN == (1 << LOG2) + 1);
        1 << LOG2
    };

    /// A table over the given nodes (`LEN` of them, non-decreasing).
    fn from_nodes(nodes: Vec<f64>) -> Self {
        debug_assert!(nodes.windows(2).all(|w| w[0] <= w[1]));
        let values: Box<[f64; LEN]> = match nodes.into_boxed_slice().try_into() {
            Ok(v) => v,
            Err(_) => unreachable!("every builder makes LEN nodes"),
        };
        Self { values }
    }

    /// The standard normal, with unit variance exactly (up to rounding) and tails truncated.
    ///
    /// Interior nodes are `Φ⁻¹(k / 2^LOG2)` (Acklam's rational approximation, relative error
    /// < 1.2e-9). The two end cells hold the tails beyond `|Φ⁻¹(2^-LOG2)|`; their outer node is
    /// placed so the cell's mean equals the tail's conditional mean (`∓ 2^LOG2 φ(z₁)`), which
    /// truncates the tails at ±3.99 for `LOG2 = 12` (±3.65 for 10). Finally every node is
    /// scaled so the distribution the table samples has variance 1 (before, it is 1 + 5e-5 for
    /// `LOG2 = 12`, 1 + 1.7e-4 for 10: the linear segments slightly overweight each cell's
    /// outer side, more than the truncation loses), so nodes move by under 1e-4 relative.
    pub(super) fn standard_normal() -> Self {
        let n = Self::CELLS;
        let mut nodes: Vec<f64> = (0..=n)
            .map(|k| {
                if k == 0 || k == n {
                    0.0
                } else {
                    inverse_normal_cdf(k as f64 / n as f64)
                }
            })
            .collect();
        let z1 = nodes[1];
        let tail_mean = -(n as f64) * (-0.5 * z1 * z1).exp() / (2.0 * PI).sqrt();
        nodes[0] = 2.0 * tail_mean - z1;
        nodes[n] = -nodes[0];
        let table = Self::from_nodes(nodes);
        let scale = 1.0 / table.variance().sqrt();
        Self::from_nodes(table.values.iter().map(|v| v * scale).collect())
    }

    /// A table over the nodes of `base` mapped through the increasing function `f`.
    pub(super) fn map(base: &Self, f: impl Fn(f64) -> f64) -> Self {
        Self::from_nodes(base.values.iter().map(|&v| f(v)).collect())
    }

    /// `ln(1 + k / 2^LOG2)` at node `k`: the mantissa part of [`Exponential`].
    fn ln_1p_unit() -> Self {
        let n = Self::CELLS as f64;
        Self::from_nodes((0..LEN).map(|k| (k as f64 / n).ln_1p()).collect())
    }

    /// A sample from 32 random bits.
    #[inline]
    pub(super) fn sample(&self, bits: u32) -> f64 {
        let k = (bits >> (32 - LOG2)) as usize;
        let f = (bits << LOG2) as f64 * (1.0 / 4_294_967_296.0);
        let (a, b) = (self.values[k], self.values[k + 1]);
        a + (b - a) * f
    }

    /// Mean of the sampled distribution (each cell uniform along its segment).
    pub(super) fn mean(&self) -> f64 {
        let sum: f64 = self.values.windows(2).map(|w| 0.5 * (w[0] + w[1])).sum();
        sum / Self::CELLS as f64
    }

    /// Variance of the sampled distribution.
    pub(super) fn variance(&self) -> f64 {
        let m2: f64 = self
            .values
            .windows(2)
            .map(|w| (w[0] * w[0] + w[0] * w[1] + w[1] * w[1]) / 3.0)
            .sum::<f64>()
            / Self::CELLS as f64;
        let m = self.mean();
        m2 - m * m
    }

    /// The outermost node (for tests and docs).
    #[cfg(test)]
    pub(super) fn node(&self, k: usize) -> f64 {
        self.values[k]
    }
}

/// Standard exponential draws, `-ln U` for `U` uniform in `(0, 1]`.
///
/// With `U = 2^-(e+1) (1 + m)`, `e` the leading zeros of a 64-bit draw and `m` the bits after
/// its leading one, `-ln U = (e + 1) ln 2 - ln(1 + m)`: the exponent part is exact (so the tail
/// is the true geometric one, up to 45.1), and `ln(1 + m)` comes from a 1,024-cell table with
/// linear interpolation, absolute error <= (2^-10)^2 / 8 = 1.2e-7 (and `m` is rounded down to
/// 32 bits). The mean is 1 within 2e-7.
#[derive(Debug, Clone)]
pub(super) struct Exponential {
    ln_1p: Quantiles<10, 1025>,
}

impl Exponential {
    /// The largest sample: `65 ln 2` (from 64 zero bits), plus a margin for rounding.
    pub(super) const MAX: f64 = 65.0 * LN_2 + 1e-9;

    pub(super) fn new() -> Self {
        Self {
            ln_1p: Quantiles::ln_1p_unit(),
        }
    }

    /// A sample from 64 random bits, in `[0, 65 ln 2]`.
    #[inline]
    pub(super) fn sample(&self, bits: u64) -> f64 {
        let e = bits.leading_zeros(); // 0..=64
        // The bits after the leading one (all zero when `bits == 0`: `wrapping_shl(64)` is a
        // shift by 0 of 0).
        let m = bits.wrapping_shl(e) << 1;
        f64::from(e + 1) * LN_2 - self.ln_1p.sample((m >> 32) as u32)
    }
}

/// `Φ⁻¹(p)` for `p` in `(0, 1)`: Acklam's algorithm, relative error < 1.15e-9. Used only to
/// build tables.
pub(super) fn inverse_normal_cdf(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const P_LOW: f64 = 0.024_25;
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < P_LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p <= 1.0 - P_LOW {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerotick_core::rng::Rng;

    #[test]
    fn alias_table_encodes_the_weights_exactly() {
        for n in [1usize, 2, 3, 64, 1000, 4096] {
            let w: Vec<f64> = (0..n).map(|i| 1.0 / ((i + 1) as f64).powf(0.8)).collect();
            let total: f64 = w.iter().sum();
            let p = AliasTable::new(&w).probabilities();
            for (i, (p, w)) in p.iter().zip(&w).enumerate() {
                let want = w / total;
                // Thresholds are rounded to 2^-32.
                assert!((p - want).abs() < 1e-9, "n {n} i {i}: {p} vs {want}");
            }
        }
        // Very uneven weights, and equal ones.
        let p = AliasTable::new(&[1e-6, 1.0, 1e6]).probabilities();
        assert!((p[2] - 1e6 / (1e6 + 1.0 + 1e-6)).abs() < 1e-9, "{p:?}");
        let p = AliasTable::new(&[2.0; 5]).probabilities();
        assert!(p.iter().all(|p| (p - 0.2).abs() < 1e-12), "{p:?}");
    }

    #[test]
    fn alias_sample_covers_the_edges_of_the_bits() {
        let t = AliasTable::new(&[1.0, 1.0, 1.0]);
        for bits in [0, u64::MAX, 1 << 63, u64::MAX >> 1, 0xFFFF_FFFF] {
            assert!(t.sample(bits) < 3, "{bits:#x}");
        }
        assert_eq!(AliasTable::new(&[5.0]).sample(u64::MAX), 0);
    }

    #[test]
    fn inverse_normal_cdf_matches_known_quantiles() {
        for (p, z) in [
            (0.5, 0.0),
            (0.975, 1.959_963_984_540_054),
            (0.841_344_746_068_542_9, 1.0),
            (0.001_349_898_031_630_094_6, -3.0),
            (1e-10, -6.361_340_902_404_056),
        ] {
            let got = inverse_normal_cdf(p);
            assert!(
                (got - z).abs() <= 1.2e-9 * z.abs().max(1.0),
                "{p}: {got} vs {z}"
            );
        }
    }

    #[test]
    fn normal_table_has_unit_variance_zero_mean_and_the_right_nodes() {
        let t = Quantiles::<12, 4097>::standard_normal();
        assert!(t.mean().abs() < 1e-12, "{}", t.mean());
        assert!((t.variance() - 1.0).abs() < 1e-12, "{}", t.variance());
        // The rescale moves interior nodes by under 1e-4 relative.
        let z975 = t.node(3994); // Φ⁻¹(3994 / 4096) = 1.961_637_6 (Python statistics.NormalDist)
        assert!((z975 / 1.961_637_6 - 1.0).abs() < 1e-4, "{z975}");
        assert!((t.node(0) + 3.9913).abs() < 1e-3, "tail {}", t.node(0));
        let t10 = Quantiles::<10, 1025>::standard_normal();
        assert!((t10.variance() - 1.0).abs() < 1e-12);
        // Edges of the bits stay inside the end nodes.
        assert_eq!(t.sample(0), t.node(0));
        assert!(t.sample(u32::MAX) <= t.node(4096) && t.sample(u32::MAX) > t.node(4095));
    }

    #[test]
    fn normal_samples_follow_the_normal_cdf() {
        let t = Quantiles::<12, 4097>::standard_normal();
        let mut rng = Rng::new(1);
        let n = 1_000_000;
        let zs: Vec<f64> = (0..n).map(|_| t.sample(rng.next_u64() as u32)).collect();
        // Φ at 0.5, 1, 2, 3 (scipy.stats.norm.cdf); 4 sd of a binomial proportion is < 2e-3.
        for (x, phi) in [
            (0.5, 0.691_462_461_274_013_1),
            (1.0, 0.841_344_746_068_542_9),
            (2.0, 0.977_249_868_051_820_8),
            (3.0, 0.998_650_101_968_369_9),
        ] {
            let below = zs.iter().filter(|&&z| z < x).count() as f64 / n as f64;
            assert!(
                (below - phi).abs() < 2e-3,
                "P(z < {x}) = {below}, want {phi}"
            );
        }
        let mean = zs.iter().sum::<f64>() / n as f64;
        let var = zs.iter().map(|z| (z - mean).powi(2)).sum::<f64>() / n as f64;
        let kurt = zs.iter().map(|z| (z - mean).powi(4)).sum::<f64>() / n as f64 / (var * var);
        assert!(
            mean.abs() < 5e-3 && (var - 1.0).abs() < 5e-3,
            "{mean} {var}"
        );
        assert!((kurt - 3.0).abs() < 0.05, "kurtosis {kurt}");
    }

    #[test]
    fn exponential_is_exact_in_the_exponent_and_close_in_the_mantissa() {
        let e = Exponential::new();
        // U = 1 (all ones, rounded down) -> ~0; U = 1/2 -> ln 2; U = 2^-65 (zero bits) -> 65 ln 2.
        assert!(e.sample(u64::MAX) < 1e-6, "{}", e.sample(u64::MAX));
        assert!((e.sample(1 << 62) - 2.0 * LN_2).abs() < 1e-12);
        assert!((e.sample(0) - 65.0 * LN_2).abs() < 1e-12);
        assert!(e.sample(0) <= Exponential::MAX);
        assert!((e.sample(1) - 64.0 * LN_2).abs() < 1e-12);
        // Against ln at random points: -ln(bits / 2^64), within the table's 1.2e-7 plus the
        // 32-bit rounding of the mantissa.
        let mut rng = Rng::new(2);
        for _ in 0..100_000 {
            let bits = rng.next_u64();
            let exact = -((bits as f64) / 2f64.powi(64)).ln();
            assert!((e.sample(bits) - exact).abs() < 2e-7, "{bits:#x}");
        }
        let n = 1_000_000;
        let mean = (0..n).map(|_| e.sample(rng.next_u64())).sum::<f64>() / n as f64;
        assert!((mean - 1.0).abs() < 5e-3, "{mean}");
    }
}

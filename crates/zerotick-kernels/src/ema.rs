//! Exponential moving averages folded a block at a time.
//!
//! A bank of EMAs with smoothing factors `a_h` (one per *horizon* `h`) over several input
//! *streams* follows, per stream and horizon, `e <- e + a (x - e)` on every input `x`. Over a
//! block of `m` inputs `x_1..x_m` that recursion has the closed form
//!
//! ```text
//! e_{n+m} = (1 - a)^m e_n + sum_{k=1..m} a (1 - a)^(m-k) x_{n+k}
//! ```
//!
//! that is one small GEMM (streams x m inputs times an m x horizons weight matrix) plus a
//! per-horizon decay: no dependency chain from one input to the next, vectorised across the
//! horizons. [`EmaBank`] precomputes the weights and decays once (the only allocation);
//! [`Kernels::ema_fold`] applies a block without allocating.
//!
//! Rounding: the fold computes `m + 1` products and sums them oldest (smallest weight) first,
//! so a fold is within about `(m + 2) eps * max(|e_n|, max |x|)` of the exact closed form;
//! the recursion it replaces has the same kind of bound, and the two differ by rounding only
//! (tests compare every tier with the recursion and with the scalar tier).

use crate::error::KernelError;
use crate::simd::{Kernels, madd, multiversion};

/// Horizons handled per register block (4 AVX-512 or 8 AVX2 vectors of accumulators).
const HB: usize = 32;

/// Precomputed weights and decays of a set of EMA horizons for blocks of up to
/// [`max_block`](Self::max_block) inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct EmaBank {
    /// Smoothing factor per horizon, each in `(0, 1]`.
    alphas: Box<[f64]>,
    /// Longest block a fold accepts.
    max_block: usize,
    /// Row-major `max_block x horizons`: row `j` holds `a (1 - a)^(max_block - 1 - j)`. A
    /// block of `m` inputs uses the last `m` rows. Invariant: `len == max_block * horizons`.
    weights: Box<[f64]>,
    /// Row-major `(max_block + 1) x horizons`: row `m` holds `(1 - a)^m`.
    /// Invariant: `len == (max_block + 1) * horizons`.
    decay: Box<[f64]>,
}

/// The largest block an [`EmaBank`] folds at once: 2^20 inputs (its tables are then
/// `16 MiB` per horizon; a block's weights are powers of `1 - alpha` that underflow to 0 far
/// sooner for any useful factor).
pub const MAX_EMA_BLOCK: usize = 1 << 20;

impl EmaBank {
    /// A bank for the smoothing factors `alphas`, folding blocks of at most `max_block`
    /// inputs. Allocates `(2 max_block + 1) * alphas.len()` `f64`.
    ///
    /// # Errors
    /// [`KernelError::InvalidBounds`] (with `lo = 0`, `hi = 1`) if a factor is not in `(0, 1]`;
    /// [`KernelError::Empty`] if `alphas` is empty or `max_block` is 0;
    /// [`KernelError::LengthMismatch`] (`expected` the bound) if `max_block` is above
    /// [`MAX_EMA_BLOCK`].
    pub fn new(alphas: &[f64], max_block: usize) -> Result<Self, KernelError> {
        if alphas.is_empty() || max_block == 0 {
            return Err(KernelError::Empty);
        }
        if max_block > MAX_EMA_BLOCK {
            return Err(KernelError::LengthMismatch {
                expected: MAX_EMA_BLOCK,
                got: max_block,
            });
        }
        if alphas.iter().any(|a| !(*a > 0.0 && *a <= 1.0)) {
            return Err(KernelError::InvalidBounds { lo: 0.0, hi: 1.0 });
        }
        let h = alphas.len();
        let mut decay = vec![0.0; (max_block + 1) * h];
        let mut weights = vec![0.0; max_block * h];
        for (j, a) in alphas.iter().enumerate() {
            let keep = 1.0 - a;
            for m in 0..=max_block {
                // powi: about log2(m) roundings instead of m for repeated products.
                decay[m * h + j] = keep.powi(m as i32);
            }
            for row in 0..max_block {
                weights[row * h + j] = a * decay[(max_block - 1 - row) * h + j];
            }
        }
        Ok(Self {
            alphas: alphas.into(),
            max_block,
            weights: weights.into_boxed_slice(),
            decay: decay.into_boxed_slice(),
        })
    }

    /// Number of horizons.
    #[inline]
    pub fn horizons(&self) -> usize {
        self.alphas.len()
    }

    /// Longest block [`Kernels::ema_fold`] accepts with this bank.
    #[inline]
    pub fn max_block(&self) -> usize {
        self.max_block
    }

    /// The smoothing factors.
    #[inline]
    pub fn alphas(&self) -> &[f64] {
        &self.alphas
    }

    /// Weights of a block of `m <= max_block` inputs: `m x horizons`, row `k` (0-based,
    /// oldest first) holding `a (1 - a)^(m - 1 - k)`.
    #[inline]
    fn weights(&self, m: usize) -> &[f64] {
        &self.weights[(self.max_block - m) * self.horizons()..]
    }

    /// `(1 - a)^m` per horizon, `m <= max_block`.
    #[inline]
    fn decay(&self, m: usize) -> &[f64] {
        let h = self.horizons();
        &self.decay[m * h..(m + 1) * h]
    }
}

multiversion! {
    fn ema_fold_v(
        state: &mut [f64],
        inputs: &[f64],
        stride: usize,
        m: usize,
        weights: &[f64],
        decay: &[f64],
    ) -> () {
        let h = decay.len();
        for (s, e) in state.chunks_exact_mut(h).enumerate() {
            let x = &inputs[s * stride..s * stride + m];
            let mut lo = 0;
            while lo + HB <= h {
                // 32 accumulators: registers on both vector tiers.
                let mut acc = [0.0; HB];
                let (eb, db) = (&e[lo..lo + HB], &decay[lo..lo + HB]);
                for j in 0..HB {
                    acc[j] = eb[j] * db[j];
                }
                for (k, xk) in x.iter().enumerate() {
                    let w = &weights[k * h + lo..k * h + lo + HB];
                    for j in 0..HB {
                        acc[j] = madd::<FMA>(w[j], *xk, acc[j]);
                    }
                }
                e[lo..lo + HB].copy_from_slice(&acc);
                lo += HB;
            }
            for j in lo..h {
                let mut acc = e[j] * decay[j];
                for (k, xk) in x.iter().enumerate() {
                    acc = madd::<FMA>(weights[k * h + j], *xk, acc);
                }
                e[j] = acc;
            }
        }
    }
}

impl Kernels {
    /// Advances a bank of EMAs over a block of `m` inputs per stream, in closed form.
    ///
    /// `state` is row-major `streams x bank.horizons()` (one row of EMAs per stream);
    /// `inputs` is row-major `streams` rows `stride` apart, of which the first `m` values of
    /// each are the stream's inputs, oldest first. Equivalent, up to rounding, to applying
    /// `e <- e + a_h (x - e)` for each input in turn; `m = 0` leaves `state` unchanged.
    /// Allocates nothing. NaN or infinite inputs propagate into the EMAs they reach.
    ///
    /// ```
    /// use zerotick_kernels::{EmaBank, Kernels};
    ///
    /// let bank = EmaBank::new(&[0.5, 0.25], 4)?;
    /// let mut state = [0.0, 0.0]; // one stream, two horizons
    /// Kernels::active().ema_fold(&bank, &mut state, &[1.0, 1.0], 2, 2)?;
    /// assert_eq!(state, [0.75, 0.4375]); // 1 - 0.5^2, 1 - 0.75^2
    /// # Ok::<(), zerotick_kernels::KernelError>(())
    /// ```
    ///
    /// # Errors
    /// [`KernelError::LengthMismatch`] if `state.len()` is not a multiple of the horizons
    /// (`expected` is the next multiple) or `m > bank.max_block()` (`expected` is the
    /// maximum); [`KernelError::BadShape`] if `inputs` does not hold `streams` rows of `m`
    /// values `stride` apart. Nothing is written then.
    pub fn ema_fold(
        &self,
        bank: &EmaBank,
        state: &mut [f64],
        inputs: &[f64],
        stride: usize,
        m: usize,
    ) -> Result<(), KernelError> {
        let h = bank.horizons();
        if !state.len().is_multiple_of(h) {
            return Err(KernelError::LengthMismatch {
                expected: state.len().next_multiple_of(h),
                got: state.len(),
            });
        }
        if m > bank.max_block() {
            return Err(KernelError::LengthMismatch {
                expected: bank.max_block(),
                got: m,
            });
        }
        let streams = state.len() / h;
        crate::columns::check_shape(inputs.len(), streams, m, stride)?;
        if m > 0 {
            ema_fold_v(
                *self,
                state,
                inputs,
                stride,
                m,
                bank.weights(m),
                bank.decay(m),
            );
        }
        Ok(())
    }
}

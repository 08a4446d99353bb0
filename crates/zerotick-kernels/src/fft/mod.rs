//! Real 1-D convolution: direct (SIMD), FFT and overlap-add, with cached plans, a filter bank,
//! and an automatic choice between the three by a cost model calibrated on the machine.
//!
//! **Promise.** After the first call for given sizes, every call allocates nothing: FFT plans
//! and scratch buffers live in the [`FftConvolver`] and are sized when a size is first planned
//! (or ahead of time with [`FftConvolver::plan`]); outputs go into caller buffers. Nothing
//! locks; nothing panics on data. Bad shapes (an empty input, a wrong output length, a bank
//! whose length is not a multiple of the kernel length, a forced [`Choice`] too small for the
//! inputs) are a [`ConvError`], decided before anything is written.
//!
//! ```
//! use zerotick_kernels::fft::{FftConvolver, Mode, output_len};
//!
//! let mut conv = FftConvolver::new();
//! let signal = [1.0, 2.0, 3.0, 4.0];
//! let kernel = [0.0, 1.0, 0.5];
//! let mut full = vec![0.0; output_len(Mode::Full, signal.len(), kernel.len())];
//! let choice = conv.convolve_into(&signal, &kernel, Mode::Full, &mut full)?;
//! let expected = [0.0, 1.0, 2.5, 4.0, 5.5, 2.0];
//! assert!(full.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-12));
//! println!("used {:?}", choice.method()); // Direct for inputs this short
//!
//! let mut same = [0.0; 4]; // numpy.convolve(a, v, "same"): max(4, 3) values, centred
//! conv.convolve_into(&signal, &kernel, Mode::Same, &mut same)?;
//! assert!(same.iter().zip([1.0, 2.5, 4.0, 5.5]).all(|(a, b)| (a - b).abs() < 1e-12));
//! # Ok::<(), zerotick_kernels::fft::ConvError>(())
//! ```
//!
//! # Definitions
//! For inputs `a` (length `N`) and `b` (length `M`), both non-empty, the full convolution is
//! `c[k] = sum_j a[j] * b[k - j]` over the `j` where both indices are in range, for
//! `0 <= k < N + M - 1`. Let `n = max(N, M)` and `m = min(N, M)`. The modes are windows of it,
//! exactly as `numpy.convolve` (and, for `Full` and `Valid`, `scipy.signal.convolve`):
//!
//! | mode | length | first index of `c` |
//! |---|---|---|
//! | [`Mode::Full`] | `n + m - 1` | `0` |
//! | [`Mode::Same`] | `n` | `(m - 1) / 2` (integer division) |
//! | [`Mode::Valid`] | `n - m + 1` | `m - 1` |
//!
//! Convolution commutes, so every mode gives the same result for `(a, b)` and `(b, a)`.
//! `Same` follows numpy (length `max(N, M)`); `scipy.signal.convolve(a, b, "same")` instead
//! returns `len(a)` values, which differs only when `a` is the shorter input.
//!
//! Empty inputs: numpy raises, and so do we: [`ConvError::EmptyInput`].
//!
//! # Accuracy
//! [`Method::Direct`] sums each output left to right over the kernel: error at most
//! `m * eps * sum_j |a[j]| |b[k - j]|` per element (standard dot-product bound).
//! [`Method::Fft`] and [`Method::OverlapAdd`] have the normwise error of an FFT convolution of
//! length `L` (the transform length): `max_k |err[k]| <= C * eps * log2(L) * min(|a|_1 |b|_2,
//! |a|_2 |b|_1)`. The tests check it with `C = 4`. This is an absolute
//! bound: outputs much smaller than the inputs' norms (cancellation, a tiny tail) carry an
//! error relative to the norms, not to themselves; use [`Method::Direct`] when that matters.
//! NaN and infinities are data: direct convolution spreads them to the outputs they touch,
//! FFT methods to the whole transform block.

mod convolver;
mod cost;
mod decimate;
mod direct;

pub use convolver::FftConvolver;
pub use cost::{CostModel, Padding, next_fast_len};

/// The FFT crate this module runs on, re-exported so callers can use the same version.
pub use realfft;

use core::fmt;

/// Which part of the full convolution to return (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Every output: `n + m - 1` values.
    Full,
    /// `n` values centred on the full output, as `numpy.convolve(.., "same")`.
    Same,
    /// Only outputs where the inputs overlap completely: `n - m + 1` values.
    Valid,
}

impl Mode {
    /// First index of the full convolution this mode returns, and how many values, for inputs
    /// of lengths `len_a` and `len_b` (both non-zero; with a zero the result is `(0, 0)`).
    pub const fn window(self, len_a: usize, len_b: usize) -> (usize, usize) {
        if len_a == 0 || len_b == 0 {
            return (0, 0);
        }
        let (n, m) = if len_a >= len_b {
            (len_a, len_b)
        } else {
            (len_b, len_a)
        };
        match self {
            Mode::Full => (0, n + m - 1),
            Mode::Same => ((m - 1) / 2, n),
            Mode::Valid => (m - 1, n - m + 1),
        }
    }
}

/// Length of the convolution of inputs of lengths `len_a` and `len_b` in `mode` (0 if either
/// is empty, though convolving empty inputs is an error).
pub const fn output_len(mode: Mode, len_a: usize, len_b: usize) -> usize {
    mode.window(len_a, len_b).1
}

/// How a convolution is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// Direct sums with the SIMD kernel: `O(n m)`, best for short kernels.
    Direct,
    /// One real FFT of each input padded to `L >= n + m - 1`, a product, one inverse.
    Fft,
    /// The long input cut in blocks of `B`; each block convolved by FFTs of length
    /// `L >= B + m - 1` with the short input's transform (computed once) and the results
    /// added: `O(n log L)`, best for long signals with kernels too long for direct sums.
    OverlapAdd,
}

impl Method {
    /// The lower-case name used in reports: `direct`, `fft`, `overlap-add`.
    pub const fn name(self) -> &'static str {
        match self {
            Method::Direct => "direct",
            Method::Fft => "fft",
            Method::OverlapAdd => "overlap-add",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A method with its sizes: what [`FftConvolver::choose`] picks, or what a caller forces with
/// [`FftConvolver::convolve_with_into`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Choice {
    method: Method,
    /// Transform length `L` (0 for direct). Invariant when built here: even.
    fft_len: usize,
    /// Overlap-add block length `B` (0 otherwise).
    block_len: usize,
}

impl Choice {
    /// Direct summation.
    pub const fn direct() -> Self {
        Self {
            method: Method::Direct,
            fft_len: 0,
            block_len: 0,
        }
    }

    /// One FFT convolution of inputs of lengths `len_a` and `len_b`, padded as `padding` says.
    pub fn fft(len_a: usize, len_b: usize, padding: Padding) -> Self {
        Self {
            method: Method::Fft,
            fft_len: padding.len_for((len_a + len_b).saturating_sub(1)),
            block_len: 0,
        }
    }

    /// Overlap-add in blocks of `block_len` (at least 1) of the longer input, for a shorter
    /// input of length `kernel_len`, transforms padded as `padding` says.
    pub fn overlap_add(block_len: usize, kernel_len: usize, padding: Padding) -> Self {
        let block_len = block_len.max(1);
        Self {
            method: Method::OverlapAdd,
            fft_len: padding.len_for(block_len + kernel_len.saturating_sub(1)),
            block_len,
        }
    }

    /// The method.
    pub const fn method(&self) -> Method {
        self.method
    }

    /// Transform length `L` (0 for [`Method::Direct`]).
    pub const fn fft_len(&self) -> usize {
        self.fft_len
    }

    /// Block length `B` of [`Method::OverlapAdd`] (0 otherwise).
    pub const fn block_len(&self) -> usize {
        self.block_len
    }

    /// `Ok` if this choice can convolve inputs of lengths `n >= m >= 1`.
    fn check(&self, n: usize, m: usize) -> Result<(), ConvError> {
        let needed = match self.method {
            Method::Direct => return Ok(()),
            Method::Fft => n + m - 1,
            Method::OverlapAdd if self.block_len == 0 => usize::MAX,
            Method::OverlapAdd => self.block_len + m - 1,
        };
        if self.fft_len >= needed && self.fft_len.is_multiple_of(2) {
            Ok(())
        } else {
            Err(ConvError::ChoiceTooSmall {
                fft_len: self.fft_len,
                needed,
            })
        }
    }
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.method {
            Method::Direct => f.write_str("direct"),
            Method::Fft => write!(f, "fft (L = {})", self.fft_len),
            Method::OverlapAdd => write!(
                f,
                "overlap-add (B = {}, L = {})",
                self.block_len, self.fft_len
            ),
        }
    }
}

/// Why a convolution was refused. Nothing was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvError {
    /// An input (or the kernel length of a bank) is empty; numpy raises here too.
    EmptyInput,
    /// The output buffer has the wrong length.
    OutputLength {
        /// Length the mode needs ([`output_len`], times the kernel count for a bank).
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// A filter bank's `kernels.len()` is not a multiple of `kernel_len`.
    BankShape {
        /// Elements given.
        len: usize,
        /// Length of one kernel.
        kernel_len: usize,
    },
    /// A forced [`Choice`] has a transform too short (or odd) for the inputs.
    ChoiceTooSmall {
        /// The choice's transform length.
        fft_len: usize,
        /// The shortest length that works.
        needed: usize,
    },
}

impl fmt::Display for ConvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyInput => f.write_str("cannot convolve an empty input"),
            Self::OutputLength { expected, got } => {
                write!(f, "output length: expected {expected}, got {got}")
            }
            Self::BankShape { len, kernel_len } => write!(
                f,
                "filter bank of {len} values is not a whole number of kernels of length {kernel_len}"
            ),
            Self::ChoiceTooSmall { fft_len, needed } => write!(
                f,
                "transform length {fft_len} is too short or odd: need an even length >= {needed}"
            ),
        }
    }
}

impl std::error::Error for ConvError {}

/// Orders two inputs as (longer, shorter) and checks that neither is empty.
#[inline]
fn long_short<'a>(a: &'a [f64], b: &'a [f64]) -> Result<(&'a [f64], &'a [f64]), ConvError> {
    if a.is_empty() || b.is_empty() {
        return Err(ConvError::EmptyInput);
    }
    Ok(if a.len() >= b.len() { (a, b) } else { (b, a) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_match_numpy() {
        // numpy.convolve([1,2,3],[0,1,0.5],'same') starts at full index 1.
        assert_eq!(Mode::Same.window(3, 3), (1, 3));
        // numpy.convolve([1,2,3,4],[1,1],'same') == full[0..4].
        assert_eq!(Mode::Same.window(4, 2), (0, 4));
        assert_eq!(Mode::Same.window(2, 4), (0, 4));
        assert_eq!(Mode::Same.window(5, 4), (1, 5));
        assert_eq!(Mode::Valid.window(5, 3), (2, 3));
        assert_eq!(Mode::Valid.window(3, 5), (2, 3));
        assert_eq!(Mode::Full.window(1, 1), (0, 1));
        assert_eq!(Mode::Full.window(0, 4), (0, 0));
    }

    #[test]
    fn choices_check_their_sizes() {
        assert!(Choice::fft(10, 3, Padding::Fast).check(10, 3).is_ok());
        assert!(Choice::fft(5, 3, Padding::Fast).check(10, 3).is_err());
        assert!(
            Choice::overlap_add(4, 3, Padding::PowerOfTwo)
                .check(100, 3)
                .is_ok()
        );
        assert!(
            Choice::overlap_add(4, 3, Padding::PowerOfTwo)
                .check(100, 9)
                .is_err()
        );
        assert_eq!(Choice::fft(1, 1, Padding::Fast).fft_len(), 2);
    }
}

//! Direct convolution: the SIMD kernel for short kernels, compiled for every tier.
//!
//! Outputs where the kernel overlaps the signal completely (the "interior") are computed
//! `2 * HALF` = 48 at a time: for each tap, the tap is broadcast and multiplied into the
//! accumulators (12 AVX2 vectors, 6 AVX-512 vectors: more independent chains than FMA latency x
//! throughput, so both FMA ports stay busy) against consecutive signal values; the two halves
//! of a step share each signal load (tap `j` of the first half and tap `j + HALF` of the
//! second read the same values), so there are fewer loads than FMAs. The few outputs at the edges, where the
//! kernel hangs over the signal, are summed one at a time over the taps in range. Every output
//! is summed over the taps in the same order (last tap first) on every tier.

use super::{ConvError, Mode, long_short};
use crate::simd::{Kernels, madd, multiversion};

/// Outputs per half of a step of the interior loop (two halves: 12 AVX2 accumulators).
const HALF: usize = 24;
/// Outputs per step of the interior's tail.
const CH_TAIL: usize = 4;

/// Sums `W` interior outputs starting at full index `k`: needs `m - 1 <= k` and
/// `k + W <= x.len()`.
#[inline(always)]
fn interior<const FMA: bool, const W: usize>(x: &[f64], h: &[f64], k: usize, out: &mut [f64; W]) {
    let m = h.len();
    // `x[k + 1 - m .. k + W]`: every signal value the `W` outputs touch.
    let w = &x[k + 1 - m..k + W];
    let mut acc = [0.0; W];
    // Window `t` of `w` is what tap `j = m - 1 - t` multiplies: output `k + i` takes
    // `h[j] * x[k + i - j]` = `w[t + i]`.
    for (&c, s) in h.iter().rev().zip(w.windows(W)) {
        for i in 0..W {
            acc[i] = madd::<FMA>(c, s[i], acc[i]);
        }
    }
    *out = acc;
}

/// Sums `2H` interior outputs starting at full index `k` as two halves that share their
/// signal loads: the window `x[k + 1 - m + t ..][..H]` is what tap `m - 1 - t` of the first
/// half and tap `m - 1 - t + H` of the second multiply, so one load feeds two FMAs where both
/// taps exist. Needs `m - 1 <= k` and `k + 2H <= x.len()`. Each half still sums its taps last
/// first, as [`interior`] does.
#[inline(always)]
fn interior_pair<const FMA: bool, const H: usize>(
    x: &[f64],
    h: &[f64],
    k: usize,
    first: &mut [f64; H],
    second: &mut [f64; H],
) {
    let m = h.len();
    let w = &x[k + 1 - m..k + 2 * H];
    let (mut a, mut b) = ([0.0; H], [0.0; H]);
    let split = H.min(m);
    // Windows `0 .. min(H, m)`: first half only.
    for (&c, s) in h.iter().rev().take(split).zip(w.windows(H)) {
        for i in 0..H {
            a[i] = madd::<FMA>(c, s[i], a[i]);
        }
    }
    // Windows `H .. m`: both halves.
    if m > H {
        let taps = h[..m - H].iter().rev().zip(h[H..].iter().rev());
        for ((&ca, &cb), s) in taps.zip(w[H..].windows(H)) {
            for i in 0..H {
                a[i] = madd::<FMA>(ca, s[i], a[i]);
                b[i] = madd::<FMA>(cb, s[i], b[i]);
            }
        }
    }
    // Windows `max(H, m) .. m + H`: second half only.
    for (&c, s) in h[..split].iter().rev().zip(w[H.max(m)..].windows(H)) {
        for i in 0..H {
            b[i] = madd::<FMA>(c, s[i], b[i]);
        }
    }
    *first = a;
    *second = b;
}

/// One output at full index `k`, summing only the taps in range (edges).
#[inline(always)]
fn edge<const FMA: bool>(x: &[f64], h: &[f64], k: usize) -> f64 {
    let n = x.len();
    let j_lo = (k + 1).saturating_sub(n);
    let j_hi = h.len().min(k + 1);
    let mut s = 0.0;
    for j in (j_lo..j_hi).rev() {
        s = madd::<FMA>(h[j], x[k - j], s);
    }
    s
}

/// Writes full-convolution outputs `lo .. lo + out.len()` of `x` (length `n`) and `h`
/// (length `1 <= m <= n`).
#[inline(always)]
fn direct_body<const FMA: bool>(x: &[f64], h: &[f64], lo: usize, out: &mut [f64]) {
    let (n, m) = (x.len(), h.len());
    debug_assert!(1 <= m && m <= n);
    let hi = lo + out.len();
    // Interior: full indices `m - 1 ..= n - 1`, clipped to the window.
    let int_lo = (m - 1).clamp(lo, hi);
    let int_hi = n.clamp(int_lo, hi);
    for k in lo..int_lo {
        out[k - lo] = edge::<FMA>(x, h, k);
    }
    let mut k = int_lo;
    while k + 2 * HALF <= int_hi {
        let (first, rest) = out[k - lo..].split_at_mut(HALF);
        if let (Some(a), Some(b)) = (
            first.first_chunk_mut::<HALF>(),
            rest.first_chunk_mut::<HALF>(),
        ) {
            interior_pair::<FMA, HALF>(x, h, k, a, b);
        }
        k += 2 * HALF;
    }
    while k + CH_TAIL <= int_hi {
        if let Some(o) = out[k - lo..].first_chunk_mut::<CH_TAIL>() {
            interior::<FMA, CH_TAIL>(x, h, k, o);
        }
        k += CH_TAIL;
    }
    for k in k..hi {
        out[k - lo] = edge::<FMA>(x, h, k);
    }
}

multiversion! {
    pub(crate) fn direct_v(x: &[f64], h: &[f64], lo: usize, out: &mut [f64]) -> () {
        direct_body::<FMA>(x, h, lo, out)
    }
}

impl Kernels {
    /// Direct convolution of `a` and `b` in `mode`, written to `out` (length
    /// [`output_len`](super::output_len)`(mode, a.len(), b.len())`), on this handle's tier.
    ///
    /// `O(len_a * len_b)` multiply-adds, no scratch, no allocation. Each output is summed over
    /// the shorter input's taps in order; error per output at most
    /// `m * eps * sum_j |a[j] b[k - j]|` with `m` the shorter length.
    ///
    /// ```
    /// use zerotick_kernels::Kernels;
    /// use zerotick_kernels::fft::Mode;
    ///
    /// let mut out = [0.0; 2];
    /// Kernels::active().convolve_direct_into(&[1.0, 2.0, 3.0], &[1.0, -1.0], Mode::Valid, &mut out)?;
    /// assert_eq!(out, [1.0, 1.0]);
    /// # Ok::<(), zerotick_kernels::fft::ConvError>(())
    /// ```
    ///
    /// # Errors
    /// [`ConvError::EmptyInput`] if an input is empty; [`ConvError::OutputLength`] if `out`
    /// has the wrong length.
    pub fn convolve_direct_into(
        &self,
        a: &[f64],
        b: &[f64],
        mode: Mode,
        out: &mut [f64],
    ) -> Result<(), ConvError> {
        let (x, h) = long_short(a, b)?;
        let (lo, len) = mode.window(x.len(), h.len());
        if out.len() != len {
            return Err(ConvError::OutputLength {
                expected: len,
                got: out.len(),
            });
        }
        direct_v(*self, x, h, lo, out);
        Ok(())
    }
}

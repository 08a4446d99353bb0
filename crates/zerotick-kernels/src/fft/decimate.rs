//! Direct convolution decimated by 2: only the even outputs of a mode's window, for a bank of
//! short kernels (a two-band filter bank keeps every other sample of each band).
//!
//! Computing every output and dropping half costs twice the multiply-adds. Here the outputs
//! where the kernel overlaps the signal completely are computed [`W`] at a time from the
//! signal split into its even and odd samples (so each tap reads consecutive values), and the
//! few edge outputs one at a time; every output is summed over its taps in the same order as
//! [`Kernels::convolve_direct_into`] (last tap first, taps off the signal omitted), so each
//! value is bit for bit the one the full direct convolution gives at that index.

use super::{ConvError, Mode, output_len};
use crate::simd::{Kernels, madd, multiversion};

/// Outputs per block (per kernel): four AVX2 vectors, two AVX-512 vectors.
const W: usize = 16;
/// Longest kernel on the blocked path; longer kernels take the one-at-a-time path.
const MAX_TAPS: usize = 64;
/// Values of one phase a block reads: `W + MAX_TAPS / 2`.
const PHASE: usize = W + MAX_TAPS / 2;

/// Full-convolution output `k` of `x` and `h`, summed as the direct kernel sums it.
#[inline(always)]
fn one<const FMA: bool>(x: &[f64], h: &[f64], k: usize) -> f64 {
    let j_lo = (k + 1).saturating_sub(x.len());
    let j_hi = h.len().min(k + 1);
    let mut s = 0.0;
    for j in (j_lo..j_hi).rev() {
        s = madd::<FMA>(h[j], x[k - j], s);
    }
    s
}

/// The `W` outputs at full indices `k0, k0 + 2, ..`, all interior, for every kernel of
/// `bank` (`m` taps each), into `out` rows (`row` long) at column `col`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn block<const FMA: bool>(
    x: &[f64],
    bank: &[f64],
    m: usize,
    k0: usize,
    out: &mut [f64],
    row: usize,
    col: usize,
) {
    // `w[t]` = `x[k0 + 1 - m + t]`: output `i`, tap `j = m - 1 - t` reads `w[t + 2 i]`.
    let w = &x[k0 + 1 - m..k0 + 2 * W - 1];
    let (mut even, mut odd) = ([0.0; PHASE], [0.0; PHASE]);
    let mut pairs = w.chunks_exact(2);
    for ((e, o), pair) in even.iter_mut().zip(odd.iter_mut()).zip(&mut pairs) {
        (*e, *o) = (pair[0], pair[1]);
    }
    if let [v] = pairs.remainder() {
        even[w.len() / 2] = *v;
    }
    // Kernels two at a time: their 8 accumulator vectors are independent chains (one
    // kernel's 4 kept the FMA units half idle, each chain waiting on its own latency), and
    // they share the phases' loads. Every output's sum runs in the same order either way.
    let mut rows = out.chunks_exact_mut(row);
    let mut pairs = bank.chunks_exact(2 * m);
    for hp in &mut pairs {
        let (h0, h1) = hp.split_at(m);
        let [a0, a1] = taps::<FMA, 2>([h0, h1], &even, &odd);
        for acc in [a0, a1] {
            let Some(o) = rows.next() else {
                unreachable!("a row per kernel")
            };
            o[col..col + W].copy_from_slice(&acc);
        }
    }
    if let (Some(h), Some(o)) = (pairs.remainder().get(..m), rows.next()) {
        let [acc] = taps::<FMA, 1>([h], &even, &odd);
        o[col..col + W].copy_from_slice(&acc);
    }
}

/// The `W` outputs of a block for `K` kernels of `m` taps each, from the block's even and
/// odd phases, each summed last tap first.
#[inline(always)]
fn taps<const FMA: bool, const K: usize>(
    hs: [&[f64]; K],
    even: &[f64; PHASE],
    odd: &[f64; PHASE],
) -> [[f64; W]; K] {
    let m = hs[0].len();
    let mut acc = [[0.0; W]; K];
    // Taps in pairs, last tap first: an even window reads the even phase, the next (odd)
    // window the odd phase, at the same offset.
    for p in 0..m / 2 {
        let (Some(se), Some(so)) = (even[p..].first_chunk::<W>(), odd[p..].first_chunk::<W>())
        else {
            unreachable!("the phases hold W + MAX_TAPS / 2 values")
        };
        let (te, to) = (m - 1 - 2 * p, m - 2 - 2 * p);
        for (a, h) in acc.iter_mut().zip(hs) {
            for i in 0..W {
                a[i] = madd::<FMA>(h[te], se[i], a[i]);
            }
        }
        for (a, h) in acc.iter_mut().zip(hs) {
            for i in 0..W {
                a[i] = madd::<FMA>(h[to], so[i], a[i]);
            }
        }
    }
    if m % 2 == 1 {
        let Some(se) = even[m / 2..].first_chunk::<W>() else {
            unreachable!("the phases hold W + MAX_TAPS / 2 values")
        };
        for (a, h) in acc.iter_mut().zip(hs) {
            for i in 0..W {
                a[i] = madd::<FMA>(h[0], se[i], a[i]);
            }
        }
    }
    acc
}

multiversion! {
    fn decimate2_v(x: &[f64], bank: &[f64], m: usize, lo: usize, out: &mut [f64]) -> () {
        let n = x.len();
        let count = bank.len() / m;
        let row = out.len() / count;
        // Output `i` is full index `lo + 2 i`; interior where `m - 1 <= k <= n - 1`.
        let first = (m - 1).saturating_sub(lo).div_ceil(2).min(row);
        // One past the last interior output (`lo + 2 i <= n - 1`).
        let end = if n > lo { ((n - 1 - lo) / 2 + 1).min(row) } else { 0 };
        let blocked = m <= MAX_TAPS && end >= first + W;
        let mut i = 0;
        while i < row {
            if blocked && i >= first && i < end {
                // The last block ends at `end`, overlapping the one before it: the outputs
                // computed twice get the same operations, so the same bits, and the interior
                // never falls to the one-at-a-time path (its serial chains of multiply-adds
                // took about half of a 512-value row's time on Zen 3).
                let at = i.min(end - W);
                block::<FMA>(x, bank, m, lo + 2 * at, out, row, at);
                i = at + W;
            } else {
                let k = lo + 2 * i;
                for (h, o) in bank.chunks_exact(m).zip(out.chunks_exact_mut(row)) {
                    o[i] = one::<FMA>(x, h, k);
                }
                i += 1;
            }
        }
    }
}

impl Kernels {
    /// The even outputs of the `mode` convolution of `signal` with each kernel of a bank
    /// (`kernels` holds them back to back, `kernel_len` each): row `f` of `out` holds outputs
    /// `0, 2, 4, ..` of kernel `f`'s convolution window, `output_len(mode, ..).div_ceil(2)`
    /// values per row. Each value is bit for bit the direct convolution's at that index
    /// (same summation order), at half the multiply-adds of computing all and dropping half.
    ///
    /// ```
    /// use zerotick_kernels::Kernels;
    /// use zerotick_kernels::fft::Mode;
    ///
    /// let k = Kernels::active();
    /// let signal: Vec<f64> = (0..10).map(f64::from).collect();
    /// let bank = [0.5, 0.5, /* second kernel */ 1.0, -1.0];
    /// let mut full = [0.0; 10];
    /// k.convolve_direct_into(&signal, &bank[..2], Mode::Same, &mut full)?;
    /// let mut even = [0.0; 2 * 5];
    /// k.filter_bank_decimate2_into(&signal, &bank, 2, Mode::Same, &mut even)?;
    /// assert_eq!(even[..5], [full[0], full[2], full[4], full[6], full[8]]);
    /// # Ok::<(), zerotick_kernels::fft::ConvError>(())
    /// ```
    ///
    /// # Errors
    /// [`ConvError::EmptyInput`] if `signal` is empty, `kernel_len` is 0 or longer than the
    /// signal; [`ConvError::BankShape`] if `kernels.len()` is not a multiple of
    /// `kernel_len`; [`ConvError::OutputLength`] unless `out.len()` is the kernel count times
    /// the decimated row length.
    pub fn filter_bank_decimate2_into(
        &self,
        signal: &[f64],
        kernels: &[f64],
        kernel_len: usize,
        mode: Mode,
        out: &mut [f64],
    ) -> Result<(), ConvError> {
        if signal.is_empty() || kernel_len == 0 || kernel_len > signal.len() {
            return Err(ConvError::EmptyInput);
        }
        if !kernels.len().is_multiple_of(kernel_len) {
            return Err(ConvError::BankShape {
                len: kernels.len(),
                kernel_len,
            });
        }
        let row = output_len(mode, signal.len(), kernel_len).div_ceil(2);
        let count = kernels.len() / kernel_len;
        if out.len() != count * row {
            return Err(ConvError::OutputLength {
                expected: count * row,
                got: out.len(),
            });
        }
        if count == 0 || row == 0 {
            return Ok(());
        }
        let (lo, _) = mode.window(signal.len(), kernel_len);
        decimate2_v(*self, signal, kernels, kernel_len, lo, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::Tier;

    fn lcg(seed: u64, n: usize) -> Vec<f64> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
            })
            .collect()
    }

    #[test]
    fn even_outputs_equal_the_direct_convolution_bit_for_bit_on_every_tier() {
        for tier in Tier::ALL {
            let Ok(k) = Kernels::new(tier) else {
                continue;
            };
            for (n, m) in [
                (512, 16),
                (10, 3),
                (33, 33),
                (100, 1),
                (200, 64),
                (300, 65),
                (47, 8),
                (47, 16),
                (48, 16),
                (49, 16),
                (80, 9),
                (1000, 64),
            ] {
                // One, two and three kernels: the blocks take kernels in pairs, then one.
                for (mode, kernels) in [Mode::Full, Mode::Same, Mode::Valid]
                    .into_iter()
                    .flat_map(|mode| [(mode, 1), (mode, 2), (mode, 3)])
                {
                    let x = lcg(n as u64, n);
                    let bank = lcg(m as u64 + 7, kernels * m);
                    let len = output_len(mode, n, m);
                    let row = len.div_ceil(2);
                    let mut got = vec![f64::NAN; kernels * row];
                    k.filter_bank_decimate2_into(&x, &bank, m, mode, &mut got)
                        .unwrap();
                    for f in 0..kernels {
                        let mut full = vec![0.0; len];
                        k.convolve_direct_into(&x, &bank[f * m..(f + 1) * m], mode, &mut full)
                            .unwrap();
                        for i in 0..row {
                            assert_eq!(
                                got[f * row + i].to_bits(),
                                full[2 * i].to_bits(),
                                "{tier:?} n {n} m {m} {mode:?} kernel {f} output {i}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn bad_shapes_are_errors() {
        let k = Kernels::active();
        let x = [1.0; 8];
        let mut out = [0.0; 8];
        assert_eq!(
            k.filter_bank_decimate2_into(&x, &[1.0; 3], 0, Mode::Same, &mut out),
            Err(ConvError::EmptyInput)
        );
        assert_eq!(
            k.filter_bank_decimate2_into(&x, &[1.0; 9], 9, Mode::Same, &mut out[..1]),
            Err(ConvError::EmptyInput)
        );
        assert!(matches!(
            k.filter_bank_decimate2_into(&x, &[1.0; 5], 2, Mode::Same, &mut out),
            Err(ConvError::BankShape { .. })
        ));
        assert!(matches!(
            k.filter_bank_decimate2_into(&x, &[1.0; 4], 2, Mode::Same, &mut out[..7]),
            Err(ConvError::OutputLength {
                expected: 8,
                got: 7
            })
        ));
    }
}

//! SpMV (`y = alpha A x + beta y`) and SpMM (sparse times row-major dense), per SIMD tier
//! (the AVX2 and AVX-512 SpMV kernels, with hardware gathers, are in `spmv_x86`).

use super::csr::Csr;
use super::error::{SparseError, check_dim};
#[cfg(target_arch = "x86_64")]
use super::spmv_x86;
use crate::simd::{Kernels, Tier, madd, multiversion};

/// Entries of a row summed per step, into as many independent accumulators.
const LANES: usize = 4;

/// Hints the CPU to fetch the cache line holding `p` (any address: a prefetch never faults,
/// and nothing is dereferenced).
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    prefetch_hint::<{ core::arch::x86_64::_MM_HINT_T0 }, T>(p);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// `prefetch` with the `_mm_prefetch` hint `HINT`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn prefetch_hint<const HINT: i32, T>(p: *const T) {
    // SAFETY: a prefetch is a hint that never faults and reads nothing architecturally,
    // whatever the address; SSE is part of the x86-64 baseline.
    unsafe { core::arch::x86_64::_mm_prefetch::<HINT>(p.cast()) }
}

/// How far ahead of the current row [`spmv_v`] hints the two streamed arrays, in elements:
/// 1 KiB of values and 1 KiB of column indices (one hint of each per row, ~10 entries a
/// row in the benchmark). Measured on the 2-vCPU EPYC Zen 5 VM, 2026-12-02 (`zerotick-bench
/// sparse`, 4 paired rounds): 1.02-1.13x sprs without the hints, 1.25-1.35x with
/// `prefetchnta`, 1.24-1.37x with `prefetcht0`; 0.5 KiB and 1.5 KiB ahead were no better.
const STREAM_AHEAD_VALUES: usize = 128;
const STREAM_AHEAD_INDICES: usize = 256;

/// Hints the CPU to fetch the line holding `p` close to the core without keeping it in the
/// outer caches (`prefetchnta`), for data read once: the streamed values and indices then
/// evict less of `x`, which is read at random. Any address: a prefetch never faults.
#[inline(always)]
fn prefetch_nta<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    prefetch_hint::<{ core::arch::x86_64::_MM_HINT_NTA }, T>(p);
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// `sum(values[k] * x[indices[k]])` with [`LANES`] accumulators.
///
/// The caller guarantees every `indices[k] < x.len()` (see the `SAFETY` comment inside).
#[inline(always)]
fn row_dot<const FMA: bool>(indices: &[u32], values: &[f64], x: &[f64]) -> f64 {
    let mut acc = [0.0; LANES];
    let mut ic = indices.chunks_exact(LANES);
    let mut vc = values.chunks_exact(LANES);
    for (i, v) in (&mut ic).zip(&mut vc) {
        for l in 0..LANES {
            // SAFETY: `spmv_v` checked `x.len() == a.cols()` and `Csr` guarantees every stored
            // column `< cols`; `row_dot` is only called from there.
            let xv = unsafe { *x.get_unchecked(i[l] as usize) };
            acc[l] = madd::<FMA>(v[l], xv, acc[l]);
        }
    }
    let mut tail = 0.0;
    for (&i, &v) in ic.remainder().iter().zip(vc.remainder()) {
        // SAFETY: as above.
        let xv = unsafe { *x.get_unchecked(i as usize) };
        tail = madd::<FMA>(v, xv, tail);
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + tail
}

/// Rows with at most this many entries take [`row_dot_short`] (when the matrix is one
/// [`short_rows_pay`] picks, and the arrays extend that far past the row's start).
const SHORT_ROW: usize = 16;

/// Whether a matrix's rows should take [`row_dot_short`]: when they average 6 to 12 entries
/// and their lengths change from one row to the next at least half the time, judged on
/// four windows of 64 consecutive rows (start, thirds, end). Both paths give the same bits,
/// so this only picks the speed. Measured on the EPYC Zen 5 VM (2026-12-02, 100 k rows,
/// ns per entry, the loop against the predicated rows): lengths drawn at random around a
/// mean of 10, 1.35-1.40 against 1.04-1.06; all rows of 10, 0.64-0.73 against 0.98-1.08;
/// around a mean of 4, 2.66-2.68 against 2.13-3.34; around 2, 3.83-3.85 against 4.12-4.25.
fn short_rows_pay(indptr: &[usize]) -> bool {
    const WINDOW: usize = 64;
    const WINDOWS: usize = 4;
    let rows = indptr.len().saturating_sub(1);
    if rows < WINDOW {
        return false;
    }
    let (mut entries, mut changes) = (0, 0);
    for g in 0..WINDOWS {
        let start = (rows - WINDOW) * g / (WINDOWS - 1);
        let lens = indptr[start..=start + WINDOW]
            .windows(2)
            .map(|w| w[1] - w[0]);
        let mut prev = None;
        for len in lens {
            entries += len;
            changes += usize::from(prev.is_some_and(|p| p != len));
            prev = Some(len);
        }
    }
    let sampled = WINDOW * WINDOWS;
    (6 * sampled..=12 * sampled).contains(&entries) && 2 * changes >= WINDOWS * (WINDOW - 1)
}

/// The per-core L2 cache in bytes, from CPUID leaf `0x8000_0006` (ECX bits 31-16, KiB; AMD
/// and Intel both report it there), read once; `None` where the CPU does not say.
fn l2_bytes() -> Option<usize> {
    static L2: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    *L2.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            // `__cpuid` is a safe function in recent Rust and `unsafe` in older releases
            // (this crate's rust-version among them), hence the `allow`.
            #[allow(unused_unsafe)]
            // SAFETY: CPUID leaf 0x8000_0000 exists on every x86-64 CPU (it is how the
            // extended leaves are found) and only reads identification registers.
            let max = unsafe { core::arch::x86_64::__cpuid(0x8000_0000) }.eax;
            if max < 0x8000_0006 {
                return None;
            }
            #[allow(unused_unsafe)]
            // SAFETY: the leaf exists (checked above); CPUID only reads identification
            // registers.
            let ecx = unsafe { core::arch::x86_64::__cpuid(0x8000_0006) }.ecx;
            let kib = (ecx >> 16) as usize;
            (kib > 0).then_some(kib * 1024)
        }
        #[cfg(not(target_arch = "x86_64"))]
        None
    })
}

/// Whether [`row_dot_short`]'s extra reads of `x` (up to [`SHORT_ROW`] a row, ~60% more than
/// a row of 10 needs) are cheap: when `x` fits in the L2 cache they hit there, and the
/// mispredicted loop exits they replace cost more. Measured (`zerotick-bench sparse`, 100 k
/// columns, `x` 781 KiB, rows of ~10): on the EPYC Zen 5 VM (1 MiB L2) 1.04-1.06 ns per
/// entry predicated against 1.35-1.40 for the loop (2026-12-02, see [`short_rows_pay`]); on
/// the EPYC Zen 3 VM (512 KiB L2, so the extra reads go to L3) 0.82-0.88x sprs's speed
/// predicated against 1.23-1.32x for the loop, three paired invocations (2026-12-03).
/// Unknown L2: the loop.
fn short_rows_fit(x_len: usize) -> bool {
    l2_bytes().is_some_and(|l2| x_len.saturating_mul(size_of::<f64>()) <= l2)
}

/// [`row_dot`] of a row of `len <= SHORT_ROW` entries, the first `len` of `indices` and
/// `values` (the rest belong to the next rows and are read but not used), without a branch
/// on `len`: every position is computed and kept or dropped by a select. The same
/// arithmetic in the same order as [`row_dot`], so the same bits. Where row lengths vary
/// (a random sparse matrix), `row_dot`'s loop exits were mispredicted about once a row.
///
/// The caller guarantees every `indices[p] < x.len()` (see the `SAFETY` comment inside).
#[inline(always)]
fn row_dot_short<const FMA: bool>(
    indices: &[u32; SHORT_ROW],
    values: &[f64; SHORT_ROW],
    len: usize,
    x: &[f64],
) -> f64 {
    let full = len / LANES * LANES;
    let mut acc = [0.0; LANES];
    for q in 0..SHORT_ROW / LANES {
        for (l, acc) in acc.iter_mut().enumerate() {
            let p = q * LANES + l;
            // SAFETY: as in `row_dot`: every stored column is `< cols == x.len()`, and
            // positions past the row are other rows' stored columns.
            let xv = unsafe { *x.get_unchecked(indices[p] as usize) };
            let t = madd::<FMA>(values[p], xv, *acc);
            *acc = if p < full { t } else { *acc };
        }
    }
    let mut tail = 0.0;
    for j in 0..LANES - 1 {
        let p = (full + j).min(SHORT_ROW - 1);
        // SAFETY: as above.
        let xv = unsafe { *x.get_unchecked(indices[p] as usize) };
        let t = madd::<FMA>(values[p], xv, tail);
        tail = if full + j < len { t } else { tail };
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + tail
}

multiversion! {
    fn spmv_v(a: &Csr, alpha: f64, x: &[f64], beta: f64, y: &mut [f64]) -> () {
        // Local guard: makes the unchecked loads in `row_dot` sound whoever calls this.
        if x.len() != a.cols() || y.len() != a.rows() {
            return;
        }
        let (indptr, indices, values) = (a.indptr(), a.indices(), a.values());
        let short = short_rows_pay(indptr) && short_rows_fit(x.len());
        for (yr, w) in y.iter_mut().zip(indptr.windows(2)) {
            let (s, e) = (w[0], w[1]);
            prefetch_nta(values.as_ptr().wrapping_add(e + STREAM_AHEAD_VALUES));
            prefetch_nta(indices.as_ptr().wrapping_add(e + STREAM_AHEAD_INDICES));
            let dot = if short && e - s <= SHORT_ROW && s + SHORT_ROW <= indices.len() {
                row_dot_short::<FMA>(
                    indices[s..s + SHORT_ROW].try_into().expect("SHORT_ROW entries"),
                    values[s..s + SHORT_ROW].try_into().expect("SHORT_ROW entries"),
                    e - s,
                    x,
                )
            } else {
                row_dot::<FMA>(&indices[s..e], &values[s..e], x)
            };
            *yr = if beta == 0.0 { alpha * dot } else { madd::<FMA>(beta, *yr, alpha * dot) };
        }
    }
}

multiversion! {
    fn spmm_v(a: &Csr, alpha: f64, b: &[f64], n: usize, beta: f64, out: &mut [f64]) -> () {
        if n == 0 {
            return;
        }
        let (indptr, indices, values) = (a.indptr(), a.indices(), a.values());
        for (orow, w) in out.chunks_exact_mut(n).zip(indptr.windows(2)) {
            if beta == 0.0 {
                orow.fill(0.0);
            } else if beta != 1.0 {
                for o in orow.iter_mut() {
                    *o *= beta;
                }
            }
            for k in w[0]..w[1] {
                let c = indices[k] as usize;
                let av = alpha * values[k];
                let brow = &b[c * n..c * n + n];
                for (o, bv) in orow.iter_mut().zip(brow) {
                    *o = madd::<FMA>(av, *bv, *o);
                }
            }
        }
    }
}

impl Csr {
    /// [`spmv_into`](Self::spmv_into) with every row summed in 4 interleaved partial sums
    /// (fused where the tier has FMA), never with the hardware-gather kernels: the AVX2 and
    /// AVX-512 tiers then give the same bits (the scalar tier, without FMA, rounds
    /// differently). For callers whose output must not depend on the vector tier, such as
    /// the pipeline's projection. Allocates nothing.
    ///
    /// # Errors
    /// [`DimensionMismatch`](SparseError::DimensionMismatch) if `x.len() != cols` or
    /// `y.len() != rows`; nothing is written.
    #[inline]
    pub fn spmv_into_fixed_order(
        &self,
        k: &Kernels,
        alpha: f64,
        x: &[f64],
        beta: f64,
        y: &mut [f64],
    ) -> Result<(), SparseError> {
        self.spmv_with(k, false, alpha, x, beta, y)
    }

    /// `y = alpha * A * x + beta * y` on `k`'s tier. Allocates nothing.
    ///
    /// When `beta == 0`, `y` is overwritten without being read (as in BLAS: NaN in `y` does
    /// not propagate). NaN and infinities in `A` or `x` are data and propagate. The tiers
    /// round differently: the scalar tier sums each row in 4 interleaved partial sums; the
    /// AVX2 and AVX-512 tiers on Intel CPUs gather `x` with hardware gathers and sum each
    /// row in 8 or 16 fused partial sums (8 or 16 lanes, entry `i` of the row in lane `i`
    /// mod 8 or 16), reduced pairwise. On other CPUs (AMD, whose gathers were measured
    /// slower than the loop) and for matrices with `cols > i32::MAX` the vector tiers take
    /// the 4-sum loop with FMA. See
    /// [`spmv_into_fixed_order`](Self::spmv_into_fixed_order) for bits that do not depend on
    /// the vector tier or the CPU.
    ///
    /// ```
    /// use zerotick_kernels::{Kernels, sparse::Csr};
    ///
    /// let a = Csr::try_from_triplets(2, 2, &[(0, 1, 2.0), (1, 0, 3.0)])?;
    /// let mut y = [1.0, 1.0];
    /// a.spmv_into(&Kernels::active(), 1.0, &[10.0, 20.0], 0.5, &mut y)?;
    /// assert_eq!(y, [40.5, 30.5]);
    /// # Ok::<(), zerotick_kernels::sparse::SparseError>(())
    /// ```
    ///
    /// # Errors
    /// [`DimensionMismatch`](SparseError::DimensionMismatch) if `x.len() != cols` or
    /// `y.len() != rows`; nothing is written.
    #[inline]
    pub fn spmv_into(
        &self,
        k: &Kernels,
        alpha: f64,
        x: &[f64],
        beta: f64,
        y: &mut [f64],
    ) -> Result<(), SparseError> {
        self.spmv_with(k, true, alpha, x, beta, y)
    }

    /// [`spmv_into`](Self::spmv_into) (`gathers`) or
    /// [`spmv_into_fixed_order`](Self::spmv_into_fixed_order).
    #[inline]
    fn spmv_with(
        &self,
        k: &Kernels,
        gathers: bool,
        alpha: f64,
        x: &[f64],
        beta: f64,
        y: &mut [f64],
    ) -> Result<(), SparseError> {
        check_dim("x", self.cols(), x.len())?;
        check_dim("y", self.rows(), y.len())?;
        #[cfg(target_arch = "x86_64")]
        let gathers = gathers && spmv_x86::gathers_fit(self) && spmv_x86::gathers_pay();
        #[cfg(not(target_arch = "x86_64"))]
        let _ = gathers;
        match k.tier() {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Kernels`' invariant: the AVX-512 tier passed `Tier::is_supported`
            // (avx512f, avx512dq, avx512vl, avx2, fma), a superset of what the kernel enables.
            Tier::Avx512 if gathers => unsafe { spmv_x86::spmv_avx512(self, alpha, x, beta, y) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Kernels`' invariant: the AVX2 tier passed `Tier::is_supported` (avx2, fma).
            Tier::Avx2 if gathers => unsafe { spmv_x86::spmv_avx2(self, alpha, x, beta, y) },
            _ => spmv_v(*k, self, alpha, x, beta, y),
        }
        Ok(())
    }

    /// `out = alpha * A * B + beta * out` with `B` a row-major dense `cols x n` matrix and
    /// `out` row-major `rows x n`. Allocates nothing; `beta == 0` does not read `out`.
    ///
    /// ```
    /// use zerotick_kernels::{Kernels, sparse::Csr};
    ///
    /// let a = Csr::try_from_triplets(1, 2, &[(0, 1, 2.0)])?;
    /// let b = [1.0, 2.0, 3.0, 4.0]; // 2 x 2
    /// let mut out = [0.0; 2];
    /// a.spmm_into(&Kernels::active(), 1.0, &b, 2, 0.0, &mut out)?;
    /// assert_eq!(out, [6.0, 8.0]);
    /// # Ok::<(), zerotick_kernels::sparse::SparseError>(())
    /// ```
    ///
    /// # Errors
    /// [`DimensionMismatch`](SparseError::DimensionMismatch) if `b.len() != cols * n` or
    /// `out.len() != rows * n` (or those products overflow); nothing is written.
    #[inline]
    pub fn spmm_into(
        &self,
        k: &Kernels,
        alpha: f64,
        b: &[f64],
        n: usize,
        beta: f64,
        out: &mut [f64],
    ) -> Result<(), SparseError> {
        let b_len = self.cols().saturating_mul(n);
        let out_len = self.rows().saturating_mul(n);
        check_dim("b", b_len, b.len())?;
        check_dim("out", out_len, out.len())?;
        spmm_v(*k, self, alpha, b, n, beta, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `row_dot_short` and `row_dot` agree to the bit for every length it takes, with and
    /// without FMA, on data with signed zeros, infinities, NaN and cancellation.
    #[test]
    fn short_rows_give_row_dots_bits() {
        let x: Vec<f64> = (0..64)
            .map(|i| match i % 11 {
                0 => -0.0,
                1 => f64::INFINITY,
                2 => 1e300,
                3 => -1e300,
                _ => (i as f64 * 0.37).sin(),
            })
            .collect();
        let mut state = 7u64;
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            state >> 33
        };
        for trial in 0..2_000 {
            let indices: [u32; SHORT_ROW] = core::array::from_fn(|_| (next() % 64) as u32);
            let values: [f64; SHORT_ROW] =
                core::array::from_fn(|p| match (next() + p as u64) % 9 {
                    0 => -0.0,
                    1 => 0.0,
                    2 if trial % 50 == 0 => f64::NAN,
                    _ => (next() % 2001) as f64 / 1000.0 - 1.0,
                });
            for len in 0..=SHORT_ROW {
                let want = (
                    row_dot::<true>(&indices[..len], &values[..len], &x),
                    row_dot::<false>(&indices[..len], &values[..len], &x),
                );
                let got = (
                    row_dot_short::<true>(&indices, &values, len, &x),
                    row_dot_short::<false>(&indices, &values, len, &x),
                );
                for (w, g) in [(want.0, got.0), (want.1, got.1)] {
                    assert!(
                        w.to_bits() == g.to_bits() || (w.is_nan() && g.is_nan()),
                        "len {len}: {w:e} vs {g:e}"
                    );
                }
            }
        }
    }

    #[test]
    fn short_rows_fit_where_x_fits_the_l2_cache() {
        // A hypervisor may hide the leaf: then nothing fits (the loop).
        match l2_bytes() {
            Some(l2) => {
                assert!((64 << 10..=64 << 20).contains(&l2), "L2 of {l2} bytes");
                assert!(short_rows_fit(l2 / 8));
                assert!(!short_rows_fit(l2 / 8 + 1));
            }
            None => assert!(!short_rows_fit(0)),
        }
        assert!(!short_rows_fit(usize::MAX));
    }

    #[test]
    fn short_rows_pay_for_varied_rows_of_six_to_twelve_entries_only() {
        let from_lens = |lens: &mut dyn Iterator<Item = usize>| {
            let mut indptr = vec![0];
            for len in lens {
                indptr.push(indptr.last().unwrap() + len);
            }
            indptr
        };
        let varied = |mean: usize| from_lens(&mut (0..1_000).map(move |r| mean - 2 + r % 5));
        assert!(short_rows_pay(&varied(10)));
        assert!(short_rows_pay(&varied(6)));
        assert!(!short_rows_pay(&varied(3)));
        assert!(!short_rows_pay(&varied(20)));
        assert!(!short_rows_pay(&from_lens(&mut (0..1_000).map(|_| 10))));
        assert!(!short_rows_pay(&varied(10)[..40]));
        assert!(!short_rows_pay(&[]));
    }
}

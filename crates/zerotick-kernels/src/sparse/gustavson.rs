//! Gustavson's row-by-row `C = A * B` with a two-level bitset accumulator: the structure
//! ([`structure`], for [`SpgemmPlan::try_new`](super::SpgemmPlan::try_new)) or structure and
//! values in one pass over the rows ([`product`], for [`Csr::try_matmul`]).
//!
//! Per row of `A`:
//! 1. **mark**: every column `j` of the selected rows of `B` sets bit `j` of `bits` (one bit
//!    per column of `B`: 12.5 KB for 100,000 columns, resident in L1) and bit `j / 64` of
//!    `summary` (one bit per word of `bits`); the words that become nonzero are appended to
//!    `touched` (branch-free: the slot is always written, the count advances when new).
//! 2. **emit**: the row's columns in increasing order, with no sort: either a scan of the
//!    summary words (then of each nonzero word), or, when the row is short against the width
//!    of `B` (the summary scan would cost more than sorting the touched words), a sort of the
//!    touched words. Each touched word also gets its rank base `prefix[w]`: how many of the
//!    row's columns lie in earlier words.
//! 3. **accumulate** (values only): the selected rows of `B` again (now in L1), each product
//!    added into slot `prefix[j / 64] + popcount(bits[j / 64] & ((1 << j % 64) - 1))`, the
//!    rank of `j` in the row: every access stays in L1. The slots start at `+0.0` and take
//!    the products in the order of `A`'s entries, then `B`'s, as the two-phase numeric
//!    phase does, so both give the same bits.
//! 4. **clear** the touched words (the summary was cleared by the emit step).
//!
//! This replaced a dense `u64` stamp per column (800 KB for 100,000 columns: an L2 access
//! per product) and a sort of each output row (the symbolic phase's main cost).

use super::csr::Csr;
use super::spmv::prefetch;
use crate::simd::Tier;
use core::mem::MaybeUninit;

/// Entries of `A` ahead of the current one whose `B` row is prefetched; the row pointers of
/// the entry twice as far ahead are prefetched too. Uniformly scattered products are bound
/// by the latency of these random row fetches (profiled with perf: 2/3 of the numeric time
/// sat on the loads of `B.indptr` and `B.indices` before prefetching). 4, 8 and 16 measured
/// the same on the 100k x 100k, 1M-nonzero A*A.
pub(super) const PREFETCH_AHEAD: usize = 8;

/// Output entries reserved up front at most (the rest grows per row): the upper bound
/// `sum over rows of min(products, B.cols)` is exact when products rarely collide, but can
/// exceed the true size by the collision factor.
const INITIAL_CAPACITY_LIMIT: usize = 1 << 26;

/// Prefetches for the `A` entry at `p`: `B.indptr` of entry `p + 2D`, the start of the `B`
/// row of entry `p + D` (columns, and values when `bv` is given).
#[inline(always)]
pub(super) fn prefetch_b_rows(ai: &[u32], bp: &[usize], bi: &[u32], bv: Option<&[f64]>, p: usize) {
    if let Some(&far) = ai.get(p + 2 * PREFETCH_AHEAD) {
        prefetch(bp.as_ptr().wrapping_add(far as usize));
    }
    if let Some(&near) = ai.get(p + PREFETCH_AHEAD) {
        let (s, e) = (bp[near as usize], bp[near as usize + 1]);
        // First and last entry of the row: every line of a row of up to 16 columns (an
        // empty row prefetches the line before it, harmlessly).
        prefetch(bi.as_ptr().wrapping_add(s));
        prefetch(bi.as_ptr().wrapping_add(e).wrapping_sub(1));
        if let Some(bv) = bv {
            prefetch(bv.as_ptr().wrapping_add(s));
            prefetch(bv.as_ptr().wrapping_add(s + 8));
            prefetch(bv.as_ptr().wrapping_add(e).wrapping_sub(1));
        }
    }
}

/// The bitset accumulator for rows of `A * B`, `B` having `cols` columns.
struct RowAccumulator {
    /// Bit `j` set when column `j` is in the row in progress. `cols.div_ceil(64)` words.
    /// Invariant: all zero between rows.
    bits: Vec<u64>,
    /// Bit `w` set when word `w` of `bits` is nonzero. `bits.len().div_ceil(64)` words.
    /// Invariant: all zero between rows (cleared by `emit`).
    summary: Vec<u64>,
    /// For each word the row in progress touches, the count of its columns in earlier words;
    /// valid after `emit`. `bits.len()` entries.
    prefix: Vec<u32>,
    /// Words the row in progress touches (first in discovery order, sorted after `emit`).
    /// `bits.len() + 16` entries: `mark` writes one slot past the count before deciding to
    /// advance it, and `list_words_avx512` stores 16 lanes at a time.
    touched: Vec<u32>,
}

impl RowAccumulator {
    fn new(cols: usize) -> Self {
        let words = cols.div_ceil(64);
        Self {
            bits: vec![0; words],
            summary: vec![0; words.div_ceil(64)],
            prefix: vec![0; words],
            touched: vec![0; words + 16],
        }
    }

    /// Step 1 for the `A` entries `ps..pe`: marks the row's columns. Returns the touched
    /// words and the products (`sum` of the selected `B` rows' lengths).
    ///
    /// The caller guarantees that `b`'s columns are `< cols` of `Self::new` (the `Csr`
    /// invariant, with `cols == b.cols()`).
    #[inline(always)]
    fn mark(&mut self, a: &Csr, b: &Csr, ps: usize, pe: usize, values: bool) -> (usize, usize) {
        let (ai, bp, bi) = (a.indices(), b.indptr(), b.indices());
        let bv = if values { Some(b.values()) } else { None };
        let (mut nt, mut products) = (0usize, 0usize);
        for p in ps..pe {
            prefetch_b_rows(ai, bp, bi, bv, p);
            let k = ai[p] as usize;
            let row = &bi[bp[k]..bp[k + 1]];
            products += row.len();
            for &j in row {
                let w = j as usize >> 6;
                // SAFETY: `j < cols` (the caller's guarantee), so `w < bits.len()` and
                // `w >> 6 < summary.len()`; `nt` counts distinct words, `<= bits.len() <
                // touched.len()`.
                let old = unsafe {
                    let old = *self.bits.get_unchecked(w);
                    *self.bits.get_unchecked_mut(w) = old | (1u64 << (j & 63));
                    *self.summary.get_unchecked_mut(w >> 6) |= 1u64 << (w & 63);
                    *self.touched.get_unchecked_mut(nt) = w as u32;
                    old
                };
                nt += usize::from(old == 0);
            }
        }
        (nt, products)
    }

    /// Step 2: writes the row's columns in increasing order into `out` (which must have room
    /// for them: at most `min(products, cols)`), sets `prefix` for the touched words, clears
    /// the summary, and leaves `touched[..nt]` sorted. Returns the count of columns.
    ///
    /// `LIST` picks how the touched words are listed: [`LIST_AVX512`] (`vpcompressd`; the
    /// caller guarantees avx512f), [`LIST_AVX2`] (a byte table; the caller guarantees avx2),
    /// else one set bit at a time.
    #[inline(always)]
    fn emit<const LIST: u8>(&mut self, nt: usize, out: &mut [MaybeUninit<u32>]) -> usize {
        let nsw = self.summary.len();
        // Scanning costs a pass over the summary words; sorting, ~`nt log nt` steps.
        if nsw <= nt * (1 + nt.max(1).ilog2() as usize) {
            #[cfg(target_arch = "x86_64")]
            let listed = match LIST {
                // SAFETY: the caller guarantees avx512f.
                LIST_AVX512 => unsafe { list_words_avx512(&mut self.summary, &mut self.touched) },
                // SAFETY: the caller guarantees avx2.
                LIST_AVX2 => unsafe { list_words_avx2(&mut self.summary, &mut self.touched) },
                _ => list_words(&mut self.summary, &mut self.touched),
            };
            #[cfg(not(target_arch = "x86_64"))]
            let listed = list_words(&mut self.summary, &mut self.touched);
            debug_assert_eq!(listed, nt);
        } else {
            let touched = &mut self.touched[..nt];
            touched.sort_unstable();
            for &w in touched.iter() {
                self.summary[w as usize >> 6] = 0;
            }
        }
        let mut cnt = 0usize;
        for &w in &self.touched[..nt] {
            let w = w as usize;
            self.prefix[w] = cnt as u32;
            let mut word = self.bits[w];
            while word != 0 {
                out[cnt].write((w as u32) << 6 | word.trailing_zeros());
                cnt += 1;
                word &= word - 1;
            }
        }
        cnt
    }

    /// Step 3 for the `A` entries `ps..pe` (the ones `mark` saw): adds every product into
    /// the slot of its column in `out`, the row's `cnt` values (zeroed by the caller).
    ///
    /// The caller guarantees `mark` and `emit` ran for the same entries of the same `a` and
    /// `b`, and `out.len()` is what `emit` returned.
    #[inline(always)]
    fn accumulate<const FMA: bool>(&self, a: &Csr, b: &Csr, ps: usize, pe: usize, out: &mut [f64]) {
        let (ai, av) = (a.indices(), a.values());
        let (bp, bi, bv) = (b.indptr(), b.indices(), b.values());
        for p in ps..pe {
            let (k, x) = (ai[p] as usize, av[p]);
            let (s, e) = (bp[k], bp[k + 1]);
            for (&j, &y) in bi[s..e].iter().zip(&bv[s..e]) {
                let w = j as usize >> 6;
                // SAFETY: `mark` set bit `j` (same entries of the same matrices), so word `w`
                // was touched, `emit` wrote `prefix[w]` = the row's columns in words `< w`,
                // and `prefix[w] + (set bits of word w below j)` is the rank of `j` among
                // the row's `out.len()` columns: `< out.len()`. `w < bits.len()` as in `mark`.
                unsafe {
                    let below = *self.bits.get_unchecked(w) & ((1u64 << (j & 63)) - 1);
                    let slot = *self.prefix.get_unchecked(w) as usize + below.count_ones() as usize;
                    let o = out.get_unchecked_mut(slot);
                    *o = if FMA { x.mul_add(y, *o) } else { x * y + *o };
                }
            }
        }
    }

    /// Step 4: zeroes the touched words of `bits` (restoring the invariant).
    fn clear(&mut self, nt: usize) {
        for &w in &self.touched[..nt] {
            self.bits[w as usize] = 0;
        }
    }
}

/// `emit`'s ways of listing the touched words (a `u8` const parameter).
const LIST_SCALAR: u8 = 0;
/// See [`LIST_SCALAR`].
const LIST_AVX2: u8 = 1;
/// See [`LIST_SCALAR`].
const LIST_AVX512: u8 = 2;

/// For each byte value, the positions of its set bits, lowest first, one per byte.
const BYTE_BITS: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut byte = 0;
    while byte < 256 {
        let (mut bit, mut k, mut packed) = (0, 0, 0u64);
        while bit < 8 {
            if byte & (1 << bit) != 0 {
                packed |= (bit as u64) << (8 * k);
                k += 1;
            }
            bit += 1;
        }
        table[byte] = packed;
        byte += 1;
    }
    table
};

/// Writes the words whose summary bit is set, in increasing order, to `touched`, clearing
/// the summary; returns their count. One loop exit per summary word (it mispredicts about
/// once per word when the words hold a few bits each).
fn list_words(summary: &mut [u64], touched: &mut [u32]) -> usize {
    let mut t = 0;
    for (sw, s) in summary.iter_mut().enumerate() {
        let mut s = core::mem::take(s);
        while s != 0 {
            touched[t] = (sw << 6) as u32 | s.trailing_zeros();
            t += 1;
            s &= s - 1;
        }
    }
    t
}

/// [`list_words`] without a data-dependent branch: each 16-bit quarter of a summary word
/// compresses the 16 word numbers it covers to its set lanes (`vpcompressd`), stored whole
/// (the lanes past the count are overwritten by the next store or ignored: `touched` has 16
/// slots of slack).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn list_words_avx512(summary: &mut [u64], touched: &mut [u32]) -> usize {
    use core::arch::x86_64::{
        _mm512_add_epi32, _mm512_maskz_compress_epi32, _mm512_set1_epi32, _mm512_setr_epi32,
        _mm512_storeu_si512,
    };
    let lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    let mut t = 0;
    for (sw, s) in summary.iter_mut().enumerate() {
        let s = core::mem::take(s);
        for q in 0..4 {
            let m = (s >> (16 * q)) as u16;
            // Word numbers are `< 2^26` (columns `< 2^32`), so they fit an `i32`.
            let first = _mm512_set1_epi32((sw * 64 + 16 * q) as i32);
            let words = _mm512_maskz_compress_epi32(m, _mm512_add_epi32(first, lanes));
            let dst = &mut touched[t..t + 16];
            // SAFETY: `dst` is 16 `u32` (64 bytes) of `touched`, bounds-checked just above;
            // `storeu` has no alignment requirement.
            unsafe { _mm512_storeu_si512(dst.as_mut_ptr().cast(), words) };
            t += m.count_ones() as usize;
        }
    }
    t
}

/// [`list_words`] without a data-dependent branch on AVX2: each byte of a summary word
/// looks up the positions of its set bits ([`BYTE_BITS`]), widened to 8 word numbers and
/// stored whole (`touched` has 16 slots of slack; the lanes past the count are overwritten
/// by the next store or ignored).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn list_words_avx2(summary: &mut [u64], touched: &mut [u32]) -> usize {
    use core::arch::x86_64::{
        _mm_cvtsi64_si128, _mm256_add_epi32, _mm256_cvtepu8_epi32, _mm256_set1_epi32,
        _mm256_storeu_si256,
    };
    let mut t = 0;
    for (sw, s) in summary.iter_mut().enumerate() {
        let s = core::mem::take(s);
        for q in 0..8 {
            let byte = (s >> (8 * q)) as u8;
            let bits = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(BYTE_BITS[byte as usize] as i64));
            // Word numbers are `< 2^26` (columns `< 2^32`), so they fit an `i32`.
            let words = _mm256_add_epi32(bits, _mm256_set1_epi32((sw * 64 + 8 * q) as i32));
            let dst = &mut touched[t..t + 8];
            // SAFETY: `dst` is 8 `u32` (32 bytes) of `touched`, bounds-checked just above;
            // `storeu` has no alignment requirement.
            unsafe { _mm256_storeu_si256(dst.as_mut_ptr().cast(), words) };
            t += byte.count_ones() as usize;
        }
    }
    t
}

/// Upper bound of `A * B`'s entries: `sum over rows of min(products, B.cols)` (O(A.nnz)).
fn entry_bound(a: &Csr, b: &Csr) -> usize {
    let (ap, ai, bp) = (a.indptr(), a.indices(), b.indptr());
    ap.windows(2)
        .map(|w| {
            let products: usize = ai[w[0]..w[1]]
                .iter()
                .map(|&k| bp[k as usize + 1] - bp[k as usize])
                .sum();
            products.min(b.cols())
        })
        .sum()
}

/// Appends one row's sorted columns to `indices` (reserving `min(products, cols)`), returns
/// their count. `LIST`: as in `RowAccumulator::emit`.
#[inline(always)]
fn emit_row<const LIST: u8>(
    acc: &mut RowAccumulator,
    nt: usize,
    bound: usize,
    indices: &mut Vec<u32>,
) -> usize {
    indices.reserve(bound);
    let base = indices.len();
    let cnt = acc.emit::<LIST>(nt, indices.spare_capacity_mut());
    // SAFETY: `emit` initialised the first `cnt` spare slots (`out[..cnt]`, panicking on a
    // bounds check rather than writing past the spare capacity).
    unsafe { indices.set_len(base + cnt) };
    cnt
}

/// `(indptr, indices)` of `A * B`, rows sorted, on `tier` (every tier gives the same
/// structure). The caller checked `A.cols == B.rows`.
pub(super) fn structure(tier: Tier, a: &Csr, b: &Csr) -> (Vec<usize>, Vec<u32>) {
    match tier {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Kernels`' invariant for the AVX-512 tier: this CPU has avx512f.
        Tier::Avx512 => unsafe { structure_avx512(a, b) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Kernels`' invariant for the AVX2 tier: this CPU has avx2.
        Tier::Avx2 => unsafe { structure_avx2(a, b) },
        _ => structure_body::<LIST_SCALAR>(a, b),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn structure_avx512(a: &Csr, b: &Csr) -> (Vec<usize>, Vec<u32>) {
    structure_body::<LIST_AVX512>(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn structure_avx2(a: &Csr, b: &Csr) -> (Vec<usize>, Vec<u32>) {
    structure_body::<LIST_AVX2>(a, b)
}

#[inline(always)]
fn structure_body<const LIST: u8>(a: &Csr, b: &Csr) -> (Vec<usize>, Vec<u32>) {
    // Once per product (in `mark`, it made debug builds quadratic): `mark`'s guarantee.
    debug_assert!(b.indices().iter().all(|&j| (j as usize) < b.cols()));
    let mut acc = RowAccumulator::new(b.cols());
    let mut indptr = Vec::with_capacity(a.rows() + 1);
    indptr.push(0);
    let mut indices = fresh_output(entry_bound(a, b).min(INITIAL_CAPACITY_LIMIT));
    for w in a.indptr().windows(2) {
        let (nt, products) = acc.mark(a, b, w[0], w[1], false);
        emit_row::<LIST>(&mut acc, nt, products.min(b.cols()), &mut indices);
        acc.clear(nt);
        indptr.push(indices.len());
    }
    shrink(&mut indices);
    (indptr, indices)
}

/// `(indptr, indices, values)` of `A * B` in one pass, on `tier` (FMA on the vector tiers,
/// the same bits as [`structure`] followed by the numeric phase on that tier).
pub(super) fn product(tier: Tier, a: &Csr, b: &Csr) -> (Vec<usize>, Vec<u32>, Vec<f64>) {
    #[cfg(target_arch = "x86_64")]
    if tier != Tier::Scalar {
        if !std::arch::is_x86_feature_detected!("popcnt") {
            // SAFETY: the tier is AVX2 or AVX-512, so `Kernels`' invariant says this CPU
            // has avx2 and fma.
            return unsafe { product_fma(a, b) };
        }
        if tier == Tier::Avx512 {
            // SAFETY: `Kernels`' invariant for the AVX-512 tier: avx512f, avx512vl, avx2
            // and fma; popcnt was detected just above.
            return unsafe { product_avx512(a, b) };
        }
        // SAFETY: the AVX2 tier's invariant: avx2 and fma; popcnt detected above.
        return unsafe { product_fma_popcnt(a, b) };
    }
    let _ = tier;
    product_body::<false, LIST_SCALAR>(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx2,fma,popcnt")]
fn product_avx512(a: &Csr, b: &Csr) -> (Vec<usize>, Vec<u32>, Vec<f64>) {
    product_body::<true, LIST_AVX512>(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,popcnt")]
fn product_fma_popcnt(a: &Csr, b: &Csr) -> (Vec<usize>, Vec<u32>, Vec<f64>) {
    product_body::<true, LIST_AVX2>(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn product_fma(a: &Csr, b: &Csr) -> (Vec<usize>, Vec<u32>, Vec<f64>) {
    product_body::<true, LIST_AVX2>(a, b)
}

/// The one-pass product; `LIST`: as in `RowAccumulator::emit`.
#[inline(always)]
fn product_body<const FMA: bool, const LIST: u8>(
    a: &Csr,
    b: &Csr,
) -> (Vec<usize>, Vec<u32>, Vec<f64>) {
    // Once per product (in `mark`, it made debug builds quadratic): `mark`'s guarantee.
    debug_assert!(b.indices().iter().all(|&j| (j as usize) < b.cols()));
    let mut acc = RowAccumulator::new(b.cols());
    let mut indptr = Vec::with_capacity(a.rows() + 1);
    indptr.push(0);
    let cap = entry_bound(a, b).min(INITIAL_CAPACITY_LIMIT);
    let mut indices = fresh_output(cap);
    let mut values = fresh_output(cap);
    for w in a.indptr().windows(2) {
        let (nt, products) = acc.mark(a, b, w[0], w[1], true);
        let cnt = emit_row::<LIST>(&mut acc, nt, products.min(b.cols()), &mut indices);
        let base = values.len();
        values.resize(base + cnt, 0.0);
        acc.accumulate::<FMA>(a, b, w[0], w[1], &mut values[base..]);
        acc.clear(nt);
        indptr.push(indices.len());
    }
    shrink(&mut indices);
    shrink(&mut values);
    (indptr, indices, values)
}

/// An empty `Vec` with room for `cap` output entries, its whole 2 MiB pages advised as
/// transparent huge pages: the output is written once, front to back, into fresh memory, so
/// with small pages it would fault once per 4 KiB (a quarter of the 100k x 100k, 1M-entry
/// A*A's time went to those faults; sprs pays them as well).
fn fresh_output<T>(cap: usize) -> Vec<T> {
    let mut v = Vec::with_capacity(cap);
    zerotick_mem::advise_huge_pages(v.spare_capacity_mut());
    v
}

/// Gives back the reserve when more than a quarter of it is unused.
fn shrink<T>(v: &mut Vec<T>) {
    if v.capacity() - v.len() > v.len() / 4 {
        v.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// `rows x cols` with about `per_row` entries per row at pseudo-random columns (some rows
    /// empty), values of mixed sign.
    fn random(rows: usize, cols: usize, per_row: usize, seed: u64) -> Csr {
        let mut s = seed | 1;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let mut t = Vec::new();
        for r in 0..rows {
            let len = (next() % (2 * per_row as u64 + 1)) as usize;
            for _ in 0..len {
                let c = (next() % cols as u64) as usize;
                t.push((r, c, (next() % 2001) as f64 / 1000.0 - 1.0));
            }
        }
        Csr::try_from_triplets(rows, cols, &t).unwrap()
    }

    /// Gustavson with an ordered map per row: the products of each output entry in the same
    /// order (A's entries, then B's), starting from `+0.0`, fused on the vector tiers.
    fn reference(a: &Csr, b: &Csr, fma: bool) -> (Vec<usize>, Vec<u32>, Vec<f64>) {
        let (mut indptr, mut indices, mut values) = (vec![0], Vec::new(), Vec::new());
        for r in 0..a.rows() {
            let mut row = BTreeMap::new();
            let (ac, av) = a.row(r);
            for (&k, &x) in ac.iter().zip(av) {
                let (bc, bv) = b.row(k as usize);
                for (&j, &y) in bc.iter().zip(bv) {
                    let o: &mut f64 = row.entry(j).or_insert(0.0);
                    *o = if fma { x.mul_add(y, *o) } else { x * y + *o };
                }
            }
            indices.extend(row.keys());
            values.extend(row.values());
            indptr.push(indices.len());
        }
        (indptr, indices, values)
    }

    fn tiers() -> impl Iterator<Item = Tier> {
        Tier::ALL.into_iter().filter(|t| t.is_supported())
    }

    fn check(a: &Csr, b: &Csr, what: &str) {
        for tier in tiers() {
            let (want_p, want_i, want_v) = reference(a, b, tier != Tier::Scalar);
            let (p, i, v) = product(tier, a, b);
            assert_eq!((&p, &i), (&want_p, &want_i), "{what} {tier}: structure");
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&v), bits(&want_v), "{what} {tier}: values");
            assert_eq!(structure(tier, a, b), (want_p, want_i), "{what} {tier}");
        }
    }

    #[test]
    fn wide_short_rows_take_the_sort_path() {
        // 300,000 columns: 74 summary words, so rows touching few words are sorted.
        let a = random(60, 200, 2, 1);
        let b = random(200, 300_000, 3, 2);
        check(&a, &b, "wide");
    }

    #[test]
    fn long_rows_scan_many_summary_words() {
        // 100,000 columns (25 summary words), ~100 products per row: the summary scan, with
        // touched words spread over every quarter of the summary words.
        let a = random(40, 1000, 10, 3);
        let b = random(1000, 100_000, 10, 4);
        check(&a, &b, "scan");
        // Products colliding heavily in a narrow band: few touched words, many bits each.
        let a = random(50, 50, 40, 5);
        check(&a, &a, "dense band");
    }

    #[test]
    fn rows_touching_every_word_and_edge_shapes() {
        // A full row of B: every word touched (the `touched` slack is used), 64 * k +- 1
        // columns.
        for cols in [1, 63, 64, 65, 4095, 4096, 4097, 8193] {
            let full: Vec<(usize, usize, f64)> = (0..cols).map(|c| (0, c, c as f64)).collect();
            let b = Csr::try_from_triplets(2, cols, &full).unwrap();
            let a =
                Csr::try_from_triplets(3, 2, &[(0, 0, 1.0), (2, 1, 2.0), (2, 0, -1.0)]).unwrap();
            check(&a, &b, &format!("full row, {cols} columns"));
        }
        let empty = Csr::try_zeros(4, 0).unwrap();
        check(&Csr::try_zeros(3, 4).unwrap(), &empty, "no columns");
        check(&Csr::try_zeros(0, 4).unwrap(), &empty, "no rows");
    }

    #[test]
    fn nan_and_infinities_stay_in_their_slots() {
        let a = Csr::try_from_triplets(2, 2, &[(0, 0, f64::NAN), (1, 1, 1.0)]).unwrap();
        let b = Csr::try_from_triplets(2, 3, &[(0, 2, 1.0), (1, 0, f64::INFINITY), (1, 1, 0.0)])
            .unwrap();
        for tier in tiers() {
            let (_, i, v) = product(tier, &a, &b);
            assert_eq!(i, [2, 0, 1]);
            assert!(
                v[0].is_nan() && v[1] == f64::INFINITY && v[2] == 0.0,
                "{tier}"
            );
        }
    }
}

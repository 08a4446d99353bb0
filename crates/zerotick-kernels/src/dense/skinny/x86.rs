//! The x86 kernels of the skinny products: AVX-512 and AVX2+FMA `mul` (`A X`) on packed
//! tiles and `tmul` (`A^T X`), dispatched from the parent module.

use super::{ColMajor, KC, Panels};
use core::arch::x86_64::{
    __m256d, _MM_HINT_T0, _MM_HINT_T2, _mm_prefetch, _mm256_broadcast_sd, _mm256_fmadd_pd,
    _mm256_loadu_pd, _mm256_setzero_pd, _mm256_storeu_pd, _mm512_fmadd_pd, _mm512_loadu_pd,
    _mm512_maskz_loadu_pd, _mm512_set1_pd, _mm512_setzero_pd, _mm512_storeu_pd,
};
use core::mem::MaybeUninit;

/// How many 8-row tiles ahead of the one being multiplied `run512` and `run256` prefetch
/// the packed panel (2 and 4 measured the same on a Xeon: rSVD 2000x1000 k=20 21% faster
/// than with no software prefetch).
const PACK_AHEAD: usize = 2;

/// `mul_into` on AVX-512: panels of [`KC`] columns of `B`, each copied into `pack` in
/// 8-row tiles (reading `B` down its columns, one memory stream) and then multiplied tile
/// by tile (each tile's `KC x 8` values contiguous) with column chunks of up to 30; while
/// a panel is multiplied, the next one is prefetched line by line, in memory order.
///
/// # Safety
/// avx512f, avx512dq, avx512vl, avx2 and fma are present; `ld >= packed_width(l)`,
/// `x.len() >= q * ld`, `y.len() >= tiles_len(p, l)`, `panels` sized for `B`.
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
pub(super) unsafe fn mul_avx512(
    b: ColMajor<'_>,
    x: &[f64],
    l: usize,
    ld: usize,
    y: &mut [f64],
    panels: &mut Panels<'_>,
) {
    let (p, q) = (b.rows, b.cols);
    let tiles = p.div_ceil(8);
    let kcb = KC;
    let mut pf = Prefetch::new(b, kcb.min(q));
    for j0 in (0..q).step_by(kcb) {
        let kc = kcb.min(q - j0);
        let fill = |dst: &mut [MaybeUninit<f64>]| {
            // SAFETY: AVX-512 present (this function's features); `j0 + kc <= q`; `dst`
            // holds the panel.
            unsafe { pack_panel512(b, j0, kc, dst) }
        };
        // SAFETY: `fill` writes every value of the panel; `j0 + kc <= q`, `j0` a multiple
        // of `KC`, in order; `panels` sized by the caller.
        let (pack, reused) = unsafe { panels.panel(b, j0, kc, fill) };
        // A kept copy of the next panel is read from the packed buffer: nothing of `B`
        // to prefetch.
        pf.set_end(if reused { 0 } else { (j0 + 2 * kcb).min(q) });
        for t in 0..tiles {
            let mut c0 = 0;
            while c0 < l {
                let w = (l - c0).min(30);
                let tile = Tile {
                    l,
                    t,
                    j0,
                    kc,
                    c0,
                    ncols: w,
                    first: j0 == 0,
                };
                // SAFETY: tile `t < tiles` of the packed panel (`kc` columns), `X` rows
                // `j0..j0 + kc <= q` with `c0 + chunk <= packed_width(l) <= ld` for the
                // chunk width chosen below (`w` rounded up to a multiple of 6), `Y`'s tile.
                unsafe {
                    match w.div_ceil(6) {
                        1 => tile.run512::<6>(x, ld, y, pack, &mut pf),
                        2 => tile.run512::<12>(x, ld, y, pack, &mut pf),
                        3 => tile.run512::<18>(x, ld, y, pack, &mut pf),
                        4 => tile.run512::<24>(x, ld, y, pack, &mut pf),
                        _ => tile.run512::<30>(x, ld, y, pack, &mut pf),
                    }
                }
                c0 += w;
            }
        }
    }
}

/// Copies columns `j0..j0 + kc` of `B` into `pack`: tile `t`'s column `j` at
/// `pack[(t * kc + j) * 8..][..8]`, rows past `p` zero.
///
/// # Safety
/// AVX-512 present; `j0 + kc <= q`; `pack.len() >= p.div_ceil(8) * 8 * kc`.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
unsafe fn pack_panel512(b: ColMajor<'_>, j0: usize, kc: usize, pack: &mut [MaybeUninit<f64>]) {
    let p = b.rows;
    let tiles = p.div_ceil(8);
    debug_assert!(j0 + kc <= b.cols && pack.len() >= tiles * 8 * kc);
    let dst = pack.as_mut_ptr().cast::<f64>();
    // Tile by tile: the writes run through `pack` in order; the reads take one line of
    // each of the panel's columns per tile (measured faster than column by column).
    for t in 0..tiles {
        let rows = (p - 8 * t).min(8);
        let mask = (((1u16 << rows) - 1) & 0xff) as u8;
        for j in 0..kc {
            let col = b.col_ptr(0, j0 + j);
            // SAFETY: rows `8 t..8 t + rows <= p` of column `j0 + j < q` (the mask), and
            // slot `(t * kc + j) * 8 + 8 <= tiles * kc * 8 <= pack.len()`.
            unsafe {
                let v = _mm512_maskz_loadu_pd(mask, col.add(8 * t));
                _mm512_storeu_pd(dst.add((t * kc + j) * 8), v);
            }
        }
    }
}

/// A cursor over `B`'s cache lines in memory order (down each column, column after
/// column), prefetching two lines into L2 per step up to a column limit: the multiply of
/// one panel fetches the next (a panel has `tiles * KC` lines and its multiply
/// `tiles * KC` steps).
struct Prefetch<'a> {
    b: ColMajor<'a>,
    row: usize,
    col: usize,
    end: usize,
}

impl<'a> Prefetch<'a> {
    fn new(b: ColMajor<'a>, col: usize) -> Self {
        Self {
            b,
            row: 0,
            col,
            end: col,
        }
    }

    fn set_end(&mut self, end: usize) {
        self.end = end;
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn step(&mut self) {
        for _ in 0..2 {
            if self.col >= self.end {
                return;
            }
            // A hint: never faults, not an access.
            _mm_prefetch::<_MM_HINT_T2>(self.b.col_ptr(self.row, self.col).cast());
            self.row += 8;
            if self.row >= self.b.rows {
                self.row = 0;
                self.col += 1;
            }
        }
    }
}

/// Columns `c0..c0 + ncols` of the 8-row tile `t` of `Y` over a packed panel of `kc`
/// columns of `B` starting at `j0`.
struct Tile {
    /// Columns of `Y`.
    l: usize,
    t: usize,
    j0: usize,
    kc: usize,
    c0: usize,
    /// Columns of the chunk that exist in `Y` (`<=` the kernel's `NR`).
    ncols: usize,
    /// First panel: start from zero instead of the stored partial sums.
    first: bool,
}

impl Tile {
    /// `Y`'s values of this tile start here (`(t * l + c0) * 8`).
    fn y_offset(&self) -> usize {
        (self.t * super::tile_width(self.l) + self.c0) * 8
    }

    /// # Safety
    /// AVX-512 present; `pack` holds tile `t` of a panel of `kc` columns
    /// (`(t + 1) * kc * 8` values); `x` holds rows `j0..j0 + kc` with `c0 + NR <= ld`;
    /// `y` holds the tile (`y_offset() + 8 * NR` values, `c0 + NR <= tile_width(l)`).
    #[inline]
    #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
    unsafe fn run512<const NR: usize>(
        &self,
        x: &[f64],
        ld: usize,
        y: &mut [f64],
        pack: &[f64],
        pf: &mut Prefetch<'_>,
    ) {
        debug_assert!(self.c0 + NR <= ld && self.ncols <= NR);
        debug_assert!(y.len() >= self.y_offset() + 8 * NR);
        debug_assert!(x.len() >= (self.j0 + self.kc) * ld);
        debug_assert!(pack.len() >= (self.t + 1) * self.kc * 8);
        let yp = y.as_mut_ptr().wrapping_add(self.y_offset());
        let mut acc = [_mm512_setzero_pd(); NR];
        if !self.first {
            for (c, a) in acc.iter_mut().enumerate() {
                // SAFETY: the tile's column `c0 + c`, 8 values (above).
                *a = unsafe { _mm512_loadu_pd(yp.add(8 * c)) };
            }
        }
        let xp = x.as_ptr().wrapping_add(self.j0 * ld + self.c0);
        let ap = pack.as_ptr().wrapping_add(self.t * self.kc * 8);
        for j in 0..self.kc {
            pf.step();
            // The packed values PACK_AHEAD tiles on into L1: a kept panel (the rSVD's
            // second and third `A X`) streams from L3 or memory, 4 KiB pages of it
            // that the hardware prefetcher re-learns page by page. A hint: never faults,
            // so the address may run past the panel (`wrapping_add`, never dereferenced).
            _mm_prefetch::<_MM_HINT_T0>(ap.wrapping_add(8 * (j + PACK_AHEAD * self.kc)).cast());
            // SAFETY: the tile's packed column `j < kc` (above).
            let a = unsafe { _mm512_loadu_pd(ap.add(8 * j)) };
            // SAFETY: row `j0 + j` of `X`, values `c0..c0 + NR` (`<= ld`).
            let xr = unsafe { xp.add(j * ld) };
            for (c, acc) in acc.iter_mut().enumerate() {
                // SAFETY: `c < NR`, inside the row (above).
                let w = _mm512_set1_pd(unsafe { *xr.add(c) });
                *acc = _mm512_fmadd_pd(a, w, *acc);
            }
        }
        for (c, a) in acc.iter().enumerate() {
            // SAFETY: as for the load of the partial sums.
            unsafe { _mm512_storeu_pd(yp.add(8 * c), *a) };
        }
    }

    /// The AVX2 tile: 8 rows (two `ymm`) x 6 columns.
    ///
    /// # Safety
    /// AVX2 and FMA present; as `run512` with `NR = 6`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run256(
        &self,
        x: &[f64],
        ld: usize,
        y: &mut [f64],
        pack: &[f64],
        pf: &mut Prefetch<'_>,
    ) {
        const NR: usize = 6;
        debug_assert!(self.c0 + NR <= ld && self.ncols <= NR);
        debug_assert!(y.len() >= self.y_offset() + 8 * NR);
        debug_assert!(x.len() >= (self.j0 + self.kc) * ld);
        debug_assert!(pack.len() >= (self.t + 1) * self.kc * 8);
        let yp = y.as_mut_ptr().wrapping_add(self.y_offset());
        let mut lo = [_mm256_setzero_pd(); NR];
        let mut hi = [_mm256_setzero_pd(); NR];
        if !self.first {
            for c in 0..NR {
                // SAFETY: the tile's column `c0 + c`, 8 values.
                unsafe {
                    lo[c] = _mm256_loadu_pd(yp.add(8 * c));
                    hi[c] = _mm256_loadu_pd(yp.add(8 * c + 4));
                }
            }
        }
        let xp = x.as_ptr().wrapping_add(self.j0 * ld + self.c0);
        let ap = pack.as_ptr().wrapping_add(self.t * self.kc * 8);
        for j in 0..self.kc {
            pf.step();
            // As in `run512`.
            _mm_prefetch::<_MM_HINT_T0>(ap.wrapping_add(8 * (j + PACK_AHEAD * self.kc)).cast());
            // SAFETY: the tile's packed column `j < kc`, 8 values.
            let (a0, a1) = unsafe {
                (
                    _mm256_loadu_pd(ap.add(8 * j)),
                    _mm256_loadu_pd(ap.add(8 * j + 4)),
                )
            };
            // SAFETY: row `j0 + j` of `X`, values `c0..c0 + 6` (`<= ld`).
            let xr = unsafe { xp.add(j * ld) };
            for c in 0..NR {
                // SAFETY: `c < 6`, inside the row (above).
                let w = unsafe { _mm256_broadcast_sd(&*xr.add(c)) };
                lo[c] = _mm256_fmadd_pd(a0, w, lo[c]);
                hi[c] = _mm256_fmadd_pd(a1, w, hi[c]);
            }
        }
        for c in 0..NR {
            // SAFETY: as for the load of the partial sums.
            unsafe {
                _mm256_storeu_pd(yp.add(8 * c), lo[c]);
                _mm256_storeu_pd(yp.add(8 * c + 4), hi[c]);
            }
        }
    }
}

/// Copies columns `j0..j0 + kc` of `B` into `pack` as `pack_panel512` does, with `ymm`
/// registers for the full tiles and scalar copies for the last, partial one.
///
/// # Safety
/// AVX2 present; as `pack_panel512`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn pack_panel256(b: ColMajor<'_>, j0: usize, kc: usize, pack: &mut [MaybeUninit<f64>]) {
    let p = b.rows;
    let (full, tiles) = (p / 8, p.div_ceil(8));
    debug_assert!(j0 + kc <= b.cols && pack.len() >= tiles * 8 * kc);
    let dst = pack.as_mut_ptr().cast::<f64>();
    for t in 0..full {
        for j in 0..kc {
            let col = b.col_ptr(0, j0 + j);
            // SAFETY: rows `8 t..8 t + 8 <= p` of column `j0 + j < q`; slot
            // `(t * kc + j) * 8 + 8 <= tiles * kc * 8 <= pack.len()`.
            unsafe {
                let (lo, hi) = (
                    _mm256_loadu_pd(col.add(8 * t)),
                    _mm256_loadu_pd(col.add(8 * t + 4)),
                );
                _mm256_storeu_pd(dst.add((t * kc + j) * 8), lo);
                _mm256_storeu_pd(dst.add((t * kc + j) * 8 + 4), hi);
            }
        }
    }
    if full < tiles {
        for j in 0..kc {
            for r in 0..8 {
                let i = 8 * full + r;
                // SAFETY: `(i, j0 + j)` is read only when `i < p`; the slot is inside
                // `pack` as above.
                unsafe {
                    *dst.add((full * kc + j) * 8 + r) = if i < p { b.at(i, j0 + j) } else { 0.0 };
                }
            }
        }
    }
}

/// `mul_into` on AVX2: the AVX-512 structure with 8 x 6 tiles.
///
/// # Safety
/// avx2 and fma present; as `mul_avx512`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn mul_avx2(
    b: ColMajor<'_>,
    x: &[f64],
    l: usize,
    ld: usize,
    y: &mut [f64],
    panels: &mut Panels<'_>,
) {
    let (p, q) = (b.rows, b.cols);
    let tiles = p.div_ceil(8);
    let kcb = KC;
    let mut pf = Prefetch::new(b, kcb.min(q));
    // The column chunks after the first of a tile step this one, which prefetches
    // nothing: the first chunk's steps cover the next panel.
    let mut idle = Prefetch::new(b, q);
    for j0 in (0..q).step_by(kcb) {
        let kc = kcb.min(q - j0);
        let fill = |dst: &mut [MaybeUninit<f64>]| {
            // SAFETY: AVX2 present (this function's features); `j0 + kc <= q`; `dst`
            // holds the panel.
            unsafe { pack_panel256(b, j0, kc, dst) }
        };
        // SAFETY: `fill` writes every value of the panel; `j0 + kc <= q`, `j0` a multiple
        // of `KC`, in order; `panels` sized by the caller.
        let (pack, reused) = unsafe { panels.panel(b, j0, kc, fill) };
        pf.set_end(if reused { 0 } else { (j0 + 2 * kcb).min(q) });
        for t in 0..tiles {
            let mut c0 = 0;
            while c0 < l {
                let w = (l - c0).min(6);
                let tile = Tile {
                    l,
                    t,
                    j0,
                    kc,
                    c0,
                    ncols: w,
                    first: j0 == 0,
                };
                let pf = if c0 == 0 { &mut pf } else { &mut idle };
                // SAFETY: tile `t < tiles` of the packed panel; `c0 + 6 <=
                // packed_width(l) <= ld` (`l` rounded up to a multiple of 6); `Y`'s tile.
                unsafe { tile.run256(x, ld, y, pack, pf) };
                c0 += w;
            }
        }
    }
}

/// `tmul_into` on AVX-512: tiles of `24 / NV` columns of `B` x `NV` vectors of 8 lanes.
///
/// # Safety
/// avx512f, avx512dq, avx512vl, avx2 and fma present; `ld >= packed_width(l)`,
/// `x.len() >= p * ld`, `z.len() >= q * ld`.
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
pub(super) unsafe fn tmul_avx512(b: ColMajor<'_>, x: &[f64], l: usize, ld: usize, z: &mut [f64]) {
    let q = b.cols;
    let vecs = l.div_ceil(8);
    let mut v0 = 0;
    while v0 < vecs {
        let nv = (vecs - v0).min(4);
        // SAFETY: (all arms) lanes `8 * v0..8 * (v0 + nv) <= 8 * ceil(l / 8) <= ld` of
        // `X` and `Z` rows; columns `j0..j0 + JT <= q` of `B` (tiles only where they fit).
        unsafe {
            match nv {
                1 => tmul_run512::<24, 1>(b, x, ld, z, v0, q),
                2 => tmul_run512::<12, 2>(b, x, ld, z, v0, q),
                3 => tmul_run512::<8, 3>(b, x, ld, z, v0, q),
                _ => tmul_run512::<6, 4>(b, x, ld, z, v0, q),
            }
        }
        v0 += nv;
    }
}

/// All column tiles of `B` for lanes `8 * v0..8 * (v0 + NV)`, then the columns left over
/// one by one.
///
/// # Safety
/// As `tmul_avx512`, with `8 * (v0 + NV) <= ld`.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
unsafe fn tmul_run512<const JT: usize, const NV: usize>(
    b: ColMajor<'_>,
    x: &[f64],
    ld: usize,
    z: &mut [f64],
    v0: usize,
    q: usize,
) {
    let full = q / JT * JT;
    for j0 in (0..full).step_by(JT) {
        // SAFETY: columns `j0..j0 + JT <= full <= q`; the lanes per the caller.
        unsafe { tmul_tile512::<JT, NV>(b, x, ld, z, v0, j0) };
    }
    for j0 in full..q {
        // SAFETY: column `j0 < q`; the lanes per the caller.
        unsafe { tmul_tile512::<1, NV>(b, x, ld, z, v0, j0) };
    }
}

/// `Z[j0..j0 + JT, lanes] = B[.., j0..j0 + JT]^T X[.., lanes]`, lanes
/// `8 * v0..8 * (v0 + NV)`.
///
/// # Safety
/// AVX-512 present; `j0 + JT <= q`; `8 * (v0 + NV) <= ld`; `x.len() >= p * ld`,
/// `z.len() >= q * ld`.
#[inline]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx2,fma")]
unsafe fn tmul_tile512<const JT: usize, const NV: usize>(
    b: ColMajor<'_>,
    x: &[f64],
    ld: usize,
    z: &mut [f64],
    v0: usize,
    j0: usize,
) {
    debug_assert!(j0 + JT <= b.cols && 8 * (v0 + NV) <= ld);
    debug_assert!(x.len() >= b.rows * ld && z.len() >= b.cols * ld);
    let mut acc = [[_mm512_setzero_pd(); NV]; JT];
    let cols: [*const f64; JT] = core::array::from_fn(|t| b.col_ptr(0, j0 + t));
    let xp = x.as_ptr().wrapping_add(8 * v0);
    for i in 0..b.rows {
        let mut xv = [_mm512_setzero_pd(); NV];
        for (v, xv) in xv.iter_mut().enumerate() {
            // SAFETY: row `i < p` of `X`, lanes `8 * (v0 + v)..+8 <= ld`.
            *xv = unsafe { _mm512_loadu_pd(xp.add(i * ld + 8 * v)) };
        }
        for (t, acc) in acc.iter_mut().enumerate() {
            // SAFETY: `B[i, j0 + t]`, `i < p`, `j0 + t < q`.
            let a = _mm512_set1_pd(unsafe { *cols[t].add(i) });
            for (acc, xv) in acc.iter_mut().zip(&xv) {
                *acc = _mm512_fmadd_pd(a, *xv, *acc);
            }
        }
    }
    let zp = z.as_mut_ptr().wrapping_add(j0 * ld + 8 * v0);
    for (t, acc) in acc.iter().enumerate() {
        for (v, acc) in acc.iter().enumerate() {
            // SAFETY: row `j0 + t < q` of `Z`, lanes `8 * (v0 + v)..+8 <= ld`.
            unsafe { _mm512_storeu_pd(zp.add(t * ld + 8 * v), *acc) };
        }
    }
}

/// `tmul_into` on AVX2: see [`tmul_avx2_with`] for the tile.
///
/// # Safety
/// avx2 and fma present; as `tmul_avx512`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn tmul_avx2(b: ColMajor<'_>, x: &[f64], l: usize, ld: usize, z: &mut [f64]) {
    // SAFETY: as this function's contract.
    unsafe { tmul_avx2_with::<6, 2, 128>(b, x, l, ld, z) }
}

/// `tmul_into` on AVX2 with tiles of `JT` columns of `B` x up to `NV <= 4` vectors of 4
/// lanes: for each group of `JT` columns and each block of `RB` rows, the lane chunks one
/// after the other (the block of the group's columns stays in L1 for the chunks after the
/// first; the sums carry over from block to block through `Z`, in the same order); the
/// columns left over one by one.
///
/// # Safety
/// avx2 and fma present; as `tmul_avx512`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn tmul_avx2_with<const JT: usize, const NV: usize, const RB: usize>(
    b: ColMajor<'_>,
    x: &[f64],
    l: usize,
    ld: usize,
    z: &mut [f64],
) {
    let q = b.cols;
    let vecs = l.div_ceil(4);
    let full = q / JT * JT;
    let mut j0 = 0;
    while j0 < q {
        let group = if j0 < full { JT } else { 1 };
        // At least one block, so that `p == 0` still writes zero sums.
        for blk in 0..b.rows.div_ceil(RB).max(1) {
            let rows = blk * RB..(blk * RB + RB).min(b.rows);
            let mut v0 = 0;
            while v0 < vecs {
                let nv = (vecs - v0).min(NV);
                // SAFETY: (all arms) lanes `4 * v0..4 * (v0 + nv) <= 4 * ceil(l / 4) <= ld`;
                // columns `j0..j0 + group <= q` (`JT` only below `full`).
                unsafe {
                    match (group == JT, nv) {
                        (true, 4) => tmul_tile256::<JT, 4>(b, x, ld, z, v0, j0, rows.clone()),
                        (true, 3) => tmul_tile256::<JT, 3>(b, x, ld, z, v0, j0, rows.clone()),
                        (true, 2) => tmul_tile256::<JT, 2>(b, x, ld, z, v0, j0, rows.clone()),
                        (true, _) => tmul_tile256::<JT, 1>(b, x, ld, z, v0, j0, rows.clone()),
                        (false, 4) => tmul_tile256::<1, 4>(b, x, ld, z, v0, j0, rows.clone()),
                        (false, 3) => tmul_tile256::<1, 3>(b, x, ld, z, v0, j0, rows.clone()),
                        (false, 2) => tmul_tile256::<1, 2>(b, x, ld, z, v0, j0, rows.clone()),
                        (false, _) => tmul_tile256::<1, 1>(b, x, ld, z, v0, j0, rows.clone()),
                    }
                }
                v0 += nv;
            }
        }
        j0 += group;
    }
}

/// The AVX2 tile: `JT` columns of `B` x `NV` vectors of 4 lanes.
///
/// # Safety
/// AVX2 and FMA present; `j0 + JT <= q`; `4 * (v0 + NV) <= ld`; `x.len() >= p * ld`,
/// `z.len() >= q * ld`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn tmul_tile256<const JT: usize, const NV: usize>(
    b: ColMajor<'_>,
    x: &[f64],
    ld: usize,
    z: &mut [f64],
    v0: usize,
    j0: usize,
    rows: core::ops::Range<usize>,
) {
    debug_assert!(j0 + JT <= b.cols && 4 * (v0 + NV) <= ld);
    debug_assert!(x.len() >= b.rows * ld && z.len() >= b.cols * ld);
    debug_assert!(rows.start <= rows.end && rows.end <= b.rows);
    let zp = z.as_mut_ptr().wrapping_add(j0 * ld + 4 * v0);
    let mut acc: [[__m256d; NV]; JT] = [[_mm256_setzero_pd(); NV]; JT];
    if rows.start > 0 {
        for (t, acc) in acc.iter_mut().enumerate() {
            for (v, acc) in acc.iter_mut().enumerate() {
                // SAFETY: row `j0 + t < q` of `Z`, lanes `4 * (v0 + v)..+4 <= ld`: the
                // partial sums of the rows before `rows`.
                *acc = unsafe { _mm256_loadu_pd(zp.add(t * ld + 4 * v)) };
            }
        }
    }
    let cols: [*const f64; JT] = core::array::from_fn(|t| b.col_ptr(0, j0 + t));
    let xp = x.as_ptr().wrapping_add(4 * v0);
    for i in rows {
        let mut xv = [_mm256_setzero_pd(); NV];
        for (v, xv) in xv.iter_mut().enumerate() {
            // SAFETY: row `i < p` of `X`, lanes `4 * (v0 + v)..+4 <= ld`.
            *xv = unsafe { _mm256_loadu_pd(xp.add(i * ld + 4 * v)) };
        }
        for (t, acc) in acc.iter_mut().enumerate() {
            // SAFETY: `B[i, j0 + t]`, `i < p`, `j0 + t < q`.
            let a = unsafe { _mm256_broadcast_sd(&*cols[t].add(i)) };
            for (acc, xv) in acc.iter_mut().zip(&xv) {
                *acc = _mm256_fmadd_pd(a, *xv, *acc);
            }
        }
    }
    for (t, acc) in acc.iter().enumerate() {
        for (v, acc) in acc.iter().enumerate() {
            // SAFETY: row `j0 + t < q` of `Z`, lanes `4 * (v0 + v)..+4 <= ld`.
            unsafe { _mm256_storeu_pd(zp.add(t * ld + 4 * v), *acc) };
        }
    }
}

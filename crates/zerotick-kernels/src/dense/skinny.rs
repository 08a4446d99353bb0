//! The randomized SVD's skinny products, `B X` and `B^T X`, for a column-major `B` (`p x q`,
//! unit row stride) and a narrow `X` (a few dozen columns) packed row-major by the caller.
//!
//! Both kernels read `B` exactly once from memory per product (faer's GEMM runs its
//! micro-kernel on 30-column panels at well under half its square-matrix rate; measured on
//! the Xeon, 2026-12-01: ~20 GFLOP/s for `A X`, `A` 2000 x 1000 column-major, `X` 30 wide):
//!
//! * [`tmul_into`] (`Z = B^T X`, `Z` row-major): `JT` columns of `B` times up to 32 columns of
//!   `X` (4 `zmm` per row) in `JT * 4 <= 24` accumulators; each row `i` of `X` is loaded once
//!   per tile and `B[i, j]` broadcast, so `B`'s columns stream contiguously (a handful of
//!   sequential streams the hardware prefetchers follow) and `X` comes from L2. Measured
//!   ~51 GFLOP/s on the Xeon, above faer's large square GEMM (~47).
//! * [`mul_into`] (`Y = B X`): here the sum runs along `B`'s rows, across columns, so a
//!   register tile (8 rows of `B`, one `zmm`, times up to 30 columns of `X` in 30
//!   accumulators) needs one cache line from each column. Taken straight from `B` that is
//!   one memory stream per column and the loads stall (measured 5.9-20 GFLOP/s whatever the
//!   software prefetch distance). So `B` is copied in panels of [`KC`] columns into 8-row
//!   tiles (`KC x 8` values contiguous, in L2), and while one panel is multiplied the next is
//!   prefetched into L2 line by line in memory order. `Y` is written in the same 8-row tiles
//!   ([`unpack_tiles`] makes a matrix of it). Measured ~20-24 GFLOP/s on the loaded machine:
//!   the copy and the stalls cost a third of the time. A caller that multiplies the same `B`
//!   again (the randomized SVD's three `A X`) keeps every panel in a [`Panels::whole`]
//!   buffer: the later products skip the copy and read the tiles in memory order (~39
//!   GFLOP/s on AVX-512); see `docs/kernels.md`.
//!
//! The AVX2 versions use the same loops on 4-lane `ymm` registers with tiles that fit 16
//! registers (`mul_into`: 8 rows x 6 columns; `tmul_into`: 6 columns of `B` x 8 lanes in
//! blocks of 128 rows, the best of the tile shapes measured on the Xeon, 2026-12-01: ~31
//! GFLOP/s, up from ~17-23). Every tier sums each output
//! in the same order (one fused multiply-add chain along the inner index, from its first
//! term), so the AVX2 and AVX-512 tiers give the same bits. The scalar tier is the plain
//! triple loop, the reference the tests compare the other tiers with.
//!
//! Layout contract of the packed operands: row `r` of an `X` with `l` columns starts at
//! `x[r * ld]`, `ld = packed_width(l)`, and the `ld - l` padding values of every row are zero
//! (the kernels multiply them and drop the results).

use core::marker::PhantomData;
use core::mem::MaybeUninit;

use faer::MatRef;
use faer::reborrow::ReborrowMut;

use crate::simd::{Kernels, Tier};

/// Columns of `B` per block of [`mul_into`]: each is one memory stream while the block's
/// tiles run down the rows, and the hardware prefetchers follow a few dozen streams (128
/// columns with software prefetch one tile ahead measured 2.5x slower than `tmul_into`).
const KC: usize = 32;

/// Row length of a packed narrow operand of `l` columns: `l` rounded up to a multiple of 6
/// (the AVX-512 column chunks of [`mul_into`]) and then of 8 (the vector width of
/// [`tmul_into`]).
pub(crate) const fn packed_width(l: usize) -> usize {
    (l.div_ceil(6) * 6).div_ceil(8) * 8
}

/// A column-major matrix by raw parts: element `(i, j)` at `ptr + i + j * cs`.
///
/// Invariant: for every `i < rows` and `j < cols`, `ptr + i + j * cs` points to an `f64`
/// readable for `'a` and not written during `'a` (it comes from a `MatRef<'a, f64>` with unit
/// row stride); `cs >= rows` when `cols > 1`. Nothing else between the columns is assumed
/// readable: the kernels only dereference in-matrix elements (masked-off lanes and prefetches
/// are not accesses).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ColMajor<'a> {
    ptr: *const f64,
    rows: usize,
    cols: usize,
    cs: usize,
    _life: PhantomData<&'a f64>,
}

impl<'a> ColMajor<'a> {
    /// `a` itself when its row stride is 1 and its column stride positive and at least its
    /// row count.
    pub(crate) fn new(a: MatRef<'a, f64>) -> Option<Self> {
        let (rows, cols) = a.shape();
        let cs = usize::try_from(a.col_stride()).ok()?;
        let unit_rows = a.row_stride() == 1 || rows <= 1;
        if !unit_rows || (cols > 1 && cs < rows.max(1)) {
            return None;
        }
        Some(Self {
            ptr: a.as_ptr(),
            rows,
            cols,
            cs: cs.max(rows),
            _life: PhantomData,
        })
    }

    /// Rows `p`.
    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// Columns `q`.
    pub(crate) fn cols(&self) -> usize {
        self.cols
    }

    /// `B[i, j]`.
    ///
    /// # Safety
    /// `i < rows` and `j < cols`.
    #[inline(always)]
    unsafe fn at(&self, i: usize, j: usize) -> f64 {
        debug_assert!(i < self.rows && j < self.cols);
        // SAFETY: the caller keeps `(i, j)` inside the matrix; the type's invariant makes that
        // element readable.
        unsafe { *self.ptr.add(i + j * self.cs) }
    }

    /// Pointer to `B[i, j]` (inside the matrix by the caller's contract, or one past a
    /// column's rows for an empty range).
    #[inline(always)]
    fn col_ptr(&self, i: usize, j: usize) -> *const f64 {
        self.ptr.wrapping_add(i + j * self.cs)
    }
}

/// Checks the packed operand `x` (`rows x l`, row stride `ld`) and the output length.
fn check(x: &[f64], rows: usize, l: usize, ld: usize, out: &[f64], out_len: usize) {
    assert!(
        ld >= packed_width(l),
        "packed row length {ld} below {l} columns' width"
    );
    assert!(x.len() >= rows * ld, "packed operand too short");
    assert!(out.len() >= out_len, "output too short");
}

/// Length of [`mul_into`]'s packing buffer for `B` with `p` rows: one panel of [`KC`]
/// columns in 8-row tiles.
pub(crate) const fn pack_len(p: usize) -> usize {
    p.div_ceil(8) * 8 * KC
}

/// Length of a buffer that keeps all of a `p x q` `B` packed for [`mul_into`]
/// ([`Panels::whole`]): its panels one after the other.
pub(crate) const fn whole_len(p: usize, q: usize) -> usize {
    p.div_ceil(8) * 8 * q
}

/// Where [`mul_into`] copies `B`'s panels of [`KC`] columns (8-row tiles).
pub(crate) struct Panels<'p> {
    buf: &'p mut [MaybeUninit<f64>],
    /// `None`: `buf` holds one panel (`pack_len(p)` values), refilled for every panel of
    /// every product. `Some`: `buf` has a place for every panel of the `B` that [`Kept`] names
    /// (`whole_len(p, q)` values), so that a later product with the same `B` skips the copy.
    kept: Option<Kept>,
}

/// The `B` whose panels a whole [`Panels`] buffer holds.
///
/// Invariant: the first `done` columns' panels (`p.div_ceil(8) * 8 * done` values from the
/// start of the buffer) are initialised with copies of this `B`'s columns.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Kept {
    ptr: *const f64,
    rows: usize,
    cols: usize,
    cs: usize,
    done: usize,
}

impl<'p> Panels<'p> {
    /// One panel's buffer (at least `pack_len(p)` values), refilled for each panel: for a
    /// `B` that changes between products.
    pub(crate) fn scratch(buf: &'p mut [f64]) -> Self {
        // SAFETY: `MaybeUninit<f64>` has the layout of `f64`; the kernels only write
        // initialised values through the view, so `buf` stays initialised.
        let buf = unsafe { &mut *(buf as *mut [f64] as *mut [MaybeUninit<f64>]) };
        Self { buf, kept: None }
    }

    /// A buffer for all of `B` (at least `whole_len(p, q)` values): the first product copies
    /// each panel once and later products with the same `B` (same address, shape and
    /// stride, and, as the caller guarantees by keeping it borrowed, same values) read the
    /// copies. The randomized SVD's three `A X` products pay the copy of `A` once.
    pub(crate) fn whole(buf: &'p mut [MaybeUninit<f64>]) -> Self {
        Self {
            buf,
            kept: Some(Kept {
                ptr: core::ptr::null(),
                rows: 0,
                cols: 0,
                cs: 0,
                done: 0,
            }),
        }
    }

    /// The values [`mul_into`] needs for a `p x q` `B`.
    fn needed(&self, p: usize, q: usize) -> usize {
        if self.kept.is_some() {
            whole_len(p, q)
        } else {
            pack_len(p)
        }
    }

    /// Panel `j0..j0 + kc` of `b` in 8-row tiles (`p.div_ceil(8) * 8 * kc` values), copied
    /// by `fill` unless an earlier product with the same `b` left it in place; `true` when it
    /// was already there.
    ///
    /// # Safety
    /// `fill` initialises every value of the slice it is given; `j0 + kc <= b.cols`, and
    /// `j0` is a multiple of [`KC`] (panels are asked for in order from column 0);
    /// `self.buf` holds `self.needed(b.rows, b.cols)` values.
    unsafe fn panel(
        &mut self,
        b: ColMajor<'_>,
        j0: usize,
        kc: usize,
        fill: impl FnOnce(&mut [MaybeUninit<f64>]),
    ) -> (&[f64], bool) {
        let per_col = b.rows.div_ceil(8) * 8;
        let len = per_col * kc;
        let (start, reuse) = match &mut self.kept {
            None => (0, false),
            Some(k) => {
                let key = (b.ptr, b.rows, b.cols, b.cs);
                if (k.ptr, k.rows, k.cols, k.cs) != key {
                    (k.ptr, k.rows, k.cols, k.cs, k.done) = (key.0, key.1, key.2, key.3, 0);
                }
                (per_col * j0, j0 + kc <= k.done)
            }
        };
        debug_assert!(start + len <= self.buf.len());
        let place = &mut self.buf[start..start + len];
        if !reuse {
            fill(place);
            if let Some(k) = &mut self.kept
                && j0 <= k.done
            {
                k.done = k.done.max(j0 + kc);
            }
        }
        // SAFETY: `fill` initialised `place` just now, or (`reuse`) `Kept`'s invariant says an
        // earlier product with this `B` did; `MaybeUninit<f64>` has the layout of `f64`.
        let values = unsafe { &*(place as *const [MaybeUninit<f64>] as *const [f64]) };
        (values, reuse)
    }
}

/// Values of a `p x l` product in 8-row tiles (the layout [`mul_into`] writes).
pub(crate) const fn tiles_len(p: usize, l: usize) -> usize {
    p.div_ceil(8) * 8 * tile_width(l)
}

/// Columns stored per tile: `l` rounded up to a multiple of 6, so every column chunk of the
/// kernels (30 or a multiple of 6; 6 on AVX2) loads and stores whole (a chunk of
/// run-time width made LLVM copy the accumulators through `memcpy` calls).
const fn tile_width(l: usize) -> usize {
    l.div_ceil(6) * 6
}

/// `Y = B X` in 8-row tiles: `Y[8 t + r, c]` at `y[(t * w + c) * 8 + r]`, `w = tile_width(l)`,
/// for `8 t + r < p`,
/// `c < l` (the rows past `p` in the last tile are scratch). [`unpack_tiles`] turns it into
/// a plain matrix.
///
/// The tiles keep every output tile in one contiguous 8-row block, so the kernel's memory
/// streams are the columns of a block of `B` plus one: few enough for the hardware
/// prefetchers.
///
/// # Panics
/// If `ld < packed_width(l)`, `x` holds fewer than `q * ld` values, `y` fewer than
/// `tiles_len(p, l)` or `panels` fewer than `pack_len(p)` (a whole buffer: `whole_len(p, q)`)
/// (internal callers size them; a panic here is a bug).
pub(crate) fn mul_into(
    k: Kernels,
    b: ColMajor<'_>,
    x: &[f64],
    l: usize,
    ld: usize,
    y: &mut [f64],
    panels: &mut Panels<'_>,
) {
    let (p, q) = (b.rows, b.cols);
    check(x, q, l, ld, y, tiles_len(p, l));
    assert!(
        panels.buf.len() >= panels.needed(p, q),
        "packing buffer too short"
    );
    if q == 0 {
        y[..tiles_len(p, l)].fill(0.0);
        return;
    }
    match k.tier() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Kernels`' invariant: its tier passed `Tier::is_supported` on this CPU, so
        // avx512f, avx512dq, avx512vl, avx2 and fma are present; shapes checked above.
        Tier::Avx512 => unsafe { x86::mul_avx512(b, x, l, ld, y, panels) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Kernels`' invariant: avx2 and fma are present; shapes checked above.
        Tier::Avx2 => unsafe { x86::mul_avx2(b, x, l, ld, y, panels) },
        _ => {
            for t in 0..p.div_ceil(8) {
                mul_scalar_tile(b, x, l, ld, y, t);
            }
        }
    }
}

/// Copies the tiled `p x l` product `y` (see [`mul_into`]) into `dst`.
pub(crate) fn unpack_tiles(y: &[f64], l: usize, mut dst: faer::MatMut<'_, f64>) {
    let p = dst.nrows();
    assert!(dst.ncols() == l && y.len() >= tiles_len(p, l));
    let w = tile_width(l);
    for c in 0..l {
        for (i, v) in dst.rb_mut().col_mut(c).iter_mut().enumerate() {
            *v = y[((i / 8) * w + c) * 8 + i % 8];
        }
    }
}

/// Tile `t` (rows `8 t..min(8 t + 8, p)`) of `Y = B X`, plain loops: the scalar tier.
fn mul_scalar_tile(b: ColMajor<'_>, x: &[f64], l: usize, ld: usize, y: &mut [f64], t: usize) {
    let i0 = 8 * t;
    let rows = (b.rows - i0).min(8);
    for c in 0..l {
        let w = tile_width(l);
        let yc = &mut y[(t * w + c) * 8..(t * w + c) * 8 + 8];
        yc.fill(0.0);
        for j in 0..b.cols {
            let w = x[j * ld + c];
            for (r, yv) in yc.iter_mut().enumerate().take(rows) {
                // SAFETY: `i0 + r < i0 + rows <= p` and `j < q`.
                *yv += unsafe { b.at(i0 + r, j) } * w;
            }
        }
    }
}

/// `Z = B^T X`: `z[j * ld + c] = sum_i B[i, j] * x[i * ld + c]` for `j < q`, `c < l`
/// (`Z` row-major with the packed row length `ld`; its padding values are unspecified).
///
/// # Panics
/// If `ld < packed_width(l)`, `x` holds fewer than `p * ld` values or `z` fewer than
/// `q * ld` (internal callers size them; a panic here is a bug).
pub(crate) fn tmul_into(
    k: Kernels,
    b: ColMajor<'_>,
    x: &[f64],
    l: usize,
    ld: usize,
    z: &mut [f64],
) {
    let (p, q) = (b.rows, b.cols);
    check(x, p, l, ld, z, q * ld);
    match k.tier() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `mul_into`: the tier's features are present; shapes checked above.
        Tier::Avx512 => unsafe { x86::tmul_avx512(b, x, l, ld, z) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as in `mul_into`: avx2 and fma are present; shapes checked above.
        Tier::Avx2 => unsafe { x86::tmul_avx2(b, x, l, ld, z) },
        _ => tmul_scalar(b, x, l, ld, z),
    }
}

/// `Z = B^T X`, plain loops (the scalar tier).
fn tmul_scalar(b: ColMajor<'_>, x: &[f64], l: usize, ld: usize, z: &mut [f64]) {
    for j in 0..b.cols {
        let zj = &mut z[j * ld..j * ld + l];
        zj.fill(0.0);
        for i in 0..b.rows {
            // SAFETY: `i < p` and `j < q`.
            let a = unsafe { b.at(i, j) };
            for (zv, xv) in zj.iter_mut().zip(&x[i * ld..i * ld + l]) {
                *zv += a * xv;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86;

#[cfg(test)]
mod tests {
    use super::*;
    use faer::Mat;

    fn lcg(seed: &mut u64) -> f64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*seed >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
    }

    /// Packs `rows x l` values from `f` row-major with row length `packed_width(l)`, zero
    /// padding.
    fn packed(rows: usize, l: usize, seed: &mut u64) -> (Vec<f64>, usize) {
        let ld = packed_width(l);
        let mut x = vec![0.0; rows * ld];
        for r in 0..rows {
            for c in 0..l {
                x[r * ld + c] = lcg(seed);
            }
        }
        (x, ld)
    }

    /// Tolerance of one entry: a sum of `terms` products, each rounded, in any order and
    /// with or without fused multiply-adds: `terms * eps * sum |b x|` (plus the smallest
    /// normal so exact zeros compare).
    fn close(got: f64, want: f64, abs_sum: f64, terms: usize) -> bool {
        (got - want).abs() <= terms as f64 * f64::EPSILON * abs_sum + f64::MIN_POSITIVE
    }

    /// `B` as a sub-block of a wider buffer (column stride `p + 3`), so the kernels must
    /// honour the stride.
    fn strided(p: usize, q: usize, seed: &mut u64) -> Mat<f64> {
        Mat::from_fn(p + 3, q, |_, _| lcg(seed))
    }

    #[test]
    fn packed_width_covers_chunks_and_vectors() {
        for l in 0..100 {
            let w = packed_width(l);
            assert!(
                w >= l.div_ceil(6) * 6 && w.is_multiple_of(8) && w < l + 14,
                "{l} -> {w}"
            );
        }
    }

    #[test]
    fn every_tier_matches_the_plain_sums_at_awkward_shapes() {
        let mut seed = 5;
        for (p, q) in [
            (1, 1),
            (7, 5),
            (8, 33),
            (9, 32),
            (17, 64),
            (130, 70),
            (0, 3),
            (5, 0),
        ] {
            let full = strided(p, q, &mut seed);
            let b = full.as_ref().get(..p, ..);
            let cm = ColMajor::new(b).expect("unit row stride");
            for l in [1, 5, 6, 7, 12, 13, 24, 29, 30, 31, 40] {
                let (x, ld) = packed(q, l, &mut seed);
                let (xt, _) = packed(p, l, &mut seed);
                for tier in Tier::ALL.into_iter().filter(|t| t.is_supported()) {
                    let k = Kernels::new(tier).expect("supported");
                    let mut y = vec![f64::NAN; tiles_len(p, l)];
                    let mut pack = vec![f64::NAN; pack_len(p)];
                    mul_into(k, cm, &x, l, ld, &mut y, &mut Panels::scratch(&mut pack));
                    let mut yy = Mat::<f64>::zeros(p, l);
                    unpack_tiles(&y, l, yy.as_mut());
                    for i in 0..p {
                        for c in 0..l {
                            let terms = (0..q).map(|j| b[(i, j)] * x[j * ld + c]);
                            let want: f64 = terms.clone().sum();
                            let abs: f64 = terms.map(f64::abs).sum();
                            assert!(
                                close(yy[(i, c)], want, abs, q),
                                "{tier} B X p={p} q={q} l={l} ({i}, {c}): {} vs {want}",
                                yy[(i, c)]
                            );
                        }
                    }
                    let mut z = vec![f64::NAN; q * ld];
                    tmul_into(k, cm, &xt, l, ld, &mut z);
                    for j in 0..q {
                        for c in 0..l {
                            let terms = (0..p).map(|i| b[(i, j)] * xt[i * ld + c]);
                            let want: f64 = terms.clone().sum();
                            let abs: f64 = terms.map(f64::abs).sum();
                            assert!(
                                close(z[j * ld + c], want, abs, p),
                                "{tier} B^T X p={p} q={q} l={l} ({j}, {c}): {} vs {want}",
                                z[j * ld + c]
                            );
                        }
                    }
                }
            }
        }
    }

    /// A whole [`Panels`] buffer gives the bits of the per-panel one, on the product that
    /// fills it and on later ones that reuse it, and refills itself for another `B`.
    #[test]
    fn kept_panels_give_the_same_bits_and_follow_their_b() {
        let mut seed = 13;
        let (p, q, l) = (131, 70, 30);
        let f1 = strided(p, q, &mut seed);
        let f2 = strided(p, q, &mut seed);
        let (b1, b2) = (f1.as_ref().get(..p, ..), f2.as_ref().get(..p, ..));
        let (c1, c2) = (
            ColMajor::new(b1).expect("unit row stride"),
            ColMajor::new(b2).expect("unit row stride"),
        );
        let (x1, ld) = packed(q, l, &mut seed);
        let (x2, _) = packed(q, l, &mut seed);
        for tier in Tier::ALL.into_iter().filter(|t| t.is_supported()) {
            let k = Kernels::new(tier).expect("supported");
            let mut pack = vec![0.0; pack_len(p)];
            let mut whole = vec![MaybeUninit::uninit(); whole_len(p, q)];
            let mut kept = Panels::whole(&mut whole);
            for (b, x) in [
                (c1, &x1),
                (c1, &x2),
                (c1, &x1),
                (c2, &x2),
                (c2, &x1),
                (c1, &x2),
            ] {
                let mut want = vec![0.0; tiles_len(p, l)];
                mul_into(k, b, x, l, ld, &mut want, &mut Panels::scratch(&mut pack));
                let mut got = vec![f64::NAN; tiles_len(p, l)];
                mul_into(k, b, x, l, ld, &mut got, &mut kept);
                let mut yw = Mat::<f64>::zeros(p, l);
                let mut yg = Mat::<f64>::zeros(p, l);
                unpack_tiles(&want, l, yw.as_mut());
                unpack_tiles(&got, l, yg.as_mut());
                for i in 0..p {
                    for c in 0..l {
                        assert_eq!(yw[(i, c)].to_bits(), yg[(i, c)].to_bits(), "{tier}");
                    }
                }
            }
        }
    }

    /// The AVX2 and AVX-512 tiers sum every output in the same order (one fused
    /// multiply-add chain along the inner index), so they agree bit for bit: the pipeline's
    /// signals do not depend on the vector tier.
    #[test]
    fn the_vector_tiers_agree_bit_for_bit() {
        let tiers = [Tier::Avx2, Tier::Avx512];
        if !tiers.iter().all(|t| t.is_supported()) {
            return;
        }
        let mut seed = 21;
        for (p, q) in [(1, 1), (9, 33), (130, 70), (301, 97)] {
            let full = strided(p, q, &mut seed);
            let cm = ColMajor::new(full.as_ref().get(..p, ..)).expect("unit row stride");
            for l in [1, 7, 13, 30, 31] {
                let (x, ld) = packed(q, l, &mut seed);
                let (xt, _) = packed(p, l, &mut seed);
                let [(y0, z0), (y1, z1)] = tiers.map(|tier| {
                    let k = Kernels::new(tier).expect("supported");
                    let (mut y, mut pack) = (vec![0.0; tiles_len(p, l)], vec![0.0; pack_len(p)]);
                    mul_into(k, cm, &x, l, ld, &mut y, &mut Panels::scratch(&mut pack));
                    let mut yy = Mat::<f64>::zeros(p, l);
                    unpack_tiles(&y, l, yy.as_mut());
                    let mut z = vec![0.0; q * ld];
                    tmul_into(k, cm, &xt, l, ld, &mut z);
                    let z: Vec<u64> = (0..q * ld)
                        .filter(|i| i % ld < l)
                        .map(|i| z[i].to_bits())
                        .collect();
                    (yy, z)
                });
                assert_eq!(z0, z1, "B^T X p={p} q={q} l={l}");
                for i in 0..p {
                    for c in 0..l {
                        assert_eq!(
                            y0[(i, c)].to_bits(),
                            y1[(i, c)].to_bits(),
                            "B X {p} {q} {l}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn huge_and_tiny_magnitudes_stay_finite_and_exact_enough() {
        let mut seed = 9;
        let (p, q, l) = (19, 40, 30);
        for scale in [1e-300, 1e-150, 1e150] {
            let b = Mat::<f64>::from_fn(p, q, |_, _| scale * lcg(&mut seed));
            let cm = ColMajor::new(b.as_ref()).expect("column-major");
            let (x, ld) = packed(q, l, &mut seed);
            for tier in Tier::ALL.into_iter().filter(|t| t.is_supported()) {
                let k = Kernels::new(tier).expect("supported");
                let (mut y, mut pack) = (vec![0.0; tiles_len(p, l)], vec![0.0; pack_len(p)]);
                mul_into(k, cm, &x, l, ld, &mut y, &mut Panels::scratch(&mut pack));
                let mut yy = Mat::<f64>::zeros(p, l);
                unpack_tiles(&y, l, yy.as_mut());
                for i in 0..p {
                    for c in 0..l {
                        let terms = (0..q).map(|j| b[(i, j)] * x[j * ld + c]);
                        let want: f64 = terms.clone().sum();
                        let abs: f64 = terms.map(f64::abs).sum();
                        assert!(yy[(i, c)].is_finite());
                        assert!(close(yy[(i, c)], want, abs, q), "{tier} {scale}");
                    }
                }
            }
        }
    }

    #[test]
    fn nan_and_infinity_propagate() {
        let (p, q, l) = (9, 4, 3);
        let mut b = Mat::<f64>::from_fn(p, q, |i, j| (i + j) as f64);
        b[(2, 1)] = f64::NAN;
        b[(8, 3)] = f64::INFINITY;
        let cm = ColMajor::new(b.as_ref()).expect("column-major");
        let ld = packed_width(l);
        let mut x = vec![0.0; q * ld];
        for j in 0..q {
            for c in 0..l {
                x[j * ld + c] = 1.0;
            }
        }
        for tier in Tier::ALL.into_iter().filter(|t| t.is_supported()) {
            let k = Kernels::new(tier).expect("supported");
            let (mut y, mut pack) = (vec![0.0; tiles_len(p, l)], vec![0.0; pack_len(p)]);
            mul_into(k, cm, &x, l, ld, &mut y, &mut Panels::scratch(&mut pack));
            let mut yy = Mat::<f64>::zeros(p, l);
            unpack_tiles(&y, l, yy.as_mut());
            assert!(yy[(2, 0)].is_nan() && yy[(8, 2)] == f64::INFINITY, "{tier}");
            assert_eq!(yy[(0, 0)], 6.0);
        }
    }

    /// Rates of the two products on the rSVD bench's shape, every tier (a measurement, not a
    /// check): `cargo test --release -p zerotick-kernels --lib skinny_rates -- --ignored
    /// --nocapture`.
    #[test]
    #[ignore = "timing; run in release by hand"]
    fn skinny_rates() {
        let (m, n, l) = (2000, 1000, 30);
        let mut seed = 1;
        let a = Mat::<f64>::from_fn(m, n, |_, _| lcg(&mut seed));
        let cm = ColMajor::new(a.as_ref()).expect("column-major");
        let (x, ld) = packed(n, l, &mut seed);
        let (xt, _) = packed(m, l, &mut seed);
        let flop = 2.0 * (m * n * l) as f64;
        let best = |f: &mut dyn FnMut()| {
            (0..15)
                .map(|_| {
                    let t = std::time::Instant::now();
                    f();
                    t.elapsed().as_secs_f64()
                })
                .fold(f64::INFINITY, f64::min)
        };
        for tier in Tier::ALL.into_iter().filter(|t| t.is_supported()) {
            let k = Kernels::new(tier).expect("supported");
            let (mut y, mut pack) = (vec![0.0; tiles_len(m, l)], vec![0.0; pack_len(m)]);
            let mut z = vec![0.0; n * ld];
            let mut whole = vec![MaybeUninit::uninit(); whole_len(m, n)];
            let mut kept = Panels::whole(&mut whole);
            let tm =
                best(&mut || mul_into(k, cm, &x, l, ld, &mut y, &mut Panels::scratch(&mut pack)));
            let tk = best(&mut || mul_into(k, cm, &x, l, ld, &mut y, &mut kept));
            let tt = best(&mut || tmul_into(k, cm, &xt, l, ld, &mut z));
            println!(
                "{tier}: A X {:.1} GFLOP/s, A X kept {:.1} GFLOP/s, A^T X {:.1} GFLOP/s",
                flop / tm * 1e-9,
                flop / tk * 1e-9,
                flop / tt * 1e-9
            );
        }
        #[cfg(target_arch = "x86_64")]
        if Tier::Avx2.is_supported() {
            let mut z = vec![0.0; n * ld];
            let mut run = |f: unsafe fn(ColMajor<'_>, &[f64], usize, usize, &mut [f64]),
                           name: &str| {
                // SAFETY: AVX2 and FMA present (checked above); `xt` holds `m` rows and `z`
                // `n` rows of row length `ld = packed_width(l)`, as `tmul_into` checks them.
                let t = best(&mut || unsafe { f(cm, &xt, l, ld, &mut z) });
                println!("avx2 A^T X {name}: {:.1} GFLOP/s", flop / t * 1e-9);
            };
            run(x86::tmul_avx2_with::<6, 2, { usize::MAX }>, "6x2 unblocked");
            run(x86::tmul_avx2_with::<6, 2, 128>, "6x2 rows 128");
            run(x86::tmul_avx2_with::<6, 2, 512>, "6x2 rows 512");
            run(
                x86::tmul_avx2_with::<3, 3, 128>,
                "3x3 rows 128 (the tile before 2026-12-01)",
            );
            run(x86::tmul_avx2_with::<4, 3, 256>, "4x3 rows 256");
            run(x86::tmul_avx2_with::<3, 4, 256>, "3x4 rows 256");
        }
    }

    /// Time of `rsvd_into_with` on the bench's shape per tier (a measurement, not a check):
    /// `cargo test --release -p zerotick-kernels --lib rsvd_rates -- --ignored --nocapture`.
    #[test]
    #[ignore = "timing; run in release by hand"]
    fn rsvd_rates() {
        use crate::dense::{RsvdParams, rsvd_into_with, rsvd_scratch_bytes};
        let (m, n) = (2000, 1000);
        let mut seed = 3;
        let a = Mat::<f64>::from_fn(m, n, |_, _| lcg(&mut seed));
        let params = RsvdParams::new(20);
        let mut arena = zerotick_mem::Arena::new(rsvd_scratch_bytes(m, n, params));
        let (mut u, mut s, mut vt) = (
            Mat::<f64>::zeros(m, 20),
            [0.0; 20],
            Mat::<f64>::zeros(20, n),
        );
        let reps: usize = std::env::var("RSVD_REPS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(15);
        for tier in [Tier::Avx2, Tier::Avx512]
            .into_iter()
            .filter(|t| t.is_supported())
        {
            let k = Kernels::new(tier).expect("supported");
            let mut best = f64::INFINITY;
            for _ in 0..reps {
                arena.reset();
                let t = std::time::Instant::now();
                rsvd_into_with(
                    k,
                    a.as_ref(),
                    params,
                    u.as_mut(),
                    &mut s,
                    vt.as_mut(),
                    &arena,
                )
                .expect("rsvd");
                best = best.min(t.elapsed().as_secs_f64());
            }
            println!("{tier}: rsvd_into {:.2} ms (min of {reps})", best * 1e3);
        }
    }

    #[test]
    fn only_unit_row_stride_is_column_major() {
        let a = Mat::<f64>::zeros(5, 4);
        assert!(ColMajor::new(a.as_ref()).is_some());
        assert!(ColMajor::new(a.as_ref().transpose()).is_none());
        assert!(ColMajor::new(a.as_ref().reverse_cols()).is_none());
    }
}

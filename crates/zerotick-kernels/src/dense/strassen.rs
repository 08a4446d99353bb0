//! Strassen-Winograd multiplication (7 products, 15 additions per level) on quadrant views,
//! temporaries from an arena, classical faer GEMM as the base case, a measured crossover and
//! [`gemm_auto`], which picks the faster path by size.
//!
//! Schedule: Douglas, Heroux, Slishman and Smith (1994), as tabulated by Boyer, Dumas, Pernet
//! and Zhou (2009) for `C = A B`: two temporaries per level, `X` (`m/2 x max(k/2, n/2)`) and
//! `Y` (`k/2 x n/2`), the four quadrants of `C` hold the other intermediate results. Odd
//! dimensions are peeled: the even part goes through Strassen, the last row, column and rank-1
//! inner-dimension remainder through classical GEMM.
//!
//! The additions are memory-bound passes over quadrants, ~8% of a 4096 product: they run on
//! the vector tier (`multiversion!`), and steps 13-17, five updates of `C`'s quadrants, run
//! as one pass (`combine`). Same bits as one pass per step; 1.17x -> 1.24x faer at 4096 on
//! the EPYC Zen 5 VM (docs/kernels.md, seventh session).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use faer::reborrow::{Reborrow, ReborrowMut};
use faer::{Mat, MatMut, MatRef, Par};
use zerotick_mem::Arena;

use super::DenseError;
use super::gemm::{check_product, gemm_unchecked_shapes};
use crate::simd::{Kernels, multiversion};

/// Smallest dimension the recursion ever splits (below it a level costs more than it saves
/// on any machine). [`Crossover::new`] clamps to it.
pub const MIN_SPLIT_DIM: usize = 8;

/// When Strassen pays: a product `m x k x n` takes one Strassen level when
/// `min(m, k, n) >= min_dim`; each half-size subproduct decides again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Crossover {
    min_dim: usize,
}

impl Crossover {
    /// Never use Strassen.
    pub const NEVER: Crossover = Crossover {
        min_dim: usize::MAX,
    };

    /// A crossover at `min_dim` (clamped to at least [`MIN_SPLIT_DIM`]).
    pub const fn new(min_dim: usize) -> Self {
        Self {
            min_dim: if min_dim < MIN_SPLIT_DIM {
                MIN_SPLIT_DIM
            } else {
                min_dim
            },
        }
    }

    /// Smallest `min(m, k, n)` that takes a Strassen level.
    pub const fn min_dim(self) -> usize {
        self.min_dim
    }

    /// Strassen levels a `m x k x n` product takes (0: classical).
    pub fn levels(self, m: usize, k: usize, n: usize) -> u32 {
        let mut d = m.min(k).min(n);
        let mut levels = 0;
        while d >= self.min_dim {
            levels += 1;
            d /= 2;
        }
        levels
    }

    /// The fixed rule [`cached`](Self::cached) uses unless `ZEROTICK_STRASSEN_MIN_DIM` says
    /// otherwise: one Strassen level per halving while `min(m, k, n) >= 2048` (so 2,048 takes
    /// one level, 4,096 two). Measured (`cargo run --release -p zerotick-bench -- dense`):
    /// on the 2-vCPU AMD EPYC (AVX2) VM Strassen beat faer at 2,048 (0.88 of its time) and at
    /// 4,096 in every run (1.14-1.16x), and lost at 1,024; on a 2-vCPU Intel Xeon (AVX-512)
    /// it beat faer at 4,096 (1.17x). A timing calibration on these shared machines gave 512,
    /// 2,048 or "never" in three runs, so the default is this rule, the same on every run.
    pub const DEFAULT: Crossover = Crossover { min_dim: 2048 };

    /// Measures on this machine, on the calling thread, sizes `256, 512, 1024, ...` up to
    /// `max_dim` (one Strassen level against classical GEMM, each the median of
    /// [`CALIBRATION_REPEATS`] interleaved runs) and returns the smallest size at which
    /// Strassen wins by at least [`CALIBRATION_MARGIN`] there *and* at the next size: one win
    /// alone on a noisy machine is not a crossover. See [`choose`](Self::choose) for the
    /// rule at the top of the range. Allocates its test matrices; takes about 10 s for
    /// `max_dim = 2048` on a 3 GHz AVX2 core.
    pub fn calibrate(max_dim: usize) -> CalibrationReport {
        let mut measured = [None; 8];
        let mut d = 256;
        let mut i = 0;
        while d <= max_dim.max(256) && i < measured.len() {
            let (classical, strassen) = time_one_level(d);
            measured[i] = Some(CalibrationPoint {
                dim: d,
                classical,
                strassen,
            });
            i += 1;
            d *= 2;
        }
        let (crossover, extrapolated) = Self::choose(&measured);
        CalibrationReport {
            crossover,
            measured,
            extrapolated,
        }
    }

    /// The crossover `measured` (consecutive doubling sizes, smallest first) supports, and
    /// whether it is extrapolated: the smallest size that wins by [`CALIBRATION_MARGIN`] and
    /// whose next size wins too. A win at the largest size alone gives that size, flagged as
    /// extrapolated (nothing above it confirms it); no win at all gives twice the largest
    /// size, flagged. `measured` with no point gives [`Crossover::DEFAULT`], flagged.
    pub fn choose(measured: &[Option<CalibrationPoint>]) -> (Crossover, bool) {
        let points: Vec<&CalibrationPoint> = measured.iter().flatten().collect();
        let wins = |p: &CalibrationPoint| {
            p.strassen.as_secs_f64() < (1.0 - CALIBRATION_MARGIN) * p.classical.as_secs_f64()
        };
        for (i, p) in points.iter().enumerate() {
            match points.get(i + 1) {
                Some(next) if wins(p) && wins(next) => return (Crossover::new(p.dim), false),
                None if wins(p) => return (Crossover::new(p.dim), true),
                _ => {}
            }
        }
        match points.last() {
            Some(p) => (Crossover::new(p.dim.saturating_mul(2)), true),
            None => (Crossover::DEFAULT, true),
        }
    }

    /// The process-wide crossover: from `ZEROTICK_STRASSEN_MIN_DIM` if set (a number, or
    /// `never`), else [`Crossover::DEFAULT`]. A value that does not parse is ignored (the
    /// default is used). To use this machine's own measurement, run
    /// [`calibrate`](Self::calibrate) and export its `min_dim`.
    pub fn cached() -> Crossover {
        static CACHED: OnceLock<Crossover> = OnceLock::new();
        *CACHED.get_or_init(|| match std::env::var("ZEROTICK_STRASSEN_MIN_DIM") {
            Ok(v) if v.trim().eq_ignore_ascii_case("never") => Crossover::NEVER,
            Ok(v) => v.trim().parse().map_or(Crossover::DEFAULT, Crossover::new),
            Err(_) => Crossover::DEFAULT,
        })
    }
}

/// Runs of each path per size in [`Crossover::calibrate`] (the median is kept).
pub const CALIBRATION_REPEATS: usize = 5;

/// How much faster (as a fraction of the classical time) one Strassen level must be for a
/// size to count as a win in [`Crossover::calibrate`]: 5%, above the run-to-run spread of a
/// quiet 2-vCPU VM, so a tie does not pick Strassen.
pub const CALIBRATION_MARGIN: f64 = 0.05;

/// One size measured by [`Crossover::calibrate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CalibrationPoint {
    /// `n` of the `n x n x n` product.
    pub dim: usize,
    /// Classical GEMM time (median of [`CALIBRATION_REPEATS`]).
    pub classical: Duration,
    /// One Strassen level over classical half-size products (median of
    /// [`CALIBRATION_REPEATS`]).
    pub strassen: Duration,
}

/// What [`Crossover::calibrate`] measured and chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CalibrationReport {
    /// The chosen crossover.
    pub crossover: Crossover,
    /// Sizes measured, smallest first.
    pub measured: [Option<CalibrationPoint>; 8],
    /// True if no two consecutive sizes confirmed the crossover (see
    /// [`Crossover::choose`]): it is a guess.
    pub extrapolated: bool,
}

/// Median times of classical GEMM and one Strassen level on a `d`-cubed product, the two
/// interleaved (alternating which goes first) over [`CALIBRATION_REPEATS`] rounds.
fn time_one_level(d: usize) -> (Duration, Duration) {
    let a = Mat::<f64>::from_fn(d, d, |i, j| ((i * 31 + j * 17) % 97) as f64 / 97.0 - 0.5);
    let b = Mat::<f64>::from_fn(d, d, |i, j| ((i * 13 + j * 29) % 89) as f64 / 89.0 - 0.5);
    let mut c = Mat::<f64>::zeros(d, d);
    let one_level = Crossover::new(d);
    let mut arena = Arena::new(strassen_scratch_bytes(d, d, d, one_level, 0.0));
    let mut classical = [Duration::ZERO; CALIBRATION_REPEATS];
    let mut strassen = [Duration::ZERO; CALIBRATION_REPEATS];
    for round in 0..CALIBRATION_REPEATS {
        for first in [round % 2 == 0, round % 2 != 0] {
            arena.reset();
            let t = Instant::now();
            if first {
                gemm_unchecked_shapes(c.as_mut(), a.as_ref(), b.as_ref(), 1.0, 0.0, Par::Seq);
                classical[round] = t.elapsed();
            } else {
                let r = strassen_into(
                    c.as_mut(),
                    a.as_ref(),
                    b.as_ref(),
                    1.0,
                    0.0,
                    one_level,
                    &arena,
                );
                strassen[round] = t.elapsed();
                debug_assert!(r.is_ok());
            }
        }
    }
    std::hint::black_box(&c);
    classical.sort_unstable();
    strassen.sort_unstable();
    (
        classical[CALIBRATION_REPEATS / 2],
        strassen[CALIBRATION_REPEATS / 2],
    )
}

/// Which path [`gemm_auto`] took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GemmPath {
    /// Classical faer GEMM.
    Classical,
    /// Strassen-Winograd with this many recursion levels.
    Strassen {
        /// Levels of recursion (each halves the dimensions).
        levels: u32,
    },
}

/// `f64` elements of scratch the recursion needs below a `m x k x n` product.
fn scratch_len(m: usize, k: usize, n: usize, x: Crossover) -> usize {
    if m.min(k).min(n) < x.min_dim {
        return 0;
    }
    let (m2, k2, n2) = (m / 2, k / 2, n / 2);
    // Saturating: a shape no memory could hold asks for `usize::MAX` (which no arena
    // gives) instead of overflowing.
    m2.saturating_mul(k2.max(n2))
        .saturating_add(k2.saturating_mul(n2))
        .saturating_add(scratch_len(m2, k2, n2, x))
}

/// Arena bytes [`strassen_into`] and [`gemm_auto`] need for a `m x k x n` product (including
/// the `m x n` temporary when `beta != 0` and 64 bytes of alignment slack per allocation);
/// `usize::MAX` when that does not fit a `usize` (no arena can then be built:
/// [`Arena::try_new`] returns an error).
pub fn strassen_scratch_bytes(m: usize, k: usize, n: usize, x: Crossover, beta: f64) -> usize {
    let mut elems = scratch_len(m, k, n, x);
    let mut slack = 64;
    if beta != 0.0 && x.levels(m, k, n) > 0 {
        elems = elems.saturating_add(m.saturating_mul(n));
        slack += 64;
    }
    elems.saturating_mul(size_of::<f64>()).saturating_add(slack)
}

/// `C = alpha * A * B + beta * C` by Strassen-Winograd down to `crossover`, then classical.
///
/// Temporaries come from `arena` (size it with [`strassen_scratch_bytes`]; the slices stay
/// allocated until the caller resets the arena). No heap allocation after
/// [`warm_up_thread`](super::warm_up_thread). Any shapes; `beta == 0` means `C` is not read.
///
/// Accuracy: Strassen's error bound is norm-wise, not element-wise: about
/// `c * 18^levels * k * eps * max|A| * max|B|` per element in the worst case, larger than
/// classical GEMM's `k * eps * (|A||B|)_ij` (see the crate README for measured figures).
///
/// # Errors
/// [`DenseError::ShapeMismatch`] for inconsistent shapes, [`DenseError::Arena`] if the arena
/// cannot hold the scratch. `C` is untouched on error.
///
/// ```
/// use faer::Mat;
/// use zerotick_kernels::dense::{Crossover, strassen_into, strassen_scratch_bytes};
/// use zerotick_mem::Arena;
///
/// let a = Mat::<f64>::from_fn(33, 20, |i, j| (i + j) as f64);
/// let b = Mat::<f64>::from_fn(20, 17, |i, j| i as f64 - j as f64);
/// let mut c = Mat::<f64>::zeros(33, 17);
/// let x = Crossover::new(8);
/// let arena = Arena::new(strassen_scratch_bytes(33, 20, 17, x, 0.0));
/// strassen_into(c.as_mut(), a.as_ref(), b.as_ref(), 1.0, 0.0, x, &arena)?;
/// let want = &a * &b;
/// assert!((&c - &want).norm_max() < 1e-9);
/// # Ok::<(), zerotick_kernels::dense::DenseError>(())
/// ```
pub fn strassen_into(
    c: MatMut<'_, f64>,
    a: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
    alpha: f64,
    beta: f64,
    crossover: Crossover,
    arena: &Arena,
) -> Result<(), DenseError> {
    check_product(c.shape(), a.shape(), b.shape())?;
    let (m, n, k) = (a.nrows(), b.ncols(), a.ncols());
    if crossover.levels(m, k, n) == 0 {
        gemm_unchecked_shapes(c, a, b, alpha, beta, Par::Seq);
        return Ok(());
    }
    let scratch = arena.try_alloc_fill(scratch_len(m, k, n, crossover), 0.0f64)?;
    if beta == 0.0 {
        winograd(Kernels::active(), c, a, b, alpha, crossover, scratch);
    } else {
        let tmp = arena.try_alloc_fill(m * n, 0.0f64)?;
        let mut t = MatMut::from_row_major_slice_mut(tmp, m, n);
        winograd(
            Kernels::active(),
            t.rb_mut(),
            a,
            b,
            alpha,
            crossover,
            scratch,
        );
        map_scalar(c, t.rb(), |c, t| *c = beta * *c + t);
    }
    Ok(())
}

/// Classical or Strassen by `crossover`: `C = alpha * A * B + beta * C`.
///
/// # Errors
/// As [`strassen_into`].
pub fn gemm_auto(
    c: MatMut<'_, f64>,
    a: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
    alpha: f64,
    beta: f64,
    crossover: Crossover,
    arena: &Arena,
) -> Result<GemmPath, DenseError> {
    check_product(c.shape(), a.shape(), b.shape())?;
    let levels = crossover.levels(a.nrows(), a.ncols(), b.ncols());
    strassen_into(c, a, b, alpha, beta, crossover, arena)?;
    Ok(if levels == 0 {
        GemmPath::Classical
    } else {
        GemmPath::Strassen { levels }
    })
}

/// `C = alpha * A * B` (overwrites `C`); shapes checked by the caller; `scratch` holds at
/// least `scratch_len(m, k, n, x)` elements.
fn winograd(
    k: Kernels,
    mut c: MatMut<'_, f64>,
    a: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
    alpha: f64,
    x: Crossover,
    scratch: &mut [f64],
) {
    let (m, kd, n) = (a.nrows(), a.ncols(), b.ncols());
    if m.min(kd).min(n) < x.min_dim {
        gemm_unchecked_shapes(c, a, b, alpha, 0.0, Par::Seq);
        return;
    }
    let (m2, k2, n2) = (m / 2, kd / 2, n / 2);
    let (me, ke, ne) = (2 * m2, 2 * k2, 2 * n2);
    let c_col_major = is_col_major(c.rb());
    {
        let (xs, rest) = scratch.split_at_mut(m2 * k2.max(n2));
        let (ys, rest) = rest.split_at_mut(k2 * n2);
        let a = a.get(..me, ..ke);
        let b = b.get(..ke, ..ne);
        let (a11, a12, a21, a22) = a.split_at(m2, k2);
        let (b11, b12, b21, b22) = b.split_at(k2, n2);
        let (mut c11, mut c12, mut c21, mut c22) =
            c.rb_mut().get_mut(..me, ..ne).split_at_mut(m2, n2);
        let mut s = temp(&mut xs[..m2 * k2], m2, k2, is_col_major(a));
        let mut t = temp(&mut *ys, k2, n2, is_col_major(b));
        // 1-3: S3 = A11 - A21, T3 = B22 - B12, C21 = P7 = S3 T3.
        map3(k, s.rb_mut(), a11, a21, Op::Sub);
        map3(k, t.rb_mut(), b22, b12, Op::Sub);
        winograd(k, c21.rb_mut(), s.rb(), t.rb(), alpha, x, rest);
        // 4-6: S1 = A21 + A22, T1 = B12 - B11, C22 = P5 = S1 T1.
        map3(k, s.rb_mut(), a21, a22, Op::Add);
        map3(k, t.rb_mut(), b12, b11, Op::Sub);
        winograd(k, c22.rb_mut(), s.rb(), t.rb(), alpha, x, rest);
        // 7-9: S2 = S1 - A11, T2 = B22 - T1, C11 = P6 = S2 T2.
        map2(k, s.rb_mut(), a11, Op::Sub);
        map2(k, t.rb_mut(), b22, Op::SubFrom);
        winograd(k, c11.rb_mut(), s.rb(), t.rb(), alpha, x, rest);
        // 10-11: S4 = A12 - S2, C12 = P3 = S4 B22.
        map2(k, s.rb_mut(), a12, Op::SubFrom);
        winograd(k, c12.rb_mut(), s.rb(), b22, alpha, x, rest);
        // 12: X = P1 = A11 B11.
        let mut p1 = temp(&mut xs[..m2 * n2], m2, n2, c_col_major);
        winograd(k, p1.rb_mut(), a11, b11, alpha, x, rest);
        // 13-17 in one pass: U2 = P1 + P6 (C11), U3 = U2 + P7 (C21), U4 = U2 + P5 (C11),
        // U7 = U3 + P5 (C22), U5 = U4 + P3 (C12).
        combine(
            k,
            [c11.rb_mut(), c12.rb_mut(), c21.rb_mut(), c22.rb_mut()],
            p1.rb(),
        );
        // 18-20: T4 = T2 - B21, C11 = P4 = A22 T4, U6 = U3 - P4 (C21).
        map2(k, t.rb_mut(), b21, Op::Sub);
        winograd(k, c11.rb_mut(), a22, t.rb(), alpha, x, rest);
        map2(k, c21.rb_mut(), c11.rb(), Op::Sub);
        // 21-22: C11 = P2 = A12 B21, U1 = P1 + P2 (C11).
        winograd(k, c11.rb_mut(), a12, b21, alpha, x, rest);
        map2(k, c11.rb_mut(), p1.rb(), Op::Add);
    }
    // Peeling: the odd inner index, last column, last row.
    if ke < kd {
        gemm_unchecked_shapes(
            c.rb_mut().get_mut(..me, ..ne),
            a.get(..me, ke..),
            b.get(ke.., ..ne),
            alpha,
            1.0,
            Par::Seq,
        );
    }
    if ne < n {
        gemm_unchecked_shapes(
            c.rb_mut().get_mut(..me, ne..),
            a.get(..me, ..),
            b.get(.., ne..),
            alpha,
            0.0,
            Par::Seq,
        );
    }
    if me < m {
        gemm_unchecked_shapes(
            c.rb_mut().get_mut(me.., ..),
            a.get(me.., ..),
            b,
            alpha,
            0.0,
            Par::Seq,
        );
    }
}

/// Whether `m` is laid out column by column (faer's native layout) rather than row by row.
fn is_col_major(m: MatRef<'_, f64>) -> bool {
    m.row_stride().unsigned_abs() <= m.col_stride().unsigned_abs()
}

/// A `rows x cols` temporary over `buf`, laid out like the operand it stands for: faer's
/// kernels and the element-wise passes run measurably slower (10 ms instead of 7 ms for a
/// 512^3 product here) when a temporary's layout differs from the other operands'.
fn temp(buf: &mut [f64], rows: usize, cols: usize, col_major: bool) -> MatMut<'_, f64> {
    if col_major {
        MatMut::from_column_major_slice_mut(buf, rows, cols)
    } else {
        MatMut::from_row_major_slice_mut(buf, rows, cols)
    }
}

/// `f(d, x)` for every element pair, walking memory in order. faer's `zip!` walks column by
/// column; on row-major views (the layout of the quadrants here) that strides through memory
/// and measured 10x slower, so row-major operands are transposed first (element-wise maps do
/// not care about orientation). Baseline code, for the one pass per product outside the
/// recursion (`beta != 0`).
fn map_scalar(dst: MatMut<'_, f64>, x: MatRef<'_, f64>, f: impl Fn(&mut f64, f64)) {
    let (mut dst, mut x) = (dst, x);
    if dst.col_stride() == 1 && dst.row_stride() != 1 {
        dst = dst.transpose_mut();
        x = x.transpose();
    }
    for j in 0..dst.ncols() {
        let mut d = dst.rb_mut().col_mut(j);
        let xc = x.col(j);
        if let (Some(d), Some(xs)) = (d.rb_mut().try_as_col_major_mut(), xc.try_as_col_major()) {
            for (d, &x) in d.as_slice_mut().iter_mut().zip(xs.as_slice()) {
                f(d, x);
            }
        } else {
            for i in 0..d.nrows() {
                f(&mut d[i], xc[i]);
            }
        }
    }
}

/// The element-wise operations of the schedule, `op(a, b)`: `a + b`, `a - b`, `b - a`. The
/// operand sums take `d = op(x, y)` ([`map3`], `Add` and `Sub`), the in-place updates
/// `d = op(d, x)` ([`map2`]).
#[derive(Clone, Copy, Debug)]
enum Op {
    Add,
    Sub,
    SubFrom,
}

impl Op {
    #[inline(always)]
    fn apply(self, a: f64, b: f64) -> f64 {
        match self {
            Op::Add => a + b,
            Op::Sub => a - b,
            Op::SubFrom => b - a,
        }
    }
}

multiversion! {
    fn op2_slices(d: &mut [f64], x: &[f64], op: Op) -> () {
        // One loop per operation, so each vectorises on the tier's registers (the
        // operands of the deepest level are L3-resident, where width counts).
        match op {
            Op::Add => d.iter_mut().zip(x).for_each(|(d, &x)| *d = Op::Add.apply(*d, x)),
            Op::Sub => d.iter_mut().zip(x).for_each(|(d, &x)| *d = Op::Sub.apply(*d, x)),
            Op::SubFrom => {
                d.iter_mut().zip(x).for_each(|(d, &x)| *d = Op::SubFrom.apply(*d, x));
            }
        }
    }
}

multiversion! {
    fn op3_slices(d: &mut [f64], x: &[f64], y: &[f64], op: Op) -> () {
        let (x, y) = (&x[..d.len()], &y[..d.len()]);
        let pairs = d.iter_mut().zip(x.iter().zip(y));
        // One loop per operation, as in `op2_slices`.
        match op {
            Op::Add => pairs.for_each(|(d, (&x, &y))| *d = Op::Add.apply(x, y)),
            Op::Sub => pairs.for_each(|(d, (&x, &y))| *d = Op::Sub.apply(x, y)),
            Op::SubFrom => pairs.for_each(|(d, (&x, &y))| *d = Op::SubFrom.apply(x, y)),
        }
    }
}

/// `d = op(d, x)` element-wise, on `k`'s tier where columns are contiguous; see
/// [`map_scalar`] for the walk order.
fn map2(k: Kernels, dst: MatMut<'_, f64>, x: MatRef<'_, f64>, op: Op) {
    let (mut dst, mut x) = (dst, x);
    if dst.col_stride() == 1 && dst.row_stride() != 1 {
        dst = dst.transpose_mut();
        x = x.transpose();
    }
    for j in 0..dst.ncols() {
        let mut d = dst.rb_mut().col_mut(j);
        let xc = x.col(j);
        if let (Some(d), Some(xs)) = (d.rb_mut().try_as_col_major_mut(), xc.try_as_col_major()) {
            op2_slices(k, d.as_slice_mut(), xs.as_slice(), op);
        } else {
            for i in 0..d.nrows() {
                d[i] = op.apply(d[i], xc[i]);
            }
        }
    }
}

/// `d = op(x, y)` element-wise; see [`map2`].
fn map3(k: Kernels, dst: MatMut<'_, f64>, x: MatRef<'_, f64>, y: MatRef<'_, f64>, op: Op) {
    let (mut dst, mut x, mut y) = (dst, x, y);
    if dst.col_stride() == 1 && dst.row_stride() != 1 {
        dst = dst.transpose_mut();
        x = x.transpose();
        y = y.transpose();
    }
    for j in 0..dst.ncols() {
        let mut d = dst.rb_mut().col_mut(j);
        let (xc, yc) = (x.col(j), y.col(j));
        if let (Some(d), Some(xs), Some(ys)) = (
            d.rb_mut().try_as_col_major_mut(),
            xc.try_as_col_major(),
            yc.try_as_col_major(),
        ) {
            op3_slices(k, d.as_slice_mut(), xs.as_slice(), ys.as_slice(), op);
        } else {
            for i in 0..d.nrows() {
                d[i] = op.apply(xc[i], yc[i]);
            }
        }
    }
}

/// Steps 13-17 of the schedule for one element: from `C11 = P6`, `C12 = P3`, `C21 = P7`,
/// `C22 = P5` and `P1`, returns the new `[C11, C12, C21, C22]` = `[U4, U5, U3, U7]`. The
/// same additions in the same order as five separate passes, so the same bits.
#[inline(always)]
fn combine_one([c11, c12, c21, c22]: [f64; 4], p1: f64) -> [f64; 4] {
    let u2 = c11 + p1;
    let u3 = c21 + u2;
    let u4 = u2 + c22;
    let u7 = c22 + u3;
    let u5 = c12 + u4;
    [u4, u5, u3, u7]
}

multiversion! {
    fn combine_slices(
        c11: &mut [f64],
        c12: &mut [f64],
        c21: &mut [f64],
        c22: &mut [f64],
        p1: &[f64],
    ) -> () {
        let n = c11.len();
        let (c12, c21, c22, p1) = (&mut c12[..n], &mut c21[..n], &mut c22[..n], &p1[..n]);
        for i in 0..n {
            [c11[i], c12[i], c21[i], c22[i]] = combine_one([c11[i], c12[i], c21[i], c22[i]], p1[i]);
        }
    }
}

/// Steps 13-17 in one pass over the four quadrants of `C` and `P1` (same shapes): reads five
/// and writes four matrices once, where five separate passes read ten and wrote five.
fn combine(k: Kernels, c: [MatMut<'_, f64>; 4], p1: MatRef<'_, f64>) {
    let [mut c11, mut c12, mut c21, mut c22] = c;
    let mut p1 = p1;
    // The quadrants share `C`'s layout and `P1` is laid out like `C` (see `temp`).
    if c11.col_stride() == 1 && c11.row_stride() != 1 {
        c11 = c11.transpose_mut();
        c12 = c12.transpose_mut();
        c21 = c21.transpose_mut();
        c22 = c22.transpose_mut();
        p1 = p1.transpose();
    }
    for j in 0..c11.ncols() {
        let (mut d11, mut d12, mut d21, mut d22) = (
            c11.rb_mut().col_mut(j),
            c12.rb_mut().col_mut(j),
            c21.rb_mut().col_mut(j),
            c22.rb_mut().col_mut(j),
        );
        let pc = p1.col(j);
        if let (Some(s11), Some(s12), Some(s21), Some(s22), Some(ps)) = (
            d11.rb_mut().try_as_col_major_mut(),
            d12.rb_mut().try_as_col_major_mut(),
            d21.rb_mut().try_as_col_major_mut(),
            d22.rb_mut().try_as_col_major_mut(),
            pc.try_as_col_major(),
        ) {
            combine_slices(
                k,
                s11.as_slice_mut(),
                s12.as_slice_mut(),
                s21.as_slice_mut(),
                s22.as_slice_mut(),
                ps.as_slice(),
            );
        } else {
            for i in 0..d11.nrows() {
                [d11[i], d12[i], d21[i], d22[i]] =
                    combine_one([d11[i], d12[i], d21[i], d22[i]], pc[i]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_scratch() {
        let x = Crossover::new(64);
        assert_eq!(x.levels(63, 100, 100), 0);
        assert_eq!(x.levels(64, 100, 100), 1);
        assert_eq!(x.levels(256, 256, 256), 3);
        assert_eq!(Crossover::NEVER.levels(1 << 20, 1 << 20, 1 << 20), 0);
        assert_eq!(scratch_len(64, 64, 64, x), 32 * 32 * 2);
        assert_eq!(Crossover::new(0).min_dim(), MIN_SPLIT_DIM);
    }

    #[test]
    fn scratch_of_impossible_shapes_saturates_and_no_arena_holds_it() {
        let x = Crossover::new(64);
        for (m, k, n) in [
            (usize::MAX, usize::MAX, usize::MAX),
            (1 << 40, 1 << 40, 1 << 40),
        ] {
            for beta in [0.0, 1.0] {
                let bytes = strassen_scratch_bytes(m, k, n, x, beta);
                assert_eq!(bytes, usize::MAX);
                assert!(Arena::try_new(bytes).is_err());
            }
        }
        assert_eq!(
            strassen_scratch_bytes(64, 64, 64, x, 0.0),
            32 * 32 * 2 * 8 + 64
        );
    }
}

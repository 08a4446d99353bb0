//! Group `fft`: full real convolution of a signal with a kernel, single thread.
//!
//! Cases `conv_NxM`: signal of N values, kernel of M values, mode full; one op = one
//! convolution into an output buffer.
//! - `zerotick`: `FftConvolver::convolve_into` with the automatic choice (direct, FFT or
//!   overlap-add, from the cost model calibrated at start-up), plans and scratch already made:
//!   the steady-state call.
//! - `realfft-planned`: the best a user would write with realfft ([`Planned`]): planner, plans,
//!   buffers and scratch made once (`process_with_scratch`, no allocation per call); FFT
//!   lengths of the form `2^a 3^b 5^c` (`next_fast_len`), one FFT or overlap-add, the block
//!   length tuned by timing the candidates once at set-up ([`Planned::tuned`], as a user
//!   tuning for one machine would). The kernel's spectrum is computed in every call, as
//!   zerotick does (the op is `convolve(a, b)`).
//! - `realfft-plain` (the naive use, labelled as such): pad both inputs to the next power of
//!   two `>= N + M - 1`, realfft forward both, multiply, inverse, scale. Plans are made once
//!   outside the timed loop; five buffers and realfft's scratch are allocated per call.
//!
//! Notes under the table: the method zerotick chose per case, the calibrated cost model, and
//! one FFT convolution at `2^20 x 1024` padded to a fast `2^a 3^b 5^c` length against one
//! padded to a power of two.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use super::GroupResult;
use crate::harness::{Harness, Impl};
use zerotick_kernels::fft::realfft;
use zerotick_kernels::fft::realfft::num_complex::Complex;
use zerotick_kernels::fft::realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use zerotick_kernels::fft::{Choice, FftConvolver, Mode, Padding, next_fast_len};

/// The contract's cases: name, signal length, kernel length.
const CASES: [(&str, usize, usize); 4] = [
    ("conv_65536x64", 65_536, 64),
    ("conv_65536x1024", 65_536, 1024),
    ("conv_1048576x64", 1_048_576, 64),
    ("conv_1048576x1024", 1_048_576, 1024),
];

/// Runs the four `conv_*` cases.
///
/// # Errors
/// If zerotick's result disagrees with a peer's (a bug), or a convolution refuses its (valid)
/// input.
pub fn run(h: &mut Harness) -> GroupResult {
    let mut conv = FftConvolver::new();
    let cost = conv.cost_model();
    let mut rows = Vec::new();
    let mut chosen = Vec::new();
    let mut planner = RealFftPlanner::<f64>::new();
    for (case, n, m) in CASES {
        let a = input(n, 1);
        let b = input(m, 2);
        let len = n + m - 1;
        let choice = conv.plan(n, m, Mode::Full);
        let mut out = vec![0.0; len];
        conv.convolve_into(&a, &b, Mode::Full, &mut out)?;
        let plain = Plain::new(&mut planner, len);
        let mut planned = Planned::tuned(&mut planner, &a, &b)?;
        let mut out_planned = vec![0.0; len];
        planned.convolve_into(&a, &b, &mut out_planned)?;
        for (peer, want) in [
            ("realfft-plain", plain.convolve(&a, &b)?),
            ("realfft-planned", out_planned.clone()),
        ] {
            let err = max_abs_diff(&out, &want);
            if err > 1e-9 {
                return Err(format!("{case}: zerotick and {peer} differ by {err:e}").into());
            }
        }
        chosen.push(format!(
            "{case}: zerotick {choice}, realfft-planned {}",
            planned.describe()
        ));
        let (conv_ref, out_ref) = (&mut conv, &mut out);
        rows.extend(h.case(
            case,
            vec![
                Impl::per_op("zerotick", || {
                    if conv_ref.convolve_into(&a, &b, Mode::Full, out_ref).is_err() {
                        unreachable!("sizes checked above");
                    }
                    black_box(&mut *out_ref);
                }),
                Impl::per_op("realfft-planned", || {
                    if planned.convolve_into(&a, &b, &mut out_planned).is_err() {
                        unreachable!("sizes checked above");
                    }
                    black_box(&mut out_planned);
                }),
                Impl::per_op("realfft-plain", || {
                    black_box(plain.convolve(&a, &b).ok());
                }),
            ],
        ));
    }
    h.note(format!("methods: {}", chosen.join("; ")));
    h.note(format!(
        "cost model (calibrated at start-up): {:.4} ns per direct multiply-add, {:.3} / {:.3} ns \
         per FFT point*log2 at 2^9 / 2^17",
        cost.direct_ns_per_madd, cost.fft_ns_small, cost.fft_ns_large
    ));
    padding_note(h, &mut conv)?;
    Ok(rows)
}

/// One FFT convolution at `2^20 x 1024`, fast padding against power-of-two padding (median of
/// 7 steady-state calls each).
fn padding_note(
    h: &mut Harness,
    conv: &mut FftConvolver,
) -> Result<(), Box<dyn std::error::Error>> {
    let (n, m) = (1 << 20, 1024);
    let (a, b) = (input(n, 3), input(m, 4));
    let mut out = vec![0.0; n + m - 1];
    let mut time = |c: Choice| -> Result<f64, Box<dyn std::error::Error>> {
        conv.convolve_with_into(c, &a, &b, Mode::Full, &mut out)?;
        let mut t: Vec<f64> = (0..7)
            .map(|_| {
                let s = Instant::now();
                let r = conv.convolve_with_into(c, &a, &b, Mode::Full, &mut out);
                black_box((&r, &out));
                s.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        t.sort_by(f64::total_cmp);
        Ok(t[t.len() / 2])
    };
    let fast = Choice::fft(n, m, Padding::Fast);
    let pow2 = Choice::fft(n, m, Padding::PowerOfTwo);
    let (tf, tp) = (time(fast)?, time(pow2)?);
    h.note(format!(
        "one FFT convolution at 2^20 x 1024 (not overlap-add): fast length {} {tf:.2} ms, \
         power of two {} {tp:.2} ms ({:.2}x)",
        fast.fft_len(),
        pow2.fft_len(),
        tp / tf
    ));
    Ok(())
}

/// Deterministic values in [-1, 1).
fn input(len: usize, seed: u64) -> Vec<f64> {
    crate::data::uniform(len, seed, -1.0, 1.0)
}

fn max_abs_diff(x: &[f64], y: &[f64]) -> f64 {
    x.iter()
        .zip(y)
        .map(|(p, q)| (p - q).abs())
        .fold(0.0, f64::max)
}

/// The `realfft-planned` peer: full convolution of a signal of `n` values with a kernel of `m`
/// values, the best a user would write with realfft. Plans, buffers and scratch are made in
/// [`Planned::new`]; [`Planned::convolve_into`] allocates nothing.
///
/// The signal is cut into blocks of `block` values; each block is transformed at the fast
/// length `fft_len >= block + m - 1`, multiplied by the kernel's spectrum, transformed back and
/// added into the output (overlap-add). One block covering the whole signal is the plain
/// single-FFT convolution.
pub struct Planned {
    n: usize,
    m: usize,
    fft_len: usize,
    block: usize,
    fwd: Arc<dyn RealToComplex<f64>>,
    inv: Arc<dyn ComplexToReal<f64>>,
    /// Real buffer of `fft_len` values (input of the forward, output of the inverse transform).
    real: Vec<f64>,
    /// The current block's spectrum, `fft_len / 2 + 1` values.
    spec: Vec<Complex<f64>>,
    /// The kernel's spectrum, scaled by `1 / fft_len`.
    kernel: Vec<Complex<f64>>,
    scratch: Vec<Complex<f64>>,
}

impl Planned {
    /// Plans for `n x m` (both `>= 1`), with the block length that minimises the estimated
    /// operation count (see [`Planned::choose`]).
    pub fn new(planner: &mut RealFftPlanner<f64>, n: usize, m: usize) -> Self {
        let (fft_len, block) = Self::choose(n, m);
        Self::with_blocks(planner, n, m, fft_len, block)
    }

    /// Plans for `n x m` cut into blocks of `block` signal values, transforms of `fft_len`.
    ///
    /// # Panics
    /// If `fft_len < block + m - 1` (the blocks' products would wrap around) or a length is 0.
    #[track_caller]
    pub fn with_blocks(
        planner: &mut RealFftPlanner<f64>,
        n: usize,
        m: usize,
        fft_len: usize,
        block: usize,
    ) -> Self {
        assert!(n > 0 && m > 0 && block > 0, "empty input or block");
        assert!(
            fft_len >= block + m - 1,
            "fft_len {fft_len} < block + m - 1"
        );
        let fwd = planner.plan_fft_forward(fft_len);
        let inv = planner.plan_fft_inverse(fft_len);
        let scratch_len = fwd.get_scratch_len().max(inv.get_scratch_len());
        Self {
            n,
            m,
            fft_len,
            block: block.min(n),
            real: fwd.make_input_vec(),
            spec: fwd.make_output_vec(),
            kernel: fwd.make_output_vec(),
            scratch: vec![Complex::default(); scratch_len],
            fwd,
            inv,
        }
    }

    /// `(fft_len, block)` minimising the estimated cost `transforms * L log2 L`: one transform
    /// of the fast length `>= n + m - 1` for each input and one inverse, or for overlap-add at a
    /// fast length `L >= 2m`, the kernel's transform plus a forward and an inverse per block of
    /// `L - m + 1` values.
    pub fn choose(n: usize, m: usize) -> (usize, usize) {
        let cost = |l: usize, transforms: usize| transforms as f64 * l as f64 * (l as f64).log2();
        let single = next_fast_len(n + m - 1);
        let mut best = (cost(single, 3), single, n);
        let mut l = next_fast_len(2 * m);
        while l < single {
            let block = l - m + 1;
            let c = cost(l, 1 + 2 * n.div_ceil(block));
            if c < best.0 {
                best = (c, l, block);
            }
            l = next_fast_len(l + 1);
        }
        (best.1, best.2)
    }

    /// Plans for `a * b`, trying one FFT at the fast length, overlap-add at the length
    /// [`Planned::choose`] estimates best, and overlap-add at every power of two from `2m` to
    /// `64m`; keeps the fastest (each timed as the best of 3 calls after one warm-up call).
    ///
    /// # Errors
    /// If `a` or `b` is empty (realfft's length error).
    pub fn tuned(
        planner: &mut RealFftPlanner<f64>,
        a: &[f64],
        b: &[f64],
    ) -> Result<Self, realfft::FftError> {
        let (n, m) = (a.len(), b.len());
        if n == 0 || m == 0 {
            return Err(realfft::FftError::InputBuffer(1, 0));
        }
        let single = next_fast_len(n + m - 1);
        let mut candidates = vec![(single, n), Self::choose(n, m)];
        let mut l = (2 * m).next_power_of_two();
        while l < single && l <= 64 * m {
            candidates.push((l, l - m + 1));
            l *= 2;
        }
        candidates.dedup();
        let mut out = vec![0.0; n + m - 1];
        let mut best: Option<(f64, Self)> = None;
        for (fft_len, block) in candidates {
            let mut p = Self::with_blocks(planner, n, m, fft_len, block);
            p.convolve_into(a, b, &mut out)?;
            let mut t = f64::INFINITY;
            for _ in 0..3 {
                let start = Instant::now();
                p.convolve_into(a, b, &mut out)?;
                t = t.min(start.elapsed().as_secs_f64());
            }
            if best.as_ref().is_none_or(|(bt, _)| t < *bt) {
                best = Some((t, p));
            }
        }
        best.map(|(_, p)| p)
            .ok_or(realfft::FftError::InputBuffer(1, 0))
    }

    /// What was chosen, for the report: `one FFT, L = ..` or `overlap-add, L = .., block ..`.
    pub fn describe(&self) -> String {
        if self.block >= self.n {
            format!("one FFT, L = {}", self.fft_len)
        } else {
            format!("overlap-add, L = {}, block {}", self.fft_len, self.block)
        }
    }

    /// `out = a * b` (full mode, `out.len() == n + m - 1`), without allocating.
    ///
    /// # Errors
    /// If `a`, `b` or `out` has another length than planned (realfft's length error).
    pub fn convolve_into(
        &mut self,
        a: &[f64],
        b: &[f64],
        out: &mut [f64],
    ) -> Result<(), realfft::FftError> {
        let (n, m) = (self.n, self.m);
        if a.len() != n || b.len() != m || out.len() != n + m - 1 {
            return Err(realfft::FftError::InputBuffer(n + m - 1, out.len()));
        }
        load(&mut self.real, b);
        self.fwd
            .process_with_scratch(&mut self.real, &mut self.kernel, &mut self.scratch)?;
        let scale = 1.0 / self.fft_len as f64;
        for k in &mut self.kernel {
            *k *= scale;
        }
        out.fill(0.0);
        for (start, piece) in (0..n).step_by(self.block).zip(a.chunks(self.block)) {
            load(&mut self.real, piece);
            self.fwd
                .process_with_scratch(&mut self.real, &mut self.spec, &mut self.scratch)?;
            for (x, k) in self.spec.iter_mut().zip(&self.kernel) {
                *x *= *k;
            }
            self.inv
                .process_with_scratch(&mut self.spec, &mut self.real, &mut self.scratch)?;
            let valid = piece.len() + m - 1;
            for (o, v) in out[start..start + valid].iter_mut().zip(&self.real) {
                *o += v;
            }
        }
        Ok(())
    }
}

/// `buf = values` followed by zeros.
fn load(buf: &mut [f64], values: &[f64]) {
    let (head, tail) = buf.split_at_mut(values.len());
    head.copy_from_slice(values);
    tail.fill(0.0);
}

/// The plain user's FFT convolution (`realfft-plain`, the naive use): plans made once, buffers
/// allocated per call, power-of-two length.
pub struct Plain {
    len: usize,
    fwd: Arc<dyn RealToComplex<f64>>,
    inv: Arc<dyn ComplexToReal<f64>>,
}

impl Plain {
    /// Plans for a full convolution of `len = n + m - 1` values.
    pub fn new(planner: &mut RealFftPlanner<f64>, len: usize) -> Self {
        let l = len.next_power_of_two();
        Self {
            len,
            fwd: planner.plan_fft_forward(l),
            inv: planner.plan_fft_inverse(l),
        }
    }

    /// `a * b` (full mode) in a new vector.
    ///
    /// # Errors
    /// If `a.len() + b.len() - 1` is not the planned length (realfft's length error).
    pub fn convolve(&self, a: &[f64], b: &[f64]) -> Result<Vec<f64>, realfft::FftError> {
        let l = self.len.next_power_of_two();
        let mut ra = vec![0.0; l];
        ra[..a.len()].copy_from_slice(a);
        let mut rb = vec![0.0; l];
        rb[..b.len()].copy_from_slice(b);
        let mut sa: Vec<Complex<f64>> = self.fwd.make_output_vec();
        let mut sb: Vec<Complex<f64>> = self.fwd.make_output_vec();
        self.fwd.process(&mut ra, &mut sa)?;
        self.fwd.process(&mut rb, &mut sb)?;
        for (x, y) in sa.iter_mut().zip(&sb) {
            *x *= *y;
        }
        let mut out = self.inv.make_output_vec();
        self.inv.process(&mut sa, &mut out)?;
        out.truncate(self.len);
        let scale = 1.0 / l as f64;
        for v in &mut out {
            *v *= scale;
        }
        Ok(out)
    }
}

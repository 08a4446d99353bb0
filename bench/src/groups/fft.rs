//! Group `fft`: full real convolution of a signal with a kernel, single thread.
//!
//! Cases `conv_NxM`: signal of N values, kernel of M values, mode full; one op = one
//! convolution into an output buffer.
//! - `zerotick`: `FftConvolver::convolve_into` with the automatic choice (direct, FFT or
//!   overlap-add, from the cost model calibrated at start-up), plans and scratch already made:
//!   the steady-state call.
//! - `realfft-plain`: what a plain user writes: pad both inputs to the next power of two
//!   `>= N + M - 1`, realfft forward both, multiply, inverse, scale. Plans are made once outside
//!   the timed loop; buffers are allocated per call.
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
use zerotick_kernels::fft::{Choice, FftConvolver, Mode, Padding};

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
/// If zerotick's result disagrees with the plain FFT's (a bug), or a convolution refuses its
/// (valid) input.
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
        let want = plain.convolve(&a, &b)?;
        let err = out
            .iter()
            .zip(&want)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max);
        if err > 1e-9 {
            return Err(format!("{case}: zerotick and realfft-plain differ by {err:e}").into());
        }
        chosen.push(format!("{case}: {choice}"));
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
                Impl::per_op("realfft-plain", || {
                    black_box(plain.convolve(&a, &b).ok());
                }),
            ],
        ));
    }
    h.note(format!("zerotick chose: {}", chosen.join("; ")));
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

/// The plain user's FFT convolution: plans made once, buffers allocated per call.
struct Plain {
    len: usize,
    fwd: Arc<dyn RealToComplex<f64>>,
    inv: Arc<dyn ComplexToReal<f64>>,
}

impl Plain {
    fn new(planner: &mut RealFftPlanner<f64>, len: usize) -> Self {
        let l = len.next_power_of_two();
        Self {
            len,
            fwd: planner.plan_fft_forward(l),
            inv: planner.plan_fft_inverse(l),
        }
    }

    fn convolve(&self, a: &[f64], b: &[f64]) -> Result<Vec<f64>, realfft::FftError> {
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

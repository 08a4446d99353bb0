//! [`FftConvolver`]: cached plans, pre-sized scratch, and the three methods.

use core::fmt;
use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

use super::cost::{CostModel, Padding};
use super::{Choice, ConvError, Method, Mode, long_short, output_len};
use crate::simd::Kernels;

/// Forward and inverse real transforms of one length.
struct Plan {
    len: usize,
    fwd: Arc<dyn RealToComplex<f64>>,
    inv: Arc<dyn ComplexToReal<f64>>,
}

/// Sizes whose choice is remembered (a small ring: no allocation after the first calls).
const CHOICE_CACHE: usize = 16;

/// Convolves real signals by the cheapest of direct sums, one FFT, or overlap-add, with FFT
/// plans and scratch kept between calls.
///
/// The first call for given sizes plans the transform (rustfft's planning at `2^20` costs more
/// than a convolution) and grows the scratch buffers; later calls for sizes already seen
/// allocate nothing. [`plan`](Self::plan) does that work ahead of time. One convolver per
/// thread: calls take `&mut self` (it is `Send` and `Sync`).
///
/// ```
/// use zerotick_kernels::fft::{FftConvolver, Method, Mode};
///
/// let mut conv = FftConvolver::new();
/// let signal: Vec<f64> = (0..100_000).map(|i| (i as f64 * 0.01).sin()).collect();
/// let kernel = vec![1.0 / 2048.0; 2048]; // a moving average
/// let choice = conv.plan(signal.len(), kernel.len(), Mode::Valid); // plans and sizes scratch
/// assert_ne!(choice.method(), Method::Direct); // 2e8 multiply-adds: FFTs win
/// let mut out = vec![0.0; 100_000 - 2048 + 1];
/// conv.convolve_into(&signal, &kernel, Mode::Valid, &mut out)?; // allocation-free
/// let direct: f64 = signal[..2048].iter().sum::<f64>() / 2048.0;
/// assert!((out[0] - direct).abs() < 1e-9);
/// # Ok::<(), zerotick_kernels::fft::ConvError>(())
/// ```
pub struct FftConvolver {
    planner: RealFftPlanner<f64>,
    plans: Vec<Plan>,
    kernels: Kernels,
    cost: CostModel,
    /// Remembered `choose` results, at most [`CHOICE_CACHE`]; `next_slot` is the one replaced
    /// next when full.
    choices: Vec<((usize, usize, Mode), Choice)>,
    next_slot: usize,
    /// Real work buffers. Invariant: at least as long as every planned length.
    real_a: Vec<f64>,
    real_b: Vec<f64>,
    /// Spectra. Invariant: at least `len / 2 + 1` for every planned length.
    spec_a: Vec<Complex<f64>>,
    spec_b: Vec<Complex<f64>>,
    /// Invariant: at least every plan's forward and inverse scratch length.
    scratch: Vec<Complex<f64>>,
}

impl fmt::Debug for FftConvolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FftConvolver")
            .field("tier", &self.kernels.tier())
            .field("cost", &self.cost)
            .field(
                "planned_lens",
                &self.plans.iter().map(|p| p.len).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Default for FftConvolver {
    fn default() -> Self {
        Self::new()
    }
}

impl FftConvolver {
    /// A convolver on [`Kernels::active`] with the process-wide calibrated
    /// [`CostModel::cached`] (the first one in a process measures for about 20 ms).
    pub fn new() -> Self {
        Self::with_cost_model(CostModel::cached(), Kernels::active())
    }

    /// A convolver with the given cost model, running the direct kernel on `kernels`' tier.
    pub fn with_cost_model(cost: CostModel, kernels: Kernels) -> Self {
        Self {
            planner: RealFftPlanner::new(),
            plans: Vec::new(),
            kernels,
            cost,
            choices: Vec::with_capacity(CHOICE_CACHE),
            next_slot: 0,
            real_a: Vec::new(),
            real_b: Vec::new(),
            spec_a: Vec::new(),
            spec_b: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// The cost model deciding between methods.
    pub fn cost_model(&self) -> CostModel {
        self.cost
    }

    /// The kernels (tier) the direct method runs on.
    pub fn kernels(&self) -> Kernels {
        self.kernels
    }

    /// The method [`convolve_into`](Self::convolve_into) uses for these sizes (pure: no
    /// planning, no caching).
    pub fn choose(&self, len_a: usize, len_b: usize, mode: Mode) -> Choice {
        self.cost.choose(len_a, len_b, mode)
    }

    /// Chooses the method for these sizes, plans its transforms and sizes the scratch, so the
    /// next calls with these sizes allocate nothing. Returns the choice.
    pub fn plan(&mut self, len_a: usize, len_b: usize, mode: Mode) -> Choice {
        let choice = self.cached_choice(len_a, len_b, mode);
        self.prepare(choice.fft_len());
        choice
    }

    /// Convolves `a` and `b` in `mode` into `out` by the cheapest method, and says which.
    ///
    /// # Errors
    /// [`ConvError::EmptyInput`] if an input is empty, [`ConvError::OutputLength`] unless
    /// `out.len() == output_len(mode, a.len(), b.len())`.
    pub fn convolve_into(
        &mut self,
        a: &[f64],
        b: &[f64],
        mode: Mode,
        out: &mut [f64],
    ) -> Result<Choice, ConvError> {
        let choice = self.cached_choice(a.len(), b.len(), mode);
        self.convolve_with_into(choice, a, b, mode, out)?;
        Ok(choice)
    }

    /// Convolves `a` and `b` in `mode` into `out` with a forced `choice` (for tests,
    /// benchmarks, or a choice stored from an earlier run).
    ///
    /// # Errors
    /// As [`convolve_into`](Self::convolve_into), and [`ConvError::ChoiceTooSmall`] if the
    /// choice's transform cannot hold the result.
    pub fn convolve_with_into(
        &mut self,
        choice: Choice,
        a: &[f64],
        b: &[f64],
        mode: Mode,
        out: &mut [f64],
    ) -> Result<(), ConvError> {
        let (x, h) = long_short(a, b)?;
        let (lo, len) = mode.window(x.len(), h.len());
        check_len(len, out.len())?;
        choice.check(x.len(), h.len())?;
        match choice.method() {
            Method::Direct => super::direct::direct_v(self.kernels, x, h, lo, out),
            Method::Fft => self.fft_into(choice.fft_len(), x, h, lo, out),
            Method::OverlapAdd => {
                self.overlap_add_into(choice.fft_len(), choice.block_len(), x, h, lo, out);
            }
        }
        Ok(())
    }

    /// The method [`filter_bank_into`](Self::filter_bank_into) uses: `count` direct or
    /// overlap-add convolutions, or one FFT of the signal shared by `count` kernels
    /// (reported as [`Method::Fft`]), whichever is estimated cheaper.
    pub fn choose_bank(
        &self,
        signal_len: usize,
        kernel_len: usize,
        count: usize,
        mode: Mode,
    ) -> Choice {
        let (n, m) = (signal_len.max(kernel_len), signal_len.min(kernel_len));
        let single = self.cost.choose(n, m, mode);
        if m == 0 || single.method() == Method::Fft {
            return single;
        }
        let k = count as f64;
        let single_ns = k * self.cost.estimate_ns(single, n, m, mode);
        let fft = Choice::fft(n, m, Padding::Fast);
        let l = fft.fft_len();
        // One signal transform, then per kernel a forward, a product and an inverse.
        let bank_ns = (1.0 + 2.0 * k) * self.cost.transform_ns(l);
        if bank_ns < single_ns { fft } else { single }
    }

    /// Convolves `signal` with each of the kernels stored back to back in `kernels` (each
    /// `kernel_len` long), writing row `i` of `out` (`output_len(mode, signal.len(),
    /// kernel_len)` values per row) for kernel `i`. With the FFT method the signal's forward
    /// transform is computed once and reused for every kernel. Returns the choice.
    ///
    /// ```
    /// use zerotick_kernels::fft::{FftConvolver, Mode};
    ///
    /// let mut conv = FftConvolver::new();
    /// let signal = [1.0, 2.0, 3.0];
    /// let bank = [1.0, 0.0, /* second kernel */ 0.0, 1.0];
    /// let mut out = [0.0; 2 * 4];
    /// conv.filter_bank_into(&signal, &bank, 2, Mode::Full, &mut out)?;
    /// assert_eq!(out, [1.0, 2.0, 3.0, 0.0, /* shifted */ 0.0, 1.0, 2.0, 3.0]);
    /// # Ok::<(), zerotick_kernels::fft::ConvError>(())
    /// ```
    ///
    /// # Errors
    /// [`ConvError::EmptyInput`] if `signal` is empty or `kernel_len` is 0,
    /// [`ConvError::BankShape`] if `kernels.len()` is not a multiple of `kernel_len`,
    /// [`ConvError::OutputLength`] unless `out.len()` is the kernel count times the row length.
    pub fn filter_bank_into(
        &mut self,
        signal: &[f64],
        kernels: &[f64],
        kernel_len: usize,
        mode: Mode,
        out: &mut [f64],
    ) -> Result<Choice, ConvError> {
        let count = kernels.len().checked_div(kernel_len).unwrap_or(0);
        let choice = self.choose_bank(signal.len(), kernel_len, count, mode);
        self.filter_bank_with_into(choice, signal, kernels, kernel_len, mode, out)?;
        Ok(choice)
    }

    /// [`filter_bank_into`](Self::filter_bank_into) with a forced `choice`: [`Method::Fft`]
    /// shares the signal's transform; the others run kernel by kernel.
    ///
    /// # Errors
    /// As [`filter_bank_into`](Self::filter_bank_into), and [`ConvError::ChoiceTooSmall`].
    pub fn filter_bank_with_into(
        &mut self,
        choice: Choice,
        signal: &[f64],
        kernels: &[f64],
        kernel_len: usize,
        mode: Mode,
        out: &mut [f64],
    ) -> Result<(), ConvError> {
        if signal.is_empty() || kernel_len == 0 {
            return Err(ConvError::EmptyInput);
        }
        if !kernels.len().is_multiple_of(kernel_len) {
            return Err(ConvError::BankShape {
                len: kernels.len(),
                kernel_len,
            });
        }
        let row = output_len(mode, signal.len(), kernel_len);
        let count = kernels.len() / kernel_len;
        check_len(count * row, out.len())?;
        let (n, m) = (signal.len().max(kernel_len), signal.len().min(kernel_len));
        choice.check(n, m)?;
        if count == 0 {
            return Ok(());
        }
        if choice.method() != Method::Fft {
            for (k, o) in kernels
                .chunks_exact(kernel_len)
                .zip(out.chunks_exact_mut(row))
            {
                self.convolve_with_into(choice, signal, k, mode, o)?;
            }
            return Ok(());
        }
        let l = choice.fft_len();
        let (lo, _) = mode.window(n, m);
        let (fwd, inv) = self.prepare(l);
        let half = l / 2 + 1;
        let scale = 1.0 / l as f64;
        let (ra, sa, sc) = (
            &mut self.real_a[..l],
            &mut self.spec_a[..half],
            &mut self.scratch,
        );
        load(ra, signal);
        forward(&*fwd, ra, sa, sc);
        for (k, o) in kernels
            .chunks_exact(kernel_len)
            .zip(out.chunks_exact_mut(row))
        {
            let (rb, sb) = (&mut self.real_b[..l], &mut self.spec_b[..half]);
            load(rb, k);
            forward(&*fwd, rb, sb, sc);
            multiply_into(sb, sa, scale);
            inverse(&*inv, sb, rb, sc);
            o.copy_from_slice(&rb[lo..lo + row]);
        }
        Ok(())
    }

    /// `choose`, remembered for the last [`CHOICE_CACHE`] sizes.
    fn cached_choice(&mut self, len_a: usize, len_b: usize, mode: Mode) -> Choice {
        let key = (len_a.max(len_b), len_a.min(len_b), mode);
        if let Some((_, c)) = self.choices.iter().find(|(k, _)| *k == key) {
            return *c;
        }
        self.remember(key)
    }

    #[cold]
    #[inline(never)]
    fn remember(&mut self, key: (usize, usize, Mode)) -> Choice {
        let c = self.cost.choose(key.0, key.1, key.2);
        if self.choices.len() < CHOICE_CACHE {
            self.choices.push((key, c));
        } else {
            self.choices[self.next_slot] = (key, c);
            self.next_slot = (self.next_slot + 1) % CHOICE_CACHE;
        }
        c
    }

    /// Plans for `len` (0: nothing), growing the scratch to fit; returns the plans.
    fn prepare(
        &mut self,
        len: usize,
    ) -> (Arc<dyn RealToComplex<f64>>, Arc<dyn ComplexToReal<f64>>) {
        match self.plans.iter().find(|p| p.len == len) {
            Some(p) => (Arc::clone(&p.fwd), Arc::clone(&p.inv)),
            None => self.new_plan(len),
        }
    }

    #[cold]
    #[inline(never)]
    fn new_plan(
        &mut self,
        len: usize,
    ) -> (Arc<dyn RealToComplex<f64>>, Arc<dyn ComplexToReal<f64>>) {
        let fwd = self.planner.plan_fft_forward(len);
        let inv = self.planner.plan_fft_inverse(len);
        let zero = Complex::new(0.0, 0.0);
        let grow = |v: &mut Vec<f64>| v.resize(v.len().max(len), 0.0);
        grow(&mut self.real_a);
        grow(&mut self.real_b);
        let half = len / 2 + 1;
        for s in [&mut self.spec_a, &mut self.spec_b] {
            s.resize(s.len().max(half), zero);
        }
        let scratch = fwd.get_scratch_len().max(inv.get_scratch_len());
        self.scratch.resize(self.scratch.len().max(scratch), zero);
        self.plans.push(Plan {
            len,
            fwd: Arc::clone(&fwd),
            inv: Arc::clone(&inv),
        });
        (fwd, inv)
    }

    /// One FFT convolution of length `l` (checked by `Choice::check`).
    fn fft_into(&mut self, l: usize, x: &[f64], h: &[f64], lo: usize, out: &mut [f64]) {
        let (fwd, inv) = self.prepare(l);
        let half = l / 2 + 1;
        let (ra, rb) = (&mut self.real_a[..l], &mut self.real_b[..l]);
        let (sa, sb) = (&mut self.spec_a[..half], &mut self.spec_b[..half]);
        let sc = &mut self.scratch;
        load(ra, x);
        load(rb, h);
        forward(&*fwd, ra, sa, sc);
        forward(&*fwd, rb, sb, sc);
        multiply_into(sa, sb, 1.0 / l as f64);
        inverse(&*inv, sa, ra, sc);
        out.copy_from_slice(&ra[lo..lo + out.len()]);
    }

    /// Overlap-add: blocks of `block` values of `x`, transforms of length `l >= block + m - 1`
    /// (checked by `Choice::check`).
    fn overlap_add_into(
        &mut self,
        l: usize,
        block: usize,
        x: &[f64],
        h: &[f64],
        lo: usize,
        out: &mut [f64],
    ) {
        let (fwd, inv) = self.prepare(l);
        let half = l / 2 + 1;
        let (ra, rb) = (&mut self.real_a[..l], &mut self.real_b[..l]);
        let (sa, sb) = (&mut self.spec_a[..half], &mut self.spec_b[..half]);
        let sc = &mut self.scratch;
        // The kernel's transform, scaled once for the inverse transforms.
        load(rb, h);
        forward(&*fwd, rb, sb, sc);
        let scale = 1.0 / l as f64;
        for v in sb.iter_mut() {
            *v *= scale;
        }
        let hi = lo + out.len();
        let m = h.len();
        let mut start = 0;
        while start < x.len() && start < hi {
            let piece = &x[start..x.len().min(start + block)];
            // This block adds to full indices `start .. start + piece.len() + m - 1`; the
            // previous one covered up to `start + m - 1` (exclusive), so indices below that are
            // added to, the rest written (every window index is written by the first block
            // that reaches it, so `out` needs no clearing).
            let (from, to) = (start.max(lo), (start + piece.len() + m - 1).min(hi));
            if from < to {
                load(ra, piece);
                forward(&*fwd, ra, sa, sc);
                multiply_into(sa, sb, 1.0);
                inverse(&*inv, sa, ra, sc);
                let overlap_end = if start == 0 {
                    from
                } else {
                    (start + m - 1).clamp(from, to)
                };
                let (add, write) = out[from - lo..to - lo].split_at_mut(overlap_end - from);
                let (ra_add, ra_write) = ra[from - start..].split_at(overlap_end - from);
                for (o, v) in add.iter_mut().zip(ra_add) {
                    *o += v;
                }
                write.copy_from_slice(&ra_write[..write.len()]);
            }
            start += block;
        }
    }
}

#[inline]
fn check_len(expected: usize, got: usize) -> Result<(), ConvError> {
    if expected == got {
        Ok(())
    } else {
        Err(ConvError::OutputLength { expected, got })
    }
}

/// `buf = values` followed by zeros.
#[inline]
fn load(buf: &mut [f64], values: &[f64]) {
    let (head, tail) = buf.split_at_mut(values.len());
    head.copy_from_slice(values);
    tail.fill(0.0);
}

/// Forward transform of `re` (destroyed) into `spec`. Buffer lengths are ours and exact, so
/// realfft's length checks cannot fail.
#[inline]
fn forward(
    p: &dyn RealToComplex<f64>,
    re: &mut [f64],
    spec: &mut [Complex<f64>],
    sc: &mut [Complex<f64>],
) {
    let r = p.process_with_scratch(re, spec, sc);
    debug_assert!(r.is_ok(), "{r:?}");
}

/// Inverse transform of `spec` (destroyed) into `re`, unnormalised.
#[inline]
fn inverse(
    p: &dyn ComplexToReal<f64>,
    spec: &mut [Complex<f64>],
    re: &mut [f64],
    sc: &mut [Complex<f64>],
) {
    // The spectrum of a real signal has real first and last (Nyquist) values; products of
    // non-finite values can leave NaN there, which realfft would report (and ignore).
    if let Some(first) = spec.first_mut() {
        first.im = 0.0;
    }
    if let Some(last) = spec.last_mut() {
        last.im = 0.0;
    }
    let r = p.process_with_scratch(spec, re, sc);
    debug_assert!(r.is_ok(), "{r:?}");
}

/// `a[i] = a[i] * b[i] * scale`.
#[inline]
fn multiply_into(a: &mut [Complex<f64>], b: &[Complex<f64>], scale: f64) {
    for (x, y) in a.iter_mut().zip(b) {
        *x = *x * *y * scale;
    }
}

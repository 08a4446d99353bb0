//! Averages and bands: [`Ema`], [`Sma`], [`RollingStats`] (mean, variance, std),
//! [`Bollinger`] bands and [`Macd`].

use crate::window::{Moments, Sliding, Window};
use crate::{Indicator, Sample};

/// Exponential moving average with span `n`: `alpha = 2 / (n + 1)`,
/// `ema_t = ema_{t-1} + alpha * (x_t - ema_{t-1})`, seeded with the first value
/// (pandas' `ewm(span=n, adjust=False)`).
///
/// Warm-up: `None` for the first `n - 1` values, `Some` from the `n`-th on (pandas'
/// `min_periods=n`); the average runs from the first value all along.
///
/// ```
/// use zerotick_features::{Ema, Indicator};
/// let mut ema = Ema::new(3); // alpha = 0.5
/// assert_eq!(ema.update(2.0.into()), None);
/// assert_eq!(ema.update(4.0.into()), None);
/// assert_eq!(ema.update(8.0.into()), Some(5.5)); // 2 -> 3 -> 5.5
/// ```
#[derive(Debug, Clone)]
pub struct Ema {
    period: usize,
    alpha: f64,
    value: f64,
    seen: usize,
    rejected: u64,
}

impl Ema {
    /// An EMA of span `period` (values below 1 count as 1, which tracks the input).
    pub fn new(period: usize) -> Ema {
        let period = period.max(1);
        Ema {
            period,
            alpha: 2.0 / (period as f64 + 1.0),
            value: 0.0,
            seen: 0,
            rejected: 0,
        }
    }

    /// The current average, warm or not (`None` before the first value).
    #[inline]
    pub fn value(&self) -> Option<f64> {
        (self.seen > 0).then_some(self.value)
    }

    /// Its span `n`.
    pub fn period(&self) -> usize {
        self.period
    }

    /// Folds `x` (finite) in; returns the number of values seen.
    #[inline]
    fn fold(&mut self, x: f64) -> usize {
        if self.seen == 0 {
            self.value = x;
        } else {
            self.value += self.alpha * (x - self.value);
        }
        self.seen = self.seen.saturating_add(1);
        self.seen
    }
}

impl Indicator for Ema {
    type Input = Sample;
    type Output = f64;
    #[inline]
    fn update(&mut self, s: Sample) -> Option<f64> {
        if !s.value.is_finite() {
            self.rejected += 1;
            return None;
        }
        (self.fold(s.value) >= self.period).then_some(self.value)
    }
    fn reset(&mut self) {
        self.value = 0.0;
        self.seen = 0;
    }
    fn rejected(&self) -> u64 {
        self.rejected
    }
}

/// Simple moving average over a [`Window`]: the mean of the values in it.
///
/// Warm-up: `None` until the window is warm ([`Sliding::is_warm`]: `n` values for an event
/// window, a full span of event time for a time window), then `Some`.
///
/// ```
/// use zerotick_features::{Indicator, Sample, Sma, Window};
/// let mut sma = Sma::new(Window::Events(2), 0);
/// assert_eq!(sma.update(1.0.into()), None);
/// assert_eq!(sma.update(3.0.into()), Some(2.0));
/// let mut by_time = Sma::new(Window::parse("1s")?, 1024);
/// assert_eq!(by_time.update(Sample::at(0, 1.0)), None);
/// assert_eq!(by_time.update(Sample::at(1_000_000_000, 5.0)), Some(5.0)); // t=0 left
/// # Ok::<(), zerotick_features::WindowError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Sma {
    sum: Sliding<f64>,
    rejected: u64,
}

impl Sma {
    /// An SMA over `window`; a time window stores at most `time_capacity` values.
    pub fn new(window: Window, time_capacity: usize) -> Sma {
        Sma {
            sum: Sliding::new(window, time_capacity),
            rejected: 0,
        }
    }

    /// The window's storage (overflow and backwards-time counts).
    pub fn window(&self) -> &Sliding<f64> {
        &self.sum
    }
}

impl Indicator for Sma {
    type Input = Sample;
    type Output = f64;
    #[inline]
    fn update(&mut self, s: Sample) -> Option<f64> {
        if !s.value.is_finite() {
            self.rejected += 1;
            return None;
        }
        self.sum.push(s.ts_ns, s.value);
        self.sum
            .is_warm()
            .then(|| self.sum.total() / self.sum.len() as f64)
    }
    fn reset(&mut self) {
        self.sum.reset();
    }
    fn rejected(&self) -> u64 {
        self.rejected
    }
}

/// Rolling mean and variance of a window (see [`RollingStats`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RollingStatsOutput {
    /// Values in the window.
    pub count: usize,
    /// Their mean.
    pub mean: f64,
    /// Population variance (`m2 / count`, pandas `ddof=0`).
    pub variance: f64,
    /// Sample variance (`m2 / (count - 1)`, pandas' default `ddof=1`); 0 with one value.
    pub sample_variance: f64,
}

impl RollingStatsOutput {
    /// Population standard deviation.
    #[inline]
    pub fn std(&self) -> f64 {
        self.variance.sqrt()
    }
    /// Sample standard deviation.
    #[inline]
    pub fn sample_std(&self) -> f64 {
        self.sample_variance.sqrt()
    }
}

/// Rolling mean, variance and standard deviation over a [`Window`], by merging per-value
/// moments (Chan et al.) in the two-stack window ([`crate::window`] says why: nothing is ever
/// subtracted, so a huge value that left the window leaves no error behind, and a window of
/// equal values has variance exactly 0).
///
/// Warm-up: as [`Sma`].
///
/// ```
/// use zerotick_features::{Indicator, RollingStats, Window};
/// let mut st = RollingStats::new(Window::Events(4), 0);
/// let mut last = None;
/// for x in [2.0, 4.0, 4.0, 6.0] {
///     last = st.update(x.into());
/// }
/// let out = last.unwrap();
/// assert_eq!((out.mean, out.variance, out.std()), (4.0, 2.0, 2f64.sqrt()));
/// ```
#[derive(Debug, Clone)]
pub struct RollingStats {
    moments: Sliding<Moments>,
    rejected: u64,
}

impl RollingStats {
    /// Statistics over `window`; a time window stores at most `time_capacity` values.
    pub fn new(window: Window, time_capacity: usize) -> RollingStats {
        RollingStats {
            moments: Sliding::new(window, time_capacity),
            rejected: 0,
        }
    }

    /// The window's storage (overflow and backwards-time counts).
    pub fn window(&self) -> &Sliding<Moments> {
        &self.moments
    }
}

impl Indicator for RollingStats {
    type Input = Sample;
    type Output = RollingStatsOutput;
    #[inline]
    fn update(&mut self, s: Sample) -> Option<RollingStatsOutput> {
        if !s.value.is_finite() {
            self.rejected += 1;
            return None;
        }
        self.moments.push(s.ts_ns, Moments::of(s.value));
        if !self.moments.is_warm() {
            return None;
        }
        let m = self.moments.total();
        // m2 is a sum of non-negative terms (merges only add): never negative.
        let m2 = m.m2;
        Some(RollingStatsOutput {
            count: m.count as usize,
            mean: m.mean,
            variance: m2 / m.count as f64,
            sample_variance: if m.count >= 2 {
                m2 / (m.count - 1) as f64
            } else {
                0.0
            },
        })
    }
    fn reset(&mut self) {
        self.moments.reset();
    }
    fn rejected(&self) -> u64 {
        self.rejected
    }
}

/// Bollinger bands (see [`Bollinger`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bands {
    /// `middle - k * std`.
    pub lower: f64,
    /// The rolling mean.
    pub middle: f64,
    /// `middle + k * std`.
    pub upper: f64,
}

/// Bollinger bands: the rolling mean of a [`Window`] plus and minus `k` population standard
/// deviations (TA-Lib's `BBANDS` with `matype=0`; Bollinger's own definition uses the
/// population deviation).
///
/// Warm-up: as [`Sma`].
///
/// ```
/// use zerotick_features::{Bollinger, Indicator, Window};
/// let mut bb = Bollinger::new(Window::Events(2), 0, 2.0);
/// bb.update(1.0.into());
/// let b = bb.update(3.0.into()).unwrap(); // mean 2, std 1
/// assert_eq!((b.lower, b.middle, b.upper), (0.0, 2.0, 4.0));
/// ```
#[derive(Debug, Clone)]
pub struct Bollinger {
    stats: RollingStats,
    k: f64,
}

impl Bollinger {
    /// Bands `k` deviations wide over `window` (`time_capacity` as in [`RollingStats`]).
    pub fn new(window: Window, time_capacity: usize, k: f64) -> Bollinger {
        Bollinger {
            stats: RollingStats::new(window, time_capacity),
            k,
        }
    }
}

impl Indicator for Bollinger {
    type Input = Sample;
    type Output = Bands;
    #[inline]
    fn update(&mut self, s: Sample) -> Option<Bands> {
        let st = self.stats.update(s)?;
        let w = self.k * st.std();
        Some(Bands {
            lower: st.mean - w,
            middle: st.mean,
            upper: st.mean + w,
        })
    }
    fn reset(&mut self) {
        self.stats.reset();
    }
    fn rejected(&self) -> u64 {
        self.stats.rejected()
    }
}

/// MACD line, signal and histogram (see [`Macd`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MacdOutput {
    /// `ema_fast - ema_slow`.
    pub line: f64,
    /// EMA (span `signal`) of the line.
    pub signal: f64,
    /// `line - signal`.
    pub histogram: f64,
}

/// Moving average convergence/divergence: `line = ema_fast(x) - ema_slow(x)`,
/// `signal = ema_signal(line)`, `histogram = line - signal`, every EMA as [`Ema`] (seeded with
/// its first input, pandas' `ewm(span, adjust=False)`).
///
/// Warm-up: `None` for the first `slow + signal - 2` values, `Some` from value
/// `slow + signal - 1` on (when the slow EMA has `slow` values and the signal EMA has then
/// seen `signal` lines). With `fast > slow` the names swap meaning but the rule holds with
/// `max(fast, slow)`.
///
/// ```
/// use zerotick_features::{Indicator, Macd};
/// let mut macd = Macd::new(12, 26, 9);
/// let outputs: Vec<_> = (0..40).filter_map(|i| macd.update((100.0 + i as f64).into())).collect();
/// assert_eq!(outputs.len(), 40 - (26 + 9 - 2));
/// assert!(outputs[0].line > 0.0); // a rising price: fast above slow
/// ```
#[derive(Debug, Clone)]
pub struct Macd {
    fast: Ema,
    slow: Ema,
    signal: Ema,
    warm_after: usize,
    seen: usize,
    rejected: u64,
}

impl Macd {
    /// MACD with EMA spans `fast`, `slow` and `signal` (each at least 1).
    pub fn new(fast: usize, slow: usize, signal: usize) -> Macd {
        let (f, s, g) = (fast.max(1), slow.max(1), signal.max(1));
        Macd {
            fast: Ema::new(f),
            slow: Ema::new(s),
            signal: Ema::new(g),
            warm_after: f.max(s) + g - 1,
            seen: 0,
            rejected: 0,
        }
    }
}

impl Indicator for Macd {
    type Input = Sample;
    type Output = MacdOutput;
    #[inline]
    fn update(&mut self, s: Sample) -> Option<MacdOutput> {
        if !s.value.is_finite() {
            self.rejected += 1;
            return None;
        }
        self.fast.fold(s.value);
        self.slow.fold(s.value);
        let line = self.fast.value - self.slow.value;
        self.signal.fold(line);
        self.seen = self.seen.saturating_add(1);
        (self.seen >= self.warm_after).then_some(MacdOutput {
            line,
            signal: self.signal.value,
            histogram: line - self.signal.value,
        })
    }
    fn reset(&mut self) {
        self.fast.reset();
        self.slow.reset();
        self.signal.reset();
        self.seen = 0;
    }
    fn rejected(&self) -> u64 {
        self.rejected
    }
}

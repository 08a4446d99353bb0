//! Trade flow: rolling [`Vwap`], [`RealizedVol`], trade-flow [`FlowImbalance`], and [`Lags`]
//! (the last `n` values of an input, as a row slice).

use crate::window::{Aggregate, Sliding, Window, YEAR_NS};
use crate::{Indicator, Sample, Tick};

/// Sums of `price * size` and `size`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PriceVolume {
    /// Sum of `price * size`.
    pub notional: f64,
    /// Sum of `size`.
    pub volume: f64,
}

impl Aggregate for PriceVolume {
    const EMPTY: PriceVolume = PriceVolume {
        notional: 0.0,
        volume: 0.0,
    };
    #[inline]
    fn merge(a: &PriceVolume, b: &PriceVolume) -> PriceVolume {
        PriceVolume {
            notional: a.notional + b.notional,
            volume: a.volume + b.volume,
        }
    }
}

/// Rejects a tick whose price is not finite and positive or whose size is not finite and
/// non-negative.
#[inline]
fn usable(t: &Tick) -> bool {
    t.price.is_finite() && t.price > 0.0 && t.size.is_finite() && t.size >= 0.0
}

/// Rolling volume-weighted average price: `sum(price * size) / sum(size)` over a [`Window`]
/// of trades.
///
/// Warm-up: `None` until the window is warm (as [`crate::Sma`]), and `None` while the window
/// holds no volume (all sizes 0: the average is undefined).
///
/// ```
/// use zerotick_features::{Indicator, Side, Tick, Vwap, Window};
/// let t = |price, size| Tick { ts_ns: 0, symbol: 0, price, size, side: Side::Buy };
/// let mut vwap = Vwap::new(Window::Events(2), 0);
/// assert_eq!(vwap.update(t(10.0, 1.0)), None);
/// assert_eq!(vwap.update(t(13.0, 2.0)), Some(12.0));
/// ```
#[derive(Debug, Clone)]
pub struct Vwap {
    sums: Sliding<PriceVolume>,
    rejected: u64,
}

impl Vwap {
    /// A VWAP over `window`; a time window stores at most `time_capacity` trades.
    pub fn new(window: Window, time_capacity: usize) -> Vwap {
        Vwap {
            sums: Sliding::new(window, time_capacity),
            rejected: 0,
        }
    }

    /// The window's storage (overflow and backwards-time counts).
    pub fn window(&self) -> &Sliding<PriceVolume> {
        &self.sums
    }
}

impl Indicator for Vwap {
    type Input = Tick;
    type Output = f64;
    #[inline]
    fn update(&mut self, t: Tick) -> Option<f64> {
        if !usable(&t) {
            self.rejected += 1;
            return None;
        }
        let pv = PriceVolume {
            notional: t.price * t.size,
            volume: t.size,
        };
        self.sums.push(t.ts_ns, pv);
        let s = self.sums.total();
        (self.sums.is_warm() && s.volume > 0.0).then(|| s.notional / s.volume)
    }
    fn reset(&mut self) {
        self.sums.reset();
    }
    fn rejected(&self) -> u64 {
        self.rejected
    }
}

/// Realized volatility: the square root of the sum of squared log returns
/// `r_t = ln(p_t) - ln(p_{t-1})` over a [`Window`] of returns, times an optional
/// annualisation: `sqrt(scale * sum(r^2))`.
///
/// * Not annualised (the default): `scale = 1`, the volatility *of the window*.
/// * [`annualised`](RealizedVol::annualised) (time windows): `scale = YEAR_NS / span_ns`
///   (365.25-day years): the window's variance extrapolated to a year.
/// * [`per_year`](RealizedVol::per_year) (any window): `scale` = windows per year, given.
///
/// Warm-up: the first price gives no return; `None` until the window of returns is warm
/// (`n + 1` prices for a window of `n` events), then `Some`. Prices must be finite and
/// positive (others are rejected).
///
/// ```
/// use zerotick_features::{Indicator, RealizedVol, Window};
/// let mut rv = RealizedVol::new(Window::Events(2), 0);
/// let e = std::f64::consts::E;
/// assert_eq!(rv.update(1.0.into()), None);
/// assert_eq!(rv.update(e.into()), None); // one return: ln e = 1
/// let v = rv.update(1.0.into()).unwrap(); // returns 1 and -1
/// assert!((v - 2f64.sqrt()).abs() < 1e-15);
/// ```
#[derive(Debug, Clone)]
pub struct RealizedVol {
    squares: Sliding<f64>,
    prev_log: Option<f64>,
    scale: f64,
    rejected: u64,
}

impl RealizedVol {
    /// Realized volatility over `window` (a time window stores at most `time_capacity`
    /// returns), not annualised.
    pub fn new(window: Window, time_capacity: usize) -> RealizedVol {
        RealizedVol {
            squares: Sliding::new(window, time_capacity),
            prev_log: None,
            scale: 1.0,
            rejected: 0,
        }
    }

    /// Annualised by the number of spans in a year; for a time window only (`None` for an
    /// event window, whose duration is unknown: use [`per_year`](RealizedVol::per_year)).
    pub fn annualised(mut self) -> Option<RealizedVol> {
        match self.squares.window() {
            Window::Time { span_ns } => {
                self.scale = YEAR_NS / span_ns as f64;
                Some(self)
            }
            Window::Events(_) => None,
        }
    }

    /// Annualised with `windows_per_year` windows in a year (e.g. 252 for a window of one
    /// trading day).
    pub fn per_year(mut self, windows_per_year: f64) -> RealizedVol {
        self.scale = windows_per_year;
        self
    }

    /// The window's storage (overflow and backwards-time counts).
    pub fn window(&self) -> &Sliding<f64> {
        &self.squares
    }
}

impl Indicator for RealizedVol {
    type Input = Sample;
    type Output = f64;
    #[inline]
    fn update(&mut self, s: Sample) -> Option<f64> {
        if !(s.value.is_finite() && s.value > 0.0) {
            self.rejected += 1;
            return None;
        }
        let log = s.value.ln();
        let prev = self.prev_log.replace(log)?;
        let r = log - prev;
        self.squares.push(s.ts_ns, r * r);
        self.squares
            .is_warm()
            .then(|| (self.scale * self.squares.total()).sqrt())
    }
    fn reset(&mut self) {
        self.squares.reset();
        self.prev_log = None;
    }
    fn rejected(&self) -> u64 {
        self.rejected
    }
}

/// Sums of signed and total traded size.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SignedVolume {
    /// Sum of `side.sign() * size` (buys positive, sells negative, unknown 0).
    pub signed: f64,
    /// Sum of `size`.
    pub total: f64,
}

impl Aggregate for SignedVolume {
    const EMPTY: SignedVolume = SignedVolume {
        signed: 0.0,
        total: 0.0,
    };
    #[inline]
    fn merge(a: &SignedVolume, b: &SignedVolume) -> SignedVolume {
        SignedVolume {
            signed: a.signed + b.signed,
            total: a.total + b.total,
        }
    }
}

/// Trade-flow imbalance: `sum(sign * size) / sum(size)` over a [`Window`] of trades, in
/// `[-1, 1]`: +1 all buys, -1 all sells. Trades of unknown side count in the total only
/// (they dilute the imbalance). A window with no volume gives 0.
///
/// Warm-up: as [`crate::Sma`].
///
/// ```
/// use zerotick_features::{FlowImbalance, Indicator, Side, Tick, Window};
/// let t = |size, side| Tick { ts_ns: 0, symbol: 0, price: 1.0, size, side };
/// let mut ofi = FlowImbalance::new(Window::Events(2), 0);
/// assert_eq!(ofi.update(t(3.0, Side::Buy)), None);
/// assert_eq!(ofi.update(t(1.0, Side::Sell)), Some(0.5));
/// ```
#[derive(Debug, Clone)]
pub struct FlowImbalance {
    sums: Sliding<SignedVolume>,
    rejected: u64,
}

impl FlowImbalance {
    /// Imbalance over `window`; a time window stores at most `time_capacity` trades.
    pub fn new(window: Window, time_capacity: usize) -> FlowImbalance {
        FlowImbalance {
            sums: Sliding::new(window, time_capacity),
            rejected: 0,
        }
    }

    /// The window's storage (overflow and backwards-time counts).
    pub fn window(&self) -> &Sliding<SignedVolume> {
        &self.sums
    }
}

impl Indicator for FlowImbalance {
    type Input = Tick;
    type Output = f64;
    #[inline]
    fn update(&mut self, t: Tick) -> Option<f64> {
        if !(t.size.is_finite() && t.size >= 0.0) {
            self.rejected += 1;
            return None;
        }
        let sv = SignedVolume {
            signed: t.side.sign() * t.size,
            total: t.size,
        };
        self.sums.push(t.ts_ns, sv);
        if !self.sums.is_warm() {
            return None;
        }
        let s = self.sums.total();
        Some(if s.total > 0.0 {
            (s.signed / s.total).clamp(-1.0, 1.0)
        } else {
            0.0
        })
    }
    fn reset(&mut self) {
        self.sums.reset();
    }
    fn rejected(&self) -> u64 {
        self.rejected
    }
}

/// The last `n` values of an input, written newest first into a row slice (0 where fewer
/// than `n` values have been seen): the raw columns of a feature row (e.g. the last 512 log
/// returns). A preallocated ring; `push` and `write_into` allocate nothing.
///
/// Warm-up: [`is_warm`](Lags::is_warm) after `n` values; rows written before hold zeros for
/// the missing lags.
///
/// ```
/// use zerotick_features::Lags;
/// let mut lags = Lags::new(3);
/// for x in [1.0, 2.0] {
///     lags.push(x);
/// }
/// let mut row = [9.0; 3];
/// lags.write_into(&mut row);
/// assert_eq!(row, [2.0, 1.0, 0.0]);
/// ```
#[derive(Debug, Clone)]
pub struct Lags {
    ring: Box<[f64]>,
    /// Slot of the next value.
    head: usize,
    len: usize,
}

impl Lags {
    /// The last `n` values (at least 1).
    pub fn new(n: usize) -> Lags {
        Lags {
            ring: vec![0.0; n.max(1)].into_boxed_slice(),
            head: 0,
            len: 0,
        }
    }

    /// Stores `x` (any value, NaN included: lags are raw data).
    #[inline]
    pub fn push(&mut self, x: f64) {
        self.ring[self.head] = x;
        self.head = (self.head + 1) % self.ring.len();
        self.len = (self.len + 1).min(self.ring.len());
    }

    /// Number of lags `n`.
    pub fn width(&self) -> usize {
        self.ring.len()
    }

    /// True once `n` values have been pushed.
    pub fn is_warm(&self) -> bool {
        self.len == self.ring.len()
    }

    /// Writes the lags newest first into `out[..min(out.len(), n)]`, zeros for lags not yet
    /// seen.
    #[inline]
    pub fn write_into(&self, out: &mut [f64]) {
        let n = self.ring.len();
        for (k, o) in out.iter_mut().take(n).enumerate() {
            *o = if k < self.len {
                self.ring[(self.head + n - 1 - k) % n]
            } else {
                0.0
            };
        }
    }

    /// Forgets every value.
    pub fn reset(&mut self) {
        self.head = 0;
        self.len = 0;
    }
}

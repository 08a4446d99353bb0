//! OHLCV bars by time, ticks or volume ([`BarBuilder`]), and [`TrueRange`] and [`Atr`] over
//! bars.

use crate::{Indicator, Tick};

/// One open-high-low-close-volume bar.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Bar {
    /// Time bars: the start of the bar's period; other bars: the first trade's time.
    pub start_ts_ns: u64,
    /// The last trade's time.
    pub end_ts_ns: u64,
    /// First trade price.
    pub open: f64,
    /// Highest trade price.
    pub high: f64,
    /// Lowest trade price.
    pub low: f64,
    /// Last trade price.
    pub close: f64,
    /// Sum of trade sizes.
    pub volume: f64,
    /// Number of trades.
    pub ticks: u64,
}

impl Bar {
    fn open_with(start_ts_ns: u64, t: &Tick) -> Bar {
        Bar {
            start_ts_ns,
            end_ts_ns: t.ts_ns,
            open: t.price,
            high: t.price,
            low: t.price,
            close: t.price,
            volume: t.size,
            ticks: 1,
        }
    }

    #[inline]
    fn add(&mut self, t: &Tick) {
        self.end_ts_ns = self.end_ts_ns.max(t.ts_ns);
        self.high = self.high.max(t.price);
        self.low = self.low.min(t.price);
        self.close = t.price;
        self.volume += t.size;
        self.ticks += 1;
    }
}

/// When a bar is complete.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BarKind {
    /// Periods of `period_ns` aligned to multiples of it since the epoch (`ts / period`). A
    /// bar is complete when the first trade of a later period arrives; periods without
    /// trades produce no bar. A trade stamped before the open bar's period (time going
    /// backwards) joins the open bar and is counted in [`BarBuilder::backwards`].
    Time {
        /// Period in nanoseconds (at least 1).
        period_ns: u64,
    },
    /// Every `n` trades (at least 1): complete on its `n`-th trade.
    Ticks(u64),
    /// Complete on the trade that brings the volume to at least the threshold (> 0); that
    /// trade belongs to the bar whole (trades are not split), so a bar can exceed it.
    Volume(f64),
}

/// Builds OHLCV bars from trades; [`update`](Indicator::update) returns each bar when it is
/// complete (see [`BarKind`]).
///
/// ```
/// use zerotick_features::{BarBuilder, BarKind, Indicator, Side, Tick};
/// let t = |ts_ns, price| Tick { ts_ns, symbol: 0, price, size: 1.0, side: Side::Buy };
/// let mut bars = BarBuilder::new(BarKind::Ticks(2));
/// assert_eq!(bars.update(t(1, 10.0)), None);
/// let bar = bars.update(t(2, 12.0)).unwrap();
/// assert_eq!((bar.open, bar.high, bar.low, bar.close, bar.volume), (10.0, 12.0, 10.0, 12.0, 2.0));
/// ```
#[derive(Debug, Clone)]
pub struct BarBuilder {
    kind: BarKind,
    open: Option<Bar>,
    backwards: u64,
    rejected: u64,
}

impl BarBuilder {
    /// A builder of `kind` bars (a zero period or count counts as 1; a volume threshold that
    /// is not positive, or NaN, makes every trade a bar).
    pub fn new(kind: BarKind) -> BarBuilder {
        let kind = match kind {
            BarKind::Time { period_ns } => BarKind::Time {
                period_ns: period_ns.max(1),
            },
            BarKind::Ticks(n) => BarKind::Ticks(n.max(1)),
            // NaN included: a threshold every bar reaches.
            BarKind::Volume(v) if v.is_nan() || v <= 0.0 => BarKind::Volume(0.0),
            v => v,
        };
        BarBuilder {
            kind,
            open: None,
            backwards: 0,
            rejected: 0,
        }
    }

    /// The bar being built, if any.
    pub fn partial(&self) -> Option<&Bar> {
        self.open.as_ref()
    }

    /// Completes and returns the open bar now (end of data), if any.
    pub fn flush(&mut self) -> Option<Bar> {
        self.open.take()
    }

    /// Time bars: trades stamped before their open bar's period.
    pub fn backwards(&self) -> u64 {
        self.backwards
    }
}

impl Indicator for BarBuilder {
    type Input = Tick;
    type Output = Bar;
    #[inline]
    fn update(&mut self, t: Tick) -> Option<Bar> {
        if !(t.price.is_finite() && t.price > 0.0 && t.size.is_finite() && t.size >= 0.0) {
            self.rejected += 1;
            return None;
        }
        match self.kind {
            BarKind::Time { period_ns } => {
                let start = t.ts_ns - t.ts_ns % period_ns;
                match &mut self.open {
                    Some(bar) if start <= bar.start_ts_ns => {
                        if start < bar.start_ts_ns {
                            self.backwards += 1;
                        }
                        bar.add(&t);
                        None
                    }
                    _ => self.open.replace(Bar::open_with(start, &t)),
                }
            }
            BarKind::Ticks(n) => {
                let bar = self.add(&t);
                (bar.ticks >= n).then(|| self.open.take()).flatten()
            }
            BarKind::Volume(v) => {
                let bar = self.add(&t);
                (bar.volume >= v).then(|| self.open.take()).flatten()
            }
        }
    }
    fn reset(&mut self) {
        self.open = None;
    }
    fn rejected(&self) -> u64 {
        self.rejected
    }
}

impl BarBuilder {
    #[inline]
    fn add(&mut self, t: &Tick) -> &Bar {
        match &mut self.open {
            Some(bar) => {
                bar.add(t);
                bar
            }
            open @ None => open.insert(Bar::open_with(t.ts_ns, t)),
        }
    }
}

/// Rejects a bar with a non-finite field or `low > high`.
#[inline]
fn usable(b: &Bar) -> bool {
    b.high.is_finite() && b.low.is_finite() && b.close.is_finite() && b.low <= b.high
}

/// True range of a bar: `max(high - low, |high - prev_close|, |low - prev_close|)`; the first
/// bar (no previous close) gives `high - low`.
///
/// Warm-up: none, `Some` from the first bar.
///
/// ```
/// use zerotick_features::{Bar, Indicator, TrueRange};
/// let bar = |high, low, close| Bar { high, low, close, ..Bar::default() };
/// let mut tr = TrueRange::new();
/// assert_eq!(tr.update(bar(11.0, 9.0, 10.0)), Some(2.0));
/// assert_eq!(tr.update(bar(14.0, 13.0, 13.5)), Some(4.0)); // gap up from 10
/// ```
#[derive(Debug, Clone, Default)]
pub struct TrueRange {
    prev_close: Option<f64>,
    rejected: u64,
}

impl TrueRange {
    /// No bar seen yet.
    pub fn new() -> TrueRange {
        TrueRange::default()
    }

    /// The true range of `b` and whether it had a previous close; updates the close.
    #[inline]
    fn step(&mut self, b: &Bar) -> (f64, bool) {
        let range = b.high - b.low;
        match self.prev_close.replace(b.close) {
            Some(c) => (range.max((b.high - c).abs()).max((b.low - c).abs()), true),
            None => (range, false),
        }
    }
}

impl Indicator for TrueRange {
    type Input = Bar;
    type Output = f64;
    #[inline]
    fn update(&mut self, b: Bar) -> Option<f64> {
        if !usable(&b) {
            self.rejected += 1;
            return None;
        }
        Some(self.step(&b).0)
    }
    fn reset(&mut self) {
        self.prev_close = None;
    }
    fn rejected(&self) -> u64 {
        self.rejected
    }
}

/// Average true range over `n` bars with Wilder's smoothing (TA-Lib's `ATR`): only true
/// ranges with a previous close count (the first bar only sets the close); the first ATR is
/// the mean of the first `n` of them, then `atr = (atr * (n - 1) + tr) / n`.
///
/// Warm-up: `None` for the first `n` bars, `Some` from bar `n + 1` on.
///
/// ```
/// use zerotick_features::{Atr, Bar, Indicator};
/// let bar = |high, low, close| Bar { high, low, close, ..Bar::default() };
/// let mut atr = Atr::new(2);
/// assert_eq!(atr.update(bar(11.0, 9.0, 10.0)), None);
/// assert_eq!(atr.update(bar(12.0, 10.0, 11.0)), None); // tr 2
/// assert_eq!(atr.update(bar(15.0, 11.0, 14.0)), Some(3.0)); // tr 4: mean 3
/// assert_eq!(atr.update(bar(15.0, 14.0, 14.0)), Some(2.0)); // (3 + 1) / 2
/// ```
#[derive(Debug, Clone)]
pub struct Atr {
    period: usize,
    tr: TrueRange,
    count: usize,
    atr: f64,
}

impl Atr {
    /// An ATR over `period` bars (at least 1).
    pub fn new(period: usize) -> Atr {
        Atr {
            period: period.max(1),
            tr: TrueRange::new(),
            count: 0,
            atr: 0.0,
        }
    }
}

impl Indicator for Atr {
    type Input = Bar;
    type Output = f64;
    #[inline]
    fn update(&mut self, b: Bar) -> Option<f64> {
        if !usable(&b) {
            self.tr.rejected += 1;
            return None;
        }
        let (tr, has_prev) = self.tr.step(&b);
        if !has_prev {
            return None;
        }
        let n = self.period as f64;
        if self.count < self.period {
            self.atr += tr;
            self.count += 1;
            if self.count < self.period {
                return None;
            }
            self.atr /= n;
        } else {
            self.atr = (self.atr * (n - 1.0) + tr) / n;
        }
        Some(self.atr)
    }
    fn reset(&mut self) {
        self.tr.reset();
        self.count = 0;
        self.atr = 0.0;
    }
    fn rejected(&self) -> u64 {
        self.tr.rejected
    }
}

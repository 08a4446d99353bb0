//! [`FeatureRow`]: the indicators of a [`FeatureSpec`] for one symbol, fed trade by trade,
//! written out as one row.
//!
//! Built once per symbol (all storage allocated there); [`update`](FeatureRow::update) and
//! [`write_into`](FeatureRow::write_into) allocate nothing. Dispatch is a `match` over an
//! enum of the indicator types, not trait objects.
//!
//! Trade inputs are fed by [`update`](FeatureRow::update), book inputs by
//! [`update_book`](FeatureRow::update_book) at the end of each of the symbol's book events.
//! Columns hold each indicator's latest output; an indicator that is not warm yet (or whose
//! input never arrived, e.g. a book input on a feed without book events) writes 0, and
//! [`is_warm`](FeatureRow::is_warm) says whether every column holds a real value.
//!
//! ```
//! use zerotick_features::{FeatureRow, FeatureSpec, Side, Tick};
//! let spec = FeatureSpec::parse(
//!     "[[feature]]\nname = \"ema\"\nindicator = \"ema\"\nperiod = 2\n\n\
//!      [[feature]]\nname = \"flow\"\nindicator = \"flow_imbalance\"\nwindow = 2\n",
//! )?;
//! let mut row = FeatureRow::new(&spec);
//! for (price, side) in [(10.0, Side::Buy), (12.0, Side::Sell)] {
//!     row.update(&Tick { ts_ns: 0, symbol: 0, price, size: 1.0, side });
//! }
//! let mut out = [f64::NAN; 2];
//! row.write_into(&mut out);
//! assert!(row.is_warm());
//! assert_eq!(out, [10.0 + 2.0 / 3.0 * 2.0, 0.0]);
//! # Ok::<(), zerotick_features::SpecError>(())
//! ```

use crate::spec::{Feature, FeatureSpec, IndicatorSpec, Input};
use crate::{
    Atr, BarBuilder, Bollinger, Ema, FlowImbalance, Indicator, Lags, Macd, RealizedVol,
    RollingStats, Rsi, Sample, Sma, Tick, TrueRange, Vwap,
};

/// Which statistic a rolling-moments column shows.
#[derive(Debug, Clone, Copy)]
enum Stat {
    Mean,
    Variance { sample: bool },
    Std { sample: bool },
}

#[derive(Debug, Clone)]
enum Node {
    Ema(Ema),
    Sma(Sma),
    Stats(RollingStats, Stat),
    Rsi(Rsi),
    Macd(Macd),
    Bollinger(Bollinger),
    Vwap(Vwap),
    RealizedVol(RealizedVol),
    Flow(FlowImbalance),
    TrueRange(BarBuilder, TrueRange),
    Atr(BarBuilder, Atr),
    Lags(Lags),
}

impl Node {
    fn new(f: &Feature) -> Node {
        match f.indicator {
            IndicatorSpec::Ema { period } => Node::Ema(Ema::new(period)),
            IndicatorSpec::Sma { window, capacity } => Node::Sma(Sma::new(window, capacity)),
            IndicatorSpec::Mean { window, capacity } => {
                Node::Stats(RollingStats::new(window, capacity), Stat::Mean)
            }
            IndicatorSpec::Variance {
                window,
                capacity,
                ddof,
            } => Node::Stats(
                RollingStats::new(window, capacity),
                Stat::Variance { sample: ddof == 1 },
            ),
            IndicatorSpec::Std {
                window,
                capacity,
                ddof,
            } => Node::Stats(
                RollingStats::new(window, capacity),
                Stat::Std { sample: ddof == 1 },
            ),
            IndicatorSpec::Rsi { period } => Node::Rsi(Rsi::new(period)),
            IndicatorSpec::Macd { fast, slow, signal } => Node::Macd(Macd::new(fast, slow, signal)),
            IndicatorSpec::Bollinger {
                window,
                capacity,
                k,
            } => Node::Bollinger(Bollinger::new(window, capacity, k)),
            IndicatorSpec::Vwap { window, capacity } => Node::Vwap(Vwap::new(window, capacity)),
            IndicatorSpec::RealizedVol {
                window,
                capacity,
                annualise,
            } => {
                let rv = RealizedVol::new(window, capacity);
                // The spec parser refuses annualise on event windows.
                let rv = if annualise {
                    rv.annualised()
                        .unwrap_or_else(|| RealizedVol::new(window, capacity))
                } else {
                    rv
                };
                Node::RealizedVol(rv)
            }
            IndicatorSpec::FlowImbalance { window, capacity } => {
                Node::Flow(FlowImbalance::new(window, capacity))
            }
            IndicatorSpec::TrueRange { bar } => {
                Node::TrueRange(BarBuilder::new(bar), TrueRange::new())
            }
            IndicatorSpec::Atr { period, bar } => Node::Atr(BarBuilder::new(bar), Atr::new(period)),
            IndicatorSpec::Lags { count } => Node::Lags(Lags::new(count)),
        }
    }

    /// Feeds one value (scalar indicators) or the trade; writes the outputs into `out` when
    /// there are new ones.
    #[inline]
    fn update(&mut self, s: Sample, tick: &Tick, out: &mut [f64]) -> bool {
        match self {
            Node::Ema(x) => put1(x.update(s), out),
            Node::Sma(x) => put1(x.update(s), out),
            Node::Stats(x, stat) => put1(
                x.update(s).map(|o| match *stat {
                    Stat::Mean => o.mean,
                    Stat::Variance { sample: false } => o.variance,
                    Stat::Variance { sample: true } => o.sample_variance,
                    Stat::Std { sample: false } => o.std(),
                    Stat::Std { sample: true } => o.sample_std(),
                }),
                out,
            ),
            Node::Rsi(x) => put1(x.update(s), out),
            Node::Macd(x) => put(x.update(s).map(|m| [m.line, m.signal, m.histogram]), out),
            Node::Bollinger(x) => put(x.update(s).map(|b| [b.lower, b.middle, b.upper]), out),
            Node::Vwap(x) => put1(x.update(*tick), out),
            Node::RealizedVol(x) => put1(x.update(s), out),
            Node::Flow(x) => put1(x.update(*tick), out),
            Node::TrueRange(b, x) => put1(b.update(*tick).and_then(|bar| x.update(bar)), out),
            Node::Atr(b, x) => put1(b.update(*tick).and_then(|bar| x.update(bar)), out),
            // Lags are copied out by `write_into` only: no O(n) work per update.
            Node::Lags(x) => {
                x.push(s.value);
                x.is_warm()
            }
        }
    }
}

#[inline]
fn put1(v: Option<f64>, out: &mut [f64]) -> bool {
    put(v.map(|v| [v]), out)
}

#[inline]
fn put<const N: usize>(v: Option<[f64; N]>, out: &mut [f64]) -> bool {
    match v {
        Some(v) => {
            out.copy_from_slice(&v);
            true
        }
        None => false,
    }
}

/// The features of a spec for one symbol (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct FeatureRow {
    nodes: Box<[(Input, Node)]>,
    /// Column range of each node in `values`.
    cols: Box<[(usize, usize)]>,
    /// Latest outputs, one per column (0 before warm; lags columns unused: the lags are
    /// copied from their ring by `write_into`).
    values: Box<[f64]>,
    /// Per node: has produced an output since construction or reset.
    warm: Box<[bool]>,
    prev_log_price: Option<f64>,
}

impl FeatureRow {
    /// The indicators of `spec`, storage allocated here.
    pub fn new(spec: &FeatureSpec) -> FeatureRow {
        let mut cols = Vec::with_capacity(spec.features.len());
        let mut at = 0;
        for f in &spec.features {
            cols.push((at, at + f.width()));
            at += f.width();
        }
        FeatureRow {
            nodes: spec
                .features
                .iter()
                .map(|f| (f.input, Node::new(f)))
                .collect(),
            cols: cols.into_boxed_slice(),
            values: vec![0.0; at].into_boxed_slice(),
            warm: vec![false; spec.features.len()].into_boxed_slice(),
            prev_log_price: None,
        }
    }

    /// Row width.
    pub fn width(&self) -> usize {
        self.values.len()
    }

    /// Feeds one trade to every indicator on a trade input (book inputs are fed by
    /// [`update_book`](Self::update_book)). A trade with a price that is not finite and positive, or a size that is not
    /// finite and non-negative, is refused whole (each indicator would refuse it anyway) and
    /// `false` returned.
    #[inline]
    pub fn update(&mut self, t: &Tick) -> bool {
        if !(t.price.is_finite() && t.price > 0.0 && t.size.is_finite() && t.size >= 0.0) {
            return false;
        }
        let log = t.price.ln();
        let ret = self.prev_log_price.replace(log).map(|p| log - p);
        for (k, (input, node)) in self.nodes.iter_mut().enumerate() {
            let value = match input {
                Input::Price | Input::Trades => t.price,
                Input::Size => t.size,
                Input::SignedVolume => t.side.sign() * t.size,
                Input::Returns => match ret {
                    Some(r) => r,
                    None => continue,
                },
                _ => continue, // book inputs: `update_book`
            };
            let (a, b) = self.cols[k];
            if node.update(Sample::at(t.ts_ns, value), t, &mut self.values[a..b]) {
                self.warm[k] = true;
            }
        }
        true
    }

    /// Feeds the symbol's order book, at the end of one of its book events (a quote, a depth
    /// message, a snapshot) stamped `ts_ns`, to every indicator on a book input; `ofi` is
    /// that event's order-flow imbalance ([`Input::Ofi`]). An input with no value (a side of
    /// the book is empty) feeds its indicator nothing. Allocates nothing.
    ///
    /// ```
    /// use zerotick_core::{Book, BookSide};
    /// use zerotick_features::{FeatureRow, FeatureSpec};
    /// let spec = FeatureSpec::parse(
    ///     "[[feature]]\nname = \"imb5\"\nindicator = \"lags\"\ncount = 1\ninput = \"book_imbalance\"\nlevels = 5\n\n\
    ///      [[feature]]\nname = \"d\"\nindicator = \"lags\"\ncount = 1\ninput = \"depth_bid\"\nbps = 100\n",
    /// )?;
    /// let mut row = FeatureRow::new(&spec);
    /// let mut book = Book::new(10);
    /// book.update(BookSide::Bid, 99.0, 3.0);
    /// book.update(BookSide::Bid, 98.0, 1.0); // 2% below the mid of 100: beyond 100 bps
    /// book.update(BookSide::Ask, 101.0, 2.0);
    /// book.end_event();
    /// let ofi = book.take_ofi();
    /// row.update_book(1, &book, ofi);
    /// let mut out = [0.0; 2];
    /// row.write_into(&mut out);
    /// assert_eq!(out, [(4.0 - 2.0) / 6.0, 3.0]);
    /// # Ok::<(), zerotick_features::SpecError>(())
    /// ```
    #[inline]
    pub fn update_book(&mut self, ts_ns: u64, book: &zerotick_core::Book, ofi: f64) {
        for (k, (input, node)) in self.nodes.iter_mut().enumerate() {
            let Some(value) = input.book_value(book, ofi) else {
                continue;
            };
            let (a, b) = self.cols[k];
            let tick = Tick {
                ts_ns,
                ..Tick::default()
            };
            if node.update(Sample::at(ts_ns, value), &tick, &mut self.values[a..b]) {
                self.warm[k] = true;
            }
        }
    }

    /// True when every indicator has produced an output.
    pub fn is_warm(&self) -> bool {
        self.warm.iter().all(|&w| w)
    }

    /// Writes the row into `out[..min(out.len(), width)]`.
    #[inline]
    pub fn write_into(&self, out: &mut [f64]) {
        let n = out.len().min(self.values.len());
        out[..n].copy_from_slice(&self.values[..n]);
        for ((_, node), &(a, b)) in self.nodes.iter().zip(self.cols.iter()) {
            if let Node::Lags(x) = node
                && a < n
            {
                x.write_into(&mut out[a..b.min(n)]);
            }
        }
    }

    /// Back to the state after construction (storage kept).
    pub fn reset(&mut self) {
        for (_, node) in self.nodes.iter_mut() {
            match node {
                Node::Ema(x) => x.reset(),
                Node::Sma(x) => x.reset(),
                Node::Stats(x, _) => x.reset(),
                Node::Rsi(x) => x.reset(),
                Node::Macd(x) => x.reset(),
                Node::Bollinger(x) => x.reset(),
                Node::Vwap(x) => x.reset(),
                Node::RealizedVol(x) => x.reset(),
                Node::Flow(x) => x.reset(),
                Node::TrueRange(b, x) => {
                    b.reset();
                    x.reset();
                }
                Node::Atr(b, x) => {
                    b.reset();
                    x.reset();
                }
                Node::Lags(x) => x.reset(),
            }
        }
        self.values.fill(0.0);
        self.warm.fill(false);
        self.prev_log_price = None;
    }
}

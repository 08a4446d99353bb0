//! The feature specification: which indicators run on which inputs with which windows, the
//! row cadence, and which compute steps run, read from TOML ([`FeatureSpec::parse`]); and the
//! catalogue of indicators with their parameters ([`describe`]).
//!
//! The format, with every key (the crate's README has a commented example):
//!
//! | table | key | value |
//! |---|---|---|
//! | top level | `version` | optional, `1` |
//! | `[row]` | `every` | `64` (events of the symbol, 1 ..= 2^20) or a duration `"250ms"`; default 64. A symbol's events are its trades, and its book events when a feature reads the book ([`FeatureSpec::reads_book`]) |
//! | `[compute]` | `normalise`, `filter_bank`, `squash`, `readout` | booleans, default `true` |
//! | `[compute]` | `squash` | also `"rational"` (`true`: the `f64` rational `tanh`, relative error <= 4.5e-15) or `"f32"` (the rational function evaluated in single precision, <= 1.2e-6, faster) |
//! | `[compute]` | `projection` | `"none"`, `"fixed"` (the initial random projection) or `"pca"` (default) |
//! | `[[feature]]` | `name` | unique column name (letters, digits, `_`, `.`, `-`) |
//! | `[[feature]]` | `indicator` | one of [`describe`]'s names |
//! | `[[feature]]` | `input` | see [`Input`]; default `price` (`trades` for trade indicators) |
//! | `[[feature]]` | `levels`, `bps` | the input's parameters (`book_imbalance`: `levels`, default 1; `depth_bid`, `depth_ask`: `bps`, required), see [`describe_inputs`] |
//! | `[[feature]]` | other keys | the indicator's parameters, see [`describe`] |
//!
//! Every error is one line naming the line of the offending key or table
//! (`line 12: unknown indicator "emma" (known: ema, sma, ...)`).

use core::fmt;

use crate::window::Window;

mod catalogue;
mod parse;

pub use catalogue::{IndicatorInfo, InputInfo, ParamInfo, describe, describe_inputs};

/// Width of a row when no other limit is given: the pipeline's 1,024-column batch rows.
pub const DEFAULT_MAX_WIDTH: usize = 1024;
/// Column names a row sink writes besides the features' own: no feature may make one.
pub const RESERVED_COLUMNS: [&str; 3] = ["ts_ns", "symbol", "signal"];
/// Storage of a time window when the spec does not say (`capacity`).
pub const DEFAULT_TIME_CAPACITY: usize = 4096;
/// Largest `capacity` of a time window, and largest event window.
pub const MAX_WINDOW: usize = 1 << 20;
/// Largest row cadence in events.
pub const MAX_EVERY: u64 = 1 << 20;

/// A spec error: the 1-based line it was found on and what is wrong, displayed on one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// 1-based line in the spec text.
    pub line: usize,
    /// What is wrong (one line).
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for SpecError {}

/// When a symbol writes a feature row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cadence {
    /// Every `n` events of the symbol.
    Events(u64),
    /// Every `every_ns` of event time (of the symbol's events).
    Time {
        /// Interval in nanoseconds.
        every_ns: u64,
    },
}

/// The projection step of the compute stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Projection {
    /// No projection (and so no read-out).
    None,
    /// The initial random projection, never refreshed.
    Fixed,
    /// The random projection refreshed by periodic PCA.
    Pca,
}

/// Which compute steps run on each row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComputeSteps {
    /// Welford normalisation per column.
    pub normalise: bool,
    /// The FFT filter bank.
    pub filter_bank: bool,
    /// SIMD tanh squashing.
    pub squash: bool,
    /// Squash with the single-precision `tanh` (`squash = "f32"`) instead of the `f64`
    /// rational one; only read when `squash` is on.
    pub squash_f32: bool,
    /// Projection (and PCA refresh).
    pub projection: Projection,
    /// The linear read-out to one signal per row (needs a projection).
    pub readout: bool,
}

impl Default for ComputeSteps {
    /// Every step, with PCA.
    fn default() -> Self {
        ComputeSteps {
            normalise: true,
            filter_bank: true,
            squash: true,
            squash_f32: false,
            projection: Projection::Pca,
            readout: true,
        }
    }
}

/// What an indicator reads from each event.
///
/// Trade inputs are read from each trade of the symbol; book inputs from the symbol's order
/// book at the end of each of its book events (a quote, a depth message, a snapshot: see
/// [`FeatureRow::update_book`](crate::FeatureRow::update_book)). A book input with no value
/// at an event (a side of the book is empty) feeds its indicator nothing at that event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Input {
    /// Trade price.
    Price,
    /// Trade size.
    Size,
    /// `side.sign() * size`.
    SignedVolume,
    /// Log return of the trade price (`ln p_t - ln p_{t-1}`).
    Returns,
    /// Whole trades (price, size, side): VWAP, flow imbalance, bars.
    Trades,
    /// Book: best ask - best bid.
    Spread,
    /// Book: (best bid + best ask) / 2.
    Mid,
    /// Book: size-weighted mid (microprice).
    Microprice,
    /// Book: `(B - A) / (B + A)` over the quantity `B`, `A` of the top `levels` levels of
    /// each side (fewer where a side holds fewer); `levels = 1` is the top of book.
    BookImbalance {
        /// Levels per side, 1 ..= [`MAX_BOOK_LEVELS`].
        levels: u32,
    },
    /// Book: bid quantity priced within `bps` basis points of the mid.
    DepthBid {
        /// Distance from the mid in basis points, above 0 and at most 10,000.
        bps: f64,
    },
    /// Book: ask quantity priced within `bps` basis points of the mid.
    DepthAsk {
        /// Distance from the mid in basis points, above 0 and at most 10,000.
        bps: f64,
    },
    /// Book: order-flow imbalance of the event (Cont, Kukanov and Stoikov 2014): the change
    /// of the best levels since the symbol's previous book event, signed towards buying
    /// pressure ([`zerotick_core::Ofi`]).
    Ofi,
}

/// Most levels per side a `book_imbalance` input sums (the order book's largest depth).
pub const MAX_BOOK_LEVELS: u32 = zerotick_core::book::MAX_DEPTH as u32;

/// Every input, in [`Input::name`] order, with its parameters at their defaults (`levels =
/// 1`; `bps` has none: 10 stands in here).
pub const INPUTS: [Input; 12] = [
    Input::Price,
    Input::Size,
    Input::SignedVolume,
    Input::Returns,
    Input::Trades,
    Input::Spread,
    Input::Mid,
    Input::Microprice,
    Input::BookImbalance { levels: 1 },
    Input::DepthBid { bps: 10.0 },
    Input::DepthAsk { bps: 10.0 },
    Input::Ofi,
];

impl Input {
    /// The spec's name for this input (`input = "..."`).
    pub fn name(self) -> &'static str {
        match self {
            Input::Price => "price",
            Input::Size => "size",
            Input::SignedVolume => "signed_volume",
            Input::Returns => "returns",
            Input::Trades => "trades",
            Input::Spread => "spread",
            Input::Mid => "mid",
            Input::Microprice => "microprice",
            Input::BookImbalance { .. } => "book_imbalance",
            Input::DepthBid { .. } => "depth_bid",
            Input::DepthAsk { .. } => "depth_ask",
            Input::Ofi => "ofi",
        }
    }

    /// The input named `name`, its parameters at their defaults (see [`INPUTS`]).
    pub fn from_name(name: &str) -> Option<Input> {
        INPUTS.into_iter().find(|i| i.name() == name)
    }

    /// True for inputs computed from an order book (quotes and depth), not from trades.
    pub fn is_book(self) -> bool {
        matches!(
            self,
            Input::Spread
                | Input::Mid
                | Input::Microprice
                | Input::BookImbalance { .. }
                | Input::DepthBid { .. }
                | Input::DepthAsk { .. }
                | Input::Ofi
        )
    }

    /// True for one number per event (every input but [`Input::Trades`]).
    pub fn is_scalar(self) -> bool {
        self != Input::Trades
    }

    /// True for inputs that are prices (finite and positive): what log returns need.
    pub fn is_price(self) -> bool {
        matches!(self, Input::Price | Input::Mid | Input::Microprice)
    }

    /// The input's value for `book` at the end of a book event whose order-flow imbalance
    /// was `ofi`; `None` for trade inputs and where the book has no value (a side empty).
    #[inline]
    pub fn book_value(self, book: &zerotick_core::Book, ofi: f64) -> Option<f64> {
        match self {
            Input::Spread => book.spread(),
            Input::Mid => book.mid(),
            Input::Microprice => book.microprice(),
            Input::BookImbalance { levels } => book.imbalance(levels as usize),
            Input::DepthBid { bps } => book.depth_within_bps(bps).map(|d| d.bid),
            Input::DepthAsk { bps } => book.depth_within_bps(bps).map(|d| d.ask),
            Input::Ofi => Some(ofi),
            Input::Price | Input::Size | Input::SignedVolume | Input::Returns | Input::Trades => {
                None
            }
        }
    }
}

/// How bars are cut, for bar indicators (`bar = { time = "1s" }`, `{ ticks = 100 }`,
/// `{ volume = 5000.0 }`).
pub type BarSpec = crate::BarKind;

/// One indicator with its parameters, as the spec gave them (defaults filled in).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum IndicatorSpec {
    /// [`crate::Ema`] of span `period`.
    Ema {
        /// Span in events.
        period: usize,
    },
    /// [`crate::Sma`].
    Sma {
        /// Window.
        window: Window,
        /// Storage of a time window.
        capacity: usize,
    },
    /// Rolling mean ([`crate::RollingStats`]).
    Mean {
        /// Window.
        window: Window,
        /// Storage of a time window.
        capacity: usize,
    },
    /// Rolling variance ([`crate::RollingStats`]).
    Variance {
        /// Window.
        window: Window,
        /// Storage of a time window.
        capacity: usize,
        /// 0: population, 1: sample.
        ddof: u8,
    },
    /// Rolling standard deviation ([`crate::RollingStats`]).
    Std {
        /// Window.
        window: Window,
        /// Storage of a time window.
        capacity: usize,
        /// 0: population, 1: sample.
        ddof: u8,
    },
    /// [`crate::Rsi`].
    Rsi {
        /// Changes.
        period: usize,
    },
    /// [`crate::Macd`].
    Macd {
        /// Fast span.
        fast: usize,
        /// Slow span.
        slow: usize,
        /// Signal span.
        signal: usize,
    },
    /// [`crate::Bollinger`].
    Bollinger {
        /// Window.
        window: Window,
        /// Storage of a time window.
        capacity: usize,
        /// Band width in standard deviations.
        k: f64,
    },
    /// [`crate::Vwap`].
    Vwap {
        /// Window.
        window: Window,
        /// Storage of a time window.
        capacity: usize,
    },
    /// [`crate::RealizedVol`].
    RealizedVol {
        /// Window of returns.
        window: Window,
        /// Storage of a time window.
        capacity: usize,
        /// Annualised (time windows only).
        annualise: bool,
    },
    /// [`crate::FlowImbalance`].
    FlowImbalance {
        /// Window.
        window: Window,
        /// Storage of a time window.
        capacity: usize,
    },
    /// [`crate::TrueRange`] over bars.
    TrueRange {
        /// How bars are cut.
        bar: BarSpec,
    },
    /// [`crate::Atr`] over bars.
    Atr {
        /// Bars.
        period: usize,
        /// How bars are cut.
        bar: BarSpec,
    },
    /// [`crate::Lags`]: the last `count` values.
    Lags {
        /// Number of values (columns).
        count: usize,
    },
}

impl IndicatorSpec {
    /// Suffixes of the indicator's columns (`""` for a single column).
    fn suffixes(&self) -> &'static [&'static str] {
        match self {
            IndicatorSpec::Macd { .. } => &["line", "signal", "histogram"],
            IndicatorSpec::Bollinger { .. } => &["lower", "middle", "upper"],
            _ => &[""],
        }
    }

    /// Number of columns the indicator writes.
    pub fn width(&self) -> usize {
        match self {
            IndicatorSpec::Lags { count } => *count,
            other => other.suffixes().len(),
        }
    }
}

/// One `[[feature]]`: a named indicator on an input.
#[derive(Debug, Clone, PartialEq)]
pub struct Feature {
    /// Column name (or prefix, for several columns).
    pub name: String,
    /// What the indicator reads.
    pub input: Input,
    /// The indicator and its parameters.
    pub indicator: IndicatorSpec,
    /// 1-based line of its `[[feature]]` header, for later messages.
    pub line: usize,
}

impl Feature {
    /// Number of columns.
    pub fn width(&self) -> usize {
        self.indicator.width()
    }

    /// Its column names: `name` for one column, `name.suffix` for several (`macd.signal`),
    /// `name.k` for lags (`k` = 0 the newest).
    pub fn column_names(&self) -> impl Iterator<Item = String> + '_ {
        let lags = match self.indicator {
            IndicatorSpec::Lags { count } => count,
            _ => 0,
        };
        let named = self.indicator.suffixes().iter().filter(move |_| lags == 0);
        let named = named.map(|s| {
            if s.is_empty() {
                self.name.clone()
            } else {
                format!("{}.{s}", self.name)
            }
        });
        named.chain((0..lags).map(|k| format!("{}.{k}", self.name)))
    }
}

/// A parsed, validated feature specification.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureSpec {
    /// When rows are written.
    pub row: Cadence,
    /// Which compute steps run.
    pub compute: ComputeSteps,
    /// The features, in column order.
    pub features: Vec<Feature>,
}

impl FeatureSpec {
    /// Parses and validates a TOML spec with rows at most [`DEFAULT_MAX_WIDTH`] wide.
    ///
    /// ```
    /// use zerotick_features::FeatureSpec;
    /// let spec = FeatureSpec::parse(
    ///     "[row]\nevery = \"250ms\"\n\n[[feature]]\nname = \"ema\"\nindicator = \"ema\"\nperiod = 12\n",
    /// )?;
    /// assert_eq!(spec.width(), 1);
    /// let err = FeatureSpec::parse("[[feature]]\nname = \"x\"\nindicator = \"emma\"\n").unwrap_err();
    /// assert_eq!(err.line, 3);
    /// # Ok::<(), zerotick_features::SpecError>(())
    /// ```
    ///
    /// # Errors
    /// [`SpecError`] naming the line: TOML syntax, unknown tables, keys, indicators, inputs
    /// or compute steps, bad windows or values, duplicate feature or column names (a `macd`
    /// makes `macd.line`: no other feature may be named so), a column named as one of
    /// [`RESERVED_COLUMNS`], a row wider than the limit.
    pub fn parse(text: &str) -> Result<FeatureSpec, SpecError> {
        FeatureSpec::parse_with_max_width(text, DEFAULT_MAX_WIDTH)
    }

    /// As [`parse`](FeatureSpec::parse), with rows at most `max_width` columns.
    ///
    /// # Errors
    /// As [`parse`](FeatureSpec::parse).
    pub fn parse_with_max_width(text: &str, max_width: usize) -> Result<FeatureSpec, SpecError> {
        parse::Parser { text }.spec(max_width)
    }

    /// Total number of columns of a row.
    pub fn width(&self) -> usize {
        self.features.iter().map(Feature::width).sum()
    }

    /// Whether any feature reads the order book ([`Input::is_book`]): then the symbol's book
    /// events feed the row and count towards an event cadence.
    pub fn reads_book(&self) -> bool {
        self.features.iter().any(|f| f.input.is_book())
    }

    /// Every column name, in row order.
    pub fn column_names(&self) -> Vec<String> {
        self.features
            .iter()
            .flat_map(Feature::column_names)
            .collect()
    }
}

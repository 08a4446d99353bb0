//! The feature specification: which indicators run on which inputs with which windows, the
//! row cadence, and which compute steps run, read from TOML ([`FeatureSpec::parse`]); and the
//! catalogue of indicators with their parameters ([`describe`]).
//!
//! The format, with every key (the crate's README has a commented example):
//!
//! | table | key | value |
//! |---|---|---|
//! | top level | `version` | optional, `1` |
//! | `[row]` | `every` | `64` (events of the symbol, 1 ..= 2^20) or a duration `"250ms"`; default 64 |
//! | `[compute]` | `normalise`, `filter_bank`, `squash`, `readout` | booleans, default `true` |
//! | `[compute]` | `projection` | `"none"`, `"fixed"` (the initial random projection) or `"pca"` (default) |
//! | `[[feature]]` | `name` | unique column name (letters, digits, `_`, `.`, `-`) |
//! | `[[feature]]` | `indicator` | one of [`describe`]'s names |
//! | `[[feature]]` | `input` | see [`Input`]; default `price` (`trades` for trade indicators) |
//! | `[[feature]]` | other keys | the indicator's parameters, see [`describe`] |
//!
//! Every error is one line naming the line of the offending key or table
//! (`line 12: unknown indicator "emma" (known: ema, sma, ...)`).

use core::fmt;

use crate::window::Window;

mod catalogue;
mod parse;

pub use catalogue::{IndicatorInfo, ParamInfo, describe};

/// Width of a row when no other limit is given: the pipeline's 1,024-column batch rows.
pub const DEFAULT_MAX_WIDTH: usize = 1024;
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
            projection: Projection::Pca,
            readout: true,
        }
    }
}

/// What an indicator reads from each event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    /// Book: top-of-book size imbalance.
    BookImbalance,
}

/// Every input, in [`Input::name`] order.
pub const INPUTS: [Input; 9] = [
    Input::Price,
    Input::Size,
    Input::SignedVolume,
    Input::Returns,
    Input::Trades,
    Input::Spread,
    Input::Mid,
    Input::Microprice,
    Input::BookImbalance,
];

impl Input {
    /// The spec's name for this input.
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
            Input::BookImbalance => "book_imbalance",
        }
    }

    /// The input named `name`.
    pub fn from_name(name: &str) -> Option<Input> {
        INPUTS.into_iter().find(|i| i.name() == name)
    }

    /// True for inputs computed from an order book (quotes and depth), not from trades.
    pub fn is_book(self) -> bool {
        matches!(
            self,
            Input::Spread | Input::Mid | Input::Microprice | Input::BookImbalance
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
    /// or compute steps, bad windows or values, duplicate names, a row wider than the limit.
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

    /// Every column name, in row order.
    pub fn column_names(&self) -> Vec<String> {
        self.features
            .iter()
            .flat_map(Feature::column_names)
            .collect()
    }
}

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
use core::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::window::{Window, parse_duration_ns};

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
        Parser { text }.spec(max_width)
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

/// One parameter of an indicator, for [`describe`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamInfo {
    /// Key in the `[[feature]]` table.
    pub name: &'static str,
    /// Default value as written in TOML; `None` when required.
    pub default: Option<&'static str>,
    /// What it means.
    pub doc: &'static str,
}

/// One indicator of the catalogue, for [`describe`] and `zerotick features --list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndicatorInfo {
    /// Its `indicator = "..."` name.
    pub name: &'static str,
    /// What it computes.
    pub summary: &'static str,
    /// Which inputs it accepts.
    pub inputs: &'static str,
    /// Its parameters.
    pub params: &'static [ParamInfo],
    /// Its columns' suffixes (one empty suffix: one column named after the feature).
    pub outputs: &'static [&'static str],
}

impl fmt::Display for IndicatorInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} [inputs: {}]",
            self.name, self.summary, self.inputs
        )?;
        for p in self.params {
            match p.default {
                Some(d) => write!(f, "\n    {} = {} (default): {}", p.name, d, p.doc)?,
                None => write!(f, "\n    {} (required): {}", p.name, p.doc)?,
            }
        }
        if self.outputs != [""] {
            write!(f, "\n    columns: {}", self.outputs.join(", "))?;
        }
        Ok(())
    }
}

const WINDOW: ParamInfo = ParamInfo {
    name: "window",
    default: None,
    doc: "events (\"64\" or 64) or event time (\"5s\", \"250ms\")",
};
const CAPACITY: ParamInfo = ParamInfo {
    name: "capacity",
    default: Some("4096"),
    doc: "values a time window can hold (overflow evicts early, counted); time windows only",
};
const DDOF: ParamInfo = ParamInfo {
    name: "ddof",
    default: Some("0"),
    doc: "0: population, 1: sample",
};
const BAR: ParamInfo = ParamInfo {
    name: "bar",
    default: None,
    doc: "{ time = \"1s\" } | { ticks = 100 } | { volume = 5000.0 }",
};
const SCALAR: &str = "price, size, signed_volume, returns, spread, mid, microprice, book_imbalance";

const CATALOGUE: &[IndicatorInfo] = &[
    IndicatorInfo {
        name: "ema",
        summary: "exponential moving average, alpha = 2 / (period + 1), seeded with the first value",
        inputs: SCALAR,
        params: &[ParamInfo {
            name: "period",
            default: None,
            doc: "span in events",
        }],
        outputs: &[""],
    },
    IndicatorInfo {
        name: "sma",
        summary: "simple moving average",
        inputs: SCALAR,
        params: &[WINDOW, CAPACITY],
        outputs: &[""],
    },
    IndicatorInfo {
        name: "mean",
        summary: "rolling mean",
        inputs: SCALAR,
        params: &[WINDOW, CAPACITY],
        outputs: &[""],
    },
    IndicatorInfo {
        name: "variance",
        summary: "rolling variance",
        inputs: SCALAR,
        params: &[WINDOW, CAPACITY, DDOF],
        outputs: &[""],
    },
    IndicatorInfo {
        name: "std",
        summary: "rolling standard deviation",
        inputs: SCALAR,
        params: &[WINDOW, CAPACITY, DDOF],
        outputs: &[""],
    },
    IndicatorInfo {
        name: "rsi",
        summary: "relative strength index, Wilder smoothing, 0..100",
        inputs: SCALAR,
        params: &[ParamInfo {
            name: "period",
            default: Some("14"),
            doc: "changes",
        }],
        outputs: &[""],
    },
    IndicatorInfo {
        name: "macd",
        summary: "MACD line (fast EMA - slow EMA), its signal EMA, histogram",
        inputs: SCALAR,
        params: &[
            ParamInfo {
                name: "fast",
                default: Some("12"),
                doc: "fast EMA span",
            },
            ParamInfo {
                name: "slow",
                default: Some("26"),
                doc: "slow EMA span",
            },
            ParamInfo {
                name: "signal",
                default: Some("9"),
                doc: "signal EMA span",
            },
        ],
        outputs: &["line", "signal", "histogram"],
    },
    IndicatorInfo {
        name: "bollinger",
        summary: "rolling mean -/+ k population standard deviations",
        inputs: SCALAR,
        params: &[
            WINDOW,
            CAPACITY,
            ParamInfo {
                name: "k",
                default: Some("2.0"),
                doc: "band width in deviations",
            },
        ],
        outputs: &["lower", "middle", "upper"],
    },
    IndicatorInfo {
        name: "vwap",
        summary: "rolling volume-weighted average price",
        inputs: "trades",
        params: &[WINDOW, CAPACITY],
        outputs: &[""],
    },
    IndicatorInfo {
        name: "realized_vol",
        summary: "sqrt of the sum of squared log returns over the window",
        inputs: "price, mid, microprice",
        params: &[
            WINDOW,
            CAPACITY,
            ParamInfo {
                name: "annualise",
                default: Some("false"),
                doc: "scale to a 365.25-day year (time windows only)",
            },
        ],
        outputs: &[""],
    },
    IndicatorInfo {
        name: "flow_imbalance",
        summary: "signed volume / volume over the window, -1..1",
        inputs: "trades",
        params: &[WINDOW, CAPACITY],
        outputs: &[""],
    },
    IndicatorInfo {
        name: "true_range",
        summary: "true range of the last completed bar",
        inputs: "trades",
        params: &[BAR],
        outputs: &[""],
    },
    IndicatorInfo {
        name: "atr",
        summary: "average true range, Wilder smoothing, over completed bars",
        inputs: "trades",
        params: &[
            ParamInfo {
                name: "period",
                default: Some("14"),
                doc: "bars",
            },
            BAR,
        ],
        outputs: &[""],
    },
    IndicatorInfo {
        name: "lags",
        summary: "the last `count` values, newest first (one column each)",
        inputs: SCALAR,
        params: &[ParamInfo {
            name: "count",
            default: None,
            doc: "values (columns)",
        }],
        outputs: &["0", "1", "..."],
    },
];

/// Every indicator a spec can name, with its parameters: what `zerotick features --list`
/// prints.
///
/// ```
/// let list = zerotick_features::spec::describe();
/// let macd = list.iter().find(|i| i.name == "macd").unwrap();
/// assert_eq!(macd.params.len(), 3);
/// assert!(macd.to_string().contains("slow = 26 (default)"));
/// ```
pub fn describe() -> &'static [IndicatorInfo] {
    CATALOGUE
}

/// A table with the spans that locate its keys.
type Table<'i> = DeTable<'i>;
type Value<'i> = Spanned<DeValue<'i>>;

struct Parser<'t> {
    text: &'t str,
}

impl Parser<'_> {
    fn line(&self, span: Range<usize>) -> usize {
        let end = span.start.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    fn err(&self, span: Range<usize>, message: impl Into<String>) -> SpecError {
        SpecError {
            line: self.line(span),
            message: message.into(),
        }
    }

    fn spec(&self, max_width: usize) -> Result<FeatureSpec, SpecError> {
        let doc = DeTable::parse(self.text).map_err(|e| {
            let line = e.span().map_or(1, |s| self.line(s));
            let message = e.message().lines().next().unwrap_or("").trim().to_owned();
            SpecError {
                line,
                message: format!("TOML syntax: {message}"),
            }
        })?;
        let top = doc.get_ref();
        self.known_keys(top, &["version", "row", "compute", "feature"], "the spec")?;
        if let Some(v) = top.get("version")
            && self.integer(v, "version")? != 1
        {
            return Err(self.err(v.span(), "version must be 1"));
        }
        let row = match top.get("row") {
            Some(v) => self.row(v)?,
            None => Cadence::Events(64),
        };
        let compute = match top.get("compute") {
            Some(v) => self.compute(v)?,
            None => ComputeSteps::default(),
        };
        let Some(list) = top.get("feature") else {
            return Err(self.err(0..0, "the spec has no [[feature]]"));
        };
        let DeValue::Array(items) = list.get_ref() else {
            return Err(self.err(
                list.span(),
                "feature must be an array of tables ([[feature]])",
            ));
        };
        let mut features: Vec<Feature> = Vec::with_capacity(items.len());
        let mut width = 0usize;
        for item in items.iter() {
            let f = self.feature(item)?;
            if let Some(prev) = features.iter().find(|p| p.name == f.name) {
                return Err(SpecError {
                    line: f.line,
                    message: format!(
                        "duplicate feature name {:?} (first on line {})",
                        f.name, prev.line
                    ),
                });
            }
            width += f.width();
            if width > max_width {
                return Err(SpecError {
                    line: f.line,
                    message: format!(
                        "feature {:?} brings the row to {width} columns, beyond the maximum of {max_width}",
                        f.name
                    ),
                });
            }
            features.push(f);
        }
        if features.is_empty() {
            return Err(self.err(list.span(), "the spec has no [[feature]]"));
        }
        Ok(FeatureSpec {
            row,
            compute,
            features,
        })
    }

    /// Fails on the first key (in file order) of `table` not in `known`.
    fn known_keys(&self, table: &Table<'_>, known: &[&str], what: &str) -> Result<(), SpecError> {
        let unknown = table
            .iter()
            .filter(|(k, _)| !known.contains(&k.get_ref().as_ref()))
            .min_by_key(|(k, _)| k.span().start);
        match unknown {
            Some((k, _)) => Err(self.err(
                k.span(),
                format!(
                    "unknown key {:?} in {what} (known: {})",
                    k.get_ref(),
                    known.join(", ")
                ),
            )),
            None => Ok(()),
        }
    }

    fn table<'a, 'i>(&self, v: &'a Value<'i>, what: &str) -> Result<&'a Table<'i>, SpecError> {
        match v.get_ref() {
            DeValue::Table(t) => Ok(t),
            other => Err(self.err(
                v.span(),
                format!("{what} must be a table, not a {}", other.type_str()),
            )),
        }
    }

    fn integer(&self, v: &Value<'_>, key: &str) -> Result<i64, SpecError> {
        match v.get_ref() {
            DeValue::Integer(i) => {
                let digits: String = i.as_str().chars().filter(|&c| c != '_').collect();
                i64::from_str_radix(&digits, i.radix()).map_err(|_| {
                    self.err(v.span(), format!("{key} {digits} does not fit in 64 bits"))
                })
            }
            other => Err(self.err(
                v.span(),
                format!("{key} must be an integer, not a {}", other.type_str()),
            )),
        }
    }

    fn count(&self, v: &Value<'_>, key: &str, max: u64) -> Result<u64, SpecError> {
        let n = self.integer(v, key)?;
        if n < 1 || n as u64 > max {
            return Err(self.err(
                v.span(),
                format!("{key} is {n}; it must be between 1 and {max}"),
            ));
        }
        Ok(n as u64)
    }

    fn float(&self, v: &Value<'_>, key: &str) -> Result<f64, SpecError> {
        let x = match v.get_ref() {
            DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
            DeValue::Integer(_) => Some(self.integer(v, key)? as f64),
            other => {
                return Err(self.err(
                    v.span(),
                    format!("{key} must be a number, not a {}", other.type_str()),
                ));
            }
        };
        match x {
            Some(x) if x.is_finite() => Ok(x),
            _ => Err(self.err(v.span(), format!("{key} must be a finite number"))),
        }
    }

    fn boolean(&self, v: &Value<'_>, key: &str) -> Result<bool, SpecError> {
        v.get_ref()
            .as_bool()
            .ok_or_else(|| self.err(v.span(), format!("{key} must be true or false")))
    }

    fn string<'a>(&self, v: &'a Value<'_>, key: &str) -> Result<&'a str, SpecError> {
        v.get_ref()
            .as_str()
            .ok_or_else(|| self.err(v.span(), format!("{key} must be a string")))
    }

    fn row(&self, v: &Value<'_>) -> Result<Cadence, SpecError> {
        let t = self.table(v, "row")?;
        self.known_keys(t, &["every"], "[row]")?;
        let Some(every) = t.get("every") else {
            return Ok(Cadence::Events(64));
        };
        if let DeValue::Integer(_) = every.get_ref() {
            return Ok(Cadence::Events(self.count(every, "every", MAX_EVERY)?));
        }
        let s = self.string(every, "every")?;
        match Window::parse(s) {
            Ok(Window::Events(n)) if n as u64 <= MAX_EVERY => Ok(Cadence::Events(n as u64)),
            Ok(Window::Events(n)) => Err(self.err(
                every.span(),
                format!("every is {n}; it must be between 1 and {MAX_EVERY}"),
            )),
            Ok(Window::Time { span_ns }) => Ok(Cadence::Time { every_ns: span_ns }),
            Err(e) => Err(self.err(every.span(), format!("every: {e}"))),
        }
    }

    fn compute(&self, v: &Value<'_>) -> Result<ComputeSteps, SpecError> {
        let t = self.table(v, "compute")?;
        let keys = [
            "normalise",
            "filter_bank",
            "squash",
            "projection",
            "readout",
        ];
        self.known_keys(t, &keys, "[compute]")?;
        let mut c = ComputeSteps::default();
        for (key, flag) in [
            ("normalise", &mut c.normalise),
            ("filter_bank", &mut c.filter_bank),
            ("squash", &mut c.squash),
            ("readout", &mut c.readout),
        ] {
            if let Some(v) = t.get(key) {
                *flag = self.boolean(v, key)?;
            }
        }
        if let Some(v) = t.get("projection") {
            c.projection = match self.string(v, "projection")? {
                "none" => Projection::None,
                "fixed" => Projection::Fixed,
                "pca" => Projection::Pca,
                other => {
                    return Err(self.err(
                        v.span(),
                        format!("unknown projection {other:?} (known: none, fixed, pca)"),
                    ));
                }
            };
        }
        if c.readout && c.projection == Projection::None {
            let span = t
                .get("readout")
                .or(t.get("projection"))
                .map_or(v.span(), Spanned::span);
            return Err(self.err(span, "readout needs a projection (set projection = \"fixed\" or \"pca\", or readout = false)"));
        }
        Ok(c)
    }

    fn feature(&self, item: &Value<'_>) -> Result<Feature, SpecError> {
        let t = self.table(item, "each [[feature]]")?;
        let line = self.line(item.span());
        let required = |key: &str| {
            t.get(key).ok_or_else(|| SpecError {
                line,
                message: format!("[[feature]] without {key}"),
            })
        };
        let name_v = required("name")?;
        let name = self.string(name_v, "name")?;
        let name_ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-');
        if name.is_empty() || !name.chars().all(name_ok) {
            return Err(self.err(
                name_v.span(),
                format!("name {name:?} must be letters, digits, '_', '.' or '-'"),
            ));
        }
        let ind_v = required("indicator")?;
        let ind = self.string(ind_v, "indicator")?;
        let Some(info) = CATALOGUE.iter().find(|i| i.name == ind) else {
            let known: Vec<&str> = CATALOGUE.iter().map(|i| i.name).collect();
            return Err(self.err(
                ind_v.span(),
                format!("unknown indicator {ind:?} (known: {})", known.join(", ")),
            ));
        };
        let mut keys = vec!["name", "indicator", "input"];
        keys.extend(info.params.iter().map(|p| p.name));
        self.known_keys(t, &keys, &format!("a {ind} feature"))?;
        let input = self.input(t, info, line)?;
        let indicator = self.params(t, info, line)?;
        if let IndicatorSpec::RealizedVol {
            annualise: true,
            window: Window::Events(_),
            ..
        } = indicator
        {
            let span = t.get("annualise").map_or(item.span(), Spanned::span);
            return Err(self.err(
                span,
                "annualise needs a time window (\"5s\"): an event window has no duration",
            ));
        }
        Ok(Feature {
            name: name.to_owned(),
            input,
            indicator,
            line,
        })
    }

    fn input(&self, t: &Table<'_>, info: &IndicatorInfo, line: usize) -> Result<Input, SpecError> {
        let trades = info.inputs == "trades";
        let Some(v) = t.get("input") else {
            return Ok(if trades { Input::Trades } else { Input::Price });
        };
        let s = self.string(v, "input")?;
        let Some(input) = Input::from_name(s) else {
            let known: Vec<&str> = INPUTS.iter().map(|i| i.name()).collect();
            return Err(self.err(
                v.span(),
                format!("unknown input {s:?} (known: {})", known.join(", ")),
            ));
        };
        let ok = if trades {
            input == Input::Trades
        } else if info.name == "realized_vol" {
            input.is_price()
        } else {
            input.is_scalar()
        };
        if !ok {
            return Err(SpecError {
                line: self.line(v.span()).max(line),
                message: format!(
                    "{} does not read {s:?} (inputs: {})",
                    info.name, info.inputs
                ),
            });
        }
        Ok(input)
    }

    fn params(
        &self,
        t: &Table<'_>,
        info: &IndicatorInfo,
        line: usize,
    ) -> Result<IndicatorSpec, SpecError> {
        let missing = |key: &str| SpecError {
            line,
            message: format!("{} needs {key}", info.name),
        };
        let usize_or = |key: &str, default: usize| -> Result<usize, SpecError> {
            match t.get(key) {
                Some(v) => Ok(self.count(v, key, MAX_WINDOW as u64)? as usize),
                None if default > 0 => Ok(default),
                None => Err(missing(key)),
            }
        };
        let window = || -> Result<(Window, usize), SpecError> {
            let v = t.get("window").ok_or_else(|| missing("window"))?;
            let w = match v.get_ref() {
                DeValue::Integer(_) => {
                    Window::Events(self.count(v, "window", MAX_WINDOW as u64)? as usize)
                }
                _ => Window::parse(self.string(v, "window")?)
                    .map_err(|e| self.err(v.span(), format!("window: {e}")))?,
            };
            if let Window::Events(n) = w {
                if n > MAX_WINDOW {
                    return Err(self.err(
                        v.span(),
                        format!("window is {n} events; at most {MAX_WINDOW}"),
                    ));
                }
                if let Some(c) = t.get("capacity") {
                    return Err(self.err(c.span(), "capacity applies to time windows only (an event window holds its n events)"));
                }
            }
            Ok((w, usize_or("capacity", DEFAULT_TIME_CAPACITY)?))
        };
        let ddof = || -> Result<u8, SpecError> {
            match t.get("ddof") {
                None => Ok(0),
                Some(v) => match self.integer(v, "ddof")? {
                    0 => Ok(0),
                    1 => Ok(1),
                    n => Err(self.err(v.span(), format!("ddof is {n}; it must be 0 or 1"))),
                },
            }
        };
        Ok(match info.name {
            "ema" => IndicatorSpec::Ema {
                period: usize_or("period", 0)?,
            },
            "sma" => {
                let (window, capacity) = window()?;
                IndicatorSpec::Sma { window, capacity }
            }
            "mean" => {
                let (window, capacity) = window()?;
                IndicatorSpec::Mean { window, capacity }
            }
            "variance" => {
                let (window, capacity) = window()?;
                IndicatorSpec::Variance {
                    window,
                    capacity,
                    ddof: ddof()?,
                }
            }
            "std" => {
                let (window, capacity) = window()?;
                IndicatorSpec::Std {
                    window,
                    capacity,
                    ddof: ddof()?,
                }
            }
            "rsi" => IndicatorSpec::Rsi {
                period: usize_or("period", 14)?,
            },
            "macd" => IndicatorSpec::Macd {
                fast: usize_or("fast", 12)?,
                slow: usize_or("slow", 26)?,
                signal: usize_or("signal", 9)?,
            },
            "bollinger" => {
                let (window, capacity) = window()?;
                let k = match t.get("k") {
                    Some(v) => self.float(v, "k")?,
                    None => 2.0,
                };
                IndicatorSpec::Bollinger {
                    window,
                    capacity,
                    k,
                }
            }
            "vwap" => {
                let (window, capacity) = window()?;
                IndicatorSpec::Vwap { window, capacity }
            }
            "realized_vol" => {
                let (window, capacity) = window()?;
                let annualise = match t.get("annualise") {
                    Some(v) => self.boolean(v, "annualise")?,
                    None => false,
                };
                IndicatorSpec::RealizedVol {
                    window,
                    capacity,
                    annualise,
                }
            }
            "flow_imbalance" => {
                let (window, capacity) = window()?;
                IndicatorSpec::FlowImbalance { window, capacity }
            }
            "true_range" => IndicatorSpec::TrueRange {
                bar: self.bar(t, line)?,
            },
            "atr" => IndicatorSpec::Atr {
                period: usize_or("period", 14)?,
                bar: self.bar(t, line)?,
            },
            "lags" => IndicatorSpec::Lags {
                count: usize_or("count", 0)?,
            },
            other => {
                // Every catalogue name has an arm above (the tests parse each one).
                return Err(SpecError {
                    line,
                    message: format!("indicator {other:?} has no parameter reader"),
                });
            }
        })
    }

    fn bar(&self, t: &Table<'_>, line: usize) -> Result<BarSpec, SpecError> {
        let v = t.get("bar").ok_or_else(|| SpecError {
            line,
            message: "bar indicators need bar = { time = \"1s\" } | { ticks = 100 } | { volume = 5000.0 }".into(),
        })?;
        let b = self.table(v, "bar")?;
        self.known_keys(b, &["time", "ticks", "volume"], "bar")?;
        if b.len() != 1 {
            return Err(self.err(v.span(), "bar needs exactly one of time, ticks, volume"));
        }
        if let Some(x) = b.get("time") {
            let ns = parse_duration_ns(self.string(x, "time")?)
                .map_err(|e| self.err(x.span(), format!("bar time: {e}")))?;
            return Ok(BarSpec::Time { period_ns: ns });
        }
        if let Some(x) = b.get("ticks") {
            return Ok(BarSpec::Ticks(self.count(x, "ticks", MAX_WINDOW as u64)?));
        }
        let x = b
            .get("volume")
            .ok_or_else(|| self.err(v.span(), "bar needs time, ticks or volume"))?;
        let vol = self.float(x, "volume")?;
        if vol <= 0.0 {
            return Err(self.err(x.span(), "bar volume must be positive"));
        }
        Ok(BarSpec::Volume(vol))
    }
}

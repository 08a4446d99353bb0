#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

pub mod bars;
pub mod flow;
pub mod ma;
pub mod momentum;
pub mod row;
pub mod spec;
pub mod window;

pub use bars::{Atr, Bar, BarBuilder, BarKind, TrueRange};
pub use flow::{FlowImbalance, Lags, RealizedVol, Vwap};
pub use ma::{Bands, Bollinger, Ema, Macd, MacdOutput, RollingStats, RollingStatsOutput, Sma};
pub use momentum::Rsi;
pub use row::FeatureRow;
pub use spec::{FeatureSpec, SpecError};

pub use window::{Window, WindowError};
pub use zerotick_core::{Side, Tick};

/// A streaming indicator: one input per call, constant work, no allocation.
///
/// Every implementation in this crate:
/// * returns `None` until it is warm (each type documents its warm-up rule), then `Some` on
///   every accepted update;
/// * ignores an input it cannot use (a non-finite value, a non-positive price, a negative
///   size), leaves its state unchanged, counts it in [`rejected`](Indicator::rejected) and
///   returns `None`, so one bad value never poisons the state;
/// * allocates only in its constructor.
///
/// Generic code over `I: Indicator` is monomorphised; there are no trait objects on the
/// update path.
pub trait Indicator {
    /// What one update consumes.
    type Input;
    /// What a warm indicator returns.
    type Output;
    /// Consumes one input; `Some` once warm (see the type's docs).
    fn update(&mut self, input: Self::Input) -> Option<Self::Output>;
    /// Back to the state just after construction (preallocated storage kept; the
    /// [`rejected`](Indicator::rejected) count is kept too).
    fn reset(&mut self);
    /// Inputs ignored as unusable since construction.
    fn rejected(&self) -> u64;
}

/// One value at one event time: the input of the scalar indicators.
///
/// Indicators whose windows count events ignore `ts_ns`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Sample {
    /// Event time, nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// The value.
    pub value: f64,
}

impl Sample {
    /// `value` at `ts_ns`.
    #[inline]
    pub fn at(ts_ns: u64, value: f64) -> Sample {
        Sample { ts_ns, value }
    }
}

impl From<f64> for Sample {
    /// A value at time 0 (for event-count windows, where time is not read).
    #[inline]
    fn from(value: f64) -> Sample {
        Sample { ts_ns: 0, value }
    }
}

//! Where a run's feature rows come from and what goes to the sink: the built-in
//! [`FeatureStage`] (the default) or a user's feature spec ([`SpecStage`], `zerotick run
//! --features FILE`), and [`Emit`] (`--emit signals|features|both`).
//!
//! A spec's row is at most [`WIDTH`] columns; the pooled batches stay [`WIDTH`] wide, so a
//! narrower row is written into the first `spec.width()` columns of its batch row and the
//! rest is set to 0. The compute stage sees the padded row: zero columns stay 0 through
//! normalisation (no variance), squashing and the projection, so they add nothing to the
//! signal. The filter bank, when a spec turns it on, filters columns `0..512` as one series
//! (in the built-in row: the return window), whatever the spec put there: put a `lags`
//! feature of 512 `returns` first to get the built-in meaning.
//!
//! ```
//! use zerotick_pipeline::rows::SpecSettings;
//! let text = "[compute]\nprojection = \"fixed\"\n\n[[feature]]\nname = \"ema\"\nindicator = \"ema\"\nperiod = 8\n";
//! let s = SpecSettings::parse(text)?;
//! assert_eq!(s.spec.width(), 1);
//! assert!(s.steps.read_out);
//! assert_eq!(s.pca, false); // "fixed": the initial projection, never refreshed
//! let bad = SpecSettings::parse(&text.replace("\"fixed\"", "\"fixed\"\nreadout = false"));
//! assert_eq!(bad.unwrap_err().line, 3);
//! # Ok::<(), zerotick_features::SpecError>(())
//! ```

use std::sync::Arc;

use zerotick_core::{Book, Tick};
use zerotick_features::spec::{Cadence, Projection};
use zerotick_features::{FeatureRow, FeatureSpec, SpecError};

use crate::PipelineError;
use crate::checkpoint::{CheckpointError, Reader};
use crate::compute::Steps;
use crate::features::{FeatureStage, WIDTH};

/// What a run hands to its sink (`--emit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Emit {
    /// One [`Signal`](zerotick_core::Signal) per row ([`Sink::emit`](zerotick_core::Sink::emit)),
    /// the default.
    #[default]
    Signals,
    /// Each row's feature values as the feature stage wrote them, before the compute stage
    /// ([`Sink::emit_row`](zerotick_core::Sink::emit_row) without a signal).
    Features,
    /// Both, one record per row ([`Sink::emit_row`](zerotick_core::Sink::emit_row) with its
    /// signal).
    Both,
}

impl Emit {
    /// Whether feature values go to the sink.
    pub fn features(self) -> bool {
        self != Emit::Signals
    }

    /// Whether signals go to the sink.
    pub fn signals(self) -> bool {
        self != Emit::Features
    }
}

/// A parsed spec with what it asks of the compute stage.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecSettings {
    /// The features and the row cadence.
    pub spec: Arc<FeatureSpec>,
    /// The compute steps that run on each row.
    pub steps: Steps,
    /// Whether the projection is refreshed by PCA (`projection = "pca"`); `"fixed"` keeps the
    /// initial sparse random projection (the run's `pca_every` is then 0).
    pub pca: bool,
    /// 1-based line of `[compute]`'s `readout` key (or table), for errors about signals.
    pub readout_line: usize,
}

impl SpecSettings {
    /// Parses and validates a spec ([`FeatureSpec::parse`]) and maps its `[compute]` table to
    /// the compute stage's [`Steps`].
    ///
    /// # Errors
    /// [`SpecError`] naming the line: anything [`FeatureSpec::parse`] refuses, and a
    /// projection with `readout = false` (the projection only feeds the read-out, so the
    /// stage cannot run one without the other).
    pub fn parse(text: &str) -> Result<SpecSettings, SpecError> {
        let spec = FeatureSpec::parse(text)?;
        let c = spec.compute;
        let readout_line = compute_key_line(text, "readout");
        if c.projection != Projection::None && !c.readout {
            return Err(SpecError {
                line: readout_line,
                message: format!(
                    "readout = false with projection = \"{}\": the projection only feeds the \
                     read-out; set projection = \"none\" to turn both off",
                    match c.projection {
                        Projection::Fixed => "fixed",
                        _ => "pca",
                    }
                ),
            });
        }
        Ok(SpecSettings {
            steps: Steps {
                normalise: c.normalise,
                filter_bank: c.filter_bank,
                squash: c.squash,
                squash_f32: c.squash_f32,
                read_out: c.readout,
            },
            pca: c.projection == Projection::Pca,
            readout_line,
            spec: Arc::new(spec),
        })
    }
}

/// The 1-based line of `key` in the `[compute]` table of `text`, else of the `[compute]`
/// header, else 1.
fn compute_key_line(text: &str, key: &str) -> usize {
    let mut in_compute = false;
    let mut header = 1;
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.starts_with('[') {
            in_compute = l.trim_end_matches(|c: char| c != ']') == "[compute]";
            if in_compute {
                header = i + 1;
            }
        } else if in_compute
            && let Some(rest) = l.strip_prefix(key)
            && rest.trim_start().starts_with('=')
        {
            return i + 1;
        }
    }
    header
}

/// The names of the built-in row's [`WIDTH`] columns, stable across releases:
///
/// | columns | names |
/// |---|---|
/// | `0..512` | `ret.0` .. `ret.511`: log returns, `ret.0` the newest |
/// | `512..768` | `sq.0` .. `sq.255`: squared log returns, newest first |
/// | `768..1024` | `ema.h<H>.<stat>` for horizon `H` = 0..31 (2^(H/4) ticks), in row order `ret`, `abs_ret`, `vol`, `rsi`, `gain_loss`, `log_size`, `signed_log_size`, `price_gap` (see [`crate::features`]) |
///
/// ```
/// let names = zerotick_pipeline::rows::builtin_column_names();
/// assert_eq!(names.len(), 1024);
/// assert_eq!(names[0], "ret.0");
/// assert_eq!(names[512], "sq.0");
/// assert_eq!(names[768], "ema.h0.ret");
/// assert_eq!(names[1023], "ema.h31.price_gap");
/// ```
pub fn builtin_column_names() -> Vec<String> {
    const STATS: [&str; 8] = [
        "ret",
        "abs_ret",
        "vol",
        "rsi",
        "gain_loss",
        "log_size",
        "signed_log_size",
        "price_gap",
    ];
    let mut names = Vec::with_capacity(WIDTH);
    names.extend((0..512).map(|k| format!("ret.{k}")));
    names.extend((0..256).map(|k| format!("sq.{k}")));
    for h in 0..32 {
        names.extend(STATS.iter().map(|s| format!("ema.h{h}.{s}")));
    }
    debug_assert_eq!(names.len(), WIDTH);
    names
}

/// Bytes of one symbol's [`FeatureRow`] for `spec`, an upper estimate: a rolling window keeps
/// a timestamp and two aggregates (at most 64 bytes) per slot (`n` slots for `n` events,
/// `capacity` for a time window), lags 8 bytes a value, everything else under 256 bytes.
/// [`PipelineConfig::preallocated_bytes`](crate::PipelineConfig::preallocated_bytes) counts
/// it per hinted symbol, so a spec with huge windows is refused before anything is allocated.
pub fn spec_state_bytes(spec: &FeatureSpec) -> u64 {
    use zerotick_features::Window;
    use zerotick_features::spec::IndicatorSpec as I;
    let slots = |w: Window, capacity: usize| match w {
        Window::Events(n) => n as u64,
        Window::Time { .. } => capacity as u64,
    };
    let per_feature = |f: &zerotick_features::spec::Feature| match f.indicator {
        I::Sma { window, capacity }
        | I::Mean { window, capacity }
        | I::Variance {
            window, capacity, ..
        }
        | I::Std {
            window, capacity, ..
        }
        | I::Bollinger {
            window, capacity, ..
        }
        | I::Vwap { window, capacity }
        | I::RealizedVol {
            window, capacity, ..
        }
        | I::FlowImbalance { window, capacity } => 64 * slots(window, capacity) + 256,
        I::Lags { count } => 8 * count as u64 + 256,
        _ => 256,
    };
    spec.features.iter().map(per_feature).sum::<u64>() + 16 * spec.width() as u64 + 256
}

/// One symbol's spec state.
#[derive(Debug, Clone)]
struct SymbolRow {
    row: FeatureRow,
    /// Valid events of the symbol (trades, and book events when the spec reads the book).
    events: u64,
    /// Time cadence: the interval (`ts_ns / every_ns`) of the last row or of the symbol's
    /// first event.
    interval: u64,
}

impl SymbolRow {
    /// Counts one event at `ts_ns`; whether a row is due after it.
    #[inline]
    fn due(&mut self, cadence: Cadence, ts_ns: u64) -> bool {
        self.events += 1;
        match cadence {
            Cadence::Events(n) => self.events.is_multiple_of(n),
            Cadence::Time { every_ns } => {
                let interval = ts_ns / every_ns.max(1);
                if self.events == 1 {
                    self.interval = interval;
                    false
                } else if interval > self.interval {
                    self.interval = interval;
                    true
                } else {
                    false
                }
            }
        }
    }
}

/// The feature stage of a spec: one [`FeatureRow`] per symbol, a row every N events of the
/// symbol or at its first event in each new interval of event time. A symbol's events are
/// its trades, and, when the spec reads the book, its book events (a quote, a depth
/// message, a snapshot: [`update_book`](Self::update_book)).
///
/// Time cadence: intervals are aligned to the epoch (`ts_ns / every_ns`); a symbol writes a
/// row at its first event in an interval later than the one of its previous row (or of its
/// first event), with that event included. Intervals without events of the symbol write no
/// row; an event stamped earlier than its symbol's last row writes none.
///
/// State for the `symbols` of the hint is built up front; a new symbol's state is built when
/// it first appears (allocating, as the built-in stage does); [`update`](Self::update) and
/// [`write_row`](Self::write_row) allocate nothing.
#[derive(Debug, Clone)]
pub struct SpecStage {
    spec: Arc<FeatureSpec>,
    /// `spec.reads_book()`, read per book event.
    reads_book: bool,
    symbols: Vec<SymbolRow>,
    skipped: u64,
}

impl SpecStage {
    /// A stage for `spec` with state for `symbols` symbols.
    pub fn new(spec: Arc<FeatureSpec>, symbols: usize) -> SpecStage {
        let mut s = SpecStage {
            reads_book: spec.reads_book(),
            spec,
            symbols: Vec::with_capacity(symbols),
            skipped: 0,
        };
        if symbols > 0 {
            s.grow(symbols - 1);
        }
        s
    }

    /// Columns of a row (at most [`WIDTH`]; the rest of a batch row is 0).
    pub fn width(&self) -> usize {
        self.spec.width()
    }

    /// Symbols with state.
    pub fn symbols(&self) -> usize {
        self.symbols.len()
    }

    /// Ticks skipped because their price was not finite and positive or their size not
    /// finite and non-negative.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// Feeds `tick` to its symbol's indicators; returns whether a row is due now (then call
    /// [`write_row`](Self::write_row) for that symbol).
    #[inline]
    pub fn update(&mut self, tick: &Tick) -> bool {
        let i = tick.symbol as usize;
        if i >= self.symbols.len() {
            self.grow(i);
        }
        let s = &mut self.symbols[i];
        if !s.row.update(tick) {
            self.skipped += 1;
            return false;
        }
        s.due(self.spec.row, tick.ts_ns)
    }

    /// Whether the spec reads the order book: then book events feed its rows and count
    /// towards its cadence ([`FeatureSpec::reads_book`]).
    pub fn reads_book(&self) -> bool {
        self.reads_book
    }

    /// Feeds `symbol`'s order book at the end of one of its book events (stamped `ts_ns`,
    /// with order-flow imbalance `ofi`) to its book inputs
    /// ([`FeatureRow::update_book`]); returns whether a row is due now. A spec that reads no
    /// book input ignores book events: `false`, nothing counted.
    #[inline]
    pub fn update_book(&mut self, symbol: u32, ts_ns: u64, book: &Book, ofi: f64) -> bool {
        if !self.reads_book {
            return false;
        }
        let i = symbol as usize;
        if i >= self.symbols.len() {
            self.grow(i);
        }
        let s = &mut self.symbols[i];
        s.row.update_book(ts_ns, book, ofi);
        s.due(self.spec.row, ts_ns)
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, i: usize) {
        let spec = &*self.spec;
        self.symbols.resize_with(i + 1, || SymbolRow {
            row: FeatureRow::new(spec),
            events: 0,
            interval: 0,
        });
    }

    /// Writes `symbol`'s row into `row[..width]` and zeros into the rest.
    ///
    /// # Panics
    /// If the symbol has no state (a bug in the caller: only after `update` said so).
    #[inline]
    #[track_caller]
    pub fn write_row(&mut self, symbol: u32, row: &mut [f64]) {
        let w = self.spec.width().min(row.len());
        self.symbols[symbol as usize].row.write_into(&mut row[..w]);
        row[w..].fill(0.0);
    }
}

/// The feature stage of a run: built-in or from a spec.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum RowStage {
    Builtin(FeatureStage),
    Spec(SpecStage),
}

impl RowStage {
    #[inline(always)]
    pub(crate) fn update(&mut self, tick: &Tick) -> bool {
        match self {
            RowStage::Builtin(s) => s.update(tick),
            RowStage::Spec(s) => s.update(tick),
        }
    }

    /// A book event of `symbol` ended: whether a row is due (never for the built-in row,
    /// which reads trades only).
    #[inline]
    pub(crate) fn update_book(&mut self, symbol: u32, ts_ns: u64, book: &Book, ofi: f64) -> bool {
        match self {
            RowStage::Builtin(_) => false,
            RowStage::Spec(s) => s.update_book(symbol, ts_ns, book, ofi),
        }
    }

    #[inline(always)]
    pub(crate) fn write_row(&mut self, symbol: u32, row: &mut [f64]) {
        match self {
            RowStage::Builtin(s) => s.write_row(symbol, row),
            RowStage::Spec(s) => s.write_row(symbol, row),
        }
    }

    /// The sequence number of `symbol`'s next row's signal: the symbol's tick count for the
    /// built-in row (restored with a checkpoint, so the same across a failover); 0 for a spec
    /// row (checkpoints take the built-in row only).
    #[inline]
    pub(crate) fn seq(&self, symbol: u32) -> u64 {
        match self {
            RowStage::Builtin(s) => s.ticks_of(symbol),
            RowStage::Spec(_) => 0,
        }
    }

    /// Appends the feature state to a checkpoint (built-in row only).
    ///
    /// # Errors
    /// [`PipelineError::Config`] for a spec's rows (no checkpoints; refused by
    /// [`PipelineConfig::validate`](crate::PipelineConfig::validate) before a run).
    pub(crate) fn snapshot_into(&self, out: &mut Vec<f64>) -> Result<(), PipelineError> {
        match self {
            RowStage::Builtin(s) => {
                s.snapshot_into(out);
                Ok(())
            }
            RowStage::Spec(_) => Err(PipelineError::config(
                "checkpoints take the built-in feature row only, not a spec's rows",
            )),
        }
    }

    /// Restores the feature state from a checkpoint (built-in row only).
    pub(crate) fn restore(&mut self, r: &mut Reader<'_>) -> Result<(), CheckpointError> {
        match self {
            RowStage::Builtin(s) => s.restore(r),
            RowStage::Spec(_) => Err(CheckpointError::ConfigMismatch),
        }
    }

    /// Columns of a row with values (the rest of a [`WIDTH`] batch row is 0).
    pub(crate) fn width(&self) -> usize {
        match self {
            RowStage::Builtin(_) => WIDTH,
            RowStage::Spec(s) => s.width(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerotick_core::Side;

    fn tick(ts_ns: u64, symbol: u32, price: f64) -> Tick {
        Tick {
            ts_ns,
            symbol,
            price,
            size: 1.0,
            side: Side::Buy,
        }
    }

    #[test]
    fn compute_key_line_finds_the_key_in_its_table_only() {
        let text = "[row]\nreadout = 1\n[compute] # c\nnormalise = true\nreadout= false\n";
        assert_eq!(compute_key_line(text, "readout"), 5);
        assert_eq!(compute_key_line(text, "squash"), 3);
        assert_eq!(compute_key_line("", "readout"), 1);
    }

    #[test]
    fn event_cadence_and_padding() {
        let s = SpecSettings::parse(
            "[row]\nevery = 3\n[[feature]]\nname = \"p\"\nindicator = \"lags\"\ncount = 2\n",
        )
        .unwrap();
        let mut stage = SpecStage::new(s.spec, 0);
        let due: Vec<bool> = (1..=7)
            .map(|i| stage.update(&tick(i, 2, 100.0 + i as f64)))
            .collect();
        assert_eq!(due, [false, false, true, false, false, true, false]);
        assert_eq!(stage.symbols(), 3);
        let mut row = [f64::NAN; 5];
        stage.write_row(2, &mut row);
        assert_eq!(row, [107.0, 106.0, 0.0, 0.0, 0.0]);
        assert!(!stage.update(&tick(8, 2, f64::NAN)));
        assert_eq!(stage.skipped(), 1);
    }

    #[test]
    fn time_cadence_writes_at_the_first_event_of_each_new_interval() {
        let s = SpecSettings::parse(
            "[row]\nevery = \"1s\"\n[[feature]]\nname = \"e\"\nindicator = \"ema\"\nperiod = 1\n",
        )
        .unwrap();
        let mut stage = SpecStage::new(s.spec, 1);
        let ms = 1_000_000u64;
        let times = [1500, 1900, 2000, 2100, 4700, 4800, 3000, 5000];
        let due: Vec<bool> = times
            .iter()
            .map(|&t| stage.update(&tick(t * ms, 0, 10.0)))
            .collect();
        assert_eq!(due, [false, false, true, false, true, false, false, true]);
    }

    #[test]
    fn readout_off_with_a_projection_names_its_line() {
        let feature = "[[feature]]\nname = \"e\"\nindicator = \"ema\"\nperiod = 3\n";
        let e = SpecSettings::parse(&format!(
            "[compute]\nprojection = \"pca\"\n\nreadout = false\n{feature}"
        ))
        .unwrap_err();
        assert_eq!(e.line, 4);
        assert!(e.to_string().starts_with("line 4: readout = false"), "{e}");
        let ok = SpecSettings::parse(&format!(
            "[compute]\nprojection = \"none\"\nreadout = false\n{feature}"
        ))
        .unwrap();
        assert!(!ok.steps.read_out);
    }

    #[test]
    fn builtin_names_are_unique() {
        let names = builtin_column_names();
        let set: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(set.len(), WIDTH);
    }
}

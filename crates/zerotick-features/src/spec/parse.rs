//! The TOML walk behind [`FeatureSpec::parse`](super::FeatureSpec::parse): the span-keeping
//! document tree of the `toml` crate, every key checked against the catalogue.

use core::ops::Range;
use std::collections::HashMap;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::catalogue::{CATALOGUE, INPUT_CATALOGUE, IndicatorInfo};
use super::{
    BarSpec, Cadence, ComputeSteps, DEFAULT_TIME_CAPACITY, Feature, FeatureSpec, INPUTS,
    IndicatorSpec, Input, MAX_BOOK_LEVELS, MAX_EVERY, MAX_WINDOW, Projection, RESERVED_COLUMNS,
    SpecError,
};
use crate::window::{Window, parse_duration_ns};

/// A table with the spans that locate its keys.
type Table<'i> = DeTable<'i>;
type Value<'i> = Spanned<DeValue<'i>>;

pub(super) struct Parser<'t> {
    pub(super) text: &'t str,
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

    pub(super) fn spec(&self, max_width: usize) -> Result<FeatureSpec, SpecError> {
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
        // Every column name so far, and the index of the feature that makes it.
        let mut columns: HashMap<String, usize> = HashMap::new();
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
            for column in f.column_names() {
                if RESERVED_COLUMNS.contains(&column.as_str()) {
                    return Err(SpecError {
                        line: f.line,
                        message: format!(
                            "column {column:?} is the name of a column every row already has ({})",
                            RESERVED_COLUMNS.join(", ")
                        ),
                    });
                }
                if let Some(&k) = columns.get(&column) {
                    let prev: &Feature = &features[k];
                    return Err(SpecError {
                        line: f.line,
                        message: format!(
                            "feature {:?} makes column {column:?}, which feature {:?} on line {} \
                             already makes",
                            f.name, prev.name, prev.line
                        ),
                    });
                }
                columns.insert(column, features.len());
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
            ("readout", &mut c.readout),
        ] {
            if let Some(v) = t.get(key) {
                *flag = self.boolean(v, key)?;
            }
        }
        if let Some(v) = t.get("squash") {
            (c.squash, c.squash_f32) = match (v.get_ref().as_bool(), v.get_ref().as_str()) {
                (Some(on), _) => (on, false),
                (_, Some("rational")) => (true, false),
                (_, Some("f32")) => (true, true),
                _ => {
                    return Err(self.err(
                        v.span(),
                        "squash must be true, false, \"rational\" or \"f32\"",
                    ));
                }
            };
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
        let input = self.input(t, info, line)?;
        let mut keys = vec!["name", "indicator", "input"];
        keys.extend(info.params.iter().map(|p| p.name));
        let input_params = INPUT_CATALOGUE
            .iter()
            .find(|i| i.name == input.name())
            .map_or(&[][..], |i| i.params);
        keys.extend(input_params.iter().map(|p| p.name));
        self.known_keys(
            t,
            &keys,
            &format!("a {ind} feature on input {}", input.name()),
        )?;
        let input = self.input_params(t, input, line)?;
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

    /// The input's own keys (`levels`, `bps`), checked; the input with them set.
    fn input_params(&self, t: &Table<'_>, input: Input, line: usize) -> Result<Input, SpecError> {
        Ok(match input {
            Input::BookImbalance { .. } => Input::BookImbalance {
                levels: match t.get("levels") {
                    Some(v) => self.count(v, "levels", u64::from(MAX_BOOK_LEVELS))? as u32,
                    None => 1,
                },
            },
            Input::DepthBid { .. } | Input::DepthAsk { .. } => {
                let v = t.get("bps").ok_or_else(|| SpecError {
                    line,
                    message: format!(
                        "input {} needs bps (basis points from the mid)",
                        input.name()
                    ),
                })?;
                let bps = self.float(v, "bps")?;
                if !(bps > 0.0 && bps <= 10_000.0) {
                    return Err(self.err(
                        v.span(),
                        format!("bps is {bps}; it must be above 0 and at most 10000"),
                    ));
                }
                if matches!(input, Input::DepthBid { .. }) {
                    Input::DepthBid { bps }
                } else {
                    Input::DepthAsk { bps }
                }
            }
            other => other,
        })
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

//! The catalogue of indicators a spec can name, with their parameters and columns.

use core::fmt;

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

pub(super) const CATALOGUE: &[IndicatorInfo] = &[
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

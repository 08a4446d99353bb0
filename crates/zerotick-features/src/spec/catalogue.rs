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
const SCALAR: &str = "price, size, signed_volume, returns, spread, mid, microprice, book_imbalance, depth_bid, depth_ask, ofi";

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

/// One input of the catalogue, for [`describe_inputs`] and `zerotick features --list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputInfo {
    /// Its `input = "..."` name.
    pub name: &'static str,
    /// What it reads.
    pub summary: &'static str,
    /// Its parameters (keys of the `[[feature]]` table that names it).
    pub params: &'static [ParamInfo],
}

impl fmt::Display for InputInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.summary)?;
        for p in self.params {
            match p.default {
                Some(d) => write!(f, "\n    {} = {} (default): {}", p.name, d, p.doc)?,
                None => write!(f, "\n    {} (required): {}", p.name, p.doc)?,
            }
        }
        Ok(())
    }
}

/// The `levels` key of `book_imbalance`.
pub(super) const LEVELS: ParamInfo = ParamInfo {
    name: "levels",
    default: Some("1"),
    doc: "levels per side summed (1: the top of book; e.g. 5, 10), at most 65536",
};
/// The `bps` key of `depth_bid` / `depth_ask`.
pub(super) const BPS: ParamInfo = ParamInfo {
    name: "bps",
    default: None,
    doc: "distance from the mid in basis points (above 0, at most 10000; e.g. 10 or 2.5)",
};

pub(super) const INPUT_CATALOGUE: &[InputInfo] = &[
    InputInfo {
        name: "price",
        summary: "trade price (the default input)",
        params: &[],
    },
    InputInfo {
        name: "size",
        summary: "trade size",
        params: &[],
    },
    InputInfo {
        name: "signed_volume",
        summary: "trade size, + for buys, - for sells, 0 when the side is unknown",
        params: &[],
    },
    InputInfo {
        name: "returns",
        summary: "log return of the trade price",
        params: &[],
    },
    InputInfo {
        name: "trades",
        summary: "whole trades (vwap, flow_imbalance, bar indicators)",
        params: &[],
    },
    InputInfo {
        name: "spread",
        summary: "best ask - best bid; book",
        params: &[],
    },
    InputInfo {
        name: "mid",
        summary: "(best bid + best ask) / 2; book",
        params: &[],
    },
    InputInfo {
        name: "microprice",
        summary: "(bid * ask_size + ask * bid_size) / (bid_size + ask_size) at the best levels; book",
        params: &[],
    },
    InputInfo {
        name: "book_imbalance",
        summary: "(B - A) / (B + A), B and A the quantity of the top `levels` levels per side, -1..1; book",
        params: &[LEVELS],
    },
    InputInfo {
        name: "depth_bid",
        summary: "bid quantity priced at or above mid * (1 - bps / 10000); book",
        params: &[BPS],
    },
    InputInfo {
        name: "depth_ask",
        summary: "ask quantity priced at or below mid * (1 + bps / 10000); book",
        params: &[BPS],
    },
    InputInfo {
        name: "ofi",
        summary: "order-flow imbalance of the event (Cont-Kukanov-Stoikov): best-level changes since the symbol's previous book event, + for buying pressure; book",
        params: &[],
    },
];

/// Every input a feature can read, with its parameters: what `zerotick features --list`
/// prints above the indicators. Book inputs are read from the symbol's order book at the end
/// of each of its book events (a quote, a depth message, a snapshot).
///
/// ```
/// let inputs = zerotick_features::spec::describe_inputs();
/// let imb = inputs.iter().find(|i| i.name == "book_imbalance").unwrap();
/// assert_eq!(imb.params[0].name, "levels");
/// assert_eq!(inputs.len(), zerotick_features::spec::INPUTS.len());
/// ```
pub fn describe_inputs() -> &'static [InputInfo] {
    INPUT_CATALOGUE
}

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

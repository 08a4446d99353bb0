//! A metrics [`Registry`] whose hot path never allocates, locks, formats or hashes.
//!
//! Metrics are registered once, by name and fixed labels (registration allocates and takes a
//! lock), and recorded through cheap `Clone` handles:
//!
//! - [`Counter`]: per-thread cache-padded cells, summed on read. A thread adds to its own
//!   cell with a plain load and store, no atomic read-modify-write, so threads bumping the
//!   same counter never share a cache line.
//! - [`Gauge`]: an `f64` in one atomic cell: `set` is a store, `add` a compare-exchange loop.
//! - [`Histogram`]: fixed log-linear buckets over `[lowest, highest]` at 1 to 5 significant
//!   digits, recorded with Relaxed atomic adds, with quantiles on snapshots and interval
//!   snapshots that reset without losing concurrent records.
//!
//! [`Registry::render_prometheus`] writes the Prometheus text format 0.0.4.
//!
//! # Threads
//! Each registry gives its counters private cells for `threads` thread slots
//! ([`Registry::with_threads`], default [`DEFAULT_THREADS`]). A thread claims the lowest free
//! process-wide slot the first time it records into any counter and frees it when it exits,
//! so slots are reused. A thread whose slot is not below the registry's `threads` (more live
//! recording threads than that, or more than [`MAX_THREADS`] in the process) records into
//! one shared overflow cell per counter with an atomic `fetch_add`: still exact, just
//! contended.
//!
//! # Names
//! Metric names must match `[a-zA-Z_:][a-zA-Z0-9_:]*` and label names
//! `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__` (reserved), and `le` is reserved on
//! histograms. Names are rendered exactly as registered: nothing is appended, so by
//! Prometheus convention name counters `..._total` yourself. A histogram `x` renders `x_bucket`,
//! `x_sum` and `x_count`, so those names are refused while `x` is a histogram (and the other
//! way round). Registering the same name and
//! labels again returns a handle to the **existing** metric (the first help text stays); a
//! different kind, or a histogram with a different configuration, is an error.
//!
//! ```
//! use zerotick_sync::metrics::{HistogramConfig, Registry};
//!
//! let registry = Registry::new();
//! let orders = registry.counter("orders_total", "Orders sent.", &[("venue", "xnas")])?;
//! let depth = registry.gauge("book_depth", "Levels in the book.", &[])?;
//! let latency = registry.histogram(
//!     "order_latency_seconds",
//!     "Tick to order latency.",
//!     &[],
//!     HistogramConfig::latency_ns(), // record ns, expose seconds
//! )?;
//!
//! // Hot path: no allocation, lock, formatting or hashing.
//! orders.inc();
//! depth.set(10.0);
//! latency.record(1_250);
//!
//! assert_eq!(orders.get(), 1);
//! assert_eq!(latency.snapshot().p99(), Some(1_250));
//! let text = registry.render_prometheus();
//! assert!(text.contains("orders_total{venue=\"xnas\"} 1\n"));
//! assert!(text.contains("order_latency_seconds_count 1\n"));
//! # Ok::<(), zerotick_sync::metrics::RegistryError>(())
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

mod counter;
mod histogram;
mod prometheus;
mod thread_slot;

use counter::{CellBlock, LANES};
pub use counter::{Counter, Gauge};
pub use histogram::{Histogram, HistogramConfig, HistogramError, HistogramSnapshot};

/// Thread slots with private counter cells in a [`Registry::new`].
pub const DEFAULT_THREADS: usize = 64;
/// Most thread slots the process hands out at once, and the largest
/// [`Registry::with_threads`].
pub const MAX_THREADS: usize = thread_slot::MAX_SLOTS;

/// What a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// A [`Counter`].
    Counter,
    /// A [`Gauge`].
    Gauge,
    /// A [`Histogram`].
    Histogram,
}

/// Errors from building a [`Registry`] or registering a metric.
#[derive(Debug, Clone, PartialEq)]
pub enum RegistryError {
    /// The metric name does not match `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    InvalidName {
        /// The name given.
        name: String,
    },
    /// A label name does not match `[a-zA-Z_][a-zA-Z0-9_]*`, starts with the reserved `__`,
    /// or is `le` on a histogram.
    InvalidLabelName {
        /// The metric.
        name: String,
        /// The label name given.
        label: String,
    },
    /// The same label name twice in one registration.
    DuplicateLabel {
        /// The metric.
        name: String,
        /// The repeated label name.
        label: String,
    },
    /// The name is already registered as another kind of metric.
    KindMismatch {
        /// The metric.
        name: String,
        /// The kind it was registered as.
        registered: MetricKind,
        /// The kind asked for now.
        requested: MetricKind,
    },
    /// The name would render the same sample names as another family's: a histogram `x`
    /// renders `x_bucket`, `x_sum` and `x_count`, so those names and `x` exclude each other.
    NameCollision {
        /// The metric.
        name: String,
        /// The family already registered whose samples it would collide with.
        other: String,
    },
    /// The histogram is already registered with another configuration.
    ConfigMismatch {
        /// The metric.
        name: String,
    },
    /// The histogram configuration is out of range.
    Histogram(HistogramError),
    /// `threads` outside `1..=MAX_THREADS`.
    Threads {
        /// The thread count given.
        requested: usize,
        /// [`MAX_THREADS`].
        max: usize,
    },
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidName { name } => write!(f, "invalid metric name {name:?}"),
            Self::InvalidLabelName { name, label } => {
                write!(
                    f,
                    "invalid or reserved label name {label:?} on metric {name}"
                )
            }
            Self::DuplicateLabel { name, label } => {
                write!(f, "label {label:?} given twice for metric {name}")
            }
            Self::KindMismatch {
                name,
                registered,
                requested,
            } => write!(
                f,
                "metric {name} is registered as a {registered:?}, not a {requested:?}"
            ),
            Self::NameCollision { name, other } => write!(
                f,
                "metric {name} would render the same sample names as metric {other}"
            ),
            Self::ConfigMismatch { name } => write!(
                f,
                "histogram {name} is already registered with another configuration"
            ),
            Self::Histogram(e) => write!(f, "{e}"),
            Self::Threads { requested, max } => {
                write!(f, "registry thread count {requested} is outside 1..={max}")
            }
        }
    }
}

impl std::error::Error for RegistryError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Histogram(e) => Some(e),
            _ => None,
        }
    }
}

impl From<HistogramError> for RegistryError {
    fn from(e: HistogramError) -> Self {
        Self::Histogram(e)
    }
}

#[derive(Clone)]
pub(crate) enum Metric {
    Counter(Counter),
    Gauge(Gauge),
    Histogram(Histogram),
}

impl Metric {
    fn kind(&self) -> MetricKind {
        match self {
            Self::Counter(_) => MetricKind::Counter,
            Self::Gauge(_) => MetricKind::Gauge,
            Self::Histogram(_) => MetricKind::Histogram,
        }
    }
}

/// One labelled instance of a family.
pub(crate) struct Series {
    /// Labels sorted by name (the identity of the series within its family).
    key: Vec<(String, String)>,
    /// `a="x",b="y"`, values escaped; empty without labels.
    pub(crate) labels: String,
    pub(crate) metric: Metric,
}

/// Every series registered under one name.
pub(crate) struct Family {
    pub(crate) name: String,
    pub(crate) help: String,
    pub(crate) kind: MetricKind,
    pub(crate) series: Vec<Series>,
}

#[derive(Default)]
struct State {
    families: Vec<Family>,
    by_name: HashMap<String, usize>,
    /// Block new counters take lanes from, and its next free lane (`<= LANES`).
    block: Option<(Arc<CellBlock>, usize)>,
}

/// Where metrics are registered and rendered from. `Send + Sync`; share it by reference or
/// `Arc`. Registration and rendering take an internal lock; recording through the handles
/// never does.
pub struct Registry {
    /// Thread slots with private counter cells. Invariant: `1..=MAX_THREADS`.
    threads: usize,
    state: Mutex<State>,
}

impl Registry {
    /// A registry with private counter cells for [`DEFAULT_THREADS`] threads.
    pub fn new() -> Self {
        Self {
            threads: DEFAULT_THREADS,
            state: Mutex::default(),
        }
    }

    /// A registry with private counter cells for `threads` threads (see [Threads](self#threads)).
    /// Memory: 128 bytes per thread per 16 counters.
    ///
    /// # Errors
    /// [`RegistryError::Threads`] unless `1 <= threads <= MAX_THREADS`.
    pub fn with_threads(threads: usize) -> Result<Self, RegistryError> {
        if !(1..=MAX_THREADS).contains(&threads) {
            return Err(RegistryError::Threads {
                requested: threads,
                max: MAX_THREADS,
            });
        }
        Ok(Self {
            threads,
            state: Mutex::default(),
        })
    }

    /// Thread slots with private counter cells.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Registers a counter, or returns the one already registered with this name and labels.
    ///
    /// # Errors
    /// [`RegistryError`] for an invalid name or label, or a name registered as another kind.
    pub fn counter(
        &self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
    ) -> Result<Counter, RegistryError> {
        let threads = self.threads;
        let m = self.register(name, help, labels, MetricKind::Counter, |state| {
            let (block, lane) = match state.block.take() {
                Some((block, lane)) if lane < LANES => (block, lane),
                _ => (CellBlock::new(threads), 0),
            };
            state.block = Some((block.clone(), lane + 1));
            Ok(Metric::Counter(Counter::in_block(block, lane)))
        })?;
        match m {
            Metric::Counter(c) => Ok(c),
            other => Err(mismatch(name, other.kind(), MetricKind::Counter)),
        }
    }

    /// Registers a gauge (starting at 0.0), or returns the one already registered with this
    /// name and labels.
    ///
    /// # Errors
    /// As [`counter`](Self::counter).
    pub fn gauge(
        &self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
    ) -> Result<Gauge, RegistryError> {
        match self.register(name, help, labels, MetricKind::Gauge, |_| {
            Ok(Metric::Gauge(Gauge::new()))
        })? {
            Metric::Gauge(g) => Ok(g),
            other => Err(mismatch(name, other.kind(), MetricKind::Gauge)),
        }
    }

    /// Registers a histogram, or returns the one already registered with this name, labels
    /// and configuration. Its memory is allocated now and fixed.
    ///
    /// # Errors
    /// As [`counter`](Self::counter); also [`RegistryError::Histogram`] for a configuration
    /// out of range, [`RegistryError::ConfigMismatch`] if registered with another one.
    pub fn histogram(
        &self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        config: HistogramConfig,
    ) -> Result<Histogram, RegistryError> {
        config.validate()?;
        let threads = self.threads;
        match self.register(name, help, labels, MetricKind::Histogram, |_| {
            Ok(Metric::Histogram(Histogram::with_threads(config, threads)?))
        })? {
            Metric::Histogram(h) if *h.config() == config => Ok(h),
            Metric::Histogram(_) => Err(RegistryError::ConfigMismatch {
                name: name.to_owned(),
            }),
            other => Err(mismatch(name, other.kind(), MetricKind::Histogram)),
        }
    }

    fn register(
        &self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        kind: MetricKind,
        make: impl FnOnce(&mut State) -> Result<Metric, RegistryError>,
    ) -> Result<Metric, RegistryError> {
        if !valid_metric_name(name) {
            return Err(RegistryError::InvalidName {
                name: name.to_owned(),
            });
        }
        let mut key: Vec<(String, String)> = Vec::with_capacity(labels.len());
        for &(label, value) in labels {
            let reserved =
                label.starts_with("__") || (kind == MetricKind::Histogram && label == "le");
            if reserved || !valid_label_name(label) {
                return Err(RegistryError::InvalidLabelName {
                    name: name.to_owned(),
                    label: label.to_owned(),
                });
            }
            if key.iter().any(|(l, _)| l == label) {
                return Err(RegistryError::DuplicateLabel {
                    name: name.to_owned(),
                    label: label.to_owned(),
                });
            }
            key.push((label.to_owned(), value.to_owned()));
        }
        key.sort();

        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let family = match state.by_name.get(name) {
            Some(&i) => {
                let f = &state.families[i];
                if f.kind != kind {
                    return Err(mismatch(name, f.kind, kind));
                }
                if let Some(s) = f.series.iter().find(|s| s.key == key) {
                    return Ok(s.metric.clone());
                }
                i
            }
            None => {
                if let Some(other) = collision(&state, name, kind) {
                    return Err(RegistryError::NameCollision {
                        name: name.to_owned(),
                        other,
                    });
                }
                let i = state.families.len();
                state.families.push(Family {
                    name: name.to_owned(),
                    help: help.to_owned(),
                    kind,
                    series: Vec::new(),
                });
                state.by_name.insert(name.to_owned(), i);
                i
            }
        };
        let metric = make(&mut state)?;
        let mut rendered = String::new();
        for (i, (l, v)) in key.iter().enumerate() {
            if i > 0 {
                rendered.push(',');
            }
            rendered.push_str(l);
            rendered.push_str("=\"");
            prometheus::escape_label_value(v, &mut rendered);
            rendered.push('"');
        }
        state.families[family].series.push(Series {
            key,
            labels: rendered,
            metric: metric.clone(),
        });
        Ok(metric)
    }

    /// The Prometheus text exposition format (0.0.4) of every metric, in registration order.
    ///
    /// Counters and gauges render one sample per series; histograms render cumulative
    /// `_bucket` samples at the 1-2-5 bounds (1, 2, 5, 10, 20, ...) within their range,
    /// times their `prometheus_scale`, then `le="+Inf"`, `_sum` and `_count`. A bucket bound
    /// counts the recorded values whose whole histogram bucket lies at or below it (see
    /// [`HistogramSnapshot::count_at_most`]). Serve it with content type
    /// `text/plain; version=0.0.4`.
    pub fn render_prometheus(&self) -> String {
        let mut out = String::new();
        self.render_prometheus_into(&mut out);
        out
    }

    /// As [`render_prometheus`](Self::render_prometheus), appended to `out` (clear it first
    /// to reuse a buffer).
    pub fn render_prometheus_into(&self, out: &mut String) {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        prometheus::render(&state.families, out);
    }
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("Registry")
            .field("threads", &self.threads)
            .field("families", &state.families.len())
            .finish()
    }
}

fn mismatch(name: &str, registered: MetricKind, requested: MetricKind) -> RegistryError {
    RegistryError::KindMismatch {
        name: name.to_owned(),
        registered,
        requested,
    }
}

/// A family whose rendered sample names a new family `name` of `kind` would repeat.
fn collision(state: &State, name: &str, kind: MetricKind) -> Option<String> {
    const SUFFIXES: [&str; 3] = ["_bucket", "_sum", "_count"];
    // `name` is `h_bucket` etc. of a registered histogram `h`.
    for base in SUFFIXES.iter().filter_map(|s| name.strip_suffix(s)) {
        if let Some(&i) = state.by_name.get(base)
            && state.families[i].kind == MetricKind::Histogram
        {
            return Some(base.to_owned());
        }
    }
    // `name` is a histogram and `name_bucket` etc. is registered.
    if kind == MetricKind::Histogram {
        for s in SUFFIXES {
            let derived = format!("{name}{s}");
            if state.by_name.contains_key(&derived) {
                return Some(derived);
            }
        }
    }
    None
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
fn valid_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_' || b == b':')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`
fn valid_label_name(label: &str) -> bool {
    let mut bytes = label.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "_a", "a:b_c9", ":x"] {
            assert!(valid_metric_name(ok), "{ok}");
        }
        for bad in ["", "9a", "a-b", "a b", "é"] {
            assert!(!valid_metric_name(bad), "{bad}");
        }
        assert!(valid_label_name("_x1"));
        assert!(!valid_label_name("a:b"));
    }

    #[test]
    fn counters_share_blocks_sixteen_at_a_time() {
        let r = Registry::with_threads(2).unwrap();
        let cs: Vec<Counter> = (0..40)
            .map(|i| r.counter(&format!("c{i}"), "", &[]).unwrap())
            .collect();
        for (i, c) in cs.iter().enumerate() {
            c.add(i as u64);
        }
        for (i, c) in cs.iter().enumerate() {
            assert_eq!(c.get(), i as u64);
        }
    }
}

//! Windows in events or in event time, and [`Sliding`], the preallocated sliding-window
//! aggregator every rolling indicator is built on.
//!
//! # Method: two stacks, merges only
//! A rolling sum maintained by adding the new value and subtracting the evicted one keeps the
//! rounding error of every value that ever passed through: after `1e300` enters and leaves a
//! window of values near 1, the sum is off by about `1e300 * 2^-53`, forever. Welford's
//! add/remove update for the variance has the same flaw (its `m2` drifts, can go negative).
//! [`Sliding`] never subtracts. It keeps the window as two stacks (Tangwongsan et al.,
//! "sliding-window aggregation", the two-stack queue): the newest values fold into one running
//! aggregate (`back`); the oldest values (`front`) each carry the aggregate of themselves and
//! every value of the front newer than them (a suffix aggregate). Evicting drops the oldest
//! suffix; when the front is empty, one pass over the window rebuilds the suffixes from the
//! values (a "flip") and `back` restarts empty. The window's aggregate is
//! `merge(front suffix, back)`. So every result is computed from the values *currently* in the
//! window only: error bounded by the window's own values, never by history; a window of
//! constant values has variance exactly 0; a NaN that left the window leaves nothing behind.
//!
//! Cost: one merge per push, one merge per query, and a flip (one merge per value in the
//! window) at most once per `len` evictions: amortised O(1), worst case O(window) on the update
//! that flips (a window of 64 values: 64 merges of a few ns, once every 64 evictions).
//!
//! # Time windows
//! A [`Window::Time`] window holds the values with `ts > now - span`, `now` being the largest
//! timestamp pushed so far (a timestamp that goes backwards is stored as `now` and counted in
//! [`Sliding::backwards`]). Its storage is a capacity fixed at construction; when a value
//! arrives with the storage full of values still inside the span, the oldest is evicted early
//! and counted in [`Sliding::overflows`]: the window then covers less than its span, which the
//! count makes visible. Size the capacity for the busiest span you expect.

use core::fmt;

/// Nanoseconds in a (Julian) year of 365.25 days, for annualisation.
pub const YEAR_NS: f64 = 365.25 * 86_400.0 * 1e9;

/// Span of a rolling window: a number of events, or a duration of event time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Window {
    /// The last `n` events (`n >= 1`).
    Events(usize),
    /// The events with a timestamp in `(now - span_ns, now]` (`span_ns >= 1`).
    Time {
        /// Span in nanoseconds.
        span_ns: u64,
    },
}

/// Why a window or duration could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WindowError {
    /// A window of 0 events or 0 time.
    Zero,
    /// Not a count (`64`) nor a duration (`5s`, `250ms`, `100us`, `10ns`, `2m`, `1h`).
    Malformed(String),
    /// The count or duration does not fit in 64 bits of nanoseconds / events.
    TooLarge(String),
}

impl fmt::Display for WindowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WindowError::Zero => f.write_str("a window must be at least 1 event or 1 ns"),
            WindowError::Malformed(s) => write!(
                f,
                "window {s:?} is neither a count (\"64\") nor a duration (\"5s\", \"250ms\", \"100us\", \"10ns\", \"2m\", \"1h\")"
            ),
            WindowError::TooLarge(s) => write!(f, "window {s:?} is too large"),
        }
    }
}

impl std::error::Error for WindowError {}

impl Window {
    /// A window of the last `n` events.
    ///
    /// # Errors
    /// [`WindowError::Zero`] when `n == 0`.
    pub fn events(n: usize) -> Result<Window, WindowError> {
        if n == 0 {
            return Err(WindowError::Zero);
        }
        Ok(Window::Events(n))
    }

    /// A window of `span_ns` nanoseconds of event time.
    ///
    /// # Errors
    /// [`WindowError::Zero`] when `span_ns == 0`.
    pub fn time_ns(span_ns: u64) -> Result<Window, WindowError> {
        if span_ns == 0 {
            return Err(WindowError::Zero);
        }
        Ok(Window::Time { span_ns })
    }

    /// Reads `"64"` (events) or a duration: an integer followed by `ns`, `us`, `ms`, `s`, `m`
    /// or `h` (`"5s"`, `"250ms"`).
    ///
    /// ```
    /// use zerotick_features::Window;
    /// assert_eq!(Window::parse("64"), Ok(Window::Events(64)));
    /// assert_eq!(Window::parse("250ms"), Ok(Window::Time { span_ns: 250_000_000 }));
    /// assert!(Window::parse("0s").is_err());
    /// assert!(Window::parse("5 parsecs").is_err());
    /// ```
    ///
    /// # Errors
    /// [`WindowError`] for a zero, malformed or too large window.
    pub fn parse(text: &str) -> Result<Window, WindowError> {
        let t = text.trim();
        let digits = t.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(WindowError::Malformed(text.to_owned()));
        }
        let n: u64 = t[..digits]
            .parse()
            .map_err(|_| WindowError::TooLarge(text.to_owned()))?;
        let unit = t[digits..].trim();
        if unit.is_empty() {
            let n = usize::try_from(n).map_err(|_| WindowError::TooLarge(text.to_owned()))?;
            return Window::events(n);
        }
        Window::time_ns(duration_ns(n, unit, text)?)
    }

    /// Number of stored values this window needs: `n` for events, `time_capacity` for time.
    pub fn capacity(self, time_capacity: usize) -> usize {
        match self {
            Window::Events(n) => n,
            Window::Time { .. } => time_capacity,
        }
    }
}

/// Reads a duration (`"250ms"`) into nanoseconds; see [`Window::parse`] for the units.
///
/// # Errors
/// [`WindowError`] for a zero, malformed or too large duration.
pub fn parse_duration_ns(text: &str) -> Result<u64, WindowError> {
    let t = text.trim();
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    let unit = t[digits..].trim();
    if digits == 0 || unit.is_empty() {
        return Err(WindowError::Malformed(text.to_owned()));
    }
    let n: u64 = t[..digits]
        .parse()
        .map_err(|_| WindowError::TooLarge(text.to_owned()))?;
    let ns = duration_ns(n, unit, text)?;
    if ns == 0 {
        return Err(WindowError::Zero);
    }
    Ok(ns)
}

fn duration_ns(n: u64, unit: &str, text: &str) -> Result<u64, WindowError> {
    let scale: u64 = match unit {
        "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" | "min" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return Err(WindowError::Malformed(text.to_owned())),
    };
    n.checked_mul(scale)
        .ok_or_else(|| WindowError::TooLarge(text.to_owned()))
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Window::Events(n) => write!(f, "{n}"),
            Window::Time { span_ns } => {
                for (unit, scale) in [
                    ("h", 3_600_000_000_000u64),
                    ("m", 60_000_000_000),
                    ("s", 1_000_000_000),
                    ("ms", 1_000_000),
                    ("us", 1_000),
                ] {
                    if span_ns % scale == 0 {
                        return write!(f, "{}{unit}", span_ns / scale);
                    }
                }
                write!(f, "{span_ns}ns")
            }
        }
    }
}

/// A value that windows combine: an associative merge with an identity.
///
/// `merge(older, newer)` must be associative (up to rounding); it need not be commutative.
pub trait Aggregate: Copy {
    /// The aggregate of no values.
    const EMPTY: Self;
    /// The aggregate of `older`'s values followed by `newer`'s.
    fn merge(older: &Self, newer: &Self) -> Self;
}

/// A plain sum.
impl Aggregate for f64 {
    const EMPTY: f64 = 0.0;
    #[inline]
    fn merge(older: &f64, newer: &f64) -> f64 {
        older + newer
    }
}

/// Count, mean and sum of squared deviations (`m2`), merged by Chan et al.'s pairwise update
/// (with a single value on one side, Welford's update).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Moments {
    /// Number of values.
    pub count: u64,
    /// Their mean (0 when empty).
    pub mean: f64,
    /// Sum of squared deviations from the mean.
    pub m2: f64,
}

impl Moments {
    /// The moments of one value.
    #[inline]
    pub fn of(x: f64) -> Moments {
        Moments {
            count: 1,
            mean: x,
            m2: 0.0,
        }
    }

    /// Population variance `m2 / count` (0 when empty).
    #[inline]
    pub fn variance(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.m2 / self.count as f64
        }
    }

    /// Sample variance `m2 / (count - 1)`; `None` with fewer than 2 values.
    #[inline]
    pub fn sample_variance(&self) -> Option<f64> {
        (self.count >= 2).then(|| self.m2 / (self.count - 1) as f64)
    }
}

impl Aggregate for Moments {
    const EMPTY: Moments = Moments {
        count: 0,
        mean: 0.0,
        m2: 0.0,
    };
    #[inline]
    fn merge(a: &Moments, b: &Moments) -> Moments {
        if a.count == 0 {
            return *b;
        }
        if b.count == 0 {
            return *a;
        }
        let n = a.count + b.count;
        let inv = 1.0 / n as f64;
        let (wa, wb) = (a.count as f64 * inv, b.count as f64 * inv);
        let delta = b.mean - a.mean;
        // `wa * a + wb * b` rather than `a + delta * wb`: both are exact for equal means, and
        // this one cannot overflow for means of opposite sign near f64::MAX / 2.
        let mean = if delta == 0.0 {
            a.mean
        } else {
            wa * a.mean + wb * b.mean
        };
        Moments {
            count: n,
            mean,
            m2: a.m2 + b.m2 + delta * delta * (a.count as f64 * wb),
        }
    }
}

/// A window of aggregates over a preallocated ring (see the [module docs](self) for the
/// method, the cost and the time-window rules).
///
/// ```
/// use zerotick_features::window::{Sliding, Window};
/// let mut w = Sliding::<f64>::new(Window::Events(3), 0);
/// for x in [1.0, 2.0, 3.0, 4.0] {
///     w.push(0, x);
/// }
/// assert_eq!(w.total(), 9.0); // 2 + 3 + 4
/// assert_eq!(w.len(), 3);
/// ```
#[derive(Debug, Clone)]
pub struct Sliding<A: Aggregate> {
    window: Window,
    /// Timestamps of the stored values, same slots as `items`.
    ts: Box<[u64]>,
    /// The values' own aggregates. Slot `(head + k) % cap` holds the `k`-th oldest.
    items: Box<[A]>,
    /// For the `front` oldest values: the aggregate of the value and every newer value of
    /// the front. Invariant: valid exactly for slots `head .. head + front`.
    suffix: Box<[A]>,
    head: usize,
    len: usize,
    /// Invariant: `front <= len`.
    front: usize,
    /// Aggregate of the `len - front` newest values.
    back: A,
    /// Largest timestamp pushed since construction or reset.
    now: u64,
    /// First timestamp pushed since construction or reset (`None` before).
    first: Option<u64>,
    overflows: u64,
    backwards: u64,
}

impl<A: Aggregate> Sliding<A> {
    /// A window with storage for `window.capacity(time_capacity)` values, allocated here
    /// once (at least one slot). A window of 0 events or 0 ns (built from the enum directly,
    /// not through [`Window::events`] / [`Window::parse`]) counts as 1.
    pub fn new(window: Window, time_capacity: usize) -> Self {
        let window = match window {
            Window::Events(n) => Window::Events(n.max(1)),
            Window::Time { span_ns } => Window::Time {
                span_ns: span_ns.max(1),
            },
        };
        let cap = window.capacity(time_capacity).max(1);
        Sliding {
            window,
            ts: vec![0; cap].into_boxed_slice(),
            items: vec![A::EMPTY; cap].into_boxed_slice(),
            suffix: vec![A::EMPTY; cap].into_boxed_slice(),
            head: 0,
            len: 0,
            front: 0,
            back: A::EMPTY,
            now: 0,
            first: None,
            overflows: 0,
            backwards: 0,
        }
    }

    /// Adds a value stamped `ts_ns`, evicting what falls out of the window first.
    #[inline]
    pub fn push(&mut self, ts_ns: u64, item: A) {
        let cap = self.items.len();
        let ts = self.advance(ts_ns);
        match self.window {
            Window::Events(n) => {
                if self.len == n.min(cap) {
                    self.pop_front();
                }
            }
            Window::Time { span_ns } => {
                let horizon = ts.saturating_sub(span_ns);
                while self.len > 0 && self.ts[self.head] <= horizon && ts >= span_ns {
                    self.pop_front();
                }
                if self.len == cap {
                    self.overflows += 1;
                    self.pop_front();
                }
            }
        }
        let slot = wrap(self.head + self.len, cap);
        self.ts[slot] = ts;
        self.items[slot] = item;
        self.back = A::merge(&self.back, &item);
        self.len += 1;
        debug_assert!(self.front <= self.len && self.len <= cap);
    }

    /// Moves `now` forward (never back), counting timestamps that go backwards.
    #[inline]
    fn advance(&mut self, ts_ns: u64) -> u64 {
        if self.first.is_none() {
            self.first = Some(ts_ns);
            self.now = ts_ns;
        } else if ts_ns < self.now {
            self.backwards += 1;
        } else {
            self.now = ts_ns;
        }
        self.now
    }

    #[inline]
    fn pop_front(&mut self) {
        if self.front == 0 {
            self.flip();
        }
        self.head = wrap(self.head + 1, self.items.len());
        self.front -= 1;
        self.len -= 1;
    }

    /// Rebuilds the suffix aggregates of every stored value; `back` restarts empty.
    #[cold]
    #[inline(never)]
    fn flip(&mut self) {
        let cap = self.items.len();
        let mut acc = A::EMPTY;
        for k in (0..self.len).rev() {
            let slot = wrap(self.head + k, cap);
            acc = A::merge(&self.items[slot], &acc);
            self.suffix[slot] = acc;
        }
        self.front = self.len;
        self.back = A::EMPTY;
    }

    /// The aggregate of the values in the window.
    #[inline]
    pub fn total(&self) -> A {
        if self.front == 0 {
            self.back
        } else {
            A::merge(&self.suffix[self.head], &self.back)
        }
    }

    /// Number of values in the window.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the window holds no value.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Warm: an event window holds its `n` values; a time window has seen event time
    /// advance a full span since its first value (`now - first >= span`).
    #[inline]
    pub fn is_warm(&self) -> bool {
        match self.window {
            Window::Events(n) => self.len >= n,
            Window::Time { span_ns } => self.first.is_some_and(|first| self.now - first >= span_ns),
        }
    }

    /// The window this aggregator keeps.
    pub fn window(&self) -> Window {
        self.window
    }

    /// Slots of storage (the event count, or the time capacity).
    pub fn capacity(&self) -> usize {
        self.items.len()
    }

    /// Values evicted early because a time window's storage was full.
    pub fn overflows(&self) -> u64 {
        self.overflows
    }

    /// Pushes whose timestamp was below an earlier one (stored at the latest time seen).
    pub fn backwards(&self) -> u64 {
        self.backwards
    }

    /// Empties the window and its clocks (counters kept).
    pub fn reset(&mut self) {
        self.head = 0;
        self.len = 0;
        self.front = 0;
        self.back = A::EMPTY;
        self.now = 0;
        self.first = None;
    }
}

/// `i % cap` for `i < 2 * cap` (a slot index one wrap at most past the end), without a
/// division.
#[inline]
fn wrap(i: usize, cap: usize) -> usize {
    debug_assert!(i < 2 * cap);
    if i >= cap { i - cap } else { i }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_units() {
        assert_eq!(Window::parse("1"), Ok(Window::Events(1)));
        assert_eq!(
            Window::parse("5s"),
            Ok(Window::Time {
                span_ns: 5_000_000_000
            })
        );
        assert_eq!(Window::parse("100us"), Window::time_ns(100_000));
        assert_eq!(Window::parse("2m"), Window::time_ns(120_000_000_000));
        assert_eq!(Window::parse("10ns"), Window::time_ns(10));
        assert_eq!(Window::parse("0"), Err(WindowError::Zero));
        assert!(matches!(
            Window::parse("99999999999999999999h"),
            Err(WindowError::TooLarge(_))
        ));
        assert!(matches!(
            Window::parse("-5s"),
            Err(WindowError::Malformed(_))
        ));
        assert!(matches!(
            Window::parse("5x"),
            Err(WindowError::Malformed(_))
        ));
        assert!(parse_duration_ns("64").is_err());
        for w in ["64", "5s", "250ms", "1h", "7ns", "90s"] {
            let p = Window::parse(w).unwrap();
            assert_eq!(Window::parse(&p.to_string()), Ok(p), "{w}");
        }
    }

    #[test]
    fn time_window_evicts_and_counts_overflow() {
        let mut w = Sliding::<f64>::new(Window::Time { span_ns: 10 }, 3);
        w.push(0, 1.0);
        assert!(!w.is_warm());
        w.push(5, 2.0);
        w.push(10, 4.0); // 0 falls out: window is (0, 10]
        assert_eq!(w.total(), 6.0);
        assert!(w.is_warm());
        w.push(11, 8.0);
        w.push(12, 16.0); // full (5, 10, 11) + 12: 5 is still in span -> overflow
        assert_eq!(w.overflows(), 1);
        assert_eq!(w.total(), 28.0);
        w.push(1_000, 32.0); // a gap empties the window
        assert_eq!((w.len(), w.total()), (1, 32.0));
        w.push(999, 1.0); // backwards: stored at 1000
        assert_eq!(w.backwards(), 1);
        assert_eq!(w.total(), 33.0);
    }
}

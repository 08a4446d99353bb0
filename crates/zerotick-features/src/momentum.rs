//! Momentum: [`Rsi`] with Wilder's smoothing.

use crate::{Indicator, Sample};

/// Relative strength index over `n` price changes with Wilder's smoothing (TA-Lib's `RSI`):
/// the first average gain and loss are the plain means of the first `n` changes, then
/// `avg = (avg * (n - 1) + change) / n`; `rsi = 100 * avg_gain / (avg_gain + avg_loss)`.
/// When both averages are 0 (no movement at all) the RSI is 50, neutral (TA-Lib returns 0).
///
/// Warm-up: `None` for the first `n` values (they give `n - 1` changes), `Some` from value
/// `n + 1` on.
///
/// ```
/// use zerotick_features::{Indicator, Rsi};
/// let mut rsi = Rsi::new(2);
/// assert_eq!(rsi.update(10.0.into()), None);
/// assert_eq!(rsi.update(11.0.into()), None);
/// let v = rsi.update(10.5.into()).unwrap(); // mean gain 0.5, mean loss 0.25
/// assert!((v - 200.0 / 3.0).abs() < 1e-12);
/// ```
#[derive(Debug, Clone)]
pub struct Rsi {
    period: usize,
    prev: Option<f64>,
    changes: usize,
    avg_gain: f64,
    avg_loss: f64,
    rejected: u64,
}

impl Rsi {
    /// An RSI over `period` changes (at least 1).
    pub fn new(period: usize) -> Rsi {
        Rsi {
            period: period.max(1),
            prev: None,
            changes: 0,
            avg_gain: 0.0,
            avg_loss: 0.0,
            rejected: 0,
        }
    }
}

impl Indicator for Rsi {
    type Input = Sample;
    type Output = f64;
    #[inline]
    fn update(&mut self, s: Sample) -> Option<f64> {
        let x = s.value;
        let change = x - self.prev.unwrap_or(x);
        if !change.is_finite() {
            self.rejected += 1;
            return None;
        }
        let first = self.prev.is_none();
        self.prev = Some(x);
        if first {
            return None;
        }
        let (gain, loss) = (change.max(0.0), (-change).max(0.0));
        let n = self.period as f64;
        if self.changes < self.period {
            // Plain sums of the first n changes, divided once at the n-th.
            self.avg_gain += gain;
            self.avg_loss += loss;
            self.changes += 1;
            if self.changes < self.period {
                return None;
            }
            self.avg_gain /= n;
            self.avg_loss /= n;
        } else {
            self.avg_gain = (self.avg_gain * (n - 1.0) + gain) / n;
            self.avg_loss = (self.avg_loss * (n - 1.0) + loss) / n;
        }
        let total = self.avg_gain + self.avg_loss;
        Some(if total > 0.0 {
            100.0 * (self.avg_gain / total)
        } else {
            50.0
        })
    }
    fn reset(&mut self) {
        let period = self.period;
        let rejected = self.rejected;
        *self = Rsi::new(period);
        self.rejected = rejected;
    }
    fn rejected(&self) -> u64 {
        self.rejected
    }
}
